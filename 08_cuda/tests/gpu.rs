//! The GPU kernels and cuBLAS on a real device (feature `cuda`): validated against float64
//! with the output poisoned before each launch, and the GPU stages through the same
//! conformance checks as every CPU stage. Skipped, with a notice, where there is no GPU.
#![cfg(feature = "cuda")]

use matmul_cuda::gpu::{Device, MeasureOptions, Method, fp32_lanes_per_multiprocessor, gpu_stages};
use matmul_cuda::kernels::Kernel;
use matmul_cuda::naive;
use matmul_data::conformance::{check_rejects_mismatched_shapes, check_stage};
use matmul_data::{Processor, synthetic};

/// The shared device, or `None` after printing why the test is skipped.
///
/// # Panics
///
/// When there is no device and `MATMUL_CUDA_REQUIRE_GPU` is set (as `scripts/gpu-run.sh` does on
/// the GPU machine, where a skip would hide a broken module load).
fn device() -> Option<&'static Device> {
    let device = Device::shared();
    if device.is_none() {
        let why = Device::open().map_or_else(|err| err.to_string(), |_| "?".into());
        assert!(
            std::env::var_os("MATMUL_CUDA_REQUIRE_GPU").is_none(),
            "MATMUL_CUDA_REQUIRE_GPU is set but there is no usable GPU: {why}"
        );
        eprintln!("NOTICE: no GPU, test skipped ({why})");
    }
    device
}

/// MNIST's shapes, then sizes that are not multiples of any tile (16, 32, 128, or 4 for the
/// vector loads), then a square one past a tile boundary in every direction.
const SHAPES: &[(usize, usize, usize)] = &[
    (5, 784, 10),
    (50_000, 784, 10),
    (1, 1, 1),
    (7, 13, 3),
    (33, 65, 17),
    (127, 129, 31),
    (129, 257, 130),
    (1000, 999, 1001),
    (1025, 1024, 1023),
];

#[test]
fn every_method_matches_float64_with_every_element_written() {
    let Some(gpu) = device() else { return };
    let mut failures = Vec::new();
    for (case, &(m, k, n)) in SHAPES.iter().enumerate() {
        // fresh inputs for every shape
        let seed = 77 + 2 * case as u64;
        let (a, b) = if k == 784 {
            (
                synthetic::mnist_like(m, seed),
                synthetic::weights(k, n, seed + 1),
            )
        } else {
            (
                synthetic::uniform(m, k, seed),
                synthetic::uniform(k, n, seed + 1),
            )
        };
        for method in Method::ALL {
            match gpu.validate(method, a.view(), b.view()) {
                Ok(check) if check.passed() => eprintln!("{check}"),
                Ok(check) => failures.push(check.to_string()),
                Err(err) => failures.push(format!("{} ({m}, {k}, {n}): {err}", method.name())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn gpu_stages_pass_the_conformance_checks() {
    let Some(_) = device() else { return };
    let stages = gpu_stages();
    assert_eq!(stages.len(), Kernel::ALL.len(), "one stage per kernel");
    for stage in stages {
        eprintln!("conformance: {}", stage.name);
        check_stage(stage.matmul, naive::matmul);
        check_rejects_mismatched_shapes(stage.matmul);
    }
}

#[test]
fn every_kernel_is_a_gpu_stage_with_or_without_a_device() {
    let listed: Vec<&str> = matmul_cuda::stages()
        .iter()
        .filter(|s| s.runs_on == Processor::Gpu)
        .map(|s| s.name)
        .collect();
    let kernels: Vec<&str> = Kernel::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(listed, kernels);
    if Device::shared().is_none() {
        // Without a device a GPU stage cannot run: it panics, naming itself.
        let stage = gpu_stages()[0];
        let (a, b) = (synthetic::uniform(2, 3, 1), synthetic::uniform(3, 2, 2));
        let panic = std::panic::catch_unwind(|| (stage.matmul)(a.view(), b.view()))
            .expect_err("a GPU stage without a GPU");
        let message = panic.downcast_ref::<String>().map_or("", String::as_str);
        assert!(message.contains(stage.name), "{message}");
    }
}

/// `(rows, cols)` floats, small distinct-from-zero integers so that their f32 sum is exact:
/// a skipped or doubled element changes it.
fn counting(rows: usize, cols: usize) -> (ndarray::Array2<f32>, f64) {
    let x = ndarray::Array2::from_shape_fn((rows, cols), |(i, j)| ((i * cols + j) % 7 + 1) as f32);
    let sum = x.iter().map(|&v| f64::from(v)).sum();
    (x, sum)
}

#[test]
fn floors_the_read_kernel_reads_every_element_exactly_once() {
    let Some(gpu) = device() else { return };
    // a length that is not a multiple of 4 (the scalar tail), one shorter than a float4, and
    // a transposed (non-contiguous) view, which is copied to row-major first
    for (rows, cols) in [(1003, 785), (1, 3), (257, 64)] {
        let (x, expected) = counting(rows, cols);
        let sum = gpu.read_sum(x.view()).expect("the read kernel runs");
        assert_eq!(f64::from(sum), expected, "({rows}, {cols})");
        let sum = gpu.read_sum(x.t()).expect("the read kernel runs");
        assert_eq!(f64::from(sum), expected, "({rows}, {cols}) transposed");
    }
    assert_eq!(
        gpu.read_sum(ndarray::Array2::zeros((0, 5)).view()).unwrap(),
        0.0
    );
}

#[test]
fn floors_measure_read_and_upload_time_something() {
    let Some(gpu) = device() else { return };
    let options = MeasureOptions {
        min_reps: 3,
        max_reps: 5,
        budget: std::time::Duration::from_millis(200),
    };
    let (x, _) = counting(1000, 784);
    let read = gpu.measure_read(x.view(), options).expect("measure_read");
    let upload = gpu
        .measure_upload(x.view(), options)
        .expect("measure_upload");
    for (name, timings) in [("read", &read), ("upload", &upload)] {
        assert!(
            timings.median > std::time::Duration::ZERO,
            "{name}: {timings:?}"
        );
        assert!(
            (3..=5).contains(&timings.samples.len()),
            "{name}: {timings:?}"
        );
        assert!(
            timings.samples.contains(&timings.median),
            "{name}: {timings:?}"
        );
    }
    eprintln!(
        "read of (1000, 784): {:?}; upload: {:?}",
        read.median, upload.median
    );
}

#[test]
fn floors_peak_fp32_is_lanes_times_two_times_a_plausible_clock() {
    let Some(gpu) = device() else { return };
    let peak = gpu.peak_fp32_flops();
    eprintln!(
        "{}: compute capability {:?}, {} multiprocessors, peak {peak:?} FLOP/s",
        gpu.name(),
        gpu.compute_capability(),
        gpu.multiprocessors()
    );
    match fp32_lanes_per_multiprocessor(gpu.compute_capability()) {
        Some(lanes) if gpu.multiprocessors() > 0 => {
            let peak = peak.expect("a known architecture has a peak");
            let clock_hz = peak / (f64::from(gpu.multiprocessors()) * f64::from(lanes) * 2.0);
            assert!(
                (2e8..5e9).contains(&clock_hz),
                "implied clock {clock_hz} Hz"
            );
        }
        _ => assert_eq!(peak, None),
    }
}
