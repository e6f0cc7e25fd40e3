//! End to end: the controller over a SharedIndexInformer on fake-apiserver through the real
//! `kube::Client`, while a writer creates, updates and deletes pods and the server drops
//! watches, compacts its history and fails a relist. In the end every pod on the server was last
//! reconciled at its current resourceVersion, every deleted pod was last reconciled as gone, the
//! injected failures were retried, and no key was ever reconciled by two workers at once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use controller::{Action, Controller};
use fake_apiserver::{FakeApiServer, FaultRule, Verb};
use informer::{KubeListerWatcher, KubeObject, SharedIndexInformer};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use timer_wheel::Driver;

/// Bound on convergence; a passing run takes a few seconds.
const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Seen {
    in_flight: BTreeSet<String>,
    overlaps: u64,
    /// Key → the resourceVersion the last successful reconcile saw (`None`: object gone).
    last: BTreeMap<String, Option<String>>,
    /// Failures still to inject per key.
    fail_budget: BTreeMap<String, u32>,
    injected: u64,
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { "app": "e2e" } },
        "spec": { "containers": [{ "name": "app", "image": "example/app:1" }] },
    }))
    .expect("a valid pod")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_converges_on_the_server_state_under_faults() {
    let server = FakeApiServer::builder().start().await.unwrap();
    let api: Api<Pod> = Api::namespaced(server.client(), "default");
    let driver = Driver::global().clone();
    let informer = Arc::new(
        SharedIndexInformer::builder(KubeListerWatcher::new(api.clone()), driver.clone())
            .name("e2e-pods")
            .build(),
    );
    let seen = Arc::new(Mutex::new(Seen::default()));
    let cache = Arc::clone(informer.indexer());
    let model = Arc::clone(&seen);
    let controller = Controller::builder("e2e")
        .threadiness(3)
        .driver(driver)
        .reconcile(move |key: &str| {
            {
                let mut seen = model.lock().unwrap();
                if !seen.in_flight.insert(key.to_owned()) {
                    seen.overlaps += 1;
                }
            }
            let rv = cache
                .get_by_key(key)
                .and_then(|p| p.0.metadata.resource_version.clone());
            std::thread::yield_now(); // widen the window for an overlap, if there were one
            let mut seen = model.lock().unwrap();
            seen.in_flight.remove(key);
            let budget = seen
                .fail_budget
                .entry(key.to_owned())
                .or_insert(if key.ends_with('7') { 2 } else { 0 });
            if *budget > 0 {
                *budget -= 1;
                seen.injected += 1;
                return Err("injected failure");
            }
            seen.last.insert(key.to_owned(), rv);
            Ok(Action::Done)
        })
        .build()
        .unwrap();
    informer
        .add_event_handler(controller.handler::<KubeObject<Pod>>())
        .unwrap();
    let workers = {
        let controller = controller.clone();
        std::thread::spawn(move || controller.run())
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = {
        let informer = Arc::clone(&informer);
        tokio::spawn(async move {
            informer
                .run(async {
                    let _ = stop_rx.await;
                })
                .await
        })
    };

    // The writer, with faults in between.
    for i in 0..40 {
        api.create(&PostParams::default(), &pod(&format!("p-{i}")))
            .await
            .unwrap();
    }
    server.faults().close_watches(); // re-watch without relist
    for round in 0..2 {
        for i in (0..40).step_by(2) {
            let patch = json!({ "metadata": { "labels": { "round": round.to_string() } } });
            api.patch(
                &format!("p-{i}"),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .unwrap();
        }
    }
    // A 410 on the next watch and a failing relist: backoff, then a relist that converges.
    server.faults().fail(
        FaultRule::status(500)
            .verb(Verb::List)
            .resource("pods")
            .times(1),
    );
    server.faults().compact();
    server.faults().close_watches();
    for i in (0..40).step_by(5) {
        api.delete(&format!("p-{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    for i in 40..45 {
        api.create(&PostParams::default(), &pod(&format!("p-{i}")))
            .await
            .unwrap();
    }

    // Converge: the last reconcile of every key saw the server's state.
    let all: BTreeSet<String> = (0..45).map(|i| format!("default/p-{i}")).collect();
    let started = tokio::time::Instant::now();
    let mismatch = loop {
        // This check's own list may be the one the injected 500 hits: then look again.
        let Ok(listed) = api.list(&ListParams::default()).await else {
            assert!(
                started.elapsed() < DEADLINE,
                "the server kept failing lists"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let on_server: BTreeMap<String, Option<String>> = listed
            .items
            .into_iter()
            .map(|p| {
                (
                    format!("default/{}", p.metadata.name.unwrap()),
                    p.metadata.resource_version,
                )
            })
            .collect();
        let mismatch: Vec<String> = {
            let seen = seen.lock().unwrap();
            all.iter()
                .filter(|key| {
                    let want = on_server.get(*key).cloned().flatten();
                    seen.last.get(*key) != Some(&want)
                })
                .cloned()
                .collect()
        };
        if mismatch.is_empty() || started.elapsed() > DEADLINE {
            break mismatch;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(mismatch.is_empty(), "not converged: {mismatch:?}");

    let _ = stop_tx.send(());
    running.await.unwrap().unwrap();
    let shutdown = {
        let controller = controller.clone();
        tokio::task::spawn_blocking(move || controller.shutdown())
    };
    shutdown.await.unwrap();
    workers.join().unwrap().unwrap();

    let (overlaps, injected) = {
        let seen = seen.lock().unwrap();
        (seen.overlaps, seen.injected)
    };
    assert_eq!(overlaps, 0, "a key was reconciled by two workers at once");
    // p-7, p-17, p-27, p-37: two injected failures each, all retried to success.
    assert_eq!(injected, 8);
    let metrics = controller.metrics();
    assert_eq!(metrics.gave_up, 0);
    assert!(metrics.errors >= 8);
    server.shutdown().await;
}
