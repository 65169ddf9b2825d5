//! The elementwise form against the naive loop and float64.

use matmul_data::conformance::{check_rejects_mismatched_shapes, check_stage};
use matmul_elementwise::naive;

#[test]
fn elementwise_agrees_with_naive_on_every_shape_and_layout() {
    check_stage(matmul_elementwise::matmul, naive::matmul);
}

#[test]
fn elementwise_rejects_mismatched_inner_dimensions() {
    check_rejects_mismatched_shapes(matmul_elementwise::matmul);
}

#[test]
fn stages_continue_step_three() {
    let names: Vec<_> = matmul_elementwise::stages()
        .iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["naive", "dot", "dot-contiguous", "elementwise"]);
}
