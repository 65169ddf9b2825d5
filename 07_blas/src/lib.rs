//! # Step 7 — BLAS
//!
//! *To come (issue: 07_blas and cargo xtask bench):* hand the work to a real GEMM —
//! packing, cache blocking, register micro-kernels, SIMD and threads.
//!
//! Previous: [`matmul_einsum`](../matmul_einsum/index.html).

pub use matmul_einsum as einsum;
pub use matmul_data::Stage;

/// The stages defined so far, in reading order. This crate adds none yet.
pub fn stages() -> Vec<Stage> {
    einsum::stages()
}
