// The one list of this step's CUDA kernels: adding a kernel is a file under `kernels/` and an
// entry here. Everything else is generated from this table or reads it:
// - `build.rs` `include!`s this file: it compiles each file listed here to PTX, writes the
//   tutorial's code listings (one per page section) and the crate's table of sources, and
//   generates the `Kernel` enum (one variant per matmul row, with `Kernel::ALL`) and one stage
//   function per kernel for the `cuda` feature's stages;
// - `src/kernels.rs` reads it for names, entry points and launch shapes, and `gpu::Method::ALL`
//   is `Kernel::ALL` and cuBLAS;
// - the page (`src/lib.rs`) shows each section's listing, generated from it;
// - the tests and the bench iterate `Kernel::ALL` and `Method::ALL`.
// So this file is plain data, with no `crate::` paths: build.rs compiles it on its own.

/// What a kernel is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// One of the tutorial's `c = a @ b` kernels, a [`Kernel`](crate::kernels::Kernel) and a
    /// stage, with the signature `(const float *a, const float *b, float *c, int m, int n,
    /// int k)`.
    Matmul {
        /// Its variant of the generated [`Kernel`](crate::kernels::Kernel) enum (`"Naive"`).
        variant: &'static str,
    },
    /// A measuring tool, not a stage: the read-bandwidth kernel behind
    /// `gpu::Device::measure_read`, with the signature `(const float *x, long long count,
    /// float *sums)`.
    Utility,
}

/// How a kernel's grid covers its work: CUDA's `<<<grid, block>>>`, in terms of the problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridShape {
    /// One block per `rows × cols` tile of `c`, blocks of `threads = (x, y)` threads. Grid `x`
    /// counts tiles along the rows of `c` when `x_along_rows` (only the lesson's kernel),
    /// else along its columns.
    Tiles {
        /// Rows of `c` one block computes.
        rows: u32,
        /// Columns of `c` one block computes.
        cols: u32,
        /// Threads per block along `x` and `y`.
        threads: (u32, u32),
        /// Whether grid `x` runs along the rows of `c`.
        x_along_rows: bool,
    },
    /// A grid-stride loop over a buffer of floats, four at a time: one-dimensional blocks of
    /// `threads`, as many blocks as fill every multiprocessor `blocks_per_multiprocessor`
    /// times (fewer when the buffer is small).
    GridStride {
        /// Threads per block.
        threads: u32,
        /// Resident blocks wanted per multiprocessor.
        blocks_per_multiprocessor: u32,
    },
}

/// One kernel: where its source is, what it is called, how it is launched, where the page
/// shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelSpec {
    /// The name in tables and on the command line (`"cuda-naive"`).
    pub name: &'static str,
    /// The file under `kernels/` that defines it (`"naive.cu"`); one file may define several.
    pub file: &'static str,
    /// The `extern "C"` function in that file (and in its PTX).
    pub entry_point: &'static str,
    /// The tutorial section that shows the file: `"2"` is "## §2" on the page.
    pub section: &'static str,
    /// A matmul stage or a utility.
    pub role: Role,
    /// How its grid is laid out.
    pub grid: GridShape,
    /// One line saying what it changes from the kernel before (for tables).
    pub summary: &'static str,
    /// What it is, in a sentence or two: the documentation of its `Kernel` variant.
    pub doc: &'static str,
}

/// Blocks of `threads` threads along `x` only.
const fn one_dimensional(threads: u32) -> (u32, u32) {
    (threads, 1)
}

/// Every kernel of this step; the matmul kernels in reading order (the order of
/// [`Kernel::ALL`](crate::kernels::Kernel::ALL)).
pub const KERNEL_TABLE: &[KernelSpec] = &[
    KernelSpec {
        name: "cuda-naive",
        file: "naive.cu",
        entry_point: "matmul_naive",
        section: "2",
        role: Role::Matmul { variant: "Naive" },
        grid: GridShape::Tiles {
            rows: 16,
            cols: 16,
            threads: (16, 16),
            x_along_rows: true,
        },
        summary: "GPU, the lesson's kernel: one thread per output, x along rows",
        doc: "The lesson's kernel: one thread per output, `x` numbering rows (uncoalesced).",
    },
    KernelSpec {
        name: "cuda-coalesced",
        file: "coalesced.cu",
        entry_point: "matmul_coalesced",
        section: "3",
        role: Role::Matmul {
            variant: "Coalesced",
        },
        grid: GridShape::Tiles {
            rows: 8,
            cols: 32,
            threads: (32, 8),
            x_along_rows: false,
        },
        summary: "GPU, one thread per output, x along columns: coalesced",
        doc: "One thread per output, `x` numbering columns: a warp reads and writes contiguous memory.",
    },
    KernelSpec {
        name: "cuda-tiled",
        file: "tiled.cu",
        entry_point: "matmul_tiled",
        section: "4",
        role: Role::Matmul { variant: "Tiled" },
        grid: GridShape::Tiles {
            rows: 32,
            cols: 32,
            threads: (32, 32),
            x_along_rows: false,
        },
        summary: "GPU, 32x32 tiles in shared memory: each load serves 32 FMAs",
        doc: "32 × 32 tiles of `a` and `b` staged in shared memory; each global load serves 32 FMAs.",
    },
    KernelSpec {
        name: "cuda-regblock",
        file: "regblock.cu",
        entry_point: "matmul_regblock_128x128",
        section: "5",
        role: Role::Matmul {
            variant: "RegisterBlocked",
        },
        grid: GridShape::Tiles {
            rows: 128,
            cols: 128,
            threads: one_dimensional(256),
            x_along_rows: false,
        },
        summary: "GPU, 128x128 tiles, 8x8 outputs per thread, float4 loads",
        doc: "128 × 128 block tiles, 8 × 8 outputs per thread in registers, `float4` global loads.",
    },
    KernelSpec {
        name: "cuda-skinny",
        file: "regblock.cu",
        entry_point: "matmul_regblock_128x16",
        section: "5",
        role: Role::Matmul { variant: "Skinny" },
        grid: GridShape::Tiles {
            rows: 128,
            cols: 16,
            threads: one_dimensional(256),
            x_along_rows: false,
        },
        summary: "GPU, the register-blocked kernel with 128x16 tiles (tall, skinny)",
        doc: "The register-blocked kernel with 128 × 16 tiles, for tall skinny products (MNIST's `(50000, 784) @ (784, 10)`).",
    },
    KernelSpec {
        name: "cuda-pipelined",
        file: "pipelined.cu",
        entry_point: "matmul_pipelined_128x128",
        section: "6",
        role: Role::Matmul {
            variant: "Pipelined",
        },
        grid: GridShape::Tiles {
            rows: 128,
            cols: 128,
            threads: one_dimensional(256),
            x_along_rows: false,
        },
        summary: "GPU, double-buffered 128x128 tiles: next loads overlap the FMAs",
        doc: "Register blocking with two buffers per tile (the next tile's global loads overlap the arithmetic) and each thread's columns split in two runs of 4 (conflict-free reads).",
    },
    KernelSpec {
        name: "cuda-rowwise",
        file: "rowwise.cu",
        entry_point: "matmul_rowwise_16",
        section: "7",
        role: Role::Matmul { variant: "RowWise" },
        grid: GridShape::Tiles {
            rows: 128,
            cols: 16,
            threads: one_dimensional(128),
            x_along_rows: false,
        },
        summary: "GPU, one thread per row, b broadcast from shared memory (n <= 16)",
        doc: "One thread per row of `c` (16 columns per block) with `b` broadcast from shared memory and `a` streamed in whole cache lines: for tall skinny products (`n <= 16`).",
    },
    KernelSpec {
        name: "read-floor",
        file: "read.cu",
        entry_point: "read_sum",
        section: "floor",
        role: Role::Utility,
        grid: GridShape::GridStride {
            threads: 256,
            blocks_per_multiprocessor: 8,
        },
        summary: "GPU, every float of a buffer read once (float4, grid-stride): the floor",
        doc: "Reads every float of a buffer once and writes one sum per block: its time on `a` is the floor of every kernel that must read `a` (`gpu::Device::measure_read`).",
    },
];
