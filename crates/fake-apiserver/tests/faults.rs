//! Fault injection through the `Faults` handle.
// spec: 3.6 (error classification), 3.9 (fault injection the tests need).

mod common;

use std::time::Duration;

use common::*;
use fake_apiserver::{ApiError, FaultRule, Verb};
use futures::{StreamExt, TryStreamExt};
use kube::api::{ListParams, PostParams, WatchEvent, WatchParams};

#[tokio::test]
async fn fail_next_requests_with_a_status() {
    let server = server().await;
    let api = pods(&server, "default");
    let faults = server.faults();
    faults.fail(
        FaultRule::status(429)
            .verb(Verb::List)
            .resource("pods")
            .times(2)
            .retry_after(3),
    );
    for _ in 0..2 {
        let s = status(api.list(&ListParams::default()).await);
        assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests"));
    }
    api.list(&ListParams::default()).await.unwrap();
    // Retry-After header is set
    faults.fail(FaultRule::status(429).retry_after(2));
    let response = server
        .client()
        .send(
            axum::http::Request::get("/api/v1/pods")
                .body(kube::client::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "2");

    for (code, reason) in [
        (500, "InternalError"),
        (503, "ServiceUnavailable"),
        (410, "Expired"),
    ] {
        faults.fail_next(1, code);
        let s = status(api.get("x").await);
        assert_eq!((s.code, s.reason.as_str()), (code, reason));
    }
    // verb filter: creates pass while gets fail
    faults.fail(FaultRule::status(500).verb(Verb::Get).always());
    api.create(&PostParams::default(), &pod("a", &[]))
        .await
        .unwrap();
    assert_eq!(status(api.get("a").await).code, 500);
    faults.clear();
    api.get("a").await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn latency_delays_requests() {
    let server = server().await;
    server.faults().set_latency(Duration::from_millis(200));
    let started = tokio::time::Instant::now();
    pods(&server, "default")
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
    server.shutdown().await;
}

#[tokio::test]
async fn close_watches_ends_streams_normally_and_errors_can_be_injected() {
    let server = server().await;
    let api = pods(&server, "default");
    let wp = WatchParams::default().disable_bookmarks().timeout(60);
    let rv = server.resource_version().to_string();
    let mut a = api.watch(&wp, &rv).await.unwrap().boxed();
    let mut b = api.watch(&wp, &rv).await.unwrap().boxed();
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.faults().close_watches();
    for s in [&mut a, &mut b] {
        assert!(
            tokio::time::timeout(LIMIT, s.try_next())
                .await
                .unwrap()
                .unwrap()
                .is_none()
        );
    }
    let mut c = api.watch(&wp, &rv).await.unwrap().boxed();
    tokio::time::sleep(Duration::from_millis(50)).await;
    server
        .faults()
        .fail_watches(ApiError::internal("etcd went away"));
    match tokio::time::timeout(LIMIT, c.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Error(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (500, "InternalError"))
        }
        other => panic!("{other:?}"),
    }
    assert!(
        tokio::time::timeout(LIMIT, c.try_next())
            .await
            .unwrap()
            .unwrap()
            .is_none()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn hung_watch_sends_nothing_until_closed() {
    let server = server().await; // bookmarks every 100 ms for normal watches
    let api = pods(&server, "default");
    server.faults().hang_next_watches(1);
    let mut hung = api
        .watch(&WatchParams::default().timeout(60), "")
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &pod("a", &[]))
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(400), hung.next())
            .await
            .is_err(),
        "no data, not even bookmarks"
    );
    // the next watch is normal
    let mut normal = api
        .watch(&WatchParams::default().timeout(60), "")
        .await
        .unwrap()
        .boxed();
    assert!(matches!(
        tokio::time::timeout(LIMIT, normal.try_next())
            .await
            .unwrap()
            .unwrap(),
        Some(WatchEvent::Added(_))
    ));
    server.faults().close_watches();
    assert!(
        tokio::time::timeout(LIMIT, hung.try_next())
            .await
            .unwrap()
            .unwrap()
            .is_none()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn restart_with_new_history_closes_watches_and_expires_old_versions() {
    let server = server().await;
    let api = pods(&server, "default");
    api.create(&PostParams::default(), &pod("a", &[]))
        .await
        .unwrap();
    let old = server.resource_version();
    let mut w = api
        .watch(
            &WatchParams::default().disable_bookmarks().timeout(60),
            &old.to_string(),
        )
        .await
        .unwrap()
        .boxed();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let new = server.faults().restart_with_new_history(1000);
    assert_eq!(new, old + 1000);
    assert!(
        tokio::time::timeout(LIMIT, w.try_next())
            .await
            .unwrap()
            .unwrap()
            .is_none()
    );
    let mut w = api
        .watch(
            &WatchParams::default().disable_bookmarks().timeout(60),
            &old.to_string(),
        )
        .await
        .unwrap()
        .boxed();
    assert!(
        matches!(tokio::time::timeout(LIMIT, w.try_next()).await.unwrap().unwrap(), Some(WatchEvent::Error(s)) if s.code == 410)
    );
    // objects survive; new writes continue from the new version
    let a = api.get("a").await.unwrap();
    assert_eq!(a.metadata.name.as_deref(), Some("a"));
    let b = api
        .create(&PostParams::default(), &pod("b", &[]))
        .await
        .unwrap();
    assert_eq!(b.metadata.resource_version, Some((new + 1).to_string()));
    server.shutdown().await;
}
