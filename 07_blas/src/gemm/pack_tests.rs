//! The packed order, element by element, on small matrices in several layouts.

use super::kernel::MicroKernel;
use super::pack::{pack_a, pack_b};
use super::portable::Portable;

use ndarray::{Array2, array};

#[test]
fn a_is_packed_column_by_column_in_slivers_with_zero_rows_at_the_end() {
    let a = array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
    let mut out = vec![9.0; 3];
    pack_a(a.view(), 2, &mut out);
    assert_eq!(out, [1.0, 3.0, 2.0, 4.0, 5.0, 0.0, 6.0, 0.0]);
    pack_a(a.t(), 2, &mut out); // (2, 3): strides swapped
    assert_eq!(out, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn b_is_packed_row_by_row_in_slivers_with_zero_columns_at_the_end() {
    let b = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
    let mut out = Vec::new();
    pack_b(b.view(), 2, &mut out);
    assert_eq!(out, [1.0, 2.0, 4.0, 5.0, 3.0, 0.0, 6.0, 0.0]);
    pack_b(b.slice(ndarray::s![..;-1, ..;-1]), 3, &mut out);
    assert_eq!(out, [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]);
}

/// Each kernel's own packing of `A` against [`pack_a`], element by element: row-major blocks
/// (which the x86 kernels copy a few steps at a time, transposed in registers) one off their
/// sliver heights and step counts, sliced from a wider array, and other layouts.
#[test]
fn every_kernel_packs_a_as_pack_a_does() {
    fn check<K: MicroKernel>() {
        if !K::supported() {
            return;
        }
        let wide = Array2::from_shape_fn((96, 96), |(i, p)| (i * 96 + p) as f32);
        for rows in [1, K::MR - 1, K::MR, K::MR + 1, 2 * K::MR, 3 * K::MR + 2] {
            for depth in [1, 7, 8, 9, 15, 16, 17, 24, 32, 33, 48, 49, 64, 79] {
                let row_major = wide.slice(ndarray::s![1..1 + rows, 1..1 + depth]);
                let transposed = wide.t();
                let transposed = transposed.slice(ndarray::s![..rows, ..depth]);
                for block in [row_major, transposed] {
                    let (mut expected, mut packed) = (Vec::new(), vec![-1.0; 7]);
                    pack_a(block, K::MR, &mut expected);
                    // SAFETY: `supported()` held.
                    unsafe { K::pack_a(block, &mut packed) };
                    assert_eq!(packed, expected, "{rows} × {depth}, MR = {}", K::MR);
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
