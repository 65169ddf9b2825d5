//! # Step 6 — Einstein summation
//!
//! *To come:* `einsum` with NumPy's semantics, lowered onto matrix multiplication.
//!
//! Previous: [`matmul_broadcast`](../matmul_broadcast/index.html).

pub use matmul_broadcast as broadcast;
pub use matmul_data::Stage;

/// The stages defined so far, in reading order. This crate adds none yet.
pub fn stages() -> Vec<Stage> {
    broadcast::stages()
}
