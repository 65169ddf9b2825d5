//! Cache blocking: how much of `A` and `B` each loop level keeps, sized from the caches.
//!
//! The driver's loops, outermost first, and what each keeps in which cache (Goto & van de
//! Geijn; BLIS names the sizes `kc`, `mc`, `nc`):
//!
//! ```text
//! for jc in steps of nc:             a kc × nc panel of B, packed once, shared → L3
//!   for pc in steps of kc:
//!     for ic in steps of mc:         an mc × kc block of A, packed            → L2
//!       for jr in steps of NR:       a kc × NR sliver of B                    → L2
//!         for ir in steps of MR:     an MR × kc sliver of A, streamed through L1
//!           micro-kernel: MR × NR tile of C in registers
//! ```
//!
//! The blocks of `ic` are what the threads share out (module `driver`).
//!
//! The textbook sizes put the `kc × NR` sliver of `B` in L1 and the `mc × kc` block of `A` in
//! L2. On cores whose L2 feeds the kernel as fast as it computes (per step it needs
//! `(MR + NR) · 4` = 184 bytes for 28 FMAs, a fraction of what L2 delivers per cycle), a longer
//! `kc` pays more: every call of the kernel loads and stores its tile of `C` once, so `kc`
//! steps of arithmetic pay for 28 cache lines of `C` twice, and the fewer passes over `k`, the
//! fewer passes over all of `C`. So here both slivers live in L2:
//!
//! - `kc`: a sliver of `B` (`kc · NR · 4` bytes) takes an eighth of L2 — 1024 steps for a
//!   32-column sliver in 1 MiB;
//! - `mc`: a block of `A` (`mc · kc · 4` bytes) takes a quarter of L2, so it and the sliver of
//!   `B` stay there while each is reused;
//! - `nc`: the panel of `B` (`kc · nc · 4` bytes) takes half of L3, which the cores share.
//!
//! The cache sizes come from [`Caches::detect`](super::Caches::detect).

use super::Caches;

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

    /// Blocks for a micro-kernel of `mr × nr` on `caches`: a `kc × nr` sliver of `B` in an
    /// eighth of L2, an `mc × kc` block of `A` in a quarter of L2, a `kc × nc` panel of `B` in
    /// half of L3; `kc` a multiple of 8 from 64 to 1024, `mc` a multiple of `mr` and `nc` of
    /// `nr`, so only the last block of each loop has a partial tile.
    ///
    /// ```
    /// use matmul_blas::gemm::{Blocks, Caches};
    ///
    /// let caches = Caches { l1: 48 << 10, l2: 1 << 20, l3: 32 << 20 };
    /// let blocks = Blocks::for_caches(caches, 14, 32);
    /// assert_eq!(blocks.kc, 1024); // 1024 × 32 floats = 128 KiB, an eighth of L2
    /// assert_eq!(blocks.mc, 56); // 56 × 1024 floats = 224 KiB, under a quarter of L2
    /// assert!(blocks.nc % 32 == 0 && blocks.kc * blocks.nc * 4 <= 16 << 20);
    /// ```
    pub fn for_caches(caches: Caches, mr: usize, nr: usize) -> Blocks {
        const FLOAT: usize = size_of::<f32>();
        let kc = (caches.l2 / 8 / (nr * FLOAT) / 8 * 8).clamp(64, 1024);
        let mc = (caches.l2 / 4 / (kc * FLOAT) / mr * mr).max(mr);
        let nc = (caches.l3 / 2 / (kc * FLOAT) / nr * nr).max(nr);
        Blocks { kc, mc, nc }
    }
}
