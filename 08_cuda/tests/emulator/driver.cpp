// Runs one kernel of ../../kernels on the CPU emulator.
//
// usage: driver KERNEL GRID_X GRID_Y BLOCK_X BLOCK_Y M N K A.bin B.bin C.bin
// A.bin and B.bin hold row-major little-endian f32 (m * k and k * n values); C.bin is written
// with m * n values. c starts poisoned with NaN, so an element the kernel never writes shows.
//
// usage: driver read_sum GRID_X BLOCK_X COUNT X.bin SUMS.bin
// runs the read kernel over the COUNT floats of X.bin and writes its GRID_X block sums
// (poisoned with NaN first).
#include "cuda_emu.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

// Every kernels/*.cu and EMU_KERNELS, the list of their kernels: written by kernel_list.sh
// into a directory on the include path.
#include "kernel_list.hpp"

static std::vector<float> read_floats(const char *path, size_t count) {
    std::vector<float> v(count);
    FILE *f = std::fopen(path, "rb");
    if (!f || std::fread(v.data(), sizeof(float), count, f) != count) {
        std::fprintf(stderr, "driver: cannot read %zu floats from %s\n", count, path);
        std::exit(2);
    }
    std::fclose(f);
    return v;
}

static void write_floats(const char *path, const float *values, size_t count) {
    FILE *f = std::fopen(path, "wb");
    if (!f || std::fwrite(values, sizeof(float), count, f) != count) {
        std::fprintf(stderr, "driver: cannot write %s\n", path);
        std::exit(2);
    }
    std::fclose(f);
}

static int run_read_sum(char **argv) {
    const unsigned grid = std::atoi(argv[2]), block = std::atoi(argv[3]);
    const long long count = std::atoll(argv[4]);
    const auto x = read_floats(argv[5], count);
    // 16-byte aligned, as cuMemAlloc's allocations are, for the float4 loads
    std::vector<float4> x4((count + 3) / 4 + 1);
    std::memcpy(&x4[0].x, x.data(), x.size() * sizeof(float));
    std::vector<float> sums(grid, NAN);
    launch(read_sum, dim3{grid, 1, 1}, dim3{block, 1, 1}, (const float *)&x4[0].x, count,
           sums.data());
    write_floats(argv[6], sums.data(), grid);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 7 && std::string(argv[1]) == "read_sum") return run_read_sum(argv);
    if (argc != 12) {
        std::fprintf(stderr, "usage: driver KERNEL GX GY BX BY M N K A.bin B.bin C.bin\n"
                             "       driver read_sum GX BX COUNT X.bin SUMS.bin\n");
        return 2;
    }
    const std::string name = argv[1];
    Kernel kernel = nullptr;
#define EMU_FIND(k) \
    if (name == #k) kernel = as_matmul(k);
    EMU_KERNELS(EMU_FIND)
    if (!kernel) {
        std::fprintf(stderr, "driver: unknown kernel %s\n", name.c_str());
        return 2;
    }
    dim3 grid{(unsigned)std::atoi(argv[2]), (unsigned)std::atoi(argv[3]), 1};
    dim3 block{(unsigned)std::atoi(argv[4]), (unsigned)std::atoi(argv[5]), 1};
    const int m = std::atoi(argv[6]), n = std::atoi(argv[7]), k = std::atoi(argv[8]);
    // 16-byte aligned, as cuMemAlloc's (256-byte) allocations are, so float4 loads are legal.
    std::vector<float4> a4((size_t(m) * k + 3) / 4 + 1), b4((size_t(k) * n + 3) / 4 + 1),
        c4((size_t(m) * n + 3) / 4 + 1);
    const auto a = read_floats(argv[9], size_t(m) * k);
    const auto b = read_floats(argv[10], size_t(k) * n);
    float *ap = &a4[0].x, *bp = &b4[0].x, *cp = &c4[0].x;
    std::memcpy(ap, a.data(), a.size() * sizeof(float));
    std::memcpy(bp, b.data(), b.size() * sizeof(float));
    for (size_t i = 0; i < size_t(m) * n; ++i) cp[i] = NAN;
    launch(kernel, grid, block, (const float *)ap, (const float *)bp, cp, m, n, k);
    write_floats(argv[11], cp, size_t(m) * n);
    return 0;
}
