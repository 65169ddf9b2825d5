//! # Step 4 — elementwise operations
//!
//! The lesson's next step replaces the hand-written dot product with whole-array arithmetic:
//! multiply row `i` of `a` by column `j` of `b` element by element, then sum.
//!
//! ```python
//! c[i, j] = (a[i, :] * b[:, j]).sum()
//! ```
//!
//! In PyTorch that moves the innermost loop out of Python into C (the *python: torch
//! elementwise* row of a run with `--python` shows what that buys there). ndarray overloads the
//! same operators, so the Rust reads the same:
//!
//! ```
//! use ndarray::{Array2, ArrayView2};
//!
//! fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
//!     let (m, _, n) = matmul_data::assert_inner_dims(a.dim(), b.dim());
//!     let mut c = Array2::zeros((m, n));
//!     for i in 0..m {
//!         for j in 0..n {
//!             c[[i, j]] = (&a.row(i) * &b.column(j)).sum();
//!         }
//!     }
//!     c
//! }
//!
//! use matmul_elementwise::data::{synthetic, test_near};
//!
//! let (m1, m2) = (synthetic::mnist_like(5, 0), synthetic::weights(784, 10, 1));
//! let t1 = matmul_elementwise::dot::matmul(m1.view(), m2.view()); // step 3's answer
//! test_near(&matmul(m1.view(), m2.view()), &t1);
//! ```
//!
//! ## What the expression costs in Rust
//!
//! Our loops were compiled from the start, so there is no interpreter to escape; what the
//! expression *adds* is work:
//!
//! - **an allocation per output element**: `&row * &column` creates a new array of `k` floats,
//!   `m · n` times (50 of them for five images, 500,000 for the full training set);
//! - **two passes over memory instead of one**: the products are written out, then read back
//!   by `sum()`, where the dot product kept each product in a register;
//! - **the strided column is still there**: `b.column(j)` steps down `b` exactly as in step 3.
//!
//! What it buys is ndarray's own inner loops. Its `sum()` adds the contiguous temporary in
//! independent chunks, which the compiler turns into SIMD; the multiply before it still reads
//! the strided column one element at a time, as step 3 did. The lesson's lesson
//! holds — *push the loop down into optimised code* — but here "optimised code" was already
//! where we were, and the benchmark shows the price of the temporaries. Step 5 removes the
//! per-element operation altogether by working on a whole row at a time.
//!
//! ## Measured
//!
//! Two things pull against each other here: the vectorised sum breaks `dot`'s single chain of
//! additions, and the temporaries cost an allocation and a second pass. `dot-contiguous`, which
//! does the same arithmetic with neither, is the yardstick: the block below shows step 3's
//! fastest stage beside this one, and the README's table has `dot` too.
//!
//! Time this step alone: `cargo xtask bench --quick --stage elementwise` (the naive loop
//! is always timed too, as the baseline of the speedups).
//!
#![doc = include_str!("../measured.md")]
//!
//! Next: [`matmul_broadcast`](../matmul_broadcast/index.html). Previous:
//! [`matmul_dot`](../matmul_dot/index.html).

use ndarray::{Array2, ArrayView2};

use matmul_data::Processor;
pub use matmul_data::Stage;
pub use matmul_dot as dot;
// Every earlier step, one segment away: `matmul_elementwise::naive::matmul`.
pub use matmul_dot::{data, naive};

/// `a @ b` with each output element as `(a[i, :] * b[:, j]).sum()`: an elementwise product
/// of a row and a column into a temporary array, then its sum.
///
/// Any strides; returns `(m, n)`.
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
/// assert_eq!(matmul_elementwise::matmul(a.view(), b.view()), array![[19.0, 22.0], [43.0, 50.0]]);
/// ```
pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let (m, _, n) = matmul_data::assert_inner_dims(a.dim(), b.dim());
    let mut c = Array2::zeros((m, n));
    for i in 0..m {
        for j in 0..n {
            c[[i, j]] = (&a.row(i) * &b.column(j)).sum();
        }
    }
    c
}

/// The stages so far, in reading order: step 3's, then the elementwise product and sum.
pub fn stages() -> Vec<Stage> {
    let mut stages = dot::stages();
    stages.push(Stage {
        name: "elementwise",
        summary: "(a[i, :] * b[:, j]).sum(): whole-array multiply into a temporary, then sum",
        matmul,
        runs_on: Processor::Cpu,
        defined_in: matmul_data::this_crate!(),
        runs_as: None,
    });
    stages
}
