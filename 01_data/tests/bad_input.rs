//! Bad files are typed errors naming what was expected and found, never panics: each
//! kind of damage on its own, then thousands of random mutations and truncations.

mod common;

use std::path::Path;

use common::{ArraySpec, fixture, gunzip_file, gzip, py2_pickle, tiny_specs, write};
use matmul_data::{Mnist, MnistError};

/// Loads `pickle` (uncompressed bytes) through a gzip file, as a user's file would be.
fn load_pickle(pickle: &[u8]) -> Result<Mnist, MnistError> {
    let dir = tempfile::tempdir().unwrap();
    Mnist::from_pickle_gz(write(dir.path(), "bad.pkl.gz", &gzip(pickle)))
}

fn message(error: &MnistError) -> String {
    error.to_string()
}

#[test]
fn a_file_that_is_not_gzip_says_what_it_starts_with() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "page.pkl.gz", b"<!DOCTYPE html>");
    let error = Mnist::from_pickle_gz(&path).unwrap_err();
    assert!(matches!(error, MnistError::NotGzip { .. }), "{error:?}");
    assert!(
        message(&error).contains("expected the magic bytes 1f 8b, found 3c 21"),
        "{error}"
    );
    let empty = write(dir.path(), "empty.pkl.gz", b"");
    assert!(matches!(
        Mnist::from_pickle_gz(&empty).unwrap_err(),
        MnistError::NotGzip { .. }
    ));
}

#[test]
fn a_missing_file_names_the_file() {
    let error = Mnist::from_pickle_gz("/nonexistent/mnist.pkl.gz").unwrap_err();
    assert!(matches!(error, MnistError::Io { .. }), "{error:?}");
    assert!(
        message(&error).contains("/nonexistent/mnist.pkl.gz"),
        "{error}"
    );
}

#[test]
fn truncated_gzip_is_a_gzip_error() {
    let bytes = std::fs::read(fixture("mnist_py2.pkl.gz")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for keep in [bytes.len() / 2, bytes.len() - 4, 11] {
        let path = write(dir.path(), "cut.pkl.gz", &bytes[..keep]);
        let error = Mnist::from_pickle_gz(&path).unwrap_err();
        assert!(
            matches!(error, MnistError::Gzip { .. }),
            "keeping {keep} bytes: {error:?}"
        );
    }
    // A flipped bit in the compressed data: caught by the deflate decoder or the CRC.
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x10;
    let path = write(dir.path(), "flipped.pkl.gz", &flipped);
    assert!(Mnist::from_pickle_gz(&path).is_err());
}

#[test]
fn truncated_pickle_is_a_pickle_error() {
    let pickle = py2_pickle(&tiny_specs());
    for keep in [0, 2, 40, pickle.len() / 2, pickle.len() - 1] {
        let error = load_pickle(&pickle[..keep]).unwrap_err();
        assert!(
            matches!(error, MnistError::Pickle { .. }),
            "keeping {keep} bytes: {error:?}"
        );
    }
}

#[test]
fn wrong_structure_says_what_was_found() {
    let specs = tiny_specs();
    // Two splits instead of three.
    let error = load_pickle(&py2_pickle(&specs[..2])).unwrap_err();
    assert!(matches!(error, MnistError::Format { .. }), "{error:?}");
    assert!(
        message(&error).contains("a tuple of 3 (images, labels) pairs"),
        "{error}"
    );
    assert!(
        message(&error).contains("found a tuple of 2 items"),
        "{error}"
    );
    // A pickled integer instead of the tuple.
    let error = load_pickle(b"\x80\x02K\x05.").unwrap_err();
    assert!(message(&error).contains("found the integer 5"), "{error}");
    // Images of the wrong shape.
    let mut wrong = specs.clone();
    wrong[0].0.shape = vec![4 * 784];
    let error = load_pickle(&py2_pickle(&wrong)).unwrap_err();
    assert!(
        message(&error)
            .contains("train images (shape): expected (n, 784) or (n, 28, 28), found [3136]"),
        "{error}"
    );
    // Fewer labels than images.
    let mut wrong = specs.clone();
    wrong[1].1 = ArraySpec::labels(&[1]);
    let error = load_pickle(&py2_pickle(&wrong)).unwrap_err();
    assert!(
        message(&error).contains("expected as many labels as images (2), found 1 labels"),
        "{error}"
    );
}

#[test]
fn wrong_element_size_is_caught_by_the_byte_length() {
    // float64 pixels: the train array's dtype is in BUILD-state form, which has no type
    // code, so only the byte length can tell: 8 bytes per element instead of 4.
    let mut specs = tiny_specs();
    let pixels: Vec<u8> = specs[0]
        .0
        .data
        .chunks(4)
        .flat_map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())).to_le_bytes())
        .collect();
    specs[0].0.data = pixels;
    let error = load_pickle(&py2_pickle(&specs)).unwrap_err();
    assert!(
        matches!(
            error,
            MnistError::ElementSize {
                expected_size: 4,
                found_size: 8,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        message(&error)
            .contains("train images: expected 4-byte float32 elements, found 8 bytes per element"),
        "{error}"
    );
}

#[test]
fn a_wrong_type_code_is_named() {
    // The valid split's images refer to the memoized ('f4', 0, 1) dtype; make it 'f8' by
    // giving valid its own dtype with a different code.
    let mut specs = tiny_specs();
    specs[1].0.code = "f8".into();
    specs[1].0.order = "=".into(); // a new memo key: the writer writes this dtype in full
    // Then the test split's images refer to it through the memo: the code form.
    specs[2].0.code = "f8".into();
    specs[2].0.order = "=".into();
    let error = load_pickle(&py2_pickle(&specs)).unwrap_err();
    assert!(
        message(&error).contains("test images (dtype): expected float32 ('f4'), found 'f8'"),
        "{error}"
    );
}

#[test]
fn byte_length_not_matching_the_shape_is_an_error() {
    let mut specs = tiny_specs();
    let len = specs[2].0.data.len();
    specs[2].0.data.truncate(len - 3);
    let error = load_pickle(&py2_pickle(&specs)).unwrap_err();
    assert!(
        matches!(
            error,
            MnistError::ByteLength {
                expected: 9408,
                found: 9405,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        message(&error).contains("shape [3, 784] needs 9408 bytes of data, found 9405 bytes"),
        "{error}"
    );
    // Labels one byte short.
    let mut specs = tiny_specs();
    specs[0].1.data.pop();
    let error = load_pickle(&py2_pickle(&specs)).unwrap_err();
    assert!(
        matches!(
            error,
            MnistError::ByteLength { .. } | MnistError::ElementSize { .. }
        ),
        "{error:?}"
    );
}

#[test]
fn big_endian_data_is_rejected() {
    let mut specs = tiny_specs();
    specs[0].0.order = ">".into();
    let error = load_pickle(&py2_pickle(&specs)).unwrap_err();
    assert!(
        message(&error).contains("train images (byte order): expected little-endian"),
        "{error}"
    );
    assert!(message(&error).contains("found '>'"), "{error}");
}

#[test]
fn labels_must_be_digits() {
    let mut specs = tiny_specs();
    specs[1].1 = ArraySpec::labels(&[3, -1]);
    let error = load_pickle(&py2_pickle(&specs)).unwrap_err();
    assert!(
        matches!(
            error,
            MnistError::Label {
                split: "valid",
                index: 1,
                value: -1,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        message(&error).contains("valid label 1 is -1, expected a digit 0..=9"),
        "{error}"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // Two kilobytes of gzip: a million nested tuples, which the unpickler would build
    // recursively. Run on a small stack to prove the pickle scanner stops it first.
    let mut pickle = b"\x80\x02K\x00".to_vec();
    pickle.extend(std::iter::repeat_n(0x85, 1_000_000));
    pickle.push(b'.');
    let result = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            (
                load_pickle(&pickle).unwrap_err(),
                Mnist::from_pickle(&pickle[..], "deep").unwrap_err(),
            )
        })
        .unwrap()
        .join()
        .unwrap();
    for error in [result.0, result.1] {
        assert!(matches!(error, MnistError::Format { .. }), "{error:?}");
        assert!(
            message(&error).contains("at most 256 tuples, lists and calls"),
            "{error}"
        );
    }
}

#[test]
fn bad_idx_files_are_errors() {
    let copy = |dir: &Path| {
        for name in [
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ] {
            std::fs::copy(fixture(&format!("idx/{name}")), dir.join(name)).unwrap();
        }
    };
    let labels = gunzip_file(fixture("idx/t10k-labels-idx1-ubyte.gz"));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a wrong magic number",
            [&[0u8, 0, 8, 2][..], &labels[4..]].concat(),
            "expected 00 00 08 01",
        ),
        (
            "short data",
            labels[..labels.len() - 1].to_vec(),
            "expected 3 bytes for dimensions [3], found 2 bytes",
        ),
        (
            "trailing data",
            [&labels[..], &[1u8][..]].concat(),
            "found more bytes after them",
        ),
        ("a short header", labels[..6].to_vec(), "the header"),
        (
            "a huge dimension",
            [&[0u8, 0, 8, 1, 0xff, 0xff, 0xff, 0xff][..], &labels[8..]].concat(),
            "expected 4294967295 bytes",
        ),
        (
            "fewer labels than images",
            [&[0u8, 0, 8, 1, 0, 0, 0, 2][..], &labels[8..10]].concat(),
            "expected [3], one label per image, found [2]",
        ),
        (
            "a label of 10",
            [&labels[..10], &[10u8][..]].concat(),
            "test label 2 is 10",
        ),
    ];
    for (what, bytes, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        copy(dir.path());
        write(dir.path(), "t10k-labels-idx1-ubyte.gz", &gzip(&bytes));
        let error = Mnist::from_idx_dir(dir.path()).unwrap_err();
        assert!(message(&error).contains(expected), "{what}: {error}");
        assert!(
            message(&error).contains("t10k-labels-idx1-ubyte.gz"),
            "{what}: {error}"
        );
    }
    let empty = tempfile::tempdir().unwrap();
    let error = Mnist::from_idx_dir(empty.path()).unwrap_err();
    assert!(matches!(error, MnistError::Io { .. }), "{error:?}");
    assert!(
        message(&error).contains("train-images-idx3-ubyte.gz"),
        "{error}"
    );
}

/// SplitMix64: enough randomness for mutations, and the same every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Damages `bytes`: truncation, random bytes, copied ranges, inserted or deleted bytes,
/// or lengths and counts blown up (the inputs that make careless parsers allocate).
fn mutate(bytes: &[u8], random: &mut Random) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match random.below(6) {
        0 => out.truncate(random.below(bytes.len())),
        1 => {
            for _ in 0..1 + random.below(4) {
                let i = random.below(out.len());
                out[i] = random.next() as u8;
            }
        }
        2 => {
            let i = random.below(out.len());
            out.insert(i, random.next() as u8);
        }
        3 => {
            let i = random.below(out.len());
            out.remove(i);
        }
        4 => {
            // Overwrite four bytes with a huge or negative 32-bit value.
            let i = random.below(out.len().saturating_sub(4).max(1));
            let value: u32 = [0xffff_ffff, 0x7fff_ffff, 0x8000_0000, 0x0100_0000][random.below(4)];
            for (k, b) in value.to_le_bytes().into_iter().enumerate() {
                if let Some(slot) = out.get_mut(i + k) {
                    *slot = b;
                }
            }
        }
        _ => {
            let a = random.below(out.len());
            let b = random.below(out.len());
            let (lo, hi) = (a.min(b), a.max(b).min(a.min(b) + 64));
            let chunk = out[lo..hi].to_vec();
            let at = random.below(out.len());
            out.splice(at..at, chunk);
        }
    }
    out
}

#[test]
fn thousands_of_mutated_pickles_never_panic() {
    // Mutations of the uncompressed pickle reach the unpickler and the array checks
    // directly; every one must load or fail with an error, never panic or abort.
    let valid = py2_pickle(&tiny_specs());
    let python3 = gunzip_file(fixture("mnist_py3_p2.pkl.gz"));
    // MNIST_FUZZ_ROUNDS=200000 for a longer run by hand; CI runs the default.
    let rounds = std::env::var("MNIST_FUZZ_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    let seed = std::env::var("MNIST_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(7);
    let mut random = Random(seed);
    let (mut loaded, mut failed) = (0, 0);
    for round in 0..rounds {
        let source = if round % 3 == 2 { &python3 } else { &valid };
        let bytes = mutate(source, &mut random);
        match Mnist::from_pickle(&bytes[..], "mutant") {
            Ok(_) => loaded += 1,
            Err(error) => {
                assert!(!error.to_string().is_empty());
                failed += 1;
            }
        }
    }
    assert!(
        failed > 2000,
        "most mutants must fail: {failed} failed, {loaded} loaded"
    );
}

#[test]
fn mutated_and_truncated_gzip_files_never_panic() {
    let valid = std::fs::read(fixture("mnist_py3_p4.pkl.gz")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut random = Random(11);
    for _ in 0..1000 {
        let path = write(dir.path(), "mutant.pkl.gz", &mutate(&valid, &mut random));
        let _ = Mnist::from_pickle_gz(&path);
    }
}

#[test]
fn mutated_idx_files_never_panic() {
    let valid = gunzip_file(fixture("idx/train-images-idx3-ubyte.gz"));
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        std::fs::copy(fixture(&format!("idx/{name}")), dir.path().join(name)).unwrap();
    }
    let mut random = Random(13);
    for _ in 0..500 {
        // Damage the header more often than the pixels: that is where the sizes are.
        let mut bytes = valid.clone();
        let head = bytes.len().min(16);
        let mut header = mutate(&bytes[..head], &mut random);
        header.extend_from_slice(&bytes[head..]);
        bytes = if random.below(2) == 0 {
            header
        } else {
            mutate(&bytes, &mut random)
        };
        write(dir.path(), "train-images-idx3-ubyte.gz", &gzip(&bytes));
        let _ = Mnist::from_idx_dir(dir.path());
    }
}
