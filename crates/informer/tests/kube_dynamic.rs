//! Informers over kube's untyped faces, through the real `kube::Client` against
//! `fake-apiserver`: metadata only (`PartialObjectMeta<Pod>` through
//! `KubeMetadataListerWatcher`) and `DynamicObject` (through `KubeListerWatcher::new_with`
//! and an `ApiResource`). Both sync, follow changes and get tombstones for deletes missed
//! while disconnected; fake-apiserver answers the metadata requests with
//! `PartialObjectMetadata`. The reflector's timers run on a manual driver over a fake clock that
//! the test moves; every wait is bounded.
#![cfg(feature = "kube")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use delta_fifo::DeletedObject;
use fake_apiserver::{FakeApiServer, ServerHandle};
use informer::{
    KubeListerWatcher, KubeObject, ListerWatcher, Next, Resource, SharedIndexInformer, Termination,
    UNEXPECTED_KIND, handler_fn,
};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use serde_json::json;
use timer_wheel::{Driver, FakeClock};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::sync::oneshot;

use common::spawn_informer;

/// A bound on every wait (a passing test never waits this long).
const WAIT: Duration = Duration::from_secs(10);

fn pod(server: &ServerHandle, name: &str) {
    let obj = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "labels": { "app": "web" } },
        "spec": { "containers": [{ "name": "c", "image": "nginx" }] }
    });
    server.create("", "v1", "pods", "default", obj).unwrap();
}

fn configmap(server: &ServerHandle, name: &str, value: &str) {
    let obj = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": name },
        "data": { "key": value }
    });
    server
        .create("", "v1", "configmaps", "default", obj)
        .unwrap();
}

/// An informer over `lister_watcher` whose handler reports `add/update/delete/tombstone
/// <name>`, running until the returned sender fires.
struct Run<K: Resource, L: ListerWatcher<K> + 'static> {
    clock: FakeClock,
    driver: Driver,
    informer: Arc<SharedIndexInformer<K, L>>,
    ends: Arc<Mutex<Vec<Termination>>>,
    events: UnboundedReceiver<String>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), informer::InformerError>>,
}

fn start<K, L>(lister_watcher: L, name: fn(&K) -> String) -> Run<K, L>
where
    K: Resource,
    L: ListerWatcher<K> + 'static,
{
    let clock = FakeClock::new();
    let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
    let ends = Arc::new(Mutex::new(Vec::new()));
    let informer = Arc::new(
        SharedIndexInformer::builder(lister_watcher, driver.clone())
            .seed(1)
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
                .on_add(move |o: &Arc<K>, _| add.send(format!("add {}", name(o))).unwrap())
                .on_update(move |_, o: &Arc<K>| update.send(format!("update {}", name(o))).unwrap())
                .on_delete(move |d: DeletedObject<K>| {
                    tx.send(match d {
                        DeletedObject::Known(o) => format!("delete {}", name(&o)),
                        DeletedObject::Tombstone { key, .. } => format!("tombstone {key}"),
                    })
                    .unwrap();
                }),
        )
        .unwrap();
    let (stop, task) = spawn_informer(&informer);
    Run {
        clock,
        driver,
        informer,
        ends,
        events,
        stop,
        task,
    }
}

impl<K: Resource, L: ListerWatcher<K> + 'static> Run<K, L> {
    async fn next(&mut self) -> String {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("a handler event in time")
            .expect("the handler is alive")
    }

    /// Misses deletes: the next watch hangs, the server compacts, and the informer relists
    /// once the hung watch is dropped (bounded).
    async fn relist_after_missed_changes(&self, server: &ServerHandle, change: impl AsyncFnOnce()) {
        let faults = server.faults();
        faults.hang_next_watches(1);
        self.clock.advance(Duration::from_secs(2));
        faults.close_watches();
        change().await;
        faults.compact();
        let lists = || {
            self.ends
                .lock()
                .unwrap()
                .iter()
                .filter(|t| t.next == Next::Watch)
                .count()
        };
        for _ in 0..1_000 {
            if lists() >= 2 {
                return;
            }
            self.clock.advance(Duration::from_secs(61));
            faults.close_watches();
            self.driver.turn();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("no relist: {:?}", self.ends.lock().unwrap());
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let result = tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the informer stops")
            .unwrap();
        assert!(result.is_ok(), "{result:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metadata_only_informer_caches_metadata_and_follows_changes() {
    // spec: section 6 item 2 (metadata-only informers); RF-13; SI-23 (tombstones)
    let server = FakeApiServer::builder().start().await.unwrap();
    pod(&server, "a");
    pod(&server, "b");
    let lister_watcher = KubeListerWatcher::new(Api::<Pod>::all(server.client())).metadata_only();
    assert_eq!(lister_watcher.resource(), "pods");
    let name = |p: &KubeObject<PartialObjectMeta<Pod>>| p.metadata.name.clone().unwrap();
    let mut run = start(lister_watcher, name);
    let mut initial = vec![run.next().await, run.next().await];
    initial.sort();
    assert_eq!(initial, ["add a", "add b"]);
    let a = run.informer.lister().namespace("default").get("a").unwrap();
    assert_eq!(a.metadata.labels.as_ref().unwrap()["app"], "web");
    assert!(a.metadata.resource_version.is_some());
    // The server answered metadata only (the list asked `as=PartialObjectMetadataList`).
    assert_eq!(a.types.as_ref().unwrap().kind, "PartialObjectMetadata");

    let api = Api::<Pod>::namespaced(server.client(), "default");
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "labels": { "tier": "front" } } })),
    )
    .await
    .unwrap();
    assert_eq!(run.next().await, "update a");
    let a = run.informer.lister().namespace("default").get("a").unwrap();
    assert_eq!(a.metadata.labels.as_ref().unwrap()["tier"], "front");
    // So did the watch (`as=PartialObjectMetadata`).
    assert_eq!(a.types.as_ref().unwrap().kind, "PartialObjectMetadata");

    run.relist_after_missed_changes(&server, async || {
        api.delete("b", &DeleteParams::default()).await.unwrap();
    })
    .await;
    let mut after = Vec::new();
    while after.len() < 2 {
        after.push(run.next().await);
    }
    after.sort();
    // The relist: b is gone (a tombstone), a unchanged (a same-version update).
    assert_eq!(after, ["tombstone default/b", "update a"]);
    assert!(
        run.informer
            .lister()
            .namespace("default")
            .get("b")
            .is_none()
    );
    run.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_object_informer_sees_configmaps_untyped() {
    // spec: 5.13 (informers for types known at run time); RF-13; SI-23 (tombstones)
    let server = FakeApiServer::builder().start().await.unwrap();
    configmap(&server, "settings", "1");
    let resource = ApiResource::erase::<ConfigMap>(&());
    let api = Api::<DynamicObject>::all_with(server.client(), &resource);
    let lister_watcher = KubeListerWatcher::new_with(api, &resource);
    assert_eq!(lister_watcher.resource(), "configmaps");
    let name = |o: &KubeObject<DynamicObject>| o.metadata.name.clone().unwrap();
    let mut run = start(lister_watcher, name);
    assert_eq!(run.next().await, "add settings");
    let cached = run
        .informer
        .lister()
        .namespace("default")
        .get("settings")
        .unwrap();
    assert_eq!(cached.data["data"]["key"], "1");
    assert_eq!(cached.types.as_ref().unwrap().kind, "ConfigMap");

    configmap(&server, "extra", "2");
    assert_eq!(run.next().await, "add extra");
    let typed = Api::<ConfigMap>::namespaced(server.client(), "default");
    run.relist_after_missed_changes(&server, async || {
        typed
            .delete("extra", &DeleteParams::default())
            .await
            .unwrap();
    })
    .await;
    let mut after = Vec::new();
    while after.len() < 2 {
        after.push(run.next().await);
    }
    after.sort();
    assert_eq!(after, ["tombstone default/extra", "update settings"]);
    run.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_informer_refuses_objects_of_another_kind() {
    // issue 7 (objects of the wrong kind: defined behaviour, the cache never silently
    // diverges): an ApiResource naming the wrong kind for `configmaps`
    let server = FakeApiServer::builder().start().await.unwrap();
    configmap(&server, "a", "1");
    let mut wrong = ApiResource::erase::<ConfigMap>(&());
    wrong.kind = "Gadget".into();
    let api = Api::<DynamicObject>::all_with(server.client(), &wrong);
    let name = |o: &KubeObject<DynamicObject>| o.metadata.name.clone().unwrap();
    let run = start(KubeListerWatcher::new_with(api, &wrong), name);
    let mut refused = None;
    for _ in 0..1_000 {
        refused = run.ends.lock().unwrap().iter().find_map(|t| {
            let status = t.error.as_ref()?.api_error()?.status()?;
            (status.reason == UNEXPECTED_KIND).then(|| status.message.clone())
        });
        if refused.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        refused.as_deref(),
        Some(
            "list configmaps: the server sent an object of v1/ConfigMap where v1/Gadget was expected"
        )
    );
    assert!(!run.informer.has_synced());
    assert!(run.informer.indexer().list().is_empty());
    run.stop().await;
}
