//! The CPU part of a run: every stage on the lesson's workloads, the square sweep and the other
//! shapes, and the CPU's floors (a streaming read of `x`, the FP32 FMA peak on every core and on
//! one), all into [`Results`].
//!
//! Each sample of a stage on `mnist50k` is followed by a read of `x`, its floor
//! ([`timer::sample_paired`]), and the stage's ratio to its floor is the median of the ratios
//! pair by pair, with a bootstrap interval: so the ratio holds while the machine's speed drifts.
//! The squares' floor, the FP32 peak, and that of `mnist5`, one core's peak, are taken alone in
//! every round instead: a peak sample right after a threaded stage's ran measurably slow (the
//! stage's threads had not settled), which would have flattered every square's share of it.

use std::cell::OnceCell;
use std::time::Duration;

// Pairing the peak with every square sample was tried and measured on the 2-core Xeon: after
// gemm and matrixmultiply, paired peak samples had a median 33% below the peak taken alone
// with a 5 ms pause before them, 49% below with an untimed warm-up call instead, and 1.5%
// below with a 20 ms pause. But with that pause between samples, the own GEMM's stages and
// streaming fell by 10–20% on the squares against the run before (gemm-packed 114 → 88
// GFLOP/s at 512; matrixmultiply and OpenBLAS did not fall): the pairs would have measured
// stages restarting after an idle gap, not the stages. So the squares keep the peak alone.

use indicatif::ProgressBar;
use matmul_cuda::Stage;
use matmul_data::{reference_matmul, relative_error};
use ndarray::Array2;

use super::floor::{self, FloorThreads, ReadMethod};
use super::plan::{Plan, Workloads};
use super::results::{FP32_PEAK, ONE_CORE_PEAK, Record, Results, STREAM_READ, Skipped, Source};
use super::timer::{self, Settings};
use super::units::format_time;
use super::workload::{MNIST5, MNIST50K, TRAINING_IMAGES, Workload};
use matmul_cuda::blas::isa::Isa;

/// Progress steps the first round of [`run`] reports: one per stage and workload, plus the two
/// floors' calibration. The later rounds add theirs once the first has found what is timed.
pub fn steps(stages: &[Stage], workloads: &Workloads) -> usize {
    stages.len() * (2 + workloads.squares.len() + workloads.shapes.len()) + 2
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
    /// The floor's time for this workload, one sample next to each of `samples` (none for a
    /// workload without a floor).
    floor_samples: Vec<f64>,
    calls_per_sample: u64,
}

/// How long one call of the FP32 FMA peak loop should take, in seconds: long enough for the
/// clock, short enough for many samples in each round.
const PEAK_CALL_SECONDS: f64 = 0.002;

/// Samples of the FP32 peak taken in each round.
const PEAK_SAMPLES_PER_ROUND: usize = 10;

/// Reads of `x` per method when the read floor picks its method.
const READ_CALIBRATION_READS: usize = 5;

/// The floors: how each is measured, and its samples taken outside the pairs.
struct Floors<'x> {
    /// The read of `x` by the fastest method on this machine, and the threads of it and of the
    /// FMA peak on every core.
    read: FloorThreads,
    /// Every method's median read time in the calibration, nanoseconds.
    read_methods: Vec<(ReadMethod, f64)>,
    x: &'x [f32],
    /// The FMA loop's iterations per call, sized to [`PEAK_CALL_SECONDS`].
    peak_iterations: u64,
    /// The FMA loop on one thread: the floor of `mnist5`, which the workspace's stages compute
    /// on one core.
    one_core: FloorThreads,
    /// Its iterations per call, sized to [`PEAK_CALL_SECONDS`].
    one_core_iterations: u64,
    /// Reads of `x` taken alone (one set a round), nanoseconds.
    read_alone: Vec<f64>,
    /// FMA-loop rates taken alone (one set a round), flops per nanosecond.
    peak_alone: Vec<f64>,
    /// The same on one thread.
    one_core_alone: Vec<f64>,
}

impl<'x> Floors<'x> {
    /// Picks the read method and sizes the FMA loop, on `plan.threads` threads.
    fn calibrate(plan: &Plan, x: &'x [f32]) -> Floors<'x> {
        let (read, read_methods) =
            FloorThreads::fastest(plan.threads, Isa::detect(), x, READ_CALIBRATION_READS);
        let peak_iterations = read.fma_iterations_for(PEAK_CALL_SECONDS);
        let one_core = FloorThreads::new(1, ReadMethod::Plain, read.isa());
        let one_core_iterations = one_core.fma_iterations_for(PEAK_CALL_SECONDS);
        Floors {
            read,
            read_methods,
            x,
            peak_iterations,
            one_core,
            one_core_iterations,
            read_alone: Vec::new(),
            peak_alone: Vec::new(),
            one_core_alone: Vec::new(),
        }
    }

    /// Whether samples of `workload` are paired with a floor sample: `mnist50k`, with a read
    /// of `x`.
    fn pairs(&self, workload: &Workload) -> bool {
        workload.name == MNIST50K
    }

    /// One sample of the paired floor: a read of `x`, in nanoseconds.
    fn read_sample(&self) -> f64 {
        self.read.time(self.x)
    }

    /// One set of each floor on its own: a few reads of `x` and the FMA peak's samples for
    /// the round.
    fn round_alone(&mut self) {
        // Each after the threads timed last have gone to sleep (a pool's workers spin a while
        // before they do), or its first samples would share a core with them.
        timer::settle();
        for _ in 0..3 {
            self.read_alone.push(self.read.time(self.x));
        }
        timer::settle();
        for _ in 0..PEAK_SAMPLES_PER_ROUND {
            self.peak_alone
                .push(fma_rate(&self.read, self.peak_iterations));
        }
        timer::settle();
        for _ in 0..PEAK_SAMPLES_PER_ROUND {
            self.one_core_alone
                .push(fma_rate(&self.one_core, self.one_core_iterations));
        }
    }
}

/// One call of the FMA loop, `iterations` on each of `threads`' threads: its rate, flops per
/// nanosecond.
fn fma_rate(threads: &FloorThreads, iterations: u64) -> f64 {
    let flops =
        threads.threads() as f64 * iterations as f64 * floor::flops_per_iteration(threads.isa());
    let started = std::time::Instant::now();
    std::hint::black_box(threads.fma_peak(iterations));
    flops / (started.elapsed().as_secs_f64() * 1e9)
}

/// Times `stages` on `workloads` as `plan` says, with the floors, into `results`, calling
/// `after_round` at the end of each round (the Python peers take theirs there).
///
/// The first round checks every stage against a float64 product, decides which workloads each can
/// be timed on within the limits, and times those; each later round times the same again, in the
/// opposite order to the round before, with the floors. A record's median is that of all its
/// rounds' samples: a stage measured only at one moment would carry whatever the machine was doing
/// then (other processes, clock changes, a previous stage's threads), and its ratio to a stage
/// measured minutes later would mean less.
pub fn run(
    plan: &Plan,
    stages: &[Stage],
    workloads: &Workloads,
    progress: &ProgressBar,
    results: &mut Results,
    mut after_round: impl FnMut(),
) {
    let rounds = plan.rounds.max(1);
    let round_settings = timer::per_round(plan.settings, rounds);
    let x = workloads
        .mnist50k
        .a
        .as_slice()
        .expect("a standard-layout array");
    progress.set_message("floors: the fastest read of x, the FMA loop");
    let mut floors = Floors::calibrate(plan, x);
    floors.round_alone();
    progress.inc(2);
    let mut first = FirstRound {
        plan,
        settings: round_settings,
        stages,
        workloads,
        progress,
        results: &mut *results,
        timed: Vec::new(),
        floors: &floors,
    };
    first.lesson();
    first.squares();
    first.shapes();
    let mut timed = first.timed;
    after_round();

    progress.inc_length(((timed.len() + 1) * (rounds - 1)) as u64);
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
            let call = || (stage.matmul)(a, b);
            let workload = t.workload;
            if floors.pairs(workload) {
                let (samples, floor_samples, _) =
                    timer::sample_paired(t.settings, call, || floors.read_sample());
                t.samples.extend(samples);
                t.floor_samples.extend(floor_samples);
            } else {
                t.samples.extend(timer::sample(t.settings, call).0);
            }
            progress.inc(1);
        }
        floors.round_alone();
        progress.inc(1);
        after_round();
    }

    for t in &timed {
        results.results.push(stage_record(&stages[t.stage], t));
    }
    floor_records(plan, workloads, rounds, &floors, &timed, results);
}

/// The record of a stage on a workload: the median of its pooled samples with their interval,
/// and, against the workload's floor, the median and interval of the pairs' ratios.
fn stage_record(stage: &Stage, t: &Timed<'_>) -> Record {
    let timing = timer::summarize(&t.samples, t.calls_per_sample);
    let (ci_low_ns, ci_high_ns) = timer::median_interval(&t.samples);
    let (floor_ratio, floor_ratio_low, floor_ratio_high) = if t.floor_samples.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        let ratios = timer::ratios(&t.samples, &t.floor_samples);
        let (low, high) = timer::median_interval(&ratios);
        (timer::median(ratios), low, high)
    };
    Record {
        stage: stage.name.into(),
        package: stage.defined_in.package.into(),
        source: Source::Rust,
        workload: t.workload.name.clone(),
        median_ns: timing.median_ns,
        min_ns: timing.min_ns,
        mad_ns: timing.mad_ns,
        ci_low_ns,
        ci_high_ns,
        samples: timing.samples,
        gflops: t.workload.flops() / timing.median_ns,
        floor_ratio,
        floor_ratio_low,
        floor_ratio_high,
        runs_as: stage.runs_as.map_or(String::new(), |runs_as| {
            let (m, k, n) = t.workload.dims();
            runs_as(m, k, n).into()
        }),
        note: String::new(),
    }
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
    floors: &'a Floors<'a>,
}

impl<'w> FirstRound<'_, 'w> {
    /// The lesson's workloads in the first round: five images, then all of them if the stage is
    /// fast enough.
    fn lesson(&mut self) {
        let (plan, settings, progress) = (self.plan, self.settings, self.progress);
        let workloads: &'w Workloads = self.workloads;
        let (mnist5, mnist50k) = (&workloads.mnist5, &workloads.mnist50k);
        let (reference5, reference50k) = (reference(mnist5), reference(mnist50k));
        for (index, stage) in self.stages.iter().enumerate() {
            progress.set_message(format!("{} on {MNIST5}", stage.name));
            let five = self.time_stage(index, mnist5, &reference5, settings, None);
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
                        self.time_stage(index, mnist50k, &reference50k, slow, None);
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
    }

    /// The square sweep in the first round: each stage goes up in size while its last rate says
    /// one run fits.
    fn squares(&mut self) {
        let (plan, settings, progress) = (self.plan, self.settings, self.progress);
        let workloads: &'w Workloads = self.workloads;
        // Each square's reference, made when a stage first gets that far.
        let references: Vec<OnceCell<Array2<f64>>> =
            workloads.squares.iter().map(|_| OnceCell::new()).collect();
        for (index, stage) in self.stages.iter().enumerate() {
            // From its largest lesson workload so far.
            let mut seconds_per_flop =
                self.timed.iter().rev().find(|t| t.stage == index).map(|t| {
                    timer::summarize(&t.samples, t.calls_per_sample).median_ns * 1e-9
                        / t.workload.flops()
                });
            for (square, reference) in workloads.squares.iter().zip(&references) {
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
                let reference = reference.get_or_init(|| self::reference(square));
                let settings = settings_for(settings, estimate);
                seconds_per_flop = self
                    .time_stage(index, square, reference, settings, None)
                    .map(|ns| ns * 1e-9 / square.flops());
            }
        }
    }

    /// The other shapes in the first round: each stage on each shape whose one run, by its rate
    /// on the largest product it ran so far, fits the limit, and whose check (one run) did
    /// (none for a stage timed on nothing so far). That rate is the arithmetic's, and a shape
    /// whose time goes to moving data can take several times longer: the check's own time
    /// catches it.
    fn shapes(&mut self) {
        let (plan, settings, progress) = (self.plan, self.settings, self.progress);
        let workloads: &'w Workloads = self.workloads;
        let references: Vec<Array2<f64>> = workloads.shapes.iter().map(reference).collect();
        for (index, stage) in self.stages.iter().enumerate() {
            let seconds_per_flop = self
                .timed
                .iter()
                .filter(|t| t.stage == index)
                .max_by(|x, y| x.workload.flops().total_cmp(&y.workload.flops()))
                .map(|t| {
                    timer::summarize(&t.samples, t.calls_per_sample).median_ns * 1e-9
                        / t.workload.flops()
                });
            for (shape, reference) in workloads.shapes.iter().zip(&references) {
                progress.set_message(format!("{} on {}", stage.name, shape.name));
                progress.inc(1);
                let Some(rate) = seconds_per_flop else {
                    continue;
                };
                let estimate = rate * shape.flops();
                if estimate > plan.max_square_run {
                    self.results.skipped.push(skipped(
                        stage,
                        &shape.name,
                        format!(
                            "one run would take about {} (limit {} s)",
                            format_time(estimate * 1e9),
                            plan.max_square_run
                        ),
                    ));
                    continue;
                }
                let settings = settings_for(settings, estimate);
                let limit = Some(plan.max_square_run);
                self.time_stage(index, shape, reference, settings, limit);
            }
        }
    }

    /// Checks the stage at `index` on `workload` against `reference`, then times its first round
    /// (unless `limit` is given and the check took longer: then it is skipped)
    /// into `timed`, or records why it was skipped. Returns that round's median in nanoseconds
    /// when timed.
    fn time_stage(
        &mut self,
        index: usize,
        workload: &'w Workload,
        reference: &Array2<f64>,
        settings: Settings,
        limit: Option<f64>,
    ) -> Option<f64> {
        let stage = &self.stages[index];
        let (a, b) = (workload.a.view(), workload.b.view());
        // The check's time sizes the limits: not with the threads of the stage before.
        timer::settle();
        let started = std::time::Instant::now();
        let product = (stage.matmul)(a, b);
        let once = started.elapsed().as_secs_f64();
        let error = relative_error(&product, reference);
        if error.is_nan() || error > 1e-4 {
            self.results.skipped.push(skipped(
                stage,
                &workload.name,
                format!("wrong result: relative error {error:e} against a float64 product"),
            ));
            return None;
        }
        if let Some(limit) = limit.filter(|&limit| once > limit) {
            self.results.skipped.push(skipped(
                stage,
                &workload.name,
                format!("one run took {} (limit {limit} s)", format_time(once * 1e9)),
            ));
            return None;
        }
        let call = || (stage.matmul)(a, b);
        let floors = self.floors;
        let (samples, floor_samples, calls_per_sample) = if floors.pairs(workload) {
            timer::sample_paired(settings, call, || floors.read_sample())
        } else {
            let (samples, calls_per_sample) = timer::sample(settings, call);
            (samples, Vec::new(), calls_per_sample)
        };
        let median_ns = timer::summarize(&samples, calls_per_sample).median_ns;
        self.timed.push(Timed {
            stage: index,
            workload,
            settings,
            samples,
            floor_samples,
            calls_per_sample,
        });
        Some(median_ns)
    }
}

/// `workload`'s product accumulated in `f64` ([`reference_matmul`]): the yardstick each stage
/// is checked against before it is timed, computed by none of them.
fn reference(workload: &Workload) -> Array2<f64> {
    reference_matmul(workload.a.view(), workload.b.view())
}

/// The floors' records: the read of `x` on `mnist50k`, the FP32 FMA peak as one floor per
/// square workload (the time its `2·N³` flops would take at that peak), and one core's FMA peak
/// as the floor of `mnist5`. Each pools every sample of its floor: those paired with the stages
/// and those taken alone each round.
fn floor_records(
    plan: &Plan,
    workloads: &Workloads,
    rounds: usize,
    floors: &Floors<'_>,
    timed: &[Timed<'_>],
    results: &mut Results,
) {
    let on = |name: &str| -> Vec<f64> {
        timed
            .iter()
            .filter(|t| t.workload.name == name)
            .flat_map(|t| t.floor_samples.iter().copied())
            .collect()
    };
    let mut reads = floors.read_alone.clone();
    reads.extend(on(MNIST50K));
    let read = timer::summarize(&reads, 1);
    let (ci_low_ns, ci_high_ns) = timer::median_interval(&reads);
    let methods: Vec<String> = floors
        .read_methods
        .iter()
        .map(|(method, ns)| format!("{} {}", method.name(), format_time(*ns)))
        .collect();
    results.floors.push(Record {
        stage: STREAM_READ.into(),
        workload: MNIST50K.into(),
        median_ns: read.median_ns,
        min_ns: read.min_ns,
        mad_ns: read.mad_ns,
        ci_low_ns,
        ci_high_ns,
        samples: read.samples,
        note: format!(
            "one read of x ({:.0} MB, {} threads, {}: the fastest of {})",
            std::mem::size_of_val(floors.x) as f64 / 1e6,
            plan.threads,
            floors.read.method.name(),
            methods.join(", ")
        ),
        ..Record::default()
    });

    // The FMA loop's rates, flops per nanosecond, taken in every round. Anything else running
    // only slows a register-only loop down, never speeds it up (a full run on a 2-core machine
    // measured half its samples at half the rate, next to the threads of the stage before), so
    // the peak is its fastest sample: a floor no stage can pass. The median of the faster half,
    // used before, was 9% below the fastest on a 2-core Zen 4, and `gemm` beat it at 2048.
    let rate = floors.peak_alone.iter().copied().fold(0.0, f64::max);
    for square in &workloads.squares {
        let note = format!(
            "2·N³ flops at the FP32 FMA peak measured in this run ({}, registers only, {} \
             threads; the fastest of its {} samples in {} rounds)",
            floor::peak_name(floors.read.isa()),
            plan.threads,
            floors.peak_alone.len(),
            rounds
        );
        let record = peak_floor(FP32_PEAK, square, rate, floors.peak_alone.len(), note);
        results.floors.push(record);
    }
    // The five-image product's floor, from the FMA loop on one thread: its fastest sample too.
    let one_core = floors.one_core_alone.iter().copied().fold(0.0, f64::max);
    let five = &workloads.mnist5;
    let (m, k, n) = five.dims();
    let note = format!(
        "2·{m}·{k}·{n} flops at one core's FP32 FMA peak measured in this run ({}, registers \
         only, 1 thread, as the workspace's stages compute five images; the fastest of its {} \
         samples in {} rounds)",
        floor::peak_name(floors.read.isa()),
        floors.one_core_alone.len(),
        rounds
    );
    let record = peak_floor(
        ONE_CORE_PEAK,
        five,
        one_core,
        floors.one_core_alone.len(),
        note,
    );
    results.floors.push(record);
}

/// The `stage` floor of `workload` at a peak `rate` (flops per nanosecond, the fastest of
/// `samples`): the time its flops take at that rate, with no interval around it.
fn peak_floor(stage: &str, workload: &Workload, rate: f64, samples: usize, note: String) -> Record {
    let ns = workload.flops() / rate;
    Record {
        stage: stage.into(),
        workload: workload.name.clone(),
        median_ns: ns,
        min_ns: ns,
        ci_low_ns: ns,
        ci_high_ns: ns,
        samples,
        gflops: rate,
        note,
        ..Record::default()
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

/// The sampling (of one round) for a run expected to take `estimate` seconds, so that a slow
/// stage costs a few runs, not a minute: long runs get a short warm-up (one call) and the
/// minimum samples, and runs over 1 s one sample a round. <!-- fact -->
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
