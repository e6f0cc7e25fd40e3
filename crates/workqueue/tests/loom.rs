//! loom models of the wake-up protocol of `get`, `done` and the shutdowns: every interleaving
//! (up to a preemption bound) ends without a lost wake-up, a deadlock, or two holders of one item.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p workqueue --release --test loom`
//! (without `--all-features`: the async face is not modelled).
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::thread;
use workqueue::Queue;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

#[test]
fn add_wakes_a_blocked_get() {
    // spec: WQ-6, WQ-7
    model(|| {
        let queue = Queue::new();
        let worker = {
            let queue = queue.clone();
            thread::spawn(move || *queue.get().unwrap())
        };
        queue.add(1);
        assert_eq!(worker.join().unwrap(), 1);
    });
}

#[test]
fn shut_down_wakes_a_blocked_get() {
    // spec: WQ-8, WQ-16
    model(|| {
        let queue: Queue<u8> = Queue::new();
        let worker = {
            let queue = queue.clone();
            thread::spawn(move || queue.get().is_none())
        };
        queue.shut_down();
        assert!(worker.join().unwrap());
    });
}

#[test]
fn drain_ends_when_the_worker_is_done() {
    // spec: WQ-13, WQ-17, WQ-18
    model(|| {
        let queue = Queue::new();
        queue.add(1);
        let worker = {
            let queue = queue.clone();
            thread::spawn(move || {
                let mut n = 0;
                while let Some(_lease) = queue.get() {
                    n += 1;
                }
                n
            })
        };
        queue.shut_down_with_drain();
        assert!(queue.is_empty());
        assert_eq!(worker.join().unwrap(), 1);
    });
}

#[test]
fn two_workers_never_hold_one_item_and_lose_no_readd() {
    // spec: WQ-6, WQ-12, WQ-17
    model(|| {
        let queue = Queue::new();
        let busy = Arc::new(AtomicBool::new(false));
        let runs = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (queue, busy, runs) = (queue.clone(), busy.clone(), runs.clone());
                thread::spawn(move || {
                    while let Some(lease) = queue.get() {
                        assert!(!busy.swap(true, SeqCst), "held twice");
                        runs.fetch_add(1, SeqCst);
                        busy.store(false, SeqCst);
                        drop(lease);
                    }
                })
            })
            .collect();
        queue.add(1);
        queue.add(1);
        queue.shut_down_with_drain();
        for worker in workers {
            worker.join().unwrap();
        }
        let runs = runs.load(SeqCst);
        assert!((1..=2).contains(&runs));
    });
}

#[test]
fn a_second_done_never_ends_another_workers_hold() {
    // spec: WQ-6, WQ-14. Worker A finishes client-go style (`into_item`, then `done`) and calls
    // `done` again while worker B takes the item; whatever the interleaving, nobody else gets
    // the item while B holds it.
    model(|| {
        let queue = Queue::new();
        queue.add(1u8);
        let a = queue.get().unwrap().into_item();
        queue.add(1);
        let busy = Arc::new(AtomicBool::new(false));
        let b = {
            let (queue, busy) = (queue.clone(), busy.clone());
            thread::spawn(move || {
                // `None` when this thread takes the item only after the other one did.
                if let Some(lease) = queue.get() {
                    assert!(!busy.swap(true, SeqCst), "held twice");
                    busy.store(false, SeqCst);
                    drop(lease);
                }
            })
        };
        assert!(queue.done(&a));
        assert!(!queue.done(&a), "the second done is stray");
        queue.add(1);
        if let Some(c) = queue.try_get() {
            assert!(!busy.swap(true, SeqCst), "held twice");
            busy.store(false, SeqCst);
            drop(c);
        }
        queue.shut_down();
        b.join().unwrap();
    });
}

#[test]
fn two_concurrent_failures_of_one_key_count_once_and_keep_the_retry() {
    // The "is a retry pending?" check and the limiter call are one critical section: in every
    // interleaving one failure is counted and one retry is waiting.
    use std::time::Duration;
    use timer_wheel::{Driver, FakeClock};
    use workqueue::limiter::ItemExponentialFailure;
    use workqueue::{QueueConfig, RateLimitingQueue};

    model(|| {
        let clock = FakeClock::new();
        let driver = Driver::builder().clock(clock).manual().unwrap();
        let limiter =
            ItemExponentialFailure::new(Duration::from_millis(5), Duration::from_secs(1)).unwrap();
        let queue =
            RateLimitingQueue::with_config(QueueConfig::new().driver(driver), limiter).unwrap();
        let other = {
            let queue = queue.clone();
            thread::spawn(move || queue.add_rate_limited(7u8))
        };
        queue.add_rate_limited(7u8);
        other.join().unwrap();
        assert_eq!(queue.num_requeues(&7), 1);
        assert_eq!(queue.waiting_len(), 1);
    });
}
