//! The micro-kernel's contract, and where it finds its operands.
//!
//! A micro-kernel adds `A·B` to one `MR × NR` tile of `C`, for an `A` of `MR` rows and a `B` of
//! `NR` columns, both `k` long (or writes it there, on the first panel of `k`: [`Store`]):
//!
//! ```text
//! for p in 0..k:                      // k rank-1 updates
//!     for i in 0..MR, j in 0..NR:     // all in registers
//!         tile[i][j] += a[i, p] * b[p, j]
//! c[.., ..] += tile                   // `=` on the first panel
//! ```
//!
//! Per step `p` it loads one row of `b` (`NR` floats, `NR / lanes` vector loads), broadcasts
//! `MR` elements of `a`, and issues `MR · NR / lanes` fused multiply-adds into accumulators that
//! never leave the registers until the end. How the kernel finds `a[i, p]` and the row
//! `b[p, ..]` is a [`Sliver`]: in the matrices as they are ([`Strided`], the `gemm-kernel`
//! stage) or in the packing buffers ([`Packed`], every stage after it).

use std::mem::MaybeUninit;

use ndarray::ArrayView2;

use super::pack::pack_b_into;
use crate::prefetch::{Start, ask_for_run, to_l1, to_l2};

/// What a micro-kernel does with its sums at the end of its `k` steps.
///
/// The first panel of `k` writes them into `C`, which the packed stages therefore neither zero
/// beforehand nor read (BLAS's `C = α·A·B + β·C` with `β = 0`); every later panel adds them to
/// what the panels before it left there. In a large `C` that saves reading every
/// tile once from memory, and in a small one the loads of the tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Store {
    /// `c = sums`: the first panel.
    Write,
    /// `c += sums`: every later panel.
    Add,
}

impl Store {
    /// What the panel starting at step `pc` of `k` does: [`Store::Write`] for the first.
    pub(crate) fn for_panel(pc: usize) -> Store {
        if pc == 0 { Store::Write } else { Store::Add }
    }
}

/// Where a micro-kernel's tile of `C` is likely to be when the kernel starts, which says
/// whether the kernel asks for it ahead of its last act, storing the sums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TileOfC {
    /// In cache: a `C` no larger than the part of L2 a block read in place may take (the
    /// first panel of `k` has just written it, or the allocator has just handed it over), in
    /// this core's L2 or, when another thread wrote it, in the L3 the cores share; or a
    /// scratch tile. Its misses are few and short, and asking for it costs a small product
    /// more than it saves. The driver says so only where the panels of `B` are that small
    /// too: the kernels' asks for their slivers go with the tile's.
    Warm,
    /// Likely out of L1 and L2 (a large `C`, whose tiles are a row of `C` apart and were last
    /// touched a whole panel ago), or with slivers that are (a large panel of `B`): the
    /// kernels that prefetch ask for it, and for their slivers ahead, while they compute, so
    /// that its misses overlap the arithmetic instead of following it.
    Cold,
}

/// The largest `MR · NR` of any kernel: the size of a scratch tile.
pub(crate) const MAX_TILE: usize = 512;

/// Steps before the end of its loop at which a kernel asks L1 for a cold tile of `C`, having
/// asked L2 for it at the start ([`ColdTile`]): a dozen or more FMAs a step over 16 steps
/// hide a load from L2, and the lines are still in L1 when the kernel stores its sums.
const C_STEPS_BEFORE_END: usize = 16;

/// What a kernel that prefetches asks for its tile of `C` around its loop of `k` steps, when
/// `FETCH` ([`TileOfC::Cold`]): the tile into L2 when [`ColdTile::ask`] makes it, and into L1
/// at the start of the round of steps ([`each_step`]) that holds the step
/// [`C_STEPS_BEFORE_END`] before the end ([`ColdTile::at_steps`]). Without
/// `FETCH`, nothing: a constant, so a warm tile's kernel carries no trace of it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ColdTile<const FETCH: bool> {
    /// The tile's first element.
    c: *const f32,
    /// Its rows, `rsc` apart, of `nr` floats.
    rows: usize,
    nr: usize,
    rsc: usize,
    /// The step at which L1 is asked.
    early: usize,
}

impl<const FETCH: bool> ColdTile<FETCH> {
    /// Asks L2 for the `rows` rows of `nr` floats, `rsc` apart, at `c`, for a loop of `k` steps.
    #[inline(always)]
    pub(crate) fn ask(c: *const f32, rows: usize, nr: usize, rsc: usize, k: usize) -> Self {
        if FETCH {
            ask_for_tile(c, rows, nr, rsc, to_l2);
        }
        let early = k.saturating_sub(C_STEPS_BEFORE_END);
        ColdTile {
            c,
            rows,
            nr,
            rsc,
            early,
        }
    }

    /// At the `steps` steps of the loop from `p`: asks L1 for the tile if the step that
    /// [`C_STEPS_BEFORE_END`] says is among them.
    #[inline(always)]
    pub(crate) fn at_steps(self, p: usize, steps: usize) {
        if FETCH && self.early.wrapping_sub(p) < steps {
            ask_for_tile(self.c, self.rows, self.nr, self.rsc, to_l1);
        }
    }
}

/// A micro-kernel's loop over its `k` steps: the block for every `p` from 0 to `k` in order,
/// in rounds of `STEPS`, with `ask(p, steps)` and the tile of `C`'s asks ([`ColdTile`]) once
/// at the start of each round for its `steps` steps. The steps left over after the last whole
/// round are taken one at a time.
///
/// ```text
/// each_step!(STEPS, k, tile_of_c, ask, |p| { /* step p */ });
/// ```
///
/// Why rounds: a step of the AVX2 kernel is 20 instructions (12 FMAs, 2 loads, 6 broadcasts),
/// six cycles of FMAs at two a cycle. One step at a time, its compiled loop added 8 of its own
/// where it asks ahead (two asks, two pointer updates, two tests with their branches): 28 in
/// six cycles, more than the four or so a cycle that cores sustain. In rounds of four, the
/// tests and updates come once a round, and so do the asks for `A`, whose four steps are one
/// line and a half. A step of the AVX-512 kernel is 44 instructions for 14 cycles of FMAs,
/// which leave room for the loop's own: it takes one step a round, and on the Intel Xeon this
/// was measured on, rounds of four made it no faster.
///
/// A macro, not a function taking the step as a closure: the step is compiled inside the
/// kernel, with its instruction set, whose accumulators must stay in registers. As a
/// function, some kernels' accumulators went to the stack at every step, which made the
/// AVX-512 kernel's `square-256` on one core several times slower on the Intel Xeon this was
/// measured on.
macro_rules! each_step {
    ($steps:expr, $k:expr, $tile_of_c:expr, $ask:expr, |$p:ident| $step:block) => {{
        let (steps, k, tile_of_c, ask): (usize, usize, _, _) = ($steps, $k, $tile_of_c, $ask);
        debug_assert!(steps > 0, "a round takes at least one step");
        let rounds = k / steps * steps;
        let mut first = 0;
        while first < rounds {
            tile_of_c.at_steps(first, steps);
            ask(first, steps);
            for $p in first..first + steps $step
            first += steps;
        }
        for $p in rounds..k {
            tile_of_c.at_steps($p, 1);
            ask($p, 1);
            $step
        }
    }};
}
pub(crate) use each_step;

/// Asks, with `hint` ([`to_l1`](crate::prefetch::to_l1) or [`to_l2`](crate::prefetch::to_l2)),
/// for the `rows` rows of `nr` floats, `rsc` apart, of the tile of `C` at `c`: every line of
/// each row, which may start inside a line ([`Start::Anywhere`]). A hint: nothing is read.
///
/// Why a cold tile is asked for at all: it is touched only at the end, to store the sums, and
/// in a large `C` it is rarely in L1. Its rows are a row of `C` apart, often a multiple of
/// 4 KiB, so they compete for the same few sets of L1. Asked for early, its misses overlap the
/// arithmetic instead of following it.
#[inline(always)]
fn ask_for_tile(c: *const f32, rows: usize, nr: usize, rsc: usize, hint: impl Fn(*const f32)) {
    for i in 0..rows {
        ask_for_run(c.wrapping_add(i * rsc), nr, Start::Anywhere, &hint);
    }
}

/// Where a micro-kernel reads element `i` of step `p` of one operand: `a[i, p]` of an `MR`-row
/// sliver of `A`, or `b[p, i]` of an `NR`-column sliver of `B`.
pub(crate) trait Sliver: Copy {
    /// Whether each step's elements are contiguous and follow the step before: a packed
    /// sliver, whose every address is its base plus a constant (a constant itself once the
    /// kernel is compiled for the sliver's type).
    #[cfg(target_arch = "x86_64")]
    fn packed(self) -> bool;

    /// The address of element `i` of step `p`; `W` is the sliver's width (`MR` for `A`, `NR`
    /// for `B`), which a packed sliver uses as its step.
    ///
    /// # Safety
    ///
    /// `(i, p)` must lie inside the readable part of the sliver the value was made for: `p < k`,
    /// and `i < W`, or `i < rows` for the partial last sliver of a block of `A` read in place,
    /// or `i < columns` for that of a panel of `B` read in place, whose edge the kernel computes
    /// where it is ([`MicroKernel::edge_in_place`]).
    unsafe fn at<const W: usize>(self, i: usize, p: usize) -> *const f32;

    /// Asks L1 for the `steps` steps of the sliver from step `p`, which the kernel will read a
    /// few steps later: the lines holding their `W` elements each when those are contiguous
    /// (a packed sliver, or a row of a row-major `B` read in place); nothing when they are not
    /// (a step of a row-major `A` read in place is one element in each of `W` rows, whose
    /// streams the hardware prefetcher follows). A hint: `p` may lie past the end, and nothing
    /// is read.
    ///
    /// The AVX-512 and AVX2 kernels ask when their tile of `C` is cold ([`TileOfC::Cold`]);
    /// module `avx512`'s `B_STEPS_AHEAD` says why.
    #[cfg(target_arch = "x86_64")]
    fn ask_for_steps<const W: usize>(self, p: usize, steps: usize);
}

/// A sliver inside an unpacked matrix: element `(i, p)` at `ptr + i·stride_i + p·stride_p`
/// (in elements; either stride may be negative).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Strided {
    /// Element `(0, 0)`.
    pub ptr: *const f32,
    /// Distance between elements `i` and `i + 1` of one step.
    pub stride_i: isize,
    /// Distance between steps `p` and `p + 1`.
    pub stride_p: isize,
}

impl Sliver for Strided {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn packed(self) -> bool {
        false
    }

    #[inline(always)]
    unsafe fn at<const W: usize>(self, i: usize, p: usize) -> *const f32 {
        let offset = i as isize * self.stride_i + p as isize * self.stride_p;
        // SAFETY: the caller keeps `(i, p)` inside the sliver, which lies inside one matrix.
        unsafe { self.ptr.offset(offset) }
    }

    /// One test of the layout for all the steps.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn ask_for_steps<const W: usize>(self, p: usize, steps: usize) {
        if self.stride_i == 1 {
            for s in 0..steps {
                let step = self
                    .ptr
                    .wrapping_offset(((p + s) as isize).wrapping_mul(self.stride_p));
                ask_for_run(step, W, Start::Anywhere, to_l1);
            }
        }
    }
}

/// A packed sliver: the `W` elements of step `p` are contiguous, and the steps follow each
/// other — exactly the order the kernel reads, with `W` a constant, so every address is the
/// base plus a fixed offset.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Packed(pub *const f32);

impl Sliver for Packed {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn packed(self) -> bool {
        true
    }

    #[inline(always)]
    unsafe fn at<const W: usize>(self, i: usize, p: usize) -> *const f32 {
        // SAFETY: the caller keeps `(i, p)` inside the packed sliver of `W · k` elements.
        unsafe { self.0.add(p * W + i) }
    }

    /// The steps are one run: a hint per line.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn ask_for_steps<const W: usize>(self, p: usize, steps: usize) {
        // The steps follow each other: asking from each run's start reaches every line.
        ask_for_run(
            self.0.wrapping_add(p.wrapping_mul(W)),
            W * steps,
            Start::Adjoining,
            to_l1,
        );
    }
}

/// A register micro-kernel for one instruction set: an `MR × NR` tile of `C`.
///
/// # Safety
///
/// Implementations may use instructions the CPU lacks; [`MicroKernel::supported`] says whether
/// this one can run here, and the driver calls [`MicroKernel::tile`] only when it returns
/// `true`.
pub(crate) unsafe trait MicroKernel: Sized {
    /// Rows of the tile: how many elements of `a` each step broadcasts.
    const MR: usize;
    /// Columns of the tile: how many elements of `b` each step loads (a whole number of
    /// vectors).
    const NR: usize;

    /// Slivers of `B` (`NR` columns each) a block of `A` may meet and still be read in place,
    /// not packed, where the driver's limits allow it (`usize::MAX`: any number). Read in
    /// place, each step of a sliver of `A` costs the kernel the addresses of its rows, once
    /// per sliver of `B` the block meets; packed, it costs one copy of the block. Only a
    /// kernel whose loop has no room for those addresses sets a limit (AVX2's).
    const A_IN_PLACE_SLIVERS: usize = usize::MAX;

    /// Whether this CPU has the instructions the kernel uses.
    fn supported() -> bool;

    /// `c[i·rsc + j] += Σ_{p < k} a[i, p] · b[p, j]` for `i < MR`, `j < NR` (`=` instead of
    /// `+=` when `store` is [`Store::Write`]); a [`TileOfC::Cold`] tile is prefetched by the
    /// kernels that prefetch (AVX-512, AVX2, NEON: [`ColdTile`]).
    ///
    /// # Safety
    ///
    /// [`MicroKernel::supported`] returned `true`; `a` is readable at `(i, p)` for `i < MR`,
    /// `p < k`; `b` is readable at `(j, p)` for `j < NR`, `p < k`, **contiguous in `j`** (its
    /// `NR` elements of a step are adjacent, as vector loads need); `c` is valid for writes of
    /// `MR` rows of `NR` contiguous elements, `rsc` apart, and nothing else accesses them during
    /// the call. With [`Store::Add`] those elements are read too, so they must be initialised;
    /// with [`Store::Write`] they may not be, and are not read.
    unsafe fn tile(
        k: usize,
        a: impl Sliver,
        b: impl Sliver,
        c: *mut f32,
        rsc: usize,
        store: Store,
        c_tile: TileOfC,
    );

    /// [`MicroKernel::tile`] for the first `rows` rows of the tile only (`0 < rows < MR`), at
    /// the bottom edge of `C`: one kernel per height, compiled from the same code, which
    /// computes no padding row and reads no row of `a` past `rows`. So the last, partial
    /// sliver of a block of `A` can be read where it is, like the whole ones, without a
    /// zero-padded copy.
    ///
    /// # Safety
    ///
    /// As [`MicroKernel::tile`], with `a` readable for `i < rows` only and `c` valid for
    /// `rows` rows, instead of `MR`.
    #[allow(clippy::too_many_arguments)] // `tile`'s arguments, and the height.
    unsafe fn tile_rows(
        rows: usize,
        k: usize,
        a: impl Sliver,
        b: impl Sliver,
        c: *mut f32,
        rsc: usize,
        store: Store,
        c_tile: TileOfC,
    );

    /// The first `rows` rows (`0 < rows ≤ MR`) of a tile at the right edge of `C`, of which only
    /// the first `columns ≤ NR` columns are wanted, written ([`Store::Write`]) into `c`, rows
    /// `rsc` apart: at least those columns, and at most the tile's `NR`. By default the whole
    /// tile ([`MicroKernel::tile`], or [`MicroKernel::tile_rows`] below `MR` rows); a kernel
    /// with a tile half as wide (the AVX2 kernel, by `half_width_edges`) computes only that
    /// half when the columns fit in it, half the multiply-adds and the loads of `b`. Not called
    /// for the edges a kernel computes in place ([`MicroKernel::edge_in_place`]).
    ///
    /// # Safety
    ///
    /// As [`MicroKernel::tile_rows`], with `c` valid for `rows` rows of `NR` elements.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)] // `tile_rows`'s arguments, and the width.
    unsafe fn edge_tile(
        rows: usize,
        columns: usize,
        k: usize,
        a: impl Sliver,
        b: impl Sliver,
        c: *mut f32,
        rsc: usize,
    ) {
        let _ = columns; // the whole tile covers any of them
        // SAFETY: the caller's contract.
        unsafe { whole_edge_tile::<Self>(rows, k, a, b, c, rsc) }
    }

    /// Whether the kernel computes a right edge of `C` `columns` wide (`0 < columns < NR`) where
    /// it is ([`MicroKernel::edge_tile_in_place`]), reading only those columns of its sliver of
    /// `B`: the AVX2 kernel an edge exactly its half tile wide, the AVX-512 kernel any, by
    /// masks. Other edges are computed into a scratch tile and copied out ([`tile_part`]), from
    /// a sliver of `B` with zero columns to the tile's width.
    #[inline(always)]
    fn edge_in_place(columns: usize) -> bool {
        let _ = columns;
        false
    }

    /// [`MicroKernel::tile_rows`] for the first `columns` columns only, `0 < rows ≤ MR`, where
    /// [`MicroKernel::edge_in_place`] says so of `columns` (never called otherwise): the right
    /// edge of `C` computed where it is, from a sliver of `B` that need only have those columns.
    ///
    /// # Safety
    ///
    /// As [`MicroKernel::tile_rows`], with `rows` up to `MR`, and `b` readable and `c` valid for
    /// the first `columns` columns only.
    #[allow(clippy::too_many_arguments)] // `tile_rows`'s arguments and the width, not `C`'s tile.
    unsafe fn edge_tile_in_place(
        rows: usize,
        columns: usize,
        k: usize,
        a: impl Sliver,
        b: impl Sliver,
        c: *mut f32,
        rsc: usize,
        store: Store,
    ) {
        let _ = (rows, columns, k, a, b, c, rsc, store);
        unreachable!("an edge this kernel does not compute in place");
    }

    /// Packs `block` of `B` into `out` as whole slivers of `NR` columns ([`pack_b_into`]),
    /// compiled with this kernel's instruction set where the kernel overrides it, so that a
    /// step of a row-major `B` is copied in whole vectors of that set.
    ///
    /// # Safety
    ///
    /// [`MicroKernel::supported`] returned `true`.
    #[inline(always)]
    unsafe fn pack_b(block: ArrayView2<'_, f32>, out: &mut [f32]) {
        pack_b_into(block, Self::NR, out);
    }

    /// Packs `block` of `A` (rows × depth) into `out` as whole slivers of `MR` rows, the
    /// transposed copy of [`MicroKernel::pack_b`] (`pack_b_into(block.t(), MR, out)`), with
    /// the same contract for `out`. The kernels that override it copy a row-major block a few
    /// steps at a time, transposed in vectors of their instruction set
    /// ([`pack_a_into`](super::pack::pack_a_into)).
    ///
    /// # Safety
    ///
    /// [`MicroKernel::supported`] returned `true`.
    #[inline(always)]
    unsafe fn pack_a(block: ArrayView2<'_, f32>, out: &mut [f32]) {
        pack_b_into(block.t(), Self::MR, out);
    }
}

/// A kernel's [`MicroKernel::tile`] and [`MicroKernel::tile_rows`], written once for all of
/// them: `$tile::<ROWS, FETCH_C>` computes the first `ROWS` rows of the tile; `tile` calls it
/// for all `MR`, and `tile_rows` for each height `1 .. MR` listed (checked against `MR` at
/// compile time), so that the bottom edge computes and reads no padding row. `FETCH_C` is
/// whether the kernel prefetches its tile of `C` ([`TileOfC::Cold`]): a constant, so that
/// for a warm tile the kernel is compiled without a trace of the prefetches, whose addresses
/// would otherwise take registers and stack through the whole loop.
macro_rules! tiles_by_height {
    // `$tile::<$rows, FETCH_C>(args)`, `FETCH_C` as `$c_tile` says.
    (@fetch $c_tile:ident, $tile:ident::<$rows:tt>($($arg:ident),*)) => {
        match $c_tile {
            TileOfC::Cold => $tile::<$rows, true>($($arg),*),
            TileOfC::Warm => $tile::<$rows, false>($($arg),*),
        }
    };
    ($tile:ident: $($height:literal)*) => {
        #[inline(always)]
        unsafe fn tile(
            k: usize,
            a: impl Sliver,
            b: impl Sliver,
            c: *mut f32,
            rsc: usize,
            store: Store,
            c_tile: TileOfC,
        ) {
            // SAFETY: the caller checked `supported()` and keeps the operand contract.
            unsafe {
                $crate::gemm::kernel::tiles_by_height!(
                    @fetch c_tile, $tile::<MR>(k, a, b, c, rsc, store)
                )
            }
        }

        #[inline(always)]
        #[allow(clippy::too_many_arguments)] // `tile`'s arguments, and the height.
        unsafe fn tile_rows(
            rows: usize,
            k: usize,
            a: impl Sliver,
            b: impl Sliver,
            c: *mut f32,
            rsc: usize,
            store: Store,
            c_tile: TileOfC,
        ) {
            const { assert!(MR == [$($height),*].len() + 1, "one height for each of 1 .. MR") };
            match rows {
                // SAFETY: the caller checked `supported()`, keeps the operand contract for
                // `rows` rows of `a`, and gives `rows` rows of `c`.
                $($height => unsafe {
                    $crate::gemm::kernel::tiles_by_height!(
                        @fetch c_tile, $tile::<$height>(k, a, b, c, rsc, store)
                    )
                },)*
                _ => unreachable!("an edge of {rows} rows in a tile of {MR}"),
            }
        }
    };
}
pub(crate) use tiles_by_height;

/// [`MicroKernel::edge_tile`] at `K`'s whole width: [`MicroKernel::tile`] for `MR` rows,
/// [`MicroKernel::tile_rows`] for fewer, written into a tile of `C` assumed warm.
///
/// # Safety
///
/// As [`MicroKernel::edge_tile`].
#[inline(always)]
pub(crate) unsafe fn whole_edge_tile<K: MicroKernel>(
    rows: usize,
    k: usize,
    a: impl Sliver,
    b: impl Sliver,
    c: *mut f32,
    rsc: usize,
) {
    // SAFETY: the caller's contract.
    unsafe {
        if rows == K::MR {
            K::tile(k, a, b, c, rsc, Store::Write, TileOfC::Warm);
        } else {
            K::tile_rows(rows, k, a, b, c, rsc, Store::Write, TileOfC::Warm);
        }
    }
}

/// A kernel's [`MicroKernel::edge_in_place`] and [`MicroKernel::edge_tile_in_place`], written
/// once for the kernels that compute some right edges where they are (the AVX-512 and AVX2
/// kernels): `$in_place` says of which widths (`$columns`), and `$edge::<ROWS>(columns, k, a, b,
/// c, rsc, store)` computes the first `ROWS` rows of such an edge, for each height `1 ..= MR`
/// listed (checked against `MR` at compile time).
#[cfg(target_arch = "x86_64")]
macro_rules! edges_in_place {
    ($edge:ident where |$columns:ident| $in_place:expr; $($height:literal)*) => {
        #[inline(always)]
        fn edge_in_place($columns: usize) -> bool {
            $in_place
        }

        #[inline(always)]
        #[allow(clippy::too_many_arguments)] // `tile_rows`'s arguments and the width.
        unsafe fn edge_tile_in_place(
            rows: usize,
            columns: usize,
            k: usize,
            a: impl Sliver,
            b: impl Sliver,
            c: *mut f32,
            rsc: usize,
            store: Store,
        ) {
            const { assert!(MR == [$($height),*].len(), "one height for each of 1 ..= MR") };
            match rows {
                // SAFETY: the caller checked `supported()`, keeps the operand contract for
                // `rows` rows of `a` and `columns` columns of `b`, and gives those rows and
                // columns of `c`.
                $($height => unsafe { $edge::<$height>(columns, k, a, b, c, rsc, store) },)*
                _ => unreachable!("an edge of {rows} rows in a tile of {MR}"),
            }
        }
    };
}
#[cfg(target_arch = "x86_64")]
pub(crate) use edges_in_place;

/// A kernel's [`MicroKernel::edge_tile`] for a tile half as wide as its own, two vectors wide,
/// which it computes an edge of exactly that width with where it is
/// ([`MicroKernel::edge_tile_in_place`], for the AVX2 kernel; the AVX-512 kernel masks its
/// edges instead): a narrower edge takes that half tile too, into scratch, and a wider one the
/// whole tile.
///
/// A right edge of a few columns costs a whole tile's multiply-adds, however few of its
/// columns are wanted. The AVX-512 kernel had the same half tile before it masked its edges:
/// `(33, 3000) @ (3000, 33)`, two slivers of 32 columns for 33, computed 64 columns; with the
/// half tile, 48. On the Intel Xeon this was measured on, that product and `(500, 500) @ (500,
/// 40)` took about a sixth less time.
#[cfg(target_arch = "x86_64")]
macro_rules! half_width_edges {
    () => {
        #[inline(always)]
        #[allow(clippy::too_many_arguments)] // `tile_rows`'s arguments, and the width.
        unsafe fn edge_tile(
            rows: usize,
            columns: usize,
            k: usize,
            a: impl Sliver,
            b: impl Sliver,
            c: *mut f32,
            rsc: usize,
        ) {
            // SAFETY: the caller's contract, of which the half tile needs the first `NR / 2`
            // columns.
            unsafe {
                if columns > NR / 2 {
                    $crate::gemm::kernel::whole_edge_tile::<Self>(rows, k, a, b, c, rsc);
                } else {
                    Self::edge_tile_in_place(rows, NR / 2, k, a, b, c, rsc, Store::Write);
                }
            }
        }
    };
}
#[cfg(target_arch = "x86_64")]
pub(crate) use half_width_edges;

/// [`MicroKernel::tile`] for the `rows × columns` corner of a tile at an edge of `C`
/// (`rows ≤ MR`, `columns ≤ NR`): the kernel computes the `rows` rows of a tile wide enough for
/// the columns into scratch ([`MicroKernel::edge_tile`]), and only the part inside `C` is
/// stored there, as `store` says.
///
/// A call, not inlined: a right edge comes once per row of tiles, and inlined into the loop
/// over tiles, its copy (unrolled over the rows) would cost every tile the registers and
/// stack the compiler keeps for it through the loop.
///
/// # Safety
///
/// As [`MicroKernel::tile`], with `a` readable for `i < rows` only and `c` valid for `rows`
/// rows of `columns` elements, instead of `MR` rows of `NR`.
#[inline(never)]
#[allow(clippy::too_many_arguments)] // `tile`'s arguments, and the size of the part.
pub(crate) unsafe fn tile_part<K: MicroKernel>(
    rows: usize,
    columns: usize,
    k: usize,
    a: impl Sliver,
    b: impl Sliver,
    c: *mut f32,
    rsc: usize,
    store: Store,
) {
    const { assert!(K::MR * K::NR <= MAX_TILE) };
    // Not zeroed: the kernel writes every element read below (zeroing took about as long as
    // the copy out, a few per cent of a `48³` product).
    let mut scratch = [MaybeUninit::<f32>::uninit(); MAX_TILE];
    // SAFETY: the caller's contract, with `scratch` holding `MR` rows of `NR`; for `rows < MR`
    // the kernel reads and writes the first `rows` rows only.
    unsafe {
        K::edge_tile(rows, columns, k, a, b, scratch.as_mut_ptr().cast(), K::NR);
    }
    for (i, row) in scratch.chunks_exact(K::NR).take(rows).enumerate() {
        // SAFETY: `edge_tile` wrote at least the first `columns` elements of each of the
        // `rows` rows.
        let row = unsafe { std::slice::from_raw_parts(row.as_ptr().cast::<f32>(), columns) };
        let values = row.iter().enumerate();
        // SAFETY: row `i < rows`, columns `j < columns` of the caller's part.
        unsafe {
            match store {
                Store::Write => values.for_each(|(j, &value)| *c.add(i * rsc + j) = value),
                Store::Add => values.for_each(|(j, &value)| *c.add(i * rsc + j) += value),
            }
        }
    }
}
