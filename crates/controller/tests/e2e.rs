//! End to end: the controller over a SharedIndexInformer on fake-apiserver through the real
//! `kube::Client`, while a writer creates, updates and deletes pods and the server drops
//! watches, compacts its history and fails a relist. In the end every pod on the server was last
//! reconciled at its current resourceVersion, every deleted pod was last reconciled as gone, the
//! injected failures were retried, and no key was ever reconciled by two workers at once. The
//! same run on both faces: worker threads with a blocking reconcile, and (feature `async`) worker
//! tasks with an async one, stopped by a `ShutdownToken`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use controller::{Action, Controller, ShutdownToken};
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

impl Seen {
    /// A reconcile of `key` begins: count an overlap if another worker holds the key.
    fn enter(&mut self, key: &str) {
        if !self.in_flight.insert(key.to_owned()) {
            self.overlaps += 1;
        }
    }

    /// The reconcile of `key`, which read `rv` from the cache, ends: fail it while its budget
    /// lasts (keys ending in 7 fail twice), else record what it saw.
    fn leave(&mut self, key: &str, rv: Option<String>) -> Result<Action, &'static str> {
        self.in_flight.remove(key);
        let budget = self
            .fail_budget
            .entry(key.to_owned())
            .or_insert(if key.ends_with('7') { 2 } else { 0 });
        if *budget > 0 {
            *budget -= 1;
            self.injected += 1;
            return Err("injected failure");
        }
        self.last.insert(key.to_owned(), rv);
        Ok(Action::Done)
    }
}

/// Which workers run the reconcile.
#[derive(Clone, Copy, Debug)]
enum Face {
    /// `reconcile` + `run_until` on threads, stopped with `shutdown`.
    Threads,
    /// `reconcile_async` + `run_until_async` on tokio tasks, stopped with a token.
    #[cfg(feature = "async")]
    Tasks,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_converges_on_the_server_state_under_faults() {
    converges_under_faults(Face::Threads).await;
}

#[cfg(feature = "async")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_controller_converges_on_the_server_state_under_faults() {
    converges_under_faults(Face::Tasks).await;
}

async fn converges_under_faults(face: Face) {
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
    let builder = Controller::builder("e2e").threadiness(3).driver(driver);
    let controller = match face {
        Face::Threads => builder.reconcile(move |key: &str| {
            model.lock().unwrap().enter(key);
            let rv = cache
                .get_by_key(key)
                .and_then(|p| p.0.metadata.resource_version.clone());
            std::thread::yield_now(); // widen the window for an overlap, if there were one
            model.lock().unwrap().leave(key, rv)
        }),
        #[cfg(feature = "async")]
        Face::Tasks => builder.reconcile_async(move |key: String| {
            let (model, cache) = (Arc::clone(&model), Arc::clone(&cache));
            async move {
                model.lock().unwrap().enter(&key);
                let rv = cache
                    .get_by_key(&key)
                    .and_then(|p| p.0.metadata.resource_version.clone());
                tokio::task::yield_now().await; // widen the window for an overlap
                model.lock().unwrap().leave(&key, rv)
            }
        }),
    }
    .build()
    .unwrap();
    informer
        .add_event_handler(controller.handler::<KubeObject<Pod>>())
        .unwrap();
    let token = ShutdownToken::new();
    let workers: tokio::task::JoinHandle<Result<(), controller::Error>> = match face {
        Face::Threads => {
            // Stopped by `shutdown` below: run_until returns on that too.
            let (controller, token) = (controller.clone(), token.clone());
            tokio::task::spawn_blocking(move || controller.run_until(&token))
        }
        #[cfg(feature = "async")]
        Face::Tasks => {
            let (controller, token) = (controller.clone(), token.clone());
            tokio::spawn(async move { controller.run_until_async(token.cancelled()).await })
        }
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
    match face {
        Face::Threads => {
            let controller = controller.clone();
            tokio::task::spawn_blocking(move || controller.shutdown())
                .await
                .unwrap();
        }
        #[cfg(feature = "async")]
        Face::Tasks => token.cancel(),
    }
    workers.await.unwrap().unwrap();

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
