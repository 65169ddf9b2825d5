//! The crate's own buffers: where they start (on a cache line's boundary, [`line_aligned`]),
//! the spares kept between products ([`take_buffer`], [`give_back`]), and the pages of a large
//! output ([`fresh_output`]).

use std::sync::Mutex;

use crate::prefetch::FLOATS_PER_LINE;

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

/// Buffers kept between products (the GEMM's packed blocks and panels, the streaming kernel's
/// `bᵀ`), up to [`KEEP_UP_TO`] bytes each: a fresh allocation of a few hundred kilobytes is a fresh
/// mapping from the operating system, and touching it costs a page fault per 4 KiB; a smaller one
/// still costs the allocator's time, and the zeros [`line_aligned`] grows it with.
static SPARE_BUFFERS: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// How many spare buffers to keep: two per thread covers a product on 8 cores.
const SPARES: usize = 16;

/// A buffer from the spares (holding whatever its last user left in it), or a new one.
pub(crate) fn take_buffer() -> Vec<f32> {
    let spares = SPARE_BUFFERS.lock();
    spares
        .map_or(None, |mut spares| spares.pop())
        .unwrap_or_default()
}

/// Gives `buffer` back for a later product to reuse, unless it is larger than [`KEEP_UP_TO`]
/// (then it is freed).
pub(crate) fn give_back(buffer: Vec<f32>) {
    if buffer.capacity() * size_of::<f32>() > KEEP_UP_TO {
        return;
    }
    if let Ok(mut spares) = SPARE_BUFFERS.lock()
        && spares.len() < SPARES
    {
        spares.push(buffer);
    }
}

/// Bytes above which a buffer is not kept: the spares stay with the process until it ends, so
/// one that large is freed rather than held for a later product that may never come. (Such a
/// product, with a panel of `B` or a `bᵀ` that large, then pays the page faults of a fresh
/// one: of the order of what reading it once from memory costs.)
const KEEP_UP_TO: usize = 64 << 20;

/// `array`, a new output not yet written (`Array2::uninit`, or `Array2::zeros`, whose large
/// allocations are fresh pages that the system zeroes as they are first written), with the
/// system asked to back it by huge pages if it is [`HUGE_PAGES_FROM`] bytes or more.
///
/// Every 4 KiB page of a fresh allocation costs a page fault on its first write: the system
/// stops the thread, zeroes the page and maps it. An allocator reuses a freed block of up to
/// some size (glibc's: up to 32 MiB, once one has been freed), already mapped; a larger one is
/// a fresh mapping each time, and an output of `3000 × 3000` floats, 36 MB, costs 9,000 faults,
/// in the kernels' stores. On the Intel Xeon this was measured on, they took about twice as
/// long as computing `(3000, 64) @ (64, 3000)` itself. Linux's transparent huge pages map 2 MiB
/// at a fault, where the system offers them for memory that asks (`madvise`, the usual setting,
/// or `always`): eighteen faults, and the zeroing in large runs. NumPy asks the same for its
/// arrays from 4 MiB. Elsewhere, or with huge pages off, this does nothing.
pub(crate) fn fresh_output<A>(array: ndarray::Array2<A>) -> ndarray::Array2<A> {
    #[cfg(target_os = "linux")]
    {
        let bytes = array.len().saturating_mul(size_of::<A>());
        if bytes >= HUGE_PAGES_FROM {
            // SAFETY: `sysconf` reads a constant of the system.
            let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(0);
            let start = array.as_ptr().addr();
            if let Some(skip) = page.checked_sub(1).map(|mask| start.wrapping_neg() & mask) {
                let pages = bytes.saturating_sub(skip) / page * page;
                // SAFETY: the whole pages inside the array's own allocation, which it holds;
                // `MADV_HUGEPAGE` changes neither their contents nor who may access them, only
                // how the system maps them. What it returns does not matter: a system without
                // huge pages leaves them as they are.
                unsafe {
                    let first = array.as_ptr().cast::<u8>().wrapping_add(skip);
                    libc::madvise(first.cast_mut().cast(), pages, libc::MADV_HUGEPAGE);
                }
            }
        }
    }
    array
}

/// Bytes of an output from which [`fresh_output`] asks for huge pages: NumPy's threshold.
/// Below, an output takes a few hundred pages at most, and is usually a reused block anyway.
// Only Linux asks (the tests use it everywhere).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) const HUGE_PAGES_FROM: usize = 4 << 20;

#[cfg(test)]
mod tests {
    use super::{HUGE_PAGES_FROM, floats_to_line, fresh_output, line_aligned};

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

    #[test]
    fn a_fresh_output_keeps_its_shape_and_its_zeros() {
        // Below the threshold, at it, and above it by an odd number of floats, so that the
        // pages asked for stop inside the array.
        let floats = HUGE_PAGES_FROM / size_of::<f32>();
        for (m, n) in [(3, 5), (floats / 1024, 1024), (1001, floats / 1000 + 3)] {
            let zeros = fresh_output(ndarray::Array2::<f32>::zeros((m, n)));
            assert_eq!(zeros.dim(), (m, n));
            assert!(zeros.iter().all(|&x| x == 0.0), "({m}, {n})");
            let mut written = fresh_output(ndarray::Array2::<f32>::uninit((m, n)));
            written.fill(std::mem::MaybeUninit::new(1.5));
            // SAFETY: every element was just written.
            let written = unsafe { written.assume_init() };
            assert!(written.iter().all(|&x| x == 1.5), "({m}, {n})");
        }
    }
}
