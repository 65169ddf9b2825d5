//! The streaming kernel: what reaches the memory floor on the lesson's skinny product.
//!
//! For `(50000, 784) @ (784, 10)` the work is small next to the data: 10 multiply-adds per
//! element of `a`, which is read once. A GEMM is built for the opposite case — it packs both
//! operands into cache-sized panels and runs a register tile of, say, 16 × 16 outputs — and
//! with `n = 10` its tiles are a third padding, and the copy of each block of `a` into its
//! packing buffer is a pass of its own, not overlapped with the arithmetic (see the
//! [crate page](crate)). This module does the simplest thing that is also the fastest: read
//! each row of `a` once from memory, and produce all of its outputs while it is still in
//! cache, with `b` resident in cache.
//!
//! Two micro-kernels, chosen by what each would cost on the shape (`takes_many_rows`), and on
//! x86 a third for a single row of `a`, or a few with a `b` beyond L3 (`takes_whole_rows`):
//!
//! - **many rows** (`dot_columns`): `b`'s columns are packed once into `bᵀ` (10 rows of `k`,
//!   31 KB for the lesson: it stays in L1 and L2). Each row of `a` is then dotted with the 10
//!   packed columns, SIMD **across `k`**: a register's worth of consecutive elements of the row
//!   (16 with AVX-512, 8 with AVX2, 4 with NEON) meets as many consecutive elements of each
//!   column, into one accumulator register per row and column, reduced at the end of the row. No
//!   lane is wasted on padding (unlike SIMD across the 10 outputs, which fills 10 of 16 lanes),
//!   rows can share each load of `bᵀ`, and software prefetch into L2 keeps the next rows coming:
//!   each line is asked for three times, each nearer its use, because a busy core may drop a
//!   prefetch (a hint); on Intel's cores, once, and where a call computes all 10 columns, and the
//!   rows come from memory, one row a call, each line asked for again into L1 just before its
//!   read (`Reading`). Where a kernel takes only part of the 10 columns per call (AVX2, whose 16
//!   registers hold the accumulators of 5 columns for two rows; AVX-512, 5 columns over four rows
//!   where L1 cannot hold all of `bᵀ` with the rows streaming past it, `fits_l1`, or where the
//!   last pass has 5 columns or fewer), a group of up to 16 rows goes through each part of the
//!   columns in turn, so that L1 holds one part of `bᵀ`, and the rows come from L2 on the second
//!   visit. The rows are handed to the cores (the helper threads the GEMM uses too, kept between
//!   products) in blocks of up to 1024, at least four for each thread in all, each thread taking
//!   its next block as it starts one, so that the end of a block asks for the rows at the start
//!   of the next.
//! - **few rows** (`scale_rows`): packing `bᵀ` costs more than the whole five-image product,
//!   so `b` is read in place: row `p` of `b` (10 floats: one masked load on AVX-512) is
//!   scaled by `a[i, p]` and added to row `i` of `c`, for several rows at a time — the
//!   broadcasting stage's `i, k, j` loop in registers. (For a `b` of exactly 10 columns, the
//!   AVX-512 and AVX2 kernels fill every lane instead, `ten_columns` in each: AVX-512
//!   rearranges each group of 8 rows of `b` into 5 registers, once for all the rows of a call
//!   (up to eight); AVX2 puts columns 8 and 9 of 4 rows into one register. On a core that runs
//!   512-bit instructions as two 256-bit halves (AMD's Zen 4, and later AMD cores that a timing
//!   finds do the same), AVX-512 rearranges 4 rows of `b` at a time into 5 registers of 256 bits
//!   instead, for up to five rows of `a`: `ten_columns_in_halves`.)
//!
//!   That is for a row-major `b`, which the few-rows kernel reads as it is. A `b` whose
//!   columns are contiguous instead (a linear layer's weights kept as `(outputs, inputs)`, as
//!   PyTorch keeps them, and passed as `w.t()`) would first be copied to row-major, a
//!   transposition that costs several times the five-image product. Packing `bᵀ` from it is a
//!   copy of whole columns, so such a `b` takes the many-rows path whatever the number of
//!   rows, unless `k` is too short to fill two registers.
//! - **one row** (`whole_rows`, AVX-512 and AVX2): a single row of `a` and a `b` of 64 columns or more
//!   whose columns are not contiguous, such as one image through a layer of 1000 outputs. Each
//!   element of `b` is used once, so the product is a read of `b`. The kernel reads 16 rows of `b`
//!   at a time (8 with AVX2), each from its start to its end, scaling them by their elements of `a`
//!   into `c`'s row, which stays in L1: 16 (or 8) FMAs per load and store of each register of `c`.
//!   (Fewer rows at a time where the rows are a power of two of bytes apart, so that their lines do
//!   not crowd one set of L1: `one_row_group`.) The cores share the rows of `b`, each summing its
//!   part, contiguous, into a row of its own; the rows are added at the end. (The few-rows kernel
//!   would read `b` 16 columns at a time, a line of each row and on to the next, and the GEMM two
//!   lines of each; on the Intel Xeon this was measured on, the one-row path took about half the
//!   time of the GEMM, which `blas` ran before, on `(1, 784) @ (784, 1000)`, and less than what
//!   `blas` ran before from 64 columns on, with AVX-512 and with AVX2.)
//! - **a few rows, `b` beyond L3** (the same path, `whole_rows`): up to the few-rows path's rows
//!   of `a` and a `b` as above but larger than L3, read from memory. The kernel reads a group of
//!   rows of `b` side by side as for one row, and adds each register of `b` into all of `a`'s
//!   rows of sums at once (a few rows of `c`, in L2; each thread its own, a line longer than
//!   `c`'s rows so that they do not share a set of L1). So `b` is read once, by whole rows,
//!   where the GEMM reads two lines of each row and jumps a row ahead.
//!
//! Otherwise the choice counts FMAs. Where the few-rows kernel fills every lane of its registers
//! (with AVX-512: the lesson's 10 columns, or 16), it does no more of them than the many-rows one,
//! which also sums across the lanes of each output at the end: the rows stay on the few-rows path
//! until there are enough to share among threads. Where it leaves more of its lanes empty than the
//! many-rows tile does (8 columns fill half of an AVX-512 register and 80% of a tile of 10; with
//! AVX2 or NEON, even the lesson's 10 columns cost the few-rows kernel more), the many-rows kernel
//! does fewer FMAs a row, and takes over from the number of rows at which what it saves pays for
//! packing `bᵀ`. Past 16 columns, an `a` of half of L2 or more goes to the many-rows path too: the
//! few-rows path would read all of it again for each further 16 columns.
//!
//! The code is one driver and one kernel per instruction set, as in the `matrixmultiply`
//! crate. The driver (this module) packs `bᵀ`, splits the rows into blocks and across threads,
//! prefetches, and deals with the rows and columns left over at the ends; a kernel (the
//! `Kernel` trait, module `kernel`) only computes one small block of `c` in its registers.
//! There are four kernels: AVX-512 intrinsics (module `avx512`), AVX2 + FMA intrinsics
//! (module `avx2`), NEON intrinsics for ARM64 (module `neon`), and plain Rust for any other CPU
//! (module `portable`). [`Isa::detect`] picks one at run time, once, for every kernel of this
//! step (`MATMUL_ISA` overrides it); nothing here needs `-C target-cpu=native`. Each kernel's
//! shape (lanes, its tiles for many rows, its rows per call for few) is its row of
//! [`Isa::kernels`].

use ndarray::{Array2, ArrayView2, Axis};

use crate::buffers::{give_back, line_aligned, take_buffer};

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod kernel;
#[cfg(target_arch = "aarch64")]
mod neon;
mod portable;

pub use kernel::COLUMNS_PER_PASS;
pub(crate) use kernel::COLUMNS_PER_ROW;
use kernel::{Kernel, Rows, RowsMut};
use portable::Portable;

/// Rows of an output below which it is allocated and then filled with zeros
/// ([`zeros_filled`]), rather than asked of the allocator zeroed.
const SMALL_OUTPUT_ROWS: usize = 64;

/// What packing one element of `b` into `bᵀ` costs, counted in FMAs, for
/// [`takes_many_rows`]: a load and a store, plus a share of zeroing the padding, about the
/// time of one FMA instruction (of which a core issues one or two per cycle, as it does loads
/// and stores).
const PACK_FMAS: usize = 1;

/// Rows per block handed to a thread, at most ([`block_rows`]): big enough that taking one
/// costs nothing measurable. (A thread takes its next block as it starts one, so the end of a
/// block asks for the start of the next: no prefetch runs dry in between.)
const BLOCK_ROWS: usize = 1024;

/// Blocks each thread gets, at least, where [`BLOCK_ROWS`] would give fewer: enough that a
/// thread that takes its next block while it starts one does not hold all that is left
/// before the others have started.
const BLOCKS_PER_THREAD: usize = 4;

/// Elements of `a` from which the many-rows path hands blocks of rows to the helper threads:
/// 2.6 million multiply-adds, 160,000 cycles at one 16-lane FMA per cycle, many times what
/// handing out the work and meeting at the end costs. A product of up to [`BLOCK_ROWS`] rows
/// is one block, which the calling thread does without waking the helpers. The one-row path
/// gives each thread at least as many elements of `b`, one multiply-add each: a read of 1 MB.
const PARALLEL_ELEMENTS: usize = 1 << 18;

/// Rows per group of the many-rows path (see [`group_rows`]), and so how far ahead of its own
/// rows a kernel first asks the memory system for rows of `a`: one group on (see
/// [`kernel::prefetch`]; on some CPUs it asks again at about half and a quarter of that,
/// [`Reading`]).
/// A matter of memory latency and bandwidth, not of the instruction set; on the AVX2 machine
/// it was measured on, half and twice this distance were both slower, and on the Intel Xeon
/// no different.
const PREFETCH_ROWS: usize = 16;

pub use crate::isa::Isa;

/// `a @ b` by streaming the rows of `a` once, with `b` held in cache: fastest when `b` is
/// narrow (the lesson's `n = 10`); correct for every shape.
///
/// `a: (m, k)`, `b: (k, n)`, any strides (a non-row-major `a` is copied to row-major first,
/// and so is `b` where the few-rows or the whole-rows kernel reads it); returns `(m, n)`. Uses
/// every core when `a` is large, or `a` is one row, or a few, and `b` large (one, while another
/// thread's product is using the helper threads).
///
/// # Panics
///
/// When `a.ncols() != b.nrows()`, naming both shapes.
///
/// ```
/// use matmul_data::{synthetic, test_near};
///
/// let images = synthetic::mnist_like(1000, 1);
/// let weights = synthetic::weights(784, 10, 2);
/// let c = matmul_blas::streaming::matmul(images.view(), weights.view());
/// test_near(&c, &images.dot(&weights));
/// ```
pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    matmul_data::assert_inner_dims(a.dim(), b.dim());
    // The one place the instruction set is chosen: the driver below is compiled once per kernel.
    match Isa::detect() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            let half = avx512::Avx512::new().expect(DETECTED);
            let whole = half.whole_pass();
            // All 10 columns per call where L1 holds them, unless the last pass has 5 columns
            // or fewer, which the 5-column tile does without multiplying padding.
            let last = b.ncols() % COLUMNS_PER_PASS;
            match fits_l1(whole, a.ncols()) && (last == 0 || last > COLUMNS_PER_PASS / 2) {
                true => stream(whole, a, b),
                false => stream(half, a, b),
            }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => stream(avx2::Avx2::new().expect(DETECTED), a, b),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => stream(neon::Neon, a, b),
        _ => stream(Portable, a, b),
    }
}

/// Whether the many-rows path with `kernel` keeps its columns of `bᵀ` in L1: the
/// `DOT_COLUMNS` packed columns (`k` floats, padded to whole registers) and the `DOT_ROWS`
/// rows of `a` that stream past between two reads of each of their lines, within all of L1's
/// ways but one (counted as in the GEMM's blocking: a buffer of `L1 / W` bytes takes one line
/// of each of the `W`-way cache's sets). The lesson's `k = 784` with 10 columns over two rows
/// needs 12 × 784 × 4 = 37,632 bytes: a 48 KiB L1 of 12 ways has 45,056 to give, a 32 KiB one
/// of 8 ways 28,672.
// Only the AVX-512 kernel has a choice of tiles.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn fits_l1<K: Kernel>(kernel: K, k: usize) -> bool {
    let _ = kernel; // only its type's sizes matter
    let tile = (K::DOT_ROWS, K::DOT_COLUMNS);
    fits_l1_of(crate::machine::Caches::detect(), tile, K::LANES, k)
}

/// [`fits_l1`] for a kernel of `tile` (rows, columns) and `lanes`, on `caches`.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn fits_l1_of(
    caches: crate::machine::Caches,
    tile: (usize, usize),
    lanes: usize,
    k: usize,
) -> bool {
    let ways = caches.l1_ways.max(2);
    let kp = padded(k, lanes);
    let bytes = (tile.0 + tile.1) * kp * size_of::<f32>();
    bytes <= caches.l1 / ways * (ways - 1)
}

/// Why a kernel's constructor cannot refuse the instruction set [`Isa::detect`] chose.
#[cfg(target_arch = "x86_64")]
const DETECTED: &str = "Isa::detect reports only instruction sets whose kernel accepts this CPU";

/// [`matmul`] with `kernel`, once the inner dimensions are known to agree.
fn stream<K: Kernel>(kernel: K, a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    stream_on(kernel, a, b, crate::machine::Caches::detect())
}

/// [`stream`] on a machine with `caches`.
fn stream_on<K: Kernel>(
    kernel: K,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    caches: crate::machine::Caches,
) -> Array2<f32> {
    let (m, k) = a.dim();
    let n = b.ncols();
    let mut c = if m < SMALL_OUTPUT_ROWS {
        zeros_filled(m, n)
    } else {
        crate::buffers::zeroed_output(m, n)
    };
    if m == 0 || n == 0 || k == 0 {
        return c; // a sum of nothing is zero
    }
    let a = a.as_standard_layout();
    let a = a.as_slice().expect("a standard-layout array is contiguous");
    let out = c.as_slice_mut().expect("a new array is contiguous");
    let costs = Costs::of::<K>();
    if takes_whole_rows::<K>(m, b, caches) {
        let group = one_row_group(K::ONE_ROW, n, caches);
        whole_rows(kernel, a, (m, k), b, out, n, one_row_threads(k, n), group);
    } else if takes_many_rows(costs, caches, m, b) {
        many_rows(kernel, a, k, b, out, n);
    } else {
        few_rows(kernel, a, k, b, out, n);
    }
    c
}

/// Whether `a @ b`, `a` of `m` rows, takes the many-rows path of a kernel of `costs`, on a
/// machine of `caches`. In this order:
///
/// 1. Rows enough for the many-rows path to share them among threads ([`shares_rows`]):
///    always. The few-rows path runs on one core.
/// 2. `k` shorter than two registers: never. Padding each column of `bᵀ` to whole registers
///    and the sum across the lanes of each output cost more than they save.
/// 3. A `b` whose columns are contiguous ([`columns_contiguous`]), such as a linear layer's
///    weights kept as `(outputs, inputs)`, as PyTorch keeps them, and passed as `w.t()`:
///    always. The few-rows kernel would read it only after copying it to row-major, a
///    transposition that costs several times the five-image product, where packing `bᵀ`
///    copies each column whole.
/// 4. More columns than one call of the few-rows kernel computes ([`COLUMNS_PER_ROW`]), and
///    an `a` of half of L2 or more: always. The few-rows path reads all of `a` again for each
///    further [`COLUMNS_PER_ROW`] columns, and such an `a` does not stay in L2 from one to
///    the next; the many-rows path reads each row once per group of rows, while it is still
///    in cache.
/// 5. Otherwise, when the FMAs the many-rows path saves over the `m` rows pay for packing
///    `bᵀ` ([`Costs`]): where the few-rows kernel leaves more of its lanes empty than the
///    many-rows tile does. With 16 lanes, 8 columns fill half of every few-rows register and
///    80% of a tile of 10, so packing pays from a few dozen rows; 10 or 16 columns fill every
///    few-rows lane (the lesson's weights), so it never does.
// Inlined into each kernel's driver, where the kernel's counts are constants: out of line, it
// took a call and an indirect one (for `scale_lanes`), a few nanoseconds of the five-image
// product.
#[inline(always)]
fn takes_many_rows(
    costs: Costs,
    caches: crate::machine::Caches,
    m: usize,
    b: ArrayView2<'_, f32>,
) -> bool {
    let (k, n) = b.dim();
    if shares_rows(m, k) {
        return true;
    }
    if k < 2 * costs.lanes {
        return false;
    }
    let a_bytes = m.saturating_mul(k).saturating_mul(size_of::<f32>());
    if columns_contiguous(b) || (n > COLUMNS_PER_ROW && a_bytes >= caches.l2 / 2) {
        return true;
    }
    let (few, many) = (costs.few_rows(k, n), costs.many_rows(k, n));
    let packing = k.saturating_mul(n).saturating_mul(PACK_FMAS);
    few > many && m.saturating_mul(few - many) >= packing
}

/// What [`takes_many_rows`] counts for a kernel: its lanes, the columns of its many-rows
/// tile, and the lanes its few-rows kernel spends ([`Kernel::scale_lanes`]). The costs are
/// FMA instructions per row of `a`, with the sums across lanes counted as FMAs; the loads are
/// left out.
#[derive(Clone, Copy, Debug)]
struct Costs {
    lanes: usize,
    dot_columns: usize,
    scale_lanes: fn(usize, bool) -> usize,
}

impl Costs {
    /// The counts for kernel `K`.
    #[inline(always)]
    fn of<K: Kernel>() -> Costs {
        Costs {
            lanes: K::LANES,
            dot_columns: K::DOT_COLUMNS,
            scale_lanes: K::scale_lanes,
        }
    }

    /// FMAs per row of `a` on the few-rows path: for each step of `k`, the lanes the kernel
    /// spends on each pass of up to [`COLUMNS_PER_ROW`] columns, in registers.
    #[inline(always)]
    fn few_rows(self, k: usize, n: usize) -> usize {
        // `b` as the few-rows path reads it: row-major, rows of `n` floats.
        let lanes: usize = (0..n)
            .step_by(COLUMNS_PER_ROW)
            .map(|j| {
                let nc = (n - j).min(COLUMNS_PER_ROW);
                (self.scale_lanes)(nc, kernel::ten_float_rows(n, nc))
            })
            .sum();
        k.saturating_mul(lanes) / self.lanes
    }

    /// FMAs per row of `a` on the many-rows path: every column of its tiles, the padding
    /// included, over `k` in whole registers, and the sum across the lanes of each
    /// ([`Costs::reduce`]).
    fn many_rows(self, k: usize, n: usize) -> usize {
        let columns = n.div_ceil(self.dot_columns) * self.dot_columns;
        columns.saturating_mul(padded(k, self.lanes) / self.lanes + self.reduce())
    }

    /// The many-rows path's sum across the lanes of one output's register: a shuffle and an
    /// add per halving of the lanes (four halvings for 16), each counted as one FMA, since
    /// they wait on each other where the FMAs of a row do not.
    fn reduce(self) -> usize {
        self.lanes.ilog2() as usize
    }
}

/// `k` padded to whole registers of `lanes`: the length of each packed column of `bᵀ`.
fn padded(k: usize, lanes: usize) -> usize {
    k.div_ceil(lanes) * lanes
}

/// Whether the many-rows path hands the rows of an `(m, k)` `a` to the helper threads (where
/// the machine has more than one core): from [`PARALLEL_ELEMENTS`] elements, and more than
/// [`BLOCK_ROWS`] rows.
///
/// Why not from fewer rows: rule 1 of [`takes_many_rows`] sends such a product to the many-rows
/// path, which reads all of `bᵀ` for every group of rows, where the few-rows path reads `b` once
/// for every [`Kernel::SCALE_ROWS`] rows. With a long `k`, `bᵀ` outgrows L1, and two threads do not
/// make up for that: on the Intel Xeon this was measured on, 8 rows of 40,000 and 64 rows of 4096
/// were both clearly slower when shared than on one thread's few-rows path, and a few hundred rows
/// of the lesson's 784 were faster in some runs and not in others, as the helper thread started in
/// time or did not.
fn shares_rows(m: usize, k: usize) -> bool {
    m.saturating_mul(k) >= PARALLEL_ELEMENTS && m > BLOCK_ROWS
}

/// A zeroed `(m, n)` array for an output of fewer than [`SMALL_OUTPUT_ROWS`] rows, allocated
/// and then filled.
///
/// [`Array2::zeros`] asks the allocator for memory that is zero already (`calloc`), which is
/// what a large output wants: fresh pages from the system are zero, and nothing has to write
/// them twice. A small output is served from the allocator's free lists instead, where the
/// glibc this was measured with serves `calloc` without the per-thread cache that its `malloc`
/// keeps, and clears the block itself. On the five-image product, whose output is 50 floats,
/// allocating and filling them took clearly less time per call than `calloc` on that Linux
/// machine. (Should a compiler turn the two steps back into one `calloc`, the output is just as
/// zero.) Filling costs one pass over an output of fewer than [`SMALL_OUTPUT_ROWS`] rows:
/// little beside the reads of `b`, all of it at least once, unless `k` is tiny.
fn zeros_filled(m: usize, n: usize) -> Array2<f32> {
    let mut zeros: Vec<f32> = Vec::with_capacity(m * n);
    // A short output can still be large (`(32, 40000)`): asked for huge pages, as others are.
    crate::buffers::advise_huge_pages(zeros.as_ptr().cast(), m * n * size_of::<f32>());
    zeros.resize(m * n, 0.0);
    Array2::from_shape_vec((m, n), zeros).expect("m · n floats make an (m, n) array")
}

/// Columns of `b` from which a single row of `a` (or a few, with a `b` beyond L3) takes the
/// whole-rows path ([`takes_whole_rows`]): four of AVX-512's registers, two of its GEMM tiles.
/// From there on, on the Intel Xeon this was measured on, the path took less time for one row
/// than what `blas` ran before (the GEMM with AVX-512, the few-rows path with AVX2); narrower,
/// it was not measured against the few-rows path, which computes such a row in a few passes of
/// 16 columns. For a few rows the same bound holds, unmeasured below 2048 columns.
pub(crate) const ONE_ROW_FROM_COLUMNS: usize = 4 * COLUMNS_PER_ROW;

/// Whether `a @ b`, `a` of `m` rows, takes the whole-rows path: a `b` of at least
/// [`ONE_ROW_FROM_COLUMNS`] columns whose columns are not contiguous (such a `b`, a linear
/// layer's weights passed as `w.t()`, goes to the many-rows path, which copies each column
/// whole; any other layout is copied to row-major first), a kernel with a whole-rows kernel of
/// its own ([`Kernel::ONE_ROW`]), and a single row of `a`, or a few (at most the few-rows path's
/// [`Kernel::SCALE_ROWS`]) with a `b` larger than L3 ([`b_beyond_l3`]).
fn takes_whole_rows<K: Kernel>(
    m: usize,
    b: ArrayView2<'_, f32>,
    caches: crate::machine::Caches,
) -> bool {
    // Every row count the rule may send here, the kernels take at once.
    const { assert!(K::ONE_ROW.is_none() || K::SCALE_ROWS <= kernel::WHOLE_ROWS_MOST) };
    K::ONE_ROW.is_some()
        && b.ncols() >= ONE_ROW_FROM_COLUMNS
        && !columns_contiguous(b)
        && (m == 1 || (m <= K::SCALE_ROWS && whole_rows_of_b(b.view(), caches)))
}

/// Whether a few rows of `a` take the whole-rows path with this `b`: one larger than L3
/// ([`b_beyond_l3`]), row-major and contiguous (any other layout would first be copied whole,
/// a write and a read of more than L3 on every product, where the GEMM packs it as it goes).
pub(crate) fn whole_rows_of_b(b: ArrayView2<'_, f32>, caches: crate::machine::Caches) -> bool {
    b.is_standard_layout() && b_beyond_l3(b.len(), caches)
}

/// Whether a `b` of `elements` floats is larger than L3, so that a product that reads it once
/// reads it from memory: there the GEMM's slivers, two lines of each row of `b` a row apart
/// (for `n` = 4096, a page apart), read memory at about half the speed of whole rows, and a
/// few rows of `a` take the whole-rows path. On the AMD Zen 4 this was measured on (L3 of
/// 32 MiB), `(8, 4096) @ (4096, 4096)` took the GEMM about twice as long as a read of all of
/// `b` by whole rows, and so did `(8, 256) @ (256, 65536)`, whose rows of sums (2 MiB a
/// thread) no longer fit in L2; where `b` fits in L3, the GEMM was as fast or faster
/// (`(8, 1024) @ (1024, 4096)`, `(8, 784) @ (784, 1000)`).
pub(crate) fn b_beyond_l3(elements: usize, caches: crate::machine::Caches) -> bool {
    elements.saturating_mul(size_of::<f32>()) > caches.l3
}

/// Threads for the one-row path on a `b` of `k` rows of `n`: each takes at least
/// [`PARALLEL_ELEMENTS`] elements of `b`, and there are at most as many as cores and rows.
fn one_row_threads(k: usize, n: usize) -> usize {
    let parts = k.saturating_mul(n) / PARALLEL_ELEMENTS;
    crate::pool::cores().min(parts).min(k).max(1)
}

/// Rows of `b` the one-row kernel adds into each register of `c` at a time, for rows of `n`
/// floats: its most (`most`, [`Kernel::ONE_ROW`]), halved while the rows, at one column, have
/// more lines in one set of L1 than it has ways
/// ([`Caches::rows_in_first_l1_set`](crate::machine::Caches::rows_in_first_l1_set)).
///
/// The kernel reads its rows side by side, one line of each at the same column, and the
/// hardware prefetcher asks for the next lines of each ahead. Rows a power of two of bytes
/// apart — 1024 floats and any multiple — put all their lines in one set: 16 of them in an L1
/// of 8 or 12 ways evict each other's lines, the prefetched ones first. On the AMD Zen 4 this
/// was measured on (8 ways, two cores, medians of 150 rounds in each of four processes),
/// `(1, 1024) @ (1024, 1024)` and `(1, 784) @ (784, 4096)` took less than half as long 8 rows at
/// a time as 16, and `(1, 4096) @ (4096, 4096)`, from memory, a quarter less. `(1, 3000) @
/// (3000, 3000)`, whose rows spread, took longer 8 (by a tenth) and 4 (by a quarter) at a time
/// than 16.
///
/// ```text
/// most 16, n = 1000 → 16 (4000 bytes apart: every row in a set of its own)
/// most 16, n = 1024 → 8 on 8 or 12 ways (all 16 in one set)
/// ```
fn one_row_group(most: Option<usize>, n: usize, caches: crate::machine::Caches) -> usize {
    let mut group = most.unwrap_or(1).max(1);
    while group > 1 && caches.rows_in_first_l1_set(group, n * size_of::<f32>()) > caches.l1_ways {
        group /= 2;
    }
    group
}

/// The whole-rows path: `c = a @ b` for `a` of `m` rows, one or a few ([`takes_whole_rows`]),
/// as a sum of the rows of `b`, each scaled by its elements of `a` ([`Kernel::whole_rows`]).
/// Each element of `b` is used once for each row of `a`, in the same pass, so the product is a
/// read of `b`, and its speed that of the read. For one row of `a` the kernel reads 16 rows of
/// `b` at a time (8 with AVX2, and fewer where they share a set of L1: [`one_row_group`]), for
/// more up to [`WHOLE_ROWS_GROUP`](kernel::WHOLE_ROWS_GROUP), each from its start to its end, a
/// few streams in order that the hardware prefetcher follows; a GEMM's register tile reads two
/// lines of each of `k` rows, each in its own page, and jumps to the next tile.
///
/// Shared among the cores by the rows of `b` (the steps of `k`), each thread taking at least
/// [`PARALLEL_ELEMENTS`] elements of `b`: each thread sums its part of the rows, contiguous,
/// into rows of its own (`m` rows, each a line longer than `c`'s: in L1 for one, in L2 or
/// beyond for a few), and the rows are added at the end. A thread's part of `b` stays in its own L2 from one product to
/// the next where it fits. `threads` is [`one_row_threads`] and `group` [`one_row_group`] (the
/// tests pass others: the calling thread and the pool's helpers run any number of parts, and
/// the kernels any group).
#[expect(
    clippy::too_many_arguments,
    reason = "the product's parts and its two choices"
)]
fn whole_rows<K: Kernel>(
    kernel: K,
    a: &[f32],
    (m, k): (usize, usize),
    b: ArrayView2<'_, f32>,
    c: &mut [f32],
    n: usize,
    threads: usize,
    group: usize,
) {
    let b = b.as_standard_layout(); // a copy, unless `b` is row-major and contiguous
    let b = b.as_slice().expect("a standard-layout array is contiguous");
    let rows_of_a = |from: usize| Rows {
        data: &a[from..],
        ld: k,
        count: m,
    };
    if threads <= 1 && m == 1 {
        let c = RowsMut {
            data: c,
            ld: n,
            count: 1,
        };
        kernel.whole_rows(rows_of_a(0), b, n, c, group);
        return;
    }
    // Each thread's rows of `b`, and its rows of sums, zeroed (the buffer may hold an earlier
    // product's floats). Each row of sums starts on a line of its own, one line further into
    // its way of L1 than the row before: the kernel adds into a register of every row at once,
    // and rows a power of two apart, as `c`'s would be, would put those lines in one set of L1,
    // which the rows of `b` may fill already ([`one_row_group`]). On the AMD Zen 4 this was
    // measured on, `(8, 4096) @ (4096, 4096)` took less than half as long with the line between
    // rows as without it.
    let threads = threads.max(1);
    let steps = k.div_ceil(threads);
    let mut space = take_buffer();
    let line = crate::prefetch::FLOATS_PER_LINE;
    let row = n.next_multiple_of(line) + line;
    let sums = line_aligned(&mut space, threads * m * row);
    sums.fill(0.0);
    let parts = std::sync::Mutex::new(
        (0..k)
            .step_by(steps)
            .zip(b.chunks(steps * n))
            .zip(sums.chunks_mut(m * row)),
    );
    // Poisoning needs a panic inside `Iterator::next`, which slices do not do.
    let take = || parts.lock().expect("no panic while taking a part").next();
    crate::pool::run(threads, &|_| {
        while let Some(((from, b), y)) = take() {
            let y = RowsMut {
                data: y,
                ld: row,
                count: m,
            };
            kernel.whole_rows(rows_of_a(from), b, n, y, group);
        }
    });
    for sums in sums.chunks(m * row) {
        for (c, sums) in c.chunks_mut(n).zip(sums.chunks(row)) {
            for (c, &sum) in c.iter_mut().zip(sums) {
                *c += sum;
            }
        }
    }
    give_back(space);
}

/// The few-rows path: `b` read in place, [`COLUMNS_PER_ROW`] columns per pass, the rows in
/// blocks of [`Kernel::SCALE_ROWS`] (the last one shorter).
fn few_rows<K: Kernel>(
    kernel: K,
    a: &[f32],
    k: usize,
    b: ArrayView2<'_, f32>,
    c: &mut [f32],
    n: usize,
) {
    const {
        assert!(
            K::SCALE_ROWS >= 1 && K::SCALE_ROWS <= 8,
            "the ladder below goes to 8"
        )
    };
    let b = b.as_standard_layout();
    let b = b.as_slice().expect("a standard-layout array is contiguous");
    let m = a.len() / k;
    for j0 in (0..n).step_by(COLUMNS_PER_ROW) {
        let nc = (n - j0).min(COLUMNS_PER_ROW);
        let (b, c) = (&b[j0..], &mut c[j0..]);
        let mut i = 0;
        // One call of the kernel on `$rows` rows from row `i`, stored; `$rows` rows done.
        macro_rules! block {
            ($rows:literal) => {{
                let rows = &a[i * k..][..$rows * k];
                let sums = kernel.scale_rows::<$rows>(rows, k, b, n, nc);
                store(c, i, nc, n, sums, COLUMNS_PER_ROW)
            }};
        }
        while i < m {
            // A constant row count per call, so that the kernel's accumulators are registers.
            i += match (m - i).min(K::SCALE_ROWS) {
                1 => block!(1),
                2 => block!(2),
                3 => block!(3),
                4 => block!(4),
                5 => block!(5),
                6 => block!(6),
                7 => block!(7),
                _ => block!(8),
            };
        }
    }
}

/// The many-rows path: pack `bᵀ` once, then stream the rows of `a`, split across threads,
/// reading and asking for them as [`Reading::detect`] says.
fn many_rows<K: Kernel>(
    kernel: K,
    a: &[f32],
    k: usize,
    b: ArrayView2<'_, f32>,
    c: &mut [f32],
    n: usize,
) {
    let a_bytes = size_of_val(a);
    match Reading::detect::<K>(
        crate::machine::Caches::detect(),
        crate::pool::cores(),
        a_bytes,
    ) {
        Reading::OneRowNear => many_rows_reading::<K, 1, 1>(kernel, a, k, b, c, n),
        Reading::AskOnce => many_rows_reading::<K, 1, 0>(kernel, a, k, b, c, n),
        Reading::AskThrice => many_rows_reading::<K, 3, 0>(kernel, a, k, b, c, n),
    }
}

/// How the many-rows path reads the rows of `a`, by the CPU's maker, the kernel's tile and
/// where the rows come from. Every way asks for each line of the rows a group ahead
/// ([`PREFETCH_ROWS`]) into L2 ([`kernel::prefetch`]); they differ in what else.
///
/// Why ask more than once: a prefetch is a hint, which a core may drop when it already has as
/// many misses in flight as it can track, and then the line comes when the row is read, a
/// whole trip to memory later. On the AMD Zen 4 this was measured on, with both cores
/// streaming, asking for every line a second and a third time, closer to its use, made the
/// lesson's product clearly faster than asking once (and asking once was much faster than
/// not at all). On the Intel Xeon it was measured on, asking once was faster: there a
/// prefetch that misses L1 holds one of the core's few fill buffers until its line arrives,
/// the likely reason, so a second ask of a line already on its way takes a buffer that a
/// new line could have used.
///
/// Why one row a call: on that Intel Xeon, with the kernel that computes a whole pass of columns
/// per call (AVX-512's 10 columns), calls on one row, each line asked for again into L1
/// [`kernel::NEAR_BYTES`] before its read, took about a tenth off the lesson's product (each sample
/// paired with one of the read floor, binaries alternating), although a call then loads each line
/// of `bᵀ` for one row instead of two. One row a call without the ask into L1 took off most of
/// that; two rows a call with it, nothing. (The portable kernel's tile is one row already; the ask
/// into L1 made no difference to it.) With the kernels that take part of a pass per call (AVX2's 5
/// columns, and AVX-512's 5 columns for a smaller L1, forced on that machine), one row a call was
/// slower: such a kernel reads each row again for each part, and on one row it does more loads than
/// FMAs. And only where the rows come from memory ([`from_memory`]): from the last-level cache,
/// which delivered them nearly twice as fast, two rows a call were faster, by a tenth or more with
/// 3,000 to 4,500 rows of 784.
///
/// Every other CPU (AMD's, ARM64, …) keeps the three asks and the kernel's tile of rows; only
/// AMD's were measured, and only with that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    /// Intel, with a kernel that computes a whole pass per call, on rows from memory: one row
    /// a call on the first pass, each line asked for once into L2 a group ahead and once into
    /// L1 2 KiB ahead.
    OneRowNear,
    /// Intel otherwise: the kernel's rows per call, each line asked for once.
    AskOnce,
    /// Every other CPU: the kernel's rows per call, each line asked for three times, a group,
    /// half a group and a quarter of a group ahead.
    AskThrice,
}

impl Reading {
    /// The way for this CPU (of `caches`, `cores`), a kernel of `K`'s tile and an `a` of
    /// `a_bytes`.
    fn detect<K: Kernel>(caches: crate::machine::Caches, cores: usize, a_bytes: usize) -> Reading {
        let whole_pass = K::DOT_COLUMNS == COLUMNS_PER_PASS;
        match crate::machine::cpu_vendor() {
            Some("GenuineIntel") if whole_pass && from_memory(caches, cores, a_bytes) => {
                Reading::OneRowNear
            }
            Some("GenuineIntel") => Reading::AskOnce,
            _ => Reading::AskThrice,
        }
    }
}

/// How many times what the L2 caches of the cores hold an `a` must be for the many-rows path
/// to count its rows as coming from memory ([`from_memory`]).
const FROM_MEMORY_L2S: usize = 8;

/// Whether the rows of an `a` of `bytes` come from memory rather than from a cache, as far as
/// the caches a program can detect tell: where `a` is larger than L3, or than
/// [`FROM_MEMORY_L2S`] times what the L2 caches of `cores` cores hold, whichever is less (on
/// the Intel Xeon it was measured on, 2 cores of 2 MiB: 32 MB, about 10,000 rows of 784).
///
/// Why not by L3 alone, the cache that decides it: a virtual machine reports its host's whole
/// L3, of which its cores may get a small part. The Intel Xeon's reported 480 MiB, yet its
/// cores read 37 MB of rows nearly twice as fast as 157 MB (the lesson's 50,000 images). The
/// margin of 8 keeps the products that fit a real L3 of a few MB per core on the kernel's
/// tile: on that machine, one row a call made no difference with 12,000 and 20,000 rows of
/// 784, and was faster with 50,000. On a machine of many cores, whose L2 caches hold more
/// than its L3, L3 decides.
fn from_memory(caches: crate::machine::Caches, cores: usize, bytes: usize) -> bool {
    let l2s = caches.l2 / caches.l2_shared_by.max(1) * cores.max(1);
    bytes > FROM_MEMORY_L2S.saturating_mul(l2s).min(caches.l3)
}

/// [`many_rows`], asking for each line `FAR` times into L2, and (`NEAR == 1`) taking one row
/// a call on the first pass and asking for its lines again into L1.
fn many_rows_reading<K: Kernel, const FAR: usize, const NEAR: usize>(
    kernel: K,
    a: &[f32],
    k: usize,
    b: ArrayView2<'_, f32>,
    c: &mut [f32],
    n: usize,
) {
    // Each pass's columns, transposed and zero-padded to a whole number of the kernel's chunks
    // (so that it never reads a partial chunk of `bᵀ`) and to COLUMNS_PER_PASS columns.
    let kp = padded(k, K::LANES);
    let mut space = take_buffer();
    let bt = pack_bt(b, kp, &mut space);

    let threads = if shares_rows(a.len() / k, k) {
        crate::pool::cores()
    } else {
        1
    };
    let bt = &*bt;
    let work = move |a: &[f32], c: &mut [f32], next: &[f32]| {
        rows_block::<K, FAR, NEAR>(kernel, a, k, bt, kp, c, n, next);
    };
    if threads == 1 {
        work(a, c, &[]);
        give_back(space);
        return;
    }
    // The rows in blocks that the threads take in turn: a thread slowed down by anything else
    // on the machine takes fewer blocks instead of holding up the others at the end, and a
    // helper that starts late finds the blocks taken (the threads are the GEMM's helpers,
    // kept between products: the crate's module `pool`). Each thread takes its next block as
    // it starts on one, so that the end of a block can ask for the rows at the start of the
    // next.
    let rows = block_rows(a.len() / k, threads);
    let blocks = std::sync::Mutex::new(a.chunks(rows * k).zip(c.chunks_mut(rows * n)));
    // Poisoning needs a panic inside `Iterator::next`, which slices do not do.
    let take = || blocks.lock().expect("no panic while taking a block").next();
    crate::pool::run(threads, &|_| {
        let mut block = take();
        while let Some((a, c)) = block {
            block = take();
            work(a, c, block.as_ref().map_or(&[], |(next, _)| next));
        }
    });
    give_back(space);
}

/// Rows per block of an `a` of `m` rows shared among `threads` threads: [`BLOCK_ROWS`], or
/// fewer, so that there are at least [`BLOCKS_PER_THREAD`] blocks for each thread in all
/// (rounded down, and at least one row). The threads take them as they go.
///
/// Each thread takes a block ahead of the one it works on, so that it can ask for its rows
/// early. With 2048 rows in blocks of 1024, the first thread would take both blocks before a
/// helper started, and the product would run on one core.
fn block_rows(m: usize, threads: usize) -> usize {
    (m / (BLOCKS_PER_THREAD * threads.max(1))).clamp(1, BLOCK_ROWS)
}

/// `bᵀ` for the many-rows path in `space`: column `j` of `b` at `j · kp`, zero-padded to `kp`
/// steps and to whole passes of [`COLUMNS_PER_PASS`] columns, from a cache line's boundary
/// ([`line_aligned`] says why; each packed column starts on one too where `kp` is a whole
/// number of lines, always with AVX-512's 16 lanes).
///
/// `space` may be a buffer kept from an earlier product ([`take_buffer`]), with that product's
/// floats in it: zeros go wherever no element of `b` does. The AVX-512 and AVX2 kernels read
/// each column's steps past `k` (against lanes of `a` masked to zero, where a NaN left over
/// would still make a NaN); the columns past `n` are summed and never stored.
fn pack_bt<'s>(b: ArrayView2<'_, f32>, kp: usize, space: &'s mut Vec<f32>) -> &'s mut [f32] {
    let (k, n) = b.dim();
    let len = n.div_ceil(COLUMNS_PER_PASS) * COLUMNS_PER_PASS * kp;
    let bt = line_aligned(space, len);
    pack_columns(b, bt, kp);
    for column in bt.chunks_mut(kp).take(n) {
        column[k..].fill(0.0);
    }
    bt[n * kp..].fill(0.0);
    bt
}

/// Copies column `j` of `b` to `bt[j · kp..][..k]`, for every column.
///
/// Columns of unit stride (unit stride between rows, or a single row) are copied whole. Rows of
/// unit stride (the lesson's `b`) are transposed [`PACK_STEPS`] rows at a time: each row is
/// read once, and each column gets those steps as one contiguous run. (Column by column
/// instead, each column would read every row of `b` again for one float of it.) Any other
/// layout goes element by element.
fn pack_columns(b: ArrayView2<'_, f32>, bt: &mut [f32], kp: usize) {
    let (k, n) = b.dim();
    if b.strides()[0] == 1 || k == 1 {
        for (j, column) in b.columns().into_iter().enumerate() {
            let column = column.to_slice().expect("a column of unit stride");
            bt[j * kp..][..k].copy_from_slice(column);
        }
    } else if b.strides()[1] == 1 {
        for (chunk, p0) in b
            .axis_chunks_iter(Axis(0), PACK_STEPS)
            .zip((0..).step_by(PACK_STEPS))
        {
            if chunk.nrows() == PACK_STEPS {
                let rows: [&[f32]; PACK_STEPS] =
                    std::array::from_fn(|q| chunk.row(q).to_slice().expect("a row of unit stride"));
                for j in 0..n {
                    let run: &mut [f32; PACK_STEPS] = (&mut bt[j * kp + p0..][..PACK_STEPS])
                        .try_into()
                        .expect("a slice of PACK_STEPS floats");
                    for (packed, row) in run.iter_mut().zip(&rows) {
                        *packed = row[j];
                    }
                }
            } else {
                pack_each(chunk, &mut bt[p0..], kp);
            }
        }
    } else {
        pack_each(b, bt, kp);
    }
}

/// [`pack_columns`] element by element, for any strides.
fn pack_each(b: ArrayView2<'_, f32>, bt: &mut [f32], kp: usize) {
    for (p, row) in b.rows().into_iter().enumerate() {
        for (j, &value) in row.iter().enumerate() {
            bt[j * kp + p] = value;
        }
    }
}

/// Steps of `k` that [`pack_columns`] transposes at a time from a row-major `b`: 16 floats of
/// each column, 64 bytes.
const PACK_STEPS: usize = 16;

/// Whether `b` has several rows and columns, and unit stride between its rows, so that each
/// column is contiguous. (A single column or row is read in place by the few-rows kernel
/// whatever its layout: ndarray counts it as row-major when its elements are contiguous.)
pub(crate) fn columns_contiguous(b: ArrayView2<'_, f32>) -> bool {
    b.nrows() > 1 && b.ncols() > 1 && b.strides()[0] == 1
}

/// The many-rows path on one block of rows, with `bᵀ` packed: the rows in groups of
/// [`group_rows`], each group through every pass and group of columns while the next group's
/// rows are asked for.
#[allow(clippy::too_many_arguments)] // The contract of one block, as in a BLAS signature.
fn rows_block<K: Kernel, const FAR: usize, const NEAR: usize>(
    kernel: K,
    a: &[f32],
    k: usize,
    bt: &[f32],
    kp: usize,
    c: &mut [f32],
    n: usize,
    next: &[f32],
) {
    let group = group_rows::<K>(k);
    for (g, (rows, c)) in a.chunks(group * k).zip(c.chunks_mut(group * n)).enumerate() {
        // The next group's rows, which the calls on this one ask for; after the last group,
        // the first rows of the block this thread takes next.
        let ahead = a
            .get((g + 1) * group * k..)
            .filter(|ahead| !ahead.is_empty())
            .unwrap_or(next);
        // The first pass's groups of columns share the asking; later passes (a `b` wider than
        // a pass) read the same rows again, from cache, and ask for nothing more.
        let parts = n.min(COLUMNS_PER_PASS).div_ceil(K::DOT_COLUMNS);
        for j0 in (0..n).step_by(K::DOT_COLUMNS) {
            let nc = (n - j0).min(K::DOT_COLUMNS);
            let bt = &bt[j0 * kp..][..K::DOT_COLUMNS * kp];
            let ahead = match j0 < COLUMNS_PER_PASS {
                true => Ahead {
                    rows: ahead,
                    part: j0 / K::DOT_COLUMNS,
                    parts,
                    again: true,
                },
                false => Ahead {
                    rows: &[],
                    part: 0,
                    parts: 1,
                    again: false,
                },
            };
            dot_rows::<K, FAR, NEAR>(kernel, rows, k, bt, kp, nc, &mut c[j0..], n, ahead);
        }
    }
}

/// What the calls on one group of rows ask the memory system for, as they go.
#[derive(Clone, Copy, Debug)]
struct Ahead<'a> {
    /// The rows ahead: the next group's, or the first rows of the thread's next block; empty
    /// for none.
    rows: &'a [f32],
    /// Which of the `parts` groups of columns that run on these rows this is.
    part: usize,
    /// How many of the pass's groups of columns run on these rows: all of them, but for a `b`
    /// narrower than a pass.
    parts: usize,
    /// Whether to ask for each line again, nearer to its read: on the first pass, whose calls
    /// read the rows from memory, not on later ones (a `b` wider than a pass), whose asks all
    /// fall back to the call's own rows.
    again: bool,
}

/// One group of columns of the many-rows path over a group of rows: `c[i, j] = Σ_p a[i, p] ·
/// bᵀ[j, p]` for every row `i` of `a` and `j < nc`, [`Kernel::DOT_ROWS`] rows per call (the
/// last call fewer), or one, on the first pass of a [`Reading::OneRowNear`].
///
/// Each call asks for its share of the rows ahead: of the `ROWS · k` floats there that match
/// its rows, the pass's groups of columns ask in turn, in memory order — the calls of group 0
/// for the first part of the rows ahead, those of group 1 for the next — so that the
/// requests go out as one stream, each line about a group of rows before it is read. With
/// three asks ([`Reading::AskThrice`]), on the first pass the same stream is asked for twice
/// more, behind the first, at about half and a quarter of that distance; with the ask into L1
/// ([`Reading::OneRowNear`]), a call's own row is asked for again, [`kernel::NEAR_BYTES`]
/// ahead of its reads (in this group's rows: the first lines of the next group are not).
/// Where `b` is
/// narrower than a pass, the last group that runs also asks for the shares of the groups
/// that do not. Where the rows ahead are used up, a call asks for its own rows (already in
/// cache: a wasted hint).
#[allow(clippy::too_many_arguments)] // The contract of one call, as in a BLAS signature.
fn dot_rows<K: Kernel, const FAR: usize, const NEAR: usize>(
    kernel: K,
    a: &[f32],
    k: usize,
    bt: &[f32],
    kp: usize,
    nc: usize,
    c: &mut [f32],
    ldc: usize,
    ahead: Ahead<'_>,
) {
    const {
        assert!(
            K::DOT_ROWS >= 1 && K::DOT_ROWS <= 4,
            "the ladder below goes to 4"
        );
        assert!(
            K::DOT_COLUMNS >= 1 && COLUMNS_PER_PASS.is_multiple_of(K::DOT_COLUMNS),
            "a pass is a whole number of the kernel's groups of columns"
        );
    };
    let groups = COLUMNS_PER_PASS / K::DOT_COLUMNS;
    let m = a.len() / k;
    // Where each line of the rows ahead is asked for, along the stream of asks: first a
    // group's worth of rows ahead of the calls that ask, then (with three asks) half and
    // three quarters of a group's floats later, when it is half and a quarter as far from
    // being read: ask `s` lags `1 − 2⁻ˢ` of a group behind the first. The pass's
    // `groups` groups of columns ask for the rows ahead in turn, but the rows are read in
    // the first of them, so the asks move through the rows `groups` times slower than the
    // reads: the lags shrink by as much. Later passes read the rows from cache: there the
    // asks are the same wasted hint, a call's own rows (they have no rows ahead).
    let lags: [usize; FAR] = std::array::from_fn(|s| match ahead.again {
        true => (a.len() - (a.len() >> s)) / groups,
        false => 0,
    });
    let mut i = 0;
    // One call of the kernel on `$rows` rows from row `i`, stored; `$rows` rows done.
    macro_rules! block {
        ($rows:literal) => {{
            let rows = &a[i * k..][..$rows * k];
            let len = $rows * k / groups;
            // Group `q`'s share of the rows ahead of this call's, `lag` floats back along the
            // stream of asks (see `lags`). A position counts from the start of this group's
            // rows, followed by the rows ahead; a share across the two (or past the end) is
            // not asked for.
            let share = |q: usize, lag: usize| {
                let from = a.len() + (q * m + i) * k / groups - lag; // `lag ≤ a.len()`
                match from.checked_sub(a.len()) {
                    None => a.get(from..from + len),
                    Some(from) => ahead.rows.get(from..from + len),
                }
            };
            // This call's rows from `NEAR_BYTES` on, as far as this group's rows go, on the
            // first pass; later passes read the rows from cache (their own rows: a wasted hint).
            let near = a
                .get(i * k + kernel::NEAR_BYTES / size_of::<f32>()..)
                .filter(|_| ahead.again);
            let asks = kernel::Asks::<'_, FAR, NEAR> {
                far: std::array::from_fn(|s| share(ahead.part, lags[s]).unwrap_or(&rows[..len])),
                near: [near
                    .and_then(|near| near.get(..len))
                    .unwrap_or(&rows[..len]); NEAR],
            };
            let sums = kernel.dot_columns::<$rows, FAR, NEAR>(rows, k, bt, kp, asks);
            if ahead.part + 1 == ahead.parts {
                for q in ahead.parts..groups {
                    for slice in lags.iter().filter_map(|&lag| share(q, lag)) {
                        kernel::ask(slice, 0, slice.len());
                    }
                }
            }
            store(c, i, nc, ldc, sums, K::DOT_COLUMNS)
        }};
    }
    // One row a call where the rows come from memory and the CPU reads them so ([`Reading`]).
    let per_call = match NEAR == 1 && ahead.again {
        true => 1,
        false => K::DOT_ROWS,
    };
    while i < m {
        i += match (m - i).min(per_call) {
            1 => block!(1),
            2 => block!(2),
            3 => block!(3),
            _ => block!(4),
        };
    }
}

/// Rows the many-rows path takes through each of the kernel's groups of columns before it
/// moves on, when rows are `k` long: [`PREFETCH_ROWS`], or fewer where that many rows would
/// take more than a quarter of L2 (they are read once per group of columns, and the next
/// rows arrive meanwhile), but at least one call's worth, and a whole number of calls.
fn group_rows<K: Kernel>(k: usize) -> usize {
    let row_bytes = k * size_of::<f32>();
    let fit = crate::machine::Caches::detect().l2 / 4 / row_bytes.max(1);
    (fit / K::DOT_ROWS * K::DOT_ROWS).clamp(K::DOT_ROWS, PREFETCH_ROWS.max(K::DOT_ROWS))
}

/// Stores the first `nc` columns of a kernel's `ROWS` rows of sums into `c` from row `i` on
/// (row `i` at `c[i * ldc..]`); returns `ROWS`, the rows done. `whole` is the most columns
/// the kernel's call computes (a constant where the driver calls this): when `nc` is that
/// many, or a pass of [`COLUMNS_PER_PASS`] (the lesson's 10 columns, which the few-rows
/// kernels compute in rows of 16), each row is a copy of known length, a few moves, where `nc`
/// elements would be a call to `memmove` per row. (Each length has a loop of its own: with the
/// three copies in one loop, the compiler made them one call to `memmove` of a chosen length.)
#[inline(always)]
fn store<const COLUMNS: usize, const ROWS: usize>(
    c: &mut [f32],
    i: usize,
    nc: usize,
    ldc: usize,
    sums: [[f32; COLUMNS]; ROWS],
    whole: usize,
) -> usize {
    let mut copy = |width: usize| {
        for (r, sums) in sums.iter().enumerate() {
            c[(i + r) * ldc..][..width].copy_from_slice(&sums[..width]);
        }
    };
    if nc == whole {
        copy(whole);
    } else if nc == COLUMNS_PER_PASS {
        copy(COLUMNS_PER_PASS);
    } else {
        copy(nc);
    }
    ROWS
}

/// Runs every kernel this CPU can run through the driver, on both paths, for the tests: every
/// instruction set must give the same answer, whichever one `matmul` picks here.
#[cfg(test)]
mod tests {
    use super::*;
    use matmul_data::{reference_matmul, relative_error, synthetic};

    /// `a @ b` by one path of the driver with `kernel`, whatever the number of rows.
    fn by_path<K: Kernel>(
        kernel: K,
        many: bool,
        a: ArrayView2<'_, f32>,
        b: ArrayView2<'_, f32>,
    ) -> Array2<f32> {
        let (m, k) = a.dim();
        let n = b.ncols();
        let mut c = Array2::zeros((m, n));
        let a = a.as_standard_layout();
        let (a, out) = (a.as_slice().unwrap(), c.as_slice_mut().unwrap());
        if many {
            many_rows_reading::<K, 3, 0>(kernel, a, k, b, out, n);
            // Asking for lines is a hint, and each row's sums are its own: asking once, and
            // reading one row a call, must give the very same sums.
            let mut once = vec![f32::NAN; out.len()];
            many_rows_reading::<K, 1, 0>(kernel, a, k, b, &mut once, n);
            let mut one_row = vec![f32::NAN; out.len()];
            many_rows_reading::<K, 1, 1>(kernel, a, k, b, &mut one_row, n);
            for (reading, sums) in [("asking once", &once), ("one row a call", &one_row)] {
                assert!(
                    sums.iter()
                        .zip(&*out)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{reading} changed the sums"
                );
            }
        } else {
            few_rows(kernel, a, k, b, out, n);
        }
        c
    }

    /// Checks both paths of the driver with `kernel` against float64 on awkward shapes: row
    /// counts that the kernels' row blocks do not divide, `k` that the lane widths do not
    /// divide, one column, a column count that is neither a pass of 10 nor a row of 16, 12
    /// and 13 (either side of NEON's three registers a row), and one (26) whose second row of
    /// 16 is 10 columns that are not a contiguous `b`.
    fn check_kernel<K: Kernel>(name: &str, kernel: K) {
        for m in [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 67] {
            for k in [1, 5, 8, 15, 17, 24, 33, 100] {
                for n in [1, 3, 10, 11, 12, 13, 16, 17, 21, 26, 33] {
                    let a = synthetic::uniform(m, k, 1);
                    let b = synthetic::uniform(k, n, 2);
                    let exact = reference_matmul(a.view(), b.view());
                    for many in [false, true] {
                        let c = by_path(kernel, many, a.view(), b.view());
                        let error = relative_error(&c, &exact);
                        assert!(
                            error < 1e-5,
                            "{name} many={many} ({m}, {k}) @ ({k}, {n}): relative error {error:e}"
                        );
                    }
                    for group in groups::<K>().filter(|_| m <= whole_rows_most::<K>()) {
                        let c = by_whole_rows(kernel, a.view(), b.view(), 1, group);
                        let error = relative_error(&c, &exact);
                        assert!(
                            error < 1e-5,
                            "{name} whole rows ({m}, {k}) @ ({k}, {n}) by {group}: relative \
                             error {error:e}"
                        );
                    }
                }
            }
        }
        // Large enough to be split across threads, in blocks of rows whose last one is short
        // and odd (with any number of cores), a k that no lane width divides, two passes of
        // columns.
        let a = synthetic::uniform(2 * BLOCK_ROWS + 301, 121, 3);
        assert!(a.len() >= PARALLEL_ELEMENTS);
        let b = synthetic::uniform(121, 13, 4);
        let c = stream(kernel, a.view(), b.view());
        let error = relative_error(&c, &reference_matmul(a.view(), b.view()));
        assert!(error < 1e-5, "{name} threaded: relative error {error:e}");
        // A few rows with a `b` beyond L3 (an L3 of 64 KiB here), through the choice of path:
        // whole rows, shared among the cores, for a row-major `b`; for one with a column
        // stride, the few-rows path.
        let small_l3 = crate::machine::Caches {
            l3: 64 << 10,
            ..crate::machine::Caches::detect()
        };
        let wide = synthetic::uniform(300, 2 * 130, 7);
        for m in [2, whole_rows_most::<K>()] {
            let a = synthetic::uniform(m, 300, 8);
            for b in [wide.view(), wide.slice(ndarray::s![.., ..;2])] {
                let c = stream_on(kernel, a.view(), b, small_l3);
                let error = relative_error(&c, &reference_matmul(a.view(), b));
                assert!(
                    error < 1e-5,
                    "{name} {m} rows beyond L3, strides {:?}: relative error {error:e}",
                    b.strides()
                );
            }
        }
        // One row of `a`, and the most the whole-rows path takes, their `b` shared among one
        // to three threads, in parts that no group of the kernel's steps divides; a `b` whose
        // rows are apart (copied first); NaN and infinity in `a`, which must reach `c`.
        let wide = synthetic::uniform(1001, 2 * 300 + 7, 6);
        let b = wide.slice(ndarray::s![.., 3..3 + 300]);
        for m in [1, whole_rows_most::<K>()] {
            let mut a = synthetic::uniform(m, 1001, 5);
            let exact = reference_matmul(a.view(), b);
            for threads in 1..=3 {
                for group in groups::<K>() {
                    let c = by_whole_rows(kernel, a.view(), b, threads, group);
                    let error = relative_error(&c, &exact);
                    assert!(
                        error < 1e-5,
                        "{name} {m} whole rows on {threads} threads by {group}: relative error \
                         {error:e}"
                    );
                }
            }
            let most = K::ONE_ROW.unwrap_or(1);
            a[[m - 1, 17]] = f32::INFINITY;
            let c = by_whole_rows(kernel, a.view(), b, 2, most);
            assert!(
                c.row(m - 1).iter().all(|c| !c.is_finite()),
                "{name} {m} whole rows: ∞ · x + … is lost"
            );
            a[[m - 1, 500]] = f32::NAN;
            let c = by_whole_rows(kernel, a.view(), b, 2, most);
            assert!(
                c.row(m - 1).iter().all(|c| c.is_nan()),
                "{name} {m} whole rows: NaN · x + … is lost"
            );
            let error = relative_error(
                &c.slice(ndarray::s![..m - 1, ..]),
                &exact.slice(ndarray::s![..m - 1, ..]),
            );
            assert!(
                error < 1e-5,
                "{name} {m} whole rows: a NaN in the last row reached another ({error:e})"
            );
        }
    }

    /// The most rows of `a` `K`'s whole-rows path takes: its few-rows path's (which
    /// `takes_whole_rows` checks are within what the kernels take at once).
    fn whole_rows_most<K: Kernel>() -> usize {
        K::SCALE_ROWS
    }

    /// The groups of rows `K`'s one-row path takes ([`one_row_group`]): every power of two up
    /// to its most (1 for the trait's default).
    fn groups<K: Kernel>() -> impl Iterator<Item = usize> {
        let most = K::ONE_ROW.unwrap_or(1);
        (0..=most.ilog2()).map(|power| 1 << power)
    }

    /// `a @ b` by the whole-rows path with `kernel` (its own `whole_rows`, or the trait's default
    /// in plain Rust) on `threads` threads, `group` rows of `b` at a time.
    fn by_whole_rows<K: Kernel>(
        kernel: K,
        a: ArrayView2<'_, f32>,
        b: ArrayView2<'_, f32>,
        threads: usize,
        group: usize,
    ) -> Array2<f32> {
        let ((m, k), n) = (a.dim(), b.ncols());
        let mut c = Array2::zeros((m, n));
        let a = a.as_standard_layout();
        let (a, out) = (a.as_slice().unwrap(), c.as_slice_mut().unwrap());
        whole_rows(kernel, a, (m, k), b, out, n, threads, group);
        c
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_few_rows_take_the_whole_rows_path_only_with_a_b_beyond_l3() {
        use crate::machine::Caches;
        type Avx512 = avx512::Avx512<COLUMNS_PER_PASS>;
        // An L3 of 64 KiB: a `b` of 128 × 256 floats (128 KiB) is beyond it, 64 × 64 is not.
        let caches = Caches {
            l3: 64 << 10,
            ..Caches::DEFAULT
        };
        let (large, small) = (Array2::zeros((128, 256)), Array2::zeros((64, 64)));
        let most = <Avx512 as Kernel>::SCALE_ROWS;
        assert!(takes_whole_rows::<Avx512>(1, small.view(), caches)); // one row: any size
        assert!(!takes_whole_rows::<Avx512>(2, small.view(), caches));
        assert!(takes_whole_rows::<Avx512>(2, large.view(), caches));
        assert!(takes_whole_rows::<Avx512>(most, large.view(), caches));
        assert!(!takes_whole_rows::<Avx512>(most + 1, large.view(), caches));
        assert!(!takes_whole_rows::<Avx512>(2, large.t(), caches)); // columns contiguous
        assert!(!takes_whole_rows::<Portable>(1, large.view(), caches)); // no path of its own
    }

    #[test]
    fn the_one_row_path_takes_fewer_rows_at_a_time_where_they_share_a_set_of_l1() {
        use crate::machine::Caches;
        let zen4 = Caches {
            l1: 32 << 10,
            l1_ways: 8,
            ..Caches::DEFAULT
        };
        let xeon = Caches {
            l1: 48 << 10,
            l1_ways: 12,
            ..Caches::DEFAULT
        };
        for caches in [zen4, xeon] {
            assert_eq!(one_row_group(Some(16), 1000, caches), 16); // spread
            assert_eq!(one_row_group(Some(16), 1024, caches), 8); // one set: 8 ≤ 8, 12
            assert_eq!(one_row_group(Some(16), 4096, caches), 8);
            assert_eq!(one_row_group(Some(8), 2048, caches), 8);
            assert_eq!(one_row_group(None, 1024, caches), 1);
        }
        // 512 floats: every other row in the first set, 8 of 16.
        assert_eq!(one_row_group(Some(16), 512, zen4), 16);
        // An L1 of 4 ways of 4 KiB: 4 rows; of 4 ways of 8 KiB: every other row in one set.
        let small = Caches {
            l1: 16 << 10,
            l1_ways: 4,
            ..zen4
        };
        assert_eq!(one_row_group(Some(16), 1024, small), 4);
        let wider = Caches {
            l1: 32 << 10,
            ..small
        };
        assert_eq!(one_row_group(Some(16), 1024, wider), 8);
    }

    #[test]
    fn portable_kernel_agrees_with_float64() {
        check_kernel("portable", Portable);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_kernel_agrees_with_float64() {
        match avx2::Avx2::new() {
            Some(kernel) => check_kernel("avx2", kernel),
            None => eprintln!("no AVX2 and FMA on this CPU: nothing to check"),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_kernel_agrees_with_float64() {
        match avx512::Avx512::new() {
            Some(kernel) => {
                check_kernel("avx512, 5 columns per call", kernel);
                check_kernel("avx512, 10 columns per call", kernel.whole_pass());
                // Both loops for the lesson's weights, whichever this core's is.
                for halves in [false, true] {
                    match kernel.with_halves(halves) {
                        Some(kernel) => check_kernel(
                            &format!("avx512, 10 columns per call, halves {halves}"),
                            kernel.whole_pass(),
                        ),
                        None => eprintln!("no AVX-512VL on this CPU: no halves to check"),
                    }
                }
            }
            None => eprintln!("no AVX-512F on this CPU: nothing to check"),
        }
    }

    /// The lesson's 50,000 images come from memory on a machine of two cores with 2 MiB of
    /// L2 each that reports a huge L3 (a virtual machine), on one of 16 threads with 1 MiB of
    /// L2 shared by two each, and on one of 32 cores whose L2 caches hold more than its L3;
    /// 4,000 of them do not; nor does any `a` that the smaller of L3 and eight times the
    /// cores' L2 caches holds.
    #[test]
    fn rows_from_memory_are_counted_by_the_caches() {
        let caches = |l2, l2_shared_by, l3| crate::machine::Caches {
            l1: 48 << 10,
            l2,
            l3,
            l1_ways: 12,
            l2_ways: 16,
            l2_shared_by,
        };
        let rows = |m: usize| m * 784 * size_of::<f32>();
        let vm = caches(2 << 20, 1, 480 << 20);
        assert!(from_memory(vm, 2, rows(50_000)));
        assert!(!from_memory(vm, 2, rows(4_000)));
        let desktop = caches(1 << 20, 2, 16 << 20);
        assert!(from_memory(desktop, 16, rows(50_000)));
        assert!(!from_memory(desktop, 16, rows(4_000)));
        let server = caches(2 << 20, 1, 60 << 20);
        assert!(from_memory(server, 32, rows(50_000)));
        assert!(!from_memory(server, 32, rows(15_000)));
        let l2s = 2 * (2 << 20);
        assert!(!from_memory(vm, 2, FROM_MEMORY_L2S * l2s));
        assert!(from_memory(vm, 2, FROM_MEMORY_L2S * l2s + 1));
    }

    /// `pack_columns` puts column `j` of `b` at `j · kp`, whatever `b`'s layout, on `k` below,
    /// at and past its steps of [`PACK_STEPS`] rows, and writes nothing else.
    #[test]
    fn packing_copies_every_column_of_every_layout() {
        use ndarray::{ShapeBuilder, s};
        let steps = PACK_STEPS;
        let sizes = [
            (1, 1),
            (1, 10),
            (5, 1),
            (steps, 10),
            (steps + 1, 3),
            (2 * steps + 5, 7),
        ];
        for (k, n) in sizes {
            let row_major = synthetic::uniform(k, n, 5);
            let column_major = {
                let mut b = Array2::zeros((k, n).f());
                b.assign(&row_major);
                b
            };
            let wide = synthetic::uniform(2 * k, 3 * n, 6);
            let transposed = synthetic::uniform(2 * n, k + 3, 7);
            let layouts = [
                ("row-major", row_major.view()),
                ("rows apart", wide.slice(s![..k, ..n])),
                ("rows reversed", wide.slice(s![..k;-1, ..n])),
                ("column-major", column_major.view()),
                (
                    "columns apart",
                    transposed.slice(s![..n, ..k]).reversed_axes(),
                ),
                (
                    "columns reversed",
                    transposed.slice(s![..n;-1, ..k]).reversed_axes(),
                ),
                ("stepped", wide.slice(s![..;2, ..;3])),
            ];
            for (layout, b) in layouts {
                let kp = k.next_multiple_of(steps) + steps;
                let mut bt = vec![f32::NAN; n * kp];
                pack_columns(b, &mut bt, kp);
                for j in 0..n {
                    for p in 0..kp {
                        let packed = bt[j * kp + p];
                        match p < k {
                            true => assert_eq!(packed, b[[p, j]], "{layout} ({k}, {n}) [{p}, {j}]"),
                            false => assert!(packed.is_nan(), "{layout} ({k}, {n}): wrote at {p}"),
                        }
                    }
                }
            }
        }
    }

    /// The counts of a 16-lane kernel with a many-rows tile of 10 columns (AVX-512's, with all
    /// of a pass per call), whose few-rows kernel fills every lane on 10 columns.
    fn sixteen_lanes() -> Costs {
        Costs {
            lanes: 16,
            dot_columns: COLUMNS_PER_PASS,
            scale_lanes: |nc, ten| if ten { 10 } else { nc.div_ceil(16) * 16 },
        }
    }

    /// Each path's FMAs per row, as [`Costs`] counts them.
    #[test]
    fn costs_count_the_lanes_each_path_fills() {
        let costs = sixteen_lanes();
        // 10 columns: five registers per 8 steps, against 10 columns of 49 registers and their
        // sums across 16 lanes, 4 halvings each.
        assert_eq!(costs.few_rows(784, 10), 490);
        assert_eq!(costs.many_rows(784, 10), 10 * (49 + 4));
        // 8 columns: a register a step, half of it empty; the tile's 2 spare columns.
        assert_eq!(costs.few_rows(784, 8), 784);
        assert_eq!(costs.many_rows(784, 8), 10 * (49 + 4));
        // 26 columns: a register each for 16 and 10 (not the lesson's run of 10-float rows);
        // three tiles over `k` padded to 7 registers.
        assert_eq!(costs.few_rows(100, 26), 200);
        assert_eq!(costs.many_rows(100, 26), 30 * (7 + 4));
        let eight = Costs {
            lanes: 8,
            scale_lanes: |nc, _| nc.div_ceil(8) * 8,
            ..costs
        };
        assert_eq!(eight.few_rows(784, 8), 784);
        assert_eq!(eight.few_rows(784, 9), 2 * 784);
        assert_eq!(eight.many_rows(784, 9), 10 * (98 + 3));
    }

    /// The kernels' own counts: what each spends on the lesson's 10 columns and on fewer.
    #[test]
    fn each_kernel_counts_what_its_few_rows_kernel_spends() {
        // The portable kernel: all 16 lanes of its rows, two registers of 8, whatever `nc`.
        let portable = Costs::of::<Portable>();
        assert_eq!(portable.few_rows(784, 4), 2 * 784);
        assert_eq!(portable.few_rows(784, 10), 2 * 784);
        #[cfg(target_arch = "x86_64")]
        {
            // AVX-512: one register, or five per 8 steps on 10-float rows.
            let avx512 = Costs::of::<avx512::Avx512<COLUMNS_PER_PASS>>();
            assert_eq!(avx512.few_rows(784, 10), 490);
            assert_eq!(avx512.few_rows(784, 12), 784);
            assert_eq!(
                Costs::of::<avx512::Avx512<5>>().many_rows(784, 12),
                15 * (49 + 4)
            );
            // AVX2: one register up to 8 columns, two past; 10-float rows counted as the 13
            // lanes its waiting FMAs take the time of.
            let avx2 = Costs::of::<avx2::Avx2>();
            assert_eq!(avx2.few_rows(784, 8), 784);
            assert_eq!(avx2.few_rows(784, 9), 2 * 784);
            assert_eq!(avx2.few_rows(784, 10), 784 * 13 / 8);
            assert_eq!(avx2.many_rows(784, 10), 10 * (98 + 3));
        }
        #[cfg(target_arch = "aarch64")]
        {
            // NEON: one register per 4 columns.
            let neon = Costs::of::<neon::Neon>();
            assert_eq!(neon.few_rows(784, 4), 784);
            assert_eq!(neon.few_rows(784, 10), 3 * 784);
        }
    }

    /// Which path each shape takes, by [`takes_many_rows`]' rules in turn.
    #[test]
    fn each_shape_takes_the_path_that_costs_less() {
        use ndarray::ShapeBuilder;
        let costs = sixteen_lanes();
        let caches = crate::machine::Caches {
            l2: 2 << 20,
            ..crate::machine::Caches::DEFAULT
        };
        let many = |m: usize, b: ArrayView2<'_, f32>| takes_many_rows(costs, caches, m, b);
        // The lesson's weights fill every few-rows lane: few rows, until the rows are shared
        // among threads (rule 1).
        let weights = synthetic::uniform(784, 10, 1);
        for m in [1, 5, 64, 1024] {
            assert!(!many(m, weights.view()), "{m} rows");
        }
        assert!(many(BLOCK_ROWS + 1, weights.view()));
        // 8 columns fill half of each few-rows register: packing pays from a few dozen rows
        // (784 · 8 = 6272 FMAs of packing, 784 − 530 = 254 saved per row; rule 5).
        let eight = synthetic::uniform(784, 8, 2);
        assert!(!many(24, eight.view()));
        assert!(many(25, eight.view()));
        // A single column, of unit stride or not, is read in place by few rows; packing it
        // pays from 4 rows.
        let column = synthetic::uniform(784, 1, 3);
        let column_major_column = Array2::<f32>::zeros((784, 1).f());
        let strided_column = weights.slice(ndarray::s![.., 3..4]);
        for b in [column.view(), column_major_column.view(), strided_column] {
            assert!(!many(3, b));
            assert!(many(4, b));
        }
        // A `b` with contiguous columns is packed at any number of rows (rule 3), where `k` is
        // two registers or more (rule 2), which comes first.
        let outputs_inputs = synthetic::uniform(10, 784, 4);
        assert!(many(1, outputs_inputs.t()));
        let short = synthetic::uniform(10, 31, 5);
        assert!(!many(5, short.t()));
        let eight_lanes = Costs { lanes: 8, ..costs };
        assert!(takes_many_rows(eight_lanes, caches, 5, short.t()));
        // And the threads' rule comes before both: a short `k` and many rows.
        let short_rows = synthetic::uniform(31, 10, 6);
        assert!(many(PARALLEL_ELEMENTS / 31 + BLOCK_ROWS, short_rows.view()));
        // Past 16 columns, few rows reads `a` once per 16 columns: from an `a` of half of L2
        // (1 MiB: 335 rows of 784), many rows (rule 4); with an L2 of 16 MiB, few rows still,
        // as 1000 columns fill the few-rows registers as well as many-rows tiles do.
        let wide = synthetic::uniform(784, 1000, 7);
        assert!(!many(334, wide.view()));
        assert!(many(335, wide.view()));
        let large_l2 = crate::machine::Caches {
            l2: 16 << 20,
            ..caches
        };
        assert!(!takes_many_rows(costs, large_l2, 335, wide.view()));
        // Up to 16 columns, `a` is read once, whatever its size.
        let sixteen = synthetic::uniform(784, 16, 8);
        assert!(!many(1000, sixteen.view()));
    }

    /// Every thread has blocks to take: whole blocks of 1024 rows on the lesson's 50,000, at
    /// least four a thread on fewer rows.
    #[test]
    fn every_thread_has_blocks_of_rows_to_take() {
        assert_eq!(block_rows(50_000, 2), BLOCK_ROWS);
        assert_eq!(block_rows(2048, 2), 256);
        assert_eq!(block_rows(1025, 16), 16);
        assert_eq!(block_rows(3, 4), 1);
        for (m, threads) in [(1025, 2), (1025, 16), (2048, 2), (5000, 3), (20_000, 16)] {
            let rows = block_rows(m, threads);
            assert!(
                m.div_ceil(rows) >= BLOCKS_PER_THREAD * threads,
                "{m} rows, {threads}"
            );
        }
    }

    /// A buffer kept from an earlier product holds that product's floats: `pack_bt` leaves
    /// `b`'s columns in it and zeros everywhere else, the padding past `k` and the columns
    /// past `n`, whatever the buffer held and however long it was.
    #[test]
    fn a_reused_buffer_leaves_only_b_and_zeros() {
        for (k, n, kp) in [(17, 3, 32), (16, 10, 16), (5, 11, 8), (1, 1, 4)] {
            let b = synthetic::uniform(k, n, 1);
            for stale in [0, 100, 10_000] {
                let mut space = vec![f32::NAN; stale];
                let bt = pack_bt(b.view(), kp, &mut space);
                assert_eq!(
                    bt.len(),
                    n.div_ceil(COLUMNS_PER_PASS) * COLUMNS_PER_PASS * kp
                );
                for (j, column) in bt.chunks(kp).enumerate() {
                    for (p, &packed) in column.iter().enumerate() {
                        let want = if j < n && p < k { b[[p, j]] } else { 0.0 };
                        assert_eq!(
                            packed, want,
                            "({k}, {n}) kp {kp}, {stale} stale: [{p}, {j}]"
                        );
                    }
                }
            }
        }
    }

    /// Each kernel's tile of the many-rows path is one of its row of `Isa::kernels`.
    #[test]
    fn kernels_take_their_tiles_from_the_table() {
        fn tile<K: Kernel>() -> (usize, usize) {
            (K::DOT_ROWS, K::DOT_COLUMNS)
        }
        let tiles = |isa: Isa| isa.kernels().dot_tiles;
        assert_eq!(tiles(Isa::Portable), [tile::<Portable>()]);
        #[cfg(target_arch = "x86_64")]
        {
            use avx512::Avx512;
            assert_eq!(tiles(Isa::Avx2), [tile::<avx2::Avx2>()]);
            let avx512 = [tile::<Avx512<COLUMNS_PER_PASS>>(), tile::<Avx512<5>>()];
            assert_eq!(tiles(Isa::Avx512), avx512);
        }
        #[cfg(target_arch = "aarch64")]
        assert_eq!(tiles(Isa::Neon), [tile::<neon::Neon>()]);
    }

    /// The rule that picks the AVX-512 tile: the lesson's `bᵀ` and two rows fit a 48 KB L1
    /// of 12 ways, not a 32 KB one of 8.
    #[test]
    fn all_of_bt_in_l1_only_where_it_fits() {
        let whole = |l1: usize, l1_ways: usize, k: usize| {
            let caches = crate::machine::Caches {
                l1: l1 << 10,
                l1_ways,
                ..crate::machine::Caches::DEFAULT
            };
            fits_l1_of(caches, (2, 10), 16, k)
        };
        assert!(whole(48, 12, 784));
        assert!(!whole(32, 8, 784));
        assert!(!whole(48, 12, 1024));
        assert!(whole(32, 8, 512));
    }

    #[cfg(target_arch = "aarch64")]
    #[test]
    fn neon_kernel_agrees_with_float64() {
        check_kernel("neon", neon::Neon);
    }

    #[test]
    fn matmul_uses_the_detected_kernel_on_both_paths() {
        // Few rows; contiguous columns, packed at any number of rows; rows enough to share.
        let weights = synthetic::weights(784, 10, 2);
        let outputs_inputs = weights.t().as_standard_layout().into_owned();
        let cases = [
            (5, weights.view(), false),
            (5, outputs_inputs.t(), true),
            (BLOCK_ROWS + 3, weights.view(), true),
        ];
        // Each case takes its path with every kernel this CPU can run, whichever `matmul` picks.
        let mut kernels = vec![("portable", Costs::of::<Portable>())];
        #[cfg(target_arch = "x86_64")]
        kernels.extend([
            ("avx2", Costs::of::<avx2::Avx2>()),
            ("avx512", Costs::of::<avx512::Avx512<COLUMNS_PER_PASS>>()),
        ]);
        #[cfg(target_arch = "aarch64")]
        kernels.push(("neon", Costs::of::<neon::Neon>()));
        for (m, b, many) in cases {
            for &(name, costs) in &kernels {
                let caches = crate::machine::Caches::detect();
                assert_eq!(
                    takes_many_rows(costs, caches, m, b),
                    many,
                    "{name}, {m} rows"
                );
            }
            let a = synthetic::mnist_like(m, 1);
            let c = matmul(a.view(), b);
            let error = relative_error(&c, &reference_matmul(a.view(), b.view()));
            assert!(
                error < 1e-5,
                "{:?} ({m}, 784) @ (784, 10): {error:e}",
                Isa::detect()
            );
        }
    }
}
