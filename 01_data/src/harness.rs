//! The lesson's test helpers: [`test_eq`], [`test_near`], and a float64 reference.
//!
//! The lesson writes
//!
//! ```python
//! def test(a, b, cmp, cname=None): assert cmp(a, b), f"{cname}:\n{a}\n{b}"
//! def test_eq(a, b): test(a, b, operator.eq, '==')
//! def near(a, b): return torch.allclose(a, b, rtol=1e-3, atol=1e-5)
//! def test_near(a, b): test(a, b, near)
//! ```
//!
//! and every step ends with `test_near(t1, matmul(m1, m2))`. Floating-point sums depend on the
//! order they are added in, so two correct matmuls rarely agree bit for bit: `near` allows
//! `|actual - expected| <= atol + rtol * |expected|` element by element, exactly as
//! `torch.allclose` does. When it fails, the message names the worst element rather than
//! dumping both arrays.

use std::fmt;

use ndarray::{Array2, ArrayBase, ArrayView2, Data, Dimension, IntoDimension};

use crate::stage::assert_inner_dims;

/// How far apart two floats may be and still count as equal: `|a - b| <= atol + rtol * |b|`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Relative tolerance, scaled by the magnitude of the expected value.
    pub rtol: f64,
    /// Absolute tolerance, for expected values near zero.
    pub atol: f64,
}

impl Tolerance {
    /// The lesson's tolerance: `torch.allclose(a, b, rtol=1e-3, atol=1e-5)`.
    pub const LESSON: Tolerance = Tolerance {
        rtol: 1e-3,
        atol: 1e-5,
    };

    /// A tolerance with the given relative and absolute parts.
    pub const fn new(rtol: f64, atol: f64) -> Self {
        Tolerance { rtol, atol }
    }

    /// Whether `actual` is within this tolerance of `expected`. NaN is never near anything.
    pub fn accepts(&self, actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= self.atol + self.rtol * expected.abs()
    }
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance::LESSON
    }
}

/// Why two arrays are not [`near`]: their shapes differ, or an element is out of tolerance.
#[derive(Clone, Debug, PartialEq)]
pub enum Mismatch {
    /// The arrays have different shapes.
    Shape {
        /// Shape of the array under test.
        actual: Vec<usize>,
        /// Shape of the expected array.
        expected: Vec<usize>,
    },
    /// Some element is further from the expected value than the tolerance allows.
    Value {
        /// The (common) shape of both arrays.
        shape: Vec<usize>,
        /// Index of the worst element: the one furthest outside the tolerance.
        index: Vec<usize>,
        /// The value under test at `index`.
        actual: f64,
        /// The expected value at `index`.
        expected: f64,
        /// How many elements are out of tolerance.
        count: usize,
        /// The tolerance that was applied.
        tolerance: Tolerance,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Shape { actual, expected } => {
                write!(f, "shapes differ: actual {actual:?}, expected {expected:?}")
            }
            Mismatch::Value {
                shape,
                index,
                actual,
                expected,
                count,
                tolerance,
            } => write!(
                f,
                "{count} element(s) of the {shape:?} arrays are not near; worst at {index:?}: \
                 actual {actual:e}, expected {expected:e}, difference {:e} > allowed {:e} \
                 (rtol {:e}, atol {:e})",
                (actual - expected).abs(),
                tolerance.atol + tolerance.rtol * expected.abs(),
                tolerance.rtol,
                tolerance.atol,
            ),
        }
    }
}

impl std::error::Error for Mismatch {}

/// Compares two arrays element by element under `tolerance`, like `torch.allclose`.
///
/// Both arrays may be `f32` or `f64` (anything convertible into `f64`), so an `f32` result can
/// be checked directly against a float64 reference.
///
/// ```
/// use matmul_data::{near, Tolerance};
/// use ndarray::array;
///
/// let a = array![[1.0_f32, 2.0], [3.0, 4.0]];
/// assert!(near(&a, &(&a + 1e-6), Tolerance::LESSON).is_ok());
/// assert!(near(&a, &(&a + 1.0), Tolerance::LESSON).is_err());
/// ```
pub fn near<A, B, S, T, D>(
    actual: &ArrayBase<S, D>,
    expected: &ArrayBase<T, D>,
    tolerance: Tolerance,
) -> Result<(), Mismatch>
where
    A: Copy + Into<f64>,
    B: Copy + Into<f64>,
    S: Data<Elem = A>,
    T: Data<Elem = B>,
    D: Dimension,
{
    if actual.shape() != expected.shape() {
        return Err(Mismatch::Shape {
            actual: actual.shape().to_vec(),
            expected: expected.shape().to_vec(),
        });
    }
    // Track the element with the largest ratio of difference to allowance: that is the one
    // a reader wants to see first. NaN compares false, so it is caught by `accepts` and
    // ranked above every finite ratio.
    let mut worst: Option<(Vec<usize>, f64, f64, f64)> = None;
    let mut count = 0;
    for ((index, &a), &b) in actual.indexed_iter().zip(expected.iter()) {
        let (a, b) = (a.into(), b.into());
        if tolerance.accepts(a, b) {
            continue;
        }
        count += 1;
        let allowed = tolerance.atol + tolerance.rtol * b.abs();
        let ratio = (a - b).abs() / allowed;
        let ratio = if ratio.is_nan() { f64::INFINITY } else { ratio };
        if worst.as_ref().is_none_or(|w| ratio > w.3) {
            worst = Some((index.into_dimension().slice().to_vec(), a, b, ratio));
        }
    }
    match worst {
        None => Ok(()),
        Some((index, actual_value, expected_value, _)) => Err(Mismatch::Value {
            shape: actual.shape().to_vec(),
            index,
            actual: actual_value,
            expected: expected_value,
            count,
            tolerance,
        }),
    }
}

/// Panics unless `actual` and `expected` are [`near`] under the lesson's tolerance
/// ([`Tolerance::LESSON`]: `rtol = 1e-3`, `atol = 1e-5`).
///
/// # Panics
///
/// When the shapes differ or any element is out of tolerance; the message names the shapes,
/// the worst element, both values and the tolerance.
///
/// ```
/// use matmul_data::test_near;
/// use ndarray::array;
///
/// test_near(&array![0.1_f32 + 0.2], &array![0.3_f32]);
/// ```
#[track_caller]
pub fn test_near<A, B, S, T, D>(actual: &ArrayBase<S, D>, expected: &ArrayBase<T, D>)
where
    A: Copy + Into<f64>,
    B: Copy + Into<f64>,
    S: Data<Elem = A>,
    T: Data<Elem = B>,
    D: Dimension,
{
    test_near_with(actual, expected, Tolerance::LESSON);
}

/// [`test_near`] with an explicit tolerance.
///
/// # Panics
///
/// When the shapes differ or any element is out of `tolerance`.
#[track_caller]
pub fn test_near_with<A, B, S, T, D>(
    actual: &ArrayBase<S, D>,
    expected: &ArrayBase<T, D>,
    tolerance: Tolerance,
) where
    A: Copy + Into<f64>,
    B: Copy + Into<f64>,
    S: Data<Elem = A>,
    T: Data<Elem = B>,
    D: Dimension,
{
    if let Err(mismatch) = near(actual, expected, tolerance) {
        panic!("test_near failed: {mismatch}");
    }
}

/// Panics unless `actual == expected`, showing both values: the lesson's `test_eq`.
///
/// # Panics
///
/// When the values differ.
///
/// ```
/// use matmul_data::test_eq;
/// use ndarray::array;
///
/// test_eq(array![[1, 2], [3, 4]].t().shape(), &[2, 2][..]);
/// ```
#[track_caller]
pub fn test_eq<T: PartialEq + fmt::Debug + ?Sized>(actual: &T, expected: &T) {
    if actual != expected {
        panic!("test_eq failed:\n  actual:   {actual:?}\n  expected: {expected:?}");
    }
}

/// The exact-as-we-can-get answer: `a @ b` accumulated in `f64`.
///
/// Every `f32` input is exactly representable in `f64`, and a float64 sum of `k` products has
/// an error about `2^29` times smaller than the float32 one, so this is the yardstick every
/// stage is measured against with [`relative_error`].
///
/// # Panics
///
/// When `a.ncols() != b.nrows()`, naming both shapes.
pub fn reference_matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f64> {
    let (m, k, n) = assert_inner_dims(a.dim(), b.dim());
    let mut c = Array2::<f64>::zeros((m, n));
    for i in 0..m {
        for p in 0..k {
            let a_ip = f64::from(a[[i, p]]);
            for (c_ij, &b_pj) in c.row_mut(i).iter_mut().zip(b.row(p)) {
                *c_ij += a_ip * f64::from(b_pj);
            }
        }
    }
    c
}

/// Normwise relative error of `actual` against a float64 `reference`:
/// `max |actual - reference| / max |reference|`.
///
/// Element-wise relative error is meaningless where a sum cancels to nearly zero; dividing by
/// the largest magnitude in the result is the standard measure for matrix products (an `f32`
/// matmul with `k` terms typically lands around `1e-7 * sqrt(k)`). Returns 0 for empty arrays
/// and for an all-zero reference matched exactly.
///
/// # Panics
///
/// When the shapes differ.
pub fn relative_error<S, T, D>(actual: &ArrayBase<S, D>, reference: &ArrayBase<T, D>) -> f64
where
    S: Data<Elem = f32>,
    T: Data<Elem = f64>,
    D: Dimension,
{
    assert_eq!(
        actual.shape(),
        reference.shape(),
        "relative_error: shapes differ (actual vs reference)"
    );
    let scale = reference.iter().fold(0.0_f64, |m, r| m.max(r.abs()));
    let worst = actual
        .iter()
        .zip(reference)
        .map(|(&a, &r)| (f64::from(a) - r).abs())
        .fold(0.0_f64, |m, d| {
            if d.is_nan() || m.is_nan() {
                f64::NAN
            } else {
                m.max(d)
            }
        });
    if worst == 0.0 {
        0.0
    } else {
        worst / scale.max(f64::MIN_POSITIVE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn near_accepts_rounding_and_rejects_real_differences() {
        let a = array![[1.0_f32, -2.0], [0.0, 1e6]];
        assert!(near(&a, &a.mapv(f64::from), Tolerance::LESSON).is_ok());
        let mut b = a.clone();
        b[[1, 0]] = 1e-4;
        let err = near(&b, &a, Tolerance::LESSON).unwrap_err();
        match &err {
            Mismatch::Value {
                index,
                actual,
                expected,
                count,
                ..
            } => {
                assert_eq!(index, &vec![1, 0]);
                assert_eq!((*actual as f32, *expected as f32, *count), (1e-4, 0.0, 1));
            }
            other => panic!("expected a value mismatch, got {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains("[1, 0]") && message.contains("[2, 2]"),
            "{message}"
        );
    }

    #[test]
    fn near_reports_the_worst_element_and_nan() {
        let expected = array![1.0_f32, 1.0, 1.0];
        let actual = array![1.1_f32, f32::NAN, 1.5];
        match near(&actual, &expected, Tolerance::LESSON).unwrap_err() {
            Mismatch::Value { index, count, .. } => assert_eq!((index, count), (vec![1], 3)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn near_rejects_different_shapes() {
        let err = near(
            &array![[1.0_f32, 2.0]],
            &array![[1.0_f32], [2.0]],
            Tolerance::LESSON,
        );
        assert_eq!(
            err.unwrap_err(),
            Mismatch::Shape {
                actual: vec![1, 2],
                expected: vec![2, 1]
            }
        );
    }

    #[test]
    #[should_panic(expected = "worst at [0]")]
    fn test_near_panics_with_the_worst_element() {
        test_near(&array![1.0_f32], &array![2.0_f32]);
    }

    #[test]
    #[should_panic(expected = "test_eq failed")]
    fn test_eq_panics_on_difference() {
        test_eq(&array![1, 2], &array![1, 3]);
    }

    #[test]
    fn reference_matmul_matches_a_hand_computed_product() {
        let a = array![[1.0_f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
        let b = array![[7.0_f32, 8.0], [9.0, 10.0], [11.0, 12.0]];
        test_eq(
            &reference_matmul(a.view(), b.view()),
            &array![[58.0, 64.0], [139.0, 154.0]],
        );
    }

    #[test]
    fn relative_error_is_normwise() {
        let reference = array![[100.0_f64, 0.0]];
        assert_eq!(relative_error(&array![[100.0_f32, 1.0]], &reference), 0.01);
        assert_eq!(relative_error(&array![[100.0_f32, 0.0]], &reference), 0.0);
        assert!(relative_error(&array![[f32::NAN, 0.0]], &reference).is_nan());
    }
}
