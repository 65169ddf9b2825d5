//! The micro-kernels in plain Rust: correct on every machine, and written so that the compiler
//! can vectorise them (fixed-size arrays of lanes, no reduction across lanes inside the loops).
//! Their multiply-adds are fused when `FUSED` (where the target's baseline has FMA). They are
//! the kernels of a CPU none of the others fits; the compiler keeps a bounds check before each
//! load, which the intrinsic kernels do not pay.

use super::kernel::{Asks, COLUMNS_PER_PASS, COLUMNS_PER_ROW, Kernel};
use crate::isa::{BASELINE_FMA, Isa, multiply_add};

/// The plain-Rust kernel for the baseline CPU (SSE2 on x86-64): always available.
#[derive(Clone, Copy, Debug)]
pub(super) struct Portable;

impl Kernel for Portable {
    /// 8 `f32`: one AVX2 register, which is what the compiler makes of the lanes when it may
    /// use AVX2 (two SSE or NEON registers otherwise).
    const LANES: usize = Isa::Portable.kernels().lanes;

    /// One row: its 10 accumulators of 8 lanes take 10 of AVX2's 16 registers, or 20 of NEON's
    /// 32, and a second row's would not fit beside the loads. On the x86-64 baseline (SSE2, 16
    /// registers of 4 lanes) they are 20 registers' worth, more than there are: the compiler
    /// keeps them on the stack, loading, adding to and storing each at every chunk. On the Intel
    /// Xeon this was measured on, that still ran clearly faster than 4 lanes, whose 10
    /// accumulators would fit.
    const DOT_ROWS: usize = Isa::Portable.kernels().dot_tiles[0].0;

    /// The whole pass: its accumulators fit in the registers, except on SSE2 ([`DOT_ROWS`]).
    ///
    /// [`DOT_ROWS`]: Kernel::DOT_ROWS
    const DOT_COLUMNS: usize = COLUMNS_PER_PASS;

    /// Four rows × 16 columns = 8 AVX2 registers of accumulators.
    const SCALE_ROWS: usize = Isa::Portable.kernels().scale_rows;

    /// All 16, whatever `nc`.
    fn scale_lanes(nc: usize, ten_floats: bool) -> usize {
        let _ = (nc, ten_floats);
        COLUMNS_PER_ROW
    }

    #[inline(always)]
    fn dot_columns<const ROWS: usize, const FAR: usize, const NEAR: usize>(
        self,
        rows: &[f32],
        k: usize,
        bt: &[f32],
        kp: usize,
        ahead: Asks<'_, FAR, NEAR>,
    ) -> [[f32; COLUMNS_PER_PASS]; ROWS] {
        dot_columns::<ROWS, { Portable::LANES }, BASELINE_FMA, FAR, NEAR>(rows, k, bt, kp, ahead)
    }

    #[inline(always)]
    fn scale_rows<const ROWS: usize>(
        self,
        rows: &[f32],
        k: usize,
        b: &[f32],
        ldb: usize,
        nc: usize,
    ) -> [[f32; COLUMNS_PER_ROW]; ROWS] {
        scale_rows::<ROWS, BASELINE_FMA>(rows, k, b, ldb, nc)
    }
}

/// [`Kernel::dot_columns`] in `LANES`-wide chunks of `k`, the rest of `k` one element at a time.
#[inline(always)]
pub(super) fn dot_columns<
    const ROWS: usize,
    const LANES: usize,
    const FUSED: bool,
    const FAR: usize,
    const NEAR: usize,
>(
    rows: &[f32],
    k: usize,
    bt: &[f32],
    kp: usize,
    ahead: Asks<'_, FAR, NEAR>,
) -> [[f32; COLUMNS_PER_PASS]; ROWS] {
    assert!(rows.len() == ROWS * k && kp >= k && bt.len() >= COLUMNS_PER_PASS * kp);
    let full = k / LANES;
    let mut acc = [[[0.0f32; LANES]; COLUMNS_PER_PASS]; ROWS];
    for chunk in 0..full {
        super::kernel::prefetch(&ahead, chunk * ROWS * LANES, ROWS * LANES);
        let x: [&[f32]; ROWS] = std::array::from_fn(|r| &rows[r * k + chunk * LANES..][..LANES]);
        for j in 0..COLUMNS_PER_PASS {
            let y = &bt[j * kp + chunk * LANES..][..LANES];
            for (acc, x) in acc.iter_mut().zip(x) {
                for lane in 0..LANES {
                    acc[j][lane] = multiply_add::<FUSED>(x[lane], y[lane], acc[j][lane]);
                }
            }
        }
    }
    let mut sums = [[0.0f32; COLUMNS_PER_PASS]; ROWS];
    for (r, (sums, acc)) in sums.iter_mut().zip(&acc).enumerate() {
        let row = &rows[r * k..][..k];
        for (j, (sum, acc)) in sums.iter_mut().zip(acc).enumerate() {
            let tail: f32 = (full * LANES..k).map(|p| row[p] * bt[j * kp + p]).sum();
            *sum = acc.iter().sum::<f32>() + tail;
        }
    }
    sums
}

/// [`Kernel::scale_rows`] with 16-lane arrays as accumulators.
#[inline(always)]
pub(super) fn scale_rows<const ROWS: usize, const FUSED: bool>(
    rows: &[f32],
    k: usize,
    b: &[f32],
    ldb: usize,
    nc: usize,
) -> [[f32; COLUMNS_PER_ROW]; ROWS] {
    assert!(
        nc <= COLUMNS_PER_ROW,
        "scale_rows handles at most {COLUMNS_PER_ROW} columns, got {nc}"
    );
    let rows = &rows[..ROWS * k];
    let mut acc = [[0.0f32; COLUMNS_PER_ROW]; ROWS];
    for p in 0..k {
        let row = &b[p * ldb..];
        // 16 lanes straight from `b` when they are there (the lanes past `nc` belong to other
        // columns or rows and are never stored); otherwise the `nc` real ones, zero-padded.
        let y: [f32; COLUMNS_PER_ROW] = match row.get(..COLUMNS_PER_ROW) {
            Some(lanes) => lanes.try_into().expect("16 lanes"),
            None => {
                let mut y = [0.0f32; COLUMNS_PER_ROW];
                y[..nc].copy_from_slice(&row[..nc]);
                y
            }
        };
        for (i, acc) in acc.iter_mut().enumerate() {
            let x = rows[i * k + p];
            for lane in 0..COLUMNS_PER_ROW {
                acc[lane] = multiply_add::<FUSED>(x, y[lane], acc[lane]);
            }
        }
    }
    acc
}
