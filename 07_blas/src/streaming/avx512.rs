//! The micro-kernels with AVX-512 intrinsics: 16 `f32` lanes per register, masked loads for the
//! ragged ends of `k` and of `b`'s rows, 32 registers to keep 20 accumulators in (two rows ×
//! 10 columns or four rows × 5).
//!
//! Each kernel checks its slice bounds with `assert!` once on entry, so that the loads inside
//! the loops can use raw pointers; the other obligation, that the CPU has AVX-512F, is met by
//! holding an [`Avx512`], which only [`Avx512::new`] makes.

use std::arch::x86_64::{
    __m512, __m512i, __mmask16, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps,
    _mm512_loadu_si512, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_maskz_permutexvar_ps,
    _mm512_permutexvar_ps, _mm512_reduce_add_ps, _mm512_set1_ps, _mm512_setzero_ps,
};

use super::kernel::{Asks, COLUMNS_PER_PASS, COLUMNS_PER_ROW, Kernel};
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
pub(super) struct Avx512<const COLUMNS: usize>(());

impl Avx512<5> {
    /// The kernel, when this CPU supports AVX-512F.
    pub(super) fn new() -> Option<Avx512<5>> {
        std::arch::is_x86_feature_detected!("avx512f").then_some(Avx512(()))
    }

    /// The same kernel (and the same proof that the CPU has AVX-512F), computing all 10
    /// columns of a pass per call.
    pub(super) fn whole_pass(self) -> Avx512<COLUMNS_PER_PASS> {
        Avx512(())
    }
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

    /// Eight rows share each load of a row of `b`: two partial sums each, 16 accumulators of
    /// the 32 registers, the rest left to the broadcasts of `a`. (On the lesson's weights,
    /// [`ten_columns`] takes them four at a time instead: five accumulators a row.)
    const SCALE_ROWS: usize = Isa::Avx512.kernels().scale_rows;

    fn dot_columns<const ROWS: usize, const ASKS: usize>(
        self,
        rows: &[f32],
        k: usize,
        bt: &[f32],
        kp: usize,
        ahead: Asks<'_, ASKS>,
    ) -> [[f32; COLUMNS_PER_PASS]; ROWS] {
        assert!(rows.len() == ROWS * k && kp.is_multiple_of(LANES) && kp >= k);
        assert!(bt.len() >= COLUMNS * kp);
        // SAFETY: `self` exists, so `Avx512::new` saw AVX-512F on this CPU; the slices are as
        // long as `dot_columns` needs (asserted above).
        unsafe { dot_columns::<ROWS, COLUMNS, ASKS>(rows, k, bt, kp, ahead) }
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
        assert!(k == 0 || b.len() >= (k - 1) * ldb + nc);
        // SAFETY: as above, for `scale_rows`.
        unsafe { scale_rows::<ROWS>(rows, k, b, ldb, nc) }
    }
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
unsafe fn dot_columns<const ROWS: usize, const COLUMNS: usize, const ASKS: usize>(
    rows: &[f32],
    k: usize,
    bt: &[f32],
    kp: usize,
    ahead: Asks<'_, ASKS>,
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
/// (The groups of [`ten_columns`] need no partial sums: a row has five accumulators there.)
///
/// What bounds it then is the loads, not the FMAs: each step loads once per row of `a` (a
/// broadcast) and once more for the row of `b`, so in the five-image product six loads for five
/// FMAs, and the 40-byte row of `b` often straddles two cache lines. On the Intel Xeon this was
/// measured on, a bare assembly loop of just that mix, with every operand in L1, took clearly
/// longer per step than its FMAs alone, and about as long as this kernel. Where `b` is one run of
/// 10-float rows, as the lesson's weights are, [`ten_columns`] takes the steps in groups of 8
/// with fewer loads and FMAs. Two other ways around it were timed and set aside. Packing `b` so
/// that four steps of four columns fill one register, met by a broadcast of four consecutive
/// elements of a row of `a`, needs fewer loads and FMAs per step, but the packing itself costs
/// about what it saves. Rearranging `b` that way inside the loop instead, with a shuffle per
/// step, puts the shuffles on the port that one of the two FMA units shares, and came out no
/// faster.
///
/// # Safety
///
/// The CPU must support AVX-512F; `nc ≤ 16`, `rows.len() ≥ ROWS * k` and
/// `b.len() ≥ (k - 1) * ldb + nc`.
#[target_feature(enable = "avx512f")]
unsafe fn scale_rows<const ROWS: usize>(
    rows: &[f32],
    k: usize,
    b: &[f32],
    ldb: usize,
    nc: usize,
) -> [[f32; COLUMNS_PER_ROW]; ROWS] {
    // `b` as one run of 10-float rows (the lesson's weights): whole groups of 8 steps by
    // [`ten_columns`], the rest below.
    let ten = nc == COLUMNS_PER_PASS && ldb == COLUMNS_PER_PASS;
    let grouped = if ten {
        k / GROUP_STEPS * GROUP_STEPS
    } else {
        0
    };
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
    let whole = if ten { 0 } else { k / parts * parts };
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
    let mut sums = [[0.0f32; COLUMNS_PER_ROW]; ROWS];
    for (sums, acc) in sums.iter_mut().zip(&acc) {
        let total = acc[1..parts]
            .iter()
            .fold(acc[0], |total, &part| _mm512_add_ps(total, part));
        // SAFETY: all 16 lanes of `sums`, an array of 16 `f32`.
        unsafe { _mm512_mask_storeu_ps(sums.as_mut_ptr(), !0, total) };
    }
    if grouped > 0 {
        // At most four rows per call: 20 accumulators, the 5 tables and the 4 rows' elements
        // fill 29 of the 32 registers (five rows ran out of registers, and eight rows ran
        // faster as 4 + 4 than as 5 + 3).
        for first in (0..ROWS).step_by(4) {
            let (from, sums) = (&rows[first * k..], &mut sums[first..]);
            // SAFETY: AVX-512F; `from` holds the rows `first..ROWS`, `k` floats each, and `b`
            // at least `10 · k` floats (`(k - 1) · 10 + 10`); `grouped ≤ k`.
            unsafe {
                match ROWS - first {
                    1 => ten_columns::<1>(from, k, grouped, b, sums),
                    2 => ten_columns::<2>(from, k, grouped, b, sums),
                    3 => ten_columns::<3>(from, k, grouped, b, sums),
                    _ => ten_columns::<4>(from, k, grouped, b, sums),
                }
            }
        }
    }
    sums
}

/// Steps of `k` in one group of [`ten_columns`]: 8 rows of 10 floats of `b` are 80 floats,
/// five whole registers.
const GROUP_STEPS: usize = 8;

/// Registers of `b` in one group of [`ten_columns`].
const GROUP_VECTORS: usize = GROUP_STEPS * COLUMNS_PER_PASS / LANES;

/// For each register `v` of a group, the step (row of `b`) of each of its lanes: lane `l` of
/// register `v` holds float `16v + l` of the group, row `(16v + l) / 10`, column
/// `(16v + l) % 10`.
const STEP_OF_LANE: [[i32; LANES]; GROUP_VECTORS] = {
    let mut table = [[0; LANES]; GROUP_VECTORS];
    let mut v = 0;
    while v < GROUP_VECTORS {
        let mut lane = 0;
        while lane < LANES {
            table[v][lane] = ((LANES * v + lane) / COLUMNS_PER_PASS) as i32;
            lane += 1;
        }
        v += 1;
    }
    table
};

/// For each register `v` of a group, the first lane holding each column `c < 10`
/// (`(c − 16v) mod 10`), and the second where there is one (that lane + 10 < 16), with the
/// mask of the columns that have a second.
const LANES_OF_COLUMN: [([i32; LANES], [i32; LANES], u16); GROUP_VECTORS] = {
    let mut table = [([0; LANES], [0; LANES], 0); GROUP_VECTORS];
    let mut v = 0;
    while v < GROUP_VECTORS {
        let mut c = 0;
        while c < COLUMNS_PER_PASS {
            let first = (c + COLUMNS_PER_PASS - LANES * v % COLUMNS_PER_PASS) % COLUMNS_PER_PASS;
            table[v].0[c] = first as i32;
            if first + COLUMNS_PER_PASS < LANES {
                table[v].1[c] = (first + COLUMNS_PER_PASS) as i32;
                table[v].2 |= 1 << c;
            }
            c += 1;
        }
        v += 1;
    }
    table
};

/// The first `steps` steps (a multiple of 8) of [`scale_rows`] for up to four rows, when `b` is
/// one run of 10-float rows, added into the first 10 lanes of the first `R` rows of `sums`.
///
/// The masked loads of the general loop fill 10 of 16 lanes, and each FMA takes its `a[r, p]`
/// from memory: six loads for five FMAs on the five-image product, which is what bounds it.
/// Here `b` is read as it lies, 16 floats to a register: 8 steps of 10 columns are 5 whole
/// registers, whose lanes belong to two or three rows of `b` each. Each register meets, for
/// each row of `a`, the vector of the `a[r, p]` its lanes need: one permute of the row's 8
/// elements of the group ([`STEP_OF_LANE`]), loaded once per group. So 5 FMAs per row cover
/// 8 steps, where the general loop takes 8, and one register load serves 1.6 steps. Since a
/// lane of register `v` always holds the same column, each row keeps 5 accumulators, one per
/// register of the group, and sorts their lanes into columns once at the end
/// ([`LANES_OF_COLUMN`]).
///
/// The permutes run on the port that one of the two FMA units shares on Intel's cores, so the
/// gain there is smaller than the count of FMAs says.
///
/// # Safety
///
/// The CPU must support AVX-512F; `rows` holds at least `R` rows of `k` floats, `b` at least
/// `10 · steps` floats, and `steps ≤ k`; `R ≤ sums.len()`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn ten_columns<const R: usize>(
    rows: &[f32],
    k: usize,
    steps: usize,
    b: &[f32],
    sums: &mut [[f32; COLUMNS_PER_ROW]],
) {
    debug_assert!(rows.len() >= R * k && b.len() >= steps * COLUMNS_PER_PASS && steps <= k);
    let steps_of_lanes: [__m512i; GROUP_VECTORS] =
        // SAFETY: 16 `i32` of a constant table.
        std::array::from_fn(|v| unsafe { _mm512_loadu_si512(STEP_OF_LANE[v].as_ptr().cast()) });
    let mut acc = [[_mm512_setzero_ps(); GROUP_VECTORS]; R];
    // One group `g`: each row's 8 elements `a[r, 8g..8g + 8]` (in the low lanes of `window`'s
    // load), then the 5 registers of `b`, each against every row's permuted elements.
    let group = |acc: &mut [[__m512; GROUP_VECTORS]; R], g: usize, whole: bool| {
        let window: [__m512; R] = std::array::from_fn(|r| {
            let at = rows.as_ptr().wrapping_add(r * k + g * GROUP_STEPS);
            // SAFETY: 16 floats of row `r` while `8g + 16 ≤ k` (`whole`), else its 8 floats
            // `8g..8g + 8`, inside the row since `8g + 8 ≤ steps ≤ k`.
            unsafe {
                if whole {
                    _mm512_loadu_ps(at)
                } else {
                    _mm512_maskz_loadu_ps(0xff, at)
                }
            }
        });
        for (v, &lanes) in steps_of_lanes.iter().enumerate() {
            // SAFETY: floats `80g + 16v .. 80g + 16v + 16 ≤ 10 · steps` of `b`.
            let y = unsafe {
                _mm512_loadu_ps(
                    b.as_ptr()
                        .add(g * GROUP_STEPS * COLUMNS_PER_PASS + v * LANES),
                )
            };
            for (acc, &window) in acc.iter_mut().zip(&window) {
                acc[v] = _mm512_fmadd_ps(_mm512_permutexvar_ps(lanes, window), y, acc[v]);
            }
        }
    };
    let groups = steps / GROUP_STEPS;
    // Groups whose window of 16 floats lies inside the row: `8g + 16 ≤ k`.
    let whole = (k / GROUP_STEPS).saturating_sub(1).min(groups);
    for g in 0..whole {
        group(&mut acc, g, true);
    }
    for g in whole..groups {
        group(&mut acc, g, false);
    }
    for (sums, acc) in sums.iter_mut().zip(&acc) {
        // SAFETY: 16 lanes of `sums`, an array of 16 `f32`.
        let mut total = unsafe { _mm512_loadu_ps(sums.as_ptr()) };
        for (acc, &(first, second, has_second)) in acc.iter().zip(&LANES_OF_COLUMN) {
            // SAFETY: 16 `i32` of a constant table.
            let (first, second) = unsafe {
                (
                    _mm512_loadu_si512(first.as_ptr().cast()),
                    _mm512_loadu_si512(second.as_ptr().cast()),
                )
            };
            total = _mm512_add_ps(total, _mm512_permutexvar_ps(first, *acc));
            total = _mm512_add_ps(total, _mm512_maskz_permutexvar_ps(has_second, second, *acc));
        }
        // Only the 10 columns are stored: the tables' other lanes pick lane 0, and `sums`
        // keeps whatever the general loop left there (lanes the driver never stores).
        // SAFETY: the first 10 lanes of `sums`.
        unsafe { _mm512_mask_storeu_ps(sums.as_mut_ptr(), first_lanes(COLUMNS_PER_PASS), total) };
    }
}

/// Independent sums [`scale_rows`] aims for: two FMAs issued per cycle, each taking four
/// cycles (the AVX-512 FMA of recent Intel and AMD cores), need eight in flight; twice that
/// leaves room for the loads that feed them.
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
