//! The AVX-512 micro-kernel: a 14 × 32 tile in 28 of the 32 `zmm` registers.
//!
//! Each step `p` loads the row `b[p, 0..32]` as two 16-lane vectors and, for each of the 14
//! rows, broadcasts `a[i, p]` straight from memory into two fused multiply-adds (the compiler
//! folds the broadcast into the FMA's memory operand, `{1to16}`). That is 28 FMAs — 448
//! multiply-adds — for 2 vector loads and 14 scalar loads, and 28 accumulators + 2 rows of
//! `b` = 30 registers: the largest tile that fits. A 16-lane FMA takes 4 cycles and a core
//! starts one or two per cycle, so 8 independent sums would do; 28 leave room to spare.

use std::arch::x86_64::{
    _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
    _mm512_storeu_ps,
};

use ndarray::ArrayView2;

use super::kernel::{ColdTile, MicroKernel, Sliver, Store, TileOfC};
use super::pack::pack_b_into;
use crate::isa::Isa;

/// The AVX-512F kernel.
pub(crate) struct Avx512;

const MR: usize = Isa::Avx512.kernels().gemm_tile.0;
const NR: usize = Isa::Avx512.kernels().gemm_tile.1;
/// 16-lane vectors per row of the tile.
const VECTORS: usize = NR / 16;
/// Steps ahead at which the kernel asks L1 for the row of its sliver of `B`
/// ([`Sliver::ask_for_step`]); [`A_STEPS_AHEAD`] is the same for its sliver of `A`.
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
/// Only when the tile of `C` is cold ([`TileOfC::Cold`]), which the driver says of a `C` too
/// large to stay in cache: in the squares, that is also where the panels are deep and the
/// slivers stream from L2. In a small product the slivers are in cache already, and the hints
/// made `square-64` and `square-128` a little slower. (A wide, shallow product with a large
/// `C` gets the hints too, and so does every tile of the `gemm-kernel` stage, which calls its
/// tiles cold.)
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

    #[inline(always)]
    unsafe fn pack_b(block: ArrayView2<'_, f32>, out: &mut [f32]) {
        // SAFETY: the caller checked `supported()`.
        unsafe { pack_b_avx512(block, out) }
    }
}

/// [`pack_b_into`] compiled with AVX-512: a step of a row-major `B` is two 16-lane copies.
///
/// # Safety
///
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn pack_b_avx512(block: ArrayView2<'_, f32>, out: &mut [f32]) {
    pack_b_into(block, NR, out);
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
    const { assert!(0 < ROWS && ROWS <= MR) };
    let mut tile = [[_mm512_setzero_ps(); VECTORS]; ROWS];
    // A cold tile of `c`: asked for into L2 now, into L1 a few steps before the end.
    let tile_of_c = ColdTile::<FETCH_C>::ask(c, ROWS, NR, rsc, k);
    for p in 0..k {
        tile_of_c.at_step(p);
        if FETCH_C {
            b.ask_for_step::<NR>(p + B_STEPS_AHEAD);
            a.ask_for_step::<MR>(p + A_STEPS_AHEAD);
        }
        let mut b_row = [_mm512_setzero_ps(); VECTORS];
        for (v, b_v) in b_row.iter_mut().enumerate() {
            // SAFETY: elements `16v .. 16v + 16 <= NR` of step `p < k`, contiguous.
            *b_v = unsafe { _mm512_loadu_ps(b.at::<NR>(16 * v, p)) };
        }
        for (i, row) in tile.iter_mut().enumerate() {
            // SAFETY: `i < ROWS <= MR`, `p < k`.
            let a_ip = _mm512_set1_ps(unsafe { *a.at::<MR>(i, p) });
            for (sum, &b_v) in row.iter_mut().zip(&b_row) {
                *sum = _mm512_fmadd_ps(a_ip, b_v, *sum);
            }
        }
    }
    for (i, row) in tile.iter().enumerate() {
        for (v, &sum) in row.iter().enumerate() {
            // SAFETY: row `i < ROWS`, columns `16v .. 16v + 16 <= NR` of the caller's tile.
            unsafe {
                let c = c.add(i * rsc + 16 * v);
                let value = match store {
                    Store::Write => sum,
                    Store::Add => _mm512_add_ps(_mm512_loadu_ps(c), sum),
                };
                _mm512_storeu_ps(c, value);
            }
        }
    }
}
