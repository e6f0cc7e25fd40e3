//! Resources registered at runtime (CRD-like), discovery, and `kube::discovery`.
// issue 6 point 2.

mod common;

use common::*;
use fake_apiserver::{ResourceDef, Scope};
use futures::{StreamExt, TryStreamExt};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::discovery::Discovery;
use serde_json::json;

#[tokio::test]
async fn registered_resources_are_served_and_discovered() {
    let server = server().await;
    server
        .register(
            ResourceDef::new("example.com", "v1alpha1", "Widget", "widgets")
                .with_status(true)
                .short_names(["wd"]),
        )
        .unwrap();
    server
        .register(
            ResourceDef::new("example.com", "v1alpha1", "Gadget", "gadgets").scope(Scope::Cluster),
        )
        .unwrap();

    let discovery = Discovery::new(server.client()).run().await.unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1alpha1", "Widget"))
        .expect("widget discovered");
    assert_eq!(ar.plural, "widgets");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    assert!(
        discovery
            .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
            .is_some()
    );
    assert!(
        discovery
            .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Pod"))
            .is_some()
    );

    let widgets: Api<DynamicObject> = Api::namespaced_with(server.client(), "default", &ar);
    let w = DynamicObject::new("w1", &ar).data(json!({ "spec": { "size": 1 } }));
    let created = widgets.create(&PostParams::default(), &w).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let from = created.metadata.resource_version.clone().unwrap();
    let mut stream = widgets
        .watch(
            &WatchParams::default().disable_bookmarks().timeout(60),
            &from,
        )
        .await
        .unwrap()
        .boxed();
    let patched = widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "size": 2 } })),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.generation, Some(2));
    let s = widgets
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "ready": true } })),
        )
        .await
        .unwrap();
    assert_eq!(s.data["status"]["ready"], true);
    assert!(matches!(
        stream.try_next().await.unwrap(),
        Some(WatchEvent::Modified(_))
    ));
    assert!(matches!(
        stream.try_next().await.unwrap(),
        Some(WatchEvent::Modified(_))
    ));

    let gar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1alpha1", "Gadget"),
        "gadgets",
    );
    let gadgets: Api<DynamicObject> = Api::all_with(server.client(), &gar);
    gadgets
        .create(&PostParams::default(), &DynamicObject::new("g1", &gar))
        .await
        .unwrap();
    assert_eq!(
        gadgets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    assert!(server.unregister("example.com", "v1alpha1", "gadgets"));
    assert_eq!(status(gadgets.list(&ListParams::default()).await).code, 404);
    assert!(
        server
            .register(ResourceDef::new("Bad_Group", "v1", "X", "xs"))
            .is_err()
    );
    server.shutdown().await;
}
