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
//! - [`mnist`]: the real data. [`Mnist`] holds the lesson's `x_train, y_train, x_valid,
//!   y_valid` (and the test split) as ndarray arrays, loaded from `mnist.pkl.gz` exactly as
//!   published ([`Mnist::from_pickle_gz`]) or from MNIST's original IDX files
//!   ([`Mnist::from_idx_dir`]). [`Download`] fetches the file once into a cache
//!   ([`default_cache_dir`]), checks it against its published MD5, and never leaves a
//!   partial file behind; [`Mnist::load`] does both. Every bad file or failed download is an
//!   [`MnistError`] that names the file, what was expected and what was found.
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
//! The lesson's first cell, `pickle.load(gzip.open(path), encoding='latin-1')`, on a tiny
//! file in the published layout (the real one is fetched by `Mnist::load()`, or by
//! `cargo xtask data`):
//!
//! ```
//! use matmul_data::Mnist;
//!
//! let mnist = Mnist::from_pickle_gz("fixtures/mnist_py2.pkl.gz")?;
//! let (x_train, y_train) = (&mnist.train.images, &mnist.train.labels);
//! assert_eq!(x_train.ncols(), 784);
//! assert_eq!(x_train.nrows(), y_train.len());
//! assert!(x_train.iter().all(|&pixel| (0.0..1.0).contains(&pixel)));
//! # Ok::<(), matmul_data::MnistError>(())
//! ```
//!
//! Next: [`matmul_naive`](../matmul_naive/index.html), the triple loop.

pub mod conformance;
pub mod download;
pub mod error;
mod gzip;
pub mod harness;
mod idx;
pub mod mnist;
mod opcodes;
mod pickle;
pub mod stage;
pub mod synthetic;

pub use download::{
    CACHE_DIR_ENV, Download, MNIST_FILE_NAME, MNIST_MD5, MNIST_MIRRORS, MNIST_SIZE, MNIST_URL,
    default_cache_dir,
};
pub use error::{DownloadError, MnistError};
pub use mnist::{IMAGE_PIXELS, Mnist, Split};

pub use harness::{
    Mismatch, Tolerance, near, reference_matmul, relative_error, test_eq, test_near, test_near_with,
};
pub use stage::{MatmulFn, Stage, assert_inner_dims};
