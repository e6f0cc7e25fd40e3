//! The controller loop on a fake clock: reconcile outcomes, retries and give-up, panics,
//! requeue-after, cache-sync gating, drain on shutdown, and the informer handler. Nothing sleeps:
//! time moves by `clock.advance` + `driver.turn`, and the tests wait on channels with a bounded
//! real-time timeout only to fail instead of hanging.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use controller::{Action, BoxError, Controller, Error, ShutdownToken};
use delta_fifo::Object;
use informer::{Indexer, SharedProcessor, informer_fifo, pop_and_process};
use timer_wheel::FakeClock;

mod common;
use common::{PATIENCE, fake};

fn start(controller: &Controller) -> JoinHandle<Result<(), Error>> {
    let running = controller.clone();
    thread::spawn(move || running.run())
}

fn next(rx: &Receiver<String>) -> String {
    rx.recv_timeout(PATIENCE)
        .expect("a reconcile within the patience window")
}

#[test]
fn success_forgets_and_each_key_is_reconciled_once() {
    let (_clock, driver) = fake();
    let (controller, rx) = recording(Controller::builder("ok").driver(driver).threadiness(3));
    let run = start(&controller);
    for i in 0..20 {
        controller.queue().add(format!("ns/pod-{i}"));
    }
    let mut seen: Vec<String> = (0..20).map(|_| next(&rx)).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 20);
    controller.shutdown();
    run.join().unwrap().unwrap();
    assert!(rx.try_recv().is_err(), "a key was reconciled twice");
    let metrics = controller.metrics();
    assert_eq!((metrics.reconciles, metrics.errors), (20, 0));
    assert_eq!(controller.queue().num_requeues(&"ns/pod-3".to_owned()), 0);
}

#[test]
fn failures_retry_with_backoff_then_give_up_after_max_retries() {
    let (clock, driver) = fake();
    let (tx, rx) = mpsc::channel();
    let (gave_up_tx, gave_up) = mpsc::channel();
    let controller = Controller::builder("flaky")
        .driver(driver.clone())
        .max_retries(3)
        .reconcile(move |key: &str| {
            tx.send(key.to_owned()).unwrap();
            Err::<Action, _>("backend unavailable")
        })
        .on_give_up(move |key, error| gave_up_tx.send(format!("{key}: {error}")).unwrap())
        .build()
        .unwrap();
    let run = start(&controller);
    controller.queue().add("ns/web".to_owned());
    assert_eq!(next(&rx), "ns/web"); // first attempt
    for retry in 1..=3u32 {
        until_waiting(&controller);
        // Exponential backoff: 5 ms, 10 ms, 20 ms. Not before it...
        let backoff = Duration::from_millis(5 << (retry - 1));
        clock.advance(backoff - Duration::from_micros(100));
        driver.turn();
        assert!(
            rx.recv_timeout(Duration::from_millis(50)).is_err(),
            "retried early"
        );
        // ...but once it has passed.
        clock.advance(Duration::from_micros(100));
        driver.turn();
        assert_eq!(next(&rx), "ns/web", "retry {retry}");
    }
    assert_eq!(
        gave_up.recv_timeout(PATIENCE).unwrap(),
        "ns/web: backend unavailable"
    );
    clock.advance(Duration::from_secs(3600));
    driver.turn();
    assert!(
        rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "retried after giving up"
    );
    controller.shutdown();
    run.join().unwrap().unwrap();
    let metrics = controller.metrics();
    assert_eq!(
        (metrics.reconciles, metrics.errors, metrics.gave_up),
        (4, 4, 1)
    );
    assert_eq!(controller.queue().num_requeues(&"ns/web".to_owned()), 0);
}

#[test]
fn a_panicking_reconcile_is_caught_counted_and_retried() {
    let (clock, driver) = fake();
    let (tx, rx) = mpsc::channel();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let controller = Controller::builder("panicky")
        .driver(driver.clone())
        .reconcile(move |key: &str| {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("first attempt explodes (expected in this test)");
            }
            tx.send(key.to_owned()).unwrap();
            Ok::<_, BoxError>(Action::Done)
        })
        .build()
        .unwrap();
    let run = start(&controller);
    controller.queue().add("ns/boom".to_owned());
    // The retry comes after the first backoff step; the single worker survived the panic.
    until_waiting(&controller);
    clock.advance(Duration::from_millis(5));
    driver.turn();
    assert_eq!(next(&rx), "ns/boom");
    controller.queue().add("ns/other".to_owned());
    assert_eq!(next(&rx), "ns/other");
    controller.shutdown();
    run.join().unwrap().unwrap();
    let metrics = controller.metrics();
    assert_eq!(
        (metrics.panics, metrics.errors, metrics.reconciles),
        (1, 1, 3)
    );
}

#[test]
fn a_panicking_give_up_hook_does_not_kill_the_worker() {
    let (_clock, driver) = fake();
    let (tx, rx) = mpsc::channel();
    let controller = Controller::builder("hook-panics")
        .driver(driver)
        .max_retries(0)
        .reconcile(move |key: &str| {
            tx.send(key.to_owned()).unwrap();
            if key == "ns/bad" {
                return Err(BoxError::from("broken"));
            }
            Ok(Action::Done)
        })
        .on_give_up(|key, _error| panic!("the hook explodes on {key} (expected in this test)"))
        .build()
        .unwrap();
    let run = start(&controller);
    controller.queue().add("ns/bad".to_owned());
    assert_eq!(next(&rx), "ns/bad");
    controller.queue().add("ns/good".to_owned()); // the single worker is still there
    assert_eq!(next(&rx), "ns/good");
    controller.shutdown();
    run.join().unwrap().unwrap();
    assert_eq!(controller.metrics().gave_up, 1);
}

#[test]
fn requeue_after_reconciles_again_later() {
    let (clock, driver) = fake();
    let (tx, rx) = mpsc::channel();
    let controller = Controller::builder("periodic")
        .driver(driver.clone())
        .reconcile(move |key: &str| {
            tx.send(key.to_owned()).unwrap();
            Ok::<_, BoxError>(Action::RequeueAfter(Duration::from_secs(30)))
        })
        .build()
        .unwrap();
    let run = start(&controller);
    controller.queue().add("ns/cron".to_owned());
    assert_eq!(next(&rx), "ns/cron");
    until_waiting(&controller);
    clock.advance(Duration::from_secs(29));
    driver.turn();
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    clock.advance(Duration::from_secs(1));
    driver.turn();
    assert_eq!(next(&rx), "ns/cron");
    controller.shutdown();
    run.join().unwrap().unwrap();
    assert!(controller.metrics().requeued_after >= 2);
}

#[test]
fn a_failure_while_a_requeue_after_is_pending_is_retried_after_the_backoff() {
    // The workqueue's retry rule (docs/workqueue.md): the earliest deadline wins, so a key that
    // waits for an hour-long re-check and then fails is retried after the limiter's 5 ms.
    let (clock, driver) = fake();
    let (tx, rx) = mpsc::channel();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let controller = Controller::builder("recheck-then-fail")
        .driver(driver.clone())
        .reconcile(move |key: &str| {
            let call = counter.fetch_add(1, Ordering::SeqCst);
            tx.send(format!("{key} #{call}")).unwrap();
            match call {
                0 => Ok(Action::RequeueAfter(Duration::from_secs(3600))),
                1 => Err(BoxError::from("conflict")),
                _ => Ok(Action::Done),
            }
        })
        .build()
        .unwrap();
    let run = start(&controller);
    let key = "ns/web".to_owned();
    controller.queue().add(key.clone());
    assert_eq!(next(&rx), "ns/web #0");
    until_waiting(&controller); // the 1 h re-check is pending
    controller.queue().add(key.clone()); // an informer event
    assert_eq!(next(&rx), "ns/web #1");
    // The failure is counted inside the queue's critical section; once it shows, any call that
    // takes the queue's lock returns after the retry has been scheduled.
    let real = timer_wheel::RealClock;
    let since = timer_wheel::Clock::now(&real);
    while controller.queue().num_requeues(&key) == 0 {
        let waited = timer_wheel::Clock::now(&real) - since;
        assert!(waited < PATIENCE, "the failure was never counted");
        thread::yield_now();
    }
    assert_eq!(controller.queue().len(), 0);
    clock.advance(Duration::from_millis(4));
    driver.turn();
    assert!(
        rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "retried before the backoff"
    );
    clock.advance(Duration::from_millis(1));
    driver.turn();
    assert_eq!(next(&rx), "ns/web #2", "retried after 5 ms, not 1 h");
    controller.shutdown();
    run.join().unwrap().unwrap();
}

#[test]
fn workers_wait_for_cache_sync_and_a_failed_sync_starts_none() {
    let (_clock, driver) = fake();
    let (tx, rx) = mpsc::channel();
    let (sync_tx, sync_rx) = mpsc::channel::<bool>();
    let sync_rx = parking_lot::Mutex::new(sync_rx);
    let controller = Controller::builder("gated")
        .driver(driver)
        .wait_for(move || sync_rx.lock().recv().unwrap_or(false))
        .reconcile(move |key: &str| {
            tx.send(key.to_owned()).unwrap();
            Ok::<_, BoxError>(Action::Done)
        })
        .build()
        .unwrap();
    controller.queue().add("ns/early".to_owned());

    // The cache says it never synced: no worker, and the controller can be run again.
    let run = start(&controller);
    sync_tx.send(false).unwrap();
    assert!(matches!(
        run.join().unwrap(),
        Err(Error::CacheSyncFailed { index: 0, .. })
    ));
    assert!(rx.try_recv().is_err());

    let run = start(&controller);
    assert!(
        rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "worker before sync"
    );
    sync_tx.send(true).unwrap();
    assert_eq!(next(&rx), "ns/early");
    controller.shutdown();
    run.join().unwrap().unwrap();
    assert!(matches!(controller.run(), Err(Error::NotRunnable { .. })));
}

#[test]
fn shutdown_drains_work_in_flight_and_queued() {
    drains_in_flight_and_queued(start, |controller| {
        let controller = controller.clone();
        thread::spawn(move || controller.shutdown()) // blocks until drained
    });
}

#[test]
fn run_until_drains_work_in_flight_and_queued_when_the_token_is_cancelled() {
    let token = ShutdownToken::new();
    let stopper = token.clone();
    drains_in_flight_and_queued(
        move |controller| {
            let controller = controller.clone();
            thread::spawn(move || controller.run_until(&token))
        },
        move |_| thread::spawn(move || stopper.cancel()),
    );
}

/// One key in flight and one queued when `stop` begins the shutdown: both finish, a key added
/// afterwards is refused, and the run returns only once the key in flight is done.
fn drains_in_flight_and_queued(
    run: impl FnOnce(&Controller) -> JoinHandle<Result<(), Error>>,
    stop: impl FnOnce(&Controller) -> JoinHandle<()>,
) {
    let (_clock, driver) = fake();
    let gate = Arc::new(Barrier::new(2));
    let done = Arc::new(AtomicUsize::new(0));
    let (started_tx, started) = mpsc::channel();
    let (inner_gate, inner_done) = (Arc::clone(&gate), Arc::clone(&done));
    let controller = Controller::builder("drain")
        .driver(driver)
        .reconcile(move |key: &str| {
            if key == "ns/slow" {
                started_tx.send(()).unwrap();
                inner_gate.wait(); // in flight until the test lets it go
            }
            inner_done.fetch_add(1, Ordering::SeqCst);
            Ok::<_, BoxError>(Action::Done)
        })
        .build()
        .unwrap();
    let run = run(&controller);
    controller.queue().add("ns/slow".to_owned());
    controller.queue().add("ns/queued".to_owned());
    started.recv_timeout(PATIENCE).unwrap(); // ns/slow is in flight, ns/queued waits
    let stopper = stop(&controller);
    while !controller.queue().is_shutting_down() {
        thread::yield_now();
    }
    controller.queue().add("ns/too-late".to_owned()); // refused: shutting down
    assert!(!run.is_finished(), "returned with a reconcile in flight");
    gate.wait();
    stopper.join().unwrap();
    run.join().unwrap().unwrap();
    assert_eq!(
        done.load(Ordering::SeqCst),
        2,
        "in-flight and queued keys finished, the late one refused"
    );
}

#[test]
fn a_controller_started_after_shutdown_began_drains_and_returns() {
    let (_clock, driver) = fake();
    let (controller, rx) = recording(Controller::builder("late").driver(driver));
    controller.queue().add("ns/queued".to_owned());
    let stopper = {
        let controller = controller.clone();
        thread::spawn(move || controller.shutdown())
    };
    while !controller.queue().is_shutting_down() {
        thread::yield_now();
    }
    controller.run().unwrap(); // drains the queued key, then returns
    stopper.join().unwrap();
    assert_eq!(next(&rx), "ns/queued");
}

#[test]
fn build_rejects_bad_settings() {
    assert!(matches!(
        Controller::builder("none").build(),
        Err(Error::NoReconcile { .. })
    ));
    assert!(matches!(
        Controller::builder("zero")
            .threadiness(0)
            .reconcile(|_: &str| Ok::<_, BoxError>(Action::Done))
            .build(),
        Err(Error::ZeroThreadiness { .. })
    ));
    // usize::MAX workers once panicked allocating their handles: now a typed error.
    for workers in [controller::MAX_THREADINESS + 1, usize::MAX] {
        assert!(matches!(
            Controller::builder("huge")
                .threadiness(workers)
                .reconcile(|_: &str| Ok::<_, BoxError>(Action::Done))
                .build(),
            Err(Error::TooManyWorkers { workers: w, .. }) if w == workers
        ));
    }
    // A thread cannot be preempted: a timeout needs an async reconcile.
    let error = Controller::builder("blocking-timeout")
        .reconcile_timeout(Duration::from_secs(1))
        .reconcile(|_: &str| Ok::<_, BoxError>(Action::Done))
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::TimeoutNeedsAsync { ref name } if name == "blocking-timeout"));
}

// ===== run_until and the shutdown token =====

#[test]
fn run_until_returns_after_a_plain_shutdown_with_the_token_never_cancelled() {
    let (_clock, driver) = fake();
    let (controller, rx) = recording(Controller::builder("token-idle").driver(driver));
    let token = ShutdownToken::new();
    let run = {
        let (controller, token) = (controller.clone(), token.clone());
        thread::spawn(move || controller.run_until(&token))
    };
    controller.queue().add("ns/a".to_owned());
    assert_eq!(next(&rx), "ns/a");
    controller.shutdown();
    run.join().unwrap().unwrap();
    assert!(!token.is_cancelled());
}

#[test]
fn a_token_cancelled_before_run_until_still_drains_what_is_queued() {
    let (_clock, driver) = fake();
    let (controller, rx) = recording(
        Controller::builder("token-early")
            .driver(driver)
            .threadiness(2),
    );
    for key in ["ns/a", "ns/b", "ns/c"] {
        controller.queue().add(key.to_owned());
    }
    let token = ShutdownToken::new();
    token.cancel();
    controller.run_until(&token).unwrap();
    let mut seen: Vec<String> = rx.try_iter().collect();
    seen.sort();
    assert_eq!(seen, ["ns/a", "ns/b", "ns/c"]);
    assert!(matches!(
        controller.run_until(&token),
        Err(Error::NotRunnable { .. })
    ));
}

// ===== the informer handler =====

struct Pod {
    namespace: &'static str,
    name: &'static str,
    rv: &'static str,
}

impl Object for Pod {
    fn namespace(&self) -> Option<&str> {
        Some(self.namespace)
    }
    fn name(&self) -> Option<&str> {
        Some(self.name)
    }
}

impl informer::Resource for Pod {
    fn resource_version(&self) -> Option<&str> {
        Some(self.rv)
    }
}

#[test]
fn informer_events_become_keys_tombstones_included() {
    let (_clock, driver) = fake();
    let (controller, rx) = recording(Controller::builder("pods").driver(driver));

    let cache = Arc::new(Indexer::new());
    let fifo = informer_fifo(Arc::clone(&cache), None, true);
    let processor = SharedProcessor::new(
        Arc::clone(&cache),
        Arc::new(FakeClock::new()),
        Duration::ZERO,
    );
    let registration = processor
        .add_event_handler(controller.handler::<Pod>())
        .unwrap();
    processor.start();
    let pump = |fifo: &delta_fifo::DeltaFifo<Pod>| {
        while !fifo.is_empty() {
            pop_and_process(fifo, &processor).unwrap().unwrap();
        }
    };

    let run = start(&controller);
    fifo.replace(
        [
            Pod {
                namespace: "a",
                name: "web",
                rv: "1",
            },
            Pod {
                namespace: "b",
                name: "db",
                rv: "1",
            },
        ],
        "1",
    )
    .unwrap();
    pump(&fifo);
    assert!(registration.synced());
    let mut keys = vec![next(&rx), next(&rx)];
    keys.sort();
    assert_eq!(keys, ["a/web", "b/db"]);

    fifo.update(Pod {
        namespace: "a",
        name: "web",
        rv: "2",
    })
    .unwrap();
    pump(&fifo);
    assert_eq!(next(&rx), "a/web");

    // A relist without b/db: the deletion is a tombstone, and its key still reaches the queue.
    fifo.replace(
        [Pod {
            namespace: "a",
            name: "web",
            rv: "2",
        }],
        "3",
    )
    .unwrap();
    pump(&fifo);
    // a/web comes again too: an unchanged object in a relist is delivered as an update to
    // handlers without a resync period.
    let mut keys = vec![next(&rx), next(&rx)];
    keys.sort();
    assert_eq!(keys, ["a/web", "b/db"]);

    controller.shutdown();
    run.join().unwrap().unwrap();
    processor.stop();
}

/// Builds `builder` with a reconcile that reports each key on the returned channel and succeeds.
fn recording(builder: controller::ControllerBuilder) -> (Controller, Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    let controller = builder
        .reconcile(move |key: &str| {
            tx.send(key.to_owned()).unwrap();
            Ok::<_, BoxError>(Action::Done)
        })
        .build()
        .unwrap();
    (controller, rx)
}

/// Waits until the worker has scheduled a delayed retry (it does so after reconcile returns, so
/// moving the clock before would schedule the retry from the later time).
fn until_waiting(controller: &Controller) {
    while controller.queue().waiting_len() == 0 {
        thread::yield_now();
    }
}

#[test]
fn shutdown_of_a_controller_that_never_ran_returns_at_once() {
    let (_clock, driver) = fake();
    let (controller, rx) = recording(Controller::builder("idle").driver(driver));
    controller.queue().add("ns/queued".to_owned());
    // No worker would ever drain the queue: the shutdown must not wait for one.
    let stopping = controller.clone();
    let (done, stopped) = mpsc::channel();
    thread::spawn(move || {
        stopping.shutdown();
        let _ = done.send(());
    });
    stopped
        .recv_timeout(PATIENCE)
        .expect("shutdown returns without workers");
    // A run started afterwards hands out what was queued, then ends.
    let run = start(&controller);
    assert_eq!(next(&rx), "ns/queued");
    run.join().unwrap().unwrap();
}

#[test]
fn a_shutdown_waiting_for_a_run_whose_cache_never_syncs_returns() {
    let (_clock, driver) = fake();
    let (sync_tx, sync_rx) = mpsc::channel::<bool>();
    let sync_rx = parking_lot::Mutex::new(sync_rx);
    let controller = Controller::builder("unsynced")
        .driver(driver)
        .wait_for(move || sync_rx.lock().recv().unwrap_or(false))
        .reconcile(|_key: &str| Ok::<_, BoxError>(Action::Done))
        .build()
        .unwrap();
    controller.queue().add("ns/queued".to_owned());
    let run = start(&controller);
    // The run is waiting for its cache: a shutdown now waits for the drain...
    while !controller.is_running() {
        thread::yield_now();
    }
    let stopping = controller.clone();
    let (done, stopped) = mpsc::channel();
    thread::spawn(move || {
        stopping.shutdown();
        let _ = done.send(());
    });
    while !controller.queue().is_shutting_down() {
        thread::yield_now();
    }
    // ...until the sync fails and the run ends with no worker left to drain.
    sync_tx.send(false).unwrap();
    assert!(matches!(
        run.join().unwrap(),
        Err(Error::CacheSyncFailed { index: 0, .. })
    ));
    stopped
        .recv_timeout(PATIENCE)
        .expect("the shutdown returns once the run has ended");
}
