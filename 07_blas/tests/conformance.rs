//! Every stage of this crate against the naive loop and float64, on every shape and layout.

use matmul_blas::einsum::broadcast::elementwise::dot::naive;
use matmul_data::conformance::{check_rejects_mismatched_shapes, check_stage};

#[test]
fn matrixmultiply_agrees_with_naive_on_every_shape_and_layout() {
    check_stage(matmul_blas::matrixmultiply::matmul, naive::matmul);
}

#[test]
fn the_crates_matmul_agrees_with_naive_on_every_shape_and_layout() {
    check_stage(matmul_blas::matmul, naive::matmul);
}

#[test]
fn streaming_agrees_with_naive_on_every_shape_and_layout() {
    check_stage(matmul_blas::streaming::matmul, naive::matmul);
}

#[cfg(feature = "openblas")]
#[test]
fn openblas_agrees_with_naive_on_every_shape_and_layout() {
    check_stage(matmul_blas::openblas::matmul, naive::matmul);
}

#[test]
fn every_stage_rejects_mismatched_inner_dimensions() {
    check_rejects_mismatched_shapes(matmul_blas::matmul);
    check_rejects_mismatched_shapes(matmul_blas::matrixmultiply::matmul);
    check_rejects_mismatched_shapes(matmul_blas::streaming::matmul);
    #[cfg(feature = "openblas")]
    check_rejects_mismatched_shapes(matmul_blas::openblas::matmul);
}

#[test]
fn streaming_agrees_on_the_many_rows_path_in_every_layout() {
    // The conformance shapes have fewer than 64 rows, except this one: make sure the packed,
    // threaded path sees transposed and stepped inputs too.
    use matmul_data::conformance::{LAYOUTS, check_case, with_layout};
    let a = matmul_data::synthetic::mnist_like(300, 1);
    let b = matmul_data::synthetic::weights(784, 10, 2);
    for a_layout in LAYOUTS {
        for b_layout in LAYOUTS {
            with_layout(&a, a_layout, |a| {
                with_layout(&b, b_layout, |b| {
                    let case = format!("(300, 784) @ (784, 10), a {a_layout:?}, b {b_layout:?}");
                    check_case(&case, matmul_blas::streaming::matmul, naive::matmul, a, b);
                })
            });
        }
    }
}

#[test]
fn stages_end_with_this_crates_stages() {
    let names: Vec<_> = matmul_blas::stages().iter().map(|s| s.name).collect();
    let mut expected = vec![
        "einsum",
        "gemm-kernel",
        "gemm-packed",
        "gemm-blocked",
        "gemm",
        "matrixmultiply",
    ];
    if cfg!(feature = "openblas") {
        expected.push("openblas");
    }
    expected.extend(["streaming", "blas"]);
    assert!(names.ends_with(&expected), "{names:?}");
    assert_eq!(names[0], "naive");
}

#[test]
fn the_crates_matmul_streams_narrow_or_short_products_and_uses_the_own_gemm_otherwise() {
    // Which path ran is visible in the rounding: the two sum in different orders, so their
    // results differ in the last bits on dense data, and each matches its own stage exactly.
    use matmul_data::synthetic::uniform;
    let cases = [
        ((5, 784, 10), "streaming"),
        ((300, 784, 10), "streaming"),
        ((5, 300, 100), "streaming"),
        ((100, 300, 17), "gemm"),
        ((64, 300, 64), "gemm"),
    ];
    for ((m, k, n), expected) in cases {
        let (a, b) = (uniform(m, k, 1), uniform(k, n, 2));
        let (a, b) = (a.view(), b.view());
        let c = matmul_blas::matmul(a, b);
        let streaming = matmul_blas::streaming::matmul(a, b);
        let gemm = matmul_blas::gemm::matmul(a, b);
        assert_ne!(
            streaming, gemm,
            "({m}, {k}) @ ({k}, {n}): the paths must be told apart"
        );
        let path = if c == streaming {
            "streaming"
        } else if c == gemm {
            "gemm"
        } else {
            "neither"
        };
        assert_eq!(path, expected, "({m}, {k}) @ ({k}, {n})");
    }
}
