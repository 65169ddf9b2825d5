//! The einsum stage fulfils the stage contract, and `bik,bkj->bij` is a batch of matmuls.

use std::panic::catch_unwind;

use matmul_data::conformance::{
    LAYOUTS, check_rejects_mismatched_shapes, check_stage, with_layout,
};
use matmul_data::synthetic::{self, SplitMix64};
use matmul_data::test_near;
use matmul_einsum::naive;
use ndarray::{Array3, ArrayView3, Axis, s};

#[test]
fn agrees_with_the_naive_loop_on_every_shape_and_layout() {
    check_stage(matmul_einsum::matmul, naive::matmul);
}

#[test]
fn rejects_mismatched_shapes_naming_both() {
    check_rejects_mismatched_shapes(matmul_einsum::matmul);
}

#[test]
fn stages_end_with_einsum() {
    let stages = matmul_einsum::stages();
    let names: Vec<&str> = stages.iter().map(|stage| stage.name).collect();
    assert_eq!(names.last(), Some(&"einsum"), "{names:?}");
    assert_eq!(names.first(), Some(&"naive"), "{names:?}");
    let previous: Vec<&str> = matmul_einsum::broadcast::stages()
        .iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(
        names[..names.len() - 1],
        previous[..],
        "the previous stages, in order"
    );
    let einsum = stages.last().unwrap();
    assert_eq!(einsum.defined_in.package, "matmul-einsum");
    assert_eq!(einsum.defined_in.directory, "06_einsum");
    let a = synthetic::mnist_like(5, 1);
    let b = synthetic::weights(784, 10, 2);
    test_near(
        &(einsum.matmul)(a.view(), b.view()),
        &naive::matmul(a.view(), b.view()),
    );
}

fn random3(shape: (usize, usize, usize), seed: u64) -> Array3<f32> {
    let mut rng = SplitMix64::new(seed);
    Array3::from_shape_simple_fn(shape, || (2.0 * rng.next_f64() - 1.0) as f32)
}

/// `a[b] @ b[b]` for each batch, by the naive loop.
fn per_batch_naive(a: ArrayView3<'_, f32>, b: ArrayView3<'_, f32>) -> Array3<f32> {
    let (batches, m, _) = a.dim();
    let n = b.len_of(Axis(2));
    let mut c = Array3::zeros((batches, m, n));
    for index in 0..batches {
        c.index_axis_mut(Axis(0), index).assign(&naive::matmul(
            a.index_axis(Axis(0), index),
            b.index_axis(Axis(0), index),
        ));
    }
    c
}

#[test]
fn batch_matmul_agrees_with_per_batch_naive_on_odd_shapes() {
    for (seed, &(batches, m, k, n)) in [
        (1, 1, 1, 1),
        (3, 7, 13, 5),
        (2, 33, 65, 17),
        (5, 1, 9, 1),
        (4, 0, 3, 2),
        (2, 3, 0, 2),
        (0, 2, 2, 2),
    ]
    .iter()
    .enumerate()
    {
        let a = random3((batches, m, k), 2 * seed as u64);
        let b = random3((batches, k, n), 2 * seed as u64 + 1);
        let expected = per_batch_naive(a.view(), b.view());
        test_near(&matmul_einsum::batch_matmul(a.view(), b.view()), &expected);
        let spec_result =
            matmul_einsum::einsum("bik,bkj->bij", &[a.view().into_dyn(), b.view().into_dyn()])
                .unwrap();
        test_near(&spec_result, &expected.into_dyn());
    }
}

#[test]
fn batch_matmul_on_transposed_and_sliced_views() {
    let (batches, m, k, n) = (3, 6, 11, 4);
    // Stored (k, batches, m) and seen as (batches, m, k): transposed within each batch.
    let a_storage = random3((k, batches, m), 10);
    let a = a_storage.view().permuted_axes([1, 2, 0]);
    // Every second batch, every third row, columns reversed, of a larger array.
    let b_storage = random3((2 * batches, 3 * k, n + 3), 11);
    let b = b_storage.slice(s![..;2, ..;3, 1..n + 1;-1]);
    assert_eq!((a.dim(), b.dim()), ((batches, m, k), (batches, k, n)));
    let expected = per_batch_naive(a, b);
    test_near(&matmul_einsum::batch_matmul(a, b), &expected);
    // And the 2-D stage on every layout pair of one batch.
    let a0 = a.index_axis(Axis(0), 0).to_owned();
    let b0 = b.index_axis(Axis(0), 0).to_owned();
    for a_layout in LAYOUTS {
        for b_layout in LAYOUTS {
            with_layout(&a0, a_layout, |a| {
                with_layout(&b0, b_layout, |b| {
                    test_near(&matmul_einsum::matmul(a, b), &naive::matmul(a, b));
                })
            });
        }
    }
}

#[test]
fn batch_matmul_rejects_mismatched_shapes_naming_both() {
    for (a_shape, b_shape) in [((2, 3, 4), (2, 5, 6)), ((2, 3, 4), (3, 4, 6))] {
        let a = Array3::<f32>::zeros(a_shape);
        let b = Array3::<f32>::zeros(b_shape);
        let payload = catch_unwind(|| matmul_einsum::batch_matmul(a.view(), b.view())).unwrap_err();
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            message.contains(&format!("{a_shape:?}")) && message.contains(&format!("{b_shape:?}")),
            "{message}"
        );
    }
}
