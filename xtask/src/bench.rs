//! `cargo xtask bench`: time every stage on the lesson's workloads, against the floors and the
//! lesson's own Python, and write the table, the charts and the generated doc blocks.
//!
//! One pipeline, four parts, each reading only what the one before it produced:
//!
//! 1. **plan** ([`Plan`]): budgets, limits, sizes and threads, from the command line;
//! 2. **run**: the runners fill one [`Results`] —
//!    [`cpu`] (every stage of `matmul_cuda::stages()` on `mnist5`, `mnist50k` unless one run
//!    would take longer than the limit, the square sweep, and the CPU's floors: a streaming
//!    read of `x` and the FP32 FMA peak), [`python`] (`--python`: the lesson's methods on the
//!    same data) and `gpu` (`--cuda`: every GPU kernel and cuBLAS, validated then timed with
//!    CUDA events, the host-to-device copy, the GPU's floors);
//! 3. **[`Results`]**: one record type for all of them, saved as `results.json`;
//! 4. **render**: [`render`] (the markdown table and the README block), [`chart`] (the two
//!    SVG charts) and [`docs`] (`--docs`: the README block, one `measured.md` per stage crate,
//!    and `xtask/measured/results.json`) read only `Results`.
//!
//! Every result is checked against a reference before it is timed. The CPU timing is
//! [`timer`]'s: median of samples after a warm-up, taken in [`Plan::rounds`] rounds and pooled.
//! The same workloads are also criterion benches (`cargo bench -p xtask`), for criterion's
//! statistics and change reports; this command runs its own sampler so that one binary, carried
//! to any machine, covers stages from a microsecond to seconds within a fixed budget and knows
//! every median it took.

mod chart;
mod cpu;
mod docs;
mod floor;
#[cfg(feature = "cuda")]
mod gpu;
mod machine;
mod plan;
mod python;
mod render;
mod results;
mod timer;
mod workload;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use matmul_cuda::Stage;

pub use plan::{Plan, Workloads};
use results::Results;
use workload::{LessonData, TRAINING_IMAGES};

/// Options of `cargo xtask bench`.
///
/// Writes `results.json`, `BENCHMARKS.md`, `speedup.svg` and `square.svg` to `--out`. The
/// OpenBLAS stage is included when built with
/// `cargo run --release -p xtask --features openblas -- bench`.
#[derive(Debug, Args)]
#[command(
    after_help = "Writes results.json, BENCHMARKS.md, speedup.svg and square.svg to --out. \
Workloads: mnist5 = (5, 784) @ (784, 10), mnist50k = (50000, 784) @ (784, 10), \
square-N = (N, N) @ (N, N) for N = 64 to 2048 (to 4096 on the GPU). Floors, measured in the \
same run: one streaming read of mnist50k's input with every core; for square-N, 2·N³ flops at \
the FP32 FMA peak measured on every core (each square row shows its percentage of it). \
The OpenBLAS stage needs a build with the feature: \
cargo run --release -p xtask --features openblas -- bench. \
--cuda builds xtask again with the `cuda` feature (the CUDA toolkit's nvcc) when this build \
lacks it, then runs the GPU kernels (an NVIDIA driver and GPU)."
)]
pub struct BenchArgs {
    /// Short run for smoke tests and CI (under a minute): short budgets, squares up to 512,
    /// one run on 50,000 images limited to half a second. With --cuda, the GPU part runs on
    /// mnist5 and the squares up to 128 only.
    #[arg(long)]
    pub quick: bool,

    /// Also time the lesson's Python methods (loops, numba, torch, NumPy) on the same data.
    /// PATH is the Python interpreter (default: `python3` on the PATH); it needs numpy, and
    /// torch and numba for their methods. Without a usable Python: a notice and no rows.
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "python3")]
    pub python: Option<PathBuf>,

    /// Also time every GPU kernel of 08_cuda and cuBLAS (needs the CUDA toolkit, to build
    /// xtask again with the `cuda` feature when this build lacks it, and an NVIDIA driver and
    /// GPU): mnist5, mnist50k and the squares up to 4096, each checked
    /// against a float64 reference with its output poisoned first, timed with CUDA events;
    /// the copy of x to the device as its own row; the GPU's floors. Without a device: an
    /// error, and nothing is written.
    #[arg(long)]
    pub cuda: bool,

    /// Time only the stages (and GPU kernels) whose names contain one of these (repeatable);
    /// the naive loop and cuBLAS are always timed, as the baselines.
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

    /// Write the generated "Measured" blocks from this run: the README's table (as --readme),
    /// one `measured.md` per stage crate (shown on its doc page), and the run itself as
    /// `xtask/measured/results.json`.
    #[arg(long)]
    pub docs: bool,

    /// Where to write the results [default: target/bench under the workspace root].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Runs the bench: plan, run, render.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let plan = Plan::new(args.quick, args.max_run);
    let out_dir = args.out.clone().unwrap_or_else(default_out_dir);
    // The GPU first: without one, `--cuda` fails before anything is run or written.
    #[cfg(feature = "cuda")]
    let device = if args.cuda { Some(gpu::open()?) } else { None };
    #[cfg(not(feature = "cuda"))]
    if args.cuda {
        return rerun_with_cuda();
    }
    let stages = cpu_stages(&args.stage);
    let python = python_to_use(args.python.clone());

    let data = lesson_data();
    println!("data: {}", data.source);
    let mut results = Results {
        machine: machine::machine(&data.source, plan.threads, args.quick),
        ..Results::default()
    };
    #[cfg(feature = "cuda")]
    if let Some(device) = &device {
        results.machine.gpu = Some(device.name().to_owned());
    }
    println!(
        "machine: {} · {} logical CPUs · {}",
        results.machine.cpu, results.machine.cores, results.machine.rustc
    );

    let workloads = Workloads::new(&plan, &data);
    let progress = progress_bar(cpu::steps(&stages, &workloads) + usize::from(python.is_some()));
    cpu::run(&plan, &stages, &workloads, &progress, &mut results);
    #[cfg(feature = "cuda")]
    if let Some(device) = &device {
        gpu::run(
            device,
            &plan,
            &args.stage,
            &workloads,
            &progress,
            &mut results,
        );
    }
    if let Some(python) = &python {
        run_python(python, &plan, &workloads, &progress, &mut results);
    }
    progress.finish_and_clear();

    write_outputs(&results, &out_dir)?;
    let root = workspace_root();
    if args.readme || args.docs {
        let readme = root.join("README.md");
        docs::splice_file(&readme, render::README_MARKERS, &results.markdown())?;
        println!("updated the table in {}", readme.display());
    }
    if args.docs {
        for path in docs::write(&results, &root)? {
            println!("wrote {}", path.display());
        }
    }
    println!("\n{}", results.markdown());
    println!(
        "wrote {} (results.json, BENCHMARKS.md, speedup.svg, square.svg) in {:.0} s",
        out_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `--cuda` from a build without the `cuda` feature: builds `xtask` again with it and runs the
/// same command line there, so that `cargo xtask bench --cuda` is the one command on a machine
/// with a GPU. Building needs the CUDA toolkit (`08_cuda`'s build script says what is missing);
/// the rebuilt binary opens the device before it runs or writes anything.
#[cfg(not(feature = "cuda"))]
fn rerun_with_cuda() -> anyhow::Result<()> {
    /// Set for the rebuilt `xtask`, so that a build that still lacks the feature stops here.
    const RERUN: &str = "MATMUL_XTASK_CUDA_RERUN";
    let by_hand = "cargo run --release -p xtask --features cuda -- bench --cuda";
    if std::env::var_os(RERUN).is_some() {
        anyhow::bail!("--cuda: this xtask was built without the `cuda` feature; try {by_hand}");
    }
    let nvcc = find_nvcc().ok_or_else(|| {
        anyhow::anyhow!(
            "--cuda: no CUDA toolkit found (looked for nvcc in $NVCC, on PATH, in \
             $CUDA_PATH/bin, /usr/local/cuda/bin and /opt/cuda/bin); install the CUDA toolkit \
             to build the GPU kernels, and an NVIDIA driver to run them"
        )
    })?;
    let features = if cfg!(feature = "openblas") {
        "cuda,openblas"
    } else {
        "cuda"
    };
    // `cargo run` tells the program which cargo started it; `cargo` on the PATH otherwise. The
    // `cuda` build goes to its own target directory, so that neither build replaces the other.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join("cuda");
    eprintln!("--cuda: building xtask with the `{features}` feature(s), then running it");
    let status = std::process::Command::new(cargo)
        .args([
            "run",
            "--release",
            "--package",
            "xtask",
            "--features",
            features,
            "--",
        ])
        .args(std::env::args_os().skip(1))
        .current_dir(workspace_root())
        .env(RERUN, "1")
        .env("CARGO_TARGET_DIR", &target)
        .env("NVCC", &nvcc)
        .status()
        .with_context(|| format!("--cuda: starting cargo to rebuild xtask (by hand: {by_hand})"))?;
    match status.code() {
        Some(0) => Ok(()),
        // What the system's loader answers when a library is missing: here, the driver's.
        Some(127) => anyhow::bail!(
            "--cuda: the GPU build of xtask could not start (the line above says which library \
             is missing; libcuda.so.1 comes with the NVIDIA driver)"
        ),
        // The build or the run has already said what went wrong.
        Some(code) => std::process::exit(code),
        None => anyhow::bail!("--cuda: the rebuilt xtask was stopped by a signal ({status})"),
    }
}

/// The CUDA toolkit's compiler, where a standard install puts it: `$NVCC`, `nvcc` on `PATH`,
/// then `bin/nvcc` under `$CUDA_PATH`, `/usr/local/cuda` and `/opt/cuda`. Only one that runs
/// (`nvcc --version`) counts.
#[cfg(not(feature = "cuda"))]
fn find_nvcc() -> Option<PathBuf> {
    let given = std::env::var_os("NVCC").map(PathBuf::from);
    let roots = std::env::var_os("CUDA_PATH")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/local/cuda", "/opt/cuda"].map(PathBuf::from));
    given
        .into_iter()
        .chain([PathBuf::from("nvcc")])
        .chain(roots.map(|root| root.join("bin").join("nvcc")))
        .find(|nvcc| {
            std::process::Command::new(nvcc)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
        })
}

/// The CPU stages to time: all of `matmul_cuda::stages()` (the GPU's are timed by `gpu` with
/// CUDA events instead), or those `filters` name; the naive loop always, as the baseline.
fn cpu_stages(filters: &[String]) -> Vec<Stage> {
    #[cfg(feature = "cuda")]
    let on_gpu: Vec<&str> = matmul_cuda::gpu::Method::ALL
        .iter()
        .map(|m| m.name())
        .collect();
    #[cfg(not(feature = "cuda"))]
    let on_gpu: Vec<&str> = Vec::new();
    matmul_cuda::stages()
        .into_iter()
        .filter(|s| !on_gpu.contains(&s.name))
        .filter(|s| {
            s.name == "naive"
                || filters.is_empty()
                || filters.iter().any(|f| s.name.contains(f.as_str()))
        })
        .collect()
}

/// The Python to time the lesson's methods with, if `--python` was given and it works.
fn python_to_use(given: Option<PathBuf>) -> Option<PathBuf> {
    let path = python::choose(Some(given?));
    match python::probe(&path) {
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

/// The Python part of a run: the lesson's methods on the CPU's workloads.
fn run_python(
    python: &Path,
    plan: &Plan,
    workloads: &Workloads,
    progress: &ProgressBar,
    results: &mut Results,
) {
    progress.set_message("python peers");
    let mut all = vec![&workloads.mnist5, &workloads.mnist50k];
    all.extend(workloads.squares.iter());
    let outcome =
        python::run(
            python,
            &all,
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

/// A progress bar of `steps` steps.
fn progress_bar(steps: usize) -> ProgressBar {
    ProgressBar::new(steps as u64).with_style(
        ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    )
}

/// The lesson's data: real MNIST when `01_data` finds it in its cache (verified, no network
/// needed; `cargo xtask data` puts it there), otherwise synthetic data of the same shape and
/// density, saying why.
fn lesson_data() -> LessonData {
    let download = matmul_data::Download::mnist().progress(false);
    let path = download.path();
    let shown = machine::tilde(&path);
    if !path.is_file() {
        return LessonData::synthetic(&format!(
            "no MNIST in the cache at {shown}; `cargo xtask data` fetches it"
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
            source: format!("MNIST training images from {shown}"),
        },
        Ok(mnist) => LessonData::synthetic(&format!(
            "{shown} holds only {} training images",
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn long_runs_get_few_samples() {
        let base = Plan::new(false, None).settings;
        assert_eq!(cpu::settings_for(base, 0.01).min_samples, base.min_samples);
        let slow = cpu::settings_for(base, 3.0);
        assert_eq!((slow.min_samples, slow.measure), (1, Duration::ZERO));
    }

    #[test]
    fn quick_is_shorter_than_full() {
        let (quick, full) = (Plan::new(true, None), Plan::new(false, None));
        assert!(quick.max_run < full.max_run && quick.max_square < full.max_square);
        assert_eq!(Plan::new(true, Some(2.0)).max_run, 2.0);
    }

    #[test]
    fn the_naive_loop_is_always_timed() {
        let names: Vec<_> = cpu_stages(&["einsum".into()])
            .iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["naive", "einsum"]);
    }
}
