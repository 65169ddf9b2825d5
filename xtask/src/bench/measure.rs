//! The measuring half of a run: the lesson's data, the machine line, the workloads, then the
//! runners ([`cpu`]; [`python`] with `--python`, a round after each of the CPU's; `gpu` with
//! `--cuda`, and PyTorch on the GPU after it), into one [`Results`].

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use super::plan::{Plan, Workloads};
use super::results::Results;
use super::workload::LessonData;
use super::{cpu, machine, python};

/// Measures everything `plan` says (and the GPU with `gpu`, the Python peers with `python`).
///
/// With `gpu`, the device is opened first: without one, the run stops before anything is
/// timed or written.
pub fn run(plan: &Plan, gpu: bool, python: Option<PathBuf>) -> anyhow::Result<Results> {
    #[cfg(feature = "cuda")]
    let device = if gpu { Some(super::gpu::open()?) } else { None };
    let stages = plan.cpu_stages();
    let python = python::to_use(python);

    let data = LessonData::load();
    println!("data: {}", data.source);
    let mut results = Results {
        machine: machine::machine(&data.source, plan.threads, plan.quick),
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

    let workloads = Workloads::new(plan, &data);
    let progress = progress_bar(cpu::steps(&stages, &workloads));
    // Python's rounds between the CPU's, so that the two are timed at the same moments.
    let mut peers =
        python.map(|python| python::Peers::start(&python, plan, &workloads, gpu, &progress));
    cpu::run(plan, &stages, &workloads, &progress, &mut results, || {
        if let Some(peers) = &mut peers {
            peers.round(&progress);
        }
    });
    #[cfg(feature = "cuda")]
    if let Some(device) = &device {
        super::gpu::run(device, plan, &workloads, &progress, &mut results);
    }
    if let Some(peers) = peers {
        peers.into_results(&progress, &mut results);
    }
    progress.finish_and_clear();
    Ok(results)
}

/// A progress bar of `steps` steps.
fn progress_bar(steps: usize) -> ProgressBar {
    ProgressBar::new(steps as u64).with_style(
        ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    )
}
