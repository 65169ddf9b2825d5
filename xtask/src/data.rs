//! `cargo xtask data`: not built yet.

use anyhow::bail;
use clap::Args;

/// Options of `cargo xtask data`.
#[derive(Debug, Args)]
pub struct DataArgs {}

/// Loads MNIST and prints a summary.
pub fn run(_args: DataArgs) -> anyhow::Result<()> {
    bail!("loading MNIST is not built yet (issue \"01_data: MNIST the way the lesson loads it\")")
}
