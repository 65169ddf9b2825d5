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
//! // A tiny file in the published layout (10 + 2 + 3 images); the real one has 50,000
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
//! ## How the loader is built
//!
//! - `dataset`: the [`Mnist`] and [`Split`] types, a leaf the parsers return into.
//! - `gzip`: the file as a stream of decompressed bytes, so 17 MB on disk never become
//!   220 MB in memory before the parser sees them.
//! - `pickle_scanner`: scans the pickle's opcodes as they stream past and refuses, before the
//!   unpickler allocates anything for them, a pickle that nests too deep, has too many
//!   opcodes, or is larger than any MNIST file (see [Limits](#limits)).
//! - `pickle`: rebuilds NumPy's arrays from what `serde-pickle` decodes; `idx`: MNIST's
//!   original IDX files.
//! - [`download`]: the verified fetch into the cache; [`error`]: every way it can fail.
//!
//! ## Speed and memory
//!
//! The 220 MB of arrays inside the 17 MB file are never held twice: the gzip stream is
//! inflated straight into the unpickler (no decompressed copy of the file), and each
//! array's raw bytes become `f32`s back to front while the byte buffer shrinks, so the
//! 157 MB training array does not exist as bytes and as floats at once (see
//! `f32_from_le_bytes` in `pickle.rs`). The peak memory of a load is therefore about one
//! copy of the arrays, where Python's `pickle.load` holds the decompressed bytes and the
//! arrays side by side.
//!
//! ## Limits
//!
//! A `.pkl.gz` is a small file that says how much memory to fill: a few megabytes of gzip
//! can claim a gigabyte-sized bytes object, or inflate without end. The published pickle
//! is 220,080,000-odd bytes (the 219,520,000 bytes of float32 pixels, 560,000 of int64
//! labels, and a few hundred bytes of structure), so the loader refuses, while it streams
//! and before the unpickler allocates:
//!
//! - a pickle longer than [`MAX_PICKLE_BYTES`] (256 MiB, about 1.2 times the published
//!   one): checked on each length field against what is left of that budget, so a
//!   claimed 3 GiB object is refused from its five-byte header, and on the stream itself;
//! - a text argument (a line of a `GLOBAL` or `INT` opcode) longer than
//!   [`MAX_LINE_BYTES`];
//! - a value that would be built of more than [`MAX_PICKLE_BYTES`], counting each memo
//!   reference (which `serde-pickle` resolves by copying the value it refers to) at the
//!   full size of that value: the scanner keeps the unpickler's stack and memo as sizes, so
//!   a few hundred bytes that refer to a large object again and again, or nest references
//!   to references, are refused before they are copied;
//! - more than [`MAX_OPCODES`] opcodes (MNIST's layouts have 150 to 240, whatever the
//!   number of images; each opcode can push a value, so a gzip bomb of tiny opcodes would
//!   otherwise run and grow without end).
//!
//! Each of these is an [`MnistError::TooLarge`] naming the limit and what was found; a
//! pickle nested deeper than 256 containers (which could overflow the unpickler's stack)
//! is an [`MnistError::Format`]. So a claimed giant object or a bomb is refused after a
//! few bytes of it, and no refused file makes the loader hold more than
//! [`MAX_PICKLE_BYTES`] of what it read: about what loading the real file holds. IDX files
//! are read no further than [`MAX_PICKLE_BYTES`] either (MNIST's largest is 47 MB).

mod dataset;
pub mod download;
pub mod error;
mod gzip;
mod idx;
mod pickle;
mod pickle_scanner;

use std::io::Read;
use std::path::Path;

pub use dataset::{IMAGE_PIXELS, Mnist, Split};
pub use download::Download;
pub use error::{DownloadError, MnistError};

pub use pickle_scanner::{MAX_LINE_BYTES, MAX_OPCODES, MAX_PICKLE_BYTES};

use gzip::Gunzip;
use pickle_scanner::{MAX_CONTAINERS, PickleScanner, Refusal};

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
        let mut stream = PickleScanner::new(Gunzip::open(path)?);
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
        let mut stream = PickleScanner::new(reader);
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
}

/// The error for a failed unpickle: the scanner's if it stopped the stream, else the
/// unpickler's.
fn unpickle_error<R>(
    scanner: &PickleScanner<R>,
    file: &Path,
    error: serde_pickle::Error,
) -> MnistError {
    let file = file.to_owned();
    let too_large = |what: String, limit: String, found: String| MnistError::TooLarge {
        file: file.clone(),
        what,
        limit,
        found,
    };
    match scanner.refusal {
        None => MnistError::Pickle {
            file: file.clone(),
            error,
        },
        Some(Refusal::Nesting { opcode }) => MnistError::Format {
            file: file.clone(),
            what: "the pickle".to_owned(),
            expected: format!("at most {MAX_CONTAINERS} tuples, lists and calls (MNIST's has 48)"),
            found: format!(
                "more (the opcode past the limit is {opcode}): nesting that could overflow the \
                 unpickler's stack"
            ),
        },
        Some(Refusal::Opcodes) => too_large(
            "the pickle".to_owned(),
            format!("{MAX_OPCODES} opcodes (MNIST's layouts have 150 to 240)"),
            "more".to_owned(),
        ),
        Some(Refusal::Object { length, offset }) => too_large(
            format!("the object whose data starts at byte {offset} of the pickle"),
            format!(
                "the {} bytes left of the pickle's {MAX_PICKLE_BYTES}-byte limit",
                MAX_PICKLE_BYTES.saturating_sub(offset)
            ),
            format!("{length} bytes"),
        ),
        Some(Refusal::Line { offset }) => too_large(
            format!("the line of text at byte {offset} of the pickle"),
            format!("{MAX_LINE_BYTES} bytes"),
            "a longer line".to_owned(),
        ),
        Some(Refusal::Copies { bytes }) => too_large(
            "the value the pickle builds, counting each memo reference as the copy the \
             unpickler makes of it"
                .to_owned(),
            format!("{MAX_PICKLE_BYTES} bytes"),
            format!("{bytes} bytes"),
        ),
        Some(Refusal::Stream) => too_large(
            "the pickle (decompressed)".to_owned(),
            format!("{MAX_PICKLE_BYTES} bytes"),
            "more bytes".to_owned(),
        ),
    }
}
