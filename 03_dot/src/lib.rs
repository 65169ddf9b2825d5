//! # Step 3 — the dot product
//!
//! *To come:* the innermost loop becomes `dot(row of a, column of b)`.
//!
//! Previous: [`matmul_naive`](../matmul_naive/index.html).

pub use matmul_naive as naive;
pub use matmul_data::Stage;

/// The stages defined so far, in reading order. This crate adds none yet.
pub fn stages() -> Vec<Stage> {
    naive::stages()
}
