//! Every stage is two segments away from the last crate: `matmul_cuda::<step>::<item>`,
//! whatever the chain of re-exports behind it. This file is the check: it does not compile if
//! a short path goes missing, and each path must lead to the stage it names.

use matmul_cuda::data::{synthetic, test_near};

#[test]
fn every_step_is_reachable_in_two_segments() {
    let a = synthetic::mnist_like(3, 7);
    let b = synthetic::weights(784, 10, 8);
    let expected = matmul_cuda::naive::matmul(a.view(), b.view());
    let short_paths: [(&str, matmul_cuda::data::MatmulFn); 8] = [
        ("dot", matmul_cuda::dot::matmul),
        ("dot-contiguous", matmul_cuda::dot::matmul_contiguous),
        ("elementwise", matmul_cuda::elementwise::matmul),
        ("broadcast", matmul_cuda::broadcast::matmul),
        ("scaled-add", matmul_cuda::broadcast::matmul_scaled_add),
        ("einsum", matmul_cuda::einsum::matmul),
        ("streaming", matmul_cuda::blas::streaming::matmul),
        ("grid-cpu", matmul_cuda::matmul),
    ];
    let stages = matmul_cuda::stages();
    for (name, matmul) in short_paths {
        assert!(
            stages.iter().any(|stage| stage.name == name),
            "no stage named {name}"
        );
        test_near(&matmul(a.view(), b.view()), &expected);
    }
}
