//! Cache blocking: how much of `A` and `B` each loop level keeps, sized from the caches.
//!
//! The driver's loops, outermost first, and what each keeps in which cache (Goto & van de
//! Geijn; BLIS names the sizes `kc`, `mc`, `nc`):
//!
//! ```text
//! for jc in steps of nc:             a kc × nc panel of B, packed   → L3
//!   for pc in steps of kc:
//!     for ic in steps of mc:         an mc × kc block of A, packed  → L2
//!       for jr in steps of NR:       a kc × NR sliver of B          → L1
//!         for ir in steps of MR:     an MR × kc sliver of A, streamed from L2
//!           micro-kernel: MR × NR tile of C in registers
//! ```
//!
//! The sliver of `B` is read once per sliver of `A`, so it should stay in L1 for the whole
//! `ir` loop: `kc · NR · 4` bytes take three quarters of L1, leaving the rest to the slivers of
//! `A` passing through. The block of `A` is read once per sliver of `B`: `mc · kc · 4` bytes
//! take three quarters of L2. The panel of `B` is read once per block of `A`: `kc · nc · 4`
//! bytes take half of L3, which the other cores share. The cache sizes come from
//! [`Caches::detect`](super::Caches::detect).

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

    /// Blocks for a micro-kernel of `mr × nr` on `caches`: a `kc × nr` sliver of `B` in three
    /// quarters of L1, an `mc × kc` block of `A` in three quarters of L2, a `kc × nc` panel of
    /// `B` in half of L3; `kc` a multiple of 8, `mc` of `mr` and `nc` of `nr`, so only the last
    /// block of each loop has a partial tile.
    ///
    /// ```
    /// use matmul_blas::gemm::{Blocks, Caches};
    ///
    /// let caches = Caches { l1: 32 << 10, l2: 1 << 20, l3: 32 << 20 };
    /// let blocks = Blocks::for_caches(caches, 14, 32);
    /// assert_eq!(blocks.kc, 192); // 192 × 32 floats = 24 KiB, three quarters of L1
    /// assert!(blocks.mc % 14 == 0 && blocks.mc * blocks.kc * 4 <= 3 << 18);
    /// assert!(blocks.nc % 32 == 0 && blocks.kc * blocks.nc * 4 <= 16 << 20);
    /// ```
    pub fn for_caches(caches: Caches, mr: usize, nr: usize) -> Blocks {
        const FLOAT: usize = size_of::<f32>();
        let kc = (caches.l1 * 3 / 4 / (nr * FLOAT)) / 8 * 8;
        let kc = kc.clamp(16, 1024);
        let mc = (caches.l2 * 3 / 4 / (kc * FLOAT) / mr * mr).max(mr);
        let nc = (caches.l3 / 2 / (kc * FLOAT) / nr * nr).max(nr);
        Blocks { kc, mc, nc }
    }
}
