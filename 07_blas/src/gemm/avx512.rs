//! The AVX-512 micro-kernel: a 14 × 32 tile in 28 of the 32 `zmm` registers.
//!
//! Each step `p` loads the row `b[p, 0..32]` as two 16-lane vectors and, for each of the 14 rows,
//! broadcasts `a[i, p]` from memory into one register (`vbroadcastss`, a load and nothing else),
//! which its row's two fused multiply-adds share. That is 28 FMAs — 448 multiply-adds — for 2
//! vector loads and 14 broadcasts, and 28 accumulators + 2 rows of `b` + 1 broadcast = 31
//! registers: the largest tile that fits. (The compiler could fold each broadcast into its FMA as a
//! memory operand, `{1to16}`, and free that register, but each element of `a` would then be loaded
//! twice, 30 loads a step: on the Intel Xeon this was measured on, a bare loop of such steps was
//! slower.) A 16-lane FMA takes 4 cycles and a core starts one or two per cycle, so 8 independent
//! sums would do; 28 leave room to spare.

use std::arch::x86_64::{
    __m512, __mmask16, _mm512_add_ps, _mm512_castpd_ps, _mm512_castps_pd, _mm512_fmadd_ps,
    _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_set1_ps,
    _mm512_setzero_ps, _mm512_shuffle_f32x4, _mm512_storeu_ps, _mm512_unpackhi_pd,
    _mm512_unpackhi_ps, _mm512_unpacklo_pd, _mm512_unpacklo_ps,
};

use ndarray::ArrayView2;

use super::kernel::{ColdTile, MicroKernel, Sliver, Store, TileOfC, each_step};
use super::pack::{pack_a_into, pack_b_into_with};
use crate::isa::Isa;

/// The AVX-512F kernel.
pub(crate) struct Avx512;

const MR: usize = Isa::Avx512.kernels().gemm_tile.0;
const NR: usize = Isa::Avx512.kernels().gemm_tile.1;
/// 16-lane vectors per row of the tile.
const VECTORS: usize = NR / 16;
/// Steps ahead at which the kernel asks L1 for the row of its sliver of `B`
/// ([`Sliver::ask_for_steps`]); [`A_STEPS_AHEAD`] is the same for its sliver of `A`.
///
/// Both slivers stream from L2: `kc` steps of `B` (two lines a step) and of `A` (most of a
/// line) are more than L1 holds beside each other (module `blocks`), so each step of 28 FMAs
/// reads about three lines that L1 does not have yet, one stream of them per sliver. On the
/// Intel Xeon this was measured on, the hardware prefetcher alone left the kernel waiting on
/// them: asking for them a few hundred bytes ahead made the packed squares clearly faster, on
/// one core and on two, at any distance from about 4 to 16 steps. `A` is asked for twice as
/// many steps ahead as `B` so that both streams are about as many bytes ahead: a step of
/// `A` (`MR` floats) is a little under half a step of `B` (`NR`).
///
/// Only when the tile of `C` is cold ([`TileOfC::Cold`]), which the driver says of a `C` too large
/// to stay in cache, or of any `C` where a panel of `B` is that large: in the squares, that is also
/// where the panels are deep and the slivers stream from L2. In a small product the slivers are in
/// cache already, and the hints made `square-64` and `square-128` a little slower. A short `A` with
/// a large `B` read in place (a block of a few tiles of rows: `(14, 784) @ (784, 1000)`) reads each
/// sliver of `B` once, from beyond L2, two lines of each row a page apart: there the hints took
/// about a third off the product on the Intel Xeon, where `C` alone, small, had left them out. (A
/// wide, shallow product with a large `C` gets the hints too, and so does every tile of the
/// `gemm-kernel` stage, which calls its tiles cold.)
const B_STEPS_AHEAD: usize = 6;
/// Steps ahead at which the kernel asks L1 for its sliver of `A`: see [`B_STEPS_AHEAD`].
const A_STEPS_AHEAD: usize = 12;

// SAFETY: `tile` runs `tile_avx512` only through the caller's promise that `supported()` held.
unsafe impl MicroKernel for Avx512 {
    const MR: usize = MR;
    const NR: usize = NR;

    fn supported() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
    }

    super::kernel::tiles_by_height!(tile_avx512: 1 2 3 4 5 6 7 8 9 10 11 12 13);
    // A right edge of any width, where it is.
    super::kernel::edges_in_place!(
        edge_avx512 where |columns| 0 < columns && columns < NR; 1 2 3 4 5 6 7 8 9 10 11 12 13 14
    );

    #[inline(always)]
    unsafe fn pack_b(block: ArrayView2<'_, f32>, out: &mut [f32]) {
        // SAFETY: the caller checked `supported()`.
        unsafe { pack_b_avx512(block, out) }
    }

    #[inline(always)]
    unsafe fn pack_a(block: ArrayView2<'_, f32>, out: &mut [f32]) {
        // SAFETY: the caller checked `supported()`.
        unsafe { pack_a_avx512(block, out) }
    }
}

/// [`MicroKernel::pack_a`]: a row-major block sixteen steps at a time ([`pack_a_into`]), by
/// [`transpose_16`].
///
/// # Safety
///
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn pack_a_avx512(block: ArrayView2<'_, f32>, out: &mut [f32]) {
    // SAFETY: as `pack_a_into` asks: each call reads 16 floats of each of `height ≤ MR` rows
    // (`pack_a_into` checks that `MR ≤ 16 ≤ 2 · MR`) and writes 16 steps of `MR`, the last
    // one a whole vector.
    unsafe {
        pack_a_into::<16>(block, MR, out, |rows, lda, height, steps| {
            let mut vectors = [_mm512_setzero_ps(); 16];
            // Rows past `height` stay zero: the partial sliver's padding.
            for (i, row) in vectors.iter_mut().take(height).enumerate() {
                // SAFETY: 16 floats of row `i < height`, as `pack_a_into` promises.
                *row = _mm512_loadu_ps(rows.wrapping_offset(i as isize * lda));
            }
            for (q, step) in transpose_16(vectors).into_iter().enumerate() {
                // SAFETY: step `q` of 16, and 2 floats of the next step's place.
                _mm512_storeu_ps(steps.add(q * MR), step);
            }
        });
    }
}

/// The transpose of 16 rows of 16 floats: vector `j` of the result holds lane `j` of every row,
/// in the rows' order. Four rounds of 16 shuffles, each round interleaving pieces twice as
/// large as the one before: single floats, pairs, groups of 4 (128-bit lanes), groups of 8.
#[target_feature(enable = "avx512f")]
#[inline]
fn transpose_16(rows: [__m512; 16]) -> [__m512; 16] {
    // Lanes of the 128-bit lane `l`, rows `2i` and `2i + 1`: floats `4l`, `4l + 1` of each in
    // vector `2i`, floats `4l + 2`, `4l + 3` in `2i + 1`.
    let floats: [__m512; 16] = std::array::from_fn(|v| {
        let (x, y) = (rows[v & !1], rows[v | 1]);
        if v % 2 == 0 {
            _mm512_unpacklo_ps(x, y)
        } else {
            _mm512_unpackhi_ps(x, y)
        }
    });
    // Vector `4g + c`, 128-bit lane `l`: float `4l + c` of rows `4g .. 4g + 4`.
    let pairs: [__m512; 16] = std::array::from_fn(|v| {
        let (g, c) = (v / 4, v % 4);
        let (x, y) = (floats[4 * g + c / 2], floats[4 * g + 2 + c / 2]);
        let (x, y) = (_mm512_castps_pd(x), _mm512_castps_pd(y));
        _mm512_castpd_ps(if c % 2 == 0 {
            _mm512_unpacklo_pd(x, y)
        } else {
            _mm512_unpackhi_pd(x, y)
        })
    });
    // Vector `8h + 4e + c`: lanes `e`, `e + 2` of vectors `c` and `4 + c` of `pairs`
    // (`h = 0`), or of `8 + c` and `12 + c` (`h = 1`).
    let quads: [__m512; 16] = std::array::from_fn(|v| {
        let (h, e, c) = (v / 8, v / 4 % 2, v % 4);
        let (x, y) = (pairs[8 * h + c], pairs[8 * h + 4 + c]);
        if e == 0 {
            _mm512_shuffle_f32x4::<0b10_00_10_00>(x, y)
        } else {
            _mm512_shuffle_f32x4::<0b11_01_11_01>(x, y)
        }
    });
    // Float `j = 4l + c` of every row: lane `l` of vectors `c`, `4 + c`, `8 + c`, `12 + c` of
    // `pairs`, which `quads` holds at lanes `l / 2` and `l / 2 + 2` of its vectors
    // `4 (l % 2) + c` (rows 0 to 7) and `8 + 4 (l % 2) + c` (rows 8 to 15).
    std::array::from_fn(|j| {
        let (l, c) = (j / 4, j % 4);
        let (x, y) = (quads[4 * (l % 2) + c], quads[8 + 4 * (l % 2) + c]);
        if l < 2 {
            _mm512_shuffle_f32x4::<0b10_00_10_00>(x, y)
        } else {
            _mm512_shuffle_f32x4::<0b11_01_11_01>(x, y)
        }
    })
}

/// [`pack_b_into`](super::pack::pack_b_into) compiled with AVX-512: a step of a row-major `B`
/// is two 16-lane copies, and a step of its partial last sliver two masked loads, which read
/// only the step's values and fill the other lanes with zeros, and two stores.
///
/// # Safety
///
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn pack_b_avx512(block: ArrayView2<'_, f32>, out: &mut [f32]) {
    pack_b_into_with(block, NR, out, |values, step| {
        debug_assert!(values.len() < NR && step.len() == NR);
        for v in 0..VECTORS {
            let lanes = values.len().saturating_sub(16 * v).min(16);
            let mask = ((1u32 << lanes) - 1) as __mmask16;
            // SAFETY: AVX-512F, as this function's caller promised; the load reads only the
            // `lanes` floats from `16v` on, inside `values` (a masked-off lane is not read);
            // the store writes floats `16v .. 16v + 16 <= NR` of `step`.
            unsafe {
                let x = _mm512_maskz_loadu_ps(mask, values.as_ptr().wrapping_add(16 * v));
                _mm512_storeu_ps(step.as_mut_ptr().add(16 * v), x);
            }
        }
    });
}

/// The first `ROWS` rows of the tile (`MR`: all of them), asking for the tile of `C` ahead
/// when `FETCH_C` ([`TileOfC::Cold`]).
///
/// # Safety
///
/// As [`MicroKernel::tile`], on a CPU with AVX-512F, with `a` readable and `c` valid for `ROWS`
/// rows.
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512<const ROWS: usize, const FETCH_C: bool>(
    k: usize,
    a: impl Sliver,
    b: impl Sliver,
    c: *mut f32,
    rsc: usize,
    store: Store,
) {
    // SAFETY: the caller's contract, and the CPU features this function was compiled for.
    unsafe { tile_of_vectors::<ROWS, VECTORS, FETCH_C, false>(k, a, b, c, rsc, store, !0) }
}

/// The first `ROWS` rows and `columns` columns (`0 < columns < NR`) of a tile at the right edge
/// of `C`, where it is: one vector a row up to 16 columns, two beyond, the last loaded from `b`
/// and stored to `c` under a mask of its columns, so that neither is read or written past the
/// edge ([`MicroKernel::edge_tile_in_place`]). An edge of a few columns costs a vector's
/// multiply-adds a row, not a whole tile's, and needs no scratch tile to copy out of, nor a
/// copy of its sliver of `B` padded with zero columns.
///
/// # Safety
///
/// As [`MicroKernel::edge_tile_in_place`], on a CPU with AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn edge_avx512<const ROWS: usize>(
    columns: usize,
    k: usize,
    a: impl Sliver,
    b: impl Sliver,
    c: *mut f32,
    rsc: usize,
    store: Store,
) {
    debug_assert!(0 < columns && columns < NR);
    // The lanes of the last vector: its 1 to 16 columns.
    let last_columns = (columns - 1) % 16 + 1;
    let last = ((1u32 << last_columns) - 1) as __mmask16;
    // SAFETY: the caller's contract; the unmasked vectors are whole columns inside the edge.
    unsafe {
        if columns <= 16 {
            tile_of_vectors::<ROWS, 1, false, true>(k, a, b, c, rsc, store, last);
        } else {
            tile_of_vectors::<ROWS, 2, false, true>(k, a, b, c, rsc, store, last);
        }
    }
}

/// The first `ROWS` rows and `V` vectors (`16·V` columns) of the tile, for [`tile_avx512`] and
/// [`edge_avx512`]; when `MASKED`, the last vector's columns are only the lanes of `last`, and
/// its other lanes of `b` and `c` are neither read nor written.
///
/// # Safety
///
/// As [`tile_avx512`], with `c` valid for `16·V ≤ NR` columns of each row (when `MASKED`, those
/// before the last vector and the lanes of `last` in it), and `b` readable for them.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn tile_of_vectors<
    const ROWS: usize,
    const V: usize,
    const FETCH_C: bool,
    const MASKED: bool,
>(
    k: usize,
    a: impl Sliver,
    b: impl Sliver,
    c: *mut f32,
    rsc: usize,
    store: Store,
    last: __mmask16,
) {
    const { assert!(0 < ROWS && ROWS <= MR && 0 < V) };
    let mut tile = [[_mm512_setzero_ps(); V]; ROWS];
    // A cold tile of `c`: asked for into L2 now, into L1 a few steps before the end.
    let tile_of_c = ColdTile::<FETCH_C>::ask(c, ROWS, 16 * V, rsc, k);
    let ask = |p: usize, steps: usize| {
        if FETCH_C {
            b.ask_for_steps::<NR>(p + B_STEPS_AHEAD, steps);
            a.ask_for_steps::<MR>(p + A_STEPS_AHEAD, steps);
        }
    };
    each_step!(1, k, tile_of_c, ask, |p| {
        let mut b_row = [_mm512_setzero_ps(); V];
        for (v, b_v) in b_row.iter_mut().enumerate() {
            // SAFETY: elements `16v .. 16v + 16 <= 16·V <= NR` of step `p < k`, contiguous,
            // or, masked, the lanes of `last` among them.
            *b_v = unsafe {
                match MASKED && v == V - 1 {
                    true => _mm512_maskz_loadu_ps(last, b.at::<NR>(16 * v, p)),
                    false => _mm512_loadu_ps(b.at::<NR>(16 * v, p)),
                }
            };
        }
        for (i, row) in tile.iter_mut().enumerate() {
            // SAFETY: `i < ROWS <= MR`, `p < k`.
            let a_ip = _mm512_set1_ps(unsafe { *a.at::<MR>(i, p) });
            for (sum, &b_v) in row.iter_mut().zip(&b_row) {
                *sum = _mm512_fmadd_ps(a_ip, b_v, *sum);
            }
        }
    });
    for (i, row) in tile.iter().enumerate() {
        for (v, &sum) in row.iter().enumerate() {
            // SAFETY: row `i < ROWS`, columns `16v .. 16v + 16 <= 16·V` of the caller's
            // tile, or, masked, the lanes of `last` among them.
            unsafe {
                let c = c.add(i * rsc + 16 * v);
                if MASKED && v == V - 1 {
                    let value = match store {
                        Store::Write => sum,
                        Store::Add => _mm512_add_ps(_mm512_maskz_loadu_ps(last, c), sum),
                    };
                    _mm512_mask_storeu_ps(c, last, value);
                } else {
                    let value = match store {
                        Store::Write => sum,
                        Store::Add => _mm512_add_ps(_mm512_loadu_ps(c), sum),
                    };
                    _mm512_storeu_ps(c, value);
                }
            }
        }
    }
}
