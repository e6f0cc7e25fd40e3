//! The classic pod controller: an informer over pods feeds a rate-limited work queue, worker
//! threads sync each key from the informer's cache, and a failing sync is retried with backoff,
//! then dropped after 5 retries.
//!
//! ```text
//! cargo run --example controller -- [--threadiness N] [--namespace NS] [--embedded] [--duration SECS]
//!                                     [--replicas N]
//! ```
//!
//! With a kubeconfig (`KUBECONFIG`, `~/.kube/config`, or in-cluster) it watches that cluster until
//! Ctrl-C. Without one, or with `--embedded`, it starts an in-process fake-apiserver on 127.0.0.1
//! and a small workload that creates, updates and deletes pods (some of which fail to sync), and
//! stops after `--duration` seconds (default 8).
//!
//! `--replicas N` (N > 1) runs N replicas of the controller in this process, as N pods of a
//! deployment would: each has its own client, informer and queue (a warm standby), and they elect
//! a leader over the Lease `pod-controller` (short timings for the demo: lease 4 s, renew
//! deadline 3 s, retry 1 s). Only the leader's reconcile acts; a replica that starts leading
//! re-queues every pod of its cache. Halfway through `--duration` the leader shuts down
//! gracefully, releasing the lease, and a standby takes over.
//!
//! `--threadiness` takes 1 to 256 workers per replica, `--duration` a positive number of seconds
//! that fits a `Duration`. A bad or non-UTF-8 argument is a usage error (exit status 2);
//! `--help` prints the usage on stdout.

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use controller::{Action, Controller, ControllerMetrics};
use fake_apiserver::FakeApiServer;
use informer::{Indexer, KubeListerWatcher, KubeObject, SharedIndexInformer, wait_for_cache_sync};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use leader_election::{CancellationToken, LeaderElector, Timings};
use serde_json::json;
use timer_wheel::Driver;

/// The Lease the replicas elect their leader over.
const LEASE: &str = "pod-controller";

/// Pods with this label fail to sync, to show retries and giving up.
const FAIL_LABEL: &str = "flywheel.example/fail-sync";

/// The command line.
const USAGE: &str = "usage: controller [--threadiness N] [--namespace NS] [--embedded] [--duration SECS] [--replicas N]";

/// The most worker threads a replica may ask for: far more than a pod controller needs, and with
/// 16 replicas still only a few thousand threads. A larger number is a typo (`usize::MAX` would
/// make the controller's worker set fail to allocate), so it is refused before anything starts.
const MAX_THREADINESS: usize = 256;

struct Options {
    threadiness: usize,
    namespace: Option<String>,
    embedded: bool,
    duration: Option<Duration>,
    replicas: usize,
}

/// What the command line asks for.
enum Command {
    Run(Options),
    Help,
}

/// Parses the arguments (without the program name). Every mistake, a non-UTF-8 argument
/// included, is a message for the user.
fn parse_options(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut options = Options {
        threadiness: 2,
        namespace: None,
        embedded: false,
        duration: None,
        replicas: 1,
    };
    let mut args = args.into_iter().map(|arg| {
        arg.into_string()
            .map_err(|arg| format!("argument `{}` is not valid UTF-8", arg.to_string_lossy()))
    });
    while let Some(arg) = args.next() {
        let arg = arg?;
        let mut value = || {
            args.next()
                .unwrap_or_else(|| Err(format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--threadiness" => {
                let v = value()?;
                options.threadiness = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_THREADINESS).contains(n))
                    .ok_or(format!(
                        "--threadiness takes a number from 1 to {MAX_THREADINESS}, not `{v}`"
                    ))?;
            }
            "--namespace" => options.namespace = Some(value()?),
            "--replicas" => {
                let v = value()?;
                options.replicas = v
                    .parse()
                    .ok()
                    .filter(|&n| (1..=16).contains(&n))
                    .ok_or(format!("--replicas takes a number from 1 to 16, not `{v}`"))?;
            }
            "--embedded" => options.embedded = true,
            "--duration" => {
                let v = value()?;
                // `try_from_secs_f64` refuses what does not fit a `Duration` (1e300) as well as
                // negative numbers, NaN and infinity.
                options.duration = Some(
                    v.parse()
                        .ok()
                        .filter(|&secs: &f64| secs > 0.0)
                        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                        .ok_or(format!(
                            "--duration takes a positive, finite number of seconds, not `{v}`"
                        ))?,
                );
            }
            "-h" | "--help" => return Ok(Command::Help),
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    Ok(Command::Run(options))
}

/// The reconcile: what client-go's example controller prints for each key.
#[allow(clippy::print_stdout, reason = "the example prints what it reconciles")]
fn sync_pod(cache: &Indexer<KubeObject<Pod>>, key: &str, who: &str) -> Result<Action, String> {
    match cache.get_by_key(key) {
        None => println!("{who}Pod {key} does not exist anymore"),
        Some(pod) => {
            let name = pod.0.metadata.name.as_deref().unwrap_or(key);
            let labels = pod.0.metadata.labels.as_ref();
            if labels.is_some_and(|l| l.contains_key(FAIL_LABEL)) {
                println!("{who}Sync/Add/Update for Pod {name} failed: it is labelled {FAIL_LABEL}");
                return Err(format!("pod {name} is labelled {FAIL_LABEL}"));
            }
            println!("{who}Sync/Add/Update for Pod {name}");
        }
    }
    Ok(Action::Done)
}

/// The embedded workload: creates, updates and deletes pods, some of which fail to sync, until
/// `stop` is cancelled.
///
/// A cancellation stays set, so a stop that comes while a request is in flight ends the loop at
/// its next wait (a `Notify::notify_waiters` would be lost then, and the loop would never end).
async fn workload(api: Api<Pod>, stop: CancellationToken) {
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
            () = stop.cancelled() => return,
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
    let replicas = options.replicas;
    let ids: Vec<Option<String>> = if replicas == 1 {
        vec![None]
    } else {
        (1..=replicas)
            .map(|i| Some(format!("replica-{i}")))
            .collect()
    };
    let lease_namespace = namespace.clone().unwrap_or_else(|| "default".to_owned());
    if replicas == 1 {
        println!(
            "Starting Pod controller with {} workers",
            options.threadiness
        );
    } else {
        println!(
            "Starting {replicas} replicas of the Pod controller with {} workers each; they elect a leader over Lease {lease_namespace}/{LEASE}",
            options.threadiness
        );
    }

    let mut running = Vec::new();
    for id in ids {
        // Embedded: each replica gets a client of its own, as separate pods would.
        let client = match (&embedded, &id) {
            (Some(server), Some(id)) => server.named_client(id).map_err(|e| e.to_string())?,
            _ => client.clone(),
        };
        let api: Api<Pod> = match &namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        running.push(Replica::start(
            id,
            api,
            client,
            &lease_namespace,
            options.threadiness,
        )?);
    }
    let stop = CancellationToken::new();
    let generator = embedded.as_ref().map(|server| {
        let api: Api<Pod> = Api::namespaced(server.client(), "default");
        tokio::spawn(workload(api, stop.clone()))
    });
    let duration = options.duration.or(embedded
        .as_ref()
        .map(|_| Duration::from_secs(if replicas > 1 { 12 } else { 8 })));
    let interrupted = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => println!("interrupted"),
            () = async {
                match duration {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            } => println!("duration reached"),
        }
    };
    tokio::pin!(interrupted);
    let mut totals = ControllerMetrics::default();
    if replicas > 1 {
        // Halfway, the leader shuts down gracefully and a warm standby takes over.
        let halfway = duration.map_or(Duration::from_secs(3600), |d| d / 2);
        let takeover = tokio::select! {
            () = &mut interrupted => false,
            () = tokio::time::sleep(halfway) => true,
        };
        if takeover && let Some(i) = running.iter().position(Replica::is_leader) {
            let leader = running.swap_remove(i);
            println!(
                "{} is the leader and shuts down: it releases the lease, a standby takes over",
                leader.name()
            );
            add(&mut totals, leader.stop().await?);
        }
        if takeover {
            interrupted.await;
        }
    } else {
        interrupted.await;
    }
    stop.cancel();
    if let Some(generator) = generator {
        let _ = generator.await;
    }
    println!("Stopping Pod controller: draining the queue");
    for replica in running {
        add(&mut totals, replica.stop().await?);
    }
    println!(
        "done: {} reconciles, {} errors, {} keys dropped after 5 retries",
        totals.reconciles, totals.errors, totals.gave_up
    );
    if let Some(server) = embedded {
        server.shutdown().await;
    }
    Ok(())
}

fn add(totals: &mut ControllerMetrics, m: ControllerMetrics) {
    totals.reconciles += m.reconciles;
    totals.errors += m.errors;
    totals.gave_up += m.gave_up;
}

type PodInformer = SharedIndexInformer<KubeObject<Pod>, KubeListerWatcher<Pod>>;

/// One replica: an informer, a controller and, with `--replicas`, a leader elector.
struct Replica {
    id: Option<String>,
    informer: Arc<PodInformer>,
    controller: Controller,
    workers: std::thread::JoinHandle<Result<(), controller::Error>>,
    informer_stop: CancellationToken,
    informer_task: tokio::task::JoinHandle<Result<(), informer::InformerError>>,
    election: Option<(
        LeaderElector,
        CancellationToken,
        tokio::task::JoinHandle<leader_election::Result<()>>,
    )>,
}

impl Replica {
    #[allow(clippy::print_stdout, reason = "the example says what it does")]
    fn start(
        id: Option<String>,
        api: Api<Pod>,
        client: kube::Client,
        lease_namespace: &str,
        threadiness: usize,
    ) -> Result<Replica, String> {
        let driver = Driver::global().clone();
        let informer = Arc::new(
            SharedIndexInformer::builder(KubeListerWatcher::new(api), driver.clone())
                .name("pods")
                .build(),
        );
        let who = id.as_ref().map(|i| format!("[{i}] ")).unwrap_or_default();
        let leader: Arc<OnceLock<LeaderElector>> = Arc::new(OnceLock::new());
        let gate = Arc::clone(&leader);
        let cache = Arc::clone(informer.indexer());
        let synced = Arc::clone(&informer);
        let give_up_who = who.clone();
        let controller = Controller::builder(match &id {
            Some(id) => format!("pod-controller-{id}"),
            None => "pod-controller".to_owned(),
        })
        .threadiness(threadiness)
        .max_retries(5)
        .driver(driver)
        .wait_for(move || wait_for_cache_sync(Duration::from_secs(30), &[synced.as_ref()]).is_ok())
        .reconcile(move |key: &str| {
            // A standby keeps its cache and queue warm but acts only while it leads.
            match gate.get() {
                Some(elector) if !elector.is_leader() => Ok(Action::Done),
                _ => sync_pod(&cache, key, &who),
            }
        })
        .on_give_up(move |key, error| {
            println!("{give_up_who}Dropping pod {key} out of the queue: {error}")
        })
        .build()
        .map_err(|e| e.to_string())?;
        informer
            .add_event_handler(controller.handler::<KubeObject<Pod>>())
            .map_err(|e| e.to_string())?;

        let election = match &id {
            None => None,
            Some(id) => {
                let cache = Arc::clone(informer.indexer());
                let queue = controller.clone();
                let me = id.clone();
                let (me_new, me_stopped) = (id.clone(), id.clone());
                let elector = LeaderElector::builder(client, lease_namespace, LEASE)
                    .identity(id.as_str())
                    .timings(Timings {
                        lease_duration: Duration::from_secs(4),
                        renew_deadline: Duration::from_secs(3),
                        retry_period: Duration::from_secs(1),
                    })
                    .on_started_leading(move |_term| {
                        let keys = cache.list_keys();
                        println!(
                            "{me} started leading: re-queueing the {} pods of its warm cache",
                            keys.len()
                        );
                        for key in keys {
                            queue.queue().add(key.to_string());
                        }
                    })
                    .on_stopped_leading(move || println!("{me_stopped} stopped leading"))
                    .on_new_leader(move |leader| {
                        if leader != me_new {
                            println!("{me_new} follows {leader}");
                        }
                    })
                    .build()
                    .map_err(|e| e.to_string())?;
                let _ = leader.set(elector.clone());
                let token = CancellationToken::new();
                let task = {
                    let elector = elector.clone();
                    let token = token.clone();
                    tokio::spawn(async move { elector.run(token).await })
                };
                Some((elector, token, task))
            }
        };

        let workers = {
            let controller = controller.clone();
            std::thread::spawn(move || controller.run())
        };
        let informer_stop = CancellationToken::new();
        let informer_task = {
            let informer = Arc::clone(&informer);
            let stop = informer_stop.clone();
            tokio::spawn(async move { informer.run(stop.cancelled_owned()).await })
        };
        Ok(Replica {
            id,
            informer,
            controller,
            workers,
            informer_stop,
            informer_task,
            election,
        })
    }

    fn name(&self) -> &str {
        self.id.as_deref().unwrap_or("pod-controller")
    }

    fn is_leader(&self) -> bool {
        self.election
            .as_ref()
            .is_some_and(|(elector, _, _)| elector.is_leader())
    }

    /// Graceful stop: end the term and release the lease, stop the informer, drain the queue.
    ///
    /// A stop that comes before the informer's first list (a very short `--duration`) ends the
    /// wait for the cache, so no worker starts: that is a stop, not a failure. Workers that had
    /// already given up before the stop are a failure.
    #[allow(clippy::print_stdout, reason = "the example says what it does")]
    async fn stop(self) -> Result<ControllerMetrics, String> {
        let name = self.name().to_owned();
        let failed_before_stop = self.workers.is_finished();
        if let Some((_, token, task)) = self.election {
            token.cancel();
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("{name}: leader election: {e}"),
                Err(e) => eprintln!("leader election task: {e}"),
            }
        }
        self.informer_stop.cancel();
        match self.informer_task.await {
            Ok(result) => result.map_err(|e| format!("informer: {e}"))?,
            Err(e) => return Err(format!("informer task: {e}")),
        }
        // The drain waits for the workers to finish every key. If they have already left (a
        // cache that never synced, a thread that could not start), nobody would finish them:
        // once the workers are joined, `shut_down` releases the drain instead.
        let controller = self.controller.clone();
        let drain = tokio::task::spawn_blocking(move || controller.shutdown());
        let workers = self.workers;
        let joined = tokio::task::spawn_blocking(move || workers.join()).await;
        self.controller.queue().shut_down();
        let _ = drain.await;
        match joined
            .map_err(|e| format!("worker join task: {e}"))?
            .map_err(|_| "a worker thread panicked".to_owned())?
        {
            Ok(()) => {}
            Err(controller::Error::CacheSyncFailed { .. }) if !failed_before_stop => {
                println!("{name} stopped before its cache synced: no worker started");
            }
            Err(e) => return Err(e.to_string()),
        }
        drop(self.informer);
        Ok(self.controller.metrics())
    }
}

#[allow(clippy::print_stdout, reason = "--help prints the usage")]
fn main() -> ExitCode {
    let options = match parse_options(std::env::args_os().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("controller: {message}\n{USAGE}");
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
