//! What a run measured: the one record type that every part of the bench writes (CPU stages,
//! the lesson's Python, GPU kernels, floors) and every renderer reads.
//!
//! A leaf module: it knows nothing of how the numbers were taken or how they are shown, so the
//! runners (`cpu`, `python`, `gpu`) and the renderers (`table`, `chart`, `docs`) depend on it
//! and never on each other. `results.json` is this type, serialised.

use serde::{Deserialize, Serialize};

use super::workload::{MNIST5, MNIST50K, square_size};

/// Everything one run measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Results {
    /// Where and how it ran.
    pub machine: Machine,
    /// One entry per stage (or Python method, or GPU kernel) and workload that was timed.
    pub results: Vec<Record>,
    /// The stage and workload pairs that were not timed, and why.
    pub skipped: Vec<Skipped>,
    /// The floors, measured in the same run: the best time physics allows for a workload on
    /// this machine, or on one core of it for the five images ([`ONE_CORE_PEAK`]); its `stage`
    /// says which floor, its `note` how it was taken.
    pub floors: Vec<Record>,
}

/// The machine line: what the numbers depend on.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    /// CPU model, as the system names it (`matmul_blas::machine::cpu_name`).
    pub cpu: String,
    /// Logical CPUs the process may use.
    pub cores: usize,
    /// Threads the threaded stages and the floors use.
    pub threads: usize,
    /// The instruction set every kernel of step 7 and the FP32 peak use
    /// (`matmul_blas::isa::Isa::detect`, `MATMUL_ISA`).
    pub simd: String,
    /// The cache sizes the GEMM's blocks were cut to, each marked where it is a default
    /// (`matmul_blas::machine::Caches::detection`). Absent from runs saved before it was kept.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub caches: String,
    /// `rustc --version` of the toolchain on the path.
    pub rustc: String,
    /// The BLAS libraries in this build.
    pub blas: String,
    /// Which data the lesson's workloads used.
    pub data: String,
    /// `quick` or `full`.
    pub mode: String,
    /// When the run started, UTC.
    pub date: String,
    /// The GPU the `gpu` rows ran on (`--cuda`), as its driver names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
}

/// Who produced a record: the workspace's CPU stages, the lesson's Python, or a GPU kernel.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A stage of this workspace, on the CPU.
    #[default]
    Rust,
    /// A kernel of `08_cuda` (or cuBLAS) on the GPU, timed with CUDA events.
    Gpu,
    /// One of the lesson's own methods, timed by Python.
    Python,
}

impl Source {
    /// How tables and charts label `stage` from this source: plain for Rust stages, prefixed
    /// for the others so that a reader never mistakes a peer for a stage.
    pub fn label(self, stage: &str) -> String {
        match self {
            Source::Rust => stage.to_owned(),
            Source::Gpu => format!("gpu: {stage}"),
            Source::Python => format!("python: {stage}"),
        }
    }
}

/// One timed thing on one workload: a stage, a Python method, a GPU kernel or a floor.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// The stage's name (`naive`, …), the Python method's (`numpy @`, …), the GPU kernel's
    /// (`cuda-tiled`, `cublas`, `cuda.to_device`) or the floor's (`stream-read`, `fp32-peak`).
    pub stage: String,
    /// The crate that defines the stage (`matmul-naive`, …); empty for Python and floors.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub package: String,
    /// Where it ran.
    pub source: Source,
    /// The workload's name.
    pub workload: String,
    /// Median time per product, nanoseconds.
    pub median_ns: f64,
    /// Fastest sample's time per product, nanoseconds.
    pub min_ns: f64,
    /// Median absolute deviation of the samples, nanoseconds (0 when unknown).
    pub mad_ns: f64,
    /// The low end of a 95% interval of the median (a bootstrap of the samples), nanoseconds;
    /// 0 when unknown (the GPU's timer reports a median only).
    #[serde(default)]
    pub ci_low_ns: f64,
    /// The high end of that interval, nanoseconds.
    #[serde(default)]
    pub ci_high_ns: f64,
    /// Samples behind the median (0 when the timer does not report it, as the GPU's does not).
    pub samples: usize,
    /// Floating-point operations per second at the median, in billions (0 for a copy or a
    /// read, which do no arithmetic).
    pub gflops: f64,
    /// Its time over its workload's floor: the median of the ratios of samples taken in pairs
    /// (a stage sample, then a floor sample); 0 when not paired (then the table divides the
    /// medians).
    #[serde(default)]
    pub floor_ratio: f64,
    /// The low end of a 95% interval of `floor_ratio`.
    #[serde(default)]
    pub floor_ratio_low: f64,
    /// The high end of that interval: below 1.0, the stage beat its floor.
    #[serde(default)]
    pub floor_ratio_high: f64,
    /// The stage whose code this one runs on this workload, when it only dispatches to it
    /// (`blas` runs `streaming`'s code on the lesson's shape): the two measure the same code.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runs_as: String,
    /// What exactly was timed, when the name does not say (floors, copies).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// A stage and workload pair that was not timed.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Skipped {
    /// The stage, Python method or GPU kernel.
    pub stage: String,
    /// Where it would have run.
    #[serde(default)]
    pub source: Source,
    /// The workload's name.
    pub workload: String,
    /// Why: too slow (with the estimate), wrong result, missing module.
    pub reason: String,
}

/// The floor of `mnist50k` on the CPU: one read of `x` with every core, by the fastest method.
pub const STREAM_READ: &str = "stream-read";
/// The floor of `square-N`: `2·N³` flops at the machine's measured FP32 FMA peak (CPU), or at
/// the peak its properties give (GPU).
pub const FP32_PEAK: &str = "fp32-peak";
/// The floor of `mnist5` on the CPU: its flops at the FP32 FMA peak of one core, measured (the
/// workspace's stages compute five images on one core; module `floor` says why).
pub const ONE_CORE_PEAK: &str = "one-core-peak";
/// The floor of a lesson workload on the GPU: one read of `x` in device memory.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub const DEVICE_READ: &str = "device-read";
/// The GPU row of the host-to-device copy of `x`: the lesson's `cuda.to_device`.
pub const TO_DEVICE: &str = "cuda.to_device";

impl Results {
    /// The record of `stage` on `workload` from `source`, if it was timed.
    pub fn find_from(&self, source: Source, stage: &str, workload: &str) -> Option<&Record> {
        self.results
            .iter()
            .find(|r| r.source == source && r.stage == stage && r.workload == workload)
    }

    /// Whether `stage` from `source` was timed on any workload.
    pub fn has(&self, source: Source, stage: &str) -> bool {
        self.results
            .iter()
            .any(|r| r.source == source && r.stage == stage)
    }

    /// The floor that `source`'s rows on `workload` are measured against: the GPU's for GPU
    /// rows, the CPU's for the rest.
    pub fn floor_for(&self, source: Source, workload: &str) -> Option<&Record> {
        let gpu = source == Source::Gpu;
        self.floors
            .iter()
            .find(|f| f.workload == workload && (f.source == Source::Gpu) == gpu)
    }

    /// Stage names in first-seen order within each source: the reading order for the Rust
    /// stages, then the GPU's kernels, then Python's methods.
    pub fn stages(&self) -> Vec<(&str, Source)> {
        let mut seen: Vec<(&str, Source)> = Vec::new();
        let all = self
            .results
            .iter()
            .map(|r| (r.stage.as_str(), r.source))
            .chain(self.skipped.iter().map(|s| (s.stage.as_str(), s.source)));
        for entry in all {
            if !seen.contains(&entry) {
                seen.push(entry);
            }
        }
        // A stable sort: the order within a source is the order the run took them in.
        seen.sort_by_key(|&(_, source)| source);
        seen
    }

    /// The Rust stages of `package`, in reading order.
    pub fn stages_of(&self, package: &str) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for r in &self.results {
            if r.source == Source::Rust
                && r.package == package
                && !names.contains(&r.stage.as_str())
            {
                names.push(&r.stage);
            }
        }
        names
    }

    /// The sizes `N` of every `square-N` workload with a record, ascending.
    pub fn square_sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = self
            .results
            .iter()
            .filter_map(|r| square_size(&r.workload))
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }

    /// Whether any GPU row is present.
    pub fn has_gpu(&self) -> bool {
        self.results.iter().any(|r| r.source == Source::Gpu)
    }

    /// The lesson's two workloads, for renderers that show both.
    pub const LESSON: [(&'static str, &'static str); 2] =
        [(MNIST5, "5 images"), (MNIST50K, "50,000 images")];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_keep_reading_order_within_each_source() {
        let record = |stage: &str, source| Record {
            stage: stage.into(),
            source,
            workload: MNIST5.into(),
            median_ns: 1.0,
            gflops: 1.0,
            ..Record::default()
        };
        let results = Results {
            results: vec![
                record("numpy @", Source::Python),
                record("naive", Source::Rust),
                record("cuda-naive", Source::Gpu),
                record("dot", Source::Rust),
            ],
            ..Results::default()
        };
        assert_eq!(
            results.stages(),
            vec![
                ("naive", Source::Rust),
                ("dot", Source::Rust),
                ("cuda-naive", Source::Gpu),
                ("numpy @", Source::Python)
            ]
        );
    }

    #[test]
    fn gpu_rows_are_measured_against_the_gpu_floor() {
        let floor = |source| Record {
            stage: "floor".into(),
            source,
            workload: MNIST50K.into(),
            median_ns: if source == Source::Gpu { 1.0 } else { 2.0 },
            ..Record::default()
        };
        let results = Results {
            floors: vec![floor(Source::Rust), floor(Source::Gpu)],
            ..Results::default()
        };
        assert_eq!(
            results.floor_for(Source::Gpu, MNIST50K).unwrap().median_ns,
            1.0
        );
        assert_eq!(
            results.floor_for(Source::Rust, MNIST50K).unwrap().median_ns,
            2.0
        );
        assert_eq!(
            results
                .floor_for(Source::Python, MNIST50K)
                .unwrap()
                .median_ns,
            2.0
        );
        assert!(results.floor_for(Source::Rust, MNIST5).is_none());
    }
}
