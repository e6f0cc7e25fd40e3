//! Blocking and async pop against concurrent producers and `close`. Nothing sleeps: threads are
//! sequenced with channels and barriers, and every wait is bounded (`recv_timeout`), so a lost
//! wake-up fails the test instead of hanging it.

mod common;

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::*;
use delta_fifo::PopError;

/// Generous bound for anything that should happen "at once"; only reached on a bug.
const BOUND: Duration = Duration::from_secs(20);

#[test]
fn pop_waits_for_a_producer() {
    // spec: DF-9, DF-20
    let f = Arc::new(fifo());
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let consumer = thread::spawn({
        let f = Arc::clone(&f);
        move || {
            ready_tx.send(()).unwrap();
            tx.send(f.pop(|d, _| d.key().to_owned())).unwrap();
        }
    });
    ready_rx.recv_timeout(BOUND).unwrap();
    f.add(o("a", 1)).unwrap();
    assert_eq!(rx.recv_timeout(BOUND).unwrap(), Ok("a".to_owned()));
    consumer.join().unwrap();
}

#[test]
fn close_wakes_every_waiting_popper() {
    // spec: DF-20, DF-27
    const POPPERS: usize = 4;
    let f = Arc::new(fifo());
    let barrier = Arc::new(Barrier::new(POPPERS + 1));
    let (tx, rx) = mpsc::channel();
    let threads: Vec<_> = (0..POPPERS)
        .map(|_| {
            let (f, barrier, tx) = (Arc::clone(&f), Arc::clone(&barrier), tx.clone());
            thread::spawn(move || {
                barrier.wait();
                tx.send(f.pop(|_, _| ())).unwrap();
            })
        })
        .collect();
    barrier.wait();
    f.close();
    for _ in 0..POPPERS {
        assert_eq!(rx.recv_timeout(BOUND).unwrap(), Err(PopError::Closed));
    }
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn pop_close_races_always_terminate() {
    // spec: DF-20, DF-27: whatever the interleaving, a popper returns: with the item, or Closed.
    for round in 0..200u64 {
        let f = Arc::new(fifo());
        let barrier = Arc::new(Barrier::new(3));
        let (tx, rx) = mpsc::channel();
        let popper = thread::spawn({
            let (f, barrier) = (Arc::clone(&f), Arc::clone(&barrier));
            move || {
                barrier.wait();
                let mut got = Vec::new();
                loop {
                    match f.pop(|d, _| d.key().to_owned()) {
                        Ok(key) => got.push(key),
                        Err(PopError::Closed) => break,
                        Err(other) => panic!("{other}"),
                    }
                }
                tx.send(got).unwrap();
            }
        });
        let producer = thread::spawn({
            let (f, barrier) = (Arc::clone(&f), Arc::clone(&barrier));
            move || {
                barrier.wait();
                if round % 2 == 0 {
                    f.add(o("x", round)).unwrap();
                }
                f.close();
            }
        });
        barrier.wait();
        let got = rx.recv_timeout(BOUND).expect("popper hung");
        let expected: &[&str] = if round % 2 == 0 { &["x"] } else { &[] };
        assert_eq!(
            got, expected,
            "round {round}: nothing lost, nothing invented"
        );
        popper.join().unwrap();
        producer.join().unwrap();
    }
}

#[test]
fn concurrent_producers_lose_nothing_and_keep_per_key_order() {
    // spec: DF-1, DF-2, DF-9 under contention
    const PRODUCERS: u64 = 2;
    const KEYS: u64 = 50;
    const VERSIONS: u64 = 40;
    let store = Store::with([]);
    let f = Arc::new(fifo_with(&store));
    let barrier = Arc::new(Barrier::new(PRODUCERS as usize + 1));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (f, barrier) = (Arc::clone(&f), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                for v in 1..=VERSIONS {
                    for k in 0..KEYS {
                        let name = format!("p{p}-k{k}");
                        if v == 1 {
                            f.add(o(&name, v)).unwrap();
                        } else {
                            f.update(o(&name, v)).unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    let (tx, rx) = mpsc::channel();
    let consumer = thread::spawn({
        let (f, store) = (Arc::clone(&f), Arc::clone(&store));
        move || {
            let mut last: BTreeMap<String, u64> = BTreeMap::new();
            let mut deltas_seen = 0u64;
            loop {
                let popped = f.pop(|deltas, _| {
                    store.apply(deltas);
                    let rvs: Vec<u64> = deltas.iter().map(|d| d.object().unwrap().rv).collect();
                    (deltas.key().to_owned(), rvs)
                });
                match popped {
                    Ok((key, rvs)) => {
                        let prev = last.get(&key).copied().unwrap_or(0);
                        assert!(rvs.windows(2).all(|w| w[0] < w[1]), "{key}: {rvs:?}");
                        assert!(
                            rvs[0] > prev,
                            "{key} went back in time: {prev} then {rvs:?}"
                        );
                        assert_eq!(rvs[0], prev + 1, "{key}: a version was lost");
                        deltas_seen += rvs.len() as u64;
                        last.insert(key, *rvs.last().unwrap());
                    }
                    Err(PopError::Closed) => break,
                    Err(other) => panic!("{other}"),
                }
            }
            tx.send((last, deltas_seen)).unwrap();
        }
    });
    barrier.wait();
    for p in producers {
        p.join().unwrap();
    }
    f.close();
    let (last, deltas_seen) = rx.recv_timeout(BOUND).expect("consumer hung");
    consumer.join().unwrap();
    assert_eq!(deltas_seen, PRODUCERS * KEYS * VERSIONS);
    assert_eq!(last.len() as u64, PRODUCERS * KEYS);
    assert!(last.values().all(|&v| v == VERSIONS));
    assert_eq!(store.versions().len() as u64, PRODUCERS * KEYS);
}

#[test]
fn producers_wait_while_process_runs() {
    // spec: DF-22: process holds the lock, so the store and the queue change atomically.
    let f = Arc::new(fifo());
    f.add(o("a", 1)).unwrap();
    let (added_tx, added_rx) = mpsc::channel();
    let producer_blocked = f
        .pop(|_, _| {
            thread::spawn({
                let f = Arc::clone(&f);
                move || {
                    f.add(o("b", 1)).unwrap();
                    added_tx.send(()).unwrap();
                }
            });
            // The producer cannot finish while this closure runs; give it a fair chance.
            added_rx.recv_timeout(Duration::from_millis(50)).is_err()
        })
        .unwrap();
    assert!(producer_blocked);
    added_rx
        .recv_timeout(BOUND)
        .expect("producer finished once pop returned");
    assert_eq!(keys(&f), ["b"]);
}

#[test]
fn a_panicking_consumer_thread_leaves_the_deltas_for_the_next() {
    let f = Arc::new(fifo());
    f.add(o("a", 1)).unwrap();
    let crashed = thread::spawn({
        let f = Arc::clone(&f);
        move || f.pop(|_, _| panic!("consumer bug"))
    })
    .join();
    assert!(crashed.is_err());
    let (tx, rx) = mpsc::channel();
    thread::spawn({
        let f = Arc::clone(&f);
        move || tx.send(f.pop(|d, _| render_all(d))).unwrap()
    });
    assert_eq!(rx.recv_timeout(BOUND).unwrap(), Ok(strs(&["Added:1"])));
}

#[cfg(feature = "async")]
mod async_pop {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn pop_async_is_woken_by_a_producer_thread() {
        // spec: DF-9, DF-20 on the async face
        let f = Arc::new(fifo());
        let (tx, rx) = mpsc::channel();
        let consumer = thread::spawn({
            let f = Arc::clone(&f);
            move || {
                let key = runtime().block_on(f.pop_async(|d, _| d.key().to_owned()));
                tx.send(key).unwrap();
            }
        });
        f.add(o("a", 1)).unwrap();
        assert_eq!(rx.recv_timeout(BOUND).unwrap(), Ok("a".to_owned()));
        consumer.join().unwrap();
    }

    #[test]
    fn close_wakes_async_and_blocking_poppers() {
        // spec: DF-27 on both faces
        let f = Arc::new(fifo());
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let blocking = thread::spawn({
            let (f, tx, ready_tx) = (Arc::clone(&f), tx.clone(), ready_tx.clone());
            move || {
                ready_tx.send(()).unwrap();
                tx.send(f.pop(|_, _| ())).unwrap();
            }
        });
        let asynchronous = thread::spawn({
            let f = Arc::clone(&f);
            move || {
                runtime().block_on(async {
                    let mut pending = pin!(f.pop_async(|_, _| ()));
                    // Register the waker before telling the main thread to close.
                    std::future::poll_fn(|cx| {
                        assert!(pending.as_mut().poll(cx).is_pending());
                        Poll::Ready(())
                    })
                    .await;
                    ready_tx.send(()).unwrap();
                    tx.send(pending.await).unwrap();
                });
            }
        });
        ready_rx.recv_timeout(BOUND).unwrap();
        ready_rx.recv_timeout(BOUND).unwrap();
        f.close();
        assert_eq!(rx.recv_timeout(BOUND).unwrap(), Err(PopError::Closed));
        assert_eq!(rx.recv_timeout(BOUND).unwrap(), Err(PopError::Closed));
        blocking.join().unwrap();
        asynchronous.join().unwrap();
    }

    #[test]
    fn a_cancelled_pop_async_takes_nothing() {
        let f = fifo();
        let mut cx = Context::from_waker(Waker::noop());
        {
            let mut fut = pin!(f.pop_async(|_, _| ()));
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        } // dropped while waiting
        f.add(o("a", 1)).unwrap();
        assert_eq!(keys(&f), ["a"]);
        let mut fut = pin!(f.pop_async(|d, _| d.key().to_owned()));
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok("a".to_owned())));
    }

    #[test]
    fn pop_async_drains_then_reports_closed() {
        let f = fifo();
        f.add(o("a", 1)).unwrap();
        f.close();
        runtime().block_on(async {
            assert_eq!(f.pop_async(|d, _| d.key().to_owned()).await, Ok("a".into()));
            assert_eq!(f.pop_async(|_, _| ()).await, Err(PopError::Closed));
        });
    }

    #[test]
    fn pop_async_and_pop_share_one_queue() {
        let f = delta_fifo::DeltaFifo::<Obj>::new();
        for i in 0..10 {
            f.add(o(&format!("k{i}"), i)).unwrap();
        }
        let rt = runtime();
        let mut got = Vec::new();
        for i in 0..10 {
            let key = if i % 2 == 0 {
                f.pop(|d, _| d.key().to_owned()).unwrap()
            } else {
                rt.block_on(f.pop_async(|d, _| d.key().to_owned())).unwrap()
            };
            got.push(key);
        }
        let expected: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
        assert_eq!(got, expected);
    }
}
