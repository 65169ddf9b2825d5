//! # Going further: the GPU's memory hierarchy
//!
//! [Step 8's page](crate) runs the lesson's kernel (§1, §2) on a grid simulated on the CPU
//! and on the GPU, and measures it against cuBLAS. This page takes the same product through
//! the GPU's memory hierarchy, one idea per section, each a kernel of its own (listed in the
//! [kernel table](crate::kernel_table::KERNEL_TABLE)), validated and timed in the same run as
//! the lesson's: the [table on step 8's page](crate#measured) has a row for each. The kernels
//! are CUDA C (`kernels/*.cu`), shown here as they are compiled.
//!
//! ## §3 Coalescing: let `x` run along the columns
//!
//! Swap the roles of `x` and `y` (`kernels/coalesced.cu`, blocks of 32 × 8): a warp is now 32
//! consecutive columns of one row. `a[i, p]` is one address for the whole warp (a broadcast),
//! `b[p, j..j + 32]` and `c[i, j..j + 32]` are each one 128-byte line. Same arithmetic, same
//! result, a fraction of the memory transactions.
//!
#![doc = include_str!(concat!(env!("OUT_DIR"), "/listing-3.md"))]
//!
//! **Measured:** the `cuda-coalesced` rows of the [table on step 8's page](crate#measured) (there when the run
//! shown had a GPU; not yet measured otherwise).
//!
//! ## §4 Shared memory: load a tile once, use it 32 times
//!
//! Each thread still reads `2k` floats for `k` multiply-adds, and the caches catch only part of
//! the reuse. Shared memory is the programmer-managed on-chip store of each multiprocessor
//! (up to 228 KB on an H100, ~30 cycles away instead of ~500): a block of 32 × 32 threads loads a
//! 32 × 32 tile of `a` and of `b` (one element each, coalesced), waits for the whole block at
//! `__syncthreads()`, and then does 32 multiply-adds per thread from shared memory. Global
//! traffic drops 32-fold. Tiles sticking out past `m`, `n` or `k` are padded with zeros, so
//! every size works (`kernels/tiled.cu`):
//!
#![doc = include_str!(concat!(env!("OUT_DIR"), "/listing-4.md"))]
//!
//! **Measured:** the `cuda-tiled` rows of the [table on step 8's page](crate#measured) (there when the run
//! shown had a GPU; not yet measured otherwise).
//!
//! ## §5 Registers and vector loads: 64 outputs per thread
//!
//! Now every multiply-add costs two shared-memory loads, and shared memory's bandwidth is the
//! limit. Registers are the one store faster still, so each thread computes an 8 × 8 patch of
//! `c` in registers: per step along `k` it loads 8 values of `a`'s column and 8 of `b`'s row
//! and does 64 multiply-adds — 4 FMAs per shared load instead of ½. The block tile grows to
//! 128 × 128 (each global float now serves 128 FMAs), global loads become `float4` (16 bytes
//! per thread, 512 per warp, where the row length is a multiple of 4 and the four floats are
//! in range; checked scalar loads elsewhere), and `a`'s tile is stored transposed so a thread's
//! 8 values are contiguous. The same template with 128 × 16 tiles (`cuda-skinny`) suits
//! MNIST's `(50000, 784) @ (784, 10)`, where a 128-wide tile would compute 118 padding columns
//! for every 10 real ones (`kernels/regblock.cu`):
//!
#![doc = include_str!(concat!(env!("OUT_DIR"), "/listing-5.md"))]
//!
//! **Measured:** the `cuda-regblock` (and `cuda-skinny`) rows of the [table on step 8's page](crate#measured)
//! (there when the run shown had a GPU; not yet measured otherwise).
//!
//! ## §6 Overlap loads with arithmetic; read shared memory without bank conflicts
//!
//! Two things still idle the multiprocessor in §5. Between `__syncthreads()` and the
//! next tile, a block waits for global memory (~500 cycles) with nothing to compute unless
//! another block happens to be resident. And the 16 threads that read one row of `b`'s tile
//! take 32-byte-strided `float4`s, so the 32 banks of shared memory serve them in two passes.
//! `kernels/pipelined.cu` keeps two buffers per tile: each thread issues the global loads of
//! tile `t + 1` into registers, computes on tile `t`, then stores into the other buffer — one
//! barrier per tile, and the load latency hidden behind 512 FMAs. Each thread's 8 columns
//! become two runs of 4, 64 apart, so 16 threads read 256 contiguous bytes:
//!
#![doc = include_str!(concat!(env!("OUT_DIR"), "/listing-6.md"))]
//!
//! **Measured:** the `cuda-pipelined` rows of the [table on step 8's page](crate#measured) (there when the run
//! shown had a GPU; not yet measured otherwise). (Further
//! kernels, should the measurements ask for them: warp tiling, a deeper `cp.async` pipeline on
//! sm_80+.)
//!
//! ## §7 For MNIST's shape: stream `a` once, in whole cache lines
//!
//! `(50000, 784) @ (784, 10)` does 392 million multiply-adds — on paper, about 12 µs at an <!-- fact -->
//! H100's FP32 peak of 67 TFLOP/s — but must read 157 MB of `a`, about 52 µs at 3 TB/s. <!-- fact -->
//! Tiles of `c` that are 128
//! wide waste most of their work on padding, and even the 128 × 16 tiles of `cuda-skinny`
//! stop at every barrier. The question here is only: does every multiprocessor keep enough
//! bytes in flight to cover HBM's latency? `kernels/rowwise.cu` gives each thread one row of
//! `c` (16 columns in registers), keeps `b`'s slice in shared memory, where a warp's 32 threads
//! read the same address at once (a broadcast), and has each thread load 128 contiguous bytes
//! of its row of `a` before using any of them:
//!
#![doc = include_str!(concat!(env!("OUT_DIR"), "/listing-7.md"))]
//!
//! **Measured:** the `cuda-rowwise` rows of the [table on step 8's page](crate#measured) (there when the run
//! shown had a GPU; not yet measured otherwise).
//!
//! ## The floor: read `a` once, do nothing else
//!
//! How close §7's kernel comes to the hardware needs a measured floor, not a datasheet's: a kernel
//! that only reads every float of `a` once, as fast as this GPU reads anything — `float4`
//! loads, four in flight per thread, a grid-stride loop over as many blocks as fill every
//! multiprocessor. It adds what it reads and writes one sum per block, so the compiler must
//! keep every load (and a test checks the sum). `gpu::Device::measure_read` times it with CUDA
//! events; `gpu::Device::measure_upload` times the copy of `a` from host memory, which the
//! lesson's `cuda.to_device` pays before any kernel runs.
//!
#![doc = include_str!(concat!(env!("OUT_DIR"), "/listing-floor.md"))]
//!
//! ## What the compiler reports
//!
//! What can be known without a GPU is what the compiler decides: `scripts/ptxas-report.sh`
//! has NVRTC (NVIDIA's compiler as a library, CUDA C to PTX at run time) compile every kernel
//! for an H100 (`sm_90`) and report. Its output (NVRTC 12.9):
//!
//! ```text
//! kernel                       registers spills (B) shared (B)   (sm_90, ptxas via NVRTC)
//! matmul_coalesced                    32          0          0
//! matmul_naive                        32          0          0
//! matmul_pipelined_128x128           127          0      16384
//! read_sum                            32          0       1024
//! matmul_regblock_128x16              42          0      18432
//! matmul_regblock_128x128            127          0       8192
//! matmul_rowwise_16                   75          0      16384
//! matmul_tiled                        31          0       8192
//! ```
//!
//! No kernel spills. The 128 × 128 kernels hold 64 accumulators per thread and use 127 registers,
//! so 256-thread blocks fit two to a multiprocessor (64 K registers): 16 warps, 25% occupancy (the
//! share of the multiprocessor's warp slots that are filled) — the usual trade of register-blocked
//! GEMMs, which hide latency with independent FMAs instead of with more warps.
//!
