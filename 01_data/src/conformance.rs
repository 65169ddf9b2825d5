//! The checks every stage must pass, shared so that each crate's tests say one line.
//!
//! [`check_stage`] multiplies the same inputs with the stage under test and with a reference
//! stage (the naive loop) and requires both
//! - [`test_near`] agreement with the reference, as the lesson does, and
//! - a normwise [`relative_error`] under [`MAX_RELATIVE_ERROR`] against
//!   the float64 [`reference_matmul`],
//!
//! over MNIST's shapes and awkward ones (1×1, zero-sized dimensions, odd sizes, an outer
//! product) in every layout a view can have: row-major, column-major, transposed, sliced with
//! steps and reversed.
//!
//! ```
//! use matmul_data::conformance::{check_stage, check_rejects_mismatched_shapes};
//!
//! fn ndarray_dot(a: ndarray::ArrayView2<'_, f32>, b: ndarray::ArrayView2<'_, f32>)
//!     -> ndarray::Array2<f32> {
//!     matmul_data::assert_inner_dims(a.dim(), b.dim());
//!     a.dot(&b)
//! }
//! check_stage(ndarray_dot, ndarray_dot);
//! check_rejects_mismatched_shapes(ndarray_dot);
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind};

use ndarray::{Array2, ArrayView2, ShapeBuilder, s};

use crate::{MatmulFn, reference_matmul, relative_error, synthetic, test_near};

/// The largest normwise relative error against float64 a stage may have on these cases.
pub const MAX_RELATIVE_ERROR: f64 = 1e-4;

/// The `(m, k, n)` shapes every stage is checked on.
pub const SHAPES: &[(usize, usize, usize)] = &[
    (5, 784, 10), // the lesson's headline: five images through a linear layer
    (1, 1, 1),
    (0, 3, 4),
    (3, 0, 4), // k = 0: a sum of nothing, so zeros
    (3, 4, 0),
    (0, 0, 0),
    (1, 100, 1),   // a single dot product
    (64, 1, 64),   // an outer product
    (7, 13, 3),    // odd, smaller than any SIMD width or tile
    (33, 65, 17),  // odd, one past powers of two
    (17, 257, 9),  // odd, long inner dimension
    (70, 130, 40), // larger than a micro-kernel tile in every direction
];

/// How an operand's memory is laid out behind the view the stage receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Row-major and contiguous: what `Array2::zeros` gives.
    RowMajor,
    /// Column-major and contiguous (Fortran order).
    ColumnMajor,
    /// `.t()` of a row-major array: the strides of [`Layout::ColumnMajor`], reached by a view.
    Transposed,
    /// Every second row and every third column of a larger array.
    Stepped,
    /// Rows and columns reversed: negative strides.
    Reversed,
}

/// Every [`Layout`], in the order the checks use them.
pub const LAYOUTS: [Layout; 5] = [
    Layout::RowMajor,
    Layout::ColumnMajor,
    Layout::Transposed,
    Layout::Stepped,
    Layout::Reversed,
];

/// Calls `f` with a view of `values` laid out as `layout` (the view has `values`' shape and
/// elements; only the strides and the memory behind them differ).
pub fn with_layout<R>(
    values: &Array2<f32>,
    layout: Layout,
    f: impl FnOnce(ArrayView2<'_, f32>) -> R,
) -> R {
    let (rows, cols) = values.dim();
    match layout {
        Layout::RowMajor => f(values.as_standard_layout().view()),
        Layout::ColumnMajor => {
            let mut fortran = Array2::zeros((rows, cols).f());
            fortran.assign(values);
            f(fortran.view())
        }
        Layout::Transposed => {
            let transposed = values.t().as_standard_layout().into_owned();
            f(transposed.t())
        }
        Layout::Stepped => {
            let mut big = Array2::from_elem((2 * rows + 1, 3 * cols + 2), f32::NAN);
            big.slice_mut(s![1..;2, 2..;3]).assign(values);
            f(big.slice(s![1..;2, 2..;3]))
        }
        Layout::Reversed => {
            // Store the elements back to front (row-major), then view them reversed: the view
            // shows `values` through negative strides. (`to_owned` would keep the strides.)
            let back_to_front = values.slice(s![..;-1, ..;-1]).iter().copied().collect();
            let reversed =
                Array2::from_shape_vec((rows, cols), back_to_front).expect("rows * cols elements");
            f(reversed.slice_move(s![..;-1, ..;-1]).view())
        }
    }
}

/// Checks `stage` against `reference` and against float64 on one pair of inputs.
///
/// # Panics
///
/// When the results are not [`test_near`] or the relative error against float64 exceeds
/// [`MAX_RELATIVE_ERROR`]; the message starts with `case`.
#[track_caller]
pub fn check_case(
    case: &str,
    stage: MatmulFn,
    reference: MatmulFn,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
) {
    let exact = reference_matmul(a, b);
    let expected = reference(a, b);
    let actual = stage(a, b);
    assert_eq!(actual.dim(), exact.dim(), "{case}: wrong result shape");
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| test_near(&actual, &expected))) {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "test_near failed".to_owned());
        panic!("{case}: against the reference stage: {message}");
    }
    let error = relative_error(&actual, &exact);
    assert!(
        error <= MAX_RELATIVE_ERROR,
        "{case}: relative error {error:e} against float64 exceeds {MAX_RELATIVE_ERROR:e}"
    );
}

/// Runs [`check_case`] over every shape in [`SHAPES`] and every pair of [`LAYOUTS`].
///
/// The MNIST-shaped case uses MNIST-like images and normal weights; the others use dense
/// uniform data in `[-1, 1)`, whose sums cancel and so expose any summation mistake.
///
/// # Panics
///
/// On the first case that fails, naming the shape and both layouts.
#[track_caller]
pub fn check_stage(stage: MatmulFn, reference: MatmulFn) {
    for (index, &(m, k, n)) in SHAPES.iter().enumerate() {
        let seed = 2 * index as u64;
        let (a, b) = if (m, k, n) == (5, 784, 10) {
            (
                synthetic::mnist_like(m, seed),
                synthetic::weights(k, n, seed + 1),
            )
        } else {
            (
                synthetic::uniform(m, k, seed),
                synthetic::uniform(k, n, seed + 1),
            )
        };
        for a_layout in LAYOUTS {
            for b_layout in LAYOUTS {
                with_layout(&a, a_layout, |a| {
                    with_layout(&b, b_layout, |b| {
                        let case =
                            format!("({m}, {k}) @ ({k}, {n}), a {a_layout:?}, b {b_layout:?}");
                        check_case(&case, stage, reference, a, b);
                    })
                });
            }
        }
    }
}

/// Checks that `stage` panics, naming both shapes, when the inner dimensions differ.
///
/// # Panics
///
/// When `stage` returns normally, or panics with a message that does not name both shapes.
#[track_caller]
pub fn check_rejects_mismatched_shapes(stage: MatmulFn) {
    let a = Array2::<f32>::zeros((5, 784));
    let b = Array2::<f32>::zeros((783, 10));
    let outcome = catch_unwind(AssertUnwindSafe(|| stage(a.view(), b.view())));
    let payload = match outcome {
        Ok(c) => panic!(
            "a (5, 784) @ (783, 10) product returned a {:?} array instead of panicking",
            c.dim()
        ),
        Err(payload) => payload,
    };
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(
        message.contains("(5, 784)") && message.contains("(783, 10)"),
        "the panic message should name both shapes, got: {message:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layout_shows_the_same_values() {
        let values = synthetic::uniform(3, 5, 1);
        for layout in LAYOUTS {
            with_layout(&values, layout, |view| {
                assert_eq!(view, values.view(), "{layout:?}")
            });
        }
    }

    #[test]
    fn layouts_really_differ_in_strides() {
        let values = synthetic::uniform(3, 5, 1);
        let strides: Vec<Vec<isize>> = LAYOUTS
            .iter()
            .map(|&layout| with_layout(&values, layout, |view| view.strides().to_vec()))
            .collect();
        assert_eq!(strides[0], vec![5, 1]);
        assert_eq!(strides[1], vec![1, 3]);
        assert_eq!(strides[3], vec![2 * 17, 3]);
        assert_eq!(strides[4], vec![-5, -1]);
    }

    fn wrong(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
        let mut c = reference_matmul(a, b).mapv(|x| x as f32);
        if let Some(first) = c.iter_mut().next() {
            *first += 1.0;
        }
        c
    }

    fn right(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
        reference_matmul(a, b).mapv(|x| x as f32)
    }

    #[test]
    fn check_stage_catches_a_wrong_stage() {
        let result = catch_unwind(|| check_stage(wrong, right));
        assert!(
            result.is_err(),
            "a wrong stage passed the conformance checks"
        );
        check_stage(right, right);
    }

    #[test]
    fn check_rejects_catches_a_stage_that_does_not_panic() {
        fn lenient(_: ArrayView2<'_, f32>, _: ArrayView2<'_, f32>) -> Array2<f32> {
            Array2::zeros((5, 10))
        }
        assert!(catch_unwind(|| check_rejects_mismatched_shapes(lenient)).is_err());
        check_rejects_mismatched_shapes(right);
    }
}
