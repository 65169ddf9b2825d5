//! Hostile files are refused while they stream, before the memory they ask for is
//! allocated: a few megabytes of gzip that carry a 3 GiB bytes object, a gzip bomb that
//! inflates to gigabytes of tiny opcodes, and a stream of legitimate-sized objects that
//! adds up to more than any MNIST pickle.
//!
//! Each file is generated here, streaming (a compressed block of zeros is written over and
//! over), and loaded in a child process: this test binary run again on one test, with the
//! file's path in [`CHILD_FILE`]. The child reports its peak resident memory (`VmHWM` in
//! `/proc/self/status`, which only ever grows), so the bound is asserted on a process that
//! did nothing but load the file.
//!
//! Where the tests run through an emulator (cargo's target runner, for another architecture),
//! the child must too: [`RUNNER`] names the command to start it with.

#![cfg(target_os = "linux")]

mod common;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;

use common::{ArraySpec, py2_pickle};
use flate2::{Compress, Compression, Crc, FlushCompress};
use matmul_data::mnist::{MAX_OPCODES, MAX_PICKLE_BYTES};
use matmul_data::{Mnist, MnistError};

/// Set in the child: the file it loads.
const CHILD_FILE: &str = "MATMUL_DATA_HOSTILE_FILE";

/// A command, with its arguments separated by spaces, that the child is started with instead
/// of directly: the emulator when the tests are cross-compiled (for example
/// `qemu-aarch64 -L /usr/aarch64-linux-gnu`, as for cargo's target runner).
const RUNNER: &str = "MATMUL_TEST_RUNNER";

/// What loading the real `mnist.pkl.gz` holds at its peak: its 220 MB of arrays. Refusing
/// these files must stay far below it.
const REAL_FILE_BYTES: u64 = 220_080_000;

/// The peak a refusal from a header or an opcode count may reach: a quarter of the real
/// file's, room for the test harness and the decompressor.
const REFUSAL_PEAK: u64 = REAL_FILE_BYTES / 4;

/// A gzip file written piece by piece: each piece is deflated after a full flush, so a
/// piece's compressed bytes refer to nothing before them and can be written again and
/// again to repeat its data.
struct GzipWriter {
    out: BufWriter<File>,
    deflate: Compress,
    crc: Crc,
}

impl GzipWriter {
    fn create(path: &Path) -> Self {
        let mut out = BufWriter::new(File::create(path).unwrap());
        // Magic, deflate, no flags, no time, no extra flags, unknown OS.
        out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])
            .unwrap();
        Self {
            out,
            deflate: Compress::new(Compression::best(), false),
            crc: Crc::new(),
        }
    }

    /// Deflates `data` and ends on a full flush; returns the compressed bytes.
    fn deflate(&mut self, data: &[u8], flush: FlushCompress) -> Vec<u8> {
        let mut compressed = Vec::with_capacity(data.len() + 1024);
        let before = self.deflate.total_in();
        self.deflate
            .compress_vec(data, &mut compressed, flush)
            .unwrap();
        assert_eq!(self.deflate.total_in() - before, data.len() as u64);
        compressed
    }

    fn write(&mut self, data: &[u8]) {
        let compressed = self.deflate(data, FlushCompress::Full);
        self.out.write_all(&compressed).unwrap();
        self.crc.update(data);
    }

    /// Writes `data` `times` times, compressing it once.
    fn repeat(&mut self, data: &[u8], times: u64) {
        let compressed = self.deflate(data, FlushCompress::Full);
        let mut once = Crc::new();
        once.update(data);
        for _ in 0..times {
            self.out.write_all(&compressed).unwrap();
            self.crc.combine(&once);
        }
    }

    fn finish(mut self, data: &[u8]) {
        let compressed = self.deflate(data, FlushCompress::Finish);
        self.out.write_all(&compressed).unwrap();
        self.crc.update(data);
        self.out.write_all(&self.crc.sum().to_le_bytes()).unwrap();
        self.out
            .write_all(&self.crc.amount().to_le_bytes())
            .unwrap();
        self.out.flush().unwrap();
    }
}

/// Loads the file in a child process; returns its error and the child's peak resident
/// memory in bytes.
fn load_in_child(test: &str, path: &Path) -> (String, u64) {
    let exe = std::env::current_exe().unwrap();
    let runner = std::env::var(RUNNER).unwrap_or_default();
    let mut command = match runner.split_whitespace().collect::<Vec<_>>().split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(&exe);
            command
        }
        None => Command::new(&exe),
    };
    let output = command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_FILE, path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|line| Some(line.split_once(name)?.1))
            .unwrap_or_else(|| panic!("no {name} in the child's output: {stdout}"))
            .to_owned()
    };
    let peak_kib: u64 = field("peak_kib=").trim().parse().unwrap();
    (field("error="), peak_kib * 1024)
}

/// In the child: loads the file named by [`CHILD_FILE`], prints the error and the peak
/// memory, and returns true. In the parent: returns false.
fn child() -> bool {
    let Some(path) = std::env::var_os(CHILD_FILE) else {
        return false;
    };
    let error: MnistError = Mnist::from_pickle_gz(&path).expect_err("a hostile file loaded");
    println!("error={error:?}");
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let peak = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    println!("peak_kib={}", peak.trim().trim_end_matches("kB").trim());
    true
}

#[test]
fn a_3_gib_bytes_object_is_refused_from_its_header() {
    if child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("3gib.pkl.gz");
    let length: u32 = 3 << 30;
    let mut gzip = GzipWriter::create(&path);
    // PROTO 3, BINBYTES with a 4-byte length, 3 GiB of zeros, STOP.
    gzip.write(&[&[0x80, 3, b'B'][..], &length.to_le_bytes()].concat());
    gzip.repeat(&[0; 1 << 20], u64::from(length >> 20));
    gzip.finish(b".");
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < 8 << 20, "the file should be small: {size} bytes");

    let (error, peak) = load_in_child("a_3_gib_bytes_object_is_refused_from_its_header", &path);
    assert!(error.starts_with("TooLarge"), "{error}");
    assert!(error.contains("found: \"3221225472 bytes\""), "{error}");
    assert!(
        error.contains(&format!("{} bytes left", MAX_PICKLE_BYTES - 7)),
        "{error}"
    );
    assert!(peak < REFUSAL_PEAK, "peak {peak} bytes");
}

#[test]
fn a_gzip_bomb_of_tiny_opcodes_is_refused_early() {
    if child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.pkl.gz");
    let mut gzip = GzipWriter::create(&path);
    // PROTO 2, then NONE, POP forever: nothing accumulates on the unpickler's stack, so
    // only the limits stop it. 4 GiB decompressed, a few megabytes on disk.
    gzip.write(&[0x80, 2]);
    gzip.repeat(&b"N0".repeat(1 << 19), 4 << 10);
    gzip.finish(b".");
    assert!(std::fs::metadata(&path).unwrap().len() < 8 << 20);

    let (error, peak) = load_in_child("a_gzip_bomb_of_tiny_opcodes_is_refused_early", &path);
    assert!(error.starts_with("TooLarge"), "{error}");
    assert!(
        error.contains(&format!("limit: \"{MAX_OPCODES} opcodes")),
        "{error}"
    );
    assert!(peak < REFUSAL_PEAK, "peak {peak} bytes");
}

#[test]
fn objects_adding_up_past_the_limit_are_refused_at_the_limit() {
    if child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.pkl.gz");
    let mut gzip = GzipWriter::create(&path);
    // PROTO 3, MARK, then 1 GiB of 1 MiB BINBYTES objects: each one is legitimate in size,
    // together they are four times the limit.
    let object = [&[b'B'][..], &(1u32 << 20).to_le_bytes(), &[0; 1 << 20]].concat();
    gzip.write(&[0x80, 3, b'(']);
    gzip.repeat(&object, 1 << 10);
    gzip.finish(b"t.");

    let (error, peak) = load_in_child(
        "objects_adding_up_past_the_limit_are_refused_at_the_limit",
        &path,
    );
    assert!(error.starts_with("TooLarge"), "{error}");
    assert!(error.contains("found: \"1048576 bytes\""), "{error}");
    // What was read before the refusal is held, and no more than that.
    assert!(peak < MAX_PICKLE_BYTES + (64 << 20), "peak {peak} bytes");
}

#[test]
fn many_references_to_one_object_are_refused_before_they_are_copied() {
    if child() {
        return;
    }
    // One 1 MiB bytes object, memo entry 0, then a list of 300 references to it: about
    // a megabyte of file. `serde-pickle` keeps references as they are while it reads, then
    // copies the object once for each, so the list would be 300 MiB.
    let mut pickle = [&[0x80, 4, b'B'][..], &(1u32 << 20).to_le_bytes()].concat();
    pickle.extend(std::iter::repeat_n(0, 1 << 20));
    pickle.extend_from_slice(&[0x94, b'(']); // MEMOIZE, MARK
    for _ in 0..300 {
        pickle.extend_from_slice(&[b'h', 0]); // BINGET 0
    }
    pickle.extend_from_slice(b"l."); // LIST, STOP
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copies.pkl.gz");
    let gzip = GzipWriter::create(&path);
    gzip.finish(&pickle);

    let (error, peak) = load_in_child(
        "many_references_to_one_object_are_refused_before_they_are_copied",
        &path,
    );
    assert!(error.starts_with("TooLarge"), "{error}");
    assert!(error.contains("memo reference"), "{error}");
    // The list: 300 copies of the object, with a byte counted for each value.
    let found = 300 * ((1 << 20) + 1) + 1;
    assert!(
        error.contains(&format!("found: \"{found} bytes")),
        "{error}"
    );
    assert!(peak < REFUSAL_PEAK, "peak {peak} bytes");
}

#[test]
fn the_generated_files_are_valid_gzip() {
    // The writer above, on a size that is quick to check: the decoder verifies the
    // deflate blocks, the CRC and the length in the trailer.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.gz");
    let mut gzip = GzipWriter::create(&path);
    gzip.write(b"head");
    gzip.repeat(&b"N0".repeat(1 << 16), 5);
    gzip.finish(b"tail");
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(File::open(&path).unwrap()),
        &mut decoded,
    )
    .unwrap();
    let expected = [&b"head"[..], &b"N0".repeat(5 << 16), b"tail"].concat();
    assert!(decoded == expected, "{} bytes decoded", decoded.len());
}

#[test]
fn a_full_size_file_in_the_published_layout_passes_the_limits() {
    if child() {
        return;
    }
    // 50,000 + 10,000 + 10,000 images and their int64 labels, pickled as Python 2 did.
    // Zeros: the limits look at sizes and opcodes, not at values.
    let spec = |rows: usize| {
        let array = |shape: Vec<usize>, code: &str, bytes: usize| ArraySpec {
            shape,
            code: code.into(),
            order: "<".into(),
            fortran: false,
            data: vec![0; bytes],
        };
        (
            array(vec![rows, 784], "f4", rows * 784 * 4),
            array(vec![rows], "i8", rows * 8),
        )
    };
    let pickle = py2_pickle(&[spec(50_000), spec(10_000), spec(10_000)]);
    assert!(pickle.len() as u64 > REAL_FILE_BYTES);
    let mnist = Mnist::from_pickle(&pickle[..], "full.pkl").unwrap();
    assert_eq!(mnist.train.images.dim(), (50_000, 784));
    assert_eq!(mnist.test.labels.len(), 10_000);
}
