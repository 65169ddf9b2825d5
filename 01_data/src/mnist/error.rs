//! What can go wrong when fetching or reading MNIST: typed errors that name the file, what
//! was expected and what was found.
//!
//! Each message is complete on its own (it includes the underlying error's text), so
//! the variants expose no separate `source()`: printing the chain would repeat it.
//!
//! Every failure a user can cause (a wrong path, a corrupt download, a file in another
//! layout) is one of these values, never a panic.

use std::io;
use std::path::PathBuf;

/// An error from fetching or reading MNIST.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MnistError {
    /// A file could not be opened or read.
    #[error("cannot read {file}: {error}")]
    Io {
        /// The file.
        file: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The file does not start with gzip's magic bytes `1f 8b`.
    #[error("{file} is not a gzip file: expected the magic bytes 1f 8b, found {found}")]
    NotGzip {
        /// The file.
        file: PathBuf,
        /// The first bytes of the file, in hex (or "an empty file").
        found: String,
    },
    /// The gzip stream is corrupt or ends early.
    #[error("{file}: the gzip stream is corrupt or truncated: {error}")]
    Gzip {
        /// The file.
        file: PathBuf,
        /// What the decompressor reported.
        error: io::Error,
    },
    /// The decompressed bytes are not a well-formed pickle.
    #[error("{file}: not a readable pickle: {error}")]
    Pickle {
        /// The file.
        file: PathBuf,
        /// What the unpickler reported.
        error: serde_pickle::Error,
    },
    /// The pickle or IDX file is well formed but does not hold what MNIST holds.
    #[error("{file}: {what}: expected {expected}, found {found}")]
    Format {
        /// The file.
        file: PathBuf,
        /// Which part of the file, e.g. "train images" or "the top-level object".
        what: String,
        /// What the loader expected there.
        expected: String,
        /// What it found.
        found: String,
    },
    /// An array's elements are not of the size its type needs (checked against the byte
    /// length, because a pickle does not always say the element type where expected).
    #[error(
        "{file}: {what}: expected {expected_size}-byte {expected_type} elements, found {found_size} bytes per element"
    )]
    ElementSize {
        /// The file.
        file: PathBuf,
        /// Which array.
        what: String,
        /// The element type the loader reads, e.g. "float32".
        expected_type: String,
        /// Its size in bytes.
        expected_size: usize,
        /// The size the byte length implies (byte length / number of elements).
        found_size: usize,
    },
    /// An array's raw data is not as long as its shape says.
    #[error("{file}: {what}: shape {shape:?} needs {expected} bytes of data, found {found} bytes")]
    ByteLength {
        /// The file.
        file: PathBuf,
        /// Which array.
        what: String,
        /// The array's shape.
        shape: Vec<usize>,
        /// The byte length the shape and element size imply.
        expected: usize,
        /// The byte length in the file.
        found: usize,
    },
    /// The file is larger than any MNIST file, or claims to be: refused while it streams,
    /// before the memory it asks for is allocated (see [`MAX_PICKLE_BYTES`]).
    ///
    /// [`MAX_PICKLE_BYTES`]: crate::mnist::MAX_PICKLE_BYTES
    #[error("{file}: {what}: expected at most {limit}, found {found}")]
    TooLarge {
        /// The file.
        file: PathBuf,
        /// What is too large, e.g. "the pickle (decompressed)" or "an object at byte 5".
        what: String,
        /// The limit, with its unit, e.g. "268435456 bytes".
        limit: String,
        /// What the file has or claims, e.g. "3221225472 bytes".
        found: String,
    },
    /// A label is not a digit.
    #[error("{file}: {split} label {index} is {value}, expected a digit 0..=9")]
    Label {
        /// The file.
        file: PathBuf,
        /// The split, "train", "valid" or "test".
        split: &'static str,
        /// The label's index in its split.
        index: usize,
        /// The label found.
        value: i64,
    },
    /// Fetching the file failed.
    #[error(transparent)]
    Download(#[from] DownloadError),
}

/// An error from fetching a file into the cache.
///
/// After any of these, nothing is left at the cache path: a download is written to a
/// temporary file next to it and renamed only once complete and verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// The request failed before any body arrived (DNS, connection, TLS, timeout).
    #[error("cannot fetch {url}: {error}")]
    Request {
        /// The URL.
        url: String,
        /// What the HTTP client reported.
        error: Box<ureq::Error>,
    },
    /// The server answered with an error status.
    #[error("cannot fetch {url}: the server answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status code, e.g. 404.
        status: u16,
    },
    /// The body stopped before it was complete (connection dropped, read timeout).
    #[error("cannot fetch {url}: the download broke off after {received} bytes: {error}")]
    Body {
        /// The URL.
        url: String,
        /// Bytes received before the failure.
        received: u64,
        /// Why.
        error: io::Error,
    },
    /// The file is not as long as the published one.
    #[error("{what}: expected {expected} bytes, found {found} bytes")]
    Size {
        /// The URL or file that was checked.
        what: String,
        /// The published size.
        expected: u64,
        /// The size received.
        found: u64,
    },
    /// The file's MD5 is not the published one.
    #[error("{what}: expected MD5 {expected}, found {found}")]
    Checksum {
        /// The URL or file that was checked.
        what: String,
        /// The published checksum, lower-case hex.
        expected: String,
        /// The checksum of what was received, lower-case hex.
        found: String,
    },
    /// The expected checksum given is not 32 hex digits.
    #[error("invalid MD5 checksum {found:?}: expected 32 hexadecimal digits")]
    BadChecksum {
        /// The text given.
        found: String,
    },
    /// The cache directory or a file in it could not be written.
    #[error("cache {path}: {error}")]
    Cache {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// Every URL failed; each attempt's error, in order.
    #[error("cannot fetch {file} from any of {} URLs: {}", attempts.len(), join(attempts))]
    AllFailed {
        /// The file name that was wanted.
        file: String,
        /// Why each URL failed.
        attempts: Vec<DownloadError>,
    },
    /// No URL was given.
    #[error("no URL to fetch {file} from")]
    NoUrl {
        /// The file name that was wanted.
        file: String,
    },
}

fn join(attempts: &[DownloadError]) -> String {
    let messages: Vec<String> = attempts.iter().map(ToString::to_string).collect();
    messages.join("; ")
}
