//! Packing: copying a block of `A` or `B` into the order the micro-kernel reads it.
//!
//! The kernel's step `p` wants `MR` elements of a column of `A` and `NR` elements of a row of
//! `B`, and then the next step's. In the matrices those elements are `lda` or `ldb` apart, or
//! in any order a view's strides say; in a packed sliver they are adjacent, and the slivers
//! follow each other:
//!
//! ```text
//! A block (mc × kc) → slivers of MR rows:    [a(0,0) a(1,0) … a(MR-1,0)] [a(0,1) …] …
//! B block (kc × nc) → slivers of NR columns: [b(0,0) b(0,1) … b(0,NR-1)] [b(1,0) …] …
//! ```
//!
//! Rows (columns) past the end of the block are zeros: a sliver is always whole, so the kernel
//! never needs a shorter variant, and the padding only ever meets other padding or lands in the
//! part of a tile the driver throws away (each `c[i, j]` depends on row `i` of `a` and column
//! `j` of `b` alone). The copy reads whatever strides the views have — transposed, stepped,
//! reversed — which is why no later code cares.

use ndarray::{ArrayView2, Axis};

/// Packs `block` (rows × depth) into slivers of `mr` rows, each `mr × depth`, step-major,
/// zero-padded to a whole sliver. Reuses `out`'s allocation.
pub(crate) fn pack_a(block: ArrayView2<'_, f32>, mr: usize, out: &mut Vec<f32>) {
    let (rows, depth) = block.dim();
    out.clear();
    out.resize(rows.div_ceil(mr) * mr * depth, 0.0);
    let slivers = out.chunks_exact_mut(mr * depth);
    for (sliver, rows) in slivers.zip(block.axis_chunks_iter(Axis(0), mr)) {
        for (step, column) in sliver.chunks_exact_mut(mr).zip(rows.columns()) {
            for (packed, &value) in step.iter_mut().zip(column) {
                *packed = value;
            }
        }
    }
}

/// Packs `block` (depth × columns) into slivers of `nr` columns, each `depth × nr`,
/// step-major, zero-padded to a whole sliver. Reuses `out`'s allocation.
pub(crate) fn pack_b(block: ArrayView2<'_, f32>, nr: usize, out: &mut Vec<f32>) {
    let (depth, columns) = block.dim();
    out.clear();
    out.resize(columns.div_ceil(nr) * nr * depth, 0.0);
    let slivers = out.chunks_exact_mut(nr * depth);
    for (sliver, columns) in slivers.zip(block.axis_chunks_iter(Axis(1), nr)) {
        for (step, row) in sliver.chunks_exact_mut(nr).zip(columns.rows()) {
            for (packed, &value) in step.iter_mut().zip(row) {
                *packed = value;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
