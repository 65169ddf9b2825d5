//! The timing harness: wait for the threads of what ran before to go quiet ([`settle`]), warm
//! up, pick how many calls make one sample, take samples until the budget is spent, report the
//! median time per call.
//!
//! It is criterion's sampling: the median of many samples is robust to the occasional
//! interruption, and grouping calls into samples makes a microsecond-long call measurable with a
//! coarse clock. Runs of several seconds get one call per sample and at least
//! [`Settings::min_samples`] samples. As criterion does, [`median_interval`] bootstraps the
//! samples for a 95% interval of their median.
//!
//! A stage is compared with its floor by [`sample_paired`]: each sample of the stage is followed
//! by one sample of the floor, so that both see the machine at the same moment, and the ratio is
//! taken pair by pair ([`ratios`]). A machine whose speed drifts during a run (another process, a
//! clock change) moves both halves of a pair together, and the ratio keeps its meaning.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// How long to time one stage on one workload.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Calls before measuring (at least one): caches, page faults, thread start-up.
    pub warm_up: Duration,
    /// Time to spend taking samples (more if `min_samples` need it).
    pub measure: Duration,
    /// Samples to take however long they last.
    pub min_samples: usize,
    /// Samples to stop at however short they are.
    pub max_samples: usize,
}

/// What one measurement found, per call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Median time per call, nanoseconds.
    pub median_ns: f64,
    /// Fastest sample's time per call, nanoseconds.
    pub min_ns: f64,
    /// Median absolute deviation of the samples from the median, nanoseconds.
    pub mad_ns: f64,
    /// Samples taken.
    pub samples: usize,
    /// Calls in each sample.
    pub calls_per_sample: u64,
}

/// Times `call` as `settings` say.
pub fn time<R>(settings: Settings, call: impl FnMut() -> R) -> Timing {
    let (samples, calls_per_sample) = sample(settings, call);
    summarize(&samples, calls_per_sample)
}

/// Takes the samples [`time`] summarizes: nanoseconds per call, one per group of calls, and the
/// number of calls in a group. Samples of the same call taken at different times (in rounds)
/// can be pooled and summarized together.
pub fn sample<R>(settings: Settings, mut call: impl FnMut() -> R) -> (Vec<f64>, u64) {
    settle();
    let calls_per_sample = warm_up(settings, &mut call);
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < settings.min_samples
        || (start.elapsed() < settings.measure && samples.len() < settings.max_samples)
    {
        samples.push(one_sample(&mut call, calls_per_sample));
    }
    (samples, calls_per_sample)
}

/// Waits until no other thread of this process runs: the threads of whatever was timed before
/// (a pool's workers spin a while before they sleep, OpenBLAS's for about a tenth of a second)
/// would otherwise share the cores with the next stage, and a round's share of the warm-up does
/// not always outlast them. It watches the process's CPU time over pauses of 5 ms, <!-- fact -->
/// for at most 0.3 s; where that clock is not read (not a Unix), it waits two pauses. <!-- fact -->
pub fn settle() {
    let start = Instant::now();
    let mut quiet = 0;
    while quiet < 2 && start.elapsed() < SETTLE_AT_MOST {
        let before = process_cpu_time();
        std::thread::sleep(SETTLE_STEP);
        let busy = match (before, process_cpu_time()) {
            (Some(before), Some(after)) => after.saturating_sub(before) > SETTLE_STEP / 5,
            _ => false,
        };
        quiet = if busy { 0 } else { quiet + 1 };
    }
}

/// One pause of [`settle`]: the process is quiet when its threads used under a fifth of it, two
/// pauses in a row (a spinning thread the system set aside for a moment is not quiet).
const SETTLE_STEP: Duration = Duration::from_millis(5);

/// The longest [`settle`] waits: a thread that spins longer is busy, not settling.
const SETTLE_AT_MOST: Duration = Duration::from_millis(300);

/// The CPU time all of this process's threads have used; `None` where it is not read.
fn process_cpu_time() -> Option<Duration> {
    #[cfg(unix)]
    {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid `timespec` for the call to write.
        let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
        (status == 0).then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
    }
    #[cfg(not(unix))]
    None
}

/// Calls `call` for the warm-up; returns how many calls make one sample (about a thirtieth of
/// the budget, at least a millisecond).
fn warm_up<R>(settings: Settings, call: &mut impl FnMut() -> R) -> u64 {
    let start = Instant::now();
    let mut calls = 0u64;
    while calls == 0 || start.elapsed() < settings.warm_up {
        black_box(call());
        calls += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / calls as f64;
    let sample_seconds = (settings.measure.as_secs_f64() / 30.0).max(1e-3);
    ((sample_seconds / per_call.max(1e-9)).ceil() as u64).max(1)
}

/// One sample: nanoseconds per call over `calls` calls.
fn one_sample<R>(call: &mut impl FnMut() -> R, calls: u64) -> f64 {
    let sample = Instant::now();
    for _ in 0..calls {
        black_box(call());
    }
    sample.elapsed().as_secs_f64() * 1e9 / calls as f64
}

/// [`sample`], with one call of `floor` timed right after each sample of `call`: the floor's
/// samples, in nanoseconds as `floor` reports them, pair up with the stage's one to one.
/// `floor` returns the floor's time for the workload (it may time itself, as the FMA peak does
/// when it converts its rate to a time for the workload's flops).
pub fn sample_paired<R>(
    settings: Settings,
    mut call: impl FnMut() -> R,
    mut floor: impl FnMut() -> f64,
) -> (Vec<f64>, Vec<f64>, u64) {
    settle();
    let calls_per_sample = warm_up(settings, &mut call);
    black_box(floor()); // the floor's own warm-up
    let (mut stage_samples, mut floors) = (Vec::new(), Vec::new());
    let start = Instant::now();
    while stage_samples.len() < settings.min_samples
        || (start.elapsed() < settings.measure && stage_samples.len() < settings.max_samples)
    {
        stage_samples.push(one_sample(&mut call, calls_per_sample));
        // A pause before the floor, so that the threads the stage woke and that linger a
        // moment (the workspace pool's, a millisecond) do not slow the floor down. (A
        // library's longer spin would pair every sample with a slowed floor: none of the
        // paired stages has one.)
        std::thread::sleep(PAIR_PAUSE);
        floors.push(floor());
    }
    (stage_samples, floors, calls_per_sample)
}

/// How long [`sample_paired`] waits between a stage's sample and the floor's.
const PAIR_PAUSE: Duration = Duration::from_micros(500);

/// The ratio of each stage sample to the floor sample taken next to it.
///
/// # Panics
///
/// When the two have different lengths (they are pairs).
pub fn ratios(stage: &[f64], floor: &[f64]) -> Vec<f64> {
    assert_eq!(stage.len(), floor.len(), "paired samples");
    stage.iter().zip(floor).map(|(s, f)| s / f).collect()
}

/// Resamplings of [`median_interval`]'s bootstrap.
const BOOTSTRAP_RESAMPLES: usize = 2000;

/// A 95% interval of the median of `samples` (percentile bootstrap: the median of
/// 2000 resamplings with replacement, its 2.5th and 97.5th percentiles).
/// Deterministic (a fixed seed), so a saved run renders the same way twice. A single sample
/// gives a point, `(s, s)`: one sample says nothing about its spread.
///
/// # Panics
///
/// When `samples` is empty.
pub fn median_interval(samples: &[f64]) -> (f64, f64) {
    assert!(!samples.is_empty(), "no samples to bootstrap");
    if samples.len() == 1 {
        return (samples[0], samples[0]);
    }
    let mut rng = matmul_data::synthetic::SplitMix64::new(0xB007_57A9);
    let n = samples.len() as u64;
    let mut medians: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| {
            let resample = (0..n)
                .map(|_| samples[(rng.next_u64() % n) as usize])
                .collect();
            median(resample)
        })
        .collect();
    medians.sort_by(f64::total_cmp);
    let at = |q: f64| medians[((q * (BOOTSTRAP_RESAMPLES - 1) as f64).round()) as usize];
    (at(0.025), at(0.975))
}

/// One round's share of `settings` when a measurement is split into `rounds` taken at different
/// times: the budgets divided, at least one sample, and the sample counts split so that the
/// rounds together take about what one measurement would.
pub fn per_round(settings: Settings, rounds: usize) -> Settings {
    let rounds = rounds.max(1);
    Settings {
        warm_up: settings.warm_up / rounds as u32,
        measure: settings.measure / rounds as u32,
        min_samples: settings.min_samples.div_ceil(rounds).max(1),
        max_samples: settings.max_samples.div_ceil(rounds).max(1),
    }
}

/// Median, minimum and median absolute deviation of `samples` (nanoseconds per call).
///
/// # Panics
///
/// When `samples` is empty.
pub fn summarize(samples: &[f64], calls_per_sample: u64) -> Timing {
    assert!(!samples.is_empty(), "no samples to summarize");
    let median_ns = median(samples.to_vec());
    let deviations: Vec<f64> = samples.iter().map(|s| (s - median_ns).abs()).collect();
    Timing {
        median_ns,
        min_ns: samples.iter().copied().fold(f64::INFINITY, f64::min),
        mad_ns: median(deviations),
        samples: samples.len(),
        calls_per_sample,
    }
}

/// The median: the middle value, or the mean of the two middle values.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_share_the_budget() {
        let settings = Settings {
            warm_up: Duration::from_millis(300),
            measure: Duration::from_millis(1500),
            min_samples: 5,
            max_samples: 100,
        };
        let round = per_round(settings, 3);
        assert_eq!(round.warm_up, Duration::from_millis(100));
        assert_eq!(round.measure, Duration::from_millis(500));
        assert_eq!((round.min_samples, round.max_samples), (2, 34));
        assert_eq!(per_round(settings, 1).min_samples, 5);
        assert_eq!(
            per_round(
                Settings {
                    min_samples: 1,
                    ..settings
                },
                3
            )
            .min_samples,
            1
        );
    }

    #[test]
    fn summary_of_known_samples() {
        let timing = summarize(&[5.0, 1.0, 3.0, 100.0], 7);
        assert_eq!(timing.median_ns, 4.0);
        assert_eq!(timing.min_ns, 1.0);
        // deviations 1, 3, 1, 96 -> median 2
        assert_eq!(timing.mad_ns, 2.0);
        assert_eq!((timing.samples, timing.calls_per_sample), (4, 7));
    }

    #[test]
    fn the_interval_holds_the_median_and_narrows_with_more_samples() {
        let noisy: Vec<f64> = (0..20).map(|i| 100.0 + (i * 37 % 11) as f64).collect();
        let (low, high) = median_interval(&noisy);
        let middle = median(noisy.clone());
        assert!(low <= middle && middle <= high, "{low} {middle} {high}");
        let more: Vec<f64> = noisy.iter().cycle().take(400).copied().collect();
        let (low2, high2) = median_interval(&more);
        assert!(
            high2 - low2 <= high - low,
            "{low2}..{high2} against {low}..{high}"
        );
        assert_eq!(median_interval(&[7.0]), (7.0, 7.0));
        assert_eq!(median_interval(&noisy), (low, high), "deterministic");
    }

    #[test]
    fn paired_samples_pair_one_to_one() {
        let settings = Settings {
            warm_up: Duration::ZERO,
            measure: Duration::ZERO,
            min_samples: 4,
            max_samples: 10,
        };
        let mut floor_calls = 0;
        let (stage, floor, _) = sample_paired(
            settings,
            || (),
            || {
                floor_calls += 1;
                2.0
            },
        );
        assert_eq!(stage.len(), 4);
        assert_eq!(floor, vec![2.0; 4]);
        assert_eq!(floor_calls, 5, "one warm-up, one per sample");
        assert_eq!(ratios(&[4.0, 6.0], &[2.0, 2.0]), vec![2.0, 3.0]);
    }

    #[test]
    fn time_takes_at_least_the_minimum_samples() {
        let settings = Settings {
            warm_up: Duration::ZERO,
            measure: Duration::ZERO,
            min_samples: 3,
            max_samples: 10,
        };
        let mut calls = 0;
        let timing = time(settings, || calls += 1);
        assert_eq!(timing.samples, 3);
        assert!(calls as u64 > 3 * timing.calls_per_sample);
    }
}
