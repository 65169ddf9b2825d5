//! The micro-kernels with AVX2 and FMA intrinsics: 8 `f32` lanes per register, masked loads
//! (`vmaskmovps`) for the ragged ends of `k` and of `b`'s rows, 16 registers.
//!
//! As in the AVX-512 kernels, each kernel checks its slice bounds with `assert!` once on entry,
//! so that the loads inside the loops can use raw pointers; the other obligation, that the CPU
//! has AVX2 and FMA, is met by holding an [`Avx2`], which only [`Avx2::new`] makes.
//!
//! These kernels were once the plain-Rust ones of [`Portable`](super::portable::Portable)
//! compiled with AVX2 enabled. The compiler vectorised them, but kept a bounds check before
//! every load and stored each accumulator back to the stack after every FMA (seen in the
//! disassembly): the many-rows path ran at a quarter of the memory's speed.

use std::arch::x86_64::{
    __m256, __m256i, _mm_add_ps, _mm_add_ss, _mm_cvtss_f32, _mm_movehdup_ps, _mm_movehl_ps,
    _mm256_add_ps, _mm256_castps256_ps128, _mm256_cmpgt_epi32, _mm256_extractf128_ps,
    _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_maskload_ps, _mm256_set1_epi32, _mm256_set1_ps,
    _mm256_setr_epi32, _mm256_setzero_ps, _mm256_storeu_ps,
};

use super::kernel::{Asks, COLUMNS_PER_PASS, COLUMNS_PER_ROW, Kernel};
use crate::isa::Isa;

/// Lanes of one register.
const LANES: usize = Isa::Avx2.kernels().lanes;

/// The AVX2 + FMA kernel. Only [`Avx2::new`] makes one, on a CPU that has both.
#[derive(Clone, Copy, Debug)]
pub(super) struct Avx2(());

impl Avx2 {
    /// The kernel, when this CPU supports AVX2 and FMA.
    pub(super) fn new() -> Option<Avx2> {
        let supported = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        supported.then_some(Avx2(()))
    }
}

impl Kernel for Avx2 {
    const LANES: usize = LANES;

    /// Two rows × 5 columns = 10 accumulators of AVX2's 16 registers.
    const DOT_ROWS: usize = Isa::Avx2.kernels().dot_tiles[0].0;

    /// Half a pass (see [`HALF`]).
    const DOT_COLUMNS: usize = HALF;

    /// Five rows × 16 columns = 10 accumulators (two registers a row).
    const SCALE_ROWS: usize = Isa::Avx2.kernels().scale_rows;

    fn dot_columns<const ROWS: usize, const ASKS: usize>(
        self,
        rows: &[f32],
        k: usize,
        bt: &[f32],
        kp: usize,
        ahead: Asks<'_, ASKS>,
    ) -> [[f32; COLUMNS_PER_PASS]; ROWS] {
        assert!(rows.len() == ROWS * k && kp.is_multiple_of(LANES) && kp >= k);
        assert!(bt.len() >= HALF * kp);
        // SAFETY: `self` exists, so `Avx2::new` saw AVX2 and FMA on this CPU; the slices are
        // as long as `dot_columns` needs (asserted above).
        unsafe { dot_columns::<ROWS, ASKS>(rows, k, bt, kp, ahead) }
    }

    fn scale_rows<const ROWS: usize>(
        self,
        rows: &[f32],
        k: usize,
        b: &[f32],
        ldb: usize,
        nc: usize,
    ) -> [[f32; COLUMNS_PER_ROW]; ROWS] {
        // The kernel stores two whole registers into each row of COLUMNS_PER_ROW sums.
        const { assert!(COLUMNS_PER_ROW == 2 * LANES) };
        assert!(nc <= COLUMNS_PER_ROW && rows.len() >= ROWS * k);
        assert!(k == 0 || b.len() >= (k - 1) * ldb + nc);
        // SAFETY: as above, for `scale_rows`.
        unsafe { scale_rows::<ROWS>(rows, k, b, ldb, nc) }
    }
}

/// The mask selecting the first `n` lanes of 8 (all of them when `n ≥ 8`), in the form
/// `_mm256_maskload_ps` takes: lane `i` is all ones when `i < n`.
///
/// # Safety
///
/// The CPU must support AVX2.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn first_lanes(n: usize) -> __m256i {
    let n = n.min(LANES) as i32; // at most 8: no truncation
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(n),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

/// [`Kernel::DOT_COLUMNS`]: 5 of the pass's 10 columns per call.
///
/// All 10 columns for one row take 10 accumulators and 11 loads per 10 FMAs; two rows' 20
/// accumulators would not fit in 16 registers. Two rows × 5 columns take 10 accumulators and
/// 7 loads per 10 FMAs. The driver calls the kernel once for each half of the pass, over a
/// group of rows that stays in L2. So L1 needs one half of `bᵀ` at a time: for the lesson's
/// `k = 784`, 16 KB, where both halves would be 31 KB, all of a 32 KB L1 before a single row
/// of `a` is loaded.
const HALF: usize = COLUMNS_PER_PASS / 2;

/// [`Kernel::dot_columns`] on 5 columns: per 8 elements of `k`, one load from each row of
/// `a` and one from each of the 5 packed columns, and `ROWS × 5` FMAs; the last, partial chunk
/// of `k` is loaded with a mask (the packed columns are zero there, so their lanes add
/// nothing). Per two chunks it asks for `ROWS · 8` floats of each slice of `ahead` (a line,
/// for two rows): about `ROWS · k / 2` floats of each over a call, this call's shares of the
/// rows ahead.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; `rows.len() == ROWS * k`, `kp` is a multiple of 8 and
/// at least `k`, and `bt.len() ≥ 5 * kp`.
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_columns<const ROWS: usize, const ASKS: usize>(
    rows: &[f32],
    k: usize,
    bt: &[f32],
    kp: usize,
    ahead: Asks<'_, ASKS>,
) -> [[f32; COLUMNS_PER_PASS]; ROWS] {
    let full = k / LANES;
    let tail = k % LANES;
    let mut acc = [[_mm256_setzero_ps(); HALF]; ROWS];
    // Two chunks per turn, and one prefetch: no branch in the loop.
    for pair in 0..full / 2 {
        super::kernel::prefetch(&ahead, pair * ROWS * LANES, ROWS * LANES);
        // SAFETY: `2 * pair + 1 < k / 8`, the contract of this function, AVX2 and FMA.
        unsafe {
            fma_chunk(&mut acc, rows, k, bt, kp, 2 * pair, None);
            fma_chunk(&mut acc, rows, k, bt, kp, 2 * pair + 1, None);
        }
    }
    if full % 2 == 1 {
        // SAFETY: as above, for the odd last whole chunk.
        unsafe { fma_chunk(&mut acc, rows, k, bt, kp, full - 1, None) };
    }
    if tail > 0 {
        // SAFETY: as above, for the partial last chunk, under its mask; AVX2.
        unsafe { fma_chunk(&mut acc, rows, k, bt, kp, full, Some(first_lanes(tail))) };
    }
    let mut sums = [[0.0f32; COLUMNS_PER_PASS]; ROWS];
    for (sums, acc) in sums.iter_mut().zip(&acc) {
        for (sum, &acc) in sums.iter_mut().zip(acc) {
            // SAFETY: AVX2, as this function's caller promised.
            *sum = unsafe { sum_lanes(acc) };
        }
    }
    sums
}

/// The 8 lanes of `v`, summed: halves added, then quarters, then the last two lanes.
///
/// # Safety
///
/// The CPU must support AVX2.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn sum_lanes(v: __m256) -> f32 {
    let four = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let two = _mm_add_ps(four, _mm_movehl_ps(four, four));
    _mm_cvtss_f32(_mm_add_ss(two, _mm_movehdup_ps(two)))
}

/// One chunk of 8 elements of `k` for [`dot_columns`]: one load from each row of `a` (the
/// lanes `mask` selects, or all 8), one from each of the 5 packed columns, `ROWS × 5` FMAs
/// into `acc`.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; the contract of [`dot_columns`], and the lanes loaded
/// in `chunk * 8..chunk * 8 + 8` lie below `k` (all of them below `kp`).
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_chunk<const ROWS: usize>(
    acc: &mut [[__m256; HALF]; ROWS],
    rows: &[f32],
    k: usize,
    bt: &[f32],
    kp: usize,
    chunk: usize,
    mask: Option<__m256i>,
) {
    let mut x = [_mm256_setzero_ps(); ROWS];
    for (r, x) in x.iter_mut().enumerate() {
        let at = rows.as_ptr().wrapping_add(r * k + chunk * LANES);
        // SAFETY: the lanes loaded lie in `chunk * 8..min(chunk * 8 + 8, k)`, inside row
        // `r < ROWS` of `rows`; masked-off lanes are not read.
        *x = unsafe {
            match mask {
                None => _mm256_loadu_ps(at),
                Some(mask) => _mm256_maskload_ps(at, mask),
            }
        };
    }
    for j in 0..HALF {
        // SAFETY: `j < 5` columns and `chunk * 8 + 8 ≤ kp`, so the 8 lanes lie inside
        // `bt[j * kp..(j + 1) * kp]`.
        let y = unsafe { _mm256_loadu_ps(bt.as_ptr().add(j * kp + chunk * LANES)) };
        for (acc, &x) in acc.iter_mut().zip(&x) {
            acc[j] = _mm256_fmadd_ps(x, y, acc[j]);
        }
    }
}

/// [`Kernel::scale_rows`]: per element of `k`, one row of `b` (`nc ≤ 16` floats, two masked
/// loads) and two FMAs per row of `a`, with `a[r, p]` broadcast to all lanes. No packing.
///
/// Each row's sum is split into [`partial_sums`] interleaved partial sums, added together at
/// the end, so that even a call on one row keeps [`FMAS_IN_FLIGHT`] independent FMAs going
/// (the reason is the AVX-512 kernel's: one sum per row would make the time `k` FMA
/// latencies), as far as the registers allow: three rows get one sum each, six FMAs.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; `nc ≤ 16`, `rows.len() ≥ ROWS * k` and
/// `b.len() ≥ (k - 1) * ldb + nc`.
#[target_feature(enable = "avx2,fma")]
unsafe fn scale_rows<const ROWS: usize>(
    rows: &[f32],
    k: usize,
    b: &[f32],
    ldb: usize,
    nc: usize,
) -> [[f32; COLUMNS_PER_ROW]; ROWS] {
    // SAFETY: AVX2, as this function's caller promised.
    let (low, high) = unsafe { (first_lanes(nc), first_lanes(nc.saturating_sub(LANES))) };
    let parts = partial_sums(ROWS);
    let mut acc = [[[_mm256_setzero_ps(); 2]; MAX_PARTS]; ROWS];
    // One step `p`: row `p` of `b`, scaled by each row's `a[r, p]`, into partial sum `part`.
    let step = |acc: &mut [[[__m256; 2]; MAX_PARTS]; ROWS], p: usize, part: usize| {
        let row = b.as_ptr().wrapping_add(p * ldb);
        // SAFETY: lanes `0..nc` of row `p < k` of `b`, `p * ldb + nc ≤ b.len()`; masked-off
        // lanes are not read.
        let y = unsafe {
            [
                _mm256_maskload_ps(row, low),
                _mm256_maskload_ps(row.wrapping_add(LANES), high),
            ]
        };
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `r < ROWS` and `p < k`, so `r * k + p < ROWS * k ≤ rows.len()`.
            let x = _mm256_set1_ps(unsafe { *rows.as_ptr().add(r * k + p) });
            for (acc, &y) in acc[part].iter_mut().zip(&y) {
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
        }
    };
    let whole = k / parts * parts;
    for p0 in (0..whole).step_by(parts) {
        for part in 0..parts {
            // As in the AVX-512 kernel: `b` comes mostly from L2, so ask for its rows ahead.
            crate::prefetch::to_l1(b.as_ptr().wrapping_add((p0 + part + B_ROWS_AHEAD) * ldb));
            step(&mut acc, p0 + part, part);
        }
    }
    // The last `k % parts` steps into the first partial sum: an index known at compile time
    // keeps the accumulators in registers (a computed one would put them all on the stack).
    for p in whole..k {
        step(&mut acc, p, 0);
    }
    let mut sums = [[0.0f32; COLUMNS_PER_ROW]; ROWS];
    for (sums, acc) in sums.iter_mut().zip(&acc) {
        for half in 0..2 {
            let total = acc[1..parts]
                .iter()
                .fold(acc[0][half], |total, part| _mm256_add_ps(total, part[half]));
            // SAFETY: lanes `8 * half..8 * half + 8` of `sums`, an array of 16 `f32`.
            unsafe { _mm256_storeu_ps(sums.as_mut_ptr().add(half * LANES), total) };
        }
    }
    sums
}

/// Independent FMAs [`scale_rows`] aims to keep going: two issued per cycle, each taking four
/// or five cycles (the FMA of recent AMD and Intel cores), need eight to ten in flight.
const FMAS_IN_FLIGHT: usize = 8;

/// Rows of `b` ahead of its own that [`scale_rows`] asks L1 for (as in the AVX-512 kernel).
const B_ROWS_AHEAD: usize = 32;

/// Partial sums per row, the most [`scale_rows`] uses.
const MAX_PARTS: usize = 4;

/// Registers [`scale_rows`] can spend on accumulators: 16, less the two masks, the two
/// halves of a row of `b` and the broadcast `a[r, p]`. One more, and the compiler keeps
/// accumulators on the stack, storing and reloading them at every step (three rows with two
/// partial sums each, 12 accumulators, ran much slower than with one sum).
const ACCUMULATORS: usize = 16 - 5;

// Every row count the driver gives [`scale_rows`] must fit, with one partial sum per row.
const _: () = assert!(
    2 * Isa::Avx2.kernels().scale_rows <= ACCUMULATORS,
    "AVX2's scale_rows leaves too few registers for one sum per row"
);

/// Partial sums per row for `rows` rows: two registers each, enough for [`FMAS_IN_FLIGHT`]
/// FMAs where [`ACCUMULATORS`] allows, at most [`MAX_PARTS`] (one row: 4 sums, 8
/// accumulators; three rows: 1 sum, 6 accumulators; five rows: 1 sum, 10 accumulators).
const fn partial_sums(rows: usize) -> usize {
    let parts = FMAS_IN_FLIGHT.div_ceil(2 * rows);
    let fit = ACCUMULATORS / (2 * rows);
    // At least one sum: row counts past what fits (compiled for the driver's ladder, never
    // called, as asserted above) still get a correct, if spilled, kernel.
    let parts = if parts > fit { fit } else { parts };
    let parts = if parts == 0 { 1 } else { parts };
    if parts > MAX_PARTS { MAX_PARTS } else { parts }
}
