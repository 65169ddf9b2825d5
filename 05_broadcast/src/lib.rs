//! # Step 5 — broadcasting
//!
//! *To come:* one row of `a` broadcast against all of `b`, summed down axis 0.
//!
//! Previous: [`matmul_elementwise`](../matmul_elementwise/index.html).

pub use matmul_elementwise as elementwise;
pub use matmul_data::Stage;

/// The stages defined so far, in reading order. This crate adds none yet.
pub fn stages() -> Vec<Stage> {
    elementwise::stages()
}
