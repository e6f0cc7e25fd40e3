//! The shared informer over the in-memory server (spec section 5, SI-1..SI-7, SI-15..SI-20).
//! Each informer runs on its own thread under `futures::executor::block_on`; its reflector
//! waits on a manual driver over a fake clock, which no test advances unless it says so, so a
//! failed list stays failed. Handlers report through channels read with a bounded wait.

mod common;

use std::error::Error as _;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Pod, eventually, pod, run};
use delta_fifo::DeletedObject;
use informer::{
    ApiError, CacheSyncError, HandlerError, InformerError, MemoryListerWatcher, NAMESPACE_INDEX,
    SharedIndexInformer, Status, Termination, handler_fn, wait_for_cache_sync,
};
use timer_wheel::{Driver, FakeClock};

type Server = MemoryListerWatcher<Pod>;
type Informer = SharedIndexInformer<Pod, Server>;

/// A bound on every wait for a handler event (generous: a loaded machine is slow, but a
/// passing test never waits this long).
const EVENT_WAIT: Duration = Duration::from_secs(10);

fn informer(server: &Server) -> Arc<Informer> {
    let driver = Driver::builder().clock(FakeClock::new()).manual().unwrap();
    Arc::new(
        SharedIndexInformer::builder(server.clone(), driver)
            .name("pods")
            .seed(3)
            .build(),
    )
}

/// A handler that reports every notification as a line.
fn recorder() -> (informer::FnHandler<Pod>, Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    let add = tx.clone();
    let update = tx.clone();
    let handler = handler_fn()
        .on_add(move |p: &Arc<Pod>, initial| {
            let _ = add.send(format!("add {}/{} {} {initial}", p.ns, p.name, p.rv));
        })
        .on_update(move |old: &Arc<Pod>, new: &Arc<Pod>| {
            let _ = update.send(format!("update {} {}->{}", new.name, old.rv, new.rv));
        })
        .on_delete(move |d: DeletedObject<Pod>| {
            let what = match &d {
                DeletedObject::Known(p) => format!("delete {}", p.name),
                DeletedObject::Tombstone { key, .. } => format!("tombstone {key}"),
            };
            let _ = tx.send(what);
        });
    (handler, rx)
}

fn next(rx: &Receiver<String>) -> String {
    rx.recv_timeout(EVENT_WAIT).expect("a handler event")
}

fn next_n(rx: &Receiver<String>, n: usize) -> Vec<String> {
    let mut got: Vec<String> = (0..n).map(|_| next(rx)).collect();
    got.sort();
    got
}

fn server_with(names: &[&str]) -> Server {
    let server = Server::new();
    for name in names {
        server.create(pod("ns", name, "")).unwrap();
    }
    server
}

#[test]
fn handlers_see_initial_adds_then_changes_and_stop_joins() {
    // spec: SI-1, SI-2, SI-6, SI-10, SI-15, SI-16, SI-22, SI-23
    let server = server_with(&["a", "b"]);
    let informer = informer(&server);
    assert!(!informer.has_synced());
    assert_eq!(informer.last_sync_resource_version(), "");
    let (handler, rx) = recorder();
    let registration = informer.add_event_handler(handler).unwrap();
    let running = run(&informer);

    assert_eq!(
        next_n(&rx, 2),
        ["add ns/a 1 true", "add ns/b 2 true"],
        "initial adds are flagged initial"
    );
    // The handler may see the last initial add before its own synced flag, the informer's
    // and the reflector's version are recorded (each just after handing the objects on).
    eventually("synced", || registration.synced() && informer.has_synced());
    eventually("the list's version", || {
        informer.last_sync_resource_version() == "2"
    });

    server.create(pod("ns", "c", "")).unwrap();
    assert_eq!(next(&rx), "add ns/c 3 false");
    server.update(pod("ns", "a", "")).unwrap();
    assert_eq!(next(&rx), "update a 1->4");
    let b = server.get("ns/b").unwrap();
    server.delete(&b).unwrap();
    assert_eq!(next(&rx), "delete b");
    assert_eq!(informer.lister().namespace("ns").list().len(), 2);
    assert_eq!(
        informer
            .indexer()
            .index_keys(NAMESPACE_INDEX, "ns")
            .unwrap()
            .len(),
        2
    );

    running.stop().unwrap();
    assert!(informer.is_stopped());
    assert!(registration.is_removed(), "the handler's thread was joined");
    assert!(matches!(
        informer.add_event_handler(handler_fn()),
        Err(HandlerError::Stopped)
    ));
    assert_eq!(server.open_watches(), 0, "the watch was dropped");
}

#[test]
fn a_late_handler_gets_the_cache_as_adds_then_live_events() {
    // spec: SI-7
    let server = server_with(&["a", "b"]);
    let informer = informer(&server);
    let running = run(&informer);
    wait_for_cache_sync(EVENT_WAIT, &[&*informer]).unwrap();

    let (handler, rx) = recorder();
    let registration = informer.add_event_handler(handler).unwrap();
    assert_eq!(next_n(&rx, 2), ["add ns/a 1 true", "add ns/b 2 true"]);
    wait_for_cache_sync(EVENT_WAIT, &[&registration, &*informer]).unwrap();
    server.create(pod("ns", "c", "")).unwrap();
    assert_eq!(next(&rx), "add ns/c 3 false");

    informer.remove_event_handler(&registration);
    assert!(registration.is_removed());
    running.stop().unwrap();
}

#[test]
fn an_empty_initial_list_syncs() {
    // spec: SI-15 (no entry to pop: the sync comes from the list itself)
    let server = Server::new();
    let informer = informer(&server);
    let (handler, _rx) = recorder();
    let registration = informer.add_event_handler(handler).unwrap();
    let running = run(&informer);
    wait_for_cache_sync(EVENT_WAIT, &[&*informer, &registration]).unwrap();
    assert!(informer.indexer().is_empty());
    running.stop().unwrap();
}

#[test]
fn options_after_start_are_refused_and_an_informer_runs_once() {
    // spec: SI-20, SI-1
    let server = server_with(&["a"]);
    let informer = informer(&server);
    let seen = Arc::new(Mutex::new(Vec::new()));
    informer
        .set_transform(|p: Arc<Pod>| {
            Ok(Arc::new(Pod {
                node: "set-by-transform".into(),
                ..(*p).clone()
            }))
        })
        .unwrap();
    informer
        .set_watch_error_handler({
            let seen = Arc::clone(&seen);
            move |t: &Termination| seen.lock().unwrap().push(t.next)
        })
        .unwrap();
    let running = run(&informer);
    wait_for_cache_sync(EVENT_WAIT, &[&*informer]).unwrap();
    assert_eq!(
        informer.lister().namespace("ns").get("a").unwrap().node,
        "set-by-transform"
    );
    assert!(!seen.lock().unwrap().is_empty(), "the hook saw the list");

    let err = informer.set_transform(Ok).unwrap_err();
    assert!(matches!(
        err,
        InformerError::AlreadyStarted {
            option: "transform",
            ..
        }
    ));
    assert!(matches!(
        informer.set_watch_error_handler(|_| {}),
        Err(InformerError::AlreadyStarted { .. })
    ));
    let again = futures::executor::block_on(informer.run(async {}));
    assert!(matches!(again, Err(InformerError::AlreadyRunning { .. })));
    running.stop().unwrap();
}

#[test]
fn wait_for_cache_sync_times_out_with_the_last_list_error_as_cause() {
    // spec: SI-17 (flywheel: a timeout and a reason instead of polling until stopped)
    let server = server_with(&["a"]);
    server.fail_lists(
        1,
        ApiError::Status(Status::new(403, "Forbidden", "cannot list pods")),
    );
    let informer = informer(&server);
    let running = run(&informer);
    let err = wait_for_cache_sync(Duration::from_millis(200), &[&*informer]).unwrap_err();
    let CacheSyncError::Timeout { pending, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(pending, &["informer pods".to_owned()]);
    let cause = err.source().expect("the last list error").to_string();
    assert!(cause.contains("list"), "{cause}");
    assert!(
        informer
            .last_watch_error()
            .and_then(|e| e.api_error().cloned())
            .is_some_and(|e| e.status().is_some_and(|s| s.code == 403))
    );

    // Stopped before it synced: the waiters learn it never will.
    running.stop().unwrap();
    let err = wait_for_cache_sync(EVENT_WAIT, &[&*informer]).unwrap_err();
    assert!(matches!(err, CacheSyncError::Stopped { .. }), "{err:?}");
    assert!(!informer.has_synced());
}

#[test]
fn a_failed_list_is_retried_after_the_backoff_on_the_informers_driver() {
    // spec: RF-1 through the informer; time moves only when the test says so
    let server = server_with(&["a"]);
    server.fail_lists(
        1,
        ApiError::Status(Status::new(500, "InternalError", "boom")),
    );
    let clock = FakeClock::new();
    let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
    let informer = Arc::new(
        SharedIndexInformer::builder(server.clone(), driver.clone())
            .name("pods")
            .seed(3)
            .build(),
    );
    let running = run(&informer);
    // Move time past any backoff until the relist lands (the timer may not be armed yet on
    // the first turns); bounded.
    let mut synced = false;
    for _ in 0..200 {
        if wait_for_cache_sync(Duration::from_millis(20), &[&*informer]).is_ok() {
            synced = true;
            break;
        }
        clock.advance(Duration::from_secs(61));
        driver.turn();
    }
    assert!(synced, "the informer relisted after its backoff");
    assert_eq!(server.list_requests().len(), 2, "one failed list, one good");
    assert_eq!(informer.indexer().len(), 1);
    running.stop().unwrap();
}

#[test]
fn a_relist_shares_unchanged_objects_replaces_changed_ones_and_tombstones_deleted_ones() {
    // GOALS I5; spec: DF-11 (a cached object is not transformed again), DF-12..DF-14, SI-22
    relist_shares_unchanged_objects(false);
}

#[test]
fn a_streaming_relist_shares_unchanged_objects_too() {
    // GOALS I5; spec: RF-19..RF-21 (the temporary store), DF-11..DF-14, SI-22
    relist_shares_unchanged_objects(true);
}

/// After a 410 the informer relists (with a list, or a streaming list) while b changed and c
/// went: a stays the cached object itself, b is new, c is a tombstone.
fn relist_shares_unchanged_objects(streaming: bool) {
    let server = server_with(&["a", "b", "c"]);
    let clock = FakeClock::new();
    let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
    let transformed = Arc::new(Mutex::new(Vec::new()));
    let informer = Arc::new(
        SharedIndexInformer::builder(server.clone(), driver.clone())
            .name("pods")
            .seed(3)
            .streaming_list(streaming)
            .transform({
                let transformed = Arc::clone(&transformed);
                move |p: Arc<Pod>| {
                    transformed.lock().unwrap().push(p.name.clone());
                    Ok(p)
                }
            })
            .build(),
    );
    let (handler, rx) = recorder();
    informer.add_event_handler(handler).unwrap();
    let running = run(&informer);
    assert_eq!(next_n(&rx, 3).len(), 3);
    let cached = |key: &str| informer.indexer().get_by_key(key).unwrap();
    let (a, b) = (cached("ns/a"), cached("ns/b"));
    transformed.lock().unwrap().clear();

    // The watch ends with 410 (once it is open); while the informer backs off, b changes and
    // c goes.
    for _ in 0..1_000 {
        if server.open_watches() == 1 {
            break;
        }
        assert!(
            rx.recv_timeout(Duration::from_millis(5)).is_err(),
            "no event yet"
        );
    }
    assert_eq!(server.open_watches(), 1, "the watch after the list");
    server.break_watches(Status::expired("compacted"));
    server.update(pod("ns", "b", "")).unwrap();
    let c = server.get("ns/c").unwrap();
    server.delete(&c).unwrap();
    let mut relisted = Vec::new();
    for _ in 0..200 {
        if let Ok(event) = rx.recv_timeout(Duration::from_millis(20)) {
            relisted.push(event);
            if relisted.len() == 3 {
                break;
            }
        }
        clock.advance(Duration::from_secs(61));
        driver.turn();
    }
    relisted.sort();
    // a is unchanged: a same-version update, which every handler gets while the informer
    // does not resync (SI-12).
    assert_eq!(
        relisted,
        ["tombstone ns/c", "update a 1->1", "update b 2->4"]
    );
    let lists = if streaming {
        server
            .watch_requests()
            .iter()
            .filter(|w| w.send_initial_events)
            .count()
    } else {
        server.list_requests().len()
    };
    assert_eq!(lists, 2, "one list, one relist");
    assert!(Arc::ptr_eq(&cached("ns/a"), &a), "the cached object itself");
    assert!(!Arc::ptr_eq(&cached("ns/b"), &b));
    assert_eq!(cached("ns/b").rv, "4");
    assert!(informer.indexer().get_by_key("ns/c").is_none());
    assert_eq!(
        *transformed.lock().unwrap(),
        ["b"],
        "only the changed object entered anew"
    );
    running.stop().unwrap();
}
