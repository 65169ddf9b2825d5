//! Both broadcasting forms against the naive loop and float64.

use matmul_broadcast::naive;
use matmul_data::conformance::{check_rejects_mismatched_shapes, check_stage};

#[test]
fn broadcast_agrees_with_naive_on_every_shape_and_layout() {
    check_stage(matmul_broadcast::matmul, naive::matmul);
}

#[test]
fn scaled_add_agrees_with_naive_on_every_shape_and_layout() {
    check_stage(matmul_broadcast::matmul_scaled_add, naive::matmul);
}

#[test]
fn both_reject_mismatched_inner_dimensions() {
    check_rejects_mismatched_shapes(matmul_broadcast::matmul);
    check_rejects_mismatched_shapes(matmul_broadcast::matmul_scaled_add);
}

#[test]
fn stages_continue_step_four() {
    let names: Vec<_> = matmul_broadcast::stages().iter().map(|s| s.name).collect();
    let mut expected: Vec<_> = matmul_broadcast::elementwise::stages()
        .iter()
        .map(|s| s.name)
        .collect();
    expected.extend(["broadcast", "scaled-add"]);
    assert_eq!(names, expected);
}
