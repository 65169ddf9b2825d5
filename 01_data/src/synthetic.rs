//! Deterministic stand-in data with the shapes and statistics of the lesson's.
//!
//! Tests must not need the network, and the bench must run offline, so this module makes
//! arrays that look like MNIST to a matmul: 784 pixels a row, about 80% of them exactly zero
//! (the background), the rest spread over `[0, 1)`; and weights drawn from a standard normal
//! distribution, like the lesson's `torch.randn(784, 10)`.
//!
//! The generator is SplitMix64: tiny, fast, and — unlike a dependency whose streams may change
//! between versions — guaranteed to give the same arrays for the same seed forever.

use ndarray::Array2;

/// Pixels per MNIST image (28 × 28).
pub const PIXELS: usize = 784;
/// Classes in MNIST (the digits 0–9): the number of outputs of the lesson's linear layer.
pub const CLASSES: usize = 10;
/// Fraction of MNIST pixels that are exactly zero, rounded (the real training set: 80.9%).
pub const ZERO_FRACTION: f64 = 0.8;

/// A SplitMix64 pseudo-random generator (Steele, Lea & Flood, 2014).
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform sample from `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal sample (Box–Muller; one of the pair is discarded for simplicity).
    pub fn next_normal(&mut self) -> f64 {
        // 1 - u lies in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// `rows` MNIST-like images of 784 pixels: shape `(rows, 784)`, about 80% zeros, the rest
/// uniform in `[0, 1)`.
///
/// ```
/// let images = matmul_data::synthetic::mnist_like(100, 7);
/// assert_eq!(images.dim(), (100, 784));
/// let zeros = images.iter().filter(|&&x| x == 0.0).count() as f64 / images.len() as f64;
/// assert!((zeros - 0.8).abs() < 0.02);
/// ```
pub fn mnist_like(rows: usize, seed: u64) -> Array2<f32> {
    sparse_uniform(rows, PIXELS, seed)
}

/// A `(rows, cols)` array with MNIST's density: each element is zero with probability 0.8,
/// otherwise uniform in `[0, 1)`.
pub fn sparse_uniform(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut rng = SplitMix64::new(seed);
    Array2::from_shape_simple_fn((rows, cols), || {
        if rng.next_f64() < ZERO_FRACTION {
            0.0
        } else {
            rng.next_f64() as f32
        }
    })
}

/// A `(rows, cols)` array of standard normal samples, like `torch.randn(rows, cols)`.
///
/// ```
/// let weights = matmul_data::synthetic::weights(784, 10, 1);
/// let mean = weights.mean().unwrap();
/// assert!(mean.abs() < 0.1);
/// ```
pub fn weights(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut rng = SplitMix64::new(seed);
    Array2::from_shape_simple_fn((rows, cols), || rng.next_normal() as f32)
}

/// A `(rows, cols)` array uniform in `[-1, 1)`: dense data with cancellation, for tests.
pub fn uniform(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut rng = SplitMix64::new(seed);
    Array2::from_shape_simple_fn((rows, cols), || (2.0 * rng.next_f64() - 1.0) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        assert_eq!(weights(3, 4, 9), weights(3, 4, 9));
        assert_ne!(weights(3, 4, 9), weights(3, 4, 10));
    }

    #[test]
    fn normal_samples_have_unit_variance() {
        let w = weights(1000, 100, 3);
        let var = w.mapv(|x| f64::from(x * x)).mean().unwrap();
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn mnist_like_values_are_pixels() {
        let x = mnist_like(50, 1);
        assert!(x.iter().all(|&v| (0.0..1.0).contains(&v)));
    }
}
