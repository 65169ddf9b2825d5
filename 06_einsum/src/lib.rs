//! # Step 6 — Einstein summation
//!
//! Every matmul so far spelled out *how* to loop. Einstein summation says only *what* is
//! summed, with one letter per dimension. The lesson quotes NumPy's documentation:
//!
//! > "The subscripts string is a comma-separated list of subscript labels, where each label
//! > refers to a dimension of the corresponding operand. Whenever a label is repeated it is
//! > summed, so `np.einsum('i,i', a, b)` is equivalent to `np.inner(a,b)`. If a label appears
//! > only once, it is not summed, so `np.einsum('i', a)` produces a view of `a` with no
//! > changes."
//!
//! and then writes matrix multiplication with no loop at all:
//!
//! ```python
//! def matmul(a,b): return torch.einsum('ik,kj->ij', a, b)
//! def batch_matmul(a,b): return torch.einsum('bik,bkj->bij', a, b)
//! ```
//!
//! `ik,kj->ij` reads "`c[i, j]` is the sum over `k` of `a[i, k] · b[k, j]`": `k` appears in
//! both inputs but not in the output, so it is summed. In Rust the stage is the same one line,
//! through this crate's [`einsum`]:
//!
//! ```
//! use matmul_einsum::einsum;
//! use ndarray::{Array2, ArrayView2, Ix2};
//!
//! fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
//!     let c = einsum("ik,kj->ij", &[a.into_dyn(), b.into_dyn()]).unwrap();
//!     c.into_dimensionality::<Ix2>().unwrap()
//! }
//!
//! use matmul_einsum::data::{synthetic, test_near};
//!
//! let (m1, m2) = (synthetic::mnist_like(5, 0), synthetic::weights(784, 10, 1));
//! let t1 = matmul_einsum::broadcast::matmul(m1.view(), m2.view()); // step 5's answer
//! test_near(&matmul(m1.view(), m2.view()), &t1);
//! ```
//!
//! The stage [`matmul`] is that function, with the shapes checked first. `einsum` returns a
//! `Result` because a spec is text, and text can be wrong: `einsum("ijk->i", …)` on a matrix
//! is an [`EinsumError`] naming the operand, what was expected and what was found, never a
//! panic.
//!
//! How does a string become a fast product? `einsum` reads the spec, gives every label a size
//! from the operands' shapes, and then *lowers* the sum onto matrix multiplication: for
//! `ik,kj->ij` it calls step 5's [`broadcast::matmul_scaled_add`] on the caller's own views,
//! with no copy. So this step computes nothing new; it adds a fixed cost per call (reading the
//! spec, planning, a few dozen small allocations), which is noise for a large product and a visible
//! slice of a five-image one.
//!
//! **Going further:** [how this einsum works](going_further) — the grammar of a spec, how any sum
//! over the shared labels of two operands becomes a batch of matmuls, and an example of each form
//! (batches, traces, transposes, outer products, `...`). The lesson's path continues below.
//!
//! ## Measured
//!
//! The block below puts `einsum` beside step 5's fastest stage, and PyTorch's `torch.einsum`
//! beside both. When step 5's fastest is `scaled-add`, the matmul einsum lowers onto, the
//! difference between the two rows is einsum's fixed cost per call: reading and planning the
//! spec. PyTorch lowers `ik,kj->ij` the same way, but onto its BLAS, the subject of step 7;
//! that, not the spec, is what separates its row from this step's.
//!
//! Time this step alone: `cargo xtask bench --quick --stage einsum` (the naive loop
//! is always timed too, as the baseline of the speedups).
//!
#![doc = include_str!("../measured.md")]
//!
//! Next: [`matmul_blas`](../matmul_blas/index.html) — a library that blocks for the cache.
//! Previous: [`matmul_broadcast`](../matmul_broadcast/index.html), broadcasting and its
//! scaled-add form, which einsum lowers onto.

mod bind;
pub mod contract;
pub mod error;
pub mod going_further;
pub mod limits;
pub mod spec;

use ndarray::{Array2, Array3, ArrayD, ArrayView2, ArrayView3, ArrayViewD, Ix2, Ix3};

pub use error::{EinsumError, Place};
pub use matmul_broadcast as broadcast;
// Every earlier step, one segment away: `matmul_einsum::naive::matmul`.
pub use matmul_broadcast::{data, dot, elementwise, naive};
use matmul_data::Processor;
pub use matmul_data::Stage;
pub use spec::{Spec, Subscript, Term};

/// Einstein summation over `f32` arrays, with NumPy's semantics.
///
/// `spec` names each operand's dimensions with letters (`"bik,bkj->bij"`); see the [going-further
/// page](going_further) for the rules and an example of each form. Operands may have any strides.
/// The result is a new array in standard (row-major) layout.
///
/// Two-operand contractions are computed as batches of matrix multiplications, so
/// `"ik,kj->ij"` and `"bik,bkj->bij"` run at the speed of
/// [`broadcast::matmul_scaled_add`]; three or more operands are contracted left to right.
///
/// # Errors
///
/// An [`EinsumError`] when the spec is malformed or does not fit the operands' shapes; its
/// message names the operand, the label, and what was expected and found. `einsum` does not
/// panic on any spec.
///
/// ```
/// use matmul_einsum::einsum;
/// use ndarray::array;
///
/// let a = array![[1.0, 2.0], [3.0, 4.0]].into_dyn();
/// let v = array![1.0, 1.0].into_dyn();
/// assert_eq!(einsum("ij,j->i", &[a.view(), v.view()]).unwrap(), array![3.0, 7.0].into_dyn());
/// assert!(einsum("ij,j->k", &[a.view(), v.view()]).is_err());
/// ```
pub fn einsum(spec: &str, operands: &[ArrayViewD<'_, f32>]) -> Result<ArrayD<f32>, EinsumError> {
    let parsed = Spec::parse(spec)?;
    let shapes: Vec<&[usize]> = operands.iter().map(|operand| operand.shape()).collect();
    let bound = bind::bind(&parsed, &shapes)?;
    contract::evaluate(spec, &bound, operands)
}

/// `a @ b` as the lesson writes it: `einsum("ik,kj->ij", a, b)`.
///
/// `a: (m, k)`, `b: (k, n)`, any strides; returns `(m, n)`.
///
/// # Panics
///
/// When `a.ncols() != b.nrows()`, naming both shapes (einsum would broadcast an inner
/// dimension of 1, as NumPy does; a matmul must not).
///
/// ```
/// use ndarray::array;
///
/// let a = array![[1.0, 2.0], [3.0, 4.0]];
/// let b = array![[5.0, 6.0], [7.0, 8.0]];
/// assert_eq!(matmul_einsum::matmul(a.view(), b.view()), array![[19.0, 22.0], [43.0, 50.0]]);
/// ```
pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    matmul_data::assert_inner_dims(a.dim(), b.dim());
    einsum("ik,kj->ij", &[a.into_dyn(), b.into_dyn()])
        .expect("two matrices with equal inner dimensions fit ik,kj->ij")
        .into_dimensionality::<Ix2>()
        .expect("ik,kj->ij gives a matrix")
}

/// A batch of products, `c[b] = a[b] @ b[b]`, as the lesson writes it:
/// `einsum("bik,bkj->bij", a, b)`.
///
/// `a: (batch, m, k)`, `b: (batch, k, n)`, any strides; returns `(batch, m, n)`.
///
/// # Panics
///
/// When the batch sizes or the inner dimensions differ, naming both shapes.
///
/// ```
/// use ndarray::Array3;
///
/// let a = Array3::<f32>::ones((4, 2, 3));
/// let b = Array3::<f32>::ones((4, 3, 5));
/// let c = matmul_einsum::batch_matmul(a.view(), b.view());
/// assert_eq!(c.dim(), (4, 2, 5));
/// assert!(c.iter().all(|&x| x == 3.0));
/// ```
pub fn batch_matmul(a: ArrayView3<'_, f32>, b: ArrayView3<'_, f32>) -> Array3<f32> {
    let ((batch, m, k), (batch_b, k_b, n)) = (a.dim(), b.dim());
    assert!(
        batch == batch_b && k == k_b,
        "batch_matmul: shapes differ: a is ({batch}, {m}, {k}) but b is ({batch_b}, {k_b}, {n}); \
         (batch, m, k) @ (batch, k, n) needs equal batch sizes and a's columns to equal b's rows"
    );
    einsum("bik,bkj->bij", &[a.into_dyn(), b.into_dyn()])
        .expect("equal batch and inner sizes fit bik,bkj->bij")
        .into_dimensionality::<Ix3>()
        .expect("bik,bkj->bij gives a batch of matrices")
}

/// The stages so far, in reading order: step 5's, then einsum.
pub fn stages() -> Vec<Stage> {
    let mut stages = broadcast::stages();
    stages.push(Stage {
        name: "einsum",
        summary: "einsum(\"ik,kj->ij\"): Einstein summation lowered onto the scaled-add matmul",
        matmul,
        runs_on: Processor::Cpu,
        defined_in: matmul_data::this_crate!(),
        runs_as: None,
    });
    stages
}
