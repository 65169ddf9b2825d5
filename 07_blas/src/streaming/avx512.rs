//! The micro-kernels with AVX-512 intrinsics: 16 `f32` lanes per register, masked loads for the
//! ragged ends of `k` and of `b`'s rows, 32 registers to keep 20 accumulators in (two rows ×
//! 10 columns or four rows × 5).
//!
//! Each kernel checks its slice bounds with `assert!` once on entry, so that the loads inside
//! the loops can use raw pointers; the other obligation, that the CPU has AVX-512F, is met by
//! holding an [`Avx512`], which only [`Avx512::new`] makes (and, for the 256-bit loop of
//! [`ten_columns_in_halves`], AVX-512VL too: an [`Avx512`] chooses that loop only where it was
//! detected).

use std::arch::x86_64::{
    __m256, __m512, __m512i, __mmask16, _mm_loadu_ps, _mm_unpacklo_ps, _mm256_blend_ps,
    _mm256_castps_pd, _mm256_castps128_ps256, _mm256_castps256_ps128, _mm256_extractf128_ps,
    _mm256_fmadd_ps, _mm256_hadd_ps, _mm256_loadu_pd, _mm256_loadu_ps, _mm256_loadu2_m128,
    _mm256_permutevar8x32_ps, _mm256_setr_epi32, _mm256_setzero_ps, _mm256_shuffle_ps,
    _mm256_unpackhi_ps, _mm256_unpacklo_ps, _mm512_add_ps, _mm512_broadcast_f32x4,
    _mm512_broadcast_f64x4, _mm512_castpd_ps, _mm512_castps_pd, _mm512_castps256_ps512,
    _mm512_fmadd_ps, _mm512_insertf64x4, _mm512_loadu_ps, _mm512_loadu_si512, _mm512_mask_blend_ps,
    _mm512_mask_permutexvar_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_permute_ps,
    _mm512_permutex2var_ps, _mm512_reduce_add_ps, _mm512_set1_ps, _mm512_setzero_ps,
    _mm512_shuffle_f32x4, _mm512_storeu_ps,
};

use std::sync::OnceLock;

use super::kernel::{
    Asks, COLUMNS_PER_PASS, COLUMNS_PER_ROW, Kernel, Rows, RowsMut, holds_rows, ten_column_steps,
    whole_registers,
};
use crate::isa::Isa;

/// Lanes of one register.
const LANES: usize = Isa::Avx512.kernels().lanes;

/// The AVX-512F kernel, computing `COLUMNS` columns of `c` per call of the many-rows path:
/// all 10 of a pass over two rows, or 5 over four rows (the two tiles of its row of
/// [`Isa::kernels`]). Only [`Avx512::new`] makes one, on a CPU that has AVX-512F.
///
/// Either way 20 accumulators of the 32 registers. With 10 columns, each row of `a` is read
/// once, and all of `bᵀ` stays in L1 while the rows stream past it: for the lesson's
/// `k = 784`, 31 KB, which a 48 KB L1 (Intel's recent cores, Zen 5) holds with the rows, and
/// a 32 KB one (Zen 4) does not. With 5, L1 needs 16 KB of `bᵀ` at a time, a group of rows
/// goes through each half in turn (the second time from L2), and each load of `bᵀ` feeds
/// four FMAs instead of two: 9 loads per 20 FMAs, not 12. The driver picks by the caches it
/// detects (`fits_l1` in [`super`]). On the Zen 4, 10 columns over two rows had been slower
/// on the lesson's product than the AVX2 kernel, which takes 5 columns at a time because of
/// its 16 registers; 5 columns over four rows made AVX-512 the faster of the two there. On
/// the Intel Xeon it was measured on (48 KB L1), 10 columns over two rows were about a
/// tenth faster than 5 over four.
#[derive(Clone, Copy, Debug)]
pub(super) struct Avx512<const COLUMNS: usize> {
    /// Whether [`Kernel::scale_rows`] takes the lesson's weights for up to [`HALVES_ROWS`]
    /// rows through [`ten_columns_in_halves`] rather than [`ten_columns`]: on a core that runs
    /// 512-bit instructions as two halves, and has AVX-512VL, which the 256-bit loop needs.
    halves: bool,
}

impl Avx512<5> {
    /// The kernel, when this CPU supports AVX-512F, with the five-image loop that suits the
    /// core ([`crate::machine::splits_512_bit_ops`]).
    pub(super) fn new() -> Option<Avx512<5>> {
        // Decided once: the driver makes a kernel on every call, and the five-image product
        // is short enough for a few checks to show.
        static HALVES: OnceLock<bool> = OnceLock::new();
        let halves = *HALVES.get_or_init(|| crate::machine::splits_512_bit_ops() && has_vl());
        std::arch::is_x86_feature_detected!("avx512f").then_some(Avx512 { halves })
    }
}

impl<const COLUMNS: usize> Avx512<COLUMNS> {
    /// The same kernel (and the same proof that the CPU has AVX-512F), computing all 10
    /// columns of a pass per call.
    pub(super) fn whole_pass(self) -> Avx512<COLUMNS_PER_PASS> {
        Avx512 {
            halves: self.halves,
        }
    }

    /// The same kernel with the five-image loop chosen by hand, `halves` or not (to test both
    /// on one machine); `None` for `halves` on a CPU without AVX-512VL.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) fn with_halves(self, halves: bool) -> Option<Avx512<COLUMNS>> {
        (!halves || has_vl()).then_some(Avx512 { halves })
    }
}

/// Whether this CPU has AVX-512VL: the AVX-512 instructions on 256-bit registers, and all 32
/// registers for them. Every AVX-512 CPU but the Xeon Phi has it.
fn has_vl() -> bool {
    std::arch::is_x86_feature_detected!("avx512vl")
}

/// The rows of the tile of `columns` columns in [`Isa::kernels`]'s `dot_tiles` for AVX-512.
const fn rows_for(columns: usize) -> usize {
    let tiles = Isa::Avx512.kernels().dot_tiles;
    let mut t = 0;
    while t < tiles.len() {
        if tiles[t].1 == columns {
            return tiles[t].0;
        }
        t += 1;
    }
    panic!("no AVX-512 tile has that many columns")
}

impl<const COLUMNS: usize> Kernel for Avx512<COLUMNS> {
    const LANES: usize = LANES;

    /// Two rows for 10 columns, four for 5: 20 accumulators of AVX-512's 32 registers.
    const DOT_ROWS: usize = rows_for(COLUMNS);

    /// All 10 of a pass, or half of them.
    const DOT_COLUMNS: usize = COLUMNS;

    /// Eight rows share each load of a row of `b`: two partial sums each, 16 accumulators of the 32
    /// registers (each broadcast of `a` is folded into its FMA as a memory operand, and takes no
    /// register). (On the lesson's weights, [`ten_columns`] takes all of them together: three
    /// accumulators a row, five with one or two rows; or, on a core that splits 512-bit
    /// instructions, [`ten_columns_in_halves`] takes up to [`HALVES_ROWS`] of them, with five
    /// accumulators a row.)
    const SCALE_ROWS: usize = Isa::Avx512.kernels().scale_rows;

    /// One register; on the lesson's weights ([`ten_columns`]), five per 8 steps, every lane
    /// used.
    fn scale_lanes(nc: usize, ten_floats: bool) -> usize {
        if ten_floats {
            COLUMNS_PER_PASS
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
        assert!(bt.len() >= COLUMNS * kp);
        // SAFETY: `self` exists, so `Avx512::new` saw AVX-512F on this CPU; the slices are as
        // long as `dot_columns` needs (asserted above).
        unsafe { dot_columns::<ROWS, COLUMNS, FAR, NEAR>(rows, k, bt, kp, ahead) }
    }

    fn scale_rows<const ROWS: usize>(
        self,
        rows: &[f32],
        k: usize,
        b: &[f32],
        ldb: usize,
        nc: usize,
    ) -> [[f32; COLUMNS_PER_ROW]; ROWS] {
        // The kernel stores whole registers into rows of COLUMNS_PER_ROW sums.
        const { assert!(COLUMNS_PER_ROW == LANES) };
        assert!(nc <= LANES && rows.len() >= ROWS * k);
        assert!(holds_rows(b.len(), k, ldb, nc));
        // SAFETY: as above, for `scale_rows`; `halves` only where `Avx512::new` or
        // `with_halves` saw AVX-512VL.
        unsafe { scale_rows::<ROWS>(rows, k, b, ldb, nc, self.halves) }
    }

    const ONE_ROW: Option<usize> = Some(ONE_ROW_STEPS);

    fn whole_rows(self, a: Rows<'_>, b: &[f32], n: usize, y: RowsMut<'_>, group: usize) {
        // SAFETY: as above, for `whole_rows`.
        unsafe { checked_whole_rows(a, b, n, y, group) }
    }
}

/// The most rows of `b` that [`whole_rows`] adds into each register of `y` between its load and
/// its store, for one row of `a` (its row of [`Isa::kernels`]).
const ONE_ROW_STEPS: usize = match Isa::Avx512.kernels().one_row {
    Some(steps) => steps,
    None => panic!("the AVX-512 kernel has a one-row path"),
};

// [`Kernel::whole_rows`]: a group of rows of `b` at a time, each register of each row of `y`
// loaded, given one FMA per row of `b`, and stored (the last register of each row under a mask).
// Each row of `b` is read whole, in order: one stream through memory, which the hardware
// prefetcher follows, where a register tile of `c` would read a few lines of each row and jump
// to the next. The FMAs into one register wait on each other, but the registers of a row do
// not: a wide `b` keeps both FMA units busy.
super::kernel::whole_rows_in_groups!("avx512f", ONE_ROW_STEPS: [16 8 4 2] [8 4 2]);

/// `y[i][j] += Σ_r a[i][r] · rows[r · n + j]` for the `M` rows `i` of `a` (`lda` apart) and of
/// `y` (`ldy` apart) and `j < n`, one register of each row of `y` at a time.
///
/// # Safety
///
/// The CPU must support AVX-512F; `a` is readable for `M` rows of `R` floats, `lda` apart,
/// `rows` for `R` rows of `n` floats, one after another, and `y` writable for `M` rows of `n`
/// floats, `ldy` apart.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn add_rows<const R: usize, const M: usize>(
    a: *const f32,
    lda: usize,
    rows: *const f32,
    n: usize,
    y: *mut f32,
    ldy: usize,
) {
    let x: [[__m512; R]; M] = std::array::from_fn(|i| {
        std::array::from_fn(|r| {
            // SAFETY: element `r < R` of row `i < M` of `a`, the caller's contract.
            _mm512_set1_ps(unsafe { *a.add(i * lda + r) })
        })
    });
    let whole = n / LANES * LANES;
    for j in (0..whole).step_by(LANES) {
        // SAFETY: columns `j .. j + 16 ≤ n`, the caller's contract.
        unsafe { add_register(&x, rows, n, j, !0, y, ldy) };
    }
    if whole < n {
        // SAFETY: the columns from `whole` below `n`, under their mask.
        unsafe { add_register(&x, rows, n, whole, first_lanes(n - whole), y, ldy) };
    }
}

/// The registers of `y` at column `j`, under `mask`: `y[i][j + l] += Σ_r x[i][r] · rows[r ·
/// ldb + j + l]` for the lanes `l` that `mask` selects, in each of the `M` rows of `y`.
///
/// # Safety
///
/// The CPU must support AVX-512F; the lanes `mask` selects from column `j` are inside each of
/// the `M` rows of `y`, `ldy` apart, and inside each of the `R` rows at `rows`, `ldb` apart.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn add_register<const R: usize, const M: usize>(
    x: &[[__m512; R]; M],
    rows: *const f32,
    ldb: usize,
    j: usize,
    mask: __mmask16,
    y: *mut f32,
    ldy: usize,
) {
    // SAFETY: the caller's contract.
    unsafe {
        let mut sums: [__m512; M] =
            std::array::from_fn(|i| _mm512_maskz_loadu_ps(mask, y.add(i * ldy + j)));
        for r in 0..R {
            let b = _mm512_maskz_loadu_ps(mask, rows.add(r * ldb + j));
            for (sum, x) in sums.iter_mut().zip(x) {
                *sum = _mm512_fmadd_ps(x[r], b, *sum);
            }
        }
        for (i, &sum) in sums.iter().enumerate() {
            _mm512_mask_storeu_ps(y.add(i * ldy + j), mask, sum);
        }
    }
}

/// A table of 16 lane indices, in a register for the permutes.
#[inline]
#[target_feature(enable = "avx512f")]
fn indices(table: &[i32; LANES]) -> __m512i {
    // SAFETY: the 64 bytes of the 16 `i32` behind a reference; an unaligned load.
    unsafe { _mm512_loadu_si512(table.as_ptr().cast()) }
}

/// The mask selecting the first `n ≤ 16` lanes.
fn first_lanes(n: usize) -> __mmask16 {
    debug_assert!(n <= LANES);
    ((1u32 << n) - 1) as __mmask16
}

/// [`Kernel::dot_columns`]: per 16 elements of `k`, one load from each row of `a` and one from
/// each of the `COLUMNS` packed columns, and `ROWS × COLUMNS` FMAs; the last, partial chunk
/// of `k` is loaded with a mask (the packed columns are zero there, so their lanes add
/// nothing). Per chunk it asks for `ROWS · 16 · COLUMNS / 10` floats of each share of `ahead`
/// (two lines, for either tile): `ROWS · k · COLUMNS / 10` floats over a call, the share of
/// its part of the pass.
///
/// # Safety
///
/// The CPU must support AVX-512F; `rows.len() == ROWS * k`, `kp` is a multiple of 16 and at
/// least `k`, and `bt.len() ≥ COLUMNS * kp`.
#[target_feature(enable = "avx512f")]
unsafe fn dot_columns<
    const ROWS: usize,
    const COLUMNS: usize,
    const FAR: usize,
    const NEAR: usize,
>(
    rows: &[f32],
    k: usize,
    bt: &[f32],
    kp: usize,
    ahead: Asks<'_, FAR, NEAR>,
) -> [[f32; COLUMNS_PER_PASS]; ROWS] {
    let full = k / LANES;
    let tail = k % LANES;
    let mut acc = [[_mm512_setzero_ps(); COLUMNS]; ROWS];
    // Floats of each share asked for per chunk: the call's share is `ROWS · k · COLUMNS / 10`
    // long.
    const { assert!(COLUMNS_PER_PASS.is_multiple_of(COLUMNS)) };
    let ask = ROWS * LANES * COLUMNS / COLUMNS_PER_PASS;
    for chunk in 0..full {
        super::kernel::prefetch(&ahead, chunk * ask, ask);
        // SAFETY: `chunk < k / 16`, the contract of this function, AVX-512F.
        unsafe { fma_chunk(&mut acc, rows, k, bt, kp, chunk, !0) };
    }
    if tail > 0 {
        // SAFETY: as above, for the partial last chunk, under its mask.
        unsafe { fma_chunk(&mut acc, rows, k, bt, kp, full, first_lanes(tail)) };
    }
    // SAFETY: AVX-512F, as this function's caller promised.
    unsafe { reduce(&acc) }
}

/// The 16 lanes of each accumulator of [`dot_columns`], summed.
///
/// Kept out of line on purpose: inlined, the reduction pulled the accumulators into the first
/// 16 of the 32 vector registers (those its 256-bit VEX instructions can name), and the
/// kernel's loop spilled the rest of them to memory, to and fro on every chunk (seen in the
/// disassembly, and in the timing of the many-rows path).
///
/// # Safety
///
/// The CPU must support AVX-512F.
#[inline(never)]
#[target_feature(enable = "avx512f")]
unsafe fn reduce<const ROWS: usize, const COLUMNS: usize>(
    acc: &[[__m512; COLUMNS]; ROWS],
) -> [[f32; COLUMNS_PER_PASS]; ROWS] {
    let mut sums = [[0.0f32; COLUMNS_PER_PASS]; ROWS];
    for (sums, acc) in sums.iter_mut().zip(acc) {
        for (sum, &acc) in sums.iter_mut().zip(acc) {
            *sum = _mm512_reduce_add_ps(acc);
        }
    }
    sums
}

/// One chunk of 16 elements of `k` for [`dot_columns`]: one load from each row of `a` (the
/// lanes `mask` selects), one from each of the `COLUMNS` packed columns, `ROWS × COLUMNS`
/// FMAs into `acc`.
///
/// Shared by the whole chunks and the partial last one, and inlined into both.
///
/// # Safety
///
/// The CPU must support AVX-512F; the contract of [`dot_columns`], and the lanes `mask`
/// selects in `chunk * 16..chunk * 16 + 16` lie below `k` (all of them below `kp`).
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn fma_chunk<const ROWS: usize, const COLUMNS: usize>(
    acc: &mut [[__m512; COLUMNS]; ROWS],
    rows: &[f32],
    k: usize,
    bt: &[f32],
    kp: usize,
    chunk: usize,
    mask: __mmask16,
) {
    let mut x = [_mm512_setzero_ps(); ROWS];
    for (r, x) in x.iter_mut().enumerate() {
        // SAFETY: the lanes `mask` selects lie in `chunk * 16..min(chunk * 16 + 16, k)`,
        // inside row `r < ROWS` of `rows`.
        *x = unsafe { _mm512_maskz_loadu_ps(mask, rows.as_ptr().add(r * k + chunk * LANES)) };
    }
    for j in 0..COLUMNS {
        // SAFETY: `j < COLUMNS` and `chunk * 16 + 16 ≤ kp`, so the 16 lanes lie
        // inside `bt[j * kp..(j + 1) * kp]`.
        let y = unsafe { _mm512_loadu_ps(bt.as_ptr().add(j * kp + chunk * LANES)) };
        for (acc, &x) in acc.iter_mut().zip(&x) {
            acc[j] = _mm512_fmadd_ps(x, y, acc[j]);
        }
    }
}

/// [`Kernel::scale_rows`]: per element of `k`, one row of `b` (`nc ≤ 16` floats, one masked
/// load) and one FMA per row of `a`, with `a[r, p]` broadcast to all lanes. No packing: the
/// cost of a call is the arithmetic, which is what the five-image product needs.
///
/// Each row's sum is split into [`partial_sums`] interleaved partial sums (step `p` adds into sum
/// `p % parts`, and the last `k % parts` steps into sum 0), added together at the end. With one sum
/// per row, each FMA would wait for the one before it on the same row, and five rows would keep
/// only five FMAs in flight where the core needs eight to stay busy; the time would be `k` FMA
/// latencies, not `5k` FMAs at the core's rate. [`FMAS_IN_FLIGHT`] says how many sums it aims for.
/// (The groups of [`ten_columns`] need no partial sums: a row has three or five accumulators
/// there.)
///
/// What bounds it then is the loads, not the FMAs: each step loads once per row of `a` (a
/// broadcast) and once more for the row of `b`, so in the five-image product six loads for five
/// FMAs, and the 40-byte row of `b` often straddles two cache lines. On the Intel Xeon this was
/// measured on, a bare assembly loop of just that mix, with every operand in L1, took clearly
/// longer per step than its FMAs alone, and about as long as this kernel. Where `b` is one run of
/// 10-float rows, as the lesson's weights are, [`ten_columns`] takes the steps in groups of 8
/// with fewer loads and FMAs, rearranging each group of `b` in registers; on a core that runs
/// 512-bit instructions as two halves, [`ten_columns_in_halves`] does, for up to
/// [`HALVES_ROWS`] rows (`halves`). Packing `b` into that arrangement in memory first was timed
/// and set aside: the packing itself cost about what it saved.
///
/// # Safety
///
/// The CPU must support AVX-512F, and AVX-512VL if `halves`; `nc ≤ 16`,
/// `rows.len() ≥ ROWS * k` and `b.len() ≥ (k - 1) * ldb + nc`.
#[target_feature(enable = "avx512f")]
unsafe fn scale_rows<const ROWS: usize>(
    rows: &[f32],
    k: usize,
    b: &[f32],
    ldb: usize,
    nc: usize,
    halves: bool,
) -> [[f32; COLUMNS_PER_ROW]; ROWS] {
    // `b` as one run of 10-float rows (the lesson's weights): whole groups of 8 steps by
    // [`ten_columns`] or [`ten_columns_in_halves`], the rest below.
    let grouped = ten_column_steps(k, ldb, nc, GROUP_STEPS);
    let mask = first_lanes(nc);
    let parts = partial_sums(ROWS);
    let mut acc = [[_mm512_setzero_ps(); MAX_PARTS]; ROWS];
    // One step `p`: row `p` of `b`, scaled by each row's `a[r, p]`, into partial sum `part`.
    let step = |acc: &mut [[__m512; MAX_PARTS]; ROWS], p: usize, part: usize| {
        // SAFETY: lanes `0..nc` of row `p < k` of `b`, `p * ldb + nc ≤ b.len()`; masked-off
        // lanes are not read.
        let y = unsafe { _mm512_maskz_loadu_ps(mask, b.as_ptr().add(p * ldb)) };
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `r < ROWS` and `p < k`, so `r * k + p < ROWS * k ≤ rows.len()`.
            let x = unsafe { *rows.as_ptr().add(r * k + p) };
            acc[part] = _mm512_fmadd_ps(_mm512_set1_ps(x), y, acc[part]);
        }
    };
    let whole = if grouped > 0 { 0 } else { k / parts * parts };
    for p0 in (0..whole).step_by(parts) {
        for part in 0..parts {
            // `a` and `b` together are about L1's size on the five-image product, so `b` is
            // mostly read from L2: ask for its rows a little ahead (a hint, never a fault).
            crate::prefetch::to_l1(b.as_ptr().wrapping_add((p0 + part + B_ROWS_AHEAD) * ldb));
            step(&mut acc, p0 + part, part);
        }
    }
    // The last `k % parts` steps (or those after the groups of 8) into the first partial sum:
    // an index known at compile time keeps the accumulators in registers (a computed one
    // would put them all on the stack).
    for p in whole.max(grouped)..k {
        step(&mut acc, p, 0);
    }
    let mut totals = acc.map(|acc| {
        acc[1..parts]
            .iter()
            .fold(acc[0], |total, &part| _mm512_add_ps(total, part))
    });
    if grouped > 0 && halves && ROWS <= HALVES_ROWS {
        // SAFETY: AVX-512F and VL (the caller's contract); `rows` holds `ROWS` rows of `k`
        // floats, and `b` at least `10 · k` floats (`(k - 1) · 10 + 10`); `grouped ≤ k`, a
        // multiple of 8.
        unsafe { ten_columns_in_halves::<ROWS>(rows, k, grouped, b, &mut totals) };
    } else if grouped > 0 {
        // SAFETY: AVX-512F; as above.
        unsafe { ten_columns::<ROWS>(rows, k, grouped, b, &mut totals) };
    }
    // Whole registers, stored once: a masked store, read back soon after by the driver's copy,
    // cannot be forwarded to that read, which then waits for it to reach L1. On the Intel Xeon
    // this was measured on, that wait was a few nanoseconds of every call.
    let mut sums = [[0.0f32; COLUMNS_PER_ROW]; ROWS];
    for (sums, total) in sums.iter_mut().zip(totals) {
        // SAFETY: all 16 lanes of `sums`, an array of 16 `f32`.
        unsafe { _mm512_storeu_ps(sums.as_mut_ptr(), total) };
    }
    sums
}

/// Steps of `k` in one group of [`ten_columns`]: 8 rows of 10 floats of `b`, 80 floats, which
/// the group rearranges into five whole registers.
const GROUP_STEPS: usize = 8;

/// Offsets, in floats from the start of a group, of the eight loads of `b` that
/// [`ten_columns`] rearranges: every float of the 80 it needs lies in one of them, and none
/// reaches past the group.
const GROUP_LOADS: [usize; 8] = [0, 4, 20, 24, 40, 44, 60, 64];

/// The index, for a permute of two loads of `b` 20 floats apart (two rows), of the float
/// `f < 36` floats after the first load's start: lanes `0..16` are the first load, `16..32`
/// the second, which holds float `f ≥ 20` in its lane `f − 20`. Every float the tables below
/// ask for lies in one of the two loads.
const fn in_two_loads(f: usize) -> i32 {
    (if f < LANES { f } else { f - 4 }) as i32
}

/// Where lane `l` of a "quad" register of [`ten_columns`] comes from, in the pair of loads
/// that starts at a float `o` of the group: lane `l` holds step `l % 4` of column `l / 4`
/// counted from `o`'s column, float `10 · (l % 4) + l / 4` after `o`.
const QUAD_LANES: [i32; LANES] = {
    let mut table = [0; LANES];
    let mut l = 0;
    while l < LANES {
        table[l] = in_two_loads(10 * (l % 4) + l / 4);
        l += 1;
    }
    table
};

/// Where lane `l` of the "pairs" register of [`ten_columns`] (columns 8 and 9, all 8 steps)
/// comes from: lane `l` holds step `l % 8` of column `8 + l / 8`. Steps 0–3 come from the
/// loads at floats 4 and 24 of the group, steps 4–7 from those at 44 and 64, 40 floats later,
/// so one table serves both halves (step `l % 4` of the half, float `10 · (l % 4) + 8 + l / 8`
/// of the half, 4 floats into its first load), blended at the end.
const PAIR_LANES: [i32; LANES] = {
    let mut table = [0; LANES];
    let mut l = 0;
    while l < LANES {
        table[l] = in_two_loads(10 * (l % 4) + 8 + l / 8 - 4);
        l += 1;
    }
    table
};

/// The lanes of the "pairs" register that hold steps 4–7 (`l % 8 ≥ 4`).
const LATER_HALF: __mmask16 = 0xf0f0;

/// For the sums at the end of [`ten_columns`]: lane `c < 4` picks the first lane of column `c`
/// in the first quad register (`4c`), lane `4 ≤ c < 8` that of column `c` in the second
/// (`16 + 4(c − 4)`).
const FIRST_OF_QUAD: [i32; LANES] = {
    let mut table = [0; LANES];
    let mut c = 0;
    while c < 8 {
        table[c] = if c < 4 { 4 * c } else { 16 + 4 * (c - 4) } as i32;
        c += 1;
    }
    table
};

/// For the sums at the end of [`ten_columns`]: lanes 8 and 9 pick a lane of column 8 (lane 0;
/// any of 0–7 would do) and of column 9 (lane 8; any of 8–15) in the pairs register, whose
/// lanes by then all hold their column's sum.
const FIRST_OF_PAIR: [i32; LANES] = {
    let mut table = [0; LANES];
    table[9] = 8;
    table
};

/// The first `steps` steps (a multiple of 8) of [`scale_rows`] for its `R` rows, when `b` is one
/// run of 10-float rows, added into the first 10 lanes of each row's register of `totals` (the
/// other lanes end up holding anything, which the driver never stores).
///
/// The masked loads of the general loop fill 10 of 16 lanes, and each FMA takes its `a[r, p]`
/// from memory: six loads for five FMAs on the five-image product, which is what bounds it.
/// Here a group of 8 steps of `b`, 80 floats, is rearranged into five whole registers whose
/// lanes follow the steps in a pattern that a broadcast of `a` can meet:
///
/// - four "quad" registers, each 4 columns × 4 steps (lane `l`: step `l % 4`, column
///   `l / 4`): columns 0–3 and 4–7, for steps 0–3 and for steps 4–7. Each meets the row's
///   4 elements `a[r, p..p + 4]` of its steps, repeated four times: one broadcast load;
/// - one "pairs" register, columns 8 and 9 × 8 steps (lane `l`: step `l % 8`, column
///   `8 + l / 8`), which meets the row's 8 elements repeated twice: one broadcast load too.
///
/// Each register is one permute of two loads of `b` ([`QUAD_LANES`], [`PAIR_LANES`]; the
/// pairs register takes two, and a blend), so 7 shuffles per group whatever the number of
/// rows, and then 5 FMAs per row cover 8 steps, every lane used. The shuffles run on the port
/// that one of the two FMA units shares on Intel's cores, so they are shared: all the rows of
/// the call go through each group together.
///
/// What bounds a group is those two ports and the loads together. On the Intel Xeon this was
/// measured on, the same instructions with every operand in registers ran at the two ports'
/// rate (the FMAs and the shuffles shared between them), and the loads made a group clearly
/// slower than that: the eight loads of `b`, most of which cross a cache line (two loads 4
/// floats apart cannot both start on one), and the row's three broadcasts. Loads that start on
/// line boundaries would need more shuffles: two of them hold all of a quad register's floats
/// only for a few of the 16 alignments `b` may have.
///
/// On an AMD Zen 4 core, timed with the five-image product's 5 rows and parts of the group
/// taken out, the balance differs. Zen 4 runs a 512-bit instruction as two 256-bit halves: it
/// issues one 512-bit FMA a cycle, so a group's 25 FMAs take 25 cycles at best, and its loads
/// at most two halves a cycle, so the eight loads of `b` are sixteen halves, four of which
/// cross a line when `b` starts on a multiple of 16 bytes. Those loads alone took about half
/// the time of the FMAs alone. Added to the FMAs one side at a time, the broadcasts of `a` cost
/// little and the loads and shuffles of `b` about an eighth more; both together made the group
/// about two fifths longer than its FMAs alone. Part of that is the 4-element broadcasts
/// (`vbroadcastf32x4`): the same loop with broadcasts of 8 elements or of one in their place
/// (timed only: its sums are wrong) was a little under a tenth faster. It is not the cache: with
/// `k` halved, so that `a` and `b` fit in the core's 32 KiB L1, a group took as long, and
/// asking L1 for `b` a few groups ahead, or taking two groups per pass of the loop, changed
/// nothing. Which of the core's units the rest waits on was not measured: the virtual machine
/// it ran on has no hardware counters.
///
/// So on such a core [`scale_rows`] takes [`ten_columns_in_halves`] instead, for up to
/// [`HALVES_ROWS`] rows: the same FMA work in 256-bit registers, with shuffles of 256 bits. Before
/// it, five mixes of this loop's 512-bit registers that compute the right sums were timed there
/// against this one:
///
/// - the pairs register split into two 256-bit halves (columns 8 and 9, steps 0–3 and 4–7), each
///   one permute, meeting the low halves of the two 4-element broadcasts, so that the blend and
///   the 8-element broadcast go: faster by about a sixteenth, less than the 256-bit loop gains;
/// - five loads that cover the group's 80 floats exactly, but 12 shuffles instead of 7: slower;
/// - four registers of 8 columns × 2 steps, each meeting a broadcast of a pair of steps
///   (`vbroadcastsd`), beside the pairs register: five loads of `a` a row instead of three,
///   slower;
/// - five registers like the pairs register, 2 columns × 8 steps each: one broadcast of 8
///   elements a row, but 15 shuffles instead of 7, slower;
/// - one broadcast of the row's 8 elements, with the two 4-element ones made from it by
///   in-register shuffles (`vshuff32x4`): level with this one.
///
/// A lane always holds the same column, so each row keeps three accumulators (steps 0–3 and 4–7 of
/// a quad register line up), or five with one or two rows, where the FMAs into one accumulator
/// would otherwise wait on each other. With [`scale_rows`]' 8 rows that is 24 accumulators beside
/// the group's 5 registers and the 2 tables: 31 of the 32. The compiled loop keeps the accumulators
/// and the group in registers (reloading one table from memory at each group) only with each row's
/// FMA of the pairs register first; with it last, as for fewer rows, the compiler set a register
/// aside on the stack and moved others around at every group, and on the Intel Xeon this was
/// measured on, products of 8 to a few hundred rows took clearly longer. The lanes are summed into
/// columns once at the end.
///
/// # Safety
///
/// The CPU must support AVX-512F; `rows` holds at least `R` rows of `k` floats, `b` at least
/// `10 · steps` floats, and `steps ≤ k`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn ten_columns<const R: usize>(
    rows: &[f32],
    k: usize,
    steps: usize,
    b: &[f32],
    totals: &mut [__m512; R],
) {
    debug_assert!(rows.len() >= R * k && b.len() >= steps * COLUMNS_PER_PASS && steps <= k);
    debug_assert!(steps.is_multiple_of(GROUP_STEPS));
    // With one or two rows, steps 4–7 of the quad registers go into accumulators of their
    // own (3 and 4), so that each accumulator takes one FMA per group, not two in a row.
    let later = if R <= 2 { [3, 4] } else { [0, 1] };
    // Where each row's FMA of the pairs register goes (see below).
    let pairs_first = R >= 8;
    let (quad_lanes, pair_lanes) = (indices(&QUAD_LANES), indices(&PAIR_LANES));
    let mut acc = [[_mm512_setzero_ps(); 5]; R];
    for g in 0..steps / GROUP_STEPS {
        let group = b.as_ptr().wrapping_add(g * GROUP_STEPS * COLUMNS_PER_PASS);
        // SAFETY: floats `80g + o .. 80g + o + 16` of `b` for the offsets `o` of
        // `GROUP_LOADS`, all ≤ 64: inside the group, below `10 · steps`.
        let [l0, l4, l20, l24, l40, l44, l60, l64] =
            GROUP_LOADS.map(|o| unsafe { _mm512_loadu_ps(group.add(o)) });
        let quads = [
            _mm512_permutex2var_ps(l0, quad_lanes, l20),
            _mm512_permutex2var_ps(l4, quad_lanes, l24),
            _mm512_permutex2var_ps(l40, quad_lanes, l60),
            _mm512_permutex2var_ps(l44, quad_lanes, l64),
        ];
        let pairs = _mm512_mask_blend_ps(
            LATER_HALF,
            _mm512_permutex2var_ps(l4, pair_lanes, l24),
            _mm512_permutex2var_ps(l44, pair_lanes, l64),
        );
        for (r, acc) in acc.iter_mut().enumerate() {
            let a = rows.as_ptr().wrapping_add(r * k + g * GROUP_STEPS);
            // SAFETY: floats `8g..8g + 8` of row `r < R`, inside the row since
            // `8g + 8 ≤ steps ≤ k`. (The 8 floats go through a broadcast of 4 doubles: the
            // same 32 bytes, with AVX-512F alone, where a broadcast of 8 floats needs DQ.)
            let (first, second, both) = unsafe {
                (
                    _mm512_broadcast_f32x4(_mm_loadu_ps(a)),
                    _mm512_broadcast_f32x4(_mm_loadu_ps(a.add(4))),
                    _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_loadu_pd(a.cast()))),
                )
            };
            // The pairs register's FMA first with 8 rows (see above); last with fewer, which fit
            // either way, the order the five-image product was tuned in.
            if pairs_first {
                acc[2] = _mm512_fmadd_ps(both, pairs, acc[2]);
            }
            acc[0] = _mm512_fmadd_ps(first, quads[0], acc[0]);
            acc[1] = _mm512_fmadd_ps(first, quads[1], acc[1]);
            acc[later[0]] = _mm512_fmadd_ps(second, quads[2], acc[later[0]]);
            acc[later[1]] = _mm512_fmadd_ps(second, quads[3], acc[later[1]]);
            if !pairs_first {
                acc[2] = _mm512_fmadd_ps(both, pairs, acc[2]);
            }
        }
    }
    let (first_of_quad, first_of_pair) = (indices(&FIRST_OF_QUAD), indices(&FIRST_OF_PAIR));
    // Each lane adds in the lane 2 and then 1 away (`l ^ 2`, `l ^ 1`): in a quad register,
    // lane `4c` then holds column `c`'s sum.
    let fold_quads = |v| {
        let v = _mm512_add_ps(v, _mm512_permute_ps::<0b01_00_11_10>(v));
        _mm512_add_ps(v, _mm512_permute_ps::<0b10_11_00_01>(v))
    };
    for (total, acc) in totals.iter_mut().zip(&acc) {
        let (mut low, mut high) = (acc[0], acc[1]);
        if R <= 2 {
            low = _mm512_add_ps(low, acc[3]);
            high = _mm512_add_ps(high, acc[4]);
        }
        // The pairs register's columns are 8 steps each: first the lane 4 away (`l ^ 4`), then
        // as a quad register, after which each of its lanes holds its column's sum.
        let pairs = _mm512_add_ps(
            acc[2],
            _mm512_shuffle_f32x4::<0b10_11_00_01>(acc[2], acc[2]),
        );
        let (low, high, pairs) = (fold_quads(low), fold_quads(high), fold_quads(pairs));
        let columns = _mm512_mask_permutexvar_ps(
            _mm512_permutex2var_ps(low, first_of_quad, high),
            0b11 << 8,
            first_of_pair,
            pairs,
        );
        *total = _mm512_add_ps(*total, columns);
    }
}

/// The most rows [`scale_rows`] takes through [`ten_columns_in_halves`]: five accumulators a
/// row, 25 for five rows, leave the 32 registers just enough for the group's five registers of
/// `b`, the permute's table and one broadcast of `a`. More rows go through [`ten_columns`].
const HALVES_ROWS: usize = 5;

/// Steps of `k` in one group of [`ten_columns_in_halves`]: 4 rows of 10 floats of `b`.
const HALF_GROUP_STEPS: usize = 4;

/// [`ten_columns`] for the cores that run each 512-bit instruction as two 256-bit halves
/// ([`crate::machine::splits_512_bit_ops`]: AMD's Zen 4, and later AMD cores timed to do so),
/// in 256-bit registers, for up to [`HALVES_ROWS`] rows.
///
/// On such a core a 512-bit FMA takes the FMA units as long as two 256-bit ones, so 256-bit
/// registers cost no arithmetic; what they change is the rest of the group. A group of 4 steps
/// of `b`, 40 floats, becomes five registers, each 4 steps × 2 columns (lane `l`: step `l % 4`),
/// which meet the row's 4 elements `a[r, p..p + 4]` repeated twice: one 128-bit broadcast load
/// (`vbroadcastf128`) a row, which takes no shuffle.
///
/// - Columns 0–7: the four rows of `b`, 8 floats each, go through a 4 × 4 transpose in each
///   128-bit half (two rounds of four in-lane shuffles), which leaves register `j` holding
///   column `j` in its low half and column `j + 4` in its high half.
/// - Columns 8 and 9: the pairs register of the AVX2 kernel (two loads of two 4-float pieces
///   each, put together by inserts, and a blend), put in step order by one permute: column 8 in
///   the low half, 9 in the high.
///
/// So 12 instructions rearrange a group whatever the number of rows, then 5 FMAs a row cover
/// it, every lane used. With five rows that is 25 FMAs of 256 bits per 4 steps, the same FMA
/// work as [`ten_columns`]' 25 of 512 bits per 8 steps. Counted in 256-bit halves, the
/// rearranging is more than [`ten_columns`]' (24 instructions of 256 bits per 8 steps, against
/// 7 of 512 bits, six permutes and a blend: 14 halves), but these are shuffles within each
/// 128-bit half, inserts and blends, where [`ten_columns`]' are permutes across the whole
/// register from two tables; and each row takes two broadcasts of `a` per 8 steps into 256-bit
/// registers, where [`ten_columns`] takes three into 512-bit ones. Which of these saves the
/// time was not taken apart.
///
/// The FMAs go row by row, each row's broadcast written just before its five FMAs; the
/// compiled loop keeps one broadcast live at a time. Beside the 25 accumulators, the five
/// registers of `b` and the permute's table, that fits the 32 registers with nothing on the
/// stack, and [`broadcast_four`] puts the broadcast in one of the first 16 (it says why that
/// matters on Zen 4). With the five loads of [`broadcast_four`] written before the FMAs
/// instead, the compiled loop kept one accumulator on the stack, loading and storing it at
/// every group. Register by register of `b` (every row's FMA with one register before the
/// next), all five broadcasts stay live, and the compiled loop kept three accumulators on the
/// stack.
///
/// Each row's accumulator of a register adds its columns' 4 steps lane by lane, and the lanes
/// are summed into columns once, at the end.
///
/// On that Zen 4, timed against [`ten_columns`] in one process (alternating, the whole call of
/// [`super::matmul`] on the lesson's weights and `k` = 784), this loop took about a tenth less
/// time with two to five rows (a little less than that with three), and as long with one row;
/// that was before its broadcasts were kept to the first 16 registers, which took about
/// another tenth off the call with four and five rows. Since that change, with five rows, the
/// loop by itself takes about a tenth longer than its 25 FMAs a group at two a cycle. With
/// more than [`HALVES_ROWS`] rows the accumulators no longer fit the registers.
///
/// # Safety
///
/// The CPU must support AVX-512F and AVX-512VL; `rows` holds at least `R` rows of `k` floats,
/// `b` at least `10 · steps` floats, and `steps ≤ k`.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn ten_columns_in_halves<const R: usize>(
    rows: &[f32],
    k: usize,
    steps: usize,
    b: &[f32],
    totals: &mut [__m512; R],
) {
    debug_assert!(rows.len() >= R * k && b.len() >= steps * COLUMNS_PER_PASS && steps <= k);
    debug_assert!(steps.is_multiple_of(HALF_GROUP_STEPS));
    // The blend below leaves the pairs register holding columns 8, 9 of step 0, of step 1, …;
    // these lanes put column 8's four steps first, then column 9's.
    let step_order = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    let mut acc = [[_mm256_setzero_ps(); 5]; R];
    for g in 0..steps / HALF_GROUP_STEPS {
        let group = b
            .as_ptr()
            .wrapping_add(g * HALF_GROUP_STEPS * COLUMNS_PER_PASS);
        // SAFETY: floats `40g .. 40g + 40 ≤ 10 · steps` of `b`: columns 0–7 of its rows
        // (at 0, 10, 20, 30), and the 4-float pieces at 8, 16, 28 and 36.
        let ([r0, r1, r2, r3], pieces) = unsafe {
            (
                [0, 10, 20, 30].map(|o| _mm256_loadu_ps(group.add(o))),
                [
                    _mm256_loadu2_m128(group.add(28), group.add(8)),
                    _mm256_loadu2_m128(group.add(36), group.add(16)),
                ],
            )
        };
        // Steps 0 and 1, then 2 and 3, interleaved (lanes: step 0, step 1 of a column, …);
        // then columns gathered: `[a0, a1, b0, b1]` and `[a2, a3, b2, b3]` in each half.
        let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
        let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
        // Floats 8, 9, 18, 19 | 28, 29, 38, 39 of the group, then in step order.
        let pairs = _mm256_blend_ps::<0b1100_1100>(pieces[0], pieces[1]);
        let columns = [
            _mm256_shuffle_ps::<0b01_00_01_00>(t0, t2),
            _mm256_shuffle_ps::<0b11_10_11_10>(t0, t2),
            _mm256_shuffle_ps::<0b01_00_01_00>(t1, t3),
            _mm256_shuffle_ps::<0b11_10_11_10>(t1, t3),
            _mm256_permutevar8x32_ps(pairs, step_order),
        ];
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: floats `4g..4g + 4` of row `r < R`, inside the row since
            // `4g + 4 ≤ steps ≤ k`.
            let x = unsafe { broadcast_four(rows.as_ptr().add(r * k + g * HALF_GROUP_STEPS)) };
            for (j, &column) in columns.iter().enumerate() {
                acc[j] = _mm256_fmadd_ps(x, column, acc[j]);
            }
        }
    }
    for (total, acc) in totals.iter_mut().zip(&acc) {
        // Adding neighbours twice sums each half's 4 lanes: `[c0, c1, c2, c3 | c4, c5, c6, c7]`
        // for columns 0–7, `[c8; 4 | c9; 4]` for the pairs.
        let low = _mm256_hadd_ps(
            _mm256_hadd_ps(acc[0], acc[1]),
            _mm256_hadd_ps(acc[2], acc[3]),
        );
        let pairs = _mm256_hadd_ps(acc[4], acc[4]);
        let pairs = _mm256_hadd_ps(pairs, pairs);
        let high = _mm_unpacklo_ps(
            _mm256_castps256_ps128(pairs),
            _mm256_extractf128_ps::<1>(pairs),
        );
        // Columns 0–9 in lanes 0–9 (lanes 10–15 hold anything).
        let columns = _mm512_insertf64x4::<1>(
            _mm512_castps_pd(_mm512_castps256_ps512(low)),
            _mm256_castps_pd(_mm256_castps128_ps256(high)),
        );
        *total = _mm512_add_ps(*total, _mm512_castpd_ps(columns));
    }
}

/// The 4 floats at `four`, repeated in both 128-bit halves of a 256-bit register: a
/// `vbroadcastf128` load into one of the registers `ymm0`–`ymm15`.
///
/// The intrinsic [`_mm256_broadcast_ps`](std::arch::x86_64::_mm256_broadcast_ps) leaves the
/// register to the compiler, which in an AVX-512 function may pick one of `ymm16`–`ymm31`.
/// Those registers exist only in AVX-512's encoding, where this load is `vbroadcastf32x4`.
/// Timed beside FMAs on a Zen 4, that form into `ymm16`–`ymm31` cost a load and an operation
/// on a vector pipe; `vbroadcastf128`, the older encoding, which reaches only the first 16
/// registers, cost a load alone. (Whether the encoding or the register number makes the
/// difference was not taken apart.) In [`ten_columns_in_halves`] those were five more
/// operations a group on the pipes its shuffles and FMAs share, and the loop ran about a
/// tenth slower.
///
/// # Safety
///
/// `four` must point to 4 readable floats (no alignment needed); the CPU must support AVX.
#[inline]
#[target_feature(enable = "avx")]
unsafe fn broadcast_four(four: *const f32) -> __m256 {
    let x: __m256;
    // SAFETY: the caller's contract; the instruction reads 16 bytes at `four` and writes
    // only `x`.
    unsafe {
        std::arch::asm!(
            "vbroadcastf128 {x}, xmmword ptr [{four}]",
            x = out(ymm_reg) x,
            four = in(reg) four,
            options(pure, readonly, nostack, preserves_flags)
        );
    }
    x
}

/// Independent sums [`scale_rows`] aims for: two FMAs issued per cycle, each taking four
/// cycles (the AVX-512 FMA of Intel's cores with two 512-bit FMA units), need eight in flight;
/// twice that leaves room for the loads that feed them. (AMD's Zen 4 issues one 512-bit FMA a
/// cycle, as two 256-bit halves, and needs half as many.)
const FMAS_IN_FLIGHT: usize = 16;

/// Rows of `b` ahead of its own that [`scale_rows`]' general loop asks L1 for: 32 rows of 10
/// columns are 1280 bytes, a few hundred cycles of its FMAs, about an L2 hit's latency many
/// times over.
const B_ROWS_AHEAD: usize = 32;

/// Partial sums per row, the most [`scale_rows`] uses.
const MAX_PARTS: usize = 4;

/// Partial sums per row for `rows` rows: enough independent sums for [`FMAS_IN_FLIGHT`] FMAs,
/// at most [`MAX_PARTS`] (with 8 rows, 16 accumulators of the 32 registers).
const fn partial_sums(rows: usize) -> usize {
    let parts = FMAS_IN_FLIGHT.div_ceil(rows);
    if parts > MAX_PARTS { MAX_PARTS } else { parts }
}
