//! The floors: what no implementation can beat on this machine, measured in the same run.
//!
//! - **Memory**: `(50000, 784) @ (784, 10)` must read all of `x` (157 MB) from memory at least
//!   once, and does only 10 multiply-adds per element read; no implementation can beat the time
//!   it takes just to read `x` with every core. [`stream_read`] is that read: a sum of all
//!   elements, with enough independent accumulators that the adds are never the bottleneck.
//! - **Arithmetic**: `(N, N) @ (N, N)` does `2·N³` flops however it is blocked, so it cannot
//!   finish faster than the machine's FP32 fused multiply-add peak allows. [`fma_peak`] runs
//!   fused multiply-adds on registers only (no loads, no stores) on every core, with the
//!   instruction set the kernels use, and enough independent accumulators to cover the FMA
//!   latency times the number of FMA pipes, so that nothing but the FMA units limits it.

use std::hint::black_box;

use matmul_cuda::blas::isa::Isa;

/// The sum of `x`, read once from front to back, split into `threads` contiguous parts.
pub fn stream_read(x: &[f32], threads: usize) -> f32 {
    let part = x.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let sums: Vec<_> = x
            .chunks(part)
            .map(|part| scope.spawn(move || sum(part)))
            .collect();
        sums.into_iter()
            .map(|sum| sum.join().expect("a summing thread panicked"))
            .sum()
    })
}

/// The sum of `x` with 32 independent accumulators (four AVX registers' worth), so that the
/// loop is bound by loads, not by the latency of the adds.
fn sum(x: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 32];
    let mut chunks = x.chunks_exact(32);
    for chunk in &mut chunks {
        for (lane, value) in lanes.iter_mut().zip(chunk) {
            *lane += value;
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// Floating-point operations one iteration of `isa`'s FMA loop does on one thread.
pub fn flops_per_iteration(isa: Isa) -> f64 {
    // accumulators × lanes × 2 (a multiply and an add per lane)
    match isa {
        Isa::Avx512 => (ACCUMULATORS * 16 * 2) as f64,
        Isa::Avx2 => (ACCUMULATORS * 8 * 2) as f64,
        Isa::Portable => (PORTABLE_LANES * 2) as f64,
    }
}

/// What `isa`'s FMA loop is, for the floor's note.
pub fn peak_name(isa: Isa) -> &'static str {
    match isa {
        Isa::Avx512 => "AVX-512 FMA",
        Isa::Avx2 => "AVX2 FMA",
        Isa::Portable => "portable mul + add",
    }
}

/// Independent FMA chains per thread: FMA latency (4–5 cycles) × FMA pipes (2) needs at least
/// 10 in flight; 12 covers every current x86 core and still leaves registers for the operands
/// (12 + 2 of the 16 `ymm` registers).
const ACCUMULATORS: usize = 12;

/// Lanes of the portable loop: 16 SSE registers' worth of independent chains.
const PORTABLE_LANES: usize = 64;

/// Runs `iterations` iterations of `isa`'s register-only FMA loop on each of `threads`
/// threads (the portable loop where this CPU lacks `isa`). Returns a checksum (so that the work cannot be optimised away); the flops done are
/// `threads × iterations × isa.flops_per_iteration()`.
pub fn fma_peak(isa: Isa, threads: usize, iterations: u64) -> f32 {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| scope.spawn(move || fma_loop(isa, iterations)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("an FMA thread panicked"))
            .sum()
    })
}

/// One thread's loop.
fn fma_loop(isa: Isa, iterations: u64) -> f32 {
    // Multiplier just under 1 and a tiny addend: the values stay finite and normal for any
    // number of iterations, so no slow path (denormals, infinities) distorts the timing.
    let (x, y) = (black_box(0.999_999_9f32), black_box(1e-7f32));
    fma_loop_with(isa, iterations, x, y)
}

/// `iterations` steps of `a = a · x + y` in each of `isa`'s independent chains.
///
/// # Panics
///
/// When this CPU lacks `isa` (`Isa::detect` never picks one it lacks).
fn fma_loop_with(isa: Isa, iterations: u64, x: f32, y: f32) -> f32 {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            assert!(
                is_x86_feature_detected!("avx512f"),
                "this CPU lacks AVX-512"
            );
            // SAFETY: `avx512f` was detected on this CPU just above.
            unsafe { x86::fma_avx512::<ACCUMULATORS>(iterations, x, y) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            assert!(
                is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
                "this CPU lacks AVX2 and FMA"
            );
            // SAFETY: `avx2` and `fma` were detected on this CPU just above.
            unsafe { x86::fma_avx2::<ACCUMULATORS>(iterations, x, y) }
        }
        _ => portable(iterations, x, y),
    }
}

/// The loop in plain Rust: `PORTABLE_LANES` independent `a = a * x + y` chains.
fn portable(iterations: u64, x: f32, y: f32) -> f32 {
    let mut acc = [0.0f32; PORTABLE_LANES];
    for _ in 0..iterations {
        for a in &mut acc {
            *a = *a * x + y;
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        _mm256_add_ps, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps,
        _mm512_add_ps, _mm512_fmadd_ps, _mm512_reduce_add_ps, _mm512_set1_ps, _mm512_setzero_ps,
    };

    /// `CHAINS` independent chains of `a = a · x + y` on 16 lanes each, registers only.
    // The AVX-512 intrinsics are stable since Rust 1.89, as 07_blas's AVX-512 kernels need too.
    #[allow(clippy::incompatible_msrv)]
    #[target_feature(enable = "avx512f")]
    pub fn fma_avx512<const CHAINS: usize>(iterations: u64, x: f32, y: f32) -> f32 {
        let (x, y) = (_mm512_set1_ps(x), _mm512_set1_ps(y));
        let mut acc = [_mm512_setzero_ps(); CHAINS];
        for _ in 0..iterations {
            for a in &mut acc {
                *a = _mm512_fmadd_ps(*a, x, y);
            }
        }
        let total = acc
            .iter()
            .fold(_mm512_setzero_ps(), |s, &a| _mm512_add_ps(s, a));
        _mm512_reduce_add_ps(total)
    }

    /// `CHAINS` independent chains of `a = a · x + y` on 8 lanes each, registers only.
    #[target_feature(enable = "avx2,fma")]
    pub fn fma_avx2<const CHAINS: usize>(iterations: u64, x: f32, y: f32) -> f32 {
        let (x, y) = (_mm256_set1_ps(x), _mm256_set1_ps(y));
        let mut acc = [_mm256_setzero_ps(); CHAINS];
        for _ in 0..iterations {
            for a in &mut acc {
                *a = _mm256_fmadd_ps(*a, x, y);
            }
        }
        let total = acc
            .iter()
            .fold(_mm256_setzero_ps(), |s, &a| _mm256_add_ps(s, a));
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` is 8 writable floats, exactly one unaligned 256-bit store.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), total) };
        lanes.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_reads_every_element_once() {
        let x: Vec<f32> = (0..1001).map(|i| i as f32).collect();
        for threads in 1..4 {
            assert_eq!(stream_read(&x, threads), 500_500.0);
        }
        assert_eq!(stream_read(&[], 2), 0.0);
    }

    #[test]
    fn every_fma_loop_computes_the_same_recurrence() {
        // a_{t+1} = a_t · x + y from 0: after 3 steps y·(1 + x + x²) in every lane.
        let (x, y) = (0.5f32, 1.0f32);
        let lane = y * (1.0 + x + x * x);
        for isa in [Isa::Portable, Isa::detect()] {
            let per_thread = fma_loop_with(isa, 3, x, y);
            let lanes = flops_per_iteration(isa) / 2.0;
            assert!(
                (per_thread - lane * lanes as f32).abs() < 1e-3,
                "{isa:?}: {per_thread}"
            );
        }
        assert_eq!(fma_peak(Isa::Portable, 3, 0), 0.0);
    }
}
