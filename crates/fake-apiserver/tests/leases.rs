//! coordination.k8s.io/v1 leases as a built-in, through `kube::Api<Lease>`, and faults aimed at
//! one named client.

mod common;

use common::*;
use fake_apiserver::{CLIENT_HEADER, FaultRule, Verb};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use kube::discovery::Discovery;

fn lease(name: &str, holder: &str) -> Lease {
    let mut lease = Lease::default();
    lease.metadata.name = Some(name.to_owned());
    lease.spec = Some(LeaseSpec {
        holder_identity: Some(holder.to_owned()),
        lease_duration_seconds: Some(15),
        ..LeaseSpec::default()
    });
    lease
}

#[tokio::test]
async fn leases_are_served_and_discoverable() {
    let server = server().await;
    let discovery = Discovery::new(server.client()).run().await.unwrap();
    let group = discovery
        .get("coordination.k8s.io")
        .expect("coordination.k8s.io is discovered");
    let (resource, caps) = group
        .recommended_kind("Lease")
        .expect("Lease is in the group");
    assert_eq!(resource.plural, "leases");
    assert_eq!(resource.api_version, "coordination.k8s.io/v1");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    server.shutdown().await;
}

#[tokio::test]
async fn lease_create_update_conflict_delete() {
    let server = server().await;
    let api: Api<Lease> = Api::namespaced(server.client(), "default");
    let created = api
        .create(&PostParams::default(), &lease("ctrl", "a"))
        .await
        .unwrap();
    assert_eq!(
        created.spec.as_ref().unwrap().holder_identity.as_deref(),
        Some("a")
    );
    // A second create of the same name: 409 AlreadyExists.
    let s = status(
        api.create(&PostParams::default(), &lease("ctrl", "b"))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));

    // Update with the current resourceVersion succeeds and moves it.
    let mut next = created.clone();
    next.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let updated = api
        .replace("ctrl", &PostParams::default(), &next)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(
        api.get("ctrl")
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .as_deref(),
        Some("b")
    );

    // The same update again carries a stale resourceVersion: 409 Conflict, nothing written.
    let mut stale = created.clone();
    stale.spec.as_mut().unwrap().holder_identity = Some("c".into());
    let s = status(api.replace("ctrl", &PostParams::default(), &stale).await);
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        api.get("ctrl")
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .as_deref(),
        Some("b")
    );

    api.delete("ctrl", &DeleteParams::default()).await.unwrap();
    assert!(api.get_opt("ctrl").await.unwrap().is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_rule_fails_only_that_clients_requests() {
    let server = server().await;
    let faults = server.faults();
    faults.fail(
        FaultRule::status(503)
            .client("replica-a")
            .resource("leases")
            .verb(Verb::Get)
            .always(),
    );
    let a: Api<Lease> = Api::namespaced(server.named_client("replica-a").unwrap(), "default");
    let b: Api<Lease> = Api::namespaced(server.named_client("replica-b").unwrap(), "default");
    let anonymous: Api<Lease> = Api::namespaced(server.client(), "default");
    for _ in 0..3 {
        assert_eq!(status(a.get("x").await).code, 503);
    }
    assert_eq!(status(b.get("x").await).code, 404);
    assert_eq!(status(anonymous.get("x").await).code, 404);
    // Other verbs of the same client pass: the rule names only GET.
    a.create(&PostParams::default(), &lease("x", "a"))
        .await
        .unwrap();
    faults.clear();
    assert!(a.get("x").await.is_ok());
    assert_eq!(CLIENT_HEADER, "x-fake-apiserver-client");
    server.shutdown().await;
}

#[tokio::test]
async fn a_bad_client_name_is_an_error() {
    let server = server().await;
    match server.named_client("bad\nname") {
        Err(fake_apiserver::Error::ClientName(name)) => assert_eq!(name, "bad\nname"),
        Err(other) => panic!("expected ClientName, got {other:?}"),
        Ok(_) => panic!("a name with a newline was accepted"),
    }
    server.shutdown().await;
}
