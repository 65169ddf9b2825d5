//! # Step 1 — the data, the test harness and the stage contract
//!
//! The lesson opens by loading MNIST and by writing two tiny test helpers, `test_eq` and
//! `test_near`, that every later step uses to prove it still computes the same thing as the
//! step before. This crate is that first notebook cell, in Rust:
//!
//! - [`harness`]: [`test_eq`] and [`test_near`] (relative + absolute tolerance, as the lesson's
//!   `torch.allclose(a, b, rtol=1e-3, atol=1e-5)`), and a float64 [`reference_matmul`] to
//!   measure how far any `f32` result is from the exact answer.
//! - [`stage`]: the contract every later crate fulfils — a [`Stage`] is a name, a one-line
//!   summary and a `matmul` function `(m, k) @ (k, n) -> (m, n)`.
//! - [`synthetic`]: deterministic data with MNIST's shape and density (about 80% zeros, the rest
//!   in `[0, 1)`) and normally distributed weights, for tests and for benchmarking without the
//!   network.
//!
//! The workload of the whole lesson is a linear layer: five images `(5, 784)` times the weights
//! `(784, 10)`, then all 50,000 training images.
//!
//! ```
//! use matmul_data::{synthetic, test_near, reference_matmul};
//!
//! let images = synthetic::mnist_like(5, 1); // (5, 784), about 80% zeros
//! let weights = synthetic::weights(784, 10, 2); // (784, 10), standard normal
//! let exact = reference_matmul(images.view(), weights.view()); // float64
//! let result = images.dot(&weights); // any f32 matmul
//! test_near(&result, &exact.mapv(|x| x as f32));
//! ```
//!
//! Next: [`matmul_naive`](../matmul_naive/index.html), the triple loop.

pub mod conformance;
pub mod harness;
pub mod stage;
pub mod synthetic;

pub use harness::{
    Mismatch, Tolerance, near, reference_matmul, relative_error, test_eq, test_near, test_near_with,
};
pub use stage::{MatmulFn, Stage, assert_inner_dims};
