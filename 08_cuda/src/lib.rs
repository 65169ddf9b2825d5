//! # Step 8 — CUDA
//!
//! *To come (issue: 08_cuda):* the lesson's CUDA kernel — a CPU grid launcher, then real
//! kernels with cust behind the `cuda` feature.
//!
//! Previous: [`matmul_blas`](../matmul_blas/index.html).

pub use matmul_blas as blas;
pub use matmul_data::Stage;

/// The stages defined so far, in reading order. This crate adds none yet.
pub fn stages() -> Vec<Stage> {
    blas::stages()
}
