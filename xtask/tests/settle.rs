//! `timer::settle` waits for a thread of the process that is still spinning. In a test binary
//! of its own: in one shared with other tests, their threads and child processes would share
//! the cores with the spinning thread.

#[cfg(unix)]
#[test]
fn settle_waits_for_a_spinning_thread() {
    use std::time::{Duration, Instant};
    let spin = Duration::from_millis(150);
    let spinner = std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < spin {
            std::hint::spin_loop();
        }
    });
    let start = Instant::now();
    xtask::bench::timer::settle();
    let waited = start.elapsed();
    spinner.join().unwrap();
    assert!(waited >= spin * 4 / 5, "returned after {waited:?}");
    // With nothing else running, it returns after its two pauses.
    let start = Instant::now();
    xtask::bench::timer::settle();
    assert!(
        start.elapsed() < Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
}
