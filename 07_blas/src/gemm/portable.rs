//! The micro-kernel in plain Rust, for any CPU: a 4 × 8 tile.
//!
//! On the x86-64 baseline (SSE2: 16 registers of 4 lanes) the compiler keeps the 32
//! accumulators in 8 registers, two loads of `b` and one broadcast per step; elsewhere it does
//! what the target allows. Fused multiply-adds where the target's baseline has them (ARM64;
//! see [`BASELINE_FMA`]), a multiply and an add otherwise.

use super::kernel::{MicroKernel, Sliver, Store};
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

    #[inline(always)]
    unsafe fn tile(
        k: usize,
        a: impl Sliver,
        b: impl Sliver,
        c: *mut f32,
        rsc: usize,
        store: Store,
    ) {
        let mut tile = [[0.0f32; NR]; MR];
        for p in 0..k {
            // SAFETY: `j < NR`, `p < k`, and `b` is contiguous in `j` (the caller's contract).
            let b_row = unsafe { &*b.at::<NR>(0, p).cast::<[f32; NR]>() };
            for (i, row) in tile.iter_mut().enumerate() {
                // SAFETY: `i < MR`, `p < k` (the caller's contract).
                let a_ip = unsafe { *a.at::<MR>(i, p) };
                for (sum, &b_pj) in row.iter_mut().zip(b_row) {
                    *sum = multiply_add::<BASELINE_FMA>(a_ip, b_pj, *sum);
                }
            }
        }
        for (i, row) in tile.iter().enumerate() {
            for (j, &sum) in row.iter().enumerate() {
                // SAFETY: `i < MR`, `j < NR`: inside the tile the caller gave.
                unsafe {
                    match store {
                        Store::Write => *c.add(i * rsc + j) = sum,
                        Store::Add => *c.add(i * rsc + j) += sum,
                    }
                }
            }
        }
    }
}
