//! Software prefetch: asking the memory system for a cache line before the code loads it.
//!
//! A hint, on both architectures that have one here: the instruction never faults, whatever the
//! address, and has no visible effect besides time. On other architectures it does nothing.
//!
//! Also where the crate's own buffers start: on a line's boundary ([`line_aligned`]).

/// `f32` in one 64-byte cache line: the step at which callers ask for a range. (Apple's cores
/// have 128-byte lines; asking twice for one line costs a hint, not a load.)
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

/// The first `len` floats of `buffer` from its first cache-line boundary, growing `buffer` with
/// zeros as needed (what it held before is left as it was).
///
/// The kernels load packed operands in whole vectors: a step of a sliver of `B` (16 floats for
/// AVX2, 32 for AVX-512), 16 floats of a packed column of `bᵀ`. From a line's boundary each is
/// one or two whole lines; from the 16-byte boundary the allocator usually gives, every 64-byte
/// load would straddle two lines, which costs it a second access to L1.
pub(crate) fn line_aligned(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len + FLOATS_PER_LINE {
        buffer.resize(len + FLOATS_PER_LINE, 0.0);
    }
    let start = floats_to_line(buffer.as_ptr().addr());
    &mut buffer[start..start + len]
}

/// Floats from a float at `address` to the first cache-line boundary at or after it: whole
/// floats, since a float's address is a multiple of 4.
fn floats_to_line(address: usize) -> usize {
    const LINE: usize = FLOATS_PER_LINE * size_of::<f32>();
    (LINE - address % LINE) % LINE / size_of::<f32>()
}

#[cfg(test)]
mod tests {
    use super::{floats_to_line, line_aligned};

    #[test]
    fn line_aligned_space_starts_on_a_cache_line() {
        assert_eq!(floats_to_line(0x1000), 0);
        assert_eq!(floats_to_line(0x1004), 15);
        assert_eq!(floats_to_line(0x1010), 12); // the allocator's usual 16 bytes past a line
        assert_eq!(floats_to_line(0x103c), 1);
        assert_eq!(floats_to_line(0x1040), 0);
        for len in [0, 1, 16, 17, 1000] {
            // A buffer that is empty, too short, or long enough already.
            for mut buffer in [Vec::new(), vec![1.0f32; 3], vec![1.0f32; 2000]] {
                let space = line_aligned(&mut buffer, len);
                assert_eq!(space.len(), len);
                assert_eq!(space.as_ptr().addr() % 64, 0, "{len} floats");
            }
        }
    }
}
