//! proptest model test of retries: the rate-limiting queue against a reference that follows
//! client-go's rules (every `AddRateLimited` asks the limiter and calls `AddAfter`, where the
//! earlier deadline wins; `Forget` only clears the limiter).
//!
//! The rule checked, after any sequence of failures, plain delays, forgets and clock moves: for
//! every wait client-go would have pending, the queue hands the item out after the call that
//! started that wait and no later than its deadline (give or take the tick rounding: the queue
//! releases on the first tick at or after a deadline). client-go folds every call made while an
//! item waits into that one wait, so one hand-out serves them all; the queue may serve them
//! sooner. Also: the queue never counts more failures than client-go, and hands an item out only
//! when a call asks for it at once or when it was waiting.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{drain_now, manual};
use proptest::prelude::*;
use timer_wheel::{Driver, FakeClock};
use workqueue::limiter::{Bucket, ItemExponentialFailure, MaxOf, RateLimiter};
use workqueue::{QueueConfig, RateLimitingQueue};

#[derive(Clone, Debug)]
enum Op {
    /// A reconcile of this key failed: `add_rate_limited`.
    Fail(u8),
    /// `add_after` with this many milliseconds (0 adds at once).
    AddAfter(u8, u64),
    /// It succeeded: `forget`.
    Forget(u8),
    /// Move the clock by this many microseconds.
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..3).prop_map(Op::Fail),
        2 => ((0u8..3), prop_oneof![Just(0u64), 1u64..60, Just(3_600_000)])
            .prop_map(|(k, ms)| Op::AddAfter(k, ms)),
        2 => (0u8..3).prop_map(Op::Forget),
        5 => (0u64..40_000).prop_map(Op::Advance),
    ]
}

/// The limiter both sides use (each its own instance): per-item exponential backoff, maxed with
/// a small bucket so its reservations matter too.
fn limiter(driver: &Driver) -> MaxOf<u8> {
    MaxOf::new(vec![
        Box::new(
            ItemExponentialFailure::new(Duration::from_millis(1), Duration::from_millis(300))
                .unwrap(),
        ),
        Box::new(Bucket::new(40.0, 3, driver.clock().clone()).unwrap()),
    ])
    .unwrap()
}

/// client-go's rate-limiting queue, reduced to what decides release times.
struct Reference {
    limiter: MaxOf<u8>,
    /// `waitingEntryByData`: each waiting item's deadline, and the step that started the wait.
    waiting: HashMap<u8, (Instant, u64)>,
}

impl Reference {
    /// `AddAfter` at `step`: returns when the item is handed out and the step of the call that
    /// started the wait serving this call.
    fn add_after(&mut self, k: u8, delay: Duration, now: Instant, step: u64) -> (Instant, u64) {
        if delay.is_zero() {
            return (now, step); // added at once; a pending wait stays pending
        }
        let (deadline, since) = self.waiting.entry(k).or_insert((now + delay, step));
        *deadline = (*deadline).min(now + delay);
        (*deadline, *since)
    }
}

/// A wait that client-go serves by `bound`: the queue must hand `key` out at a time at or before
/// `bound` (rounded up to the tick) and not before the call that started the wait (`since`).
struct Obligation {
    key: u8,
    since: u64,
    bound: Instant,
}

struct Harness {
    clock: FakeClock,
    driver: Driver,
    queue: RateLimitingQueue<u8>,
    reference: Reference,
    origin: Instant,
    tick: Duration,
    obligations: Vec<Obligation>,
    /// Per key, the step of the queue's last hand-out.
    released: HashMap<u8, u64>,
    step: u64,
}

impl Harness {
    fn new() -> Self {
        let (clock, driver) = manual();
        let origin = driver.clock().now();
        let queue = RateLimitingQueue::with_config(
            QueueConfig::new().driver(driver.clone()),
            limiter(&driver),
        )
        .unwrap();
        let reference = Reference {
            limiter: limiter(&driver),
            waiting: HashMap::new(),
        };
        let tick = driver.resolution();
        Harness {
            clock,
            driver,
            queue,
            reference,
            origin,
            tick,
            obligations: Vec::new(),
            released: HashMap::new(),
            step: 0,
        }
    }

    fn now(&self) -> Instant {
        self.driver.clock().now()
    }

    /// The first tick at or after `at`: when the queue releases an item due at `at`.
    fn tick_of(&self, at: Instant) -> Instant {
        let since = at.saturating_duration_since(self.origin).as_nanos();
        let tick = self.tick.as_nanos();
        let ticks = since.div_ceil(tick);
        self.origin + Duration::from_nanos(u64::try_from(ticks * tick).unwrap())
    }

    /// Takes what the queue has handed out, checking that each hand-out is one of `expected`.
    fn collect(&mut self, expected: &[u8]) {
        for k in drain_now(&self.queue) {
            assert!(
                expected.contains(&k),
                "key {k} handed out though it neither waited nor was added at once"
            );
            self.released.insert(k, self.step);
        }
    }

    /// The keys waiting in the queue.
    fn waiting(&self) -> Vec<u8> {
        (0..3).filter(|k| self.queue.is_waiting(k)).collect()
    }

    /// Checks every obligation whose bound has passed on the queue's tick.
    fn check_due(&mut self) {
        let now = self.now();
        let mut kept = Vec::new();
        for obligation in std::mem::take(&mut self.obligations) {
            if self.tick_of(obligation.bound) > now {
                kept.push(obligation);
                continue;
            }
            let served = self
                .released
                .get(&obligation.key)
                .is_some_and(|&step| step >= obligation.since);
            assert!(
                served,
                "key {} asked for at step {} and due by {:?} after the start (client-go), not \
                 handed out by {:?}",
                obligation.key,
                obligation.since,
                obligation.bound - self.origin,
                now - self.origin,
            );
        }
        self.obligations = kept;
    }

    fn oblige(&mut self, key: u8, (bound, since): (Instant, u64)) {
        self.obligations.push(Obligation { key, since, bound });
    }

    fn apply(&mut self, op: &Op) {
        self.step += 1;
        let now = self.now();
        match *op {
            Op::Fail(k) => {
                self.queue.add_rate_limited(k);
                let delay = self.reference.limiter.when(&k);
                let wait = self.reference.add_after(k, delay, now, self.step);
                self.oblige(k, wait);
            }
            Op::AddAfter(k, ms) => {
                let delay = Duration::from_millis(ms);
                self.queue.add_after(k, delay);
                let wait = self.reference.add_after(k, delay, now, self.step);
                self.oblige(k, wait);
            }
            Op::Forget(k) => {
                self.queue.forget(&k);
                self.reference.limiter.forget(&k);
            }
            Op::Advance(us) => self.advance(Duration::from_micros(us)),
        }
        match *op {
            Op::Fail(k) | Op::AddAfter(k, _) => self.collect(&[k]),
            Op::Forget(_) | Op::Advance(_) => self.collect(&[]),
        }
        self.check_due();
        for k in 0..3 {
            assert!(
                self.queue.num_requeues(&k) <= self.reference.limiter.num_requeues(&k),
                "key {k}: more failures counted than client-go counts"
            );
        }
    }

    /// Moves the clock to `now + by`, stopping on every tick where an obligation falls due so
    /// each hand-out is seen at its own time.
    fn advance(&mut self, by: Duration) {
        let target = self.now() + by;
        loop {
            let now = self.now();
            let stop = self
                .obligations
                .iter()
                .map(|o| self.tick_of(o.bound))
                .filter(|&at| at > now && at < target)
                .min()
                .unwrap_or(target);
            let waiting = self.waiting();
            self.clock.advance(stop - now);
            self.driver.turn();
            self.reference
                .waiting
                .retain(|_, (deadline, _)| *deadline > stop);
            self.collect(&waiting);
            self.check_due();
            if stop >= target {
                return;
            }
        }
    }
}

fn run(ops: &[Op]) {
    let mut harness = Harness::new();
    for op in ops {
        harness.apply(op);
    }
    // Long enough for every bound: the largest wait is the 1 h plain delay.
    harness.apply(&Op::Advance(3_700_000_000));
    assert!(harness.obligations.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn retries_are_never_later_than_client_go(ops in prop::collection::vec(op(), 0..80)) {
        run(&ops);
    }
}

#[test]
fn the_model_catches_a_retry_held_behind_a_long_plain_delay() {
    // The first scenario of the retry rule, as the model sees it: a failure while an hour-long
    // re-check is pending must be served after the limiter's backoff.
    run(&[Op::AddAfter(0, 3_600_000), Op::Fail(0), Op::Advance(1_000)]);
}
