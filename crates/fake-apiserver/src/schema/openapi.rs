//! `/openapi/v2` and `/openapi/v3`: OpenAPI documents of what is served, built per request from
//! the registry and the schema facts.
//!
//! kubectl reads them to decide how to validate (`create -f`, `apply -f`, `replace -f`, `edit`
//! look for a `fieldValidation` parameter on the kind's PATCH operation, then let the server
//! validate), and `kubectl explain` reads the kinds' schemas. A built-in kind gets its real
//! schema (without descriptions); a resource registered at runtime gets an object schema that
//! keeps unknown fields, as a CRD without a schema would.
//!
//! Version 3 is served as JSON: a root listing one document per group-version
//! (`/openapi/v3/apis/apps/v1?hash=...`). Version 2 is served as JSON, or in gnostic's protobuf
//! form to a client that asks for it ([`super::openapi_proto`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::facts;
use crate::resources::{Registry, ResourceDef};

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

/// One operation of a path, in a form both versions render.
struct Operation {
    method: &'static str,
    action: &'static str,
    gvk: Value,
    /// Definition of the request body, if any.
    body: Option<String>,
    /// Definition of the response.
    response: String,
    params: &'static [&'static str],
}

const WRITE_PARAMS: &[&str] = &["dryRun", "fieldManager", "fieldValidation", "pretty"];
const PATCH_PARAMS: &[&str] = &[
    "dryRun",
    "fieldManager",
    "fieldValidation",
    "force",
    "pretty",
];
const LIST_PARAMS: &[&str] = &[
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "pretty",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
];
const DELETE_PARAMS: &[&str] = &[
    "dryRun",
    "gracePeriodSeconds",
    "pretty",
    "propagationPolicy",
];
const GET_PARAMS: &[&str] = &["pretty"];

/// The definition name of a served resource's kind: the facts' name for a built-in, else a
/// synthetic name under the group.
fn kind_definition(def: &ResourceDef) -> String {
    match facts().kind_name(&def.group, &def.version, &def.kind) {
        Some(name) => name.to_owned(),
        None => format!(
            "{}.{}.{}",
            reversed_group(&def.group),
            def.version,
            def.kind
        ),
    }
}

fn list_definition(def: &ResourceDef) -> String {
    match facts().kind_name(&def.group, &def.version, &format!("{}List", def.kind)) {
        Some(name) => name.to_owned(),
        None => format!("{}List", kind_definition(def)),
    }
}

fn reversed_group(group: &str) -> String {
    if group.is_empty() {
        return "core".to_owned();
    }
    group.split('.').rev().collect::<Vec<_>>().join(".")
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({ "group": group, "version": version, "kind": kind })
}

/// The paths of one resource: collection, item, and the subresources.
fn paths_of(def: &ResourceDef) -> BTreeMap<String, Vec<Operation>> {
    let prefix = if def.group.is_empty() {
        format!("/api/{}", def.version)
    } else {
        format!("/apis/{}/{}", def.group, def.version)
    };
    let scope = if def.namespaced() {
        format!("{prefix}/namespaces/{{namespace}}/{}", def.plural)
    } else {
        format!("{prefix}/{}", def.plural)
    };
    let kind = kind_definition(def);
    let list = list_definition(def);
    let this = gvk(&def.group, &def.version, &def.kind);
    let op = |method, action, body: Option<&String>, response: &String, params| Operation {
        method,
        action,
        gvk: this.clone(),
        body: body.cloned(),
        response: response.clone(),
        params,
    };
    let status = format!("{META}.Status");
    let delete_options = format!("{META}.DeleteOptions");
    let patch = format!("{META}.Patch");
    let mut paths = BTreeMap::new();
    let mut collection = vec![
        op("get", "list", None, &list, LIST_PARAMS),
        op("post", "post", Some(&kind), &kind, WRITE_PARAMS),
    ];
    if !(def.group.is_empty() && def.plural == "namespaces") {
        collection.push(op(
            "delete",
            "deletecollection",
            Some(&delete_options),
            &status,
            DELETE_PARAMS,
        ));
    }
    paths.insert(scope.clone(), collection);
    paths.insert(
        format!("{scope}/{{name}}"),
        vec![
            op("get", "get", None, &kind, GET_PARAMS),
            op("put", "put", Some(&kind), &kind, WRITE_PARAMS),
            op("patch", "patch", Some(&patch), &kind, PATCH_PARAMS),
            op(
                "delete",
                "delete",
                Some(&delete_options),
                &status,
                DELETE_PARAMS,
            ),
        ],
    );
    if def.namespaced() {
        paths.insert(
            format!("{prefix}/{}", def.plural),
            vec![op("get", "list", None, &list, LIST_PARAMS)],
        );
    }
    if def.status {
        paths.insert(
            format!("{scope}/{{name}}/status"),
            vec![
                op("get", "get", None, &kind, GET_PARAMS),
                op("put", "put", Some(&kind), &kind, WRITE_PARAMS),
                op("patch", "patch", Some(&patch), &kind, PATCH_PARAMS),
            ],
        );
    }
    if crate::scale::has_scale(def) {
        let scale = "io.k8s.api.autoscaling.v1.Scale".to_owned();
        let scale_gvk = gvk("autoscaling", "v1", "Scale");
        let mut ops = vec![
            op("get", "get", None, &scale, GET_PARAMS),
            op("put", "put", Some(&scale), &scale, WRITE_PARAMS),
            op("patch", "patch", Some(&patch), &scale, PATCH_PARAMS),
        ];
        for o in &mut ops {
            o.gvk = scale_gvk.clone();
        }
        paths.insert(format!("{scope}/{{name}}/scale"), ops);
    }
    paths
}

/// The definitions the given resources need, in OpenAPI v2 form (`#/definitions/...` refs):
/// the facts' definitions reachable from the built-in kinds, and a synthetic schema for each
/// registered one.
fn definitions_for<'a>(defs: impl Iterator<Item = &'a ResourceDef>) -> Map<String, Value> {
    let facts = facts();
    let mut out = Map::new();
    let mut todo: Vec<String> = [
        format!("{META}.Status"),
        format!("{META}.DeleteOptions"),
        format!("{META}.Patch"),
    ]
    .into();
    for def in defs {
        let kind = kind_definition(def);
        let list = list_definition(def);
        if facts.definitions().contains_key(&kind) {
            todo.push(kind);
            todo.push(list);
        } else {
            out.insert(kind.clone(), custom_kind(def));
            out.insert(list, custom_list(def, &kind));
            todo.push(format!("{META}.ObjectMeta"));
            todo.push(format!("{META}.ListMeta"));
        }
        if crate::scale::has_scale(def) {
            todo.push("io.k8s.api.autoscaling.v1.Scale".to_owned());
        }
    }
    let mut seen = BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(def) = facts.definitions().get(&name) else {
            continue;
        };
        collect_refs(def, &mut todo);
        out.insert(name, def.clone());
    }
    out
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    if let Some(target) = v.as_str().and_then(|r| r.strip_prefix("#/definitions/"))
                    {
                        out.push(target.to_owned());
                    }
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn custom_kind(def: &ResourceDef) -> Value {
    json!({
        "type": "object",
        "x-kubernetes-group-version-kind": [gvk(&def.group, &def.version, &def.kind)],
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "apiVersion": { "type": "string" },
            "kind": { "type": "string" },
            "metadata": { "$ref": format!("#/definitions/{META}.ObjectMeta") },
        },
    })
}

fn custom_list(def: &ResourceDef, kind: &str) -> Value {
    json!({
        "type": "object",
        "required": ["items"],
        "x-kubernetes-group-version-kind": [gvk(&def.group, &def.version, &format!("{}List", def.kind))],
        "properties": {
            "apiVersion": { "type": "string" },
            "kind": { "type": "string" },
            "items": { "type": "array", "items": { "$ref": format!("#/definitions/{kind}") } },
            "metadata": { "$ref": format!("#/definitions/{META}.ListMeta") },
        },
    })
}

fn path_params(path: &str) -> Vec<&'static str> {
    let mut params = Vec::new();
    if path.contains("{namespace}") {
        params.push("namespace");
    }
    if path.contains("{name}") {
        params.push("name");
    }
    params
}

/// `/openapi/v2`: every served resource.
pub(crate) fn v2(registry: &Registry) -> Value {
    let defs: Vec<&ResourceDef> = registry.all().map(|d| &**d).collect();
    let mut paths = Map::new();
    for def in &defs {
        for (path, ops) in paths_of(def) {
            let mut item = Map::new();
            let shared: Vec<Value> = path_params(&path)
                .into_iter()
                .map(|p| json!({ "name": p, "in": "path", "required": true, "type": "string", "uniqueItems": true }))
                .collect();
            item.insert("parameters".to_owned(), Value::Array(shared));
            for op in ops {
                let mut params: Vec<Value> = op
                    .params
                    .iter()
                    .map(|p| json!({ "name": p, "in": "query", "type": "string", "uniqueItems": true }))
                    .collect();
                if let Some(body) = &op.body {
                    params.push(json!({ "name": "body", "in": "body", "required": true, "schema": { "$ref": format!("#/definitions/{body}") } }));
                }
                item.insert(
                    op.method.to_owned(),
                    json!({
                        "operationId": format!("{}{}", op.action, op.response.rsplit('.').next().unwrap_or("")),
                        "consumes": ["*/*"],
                        "produces": ["application/json"],
                        "schemes": ["https"],
                        "parameters": params,
                        "responses": { "200": { "description": "OK", "schema": { "$ref": format!("#/definitions/{}", op.response) } } },
                        "x-kubernetes-action": op.action,
                        "x-kubernetes-group-version-kind": op.gvk,
                    }),
                );
            }
            paths.insert(path, Value::Object(item));
        }
    }
    json!({
        "swagger": "2.0",
        "info": { "title": "Kubernetes", "version": version() },
        "paths": paths,
        "definitions": definitions_for(defs.iter().copied()),
    })
}

fn version() -> String {
    format!(
        "v{}.{}.13",
        crate::discovery::MAJOR,
        crate::discovery::MINOR
    )
}

/// The v3 name of a group-version's document: `api/v1`, `apis/apps/v1`.
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: one entry per served group-version, with a hash of its document.
pub(crate) fn v3_root(registry: &Registry) -> Value {
    let mut gvs = BTreeSet::new();
    for def in registry.all() {
        gvs.insert((def.group.clone(), def.version.clone()));
    }
    let mut paths = Map::new();
    for (group, version) in gvs {
        let path = gv_path(&group, &version);
        let hash = v3_group_version(registry, &path)
            .map(|doc| fnv_hash(doc.to_string().as_bytes()))
            .unwrap_or_default();
        paths.insert(
            path.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{path}?hash={hash:016X}") }),
        );
    }
    json!({ "paths": paths })
}

/// `/openapi/v3/<gv path>` (`api/v1`, `apis/apps/v1`), or `None` when nothing is served there.
pub(crate) fn v3_group_version(registry: &Registry, gv: &str) -> Option<Value> {
    let defs: Vec<&ResourceDef> = registry
        .all()
        .map(|d| &**d)
        .filter(|d| gv_path(&d.group, &d.version) == gv)
        .collect();
    if defs.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    for def in &defs {
        for (path, ops) in paths_of(def) {
            let mut item = Map::new();
            let shared: Vec<Value> = path_params(&path)
                .into_iter()
                .map(|p| json!({ "name": p, "in": "path", "required": true, "schema": { "type": "string", "uniqueItems": true } }))
                .collect();
            item.insert("parameters".to_owned(), Value::Array(shared));
            for op in ops {
                let params: Vec<Value> = op
                    .params
                    .iter()
                    .map(|p| json!({ "name": p, "in": "query", "schema": { "type": "string", "uniqueItems": true } }))
                    .collect();
                let reference =
                    |name: &str| json!({ "$ref": format!("#/components/schemas/{name}") });
                let mut operation = json!({
                    "operationId": format!("{}{}", op.action, op.response.rsplit('.').next().unwrap_or("")),
                    "parameters": params,
                    "responses": { "200": { "description": "OK", "content": { "application/json": { "schema": reference(&op.response) } } } },
                    "x-kubernetes-action": op.action,
                    "x-kubernetes-group-version-kind": op.gvk,
                });
                if let Some(body) = &op.body {
                    let types: &[&str] = if op.method == "patch" {
                        &[
                            "application/json-patch+json",
                            "application/merge-patch+json",
                            "application/strategic-merge-patch+json",
                        ]
                    } else {
                        &["*/*"]
                    };
                    let content: Map<String, Value> = types
                        .iter()
                        .map(|t| ((*t).to_owned(), json!({ "schema": reference(body) })))
                        .collect();
                    operation["requestBody"] = json!({ "content": content, "required": true });
                }
                item.insert(op.method.to_owned(), operation);
            }
            paths.insert(path, Value::Object(item));
        }
    }
    let schemas: Map<String, Value> = definitions_for(defs.iter().copied())
        .into_iter()
        .map(|(name, def)| (name, v3_refs(def)))
        .collect();
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": version() },
        "paths": paths,
        "components": { "schemas": schemas },
    }))
}

/// `#/definitions/X` references rewritten to `#/components/schemas/X`.
fn v3_refs(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => {
                            Value::String(r.replace("#/definitions/", "#/components/schemas/"))
                        }
                        (_, v) => v3_refs(v),
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(v3_refs).collect()),
        other => other,
    }
}

/// FNV-1a, 64 bits: a stable content hash for the documents' URLs.
fn fnv_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_has_a_document_per_group_version_with_field_validation_on_patch() {
        let registry = Registry::with(ResourceDef::builtins());
        let root = v3_root(&registry);
        let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
        let doc = v3_group_version(&registry, "apis/apps/v1").unwrap();
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            gvk("apps", "v1", "Deployment")
        );
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
        );
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let deployment = &schemas["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            deployment["properties"]["spec"]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
        );
        assert!(schemas.contains_key("io.k8s.api.core.v1.Container"));
        assert!(schemas.contains_key("io.k8s.api.autoscaling.v1.Scale"));
        assert!(!doc.to_string().contains("#/definitions/"));
        assert!(v3_group_version(&registry, "apis/nope/v1").is_none());
    }

    #[test]
    fn a_registered_resource_gets_an_open_schema() {
        let mut registry = Registry::with(ResourceDef::builtins());
        registry.insert(ResourceDef::new("example.com", "v1", "Widget", "widgets"));
        let doc = v3_group_version(&registry, "apis/example.com/v1").unwrap();
        let widget = &doc["components"]["schemas"]["com.example.v1.Widget"];
        assert_eq!(widget["x-kubernetes-preserve-unknown-fields"], true);
        assert!(
            doc["components"]["schemas"]
                .get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
                .is_some()
        );
        let v2 = v2(&registry);
        assert!(
            v2["paths"]
                .get("/apis/example.com/v1/namespaces/{namespace}/widgets/{name}")
                .is_some()
        );
        assert!(v2["definitions"].get("io.k8s.api.core.v1.Pod").is_some());
    }
}
