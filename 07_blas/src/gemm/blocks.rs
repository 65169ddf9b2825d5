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
//! The sliver of `B` is read once per sliver of `A`, so it must stay in L1 for the whole `ir`
//! loop: `kc · NR · 4` bytes take half of L1, leaving the other half to the slivers of `A`
//! passing through. The block of `A` is read once per sliver of `B`: `mc · kc · 4` bytes take
//! half of L2. The panel of `B` is read once per block of `A`: `kc · nc · 4` bytes take half of
//! L3, which the other cores share.

use std::sync::OnceLock;

/// The data cache sizes of one core, in bytes (L3: the whole shared cache).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caches {
    /// Level 1 data cache.
    pub l1: usize,
    /// Level 2 cache.
    pub l2: usize,
    /// Level 3 cache.
    pub l3: usize,
}

impl Caches {
    /// What [`Caches::detect`] assumes for a level it cannot read: 32 KiB of L1, 512 KiB of
    /// L2, 8 MiB of L3 — on the small side of current x86-64 and Arm cores, so the blocks fit.
    pub const DEFAULT: Caches = Caches {
        l1: 32 << 10,
        l2: 512 << 10,
        l3: 8 << 20,
    };

    /// The caches of the first CPU as the operating system reports them (on Linux,
    /// `/sys/devices/system/cpu/cpu0/cache`), with [`Caches::DEFAULT`] for any level it does
    /// not report. Read once per process.
    pub fn detect() -> Caches {
        static DETECTED: OnceLock<Caches> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            let mut caches = Caches::DEFAULT;
            for index in 0..8 {
                let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{index}");
                let read = |name: &str| std::fs::read_to_string(format!("{dir}/{name}"));
                let (Ok(level), Ok(kind), Ok(size)) = (read("level"), read("type"), read("size"))
                else {
                    continue;
                };
                let Some(bytes) = parse_size(size.trim()) else {
                    continue;
                };
                match (level.trim(), kind.trim()) {
                    ("1", "Data") => caches.l1 = bytes,
                    ("2", "Unified" | "Data") => caches.l2 = bytes,
                    ("3", "Unified" | "Data") => caches.l3 = bytes,
                    _ => {}
                }
            }
            caches
        })
    }
}

/// `"48K"`, `"1024K"`, `"32M"` or a plain number of bytes.
fn parse_size(text: &str) -> Option<usize> {
    let (digits, unit) = match text.strip_suffix(['K', 'M', 'G']) {
        Some(digits) => (digits, &text[digits.len()..]),
        None => (text, ""),
    };
    let value: usize = digits.parse().ok()?;
    let shift = match unit {
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => 0,
    };
    value.checked_mul(1 << shift)
}

/// The block sizes of the driver's loops (see the [module page](self)).
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

    /// Blocks for a micro-kernel of `mr × nr` on `caches`: a `kc × nr` sliver of `B` in half
    /// of L1, an `mc × kc` block of `A` in half of L2, a `kc × nc` panel of `B` in half of
    /// L3; `mc` a multiple of `mr` and `nc` of `nr`, so only the last block has a partial tile.
    ///
    /// ```
    /// use matmul_blas::gemm::{Blocks, Caches};
    ///
    /// let caches = Caches { l1: 32 << 10, l2: 1 << 20, l3: 32 << 20 };
    /// let blocks = Blocks::for_caches(caches, 14, 32);
    /// assert_eq!(blocks.kc, 128); // 128 × 32 floats = 16 KiB, half of L1
    /// assert!(blocks.mc % 14 == 0 && blocks.mc * blocks.kc * 4 <= 1 << 19);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_sysfs_writes_them() {
        assert_eq!(parse_size("48K"), Some(48 << 10));
        assert_eq!(parse_size("32M"), Some(32 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("K"), None);
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn detected_caches_are_at_least_plausible() {
        let caches = Caches::detect();
        assert!(caches.l1 >= 4 << 10 && caches.l2 >= caches.l1 && caches.l3 >= 1 << 20);
    }
}
