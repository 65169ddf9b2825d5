//! Both dot-product forms against the naive loop and float64.

use matmul_data::conformance::{check_rejects_mismatched_shapes, check_stage};
use matmul_dot::naive;

#[test]
fn dot_agrees_with_naive_on_every_shape_and_layout() {
    check_stage(matmul_dot::matmul, naive::matmul);
}

#[test]
fn dot_contiguous_agrees_with_naive_on_every_shape_and_layout() {
    check_stage(matmul_dot::matmul_contiguous, naive::matmul);
}

#[test]
fn both_reject_mismatched_inner_dimensions() {
    check_rejects_mismatched_shapes(matmul_dot::matmul);
    check_rejects_mismatched_shapes(matmul_dot::matmul_contiguous);
}

#[test]
fn stages_continue_step_two() {
    let names: Vec<_> = matmul_dot::stages().iter().map(|s| s.name).collect();
    assert_eq!(names, ["naive", "dot", "dot-contiguous"]);
}
