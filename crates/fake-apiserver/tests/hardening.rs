//! Hostile and destructive requests: each was once able to crash the server, corrupt its store,
//! exhaust its memory or do what a real kube-apiserver refuses. Every test here failed before the
//! fix it guards.

mod common;

use std::time::Duration;

use axum::http::Method;
use common::{LIMIT, assert_status, pod, pods, raw, server, status};
use fake_apiserver::FakeApiServer;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};

const JSON_PATCH: &str = "application/json-patch+json";

async fn configmap(server: &fake_apiserver::ServerHandle, name: &str) {
    let (code, body) = raw(
        server,
        Method::POST,
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        json!({"metadata": {"name": name}, "data": {"k": "v"}})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(code, 201, "{body}");
}

async fn patch(server: &fake_apiserver::ServerHandle, name: &str, ops: &Value) -> (u16, Value) {
    raw(
        server,
        Method::PATCH,
        &format!("/api/v1/namespaces/default/configmaps/{name}"),
        JSON_PATCH,
        ops.to_string().into_bytes(),
    )
    .await
}

/// Replaces ConfigMap `name`'s data `times` times with a blob of `size` bytes.
async fn rewrite(api: &Api<ConfigMap>, name: &str, times: usize, size: usize) {
    for i in 0..times {
        let blob = format!("{i}{}", "x".repeat(size));
        api.patch(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"data": {"blob": blob}})),
        )
        .await
        .unwrap();
    }
}

/// The server still answers, and `name` is as created.
async fn intact(server: &fake_apiserver::ServerHandle, name: &str) {
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let cm = api.get(name).await.expect("the object is still there");
    assert_eq!(cm.data.unwrap()["k"], "v");
    assert!(cm.metadata.annotations.is_none());
    let all = api
        .list(&ListParams::default())
        .await
        .expect("lists still work");
    assert!(all.items.iter().all(|c| c.metadata.name.is_some()));
}

#[tokio::test]
async fn a_json_patch_that_doubles_its_nesting_is_refused_without_a_crash() {
    let server = server().await;
    configmap(&server, "deep").await;
    // 11 copies, each doubling a chain of nested objects: 2,048 levels from 4.5 KB.
    let mut ops = vec![json!({"op": "add", "path": "/x", "value": {}})];
    ops.extend((0..11).map(
        |k| json!({"op": "copy", "from": "/x", "path": format!("/x{}", "/a".repeat(1 << k))}),
    ));
    let (code, body) = patch(&server, "deep", &Value::Array(ops)).await;
    assert_status(code, &body, 422, "Invalid");
    assert!(
        body["message"].as_str().unwrap().contains("deeper than"),
        "{body}"
    );
    // 120 plain adds, one level each.
    let ops: Vec<Value> = (1..=120)
        .map(|i| json!({"op": "add", "path": "/x".repeat(i), "value": {}}))
        .collect();
    let (code, body) = patch(&server, "deep", &Value::Array(ops)).await;
    assert_status(code, &body, 422, "Invalid");
    intact(&server, "deep").await;
}

#[tokio::test]
async fn a_json_patch_that_copies_the_document_over_and_over_is_bounded() {
    let server = server().await;
    configmap(&server, "copies").await;
    let (code, body) = patch(
        &server,
        "copies",
        &json!([{"op": "add", "path": "/data/blob", "value": "x".repeat(64 * 1024)}]),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    // 24 copies of the whole document: without a bound, 2^24 times the object.
    let ops: Vec<Value> = (0..24)
        .map(|i| json!({"op": "copy", "from": "", "path": format!("/c{i}")}))
        .collect();
    let (code, body) = patch(&server, "copies", &Value::Array(ops)).await;
    assert_status(code, &body, 422, "Invalid");
    let too_many = Value::Array(vec![
        json!({"op": "test", "path": "/kind", "value": "ConfigMap"});
        10_001
    ]);
    let (code, body) = patch(&server, "copies", &too_many).await;
    assert_status(code, &body, 413, "RequestEntityTooLarge");
    assert!(
        body["message"].as_str().unwrap().contains("10000"),
        "{body}"
    );
}

#[tokio::test]
async fn an_object_nested_too_deep_is_refused_not_stored_as_a_phantom() {
    let server = server().await;
    configmap(&server, "plain").await;
    // 110 levels under /data would be stored but could not be read back.
    let mut value = json!("leaf");
    for _ in 0..105 {
        value = json!({ "n": value });
    }
    let (code, body) = patch(
        &server,
        "plain",
        &json!([{"op": "add", "path": "/extra", "value": value}]),
    )
    .await;
    assert_status(code, &body, 422, "Invalid");
    intact(&server, "plain").await;
    assert_eq!(
        server.object_count(),
        5,
        "4 namespaces and the ConfigMap, no phantom"
    );
}

#[tokio::test]
async fn a_watch_timeout_too_large_to_represent_means_no_timeout() {
    let server = server().await;
    // kube caps `timeout`, so the huge value goes on a raw watch request.
    let request = axum::http::Request::builder()
        .uri("/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=9223372036854775807")
        .body(Vec::new())
        .unwrap();
    let events = server
        .client()
        .request_events::<k8s_openapi::api::core::v1::Pod>(request)
        .await
        .unwrap();
    pods(&server, "default")
        .create(&PostParams::default(), &pod("p", &[]))
        .await
        .unwrap();
    let first = tokio::time::timeout(LIMIT, events.boxed().try_next())
        .await
        .expect("an event before the limit")
        .unwrap();
    assert!(matches!(first, Some(WatchEvent::Added(_))), "{first:?}");
}

#[tokio::test]
async fn namespaces_cannot_be_deleted_wholesale_nor_the_system_ones() {
    let server = server().await;
    let (code, body) = raw(
        &server,
        Method::DELETE,
        "/api/v1/namespaces",
        "application/json",
        Vec::new(),
    )
    .await;
    assert_status(code, &body, 405, "MethodNotAllowed");
    let api: Api<Namespace> = Api::all(server.client());
    for name in ["default", "kube-system", "kube-public"] {
        let st = status(api.delete(name, &DeleteParams::default()).await);
        assert_eq!((st.code, st.reason.as_str()), (403, "Forbidden"), "{name}");
        assert_eq!(
            st.message,
            format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted")
        );
    }
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        4
    );
}

#[tokio::test]
async fn nothing_can_be_created_in_a_terminating_namespace() {
    let server = server().await;
    let api: Api<Namespace> = Api::all(server.client());
    let mut ns = Namespace::default();
    ns.metadata.name = Some("closing".into());
    ns.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &ns).await.unwrap();
    api.delete("closing", &DeleteParams::default())
        .await
        .unwrap();
    let st = status(
        pods(&server, "closing")
            .create(&PostParams::default(), &pod("late", &[]))
            .await,
    );
    assert_eq!((st.code, st.reason.as_str()), (403, "Forbidden"));
    assert!(
        st.message.contains("because it is being terminated"),
        "{}",
        st.message
    );
}

#[tokio::test]
async fn a_dry_run_delete_never_deletes() {
    let server = server().await;
    let api = pods(&server, "default");
    api.create(&PostParams::default(), &pod("keep", &[]))
        .await
        .unwrap();
    let dry = DeleteParams {
        dry_run: true,
        ..DeleteParams::default()
    };
    // Simulated, as on the real server: the answer of a delete, and nothing deleted.
    let rv = server.resource_version();
    let answer = api.delete("keep", &dry).await.unwrap().left().unwrap();
    assert!(answer.metadata.deletion_timestamp.is_some());
    let listed = api
        .delete_collection(&dry, &ListParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    api.get("keep").await.expect("still there");
    assert_eq!(server.resource_version(), rv, "no write");
}

#[tokio::test]
async fn poison_metadata_is_refused_and_nothing_is_stored() {
    let server = server().await;
    let path = "/api/v1/namespaces/default/pods";
    let cases = [
        (
            json!({"metadata": {"name": "a", "labels": {"bad key!": "v"}}}),
            422,
            "Invalid",
        ),
        (
            json!({"metadata": {"name": "b", "labels": {"ok": "-bad-value"}}}),
            422,
            "Invalid",
        ),
        (
            json!({"metadata": {"name": "c", "annotations": {"n": 1}}}),
            400,
            "BadRequest",
        ),
        (
            json!({"metadata": {"name": "d", "annotations": {"a/b/c": "x"}}}),
            422,
            "Invalid",
        ),
        (
            json!({"metadata": {"name": "e", "finalizers": "x"}}),
            400,
            "BadRequest",
        ),
    ];
    for (body, want, reason) in cases {
        let (code, answer) = raw(
            &server,
            Method::POST,
            path,
            "application/json",
            body.to_string().into_bytes(),
        )
        .await;
        assert_status(code, &answer, want, reason);
    }
    // And through a patch of a good object.
    pods(&server, "default")
        .create(&PostParams::default(), &pod("good", &[]))
        .await
        .unwrap();
    let (code, answer) = raw(
        &server,
        Method::PATCH,
        &format!("{path}/good"),
        "application/merge-patch+json",
        json!({"metadata": {"annotations": {"n": 1}}})
            .to_string()
            .into_bytes(),
    )
    .await;
    // A patch whose result does not decode is 422 (`patch: Invalid value: ...`), as the real
    // server's patch handler words it.
    assert_status(code, &answer, 422, "Invalid");
    // The typed list still decodes: nothing poisoned it.
    let list = pods(&server, "default")
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
}

#[tokio::test]
async fn a_text_plain_create_is_an_unsupported_media_type() {
    let server = server().await;
    let (code, body) = raw(
        &server,
        Method::POST,
        "/api/v1/namespaces/default/configmaps",
        "text/plain",
        json!({"metadata": {"name": "t"}}).to_string().into_bytes(),
    )
    .await;
    assert_status(code, &body, 415, "UnsupportedMediaType");
}

#[tokio::test]
async fn the_history_is_bounded_by_bytes() {
    let server = FakeApiServer::builder()
        .history_bytes(2 * 1024 * 1024)
        .start()
        .await
        .unwrap();
    configmap(&server, "big").await;
    let first_rv = server.resource_version();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    rewrite(&api, "big", 20, 300 * 1024).await;
    assert!(
        server.history_bytes() <= 2 * 1024 * 1024,
        "{}",
        server.history_bytes()
    );
    assert!(server.history_floor() > first_rv);
    // A watch from before the floor gets the real server's answer.
    let stream = api
        .watch(&WatchParams::default(), &first_rv.to_string())
        .await
        .unwrap();
    let events: Vec<_> = tokio::time::timeout(LIMIT, stream.take(1).try_collect::<Vec<_>>())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&events[0], WatchEvent::Error(e) if e.code == 410),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_watcher_that_stops_reading_is_closed_and_can_resume() {
    let server = FakeApiServer::builder()
        .slow_watcher_timeout(Duration::from_secs(1))
        .history_bytes(256 * 1024 * 1024) // keep every event, so the resume can be checked
        .start()
        .await
        .unwrap();
    configmap(&server, "big").await;
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let start = server.resource_version();
    let mut stream = api
        .watch(&WatchParams::default(), &start.to_string())
        .await
        .unwrap()
        .boxed();
    // 40 MB of events while the client does not read: far more than the socket buffers hold.
    rewrite(&api, "big", 40, 1024 * 1024).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut last = start;
    let mut seen = 0;
    tokio::time::timeout(LIMIT, async {
        while let Some(event) = stream.next().await {
            if let Ok(WatchEvent::Modified(cm)) = event {
                last = cm.metadata.resource_version.unwrap().parse().unwrap();
                seen += 1;
            }
        }
    })
    .await
    .expect("the closed watch ends");
    assert!(
        seen < 40,
        "the stalled watch was closed early ({seen} events)"
    );
    // Resuming from the last event seen delivers the rest: nothing is lost.
    let rest: Vec<_> = api
        .watch(&WatchParams::default(), &last.to_string())
        .await
        .unwrap()
        .take(40 - seen)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rest.len(), 40 - seen);
    assert!(
        rest.iter().all(|e| matches!(e, WatchEvent::Modified(_))),
        "{:?}",
        rest.iter().find(|e| !matches!(e, WatchEvent::Modified(_)))
    );
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_request_head_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = FakeApiServer::builder()
        .header_read_timeout(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let mut half_open = Vec::new();
    for _ in 0..50 {
        let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        stream
            .write_all(b"GET /api HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        half_open.push(stream);
    }
    for mut stream in half_open {
        let mut buf = Vec::new();
        // The server closes it (with or without a 408 first): the read reaches the end.
        tokio::time::timeout(LIMIT, stream.read_to_end(&mut buf))
            .await
            .expect("closed by the server")
            .ok();
    }
    // A well-behaved client is served as before.
    let api: Api<Namespace> = Api::all(server.client());
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        4
    );
}

#[tokio::test]
async fn the_kubeconfig_is_private_and_never_written_through_a_symlink() {
    use std::os::unix::fs::PermissionsExt;
    let server = server().await;
    let dir = std::env::temp_dir().join(format!("fake-apiserver-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("victim");
    std::fs::write(&target, "precious").unwrap();
    let path = dir.join("config");
    let _ = std::fs::remove_file(&path);
    std::os::unix::fs::symlink(&target, &path).unwrap();
    server.write_kubeconfig(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the symlink was replaced, not followed"
    );
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains(server.url())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
