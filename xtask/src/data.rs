//! `cargo xtask data`: fetch (or open) MNIST, verify it, load it and print a summary.
//!
//! ```text
//! cargo xtask data                          # the lesson's file, cached and MD5-checked
//! cargo xtask data --url URL --md5 HEX      # another copy, another checksum
//! cargo xtask data --dir data               # cache in ./data instead
//! cargo xtask data --file mnist.pkl.gz      # a local file (checked against --md5 if given)
//! cargo xtask data --idx /usr/share/datasets/fashion-mnist   # IDX files
//! cargo xtask data --json                   # only the JSON summary, on standard output
//! cargo xtask data --show 7                 # training image 7 and its label
//! cargo xtask data --show 7 --png seven.png # ... also written as a PNG picture
//! cargo xtask data --synthetic --show 7     # the bench's synthetic stand-in, no network
//! ```
//!
//! The summary gives each split's shapes, label counts and pixel range, and draws the first
//! training image in the terminal, as the lesson does with `plt.imshow`. `--show N` draws
//! image `N` instead of the summary: on a terminal with Unicode half-blocks (`▀`, one
//! character per two pixels, top pixel in the foreground colour, bottom in the background)
//! in the 24 greys of the 256-colour palette, white ink on black as with `cmap='gray'`;
//! when standard output is not a terminal or `NO_COLOR` is set, with two characters per
//! pixel from a ten-step ASCII ramp, which reads in any log.
//!
//! By job: [`load`](mod@load) (where the data comes from, verified), [`summary`] (what `--json` and
//! the summary print), [`picture`](mod@picture) (an image in the terminal or as a PNG); this file
//! is the command line.

pub mod load;
pub mod picture;
pub mod summary;

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use load::{Choice, load};
use picture::{colour, picture, write_png};
use summary::Summary;

/// Images in the synthetic training split: as many as the real one, like the bench's
/// stand-in (whose image `N` is the same as ours: both are `synthetic::mnist_like(.., 1)`).
const SYNTHETIC_IMAGES: usize = 50_000;

/// Options of `cargo xtask data`.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Fetch from this URL instead of the lesson's URL and its mirrors (still checked against
    /// the published MD5 and size unless --md5 is given).
    #[arg(long, value_name = "URL", conflicts_with_all = ["file", "idx"])]
    pub url: Option<String>,
    /// The file's expected MD5 (32 hex digits) instead of the published one; with --file,
    /// the local file is checked against it.
    #[arg(long, value_name = "HEX", conflicts_with = "idx")]
    pub md5: Option<String>,
    /// Cache directory [default: $MATMUL_DATA_DIR, else ~/.cache/matmul-from-foundations].
    #[arg(long, value_name = "DIR", conflicts_with_all = ["file", "idx"])]
    pub dir: Option<PathBuf>,
    /// Load this local file in mnist.pkl.gz's format instead of fetching.
    #[arg(long, value_name = "PATH", conflicts_with = "idx")]
    pub file: Option<PathBuf>,
    /// Load MNIST's IDX files (train-images-idx3-ubyte.gz, ...) from this directory.
    #[arg(long, value_name = "DIR")]
    pub idx: Option<PathBuf>,
    /// Print only the JSON summary on standard output.
    #[arg(long, conflicts_with_all = ["show", "png"])]
    pub json: bool,
    /// Use synthetic MNIST-like images (the bench's stand-in when MNIST is not cached)
    /// instead of MNIST: no network, no labels.
    #[arg(long, conflicts_with_all = ["url", "md5", "dir", "file", "idx", "json"])]
    pub synthetic: bool,
    /// Draw training image N (counting from 0) and its label instead of the summary.
    #[arg(long, value_name = "N")]
    pub show: Option<usize>,
    /// Write the training image (N from --show, else 0) to FILE as a greyscale PNG.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
    /// With --png: each pixel becomes a SCALE × SCALE square.
    #[arg(long, value_name = "SCALE", default_value_t = 8, requires = "png",
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub scale: u32,
}

impl DataArgs {
    /// Where the options say the data comes from.
    fn choice(&self) -> Choice {
        Choice {
            idx: self.idx.clone(),
            file: self.file.clone(),
            url: self.url.clone(),
            md5: self.md5.clone(),
            dir: self.dir.clone(),
        }
    }
}

/// Loads MNIST as the options say and prints its summary, or shows one image.
pub fn run(args: DataArgs) -> anyhow::Result<()> {
    if args.show.is_some() || args.png.is_some() {
        return show(&args);
    }
    if args.synthetic {
        bail!("--synthetic has no summary to print: add --show N or --png FILE");
    }
    let (mnist, source) = load(&args.choice())?;
    let summary = Summary::of(&mnist);
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&summary).context("writing the JSON summary")?
        );
        return Ok(());
    }
    println!("MNIST from {source}");
    print!("{}", summary.text());
    if !mnist.train.is_empty() {
        println!(
            "\nthe first training image (label {}):",
            mnist.train.labels[0]
        );
        print!("{}", picture(mnist.train.image(0), colour()));
    }
    Ok(())
}

/// `--show N` and `--png FILE`: one training image, drawn and/or written.
fn show(args: &DataArgs) -> anyhow::Result<()> {
    let index = args.show.unwrap_or(0);
    let check = |count: usize| {
        if index >= count {
            bail!(
                "image {index} is out of range: the training split has {count} images (0 to {})",
                count.saturating_sub(1)
            );
        }
        Ok(())
    };
    // Either MNIST's image and label, or a synthetic image, which has none.
    let (mnist, synthetic, source);
    let (image, label) = if args.synthetic {
        check(SYNTHETIC_IMAGES)?;
        synthetic = matmul_data::synthetic::mnist_like(index + 1, 1);
        source = "synthetic MNIST-like data (about 80% zeros, the rest uniform in [0, 1); no \
                  labels)"
            .to_owned();
        (synthetic.row(index).into_shape_with_order((28, 28))?, None)
    } else {
        (mnist, source) = load(&args.choice())?;
        check(mnist.train.len())?;
        (mnist.train.image(index), Some(mnist.train.labels[index]))
    };
    let label = match label {
        Some(label) => format!("label {label}"),
        None => "no label: synthetic data".to_owned(),
    };
    println!("from {source}");
    if args.show.is_some() {
        println!("training image {index} ({label}):");
        print!("{}", picture(image, colour()));
    }
    if let Some(path) = &args.png {
        write_png(path, image, args.scale)?;
        println!(
            "wrote {} ({} × {} pixels: training image {index}, {label})",
            path.display(),
            28 * args.scale,
            28 * args.scale
        );
    }
    Ok(())
}
