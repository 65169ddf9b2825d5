//! The CUDA kernels of this step: their source (`kernels/*.cu`), their entry points and how
//! each is launched.
//!
//! This module is compiled everywhere, without the `cuda` feature, so that the tutorial can
//! show the kernels and the launch arithmetic can be tested on any machine. Running them needs
//! the feature and a GPU: see `gpu` (only documented with `--features cuda`).
//!
//! What each kernel is — file, entry point, tile and block shape — is one row of the
//! [kernel table](crate::kernel_table::KERNEL_TABLE); [`Kernel`] names the matmul rows and
//! reads them. Every matmul kernel computes `c = a @ b` for `a: (m, k)`, `b: (k, n)`,
//! `c: (m, n)`, all row-major and contiguous, with the same signature:
//!
//! ```text
//! extern "C" __global__ void NAME(const float *a, const float *b, float *c, int m, int n, int k);
//! ```
//!
//! The one utility, [`READ_FLOOR`], only reads a buffer: the time any kernel needs at least.

use crate::grid::{Dim3, blocks_for};
use crate::kernel_table::{GridShape, KERNEL_TABLE, KernelSpec, Role};

// `const SOURCES: [(&str, &str); N]`: every file of the kernel table and its source, written
// by build.rs from the table.
include!(concat!(env!("OUT_DIR"), "/kernel_sources.rs"));

/// The CUDA source of `file` (`"naive.cu"`), one of the kernel table's files.
///
/// ```
/// let source = matmul_cuda::kernels::source_of("naive.cu").unwrap();
/// assert!(source.contains("matmul_naive"));
/// assert!(matmul_cuda::kernels::source_of("missing.cu").is_none());
/// ```
pub fn source_of(file: &str) -> Option<&'static str> {
    SOURCES
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, source)| *source)
}

/// Every file of the kernel table with its CUDA source, each file once, in table order.
pub fn sources() -> &'static [(&'static str, &'static str)] {
    &SOURCES
}

/// CUDA's limit on `gridDim.y` and `gridDim.z` (`gridDim.x` may reach `2^31 - 1`).
pub const MAX_GRID_YZ: u32 = 65_535;

// `enum Kernel`, `Kernel::ALL` and `TABLE_ROWS`: a variant per matmul row of the kernel table,
// written by build.rs from the table.
include!(concat!(env!("OUT_DIR"), "/kernel_enum.rs"));

/// How to launch a kernel: CUDA's `<<<grid, block>>>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchConfig {
    /// Blocks in the grid.
    pub grid: Dim3,
    /// Threads in each block.
    pub block: Dim3,
}

/// A product too large for a kernel's launch arithmetic (a user-sized input, so an error
/// rather than a panic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooLarge {
    /// The kernel that was asked for.
    pub kernel: Kernel,
    /// The product's `(m, k, n)`.
    pub shape: (usize, usize, usize),
    /// Which limit it passes.
    pub limit: &'static str,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (m, k, n) = self.shape;
        write!(
            f,
            "({m}, {k}) @ ({k}, {n}) is too large for {}: {}",
            self.kernel.name(),
            self.limit
        )
    }
}

impl std::error::Error for TooLarge {}

impl Kernel {
    /// Its row of the [kernel table](crate::kernel_table::KERNEL_TABLE).
    pub const fn spec(self) -> &'static KernelSpec {
        &KERNEL_TABLE[TABLE_ROWS[self as usize]]
    }

    /// The stage name used in tables and on the command line.
    pub const fn name(self) -> &'static str {
        self.spec().name
    }

    /// One line saying what the kernel changes from the one before.
    pub const fn summary(self) -> &'static str {
        self.spec().summary
    }

    /// The `extern "C"` function in the PTX.
    pub const fn entry_point(self) -> &'static str {
        self.spec().entry_point
    }

    /// The file under `kernels/` that defines it.
    pub const fn file(self) -> &'static str {
        self.spec().file
    }

    /// The CUDA source of that file.
    pub fn source(self) -> &'static str {
        source_of(self.file()).expect("build.rs lists every file of the kernel table")
    }

    /// The `<<<grid, block>>>` that covers a `(m, n)` output, as the comment at the top of the
    /// kernel's file describes.
    ///
    /// Returns an error when a dimension does not fit the kernel's `int` arguments or the grid
    /// passes CUDA's limits. A zero-sized output gives a zero-sized grid, which must not be
    /// launched (CUDA rejects it): callers skip the launch.
    ///
    /// ```
    /// use matmul_cuda::grid::Dim3;
    /// use matmul_cuda::kernels::Kernel;
    ///
    /// // MNIST: (50000, 784) @ (784, 10), the lesson's TPB = 16 blocks.
    /// let naive = Kernel::Naive.launch_config(50_000, 784, 10).unwrap();
    /// assert_eq!((naive.grid, naive.block), (Dim3::xy(3125, 1), Dim3::xy(16, 16)));
    /// let skinny = Kernel::Skinny.launch_config(50_000, 784, 10).unwrap();
    /// assert_eq!((skinny.grid, skinny.block), (Dim3::xy(1, 391), Dim3::x(256)));
    /// ```
    pub fn launch_config(self, m: usize, k: usize, n: usize) -> Result<LaunchConfig, TooLarge> {
        let too_large = |limit| TooLarge {
            kernel: self,
            shape: (m, k, n),
            limit,
        };
        let fits_int = |x: usize| i32::try_from(x).is_ok();
        if !(fits_int(m) && fits_int(k) && fits_int(n)) {
            return Err(too_large("the kernels take m, k and n as 32-bit ints"));
        }
        let GridShape::Tiles {
            rows,
            cols,
            threads,
            x_along_rows,
        } = self.spec().grid
        else {
            unreachable!("every matmul kernel is launched in tiles of c (a test checks)")
        };
        let (row_blocks, col_blocks) = (blocks_for(m, rows), blocks_for(n, cols));
        let grid = if x_along_rows {
            Dim3::xy(row_blocks, col_blocks)
        } else {
            Dim3::xy(col_blocks, row_blocks)
        };
        let block = Dim3::xy(threads.0, threads.1);
        if grid.x > i32::MAX as u32 || grid.y > MAX_GRID_YZ {
            return Err(too_large(
                "the grid passes CUDA's limits (x < 2^31, y < 65536)",
            ));
        }
        Ok(LaunchConfig { grid, block })
    }
}

/// The read-bandwidth kernel of `kernels/read.cu`, the kernel table's one utility. It reads
/// every float of a buffer once and writes one sum per block; its time on `a` is the floor of
/// every kernel that must read `a` (`gpu::Device::measure_read`).
pub const READ_FLOOR: &KernelSpec = utility();

/// The kernel table's utility row (a compile-time error if there is none).
const fn utility() -> &'static KernelSpec {
    let mut row = 0;
    while row < KERNEL_TABLE.len() {
        if matches!(KERNEL_TABLE[row].role, Role::Utility) {
            return &KERNEL_TABLE[row];
        }
        row += 1;
    }
    panic!("the kernel table has no utility row (the read floor)")
}

/// The `<<<grid, block>>>` of [`READ_FLOOR`] for a buffer of `count` floats on a GPU with
/// `multiprocessors` streaming multiprocessors: one-dimensional blocks, enough of them to fill
/// every multiprocessor as the table says, but no more than there are float4s to read (and
/// at least one, which also reads a buffer shorter than 4).
///
/// `sums` must hold `grid.x` floats.
///
/// ```
/// use matmul_cuda::grid::Dim3;
/// use matmul_cuda::kernels::read_launch_config;
///
/// // MNIST's a: 50000 × 784 floats on 132 multiprocessors: 8 blocks of 256 threads each.
/// let config = read_launch_config(50_000 * 784, 132);
/// assert_eq!((config.grid, config.block), (Dim3::x(132 * 8), Dim3::x(256)));
/// // A small buffer gets one block per 1024 floats.
/// assert_eq!(read_launch_config(5000, 132).grid, Dim3::x(5));
/// ```
pub fn read_launch_config(count: usize, multiprocessors: u32) -> LaunchConfig {
    let GridShape::GridStride {
        threads,
        blocks_per_multiprocessor,
    } = READ_FLOOR.grid
    else {
        unreachable!("the read kernel is a grid-stride loop (a test checks)")
    };
    let quads = count / 4;
    let enough = blocks_per_multiprocessor.saturating_mul(multiprocessors.max(1));
    let blocks = quads
        .div_ceil(threads as usize)
        .clamp(1, enough.min(i32::MAX as u32) as usize);
    LaunchConfig {
        grid: Dim3::x(blocks as u32),
        block: Dim3::x(threads),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(rows, columns)` of c one block covers, and whether grid x runs along rows, from the
    /// table. That these are the kernels' real tiles is what the emulated-kernel tests check:
    /// they launch every `.cu` file with these grids on sizes off every tile boundary.
    fn block_tile(kernel: Kernel) -> (u32, u32, bool) {
        let GridShape::Tiles {
            rows,
            cols,
            x_along_rows,
            ..
        } = kernel.spec().grid
        else {
            unreachable!("matmul kernels are launched in tiles")
        };
        (rows, cols, x_along_rows)
    }

    #[test]
    fn every_grid_covers_the_output_with_no_spare_block() {
        for kernel in Kernel::ALL {
            for (m, n) in [
                (1, 1),
                (5, 10),
                (33, 17),
                (50_000, 10),
                (129, 257),
                (4096, 4096),
            ] {
                let LaunchConfig { grid, .. } = kernel.launch_config(m, 784, n).unwrap();
                let (tile_rows, tile_cols, x_along_rows) = block_tile(kernel);
                let (row_blocks, col_blocks) = if x_along_rows {
                    (grid.x, grid.y)
                } else {
                    (grid.y, grid.x)
                };
                let covered = |blocks: u32, tile: u32, extent: usize| {
                    (blocks * tile) as usize >= extent && (((blocks - 1) * tile) as usize) < extent
                };
                assert!(
                    covered(row_blocks, tile_rows, m),
                    "{kernel:?} rows of ({m}, {n})"
                );
                assert!(
                    covered(col_blocks, tile_cols, n),
                    "{kernel:?} columns of ({m}, {n})"
                );
            }
        }
    }

    #[test]
    fn threads_per_block_stay_within_cuda_limits() {
        for kernel in Kernel::ALL {
            let config = kernel.launch_config(100, 100, 100).unwrap();
            assert!(config.block.count() <= 1024, "{kernel:?}");
        }
    }

    #[test]
    fn oversized_products_are_errors_naming_the_limit() {
        let err = Kernel::Naive
            .launch_config(10, 10, 16 * 70_000)
            .unwrap_err();
        assert!(err.to_string().contains("grid"), "{err}");
        let err = Kernel::Tiled.launch_config(1 << 31, 1, 1).unwrap_err();
        assert!(err.to_string().contains("32-bit"), "{err}");
    }

    #[test]
    fn every_entry_point_is_a_kernel_in_its_file() {
        for spec in KERNEL_TABLE {
            // Declarations span lines (`__launch_bounds__` and all): compare with the
            // whitespace collapsed.
            let source = source_of(spec.file)
                .expect("a listed file")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let start = source
                .find(&format!(" {}(", spec.entry_point))
                .unwrap_or_else(|| panic!("{} not in {}", spec.entry_point, spec.file));
            let declaration = &source[source[..start].rfind(';').unwrap_or(0)..start];
            assert!(
                declaration.contains("extern \"C\" __global__ void"),
                "{} in {} is not an extern \"C\" kernel: {declaration}",
                spec.entry_point,
                spec.file
            );
        }
    }

    #[test]
    fn every_matmul_row_is_a_kernel_in_table_order_and_the_read_floor_is_the_utility() {
        let matmul_rows: Vec<&KernelSpec> = KERNEL_TABLE
            .iter()
            .filter(|spec| matches!(spec.role, Role::Matmul { .. }))
            .collect();
        assert_eq!(matmul_rows.len(), Kernel::ALL.len());
        for (index, (kernel, row)) in Kernel::ALL.into_iter().zip(matmul_rows).enumerate() {
            assert_eq!(kernel as usize, index, "{kernel:?}");
            assert_eq!(kernel.spec(), row, "{kernel:?}");
            assert!(
                matches!(kernel.spec().role, Role::Matmul { variant } if variant == format!("{kernel:?}")),
                "{kernel:?}"
            );
            assert!(
                matches!(kernel.spec().grid, GridShape::Tiles { .. }),
                "{kernel:?}"
            );
        }
        assert_eq!(READ_FLOOR.entry_point, "read_sum");
        assert!(matches!(READ_FLOOR.grid, GridShape::GridStride { .. }));
        let names: std::collections::HashSet<_> = KERNEL_TABLE.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), KERNEL_TABLE.len(), "names are unique");
    }

    #[test]
    fn every_file_of_the_table_has_its_source_and_no_other_file_does() {
        for spec in KERNEL_TABLE {
            assert!(
                source_of(spec.file).is_some(),
                "{} has no source",
                spec.file
            );
        }
        for (file, _) in sources() {
            assert!(
                KERNEL_TABLE.iter().any(|spec| spec.file == *file),
                "{file} is not in the table"
            );
        }
        // and every kernels/*.cu on disk is in the table
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/kernels");
        for entry in std::fs::read_dir(dir).expect("kernels/") {
            let name = entry.expect("a directory entry").file_name();
            let name = name.to_str().expect("a UTF-8 name");
            if name.ends_with(".cu") {
                assert!(
                    source_of(name).is_some(),
                    "kernels/{name} is not in the table"
                );
            }
        }
    }

    /// Each kernel's section heading (`## §N`) on the pages (step 8's and its going-further
    /// page) is followed by its listing before the next heading.
    #[test]
    fn every_kernel_is_shown_in_its_section_of_the_page() {
        let page = concat!(include_str!("lib.rs"), include_str!("going_further.rs"));
        for spec in KERNEL_TABLE {
            let listing = format!("/listing-{}.md", spec.section);
            let Ok(step) = spec.section.parse::<u32>() else {
                // not a numbered step: shown once, anywhere on the page
                assert!(page.contains(&listing), "the page lacks {listing}");
                continue;
            };
            let heading = format!("//! ## §{step} ");
            let at = page
                .find(&heading)
                .unwrap_or_else(|| panic!("the page has no section {heading:?}"));
            let section = &page[at + heading.len()..];
            let section = &section[..section.find("//! ## ").unwrap_or(section.len())];
            assert!(
                section.contains(&listing),
                "section {step} of the page does not show {listing}"
            );
        }
    }

    #[test]
    fn the_read_grid_never_exceeds_the_float4s_or_the_wanted_residency() {
        for (count, multiprocessors) in
            [(0, 132), (3, 132), (4, 1), (1025 * 4, 2), (39_200_000, 132)]
        {
            let config = read_launch_config(count, multiprocessors);
            let blocks = config.grid.x as usize;
            assert!(blocks >= 1);
            assert!(
                blocks <= (count / 4).div_ceil(256).max(1),
                "({count}, {multiprocessors})"
            );
            assert!(blocks <= 8 * multiprocessors as usize);
            assert_eq!((config.grid.y, config.block), (1, Dim3::x(256)));
        }
    }
}
