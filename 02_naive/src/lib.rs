//! # Step 2 — the triple loop
//!
//! Matrix multiplication from its definition: entry `(i, j)` of `c = a @ b` is the dot product
//! of row `i` of `a` with column `j` of `b`,
//!
//! ```text
//! c[i, j] = Σ_k a[i, k] · b[k, j]        a: (m, k), b: (k, n), c: (m, n)
//! ```
//!
//! The lesson writes it as three nested Python loops, and so do we:
//!
//! ```
//! # use ndarray::{Array2, ArrayView2};
//! fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
//!     let (m, k, n) = matmul_data::assert_inner_dims(a.dim(), b.dim());
//!     let mut c = Array2::zeros((m, n));
//!     for i in 0..m {
//!         for j in 0..n {
//!             for p in 0..k {
//!                 c[[i, j]] += a[[i, p]] * b[[p, j]];
//!             }
//!         }
//!     }
//!     c
//! }
//!
//! use matmul_data::{reference_matmul, synthetic, test_near};
//!
//! let m1 = synthetic::mnist_like(5, 0); // five images, as in the lesson: (5, 784)
//! let m2 = synthetic::weights(784, 10, 1); // the weights: (784, 10)
//! let t1 = matmul(m1.view(), m2.view());
//! assert_eq!(t1.dim(), (5, 10));
//! test_near(&t1, &reference_matmul(m1.view(), m2.view())); // the same sum in float64
//! ```
//!
//! `test_near` is the lesson's check (`torch.allclose` with `rtol=1e-3, atol=1e-5`; fastcore's
//! `test_close` in the notebook): it passes when every element is within that tolerance of the
//! reference, and otherwise panics naming the worst element. There is no earlier step to
//! compare with, so the check is against [`reference_matmul`](matmul_data::reference_matmul),
//! which adds the same products in `f64`. Every later step checks its answer against the step
//! before it, and so, link by link, against this one.
//!
//! In Python each of the 39,200 multiply-adds of the five-image product runs through the
//! interpreter — look up `c`, call `__getitem__` with a tuple, box a float, dispatch `*` and
//! `+=` dynamically — which is why the lesson's loop (the `python loops` row of a run with
//! `cargo xtask bench --python`) is the slowest way of all. Compiled Rust does none of that;
//! what is left in this loop is:
//!
//! - **bounds checks**: every `c[[i, j]]`, `a[[i, p]]` and `b[[p, j]]` compares both indices
//!   with the shape and branches to a panic if out of range;
//! - **a loop-carried dependency through memory**: `c[[i, j]] +=` reads and writes the same
//!   element every iteration, and the compiler cannot keep it in a register without proving
//!   that `c` does not alias `a` or `b` behind the indexing calls;
//! - **a strided walk down a column of `b`**: consecutive `p` are `b.stride(0)` elements apart,
//!   so each multiply-add touches a different cache line of `b` (for `(784, 10)` weights that
//!   is 40 bytes apart — still the same line often, but hopeless for wider `b`).
//!
//! Floating-point addition is not associative, so the compiler must also add the products in
//! exactly this order: one at a time, no SIMD (*single instruction, multiple data*: one
//! instruction on a register of several numbers at once, 4 to 16 `f32`s on today's CPUs).
//!
//! ## Measured
//!
//! The block below times this loop on the lesson's two workloads, on squares, and on four other
//! shapes. Every later page measures its speedup against this row. The first two tables end with a
//! floor, the least time the machine could take: for the lesson's product one read of the images,
//! for squares the FP32 peak, every core doing fused multiply-adds (FMA: `a · b + c` in one
//! instruction) on its widest registers every cycle. With `cargo xtask bench --python`, the
//! lesson's own Python loop (the *python: python loops* row) sits beside it, paying the interpreter
//! for every multiply-add.
//!
//! Time this step alone: `cargo xtask bench --quick --stage naive`.
//!
#![doc = include_str!("../measured.md")]
//!
//! Next: [`matmul_dot`](../matmul_dot/index.html) replaces the innermost loop with a dot
//! product. Previous: [`matmul_data`](../matmul_data/index.html), the data and the test
//! harness.

use ndarray::{Array2, ArrayView2};

pub use matmul_data as data;
use matmul_data::Processor;
pub use matmul_data::Stage;

/// `a @ b` by the definition: three nested loops over indices.
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
/// assert_eq!(matmul_naive::matmul(a.view(), b.view()), array![[19.0, 22.0], [43.0, 50.0]]);
/// ```
pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let (m, k, n) = data::assert_inner_dims(a.dim(), b.dim());
    let mut c = Array2::zeros((m, n));
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                c[[i, j]] += a[[i, p]] * b[[p, j]];
            }
        }
    }
    c
}

/// The stages defined so far, in reading order: just the triple loop.
///
/// Each later crate's `stages()` returns this list followed by its own stages.
pub fn stages() -> Vec<Stage> {
    vec![Stage {
        name: "naive",
        summary: "triple loop with indexing: c[[i, j]] += a[[i, k]] * b[[k, j]]",
        matmul,
        runs_on: Processor::Cpu,
        defined_in: matmul_data::this_crate!(),
        runs_as: None,
    }]
}
