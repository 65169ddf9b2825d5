// A fake CUDA driver (libcuda.so.1) for checking the `cuda` feature's host code without a GPU.
//
// "Device memory" is host memory, a module is the PTX text it was loaded from, and
// cuLaunchKernel runs the same kernels/*.cu, compiled as C++, on the emulator of
// ../emulator/cuda_emu.hpp. Only the driver calls the host code makes are implemented; every
// other symbol cust binds answers CUDA_ERROR_NOT_SUPPORTED and names itself on stderr.
// Timings from this driver mean nothing; results, argument order, sizes and launch
// configurations are checked for real. Built and used by scripts/fake-gpu-run.sh.
#include "../emulator/cuda_emu.hpp"

#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>

// Every kernels/*.cu and EMU_KERNELS, the list of their kernels: written by
// ../emulator/kernel_list.sh into build.sh's output directory, on the include path.
#include "kernel_list.hpp"

extern "C" {
typedef int CUresult;
typedef unsigned long long CUdeviceptr;
enum { OK = 0, INVALID_VALUE = 1, NOT_FOUND = 500, LAUNCH_FAILED = 719 };

// The matmul kernels by entry point (the read kernel, with its own arguments, is not one).
static std::map<std::string, Kernel> kernels() {
    std::map<std::string, Kernel> all;
#define FAKE_ADD(k) \
    if (Kernel matmul = as_matmul(k)) all.emplace(#k, matmul);
    EMU_KERNELS(FAKE_ADD)
    return all;
}

struct FakeModule {
    std::string ptx;
};
// A matmul kernel (`kernel` set), or the read kernel (`kernel` null): their arguments differ.
struct FakeFunction {
    Kernel kernel;
    std::string name;
};
struct FakeEvent {
    std::chrono::steady_clock::time_point at;
};
static int context_token, stream_token;
static std::map<CUdeviceptr, size_t> allocations;

CUresult cuInit(unsigned) { return OK; }
CUresult cuDriverGetVersion(int *v) { *v = 12090; return OK; }
CUresult cuDeviceGetCount(int *n) { *n = 1; return OK; }
CUresult cuDeviceGet(int *d, int ordinal) { *d = 0; return ordinal == 0 ? OK : INVALID_VALUE; }
CUresult cuDeviceGetName(char *name, int len, int) {
    std::snprintf(name, len, "fake CUDA device (CPU emulator)");
    return OK;
}
// An H100's compute capability and clock, with 4 multiprocessors (not 132: the read kernel's
// grid follows the count, and the emulator runs every block one after another).
enum { FAKE_MULTIPROCESSORS = 4, FAKE_CLOCK_KHZ = 1980000 };
CUresult cuDeviceGetAttribute(int *value, int attribute, int) {
    switch (attribute) {
    case 13: *value = FAKE_CLOCK_KHZ; return OK;       // CU_DEVICE_ATTRIBUTE_CLOCK_RATE
    case 16: *value = FAKE_MULTIPROCESSORS; return OK; // _MULTIPROCESSOR_COUNT
    case 75: *value = 9; return OK;                    // _COMPUTE_CAPABILITY_MAJOR
    case 76: *value = 0; return OK;                    // _COMPUTE_CAPABILITY_MINOR
    default: *value = 0; return OK;
    }
}
CUresult cuDeviceTotalMem_v2(size_t *bytes, int) { *bytes = size_t(1) << 34; return OK; }
CUresult cuDevicePrimaryCtxRetain(void **ctx, int) { *ctx = &context_token; return OK; }
CUresult cuDevicePrimaryCtxRelease_v2(int) { return OK; }
CUresult cuCtxSetCurrent(void *) { return OK; }
CUresult cuCtxSynchronize() { return OK; }
CUresult cuGetErrorString(CUresult, const char **s) { *s = "fake driver error"; return OK; }

CUresult cuModuleLoadDataEx(FakeModule **module, const void *image, unsigned, void *, void **) {
    *module = new FakeModule{static_cast<const char *>(image)};
    return (*module)->ptx.find(".entry") == std::string::npos ? INVALID_VALUE : OK;
}
CUresult cuModuleLoadData(FakeModule **module, const void *image) {
    return cuModuleLoadDataEx(module, image, 0, nullptr, nullptr);
}
CUresult cuModuleUnload(FakeModule *module) { delete module; return OK; }
CUresult cuModuleGetFunction(FakeFunction **function, FakeModule *module, const char *name) {
    // Found only if the PTX really defines it, and the emulator has it.
    if (module->ptx.find(std::string(".entry ") + name + "(") == std::string::npos) return NOT_FOUND;
    if (std::string(name) == "read_sum") {
        *function = new FakeFunction{nullptr, name};
        return OK;
    }
    const auto table = kernels();
    const auto it = table.find(name);
    if (it == table.end()) return NOT_FOUND;
    *function = new FakeFunction{it->second, name};
    return OK;
}

CUresult cuStreamCreateWithPriority(void **stream, unsigned, int) { *stream = &stream_token; return OK; }
CUresult cuStreamDestroy_v2(void *) { return OK; }
CUresult cuStreamSynchronize(void *) { return OK; }

CUresult cuMemAlloc_v2(CUdeviceptr *ptr, size_t bytes) {
    void *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
    if (!p) return 2; // CUDA_ERROR_OUT_OF_MEMORY
    std::memset(p, 0xA5, bytes); // garbage, as fresh device memory is
    *ptr = reinterpret_cast<CUdeviceptr>(p);
    allocations[*ptr] = bytes;
    return OK;
}
CUresult cuMemFree_v2(CUdeviceptr ptr) {
    if (!allocations.erase(ptr)) return INVALID_VALUE;
    std::free(reinterpret_cast<void *>(ptr));
    return OK;
}
// Every access must lie inside one allocation: a wrong size in the host code shows here.
static bool inside(CUdeviceptr ptr, size_t bytes) {
    auto it = allocations.upper_bound(ptr);
    if (it == allocations.begin()) return false;
    --it;
    return ptr >= it->first && ptr + bytes <= it->first + it->second;
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t bytes) {
    if (!inside(dst, bytes)) return INVALID_VALUE;
    std::memcpy(reinterpret_cast<void *>(dst), src, bytes);
    return OK;
}
CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t bytes) {
    if (!inside(src, bytes)) return INVALID_VALUE;
    std::memcpy(dst, reinterpret_cast<void *>(src), bytes);
    return OK;
}
CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned value, size_t count) {
    if (!inside(dst, 4 * count)) return INVALID_VALUE;
    auto *p = reinterpret_cast<unsigned *>(dst);
    for (size_t i = 0; i < count; ++i) p[i] = value;
    return OK;
}
CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char value, size_t count) {
    if (!inside(dst, count)) return INVALID_VALUE;
    std::memset(reinterpret_cast<void *>(dst), value, count);
    return OK;
}

CUresult cuLaunchKernel(FakeFunction *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                        unsigned by, unsigned bz, unsigned shared, void *, void **params,
                        void **extra) {
    if (!params || extra || shared != 0 || gx == 0 || gy == 0 || gz == 0) return INVALID_VALUE;
    if (bx * by * bz > 1024 || gy > 65535 || gz > 65535) return INVALID_VALUE;
    if (!f->kernel) {
        // read_sum(const float *x, long long count, float *sums): x holds count floats,
        // sums one per block of a one-dimensional grid.
        const CUdeviceptr x = *static_cast<CUdeviceptr *>(params[0]);
        const long long count = *static_cast<long long *>(params[1]);
        const CUdeviceptr sums = *static_cast<CUdeviceptr *>(params[2]);
        if (gy != 1 || gz != 1 || by != 1 || bz != 1 || count < 0 || !inside(x, 4 * size_t(count)) ||
            !inside(sums, 4 * size_t(gx))) {
            std::fprintf(stderr, "fake cuda: read_sum launched with %lld floats, grid %u: wrong sizes\n",
                         count, gx);
            return LAUNCH_FAILED;
        }
        launch(read_sum, dim3{gx, 1, 1}, dim3{bx, 1, 1}, reinterpret_cast<const float *>(x), count,
               reinterpret_cast<float *>(sums));
        return OK;
    }
    const CUdeviceptr a = *static_cast<CUdeviceptr *>(params[0]);
    const CUdeviceptr b = *static_cast<CUdeviceptr *>(params[1]);
    const CUdeviceptr c = *static_cast<CUdeviceptr *>(params[2]);
    const int m = *static_cast<int *>(params[3]);
    const int n = *static_cast<int *>(params[4]);
    const int k = *static_cast<int *>(params[5]);
    // The kernels' contract: a holds m*k floats, b k*n, c m*n.
    if (!inside(a, 4 * size_t(m) * k) || !inside(b, 4 * size_t(k) * n) || !inside(c, 4 * size_t(m) * n)) {
        std::fprintf(stderr, "fake cuda: %s launched with buffers smaller than (%d, %d, %d)\n",
                     f->name.c_str(), m, k, n);
        return LAUNCH_FAILED;
    }
    launch(f->kernel, dim3{gx, gy, gz}, dim3{bx, by, bz}, reinterpret_cast<const float *>(a),
           reinterpret_cast<const float *>(b), reinterpret_cast<float *>(c), m, n, k);
    return OK;
}

CUresult cuEventCreate(FakeEvent **event, unsigned) { *event = new FakeEvent{}; return OK; }
CUresult cuEventDestroy_v2(FakeEvent *event) { delete event; return OK; }
CUresult cuEventRecord(FakeEvent *event, void *) {
    event->at = std::chrono::steady_clock::now();
    return OK;
}
CUresult cuEventSynchronize(FakeEvent *) { return OK; }
CUresult cuEventQuery(FakeEvent *) { return OK; }
CUresult cuEventElapsedTime(float *ms, FakeEvent *start, FakeEvent *end) {
    *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
    return OK;
}
}
