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
use super::workload::{MNIST5, MNIST50K, square_name};

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

/// The lesson's own methods that each step retells, by package: the Python rows (methods of
/// `python/peers.py`) its page shows beside its stages.
pub const LESSON_PEERS: &[(&str, &[&str])] = &[
    ("matmul-naive", &["python loops"]),
    ("matmul-dot", &["numba dot"]),
    ("matmul-elementwise", &["torch elementwise"]),
    (
        "matmul-broadcast",
        &["torch broadcasting", "numba broadcasting"],
    ),
    ("matmul-einsum", &["torch.einsum"]),
    ("matmul-blas", &["torch.matmul", "numpy @"]),
];

/// The body of the "Measured" section of `package`'s page (the page writes the heading and
/// what the numbers mean; the block supplies them): the machine line; the lesson's table with
/// this step's stages between the naive loop (the baseline), the previous step's fastest stage
/// and the lesson's own method for this step in Python; a legend saying which row is which;
/// the fastest stage so far; the square sweep and the other shapes of the same rows; what was
/// not timed. The GPU crate's page adds [`gpu_section`].
pub fn crate_block(results: &Results, package: &str) -> String {
    let own = results.stages_of(package);
    let mut rows: Vec<(&str, Source)> = Vec::new();
    if !own.contains(&"naive") && results.find_from(Source::Rust, "naive", MNIST5).is_some() {
        rows.push(("naive", Source::Rust));
    }
    let (previous, overall) = earlier_fastest(results, package);
    let (previous, overall) = (
        previous.filter(|&(stage, _)| stage != "naive"),
        overall.filter(|&(stage, _)| stage != "naive"),
    );
    for (stage, _) in overall.into_iter().chain(previous) {
        rows.push((stage, Source::Rust));
    }
    rows.extend(own.iter().map(|&stage| (stage, Source::Rust)));
    let peers = lesson_peers(package);
    rows.extend(
        peers
            .iter()
            .filter(|&&method| results.has(Source::Python, method))
            .map(|&method| (method, Source::Python)),
    );

    let mut out = format!("{GENERATED_DOCS}\n\n{}\n\n", results.machine_line());
    if own.is_empty() {
        out.push_str("This run timed none of this step's stages on the CPU.\n");
    } else {
        out.push_str(&results.lesson_table(&rows));
        out.push('\n');
        out.push_str(&legend(results, &own, previous, overall, peers));
        out.push('\n');
        out.push_str(&fastest_so_far(results, &own));
        let squares = results.square_table(&rows);
        if !squares.is_empty() {
            out.push('\n');
            out.push_str(&squares);
        }
        let shapes = results.shape_table(&rows);
        if !shapes.is_empty() {
            out.push('\n');
            out.push_str(&shapes);
        }
        let skipped = results.skipped_list(&rows);
        if !skipped.is_empty() {
            out.push_str("\nNot timed:\n\n");
            out.push_str(&skipped);
        }
    }
    out
}

/// The Python methods [`LESSON_PEERS`] gives `package` (none for a step the lesson has no
/// Python method for).
fn lesson_peers(package: &str) -> &'static [&'static str] {
    LESSON_PEERS
        .iter()
        .find(|(name, _)| *name == package)
        .map_or(&[], |(_, methods)| methods)
}

/// A stage and the crate (the step) that defines it.
type StageIn<'r> = (&'r str, Crate);

/// The comparison rows of `package`'s page: the step before its (in the order of the stage
/// list) with that step's fastest stage in this run, and, when it is another one, the fastest
/// stage of all earlier steps with its step.
fn earlier_fastest<'r>(
    results: &'r Results,
    package: &str,
) -> (Option<StageIn<'r>>, Option<StageIn<'r>>) {
    let crates = stage_crates(&matmul_cuda::stages());
    let Some(at) = crates.iter().position(|c| c.package == package) else {
        return (None, None);
    };
    let earlier = &crates[..at];
    let previous = earlier.last().and_then(|&c| fastest_of(results, &[c]));
    let overall = fastest_of(results, earlier)
        .filter(|&(stage, _)| previous.is_none_or(|(previous, _)| previous != stage));
    (previous, overall)
}

/// The Rust stage of `crates` that was fastest in this run, and its crate: the lowest median
/// on 50,000 images, or on 5 for stages not timed there.
fn fastest_of<'r>(results: &'r Results, crates: &[Crate]) -> Option<StageIn<'r>> {
    let key = |stage: &str| {
        let time = |workload| results.find_from(Source::Rust, stage, workload);
        match (time(MNIST50K), time(MNIST5)) {
            (Some(r), _) => Some((0, r.median_ns)),
            (None, Some(r)) => Some((1, r.median_ns)),
            (None, None) => None,
        }
    };
    crates
        .iter()
        .flat_map(|&c| {
            results
                .stages_of(c.package)
                .into_iter()
                .map(move |stage| (stage, c))
        })
        .filter_map(|(stage, c)| Some((stage, c, key(stage)?)))
        .min_by(|(_, _, a), (_, _, b)| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
        .map(|(stage, c, _)| (stage, c))
}

/// "Step 5" for the crate in `05_broadcast`: the number its directory starts with.
fn step_name(page: Crate) -> String {
    let digits: String = page
        .directory
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    match digits.parse::<u32>() {
        Ok(number) => format!("step {number}"),
        Err(_) => format!("`{}`", page.package),
    }
}

/// One line under the lesson's table saying what each kind of row is and what the columns
/// mean, so that no page has to say it by hand.
fn legend(
    results: &Results,
    own: &[&str],
    previous: Option<StageIn<'_>>,
    overall: Option<StageIn<'_>>,
    peers: &[&str],
) -> String {
    let mut parts = Vec::new();
    if own.contains(&"naive") {
        parts.push("`naive` is this step's loop and the baseline of every speedup".to_owned());
    } else {
        parts.push("`naive` is step 2's loop, the baseline of every speedup".to_owned());
    }
    if let Some((stage, page)) = previous {
        parts.push(format!(
            "`{stage}` is the fastest stage of {}, the step before, in this run",
            step_name(page)
        ));
    }
    if let Some((stage, page)) = overall {
        parts.push(format!(
            "`{stage}`, from {}, is the fastest stage of all the earlier steps",
            step_name(page)
        ));
    }
    let shown: Vec<&str> = peers
        .iter()
        .copied()
        .filter(|&method| results.has(Source::Python, method))
        .collect();
    let names = |methods: &[&str]| {
        methods
            .iter()
            .map(|m| format!("`{m}`"))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    if !shown.is_empty() {
        parts.push(format!(
            "*python:* rows are the lesson's own code for this step ({}), timed by Python on \
             the same data",
            names(&shown)
        ));
    } else if !peers.is_empty() && results.stages().iter().any(|&(_, s)| s == Source::Python) {
        parts.push(format!(
            "this run did not time the lesson's own code for this step ({}; it needs the \
             Python package the lesson uses)",
            names(peers)
        ));
    } else if !peers.is_empty() {
        parts.push(format!(
            "this run has no Python rows; `cargo xtask bench --python` adds the lesson's own \
             code for this step ({})",
            names(peers)
        ));
    }
    let python_floor = if shown.is_empty() {
        ""
    } else {
        "; for a Python row, the ratio of the two medians"
    };
    format!(
        "*Reading the table:* {}. GFLOP/s is on the 50,000-image product. `× floor` is the time \
         on 50,000 images over the read floor's (1.00): for this workspace's stages, the median \
         ratio of samples each paired with a read of `x` timed next to it{python_floor}. `±` is \
         half the width of a 95% interval of the median (a peak floor, the fastest of its \
         samples, has none).\n",
        parts.join("; ")
    )
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

    /// The example run with step 4's and 5's stages and their Python peers, in the packages
    /// the stage list puts them in.
    fn with_steps_4_and_5() -> Results {
        let mut results = example();
        for (stage, package, five, all) in [
            ("dot-contiguous", "matmul-dot", 3_000.0, 30e6),
            ("elementwise", "matmul-elementwise", 15_000.0, 150e6),
            ("broadcast", "matmul-broadcast", 18_000.0, 180e6),
            ("scaled-add", "matmul-broadcast", 9_000.0, 90e6),
        ] {
            for (workload, ns) in [(MNIST5, five), (MNIST50K, all)] {
                let mut r = record(stage, Source::Rust, workload, ns, 1.0);
                r.package = package.into();
                results.results.push(r);
            }
        }
        let peer = record("torch broadcasting", Source::Python, MNIST5, 70_000.0, 0.5);
        results.results.push(peer);
        results
    }

    #[test]
    fn a_step_block_shows_the_earlier_fastest_stages_and_the_lessons_python() {
        let results = with_steps_4_and_5();
        let block = crate_block(&results, "matmul-broadcast");
        let row = |label: &str| {
            block
                .find(&format!("| {label} |"))
                .unwrap_or_else(|| panic!("no row {label}: {block}"))
        };
        // naive, then the fastest of all earlier steps, then step 4's fastest, then this step's
        // own, then the lesson's Python for this step.
        let order = [
            row("`naive`"),
            row("`dot-contiguous`"),
            row("`elementwise`"),
            row("`broadcast`"),
            row("`scaled-add`"),
            row("*python: torch broadcasting*"),
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{block}");
        assert!(
            !block.contains("| `dot` |"),
            "not step 3's slower stage: {block}"
        );
        assert!(
            !block.contains("numpy @"),
            "not another step's Python: {block}"
        );
        assert!(block.contains(
            "`elementwise` is the fastest stage of step 4, the step before, in this run"
        ));
        assert!(block.contains(
            "`dot-contiguous`, from step 3, is the fastest stage of all the earlier steps"
        ));
        assert!(block.contains("the lesson's own code for this step (`torch broadcasting`)"));
        assert!(!block.contains("`numba broadcasting`"), "{block}");
        assert!(block.contains("`× floor` is the time on 50,000 images over the read floor's"));
    }

    #[test]
    fn a_missing_python_peer_is_said_and_not_shown() {
        let results = with_steps_4_and_5();
        let block = crate_block(&results, "matmul-elementwise");
        assert!(block.contains("| `dot-contiguous` |"), "{block}");
        assert!(!block.contains("*python:"), "{block}");
        assert!(
            block.contains("did not time the lesson's own code for this step (`torch elementwise`")
        );
        let mut no_python = results.clone();
        no_python.results.retain(|r| r.source != Source::Python);
        no_python.skipped.clear();
        let block = crate_block(&no_python, "matmul-elementwise");
        assert!(
            block.contains("`cargo xtask bench --python` adds"),
            "{block}"
        );
    }

    #[test]
    fn every_lesson_peer_is_a_method_of_the_python_script_and_a_step_of_the_list() {
        let script = include_str!("../../python/peers.py");
        let crates = stage_crates(&matmul_cuda::stages());
        for (package, methods) in LESSON_PEERS {
            assert!(crates.iter().any(|c| c.package == *package), "{package}");
            for method in *methods {
                assert!(script.contains(&format!("(\"{method}\", ")), "{method}");
            }
        }
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
