//! The publishing half of a run: one [`Results`] written as `results.json`, the
//! `BENCHMARKS.md` table and the two charts, and, when asked, the README's block and every
//! page's "Measured" block.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::results::Results;
use super::splice::{README_MARKERS, splice_file};
use super::{chart, docs};

/// Where a run's results go.
#[derive(Clone, Debug)]
pub struct Outputs {
    /// The folder for `results.json`, `BENCHMARKS.md` and the charts (`--out`).
    pub dir: PathBuf,
    /// Whether to replace the README's generated table (`--readme`, `--docs`).
    pub readme: bool,
    /// Whether to write every stage crate's `measured.md` and the saved run (`--docs`).
    pub docs: bool,
    /// Whether the results were read from a saved run (`--from`): then it is not saved again.
    pub from_saved: bool,
    /// The workspace root, where the README and the crates are.
    pub root: PathBuf,
}

/// Writes `results` where `outputs` says, and prints the table.
pub fn write(results: &Results, outputs: &Outputs) -> anyhow::Result<()> {
    write_outputs(results, &outputs.dir)?;
    let root = &outputs.root;
    if outputs.readme {
        let readme = root.join("README.md");
        splice_file(&readme, README_MARKERS, &results.markdown())?;
        println!("wrote {}", readme.display());
    }
    if outputs.docs {
        let crates = docs::stage_crates(&matmul_cuda::stages());
        let pages = docs::Pages {
            gpu: matmul_cuda::CRATE,
            roofline: matmul_cuda::blas::CRATE,
            save_run: !outputs.from_saved,
        };
        for path in docs::write(results, root, &crates, pages)? {
            println!("wrote {}", path.display());
        }
    }
    println!("\n{}", results.markdown());
    Ok(())
}

/// Writes the JSON, the table and the charts into `dir`.
fn write_outputs(results: &Results, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, contents: &str| {
        let path = dir.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))
    };
    write("results.json", &serde_json::to_string_pretty(results)?)?;
    write("BENCHMARKS.md", &results.markdown())?;
    let empty = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"300\" height=\"40\">\
                 <text x=\"10\" y=\"25\">no data for this chart</text></svg>\n";
    write(
        "speedup.svg",
        &chart::speedup_svg(results).unwrap_or_else(|| empty.into()),
    )?;
    write(
        "square.svg",
        &chart::square_svg(results).unwrap_or_else(|| empty.into()),
    )?;
    write(
        "roofline.svg",
        &chart::roofline_svg(results).unwrap_or_else(|| empty.into()),
    )?;
    Ok(())
}
