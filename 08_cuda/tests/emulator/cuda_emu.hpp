// A tiny CUDA emulator for the CPU, just enough to run kernels/*.cu as plain C++ in tests.
//
// The threads of a block are fibers (ucontext) on one OS thread. A fiber runs until it
// reaches __syncthreads() or returns; when every fiber of the block has reached the barrier,
// the next phase starts. Phases alternate the order in which the fibers run (forwards, then
// backwards), so a kernel that reads shared memory another thread writes without a barrier in
// between computes garbage here, as it may on a GPU. Blocks run one after another, so a
// `__shared__` variable can simply be `static`: one copy, used by the block that is running.
//
// This checks the kernels' index arithmetic, edge handling and barrier placement — not their
// speed, and not the GPU's memory model beyond what the barrier guarantees.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <ucontext.h>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(n)

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
using uint3 = dim3;
using std::max;
using std::min;

struct alignas(16) float4 {
    float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

inline uint3 threadIdx;
inline uint3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

// The matmul kernels' signature (kernels/read.cu's utility has its own; launch takes any).
using Kernel = void (*)(const float *, const float *, float *, int, int, int);

// `kernel` as a matmul Kernel, or null for a kernel with another signature: what turns
// kernel_list.sh's list of every kernel into the table of matmul kernels.
inline Kernel as_matmul(Kernel kernel) { return kernel; }
template <class Other> Kernel as_matmul(Other) { return nullptr; }

namespace emu {
struct Fiber {
    ucontext_t context;
    uint3 index;
    bool finished;
};
inline ucontext_t scheduler;
inline Fiber *current = nullptr;
// The launch's kernel with its arguments bound: what every fiber runs.
inline std::function<void()> call;

inline void entry() {
    call();
    current->finished = true; // returning resumes `scheduler` (uc_link)
}
} // namespace emu

// Suspends this fiber until every thread of the block has arrived.
inline void __syncthreads() { swapcontext(&emu::current->context, &emu::scheduler); }

// Runs kernel<<<grid, block>>>(args...), for a kernel of any signature.
template <class... Parameters, class... Arguments>
inline void launch(void (*kernel)(Parameters...), dim3 grid, dim3 block, Arguments... args) {
    using namespace emu;
    gridDim = grid;
    blockDim = block;
    call = [=] { kernel(args...); };
    const unsigned threads = block.x * block.y * block.z;
    constexpr size_t stack_size = 64 * 1024;
    std::vector<char> stacks(threads * stack_size);
    std::vector<Fiber> fibers(threads);
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                blockIdx = {bx, by, bz};
                for (unsigned t = 0; t < threads; ++t) {
                    Fiber &f = fibers[t];
                    f.index = {t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
                    f.finished = false;
                    getcontext(&f.context);
                    f.context.uc_stack.ss_sp = &stacks[t * stack_size];
                    f.context.uc_stack.ss_size = stack_size;
                    f.context.uc_link = &scheduler;
                    makecontext(&f.context, entry, 0);
                }
                for (unsigned phase = 0;; ++phase) {
                    unsigned finished = 0;
                    for (unsigned i = 0; i < threads; ++i) {
                        Fiber &f = fibers[phase % 2 == 0 ? i : threads - 1 - i];
                        current = &f;
                        threadIdx = f.index;
                        swapcontext(&scheduler, &f.context);
                        finished += f.finished;
                    }
                    if (finished == threads) break;
                    if (finished != 0) {
                        std::fprintf(stderr,
                                     "emulator: block (%u, %u, %u): %u of %u threads returned "
                                     "while the others wait at __syncthreads()\n",
                                     bx, by, bz, finished, threads);
                        std::exit(3);
                    }
                }
            }
}
