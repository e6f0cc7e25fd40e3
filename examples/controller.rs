//! The classic pod controller: an informer over pods feeds a rate-limited work queue, worker
//! threads sync each key from the informer's cache, and a failing sync is retried with backoff,
//! then dropped after 5 retries.
//!
//! ```text
//! cargo run --example controller -- [--threadiness N] [--namespace NS] [--embedded] [--duration SECS]
//! ```
//!
//! With a kubeconfig (`KUBECONFIG`, `~/.kube/config`, or in-cluster) it watches that cluster until
//! Ctrl-C. Without one, or with `--embedded`, it starts an in-process fake-apiserver on 127.0.0.1
//! and a small workload that creates, updates and deletes pods (some of which fail to sync), and
//! stops after `--duration` seconds (default 8).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use controller::{Action, Controller};
use fake_apiserver::FakeApiServer;
use informer::{Indexer, KubeListerWatcher, KubeObject, SharedIndexInformer, wait_for_cache_sync};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use timer_wheel::Driver;

/// Pods with this label fail to sync, to show retries and giving up.
const FAIL_LABEL: &str = "flywheel.example/fail-sync";

struct Options {
    threadiness: usize,
    namespace: Option<String>,
    embedded: bool,
    duration: Option<Duration>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        threadiness: 2,
        namespace: None,
        embedded: false,
        duration: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--threadiness" => {
                let v = value()?;
                options.threadiness = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(format!("--threadiness takes a positive number, not `{v}`"))?;
            }
            "--namespace" => options.namespace = Some(value()?),
            "--embedded" => options.embedded = true,
            "--duration" => {
                let v = value()?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or(format!(
                        "--duration takes a positive number of seconds, not `{v}`"
                    ))?;
                options.duration = Some(Duration::from_secs_f64(secs));
            }
            "-h" | "--help" => {
                return Err("usage: controller [--threadiness N] [--namespace NS] [--embedded] [--duration SECS]".into());
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    Ok(options)
}

/// The reconcile: what client-go's example controller prints for each key.
#[allow(clippy::print_stdout, reason = "the example prints what it reconciles")]
fn sync_pod(cache: &Indexer<KubeObject<Pod>>, key: &str) -> Result<Action, String> {
    match cache.get_by_key(key) {
        None => println!("Pod {key} does not exist anymore"),
        Some(pod) => {
            let name = pod.0.metadata.name.as_deref().unwrap_or(key);
            let labels = pod.0.metadata.labels.as_ref();
            if labels.is_some_and(|l| l.contains_key(FAIL_LABEL)) {
                println!("Sync/Add/Update for Pod {name} failed: it is labelled {FAIL_LABEL}");
                return Err(format!("pod {name} is labelled {FAIL_LABEL}"));
            }
            println!("Sync/Add/Update for Pod {name}");
        }
    }
    Ok(Action::Done)
}

/// The embedded workload: creates, updates and deletes pods, some of which fail to sync.
async fn workload(api: Api<Pod>, stop: Arc<tokio::sync::Notify>) {
    let mut rng = fastrand::Rng::with_seed(42);
    let mut live: Vec<String> = Vec::new();
    let mut next = 0;
    loop {
        let step = rng.u8(0..10);
        let result = if live.len() < 3 || step < 4 {
            next += 1;
            let name = format!("web-{next}");
            let mut labels = json!({ "app": "web" });
            if next % 4 == 0 {
                labels[FAIL_LABEL] = json!("true");
            }
            let pod: Pod = serde_json::from_value(json!({
                "metadata": { "name": name, "labels": labels },
                "spec": { "containers": [{ "name": "app", "image": "example/web:1" }] },
            }))
            .expect("a valid pod");
            live.push(name);
            api.create(&PostParams::default(), &pod).await.map(drop)
        } else if step < 7 {
            let name = &live[rng.usize(0..live.len())];
            let patch = json!({ "metadata": { "labels": { "revision": next.to_string() } } });
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(drop)
        } else {
            let name = live.swap_remove(rng.usize(0..live.len()));
            api.delete(&name, &DeleteParams::default()).await.map(drop)
        };
        if let Err(error) = result {
            eprintln!("workload: {error}");
        }
        tokio::select! {
            () = stop.notified() => return,
            () = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
    }
}

#[allow(clippy::print_stdout, reason = "the example says what it does")]
async fn run(options: Options) -> Result<(), String> {
    // Mode: a real cluster if a kubeconfig is found (and --embedded is not given), else embedded.
    let mut embedded = None;
    let client = if options.embedded {
        None
    } else {
        match kube::Config::infer().await {
            Ok(config) => {
                let server = config.cluster_url.to_string();
                let client = kube::Client::try_from(config)
                    .map_err(|e| format!("cannot build a client for {server}: {e}"))?;
                if let Err(e) = client.apiserver_version().await {
                    return Err(format!(
                        "cannot reach the cluster at {server} from your kubeconfig: {e}\n\
                         run with --embedded to use the built-in fake API server instead"
                    ));
                }
                println!(
                    "mode: cluster at {server} (use --embedded for the built-in fake API server)"
                );
                Some(client)
            }
            Err(_) => None,
        }
    };
    let client = match client {
        Some(client) => client,
        None => {
            let server = FakeApiServer::builder()
                .start()
                .await
                .map_err(|e| format!("cannot start the embedded API server: {e}"))?;
            println!(
                "mode: embedded fake-apiserver at {} (no kubeconfig{}), with a pod workload",
                server.url(),
                if options.embedded {
                    "; --embedded"
                } else {
                    " found"
                }
            );
            let client = server.client();
            embedded = Some(server);
            client
        }
    };
    let namespace = options
        .namespace
        .clone()
        .or(embedded.as_ref().map(|_| "default".to_owned()));
    let api: Api<Pod> = match &namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };

    let driver = Driver::global().clone();
    let informer = Arc::new(
        SharedIndexInformer::builder(KubeListerWatcher::new(api.clone()), driver.clone())
            .name("pods")
            .build(),
    );
    let cache = Arc::clone(informer.indexer());
    let synced = Arc::clone(&informer);
    let controller = Controller::builder("pod-controller")
        .threadiness(options.threadiness)
        .max_retries(5)
        .driver(driver)
        .wait_for(move || wait_for_cache_sync(Duration::from_secs(30), &[synced.as_ref()]).is_ok())
        .reconcile(move |key: &str| sync_pod(&cache, key))
        .on_give_up(|key, error| println!("Dropping pod {key} out of the queue: {error}"))
        .build()
        .map_err(|e| e.to_string())?;
    informer
        .add_event_handler(controller.handler::<KubeObject<Pod>>())
        .map_err(|e| e.to_string())?;

    println!(
        "Starting Pod controller with {} workers",
        options.threadiness
    );
    let workers = {
        let controller = controller.clone();
        std::thread::spawn(move || controller.run())
    };
    let stop = Arc::new(tokio::sync::Notify::new());
    let generator = embedded
        .as_ref()
        .map(|_| tokio::spawn(workload(api, Arc::clone(&stop))));
    let duration = options
        .duration
        .or(embedded.as_ref().map(|_| Duration::from_secs(8)));

    let stopping = {
        let stop = Arc::clone(&stop);
        async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => println!("interrupted"),
                () = async {
                    match duration {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending().await,
                    }
                } => println!("duration reached"),
            }
            stop.notify_waiters();
        }
    };
    let informer_stop = {
        let stop = Arc::clone(&stop);
        async move { stop.notified().await }
    };
    let (informer_result, ()) = tokio::join!(informer.run(informer_stop), stopping);
    informer_result.map_err(|e| format!("informer: {e}"))?;
    if let Some(generator) = generator {
        let _ = generator.await;
    }
    println!("Stopping Pod controller: draining the queue");
    let shutdown = {
        let controller = controller.clone();
        tokio::task::spawn_blocking(move || controller.shutdown())
    };
    let _ = shutdown.await;
    workers
        .join()
        .map_err(|_| "a worker thread panicked".to_owned())?
        .map_err(|e| e.to_string())?;
    let m = controller.metrics();
    println!(
        "done: {} reconciles, {} errors, {} keys dropped after 5 retries",
        m.reconciles, m.errors, m.gave_up
    );
    if let Some(server) = embedded {
        server.shutdown().await;
    }
    Ok(())
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("controller: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("controller: {message}");
            ExitCode::FAILURE
        }
    }
}
