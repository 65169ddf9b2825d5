//! # Step 1 — the data, the test harness and the stage contract
//!
//! The lesson opens with three cells: load MNIST, look at a digit, and write two tiny test
//! helpers, `test_eq` and `test_near`, that every later step uses to prove it still computes
//! the same thing as the step before. This crate is those cells, in Rust.
//!
//! **Load.** The lesson's `pickle.load(gzip.open(path), encoding='latin-1')` is
//! [`Mnist::load`] (fetch `mnist.pkl.gz` once into a cache, check its MD5, unpickle), or
//! [`Mnist::from_pickle_gz`] for a file you already have. Here, a tiny file in the published
//! layout:
//!
//! ```
//! use matmul_data::Mnist;
//!
//! let mnist = Mnist::from_pickle_gz("fixtures/mnist_py2.pkl.gz")?;
//! let (x_train, y_train) = (&mnist.train.images, &mnist.train.labels);
//! assert_eq!(x_train.ncols(), 784); // (n, 784) float32 pixels
//! assert_eq!(x_train.nrows(), y_train.len());
//! assert!(x_train.iter().all(|&pixel| (0.0..1.0).contains(&pixel)));
//! # Ok::<(), matmul_data::MnistError>(())
//! ```
//!
//! **Look at a digit.** The lesson's `plt.imshow(x_train[0].view(28, 28))` is
//! [`Split::image`], a 28 × 28 view without a copy; `cargo xtask data --show 0` draws it
//! in the terminal, and `--png digit.png` writes it as a picture.
//!
//! ```
//! # let mnist = matmul_data::Mnist::from_pickle_gz("fixtures/mnist_py2.pkl.gz")?;
//! let digit = mnist.train.image(0);
//! assert_eq!(digit.dim(), (28, 28)); // rows of pixels, top to bottom
//! assert!(mnist.train.labels[0] <= 9);
//! # Ok::<(), matmul_data::MnistError>(())
//! ```
//!
//! **Test.** [`test_eq`] and [`test_near`] (relative + absolute tolerance, as the lesson's
//! `torch.allclose(a, b, rtol=1e-3, atol=1e-5)`); [`reference_matmul`] computes in float64,
//! to measure how far any `f32` result is from the exact answer. The workload of the whole
//! lesson is a linear layer: five images `(5, 784)` times the weights `(784, 10)`, then all
//! 50,000 training images.
//!
//! ```
//! use matmul_data::{reference_matmul, synthetic, test_eq, test_near};
//!
//! let images = synthetic::mnist_like(5, 1); // (5, 784), about 80% zeros
//! let weights = synthetic::weights(784, 10, 2); // (784, 10), standard normal
//! let exact = reference_matmul(images.view(), weights.view()); // float64
//! let result = images.dot(&weights); // any f32 matmul
//! test_eq(&result.dim(), &(5, 10));
//! test_near(&result, &exact.mapv(|x| x as f32));
//! ```
//!
//! ## The modules
//!
//! This step's modules, which every later crate uses:
//!
//! - [`harness`]: [`test_eq`], [`test_near`], [`reference_matmul`], [`relative_error`].
//! - [`stage`]: the contract every later crate fulfils — a [`Stage`] is a name, a one-line
//!   summary and a `matmul` function `(m, k) @ (k, n) -> (m, n)`, with where it runs
//!   ([`Processor`]) and the crate that defines it ([`this_crate!`]).
//! - [`synthetic`]: deterministic data with MNIST's shape and density (about 80% zeros, the
//!   rest in `[0, 1)`) and normally distributed weights, for tests and for benchmarking
//!   without the network.
//! - [`conformance`]: the checks every stage passes (shapes, strided and transposed inputs,
//!   error against the float64 reference).
//!
//! And the loader, in its own tree, [`mnist`] (the crate's default feature `mnist`; the stage
//! crates, which need only the harness, build without it): the [`Mnist`] and [`Split`] types,
//! the unpickler that rebuilds NumPy's arrays, MNIST's original IDX files
//! ([`Mnist::from_idx_dir`]), the verified [`Download`] into [`default_cache_dir`] (or
//! [`verify_md5`] for a copy you have), and the pickle scanner that refuses a hostile file
//! before it can exhaust memory. Every bad file or failed
//! download is an [`MnistError`] that names the file, what was expected and what was found.
//!
//! Next: [`matmul_naive`](../matmul_naive/index.html), the triple loop.

// Built without its loader (as the stage crates build it), this page's links to the loader
// have nothing to point to, and the page says so.
#![cfg_attr(not(feature = "mnist"), allow(rustdoc::broken_intra_doc_links))]
#![cfg_attr(
    not(feature = "mnist"),
    doc = "\n\n**This build has no loader** (it was built without the default feature `mnist`, \
           as a stage crate builds it), so the names of the loader above are not links: \
           `cargo xtask doc` builds the whole tutorial, loader included."
)]

pub mod conformance;
pub mod harness;
pub mod stage;
pub mod synthetic;

#[cfg(feature = "mnist")]
pub mod mnist;

pub use harness::{
    Mismatch, Tolerance, near, reference_matmul, relative_error, test_eq, test_near, test_near_with,
};
pub use stage::{Crate, MatmulFn, Processor, Stage, assert_inner_dims};

#[cfg(feature = "mnist")]
pub use mnist::download::{
    CACHE_DIR_ENV, MNIST_FILE_NAME, MNIST_MD5, MNIST_MIRRORS, MNIST_SIZE, MNIST_URL,
    default_cache_dir, verify_md5,
};
#[cfg(feature = "mnist")]
pub use mnist::{Download, DownloadError, IMAGE_PIXELS, Mnist, MnistError, Split};
