//! # Step 5 — broadcasting
//!
//! Step 4 still ran one small array operation per output element: `m · n` of them, each over
//! `k` numbers. The lesson's next move removes a loop: take row `i` of `a` as a *column*,
//! `a[i, :, None]` of shape `(k, 1)`, multiply it by all of `b` `(k, n)` — broadcasting
//! stretches the column across `b`'s `n` columns — and sum down axis 0:
//!
//! ```python
//! c[i] = (a[i, :, None] * b).sum(dim=0)
//! ```
//!
//! Broadcasting (APL, 1962; NumPy's rules) compares shapes from the trailing dimension: two
//! sizes are compatible when equal or when one of them is 1, which is then repeated with stride
//! 0 — no copy. ndarray follows the same rules, so the Rust is the Python, almost word for word:
//!
//! ```
//! use ndarray::{Array2, ArrayView2, Axis};
//!
//! fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
//!     let (m, _, n) = matmul_data::assert_inner_dims(a.dim(), b.dim());
//!     let mut c = Array2::zeros((m, n));
//!     for i in 0..m {
//!         let column = a.row(i).insert_axis(Axis(1)); // (k, 1): a[i, :, None]
//!         let products = &column * &b; //               (k, n): broadcast, then multiply
//!         c.row_mut(i).assign(&products.sum_axis(Axis(0))); // (n): sum down the rows
//!     }
//!     c
//! }
//!
//! use matmul_broadcast::data::{synthetic, test_near};
//!
//! let (m1, m2) = (synthetic::mnist_like(5, 0), synthetic::weights(784, 10, 1));
//! let t1 = matmul_broadcast::elementwise::matmul(m1.view(), m2.view()); // step 4's answer
//! test_near(&matmul(m1.view(), m2.view()), &t1);
//! ```
//!
//! ## The access pattern, and what it costs
//!
//! Each row of `c` now takes two whole-array passes: the product writes a `(k, n)` temporary
//! (for the lesson's weights 784 × 10 floats, 31 KB — it fits in L1) and `sum_axis(Axis(0))`
//! reads it back row after row, adding each row of `n` products into the `n` running sums.
//! Both passes walk memory **contiguously, row by row**, the direction `b` is stored in: no more
//! strided column walks, and the inner work is `n`-wide vector arithmetic that the compiler
//! turns into SIMD. The price is the temporary: allocated, written and re-read once per row of
//! `a`, `k · n` floats each time. Each temporary fits in L1, so this is not traffic to main
//! memory, but for 50,000 images it is 1.5 GB written and read back through L1, as many stores
//! and loads as the arithmetic itself, only to be summed away.
//!
//! ## The same idea in its natural Rust form
//!
//! Broadcasting is a way to say "for every `k`, add `a[i, k]` times row `k` of `b` to row `i`
//! of `c`" without writing the loop, because in Python the loop is what's slow. In Rust the
//! loop is free, so we can say it directly and keep the good access pattern without the
//! temporary — [`matmul_scaled_add`]:
//!
//! ```
//! use ndarray::{Array2, ArrayView2};
//!
//! fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
//!     let (m, _, n) = matmul_data::assert_inner_dims(a.dim(), b.dim());
//!     let mut c = Array2::zeros((m, n));
//!     for (a_row, mut c_row) in a.rows().into_iter().zip(c.rows_mut()) {
//!         for (&a_ik, b_row) in a_row.iter().zip(b.rows()) {
//!             c_row.scaled_add(a_ik, &b_row); // c[i, :] += a[i, k] * b[k, :]
//!         }
//!     }
//!     c
//! }
//!
//! use matmul_broadcast::data::{synthetic, test_near};
//!
//! let (m1, m2) = (synthetic::mnist_like(5, 0), synthetic::weights(784, 10, 1));
//! let t1 = matmul_broadcast::matmul(m1.view(), m2.view()); // broadcasting's answer, above
//! test_near(&matmul(m1.view(), m2.view()), &t1);
//! ```
//!
//! This is the textbook `i, k, j` loop order: the innermost operation is an AXPY (`y ← α·x + y`,
//! the name BLAS, the Basic Linear Algebra Subprograms of step 7, gives it) over a contiguous row
//! of `b` into a contiguous row of `c`, which stays in registers or L1, with no reduction in it —
//! so the compiler may vectorise it freely (unlike the dot product's sum, whose order it must
//! preserve). Every element of `b` is still read once per row of `a`, and for large matrices that
//! re-reading from memory is what the BLAS of step 7 removes with cache blocking.
//!
//! ## Measured
//!
//! `broadcast` pays for its `(k, n)` temporary; `scaled-add` keeps the access pattern and drops
//! the temporary. Both work along rows of `b`, and on the lesson's narrow `(784, 10)` weights a
//! row is ten floats: fewer than the sixteen partial sums with which `dot-contiguous` (step 3)
//! keeps the SIMD lanes busy. The block below shows both stages beside the fastest earlier
//! ones, and the lesson's own broadcasting in PyTorch and numba.
//!
//! Time this step alone: `cargo xtask bench --quick --stage broadcast --stage scaled-add`
//! (the naive loop is always timed too, as the baseline of the speedups).
//!
#![doc = include_str!("../measured.md")]
//!
//! Next: [`matmul_einsum`](../matmul_einsum/index.html) — the whole product in one
//! expression. Previous: [`matmul_elementwise`](../matmul_elementwise/index.html).

use ndarray::{Array2, ArrayView2, Axis};

use matmul_data::Processor;
pub use matmul_data::Stage;
pub use matmul_elementwise as elementwise;
// Every earlier step, one segment away: `matmul_broadcast::naive::matmul`.
pub use matmul_elementwise::{data, dot, naive};

/// `a @ b` the lesson's way: row `i` of `a` as a `(k, 1)` column, broadcast against all of `b`
/// `(k, n)`, multiplied, and summed down axis 0 — `(a[i, :, None] * b).sum(0)`.
///
/// Allocates a `(k, n)` temporary per row of `a`. Any strides; returns `(m, n)`.
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
/// assert_eq!(matmul_broadcast::matmul(a.view(), b.view()), array![[19.0, 22.0], [43.0, 50.0]]);
/// ```
pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let (m, _, n) = matmul_data::assert_inner_dims(a.dim(), b.dim());
    let mut c = Array2::zeros((m, n));
    for i in 0..m {
        let column = a.row(i).insert_axis(Axis(1));
        let products = &column * &b;
        c.row_mut(i).assign(&products.sum_axis(Axis(0)));
    }
    c
}

/// `a @ b` as broadcasting means it, without the temporary: for each `k`,
/// `c[i, :] += a[i, k] * b[k, :]` (the `i, k, j` loop order).
///
/// The innermost operation is ndarray's `scaled_add` of a
/// row of `b` into a row of `c`: contiguous when `b` is row-major, and vectorised. Any strides;
/// returns `(m, n)`.
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
/// let c = matmul_broadcast::matmul_scaled_add(a.view(), b.view());
/// assert_eq!(c, array![[19.0, 22.0], [43.0, 50.0]]);
/// ```
pub fn matmul_scaled_add(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let (m, _, n) = matmul_data::assert_inner_dims(a.dim(), b.dim());
    let mut c = Array2::zeros((m, n));
    for (a_row, mut c_row) in a.rows().into_iter().zip(c.rows_mut()) {
        for (&a_ik, b_row) in a_row.iter().zip(b.rows()) {
            c_row.scaled_add(a_ik, &b_row);
        }
    }
    c
}

/// The stages so far, in reading order: step 4's, then the lesson's broadcast and its
/// loop-order form.
pub fn stages() -> Vec<Stage> {
    let mut stages = elementwise::stages();
    stages.push(Stage {
        name: "broadcast",
        summary: "row of a broadcast against all of b, summed down axis 0: (a[i, :, None] * b).sum(0)",
        matmul,
        runs_on: Processor::Cpu,
        defined_in: matmul_data::this_crate!(),
        runs_as: None,
    });
    stages.push(Stage {
        name: "scaled-add",
        summary: "the same access pattern without the temporary: c[i, :] += a[i, k] * b[k, :]",
        matmul: matmul_scaled_add,
        runs_on: Processor::Cpu,
        defined_in: matmul_data::this_crate!(),
        runs_as: None,
    });
    stages
}
