//! The plain-Rust micro-kernels of [`Portable`](super::portable::Portable), compiled with AVX2
//! and FMA enabled: the same source, 8 lanes per register, and fused multiply-adds (`FUSED`).

use super::kernel::{COLUMNS_PER_PASS, COLUMNS_PER_ROW, Kernel};
use super::portable;
use crate::isa::Isa;

/// The AVX2 + FMA kernel. Only [`Avx2::new`] makes one, on a CPU that has both.
#[derive(Clone, Copy, Debug)]
pub(super) struct Avx2(());

impl Avx2 {
    /// The kernel, when this CPU supports AVX2 and FMA.
    pub(super) fn new() -> Option<Avx2> {
        let supported = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        supported.then_some(Avx2(()))
    }
}

impl Kernel for Avx2 {
    // The portable kernel's shape, which is an AVX2 one (see `Portable`).
    const LANES: usize = Isa::Avx2.kernels().lanes;
    const DOT_ROWS: usize = Isa::Avx2.kernels().dot_rows;
    const SCALE_ROWS: usize = Isa::Avx2.kernels().scale_rows;

    fn dot_columns<const ROWS: usize>(
        self,
        rows: &[f32],
        k: usize,
        bt: &[f32],
        kp: usize,
        ahead: &[f32],
    ) -> [[f32; COLUMNS_PER_PASS]; ROWS] {
        // SAFETY: `self` exists, so `Avx2::new` saw AVX2 and FMA on this CPU.
        unsafe { dot_columns::<ROWS>(rows, k, bt, kp, ahead) }
    }

    fn scale_rows<const ROWS: usize>(
        self,
        rows: &[f32],
        k: usize,
        b: &[f32],
        ldb: usize,
        nc: usize,
    ) -> [[f32; COLUMNS_PER_ROW]; ROWS] {
        // SAFETY: as above.
        unsafe { scale_rows::<ROWS>(rows, k, b, ldb, nc) }
    }
}

/// [`portable::dot_columns`] with AVX2 and FMA, 8 lanes.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_columns<const ROWS: usize>(
    rows: &[f32],
    k: usize,
    bt: &[f32],
    kp: usize,
    ahead: &[f32],
) -> [[f32; COLUMNS_PER_PASS]; ROWS] {
    portable::dot_columns::<ROWS, { Avx2::LANES }, true>(rows, k, bt, kp, ahead)
}

/// [`portable::scale_rows`] with AVX2 and FMA.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn scale_rows<const ROWS: usize>(
    rows: &[f32],
    k: usize,
    b: &[f32],
    ldb: usize,
    nc: usize,
) -> [[f32; COLUMNS_PER_ROW]; ROWS] {
    portable::scale_rows::<ROWS, true>(rows, k, b, ldb, nc)
}
