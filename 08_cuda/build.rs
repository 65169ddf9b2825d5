//! Reads the kernel table (`src/kernel_table.rs`) and writes, into `$OUT_DIR`:
//!
//! - `kernel_sources.rs`: every file of the table with its source (`include_str!`), which
//!   `src/kernels.rs` includes;
//! - `kernel_enum.rs`: the `Kernel` enum, one variant per matmul row of the table in table
//!   order, with `Kernel::ALL` and each variant's row (`TABLE_ROWS`), which `src/kernels.rs`
//!   includes;
//! - `stage_functions.rs`: one stage function per kernel (`stage_function::<I>` for
//!   `Kernel::ALL[I]`), the array that `src/gpu/stages.rs` includes;
//! - `listing-<section>.md`: the code of each tutorial section's files, which the page
//!   (`src/lib.rs`) shows, so the page and the kernels cannot disagree;
//! - with the `cuda` feature only: `<file>.ptx` for every file, compiled by `nvcc`, and
//!   `kernel_ptx.rs`, the table of them that `src/gpu/module.rs` embeds and the driver
//!   JIT-compiles for whatever GPU it finds at run time.
//!
//! The default build (CI, laptops) needs no CUDA at all. Environment, with the feature: `NVCC`
//! (default `nvcc` on `PATH`), `MATMUL_CUDA_ARCH` (default `sm_80`: PTX for Ampere runs on
//! Ampere, Hopper and later, JIT-compiled by the driver).

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, exit};

mod kernel_table {
    // build.rs reads only some of the table's fields
    #![allow(dead_code)]
    include!("src/kernel_table.rs");
}
use kernel_table::KERNEL_TABLE;

fn main() {
    println!("cargo::rerun-if-changed=kernels");
    println!("cargo::rerun-if-changed=src/kernel_table.rs");
    println!("cargo::rerun-if-changed=build.rs");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let files = files();

    write(
        &out_dir.join("kernel_sources.rs"),
        &table_of(
            "SOURCES",
            "The source of every file of the kernel table.",
            &files,
            |file| manifest_dir.join("kernels").join(file),
        ),
    );
    write_listings(&manifest_dir, &out_dir);
    write(&out_dir.join("kernel_enum.rs"), &kernel_enum());
    write(&out_dir.join("stage_functions.rs"), &stage_functions());

    if env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    compile_ptx(&files, &manifest_dir, &out_dir);
    write(
        &out_dir.join("kernel_ptx.rs"),
        &table_of(
            "PTX",
            "The PTX `nvcc` made of every file of the kernel table.",
            &files,
            |file| out_dir.join(ptx_name(file)),
        ),
    );
}

/// The table's files, each once, in table order.
fn files() -> Vec<&'static str> {
    let mut files: Vec<&'static str> = Vec::new();
    for spec in KERNEL_TABLE {
        if !files.contains(&spec.file) {
            files.push(spec.file);
        }
    }
    files
}

/// The matmul rows of the table: `(row, variant, spec)`, in table order.
fn matmul_rows() -> Vec<(usize, &'static str, &'static kernel_table::KernelSpec)> {
    KERNEL_TABLE
        .iter()
        .enumerate()
        .filter_map(|(row, spec)| match spec.role {
            kernel_table::Role::Matmul { variant } => Some((row, variant, spec)),
            kernel_table::Role::Utility => None,
        })
        .collect()
}

/// Rust source for the `Kernel` enum, `Kernel::ALL` and `TABLE_ROWS`, from the table's matmul
/// rows. Stops the build on a variant that is not a Rust identifier or appears twice.
fn kernel_enum() -> String {
    let rows = matmul_rows();
    let mut seen: Vec<&str> = Vec::new();
    for &(_, variant, spec) in &rows {
        let identifier = variant.starts_with(|c: char| c.is_ascii_uppercase())
            && variant.chars().all(|c| c.is_ascii_alphanumeric());
        if !identifier || seen.contains(&variant) {
            fail(&format!(
                "kernel table: {}'s variant {variant:?} is not a new CamelCase identifier",
                spec.name
            ));
        }
        seen.push(variant);
    }
    let mut rust = String::from(
        "/// One of this step's kernels, in reading order: a variant per matmul row of the\n\
         /// [kernel table](crate::kernel_table::KERNEL_TABLE), generated from it by `build.rs`.\n\
         #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]\npub enum Kernel {\n",
    );
    for &(_, variant, spec) in &rows {
        writeln!(rust, "    #[doc = {:?}]\n    {variant},", spec.doc).expect("writing to a String");
    }
    rust.push_str("}\n\nimpl Kernel {\n    /// Every kernel, in reading order.\n");
    writeln!(rust, "    pub const ALL: [Kernel; {}] = [", rows.len()).expect("writing to a String");
    for &(_, variant, _) in &rows {
        writeln!(rust, "        Kernel::{variant},").expect("writing to a String");
    }
    rust.push_str("    ];\n}\n\n/// The table row of each of [`Kernel::ALL`].\n");
    writeln!(rust, "const TABLE_ROWS: [usize; {}] = [", rows.len()).expect("writing to a String");
    for &(row, _, _) in &rows {
        writeln!(rust, "    {row},").expect("writing to a String");
    }
    rust.push_str("];\n");
    rust
}

/// Rust source for the array of stage functions, one per kernel in the order of `Kernel::ALL`:
/// a `Stage` holds a plain `fn`, so each kernel needs its own instance of the generic one.
fn stage_functions() -> String {
    let mut rust = String::from("[\n");
    for index in 0..matmul_rows().len() {
        writeln!(rust, "    stage_function::<{index}>,").expect("writing to a String");
    }
    rust.push_str("]\n");
    rust
}

/// `naive.cu` → `naive.ptx`.
fn ptx_name(file: &str) -> String {
    format!("{}.ptx", file.trim_end_matches(".cu"))
}

/// Rust source for `const NAME: [(&str, &str); N]`: each file with `include_str!` of `path(file)`
/// (so cargo tracks the included files too).
fn table_of(name: &str, doc: &str, files: &[&str], path: impl Fn(&str) -> PathBuf) -> String {
    let mut rust = format!(
        "/// {doc}\nconst {name}: [(&str, &str); {}] = [\n",
        files.len()
    );
    for file in files {
        let path = path(file);
        let path = path.to_str().expect("a UTF-8 path for include_str!");
        // `{:?}` writes a string literal, escapes and all
        writeln!(rust, "    ({file:?}, include_str!({path:?})),").expect("writing to a String");
    }
    rust.push_str("];\n");
    rust
}

/// One `listing-<section>.md` per page section: a fenced `cuda` block per file it shows.
fn write_listings(manifest_dir: &Path, out_dir: &Path) {
    let mut sections: Vec<(&str, Vec<&str>)> = Vec::new();
    for spec in KERNEL_TABLE {
        match sections
            .iter_mut()
            .find(|(section, _)| *section == spec.section)
        {
            Some((_, files)) if files.contains(&spec.file) => {}
            Some((_, files)) => files.push(spec.file),
            None => sections.push((spec.section, vec![spec.file])),
        }
    }
    for (section, files) in sections {
        let mut markdown = String::new();
        for file in files {
            let path = manifest_dir.join("kernels").join(file);
            let source = std::fs::read_to_string(&path)
                .unwrap_or_else(|err| fail(&format!("cannot read {}: {err}", path.display())));
            writeln!(markdown, "`kernels/{file}`:\n\n```cuda\n{}```\n", source)
                .expect("writing to a String");
        }
        write(&out_dir.join(format!("listing-{section}.md")), &markdown);
    }
}

/// Compiles every file to `$OUT_DIR/<name>.ptx` with nvcc, or stops the build saying why.
fn compile_ptx(files: &[&str], manifest_dir: &Path, out_dir: &Path) {
    println!("cargo::rerun-if-env-changed=NVCC");
    println!("cargo::rerun-if-env-changed=MATMUL_CUDA_ARCH");
    println!("cargo::rerun-if-env-changed=PATH");
    let nvcc = env::var_os("NVCC").map_or_else(|| PathBuf::from("nvcc"), PathBuf::from);
    let arch = env::var("MATMUL_CUDA_ARCH").unwrap_or_else(|_| "sm_80".to_owned());

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
             Install the CUDA toolkit and put its nvcc on PATH (or set NVCC=/path/to/nvcc).\n\
             Building without `--features cuda` needs no CUDA at all.",
            nvcc.display()
        )),
    }

    for file in files {
        let source = manifest_dir.join("kernels").join(file);
        let ptx = out_dir.join(ptx_name(file));
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

fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents)
        .unwrap_or_else(|err| fail(&format!("cannot write {}: {err}", path.display())));
}

/// Stops the build with `message` (cargo shows a build script's stderr when it fails).
fn fail(message: &str) -> ! {
    eprintln!("error: matmul-cuda: {message}");
    exit(1);
}
