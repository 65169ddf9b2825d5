//! The pages cite no measured figure by hand: every timing, speedup, GFLOP/s or share of a
//! floor that a reader sees comes from a block that `cargo xtask bench --docs` generated.
//!
//! Scanned: `README.md` outside its generated block, and the doc comments (`//!`, `///`) of
//! every crate's `src/**/*.rs`. A *measured figure* is a number followed by
//!
//! - a time unit: `ns`, `µs`, `us`, `ms` (with or without a space), or ` s`;
//! - a multiple: `×` or `x` right after it (`21×`, `4-8x`), or ` × ` before a word
//!   (`1.4 × the floor`; `784 × 10` is a shape and passes);
//! - a rate: `GFLOP/s`, `TFLOP/s`, `GB/s`, `TB/s`;
//! - a share of something measured: `% of` before `peak`, `floor`, `cuBLAS`, `PyTorch`,
//!   `NumPy`, `BLAS`, `bandwidth`, `roofline` or `speed` (`80% of them are zero` passes).
//!
//! A physical fact that reads like one (a peak from a data sheet, a bandwidth spec) may stay
//! in prose when its line carries the marker `<!-- fact -->`, which renders as nothing.

use std::path::{Path, PathBuf};

/// Crates whose pages are being rewritten elsewhere and still cite figures by hand: scanned
/// and reported, but not yet failing the test. An entry must go once its crate is clean (the
/// test fails to say so). Empty: every page is scanned in full.
const PENDING: [&str; 0] = [];

/// The marker that allows a line's figure as a physical fact.
const FACT: &str = "<!-- fact -->";

/// The README's generated block (written by `cargo xtask bench --readme` / `--docs`).
const README_BLOCK: (&str, &str) = xtask::bench::splice::README_MARKERS;

/// What a share of is a measured figure: "% of" followed closely by one of these.
const MEASURED_WHOLES: [&str; 9] = [
    "peak",
    "floor",
    "cublas",
    "torch",
    "numpy",
    "blas",
    "bandwidth",
    "roofline",
    "speed",
];

/// The measured figures in one line of prose, as found.
fn figures(line: &str) -> Vec<String> {
    if line.contains(FACT) {
        return Vec::new();
    }
    let chars: Vec<char> = line.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_number = chars[i].is_ascii_digit()
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || matches!(chars[i - 1], '_' | '.')));
        if !starts_number {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || (matches!(chars[i], ',' | '.')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            i += 1;
        }
        let rest: String = chars[i..].iter().collect();
        if let Some(unit) = figure_after(&rest) {
            let number: String = chars[start..i].iter().collect();
            found.push(format!("{number}{unit}"));
        }
    }
    found.extend(timings_in_words(line));
    found
}

/// Words that make the amount after them a timing ("takes around a second").
const APPROXIMATELY: [&str; 12] = [
    "around", "about", "under", "over", "nearly", "roughly", "almost", "within", "takes", "took",
    "than", "some",
];
/// Amounts in words.
const AMOUNTS: [&str; 9] = [
    "a",
    "one",
    "half a",
    "a few",
    "several",
    "tens of",
    "hundreds of",
    "a couple of",
    "two",
];
/// Units of time in words.
const TIME_UNITS: [&str; 8] = [
    "second",
    "seconds",
    "millisecond",
    "milliseconds",
    "microsecond",
    "microseconds",
    "nanosecond",
    "nanoseconds",
];

/// Timings written as words: "around a second", "under a millisecond", "a few microseconds".
fn timings_in_words(line: &str) -> Vec<String> {
    let words: Vec<String> = line
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut found = Vec::new();
    for (i, word) in words.iter().enumerate() {
        if !TIME_UNITS.contains(&word.as_str()) {
            continue;
        }
        for amount in AMOUNTS {
            let amount: Vec<&str> = amount.split(' ').collect();
            let Some(start) = i.checked_sub(amount.len()) else {
                continue;
            };
            if words[start..i]
                .iter()
                .map(String::as_str)
                .ne(amount.iter().copied())
            {
                continue;
            }
            let before = start.checked_sub(1).map(|b| words[b].as_str());
            // "a few/several/tens of … microseconds" is a timing on its own; "a second" only
            // after a word of approximation ("around a second", not "a second thread").
            let plural_amount = amount.len() > 1 || amount[0] == "several";
            let milli_or_smaller = word.len() > "seconds".len();
            if before.is_some_and(|b| APPROXIMATELY.contains(&b))
                || (plural_amount && milli_or_smaller)
            {
                let mut phrase: Vec<&str> = before.into_iter().collect();
                phrase.extend(words[start..=i].iter().map(String::as_str));
                found.push(phrase.join(" "));
            }
        }
    }
    found
}

/// The unit or sign that makes the number before `rest` a measured figure, if any.
fn figure_after(rest: &str) -> Option<&str> {
    let ends_word = |s: &str| s.chars().next().is_none_or(|c| !c.is_alphanumeric());
    let spaced = rest.strip_prefix([' ', '\u{a0}', '\u{2009}']);
    for unit in ["ns", "µs", "us", "ms"] {
        for after in [Some(rest), spaced] {
            if let Some(tail) = after.and_then(|a| a.strip_prefix(unit))
                && ends_word(tail)
            {
                return Some(unit);
            }
        }
    }
    if let Some(tail) = spaced.and_then(|a| a.strip_prefix('s'))
        && ends_word(tail)
    {
        return Some(" s");
    }
    for sign in ['×', 'x'] {
        if let Some(tail) = rest.strip_prefix(sign)
            && ends_word(tail)
            && !tail.trim_start().starts_with(|c: char| c.is_ascii_digit())
        {
            return Some(if sign == '×' { "×" } else { "x" });
        }
    }
    if let Some(tail) = spaced.and_then(|a| a.strip_prefix("× "))
        && tail.starts_with(char::is_alphabetic)
    {
        return Some(" ×");
    }
    for rate in ["GFLOP/s", "TFLOP/s", "GB/s", "TB/s"] {
        if [Some(rest), spaced]
            .into_iter()
            .flatten()
            .any(|a| a.starts_with(rate))
        {
            return Some(rate);
        }
    }
    if let Some(tail) = rest.strip_prefix("% of") {
        // a share of something measured ("93.7% of cuBLAS"), not of a count ("80% of them")
        let near: String = tail.chars().take(24).collect::<String>().to_lowercase();
        if MEASURED_WHOLES.iter().any(|whole| near.contains(whole)) {
            return Some("% of");
        }
    }
    None
}

/// The prose lines of a Rust file: its `//!` and `///` comments, with their line numbers.
fn doc_lines(source: &str) -> Vec<(usize, &str)> {
    source
        .lines()
        .enumerate()
        .filter_map(|(n, line)| {
            let trimmed = line.trim_start();
            (trimmed.starts_with("//!") || trimmed.starts_with("///")).then_some((n + 1, trimmed))
        })
        .collect()
}

/// The lines of the README outside its generated block, with their line numbers.
fn readme_lines(readme: &str) -> Vec<(usize, &str)> {
    let mut inside = false;
    let mut lines = Vec::new();
    for (n, line) in readme.lines().enumerate() {
        if line.contains(README_BLOCK.0) {
            inside = true;
        } else if line.contains(README_BLOCK.1) {
            inside = false;
        } else if !inside {
            lines.push((n + 1, line));
        }
    }
    lines
}

/// `path:line: figure — text` for every figure in `lines`.
fn report(path: &Path, lines: &[(usize, &str)]) -> Vec<String> {
    lines
        .iter()
        .flat_map(|&(n, line)| {
            figures(line)
                .into_iter()
                .map(move |figure| format!("{}:{n}: {figure} — {}", path.display(), line.trim()))
        })
        .collect()
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The workspace root (this crate's parent).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_owned()
}

/// Every crate directory of the workspace: the directories at the root with a `Cargo.toml`.
fn crates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root())
        .expect("the workspace root is readable")
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file() && e.path().join("src").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn no_page_cites_a_measured_figure_outside_a_generated_block() {
    let root = root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let mut failures = report(Path::new("README.md"), &readme_lines(&readme));
    let crates = crates();
    assert!(
        crates.len() >= 9,
        "expected the nine crates of the workspace, found {crates:?}"
    );
    let mut pending_clean = Vec::new();
    for name in &crates {
        let mut found = Vec::new();
        for file in rust_files(&root.join(name).join("src")) {
            let source = std::fs::read_to_string(&file).expect("a readable source file");
            let shown = file.strip_prefix(&root).unwrap_or(&file);
            found.extend(report(shown, &doc_lines(&source)));
        }
        if PENDING.contains(&name.as_str()) {
            if found.is_empty() {
                pending_clean.push(name.clone());
            } else {
                eprintln!(
                    "pending ({name}, being rewritten): {} figure(s)\n  {}",
                    found.len(),
                    found.join("\n  ")
                );
            }
        } else {
            failures.extend(found);
        }
    }
    assert!(
        failures.is_empty(),
        "measured figures written by hand (put them in a generated block, or mark a physical \
         fact with {FACT}):\n  {}",
        failures.join("\n  ")
    );
    assert!(
        pending_clean.is_empty(),
        "{pending_clean:?} no longer cite figures by hand: take them off PENDING"
    );
}

#[test]
fn the_scan_finds_hand_written_figures() {
    // What the pages said before the generated blocks: each must be caught.
    for line in [
        "//! the five-image product takes **128 µs** and all 50,000 images 1.28 s",
        "//! (0.6 GFLOP/s, 257× the memory floor): about 3,000× faster",
        "//! `dot` takes 65.2us for five images",
        "//! about 1.5 µs of parsing",
        "//! why a GEMM sits at 4-8x the floor",
        "//! it reaches 93.7% of cuBLAS",
        "//! 61% of the FP32 peak",
        "//! the streaming kernel at 1.44 × the floor",
        "//! about 12 ms per call",
        "//! reads 3.35 TB/s",
    ] {
        assert!(!figures(line).is_empty(), "not caught: {line}");
    }
    let words = "//! The lesson's loop takes around a second, each row under a millisecond.\n";
    assert_eq!(
        report(Path::new("words.rs"), &doc_lines(words)).len(),
        2,
        "timings in words are figures too"
    );
    assert_eq!(
        timings_in_words("takes around a second, each row under a millisecond"),
        ["around a second", "under a millisecond"]
    );
    assert!(timings_in_words("a few microseconds each").len() == 1);
    assert!(timings_in_words("a second thread starts; the second pass").is_empty());
    let page = "//! # Step\n//! Prose.\n//! takes **16.0 µs** for five images\nfn f() {}\n";
    assert_eq!(doc_lines(page).len(), 3);
    assert_eq!(
        report(Path::new("lib.rs"), &doc_lines(page)),
        ["lib.rs:3: 16.0µs — //! takes **16.0 µs** for five images"]
    );
}

#[test]
fn the_scan_passes_physical_facts_and_generated_blocks() {
    for line in [
        "//! for `(784, 10)` weights that is 40 bytes apart",
        "//! one product every 3–4 cycles, 784 × 10 floats, 31 KB",
        "//! 2 × 2 matrices; sm_90; 0x5EED; x86-64; 16 lanes; AVX2",
        "//! 2·N³ flops; the 157 MB input; about 80% zeros",
        "//! an H100 has 3.35 TB/s of HBM bandwidth <!-- fact -->",
        "//! an order of magnitude faster; a second thread; per second",
        "/// Short run (under a minute): squares up to 512, cuda 12.4",
    ] {
        assert_eq!(figures(line), Vec::<String>::new(), "flagged: {line}");
    }
    let (start, end) = README_BLOCK;
    let readme = format!("# Title\nProse.\n{start}\n| `naive` | 128 µs | 1.0× |\n{end}\nAfter.\n");
    let lines = readme_lines(&readme);
    assert_eq!(
        lines.iter().map(|&(_, l)| l).collect::<Vec<_>>(),
        ["# Title", "Prose.", "After."]
    );
    assert!(report(Path::new("README.md"), &lines).is_empty());
    // The same figure outside the block is caught.
    let leaked = format!("{readme}It takes 128 µs.\n");
    assert_eq!(
        report(Path::new("README.md"), &readme_lines(&leaked)).len(),
        1
    );
}
