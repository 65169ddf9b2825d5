//! The kernels' PTX, embedded at build time, and loading it into the driver.
//!
//! `build.rs` compiles every file of the [kernel table](crate::kernel_table::KERNEL_TABLE) to
//! PTX and writes the list of them; each becomes one module here, JIT-compiled by the driver
//! for the GPU it finds.

use cust::module::Module;

use super::GpuError;

// `const PTX: [(&str, &str); N]`: every file of the kernel table (`"naive.cu"`) and the PTX
// nvcc made of it, written by build.rs from the table.
include!(concat!(env!("OUT_DIR"), "/kernel_ptx.rs"));

/// Every file's module, in table order: `(file, module)`.
pub(super) fn load_modules() -> Result<Vec<(&'static str, Module)>, GpuError> {
    PTX.iter()
        .map(|&(file, ptx)| Ok((file, load_ptx(file, ptx)?)))
        .collect()
}

/// Loads one PTX module. The PTX's `.version` line is that of the compiler that made it; a
/// driver older than that compiler refuses it, so on failure the load is retried once with
/// the version lowered to 7.8 (CUDA 11.8, the oldest driver an H100 runs with), which these
/// kernels (plain loads, stores, FMAs and barriers) are valid under.
fn load_ptx(file: &str, ptx: &str) -> Result<Module, GpuError> {
    let first = match Module::from_ptx(ptx, &[]) {
        Ok(module) => return Ok(module),
        Err(err) => err,
    };
    let lowered = with_ptx_version(ptx, FALLBACK_PTX_VERSION);
    Module::from_ptx(lowered, &[]).map_err(|second| {
        GpuError::Unavailable(format!(
            "the driver rejected the PTX of kernels/{file} ({first:?}; with .version {FALLBACK_PTX_VERSION}: {second:?}); \
             rebuild with MATMUL_CUDA_ARCH set to this GPU's sm_XX or with an nvcc no newer \
             than the driver"
        ))
    })
}

/// The PTX ISA version [`load_ptx`] falls back to: CUDA 11.8's, the oldest an H100 runs.
const FALLBACK_PTX_VERSION: &str = "7.8";

/// `ptx` with its `.version` directive replaced by `version`.
fn with_ptx_version(ptx: &str, version: &str) -> String {
    ptx.lines()
        .map(|line| {
            if line.starts_with(".version ") {
                format!(".version {version}")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_table::KERNEL_TABLE;

    #[test]
    fn every_kernel_of_the_table_is_an_entry_of_its_ptx() {
        for spec in KERNEL_TABLE {
            let (_, ptx) = PTX
                .iter()
                .find(|(file, _)| *file == spec.file)
                .unwrap_or_else(|| panic!("no PTX for {}", spec.file));
            let entry = format!(".entry {}(", spec.entry_point);
            assert!(ptx.contains(&entry), "{} lacks {entry}", spec.file);
        }
    }

    #[test]
    fn the_fallback_changes_only_the_version_line() {
        let ptx = "//\n.version 8.8\n.target sm_80\n.address_size 64\n";
        assert_eq!(
            with_ptx_version(ptx, "7.8"),
            "//\n.version 7.8\n.target sm_80\n.address_size 64"
        );
        for (_, ptx) in PTX {
            assert_eq!(
                ptx.lines().filter(|l| l.starts_with(".version ")).count(),
                1
            );
        }
    }
}
