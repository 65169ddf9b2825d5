//! Validates every GPU kernel against float64, then measures them against cuBLAS: the one
//! command a GPU session runs (see `08_cuda/gpu-run.sh`).
//!
//! ```text
//! gpu-check [--max-size N] [--seed S] [--skip-validation] [--quick]
//! ```
//!
//! (`gpu-check --help` says what each option does.)
//!
//! `--quick` is a smoke test (small validation shapes, 1000 MNIST rows, squares to 256): for a
//! first look on a GPU, and for `fake-gpu-run.sh`, which runs this against a CPU emulator.
//!
//! Prints, in order: the device and its FP32 peak; one line per (method, shape) validation; the
//! read kernel's check; the `mnist50k` floors (the read kernel over `a`, and uploading `a`);
//! the `mnist50k` table (kernel, kernel + download, end to end, effective bandwidth, multiple
//! of the measured read floor); the square sweep (GFLOP/s, percent of cuBLAS and of the FP32
//! peak); and the two H100 targets with the numbers that decide them. Exits 1 if any
//! validation fails, 2 if there is no device, 64 on bad arguments.

use std::process::exit;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use matmul_cuda::gpu::{Device, MeasureOptions, Measurement, Method};
use matmul_data::conformance::{check_rejects_mismatched_shapes, check_stage};
use matmul_data::synthetic;

/// `(m, k, n)` validated for every method: MNIST's, tiny and odd ones, sizes one past or short
/// of every tile (16, 32, 128), and a large square one (compared on sampled rows).
const VALIDATION_SHAPES: &[(usize, usize, usize)] = &[
    (5, 784, 10),
    (50_000, 784, 10),
    (1, 1, 1),
    (7, 13, 3),
    (33, 65, 17),
    (127, 129, 31),
    (129, 257, 130),
    (257, 100, 513),
    (1000, 999, 1001),
    (4096, 4096, 4096),
];

/// The shapes `--quick` validates: the small ones above.
const QUICK_SHAPES: &[(usize, usize, usize)] = &[
    (5, 784, 10),
    (1, 1, 1),
    (7, 13, 3),
    (33, 65, 17),
    (127, 129, 31),
    (129, 257, 130),
];

/// Validates every GPU kernel against float64, then measures them against cuBLAS.
#[derive(Parser, Debug)]
#[command(name = "gpu-check")]
struct Args {
    /// The largest square size of the sweep (doubling from 256).
    #[arg(long, value_name = "N", default_value_t = 8192)]
    max_size: usize,
    /// Seed of the random inputs [default: the clock].
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Measure only: skip the validations and the conformance checks.
    #[arg(long)]
    skip_validation: bool,
    /// A smoke test: small validation shapes, 1000 MNIST rows, squares up to 256.
    #[arg(long)]
    quick: bool,
}

fn main() {
    let args = Args::try_parse().unwrap_or_else(|err| {
        // --help and --version are not errors; anything else is a usage error (64)
        let code = if err.use_stderr() { 64 } else { 0 };
        let _ = err.print();
        exit(code)
    });
    let Args {
        mut max_size,
        seed,
        skip_validation,
        quick,
    } = args;
    let seed = seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let validation = !skip_validation;

    let device = match Device::open() {
        Ok(device) => device,
        Err(err) => {
            println!("gpu-check: no GPU, nothing to do ({err})");
            exit(2);
        }
    };
    let (major, minor) = device.compute_capability();
    println!(
        "device: {} (compute capability {major}.{minor})",
        device.name()
    );
    match device.peak_fp32_flops() {
        Some(peak) => println!(
            "FP32 peak: {:.1} TFLOP/s ({} multiprocessors, from the driver's clock)",
            peak / 1e12,
            device.multiprocessors()
        ),
        None => println!("FP32 peak: unknown for compute capability {major}.{minor}"),
    }
    let peak = device.peak_fp32_flops();
    match device.cublas_library() {
        Ok(path) => println!("cuBLAS: {path}"),
        Err(err) => println!("cuBLAS: unavailable ({err})"),
    }

    let mut failures = 0;
    if validation {
        println!(
            "\n## Validation against float64 (seed {seed}; c poisoned with NaN before each launch)"
        );
        let shapes = if quick {
            QUICK_SHAPES
        } else {
            VALIDATION_SHAPES
        };
        for (case, &(m, k, n)) in shapes.iter().enumerate() {
            // fresh inputs for every shape; MNIST shapes get MNIST-like data
            let case_seed = seed.wrapping_add(2 * case as u64);
            let (a, b) = if k == 784 && n == 10 {
                (
                    synthetic::mnist_like(m, case_seed),
                    synthetic::weights(k, n, case_seed + 1),
                )
            } else {
                (
                    synthetic::uniform(m, k, case_seed),
                    synthetic::uniform(k, n, case_seed + 1),
                )
            };
            for method in Method::ALL {
                match device.validate(method, a.view(), b.view()) {
                    Ok(check) => {
                        if !check.passed() {
                            failures += 1;
                        }
                        println!("{check}");
                    }
                    Err(err) => {
                        failures += 1;
                        println!("{} ({m}, {k}) @ ({k}, {n}): ERROR {err}", method.name());
                    }
                }
            }
        }
        println!("\n## The GPU stages through the conformance checks (every layout, zero sizes)");
        // check_rejects_mismatched_shapes makes each stage panic on purpose; keep those
        // expected messages out of the output (any other panic is still printed).
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !message.contains("inner dimensions differ") {
                default_hook(info);
            }
        }));
        for stage in matmul_cuda::gpu::gpu_stages() {
            let outcome = std::panic::catch_unwind(|| {
                check_stage(
                    stage.matmul,
                    matmul_cuda::blas::einsum::broadcast::elementwise::dot::naive::matmul,
                );
                check_rejects_mismatched_shapes(stage.matmul);
            });
            if outcome.is_err() {
                failures += 1;
            }
            println!(
                "{}: {}",
                stage.name,
                if outcome.is_ok() {
                    "ok"
                } else {
                    "FAILED (message above)"
                }
            );
        }
    }

    if validation {
        println!("\n## The read kernel (the floor) sums every element exactly once");
        // small integers sum exactly in f32, so a skipped or doubled element shows
        let x =
            ndarray::Array2::from_shape_fn((1003, 785), |(i, j)| ((i * 785 + j) % 7 + 1) as f32);
        let expected: f64 = x.iter().map(|&v| f64::from(v)).sum();
        match device.read_sum(x.view()) {
            Ok(sum) if f64::from(sum) == expected => println!("read-floor (1003, 785): ok"),
            Ok(sum) => {
                failures += 1;
                println!("read-floor (1003, 785): FAILED, sum {sum} instead of {expected}");
            }
            Err(err) => {
                failures += 1;
                println!("read-floor (1003, 785): ERROR {err}");
            }
        }
    }

    let rows = if quick { 1000 } else { 50_000 };
    if quick {
        max_size = max_size.min(256);
        println!("\n## mnist1k (--quick; not the target's shape): ({rows}, 784) @ (784, 10)");
    } else {
        println!("\n## mnist50k: ({rows}, 784) @ (784, 10)");
    }
    let (images, weights) = (
        synthetic::mnist_like(rows, seed ^ 0x5eed),
        synthetic::weights(784, 10, seed ^ 0xbeef),
    );
    let floor = match device.measure_read(images.view(), MeasureOptions::default()) {
        Ok(read) => read.as_secs_f64(),
        Err(err) => {
            println!("read floor: ERROR {err}");
            f64::NAN
        }
    };
    match device.measure_upload(images.view(), MeasureOptions::default()) {
        Ok(upload) => println!(
            "floors: reading a on the device {} ({:.0} GB/s); uploading a from host memory {}",
            show(Duration::from_secs_f64(floor.max(0.0))),
            4.0 * (rows * 784) as f64 / floor / 1e9,
            show(upload)
        ),
        Err(err) => println!("upload: ERROR {err}"),
    }
    println!(
        "{:<16} {:>12} {:>16} {:>14} {:>10} {:>10}",
        "method", "kernel", "+ download", "end to end", "GB/s", "x floor"
    );
    let mut best_mnist: Option<Measurement> = None;
    for method in Method::ALL {
        match device.measure(
            method,
            images.view(),
            weights.view(),
            MeasureOptions::default(),
        ) {
            Ok(m) => {
                println!(
                    "{:<16} {:>12} {:>16} {:>14} {:>10.0} {:>10.2}",
                    method.name(),
                    show(m.kernel),
                    show(m.kernel_and_download),
                    show(m.end_to_end),
                    m.effective_bandwidth(),
                    m.kernel.as_secs_f64() / floor
                );
                if method != Method::Cublas && best_mnist.is_none_or(|b| m.kernel < b.kernel) {
                    best_mnist = Some(m);
                }
            }
            Err(err) => println!("{:<16} ERROR {err}", method.name()),
        }
    }

    println!("\n## Square sweep: (s, s) @ (s, s), kernel time (CUDA events)");
    println!(
        "{:<16} {:>6} {:>12} {:>10} {:>10} {:>8}",
        "method", "s", "kernel", "GFLOP/s", "% cuBLAS", "% peak"
    );
    let mut best_4096: Option<(Measurement, f64)> = None;
    let mut size = 256;
    while size <= max_size {
        let a = synthetic::uniform(size, size, seed ^ size as u64);
        let b = synthetic::uniform(size, size, seed ^ (size as u64 + 1));
        let options = MeasureOptions {
            min_reps: if size >= 4096 { 2 } else { 3 },
            ..MeasureOptions::default()
        };
        // cuBLAS first: the other rows are percentages of it
        let cublas = device.measure(Method::Cublas, a.view(), b.view(), options);
        let cublas_gflops = cublas.as_ref().map_or(f64::NAN, Measurement::gflops);
        for method in Method::ALL.iter().rev().copied() {
            // cuBLAS's row first, then the kernels from the last step back to the lesson's
            let measured = if method == Method::Cublas {
                cublas.as_ref().map(|m| *m).map_err(|e| e.to_string())
            } else {
                device
                    .measure(method, a.view(), b.view(), options)
                    .map_err(|e| e.to_string())
            };
            match measured {
                Ok(m) => {
                    let percent = 100.0 * m.gflops() / cublas_gflops;
                    let of_peak = peak.map_or(f64::NAN, |p| 100.0 * m.gflops() * 1e9 / p);
                    println!(
                        "{:<16} {:>6} {:>12} {:>10.0} {:>9.1}% {:>7.1}%",
                        method.name(),
                        size,
                        show(m.kernel),
                        m.gflops(),
                        percent,
                        of_peak
                    );
                    if size == 4096
                        && method != Method::Cublas
                        && best_4096.is_none_or(|(b, _)| m.kernel < b.kernel)
                    {
                        best_4096 = Some((m, percent));
                    }
                }
                Err(err) => println!("{:<16} {:>6} ERROR {err}", method.name(), size),
            }
        }
        size *= 2;
    }

    println!("\n## Targets (for an H100)");
    match best_4096 {
        Some((m, percent)) => println!(
            "best own kernel at 4096: {} at {:.0} GFLOP/s = {percent:.1}% of cuBLAS (target >= 80%): {}",
            m.method.name(),
            m.gflops(),
            if percent >= 80.0 { "MET" } else { "NOT MET" }
        ),
        None => println!("best own kernel at 4096: not measured (--max-size below 4096?)"),
    }
    match best_mnist {
        Some(m) => {
            let ratio = m.kernel.as_secs_f64() / floor;
            println!(
                "mnist50k best kernel: {} at {} = {ratio:.2}x the read floor of {} (target <= 1.5x): {}",
                m.method.name(),
                show(m.kernel),
                show(Duration::from_secs_f64(floor)),
                if ratio <= 1.5 { "MET" } else { "NOT MET" }
            );
        }
        None => println!("mnist50k: no kernel measured"),
    }
    if quick {
        println!("(--quick: the targets are for mnist50k and 4096; these lines are not them)");
    }
    if failures > 0 {
        println!("\n{failures} validation(s) FAILED");
        exit(1);
    }
}

/// A duration in µs (below 10 ms) or ms.
fn show(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 10_000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}
