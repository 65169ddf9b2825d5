//! The streaming kernel: what reaches the memory floor on the lesson's skinny product.
//!
//! For `(50000, 784) @ (784, 10)` the work is small next to the data: 10 multiply-adds per
//! element of `a`, which is read once. A GEMM is built for the opposite case — it packs both
//! operands into cache-sized panels and runs a register tile of, say, 16 × 16 outputs — and
//! with `n = 10` its tiles are a third padding, and the copy of each block of `a` into its
//! packing buffer is a pass of its own, not overlapped with the arithmetic (see the
//! [crate page](crate)). This module does the simplest thing that is also the fastest: read
//! each row of `a` once, straight from memory, and produce all of its outputs before moving
//! on, with `b` resident in cache.
//!
//! Two kernels, chosen by the number of rows:
//!
//! - **many rows** (`rows_dot_columns`): `b`'s columns are
//!   packed once into `bᵀ` (10 rows of `k`, 31 KB: L1-sized). Each row of `a` is then dotted
//!   with the 10 packed columns, SIMD **across `k`**: 16 consecutive elements of the row meet
//!   16 consecutive elements of each column, into 10 accumulator registers, reduced at the end
//!   of the row. No lane is wasted on padding (unlike SIMD across the 10 outputs, which fills
//!   10 of 16 lanes), two rows share each load of `bᵀ`, and software prefetch into L2 keeps
//!   the next rows coming. The rows are handed to the cores (`std::thread::scope`) in blocks
//!   of 1024, each thread taking the next block when it is done with one.
//! - **few rows** (`rows_times_b`): packing `bᵀ` costs more than the
//!   whole five-image product, so `b` is read in place: row `p` of `b` (10 floats, one masked
//!   load) is scaled by `a[i, p]` and added to row `i` of `c`, for up to 8 rows at a time — the
//!   broadcasting stage's `i, k, j` loop in registers.
//!
//! Both kernels exist three times: AVX-512 intrinsics (module `avx512`, chosen at run time with
//! `is_x86_feature_detected!`), and the plain-Rust versions (module `portable`) compiled once with
//! AVX2 and FMA enabled and once for the baseline CPU. Nothing here needs
//! `-C target-cpu=native`.

use std::sync::OnceLock;

use ndarray::{Array2, ArrayView2};

#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;

/// Columns of `c` one pass of the many-rows kernel computes: the lesson's 10 classes. Two rows
/// × 10 columns = 20 accumulators, which fit AVX-512's 32 registers with room for the loads.
const COLUMNS_PER_PASS: usize = 10;

/// Rows from which packing `bᵀ` pays for itself (below, the few-rows kernel reads `b` in place).
const MANY_ROWS: usize = 64;

/// Rows per block handed to a thread: big enough that the prefetch running dry at a block's
/// end costs nothing measurable (8 rows of 1024), small enough to balance 2–16 threads.
const BLOCK_ROWS: usize = 1024;

/// Elements of `a` from which splitting the rows across threads pays for starting them
/// (2.6 million multiply-adds, about 60 µs at one 16-lane FMA per cycle: several times what
/// starting and joining a thread costs).
const PARALLEL_ELEMENTS: usize = 1 << 18;

/// The instruction set the kernels use on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F intrinsics: 16 lanes, masked loads, 32 registers.
    Avx512,
    /// The portable kernels compiled with AVX2 and FMA: 8 lanes.
    Avx2,
    /// The portable kernels for the baseline CPU (SSE2 on x86-64).
    Portable,
}

impl Isa {
    /// The best instruction set this CPU supports, detected once.
    ///
    /// Setting `MATMUL_STREAMING_ISA` to `avx2` or `portable` picks that one instead, to compare
    /// the kernels on one machine; it is read once, with the detection.
    ///
    /// # Panics
    ///
    /// When `MATMUL_STREAMING_ISA` names no instruction set, or one this CPU lacks.
    pub fn detect() -> Isa {
        static DETECTED: OnceLock<Isa> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            let best = Isa::best();
            let wanted = std::env::var("MATMUL_STREAMING_ISA").unwrap_or_default();
            if wanted.is_empty() {
                return best;
            }
            let isa = match wanted.as_str() {
                "avx512" => Isa::Avx512,
                "avx2" => Isa::Avx2,
                "portable" => Isa::Portable,
                _ => panic!(
                    "MATMUL_STREAMING_ISA: expected `avx512`, `avx2` or `portable`, found `{wanted}`"
                ),
            };
            let on_this_cpu = match isa {
                Isa::Avx512 => best == Isa::Avx512,
                Isa::Avx2 => best != Isa::Portable,
                Isa::Portable => true,
            };
            assert!(
                on_this_cpu,
                "MATMUL_STREAMING_ISA: expected an instruction set this CPU has (at most {best:?}), found {isa:?}"
            );
            isa
        })
    }

    /// The best instruction set this CPU supports.
    fn best() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }
}

/// `a @ b` by streaming the rows of `a` once, with `b` held in cache: fastest when `b` is
/// narrow (the lesson's `n = 10`); correct for every shape.
///
/// `a: (m, k)`, `b: (k, n)`, any strides (a non-row-major `a` or `b` is copied to row-major
/// first); returns `(m, n)`. Uses every core when `a` is large.
///
/// # Panics
///
/// When `a.ncols() != b.nrows()`, naming both shapes.
///
/// ```
/// use matmul_data::{synthetic, test_near};
///
/// let images = synthetic::mnist_like(1000, 1);
/// let weights = synthetic::weights(784, 10, 2);
/// let c = matmul_blas::streaming::matmul(images.view(), weights.view());
/// test_near(&c, &images.dot(&weights));
/// ```
pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let (m, k, n) = matmul_data::assert_inner_dims(a.dim(), b.dim());
    let mut c = Array2::zeros((m, n));
    if m == 0 || n == 0 || k == 0 {
        return c; // a sum of nothing is zero
    }
    let a = a.as_standard_layout();
    let a = a.as_slice().expect("a standard-layout array is contiguous");
    let out = c.as_slice_mut().expect("a new array is contiguous");
    if m < MANY_ROWS {
        few_rows(a, k, b, out, n);
    } else {
        many_rows(a, k, b, out, n);
    }
    c
}

/// The few-rows path: `b` read in place, 16 columns per pass.
fn few_rows(a: &[f32], k: usize, b: ArrayView2<'_, f32>, c: &mut [f32], n: usize) {
    let b = b.as_standard_layout();
    let b = b.as_slice().expect("a standard-layout array is contiguous");
    for j0 in (0..n).step_by(16) {
        let nc = (n - j0).min(16);
        let (b, c) = (&b[j0..], &mut c[j0..]);
        match Isa::detect() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::detect` saw AVX-512F on this CPU.
            Isa::Avx512 => unsafe { avx512::rows_times_b(a, k, b, n, nc, c, n) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::detect` saw AVX2 and FMA on this CPU.
            Isa::Avx2 => unsafe { avx2::rows_times_b(a, k, b, n, nc, c, n) },
            _ => portable::rows_times_b(a, k, b, n, nc, c, n),
        }
    }
}

/// The many-rows path: pack `bᵀ` once, then stream the rows of `a`, split across threads.
fn many_rows(a: &[f32], k: usize, b: ArrayView2<'_, f32>, c: &mut [f32], n: usize) {
    // Each pass's columns, transposed and zero-padded to a whole number of 16-lane chunks (so
    // the kernels never read a partial chunk of `bᵀ`) and to COLUMNS_PER_PASS columns.
    let kp = k.div_ceil(16) * 16;
    let passes = n.div_ceil(COLUMNS_PER_PASS);
    let mut bt = vec![0.0f32; passes * COLUMNS_PER_PASS * kp];
    for (j, column) in b.columns().into_iter().enumerate() {
        for (packed, &value) in bt[j * kp..][..k].iter_mut().zip(column) {
            *packed = value;
        }
    }

    let threads = if a.len() >= PARALLEL_ELEMENTS {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        1
    };
    let bt = &bt;
    let work = move |a: &[f32], c: &mut [f32]| {
        for pass in 0..passes {
            let j0 = pass * COLUMNS_PER_PASS;
            let nc = (n - j0).min(COLUMNS_PER_PASS);
            let bt = &bt[j0 * kp..][..COLUMNS_PER_PASS * kp];
            let c = &mut c[j0..];
            match Isa::detect() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Isa::detect` saw AVX-512F on this CPU.
                Isa::Avx512 => unsafe { avx512::rows_dot_columns(a, k, bt, kp, nc, c, n) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Isa::detect` saw AVX2 and FMA on this CPU.
                Isa::Avx2 => unsafe { avx2::rows_dot_columns(a, k, bt, kp, nc, c, n) },
                _ => portable::rows_dot_columns(a, k, bt, kp, nc, c, n),
            }
        }
    };
    if threads == 1 {
        work(a, c);
        return;
    }
    // The rows in blocks that the threads take in turn: a thread slowed down by anything else
    // on the machine takes fewer blocks instead of holding up the others at the end.
    let blocks = std::sync::Mutex::new(a.chunks(BLOCK_ROWS * k).zip(c.chunks_mut(BLOCK_ROWS * n)));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    // Poisoning needs a panic inside `next`, which slices do not do.
                    let block = blocks.lock().expect("no panic while taking a block").next();
                    let Some((a, c)) = block else { break };
                    work(a, c);
                }
            });
        }
    });
}

/// The portable kernels compiled with AVX2 and FMA enabled.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::portable;

    /// [`portable::rows_dot_columns`] with AVX2 and FMA.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn rows_dot_columns(
        a: &[f32],
        k: usize,
        bt: &[f32],
        kp: usize,
        nc: usize,
        c: &mut [f32],
        ldc: usize,
    ) {
        portable::rows_dot_columns(a, k, bt, kp, nc, c, ldc);
    }

    /// [`portable::rows_times_b`] with AVX2 and FMA.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn rows_times_b(
        a: &[f32],
        k: usize,
        b: &[f32],
        ldb: usize,
        nc: usize,
        c: &mut [f32],
        ldc: usize,
    ) {
        portable::rows_times_b(a, k, b, ldb, nc, c, ldc);
    }
}

/// Runs both kernels on the instruction sets this CPU has, for the tests: every path must give
/// the same answer, whichever one `matmul` picks here.
#[cfg(test)]
mod tests {
    use super::*;
    use matmul_data::{reference_matmul, relative_error, synthetic};

    fn each_isa() -> Vec<Isa> {
        let mut isas = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                isas.push(Isa::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                isas.push(Isa::Avx512);
            }
        }
        isas
    }

    /// Runs the kernel of `isa` the way `few_rows`/`many_rows` would, on one pass.
    fn run(isa: Isa, many: bool, m: usize, k: usize, n: usize) -> f64 {
        let a = synthetic::uniform(m, k, 1);
        let b = synthetic::uniform(k, n, 2);
        let exact = reference_matmul(a.view(), b.view());
        let a_slice = a.as_slice().unwrap();
        let mut c = vec![0.0f32; m * n];
        if many {
            let kp = k.div_ceil(16) * 16;
            let mut bt = vec![0.0f32; COLUMNS_PER_PASS * kp];
            for j in 0..n {
                for p in 0..k {
                    bt[j * kp + p] = b[[p, j]];
                }
            }
            match isa {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: only ISAs this CPU has are listed by `each_isa`.
                Isa::Avx512 => unsafe {
                    avx512::rows_dot_columns(a_slice, k, &bt, kp, n, &mut c, n)
                },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above.
                Isa::Avx2 => unsafe { avx2::rows_dot_columns(a_slice, k, &bt, kp, n, &mut c, n) },
                _ => portable::rows_dot_columns(a_slice, k, &bt, kp, n, &mut c, n),
            }
        } else {
            let b_slice = b.as_slice().unwrap();
            match isa {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: only ISAs this CPU has are listed by `each_isa`.
                Isa::Avx512 => unsafe {
                    avx512::rows_times_b(a_slice, k, b_slice, n, n, &mut c, n)
                },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above.
                Isa::Avx2 => unsafe { avx2::rows_times_b(a_slice, k, b_slice, n, n, &mut c, n) },
                _ => portable::rows_times_b(a_slice, k, b_slice, n, n, &mut c, n),
            }
        }
        let c = Array2::from_shape_vec((m, n), c).unwrap();
        relative_error(&c, &exact)
    }

    #[test]
    fn every_kernel_on_every_isa_agrees_with_float64() {
        for isa in each_isa() {
            for &(m, k, n) in &[
                (1, 1, 1),
                (5, 784, 10),
                (7, 17, 3),
                (9, 33, 16),
                (67, 100, 10),
                (3, 15, 7),
            ] {
                for many in [false, true] {
                    if many && n > COLUMNS_PER_PASS {
                        continue;
                    }
                    let error = run(isa, many, m, k, n);
                    assert!(
                        error < 1e-5,
                        "{isa:?} many={many} ({m}, {k}) @ ({k}, {n}): {error:e}"
                    );
                }
            }
        }
    }

    #[test]
    fn threads_and_passes_cover_every_row_and_column() {
        // Large enough to be split across threads, three blocks of rows (the last one short
        // and odd), a k that 16 does not divide, two passes of columns.
        let a = synthetic::uniform(2 * BLOCK_ROWS + 301, 121, 3);
        assert!(a.len() >= PARALLEL_ELEMENTS);
        let b = synthetic::uniform(121, 13, 4);
        let c = matmul(a.view(), b.view());
        let error = relative_error(&c, &reference_matmul(a.view(), b.view()));
        assert!(error < 1e-5, "{error:e}");
    }
}
