//! `cargo xtask bench`: not built yet.

use anyhow::bail;
use clap::Args;

/// Options of `cargo xtask bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {}

/// Runs the bench.
pub fn run(_args: BenchArgs) -> anyhow::Result<()> {
    let stages = matmul_cuda::stages();
    let names: Vec<_> = stages.iter().map(|stage| stage.name).collect();
    bail!(
        "the bench is not built yet (issue \"07_blas and cargo xtask bench\"); \
         the stages it will time: {}",
        names.join(", ")
    )
}
