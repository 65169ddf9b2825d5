//! The floors: what no implementation can beat on this machine (or, for the five images, on
//! one core of it), measured in the same run.
//!
//! - **Memory**: `(50000, 784) @ (784, 10)` must read all of `x` (157 MB) from memory at least
//!   once, and does only 10 multiply-adds per element read; no implementation can beat the time
//!   it takes just to read `x` with every core. [`FloorThreads::sum`] is that read: a sum of all
//!   elements with enough independent accumulators that the adds are never the bottleneck, on
//!   threads kept between calls, by the fastest of a few methods ([`ReadMethod`]: plain code,
//!   the widest vector loads the CPU has, and those with software prefetch) on this machine.
//! - **Arithmetic**: `(N, N) @ (N, N)` does `2·N³` flops however it is blocked, so it cannot
//!   finish faster than the machine's FP32 fused multiply-add peak allows.
//!   [`FloorThreads::fma_peak`] runs
//!   fused multiply-adds on registers only (no loads, no stores) on every core, with the
//!   instruction set the kernels use, and enough independent accumulators to cover the FMA
//!   latency times the number of FMA pipes, so that nothing but the FMA units limits it.
//! - **Arithmetic on one core**: `(5, 784) @ (784, 10)` is too small to share among cores
//!   (starting a thread costs more than the product), so its floor is its flops at the same
//!   loop's peak on one thread.

use std::hint::black_box;
use std::time::Instant;

use matmul_cuda::blas::isa::{BASELINE_FMA, Isa};

/// A way to read every element of `x` once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMethod {
    /// Plain Rust, compiled for the baseline target (SSE2 on x86-64).
    Plain,
    /// The widest vector loads of the instruction set the kernels use, four accumulators.
    Wide,
    /// [`ReadMethod::Wide`], each thread asking for the data [`PREFETCH_BYTES`] ahead.
    WidePrefetch,
}

impl ReadMethod {
    /// Every method, in the order they are tried.
    pub const ALL: [ReadMethod; 3] = [
        ReadMethod::Plain,
        ReadMethod::Wide,
        ReadMethod::WidePrefetch,
    ];

    /// Its name in the floor's note.
    pub fn name(self) -> &'static str {
        match self {
            ReadMethod::Plain => "plain loads",
            ReadMethod::Wide => "wide loads",
            ReadMethod::WidePrefetch => "wide loads + prefetch",
        }
    }
}

/// How far ahead of its loads [`ReadMethod::WidePrefetch`] asks for data: 2 KiB, 32 cache
/// lines, about what one core needs in flight to cover the memory latency at its share of the
/// bandwidth.
pub const PREFETCH_BYTES: usize = 2048;

/// The floors' threads, kept in a pool between calls (starting a thread is a cost a floor must
/// not pay): for the read of `x` with every core, each thread summing its contiguous part by
/// `method`, and for the FMA peak on every core.
pub struct FloorThreads {
    pool: rayon::ThreadPool,
    /// How each part is read.
    pub method: ReadMethod,
    isa: Isa,
}

impl FloorThreads {
    /// A read with `threads` threads by `method`, with `isa`'s loads for the wide methods.
    ///
    /// # Panics
    ///
    /// When the threads cannot be started.
    pub fn new(threads: usize, method: ReadMethod, isa: Isa) -> FloorThreads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("floor-{i}"))
            .build()
            .expect("starting the floors' threads");
        FloorThreads { pool, method, isa }
    }

    /// The fastest method on this machine for `x`: each one timed over `reads` reads of `x`
    /// (their median); returns the read with it, and every method's median in nanoseconds.
    pub fn fastest(
        threads: usize,
        isa: Isa,
        x: &[f32],
        reads: usize,
    ) -> (FloorThreads, Vec<(ReadMethod, f64)>) {
        let mut floor = FloorThreads::new(threads, ReadMethod::Plain, isa);
        let mut medians = Vec::new();
        for method in ReadMethod::ALL {
            floor.method = method;
            black_box(floor.sum(x)); // warm-up: page tables, the threads
            let times: Vec<f64> = (0..reads.max(1)).map(|_| floor.time(x)).collect();
            medians.push((method, super::timer::median(times)));
        }
        let best = medians
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("three methods")
            .0;
        floor.method = best;
        (floor, medians)
    }

    /// The sum of `x`, read once.
    pub fn sum(&self, x: &[f32]) -> f32 {
        let threads = self.pool.current_num_threads();
        let part = x.len().div_ceil(threads).max(1);
        let (method, isa) = (self.method, self.isa);
        self.pool
            .broadcast(|context| {
                let start = (context.index() * part).min(x.len());
                let end = (start + part).min(x.len());
                read_part(&x[start..end], method, isa)
            })
            .into_iter()
            .sum()
    }

    /// Nanoseconds one read of `x` takes now.
    pub fn time(&self, x: &[f32]) -> f64 {
        let start = Instant::now();
        black_box(self.sum(black_box(x)));
        start.elapsed().as_secs_f64() * 1e9
    }

    /// `iterations` iterations of the register-only FMA loop of this floor's instruction set
    /// on each of its threads (kept between calls, so that a short call measures the FMA
    /// units, not the start of threads). Returns a checksum, so that the work cannot be
    /// optimised away; the flops done are `threads × iterations × flops_per_iteration(isa)`.
    pub fn fma_peak(&self, iterations: u64) -> f32 {
        let isa = self.isa;
        self.pool
            .broadcast(|_| fma_loop(isa, iterations))
            .into_iter()
            .sum()
    }

    /// The number of FMA-loop iterations that takes about `seconds` on this floor's threads:
    /// doubled from a small count until a call lasts a quarter of that, then scaled.
    pub fn fma_iterations_for(&self, seconds: f64) -> u64 {
        let mut iterations = 1u64 << 10;
        loop {
            let started = Instant::now();
            black_box(self.fma_peak(iterations));
            let elapsed = started.elapsed().as_secs_f64();
            if elapsed >= seconds / 4.0 || iterations >= 1 << 30 {
                return ((iterations as f64 * seconds / elapsed.max(1e-9)) as u64).max(1);
            }
            iterations *= 2;
        }
    }

    /// How many threads it runs on.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// The instruction set of its wide reads and of its FMA loop.
    pub fn isa(&self) -> Isa {
        self.isa
    }
}

/// One thread's part of a read.
fn read_part(x: &[f32], method: ReadMethod, isa: Isa) -> f32 {
    let prefetch = (method == ReadMethod::WidePrefetch).then_some(PREFETCH_BYTES);
    match (method, isa) {
        (ReadMethod::Plain, _) => sum(x),
        #[cfg(target_arch = "x86_64")]
        (_, Isa::Avx512) if is_x86_feature_detected!("avx512f") => {
            // SAFETY: `avx512f` was detected on this CPU, as the guard says.
            unsafe { x86::sum_avx512(x, prefetch) }
        }
        #[cfg(target_arch = "x86_64")]
        (_, Isa::Avx512 | Isa::Avx2) if is_x86_feature_detected!("avx2") => {
            // SAFETY: `avx2` was detected on this CPU, as the guard says.
            unsafe { x86::sum_avx2(x, prefetch) }
        }
        #[cfg(target_arch = "aarch64")]
        (_, Isa::Neon) => arm::sum_neon(x, prefetch),
        _ => {
            let _ = prefetch; // no wide loads here: the plain read
            sum(x)
        }
    }
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
        Isa::Neon => (NEON_ACCUMULATORS * 4 * 2) as f64,
        Isa::Portable => (PORTABLE_LANES * 2) as f64,
    }
}

/// What `isa`'s FMA loop is, for the floor's note.
pub fn peak_name(isa: Isa) -> &'static str {
    match isa {
        Isa::Avx512 => "AVX-512 FMA",
        Isa::Avx2 => "AVX2 FMA",
        Isa::Neon => "NEON FMA",
        Isa::Portable if BASELINE_FMA => "portable FMA",
        Isa::Portable => "portable mul + add",
    }
}

/// Independent FMA chains per thread: FMA latency (4–5 cycles) × FMA pipes (2) needs at least
/// 10 in flight; 12 covers every current x86 core and still leaves registers for the operands
/// (12 + 2 of the 16 `ymm` registers).
const ACCUMULATORS: usize = 12;

/// Independent FMA chains per thread on ARM64: an Apple P-core starts four 4-lane FMAs per
/// cycle, each 4 cycles long, so it needs 16 in flight; 24 covers every current ARM64 core
/// and leaves registers for the operands (24 + 2 of the 32 `v` registers).
const NEON_ACCUMULATORS: usize = 24;

/// Lanes of the portable loop: 16 SSE registers' worth of independent chains.
const PORTABLE_LANES: usize = 64;

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
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => arm::fma_neon::<NEON_ACCUMULATORS>(iterations, x, y),
        Isa::Portable => portable(iterations, x, y),
        isa => panic!("no {isa:?} on this architecture"),
    }
}

/// The loop in plain Rust: `PORTABLE_LANES` independent `a = a * x + y` chains, fused where
/// the target's baseline has FMA (as the portable kernels are).
fn portable(iterations: u64, x: f32, y: f32) -> f32 {
    let mut acc = [0.0f32; PORTABLE_LANES];
    for _ in 0..iterations {
        for a in &mut acc {
            *a = if BASELINE_FMA {
                a.mul_add(x, y)
            } else {
                *a * x + y
            };
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use std::arch::aarch64::{
        float32x4_t, vaddq_f32, vaddvq_f32, vdupq_n_f32, vfmaq_f32, vld1q_f32,
    };

    /// The sum of `x` in 4-lane loads, eight at a time (128 bytes, one line of an Apple core)
    /// into eight accumulators; with `prefetch`, asking for the data that many bytes ahead of
    /// each group of loads.
    pub fn sum_neon(x: &[f32], prefetch: Option<usize>) -> f32 {
        // SAFETY: NEON is in every ARM64 CPU.
        unsafe { sum(x, prefetch) }
    }

    #[target_feature(enable = "neon")]
    fn sum(x: &[f32], prefetch: Option<usize>) -> f32 {
        let mut acc = [vdupq_n_f32(0.0); 8];
        let mut chunks = x.chunks_exact(32);
        for chunk in &mut chunks {
            let p = chunk.as_ptr();
            if let Some(bytes) = prefetch {
                // A prefetch is a hint that never faults: an address past the end is fine.
                let ahead = p.wrapping_byte_add(bytes);
                // SAFETY: `prfm` is in the ARM64 base instruction set and writes nothing.
                unsafe {
                    std::arch::asm!(
                        "prfm pldl1keep, [{ahead}]",
                        ahead = in(reg) ahead,
                        options(nostack, preserves_flags, readonly)
                    )
                };
            }
            for (j, a) in acc.iter_mut().enumerate() {
                // SAFETY: the chunk holds 32 floats; this reads 4 of them, from 4·j.
                *a = vaddq_f32(*a, unsafe { vld1q_f32(p.add(4 * j)) });
            }
        }
        let total = acc.iter().fold(vdupq_n_f32(0.0), |s, &a| vaddq_f32(s, a));
        vaddvq_f32(total) + chunks.remainder().iter().sum::<f32>()
    }

    /// `CHAINS` independent chains of `a = a · x + y` on 4 lanes each, registers only.
    pub fn fma_neon<const CHAINS: usize>(iterations: u64, x: f32, y: f32) -> f32 {
        // SAFETY: NEON is in every ARM64 CPU.
        unsafe { fma::<CHAINS>(iterations, x, y) }
    }

    #[target_feature(enable = "neon")]
    fn fma<const CHAINS: usize>(iterations: u64, x: f32, y: f32) -> f32 {
        let (x, y) = (vdupq_n_f32(x), vdupq_n_f32(y));
        let mut acc: [float32x4_t; CHAINS] = [vdupq_n_f32(0.0); CHAINS];
        for _ in 0..iterations {
            for a in &mut acc {
                *a = vfmaq_f32(y, *a, x);
            }
        }
        let total = acc.iter().fold(vdupq_n_f32(0.0), |s, &a| vaddq_f32(s, a));
        vaddvq_f32(total)
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        _MM_HINT_T0, _mm_prefetch, _mm256_add_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps,
        _mm256_setzero_ps, _mm256_storeu_ps, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps,
        _mm512_reduce_add_ps, _mm512_set1_ps, _mm512_setzero_ps,
    };

    /// The sum of `x` in 16-lane loads, four at a time into four accumulators; with
    /// `prefetch`, asking for the data that many bytes ahead of each group of loads.
    #[target_feature(enable = "avx512f")]
    pub fn sum_avx512(x: &[f32], prefetch: Option<usize>) -> f32 {
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut chunks = x.chunks_exact(64);
        for chunk in &mut chunks {
            let p = chunk.as_ptr();
            if let Some(bytes) = prefetch {
                // A prefetch is a hint: an address past the end is never dereferenced.
                let ahead = p.wrapping_byte_add(bytes).cast::<i8>();
                _mm_prefetch::<_MM_HINT_T0>(ahead);
            }
            for (j, a) in acc.iter_mut().enumerate() {
                // SAFETY: the chunk holds 64 floats; this reads 16 of them, from 16·j.
                *a = _mm512_add_ps(*a, unsafe { _mm512_loadu_ps(p.add(16 * j)) });
            }
        }
        let total = acc
            .iter()
            .fold(_mm512_setzero_ps(), |s, &a| _mm512_add_ps(s, a));
        _mm512_reduce_add_ps(total) + chunks.remainder().iter().sum::<f32>()
    }

    /// [`sum_avx512`] in 8-lane loads.
    #[target_feature(enable = "avx2")]
    pub fn sum_avx2(x: &[f32], prefetch: Option<usize>) -> f32 {
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut chunks = x.chunks_exact(32);
        for chunk in &mut chunks {
            let p = chunk.as_ptr();
            if let Some(bytes) = prefetch {
                // A prefetch is a hint: an address past the end is never dereferenced.
                let ahead = p.wrapping_byte_add(bytes).cast::<i8>();
                _mm_prefetch::<_MM_HINT_T0>(ahead);
            }
            for (j, a) in acc.iter_mut().enumerate() {
                // SAFETY: the chunk holds 32 floats; this reads 8 of them, from 8·j.
                *a = _mm256_add_ps(*a, unsafe { _mm256_loadu_ps(p.add(8 * j)) });
            }
        }
        let total = acc
            .iter()
            .fold(_mm256_setzero_ps(), |s, &a| _mm256_add_ps(s, a));
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` is 8 writable floats, exactly one unaligned 256-bit store.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), total) };
        lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
    }

    /// `CHAINS` independent chains of `a = a · x + y` on 16 lanes each, registers only.
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
    fn every_read_method_reads_every_element_once() {
        let x: Vec<f32> = (0..1001).map(|i| i as f32).collect();
        for threads in 1..4 {
            for method in ReadMethod::ALL {
                let floor = FloorThreads::new(threads, method, Isa::detect());
                assert_eq!(floor.sum(&x), 500_500.0, "{method:?} on {threads} threads");
                assert_eq!(
                    floor.sum(&x[..7]),
                    21.0,
                    "{method:?}: a part shorter than a load"
                );
                assert_eq!(floor.sum(&[]), 0.0);
            }
        }
        let (fastest, medians) = FloorThreads::fastest(2, Isa::detect(), &x, 3);
        assert_eq!(medians.len(), ReadMethod::ALL.len());
        let best = medians.iter().map(|m| m.1).fold(f64::INFINITY, f64::min);
        assert!(medians.contains(&(fastest.method, best)));
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
        let threads = FloorThreads::new(3, ReadMethod::Plain, Isa::Portable);
        assert_eq!(threads.fma_peak(0), 0.0);
    }
}
