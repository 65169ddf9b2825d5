//! # Step 4 — elementwise operations
//!
//! *To come:* row times column and sum, with ndarray's elementwise arithmetic.
//!
//! Previous: [`matmul_dot`](../matmul_dot/index.html).

pub use matmul_dot as dot;
pub use matmul_data::Stage;

/// The stages defined so far, in reading order. This crate adds none yet.
pub fn stages() -> Vec<Stage> {
    dot::stages()
}
