//! # Step 7 — BLAS
//!
//! The lesson ends its CPU part with `a @ b`: PyTorch hands the product to a BLAS (Basic Linear
//! Algebra Subprograms) library, and the five-image product drops to microseconds. This step
//! does the same — ndarray's [`dot`](https://docs.rs/ndarray/0.17/ndarray/struct.ArrayBase.html#method.dot) is a general matrix multiply
//! (GEMM) from the pure-Rust [`matrixmultiply`](https://docs.rs/matrixmultiply) crate — and
//! then asks what a GEMM does *not* do well: the lesson's own skinny shape.
//!
//! ```
//! use ndarray::{Array2, ArrayView2};
//!
//! fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
//!     matmul_data::assert_inner_dims(a.dim(), b.dim());
//!     a.dot(&b) // C ← A·B, by matrixmultiply's sgemm
//! }
//! # let a = matmul_data::synthetic::mnist_like(5, 0);
//! # let b = matmul_data::synthetic::weights(784, 10, 1);
//! # matmul_data::test_near(&matmul(a.view(), b.view()), &matmul_blas::matmul(a.view(), b.view()));
//! ```
//!
//! ## What a GEMM does that the earlier stages don't
//!
//! A GEMM computes `C ← α·A·B + β·C` for `A: (m, k)`, `B: (k, n)`, each described by a pointer
//! and a row and a column stride. Stage 5's `i, k, j` loop already streams rows of `b` through
//! SIMD registers; it still reads all of `b` once per row of `a`, so for large squares it waits
//! on memory. A GEMM reorganises the same arithmetic around the memory hierarchy
//! (Goto & van de Geijn, 2008):
//!
//! - **Cache blocking.** The loops over `k`, `m` and `n` are cut into blocks sized to the
//!   caches: a `kc × nc` panel of `B` stays in L3/L2, an `mc × kc` block of `A` in L2, and the
//!   innermost loop works on an `kc × nr` sliver of `B` that lives in L1. Each element brought
//!   into a cache is used `mc` or `nc` times before it leaves, instead of once.
//! - **Packing.** Those blocks are copied into contiguous buffers laid out in exactly the order
//!   the micro-kernel reads them: unit stride, aligned, no TLB misses, whatever the strides of
//!   the input. The copy costs `O(mk + kn)`, paid back by `O(mnk)` arithmetic on it.
//! - **A register micro-kernel.** The innermost code computes an `mr × nr` tile of `C`
//!   (e.g. 8 × 8, or 16 × 6 with AVX-512) held entirely in vector registers, as a sum of `kc`
//!   outer products of a column sliver of `A` and a row sliver of `B`: per step, `mr + nr`
//!   loads feed `mr · nr` fused multiply-adds. That ratio is what lets a core run its FMA
//!   units every cycle.
//! - **SIMD, chosen at run time.** matrixmultiply detects AVX, FMA or AVX-512 when it starts
//!   and picks the matching kernel; one binary runs on every x86-64.
//! - **Threads.** The blocks of `C` are independent, so the loop over them is split across the
//!   cores (`matrixmultiply-threading`, enabled by this crate; `MATMUL_NUM_THREADS` overrides
//!   the count).
//!
//! With the `openblas` cargo feature the `openblas` stage (module `openblas`) calls the system's OpenBLAS —
//! NumPy's BLAS, with assembly kernels per CPU — for comparison.
//!
//! ## The lesson's shape is not a GEMM's shape
//!
//! On `(50000, 784) @ (784, 10)` there are 10 multiply-adds per element of `a`, and `a` is
//! 157 MB: the product is bound by reading `a` from memory once. The floor is therefore one
//! streaming read of `a` with every core, which `cargo xtask bench` measures in the same run.
//! A GEMM lands far above that floor — matrixmultiply at about 6×, NumPy/OpenBLAS at about 4×
//! and PyTorch at 6–7.5× on this machine — because what makes it fast on squares is
//! wasted or harmful here:
//!
//! - **the register tile is the wrong shape.** The tile is `nr = 16` columns wide (8 for
//!   AVX2 kernels), so `n = 10` fills 10 of 16 lanes: 37% of the FMAs multiply padding. At the
//!   machine's FMA peak the arithmetic alone would take about 4.2 ms with every lane useful, 6.7 ms
//!   at 10/16 — already above the 5 ms it takes to read `a`.
//! - **packing is a second pass over `a`.** Every block of `A` is copied into a packing buffer
//!   before the micro-kernel runs on it, and the copy loop and the arithmetic loop alternate
//!   instead of overlapping: the time is the sum of a memory-bound pass and a compute-bound
//!   pass, not the larger of the two.
//! - **blocking buys no reuse.** With `n = 10`, each element of `a` takes part in 10
//!   multiply-adds however the loops are cut; cache blocking exists to raise that number, and
//!   cannot.
//!
//! The [`streaming`] stage does the opposite. Each row of `a` is read once, straight from
//! memory, and all 10 of its outputs are computed while it is in L1, against `bᵀ` (10 packed
//! columns, 31 KB) that stays in cache. SIMD runs **across `k`**: 16 consecutive elements of a
//! row meet 16 consecutive elements of each packed column, so every lane is useful; two rows
//! share each load of `bᵀ` (20 accumulators in AVX-512's 32 registers), which keeps the kernel
//! at one 16-lane FMA per cycle. What made the difference was memory-level parallelism: the
//! hardware prefetcher stops at every 4 KiB page and the core is busy with the FMAs, so the
//! kernel asks for the rows 8 ahead itself, **into L2** (`prefetcht1`, which can keep many more
//! misses in flight than L1): 2.6× the floor without it, 1.4× prefetching into L1, 1.2–1.45×
//! into L2 (run to run). The rows are handed to the cores in blocks of 1024, taken in turn, so a core
//! slowed down by anything else takes fewer blocks. Arithmetic (about 4.2 ms at the FMA peak)
//! and the read (about 5 ms) overlap in part; what is left is the part they don't.
//!
//! For five images the reasoning changes again: there is nothing to stream, and a GEMM's
//! packing and thread dispatch are pure overhead on 39,200 multiply-adds. The fastest code
//! reads `b` (31 KB) in place, once, each row scaled by the five `a[i, p]` into five
//! accumulator registers — the broadcasting stage's `i, k, j` loop, in registers, with a
//! masked 10-lane load per row of `b`.
//!
//! ## Measured
//!
//! `cargo xtask bench` on 2 cores of an AMD EPYC (Zen 4, AVX-512), rustc 1.95, synthetic
//! MNIST-shaped data, a quiet machine (2026-11-23 09:47 UTC); medians, with the system OpenBLAS
//! and the lesson's Python timed in the same run (the README has the whole table):
//!
//! | | 5 images | 50,000 images | × floor | square-2048 |
//! |---|--:|--:|--:|--:|
//! | `matrixmultiply` | 8.4 µs | 30.7 ms | 6.2 | 173 GFLOP/s |
//! | `openblas` (system, 0.3.21) | 2.7 µs | 34.6 ms | 7.0 | 187 GFLOP/s |
//! | `streaming` | 1.35 µs | 7.2 ms | 1.44 | 81 GFLOP/s |
//! | NumPy `@` (OpenBLAS) | 3.5 µs | 18.8 ms | 3.8 | 194 GFLOP/s |
//! | `torch.matmul` (MKL) | 11.0 µs | 31.5 ms | 6.4 | 154 GFLOP/s |
//! | floor: one read of `x` | | 5.0 ms | 1.00 | |
//!
//! The streaming kernel is 1.2–1.45× the floor from run to run (the floor itself moves between
//! 4.4 and 5.6 ms on this shared virtual machine): the arithmetic (about 4.2 ms at the FMA peak)
//! and the read overlap only partly. A single thread shows why — it takes about the *sum* of its
//! compute time and its read time, even with the prefetches — and closing that gap is the work
//! left on this kernel.
//!
//! On a CPU without AVX-512 the same kernels run from their portable Rust, compiled for AVX2
//! and FMA: forced onto that path on this machine they take 2.9 µs on five images and about
//! 22 ms on 50,000 (8 lanes instead of 16, and no fused multiply-add in portable Rust).
//!
//! The streaming kernel is the fastest stage on both of the lesson's workloads — 95× the
//! naive loop on five images, 178× on 50,000. On large squares it is the wrong tool (it
//! re-reads `a` once per 10 columns), and matrixmultiply's AVX-512 GEMM is the stage to use:
//! 170–190 GFLOP/s on a quiet machine (130 when other work shares the cores), level with MKL
//! and OpenBLAS, which are tuned per CPU in assembly.
//!
//! Next: [`matmul_cuda`](../matmul_cuda/index.html), the lesson's CUDA kernel. Previous:
//! [`matmul_einsum`](../matmul_einsum/index.html), Einstein summation.

use ndarray::{Array2, ArrayView2};

pub use matmul_data::Stage;
pub use matmul_einsum as einsum;

pub mod gemm;
#[cfg(feature = "openblas")]
pub mod openblas;
pub mod streaming;

/// Columns of `b` up to which [`matmul`] streams: a GEMM's narrowest tile here is 16 columns
/// wide (AVX2) or 32 (AVX-512), so a narrower `b` leaves most of every tile empty.
pub const STREAMING_MAX_COLUMNS: usize = 16;

/// Rows of `a` below which [`matmul`] streams: fewer rows than the streaming kernel takes at
/// once (8), where packing `b` for a GEMM would cost as much as the product.
pub const STREAMING_MAX_ROWS: usize = 7;

/// `a @ b`, the fastest way this step knows for the shape: the [`streaming`] kernel when `b` is
/// narrow (at most [`STREAMING_MAX_COLUMNS`] columns, like the lesson's 10 classes) or `a` is
/// short (at most [`STREAMING_MAX_ROWS`] rows), the crate's own [`gemm`] otherwise.
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
/// assert_eq!(matmul_blas::matmul(a.view(), b.view()), array![[19.0, 22.0], [43.0, 50.0]]);
/// ```
pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    matmul_data::assert_inner_dims(a.dim(), b.dim());
    if b.ncols() <= STREAMING_MAX_COLUMNS || a.nrows() <= STREAMING_MAX_ROWS {
        streaming::matmul(a, b)
    } else {
        gemm::matmul(a, b)
    }
}

/// The `matrixmultiply` stage: someone else's GEMM, called the way the lesson calls PyTorch's.
pub mod matrixmultiply {
    use ndarray::{Array2, ArrayView2};

    /// `a @ b` with ndarray's GEMM (the `matrixmultiply` crate's `sgemm`, threaded).
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
    /// let c = matmul_blas::matrixmultiply::matmul(a.view(), b.view());
    /// assert_eq!(c, array![[19.0, 22.0], [43.0, 50.0]]);
    /// ```
    pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
        matmul_data::assert_inner_dims(a.dim(), b.dim());
        a.dot(&b)
    }
}

/// Which BLAS libraries this build can call, for the bench's machine line.
pub fn blas_libraries() -> &'static str {
    if cfg!(feature = "openblas") {
        "matrixmultiply (threaded), OpenBLAS (system)"
    } else {
        "matrixmultiply (threaded); OpenBLAS not built (feature `openblas`)"
    }
}

/// Every stage so far, in reading order: the earlier crates' stages; the GEMM built here, one
/// idea at a time; the GEMMs of others (matrixmultiply, and OpenBLAS with the `openblas`
/// feature); the streaming kernel; and `blas`, this crate's [`matmul`], which picks between
/// them by shape.
pub fn stages() -> Vec<Stage> {
    let package = env!("CARGO_PKG_NAME");
    let mut stages = einsum::stages();
    stages.extend([
        Stage {
            name: "gemm-kernel",
            package,
            summary: "an MR × NR tile of c in vector registers, k rank-1 updates, over unpacked a and b",
            matmul: gemm::matmul_kernel,
        },
        Stage {
            name: "gemm-packed",
            package,
            summary: "a and b copied into contiguous slivers in the order the micro-kernel reads them",
            matmul: gemm::matmul_packed,
        },
        Stage {
            name: "gemm-blocked",
            package,
            summary: "packing in kc × nc and mc × kc blocks sized from L1, L2 and L3",
            matmul: gemm::matmul_blocked,
        },
        Stage {
            name: "gemm",
            package,
            summary: "the blocks of c shared among the cores, one packed panel of b for all",
            matmul: gemm::matmul,
        },
        Stage {
            name: "matrixmultiply",
            package,
            summary: "a real GEMM (ndarray's dot): packing, cache blocking, SIMD micro-kernel, threads",
            matmul: matrixmultiply::matmul,
        },
    ]);
    #[cfg(feature = "openblas")]
    stages.push(Stage {
        name: "openblas",
        package,
        summary: "the system OpenBLAS's sgemm (NumPy's BLAS): assembly kernels, its own threads",
        matmul: openblas::matmul,
    });
    stages.push(Stage {
        name: "streaming",
        package,
        summary: "each row of a read once, b resident in cache, SIMD across k, rows split across cores",
        matmul: streaming::matmul,
    });
    stages.push(Stage {
        name: "blas",
        package,
        summary: "this step's answer: streaming for a narrow b or a short a, the own GEMM otherwise",
        matmul,
    });
    stages
}
