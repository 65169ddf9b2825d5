//! The `openblas` stage: the system's OpenBLAS through its C interface, `cblas_sgemm`.
//!
//! OpenBLAS is what NumPy ships with: hand-written assembly micro-kernels per CPU family,
//! chosen at run time, and its own thread pool. Built only with the `openblas` cargo feature,
//! which links the system library (Debian: `apt-get install libopenblas-dev`).
//!
//! This stage calls `cblas_sgemm` directly rather than switching on ndarray's `blas` feature:
//! that feature would silently route *every* `.dot` in the workspace through OpenBLAS —
//! including the `matrixmultiply` stage — and the table could no longer compare the two.

// Link the system OpenBLAS (blas-src picks the provider, openblas-src's `system` feature finds
// the installed library instead of building one).
use blas_src as _;
use openblas_src as _;

use cblas_sys::{CBLAS_LAYOUT, CBLAS_TRANSPOSE, cblas_sgemm};
use ndarray::{Array2, ArrayView2};
use std::borrow::Cow;

/// `a @ b` with OpenBLAS's `sgemm`: `C ← 1·A·B + 0·C`.
///
/// `a: (m, k)`, `b: (k, n)`, any strides: row-major and column-major views are passed as they
/// are (a column-major matrix is a transposed row-major one); other layouts are copied to
/// row-major first. Returns `(m, n)`.
///
/// # Panics
///
/// When `a.ncols() != b.nrows()`, naming both shapes; when a dimension exceeds `i32::MAX`.
///
/// ```
/// use matmul_data::{synthetic, test_near};
///
/// let images = synthetic::mnist_like(5, 1);
/// let weights = synthetic::weights(784, 10, 2);
/// let c = matmul_blas::openblas::matmul(images.view(), weights.view());
/// test_near(&c, &images.dot(&weights));
/// ```
pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let (m, k, n) = matmul_data::assert_inner_dims(a.dim(), b.dim());
    let mut c = Array2::<f32>::zeros((m, n));
    if m == 0 || n == 0 || k == 0 {
        return c; // a sum of nothing is zero, and BLAS rejects zero leading dimensions
    }
    let (a, a_trans, lda) = blas_operand(a);
    let (b, b_trans, ldb) = blas_operand(b);
    let dim = |x: usize| i32::try_from(x).expect("matrix dimension fits in a C int");
    // SAFETY: `a` is `(m, k)` and `b` is `(k, n)`, each stored row-major (NoTrans) or
    // column-major (Trans) with the leading dimension `blas_operand` checked against its
    // length; `c` is a fresh contiguous row-major `(m, n)` array with leading dimension `n`.
    // OpenBLAS reads `a` and `b` and writes only `c` within those bounds.
    unsafe {
        cblas_sgemm(
            CBLAS_LAYOUT::CblasRowMajor,
            a_trans,
            b_trans,
            dim(m),
            dim(n),
            dim(k),
            1.0,
            a.as_ptr(),
            dim(lda),
            b.as_ptr(),
            dim(ldb),
            0.0,
            c.as_mut_ptr(),
            dim(n),
        );
    }
    c
}

/// A view in a form BLAS takes: the memory from its first element, whether it is stored
/// transposed, and its leading dimension (the stride between rows, or between columns when
/// transposed). Views with other strides are copied to row-major.
fn blas_operand(x: ArrayView2<'_, f32>) -> (Cow<'_, [f32]>, CBLAS_TRANSPOSE, usize) {
    let (rows, cols) = x.dim();
    let (row_stride, col_stride) = (x.strides()[0], x.strides()[1]);
    let span = |leading: usize, count: usize, len: usize| (count - 1) * leading + len;
    if col_stride == 1 && row_stride >= cols.max(1) as isize {
        let lda = row_stride as usize;
        // SAFETY: a view with these positive strides covers `(rows - 1) * lda + cols`
        // elements from its first one, all inside the array it views.
        let memory = unsafe { std::slice::from_raw_parts(x.as_ptr(), span(lda, rows, cols)) };
        return (Cow::Borrowed(memory), CBLAS_TRANSPOSE::CblasNoTrans, lda);
    }
    if row_stride == 1 && col_stride >= rows.max(1) as isize {
        let lda = col_stride as usize;
        // SAFETY: as above, with the roles of rows and columns exchanged.
        let memory = unsafe { std::slice::from_raw_parts(x.as_ptr(), span(lda, cols, rows)) };
        return (Cow::Borrowed(memory), CBLAS_TRANSPOSE::CblasTrans, lda);
    }
    let copy: Vec<f32> = x.iter().copied().collect(); // row-major order
    (Cow::Owned(copy), CBLAS_TRANSPOSE::CblasNoTrans, cols)
}
