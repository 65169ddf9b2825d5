//! The timing harness: warm up, pick how many calls make one sample, take samples until the
//! budget is spent, report the median time per call.
//!
//! It is criterion's sampling without the bootstrap: the median of many samples is robust to
//! the occasional interruption, and grouping calls into samples makes a microsecond-long call
//! measurable with a coarse clock. Runs of several seconds get one call per sample and at least
//! [`Settings::min_samples`] samples.

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
    let start = Instant::now();
    let mut calls = 0u64;
    while calls == 0 || start.elapsed() < settings.warm_up {
        black_box(call());
        calls += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / calls as f64;
    let sample_seconds = (settings.measure.as_secs_f64() / 30.0).max(1e-3);
    let calls_per_sample = ((sample_seconds / per_call.max(1e-9)).ceil() as u64).max(1);

    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < settings.min_samples
        || (start.elapsed() < settings.measure && samples.len() < settings.max_samples)
    {
        let sample = Instant::now();
        for _ in 0..calls_per_sample {
            black_box(call());
        }
        samples.push(sample.elapsed().as_secs_f64() * 1e9 / calls_per_sample as f64);
    }
    (samples, calls_per_sample)
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
fn median(mut values: Vec<f64>) -> f64 {
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
