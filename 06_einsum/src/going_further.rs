//! # Going further: how this einsum works
//!
//! Step 6's page uses [`einsum`](crate::einsum) for one spec, `ik,kj->ij`. This page is for
//! the reader who wants the rest: what a spec may say, how any two-operand spec is computed
//! with the matmul of step 5, and an example of each form. Back to
//! [step 6](crate#measured) for the measurements and the next step.
//!
//! ## Reading a spec
//!
//! [`Spec::parse`](crate::Spec::parse) (module [`spec`](crate::spec)) reads the string: labels are
//! the letters `a`–`z` and `A`–`Z`, subscripts are separated by `,`, the output follows `->`, `...`
//! stands for any number of leading (broadcast) dimensions, whitespace is ignored. Without `->` the
//! output is *implicit*: the `...` dimensions, then the labels that appear exactly once, in
//! alphabetical (character-code) order — so `"ij,jk"` is `"ij,jk->ik"` and `"ba"` is a transpose.
//! Binding the spec to the operands' shapes then gives every axis a label and every label one size;
//! sizes of 1 broadcast, as in NumPy. Anything wrong is an [`EinsumError`](crate::EinsumError) that
//! names the operand, the label, what was expected and what was found — never a panic.
//!
//! ## Why it is fast: lowering onto matmul
//!
//! The obvious evaluation is one loop per label — for `ik,kj->ij` the naive triple loop of step 2
//! again, with index arithmetic on top. Instead, each two-operand contraction is *lowered onto
//! matrix multiplication* (module [`contract`](crate::contract)): every label is *batch* (in both
//! operands and kept), *contracted* (in both, summed), *left-free* or *right-free* (in one only).
//! Permuting `a` to (batch, left, contracted) and `b` to (batch, contracted, right) and merging
//! each group into one axis turns any contraction into a batch of `(m, k) @ (k, n)` products,
//! computed by the previous step's
//! [`broadcast::matmul_scaled_add`](crate::broadcast::matmul_scaled_add) — the `i, k, j` loop,
//! which takes the permuted views at any strides without copying them. Labels that only one operand
//! has and that neither the output nor a later operand needs are summed away first; repeated labels
//! (`ii`) take the diagonal first; three or more operands are contracted pairwise, left to right.
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
//! Matrix multiplication, the stage itself — and the same through [`einsum`](crate::einsum):
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
//! Batch matrix multiplication, `b` naming the batch (see also
//! [`batch_matmul`](crate::batch_matmul)):
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
