//! Bad input from the server or the user, each with defined behaviour and no panic (issue 7):
//! an object without a name in a list (the list is refused, reported, and retried after a
//! backoff) or in a watch event (skipped, the watch goes on), and a transform that removes
//! the resourceVersion (every write refused, so the informer never syncs, and says why). The
//! reflector runs on a fake clock and a manual driver that only the test moves.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Pod, pod};
use delta_fifo::DeltaFifo;
use futures::StreamExt;
use informer::{
    ApiError, Call, ListOptions, ListPage, ListerWatcher, MemoryListerWatcher, Next, Reflector,
    ReflectorError, SharedIndexInformer, Termination, WatchEvent, WatchOptions, WatchStream,
};
use timer_wheel::{Driver, FakeClock};
use tokio::sync::oneshot;

type Server = MemoryListerWatcher<Pod>;

/// The in-memory server, with objects without a name slipped into the next list answers and
/// watch streams.
#[derive(Default)]
struct Garbage {
    inner: Server,
    nameless_lists: AtomicUsize,
    nameless_events: AtomicUsize,
}

/// Takes one from `n`, if any is left.
fn take(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}

impl ListerWatcher<Pod> for Arc<Garbage> {
    async fn list(&self, options: &ListOptions) -> Result<ListPage<Pod>, ApiError> {
        let mut page = self.inner.list(options).await?;
        if take(&self.nameless_lists) {
            page.items
                .push(Arc::new(pod("ns", "", &page.resource_version)));
        }
        Ok(page)
    }

    async fn watch(&self, options: &WatchOptions) -> Result<WatchStream<Pod>, ApiError> {
        let stream = self.inner.watch(options).await?;
        if take(&self.nameless_events) {
            let junk = futures::stream::iter([
                WatchEvent::Added(pod("ns", "", "")),
                WatchEvent::Modified(pod("", "", "")),
            ]);
            return Ok(junk.chain(stream).boxed());
        }
        Ok(stream)
    }
}

/// The reflector over `server` as a task, with its ends recorded.
struct Rig {
    clock: FakeClock,
    driver: Driver,
    fifo: Arc<DeltaFifo<Pod>>,
    reflector: Arc<Reflector<Pod, Arc<Garbage>>>,
    ends: Arc<Mutex<Vec<Termination>>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ReflectorError>>>,
}

fn start(server: &Arc<Garbage>) -> Rig {
    let clock = FakeClock::new();
    let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
    let fifo = Arc::new(DeltaFifo::new());
    let ends = Arc::new(Mutex::new(Vec::new()));
    let reflector = Arc::new(
        Reflector::builder(Arc::clone(server), Arc::clone(&fifo), driver.clone())
            .name("pods")
            .seed(3)
            .watch_idle_timeout(Duration::ZERO)
            .on_termination({
                let ends = Arc::clone(&ends);
                move |t: &Termination| ends.lock().unwrap().push(t.clone())
            })
            .build(),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn({
        let reflector = Arc::clone(&reflector);
        async move {
            reflector
                .run(async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    Rig {
        clock,
        driver,
        fifo,
        reflector,
        ends,
        stop: Some(stop),
        task: Some(task),
    }
}

impl Rig {
    /// Lets the reflector run until `cond` holds (bounded).
    async fn until(&self, what: &str, mut cond: impl FnMut(&Self) -> bool) {
        for _ in 0..20_000 {
            if cond(self) {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("gave up waiting for {what}; ends: {:?}", self.ends());
    }

    fn ends(&self) -> Vec<Termination> {
        self.ends.lock().unwrap().clone()
    }

    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .fifo
            .list_keys()
            .iter()
            .map(|k| k.to_string())
            .collect();
        keys.sort();
        keys
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let result = self.task.take().unwrap().await.unwrap();
        assert!(result.is_ok(), "{result:?}");
    }
}

/// The error and its sources, joined with `": "`.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[tokio::test]
async fn a_list_with_a_nameless_object_is_refused_reported_and_retried() {
    // spec: RF-10 (replace), RF-1 (a failed list: hook, backoff, relist); client-go's
    // DeltaFIFO.Replace refuses a list with an unkeyable object the same way
    let server = Arc::new(Garbage::default());
    server.inner.create(pod("ns", "a", "")).unwrap();
    server.inner.create(pod("ns", "b", "")).unwrap();
    server.nameless_lists.store(1, Ordering::Release);
    let r = start(&server);
    r.until("the refused list", |r| !r.ends().is_empty()).await;
    let end = r.ends()[0].clone();
    assert_eq!((end.call, end.next), (Call::List, Next::RelistAfterBackoff));
    let error = end.error.expect("a store error");
    assert!(matches!(error, ReflectorError::Store { .. }), "{error:?}");
    let text = chain(&error);
    assert!(text.contains("item 2"), "names the item: {text}");
    assert!(text.contains("no name"), "says why: {text}");
    assert!(r.keys().is_empty(), "nothing of the refused list is queued");
    assert_eq!(r.reflector.last_sync_resource_version(), "");

    // After the backoff, a clean answer syncs.
    r.until("the backoff", |r| r.driver.pending() == 1).await;
    r.clock.advance(Duration::from_secs(61));
    r.driver.turn();
    r.until("listed", |r| r.ends().len() == 2).await;
    assert_eq!(r.ends()[1].next, Next::Watch);
    assert_eq!(r.keys(), ["ns/a", "ns/b"]);
    r.stop().await;
}

#[tokio::test]
async fn nameless_watch_events_are_skipped_and_the_watch_goes_on() {
    // spec: RF-13 (an object without readable metadata: log and skip)
    let server = Arc::new(Garbage::default());
    server.inner.create(pod("ns", "a", "")).unwrap();
    server.nameless_events.store(1, Ordering::Release);
    let r = start(&server);
    r.until("watching", |r| r.server_watches(&server) == 1)
        .await;
    server.inner.create(pod("ns", "b", "")).unwrap();
    r.until("rv 2", |r| r.reflector.last_sync_resource_version() == "2")
        .await;
    assert_eq!(r.keys(), ["ns/a", "ns/b"]);
    let nexts: Vec<Next> = r.ends().iter().map(|t| t.next).collect();
    assert_eq!(nexts, [Next::Watch], "the junk ended nothing");
    assert_eq!(
        server.nameless_events.load(Ordering::Acquire),
        0,
        "the junk was sent"
    );
    r.stop().await;
}

impl Rig {
    fn server_watches(&self, server: &Garbage) -> usize {
        server.inner.open_watches()
    }
}

#[test]
fn a_transform_that_removes_the_resource_version_is_refused_with_its_reason() {
    // spec: section 6 item 8 (keep the resourceVersion in cached objects, or refuse the
    // transform), SI-17 (what kept the cache from syncing is reported)
    let server = Server::new();
    server.create(pod("ns", "a", "")).unwrap();
    let clock = FakeClock::new();
    let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
    let (ends_tx, ends_rx) = std::sync::mpsc::channel::<Termination>();
    let ends_tx = Mutex::new(ends_tx);
    let informer = Arc::new(
        SharedIndexInformer::builder(server.clone(), driver.clone())
            .name("pods")
            .seed(3)
            .transform(|p: Arc<Pod>| {
                let mut p = (*p).clone();
                p.rv.clear();
                Ok(Arc::new(p))
            })
            .watch_error_handler(move |t: &Termination| {
                let _ = ends_tx.lock().unwrap().send(t.clone());
            })
            .build(),
    );
    let (stop, stopped) = futures::channel::oneshot::channel::<()>();
    let thread = std::thread::spawn({
        let informer = Arc::clone(&informer);
        move || {
            futures::executor::block_on(informer.run(async {
                let _ = stopped.await;
            }))
        }
    });
    // Two refused lists: the first, and the one after a backoff (bounded).
    let mut seen = Vec::new();
    for _ in 0..2_000 {
        if seen.len() >= 2 {
            break;
        }
        match ends_rx.recv_timeout(Duration::from_millis(5)) {
            Ok(end) => seen.push(end),
            Err(_) => {
                clock.advance(Duration::from_secs(61));
                driver.turn();
            }
        }
    }
    assert!(seen.len() >= 2, "{seen:?}");
    for end in &seen[..2] {
        assert_eq!((end.call, end.next), (Call::List, Next::RelistAfterBackoff));
        let text = chain(end.error.as_ref().expect("an error"));
        assert!(
            text.contains("removed the resourceVersion"),
            "says why: {text}"
        );
    }
    assert!(!informer.has_synced());
    assert!(informer.indexer().list().is_empty());
    let last = informer.last_watch_error().expect("the last error");
    assert!(matches!(last, ReflectorError::Store { .. }), "{last:?}");
    let _ = stop.send(());
    assert!(thread.join().unwrap().is_ok());
}
