//! Runtime timers on a fake clock (spec: timer-wheel §2, §3). No test sleeps on the real clock:
//! a manual driver is moved by `clock.advance` + `driver.turn`, and the threaded driver is only
//! waited on through channels.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use timer_wheel::{
    Clock, Driver, Error, FakeClock, RecvError, Ticker, Timer, TryRecvError, after_func,
};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

fn manual() -> (FakeClock, Driver) {
    let clock = FakeClock::new();
    let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
    (clock, driver)
}

#[test]
fn fake_clock_moves_only_forward_and_wakes_waiters() {
    // spec: TW-9
    let clock = FakeClock::new();
    let t0 = clock.now();
    clock.set(t0 - Duration::ZERO);
    clock.advance(SEC);
    clock.set(t0);
    assert_eq!(clock.now(), t0 + SEC);
    let parker = timer_wheel::Parker::new();
    let waiter = {
        let (clock, parker) = (clock.clone(), parker.clone());
        std::thread::spawn(move || clock.park_until(&parker, Some(t0 + 2 * SEC)))
    };
    while clock.waiters() == 0 {
        std::thread::yield_now();
    }
    clock.advance(SEC); // wakes the waiter: its deadline passed
    waiter.join().unwrap();
    assert_eq!(clock.waiters(), 0);
}

#[test]
fn timer_fires_once_not_before_its_deadline() {
    // spec: TW-10, TW-12
    let (clock, driver) = manual();
    let timer = driver.timer(10 * MS);
    clock.advance(9 * MS);
    assert_eq!(driver.turn(), 0);
    assert_eq!(timer.try_recv(), Err(TryRecvError::Empty));
    clock.advance(MS);
    assert_eq!(driver.turn(), 1);
    assert_eq!(timer.try_recv(), Ok(clock.now()));
    clock.advance(SEC);
    assert_eq!(driver.turn(), 0);
    assert_eq!(timer.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn stop_reports_pending_and_retracts_a_delivered_value() {
    // spec: TW-13 — the Go 1.23 guarantee: no value from before `stop` afterwards.
    let (clock, driver) = manual();
    let timer = driver.timer(5 * MS);
    assert!(timer.stop());
    assert!(!timer.stop());

    let timer = driver.timer(5 * MS);
    clock.advance(5 * MS);
    driver.turn(); // delivered, not read
    assert!(!timer.stop(), "already fired");
    assert_eq!(timer.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn reset_rearms_without_a_stale_value() {
    // spec: TW-14
    let (clock, driver) = manual();
    let timer = driver.timer(5 * MS);
    assert!(timer.reset(20 * MS));
    clock.advance(10 * MS);
    assert_eq!(driver.turn(), 0);

    clock.advance(10 * MS);
    driver.turn(); // fired, value waiting
    assert!(!timer.reset(5 * MS));
    assert_eq!(
        timer.try_recv(),
        Err(TryRecvError::Empty),
        "stale value seen"
    );
    clock.advance(5 * MS);
    driver.turn();
    assert_eq!(timer.try_recv(), Ok(clock.now()));
}

#[test]
fn one_slot_channel_never_blocks_the_driver() {
    // spec: TW-12 — a reset timer that fires again while the old value sits unread
    let (clock, driver) = manual();
    let ticker = driver.ticker(MS).unwrap();
    let timer = driver.timer(MS);
    for _ in 0..100 {
        clock.advance(MS);
        driver.turn();
    }
    assert!(ticker.try_recv().is_ok());
    assert!(ticker.try_recv().is_err());
    assert!(timer.try_recv().is_ok());
}

#[test]
fn after_func_runs_once_and_stop_prevents_it() {
    // spec: TW-15
    let (clock, driver) = manual();
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let f = driver.after_func(3 * MS, move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let counter = Arc::clone(&runs);
    let stopped = driver.after_func(3 * MS, move || {
        counter.fetch_add(100, Ordering::SeqCst);
    });
    assert!(stopped.stop());
    clock.advance(3 * MS);
    driver.turn();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(!f.stop(), "already ran");
    // Go semantics: reset re-arms a func timer that has run.
    assert!(!f.reset(MS));
    clock.advance(MS);
    driver.turn();
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[test]
fn after_func_callback_may_rearm_itself_and_panics_are_contained() {
    // spec: TW-11, TW-15 — callbacks run off the wheel's lock, so they can use the driver.
    let (clock, driver) = manual();
    let runs = Arc::new(AtomicUsize::new(0));
    let slot: Arc<parking_lot::Mutex<Option<timer_wheel::AfterFunc>>> = Arc::default();
    let (counter, me) = (Arc::clone(&runs), Arc::clone(&slot));
    let handle = driver.after_func(MS, move || {
        if counter.fetch_add(1, Ordering::SeqCst) < 2
            && let Some(me) = me.lock().as_ref()
        {
            me.reset(MS);
        }
    });
    *slot.lock() = Some(handle);
    let _boom = driver.after_func(MS, || panic!("callback panic (expected in this test)"));
    for _ in 0..5 {
        clock.advance(MS);
        driver.turn();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    slot.lock().take();
}

#[test]
fn ticker_drops_missed_ticks_and_keeps_cadence() {
    // spec: TW-16
    let (clock, driver) = manual();
    let start = clock.now();
    let ticker = driver.ticker(10 * MS).unwrap();
    clock.advance(35 * MS); // ticks due at 10, 20, 30: the slow reader sees one
    driver.turn();
    assert_eq!(ticker.try_recv(), Ok(start + 35 * MS));
    assert_eq!(ticker.try_recv(), Err(TryRecvError::Empty));
    clock.advance(4 * MS); // 39: the next tick stays on the cadence (40), not 35 + 10
    assert_eq!(driver.turn(), 0);
    clock.advance(MS);
    assert_eq!(driver.turn(), 1);
    assert_eq!(ticker.try_recv(), Ok(start + 40 * MS));
}

#[test]
fn ticker_rejects_zero_periods_and_resets() {
    // spec: TW-16
    let (clock, driver) = manual();
    assert!(matches!(
        driver.ticker(Duration::ZERO),
        Err(Error::ZeroPeriod { .. })
    ));
    let ticker = driver.ticker(10 * MS).unwrap();
    assert!(ticker.reset(Duration::ZERO).is_err());
    ticker.reset(3 * MS).unwrap();
    clock.advance(3 * MS);
    driver.turn();
    assert!(ticker.try_recv().is_ok());
    assert!(ticker.stop());
    clock.advance(SEC);
    driver.turn();
    assert!(ticker.try_recv().is_err());
}

#[test]
fn dropping_timers_and_tickers_frees_their_entries() {
    // spec: TW-17
    let (_clock, driver) = manual();
    let timer = driver.timer(SEC);
    let ticker = driver.ticker(SEC).unwrap();
    let func = driver.after_func(SEC, || {});
    assert_eq!(driver.pending(), 3);
    drop(timer);
    drop(ticker);
    assert_eq!(
        driver.pending(),
        1,
        "a dropped after_func handle keeps its callback"
    );
    func.stop();
    assert_eq!(driver.pending(), 0);
}

#[test]
fn blocking_receive_with_a_threaded_driver_on_a_fake_clock() {
    // spec: TW-11, TW-18 — the thread sleeps on the fake clock and wakes when time moves.
    let clock = FakeClock::new();
    let driver = Driver::new(clock.clone()).unwrap();
    let timer = driver.timer(SEC);
    let ticker = driver.ticker(SEC).unwrap();
    let start = clock.now();
    while clock.waiters() == 0 {
        std::thread::yield_now();
    }
    clock.advance(SEC);
    assert_eq!(timer.recv(), Ok(start + SEC));
    assert!(ticker.recv().is_ok());
    crossbeam_channel::select! {
        recv(timer.receiver()) -> _ => panic!("a one-shot timer fired twice"),
        default => {}
    }
    driver.shutdown();
}

#[test]
fn an_insert_wakes_a_driver_sleeping_until_later() {
    // spec: TW-11 — the driver sleeps until the far timer; a sooner one must wake it.
    let clock = FakeClock::new();
    let driver = Driver::new(clock.clone()).unwrap();
    let _far = driver.timer(Duration::from_secs(3600));
    while clock.waiters() == 0 {
        std::thread::yield_now();
    }
    let soon = driver.timer(Duration::ZERO); // due now: fires on the next pass
    assert!(soon.recv().is_ok());
    driver.shutdown();
}

#[test]
fn durations_saturate() {
    // spec: TW-19
    let (clock, driver) = manual();
    let never = driver.timer(Duration::MAX);
    let zero = driver.timer(Duration::ZERO);
    assert_eq!(driver.turn(), 1);
    assert!(zero.try_recv().is_ok());
    clock.advance(Duration::from_secs(100 * 365 * 24 * 3600));
    driver.turn();
    assert!(never.try_recv().is_err());
    assert!(driver.ticker(Duration::MAX).is_ok());
}

#[test]
fn shutdown_disconnects_receivers_and_nothing_fires_after() {
    // spec: TW-20
    let clock = FakeClock::new();
    let driver = Driver::new(clock.clone()).unwrap();
    let timer = driver.timer(SEC);
    let ticker = driver.ticker(SEC).unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let _f = driver.after_func(SEC, move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let waiter = {
        let driver = driver.clone();
        std::thread::spawn(move || {
            let blocked = driver.timer(Duration::from_secs(3600));
            blocked.recv()
        })
    };
    driver.shutdown();
    driver.shutdown(); // idempotent
    assert_eq!(waiter.join().unwrap(), Err(RecvError::Shutdown));
    clock.advance(10 * SEC);
    assert_eq!(driver.turn(), 0);
    assert_eq!(timer.recv(), Err(RecvError::Shutdown));
    assert_eq!(ticker.try_recv(), Err(TryRecvError::Shutdown));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    // Timers made after shutdown never fire and never hang.
    assert_eq!(
        driver.timer(Duration::ZERO).recv(),
        Err(RecvError::Shutdown)
    );
}

#[test]
fn global_driver_timers_work_and_ignore_shutdown() {
    // spec: TW-18 — the global driver, on the real clock; only ordering is asserted.
    let timer = Timer::new(MS);
    let ticker = Ticker::new(MS).unwrap();
    Driver::global().shutdown();
    assert!(timer.recv().is_ok());
    assert!(ticker.recv().is_ok());
    let (tx, rx) = crossbeam_channel::bounded(1);
    let _f = after_func(Duration::ZERO, move || {
        let _ = tx.try_send(());
    });
    assert!(rx.recv().is_ok());
}

#[cfg(feature = "async")]
mod async_face {
    use super::*;

    #[tokio::test]
    async fn recv_async_completes_when_the_clock_moves() {
        // spec: TW-18
        let clock = FakeClock::new();
        let driver = Driver::new(clock.clone()).unwrap();
        let timer = driver.timer(SEC);
        let ticker = driver.ticker(SEC).unwrap();
        let mover = {
            let clock = clock.clone();
            std::thread::spawn(move || {
                while clock.waiters() == 0 {
                    std::thread::yield_now();
                }
                clock.advance(SEC);
            })
        };
        assert!(timer.recv_async().await.is_ok());
        assert!(ticker.recv_async().await.is_ok());
        mover.join().unwrap();
        let pending = driver.timer(Duration::from_secs(3600));
        let shut = driver.clone();
        std::thread::spawn(move || shut.shutdown());
        assert_eq!(pending.recv_async().await, Err(RecvError::Shutdown));
    }
}
