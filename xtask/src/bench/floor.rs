//! The floor of the `mnist50k` product: one streaming read of its input.
//!
//! `(50000, 784) @ (784, 10)` must read all of `x` (157 MB) from memory at least once, and
//! does only 10 multiply-adds per element read; no implementation can beat the time it takes
//! just to read `x` with every core. [`stream_read`] is that read: a sum of all elements, with
//! enough independent accumulators that the adds are never the bottleneck.

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
