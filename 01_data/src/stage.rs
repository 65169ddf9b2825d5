//! The contract every step of the lesson fulfils.
//!
//! Each numbered crate defines one or more ways to compute `c = a @ b` for
//! `a: (m, k)` and `b: (k, n)`, all with the same signature, and lists them as [`Stage`]s.
//! Its `stages()` function returns the previous crate's stages followed by its own, so the last
//! crate in the chain can enumerate — and the bench can time — every idea in reading order.

use ndarray::{Array2, ArrayView2};

/// A matrix multiplication `(m, k) @ (k, n) -> (m, n)` over `f32`.
///
/// Implementations accept views with any strides (transposed, sliced with steps, even
/// negative), give a correctly shaped result when a dimension is zero (`k = 0` gives zeros),
/// and panic when the inner dimensions differ (see [`assert_inner_dims`]).
pub type MatmulFn = fn(ArrayView2<'_, f32>, ArrayView2<'_, f32>) -> Array2<f32>;

/// One step of the lesson: a named way to multiply matrices.
#[derive(Clone, Copy, Debug)]
pub struct Stage {
    /// Short, unique, kebab-case name used in tables and on the command line (`"naive"`).
    pub name: &'static str,
    /// The package that defines it (`"matmul-naive"`), which is where its tutorial page is.
    pub package: &'static str,
    /// One line saying what this stage does differently from the one before.
    pub summary: &'static str,
    /// The implementation.
    pub matmul: MatmulFn,
}

/// Checks that `a: (m, k)` and `b: (k2, n)` can be multiplied and returns `(m, k, n)`.
///
/// # Panics
///
/// When `k != k2`, with a message naming both shapes — a programmer error, as in ndarray's
/// `dot`.
///
/// ```
/// use matmul_data::assert_inner_dims;
///
/// assert_eq!(assert_inner_dims((5, 784), (784, 10)), (5, 784, 10));
/// ```
///
/// ```should_panic
/// # use matmul_data::assert_inner_dims;
/// // panics: "matmul: inner dimensions differ: a is (5, 784) but b is (783, 10)"
/// assert_inner_dims((5, 784), (783, 10));
/// ```
#[track_caller]
pub fn assert_inner_dims(a: (usize, usize), b: (usize, usize)) -> (usize, usize, usize) {
    let ((m, k), (k2, n)) = (a, b);
    assert!(
        k == k2,
        "matmul: inner dimensions differ: a is ({m}, {k}) but b is ({k2}, {n}); \
         (m, k) @ (k, n) needs a's columns to equal b's rows"
    );
    (m, k, n)
}
