//! The streaming kernels with AVX-512 intrinsics: 16 `f32` lanes per register, masked loads for
//! the ragged ends, 32 registers to keep two rows' accumulators in.
//!
//! Each kernel checks its slice bounds with `assert!` once on entry, so that the loads inside
//! the loops can use raw pointers; the only other obligation, that the CPU has AVX-512F, is the
//! caller's (see [`super::Isa::detect`]).

use std::arch::x86_64::{
    __m512, __mmask16, _MM_HINT_T1, _mm_prefetch, _mm512_fmadd_ps, _mm512_mask_storeu_ps,
    _mm512_maskz_loadu_ps, _mm512_reduce_add_ps, _mm512_set1_ps, _mm512_setzero_ps,
};

/// Lanes of one register.
const LANES: usize = 16;

/// Columns of `c` computed per pass over a row of `a` ([`super::COLUMNS_PER_PASS`]).
const NR: usize = super::COLUMNS_PER_PASS;

/// How many rows ahead of the current pair the kernel asks the memory system for.
///
/// The hardware prefetcher stops at every 4 KiB page (a row is 3 KiB) and the core is busy
/// with 20 FMAs per pair of 64-byte lines it reads, so on its own it keeps too few lines in
/// flight. The kernel asks for the rows 8 ahead explicitly, into L2 (`prefetcht1`): L2 can
/// track many more outstanding misses than L1, and L1 stays free for `bᵀ`. Measured on
/// 50,000 rows, 2 threads: no prefetch 2.6× the stream-read floor, into L1 (`t0` or `nta`)
/// 1.4×, into L2 0.9–1.0× (4 to 16 rows ahead alike, within noise).
const PREFETCH_ROWS: usize = 8;

/// The mask selecting the first `n ≤ 16` lanes.
fn first_lanes(n: usize) -> __mmask16 {
    debug_assert!(n <= LANES);
    ((1u32 << n) - 1) as __mmask16
}

/// `c[i, j] = Σ_p a[i, p] · bᵀ[j, p]`: the contract of
/// [`portable::rows_dot_columns`](super::portable::rows_dot_columns), two rows at a time.
///
/// Per 16 elements of `k` it loads 16 elements from each of two rows of `a` and from each of
/// the 10 packed columns of `b`, and does 20 FMAs into 20 accumulator registers: one load of
/// `b` feeds two FMAs, which keeps the kernel bound by FMA throughput, not by loads.
///
/// # Safety
///
/// The CPU must support AVX-512F.
///
/// # Panics
///
/// When a slice is shorter than the contract says (`kp` must be a multiple of 16).
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn rows_dot_columns(
    a: &[f32],
    k: usize,
    bt: &[f32],
    kp: usize,
    nc: usize,
    c: &mut [f32],
    ldc: usize,
) {
    let rows = a.len() / k;
    assert!(rows * k == a.len() && kp.is_multiple_of(LANES) && kp >= k && bt.len() >= NR * kp);
    assert!(nc <= NR && (rows == 0 || c.len() >= (rows - 1) * ldc + nc));
    // Whole chunks of 16 lanes, then (when 16 does not divide k) one partial chunk, loaded
    // with a mask; the packed columns are zero past `k`, so their lanes add nothing.
    let full = k / LANES;
    let tail = k % LANES;
    let end = a.as_ptr_range().end;
    let load_a = |row: *const f32, chunk: usize, mask: __mmask16| {
        // SAFETY: `row` starts a row of `a` (k elements); the lanes `mask` selects lie in
        // `chunk * 16..min(chunk * 16 + 16, k)`, inside the row. AVX-512F: caller's promise.
        unsafe { _mm512_maskz_loadu_ps(mask, row.add(chunk * LANES)) }
    };
    let load_bt = |j: usize, chunk: usize| {
        // SAFETY: `j < NR` and `chunk * 16 + 16 ≤ kp`, so the 16 lanes lie inside
        // `bt[j * kp..(j + 1) * kp]`, which the assert above checked.
        unsafe { _mm512_maskz_loadu_ps(!0, bt.as_ptr().add(j * kp + chunk * LANES)) }
    };
    let store = |c: &mut [f32], i: usize, sums: &[__m512; NR]| {
        for (j, out) in c[i * ldc..][..nc].iter_mut().enumerate() {
            *out = _mm512_reduce_add_ps(sums[j]);
        }
    };
    // One chunk of two rows: 2 loads of `a`, 10 of `bᵀ`, 20 FMAs.
    let pair =
        |acc0: &mut [__m512; NR], acc1: &mut [__m512; NR], rows: [*const f32; 2], chunk, mask| {
            let x0 = load_a(rows[0], chunk, mask);
            let x1 = load_a(rows[1], chunk, mask);
            for j in 0..NR {
                let y = load_bt(j, chunk);
                acc0[j] = _mm512_fmadd_ps(x0, y, acc0[j]);
                acc1[j] = _mm512_fmadd_ps(x1, y, acc1[j]);
            }
        };

    let mut i = 0;
    while i + 2 <= rows {
        let rows = [a[i * k..].as_ptr(), a[(i + 1) * k..].as_ptr()];
        let mut acc0 = [_mm512_setzero_ps(); NR];
        let mut acc1 = [_mm512_setzero_ps(); NR];
        for chunk in 0..full {
            // The two rows PREFETCH_ROWS ahead, two cache lines per chunk of 16 floats here.
            let ahead = rows[0].wrapping_add(PREFETCH_ROWS * k + 2 * chunk * LANES);
            if ahead < end {
                // Hints: they never fault and have no visible effect (safe intrinsics).
                _mm_prefetch::<_MM_HINT_T1>(ahead.cast());
                _mm_prefetch::<_MM_HINT_T1>(ahead.wrapping_add(LANES).cast());
            }
            pair(&mut acc0, &mut acc1, rows, chunk, !0);
        }
        if tail > 0 {
            pair(&mut acc0, &mut acc1, rows, full, first_lanes(tail));
        }
        store(c, i, &acc0);
        store(c, i + 1, &acc1);
        i += 2;
    }
    if i < rows {
        let row = a[i * k..].as_ptr();
        let mut acc = [_mm512_setzero_ps(); NR];
        for chunk in 0..k.div_ceil(LANES) {
            let mask = if chunk < full { !0 } else { first_lanes(tail) };
            let x = load_a(row, chunk, mask);
            for (j, acc) in acc.iter_mut().enumerate() {
                *acc = _mm512_fmadd_ps(x, load_bt(j, chunk), *acc);
            }
        }
        store(c, i, &acc);
    }
}

/// `c[i, j] = Σ_p a[i, p] · b[p, j]`: the contract of
/// [`portable::rows_times_b`](super::portable::rows_times_b), up to 8 rows at a time.
///
/// Per element of `k` it loads one row of `b` (`nc ≤ 16` floats, one masked load) and does
/// one FMA per row of `a`, with `a[i, p]` broadcast to all lanes. No packing: the cost of a
/// call is the arithmetic, which is what the five-image product needs.
///
/// # Safety
///
/// The CPU must support AVX-512F.
///
/// # Panics
///
/// When a slice is shorter than the contract says or `nc > 16`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn rows_times_b(
    a: &[f32],
    k: usize,
    b: &[f32],
    ldb: usize,
    nc: usize,
    c: &mut [f32],
    ldc: usize,
) {
    let rows = a.len() / k;
    assert!(rows * k == a.len() && nc <= LANES && b.len() >= (k - 1) * ldb + nc);
    assert!(rows == 0 || c.len() >= (rows - 1) * ldc + nc);
    let mut i = 0;
    while i < rows {
        // Dispatch to a kernel whose row count is a constant, so that its accumulators are
        // registers, not an array in memory.
        i += match rows - i {
            1 => rows_times_b_block::<1>(&a[i * k..], k, b, ldb, nc, &mut c[i * ldc..], ldc),
            2 => rows_times_b_block::<2>(&a[i * k..], k, b, ldb, nc, &mut c[i * ldc..], ldc),
            3 => rows_times_b_block::<3>(&a[i * k..], k, b, ldb, nc, &mut c[i * ldc..], ldc),
            4 => rows_times_b_block::<4>(&a[i * k..], k, b, ldb, nc, &mut c[i * ldc..], ldc),
            5 => rows_times_b_block::<5>(&a[i * k..], k, b, ldb, nc, &mut c[i * ldc..], ldc),
            6 => rows_times_b_block::<6>(&a[i * k..], k, b, ldb, nc, &mut c[i * ldc..], ldc),
            7 => rows_times_b_block::<7>(&a[i * k..], k, b, ldb, nc, &mut c[i * ldc..], ldc),
            _ => rows_times_b_block::<8>(&a[i * k..], k, b, ldb, nc, &mut c[i * ldc..], ldc),
        };
    }
}

/// [`rows_times_b`] for the first `MR` rows of `a` (which the caller checked exist, as it
/// checked `b` and `c`); returns `MR`.
#[inline]
#[target_feature(enable = "avx512f")]
fn rows_times_b_block<const MR: usize>(
    a: &[f32],
    k: usize,
    b: &[f32],
    ldb: usize,
    nc: usize,
    c: &mut [f32],
    ldc: usize,
) -> usize {
    assert!(a.len() >= MR * k && c.len() >= (MR - 1) * ldc + nc);
    let mask = first_lanes(nc);
    let mut acc = [_mm512_setzero_ps(); MR];
    for p in 0..k {
        // SAFETY: lanes `0..nc` of row `p` of `b`, `p * ldb + nc ≤ b.len()` (checked by the
        // caller); masked-off lanes are not read.
        let y = unsafe { _mm512_maskz_loadu_ps(mask, b.as_ptr().add(p * ldb)) };
        for (i, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `i < MR` and `p < k`, so `i * k + p < MR * k ≤ a.len()` (asserted).
            let x = unsafe { *a.as_ptr().add(i * k + p) };
            *acc = _mm512_fmadd_ps(_mm512_set1_ps(x), y, *acc);
        }
    }
    for (i, acc) in acc.iter().enumerate() {
        // SAFETY: lanes `0..nc` of row `i` of `c`, inside `c` (asserted above).
        unsafe { _mm512_mask_storeu_ps(c.as_mut_ptr().add(i * ldc), mask, *acc) };
    }
    MR
}
