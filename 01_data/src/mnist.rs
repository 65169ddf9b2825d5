//! [`Mnist`]: the lesson's data set, as ndarray arrays, from `mnist.pkl.gz` or IDX files.
//!
//! The lesson's first cell,
//!
//! ```python
//! with gzip.open(path_gz, 'rb') as f:
//!     ((x_train, y_train), (x_valid, y_valid), _) = pickle.load(f, encoding='latin-1')
//! ```
//!
//! is here [`Mnist::load`] (download into the cache, verify, unpickle), or
//! [`Mnist::from_pickle_gz`] for a file you already have:
//!
//! ```
//! use matmul_data::Mnist;
//!
//! // A tiny file in the published layout (12 + 3 images); the real one has 50,000
//! // training, 10,000 validation and 10,000 test images.
//! let mnist = Mnist::from_pickle_gz("fixtures/mnist_py2.pkl.gz")?;
//! let (x_train, y_train) = (&mnist.train.images, &mnist.train.labels);
//! assert_eq!(x_train.dim(), (10, 784)); // (n, 784) float32 pixels in [0, 1)
//! assert_eq!(y_train.len(), 10); // digits, as u8
//! let first = mnist.train.image(0); // the lesson's `x_train[0].view(28, 28)`
//! assert_eq!(first.dim(), (28, 28));
//! # Ok::<(), matmul_data::MnistError>(())
//! ```
//!
//! ## Speed and memory
//!
//! The 220 MB of arrays inside the 17 MB file are never held twice: the gzip stream is
//! inflated straight into the unpickler (no decompressed copy of the file), and each
//! array's raw bytes become `f32`s back to front while the byte buffer shrinks, so the
//! 157 MB training array does not exist as bytes and as floats at once (see
//! `f32_from_le_bytes` in `pickle.rs`). On a full-size file in the published layout
//! (50,000 + 10,000 + 10,000 real 28 × 28 images: Fashion-MNIST, written in the exact
//! layout by `fixtures/make_fixtures.py --full`), on a 2-core AMD EPYC with other builds
//! running, this loader took 0.43–0.69 s at 222 MB peak RSS, and Python's
//! `pickle.load(gzip.open(path), encoding='latin-1')` 1.0–1.6 s at 334 MB.

use std::io::Read;
use std::path::Path;

use ndarray::{Array1, Array2, ArrayView2};

use crate::download::Download;
use crate::gzip::Gunzip;
use crate::opcodes::{Guard, MAX_CONTAINERS};
use crate::{MnistError, idx, pickle};

/// Pixels in one image: 28 × 28.
pub const IMAGE_PIXELS: usize = 28 * 28;

/// The MNIST data set as the lesson uses it: three splits of images and labels.
///
/// `mnist.pkl.gz` holds 50,000 training, 10,000 validation and 10,000 test images; the
/// IDX files' 60,000 training images are split the same way (see [`Mnist::from_idx_dir`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Mnist {
    /// The training split (`x_train`, `y_train`).
    pub train: Split,
    /// The validation split (`x_valid`, `y_valid`).
    pub valid: Split,
    /// The test split (the lesson's `_`).
    pub test: Split,
}

/// One split: `n` images of 28 × 28 pixels, flattened to rows of 784, and their labels.
///
/// The loaders guarantee `images.nrows() == labels.len()` and `images.ncols() == 784`;
/// the fields are public so that a reader can use them as the lesson uses `x_train`, and
/// code that changes them must keep that.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// Shape `(n, 784)`, row-major; pixel values in `[0, 1)`: the byte value `/ 256`.
    pub images: Array2<f32>,
    /// Shape `(n,)`: the digit shown in each image, `0..=9`.
    ///
    /// `u8` because a digit needs no more; the published file stores int64, and every
    /// loader checks that each value is a digit before narrowing it.
    pub labels: Array1<u8>,
}

impl Split {
    /// The number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split has no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `i` as a 28 × 28 view (rows of pixels, top to bottom), without copying.
    ///
    /// # Panics
    ///
    /// If `i >= self.len()`, or if `images` was changed to rows that are not 784 long.
    pub fn image(&self, i: usize) -> ArrayView2<'_, f32> {
        assert!(
            i < self.images.nrows(),
            "image index {i} out of range for a split of {} images",
            self.images.nrows()
        );
        self.images
            .row(i)
            .into_shape_with_order((28, 28))
            .unwrap_or_else(|_| {
                panic!(
                    "image rows must have 784 pixels, found {}",
                    self.images.ncols()
                )
            })
    }

    /// How many images show each digit: `counts[d]` for digit `d`.
    ///
    /// ```
    /// # let mnist = matmul_data::Mnist::from_pickle_gz("fixtures/mnist_py2.pkl.gz")?;
    /// let counts = mnist.train.label_counts();
    /// assert_eq!(counts.iter().sum::<usize>(), mnist.train.len());
    /// # Ok::<(), matmul_data::MnistError>(())
    /// ```
    pub fn label_counts(&self) -> [usize; 10] {
        let mut counts = [0; 10];
        for &label in &self.labels {
            counts[usize::from(label)] += 1;
        }
        counts
    }
}

impl Mnist {
    /// Fetches `mnist.pkl.gz` into the default cache (or reuses a verified copy) and loads
    /// it: `Mnist::load_cached(&Download::mnist())`.
    ///
    /// ```no_run
    /// let mnist = matmul_data::Mnist::load()?;
    /// assert_eq!(mnist.train.images.dim(), (50_000, 784));
    /// # Ok::<(), matmul_data::MnistError>(())
    /// ```
    pub fn load() -> Result<Self, MnistError> {
        Self::load_cached(&Download::mnist())
    }

    /// Fetches the file `download` describes into its cache (or reuses a copy whose
    /// checksum matches) and loads it as a pickle (see [`Download::fetch`]).
    ///
    /// ```no_run
    /// use matmul_data::{Download, Mnist};
    ///
    /// let mnist = Mnist::load_cached(&Download::mnist().dir("data"))?; // ./data/mnist.pkl.gz
    /// # Ok::<(), matmul_data::MnistError>(())
    /// ```
    pub fn load_cached(download: &Download) -> Result<Self, MnistError> {
        let path = download.fetch()?;
        Self::from_pickle_gz(path)
    }

    /// Loads a gzipped pickle in the layout of `mnist.pkl.gz`: the published Python 2
    /// file, or the same tuple re-pickled by Python 3 (protocols 2 to 4).
    ///
    /// The file is decompressed as a stream into the unpickler; it is not checked against
    /// a checksum (that is [`Download::fetch`]'s job), but its structure, shapes, element
    /// types, byte order and byte lengths are.
    ///
    /// ```
    /// let mnist = matmul_data::Mnist::from_pickle_gz("fixtures/mnist_py3_p4.pkl.gz")?;
    /// assert_eq!(mnist.test.len(), 3);
    /// # Ok::<(), matmul_data::MnistError>(())
    /// ```
    pub fn from_pickle_gz(path: impl AsRef<Path>) -> Result<Self, MnistError> {
        let path = path.as_ref();
        let mut stream = Guard::new(Gunzip::open(path)?);
        let value =
            serde_pickle::value_from_reader(&mut stream, pickle::options()).map_err(|error| {
                let otherwise = unpickle_error(&stream, path, error);
                stream.inner.blame(path, otherwise)
            })?;
        drop(stream);
        pickle::mnist_from_value(value, path)
    }

    /// Loads an uncompressed pickle stream in the layout of `mnist.pkl.gz`; `name` is what
    /// error messages call it.
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// let mut pickle = Vec::new();
    /// let file = std::fs::File::open("fixtures/mnist_py3_p3.pkl.gz")?;
    /// flate2::read::GzDecoder::new(file).read_to_end(&mut pickle)?;
    /// let mnist = matmul_data::Mnist::from_pickle(&pickle[..], "mnist_py3_p3.pkl")?;
    /// assert_eq!(mnist.valid.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_pickle(reader: impl Read, name: impl AsRef<Path>) -> Result<Self, MnistError> {
        let name = name.as_ref();
        let mut stream = Guard::new(reader);
        let value = serde_pickle::value_from_reader(&mut stream, pickle::options())
            .map_err(|error| unpickle_error(&stream, name, error))?;
        drop(stream);
        pickle::mnist_from_value(value, name)
    }

    /// Loads MNIST's original IDX files from `dir`, into the same layout as the pickle.
    ///
    /// `dir` holds `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
    /// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each gzipped (`.gz`) or not.
    /// Like `mnist.pkl.gz`, the first five sixths of the training images become `train`
    /// (50,000 of 60,000) and the last sixth `valid` (10,000); pixels are `value / 256`.
    /// Fashion-MNIST comes in the same format (Debian: `dataset-fashion-mnist`, in
    /// `/usr/share/datasets/fashion-mnist/`).
    ///
    /// ```
    /// let from_idx = matmul_data::Mnist::from_idx_dir("fixtures/idx")?;
    /// let from_pickle = matmul_data::Mnist::from_pickle_gz("fixtures/mnist_py2.pkl.gz")?;
    /// assert_eq!(from_idx, from_pickle); // the fixtures hold the same data in both formats
    /// # Ok::<(), matmul_data::MnistError>(())
    /// ```
    pub fn from_idx_dir(dir: impl AsRef<Path>) -> Result<Self, MnistError> {
        idx::read_dir(dir.as_ref())
    }

    /// The three splits with their names, in the order the pickle stores them.
    pub fn splits(&self) -> [(&'static str, &Split); 3] {
        [
            ("train", &self.train),
            ("valid", &self.valid),
            ("test", &self.test),
        ]
    }
}

/// The error for a failed unpickle: the guard's if it stopped the stream, else the
/// unpickler's.
fn unpickle_error<R>(guard: &Guard<R>, file: &Path, error: serde_pickle::Error) -> MnistError {
    if guard.tripped {
        MnistError::Format {
            file: file.to_owned(),
            what: "the pickle".to_owned(),
            expected: format!("at most {MAX_CONTAINERS} tuples, lists and calls (MNIST's has 48)"),
            found: "more: nesting that could overflow the unpickler's stack".to_owned(),
        }
    } else {
        MnistError::Pickle {
            file: file.to_owned(),
            error,
        }
    }
}
