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
use super::kernel::{MicroKernel, Packed, Sliver, Strided};
use super::pack::{give_back, pack_a, pack_b_into, take_buffer};

/// The largest `MR · NR` of any kernel: the size of the scratch tile for partial tiles.
const MAX_TILE: usize = 512;

/// `c += a @ b` for `c` the `(m, n)` row-major contiguous output, with up to `threads` threads;
/// a row-major `a` is read in place, not packed, in blocks of at most `a_in_place_up_to` bytes.
///
/// The caller has checked `K::supported()` and that no dimension is zero.
pub(crate) fn run<K: MicroKernel>(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: &mut [f32],
    blocks: Blocks,
    threads: usize,
    a_in_place_up_to: usize,
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
            // Blocks of a row-major `A` small enough to stay in cache are read where they are:
            // each step's `MR` elements are a column of the sliver, `lda` apart, which the
            // kernel broadcasts one by one anyway, so packing would only copy them.
            let read_a_in_place =
                a.strides()[1] == 1 && rows.min(m) * depth * size_of::<f32>() <= a_in_place_up_to;
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
                    let block = a.slice(s![i..i + height, pc..pc + depth]);
                    let b_slivers = slivers.iter().map(BSliver::packed::<K>);
                    let c = &mut c[jc..];
                    if read_a_in_place {
                        // Whole slivers straight from `a`; the last, partial one packed.
                        let whole = height / K::MR;
                        let lda = block.strides()[0];
                        pack_a(block.slice(s![whole * K::MR.., ..]), K::MR, &mut a_block);
                        let (origin, edge) = (block.as_ptr(), a_block.as_ptr());
                        let a_sliver = |ir: usize| {
                            if ir < whole {
                                Strided {
                                    ptr: origin.wrapping_offset((ir * K::MR) as isize * lda),
                                    stride_i: lda,
                                    stride_p: 1,
                                }
                            } else {
                                // The packed partial sliver: steps `MR` apart, rows adjacent.
                                Strided {
                                    ptr: edge,
                                    stride_i: 1,
                                    stride_p: K::MR as isize,
                                }
                            }
                        };
                        // SAFETY: the caller checked `K::supported()`; sliver `ir < whole` is
                        // `MR` whole rows of the block (`depth` adjacent elements each, `lda`
                        // apart), and the last is packed with its zero rows.
                        unsafe {
                            macro_kernel::<K, _>(depth, a_sliver, height, b_slivers, columns, c, n);
                        }
                    } else {
                        pack_a(block, K::MR, &mut a_block);
                        let a_block = &a_block;
                        let a_sliver = |ir: usize| Packed(a_block[ir * K::MR * depth..].as_ptr());
                        // SAFETY: the caller checked `K::supported()`; `pack_a` wrote every
                        // sliver whole, `MR · depth` elements, zero rows included.
                        unsafe {
                            macro_kernel::<K, _>(depth, a_sliver, height, b_slivers, columns, c, n);
                        }
                    }
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

/// `c += A·B` for a block of `A` (`rows` rows, its sliver `ir` at `a_sliver(ir)`: packed, or
/// in place) and packed slivers of `B` (`columns` columns), `c` starting at the block's first
/// element with rows `rsc` apart.
///
/// # Safety
///
/// `K::supported()` holds, and for every `ir < rows.div_ceil(MR)`, `a_sliver(ir)` is readable
/// at `(i, p)` for `i < MR`, `p < depth` (rows past `rows` included: zero padding).
unsafe fn macro_kernel<'b, K: MicroKernel, A: Sliver>(
    depth: usize,
    a_sliver: impl Fn(usize) -> A,
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
        for ir in 0..rows.div_ceil(K::MR) {
            let i0 = ir * K::MR;
            let height = K::MR.min(rows - i0);
            let (a, b) = (a_sliver(ir), Packed(b_sliver.as_ptr()));
            if height == K::MR && width == K::NR {
                let tile = &mut c[i0 * rsc + j0..][..(K::MR - 1) * rsc + K::NR];
                // SAFETY: `K::supported()` and the sliver of `A`, by this function's contract;
                // the sliver of `B` is a whole packed one of `NR · depth` elements
                // (`chunks_exact`); `tile` covers the `MR` rows of `NR` elements, `rsc` apart.
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
