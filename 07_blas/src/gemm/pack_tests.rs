//! The packed order, element by element, on small matrices in several layouts.

use super::pack::{pack_a, pack_b};

use ndarray::array;

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
