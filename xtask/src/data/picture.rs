//! A digit drawn: in the terminal (Unicode half-blocks in the 256-colour palette's greys, or
//! an ASCII ramp in a log) and as a greyscale PNG.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Context;
use ndarray::ArrayView2;

/// Whether to draw in colour: on a terminal, unless `NO_COLOR` is set (no-color.org).
pub fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// An image drawn for the terminal ([`half_blocks`]) or for a log ([`ramp`]).
pub fn picture(image: ArrayView2<'_, f32>, colour: bool) -> String {
    if colour {
        half_blocks(image)
    } else {
        ramp(image)
    }
}

/// An image as plain text: two characters per pixel (terminal cells are about twice as
/// tall as wide), denser characters for brighter pixels, as `plt.imshow` with a grey
/// colour map.
pub fn ramp(image: ArrayView2<'_, f32>) -> String {
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
pub fn half_blocks(image: ArrayView2<'_, f32>) -> String {
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
pub fn write_png(path: &Path, image: ArrayView2<'_, f32>, scale: u32) -> anyhow::Result<()> {
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
    use crate::data::summary::tests::fixture;
    use matmul_data::Split;

    /// Image `i` of a split as plain text (see [`ramp`]).
    fn draw(split: &Split, i: usize) -> String {
        ramp(split.image(i))
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
