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
//! both inputs but not in the output, so it is summed. This crate is a real [`einsum`] with
//! NumPy's semantics — any number of operands, explicit (`->`) or implicit outputs, repeated
//! labels, `...` — and the stage [`matmul`] is exactly the lesson's one-liner.
//!
//! ## Reading a spec
//!
//! [`Spec::parse`] (module [`spec`]) reads the string: labels are the letters `a`–`z` and
//! `A`–`Z`, subscripts are separated by `,`, the output follows `->`, `...` stands for any
//! number of leading (broadcast) dimensions, whitespace is ignored. Without `->` the output is
//! *implicit*: the `...` dimensions, then the labels that appear exactly once, in alphabetical
//! (character-code) order — so `"ij,jk"` is `"ij,jk->ik"` and `"ba"` is a transpose. Binding
//! the spec to the operands' shapes then gives every axis a label and every label one size;
//! sizes of 1 broadcast, as in NumPy. Anything wrong is an [`EinsumError`] that names the
//! operand, the label, what was expected and what was found — never a panic.
//!
//! ## Why it is fast: lowering onto matmul
//!
//! The obvious evaluation is one loop per label — for `ik,kj->ij` the naive triple loop of
//! step 2 again, with index arithmetic on top. Instead, each two-operand contraction is
//! *lowered onto matrix multiplication* (module [`contract`]): every label is *batch* (in both
//! operands and kept), *contracted* (in both, summed), *left-free* or *right-free* (in one
//! only). Permuting `a` to (batch, left, contracted) and `b` to (batch, contracted, right) and
//! merging each group into one axis turns any contraction into a batch of `(m, k) @ (k, n)`
//! products, computed by the previous step's [`broadcast::matmul_scaled_add`] — the
//! `i, k, j` loop, which takes the permuted views at any strides without copying them.
//! Labels that only one operand has are summed away first; repeated labels (`ii`) take the
//! diagonal first; three or more operands are contracted pairwise, left to right.
//!
//! ```text
//! spec            batch   left   contracted   right   computed as
//! ik,kj->ij       -       i      k            j       (i, k) @ (k, j)
//! bik,bkj->bij    b       i      k            j       for each b: (i, k) @ (k, j)
//! bij,jk->bik     -       b i    j            k       (b·i, j) @ (j, k): b and i merge
//! ijk,jk->i       -       i      j k          -       (i, j·k) @ (j·k, 1)
//! i,j->ij         -       i      -            j       nothing to sum: a broadcast product
//! ```
//!
//! (A pair with nothing to contract is an outer product, computed as a broadcast multiply;
//! a batch of `1 × 1` results — batched dot products, `bi,bi->b` — as dot products, since a
//! matmul call per number would cost more than the number.)
//!
//! What does the rearranging cost? A permutation is free: a view with its shape and strides
//! reordered, no data moved. Merging neighbouring axes is free when one stride can walk them —
//! ndarray's `to_shape` then returns a view — and costs one copy of the operand only when the
//! layout demands it (as merging `b·i` does when `b` and `i` are not adjacent in memory).
//! For `ik,kj->ij` and `bik,bkj->bij` nothing needs merging, so the matmul receives the
//! caller's own views, transposed or sliced as they are. What einsum adds is a fixed cost per
//! call — reading the spec, binding it to the shapes, planning the permutations, a few dozen
//! small allocations — whatever the size of the product. That is noise for large products and
//! a noticeable slice of a five-image one.
//!
//! ## The forms, by example
//!
//! Matrix multiplication, the stage itself — and the same through [`einsum`]:
//!
//! ```
//! use matmul_einsum::einsum;
//! use ndarray::array;
//!
//! let a = array![[1.0, 2.0], [3.0, 4.0]];
//! let b = array![[5.0, 6.0], [7.0, 8.0]];
//! assert_eq!(matmul_einsum::matmul(a.view(), b.view()), array![[19.0, 22.0], [43.0, 50.0]]);
//!
//! let c = einsum("ik,kj->ij", &[a.view().into_dyn(), b.view().into_dyn()]).unwrap();
//! assert_eq!(c, array![[19.0, 22.0], [43.0, 50.0]].into_dyn());
//! ```
//!
//! Batch matrix multiplication, `b` naming the batch (see also [`batch_matmul`]):
//!
//! ```
//! # use matmul_einsum::einsum;
//! use ndarray::{array, Array3};
//!
//! let a = Array3::from_shape_fn((2, 1, 2), |(b, _, k)| (b * 2 + k) as f32); // [[0, 1]], [[2, 3]]
//! let b = Array3::from_elem((2, 2, 1), 1.0);
//! let c = einsum("bik,bkj->bij", &[a.view().into_dyn(), b.view().into_dyn()]).unwrap();
//! assert_eq!(c, array![[[1.0]], [[5.0]]].into_dyn());
//! ```
//!
//! Trace and diagonal — a label repeated within one operand walks the diagonal; summed when
//! the output drops it:
//!
//! ```
//! # use matmul_einsum::einsum;
//! use ndarray::array;
//!
//! let m = array![[1.0, 2.0], [3.0, 4.0]].into_dyn();
//! assert_eq!(einsum("ii->", &[m.view()]).unwrap(), ndarray::arr0(5.0).into_dyn());
//! assert_eq!(einsum("ii", &[m.view()]).unwrap(), ndarray::arr0(5.0).into_dyn()); // implicit
//! assert_eq!(einsum("ii->i", &[m.view()]).unwrap(), array![1.0, 4.0].into_dyn());
//! ```
//!
//! Transpose, explicit or implicit (`"ba"` outputs its labels in alphabetical order, `ab`):
//!
//! ```
//! # use matmul_einsum::einsum;
//! use ndarray::array;
//!
//! let m = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]].into_dyn();
//! let t = array![[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]].into_dyn();
//! assert_eq!(einsum("ij->ji", &[m.view()]).unwrap(), t);
//! assert_eq!(einsum("ba", &[m.view()]).unwrap(), t);
//! ```
//!
//! Outer product, and the inner product of the quote:
//!
//! ```
//! # use matmul_einsum::einsum;
//! use ndarray::array;
//!
//! let x = array![1.0, 2.0].into_dyn();
//! let y = array![3.0, 4.0, 5.0].into_dyn();
//! let outer = einsum("i,j->ij", &[x.view(), y.view()]).unwrap();
//! assert_eq!(outer, array![[3.0, 4.0, 5.0], [6.0, 8.0, 10.0]].into_dyn());
//! assert_eq!(einsum("i,i", &[x.view(), x.view()]).unwrap(), ndarray::arr0(5.0).into_dyn());
//! ```
//!
//! `...` for leading dimensions, broadcast as NumPy does (sizes of 1 stretch): a `(2, 1)`
//! stack of matrices times a `(3,)` stack gives a `(2, 3)` stack of products:
//!
//! ```
//! # use matmul_einsum::einsum;
//! use ndarray::{Array, Array4};
//!
//! let a = Array4::<f32>::ones((2, 1, 4, 5));
//! let b = Array::<f32, _>::ones((3, 5, 6));
//! let c = einsum("...ik,...kj->...ij", &[a.view().into_dyn(), b.view().into_dyn()]).unwrap();
//! assert_eq!(c.shape(), &[2, 3, 4, 6]);
//! assert!(c.iter().all(|&x| x == 5.0));
//! ```
//!
//! And a mistake, reported rather than panicking:
//!
//! ```
//! # use matmul_einsum::einsum;
//! use ndarray::Array2;
//!
//! let a = Array2::<f32>::zeros((2, 3)).into_dyn();
//! let error = einsum("ijk->i", &[a.view()]).unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "einsum \"ijk->i\": operand 0 has subscripts \"ijk\", so expected exactly 3 \
//!      dimension(s), found 2 (shape [2, 3])"
//! );
//! ```
//!
//! ## Measured
//!
//! Against `scaled-add`, step 5's stage and the matmul it lowers onto, the difference is the
//! fixed per-call cost of reading and planning the spec; the README's table has both, from the
//! same run as the table below.
//!
//! Time this step alone: `cargo xtask bench --quick --stage einsum` (the naive loop is always timed
//! too, as the baseline of the speedups).
//!
#![doc = include_str!("../measured.md")]
//!
//! Next: [`matmul_blas`](../matmul_blas/index.html) — a library that blocks for the cache.
//! Previous: [`matmul_broadcast`](../matmul_broadcast/index.html), broadcasting and its
//! scaled-add form, which einsum lowers onto.

mod bind;
pub mod contract;
pub mod error;
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
/// `spec` names each operand's dimensions with letters (`"bik,bkj->bij"`); see the
/// [crate page](crate) for the rules and an example of each form. Operands may have any
/// strides. The result is a new array in standard (row-major) layout.
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
