//! The driver of the `gemm-packed`, `gemm-blocked` and `gemm` stages: blocking, packing and
//! threads, written once for every micro-kernel.
//!
//! For each `kc × nc` panel of `B` in turn, `C`'s rows are cut into blocks, which the threads
//! take one at a time: a thread slowed down by anything else on the machine takes fewer blocks
//! instead of holding the others up. For its block, a thread packs its rows of `A` and runs the
//! micro-kernel on every pair of slivers. The packed panel of `B` is shared: each of its slivers
//! is packed once, by the first thread that needs it, while any other thread that needs it
//! meanwhile waits for that copy (a [`OnceLock`]) instead of making its own. The threads meet
//! once per panel (the end of a `rayon` scope), since the next panel adds into the same blocks
//! of `C`. With one thread, or [`Blocks::WHOLE`](super::Blocks::WHOLE), the same code is
//! the plain packed product.

use std::sync::{Mutex, OnceLock};

use ndarray::{ArrayView2, s};

use super::Blocks;
use super::kernel::{MicroKernel, Packed};
use super::pack::{give_back, pack_a, pack_b_into, take_buffer};

/// The largest `MR · NR` of any kernel: the size of the scratch tile for partial tiles.
const MAX_TILE: usize = 512;

/// `c += a @ b` for `c` the `(m, n)` row-major contiguous output, with up to `threads` threads.
///
/// The caller has checked `K::supported()` and that no dimension is zero.
pub(crate) fn run<K: MicroKernel>(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: &mut [f32],
    blocks: Blocks,
    threads: usize,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    let Blocks { kc, mc, nc } = blocks;
    // Rows per block of `C`: `mc`, or fewer when that leaves too few blocks to share.
    let rows = if threads > 1 {
        mc.min(m.div_ceil(4 * threads).next_multiple_of(K::MR))
    } else {
        mc.min(m)
    };
    let threads = threads.min(m.div_ceil(rows));
    let mut buffer = take_buffer();
    for jc in (0..n).step_by(nc) {
        let columns = nc.min(n - jc);
        for pc in (0..k).step_by(kc) {
            let depth = kc.min(k - pc);
            let panel = b.slice(s![pc..pc + depth, jc..jc + columns]);
            let packed_len = depth * columns.next_multiple_of(K::NR);
            if buffer.len() < packed_len {
                buffer.resize(packed_len, 0.0); // packing overwrites every element it uses
            }
            let slivers = BSliver::cut::<K>(panel, &mut buffer[..packed_len]);
            let blocks_of_c = Mutex::new(c.chunks_mut(rows * n).enumerate());
            let work = || {
                let mut a_block = take_buffer();
                loop {
                    // Poisoning needs a panic inside `next`, which chunk iterators do not do.
                    let next = blocks_of_c
                        .lock()
                        .expect("no panic while taking a block")
                        .next();
                    let Some((index, c)) = next else { break };
                    let (i, height) = (index * rows, c.len() / n);
                    pack_a(
                        a.slice(s![i..i + height, pc..pc + depth]),
                        K::MR,
                        &mut a_block,
                    );
                    let b_slivers = slivers.iter().map(BSliver::packed::<K>);
                    macro_kernel::<K>(depth, &a_block, height, b_slivers, columns, &mut c[jc..], n);
                }
                give_back(a_block);
            };
            // This thread works too; the others come from a pool whose threads wait between
            // products instead of being started for each.
            helpers().in_place_scope(|scope| {
                for _ in 1..threads {
                    scope.spawn(|_| work());
                }
                work();
            });
        }
    }
    give_back(buffer);
}

/// `std::thread::available_parallelism`, asked once: on Linux it reads the cgroup's CPU quota
/// from files, which costs more than a small product.
pub(crate) fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// The threads that help the calling thread: one fewer than the cores, so that the caller and
/// its helpers together fill the machine and no idle helper, looking for work, takes a core
/// from one that has some (rayon's global pool has a thread per core besides the caller).
fn helpers() -> &'static rayon::ThreadPool {
    static HELPERS: OnceLock<rayon::ThreadPool> = OnceLock::new();
    HELPERS.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(cores().saturating_sub(1).max(1))
            .thread_name(|i| format!("matmul-gemm-{i}"))
            .build()
            .expect("starting the GEMM's helper threads")
    })
}

/// One sliver of a panel of `B`, packed on first use.
struct BSliver<'a> {
    /// The `depth × NR` (or narrower, at the right edge) block of `b` it packs.
    source: ArrayView2<'a, f32>,
    /// Its space in the packing buffer, until it is packed.
    space: Mutex<Option<&'a mut [f32]>>,
    /// The packed sliver.
    packed: OnceLock<&'a [f32]>,
}

impl<'a> BSliver<'a> {
    /// The slivers of `panel` (`depth × columns`), not packed yet, with their space in
    /// `space` (exactly the whole slivers).
    fn cut<K: MicroKernel>(panel: ArrayView2<'a, f32>, space: &'a mut [f32]) -> Vec<Self> {
        let (depth, columns) = panel.dim();
        let sources = (0..columns)
            .step_by(K::NR)
            .map(|j| panel.slice_move(s![.., j..(j + K::NR).min(columns)]));
        sources
            .zip(space.chunks_exact_mut(K::NR * depth))
            .map(|(source, space)| BSliver {
                source,
                space: Mutex::new(Some(space)),
                packed: OnceLock::new(),
            })
            .collect()
    }

    /// The packed sliver, packing it if no thread has yet.
    fn packed<K: MicroKernel>(&self) -> &'a [f32] {
        self.packed.get_or_init(|| {
            let space = self.space.lock().expect("no panic while packing").take();
            let space = space.expect("`get_or_init` runs its closure once");
            pack_b_into(self.source, K::NR, space);
            space
        })
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
