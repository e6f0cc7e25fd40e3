//! Behaviour of `add_after` (spec §1.9) on a fake clock and a manual driver: no test sleeps.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{drain_now, manual, step};
use timer_wheel::{Clock, Driver, RealClock};
use workqueue::{DelayingQueue, QueueConfig};

const MS: Duration = Duration::from_millis(1);
const S: Duration = Duration::from_secs(1);

fn queue_on(driver: &Driver) -> DelayingQueue<&'static str> {
    DelayingQueue::with_config(QueueConfig::new().driver(driver.clone())).unwrap()
}

#[test]
fn zero_delay_adds_at_once() {
    // spec: DL-3
    let (_clock, driver) = manual();
    let queue = queue_on(&driver);
    queue.add_after("now", Duration::ZERO);
    assert_eq!(queue.len(), 1);
    assert_eq!(queue.waiting_len(), 0);
}

#[test]
fn never_early_and_on_time() {
    // spec: DL-4, DL-8 (and Q4: never early)
    let (clock, driver) = manual();
    let queue = queue_on(&driver);
    queue.add_after("a", 50 * MS);
    step(&clock, &driver, 50 * MS - Duration::from_nanos(1));
    assert!(queue.is_empty(), "one nanosecond early");
    assert_eq!(queue.waiting_len(), 1);
    step(&clock, &driver, Duration::from_nanos(1));
    assert_eq!(drain_now(&queue), ["a"]);
    assert_eq!(queue.waiting_len(), 0);
}

#[test]
fn earliest_deadline_wins_in_both_orders() {
    // spec: DL-6 (3 s then 1 s fires at 1 s; 1 s then 3 s fires at 1 s)
    let (clock, driver) = manual();
    let queue = queue_on(&driver);
    queue.add_after("later-first", 3 * S);
    queue.add_after("later-first", S);
    queue.add_after("sooner-first", S);
    queue.add_after("sooner-first", 3 * S);
    assert_eq!(queue.waiting_len(), 2);
    step(&clock, &driver, S);
    assert_eq!(drain_now(&queue), ["later-first", "sooner-first"]);
    step(&clock, &driver, 5 * S);
    assert!(
        queue.is_empty(),
        "the later deadlines were dropped, not kept"
    );
}

#[test]
fn ties_come_in_scheduling_order() {
    // spec: DL-11 (flywheel: insertion order)
    let (clock, driver) = manual();
    let queue = queue_on(&driver);
    for item in ["c", "a", "b"] {
        queue.add_after(item, 10 * MS);
    }
    step(&clock, &driver, 10 * MS);
    assert_eq!(drain_now(&queue), ["c", "a", "b"]);
}

#[test]
fn deadlines_fire_in_order_across_many_turns() {
    // spec: DL-5, DL-8
    let (clock, driver) = manual();
    let queue = DelayingQueue::with_config(QueueConfig::new().driver(driver.clone())).unwrap();
    for i in (0..200u64).rev() {
        queue.add_after(i, Duration::from_millis((i + 1) * 7));
    }
    let mut seen = Vec::new();
    for _ in 0..2000 {
        step(&clock, &driver, MS);
        seen.extend(drain_now(&queue));
    }
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
}

#[test]
fn waiting_is_independent_of_the_queue() {
    // spec: DL-7
    let (clock, driver) = manual();
    let queue = queue_on(&driver);
    queue.add("x");
    queue.add_after("x", S);
    let lease = queue.get().unwrap();
    assert_eq!(queue.waiting_len(), 1);
    step(&clock, &driver, S);
    assert!(queue.is_empty(), "held by a worker: marked, not queued");
    drop(lease);
    assert_eq!(drain_now(&queue), ["x"]);

    queue.add("y");
    queue.add_after("y", S);
    step(&clock, &driver, S);
    assert_eq!(drain_now(&queue), ["y"], "still queued: collapses");
}

#[test]
fn cancel_after_withdraws_only_the_waiting_copy() {
    let (clock, driver) = manual();
    let queue = queue_on(&driver);
    queue.add("q");
    queue.add_after("q", S);
    queue.add_after("w", S);
    assert!(queue.cancel_after(&"q"));
    assert!(!queue.cancel_after(&"q"));
    assert!(!queue.cancel_after(&"never"));
    assert!(queue.is_waiting(&"w"));
    assert_eq!(queue.len(), 1, "the queued copy stays");
    step(&clock, &driver, S);
    assert_eq!(drain_now(&queue), ["q", "w"]);
    // Cancel then re-add postpones.
    queue.add_after("p", S);
    assert!(queue.cancel_after(&"p"));
    queue.add_after("p", 3 * S);
    step(&clock, &driver, S);
    assert!(queue.is_empty());
    step(&clock, &driver, 2 * S);
    assert_eq!(drain_now(&queue), ["p"]);
}

#[test]
fn shut_down_ignores_and_drops_delays() {
    // spec: DL-1, DL-10
    let (clock, driver) = manual();
    let queue = queue_on(&driver);
    queue.add_after("dropped", S);
    queue.shut_down();
    assert_eq!(queue.waiting_len(), 0);
    queue.add_after("ignored", Duration::ZERO);
    queue.add_after("ignored", S);
    step(&clock, &driver, 2 * S);
    assert!(queue.get().is_none());
    assert_eq!(driver.pending(), 0, "the queue's timer is disarmed");
}

#[test]
fn drain_does_not_wait_for_delays() {
    // spec: DL-10 (flywheel stops the delaying side at once, also for a drain)
    let (_clock, driver) = manual();
    let queue = queue_on(&driver);
    queue.add_after("far", 1000 * S);
    queue.shut_down_with_drain();
    assert_eq!(queue.waiting_len(), 0);
}

#[test]
fn thousands_of_concurrent_add_after_do_not_deadlock() {
    // spec §1.14: 1000+ concurrent AddAfter
    let (clock, driver) = manual();
    let queue = DelayingQueue::with_config(QueueConfig::new().driver(driver.clone())).unwrap();
    thread::scope(|s| {
        for t in 0..4u64 {
            let queue = &queue;
            let (clock, driver) = (&clock, &driver);
            s.spawn(move || {
                for i in 0..500 {
                    queue.add_after(t * 1000 + i, Duration::from_millis(i % 50 + 1));
                    if i % 100 == 0 {
                        step(clock, driver, MS);
                    }
                }
            });
        }
    });
    step(&clock, &driver, S);
    assert_eq!(queue.waiting_len(), 0);
    assert_eq!(drain_now(&queue).len(), 2000);
}

#[test]
fn dropping_the_queue_disarms_its_timer() {
    let (_clock, driver) = manual();
    let queue = queue_on(&driver);
    queue.add_after("a", S);
    assert_eq!(driver.pending(), 1);
    drop(queue);
    assert_eq!(driver.pending(), 0);
}

#[test]
fn real_clock_global_driver_fires() {
    // The default construction: global driver on the real clock. Bounded by the test harness,
    // never sleeps: `get` blocks until the timer adds the item.
    let queue = DelayingQueue::new();
    let clock = RealClock::new();
    let start = clock.now();
    queue.add_after(1u8, 2 * MS);
    let lease = queue.get().unwrap();
    assert!(clock.now() - start >= 2 * MS, "never early");
    assert_eq!(*lease, 1);
}

#[test]
fn a_threaded_driver_on_a_fake_clock_fires_when_time_moves() {
    let clock = timer_wheel::FakeClock::new();
    let driver = Driver::new(clock.clone()).unwrap();
    let queue = Arc::new(queue_on(&driver));
    queue.add_after("t", S);
    clock.advance(S);
    assert_eq!(*queue.get().unwrap(), "t");
}
