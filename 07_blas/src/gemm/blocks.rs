//! Cache blocking: how much of `A` and `B` each loop level keeps, sized from the caches.
//!
//! The driver's loops, outermost first, and what each keeps in which cache (Goto & van de
//! Geijn; BLIS names the sizes `kc`, `mc`, `nc`):
//!
//! ```text
//! for jc in steps of nc:             a kc × nc panel of B, packed once, shared → L3
//!   for pc in steps of kc:
//!     for ic in steps of mc:         an mc × kc block of A, packed            → L2
//!       for jr in steps of NR:       a kc × NR sliver of B                    → L2 (or L1)
//!         for ir in steps of MR:     an MR × kc sliver of A, streamed through L1
//!           micro-kernel: MR × NR tile of C in registers
//! ```
//!
//! The blocks of `ic` are what the threads share out (module `driver`, which also reads a small
//! panel of a row-major `B` in place, or has every thread pack its own copy of it).
//!
//! The textbook sizes put the `kc × NR` sliver of `B` in L1 and the `mc × kc` block of `A` in
//! L2. On cores whose L2 feeds the kernel as fast as it computes, both can live in L2: per
//! step the kernel needs `(MR + NR) · 4` bytes, 88 for the AVX2 kernel's 12 FMAs, which two
//! FMA units take about 6 cycles over, so roughly 15 bytes a cycle, well within what L2
//! supplies. And a longer `kc` pays off: each kernel call stores (and after the first panel,
//! loads) its tile of `C`
//! once whatever `kc` is, and each of the `k / kc` panels of `B` costs one more pass over all
//! of `C` and one more barrier where the threads wait for each other (module `driver`). (One
//! kernel measured otherwise, on one machine: the last paragraph below.)
//!
//! So the question is how to share L2, and the answer counts in **ways**. A cache of `W` ways
//! has sets of `W` lines: each address belongs to one set and may use any of its `W` lines,
//! and when all are full the cache evicts one of them (roughly the least recently used). A
//! contiguous buffer of `L2 / W` bytes puts one line in every set, so a block of `w · L2 / W`
//! bytes stays as long as everything streaming past uses only the other `W − w` lines of each
//! set. This is the counting of Low, Igual, Smith and Quintana-Ortí ("Analytical modeling is
//! enough for high-performance BLIS", 2016):
//!
//! - `kc`: a sliver of `B` (`kc · NR · 4` bytes) takes an eighth of L2 (one way of an 8-way
//!   L2), up to 1024 steps (or L1's share, where that is long enough: below);
//! - `mc`: the sliver of `B` streaming through takes `b = ⌈kc · NR · 4 / (L2 / W)⌉` ways, one
//!   way is left for the tiles of `C` and other traffic, and the block of `A`, reused against
//!   every sliver of `B`, gets the other `W − b − 1` (at least one), but no more than half of
//!   the ways: `mc = min(W − b − 1, W / 2) · (L2 / W) / (kc · 4)`, rounded down to a multiple
//!   of `MR`. On a Zen 3 core (L2 512 KiB, 8 ways of 64 KiB) with the AVX2 kernel: `b = 1`,
//!   `min(6, 4) = 4` ways, 256 KiB, `mc = 60`;
//! - `nc`: the panel of `B` (`kc · nc · 4` bytes) takes half of L3, which the cores share
//!   (and, on a virtual machine, other tenants too).
//!
//! Two alternatives were timed on that Zen 3 core, against these rules as they were before
//! the cap on `mc` (`mc = 96`), and set aside. An `mc` of a
//! quarter of L2 (30 rows) fetches each sliver of `B` from L3 for only five tiles. Low et
//! al.'s own rule for `kc` keeps the sliver of `B` in L1: of L1's 8 ways of 4 KiB it gets
//! `⌊(8 − 1) / (1 + MR / NR)⌋ = 5`, so `kc = 5 · 4096 / 64 = 320`, which makes more panels
//! (more passes over `C`) at the middle sizes without saving anything at the large ones.
//!
//! On an Intel Xeon with AVX-512 (an L1 of 12 ways of 4 KiB, an L2 of 2 MiB), that rule
//! first measured the other way: with the sliver of `B` in L1 (`kc` of 224 to 256 for the
//! 14 × 32 kernel) the large squares ran clearly faster on one core than with `kc = 1024`.
//! The cause was the slivers streaming from L2 with only the hardware prefetcher asking for
//! them; once the kernel asked L1 for each sliver's steps a few ahead (module `avx512`'s
//! `B_STEPS_AHEAD`), `kc = 1024` ran as fast on one core and a little faster on two, and the
//! rules above stayed.
//!
//! The AVX2 kernel on that Xeon measured otherwise: its sliver of `B` takes 16 floats a step,
//! so Low et al.'s rule gives it 8 of L1's 12 ways, `kc = 512`, and that ran `square-2048`
//! clearly faster than `kc = 1024` (with the asks ahead), on one core and on two, and
//! `square-1024` as fast. So `kc` comes from L1 where L1 keeps a sliver of [`KC_IN_L1_FROM`]
//! steps or more, long enough that the extra panels cost little, and from L2 otherwise
//! ([`Blocks::for_caches_b_in_l1`]), for the AVX2 kernel only: the AVX-512 kernel's 224 steps
//! in L1 would be too few (there `kc = 512` made `square-1024` slower on one core), and the
//! portable kernel's 896 (from 1024) made `square-2048` a little slower. On the Zen 3 above,
//! the AVX2 kernel's 320 steps are too few too, and it keeps 1024.
//!
//! A shorter `kc` had a second cost there: it made blocks of `A` small enough to be read in
//! place, and a block whose rows are a large power of two of bytes apart (for the 14 rows of
//! the AVX-512 kernel, the squares from 512 up) maps to a few sets of L1 and reads slower in
//! place than packed. The driver now packs such a block whatever its size
//! ([`rows_spread_over_l1`]).
//!
//! The cap of half of L2 on the block of `A` is a measured margin, not Low et al.'s. On that
//! Intel Xeon (L2 of 16 ways of 128 KiB), the block their count gives, 14 ways, made the large
//! squares clearly slower on one core than a block of half of L2 or less. The likely reason:
//! besides the tiles of `C`, the free ways hold the lines the hardware prefetchers bring ahead
//! of both streams and the page tables' entries, more than one way's worth. Since the sliver of
//! `B` takes an eighth of L2 or less, the block gets half of L2 on every machine this was
//! written for. With several threads, the rows of `C` are often cut finer than `mc` anyway, so
//! that every thread has blocks to take (module `driver`).
//!
//! The sizes and ways come from [`Caches::detect`](super::Caches::detect).

use super::Caches;

/// The shortest `kc` for which [`Blocks::for_caches_b_in_l1`] keeps the sliver of `B` in L1
/// instead of L2: half of its longest. Shorter, the more panels of `k` (each one more pass over
/// `C`) cost more than L1 saves (see the module's page).
pub const KC_IN_L1_FROM: usize = 512;

/// The block sizes of the driver's loops, usually from [`Blocks::for_caches`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocks {
    /// Depth of a panel: the steps of `k` one pass of the micro-kernel takes.
    pub kc: usize,
    /// Rows of `A` (and `C`) packed at once.
    pub mc: usize,
    /// Columns of `B` (and `C`) packed at once.
    pub nc: usize,
}

impl Blocks {
    /// No blocking: each loop takes its whole dimension (the `gemm-packed` stage).
    pub const WHOLE: Blocks = Blocks {
        kc: usize::MAX,
        mc: usize::MAX,
        nc: usize::MAX,
    };

    /// Blocks for a micro-kernel of `mr × nr` on `caches`, by the rules of the module's page:
    /// a `kc × nr` sliver of `B` in an eighth of L2, the `mc × kc` block of `A` in the ways of
    /// L2 that the sliver and one free way leave (at least one, at most half of L2's ways), the
    /// `kc × nc` panel of `B` in half of L3;
    /// `kc` a multiple of 8 from 64 to 1024, `mc` a multiple of `mr` and `nc` of `nr`, so that
    /// only the last block of each loop has a partial tile.
    ///
    /// ```
    /// use matmul_blas::gemm::{Blocks, Caches};
    ///
    /// // A Zen 3 core (two threads on its L2) and the AVX2 kernel's 6 × 16 tile.
    /// let zen3 = Caches {
    ///     l1: 32 << 10,
    ///     l2: 512 << 10,
    ///     l3: 32 << 20,
    ///     l1_ways: 8,
    ///     l2_ways: 8,
    ///     l2_shared_by: 2,
    /// };
    /// let blocks = Blocks::for_caches(zen3, 6, 16);
    /// assert_eq!(blocks.kc, 1024); // 1024 × 16 floats = 64 KiB: one of L2's 8 ways
    /// assert_eq!(blocks.mc, 60); // 4 of the 6 ways left (half of L2), in whole tiles of 6 rows
    /// assert!(blocks.nc % 16 == 0 && blocks.kc * blocks.nc * 4 <= 16 << 20);
    /// ```
    pub fn for_caches(caches: Caches, mr: usize, nr: usize) -> Blocks {
        Blocks::with_kc(caches, mr, nr, kc_in_l2(caches, nr))
    }

    /// [`Blocks::for_caches`], but with the sliver of `B` in L1 where L1 keeps one of at least
    /// [`KC_IN_L1_FROM`] steps: the ways of L1 that one free way and the sliver of `A`
    /// streaming past (`mr` floats a step to the sliver of `B`'s `nr`) leave it, Low et al.'s
    /// rule. For the kernels whose row of [`Isa::kernels`](crate::isa::Isa::kernels) asks for
    /// it (`gemm_kc_from_l1`).
    ///
    /// ```
    /// use matmul_blas::gemm::{Blocks, Caches};
    ///
    /// // An L1 of 48 KiB in 12 ways keeps a sliver of 512 steps of the 6 × 16 tile (32 KiB) in
    /// // 8 of its ways; an L1 of 32 KiB in 8 ways only one of 320 steps, too few.
    /// let xeon = Caches { l1: 48 << 10, l1_ways: 12, l2: 2 << 20, l2_ways: 16, ..Caches::DEFAULT };
    /// assert_eq!(Blocks::for_caches_b_in_l1(xeon, 6, 16).kc, 512);
    /// let zen3 = Caches { l1: 32 << 10, l1_ways: 8, l2: 512 << 10, l2_ways: 8, ..xeon };
    /// assert_eq!(Blocks::for_caches_b_in_l1(zen3, 6, 16), Blocks::for_caches(zen3, 6, 16));
    /// ```
    pub fn for_caches_b_in_l1(caches: Caches, mr: usize, nr: usize) -> Blocks {
        let in_l2 = kc_in_l2(caches, nr);
        let l1_way = caches.l1_way_bytes();
        let b_l1_ways = caches.l1_ways.saturating_sub(1) * nr / (nr + mr);
        let in_l1 = b_l1_ways * l1_way / (nr * size_of::<f32>()) / 8 * 8;
        let kc = if in_l1 >= KC_IN_L1_FROM {
            in_l1.min(in_l2)
        } else {
            in_l2
        };
        Blocks::with_kc(caches, mr, nr, kc)
    }

    /// `mc` and `nc` for panels of `kc` steps, by the rules of the module's page.
    fn with_kc(caches: Caches, mr: usize, nr: usize, kc: usize) -> Blocks {
        const FLOAT: usize = size_of::<f32>();
        let l2_way = caches.l2 / caches.l2_ways.max(1);
        let b_ways = (kc * nr * FLOAT).div_ceil(l2_way);
        let a_ways = caches
            .l2_ways
            .saturating_sub(b_ways + 1)
            .min(caches.l2_ways / 2)
            .max(1);
        let mc = (a_ways * l2_way / (kc * FLOAT) / mr * mr).max(mr);
        let nc = (caches.l3 / 2 / (kc * FLOAT) / nr * nr).max(nr);
        Blocks { kc, mc, nc }
    }
}

/// `kc` with a sliver of `B` (`nr` floats a step) in an eighth of L2: a multiple of 8 from 64
/// to 1024.
fn kc_in_l2(caches: Caches, nr: usize) -> usize {
    (caches.l2 / 8 / (nr * size_of::<f32>()) / 8 * 8).clamp(64, 1024)
}

/// Whether the rows of a block of `A` of `rows` rows, `pitch` bytes apart, spread over enough
/// sets of an L1 of `ways` ways of `way_bytes` each for the kernel to read them in place, in
/// slivers of `mr` rows: whether the lines of a sliver's rows in the set of its first row's line
/// take at most half of its ways, or, where `A` is shorter than one sliver, at most all of them.
///
/// A sliver of `A` read in place is `MR` rows, read one element of each row a step, so L1 must keep
/// a line of every row for the sixteen steps a line lasts. Rows a large power of two of bytes
/// apart share a few sets of L1 ([`rows_in_first_set`](crate::machine::rows_in_first_set)).
/// Those sets also serve the sliver of `B` streaming past, the tile of `C` and the lines on their
/// way, so `A`'s rows may take only half of their ways; with more, the rows evict each other's
/// lines before the kernel is done with them, and packing the block pays. (On the Intel Xeon this
/// was measured on, with 12 ways, four of the AVX-512 kernel's rows to a set read a little faster
/// in place than packed, and seven clearly slower.) The driver reads a block of `A` in place only
/// when its rows spread ([`Plan::in_place_l1`](super::Plan::in_place_l1)).
///
/// An `A` of fewer rows than a sliver (a few images through a layer whose inputs are a power of
/// two) is packed into one sliver of `MR` rows, the rest zeros. Its copy costs the same shuffles
/// per step as a whole sliver's, for fewer rows of work, and where `B` is narrow it is used for
/// few slivers of `B`. On the AMD Zen 4 this was measured on (an L1 of 8 ways), `A`s of 5 and of
/// 8 rows with `k` = 1024 or 2048 read in place ran a fifth to twice as fast as packed with a `B`
/// of 24 to 320 columns, on one core and on two, and as fast with 1000; with 11 rows, more in one
/// set than its ways, in place was faster on 24 and 64 columns and slower on 160. The AVX2
/// kernel's 5 rows (of 6) were faster in place from 16 to 128 columns. So such an `A`'s rows may
/// fill their set.
///
/// ```
/// use matmul_blas::gemm::rows_spread_over_l1;
///
/// // The AVX-512 kernel's 14 rows, on an L1 of 12 ways of 4 KiB.
/// let l1 = (4096, 12);
/// assert!(rows_spread_over_l1(14, 14, 256 * 4, l1)); // 4 sets: at most 4 rows in one
/// assert!(!rows_spread_over_l1(14, 14, 512 * 4, l1)); // 2 sets: 7 rows in each
/// assert!(!rows_spread_over_l1(100, 14, 512 * 4, l1)); // every sliver as the first
/// assert!(rows_spread_over_l1(14, 14, 520 * 4, l1)); // half a line more a row: 14 sets
/// assert!(rows_spread_over_l1(6, 6, 512 * 4, l1)); // the AVX2 kernel's 6 rows: 3 in each set
/// // An `A` of 8 rows, shorter than a sliver, 4 KiB apart: all in one set, within its 12 ways.
/// assert!(rows_spread_over_l1(8, 14, 1024 * 4, l1));
/// assert!(rows_spread_over_l1(8, 14, 1024 * 4, (4096, 8))); // 8 rows in a set of 8 ways
/// assert!(!rows_spread_over_l1(9, 14, 1024 * 4, (4096, 8))); // 9 rows in a set of 8 ways
/// ```
pub fn rows_spread_over_l1(
    rows: usize,
    mr: usize,
    pitch: usize,
    (way_bytes, ways): (usize, usize),
) -> bool {
    // A sliver's rows: `A`'s first `mr`, or all of a shorter `A`.
    let (short, rows) = (rows < mr, rows.min(mr));
    let lines = crate::machine::rows_in_first_set(rows, pitch, way_bytes);
    match short {
        true => lines <= ways,
        false => 2 * lines <= ways,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The caches of the machines this project has run on, and of a laptop.
    fn machines() -> [(&'static str, Caches); 5] {
        let caches = |l1: usize, l1_ways, l2: usize, l2_ways, l3: usize| Caches {
            l1: l1 << 10,
            l2: l2 << 10,
            l3: l3 << 20,
            l1_ways,
            l2_ways,
            l2_shared_by: 1,
        };
        [
            ("Zen 3", caches(32, 8, 512, 8, 32)),
            ("Zen 4", caches(32, 8, 1024, 8, 32)),
            ("Zen 5", caches(48, 12, 1024, 16, 32)),
            ("Xeon (Emerald Rapids)", caches(48, 12, 2048, 16, 260)),
            ("Apple M1 performance core", caches(128, 8, 12 << 10, 12, 8)),
        ]
    }

    #[test]
    fn blocks_fit_the_ways_they_are_given() {
        for (machine, caches) in machines() {
            type Rule = fn(Caches, usize, usize) -> Blocks;
            let rules: [(&str, Rule); 2] = [
                ("B in L2", Blocks::for_caches),
                ("B in L1", Blocks::for_caches_b_in_l1),
            ];
            for ((mr, nr), (rule, blocks)) in [(6, 16), (14, 32), (8, 12), (4, 8)]
                .into_iter()
                .flat_map(|tile| rules.map(|rule| (tile, rule)))
            {
                let Blocks { kc, mc, nc } = blocks(caches, mr, nr);
                let name = format!("{machine}, {mr} × {nr}, {rule}: kc {kc}, mc {mc}, nc {nc}");
                let l2_way = caches.l2 / caches.l2_ways;
                // The block of A and a sliver of B leave a way of L2 free.
                let ways = (mc * kc * 4).div_ceil(l2_way) + (kc * nr * 4).div_ceil(l2_way);
                assert!(ways < caches.l2_ways, "{name}: L2 ({ways} ways)");
                // At most half of L2's ways for A, and as tall as the ways it gets allow: one
                // more sliver of A would take another.
                let a_ways = (mc * kc * 4).div_ceil(l2_way);
                assert!(2 * a_ways <= caches.l2_ways, "{name}: A in {a_ways} ways");
                let b_ways = (kc * nr * 4).div_ceil(l2_way);
                let allowed = (caches.l2_ways - b_ways - 1).min(caches.l2_ways / 2).max(1);
                assert!(
                    (mc + mr) * kc * 4 > allowed * l2_way,
                    "{name}: room left for {mr} more rows"
                );
                assert!(
                    kc % 8 == 0 && mc % mr == 0 && nc % nr == 0,
                    "{name}: multiples"
                );
                assert!(kc * nc * 4 <= caches.l3 / 2, "{name}: L3");
            }
        }
    }

    #[test]
    fn the_block_of_a_takes_at_most_half_of_the_ways_of_l2() {
        // 2 MiB of L2 in 16 ways of 128 KiB: the sliver of B (1024 × 32 floats, 128 KiB)
        // takes one way and one is left free, which leaves 14; A gets half of the 16.
        let sixteen = Caches {
            l2: 2 << 20,
            l2_ways: 16,
            ..Caches::DEFAULT
        };
        assert_eq!(Blocks::for_caches(sixteen, 14, 32).mc, 252); // 8 ways: 256 rows, whole tiles
        // A 2-way L2 of 256 KiB (128 KiB ways): the sliver of B (32 KiB) takes one way and one
        // is left free, which leaves A nothing; it still gets one way.
        let two = Caches {
            l2: 256 << 10,
            l2_ways: 2,
            ..Caches::DEFAULT
        };
        let blocks = Blocks::for_caches(two, 6, 16);
        assert_eq!(blocks.kc, 512);
        assert_eq!(blocks.mc, 60); // 128 KiB / (512 · 4 bytes): 64 rows, 10 tiles of 6
    }
}
