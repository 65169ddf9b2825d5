//! # Step 8 — CUDA: a kernel per output element, then the GPU's memory hierarchy
//!
//! The lesson's last step moves the multiplication to the GPU. A GPU does not run one fast
//! loop; it runs one small function — a *kernel* — tens of thousands of times at once, each
//! copy told only *where it is* in a grid. So the lesson first rewrites `matmul` as a function
//! of its grid position and simulates the grid on the CPU, then hands the very same function
//! to numba's `cuda.jit`. We do the same, and then keep going: from the lesson's kernel to one
//! that aims to compete with cuBLAS, one idea of the GPU's memory hierarchy per section (no GPU
//! run is committed yet, so the pages do not say how close it comes).
//!
//! Map of the crate:
//! - [`grid`]: the CPU launcher — `blockIdx`, `threadIdx`, `blockDim` and a loop over every
//!   position of a grid; [`matmul_kernel`] and [`matmul`] (the stage `grid-cpu`) use it.
//! - [`kernel_table`]: the one list of the CUDA kernels — file, entry point, tile and block
//!   shape, the section (§) that shows it. `build.rs` compiles and lists the files
//!   from it; the host code launches from it.
//! - [`kernels`]: the CUDA sources (`kernels/*.cu`), their entry points and launch
//!   arithmetic, read from the table. Compiled everywhere, tested everywhere.
//! - `gpu` (feature `cuda`): the host side with [cust](https://docs.rs/cust/0.3) — context,
//!   modules from PTX (the GPU's portable assembly, which the driver compiles for the GPU it
//!   finds), device buffers, a stream, launches, CUDA-event timing — and cuBLAS's SGEMM
//!   (BLAS's single-precision GEMM) loaded at run time. See "Running it" below.
//! - [`going_further`]: §3–§7, the kernels past the lesson's, each one idea of the GPU's
//!   memory hierarchy.
//!
//! ## §1 The grid, simulated on the CPU
//!
//! A kernel computes *one* element of `c`: it asks which `(i, j)` it is, and does nothing if
//! that is outside `c` (grids come in whole blocks, so some positions are spare):
//!
//! ```
//! use matmul_cuda::grid::Thread;
//! use ndarray::{ArrayView2, ArrayViewMut2};
//!
//! fn matmul_kernel(
//!     thread: Thread,
//!     a: ArrayView2<'_, f32>,
//!     b: ArrayView2<'_, f32>,
//!     c: &mut ArrayViewMut2<'_, f32>,
//! ) {
//!     let (i, j) = thread.grid_2d(); // numba's `i, j = cuda.grid(2)`
//!     if i < c.nrows() && j < c.ncols() {
//!         let mut tmp = 0.0;
//!         for k in 0..a.ncols() {
//!             tmp += a[[i, k]] * b[[k, j]];
//!         }
//!         c[[i, j]] = tmp;
//!     }
//! }
//! # let _ = matmul_kernel;
//! ```
//!
//! Launching it means calling it for every position: the lesson's `launch_kernel` is two
//! loops, and CUDA's `kernel<<<grid, block>>>` is the same loops split into blocks of threads
//! (the lesson's `TPB = 16`: blocks of 16 × 16 threads, `ceil(m / 16) × ceil(n / 16)` blocks):
//!
//! ```
//! use matmul_cuda::grid::{Dim3, blocks_for, launch};
//! use matmul_data::synthetic;
//! use ndarray::Array2;
//!
//! let (a, b) = (synthetic::mnist_like(5, 1), synthetic::weights(784, 10, 2));
//! let mut c = Array2::zeros((5, 10));
//! let mut out = c.view_mut();
//! let grid = Dim3::xy(blocks_for(5, 16), blocks_for(10, 16)); // one block: 256 threads, 50 used
//! launch(grid, Dim3::xy(16, 16), |thread| {
//!     matmul_cuda::matmul_kernel(thread, a.view(), b.view(), &mut out)
//! });
//! matmul_data::test_near(&c, &matmul_cuda::naive::matmul(a.view(), b.view()));
//! ```
//!
//! On the CPU this is the triple loop again, reordered — [`matmul`] is listed as the stage
//! `grid-cpu`. It differs from [`naive`](crate::naive) in one way that has nothing to do with
//! GPUs: the kernel sums into a local `tmp`, which lives in a register, where step 2 reads and
//! writes `c[[i, j]]` through memory on every iteration. The block under "Measured" has both
//! rows. What changed for the GPU is the *shape* of the program: nothing in the kernel depends
//! on the order in which positions run, so a GPU may run all 50,000 × 10 of MNIST's at once.
//!
//! A sequential simulation has one limit worth knowing: it cannot run a kernel that waits at a
//! barrier (`__syncthreads()`) — the first thread would wait forever for the others. §4 to §7
//! (on the [going-further page](going_further)) need barriers, so from here on the kernels are
//! CUDA C (`kernels/*.cu`). Without a GPU they are still
//! checked: `tests/emulated_kernels.rs` compiles them as C++ against a small emulator
//! (`tests/emulator/`) in which each thread of a block is a fiber (a thread of its own stack,
//! switched by the program, not the operating system) that runs until its next barrier — in
//! alternating order, so a missing barrier shows up as a wrong result — and compares every kernel
//! with the float64 reference on sizes that are not multiples of any tile (where a C++20 compiler
//! exists; skipped with a notice elsewhere).
//!
//! ## §2 On the GPU: the lesson's kernel
//!
//! The same function in CUDA C, launched with the same grid:
//!
#![doc = include_str!(concat!(env!("OUT_DIR"), "/listing-2.md"))]
//!
//! An H100 has 132 streaming multiprocessors, each running warps of 32 threads in lockstep,
//! and about 3 TB/s of HBM (the GPU's own memory) bandwidth (its data sheet's figures) <!-- fact -->
//! — but only for *coalesced* access: when the 32 threads of
//! a warp touch one contiguous 128-byte line, the warp's load is one transaction. In the
//! lesson's kernel `x` (the fastest-varying thread index, the one that differs inside a warp)
//! numbers the *rows* of `c`, so a warp's 32 loads of `a[i, p]` hit 16 rows `k` floats apart,
//! and its stores to `c` land `n` floats apart: up to 32 transactions where one would do.
//!
//! **Measured:** the `cuda-naive` rows of the [table under "Measured"](#measured) (there when the run
//! shown had a GPU; not yet measured otherwise).
//!
//! ## Going further: the GPU's memory hierarchy
//!
//! The lesson stops at its kernel and at cuBLAS. [The going-further page](going_further)
//! keeps going, one idea of the GPU's memory hierarchy per section, each a kernel of its own
//! in the same table: §3 coalescing, §4 shared memory, §5 registers and vector loads, §6
//! overlapping loads with arithmetic, §7 a kernel for MNIST's shape, then the floor kernel
//! that reads `a` once, and what the compiler reports for each (registers used, values
//! spilled to memory, and the occupancy this allows). The lesson's path continues here with its yardstick.
//!
//! ## cuBLAS: the yardstick
//!
//! The lesson ends with PyTorch's `m1c @ m2c`, which is cuBLAS. We call `cublasSgemm` directly,
//! loaded with `dlopen` at run time (so nothing about the build needs it), in FP32 with TF32
//! tensor cores off (`CUBLAS_DEFAULT_MATH`, `NVIDIA_TF32_OVERRIDE=0`) — TF32 would round the
//! inputs to 10-bit mantissas and is not the same computation. cuBLAS is column-major; a
//! row-major `c = a @ b` is the column-major `cᵀ = bᵀ aᵀ`, one SGEMM with the operands swapped.
//!
//! ## Measured
//!
//! `cargo xtask bench --cuda` (see [Running it](#running-it)) times every kernel of this step
//! (§2–§7) and cuBLAS on the lesson's workloads and the squares, each validated against the
//! CPU result first, next to the CPU stages, with the GPU's own floors measured in the same
//! run: the [read kernel](going_further#the-floor-read-a-once-do-nothing-else) over `a`, and
//! the FP32 peak from the device's properties. The goals such a run is read against: the best
//! own kernel at four-fifths or more of cuBLAS's speed at 4096 × 4096
//! (FP32, TF32 off), and `mnist50k` within one and a half times the read floor.
//!
//! Time this step alone: `cargo xtask bench --quick --stage grid-cpu` without a GPU, and
//! `cargo xtask bench --cuda --quick --stage cuda` with one (the naive loop and cuBLAS are always
//! timed too, as the baselines).
//!
#![doc = include_str!("../measured.md")]
//!
//! Each GPU row reports the kernel alone (CUDA events), the kernel plus copying `c` back (what
//! the lesson's `%timeit` includes with `.copy_to_host()` / `.cpu()`), and host arrays to host
//! array (copies both ways).
//!
//! ## Running it
//!
//! The default build needs no CUDA and never links `libcuda`. The `cuda` feature needs a CUDA
//! toolkit — its `nvcc`, and its `libcuda.so` stub to link against — and, to run, an NVIDIA
//! driver and a GPU. On such a machine one command puts this step in the speedup table:
//!
//! ```text
//! cargo xtask bench --cuda            # every stage, CPU and GPU, in one table
//! cargo xtask bench --cuda --quick    # the same, short: mnist5 and squares up to 128 on the GPU
//! ```
//!
//! `--cuda` builds `xtask` again with the feature when needed (finding `nvcc` on `PATH`, in
//! `$CUDA_PATH/bin` or in `/usr/local/cuda/bin`), opens the device before it runs anything,
//! and stops with one line and nothing written when there is no driver or no GPU. With
//! `--python`, PyTorch's `a @ b` on the GPU (cuBLAS behind it, TF32 off, CUDA events) is timed
//! in the same run, as the row `gpu: torch.matmul`, next to the lesson's CPU methods. Every
//! kernel is also checked harder by the tests, where a GPU is present:
//!
//! ```text
//! cargo test -p matmul-cuda --features cuda --release
//! ```
//!
//! They run every kernel and cuBLAS against float64 (output poisoned with NaN before each
//! launch, MNIST shapes and sizes that are not multiples of any tile), every GPU stage through
//! the conformance checks, and the read floor against a known sum.
//!
//! ### Running it on your GPU
//!
//! - **Linux**, with the NVIDIA driver installed (`nvidia-smi` shows the GPU). Windows is not
//!   supported: the driver and cuBLAS are loaded by their Linux library names.
//! - **A CUDA toolkit no newer than the driver.** The kernels ship as PTX, which the driver
//!   compiles for the GPU it finds. A driver may refuse PTX from a toolkit newer than itself;
//!   the run then retries with an older PTX version, and if that is refused too, says so and
//!   names the two ways out: this checklist's next item, or an older toolkit.
//! - **The target architecture**, `MATMUL_CUDA_ARCH`: `sm_80` by default, which runs on
//!   Ampere and every later GPU. For an older one, name it, for example
//!   `MATMUL_CUDA_ARCH=sm_75 cargo xtask bench --cuda` on a Turing card (`nvidia-smi
//!   --query-gpu=compute_cap --format=csv` prints `7.5` there).
//! - **cuBLAS**, the yardstick, is found by its usual names (`libcublas.so.13`, `.12`, `.11`,
//!   `libcublas.so`, then the same in the toolkit's directory). Elsewhere, point
//!   `MATMUL_CUBLAS` at the file:
//!   `MATMUL_CUBLAS=/path/to/libcublas.so.12`.
//! - **Your numbers on these pages:** `cargo xtask bench --cuda --docs` writes the run into
//!   the README and every step's "Measured" block, this page's GPU rows included, and
//!   `cargo doc` then shows them.
//!
//! `build.rs` reads the [kernel table](kernel_table::KERNEL_TABLE), turns each of its files
//! into PTX with `nvcc` (`$NVCC`, default `nvcc` on `PATH`; architecture `$MATMUL_CUDA_ARCH`,
//! default `sm_80`, JIT-compiled by the driver for the GPU it finds) and stops with a message
//! saying what to do when `nvcc` is missing. The binaries need the driver's `libcuda.so.1` to
//! start.
//!
//! Without a GPU, `scripts/fake-gpu-run.sh` runs this crate's `cuda` tests against a fake
//! `libcuda.so.1` whose "device" runs the kernels on a CPU emulator, and a fake cuBLAS that
//! computes SGEMM by its column-major definition (`tests/fake-driver/`): everything but the
//! GPU itself — module loading from the embedded PTX, buffer sizes, argument order, launch
//! configurations, NaN poisoning, copies, the transpose trick — is exercised for real;
//! `scripts/fake-gpu-bench.sh` does the same for `cargo xtask bench --cuda --quick` and checks
//! the rows it writes.
//!
//! Previous: [`matmul_blas`](../matmul_blas/index.html), a real CPU GEMM. This is the last step.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

pub use matmul_blas as blas;
// Every earlier step, one segment away: `matmul_cuda::naive::matmul`.
pub use matmul_blas::{broadcast, data, dot, einsum, elementwise, naive};
use matmul_data::Processor;
pub use matmul_data::Stage;

pub mod going_further;
pub mod grid;
/// The one list of this step's CUDA kernels: for each, its file under `kernels/`, entry point,
/// launch shape and the section (§) that shows it. `build.rs` `include!`s this module
/// to compile and list the files; [`kernels`] reads it to launch them.
pub mod kernel_table;
pub mod kernels;

#[cfg(feature = "cuda")]
pub mod gpu;

use grid::{Dim3, Thread, blocks_for, launch};

/// The lesson's threads per block along each axis (`TPB = 16`).
pub const THREADS_PER_BLOCK: u32 = 16;

/// The lesson's CUDA kernel, as a function of its grid position: computes `c[i, j]` for the
/// `(i, j)` of `thread` (`x` along rows, as numba's `cuda.grid(2)` in the lesson), and nothing
/// when that position is outside `c`.
///
/// `a: (m, k)`, `b: (k, n)`, `c: (m, n)`, any strides.
///
/// # Panics
///
/// When the position is inside `c` but `a` or `b` is too small for it (indexing out of
/// bounds): the caller must pass matching shapes, as [`matmul`] does.
pub fn matmul_kernel(
    thread: Thread,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    let (i, j) = thread.grid_2d();
    if i < c.nrows() && j < c.ncols() {
        let mut tmp = 0.0;
        for k in 0..a.ncols() {
            tmp += a[[i, k]] * b[[k, j]];
        }
        c[[i, j]] = tmp;
    }
}

/// `a @ b` by launching [`matmul_kernel`] over a simulated CUDA grid on the CPU: blocks of
/// 16 × 16 threads, `ceil(m / 16) × ceil(n / 16)` of them, one thread per element of `c`.
///
/// `a: (m, k)`, `b: (k, n)`, any strides; returns `(m, n)`.
///
/// # Panics
///
/// When `a.ncols() != b.nrows()`, naming both shapes.
///
/// ```
/// use ndarray::array;
///
/// let a = array![[1.0, 2.0], [3.0, 4.0]];
/// let b = array![[5.0, 6.0], [7.0, 8.0]];
/// assert_eq!(matmul_cuda::matmul(a.view(), b.view()), array![[19.0, 22.0], [43.0, 50.0]]);
/// ```
pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let (m, _, n) = matmul_data::assert_inner_dims(a.dim(), b.dim());
    let mut c = Array2::zeros((m, n));
    let mut out = c.view_mut();
    let grid = Dim3::xy(
        blocks_for(m, THREADS_PER_BLOCK),
        blocks_for(n, THREADS_PER_BLOCK),
    );
    let block = Dim3::xy(THREADS_PER_BLOCK, THREADS_PER_BLOCK);
    launch(grid, block, |thread| matmul_kernel(thread, a, b, &mut out));
    c
}

/// This crate, as its stages name it: where the GPU's rows of the bench belong.
pub const CRATE: matmul_data::Crate = matmul_data::this_crate!();

/// This crate's CPU stages: the kernel on the simulated grid.
fn own_stages() -> Vec<Stage> {
    vec![Stage {
        name: "grid-cpu",
        summary: "the lesson's CUDA kernel, one call per grid position, simulated on the CPU",
        matmul,
        runs_on: Processor::Cpu,
        defined_in: matmul_data::this_crate!(),
        runs_as: None,
    }]
}

/// The stages defined so far, in reading order: step 7's, then `grid-cpu`.
///
/// With the `cuda` feature, the GPU kernels follow (`cuda-naive`, …), each with
/// `runs_on: Processor::Gpu`: listing them opens no device, and running one needs a GPU (see
/// `gpu::gpu_stages`).
pub fn stages() -> Vec<Stage> {
    let mut stages = blas::stages();
    stages.extend(own_stages());
    #[cfg(feature = "cuda")]
    stages.extend(gpu::gpu_stages());
    stages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_cpu_is_listed_after_the_blas_stages() {
        let names: Vec<_> = stages().iter().map(|stage| stage.name).collect();
        let ours = names.iter().position(|&name| name == "grid-cpu").unwrap();
        assert_eq!(ours, blas::stages().len());
    }

    #[test]
    fn spare_threads_of_a_partial_block_write_nothing() {
        // (5, 10) uses 50 of one block's 256 threads; poison c and check nothing outside it
        // (there is nothing outside it) and everything inside it was written.
        let a = ndarray::Array2::from_elem((5, 3), 1.0_f32);
        let b = ndarray::Array2::from_elem((3, 10), 2.0_f32);
        let mut c = Array2::from_elem((5, 10), f32::NAN);
        let mut out = c.view_mut();
        launch(Dim3::xy(1, 1), Dim3::xy(16, 16), |t| {
            matmul_kernel(t, a.view(), b.view(), &mut out)
        });
        assert!(c.iter().all(|&x| x == 6.0), "{c}");
    }
}
