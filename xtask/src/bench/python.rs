//! `--python`: the lesson's own methods, timed by Python on the same data and machine.
//!
//! The workloads are written as `.npy` files into a temporary directory, and `python/peers.py`
//! (embedded in this binary) is started on them once, before anything is timed. After each of
//! the CPU's rounds, the bench asks it for a round of its own ([`Peers::round`]), in which it
//! times the lesson's methods and prints one JSON line per result; with `--cuda`, PyTorch on the
//! GPU is asked for once, after the bench's own GPU kernels. The samples of all the rounds are
//! pooled ([`Pooled`]), as the stages' are, so that a ratio of a stage to PyTorch or NumPy
//! compares figures taken at the same moments of the run, not minutes apart while the machine's
//! speed drifts.

use std::io::{BufRead, BufReader, Lines, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
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

/// A line of the script's output: a result, the end of a round, or that it is ready.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Message {
    /// The script has read the workloads and waits for its first round (`true`).
    Ready { ready: bool },
    /// The round of this index (from 0) is over.
    RoundDone { round_done: usize },
    /// A method timed or skipped on a workload.
    Result(Line),
}

/// What the script reported, one item per line.
#[derive(Debug)]
pub enum Outcome {
    /// A method timed on a workload in one round: its record, and the round's samples
    /// (nanoseconds per call), which [`Pooled`] adds to the other rounds' before it sets the
    /// record's median, interval and rate from them all.
    Timed {
        /// The method, workload, median and fastest sample of the round.
        record: Record,
        /// The round's samples, nanoseconds per call.
        samples: Vec<f64>,
        /// The workload's floating-point operations.
        flops: f64,
    },
    /// A method not timed on a workload, and why.
    Skipped(Skipped),
}

/// How long the script may spend, and on what.
#[derive(Clone, Debug)]
pub struct Budget {
    /// The time budget per method and workload, seconds, for the whole run: each of the CPU's
    /// rounds gets its share ([`Request::Cpu`]), the GPU's timing, done once, all of it.
    pub measure_seconds: f64,
    /// The longest single run worth attempting, seconds (longer ones are skipped on an
    /// estimate).
    pub max_run_seconds: f64,
    /// Workloads to time on the GPU only (the squares larger than the CPU's sweep).
    pub gpu_only: Vec<String>,
}

/// The script, running: started once on the workloads, then asked for one round at a time.
pub struct Session {
    child: Child,
    /// The script's input: one line per round. Closing it ends the script.
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// What the script writes on stderr, read as it comes by a thread (a pipe left unread
    /// could fill and stop it), and sent here when the pipe closes: for the error if it fails.
    stderr: Receiver<String>,
    /// The workloads' files, kept until the script has ended.
    _data: tempfile::TempDir,
    /// Each workload's floating-point operations.
    flops: Vec<(String, f64)>,
    /// Rounds asked for so far.
    rounds: usize,
}

/// What a round asks the script to time.
#[derive(Clone, Copy, Debug)]
pub enum Request {
    /// The methods on the CPU, with this share of the budget in seconds.
    Cpu(f64),
    /// PyTorch's `a @ b` on the GPU (`--cuda`), on the whole budget.
    Gpu,
}

impl Session {
    /// Writes `workloads` where the script reads them, starts it with `python`, and waits
    /// until it has loaded them: its imports and reads are over before anything is timed.
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
        let mut stderr_pipe = child.stderr.take().expect("stderr was piped");
        let (send_stderr, stderr) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text); // what could be read is enough
            let _ = send_stderr.send(text); // unless nobody asks any more
        });
        let flops = workloads
            .iter()
            .map(|w| (w.name.clone(), w.flops()))
            .collect();
        let mut session = Session {
            child,
            stdin,
            stdout,
            stderr,
            _data: dir,
            flops,
            rounds: 0,
        };
        match session.next_message() {
            Ok(Message::Ready { ready: true }) => Ok(session),
            Ok(other) => {
                Err(session.abandon(anyhow!("expected it to say it was ready: {other:?}")))
            }
            Err(error) => Err(session.abandon(error)),
        }
    }

    /// The script's next line, parsed.
    fn next_message(&mut self) -> anyhow::Result<Message> {
        let line = self
            .stdout
            .next()
            .context("the Python script ended early")?
            .context("reading the script's output")?;
        serde_json::from_str(&line).map_err(|error| {
            anyhow!("the Python script printed an unexpected line ({error}): {line}")
        })
    }

    /// One round of `request`: calls `report` as each line arrives, and returns at the end of
    /// the round. An error (the script stopped, or printed what it should not) leaves the
    /// session unusable: [`Session::abandon`] it.
    pub fn round(
        &mut self,
        request: Request,
        mut report: impl FnMut(Outcome),
    ) -> anyhow::Result<()> {
        let line = match request {
            Request::Cpu(seconds) => seconds.to_string(),
            Request::Gpu => "gpu".to_owned(),
        };
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .context("the Python script stopped reading")?;
        let round = self.rounds;
        self.rounds += 1;
        loop {
            match self.next_message()? {
                Message::Result(line) => report(to_outcome(line, &self.flops)),
                Message::RoundDone { round_done } if round_done == round => return Ok(()),
                other => bail!("the Python script printed {other:?} in round {round}"),
            }
        }
    }

    /// Closes the script's input, which ends it, and waits: an error if it failed, with what
    /// it printed on stderr.
    pub fn finish(self) -> anyhow::Result<()> {
        let (mut child, stderr) = self.close_pipes();
        let status = child.wait().context("waiting for Python")?;
        if !status.success() {
            bail!(
                "the Python script failed ({status}): {}",
                stderr_text(&stderr).trim()
            );
        }
        Ok(())
    }

    /// Stops the script after `error`, and returns that error with what the script printed on
    /// stderr, its reason, if it died.
    pub fn abandon(self, error: anyhow::Error) -> anyhow::Error {
        // Its pipes closed first: a process the interpreter started (a wrapper's) ends on
        // them even where killing the interpreter does not reach it.
        let (mut child, stderr) = self.close_pipes();
        let _ = child.kill(); // it may have ended already
        let _ = child.wait();
        match stderr_text(&stderr).trim() {
            "" => error,
            stderr => anyhow!("{error:#}; it printed: {stderr}"),
        }
    }

    /// Closes the script's input (which ends it at the end of a round) and its output (nothing
    /// is left to read after a whole round); the process and its stderr, to wait for.
    fn close_pipes(self) -> (Child, Receiver<String>) {
        let Session {
            child,
            stdin,
            stdout,
            stderr,
            ..
        } = self;
        drop((stdin, stdout));
        (child, stderr)
    }
}

/// What the script printed on stderr, once its pipe has closed; nothing if it is still open a
/// second after the script ended (a process it started may hold it).
fn stderr_text(stderr: &Receiver<String>) -> String {
    stderr
        .recv_timeout(Duration::from_secs(1))
        .unwrap_or_default()
}

/// The script's results over all its rounds: each method's samples on each workload pooled,
/// and what it skipped.
#[derive(Debug, Default)]
pub struct Pooled {
    /// A record per method, source and workload, with every sample so far and the workload's
    /// floating-point operations.
    timed: Vec<(Record, Vec<f64>, f64)>,
    skipped: Vec<Skipped>,
}

impl Pooled {
    /// Adds one line's outcome: a later round's samples join the earlier ones'.
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Timed {
                record,
                samples,
                flops,
            } => {
                let same = |(r, _, _): &&mut (Record, Vec<f64>, f64)| {
                    (&r.stage, r.source, &r.workload)
                        == (&record.stage, record.source, &record.workload)
                };
                match self.timed.iter_mut().find(same) {
                    Some((pooled, pooled_samples, _)) => {
                        pooled.min_ns = pooled.min_ns.min(record.min_ns);
                        pooled.samples += record.samples;
                        pooled_samples.extend(samples);
                    }
                    None => self.timed.push((record, samples, flops)),
                }
            }
            Outcome::Skipped(skipped) => self.skipped.push(skipped),
        }
    }

    /// The records, each with the median and 95% interval of its pooled samples (or the
    /// script's median, where it sent no samples) and its rate at that median; and the
    /// skipped.
    pub fn into_results(self) -> (Vec<Record>, Vec<Skipped>) {
        let records = self
            .timed
            .into_iter()
            .map(|(record, samples, flops)| {
                let median_ns = match samples.is_empty() {
                    true => record.median_ns,
                    false => timer::median(samples.clone()),
                };
                let (ci_low_ns, ci_high_ns) = match samples.is_empty() {
                    true => (0.0, 0.0),
                    false => timer::median_interval(&samples),
                };
                Record {
                    median_ns,
                    ci_low_ns,
                    ci_high_ns,
                    samples: if samples.is_empty() {
                        record.samples
                    } else {
                        samples.len()
                    },
                    gflops: if median_ns > 0.0 {
                        flops / median_ns
                    } else {
                        0.0
                    },
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
        (Some(median_ns), _) => Outcome::Timed {
            record: Record {
                stage: line.method,
                source,
                workload: line.workload.clone(),
                median_ns,
                min_ns: line.min_ns.unwrap_or(median_ns),
                samples: line.samples.unwrap_or(0),
                ..Record::default()
            },
            samples: line.sample_ns,
            flops: flops
                .iter()
                .find(|(w, _)| *w == line.workload)
                .map_or(0.0, |(_, f)| *f),
        },
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

/// The Python part of a run: the lesson's methods on the CPU's workloads, timed in rounds
/// between the CPU's ([`Peers::round`]), and with `--cuda` PyTorch's `a @ b` on the GPU.
pub struct Peers {
    /// The running script; `None` once it has failed (what it reported until then stays).
    session: Option<Session>,
    pooled: Pooled,
    /// Each of the CPU's rounds' share of the budget per method and workload, seconds.
    round_seconds: f64,
    /// The CPU's rounds, for the progress messages.
    rounds: usize,
    /// How many CPU rounds Python has been asked for so far.
    asked: usize,
    /// Whether to time PyTorch on the GPU too.
    gpu: bool,
}

impl Peers {
    /// Starts the script on the workloads of `plan` with `python`, and adds its rounds to
    /// `progress`. A failure is reported, and the run goes on without Python's rows.
    pub fn start(
        python: &Path,
        plan: &Plan,
        workloads: &Workloads,
        gpu: bool,
        progress: &ProgressBar,
    ) -> Peers {
        let rounds = plan.rounds.max(1);
        progress.inc_length((rounds + usize::from(gpu)) as u64);
        progress.set_message("python peers: starting");
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
            gpu_only: gpu_only.iter().map(|w| w.name.clone()).collect(),
        };
        let session = Session::start(python, &all, budget)
            .inspect_err(|error| report_failure(progress, error))
            .ok();
        Peers {
            session,
            pooled: Pooled::default(),
            round_seconds: plan.python_measure / rounds as f64,
            rounds,
            asked: 0,
            gpu,
        }
    }

    /// The CPU's methods, for one round's share of the budget, once the bench's own threads
    /// have gone quiet ([`timer::settle`]; the script waits for its own before it ends the
    /// round).
    pub fn round(&mut self, progress: &ProgressBar) {
        self.asked += 1;
        progress.set_message(format!(
            "python peers (round {} of {})",
            self.asked, self.rounds
        ));
        timer::settle();
        self.request(Request::Cpu(self.round_seconds), progress);
    }

    /// Ends the script, after timing PyTorch on the GPU if asked, and puts its rows, pooled
    /// over the rounds, into `results`.
    pub fn into_results(mut self, progress: &ProgressBar, results: &mut Results) {
        if self.gpu {
            progress.set_message("python peers: PyTorch on the GPU");
            self.request(Request::Gpu, progress);
        }
        if let Some(Err(error)) = self.session.take().map(Session::finish) {
            report_failure(progress, &error);
        }
        let (records, skipped) = self.pooled.into_results();
        results.results.extend(records);
        results.skipped.extend(skipped);
    }

    /// One round of `request`, its outcomes pooled; the script stopped if it fails.
    fn request(&mut self, request: Request, progress: &ProgressBar) {
        if let Some(session) = &mut self.session {
            let pooled = &mut self.pooled;
            let outcome = session.round(request, |outcome| {
                if let Outcome::Timed { record, .. } = &outcome {
                    progress
                        .set_message(format!("python: {} on {}", record.stage, record.workload));
                }
                pooled.add(outcome);
            });
            if let Err(error) = outcome {
                let session = self.session.take().expect("it ran the round");
                report_failure(progress, &session.abandon(error));
            }
        }
        progress.inc(1);
    }
}

/// Says, above the progress bar, that the Python peers failed, and why.
fn report_failure(progress: &ProgressBar, error: &anyhow::Error) {
    progress.println(format!("python peers failed: {error:#}"));
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
    fn lines_become_outcomes_and_records_with_gflops() {
        let flops = vec![("mnist5".to_owned(), 78_400.0)];
        let timed: Line = serde_json::from_str(
            r#"{"method": "numpy @", "workload": "mnist5", "median_ns": 3920.0, "min_ns": 3900.0, "samples": 3, "sample_ns": [3900.0, 3920.0, 4000.0]}"#,
        )
        .unwrap();
        let outcome = to_outcome(timed, &flops);
        match &outcome {
            Outcome::Timed {
                record,
                samples,
                flops,
            } => {
                assert_eq!(
                    (record.stage.as_str(), record.source),
                    ("numpy @", Source::Python)
                );
                assert_eq!(
                    (samples.as_slice(), *flops),
                    ([3900.0, 3920.0, 4000.0].as_slice(), 78_400.0)
                );
            }
            other => panic!("{other:?}"),
        }
        let mut pooled = Pooled::default();
        pooled.add(outcome);
        let (records, _) = pooled.into_results();
        let r = &records[0];
        assert!(r.ci_low_ns >= 3900.0 && r.ci_high_ns <= 4000.0, "{r:?}");
        assert!(r.ci_low_ns <= 3920.0 && 3920.0 <= r.ci_high_ns, "{r:?}");
        assert!((r.gflops - 20.0).abs() < 1e-9);
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
            Outcome::Timed { record, .. } => assert_eq!(record.source, Source::Gpu),
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

    /// A stand-in for Python: a shell script that says it is ready, then answers each line of
    /// its input as `body` says, with `$request` the line and `$round` its index.
    #[cfg(unix)]
    fn fake_python(dir: &Path, name: &str, body: &str) -> PathBuf {
        let script = format!(
            "echo '{{\"ready\": true}}'\nround=0\n\
             while read request; do\n{body}\nround=$((round + 1))\ndone"
        );
        shell_script(dir, name, &script)
    }

    /// An executable shell script of `text` at `dir/name`.
    #[cfg(unix)]
    fn shell_script(dir: &Path, name: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{text}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A process that another test forks while the file is still open for writing holds it
        // open until it runs its own program, and until then this one cannot run ("text file
        // busy"): wait for that to pass.
        let runs = (0..100).any(
            |_| match Command::new(&path).stdin(Stdio::null()).output() {
                Err(error) if error.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(Duration::from_millis(10));
                    false
                }
                _ => true,
            },
        );
        assert!(runs, "{} stayed busy for a second", path.display());
        path
    }

    /// A session of [`fake_python`] answering as `body` says, on a 2 × 2 square; with the
    /// directory that holds the script, which must outlive the session.
    #[cfg(unix)]
    fn fake_session(body: &str) -> (tempfile::TempDir, Session) {
        let dir = tempfile::tempdir().unwrap();
        let python = fake_python(dir.path(), "python", body);
        let session = Session::start(&python, &[&Workload::square(2)], budget_for_tests());
        (dir, session.unwrap())
    }

    #[cfg(unix)]
    #[test]
    fn a_session_runs_one_round_per_request_and_ends_with_its_input() {
        // Each round reports its request (in place of a time) and its index, then ends.
        let (_dir, mut session) = fake_session(
            r#"echo "{\"method\": \"m\", \"workload\": \"square-2\", \"median_ns\": $request, \"sample_ns\": [$request, $round]}"
echo "{\"round_done\": $round}""#,
        );
        let mut pooled = Pooled::default();
        session
            .round(Request::Cpu(0.5), |outcome| pooled.add(outcome))
            .unwrap();
        session
            .round(Request::Cpu(0.25), |outcome| pooled.add(outcome))
            .unwrap();
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
    fn a_script_that_fails_is_an_error_naming_why() {
        // Each script, its first round, and what the error must say.
        for (body, says) in [
            // Dies, saying why on stderr (which the error carries once it is abandoned).
            (
                "echo 'no module named numpy' >&2; exit 3",
                "ended early; it printed: no module named numpy",
            ),
            // Prints what is not the protocol's: the error quotes it.
            ("echo 'Traceback (most recent call last):'", "Traceback"),
            // Ends a round that is not the one asked for.
            (r#"echo "{\"round_done\": 7}""#, "in round 0"),
        ] {
            let (_dir, mut session) = fake_session(body);
            let error = session.round(Request::Cpu(0.5), |_| {}).unwrap_err();
            let error = format!("{:#}", session.abandon(error));
            assert!(error.contains(says), "{error}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_script_that_cannot_start_is_an_error_with_its_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let python = shell_script(
            dir.path(),
            "broken",
            "echo 'ImportError: numpy' >&2; exit 1",
        );
        let square = Workload::square(2);
        let error = match Session::start(&python, &[&square], budget_for_tests()) {
            Err(error) => format!("{error:#}"),
            Ok(_) => panic!("a script that exits at once cannot be ready"),
        };
        assert!(
            error.contains("ended early") && error.contains("ImportError"),
            "{error}"
        );
    }

    /// The real script, where a Python with NumPy is found (`MATMUL_TEST_PYTHON`, else
    /// `python3`): rounds on a small square, a later one timing again only what the first
    /// did, and only the methods whose one call fits in its share.
    #[test]
    fn the_script_times_a_round_per_request() {
        let given = std::env::var_os("MATMUL_TEST_PYTHON").map(PathBuf::from);
        let python = choose(given.clone());
        if let Err(why) = probe(&python) {
            // A Python named for the test must work; `python3` may not have NumPy.
            assert!(given.is_none(), "MATMUL_TEST_PYTHON: {why}");
            eprintln!("skipped: {why}");
            return;
        }
        let square = Workload::square(8);
        let budget = Budget {
            measure_seconds: 0.02,
            ..budget_for_tests()
        };
        let mut session = Session::start(&python, &[&square], budget).unwrap();
        // Two rounds of 10 ms, then one of a nanosecond, shorter than any call.
        let rounds: Vec<Vec<Outcome>> = [0.01, 0.01, 1e-9]
            .into_iter()
            .map(|seconds| {
                let mut outcomes = Vec::new();
                session
                    .round(Request::Cpu(seconds), |outcome| outcomes.push(outcome))
                    .unwrap();
                outcomes
            })
            .collect();
        // PyTorch on the GPU: one line for the square, a time or why not (no GPU, no torch).
        let mut gpu = Vec::new();
        session
            .round(Request::Gpu, |outcome| gpu.push(outcome))
            .unwrap();
        session.finish().unwrap();
        let on_gpu = |o: &Outcome| match o {
            Outcome::Timed { record, .. } => record.source == Source::Gpu,
            Outcome::Skipped(skipped) => skipped.source == Source::Gpu,
        };
        assert!(gpu.len() == 1 && on_gpu(&gpu[0]), "{gpu:?}");
        let timed = |outcomes: &[Outcome]| -> Vec<(String, usize)> {
            outcomes
                .iter()
                .filter_map(|o| match o {
                    Outcome::Timed {
                        record, samples, ..
                    } => Some((record.stage.clone(), samples.len())),
                    Outcome::Skipped(_) => None,
                })
                .collect()
        };
        let (first, second) = (timed(&rounds[0]), timed(&rounds[1]));
        assert!(
            first.iter().any(|(method, _)| method == "numpy @"),
            "{first:?}"
        );
        let names = |t: &[(String, usize)]| t.iter().map(|(m, _)| m.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&first),
            names(&second),
            "the same methods, round after round"
        );
        assert!(
            second.iter().all(|&(_, samples)| samples >= 3),
            "{second:?}"
        );
        // What is skipped (torch or numba where not installed) is said once, in the first.
        assert!(rounds[1].iter().all(|o| matches!(o, Outcome::Timed { .. })));
        assert!(rounds[2].is_empty(), "{:?}", rounds[2]);
    }

    fn budget_for_tests() -> Budget {
        Budget {
            measure_seconds: 1.0,
            max_run_seconds: 5.0,
            gpu_only: Vec::new(),
        }
    }
}
