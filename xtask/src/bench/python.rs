//! `--python`: the lesson's own methods, timed by Python on the same data and machine.
//!
//! The workloads are written as `.npy` files into a temporary directory, `python/peers.py`
//! (embedded in this binary) times each method on them and prints one JSON line per result.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use ndarray::Array2;
use serde::Deserialize;

use indicatif::ProgressBar;

use super::plan::{Plan, Workloads};
use super::results::{Record, Results, Skipped, Source};
use super::timer;
use super::workload::Workload;

/// The script, shipped inside the binary so the bench runs from anywhere.
const SCRIPT: &str = include_str!("../../python/peers.py");

/// Checks that `python` runs and has NumPy; returns its version line, or why it is unusable.
pub fn probe(python: &Path) -> Result<String, String> {
    let output = Command::new(python)
        .args([
            "-c",
            "import sys, numpy; print(sys.version.split()[0], 'numpy', numpy.__version__)",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("no output");
        return Err(format!("{} cannot import numpy: {last}", python.display()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// One line of the script's output.
#[derive(Debug, Deserialize)]
struct Line {
    method: String,
    workload: String,
    median_ns: Option<f64>,
    min_ns: Option<f64>,
    samples: Option<usize>,
    /// Every sample, nanoseconds per call: the interval of the median is bootstrapped here,
    /// as for the stages.
    #[serde(default)]
    sample_ns: Vec<f64>,
    skipped: Option<String>,
    /// `"gpu"` for PyTorch on the GPU; the CPU otherwise.
    #[serde(default)]
    device: Option<String>,
}

/// What the script reported, one item per line.
#[derive(Debug)]
pub enum Outcome {
    /// A method timed on a workload.
    Timed(Record),
    /// A method not timed on a workload, and why.
    Skipped(Skipped),
}

/// How long the script may spend, and on what.
#[derive(Clone, Debug)]
pub struct Budget {
    /// The time budget per method and workload, seconds.
    pub measure_seconds: f64,
    /// The longest single run worth attempting, seconds (longer ones are skipped on an
    /// estimate).
    pub max_run_seconds: f64,
    /// Whether to time PyTorch on the GPU too (`--cuda`).
    pub gpu: bool,
    /// Workloads to time on the GPU only (the squares larger than the CPU's sweep).
    pub gpu_only: Vec<String>,
}

/// Runs the script on `workloads`, calling `report` as each line arrives.
pub fn run(
    python: &Path,
    workloads: &[&Workload],
    budget: Budget,
    mut report: impl FnMut(Outcome),
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("creating a temporary directory for the data")?;
    for workload in workloads {
        for (suffix, array) in [("a", &workload.a), ("b", &workload.b)] {
            let path = dir.path().join(format!("{}_{suffix}.npy", workload.name));
            write_npy(&path, array)?;
        }
    }
    let script = dir.path().join("peers.py");
    std::fs::write(&script, SCRIPT).with_context(|| format!("writing {}", script.display()))?;
    let mut child = Command::new(python)
        .arg(&script)
        .arg(dir.path())
        .arg(budget.measure_seconds.to_string())
        .arg(budget.max_run_seconds.to_string())
        .args(budget.gpu.then_some("--gpu"))
        .args(
            (!budget.gpu_only.is_empty())
                .then(|| format!("--gpu-only={}", budget.gpu_only.join(","))),
        )
        .args(workloads.iter().map(|w| w.name.as_str()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", python.display()))?;
    let flops: Vec<(String, f64)> = workloads
        .iter()
        .map(|w| (w.name.clone(), w.flops()))
        .collect();
    let stdout = child.stdout.take().expect("stdout was piped");
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading the script's output")?;
        let parsed: Line = serde_json::from_str(&line)
            .with_context(|| format!("the Python script printed an unexpected line: {line}"))?;
        report(to_outcome(parsed, &flops));
    }
    let output = child.wait_with_output().context("waiting for Python")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!(
            "the Python script failed ({}): {}",
            output.status,
            stderr.trim()
        );
    }
    Ok(())
}

fn to_outcome(line: Line, flops: &[(String, f64)]) -> Outcome {
    // PyTorch on the GPU is measured as the GPU's rows are (CUDA events, operands on the
    // device), and read against the GPU's floors.
    let source = match line.device.as_deref() {
        Some("gpu") => Source::Gpu,
        _ => Source::Python,
    };
    match (line.median_ns, line.skipped) {
        (Some(median_ns), _) => {
            let work = flops
                .iter()
                .find(|(w, _)| *w == line.workload)
                .map_or(0.0, |(_, f)| *f);
            let (ci_low_ns, ci_high_ns) = if line.sample_ns.is_empty() {
                (0.0, 0.0)
            } else {
                timer::median_interval(&line.sample_ns)
            };
            Outcome::Timed(Record {
                stage: line.method,
                source,
                workload: line.workload,
                median_ns,
                ci_low_ns,
                ci_high_ns,
                min_ns: line.min_ns.unwrap_or(median_ns),
                samples: line.samples.unwrap_or(0),
                gflops: work / median_ns,
                ..Record::default()
            })
        }
        (None, reason) => Outcome::Skipped(Skipped {
            stage: line.method,
            source,
            workload: line.workload,
            reason: reason.unwrap_or_else(|| "no time reported".into()),
        }),
    }
}

/// Writes `array` as a NumPy `.npy` file (format 1.0, little-endian `float32`, C order).
pub fn write_npy(path: &Path, array: &Array2<f32>) -> anyhow::Result<()> {
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    file.write_all(&npy_header(array.dim()))?;
    for value in array.iter() {
        file.write_all(&value.to_le_bytes())?;
    }
    file.flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// The `.npy` header: magic, version 1.0, header length, and a dict padded with spaces to a
/// multiple of 64 bytes, ending in a newline.
fn npy_header((rows, cols): (usize, usize)) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let unpadded = 10 + dict.len() + 1;
    let padding = unpadded.next_multiple_of(64) - unpadded;
    let header = format!("{dict}{}\n", " ".repeat(padding));
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes
}

/// The Python to use: the path given, else `python3` on the `PATH`.
pub fn choose(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| PathBuf::from("python3"))
}

/// The Python to time the lesson's methods with, if `--python` was given and it works.
pub fn to_use(given: Option<PathBuf>) -> Option<PathBuf> {
    let path = choose(Some(given?));
    match probe(&path) {
        Ok(version) => {
            println!("python peers: {} (Python {version})", path.display());
            Some(path)
        }
        Err(reason) => {
            println!("python peers: none ({reason}); no Python rows");
            None
        }
    }
}

/// The Python part of a run: the lesson's methods on the CPU's workloads, and with `gpu`
/// PyTorch's `a @ b` on the GPU too.
pub fn run_peers(
    python: &Path,
    plan: &Plan,
    workloads: &Workloads,
    gpu: bool,
    progress: &ProgressBar,
    results: &mut Results,
) {
    progress.set_message("python peers");
    let mut all = vec![&workloads.mnist5, &workloads.mnist50k];
    all.extend(workloads.squares.iter());
    all.extend(workloads.shapes.iter());
    // The GPU's larger squares, for PyTorch on the GPU only.
    let gpu_only: Vec<Workload> = if gpu {
        plan.gpu_square_sizes()
            .into_iter()
            .filter(|&n| workloads.squares.iter().all(|w| w.dims() != (n, n, n)))
            .map(Workload::square)
            .collect()
    } else {
        Vec::new()
    };
    all.extend(gpu_only.iter());
    let budget = Budget {
        measure_seconds: plan.python_measure,
        max_run_seconds: plan.max_run,
        gpu,
        gpu_only: gpu_only.iter().map(|w| w.name.clone()).collect(),
    };
    let outcome = run(python, &all, budget, |outcome| match outcome {
        Outcome::Timed(record) => {
            progress.set_message(format!("python: {} on {}", record.stage, record.workload));
            results.results.push(record);
        }
        Outcome::Skipped(skipped) => results.skipped.push(skipped),
    });
    if let Err(error) = outcome {
        progress.println(format!("python peers failed: {error:#}"));
    }
    progress.inc(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_describes_the_array() {
        let header = npy_header((5, 784));
        assert_eq!(header.len() % 64, 0);
        assert!(header.starts_with(b"\x93NUMPY\x01\x00"));
        let text = String::from_utf8_lossy(&header[10..]);
        assert!(text.contains("'shape': (5, 784)"));
        assert!(text.ends_with('\n'));
        let declared = u16::from_le_bytes([header[8], header[9]]) as usize;
        assert_eq!(declared + 10, header.len());
    }

    #[test]
    fn lines_become_records_with_gflops() {
        let flops = vec![("mnist5".to_owned(), 78_400.0)];
        let timed: Line = serde_json::from_str(
            r#"{"method": "numpy @", "workload": "mnist5", "median_ns": 3920.0, "min_ns": 3900.0, "samples": 3, "sample_ns": [3900.0, 3920.0, 4000.0]}"#,
        )
        .unwrap();
        match to_outcome(timed, &flops) {
            Outcome::Timed(r) => {
                assert_eq!((r.stage.as_str(), r.source), ("numpy @", Source::Python));
                assert!(r.ci_low_ns >= 3900.0 && r.ci_high_ns <= 4000.0, "{r:?}");
                assert!(r.ci_low_ns <= 3920.0 && 3920.0 <= r.ci_high_ns, "{r:?}");
                assert!((r.gflops - 20.0).abs() < 1e-9);
            }
            other => panic!("{other:?}"),
        }
        let skipped: Line = serde_json::from_str(
            r#"{"method": "numba dot", "workload": "mnist5", "skipped": "numba is not installed"}"#,
        )
        .unwrap();
        assert!(
            matches!(to_outcome(skipped, &flops), Outcome::Skipped(s) if s.reason.contains("numba"))
        );
    }

    #[test]
    fn gpu_lines_become_gpu_rows() {
        let flops = vec![("mnist5".to_owned(), 78_400.0)];
        let line = |json: &str| -> Line { serde_json::from_str(json).unwrap() };
        let timed = line(
            r#"{"method": "torch.matmul", "workload": "mnist5", "device": "gpu", "median_ns": 7840.0}"#,
        );
        match to_outcome(timed, &flops) {
            Outcome::Timed(r) => assert_eq!(r.source, Source::Gpu),
            other => panic!("{other:?}"),
        }
        let skipped = line(
            r#"{"method": "torch.matmul", "workload": "mnist5", "device": "gpu", "skipped": "PyTorch sees no CUDA device"}"#,
        );
        match to_outcome(skipped, &flops) {
            Outcome::Skipped(s) => assert_eq!(
                (s.source, s.reason.as_str()),
                (Source::Gpu, "PyTorch sees no CUDA device")
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_python_is_reported_not_fatal() {
        let reason = probe(Path::new("/nonexistent/python3")).unwrap_err();
        assert!(reason.contains("/nonexistent/python3"), "{reason}");
    }
}
