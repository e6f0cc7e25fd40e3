//! Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/<group>` and
//! `/apis/<group>/<version>`, built from the registry on each request so resources registered at
//! runtime show up at once; and the aggregated form (`apidiscovery.k8s.io/v2`
//! `APIGroupDiscoveryList`) of `/api` and `/apis` that kubectl asks for first, which holds every
//! group's resources in one answer.

use serde_json::{Value, json};

use crate::resources::{Registry, ResourceDef};

/// The Kubernetes version the server claims.
pub(crate) const MAJOR: &str = "1";
/// See [`MAJOR`]: 1.32, the version the differential tests compare against, and kubectl's on the
/// machines the project is built on (a newer minor makes kubectl warn about version skew).
pub(crate) const MINOR: &str = "32";
/// The patch release the differential tests compare against.
const PATCH: &str = "13";

/// `/version`.
pub(crate) fn version() -> Value {
    json!({
        "major": MAJOR,
        "minor": MINOR,
        "gitVersion": format!("v{MAJOR}.{MINOR}.{PATCH}-fake"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "none (fake-apiserver, Rust)",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    })
}

/// `/api`: the core group's versions.
pub(crate) fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": server_address }],
    })
}

fn group_doc(name: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({ "groupVersion": format!("{name}/{v}"), "version": v }))
        .collect();
    json!({
        "name": name,
        "versions": versions,
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
    })
}

/// `/apis`: every non-core group.
pub(crate) fn groups(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .iter()
        .map(|(name, versions)| group_doc(name, versions))
        .collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

/// `/apis/<group>`, or `None` for an unknown group.
pub(crate) fn group(registry: &Registry, name: &str) -> Option<Value> {
    let groups = registry.groups();
    let versions = groups.get(name)?;
    let mut doc = group_doc(name, versions);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// The media type of aggregated discovery, sent back as the answer's content type.
pub(crate) const AGGREGATED: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an `Accept` header asks for aggregated discovery (v2).
pub(crate) fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|media| {
        let parts: Vec<&str> = media.split(';').map(str::trim).collect();
        parts.contains(&"g=apidiscovery.k8s.io")
            && parts.contains(&"v=v2")
            && parts.contains(&"as=APIGroupDiscoveryList")
    })
}

/// The verbs of a resource: namespaces cannot be deleted as a collection (405).
fn verbs_of(def: &ResourceDef) -> &'static [&'static str] {
    if def.group.is_empty() && def.plural == "namespaces" {
        &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ]
    } else {
        &[
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

/// The aggregated discovery of `/api` (`core`) or `/apis` (every other group).
pub(crate) fn aggregated(registry: &Registry, core: bool) -> Value {
    let mut groups: Vec<(String, Vec<&ResourceDef>)> = Vec::new();
    for def in registry.all().map(|d| &**d) {
        if def.group.is_empty() != core {
            continue;
        }
        match groups.iter_mut().find(|(g, _)| *g == def.group) {
            Some((_, defs)) => defs.push(def),
            None => groups.push((def.group.clone(), vec![def])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let items: Vec<Value> = groups
        .iter()
        .map(|(group, defs)| {
            let mut versions: Vec<&str> = defs.iter().map(|d| d.version.as_str()).collect();
            versions.dedup();
            let versions: Vec<Value> = versions
                .iter()
                .map(|version| {
                    let resources: Vec<Value> = defs
                        .iter()
                        .filter(|d| d.version == *version)
                        .map(|d| aggregated_resource(d))
                        .collect();
                    json!({ "version": version, "resources": resources, "freshness": "Current" })
                })
                .collect();
            let mut metadata = json!({ "creationTimestamp": null });
            if !core {
                metadata["name"] = Value::from(group.as_str());
            }
            json!({ "metadata": metadata, "versions": versions })
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

fn aggregated_resource(def: &ResourceDef) -> Value {
    let same = |kind: &str| json!({ "group": "", "version": "", "kind": kind });
    let mut subresources = Vec::new();
    if def.group.is_empty() && def.plural == "namespaces" {
        subresources.push(json!({ "subresource": "finalize", "responseKind": same(&def.kind), "verbs": ["update"] }));
    }
    if crate::scale::has_scale(def) {
        subresources.push(json!({
            "subresource": "scale",
            "responseKind": { "group": "autoscaling", "version": "v1", "kind": "Scale" },
            "verbs": ["get", "patch", "update"],
        }));
    }
    if def.status {
        subresources.push(json!({ "subresource": "status", "responseKind": same(&def.kind), "verbs": ["get", "patch", "update"] }));
    }
    let mut resource = json!({
        "resource": def.plural,
        "responseKind": same(&def.kind),
        "scope": if def.namespaced() { "Namespaced" } else { "Cluster" },
        "singularResource": def.singular,
        "verbs": verbs_of(def),
    });
    if !def.short_names.is_empty() {
        resource["shortNames"] = json!(def.short_names);
    }
    if !def.categories.is_empty() {
        resource["categories"] = json!(def.categories);
    }
    if !subresources.is_empty() {
        resource["subresources"] = Value::Array(subresources);
    }
    resource
}

/// `/api/v1` or `/apis/<group>/<version>`, or `None` when nothing is served there.
pub(crate) fn resources(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let defs: Vec<&ResourceDef> = registry
        .all()
        .filter(|d| d.group == group && d.version == version)
        .map(|d| &**d)
        .collect();
    if defs.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for def in defs {
        let verbs = verbs_of(def);
        let mut resource = json!({
            "name": def.plural,
            "singularName": def.singular,
            "namespaced": def.namespaced(),
            "kind": def.kind,
            "verbs": verbs,
            "shortNames": def.short_names,
        });
        if !def.categories.is_empty() {
            resource["categories"] = json!(def.categories);
        }
        resources.push(resource);
        if crate::scale::has_scale(def) {
            resources.push(json!({
                "name": format!("{}/scale", def.plural),
                "singularName": "",
                "namespaced": def.namespaced(),
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
        if def.status {
            resources.push(json!({
                "name": format!("{}/status", def.plural),
                "singularName": "",
                "namespaced": def.namespaced(),
                "kind": def.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_discovery_is_asked_for_by_media_type() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert!(wants_aggregated(kubectl));
        assert!(!wants_aggregated("application/json"));
        assert!(!wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
        ));
    }

    #[test]
    fn aggregated_documents_hold_resources_and_subresources() {
        let registry = Registry::with(ResourceDef::builtins());
        let core = aggregated(&registry, true);
        assert_eq!(core["kind"], "APIGroupDiscoveryList");
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        let resources = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap();
        let pods = resources.iter().find(|r| r["resource"] == "pods").unwrap();
        assert_eq!(pods["scope"], "Namespaced");
        assert_eq!(pods["categories"], json!(["all"]));
        assert_eq!(pods["subresources"][0]["subresource"], "status");
        let groups = aggregated(&registry, false);
        let apps = groups["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "apps")
            .unwrap();
        let deployments = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        let scale = &deployments["subresources"][0];
        assert_eq!(scale["responseKind"]["kind"], "Scale");
    }
}
