//! The CUDA kernels of this step: their source (`kernels/*.cu`), their entry points and how
//! each is launched.
//!
//! This module is compiled everywhere, without the `cuda` feature, so that the tutorial can
//! show the kernels and the launch arithmetic can be tested on any machine. Running them needs
//! the feature and a GPU: see `gpu` (only documented with `--features cuda`).
//!
//! Every kernel computes `c = a @ b` for `a: (m, k)`, `b: (k, n)`, `c: (m, n)`, all row-major
//! and contiguous, with the same signature:
//!
//! ```text
//! extern "C" __global__ void NAME(const float *a, const float *b, float *c, int m, int n, int k);
//! ```

use crate::grid::{Dim3, blocks_for};

/// `kernels/naive.cu`: the lesson's kernel, one thread per output, x along the rows.
pub const NAIVE_CU: &str = include_str!("../kernels/naive.cu");
/// `kernels/coalesced.cu`: the same, x along the columns, so a warp's accesses coalesce.
pub const COALESCED_CU: &str = include_str!("../kernels/coalesced.cu");
/// `kernels/tiled.cu`: 32 × 32 tiles staged through shared memory.
pub const TILED_CU: &str = include_str!("../kernels/tiled.cu");
/// `kernels/regblock.cu`: 2-D register blocking with `float4` loads, in two tile shapes.
pub const REGBLOCK_CU: &str = include_str!("../kernels/regblock.cu");
/// `kernels/pipelined.cu`: register blocking with double-buffered tiles and conflict-free
/// shared-memory reads.
pub const PIPELINED_CU: &str = include_str!("../kernels/pipelined.cu");
/// `kernels/rowwise.cu`: one thread per row of `c`, for tall skinny products.
pub const ROWWISE_CU: &str = include_str!("../kernels/rowwise.cu");

/// CUDA's limit on `gridDim.y` and `gridDim.z` (`gridDim.x` may reach `2^31 - 1`).
pub const MAX_GRID_YZ: u32 = 65_535;

/// One of this step's kernels, in reading order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// The lesson's kernel: one thread per output, `x` numbering rows (uncoalesced).
    Naive,
    /// One thread per output, `x` numbering columns: a warp reads and writes contiguous memory.
    Coalesced,
    /// 32 × 32 tiles of `a` and `b` staged in shared memory; each global load serves 32 FMAs.
    Tiled,
    /// 128 × 128 block tiles, 8 × 8 outputs per thread in registers, `float4` global loads.
    RegisterBlocked,
    /// The register-blocked kernel with 128 × 16 tiles, for tall skinny products (MNIST's
    /// `(50000, 784) @ (784, 10)`).
    Skinny,
    /// Register blocking with two buffers per tile (the next tile's global loads overlap the
    /// arithmetic) and each thread's columns split in two runs of 4 (conflict-free reads).
    Pipelined,
    /// One thread per row of `c` (16 columns per block) with `b` broadcast from shared memory
    /// and `a` streamed in whole cache lines: for tall skinny products (`n <= 16`).
    RowWise,
}

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
    /// Every kernel, in reading order.
    pub const ALL: [Kernel; 7] = [
        Kernel::Naive,
        Kernel::Coalesced,
        Kernel::Tiled,
        Kernel::RegisterBlocked,
        Kernel::Skinny,
        Kernel::Pipelined,
        Kernel::RowWise,
    ];

    /// The stage name used in tables and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Kernel::Naive => "cuda-naive",
            Kernel::Coalesced => "cuda-coalesced",
            Kernel::Tiled => "cuda-tiled",
            Kernel::RegisterBlocked => "cuda-regblock",
            Kernel::Skinny => "cuda-skinny",
            Kernel::Pipelined => "cuda-pipelined",
            Kernel::RowWise => "cuda-rowwise",
        }
    }

    /// One line saying what the kernel changes from the one before.
    pub const fn summary(self) -> &'static str {
        match self {
            Kernel::Naive => "GPU, the lesson's kernel: one thread per output, x along rows",
            Kernel::Coalesced => "GPU, one thread per output, x along columns: coalesced",
            Kernel::Tiled => "GPU, 32x32 tiles in shared memory: each load serves 32 FMAs",
            Kernel::RegisterBlocked => "GPU, 128x128 tiles, 8x8 outputs per thread, float4 loads",
            Kernel::Skinny => "GPU, the register-blocked kernel with 128x16 tiles (tall, skinny)",
            Kernel::Pipelined => "GPU, double-buffered 128x128 tiles: next loads overlap the FMAs",
            Kernel::RowWise => "GPU, one thread per row, b broadcast from shared memory (n <= 16)",
        }
    }

    /// The `extern "C"` function in the PTX.
    pub const fn entry_point(self) -> &'static str {
        match self {
            Kernel::Naive => "matmul_naive",
            Kernel::Coalesced => "matmul_coalesced",
            Kernel::Tiled => "matmul_tiled",
            Kernel::RegisterBlocked => "matmul_regblock_128x128",
            Kernel::Skinny => "matmul_regblock_128x16",
            Kernel::Pipelined => "matmul_pipelined_128x128",
            Kernel::RowWise => "matmul_rowwise_16",
        }
    }

    /// The file under `kernels/` that defines it.
    pub const fn file(self) -> &'static str {
        match self {
            Kernel::Naive => "naive.cu",
            Kernel::Coalesced => "coalesced.cu",
            Kernel::Tiled => "tiled.cu",
            Kernel::RegisterBlocked | Kernel::Skinny => "regblock.cu",
            Kernel::Pipelined => "pipelined.cu",
            Kernel::RowWise => "rowwise.cu",
        }
    }

    /// The CUDA source of that file.
    pub const fn source(self) -> &'static str {
        match self {
            Kernel::Naive => NAIVE_CU,
            Kernel::Coalesced => COALESCED_CU,
            Kernel::Tiled => TILED_CU,
            Kernel::RegisterBlocked | Kernel::Skinny => REGBLOCK_CU,
            Kernel::Pipelined => PIPELINED_CU,
            Kernel::RowWise => ROWWISE_CU,
        }
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
        // (grid x covers, threads along x), (grid y covers, threads along y), block
        let (grid, block) = match self {
            Kernel::Naive => (
                Dim3::xy(blocks_for(m, 16), blocks_for(n, 16)),
                Dim3::xy(16, 16),
            ),
            Kernel::Coalesced => (
                Dim3::xy(blocks_for(n, 32), blocks_for(m, 8)),
                Dim3::xy(32, 8),
            ),
            Kernel::Tiled => (
                Dim3::xy(blocks_for(n, 32), blocks_for(m, 32)),
                Dim3::xy(32, 32),
            ),
            Kernel::RegisterBlocked | Kernel::Pipelined => (
                Dim3::xy(blocks_for(n, 128), blocks_for(m, 128)),
                Dim3::x(256),
            ),
            Kernel::Skinny => (
                Dim3::xy(blocks_for(n, 16), blocks_for(m, 128)),
                Dim3::x(256),
            ),
            Kernel::RowWise => (
                Dim3::xy(blocks_for(n, 16), blocks_for(m, 128)),
                Dim3::x(128),
            ),
        };
        if grid.x > i32::MAX as u32 || grid.y > MAX_GRID_YZ {
            return Err(too_large(
                "the grid passes CUDA's limits (x < 2^31, y < 65536)",
            ));
        }
        Ok(LaunchConfig { grid, block })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(rows, columns)` of c one block covers, and whether grid x runs along rows (only the
    /// lesson's kernel does), as each kernel's .cu file says.
    fn block_tile(kernel: Kernel) -> (u32, u32, bool) {
        match kernel {
            Kernel::Naive => (16, 16, true),
            Kernel::Coalesced => (8, 32, false),
            Kernel::Tiled => (32, 32, false),
            Kernel::RegisterBlocked | Kernel::Pipelined => (128, 128, false),
            Kernel::Skinny | Kernel::RowWise => (128, 16, false),
        }
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
        for kernel in Kernel::ALL {
            // Declarations span lines (`__launch_bounds__` and all): compare with the
            // whitespace collapsed.
            let source = kernel
                .source()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let start = source
                .find(&format!(" {}(", kernel.entry_point()))
                .unwrap_or_else(|| panic!("{} not in {}", kernel.entry_point(), kernel.file()));
            let declaration = &source[source[..start].rfind(';').unwrap_or(0)..start];
            assert!(
                declaration.contains("extern \"C\" __global__ void"),
                "{} in {} is not an extern \"C\" kernel: {declaration}",
                kernel.entry_point(),
                kernel.file()
            );
        }
    }
}
