//! The three charts, as small hand-written SVG: horizontal bars of the speedup over the naive
//! loop on a log scale, GFLOP/s against `N` for the square sweep, and the roofline (GFLOP/s
//! against arithmetic intensity, under the two roofs measured in the same run).
//!
//! Hand-written because the charts are two dozen rectangles, lines and labels: a plotting
//! crate would bring a font stack and a dependency tree for what `format!` does in a page.

use std::fmt::Write;

use super::results::{FP32_PEAK, STREAM_READ};
use super::results::{Results, Source};
use super::units::format_speedup;
use super::workload::{MNIST5, MNIST50K, dims_of, intensity, square_name};

/// Colours for the series (Tableau 10), chosen for contrast and colour-blind safety.
const PALETTE: [&str; 14] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f3b73", "#8cd17d", "#b6992d", "#d37295",
];

/// The start of a chart: the `<svg>` element of `width` × `height`, a white background and
/// `title` at `left`.
fn open_svg(width: f64, height: f64, left: f64, title: &str) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" style="max-width: 100%; height: auto" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{left}" y="20" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    svg
}

/// Escapes the characters XML reserves.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The powers of ten spanning `[low, high]`, as exponents.
fn decades(low: f64, high: f64) -> (i32, i32) {
    let low = low.max(1e-12).log10().floor() as i32;
    let high = (high.max(1e-12).log10().ceil() as i32).max(low + 1);
    (low, high)
}

/// Speedup over the naive loop per stage, on both MNIST workloads, as bars on a log scale.
/// Returns `None` when the naive loop was not timed on 5 images.
pub fn speedup_svg(results: &Results) -> Option<String> {
    let series = [(MNIST5, "5 images"), (MNIST50K, "50,000 images")];
    let naive: Vec<Option<f64>> = series
        .iter()
        .map(|(w, _)| {
            results
                .find_from(Source::Rust, "naive", w)
                .map(|r| r.median_ns)
        })
        .collect();
    naive[0]?;
    let rows: Vec<(String, Vec<Option<f64>>)> = results
        .stages()
        .into_iter()
        .map(|(stage, source)| {
            let speedups: Vec<Option<f64>> = series
                .iter()
                .zip(&naive)
                .map(|((w, _), base)| {
                    // a copy row (no arithmetic) has no speedup over a product
                    let record = results
                        .find_from(source, stage, w)
                        .filter(|r| r.gflops > 0.0)?;
                    Some(base.as_ref()? / record.median_ns)
                })
                .collect();
            let label = source.label(stage);
            (label, speedups)
        })
        .filter(|(_, s)| s.iter().any(Option::is_some))
        .collect();
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|(_, s)| s.iter().flatten())
        .copied()
        .collect();
    let (low, high) = decades(
        values.iter().copied().fold(f64::INFINITY, f64::min),
        values.iter().copied().fold(0.0, f64::max),
    );
    let (left, top, width, group) = (190.0, 50.0, 560.0, 30.0);
    let height = top + group * rows.len() as f64 + 40.0;
    let x = |v: f64| left + width * (v.log10() - low as f64) / (high - low) as f64;

    let total_width = left + width + 90.0;
    let mut svg = open_svg(
        total_width,
        height,
        left,
        "Speedup over the naive loop (log scale)",
    );
    for (i, (_, name)) in series.iter().enumerate() {
        let lx = left + 300.0 + 130.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{lx}" y="30" width="12" height="10" fill="{}"/><text x="{}" y="39">{name}</text>"#,
            PALETTE[i],
            lx + 16.0
        );
    }
    let bottom = top + group * rows.len() as f64;
    for exponent in low..=high {
        let gx = x(10f64.powi(exponent));
        let _ = writeln!(
            svg,
            r##"<line x1="{gx:.1}" y1="{top}" x2="{gx:.1}" y2="{bottom}" stroke="#ddd"/><text x="{gx:.1}" y="{}" text-anchor="middle">{}</text>"##,
            bottom + 16.0,
            format_speedup(10f64.powi(exponent))
        );
    }
    for (row, (label, speedups)) in rows.iter().enumerate() {
        let y0 = top + group * row as f64;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 8.0,
            y0 + group / 2.0 + 4.0,
            escape(label)
        );
        for (i, speedup) in speedups.iter().enumerate() {
            let Some(speedup) = speedup else { continue };
            let y = y0 + 4.0 + 11.0 * i as f64;
            // Bars grow from 1× (no change): right for a speedup, left for a slowdown, so
            // that a slower method is not drawn as a shorter speedup.
            let (one, end) = (x(1.0), x(*speedup));
            let (start, label_x, anchor) = if end >= one {
                (one, end + 4.0, "start")
            } else {
                (end, end - 4.0, "end")
            };
            let _ = writeln!(
                svg,
                r#"<rect x="{start:.1}" y="{y:.1}" width="{:.1}" height="10" fill="{}"/><text x="{label_x:.1}" y="{:.1}" font-size="10" text-anchor="{anchor}">{}</text>"#,
                (end - one).abs().max(1.0),
                PALETTE[i],
                y + 9.0,
                format_speedup(*speedup)
            );
        }
    }
    let one = x(1.0);
    let _ = writeln!(
        svg,
        r##"<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#333"/><line x1="{one:.1}" y1="{top}" x2="{one:.1}" y2="{bottom}" stroke="#333"/>"##
    );
    svg.push_str("</svg>\n");
    Some(svg)
}

/// GFLOP/s against `N` on `(N, N) @ (N, N)`, one line per stage; `None` without square data.
pub fn square_svg(results: &Results) -> Option<String> {
    let sizes = results.square_sizes();
    let lines: Vec<(String, Vec<(usize, f64)>)> = results
        .stages()
        .into_iter()
        .map(|(stage, source)| {
            let points = sizes
                .iter()
                .filter_map(|&n| {
                    Some((n, results.find_from(source, stage, &square_name(n))?.gflops))
                })
                .collect::<Vec<_>>();
            let label = source.label(stage);
            (label, points)
        })
        .filter(|(_, points)| !points.is_empty())
        .collect();
    if lines.is_empty() {
        return None;
    }
    // A log scale: the stages span three decades, and on a linear one the slow ones would
    // all lie on the axis.
    let rates = || lines.iter().flat_map(|(_, p)| p.iter().map(|&(_, g)| g));
    let (low, high) = decades(
        rates().fold(f64::INFINITY, f64::min),
        rates().fold(0.0, f64::max),
    );
    let (left, top, width, height) = (60.0, 40.0, 520.0, 320.0);
    let (first, last) = (
        sizes[0] as f64,
        // one size alone still needs an axis of some width
        (*sizes.last().expect("points exist, so sizes do") as f64).max(2.0 * sizes[0] as f64),
    );
    let x =
        |n: usize| left + width * ((n as f64).log2() - first.log2()) / (last.log2() - first.log2());
    let y = |g: f64| {
        let g = g.max(10f64.powi(low));
        top + height * (1.0 - (g.log10() - low as f64) / (high - low) as f64)
    };

    let mut svg = open_svg(
        left + width + 200.0,
        top + height + 50.0,
        left,
        "GFLOP/s on (N, N) @ (N, N) (log scale)",
    );
    for exponent in low..=high {
        let g = 10f64.powi(exponent);
        let gy = y(g);
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{gy:.1}" x2="{}" y2="{gy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{g}</text>"##,
            left + width,
            left - 6.0,
            gy + 4.0
        );
    }
    for &n in &sizes {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{n}</text>"#,
            x(n),
            top + height + 18.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">N</text>"#,
        left + width / 2.0,
        top + height + 38.0
    );
    for (i, (label, points)) in lines.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        // Python's lines dashed; a colour used a second time dotted, so no two lines look alike.
        let dash = if label.starts_with("python") {
            r#" stroke-dasharray="6 3""#
        } else if i >= PALETTE.len() {
            r#" stroke-dasharray="1.5 2.5""#
        } else {
            ""
        };
        let path: Vec<String> = points
            .iter()
            .map(|&(n, g)| format!("{:.1},{:.1}", x(n), y(g)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>"#,
            path.join(" ")
        );
        for &(n, g) in points {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                x(n),
                y(g)
            );
        }
        let ly = top + 16.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
            left + width + 16.0,
            left + width + 36.0,
            left + width + 42.0,
            ly + 4.0,
            escape(label)
        );
    }
    svg.push_str("</svg>\n");
    Some(svg)
}

/// The roofline (Williams, Waterman & Patterson, 2009): GFLOP/s against arithmetic intensity
/// (flops per byte of compulsory traffic), both on log axes, under the two roofs this run
/// measured on the CPU — the read bandwidth (bytes of `x` over the read floor) and the FP32
/// peak — with one point per CPU stage and workload. Each workload's fastest stage is labelled;
/// the others are grey. `None` without both floors.
pub fn roofline_svg(results: &Results) -> Option<String> {
    let read = results
        .floors
        .iter()
        .find(|f| f.source == Source::Rust && f.stage == STREAM_READ)?;
    let peak = results
        .floors
        .iter()
        .find(|f| f.source == Source::Rust && f.stage == FP32_PEAK)?
        .gflops;
    let (m, k, _) = dims_of(&read.workload)?;
    let bandwidth = (4 * m * k) as f64 / read.median_ns; // GB/s = bytes per nanosecond
    let points: Vec<(f64, f64, &str, &str)> = results
        .results
        .iter()
        .filter(|r| r.source == Source::Rust && r.gflops > 0.0)
        .filter_map(|r| {
            Some((
                intensity(dims_of(&r.workload)?),
                r.gflops,
                r.stage.as_str(),
                r.workload.as_str(),
            ))
        })
        .collect();
    if points.is_empty() {
        return None;
    }
    let ridge = peak / bandwidth;
    let (x_low, x_high) = decades(
        points
            .iter()
            .map(|p| p.0)
            .fold(f64::INFINITY, f64::min)
            .min(ridge)
            / 2.0,
        points.iter().map(|p| p.0).fold(0.0, f64::max).max(ridge) * 2.0,
    );
    let (y_low, y_high) = decades(
        points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min),
        peak * 1.5,
    );
    let (left, top, width, height) = (70.0, 50.0, 600.0, 380.0);
    let x = |v: f64| left + width * (v.log10() - x_low as f64) / (x_high - x_low) as f64;
    let y = |v: f64| top + height * (1.0 - (v.log10() - y_low as f64) / (y_high - y_low) as f64);

    let mut svg = open_svg(
        left + width + 340.0,
        top + height + 60.0,
        left,
        "Roofline: GFLOP/s against flops per byte (log scales)",
    );
    let _ = writeln!(
        svg,
        r##"<text x="{left}" y="38" fill="#555">Roofs measured in this run: read {bandwidth:.1} GB/s, FP32 peak {peak:.0} GFLOP/s; ridge at {ridge:.1} flops/byte</text>"##
    );
    for exponent in x_low..=x_high {
        let gx = x(10f64.powi(exponent));
        let _ = writeln!(
            svg,
            r##"<line x1="{gx:.1}" y1="{top}" x2="{gx:.1}" y2="{}" stroke="#eee"/><text x="{gx:.1}" y="{}" text-anchor="middle">{}</text>"##,
            top + height,
            top + height + 16.0,
            10f64.powi(exponent)
        );
    }
    for exponent in y_low..=y_high {
        let gy = y(10f64.powi(exponent));
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{gy:.1}" x2="{}" y2="{gy:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + width,
            left - 6.0,
            gy + 4.0,
            10f64.powi(exponent)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">flops per byte of compulsory traffic (a, b read once, c written once)</text>"#,
        left + width / 2.0,
        top + height + 36.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">GFLOP/s</text>"#,
        top + height / 2.0,
        top + height / 2.0
    );
    // The roofs: bandwidth × intensity up to the ridge, then the peak.
    let start = 10f64.powi(x_low);
    let end = 10f64.powi(x_high);
    let _ = writeln!(
        svg,
        r##"<polyline points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="none" stroke="#333" stroke-width="2"/>"##,
        x(start),
        y((bandwidth * start).max(10f64.powi(y_low))),
        x(ridge),
        y(peak),
        x(end),
        y(peak)
    );
    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" fill="#333">FP32 peak</text><text x="{:.1}" y="{:.1}" fill="#333">memory: read of x</text>"##,
        x(end) - 70.0,
        y(peak) - 6.0,
        x(start) + 8.0,
        y((bandwidth * start).max(10f64.powi(y_low))) + 18.0,
    );
    // Every stage grey, then each workload's fastest labelled on top.
    for &(i, g, _, _) in &points {
        let _ = writeln!(
            svg,
            r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#bbb"/>"##,
            x(i),
            y(g)
        );
    }
    let mut workloads: Vec<&str> = Vec::new();
    for point in &points {
        if !workloads.contains(&point.3) {
            workloads.push(point.3);
        }
    }
    workloads.sort_by(|a, b| {
        let at = |w: &str| dims_of(w).map_or(0.0, intensity);
        at(a).total_cmp(&at(b))
    });
    let legend = left + width + 20.0;
    let _ = writeln!(
        svg,
        r##"<text x="{legend}" y="{top}" font-weight="bold">fastest stage on each workload</text><text x="{legend}" y="{}" fill="#555">(grey: every other stage)</text>"##,
        top + 16.0
    );
    let note = top + 60.0 + 20.0 * workloads.len() as f64;
    let _ = writeln!(
        svg,
        r##"<text x="{legend}" y="{note}" fill="#555">The memory roof holds for data read from</text><text x="{legend}" y="{}" fill="#555">memory; a workload that fits in cache</text><text x="{legend}" y="{}" fill="#555">(five images, a single row) can sit above it.</text>"##,
        note + 15.0,
        note + 30.0
    );
    for (n, workload) in workloads.iter().enumerate() {
        let Some(&(i, g, stage, _)) = points
            .iter()
            .filter(|p| p.3 == *workload)
            .max_by(|a, b| a.1.total_cmp(&b.1))
        else {
            continue;
        };
        let colour = PALETTE[n % PALETTE.len()];
        let ly = top + 40.0 + 20.0 * n as f64;
        let _ = writeln!(
            svg,
            r#"<circle cx="{:.1}" cy="{:.1}" r="5" fill="{colour}"/><circle cx="{}" cy="{:.1}" r="5" fill="{colour}"/><text x="{}" y="{:.1}">{}</text>"#,
            x(i),
            y(g),
            legend + 5.0,
            ly - 4.0,
            legend + 16.0,
            ly,
            escape(&format!("{stage} on {workload}: {g:.1} GFLOP/s"))
        );
    }
    svg.push_str("</svg>\n");
    Some(svg)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_roofline_places_the_lesson_left_of_the_ridge_and_squares_right() {
        use crate::bench::results::{FP32_PEAK, Machine, Record, Results, STREAM_READ, Source};
        let stage = |name: &str, workload: &str, gflops: f64| Record {
            stage: name.into(),
            source: Source::Rust,
            workload: workload.into(),
            median_ns: 1.0,
            gflops,
            ..Record::default()
        };
        let results = Results {
            machine: Machine::default(),
            results: vec![
                stage("streaming", "mnist50k", 100.0),
                stage("gemm", "mnist50k", 30.0),
                stage("gemm", "square-2048", 400.0),
            ],
            floors: vec![
                // 157 MB in 5 ms: about 31 GB/s; ridge at 500 / 31 ≈ 16 flops per byte.
                Record {
                    stage: STREAM_READ.into(),
                    workload: "mnist50k".into(),
                    median_ns: 5e6,
                    ..Record::default()
                },
                Record {
                    stage: FP32_PEAK.into(),
                    workload: "square-2048".into(),
                    gflops: 500.0,
                    ..Record::default()
                },
            ],
            ..Results::default()
        };
        let svg = super::roofline_svg(&results).unwrap();
        assert!(
            svg.contains("read 31.4 GB/s, FP32 peak 500 GFLOP/s; ridge at 15.9"),
            "{svg}"
        );
        assert!(
            svg.contains(">streaming on mnist50k: 100.0 GFLOP/s<"),
            "{svg}"
        );
        assert!(svg.contains(">gemm on square-2048: 400.0 GFLOP/s<"));
        assert!(
            !svg.contains(">gemm on mnist50k"),
            "only each workload's fastest is named"
        );
        assert_eq!(
            svg.matches("<circle").count(),
            7,
            "three grey, two coloured, two in the legend"
        );
        assert!(super::roofline_svg(&Results::default()).is_none());
    }

    use super::super::results::Record;
    use super::*;

    fn record(stage: &str, workload: &str, median_ns: f64, gflops: f64) -> Record {
        Record {
            stage: stage.into(),
            source: Source::Rust,
            workload: workload.into(),
            median_ns,
            gflops,
            ..Record::default()
        }
    }

    #[test]
    fn charts_have_a_bar_or_line_per_stage() {
        let results = Results {
            results: vec![
                record("naive", MNIST5, 1000.0, 1.0),
                record("a<b", MNIST5, 10.0, 100.0),
                record("a<b", "square-64", 10.0, 50.0),
                record("a<b", "square-128", 10.0, 60.0),
            ],
            ..Results::default()
        };
        let bars = speedup_svg(&results).unwrap();
        assert!(bars.starts_with("<svg") && bars.trim_end().ends_with("</svg>"));
        assert!(bars.contains("a&lt;b") && bars.contains("100×"));
        let lines = square_svg(&results).unwrap();
        assert_eq!(lines.matches("<polyline").count(), 1);
        assert_eq!(lines.matches("<circle").count(), 2);
        assert!(square_svg(&Results::default()).is_none());
        assert!(speedup_svg(&Results::default()).is_none());
    }

    // A bar grows from one: a slower method's bar ends there and its label sits to its left.
    #[test]
    fn a_slowdown_is_a_bar_to_the_left_of_one() {
        let results = Results {
            results: vec![
                record("naive", MNIST5, 1000.0, 1.0),
                record("fast", MNIST5, 10.0, 100.0),
                record("slow", MNIST5, 100_000.0, 0.01),
            ],
            ..Results::default()
        };
        let svg = speedup_svg(&results).unwrap();
        let bar = |label: &str| {
            let line = svg
                .lines()
                .find(|line| line.contains(&format!(">{label}</text>")) && line.contains("<rect"))
                .unwrap_or_else(|| panic!("no bar labelled {label}: {svg}"));
            let number = |key: &str| -> f64 {
                let rest = &line[line.find(&format!("{key}=\"")).unwrap() + key.len() + 2..];
                rest[..rest.find('"').unwrap()].parse().unwrap()
            };
            (
                number("x"),
                number("width"),
                line.contains("text-anchor=\"end\""),
            )
        };
        let (fast_x, _, fast_left) = bar("100×");
        let (slow_x, slow_width, slow_left) = bar("0.010×");
        assert!(!fast_left && slow_left, "{svg}");
        assert!(
            (slow_x + slow_width - fast_x).abs() < 0.2,
            "both meet at 1×: {svg}"
        );
    }
}
