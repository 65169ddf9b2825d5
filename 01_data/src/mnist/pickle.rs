//! Unpickling `mnist.pkl.gz`: rebuilding NumPy's arrays from what `serde-pickle` decodes.
//!
//! The file is a pickled tuple `((x_train, y_train), (x_valid, y_valid), (x_test, y_test))`.
//! NumPy pickles each array as a call plus a state,
//!
//! ```text
//! _reconstruct(ndarray, (0,), b'b')                    # an empty array...
//!     .__setstate__((1, shape, dtype, is_fortran, raw))  # ...filled by BUILD
//! ```
//!
//! and each dtype the same way: `dtype('f4', 0, 1).__setstate__((3, '<', None, ...))`.
//! `serde-pickle`, asked to keep that state ([`DeOptions::keep_restore_state`]), hands back
//! the state tuple in place of each array: that is all we need. The raw data is a Python 2
//! `str` in the published file (opcodes `BINSTRING`), `_codecs.encode(text, 'latin1')` when
//! Python 3 re-pickles it at protocol 2, and `bytes` at protocols 3 and 4; `serde-pickle`
//! turns all three into [`Value::Bytes`].
//!
//! The dtype is not always where one expects it. The first array of a given dtype carries
//! its BUILD state `(3, '<', None, None, None, -1, -1, 0)`: the byte order, but no type
//! code. Later arrays of the same dtype refer to it through the pickle's memo, which holds
//! the dtype as it was *before* BUILD: `('f4', 0, 1)`, the type code but no byte order.
//! So the element size is always checked against the byte length, and the type code and
//! byte order whenever the file states them.

use std::path::Path;

use ndarray::{Array1, Array2, ShapeBuilder};
use serde_pickle::{DeOptions, Value};

use super::dataset::{IMAGE_PIXELS, Mnist, Split};
use super::error::MnistError;

/// The options that make `serde-pickle` keep NumPy's reduce and build state and stand
/// `None` in for the globals it cannot resolve (`numpy.ndarray`, `numpy.dtype`).
pub(crate) fn options() -> DeOptions {
    DeOptions::new()
        .keep_restore_state()
        .replace_unresolved_globals()
}

/// Builds the three splits from the decoded top-level value.
pub(crate) fn mnist_from_value(value: Value, file: &Path) -> Result<Mnist, MnistError> {
    let format = |what: &str, expected: &str, found: &Value| MnistError::Format {
        file: file.to_owned(),
        what: what.to_owned(),
        expected: expected.to_owned(),
        found: describe(found),
    };
    let top = match value {
        Value::Tuple(items) | Value::List(items) if items.len() == 3 => items,
        other => {
            return Err(format(
                "the top-level object",
                "a tuple of 3 (images, labels) pairs (train, valid, test)",
                &other,
            ));
        }
    };
    let mut splits = Vec::with_capacity(3);
    for (name, pair) in ["train", "valid", "test"].into_iter().zip(top) {
        let (images, labels) = match pair {
            Value::Tuple(mut items) | Value::List(mut items) if items.len() == 2 => {
                let labels = items.pop().expect("two items");
                let images = items.pop().expect("two items");
                (images, labels)
            }
            other => {
                return Err(format(
                    &format!("the {name} split"),
                    "an (images, labels) pair",
                    &other,
                ));
            }
        };
        let images_what = format!("{name} images");
        let labels_what = format!("{name} labels");
        let images = RawArray::from_value(images, file, &images_what)?;
        let labels = RawArray::from_value(labels, file, &labels_what)?;
        let images = images.into_images(file, &images_what)?;
        let labels = labels.into_labels(file, &labels_what, name)?;
        if images.nrows() != labels.len() {
            return Err(MnistError::Format {
                file: file.to_owned(),
                what: format!("the {name} split"),
                expected: format!("as many labels as images ({})", images.nrows()),
                found: format!("{} labels", labels.len()),
            });
        }
        splits.push(Split { images, labels });
    }
    let test = splits.pop().expect("three splits");
    let valid = splits.pop().expect("three splits");
    let train = splits.pop().expect("three splits");
    Ok(Mnist { train, valid, test })
}

/// What a dtype in the pickle says about itself (see the module's page for why either
/// half may be missing).
#[derive(Debug, Default)]
struct Dtype {
    /// Kind and size from a code such as `'f4'`: `('f', 4)`.
    code: Option<(char, usize)>,
    /// `'<'`, `'>'`, `'|'` or `'='`.
    order: Option<char>,
}

/// One NumPy array as pickled: its shape, dtype, layout and raw bytes.
struct RawArray {
    shape: Vec<usize>,
    dtype: Dtype,
    fortran: bool,
    data: Vec<u8>,
}

impl RawArray {
    /// Reads NumPy's state tuple `(1, shape, dtype, is_fortran, raw)`.
    fn from_value(value: Value, file: &Path, what: &str) -> Result<Self, MnistError> {
        let format = |part: &str, expected: &str, found: String| MnistError::Format {
            file: file.to_owned(),
            what: format!("{what}{part}"),
            expected: expected.to_owned(),
            found,
        };
        let expected_state = "a NumPy array (state tuple (1, shape, dtype, is_fortran, data))";
        let items = match value {
            Value::Tuple(items) if items.len() == 5 => items,
            other => return Err(format("", expected_state, describe(&other))),
        };
        let [version, shape, dtype, fortran, data]: [Value; 5] =
            items.try_into().expect("checked: five items");
        if !matches!(version, Value::I64(1)) {
            return Err(format(" (state version)", "1", describe(&version)));
        }
        let shape = match shape {
            Value::Tuple(dims) => dims
                .iter()
                .map(|dim| match dim {
                    Value::I64(d) => usize::try_from(*d).ok(),
                    _ => None,
                })
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| {
                    format(
                        " (shape)",
                        "a tuple of non-negative integers",
                        describe(&Value::Tuple(dims.clone())),
                    )
                })?,
            other => {
                return Err(format(
                    " (shape)",
                    "a tuple of non-negative integers",
                    describe(&other),
                ));
            }
        };
        let dtype = Dtype::from_value(&dtype).ok_or_else(|| {
            format(
                " (dtype)",
                "a NumPy dtype: ('f4', 0, 1) or its state (3, '<', None, ...)",
                describe(&dtype),
            )
        })?;
        let fortran = match fortran {
            Value::Bool(b) => b,
            Value::I64(0) => false,
            Value::I64(1) => true,
            other => return Err(format(" (is_fortran)", "a boolean", describe(&other))),
        };
        let data = match data {
            Value::Bytes(bytes) => bytes,
            other => {
                return Err(format(
                    " (data)",
                    "the raw bytes of the array",
                    describe(&other),
                ));
            }
        };
        Ok(Self {
            shape,
            dtype,
            fortran,
            data,
        })
    }

    /// The number of elements, or an error if the shape's product overflows.
    fn count(&self, file: &Path, what: &str) -> Result<usize, MnistError> {
        self.shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| MnistError::Format {
                file: file.to_owned(),
                what: format!("{what} (shape)"),
                expected: "a shape whose size fits in memory".to_owned(),
                found: format!("{:?}", self.shape),
            })
    }

    /// Rejects big-endian data: the conversions below read little-endian bytes.
    fn check_order(&self, file: &Path, what: &str) -> Result<(), MnistError> {
        match self.dtype.order {
            None | Some('<' | '|' | '=') => Ok(()),
            Some(other) => Err(MnistError::Format {
                file: file.to_owned(),
                what: format!("{what} (byte order)"),
                expected: "little-endian '<' (or '|', not applicable)".to_owned(),
                found: format!("{other:?}"),
            }),
        }
    }

    /// Checks that the byte length is `count * size`, and says which of the two is off.
    fn check_length(
        &self,
        file: &Path,
        what: &str,
        count: usize,
        size: usize,
        type_name: &str,
    ) -> Result<(), MnistError> {
        let found = self.data.len();
        // `count * size` cannot overflow where it matters: if it did, it could not equal a
        // length that exists in memory, and the error below reports the shape.
        match count.checked_mul(size) {
            Some(expected) if expected == found => Ok(()),
            _ if found.checked_rem(count) == Some(0) && self.dtype.code.is_none() => {
                Err(MnistError::ElementSize {
                    file: file.to_owned(),
                    what: what.to_owned(),
                    expected_type: type_name.to_owned(),
                    expected_size: size,
                    found_size: found / count,
                })
            }
            expected => Err(MnistError::ByteLength {
                file: file.to_owned(),
                what: what.to_owned(),
                shape: self.shape.clone(),
                expected: expected.unwrap_or(usize::MAX),
                found,
            }),
        }
    }

    /// Images: float32, shape `(n, 784)` or `(n, 28, 28)`, returned as `(n, 784)`.
    fn into_images(self, file: &Path, what: &str) -> Result<Array2<f32>, MnistError> {
        let rows = match self.shape[..] {
            [rows, IMAGE_PIXELS] | [rows, 28, 28] => rows,
            _ => {
                return Err(MnistError::Format {
                    file: file.to_owned(),
                    what: format!("{what} (shape)"),
                    expected: "(n, 784) or (n, 28, 28)".to_owned(),
                    found: format!("{:?}", self.shape),
                });
            }
        };
        match self.dtype.code {
            Some((kind, size)) if (kind, size) != ('f', 4) => {
                return Err(MnistError::Format {
                    file: file.to_owned(),
                    what: format!("{what} (dtype)"),
                    expected: "float32 ('f4')".to_owned(),
                    found: format!("'{kind}{size}'"),
                });
            }
            _ => {}
        }
        self.check_order(file, what)?;
        let count = self.count(file, what)?;
        self.check_length(file, what, count, 4, "float32")?;
        let pixels = f32_from_le_bytes(self.data);
        // A C-order 3-D (n, 28, 28) array has the same bytes as (n, 784); a Fortran-order
        // one (NumPy's `asfortranarray`) is reordered into rows.
        let images = if self.fortran && self.shape.len() == 2 {
            Array2::from_shape_vec((rows, IMAGE_PIXELS).f(), pixels)
                .map(|a| a.as_standard_layout().into_owned())
        } else if self.fortran {
            ndarray::Array3::from_shape_vec((rows, 28, 28).f(), pixels)
                .map(|a| a.as_standard_layout().into_owned())
                .and_then(|a| a.into_shape_with_order((rows, IMAGE_PIXELS)))
        } else {
            Array2::from_shape_vec((rows, IMAGE_PIXELS), pixels)
        };
        Ok(images.expect("the byte length was checked against the shape"))
    }

    /// Labels: integers of 1, 2, 4 or 8 bytes (the published file has int64), shape `(n,)`,
    /// each a digit, returned as `u8`.
    fn into_labels(
        self,
        file: &Path,
        what: &str,
        split: &'static str,
    ) -> Result<Array1<u8>, MnistError> {
        if self.shape.len() != 1 {
            return Err(MnistError::Format {
                file: file.to_owned(),
                what: format!("{what} (shape)"),
                expected: "(n,)".to_owned(),
                found: format!("{:?}", self.shape),
            });
        }
        self.check_order(file, what)?;
        let count = self.shape[0];
        let width = match self.dtype.code {
            Some(('i' | 'u', size @ (1 | 2 | 4 | 8))) => size,
            Some((kind, size)) => {
                return Err(MnistError::Format {
                    file: file.to_owned(),
                    what: format!("{what} (dtype)"),
                    expected: "an integer type ('i8', 'i4', 'u1', ...)".to_owned(),
                    found: format!("'{kind}{size}'"),
                });
            }
            // No type code: the element size is what the byte length says, if it is an
            // integer size at all.
            None => match self.data.len().checked_div(count) {
                Some(size @ (1 | 2 | 4 | 8)) if size * count == self.data.len() => size,
                _ => 8,
            },
        };
        self.check_length(file, what, count, width, "int64")?;
        let mut labels = Vec::with_capacity(count);
        for (index, bytes) in self.data.chunks_exact(width).enumerate() {
            let mut wide = [0u8; 8];
            wide[..width].copy_from_slice(bytes);
            let unsigned = u64::from_le_bytes(wide);
            let value = match u8::try_from(unsigned) {
                Ok(digit @ 0..=9) => {
                    labels.push(digit);
                    continue;
                }
                // Report what NumPy would print: signed for the signed widths.
                _ if width == 1 => unsigned as i64,
                _ => (unsigned << (64 - 8 * width as u32)) as i64 >> (64 - 8 * width as u32),
            };
            return Err(MnistError::Label {
                file: file.to_owned(),
                split,
                index,
                value,
            });
        }
        Ok(Array1::from_vec(labels))
    }
}

impl Dtype {
    /// Reads either form of a pickled dtype; `None` if it is neither.
    fn from_value(value: &Value) -> Option<Self> {
        let Value::Tuple(items) = value else {
            return None;
        };
        match items.first()? {
            // The memoized call arguments: ('f4', 0, 1).
            Value::Bytes(_) | Value::String(_) => {
                let code = parse_code(text(&items[0])?)?;
                Some(Self {
                    code: Some(code),
                    order: None,
                })
            }
            // The BUILD state: (3, '<', None, None, None, -1, -1, 0), version 3 or 4.
            Value::I64(3 | 4) => {
                let order = text(items.get(1)?)?;
                let mut chars = order.chars();
                match (chars.next(), chars.next()) {
                    (Some(c @ ('<' | '>' | '|' | '=')), None) => Some(Self {
                        code: None,
                        order: Some(c),
                    }),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// `"f4"` -> `Some(('f', 4))`; a leading byte order (`"<f4"`) is allowed and ignored.
fn parse_code(code: &str) -> Option<(char, usize)> {
    let code = code.trim_start_matches(['<', '>', '|', '=']);
    let mut chars = code.chars();
    let kind = chars.next()?;
    let size = chars.as_str().parse().ok()?;
    Some((kind, size))
}

/// A Python 2 `str` (bytes) or Python 3 `str` as text, if it is ASCII.
fn text(value: &Value) -> Option<&str> {
    match value {
        Value::Bytes(bytes) => std::str::from_utf8(bytes).ok(),
        Value::String(string) => Some(string),
        _ => None,
    }
}

/// Little-endian bytes to `f32`, without holding two full copies of a 157 MB array.
///
/// `vec![0.0; n]` asks the allocator for zeroed memory, which for large sizes is fresh
/// pages the kernel maps only when first written. Filling the result from the back while
/// shrinking the source from the back hands the source's pages back as the result's
/// pages are touched, so the peak stays near one array, not two.
fn f32_from_le_bytes(mut bytes: Vec<u8>) -> Vec<f32> {
    const CHUNK: usize = 1 << 22; // 4 MiB: few reallocations, little overlap
    debug_assert_eq!(bytes.len() % 4, 0);
    let mut out = vec![0.0f32; bytes.len() / 4];
    while !bytes.is_empty() {
        let start = bytes.len().saturating_sub(CHUNK);
        let end = bytes.len();
        for (value, raw) in out[start / 4..end / 4]
            .iter_mut()
            .zip(bytes[start..].chunks_exact(4))
        {
            *value = f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        }
        bytes.truncate(start);
        bytes.shrink_to_fit();
    }
    out
}

/// A short description of a decoded value for error messages: "a tuple of 2 items".
fn describe(value: &Value) -> String {
    match value {
        Value::None => "None".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::I64(i) => format!("the integer {i}"),
        Value::Int(i) => format!("the integer {i}"),
        Value::F64(f) => format!("the float {f}"),
        Value::Bytes(b) if b.len() <= 16 => format!("the bytes {:?}", String::from_utf8_lossy(b)),
        Value::Bytes(b) => format!("{} bytes", b.len()),
        Value::String(s) if s.len() <= 32 => format!("the string {s:?}"),
        Value::String(s) => format!("a string of {} characters", s.chars().count()),
        Value::List(items) => format!("a list of {} items", items.len()),
        Value::Tuple(items) => {
            let inner: Vec<String> = items.iter().take(8).map(short).collect();
            let more = if items.len() > 8 { ", ..." } else { "" };
            format!(
                "a tuple of {} items ({}{more})",
                items.len(),
                inner.join(", ")
            )
        }
        Value::Set(items) | Value::FrozenSet(items) => format!("a set of {} items", items.len()),
        Value::Dict(items) => format!("a dict of {} items", items.len()),
    }
}

/// One word for a value inside a tuple's description.
fn short(value: &Value) -> String {
    match value {
        Value::None => "None".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::I64(i) => i.to_string(),
        Value::Bytes(b) if b.len() <= 8 => format!("{:?}", String::from_utf8_lossy(b)),
        Value::String(s) if s.len() <= 8 => format!("{s:?}"),
        Value::Bytes(b) => format!("<{} bytes>", b.len()),
        Value::Tuple(items) => format!("<tuple of {}>", items.len()),
        _ => "...".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_bytes_to_f32_in_order_across_chunks() {
        let values: Vec<f32> = (0..(3 << 20) + 5).map(|i| i as f32 / 256.0).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(f32_from_le_bytes(bytes), values);
        assert!(f32_from_le_bytes(Vec::new()).is_empty());
    }

    #[test]
    fn parses_dtype_codes() {
        assert_eq!(parse_code("f4"), Some(('f', 4)));
        assert_eq!(parse_code("<i8"), Some(('i', 8)));
        assert_eq!(parse_code("f"), None);
        assert_eq!(parse_code(""), None);
    }
}
