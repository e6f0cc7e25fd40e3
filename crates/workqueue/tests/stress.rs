//! Stress: many producers and workers (blocking and async), panicking workers and shutdown
//! races. No item accepted is lost, none is processed by two workers at once, and every run ends
//! within a bound measured on the real clock (the tests never sleep).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use workqueue::{Lease, Queue};

/// Few keys, so workers collide often (arrays up to 32 have `Default`).
const KEYS: usize = 32;
const BOUND: Duration = Duration::from_secs(20);

/// Per-key bookkeeping shared by producers and workers.
#[derive(Default)]
struct Ledger {
    /// Version counter, bumped by the producer before each add.
    added: [AtomicU64; KEYS],
    /// Highest version an accepted add is known to carry (checked after the add returned).
    accepted: [AtomicU64; KEYS],
    /// Highest version a worker saw when it took the key.
    seen: [AtomicU64; KEYS],
    /// Whether some worker holds the key now.
    busy: [AtomicBool; KEYS],
    overlaps: AtomicUsize,
    processed: AtomicUsize,
}

/// Clears `busy` when dropped: declared after the lease, so it runs first, also in a panic.
struct Busy<'a>(&'a AtomicBool);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.store(false, SeqCst);
    }
}

impl Ledger {
    fn produce(&self, queue: &Queue<usize>, key: usize) {
        let version = self.added[key].fetch_add(1, SeqCst) + 1;
        queue.add(key);
        // The flag only goes up: still down after the add means the add was accepted.
        if !queue.is_shutting_down() {
            self.accepted[key].fetch_max(version, SeqCst);
        }
    }

    /// The worker's body; panics now and then when `panic_every` is set.
    fn process(&self, lease: Lease<'_, usize>, panic_every: Option<usize>) {
        let key = *lease;
        let _busy = Busy(&self.busy[key]);
        if self.busy[key].swap(true, SeqCst) {
            self.overlaps.fetch_add(1, SeqCst);
        }
        self.seen[key].fetch_max(self.added[key].load(SeqCst), SeqCst);
        let n = self.processed.fetch_add(1, SeqCst);
        if panic_every.is_some_and(|every| n % every == every - 1) {
            panic!("injected worker panic");
        }
    }

    fn check(&self) {
        assert_eq!(
            self.overlaps.load(SeqCst),
            0,
            "an item was processed twice at once"
        );
        for key in 0..KEYS {
            let accepted = self.accepted[key].load(SeqCst);
            let seen = self.seen[key].load(SeqCst);
            assert!(
                seen >= accepted,
                "key {key}: accepted version {accepted}, processed {seen}"
            );
        }
    }
}

fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let injected = info
                .payload()
                .downcast_ref::<&str>()
                .is_some_and(|m| m.contains("injected"));
            if !injected {
                default(info);
            }
        }));
    });
}

/// Runs `f` on another thread and fails if it takes longer than [`BOUND`].
fn bounded(f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(BOUND) {
        Ok(()) => handle.join().unwrap(),
        // The thread panicked (its sender is gone): pass its panic on.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(handle.join().unwrap_err())
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("did not finish within {BOUND:?}: a lost wake-up or a stuck drain")
        }
    }
}

fn scenario(producers: usize, adds: usize, panic_every: Option<usize>, race_shutdown: bool) {
    quiet_injected_panics();
    let queue = Queue::new();
    let ledger = Arc::new(Ledger::default());
    let mut workers = Vec::new();
    for _ in 0..3 {
        let (queue, ledger) = (queue.clone(), ledger.clone());
        workers.push(thread::spawn(move || {
            loop {
                let outcome = catch_unwind(AssertUnwindSafe(|| match queue.get() {
                    Some(lease) => {
                        ledger.process(lease, panic_every);
                        true
                    }
                    None => false,
                }));
                if matches!(outcome, Ok(false)) {
                    break;
                }
            }
        }));
    }
    #[cfg(feature = "async")]
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    #[cfg(feature = "async")]
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (queue, ledger) = (queue.clone(), ledger.clone());
            runtime.spawn(async move {
                while let Some(lease) = queue.get_async().await {
                    ledger.process(lease, None);
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let producing: Vec<_> = (0..producers)
        .map(|p| {
            let (queue, ledger) = (queue.clone(), ledger.clone());
            thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(p as u64);
                for _ in 0..adds {
                    ledger.produce(&queue, rng.usize(..KEYS));
                }
            })
        })
        .collect();
    if race_shutdown {
        // Shut down while producers are still adding (or as soon as they are done: on a loaded
        // machine they can finish their adds before the workers have processed 100 items, and
        // de-duplication then leaves fewer than 100 to process).
        while ledger.processed.load(SeqCst) < 100 && !producing.iter().all(|p| p.is_finished()) {
            thread::yield_now();
        }
        queue.shut_down_with_drain();
        for p in producing {
            p.join().unwrap();
        }
    } else {
        for p in producing {
            p.join().unwrap();
        }
        queue.shut_down_with_drain();
    }
    for worker in workers {
        worker.join().unwrap();
    }
    #[cfg(feature = "async")]
    for task in tasks {
        runtime.block_on(task).unwrap();
    }
    assert_eq!(queue.len(), 0);
    ledger.check();
}

#[test]
fn producers_and_workers_lose_nothing_and_never_overlap() {
    bounded(|| scenario(2, 20_000, None, false));
}

#[test]
fn panicking_workers_lose_nothing() {
    bounded(|| scenario(2, 20_000, Some(97), false));
}

#[test]
fn shutdown_racing_with_producers_loses_nothing_accepted() {
    for _ in 0..5 {
        bounded(|| scenario(3, 10_000, Some(211), true));
    }
}
