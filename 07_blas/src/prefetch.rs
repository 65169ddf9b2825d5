//! Software prefetch: asking the memory system for a cache line before the code loads it.
//!
//! A hint, on both architectures that have one here: the instruction never faults, whatever the
//! address, and has no visible effect besides time. On other architectures it does nothing.

/// `f32` in one 64-byte cache line: the step at which callers ask for a range, and the
/// boundary the crate's buffers start on (module `buffers`). (Apple's cores have 128-byte
/// lines; asking twice for one line costs a hint, not a load.)
pub(crate) const FLOATS_PER_LINE: usize = 64 / size_of::<f32>();

/// Asks for the cache line holding `address` to be brought into L2 (x86-64 `prefetcht1`, ARM64
/// `prfm pldl2keep`): far enough ahead that L2, which can track many more outstanding misses
/// than L1, keeps the data coming.
#[inline(always)]
pub(crate) fn to_l2<T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
        // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 CPU has; a prefetch never
        // faults and has no visible effect.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(address.cast()) };
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `prfm` is part of the ARM64 base instruction set; it never faults and writes
    // nothing (not even the flags).
    unsafe {
        std::arch::asm!(
            "prfm pldl2keep, [{address}]",
            address = in(reg) address,
            options(nostack, preserves_flags, readonly)
        );
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = address;
}

/// Asks for the cache line holding `address` to be brought into L1 (x86-64 `prefetcht0`, ARM64
/// `prfm pldl1keep`): for data the code is about to read.
#[inline(always)]
pub(crate) fn to_l1<T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: as in `to_l2`.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(address.cast()) };
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as in `to_l2`.
    unsafe {
        std::arch::asm!(
            "prfm pldl1keep, [{address}]",
            address = in(reg) address,
            options(nostack, preserves_flags, readonly)
        );
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = address;
}

/// Where a run of floats starts, for [`ask_for_run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// One of a series of runs, each starting right where the one before ended, the first on a
    /// line's boundary: one hint per 64 bytes from each start reaches every line but,
    /// perhaps, the last of the series (a run that ends inside a line leaves that line to the
    /// next run, which starts inside it).
    Adjoining,
    /// Anywhere, even inside a line: the run may end in one line more than its length spans
    /// (32 floats span two lines from a line's boundary, three from inside one), which a hint
    /// at its last float asks for.
    Anywhere,
}

/// Asks, with `hint` ([`to_l1`] or [`to_l2`]), for the cache lines of the `len` floats from
/// `start`: one hint per 64 bytes, and one more at the last float when the run may start
/// inside a line ([`Start::Anywhere`]). A hint, as [`to_l1`] and [`to_l2`] are: `start` may
/// point anywhere, and nothing is read.
///
/// With `len` and `from` constants where the kernels call it, the loop unrolls into a few
/// bare prefetches, with no branch.
#[inline(always)]
pub(crate) fn ask_for_run(start: *const f32, len: usize, from: Start, hint: impl Fn(*const f32)) {
    for line in 0..len.div_ceil(FLOATS_PER_LINE) {
        hint(start.wrapping_add(line * FLOATS_PER_LINE));
    }
    if from == Start::Anywhere && len > 0 {
        hint(start.wrapping_add(len - 1));
    }
}
