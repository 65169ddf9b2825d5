//! `cargo xtask data`: fetch (or open) MNIST, verify it, load it and print a summary.
//!
//! ```text
//! cargo xtask data                          # the lesson's file, cached and MD5-checked
//! cargo xtask data --url URL --md5 HEX      # another copy, another checksum
//! cargo xtask data --dir data               # cache in ./data instead
//! cargo xtask data --file mnist.pkl.gz      # a local file (checked against --md5 if given)
//! cargo xtask data --idx /usr/share/datasets/fashion-mnist   # IDX files
//! cargo xtask data --json                   # only the JSON summary, on standard output
//! ```
//!
//! The summary gives each split's shapes, label counts and pixel range, and draws the first
//! training image in the terminal, as the lesson does with `plt.imshow`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use matmul_data::{Download, Mnist, Split};
use serde::Serialize;

/// Options of `cargo xtask data`.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Fetch from this URL instead of the lesson's URL and its mirrors (still checked against
    /// the published MD5 and size unless --md5 is given).
    #[arg(long, value_name = "URL", conflicts_with_all = ["file", "idx"])]
    url: Option<String>,
    /// The file's expected MD5 (32 hex digits) instead of the published one; with --file,
    /// the local file is checked against it.
    #[arg(long, value_name = "HEX", conflicts_with = "idx")]
    md5: Option<String>,
    /// Cache directory [default: $MATMUL_DATA_DIR, else ~/.cache/matmul-from-foundations].
    #[arg(long, value_name = "DIR", conflicts_with_all = ["file", "idx"])]
    dir: Option<PathBuf>,
    /// Load this local file in mnist.pkl.gz's format instead of fetching.
    #[arg(long, value_name = "PATH", conflicts_with = "idx")]
    file: Option<PathBuf>,
    /// Load MNIST's IDX files (train-images-idx3-ubyte.gz, ...) from this directory.
    #[arg(long, value_name = "DIR")]
    idx: Option<PathBuf>,
    /// Print only the JSON summary on standard output.
    #[arg(long)]
    json: bool,
}

/// Loads MNIST as the options say and prints its summary.
pub fn run(args: DataArgs) -> anyhow::Result<()> {
    let (mnist, source) = load(&args)?;
    let summary = Summary::of(&mnist);
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&summary).context("writing the JSON summary")?
        );
        return Ok(());
    }
    println!("MNIST from {source}");
    for (name, stats) in [
        ("train", &summary.train),
        ("valid", &summary.valid),
        ("test", &summary.test),
    ] {
        let range = match (stats.pixel_min, stats.pixel_max) {
            (Some(min), Some(max)) => format!("pixels in [{min}, {max}]"),
            _ => "no pixels".to_owned(),
        };
        println!(
            "{name:>5}: images ({}, {}), labels ({},), {range}, label counts {:?}",
            stats.images[0], stats.images[1], stats.labels[0], stats.label_counts
        );
    }
    if !mnist.train.is_empty() {
        println!(
            "\nthe first training image (label {}):",
            mnist.train.labels[0]
        );
        print!("{}", draw(&mnist.train, 0));
    }
    Ok(())
}

/// Opens, or fetches and verifies, the data; returns it and a description of its source.
fn load(args: &DataArgs) -> anyhow::Result<(Mnist, String)> {
    if let Some(dir) = &args.idx {
        let mnist = Mnist::from_idx_dir(dir)?;
        return Ok((mnist, format!("the IDX files in {}", dir.display())));
    }
    if let Some(path) = &args.file {
        let mut source = path.display().to_string();
        if let Some(expected) = &args.md5 {
            let found = matmul_data::mnist::download::md5_file(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if !found.eq_ignore_ascii_case(expected) {
                bail!("{}: expected MD5 {expected}, found {found}", path.display());
            }
            source += &format!(" (MD5 {found} verified)");
        }
        return Ok((Mnist::from_pickle_gz(path)?, source));
    }
    let mut download = Download::mnist();
    if let Some(url) = &args.url {
        download = download.url(url);
    }
    if let Some(md5) = &args.md5 {
        download = download.md5(md5);
    }
    if let Some(dir) = &args.dir {
        download = download.dir(dir);
    }
    let mnist = Mnist::load_cached(&download)?;
    Ok((
        mnist,
        format!(
            "{} (MD5 {} verified)",
            download.path().display(),
            download.md5.to_ascii_lowercase()
        ),
    ))
}

/// The `--json` object: one entry per split, in the pickle's order.
#[derive(Debug, Serialize)]
struct Summary {
    train: SplitSummary,
    valid: SplitSummary,
    test: SplitSummary,
}

/// Shapes, label counts and pixel statistics of one split.
#[derive(Debug, Serialize)]
struct SplitSummary {
    images: [usize; 2],
    labels: [usize; 1],
    label_counts: [usize; 10],
    /// Summed in f64: exact for MNIST, whose pixels are multiples of 1/256.
    pixel_sum: f64,
    pixel_min: Option<f32>,
    pixel_max: Option<f32>,
    first_label: Option<u8>,
}

impl Summary {
    fn of(mnist: &Mnist) -> Self {
        Self {
            train: SplitSummary::of(&mnist.train),
            valid: SplitSummary::of(&mnist.valid),
            test: SplitSummary::of(&mnist.test),
        }
    }
}

impl SplitSummary {
    fn of(split: &Split) -> Self {
        let (mut sum, mut min, mut max) = (0.0f64, None::<f32>, None::<f32>);
        for &pixel in &split.images {
            sum += f64::from(pixel);
            min = Some(min.map_or(pixel, |m| m.min(pixel)));
            max = Some(max.map_or(pixel, |m| m.max(pixel)));
        }
        Self {
            images: [split.images.nrows(), split.images.ncols()],
            labels: [split.labels.len()],
            label_counts: split.label_counts(),
            pixel_sum: sum,
            pixel_min: min,
            pixel_max: max,
            first_label: split.labels.first().copied(),
        }
    }
}

/// Image `i` as text: two characters per pixel (terminal cells are about twice as tall as
/// wide), darker characters for brighter pixels, as `plt.imshow` with a grey colour map.
fn draw(split: &Split, i: usize) -> String {
    const RAMP: &[u8] = b" .:-=+*#%@";
    let mut out = String::new();
    for row in split.image(i).rows() {
        for &pixel in row {
            let level = ((pixel.clamp(0.0, 1.0) * RAMP.len() as f32) as usize).min(RAMP.len() - 1);
            let c = char::from(RAMP[level]);
            out.push(c);
            out.push(c);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Mnist {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../01_data/fixtures/mnist_py2.pkl.gz"
        );
        Mnist::from_pickle_gz(path).unwrap()
    }

    #[test]
    fn the_json_summary_has_the_issues_keys_in_order() {
        let mnist = fixture();
        let json = serde_json::to_string(&Summary::of(&mnist)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let splits: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(splits, ["test", "train", "valid"]); // serde_json sorts when parsing
        assert!(
            json.starts_with(r#"{"train":{"images":[10,784],"labels":[10],"label_counts":["#),
            "{json}"
        );
        let train = &value["train"];
        let keys: Vec<&String> = train.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 7);
        // The pixel sum, recomputed here in a different order, is exact: pixels are k/256.
        let sum: f64 = mnist
            .train
            .images
            .rows()
            .into_iter()
            .map(|r| r.iter().map(|&p| f64::from(p)).sum::<f64>())
            .sum();
        assert_eq!(train["pixel_sum"].as_f64().unwrap(), sum);
        assert_eq!(
            train["first_label"].as_u64().unwrap(),
            u64::from(mnist.train.labels[0])
        );
        assert_eq!(value["test"]["label_counts"].as_array().unwrap().len(), 10);
    }

    #[test]
    fn an_empty_split_has_no_pixel_range() {
        let mut mnist = fixture();
        mnist.test = Split {
            images: ndarray::Array2::zeros((0, 784)),
            labels: ndarray::Array1::zeros(0),
        };
        let json = serde_json::to_string(&Summary::of(&mnist).test).unwrap();
        assert!(
            json.contains(r#""pixel_min":null,"pixel_max":null,"first_label":null"#),
            "{json}"
        );
    }

    #[test]
    fn drawing_has_28_rows_of_56_characters() {
        let mnist = fixture();
        let picture = draw(&mnist.train, 0);
        assert_eq!(picture.lines().count(), 28);
        assert!(picture.lines().all(|line| line.chars().count() == 56));
        // The brightest pixel is drawn with the last character of the ramp.
        assert_eq!(
            picture.contains('@'),
            mnist.train.image(0).iter().any(|&p| p >= 0.9)
        );
    }
}
