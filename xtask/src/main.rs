//! `cargo xtask`: the project's runner.
//!
//! - `cargo xtask bench` runs every stage on the lesson's workloads and writes the speedup
//!   table and charts to `target/bench/`; with `--docs`, also the generated "Measured" blocks
//!   of the README and of every stage's page; with `--cuda`, the GPU kernels too.
//! - `cargo xtask data` fetches (or opens) MNIST, verifies and loads it, and prints a summary;
//!   `--show N` draws training image N in the terminal, `--png FILE` writes it as a picture.
//! - `cargo xtask doc` builds the tutorial and its contents page, in reading order.
//!
//! `cargo xtask` is an alias (see `.cargo/config.toml`) for
//! `cargo run --release --package xtask --`, so everything here runs optimised.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use xtask::{bench, data, doc};

/// Matrix multiplication from foundations: the project's runner.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every stage on the lesson's workloads and write the speedup table and charts.
    Bench(bench::BenchArgs),
    /// Fetch or open MNIST, verify and load it, and print a summary (or --show N: one image).
    Data(data::DataArgs),
    /// Build the tutorial (`cargo doc`) with a contents page listing the steps in reading order.
    Doc(doc::DocArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Bench(args) => bench::run(args),
        Command::Data(args) => data::run(args),
        Command::Doc(args) => doc::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole chain of causes on one line: "what failed: why".
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
