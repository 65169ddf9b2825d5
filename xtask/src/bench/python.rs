//! `--python`: the lesson's own methods, timed by Python on the same data and machine.
//!
//! The workloads are written as `.npy` files into a temporary directory, and `python/peers.py`
//! (embedded in this binary) is started once on them. After each of the CPU's rounds, the bench
//! asks it for a round of its own ([`Peers::round`]): it times each method on each workload and
//! prints one JSON line per result. The samples of all the rounds are pooled, as the stages' are,
//! so that a ratio of a stage to PyTorch or NumPy compares figures taken at the same moments of
//! the run, not minutes apart while the machine's speed drifts.

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

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

/// A line of the script's output: a result, or the end of a round.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Message {
    /// The round of this index (from 0) is over.
    RoundDone { round_done: usize },
    /// A method timed or skipped on a workload.
    Result(Line),
}

/// What the script reported, one item per line.
#[derive(Debug)]
pub enum Outcome {
    /// A method timed on a workload: its record for this round, and the round's samples
    /// (nanoseconds per call), which [`Pooled`] adds to the other rounds'.
    Timed(Record, Vec<f64>),
    /// A method not timed on a workload, and why.
    Skipped(Skipped),
}

/// How long the script may spend, and on what.
#[derive(Clone, Debug)]
pub struct Budget {
    /// The time budget per method and workload, seconds, for the whole run: each round gets
    /// its share ([`Session::round`]), the GPU's timing, done once, all of it.
    pub measure_seconds: f64,
    /// The longest single run worth attempting, seconds (longer ones are skipped on an
    /// estimate).
    pub max_run_seconds: f64,
    /// Whether to time PyTorch on the GPU too (`--cuda`).
    pub gpu: bool,
    /// Workloads to time on the GPU only (the squares larger than the CPU's sweep).
    pub gpu_only: Vec<String>,
}

/// The script, running: started once on the workloads, then asked for one round at a time.
pub struct Session {
    child: Child,
    /// The script's input: one line per round. Closing it ends the script.
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    /// The workloads' files, kept until the script has ended.
    _data: tempfile::TempDir,
    /// Each workload's floating-point operations.
    flops: Vec<(String, f64)>,
    /// Rounds asked for so far.
    rounds: usize,
}

impl Session {
    /// Writes `workloads` where the script reads them and starts it, with `python`.
    pub fn start(python: &Path, workloads: &[&Workload], budget: Budget) -> anyhow::Result<Self> {
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
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", python.display()))?;
        let stdin = child.stdin.take().expect("stdin was piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout was piped")).lines();
        let flops = workloads
            .iter()
            .map(|w| (w.name.clone(), w.flops()))
            .collect();
        Ok(Session {
            child,
            stdin: Some(stdin),
            stdout,
            _data: dir,
            flops,
            rounds: 0,
        })
    }

    /// One round, of `seconds` per method and workload: calls `report` as each line arrives,
    /// and returns at the end of the round. An error (the script stopped, or printed what it
    /// should not) leaves the session unusable: [`Session::finish`] says why the script ended.
    pub fn round(&mut self, seconds: f64, mut report: impl FnMut(Outcome)) -> anyhow::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .context("the script's input is closed")?;
        writeln!(stdin, "{seconds}")
            .and_then(|()| stdin.flush())
            .context("the Python script stopped reading")?;
        let round = self.rounds;
        self.rounds += 1;
        loop {
            let line = self
                .stdout
                .next()
                .context("the Python script ended in the middle of a round")?
                .context("reading the script's output")?;
            match serde_json::from_str(&line) {
                Ok(Message::RoundDone { round_done }) if round_done == round => return Ok(()),
                Ok(Message::Result(line)) => report(to_outcome(line, &self.flops)),
                Ok(Message::RoundDone { round_done }) => {
                    bail!("the Python script ended round {round_done} where {round} was running")
                }
                Err(error) => {
                    bail!("the Python script printed an unexpected line ({error}): {line}")
                }
            }
        }
    }

    /// Closes the script's input, which ends it, and waits: an error if it failed, with what
    /// it printed on stderr.
    pub fn finish(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        // What is left of stdout (nothing, unless a round stopped early) is not needed.
        drop(self.stdout);
        let output = self
            .child
            .wait_with_output()
            .context("waiting for Python")?;
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
}

/// The script's results over all the rounds: each method's samples on each workload pooled, and
/// what it skipped.
#[derive(Debug, Default)]
pub struct Pooled {
    /// A record per method, source and workload, with every sample so far.
    timed: Vec<(Record, Vec<f64>)>,
    skipped: Vec<Skipped>,
}

impl Pooled {
    /// Adds one line's outcome: a later round's samples join the earlier ones'.
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Timed(record, samples) => {
                let same = |(r, _): &&mut (Record, Vec<f64>)| {
                    (&r.stage, r.source, &r.workload)
                        == (&record.stage, record.source, &record.workload)
                };
                match self.timed.iter_mut().find(same) {
                    Some((pooled, pooled_samples)) => {
                        pooled.min_ns = pooled.min_ns.min(record.min_ns);
                        pooled.samples += record.samples;
                        pooled_samples.extend(samples);
                    }
                    None => self.timed.push((record, samples)),
                }
            }
            Outcome::Skipped(skipped) => self.skipped.push(skipped),
        }
    }

    /// The records, each with the median and interval of its pooled samples, and the skipped.
    pub fn into_results(self) -> (Vec<Record>, Vec<Skipped>) {
        let records = self
            .timed
            .into_iter()
            .map(|(record, samples)| {
                if samples.is_empty() {
                    return record; // one line's median, without its samples
                }
                let work = record.gflops * record.median_ns;
                let median_ns = timer::median(samples.clone());
                let (ci_low_ns, ci_high_ns) = timer::median_interval(&samples);
                Record {
                    median_ns,
                    ci_low_ns,
                    ci_high_ns,
                    samples: samples.len(),
                    gflops: work / median_ns,
                    ..record
                }
            })
            .collect();
        (records, self.skipped)
    }
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
            let record = Record {
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
            };
            Outcome::Timed(record, line.sample_ns)
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
/// PyTorch's `a @ b` on the GPU too, timed in rounds between the CPU's ([`Peers::round`]).
pub struct Peers {
    /// The running script; `None` once it has failed (what it reported until then stays).
    session: Option<Session>,
    pooled: Pooled,
    /// Each round's share of the budget per method and workload, seconds.
    round_seconds: f64,
}

/// A pause on each side of Python's rounds: threads that have just finished a product spin a
/// while before they sleep (the stages' helpers a millisecond, PyTorch's a few), and would
/// share a core with whatever is timed next.
const SETTLE: Duration = Duration::from_millis(50);

impl Peers {
    /// Starts the script on the workloads of `plan` with `python` (a failure is reported, and
    /// the run goes on without Python's rows).
    pub fn start(
        python: &Path,
        plan: &Plan,
        workloads: &Workloads,
        gpu: bool,
        progress: &ProgressBar,
    ) -> Peers {
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
        let session = Session::start(python, &all, budget)
            .inspect_err(|error| progress.println(format!("python peers failed: {error:#}")))
            .ok();
        Peers {
            session,
            pooled: Pooled::default(),
            round_seconds: plan.python_measure / plan.rounds.max(1) as f64,
        }
    }

    /// One round of the script, between two pauses ([`SETTLE`]).
    pub fn round(&mut self, progress: &ProgressBar) {
        progress.inc(1);
        let Some(session) = &mut self.session else {
            return;
        };
        std::thread::sleep(SETTLE);
        let pooled = &mut self.pooled;
        let outcome = session.round(self.round_seconds, |outcome| {
            if let Outcome::Timed(record, _) = &outcome {
                progress.set_message(format!("python: {} on {}", record.stage, record.workload));
            }
            pooled.add(outcome);
        });
        if let Err(error) = outcome {
            progress.println(format!("python peers failed: {error:#}"));
            self.finish(progress);
        }
        std::thread::sleep(SETTLE);
    }

    /// Ends the script, if it still runs (reporting how it failed, if it did).
    fn finish(&mut self, progress: &ProgressBar) {
        if let Some(Err(error)) = self.session.take().map(Session::finish) {
            progress.println(format!("python peers failed: {error:#}"));
        }
    }

    /// Ends the script and puts its rows, pooled over the rounds, into `results`.
    pub fn into_results(mut self, progress: &ProgressBar, results: &mut Results) {
        self.finish(progress);
        let (records, skipped) = std::mem::take(&mut self.pooled).into_results();
        results.results.extend(records);
        results.skipped.extend(skipped);
    }
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
            Outcome::Timed(r, samples) => {
                assert_eq!((r.stage.as_str(), r.source), ("numpy @", Source::Python));
                assert_eq!(samples, [3900.0, 3920.0, 4000.0]);
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
            Outcome::Timed(r, _) => assert_eq!(r.source, Source::Gpu),
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

    /// A line of the script's output for `method` on `mnist5` (78,400 flops) with `samples`.
    fn timed_line(method: &str, samples: &[f64]) -> Outcome {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let line = Line {
            method: method.into(),
            workload: "mnist5".into(),
            median_ns: Some(sorted[sorted.len() / 2]),
            min_ns: Some(sorted[0]),
            samples: Some(samples.len()),
            sample_ns: samples.to_vec(),
            skipped: None,
            device: None,
        };
        to_outcome(line, &[("mnist5".to_owned(), 78_400.0)])
    }

    #[test]
    fn rounds_are_pooled_per_method_and_workload() {
        let mut pooled = Pooled::default();
        // Round 0 finds the machine fast, round 1 slow: the pooled median lies between.
        pooled.add(timed_line("numpy @", &[1000.0, 1010.0, 1020.0]));
        pooled.add(timed_line("torch.matmul", &[500.0, 510.0, 520.0]));
        pooled.add(Outcome::Skipped(Skipped {
            stage: "numba dot".into(),
            source: Source::Python,
            workload: "mnist5".into(),
            reason: "numba is not installed".into(),
        }));
        pooled.add(timed_line("numpy @", &[1200.0, 1210.0, 1220.0, 1230.0]));
        let (records, skipped) = pooled.into_results();
        assert_eq!(skipped.len(), 1);
        assert_eq!(records.len(), 2, "{records:?}");
        let numpy = &records[0];
        assert_eq!((numpy.stage.as_str(), numpy.samples), ("numpy @", 7));
        assert_eq!(numpy.median_ns, 1200.0); // the 4th of the 7 pooled samples
        assert_eq!(numpy.min_ns, 1000.0);
        assert!(
            numpy.ci_low_ns <= 1200.0 && 1200.0 <= numpy.ci_high_ns,
            "{numpy:?}"
        );
        assert!((numpy.gflops - 78_400.0 / 1200.0).abs() < 1e-9);
        // A method timed in one round only keeps that round's figures.
        assert_eq!((records[1].median_ns, records[1].samples), (510.0, 3));
    }

    /// A stand-in for Python: a shell script that answers each round as `body` says, with
    /// `$round` the round's index and `$seconds` its budget.
    #[cfg(unix)]
    fn fake_python(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("fake-python");
        let script = format!(
            "#!/bin/sh\nround=0\nwhile read seconds; do\n{body}\nround=$((round + 1))\ndone\n"
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[cfg(unix)]
    fn budget() -> Budget {
        Budget {
            measure_seconds: 1.0,
            max_run_seconds: 5.0,
            gpu: false,
            gpu_only: Vec::new(),
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_session_runs_one_round_per_request_and_ends_with_its_input() {
        let dir = tempfile::tempdir().unwrap();
        // Each round reports its budget (in place of a time) and its index, then ends.
        let python = fake_python(
            dir.path(),
            r#"echo "{\"method\": \"m\", \"workload\": \"square-2\", \"median_ns\": $seconds, \"sample_ns\": [$seconds, $round]}"
echo "{\"round_done\": $round}""#,
        );
        let square = Workload::square(2);
        let mut session = Session::start(&python, &[&square], budget()).unwrap();
        let mut pooled = Pooled::default();
        session.round(0.5, |outcome| pooled.add(outcome)).unwrap();
        session.round(0.25, |outcome| pooled.add(outcome)).unwrap();
        session.finish().unwrap();
        let (records, _) = pooled.into_results();
        assert_eq!(records.len(), 1, "{records:?}");
        // Two rounds, each with its own budget and index: 0.5, 0, then 0.25, 1, whose median
        // is halfway between the middle two.
        assert_eq!((records[0].samples, records[0].median_ns), (4, 0.375));
        assert_eq!(records[0].min_ns, 0.25);
    }

    #[cfg(unix)]
    #[test]
    fn a_script_that_stops_mid_round_is_an_error_naming_why() {
        let dir = tempfile::tempdir().unwrap();
        let python = fake_python(dir.path(), "echo 'no module named numpy' >&2; exit 3");
        let square = Workload::square(2);
        let mut session = Session::start(&python, &[&square], budget()).unwrap();
        let error = session.round(0.5, |_| panic!("no output")).unwrap_err();
        assert!(
            format!("{error:#}").contains("ended in the middle of a round"),
            "{error:#}"
        );
        let error = session.finish().unwrap_err();
        assert!(
            format!("{error:#}").contains("no module named numpy"),
            "{error:#}"
        );
        // A line that is not the protocol's is an error too, quoting it.
        let python = fake_python(dir.path(), "echo 'Traceback (most recent call last):'");
        let mut session = Session::start(&python, &[&square], budget()).unwrap();
        let error = session.round(0.5, |_| {}).unwrap_err();
        assert!(format!("{error:#}").contains("Traceback"), "{error:#}");
    }
}
