//! Evaluating a bound spec: every contraction of two operands becomes a batch of matrix
//! multiplications.
//!
//! The plan, for operands taken left to right (`((a, b), c), …`):
//!
//! 1. **Prepare each operand** (`prepare`): drop axes of size 1 that broadcast against a
//!    longer size elsewhere (they contribute the same value everywhere), and take the diagonal
//!    of labels repeated within the operand (`"ii"`, `"iij"`).
//! 2. **Contract a pair** (`contract_pair`): first sum away labels that only one of the two
//!    has and nothing later needs; then every remaining label is one of
//!    - *batch*: in both, and needed later (in the output or a later operand),
//!    - *contracted*: in both, and not needed later — summed over,
//!    - *left-free* / *right-free*: in one of them only.
//!
//!    Permute `a` to (batch, left, contracted) and `b` to (batch, contracted, right), view them
//!    as 3-D `(batch, m, k)` and `(batch, k, n)`, and multiply each batch with the previous
//!    stage's [`matmul_scaled_add`](crate::broadcast::matmul_scaled_add). The product
//!    `(batch, m, n)` *is* the result with axes (batch…, left…, right…).
//! 3. **Finish**: sum away what the output does not keep, and permute to the output's order.
//!
//! Permuting axes is free — it only reorders the shape and strides of a view. Reshaping to 3-D
//! merges neighbouring axes, which is free too when their strides let one stride walk them
//! (ndarray's `to_shape` returns a view then) and costs one copy of the operand otherwise. For
//! `"ik,kj->ij"` and `"bik,bkj->bij"` nothing is merged or copied, whatever the strides: the
//! matmul receives the caller's views.

use ndarray::{
    Array2, Array3, ArrayD, ArrayView2, ArrayView3, ArrayViewD, Axis, CowArray, IxDyn, ShapeArg,
    Zip,
};

use crate::bind::{Bound, Label};
use crate::error::EinsumError;
pub use crate::limits::MAX_ELEMENTS;

/// The matrix multiplication every contraction is lowered onto: step 5's `i, k, j` loop, which
/// takes any strides without a copy (`dot-contiguous` would copy `b` transposed on every call,
/// once per batch here).
fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    crate::broadcast::matmul_scaled_add(a, b)
}

/// An operand or intermediate result, with the label of each axis.
struct Tensor<'a> {
    data: CowArray<'a, f32, IxDyn>,
    labels: Vec<Label>,
}

/// Evaluates `bound` on `operands` (which have the shapes it was bound to).
///
/// `spec` is only for error messages.
pub(crate) fn evaluate(
    spec: &str,
    bound: &Bound,
    operands: &[ArrayViewD<'_, f32>],
) -> Result<ArrayD<f32>, EinsumError> {
    let mut tensors = operands
        .iter()
        .zip(&bound.operands)
        .map(|(operand, labels)| prepare(operand.view(), labels.clone(), &bound.sizes));
    let Some(mut result) = tensors.next() else {
        // `bind` has checked the count against the spec, which always has an operand; an
        // empty product is 1 all the same.
        return Ok(ArrayD::ones(IxDyn(&[])));
    };
    for (index, tensor) in tensors.enumerate() {
        // What must survive this contraction: the output, and the labels of later operands.
        let later = &bound.operands[index + 2..];
        let needed = |label: &Label| {
            bound.output.contains(label) || later.iter().any(|labels| labels.contains(label))
        };
        result = contract_pair(spec, result, tensor, &needed)?;
    }
    let result = sum_out(result, |label| !bound.output.contains(label));
    Ok(finish(result, &bound.output, &bound.sizes))
}

/// Drops broadcasting axes of size 1 and takes diagonals, so that each label appears at most
/// once and with its full size.
fn prepare<'a>(data: ArrayViewD<'a, f32>, mut labels: Vec<Label>, sizes: &[usize]) -> Tensor<'a> {
    let mut data = data;
    // Walk backwards so that removing an axis does not shift those still to visit.
    for axis in (0..labels.len()).rev() {
        if data.len_of(Axis(axis)) == 1 && sizes[labels[axis].index()] != 1 {
            data = data.index_axis_move(Axis(axis), 0);
            labels.remove(axis);
        }
    }
    let mut tensor = Tensor {
        data: data.into(),
        labels,
    };
    while let Some((first, second)) = repeated_pair(&tensor.labels) {
        tensor = diagonal(tensor, first, second);
    }
    tensor
}

/// The first two axes with the same label, if any (`first < second`).
fn repeated_pair(labels: &[Label]) -> Option<(usize, usize)> {
    labels.iter().enumerate().find_map(|(second, label)| {
        let first = labels[..second].iter().position(|l| l == label)?;
        Some((first, second))
    })
}

/// The diagonal over axes `first < second` (of equal length): element `[.., i, .., i, ..]`
/// for each `i`, in a new array whose axis `first` is the diagonal and `second` is gone.
///
/// A diagonal is a copy here: ndarray has no safe way to view a diagonal of an n-dimensional
/// array (it would need a stride that is the sum of two), and it is only `n` sub-arrays.
fn diagonal<'a>(tensor: Tensor<'a>, first: usize, second: usize) -> Tensor<'a> {
    let Tensor { data, mut labels } = tensor;
    let mut shape = data.shape().to_vec();
    shape.remove(second);
    let mut result = ArrayD::zeros(IxDyn(&shape));
    for i in 0..data.len_of(Axis(first)) {
        // Removing `second` first keeps the index of `first` (which is smaller) unchanged.
        let source = data.index_axis(Axis(second), i);
        let source = source.index_axis(Axis(first), i);
        result.index_axis_mut(Axis(first), i).assign(&source);
    }
    labels.remove(second);
    Tensor {
        data: result.into(),
        labels,
    }
}

/// Sums over every axis whose label satisfies `drop`.
fn sum_out<'a>(tensor: Tensor<'a>, drop: impl Fn(&Label) -> bool) -> Tensor<'a> {
    let Tensor {
        mut data,
        mut labels,
    } = tensor;
    for axis in (0..labels.len()).rev() {
        if drop(&labels[axis]) {
            data = data.sum_axis(Axis(axis)).into();
            labels.remove(axis);
        }
    }
    Tensor { data, labels }
}

/// Contracts `a` with `b`, keeping the labels `needed` says are needed later.
///
/// The result's axes are (batch…, left-free…, right-free…), each group in the order its labels
/// have in `a` (or in `b`, for the right-free ones).
fn contract_pair<'r>(
    spec: &str,
    a: Tensor<'_>,
    b: Tensor<'_>,
    needed: &dyn Fn(&Label) -> bool,
) -> Result<Tensor<'r>, EinsumError> {
    // A label only one side has, and nothing later needs, can be summed away before the
    // product: Σ_k a[i, k] · b[i] = (Σ_k a[i, k]) · b[i]. It is cheaper, and it keeps such
    // labels out of the matrix shapes.
    let a = sum_out(a, |label| !b.labels.contains(label) && !needed(label));
    let b = sum_out(b, |label| !a.labels.contains(label) && !needed(label));

    let in_b = |label: &Label| b.labels.contains(label);
    let batch: Vec<Label> = a
        .labels
        .iter()
        .copied()
        .filter(|l| in_b(l) && needed(l))
        .collect();
    let contracted: Vec<Label> = a
        .labels
        .iter()
        .copied()
        .filter(|l| in_b(l) && !needed(l))
        .collect();
    let left: Vec<Label> = a.labels.iter().copied().filter(|l| !in_b(l)).collect();
    let right: Vec<Label> = b
        .labels
        .iter()
        .copied()
        .filter(|l| !a.labels.contains(l))
        .collect();

    let lengths = |tensor: &Tensor<'_>, group: &[Label]| -> Vec<usize> {
        group
            .iter()
            .map(|label| tensor.data.len_of(Axis(axis_of(tensor, *label))))
            .collect()
    };
    let batch_shape = lengths(&a, &batch);
    let left_shape = lengths(&a, &left);
    let right_shape = lengths(&b, &right);
    let result_shape: Vec<usize> = [&batch_shape[..], &left_shape, &right_shape].concat();
    element_count(spec, &result_shape)?;
    let (batches, m, n) = (
        product(&batch_shape),
        product(&left_shape),
        product(&right_shape),
    );
    let k = product(&lengths(&a, &contracted));

    let a = permuted(&a, &[&batch[..], &left, &contracted].concat());
    let b = permuted(&b, &[&batch[..], &contracted, &right].concat());
    let products: Array3<f32> = if contracted.is_empty() {
        // Nothing to sum: an outer product per batch, (m, 1) * (1, n), by broadcasting — a
        // matmul with k = 1 would only add a call per batch.
        let a = merged(&a, (batches, m, 1));
        let b = merged(&b, (batches, 1, n));
        let mut products = Array3::zeros((batches, m, n)); // row-major, whatever a and b are
        Zip::from(&mut products)
            .and_broadcast(&a)
            .and_broadcast(&b)
            .for_each(|c, &a, &b| *c = a * b);
        products
    } else if m == 1 && n == 1 && batches > 1 {
        // A batch of dot products: one matmul call per number would cost more than the sums.
        let a = merged(&a, (batches, k));
        let b = merged(&b, (batches, k));
        let dots = Zip::from(a.rows())
            .and(b.rows())
            .map_collect(|a, b| a.dot(&b));
        dots.into_shape_with_order((batches, 1, 1))
            .expect("batches elements in (batches, 1, 1)")
    } else {
        let a = merged(&a, (batches, m, k));
        let b = merged(&b, (batches, k, n));
        batched_matmul(a.view(), b.view())
    };
    // Splitting the merged axes again needs row-major order; every branch above produces it
    // (the matmul returns a fresh row-major array), so this copy is only a safeguard.
    let products = if products.is_standard_layout() {
        products
    } else {
        products.as_standard_layout().into_owned()
    };
    let data = products
        .into_shape_with_order(IxDyn(&result_shape))
        .expect("(batches, m, n) is the result shape with its groups merged");
    Ok(Tensor {
        data: data.into(),
        labels: [batch, left, right].concat(),
    })
}

/// `c[b] = a[b] @ b[b]` for every batch `b`.
fn batched_matmul(a: ArrayView3<'_, f32>, b: ArrayView3<'_, f32>) -> Array3<f32> {
    let (batches, m, _) = a.dim();
    let n = b.len_of(Axis(2));
    if batches == 1 {
        // The common two-operand case: hand the matmul's result back without a copy.
        let c = matmul(a.index_axis(Axis(0), 0), b.index_axis(Axis(0), 0));
        return c.insert_axis(Axis(0));
    }
    let mut c = Array3::zeros((batches, m, n));
    for (index, mut c_batch) in c.outer_iter_mut().enumerate() {
        c_batch.assign(&matmul(
            a.index_axis(Axis(0), index),
            b.index_axis(Axis(0), index),
        ));
    }
    c
}

/// The axis of `tensor` labelled `label` (which it has).
fn axis_of(tensor: &Tensor<'_>, label: Label) -> usize {
    tensor
        .labels
        .iter()
        .position(|&l| l == label)
        .expect("the label was taken from this tensor")
}

/// A view of `tensor` with its axes in the order of `labels` (a permutation of its own): no
/// data moves, only the shape and strides are reordered.
fn permuted<'a>(tensor: &'a Tensor<'_>, labels: &[Label]) -> ArrayViewD<'a, f32> {
    let order: Vec<usize> = labels.iter().map(|&label| axis_of(tensor, label)).collect();
    tensor.data.view().permuted_axes(IxDyn(&order))
}

/// `data` viewed with fewer dimensions by merging neighbouring axes: a view when the strides
/// allow it, a row-major copy when they do not.
fn merged<'a, Shape: ShapeArg>(
    data: &'a ArrayViewD<'_, f32>,
    shape: Shape,
) -> CowArray<'a, f32, Shape::Dim> {
    data.to_shape(shape)
        .expect("the groups' lengths multiply to the element count")
}

fn product(lengths: &[usize]) -> usize {
    lengths.iter().product()
}

/// Checks that an array of `shape` can be allocated (and that ndarray accepts the shape).
fn element_count(spec: &str, shape: &[usize]) -> Result<usize, EinsumError> {
    // ndarray requires the product of the non-zero lengths to fit; check that one.
    let nonzero = shape
        .iter()
        .filter(|&&length| length != 0)
        .try_fold(1usize, |count, &length| count.checked_mul(length));
    match nonzero {
        Some(count) if count <= MAX_ELEMENTS => Ok(product(shape)),
        _ => Err(EinsumError::TooLarge {
            spec: spec.to_owned(),
            shape: shape.to_vec(),
        }),
    }
}

/// The result: axes in the output's order, in standard (row-major) layout. Any output label
/// the result lacks is broadcast to its size (`bind` makes that impossible today, but it
/// costs nothing to be total).
fn finish(tensor: Tensor<'_>, output: &[Label], sizes: &[usize]) -> ArrayD<f32> {
    let Tensor {
        mut data,
        mut labels,
    } = tensor;
    for &label in output {
        if !labels.contains(&label) {
            let axis = labels.len();
            let mut shape = data.shape().to_vec();
            shape.push(sizes[label.index()]);
            let expanded = data.view().insert_axis(Axis(axis));
            data = expanded
                .broadcast(IxDyn(&shape))
                .expect("a new axis of length 1 broadcasts to any length")
                .to_owned()
                .into();
            labels.push(label);
        }
    }
    let order: Vec<usize> = output
        .iter()
        .map(|label| labels.iter().position(|l| l == label).expect("added above"))
        .collect();
    let data = data.permuted_axes(IxDyn(&order));
    if data.is_standard_layout() {
        data.into_owned() // moves an owned array; copies a view of an operand
    } else {
        data.as_standard_layout().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array, s};

    use super::*;

    #[test]
    fn merging_axes_copies_only_when_the_strides_demand_it() {
        let a =
            Array::from_shape_fn((4, 3, 5), |(i, j, k)| (100 * i + 10 * j + k) as f32).into_dyn();
        // (4, 3, 5) row-major: merging the first two axes is a view.
        let view = a.view();
        assert!(merged(&view, (12, 5, 1)).is_view());
        // Transposed: still a view when nothing is merged …
        let transposed = a.view().permuted_axes(IxDyn(&[0, 2, 1]));
        assert!(merged(&transposed, (4, 5, 3)).is_view());
        // … and so is a slice with steps.
        let stepped = a.slice(s![.., ..;2, ..;-2]).into_dyn();
        assert!(merged(&stepped, (4, 2, 3)).is_view());
        // Merging two axes whose strides do not line up needs a copy.
        assert!(!merged(&transposed, (20, 3, 1)).is_view());
    }

    #[test]
    fn element_count_rejects_overflow() {
        assert!(element_count("", &[usize::MAX, 2]).is_err());
        assert!(element_count("", &[0, usize::MAX / 2, 3]).is_err());
        assert_eq!(element_count("", &[0, 7]).unwrap(), 0);
        assert_eq!(element_count("", &[2, 3]).unwrap(), 6);
    }
}
