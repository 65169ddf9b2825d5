//! MNIST's original IDX files (also Fashion-MNIST's, and what torchvision downloads).
//!
//! An IDX file is a 4-byte magic number `00 00 TT DD` (`TT` = `08` for unsigned bytes,
//! `DD` = the number of dimensions), then each dimension as a big-endian `u32`, then the
//! data in row-major order. Images are `(n, 28, 28)` bytes, labels `(n,)` bytes.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};

use super::dataset::{IMAGE_PIXELS, Mnist, Split};
use super::error::MnistError;
use super::gzip::Gunzip;
use super::pickle_scanner::MAX_PICKLE_BYTES;

/// The four files, without their optional `.gz`.
const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// Reads the four files and splits the training set as `mnist.pkl.gz` does.
pub(crate) fn read_dir(dir: &Path) -> Result<Mnist, MnistError> {
    let (train_images, train_labels) = pair(
        read_file(dir, TRAIN_IMAGES, 3)?,
        read_file(dir, TRAIN_LABELS, 1)?,
        "train",
    )?;
    let (test_images, test_labels) = pair(
        read_file(dir, TEST_IMAGES, 3)?,
        read_file(dir, TEST_LABELS, 1)?,
        "test",
    )?;
    // mnist.pkl.gz's validation set is the last 10,000 of the 60,000 training images.
    let cut = train_labels.len() - train_labels.len() / 6;
    Ok(Mnist {
        train: split(&train_images[..cut * IMAGE_PIXELS], &train_labels[..cut]),
        valid: split(&train_images[cut * IMAGE_PIXELS..], &train_labels[cut..]),
        test: split(&test_images, &test_labels),
    })
}

/// An IDX file's dimensions and bytes.
struct Idx {
    dims: Vec<usize>,
    data: Vec<u8>,
}

/// Checks that the images are `(n, 28, 28)`, the labels `(n,)` and digits; returns the
/// raw bytes of both.
fn pair(
    (images, images_path): (Idx, PathBuf),
    (labels, labels_path): (Idx, PathBuf),
    name: &'static str,
) -> Result<(Vec<u8>, Vec<u8>), MnistError> {
    let n = match images.dims[..] {
        [n, 28, 28] => n,
        _ => {
            return Err(MnistError::Format {
                file: images_path,
                what: "the image dimensions".to_owned(),
                expected: "(n, 28, 28)".to_owned(),
                found: format!("{:?}", images.dims),
            });
        }
    };
    if labels.dims != [n] {
        return Err(MnistError::Format {
            file: labels_path,
            what: "the label dimensions".to_owned(),
            expected: format!("[{n}], one label per image"),
            found: format!("{:?}", labels.dims),
        });
    }
    if let Some(index) = labels.data.iter().position(|&label| label > 9) {
        return Err(MnistError::Label {
            file: labels_path,
            split: name,
            index,
            value: labels.data[index].into(),
        });
    }
    Ok((images.data, labels.data))
}

/// One split from raw bytes, scaling pixels exactly as mnist.pkl.gz was made: the byte
/// value over 256, so 255 becomes 0.99609375.
fn split(images: &[u8], labels: &[u8]) -> Split {
    let pixels: Vec<f32> = images.iter().map(|&v| f32::from(v) / 256.0).collect();
    let images = Array2::from_shape_vec((labels.len(), IMAGE_PIXELS), pixels)
        .expect("the dimensions were checked");
    Split {
        images,
        labels: Array1::from(labels.to_vec()),
    }
}

/// Opens `dir/name.gz`, or else `dir/name`, and reads it as an IDX file of `ndim`
/// dimensions of unsigned bytes.
fn read_file(dir: &Path, name: &str, ndim: usize) -> Result<(Idx, PathBuf), MnistError> {
    let gz = dir.join(format!("{name}.gz"));
    let plain = dir.join(name);
    let idx = if gz.is_file() || !plain.is_file() {
        let mut stream = Gunzip::open(&gz)?;
        let result = read_idx(&mut stream, &gz, ndim);
        result.map_err(|error| stream.blame(&gz, error))?
    } else {
        let file = File::open(&plain).map_err(|source| MnistError::Io {
            file: plain.clone(),
            error: source,
        })?;
        read_idx(&mut BufReader::new(file), &plain, ndim)?
    };
    Ok((idx, if gz.is_file() { gz } else { plain }))
}

/// Reads the header and exactly as many bytes as the dimensions say, and no more.
fn read_idx(reader: &mut impl Read, path: &Path, ndim: usize) -> Result<Idx, MnistError> {
    let format = |what: &str, expected: String, found: String| MnistError::Format {
        file: path.to_owned(),
        what: what.to_owned(),
        expected,
        found,
    };
    let io_error = |source| MnistError::Io {
        file: path.to_owned(),
        error: source,
    };
    let mut magic = [0u8; 4];
    read_exact_or(reader, &mut magic, || {
        format(
            "the header",
            "4 magic bytes".into(),
            "a shorter file".into(),
        )
    })
    .map_err(|error| error.unwrap_or_else(io_error))?;
    if magic != [0, 0, 0x08, ndim as u8] {
        return Err(format(
            "the magic number",
            format!("00 00 08 {ndim:02x} (unsigned bytes, {ndim} dimensions)"),
            super::gzip::hex_prefix(&magic),
        ));
    }
    let mut dims = Vec::with_capacity(ndim);
    for _ in 0..ndim {
        let mut dim = [0u8; 4];
        read_exact_or(reader, &mut dim, || {
            format(
                "the header",
                format!("{ndim} dimensions"),
                "a shorter file".into(),
            )
        })
        .map_err(|error| error.unwrap_or_else(io_error))?;
        dims.push(u32::from_be_bytes(dim) as usize);
    }
    let expected = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| {
            format(
                "the dimensions",
                "a size that fits in memory".into(),
                format!("{dims:?}"),
            )
        })?;
    // Grow as the data arrives rather than trusting a header that could ask for
    // terabytes: a corrupt dimension then ends in a short-data error, not an abort. And
    // read no more than the pickle's limit (MNIST's largest IDX file is 47 MB), so that a
    // gzip bomb behind a huge header is refused once it has delivered that much.
    let mut data = Vec::with_capacity(expected.min(64 << 20));
    let cap = (expected as u64).min(MAX_PICKLE_BYTES + 1);
    reader.take(cap).read_to_end(&mut data).map_err(io_error)?;
    if data.len() as u64 > MAX_PICKLE_BYTES {
        return Err(MnistError::TooLarge {
            file: path.to_owned(),
            what: format!("the data for dimensions {dims:?}"),
            limit: format!("{MAX_PICKLE_BYTES} bytes"),
            found: "more bytes".to_owned(),
        });
    }
    if data.len() != expected {
        return Err(format(
            "the data",
            format!("{expected} bytes for dimensions {dims:?}"),
            format!("{} bytes", data.len()),
        ));
    }
    let mut extra = [0u8; 1];
    if reader.read(&mut extra).map_err(io_error)? != 0 {
        return Err(format(
            "the data",
            format!("{expected} bytes for dimensions {dims:?}"),
            "more bytes after them".into(),
        ));
    }
    Ok(Idx { dims, data })
}

/// `read_exact`, with a short file reported as `Err(Ok(short()))` and other failures as
/// `Err(Err(io_error))`.
fn read_exact_or(
    reader: &mut impl Read,
    buf: &mut [u8],
    short: impl FnOnce() -> MnistError,
) -> Result<(), Result<MnistError, io::Error>> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Err(Ok(short())),
        Err(error) => Err(Err(error)),
    }
}
