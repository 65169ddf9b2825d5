//! Fetching `mnist.pkl.gz` once into a cache, verified by its published MD5.
//!
//! The lesson's `urlretrieve(MNIST_URL, path_gz)` writes whatever arrives straight to the
//! path: a dropped connection leaves half a file that the next run trusts. Here
//! [`Download::fetch`]:
//!
//! 1. returns the cached file if its size and MD5 match the published ones (a cached file
//!    that does not match is deleted and fetched again);
//! 2. otherwise tries each URL in turn (the lesson's URL, then mirrors), streaming the
//!    body into a temporary file beside the cache path while hashing it, with a progress
//!    bar when standard error is a terminal;
//! 3. renames the temporary file onto the cache path only when the body is complete and
//!    its size and MD5 match. After any failure the temporary file is deleted, so nothing
//!    partial or unverified is ever at the cache path.
//!
//! The cache directory is [`default_cache_dir`]: `$MATMUL_DATA_DIR` if set, else the
//! user's cache directory (`$XDG_CACHE_HOME` or `~/.cache`) plus `matmul-from-foundations`.
//!
//! ```no_run
//! use matmul_data::Download;
//!
//! let path = Download::mnist().fetch()?; // ~/.cache/matmul-from-foundations/mnist.pkl.gz
//! # Ok::<(), matmul_data::DownloadError>(())
//! ```

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use md5::{Digest, Md5};

use super::error::{DownloadError, MnistError};

/// The URL the lesson downloads `mnist.pkl.gz` from.
pub const MNIST_URL: &str = "https://github.com/mnielsen/neural-networks-and-deep-learning/blob/master/data/mnist.pkl.gz?raw=true";

/// Where [`Download::mnist`] looks, in order: the lesson's URL, then copies of the same
/// file (the MD5 check makes a wrong copy harmless: it is rejected and the next is tried).
pub const MNIST_MIRRORS: &[&str] = &[
    MNIST_URL,
    "https://raw.githubusercontent.com/mnielsen/neural-networks-and-deep-learning/master/data/mnist.pkl.gz",
    "http://deeplearning.net/data/mnist/mnist.pkl.gz",
];

/// The published MD5 of `mnist.pkl.gz`.
pub const MNIST_MD5: &str = "a02cd19f81d51c426d7ca14024243ce9";

/// The published size of `mnist.pkl.gz` in bytes.
pub const MNIST_SIZE: u64 = 17_051_982;

/// The cached file's name.
pub const MNIST_FILE_NAME: &str = "mnist.pkl.gz";

/// The environment variable that overrides [`default_cache_dir`].
pub const CACHE_DIR_ENV: &str = "MATMUL_DATA_DIR";

/// The cache directory: `$MATMUL_DATA_DIR` if set; else `$XDG_CACHE_HOME/matmul-from-foundations`;
/// else `$HOME/.cache/matmul-from-foundations` (`%LOCALAPPDATA%` on Windows); else
/// `matmul-from-foundations` under the system's temporary directory.
pub fn default_cache_dir() -> PathBuf {
    cache_dir_from(|name| std::env::var_os(name))
}

/// [`default_cache_dir`] with the environment passed in, so tests need not change theirs.
fn cache_dir_from(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let var = |name| {
        env(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var(CACHE_DIR_ENV) {
        return dir;
    }
    let base = var("XDG_CACHE_HOME")
        .or_else(|| var("HOME").map(|home| home.join(".cache")))
        .or_else(|| var("LOCALAPPDATA"))
        .unwrap_or_else(std::env::temp_dir);
    base.join("matmul-from-foundations")
}

/// What to fetch, from where, how to check it and where to keep it.
///
/// Build one with [`Download::mnist`] and change what you need:
///
/// ```
/// use matmul_data::Download;
///
/// let download = Download::mnist()
///     .url("http://127.0.0.1:8000/mnist.pkl.gz") // a local mirror instead of the list
///     .dir("data"); // keep it in ./data
/// assert_eq!(download.path(), std::path::Path::new("data/mnist.pkl.gz"));
/// assert_eq!(download.md5, matmul_data::MNIST_MD5); // still checked against the real file
/// ```
#[derive(Clone, Debug)]
pub struct Download {
    /// URLs to try in order; the first that yields a verified file wins.
    pub urls: Vec<String>,
    /// The expected MD5, 32 hex digits.
    pub md5: String,
    /// The expected size in bytes, when known (checked before the MD5, and used to stop
    /// reading a body that runs long).
    pub size: Option<u64>,
    /// The directory of the cache; created if missing.
    pub dir: PathBuf,
    /// The file name in `dir`.
    pub file_name: String,
    /// The longest wait for a connection.
    pub connect_timeout: Duration,
    /// The longest wait for any one read from the network.
    pub read_timeout: Duration,
    /// Draw a progress bar on standard error (only when it is a terminal).
    pub progress: bool,
}

impl Download {
    /// The lesson's `mnist.pkl.gz`: [`MNIST_MIRRORS`], [`MNIST_MD5`] and [`MNIST_SIZE`],
    /// cached in [`default_cache_dir`]; a timeout of thirty seconds for connecting and for
    /// each read; a progress bar on a terminal.
    pub fn mnist() -> Self {
        Self {
            urls: MNIST_MIRRORS.iter().map(|url| url.to_string()).collect(),
            md5: MNIST_MD5.to_owned(),
            size: Some(MNIST_SIZE),
            dir: default_cache_dir(),
            file_name: MNIST_FILE_NAME.to_owned(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(30),
            progress: true,
        }
    }

    /// Fetches from `url` only, instead of the list of mirrors.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.urls = vec![url.into()];
        self
    }

    /// Expects the MD5 `md5` (32 hex digits), for a file other than the published one.
    /// The expected size is cleared, since it belongs to the old checksum.
    pub fn md5(mut self, md5: impl Into<String>) -> Self {
        self.md5 = md5.into();
        self.size = None;
        self
    }

    /// Keeps the file in `dir` instead of [`default_cache_dir`].
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = dir.into();
        self
    }

    /// Draws a progress bar (on a terminal) or never.
    pub fn progress(mut self, progress: bool) -> Self {
        self.progress = progress;
        self
    }

    /// The cache path: `dir/file_name`.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.file_name)
    }

    /// Returns the path of a verified copy: the cached one if it passes the checks, else
    /// a fresh download (see the module's page for the steps and guarantees).
    pub fn fetch(&self) -> Result<PathBuf, DownloadError> {
        let expected = parse_md5(&self.md5)?;
        let path = self.path();
        match fs::metadata(&path) {
            Ok(_) => match self.verify(&path, &expected) {
                Ok(()) => return Ok(path),
                // Wrong or unreadable: remove it, so a failed re-fetch leaves nothing behind.
                Err(_) => fs::remove_file(&path).map_err(|source| DownloadError::Cache {
                    path: path.clone(),
                    error: source,
                })?,
            },
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(DownloadError::Cache {
                    path,
                    error: source,
                });
            }
        }
        fs::create_dir_all(&self.dir).map_err(|source| DownloadError::Cache {
            path: self.dir.clone(),
            error: source,
        })?;

        let mut attempts = Vec::new();
        for url in &self.urls {
            match self.fetch_one(url, &expected, &path) {
                Ok(()) => return Ok(path),
                Err(error) => attempts.push(error),
            }
        }
        match attempts.len() {
            0 => Err(DownloadError::NoUrl {
                file: self.file_name.clone(),
            }),
            1 => Err(attempts.pop().expect("one attempt")),
            _ => Err(DownloadError::AllFailed {
                file: self.file_name.clone(),
                attempts,
            }),
        }
    }

    /// Checks a file on disk against the expected size and MD5.
    fn verify(&self, path: &Path, expected: &str) -> Result<(), DownloadError> {
        let what = path.display().to_string();
        let cache_error = |source| DownloadError::Cache {
            path: path.to_owned(),
            error: source,
        };
        if let Some(size) = self.size {
            let found = fs::metadata(path).map_err(cache_error)?.len();
            if found != size {
                return Err(DownloadError::Size {
                    what,
                    expected: size,
                    found,
                });
            }
        }
        let found = md5_file(path).map_err(cache_error)?;
        if found != expected {
            return Err(DownloadError::Checksum {
                what,
                expected: expected.to_owned(),
                found,
            });
        }
        Ok(())
    }

    /// Downloads `url` into a temporary file in the cache directory, verifies it and
    /// renames it to `path`. The temporary file is deleted on every error path (it is
    /// deleted when dropped).
    fn fetch_one(&self, url: &str, expected: &str, path: &Path) -> Result<(), DownloadError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(self.connect_timeout))
            .timeout_per_read(Some(self.read_timeout))
            // The file is already gzipped: ask servers not to compress it again, so the
            // bytes hashed are the bytes published.
            .accept_encoding("identity")
            .build()
            .into();
        let response = agent.get(url).call().map_err(|error| match error {
            ureq::Error::StatusCode(status) => DownloadError::Status {
                url: url.to_owned(),
                status,
            },
            other => DownloadError::Request {
                url: url.to_owned(),
                error: Box::new(other),
            },
        })?;
        let body = response.into_body();
        let length = body.content_length().or(self.size);
        let mut reader = body.into_reader();

        let cache_error = |source| DownloadError::Cache {
            path: self.dir.clone(),
            error: source,
        };
        let mut temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", self.file_name))
            .suffix(".part")
            .tempfile_in(&self.dir)
            .map_err(cache_error)?;
        let bar = self.progress_bar(length);
        let mut hasher = Md5::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut received: u64 = 0;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    bar.abandon();
                    return Err(DownloadError::Body {
                        url: url.to_owned(),
                        received,
                        error: source,
                    });
                }
            };
            hasher.update(&buf[..n]);
            temp.write_all(&buf[..n]).map_err(cache_error)?;
            received += n as u64;
            bar.set_position(received);
            // A body longer than the published file is wrong already: stop reading it.
            if let Some(size) = self.size.filter(|&size| received > size) {
                bar.abandon();
                return Err(DownloadError::Size {
                    what: url.to_owned(),
                    expected: size,
                    found: received,
                });
            }
        }
        bar.finish_and_clear();
        if let Some(size) = self.size.filter(|&size| received != size) {
            return Err(DownloadError::Size {
                what: url.to_owned(),
                expected: size,
                found: received,
            });
        }
        let found = hex(&hasher.finalize());
        if found != expected {
            return Err(DownloadError::Checksum {
                what: url.to_owned(),
                expected: expected.to_owned(),
                found,
            });
        }
        temp.as_file().sync_all().map_err(cache_error)?;
        temp.persist(path).map_err(|error| DownloadError::Cache {
            path: path.to_owned(),
            error: error.error,
        })?;
        Ok(())
    }

    /// A bar on standard error when it is a terminal and `progress` is on; else hidden.
    fn progress_bar(&self, length: Option<u64>) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        // indicatif draws nothing when standard error is not a terminal (CI, pipes).
        let bar = ProgressBar::with_draw_target(length, ProgressDrawTarget::stderr());
        let template = "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})";
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(format!("downloading {}", self.file_name));
        bar
    }
}

/// The MD5 of a file, as 32 lower-case hex digits.
///
/// ```
/// let md5 = matmul_data::mnist::download::md5_file("fixtures/idx/t10k-labels-idx1-ubyte.gz")?;
/// assert_eq!(md5.len(), 32);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn md5_file(path: impl AsRef<Path>) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(hex(&hasher.finalize()))
}

/// Checks that the file at `path` has the MD5 `expected` (32 hex digits, either case) and
/// returns it in lower-case hex: for a copy of `mnist.pkl.gz` that was not fetched by
/// [`Download`], before loading it.
///
/// ```
/// use matmul_data::{DownloadError, MnistError, verify_md5};
///
/// let path = "fixtures/idx/t10k-labels-idx1-ubyte.gz";
/// let md5 = verify_md5(path, "00000000000000000000000000000000").unwrap_err();
/// assert!(matches!(md5, MnistError::Download(DownloadError::Checksum { .. })), "{md5}");
/// assert!(md5.to_string().contains("expected MD5 00000000000000000000000000000000, found"));
/// assert!(verify_md5(path, "not hex").is_err());
/// ```
pub fn verify_md5(path: impl AsRef<Path>, expected: &str) -> Result<String, MnistError> {
    let path = path.as_ref();
    let expected = parse_md5(expected)?;
    let found = md5_file(path).map_err(|error| MnistError::Io {
        file: path.to_owned(),
        error,
    })?;
    if found != expected {
        return Err(DownloadError::Checksum {
            what: path.display().to_string(),
            expected,
            found,
        }
        .into());
    }
    Ok(found)
}

/// Lower-cases and checks a checksum given by a user.
fn parse_md5(md5: &str) -> Result<String, DownloadError> {
    if md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(md5.to_ascii_lowercase())
    } else {
        Err(DownloadError::BadChecksum {
            found: md5.to_owned(),
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<std::ffi::OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.into())
        }
    }

    #[test]
    fn the_cache_dir_follows_the_environment() {
        let home = [("HOME", "/home/a")];
        assert_eq!(
            cache_dir_from(env(&home)),
            Path::new("/home/a/.cache/matmul-from-foundations")
        );
        let xdg = [("HOME", "/home/a"), ("XDG_CACHE_HOME", "/xdg")];
        assert_eq!(
            cache_dir_from(env(&xdg)),
            Path::new("/xdg/matmul-from-foundations")
        );
        let set = [
            ("HOME", "/home/a"),
            (CACHE_DIR_ENV, "/data"),
            ("XDG_CACHE_HOME", "/xdg"),
        ];
        assert_eq!(cache_dir_from(env(&set)), Path::new("/data"));
        let empty = [("HOME", "/home/a"), (CACHE_DIR_ENV, "")];
        assert_eq!(
            cache_dir_from(env(&empty)),
            Path::new("/home/a/.cache/matmul-from-foundations")
        );
    }

    #[test]
    fn checksums_are_32_hex_digits() {
        assert_eq!(
            parse_md5("A02CD19F81D51C426D7CA14024243CE9").unwrap(),
            MNIST_MD5
        );
        assert!(parse_md5("a02cd19f").is_err());
        assert!(parse_md5("g02cd19f81d51c426d7ca14024243ce9").is_err());
    }
}
