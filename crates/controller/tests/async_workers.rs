//! The controller's async face: worker tasks, an async reconcile, its timeout on the fake clock,
//! and `run_until_async`. The same outcomes as the thread workers (`tests/controller.rs`): forget
//! on success, backoff on failure, give-up after `max_retries`, panics caught and retried,
//! requeue-after. Nothing sleeps: time moves by `clock.advance` + `driver.turn`; the tests wait
//! on channels under a generous real-time bound only to fail instead of hanging.
#![cfg(feature = "async")]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use controller::{
    Action, BoxError, Controller, ControllerBuilder, Error, ReconcilePanicked, ReconcileTimeout,
    ShutdownToken,
};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

mod common;
use common::{PATIENCE, fake};

fn start(controller: &Controller) -> JoinHandle<Result<(), Error>> {
    let running = controller.clone();
    tokio::spawn(async move { running.run_async().await })
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("an event within the patience window")
        .expect("the sender is alive")
}

/// Waits until a worker has scheduled a delayed retry: it does so after the reconcile, so moving
/// the clock before would schedule the retry from the later time.
async fn until_waiting(controller: &Controller) {
    while controller.queue().waiting_len() == 0 {
        tokio::task::yield_now().await;
    }
}

/// Builds `builder` with an async reconcile that reports each key and succeeds.
fn recording(builder: ControllerBuilder) -> (Controller, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let controller = builder
        .reconcile_async(move |key: String| {
            let tx = tx.clone();
            async move {
                tx.send(key).unwrap();
                Ok::<_, BoxError>(Action::Done)
            }
        })
        .build()
        .unwrap();
    (controller, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_forgets_and_each_key_is_reconciled_once() {
    let (_clock, driver) = fake();
    let (controller, mut rx) = recording(Controller::builder("ok").driver(driver).threadiness(3));
    let run = start(&controller);
    for i in 0..20 {
        controller.queue().add(format!("ns/pod-{i}"));
    }
    let mut seen = Vec::new();
    for _ in 0..20 {
        seen.push(next(&mut rx).await);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 20);
    controller.shutdown_async().await;
    run.await.unwrap().unwrap();
    assert!(rx.try_recv().is_err(), "a key was reconciled twice");
    let metrics = controller.metrics();
    assert_eq!((metrics.reconciles, metrics.errors), (20, 0));
    assert_eq!(metrics.active_workers, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_retry_with_backoff_then_give_up_after_max_retries() {
    let (clock, driver) = fake();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (gave_up_tx, mut gave_up) = mpsc::unbounded_channel();
    let controller = Controller::builder("flaky")
        .driver(driver.clone())
        .max_retries(2)
        .reconcile_async(move |key: String| {
            let tx = tx.clone();
            async move {
                tx.send(key).unwrap();
                Err::<Action, _>("backend unavailable")
            }
        })
        .on_give_up(move |key, error| gave_up_tx.send(format!("{key}: {error}")).unwrap())
        .build()
        .unwrap();
    let run = start(&controller);
    controller.queue().add("ns/web".to_owned());
    assert_eq!(next(&mut rx).await, "ns/web"); // first attempt
    for retry in 1..=2u32 {
        until_waiting(&controller).await;
        // Exponential backoff: 5 ms, then 10 ms. Not a tick before it...
        let backoff = Duration::from_millis(5 << (retry - 1));
        clock.advance(backoff - Duration::from_micros(100));
        assert_eq!(driver.turn(), 0, "retry {retry} came early");
        // ...but once it has passed.
        clock.advance(Duration::from_micros(100));
        assert_eq!(driver.turn(), 1);
        assert_eq!(next(&mut rx).await, "ns/web", "retry {retry}");
    }
    assert_eq!(next(&mut gave_up).await, "ns/web: backend unavailable");
    clock.advance(Duration::from_secs(3600));
    assert_eq!(driver.turn(), 0, "a retry after giving up");
    controller.shutdown_async().await;
    run.await.unwrap().unwrap();
    let metrics = controller.metrics();
    assert_eq!(
        (metrics.reconciles, metrics.errors, metrics.gave_up),
        (3, 3, 1)
    );
    assert_eq!(controller.queue().num_requeues(&"ns/web".to_owned()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_making_or_polling_the_future_are_caught_counted_and_retried() {
    let (clock, driver) = fake();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let controller = Controller::builder("panicky")
        .driver(driver.clone())
        .reconcile_async(move |key: String| {
            let call = counter.fetch_add(1, Ordering::SeqCst);
            if call == 0 {
                panic!("making the future explodes (expected in this test)");
            }
            let tx = tx.clone();
            async move {
                if call == 1 {
                    panic!("polling the future explodes (expected in this test)");
                }
                tx.send(key).unwrap();
                Ok::<_, BoxError>(Action::Done)
            }
        })
        .build()
        .unwrap();
    let run = start(&controller);
    controller.queue().add("ns/boom".to_owned());
    // Two failures (5 ms, then 10 ms of backoff); the single worker survives both.
    for backoff in [5, 10] {
        until_waiting(&controller).await;
        clock.advance(Duration::from_millis(backoff));
        assert_eq!(driver.turn(), 1);
    }
    assert_eq!(next(&mut rx).await, "ns/boom");
    controller.queue().add("ns/other".to_owned());
    assert_eq!(next(&mut rx).await, "ns/other");
    controller.shutdown_async().await;
    run.await.unwrap().unwrap();
    let metrics = controller.metrics();
    assert_eq!(
        (metrics.panics, metrics.errors, metrics.reconciles),
        (2, 2, 4)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_reaches_the_give_up_hook_as_a_typed_error() {
    let (_clock, driver) = fake();
    let (gave_up_tx, mut gave_up) = mpsc::unbounded_channel();
    let controller = Controller::builder("panic-typed")
        .driver(driver)
        .max_retries(0)
        .reconcile_async(|key: String| async move {
            if !key.is_empty() {
                panic!("no luck for {key} (expected in this test)");
            }
            Ok::<_, BoxError>(Action::Done)
        })
        .on_give_up(move |key, error| {
            let panicked = error.downcast_ref::<ReconcilePanicked>().cloned();
            gave_up_tx.send((key.to_owned(), panicked)).unwrap();
        })
        .build()
        .unwrap();
    let run = start(&controller);
    controller.queue().add("ns/x".to_owned());
    let (key, panicked) = next(&mut gave_up).await;
    assert_eq!(key, "ns/x");
    let panicked = panicked.expect("a ReconcilePanicked error");
    assert_eq!(panicked.key, "ns/x");
    assert_eq!(panicked.message, "no luck for ns/x (expected in this test)");
    controller.shutdown_async().await;
    run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeue_after_reconciles_again_later() {
    let (clock, driver) = fake();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let controller = Controller::builder("periodic")
        .driver(driver.clone())
        .reconcile_async(move |key: String| {
            let tx = tx.clone();
            async move {
                tx.send(key).unwrap();
                Ok::<_, BoxError>(Action::RequeueAfter(Duration::from_secs(30)))
            }
        })
        .build()
        .unwrap();
    let run = start(&controller);
    controller.queue().add("ns/cron".to_owned());
    assert_eq!(next(&mut rx).await, "ns/cron");
    until_waiting(&controller).await;
    clock.advance(Duration::from_secs(29));
    assert_eq!(driver.turn(), 0);
    clock.advance(Duration::from_secs(1));
    assert_eq!(driver.turn(), 1);
    assert_eq!(next(&mut rx).await, "ns/cron");
    controller.shutdown_async().await;
    run.await.unwrap().unwrap();
    assert!(controller.metrics().requeued_after >= 2);
}

/// Sends on drop: tells the test that a reconcile future was dropped.
struct DropSignal(mpsc::UnboundedSender<&'static str>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send("dropped");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_past_its_timeout_is_dropped_counted_and_retried() {
    let (clock, driver) = fake();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&attempts);
    let controller = Controller::builder("slow")
        .driver(driver.clone())
        .reconcile_timeout(Duration::from_secs(10))
        .reconcile_async(move |_key: String| {
            let events = events_tx.clone();
            let attempt = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if attempt == 0 {
                    let _guard = DropSignal(events.clone());
                    events.send("started").unwrap();
                    std::future::pending::<()>().await; // hangs until dropped
                }
                events.send("finished").unwrap();
                Ok::<_, BoxError>(Action::Done)
            }
        })
        .build()
        .unwrap();
    let run = start(&controller);
    controller.queue().add("ns/stuck".to_owned());
    assert_eq!(next(&mut events).await, "started");
    // The timer was armed before the future was first polled. Not a tick early...
    clock.advance(Duration::from_secs(10) - Duration::from_millis(1));
    assert_eq!(driver.turn(), 0, "timed out early");
    // ...then at the deadline the future is dropped and the attempt fails.
    clock.advance(Duration::from_millis(1));
    assert_eq!(driver.turn(), 1);
    assert_eq!(next(&mut events).await, "dropped");
    until_waiting(&controller).await;
    clock.advance(Duration::from_millis(5)); // first backoff step
    assert_eq!(driver.turn(), 1);
    assert_eq!(next(&mut events).await, "finished");
    controller.shutdown_async().await;
    run.await.unwrap().unwrap();
    let metrics = controller.metrics();
    assert_eq!(
        (metrics.reconciles, metrics.errors, metrics.timeouts),
        (2, 1, 1)
    );
    // The successful attempt's timer was stopped, not left on the wheel.
    assert_eq!(driver.pending(), 0);
    assert_eq!(controller.queue().num_requeues(&"ns/stuck".to_owned()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_reaches_the_give_up_hook_naming_the_key_and_the_timeout() {
    let (clock, driver) = fake();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (gave_up_tx, mut gave_up) = mpsc::unbounded_channel();
    let controller = Controller::builder("timeout-typed")
        .driver(driver.clone())
        .max_retries(0)
        .reconcile_timeout(Duration::from_secs(3))
        .reconcile_async(move |key: String| {
            let started = started_tx.clone();
            async move {
                started.send(key).unwrap();
                std::future::pending::<Result<Action, BoxError>>().await
            }
        })
        .on_give_up(move |_key, error| {
            gave_up_tx
                .send(error.downcast_ref::<ReconcileTimeout>().cloned())
                .unwrap();
        })
        .build()
        .unwrap();
    let run = start(&controller);
    controller.queue().add("ns/hung".to_owned());
    assert_eq!(next(&mut started).await, "ns/hung");
    clock.advance(Duration::from_secs(3));
    assert_eq!(driver.turn(), 1);
    let timeout = next(&mut gave_up).await.expect("a ReconcileTimeout error");
    assert_eq!(timeout.key, "ns/hung");
    assert_eq!(timeout.timeout, Duration::from_secs(3));
    assert_eq!(
        timeout.to_string(),
        "reconcile of `ns/hung` timed out after 3s"
    );
    controller.shutdown_async().await;
    run.await.unwrap().unwrap();
    assert_eq!(controller.metrics().gave_up, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_until_async_drains_work_in_flight_and_queued_then_returns() {
    let (_clock, driver) = fake();
    let gate = Arc::new(Notify::new());
    let done = Arc::new(AtomicUsize::new(0));
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (inner_gate, inner_done) = (Arc::clone(&gate), Arc::clone(&done));
    let controller = Controller::builder("drain")
        .driver(driver)
        .reconcile_async(move |key: String| {
            let (gate, done, started) = (
                Arc::clone(&inner_gate),
                Arc::clone(&inner_done),
                started_tx.clone(),
            );
            async move {
                if key == "ns/slow" {
                    started.send(()).unwrap();
                    gate.notified().await; // in flight until the test lets it go
                }
                done.fetch_add(1, Ordering::SeqCst);
                Ok::<_, BoxError>(Action::Done)
            }
        })
        .build()
        .unwrap();
    let token = ShutdownToken::new();
    let run = {
        let (controller, token) = (controller.clone(), token.clone());
        tokio::spawn(async move { controller.run_until_async(token.cancelled()).await })
    };
    controller.queue().add("ns/slow".to_owned());
    controller.queue().add("ns/queued".to_owned());
    next(&mut started).await; // ns/slow is in flight, ns/queued waits (one worker)
    token.cancel();
    while !controller.queue().is_shutting_down() {
        tokio::task::yield_now().await;
    }
    controller.queue().add("ns/too-late".to_owned()); // refused: shutting down
    assert!(!run.is_finished(), "returned with a reconcile in flight");
    gate.notify_one();
    tokio::time::timeout(PATIENCE, run)
        .await
        .expect("run_until_async returns once drained")
        .unwrap()
        .unwrap();
    assert_eq!(
        done.load(Ordering::SeqCst),
        2,
        "in-flight and queued keys finished, the late one refused"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn run_until_async_also_returns_after_shutdown_on_one_thread() {
    let (_clock, driver) = fake();
    let (controller, mut rx) = recording(Controller::builder("one-thread").driver(driver));
    let run = {
        let controller = controller.clone();
        tokio::spawn(async move {
            controller
                .run_until_async(std::future::pending::<()>())
                .await
        })
    };
    controller.queue().add("ns/a".to_owned());
    assert_eq!(next(&mut rx).await, "ns/a");
    controller.shutdown_async().await;
    run.await.unwrap().unwrap();
    assert!(matches!(
        controller.run_async().await,
        Err(Error::NotRunnable { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_face_refuses_the_other_reconcile_and_stays_runnable() {
    let (_clock, driver) = fake();
    let (async_one, mut rx) = recording(Controller::builder("async-one").driver(driver.clone()));
    assert!(matches!(async_one.run(), Err(Error::AsyncReconcile { .. })));
    let run = start(&async_one); // still runnable on its own face
    async_one.queue().add("ns/a".to_owned());
    assert_eq!(next(&mut rx).await, "ns/a");
    async_one.shutdown_async().await;
    run.await.unwrap().unwrap();

    let blocking = Controller::builder("blocking")
        .driver(driver)
        .reconcile(|_: &str| Ok::<_, BoxError>(Action::Done))
        .build()
        .unwrap();
    assert!(matches!(
        blocking.run_async().await,
        Err(Error::BlockingReconcile { .. })
    ));
    blocking.queue().shut_down();
    blocking.run().unwrap(); // still runnable on its own face
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_workers_wait_for_cache_sync_and_a_failed_sync_starts_none() {
    let (_clock, driver) = fake();
    let (sync_tx, sync_rx) = std::sync::mpsc::channel::<bool>();
    let sync_rx = parking_lot::Mutex::new(sync_rx);
    let (controller, mut rx) = recording(
        Controller::builder("gated")
            .driver(driver)
            .wait_for(move || sync_rx.lock().recv().unwrap_or(false)),
    );
    controller.queue().add("ns/early".to_owned());
    sync_tx.send(false).unwrap();
    assert!(matches!(
        controller.run_async().await,
        Err(Error::CacheSyncFailed { index: 0, .. })
    ));
    assert!(
        rx.try_recv().is_err(),
        "a worker ran without a synced cache"
    );
    let run = start(&controller);
    sync_tx.send(true).unwrap();
    assert_eq!(next(&mut rx).await, "ns/early");
    controller.shutdown_async().await;
    run.await.unwrap().unwrap();
}

#[test]
fn run_async_outside_a_tokio_runtime_is_a_typed_error() {
    let (_clock, driver) = fake();
    let (controller, _rx) = recording(Controller::builder("no-runtime").driver(driver));
    let mut run = pin!(controller.run_async());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(
        run.as_mut().poll(&mut cx),
        Poll::Ready(Err(Error::NoRuntime { .. }))
    ));
}

#[test]
fn build_rejects_a_zero_timeout() {
    // (A timeout on a blocking reconcile is refused too: see `tests/controller.rs`.)
    assert!(matches!(
        Controller::builder("zero-timeout")
            .reconcile_timeout(Duration::ZERO)
            .reconcile_async(|_key: String| async { Ok::<_, BoxError>(Action::Done) })
            .build(),
        Err(Error::ZeroTimeout { ref name }) if name == "zero-timeout"
    ));
}
