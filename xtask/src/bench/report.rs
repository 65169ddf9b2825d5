//! What a run found, as `results.json` and as the `BENCHMARKS.md` table.
//!
//! The JSON is the record; the table and the charts are generated from it and nothing else,
//! so they can never disagree.

use serde::{Deserialize, Serialize};

use super::workload::{MNIST5, MNIST50K, SQUARE_SIZES, square_name};

/// Everything one run measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Results {
    /// Where and how it ran.
    pub machine: Machine,
    /// One entry per stage (or Python method) and workload that was timed.
    pub results: Vec<Record>,
    /// The stage and workload pairs that were not timed, and why.
    pub skipped: Vec<Skipped>,
    /// The floor of each workload that has one.
    pub floors: Vec<Floor>,
}

/// The machine line: what the numbers depend on.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    /// CPU model, from `/proc/cpuinfo`.
    pub cpu: String,
    /// Logical CPUs the process may use.
    pub cores: usize,
    /// Threads the threaded stages and the floor use.
    pub threads: usize,
    /// The instruction set the streaming kernel picked.
    pub simd: String,
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
}

/// One timed stage on one workload.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// The stage's name (`naive`, …) or the Python method's (`numpy @`, …).
    pub stage: String,
    /// `rust` for the workspace's stages, `python` for the lesson's own methods.
    pub source: String,
    /// The workload's name.
    pub workload: String,
    /// Median time per product, nanoseconds.
    pub median_ns: f64,
    /// Fastest sample's time per product, nanoseconds.
    pub min_ns: f64,
    /// Median absolute deviation of the samples, nanoseconds (0 when unknown).
    pub mad_ns: f64,
    /// Samples behind the median.
    pub samples: usize,
    /// Floating-point operations per second at the median, in billions.
    pub gflops: f64,
}

/// A stage and workload pair that was not timed.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Skipped {
    /// The stage or Python method.
    pub stage: String,
    /// The workload's name.
    pub workload: String,
    /// Why: too slow (with the estimate), wrong result, missing module.
    pub reason: String,
}

/// The best possible time for a workload, measured in the same run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Floor {
    /// The workload's name.
    pub workload: String,
    /// The floor's median time, nanoseconds.
    pub median_ns: f64,
    /// What the floor is.
    pub what: String,
}

/// A target of the issue, against what this run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// What is asked.
    pub goal: String,
    /// What was measured, in words.
    pub measured: String,
    /// `Some(true)` met, `Some(false)` missed, `None` not measurable in this run.
    pub met: Option<bool>,
}

impl Results {
    /// The record of `stage` on `workload`, if it was timed.
    pub fn find(&self, stage: &str, workload: &str) -> Option<&Record> {
        self.results
            .iter()
            .find(|r| r.stage == stage && r.workload == workload)
    }

    /// The floor of `workload`, if measured.
    pub fn floor(&self, workload: &str) -> Option<&Floor> {
        self.floors.iter().find(|f| f.workload == workload)
    }

    /// The fastest record on `workload` among those from `source` (`None`: any source).
    pub fn best(&self, workload: &str, source: Option<&str>) -> Option<&Record> {
        self.results
            .iter()
            .filter(|r| r.workload == workload && source.is_none_or(|s| r.source == s))
            .min_by(|a, b| a.median_ns.total_cmp(&b.median_ns))
    }

    /// Stage names in first-seen order: the reading order for the Rust stages, then Python's.
    pub fn stages(&self) -> Vec<(&str, &str)> {
        let mut seen: Vec<(&str, &str)> = Vec::new();
        let all = self
            .results
            .iter()
            .map(|r| (r.stage.as_str(), r.source.as_str()))
            .chain(
                self.skipped
                    .iter()
                    .map(|s| (s.stage.as_str(), source_of(self, &s.stage))),
            );
        for entry in all {
            if !seen.iter().any(|(name, _)| *name == entry.0) {
                seen.push(entry);
            }
        }
        // Rust stages first (in their order), then the Python methods.
        seen.sort_by_key(|(_, source)| *source == "python");
        seen
    }

    /// The three targets against this run.
    pub fn targets(&self) -> Vec<Target> {
        let mut targets = Vec::new();
        let best5 = self.best(MNIST5, Some("rust"));
        targets.push(Target {
            goal: "mnist5: best stage ≤ 2 µs".into(),
            measured: best5.map_or("not measured".into(), |r| {
                format!("`{}` {}", r.stage, format_time(r.median_ns))
            }),
            met: best5.map(|r| r.median_ns <= 2_000.0),
        });
        let best50k = self.best(MNIST50K, Some("rust"));
        let floor = self.floor(MNIST50K);
        let multiple = best50k.zip(floor).map(|(r, f)| r.median_ns / f.median_ns);
        targets.push(Target {
            goal: "mnist50k: best stage ≤ 1.3× the stream-read floor".into(),
            measured: match (best50k, floor, multiple) {
                (Some(r), Some(f), Some(x)) => format!(
                    "`{}` {} = {x:.2}× the floor ({})",
                    r.stage,
                    format_time(r.median_ns),
                    format_time(f.median_ns)
                ),
                _ => "not measured".into(),
            },
            met: multiple.map(|x| x <= 1.3),
        });
        let square = square_name(*SQUARE_SIZES.last().expect("sizes"));
        let best_square = self.best(&square, Some("rust"));
        let torch = self.find("torch.matmul", &square);
        targets.push(Target {
            goal: format!("{square}: best stage ≥ 90% of PyTorch's GFLOP/s"),
            measured: match (best_square, torch) {
                (Some(r), Some(t)) => format!(
                    "`{}` {:.1} GFLOP/s = {:.0}% of torch.matmul's {:.1}",
                    r.stage,
                    r.gflops,
                    100.0 * r.gflops / t.gflops,
                    t.gflops
                ),
                (Some(r), None) => format!(
                    "`{}` {:.1} GFLOP/s; PyTorch not measured (run with --python)",
                    r.stage, r.gflops
                ),
                _ => "not measured".into(),
            },
            met: best_square
                .zip(torch)
                .map(|(r, t)| r.gflops >= 0.9 * t.gflops),
        });
        targets
    }

    /// The whole `BENCHMARKS.md`: machine line, the lesson's table, the square sweep, the
    /// targets, what was skipped.
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        out.push_str("<!-- Generated by `cargo xtask bench`; do not edit. -->\n");
        out.push_str(&format!(
            "**Machine:** {} · {} logical CPUs · {} threads · SIMD {} · {} · BLAS: {} · \
             data: {} · {} run, {}\n\n",
            m.cpu, m.cores, m.threads, m.simd, m.rustc, m.blas, m.data, m.mode, m.date
        ));
        out.push_str(&self.lesson_table());
        out.push('\n');
        out.push_str(&self.square_table());
        out.push_str("\n**Targets** (from the issue):\n\n");
        for target in self.targets() {
            let verdict = match target.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            };
            out.push_str(&format!(
                "- {}: {} — {verdict}\n",
                target.goal, target.measured
            ));
        }
        if !self.skipped.is_empty() {
            out.push_str("\n**Not timed:**\n\n");
            for s in &self.skipped {
                out.push_str(&format!(
                    "- `{}` on {}: {}\n",
                    s.stage, s.workload, s.reason
                ));
            }
        }
        out
    }

    /// The lesson's table: one row per stage, both MNIST workloads, speedups over the naive
    /// loop, GFLOP/s and the multiple of the floor on 50,000 images.
    pub fn lesson_table(&self) -> String {
        let mut out = String::from(
            "| stage | 5 images | speedup | 50,000 images | speedup | GFLOP/s | × floor |\n\
             |---|--:|--:|--:|--:|--:|--:|\n",
        );
        let naive5 = self.find("naive", MNIST5).map(|r| r.median_ns);
        let naive50k = self.find("naive", MNIST50K).map(|r| r.median_ns);
        let floor = self.floor(MNIST50K).map(|f| f.median_ns);
        for (stage, source) in self.stages() {
            let five = self.find(stage, MNIST5);
            let all = self.find(stage, MNIST50K);
            if five.is_none() && all.is_none() {
                continue;
            }
            let label = if source == "python" {
                format!("*python: {stage}*")
            } else {
                format!("`{stage}`")
            };
            let time = |r: Option<&Record>| r.map_or("—".into(), |r| format_time(r.median_ns));
            let speedup = |r: Option<&Record>, base: Option<f64>| match (r, base) {
                (Some(r), Some(base)) => format_speedup(base / r.median_ns),
                _ => "—".into(),
            };
            out.push_str(&format!(
                "| {label} | {} | {} | {} | {} | {} | {} |\n",
                time(five),
                speedup(five, naive5),
                time(all),
                speedup(all, naive50k),
                all.map_or("—".into(), |r| format!("{:.1}", r.gflops)),
                all.zip(floor)
                    .map_or("—".into(), |(r, f)| format!("{:.2}", r.median_ns / f)),
            ));
        }
        if let Some(floor) = self.floor(MNIST50K) {
            out.push_str(&format!(
                "| *floor: {}* | | | {} | | | 1.00 |\n",
                floor.what,
                format_time(floor.median_ns)
            ));
        }
        out
    }

    /// GFLOP/s of every stage timed on the square sweep, one column per size.
    pub fn square_table(&self) -> String {
        let sizes: Vec<usize> = SQUARE_SIZES
            .iter()
            .copied()
            .filter(|&n| self.results.iter().any(|r| r.workload == square_name(n)))
            .collect();
        if sizes.is_empty() {
            return String::new();
        }
        let mut out = String::from("GFLOP/s on `(N, N) @ (N, N)`:\n\n| stage |");
        for n in &sizes {
            out.push_str(&format!(" {n} |"));
        }
        out.push_str("\n|---|");
        out.push_str(&"--:|".repeat(sizes.len()));
        out.push('\n');
        for (stage, source) in self.stages() {
            let cells: Vec<String> = sizes
                .iter()
                .map(|&n| {
                    self.find(stage, &square_name(n))
                        .map_or("—".into(), |r| format!("{:.1}", r.gflops))
                })
                .collect();
            if cells.iter().all(|c| c == "—") {
                continue;
            }
            let label = if source == "python" {
                format!("*python: {stage}*")
            } else {
                format!("`{stage}`")
            };
            out.push_str(&format!("| {label} | {} |\n", cells.join(" | ")));
        }
        out
    }
}

/// The marker lines between which `--readme` puts the generated table.
pub const README_MARKERS: (&str, &str) = (
    "<!-- cargo xtask bench --readme: start -->",
    "<!-- cargo xtask bench --readme: end -->",
);

/// `readme` with the text between the [`README_MARKERS`] replaced by `generated`, or `None`
/// when the markers are missing or out of order.
pub fn splice_readme(readme: &str, generated: &str) -> Option<String> {
    let (start_marker, end_marker) = README_MARKERS;
    let start = readme.find(start_marker)? + start_marker.len();
    let end = start + readme[start..].find(end_marker)?;
    Some(format!(
        "{}\n{}\n{}",
        &readme[..start],
        generated.trim_end(),
        &readme[end..]
    ))
}

/// The source of a stage named only in `skipped`: Python if any Python record has that name
/// or it is one of the lesson's methods (the names contain a dot, a space or an `@`).
fn source_of<'a>(results: &'a Results, stage: &str) -> &'a str {
    if let Some(r) = results.results.iter().find(|r| r.stage == stage) {
        return r.source.as_str();
    }
    if stage.contains([' ', '.', '@']) {
        "python"
    } else {
        "rust"
    }
}

/// A duration in the unit that gives 1–3 digits before the point: `812 ns`, `1.25 µs`,
/// `46.3 ms`, `1.20 s`.
pub fn format_time(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.decimals$} {unit}")
}

/// A speedup with thousands separators and no false precision: `0.00012×`, `0.52×`, `3.4×`,
/// `1,234×` (two significant digits below 10).
pub fn format_speedup(x: f64) -> String {
    if x < 10.0 {
        let decimals = if x >= 1.0 {
            1
        } else if x > 0.0 {
            (1 - x.log10().floor() as i32).clamp(2, 12) as usize
        } else {
            2
        };
        return format!("{x:.decimals$}×");
    }
    let digits = format!("{:.0}", x);
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{grouped}×")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(stage: &str, source: &str, workload: &str, median_ns: f64, gflops: f64) -> Record {
        Record {
            stage: stage.into(),
            source: source.into(),
            workload: workload.into(),
            median_ns,
            min_ns: median_ns,
            gflops,
            samples: 3,
            ..Record::default()
        }
    }

    fn example() -> Results {
        Results {
            machine: Machine {
                cpu: "Test CPU".into(),
                mode: "quick".into(),
                ..Machine::default()
            },
            results: vec![
                record("naive", "rust", MNIST5, 40_000.0, 1.0),
                record("naive", "rust", MNIST50K, 400e6, 1.0),
                record("streaming", "rust", MNIST5, 1_000.0, 40.0),
                record("streaming", "rust", MNIST50K, 6.5e6, 120.0),
                record("streaming", "rust", "square-2048", 1e8, 170.0),
                record("numpy @", "python", MNIST5, 3_500.0, 11.0),
                record("torch.matmul", "python", "square-2048", 9e7, 180.0),
            ],
            skipped: vec![Skipped {
                stage: "python loops".into(),
                workload: MNIST50K.into(),
                reason: "one run would take about 1e4 s".into(),
            }],
            floors: vec![Floor {
                workload: MNIST50K.into(),
                median_ns: 5e6,
                what: "one streaming read of x".into(),
            }],
        }
    }

    #[test]
    fn times_pick_a_readable_unit() {
        assert_eq!(format_time(812.0), "812 ns");
        assert_eq!(format_time(1_250.0), "1.25 µs");
        assert_eq!(format_time(46_300_000.0), "46.3 ms");
        assert_eq!(format_time(1.2e9), "1.20 s");
    }

    #[test]
    fn speedups_group_thousands() {
        assert_eq!(format_speedup(0.523), "0.52×");
        assert_eq!(format_speedup(0.000_123), "0.00012×");
        assert_eq!(format_speedup(0.0), "0.00×");
        assert_eq!(format_speedup(3.44), "3.4×");
        assert_eq!(format_speedup(1234.4), "1,234×");
        assert_eq!(format_speedup(1_234_567.0), "1,234,567×");
        assert_eq!(format_speedup(999.6), "1,000×");
    }

    #[test]
    fn the_table_shows_speedups_and_floor_multiples() {
        let table = example().lesson_table();
        let streaming = table
            .lines()
            .find(|l| l.starts_with("| `streaming`"))
            .unwrap();
        // 40 µs / 1 µs = 40×; 400 ms / 6.5 ms = 62×; 6.5 ms / 5 ms = 1.30 floors.
        assert_eq!(
            streaming,
            "| `streaming` | 1.00 µs | 40× | 6.50 ms | 62× | 120.0 | 1.30 |"
        );
        assert!(table.contains("| *python: numpy @* | 3.50 µs | 11× | — | — | — | — |"));
        assert!(table.contains("| *floor: one streaming read of x* | | | 5.00 ms | | | 1.00 |"));
        // Rust stages come before the Python methods.
        let naive = table.find("`naive`").unwrap();
        assert!(naive < table.find("python: numpy").unwrap());
    }

    #[test]
    fn targets_compare_with_the_floor_and_pytorch() {
        let targets = example().targets();
        assert_eq!(targets.len(), 3);
        assert_eq!(targets[0].met, Some(true)); // 1 µs ≤ 2 µs
        assert_eq!(targets[1].met, Some(true)); // 1.30× ≤ 1.3×
        assert!(
            targets[1].measured.contains("1.30×"),
            "{}",
            targets[1].measured
        );
        assert_eq!(targets[2].met, Some(true)); // 170 ≥ 0.9 · 180
        let mut slower = example();
        slower.results[3].median_ns = 7e6;
        assert_eq!(slower.targets()[1].met, Some(false));
        slower.results.retain(|r| r.stage != "torch.matmul");
        assert_eq!(slower.targets()[2].met, None);
    }

    #[test]
    fn json_has_the_documented_shape() {
        let json = serde_json::to_value(example()).unwrap();
        assert!(json["machine"]["cpu"].is_string());
        let first = &json["results"][0];
        assert_eq!(first["stage"], "naive");
        assert_eq!(first["workload"], MNIST5);
        assert!(first["median_ns"].is_f64());
        assert_eq!(json["floors"][0]["workload"], MNIST50K);
        assert!(json["floors"][0]["median_ns"].is_f64());
        assert!(json["floors"][0]["what"].is_string());
        let back: Results = serde_json::from_value(json).unwrap();
        assert_eq!(back, example());
    }

    #[test]
    fn the_readme_block_is_replaced_between_the_markers_only() {
        let (start, end) = README_MARKERS;
        let readme = format!("# Title\n\n## Benchmarks\n\n{start}\nold table\n{end}\n\nAfter.\n");
        let spliced = splice_readme(&readme, "new table\n").unwrap();
        assert_eq!(
            spliced,
            format!("# Title\n\n## Benchmarks\n\n{start}\nnew table\n{end}\n\nAfter.\n")
        );
        // Idempotent: splicing again gives the same text.
        assert_eq!(splice_readme(&spliced, "new table").unwrap(), spliced);
        assert!(splice_readme("no markers", "x").is_none());
        assert!(splice_readme(&format!("{end} {start}"), "x").is_none());
    }

    #[test]
    fn markdown_has_machine_line_tables_and_skips() {
        let md = example().markdown();
        assert!(md.contains("**Machine:** Test CPU"));
        assert!(md.contains("| stage | 5 images |"));
        assert!(md.contains("GFLOP/s on `(N, N) @ (N, N)`"));
        assert!(md.contains("| `streaming` | 170.0 |"));
        assert!(md.contains("`python loops` on mnist50k: one run would take"));
    }
}
