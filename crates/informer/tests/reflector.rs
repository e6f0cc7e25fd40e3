//! The reflector against the in-memory server, on a fake clock and a manual timer driver
//! (spec section 3). The reflector runs as a task on a current-thread runtime; the test moves
//! it on by yielding, and moves time by advancing the clock and turning the driver.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Pod, pod};
use delta_fifo::{DeltaFifo, DeltaKind};
use informer::metrics::WatchEndCause;
use informer::{
    ApiError, Call, Indexer, ListOptions, MemoryListerWatcher, Next, Reflector, ReflectorBuilder,
    ReflectorError, SharedProcessor, Status, Termination, WATCH_IDLE_GRACE, informer_fifo,
    pop_and_process,
};
use timer_wheel::{Driver, FakeClock};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type Server = MemoryListerWatcher<Pod>;
type Builder = ReflectorBuilder<Pod, Server>;

/// More than the longest backoff step (60 s at the cap).
const PAST_ANY_BACKOFF: Duration = Duration::from_secs(61);

struct Rig {
    clock: FakeClock,
    driver: Driver,
    server: Server,
    fifo: Arc<DeltaFifo<Pod>>,
    processor: SharedProcessor<Pod>,
    reflector: Arc<Reflector<Pod, Server>>,
    ends: Arc<Mutex<Vec<Termination>>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ReflectorError>>>,
}

/// The rig with the watch idle check off: most tests here count the driver's pending timers
/// to see a backoff or the resync timer, and an idle timer on every open watch would blur
/// that. The idle tests turn it on ([`rig_with_idle_check`], or their own timeout).
fn rig(server: Server, configure: impl FnOnce(Builder) -> Builder) -> Rig {
    rig_with_idle_check(server, |b| configure(b.watch_idle_timeout(Duration::ZERO)))
}

/// The rig, started and watching.
async fn watching_rig(server: Server, configure: impl FnOnce(Builder) -> Builder) -> Rig {
    let mut r = rig(server, configure);
    r.start();
    r.until("watching", Rig::watching).await;
    r
}

/// The rig with the reflector's default watch idle check.
fn rig_with_idle_check(server: Server, configure: impl FnOnce(Builder) -> Builder) -> Rig {
    let clock = FakeClock::new();
    let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
    let indexer = Arc::new(Indexer::new());
    let fifo = Arc::new(informer_fifo(Arc::clone(&indexer), None, false));
    let processor = SharedProcessor::new(indexer, Arc::new(clock.clone()), Duration::ZERO);
    let ends = Arc::new(Mutex::new(Vec::new()));
    let builder = Reflector::builder(server.clone(), Arc::clone(&fifo), driver.clone())
        .name("pods")
        .seed(7)
        .on_termination({
            let ends = Arc::clone(&ends);
            move |t: &Termination| ends.lock().unwrap().push(t.clone())
        });
    let reflector = Arc::new(configure(builder).build());
    Rig {
        clock,
        driver,
        server,
        fifo,
        processor,
        reflector,
        ends,
        stop: None,
        task: None,
    }
}

impl Rig {
    fn start(&mut self) {
        let (tx, rx) = oneshot::channel();
        let reflector = Arc::clone(&self.reflector);
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(async move {
            reflector
                .run(async {
                    let _ = rx.await;
                })
                .await
        }));
    }

    async fn stop(&mut self) -> Result<(), ReflectorError> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap()
    }

    /// Lets the reflector task run until `cond` holds (bounded: fails instead of hanging).
    async fn until(&self, what: &str, mut cond: impl FnMut(&Self) -> bool) {
        for _ in 0..20_000 {
            if cond(self) {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("gave up waiting for {what}; ends: {:?}", self.ends());
    }

    /// Lets the reflector task run until it has nothing to do.
    async fn settle(&self) {
        for _ in 0..200 {
            tokio::task::yield_now().await;
        }
    }

    fn ends(&self) -> Vec<(Call, String, Next, Option<String>)> {
        self.ends
            .lock()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t.call,
                    t.resource_version.clone(),
                    t.next,
                    t.error.as_ref().map(|e| e.to_string()),
                )
            })
            .collect()
    }

    fn nexts(&self) -> Vec<Next> {
        self.ends.lock().unwrap().iter().map(|t| t.next).collect()
    }

    fn watching(&self) -> bool {
        self.server.open_watches() > 0
    }

    /// Waits until the reflector sleeps on a timer, then moves time past it.
    async fn pass_backoff(&self) {
        self.until("a backoff timer", |r| r.driver.pending() > 0)
            .await;
        self.elapse(PAST_ANY_BACKOFF).await;
    }

    async fn elapse(&self, by: Duration) {
        self.clock.advance(by);
        self.driver.turn();
        self.settle().await;
    }

    /// Pops everything queued into the cache.
    fn drain(&self) {
        while !self.fifo.is_empty() {
            pop_and_process(&self.fifo, &self.processor)
                .unwrap()
                .unwrap();
        }
    }

    fn cached(&self) -> Vec<(String, String)> {
        let mut all: Vec<_> = self
            .processor
            .indexer()
            .list()
            .iter()
            .map(|p| (format!("{}/{}", p.ns, p.name), p.rv.clone()))
            .collect();
        all.sort();
        all
    }

    fn served(&self) -> Vec<(String, String)> {
        self.server
            .objects()
            .into_iter()
            .map(|(k, p)| (k, p.rv))
            .collect()
    }

    fn lists(&self) -> Vec<ListOptions> {
        self.server.list_requests()
    }

    fn watch_rvs(&self) -> Vec<String> {
        self.server
            .watch_requests()
            .into_iter()
            .map(|w| w.resource_version)
            .collect()
    }
}

fn list_opts(rv: &str, limit: u32, continue_token: Option<&str>) -> ListOptions {
    ListOptions {
        resource_version: rv.into(),
        limit,
        continue_token: continue_token.map(Into::into),
    }
}

fn server_with(names: &[&str]) -> Server {
    let server = Server::new();
    for name in names {
        server.create(pod("ns", name, "")).unwrap();
    }
    server
}

fn status(code: u16) -> Status {
    Status::new(code, "Injected", format!("injected {code}"))
}

#[tokio::test]
async fn first_list_at_zero_then_watch_from_the_list_version() {
    // spec: RF-6 (first list "0"), RF-7 (default page size), RF-10 (replace, last RV),
    // RF-11 (watch options), RF-13 (events into the FIFO)
    let mut r = watching_rig(server_with(&["a", "b"]), |b| b).await;
    assert_eq!(r.lists(), vec![list_opts("0", 500, None)]);
    assert_eq!(r.reflector.last_sync_resource_version(), "2");
    let watch = &r.server.watch_requests()[0];
    assert_eq!(watch.resource_version, "2");
    assert!(watch.allow_watch_bookmarks);
    assert!((300..600).contains(&watch.timeout_seconds));
    let kinds = |key: &str| -> Vec<DeltaKind> {
        r.fifo
            .get_by_key(key)
            .map(|d| d.iter().map(|d| d.kind()).collect())
            .unwrap_or_default()
    };
    assert_eq!(kinds("ns/a"), [DeltaKind::Replaced]);

    r.server.create(pod("ns", "c", "")).unwrap();
    r.server.update(pod("ns", "a", "")).unwrap();
    let b = r.server.get("ns/b").unwrap();
    r.server.delete(&b).unwrap();
    r.until("rv 5", |r| r.reflector.last_sync_resource_version() == "5")
        .await;
    assert_eq!(kinds("ns/c"), [DeltaKind::Added]);
    assert_eq!(kinds("ns/a"), [DeltaKind::Replaced, DeltaKind::Updated]);
    assert_eq!(kinds("ns/b"), [DeltaKind::Replaced, DeltaKind::Deleted]);
    r.drain();
    assert_eq!(r.cached(), r.served());
    assert_eq!(r.nexts(), [Next::Watch]);
    assert!(r.stop().await.is_ok());
}

#[tokio::test]
async fn watch_timeouts_are_random_in_five_to_ten_minutes() {
    // spec: RF-11
    let mut r = rig(server_with(&["a"]), |b| b);
    r.start();
    for i in 1..=40 {
        r.until("watching", Rig::watching).await;
        r.clock.advance(Duration::from_secs(2)); // not a very short watch
        r.server.close_watches();
        r.until("re-watch", |r| r.server.watch_requests().len() > i)
            .await;
    }
    let timeouts: Vec<u32> = r
        .server
        .watch_requests()
        .iter()
        .map(|w| w.timeout_seconds)
        .collect();
    assert!(
        timeouts.iter().all(|t| (300..600).contains(t)),
        "{timeouts:?}"
    );
    let distinct: std::collections::BTreeSet<_> = timeouts.iter().collect();
    assert!(distinct.len() > 10, "spread out: {timeouts:?}");
    r.stop().await.unwrap();
}

#[tokio::test]
async fn normal_close_rewatches_from_the_last_version_without_relist() {
    // spec: RF-15 (normal close: re-watch, no relist, no backoff)
    let mut r = watching_rig(server_with(&["a"]), |b| b).await;
    r.server.create(pod("ns", "b", "")).unwrap();
    r.until("rv 2", |r| r.reflector.last_sync_resource_version() == "2")
        .await;
    r.server.close_watches(); // one event delivered: not a very short watch
    r.until("second watch", |r| r.server.watch_requests().len() == 2)
        .await;
    r.clock.advance(Duration::from_secs(5)); // no event, but long enough
    r.server.close_watches();
    r.until("third watch", |r| r.server.watch_requests().len() == 3)
        .await;
    assert_eq!(r.watch_rvs(), ["1", "2", "2"]);
    assert_eq!(r.lists().len(), 1, "no relist");
    assert_eq!(r.driver.pending(), 0, "no backoff");
    assert_eq!(r.nexts(), [Next::Watch, Next::Rewatch, Next::Rewatch]);
    r.stop().await.unwrap();
}

#[tokio::test]
async fn very_short_watch_relists_after_backoff() {
    // spec: RF-15 (closed < 1 s with no event), RF-1 (backoff before relisting)
    let mut r = watching_rig(server_with(&["a"]), |b| b).await;
    r.server.close_watches();
    r.until("a backoff timer", |r| r.driver.pending() == 1)
        .await;
    let end = r.ends.lock().unwrap().last().cloned().unwrap();
    assert!(matches!(
        end.error,
        Some(ReflectorError::VeryShortWatch { .. })
    ));
    assert_eq!(end.next, Next::RelistAfterBackoff);
    assert_eq!(r.lists().len(), 1);
    r.pass_backoff().await;
    r.until("relisted", |r| r.lists().len() == 2).await;
    assert_eq!(
        r.lists()[1],
        list_opts("1", 0, None),
        "RF-6, RF-7: last RV, no paging"
    );
    r.stop().await.unwrap();
}

#[tokio::test]
async fn watch_gone_relists_at_the_last_version() {
    // spec: RF-16 (410 on the stream: relist after backoff at the last RV, not ""),
    // RF-6, RF-7 (no paging for an exact RV)
    let mut r = watching_rig(server_with(&["a", "b"]), |b| b).await;
    r.server.update(pod("ns", "a", "")).unwrap();
    r.until("rv 3", |r| r.reflector.last_sync_resource_version() == "3")
        .await;
    r.server
        .break_watches(Status::expired("too old resource version"));
    r.pass_backoff().await;
    r.until("relisted", |r| r.lists().len() == 2).await;
    assert_eq!(r.lists()[1], list_opts("3", 0, None));
    r.until("watching", Rig::watching).await;
    let ends = r.ends();
    assert_eq!(ends[1].0, Call::Watch);
    assert_eq!(ends[1].1, "3");
    assert_eq!(ends[1].2, Next::RelistAfterBackoff);
    assert!(
        ends[1]
            .3
            .as_ref()
            .unwrap()
            .contains("watch ended with an error")
    );
    r.stop().await.unwrap();
}

#[tokio::test]
async fn watch_from_a_compacted_version_relists() {
    // spec: RF-16 (410 as an Error event right after opening, and as an open error)
    for open_error in [false, true] {
        let server = server_with(&["a"]);
        server.set_expired_watch_as_open_error(open_error);
        let mut r = watching_rig(server, |b| b).await;
        r.server.update(pod("ns", "a", "")).unwrap();
        r.server.compact();
        r.until("rv 2", |r| r.reflector.last_sync_resource_version() == "2")
            .await;
        r.clock.advance(Duration::from_secs(2));
        r.server.advance_resource_version(1);
        r.server.compact(); // the reflector's RV 2 is now too old
        r.server.close_watches();
        r.pass_backoff().await;
        r.until("relisted", |r| r.lists().len() >= 2).await;
        assert_eq!(r.watch_rvs()[..2], ["1", "2"]);
        let ends = r.ends();
        assert!(ends.iter().any(|e| e.1 == "2"
            && e.2 == Next::RelistAfterBackoff
            && e.3.as_ref().is_some_and(|m| m.contains("watch"))));
        r.stop().await.unwrap();
    }
}

#[tokio::test]
async fn list_gone_retries_at_once_with_latest_then_back_to_exact() {
    // spec: RF-9 (expired list: retry at once with ""), RF-6 ("" only after that), RF-10
    // (the mark is cleared on success)
    let mut r = watching_rig(server_with(&["a"]), |b| b).await;
    r.server.update(pod("ns", "a", "")).unwrap();
    r.until("rv 2", |r| r.reflector.last_sync_resource_version() == "2")
        .await;
    r.server.fail_lists(1, Status::expired("too old").into());
    r.server.break_watches(Status::expired("too old"));
    r.pass_backoff().await;
    r.until("watching again", |r| r.lists().len() == 3 && r.watching())
        .await;
    assert_eq!(
        r.lists()[1..],
        [list_opts("2", 0, None), list_opts("", 500, None)]
    );
    assert_eq!(r.driver.pending(), 0, "no backoff between the two lists");
    let nexts = r.nexts();
    assert_eq!(
        nexts[1..],
        [Next::RelistAfterBackoff, Next::RelistAtLatest, Next::Watch]
    );
    // The next relist asks for the exact version again.
    r.server.break_watches(Status::expired("too old"));
    r.pass_backoff().await;
    r.until("relisted", |r| r.lists().len() == 4).await;
    assert_eq!(r.lists()[3], list_opts("2", 0, None));
    r.stop().await.unwrap();
}

#[tokio::test]
async fn list_too_large_version_retries_with_latest() {
    // spec: RF-9 (too large RV), RF-6
    let mut r = rig(server_with(&["a"]), |b| b);
    r.server.fail_lists(
        1,
        Status::too_large_resource_version("Too large resource version").into(),
    );
    r.start();
    r.until("watching", Rig::watching).await;
    assert_eq!(
        r.lists(),
        [list_opts("0", 500, None), list_opts("", 500, None)]
    );
    assert_eq!(r.nexts(), [Next::RelistAtLatest, Next::Watch]);
    r.stop().await.unwrap();
}

#[tokio::test]
async fn list_errors_back_off_and_reach_the_hook() {
    // spec: RF-1 (error -> hook -> backoff -> list again), RF-2 (delays), RF-4
    let mut r = rig(server_with(&["a"]), |b| b);
    r.server.fail_lists(3, status(500).into());
    r.start();
    r.until("first failure", |r| r.driver.pending() == 1).await;
    // First step in [0.8 s, 1.6 s).
    r.elapse(Duration::from_millis(799)).await;
    assert_eq!(r.lists().len(), 1);
    r.elapse(Duration::from_millis(801)).await;
    r.until("second list", |r| r.lists().len() == 2).await;
    // Second step in [1.6 s, 3.2 s).
    r.until("second backoff", |r| r.driver.pending() == 1).await;
    r.elapse(Duration::from_millis(1599)).await;
    assert_eq!(r.lists().len(), 2);
    r.elapse(Duration::from_millis(1601)).await;
    r.until("third list", |r| r.lists().len() == 3).await;
    r.pass_backoff().await;
    r.until("watching", Rig::watching).await;
    let errors: Vec<_> = r
        .ends
        .lock()
        .unwrap()
        .iter()
        .filter_map(|t| t.error.clone())
        .collect();
    assert_eq!(errors.len(), 3);
    assert!(
        errors
            .iter()
            .all(|e| matches!(e, ReflectorError::List { source, .. } if source.is_internal()))
    );
    assert!(r.lists().iter().all(|l| l.resource_version == "0"));
    r.stop().await.unwrap();
}

#[tokio::test]
async fn watch_open_429_and_refused_back_off_without_relist() {
    // spec: RF-12
    let mut r = rig(server_with(&["a"]), |b| b);
    r.server
        .fail_watches(1, Status::new(429, "TooManyRequests", "slow down").into());
    r.server
        .fail_watches(1, ApiError::ConnectionRefused("127.0.0.1:6443".into()));
    r.start();
    r.pass_backoff().await;
    r.pass_backoff().await;
    r.until("watching", Rig::watching).await;
    assert_eq!(r.watch_rvs(), ["1", "1", "1"]);
    assert_eq!(r.lists().len(), 1, "no relist");
    assert_eq!(
        r.nexts(),
        [
            Next::Watch,
            Next::RewatchAfterBackoff,
            Next::RewatchAfterBackoff
        ]
    );
    r.stop().await.unwrap();
}

#[tokio::test]
async fn watch_open_other_error_relists() {
    // spec: RF-12 (any other open error is returned: relist after backoff)
    let mut r = rig(server_with(&["a"]), |b| b);
    r.server
        .fail_watches(1, Status::new(403, "Forbidden", "no").into());
    r.start();
    r.pass_backoff().await;
    r.until("watching", Rig::watching).await;
    assert_eq!(r.lists().len(), 2);
    assert_eq!(r.nexts()[1], Next::RelistAfterBackoff);
    r.stop().await.unwrap();
}

#[tokio::test]
async fn watch_stream_429_rewatches_after_backoff() {
    // spec: RF-16 (429 on the stream: backoff, re-watch, no relist)
    let mut r = watching_rig(server_with(&["a"]), |b| b).await;
    r.server.break_watches(status(429));
    r.until("backoff", |r| r.driver.pending() == 1).await;
    assert!(!r.watching());
    r.pass_backoff().await;
    r.until("watching", Rig::watching).await;
    assert_eq!(r.watch_rvs(), ["1", "1"]);
    assert_eq!(r.lists().len(), 1);
    r.stop().await.unwrap();
}

#[tokio::test]
async fn internal_errors_without_budget_relist() {
    // spec: RF-16 (default budget 0: a 500 relists)
    let mut r = watching_rig(server_with(&["a"]), |b| b).await;
    r.server.break_watches(status(500));
    r.pass_backoff().await;
    r.until("relisted", |r| r.lists().len() == 2).await;
    r.stop().await.unwrap();
}

#[tokio::test]
async fn internal_errors_within_budget_rewatch_at_once() {
    // spec: RF-16 (500 within MaxInternalErrorRetryDuration: re-watch at once; past it: relist;
    // a 1 min gap resets it)
    let mut r = watching_rig(server_with(&["a"]), |b| {
        b.max_internal_error_retry_duration(Duration::from_secs(30))
    })
    .await;
    r.server.fail_watch_streams(3, status(500));
    r.server.break_watches(status(500));
    r.until("watching", |r| {
        r.server.watch_requests().len() == 5 && r.watching()
    })
    .await;
    assert_eq!(r.driver.pending(), 0, "no backoff");
    assert_eq!(r.lists().len(), 1, "no relist");
    // 20 s later (still inside the 30 s budget counted from the first 500).
    r.clock.advance(Duration::from_secs(20));
    r.server.break_watches(status(500));
    r.until("rewatch", |r| {
        r.server.watch_requests().len() == 6 && r.watching()
    })
    .await;
    // 40 s after the first one: budget spent, relist.
    r.clock.advance(Duration::from_secs(20));
    r.server.break_watches(status(500));
    r.pass_backoff().await;
    r.until("relisted", |r| r.lists().len() == 2 && r.watching())
        .await;
    // More than a minute without an internal error: a fresh budget.
    r.clock.advance(Duration::from_secs(61));
    r.server.break_watches(status(500));
    r.until("rewatch", |r| {
        r.server.watch_requests().len() == 8 && r.watching()
    })
    .await;
    assert_eq!(r.lists().len(), 2);
    r.stop().await.unwrap();
}

#[tokio::test]
async fn paginated_lists_follow_continue_and_keep_paging_without_watch_cache() {
    // spec: RF-7 (500 for "0"; kept once "0" came back paginated), RF-8 (continue only)
    let server = Server::new().with_watch_cache(false);
    for i in 0..1100 {
        server.create(pod("ns", &format!("p{i:04}"), "")).unwrap();
    }
    let mut r = watching_rig(server, |b| b).await;
    let lists = r.lists();
    assert_eq!(lists.len(), 3);
    assert_eq!(lists[0], list_opts("0", 500, None));
    assert_eq!(lists[1], list_opts("", 500, Some("1100:500")));
    assert_eq!(lists[2], list_opts("", 500, Some("1100:1000")));
    assert_eq!(r.fifo.list_keys().len(), 1100);
    r.server.break_watches(Status::expired("gone"));
    r.pass_backoff().await;
    r.until("relisted", |r| r.lists().len() == 6).await;
    assert_eq!(r.lists()[3], list_opts("1100", 500, None), "still paging");
    r.stop().await.unwrap();
}

#[tokio::test]
async fn with_watch_cache_a_zero_list_is_one_page_and_exact_relists_are_unpaged() {
    // spec: RF-7 (not paginated at "0" => relists at N use limit 0)
    let server = Server::new();
    for i in 0..600 {
        server.create(pod("ns", &format!("p{i:04}"), "")).unwrap();
    }
    let mut r = watching_rig(server, |b| b).await;
    assert_eq!(r.lists(), [list_opts("0", 500, None)]);
    assert_eq!(r.fifo.list_keys().len(), 600);
    r.server.break_watches(Status::expired("gone"));
    r.pass_backoff().await;
    r.until("relisted", |r| r.lists().len() == 2).await;
    assert_eq!(r.lists()[1], list_opts("600", 0, None));
    r.stop().await.unwrap();
}

#[tokio::test]
async fn page_size_option_and_expired_continue_fall_back_to_one_full_list() {
    // spec: RF-7 (WatchListPageSize), RF-8 (expired later page: one unpaginated list at the
    // original RV)
    let server = server_with(&["a", "b", "c", "d", "e"]).with_watch_cache(false);
    let mut r = rig(server, |b| b.page_size(2));
    r.server
        .fail_continues(1, Status::expired("continue too old").into());
    r.start();
    r.until("watching", Rig::watching).await;
    assert_eq!(
        r.lists(),
        [
            list_opts("0", 2, None),
            list_opts("", 2, Some("5:2")),
            list_opts("0", 0, None)
        ]
    );
    assert_eq!(r.fifo.list_keys().len(), 5);
    assert_eq!(r.reflector.last_sync_resource_version(), "5");
    r.stop().await.unwrap();
}

#[tokio::test]
async fn bookmarks_move_the_version_and_leave_objects_alone() {
    // spec: RF-13 (bookmark: no store mutation, RV advanced)
    let mut r = watching_rig(server_with(&["a"]), |b| b).await;
    r.drain();
    r.server.advance_resource_version(9);
    r.server.bookmark();
    r.until("rv 10", |r| {
        r.reflector.last_sync_resource_version() == "10"
    })
    .await;
    assert!(r.fifo.is_empty());
    r.server.close_watches();
    r.until("rewatch", |r| r.server.watch_requests().len() == 2)
        .await;
    assert_eq!(r.watch_rvs(), ["1", "10"], "bookmark counted as an event");
    r.stop().await.unwrap();
}

#[tokio::test]
async fn added_events_after_watching_from_zero_do_not_move_the_version() {
    // spec: RF-14 (watch from "0": synthetic Added events in any order)
    let mut r = watching_rig(Server::new(), |b| b).await;
    assert_eq!(r.watch_rvs(), ["0"], "an empty server lists at version 0");
    r.server.create(pod("ns", "a", "")).unwrap();
    r.server.create(pod("ns", "b", "")).unwrap();
    r.until("two adds", |r| r.fifo.len() == 2).await;
    assert_eq!(r.reflector.last_sync_resource_version(), "0");
    r.server.update(pod("ns", "a", "")).unwrap();
    r.until("rv 3", |r| r.reflector.last_sync_resource_version() == "3")
        .await;
    r.server.create(pod("ns", "c", "")).unwrap();
    r.until("rv 4", |r| r.reflector.last_sync_resource_version() == "4")
        .await;
    r.stop().await.unwrap();
}

#[tokio::test]
async fn resync_timer_asks_should_resync() {
    // spec: RF-18 (period; should_resync false => nothing; true => fifo.resync(); re-armed)
    let due = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(AtomicUsize::new(0));
    let mut r = rig(server_with(&["a", "b"]), |b| {
        let (due, asked) = (Arc::clone(&due), Arc::clone(&asked));
        b.resync(Duration::from_secs(10), move || {
            asked.fetch_add(1, Ordering::SeqCst);
            due.load(Ordering::SeqCst)
        })
    });
    r.start();
    r.until("watching", Rig::watching).await;
    r.drain();
    assert_eq!(r.driver.pending(), 1, "the resync timer");
    r.elapse(Duration::from_secs(10)).await;
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    assert!(r.fifo.is_empty());
    due.store(true, Ordering::SeqCst);
    r.elapse(Duration::from_secs(10)).await;
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    let kinds: Vec<_> = r
        .fifo
        .list_keys()
        .iter()
        .map(|k| r.fifo.get_by_key(k).unwrap().oldest().kind())
        .collect();
    assert_eq!(kinds, [DeltaKind::Sync, DeltaKind::Sync]);
    // Not yet due again after 9 s.
    r.elapse(Duration::from_secs(9)).await;
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    r.stop().await.unwrap();
    assert_eq!(r.driver.pending(), 0, "the timer stops with the reflector");
}

#[tokio::test]
async fn no_resync_period_never_asks() {
    // spec: RF-18 (period 0: no timer, should_resync never called)
    let asked = Arc::new(AtomicUsize::new(0));
    let mut r = rig(server_with(&["a"]), |b| {
        let asked = Arc::clone(&asked);
        b.resync(Duration::ZERO, move || {
            asked.fetch_add(1, Ordering::SeqCst);
            true
        })
    });
    r.start();
    r.until("watching", Rig::watching).await;
    assert_eq!(r.driver.pending(), 0);
    r.elapse(Duration::from_secs(3600)).await;
    assert_eq!(asked.load(Ordering::SeqCst), 0);
    r.stop().await.unwrap();
}

#[tokio::test]
async fn stop_cancels_an_in_flight_list() {
    // spec: RF-17 (cancellation during list), RF-10 (flywheel cancels the list)
    let mut r = rig(server_with(&["a"]), |b| b);
    r.server.hang_lists(true);
    r.start();
    r.until("list sent", |r| r.lists().len() == 1).await;
    r.settle().await;
    assert!(r.stop().await.is_ok());
    assert_eq!(r.ends(), [(Call::List, String::new(), Next::Stop, None)]);
    assert!(r.fifo.is_empty());
}

#[tokio::test]
async fn stop_during_watch_and_during_backoff() {
    // spec: RF-17 (cancellation during watch and during a backoff wait)
    let mut r = watching_rig(server_with(&["a"]), |b| b).await;
    assert!(r.stop().await.is_ok());
    r.until("watch dropped", |r| !r.watching()).await;
    assert_eq!(r.ends().last().unwrap().0, Call::Watch);
    assert_eq!(r.ends().last().unwrap().2, Next::Stop);

    // Restarted: relists at the last version; then stopped inside a backoff.
    r.server.fail_lists(1, status(500).into());
    r.start();
    r.until("backoff", |r| r.driver.pending() == 1).await;
    assert_eq!(r.lists()[1], list_opts("1", 0, None));
    assert!(r.stop().await.is_ok());
    assert_eq!(r.driver.pending(), 0, "the backoff timer was dropped");
}

#[tokio::test]
async fn a_second_concurrent_run_is_refused() {
    let mut r = watching_rig(server_with(&["a"]), |b| b).await;
    let second = r.reflector.run(async {}).await;
    assert!(matches!(second, Err(ReflectorError::AlreadyRunning { .. })));
    r.stop().await.unwrap();
}

#[tokio::test]
async fn converges_through_random_mutations_and_faults() {
    // spec: RF-6..RF-16 together: after any sequence of writes, dropped watches, compactions
    // (410), 429/500 bursts and refused connections, the cache equals the server.
    let mut relists = 0;
    for seed in 0..12 {
        let server = Server::new()
            .with_history(20)
            .with_watch_cache(seed % 2 == 0);
        let mut r = rig(server, |b| {
            b.seed(seed)
                .page_size(if seed % 3 == 0 { 3 } else { 500 })
                .max_internal_error_retry_duration(Duration::from_secs(30))
        });
        let mut rng = fastrand::Rng::with_seed(seed);
        r.start();
        for _ in 0..80 {
            let name = format!("p{}", rng.u8(0..8));
            match rng.u8(0..20) {
                0..=5 => {
                    let _ = r.server.upsert(pod("ns", &name, ""));
                }
                6..=8 => {
                    let _ = r.server.delete(&pod("ns", &name, ""));
                }
                9 => r.server.close_watches(),
                10 => r.server.compact(),
                11 => r.server.break_watches(Status::expired("compacted")),
                12 => r
                    .server
                    .break_watches(status(if rng.bool() { 429 } else { 500 })),
                13 => r.server.fail_lists(
                    rng.usize(1..3),
                    status(if rng.bool() { 429 } else { 500 }).into(),
                ),
                14 => r.server.fail_watches(
                    rng.usize(1..3),
                    if rng.bool() {
                        ApiError::ConnectionRefused("down".into())
                    } else {
                        status(429).into()
                    },
                ),
                15 => r.server.fail_watch_streams(rng.usize(1..3), status(500)),
                16 => r
                    .server
                    .fail_continues(1, Status::expired("old continue").into()),
                17 => r.drain(),
                18 => {
                    r.server.advance_resource_version(1);
                    r.server.bookmark();
                }
                _ => r.clock.advance(Duration::from_secs(rng.u64(1..5))),
            }
            for _ in 0..rng.usize(0..20) {
                tokio::task::yield_now().await;
            }
            if rng.u8(0..4) == 0 && r.driver.pending() > 0 {
                r.elapse(PAST_ANY_BACKOFF).await;
            }
        }
        // Quiesce: move time until the reflector watches at the server's version.
        let mut caught_up = false;
        for _ in 0..100 {
            r.settle().await;
            if r.watching()
                && r.driver.pending() == 0
                && r.reflector.last_sync_resource_version() == r.server.resource_version()
            {
                caught_up = true;
                break;
            }
            // A bookmark lost while reconnecting would leave the version behind.
            r.server.bookmark();
            r.elapse(PAST_ANY_BACKOFF).await;
        }
        assert!(
            caught_up,
            "seed {seed}: never caught up; ends {:?}",
            r.ends()
        );
        r.drain();
        assert_eq!(r.cached(), r.served(), "seed {seed}");
        relists += r
            .lists()
            .iter()
            .filter(|l| l.continue_token.is_none())
            .count()
            - 1;
        r.stop().await.unwrap();
    }
    assert!(relists >= 12, "the faults forced relists: {relists}");
}

// ---- Streaming initial list (spec section 3.8) ----

fn kinds_of(r: &Rig, key: &str) -> Vec<DeltaKind> {
    r.fifo
        .get_by_key(key)
        .map(|d| d.iter().map(|d| d.kind()).collect())
        .unwrap_or_default()
}

/// `(resourceVersion, sendInitialEvents)` of every watch request.
fn watches(r: &Rig) -> Vec<(String, bool)> {
    r.server
        .watch_requests()
        .into_iter()
        .map(|w| (w.resource_version, w.send_initial_events))
        .collect()
}

fn streaming(rv: &str) -> (String, bool) {
    (rv.to_owned(), true)
}

fn plain(rv: &str) -> (String, bool) {
    (rv.to_owned(), false)
}

#[tokio::test]
async fn streaming_list_replaces_at_the_end_bookmark_and_keeps_the_same_stream() {
    // spec: RF-3, RF-19 (one watch, "" at first, sendInitialEvents, bookmarks, random
    // timeout), RF-20 (temporary store), RF-21 (replace at the bookmark's version, then the
    // same stream goes on)
    let mut r = rig(server_with(&["a", "b"]), |b| b.streaming_list(true));
    r.start();
    r.until("synced", |r| r.nexts() == [Next::Watch]).await;
    assert!(r.lists().is_empty(), "no list request");
    assert_eq!(watches(&r), [streaming("")]);
    let request = &r.server.watch_requests()[0];
    assert!(request.allow_watch_bookmarks);
    assert!((300..600).contains(&request.timeout_seconds));
    assert_eq!(r.reflector.last_sync_resource_version(), "2");
    assert_eq!(kinds_of(&r, "ns/a"), [DeltaKind::Replaced]);
    assert_eq!(kinds_of(&r, "ns/b"), [DeltaKind::Replaced]);
    let ends = r.ends();
    assert_eq!(
        (ends[0].0, ends[0].1.as_str(), ends[0].3.as_ref()),
        (Call::WatchList, "", None)
    );

    // Live events arrive on the same stream: no second request.
    r.server.create(pod("ns", "c", "")).unwrap();
    r.server.update(pod("ns", "a", "")).unwrap();
    let b = r.server.get("ns/b").unwrap();
    r.server.delete(&b).unwrap();
    r.until("rv 5", |r| r.reflector.last_sync_resource_version() == "5")
        .await;
    assert_eq!(kinds_of(&r, "ns/c"), [DeltaKind::Added]);
    assert_eq!(
        kinds_of(&r, "ns/a"),
        [DeltaKind::Replaced, DeltaKind::Updated]
    );
    assert_eq!(
        kinds_of(&r, "ns/b"),
        [DeltaKind::Replaced, DeltaKind::Deleted]
    );
    assert_eq!(watches(&r), [streaming("")], "still one watch request");
    assert!(r.lists().is_empty());
    r.drain();
    assert_eq!(r.cached(), r.served());

    // A normal close re-watches plainly from the last version (RF-15).
    r.clock.advance(Duration::from_secs(2));
    r.server.close_watches();
    r.until("rewatch", |r| r.server.watch_requests().len() == 2)
        .await;
    assert_eq!(watches(&r), [streaming(""), plain("5")]);
    assert_eq!(r.nexts(), [Next::Watch, Next::Rewatch]);
    r.stop().await.unwrap();
}

#[tokio::test]
async fn streaming_list_of_an_empty_server_syncs() {
    // spec: RF-21 (the end bookmark alone ends the initial phase)
    let mut r = rig(Server::new(), |b| b.streaming_list(true));
    r.start();
    r.until("synced", |r| r.nexts() == [Next::Watch]).await;
    assert!(r.fifo.is_empty());
    r.server.create(pod("ns", "a", "")).unwrap();
    r.until("rv 1", |r| r.reflector.last_sync_resource_version() == "1")
        .await;
    assert_eq!(kinds_of(&r, "ns/a"), [DeltaKind::Added]);
    r.stop().await.unwrap();
}

#[tokio::test]
async fn unsupported_streaming_list_falls_back_to_list_and_watch_per_attempt() {
    // spec: RF-3, RF-22 (a non-retriable failure falls back to list + watch at once), RF-23
    // fallback trigger as documented on `streaming_list`; the next relist tries again
    let server = server_with(&["a", "b"]);
    server.set_streaming_lists(false);
    let mut r = watching_rig(server, |b| b.streaming_list(true)).await;
    assert_eq!(watches(&r), [streaming(""), plain("2")]);
    assert_eq!(r.lists(), [list_opts("0", 500, None)]);
    let ends = r.ends();
    assert_eq!(
        (ends[0].0, ends[0].2),
        (Call::WatchList, Next::FallBackToList)
    );
    let refused = r.ends.lock().unwrap()[0].error.clone().unwrap();
    assert!(matches!(refused, ReflectorError::WatchOpen { .. }));
    assert_eq!(
        refused.api_error().and_then(ApiError::status).unwrap().code,
        422
    );
    assert_eq!((ends[1].0, ends[1].2), (Call::List, Next::Watch));
    assert_eq!(kinds_of(&r, "ns/a"), [DeltaKind::Replaced]);

    // The server gains support; the relist after a 410 streams again.
    r.server.set_streaming_lists(true);
    r.server.update(pod("ns", "a", "")).unwrap();
    r.until("rv 3", |r| r.reflector.last_sync_resource_version() == "3")
        .await;
    r.server.break_watches(Status::expired("too old"));
    r.pass_backoff().await;
    r.until("streamed again", |r| r.watching() && r.nexts().len() == 4)
        .await;
    assert_eq!(watches(&r), [streaming(""), plain("2"), streaming("3")]);
    assert_eq!(r.lists().len(), 1, "no second list");
    assert_eq!(
        r.nexts(),
        [
            Next::FallBackToList,
            Next::Watch,
            Next::RelistAfterBackoff,
            Next::Watch
        ]
    );
    r.stop().await.unwrap();
}

#[tokio::test]
async fn streaming_list_errors_fall_back_or_retry_by_class() {
    // spec: RF-22: a 500 error event before the end bookmark falls back; 429 when opening
    // backs off and retries the streaming list
    let server = server_with(&["a"]);
    server.fail_watch_streams(1, status(500));
    let r = watching_rig(server, |b| b.streaming_list(true)).await;
    assert_eq!(watches(&r), [streaming(""), plain("1")]);
    assert_eq!(r.lists().len(), 1);
    assert_eq!(r.nexts(), [Next::FallBackToList, Next::Watch]);

    let mut r = rig(server_with(&["a"]), |b| b.streaming_list(true));
    r.server.fail_watches(1, status(429).into());
    r.start();
    r.pass_backoff().await;
    r.until("synced", |r| r.nexts().last() == Some(&Next::Watch))
        .await;
    assert_eq!(watches(&r), [streaming(""), streaming("")]);
    assert!(r.lists().is_empty());
    assert_eq!(r.nexts(), [Next::RelistAfterBackoff, Next::Watch]);
    r.stop().await.unwrap();
}

#[tokio::test]
async fn gone_during_the_initial_stream_retries_at_once_from_latest() {
    // spec: RF-22 (expired: mark the version unavailable, retry with "" at once), RF-19 (a
    // later streaming list starts at the last synced version), RF-16 (410 on the live watch)
    let mut r = rig(server_with(&["a", "b"]), |b| b.streaming_list(true));
    r.start();
    r.until("synced", |r| r.nexts() == [Next::Watch]).await;
    r.server.update(pod("ns", "a", "")).unwrap();
    r.until("rv 3", |r| r.reflector.last_sync_resource_version() == "3")
        .await;
    r.drain();
    // The next streaming list gets 410 Gone before any initial event.
    r.server
        .fail_watch_streams(1, Status::expired("too old resource version: 3"));
    r.server
        .break_watches(Status::expired("too old resource version"));
    r.pass_backoff().await;
    r.until("synced again", |r| {
        r.watching() && r.nexts().last() == Some(&Next::Watch) && r.nexts().len() == 4
    })
    .await;
    assert_eq!(watches(&r), [streaming(""), streaming("3"), streaming("")]);
    assert!(r.lists().is_empty());
    assert_eq!(
        r.nexts(),
        [
            Next::Watch,
            Next::RelistAfterBackoff,
            Next::RelistAtLatest,
            Next::Watch
        ]
    );
    let ends = r.ends();
    assert_eq!((ends[2].0, ends[2].1.as_str()), (Call::WatchList, "3"));
    assert_eq!((ends[3].0, ends[3].1.as_str()), (Call::WatchList, ""));
    assert_eq!(
        r.driver.pending(),
        0,
        "no backoff before the retry at latest"
    );
    assert_eq!(r.reflector.last_sync_resource_version(), "3");
    assert_eq!(
        kinds_of(&r, "ns/a"),
        [DeltaKind::Replaced],
        "the second stream replaced the FIFO"
    );
    r.drain();
    assert_eq!(r.cached(), r.served());
    r.stop().await.unwrap();
}

/// The last termination reported.
fn last_end(r: &Rig) -> Termination {
    r.ends
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("a termination")
}

#[tokio::test]
async fn a_hung_watch_is_abandoned_after_the_idle_timeout_and_rewatched_without_relist() {
    // spec: section 6 item 9 (half-open connections), 3.6 ("every watch termination
    // reported, cause + RV"); RF-15 (re-watch from the last RV, no relist)
    let idle = Duration::from_secs(90);
    let mut r = watching_rig(server_with(&["a"]), |b| b.watch_idle_timeout(idle)).await;

    // Bookmarks keep a quiet watch alive: silence is measured from the last one.
    r.elapse(Duration::from_secs(60)).await;
    r.server.advance_resource_version(1);
    r.server.bookmark();
    r.until("rv 2", |r| r.reflector.last_sync_resource_version() == "2")
        .await;
    r.elapse(Duration::from_secs(60)).await;
    r.elapse(Duration::from_secs(29)).await;
    assert_eq!(r.nexts(), [Next::Watch], "120 s old, silent for 89 s");
    assert_eq!(r.server.watch_requests().len(), 1);

    // The next watch hangs; a write meanwhile is not delivered.
    r.server.hang_watches(1);
    r.server.close_watches();
    r.until("the hung watch", |r| r.server.watch_requests().len() == 2)
        .await;
    r.server.create(pod("ns", "b", "")).unwrap();
    r.settle().await;
    assert_eq!(r.reflector.last_sync_resource_version(), "2");
    r.elapse(idle - Duration::from_secs(1)).await;
    assert_eq!(r.nexts(), [Next::Watch, Next::Rewatch], "not idle yet");
    r.elapse(Duration::from_secs(2)).await;
    r.until("re-watched", |r| r.server.watch_requests().len() == 3)
        .await;
    let end = last_end(&r);
    assert_eq!((end.call, end.next), (Call::Watch, Next::Rewatch));
    assert_eq!(end.resource_version, "2");
    match &end.error {
        Some(ReflectorError::WatchIdle {
            resource_version,
            idle: quiet,
            events,
            ..
        }) => {
            assert_eq!(resource_version, "2");
            assert!(*quiet >= idle, "{quiet:?}");
            assert_eq!(*events, 0);
        }
        other => panic!("expected an idle end, got {other:?}"),
    }
    assert_eq!(end.watch_end_cause(), Some(WatchEndCause::Idle));
    let message = end.error.as_ref().unwrap().to_string();
    assert!(message.contains("abandoned as hung"), "{message}");

    // Re-established from the last version: the write arrives, no relist, no backoff.
    r.until("rv 3", |r| r.reflector.last_sync_resource_version() == "3")
        .await;
    assert_eq!(r.watch_rvs(), ["1", "2", "2"]);
    assert_eq!(r.lists().len(), 1, "no relist");
    assert_eq!(r.server.open_watches(), 1, "the hung watch was dropped");
    r.drain();
    assert_eq!(r.cached(), r.served());
    r.stop().await.unwrap();
}

#[tokio::test]
async fn the_default_idle_timeout_is_the_watch_timeout_plus_a_grace() {
    // spec: RF-11 (the watch's timeoutSeconds); section 6 item 9
    let mut r = rig_with_idle_check(server_with(&["a"]), |b| b);
    r.start();
    r.until("watching", Rig::watching).await;
    let timeout = Duration::from_secs(r.server.watch_requests()[0].timeout_seconds.into());
    let limit = timeout + WATCH_IDLE_GRACE;
    // The in-memory server never times a watch out: past its timeout, it is a hung one.
    r.elapse(limit - Duration::from_secs(1)).await;
    assert_eq!(r.nexts(), [Next::Watch]);
    r.elapse(Duration::from_secs(2)).await;
    r.until("re-watched", |r| r.server.watch_requests().len() == 2)
        .await;
    let end = last_end(&r);
    assert!(
        matches!(&end.error, Some(ReflectorError::WatchIdle { idle, .. }) if *idle >= limit),
        "{:?}",
        end.error
    );
    assert_eq!(end.next, Next::Rewatch);
    assert_eq!(r.lists().len(), 1);
    r.stop().await.unwrap();
}

#[tokio::test]
async fn a_zero_idle_timeout_never_abandons_a_watch() {
    // spec: section 6 item 9 (the check can be turned off)
    let mut r = watching_rig(server_with(&["a"]), |b| {
        b.watch_idle_timeout(Duration::ZERO)
    })
    .await;
    for _ in 0..24 {
        r.elapse(Duration::from_secs(3_600)).await;
    }
    assert_eq!(r.nexts(), [Next::Watch]);
    assert_eq!(r.server.watch_requests().len(), 1);
    assert_eq!(r.driver.pending(), 0, "no idle timer");
    r.stop().await.unwrap();
}

#[tokio::test]
async fn a_hung_streaming_list_falls_back_to_list_and_watch() {
    // spec: RF-22 (any other failure falls back), RF-23 (warnings while waiting); section 6
    // item 9
    let idle = Duration::from_secs(90);
    let server = server_with(&["a"]);
    server.hang_watches(1);
    let mut r = rig(server, |b| b.streaming_list(true).watch_idle_timeout(idle));
    r.start();
    r.until("the streaming list", |r| {
        r.server.watch_requests().len() == 1
    })
    .await;
    r.settle().await;
    assert!(r.nexts().is_empty(), "still waiting for the initial events");
    for _ in 0..10 {
        r.elapse(Duration::from_secs(10)).await;
    }
    r.until("listed and watching", |r| {
        r.lists().len() == 1 && r.server.watch_requests().len() == 2
    })
    .await;
    let ends = r.ends.lock().unwrap().clone();
    assert_eq!(
        (ends[0].call, ends[0].next),
        (Call::WatchList, Next::FallBackToList)
    );
    assert!(
        matches!(ends[0].error, Some(ReflectorError::WatchIdle { .. })),
        "{:?}",
        ends[0].error
    );
    assert_eq!(ends[0].watch_end_cause(), None, "a list, not a watch");
    assert_eq!(watches(&r), [streaming(""), plain("1")]);
    assert_eq!(r.server.open_watches(), 1);
    r.stop().await.unwrap();
}

#[tokio::test]
async fn a_watch_call_that_never_answers_is_abandoned_on_the_idle_timeout() {
    // spec: section 6 item 9 (a connection that hangs before the response headers)
    let idle = Duration::from_secs(90);
    let server = server_with(&["a"]);
    server.hang_watch_calls(1);
    let mut r = rig(server, |b| b.watch_idle_timeout(idle));
    r.start();
    r.until("the watch call", |r| r.server.watch_requests().len() == 1)
        .await;
    r.settle().await;
    r.elapse(idle - Duration::from_secs(1)).await;
    assert_eq!(r.nexts(), [Next::Watch], "not idle yet");
    r.elapse(Duration::from_secs(2)).await;
    r.until("re-watched", Rig::watching).await;
    let end = last_end(&r);
    assert_eq!((end.call, end.next), (Call::Watch, Next::Rewatch));
    assert!(
        matches!(end.error, Some(ReflectorError::WatchIdle { events: 0, .. })),
        "{:?}",
        end.error
    );
    assert_eq!(r.watch_rvs(), ["1", "1"]);
    assert_eq!(r.lists().len(), 1, "no relist");
    r.stop().await.unwrap();
}
