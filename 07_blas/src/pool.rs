//! The helper threads of the GEMM ([`crate::gemm`]) and of the streaming kernel
//! ([`crate::streaming`]): started once, kept between products, awake for a moment after
//! each, and never waited for when they are slow to start.
//!
//! A helper that has gone to sleep takes a system call to wake, and then the operating
//! system's time to run it, which on a virtual machine, whose idle cores the host takes back,
//! can be longer than a whole `128³` product on one core takes. A loop of
//! products (the lesson's batches, a benchmark's samples) would pay that once per product, or
//! once per panel of `B`, where the threads meet. So:
//!
//! - a helper that finishes its share watches for the next job for [`LINGER`] before it
//!   sleeps: spinning at first, then spinning and now and then giving its core away (a
//!   yield), then asleep. OpenMP runtimes keep their threads the same way (for their
//!   `KMP_BLOCKTIME`, 200 ms by default in Intel's and LLVM's); <!-- fact -->
//!   here much shorter, as a spinning helper holds a core;
//! - a helper takes its part of a job by claiming it, and the caller, once its own share is
//!   done, claims back the parts no helper has started. The work of a product is shared out
//!   as it goes (blocks of rows taken from a common queue; in the GEMM, slivers of `B` packed
//!   by whoever needs them first), so a part claimed back is no work lost: the caller has done
//!   it all, and a helper that wakes too late finds nothing to do. A product after a long
//!   pause takes about as long as on one core, not that plus a wake. (The GEMM's split of
//!   `k` is the exception: its parts are cut in advance, one per thread, so a helper that
//!   wakes late holds the product up by its part.)
//!
//! One product at a time uses the helpers. A product started on another thread while they
//! are busy does all the parts on the thread that asked, one after another, instead of
//! waiting for them to come free.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long a helper watches for the next job before it sleeps: long enough to cover what a
/// loop of products does between two of them, short against anything a person would notice a
/// core busy for.
pub(crate) const LINGER: Duration = Duration::from_millis(1);

/// How long a waiting thread only spins, before it starts to give its core away now and then
/// ([`pause`]).
const SPIN_ALONE: Duration = Duration::from_micros(20);

/// How long the caller waits for helpers that have started, before it sleeps until the last
/// one wakes it. They started about when the caller did, on shares of the same work, so this
/// is rarely reached.
const WAIT_FOR_HELPERS: Duration = Duration::from_micros(200);

thread_local! {
    /// Parts of this thread's jobs that a helper did ([`parts_helped`]).
    static HELPED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many parts of the jobs this thread has given [`run`] a helper has done, so far: a
/// caller that reads it before and after a product learns whether a helper took part, or
/// whether it did every part itself (helpers asleep or slow to wake, or busy with another
/// thread's product).
pub(crate) fn parts_helped() -> u64 {
    HELPED.with(|helped| helped.get())
}

/// A job: one part of the work of a product (in the GEMM, of one panel of it, or of all of
/// it where the threads split `k`), called with each worker's index.
type Job<'a> = dyn Fn(usize) + Sync + 'a;

/// What the caller and the helpers share.
struct Shared {
    /// The job's number (from 1, in the high bits) and how many helpers take part (the low 16
    /// bits): those whose index is below the count. One word, so that a helper never reads
    /// the count of one job with the number of another.
    ticket: AtomicU64,
    /// Where the caller keeps its reference to the job (a `*const &Job`), written before the
    /// ticket. The caller waits for every helper that claimed its part before it returns, and
    /// so before that reference, on its stack, goes.
    job: AtomicPtr<()>,
    /// Per helper: the number of the job whose part it may still claim (0: none). The helper
    /// claims it, or the caller claims it back, by swapping it for 0: whoever succeeds does the
    /// part.
    parts: Vec<AtomicU64>,
    /// Parts not yet done: those not yet claimed, plus those a helper, or the caller claiming
    /// them back, is still working on.
    remaining: AtomicUsize,
    /// Whether a helper's part of the current job panicked.
    panicked: AtomicBool,
    /// Per helper: asleep, or about to be (then the caller wakes it).
    sleeping: Vec<AtomicBool>,
    /// The caller of the current job, which the last helper to finish wakes, in case it has
    /// stopped waiting awake.
    caller: Mutex<Option<Thread>>,
}

/// The helper threads and who is using them.
struct Pool {
    shared: &'static Shared,
    threads: Vec<Thread>,
    /// Held by the product that is using the helpers.
    busy: Mutex<()>,
}

/// Runs `work(0)`, …, `work(workers - 1)`, and returns when every call has returned:
/// `work(0)` on this thread, one part for each helper (one fewer than the cores, at least
/// one) on a helper, unless no helper has started it by the time this thread is done with
/// its own, and the parts beyond the helpers here, after `work(0)`. With the helpers busy on
/// another thread's product, every call runs here, one after another.
///
/// A panic in any call panics here, once every call already started has returned; the calls
/// not yet started are then skipped (on one thread, everything after the first panic). A
/// helper's panic arrives as a message that says a part panicked, not as its own payload.
///
/// `work` must be written for that: any of its calls may run after the others have returned,
/// or on the same thread as them.
pub(crate) fn run(workers: usize, work: &(dyn Fn(usize) + Sync)) {
    let pool = pool();
    let guard = match pool.busy.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    };
    let Some(guard) = guard.filter(|_| 1 < workers) else {
        (0..workers).for_each(work);
        return;
    };
    let shared = pool.shared;
    let helpers = (workers - 1).min(pool.threads.len());
    // The helpers read `work` through this reference, which lives until `finish`, below, has
    // seen every helper that claimed a part return from it (also when `work(0)` panics).
    let job: &Job<'_> = work;
    shared
        .job
        .store((&raw const job).cast_mut().cast(), Ordering::Relaxed);
    shared.panicked.store(false, Ordering::Relaxed);
    *lock(&shared.caller) = Some(thread::current());
    shared.remaining.store(helpers, Ordering::Relaxed);
    let number = (shared.ticket.load(Ordering::Relaxed) >> 16) + 1;
    for part in &shared.parts[..helpers] {
        part.store(number, Ordering::Relaxed);
    }
    shared
        .ticket
        .store(number << 16 | helpers as u64, Ordering::SeqCst);
    for (helper, thread) in pool.threads.iter().enumerate().take(helpers) {
        if shared.sleeping[helper].swap(false, Ordering::SeqCst) {
            thread.unpark();
        }
    }
    let claimed_back = std::cell::Cell::new(0);
    let finish = Finish {
        shared,
        number,
        helpers,
        work,
        claimed_back: &claimed_back,
        _busy: guard,
    };
    work(0);
    (helpers + 1..workers).for_each(work);
    drop(finish);
    let helped = (helpers - claimed_back.get()) as u64;
    HELPED.with(|count| count.set(count.get() + helped));
    if shared.panicked.load(Ordering::Relaxed) {
        panic!("a part of a product's work panicked");
    }
}

/// The end of [`run`], also while a panic in `work(0)` unwinds: the parts no helper has
/// claimed are claimed back (and, unless unwinding, done here), then the helpers that claimed
/// theirs are waited for.
struct Finish<'a> {
    shared: &'static Shared,
    number: u64,
    helpers: usize,
    work: &'a Job<'a>,
    /// How many parts this end claimed back, for [`parts_helped`].
    claimed_back: &'a std::cell::Cell<usize>,
    _busy: MutexGuard<'static, ()>,
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        let shared = self.shared;
        for (helper, part) in shared.parts[..self.helpers].iter().enumerate() {
            let claimed_back = part
                .compare_exchange(self.number, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok();
            if claimed_back {
                self.claimed_back.set(self.claimed_back.get() + 1);
                // Caught, so that a panic here still waits for the helpers below.
                if !thread::panicking() {
                    let outcome = panic::catch_unwind(AssertUnwindSafe(|| (self.work)(helper + 1)));
                    if let Err(payload) = outcome {
                        shared.panicked.store(true, Ordering::Relaxed);
                        // Not dropped: a payload whose drop panics would skip the wait below.
                        std::mem::forget(payload);
                    }
                }
                shared.remaining.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let since = Instant::now();
        let mut spins = 0u32;
        while shared.remaining.load(Ordering::Acquire) != 0 {
            if pause(&mut spins, since, WAIT_FOR_HELPERS) {
                // Woken by the last helper's `unpark`, or earlier (spuriously, or by a token
                // left from an earlier job): the loop looks again.
                thread::park();
            }
        }
    }
}

/// The pool, started at the first call.
fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let count = cores().saturating_sub(1).max(1);
        let shared: &'static Shared = Box::leak(Box::new(Shared {
            ticket: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            parts: (0..count).map(|_| AtomicU64::new(0)).collect(),
            remaining: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            sleeping: (0..count).map(|_| AtomicBool::new(false)).collect(),
            caller: Mutex::new(None),
        }));
        let threads = (0..count)
            .map(|helper| {
                thread::Builder::new()
                    .name(format!("matmul-blas-{helper}"))
                    .spawn(move || serve(shared, helper))
                    .expect("starting the helper threads of matmul-blas")
                    .thread()
                    .clone()
            })
            .collect();
        Pool {
            shared,
            threads,
            busy: Mutex::new(()),
        }
    })
}

/// A helper's life: wait for a ticket it has not seen, claim its part if it has one and the
/// caller has not claimed it back, do it, and go back to waiting.
fn serve(shared: &'static Shared, helper: usize) {
    let mut seen = 0u64;
    loop {
        let ticket = next_ticket(shared, helper, seen);
        seen = ticket;
        let (number, helpers) = (ticket >> 16, (ticket & 0xffff) as usize);
        let claimed = helper < helpers
            && shared.parts[helper]
                .compare_exchange(number, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok();
        if !claimed {
            continue;
        }
        // SAFETY: the claim succeeded with this job's `number`, so the caller has not yet
        // claimed the part back, and so has not passed the wait in `Finish::drop`. It stored
        // where its `&Job` is before the ticket (which this thread read with `Acquire`), and
        // keeps it, and the job, alive until `remaining` reaches 0, which needs this thread's
        // decrement below. The lifetime is the caller's, not `'static`: nothing of the job
        // outlives this call.
        let job = unsafe { *shared.job.load(Ordering::Relaxed).cast::<&Job<'static>>() };
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| job(helper + 1))) {
            shared.panicked.store(true, Ordering::Relaxed);
            // Not dropped: a payload whose drop panics would end this helper before its
            // decrement, and the caller would wait for it for ever.
            std::mem::forget(payload);
        }
        if shared.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last one: the caller may be asleep.
            if let Some(caller) = &*lock(&shared.caller) {
                caller.unpark();
            }
        }
    }
}

/// The first ticket other than `seen`: watched for [`LINGER`], then asleep until the caller
/// of the next job wakes this helper.
fn next_ticket(shared: &Shared, helper: usize, seen: u64) -> u64 {
    let mut since = Instant::now();
    let mut spins = 0u32;
    loop {
        let ticket = shared.ticket.load(Ordering::Acquire);
        if ticket != seen {
            return ticket;
        }
        if !pause(&mut spins, since, LINGER) {
            continue;
        }
        // Say so before the last look: a caller that stores its ticket after that look sees
        // the flag and wakes this thread (`unpark` before `park` makes `park` return at once).
        shared.sleeping[helper].store(true, Ordering::SeqCst);
        if shared.ticket.load(Ordering::SeqCst) == seen {
            thread::park();
        }
        shared.sleeping[helper].store(false, Ordering::SeqCst);
        since = Instant::now();
    }
}

/// One turn of a waiting loop that began at `since`: `true` once `limit` has passed (time to
/// sleep); before that a spin, and after [`SPIN_ALONE`] now and then a yield, which lets
/// another thread on this core run. The operating system may wake a sleeping thread on the
/// core of the thread that woke it, and two threads spinning on one core, neither giving it
/// up, would hold each other up until the scheduler moved one.
fn pause(spins: &mut u32, since: Instant, limit: Duration) -> bool {
    *spins = spins.wrapping_add(1);
    if !spins.is_multiple_of(64) {
        std::hint::spin_loop();
        return false;
    }
    let waited = since.elapsed();
    if waited >= limit {
        return true;
    }
    if waited >= SPIN_ALONE {
        thread::yield_now();
    }
    false
}

/// `mutex`'s guard, poisoned or not: what it guards (a thread handle) cannot be left half
/// written by a panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `std::thread::available_parallelism`, asked once: on Linux it reads the cgroup's CPU quota
/// from files, which costs more than a small product.
pub(crate) fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_part_runs_once_whoever_runs_it() {
        for workers in 1..=4 {
            for pause_between in [false, true] {
                let calls: Vec<AtomicUsize> = (0..workers).map(|_| AtomicUsize::new(0)).collect();
                for _ in 0..50 {
                    run(workers, &|worker| {
                        calls[worker].fetch_add(1, Ordering::Relaxed);
                    });
                    if pause_between {
                        thread::sleep(LINGER * 2);
                        break;
                    }
                }
                let expected = if pause_between { 1 } else { 50 };
                for (worker, count) in calls.iter().enumerate() {
                    assert_eq!(
                        count.load(Ordering::Relaxed),
                        expected,
                        "{workers} workers, part {worker}"
                    );
                }
            }
        }
    }

    #[test]
    fn more_parts_than_helpers_each_run_once() {
        let workers = cores() + 2;
        let calls: Vec<AtomicUsize> = (0..workers).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..20 {
            run(workers, &|worker| {
                calls[worker].fetch_add(1, Ordering::Relaxed);
            });
        }
        for (worker, count) in calls.iter().enumerate() {
            assert_eq!(
                count.load(Ordering::Relaxed),
                20,
                "part {worker} of {workers}"
            );
        }
    }

    #[test]
    fn parts_helped_counts_the_parts_a_helper_did() {
        let caller = thread::current().id();
        for workers in [2, 3] {
            for _ in 0..20 {
                let elsewhere = AtomicUsize::new(0);
                let started = AtomicUsize::new(0);
                let before = parts_helped();
                run(workers, &|worker| {
                    if worker == 0 {
                        // Give the helpers the time to claim their parts, or not.
                        let since = Instant::now();
                        while started.load(Ordering::Acquire) + 1 < workers
                            && since.elapsed() < LINGER
                        {
                            thread::yield_now();
                        }
                    } else {
                        started.fetch_add(1, Ordering::Release);
                        if thread::current().id() != caller {
                            elsewhere.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
                let helped = parts_helped() - before;
                assert_eq!(
                    helped,
                    elsewhere.load(Ordering::Relaxed) as u64,
                    "{workers} workers"
                );
            }
        }
        // Helpers asleep, and a caller that does not wait: it claims their parts back, which
        // do not count. Other tests, running at the same time, keep the helpers awake while
        // they use them, so this tries until one try finds them asleep (or the pool busy,
        // which also leaves every part here), for up to ten seconds.
        let mut claimed_back = 0;
        let since = Instant::now();
        while claimed_back == 0 && since.elapsed() < Duration::from_secs(10) {
            thread::sleep(LINGER * 10);
            let elsewhere = AtomicUsize::new(0);
            let before = parts_helped();
            run(2, &|worker| {
                if worker == 1 && thread::current().id() != caller {
                    elsewhere.fetch_add(1, Ordering::Relaxed);
                }
            });
            let helped = parts_helped() - before;
            assert_eq!(helped, elsewhere.load(Ordering::Relaxed) as u64);
            claimed_back += usize::from(helped == 0);
        }
        assert!(claimed_back > 0, "a helper woke in time for every part");
    }

    #[test]
    fn a_slow_part_is_waited_for() {
        for _ in 0..5 {
            let started = AtomicBool::new(false);
            let finished = AtomicBool::new(false);
            run(2, &|worker| {
                if worker == 1 {
                    started.store(true, Ordering::Release);
                    thread::sleep(Duration::from_millis(5));
                    finished.store(true, Ordering::Release);
                } else {
                    // Give a helper the time to start part 1, so that the wait is for it.
                    let since = Instant::now();
                    while !started.load(Ordering::Acquire) && since.elapsed() < LINGER * 50 {
                        thread::yield_now();
                    }
                }
            });
            assert!(
                finished.load(Ordering::Acquire),
                "run returned before part 1 ended"
            );
        }
    }

    #[test]
    fn helpers_gone_to_sleep_are_woken_or_done_without() {
        for workers in [2, 3] {
            for _ in 0..5 {
                thread::sleep(LINGER * 10);
                let calls: Vec<AtomicUsize> = (0..workers).map(|_| AtomicUsize::new(0)).collect();
                run(workers, &|worker| {
                    calls[worker].fetch_add(1, Ordering::Relaxed);
                });
                for (worker, count) in calls.iter().enumerate() {
                    assert_eq!(
                        count.load(Ordering::Relaxed),
                        1,
                        "{workers} workers, part {worker}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_panicking_part_panics_the_caller_and_the_pool_goes_on() {
        for panicking in 0..2 {
            let outcome = panic::catch_unwind(|| {
                run(2, &|worker| {
                    if worker == panicking {
                        panic!("part {worker}");
                    }
                })
            });
            assert!(outcome.is_err(), "part {panicking} panicked");
        }
        let total = AtomicUsize::new(0);
        run(2, &|worker| {
            total.fetch_add(worker + 1, Ordering::Relaxed);
        });
        assert_eq!(total.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn products_on_several_threads_at_once_each_run_every_part() {
        thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    for _ in 0..200 {
                        let total = AtomicUsize::new(0);
                        run(2, &|worker| {
                            total.fetch_add(worker + 1, Ordering::Relaxed);
                        });
                        assert_eq!(total.load(Ordering::Relaxed), 3);
                    }
                });
            }
        });
    }
}
