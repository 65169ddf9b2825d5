//! The packed order, element by element, on small matrices in several layouts.

use super::kernel::MicroKernel;
use super::pack::pack_b_into;
use super::portable::Portable;

use ndarray::{Array2, ArrayView2, array, s};

/// `block` of `B` packed into slivers of `nr` columns, in a buffer of NaN: every element
/// left unwritten shows.
fn pack_b(block: ArrayView2<'_, f32>, nr: usize) -> Vec<f32> {
    let mut out = vec![f32::NAN; block.ncols().div_ceil(nr) * nr * block.nrows()];
    pack_b_into(block, nr, &mut out);
    out
}

/// `block` of `A` packed into slivers of `mr` rows: [`pack_b`] of its transpose.
fn pack_a(block: ArrayView2<'_, f32>, mr: usize) -> Vec<f32> {
    pack_b(block.t(), mr)
}

#[test]
fn a_is_packed_column_by_column_in_slivers_with_zero_rows_at_the_end() {
    let a = array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
    assert_eq!(
        pack_a(a.view(), 2),
        [1.0, 3.0, 2.0, 4.0, 5.0, 0.0, 6.0, 0.0]
    );
    // (2, 3): strides swapped
    assert_eq!(pack_a(a.t(), 2), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn b_is_packed_row_by_row_in_slivers_with_zero_columns_at_the_end() {
    let b = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
    assert_eq!(
        pack_b(b.view(), 2),
        [1.0, 2.0, 4.0, 5.0, 3.0, 0.0, 6.0, 0.0]
    );
    let reversed = b.slice(s![..;-1, ..;-1]);
    assert_eq!(pack_b(reversed, 3), [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]);
}

/// Each kernel's own packing of `A` against [`pack_a`], element by element, into a buffer of
/// NaN: blocks with rows of adjacent elements (which the x86 kernels copy a few steps at a
/// time, transposed in registers) one off their sliver heights and step counts, sliced from a
/// wider array, with rows in reverse or every other one, and a transposed block.
#[test]
fn every_kernel_packs_a_as_pack_a_does() {
    fn check<K: MicroKernel>() {
        if !K::supported() {
            return;
        }
        let wide = Array2::from_shape_fn((96, 96), |(i, p)| (i * 96 + p) as f32);
        let transposed = wide.t();
        for rows in [1, K::MR - 1, K::MR, K::MR + 1, 2 * K::MR, 3 * K::MR + 2] {
            for depth in [1, 7, 8, 9, 15, 16, 17, 24, 32, 33, 48, 49, 64, 79] {
                let blocks = [
                    wide.slice(s![1..1 + rows, 1..1 + depth]),
                    wide.slice(s![1..1 + rows;-1, ..depth]),
                    wide.slice(s![..2 * rows;2, 3..3 + depth]),
                    transposed.slice(s![..rows, ..depth]),
                ];
                for block in blocks {
                    let expected = pack_a(block, K::MR);
                    let mut packed = vec![f32::NAN; expected.len()];
                    // SAFETY: `supported()` held.
                    unsafe { K::pack_a(block, &mut packed) };
                    let case = format!("{rows} × {depth}, strides {:?}", block.strides());
                    assert_eq!(packed, expected, "{case}, MR = {}", K::MR);
                }
            }
        }
    }
    check::<Portable>();
    #[cfg(target_arch = "x86_64")]
    {
        check::<super::avx2::Avx2>();
        check::<super::avx512::Avx512>();
    }
    #[cfg(target_arch = "aarch64")]
    check::<super::neon::Neon>();
}
