//! `--docs`: the generated "Measured" sections of the tutorial, from one run's [`Results`].
//!
//! Each stage crate's page pulls in its own `measured.md` with
//! `#![doc = include_str!("../measured.md")]`, as pages pull in their code listings, so the
//! figures on a page are always those of the run saved next to them in
//! `xtask/measured/results.json`. Prose around the blocks explains; it cites no measured
//! figure (the `no_hand_written_figures` test checks).

use std::path::{Path, PathBuf};

use anyhow::Context;
use matmul_data::{Crate, Stage};
use serde::Deserialize;

use super::chart;
use super::results::{Results, Source, TO_DEVICE};
use super::splice::GENERATED_DOCS;
use super::table::label;
use super::units::{format_percent, format_time};
use super::workload::{MNIST5, square_name};

/// Where `--docs` saves the run the pages show.
pub const SAVED_RESULTS: &str = "xtask/measured/results.json";

/// The crates that define `stages`, each once, in reading order: the pages that get a
/// `measured.md`.
pub fn stage_crates(stages: &[Stage]) -> Vec<Crate> {
    let mut crates: Vec<Crate> = Vec::new();
    for stage in stages {
        if !crates.contains(&stage.defined_in) {
            crates.push(stage.defined_in);
        }
    }
    crates
}

/// The pages that show more than their own stages' figures.
#[derive(Clone, Copy, Debug)]
pub struct Pages {
    /// The page that shows the GPU's section.
    pub gpu: Crate,
    /// The page that shows the roofline and the kernels of each instruction set.
    pub roofline: Crate,
    /// Whether to save the run as [`SAVED_RESULTS`] (not when it was read from a saved run:
    /// writing it back would only round its numbers again).
    pub save_run: bool,
}

/// Writes a `measured.md` into the directory of each of `crates` (with the extra sections
/// `pages` place) and [`SAVED_RESULTS`] (as `pages` says), all under `root`; returns the
/// paths.
pub fn write(
    results: &Results,
    root: &Path,
    crates: &[Crate],
    pages: Pages,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for &page in crates {
        let path = root.join(page.directory).join("measured.md");
        let mut block = crate_block(results, page.package);
        if page == pages.roofline {
            block.push('\n');
            block.push_str(&roofline_section(results));
            block.push('\n');
            block.push_str(&kernels_section(results));
        }
        if page == pages.gpu {
            block.push('\n');
            block.push_str(&gpu_section(results));
        }
        std::fs::write(&path, block).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    if !pages.save_run {
        return Ok(written);
    }
    let path = root.join(SAVED_RESULTS);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(results)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    written.push(path);
    Ok(written)
}

/// The body of the "Measured" section of `package`'s page (the page writes the heading and
/// what the numbers mean; the block supplies them): the machine line, the lesson's table for its
/// stages (with the naive loop as the baseline), the fastest stage so far, its square sweep,
/// what was not timed. The GPU crate's page adds [`gpu_section`].
pub fn crate_block(results: &Results, package: &str) -> String {
    let own = results.stages_of(package);
    let mut rows: Vec<(&str, Source)> = Vec::new();
    if !own.contains(&"naive") && results.find_from(Source::Rust, "naive", MNIST5).is_some() {
        rows.push(("naive", Source::Rust));
    }
    rows.extend(own.iter().map(|&stage| (stage, Source::Rust)));

    let mut out = format!("{GENERATED_DOCS}\n\n{}\n\n", results.machine_line());
    if own.is_empty() {
        out.push_str("This run timed none of this step's stages on the CPU.\n");
    } else {
        out.push_str(&results.lesson_table(&rows));
        out.push('\n');
        out.push_str(&fastest_so_far(results, &own));
        let squares = results.square_table(&rows);
        if !squares.is_empty() {
            out.push('\n');
            out.push_str(&squares);
        }
        let skipped = results.skipped_list(&rows);
        if !skipped.is_empty() {
            out.push_str("\nNot timed:\n\n");
            out.push_str(&skipped);
        }
    }
    out
}

/// Which Rust stage is fastest on each lesson workload among those up to and including this
/// step's (`own`), in reading order: the claim a page would otherwise make by hand.
fn fastest_so_far(results: &Results, own: &[&str]) -> String {
    let order: Vec<&str> = results
        .stages()
        .into_iter()
        .filter(|&(_, source)| source == Source::Rust)
        .map(|(stage, _)| stage)
        .collect();
    let Some(last) = order.iter().rposition(|stage| own.contains(stage)) else {
        return String::new();
    };
    let so_far = &order[..=last];
    if so_far.len() < 2 {
        return String::new();
    }
    let fastest = |workload: &str| {
        so_far
            .iter()
            .filter_map(|stage| results.find_from(Source::Rust, stage, workload))
            .min_by(|a, b| a.median_ns.total_cmp(&b.median_ns))
            .map(|r| format!("`{}` ({})", r.stage, format_time(r.median_ns)))
    };
    let parts: Vec<String> = Results::LESSON
        .iter()
        .filter_map(|&(workload, words)| Some(format!("on {words} {}", fastest(workload)?)))
        .collect();
    if parts.is_empty() {
        return String::new();
    }
    format!(
        "Fastest of the {} stages up to this step: {}.\n",
        so_far.len(),
        parts.join("; ")
    )
}

/// Step 7's kernels on every kind of machine, the run's own marked: which code a reader's
/// machine runs, and when `blas` streams there.
pub fn kernels_section(results: &Results) -> String {
    format!(
        "### The kernels on each kind of machine\n\n\
         The instruction set is detected once per run (`MATMUL_ISA` picks a narrower one this CPU \
         has). Each row is read from the kernels' shapes; the numbers above were measured with \
         the marked one only.\n\n{}",
        results.kernels_table()
    )
}

/// The roofline of this run, drawn inline (an SVG in the page), with a line on how to read it.
pub fn roofline_section(results: &Results) -> String {
    let Some(svg) = chart::roofline_svg(results) else {
        return String::new();
    };
    format!(
        "### The roofline\n\n\
         Each point is a stage on a workload, at its arithmetic intensity (flops per byte it \
         must move at least) and its GFLOP/s; the two roofs are this run's read of `x` and its \
         FP32 peak. Under the slanted roof a product waits for memory, under the flat one for \
         arithmetic.\n\n{}\n",
        svg.trim_end()
    )
}

/// The GPU's part of the `08_cuda` page: this run's GPU rows, or, until a GPU run is saved,
/// a published measurement of the same kernel designs, labelled as exactly that.
pub fn gpu_section(results: &Results) -> String {
    let mut out = String::from("### On the GPU\n\n");
    if !results.has_gpu() {
        out.push_str(&published_reference());
        return out;
    }
    let rows: Vec<(&str, Source)> = results
        .stages()
        .into_iter()
        .filter(|&(_, source)| source == Source::Gpu)
        .collect();
    out.push_str(&format!(
        "Kernel times from CUDA events, the operands already in device memory; \
         the `{TO_DEVICE}` row is the copy of `x` from host memory (the lesson's call of that \
         name). \
         Speedups are over the CPU's naive loop; the floor is one read of `x` in device \
         memory.\n\n"
    ));
    out.push_str(&results.lesson_table(&rows));
    let squares = results.square_table(&rows);
    if !squares.is_empty() {
        out.push('\n');
        out.push_str(&squares);
    }
    out.push_str(&share_of_cublas(results, &rows));
    let skipped = results.skipped_list(&rows);
    if !skipped.is_empty() {
        out.push_str("\nNot timed:\n\n");
        out.push_str(&skipped);
    }
    out
}

/// Each kernel's share of cuBLAS's rate on the largest square both ran.
fn share_of_cublas(results: &Results, rows: &[(&str, Source)]) -> String {
    let Some(n) = results.square_sizes().into_iter().rev().find(|&n| {
        results
            .find_from(Source::Gpu, "cublas", &square_name(n))
            .is_some()
    }) else {
        return String::new();
    };
    let workload = square_name(n);
    let cublas = results
        .find_from(Source::Gpu, "cublas", &workload)
        .expect("found above");
    let mut out = format!("\nShare of cuBLAS's GFLOP/s on `({n}, {n}) @ ({n}, {n})`:\n\n");
    out.push_str("| kernel | share of cuBLAS |\n|---|--:|\n");
    for &(stage, source) in rows {
        if let Some(r) = results.find_from(source, stage, &workload) {
            out.push_str(&format!(
                "| {} | {} |\n",
                label(stage, source),
                format_percent(100.0 * r.gflops / cublas.gflops)
            ));
        }
    }
    out
}

/// A published measurement of other kernels, shown (labelled) until a GPU run is saved:
/// `xtask/measured/published-gpu.json`, which names its source.
#[derive(Debug, Deserialize)]
struct Published {
    author: String,
    title: String,
    url: String,
    hardware: String,
    size: usize,
    designs: Vec<PublishedDesign>,
}

/// One kernel design of [`Published`] and its share of cuBLAS's speed.
#[derive(Debug, Deserialize)]
struct PublishedDesign {
    design: String,
    share_of_cublas_percent: f64,
}

/// The published figures, read from the data file built into this binary.
fn published() -> Published {
    serde_json::from_str(include_str!("../../measured/published-gpu.json"))
        .expect("xtask/measured/published-gpu.json is valid (a test reads it)")
}

/// The stand-in for a GPU run: says there is none, and shows someone else's, labelled.
fn published_reference() -> String {
    let published = published();
    let n = published.size;
    let mut out = format!(
        "No GPU run is saved with these pages yet: `cargo xtask bench --cuda --docs`, built \
         with the `cuda` feature on a machine with an NVIDIA GPU, replaces this section with \
         this step's kernels and cuBLAS, each validated and timed in the same run as the rows \
         above.\n\n\
         Until then, for orientation only — **someone else's measurement, on other hardware, \
         not of this code**: {}'s \"{}\" (<{}>) builds a similar sequence of kernel designs, \
         one idea at a time, and reports, on an {} at `({n}, {n}) @ ({n}, {n})`, each one's \
         share of cuBLAS's speed:\n\n\
         | kernel design (from that worklog) | share of cuBLAS |\n|---|--:|\n",
        published.author, published.title, published.url, published.hardware
    );
    for row in published.designs {
        out.push_str(&format!(
            "| {} | {:.1}% |\n",
            row.design, row.share_of_cublas_percent
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::table::tests::{example, record};
    use crate::bench::workload::MNIST50K;

    /// The crate of the GPU rows, as `matmul_cuda` names it.
    const GPU_CRATE: Crate = matmul_cuda::CRATE;

    /// `package`'s block as `--docs` writes it: with the GPU section on the GPU crate's page.
    fn page(results: &Results, package: &str) -> String {
        let mut block = crate_block(results, package);
        if package == GPU_CRATE.package {
            block.push('\n');
            block.push_str(&gpu_section(results));
        }
        block
    }

    #[test]
    fn a_crate_block_shows_its_stages_against_the_naive_loop() {
        let block = crate_block(&example(), "matmul-dot");
        assert!(block.starts_with(GENERATED_DOCS), "{block}");
        assert!(block.contains("| `naive` |"));
        assert!(block.contains("| `dot` | 20.0 µs | 2.0× |"), "{block}");
        assert!(!block.contains("`streaming`"), "{block}");
        assert!(!block.contains("On the GPU"));
    }

    #[test]
    fn the_fastest_stage_so_far_follows_the_reading_order() {
        let results = example();
        // Up to 03_dot: naive and dot, not the later streaming.
        let dot = fastest_so_far(&results, &["dot"]);
        assert_eq!(
            dot,
            "Fastest of the 2 stages up to this step: on 5 images `dot` (20.0 µs); on 50,000 images `naive` (400 ms).\n"
        );
        let blas = fastest_so_far(&results, &["streaming"]);
        assert!(blas.contains("on 5 images `streaming` (1.00 µs)"), "{blas}");
        assert_eq!(fastest_so_far(&results, &["naive"]), "");
    }

    #[test]
    fn the_roofline_page_gets_the_chart_inline() {
        let section = roofline_section(&example());
        assert!(section.starts_with("### The roofline"), "{section}");
        assert!(section.contains("<svg"), "{section}");
        assert!(
            !section.contains("\n\n<text"),
            "no blank line inside the SVG: {section}"
        );
    }

    #[test]
    fn without_a_gpu_run_the_gpu_section_says_so_and_labels_the_stand_in() {
        let section = page(&example(), GPU_CRATE.package);
        assert!(section.contains("No GPU run is saved"));
        assert!(section.contains("someone else's measurement, on other hardware"));
        assert!(section.contains("github.com/siboehm/SGEMM_CUDA"));
        assert!(section.contains("RTX A6000"));
        assert!(section.contains("| warp-tiling | 93.7% |"));
    }

    #[test]
    fn a_gpu_run_replaces_the_stand_in() {
        let mut results = example();
        results.machine.gpu = Some("Test GPU".into());
        for (stage, gflops) in [("cuda-naive", 100.0), ("cublas", 1000.0)] {
            let square = record(stage, Source::Gpu, "square-2048", 1e6, gflops);
            results.results.push(square);
            results
                .results
                .push(record(stage, Source::Gpu, MNIST50K, 1e5, gflops / 10.0));
        }
        let section = page(&results, GPU_CRATE.package);
        assert!(!section.contains("siboehm"), "{section}");
        assert!(section.contains("GPU: Test GPU"));
        assert!(section.contains("| *gpu: cuda-naive* | 10% |"), "{section}");
        assert!(section.contains("| *gpu: cublas* |"));
    }
}
