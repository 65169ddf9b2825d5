//! Every stage of this crate against the naive loop and float64, on every shape and layout.

use matmul_blas::naive;
use matmul_data::conformance::{check_case, check_rejects_mismatched_shapes, check_stage};

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
    // A row-major `b` of 10 columns takes the many-rows path on every kernel once the rows
    // are shared among threads, past 1024 rows (on some kernels from fewer rows; the AVX-512
    // kernel fills every lane on 10 columns without it): more rows than any conformance shape
    // has. Here 1030 rows of the lesson's `k`, in every layout of both operands.
    use matmul_data::conformance::{LAYOUTS, with_layout};
    let a = matmul_data::synthetic::mnist_like(1030, 1);
    let b = matmul_data::synthetic::weights(784, 10, 2);
    for a_layout in LAYOUTS {
        for b_layout in LAYOUTS {
            with_layout(&a, a_layout, |a| {
                with_layout(&b, b_layout, |b| {
                    let case = format!("(1030, 784) @ (784, 10), a {a_layout:?}, b {b_layout:?}");
                    check_case(&case, matmul_blas::streaming::matmul, naive::matmul, a, b);
                })
            });
        }
    }
}

#[test]
fn one_row_agrees_in_every_layout() {
    // A single row of `a` and a `b` of 1000 columns: the one-row path where the kernel has
    // one and `b`'s columns are not contiguous, shared among the threads (`k · n` is over a
    // quarter of a million); the many-rows path or the GEMM otherwise. Both `matmul`s, in
    // every layout of both operands.
    use matmul_data::conformance::{LAYOUTS, with_layout};
    let a = matmul_data::synthetic::mnist_like(1, 1);
    let b = matmul_data::synthetic::weights(784, 1000, 2);
    for a_layout in LAYOUTS {
        for b_layout in LAYOUTS {
            with_layout(&a, a_layout, |a| {
                with_layout(&b, b_layout, |b| {
                    let case = format!("(1, 784) @ (784, 1000), a {a_layout:?}, b {b_layout:?}");
                    check_case(&case, matmul_blas::streaming::matmul, naive::matmul, a, b);
                    check_case(&case, matmul_blas::matmul, naive::matmul, a, b);
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
        "gemm-crate",
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
    use matmul_blas::{Algorithm, StreamingRule};
    let rule = StreamingRule::detected();
    let (wide, tall) = (rule.max_columns + 1, rule.max_rows + 1);
    let cases = [
        ((50_000, 784, 10), Algorithm::Streaming),
        ((5, 784, 10), Algorithm::Streaming),
        (
            (rule.max_rows, 300, rule.short_max_columns),
            Algorithm::Streaming,
        ),
        // A short `a` with a `b` one column wider than the short bound: the GEMM, whose
        // threads share the columns.
        (
            (rule.max_rows, 300, rule.short_max_columns + 1),
            Algorithm::Gemm,
        ),
        // One image through that layer: a read of `b`, streamed where the kernel has a one-row
        // path.
        (
            (1, 784, 1000),
            match rule.one_row {
                true => Algorithm::Streaming,
                false => Algorithm::Gemm,
            },
        ),
        ((1000, 300, rule.max_columns), Algorithm::Streaming),
        // A few rows with a `b` beyond L3 (no `b` is allocated here: 8192² floats, 256 MiB,
        // larger than any L3 this runs on): streamed by whole rows where the kernel can.
        (
            (rule.max_rows, 8192, 8192),
            match rule.one_row {
                true => Algorithm::Streaming,
                false => Algorithm::Gemm,
            },
        ),
        ((tall, 8192, 8192), Algorithm::Gemm),
        ((tall, 300, wide), Algorithm::Gemm),
        ((64, 64, 64), Algorithm::Gemm),
        ((2048, 2048, 2048), Algorithm::Gemm),
    ];
    for ((m, k, n), expected) in cases {
        assert_eq!(
            Algorithm::for_shape(m, k, n),
            expected,
            "({m}, {k}) @ ({k}, {n})"
        );
    }
    // And `matmul` is right on both sides of each boundary.
    use matmul_data::synthetic::uniform;
    let short_wide = rule.short_max_columns + 1;
    for (m, n) in [
        (tall - 1, wide),
        (tall, wide),
        (tall, wide - 1),
        (tall - 1, short_wide - 1),
        (tall - 1, short_wide),
        (1, short_wide),
        (2, short_wide),
    ] {
        let (a, b) = (uniform(m, 300, 1), uniform(300, n, 2));
        let case = format!("({m}, 300) @ (300, {n})");
        check_case(
            &case,
            matmul_blas::matmul,
            naive::matmul,
            a.view(),
            b.view(),
        );
    }
}

#[test]
fn blas_says_which_stage_it_runs_and_that_stage_exists() {
    let stages = matmul_blas::stages();
    let blas = stages
        .iter()
        .find(|s| s.name == "blas")
        .expect("the blas stage");
    let runs_as = blas
        .runs_as
        .expect("blas only chooses between other stages");
    for (m, k, n) in [
        (50_000, 784, 10),
        (5, 784, 10),
        (1024, 1024, 1024),
        (64, 64, 64),
    ] {
        let name = runs_as(m, k, n);
        assert_eq!(
            name,
            matmul_blas::Algorithm::for_shape(m, k, n).stage_name()
        );
        assert!(stages.iter().any(|s| s.name == name), "no stage {name}");
    }
    assert!(
        stages.iter().filter(|s| s.runs_as.is_some()).count() == 1,
        "only blas dispatches"
    );
}

#[test]
fn streaming_agrees_on_ten_columns_at_every_depth_and_height() {
    // On AVX-512 the few-rows path has a path of its own for a `b` of 10 columns (the
    // lesson's classes): whole groups of 8 steps of `k`, then the rest one step at a time.
    // Depths on either side of one and two groups, and every height up to a call's 8 rows
    // (one or two rows keep more accumulators than three or more) and one past. (On another
    // instruction set this checks that set's kernel; the streaming module's own tests call
    // the AVX-512 kernel directly.)
    for m in 1..=9 {
        for k in [1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 33, 784, 785] {
            // Dense data whose sums cancel, against float64 only: next to a sum that cancels
            // to nearly zero, any other order of the same additions differs from the naive
            // loop's by more than an elementwise tolerance allows, while a missing or doubled
            // term moves the normwise error by orders of magnitude more than the bound.
            let a = matmul_data::synthetic::uniform(m, k, (m * 1000 + k) as u64);
            let b = matmul_data::synthetic::weights(k, 10, k as u64);
            let exact = matmul_data::reference_matmul(a.view(), b.view());
            // And the same `b` stored as a linear layer's `(outputs, inputs)` weights, passed
            // transposed: the many-rows path at every height (but `k = 1`, one row of `b`).
            let weights = b.t().as_standard_layout().into_owned();
            for (layout, b) in [("row-major", b.view()), ("transposed", weights.t())] {
                let actual = matmul_blas::streaming::matmul(a.view(), b);
                let error = matmul_data::relative_error(&actual, &exact);
                assert!(
                    error <= matmul_data::conformance::MAX_RELATIVE_ERROR,
                    "({m}, {k}) @ ({k}, 10) {layout}: relative error {error:e} against float64"
                );
            }
        }
    }
}

#[test]
fn streaming_propagates_nan_and_infinity_on_ten_columns() {
    // A NaN in a row of `a` and an infinity in a row of `b`, in a whole group of 8 steps and
    // in the steps after the last group: the NaN's row is all NaN, the infinity's column is
    // infinite in the rows that meet it with a positive factor, and nothing else changes.
    for (step, k) in [(3, 24), (21, 24), (26, 29)] {
        let mut a = ndarray::Array2::from_elem((5, k), 1.0f32);
        let mut b = ndarray::Array2::from_elem((k, 10), 0.5f32);
        a[[1, step]] = f32::NAN;
        b[[step, 7]] = f32::INFINITY;
        let c = matmul_blas::streaming::matmul(a.view(), b.view());
        let case = format!("step {step} of k = {k}: {c}");
        for i in 0..5 {
            for j in 0..10 {
                let x = c[[i, j]];
                if i == 1 {
                    assert!(x.is_nan(), "{case}");
                } else if j == 7 {
                    assert_eq!(x, f32::INFINITY, "{case}");
                } else {
                    assert_eq!(x, 0.5 * k as f32, "{case}");
                }
            }
        }
    }
}
