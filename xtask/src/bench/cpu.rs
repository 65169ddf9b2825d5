//! The CPU part of a run: every stage on the lesson's workloads and the square sweep, and the
//! CPU's two floors (a streaming read of `x`, the FP32 FMA peak), all into [`Results`].

use std::time::Duration;

use indicatif::ProgressBar;
use matmul_cuda::Stage;
use matmul_data::relative_error;
use ndarray::Array2;

use super::floor::{self, FmaIsa};
use super::plan::{Plan, Workloads};
use super::render::format_time;
use super::results::{FP32_PEAK, Record, Results, STREAM_READ, Skipped, Source};
use super::timer::{self, Settings};
use super::workload::{MNIST5, MNIST50K, TRAINING_IMAGES, Workload};

/// Progress steps [`run`] reports: one per stage and workload, plus the two floors.
pub fn steps(stages: &[Stage], workloads: &Workloads) -> usize {
    stages.len() * (2 + workloads.squares.len()) + 2
}

/// Times `stages` on `workloads` as `plan` says, with the floors, into `results`.
pub fn run(
    plan: &Plan,
    stages: &[Stage],
    workloads: &Workloads,
    progress: &ProgressBar,
    results: &mut Results,
) {
    lesson(plan, stages, workloads, progress, results);
    squares(plan, stages, workloads, progress, results);
    progress.set_message(format!(
        "floor: FP32 FMA peak ({})",
        FmaIsa::detect().name()
    ));
    peak(plan, workloads, results);
    progress.inc(1);
}

/// The lesson's workloads: five images, then all of them if the stage is fast enough; the
/// stream-read floor of `mnist50k` between the stages.
fn lesson(
    plan: &Plan,
    stages: &[Stage],
    workloads: &Workloads,
    progress: &ProgressBar,
    results: &mut Results,
) {
    let (mnist5, mnist50k) = (&workloads.mnist5, &workloads.mnist50k);
    let reference5 = matmul_cuda::blas::matmul(mnist5.a.view(), mnist5.b.view());
    let reference50k = matmul_cuda::blas::matmul(mnist50k.a.view(), mnist50k.b.view());
    // The floor is measured between the stages, a short measurement after each, and the
    // median of those is the floor: whatever else the machine does during the run, the floor
    // saw the same conditions as the stages, not one moment of them.
    let images = mnist50k.a.as_slice().expect("a standard-layout array");
    let floor_settings = Settings {
        measure: plan.settings.measure / 4,
        ..plan.settings
    };
    let read = || floor::stream_read(images, plan.threads);
    let mut floor_medians = Vec::new();
    for stage in stages {
        progress.set_message(format!("{} on {MNIST5}", stage.name));
        let five = time_stage(stage, mnist5, &reference5, plan.settings, results);
        progress.inc(1);
        progress.set_message(format!("{} on {MNIST50K}", stage.name));
        match five {
            Some(five_ns) => {
                let estimate = five_ns * 1e-9 * (TRAINING_IMAGES / 5) as f64;
                if estimate > plan.max_run {
                    results.skipped.push(skipped(
                        stage,
                        MNIST50K,
                        format!(
                            "one run would take about {} (10,000 × its 5-image time; \
                             limit {} s)",
                            format_time(estimate * 1e9),
                            plan.max_run
                        ),
                    ));
                } else {
                    let settings = settings_for(plan.settings, estimate);
                    time_stage(stage, mnist50k, &reference50k, settings, results);
                    progress.set_message("floor: one streaming read of x");
                    floor_medians.push(timer::time(floor_settings, read).median_ns);
                }
            }
            None => {
                results
                    .skipped
                    .push(skipped(stage, MNIST50K, "wrong result on 5 images".into()))
            }
        }
        progress.inc(1);
    }
    if floor_medians.is_empty() {
        progress.set_message("floor: one streaming read of x");
        floor_medians.push(timer::time(plan.settings, read).median_ns);
    }
    let floor = timer::summarize(&floor_medians, 1);
    results.floors.push(Record {
        stage: STREAM_READ.into(),
        workload: MNIST50K.into(),
        median_ns: floor.median_ns,
        min_ns: floor.min_ns,
        mad_ns: floor.mad_ns,
        samples: floor.samples,
        note: format!(
            "one streaming read of x ({:.0} MB, {} threads; median of {} measurements \
             taken between the stages)",
            std::mem::size_of_val(images) as f64 / 1e6,
            plan.threads,
            floor_medians.len()
        ),
        ..Record::default()
    });
    progress.inc(1);
}

/// The square sweep: each stage goes up in size while its last rate says one run fits.
fn squares(
    plan: &Plan,
    stages: &[Stage],
    workloads: &Workloads,
    progress: &ProgressBar,
    results: &mut Results,
) {
    for stage in stages {
        let mut seconds_per_flop = results
            .find_from(Source::Rust, stage.name, MNIST50K)
            .or_else(|| results.find_from(Source::Rust, stage.name, MNIST5))
            .map(|r| 1.0 / (r.gflops * 1e9));
        for square in &workloads.squares {
            progress.set_message(format!("{} on {}", stage.name, square.name));
            progress.inc(1);
            let Some(rate) = seconds_per_flop else {
                continue;
            };
            let estimate = rate * square.flops();
            if estimate > plan.max_square_run {
                results.skipped.push(skipped(
                    stage,
                    &square.name,
                    format!(
                        "one run would take about {} (limit {} s)",
                        format_time(estimate * 1e9),
                        plan.max_square_run
                    ),
                ));
                seconds_per_flop = None; // larger squares only take longer
                continue;
            }
            let reference = matmul_cuda::blas::matmul(square.a.view(), square.b.view());
            let settings = settings_for(plan.settings, estimate);
            seconds_per_flop = time_stage(stage, square, &reference, settings, results)
                .map(|ns| ns * 1e-9 / square.flops());
        }
    }
}

/// The FP32 FMA peak on every core, as one floor per square workload: the time its `2·N³`
/// flops would take at that peak.
fn peak(plan: &Plan, workloads: &Workloads, results: &mut Results) {
    let isa = FmaIsa::detect();
    // Size one call to about 20 ms (long enough for a coarse clock, short enough to sample):
    // calibrate on a short call first.
    let probe = 1u64 << 14;
    let started = std::time::Instant::now();
    std::hint::black_box(floor::fma_peak(isa, plan.threads, probe));
    let per_iteration = started.elapsed().as_secs_f64() / probe as f64;
    let iterations = ((0.02 / per_iteration.max(1e-12)) as u64).clamp(probe, 1 << 28);
    let timing = timer::time(plan.settings, || {
        floor::fma_peak(isa, plan.threads, iterations)
    });
    let flops_per_call = plan.threads as f64 * iterations as f64 * isa.flops_per_iteration();
    let peak_gflops = flops_per_call / timing.median_ns;
    for square in &workloads.squares {
        results.floors.push(Record {
            stage: FP32_PEAK.into(),
            workload: square.name.clone(),
            median_ns: square.flops() / peak_gflops,
            min_ns: square.flops() / (flops_per_call / timing.min_ns),
            mad_ns: 0.0,
            samples: timing.samples,
            gflops: peak_gflops,
            note: format!(
                "2·N³ flops at the FP32 FMA peak measured in this run ({}, registers only, \
                 {} threads)",
                isa.name(),
                plan.threads
            ),
            ..Record::default()
        });
    }
}

/// A `Skipped` for a Rust stage.
fn skipped(stage: &Stage, workload: &str, reason: String) -> Skipped {
    Skipped {
        stage: stage.name.into(),
        source: Source::Rust,
        workload: workload.into(),
        reason,
    }
}

/// Checks `stage` on `workload` against `reference`, then times it; records the result or
/// why it was skipped. Returns the median in nanoseconds when timed.
fn time_stage(
    stage: &Stage,
    workload: &Workload,
    reference: &Array2<f32>,
    settings: Settings,
    results: &mut Results,
) -> Option<f64> {
    let (a, b) = (workload.a.view(), workload.b.view());
    let error = relative_error(&(stage.matmul)(a, b), &reference.mapv(f64::from));
    if error.is_nan() || error > 1e-4 {
        results.skipped.push(skipped(
            stage,
            &workload.name,
            format!("wrong result: relative error {error:e} against the GEMM"),
        ));
        return None;
    }
    let timing = timer::time(settings, || (stage.matmul)(a, b));
    results.results.push(Record {
        stage: stage.name.into(),
        package: stage.package.into(),
        source: Source::Rust,
        workload: workload.name.clone(),
        median_ns: timing.median_ns,
        min_ns: timing.min_ns,
        mad_ns: timing.mad_ns,
        samples: timing.samples,
        gflops: workload.flops() / timing.median_ns,
        note: String::new(),
    });
    Some(timing.median_ns)
}

/// The sampling for a run expected to take `estimate` seconds: long runs get a short warm-up
/// (one call) and the minimum samples, so that a slow stage costs a few runs, not a minute.
pub fn settings_for(settings: Settings, estimate: f64) -> Settings {
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
