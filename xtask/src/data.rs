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

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use matmul_data::{Download, Mnist, Split};
use ndarray::ArrayView2;
use serde::Serialize;

/// Images in the synthetic training split: as many as the real one, like the bench's
/// stand-in (whose image `N` is the same as ours: both are `synthetic::mnist_like(.., 1)`).
const SYNTHETIC_IMAGES: usize = 50_000;

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
    #[arg(long, conflicts_with_all = ["show", "png"])]
    json: bool,
    /// Use synthetic MNIST-like images (the bench's stand-in when MNIST is not cached)
    /// instead of MNIST: no network, no labels.
    #[arg(long, conflicts_with_all = ["url", "md5", "dir", "file", "idx", "json"])]
    synthetic: bool,
    /// Draw training image N (counting from 0) and its label instead of the summary.
    #[arg(long, value_name = "N")]
    show: Option<usize>,
    /// Write the training image (N from --show, else 0) to FILE as a greyscale PNG.
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
    /// With --png: each pixel becomes a SCALE × SCALE square.
    #[arg(long, value_name = "SCALE", default_value_t = 8, requires = "png",
          value_parser = clap::value_parser!(u32).range(1..=64))]
    scale: u32,
}

/// Loads MNIST as the options say and prints its summary, or shows one image.
pub fn run(args: DataArgs) -> anyhow::Result<()> {
    if args.show.is_some() || args.png.is_some() {
        return show(&args);
    }
    if args.synthetic {
        bail!("--synthetic has no summary to print: add --show N or --png FILE");
    }
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
        (mnist, source) = load(args)?;
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

/// Whether to draw in colour: on a terminal, unless `NO_COLOR` is set (no-color.org).
fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// An image drawn for the terminal ([`half_blocks`]) or for a log ([`ramp`]).
fn picture(image: ArrayView2<'_, f32>, colour: bool) -> String {
    if colour {
        half_blocks(image)
    } else {
        ramp(image)
    }
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

/// Image `i` of a split as plain text (see [`ramp`]).
#[cfg(test)]
fn draw(split: &Split, i: usize) -> String {
    ramp(split.image(i))
}

/// An image as plain text: two characters per pixel (terminal cells are about twice as
/// tall as wide), denser characters for brighter pixels, as `plt.imshow` with a grey
/// colour map.
fn ramp(image: ArrayView2<'_, f32>) -> String {
    const RAMP: &[u8] = b" .:-=+*#%@";
    let mut out = String::new();
    for row in image.rows() {
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

/// An image in colour, two pixel rows per line: `▀` with the top pixel as its foreground
/// and the bottom one as its background, each the nearest of the 256-colour palette's
/// greys. An odd last row gets a black bottom half.
fn half_blocks(image: ArrayView2<'_, f32>) -> String {
    let mut out = String::new();
    let (rows, cols) = image.dim();
    for top in (0..rows).step_by(2) {
        let mut current = None;
        for col in 0..cols {
            let upper = grey(image[(top, col)]);
            let lower = if top + 1 < rows {
                grey(image[(top + 1, col)])
            } else {
                grey(0.0)
            };
            // Escape codes only where the colours change: most of a digit is black.
            if current != Some((upper, lower)) {
                out += &format!("\x1b[38;5;{upper}m\x1b[48;5;{lower}m");
                current = Some((upper, lower));
            }
            out.push('▀');
        }
        out += "\x1b[0m\n";
    }
    out
}

/// The 256-colour palette's code for the grey nearest to `pixel` in `[0, 1]`: black (16),
/// the 24 greys 232 to 255 (levels 8, 18, ..., 238 of 255), or white (231).
fn grey(pixel: f32) -> u8 {
    let level = (pixel.clamp(0.0, 1.0) * 255.0).round() as i32;
    let mut best = (16u8, level); // black, at distance `level` from 0
    for code in 232..=255u8 {
        let distance = (level - (8 + 10 * i32::from(code - 232))).abs();
        if distance < best.1 {
            best = (code, distance);
        }
    }
    if 255 - level < best.1 { 231 } else { best.0 }
}

/// Writes `image` to `path` as an 8-bit greyscale PNG, each pixel a `scale` × `scale`
/// square. The bytes go to a temporary file in the same directory, renamed onto `path`
/// only when complete, so a failed write never leaves half a picture.
fn write_png(path: &Path, image: ArrayView2<'_, f32>, scale: u32) -> anyhow::Result<()> {
    let (rows, cols) = image.dim();
    let scale = scale as usize;
    let (width, height) = (cols * scale, rows * scale);
    let mut pixels = Vec::with_capacity(width * height);
    for row in image.rows() {
        // MNIST's pixels are byte / 256, so this gives back the original bytes.
        let line: Vec<u8> = row
            .iter()
            .flat_map(|&p| std::iter::repeat_n((p.clamp(0.0, 1.0) * 256.0).min(255.0) as u8, scale))
            .collect();
        for _ in 0..scale {
            pixels.extend_from_slice(&line);
        }
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let context = || format!("cannot write {}", path.display());
    let mut file = tempfile::NamedTempFile::new_in(dir).with_context(context)?;
    {
        let mut encoder = png::Encoder::new(
            std::io::BufWriter::new(file.as_file_mut()),
            u32::try_from(width)?,
            u32::try_from(height)?,
        );
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().with_context(context)?;
        writer.write_image_data(&pixels).with_context(context)?;
        writer.finish().with_context(context)?;
    }
    file.as_file_mut().flush().with_context(context)?;
    file.persist(path)
        .map_err(|e| e.error)
        .with_context(context)?;
    Ok(())
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

    #[test]
    fn half_blocks_put_two_rows_in_one_line() {
        // Black over white, white over black; then a last odd row: grey over black.
        let image = ndarray::array![[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]];
        let expected = "\x1b[38;5;16m\x1b[48;5;231m▀\x1b[38;5;231m\x1b[48;5;16m▀\x1b[0m\n\
                        \x1b[38;5;244m\x1b[48;5;16m▀▀\x1b[0m\n";
        assert_eq!(half_blocks(image.view()), expected);
        assert_eq!(
            ramp(image.view()),
            "  @@\n@@  \n++++\n" // two characters per pixel, all three rows
        );
    }

    #[test]
    fn greys_are_the_nearest_palette_entry() {
        assert_eq!(grey(0.0), 16);
        assert_eq!(grey(8.0 / 255.0), 232);
        assert_eq!(grey(13.0 / 255.0), 232); // 13 is nearer 8 than 18
        assert_eq!(grey(14.0 / 255.0), 233);
        assert_eq!(grey(238.0 / 255.0), 255);
        assert_eq!(grey(247.0 / 255.0), 231); // nearer white (255) than 238
        assert_eq!(grey(2.0), 231);
    }

    #[test]
    fn the_png_decodes_to_the_images_bytes() {
        let mnist = fixture();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("digit.png");
        let image = mnist.train.image(3);
        write_png(&path, image, 2).unwrap();
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (56, 56));
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        for ((r, c), &pixel) in image.indexed_iter() {
            for (dr, dc) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                let byte = buf[(2 * r + dr) * 56 + 2 * c + dc];
                assert_eq!(f32::from(byte) / 256.0, pixel, "pixel ({r}, {c})");
            }
        }
        // Only the picture is left in the directory: the temporary file was renamed.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // A directory that does not exist is an error naming the file, not a panic.
        let error = write_png(&dir.path().join("no/such/dir.png"), image, 1).unwrap_err();
        assert!(format!("{error:#}").contains("dir.png"), "{error:#}");
    }
}
