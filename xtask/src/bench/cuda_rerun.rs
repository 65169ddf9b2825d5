//! `cargo xtask bench --cuda` from a build without the `cuda` feature: build `xtask` again with
//! it, in its own target directory, and run the same command line there.

use std::path::PathBuf;

use anyhow::Context;

/// `--cuda` from a build without the `cuda` feature: builds `xtask` again with it and runs the
/// same command line there, so that `cargo xtask bench --cuda` is the one command on a machine
/// with a GPU. Building needs the CUDA toolkit (`08_cuda`'s build script says what is missing);
/// the rebuilt binary opens the device before it runs or writes anything.
pub fn rerun_with_cuda() -> anyhow::Result<()> {
    /// Set for the rebuilt `xtask`, so that a build that still lacks the feature stops here.
    const RERUN: &str = "MATMUL_XTASK_CUDA_RERUN";
    let by_hand = "cargo run --release -p xtask --features cuda -- bench --cuda";
    if std::env::var_os(RERUN).is_some() {
        anyhow::bail!("--cuda: this xtask was built without the `cuda` feature; try {by_hand}");
    }
    let nvcc = find_nvcc().ok_or_else(|| {
        anyhow::anyhow!(
            "--cuda: no CUDA toolkit found (looked for nvcc in $NVCC, on PATH, in \
             $CUDA_PATH/bin, /usr/local/cuda/bin and /opt/cuda/bin); install the CUDA toolkit \
             to build the GPU kernels, and an NVIDIA driver to run them"
        )
    })?;
    let features = if cfg!(feature = "openblas") {
        "cuda,openblas"
    } else {
        "cuda"
    };
    // `cargo run` tells the program which cargo started it; `cargo` on the PATH otherwise. The
    // `cuda` build goes to its own target directory, so that neither build replaces the other.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| crate::workspace_root().join("target"), PathBuf::from)
        .join("cuda");
    eprintln!("--cuda: building xtask with the `{features}` feature(s), then running it");
    let status = std::process::Command::new(cargo)
        .args([
            "run",
            "--release",
            "--package",
            "xtask",
            "--features",
            features,
            "--",
        ])
        .args(std::env::args_os().skip(1))
        .current_dir(crate::workspace_root())
        .env(RERUN, "1")
        .env("CARGO_TARGET_DIR", &target)
        .env("NVCC", &nvcc)
        .status()
        .with_context(|| format!("--cuda: starting cargo to rebuild xtask (by hand: {by_hand})"))?;
    match status.code() {
        Some(0) => Ok(()),
        // What the system's loader answers when a library is missing: here, the driver's.
        Some(127) => anyhow::bail!(
            "--cuda: the GPU build of xtask could not start (the line above says which library \
             is missing; libcuda.so.1 comes with the NVIDIA driver)"
        ),
        // The build or the run has already said what went wrong.
        Some(code) => std::process::exit(code),
        None => anyhow::bail!("--cuda: the rebuilt xtask was stopped by a signal ({status})"),
    }
}

/// The CUDA toolkit's compiler, where a standard install puts it: `$NVCC`, `nvcc` on `PATH`,
/// then `bin/nvcc` under `$CUDA_PATH`, `/usr/local/cuda` and `/opt/cuda`. Only one that runs
/// (`nvcc --version`) counts.
fn find_nvcc() -> Option<PathBuf> {
    let given = std::env::var_os("NVCC").map(PathBuf::from);
    let roots = std::env::var_os("CUDA_PATH")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/local/cuda", "/opt/cuda"].map(PathBuf::from));
    given
        .into_iter()
        .chain([PathBuf::from("nvcc")])
        .chain(roots.map(|root| root.join("bin").join("nvcc")))
        .find(|nvcc| {
            std::process::Command::new(nvcc)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
        })
}
