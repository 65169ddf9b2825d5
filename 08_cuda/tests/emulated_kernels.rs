//! Every CUDA kernel of `kernels/*.cu`, run on the CPU by the emulator in `tests/emulator/`
//! (each thread of a block a fiber, `__syncthreads()` a phase barrier), with the launch
//! configuration the GPU host code uses: the matmul kernels against the float64 reference,
//! the read kernel against the exact sum of its input.
//!
//! This checks index arithmetic, edge handling (sizes that are not multiples of any tile) and
//! barrier placement without a GPU; it says nothing about speed. It needs a C++20 compiler
//! (`$CXX` or `c++`) and `<ucontext.h>` (glibc), and is skipped, with a notice, where they are
//! missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use matmul_cuda::kernel_table::KERNEL_TABLE;
use matmul_cuda::kernels::{Kernel, LaunchConfig, read_launch_config};
use matmul_data::{reference_matmul, relative_error, synthetic};
use ndarray::Array2;

/// The emulator binary, built once per test run; `None` (after a notice) without a compiler.
fn emulator() -> Option<&'static Path> {
    static EMULATOR: OnceLock<Option<(tempfile::TempDir, PathBuf)>> = OnceLock::new();
    EMULATOR
        .get_or_init(|| {
            let compiler = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
            let dir = tempfile::tempdir().expect("a temporary directory");
            let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/emulator");
            let compile = |source: &Path, output: &Path| {
                Command::new(&compiler)
                    .args(["-std=c++20", "-O2", "-w", "-I"])
                    .arg(dir.path())
                    .arg("-o")
                    .arg(output)
                    .arg(source)
                    .output()
            };
            // A compiler that cannot build what the emulator uses (C++17 inline variables,
            // <ucontext.h>) is "no compiler"; one that can but fails on the kernels is a
            // failure of the kernels.
            let probe = dir.path().join("probe.cpp");
            let probe_source = "#include <ucontext.h>\ninline ucontext_t context;\n\
                                int main() { return getcontext(&context); }\n";
            std::fs::write(&probe, probe_source).expect("write the probe");
            let why = match compile(&probe, &dir.path().join("probe")) {
                Ok(out) if out.status.success() => None,
                Ok(out) => {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    let first = stderr.lines().find(|l| l.contains("error")).unwrap_or("");
                    Some(format!(
                        "`{compiler}` cannot build C++20 with <ucontext.h> (glibc has it; \
                         macOS and Windows do not, or not fully): {first}"
                    ))
                }
                Err(error) => Some(format!("no C++ compiler `{compiler}` ({error})")),
            };
            if let Some(why) = why {
                eprintln!("NOTICE: emulated kernel tests skipped: {why}");
                return None;
            }
            // The kernels and their list, from the .cu files themselves.
            let list = Command::new("bash")
                .arg(here.join("kernel_list.sh"))
                .output()
                .expect("run kernel_list.sh");
            assert!(list.status.success(), "kernel_list.sh failed");
            let list = String::from_utf8(list.stdout).expect("UTF-8 from kernel_list.sh");
            assert_lists_the_table(&list);
            std::fs::write(dir.path().join("kernel_list.hpp"), &list)
                .expect("write kernel_list.hpp");
            let binary = dir.path().join("emulator");
            let out = compile(&here.join("driver.cpp"), &binary).expect("run the compiler");
            assert!(
                out.status.success(),
                "the kernels do not compile as C++ under the emulator:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some((dir, binary))
        })
        .as_ref()
        .map(|(_, binary)| binary.as_path())
}

/// The kernels `kernel_list.sh` found in `kernels/*.cu` are exactly the table's entry points:
/// none missed by its scan, none the table lacks.
fn assert_lists_the_table(list: &str) {
    let listed: std::collections::BTreeSet<&str> = list
        .lines()
        .find_map(|line| line.strip_prefix("#define EMU_KERNELS(X)"))
        .expect("an EMU_KERNELS line")
        .split_whitespace()
        .map(|x| x.trim_start_matches("X(").trim_end_matches(')'))
        .collect();
    let table: std::collections::BTreeSet<&str> =
        KERNEL_TABLE.iter().map(|spec| spec.entry_point).collect();
    assert_eq!(listed, table, "kernel_list.sh against the kernel table");
}

fn write_f32(path: &Path, values: &Array2<f32>) {
    let bytes: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).expect("write an input");
}

/// Runs `kernel` on the emulator with the host code's launch configuration; `None` when
/// there is no emulator.
fn run(kernel: Kernel, a: &Array2<f32>, b: &Array2<f32>) -> Option<Array2<f32>> {
    let emulator = emulator()?;
    let ((m, k), n) = (a.dim(), b.ncols());
    let LaunchConfig { grid, block } = kernel.launch_config(m, k, n).expect("a small product");
    assert_eq!((grid.z, block.z), (1, 1), "the driver launches 2-D grids");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (a_path, b_path, c_path) = (
        dir.path().join("a.bin"),
        dir.path().join("b.bin"),
        dir.path().join("c.bin"),
    );
    write_f32(&a_path, a);
    write_f32(&b_path, b);
    let numbers = [grid.x, grid.y, block.x, block.y].map(|x| x.to_string());
    let sizes = [m, n, k].map(|x| x.to_string());
    let out = Command::new(emulator)
        .arg(kernel.entry_point())
        .args(numbers)
        .args(sizes)
        .args([&a_path, &b_path, &c_path])
        .output()
        .expect("run the emulator");
    assert!(
        out.status.success(),
        "emulator failed on {}: {}",
        kernel.name(),
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&c_path).expect("read c");
    let c: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|x| f32::from_le_bytes(x.try_into().expect("4 bytes")))
        .collect();
    Some(Array2::from_shape_vec((m, n), c).expect("m·n floats"))
}

/// Checks `kernel` on fresh inputs of each shape: every element written (the driver poisons
/// c with NaN first) and within the stages' error bound of float64.
fn check(kernel: Kernel, shapes: &[(usize, usize, usize)]) {
    for (case, &(m, k, n)) in shapes.iter().enumerate() {
        let seed = 1000 * case as u64 + kernel as u64;
        let (a, b) = if k == 784 {
            (
                synthetic::mnist_like(m, seed),
                synthetic::weights(k, n, seed + 1),
            )
        } else {
            (
                synthetic::uniform(m, k, seed),
                synthetic::uniform(k, n, seed + 1),
            )
        };
        let Some(c) = run(kernel, &a, &b) else { return };
        let unwritten = c.iter().filter(|x| x.is_nan()).count();
        assert_eq!(
            unwritten,
            0,
            "{}: {unwritten} elements of ({m}, {n}) unwritten",
            kernel.name()
        );
        let error = relative_error(&c, &reference_matmul(a.view(), b.view()));
        assert!(
            error <= matmul_data::conformance::MAX_RELATIVE_ERROR,
            "{} on ({m}, {k}) @ ({k}, {n}): relative error {error:e}",
            kernel.name()
        );
    }
}

/// MNIST's five images, tiny and odd sizes, and sizes one short of or one past each kernel's
/// tiles (16, 32, 128; 4 for the float4 paths).
const SHAPES: &[(usize, usize, usize)] = &[
    (5, 784, 10),
    (1, 1, 1),
    (7, 13, 3),
    (33, 65, 17),
    (127, 129, 31),
    (129, 36, 130),
    (130, 37, 132),
];

/// Products that cross more of the larger kernels' structure: several blocks of MNIST rows,
/// `k` past one staged slice of `b` (256) and spanning several double-buffered tiles with a
/// ragged last one, and widths past one 16-column tile.
const MORE_SHAPES: &[(usize, usize, usize)] = &[
    (300, 784, 10),
    (130, 600, 40),
    (260, 64, 40),
    (200, 203, 260),
    (64, 40, 64),
];

/// Every kernel of the table (a test per kernel would name each kernel here), on every core,
/// each failure reported with its kernel's name.
#[test]
fn every_kernel_on_awkward_shapes() {
    if emulator().is_none() {
        return;
    }
    let failures: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = Kernel::ALL
            .into_iter()
            .map(|kernel| {
                let run = scope.spawn(move || {
                    check(kernel, SHAPES);
                    check(kernel, MORE_SHAPES);
                });
                (kernel, run)
            })
            .collect();
        runs.into_iter()
            .filter_map(|(kernel, run)| run.join().err().map(|_| kernel.name().to_owned()))
            .collect()
    });
    assert!(failures.is_empty(), "failed (messages above): {failures:?}");
}

/// The read kernel's block sums over `x`, launched as the host code launches it on a GPU with
/// `multiprocessors` multiprocessors; `None` when there is no emulator.
fn read_sums(x: &[f32], multiprocessors: u32) -> Option<Vec<f32>> {
    let emulator = emulator()?;
    let LaunchConfig { grid, block } = read_launch_config(x.len(), multiprocessors);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (x_path, sums_path) = (dir.path().join("x.bin"), dir.path().join("sums.bin"));
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&x_path, bytes).expect("write x");
    let out = Command::new(emulator)
        .arg("read_sum")
        .args([grid.x, block.x].map(|v| v.to_string()))
        .arg(x.len().to_string())
        .args([&x_path, &sums_path])
        .output()
        .expect("run the emulator");
    assert!(
        out.status.success(),
        "emulator failed on read_sum: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&sums_path).expect("read the sums");
    Some(
        bytes
            .chunks_exact(4)
            .map(|v| f32::from_le_bytes(v.try_into().expect("4 bytes")))
            .collect(),
    )
}

#[test]
fn read_kernel_reads_every_element_exactly_once() {
    // Small integers, all different from 0, sum exactly in f32: an element skipped or read
    // twice changes the total. Lengths that are not multiples of 4 (the scalar tail), shorter
    // than one float4, and long enough that each thread goes round the grid-stride loop
    // several times (4 and 1 multiprocessors: 32 and 8 blocks of 256 threads).
    for (count, multiprocessors) in [(1, 4), (3, 4), (4, 4), (1027, 4), (100_003, 4), (50_000, 1)] {
        let x: Vec<f32> = (0..count).map(|i| (i % 7 + 1) as f32).collect();
        let Some(sums) = read_sums(&x, multiprocessors) else {
            return;
        };
        assert!(
            sums.iter().all(|s| !s.is_nan()),
            "{count} floats: a block wrote no sum: {sums:?}"
        );
        let expected: u64 = (0..count as u64).map(|i| i % 7 + 1).sum();
        let total: f64 = sums.iter().map(|&s| f64::from(s)).sum();
        assert_eq!(
            total, expected as f64,
            "{count} floats on {multiprocessors} SMs"
        );
    }
}
