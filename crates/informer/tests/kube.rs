//! The informer over Pods through the real `kube::Client` against `fake-apiserver` on
//! 127.0.0.1 (spec sections 3 and 5.14). The reflector's timers run on a manual driver over a
//! fake clock that the test moves (`pump`), so backoffs take no real time; only the server and
//! the handlers run in real time, and every wait is bounded.
#![cfg(feature = "kube")]

mod common;

use std::collections::BTreeMap;
use std::error::Error as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use delta_fifo::DeletedObject;
use fake_apiserver::{FakeApiServer, FaultRule, ServerHandle, Verb};
use informer::{
    CacheSyncError, Call, KubeListerWatcher, KubeObject, NAMESPACE_INDEX, Next, ReflectorError,
    SharedIndexInformer, Termination, handler_fn, wait_for_cache_sync_async,
};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, ResourceExt};
use serde_json::json;
use timer_wheel::{Driver, FakeClock};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use common::spawn_informer;
use common::versions::{served_versions, versions};

type Informer = SharedIndexInformer<KubeObject<Pod>, KubeListerWatcher<Pod>>;

/// A bound on every wait (a passing test never waits this long).
const WAIT: Duration = Duration::from_secs(10);

struct Rig {
    server: ServerHandle,
    clock: FakeClock,
    driver: Driver,
    informer: Arc<Informer>,
    ends: Arc<Mutex<Vec<Termination>>>,
    /// How many objects went through the informer's transform.
    transformed: Arc<AtomicUsize>,
    events: UnboundedReceiver<String>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), informer::InformerError>>>,
}

async fn rig(server: ServerHandle) -> Rig {
    rig_with(server, false).await
}

/// The rig, with the informer's streaming list on or off.
async fn rig_with(server: ServerHandle, streaming_list: bool) -> Rig {
    let clock = FakeClock::new();
    let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
    let ends = Arc::new(Mutex::new(Vec::new()));
    let transformed = Arc::new(AtomicUsize::new(0));
    let lister_watcher = KubeListerWatcher::new(Api::<Pod>::all(server.client()));
    assert_eq!(lister_watcher.resource(), "pods");
    let informer = Arc::new(
        SharedIndexInformer::builder(lister_watcher, driver.clone())
            .name("pods")
            .seed(11)
            .streaming_list(streaming_list)
            .transform({
                let transformed = Arc::clone(&transformed);
                move |p| {
                    transformed.fetch_add(1, Ordering::Relaxed);
                    Ok(p)
                }
            })
            .watch_error_handler({
                let ends = Arc::clone(&ends);
                move |t: &Termination| ends.lock().unwrap().push(t.clone())
            })
            .build(),
    );
    let (tx, events) = unbounded_channel();
    let (add, update) = (tx.clone(), tx.clone());
    informer
        .add_event_handler(
            handler_fn()
                .on_add(move |p: &Arc<KubeObject<Pod>>, initial| {
                    let _ = add.send(format!("add {} {initial}", key(p)));
                })
                .on_update(move |_, p: &Arc<KubeObject<Pod>>| {
                    let _ = update.send(format!("update {}", key(p)));
                })
                .on_delete(move |d: DeletedObject<KubeObject<Pod>>| {
                    let _ = tx.send(match &d {
                        DeletedObject::Known(p) => format!("delete {}", key(p)),
                        DeletedObject::Tombstone { key, .. } => format!("tombstone {key}"),
                    });
                }),
        )
        .unwrap();
    let (stop, task) = spawn_informer(&informer);
    Rig {
        server,
        clock,
        driver,
        informer,
        ends,
        transformed,
        events,
        stop: Some(stop),
        task: Some(task),
    }
}

fn key(p: &KubeObject<Pod>) -> String {
    format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any())
}

fn pod(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "labels": { "app": "web" } },
        "spec": { "containers": [{ "name": "c", "image": "nginx" }] }
    })
}

fn seed(server: &ServerHandle, ns: &str, name: &str) {
    server.create("", "v1", "pods", ns, pod(name)).unwrap();
}

impl Rig {
    async fn next(&mut self) -> String {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("a handler event in time")
            .expect("the handler is alive")
    }

    async fn next_sorted(&mut self, n: usize) -> Vec<String> {
        let mut got = Vec::new();
        for _ in 0..n {
            got.push(self.next().await);
        }
        got.sort();
        got
    }

    async fn synced(&self) {
        wait_for_cache_sync_async(WAIT, &[&*self.informer])
            .await
            .unwrap();
    }

    fn lists(&self) -> usize {
        self.ends
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.call == Call::List && t.error.is_none())
            .count()
    }

    fn nexts(&self) -> Vec<Next> {
        self.ends.lock().unwrap().iter().map(|t| t.next).collect()
    }

    /// Moves the fake clock past any backoff until `cond` holds; bounded.
    async fn pump(&self, what: &str, mut cond: impl FnMut(&Self) -> bool) {
        for _ in 0..500 {
            if cond(self) {
                return;
            }
            self.clock.advance(Duration::from_secs(61));
            self.driver.turn();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("gave up waiting for {what}; ends: {:?}", self.nexts());
    }

    /// Waits in real time (the server and the handlers run on it) until `cond` holds.
    async fn until(&self, what: &str, mut cond: impl FnMut(&Self) -> bool) {
        for _ in 0..1_000 {
            if cond(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("gave up waiting for {what}; ends: {:?}", self.nexts());
    }

    /// Closes the server's watches (after 2 s on the fake clock, so it is not a "very short
    /// watch") until the informer reports a normal re-watch; repeated, since the informer's
    /// watch may not be open yet when the first close is sent. Bounded.
    async fn drop_watches_until_rewatch(&self) {
        for _ in 0..1_000 {
            self.clock.advance(Duration::from_secs(2));
            self.server.faults().close_watches();
            tokio::time::sleep(Duration::from_millis(10)).await;
            if self.nexts().contains(&Next::Rewatch) {
                return;
            }
        }
        panic!("no re-watch; ends: {:?}", self.nexts());
    }

    /// The cache as `namespace/name -> resourceVersion`.
    fn cached(&self) -> BTreeMap<String, String> {
        versions(self.informer.indexer().list().iter().map(|o| &***o))
    }

    /// The server's objects, the same way.
    async fn served(&self) -> BTreeMap<String, String> {
        served_versions::<Pod>(self.server.client()).await
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let result = tokio::time::timeout(WAIT, self.task.take().unwrap())
            .await
            .expect("the informer stops promptly")
            .unwrap();
        assert!(result.is_ok(), "{result:?}");
        assert!(self.informer.is_stopped());
        self.server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_then_sees_changes_in_order_and_rewatches_without_relisting() {
    // spec: SI-1, SI-15, SI-22, SI-23, RF-6, RF-13, RF-15 over the real client
    let server = FakeApiServer::builder().start().await.unwrap();
    seed(&server, "default", "a");
    seed(&server, "default", "b");
    seed(&server, "kube-system", "dns");
    let mut r = rig(server).await;
    r.synced().await;
    assert_eq!(
        r.next_sorted(3).await,
        [
            "add default/a true",
            "add default/b true",
            "add kube-system/dns true"
        ]
    );

    let api = Api::<Pod>::namespaced(r.server.client(), "default");
    let mut c: Pod = serde_json::from_value(pod("c")).unwrap();
    c.metadata.namespace = Some("default".into());
    api.create(&PostParams::default(), &c).await.unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "labels": { "tier": "front" } } })),
    )
    .await
    .unwrap();
    api.delete("b", &DeleteParams::default()).await.unwrap();
    assert_eq!(r.next().await, "add default/c false");
    assert_eq!(r.next().await, "update default/a");
    // A pod is deleted in two steps, as on a real server: marked, then removed.
    assert_eq!(r.next().await, "update default/b");
    assert_eq!(r.next().await, "delete default/b");

    let by_ns = r
        .informer
        .indexer()
        .index_keys(NAMESPACE_INDEX, "default")
        .unwrap();
    let mut by_ns: Vec<String> = by_ns.iter().map(|k| k.to_string()).collect();
    by_ns.sort();
    assert_eq!(by_ns, ["default/a", "default/c"]);
    let a = r.informer.lister().namespace("default").get("a").unwrap();
    assert_eq!(a.labels().get("tier").map(String::as_str), Some("front"));
    assert!(
        a.metadata.managed_fields.is_none(),
        "managedFields are stripped"
    );
    assert_eq!(r.cached(), r.served().await);
    // The reflector records an event's version right after it queued the event (RF-13, as
    // client-go's watch handler): a handler may see the event a moment before that.
    let served_rv = r.server.resource_version().to_string();
    r.until("the reflector records the delete's version", |r| {
        r.informer.last_sync_resource_version() == served_rv
    })
    .await;

    // The server drops every watch (a restart): the informer re-watches from its version.
    r.drop_watches_until_rewatch().await;
    api.delete("c", &DeleteParams::default()).await.unwrap();
    assert_eq!(r.next().await, "update default/c");
    assert_eq!(r.next().await, "delete default/c");
    assert_eq!(r.lists(), 1, "no relist: {:?}", r.nexts());
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relists_after_compaction_and_emits_tombstones_for_missed_deletes() {
    // spec: RF-9/RF-12 (410 on re-watch => relist), SI-23, 5.14 (tombstones, convergence)
    let server = FakeApiServer::builder().start().await.unwrap();
    for name in ["a", "b", "c"] {
        seed(&server, "default", name);
    }
    let mut r = rig(server).await;
    r.synced().await;
    assert_eq!(r.next_sorted(3).await.len(), 3);

    // The watch is open once an event came through it.
    seed(&r.server, "default", "probe");
    assert_eq!(r.next().await, "add default/probe false");
    // Disconnect: the next watch hangs (no events), so what follows goes unseen.
    r.server.faults().hang_next_watches(1);
    r.clock.advance(Duration::from_secs(2)); // not a very short watch
    r.server.faults().close_watches();
    r.until("a re-watch", |r| r.nexts().contains(&Next::Rewatch))
        .await;
    let api = Api::<Pod>::namespaced(r.server.client(), "default");
    api.delete("b", &DeleteParams::default()).await.unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "labels": { "v": "2" } } })),
    )
    .await
    .unwrap();
    seed(&r.server, "default", "d");
    r.server.faults().compact();
    let cached = |r: &Rig, key: &str| r.informer.indexer().get_by_key(key).unwrap();
    let (a, c, probe) = (
        cached(&r, "default/a"),
        cached(&r, "default/c"),
        cached(&r, "default/probe"),
    );
    let transformed = r.transformed.load(Ordering::Relaxed);

    // Drop the hung watch: re-watching from the old version gets 410, so the informer relists.
    // Closing is repeated, in case the hung watch was not open yet at the first close.
    let served = r.served().await;
    let mut converged = false;
    for _ in 0..500 {
        if r.lists() >= 2 && r.cached() == served {
            converged = true;
            break;
        }
        r.clock.advance(Duration::from_secs(61));
        r.server.faults().close_watches();
        r.driver.turn();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(converged, "converged after a relist: {:?}", r.nexts());
    let expired = r.ends.lock().unwrap().iter().any(|t| {
        t.error
            .as_ref()
            .and_then(|e| e.api_error())
            .is_some_and(|e| e.is_expired())
    });
    assert!(expired, "a 410 caused the relist: {:?}", r.nexts());
    assert_eq!(
        r.next_sorted(5).await,
        [
            "add default/d false",
            "tombstone default/b",
            "update default/a",
            // Unchanged, relisted: same-version updates, which every handler gets while the
            // informer does not resync (SI-12).
            "update default/c",
            "update default/probe",
        ]
    );
    // GOALS I5: the relist answered the unchanged pods with the cached objects themselves
    // (not transformed again); only the changed and the new one are new objects.
    assert!(Arc::ptr_eq(&cached(&r, "default/c"), &c));
    assert!(Arc::ptr_eq(&cached(&r, "default/probe"), &probe));
    assert!(!Arc::ptr_eq(&cached(&r, "default/a"), &a));
    assert_eq!(cached(&r, "default/a").labels()["v"], "2");
    assert_eq!(
        r.transformed.load(Ordering::Relaxed) - transformed,
        2,
        "a and d only"
    );
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_and_internal_errors_on_list_back_off_and_recover() {
    // spec: RF-1 (backoff after a failed list), SI-17 (timeout carries the cause)
    let server = FakeApiServer::builder().start().await.unwrap();
    seed(&server, "default", "a");
    let faults = server.faults();
    faults.fail(
        FaultRule::status(403)
            .verb(Verb::List)
            .resource("pods")
            .times(1),
    );
    faults.fail(
        FaultRule::status(500)
            .verb(Verb::List)
            .resource("pods")
            .times(1),
    );
    let mut r = rig(server).await;
    r.until("the 403", |r| !r.nexts().is_empty()).await;

    let err = wait_for_cache_sync_async(Duration::from_millis(100), &[&*r.informer])
        .await
        .unwrap_err();
    assert!(matches!(err, CacheSyncError::Timeout { .. }), "{err:?}");
    let cause = err.source().expect("the list error").source().unwrap();
    let cause = cause.to_string();
    assert!(cause.contains("403"), "{cause}");
    assert!(
        cause.contains("list pods"),
        "names verb and resource: {cause}"
    );

    r.pump("synced", |r| r.informer.has_synced()).await;
    let errors: Vec<u16> = r
        .ends
        .lock()
        .unwrap()
        .iter()
        .filter_map(|t| t.error.as_ref()?.api_error()?.status().map(|s| s.code))
        .collect();
    assert_eq!(errors, [403, 500]);
    assert_eq!(
        r.nexts()[..3],
        [
            Next::RelistAfterBackoff,
            Next::RelistAfterBackoff,
            Next::Watch
        ]
    );
    assert_eq!(r.next().await, "add default/a true");
    assert!(r.informer.last_watch_error().is_none());
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_list_syncs_from_one_watch_without_any_list() {
    // spec: RF-19 (sendInitialEvents, resourceVersionMatch=NotOlderThan, bookmarks), RF-21
    // (the `k8s.io/initial-events-end` bookmark ends the initial events; the same stream goes
    // on), over the real client and fake-apiserver
    let server = FakeApiServer::builder().start().await.unwrap();
    seed(&server, "default", "a");
    seed(&server, "kube-system", "dns");
    // Every LIST of pods fails: the cache can only sync from the streaming list.
    server.faults().fail(
        FaultRule::status(500)
            .verb(Verb::List)
            .resource("pods")
            .always(),
    );
    let mut r = rig_with(server, true).await;
    r.synced().await;
    assert_eq!(
        r.next_sorted(2).await,
        ["add default/a true", "add kube-system/dns true"]
    );
    // The hook runs just after the informer marks itself synced.
    r.until("the hook saw the sync", |r| !r.nexts().is_empty())
        .await;
    {
        let ends = r.ends.lock().unwrap().clone();
        assert_eq!(ends.len(), 1, "{ends:?}");
        assert_eq!((ends[0].call, ends[0].next), (Call::WatchList, Next::Watch));
        assert!(ends[0].error.is_none());
        assert_eq!(ends[0].resource_version, "", "RF-19: \"\" at first");
    }
    assert_eq!(r.lists(), 0);
    assert_eq!(
        r.informer.last_sync_resource_version(),
        r.server.resource_version().to_string()
    );

    // Changes come on the same stream: no termination, no new request.
    seed(&r.server, "default", "b");
    assert_eq!(r.next().await, "add default/b false");
    assert_eq!(r.nexts(), [Next::Watch]);
    r.server.faults().clear();
    let served = r.served().await;
    r.until("cache matches", |r| r.cached() == served).await;
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_watch_is_abandoned_on_the_idle_timeout_and_resumed_without_relist() {
    // spec: section 6 item 9 (half-open connections hang watches), 3.9 (hung connection
    // fault), RF-15 (re-watch from the last RV); fake-apiserver's `hang_next_watches`
    let server = FakeApiServer::builder().start().await.unwrap();
    seed(&server, "default", "a");
    let mut r = rig(server).await;
    r.synced().await;
    assert_eq!(r.next().await, "add default/a true");
    // An event through the informer's first watch proves that watch is open, so the hang set
    // below can only catch the watch that replaces it. (Without this, a first watch still
    // opening could take the hang and then be closed, and a loaded machine let the idle check
    // end a plain watch instead.)
    seed(&r.server, "default", "warm");
    assert_eq!(r.next().await, "add default/warm false");
    let before = r.server.resource_version().to_string();

    // The next watch gets its headers and then nothing, not even bookmarks: the close ends the
    // open first watch, and the one that replaces it hangs.
    r.server.faults().hang_next_watches(1);
    r.clock.advance(Duration::from_secs(2));
    r.server.faults().close_watches();
    seed(&r.server, "default", "b");

    // Only the idle timeout (the watch's timeoutSeconds + a grace, on the fake clock) can
    // bring it back: nothing closes the hung watch.
    r.pump("the idle end", |r| {
        r.ends
            .lock()
            .unwrap()
            .iter()
            .any(|t| matches!(t.error, Some(ReflectorError::WatchIdle { .. })))
    })
    .await;
    assert_eq!(r.next().await, "add default/b false");
    let ends = r.ends.lock().unwrap().clone();
    let idle = ends
        .iter()
        .find(|t| matches!(t.error, Some(ReflectorError::WatchIdle { .. })))
        .unwrap();
    assert_eq!((idle.call, idle.next), (Call::Watch, Next::Rewatch));
    assert_eq!(
        idle.resource_version, before,
        "resumed from the last synced version"
    );
    assert_eq!(r.lists(), 1, "no relist: {ends:?}");
    let served = r.served().await;
    r.until("cache matches", |r| r.cached() == served).await;
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_watch_names_the_verb_and_resource() {
    // spec: RF-12 (any other open error: relist after backoff); issue 7 (a 403 says which
    // verb and resource failed)
    let server = FakeApiServer::builder().start().await.unwrap();
    seed(&server, "default", "a");
    server.faults().fail(
        FaultRule::status(403)
            .verb(Verb::Watch)
            .resource("pods")
            .times(1),
    );
    let r = rig(server).await;
    r.until("the 403", |r| r.nexts().len() >= 2).await;
    let end = r.ends.lock().unwrap()[1].clone();
    assert_eq!(
        (end.call, end.next),
        (Call::Watch, Next::RelistAfterBackoff)
    );
    let error = end.error.expect("the watch error");
    assert!(
        matches!(error, ReflectorError::WatchOpen { .. }),
        "{error:?}"
    );
    let status = error.api_error().and_then(|e| e.status()).unwrap();
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    let cause = error.source().unwrap().to_string();
    assert!(
        cause.contains("watch pods"),
        "names verb and resource: {cause}"
    );
    r.pump("re-synced and watching", |r| {
        r.lists() == 2 && r.nexts().len() >= 3
    })
    .await;
    r.stop().await;
}

/// A Pod the server stores but the client cannot decode (`containers` is not a list).
fn undecodable_pod(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name },
        "spec": { "containers": "not a list" }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_the_server_is_an_error_naming_the_call_until_it_is_gone() {
    // spec: RF-1 (a failed list: hook, backoff, relist), RF-15 (a watch ending at once
    // without an event is very short); issue 7 (garbage from the server: defined behaviour,
    // no panic)
    let server = FakeApiServer::builder().start().await.unwrap();
    seed(&server, "default", "a");
    server
        .create("", "v1", "pods", "default", undecodable_pod("junk"))
        .unwrap();
    let mut r = rig(server).await;
    r.until("the failed list", |r| !r.nexts().is_empty()).await;
    let end = r.ends.lock().unwrap()[0].clone();
    assert_eq!((end.call, end.next), (Call::List, Next::RelistAfterBackoff));
    let error = end.error.expect("a decode error");
    let api = error.api_error().expect("an API error");
    assert!(matches!(api, informer::ApiError::Transport(_)), "{api:?}");
    assert!(
        api.to_string().contains("list pods"),
        "names the call: {api}"
    );

    // Once the junk is gone, the next relist syncs.
    let pods = Api::<Pod>::namespaced(r.server.client(), "default");
    // The answer is the deleted object, which does not decode either; the delete is done.
    let _ = pods.delete("junk", &DeleteParams::default()).await;
    r.pump("synced", |r| r.informer.has_synced()).await;
    assert_eq!(r.next().await, "add default/a true");

    // Junk arriving on the watch ends it with an undecodable-event error: the informer
    // relists with backoff (the list fails on the junk too) until it is gone.
    r.clock.advance(Duration::from_secs(2));
    r.server
        .create("", "v1", "pods", "default", undecodable_pod("junk2"))
        .unwrap();
    r.pump("a failed relist", |r| {
        r.ends
            .lock()
            .unwrap()
            .iter()
            .skip(1)
            .any(|t| t.call == Call::List && t.error.is_some())
    })
    .await;
    let watch_end = r.ends.lock().unwrap()[2].clone();
    assert_eq!(
        (watch_end.call, watch_end.next),
        (Call::Watch, Next::RelistAfterBackoff),
        "{watch_end:?}"
    );
    let status = watch_end
        .error
        .as_ref()
        .and_then(|e| e.api_error()?.status())
        .expect("a status");
    assert_eq!(status.reason, informer::UNDECODABLE_EVENT, "{status:?}");
    assert!(status.message.contains("watch pods"), "{status:?}");
    let _ = pods.delete("junk2", &DeleteParams::default()).await;
    seed(&r.server, "default", "b");
    let served = r.served().await;
    assert_eq!(served.len(), 2, "{served:?}");
    r.pump("cache matches", |r| r.cached() == served).await;
    r.stop().await;
}
