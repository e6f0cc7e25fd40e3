//! WATCH: from a resourceVersion, 410 after compaction, synthetic ADDED, bookmarks, timeouts,
//! selectors and streaming lists, through `kube::Api::watch`.
// spec: 3.5 (RF-11..RF-16), 3.8 (RF-19..RF-21), 3.9.

mod common;

use std::time::Duration;

use common::*;
use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

/// Short names for events: ("ADDED", name, rv) / ("BOOKMARK", "", rv) / ("ERROR", reason, code).
async fn next(
    stream: &mut (impl Stream<Item = kube::Result<WatchEvent<Pod>>> + Unpin),
) -> Option<(String, String, String)> {
    let event = tokio::time::timeout(LIMIT, stream.try_next())
        .await
        .expect("event in time")
        .expect("stream ok")?;
    let meta = |p: &Pod| {
        (
            p.metadata.name.clone().unwrap_or_default(),
            p.metadata.resource_version.clone().unwrap_or_default(),
        )
    };
    Some(match event {
        WatchEvent::Added(p) => ("ADDED".into(), meta(&p).0, meta(&p).1),
        WatchEvent::Modified(p) => ("MODIFIED".into(), meta(&p).0, meta(&p).1),
        WatchEvent::Deleted(p) => ("DELETED".into(), meta(&p).0, meta(&p).1),
        WatchEvent::Bookmark(b) => {
            let end = b
                .metadata
                .annotations
                .get("k8s.io/initial-events-end")
                .cloned()
                .unwrap_or_default();
            ("BOOKMARK".into(), end, b.metadata.resource_version)
        }
        WatchEvent::Error(s) => ("ERROR".into(), s.reason.clone(), s.code.to_string()),
    })
}

fn no_bookmarks() -> WatchParams {
    WatchParams::default().disable_bookmarks().timeout(60)
}

#[tokio::test]
async fn watch_from_a_resource_version_sees_every_later_change_in_order() {
    let server = server().await;
    let api = pods(&server, "default");
    let a = api
        .create(&PostParams::default(), &pod("a", &[]))
        .await
        .unwrap();
    let from = a.metadata.resource_version.clone().unwrap();
    api.create(&PostParams::default(), &pod("b", &[]))
        .await
        .unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}})),
    )
    .await
    .unwrap();
    api.delete("b", &Default::default()).await.unwrap();
    let mut stream = api.watch(&no_bookmarks(), &from).await.unwrap().boxed();
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(next(&mut stream).await.unwrap());
    }
    let kinds: Vec<(&str, &str)> = got
        .iter()
        .map(|(k, n, _)| (k.as_str(), n.as_str()))
        .collect();
    // (a pod's delete is two events: marked, then removed)
    assert_eq!(
        kinds,
        [
            ("ADDED", "b"),
            ("MODIFIED", "a"),
            ("MODIFIED", "b"),
            ("DELETED", "b")
        ]
    );
    let rvs: Vec<u64> = got.iter().map(|e| e.2.parse().unwrap()).collect();
    assert!(rvs.windows(2).all(|w| w[0] < w[1]), "{rvs:?}");
    // live events follow
    api.create(&PostParams::default(), &pod("c", &[]))
        .await
        .unwrap();
    assert_eq!(next(&mut stream).await.unwrap().1, "c");
    server.shutdown().await;
}

#[tokio::test]
async fn watch_from_a_compacted_version_gets_410_as_an_error_event() {
    let server = server().await;
    let api = pods(&server, "default");
    let a = api
        .create(&PostParams::default(), &pod("a", &[]))
        .await
        .unwrap();
    api.create(&PostParams::default(), &pod("b", &[]))
        .await
        .unwrap();
    server.faults().compact();
    let mut stream = api
        .watch(
            &no_bookmarks(),
            a.metadata.resource_version.as_deref().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    assert_eq!(
        next(&mut stream).await.unwrap(),
        ("ERROR".into(), "Expired".into(), "410".into())
    );
    assert!(
        next(&mut stream).await.is_none(),
        "stream ends after the error"
    );
    // from the compaction point itself it works
    let mut stream = api
        .watch(&no_bookmarks(), &server.resource_version().to_string())
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &pod("c", &[]))
        .await
        .unwrap();
    assert_eq!(next(&mut stream).await.unwrap().1, "c");
    server.shutdown().await;
}

#[tokio::test]
async fn a_small_history_window_expires_old_versions() {
    let server = fake_apiserver::FakeApiServer::builder()
        .history(5)
        .start()
        .await
        .unwrap();
    let api = pods(&server, "default");
    let from = server.resource_version();
    for i in 0..10 {
        api.create(&PostParams::default(), &pod(&format!("p{i}"), &[]))
            .await
            .unwrap();
    }
    let mut stream = api
        .watch(&no_bookmarks(), &from.to_string())
        .await
        .unwrap()
        .boxed();
    assert_eq!(next(&mut stream).await.unwrap().2, "410");
    assert_eq!(server.history_floor(), server.resource_version() - 5);
    server.shutdown().await;
}

#[tokio::test]
async fn rv_empty_and_zero_start_with_synthetic_added_events() {
    let server = server().await;
    let api = pods(&server, "default");
    for name in ["a", "b"] {
        api.create(&PostParams::default(), &pod(name, &[]))
            .await
            .unwrap();
    }
    for rv in ["", "0"] {
        let mut stream = api.watch(&no_bookmarks(), rv).await.unwrap().boxed();
        assert_eq!(next(&mut stream).await.unwrap().0, "ADDED");
        assert_eq!(next(&mut stream).await.unwrap().0, "ADDED");
        api.delete("b", &Default::default()).await.unwrap();
        // A pod is deleted in two steps (marked, then removed), as on the real server.
        assert_eq!(next(&mut stream).await.unwrap().0, "MODIFIED");
        assert_eq!(next(&mut stream).await.unwrap().0, "DELETED");
        api.create(&PostParams::default(), &pod("b", &[]))
            .await
            .unwrap();
        assert_eq!(next(&mut stream).await.unwrap().0, "ADDED");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn bookmarks_carry_only_a_resource_version() {
    let server = server().await; // bookmarks every 100 ms
    let api = pods(&server, "default");
    let now = server.resource_version().to_string();
    let mut stream = api
        .watch(&WatchParams::default().timeout(60), &now)
        .await
        .unwrap()
        .boxed();
    let (kind, _, rv) = next(&mut stream).await.unwrap();
    assert_eq!((kind.as_str(), rv.as_str()), ("BOOKMARK", now.as_str()));
    let b = api
        .create(&PostParams::default(), &pod("b", &[]))
        .await
        .unwrap();
    assert_eq!(next(&mut stream).await.unwrap().0, "ADDED");
    let (kind, _, rv) = next(&mut stream).await.unwrap();
    assert_eq!(kind, "BOOKMARK");
    assert_eq!(Some(rv), b.metadata.resource_version);
    server.shutdown().await;
}

#[tokio::test]
async fn timeout_seconds_ends_the_stream_normally() {
    let server = server().await;
    let api = pods(&server, "default");
    let started = tokio::time::Instant::now();
    let mut stream = api
        .watch(&no_bookmarks().timeout(1), "")
        .await
        .unwrap()
        .boxed();
    assert!(next(&mut stream).await.is_none());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn send_initial_events_ends_with_the_annotated_bookmark() {
    let server = server().await;
    let api = pods(&server, "default");
    for name in ["a", "b", "c"] {
        api.create(&PostParams::default(), &pod(name, &[]))
            .await
            .unwrap();
    }
    let at = server.resource_version().to_string();
    let mut stream = api
        .watch(&WatchParams::streaming_lists().timeout(60), "")
        .await
        .unwrap()
        .boxed();
    let mut names = Vec::new();
    loop {
        let (kind, name, rv) = next(&mut stream).await.unwrap();
        match kind.as_str() {
            "ADDED" => names.push(name),
            "BOOKMARK" if name == "true" => {
                assert_eq!(rv, at);
                break;
            }
            "BOOKMARK" => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(names, ["a", "b", "c"]);
    // the same stream continues with changes
    api.delete("a", &Default::default()).await.unwrap();
    let mut changes = Vec::new();
    while changes.len() < 2 {
        let (kind, name, _) = next(&mut stream).await.unwrap();
        if kind != "BOOKMARK" {
            changes.push((kind, name));
        }
    }
    // (a pod's delete is two events: marked, then removed)
    assert_eq!(
        changes,
        [
            ("MODIFIED".into(), "a".into()),
            ("DELETED".into(), "a".into())
        ]
    );
    // sendInitialEvents without NotOlderThan is refused
    let (code, body) = raw(&server, axum::http::Method::GET, "/api/v1/namespaces/default/pods?watch=true&sendInitialEvents=true&allowWatchBookmarks=true", "", Vec::new()).await;
    assert_status(code, &body, 422, "Invalid");
    server.shutdown().await;
}

/// A server with pod `a` labelled `app=web`, and a watch of `app=web` from now on.
async fn watched_web_pod() -> (
    fake_apiserver::ServerHandle,
    kube::Api<Pod>,
    futures::stream::BoxStream<'static, kube::Result<WatchEvent<Pod>>>,
) {
    let server = server().await;
    let api = pods(&server, "default");
    api.create(&PostParams::default(), &pod("a", &[("app", "web")]))
        .await
        .unwrap();
    let from = server.resource_version().to_string();
    let stream = api
        .watch(&no_bookmarks().labels("app=web"), &from)
        .await
        .unwrap()
        .boxed();
    (server, api, stream)
}

#[tokio::test]
async fn selectors_turn_updates_into_added_and_deleted() {
    let (server, api, mut stream) = watched_web_pod().await;
    let set = |v: &str| Patch::Merge(json!({"metadata": {"labels": {"app": v}}}));
    api.patch("a", &PatchParams::default(), &set("db"))
        .await
        .unwrap(); // leaves the selection
    api.create(&PostParams::default(), &pod("other", &[("app", "db")]))
        .await
        .unwrap(); // never seen
    api.patch("a", &PatchParams::default(), &set("web"))
        .await
        .unwrap(); // comes back
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"n": "1"}}})),
    )
    .await
    .unwrap();
    let kinds: Vec<String> = [
        next(&mut stream).await,
        next(&mut stream).await,
        next(&mut stream).await,
    ]
    .into_iter()
    .map(|e| e.unwrap().0)
    .collect();
    assert_eq!(kinds, ["DELETED", "ADDED", "MODIFIED"]);
    // another namespace is not seen either
    let mut fields = pods(&server, "default")
        .watch(
            &no_bookmarks().fields("metadata.name=a"),
            &server.resource_version().to_string(),
        )
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &pod("zz", &[]))
        .await
        .unwrap();
    api.delete("a", &Default::default()).await.unwrap();
    // (a pod's delete is two events: marked, then removed)
    assert_eq!(next(&mut fields).await.unwrap().0, "MODIFIED");
    assert_eq!(
        next(&mut fields).await.unwrap(),
        (
            "DELETED".into(),
            "a".into(),
            server.resource_version().to_string()
        )
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_object_leaving_the_selection_is_deleted_in_its_last_matching_state() {
    // As kube-apiserver v1.32.13 does (checked by hand against it): the DELETED event carries
    // the labels that matched, and the resourceVersion of the change that made them stop.
    let (server, api, mut stream) = watched_web_pod().await;
    let patched = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": "db"}}})),
        )
        .await
        .unwrap();
    let event = tokio::time::timeout(LIMIT, stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let WatchEvent::Deleted(left) = event else {
        panic!("expected DELETED, got {event:?}");
    };
    assert_eq!(left.metadata.labels.unwrap()["app"], "web");
    assert_eq!(
        left.metadata.resource_version,
        patched.metadata.resource_version
    );
    server.shutdown().await;
}

#[tokio::test]
async fn removing_the_last_finalizer_deletes_with_the_last_stored_state() {
    // As kube-apiserver v1.32.13 does (checked by hand against it): one DELETED event, whose
    // object still lists the finalizer, at the resourceVersion of the removal.
    let server = server().await;
    let api = pods(&server, "default");
    let mut held = pod("held", &[]);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();
    api.delete("held", &Default::default()).await.unwrap();
    let from = server.resource_version().to_string();
    let mut stream = api.watch(&no_bookmarks(), &from).await.unwrap().boxed();
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    let event = tokio::time::timeout(LIMIT, stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let WatchEvent::Deleted(gone) = event else {
        panic!("expected DELETED, got {event:?}");
    };
    assert_eq!(
        gone.metadata.finalizers,
        Some(vec!["example.com/hold".to_owned()])
    );
    assert_eq!(
        gone.metadata.resource_version,
        Some(server.resource_version().to_string())
    );
    server.shutdown().await;
}

#[tokio::test]
async fn watch_at_a_future_version_is_too_large() {
    let server = server().await;
    let api = pods(&server, "default");
    let s = status(
        api.watch(
            &no_bookmarks(),
            &(server.resource_version() + 10).to_string(),
        )
        .await
        .map(|_| ()),
    );
    assert_eq!((s.code, s.reason.as_str()), (504, "Timeout"));
    server.shutdown().await;
}
