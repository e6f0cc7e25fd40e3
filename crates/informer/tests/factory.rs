//! `SharedInformerFactory` through the real `kube::Client` against `fake-apiserver` (spec
//! section 5.13): one informer per type, start of the not-yet-started ones, cache sync,
//! shutdown, and the namespace, selector and resync options. The informers' timers run on a
//! manual driver over a fake clock (no backoff is needed here); waits are bounded.
#![cfg(feature = "kube")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fake_apiserver::{FakeApiServer, ServerHandle};
use informer::{FactoryError, HandlerOptions, SharedInformerFactory, handler_fn};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::ResourceExt;
use kube::core::ApiResource;
use kube::discovery::Scope;
use serde_json::json;
use timer_wheel::{Driver, FakeClock};

/// A bound on every wait (a passing test never waits this long).
const WAIT: Duration = Duration::from_secs(10);

fn driver() -> Driver {
    Driver::builder().clock(FakeClock::new()).manual().unwrap()
}

fn pod(server: &ServerHandle, ns: &str, name: &str, app: &str) {
    server
        .create(
            "",
            "v1",
            "pods",
            ns,
            json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": { "name": name, "labels": { "app": app } },
                "spec": { "containers": [{ "name": "c", "image": "nginx" }] }
            }),
        )
        .unwrap();
}

fn configmap(server: &ServerHandle, ns: &str, name: &str) {
    server
        .create(
            "",
            "v1",
            "configmaps",
            ns,
            json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": name } }),
        )
        .unwrap();
}

fn names<K: kube::Resource>(objs: &[Arc<informer::KubeObject<K>>]) -> Vec<String> {
    let mut names: Vec<String> = objs
        .iter()
        .map(|o| {
            let meta = o.meta();
            format!(
                "{}/{}",
                meta.namespace.clone().unwrap_or_default(),
                meta.name.clone().unwrap_or_default()
            )
        })
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_informer_per_type_started_synced_and_shut_down_together() {
    // spec: 5.13 (one informer per type; start launches the not-yet-started ones and is
    // idempotent; wait_for_cache_sync; shutdown waits; start after shutdown is a no-op)
    let server = FakeApiServer::builder().start().await.unwrap();
    pod(&server, "default", "web", "web");
    configmap(&server, "default", "settings");
    let factory = SharedInformerFactory::builder(server.client(), driver()).build();

    let pods = factory.informer::<Pod>();
    assert!(
        Arc::ptr_eq(&pods, &factory.informer::<Pod>()),
        "one per type"
    );
    let configmaps = factory.informer::<ConfigMap>();
    assert_eq!((pods.name(), configmaps.name()), ("pods", "configmaps"));
    assert!(factory.synced().is_empty(), "nothing started yet");

    factory.start().unwrap();
    factory.start().unwrap(); // idempotent: nothing runs twice
    factory.wait_for_cache_sync(WAIT).await.unwrap();
    assert_eq!(
        factory.synced(),
        BTreeMap::from([("configmaps".to_owned(), true), ("pods".to_owned(), true)])
    );
    assert_eq!(names(&pods.indexer().list()), ["default/web"]);
    assert_eq!(names(&configmaps.indexer().list()), ["default/settings"]);

    // A type asked for after start waits for the next start.
    let namespaces = factory.informer::<Namespace>();
    assert!(!namespaces.is_started());
    assert_eq!(factory.synced().len(), 2);
    factory.start().unwrap();
    factory.wait_for_cache_sync(WAIT).await.unwrap();
    assert!(namespaces.has_synced());
    assert!(
        names(&namespaces.indexer().list()).contains(&"/default".to_owned()),
        "{:?}",
        names(&namespaces.indexer().list())
    );

    // The shared informer sees later changes too.
    pod(&server, "default", "api", "api");
    let mut seen = false;
    for _ in 0..1_000 {
        if pods.lister().namespace("default").get("api").is_some() {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen, "the pod informer saw the new pod");

    tokio::time::timeout(WAIT, factory.shutdown())
        .await
        .expect("shutdown waits for the informers, bounded")
        .unwrap();
    assert!(factory.is_shut_down());
    assert!(pods.is_stopped() && configmaps.is_stopped() && namespaces.is_stopped());
    // After shutdown, start starts nothing.
    let late = factory.informer::<k8s_openapi::api::core::v1::Secret>();
    factory.start().unwrap();
    assert!(!late.is_started());
    factory.shutdown().await.unwrap(); // idempotent
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_selectors_and_resync_are_factory_options() {
    // spec: 5.13 (factory options: namespace, tweak list options, per-type resync)
    let server = FakeApiServer::builder().start().await.unwrap();
    for ns in ["a", "b"] {
        let obj = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns } });
        server.create("", "v1", "namespaces", "", obj).unwrap();
    }
    pod(&server, "a", "web-1", "web");
    pod(&server, "a", "db-1", "db");
    pod(&server, "b", "web-2", "web");
    configmap(&server, "a", "one");
    configmap(&server, "b", "two");
    let factory = SharedInformerFactory::builder(server.client(), driver())
        .namespace("a")
        .labels("app=web")
        .default_resync(Duration::from_secs(60))
        .resync_for::<Pod>(Duration::from_secs(30))
        .build();
    let pods = factory.informer::<Pod>();
    let nodes_and_namespaces = factory.informer::<Namespace>();
    let pod_handler = pods
        .add_event_handler_with_options(handler_fn(), HandlerOptions::default())
        .unwrap();
    factory.start().unwrap();
    factory.wait_for_cache_sync(WAIT).await.unwrap();

    assert_eq!(names(&pods.indexer().list()), ["a/web-1"]);
    assert_eq!(pod_handler.resync_period(), Duration::from_secs(30));
    // A cluster-scoped type ignores the namespace (its objects have none); the label
    // selector applies to every type: no namespace is labelled app=web.
    assert!(nodes_and_namespaces.indexer().list().is_empty());
    let configmaps = factory.informer::<ConfigMap>();
    let cm_handler = configmaps.add_event_handler(handler_fn()).unwrap();
    assert_eq!(cm_handler.resync_period(), Duration::from_secs(60));
    factory.start().unwrap();
    factory.wait_for_cache_sync(WAIT).await.unwrap();
    assert!(
        configmaps.indexer().list().is_empty(),
        "no configmap is labelled app=web"
    );
    factory.shutdown().await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_scoped_types_ignore_the_namespace() {
    // spec: 5.13 (WithNamespace applies to namespaced types)
    let server = FakeApiServer::builder().start().await.unwrap();
    let factory = SharedInformerFactory::builder(server.client(), driver())
        .namespace("kube-system")
        .build();
    let namespaces = factory.informer::<Namespace>();
    factory.start().unwrap();
    factory.wait_for_cache_sync(WAIT).await.unwrap();
    let all = names(&namespaces.indexer().list());
    assert!(
        all.contains(&"/default".to_owned()) && all.contains(&"/kube-system".to_owned()),
        "{all:?}"
    );
    assert!(
        namespaces
            .indexer()
            .list()
            .iter()
            .all(|n| n.namespace().is_none())
    );
    factory.shutdown().await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_and_metadata_informers_are_shared_per_resource() {
    // spec: 5.13 (one informer per resource; dynamicinformer.ForResource, metadatainformer)
    let server = FakeApiServer::builder().start().await.unwrap();
    for ns in ["a", "b"] {
        let obj = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns } });
        server.create("", "v1", "namespaces", "", obj).unwrap();
    }
    configmap(&server, "a", "one");
    configmap(&server, "b", "two");
    pod(&server, "a", "web-1", "web");
    pod(&server, "b", "web-2", "web");
    let configmaps = ApiResource::erase::<ConfigMap>(&());
    let namespaces = ApiResource::erase::<Namespace>(&());
    let factory = SharedInformerFactory::builder(server.client(), driver())
        .namespace("a")
        .default_resync(Duration::from_secs(60))
        .resync_for_resource(&configmaps, Duration::from_secs(20))
        .build();

    let dynamic = factory.dynamic_informer(&configmaps, Scope::Namespaced);
    assert!(
        Arc::ptr_eq(
            &dynamic,
            &factory.dynamic_informer(&configmaps, Scope::Namespaced)
        ),
        "one per resource"
    );
    assert_eq!(dynamic.name(), "configmaps/v1");
    let typed = factory.informer::<ConfigMap>();
    let metadata = factory.metadata_informer::<Pod>();
    assert_eq!(metadata.name(), "pods (metadata only)");
    assert!(Arc::ptr_eq(&metadata, &factory.metadata_informer::<Pod>()));
    let all_namespaces = factory.dynamic_informer(&namespaces, Scope::Cluster);
    let dynamic_handler = dynamic.add_event_handler(handler_fn()).unwrap();
    let namespace_handler = all_namespaces.add_event_handler(handler_fn()).unwrap();
    assert_eq!(dynamic_handler.resync_period(), Duration::from_secs(20));
    assert_eq!(namespace_handler.resync_period(), Duration::from_secs(60));

    factory.start().unwrap();
    factory.wait_for_cache_sync(WAIT).await.unwrap();
    // The typed and the dynamic informer of one resource are two informers, each synced.
    let synced: Vec<(String, bool)> = factory.synced().into_iter().collect();
    let expect = [
        "configmaps",
        "configmaps/v1",
        "namespaces/v1",
        "pods (metadata only)",
    ];
    assert_eq!(synced, expect.map(|name| (name.to_owned(), true)));
    assert_eq!(names(&dynamic.indexer().list()), ["a/one"]);
    assert_eq!(names(&typed.indexer().list()), ["a/one"]);
    let cached = dynamic.lister().namespace("a").get("one").unwrap();
    assert_eq!(
        cached.types.as_ref().map(|t| t.kind.as_str()),
        Some("ConfigMap")
    );
    // Metadata only: the pod's labels, no spec.
    assert_eq!(names(&metadata.indexer().list()), ["a/web-1"]);
    let meta = metadata.lister().namespace("a").get("web-1").unwrap();
    assert_eq!(meta.labels().get("app").map(String::as_str), Some("web"));
    // A cluster-scoped dynamic resource ignores the namespace.
    let seen = names(&all_namespaces.indexer().list());
    assert!(
        seen.contains(&"/a".to_owned()) && seen.contains(&"/b".to_owned()),
        "{seen:?}"
    );

    factory.shutdown().await.unwrap();
    assert!(dynamic.is_stopped() && metadata.is_stopped() && all_namespaces.is_stopped());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_idle_timeout_is_a_factory_option() {
    // spec: section 6 item 9 (a hung watch is abandoned on the client-side idle timeout)
    let server = FakeApiServer::builder().start().await.unwrap();
    configmap(&server, "default", "early");
    let clock = FakeClock::new();
    let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
    let factory = SharedInformerFactory::builder(server.client(), driver.clone())
        .watch_idle_timeout(Duration::from_secs(90))
        .build();
    let configmaps = factory.informer::<ConfigMap>();
    factory.start().unwrap();
    factory.wait_for_cache_sync(WAIT).await.unwrap();

    // The next watch hangs: only the idle timeout brings the informer back.
    server.faults().hang_next_watches(1);
    clock.advance(Duration::from_secs(2));
    server.faults().close_watches();
    configmap(&server, "default", "late");
    let seen = |cm: &Arc<informer::KubeInformer<ConfigMap>>| {
        cm.lister().namespace("default").get("late").is_some()
    };
    let mut waited = Duration::ZERO;
    'steps: while waited < Duration::from_secs(600) {
        for _ in 0..20 {
            if seen(&configmaps) {
                break 'steps;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        clock.advance(Duration::from_secs(10));
        driver.turn();
        waited += Duration::from_secs(10);
    }
    assert!(seen(&configmaps), "the informer never came back");
    // The default (the watch's timeoutSeconds, at least 300 s, plus 30 s) would not have
    // ended the hung watch this early: the factory's 90 s did.
    assert!(
        waited < Duration::from_secs(330),
        "took {waited:?} of fake time"
    );
    factory.shutdown().await.unwrap();
    server.shutdown().await;
}

#[test]
fn start_outside_a_runtime_is_a_typed_error() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (server, client) = runtime.block_on(async {
        let server = FakeApiServer::builder().start().await.unwrap();
        let client = server.client();
        (server, client)
    });
    let factory = SharedInformerFactory::builder(client, driver()).build();
    let pods = factory.informer::<Pod>();
    let err = factory.start().unwrap_err();
    assert!(matches!(err, FactoryError::NoRuntime(_)), "{err:?}");
    assert!(!pods.is_started(), "nothing was started");
    runtime.block_on(async {
        // Inside the runtime it starts.
        factory.start().unwrap();
        factory.wait_for_cache_sync(WAIT).await.unwrap();
        factory.shutdown().await.unwrap();
        server.shutdown().await;
    });
}
