//! The driver of the `gemm-packed`, `gemm-blocked` and `gemm` stages: blocking, packing and
//! threads, written once for every micro-kernel.
//!
//! For each `kc × nc` panel of `B` in turn, `C`'s rows are cut into blocks, which the threads take
//! one at a time: a thread slowed down by anything else on the machine takes fewer blocks instead
//! of holding the others up. Where `A` is short (fewer than two blocks of rows per thread, or the
//! rows of one block at most and fewer than a quarter of a panel's columns) and `B` has slivers
//! enough to keep as many threads busy, the threads share the panel's columns instead: each takes a
//! part of whole slivers for all the rows, so that it reads only its part of `B`, which stays in
//! its own caches. For each block it takes, a thread packs its rows of `A` and runs the
//! micro-kernel on every pair of slivers. A packed panel of `B` is shared, cut into runs of
//! adjacent slivers, at most one per thread ([`Runs`]), each packed once: every thread starts with
//! its own run, so the copies run in parallel; a thread that needs a sliver of a run still being
//! packed waits for that copy (a [`OnceLock`]) instead of making its own. Small blocks of a
//! row-major `A` and small panels of a row-major `B` (any panel, when `A` is one block of a few
//! tiles of rows: [`FEW_TILES`]) are not packed but read where they are (a block of `A` only
//! while it meets few enough slivers of `B` for the kernel: [`MicroKernel::A_IN_PLACE_SLIVERS`];
//! of a panel, the whole slivers, and the partial last one where the kernel computes that edge
//! where it is, [`MicroKernel::edge_in_place`]; otherwise each thread that needs it packs its own
//! copy, which from another core would come over line by line), except that when the threads
//! have many rows each, every thread packs a panel of a row-major `B` that fits its share of L2
//! for itself, where [`Plan::own_copies_up_to`](super::Plan::own_copies_up_to) allows (not on
//! every core). The threads meet once per panel
//! (the end of a [`pool::run`]), since the next panel adds into the same blocks of `C` (the first
//! panel writes them: `C` is not zeroed first, see [`Store`]). A small `C` with a `k` of a
//! panel or more per thread is not shared at all: each thread computes all of it over its own
//! part of `k`, alone, and the parts are added at the end ([`split_k`],
//! [`Plan::split_k_up_to`](super::Plan::split_k_up_to)). With one thread, or
//! [`Blocks::WHOLE`](super::Blocks::WHOLE), the same code is the plain packed product.
//!
//! The driver tells the kernel whether `C` is large ([`TileOfC`]): the kernels that prefetch
//! then ask for each tile's rows while they compute, so that their last act, storing the sums
//! into `C`, does not wait on memory; a small `C`, in cache already, is not asked for, unless
//! a panel of `B` is large, whose slivers the kernels then ask for ahead with the tile.
//!
//! A product that one thread does whole in one panel of `k` and of columns, with a row-major
//! `A` and `B` small enough to be read in place whole and fewer rows than make a packed copy
//! of `B` pay, skips all of this: one block, one panel, straight to the kernels
//! ([`whole_in_place`]).

use std::mem::MaybeUninit;
use std::sync::{Mutex, OnceLock};

use ndarray::{ArrayView2, s};

use super::Blocks;
use super::kernel::{MicroKernel, Packed, Sliver, Store, Strided, TileOfC, tile_part};
use crate::buffers::{give_back, line_aligned, take_buffer};
use crate::pool;

/// The most tiles of rows for which, when they are one block, a panel of a row-major `B` of
/// any size is read in place, not packed. The first tile reads each sliver from beyond L2,
/// packed or not; each later one reads it again from L1 or L2, where a sliver in place takes a
/// line more per step than a packed one (three lines for AVX-512's 32 floats from a row that
/// starts inside a line, two for AVX2's 16). A copy costs a pass over the panel, read and
/// written, which those extra lines pay for only over many tiles. On the Intel Xeon this was
/// measured on, with a `B` of 784 × 1000, reading in place was faster up to 6 tiles of
/// AVX-512 (84 rows) and 10 of AVX2 (60 rows), level at 8 and 12, and slower beyond (with two
/// threads sharing its columns; one thread alone makes the same trade for its whole panel).
const FEW_TILES: usize = 8;

/// Rows per block where the threads share the columns of `B`: all `m` rows in blocks of `mc`,
/// `m` rounded up to whole tiles of `mr` first, so that rows that are not whole tiles are one
/// block if their tiles are.
fn sharing_columns_rows(m: usize, mc: usize, mr: usize) -> usize {
    mc.min(m.next_multiple_of(mr))
}

/// Whether `m` rows, cut into blocks of `rows` for `threads` ([`row_blocks`]), are one block of
/// at most [`FEW_TILES`] tiles of `mr` rows.
fn few_tiles(m: usize, rows: usize, mr: usize, threads: usize) -> bool {
    m.div_ceil(mr) <= FEW_TILES && row_blocks(m, rows, mr, threads).nth(1).is_none()
}

/// The limits of a [`Plan`](super::Plan) that [`run`] follows, each as the plan's field of the
/// same name says.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) in_place_up_to: usize,
    pub(crate) panel_in_place_up_to: usize,
    pub(crate) own_copies_up_to: usize,
    pub(crate) own_copies_from_rows: usize,
    pub(crate) split_k_up_to: usize,
}

/// `c = a @ b` for `c` the `(m, n)` row-major contiguous output, with up to `threads` threads,
/// in `blocks`, within `limits`: a row-major `a` is read in place, not packed, in blocks of at most
/// `in_place_up_to` bytes, and a row-major `b` in panels of at most `panel_in_place_up_to`,
/// except that when the threads have `own_copies_from_rows` rows or more each, each thread
/// packs such a panel of at most `own_copies_up_to` bytes for itself; and the threads split
/// `k` for a `C` of at most `split_k_up_to` bytes
/// ([`Plan::in_place_up_to`](super::Plan::in_place_up_to),
/// [`Plan::panel_in_place_up_to`](super::Plan::panel_in_place_up_to),
/// [`Plan::own_copies_up_to`](super::Plan::own_copies_up_to),
/// [`Plan::own_copies_from_rows`](super::Plan::own_copies_from_rows),
/// [`Plan::split_k_up_to`](super::Plan::split_k_up_to)). `a` is read in place
/// only if `a_may_stay` says its layout allows it: row-major, and with rows that spread over
/// L1 ([`Plan::in_place_l1`](super::Plan::in_place_l1)); and only in blocks that meet no more
/// slivers of `B` than the kernel reads in place at its pace
/// ([`MicroKernel::A_IN_PLACE_SLIVERS`]).
///
/// `c` need not be initialised: the first panel of `k` writes every element of it
/// ([`Store::Write`]), and only the later panels read it back to add to it.
///
/// The caller has checked `K::supported()` and that no dimension is zero.
pub(crate) fn run<K: MicroKernel>(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: &mut [MaybeUninit<f32>],
    blocks: Blocks,
    threads: usize,
    limits: Limits,
    a_may_stay: bool,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    let Blocks { kc, mc, nc } = blocks;
    if threads > 1 && splits_k(m, k, n, kc, threads, limits.split_k_up_to) {
        split_k::<K>(a, b, c, blocks, threads, limits, a_may_stay);
        return;
    }
    // A block of `A` that meets more slivers of `B` than the kernel reads in place at its pace
    // is packed ([`MicroKernel::A_IN_PLACE_SLIVERS`]).
    let a_may_stay = a_may_stay && n.min(nc).div_ceil(K::NR) <= K::A_IN_PLACE_SLIVERS;
    let Limits {
        in_place_up_to,
        panel_in_place_up_to,
        own_copies_up_to,
        own_copies_from_rows,
        ..
    } = limits;
    // Panels of equal depth: `k = 1024` with `kc = 320` is four panels of 256, not three of
    // 320 and one of 64, whose every tile of `C` would be loaded and stored for 64 steps.
    let kc = k.div_ceil(k.div_ceil(kc)).next_multiple_of(8).min(kc);
    let bytes = |elements: usize| elements.saturating_mul(size_of::<f32>());
    // Whether that many elements are few enough to be read where they are.
    let fits = |elements: usize| bytes(elements) <= in_place_up_to;
    // A tall block of `A` pays off by reusing each sliver of `B` it meets, fetched from L3,
    // for many tiles. When the whole panel of `B` is small enough to stay in L2 anyway (the
    // lesson's `n = 10`: one sliver), it does not, and a block of a row-major `A` short
    // enough to be read in place saves copying every row of `A` into the packing buffer.
    // The panel is held to `A`'s limit, not `B`'s, on purpose: it must share L2 with that
    // block and stay there for the whole of it.
    let small_panel = fits(kc * n.min(nc));
    let mc = if small_panel && a_may_stay {
        let in_place_rows = in_place_up_to / (kc * size_of::<f32>()) / K::MR * K::MR;
        mc.min(in_place_rows.max(K::MR))
    } else {
        mc
    };
    // Rows per block of `C`: `mc`, or fewer when that leaves too few blocks to share. (One
    // thread cuts at `m` itself, so that rows that are not whole tiles make a last, short
    // block: on the Intel Xeon this was measured on, `square-128` on one thread, 10 tiles of
    // 14 rows in blocks of 9 and 1 tiles' worth, was a few per cent faster than in one block.)
    let rows = if threads > 1 {
        mc.min(m.div_ceil(4 * threads).next_multiple_of(K::MR))
    } else {
        mc.min(m)
    };
    // The threads share the columns of each panel of `B`, each taking a part of whole slivers
    // for all the rows, instead of taking blocks of rows across the whole panel, where `A` is
    // short: fewer than two blocks of rows per thread (too few to share evenly: three blocks
    // keep one of two threads busy twice as long as the other), or no more rows than one
    // block and fewer than a quarter as many as a panel has columns (then for every thread to
    // read all of `A` costs less than for every thread to read all of the panel, and a
    // thread's part of the panel, read by it alone, stays in its own caches). Only where the
    // slivers keep as many threads busy as the blocks of rows would.
    let blocks_of_rows = row_blocks(m, rows, K::MR, threads).count();
    let slivers_of_panel = n.min(nc).div_ceil(K::NR);
    let short = blocks_of_rows < 2 * threads || (m <= mc && m.saturating_mul(4) < n.min(nc));
    let share_columns =
        threads > 1 && short && threads.min(slivers_of_panel) >= threads.min(blocks_of_rows);
    // Sharing the columns, each thread takes all the rows: in blocks of `mc`, each meeting
    // every sliver of its part, as on one thread. Rows that are not whole tiles are one block
    // if their tiles are: cut at `m` itself, 16 rows of 14-row tiles would be a block of 14 and
    // one of 2, which reads every sliver of the part again for its 2 rows.
    let (rows, row_threads) = if share_columns {
        (sharing_columns_rows(m, mc, K::MR), 1)
    } else {
        (rows, threads)
    };
    let threads = if share_columns {
        threads.min(slivers_of_panel)
    } else {
        threads.min(blocks_of_rows)
    };
    // A `C` no larger than a block read in place stays in cache from one panel of `k` to the
    // next (and a small one fresh from the allocator usually is there already): its tiles
    // are not prefetched ([`TileOfC`]), nor the kernels' slivers ahead, unless a panel of `B`
    // is larger than that too, and so comes from beyond L2.
    let c_tile = if fits(m * n) && fits(k.min(kc) * n.min(nc)) {
        TileOfC::Warm
    } else {
        TileOfC::Cold
    };
    // Whether a panel of `B` of that many elements is small: row-major, within its limit.
    // Such a panel is read where it is, unless the threads have many rows each and it is
    // within the copies' limit too: then each thread packs a copy of its own.
    // Where the rows are one block of a few tiles, each sliver of a panel meets that block
    // once, its tiles one after another while the sliver is still in L1 or L2: a copy would
    // add a pass over the panel, whatever its size, for less than it saves ([`FEW_TILES`]).
    let few_tiles = panel_in_place_up_to > 0 && few_tiles(m, rows, K::MR, row_threads);
    let b_small = |elements: usize| {
        b.strides()[1] == 1 && (few_tiles || bytes(elements) <= panel_in_place_up_to)
    };
    // (Not where the threads share the columns: each reads only its part.)
    let own_copies = !share_columns && m.div_ceil(threads) >= own_copies_from_rows;
    let b_own =
        |elements: usize| b_small(elements) && own_copies && bytes(elements) <= own_copies_up_to;
    let b_in_place = |elements: usize| b_small(elements) && !b_own(elements);
    // One thread, one panel of `k` and of columns, and a row-major `A` and `B` read in place
    // whole: nothing to cut, share or pack.
    if threads == 1 && k <= kc && n <= nc && a_may_stay && fits(m * k) && b_in_place(k * n) {
        whole_in_place::<K>(a, b, c, c_tile);
        return;
    }
    let c_of = OutputC(c.as_mut_ptr());
    let mut buffer = take_buffer();
    let mut own_buffers = Vec::new();
    for jc in (0..n).step_by(nc) {
        let columns = nc.min(n - jc);
        for pc in (0..k).step_by(kc) {
            let depth = kc.min(k - pc);
            let panel = b.slice(s![pc..pc + depth, jc..jc + columns]);
            // The first panel writes `C`, the others add to it.
            let store = Store::for_panel(pc);
            let packed_len = depth * columns.next_multiple_of(K::NR);
            let in_place = b_in_place(depth * columns);
            let panels: Vec<PanelOfB<'_>> = if in_place {
                // Its partial last sliver, if any and unless the kernel reads it in place, is
                // packed by each thread that needs it (below).
                vec![panel_in_place::<K>(panel, None)]
            } else if b_own(depth * columns) {
                // Each thread's own copy, in a buffer of its own. (Packing overwrites every
                // element it uses.)
                own_buffers.resize_with(threads, take_buffer);
                let copy =
                    |own| PanelOfB::Copy(PackedOnce::new(panel, line_aligned(own, packed_len)));
                own_buffers.iter_mut().map(copy).collect()
            } else {
                // One copy for all.
                let space = line_aligned(&mut buffer, packed_len);
                vec![PanelOfB::Packed(Runs::cut::<K>(panel, space, threads))]
            };
            // The panel's columns in parts of whole slivers: one part, or one per thread.
            let slivers = columns.div_ceil(K::NR);
            let part = slivers.div_ceil(if share_columns { threads } else { 1 }) * K::NR;
            // What a thread takes at a time: a block of rows across the panel, or, where the
            // threads share the columns, a part of the columns for every block of rows (so that
            // each thread's part of `B` is read by it alone, and stays in its caches).
            let blocks: Vec<(usize, usize)> = row_blocks(m, rows, K::MR, row_threads).collect();
            let parts: Vec<(&[(usize, usize)], usize)> = if share_columns {
                (0..columns)
                    .step_by(part)
                    .map(|j| (&blocks[..], j))
                    .collect()
            } else {
                blocks.chunks(1).map(|block| (block, 0)).collect()
            };
            let blocks_of_c = Mutex::new(parts.into_iter());
            // Blocks of a row-major `A` small enough to stay in cache are read where they are
            // ([`a_in_place`]).
            let read_a_in_place = a_may_stay && fits(rows.min(m) * depth);
            let work = |worker: usize| {
                // This thread's copy of the panel, or the one all share.
                let panel_b = &panels[worker % panels.len()];
                // First this thread's own run of a shared panel's slivers of `B` ([`Runs`]), if
                // it has one: the runs are packed side by side, instead of by whichever thread
                // reaches each first while the others, walking the slivers in the same order,
                // wait. (Not where the threads share the columns: each part is one run, packed
                // by the thread that takes the part.)
                if let PanelOfB::Packed(runs) = panel_b
                    && !share_columns
                    && let Some(run) = runs.runs.get(worker)
                {
                    run.packed::<K>();
                }
                let mut a_block = take_buffer();
                // A panel read in place with a partial last sliver the kernel does not read in
                // place: that sliver packed by this thread, into a buffer of its own, when it
                // first needs it. (Packed by another core, it would come over to this one line
                // by line, for every panel of `k`.)
                let mut edge = Vec::new();
                let mut with_edge = None;
                loop {
                    // Poisoning needs a panic inside `next`, which cutting the blocks (at
                    // heights that sum to `m`) does not do.
                    let next = blocks_of_c
                        .lock()
                        .expect("no panic while taking a block")
                        .next();
                    let Some((blocks, j)) = next else { break };
                    let width = part.min(columns - j);
                    let panel_b = if in_place && edge_packed::<K>(j + width) {
                        with_edge.get_or_insert_with(|| {
                            edge = take_buffer();
                            panel_in_place::<K>(panel, Some(&mut edge))
                        })
                    } else {
                        panel_b
                    };
                    for &(i, height) in blocks {
                        let block = a.slice(s![i..i + height, pc..pc + depth]);
                        // The block's first element of `C`: row `i`, column `jc + j`. Each
                        // `(i, j)` is taken once, and its rows and columns are no other's.
                        let c = c_of.at(i * n + jc + j);
                        if read_a_in_place {
                            let a_sliver = a_in_place::<K>(block);
                            // SAFETY: the caller checked `K::supported()`; `a_in_place`'s slivers
                            // are readable for the block's rows; `c` starts this block's
                            // `height × width` elements of `C`, `n` apart, which this thread
                            // alone writes (above).
                            unsafe {
                                panel_b.multiply::<K, _>(
                                    depth, a_sliver, height, j, width, c, n, store, c_tile,
                                )
                            };
                        } else {
                            a_block.resize(height.div_ceil(K::MR) * K::MR * depth, 0.0);
                            // SAFETY: the caller checked `K::supported()`.
                            unsafe { K::pack_a(block, &mut a_block) };
                            let a_block = &a_block;
                            let a_sliver =
                                |ir: usize| Packed(a_block[ir * K::MR * depth..].as_ptr());
                            // SAFETY: the caller checked `K::supported()`; `pack_a` wrote every
                            // sliver whole, `MR · depth` elements, zero rows included; `c` as
                            // above.
                            unsafe {
                                panel_b.multiply::<K, _>(
                                    depth, a_sliver, height, j, width, c, n, store, c_tile,
                                )
                            };
                        }
                    }
                }
                give_back(a_block);
                drop(with_edge); // it points into `edge`
                if edge.capacity() > 0 {
                    give_back(edge);
                }
            };
            if threads == 1 {
                // Alone: no helpers to call, no meeting to wait for.
                work(0);
            } else {
                // This thread works too; the others are helpers that wait between products
                // instead of being started for each (the crate's module `pool`).
                pool::run(threads, &work);
            }
        }
    }
    give_back(buffer);
    own_buffers.into_iter().for_each(give_back);
}

/// [`run`] for a product that needs none of its machinery: one thread, `k` within one panel
/// (`kc`) and `n` within one panel of columns (`nc`), and a row-major `a` and `b` each read
/// in place whole (`b` only where it is not copied). That is one block of `A` and
/// one panel of `B`, with nothing to pack but the last, partial sliver of `B`, if the kernel does
/// not read it in place. It goes straight to the kernels, skipping what the general path spends
/// on each block and panel (the lock the threads take blocks from, the views of `a` and `b`, and
/// the pool of packing buffers unless that sliver needs one): little, but a small product is
/// little too.
///
/// The caller has checked `K::supported()`, that no dimension is zero, and those conditions.
fn whole_in_place<K: MicroKernel>(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: &mut [MaybeUninit<f32>],
    c_tile: TileOfC,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    // A buffer from the pool only for a partial last sliver of `B` to pack.
    let mut edge = edge_packed::<K>(n).then(take_buffer);
    let panel_b = panel_in_place::<K>(b, edge.as_mut());
    // SAFETY: the caller checked `K::supported()`; `a_in_place`'s slivers are readable for the
    // `m` rows of `a`, and `panel_in_place`'s for `NR` columns each, the last one padded with
    // zeros in its buffer, or, read in place, for the columns the kernel reads of that edge;
    // `c` is the whole `(m, n)` output, written (`Store::Write`) by the one panel of `k`.
    unsafe {
        let c = c.as_mut_ptr();
        panel_b.multiply::<K, _>(k, a_in_place::<K>(a), m, 0, n, c, n, Store::Write, c_tile);
    }
    drop(panel_b); // it points into the buffer
    if let Some(edge) = edge {
        give_back(edge);
    }
}

/// The slivers of a block of a row-major `A` read where it is, for [`PanelOfB::multiply`]:
/// sliver `ir` is the block's rows from `ir · MR` on, the last, partial one too (the kernel
/// reads only the rows inside the block: `tile_rows`, `tile_part`). Each step's `MR` elements
/// are a column of the sliver, `lda` apart, which the kernel broadcasts one by one anyway, so
/// packing would only copy them.
fn a_in_place<K: MicroKernel>(block: ArrayView2<'_, f32>) -> impl Fn(usize) -> Strided {
    let (origin, lda) = (block.as_ptr(), block.strides()[0]);
    move |ir| Strided {
        ptr: origin.wrapping_offset((ir * K::MR) as isize * lda),
        stride_i: lda,
        stride_p: 1,
    }
}

/// Whether a panel of `columns` columns read in place has a partial last sliver to pack: one the
/// kernel does not compute where it is ([`MicroKernel::edge_in_place`]).
fn edge_packed<K: MicroKernel>(columns: usize) -> bool {
    !columns.is_multiple_of(K::NR) && !K::edge_in_place(columns % K::NR)
}

/// A panel of a row-major `B` read where it is: its whole slivers in place, and its last,
/// partial one, if `edge` is given, packed into it with its zero columns (the kernel loads the
/// `NR` columns of a step in whole vectors, which past the panel's edge would read outside
/// `b`). The panel then points into that buffer, which must be kept, unchanged, while the panel
/// is used; without it, the partial sliver must not be. A partial sliver whose columns the
/// kernel computes where they are ([`MicroKernel::edge_in_place`]), which loads only those
/// columns, is read in place too, buffer or not.
fn panel_in_place<'a, K: MicroKernel>(
    panel: ArrayView2<'a, f32>,
    edge: Option<&mut Vec<f32>>,
) -> PanelOfB<'a> {
    let (depth, columns) = panel.dim();
    let (origin, ldb) = (panel.as_ptr(), panel.strides()[0]);
    let whole = columns / K::NR;
    let packed_len = depth * (columns % K::NR).next_multiple_of(K::NR);
    // Not read when there is no partial sliver, nor, without `edge`, where there is one.
    let (mut edge_at, mut edge_step) = (std::ptr::null(), K::NR as isize);
    if K::edge_in_place(columns % K::NR) {
        (edge_at, edge_step) = (origin.wrapping_add(whole * K::NR), ldb);
    } else if let Some(buffer) = edge
        && packed_len > 0
    {
        // Packing overwrites every element it uses.
        let space = line_aligned(buffer, packed_len);
        // SAFETY: `run`'s caller checked `K::supported()`.
        unsafe { K::pack_b(panel.slice(s![.., whole * K::NR..]), space) };
        edge_at = space.as_ptr();
    }
    PanelOfB::InPlace {
        origin,
        ldb,
        whole,
        edge: edge_at,
        edge_step,
    }
}

/// Cuts `m` rows into the fewest blocks of at most `rows` rows (at least one tile each) that
/// `threads` threads can share evenly — a multiple of `threads` blocks, where there are tiles
/// enough — returned as `(first row, height)`. Every block is a whole number of `mr`-row
/// tiles, except that the last may end in a partial tile; their sizes differ by at most one
/// tile, the taller first.
///
/// Blocks of exactly `rows` rows would leave a short one at the end: 256 rows in blocks of 36
/// are seven blocks of 36 and one of 4, and two threads taking blocks in turn compute 144 rows
/// and 112. Blocks of 36, 30 or 28 rows give 132 and 124. And an odd number of blocks leaves
/// one thread a block more than the other: 1024 rows in blocks of at most 96 are 11 blocks,
/// 6 for one thread and 5 for the other, where 12 blocks of 82 to 90 rows are 6 each.
///
/// ```text
/// row_blocks(256, 36, 6, 2)  → 36 36 36 30 30 30 30 28   (43 tiles: 3 × 6 + 5 × 5)
/// row_blocks(1024, 96, 6, 2) → 90 90 90 84 84 … 84 82   (171 tiles: 3 × 15 + 9 × 14)
/// ```
fn row_blocks(
    m: usize,
    rows: usize,
    mr: usize,
    threads: usize,
) -> impl Iterator<Item = (usize, usize)> {
    let tiles = m.div_ceil(mr);
    let fewest = tiles.div_ceil((rows / mr).max(1));
    let count = fewest.next_multiple_of(threads.max(1)).min(tiles);
    let (base, taller) = (tiles / count, tiles % count);
    (0..count).scan(0, move |first, block| {
        let tiles = base + usize::from(block < taller);
        let height = (tiles * mr).min(m - *first);
        let start = *first;
        *first += height;
        Some((start, height))
    })
}

/// Whether `threads` threads compute `a @ b` (`m × k` by `k × n`, panels of `kc` steps) by
/// splitting `k` ([`split_k`]): a `C` of at most `split_k_up_to` bytes
/// ([`Plan::split_k_up_to`](super::Plan::split_k_up_to)), and a whole panel of `k` or more
/// for each thread.
fn splits_k(m: usize, k: usize, n: usize, kc: usize, threads: usize, split_k_up_to: usize) -> bool {
    m.saturating_mul(n).saturating_mul(size_of::<f32>()) <= split_k_up_to
        && k >= threads.saturating_mul(kc)
}

/// [`run`] with `k` split into one part per thread ([`k_parts`]), each thread computing the
/// whole of `C` over its part of `k` on its own ([`run`] on one thread: no meeting between
/// panels), the first into `c`, the others into buffers of their own, which are then added
/// into `c`, in the parts' order.
fn split_k<K: MicroKernel>(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: &mut [MaybeUninit<f32>],
    blocks: Blocks,
    threads: usize,
    limits: Limits,
    a_may_stay: bool,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    debug_assert_eq!(c.len(), m * n);
    let parts = k_parts(k, threads);
    // Each part on one thread, which splits nothing further.
    let alone = Limits {
        split_k_up_to: 0,
        ..limits
    };
    let mut partials: Vec<Vec<f32>> = (1..parts.len()).map(|_| take_buffer()).collect();
    let outputs: Vec<OutputC> = std::iter::once(OutputC(c.as_mut_ptr()))
        .chain(partials.iter_mut().map(|partial| {
            partial.resize(m * n, 0.0);
            OutputC(partial.as_mut_ptr().cast())
        }))
        .collect();
    let work = |worker: usize| {
        let range = parts[worker].clone();
        let (a, b) = (a.slice(s![.., range.clone()]), b.slice(s![range, ..]));
        // SAFETY: output `worker` is `c` or a buffer resized to `m · n` floats above, and
        // `pool::run` calls each worker index once: this call's alone, and nothing else
        // touches `c` or the buffers until `pool::run` has returned.
        let out = unsafe { std::slice::from_raw_parts_mut(outputs[worker].0, m * n) };
        run::<K>(a, b, out, blocks, 1, alone, a_may_stay);
    };
    pool::run(parts.len(), &work);
    for partial in partials {
        for (sum, &x) in c.iter_mut().zip(&partial) {
            // SAFETY: the first part wrote every element of `c` (`run`).
            sum.write(unsafe { sum.assume_init() } + x);
        }
        give_back(partial);
    }
}

/// `0..k` cut into `threads` parts of whole groups of 8 steps but the last: each cut at the
/// first multiple of 8 from its even share (`i · k / threads`), so that no part is more than
/// 7 steps longer than `k / threads`. Fewer parts where cuts meet (a `k` of fewer groups than
/// there are threads).
fn k_parts(k: usize, threads: usize) -> Vec<std::ops::Range<usize>> {
    let threads = threads.max(1);
    let cuts = (1..threads).map(|i| (i * k / threads).next_multiple_of(8).min(k));
    let mut first = 0;
    let mut parts = Vec::with_capacity(threads);
    for cut in cuts.chain([k]) {
        if cut > first {
            parts.push(first..cut);
            first = cut;
        }
    }
    parts
}

/// The output `C` of [`run`], shared by its threads: each writes only the blocks of rows and
/// parts of columns it takes, and no two take the same.
#[derive(Clone, Copy)]
struct OutputC(*mut MaybeUninit<f32>);

// SAFETY: the threads of `run` write through the pointer only into the blocks of `C` each
// takes from their common queue, which are disjoint, and only while `run` holds `c`; in
// [`split_k`], each whole output (`c`, or a buffer of its own) belongs to one worker index,
// which `pool::run` hands out once.
unsafe impl Sync for OutputC {}

impl OutputC {
    /// The element `offset` elements from `C`'s first.
    fn at(self, offset: usize) -> *mut MaybeUninit<f32> {
        self.0.wrapping_add(offset)
    }
}

/// A `depth × columns` panel of `B` as the micro-kernel reads it.
enum PanelOfB<'a> {
    /// Packed, shared by the threads, each run of slivers by the first thread that needs it:
    /// each thread first packs its own run (where the threads share the rows), and one that
    /// another thread is still packing is waited for (a [`OnceLock`]).
    Packed(Runs<'a>),
    /// A thread's own copy, packed whole, row by row, when the thread first needs it.
    Copy(PackedOnce<'a>),
    /// Read where it is (a row-major `B`): `whole` slivers of `NR` columns from `origin`, with
    /// rows `ldb` apart, and the rest at `edge`, with steps `edge_step` apart: packed with its
    /// zero columns, in a buffer of the thread that uses this panel, or, where the kernel
    /// computes its columns in place, where it is, like the others ([`panel_in_place`]); null
    /// where the panel was made without a buffer for it, and then the partial sliver must not
    /// be used.
    InPlace {
        origin: *const f32,
        ldb: isize,
        whole: usize,
        edge: *const f32,
        edge_step: isize,
    },
}

// SAFETY: `InPlace`'s pointers are only read: `origin` into a panel of `b`, which outlives the
// threads of `run`'s scope and which nothing writes to meanwhile; `edge` (when not null) into
// the same panel, or into a buffer of the one thread that made and uses the panel, which keeps
// the buffer unchanged until the panel is dropped. A panel shared by the threads has no such
// buffer.
unsafe impl Sync for PanelOfB<'_> {}

impl PanelOfB<'_> {
    /// [`macro_kernel`] on this panel's `columns` columns from column `first` (a multiple of
    /// `NR`: whole slivers) with a block of `A`, `c` starting at the first of their elements.
    ///
    /// # Safety
    ///
    /// As [`macro_kernel`]'s, for `a_sliver` and `c`; `first + columns` is at most the panel's
    /// columns; for [`PanelOfB::InPlace`], where those columns reach into a partial last sliver
    /// (`first + columns > whole · NR`), `edge` points to it: in place, or packed, in a buffer
    /// still alive and unchanged.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)] // A BLAS call's contract: operands, sizes, `C`, `β`.
    unsafe fn multiply<K: MicroKernel, A: Sliver>(
        &self,
        depth: usize,
        a_sliver: impl Fn(usize) -> A,
        rows: usize,
        first: usize,
        columns: usize,
        c: *mut MaybeUninit<f32>,
        rsc: usize,
        store: Store,
        c_tile: TileOfC,
    ) {
        match self {
            PanelOfB::Packed(runs) => {
                let b_sliver = |jr: usize| {
                    let jr = first / K::NR + jr;
                    let run = runs.runs[jr / runs.slivers].packed::<K>();
                    Packed(run[jr % runs.slivers * K::NR * depth..].as_ptr())
                };
                // SAFETY: the caller's contract for `A`; each sliver of `B` is packed whole,
                // `NR · depth` elements.
                unsafe {
                    macro_kernel::<K, _, _>(
                        depth, a_sliver, rows, b_sliver, columns, c, rsc, store, c_tile,
                    )
                }
            }
            PanelOfB::Copy(copy) => {
                let copy = copy.packed::<K>();
                let b_sliver =
                    |jr: usize| Packed(copy[(first / K::NR + jr) * K::NR * depth..].as_ptr());
                // SAFETY: the caller's contract for `A`; the copy holds every sliver of `B`
                // whole, `NR · depth` elements each.
                unsafe {
                    macro_kernel::<K, _, _>(
                        depth, a_sliver, rows, b_sliver, columns, c, rsc, store, c_tile,
                    )
                }
            }
            &PanelOfB::InPlace {
                origin,
                ldb,
                whole,
                edge,
                edge_step,
            } => {
                let b_sliver = |jr: usize| {
                    let jr = first / K::NR + jr;
                    if jr < whole {
                        Strided {
                            ptr: origin.wrapping_add(jr * K::NR),
                            stride_i: 1,
                            stride_p: ldb,
                        }
                    } else {
                        Strided {
                            ptr: edge,
                            stride_i: 1,
                            stride_p: edge_step,
                        }
                    }
                };
                // SAFETY: the caller's contract for `A`; sliver `jr < whole` is `NR` adjacent
                // columns of the panel for `depth` rows `ldb` apart, and the last is packed
                // with its zero columns, or in place, where the kernel computes its columns
                // where they are and reads no others (`macro_kernel`).
                unsafe {
                    macro_kernel::<K, _, _>(
                        depth, a_sliver, rows, b_sliver, columns, c, rsc, store, c_tile,
                    )
                }
            }
        }
    }
}

/// A run of slivers of a panel of `B` ([`Runs`]; or, for a thread's own copy, the whole
/// panel), packed once, by the first thread that asks for it.
struct PackedOnce<'a> {
    /// The block of `b` it packs: `depth` rows of a run's columns, or the whole panel.
    source: ArrayView2<'a, f32>,
    /// Its space in the packing buffer, until it is packed.
    space: Mutex<Option<&'a mut [f32]>>,
    /// The packed block.
    packed: OnceLock<&'a [f32]>,
}

/// A shared packed panel of `B`, cut into runs of adjacent slivers, each packed once, by the
/// first thread that asks for it: runs of `slivers.div_ceil(threads)` slivers (the last one
/// shorter), at most one per thread, which each thread packs first. (With 5 slivers and 4
/// threads, runs of 2, 2 and 1: the fourth thread packs none, and no copy is longer than it
/// would be with four runs.)
///
/// A run, not a sliver, is what one copy packs, because
/// [`pack_b_into`](super::pack::pack_b_into) reads a row-major `B` row by row across the
/// slivers it is given: a run of `s` slivers is `kc` reads of `s · NR` adjacent floats, where
/// a sliver alone is `kc` reads of `NR` floats a whole row of `B` apart, each a new line, often
/// a new page, and in an `n` of a power of two all in the same few sets of L1.
struct Runs<'a> {
    /// The runs, in the order of their slivers.
    runs: Vec<PackedOnce<'a>>,
    /// Slivers per run (the last run may have fewer).
    slivers: usize,
}

impl<'a> Runs<'a> {
    /// The runs of `panel` (`depth × columns`) for `threads` threads, not packed yet, with
    /// their space in `space` (exactly the whole slivers).
    fn cut<K: MicroKernel>(
        panel: ArrayView2<'a, f32>,
        space: &'a mut [f32],
        threads: usize,
    ) -> Self {
        let (depth, columns) = panel.dim();
        let slivers = columns.div_ceil(K::NR).div_ceil(threads.max(1)).max(1);
        let width = slivers * K::NR;
        let sources = (0..columns)
            .step_by(width)
            .map(|j| panel.slice_move(s![.., j..(j + width).min(columns)]));
        let runs = sources
            .zip(space.chunks_mut(width * depth))
            .map(|(source, space)| PackedOnce::new(source, space))
            .collect();
        Runs { runs, slivers }
    }
}

impl<'a> PackedOnce<'a> {
    /// `source` (a run of slivers, or a whole panel for a thread's own copy), not packed yet,
    /// with its space in `space` (exactly its whole slivers).
    fn new(source: ArrayView2<'a, f32>, space: &'a mut [f32]) -> Self {
        PackedOnce {
            source,
            space: Mutex::new(Some(space)),
            packed: OnceLock::new(),
        }
    }

    /// The packed slivers, packing them if no thread has yet.
    fn packed<K: MicroKernel>(&self) -> &'a [f32] {
        self.packed.get_or_init(|| {
            let space = self.space.lock().expect("no panic while packing").take();
            let space = space.expect("`get_or_init` runs its closure once");
            // SAFETY: `run`'s caller checked `K::supported()`.
            unsafe { K::pack_b(self.source, space) };
            space
        })
    }
}

/// `c += A·B` (`c = A·B` when `store` is [`Store::Write`]) for a block of `A` (`rows` rows,
/// its sliver `ir` at `a_sliver(ir)`: packed, or in place) and a panel of `B` (`columns`
/// columns, its sliver `jr` at `b_sliver(jr)`), `c` starting at the block's first element
/// with rows `rsc` apart. `c_tile` says whether `C` is cold, for the kernel.
///
/// # Safety
///
/// `c` is valid for reads and writes of the block's `rows × columns` elements, `rsc` apart,
/// and no other thread reads or writes them during the call; `K::supported()` holds; for every
/// `ir < rows.div_ceil(MR)`, `a_sliver(ir)` is readable at
/// `(i, p)` for `i < MR.min(rows - ir · MR)`, `p < depth` (the kernel reads no row past
/// `rows`: a packed sliver's zero rows are never read); for every
/// `jr < columns.div_ceil(NR)`, `b_sliver(jr)` is readable at `(j, p)` for `j < NR`,
/// `p < depth`, contiguous in `j` (columns past `columns` included: zero padding), except
/// that a last sliver of fewer columns that the kernel computes in place
/// ([`MicroKernel::edge_in_place`]) need be readable for those columns only; with
/// [`Store::Add`], the block's `rows × columns` elements of `c` are initialised (an earlier
/// panel wrote them), since they are read and added to.
#[allow(clippy::too_many_arguments)] // A BLAS call's contract: operands, sizes, `C`, `β`.
unsafe fn macro_kernel<K: MicroKernel, A: Sliver, B: Sliver>(
    depth: usize,
    a_sliver: impl Fn(usize) -> A,
    rows: usize,
    b_sliver: impl Fn(usize) -> B,
    columns: usize,
    c: *mut MaybeUninit<f32>,
    rsc: usize,
    store: Store,
    c_tile: TileOfC,
) {
    for jr in 0..columns.div_ceil(K::NR) {
        let j0 = jr * K::NR;
        let width = K::NR.min(columns - j0);
        for ir in 0..rows.div_ceil(K::MR) {
            let i0 = ir * K::MR;
            let height = K::MR.min(rows - i0);
            let (a, b) = (a_sliver(ir), b_sliver(jr));
            if width == K::NR {
                let tile = c.wrapping_add(i0 * rsc + j0).cast::<f32>();
                // SAFETY: `K::supported()` and the sliver of `A`, by this function's contract;
                // the sliver of `B` likewise; `tile` starts the `height` rows of `NR`
                // elements, `rsc` apart, inside the block of `c` this function may write,
                // which an earlier panel wrote if `store` is `Add`.
                unsafe {
                    if height == K::MR {
                        K::tile(depth, a, b, tile, rsc, store, c_tile);
                    } else {
                        K::tile_rows(height, depth, a, b, tile, rsc, store, c_tile);
                    }
                }
            } else if K::edge_in_place(width) {
                // A right edge the kernel computes where it is.
                let tile = c.wrapping_add(i0 * rsc + j0).cast::<f32>();
                // SAFETY: as above, for the first `width` columns, all the sliver of `B` need
                // have (`panel_in_place`).
                unsafe { K::edge_tile_in_place(height, width, depth, a, b, tile, rsc, store) };
            } else {
                // A tile at the right edge: its `height` rows computed into scratch (at half
                // width where the kernel has such a tile and the edge fits in it), and only the
                // part inside `C` stored.
                let part = c.wrapping_add(i0 * rsc + j0).cast::<f32>();
                // SAFETY: as above; `part` starts the `height` rows of `width` elements,
                // `rsc` apart, inside the block.
                unsafe {
                    tile_part::<K>(height, width, depth, a, b, part, rsc, store);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FEW_TILES, few_tiles, k_parts, row_blocks, sharing_columns_rows, splits_k};

    #[test]
    fn k_is_cut_into_even_parts_of_whole_groups() {
        let lengths =
            |k, threads| -> Vec<usize> { k_parts(k, threads).iter().map(|r| r.len()).collect() };
        assert_eq!(lengths(10_000, 2), [5000, 5000]);
        assert_eq!(lengths(31, 2), [16, 15]);
        assert_eq!(lengths(33, 3), [16, 8, 9]);
        assert_eq!(lengths(20, 3), [8, 8, 4]);
        assert_eq!(lengths(97, 3), [32, 32, 33]);
        assert_eq!(lengths(9, 3), [8, 1]); // two groups, two parts
        assert_eq!(lengths(5, 4), [5]);
        for (k, threads) in [(1, 1), (15, 3), (100, 7), (4096, 16), (1000, 3)] {
            let parts = k_parts(k, threads);
            // Consecutive, covering `0..k`, each a whole number of groups but for the last.
            assert_eq!(parts.first().map(|r| r.start), Some(0));
            assert_eq!(parts.last().map(|r| r.end), Some(k));
            assert!(
                parts
                    .windows(2)
                    .all(|w| w[0].end == w[1].start && w[0].len() % 8 == 0)
            );
            assert!(parts.len() <= threads && !parts.iter().any(|r| r.is_empty()));
        }
    }

    #[test]
    fn threads_split_k_for_a_small_c_and_a_panel_of_k_each() {
        let limit = 100 * 100 * 4;
        assert!(splits_k(100, 10_000, 100, 1024, 2, limit));
        assert!(splits_k(100, 2048, 100, 1024, 2, limit)); // one panel each
        assert!(!splits_k(100, 2047, 100, 1024, 2, limit)); // less
        assert!(!splits_k(100, 3000, 100, 1024, 3, limit));
        assert!(!splits_k(100, 10_000, 101, 1024, 2, limit)); // `C` too large
        assert!(!splits_k(100, 10_000, 100, 1024, 2, 0)); // never
    }

    #[test]
    fn a_short_a_is_one_block_of_whole_tiles_and_few_tiles_are_read_in_place() {
        // 16 rows of 14-row tiles: one block of both tiles, not a block of 14 and one of 2.
        let rows = sharing_columns_rows(16, 252, 14);
        assert_eq!(row_blocks(16, rows, 14, 1).collect::<Vec<_>>(), [(0, 16)]);
        assert!(few_tiles(16, rows, 14, 1));
        // `mc` not a multiple of the tile (the tests' tiny blocks): still at most `mc`.
        assert_eq!(sharing_columns_rows(8, 13, 6), 12);
        assert_eq!(sharing_columns_rows(20, 13, 6), 13);
        assert!(few_tiles(8, 12, 6, 1));
        assert!(!few_tiles(20, 13, 6, 1)); // two blocks
        // Up to `FEW_TILES` tiles in one block, not one row more; no limit from `mc`.
        let mc = usize::MAX;
        let most = FEW_TILES * 14;
        assert!(few_tiles(most, sharing_columns_rows(most, mc, 14), 14, 1));
        assert!(!few_tiles(
            most + 1,
            sharing_columns_rows(most + 1, mc, 14),
            14,
            1
        ));
        // Blocks shared between two threads are never one.
        assert!(!few_tiles(28, 14, 14, 2));
    }

    #[test]
    fn row_blocks_are_whole_tiles_as_even_as_they_can_be() {
        let heights = |m, rows, mr, threads| -> Vec<usize> {
            row_blocks(m, rows, mr, threads)
                .map(|(_, rows)| rows)
                .collect()
        };
        assert_eq!(heights(256, 36, 6, 2), [36, 36, 36, 30, 30, 30, 30, 28]);
        assert_eq!(heights(256, 36, 6, 1), [36, 36, 36, 30, 30, 30, 30, 28]);
        // 11 blocks of at most 96 rows would give one of two threads a block more.
        let even = heights(1024, 96, 6, 2);
        assert_eq!(even.len(), 12, "{even:?}");
        assert_eq!((even[0], even[3], even[11]), (90, 84, 82), "{even:?}");
        assert_eq!(heights(1024, 96, 6, 1).len(), 11);
        let shapes = [
            (1, 6, 6, 1),
            (5, 6, 6, 2),
            (7, 6, 6, 2),
            (100, 14, 14, 1),
            (100, 7, 6, 3),
            (100, 2, 6, 2),
        ];
        for (m, rows, mr, threads) in shapes.into_iter().chain([(2048, 96, 6, 2), (45, 20, 4, 3)]) {
            let blocks: Vec<(usize, usize)> = row_blocks(m, rows, mr, threads).collect();
            // Consecutive, covering every row once, none taller than `rows` or empty.
            let mut next = 0;
            for &(first, height) in &blocks {
                assert_eq!(first, next, "m {m}: {blocks:?}");
                assert!(height > 0 && height <= rows.max(mr), "m {m}: {blocks:?}");
                next += height;
            }
            assert_eq!(next, m, "m {m}: {blocks:?}");
            // A multiple of the threads, where there are tiles enough.
            let tiles = m.div_ceil(mr);
            assert!(
                blocks.len().is_multiple_of(threads) || blocks.len() == tiles,
                "m {m}, {threads} threads: {blocks:?}"
            );
            // Whole tiles but for the last block, and at most one tile apart.
            assert!(blocks[..blocks.len() - 1].iter().all(|&(_, h)| h % mr == 0));
            let tiles = blocks.iter().map(|&(_, h)| h.div_ceil(mr));
            let (least, most) = (tiles.clone().min().unwrap(), tiles.max().unwrap());
            assert!(most - least <= 1, "m {m}: {blocks:?}");
        }
    }
}
