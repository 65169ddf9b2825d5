//! `cargo xtask`: the project's runner, as a library (the binary's `main` parses the command
//! line and calls [`bench::run`], [`data::run`] or [`doc::run`]; the tests and the criterion
//! benches import what they check from here).
//!
//! - `cargo xtask bench` runs every stage on the lesson's workloads and writes the speedup
//!   table and charts to `target/bench/`; with `--docs`, also the generated "Measured" blocks
//!   of the README and of every stage's page; with `--cuda`, the GPU kernels too.
//! - `cargo xtask data` fetches (or opens) MNIST, verifies and loads it, and prints a summary;
//!   `--show N` draws training image N in the terminal, `--png FILE` writes it as a picture.
//! - `cargo xtask doc` builds the tutorial and its contents page, in reading order.

pub mod bench;
pub mod data;
pub mod doc;

use std::path::PathBuf;

/// The workspace root: the nearest ancestor of the current directory with an `xtask`
/// directory and a `Cargo.toml`, or the current directory.
pub fn workspace_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file() && dir.join("xtask").is_dir())
        .unwrap_or(&cwd)
        .to_owned()
}
