//! informer against kube-runtime (GOALS I1, I2, I3, I5, I6), both through the real `kube`
//! client against one `fake-apiserver` on 127.0.0.1.
//!
//! * I1/I2/I3: the initial sync of N pods of about 4 KiB of JSON each (list, fill the cache,
//!   notify a handler of every object): wall time, the peak of live heap during the sync, the
//!   heap left per cached pod, and the process's peak RSS.
//! * I5: a relist after 410 Gone (history compacted, watches closed): the peak of live heap
//!   during the relist against the steady heap before it.
//! * I4: watch event -> handler latency while the server creates pods at 10k/s (each pod
//!   carries the wall-clock time it was created; both processes read the same clock). The
//!   floor is a bare `kube` watch of the same stream in a child of its own (no informer, no
//!   cache): the server, the transport and kube's decoding alone. For flywheel the table also
//!   splits the latency at the FIFO (a transform notes each event's delay as it is queued).
//! * I6: `by_index` on one namespace holding 1k of 100k objects against a full scan (ours, and
//!   kube-runtime's `Store::state()` filtered, since its store has no index).
//!
//! Each implementation runs in a child process of this bench (a re-run of the same binary), so
//! its heap and RSS are its own; the server runs in the parent. Rounds interleave the
//! implementations and alternate which goes first; the table shows medians. Peers:
//! `kube-runtime` with its defaults (`reflector(writer, watcher(api, Config::default()))`), and
//! the same with managedFields cleared by `.modify()` before the store, since flywheel strips
//! them by default. Not a criterion bench: it writes `target/bench-extra/informer.md`, which
//! `cargo xtask bench` adds to its report. `--test` runs one small round.
//! `FLYWHEEL_BENCH_PODS` (default 100000), `FLYWHEEL_BENCH_ROUNDS` (default 3) and
//! `FLYWHEEL_BENCH_EVENTS` (I4's events, default 20000) size it; `FLYWHEEL_BENCH_ONLY=i4` runs
//! I4 alone (each child still syncs its cache first; no relist, no I6, no report file).
#![allow(
    clippy::print_stdout,
    clippy::disallowed_methods,
    reason = "a bench reads the real clock and prints its table"
)]

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use fake_apiserver::{ApiError, FakeApiServer, ServerHandle};
use futures::StreamExt;
use informer::{
    Indexer, KubeListerWatcher, KubeObject, NAMESPACE_INDEX, SharedIndexInformer, handler_fn,
};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;
use timer_wheel::Driver;

/// The implementations a child can run.
const IMPLS: [&str; 3] = ["flywheel", "kube-runtime", "kube-runtime+strip"];

/// I4's floor: a bare `kube` watch of the same stream, no informer, no cache (the server, the
/// transport and kube's decoding alone).
const FLOOR: &str = "kube-watch";

/// A pod of about 4 KiB of JSON: labels, annotations, managedFields, two containers with env
/// and mounts, and a status with conditions.
fn pod_json(i: usize) -> serde_json::Value {
    let fields = json!({
        "f:metadata": { "f:labels": { ".": {}, "f:app": {}, "f:tier": {}, "f:team": {} },
                        "f:annotations": { ".": {}, "f:example.com/build": {} } },
        "f:spec": { "f:containers": { "k:{\"name\":\"main\"}": { ".": {}, "f:image": {}, "f:name": {},
                    "f:env": {}, "f:resources": { "f:requests": { "f:cpu": {}, "f:memory": {} } } },
                    "k:{\"name\":\"sidecar\"}": { ".": {}, "f:image": {}, "f:name": {} } },
                    "f:nodeName": {}, "f:restartPolicy": {}, "f:serviceAccountName": {} }
    });
    let env: Vec<_> = (0..8)
        .map(|e| json!({ "name": format!("SETTING_{e}"), "value": format!("value-{e}-{i}") }))
        .collect();
    json!({
        "metadata": {
            "name": format!("pod-{i:06}"),
            "labels": { "app": format!("app-{}", i % 100), "tier": "web", "team": format!("team-{}", i % 7),
                        "pod-template-hash": "5d8f7c9b6" },
            "annotations": { "example.com/build": format!("build-{i}-{}", "x".repeat(200)),
                             "example.com/owner": "platform-team@example.com" },
            "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "app-5d8f7c9b6",
                                  "uid": "6f1c2d3e-0000-4000-8000-000000000001", "controller": true }],
            "managedFields": [
                { "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                  "time": "2026-11-27T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": fields.clone() },
                { "manager": "kubelet", "operation": "Update", "apiVersion": "v1", "subresource": "status",
                  "time": "2026-11-27T00:00:01Z", "fieldsType": "FieldsV1", "fieldsV1": fields }
            ]
        },
        "spec": {
            "nodeName": format!("node-{}", i % 50),
            "restartPolicy": "Always",
            "serviceAccountName": "default",
            "containers": [
                { "name": "main", "image": "registry.example/app:1.2.3", "env": env,
                  "ports": [{ "containerPort": 8080, "protocol": "TCP" }],
                  "resources": { "requests": { "cpu": "100m", "memory": "128Mi" },
                                 "limits": { "cpu": "500m", "memory": "256Mi" } },
                  "volumeMounts": [{ "name": "config", "mountPath": "/etc/app" },
                                   { "name": "token", "mountPath": "/var/run/secrets/token", "readOnly": true }] },
                { "name": "sidecar", "image": "registry.example/proxy:0.9.1",
                  "args": ["--listen", "0.0.0.0:15001", "--upstream", "127.0.0.1:8080"] }
            ],
            "volumes": [{ "name": "config", "configMap": { "name": "app-config" } },
                        { "name": "token", "projected": { "sources": [{ "serviceAccountToken": { "path": "token" } }] } }]
        },
        "status": {
            "phase": "Running",
            "podIP": format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
            "hostIP": format!("192.168.0.{}", i % 50),
            "conditions": [
                { "type": "Initialized", "status": "True", "lastTransitionTime": "2026-11-27T00:00:00Z" },
                { "type": "Ready", "status": "True", "lastTransitionTime": "2026-11-27T00:00:05Z" },
                { "type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-11-27T00:00:05Z" },
                { "type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-27T00:00:00Z" }
            ],
            "containerStatuses": [
                { "name": "main", "ready": true, "restartCount": 0, "image": "registry.example/app:1.2.3",
                  "imageID": "registry.example/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                  "containerID": format!("containerd://{:064x}", i), "started": true,
                  "state": { "running": { "startedAt": "2026-11-27T00:00:04Z" } } },
                { "name": "sidecar", "ready": true, "restartCount": 0, "image": "registry.example/proxy:0.9.1",
                  "imageID": "registry.example/proxy@sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
                  "containerID": format!("containerd://{:064x}", i + 1), "started": true,
                  "state": { "running": { "startedAt": "2026-11-27T00:00:04Z" } } }
            ]
        }
    })
}

/// `VmHWM` (peak RSS) and `VmRSS` of this process in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

// ---------------------------------------------------------------------------------------------
// Child: one implementation, driven over stdin/stdout.

/// What a child measured, as printed on its `synced` and `relisted` lines.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    sync_secs: f64,
    sync_peak_heap: f64,
    heap_per_pod: f64,
    peak_rss_kib: f64,
    relist_peak_over_steady: f64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    latency_max_ms: f64,
    /// flywheel: the delay of the same events when they entered the FIFO.
    at_fifo_p50_ms: f64,
    at_fifo_p99_ms: f64,
    /// CPU time of the child (every thread) per I4 event, in µs.
    cpu_us_per_event: f64,
    /// CPU time of the parent (load loop + server) per I4 event, in µs.
    server_cpu_us_per_event: f64,
    event_rate: f64,
}

/// Counters the child's "handler" bumps.
#[derive(Default)]
struct Seen {
    initial: AtomicUsize,
    relisted: AtomicUsize,
    /// Latencies (ns) of the events that carry a send time, while measuring.
    latencies: std::sync::Mutex<Vec<u64>>,
    /// flywheel only: the same events' delay when they enter the FIFO (read by a transform,
    /// on the reflector's task), which splits the latency into "server + transport + decode +
    /// reflector" and "FIFO pop + cache + processor + listener".
    at_fifo: std::sync::Mutex<Vec<u64>>,
    measuring: std::sync::atomic::AtomicBool,
}

/// The annotation holding the wall-clock time (ns since the epoch) a latency pod was created.
const SENT_AT: &str = "bench.flywheel/sent-ns";

/// CPU time this process has used (every thread), in ns.
fn process_cpu_ns() -> f64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .map_or(f64::NAN, |t| t.tv_sec() as f64 * 1e9 + t.tv_nsec() as f64)
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Seen {
    /// Records the latency of `pod` if it carries a send time and we are measuring.
    fn observe(&self, pod: &Pod) {
        Self::record(&self.measuring, &self.latencies, pod);
    }

    /// Records how long `pod` took to reach the FIFO (flywheel's stage split).
    fn observe_at_fifo(&self, pod: &Pod) {
        Self::record(&self.measuring, &self.at_fifo, pod);
    }

    fn record(
        measuring: &std::sync::atomic::AtomicBool,
        into: &std::sync::Mutex<Vec<u64>>,
        pod: &Pod,
    ) {
        if !measuring.load(Relaxed) {
            return;
        }
        let sent = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(SENT_AT))
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(sent) = sent {
            let latency = now_ns().saturating_sub(sent);
            if let Ok(mut all) = into.lock() {
                all.push(latency);
            }
        }
    }

    fn measured(&self) -> usize {
        self.latencies.lock().map_or(0, |l| l.len())
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "child: timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn child(which: &str, url: &str, pods: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let config = kube::Config::new(url.parse().expect("server url"));
        let client = kube::Client::try_from(config).expect("client");
        let api: Api<Pod> = Api::namespaced(client, "default");
        let seen = Arc::new(Seen::default());
        let baseline = counting_alloc::live_bytes();
        counting_alloc::reset_peak();
        let started = Instant::now();
        // Each branch keeps its informer or store alive until the child exits.
        let keep: Box<dyn std::any::Any + Send> = match which {
            "flywheel" => {
                let informer = Arc::new(
                    SharedIndexInformer::builder(
                        KubeListerWatcher::new(api),
                        Driver::global().clone(),
                    )
                    .name("pods")
                    .transform({
                        let seen = Arc::clone(&seen);
                        move |pod: Arc<KubeObject<Pod>>| {
                            seen.observe_at_fifo(&pod.0);
                            Ok(pod)
                        }
                    })
                    .build(),
                );
                let on_add = Arc::clone(&seen);
                let on_update = Arc::clone(&seen);
                informer
                    .add_event_handler(
                        handler_fn()
                            .on_add(move |pod: &Arc<KubeObject<Pod>>, initial| {
                                if initial {
                                    on_add.initial.fetch_add(1, Relaxed);
                                } else {
                                    on_add.observe(&pod.0);
                                }
                            })
                            .on_update(
                                move |_: &Arc<KubeObject<Pod>>, _: &Arc<KubeObject<Pod>>| {
                                    on_update.relisted.fetch_add(1, Relaxed);
                                },
                            ),
                    )
                    .expect("handler");
                let running = Arc::clone(&informer);
                tokio::spawn(async move { running.run(std::future::pending()).await });
                Box::new(informer)
            }
            FLOOR => {
                // No cache, no initial sync: a bare watch from the current version, each
                // event decoded by kube and observed on the task that reads the stream.
                let rv = api
                    .list_metadata(&ListParams::default().limit(1))
                    .await
                    .expect("list for a resourceVersion")
                    .metadata
                    .resource_version
                    .expect("a list resourceVersion");
                seen.initial.store(pods, Relaxed);
                let seen = Arc::clone(&seen);
                let api = api.clone();
                tokio::spawn(async move {
                    let mut rv = rv;
                    loop {
                        let params = WatchParams::default().timeout(290);
                        let Ok(stream) = api.watch(&params, &rv).await else {
                            return;
                        };
                        let mut stream = std::pin::pin!(stream);
                        while let Some(event) = stream.next().await {
                            match event {
                                Ok(
                                    WatchEvent::Added(pod)
                                    | WatchEvent::Modified(pod)
                                    | WatchEvent::Deleted(pod),
                                ) => {
                                    seen.observe(&pod);
                                    if let Some(v) = pod.metadata.resource_version {
                                        rv = v;
                                    }
                                }
                                Ok(WatchEvent::Bookmark(b)) => rv = b.metadata.resource_version,
                                Ok(WatchEvent::Error(_)) | Err(_) => return,
                            }
                        }
                    }
                });
                Box::new(())
            }
            peer => {
                let strip = peer.ends_with("+strip");
                let (store, writer) = reflector::store::<Pod>();
                let events = watcher(api, watcher::Config::default());
                let seen = Arc::clone(&seen);
                let stream = async move {
                    let stream = if strip {
                        events
                            .modify(|pod: &mut Pod| pod.metadata.managed_fields = None)
                            .boxed()
                    } else {
                        events.boxed()
                    };
                    let mut initial_done = false;
                    reflector(writer, stream)
                        .for_each(|event| {
                            match event {
                                Ok(watcher::Event::InitApply(_)) if !initial_done => {
                                    seen.initial.fetch_add(1, Relaxed);
                                }
                                Ok(watcher::Event::InitApply(_)) => {
                                    seen.relisted.fetch_add(1, Relaxed);
                                }
                                Ok(watcher::Event::InitDone) => initial_done = true,
                                Ok(watcher::Event::Apply(pod)) => seen.observe(&pod),
                                Ok(_) => {}
                                // The 410 that starts the relist, and nothing else.
                                Err(_) => {}
                            }
                            std::future::ready(())
                        })
                        .await;
                };
                tokio::spawn(stream);
                store.wait_until_ready().await.expect("store ready");
                Box::new(store)
            }
        };
        wait_until("the initial sync", || seen.initial.load(Relaxed) >= pods).await;
        let sync_secs = started.elapsed().as_secs_f64();
        let peak_heap = counting_alloc::peak_live().saturating_sub(baseline);
        // Let the last in-flight buffers go before reading the steady heap.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let steady = counting_alloc::live_bytes().saturating_sub(baseline);
        let (hwm, _) = rss_kib();
        println!(
            "synced {sync_secs} {peak_heap} {} {hwm}",
            steady as f64 / pods as f64
        );

        let mut line = String::new();
        let mut stdin = std::io::stdin().lock();
        while {
            line.clear();
            stdin.read_line(&mut line).unwrap_or(0) > 0
        } {
            match line.trim() {
                "relist" => {
                    let steady = counting_alloc::live_bytes();
                    counting_alloc::reset_peak();
                    println!("armed");
                    wait_until("the relist", || seen.relisted.load(Relaxed) >= pods).await;
                    let peak = counting_alloc::peak_live();
                    println!("relisted {}", peak as f64 / steady as f64);
                }
                command if command.starts_with("latency ") => {
                    let n: usize = command[8..].parse().expect("a count");
                    for v in [&seen.latencies, &seen.at_fifo] {
                        if let Ok(mut all) = v.lock() {
                            all.clear();
                        }
                    }
                    seen.measuring.store(true, Relaxed);
                    let cpu = process_cpu_ns();
                    println!("armed");
                    wait_until("the latency events", || seen.measured() >= n).await;
                    let cpu_us_per_event = (process_cpu_ns() - cpu) / 1e3 / n as f64;
                    seen.measuring.store(false, Relaxed);
                    let quantiles = |v: &std::sync::Mutex<Vec<u64>>| {
                        let mut all = v
                            .lock()
                            .map(|mut l| std::mem::take(&mut *l))
                            .unwrap_or_default();
                        all.sort_unstable();
                        let at = |q: f64| {
                            all.get(((all.len().max(1) - 1) as f64 * q) as usize)
                                .map_or(f64::NAN, |&ns| ns as f64 / 1e6)
                        };
                        (at(0.5), at(0.99), at(1.0))
                    };
                    let (p50, p99, max) = quantiles(&seen.latencies);
                    let (f50, f99, _) = quantiles(&seen.at_fifo);
                    println!("latency {p50} {p99} {max} {f50} {f99} {cpu_us_per_event}");
                }
                _ => break,
            }
        }
        drop(keep);
    });
    // The informer's blocking tasks would keep the runtime's drop waiting; the child is done.
    std::process::exit(0);
}

// ---------------------------------------------------------------------------------------------
// Parent: the server, the children, the table.

struct Running {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Running {
    fn start(which: &str, url: &str, pods: usize) -> Running {
        let mut child = Command::new(std::env::current_exe().expect("current_exe"))
            .args(["--child", which, url, &pods.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn a child bench process");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Running {
            child,
            stdin,
            stdout,
        }
    }

    /// The numbers of the next line that starts with `tag`.
    fn expect(&mut self, tag: &str) -> Vec<f64> {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).expect("read child");
            assert!(n > 0, "the child exited before printing `{tag}`");
            if let Some(rest) = line.trim().strip_prefix(tag) {
                return rest
                    .split_whitespace()
                    .map(|v| v.parse().expect("a number"))
                    .collect();
            }
        }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write child");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.wait();
    }
}

/// One child's sync, relist (unless `relist` is false) and event latency.
fn measure(
    server: &ServerHandle,
    runtime: &tokio::runtime::Runtime,
    which: &str,
    pods: usize,
    latency_events: usize,
    relist: bool,
) -> Sample {
    let mut child = Running::start(which, server.url(), pods);
    let synced = child.expect("synced");
    let relisted = if relist {
        child.send("relist");
        child.expect("armed");
        let faults = server.faults();
        runtime.block_on(async {
            faults.fail_watches(ApiError::expired("too old resource version (bench)"));
        });
        child.expect("relisted")
    } else {
        vec![f64::NAN]
    };

    // I4: pods created at 10k/s, each stamped with its creation time.
    let events = latency_events;
    child.send(&format!("latency {events}"));
    child.expect("armed");
    let tag = fastrand::u32(..);
    let server_cpu = process_cpu_ns();
    let started = Instant::now();
    for i in 0..events {
        // Batches of 10 every millisecond: 10k/s.
        let due = started + Duration::from_micros(100 * i as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now())
            && i % 10 == 0
        {
            std::thread::sleep(wait);
        }
        let pod = json!({
            "metadata": { "name": format!("lat-{tag:08x}-{i}"), "annotations": { SENT_AT: now_ns().to_string() } },
            "spec": { "containers": [{ "name": "c", "image": "example/app:1" }] },
        });
        server
            .create("", "v1", "pods", "default", pod)
            .expect("create a latency pod");
    }
    let event_rate = events as f64 / started.elapsed().as_secs_f64();
    let latency = child.expect("latency");
    // This process: the load loop and the server (encoding the child's watch), until the child
    // saw every event.
    let server_cpu_us_per_event = (process_cpu_ns() - server_cpu) / 1e3 / events as f64;
    for i in 0..events {
        let _ = server.delete("", "v1", "pods", "default", &format!("lat-{tag:08x}-{i}"));
    }
    Sample {
        sync_secs: synced[0],
        sync_peak_heap: synced[1],
        heap_per_pod: synced[2],
        peak_rss_kib: synced[3],
        relist_peak_over_steady: relisted[0],
        latency_p50_ms: latency[0],
        latency_p99_ms: latency[1],
        latency_max_ms: latency[2],
        at_fifo_p50_ms: latency[3],
        at_fifo_p99_ms: latency[4],
        cpu_us_per_event: latency[5],
        server_cpu_us_per_event,
        event_rate,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// I4 with its floor and flywheel's split at the FIFO, medians over the rounds.
fn latency_table(names: &[&str], samples: &[Vec<Sample>], events: usize) -> String {
    let med = |i: usize, f: fn(&Sample) -> f64| median(samples[i].iter().map(f).collect());
    let rounds = samples.first().map_or(0, Vec::len);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### I4: watch event -> handler latency, {events} pods created at 10k/s (median of {rounds} rounds)\n"
    );
    let _ = writeln!(
        out,
        "| implementation | p50 | p99 | max | events/s | of which until the FIFO (p50 / p99) | CPU per event: child / server + load |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for (i, name) in names.iter().enumerate() {
        let split = if med(i, |s| s.at_fifo_p50_ms).is_nan() {
            "-".to_owned()
        } else {
            format!(
                "{:.2} / {:.2} ms",
                med(i, |s| s.at_fifo_p50_ms),
                med(i, |s| s.at_fifo_p99_ms)
            )
        };
        let label = if *name == FLOOR {
            format!("{name} (floor: bare watch, no informer)")
        } else {
            (*name).to_owned()
        };
        let _ = writeln!(
            out,
            "| {label} | {:.2} ms | {:.2} ms | {:.2} ms | {:.0} | {split} | {:.1} / {:.1} µs |",
            med(i, |s| s.latency_p50_ms),
            med(i, |s| s.latency_p99_ms),
            med(i, |s| s.latency_max_ms),
            med(i, |s| s.event_rate),
            med(i, |s| s.cpu_us_per_event),
            med(i, |s| s.server_cpu_us_per_event),
        );
    }
    out
}

/// I6: `by_index` over one namespace of 1k in 100k objects, against full scans.
fn by_index_vs_scan(objects: usize, rounds: usize) -> String {
    let per_ns = 1_000.min(objects / 10).max(1);
    let pod = |ns: &str, i: usize| {
        let mut p = Pod::default();
        p.metadata.namespace = Some(ns.to_owned());
        p.metadata.name = Some(format!("pod-{i:06}"));
        p.metadata.resource_version = Some("1".to_owned());
        p
    };
    let namespace_of = |i: usize| {
        if i < per_ns {
            "target".to_owned()
        } else {
            format!("ns-{}", i % 97)
        }
    };
    let ours: Indexer<KubeObject<Pod>> = Indexer::new();
    let (store, mut writer) = reflector::store::<Pod>();
    for i in 0..objects {
        ours.add(KubeObject(pod(&namespace_of(i), i))).expect("add");
        writer.apply_watcher_event(&watcher::Event::Apply(pod(&namespace_of(i), i)));
    }
    let time = |f: &dyn Fn() -> usize| {
        let mut samples = Vec::new();
        for _ in 0..rounds {
            let start = Instant::now();
            let n = std::hint::black_box(f());
            samples.push(start.elapsed().as_secs_f64());
            assert_eq!(n, per_ns);
        }
        median(samples)
    };
    let by_index = time(&|| {
        ours.by_index(NAMESPACE_INDEX, "target")
            .expect("index")
            .len()
    });
    let our_scan = time(&|| {
        ours.list_filtered(|p| p.metadata.namespace.as_deref() == Some("target"))
            .len()
    });
    let peer_scan = time(&|| {
        store
            .state()
            .into_iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some("target"))
            .count()
    });
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### I6: {per_ns} of {objects} objects in one namespace (median of {rounds})\n"
    );
    let _ = writeln!(out, "| query | time | flywheel by_index / this |");
    let _ = writeln!(out, "|---|---|---|");
    for (name, t) in [
        ("flywheel `by_index`", by_index),
        ("flywheel full scan (`list_filtered`)", our_scan),
        ("kube-runtime `Store::state()` + filter", peer_scan),
    ] {
        let _ = writeln!(out, "| {name} | {:.1} µs | {:.4}x |", t * 1e6, by_index / t);
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let which = &args[at + 1];
        let url = &args[at + 2];
        let pods = args[at + 3].parse().expect("pods");
        child(which, url, pods);
        return;
    }
    let test = args.iter().any(|a| a == "--test");
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let pods = if test {
        200
    } else {
        env("FLYWHEEL_BENCH_PODS", 100_000)
    };
    let rounds = if test {
        1
    } else {
        env("FLYWHEEL_BENCH_ROUNDS", 3)
    };
    let latency_events = if test {
        100
    } else {
        env("FLYWHEEL_BENCH_EVENTS", 20_000)
    };
    // `FLYWHEEL_BENCH_ONLY=i4`: only the event latency (each child still syncs its cache first,
    // since the latency is that of a full informer; no relist, no I6, no report file).
    let only_i4 = std::env::var("FLYWHEEL_BENCH_ONLY").is_ok_and(|v| v.eq_ignore_ascii_case("i4"));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(async {
        FakeApiServer::builder()
            .history(10 * pods)
            .start()
            .await
            .expect("server")
    });
    let seeding = Instant::now();
    let size = serde_json::to_vec(&pod_json(0))
        .map(|v| v.len())
        .unwrap_or(0);
    for i in 0..pods {
        server
            .create("", "v1", "pods", "default", pod_json(i))
            .expect("seed a pod");
    }
    println!(
        "seeded {pods} pods of ~{size} B of JSON in {:?}",
        seeding.elapsed()
    );

    // The three implementations, then the floor (I4 only).
    let all: Vec<&str> = IMPLS.iter().copied().chain([FLOOR]).collect();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); all.len()];
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..all.len()).collect();
        order.rotate_left(round % all.len());
        for i in order {
            let relist = !only_i4 && all[i] != FLOOR;
            let s = measure(&server, &runtime, all[i], pods, latency_events, relist);
            println!("round {round} {:<20} {s:?}", all[i]);
            samples[i].push(s);
        }
    }

    let med = |i: usize, f: fn(&Sample) -> f64| median(samples[i].iter().map(f).collect());
    let i4 = latency_table(&all, &samples, latency_events);
    if only_i4 {
        println!("{i4}");
        runtime.block_on(server.shutdown());
        return;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## informer: initial sync and relist of {pods} pods (~{size} B of JSON each), median of {rounds} rounds\n"
    );
    let _ = writeln!(
        out,
        "| implementation | I1 sync wall | I2 peak heap during sync | I2 peak RSS | I3 heap per cached pod | I5 relist peak / steady heap | I4 latency p50 / p99 (events/s) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for (i, name) in IMPLS.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {name} | {:.3} s | {:.1} MiB | {:.1} MiB | {:.0} B | {:.2}x | {:.2} / {:.2} ms ({:.0}) |",
            med(i, |s| s.sync_secs),
            med(i, |s| s.sync_peak_heap) / 1048576.0,
            med(i, |s| s.peak_rss_kib) / 1024.0,
            med(i, |s| s.heap_per_pod),
            med(i, |s| s.relist_peak_over_steady),
            med(i, |s| s.latency_p50_ms),
            med(i, |s| s.latency_p99_ms),
            med(i, |s| s.event_rate),
        );
    }
    let _ = writeln!(
        out,
        "\nRatios flywheel / peer (lower is better; goals: I1 <= 0.7x, I2 <= 0.6x, I3 <= 0.5x; absolute: I4 p99 <= 2 ms, I5 <= 1.1x):\n"
    );
    let _ = writeln!(
        out,
        "| peer | I1 wall | I2 peak heap | I2 peak RSS | I3 heap per pod |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (i, name) in IMPLS.iter().enumerate().skip(1) {
        let ratio = |f: fn(&Sample) -> f64| med(0, f) / med(i, f);
        let _ = writeln!(
            out,
            "| {name} | {:.2}x | {:.2}x | {:.2}x | {:.2}x |",
            ratio(|s| s.sync_secs),
            ratio(|s| s.sync_peak_heap),
            ratio(|s| s.peak_rss_kib),
            ratio(|s| s.heap_per_pod),
        );
    }
    out.push_str(&i4);
    out.push_str(&by_index_vs_scan(
        if test { 2_000 } else { 100_000 },
        if test { 3 } else { 51 },
    ));
    println!("{out}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-extra");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("informer.md"), out);
    runtime.block_on(server.shutdown());
}
