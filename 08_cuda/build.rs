//! Compiles `kernels/*.cu` to PTX with `nvcc`, only when the `cuda` feature is on.
//!
//! The default build (CI, laptops) needs no CUDA at all, so this does nothing without the
//! feature. With it, each kernel file becomes `$OUT_DIR/<name>.ptx`, which `src/gpu` embeds
//! with `include_str!` and the driver JIT-compiles for whatever GPU it finds at run time.
//!
//! Environment: `NVCC` (default `nvcc` on `PATH`), `MATMUL_CUDA_ARCH` (default `sm_80`: PTX for
//! Ampere runs on Ampere, Hopper and later, JIT-compiled by the driver).

use std::env;
use std::path::PathBuf;
use std::process::{Command, exit};

/// The kernel files, without `.cu`; `src/gpu/module.rs` includes one PTX per name.
const KERNELS: [&str; 6] = [
    "naive",
    "coalesced",
    "tiled",
    "regblock",
    "pipelined",
    "rowwise",
];

fn main() {
    println!("cargo::rerun-if-changed=kernels");
    println!("cargo::rerun-if-changed=build.rs");
    if env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    println!("cargo::rerun-if-env-changed=NVCC");
    println!("cargo::rerun-if-env-changed=MATMUL_CUDA_ARCH");
    println!("cargo::rerun-if-env-changed=PATH");

    let nvcc = env::var_os("NVCC").map_or_else(|| PathBuf::from("nvcc"), PathBuf::from);
    let arch = env::var("MATMUL_CUDA_ARCH").unwrap_or_else(|_| "sm_80".to_owned());
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    match Command::new(&nvcc).arg("--version").output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => fail(&format!(
            "`{} --version` failed ({}): {}",
            nvcc.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(err) => fail(&format!(
            "the `cuda` feature compiles kernels/*.cu to PTX with nvcc, but `{}` could not be \
             run: {err}.\n\
             Install the CUDA toolkit (and put nvcc on PATH or set NVCC=/path/to/nvcc), or, on a \
             machine without one, run `eval \"$(../shared/cuda-rig/setup.sh)\"` first.\n\
             Building without `--features cuda` needs no CUDA at all.",
            nvcc.display()
        )),
    }

    for name in KERNELS {
        let source = PathBuf::from("kernels").join(format!("{name}.cu"));
        let ptx = out_dir.join(format!("{name}.ptx"));
        let status = Command::new(&nvcc)
            .args([
                "-ptx",
                &format!("-arch={arch}"),
                "-O3",
                "-lineinfo",
                "-std=c++17",
            ])
            .arg(&source)
            .arg("-o")
            .arg(&ptx)
            .status();
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => fail(&format!(
                "nvcc failed on {} ({status}); its messages are above",
                source.display()
            )),
            Err(err) => fail(&format!(
                "could not run nvcc on {}: {err}",
                source.display()
            )),
        }
    }
}

/// Stops the build with `message` (cargo shows a build script's stderr when it fails).
fn fail(message: &str) -> ! {
    eprintln!("error: matmul-cuda: {message}");
    exit(1);
}
