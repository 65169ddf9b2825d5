//! The `gemm-kernel` stage's driver: the micro-kernel run over the matrices as they are.
//!
//! `C` is cut into `MR × NR` tiles, and each whole tile is one call of the kernel, reading `a`
//! through its strides and the rows of `b` in place (so `b` must have contiguous rows: it is
//! copied to row-major when it does not). The strips at the bottom and the right that do not
//! fill a tile are summed by plain loops. Nothing is copied into cache-friendly order and
//! nothing is blocked: each tile walks the whole of `k` through `a` and `b`.

use ndarray::{Array2, ArrayView2};

use super::kernel::{MicroKernel, Store, Strided, TileOfC};

/// `c = a @ b` for `c` a zeroed, row-major contiguous `(m, n)` array (the whole tiles are
/// written, the strips past them added to the zeros).
pub(crate) fn run<K: MicroKernel>(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: &mut Array2<f32>,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    let b = b.as_standard_layout(); // vector loads need each row of `b` contiguous
    let (tiled_m, tiled_n) = (m / K::MR * K::MR, n / K::NR * K::NR);
    let (a_row, a_column) = (a.strides()[0], a.strides()[1]);
    let c_slice = c.as_slice_mut().expect("c is a fresh row-major array");
    for i0 in (0..tiled_m).step_by(K::MR) {
        for j0 in (0..tiled_n).step_by(K::NR) {
            let tile = &mut c_slice[i0 * n + j0..][..(K::MR - 1) * n + K::NR];
            // SAFETY: `K::supported()` was checked by the caller. Row `i0 + i < m` and column
            // `p < k` of `a`, and row `p` / columns `j0 .. j0 + NR <= n` of the row-major `b`,
            // are inside the views the pointers come from; `tile` is a slice covering the
            // `MR` rows of `NR` elements, `n` apart.
            unsafe {
                let a = Strided {
                    ptr: a.as_ptr().offset(i0 as isize * a_row),
                    stride_i: a_row,
                    stride_p: a_column,
                };
                let b = Strided {
                    ptr: b.as_ptr().add(j0),
                    stride_i: 1,
                    stride_p: n as isize,
                };
                // Cold: this stage reads nothing in place for cache's sake, and the kernels
                // that prefetch always do here (they did before they could tell).
                K::tile(k, a, b, tile.as_mut_ptr(), n, Store::Write, TileOfC::Cold);
            }
        }
    }
    // The right-hand strip (columns past the last whole tile) and the bottom strip.
    let edge = |i: usize, j: usize| (0..k).map(|p| a[[i, p]] * b[[p, j]]).sum::<f32>();
    for i in 0..m {
        let columns = if i < tiled_m { tiled_n..n } else { 0..n };
        for j in columns {
            c[[i, j]] += edge(i, j);
        }
    }
}
