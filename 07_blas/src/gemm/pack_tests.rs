//! The packed order, element by element, on small matrices in several layouts.

use super::pack::{floats_to_line, line_aligned, pack_a, pack_b};

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

#[test]
fn packed_space_starts_on_a_cache_line() {
    assert_eq!(floats_to_line(0x1000), 0);
    assert_eq!(floats_to_line(0x1004), 15);
    assert_eq!(floats_to_line(0x1010), 12); // the allocator's usual 16 bytes past a line
    assert_eq!(floats_to_line(0x103c), 1);
    assert_eq!(floats_to_line(0x1040), 0);
    for len in [0, 1, 16, 17, 1000] {
        // A buffer that is empty, too short, or long enough already.
        for mut buffer in [Vec::new(), vec![1.0f32; 3], vec![1.0f32; 2000]] {
            let space = line_aligned(&mut buffer, len);
            assert_eq!(space.len(), len);
            assert_eq!(space.as_ptr().addr() % 64, 0, "{len} floats");
        }
    }
}
