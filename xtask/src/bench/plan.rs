//! The plan of a run: how much time each part gets, which stages it times, and the CPU
//! workloads it runs on.

use std::time::Duration;

use matmul_data::{Processor, Stage};

use super::timer::Settings;
use super::workload::{
    LessonData, MNIST5, MNIST50K, SHAPES, SQUARE_SIZES, TRAINING_IMAGES, Workload,
};

/// How much time each part of a run gets, and on what.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Sampling for one stage on one workload.
    pub settings: Settings,
    /// Longest single run worth timing on `mnist50k`, seconds.
    pub max_run: f64,
    /// Longest single run worth timing on a square or another shape, seconds.
    pub max_square_run: f64,
    /// Largest square size on the CPU.
    pub max_square: usize,
    /// Python's time budget per method and workload, seconds.
    pub python_measure: f64,
    /// How many times the CPU stages are timed, each time in the opposite order to the time
    /// before: their samples are pooled, so that every stage and floor sees the machine at the
    /// same moments of the run, and no stage always follows the same neighbour.
    pub rounds: usize,
    /// Threads for the floors (the threaded stages choose their own, the same number).
    pub threads: usize,
    /// Whether this is the short run (`--quick`).
    pub quick: bool,
    /// `--stage` filters: time only what contains one of these (all when empty).
    pub filters: Vec<String>,
}

impl Plan {
    /// The plan of a full run, or a `quick` one; `max_run` overrides the longest single run
    /// worth timing on `mnist50k`; `filters` are the `--stage` names.
    pub fn new(quick: bool, max_run: Option<f64>, filters: &[String]) -> Plan {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let filters = filters.to_vec();
        if quick {
            Plan {
                settings: Settings {
                    warm_up: Duration::from_millis(20),
                    measure: Duration::from_millis(100),
                    min_samples: 3,
                    max_samples: 50,
                },
                max_run: max_run.unwrap_or(0.5),
                max_square_run: 0.05,
                max_square: 512,
                python_measure: 0.1,
                rounds: 2,
                threads,
                quick,
                filters,
            }
        } else {
            Plan {
                settings: Settings {
                    warm_up: Duration::from_millis(300),
                    measure: Duration::from_millis(1500),
                    min_samples: 5,
                    max_samples: 100,
                },
                max_run: max_run.unwrap_or(5.0),
                max_square_run: 1.0,
                max_square: *SQUARE_SIZES.last().expect("sizes"),
                python_measure: 1.5,
                rounds: 3,
                threads,
                quick,
                filters,
            }
        }
    }
}

impl Plan {
    /// Whether the run times what is called `name`: what the `--stage` filters name (all
    /// without filters), and always a `baseline` (the naive loop, cuBLAS).
    pub fn selects(&self, name: &str, baseline: bool) -> bool {
        baseline
            || self.filters.is_empty()
            || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    /// The square sizes timed on the GPU (`--cuda`): the CPU's sweep and one size more, where
    /// the large kernels reach their stride; in a quick run only the smallest two, so that a
    /// CPU stand-in for the driver (as in CI) finishes in seconds.
    pub fn gpu_square_sizes(&self) -> Vec<usize> {
        let largest = if self.quick { 128 } else { 4096 };
        SQUARE_SIZES
            .iter()
            .copied()
            .chain([4096])
            .filter(|&n| n <= largest)
            .collect()
    }

    /// The stages of the workspace that run on the CPU and that the run times, in reading
    /// order, the naive loop always (the baseline). The GPU's are timed by the GPU runner, with
    /// CUDA events.
    pub fn cpu_stages(&self) -> Vec<Stage> {
        matmul_cuda::stages()
            .into_iter()
            .filter(|s| s.runs_on == Processor::Cpu)
            .filter(|s| self.selects(s.name, s.name == "naive"))
            .collect()
    }
}

/// The CPU's workloads, built once and shared by the runners.
#[derive(Debug)]
pub struct Workloads {
    /// `(5, 784) @ (784, 10)`.
    pub mnist5: Workload,
    /// `(50000, 784) @ (784, 10)`.
    pub mnist50k: Workload,
    /// `(N, N) @ (N, N)` up to the plan's largest size.
    pub squares: Vec<Workload>,
    /// The other shapes ([`SHAPES`]).
    pub shapes: Vec<Workload>,
}

impl Workloads {
    /// The lesson's two workloads from `data`, the squares up to the plan's largest, and the
    /// other shapes.
    pub fn new(plan: &Plan, data: &LessonData) -> Workloads {
        Workloads {
            mnist5: Workload::lesson(MNIST5, data, 5),
            mnist50k: Workload::lesson(MNIST50K, data, TRAINING_IMAGES),
            squares: SQUARE_SIZES
                .iter()
                .filter(|&&n| n <= plan.max_square)
                .map(|&n| Workload::square(n))
                .collect(),
            shapes: SHAPES.into_iter().map(Workload::shape).collect(),
        }
    }
}
