//! The driver of the `gemm-packed`, `gemm-blocked` and `gemm` stages: blocking, packing and
//! threads, written once for every micro-kernel.
//!
//! `C` is split into one band of rows per thread (whole tiles each). For each `kc × nc` panel
//! of `B`, every thread packs its share of the panel's slivers, all meet at a barrier, and each
//! then runs its band against the whole shared panel: packing its own `mc × kc` blocks of `A`
//! and calling the micro-kernel on every pair of slivers. With one thread, or
//! [`Blocks::WHOLE`](super::Blocks::WHOLE), the same code is the plain packed product.

use std::sync::RwLock;

use ndarray::{ArrayView2, s};

use super::Blocks;
use super::barrier::SpinBarrier;
use super::kernel::{MicroKernel, Packed};
use super::pack::{give_back, pack_a, pack_b, take_buffer};

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
    // Each panel of `B` is made of one piece per thread, packed by that thread and read by
    // all. There are two sets of pieces, used in turn: a thread packing the next panel writes
    // the set nobody reads any more (everyone finished the panel before last before meeting at
    // the last barrier), so one barrier per panel is enough. The locks are never contended;
    // they are what lets safe code share the pieces.
    let pieces = |_| (0..threads).map(|_| RwLock::new(take_buffer())).collect();
    let panels: [Vec<RwLock<Vec<f32>>>; 2] = std::array::from_fn(pieces);
    let shared = Shared {
        a,
        b,
        blocks,
        panels: &panels,
        barrier: &SpinBarrier::new(threads),
    };
    std::thread::scope(|scope| {
        let mut bands = c.chunks_mut(band * n).enumerate();
        let first = bands.next().expect("m > 0 gives one band");
        for (thread, rows) in bands {
            scope.spawn(move || shared.band::<K>(thread, thread * band, rows));
        }
        shared.band::<K>(first.0, 0, first.1);
    });
    for piece in panels.into_iter().flatten() {
        give_back(piece.into_inner().expect("no panics while packing"));
    }
}

/// What every thread reads.
#[derive(Clone, Copy)]
struct Shared<'a> {
    a: ArrayView2<'a, f32>,
    b: ArrayView2<'a, f32>,
    blocks: Blocks,
    panels: &'a [Vec<RwLock<Vec<f32>>>; 2],
    barrier: &'a SpinBarrier,
}

impl Shared<'_> {
    /// Computes the rows `row0 ..` of `C` that `c` holds, as thread `thread` of all.
    fn band<K: MicroKernel>(self, thread: usize, row0: usize, c: &mut [f32]) {
        let (k, n) = (self.a.ncols(), self.b.ncols());
        let rows = c.len() / n;
        let threads = self.panels[0].len();
        let Blocks { kc, mc, nc } = self.blocks;
        let mut a_block = take_buffer();
        let mut turn = 0;
        for jc in (0..n).step_by(nc) {
            let columns = nc.min(n - jc);
            // This thread's share of the panel's slivers, as columns `first .. last`.
            let share = columns.div_ceil(K::NR).div_ceil(threads) * K::NR;
            let first = (thread * share).min(columns);
            let last = (first + share).min(columns);
            for pc in (0..k).step_by(kc) {
                let depth = kc.min(k - pc);
                let panel = &self.panels[turn % 2];
                turn += 1;
                {
                    let mut piece = panel[thread].write().expect("no panics while packing");
                    let block = self.b.slice(s![pc..pc + depth, jc + first..jc + last]);
                    pack_b(block, K::NR, &mut piece);
                }
                self.barrier.wait(); // every piece of this panel is packed
                let pieces: Vec<_> = panel.iter().map(|piece| piece.read()).collect();
                let pieces: Vec<&[f32]> = pieces
                    .iter()
                    .map(|piece| piece.as_ref().expect("no panics while packing").as_slice())
                    .collect();
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
            }
        }
        give_back(a_block);
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
