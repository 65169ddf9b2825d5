//! Test support: a writer of the published `mnist.pkl.gz` layout (so tests can make
//! valid files and precisely broken ones), gzip helpers, and a loopback HTTP server.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod server;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One NumPy array as the writer pickles it.
#[derive(Clone, Debug)]
pub struct ArraySpec {
    pub shape: Vec<usize>,
    /// NumPy's type code as the dtype's reduce arguments carry it: "f4", "i8".
    pub code: String,
    /// The byte order in the dtype's BUILD state: "<", ">", "|".
    pub order: String,
    pub fortran: bool,
    pub data: Vec<u8>,
}

impl ArraySpec {
    pub fn images(rows: usize, pixels: &[f32]) -> Self {
        assert_eq!(pixels.len(), rows * 784);
        Self {
            shape: vec![rows, 784],
            code: "f4".into(),
            order: "<".into(),
            fortran: false,
            data: pixels.iter().flat_map(|p| p.to_le_bytes()).collect(),
        }
    }

    pub fn labels(labels: &[i64]) -> Self {
        Self {
            shape: vec![labels.len()],
            code: "i8".into(),
            order: "<".into(),
            fortran: false,
            data: labels.iter().flat_map(|l| l.to_le_bytes()).collect(),
        }
    }
}

/// A small data set: `(pixels, labels)` for train, valid, test; pixels are `k / 256`,
/// about 80% zeros, as in MNIST.
pub fn tiny_splits() -> Vec<(usize, Vec<f32>, Vec<i64>)> {
    let mut state: u64 = 42;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    [4usize, 2, 3]
        .into_iter()
        .map(|rows| {
            let pixels = (0..rows * 784)
                .map(|_| {
                    if next() % 5 == 0 {
                        (next() % 256) as f32 / 256.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let labels = (0..rows).map(|_| i64::from(next() % 10)).collect();
            (rows, pixels, labels)
        })
        .collect()
}

/// The tiny data set as array specs, ready for `py2_pickle`.
pub fn tiny_specs() -> Vec<(ArraySpec, ArraySpec)> {
    tiny_splits()
        .into_iter()
        .map(|(rows, pixels, labels)| {
            (ArraySpec::images(rows, &pixels), ArraySpec::labels(&labels))
        })
        .collect()
}

/// Pickles `((x, y), (x, y), (x, y))` the way Python 2's cPickle wrote `mnist.pkl.gz`
/// (protocol 2; raw data as `str`; memo entries for globals, dtypes and interned strings;
/// see `fixtures/make_fixtures.py`, which this follows opcode for opcode: a test
/// checks that both write the same bytes).
pub fn py2_pickle(splits: &[(ArraySpec, ArraySpec)]) -> Vec<u8> {
    let mut w = Py2Writer::default();
    w.out.extend_from_slice(b"\x80\x02");
    for (x, y) in splits {
        w.array(x);
        w.array(y);
        w.out.push(0x86); // TUPLE2
    }
    w.out.push(match splits.len() {
        1 => 0x85,
        2 => 0x86,
        3 => 0x87,
        _ => panic!("the writer makes tuples of 1 to 3 splits"),
    });
    w.out.push(b'.');
    w.out
}

#[derive(Default)]
struct Py2Writer {
    out: Vec<u8>,
    memo: HashMap<String, u8>,
}

impl Py2Writer {
    fn put(&mut self, key: String) {
        let index = u8::try_from(self.memo.len() + 1).expect("small memo");
        self.memo.insert(key, index);
        self.out.extend_from_slice(&[b'q', index]);
    }

    /// Writes an object cPickle memoizes, or fetches it if already written.
    fn shared(&mut self, key: String, write: impl FnOnce(&mut Self)) {
        if let Some(&index) = self.memo.get(&key) {
            self.out.extend_from_slice(&[b'h', index]);
        } else {
            write(self);
            self.put(key);
        }
    }

    fn int(&mut self, v: usize) {
        if v < 256 {
            self.out.extend_from_slice(&[b'K', v as u8]);
        } else if v < 65536 {
            self.out.push(b'M');
            self.out.extend_from_slice(&(v as u16).to_le_bytes());
        } else {
            self.out.push(b'J');
            self.out.extend_from_slice(&(v as i32).to_le_bytes());
        }
    }

    fn str(&mut self, data: &[u8]) {
        if data.len() < 256 {
            self.out.extend_from_slice(&[b'U', data.len() as u8]);
        } else {
            self.out.push(b'T');
            self.out
                .extend_from_slice(&(data.len() as i32).to_le_bytes());
        }
        self.out.extend_from_slice(data);
    }

    fn interned(&mut self, text: &str) {
        self.shared(format!("str {text}"), |w| w.str(text.as_bytes()));
    }

    fn global(&mut self, module: &str, name: &str) {
        self.shared(format!("global {module} {name}"), |w| {
            w.out
                .extend_from_slice(format!("c{module}\n{name}\n").as_bytes())
        });
    }

    fn dtype(&mut self, code: &str, order: &str) {
        let key = format!("dtype {code} {order}");
        if let Some(&index) = self.memo.get(&key) {
            self.out.extend_from_slice(&[b'h', index]);
            return;
        }
        self.global("numpy", "dtype");
        self.interned(code);
        self.int(0);
        self.int(1);
        self.out.extend_from_slice(b"\x87R");
        self.put(key); // before BUILD, as cPickle's save_reduce does
        self.out.push(b'(');
        self.int(3);
        self.interned(order);
        self.out
            .extend_from_slice(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff");
        self.int(0);
        self.out.extend_from_slice(b"tb");
    }

    fn array(&mut self, a: &ArraySpec) {
        self.global("numpy.core.multiarray", "_reconstruct");
        self.global("numpy", "ndarray");
        self.int(0);
        self.out.push(0x85);
        self.interned("b");
        self.out.extend_from_slice(b"\x87R");
        let key = format!("array {}", self.out.len());
        self.put(key);
        self.out.extend_from_slice(b"(");
        self.int(1);
        if !(1..=3).contains(&a.shape.len()) {
            self.out.push(b'(');
        }
        for &d in &a.shape {
            self.int(d);
        }
        self.out.push(match a.shape.len() {
            1 => 0x85,
            2 => 0x86,
            3 => 0x87,
            _ => b't',
        });
        self.dtype(&a.code, &a.order);
        self.out
            .extend_from_slice(if a.fortran { b"I01\n" } else { b"I00\n" });
        self.str(&a.data);
        self.out.extend_from_slice(b"tb");
    }
}

/// gzip-compresses `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// Decompresses a gzip file.
pub fn gunzip_file(path: impl AsRef<Path>) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()),
        &mut out,
    )
    .unwrap();
    out
}

/// A fixture's path.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}
