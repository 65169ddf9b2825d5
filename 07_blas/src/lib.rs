//! # Step 7 — BLAS, and a GEMM built in front of you
//!
//! The lesson ends its CPU part with `a @ b`: PyTorch hands the product to a BLAS (Basic Linear
//! Algebra Subprograms) library, and the five-image product drops to microseconds. In Rust,
//! ndarray's `dot` is that call: it hands the product to the `matrixmultiply` crate, a GEMM
//! (general matrix multiply) of the same design as the libraries under PyTorch and NumPy.
//! This step measures such libraries, builds one of its own (its going-further page shows how),
//! and then finds
//! that the lesson's own skinny shape wants something else.
//!
//! This crate's answer, [`matmul`], picks by shape: the [`streaming`] kernel for the lesson's
//! products, the [`gemm`] built here for everything else. Checked against step 6's answer, and
//! on a product of no special shape against ndarray's `dot`:
//!
//! ```
//! use matmul_blas::data::{synthetic, test_near};
//!
//! let (m1, m2) = (synthetic::mnist_like(5, 0), synthetic::weights(784, 10, 1));
//! let t1 = matmul_blas::einsum::matmul(m1.view(), m2.view()); // step 6's answer
//! test_near(&matmul_blas::matmul(m1.view(), m2.view()), &t1); // the lesson's `x @ w`
//!
//! let (a, b) = (synthetic::uniform(300, 200, 2), synthetic::uniform(200, 250, 3));
//! test_near(&matmul_blas::gemm::matmul(a.view(), b.view()), &a.dot(&b));
//! ```
//!
//! ## Other people's GEMMs
//!
//! The [`matrixmultiply`](mod@matrixmultiply) stage is ndarray's
//! [`dot`](https://docs.rs/ndarray/0.17/ndarray/struct.ArrayBase.html#method.dot): the
//! pure-Rust [`matrixmultiply`](https://docs.rs/matrixmultiply) crate, a 16 × 16 AVX-512
//! kernel over packed, cache-sized blocks, with its own thread pool (`MATMUL_NUM_THREADS`
//! overrides the count). The [`gemm-crate`](gemm_crate) stage calls the
//! [`gemm`](https://docs.rs/gemm) crate, the GEMM inside faer and candle: the same design, with
//! AVX-512 kernels, small products
//! multiplied without packing, and rayon's threads. With the `openblas` cargo feature the
//! `openblas` stage (module `openblas`) calls the system's OpenBLAS — NumPy's BLAS, with
//! assembly kernels per CPU family. The bench times them all next to NumPy and PyTorch, with
//! the machine's measured FMA peak as the ceiling.
//!
//! ## A GEMM you can build
//!
//! Those libraries are fast on large squares for one reason: a core can do far more arithmetic
//! per cycle than it can fetch operands from memory, and a GEMM reuses each loaded element
//! many times from registers and caches. [`gemm`] builds one in four stages, each adding one
//! idea and each timed in the table below:
//!
//! | stage | adds |
//! |---|---|
//! | `gemm-kernel` | (a) a tile of `C` held in registers, updated by fused multiply-adds |
//! | `gemm-packed` | (b) `A` and `B` copied into the order the tile reads them |
//! | `gemm-blocked` | (c) those copies cut into blocks sized to the detected caches |
//! | `gemm` | (d) the blocks shared among the cores |
//!
//! **Going further:** [a GEMM built in front of you](going_further) — each stage's idea and
//! code: the micro-kernel's contract, the portable kernel and the AVX-512 one, packing,
//! blocking and threads. The lesson's path continues here.
//!
//! ## The lesson's shape is not a GEMM's shape
//!
//! On `(50000, 784) @ (784, 10)` there are 10 multiply-adds per element of `a`, and `a` is 157 MB:
//! the product is bound by reading `a` from memory once. The floor is therefore one read of `a`
//! (the tables' `x`) with every core, by the fastest way the bench finds on this machine, which
//! `cargo xtask bench` measures in the same run, a read next to every sample of a stage. The
//! roofline under "Measured" (GFLOP/s against flops per byte read, under the two ceilings: memory
//! bandwidth, sloped, and the FP32 peak, flat) shows the two bounds at once: this product sits left
//! of the ridge (where the two roofs meet), under the memory roof; the large squares sit right of
//! it, under the FP32 peak. A GEMM lands well above that floor, because what makes it fast on
//! squares is wasted or harmful here:
//!
//! - **the register tile is the wrong shape.** `n = 10` fills 10 of the tile's 32 columns with
//!   AVX-512 (of 16 with AVX2 and in matrixmultiply's AVX-512 kernel, of 12 with NEON): with
//!   AVX-512 more than two thirds of the FMAs multiply padding, and on a machine with few cores
//!   the arithmetic alone can take as long as reading `a`.
//! - **packing is a second pass over `a`.** Every block of `A` is copied into a packing buffer
//!   before the register-tile code (the *micro-kernel*) runs on it, and the copy loop and the
//!   arithmetic loop alternate instead of overlapping: the time is the sum of a memory-bound pass
//!   and a compute-bound pass, not the larger of the two.
//! - **blocking buys no reuse.** With `n = 10`, each element of `a` takes part in 10
//!   multiply-adds however the loops are cut; cache blocking exists to raise that number, and
//!   cannot.
//!
//! The [`streaming`] stage does the opposite. Each row of `a` is read once from memory, and
//! all 10 of its outputs are computed while it is still in cache, against `bᵀ` (10 packed
//! columns, 31 KB) that stays in cache. SIMD runs **across `k`**: 16 consecutive elements of a
//! row meet 16 consecutive elements of each packed column, so every lane is useful. Where L1
//! holds all of `bᵀ` with the rows streaming past it (48 KB, as on Intel's recent cores and
//! Zen 5), two rows take all 10 columns at once, 20 accumulators in AVX-512's 32 registers.
//! Where it does not (a 32 KB L1, as on Zen 4 and many other x86 cores), a group of up to 16
//! rows goes through the first 5 columns, then the last 5, so that L1 holds half of `bᵀ` at a
//! time, and four rows share each load of it; each row then comes from memory once and from
//! L2 a second time. AVX2's 16 registers take two rows × 5 columns whatever the L1. NEON takes
//! all 10 columns for two rows, 20 of its 32 registers (Apple's and most recent ARM64 cores
//! have an L1 of 64 KB or more).
//!
//! What made the difference was memory-level parallelism (many requests to memory in flight
//! at once): the hardware prefetcher stops at every 4 KiB page and the core is busy with the
//! FMAs, so the kernel asks for the next group's rows itself, **into L2** (`prefetcht1` on
//! x86-64, `prfm pldl2keep` on ARM64: L2 can keep many more misses in flight than L1; AMD's
//! cores before Zen 4 fill L1 as well). It asks for each line a group of rows ahead, and on
//! every CPU but Intel's again at half and a quarter of that distance: a prefetch is only a
//! hint, which a core with its miss slots full may drop, and a dropped one costs a whole trip
//! to memory when the row is read. On the Intel Xeon this was measured on, asking once was
//! faster: there a second ask of a line already on its way most likely takes one of the few
//! slots a new line could have used. The rows are handed to the cores (the same helper threads as
//! the GEMM's, kept between products) in blocks of up to 1024 rows, at least four a core, taken in
//! turn, so a core slowed down by anything else takes fewer blocks; each core takes its next block
//! as it starts one, so that the end of a block asks for the start of the next. The arithmetic and
//! the read overlap in part; what is left is the part they don't. On cores whose prefetches fill L1
//! too, the overlap is smaller: there the kernel computes more slowly while its prefetches are on
//! their way from memory, even on rows it already has in cache (most likely because those lines
//! hold L1's few outstanding-miss slots, which the kernel's own loads from L2 then wait for).
//!
//! For five images the reasoning changes again: there is nothing to stream, and a GEMM's packing
//! and thread start are pure overhead on 39,200 multiply-adds. The fastest code reads `b` (31 KB)
//! in place, once, each row scaled by the five `a[i, p]` into five rows of accumulators — the
//! broadcasting stage's `i, k, j` loop, in registers. On AVX-512 a row of `b` is one masked 10-lane
//! load and each row of sums a few registers (partial sums, added at the end); on NEON, three
//! 4-lane loads and three registers a row, with 2 lanes to spare. (AVX-512 and AVX2 waste no lanes
//! on the lesson's weights, `ten_columns` in `streaming/avx512.rs` and `streaming/avx2.rs`: in
//! groups of 8 steps AVX-512 rearranges 8 rows of 10 floats of `b` into 5 registers whose lanes a
//! broadcast of 4 or 8 consecutive `a[i, p]` meets, once for all five images; AVX2 takes columns
//! 0–7 a row at a time and puts columns 8 and 9 of 4 rows into one register. On a core that runs
//! 512-bit instructions as two 256-bit halves, such as AMD's Zen 4
//! ([`machine::splits_512_bit_ops`] tells at run time), wide registers save no time, and AVX-512's
//! `ten_columns_in_halves` does the same in 256-bit registers: 4 rows of `b` at a time,
//! transposed within each 128-bit half into 5 registers that a broadcast of 4 consecutive
//! `a[i, p]` meets.)
//!
//! ## This step's answer: pick by shape
//!
//! [`matmul`] (the `blas` stage) streams ([`Algorithm::for_shape`]) when `b` is narrow or `a`
//! is short (or a single row, or a few with a `b` beyond L3), by a [`StreamingRule`] taken from
//! the shapes of the kernels that run:
//!
//! - **narrow**: at most half as many columns as the GEMM's tile is wide — a GEMM would
//!   multiply padding at least as often as data — or at most the streaming kernel's 10
//!   columns, whichever is more, so that the streaming kernel reads `a` once;
//! - **short**: at most the rows of one call of the streaming kernel's few-rows path, which
//!   reads `b` where it is, one pass of 16 columns after another, on one core — while `b` is
//!   narrower than two of the GEMM's tiles, where the GEMM's tile is no wider than such a pass
//!   (AVX2's 16 columns, and narrower). The GEMM reads a short `a` in place too and shares the
//!   work among the cores; AVX-512's, whose tile is two passes wide and which computes an edge
//!   of any width where it is, is as fast or ahead from one column past the narrow bound, so
//!   there the short bound is the narrow one.
//! - **one row** (AVX-512 and AVX2): a single row of `a`, however wide `b` is (unless its
//!   columns are contiguous). Every element of `b` is used once, so the product is a read of
//!   `b`, and the streaming kernel's one-row path reads it as a read should go: a few rows of
//!   `b` at a time, each from start to end, scaled by their elements of `a` and added into
//!   `c`'s row, which stays in L1; the cores share the rows of `b`, each summing its part into
//!   a row of its own, added at the end.
//! - **a few rows and a `b` beyond L3** (AVX-512 and AVX2): an `a` of at most the few-rows
//!   path's rows and a `b` of 64 columns or more, larger than L3. The same path reads `b` by
//!   whole rows for all of `a`'s rows at once, into a few rows of sums in L2. The GEMM's slivers
//!   read two lines of each row of `b` and jump a row ahead, which from memory goes at about
//!   half the speed of whole rows.
//!
//! Everything else goes to this crate's own [`gemm`]. Both of the lesson's workloads stream on
//! every instruction set; every square goes to the GEMM. The table of kernels at the end of this
//! page gives the bounds for each instruction set, and marks the one the run used.
//!
//! ## Measured
//!
//! The table times every stage of this page on the lesson's two workloads, and the squares below it
//! on `(N, N) @ (N, N)`, with the floors, the machine's FMA peak and the system OpenBLAS (when
//! built with it) from the same run: for 50,000 images one read of `x`, for five images their
//! multiply-adds at one core's FMA peak, as if every lane of every FMA were used and none waited on
//! another, so the five-image floor says how far the few-rows kernel is from its arithmetic alone.
//! The table after the squares times the same rows on four shapes the squares leave out, where the
//! three matrices differ in size as a square's never do: one image through a layer of 1000 outputs,
//! a batch of 64 through it, a product of rank 50 with a 16 MB result, and long sums into a small
//! one; the fastest of each column is in bold, and no floor is drawn for them. The stages read in
//! order: `gemm-kernel`, `gemm-packed`, `gemm-blocked` and `gemm` each add one idea to the one
//! before. Each time carries the half-width of its 95% interval (`±`), but for the floors that are
//! a peak; the README says how to read `× floor` and the list of figures to read with care.
//!
//! Time this step alone: `cargo xtask bench --quick --stage gemm --stage blas --stage streaming
//! --stage matrixmultiply` (`blas` also matches `openblas`; the naive loop is always timed too,
//! as the baseline of the speedups).
//!
#![doc = include_str!("../measured.md")]
//!
//! Next: [`matmul_cuda`](../matmul_cuda/index.html), the lesson's CUDA kernel. Previous:
//! [`matmul_einsum`](../matmul_einsum/index.html), Einstein summation.

use ndarray::{Array2, ArrayView2};

use matmul_data::Processor;
pub use matmul_data::Stage;
pub use matmul_einsum as einsum;
// Every earlier step, one segment away: `matmul_blas::naive::matmul`.
pub use matmul_einsum::{broadcast, data, dot, elementwise, naive};

mod buffers;
pub mod gemm;
pub mod going_further;
pub mod isa;
pub mod machine;
#[cfg(feature = "openblas")]
pub mod openblas;
mod pool;
mod prefetch;
pub mod streaming;

use isa::Isa;

/// Tiles of the GEMM's width from which a short `a` goes to the GEMM, where its tile is no
/// wider than a pass of the streaming kernel's few-rows path (`COLUMNS_PER_ROW`, 16 columns):
/// see [`StreamingRule`].
const SHORT_NARROW_TILES: usize = 2;

/// When [`matmul`] streams instead of running the GEMM, for one instruction set's kernels: the
/// bounds come from the kernels' shapes ([`Isa::kernels`]), so they hold on the machine that
/// runs them.
///
/// - **narrow `b`**: at most `max_columns` columns — the larger of half the GEMM's tile width
///   (a narrower `b` leaves at least half of every tile empty, and the GEMM computes half a
///   tile at best, some of it padding) and [`streaming::COLUMNS_PER_PASS`] (the streaming
///   kernel's whole width, so it reads `a` once);
/// - **short `a`**: at most `max_rows` rows — one call of the streaming kernel's few-rows path,
///   which reads a row-major `b` in place — while `b` has at most `short_max_columns` columns.
///   The few-rows path reads `b` again, one pass after another, for each further 16 columns, on
///   one thread. The GEMM reads a short `a` and its `b` in place too, a tile's width at a time,
///   with the threads sharing the columns of `b`, or, with a long `k`, splitting `k`. Where its
///   tile is wider than a pass (AVX-512's 32 columns) and it computes a right edge of any width
///   where it is, it is ahead of the stream, or level, from one column past the narrow bound: on
///   an AMD Zen 4 with two cores, with 2, 5 and 8 rows and `k` from 256 to 4096, level up to 32
///   columns with `k` up to 1024, and ahead from 33 columns, by a fifth to a half, or at any
///   width with `k` = 2048 and more, by half or more (two cores). So that kernel has no short
///   bound beyond the narrow one (`short_max_columns` is `max_columns`). Where the tile is no
///   wider than a pass, and an edge other than half a tile goes through a scratch tile, short
///   products stream below two tiles' widths: on the same Zen 4 with the AVX2 kernel, five
///   rows took less time streamed with 12 or 20 columns (by up to half), about as long with 24
///   to 48, and half as long on the GEMM from 128 to 511 (two cores); with the portable kernel,
///   four rows took less time streamed with 12 columns, and less than half on the GEMM from 16
///   to 255. (The bound was 32 tiles before, from a measurement with the AVX2 kernel on an
///   Intel Xeon against an older GEMM.) NEON's follows the same rule, unmeasured. (A `b` whose
///   columns are contiguous the streaming kernel packs too, but by copying each column whole,
///   and it reads each row of `a` once.)
/// - **a few rows, `b` beyond L3**: at most `max_rows` rows, with a `b` of at least 64 columns
///   and more than `whole_rows_beyond` bytes (the machine's L3), where the streaming kernel has
///   the one-row path below, which then takes all the rows at once, reading `b` by whole rows
///   (for a `b` that is row-major and contiguous). On the AMD Zen 4 this was measured on (L3 of
///   32 MiB, two cores), `(8, 4096) @ (4096, 4096)` and `(5, …)` took about half the GEMM's
///   time or less, and `(8, 2304) @ (2304, 4096)` three quarters; OpenBLAS's took more than
///   twice as long. With
///   `b` in L3 the GEMM was as fast or faster with 8 rows and 16 MB or less, and slower with 24
///   MB, or with 4 rows and 16 MB: L3 is the safe side of where the two cross.
/// - **one row**: a single row of `a`, at any width of `b`, where the streaming kernel has a
///   one-row path (AVX-512 and AVX2: `KernelShape::one_row`), unless the columns of `b` are
///   contiguous ([`matmul`] then asks without it). Each element of `b` is used once, so the
///   product is a read of `b`: the one-row path reads its rows from start to end, the cores
///   sharing them, where the GEMM's tiles read two lines of each row at a time. On the Intel
///   Xeon this was measured on (two cores), it took about half the GEMM's time on `(1, 784) @
///   (784, 1000)` with either instruction set, and on `(1, 4096) @ (4096, 4096)` a third with
///   AVX-512 and a sixth with AVX2.
///
/// ```
/// use matmul_blas::{StreamingRule, isa::Isa};
///
/// let avx512 = StreamingRule::for_isa(Isa::Avx512);
/// assert_eq!((avx512.max_columns, avx512.max_rows), (16, 8)); // half of 32; 8 rows
/// assert_eq!(avx512.short_max_columns, 16); // no further than the narrow bound
/// assert_eq!(StreamingRule::for_isa(Isa::Avx2).short_max_columns, 31); // under two tiles of 16
/// let neon = StreamingRule::for_isa(Isa::Neon);
/// assert_eq!((neon.max_columns, neon.max_rows), (10, 6)); // 10 > half of 12; 6 rows
/// assert!(avx512.one_row && !neon.one_row); // one row streams at any width with AVX-512
/// // 8 rows stream with a `b` beyond L3 (here the default's, 8 MiB), where one row does.
/// assert_eq!(avx512.whole_rows_beyond, matmul_blas::machine::Caches::DEFAULT.l3);
/// assert_eq!(neon.whole_rows_beyond, usize::MAX);
/// assert_eq!(avx512.algorithm(8, 4096, 4096), matmul_blas::Algorithm::Streaming); // 64 MiB
/// assert_eq!(avx512.algorithm(9, 4096, 4096), matmul_blas::Algorithm::Gemm);
/// assert_eq!(avx512.algorithm(8, 1024, 1024), matmul_blas::Algorithm::Gemm); // 4 MiB
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamingRule {
    /// Columns of `b` up to which [`matmul`] streams.
    pub max_columns: usize,
    /// Rows of `a` up to which [`matmul`] streams, when `b` has at most `short_max_columns`
    /// columns.
    pub max_rows: usize,
    /// Columns of `b` up to which [`matmul`] streams an `a` of at most `max_rows` rows.
    pub short_max_columns: usize,
    /// Whether [`matmul`] streams an `a` of one row, whatever the width of `b`.
    pub one_row: bool,
    /// Bytes of `b` beyond which [`matmul`] streams an `a` of at most `max_rows` rows, with a
    /// `b` of 64 columns or more, by whole rows of `b` (where the kernels have that path, as
    /// they have the one-row path; `usize::MAX` where they do not): the machine's L3 in
    /// [`StreamingRule::detected`], [`Caches::DEFAULT`](machine::Caches::DEFAULT)'s in
    /// [`StreamingRule::for_isa`].
    pub whole_rows_beyond: usize,
}

impl StreamingRule {
    /// The rule for `isa`'s kernels.
    pub const fn for_isa(isa: Isa) -> StreamingRule {
        let shape = isa.kernels();
        let (half_tile, tile) = (shape.gemm_tile.1 / 2, shape.gemm_tile.1);
        let max_columns = if half_tile > streaming::COLUMNS_PER_PASS {
            half_tile
        } else {
            streaming::COLUMNS_PER_PASS
        };
        StreamingRule {
            max_columns,
            max_rows: shape.scale_rows,
            short_max_columns: if tile > streaming::COLUMNS_PER_ROW {
                max_columns
            } else {
                SHORT_NARROW_TILES * tile - 1
            },
            one_row: shape.one_row.is_some(),
            whole_rows_beyond: match shape.one_row {
                Some(_) => machine::Caches::DEFAULT.l3,
                None => usize::MAX,
            },
        }
    }

    /// The rule for the kernels this machine runs ([`Isa::detect`]).
    pub fn detected() -> StreamingRule {
        let rule = StreamingRule::for_isa(Isa::detect());
        StreamingRule {
            whole_rows_beyond: match rule.whole_rows_beyond {
                usize::MAX => usize::MAX,
                _ => machine::Caches::detect().l3,
            },
            ..rule
        }
    }

    /// The algorithm this rule picks for `(m, k) @ (k, n)`.
    pub fn algorithm(self, m: usize, k: usize, n: usize) -> Algorithm {
        let b_bytes = k.saturating_mul(n).saturating_mul(size_of::<f32>());
        if n <= self.max_columns
            || (m <= self.max_rows && n <= self.short_max_columns)
            || (m == 1 && self.one_row)
            || (m <= self.max_rows
                && n >= streaming::ONE_ROW_FROM_COLUMNS
                && b_bytes > self.whole_rows_beyond)
        {
            Algorithm::Streaming
        } else {
            Algorithm::Gemm
        }
    }
}

/// The two algorithms [`matmul`] chooses between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// [`streaming::matmul`]: each row of `a` read once, `b` resident in cache.
    Streaming,
    /// [`gemm::matmul`]: packed, blocked, threaded, a register tile per kernel call.
    Gemm,
}

impl Algorithm {
    /// The algorithm for `(m, k) @ (k, n)` on this machine: [`Algorithm::Streaming`] when `b`
    /// is narrow (like the lesson's 10 classes) or `a` is short and `b` not too wide (or, with
    /// the AVX-512 and AVX2 kernels, `a` is one row, or a few with a `b` larger than L3),
    /// [`Algorithm::Gemm`] otherwise, by the [`StreamingRule`] of the kernels that run here. For
    /// a `b` whose rows are contiguous; [`matmul`] sends a single row of `a`, or a few, with a
    /// `b` whose columns are, to where they went without the one-row path.
    ///
    /// ```
    /// use matmul_blas::Algorithm;
    ///
    /// assert_eq!(Algorithm::for_shape(50_000, 784, 10), Algorithm::Streaming); // the lesson
    /// assert_eq!(Algorithm::for_shape(5, 784, 10), Algorithm::Streaming);
    /// assert_eq!(Algorithm::for_shape(1024, 1024, 1024), Algorithm::Gemm);
    /// assert_eq!(Algorithm::for_shape(64, 784, 1000), Algorithm::Gemm); // 64 images
    /// ```
    pub fn for_shape(m: usize, k: usize, n: usize) -> Algorithm {
        StreamingRule::detected().algorithm(m, k, n)
    }

    /// The stage that runs this algorithm's code on its own (`"streaming"`, `"gemm"`): what the
    /// `blas` stage runs, after the choice, on a given shape.
    ///
    /// ```
    /// use matmul_blas::Algorithm;
    ///
    /// assert_eq!(Algorithm::for_shape(50_000, 784, 10).stage_name(), "streaming");
    /// ```
    pub fn stage_name(self) -> &'static str {
        match self {
            Algorithm::Streaming => "streaming",
            Algorithm::Gemm => "gemm",
        }
    }
}

/// `a @ b`, the fastest way this step knows for the shape ([`Algorithm::for_shape`]): the
/// [`streaming`] kernel for a narrow `b`, a short `a` and a `b` not too wide, or (with the
/// AVX-512 and AVX2 kernels) a single row of `a`, or a few with a `b` larger than L3, and a `b`
/// whose columns are not contiguous; the crate's own [`gemm`] otherwise.
///
/// `a: (m, k)`, `b: (k, n)`, any strides; returns `(m, n)`.
///
/// # Panics
///
/// When `a.ncols() != b.nrows()`, naming both shapes.
///
/// ```
/// use ndarray::array;
///
/// let a = array![[1.0, 2.0], [3.0, 4.0]];
/// let b = array![[5.0, 6.0], [7.0, 8.0]];
/// assert_eq!(matmul_blas::matmul(a.view(), b.view()), array![[19.0, 22.0], [43.0, 50.0]]);
/// ```
pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let (m, k, n) = matmul_data::assert_inner_dims(a.dim(), b.dim());
    let rule = StreamingRule::detected();
    // The one-row path reads `b` by its rows: a `b` whose columns are contiguous (a linear
    // layer's weights passed as `w.t()`) would reach the many-rows path, on one core, so it goes
    // where it went without the one-row path. A few rows take the whole-rows path only with a
    // `b` that is row-major and contiguous already: any other would be copied whole first.
    let rule = StreamingRule {
        one_row: rule.one_row && !streaming::columns_contiguous(b),
        whole_rows_beyond: match b.is_standard_layout() {
            true => rule.whole_rows_beyond,
            false => usize::MAX,
        },
        ..rule
    };
    match rule.algorithm(m, k, n) {
        Algorithm::Streaming => streaming::matmul(a, b),
        Algorithm::Gemm => gemm::matmul(a, b),
    }
}

/// The `matrixmultiply` stage: someone else's GEMM, called the way the lesson calls PyTorch's.
pub mod matrixmultiply {
    use ndarray::{Array2, ArrayView2};

    /// `a @ b` with ndarray's GEMM (the `matrixmultiply` crate's `sgemm`, threaded).
    ///
    /// `a: (m, k)`, `b: (k, n)`, any strides; returns `(m, n)`.
    ///
    /// # Panics
    ///
    /// When `a.ncols() != b.nrows()`, naming both shapes.
    ///
    /// ```
    /// use ndarray::array;
    ///
    /// let a = array![[1.0, 2.0], [3.0, 4.0]];
    /// let b = array![[5.0, 6.0], [7.0, 8.0]];
    /// let c = matmul_blas::matrixmultiply::matmul(a.view(), b.view());
    /// assert_eq!(c, array![[19.0, 22.0], [43.0, 50.0]]);
    /// ```
    pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
        matmul_data::assert_inner_dims(a.dim(), b.dim());
        a.dot(&b)
    }
}

/// The `gemm-crate` stage: the [`gemm`](https://docs.rs/gemm) crate, the pure-Rust GEMM that
/// faer and candle use, with its AVX-512 kernels and its own threads.
pub mod gemm_crate {
    use ndarray::{Array2, ArrayView2};

    /// `a @ b` with the `gemm` crate's `gemm`, on every core (it decides itself when a product
    /// is too small to share).
    ///
    /// `a: (m, k)`, `b: (k, n)`, any strides; returns `(m, n)`.
    ///
    /// # Panics
    ///
    /// When `a.ncols() != b.nrows()`, naming both shapes.
    ///
    /// ```
    /// use matmul_data::{synthetic, test_near};
    ///
    /// // a transposed and b stepped: the crate takes any strides, as ndarray's views have.
    /// let (a, b) = (synthetic::uniform(70, 50, 1), synthetic::uniform(70, 90, 2));
    /// let (a, b) = (a.t(), b.slice(ndarray::s![.., ..;3]));
    /// test_near(&matmul_blas::gemm_crate::matmul(a, b), &a.dot(&b));
    /// ```
    pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
        let (m, k, n) = matmul_data::assert_inner_dims(a.dim(), b.dim());
        // A large output backed by huge pages, as this crate's own stages get theirs.
        let mut c = crate::buffers::zeroed_output(m, n);
        if m == 0 || n == 0 || k == 0 {
            return c; // a sum of nothing is zero
        }
        let threads = crate::pool::cores();
        let (a_rows, a_columns) = (a.strides()[0], a.strides()[1]);
        let (b_rows, b_columns) = (b.strides()[0], b.strides()[1]);
        // SAFETY: each pointer is element (0, 0) of its view, and the strides (in elements,
        // column stride first, as the crate takes them) are the views' own, so every element
        // the crate reads lies in `a` or `b` and every one it writes in the new `c`, row-major
        // with rows `n` apart. `read_dst = false`: `c` is overwritten, `c = 1·a·b`.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                a_columns,
                a_rows,
                b.as_ptr(),
                b_columns,
                b_rows,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(threads),
            );
        }
        c
    }
}

/// Which BLAS libraries this build can call, for the bench's machine line.
pub fn blas_libraries() -> &'static str {
    if cfg!(feature = "openblas") {
        "matrixmultiply (threaded), gemm crate (threaded), OpenBLAS (system)"
    } else {
        "matrixmultiply (threaded), gemm crate (threaded); OpenBLAS not built (feature `openblas`)"
    }
}

/// This crate, as its stages name it: the page of step 7, which shows the roofline.
pub const CRATE: matmul_data::Crate = matmul_data::this_crate!();

/// Every stage so far, in reading order: the earlier crates' stages; the GEMM built here, one idea
/// at a time; the GEMMs of others (matrixmultiply, the `gemm` crate, and OpenBLAS with the
/// `openblas` feature); the streaming kernel; and `blas`, this crate's [`matmul`], which picks
/// between them by shape.
pub fn stages() -> Vec<Stage> {
    let own = |name: &'static str, summary: &'static str, matmul: matmul_data::MatmulFn| Stage {
        name,
        summary,
        matmul,
        runs_on: Processor::Cpu,
        defined_in: matmul_data::this_crate!(),
        runs_as: None,
    };
    let mut stages = einsum::stages();
    stages.extend([
        own(
            "gemm-kernel",
            "an MR × NR tile of c in vector registers, k rank-1 updates, over unpacked a and b",
            gemm::matmul_kernel,
        ),
        own(
            "gemm-packed",
            "a and b copied into contiguous slivers in the order the micro-kernel reads them",
            gemm::matmul_packed,
        ),
        own(
            "gemm-blocked",
            "packing in kc × nc and mc × kc blocks sized from the ways of L1 and L2 and from L3",
            gemm::matmul_blocked,
        ),
        own(
            "gemm",
            "the blocks of c shared among the cores; panels of b packed once for all, or per core",
            gemm::matmul,
        ),
        own(
            "matrixmultiply",
            "a real GEMM (ndarray's dot): packing, cache blocking, SIMD micro-kernel, threads",
            matrixmultiply::matmul,
        ),
        own(
            "gemm-crate",
            "the gemm crate (faer's and candle's GEMM): AVX-512 kernels, small sizes unpacked, threads",
            gemm_crate::matmul,
        ),
    ]);
    #[cfg(feature = "openblas")]
    stages.push(own(
        "openblas",
        "the system OpenBLAS's sgemm (NumPy's BLAS): assembly kernels, its own threads",
        openblas::matmul,
    ));
    stages.push(own(
        "streaming",
        "each row of a read once, b resident in cache, SIMD across k, rows split across cores",
        streaming::matmul,
    ));
    stages.push(Stage {
        runs_as: Some(|m, k, n| Algorithm::for_shape(m, k, n).stage_name()),
        ..own(
            "blas",
            "this step's answer: streaming for a narrow b, or a short a and a b not too wide, \
             the own GEMM otherwise",
            matmul,
        )
    });
    stages
}
