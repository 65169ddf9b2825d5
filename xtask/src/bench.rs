//! `cargo xtask bench`: time every stage on the lesson's workloads, against the floor and the
//! lesson's own Python, and write the table and the charts.
//!
//! The run, in order:
//!
//! 1. the lesson's data: 50,000 images (real MNIST when it can be loaded without the network,
//!    otherwise synthetic data of the same shape and density — the machine line says which);
//! 2. every stage of `matmul_cuda::stages()` on `mnist5`, then on `mnist50k` unless one run
//!    would take longer than the limit (estimated from the five-image time), each result
//!    checked against the GEMM before it is timed;
//! 3. the floor of `mnist50k`: one streaming read of its 157 MB input with every core;
//! 4. the square sweep `(N, N) @ (N, N)`, each stage up to the size its speed allows;
//! 5. with `--python`, the lesson's methods on the same data;
//! 6. `target/bench/results.json`, `BENCHMARKS.md`, `speedup.svg` and `square.svg`.
//!
//! The timing is [`measure`]'s: median of samples after a warm-up. The same workloads are also
//! criterion benches (`cargo bench -p xtask`), for criterion's statistics and change reports;
//! this command runs its own sampler so that one binary, carried to any machine, covers stages
//! from a microsecond to seconds within a fixed budget and knows every median it took.

mod chart;
mod floor;
mod measure;
mod python;
mod report;
mod workload;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use matmul_cuda::Stage;
use matmul_data::relative_error;

use measure::Settings;
use report::{Floor, Machine, Record, Results, Skipped};
use workload::{LessonData, MNIST5, MNIST50K, SQUARE_SIZES, TRAINING_IMAGES, Workload};

/// Options of `cargo xtask bench`.
///
/// Writes `results.json`, `BENCHMARKS.md`, `speedup.svg` and `square.svg` to `--out`. The
/// OpenBLAS stage is included when built with
/// `cargo run --release -p xtask --features openblas -- bench`.
#[derive(Debug, Args)]
#[command(
    after_help = "Writes results.json, BENCHMARKS.md, speedup.svg and square.svg to --out. \
Workloads: mnist5 = (5, 784) @ (784, 10), mnist50k = (50000, 784) @ (784, 10), \
square-N = (N, N) @ (N, N) for N = 64 to 2048. Floors: one streaming read of mnist50k's input \
with every core; the fastest GEMM in the run for square-N. \
The OpenBLAS stage needs a build with the feature: \
cargo run --release -p xtask --features openblas -- bench"
)]
pub struct BenchArgs {
    /// Short run for smoke tests and CI (under a minute): short budgets, squares up to 512,
    /// one run on 50,000 images limited to 0.5 s.
    #[arg(long)]
    pub quick: bool,

    /// Also time the lesson's Python methods (loops, numba, torch, NumPy) on the same data.
    /// PATH is the Python interpreter (default: `python3` on the PATH); it needs numpy, and
    /// torch and numba for their methods. Without a usable Python: a notice and no rows.
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "python3")]
    pub python: Option<PathBuf>,

    /// Time only the stages whose names contain one of these (repeatable); the naive loop is
    /// always timed, as the baseline of the speedups.
    #[arg(long, value_name = "NAME")]
    pub stage: Vec<String>,

    /// Longest single run, in seconds, worth timing on a large workload (others are skipped
    /// on an estimate, and the table says so) [default: 5, or 0.5 with --quick].
    #[arg(long, value_name = "SECONDS")]
    pub max_run: Option<f64>,

    /// Also put the generated table into README.md (between its `cargo xtask bench --readme`
    /// markers), so that the README shows a real run, never a hand-edited one.
    #[arg(long)]
    pub readme: bool,

    /// Where to write the results [default: target/bench under the workspace root].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// How much time each part of a run gets.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Sampling for one stage on one workload.
    settings: Settings,
    /// Longest single run worth timing on `mnist50k`, seconds.
    max_run: f64,
    /// Longest single run worth timing on a square workload, seconds.
    max_square_run: f64,
    /// Largest square size.
    max_square: usize,
    /// Python's time budget per method and workload, seconds.
    python_measure: f64,
}

impl Plan {
    fn new(quick: bool, max_run: Option<f64>) -> Plan {
        if quick {
            Plan {
                settings: Settings {
                    warm_up: Duration::from_millis(20),
                    measure: Duration::from_millis(100),
                    min_samples: 3,
                    max_samples: 50,
                },
                max_run: max_run.unwrap_or(0.5),
                max_square_run: 0.05,
                max_square: 512,
                python_measure: 0.1,
            }
        } else {
            Plan {
                settings: Settings {
                    warm_up: Duration::from_millis(300),
                    measure: Duration::from_millis(1500),
                    min_samples: 5,
                    max_samples: 100,
                },
                max_run: max_run.unwrap_or(5.0),
                max_square_run: 1.0,
                max_square: *SQUARE_SIZES.last().expect("sizes"),
                python_measure: 1.5,
            }
        }
    }
}

/// Runs the bench.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let plan = Plan::new(args.quick, args.max_run);
    let out_dir = args.out.clone().unwrap_or_else(default_out_dir);
    let stages: Vec<Stage> = matmul_cuda::stages()
        .into_iter()
        .filter(|s| {
            s.name == "naive"
                || args.stage.is_empty()
                || args.stage.iter().any(|f| s.name.contains(f.as_str()))
        })
        .collect();
    let python = args.python.clone().map(|p| python::choose(Some(p)));
    let python = match python.as_deref().map(|p| (p, python::probe(p))) {
        Some((path, Ok(version))) => {
            println!("python peers: {} (Python {version})", path.display());
            Some(path.to_owned())
        }
        Some((_, Err(reason))) => {
            println!("python peers: none ({reason}); no Python rows");
            None
        }
        None => None,
    };

    let data = lesson_data();
    println!("data: {}", data.source);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut results = Results {
        machine: machine(&data, threads, args.quick),
        ..Results::default()
    };
    println!(
        "machine: {} · {} logical CPUs · {}",
        results.machine.cpu, results.machine.cores, results.machine.rustc
    );

    let mnist5 = Workload::lesson(MNIST5, &data, 5);
    let mnist50k = Workload::lesson(MNIST50K, &data, TRAINING_IMAGES);
    let squares: Vec<Workload> = SQUARE_SIZES
        .iter()
        .filter(|&&n| n <= plan.max_square)
        .map(|&n| Workload::square(n))
        .collect();

    // One step per stage and workload, plus the floor, plus Python.
    let steps = stages.len() * (2 + squares.len()) + 1 + usize::from(python.is_some());
    let progress = ProgressBar::new(steps as u64).with_style(
        ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );

    // The lesson's workloads: five images, then all of them if the stage is fast enough.
    let reference5 = matmul_cuda::blas::matmul(mnist5.a.view(), mnist5.b.view());
    let reference50k = matmul_cuda::blas::matmul(mnist50k.a.view(), mnist50k.b.view());
    // The floor is measured between the stages, a short measurement after each, and the
    // median of those is the floor: whatever else the machine does during the run, the floor
    // saw the same conditions as the stages, not one moment of them.
    let images = data.images.as_slice().expect("a standard-layout array");
    let floor_settings = Settings {
        measure: plan.settings.measure / 4,
        ..plan.settings
    };
    let mut floor_medians = Vec::new();
    for stage in &stages {
        progress.set_message(format!("{} on {MNIST5}", stage.name));
        let five = time_stage(stage, &mnist5, &reference5, plan.settings, &mut results);
        progress.inc(1);
        progress.set_message(format!("{} on {MNIST50K}", stage.name));
        match five {
            Some(five_ns) => {
                let estimate = five_ns * 1e-9 * (TRAINING_IMAGES / 5) as f64;
                if estimate > plan.max_run {
                    results.skipped.push(Skipped {
                        stage: stage.name.into(),
                        workload: MNIST50K.into(),
                        reason: format!(
                            "one run would take about {:.0} s (10,000 × its 5-image time; \
                             limit {} s)",
                            estimate, plan.max_run
                        ),
                    });
                } else {
                    let settings = settings_for(plan.settings, estimate);
                    time_stage(stage, &mnist50k, &reference50k, settings, &mut results);
                    progress.set_message("floor: one streaming read of x");
                    let floor =
                        measure::time(floor_settings, || floor::stream_read(images, threads));
                    floor_medians.push(floor.median_ns);
                }
            }
            None => results.skipped.push(Skipped {
                stage: stage.name.into(),
                workload: MNIST50K.into(),
                reason: "wrong result on 5 images".into(),
            }),
        }
        progress.inc(1);
    }

    if floor_medians.is_empty() {
        progress.set_message("floor: one streaming read of x");
        let floor = measure::time(plan.settings, || floor::stream_read(images, threads));
        floor_medians.push(floor.median_ns);
    }
    results.floors.push(Floor {
        workload: MNIST50K.into(),
        median_ns: measure::summarize(&floor_medians, 1).median_ns,
        what: format!(
            "one streaming read of x ({:.0} MB, {threads} threads; median of {} measurements \
             taken between the stages)",
            std::mem::size_of_val(images) as f64 / 1e6,
            floor_medians.len()
        ),
    });
    progress.inc(1);

    // The square sweep: each stage goes up in size while its last rate says one run fits.
    for stage in &stages {
        let mut seconds_per_flop = results
            .find(stage.name, MNIST50K)
            .or_else(|| results.find(stage.name, MNIST5))
            .map(|r| 1.0 / (r.gflops * 1e9));
        for square in &squares {
            progress.set_message(format!("{} on {}", stage.name, square.name));
            progress.inc(1);
            let Some(rate) = seconds_per_flop else {
                continue;
            };
            let estimate = rate * square.flops();
            if estimate > plan.max_square_run {
                results.skipped.push(Skipped {
                    stage: stage.name.into(),
                    workload: square.name.clone(),
                    reason: format!(
                        "one run would take about {} (limit {} s)",
                        report::format_time(estimate * 1e9),
                        plan.max_square_run
                    ),
                });
                seconds_per_flop = None; // larger squares only take longer
                continue;
            }
            let reference = matmul_cuda::blas::matmul(square.a.view(), square.b.view());
            let settings = settings_for(plan.settings, estimate);
            seconds_per_flop = time_stage(stage, square, &reference, settings, &mut results)
                .map(|ns| ns * 1e-9 / square.flops());
        }
    }

    if let Some(python) = &python {
        progress.set_message("python peers");
        let mut workloads = vec![&mnist5, &mnist50k];
        workloads.extend(squares.iter());
        let outcome = python::run(
            python,
            &workloads,
            plan.python_measure,
            plan.max_run,
            |outcome| match outcome {
                python::Outcome::Timed(record) => {
                    progress
                        .set_message(format!("python: {} on {}", record.stage, record.workload));
                    results.results.push(record);
                }
                python::Outcome::Skipped(skipped) => results.skipped.push(skipped),
            },
        );
        if let Err(error) = outcome {
            progress.println(format!("python peers failed: {error:#}"));
        }
        progress.inc(1);
    }
    progress.finish_and_clear();

    // The floor of each square size: the best GEMM in this run, Rust or Python.
    for square in &squares {
        if let Some(best) = results.best(&square.name, None) {
            results.floors.push(Floor {
                workload: square.name.clone(),
                median_ns: best.median_ns,
                what: format!("the fastest GEMM in this run ({})", best.stage),
            });
        }
    }

    write_outputs(&results, &out_dir)?;
    if args.readme {
        let readme = workspace_root().join("README.md");
        let text = std::fs::read_to_string(&readme)
            .with_context(|| format!("reading {}", readme.display()))?;
        let spliced = report::splice_readme(&text, &results.markdown()).with_context(|| {
            format!(
                "{} has no `{}` … `{}` block to replace",
                readme.display(),
                report::README_MARKERS.0,
                report::README_MARKERS.1
            )
        })?;
        std::fs::write(&readme, spliced)
            .with_context(|| format!("writing {}", readme.display()))?;
        println!("updated the table in {}", readme.display());
    }
    println!("\n{}", results.markdown());
    println!(
        "wrote {} (results.json, BENCHMARKS.md, speedup.svg, square.svg) in {:.0} s",
        out_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Checks `stage` on `workload` against `reference`, then times it; records the result or
/// why it was skipped. Returns the median in nanoseconds when timed.
fn time_stage(
    stage: &Stage,
    workload: &Workload,
    reference: &ndarray::Array2<f32>,
    settings: Settings,
    results: &mut Results,
) -> Option<f64> {
    let (a, b) = (workload.a.view(), workload.b.view());
    let error = relative_error(&(stage.matmul)(a, b), &reference.mapv(f64::from));
    if error.is_nan() || error > 1e-4 {
        results.skipped.push(Skipped {
            stage: stage.name.into(),
            workload: workload.name.clone(),
            reason: format!("wrong result: relative error {error:e} against the GEMM"),
        });
        return None;
    }
    let timing = measure::time(settings, || (stage.matmul)(a, b));
    results.results.push(Record {
        stage: stage.name.into(),
        source: "rust".into(),
        workload: workload.name.clone(),
        median_ns: timing.median_ns,
        min_ns: timing.min_ns,
        mad_ns: timing.mad_ns,
        samples: timing.samples,
        gflops: workload.flops() / timing.median_ns,
    });
    Some(timing.median_ns)
}

/// The sampling for a run expected to take `estimate` seconds: long runs get a short warm-up
/// (one call) and the minimum samples, so that a slow stage costs a few runs, not a minute.
fn settings_for(settings: Settings, estimate: f64) -> Settings {
    if estimate > 0.25 {
        Settings {
            warm_up: Duration::ZERO,
            measure: Duration::ZERO,
            min_samples: if estimate > 1.0 {
                3
            } else {
                settings.min_samples
            },
            ..settings
        }
    } else {
        settings
    }
}

/// The lesson's data: real MNIST when `01_data` finds it in its cache (verified, no network
/// needed; `cargo xtask data` puts it there), otherwise synthetic data of the same shape and
/// density, saying why.
fn lesson_data() -> LessonData {
    let download = matmul_data::Download::mnist().progress(false);
    let path = download.path();
    if !path.is_file() {
        return LessonData::synthetic(&format!(
            "no MNIST in the cache at {}; `cargo xtask data` fetches it",
            path.display()
        ));
    }
    match matmul_data::Mnist::load_cached(&download) {
        Ok(mnist) if mnist.train.images.nrows() >= TRAINING_IMAGES => LessonData {
            images: mnist
                .train
                .images
                .slice_move(ndarray::s![..TRAINING_IMAGES, ..])
                .as_standard_layout()
                .into_owned(),
            weights: matmul_data::synthetic::weights(784, 10, 2),
            source: format!("MNIST training images from {}", path.display()),
        },
        Ok(mnist) => LessonData::synthetic(&format!(
            "{} holds only {} training images",
            path.display(),
            mnist.train.images.nrows()
        )),
        Err(error) => LessonData::synthetic(&format!("MNIST could not be loaded: {error}")),
    }
}

/// The workspace root: the nearest ancestor of the current directory with an `xtask`
/// directory and a `Cargo.toml`, or the current directory.
fn workspace_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file() && dir.join("xtask").is_dir())
        .unwrap_or(&cwd)
        .to_owned()
}

/// `target/bench` under the workspace root.
fn default_out_dir() -> PathBuf {
    workspace_root().join("target").join("bench")
}

/// Writes the JSON, the table and the charts into `dir`.
fn write_outputs(results: &Results, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, contents: &str| {
        let path = dir.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))
    };
    write("results.json", &serde_json::to_string_pretty(results)?)?;
    write("BENCHMARKS.md", &results.markdown())?;
    let empty = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"300\" height=\"40\">\
                 <text x=\"10\" y=\"25\">no data for this chart</text></svg>\n";
    write(
        "speedup.svg",
        &chart::speedup_svg(results).unwrap_or_else(|| empty.into()),
    )?;
    write(
        "square.svg",
        &chart::square_svg(results).unwrap_or_else(|| empty.into()),
    )?;
    Ok(())
}

/// The machine line's facts.
fn machine(data: &LessonData, threads: usize, quick: bool) -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| cpu_model(&info))
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "rustc (version unknown)".into());
    Machine {
        cpu,
        cores: threads,
        threads,
        simd: format!("{:?}", matmul_cuda::blas::streaming::Isa::detect()),
        rustc,
        blas: matmul_cuda::blas::blas_libraries().into(),
        data: data.source.clone(),
        mode: if quick { "quick" } else { "full" }.into(),
        date: utc_now(),
    }
}

/// The CPU's model name from `/proc/cpuinfo`, with its family and model numbers when the
/// name alone is vague (virtual machines often say just "AMD EPYC").
fn cpu_model(cpuinfo: &str) -> Option<String> {
    let field = |key: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    };
    let name = field("model name")?;
    Some(match (field("cpu family"), field("model")) {
        (Some(family), Some(model)) => format!("{name} (family {family}, model {model})"),
        _ => name,
    })
}

/// The current time as `YYYY-MM-DD HH:MM UTC` (civil-from-days, Howard Hinnant's algorithm).
fn utc_now() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_reads_every_element_once() {
        let x: Vec<f32> = (0..1001).map(|i| i as f32).collect();
        for threads in 1..4 {
            assert_eq!(floor::stream_read(&x, threads), 500_500.0);
        }
        assert_eq!(floor::stream_read(&[], 2), 0.0);
    }

    #[test]
    fn long_runs_get_few_samples() {
        let base = Plan::new(false, None).settings;
        assert_eq!(settings_for(base, 0.01).min_samples, base.min_samples);
        let slow = settings_for(base, 3.0);
        assert_eq!((slow.min_samples, slow.measure), (3, Duration::ZERO));
    }

    #[test]
    fn quick_is_shorter_than_full() {
        let (quick, full) = (Plan::new(true, None), Plan::new(false, None));
        assert!(quick.max_run < full.max_run && quick.max_square < full.max_square);
        assert_eq!(Plan::new(true, Some(2.0)).max_run, 2.0);
    }

    #[test]
    fn cpu_model_names_family_and_model() {
        let info = "processor\t: 0\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n";
        assert_eq!(cpu_model(info).unwrap(), "AMD EPYC (family 25, model 17)");
        assert_eq!(cpu_model("model name : X\n").unwrap(), "X");
        assert_eq!(cpu_model("nothing"), None);
    }

    #[test]
    fn utc_dates_look_like_dates() {
        let now = utc_now();
        assert_eq!(now.len(), "2026-11-23 10:40 UTC".len(), "{now}");
        assert!(now.starts_with("20") && now.ends_with(" UTC"));
    }
}
