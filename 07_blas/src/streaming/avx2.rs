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
    __m256, __m256i, _mm_add_ps, _mm_add_ss, _mm_cvtss_f32, _mm_loadu_ps, _mm_movehdup_ps,
    _mm_movehl_ps, _mm256_add_ps, _mm256_blend_ps, _mm256_castps256_ps128, _mm256_cmpgt_epi32,
    _mm256_extractf128_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_loadu2_m128,
    _mm256_maskload_ps, _mm256_maskstore_ps, _mm256_permutevar_ps, _mm256_set_m128,
    _mm256_set1_epi32, _mm256_set1_ps, _mm256_setr_epi32, _mm256_setzero_ps, _mm256_storeu_ps,
};

use super::kernel::{
    Asks, COLUMNS_PER_PASS, COLUMNS_PER_ROW, Kernel, Rows, RowsMut, holds_rows, ten_column_steps,
    whole_registers,
};
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

    /// Five rows × 16 columns = 10 accumulators (two registers a row, one for 8 columns or
    /// fewer; on the lesson's weights, [`ten_columns`]: columns 0–7 and the pairs of columns 8
    /// and 9).
    const SCALE_ROWS: usize = Isa::Avx2.kernels().scale_rows;

    /// One register for up to 8 columns, two for more; on the lesson's weights, the lanes
    /// that [`ten_columns`]' time would fill ([`TEN_COLUMN_LANES`]).
    fn scale_lanes(nc: usize, ten_floats: bool) -> usize {
        if ten_floats {
            TEN_COLUMN_LANES
        } else {
            whole_registers(nc, LANES)
        }
    }

    fn dot_columns<const ROWS: usize, const FAR: usize, const NEAR: usize>(
        self,
        rows: &[f32],
        k: usize,
        bt: &[f32],
        kp: usize,
        ahead: Asks<'_, FAR, NEAR>,
    ) -> [[f32; COLUMNS_PER_PASS]; ROWS] {
        assert!(rows.len() == ROWS * k && kp.is_multiple_of(LANES) && kp >= k);
        assert!(bt.len() >= HALF * kp);
        // SAFETY: `self` exists, so `Avx2::new` saw AVX2 and FMA on this CPU; the slices are
        // as long as `dot_columns` needs (asserted above).
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
        // The kernel stores one or two whole registers into each row of COLUMNS_PER_ROW sums.
        const { assert!(COLUMNS_PER_ROW == 2 * LANES) };
        assert!(nc <= COLUMNS_PER_ROW && rows.len() >= ROWS * k);
        assert!(holds_rows(b.len(), k, ldb, nc));
        // SAFETY: as above, for `scale_rows`.
        unsafe { scale_rows::<ROWS>(rows, k, b, ldb, nc) }
    }

    const ONE_ROW: Option<usize> = Some(ONE_ROW_STEPS);

    fn whole_rows(self, a: Rows<'_>, b: &[f32], n: usize, y: RowsMut<'_>, group: usize) {
        // SAFETY: as above, for `whole_rows`.
        unsafe { checked_whole_rows(a, b, n, y, group) }
    }
}

/// The most rows of `b` that [`whole_rows`] adds into each register of `y` between its load and
/// its store, for one row of `a` (its row of [`Isa::kernels`]): half of AVX-512's, so that their
/// broadcast elements of `a` and the sum fit AVX2's 16 registers.
const ONE_ROW_STEPS: usize = match Isa::Avx2.kernels().one_row {
    Some(steps) => steps,
    None => panic!("the AVX2 kernel has a one-row path"),
};

// [`Kernel::whole_rows`], as AVX-512's is, 8 lanes a register.
super::kernel::whole_rows_in_groups!("avx2,fma", ONE_ROW_STEPS: [8 4 2] [8 4 2]);

/// `y[i][j] += Σ_r a[i][r] · rows[r · n + j]` for the `M` rows `i` of `a` (`lda` apart) and of
/// `y` (`ldy` apart) and `j < n`, one register of each row of `y` at a time.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; `a` is readable for `M` rows of `R` floats, `lda` apart,
/// `rows` for `R` rows of `n` floats, one after another, and `y` writable for `M` rows of `n`
/// floats, `ldy` apart.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn add_rows<const R: usize, const M: usize>(
    a: *const f32,
    lda: usize,
    rows: *const f32,
    n: usize,
    y: *mut f32,
    ldy: usize,
) {
    let x: [[__m256; R]; M] = std::array::from_fn(|i| {
        std::array::from_fn(|r| {
            // SAFETY: element `r < R` of row `i < M` of `a`, the caller's contract.
            _mm256_set1_ps(unsafe { *a.add(i * lda + r) })
        })
    });
    let whole = n / LANES * LANES;
    for j in (0..whole).step_by(LANES) {
        // SAFETY: columns `j .. j + 8 ≤ n`, the caller's contract.
        unsafe { add_register(&x, rows, n, j, None, y, ldy) };
    }
    if whole < n {
        // SAFETY: the columns from `whole` below `n`, under their mask; AVX2.
        unsafe { add_register(&x, rows, n, whole, Some(first_lanes(n - whole)), y, ldy) };
    }
}

/// The registers of `y` at column `j`: `y[i][j + l] += Σ_r x[i][r] · rows[r · ldb + j + l]` for
/// the lanes `l` that `mask` selects (all 8 for `None`), in each of the `M` rows of `y`.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; the lanes `mask` selects from column `j` are inside each
/// of the `M` rows of `y`, `ldy` apart, and inside each of the `R` rows at `rows`, `ldb` apart.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn add_register<const R: usize, const M: usize>(
    x: &[[__m256; R]; M],
    rows: *const f32,
    ldb: usize,
    j: usize,
    mask: Option<__m256i>,
    y: *mut f32,
    ldy: usize,
) {
    // SAFETY: the caller's contract; a masked load or store touches only the selected lanes.
    unsafe {
        let load = |at: *const f32| match mask {
            None => _mm256_loadu_ps(at),
            Some(mask) => _mm256_maskload_ps(at, mask),
        };
        let mut sums: [__m256; M] = std::array::from_fn(|i| load(y.add(i * ldy + j)));
        for r in 0..R {
            let b = load(rows.add(r * ldb + j));
            for (sum, x) in sums.iter_mut().zip(x) {
                *sum = _mm256_fmadd_ps(x[r], b, *sum);
            }
        }
        for (i, &sum) in sums.iter().enumerate() {
            match mask {
                None => _mm256_storeu_ps(y.add(i * ldy + j), sum),
                Some(mask) => _mm256_maskstore_ps(y.add(i * ldy + j), mask, sum),
            }
        }
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
unsafe fn dot_columns<const ROWS: usize, const FAR: usize, const NEAR: usize>(
    rows: &[f32],
    k: usize,
    bt: &[f32],
    kp: usize,
    ahead: Asks<'_, FAR, NEAR>,
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

/// [`Kernel::scale_rows`]: per element of `k`, one row of `b` (`nc ≤ 16` floats: one masked load
/// for up to 8 columns; for more, a whole load and a masked one) and one FMA per register and row
/// of `a`, with `a[r, p]` broadcast to all lanes. No packing. Where `b` is one run of 10-float
/// rows, as the lesson's weights are, [`ten_columns`] takes the steps in groups of 4 with fewer
/// FMAs.
///
/// Each row's sum is split into [`partial_sums`] interleaved partial sums, added together at
/// the end, so that even a call on one row keeps [`FMAS_IN_FLIGHT`] independent FMAs going
/// (the reason is the AVX-512 kernel's: one sum per row would make the time `k` FMA
/// latencies), as far as the registers allow: three rows of more than 8 columns get one sum
/// each, six FMAs.
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
    // Up to 8 columns fit one register: a second would multiply only lanes that are never
    // stored, one FMA of two per row and step for nothing.
    if nc <= LANES {
        // SAFETY: this function's contract.
        unsafe { scale_rows_in::<ROWS, 1>(rows, k, b, ldb, nc) }
    } else {
        // SAFETY: as above.
        unsafe { scale_rows_in::<ROWS, 2>(rows, k, b, ldb, nc) }
    }
}

/// [`scale_rows`] with `HALVES` registers per row and step: the first `8 · HALVES ≥ nc`
/// columns.
///
/// # Safety
///
/// That of [`scale_rows`], and `nc ≤ 8 · HALVES`.
#[target_feature(enable = "avx2,fma")]
unsafe fn scale_rows_in<const ROWS: usize, const HALVES: usize>(
    rows: &[f32],
    k: usize,
    b: &[f32],
    ldb: usize,
    nc: usize,
) -> [[f32; COLUMNS_PER_ROW]; ROWS] {
    const { assert!(HALVES * LANES <= COLUMNS_PER_ROW) };
    debug_assert!(nc <= HALVES * LANES);
    // SAFETY: AVX2, as this function's caller promised.
    let masks: [__m256i; HALVES] =
        std::array::from_fn(|h| unsafe { first_lanes(nc.saturating_sub(h * LANES)) });
    // `b` as one run of 10-float rows (the lesson's weights): whole groups of 4 steps by
    // [`ten_columns`], the rest below.
    let grouped = ten_column_steps(k, ldb, nc, GROUP_STEPS);
    let parts = partial_sums(ROWS, HALVES);
    let mut acc = [[[_mm256_setzero_ps(); HALVES]; MAX_PARTS]; ROWS];
    // One step `p`: row `p` of `b`, scaled by each row's `a[r, p]`, into partial sum `part`.
    let step = |acc: &mut [[[__m256; HALVES]; MAX_PARTS]; ROWS], p: usize, part: usize| {
        let row = b.as_ptr().wrapping_add(p * ldb);
        // SAFETY: lanes `0..nc` of row `p < k` of `b`, `p * ldb + nc ≤ b.len()`; masked-off
        // lanes are not read.
        let y: [__m256; HALVES] = std::array::from_fn(|h| unsafe {
            _mm256_maskload_ps(row.wrapping_add(h * LANES), masks[h])
        });
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `r < ROWS` and `p < k`, so `r * k + p < ROWS * k ≤ rows.len()`.
            let x = _mm256_set1_ps(unsafe { *rows.as_ptr().add(r * k + p) });
            for (acc, &y) in acc[part].iter_mut().zip(&y) {
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
        }
    };
    let whole = if grouped > 0 { 0 } else { k / parts * parts };
    for p0 in (0..whole).step_by(parts) {
        for part in 0..parts {
            // As in the AVX-512 kernel: `b` comes mostly from L2, so ask for its rows ahead.
            crate::prefetch::to_l1(b.as_ptr().wrapping_add((p0 + part + B_ROWS_AHEAD) * ldb));
            step(&mut acc, p0 + part, part);
        }
    }
    // The last `k % parts` steps (or those after the groups of 4) into the first partial sum:
    // an index known at compile time keeps the accumulators in registers (a computed one
    // would put them all on the stack).
    for p in whole.max(grouped)..k {
        step(&mut acc, p, 0);
    }
    let mut sums = [[0.0f32; COLUMNS_PER_ROW]; ROWS];
    for (sums, acc) in sums.iter_mut().zip(&acc) {
        for half in 0..HALVES {
            let total = acc[1..parts]
                .iter()
                .fold(acc[0][half], |total, part| _mm256_add_ps(total, part[half]));
            // SAFETY: lanes `8 * half..8 * half + 8` of `sums`, an array of 16 `f32`.
            unsafe { _mm256_storeu_ps(sums.as_mut_ptr().add(half * LANES), total) };
        }
    }
    if grouped > 0 {
        // SAFETY: AVX2 and FMA; `rows` holds `ROWS` rows of `k` floats, and `b` at least
        // `10 · k` floats (`(k - 1) · 10 + 10`); `grouped ≤ k`, a multiple of 4.
        unsafe { ten_columns::<ROWS>(rows, k, grouped, b, &mut sums) };
    }
    sums
}

/// Steps of `k` in one group of [`ten_columns`]: 4 rows of 10 floats of `b`.
const GROUP_STEPS: usize = 4;

/// Partial sums of columns 0–7 per row in [`ten_columns`] for `rows` rows: a divisor of
/// [`GROUP_STEPS`], halved while the accumulators (with a pairs accumulator per row) do not
/// fit in [`ACCUMULATORS`] or half as many would still keep [`FMAS_IN_FLIGHT`] going. One or
/// two rows: 4; three: 2; four or five: 1.
const fn low_parts(rows: usize) -> usize {
    let mut parts = GROUP_STEPS;
    while parts > 1 && (rows * (parts + 1) > ACCUMULATORS || rows * (parts / 2) >= FMAS_IN_FLIGHT) {
        parts /= 2;
    }
    parts
}

/// The first `steps` steps (a multiple of 4) of [`scale_rows`] for its `R` rows, when `b` is one
/// run of 10-float rows, added into the first 10 lanes of each row of `sums`.
///
/// The general loop loads a row of `b` into two registers, columns 0–7 and 8–15, and so spends two
/// FMAs per step and row where 10 columns need 1¼ registers: of the second register's 8 lanes, 6
/// multiply zeros. Here columns 0–7 go as before, one register per step, and columns 8 and 9 of 4
/// steps share one "pairs" register (lane `l`: step `l / 2`, column `8 + l % 2`), put together from
/// two loads of two 4-float pieces each and a blend: one FMA per 4 steps and row, against the row's
/// 4 elements `a[r, p..p + 4]`, each repeated twice (a load of the 4 and, as compiled, one permute
/// across the register). So 5 FMAs per 4 steps and row instead of 8, every lane used.
///
/// The accumulator of columns 0–7 takes an FMA every step, each waiting on the one before, so
/// with few rows it is split into partial sums ([`low_parts`]) as the general loop's are. With
/// [`scale_rows`]' 5 rows, one each: 10 accumulators, which leave the 16 registers just enough
/// for a row of `b`, the pairs of `b`, the permute's index and a broadcast; there the chain of
/// each row's FMAs bounds the time rather than their count.
///
/// The loop's loads would take about as long as the chains. With 5 rows a group loads 33 vectors:
/// the 4 rows of `b`, the pairs' 4 pieces, one load of 4 elements of `a` for each of the 5 rows'
/// pairs, and the 20 broadcasts of `a`. A core that loads two vectors a cycle (Intel's cores before
/// Golden Cove, and the Zen 4 this was measured on, which loads three integers a cycle but two
/// vectors) needs 16½ cycles for them, against the chains' 16; the 25 FMAs alone would take 12½. On
/// that Zen 4 the chains are what bound it: taking the broadcasts of some or all rows from their
/// one load of 4 elements instead, spread by a shuffle each (13 loads a group for all rows), left
/// the time as it was.
///
/// Two partial sums per row would halve the chains (with the broadcasts of some rows taken by
/// shuffles, so that the loads do not bound it instead), but with the pairs accumulators that
/// is 15 accumulators, where the 16 registers must also hold a row of `b`, the pairs of `b`, a
/// broadcast and the permute's index: they do not fit. With each two rows sharing a pairs
/// accumulator (3 for 5 rows, 13 accumulators in all), the compiler still kept some on the
/// stack. Without the pairs they fit: a loop of columns 0–7 alone with two sums a row, the
/// broadcasts of two rows taken by shuffles, written in assembly so that nothing spills, ran
/// close to the time of its FMAs. But the pairs then take a pass of their own, which reads `a`
/// and `b` again (together they do not fit in L1). On that Zen 4 the two passes were as slow
/// as this loop, and only a little faster when taken in turn over chunks of 64 groups, each
/// chunk still in L1: too little to justify a loop written in assembly. Nor did summing each
/// row's steps of a group into a fresh register (a multiply, then FMAs) and adding that into
/// the row's sum once a group help: the chains break without more accumulators, and Zen's
/// adders are apart from its FMA units, but written with intrinsics it ran as slow as this
/// loop on that Zen 4, or slower.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; `rows` holds at least `R` rows of `k` floats, `b` at least
/// `10 · steps` floats, and `steps ≤ k`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn ten_columns<const R: usize>(
    rows: &[f32],
    k: usize,
    steps: usize,
    b: &[f32],
    sums: &mut [[f32; COLUMNS_PER_ROW]; R],
) {
    debug_assert!(rows.len() >= R * k && b.len() >= steps * COLUMNS_PER_PASS && steps <= k);
    debug_assert!(steps.is_multiple_of(GROUP_STEPS));
    // Lane `l` of a row's pairs vector is `a[r, p + l / 2]`.
    let doubled = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    let parts = low_parts(R);
    let mut low = [[_mm256_setzero_ps(); MAX_PARTS]; R];
    let mut pairs = [_mm256_setzero_ps(); R];
    for g in 0..steps / GROUP_STEPS {
        let group = b.as_ptr().wrapping_add(g * GROUP_STEPS * COLUMNS_PER_PASS);
        // Columns 8 and 9 of steps 0–3, floats 8, 9, 18, 19, 28, 29, 38, 39 of the group: from
        // the 4 floats at 8 and at 28 (lanes 0, 1 of each half), and at 16 and 36 (lanes 2,
        // 3). SAFETY: floats `40g + 8 .. 40g + 40 ≤ 10 · steps` of `b`.
        let pair = unsafe {
            _mm256_blend_ps::<0b1100_1100>(
                _mm256_loadu2_m128(group.add(28), group.add(8)),
                _mm256_loadu2_m128(group.add(36), group.add(16)),
            )
        };
        // The pairs before the steps, for every row count: after them, with three rows, the
        // compiler kept a register on the stack and reloaded it at every group (with the other
        // counts, the loop is the same either way, give or take an instruction).
        for (r, pairs) in pairs.iter_mut().enumerate() {
            // SAFETY: floats `4g..4g + 4` of row `r < R`, inside the row since `4g + 4 ≤ k`.
            let four = unsafe { _mm_loadu_ps(rows.as_ptr().add(r * k + g * GROUP_STEPS)) };
            let x = _mm256_permutevar_ps(_mm256_set_m128(four, four), doubled);
            *pairs = _mm256_fmadd_ps(x, pair, *pairs);
        }
        for s in 0..GROUP_STEPS {
            // SAFETY: floats `0..8` of row `4g + s < steps` of `b`.
            let y = unsafe { _mm256_loadu_ps(group.add(s * COLUMNS_PER_PASS)) };
            for (r, low) in low.iter_mut().enumerate() {
                // SAFETY: `r < R` and `4g + s < steps ≤ k`: inside row `r` of `rows`.
                let x = unsafe { *rows.as_ptr().add(r * k + g * GROUP_STEPS + s) };
                // `s % parts` is known at compile time (the loop over `s` unrolls).
                low[s % parts] = _mm256_fmadd_ps(_mm256_set1_ps(x), y, low[s % parts]);
            }
        }
    }
    for (sums, (low, &pairs)) in sums.iter_mut().zip(low.iter().zip(&pairs)) {
        let low = low[1..parts]
            .iter()
            .fold(low[0], |total, &part| _mm256_add_ps(total, part));
        // SAFETY: lanes `0..8` of `sums`, an array of 16 `f32`.
        unsafe {
            let total = _mm256_add_ps(_mm256_loadu_ps(sums.as_ptr()), low);
            _mm256_storeu_ps(sums.as_mut_ptr(), total);
        }
        // Lanes `2i` hold column 8, lanes `2i + 1` column 9: the two halves, then the two
        // pairs of the half, added.
        let half = _mm_add_ps(
            _mm256_castps256_ps128(pairs),
            _mm256_extractf128_ps::<1>(pairs),
        );
        let both = _mm_add_ps(half, _mm_movehl_ps(half, half));
        sums[8] += _mm_cvtss_f32(both);
        sums[9] += _mm_cvtss_f32(_mm_movehdup_ps(both));
    }
}

/// Independent FMAs [`scale_rows`] aims to keep going: two issued per cycle, each taking four
/// or five cycles (the FMA of recent AMD and Intel cores), need eight to ten in flight.
const FMAS_IN_FLIGHT: usize = 8;

/// Cycles from one FMA to the next that adds into the same register, on the same cores.
const FMA_LATENCY: usize = 4;

/// [`ten_columns`] on [`Kernel::SCALE_ROWS`] (5) rows, counted as the lanes of FMAs its time
/// would fill per step and row. Each group of 4 steps takes 5 FMAs a row, every lane used:
/// 10 lanes. But with 5 rows, each row keeps one partial sum of columns 0–7 ([`low_parts`]),
/// so the group's 4 FMAs into it wait on each other: 4 × [`FMA_LATENCY`] = 16 cycles, where
/// the group's 25 FMAs at two a cycle would take 12.5. Those 16 cycles would fill
/// 16 × 2 × 8 lanes ÷ (4 steps × 5 rows) = 12.8 lanes a step and row: 13. The group's loads,
/// 16½ cycles on a core that loads two vectors a cycle ([`ten_columns`] counts them), are about
/// as long and left out: on the core it was measured on, fewer loads did not make it faster.
const TEN_COLUMN_LANES: usize = {
    let rows = Isa::Avx2.kernels().scale_rows;
    let fmas = rows * (GROUP_STEPS + 1);
    let chain = GROUP_STEPS / low_parts(rows) * FMA_LATENCY;
    // `chain` cycles at two FMAs a cycle, against the group's `fmas`, of 10 lanes each.
    let lanes = (COLUMNS_PER_PASS * 2 * chain).div_ceil(fmas);
    if lanes > COLUMNS_PER_PASS {
        lanes
    } else {
        COLUMNS_PER_PASS
    }
};

/// Rows of `b` ahead of its own that [`scale_rows`] asks L1 for (as in the AVX-512 kernel).
const B_ROWS_AHEAD: usize = 32;

/// Partial sums per row, the most [`scale_rows`] uses.
const MAX_PARTS: usize = 4;

/// Registers [`scale_rows`] can spend on accumulators: 16, less the two halves of a row of `b`,
/// the broadcast `a[r, p]`, the second half's mask (past 8 columns the first half's mask is
/// all ones, and the compiler loads that half whole) and one to spare. One more, and the
/// compiler kept accumulators on the stack, storing and reloading them at every step (three
/// rows with two partial sums each, 12 accumulators, ran much slower than with one sum).
const ACCUMULATORS: usize = 16 - 5;

// Every row count the driver gives [`scale_rows`] must fit, with one partial sum per row.
const _: () = assert!(
    2 * Isa::Avx2.kernels().scale_rows <= ACCUMULATORS,
    "AVX2's scale_rows leaves too few registers for one sum per row"
);

/// Partial sums per row for `rows` rows of `halves` registers each: enough for
/// [`FMAS_IN_FLIGHT`] FMAs where [`ACCUMULATORS`] allows, at most [`MAX_PARTS`]. With two
/// halves, one row: 4 sums, 8 accumulators; three rows: 1 sum, 6 accumulators; five rows:
/// 1 sum, 10 accumulators. With one, five rows: 2 sums, 10 accumulators.
const fn partial_sums(rows: usize, halves: usize) -> usize {
    let parts = FMAS_IN_FLIGHT.div_ceil(halves * rows);
    let fit = ACCUMULATORS / (halves * rows);
    // At least one sum: row counts past what fits (compiled for the driver's ladder, never
    // called, as asserted above) still get a correct, if spilled, kernel.
    let parts = if parts > fit { fit } else { parts };
    let parts = if parts == 0 { 1 } else { parts };
    if parts > MAX_PARTS { MAX_PARTS } else { parts }
}
