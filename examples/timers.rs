//! Go-style timers on flywheel's timing wheel: a timeout in a `select!`, a ticker with a slow
//! reader, `after_func`, and the same logic on a fake clock that moves only when told.
//!
//! Run: `cargo run --example timers`

use std::time::Duration;

use crossbeam_channel::{select, unbounded};
use timer_wheel::{Clock, Driver, FakeClock, Ticker, Timer, after_func};

#[allow(clippy::print_stdout, reason = "an example prints what it does")]
fn main() {
    // 1. A timeout racing a channel, as `select { case <-work: ...; case <-timer.C: ... }`.
    let (work_tx, work) = unbounded::<&str>();
    let timeout = Timer::new(Duration::from_millis(20));
    std::thread::spawn(move || {
        let _ = work_tx.send("job done");
    });
    select! {
        recv(work) -> job => println!("1. got {:?} before the timeout", job.unwrap_or("nothing")),
        recv(timeout.receiver()) -> _ => println!("1. timed out"),
    }
    println!(
        "   stop() after the race: was it still pending? {}",
        timeout.stop()
    );

    // 2. A ticker with a reader slower than its period: missed ticks are dropped, not queued.
    let ticker = Ticker::new(Duration::from_millis(5)).expect("positive period");
    let slow = Timer::new(Duration::from_millis(30));
    let _ = slow.recv();
    let mut waiting = 0;
    while ticker.try_recv().is_ok() {
        waiting += 1;
    }
    println!("2. after 30 ms of not reading a 5 ms ticker, {waiting} tick was waiting");

    // 3. after_func runs a callback on the driver's callback thread; stop() prevents it.
    let (done_tx, done) = crossbeam_channel::bounded(1);
    let _run = after_func(Duration::from_millis(2), move || {
        let _ = done_tx.try_send("callback ran");
    });
    let cancelled = after_func(Duration::from_millis(2), || unreachable!("stopped in time"));
    println!("3. stopped the second callback: {}", cancelled.stop());
    println!("   {}", done.recv().unwrap_or("callback lost"));

    // 4. The same on a fake clock: a test moves time, nothing sleeps.
    let clock = FakeClock::new();
    let driver = Driver::builder()
        .clock(clock.clone())
        .manual()
        .expect("valid driver settings");
    let start = clock.now();
    let hour = driver.timer(Duration::from_secs(3600));
    clock.advance(Duration::from_secs(3599));
    driver.turn();
    println!(
        "4. fake clock at +{:?}: fired? {}",
        clock.now() - start,
        hour.try_recv().is_ok()
    );
    clock.advance(Duration::from_secs(1));
    driver.turn();
    println!(
        "   fake clock at +{:?}: fired? {}",
        clock.now() - start,
        hour.try_recv().is_ok()
    );
}
