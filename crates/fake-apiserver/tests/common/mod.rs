//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different subset"
)]

pub mod differential;
pub mod kubectl;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{Method, Request};
use fake_apiserver::{FakeApiServer, ServerHandle};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::core::Status;
use serde_json::Value;

/// Every test finishes well inside this.
pub const LIMIT: Duration = Duration::from_secs(20);

pub async fn server() -> ServerHandle {
    FakeApiServer::builder()
        .bookmark_interval(Duration::from_millis(100))
        .start()
        .await
        .expect("start")
}

pub fn pods(server: &ServerHandle, ns: &str) -> Api<Pod> {
    Api::namespaced(server.client(), ns)
}

/// A valid pod (one container with an image, as the server requires) with these labels.
pub fn pod(name: &str, labels: &[(&str, &str)]) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.name = Some(name.to_owned());
    pod.spec = Some(k8s_openapi::api::core::v1::PodSpec {
        containers: vec![k8s_openapi::api::core::v1::Container {
            name: "c".to_owned(),
            image: Some("example/app:1".to_owned()),
            ..Default::default()
        }],
        ..Default::default()
    });
    if !labels.is_empty() {
        pod.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        );
    }
    pod
}

/// The `Status` of a failed call.
pub fn status<T: std::fmt::Debug>(result: kube::Result<T>) -> Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// A raw request; returns the HTTP code and the JSON body (`Null` when not JSON).
pub async fn raw(
    server: &ServerHandle,
    method: Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(kube::client::Body::from(body))
        .expect("request");
    let response = server.client().send(request).await.expect("send");
    let code = response.status().as_u16();
    let bytes = response.into_body().collect_bytes().await.expect("body");
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Assert a JSON body is a failure `Status` with this code and reason.
pub fn assert_status(code: u16, body: &Value, want_code: u16, want_reason: &str) {
    assert_eq!(code, want_code, "{body}");
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["code"], want_code, "{body}");
    assert_eq!(body["reason"], want_reason, "{body}");
    assert_eq!(body["status"], "Failure", "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}
