//! The crate's own buffers: where they start (on a cache line's boundary, [`line_aligned`]),
//! the spares kept between products ([`take_buffer`], [`give_back`]), and the pages of a large
//! output ([`zeroed_output`], [`uninit_output`]).

use std::mem::MaybeUninit;
use std::sync::Mutex;

use ndarray::Array2;

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

/// A new `(m, n)` output of zeros, which large products ask for huge pages
/// ([`advise_huge_pages`]). Its allocation, when large, is fresh pages that the system zeroes
/// as they are first written, so the zeros cost no pass of their own.
pub(crate) fn zeroed_output(m: usize, n: usize) -> Array2<f32> {
    let c = Array2::<f32>::zeros((m, n));
    advise_huge_pages(c.as_ptr().cast(), c.len() * size_of::<f32>());
    c
}

/// A new `(m, n)` output, not yet written, asked for huge pages as [`zeroed_output`] is.
pub(crate) fn uninit_output(m: usize, n: usize) -> Array2<MaybeUninit<f32>> {
    let c = Array2::uninit((m, n));
    advise_huge_pages(c.as_ptr().cast(), c.len() * size_of::<f32>());
    c
}

/// Asks the system to back the `bytes` bytes from `start`, a new allocation not yet written,
/// by huge pages, if they are [`HUGE_PAGES_FROM`] bytes or more; whether it took the advice.
///
/// Every page of a new allocation (4 KiB on most systems) costs a page fault on its first
/// write: the system stops the thread, zeroes the page and maps it. An allocator reuses a
/// freed block up to some size (glibc's: up to 32 MiB, once one that large has been freed),
/// mapped already; a larger one is a fresh mapping each time, and an output of
/// `3000 × 3000` floats, 36 MB, costs 9,000 faults, in the kernels' stores. On the Intel Xeon
/// this was measured on, they took about twice as long as computing `(3000, 64) @ (64, 3000)`
/// itself. Linux's transparent huge pages map many pages at one fault (2 MiB on x86-64) where
/// the system offers them to memory that asks (`madvise` mode, a common default, or
/// `always`): eighteen faults for that output, and the zeroing in long runs. NumPy asks the
/// same for its arrays from 4 MiB. A block the allocator reuses keeps the advice, harmlessly:
/// the later outputs it serves have the huge pages too. Elsewhere than Linux, or with huge
/// pages off, this does nothing.
///
/// `start..start + bytes` must lie inside one allocation the caller holds: only its whole pages
/// are asked for ([`huge_page_range`]), and asking changes neither their contents nor who may
/// access them.
pub(crate) fn advise_huge_pages(start: *const u8, bytes: usize) -> bool {
    #[cfg(target_os = "linux")]
    if bytes >= HUGE_PAGES_FROM {
        // SAFETY: `sysconf` only reads a setting of the system.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(0);
        if let Some((skip, len)) = huge_page_range(start.addr(), bytes, page) {
            // SAFETY: whole pages inside `start..start + bytes`, which the caller holds;
            // `MADV_HUGEPAGE` changes neither their contents nor who may access them, only how
            // the system maps them.
            return unsafe {
                libc::madvise(
                    start.wrapping_add(skip).cast_mut().cast(),
                    len,
                    libc::MADV_HUGEPAGE,
                )
            } == 0;
        }
    }
    let _ = (start, bytes);
    false
}

/// The whole pages of `page` bytes inside `start..start + bytes`: how far after `start` the
/// first begins, and how many bytes they cover (`None`: not one whole page, or no page size).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn huge_page_range(start: usize, bytes: usize, page: usize) -> Option<(usize, usize)> {
    if !page.is_power_of_two() {
        return None;
    }
    let skip = start.wrapping_neg() & (page - 1);
    let len = bytes.checked_sub(skip)? / page * page;
    (len > 0).then_some((skip, len))
}

/// Bytes of an output from which [`advise_huge_pages`] asks: NumPy's threshold. A smaller one
/// is at most a thousand pages of 4 KiB, and usually a block the allocator reuses anyway.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) const HUGE_PAGES_FROM: usize = 4 << 20;

#[cfg(test)]
mod tests {
    use super::*;

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
    fn only_whole_pages_inside_the_range_are_asked_for() {
        let page = 4096;
        // From a page's start: every whole page; from 16 bytes past one (the allocator's
        // usual start), from the next page on, and not the partial one at the end.
        assert_eq!(
            huge_page_range(0x10000, 5 * page, page),
            Some((0, 5 * page))
        );
        assert_eq!(
            huge_page_range(0x10010, 5 * page, page),
            Some((page - 16, 4 * page))
        );
        assert_eq!(huge_page_range(0x10010, page + 15, page), None);
        assert_eq!(huge_page_range(0x10010, 8, page), None);
        // No page size, or a nonsensical one.
        assert_eq!(huge_page_range(0x10000, 5 * page, 0), None);
        assert_eq!(huge_page_range(0x10000, 5 * page, 3000), None);
    }

    #[test]
    fn new_outputs_keep_their_shape_and_their_zeros() {
        // Below the threshold, at it, and above it by a few floats, so that the pages asked for
        // stop inside the array.
        let floats = HUGE_PAGES_FROM / size_of::<f32>();
        for (m, n) in [(3, 5), (floats / 1024, 1024), (1001, floats / 1000 + 3)] {
            let zeros = zeroed_output(m, n);
            assert_eq!(zeros.dim(), (m, n));
            assert!(zeros.iter().all(|&x| x == 0.0), "({m}, {n})");
            let mut written = uninit_output(m, n);
            assert_eq!(written.dim(), (m, n));
            written.fill(std::mem::MaybeUninit::new(1.5));
            // SAFETY: every element was just written.
            let written = unsafe { written.assume_init() };
            assert!(written.iter().all(|&x| x == 1.5), "({m}, {n})");
        }
    }

    /// Where Linux has transparent huge pages, a large output's mapping is marked for them
    /// (`hg` among its flags in `/proc/self/smaps`), and a small one's is not asked for. (Not
    /// under an emulator of another architecture, which may ignore the advice: x86-64 only.)
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn a_large_output_is_marked_for_huge_pages() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
            return; // a kernel built without them
        }
        let floats = HUGE_PAGES_FROM / size_of::<f32>();
        let small = zeroed_output(4, 4);
        assert!(!advise_huge_pages(small.as_ptr().cast(), 64));
        let large = uninit_output(floats / 1000 + 1, 1000);
        // A byte in the middle: the partial pages at either end are not asked for.
        let middle = large.as_ptr().addr() + large.len() * size_of::<f32>() / 2;
        // The advice itself, again on the same range, and what the system recorded.
        assert!(advise_huge_pages(
            large.as_ptr().cast(),
            large.len() * size_of::<f32>()
        ));
        let flags = mapping_flags(middle).expect("the output is mapped");
        assert!(
            flags.split_whitespace().any(|f| f == "hg"),
            "flags: {flags}"
        );
    }

    /// The `VmFlags` line of the mapping holding `address`, from `/proc/self/smaps`.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    fn mapping_flags(address: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let range = line
                .split_whitespace()
                .next()
                .and_then(|r| r.split_once('-'));
            let bounds = range.and_then(|(a, b)| {
                Some((
                    usize::from_str_radix(a, 16).ok()?,
                    usize::from_str_radix(b, 16).ok()?,
                ))
            });
            if let Some((from, to)) = bounds {
                inside = (from..to).contains(&address);
            } else if inside && let Some(flags) = line.strip_prefix("VmFlags:") {
                return Some(flags.to_owned());
            }
        }
        None
    }
}
