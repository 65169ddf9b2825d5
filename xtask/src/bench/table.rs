//! The tables: `results.json`'s [`Results`] as the `BENCHMARKS.md` markdown (machine line, the
//! lesson's table, the square sweep, the other shapes, what was not timed), which the README's
//! block and the per-crate "Measured" blocks are made of.
//!
//! Renderers read only `Results`, so the table, the charts and the doc pages can never
//! disagree with the record, or with each other.

use super::results::{ONE_CORE_PEAK, Record, Results, Source};
use super::splice::GENERATED;
use super::units::{format_percent, format_speedup, format_time};
use super::workload::{MNIST5, MNIST50K, SHAPES, shape_dims, shape_name, square_name};

impl Results {
    /// The whole `BENCHMARKS.md` (and the README's block): the machine line, the lesson's
    /// table, the square sweep, the other shapes, what was skipped.
    pub fn markdown(&self) -> String {
        let mut out = format!("{GENERATED}\n{}\n\n", self.machine_line());
        let all = self.stages();
        out.push_str(&self.lesson_table(&all));
        out.push('\n');
        out.push_str(&self.square_table(&all));
        let shapes = self.shape_table(&all);
        if !shapes.is_empty() {
            out.push('\n');
            out.push_str(&shapes);
        }
        let skipped = self.skipped_list(&all);
        if !skipped.is_empty() {
            out.push_str("\n**Not timed:**\n\n");
            out.push_str(&skipped);
        }
        out.push_str(&self.care_list(&all));
        out.push_str(
            "\n**Step 7's kernels on each kind of machine** (from the kernels' shapes, not ",
        );
        out.push_str("measured; this run's is marked):\n\n");
        out.push_str(&self.kernels_table());
        out
    }

    /// Step 7's kernels for every instruction set, from the shapes the kernels are built with
    /// (`Isa::kernels`, `StreamingRule::for_isa`), the run's own marked: what a reader on each
    /// kind of machine runs. No figure in it is measured.
    pub fn kernels_table(&self) -> String {
        use matmul_cuda::blas::{StreamingRule, isa::Isa};
        let mut out = String::from(
            "| instruction set | machines | GEMM tile | streaming kernel | fused multiply-add | \
             `blas` streams when |\n|---|---|--:|---|---|---|\n",
        );
        for isa in Isa::ALL {
            let shape = isa.kernels();
            let rule = StreamingRule::for_isa(isa);
            let (mr, nr) = shape.gemm_tile;
            let name = if self.machine.simd == isa.name() {
                format!("**{}** (this run)", isa.name())
            } else {
                isa.name().to_owned()
            };
            let fused = if shape.fused { "yes" } else { "no" };
            let one_row = if rule.one_row {
                format!(
                    ", or `a` one row (or ≤ {} rows, with `b` of 64 columns or more and larger \
                     than L3) and `b` not column-major",
                    rule.max_rows
                )
            } else {
                String::new()
            };
            // A short bound no wider than the narrow one adds nothing to say.
            let short = if rule.short_max_columns > rule.max_columns {
                format!(
                    ", or `a` ≤ {} rows and `b` ≤ {} columns",
                    rule.max_rows, rule.short_max_columns
                )
            } else {
                String::new()
            };
            out.push_str(&format!(
                "| {name} | {} | {mr} × {nr} | {} lanes; {} | {fused} | `b` ≤ {} \
                 columns{short}{one_row} |\n",
                isa.machines(),
                shape.lanes,
                rows_per_call(shape.dot_tiles, shape.scale_rows, shape.one_row),
                rule.max_columns,
            ));
        }
        out
    }

    /// What a reader should not take at face value among `rows`, one sentence each: a figure
    /// below its floor (the floor's method is then not the machine's best), two stages that
    /// run the same code measured apart, a figure whose interval is wider than ±10%.
    pub fn cautions(&self, rows: &[(&str, Source)]) -> Vec<String> {
        let mut out = Vec::new();
        let mut noisy = Vec::new();
        let shown = |r: &&Record| rows.contains(&(r.stage.as_str(), r.source));
        for r in self.results.iter().filter(shown) {
            if r.floor_ratio_high > 0.0 && r.floor_ratio_high < 1.0 {
                let floor = self
                    .floor_for(r.source, &r.workload)
                    .map_or("its floor", |f| f.stage.as_str());
                out.push(format!(
                    "`{}` on {} ran at {:.2}× the `{floor}` floor (95% interval {:.2}–{:.2}): \
                     it beat that floor, so the floor's method is not this machine's fastest.",
                    r.stage, r.workload, r.floor_ratio, r.floor_ratio_low, r.floor_ratio_high
                ));
            }
            if r.floor_ratio == 0.0
                && let Some(floor) = self.floor_for(r.source, &r.workload)
                && faster_than(r, floor)
            {
                // One core's peak is beaten by a stage on more cores, too.
                let or_cores = if floor.stage == ONE_CORE_PEAK {
                    ", or the stage ran on more than one core"
                } else {
                    ""
                };
                out.push(format!(
                    "`{}` on {} took {} (95% interval to {}), less than the `{}` floor's {} \
                     (interval from {}): it beat that floor, so the floor's method is not this \
                     machine's fastest{or_cores}.",
                    r.stage,
                    r.workload,
                    format_time(r.median_ns),
                    format_time(r.ci_high_ns),
                    floor.stage,
                    format_time(floor.median_ns),
                    format_time(floor.ci_low_ns)
                ));
            }
            if !r.runs_as.is_empty()
                && let Some(same) = self.find_from(r.source, &r.runs_as, &r.workload)
                && r.ci_high_ns > 0.0
                && same.ci_high_ns > 0.0
                && (r.ci_low_ns > same.ci_high_ns || same.ci_low_ns > r.ci_high_ns)
            {
                out.push(format!(
                    "`{}` runs `{}`'s code on {}, yet the two measured {} and {}, further apart \
                     than their intervals allow: the machine's speed moved between their \
                     samples (more rounds, `--rounds N`, average that out), or the choice \
                     itself costs the difference.",
                    r.stage,
                    same.stage,
                    r.workload,
                    format_time(r.median_ns),
                    format_time(same.median_ns)
                ));
            }
            if let Some(spread) = spread(r)
                && spread > 10.0
                && r.samples >= 3
            {
                noisy.push(format!(
                    "`{}` on {} (±{})",
                    r.stage,
                    r.workload,
                    format_percent(spread)
                ));
            }
        }
        if !noisy.is_empty() {
            out.push(format!(
                "Intervals wider than ±10%, noisy figures (the machine was busy or changed speed; \
                 more rounds, `--rounds N`, settle them): {}.",
                noisy.join(", ")
            ));
        }
        out
    }

    /// [`Results::cautions`] as a markdown list under a heading, or nothing.
    pub fn care_list(&self, rows: &[(&str, Source)]) -> String {
        let cautions = self.cautions(rows);
        if cautions.is_empty() {
            return String::new();
        }
        let mut out = String::from("\n**Read with care:**\n\n");
        for caution in cautions {
            out.push_str(&format!("- {caution}\n"));
        }
        out
    }

    /// `**Machine:** …`: every fact the numbers depend on, on one line.
    pub fn machine_line(&self) -> String {
        let m = &self.machine;
        let mode = if m.mode == "quick" {
            "quick run (short budgets: rough numbers)"
        } else {
            "full run"
        };
        let gpu = m
            .gpu
            .as_ref()
            .map_or(String::new(), |gpu| format!(" · GPU: {gpu}"));
        let caches = if m.caches.is_empty() {
            String::new()
        } else {
            format!(" · caches {}", m.caches)
        };
        format!(
            "**Machine:** {} · {} logical CPUs · {} threads · SIMD {}{caches} · {} · BLAS: {}{gpu} · \
             data: {} · {mode}, {}",
            m.cpu, m.cores, m.threads, m.simd, m.rustc, m.blas, m.data, m.date
        )
    }

    /// The lesson's table for `rows` (stage and source pairs): both MNIST workloads, speedups
    /// over the naive loop, GFLOP/s and the multiple of the floor on 50,000 images; then the
    /// floors themselves.
    pub fn lesson_table(&self, rows: &[(&str, Source)]) -> String {
        let mut out = String::from(
            "| stage | 5 images | speedup | 50,000 images | speedup | GFLOP/s | × floor |\n\
             |---|--:|--:|--:|--:|--:|--:|\n",
        );
        let naive5 = self
            .find_from(Source::Rust, "naive", MNIST5)
            .map(|r| r.median_ns);
        let naive50k = self
            .find_from(Source::Rust, "naive", MNIST50K)
            .map(|r| r.median_ns);
        for &(stage, source) in rows {
            let five = self.find_from(source, stage, MNIST5);
            let all = self.find_from(source, stage, MNIST50K);
            if five.is_none() && all.is_none() {
                continue;
            }
            let floor = self.floor_for(source, MNIST50K).map(|f| f.median_ns);
            // A copy or a read is not a product: no speedup over one.
            let speedup = |r: Option<&Record>, base: Option<f64>| match (r, base) {
                (Some(r), Some(base)) if r.gflops > 0.0 => format_speedup(base / r.median_ns),
                _ => "—".into(),
            };
            let gflops = all
                .filter(|r| r.gflops > 0.0)
                .map_or("—".into(), |r| format!("{:.1}", r.gflops));
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {gflops} | {} |\n",
                label(stage, source),
                time(five),
                speedup(five, naive5),
                time(all),
                speedup(all, naive50k),
                floor_cell(all, floor),
            ));
        }
        // The floors of the devices the rows ran on (Python runs on the CPU), one row each,
        // named in the row and described under the table.
        let mut shown: Vec<(&str, Source)> = Vec::new();
        let mut details: Vec<String> = Vec::new();
        for floor in &self.floors {
            let on_device = |s: Source| (s == Source::Gpu) == (floor.source == Source::Gpu);
            let key = (floor.stage.as_str(), floor.source);
            if ![MNIST5, MNIST50K].contains(&floor.workload.as_str())
                || !rows.iter().any(|&(_, s)| on_device(s))
                || shown.contains(&key)
            {
                continue;
            }
            shown.push(key);
            let on = |workload: &str| {
                self.floors.iter().find(|f| {
                    f.workload == workload && f.stage == floor.stage && f.source == floor.source
                })
            };
            let (name, detail) = split_note(&floor.note);
            // `× floor` is the 50,000 images' column: 1.00 only in the row of their floor.
            let own = if on(MNIST50K).is_some() { "1.00 " } else { "" };
            out.push_str(&format!(
                "| *floor: {name}* | {} | | {} | | | {own}|\n",
                time(on(MNIST5)),
                time(on(MNIST50K))
            ));
            details.extend(detail.map(|detail| format!("*Floor, {name}:* {detail}.")));
        }
        out.push_str(&notes_under(&details));
        out
    }

    /// GFLOP/s of `rows` on the square sweep, one column per size, each with its percentage
    /// of the FP32 peak measured in the same run (the GPU's for GPU rows).
    pub fn square_table(&self, rows: &[(&str, Source)]) -> String {
        let sizes = self.square_sizes();
        let mut body = String::new();
        for &(stage, source) in rows {
            let cells: Vec<String> = sizes
                .iter()
                .map(|&n| {
                    let Some(r) = self.find_from(source, stage, &square_name(n)) else {
                        return "—".into();
                    };
                    match self.floor_for(source, &square_name(n)) {
                        // Paired: the share is the inverse of the ratio of the pairs.
                        _ if r.floor_ratio > 0.0 => {
                            let share = format_percent(100.0 / r.floor_ratio);
                            format!("{:.1} ({share}{})", r.gflops, below_floor_mark(r))
                        }
                        Some(peak) if peak.gflops > 0.0 => {
                            let share = format_percent(100.0 * r.gflops / peak.gflops);
                            let mark = if faster_than(r, peak) { " ⚠" } else { "" };
                            format!("{:.1} ({share}{mark})", r.gflops)
                        }
                        _ => format!("{:.1}", r.gflops),
                    }
                })
                .collect();
            if cells.iter().all(|c| c == "—") {
                continue;
            }
            body.push_str(&format!(
                "| {} | {} |\n",
                label(stage, source),
                cells.join(" | ")
            ));
        }
        if body.is_empty() {
            return String::new();
        }
        let mut out = String::from(
            "GFLOP/s on `(N, N) @ (N, N)`, and in brackets the percentage of the FP32 peak \
             measured in the same run:\n\n| stage |",
        );
        for n in &sizes {
            out.push_str(&format!(" {n} |"));
        }
        out.push_str("\n|---|");
        out.push_str(&"--:|".repeat(sizes.len()));
        out.push('\n');
        out.push_str(&body);
        // The peak rows: the CPU's when any CPU or Python row is shown, the GPU's likewise;
        // named in the row, described under the table.
        let mut details: Vec<String> = Vec::new();
        for device in [Source::Rust, Source::Gpu] {
            let on_device = |s: Source| (s == Source::Gpu) == (device == Source::Gpu);
            if !rows.iter().any(|&(_, s)| on_device(s)) {
                continue;
            }
            let peaks: Vec<Option<&Record>> = sizes
                .iter()
                .map(|&n| self.floor_for(device, &square_name(n)))
                .collect();
            let Some(note) = peaks.iter().flatten().map(|f| f.note.as_str()).next() else {
                continue;
            };
            let cells: Vec<String> = peaks
                .iter()
                .map(|f| f.map_or("—".into(), |f| format!("{:.1}", f.gflops)))
                .collect();
            let (name, detail) = split_note(note);
            out.push_str(&format!("| *floor: {name}* | {} |\n", cells.join(" | ")));
            details.extend(detail.map(|detail| format!("*Floor, {name}:* {detail}.")));
        }
        out.push_str(&notes_under(&details));
        out
    }

    /// The time of one product of `rows` on each of the other shapes that any of them ran on
    /// the CPU (by Rust or Python), with the half-width of its 95% interval, and the fastest of
    /// the column in bold (by median: a column whose fastest two overlap says so only through
    /// their `±`). The columns are the shapes of the records, in the order of [`SHAPES`] (those
    /// it no longer lists, of a saved run, after them). Empty when no row ran one.
    pub fn shape_table(&self, rows: &[(&str, Source)]) -> String {
        let rows: Vec<(&str, Source)> = rows
            .iter()
            .copied()
            .filter(|&(_, source)| source != Source::Gpu)
            .collect();
        let mut shapes: Vec<(usize, usize, usize)> = self
            .results
            .iter()
            .filter(|r| rows.contains(&(r.stage.as_str(), r.source)))
            .filter_map(|r| shape_dims(&r.workload))
            .collect();
        let place = |shape| {
            SHAPES
                .iter()
                .position(|&s| s == shape)
                .unwrap_or(SHAPES.len())
        };
        shapes.sort_by_key(|&shape| (place(shape), shape));
        shapes.dedup();
        if shapes.is_empty() {
            return String::new();
        }
        let shapes: Vec<String> = shapes.into_iter().map(shape_name).collect();
        let fastest: Vec<Option<f64>> = shapes
            .iter()
            .map(|name| {
                rows.iter()
                    .filter_map(|&(stage, source)| self.find_from(source, stage, name))
                    .map(|r| r.median_ns)
                    .min_by(f64::total_cmp)
            })
            .collect();
        let mut out = String::from(
            "Time of one product on shapes the squares leave out (`m×k×n` is `(m, k) @ (k, n)`), \
             the fastest of each column in bold:\n\n| stage |",
        );
        for name in &shapes {
            let (m, k, n) = shape_dims(name).expect("a shape's name");
            out.push_str(&format!(" {m}×{k}×{n} |"));
        }
        out.push_str("\n|---|");
        out.push_str(&"--:|".repeat(shapes.len()));
        out.push('\n');
        for &(stage, source) in &rows {
            let records: Vec<Option<&Record>> = shapes
                .iter()
                .map(|name| self.find_from(source, stage, name))
                .collect();
            if records.iter().all(Option::is_none) {
                continue;
            }
            let cells: Vec<String> = records
                .iter()
                .zip(&fastest)
                .map(|(&record, &fastest)| match record {
                    Some(r) if Some(r.median_ns) == fastest => format!("**{}**", time(record)),
                    _ => time(record),
                })
                .collect();
            out.push_str(&format!(
                "| {} | {} |\n",
                label(stage, source),
                cells.join(" | ")
            ));
        }
        out
    }

    /// What was not timed among `rows`, one line each.
    pub fn skipped_list(&self, rows: &[(&str, Source)]) -> String {
        let mut out = String::new();
        for s in self
            .skipped
            .iter()
            .filter(|s| rows.contains(&(s.stage.as_str(), s.source)))
        {
            out.push_str(&format!(
                "- `{}` on {}: {}\n",
                s.stage, s.workload, s.reason
            ));
        }
        out
    }
}

/// A floor's note split into the name its row shows and the detail said under the table:
/// `"one read of x (157 MB, 2 threads)"` is `("one read of x", Some("157 MB, 2 threads"))`.
fn split_note(note: &str) -> (&str, Option<&str>) {
    match note.strip_suffix(')').and_then(|n| n.split_once(" (")) {
        Some((name, detail)) => (name, Some(detail)),
        None => (note, None),
    }
}

/// The lines said under a table (a blank line first, so that they do not join it), or nothing.
fn notes_under(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    format!("\n{}\n", lines.join("\n"))
}

/// How a table names `stage`: code for the workspace's stages, italic and prefixed for peers.
pub fn label(stage: &str, source: Source) -> String {
    match source {
        Source::Rust => format!("`{stage}`"),
        _ => format!("*{}*", source.label(stage)),
    }
}

/// The median of a record as a readable time, or a dash.
fn time(record: Option<&Record>) -> String {
    record.map_or("—".into(), |r| match spread(r) {
        Some(spread) => format!("{} ±{}", format_time(r.median_ns), format_percent(spread)),
        None => format_time(r.median_ns),
    })
}

/// The half-width of a record's 95% interval as a percentage of its median (the wider side),
/// when it has one from at least two samples. A peak floor, the fastest of its samples, has none
/// (its interval is the one value).
pub fn spread(record: &Record) -> Option<f64> {
    let interval = record.ci_high_ns > record.ci_low_ns;
    (interval && record.samples >= 2 && record.median_ns > 0.0).then(|| {
        100.0 * (record.ci_high_ns - record.median_ns).max(record.median_ns - record.ci_low_ns)
            / record.median_ns
    })
}

/// The `× floor` cell: the paired ratio when there is one (marked when its whole interval is
/// below 1.0), else the ratio of the medians.
fn floor_cell(record: Option<&Record>, floor_ns: Option<f64>) -> String {
    match (record, floor_ns) {
        (Some(r), _) if r.floor_ratio > 0.0 => {
            format!("{:.2}{}", r.floor_ratio, below_floor_mark(r))
        }
        (Some(r), Some(floor)) => format!("{:.2}", r.median_ns / floor),
        _ => "—".into(),
    }
}

/// Whether `record` was faster than `floor` beyond both intervals (for a record not paired with
/// its floor): its slowest plausible time below the floor's fastest plausible one.
fn faster_than(record: &Record, floor: &Record) -> bool {
    record.ci_high_ns > 0.0 && floor.ci_low_ns > 0.0 && record.ci_high_ns < floor.ci_low_ns
}

/// ` ⚠` for a record whose paired ratio to its floor is below 1.0 with its whole interval:
/// a figure that beat a floor (the list under the table says which and by how much); ` ≈` for
/// one below 1.0 whose interval still reaches 1.0: at its floor, within the noise. No ratio
/// below 1.0 is printed bare.
fn below_floor_mark(record: &Record) -> &'static str {
    if record.floor_ratio_high > 0.0 && record.floor_ratio_high < 1.0 {
        " ⚠"
    } else if record.floor_ratio > 0.0 && record.floor_ratio < 1.0 {
        " ≈"
    } else {
        ""
    }
}

/// The streaming kernel's rows of `a` per call, in words: `many` on the many-rows path, `few`
/// on the few-rows one, and the rows of `b` the one-row path takes at a time, where it has
/// one (`one_row`).
fn rows_per_call(many: &[(usize, usize)], few: usize, one_row: Option<usize>) -> String {
    let tiles: Vec<String> = many.iter().map(|(r, c)| format!("{r} × {c}")).collect();
    let rows = if few == 1 {
        "1 row".to_owned()
    } else {
        format!("{few} rows")
    };
    let one_row = match one_row {
        Some(steps) => format!("; one row: up to {steps} rows of `b` at a time"),
        None => String::new(),
    };
    format!(
        "many rows: {} (rows × columns); few: {rows}{one_row}",
        tiles.join(" or ")
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bench::results::{FP32_PEAK, Machine, STREAM_READ, Skipped};

    pub(crate) fn record(
        stage: &str,
        source: Source,
        workload: &str,
        median_ns: f64,
        gflops: f64,
    ) -> Record {
        let package = match stage {
            "naive" => "matmul-naive",
            "dot" | "dot-contiguous" => "matmul-dot",
            "streaming" => "matmul-blas",
            _ if source == Source::Gpu => "matmul-cuda",
            _ => "",
        };
        Record {
            stage: stage.into(),
            package: package.into(),
            source,
            workload: workload.into(),
            median_ns,
            min_ns: median_ns,
            gflops,
            samples: 3,
            ..Record::default()
        }
    }

    pub(crate) fn example() -> Results {
        Results {
            machine: Machine {
                cpu: "Test CPU".into(),
                mode: "quick".into(),
                ..Machine::default()
            },
            results: vec![
                record("naive", Source::Rust, MNIST5, 40_000.0, 1.0),
                record("naive", Source::Rust, MNIST50K, 400e6, 1.0),
                record("dot", Source::Rust, MNIST5, 20_000.0, 2.0),
                record("streaming", Source::Rust, MNIST5, 1_000.0, 40.0),
                record("streaming", Source::Rust, MNIST50K, 6.5e6, 120.0),
                record("streaming", Source::Rust, "square-2048", 1e8, 170.0),
                record("numpy @", Source::Python, MNIST5, 3_500.0, 11.0),
                record("torch.matmul", Source::Python, "square-2048", 9e7, 180.0),
            ],
            skipped: vec![Skipped {
                stage: "python loops".into(),
                source: Source::Python,
                workload: MNIST50K.into(),
                reason: "one run would take about 1e4 s".into(),
            }],
            floors: vec![
                Record {
                    stage: STREAM_READ.into(),
                    workload: MNIST50K.into(),
                    median_ns: 5e6,
                    note: "one streaming read of x".into(),
                    ..Record::default()
                },
                Record {
                    stage: FP32_PEAK.into(),
                    workload: "square-2048".into(),
                    median_ns: 2.0 * 2048f64.powi(3) / 680.0,
                    gflops: 680.0,
                    note: "the FP32 FMA peak".into(),
                    ..Record::default()
                },
            ],
        }
    }

    #[test]
    fn the_table_shows_speedups_and_floor_multiples() {
        let results = example();
        let table = results.lesson_table(&results.stages());
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
        assert!(table.contains("| *floor: one streaming read of x* | — | | 5.00 ms | | | 1.00 |"));
        assert_eq!(
            split_note("one read of x (157 MB, 2 threads (wide loads))"),
            ("one read of x", Some("157 MB, 2 threads (wide loads)"))
        );
        assert_eq!(split_note("the FP32 peak"), ("the FP32 peak", None));
        // Rust stages come before the Python methods.
        let naive = table.find("`naive`").unwrap();
        assert!(naive < table.find("python: numpy").unwrap());
    }

    /// The five-image floor, one core's peak: a row of its own with its time alone (a fastest
    /// sample has no interval), and a stage that beats it is named under the table.
    #[test]
    fn the_five_image_floor_is_one_cores_peak() {
        let mut results = example();
        let ns = 2.0 * 5.0 * 784.0 * 10.0 / 240.0;
        results.floors.push(Record {
            stage: ONE_CORE_PEAK.into(),
            workload: MNIST5.into(),
            median_ns: ns,
            min_ns: ns,
            ci_low_ns: ns,
            ci_high_ns: ns,
            samples: 20,
            gflops: 240.0,
            note: "its flops at one core's peak (1 thread)".into(),
            ..Record::default()
        });
        let table = results.lesson_table(&results.stages());
        assert!(
            table.contains("| *floor: its flops at one core's peak* | 327 ns | | — | | | |"),
            "{table}"
        );
        assert!(results.cautions(&results.stages()).is_empty());
        // A stage faster than the floor, with its whole interval.
        let streaming = results
            .results
            .iter_mut()
            .find(|r| r.stage == "streaming" && r.workload == MNIST5)
            .unwrap();
        (
            streaming.median_ns,
            streaming.ci_low_ns,
            streaming.ci_high_ns,
        ) = (300.0, 290.0, 310.0);
        let cautions = results.cautions(&results.stages());
        assert_eq!(cautions.len(), 1, "{cautions:?}");
        assert!(cautions[0].contains("less than the `one-core-peak` floor's 327 ns"));
        assert!(cautions[0].ends_with("or the stage ran on more than one core."));
    }

    #[test]
    fn gpu_rows_use_the_gpu_floor_and_a_copy_has_no_speedup() {
        let mut results = example();
        results
            .results
            .push(record("cuda.to_device", Source::Gpu, MNIST5, 500.0, 0.0));
        results
            .results
            .push(record("cublas", Source::Gpu, MNIST50K, 2e6, 400.0));
        results.floors.push(Record {
            stage: "device-read".into(),
            source: Source::Gpu,
            workload: MNIST50K.into(),
            median_ns: 1e6,
            note: "one read of x in device memory".into(),
            ..Record::default()
        });
        let table = results.lesson_table(&results.stages());
        assert!(
            table.contains("| *gpu: cuda.to_device* | 500 ns | — | — | — | — | — |"),
            "{table}"
        );
        // 400 ms / 2 ms = 200× the CPU's naive loop; 2 ms / 1 ms = 2.00 of the GPU's floor.
        assert!(
            table.contains("| *gpu: cublas* | — | — | 2.00 ms | 200× | 400.0 | 2.00 |"),
            "{table}"
        );
        assert!(table.contains("| *floor: one read of x in device memory* | — | | 1.00 ms |"));
        // GPU rows come after the Rust stages and before Python's.
        let (gpu, python) = (
            table.find("gpu: cublas").unwrap(),
            table.find("python:").unwrap(),
        );
        assert!(table.find("`streaming`").unwrap() < gpu && gpu < python);
    }

    #[test]
    fn a_floors_detail_is_said_under_the_table_not_in_its_row() {
        let mut results = example();
        results.floors[0].note = "one read of x (157 MB, 2 threads)".into();
        let table = results.lesson_table(&results.stages());
        assert!(
            table.contains("| *floor: one read of x* | — | | 5.00 ms |"),
            "{table}"
        );
        assert!(
            table.ends_with("|\n\n*Floor, one read of x:* 157 MB, 2 threads.\n"),
            "{table}"
        );
    }

    #[test]
    fn square_rows_show_their_share_of_the_peak() {
        let results = example();
        let table = results.square_table(&results.stages());
        assert!(table.contains("| `streaming` | 170.0 (25%) |"), "{table}");
        assert!(
            table.contains("| *python: torch.matmul* | 180.0 (26%) |"),
            "{table}"
        );
        assert!(
            table.contains("| *floor: the FP32 FMA peak* | 680.0 |"),
            "{table}"
        );
    }

    #[test]
    fn json_has_the_documented_shape() {
        let json = serde_json::to_value(example()).unwrap();
        assert!(json["machine"]["cpu"].is_string());
        let first = &json["results"][0];
        assert_eq!(first["stage"], "naive");
        assert_eq!(first["source"], "rust");
        assert_eq!(first["workload"], MNIST5);
        assert!(first["median_ns"].is_f64());
        assert_eq!(json["floors"][0]["workload"], MNIST50K);
        assert!(json["floors"][0]["median_ns"].is_f64());
        assert_eq!(json["floors"][1]["stage"], FP32_PEAK);
        assert!(json["floors"][1]["note"].is_string());
        let back: Results = serde_json::from_value(json).unwrap();
        assert_eq!(back, example());
    }

    #[test]
    fn a_figure_below_its_floor_is_marked_and_explained() {
        let mut results = example();
        let streaming = results
            .results
            .iter_mut()
            .find(|r| r.stage == "streaming" && r.workload == MNIST50K)
            .unwrap();
        (
            streaming.floor_ratio,
            streaming.floor_ratio_low,
            streaming.floor_ratio_high,
        ) = (0.86, 0.84, 0.88);
        let md = results.markdown();
        let row = md.lines().find(|l| l.starts_with("| `streaming`")).unwrap();
        assert!(row.ends_with("| 0.86 ⚠ |"), "{row}");
        assert!(md.contains("**Read with care:**"), "{md}");
        assert!(
            md.contains("`streaming` on mnist50k ran at 0.86× the `stream-read` floor (95% interval 0.84–0.88)"),
            "{md}"
        );
        // Within its interval of 1.0, a ratio below 1.0 is not a result to flag.
        let streaming = results
            .results
            .iter_mut()
            .find(|r| r.stage == "streaming" && r.workload == MNIST50K)
            .unwrap();
        streaming.floor_ratio_high = 1.02;
        let md = results.markdown();
        assert!(!md.contains("⚠"), "{md}");
        let row = md.lines().find(|l| l.starts_with("| `streaming`")).unwrap();
        assert!(
            row.ends_with("| 0.86 ≈ |"),
            "at the floor within noise: {row}"
        );
    }

    #[test]
    fn the_same_code_measured_apart_is_said() {
        let mut results = example();
        let mut blas = record("blas", Source::Rust, MNIST50K, 9.0e6, 90.0);
        blas.runs_as = "streaming".into();
        (blas.ci_low_ns, blas.ci_high_ns, blas.samples) = (8.8e6, 9.2e6, 10);
        results.results.push(blas.clone());
        let streaming = results
            .results
            .iter_mut()
            .find(|r| r.stage == "streaming" && r.workload == MNIST50K)
            .unwrap();
        (streaming.ci_low_ns, streaming.ci_high_ns, streaming.samples) = (6.4e6, 6.6e6, 10);
        let cautions = results.cautions(&results.stages());
        assert_eq!(cautions.len(), 1, "{cautions:?}");
        assert!(
            cautions[0].contains("`blas` runs `streaming`'s code on mnist50k"),
            "{cautions:?}"
        );
        assert!(cautions[0].contains("9.00 ms and 6.50 ms"), "{cautions:?}");
        // Overlapping intervals: the same code, and nothing to say.
        let blas = results
            .results
            .iter_mut()
            .find(|r| r.stage == "blas")
            .unwrap();
        (blas.median_ns, blas.ci_low_ns, blas.ci_high_ns) = (6.6e6, 6.5e6, 6.7e6);
        assert!(results.cautions(&results.stages()).is_empty());
    }

    #[test]
    fn times_carry_their_spread_and_wide_ones_are_flagged() {
        let mut r = record("dot", Source::Rust, MNIST5, 20_000.0, 2.0);
        (r.ci_low_ns, r.ci_high_ns, r.samples) = (19_000.0, 20_800.0, 9);
        assert_eq!(time(Some(&r)), "20.0 µs ±5.0%");
        r.ci_high_ns = 24_000.0;
        let results = Results {
            results: vec![r],
            ..Results::default()
        };
        let cautions = results.cautions(&results.stages());
        assert_eq!(cautions.len(), 1, "{cautions:?}");
        assert!(
            cautions[0].ends_with("settle them): `dot` on mnist5 (±20%)."),
            "{cautions:?}"
        );
    }

    #[test]
    fn the_shape_table_times_each_shape_and_bolds_the_fastest() {
        let mut results = example();
        assert_eq!(
            results.shape_table(&results.stages()),
            "",
            "no shape was timed"
        );
        let (one, rank) = (shape_name(SHAPES[0]), shape_name(SHAPES[2]));
        results.results.extend([
            record("streaming", Source::Rust, &one, 41_000.0, 38.0),
            record("torch.matmul", Source::Python, &one, 27_000.0, 58.0),
            record("streaming", Source::Rust, &rank, 1.5e6, 267.0),
            record("torch.matmul", Source::Python, &rank, 1.6e6, 250.0),
            // A shape `SHAPES` no longer lists, from a saved run.
            record("streaming", Source::Rust, "shape-3x4x5", 90.0, 1.3),
            // The GPU's rows are not the CPU's peers, and never the fastest here.
            record("torch.matmul", Source::Gpu, &one, 5_000.0, 300.0),
        ]);
        let table = results.shape_table(&results.stages());
        // Only the shapes some CPU row ran, in the order of `SHAPES` and then any others, named
        // `m×k×n`.
        assert!(
            table.contains("| stage | 1×784×1000 | 2000×50×2000 | 3×4×5 |\n|---|--:|--:|--:|\n"),
            "{table}"
        );
        assert!(
            table.contains("| `streaming` | 41.0 µs | **1.50 ms** | **90.0 ns** |"),
            "{table}"
        );
        assert!(
            table.contains("| *python: torch.matmul* | **27.0 µs** | 1.60 ms | — |"),
            "{table}"
        );
        assert!(!table.contains("gpu"), "{table}");
        // A row with no shape is left out.
        assert!(!table.contains("naive"), "{table}");
        assert!(results.markdown().contains(&table));
    }

    #[test]
    fn markdown_has_machine_line_tables_and_skips() {
        let md = example().markdown();
        assert!(md.contains("**Machine:** Test CPU"));
        assert!(md.contains("quick run"));
        assert!(md.contains("| stage | 5 images |"));
        assert!(md.contains("GFLOP/s on `(N, N) @ (N, N)`"));
        assert!(md.contains("`python loops` on mnist50k: one run would take"));
        assert!(!md.contains("Targets"));
    }

    #[test]
    fn the_kernels_table_lists_every_instruction_set_and_marks_the_runs() {
        use matmul_cuda::blas::isa::Isa;
        let mut results = example();
        results.machine.simd = Isa::Neon.name().into();
        let table = results.kernels_table();
        for isa in Isa::ALL {
            let (mr, nr) = isa.kernels().gemm_tile;
            let row = table
                .lines()
                .find(|line| {
                    line.contains(&format!("| {} |", isa.name()))
                        || line.contains(&format!("**{}**", isa.name()))
                })
                .unwrap_or_else(|| panic!("no row for {isa:?}:\n{table}"));
            assert!(row.contains(&format!("{mr} × {nr}")), "{row}");
            assert_eq!(row.contains("(this run)"), isa == Isa::Neon, "{row}");
            // The short bound, where it reaches past the narrow one.
            let rule = matmul_cuda::blas::StreamingRule::for_isa(isa);
            let short = format!("`b` ≤ {} columns, or `a` ≤", rule.max_columns);
            let wider = rule.short_max_columns > rule.max_columns;
            assert_eq!(row.contains(&short), wider, "{row}");
            if wider {
                let bound = format!("`b` ≤ {} columns", rule.short_max_columns);
                assert!(row.contains(&bound), "{row}");
            }
            // A few rows by whole rows of a `b` beyond L3, where one row streams.
            let few = format!(
                "≤ {} rows, with `b` of 64 columns or more and larger",
                rule.max_rows
            );
            assert_eq!(row.contains(&few), rule.one_row, "{row}");
        }
    }
}
