//! LIST: selectors, pagination and resourceVersion semantics, through `kube::Api`.
// spec: 3.4 (RF-6..RF-10), 3.9.

mod common;

use common::*;
use kube::api::{ListParams, PostParams, VersionMatch};

fn names(list: &kube::core::ObjectList<k8s_openapi::api::core::v1::Pod>) -> Vec<String> {
    list.items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

#[tokio::test]
async fn label_and_field_selectors() {
    let server = server().await;
    let api = pods(&server, "default");
    for (name, app, tier) in [
        ("a", "web", "front"),
        ("b", "web", "back"),
        ("c", "db", "back"),
    ] {
        api.create(
            &PostParams::default(),
            &pod(name, &[("app", app), ("tier", tier)]),
        )
        .await
        .unwrap();
    }
    let cases = [
        ("app=web", vec!["a", "b"]),
        ("app!=web", vec!["c"]),
        ("tier in (front,x)", vec!["a"]),
        ("app notin (web),tier", vec!["c"]),
        ("!tier", vec![]),
    ];
    for (sel, want) in cases {
        assert_eq!(
            names(&api.list(&ListParams::default().labels(sel)).await.unwrap()),
            want,
            "{sel}"
        );
    }
    assert_eq!(
        names(
            &api.list(&ListParams::default().fields("metadata.name=b"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    assert_eq!(
        names(
            &api.list(&ListParams::default().fields("metadata.name!=b,metadata.namespace=default"))
                .await
                .unwrap()
        ),
        ["a", "c"]
    );
    let all: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::all(server.client());
    assert_eq!(
        all.list(&ListParams::default().fields("metadata.namespace=kube-system"))
            .await
            .unwrap()
            .items
            .len(),
        0
    );
    server.shutdown().await;
}

#[tokio::test]
async fn pagination_pins_the_resource_version() {
    let server = server().await;
    let api = pods(&server, "default");
    for i in 0..10 {
        api.create(&PostParams::default(), &pod(&format!("p{i}"), &[]))
            .await
            .unwrap();
    }
    let first = api.list(&ListParams::default().limit(4)).await.unwrap();
    assert_eq!(names(&first), ["p0", "p1", "p2", "p3"]);
    let token = first.metadata.continue_.clone().expect("continue");
    let rv = first.metadata.resource_version.clone();
    // changes after the first page are not seen by later pages
    api.create(&PostParams::default(), &pod("p5a", &[]))
        .await
        .unwrap();
    api.delete("p6", &Default::default()).await.unwrap();
    let second = api
        .list(&ListParams::default().limit(4).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(&second), ["p4", "p5", "p6", "p7"]);
    assert_eq!(second.metadata.resource_version, rv);
    let third = api
        .list(
            &ListParams::default()
                .limit(4)
                .continue_token(second.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(names(&third), ["p8", "p9"]);
    assert!(third.metadata.continue_.is_none());

    // the whole list now
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        10
    );

    // once the history is compacted the token expires: 410
    server.faults().compact();
    let s = status(
        api.list(&ListParams::default().limit(4).continue_token(&token))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (410, "Expired"));
    server.shutdown().await;
}

#[tokio::test]
async fn pages_with_a_selector_are_filled() {
    let server = server().await;
    let api = pods(&server, "default");
    for i in 0..20 {
        let app = if i % 3 == 0 { "x" } else { "y" };
        api.create(
            &PostParams::default(),
            &pod(&format!("p{i:02}"), &[("app", app)]),
        )
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut lp = ListParams::default().labels("app=x").limit(2);
    loop {
        let page = api.list(&lp).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(names(&page));
        match page.metadata.continue_ {
            Some(token) => lp = lp.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(seen, ["p00", "p03", "p06", "p09", "p12", "p15", "p18"]);
    server.shutdown().await;
}

#[tokio::test]
async fn resource_version_semantics() {
    let server = server().await;
    let api = pods(&server, "default");
    let a = api
        .create(&PostParams::default(), &pod("a", &[]))
        .await
        .unwrap();
    let rv_a: u64 = a.metadata.resource_version.unwrap().parse().unwrap();
    api.create(&PostParams::default(), &pod("b", &[]))
        .await
        .unwrap();
    let now = server.resource_version();

    // "" and "0": newest state; "0" ignores limit (as a watch cache does)
    let l = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(l.metadata.resource_version, Some(now.to_string()));
    assert_eq!(
        api.list(&ListParams::default().match_any())
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    // (kube drops resourceVersion=0 when a limit is set, so ask over raw HTTP)
    let (code, any) = raw(
        &server,
        axum::http::Method::GET,
        "/api/v1/namespaces/default/pods?resourceVersion=0&limit=1",
        "",
        Vec::new(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(any["items"].as_array().unwrap().len(), 2);
    assert!(any["metadata"].get("continue").is_none());

    // N, NotOlderThan: the newest state, which is at least N
    let lp = ListParams {
        resource_version: Some(rv_a.to_string()),
        version_match: Some(VersionMatch::NotOlderThan),
        ..Default::default()
    };
    let l = api.list(&lp).await.unwrap();
    assert_eq!(
        (l.items.len(), l.metadata.resource_version),
        (2, Some(now.to_string()))
    );

    // N, Exact: the state at N
    let lp = ListParams {
        resource_version: Some(rv_a.to_string()),
        version_match: Some(VersionMatch::Exact),
        ..Default::default()
    };
    let l = api.list(&lp).await.unwrap();
    assert_eq!(names(&l), ["a"]);
    assert_eq!(l.metadata.resource_version, Some(rv_a.to_string()));
    // N unset match with limit: exact, too (legacy rule)
    let lp = ListParams {
        resource_version: Some(rv_a.to_string()),
        limit: Some(10),
        ..Default::default()
    };
    assert_eq!(names(&api.list(&lp).await.unwrap()), ["a"]);

    // too large: 504 with the ResourceVersionTooLarge cause
    let lp = ListParams {
        resource_version: Some((now + 100).to_string()),
        version_match: Some(VersionMatch::NotOlderThan),
        ..Default::default()
    };
    let s = status(api.list(&lp).await);
    assert_eq!((s.code, s.reason.as_str()), (504, "Timeout"));
    assert_eq!(
        s.details.unwrap().causes[0].reason,
        "ResourceVersionTooLarge"
    );

    // compacted: exact reads of old versions are gone, newest reads still work
    server.faults().compact();
    let lp = ListParams {
        resource_version: Some(rv_a.to_string()),
        version_match: Some(VersionMatch::Exact),
        ..Default::default()
    };
    let s = status(api.list(&lp).await);
    assert_eq!((s.code, s.reason.as_str()), (410, "Expired"));
    let lp = ListParams {
        resource_version: Some(rv_a.to_string()),
        version_match: Some(VersionMatch::NotOlderThan),
        ..Default::default()
    };
    assert_eq!(api.list(&lp).await.unwrap().items.len(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn exact_reads_undo_later_changes() {
    let server = server().await;
    let api = pods(&server, "default");
    api.create(&PostParams::default(), &pod("a", &[("v", "1")]))
        .await
        .unwrap();
    api.create(&PostParams::default(), &pod("b", &[]))
        .await
        .unwrap();
    let at = server.resource_version();
    api.patch(
        "a",
        &Default::default(),
        &kube::api::Patch::Merge(serde_json::json!({"metadata": {"labels": {"v": "2"}}})),
    )
    .await
    .unwrap();
    api.delete("b", &Default::default()).await.unwrap();
    api.create(&PostParams::default(), &pod("c", &[]))
        .await
        .unwrap();
    let lp = ListParams {
        resource_version: Some(at.to_string()),
        version_match: Some(VersionMatch::Exact),
        ..Default::default()
    };
    let old = api.list(&lp).await.unwrap();
    assert_eq!(names(&old), ["a", "b"]);
    assert_eq!(old.items[0].metadata.labels.as_ref().unwrap()["v"], "1");
    assert_eq!(
        names(&api.list(&lp.clone().labels("v=1")).await.unwrap()),
        ["a"]
    );
    server.shutdown().await;
}
