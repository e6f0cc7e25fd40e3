//! fake-apiserver under load: N writers and M watchers, some of them slow, for a bounded time,
//! all through the real `kube` client over HTTP on 127.0.0.1, on one 2-thread runtime (so the
//! clients' own work, decoding every event for every watcher, is in every figure). Reports write
//! throughput and latency, delivery latency (write start to the event decoded by the watcher's
//! client; fast and slow watchers apart), the process's peak memory, and checks that nothing is
//! lost: every fast watcher sees every write, in resourceVersion order; every watcher ends
//! knowing the last state of every object, as an informer must. A slow watcher stalls once
//! (longer than the server's slow-watcher timeout, so the server closes its stream) and then
//! pauses after each event while the writers run; it resumes from its last resourceVersion, and
//! relists when that is gone (410), as an informer does.
//!
//! Not a criterion bench: it prints a table and writes `target/bench-extra/fake_apiserver_load.md`,
//! which `cargo xtask bench` adds to its report. With `--test` it runs briefly on small sizes.
#![allow(
    clippy::print_stdout,
    clippy::disallowed_methods,
    reason = "a bench reads the real clock and prints its table"
)]

#[path = "common/rss.rs"]
mod rss;

use rss::rss_bytes;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fake_apiserver::FakeApiServer;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

struct Load {
    writers: usize,
    fast_watchers: usize,
    slow_watchers: usize,
    run_for: Duration,
    /// Bytes of filler in each object, so memory matters.
    payload: usize,
    /// How long a slow watcher pauses after each event.
    slow_pause: Duration,
    /// How long a slow watcher stalls once, after its first event (above the server's 1 s
    /// slow-watcher timeout).
    slow_stall: Duration,
}

/// How a watcher reads: a slow one stalls once, then pauses after each event.
#[derive(Clone, Copy)]
struct Pace {
    pause: Duration,
    stall: Duration,
}

/// What one watcher saw.
struct Seen {
    events: u64,
    reconnects: u64,
    relists: u64,
    /// Relists that happened while the writers were still running.
    relists_while_writing: u64,
    /// Events whose resourceVersion was not above the one before (outside a relist).
    out_of_order: u64,
    /// The watcher gave up at its deadline before catching up.
    timed_out: bool,
    /// Microseconds from write to delivery, per event.
    latencies: Vec<u64>,
    /// Per object, the last `sent` stamp seen.
    latest: HashMap<String, String>,
}

/// An object's name and its `sent` stamp.
fn stamp(cm: &ConfigMap) -> Option<(String, String)> {
    Some((
        cm.metadata.name.clone()?,
        cm.data.as_ref()?.get("sent")?.clone(),
    ))
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Watches configmaps from `from` until it has seen `final_rv` (set once the writers stopped),
/// resuming from the last event whenever the server ends the stream and relisting on 410.
/// Pauses `pause` after each event while `writing` is set.
async fn watch(
    api: Api<ConfigMap>,
    from: u64,
    final_rv: Arc<AtomicU64>,
    writing: Arc<AtomicBool>,
    start: Instant,
    pace: Pace,
    deadline: Instant,
) -> Seen {
    let Pace { pause, stall } = pace;
    let mut seen = Seen {
        events: 0,
        reconnects: 0,
        relists: 0,
        relists_while_writing: 0,
        out_of_order: 0,
        timed_out: false,
        latencies: Vec::new(),
        latest: HashMap::new(),
    };
    let mut last = from;
    let done = |last: u64| {
        let target = final_rv.load(Ordering::Acquire);
        target != 0 && last >= target
    };
    while Instant::now() < deadline && !done(last) {
        let params = WatchParams::default().timeout(290);
        let Ok(stream) = api.watch(&params, &last.to_string()).await else {
            seen.reconnects += 1;
            continue;
        };
        let mut stream = stream.boxed();
        let mut relisted = false;
        while let Some(event) = stream.next().await {
            match event {
                Ok(WatchEvent::Added(cm) | WatchEvent::Modified(cm)) => {
                    let now = start.elapsed().as_micros() as u64;
                    if let Some((name, sent)) = stamp(&cm) {
                        if let Ok(sent_us) = sent.parse::<u64>() {
                            seen.latencies.push(now.saturating_sub(sent_us));
                        }
                        seen.latest.insert(name, sent);
                    }
                    seen.events += 1;
                    let rv = cm
                        .metadata
                        .resource_version
                        .and_then(|rv| rv.parse().ok())
                        .unwrap_or(0);
                    if rv <= last {
                        seen.out_of_order += 1;
                    }
                    last = last.max(rv);
                    if writing.load(Ordering::Relaxed) {
                        if seen.events == 1 && !stall.is_zero() {
                            tokio::time::sleep(stall).await;
                        } else if !pause.is_zero() {
                            tokio::time::sleep(pause).await;
                        }
                    }
                }
                Ok(WatchEvent::Error(e)) if e.code == 410 => {
                    // Gone from the history: relist, as an informer does.
                    seen.relists += 1;
                    if writing.load(Ordering::Relaxed) {
                        seen.relists_while_writing += 1;
                    }
                    let list = api.list(&ListParams::default()).await.expect("relist");
                    for cm in &list.items {
                        if let Some((name, sent)) = stamp(cm) {
                            seen.latest.insert(name, sent);
                        }
                    }
                    last = list
                        .metadata
                        .resource_version
                        .and_then(|rv| rv.parse().ok())
                        .unwrap_or(last);
                    relisted = true;
                    break;
                }
                _ => {}
            }
            if done(last) {
                break;
            }
        }
        if !relisted && !done(last) {
            seen.reconnects += 1; // the server ended the stream
        }
    }
    seen.timed_out = !done(last);
    seen
}

async fn measure(load: &Load) -> String {
    let mut out = format!(
        "\n## fake_apiserver_load\n\n{} writers, {} fast and {} slow watchers (stalling {:?} once, then pausing {:?} per event), \
         {:?} of writes, {} B per object, slow-watcher timeout 1 s; clients and server share one 2-thread runtime.\n\n| measurement | result |\n|---|---|\n",
        load.writers,
        load.fast_watchers,
        load.slow_watchers,
        load.slow_stall,
        load.slow_pause,
        load.run_for,
        load.payload
    );
    let server = FakeApiServer::builder()
        .slow_watcher_timeout(Duration::from_secs(1))
        .start()
        .await
        .expect("server");
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let start = Instant::now();
    let from = server.resource_version();
    let final_rv = Arc::new(AtomicU64::new(0));
    let writing = Arc::new(AtomicBool::new(true));
    let deadline = Instant::now() + load.run_for + Duration::from_secs(60);
    let watchers: Vec<_> = (0..load.fast_watchers + load.slow_watchers)
        .map(|i| {
            let pace = if i < load.fast_watchers {
                Pace {
                    pause: Duration::ZERO,
                    stall: Duration::ZERO,
                }
            } else {
                Pace {
                    pause: load.slow_pause,
                    stall: load.slow_stall,
                }
            };
            tokio::spawn(watch(
                api.clone(),
                from,
                Arc::clone(&final_rv),
                Arc::clone(&writing),
                start,
                pace,
                deadline,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await; // let the watches connect

    let stop = Arc::new(AtomicBool::new(false));
    let filler = "x".repeat(load.payload);
    let writers: Vec<_> = (0..load.writers)
        .map(|w| {
            let (api, stop, filler) = (api.clone(), Arc::clone(&stop), filler.clone());
            tokio::spawn(async move {
                let name = format!("load-{w}");
                let mut cm = ConfigMap::default();
                cm.metadata.name = Some(name.clone());
                api.create(&PostParams::default(), &cm)
                    .await
                    .expect("create");
                let (mut writes, mut latencies) = (1u64, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    let sent = start.elapsed().as_micros() as u64;
                    let patch = json!({ "data": { "sent": sent.to_string(), "filler": filler } });
                    let t = Instant::now();
                    api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                        .await
                        .expect("write");
                    latencies.push(t.elapsed().as_micros() as u64);
                    writes += 1;
                }
                (writes, latencies)
            })
        })
        .collect();
    let mut peak_rss = rss_bytes();
    let began = Instant::now();
    while began.elapsed() < load.run_for {
        tokio::time::sleep(Duration::from_millis(50)).await;
        peak_rss = peak_rss.max(rss_bytes());
    }
    stop.store(true, Ordering::Relaxed);
    writing.store(false, Ordering::Relaxed);
    let mut writes = 0;
    let mut write_latencies = Vec::new();
    for w in writers {
        let (n, lat) = w.await.expect("writer");
        writes += n;
        write_latencies.extend(lat);
    }
    let wrote_for = began.elapsed();
    final_rv.store(server.resource_version(), Ordering::Release);
    let truth: HashMap<String, String> = api
        .list(&ListParams::default())
        .await
        .expect("final list")
        .items
        .iter()
        .filter_map(stamp)
        .collect();
    assert_eq!(truth.len(), load.writers, "one object per writer");
    let mut fast = Vec::new();
    let mut slow = Vec::new();
    for (i, w) in watchers.into_iter().enumerate() {
        let seen = w.await.expect("watcher");
        if i < load.fast_watchers {
            fast.push(seen);
        } else {
            slow.push(seen);
        }
        peak_rss = peak_rss.max(rss_bytes());
    }
    write_latencies.sort_unstable();
    let _ = writeln!(
        out,
        "| writes (with every watcher's client decoding on the same runtime) | {writes} in {wrote_for:.1?}, {:.0}/s |",
        writes as f64 / wrote_for.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| write latency p50 / p99 / max | {} / {} / {} µs |",
        percentile(&write_latencies, 0.5),
        percentile(&write_latencies, 0.99),
        write_latencies.last().copied().unwrap_or(0)
    );
    for (label, group) in [("fast", &fast), ("slow", &slow)] {
        if group.is_empty() {
            continue;
        }
        let mut latencies: Vec<u64> = group.iter().flat_map(|s| s.latencies.clone()).collect();
        latencies.sort_unstable();
        let events: Vec<u64> = group.iter().map(|s| s.events).collect();
        // Lost: an object whose last state a watcher does not know.
        let lost: usize = group
            .iter()
            .map(|s| {
                truth
                    .iter()
                    .filter(|(k, v)| s.latest.get(*k) != Some(*v))
                    .count()
            })
            .sum();
        let reconnects: u64 = group.iter().map(|s| s.reconnects).sum();
        let relists: u64 = group.iter().map(|s| s.relists).sum();
        let relists_early: u64 = group.iter().map(|s| s.relists_while_writing).sum();
        let _ = writeln!(
            out,
            "| {label} watchers: events each (of {writes} writes) | {events:?}; streams ended by the server {reconnects}; relists after 410 {relists} ({relists_early} while writing); objects whose last state was missed {lost} |"
        );
        let _ = writeln!(
            out,
            "| {label} watchers: write start to event decoded, p50 / p99{} | {} / {} µs |",
            if label == "slow" {
                " (events skipped by a relist not counted)"
            } else {
                ""
            },
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        );
        assert_eq!(lost, 0, "{label} watchers missed a last state");
        assert!(
            group.iter().all(|s| s.out_of_order == 0),
            "{label} watchers saw resourceVersions out of order"
        );
        assert!(
            group.iter().all(|s| !s.timed_out),
            "{label} watchers did not catch up before their deadline"
        );
        if label == "fast" {
            assert!(
                group.iter().all(|s| s.events == writes && s.relists == 0),
                "a fast watcher missed events: {events:?} of {writes}"
            );
        }
    }
    let _ = writeln!(
        out,
        "| peak RSS of the process (server and every client) / object bytes the history holds at the end | {:.1} MiB / {:.1} MiB |",
        peak_rss as f64 / 1048576.0,
        server.history_bytes() as f64 / 1048576.0
    );
    server.shutdown().await;
    out
}

fn main() {
    let test = std::env::args().any(|a| a == "--test");
    let load = if test {
        Load {
            writers: 2,
            fast_watchers: 2,
            slow_watchers: 1,
            run_for: Duration::from_millis(500),
            payload: 1024,
            slow_pause: Duration::from_millis(1),
            slow_stall: Duration::from_millis(1500),
        }
    } else {
        Load {
            writers: 8,
            fast_watchers: 16,
            slow_watchers: 4,
            run_for: Duration::from_secs(10),
            payload: 16 * 1024,
            slow_pause: Duration::from_millis(2),
            slow_stall: Duration::from_millis(2500),
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let out = runtime.block_on(measure(&load));
    println!("{out}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-extra");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("fake_apiserver_load.md"), out);
}
