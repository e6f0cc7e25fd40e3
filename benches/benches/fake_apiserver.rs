//! fake-apiserver (issue 6, point 6): seeding and listing 100k pods, memory per stored pod, and
//! watch events per second to 10 watchers, all through the real `kube` client over HTTP on
//! 127.0.0.1. Not a criterion bench: it prints a table and writes
//! `target/bench-extra/fake_apiserver.md`, which `cargo xtask bench` adds to its report. With
//! `--test` it runs once on small sizes.
#![allow(
    clippy::print_stdout,
    clippy::disallowed_methods,
    reason = "a bench reads the real clock and prints its table"
)]

#[path = "common/rss.rs"]
mod rss;

use rss::rss_bytes;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_apiserver::{FakeApiServer, ServerHandle};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::json;

/// A typical small pod.
fn pod_json(i: usize) -> serde_json::Value {
    json!({
        "metadata": { "name": format!("pod-{i:06}"), "labels": { "app": format!("app-{}", i % 100), "tier": "web" } },
        "spec": { "nodeName": format!("node-{}", i % 50), "containers": [{ "name": "main", "image": "example/app:1.2.3",
                  "resources": { "requests": { "cpu": "100m", "memory": "128Mi" } } }] },
        "status": { "phase": "Running" },
    })
}

/// Streams a watch from `from` and counts event lines until `events` arrived.
async fn count_watch(server: &ServerHandle, from: &str, events: usize) -> usize {
    let url = format!(
        "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={from}&timeoutSeconds=120"
    );
    let request = axum::http::Request::get(url)
        .body(kube::client::Body::empty())
        .expect("request");
    let response = server.client().send(request).await.expect("watch");
    let mut body = axum::body::Body::new(response.into_body()).into_data_stream();
    let mut lines = 0;
    while lines < events {
        let Some(chunk) = body.next().await else {
            break;
        };
        lines += chunk
            .expect("watch chunk")
            .iter()
            .filter(|b| **b == b'\n')
            .count();
    }
    lines
}

async fn measure(pods: usize, events: usize) -> String {
    let mut out = String::from(
        "\n## fake_apiserver (issue 6, point 6)\n\n| measurement | result |\n|---|---|\n",
    );
    let server = FakeApiServer::builder()
        .history(1_000)
        .start()
        .await
        .expect("server");
    let before = rss_bytes();
    let started = Instant::now();
    for i in 0..pods {
        server
            .create("", "v1", "pods", "default", pod_json(i))
            .expect("seed");
    }
    let seeded = started.elapsed();
    let per_object = rss_bytes().saturating_sub(before) / pods as u64;
    let _ = writeln!(out, "| seed {pods} pods (direct) | {seeded:?} |");
    let _ = writeln!(
        out,
        "| memory per stored pod (RSS delta, rough) | {per_object} B |"
    );

    let api: Api<Pod> = Api::namespaced(server.client(), "default");
    for round in 1..=2 {
        let t = Instant::now();
        let list = api.list(&ListParams::default()).await.expect("list");
        let _ = writeln!(
            out,
            "| list {} pods through kube::Api, incl. decode (round {round}) | {:?} |",
            list.items.len(),
            t.elapsed()
        );
    }

    let from = server.resource_version().to_string();
    let server = Arc::new(server);
    let watchers: Vec<_> = (0..10)
        .map(|_| {
            let server = Arc::clone(&server);
            let from = from.clone();
            tokio::spawn(async move { count_watch(&server, &from, events).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await; // let the watches connect
    let t = Instant::now();
    for i in 0..events {
        server
            .create(
                "",
                "v1",
                "configmaps",
                "default",
                json!({ "metadata": { "name": format!("cm-{i}") }, "data": { "k": "v" } }),
            )
            .expect("write");
        if i % 1000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let mut delivered = 0;
    for w in watchers {
        delivered += w.await.expect("watcher");
    }
    let total = t.elapsed();
    let _ = writeln!(
        out,
        "| {events} events to 10 watchers ({delivered} delivered) | {total:?}, {:.0} events/s per watcher |",
        events as f64 / total.as_secs_f64()
    );
    if let Ok(server) = Arc::try_unwrap(server) {
        server.shutdown().await;
    }
    out
}

fn main() {
    let test = std::env::args().any(|a| a == "--test");
    let (pods, events) = if test {
        (2_000, 2_000)
    } else {
        (100_000, 50_000)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let out = runtime.block_on(measure(pods, events));
    println!("{out}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-extra");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("fake_apiserver.md"), out);
}
