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
//! streaming read of `a`, which `cargo xtask bench` measures in the same run. A GEMM does far
//! worse than that floor — NumPy/OpenBLAS and PyTorch take 4–5× of it on this machine, and so
//! does matrixmultiply — because everything that makes it fast on squares is wasted here:
//!
//! - its register tile is `nr = 8` or `16` columns wide, so `n = 10` is two tiles, or one
//!   with 6 of 16 lanes padding: 20–60% of the FMAs are on zeros;
//! - it packs every block of `A` before using it: each element of `a` is read from memory,
//!   written to the packing buffer and read again — and the packing loop, which is not
//!   overlapped with the arithmetic, runs at copy speed, not at stream-read speed;
//! - blocking for reuse buys nothing: with `n = 10` each element of `A` is used 10 times no
//!   matter how the loops are cut.
//!
//! The [`streaming`] stage does the opposite: no packing of `a`, each row read once straight
//! from memory, all 10 outputs of the row computed while it is in L1, with `bᵀ` (31 KB) resident
//! in cache and SIMD **across `k`** so that every lane does useful work; two rows share each
//! load of `bᵀ`; software prefetch keeps the memory system busy; the rows are split across the
//! cores. It is within a small factor of the floor (see below) — and, since the whole product
//! is a read of `a`, it cannot do much better.
//!
//! For five images the same reasoning changes again: there is no data to stream, the packing
//! of a GEMM is pure overhead, and the fastest code reads `b` (31 KB) in place, once, scaling
//! each row by the five `a[i, p]` — the broadcasting stage's loop, in registers.
//!
//! ## Measured
//!
//! BLAS_MEASURED
//!
//! Next: [`matmul_cuda`](../matmul_cuda/index.html), the lesson's CUDA kernel. Previous:
//! [`matmul_einsum`](../matmul_einsum/index.html), Einstein summation.

use ndarray::{Array2, ArrayView2};

pub use matmul_data::Stage;
pub use matmul_einsum as einsum;

#[cfg(feature = "openblas")]
pub mod openblas;
pub mod streaming;

/// `a @ b` with ndarray's GEMM (matrixmultiply's `sgemm`, threaded).
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
    a.dot(&b)
}

/// Which BLAS libraries this build can call, for the bench's machine line.
pub fn blas_libraries() -> &'static str {
    if cfg!(feature = "openblas") {
        "matrixmultiply (threaded), OpenBLAS (system)"
    } else {
        "matrixmultiply (threaded); OpenBLAS not built (feature `openblas`)"
    }
}

/// Every stage so far, in reading order: the earlier crates' stages, then the GEMM, OpenBLAS
/// (with the `openblas` feature) and the streaming kernel.
pub fn stages() -> Vec<Stage> {
    let mut stages = einsum::stages();
    stages.push(Stage {
        name: "matrixmultiply",
        package: env!("CARGO_PKG_NAME"),
        summary: "a real GEMM (ndarray's dot): packing, cache blocking, SIMD micro-kernel, threads",
        matmul,
    });
    #[cfg(feature = "openblas")]
    stages.push(Stage {
        name: "openblas",
        package: env!("CARGO_PKG_NAME"),
        summary: "the system OpenBLAS's sgemm (NumPy's BLAS): assembly kernels, its own threads",
        matmul: openblas::matmul,
    });
    stages.push(Stage {
        name: "streaming",
        package: env!("CARGO_PKG_NAME"),
        summary: "each row of a read once, b resident in cache, SIMD across k, rows split across cores",
        matmul: streaming::matmul,
    });
    stages
}
