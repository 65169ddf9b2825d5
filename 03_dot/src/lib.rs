//! # Step 3 — the dot product
//!
//! The innermost loop of step 2 computes one number: the dot product of row `i` of `a` and
//! column `j` of `b`. The lesson lifts it into a function and compiles it with numba, which
//! takes the five-image product out of the interpreter (the `numba dot` row of a run with
//! `--python`, against `python loops`). Ours:
//!
//! ```
//! use ndarray::{Array2, ArrayView2};
//! use matmul_dot::dot;
//!
//! fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
//!     let (m, _, n) = matmul_data::assert_inner_dims(a.dim(), b.dim());
//!     let mut c = Array2::zeros((m, n));
//!     for i in 0..m {
//!         for j in 0..n {
//!             c[[i, j]] = dot(a.row(i), b.column(j));
//!         }
//!     }
//!     c
//! }
//!
//! use matmul_dot::data::{synthetic, test_near};
//!
//! let (m1, m2) = (synthetic::mnist_like(5, 0), synthetic::weights(784, 10, 1));
//! let t1 = matmul_dot::naive::matmul(m1.view(), m2.view()); // step 2's answer
//! test_near(&matmul(m1.view(), m2.view()), &t1);
//! ```
//!
//! Rust was compiled all along, so this step is not about leaving an interpreter. What changes
//! for the compiler and the memory system:
//!
//! - **No bounds checks in the inner loop.** [`dot`] walks both vectors with iterators, which
//!   know where they end; the `k` index checks of `a[[i, p]]` and `b[[p, j]]` are gone, and so
//!   is the read-modify-write of `c[[i, j]]`: the running sum lives in a register and is
//!   stored once. The checks were never the main cost, though (the lesson's CPU-simulated CUDA
//!   kernel, step 8's `grid-cpu`, keeps every one of them): a well-predicted branch is nearly
//!   free, a strided walk is not.
//! - **The column of `b` is still strided.** Memory reaches the core through caches — small,
//!   fast copies of recently used memory: L1 (tens of KiB, a few cycles away), L2, L3 — in
//!   *cache lines* of 64 bytes. `b.column(j)` steps `b.stride(0)` elements at a
//!   time. For the lesson's `(784, 10)` weights that is 40 bytes — a new 64-byte cache line
//!   every one or two products — and for a wide `b` every product misses a line. The hardware
//!   prefetcher can follow a constant stride, but each line brings 16 floats of which we use one.
//! - **One accumulator means no SIMD.** `sum += x * y` is a chain of dependent additions, and
//!   because floating-point addition is not associative the compiler must keep that order: one
//!   product every 3–4 cycles (the latency of an add), whatever the vector width.
//!
//! ## What a contiguous copy buys: [`matmul_contiguous`]
//!
//! Transposing `b` once — `O(k · n)` work, paid back over `m` rows — makes every column of `b`
//! a contiguous row of `bᵀ`. Both operands of every dot product are then plain slices, read one
//! cache line at a time, all 16 floats used. With slices we can also choose the summation
//! order: [`dot_slices`] keeps [`LANES`] independent partial sums, which the compiler maps onto
//! SIMD registers — several multiply-adds per cycle instead of one every few. The result
//! differs from the naive loop only by rounding (a different order of additions), which is
//! exactly what [`test_near`](matmul_data::test_near) allows:
//!
//! ```
//! use matmul_dot::data::{synthetic, test_near};
//!
//! let (m1, m2) = (synthetic::mnist_like(5, 0), synthetic::weights(784, 10, 1));
//! let t1 = matmul_dot::naive::matmul(m1.view(), m2.view()); // step 2's answer
//! test_near(&matmul_dot::matmul_contiguous(m1.view(), m2.view()), &t1);
//! ```
//!
//! ## Measured
//!
//! The block below has both forms: the dot product over a strided column (`dot`), and over
//! contiguous operands with independent partial sums (`dot-contiguous`); the gap between them
//! is what the strided walk and the single accumulator cost. The next three steps are the
//! lesson's next ideas, not promises of speed: each of their blocks puts the fastest earlier
//! stage beside its own, and the "fastest so far" line under each table keeps count.
//!
//! Time this step alone: `cargo xtask bench --quick --stage dot` (the naive loop
//! is always timed too, as the baseline of the speedups).
//!
#![doc = include_str!("../measured.md")]
//!
//! Next: [`matmul_elementwise`](../matmul_elementwise/index.html) — the same row-times-column idea
//! written with whole-array arithmetic. Previous: [`matmul_naive`](../matmul_naive/index.html).

use ndarray::{Array2, ArrayView1, ArrayView2};

use matmul_data::Processor;
pub use matmul_data::Stage;
pub use matmul_naive as naive;
// Every earlier step, one segment away: `matmul_dot::data::test_near`.
pub use matmul_naive::data;

/// The number of independent partial sums [`dot_slices`] keeps: 16 `f32`s, enough to hide the
/// latency of the additions. Nothing in this step asks for AVX, so on x86-64 the compiler uses
/// the baseline's SSE2 (four registers of four lanes), and NEON's four registers on ARM64.
pub const LANES: usize = 16;

/// The dot product `Σ x[p] · y[p]` of two vectors with any strides, summed in order.
///
/// # Panics
///
/// When the lengths differ.
///
/// ```
/// use ndarray::array;
///
/// let a = array![[1.0, 2.0], [3.0, 4.0]];
/// assert_eq!(matmul_dot::dot(a.row(0), a.column(1)), 1.0 * 2.0 + 2.0 * 4.0);
/// ```
pub fn dot(x: ArrayView1<'_, f32>, y: ArrayView1<'_, f32>) -> f32 {
    assert_eq!(
        x.len(),
        y.len(),
        "dot: vectors of lengths {} and {}",
        x.len(),
        y.len()
    );
    let mut sum = 0.0;
    for (&x_p, &y_p) in x.iter().zip(y) {
        sum += x_p * y_p;
    }
    sum
}

/// The dot product of two slices with [`LANES`] independent partial sums, so that the
/// compiler can use SIMD; the partial sums are added at the end.
///
/// # Panics
///
/// When the lengths differ.
///
/// ```
/// let x: Vec<f32> = (0..100).map(|i| i as f32).collect();
/// let y = vec![2.0_f32; 100];
/// assert_eq!(matmul_dot::dot_slices(&x, &y), 9900.0);
/// ```
pub fn dot_slices(x: &[f32], y: &[f32]) -> f32 {
    assert_eq!(
        x.len(),
        y.len(),
        "dot_slices: slices of lengths {} and {}",
        x.len(),
        y.len()
    );
    let (x_chunks, x_tail) = x.as_chunks::<LANES>();
    let (y_chunks, y_tail) = y.as_chunks::<LANES>();
    let mut partial = [0.0_f32; LANES];
    for (x_chunk, y_chunk) in x_chunks.iter().zip(y_chunks) {
        for lane in 0..LANES {
            partial[lane] += x_chunk[lane] * y_chunk[lane];
        }
    }
    let tail: f32 = x_tail.iter().zip(y_tail).map(|(x, y)| x * y).sum();
    partial.iter().sum::<f32>() + tail
}

/// `a @ b` with the innermost loop as [`dot`]`(row i of a, column j of b)`.
///
/// Any strides; returns `(m, n)`.
///
/// # Panics
///
/// When `a.ncols() != b.nrows()`, naming both shapes.
///
/// ```
/// use ndarray::array;
///
/// let a = array![[1.0, 2.0], [3.0, 4.0]];
/// let b = array![[5.0, 6.0], [7.0, 8.0]];
/// assert_eq!(matmul_dot::matmul(a.view(), b.view()), array![[19.0, 22.0], [43.0, 50.0]]);
/// ```
pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let (m, _, n) = matmul_data::assert_inner_dims(a.dim(), b.dim());
    let mut c = Array2::zeros((m, n));
    for i in 0..m {
        for j in 0..n {
            c[[i, j]] = dot(a.row(i), b.column(j));
        }
    }
    c
}

/// `a @ b` as dot products of contiguous slices: `a` in row-major order and `b` transposed
/// once so that its columns are contiguous, then [`dot_slices`] for every output.
///
/// Copies `a` only if its rows are not already contiguous, and `b` unless it is already
/// column-major (a transposed view of a row-major array costs nothing). Returns `(m, n)`.
///
/// # Panics
///
/// When `a.ncols() != b.nrows()`, naming both shapes.
///
/// ```
/// use ndarray::array;
///
/// let a = array![[1.0, 2.0], [3.0, 4.0]];
/// let b = array![[5.0, 6.0], [7.0, 8.0]];
/// let c = matmul_dot::matmul_contiguous(a.view(), b.view());
/// assert_eq!(c, array![[19.0, 22.0], [43.0, 50.0]]);
/// ```
pub fn matmul_contiguous(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let (m, _, n) = matmul_data::assert_inner_dims(a.dim(), b.dim());
    let a = a.as_standard_layout();
    let b_transposed = b.reversed_axes(); // a view: (n, k), no copy yet
    let b_transposed = b_transposed.as_standard_layout(); // copies unless b was column-major
    let mut c = Array2::zeros((m, n));
    for (a_row, mut c_row) in a.rows().into_iter().zip(c.rows_mut()) {
        let a_row = a_row
            .to_slice()
            .expect("standard layout rows are contiguous");
        for (b_column, c_ij) in b_transposed.rows().into_iter().zip(c_row.iter_mut()) {
            let b_column = b_column
                .to_slice()
                .expect("standard layout rows are contiguous");
            *c_ij = dot_slices(a_row, b_column);
        }
    }
    c
}

/// The stages so far, in reading order: step 2's, then the strided and the contiguous dot
/// product.
pub fn stages() -> Vec<Stage> {
    let mut stages = naive::stages();
    stages.push(Stage {
        name: "dot",
        summary: "innermost loop as dot(row of a, column of b): no bounds checks, strided column",
        matmul,
        runs_on: Processor::Cpu,
        defined_in: matmul_data::this_crate!(),
        runs_as: None,
    });
    stages.push(Stage {
        name: "dot-contiguous",
        summary: "b transposed once so both operands are slices; 16 partial sums for SIMD",
        matmul: matmul_contiguous,
        runs_on: Processor::Cpu,
        defined_in: matmul_data::this_crate!(),
        runs_as: None,
    });
    stages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_slices_handles_every_tail_length() {
        for len in 0..(3 * LANES + 2) {
            let x: Vec<f32> = (0..len).map(|i| (i % 7) as f32 - 3.0).collect();
            let y: Vec<f32> = (0..len).map(|i| (i % 5) as f32 + 0.5).collect();
            let expected: f32 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
            // Small integers and halves: every partial sum is exact, so the order can't matter.
            assert_eq!(dot_slices(&x, &y), expected, "length {len}");
        }
    }

    #[test]
    #[should_panic(expected = "lengths 3 and 2")]
    fn dot_rejects_different_lengths() {
        dot(
            ndarray::aview1(&[1.0, 2.0, 3.0]),
            ndarray::aview1(&[1.0, 2.0]),
        );
    }
}
