//! The CPU part of a run: every stage on the lesson's workloads and the square sweep, and the
//! CPU's two floors (a streaming read of `x`, the FP32 FMA peak), all into [`Results`].

use std::time::Duration;

use indicatif::ProgressBar;
use matmul_cuda::Stage;
use matmul_data::relative_error;
use ndarray::Array2;

use super::floor;
use super::plan::{Plan, Workloads};
use super::results::{FP32_PEAK, Record, Results, STREAM_READ, Skipped, Source};
use super::timer::{self, Settings};
use super::units::format_time;
use super::workload::{MNIST5, MNIST50K, TRAINING_IMAGES, Workload};
use matmul_cuda::blas::isa::Isa;

/// Progress steps the first round of [`run`] reports: one per stage and workload, plus the two
/// floors. The later rounds add theirs once the first has found what is timed.
pub fn steps(stages: &[Stage], workloads: &Workloads) -> usize {
    stages.len() * (2 + workloads.squares.len()) + 2
}

/// One stage on one workload, timed in every round: its samples, pooled.
struct Timed<'w> {
    /// Index into the stages.
    stage: usize,
    workload: &'w Workload,
    /// One round's sampling.
    settings: Settings,
    /// Nanoseconds per call, from every round.
    samples: Vec<f64>,
    calls_per_sample: u64,
}

/// The floors' measurements, pooled over the rounds like the stages'.
#[derive(Default)]
struct Floors {
    /// Medians of the short stream reads of `x` taken after each stage on `mnist50k`.
    read_medians: Vec<f64>,
    /// The FMA loop's iterations per call, fixed in the first round.
    peak_iterations: u64,
    /// Nanoseconds per call of the FMA loop, from every round.
    peak_samples: Vec<f64>,
}

/// Times `stages` on `workloads` as `plan` says, with the floors, into `results`.
///
/// The first round checks every stage against the reference, decides which workloads each can
/// be timed on within the limits, and times those; each later round times the same again, in
/// the opposite order to the round before, with the floors. A record's median is that of all
/// its rounds' samples: a stage measured only at one moment would carry whatever the machine
/// was doing then (other processes, clock changes, a previous stage's threads), and its ratio
/// to a stage measured minutes later would mean less.
pub fn run(
    plan: &Plan,
    stages: &[Stage],
    workloads: &Workloads,
    progress: &ProgressBar,
    results: &mut Results,
) {
    let rounds = plan.rounds.max(1);
    let round_settings = timer::per_round(plan.settings, rounds);
    let mut first = FirstRound {
        plan,
        settings: round_settings,
        stages,
        workloads,
        progress,
        results,
        timed: Vec::new(),
        floors: Floors::default(),
    };
    first.lesson();
    first.squares();
    let FirstRound {
        results,
        mut timed,
        mut floors,
        ..
    } = first;
    progress.set_message(format!(
        "floor: FP32 FMA peak ({})",
        floor::peak_name(Isa::detect())
    ));
    peak_round(plan, round_settings, &mut floors);
    progress.inc(1);

    progress.inc_length(((timed.len() + 1) * (rounds - 1)) as u64);
    let x = workloads
        .mnist50k
        .a
        .as_slice()
        .expect("a standard-layout array");
    for round in 1..rounds {
        let order: Vec<usize> = if round % 2 == 1 {
            (0..timed.len()).rev().collect()
        } else {
            (0..timed.len()).collect()
        };
        for i in order {
            let t = &mut timed[i];
            let stage = &stages[t.stage];
            progress.set_message(format!(
                "{} on {} (round {} of {rounds})",
                stage.name,
                t.workload.name,
                round + 1
            ));
            let (a, b) = (t.workload.a.view(), t.workload.b.view());
            t.samples
                .extend(timer::sample(t.settings, || (stage.matmul)(a, b)).0);
            if t.workload.name == MNIST50K {
                floors
                    .read_medians
                    .push(read_floor(plan, round_settings, x));
            }
            progress.inc(1);
        }
        peak_round(plan, round_settings, &mut floors);
        progress.inc(1);
    }

    for t in &timed {
        let stage = &stages[t.stage];
        let timing = timer::summarize(&t.samples, t.calls_per_sample);
        results.results.push(Record {
            stage: stage.name.into(),
            package: stage.defined_in.package.into(),
            source: Source::Rust,
            workload: t.workload.name.clone(),
            median_ns: timing.median_ns,
            min_ns: timing.min_ns,
            mad_ns: timing.mad_ns,
            samples: timing.samples,
            gflops: t.workload.flops() / timing.median_ns,
            note: String::new(),
        });
    }
    floor_records(plan, workloads, rounds, &floors, results);
}

/// One short stream read of `x` with every core: the median of a quarter of a round's budget.
fn read_floor(plan: &Plan, settings: Settings, x: &[f32]) -> f64 {
    let settings = Settings {
        measure: settings.measure / 4,
        ..settings
    };
    timer::time(settings, || floor::stream_read(x, plan.threads)).median_ns
}

/// The first round: it checks each stage before timing it, and finds what can be timed within
/// the plan's limits. What it times is in `timed`, what it skips in `results`.
struct FirstRound<'a, 'w> {
    plan: &'a Plan,
    /// One round's sampling.
    settings: Settings,
    stages: &'a [Stage],
    workloads: &'w Workloads,
    progress: &'a ProgressBar,
    results: &'a mut Results,
    timed: Vec<Timed<'w>>,
    floors: Floors,
}

impl<'w> FirstRound<'_, 'w> {
    /// The lesson's workloads in the first round: five images, then all of them if the stage is
    /// fast enough; a stream read of `x` after each stage timed on `mnist50k`.
    fn lesson(&mut self) {
        let (plan, settings, progress) = (self.plan, self.settings, self.progress);
        let workloads: &'w Workloads = self.workloads;
        let (mnist5, mnist50k) = (&workloads.mnist5, &workloads.mnist50k);
        let reference5 = matmul_cuda::blas::matmul(mnist5.a.view(), mnist5.b.view());
        let reference50k = matmul_cuda::blas::matmul(mnist50k.a.view(), mnist50k.b.view());
        let x = mnist50k.a.as_slice().expect("a standard-layout array");
        for (index, stage) in self.stages.iter().enumerate() {
            progress.set_message(format!("{} on {MNIST5}", stage.name));
            let five = self.time_stage(index, mnist5, &reference5, settings);
            progress.inc(1);
            progress.set_message(format!("{} on {MNIST50K}", stage.name));
            match five {
                Some(five_ns) => {
                    let estimate = five_ns * 1e-9 * (TRAINING_IMAGES / 5) as f64;
                    if estimate > plan.max_run {
                        self.results.skipped.push(skipped(
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
                        let slow = settings_for(settings, estimate);
                        self.time_stage(index, mnist50k, &reference50k, slow);
                        progress.set_message("floor: one streaming read of x");
                        self.floors.read_medians.push(read_floor(plan, settings, x));
                    }
                }
                None => self.results.skipped.push(skipped(
                    stage,
                    MNIST50K,
                    "wrong result on 5 images".into(),
                )),
            }
            progress.inc(1);
        }
        if self.floors.read_medians.is_empty() {
            progress.set_message("floor: one streaming read of x");
            self.floors.read_medians.push(read_floor(plan, settings, x));
        }
        progress.inc(1);
    }

    /// The square sweep in the first round: each stage goes up in size while its last rate says
    /// one run fits.
    fn squares(&mut self) {
        let (plan, settings, progress) = (self.plan, self.settings, self.progress);
        let workloads: &'w Workloads = self.workloads;
        for (index, stage) in self.stages.iter().enumerate() {
            // From its largest lesson workload so far.
            let mut seconds_per_flop =
                self.timed.iter().rev().find(|t| t.stage == index).map(|t| {
                    timer::summarize(&t.samples, t.calls_per_sample).median_ns * 1e-9
                        / t.workload.flops()
                });
            for square in &workloads.squares {
                progress.set_message(format!("{} on {}", stage.name, square.name));
                progress.inc(1);
                let Some(rate) = seconds_per_flop else {
                    continue;
                };
                let estimate = rate * square.flops();
                if estimate > plan.max_square_run {
                    self.results.skipped.push(skipped(
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
                let settings = settings_for(settings, estimate);
                seconds_per_flop = self
                    .time_stage(index, square, &reference, settings)
                    .map(|ns| ns * 1e-9 / square.flops());
            }
        }
    }

    /// Checks the stage at `index` on `workload` against `reference`, then times its first round
    /// into `timed`, or records why it was skipped. Returns that round's median in nanoseconds
    /// when timed.
    fn time_stage(
        &mut self,
        index: usize,
        workload: &'w Workload,
        reference: &Array2<f32>,
        settings: Settings,
    ) -> Option<f64> {
        let stage = &self.stages[index];
        let (a, b) = (workload.a.view(), workload.b.view());
        let error = relative_error(&(stage.matmul)(a, b), &reference.mapv(f64::from));
        if error.is_nan() || error > 1e-4 {
            self.results.skipped.push(skipped(
                stage,
                &workload.name,
                format!("wrong result: relative error {error:e} against the GEMM"),
            ));
            return None;
        }
        let (samples, calls_per_sample) = timer::sample(settings, || (stage.matmul)(a, b));
        let median_ns = timer::summarize(&samples, calls_per_sample).median_ns;
        self.timed.push(Timed {
            stage: index,
            workload,
            settings,
            samples,
            calls_per_sample,
        });
        Some(median_ns)
    }
}

/// How long one call of the FP32 FMA peak loop should take, in seconds: long enough for a
/// coarse clock, short enough to take many samples.
const PEAK_CALL_SECONDS: f64 = 0.02;

/// One round of the FP32 FMA peak on every core: calls sized in the first round to take
/// [`PEAK_CALL_SECONDS`], sampled like a stage.
fn peak_round(plan: &Plan, settings: Settings, floors: &mut Floors) {
    let isa = Isa::detect();
    if floors.peak_iterations == 0 {
        let probe = 1u64 << 14;
        let started = std::time::Instant::now();
        std::hint::black_box(floor::fma_peak(isa, plan.threads, probe));
        let per_iteration = started.elapsed().as_secs_f64() / probe as f64;
        floors.peak_iterations =
            ((PEAK_CALL_SECONDS / per_iteration.max(1e-12)) as u64).clamp(probe, 1 << 28);
    }
    let iterations = floors.peak_iterations;
    let (samples, _) = timer::sample(settings, || floor::fma_peak(isa, plan.threads, iterations));
    floors.peak_samples.extend(samples);
}

/// The floors' records: the stream read of `x` on `mnist50k` (the median of the reads taken
/// between the stages), and the FP32 FMA peak as one floor per square workload (the time its
/// `2·N³` flops would take at that peak).
fn floor_records(
    plan: &Plan,
    workloads: &Workloads,
    rounds: usize,
    floors: &Floors,
    results: &mut Results,
) {
    let x = &workloads.mnist50k.a;
    let read = timer::summarize(&floors.read_medians, 1);
    results.floors.push(Record {
        stage: STREAM_READ.into(),
        workload: MNIST50K.into(),
        median_ns: read.median_ns,
        min_ns: read.min_ns,
        mad_ns: read.mad_ns,
        samples: read.samples,
        note: format!(
            "one streaming read of x ({:.0} MB, {} threads; median of {} measurements \
             taken between the stages)",
            (x.len() * std::mem::size_of::<f32>()) as f64 / 1e6,
            plan.threads,
            floors.read_medians.len()
        ),
        ..Record::default()
    });

    let isa = Isa::detect();
    let timing = timer::summarize(&floors.peak_samples, 1);
    let flops_per_call =
        plan.threads as f64 * floors.peak_iterations as f64 * floor::flops_per_iteration(isa);
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
                 {} threads; {} rounds)",
                floor::peak_name(isa),
                plan.threads,
                rounds
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

/// The sampling (of one round) for a run expected to take `estimate` seconds: long runs get a
/// short warm-up (one call) and the minimum samples, runs over a second one sample a round, so
/// that a slow stage costs a few runs, not a minute.
pub fn settings_for(settings: Settings, estimate: f64) -> Settings {
    if estimate > 0.25 {
        Settings {
            warm_up: Duration::ZERO,
            measure: Duration::ZERO,
            min_samples: if estimate > 1.0 {
                1
            } else {
                settings.min_samples
            },
            ..settings
        }
    } else {
        settings
    }
}
