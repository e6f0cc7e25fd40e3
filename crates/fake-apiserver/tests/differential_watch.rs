//! Differential watch sequences: the events a watch from a resourceVersion sees for a scripted
//! set of writes (a configmap changed and deleted, a pod deleted gracefully), compared between
//! fake-apiserver and, when `FLYWHEEL_REAL_APISERVER_KUBECONFIG` is set, a real kube-apiserver
//! v1.32 (see `differential.rs`).

mod common;

use axum::http::{Method, Request};
use common::differential::{Call, JSON, call, create_namespace, real_client, send};
use common::server;
use kube::Client;
use serde_json::{Value, json};

/// An event a watch saw: its type, the object's name, and its deletion grace period.
type Seen = (String, String, Option<i64>);

/// Opens a watch on `path` from `rv` that ends after a few seconds, runs `writes`, and returns
/// the events the watch saw.
async fn watch_while(client: &Client, path: &str, rv: &str, writes: Vec<Call>) -> Vec<Seen> {
    let request = Request::builder()
        .method(Method::GET)
        .uri(format!(
            "{path}?watch=1&resourceVersion={rv}&timeoutSeconds=3"
        ))
        .body(kube::client::Body::empty())
        .expect("a request");
    let response = client.send(request).await.expect("the watch opens");
    for write in writes {
        let answer = send(client, &write).await;
        assert!(
            answer.code < 300,
            "{} {}: {}",
            write.method,
            write.path,
            answer.body
        );
    }
    let bytes = response
        .into_body()
        .collect_bytes()
        .await
        .expect("the watch ends");
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["type"] != "BOOKMARK")
        .map(|event| {
            let meta = &event["object"]["metadata"];
            (
                event["type"].as_str().unwrap_or_default().to_owned(),
                meta["name"].as_str().unwrap_or_default().to_owned(),
                meta["deletionGracePeriodSeconds"].as_i64(),
            )
        })
        .collect()
}

async fn scenario(client: &Client, ns: &str) -> Vec<Seen> {
    let setup = [
        create_namespace(ns),
        call(
            Method::POST,
            format!("/api/v1/namespaces/{ns}/configmaps"),
            JSON,
            json!({"metadata": {"name": "c"}, "data": {"a": "1"}}),
        ),
        call(
            Method::POST,
            format!("/api/v1/namespaces/{ns}/pods"),
            JSON,
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "example/app:1"}]}}),
        ),
    ];
    let mut rv = String::new();
    for write in setup {
        let answer = send(client, &write).await;
        assert!(answer.code < 300, "setup: {}", answer.body);
        rv = answer.body["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    }
    let mut seen = Vec::new();
    for (kind, writes) in [
        (
            "configmaps",
            vec![
                call(
                    Method::PATCH,
                    format!("/api/v1/namespaces/{ns}/configmaps/c"),
                    "application/merge-patch+json",
                    json!({"data": {"a": "2"}}),
                ),
                call(
                    Method::DELETE,
                    format!("/api/v1/namespaces/{ns}/configmaps/c"),
                    JSON,
                    Value::Null,
                ),
            ],
        ),
        (
            "pods",
            vec![call(
                Method::DELETE,
                format!("/api/v1/namespaces/{ns}/pods/p"),
                JSON,
                Value::Null,
            )],
        ),
    ] {
        let path = format!("/api/v1/namespaces/{ns}/{kind}");
        seen.extend(watch_while(client, &path, &rv, writes).await);
    }
    seen
}

fn expected() -> Vec<Seen> {
    let seen = |t: &str, n: &str, g: Option<i64>| (t.to_owned(), n.to_owned(), g);
    vec![
        seen("MODIFIED", "c", None),
        seen("DELETED", "c", None),
        seen("MODIFIED", "p", Some(0)),
        seen("DELETED", "p", Some(0)),
    ]
}

fn namespace() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("watch-{:x}{nanos:x}", std::process::id())
}

#[tokio::test]
async fn fake_apiserver_watches_see_what_the_real_servers_do() {
    let server = server().await;
    assert_eq!(scenario(&server.client(), &namespace()).await, expected());
}

#[tokio::test]
async fn the_expected_watch_sequences_are_the_real_servers() {
    let Some(client) = real_client().await else {
        return;
    };
    assert_eq!(scenario(&client, &namespace()).await, expected());
}
