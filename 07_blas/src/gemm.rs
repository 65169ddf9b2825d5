//! A GEMM built in front of the reader: micro-kernel → packing → blocking → threads.
//!
//! `C ← A·B` for `A: (m, k)` and `B: (k, n)` with any strides, in four stages that each add one
//! idea to the one before (the [going-further page](crate::going_further) walks through them with
//! their code):
//!
//! | stage | function | adds |
//! |---|---|---|
//! | `gemm-kernel` | [`matmul_kernel`] | an `MR × NR` tile of `C` in registers |
//! | `gemm-packed` | [`matmul_packed`] | `A` and `B` copied into the order the kernel reads |
//! | `gemm-blocked` | [`matmul_blocked`] | the copies cut into blocks sized to the caches |
//! | `gemm` | [`matmul`] | the blocks of `C` shared among the cores |
//!
//! All four are one [`Plan`] each, run by the same code: [`matmul_with`] picks the
//! micro-kernel for the plan's instruction set, and a driver generic over the micro-kernel
//! (module `driver`) does the rest. A micro-kernel is the only per-instruction-set code —
//! AVX-512 (14 × 32) and AVX2 + FMA (6 × 16) chosen at run time on x86-64, NEON (8 × 12) on
//! ARM64, and portable Rust (4 × 8) anywhere — so adding an instruction set is adding a
//! kernel and its row of [`Isa::kernels`], as in bluss's `matrixmultiply`.
//!
//! Every stage computes each `c[i, j]` as the plain sum `Σ_p a[i, p]·b[p, j]` in order of `p`:
//! no product is skipped, so NaN and infinities in `a` or `b` reach `c` as IEEE arithmetic
//! says.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ndarray::{Array2, ArrayView2};

use crate::isa::Isa;

mod blocks;
mod driver;
mod kernel;
mod pack;
#[cfg(test)]
mod pack_tests;
mod portable;
mod unpacked;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;

pub use crate::machine::Caches;
pub use blocks::{Blocks, KC_IN_L1_FROM, rows_spread_over_l1};

use kernel::{MicroKernel, Packed, Store, TileOfC};

/// Seconds of one core's arithmetic, at its micro-kernel's rate on this machine
/// ([`kernel_rate`]), from which [`matmul`] shares a product among the cores where what sharing
/// costs could not be timed ([`sharing`] says when): 9 µs. <!-- fact -->
///
/// A time, not a count of multiply-adds, because cores differ twofold in how many they do per
/// cycle: an AMD Zen 4 issues one 16-lane FMA per cycle, many Intel Xeons two. Timed on a
/// 2-core Xeon in a loop of products, a second thread made `96³` clearly faster and `88³`
/// (whose edge tiles leave less to share) a little slower; this time, at the kernel's rate,
/// falls between the two. (Counted in whole tiles, as [`Plan::parallel_from`] is, it still
/// did on the Intel Xeon of a later check, just below `88³`, where a second thread made `88³`
/// a little faster, `80³` no faster and `96³` clearly faster.) On a 2-core AMD Zen 4, a second
/// thread made `64³` about a fifth faster and `48³` no faster: the time from which sharing pays
/// differs from machine to machine, which is why it is timed.
pub const PARALLEL_SECONDS: f64 = 9e-6;

/// Multiply-adds from which [`matmul`] uses more than one thread with `isa`'s kernel
/// ([`Plan::parallel_from`], counted in whole tiles): where sharing makes a product a sixth
/// faster by what it was timed to cost on this machine ([`Sharing::parallel_from`]), or else
/// [`PARALLEL_SECONDS`] of work at [`kernel_rate`]; `usize::MAX` (never) for an instruction set
/// this CPU lacks. Either way within a factor of 8 of a [`SHARING_PROBE`]`³` product
/// ([`Sharing::parallel_from`] says why), so never below about `32³`. Decided once per process
/// and instruction set, at the first call, which takes the time [`sharing`] does; [`matmul`]
/// asks only for products from that least threshold on, so that smaller ones, never shared,
/// never wait for the timing.
///
/// Products this small can be shared because the helper threads stay awake for a moment after
/// each product, and because a helper slow to start is not waited for (the crate's module
/// `pool`): a loop of products finds them ready, and a product after a pause costs about what
/// one core alone would.
///
/// ```
/// use matmul_blas::{gemm, isa::Isa};
///
/// let from = gemm::parallel_from(Isa::detect());
/// println!("a second thread from {from} multiply-adds, about {:.0}³", (from as f64).cbrt());
/// ```
pub fn parallel_from(isa: Isa) -> usize {
    let timed = sharing(isa);
    // The kernel's rate, for the fallback, is timed only where the sharing was not.
    let rate = timed.is_none().then(|| kernel_rate(isa)).flatten();
    threshold(timed, rate, parallel_from_bounds(isa))
}

/// [`parallel_from`] from what was timed: the `sharing`, or else [`PARALLEL_SECONDS`] at the
/// kernel's `rate` (multiply-adds a second), kept within `(least, most)`; `usize::MAX` (never)
/// where neither was timed.
fn threshold(sharing: Option<Sharing>, rate: Option<f64>, (least, most): (usize, usize)) -> usize {
    let from = match (sharing, rate) {
        (Some(sharing), _) => sharing.parallel_from(),
        (None, Some(rate)) => (PARALLEL_SECONDS * rate) as usize,
        (None, None) => usize::MAX,
    };
    match from {
        usize::MAX => usize::MAX,
        from => from.clamp(least, most),
    }
}

/// The least and the most multiply-adds (in whole tiles) [`parallel_from`] gives for `isa`, when
/// it gives any: an eighth of a [`SHARING_PROBE`]`³` product, and 8 times it.
fn parallel_from_bounds(isa: Isa) -> (usize, usize) {
    let side = SHARING_PROBE;
    let probe = work_in_tiles(side, side, side, tile_shape(isa));
    (probe / 8, probe.saturating_mul(8))
}

/// The side of the square product [`sharing`] times: about where a second thread began to pay
/// on the machines this was measured on (between `48³` and `96³`).
pub const SHARING_PROBE: usize = 64;

/// What sharing a product among the cores costs on this machine: a square product of side
/// [`SHARING_PROBE`], timed on one thread and shared among every core, by [`sharing`].
///
/// Sharing costs a handful of things, each small, none easy to count from the outside: the
/// helper threads (the crate's module `pool`) must see the job and say when they are done, the
/// driver sets up what the threads share (the blocks they take, the panels of `B`), lines of `C`
/// and `B` travel between the cores' caches, and edge tiles leave the threads uneven parts. So
/// they are timed together, on a product about the size where they matter. (On a machine with
/// more cores than that product has tiles to share, the cost comes out higher than it is, and
/// the threads wait for larger products: the safe side.)
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sharing {
    /// Threads the product was shared among: one per core.
    pub threads: usize,
    /// Its multiply-adds, counted in whole tiles as [`Plan::parallel_from`] counts them.
    pub multiply_adds: usize,
    /// Its time on one thread, in seconds: the median of the samples kept.
    pub alone: f64,
    /// Its time shared, in seconds: the median of the samples that a helper took part in.
    pub shared: f64,
}

impl Sharing {
    /// Seconds that sharing adds to the product beyond an even split, `shared − alone / threads`
    /// (never below zero).
    pub fn overhead(&self) -> f64 {
        (self.shared - self.alone / self.threads.max(1) as f64).max(0.0)
    }

    /// Multiply-adds from which sharing makes a product at least a sixth faster, by this
    /// measurement. A product of `t` seconds on one thread takes about `t / threads + overhead`
    /// shared, which is at most `5t / 6` from `t = overhead / (5/6 − 1/threads)`; that time, at
    /// the rate of the timed product on one thread. The sixth is a margin for what the timed
    /// product leaves out: a product after a pause, whose helpers must first wake, and shapes
    /// whose edge tiles share less evenly.
    ///
    /// A measurement speaks for products near the size it was taken at, so the answer is kept
    /// within a factor of 8 of the timed product's multiply-adds (`32³` to `128³`): a sharing
    /// that looks free does not send the smallest products to the helpers, and one timed while
    /// something else held the cores does not keep them from large ones. `usize::MAX` (never)
    /// for fewer than two threads or a time that is not a positive number.
    ///
    /// ```
    /// use matmul_blas::gemm::Sharing;
    ///
    /// // A Zen 4 core's AVX-512 kernel (14 × 32 tiles): 64³ is 70 × 64 × 64 in whole tiles.
    /// let tiles = |m: usize, k: usize, n: usize| m.div_ceil(14) * 14 * k * n.div_ceil(32) * 32;
    /// let zen4 = Sharing { threads: 2, multiply_adds: tiles(64, 64, 64), alone: 4.8e-6, shared: 3.8e-6 };
    /// assert!((zen4.overhead() - 1.4e-6).abs() < 1e-9); // shared 3.8 against 4.8 / 2
    /// let from = zen4.parallel_from(); // 3 × 1.4 of work: 4.2 of the 4.8 of 64³
    /// assert!(tiles(64, 64, 64) >= from && tiles(56, 56, 56) < from);
    /// // Twice the overhead, twice the size.
    /// let slower = Sharing { shared: 3.8e-6 + 1.4e-6, ..zen4 };
    /// assert!((slower.parallel_from() as f64 / from as f64 - 2.0).abs() < 1e-3);
    /// // Free, or dear beyond belief: kept within a factor of 8 of the timed product.
    /// assert_eq!(Sharing { shared: 1e-6, ..zen4 }.parallel_from(), tiles(64, 64, 64) / 8);
    /// assert_eq!(Sharing { shared: 1.0, ..zen4 }.parallel_from(), tiles(64, 64, 64) * 8);
    /// ```
    pub fn parallel_from(&self) -> usize {
        if self.threads < 2 || !(self.alone > 0.0 && self.shared.is_finite()) {
            return usize::MAX;
        }
        let seconds = self.overhead() / (5.0 / 6.0 - 1.0 / self.threads as f64);
        let from = seconds / self.alone * self.multiply_adds as f64;
        let (least, most) = (self.multiply_adds / 8, self.multiply_adds.saturating_mul(8));
        (from as usize).clamp(least, most)
    }
}

/// What sharing a product among the cores costs with `isa`'s kernel on this machine, timed once
/// per process and instruction set, at the first call; `None` where it was not: on one core,
/// for an instruction set this CPU lacks, or where too few of the shared products had a
/// helper's part within the time given (helpers slow to wake, as on a virtual machine whose
/// idle cores the host takes back; helpers busy with another thread's product; or products too
/// slow for the pairs to fit in the time, as in an unoptimised build or under an emulator).
///
/// The two ways of running the product alternate, pair by pair, so that a machine whose speed
/// drifts slows both; a pair counts only when a helper did its part of the shared product (a
/// helper that has not started by the time the calling thread is done with its own part leaves
/// that part to it: module `pool`), and only once the helpers have been busy for a moment.
/// Each median is over 15 pairs. No product is started after 30 ms from the first, <!-- fact -->
/// and it ends sooner where the helpers wake at once.
///
/// ```
/// use matmul_blas::{gemm, isa::Isa};
///
/// match gemm::sharing(Isa::detect()) {
///     Some(s) => println!("{:.1} µs alone, {:.1} µs on {} threads", s.alone * 1e6, s.shared * 1e6, s.threads),
///     None => println!("not timed here"),
/// }
/// ```
pub fn sharing(isa: Isa) -> Option<Sharing> {
    static SHARING: [OnceLock<Option<Sharing>>; Isa::ALL.len()] =
        [const { OnceLock::new() }; Isa::ALL.len()];
    *SHARING[isa as usize].get_or_init(|| measure_sharing(isa))
}

/// [`sharing`], timed.
fn measure_sharing(isa: Isa) -> Option<Sharing> {
    /// Pairs of samples (one thread, shared) each median is taken over.
    const PAIRS: usize = 15;
    /// The longest the helpers may take to wake, stay awake (`AWAKE`) and the pairs to be timed
    /// together.
    const BUDGET: Duration = Duration::from_millis(30);
    /// How long the helpers are kept busy with shared products, from the first one a helper
    /// took part in, before the pairs are timed: on a virtual machine this was measured on, a
    /// helper that had just woken did its parts slowly for a while, so that half of the
    /// measurements taken at once found sharing `64³` slower than one thread, where in a loop
    /// of products it was about a fifth faster; after `AWAKE`, few did (and a sharing timed
    /// too dear only keeps the threads for larger products).
    const AWAKE: Duration = Duration::from_millis(2);
    let threads = crate::pool::cores();
    if threads < 2 || !isa.runs_here() {
        return None;
    }
    let side = SHARING_PROBE;
    // Ones: finite sums, on pages written.
    let a = Array2::from_elem((side, side), 1.0f32);
    // The plan of `matmul`, sharing or not whatever the size (and not asking `parallel_from`,
    // which is what this is timed for).
    let shared_plan = Plan::shared_on(Caches::detect(), threads, isa);
    let alone_plan = Plan {
        parallel_from: usize::MAX,
        ..shared_plan
    };
    // Seconds of one product, and whether a helper did a part of it.
    let time = |plan: &Plan| {
        let helped = crate::pool::parts_helped();
        let start = Instant::now();
        black_box(matmul_with(black_box(a.view()), black_box(a.view()), plan));
        let seconds = start.elapsed().as_secs_f64();
        (seconds, crate::pool::parts_helped() > helped)
    };
    let start = Instant::now();
    // Shared products until a helper has taken part for `AWAKE`.
    let mut woke: Option<Instant> = None;
    while start.elapsed() < BUDGET && woke.is_none_or(|woke| woke.elapsed() < AWAKE) {
        if time(&shared_plan).1 {
            woke.get_or_insert_with(Instant::now);
        }
    }
    let (mut alone, mut shared) = (Vec::new(), Vec::new());
    let mut turn = 0;
    while shared.len() < PAIRS && start.elapsed() < BUDGET {
        // Which goes first, by turns.
        turn += 1;
        let ((one, _), (all, helped)) = if turn % 2 == 0 {
            (time(&alone_plan), time(&shared_plan))
        } else {
            let all = time(&shared_plan);
            (time(&alone_plan), all)
        };
        if helped {
            alone.push(one);
            shared.push(all);
        }
    }
    if shared.len() < PAIRS {
        return None;
    }
    let median = |mut samples: Vec<f64>| {
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    };
    Some(Sharing {
        threads,
        multiply_adds: work_in_tiles(side, side, side, tile_shape(isa)),
        alone: median(alone),
        shared: median(shared),
    })
}

/// Multiply-adds per second of `isa`'s micro-kernel on one core of this machine, or `None`
/// where this CPU lacks `isa`.
///
/// Measured once per process and instruction set, at the first call, on the core that call
/// runs on, in a millisecond or two: the kernel computes one tile again and again from a
/// pair of slivers small enough to stay in L1 — its own speed, without the memory traffic of
/// a real product. A millisecond of calls first lets the core's clock rise and sets how many
/// calls a timed run makes (enough for a run to be long against the timer's step); the rate
/// is that of the fastest of eight runs, because a busy machine or a clock still rising only
/// ever makes a run slower.
///
/// ```
/// use matmul_blas::{gemm, isa::Isa};
///
/// let rate = gemm::kernel_rate(Isa::detect()).expect("the detected kernel runs here");
/// println!("{:.1} G multiply-adds per second on one core", rate / 1e9);
/// ```
pub fn kernel_rate(isa: Isa) -> Option<f64> {
    static RATES: [OnceLock<Option<f64>>; Isa::ALL.len()] =
        [const { OnceLock::new() }; Isa::ALL.len()];
    let measure: fn() -> Option<f64> = match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => measure_rate::<avx512::Avx512>,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => measure_rate::<avx2::Avx2>,
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => measure_rate::<neon::Neon>,
        Isa::Portable => measure_rate::<portable::Portable>,
        // Another architecture's instruction set.
        #[allow(unreachable_patterns)]
        _ => return None,
    };
    *RATES[isa as usize].get_or_init(measure)
}

/// [`kernel_rate`] for the micro-kernel `K`.
fn measure_rate<K: MicroKernel>() -> Option<f64> {
    /// Bytes of the two slivers: half of the smallest L1 data cache of the CPUs in view.
    const SLIVERS_BYTES: usize = 16 << 10;
    /// The warm-up, which also sizes the runs.
    const WARM_UP: Duration = Duration::from_millis(1);
    /// Shortest timed run: many steps of any timer (a microsecond at worst on the usual ones).
    const RUN: Duration = Duration::from_micros(50);
    const RUNS: u32 = 8;
    if !K::supported() {
        return None;
    }
    let steps = SLIVERS_BYTES / ((K::MR + K::NR) * size_of::<f32>());
    // Ones, not zeros: written pages of their own, which a fresh zeroed allocation may not be.
    // An FMA takes the same time whatever the numbers (all normal here).
    let a = vec![1.0f32; K::MR * steps];
    let b = vec![1.0f32; K::NR * steps];
    let mut c = vec![0.0f32; K::MR * K::NR];
    let mut call = || {
        // Each call's operands are hidden from the compiler (`black_box`): seeing the same
        // inputs every time, it could compute the tile once for all the calls.
        // SAFETY: `K::supported()` held above; `a` and `b` are whole packed slivers of `steps`
        // steps (each step's `MR` or `NR` elements adjacent); `c` is one `MR × NR` tile with
        // rows `NR` apart, written (`Store::Write` reads nothing), and nothing else uses it
        // during the call.
        unsafe {
            K::tile(
                steps,
                Packed(black_box(a.as_ptr())),
                Packed(black_box(b.as_ptr())),
                c.as_mut_ptr(),
                K::NR,
                Store::Write,
                TileOfC::Warm,
            );
        }
        black_box(&mut c);
    };
    let start = Instant::now();
    let mut warm_up_calls = 0u32;
    while start.elapsed() < WARM_UP {
        call();
        warm_up_calls += 1;
    }
    let warm_up = start.elapsed();
    // Calls per run: what the warm-up did in `RUN`, rounded up.
    let calls = (warm_up_calls as f64 * RUN.as_secs_f64() / warm_up.as_secs_f64()).ceil() as u32;
    let calls = calls.max(1);
    let fastest = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            (0..calls).for_each(|_| call());
            start.elapsed()
        })
        .min()
        .filter(|fastest| !fastest.is_zero());
    let multiply_adds = (K::MR * K::NR * steps) as f64;
    // A timer too coarse to see a run (it read zero): the warm-up's own rate, over a whole
    // millisecond or more, instead.
    Some(match fastest {
        Some(run) => multiply_adds * f64::from(calls) / run.as_secs_f64(),
        None => multiply_adds * f64::from(warm_up_calls) / warm_up.as_secs_f64(),
    })
}

/// How to run the product: which kernel, whether to pack, what blocks, how many threads.
///
/// The four stages are [`Plan::kernel`], [`Plan::packed`], [`Plan::blocked`] and
/// [`Plan::threaded`]; the fields are public so that a test or an experiment can change one
/// thing at a time.
///
/// ```
/// use matmul_blas::gemm::{self, Blocks, Plan};
/// use matmul_data::{synthetic, test_near};
///
/// // Tiny blocks and three threads on a small product: every edge of every loop is taken,
/// // with the threads sharing `C` (not splitting `k`, which they would do here otherwise).
/// let blocks = Blocks { kc: 7, mc: 20, nc: 40 };
/// let plan = Plan { blocks, threads: 3, parallel_from: 0, split_k_up_to: 0, ..Plan::threaded() };
/// let (a, b) = (synthetic::uniform(45, 30, 1), synthetic::uniform(30, 70, 2));
/// test_near(&gemm::matmul_with(a.view(), b.view(), &plan), &a.dot(&b));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The instruction set whose micro-kernel runs (see [`tile_shape`]).
    pub isa: Isa,
    /// Pack `A` and `B` into the kernel's order (`false`: the `gemm-kernel` stage, which reads
    /// them in place and ignores `blocks` and `threads`).
    pub packing: bool,
    /// The block sizes ([`Blocks::WHOLE`]: no blocking).
    pub blocks: Blocks,
    /// Threads to use when the product has at least `parallel_from` multiply-adds.
    pub threads: usize,
    /// Multiply-adds from which `threads` threads are used; below, one. Counted as the kernel
    /// does them, `m` and `n` rounded up to whole tiles: a short `A` or a narrow `B` costs
    /// about a whole tile's time per tile, however little of it is data.
    pub parallel_from: usize,
    /// Bytes of a block of a row-major `A` up to which the kernel reads it in place instead
    /// of packing it (0: always packed). Packing pays for itself on large blocks, whose rows
    /// would otherwise fight over the same sets of L1 for the whole block; on a small one it
    /// only costs the copy. (The AVX2 kernel packs any block that meets more than 8 slivers
    /// of `B`: in place, its short steps pay for the rows' addresses at every sliver.) The
    /// same limit says when a `C` is small enough to be in cache, and not prefetched, and
    /// (with `panel_in_place_up_to`) when a product on one thread, whose `B` is read in place
    /// and not copied (`own_copies_up_to`), is small enough to skip the blocking altogether
    /// (0: neither).
    pub in_place_up_to: usize,
    /// Bytes of a panel of a row-major `B` up to which the kernel reads it in place instead of
    /// packing it (0: always packed), unless each thread packs its own copy (`own_copies_up_to`).
    /// Unless 0, a panel of any size is read in place when `A`'s rows are one block of a few
    /// tiles: each sliver then meets the block once, its tiles one after another while it is in
    /// cache, and a copy would add a pass over the panel for less than it saves. Each step of a
    /// sliver read in place is one piece of a row, and a panel no larger than L2 (which it shares
    /// with a block of `A` and the tiles of `C`) streams its slivers from there; a larger one would
    /// come from L3 a row at a time, and is packed once for all threads.
    pub panel_in_place_up_to: usize,
    /// Bytes of a panel of a row-major `B` up to which each thread packs its own copy of it,
    /// instead of reading it in place, when the threads have `own_copies_from_rows` rows of
    /// `C` or more each (0: never). Only panels that would be read in place are copied: the
    /// smaller of this and `panel_in_place_up_to` holds.
    ///
    /// Read in place, a sliver's steps are a row of `B` apart; for the widths where a panel
    /// fits in L2, that is a few hundred bytes to a few kilobytes, so the steps fall into a
    /// fraction of L1's sets and the sliver does not stay in L1 from one tile to the next.
    /// Packed, it is contiguous and does. But a copy costs a pass over the panel, which only a
    /// thread with enough rows to use it for earns back, and a copy shared between threads
    /// must travel from the core that packed it to the others: so each thread packs the whole
    /// panel for itself, into its L2. Where several threads share an L2 (two threads of one
    /// core, or a cluster of cores), their copies share it too, so each may take only its
    /// share, or they crowd each other out.
    pub own_copies_up_to: usize,
    /// Rows of `C` per thread from which each thread packs its own copy of a panel of a
    /// row-major `B` within `own_copies_up_to`, instead of reading it in place
    /// (`usize::MAX`: never). Only where the threads share the rows of `C`: where they share
    /// its columns, each reads only its part of the panel.
    pub own_copies_from_rows: usize,
    /// Bytes of `C` up to which threads split `k` instead of sharing `C` (0: never), where `k`
    /// has at least a whole panel (`kc` steps) for each thread. Each thread then computes all
    /// of `C` over its own part of `k`, alone, into `C` or a buffer of its own, and the buffers
    /// are added into `C` at the end. Sharing `C`, the threads meet at the end of every panel
    /// of `k` (the next one adds into the same blocks), and a small `C` has few blocks to share
    /// and shares them unevenly: 100 rows are seven tiles of 14 and one of 2. Split, they
    /// meet once, with equal work, for the price of one more `C` to write and add per thread:
    /// little while `C` is small enough to stay in cache. The work is cut once, in equal parts:
    /// a helper that starts late holds the product up by up to its whole part, where threads
    /// sharing `C` take its blocks as they go. And with many threads, `k` must be that many
    /// panels long: on 16, a `k` of 10000 steps in panels of 1024 is shared as before.
    pub split_k_up_to: usize,
    /// L1 as `(bytes of one way, ways)`, when a block of `A` is read in place only if each
    /// sliver's rows spread over its sets ([`rows_spread_over_l1`]); `None`: whatever the
    /// distance between the rows.
    pub in_place_l1: Option<(usize, usize)>,
}

impl Plan {
    /// The `gemm-kernel` stage: this CPU's micro-kernel over the unpacked matrices.
    pub fn kernel() -> Plan {
        Plan {
            isa: Isa::detect(),
            packing: false,
            blocks: Blocks::WHOLE,
            threads: 1,
            parallel_from: usize::MAX,
            in_place_up_to: 0,
            panel_in_place_up_to: 0,
            own_copies_up_to: 0,
            own_copies_from_rows: usize::MAX,
            split_k_up_to: 0,
            in_place_l1: None,
        }
    }

    /// The `gemm-packed` stage: the whole of `A` and of `B` packed, then the kernel.
    pub fn packed() -> Plan {
        Plan {
            packing: true,
            ..Plan::kernel()
        }
    }

    /// The `gemm-blocked` stage: packing in blocks sized from this machine's caches
    /// ([`Caches::detect`], [`Blocks::for_caches`], or [`Blocks::for_caches_b_in_l1`] for the
    /// kernels whose row of [`Isa::kernels`] says so).
    pub fn blocked() -> Plan {
        Plan::blocked_on(Caches::detect(), Isa::detect())
    }

    /// [`Plan::blocked`] on a machine with `caches`.
    fn blocked_on(caches: Caches, isa: Isa) -> Plan {
        let plan = Plan {
            isa,
            ..Plan::packed()
        };
        let shape = plan.isa.kernels();
        let (mr, nr) = shape.gemm_tile;
        let blocks = match shape.gemm_kc_from_l1 {
            true => Blocks::for_caches_b_in_l1(caches, mr, nr),
            false => Blocks::for_caches(caches, mr, nr),
        };
        Plan { blocks, ..plan }
    }

    /// The `gemm` stage: the blocked product on every core
    /// ([`std::thread::available_parallelism`]) from [`parallel_from`] multiply-adds, with
    /// blocks of a row-major `A` up to a quarter of L2 whose rows spread over L1
    /// ([`rows_spread_over_l1`]) (for the AVX2 kernel, only blocks that meet at most 8 slivers
    /// of `B`), and panels of a row-major `B` up to the whole of L2 (a quarter
    /// for a kernel whose packed step of `B` is one cache line, AVX2's), read in place, not
    /// packed, unless the threads have 128 rows or more each, which then pack their own copies
    /// of the panels that fit their share of L2 ([`Plan::own_copies_up_to`]; none for the
    /// AVX-512 kernel on a core that splits 512-bit instructions); a panel of any
    /// size read in place where `A`'s rows are one block of a few tiles. (Where `A` is short,
    /// the threads share the columns of `B`, and make no copies of their own: module `driver`.)
    /// A `C` within an eighth of L2, with a panel of `k` or more for each thread, is not shared:
    /// the threads split `k` ([`Plan::split_k_up_to`]).
    ///
    /// Worked out once per process and kept: everything it depends on (the instruction set,
    /// the caches, the cores, the threshold) is decided once, and working out the blocks again
    /// for every product took about a tenth of a one-tile product's time. ([`matmul`] does not
    /// ask for the threshold, which takes a moment to time, for products too small to share.)
    pub fn threaded() -> Plan {
        let plan = Plan::shared();
        Plan {
            parallel_from: parallel_from(plan.isa),
            ..plan
        }
    }

    /// [`Plan::threaded`] for an `(m, k) @ (k, n)` product: the same plan, except that a product
    /// below the least threshold [`parallel_from`] can give, which is never shared, does not
    /// ask for it, and so never waits for it to be timed.
    fn threaded_for(m: usize, k: usize, n: usize) -> Plan {
        let plan = Plan::shared();
        let (least, _) = parallel_from_bounds(plan.isa);
        match work_in_tiles(m, k, n, tile_shape(plan.isa)) < least {
            true => Plan {
                parallel_from: usize::MAX,
                ..plan
            },
            false => Plan::threaded(),
        }
    }

    /// [`Plan::shared_on`] this machine, with its kernel: worked out once per process.
    fn shared() -> Plan {
        static PLAN: OnceLock<Plan> = OnceLock::new();
        *PLAN.get_or_init(|| Plan::shared_on(Caches::detect(), crate::pool::cores(), Isa::detect()))
    }

    /// [`Plan::threaded`] for `threads` threads on a machine with `caches`, with `isa`'s kernel,
    /// but sharing a product of any size (`parallel_from: 0`).
    fn shared_on(caches: Caches, threads: usize, isa: Isa) -> Plan {
        let plan = Plan::blocked_on(caches, isa);
        let Caches {
            l1_ways,
            l2,
            l2_shared_by,
            ..
        } = caches;
        // A packed step of a sliver of `B` that is exactly one line (AVX2's 16 floats) is two
        // lines read in place from a row that starts inside a line, as rows usually do (the
        // allocator's 16-byte boundary): twice the lines from L2 for every tile. For a small
        // panel and threads with few rows each, the copy costs more than that; for a large
        // panel the doubled lines cost more. AVX-512's 32-float step is three lines in place
        // against two, and reads in place about as fast as packed up to all of L2.
        let step_is_a_line = tile_shape(plan.isa).1 * size_of::<f32>() == 64;
        let panel_limit = if step_is_a_line { l2 / 4 } else { l2 };
        // A copy of its own saves a thread the lines a sliver read in place takes beyond a
        // packed one: a third line a step for the AVX-512 kernel. On a core that runs 512-bit
        // instructions as two halves (`machine::splits_512_bit_ops`), that kernel starts one
        // 16-lane FMA a cycle, not two, and its 28 FMAs a step leave L2 time enough for the
        // third line: the copy only costs. On the AMD Zen 4 this was measured on, with two
        // threads, own copies made the squares from `256³` to `512³` a tenth slower or so than
        // reading in place, and `(2000, 50) @ (50, 2000)` no faster.
        let copies_pay = own_copies_pay(plan.isa, crate::machine::splits_512_bit_ops());
        Plan {
            threads,
            parallel_from: 0,
            // A quarter of L2 for a block of `A`, read in place: it shares L2 with the panel
            // of `B` streaming past it and with the tiles of `C`.
            in_place_up_to: l2 / 4,
            // All of L2, while `A`'s blocks keep their quarter: a panel that small is read in
            // place, or packed by each thread into its L2 when the threads have many rows each
            // (module `driver`), where `own_copies_up_to` allows. Only `A`'s quarter where a step is one line (above); there a
            // larger panel, packed once and shared, kept up with own copies.
            panel_in_place_up_to: panel_limit,
            // The same panels, divided among the threads that share an L2: as large where
            // each thread has an L2 of its own, half where two threads of a core share one,
            // a sixth on a cluster of six cores (Apple's), so that all their copies fit. None
            // for the AVX-512 kernel on a core that splits its instructions (above).
            own_copies_up_to: if copies_pay {
                panel_limit / l2_shared_by.min(threads).max(1)
            } else {
                0
            },
            // Where own copies began to pay on the Intel Xeon this was measured on, with two
            // threads and either kernel (one thread alone broke even a little later).
            own_copies_from_rows: 128,
            // A `C` within an eighth of L2: half of what a block of `A` read in place may take,
            // since each thread's part of `k` streams through L2 beside it. On the Intel Xeon
            // this was measured on (2 MiB of L2: a `C` of 256 × 256 floats at most), with two
            // threads and `k` of two panels or more, splitting made `(100, 10000) @ (10000,
            // 100)` and `(64, 2048) @ (2048, 64)` clearly faster and left `(250, 2048) @
            // (2048, 250)` as fast as before; with `C`s of 300 × 300 and 350 × 350, which this
            // limit leaves to the threads sharing `C`, it was level or slower.
            split_k_up_to: l2 / 8,
            // Unless its rows fall into so few sets of L1 that they evict each other.
            in_place_l1: Some((caches.l1_way_bytes(), l1_ways)),
            ..plan
        }
    }
}

/// Whether the threads pack their own copies of small panels of `B` for `isa`'s kernel, on a core
/// that runs 512-bit instructions as two halves or not (`splits_512`): not for the AVX-512 kernel
/// on such a core (the reason is in `Plan::shared_on`).
fn own_copies_pay(isa: Isa, splits_512: bool) -> bool {
    !(isa == Isa::Avx512 && splits_512)
}

/// The `(MR, NR)` tile of `isa`'s micro-kernel: rows and columns of `C` it keeps in registers
/// (the row of [`Isa::kernels`] that the kernel takes its `MR` and `NR` from).
///
/// ```
/// use matmul_blas::{gemm, isa::Isa};
///
/// assert_eq!(gemm::tile_shape(Isa::Avx512), (14, 32));
/// assert_eq!(gemm::tile_shape(Isa::Avx2), (6, 16));
/// assert_eq!(gemm::tile_shape(Isa::Neon), (8, 12));
/// assert_eq!(gemm::tile_shape(Isa::Portable), (4, 8));
/// ```
pub fn tile_shape(isa: Isa) -> (usize, usize) {
    isa.kernels().gemm_tile
}

/// `a @ b` as `plan` says.
///
/// `a: (m, k)`, `b: (k, n)`, any strides; returns `(m, n)`.
///
/// # Panics
///
/// When `a.ncols() != b.nrows()`, naming both shapes; when `plan.isa` is an instruction set
/// this CPU lacks.
pub fn matmul_with(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>, plan: &Plan) -> Array2<f32> {
    let (m, k, n) = matmul_data::assert_inner_dims(a.dim(), b.dim());
    if m == 0 || n == 0 || k == 0 {
        return Array2::zeros((m, n)); // a sum of nothing is zero
    }
    match plan.isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => run::<avx512::Avx512>(a, b, plan),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => run::<avx2::Avx2>(a, b, plan),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => run::<neon::Neon>(a, b, plan),
        Isa::Portable => run::<portable::Portable>(a, b, plan),
        // Another architecture's instruction set: `Isa::detect` never returns one.
        isa => panic!("gemm: no {isa:?} micro-kernel for this architecture"),
    }
}

/// The multiply-adds of an `(m, k) @ (k, n)` product as a kernel of `(MR, NR)` tiles does them,
/// those of its edge tiles' padding included: a short `A` or a narrow `B` takes about a whole
/// tile's time per tile however little of it is data. What [`Plan::parallel_from`] counts.
fn work_in_tiles(m: usize, k: usize, n: usize, (mr, nr): (usize, usize)) -> usize {
    m.next_multiple_of(mr)
        .saturating_mul(k)
        .saturating_mul(n.next_multiple_of(nr))
}

/// Runs `plan` with the micro-kernel `K`, for no dimension zero.
fn run<K: MicroKernel>(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>, plan: &Plan) -> Array2<f32> {
    assert!(
        K::supported(),
        "gemm: this CPU lacks the instructions of the {:?} micro-kernel",
        plan.isa
    );
    let (m, k) = a.dim();
    let n = b.ncols();
    if !plan.packing {
        let mut c = crate::buffers::zeroed_output(m, n);
        unpacked::run::<K>(a, b, &mut c);
        return c;
    }
    let work = work_in_tiles(m, k, n, (K::MR, K::NR));
    let threads = if work >= plan.parallel_from {
        plan.threads.max(1)
    } else {
        1
    };
    let blocks = Blocks {
        kc: plan.blocks.kc.max(1),
        mc: plan.blocks.mc.max(1),
        nc: plan.blocks.nc.max(1),
    };
    // Not zeroed: the driver's first panel of `k` writes every element.
    let mut c = crate::buffers::uninit_output(m, n);
    let slice = c.as_slice_mut().expect("c is a fresh row-major array");
    // A row-major `a` whose slivers may be read where they are, if its blocks are small enough.
    let a_may_stay = a.strides()[1] == 1
        && plan.in_place_l1.is_none_or(|l1| {
            let pitch = a.strides()[0].unsigned_abs().wrapping_mul(size_of::<f32>());
            rows_spread_over_l1(m, K::MR, pitch, l1)
        });
    let limits = driver::Limits {
        in_place_up_to: plan.in_place_up_to,
        panel_in_place_up_to: plan.panel_in_place_up_to,
        own_copies_up_to: plan.own_copies_up_to,
        own_copies_from_rows: plan.own_copies_from_rows,
        split_k_up_to: plan.split_k_up_to,
    };
    driver::run::<K>(a, b, slice, blocks, threads, limits, a_may_stay);
    // SAFETY: `driver::run` wrote every element of `c`: no dimension is zero, so for each
    // panel of columns the first panel of `k` writes those columns of every row (where the
    // threads split `k`, the first part's, whose panels are a product on one thread).
    unsafe { c.assume_init() }
}

/// The `gemm-kernel` stage: `a @ b` by this CPU's micro-kernel over the unpacked matrices.
///
/// `a: (m, k)`, `b: (k, n)`, any strides; returns `(m, n)`.
///
/// # Panics
///
/// When `a.ncols() != b.nrows()`, naming both shapes.
///
/// ```
/// use ndarray::array;
///
/// let a = array![[1.0, 2.0], [3.0, 4.0]];
/// let b = array![[5.0, 6.0], [7.0, 8.0]];
/// let c = matmul_blas::gemm::matmul_kernel(a.view(), b.view());
/// assert_eq!(c, array![[19.0, 22.0], [43.0, 50.0]]);
/// ```
pub fn matmul_kernel(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    matmul_with(a, b, &Plan::kernel())
}

/// The `gemm-packed` stage: `a @ b` with the whole of `a` and `b` packed for the micro-kernel.
///
/// `a: (m, k)`, `b: (k, n)`, any strides; returns `(m, n)`.
///
/// # Panics
///
/// When `a.ncols() != b.nrows()`, naming both shapes.
///
/// ```
/// use matmul_data::{synthetic, test_near};
///
/// // b's transpose: column-major, which packing reads as easily as row-major.
/// let (a, b) = (synthetic::uniform(50, 70, 1), synthetic::uniform(40, 70, 2));
/// test_near(&matmul_blas::gemm::matmul_packed(a.view(), b.t()), &a.dot(&b.t()));
/// ```
pub fn matmul_packed(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    matmul_with(a, b, &Plan::packed())
}

/// The `gemm-blocked` stage: `a @ b` packed in blocks sized to this machine's caches.
///
/// `a: (m, k)`, `b: (k, n)`, any strides; returns `(m, n)`.
///
/// # Panics
///
/// When `a.ncols() != b.nrows()`, naming both shapes.
///
/// ```
/// use matmul_data::{synthetic, test_near};
///
/// let (a, b) = (synthetic::uniform(300, 500, 1), synthetic::uniform(500, 200, 2));
/// test_near(&matmul_blas::gemm::matmul_blocked(a.view(), b.view()), &a.dot(&b));
/// ```
pub fn matmul_blocked(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    matmul_with(a, b, &Plan::blocked())
}

/// The `gemm` stage: `a @ b` blocked, packed and on every core (from [`parallel_from`]
/// multiply-adds).
///
/// `a: (m, k)`, `b: (k, n)`, any strides; returns `(m, n)`.
///
/// # Panics
///
/// When `a.ncols() != b.nrows()`, naming both shapes.
///
/// ```
/// use matmul_data::{synthetic, test_near};
///
/// let (a, b) = (synthetic::uniform(300, 500, 1), synthetic::uniform(500, 200, 2));
/// test_near(&matmul_blas::gemm::matmul(a.view(), b.view()), &a.dot(&b));
/// ```
pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    matmul_with(a, b, &Plan::threaded_for(a.nrows(), a.ncols(), b.ncols()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `matmul` does not ask for the threshold below its least: every threshold, timed or
    /// the fallback, is at least that, and `matmul`'s plan for a smaller product shares it
    /// with no thread, for a larger one from the threshold.
    #[test]
    fn no_threshold_falls_below_the_least_one() {
        // The fallback at the rates of a slow kernel (an unoptimised build's AVX-512 one ran at
        // 0.37 G multiply-adds a second), an AVX-512 core's, and one beyond any.
        let bounds = parallel_from_bounds(Isa::Avx512);
        let fallback = |rate: f64| threshold(None, Some(rate), bounds);
        assert_eq!(fallback(0.37e9), bounds.0);
        assert_eq!(fallback(56e9), 504_000);
        assert_eq!(fallback(1e15), bounds.1);
        assert_eq!(threshold(None, None, bounds), usize::MAX);
        let one_core = Sharing {
            threads: 1,
            multiply_adds: bounds.0 * 8,
            alone: 1e-6,
            shared: 1e-6,
        };
        assert_eq!(threshold(Some(one_core), Some(56e9), bounds), usize::MAX);
        for isa in Isa::ALL.into_iter().filter(|isa| isa.runs_here()) {
            let (least, most) = parallel_from_bounds(isa);
            let from = parallel_from(isa);
            assert!(
                least <= from && (from <= most || from == usize::MAX),
                "{isa:?}: {from} outside {least}..={most}"
            );
        }
        let isa = Isa::detect();
        let (mr, nr) = tile_shape(isa);
        let (least, _) = parallel_from_bounds(isa);
        // Whole tiles, just below the least and at it (every tile shape divides it).
        let k = least / (mr * nr);
        assert_eq!(mr * k * nr, least);
        assert_eq!(Plan::threaded_for(mr, k - 1, nr).parallel_from, usize::MAX);
        assert_eq!(
            Plan::threaded_for(1, k, 1).parallel_from,
            parallel_from(isa)
        );
        assert_eq!(Plan::threaded_for(mr, k, nr), Plan::threaded());
    }

    /// The threads' own copies of `B` get the share of L2 that each thread has: all of the
    /// in-place limit where each thread has an L2 of its own (as on the machine the committed
    /// figures come from), half where two threads share one, and never less than a share for
    /// each thread that runs. (With the portable kernel, which runs everywhere and makes its
    /// copies on every core.)
    #[test]
    fn own_copies_fit_each_threads_share_of_l2() {
        let on = |l2_shared_by: usize, threads: usize| {
            let caches = Caches {
                l2_shared_by,
                ..Caches::DEFAULT
            };
            Plan::shared_on(caches, threads, Isa::Portable)
        };
        let own = on(1, 2);
        assert!(own.panel_in_place_up_to > 0);
        assert_eq!(own.own_copies_up_to, own.panel_in_place_up_to);
        let panel = own.panel_in_place_up_to;
        assert_eq!(on(2, 16).own_copies_up_to, panel / 2);
        assert_eq!(on(4, 16).own_copies_up_to, panel / 4);
        // Four threads on a machine whose L2s each serve six: the four share one at most.
        assert_eq!(on(6, 4).own_copies_up_to, panel / 4);
        // One thread has its L2 to itself.
        assert_eq!(on(2, 1).own_copies_up_to, panel);
        assert_eq!(on(2, 16).own_copies_from_rows, 128);
        // Threads split `k` for a `C` within an eighth of L2; the stages before never do.
        assert_eq!(own.split_k_up_to, Caches::DEFAULT.l2 / 8);
        assert_eq!(
            Plan::blocked_on(Caches::DEFAULT, Isa::detect()).split_k_up_to,
            0
        );
    }

    /// The threads make no copies of their own for the AVX-512 kernel on a core that splits its
    /// instructions, and the same as for the others elsewhere.
    #[test]
    fn the_avx512_kernel_copies_where_the_core_runs_it_whole() {
        for isa in Isa::ALL {
            assert!(own_copies_pay(isa, false), "{isa:?}, whole");
            assert_eq!(
                own_copies_pay(isa, true),
                isa != Isa::Avx512,
                "{isa:?}, split"
            );
        }
        // This machine's plan follows the rule.
        let plan = Plan::shared_on(Caches::DEFAULT, 2, Isa::Avx512);
        let portable = Plan::shared_on(Caches::DEFAULT, 2, Isa::Portable);
        let expected = match crate::machine::splits_512_bit_ops() {
            true => 0,
            false => portable.own_copies_up_to,
        };
        assert_eq!(plan.own_copies_up_to, expected);
        assert_eq!(plan.panel_in_place_up_to, portable.panel_in_place_up_to);
    }
}
