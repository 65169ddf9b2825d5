//! The `grid-cpu` stage meets the contract every stage meets.

use matmul_cuda::naive;
use matmul_data::conformance::{check_rejects_mismatched_shapes, check_stage};

#[test]
fn grid_cpu_matches_the_naive_loop_and_float64() {
    check_stage(matmul_cuda::matmul, naive::matmul);
}

#[test]
fn grid_cpu_rejects_mismatched_shapes() {
    check_rejects_mismatched_shapes(matmul_cuda::matmul);
}
