//! The AVX2 + FMA micro-kernel: a 6 × 16 tile in 12 of the 16 `ymm` registers.
//!
//! Each step loads `b[p, 0..16]` as two 8-lane vectors and broadcasts each of the 6 `a[i, p]`
//! into one register: 12 accumulators + 2 rows of `b` + 1 broadcast = 15 registers, 12 FMAs
//! (96 multiply-adds) for 2 vector loads and 6 broadcasts — the classic shape for 16
//! registers. Twelve independent sums cover an FMA's latency (4 cycles) on two FMA units.
//!
//! For a cold tile of `C` it asks for its operands ahead as the AVX-512 kernel does (that
//! module says why: `A` streams from L2, and so does `B` where `kc` comes from L2, module
//! `blocks`), about as long ahead: a step here is 12 FMAs, under half of the AVX-512 kernel's
//! 28, so it asks twice as many steps ahead.
//!
//! Such short steps leave little room for anything else in the loop: with both slivers packed
//! it takes its steps four at a time ([`STEPS_PER_ROUND`]), and it packs a block of `A` that it
//! would read in place slower ([`MicroKernel::A_IN_PLACE_SLIVERS`]).

use std::arch::x86_64::{
    __m256, _mm256_add_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_maskload_ps,
    _mm256_permute2f128_ps, _mm256_set1_epi32, _mm256_set1_ps, _mm256_setr_epi32,
    _mm256_setzero_ps, _mm256_shuffle_ps, _mm256_storeu_ps, _mm256_sub_epi32, _mm256_unpackhi_ps,
    _mm256_unpacklo_ps,
};

use ndarray::ArrayView2;

use super::kernel::{ColdTile, MicroKernel, Sliver, Store, TileOfC, each_step};
use super::pack::{pack_a_into, pack_b_into_with};
use crate::isa::Isa;

/// The AVX2 + FMA kernel.
pub(crate) struct Avx2;

const MR: usize = Isa::Avx2.kernels().gemm_tile.0;
const NR: usize = Isa::Avx2.kernels().gemm_tile.1;
/// 8-lane vectors per row of the tile.
const VECTORS: usize = NR / 8;
/// Steps ahead at which the kernel asks L1 for the row of its sliver of `B` (one line a step),
/// as the AVX-512 kernel's `B_STEPS_AHEAD` does, when its tile of `C` is cold. On the Intel
/// Xeon this was measured on, with `MATMUL_ISA=avx2`, asking made the squares from 512 up a few
/// percent faster, on one core and on two. These counts, twice the AVX-512 kernel's, keep the
/// asks about as many cycles ahead, and measured about as well as its own. (An earlier try on
/// the same Xeon, with the AVX-512 kernel's counts and no asks for `C`, had measured mixed,
/// `square-512` slower; with the later blocking, the same counts no longer were.)
///
/// The `gemm-kernel` stage calls every tile cold, so its tiles get these asks at every size.
/// Timed there with and without them (same Xeon, `MATMUL_ISA=avx2`, two cores), the two
/// smallest squares came out a little slower with them, and the squares from 256 up faster.
const B_STEPS_AHEAD: usize = 12;
/// Steps ahead at which the kernel asks L1 for its sliver of `A`: see [`B_STEPS_AHEAD`].
const A_STEPS_AHEAD: usize = 24;
/// Steps per round of the kernel's loop ([`each_step`] says why). On the Intel Xeon this was
/// measured on, with `MATMUL_ISA=avx2`, rounds of four made the squares of 1024 and 2048 on
/// one core clearly faster than one step at a time.
const STEPS_PER_ROUND: usize = 4;

// SAFETY: `tile` runs `tile_avx2` only through the caller's promise that `supported()` held.
unsafe impl MicroKernel for Avx2 {
    const MR: usize = MR;
    const NR: usize = NR;

    /// Eight slivers, 128 columns. A sliver of `A` read in place costs this kernel, whose step
    /// is only 12 FMAs, a few instructions of addresses a step (its 6 rows are a row of `A`
    /// apart), and keeps it to one step a round ([`each_step`]; packed, with a packed sliver of
    /// `B`, it takes four). On the Intel Xeon this was measured on, with `MATMUL_ISA=avx2` on
    /// one core, packing every block of `A` and panel of `B` made `square-192` to `square-512`
    /// faster and `square-128` and below slower, where each copy serves fewer slivers of `B`;
    /// this limit alone then made `square-256` clearly faster. (Packing everything made the
    /// AVX-512 and portable kernels no faster at any size measured, and slower at most.)
    const A_IN_PLACE_SLIVERS: usize = 8;

    fn supported() -> bool {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }

    super::kernel::tiles_by_height!(tile_avx2: 1 2 3 4 5);
    // A right edge exactly half a tile wide, where it is; a narrower one into scratch.
    super::kernel::edges_in_place!(half_tile_avx2 where |columns| columns == NR / 2; 1 2 3 4 5 6);
    super::kernel::half_width_edges!();

    #[inline(always)]
    unsafe fn pack_b(block: ArrayView2<'_, f32>, out: &mut [f32]) {
        // SAFETY: the caller checked `supported()`.
        unsafe { pack_b_avx2(block, out) }
    }

    #[inline(always)]
    unsafe fn pack_a(block: ArrayView2<'_, f32>, out: &mut [f32]) {
        // SAFETY: the caller checked `supported()`.
        unsafe { pack_a_avx2(block, out) }
    }
}

/// [`MicroKernel::pack_a`]: a row-major block eight steps at a time ([`pack_a_into`]), by
/// [`transpose_8`].
///
/// # Safety
///
/// The CPU has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn pack_a_avx2(block: ArrayView2<'_, f32>, out: &mut [f32]) {
    // SAFETY: as `pack_a_into` asks: each call reads 8 floats of each of `height ≤ MR` rows
    // (`pack_a_into` checks that `MR ≤ 8 ≤ 2 · MR`) and writes 8 steps of `MR`, the last
    // one a whole vector.
    unsafe {
        pack_a_into::<8>(block, MR, out, |rows, lda, height, steps| {
            let mut vectors = [_mm256_setzero_ps(); 8];
            // Rows past `height` stay zero: the partial sliver's padding.
            for (i, row) in vectors.iter_mut().take(height).enumerate() {
                // SAFETY: 8 floats of row `i < height`, as `pack_a_into` promises.
                *row = _mm256_loadu_ps(rows.wrapping_offset(i as isize * lda));
            }
            for (q, step) in transpose_8(vectors).into_iter().enumerate() {
                // SAFETY: step `q` of 8, and 2 floats of the next step's place.
                _mm256_storeu_ps(steps.add(q * MR), step);
            }
        });
    }
}

/// The transpose of 8 rows of 8 floats: vector `j` of the result holds float `j` of every row,
/// in the rows' order. Three rounds of 8 shuffles: single floats, pairs, 128-bit halves.
#[target_feature(enable = "avx2")]
#[inline]
fn transpose_8(rows: [__m256; 8]) -> [__m256; 8] {
    // In half `h`, rows `2i` and `2i + 1`: floats `4h`, `4h + 1` of each in vector `2i`,
    // floats `4h + 2`, `4h + 3` in `2i + 1`.
    let floats: [__m256; 8] = std::array::from_fn(|v| {
        let (x, y) = (rows[v & !1], rows[v | 1]);
        if v % 2 == 0 {
            _mm256_unpacklo_ps(x, y)
        } else {
            _mm256_unpackhi_ps(x, y)
        }
    });
    // Vector `4g + c`, half `h`: float `4h + c` of rows `4g .. 4g + 4`.
    let quads: [__m256; 8] = std::array::from_fn(|v| {
        let (g, c) = (v / 4, v % 4);
        let (x, y) = (floats[4 * g + c / 2], floats[4 * g + 2 + c / 2]);
        if c % 2 == 0 {
            _mm256_shuffle_ps::<0b01_00_01_00>(x, y)
        } else {
            _mm256_shuffle_ps::<0b11_10_11_10>(x, y)
        }
    });
    // Float `j = 4h + c` of every row: half `h` of vectors `c` (rows 0 to 3) and `4 + c`
    // (rows 4 to 7) of `quads`.
    std::array::from_fn(|j| {
        let (x, y) = (quads[j % 4], quads[4 + j % 4]);
        if j < 4 {
            _mm256_permute2f128_ps::<0x20>(x, y)
        } else {
            _mm256_permute2f128_ps::<0x31>(x, y)
        }
    })
}

/// [`pack_b_into`](super::pack::pack_b_into) compiled with AVX2: a step of a row-major `B` is
/// two 8-lane copies, and a step of its partial last sliver two masked loads, which read only
/// the step's values and fill the other lanes with zeros, and two stores.
///
/// # Safety
///
/// The CPU has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn pack_b_avx2(block: ArrayView2<'_, f32>, out: &mut [f32]) {
    pack_b_into_with(block, NR, out, |values, step| {
        debug_assert!(values.len() < NR && step.len() == NR);
        for v in 0..VECTORS {
            let lanes = values.len().saturating_sub(8 * v).min(8) as i32;
            // Lane `l` loaded where its sign bit is set: `l < lanes`.
            let mask = _mm256_sub_epi32(
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                _mm256_set1_epi32(lanes),
            );
            // SAFETY: AVX2, as this function's caller promised; the load reads only the
            // `lanes` floats from `8v` on, inside `values` (a masked-off lane is not read);
            // the store writes floats `8v .. 8v + 8 <= NR` of `step`.
            unsafe {
                let x = _mm256_maskload_ps(values.as_ptr().wrapping_add(8 * v), mask);
                _mm256_storeu_ps(step.as_mut_ptr().add(8 * v), x);
            }
        }
    });
}

/// The first `ROWS` rows of the tile (`MR`: all of them), asking for the tile of `C` and the
/// slivers ahead when `FETCH_C` ([`TileOfC::Cold`]).
///
/// # Safety
///
/// As [`MicroKernel::tile`], on a CPU with AVX2 and FMA, with `a` readable and `c` valid for
/// `ROWS` rows.
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2<const ROWS: usize, const FETCH_C: bool>(
    k: usize,
    a: impl Sliver,
    b: impl Sliver,
    c: *mut f32,
    rsc: usize,
    store: Store,
) {
    // SAFETY: the caller's contract, and the CPU features this function was compiled for.
    unsafe { tile_of_vectors::<ROWS, VECTORS, FETCH_C>(k, a, b, c, rsc, store) }
}

/// [`tile_avx2`] for the first `NR / 2` columns only: one vector a row, the half-width tile of a
/// right edge that needs no more ([`MicroKernel::edge_tile_in_place`] for an edge exactly that
/// wide, [`MicroKernel::edge_tile`] into scratch for a narrower one).
///
/// # Safety
///
/// As [`MicroKernel::edge_tile_in_place`] for `columns = NR / 2`, on a CPU with AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn half_tile_avx2<const ROWS: usize>(
    columns: usize,
    k: usize,
    a: impl Sliver,
    b: impl Sliver,
    c: *mut f32,
    rsc: usize,
    store: Store,
) {
    const { assert!(VECTORS == 2, "half a tile is one vector") };
    debug_assert_eq!(columns, NR / 2, "the half tile's width");
    // SAFETY: the caller's contract, and the CPU features this function was compiled for.
    unsafe { tile_of_vectors::<ROWS, { VECTORS / 2 }, false>(k, a, b, c, rsc, store) }
}

/// The first `ROWS` rows and `V` vectors (`8·V` columns) of the tile, for [`tile_avx2`] and
/// [`half_tile_avx2`].
///
/// # Safety
///
/// As [`tile_avx2`], with `c` valid for `8·V ≤ NR` columns of each row.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_of_vectors<const ROWS: usize, const V: usize, const FETCH_C: bool>(
    k: usize,
    a: impl Sliver,
    b: impl Sliver,
    c: *mut f32,
    rsc: usize,
    store: Store,
) {
    const { assert!(0 < ROWS && ROWS <= MR) };
    let mut tile: [[__m256; V]; ROWS] = [[_mm256_setzero_ps(); V]; ROWS];
    // A cold tile of `c`: asked for into L2 now, into L1 a few steps before the end.
    let tile_of_c = ColdTile::<FETCH_C>::ask(c, ROWS, 8 * V, rsc, k);
    let ask = |p: usize, steps: usize| {
        if FETCH_C {
            b.ask_for_steps::<NR>(p + B_STEPS_AHEAD, steps);
            a.ask_for_steps::<MR>(p + A_STEPS_AHEAD, steps);
        }
    };
    // Rounds of steps where both slivers are packed; one step at a time where either is read
    // in place, whose addresses (a row of a matrix apart) would take more registers than
    // the kernel has left.
    let steps = if a.packed() && b.packed() {
        STEPS_PER_ROUND
    } else {
        1
    };
    each_step!(steps, k, tile_of_c, ask, |p| {
        let mut b_row = [_mm256_setzero_ps(); V];
        for (v, b_v) in b_row.iter_mut().enumerate() {
            // SAFETY: elements `8v .. 8v + 8 <= 8·V <= NR` of step `p < k`,
            // contiguous.
            *b_v = unsafe { _mm256_loadu_ps(b.at::<NR>(8 * v, p)) };
        }
        for (i, row) in tile.iter_mut().enumerate() {
            // SAFETY: `i < ROWS <= MR`, `p < k`.
            let a_ip = _mm256_set1_ps(unsafe { *a.at::<MR>(i, p) });
            for (sum, &b_v) in row.iter_mut().zip(&b_row) {
                *sum = _mm256_fmadd_ps(a_ip, b_v, *sum);
            }
        }
    });
    for (i, row) in tile.iter().enumerate() {
        for (v, &sum) in row.iter().enumerate() {
            // SAFETY: row `i < ROWS`, columns `8v .. 8v + 8 <= 8·V` of the caller's
            // tile.
            unsafe {
                let c = c.add(i * rsc + 8 * v);
                let value = match store {
                    Store::Write => sum,
                    Store::Add => _mm256_add_ps(_mm256_loadu_ps(c), sum),
                };
                _mm256_storeu_ps(c, value);
            }
        }
    }
}
