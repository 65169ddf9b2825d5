//! Where `cargo xtask data` gets MNIST: IDX files, a local pickle (checked against `--md5`),
//! or the cached, verified download, all through `matmul_data`'s public loader.

use std::path::PathBuf;

use matmul_data::{Download, Mnist};

/// Where the data comes from: the first of these that is set, else the cached download.
#[derive(Clone, Debug, Default)]
pub struct Choice {
    /// A directory of MNIST's IDX files.
    pub idx: Option<PathBuf>,
    /// A local file in `mnist.pkl.gz`'s format.
    pub file: Option<PathBuf>,
    /// Another URL to fetch from.
    pub url: Option<String>,
    /// The MD5 to check against instead of the published one.
    pub md5: Option<String>,
    /// Another cache directory.
    pub dir: Option<PathBuf>,
}

/// Opens, or fetches and verifies, the data; returns it and a description of its source.
pub fn load(args: &Choice) -> anyhow::Result<(Mnist, String)> {
    if let Some(dir) = &args.idx {
        let mnist = Mnist::from_idx_dir(dir)?;
        return Ok((mnist, format!("the IDX files in {}", dir.display())));
    }
    if let Some(path) = &args.file {
        let mut source = path.display().to_string();
        if let Some(expected) = &args.md5 {
            let found = matmul_data::verify_md5(path, expected)?;
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
