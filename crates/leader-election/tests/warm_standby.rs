//! Warm standby with the controller crate: both replicas run their informer and controller all
//! along; reconcile acts only while its replica leads, and a replica that starts leading
//! re-enqueues every key of its (already full) cache. The follower's lists are made to fail
//! before it takes over, so its first reconciles as leader can only come from its warm cache.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};

use common::*;
use controller::{Action, Controller};
use fake_apiserver::{FaultRule, ServerHandle, Verb};
use informer::{KubeListerWatcher, KubeObject, SharedIndexInformer, wait_for_cache_sync_async};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;
use leader_election::{DEFAULT_LEASE_DURATION, LeaderElector};
use timer_wheel::{Driver, FakeClock};

const PODS: usize = 20;

type PodInformer = SharedIndexInformer<KubeObject<Pod>, KubeListerWatcher<Pod>>;

struct Replica {
    elector: LeaderElector,
    controller: Controller,
    informer: Arc<PodInformer>,
    reconciled: Arc<Mutex<BTreeSet<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    workers: Option<std::thread::JoinHandle<Result<(), controller::Error>>>,
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": { "name": name },
        "spec": { "containers": [{ "name": "app", "image": "example/app:1" }] },
    }))
    .unwrap()
}

fn replica(server: &ServerHandle, id: &str, election: &Driver) -> Replica {
    let api: Api<Pod> = Api::namespaced(server.named_client(id).unwrap(), NS);
    let informer: Arc<PodInformer> = Arc::new(
        SharedIndexInformer::builder(KubeListerWatcher::new(api), Driver::global().clone())
            .name(format!("pods-{id}"))
            .build(),
    );
    let leader: Arc<OnceLock<LeaderElector>> = Arc::new(OnceLock::new());
    let reconciled = Arc::new(Mutex::new(BTreeSet::new()));
    let gate = Arc::clone(&leader);
    let seen = Arc::clone(&reconciled);
    let controller = Controller::builder(format!("pods-{id}"))
        .threadiness(2)
        .reconcile(move |key: &str| {
            // The gate: a follower keeps its queue moving but does nothing.
            if gate.get().is_some_and(LeaderElector::is_leader) {
                seen.lock().unwrap().insert(key.to_owned());
            }
            Ok::<_, controller::BoxError>(Action::Done)
        })
        .build()
        .unwrap();
    informer
        .add_event_handler(controller.handler::<KubeObject<Pod>>())
        .unwrap();
    // On a new term, every key of the warm cache is queued again: no relist needed.
    let cache = Arc::clone(informer.indexer());
    let queue = controller.clone();
    let elector = builder(server, "pods-controller", id, election)
        .on_started_leading(move |_token| {
            for key in cache.list_keys() {
                queue.queue().add(key.to_string());
            }
        })
        .build()
        .unwrap();
    leader.set(elector.clone()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = Arc::clone(&informer);
    tokio::spawn(async move {
        running
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    let workers = {
        let controller = controller.clone();
        std::thread::spawn(move || controller.run())
    };
    Replica {
        elector,
        controller,
        informer,
        reconciled,
        stop: Some(stop),
        workers: Some(workers),
    }
}

impl Replica {
    fn reconciled(&self) -> BTreeSet<String> {
        self.reconciled.lock().unwrap().clone()
    }

    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let controller = self.controller.clone();
        tokio::task::spawn_blocking(move || controller.shutdown())
            .await
            .unwrap();
        if let Some(workers) = self.workers.take() {
            workers.join().unwrap().unwrap();
        }
    }
}

/// Waits (for events, with a hang guard) until `f` holds.
async fn until(mut f: impl FnMut() -> bool) {
    tokio::time::timeout(LIMIT, async {
        while !f() {
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("condition never held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_reconciles_from_its_warm_cache_without_listing() {
    let server = server().await;
    let pods: Api<Pod> = Api::namespaced(server.client(), NS);
    for i in 0..PODS {
        pods.create(&PostParams::default(), &pod(&format!("p-{i}")))
            .await
            .unwrap();
    }
    let all: BTreeSet<String> = (0..PODS).map(|i| format!("{NS}/p-{i}")).collect();
    let clock = FakeClock::new();
    let election = Driver::builder().clock(clock.clone()).spawn().unwrap();
    let mut a = replica(&server, "a", &election);
    let mut b = replica(&server, "b", &election);
    wait_for_cache_sync_async(LIMIT, &[&*a.informer, &*b.informer])
        .await
        .unwrap();
    // Both controllers saw every pod, and neither acted: nobody leads yet.
    until(|| a.controller.metrics().reconciles >= PODS as u64).await;
    until(|| b.controller.metrics().reconciles >= PODS as u64).await;
    assert!(a.reconciled().is_empty() && b.reconciled().is_empty());

    assert!(a.elector.try_acquire_or_renew().await.unwrap());
    until(|| a.reconciled() == all).await;
    assert!(!b.elector.try_acquire_or_renew().await.unwrap());

    // b can no longer list pods; its informer's watch goes on.
    server.faults().fail(
        FaultRule::status(500)
            .client("b")
            .verb(Verb::List)
            .resource("pods")
            .always(),
    );
    // a crashes: no release.
    a.stop().await;
    clock.advance(DEFAULT_LEASE_DURATION);
    assert!(b.elector.try_acquire_or_renew().await.unwrap());
    until(|| b.reconciled() == all).await;
    assert!(b.informer.has_synced());

    // The watch still feeds the new leader.
    pods.create(&PostParams::default(), &pod("late"))
        .await
        .unwrap();
    until(|| b.reconciled().contains("default/late")).await;
    b.stop().await;
    server.shutdown().await;
}
