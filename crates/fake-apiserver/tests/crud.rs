//! Create, get, update, patch, delete, status, finalizers and bad input, through `kube::Api`.
// spec: 3.9 (server semantics relied on), issue 6 point 3 and "Bad input".

mod common;

use axum::http::Method;
use common::*;
use fake_apiserver::FakeApiServer;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PodStatus};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn create_sets_server_fields_and_rejects_duplicates() {
    let server = server().await;
    let api = pods(&server, "default");
    let before = server.resource_version();
    let created = api
        .create(&PostParams::default(), &pod("a", &[]))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.as_deref().is_some_and(|u| u.len() == 36));
    assert!(meta.creation_timestamp.is_some());
    assert_eq!(meta.generation, None, "pods have no generation in v1.32");
    assert_eq!(meta.namespace.as_deref(), Some("default"));
    let rv: u64 = meta.resource_version.as_deref().unwrap().parse().unwrap();
    assert_eq!(rv, before + 1);
    assert_eq!(api.get("a").await.unwrap().metadata, created.metadata);

    let s = status(api.create(&PostParams::default(), &pod("a", &[])).await);
    assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));
    // a failed write changes nothing
    assert_eq!(server.resource_version(), before + 1);
    server.shutdown().await;
}

#[tokio::test]
async fn create_needs_an_existing_namespace() {
    let server = server().await;
    let s = status(
        pods(&server, "nowhere")
            .create(&PostParams::default(), &pod("a", &[]))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
    assert!(
        s.message.contains("namespaces \"nowhere\""),
        "{}",
        s.message
    );

    let ns_api: Api<Namespace> = Api::all(server.client());
    let mut ns = Namespace::default();
    ns.metadata.name = Some("team".into());
    ns_api.create(&PostParams::default(), &ns).await.unwrap();
    pods(&server, "team")
        .create(&PostParams::default(), &pod("a", &[]))
        .await
        .unwrap();
    // Without a namespace controller (a bare kube-apiserver), a deleted namespace stays
    // Terminating with what it holds.
    let terminating = ns_api
        .delete("team", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("the namespace, marked for deletion");
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    assert_eq!(
        terminating.spec.and_then(|s| s.finalizers),
        Some(vec!["kubernetes".to_owned()])
    );
    pods(&server, "team").get("a").await.expect("still there");
    server.shutdown().await;
}

#[tokio::test]
async fn the_namespace_controller_empties_a_deleted_namespace_then_removes_it() {
    let server = FakeApiServer::builder()
        .namespace_controller(true)
        .start()
        .await
        .unwrap();
    let ns_api: Api<Namespace> = Api::all(server.client());
    let mut ns = Namespace::default();
    ns.metadata.name = Some("team".into());
    ns_api.create(&PostParams::default(), &ns).await.unwrap();
    let api = pods(&server, "team");
    api.create(&PostParams::default(), &pod("plain", &[]))
        .await
        .unwrap();
    let mut held = pod("held", &[]);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();
    ns_api
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    // The plain pod goes; the held one is marked and keeps the namespace.
    for _ in 0..200 {
        if api.get_opt("plain").await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        api.get_opt("plain").await.unwrap().is_none(),
        "the plain pod is deleted"
    );
    assert!(
        api.get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    assert!(ns_api.get_opt("team").await.unwrap().is_some());
    api.patch(
        "held",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    for _ in 0..200 {
        if ns_api.get_opt("team").await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        ns_api.get_opt("team").await.unwrap().is_none(),
        "the namespace is gone"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn generate_name() {
    let server = server().await;
    let mut p = pod("", &[]);
    p.metadata.name = None;
    p.metadata.generate_name = Some("web-".into());
    let a = pods(&server, "default")
        .create(&PostParams::default(), &p)
        .await
        .unwrap();
    let b = pods(&server, "default")
        .create(&PostParams::default(), &p)
        .await
        .unwrap();
    let (a, b) = (a.metadata.name.unwrap(), b.metadata.name.unwrap());
    assert!(a.starts_with("web-") && a.len() == 9, "{a}");
    assert_ne!(a, b);
    server.shutdown().await;
}

#[tokio::test]
async fn update_uses_optimistic_concurrency() {
    let server = server().await;
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("c".into());
    let v1 = api.create(&PostParams::default(), &cm).await.unwrap();

    let mut v2 = v1.clone();
    v2.data = Some([("k".to_owned(), "1".to_owned())].into());
    let v2 = api.replace("c", &PostParams::default(), &v2).await.unwrap();
    assert_ne!(v2.metadata.resource_version, v1.metadata.resource_version);
    assert_eq!(v2.metadata.uid, v1.metadata.uid);
    assert_eq!(
        v2.metadata.creation_timestamp,
        v1.metadata.creation_timestamp
    );

    // stale resourceVersion
    let mut stale = v1.clone();
    stale.data = Some([("k".to_owned(), "2".to_owned())].into());
    let s = status(api.replace("c", &PostParams::default(), &stale).await);
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert_eq!(api.get("c").await.unwrap().data, v2.data);

    // an update without resourceVersion is unconditional
    let mut blind = v2.clone();
    blind.metadata.resource_version = None;
    blind.data = Some([("k".to_owned(), "3".to_owned())].into());
    api.replace("c", &PostParams::default(), &blind)
        .await
        .unwrap();

    // a no-op update writes nothing
    let current = api.get("c").await.unwrap();
    let rv = server.resource_version();
    let same = api
        .replace("c", &PostParams::default(), &current)
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version,
        current.metadata.resource_version
    );
    assert_eq!(server.resource_version(), rv);

    // missing object
    let mut ghost = cm.clone();
    ghost.metadata.name = Some("ghost".into());
    assert_eq!(
        status(api.replace("ghost", &PostParams::default(), &ghost).await).code,
        404
    );
    server.shutdown().await;
}

#[tokio::test]
async fn generation_bumps_on_spec_changes_only_and_status_is_a_subresource() {
    let server = server().await;
    let api: Api<Deployment> = Api::namespaced(server.client(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": { "name": "d" },
        "spec": { "replicas": 1, "selector": { "matchLabels": { "a": "b" } },
                  "template": { "metadata": { "labels": { "a": "b" } },
                                "spec": { "containers": [{ "name": "c", "image": "x" }] } } }
    }))
    .unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();
    let pp = PatchParams::default();
    let d = api
        .patch(
            "d",
            &pp,
            &Patch::Merge(json!({ "metadata": { "labels": { "x": "y" } } })),
        )
        .await
        .unwrap();
    assert_eq!(
        d.metadata.generation,
        Some(1),
        "metadata change keeps generation"
    );
    let d = api
        .patch(
            "d",
            &pp,
            &Patch::Merge(json!({ "spec": { "replicas": 3 } })),
        )
        .await
        .unwrap();
    assert_eq!(
        d.metadata.generation,
        Some(2),
        "spec change bumps generation"
    );

    // status through the main resource is ignored...
    let d = api
        .patch(
            "d",
            &pp,
            &Patch::Merge(json!({ "status": { "replicas": 3 } })),
        )
        .await
        .unwrap();
    // (a Deployment always has a `status`, `{}` before a controller writes one, as on the
    // real server)
    assert_eq!(d.status.unwrap_or_default().replicas, None);
    // ...and through /status it is applied, without touching spec or generation
    let d = api
        .patch_status(
            "d",
            &pp,
            &Patch::Merge(json!({ "status": { "replicas": 3 }, "spec": { "replicas": 9 } })),
        )
        .await
        .unwrap();
    assert_eq!(d.status.unwrap().replicas, Some(3));
    assert_eq!(d.spec.unwrap().replicas, Some(3));
    assert_eq!(d.metadata.generation, Some(2));

    let pods = pods(&server, "default");
    let p = pods
        .create(&PostParams::default(), &pod("p", &[]))
        .await
        .unwrap();
    let mut with_status = p.clone();
    with_status.status = Some(PodStatus {
        phase: Some("Running".into()),
        ..Default::default()
    });
    let p = pods
        .replace_status("p", &PostParams::default(), &with_status)
        .await
        .unwrap();
    assert_eq!(p.status.unwrap().phase.as_deref(), Some("Running"));
    assert_eq!(
        pods.get_status("p")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Running")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn merge_patch_and_json_patch() {
    let server = server().await;
    let api = pods(&server, "default");
    api.create(&PostParams::default(), &pod("p", &[("a", "1"), ("b", "2")]))
        .await
        .unwrap();
    let p = api
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "a": null, "c": "3" } } })),
        )
        .await
        .unwrap();
    let labels = p.metadata.labels.unwrap();
    assert_eq!(labels.keys().collect::<Vec<_>>(), ["b", "c"]);

    // a merge patch carrying a stale resourceVersion is a conflict
    let s = status(
        api.patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "resourceVersion": "1" } })),
        )
        .await,
    );
    assert_eq!(s.code, 409);

    let ops = json!([
        { "op": "add", "path": "/metadata/annotations", "value": { "note": "x" } },
        { "op": "replace", "path": "/metadata/labels/b", "value": "20" },
        { "op": "test", "path": "/metadata/labels/c", "value": "3" },
    ]);
    let (code, body) = raw(
        &server,
        Method::PATCH,
        "/api/v1/namespaces/default/pods/p",
        "application/json-patch+json",
        ops.to_string().into_bytes(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["metadata"]["annotations"]["note"], "x");
    assert_eq!(body["metadata"]["labels"]["b"], "20");

    let failing = json!([{ "op": "test", "path": "/metadata/labels/c", "value": "nope" }]);
    let (code, body) = raw(
        &server,
        Method::PATCH,
        "/api/v1/namespaces/default/pods/p",
        "application/json-patch+json",
        failing.to_string().into_bytes(),
    )
    .await;
    assert_status(code, &body, 422, "Invalid");
    let (code, body) = raw(
        &server,
        Method::PATCH,
        "/api/v1/namespaces/default/pods/p",
        "application/apply-patch+yaml",
        b"{}".to_vec(),
    )
    .await;
    assert_status(code, &body, 415, "UnsupportedMediaType");
    server.shutdown().await;
}

#[tokio::test]
async fn delete_with_finalizers_and_preconditions() {
    let server = server().await;
    let api = pods(&server, "default");
    let mut p = pod("f", &[]);
    p.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    let created = api.create(&PostParams::default(), &p).await.unwrap();

    // wrong uid precondition
    let dp = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("nope".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    assert_eq!(status(api.delete("f", &dp).await).code, 409);

    let marked = api
        .delete("f", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("object back");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_ne!(
        marked.metadata.resource_version,
        created.metadata.resource_version
    );
    // still there; a second delete changes nothing
    let again = api
        .delete("f", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        marked.metadata.resource_version
    );
    assert!(api.get("f").await.is_ok());
    // removing the last finalizer removes the object
    api.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
    )
    .await
    .unwrap();
    assert_eq!(status(api.get("f").await).code, 404);
    assert_eq!(
        status(api.delete("f", &DeleteParams::default()).await).code,
        404
    );

    api.create(&PostParams::default(), &pod("g", &[]))
        .await
        .unwrap();
    // A pod no node runs is gone at once, in two steps; the answer is the pod as marked for
    // deletion, as the real server's.
    let gone = api
        .delete("g", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(gone.metadata.deletion_grace_period_seconds, Some(0));
    assert!(gone.metadata.deletion_timestamp.is_some());
    assert!(api.get_opt("g").await.unwrap().is_none());
    // Any other object gone at once answers a Status of success naming it.
    let configmaps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(server.client(), "default");
    let mut cm = k8s_openapi::api::core::v1::ConfigMap::default();
    cm.metadata.name = Some("c".into());
    configmaps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let gone = configmaps
        .delete("c", &DeleteParams::default())
        .await
        .unwrap()
        .right()
        .unwrap();
    assert_eq!(
        gone.status,
        Some(kube::core::response::StatusSummary::Success)
    );
    assert_eq!(gone.details.unwrap().name, "c");
    server.shutdown().await;
}

#[tokio::test]
async fn a_pod_bound_to_a_node_stays_terminating_for_its_grace_period() {
    let server = server().await;
    let api = pods(&server, "default");
    let mut bound = pod("bound", &[]);
    bound.spec.get_or_insert_with(Default::default).node_name = Some("n1".into());
    api.create(&PostParams::default(), &bound).await.unwrap();
    let marked = api
        .delete("bound", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(30));
    let kept = api.get("bound").await.unwrap();
    assert_eq!(
        kept.metadata.deletion_timestamp,
        marked.metadata.deletion_timestamp
    );
    // A shorter grace replaces it, a longer one does not.
    let shorter = DeleteParams {
        grace_period_seconds: Some(10),
        ..DeleteParams::default()
    };
    let marked = api.delete("bound", &shorter).await.unwrap().left().unwrap();
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(10));
    let longer = DeleteParams {
        grace_period_seconds: Some(60),
        ..DeleteParams::default()
    };
    let marked = api.delete("bound", &longer).await.unwrap().left().unwrap();
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(10));
    // A force delete (grace 0) removes it.
    let force = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    api.delete("bound", &force).await.unwrap();
    assert!(api.get_opt("bound").await.unwrap().is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn delete_collection_with_selector() {
    let server = server().await;
    let api = pods(&server, "default");
    for (name, app) in [("a", "web"), ("b", "web"), ("c", "db")] {
        api.create(&PostParams::default(), &pod(name, &[("app", app)]))
            .await
            .unwrap();
    }
    let removed = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("app=web"),
        )
        .await
        .unwrap();
    assert_eq!(removed.left().unwrap().items.len(), 2);
    let left: Vec<_> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(left, ["c"]);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_input_is_a_status_4xx_and_leaves_the_store_alone() {
    let server = FakeApiServerWithSmallBody::start().await;
    let rv = server.resource_version();
    let objects = server.object_count();
    let pods_path = "/api/v1/namespaces/default/pods";
    let cases: Vec<Case> = vec![
        (
            Method::POST,
            pods_path,
            "application/json",
            b"{not json".to_vec(),
            400,
            "BadRequest",
        ),
        (
            Method::POST,
            pods_path,
            "application/json",
            b"[1,2]".to_vec(),
            400,
            "BadRequest",
        ),
        (
            Method::POST,
            pods_path,
            "application/json",
            br#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"x"}}"#.to_vec(),
            400,
            "BadRequest",
        ),
        (
            Method::POST,
            pods_path,
            "application/json",
            br#"{"kind":"Pod","apiVersion":"apps/v1","metadata":{"name":"x"}}"#.to_vec(),
            400,
            "BadRequest",
        ),
        (
            Method::POST,
            pods_path,
            "application/json",
            br#"{"metadata":{"name":"Not_Valid"}}"#.to_vec(),
            422,
            "Invalid",
        ),
        (
            Method::POST,
            pods_path,
            "application/json",
            br#"{"metadata":{}}"#.to_vec(),
            422,
            "Invalid",
        ),
        (
            Method::POST,
            pods_path,
            "application/json",
            br#"{"metadata":{"name":"x","namespace":"other"}}"#.to_vec(),
            400,
            "BadRequest",
        ),
        (
            Method::POST,
            pods_path,
            "application/json",
            br#"{"metadata":{"name":"x","resourceVersion":"5"}}"#.to_vec(),
            400,
            "BadRequest",
        ),
        (
            Method::POST,
            pods_path,
            "application/json",
            br#"{"metadata":"nope"}"#.to_vec(),
            400,
            "BadRequest",
        ),
        (
            Method::POST,
            pods_path,
            "application/json",
            br#"{"metadata":{"name":"x","labels":{"a":1}}}"#.to_vec(),
            400,
            "BadRequest",
        ),
        (
            Method::POST,
            pods_path,
            "application/json",
            vec![b' '; 70_000],
            413,
            "RequestEntityTooLarge",
        ),
        (
            Method::POST,
            "/api/v1/namespaces/default/widgets",
            "application/json",
            b"{}".to_vec(),
            404,
            "NotFound",
        ),
        (
            Method::GET,
            "/apis/nope.example.com/v1/things",
            "",
            Vec::new(),
            404,
            "NotFound",
        ),
        (Method::GET, "/not/an/api", "", Vec::new(), 404, "NotFound"),
        (
            Method::GET,
            "/api/v1/namespaces/default/pods?labelSelector=a%20in%20(",
            "",
            Vec::new(),
            400,
            "BadRequest",
        ),
        (
            Method::GET,
            "/api/v1/namespaces/default/pods?fieldSelector=spec.weird%3Dx",
            "",
            Vec::new(),
            400,
            "BadRequest",
        ),
        (
            Method::GET,
            "/api/v1/namespaces/default/pods?continue=garbage",
            "",
            Vec::new(),
            400,
            "BadRequest",
        ),
        (
            Method::GET,
            "/api/v1/namespaces/default/pods?resourceVersion=abc",
            "",
            Vec::new(),
            400,
            "BadRequest",
        ),
        (
            Method::GET,
            "/api/v1/namespaces/default/pods?limit=x",
            "",
            Vec::new(),
            400,
            "BadRequest",
        ),
        (
            Method::GET,
            "/api/v1/namespaces/default/pods?resourceVersionMatch=Exact",
            "",
            Vec::new(),
            422,
            "Invalid",
        ),
        (
            Method::PUT,
            "/api/v1/namespaces/default/pods",
            "application/json",
            b"{}".to_vec(),
            405,
            "MethodNotAllowed",
        ),
        (
            Method::GET,
            "/api/v1/namespaces/default/pods/missing",
            "",
            Vec::new(),
            404,
            "NotFound",
        ),
    ];
    for (method, path, ct, body, code, reason) in cases {
        let (got, body) = raw(&server.0, method.clone(), path, ct, body).await;
        assert_status(got, &body, code, reason);
        eprintln!("{method} {path}: {}", body["message"]);
    }
    let (code, _) = raw(
        &server.0,
        Method::POST,
        pods_path,
        "application/json",
        br#"{"metadata":{"name":"ok"},"spec":{"containers":[{"name":"c","image":"x"}]}}"#.to_vec(),
    )
    .await;
    assert_eq!(code, 201);
    assert_eq!(
        server.resource_version(),
        rv + 1,
        "only the good create wrote"
    );
    assert_eq!(server.object_count(), objects + 1);
    server.0.shutdown().await;
}

/// (method, path, content type, body, expected code, expected reason)
type Case = (
    Method,
    &'static str,
    &'static str,
    Vec<u8>,
    u16,
    &'static str,
);

/// A server with a 64 KiB body limit.
struct FakeApiServerWithSmallBody(fake_apiserver::ServerHandle);

impl FakeApiServerWithSmallBody {
    async fn start() -> Self {
        Self(
            fake_apiserver::FakeApiServer::builder()
                .max_body_bytes(64 * 1024)
                .start()
                .await
                .unwrap(),
        )
    }
}

impl std::ops::Deref for FakeApiServerWithSmallBody {
    type Target = fake_apiserver::ServerHandle;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

#[tokio::test]
async fn direct_delete_is_a_delete_clients_see() {
    let server = server().await;
    let api = pods(&server, "default");
    let mut created = pod("gone", &[]);
    created.metadata.namespace = Some("default".to_owned());
    server
        .create(
            "",
            "v1",
            "pods",
            "default",
            serde_json::to_value(&created).unwrap(),
        )
        .unwrap();
    let before = server.resource_version();
    let deleted = server.delete("", "v1", "pods", "default", "gone").unwrap();
    assert_eq!(deleted["metadata"]["name"], "gone");
    assert_eq!(
        server.resource_version(),
        before + 2,
        "a pod's delete is two writes: marked, then removed"
    );
    let s = status(api.get("gone").await);
    assert_eq!(s.code, 404);
    // Twice, or an unknown resource: the 404 a DELETE would answer.
    let again = server
        .delete("", "v1", "pods", "default", "gone")
        .unwrap_err();
    assert_eq!(again.code, 404);
    let nowhere = server
        .delete("", "v1", "widgets", "default", "x")
        .unwrap_err();
    assert_eq!(nowhere.code, 404);
    server.shutdown().await;
}
