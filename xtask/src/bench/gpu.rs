//! `--cuda`: every GPU kernel of `08_cuda` and cuBLAS, on the lesson's workloads and the square
//! sweep, into the same [`Results`] as the CPU stages.
//!
//! Each method is first run once with its output poisoned with NaN and checked against a
//! float64 reference ([`Device::validate`]), and only then timed with CUDA events
//! ([`Device::measure`], the operands already in device memory). Beside the kernels, the run
//! measures what bounds them on this device: the copy of `x` from host memory (the lesson's
//! `cuda.to_device`, its own row), one read of `x` in device memory by a bandwidth kernel (the
//! floor of the lesson's workloads), and the FP32 peak from the device's properties (the
//! floor of the squares).

use std::time::Duration;

use anyhow::anyhow;
use indicatif::ProgressBar;
use matmul_cuda::gpu::{Device, MeasureOptions, Method, Timings};

use super::plan::{Plan, Workloads};
use super::results::{DEVICE_READ, FP32_PEAK, Record, Results, Skipped, Source, TO_DEVICE};
use super::timer;
use super::workload::{MNIST5, MNIST50K, Workload};

/// Opens the GPU, or explains in one line why there is none.
pub fn open() -> anyhow::Result<Device> {
    Device::open().map_err(|error| {
        anyhow!("--cuda: {error} (a GPU run needs an NVIDIA GPU and its driver; nothing was run)")
    })
}

/// Times every GPU method that `filters` select (cuBLAS always, as the yardstick) on the
/// plan's GPU workloads, with the GPU's floors, into `results`.
pub fn run(
    device: &Device,
    plan: &Plan,
    workloads: &Workloads,
    progress: &ProgressBar,
    results: &mut Results,
) {
    let methods: Vec<Method> = Method::ALL
        .into_iter()
        .filter(|&m| plan.selects(m.name(), m == Method::Cublas))
        .collect();
    let options = if plan.quick {
        MeasureOptions {
            min_reps: 3,
            max_reps: 20,
            budget: Duration::from_millis(100),
        }
    } else {
        MeasureOptions::default()
    };

    // The lesson's workloads: five images, and (full runs) all 50,000.
    let mut lesson = vec![&workloads.mnist5];
    if !plan.quick {
        lesson.push(&workloads.mnist50k);
    }
    for workload in lesson {
        progress.set_message(format!("gpu: {TO_DEVICE} on {}", workload.name));
        copy_and_read(device, workload, options, results);
        for &method in &methods {
            progress.set_message(format!("gpu: {} on {}", method.name(), workload.name));
            time_method(device, method, workload, options, results);
        }
    }

    // The square sweep, reusing the CPU's operands where it built them.
    let peak = device.peak_fp32_flops();
    for n in plan.gpu_square_sizes() {
        let built;
        let square = match workloads.squares.iter().find(|w| w.dims() == (n, n, n)) {
            Some(square) => square,
            None => {
                built = Workload::square(n);
                &built
            }
        };
        for &method in &methods {
            progress.set_message(format!("gpu: {} on {}", method.name(), square.name));
            time_method(device, method, square, options, results);
        }
        if let Some(peak) = peak {
            results.floors.push(Record {
                stage: FP32_PEAK.into(),
                source: Source::Gpu,
                workload: square.name.clone(),
                // Computed from the GPU's properties, not measured: no spread, so its
                // interval is the value itself.
                median_ns: square.flops() / peak * 1e9,
                min_ns: square.flops() / peak * 1e9,
                ci_low_ns: square.flops() / peak * 1e9,
                ci_high_ns: square.flops() / peak * 1e9,
                gflops: peak / 1e9,
                note: "2·N³ flops at the GPU's FP32 peak, computed from its properties (SMs × \
                       FP32 lanes per SM × 2 × boost clock), not measured"
                    .into(),
                ..Record::default()
            });
        }
    }
}

/// The copy of `x` to the device (a row of its own) and one read of it in device memory (the
/// workload's GPU floor).
fn copy_and_read(
    device: &Device,
    workload: &Workload,
    options: MeasureOptions,
    results: &mut Results,
) {
    let x = workload.a.view();
    let megabytes = (x.len() * std::mem::size_of::<f32>()) as f64 / 1e6;
    match device.measure_upload(x, options) {
        Ok(timings) => results.results.push(Record {
            stage: TO_DEVICE.into(),
            package: env_package(),
            source: Source::Gpu,
            workload: workload.name.clone(),
            note: format!("the copy of x ({megabytes:.1} MB) from host memory to the device"),
            ..timed_record(&timings)
        }),
        Err(error) => results.skipped.push(Skipped {
            stage: TO_DEVICE.into(),
            source: Source::Gpu,
            workload: workload.name.clone(),
            reason: error.to_string(),
        }),
    }
    if let Ok(timings) = device.measure_read(x, options) {
        let floor_name = match workload.name.as_str() {
            MNIST5 | MNIST50K => DEVICE_READ,
            _ => return,
        };
        results.floors.push(Record {
            stage: floor_name.into(),
            source: Source::Gpu,
            workload: workload.name.clone(),
            note: "one read of x in device memory (a bandwidth kernel, CUDA events)".into(),
            ..timed_record(&timings)
        });
    }
}

/// Validates `method` on `workload` with a poisoned output, then times its kernel; records
/// the result or why it was skipped.
fn time_method(
    device: &Device,
    method: Method,
    workload: &Workload,
    options: MeasureOptions,
    results: &mut Results,
) {
    let (a, b) = (workload.a.view(), workload.b.view());
    let skip = |reason: String| Skipped {
        stage: method.name().into(),
        source: Source::Gpu,
        workload: workload.name.clone(),
        reason,
    };
    match device.validate(method, a, b) {
        Ok(validation) if validation.passed() => {}
        Ok(validation) => {
            results
                .skipped
                .push(skip(format!("wrong result: {validation}")));
            return;
        }
        Err(error) => {
            results.skipped.push(skip(error.to_string()));
            return;
        }
    }
    match device.measure(method, a, b, options) {
        Ok(measured) => results.results.push(Record {
            stage: method.name().into(),
            package: env_package(),
            source: Source::Gpu,
            workload: workload.name.clone(),
            median_ns: nanos(measured.kernel),
            min_ns: {
                let samples = measured.kernel_samples.iter().copied();
                samples.min().map_or(nanos(measured.kernel), nanos)
            },
            ci_low_ns: interval(&measured.kernel_samples).0,
            ci_high_ns: interval(&measured.kernel_samples).1,
            samples: measured.kernel_samples.len(),
            gflops: measured.gflops(),
            note: format!(
                "kernel alone (CUDA events); with the copy of c back {:.0} ns; from host \
                 arrays to a host array {:.0} ns",
                nanos(measured.kernel_and_download),
                nanos(measured.end_to_end)
            ),
            ..Record::default()
        }),
        Err(error) => results.skipped.push(skip(error.to_string())),
    }
}

/// The package that defines the GPU kernels.
fn env_package() -> String {
    matmul_cuda::CRATE.package.into()
}

/// A record's timing fields from repeated timings: median, fastest, the median's interval,
/// the count.
fn timed_record(timings: &Timings) -> Record {
    let samples = &timings.samples;
    let (ci_low_ns, ci_high_ns) = interval(samples);
    Record {
        median_ns: nanos(timings.median),
        min_ns: samples
            .iter()
            .copied()
            .min()
            .map_or(nanos(timings.median), nanos),
        ci_low_ns,
        ci_high_ns,
        samples: samples.len(),
        ..Record::default()
    }
}

/// A 95% interval of the median of `times`, nanoseconds (the bench's bootstrap).
fn interval(times: &[Duration]) -> (f64, f64) {
    let ns: Vec<f64> = times.iter().map(|&t| nanos(t)).collect();
    if ns.is_empty() {
        (0.0, 0.0)
    } else {
        timer::median_interval(&ns)
    }
}

/// A duration in nanoseconds, as the records keep them.
fn nanos(time: Duration) -> f64 {
    time.as_secs_f64() * 1e9
}
