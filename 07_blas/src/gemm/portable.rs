//! The micro-kernel in plain Rust, for any CPU: a 4 × 8 tile.
//!
//! On the x86-64 baseline (SSE2: 16 registers of 4 lanes) the compiler keeps the 32 accumulators in
//! 8 registers, with two loads of `b` and a broadcast of each row's `a[i, p]` per step; elsewhere
//! it does what the target allows. Fused multiply-adds where the target's baseline has them (ARM64;
//! see [`BASELINE_FMA`]), a multiply and an add otherwise.

use super::kernel::{MicroKernel, Sliver, Store, TileOfC};
use crate::isa::{BASELINE_FMA, Isa, multiply_add};

/// The portable kernel.
pub(crate) struct Portable;

const MR: usize = Isa::Portable.kernels().gemm_tile.0;
const NR: usize = Isa::Portable.kernels().gemm_tile.1;

// SAFETY: plain Rust, which every CPU runs.
unsafe impl MicroKernel for Portable {
    const MR: usize = MR;
    const NR: usize = NR;

    fn supported() -> bool {
        true
    }

    super::kernel::tiles_by_height!(tile_portable: 1 2 3);
}

/// The first `ROWS` rows of the tile (`MR`: all of them).
/// `FETCH_C` is ignored: this kernel does not ask for its tile of `C` ahead (the SIMD
/// kernels do, [`ColdTile`](super::kernel::ColdTile)).
///
/// # Safety
///
/// As [`MicroKernel::tile`], with `a` readable and `c` valid for `ROWS` rows.
#[inline(always)]
unsafe fn tile_portable<const ROWS: usize, const FETCH_C: bool>(
    k: usize,
    a: impl Sliver,
    b: impl Sliver,
    c: *mut f32,
    rsc: usize,
    store: Store,
) {
    const { assert!(0 < ROWS && ROWS <= MR) };
    let mut tile = [[0.0f32; NR]; ROWS];
    for p in 0..k {
        // SAFETY: `j < NR`, `p < k`, and `b` is contiguous in `j` (the caller's contract).
        let b_row = unsafe { &*b.at::<NR>(0, p).cast::<[f32; NR]>() };
        for (i, row) in tile.iter_mut().enumerate() {
            // SAFETY: `i < ROWS`, `p < k` (the caller's contract).
            let a_ip = unsafe { *a.at::<MR>(i, p) };
            for (sum, &b_pj) in row.iter_mut().zip(b_row) {
                *sum = multiply_add::<BASELINE_FMA>(a_ip, b_pj, *sum);
            }
        }
    }
    for (i, row) in tile.iter().enumerate() {
        for (j, &sum) in row.iter().enumerate() {
            // SAFETY: `i < ROWS`, `j < NR`: inside the rows of the tile the caller gave.
            unsafe {
                match store {
                    Store::Write => *c.add(i * rsc + j) = sum,
                    Store::Add => *c.add(i * rsc + j) += sum,
                }
            }
        }
    }
}
