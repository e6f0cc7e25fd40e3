//! The `scale` subresource of Deployments, ReplicaSets and StatefulSets (`autoscaling/v1`
//! `Scale`), as `kubectl scale` and horizontal autoscalers use it: `GET` shows `spec.replicas`
//! (1 when unset, the default), `status.replicas` and the selector as a string; `PUT` and
//! `PATCH` of the `Scale` change only the workload's `spec.replicas`. Answers measured against
//! kube-apiserver v1.32.13.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::patch::Patcher;
use crate::resources::ResourceDef;
use crate::status::ApiError;
use crate::store::Store;

/// The resources served with a `scale` subresource: Deployments, ReplicaSets and StatefulSets.
pub(crate) fn has_scale(def: &ResourceDef) -> bool {
    def.group == "apps"
        && matches!(
            def.plural.as_str(),
            "deployments" | "replicasets" | "statefulsets"
        )
}

/// The `Scale` of a Deployment.
pub(crate) fn scale_of(deployment: &Value) -> Value {
    let meta = &deployment["metadata"];
    let mut metadata = json!({});
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(value) = meta.get(field) {
            metadata[field] = value.clone();
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": { "replicas": deployment.pointer("/spec/replicas").cloned().unwrap_or(json!(1)) },
        "status": {
            "replicas": deployment.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector_string(deployment.pointer("/spec/selector").unwrap_or(&Value::Null)),
        },
    })
}

/// A label selector object as the string form (`a=b,tier in (web,db)`).
pub(crate) fn selector_string(selector: &Value) -> String {
    let mut parts: Vec<String> = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    for expression in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expression["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = expression["values"]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        parts.push(match expression["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_owned(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other}"),
        });
    }
    parts.join(",")
}

/// The Deployment `name`'s `Scale`.
pub(crate) fn get(
    store: &Store,
    def: &ResourceDef,
    ns: &str,
    name: &str,
) -> Result<Value, ApiError> {
    let deployment = store
        .get(def, ns, name)
        .map_err(|_| ApiError::not_found(&def.group, &format!("{}/scale", def.plural), name))?;
    Ok(scale_of(&deployment.value()))
}

/// Applies `change` to the Deployment's `Scale` (a replacement for `PUT`, a patch for `PATCH`)
/// and stores the new `spec.replicas`; returns the new `Scale`.
pub(crate) fn update(
    store: &Store,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    change: Patcher,
) -> Result<Value, ApiError> {
    let scale = change(get(store, def, ns, name)?)?;
    let replicas = match scale.pointer("/spec/replicas") {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n >= 0) => n.clone(),
        Some(Value::Number(n)) => {
            return Err(ApiError::invalid_in(
                "autoscaling",
                "Scale",
                name,
                vec![(
                    "spec.replicas".into(),
                    format!("Invalid value: {n}: must be greater than or equal to 0"),
                )],
            ));
        }
        _ => {
            return Err(ApiError::bad_request(
                "the request body cannot be decoded: spec.replicas must be an integer",
            ));
        }
    };
    let precondition = scale.pointer("/metadata/resourceVersion").cloned();
    let updated: Arc<_> = store.modify(
        def,
        ns,
        name,
        move |mut deployment| {
            deployment["spec"]["replicas"] = Value::Number(replicas);
            if let Some(rv) = precondition {
                deployment["metadata"]["resourceVersion"] = rv;
            }
            Ok(deployment)
        },
        false,
    )?;
    Ok(scale_of(&updated.value()))
}
