//! The micro-kernels with NEON intrinsics (ARM64): 4 `f32` lanes per register, 32 registers to
//! keep two rows' accumulators in, and fused multiply-adds. NEON is part of the ARM64 baseline,
//! so there is nothing to detect: every CPU this module is compiled for runs it.
//!
//! NEON has no masked loads, so where AVX-512 loads a ragged end with a mask, these kernels
//! finish it one element at a time.

use std::arch::aarch64::{
    float32x4_t, vaddvq_f32, vdupq_n_f32, vfmaq_f32, vfmaq_n_f32, vld1q_f32, vst1q_f32,
};

use super::kernel::{Asks, COLUMNS_PER_PASS, COLUMNS_PER_ROW, Kernel, holds_rows};
use crate::isa::Isa;

/// Lanes of one register.
const LANES: usize = Isa::Neon.kernels().lanes;

/// 4-lane registers per row of [`scale_rows`]'s sums: all 16 columns.
const ROW_VECTORS: usize = COLUMNS_PER_ROW / LANES;

/// The NEON kernel.
#[derive(Clone, Copy, Debug)]
pub(super) struct Neon;

impl Kernel for Neon {
    const LANES: usize = LANES;

    /// Two rows × 10 columns = 20 accumulators of NEON's 32 registers, with two rows of `a`
    /// and a column of `bᵀ` beside them: each load of `bᵀ` feeds two FMAs.
    /// An Apple core starts four FMAs per cycle with a latency of 4: 20 independent sums keep
    /// it busy.
    const DOT_ROWS: usize = Isa::Neon.kernels().dot_tiles[0].0;

    /// The whole pass: its accumulators fit in the registers.
    const DOT_COLUMNS: usize = COLUMNS_PER_PASS;

    /// Six rows × four 4-lane registers (16 columns) = 24 accumulators, beside the four
    /// registers of a row of `b` (three and three for the lesson's 10 columns).
    const SCALE_ROWS: usize = Isa::Neon.kernels().scale_rows;

    fn dot_columns<const ROWS: usize, const FAR: usize, const NEAR: usize>(
        self,
        rows: &[f32],
        k: usize,
        bt: &[f32],
        kp: usize,
        ahead: Asks<'_, FAR, NEAR>,
    ) -> [[f32; COLUMNS_PER_PASS]; ROWS] {
        // SAFETY: NEON is in every ARM64 CPU.
        unsafe { dot_columns::<ROWS, FAR, NEAR>(rows, k, bt, kp, ahead) }
    }

    fn scale_rows<const ROWS: usize>(
        self,
        rows: &[f32],
        k: usize,
        b: &[f32],
        ldb: usize,
        nc: usize,
    ) -> [[f32; COLUMNS_PER_ROW]; ROWS] {
        // SAFETY: NEON is in every ARM64 CPU.
        unsafe { scale_rows::<ROWS>(rows, k, b, ldb, nc) }
    }
}

/// [`Kernel::dot_columns`]: per 4 elements of `k`, one load from each row of `a` and one from
/// each of the 10 packed columns, and `ROWS × 10` FMAs; the last `k % 4` elements one at a
/// time.
///
/// # Panics
///
/// When a slice is shorter than [`Kernel::dot_columns`] says.
#[target_feature(enable = "neon")]
fn dot_columns<const ROWS: usize, const FAR: usize, const NEAR: usize>(
    rows: &[f32],
    k: usize,
    bt: &[f32],
    kp: usize,
    ahead: Asks<'_, FAR, NEAR>,
) -> [[f32; COLUMNS_PER_PASS]; ROWS] {
    assert!(rows.len() == ROWS * k && kp.is_multiple_of(LANES) && kp >= k);
    assert!(bt.len() >= COLUMNS_PER_PASS * kp);
    let chunks = k / LANES;
    let mut acc = [[vdupq_n_f32(0.0); COLUMNS_PER_PASS]; ROWS];
    for chunk in 0..chunks {
        // One hint per chunk and slice of `ahead`, for as many floats of it as the chunk reads
        // of its own rows: every line of each slice is asked for once or twice. (Asking once
        // per line means unrolling four chunks, which the compiler then schedules into more
        // registers than there are.)
        super::kernel::prefetch(&ahead, chunk * ROWS * LANES, ROWS * LANES);
        // SAFETY: `chunk < k / 4` and the slices' lengths, asserted above.
        unsafe { fma_chunk(&mut acc, rows, k, bt, kp, chunk) };
    }
    let mut sums = [[0.0f32; COLUMNS_PER_PASS]; ROWS];
    for (r, (sums, acc)) in sums.iter_mut().zip(&acc).enumerate() {
        let row = &rows[r * k..][..k];
        for (j, (sum, &acc)) in sums.iter_mut().zip(acc).enumerate() {
            // The last `k % 4` elements, which no whole chunk covers.
            let tail: f32 = (chunks * LANES..k).map(|p| row[p] * bt[j * kp + p]).sum();
            *sum = vaddvq_f32(acc) + tail;
        }
    }
    sums
}

/// [`Kernel::scale_rows`]: per element of `k`, one row of `b` (one 4-float load per 4 columns
/// or fewer: three for the lesson's 10) and as many FMAs per row of `a`, each by the scalar
/// `a[r, p]`.
///
/// # Panics
///
/// When a slice is shorter than [`Kernel::scale_rows`] says, or `nc > 16`.
#[target_feature(enable = "neon")]
fn scale_rows<const ROWS: usize>(
    rows: &[f32],
    k: usize,
    b: &[f32],
    ldb: usize,
    nc: usize,
) -> [[f32; COLUMNS_PER_ROW]; ROWS] {
    // As many registers as `nc` columns fill: for 10 columns, a fourth would hold only lanes
    // that are never stored (other columns of `b`, or padding), one FMA of four per row and
    // step for nothing. With three, 2 of 12 lanes are spare.
    match nc.div_ceil(LANES) {
        0 | 1 => scale_rows_in::<ROWS, 1>(rows, k, b, ldb, nc),
        2 => scale_rows_in::<ROWS, 2>(rows, k, b, ldb, nc),
        3 => scale_rows_in::<ROWS, 3>(rows, k, b, ldb, nc),
        _ => scale_rows_in::<ROWS, ROW_VECTORS>(rows, k, b, ldb, nc),
    }
}

/// [`scale_rows`] with `VECTORS` registers per row: the first `4 · VECTORS ≥ nc` columns.
///
/// # Panics
///
/// As [`scale_rows`], and when `nc > 4 · VECTORS`.
#[target_feature(enable = "neon")]
fn scale_rows_in<const ROWS: usize, const VECTORS: usize>(
    rows: &[f32],
    k: usize,
    b: &[f32],
    ldb: usize,
    nc: usize,
) -> [[f32; COLUMNS_PER_ROW]; ROWS] {
    const { assert!(VECTORS <= ROW_VECTORS) };
    let width = VECTORS * LANES;
    assert!(nc <= width && rows.len() >= ROWS * k);
    assert!(holds_rows(b.len(), k, ldb, nc));
    // The rows of `b` whose `width` floats are all inside `b` are read in place (the lanes
    // past `nc` belong to other columns or rows and are never stored); the last few, a copy
    // of their `nc` floats, zero-padded.
    let in_place = match b.len().checked_sub(width) {
        Some(room) => (room / ldb.max(1) + 1).min(k),
        None => 0,
    };
    let mut acc = [[vdupq_n_f32(0.0); VECTORS]; ROWS];
    let mut padded = [0.0f32; COLUMNS_PER_ROW];
    for p in 0..k {
        let y = if p < in_place {
            // `p * ldb + width ≤ b.len()` for every `p < in_place`.
            b[p * ldb..][..width].as_ptr()
        } else {
            padded[..nc].copy_from_slice(&b[p * ldb..][..nc]);
            padded.as_ptr()
        };
        // SAFETY: `y` points at `width` readable floats, in `b` or in `padded` (16).
        let y: [float32x4_t; VECTORS] =
            std::array::from_fn(|v| unsafe { vld1q_f32(y.add(v * LANES)) });
        for (r, acc) in acc.iter_mut().enumerate() {
            let x = rows[r * k + p];
            for (acc, &y) in acc.iter_mut().zip(&y) {
                *acc = vfmaq_n_f32(*acc, y, x);
            }
        }
    }
    let mut sums = [[0.0f32; COLUMNS_PER_ROW]; ROWS];
    for (sums, acc) in sums.iter_mut().zip(&acc) {
        for (v, &acc) in acc.iter().enumerate() {
            // SAFETY: lanes `4v .. 4v + 4 ≤ 4 · VECTORS ≤ 16` of `sums`, an array of 16 `f32`.
            unsafe { vst1q_f32(sums.as_mut_ptr().add(v * LANES), acc) };
        }
    }
    sums
}

/// One chunk of 4 elements of `k` for [`Kernel::dot_columns`]: one load from each row of `a`,
/// one from each packed column, `ROWS × 10` FMAs into `acc`.
///
/// # Safety
///
/// `rows.len() == ROWS * k`, `chunk < k / 4`, `kp ≥ k` and `bt.len() ≥ COLUMNS_PER_PASS * kp`.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn fma_chunk<const ROWS: usize>(
    acc: &mut [[float32x4_t; COLUMNS_PER_PASS]; ROWS],
    rows: &[f32],
    k: usize,
    bt: &[f32],
    kp: usize,
    chunk: usize,
) {
    let x: [float32x4_t; ROWS] = std::array::from_fn(|r| {
        // SAFETY: `chunk * 4 + 4 ≤ k`, so the 4 lanes lie inside row `r < ROWS` of `rows`.
        unsafe { vld1q_f32(rows.as_ptr().add(r * k + chunk * LANES)) }
    });
    for j in 0..COLUMNS_PER_PASS {
        // SAFETY: `j < COLUMNS_PER_PASS` and `chunk * 4 + 4 ≤ k ≤ kp`, so the 4 lanes lie
        // inside `bt[j * kp..(j + 1) * kp]`.
        let y = unsafe { vld1q_f32(bt.as_ptr().add(j * kp + chunk * LANES)) };
        for (acc, &x) in acc.iter_mut().zip(&x) {
            acc[j] = vfmaq_f32(acc[j], x, y);
        }
    }
}
