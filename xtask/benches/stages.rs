//! Criterion benches for every stage on the bench's workloads: `cargo bench -p xtask`.
//!
//! The same workloads as `cargo xtask bench` (the module is shared), with criterion's
//! statistics and its comparison against the previous run. Stages too slow for criterion's
//! ten samples on a workload are left out of that workload's group (estimated from their
//! five-image time). Filter as usual: `cargo bench -p xtask -- mnist5/`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};

use xtask::bench::{floor, workload};

use workload::{LessonData, MNIST5, MNIST50K, SHAPES, SQUARE_SIZES, TRAINING_IMAGES, Workload};

/// Longest single run worth ten criterion samples.
const MAX_RUN: Duration = Duration::from_millis(500);

/// Seconds per floating-point operation of each stage on five images (the fastest of three
/// calls): predicts a run on a larger workload without running it.
fn rates(mnist5: &Workload) -> Vec<f64> {
    let (a, b) = (mnist5.a.view(), mnist5.b.view());
    cpu_stages()
        .iter()
        .map(|stage| {
            let fastest = (0..3)
                .map(|_| {
                    let start = Instant::now();
                    black_box((stage.matmul)(a, b));
                    start.elapsed()
                })
                .min()
                .expect("three calls");
            fastest.as_secs_f64() / mnist5.flops()
        })
        .collect()
}

/// The stages that run on the CPU (the GPU's need a device: `cargo xtask bench --cuda`).
fn cpu_stages() -> Vec<matmul_data::Stage> {
    matmul_cuda::stages()
        .into_iter()
        .filter(|stage| stage.runs_on == matmul_data::Processor::Cpu)
        .collect()
}

fn bench_workload(c: &mut Criterion, workload: &Workload, rates: &[f64]) {
    let mut group = c.benchmark_group(&workload.name);
    group.throughput(Throughput::Elements(workload.flops() as u64));
    let (a, b) = (workload.a.view(), workload.b.view());
    for (stage, rate) in cpu_stages().into_iter().zip(rates) {
        let estimate = Duration::from_secs_f64(rate * workload.flops());
        if estimate > MAX_RUN {
            eprintln!(
                "{}/{}: skipped, one run would take about {estimate:.1?}",
                workload.name, stage.name
            );
            continue;
        }
        if estimate > Duration::from_millis(20) {
            group.sampling_mode(SamplingMode::Flat);
        }
        group.bench_function(BenchmarkId::from_parameter(stage.name), |bencher| {
            bencher.iter(|| (stage.matmul)(black_box(a), black_box(b)))
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let data = LessonData::synthetic("criterion bench");
    let mnist5 = Workload::lesson(MNIST5, &data, 5);
    let rates = rates(&mnist5);
    bench_workload(c, &mnist5, &rates);
    let mnist50k = Workload::lesson(MNIST50K, &data, TRAINING_IMAGES);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let images = mnist50k.a.as_slice().expect("a standard-layout array");
    let (read, _) =
        floor::FloorThreads::fastest(threads, matmul_cuda::blas::isa::Isa::detect(), images, 3);
    c.bench_function("floor/stream-read-mnist50k", |bencher| {
        bencher.iter(|| read.sum(black_box(images)))
    });
    bench_workload(c, &mnist50k, &rates);
    for n in SQUARE_SIZES {
        bench_workload(c, &Workload::square(n), &rates);
    }
    for shape in SHAPES {
        bench_workload(c, &Workload::shape(shape), &rates);
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
