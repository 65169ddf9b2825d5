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
//! Rows (columns) past the end of the block are zeros, so that every sliver has the same length.
//! The kernel reads the `NR` elements of a step of `B` in whole vectors, zeros included; those
//! columns land in the part of a tile the driver throws away (each `c[i, j]` depends on row `i` of
//! `a` and column `j` of `b` alone). A short sliver of `A` runs the kernel for its height
//! (`tile_rows`), which reads none of its zero rows. The copy reads whatever strides the views have
//! — transposed, stepped, reversed — which is why no later code cares.

use ndarray::ArrayView2;

/// Packs `block` (depth × columns) into `out` as slivers of `nr` columns, each `depth × nr`,
/// step-major, zero-padded to a whole sliver: `out` must hold exactly the whole slivers, and
/// every element of it is written, the padding with zeros. A block of `A` (rows × depth) is
/// packed into slivers of `mr` rows as its transpose: `pack_b_into(block.t(), mr, out)`.
// Inlined into each kernel's driver, where `mr` or `nr` is the kernel's constant, and into
// each kernel's `MicroKernel::pack_b`, compiled with its instruction set: a step of a
// row-major `B` is then copied by a few moves of the widest vectors, not a call of `memcpy`.
#[inline(always)]
pub(crate) fn pack_b_into(block: ArrayView2<'_, f32>, nr: usize, out: &mut [f32]) {
    pack_b_into_with(block, nr, out, |values, step| {
        step[..values.len()].copy_from_slice(values);
        step[values.len()..].fill(0.0);
    });
}

/// [`pack_b_into`], with each step of a partial sliver of a row-major `B` written by
/// `partial(values, step)`: the step's `values` (fewer than `nr`), then zeros, into `step`
/// (`nr` long). The default copies and fills, two calls of a few floats each per step, which
/// made packing a partial sliver several times slower per step than the kernel's work on it;
/// a kernel with masked loads writes each step in a few whole vectors instead.
#[inline(always)]
pub(crate) fn pack_b_into_with(
    block: ArrayView2<'_, f32>,
    nr: usize,
    out: &mut [f32],
    partial: impl Fn(&[f32], &mut [f32]),
) {
    let (depth, columns) = block.dim();
    let sliver = nr * depth;
    assert_eq!(
        out.len(),
        columns.div_ceil(nr) * sliver,
        "packing space for whole slivers"
    );
    let (row_stride, column_stride) = (block.strides()[0], block.strides()[1]);
    let origin = block.as_ptr();
    if column_stride == 1 {
        // A row of a sliver is `width` adjacent elements (a row-major `B`): one copy. Row by
        // row across the slivers, so that the block is read in order, one whole row of it after
        // another, as the hardware prefetchers follow best; a sliver's own steps are a row of
        // `B` apart.
        for p in 0..depth {
            let row = origin.wrapping_offset(p as isize * row_stride);
            for (s, packed) in out.chunks_exact_mut(sliver).enumerate() {
                let first = s * nr;
                let width = nr.min(columns - first);
                // SAFETY: elements `(p, first .. first + width)` of the block, `p < depth` and
                // `first + width ≤ columns`, adjacent (`column_stride == 1`) in its array.
                let values = unsafe { std::slice::from_raw_parts(row.add(first), width) };
                let step = &mut packed[p * nr..][..nr];
                if width == nr {
                    step.copy_from_slice(values); // `nr` long: a constant, once inlined
                } else {
                    partial(values, step);
                }
            }
        }
        return;
    }
    // Any other strides: element by element, `column_stride` apart, a sliver at a time and in
    // it a step at a time. A column-major or transposed `B` comes here, and so does a
    // row-major `A`, packed through its transpose (on the kernels without a `pack_a` of their
    // own, and for the last steps of each sliver of those with one): each step's elements
    // are a row of `A` apart, but the sliver is written in order. Reading each row of `A`
    // straight through instead, scattering it over every step, wrote each line of the sliver
    // `nr` times, and a sliver of a long `k` leaves L1 between the visits.
    for (s, packed) in out.chunks_exact_mut(sliver).enumerate() {
        let first = s * nr;
        let width = nr.min(columns - first);
        for (p, step) in packed.chunks_exact_mut(nr).enumerate() {
            let (values, padding) = step.split_at_mut(width);
            let row = origin.wrapping_offset(p as isize * row_stride);
            for (j, value) in values.iter_mut().enumerate() {
                let offset = (first + j) as isize * column_stride;
                // SAFETY: element `(p, first + j)` of the block, `p < depth` and
                // `first + j < columns`, which the view's strides place inside its array
                // (`row`, element `(p, 0)`, may not be, hence `wrapping_offset` above).
                *value = unsafe { *row.offset(offset) };
            }
            padding.fill(0.0);
        }
    }
}

/// [`pack_b_into`] for a block of `A` (`pack_b_into(block.t(), mr, out)`), with the slivers of
/// a row-major block copied `STEPS` steps at a time by `transpose`.
///
/// In a row-major `A`, a step of a sliver (one element of each of its `mr` rows) is `mr`
/// elements a row apart, which [`pack_b_into`] gathers one by one. But the next `STEPS` steps
/// of each row are adjacent: one vector load per row, and a transpose in registers turns
/// `mr` rows of `STEPS` steps into `STEPS` steps of `mr` rows. `transpose(rows, lda, height,
/// steps)` reads `STEPS` floats from each of the `height ≤ mr` rows at `rows`, `lda` apart,
/// and writes the `STEPS` steps of `mr` floats each from `steps` on, rows past `height` as
/// zeros (the partial last sliver's padding), each step a whole vector of `STEPS` lanes whose
/// lanes past `mr` spill into the next step's place: so it writes `STEPS - mr` floats past its
/// last step (`mr ≤ STEPS ≤ 2 · mr`). It is called only where another step follows, which the
/// next call, or the copy of the last steps, writes afterwards.
///
/// Each sliver's last steps (fewer than `STEPS`, or exactly `STEPS`) and other layouts go
/// through [`pack_b_into`]. (The partial sliver went that way too, element by element, with a
/// fill of its padding for every step: for a block of 5 rows and 1024 steps, on the AMD Zen 4
/// this was measured on, that copy took longer than the AVX-512 kernel's work on it.)
///
/// # Safety
///
/// `transpose` does what is said above, and no more: it reads `height ≤ mr` rows and writes
/// `STEPS` steps of `mr` floats, with the spill.
#[cfg(target_arch = "x86_64")] // used by the AVX-512 and AVX2 kernels
#[inline(always)]
pub(crate) unsafe fn pack_a_into<const STEPS: usize>(
    block: ArrayView2<'_, f32>,
    mr: usize,
    out: &mut [f32],
    transpose: impl Fn(*const f32, isize, usize, *mut f32),
) {
    use ndarray::s;
    assert!(
        mr <= STEPS && STEPS <= 2 * mr,
        "a step's spill fits in the next step"
    );
    let (rows, depth) = block.dim();
    if block.strides()[1] != 1 {
        pack_b_into(block.t(), mr, out);
        return;
    }
    let sliver = mr * depth;
    assert_eq!(
        out.len(),
        rows.div_ceil(mr) * sliver,
        "packing space for whole slivers"
    );
    let lda = block.strides()[0];
    for (s, packed) in out.chunks_exact_mut(sliver).enumerate() {
        let top = s * mr;
        let height = mr.min(rows - top);
        let first = block.as_ptr().wrapping_offset(top as isize * lda);
        let mut p = 0;
        while p + STEPS < depth {
            // `STEPS` steps of the sliver's `height` rows (the block's rows `top ..`, `lda`
            // apart, `STEPS` adjacent elements each from column `p`, inside the block) into
            // `packed[p · mr ..]`, spilling into step `p + STEPS < depth`.
            let (from, to) = (first.wrapping_add(p), packed[p * mr..].as_mut_ptr());
            // A whole sliver's height written as the constant it is, so that its loads unroll.
            match height == mr {
                true => transpose(from, lda, mr, to),
                false => transpose(from, lda, height, to),
            }
            p += STEPS;
        }
        let rest = block.slice(s![top..top + height, p..]);
        pack_b_into(rest.t(), mr, &mut packed[p * mr..]);
    }
}
