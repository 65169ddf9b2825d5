//! The lesson's kernel launcher, on the CPU: a kernel is a function of its grid position, and
//! launching it means calling it once for every position of a grid of blocks of threads.
//!
//! This is what CUDA does in hardware (thousands of positions at once) and what the lesson
//! simulates with two Python loops before handing the same function to numba's `cuda.jit`.
//! Here the positions run one after another, so a kernel may only depend on its own position
//! and on data no other position writes — which is exactly the rule a real kernel without
//! barriers must follow.

/// CUDA's `dim3`: the extents of a grid (in blocks) or of a block (in threads).
///
/// Unused dimensions are 1, as in CUDA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dim3 {
    /// Extent along x, the fastest-varying dimension (consecutive threads of a warp differ in
    /// x).
    pub x: u32,
    /// Extent along y.
    pub y: u32,
    /// Extent along z.
    pub z: u32,
}

impl Dim3 {
    /// A two-dimensional extent, `z = 1`.
    pub const fn xy(x: u32, y: u32) -> Self {
        Self { x, y, z: 1 }
    }

    /// A one-dimensional extent, `y = z = 1`.
    pub const fn x(x: u32) -> Self {
        Self { x, y: 1, z: 1 }
    }

    /// How many positions the extent holds: `x · y · z`.
    pub const fn count(self) -> u64 {
        self.x as u64 * self.y as u64 * self.z as u64
    }
}

/// What a kernel knows about itself: CUDA's built-in `blockIdx`, `threadIdx`, `blockDim` and
/// `gridDim`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thread {
    /// Which block of the grid this thread belongs to.
    pub block_idx: Dim3,
    /// Which thread of its block this is.
    pub thread_idx: Dim3,
    /// The extent of every block, in threads.
    pub block_dim: Dim3,
    /// The extent of the grid, in blocks.
    pub grid_dim: Dim3,
}

impl Thread {
    /// The thread's absolute position in the grid, `(x, y)`: numba's `cuda.grid(2)`, that is
    /// `blockIdx.x * blockDim.x + threadIdx.x` and the same along y.
    pub fn grid_2d(&self) -> (usize, usize) {
        let along =
            |block: u32, dim: u32, thread: u32| block as usize * dim as usize + thread as usize;
        (
            along(self.block_idx.x, self.block_dim.x, self.thread_idx.x),
            along(self.block_idx.y, self.block_dim.y, self.thread_idx.y),
        )
    }
}

/// The number of blocks of `threads_per_block` needed to cover `extent` positions: the
/// lesson's `math.ceil(rr / TPB)`.
///
/// # Panics
///
/// When `threads_per_block` is 0, or when the count does not fit a `u32` (CUDA's grid limit is
/// far below that anyway).
///
/// ```
/// use matmul_cuda::grid::blocks_for;
///
/// assert_eq!(blocks_for(50_000, 16), 3125);
/// assert_eq!(blocks_for(10, 16), 1); // a partial block: its extra threads do nothing
/// assert_eq!(blocks_for(0, 16), 0);
/// ```
pub fn blocks_for(extent: usize, threads_per_block: u32) -> u32 {
    assert!(threads_per_block > 0, "blocks_for: threads_per_block is 0");
    let blocks = extent.div_ceil(threads_per_block as usize);
    u32::try_from(blocks)
        .unwrap_or_else(|_| panic!("blocks_for: {blocks} blocks for {extent} positions exceed u32"))
}

/// The lesson's first launcher: calls `kernel((i, j))` for every `i < grid_x`, `j < grid_y`.
///
/// ```
/// let mut visited = Vec::new();
/// matmul_cuda::grid::launch_kernel(2, 3, |(i, j)| visited.push((i, j)));
/// assert_eq!(visited, [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
/// ```
pub fn launch_kernel(grid_x: usize, grid_y: usize, mut kernel: impl FnMut((usize, usize))) {
    for i in 0..grid_x {
        for j in 0..grid_y {
            kernel((i, j));
        }
    }
}

/// CUDA's `kernel<<<grid, block>>>()`, simulated: calls `kernel` once for every thread of every
/// block, blocks in order and threads in order within each block (x fastest, as CUDA numbers
/// them).
///
/// A GPU runs the positions concurrently and in no guaranteed order; this runs them one by
/// one, which gives the same result for any kernel that only writes its own outputs. (A kernel
/// that waits at a barrier, `__syncthreads()`, cannot be simulated this way: the first thread
/// would wait forever for the others. That is why the tiled kernels of the later steps exist
/// only as CUDA.)
///
/// ```
/// use matmul_cuda::grid::{Dim3, launch};
///
/// let mut positions = Vec::new();
/// launch(Dim3::xy(2, 1), Dim3::xy(2, 2), |thread| positions.push(thread.grid_2d()));
/// // block (0, 0): x = 0..2, y = 0..2; then block (1, 0): x = 2..4.
/// assert_eq!(positions, [(0, 0), (1, 0), (0, 1), (1, 1), (2, 0), (3, 0), (2, 1), (3, 1)]);
/// ```
pub fn launch(grid: Dim3, block: Dim3, mut kernel: impl FnMut(Thread)) {
    for bz in 0..grid.z {
        for by in 0..grid.y {
            for bx in 0..grid.x {
                for tz in 0..block.z {
                    for ty in 0..block.y {
                        for tx in 0..block.x {
                            kernel(Thread {
                                block_idx: Dim3 {
                                    x: bx,
                                    y: by,
                                    z: bz,
                                },
                                thread_idx: Dim3 {
                                    x: tx,
                                    y: ty,
                                    z: tz,
                                },
                                block_dim: block,
                                grid_dim: grid,
                            });
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_visits_every_position_once() {
        let (grid, block) = (Dim3 { x: 3, y: 2, z: 2 }, Dim3 { x: 4, y: 3, z: 2 });
        let mut seen = std::collections::HashSet::new();
        launch(grid, block, |t| {
            assert_eq!((t.grid_dim, t.block_dim), (grid, block));
            let position = (
                t.block_idx.x * block.x + t.thread_idx.x,
                t.block_idx.y * block.y + t.thread_idx.y,
                t.block_idx.z * block.z + t.thread_idx.z,
            );
            assert!(seen.insert(position), "{position:?} visited twice");
        });
        assert_eq!(seen.len() as u64, grid.count() * block.count());
    }

    #[test]
    fn an_empty_grid_launches_nothing() {
        let mut calls = 0;
        launch(Dim3::xy(0, 5), Dim3::xy(16, 16), |_| calls += 1);
        launch_kernel(0, 5, |_| calls += 1);
        assert_eq!(calls, 0);
    }

    #[test]
    fn grid_2d_is_block_times_dim_plus_thread() {
        let thread = Thread {
            block_idx: Dim3::xy(3, 7),
            thread_idx: Dim3::xy(5, 2),
            block_dim: Dim3::xy(16, 8),
            grid_dim: Dim3::xy(10, 10),
        };
        assert_eq!(thread.grid_2d(), (3 * 16 + 5, 7 * 8 + 2));
    }

    #[test]
    #[should_panic(expected = "threads_per_block is 0")]
    fn zero_threads_per_block_panics() {
        blocks_for(10, 0);
    }
}
