//! `cargo xtask bench`: time every stage on the lesson's workloads, against the floors and the
//! lesson's own Python, and write the table, the charts and the generated doc blocks.
//!
//! One pipeline, four parts, each reading only what the one before it produced:
//!
//! 1. **plan** ([`Plan`]): budgets, limits, sizes, threads and the stages to time, from the
//!    command line;
//! 2. **measure** ([`measure`]): the runners fill one [`Results`] —
//!    [`cpu`] (every CPU stage on `mnist5`, `mnist50k` unless one run would take longer than
//!    the limit, the square sweep, the other shapes, and the CPU's floors: a streaming read of
//!    `x` and the FP32 FMA peak, on every core and on one), [`python`] (`--python`: the
//!    lesson's methods on the same data) and `gpu` (`--cuda`: every GPU kernel and cuBLAS,
//!    validated then timed with CUDA events, the host-to-device copy, the GPU's floors);
//! 3. **[`Results`]**: one record type for all of them, saved as `results.json`;
//! 4. **publish** ([`publish`]): the renderers — [`table`] (the markdown table), [`chart`]
//!    (the two SVG charts) and [`docs`] (`--docs`: one `measured.md` per stage crate and
//!    `xtask/measured/results.json`), with [`splice`] for the README's block — read only
//!    `Results` (and `publish` asks the stages which crates have a page).
//!
//! Runners never import renderers, nor renderers runners (`xtask/tests/module_graph.rs`
//! checks); both use [`units`] to word quantities.
//!
//! Every result is checked against a reference before it is timed. The CPU timing is
//! [`timer`]'s: median of samples after a warm-up, taken in [`Plan::rounds`] rounds and pooled;
//! Python takes a round of its own after each of them, pooled the same way.
//! The same workloads are also criterion benches (`cargo bench -p xtask`), for criterion's
//! statistics and change reports; this command runs its own sampler so that one binary, carried
//! to any machine, covers stages from a microsecond to seconds within a fixed budget and knows
//! every median it took.

pub mod chart;
pub mod cpu;
#[cfg(not(feature = "cuda"))]
mod cuda_rerun;
pub mod docs;
pub mod floor;
#[cfg(feature = "cuda")]
pub mod gpu;
pub mod machine;
pub mod measure;
pub mod plan;
pub mod publish;
pub mod python;
pub mod results;
pub mod splice;
pub mod table;
pub mod timer;
pub mod units;
pub mod workload;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

pub use plan::{Plan, Workloads};
pub use results::Results;

/// Options of `cargo xtask bench`.
///
/// Writes `results.json`, `BENCHMARKS.md`, `speedup.svg`, `square.svg` and `roofline.svg` to
/// `--out`. The
/// OpenBLAS stage is included when built with
/// `cargo run --release -p xtask --features openblas -- bench`.
#[derive(Debug, Args)]
#[command(
    after_help = "Writes results.json, BENCHMARKS.md, speedup.svg, square.svg and roofline.svg \
to --out. \
Workloads: mnist5 = (5, 784) @ (784, 10), mnist50k = (50000, 784) @ (784, 10), \
square-N = (N, N) @ (N, N) for N = 64 to 2048 (to 4096 on the GPU), and four shapes the \
squares leave out, shape-MxKxN = (M, K) @ (K, N): 1x784x1000, 64x784x1000, 2000x50x2000, \
33x3000x33. Floors, measured in the \
same run: the fastest read of mnist50k's input with every core, paired sample by sample with \
the stages; for square-N, 2·N³ flops at \
the FP32 FMA peak measured on every core (each square row shows its percentage of it); for \
mnist5, its flops at the FMA peak of one core, on which the workspace's stages compute it. \
The OpenBLAS stage needs a build with the feature: \
cargo run --release -p xtask --features openblas -- bench. \
--cuda builds xtask again with the `cuda` feature (the CUDA toolkit's nvcc) when this build \
lacks it, then runs the GPU kernels (an NVIDIA driver and GPU)."
)]
pub struct BenchArgs {
    /// Print the stages this build can time, one per line (name, where it runs, the crate that
    /// defines it, what it does), and the GPU's yardstick with the `cuda` feature; then exit.
    /// These are the names `--stage` matches.
    #[arg(long)]
    pub list: bool,

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

    /// How many times the CPU stages are timed, each round in the opposite order to the one
    /// before, their samples pooled [default: 3, or 2 with --quick]; with --python, Python
    /// takes a round of its own after each, pooled the same way (a method slower than a
    /// round's share, in the first round only). More rounds settle figures the run flags as
    /// noisy.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: Option<u32>,

    /// Time nothing: read a saved run (a `results.json`) and write the table, the charts and,
    /// with --readme or --docs, the generated blocks from it, as the run itself would have.
    /// For rendering a saved run again after a change to how it is shown.
    #[arg(long, value_name = "RESULTS_JSON", conflicts_with_all = ["quick", "python", "cuda", "stage", "max_run", "rounds"])]
    pub from: Option<PathBuf>,

    /// Where to write the results [default: target/bench under the workspace root].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Runs the bench: plan, measure, publish.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if args.list {
        print!("{}", stage_list());
        return Ok(());
    }
    #[cfg(not(feature = "cuda"))]
    if args.cuda {
        return cuda_rerun::rerun_with_cuda();
    }
    let results = match &args.from {
        Some(saved) => {
            let text = std::fs::read_to_string(saved)
                .with_context(|| format!("reading the saved run {}", saved.display()))?;
            serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: expected a results.json of `cargo xtask bench`",
                    saved.display()
                )
            })?
        }
        None => {
            let mut plan = Plan::new(args.quick, args.max_run, &args.stage);
            if let Some(rounds) = args.rounds {
                plan.rounds = rounds as usize;
            }
            measure::run(&plan, args.cuda, args.python.clone())?
        }
    };
    let outputs = publish::Outputs {
        dir: args.out.clone().unwrap_or_else(default_out_dir),
        readme: args.readme || args.docs,
        docs: args.docs,
        from_saved: args.from.is_some(),
        root: crate::workspace_root(),
    };
    publish::write(&results, &outputs)?;
    let cautions = results.cautions(&results.stages());
    if !cautions.is_empty() {
        eprintln!(
            "\nwarning: {} figure(s) to read with care (listed under the table):",
            cautions.len()
        );
        for caution in &cautions {
            eprintln!("  - {caution}");
        }
    }
    println!(
        "wrote {} (results.json, BENCHMARKS.md, speedup.svg, square.svg, roofline.svg) in {:.0} s",
        outputs.dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `--list`: every stage of this build, one per line, then (with the `cuda` feature) cuBLAS.
pub fn stage_list() -> String {
    let mut out = String::new();
    for stage in matmul_cuda::stages() {
        let runs_on = match stage.runs_on {
            matmul_data::Processor::Cpu => "cpu",
            matmul_data::Processor::Gpu => "gpu",
        };
        out.push_str(&format!(
            "{:<22} {runs_on}  {:<20} {}\n",
            stage.name, stage.defined_in.package, stage.summary
        ));
    }
    #[cfg(feature = "cuda")]
    out.push_str(&format!(
        "{:<22} gpu  {:<20} the yardstick: NVIDIA's SGEMM (FP32, TF32 off), not a stage\n",
        matmul_cuda::gpu::Method::Cublas.name(),
        matmul_cuda::CRATE.package
    ));
    out
}

/// `target/bench` under the workspace root.
fn default_out_dir() -> PathBuf {
    crate::workspace_root().join("target").join("bench")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn long_runs_get_few_samples() {
        let base = Plan::new(false, None, &[]).settings;
        assert_eq!(cpu::settings_for(base, 0.01).min_samples, base.min_samples);
        let slow = cpu::settings_for(base, 3.0);
        assert_eq!((slow.min_samples, slow.measure), (1, Duration::ZERO));
    }

    #[test]
    fn quick_is_shorter_than_full() {
        let (quick, full) = (Plan::new(true, None, &[]), Plan::new(false, None, &[]));
        assert!(quick.max_run < full.max_run && quick.max_square < full.max_square);
        assert_eq!(Plan::new(true, Some(2.0), &[]).max_run, 2.0);
    }

    #[test]
    fn the_naive_loop_is_always_timed() {
        let plan = Plan::new(true, None, &["einsum".into()]);
        let names: Vec<_> = plan.cpu_stages().iter().map(|s| s.name).collect();
        assert_eq!(names, ["naive", "einsum"]);
    }

    #[test]
    fn the_help_names_every_shape() {
        use clap::Args;
        let help = BenchArgs::augment_args(clap::Command::new("bench"))
            .render_long_help()
            .to_string();
        for (m, k, n) in workload::SHAPES {
            assert!(help.contains(&format!(" {m}x{k}x{n}")), "{help}");
        }
    }

    #[test]
    fn the_list_names_every_stage_and_where_it_runs() {
        let list = stage_list();
        for stage in matmul_cuda::stages() {
            let line = list
                .lines()
                .find(|line| line.split_whitespace().next() == Some(stage.name))
                .unwrap_or_else(|| panic!("{} not listed:\n{list}", stage.name));
            assert!(line.contains(stage.defined_in.package), "{line}");
        }
        assert!(
            list.contains("naive                  cpu  matmul-naive"),
            "{list}"
        );
    }
}
