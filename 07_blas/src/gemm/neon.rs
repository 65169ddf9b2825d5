//! The NEON micro-kernel (ARM64): an 8 × 12 tile in 24 of the 32 128-bit `v` registers.
//!
//! Each step `p` loads the row `b[p, 0..12]` as three 4-lane vectors and, for each of the 8
//! rows, multiplies all three by the scalar `a[i, p]` into its accumulators (`fmla` by element:
//! the scalar stays in a register lane, no broadcast needed). That is 24 FMAs — 96
//! multiply-adds — for 3 vector loads and 8 scalar loads (from the packed `A` the compiler
//! pairs them into vector loads), and 24 accumulators + 3 rows of `b` + the scalars of `a`
//! fit the 32 registers.
//!
//! Why that many accumulators: an Apple P-core starts four 4-lane FMAs per cycle and each
//! takes 4 cycles, so 16 sums must be in flight to keep it busy; most other ARM64 cores need
//! fewer. 24 covers them all with room to spare, and 8 × 12 is the tile BLIS uses for ARMv8.
//! A square tile (8 × 8, 16 accumulators) would just cover an Apple core and load more per
//! FMA; a wider one (8 × 16, 32 accumulators) does not fit.

use std::arch::aarch64::{float32x4_t, vaddq_f32, vdupq_n_f32, vfmaq_n_f32, vld1q_f32, vst1q_f32};

use super::kernel::{ColdTile, MicroKernel, Sliver, Store, TileOfC, each_step};
use crate::isa::Isa;

/// The NEON kernel.
pub(crate) struct Neon;

const MR: usize = Isa::Neon.kernels().gemm_tile.0;
const NR: usize = Isa::Neon.kernels().gemm_tile.1;
/// 4-lane vectors per row of the tile.
const VECTORS: usize = NR / 4;

// SAFETY: NEON is part of the ARM64 baseline, so every CPU this module is compiled for runs it.
unsafe impl MicroKernel for Neon {
    const MR: usize = MR;
    const NR: usize = NR;

    fn supported() -> bool {
        true
    }

    super::kernel::tiles_by_height!(tile_neon: 1 2 3 4 5 6 7);
}

/// The first `ROWS` rows of the tile (`MR`: all of them), asking for the tile of `C` ahead
/// when `FETCH_C` ([`TileOfC::Cold`]).
///
/// # Safety
///
/// As [`MicroKernel::tile`], with `a` readable and `c` valid for `ROWS` rows. (The attribute
/// only says what every ARM64 CPU has; the intrinsics ask for it.)
#[target_feature(enable = "neon")]
unsafe fn tile_neon<const ROWS: usize, const FETCH_C: bool>(
    k: usize,
    a: impl Sliver,
    b: impl Sliver,
    c: *mut f32,
    rsc: usize,
    store: Store,
) {
    const { assert!(0 < ROWS && ROWS <= MR) };
    let mut tile: [[float32x4_t; VECTORS]; ROWS] = [[vdupq_n_f32(0.0); VECTORS]; ROWS];
    // A cold tile of `c`: asked for into L2 now, into L1 a few steps before the end.
    let tile_of_c = ColdTile::<FETCH_C>::ask(c, ROWS, NR, rsc, k);
    each_step!(1, k, tile_of_c, |_, _| {}, |p| {
        let mut b_row = [vdupq_n_f32(0.0); VECTORS];
        for (v, b_v) in b_row.iter_mut().enumerate() {
            // SAFETY: elements `4v .. 4v + 4 <= NR` of step `p < k`, contiguous (the
            // caller's contract).
            *b_v = unsafe { vld1q_f32(b.at::<NR>(4 * v, p)) };
        }
        for (i, row) in tile.iter_mut().enumerate() {
            // SAFETY: `i < ROWS <= MR`, `p < k` (the caller's contract).
            let a_ip = unsafe { *a.at::<MR>(i, p) };
            for (sum, &b_v) in row.iter_mut().zip(&b_row) {
                *sum = vfmaq_n_f32(*sum, b_v, a_ip);
            }
        }
    });
    for (i, row) in tile.iter().enumerate() {
        for (v, &sum) in row.iter().enumerate() {
            // SAFETY: row `i < ROWS`, columns `4v .. 4v + 4 <= NR` of the caller's tile.
            unsafe {
                let c = c.add(i * rsc + 4 * v);
                let value = match store {
                    Store::Write => sum,
                    Store::Add => vaddq_f32(vld1q_f32(c), sum),
                };
                vst1q_f32(c, value);
            }
        }
    }
}
