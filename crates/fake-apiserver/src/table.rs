//! Server-side printing: the `meta.k8s.io/v1` `Table` that `kubectl get` asks for with
//! `Accept: application/json;as=Table;...`. Two columns, name and age, for every resource.

use serde_json::{Value, json};

use crate::meta;
use crate::resources::ResourceDef;

/// A `Table` for an encoded `<Kind>List`.
pub(crate) fn table(def: &ResourceDef, list: &[u8]) -> Value {
    let list: Value = serde_json::from_slice(list).unwrap_or(Value::Null);
    let now = meta::unix_now();
    let rows: Vec<Value> = list["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|item| {
            let metadata = &item["metadata"];
            let age = metadata["creationTimestamp"].as_str().and_then(meta::parse_rfc3339).map_or_else(
                || "<unknown>".to_owned(),
                |t| human_age(now.saturating_sub(t)),
            );
            json!({
                "cells": [metadata["name"], age],
                "object": { "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata },
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list["metadata"],
        "columnDefinitions": [
            { "name": "Name", "type": "string", "format": "name", "description": format!("Name of the {}", def.singular), "priority": 0 },
            { "name": "Age", "type": "string", "format": "", "description": "Time since creation", "priority": 0 },
        ],
        "rows": rows,
    })
}

/// `45s`, `3m`, `5h`, `2d`, like kubectl's short durations.
fn human_age(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs}s"),
        120..7200 => format!("{}m", secs / 60),
        7200..172_800 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}
