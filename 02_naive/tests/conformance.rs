//! The triple loop against float64 on every shape and layout of the conformance suite.

use matmul_data::conformance::{check_rejects_mismatched_shapes, check_stage};

#[test]
fn naive_agrees_with_float64_on_every_shape_and_layout() {
    // The naive loop is its own reference here; the float64 check is what binds it.
    check_stage(matmul_naive::matmul, matmul_naive::matmul);
}

#[test]
fn naive_rejects_mismatched_inner_dimensions() {
    check_rejects_mismatched_shapes(matmul_naive::matmul);
}

#[test]
fn stages_lists_the_triple_loop() {
    let names: Vec<_> = matmul_naive::stages().iter().map(|s| s.name).collect();
    assert_eq!(names, ["naive"]);
}
