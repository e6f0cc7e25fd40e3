//! The checks and small edits every write makes on a request body: kind and apiVersion,
//! metadata shape, status kept or replaced, generation, finalizers, UID preconditions.

use serde_json::{Map, Value};

use super::namespaces;
use super::{ResourceKey, namespaces_key};
use crate::resources::ResourceDef;
use crate::status::ApiError;

/// Check (or fill in) `kind` and `apiVersion` against the resource.
pub(super) fn check_type(def: &ResourceDef, body: &mut Value) -> Result<(), ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    let api_version = def.api_version();
    match map.get("apiVersion") {
        None | Some(Value::Null) => {
            map.insert("apiVersion".into(), Value::from(api_version));
        }
        Some(Value::String(v)) if *v == api_version => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({}) does not match the expected API version ({api_version})",
                other.as_str().unwrap_or("not a string")
            )));
        }
    }
    match map.get("kind") {
        None | Some(Value::Null) => {
            map.insert("kind".into(), Value::from(def.kind.clone()));
        }
        Some(Value::String(k)) if *k == def.kind => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({}) does not match the expected kind ({})",
                other.as_str().unwrap_or("not a string"),
                def.kind
            )));
        }
    }
    Ok(())
}

pub(super) fn metadata_mut(body: &mut Value) -> Result<&mut Map<String, Value>, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if meta.is_null() {
        *meta = Value::Object(Map::new());
    }
    let Value::Object(meta) = meta else {
        return Err(ApiError::bad_request("metadata must be a JSON object"));
    };
    if let Some(labels) = meta.get("labels")
        && !labels.is_null()
        && !labels
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string))
    {
        return Err(ApiError::bad_request(
            "metadata.labels must be an object of strings",
        ));
    }
    Ok(meta)
}

pub(super) fn set_or_remove(target: &mut Value, field: &str, value: Option<Value>) {
    if let Value::Object(map) = target {
        match value {
            Some(v) => map.insert(field.into(), v),
            None => map.remove(field),
        };
    }
}

/// Whether anything outside `metadata` (and `status` when it is a subresource) changed.
pub(super) fn spec_changed(def: &ResourceDef, old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        let mut m = v.as_object().cloned().unwrap_or_default();
        m.remove("metadata");
        if def.status {
            m.remove("status");
        }
        m
    };
    strip(old) != strip(new)
}

/// The object's finalizers (the strings among them).
pub(super) fn finalizers(value: &Value) -> Vec<&str> {
    value["metadata"]
        .get("finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A UID precondition: `uid` must be the stored object's (409 otherwise).
pub(super) fn check_uid(
    def: &ResourceDef,
    name: &str,
    uid: &str,
    stored: &Value,
) -> Result<(), ApiError> {
    let actual = stored["metadata"]["uid"].as_str().unwrap_or_default();
    if uid == actual {
        return Ok(());
    }
    Err(ApiError::conflict(
        &def.group,
        &def.plural,
        name,
        &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"),
    ))
}

/// Whether something still holds the object back from deletion: its finalizers, and for a
/// namespace the `spec.finalizers` the namespace controller clears.
pub(super) fn blocked(rkey: &ResourceKey, value: &Value) -> bool {
    !finalizers(value).is_empty()
        || (*rkey == namespaces_key() && !namespaces::spec_finalizers(value).is_empty())
}

/// Adds `finalizer` to `value`'s `metadata.finalizers` unless it is there.
pub(super) fn add_finalizer(value: &mut Value, finalizer: &str) {
    let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let list = meta
        .entry("finalizers")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(items) = list
        && !items.iter().any(|f| f == finalizer)
    {
        items.push(Value::from(finalizer));
    }
}
