//! The driver of the `gemm-packed`, `gemm-blocked` and `gemm` stages: blocking, packing and
//! threads, written once for every micro-kernel.
//!
//! `C` is split into one band of rows per thread (whole tiles each). For each `kc × nc` panel
//! of `B`, every thread packs its share of the panel's slivers, all wait until the whole panel
//! is packed, and each then runs its band against the shared panel: packing its own `mc × kc`
//! blocks of `A` and calling the micro-kernel on every pair of slivers. With one thread, or
//! [`Blocks::WHOLE`](super::Blocks::WHOLE), the same code is the plain packed product.

use std::sync::{Barrier, RwLock};

use ndarray::{ArrayView2, s};

use super::Blocks;
use super::kernel::{MicroKernel, Packed};
use super::pack::{pack_a, pack_b};

/// The largest `MR · NR` of any kernel: the size of the scratch tile for partial tiles.
const MAX_TILE: usize = 512;

/// `c += a @ b` for `c` the `(m, n)` row-major contiguous output, with `threads` threads.
///
/// The caller has checked `K::supported()` and that no dimension is zero.
pub(crate) fn run<K: MicroKernel>(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: &mut [f32],
    blocks: Blocks,
    threads: usize,
) {
    let (m, n) = (a.nrows(), b.ncols());
    let band = m.div_ceil(threads.max(1)).next_multiple_of(K::MR);
    let threads = m.div_ceil(band);
    // One piece of each panel of `B` per thread, each packed by its thread and read by all;
    // the locks order the packing before the reading, the barriers make every thread read the
    // panel of the same step.
    let panel: Vec<RwLock<Vec<f32>>> = (0..threads).map(|_| RwLock::default()).collect();
    let shared = Shared {
        a,
        b,
        blocks,
        panel: &panel,
        barrier: &Barrier::new(threads),
    };
    std::thread::scope(|scope| {
        let mut bands = c.chunks_mut(band * n).enumerate();
        let first = bands.next().expect("m > 0 gives one band");
        for (thread, rows) in bands {
            scope.spawn(move || shared.band::<K>(thread, thread * band, rows));
        }
        shared.band::<K>(first.0, 0, first.1);
    });
}

/// What every thread reads.
#[derive(Clone, Copy)]
struct Shared<'a> {
    a: ArrayView2<'a, f32>,
    b: ArrayView2<'a, f32>,
    blocks: Blocks,
    panel: &'a [RwLock<Vec<f32>>],
    barrier: &'a Barrier,
}

impl Shared<'_> {
    /// Computes the rows `row0 ..` of `C` that `c` holds, as thread `thread` of
    /// `self.panel.len()`.
    fn band<K: MicroKernel>(self, thread: usize, row0: usize, c: &mut [f32]) {
        let ((m, k), n) = (self.a.dim(), self.b.ncols());
        let rows = c.len() / n;
        let threads = self.panel.len();
        let Blocks { kc, mc, nc } = self.blocks;
        let mut a_block = Vec::new();
        for jc in (0..n).step_by(nc) {
            let columns = nc.min(n - jc);
            let slivers = columns.div_ceil(K::NR);
            let share = slivers.div_ceil(threads);
            let first = (thread * share * K::NR).min(columns);
            let last = ((thread + 1) * share * K::NR).min(columns);
            for pc in (0..k).step_by(kc) {
                let depth = kc.min(k - pc);
                {
                    let mut piece = self.panel[thread].write().expect("no panics while packing");
                    let block = self
                        .b
                        .slice(s![pc..pc + depth, jc + first..jc + last.max(first)]);
                    pack_b(block, K::NR, &mut piece);
                }
                self.barrier.wait(); // every piece packed
                let pieces: Vec<_> = self.panel.iter().map(|piece| piece.read()).collect();
                let pieces: Vec<&[f32]> = pieces
                    .iter()
                    .map(|piece| piece.as_ref().expect("no panics while packing").as_slice())
                    .collect();
                self.barrier.wait(); // every piece locked for reading before any is repacked
                let b_slivers = || {
                    pieces
                        .iter()
                        .flat_map(|piece| piece.chunks_exact(K::NR * depth))
                };
                for ic in (0..rows).step_by(mc) {
                    let height = mc.min(rows - ic);
                    let i = row0 + ic;
                    pack_a(
                        self.a.slice(s![i..i + height, pc..pc + depth]),
                        K::MR,
                        &mut a_block,
                    );
                    let c = &mut c[ic * n + jc..];
                    macro_kernel::<K>(depth, &a_block, height, b_slivers(), columns, c, n);
                }
                debug_assert!(row0 + rows <= m);
            }
        }
    }
}

/// `c += A·B` for a packed block of `A` (`rows` rows) and packed slivers of `B` (`columns`
/// columns), `c` starting at the block's first element with rows `rsc` apart.
fn macro_kernel<'b, K: MicroKernel>(
    depth: usize,
    a_block: &[f32],
    rows: usize,
    b_slivers: impl Iterator<Item = &'b [f32]>,
    columns: usize,
    c: &mut [f32],
    rsc: usize,
) {
    const { assert!(K::MR * K::NR <= MAX_TILE) };
    for (jr, b_sliver) in b_slivers.enumerate() {
        let j0 = jr * K::NR;
        let width = K::NR.min(columns - j0);
        for (ir, a_sliver) in a_block.chunks_exact(K::MR * depth).enumerate() {
            let i0 = ir * K::MR;
            let height = K::MR.min(rows - i0);
            let (a, b) = (Packed(a_sliver.as_ptr()), Packed(b_sliver.as_ptr()));
            if height == K::MR && width == K::NR {
                let tile = &mut c[i0 * rsc + j0..][..(K::MR - 1) * rsc + K::NR];
                // SAFETY: the caller checked `K::supported()`; the slivers are whole packed
                // slivers of `MR · depth` and `NR · depth` elements (`chunks_exact`); `tile`
                // covers the `MR` rows of `NR` elements, `rsc` apart.
                unsafe { K::tile(depth, a, b, tile.as_mut_ptr(), rsc) };
            } else {
                // A partial tile: the kernel writes a whole one into scratch, and only the
                // part inside `C` is added.
                let mut scratch = [0.0f32; MAX_TILE];
                // SAFETY: as above, with `scratch` holding `MR` rows of `NR` (`MAX_TILE` is
                // at least `MR · NR`, checked at compile time).
                unsafe { K::tile(depth, a, b, scratch.as_mut_ptr(), K::NR) };
                for (i, row) in scratch.chunks_exact(K::NR).take(height).enumerate() {
                    let c_row = &mut c[(i0 + i) * rsc + j0..][..width];
                    for (sum, &value) in c_row.iter_mut().zip(row) {
                        *sum += value;
                    }
                }
            }
        }
    }
}
