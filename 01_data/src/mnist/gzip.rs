//! Opening a gzip file as a stream, so that 17 MB on disk never become 220 MB in memory
//! before the parser sees them.
//!
//! The decompressor reports corrupt or truncated data as an I/O error in the middle of
//! whatever is reading it (the unpickler, the IDX reader). [`Gunzip`] remembers such an
//! error, so the caller can tell "the gzip stream is broken" from "the data inside it is".

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use super::error::MnistError;

/// A reader that decompresses a gzip file and remembers the first error it met.
pub(crate) struct Gunzip {
    decoder: MultiGzDecoder<BufReader<File>>,
    /// The first error the decompressor (or the file under it) returned, kept as its kind
    /// and message because `io::Error` is not `Clone`.
    pub(crate) error: Option<(io::ErrorKind, String)>,
}

impl Gunzip {
    /// Opens `path`, checks gzip's magic bytes and returns a streaming decompressor.
    pub(crate) fn open(path: &Path) -> Result<Self, MnistError> {
        let io_error = |source| MnistError::Io {
            file: path.to_owned(),
            error: source,
        };
        let mut file = File::open(path).map_err(io_error)?;
        let mut magic = [0u8; 2];
        let found = read_up_to(&mut file, &mut magic).map_err(io_error)?;
        if magic[..found] != [0x1f, 0x8b] {
            return Err(MnistError::NotGzip {
                file: path.to_owned(),
                found: hex_prefix(&magic[..found]),
            });
        }
        // Reopen rather than chain the two bytes back in: a plain `File` keeps the reader
        // type simple, and opening a file twice costs nothing next to decompressing it.
        let file = File::open(path).map_err(io_error)?;
        // 256 KiB reads: big enough that syscalls do not show in the profile.
        let decoder = MultiGzDecoder::new(BufReader::with_capacity(1 << 18, file));
        Ok(Self {
            decoder,
            error: None,
        })
    }

    /// The error to report when a reader of this stream failed: a gzip error if the
    /// decompressor failed first, `otherwise` if the data itself was wrong.
    pub(crate) fn blame(&self, path: &Path, otherwise: MnistError) -> MnistError {
        match &self.error {
            Some((kind, message)) => MnistError::Gzip {
                file: path.to_owned(),
                error: io::Error::new(*kind, message.clone()),
            },
            None => otherwise,
        }
    }
}

impl Read for Gunzip {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.decoder.read(buf).inspect_err(|error| {
            if self.error.is_none() {
                self.error = Some((error.kind(), error.to_string()));
            }
        })
    }
}

/// Reads until `buf` is full or the file ends; returns how many bytes were read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// "3c 21" for the start of an HTML page, or "an empty file".
pub(crate) fn hex_prefix(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "an empty file".to_owned();
    }
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
