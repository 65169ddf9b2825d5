//! The streaming kernels in plain Rust: correct on every machine, and written so that the
//! compiler can vectorise them (fixed-size arrays of lanes, no reduction across lanes inside
//! the loops). The AVX2 path compiles these same functions with `avx2` and `fma` enabled.

/// Lanes of one accumulator: 8 `f32`, one 256-bit register.
const LANES: usize = 8;

/// Columns of `c` computed per pass over a row of `a` ([`super::COLUMNS_PER_PASS`]).
const NR: usize = super::COLUMNS_PER_PASS;

/// Rows of `a` per pass of [`rows_times_b`]: 4 rows × 16 columns = 8 AVX2 registers.
const MR: usize = 4;

/// Rows ahead of the current one that [`rows_dot_columns`] asks for (see the AVX-512 kernel).
const PREFETCH_ROWS: usize = 4;

/// Asks for the cache line holding `a[index]` to be brought into L2, when it exists. A hint
/// with no effect on the results, and nothing at all off x86-64.
#[inline(always)]
fn prefetch(a: &[f32], index: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(element) = a.get(index) {
        use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
        // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 CPU has; a prefetch never
        // faults and has no visible effect, and the address is an element of `a` anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(std::ptr::from_ref(element).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (a, index);
}

/// `c[i, j] = Σ_p a[i, p] · bᵀ[j, p]` for every row `i` of `a` and `j < nc`, SIMD across `p`.
///
/// - `a`: `rows` rows of `k` contiguous elements (`a.len() == rows * k`);
/// - `bt`: [`NR`] packed columns of `b`, each `kp ≥ k` long, zero past `k`;
/// - `c`: row `i` at `c[i * ldc..i * ldc + nc]`, `nc ≤ NR`.
#[inline(always)]
pub(super) fn rows_dot_columns(
    a: &[f32],
    k: usize,
    bt: &[f32],
    kp: usize,
    nc: usize,
    c: &mut [f32],
    ldc: usize,
) {
    let full = k / LANES;
    for (i, row) in a.chunks_exact(k).enumerate() {
        let mut acc = [[0.0f32; LANES]; NR];
        for chunk in 0..full {
            prefetch(a, (i + PREFETCH_ROWS) * k + chunk * LANES);
            let x = &row[chunk * LANES..][..LANES];
            for (j, acc) in acc.iter_mut().enumerate() {
                let y = &bt[j * kp + chunk * LANES..][..LANES];
                for lane in 0..LANES {
                    acc[lane] += x[lane] * y[lane];
                }
            }
        }
        let out = &mut c[i * ldc..][..nc];
        for (j, out) in out.iter_mut().enumerate() {
            let tail: f32 = (full * LANES..k).map(|p| row[p] * bt[j * kp + p]).sum();
            *out = acc[j].iter().sum::<f32>() + tail;
        }
    }
}

/// `c[i, j] = Σ_p a[i, p] · b[p, j]` for every row `i` of `a` and `j < nc ≤ 16`, SIMD across
/// `j`: each row of `b` is read in place, scaled by `a[i, p]` and added to row `i` of `c`.
///
/// - `a`: rows of `k` contiguous elements; `b`: row `p` at `b[p * ldb..p * ldb + nc]`;
/// - `c`: row `i` at `c[i * ldc..i * ldc + nc]`.
#[inline(always)]
pub(super) fn rows_times_b(
    a: &[f32],
    k: usize,
    b: &[f32],
    ldb: usize,
    nc: usize,
    c: &mut [f32],
    ldc: usize,
) {
    assert!(
        nc <= 16,
        "rows_times_b handles at most 16 columns, got {nc}"
    );
    let rows = a.len() / k;
    let mut i = 0;
    while i < rows {
        // A constant row count per block, so that the accumulators are registers.
        let (a, c) = (&a[i * k..], &mut c[i * ldc..]);
        i += match rows - i {
            1 => rows_times_b_block::<1>(a, k, b, ldb, nc, c, ldc),
            2 => rows_times_b_block::<2>(a, k, b, ldb, nc, c, ldc),
            3 => rows_times_b_block::<3>(a, k, b, ldb, nc, c, ldc),
            _ => rows_times_b_block::<MR>(a, k, b, ldb, nc, c, ldc),
        };
    }
}

/// [`rows_times_b`] for the first `ROWS` rows of `a`; returns `ROWS`.
#[inline(always)]
fn rows_times_b_block<const ROWS: usize>(
    a: &[f32],
    k: usize,
    b: &[f32],
    ldb: usize,
    nc: usize,
    c: &mut [f32],
    ldc: usize,
) -> usize {
    let a = &a[..ROWS * k];
    let mut acc = [[0.0f32; 16]; ROWS];
    for p in 0..k {
        let row = &b[p * ldb..];
        // 16 lanes straight from `b` when they are there (the lanes past `nc` belong to other
        // columns or rows and are never stored); otherwise the `nc` real ones, zero-padded.
        let y: [f32; 16] = match row.get(..16) {
            Some(lanes) => lanes.try_into().expect("16 lanes"),
            None => {
                let mut y = [0.0f32; 16];
                y[..nc].copy_from_slice(&row[..nc]);
                y
            }
        };
        for (i, acc) in acc.iter_mut().enumerate() {
            let x = a[i * k + p];
            for lane in 0..16 {
                acc[lane] += x * y[lane];
            }
        }
    }
    for (i, acc) in acc.iter().enumerate() {
        c[i * ldc..][..nc].copy_from_slice(&acc[..nc]);
    }
    ROWS
}
