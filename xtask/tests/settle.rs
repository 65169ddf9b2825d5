//! `timer::settle` waits for a thread of the process that is still spinning. In a test binary
//! of its own: in one shared with other tests, their threads and child processes would share
//! the cores with the spinning thread.

#[cfg(unix)]
#[test]
fn settle_waits_for_a_spinning_thread() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::{Duration, Instant};
    let (started, done) = (Arc::new(Barrier::new(2)), Arc::new(AtomicBool::new(false)));
    let spinner = std::thread::spawn({
        let (started, done) = (Arc::clone(&started), Arc::clone(&done));
        move || {
            started.wait();
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(100) {
                std::hint::spin_loop();
            }
            done.store(true, Ordering::Release);
        }
    });
    started.wait();
    xtask::bench::timer::settle();
    assert!(
        done.load(Ordering::Acquire),
        "settle returned while a thread still spun"
    );
    spinner.join().unwrap();
    // With nothing else running, it returns after its two pauses.
    let start = Instant::now();
    xtask::bench::timer::settle();
    assert!(
        start.elapsed() < Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
}
