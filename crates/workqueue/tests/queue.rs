//! Behaviour of the base queue (spec §1.1–1.6), each test run against blocking `get` and async
//! `get_async`.

mod common;

use std::sync::mpsc;
use std::thread;

use common::{Face, drain_now};
use workqueue::Queue;

/// Spins (yielding) until another thread has begun a shutdown.
fn wait_for_shutdown<T: common::Item>(queue: &Queue<T>) {
    while !queue.is_shutting_down() {
        thread::yield_now();
    }
}

fn add_three_times_get_once<F: Face>() {
    // spec: WQ-5, WQ-2
    let queue = Queue::new();
    for _ in 0..3 {
        queue.add("a");
    }
    queue.add("b");
    assert_eq!(queue.len(), 2);
    assert_eq!(*F::get(&queue).unwrap(), "a");
    assert_eq!(*F::get(&queue).unwrap(), "b");
    assert!(queue.is_empty());
}

fn add_while_processing_is_queued_after_done<F: Face>() {
    // spec: WQ-3, WQ-6, WQ-12
    let queue = Queue::new();
    queue.add(1);
    let lease = F::get(&queue).unwrap();
    queue.add(1);
    queue.add(1);
    assert_eq!(queue.len(), 0, "not queued while a worker holds it");
    assert!(queue.try_get().is_none(), "never handed to a second worker");
    drop(lease);
    assert_eq!(queue.len(), 1);
    assert_eq!(*F::get(&queue).unwrap(), 1);
    assert!(queue.is_empty());
}

fn len_counts_only_waiting_items<F: Face>() {
    // spec: WQ-15
    let queue = Queue::new();
    queue.add("a");
    queue.add("b");
    let a = F::get(&queue).unwrap();
    queue.add("a"); // dirty while processing: not in len
    assert_eq!(queue.len(), 1);
    drop(a);
    assert_eq!(queue.len(), 2);
}

fn shut_down_still_hands_out_queued_items<F: Face>() {
    // spec: WQ-8, WQ-16, WQ-4
    let queue = Queue::new();
    queue.add(1);
    queue.add(2);
    queue.shut_down();
    queue.shut_down(); // idempotent
    assert!(queue.is_shutting_down());
    queue.add(3); // ignored
    assert_eq!(*F::get(&queue).unwrap(), 1);
    assert_eq!(*F::get(&queue).unwrap(), 2);
    assert!(F::get(&queue).is_none());
    assert!(F::get(&queue).is_none(), "None forever after");
}

fn get_waits_for_an_add<F: Face>() {
    // spec: WQ-7
    let queue = Queue::new();
    let (tx, rx) = mpsc::channel();
    thread::scope(|s| {
        s.spawn(|| {
            let lease = F::get(&queue).unwrap();
            tx.send(*lease).unwrap();
        });
        queue.add(7);
        assert_eq!(rx.recv().unwrap(), 7);
    });
}

fn shut_down_wakes_every_waiter<F: Face>() {
    // spec: WQ-16, WQ-13 (broadcast, not signal)
    let queue: Queue<u32> = Queue::new();
    thread::scope(|s| {
        let waiters: Vec<_> = (0..4)
            .map(|_| s.spawn(|| F::get(&queue).map(|l| *l)))
            .collect();
        queue.shut_down();
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), None);
        }
    });
}

fn drain_waits_for_in_flight_and_queued_items<F: Face>() {
    // spec: WQ-17, WQ-18 (flywheel waits for queued items too)
    let queue = Queue::new();
    queue.add("in-flight");
    queue.add("queued");
    let lease = F::get(&queue).unwrap();
    let (tx, rx) = mpsc::channel();
    thread::scope(|s| {
        s.spawn(|| {
            queue.shut_down_with_drain();
            tx.send(()).unwrap();
        });
        wait_for_shutdown(&queue);
        assert!(rx.try_recv().is_err());
        queue.add("late"); // ignored: shutting down
        drop(lease);
        assert!(rx.try_recv().is_err(), "\"queued\" still holds the drain");
        let queued = F::get(&queue).unwrap();
        assert_eq!(*queued, "queued");
        drop(queued);
        rx.recv().unwrap();
    });
    assert!(F::get(&queue).is_none());
}

fn shut_down_releases_a_drainer<F: Face>() {
    // spec: WQ-17 (TestForceQueueShutdownUsingShutDown)
    let queue = Queue::new();
    queue.add(1);
    let lease = F::get(&queue).unwrap();
    thread::scope(|s| {
        let drainer = s.spawn(|| queue.shut_down_with_drain());
        wait_for_shutdown(&queue);
        queue.shut_down();
        drainer.join().unwrap();
    });
    drop(lease);
}

fn stray_done_changes_nothing<F: Face>() {
    // spec: WQ-14 (deviation: client-go would queue a duplicate)
    let queue = Queue::new();
    queue.add("a");
    let other = Queue::new();
    other.add("a");
    let foreign = F::get(&other).unwrap();
    assert!(!queue.done(&foreign), "a lease of another queue");
    assert_eq!(queue.len(), 1);
    let item = F::get(&queue).unwrap().into_item();
    queue.add("a"); // dirty while processing
    assert!(queue.done(&item));
    assert_eq!(queue.len(), 1, "re-queued by the first done");
    assert!(!queue.done(&item), "second done is stray");
    drop(item);
    assert_eq!(queue.len(), 1, "no duplicate, not even from the drop");
    assert_eq!(drain_now(&queue), ["a"]);
    assert!(queue.is_empty());
}

fn a_second_done_cannot_end_another_workers_hold<F: Face>() {
    // Worker A finishes client-go style, the item goes to worker B, and A calls `done` again:
    // B must keep the item (WQ-6: never two workers), and the hold ends when B is done.
    let queue = Queue::new();
    queue.add("k");
    let a = F::get(&queue).unwrap().into_item();
    queue.add("k");
    assert!(queue.done(&a), "A is done; the re-add is queued");
    let b = F::get(&queue).unwrap();
    assert_eq!(*b, "k");
    assert!(!queue.done(&a), "A's second done is stray");
    queue.add("k");
    assert!(
        queue.try_get().is_none(),
        "B still holds the item: nobody else may get it"
    );
    drop(a);
    assert!(queue.try_get().is_none(), "nor after A's lease drops");
    drop(b);
    assert_eq!(drain_now(&queue), ["k"], "B's done re-queues the re-add");
}

fn an_owned_lease_marks_done_when_dropped<F: Face>() {
    // `into_item` keeps the hold: the item is in processing until the owned lease ends.
    let queue = Queue::new();
    queue.add(1);
    let item = F::get(&queue).unwrap().into_item();
    queue.add(1);
    assert!(queue.try_get().is_none(), "still held");
    thread::spawn(move || assert_eq!(*item, 1)).join().unwrap();
    assert_eq!(drain_now(&queue), [1], "dropped in the other thread: done");
    assert!(queue.is_empty());
}

fn done_after_shutdown_requeues_a_dirty_item<F: Face>() {
    // spec: WQ-10, WQ-12
    let queue = Queue::new();
    queue.add(5);
    let lease = F::get(&queue).unwrap();
    queue.add(5);
    queue.shut_down();
    assert!(F::get(&queue).is_none(), "nothing queued yet");
    drop(lease);
    assert_eq!(*F::get(&queue).unwrap(), 5, "accepted before shutdown");
    assert!(F::get(&queue).is_none());
}

fn panicking_worker_releases_its_item<F: Face>() {
    // A lease's drop runs during unwinding, so the item is not stuck "in processing".
    let queue = Queue::new();
    queue.add("k");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _lease = F::get(&queue).unwrap();
        queue.add("k");
        panic!("worker failed");
    }));
    assert!(result.is_err());
    assert_eq!(
        drain_now(&queue),
        ["k"],
        "re-added while processing: queued again"
    );
    queue.add("k");
    assert_eq!(queue.len(), 1, "not stuck");
}

per_face!(
    add_three_times_get_once,
    add_while_processing_is_queued_after_done,
    len_counts_only_waiting_items,
    shut_down_still_hands_out_queued_items,
    get_waits_for_an_add,
    shut_down_wakes_every_waiter,
    drain_waits_for_in_flight_and_queued_items,
    shut_down_releases_a_drainer,
    stray_done_changes_nothing,
    a_second_done_cannot_end_another_workers_hold,
    an_owned_lease_marks_done_when_dropped,
    done_after_shutdown_requeues_a_dirty_item,
    panicking_worker_releases_its_item,
);

#[cfg(feature = "async")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_and_async_workers_share_one_queue() {
    // spec §9: both faces on the same queue
    let queue = Queue::new();
    let blocking = {
        let queue = queue.clone();
        thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(item) = queue.get() {
                got.push(*item);
            }
            got
        })
    };
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(item) = queue.get_async().await {
                    got.push(*item);
                    tokio::task::yield_now().await;
                }
                got
            })
        })
        .collect();
    for i in 0..10_000 {
        queue.add(i);
    }
    queue.shut_down_with_drain_async().await;
    let mut all = blocking.join().unwrap();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (0..10_000).collect::<Vec<_>>());
}

#[cfg(feature = "async")]
#[tokio::test]
async fn cancelled_get_async_passes_its_wake_up_on() {
    // # Cancel safety of get_async
    let queue: Queue<u32> = Queue::new();
    let first = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.get_async().await.map(|l| *l) })
    };
    let second = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.get_async().await.map(|l| *l) })
    };
    tokio::task::yield_now().await;
    first.abort();
    queue.add(1);
    assert_eq!(second.await.unwrap(), Some(1));
}
