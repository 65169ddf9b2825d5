//! What this machine is, as far as the kernels care: its cache sizes and its CPU's name, asked
//! of the operating system — Linux (sysfs, `/proc/cpuinfo`), macOS (`sysctl`) and Windows
//! (`GetLogicalProcessorInformation`) — with stated defaults for whatever it does not say.
//! The instruction set is the other fact, in [`crate::isa`].

use std::sync::OnceLock;
#[cfg(target_arch = "x86_64")]
use std::time::{Duration, Instant};

/// The data caches of one core: sizes in bytes (L3: the whole shared cache), the
/// associativity of L1 and L2, and how many hardware threads share an L2.
///
/// A cache of `W` ways has sets of `W` lines: each address belongs to one set and may use any
/// of its `W` lines, so data that should stay must take no more than `W` lines of any set, and
/// a contiguous buffer of `size / W` bytes takes one line of every set. The GEMM's blocks are
/// sized in ways, not in bytes ([`Blocks::for_caches`](crate::gemm::Blocks::for_caches)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caches {
    /// Level 1 data cache.
    pub l1: usize,
    /// Level 2 cache.
    pub l2: usize,
    /// Level 3 cache.
    pub l3: usize,
    /// Ways of associativity of L1: how many lines each set holds.
    pub l1_ways: usize,
    /// Ways of associativity of L2.
    pub l2_ways: usize,
    /// Hardware threads (logical CPUs) that share one L2, the most of any L2 on the machine:
    /// 1 where each has an L2 of its own, 2 where a core runs two threads (SMT), more where a
    /// cluster of cores shares one (Apple's, and Intel's efficiency cores). Data that each
    /// thread keeps in "its" L2 gets a share of it, not the whole.
    pub l2_shared_by: usize,
}

/// The caches as [`Caches::detection`] found them: the sizes, and which of them the operating
/// system reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetectedCaches {
    /// The sizes used: the reported ones, [`Caches::DEFAULT`]'s for the others.
    pub caches: Caches,
    /// Whether the operating system reported L1, L2 and L3 (in that order).
    pub reported: [bool; 3],
    /// Whether it reported the ways of L1 and L2.
    pub reported_ways: [bool; 2],
    /// Whether it reported how many hardware threads share an L2.
    pub reported_sharing: bool,
    /// Where the reported sizes came from (`"sysfs"`, `"sysctl"`, `"Windows"`), or `"none"`.
    pub source: &'static str,
}

impl Caches {
    /// What [`Caches::detect`] assumes for what it cannot read: 32 KiB of L1, 512 KiB of L2,
    /// 8 MiB of L3, 8 ways each for L1 and L2 — on the small side of current x86-64 and ARM64
    /// cores, so the blocks fit — and an L2 shared by two threads, as on a core that runs two.
    /// (macOS reports no associativity: Apple's cores have 8-way L1 data caches.)
    pub const DEFAULT: Caches = Caches {
        l1: 32 << 10,
        l2: 512 << 10,
        l3: 8 << 20,
        l1_ways: 8,
        l2_ways: 8,
        l2_shared_by: 2,
    };

    /// How many of `rows` rows of a matrix, `pitch` bytes apart, have a line in the set of L1
    /// that the first row's line is in, for the same column of each: the lines a kernel that
    /// reads those rows side by side keeps in that set ([`rows_in_first_set`]).
    ///
    /// ```
    /// use matmul_blas::machine::Caches;
    ///
    /// let zen4 = Caches { l1: 32 << 10, l1_ways: 8, ..Caches::DEFAULT }; // 8 ways of 4 KiB
    /// assert_eq!(zen4.rows_in_first_l1_set(16, 1024 * 4), 16); // 4 KiB apart: one set
    /// assert_eq!(zen4.rows_in_first_l1_set(16, 1000 * 4), 1); // 96 bytes short of it: spread
    /// ```
    pub fn rows_in_first_l1_set(&self, rows: usize, pitch: usize) -> usize {
        rows_in_first_set(rows, pitch, self.l1_way_bytes())
    }

    /// Bytes of one way of L1 (its size over its ways): addresses that many bytes apart fall in
    /// the same set.
    pub fn l1_way_bytes(&self) -> usize {
        self.l1 / self.l1_ways.max(1)
    }

    /// The caches of the first CPU (on Apple Silicon, of a performance core), with
    /// [`Caches::DEFAULT`] for any level the operating system does not report. Read once per
    /// process.
    pub fn detect() -> Caches {
        Caches::detection().caches
    }

    /// [`Caches::detect`], saying which sizes were reported and which are defaults.
    pub fn detection() -> DetectedCaches {
        static DETECTED: OnceLock<DetectedCaches> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            let reported = os::caches();
            DetectedCaches::from_levels(reported.source, reported.levels, reported.ways)
                .with_l2_shared_by(reported.l2_shared_by)
        })
    }
}

/// How many of `rows` rows of a matrix, `pitch` bytes apart, have a line in the set that the
/// first row's line is in, in a cache whose ways are `way_bytes` bytes each (its size over its
/// ways); rows less than a line apart that share a line count once.
///
/// Two addresses a multiple of `way_bytes` apart fall in the same set, so rows a large power of
/// two of bytes apart share a few sets, and a kernel that reads several of them side by side
/// keeps that many lines in one set: more than it has ways, and they evict each other. When the
/// pitch is a whole number of lines, no set holds more of the rows than the first row's does;
/// otherwise that set stands for the others.
///
/// ```
/// use matmul_blas::machine::rows_in_first_set;
///
/// let way = 4096; // 32 KiB in 8 ways, or 48 KiB in 12
/// assert_eq!(rows_in_first_set(14, 512 * 4, way), 7); // 2 sets: 7 rows in each
/// assert_eq!(rows_in_first_set(14, 513 * 4, way), 7); // 4 bytes more a row: the same 2 sets
/// assert_eq!(rows_in_first_set(14, 520 * 4, way), 1); // half a line more a row: 14 sets
/// assert_eq!(rows_in_first_set(14, 3 * 4, way), 1); // 3 floats a row: 14 rows in 3 lines
/// ```
pub fn rows_in_first_set(rows: usize, pitch: usize, way_bytes: usize) -> usize {
    const LINE: usize = 64;
    let sets = (way_bytes / LINE).max(1);
    // A whole number of ways more a row moves no row to another set: dropping them keeps
    // `row * pitch` far from overflowing, whatever the stride.
    let pitch = if pitch < LINE {
        pitch
    } else {
        pitch % (sets * LINE) + sets * LINE
    };
    let line = |row: usize| row * pitch / LINE;
    // Called for every product: a handful of multiplications, no division by `sets` when it
    // is a power of two (as it is in every L1 this was written for).
    let set = |row: usize| {
        if sets.is_power_of_two() {
            line(row) & (sets - 1)
        } else {
            line(row) % sets
        }
    };
    let first = set(0);
    // Rows less than a line apart share lines: count each line once.
    (0..rows)
        .filter(|&row| set(row) == first && (row == 0 || line(row) != line(row - 1)))
        .count()
}

impl DetectedCaches {
    /// The sizes of L1, L2 and L3 and the ways of L1 and L2 where `source` gave them, defaults
    /// elsewhere. A way count of 0, or one larger than the cache has lines, is no answer (a
    /// fully associative cache has one set, and any block that fits in it fits in any of its
    /// ways).
    ///
    /// ```
    /// use matmul_blas::machine::{Caches, DetectedCaches};
    ///
    /// let sizes = [Some(128 << 10), Some(16 << 20), None];
    /// let found = DetectedCaches::from_levels("sysctl", sizes, [None, None]);
    /// assert_eq!(found.caches.l3, Caches::DEFAULT.l3);
    /// assert_eq!(found.caches.l1_ways, Caches::DEFAULT.l1_ways);
    /// assert_eq!(
    ///     found.with_l2_shared_by(Some(4)).describe(),
    ///     "L1d 128 KiB (8-way default), L2 16 MiB (8-way default) shared by 4 threads, \
    ///      L3 8 MiB (default) (sysctl)"
    /// );
    /// ```
    pub fn from_levels(
        source: &'static str,
        levels: [Option<usize>; 3],
        ways: [Option<usize>; 2],
    ) -> DetectedCaches {
        let defaults = [Caches::DEFAULT.l1, Caches::DEFAULT.l2, Caches::DEFAULT.l3];
        let [l1, l2, l3] = std::array::from_fn(|i| levels[i].unwrap_or(defaults[i]));
        // At least one line of 64 bytes per way.
        let ways = [(ways[0], l1), (ways[1], l2)]
            .map(|(ways, bytes)| ways.filter(|&w| w > 0 && w <= bytes / 64));
        let [l1_ways, l2_ways] = [
            (ways[0], Caches::DEFAULT.l1_ways),
            (ways[1], Caches::DEFAULT.l2_ways),
        ]
        .map(|(ways, default)| ways.unwrap_or(default));
        DetectedCaches {
            caches: Caches {
                l1,
                l2,
                l3,
                l1_ways,
                l2_ways,
                l2_shared_by: Caches::DEFAULT.l2_shared_by,
            },
            reported: levels.map(|level| level.is_some()),
            reported_ways: ways.map(|ways| ways.is_some()),
            reported_sharing: false,
            source: if levels.iter().any(Option::is_some) {
                source
            } else {
                "none"
            },
        }
    }

    /// These caches with an L2 shared by `threads` hardware threads, where the system said
    /// (`None`, or 0: not said, the default stands).
    pub fn with_l2_shared_by(self, threads: Option<usize>) -> DetectedCaches {
        match threads.filter(|&threads| threads > 0) {
            Some(threads) => DetectedCaches {
                caches: Caches {
                    l2_shared_by: threads,
                    ..self.caches
                },
                reported_sharing: true,
                ..self
            },
            None => self,
        }
    }

    /// For the machine line: each size and, for L1 and L2, its ways, marked `default` where
    /// the system did not say, how many threads share an L2 where more than one do, and where
    /// the figures came from.
    pub fn describe(&self) -> String {
        let sizes = [self.caches.l1, self.caches.l2, self.caches.l3];
        let ways = [Some(self.caches.l1_ways), Some(self.caches.l2_ways), None];
        let ways_reported = [self.reported_ways[0], self.reported_ways[1], true];
        let mut parts: Vec<String> = ["L1d", "L2", "L3"]
            .iter()
            .zip(sizes)
            .zip(self.reported)
            .zip(ways.into_iter().zip(ways_reported))
            .map(|(((name, bytes), reported), (ways, ways_reported))| {
                let size = human_size(bytes);
                match (ways, reported, ways_reported) {
                    (None, true, _) => format!("{name} {size}"),
                    (None, false, _) => format!("{name} {size} (default)"),
                    (Some(ways), true, true) => format!("{name} {size} {ways}-way"),
                    (Some(ways), true, false) => format!("{name} {size} ({ways}-way default)"),
                    (Some(ways), false, true) => format!("{name} {size} (default) {ways}-way"),
                    (Some(ways), false, false) => format!("{name} {size} {ways}-way (default)"),
                }
            })
            .collect();
        let sharing = match (self.caches.l2_shared_by, self.reported_sharing) {
            (1, true) => String::new(),
            (threads, true) => format!(" shared by {threads} threads"),
            (threads, false) => format!(" (shared by {threads} threads, default)"),
        };
        parts[1] += &sharing;
        match self.source {
            "none" => format!("{} (none reported)", parts.join(", ")),
            source => format!("{} ({source})", parts.join(", ")),
        }
    }
}

/// What each system's module `os` reports: a leaf, which `os` and this module both use.
mod report {
    /// What the operating system said about the caches (`None`: not said).
    pub struct Reported {
        /// Where it came from, for [`DetectedCaches::source`](super::DetectedCaches::source).
        pub source: &'static str,
        /// The sizes of L1 (data), L2 and L3 in bytes.
        pub levels: [Option<usize>; 3],
        /// The ways of L1 and L2.
        pub ways: [Option<usize>; 2],
        /// The most hardware threads that share an L2.
        pub l2_shared_by: Option<usize>,
    }
}

/// `bytes` in KiB or MiB, whichever is whole.
fn human_size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

/// The CPU's name as the operating system or the CPU itself gives it: `/proc/cpuinfo` on Linux
/// (with its family and model numbers when the name is vague, as virtual machines' often are),
/// `machdep.cpu.brand_string` on macOS, the CPUID brand string on any other x86-64 system;
/// `None` where none of these says.
pub fn cpu_name() -> Option<String> {
    if let Some(name) = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| cpu_model(&info))
    {
        return Some(name);
    }
    os::cpu_brand().or_else(cpuid_brand)
}

/// The CPU's model name from the text of `/proc/cpuinfo`, with its family and model numbers.
///
/// ```
/// let info = "processor\t: 0\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n";
/// assert_eq!(matmul_blas::machine::cpu_model(info).unwrap(), "AMD EPYC (family 25, model 17)");
/// assert_eq!(matmul_blas::machine::cpu_model("model name : X\n").unwrap(), "X");
/// assert_eq!(matmul_blas::machine::cpu_model("nothing"), None);
/// ```
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    let field = |key: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    };
    let name = field("model name")?;
    Some(match (field("cpu family"), field("model")) {
        (Some(family), Some(model)) => format!("{name} (family {family}, model {model})"),
        _ => name,
    })
}

/// The maker of this x86-64 CPU as CPUID names it (leaf 0): `"GenuineIntel"`,
/// `"AuthenticAMD"`, …; `None` on other architectures. Asked once.
///
/// ```
/// if let Some(vendor) = matmul_blas::machine::cpu_vendor() {
///     assert_eq!(vendor.len(), 12); // three 4-byte registers of CPUID
/// }
/// ```
pub fn cpu_vendor() -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        static VENDOR: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        VENDOR
            .get_or_init(|| {
                // `__cpuid` is a safe function from Rust 1.94 on, and unsafe before.
                #[allow(unused_unsafe)]
                // SAFETY: every x86-64 CPU has CPUID, and leaf 0.
                let r = unsafe { std::arch::x86_64::__cpuid(0) };
                let bytes: Vec<u8> = [r.ebx, r.edx, r.ecx]
                    .iter()
                    .flat_map(|word| word.to_le_bytes())
                    .collect();
                String::from_utf8(bytes).ok()
            })
            .as_deref()
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// The family of this x86-64 CPU as CPUID leaf 1 gives it, the number `/proc/cpuinfo` calls
/// `cpu family`: 6 for most of Intel's cores, 25 for AMD's Zen 3 and Zen 4, 26
/// for Zen 5; `None` on other architectures. Asked once.
///
/// ```
/// if let Some(family) = matmul_blas::machine::cpu_family() {
///     assert!(family >= 6); // no x86-64 CPU is older than family 6 (Intel) or 15 (AMD)
/// }
/// ```
pub fn cpu_family() -> Option<u32> {
    #[cfg(target_arch = "x86_64")]
    {
        // Asked once: under a hypervisor each CPUID is a trip out of the virtual machine, a
        // microsecond or more.
        static FAMILY: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        Some(*FAMILY.get_or_init(|| {
            // `__cpuid` is a safe function from Rust 1.94 on, and unsafe before.
            #[allow(unused_unsafe)]
            // SAFETY: every x86-64 CPU has CPUID, and leaf 1.
            let eax = unsafe { std::arch::x86_64::__cpuid(1) }.eax;
            // Bits 8–11 are the base family; where that is 15, bits 20–27 add to it.
            let base = (eax >> 8) & 0xf;
            if base == 0xf {
                base + ((eax >> 20) & 0xff)
            } else {
                base
            }
        }))
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// Whether this CPU runs each 512-bit vector instruction as two 256-bit halves, one after the
/// other on 256-bit units, as AMD's Zen 4 does. On such a core a 512-bit FMA does the work of
/// two 256-bit ones in the time of two, and most other 512-bit instructions cost two, so wider
/// registers save instructions but not time. Asked once.
///
/// Every Zen 4 with AVX-512 splits them (family 25; its Zen 3 siblings have no AVX-512), and
/// that family is taken at its word. On Zen 5 (family 26) most parts run them whole, but the
/// laptop chips Strix Point and Krackan Point are reported to split them, and no CPUID bit tells
/// the two apart: from family 26 on the answer is timed, once per process, 512-bit FMAs against
/// as many 256-bit ones. A core near the line between the two could come out either way from
/// one process to the next; either answer gives the right sums, only one of them faster.
///
/// Intel's cores are not timed: their 512-bit instructions, shuffles included, run whole. (Where
/// one has a single 512-bit FMA unit, it does half as many 512-bit FMAs a cycle as 256-bit ones,
/// and the timing would count it as splitting them.)
///
/// ```
/// use matmul_blas::machine::{cpu_family, cpu_vendor, splits_512_bit_ops};
///
/// if splits_512_bit_ops() {
///     assert_eq!(cpu_vendor(), Some("AuthenticAMD"));
///     assert!(cpu_family() >= Some(25));
/// }
/// ```
pub fn splits_512_bit_ops() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static SPLITS: OnceLock<bool> = OnceLock::new();
        *SPLITS.get_or_init(|| {
            cpu_vendor() == Some("AuthenticAMD")
                && std::arch::is_x86_feature_detected!("avx512f")
                && match cpu_family() {
                    Some(25) => true,
                    Some(family) => {
                        family > 25 && fma_timings().is_some_and(|t| wide_take_twice(&t))
                    }
                    None => false,
                }
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the 512-bit FMAs of `pairs` of timings (256-bit, 512-bit: [`fma_timings`]) took at
/// least half as long again as the 256-bit ones, in the median of the pairs. A core that runs
/// 512-bit instructions whole issues as many 512-bit FMAs a cycle as 256-bit ones (on AMD's
/// cores), and the two take as long; one that splits them takes twice as long over the 512-bit
/// ones.
#[cfg(target_arch = "x86_64")]
fn wide_take_twice(pairs: &[(Duration, Duration)]) -> bool {
    let mut ratios: Vec<f64> = pairs
        .iter()
        .map(|(narrow, wide)| wide.as_secs_f64() / narrow.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios
        .get(ratios.len() / 2)
        .is_some_and(|&median| median >= 1.5)
}

/// [`FMA_TRIALS`] pairs of timings (256-bit, 512-bit) of [`FMA_ROUNDS`] rounds of 12
/// independent FMAs, the two of a pair taken one right after the other, the first of each pair
/// by turns, after an untimed run of each width (the 512-bit one for [`FMA_WARM_UP`]).
/// Comparing within pairs, and taking the median of the pairs, leaves out the moments when
/// something else had the core. `None` without AVX-512F (or FMA).
#[cfg(target_arch = "x86_64")]
fn fma_timings() -> Option<[(Duration, Duration); FMA_TRIALS]> {
    if !std::arch::is_x86_feature_detected!("avx512f")
        || !std::arch::is_x86_feature_detected!("fma")
    {
        return None;
    }
    let time = |fmas: unsafe fn(usize), rounds: usize| {
        let start = Instant::now();
        // SAFETY: AVX-512F and FMA, checked above, are what the two functions below, one of
        // which is `fmas`, need (AVX-512F implies AVX).
        unsafe { fmas(rounds) };
        start.elapsed()
    };
    let warming = Instant::now();
    while warming.elapsed() < FMA_WARM_UP {
        time(fmas_512, FMA_ROUNDS);
    }
    time(fmas_256, FMA_ROUNDS);
    Some(std::array::from_fn(|trial| {
        if trial % 2 == 0 {
            let narrow = time(fmas_256, FMA_ROUNDS);
            (narrow, time(fmas_512, FMA_ROUNDS))
        } else {
            let wide = time(fmas_512, FMA_ROUNDS);
            (time(fmas_256, FMA_ROUNDS), wide)
        }
    }))
}

/// Rounds of 12 FMAs that [`fma_timings`] times for each width in a trial: 24,000 FMAs, about
/// 12,000 cycles at two a cycle, some microseconds: long beside the clock's resolution, short
/// beside a time slice.
#[cfg(target_arch = "x86_64")]
const FMA_ROUNDS: usize = 2000;

/// How long [`fma_timings`] runs 512-bit FMAs before it times any. A core that has not run
/// 512-bit instructions for a while may run them slowly at first, while it brings its wide
/// units up to full speed, and would look meanwhile as if it split them.
#[cfg(target_arch = "x86_64")]
const FMA_WARM_UP: Duration = Duration::from_micros(200);

/// Trials in [`fma_timings`], each a pair of timings, one of each width.
#[cfg(target_arch = "x86_64")]
const FMA_TRIALS: usize = 5;

/// Defines `unsafe fn $name(rounds: usize)`: `rounds` rounds (at least one) of 12 independent
/// FMAs of registers of class `$class`, each adding `0 · 0` to a sum that starts at `$zero`
/// (zero, so that no sum is ever a subnormal number, which some cores take longer over): enough
/// in flight for two FMA units of four cycles' latency. Written in assembly so that what is
/// timed is exactly these instructions; the two widths' instructions differ only in their
/// registers. `$feature` is the target feature the function needs, `$needs` its name in words.
#[cfg(target_arch = "x86_64")]
macro_rules! fma_rounds {
    ($(#[$doc:meta])* $name:ident, $feature:literal, $needs:literal, $class:ident, $zero:expr) => {
        $(#[$doc])*
        ///
        /// # Safety
        ///
        #[doc = concat!("The CPU must support ", $needs, ".")]
        #[target_feature(enable = $feature)]
        unsafe fn $name(rounds: usize) {
            let zero = $zero;
            // SAFETY: the caller's contract; the loop writes only the flags and its `inout`
            // operands, whose final values are discarded (`=> _`).
            unsafe {
                std::arch::asm!(
                    "2:",
                    "vfmadd231ps {s0}, {x}, {x}",
                    "vfmadd231ps {s1}, {x}, {x}",
                    "vfmadd231ps {s2}, {x}, {x}",
                    "vfmadd231ps {s3}, {x}, {x}",
                    "vfmadd231ps {s4}, {x}, {x}",
                    "vfmadd231ps {s5}, {x}, {x}",
                    "vfmadd231ps {s6}, {x}, {x}",
                    "vfmadd231ps {s7}, {x}, {x}",
                    "vfmadd231ps {s8}, {x}, {x}",
                    "vfmadd231ps {s9}, {x}, {x}",
                    "vfmadd231ps {s10}, {x}, {x}",
                    "vfmadd231ps {s11}, {x}, {x}",
                    "dec {rounds}",
                    "jnz 2b",
                    rounds = inout(reg) rounds.max(1) => _,
                    x = in($class) zero,
                    s0 = inout($class) zero => _,
                    s1 = inout($class) zero => _,
                    s2 = inout($class) zero => _,
                    s3 = inout($class) zero => _,
                    s4 = inout($class) zero => _,
                    s5 = inout($class) zero => _,
                    s6 = inout($class) zero => _,
                    s7 = inout($class) zero => _,
                    s8 = inout($class) zero => _,
                    s9 = inout($class) zero => _,
                    s10 = inout($class) zero => _,
                    s11 = inout($class) zero => _,
                    options(nomem, nostack),
                );
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
fma_rounds!(
    /// 12 independent 256-bit FMAs, `rounds` times (`fma_rounds!` above).
    fmas_256,
    "avx,fma",
    "AVX and FMA",
    ymm_reg,
    std::arch::x86_64::_mm256_setzero_ps()
);

#[cfg(target_arch = "x86_64")]
fma_rounds!(
    /// 12 independent 512-bit FMAs, `rounds` times (`fma_rounds!` above).
    fmas_512,
    "avx512f",
    "AVX-512F",
    zmm_reg,
    std::arch::x86_64::_mm512_setzero_ps()
);

/// The brand string x86-64 CPUs report through CPUID (leaves `0x8000_0002` to `0x8000_0004`).
fn cpuid_brand() -> Option<String> {
    #[cfg(target_arch = "x86_64")]
    // `__cpuid` is a safe function from Rust 1.94 on, and unsafe before.
    #[allow(unused_unsafe)]
    {
        use std::arch::x86_64::__cpuid;
        // SAFETY: every x86-64 CPU has CPUID; leaf 0x8000_0000 says which extended leaves exist.
        if unsafe { __cpuid(0x8000_0000) }.eax < 0x8000_0004 {
            return None;
        }
        let mut bytes = Vec::with_capacity(48);
        for leaf in 0x8000_0002u32..=0x8000_0004 {
            // SAFETY: the leaf exists, as checked above.
            let r = unsafe { __cpuid(leaf) };
            for word in [r.eax, r.ebx, r.ecx, r.edx] {
                bytes.extend_from_slice(&word.to_le_bytes());
            }
        }
        let name = String::from_utf8_lossy(&bytes);
        let name = name.trim_matches(char::from(0)).trim();
        (!name.is_empty()).then(|| name.to_owned())
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// Linux: the cache directories of sysfs.
#[cfg(target_os = "linux")]
mod os {
    use std::path::{Path, PathBuf};

    use super::report::Reported;

    /// L1d, L2 and L3 of CPU 0 and the ways of L1d and L2, from
    /// `/sys/devices/system/cpu/cpu0/cache`, and the threads on an L2 ([`l2_sharing`]).
    pub fn caches() -> Reported {
        let cpus = Path::new("/sys/devices/system/cpu");
        let (mut levels, mut ways) = ([None; 3], [None; 2]);
        for (level, kind, dir) in caches_of(&cpus.join("cpu0")) {
            let read = |name: &str| std::fs::read_to_string(dir.join(name));
            let Some(bytes) = read("size").ok().and_then(|size| parse_size(size.trim())) else {
                continue;
            };
            let associativity = read("ways_of_associativity")
                .ok()
                .and_then(|text| text.trim().parse().ok());
            match (level, kind.as_str()) {
                (1, "Data") => (levels[0], ways[0]) = (Some(bytes), associativity),
                (2, _) => (levels[1], ways[1]) = (Some(bytes), associativity),
                (3, _) => levels[2] = Some(bytes),
                _ => {}
            }
        }
        Reported {
            source: "sysfs",
            levels,
            ways,
            l2_shared_by: l2_sharing(cpus),
        }
    }

    /// The data and unified caches of the CPU whose sysfs directory is `cpu` (`cache/index0`
    /// to `index7`): each one's level, type (`"Data"` or `"Unified"`) and directory.
    fn caches_of(cpu: &Path) -> impl Iterator<Item = (u32, String, PathBuf)> {
        (0..8).filter_map(move |index| {
            let dir = cpu.join(format!("cache/index{index}"));
            let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
            let level = read("level")?.trim().parse().ok()?;
            let kind = read("type")?.trim().to_owned();
            matches!(kind.as_str(), "Data" | "Unified").then_some((level, kind, dir))
        })
    }

    /// The most CPUs that any one L2 serves, among the CPUs under `cpus`
    /// (`/sys/devices/system/cpu`): each CPU's L2 directory lists the CPUs that share it
    /// (`shared_cpu_list`). All of them, not just CPU 0's: on Intel's hybrid chips, CPU 0 is a
    /// performance core, whose L2 only its own two threads share, while four efficiency cores
    /// share each of theirs.
    pub fn l2_sharing(cpus: &Path) -> Option<usize> {
        std::fs::read_dir(cpus)
            .ok()?
            .flatten()
            .filter(|entry| {
                let name = entry.file_name();
                let number = name.to_str().and_then(|name| name.strip_prefix("cpu"));
                number.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .flat_map(|cpu| caches_of(&cpu.path()).collect::<Vec<_>>())
            .filter(|(level, ..)| *level == 2)
            .filter_map(|(.., dir)| {
                let list = std::fs::read_to_string(dir.join("shared_cpu_list")).ok()?;
                cpu_count(&list)
            })
            .max()
    }

    /// How many CPUs a list as sysfs writes it names: `"0"`, `"0-1"`, `"0,4"`, `"0-3,8-11"`.
    pub fn cpu_count(list: &str) -> Option<usize> {
        list.trim().split(',').try_fold(0usize, |count, range| {
            let (first, last) = range.split_once('-').unwrap_or((range, range));
            let (first, last): (usize, usize) = (first.parse().ok()?, last.parse().ok()?);
            count.checked_add(last.checked_sub(first)?.checked_add(1)?)
        })
    }

    /// `"48K"`, `"1024K"`, `"32M"` or a plain number of bytes, as Linux's sysfs writes them.
    pub fn parse_size(text: &str) -> Option<usize> {
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

    /// `/proc/cpuinfo` is read by [`super::cpu_name`] on every system that has one.
    pub fn cpu_brand() -> Option<String> {
        None
    }
}

/// macOS: `sysctl` values, those of the performance cores (`hw.perflevel0.*`) where the
/// machine has several kinds of core (Apple Silicon), the machine-wide ones otherwise.
#[cfg(target_os = "macos")]
mod os {
    use std::ffi::CStr;

    use super::report::Reported;

    /// The sizes and the threads on an L2; `sysctl` has no associativity to report.
    pub fn caches() -> Reported {
        let either = |performance: &CStr, any: &CStr| integer(performance).or_else(|| integer(any));
        let levels = [
            either(c"hw.perflevel0.l1dcachesize", c"hw.l1dcachesize"),
            either(c"hw.perflevel0.l2cachesize", c"hw.l2cachesize"),
            integer(c"hw.l3cachesize"),
        ];
        let levels = levels.map(|size| size.filter(|&bytes| bytes > 0));
        // The CPUs on an L2 of a performance core (Apple Silicon: the whole cluster), or, on
        // a Mac with one kind of core, the third of `hw.cacheconfig`'s counts of CPUs sharing
        // memory, L1, L2 and L3.
        let l2_shared_by = integer(c"hw.perflevel0.cpusperl2").or_else(|| {
            integers(c"hw.cacheconfig")?
                .get(2)
                .map(|&cpus| cpus as usize)
        });
        Reported {
            source: "sysctl",
            levels,
            ways: [None; 2],
            l2_shared_by,
        }
    }

    pub fn cpu_brand() -> Option<String> {
        string(c"machdep.cpu.brand_string")
    }

    /// An integer `sysctl` value (32 or 64 bits wide).
    fn integer(name: &CStr) -> Option<usize> {
        let mut value = 0u64;
        let mut len = size_of::<u64>();
        // SAFETY: `value` is `len` writable bytes; no new value is set.
        let status = unsafe {
            libc::sysctlbyname(
                name.as_ptr(),
                (&raw mut value).cast(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        // A 32-bit value fills the low half (both architectures are little-endian).
        (status == 0 && (len == 4 || len == 8)).then_some(value as usize)
    }

    /// A `sysctl` value that is an array of 64-bit integers.
    fn integers(name: &CStr) -> Option<Vec<u64>> {
        let bytes = bytes(name)?;
        let values = bytes.chunks_exact(size_of::<u64>());
        Some(
            values
                .map(|value| u64::from_ne_bytes(value.try_into().expect("8 bytes")))
                .collect(),
        )
    }

    /// A string `sysctl` value.
    fn string(name: &CStr) -> Option<String> {
        let bytes = bytes(name)?;
        let text = CStr::from_bytes_until_nul(&bytes).ok()?.to_string_lossy();
        Some(text.trim().to_owned()).filter(|name| !name.is_empty())
    }

    /// A `sysctl` value of a length not known beforehand, as bytes: asked once for the length,
    /// then for the value.
    fn bytes(name: &CStr) -> Option<Vec<u8>> {
        let mut len = 0usize;
        // SAFETY: a null buffer asks only for the length.
        let status = unsafe {
            libc::sysctlbyname(
                name.as_ptr(),
                std::ptr::null_mut(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        if status != 0 || len == 0 {
            return None;
        }
        let mut buffer = vec![0u8; len];
        // SAFETY: `buffer` is `len` writable bytes; no new value is set.
        let status = unsafe {
            libc::sysctlbyname(
                name.as_ptr(),
                buffer.as_mut_ptr().cast(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        // The call writes how many bytes it wrote (no more than the buffer holds).
        buffer.truncate(len);
        (status == 0).then_some(buffer)
    }
}

/// Windows: `GetLogicalProcessorInformation`, one record per cache of each level.
#[cfg(windows)]
mod os {
    use windows_sys::Win32::System::SystemInformation::{
        CacheData, CacheUnified, GetLogicalProcessorInformation, RelationCache,
        SYSTEM_LOGICAL_PROCESSOR_INFORMATION,
    };

    use super::report::Reported;

    /// The sizes, the ways of L1 and L2 (`0xFF` means fully associative: no count), and the
    /// most logical processors on one L2 (the bits of its record's processor mask).
    pub fn caches() -> Reported {
        let (mut levels, mut ways, mut l2_shared_by) = ([None; 3], [None; 2], None);
        for record in records() {
            if record.Relationship != RelationCache {
                continue;
            }
            // SAFETY: a record of the relationship `RelationCache` holds a cache descriptor.
            let cache = unsafe { record.Anonymous.Cache };
            let level = usize::from(cache.Level);
            if (1..=3).contains(&level)
                && (cache.Type == CacheData || (level > 1 && cache.Type == CacheUnified))
            {
                levels[level - 1] = Some(cache.Size as usize);
                if level <= 2 && cache.Associativity != 0xFF {
                    ways[level - 1] = Some(usize::from(cache.Associativity));
                }
                if level == 2 {
                    let threads = record.ProcessorMask.count_ones() as usize;
                    l2_shared_by = l2_shared_by.max(Some(threads));
                }
            }
        }
        Reported {
            source: "Windows",
            levels,
            ways,
            l2_shared_by,
        }
    }

    /// The CPUID brand string, read by [`super::cpu_name`], names x86-64 CPUs on Windows.
    pub fn cpu_brand() -> Option<String> {
        None
    }

    /// Every record the system has: asked once for the size, then for the records.
    fn records() -> Vec<SYSTEM_LOGICAL_PROCESSOR_INFORMATION> {
        let mut bytes = 0u32;
        // SAFETY: a null buffer with a length of 0 asks only for the length.
        unsafe { GetLogicalProcessorInformation(std::ptr::null_mut(), &mut bytes) };
        let record = size_of::<SYSTEM_LOGICAL_PROCESSOR_INFORMATION>();
        // Room for every byte asked for, in whole records.
        let count = (bytes as usize).div_ceil(record);
        let mut records = Vec::with_capacity(count);
        let Ok(room) = u32::try_from(count * record) else {
            return Vec::new();
        };
        bytes = room;
        // SAFETY: the buffer has room for `bytes` bytes of records.
        let ok = unsafe { GetLogicalProcessorInformation(records.as_mut_ptr(), &mut bytes) };
        if ok == 0 {
            return Vec::new();
        }
        let written = (bytes as usize / record).min(count);
        // SAFETY: the call wrote `written` whole records into the buffer.
        unsafe { records.set_len(written) };
        records
    }
}

/// Other systems: nothing reported, the defaults stand.
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod os {
    use super::report::Reported;

    pub fn caches() -> Reported {
        Reported {
            source: "none",
            levels: [None; 3],
            ways: [None; 2],
            l2_shared_by: None,
        }
    }

    pub fn cpu_brand() -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn sizes_parse_as_sysfs_writes_them() {
        use os::parse_size;
        assert_eq!(parse_size("48K"), Some(48 << 10));
        assert_eq!(parse_size("32M"), Some(32 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("K"), None);
        assert_eq!(parse_size("lots"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn cpu_lists_count_as_sysfs_writes_them() {
        use os::cpu_count;
        assert_eq!(cpu_count("0\n"), Some(1));
        assert_eq!(cpu_count("0-1"), Some(2));
        assert_eq!(cpu_count("0,4"), Some(2));
        assert_eq!(cpu_count("0-3,8-11"), Some(8));
        assert_eq!(cpu_count("3-1"), None);
        assert_eq!(cpu_count(""), None);
        assert_eq!(cpu_count("0-"), None);
    }

    #[test]
    fn detected_caches_are_at_least_plausible() {
        let caches = Caches::detect();
        assert!(caches.l1 >= 4 << 10 && caches.l2 >= caches.l1 && caches.l3 >= 1 << 20);
        assert!(caches.l1_ways >= 1 && caches.l1_ways <= caches.l1 / 64);
        assert!(caches.l2_ways >= 1 && caches.l2_ways <= caches.l2 / 64);
        assert!(caches.l2_shared_by >= 1);
    }

    /// A sysfs tree of three CPUs: CPU 0's L2 serves two threads, CPU 1's four (a cluster),
    /// CPU 2 is offline (no cache directory); an L2 instruction cache, an L3 and a directory
    /// that is not a CPU list more, and are not counted.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_busiest_l2_of_any_cpu_counts() {
        let root = std::env::temp_dir().join(format!("matmul-sysfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root); // a tree left by a run killed midway
        let cache = |path: &str, level: &str, kind: &str, list: &str| {
            let dir = root.join(path);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, text) in [("level", level), ("type", kind), ("shared_cpu_list", list)] {
                std::fs::write(dir.join(name), format!("{text}\n")).unwrap();
            }
        };
        cache("cpu0/cache/index0", "1", "Data", "0-1");
        cache("cpu0/cache/index1", "2", "Instruction", "0-7");
        cache("cpu0/cache/index2", "2", "Unified", "0-1");
        cache("cpu1/cache/index2", "2", "Unified", "2-3,6-7");
        cache("cpu1/cache/index3", "3", "Unified", "0-15");
        cache("cpufreq/cache/index2", "2", "Unified", "0-31");
        std::fs::create_dir_all(root.join("cpu2")).unwrap();
        let found = os::l2_sharing(&root);
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(found, Some(4));
        assert_eq!(os::l2_sharing(&root), None);
    }

    #[test]
    fn defaults_are_said_to_be_defaults() {
        let none = DetectedCaches::from_levels("sysfs", [None; 3], [None; 2]);
        assert_eq!(none.caches, Caches::DEFAULT);
        assert_eq!(
            none.describe(),
            "L1d 32 KiB 8-way (default), L2 512 KiB 8-way (default) (shared by 2 threads, \
             default), L3 8 MiB (default) (none reported)"
        );
        let sizes = [Some(48 << 10), Some(2 << 20), Some(260 << 20)];
        let all = DetectedCaches::from_levels("sysfs", sizes, [Some(12), Some(16)]);
        let own = all.with_l2_shared_by(Some(1));
        assert_eq!(
            own.describe(),
            "L1d 48 KiB 12-way, L2 2 MiB 16-way, L3 260 MiB (sysfs)"
        );
        assert_eq!((own.caches.l1_ways, own.caches.l2_ways), (12, 16));
        assert_eq!(own.caches.l2_shared_by, 1);
        // An answer of 0 is no answer.
        assert_eq!(all.with_l2_shared_by(Some(0)), all);
        assert_eq!(all.caches.l2_shared_by, Caches::DEFAULT.l2_shared_by);
    }

    #[test]
    fn impossible_way_counts_are_no_answer() {
        // 0 ways, and more ways than a 32 KiB cache has lines of 64 bytes.
        let sizes = [Some(32 << 10), Some(1 << 20), None];
        let found = DetectedCaches::from_levels("sysfs", sizes, [Some(0), Some(1 << 20)]);
        assert_eq!(found.reported_ways, [false, false]);
        assert_eq!(found.caches.l1_ways, Caches::DEFAULT.l1_ways);
        assert_eq!(found.caches.l2_ways, Caches::DEFAULT.l2_ways);
    }

    /// Zen 4 is known to split 512-bit instructions: where the tests run on one, the timing
    /// that decides it for later AMD cores must find so too. (Elsewhere there is no known answer
    /// to check it against, and the test checks nothing.)
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_timing_finds_what_zen_4_does() {
        let zen_4 = cpu_vendor() == Some("AuthenticAMD")
            && cpu_family() == Some(25)
            && std::arch::is_x86_feature_detected!("avx512f");
        if zen_4 {
            let pairs = fma_timings().expect("AVX-512F and FMA");
            assert!(wide_take_twice(&pairs), "256-bit, 512-bit: {pairs:?}");
        } else {
            eprintln!("not a Zen 4: no known answer to check the timing against");
        }
    }

    /// The decision goes by the median pair: one pair taken while something else had the core
    /// changes nothing.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_median_pair_decides() {
        let pair =
            |narrow: u64, wide: u64| (Duration::from_nanos(narrow), Duration::from_nanos(wide));
        let split = [
            pair(3300, 6500),
            pair(9000, 6600),
            pair(3250, 6550),
            pair(3300, 6500),
            pair(3280, 6520),
        ];
        assert!(wide_take_twice(&split));
        let whole = [
            pair(3300, 3400),
            pair(3300, 9000),
            pair(3250, 3300),
            pair(3300, 3350),
            pair(3280, 3310),
        ];
        assert!(!wide_take_twice(&whole));
        assert!(!wide_take_twice(&[]));
    }

    #[test]
    fn this_cpu_has_a_name_on_the_systems_that_give_one() {
        let name = cpu_name();
        if cfg!(any(target_arch = "x86_64", target_os = "macos")) {
            assert!(name.is_some_and(|name| !name.is_empty()));
        }
    }
}
