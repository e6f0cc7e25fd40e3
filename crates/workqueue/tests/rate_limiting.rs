//! Rate limiters (spec §1.11) and the rate-limiting queue (§1.10), on a fake clock.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{drain_now, manual, step};
use timer_wheel::FakeClock;
use workqueue::limiter::{
    Bucket, ItemExponentialFailure, ItemFastSlow, MaxOf, RateLimiter, WithMaxWait,
    default_controller, default_controller_with_max_wait,
};
use workqueue::{Error, QueueConfig, RateLimitingQueue};

const MS: Duration = Duration::from_millis(1);

#[test]
fn exponential_doubles_caps_and_forgets() {
    // spec: RL-5, RL-6
    let limiter = ItemExponentialFailure::new(5 * MS, Duration::from_secs(1000)).unwrap();
    let delays: Vec<_> = (0..20).map(|_| limiter.when(&"x")).collect();
    assert_eq!(delays[..4], [5 * MS, 10 * MS, 20 * MS, 40 * MS]);
    assert_eq!(delays[17], Duration::from_millis(655_360));
    assert_eq!(delays[18], Duration::from_secs(1000));
    assert_eq!(delays[19], Duration::from_secs(1000));
    assert_eq!(limiter.num_requeues(&"x"), 20);
    assert_eq!(limiter.when(&"y"), 5 * MS, "per item");
    limiter.forget(&"x");
    assert_eq!(limiter.num_requeues(&"x"), 0);
    assert_eq!(limiter.when(&"x"), 5 * MS);
}

#[test]
fn exponential_survives_huge_counts() {
    // spec: RL-5 (TestItemExponentialFailureRateLimiterOverFlow)
    let limiter = ItemExponentialFailure::new(MS, Duration::from_secs(1000 * 3600)).unwrap();
    for _ in 0..5 {
        limiter.when(&1);
    }
    assert_eq!(limiter.when(&1), 32 * MS);
    for _ in 0..1000 {
        limiter.when(&1);
    }
    assert_eq!(limiter.when(&1), Duration::from_secs(1000 * 3600));
    let default = ItemExponentialFailure::<u8>::default();
    assert_eq!(
        (default.base(), default.max()),
        (5 * MS, Duration::from_secs(1000))
    );
}

#[test]
fn fast_slow_boundary_is_still_fast() {
    // spec: RL-7
    let limiter = ItemFastSlow::new(5 * MS, Duration::from_secs(10), 3);
    let delays: Vec<_> = (0..5).map(|_| limiter.when(&"k")).collect();
    assert_eq!(
        delays,
        [
            5 * MS,
            5 * MS,
            5 * MS,
            Duration::from_secs(10),
            Duration::from_secs(10)
        ]
    );
    assert_eq!(limiter.num_requeues(&"k"), 5);
    limiter.forget(&"k");
    assert_eq!(limiter.when(&"k"), 5 * MS);
}

#[test]
fn bucket_starts_full_then_goes_negative() {
    // spec: RL-8, RL-9
    let clock = FakeClock::new();
    let bucket = Bucket::new(10.0, 100, Arc::new(clock.clone())).unwrap();
    for i in 0..100 {
        assert_eq!(bucket.when(&i), Duration::ZERO, "call {i}");
    }
    assert_eq!(bucket.when(&100), 100 * MS);
    assert_eq!(bucket.when(&101), 200 * MS);
    assert_eq!(bucket.num_requeues(&100), 0);
    bucket.forget(&100);
    // 10,000 calls put the last one ~990 s out (kubernetes#104554).
    let last = (102..10_000).map(|i| bucket.when(&i)).last().unwrap();
    assert_eq!(last, Duration::from_secs(990));
    // Time pays the debt back.
    clock.advance(Duration::from_secs(991));
    assert_eq!(bucket.when(&0), Duration::ZERO);
}

#[test]
fn bucket_refills_no_further_than_its_burst() {
    // spec: RL-8
    let clock = FakeClock::new();
    let bucket = Bucket::new(1.0, 2, Arc::new(clock.clone())).unwrap();
    clock.advance(Duration::from_secs(60));
    assert_eq!(bucket.when(&()), Duration::ZERO);
    assert_eq!(bucket.when(&()), Duration::ZERO);
    assert_eq!(bucket.when(&()), Duration::from_secs(1));
    let unlimited = Bucket::new(f64::INFINITY, 1, Arc::new(clock)).unwrap();
    for _ in 0..10 {
        assert_eq!(unlimited.when(&()), Duration::ZERO);
    }
}

#[test]
fn misconfigurations_are_errors() {
    // spec: RL-8 (burst 0 would mean 292 years), RL-5 (base > max), RL-10
    let clock = Arc::new(FakeClock::new());
    assert!(matches!(
        Bucket::<u8>::new(10.0, 0, clock.clone()),
        Err(Error::ZeroBurst)
    ));
    for rate in [0.0, -1.0, f64::NAN] {
        assert!(matches!(
            Bucket::<u8>::new(rate, 1, clock.clone()),
            Err(Error::InvalidRate { .. })
        ));
    }
    assert!(matches!(
        ItemExponentialFailure::<u8>::new(Duration::from_secs(2), Duration::from_secs(1)),
        Err(Error::BaseAboveMax { .. })
    ));
    assert!(matches!(
        MaxOf::<u8>::new(Vec::new()),
        Err(Error::NoLimiters)
    ));
}

/// Counts calls, returns a fixed delay.
struct Fixed(Duration, std::sync::atomic::AtomicU32);

impl RateLimiter<&'static str> for Fixed {
    fn when(&self, _: &&'static str) -> Duration {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.0
    }
    fn forget(&self, _: &&'static str) {
        self.1.store(0, std::sync::atomic::Ordering::Relaxed);
    }
    fn num_requeues(&self, _: &&'static str) -> u32 {
        self.1.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[test]
fn max_of_asks_every_limiter() {
    // spec: RL-10
    let a = Arc::new(Fixed(MS, 0.into()));
    let b = Arc::new(Fixed(3 * MS, 0.into()));
    let max = MaxOf::new(vec![Box::new(a.clone()), Box::new(b.clone())]).unwrap();
    assert_eq!(max.when(&"x"), 3 * MS);
    assert_eq!(max.when(&"x"), 3 * MS);
    assert_eq!(a.num_requeues(&"x"), 2, "the smaller one was asked too");
    b.when(&"x");
    assert_eq!(max.num_requeues(&"x"), 3);
    max.forget(&"x");
    assert_eq!((a.num_requeues(&"x"), b.num_requeues(&"x")), (0, 0));
}

#[test]
fn with_max_wait_caps_and_delegates() {
    // spec: RL-11
    let inner =
        ItemExponentialFailure::new(Duration::from_secs(1), Duration::from_secs(60)).unwrap();
    let limiter = WithMaxWait::new(Box::new(inner), Duration::from_secs(5));
    let delays: Vec<_> = (0..5).map(|_| limiter.when(&"k").as_secs()).collect();
    assert_eq!(delays, [1, 2, 4, 5, 5]);
    assert_eq!(limiter.num_requeues(&"k"), 5);
    limiter.forget(&"k");
    assert_eq!(limiter.num_requeues(&"k"), 0);
}

#[test]
fn default_controller_is_max_of_exponential_and_bucket() {
    // spec: §1.11 DefaultControllerRateLimiter
    let clock = Arc::new(FakeClock::new());
    let limiter = default_controller::<String>(clock.clone());
    assert_eq!(limiter.when(&"a".into()), 5 * MS);
    assert_eq!(limiter.when(&"a".into()), 10 * MS);
    for i in 0..98 {
        limiter.when(&i.to_string());
    }
    assert_eq!(
        limiter.when(&"fresh".into()),
        100 * MS,
        "the bucket is empty: bucket wins"
    );
    let capped = default_controller_with_max_wait::<String>(clock, 50 * MS).unwrap();
    for i in 0..200 {
        assert!(capped.when(&i.to_string()) <= 50 * MS);
    }
}

#[test]
fn queue_waits_what_the_limiter_says() {
    // spec: RL-1, RL-2, RL-3
    let (clock, driver) = manual();
    let config = QueueConfig::new().driver(driver.clone());
    let queue =
        RateLimitingQueue::with_config(config, default_controller(driver.clock().clone())).unwrap();
    queue.add_rate_limited("k");
    assert_eq!(queue.num_requeues(&"k"), 1);
    step(&clock, &driver, 4 * MS);
    assert!(queue.is_empty());
    step(&clock, &driver, MS);
    let lease = queue.get().unwrap();
    queue.add_rate_limited("k"); // failed again: 10 ms
    queue.forget(&"k");
    assert_eq!(queue.num_requeues(&"k"), 0);
    assert!(
        queue.is_waiting(&"k"),
        "forget leaves the waiting retry alone"
    );
    drop(lease);
    step(&clock, &driver, 10 * MS);
    assert_eq!(drain_now(&queue), ["k"]);
}

#[test]
fn failures_count_per_attempt_not_per_call() {
    // spec §6 item 4 (kubernetes#132805): re-adds while a retry is pending do not grow backoff
    let (clock, driver) = manual();
    let config = QueueConfig::new().driver(driver.clone());
    let limiter = ItemExponentialFailure::new(10 * MS, Duration::from_secs(100)).unwrap();
    let queue = RateLimitingQueue::with_config(config, limiter).unwrap();
    queue.add_rate_limited("k");
    for _ in 0..10 {
        queue.add_rate_limited("k"); // spurious failures while waiting
    }
    assert_eq!(queue.num_requeues(&"k"), 1);
    step(&clock, &driver, 10 * MS);
    assert_eq!(drain_now(&queue), ["k"]);
    queue.add_rate_limited("k"); // the retry failed: second attempt, 20 ms
    assert_eq!(queue.num_requeues(&"k"), 2);
    step(&clock, &driver, 19 * MS);
    assert!(queue.is_empty());
    step(&clock, &driver, MS);
    assert_eq!(drain_now(&queue), ["k"]);
}

#[test]
fn limiter_is_asked_even_after_shutdown() {
    // spec: RL-1
    let (_clock, driver) = manual();
    let limiter = ItemExponentialFailure::new(MS, Duration::from_secs(1)).unwrap();
    let queue =
        RateLimitingQueue::with_config(QueueConfig::new().driver(driver.clone()), limiter).unwrap();
    queue.shut_down();
    queue.add_rate_limited(9);
    assert_eq!(queue.num_requeues(&9), 1);
    assert_eq!(queue.waiting_len(), 0);
    assert!(queue.get().is_none());
}

/// A queue on the default controller limiter (5 ms doubling to 1000 s, max with 10/s burst 100).
fn default_queue() -> (
    FakeClock,
    timer_wheel::Driver,
    RateLimitingQueue<&'static str>,
) {
    let (clock, driver) = manual();
    let config = QueueConfig::new().driver(driver.clone());
    let queue =
        RateLimitingQueue::with_config(config, default_controller(driver.clock().clone())).unwrap();
    (clock, driver, queue)
}

#[test]
fn a_failure_while_a_plain_delay_is_pending_gets_the_limiters_backoff() {
    // spec: RL-1, DL-6 (a pending plain add_after is not a counted retry)
    let (clock, driver, queue) = default_queue();
    queue.add_after("k", Duration::from_secs(3600)); // a periodic re-check in 1 h
    queue.add("k"); // an event
    let lease = queue.get().unwrap();
    queue.add_rate_limited("k"); // the reconcile failed
    drop(lease);
    assert_eq!(queue.num_requeues(&"k"), 1, "the failure is counted");
    step(&clock, &driver, 4 * MS);
    assert!(queue.is_empty(), "not before the 5 ms backoff");
    step(&clock, &driver, MS);
    assert_eq!(drain_now(&queue), ["k"], "retried after 5 ms, not 1 h");
    assert_eq!(queue.waiting_len(), 0);
}

#[test]
fn a_failure_after_forget_is_backed_off_afresh_though_an_old_retry_is_pending() {
    // spec: RL-1, RL-2 (forget starts a new failure history)
    let (clock, driver, queue) = default_queue();
    // Nine failures in a row: the ninth retry waits 5 ms · 2^8 = 1.28 s.
    for n in 0..9u32 {
        queue.add_rate_limited("k");
        step(&clock, &driver, (5 * MS) * (1 << n));
        assert_eq!(drain_now(&queue), ["k"], "retry {n}");
    }
    queue.add_rate_limited("k");
    assert_eq!(queue.num_requeues(&"k"), 10);
    assert!(queue.is_waiting(&"k")); // 2.56 s from now
    queue.add("k"); // an event brings it in early
    let lease = queue.get().unwrap();
    queue.forget(&"k"); // it succeeded
    drop(lease);
    queue.add("k"); // the next event
    let lease = queue.get().unwrap();
    queue.add_rate_limited("k"); // and it failed: a first failure again
    drop(lease);
    assert_eq!(queue.num_requeues(&"k"), 1);
    step(&clock, &driver, 5 * MS);
    assert_eq!(drain_now(&queue), ["k"], "5 ms, not the stale 2.56 s");
}

#[test]
fn a_plain_delay_sooner_than_a_pending_retry_wins_and_keeps_the_count() {
    // spec: DL-6 (the earliest deadline wins whoever set it)
    let (clock, driver, queue) = default_queue();
    queue.add_rate_limited("k"); // 5 ms
    queue.add_after("k", 2 * MS);
    queue.add_rate_limited("k"); // still the same failure's retry: not counted
    assert_eq!(queue.num_requeues(&"k"), 1);
    step(&clock, &driver, 2 * MS);
    assert_eq!(drain_now(&queue), ["k"]);
    assert_eq!(queue.waiting_len(), 0, "one wait, handed out once");
    step(&clock, &driver, 10 * MS);
    assert!(queue.is_empty());
}

#[test]
fn concurrent_failures_of_one_key_count_once_and_keep_one_retry() {
    // The check and the limiter call are one critical section: bounded stress, many rounds.
    let (clock, driver) = manual();
    let config = QueueConfig::new().driver(driver.clone());
    let limiter = ItemExponentialFailure::new(MS, Duration::from_secs(1)).unwrap();
    let queue = RateLimitingQueue::with_config(config, limiter).unwrap();
    for round in 0..200u64 {
        let start = Arc::new(std::sync::Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (queue, start) = (queue.clone(), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    queue.add_rate_limited(round % 3);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let key = round % 3;
        assert_eq!(queue.num_requeues(&key), 1, "round {round}: counted once");
        assert_eq!(queue.waiting_len(), 1, "round {round}: one retry");
        step(&clock, &driver, MS);
        assert_eq!(drain_now(&queue), [key], "round {round}: not lost");
        queue.forget(&key);
    }
}

#[test]
fn bucket_truncates_its_wait_like_go_and_releases_on_the_exact_tick() {
    // spec: RL-8 (x/time/rate: the wait is seconds · 1e9, truncated to whole nanoseconds).
    // At this rate one token takes 100,000,000.75 ns: Go waits 100 ms exactly (2,000 ticks of
    // 50 µs); rounding to the nearest nanosecond would wait 1 ns more and release a tick later.
    let rate = 1e9 / 100_000_000.75;
    let (clock, driver) = manual();
    let bucket = Bucket::new(rate, 1, driver.clock().clone()).unwrap();
    assert_eq!(bucket.when(&"a"), Duration::ZERO);
    assert_eq!(bucket.when(&"b"), 100 * MS);
    let config = QueueConfig::new().driver(driver.clone());
    let queue = RateLimitingQueue::with_config(
        config,
        Bucket::new(rate, 1, driver.clock().clone()).unwrap(),
    )
    .unwrap();
    queue.add_rate_limited("a");
    assert_eq!(drain_now(&queue), ["a"]);
    queue.add_rate_limited("b");
    step(&clock, &driver, 100 * MS);
    assert_eq!(drain_now(&queue), ["b"], "released on the 2,000th tick");
}
