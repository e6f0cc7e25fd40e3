//! `/openapi/v2` in its protobuf form (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`,
//! gnostic's `openapi_v2.Document`), the only form client-go's `OpenAPISchema()` reads: kubectl
//! falls back to it for client-side validation (a `kind: List` manifest) and for
//! `explain --output plaintext-openapiv2`.
//!
//! The document carries the `swagger` version, the `info` and the `definitions` of the JSON
//! document [`super::openapi::v2`] builds (paths are left out: the clients that read this form
//! look only at the definitions). A schema's `x-kubernetes-*` extensions and defaults are
//! written as gnostic writes them, as YAML text (JSON is YAML).

use serde_json::Value;

/// The media type of the answer.
pub(crate) const MEDIA_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// Whether an `Accept` header asks for the protobuf form of `/openapi/v2`.
pub(crate) fn wanted(accept: &str) -> bool {
    accept.contains("application/com.github.proto-openapi.spec.v2")
}

/// The protobuf form of a Swagger 2.0 JSON document.
pub(crate) fn encode(document: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    string(&mut out, 1, document["swagger"].as_str().unwrap_or("2.0"));
    let mut info = Vec::new();
    string(
        &mut info,
        1,
        document["info"]["title"].as_str().unwrap_or_default(),
    );
    string(
        &mut info,
        2,
        document["info"]["version"].as_str().unwrap_or_default(),
    );
    message(&mut out, 2, &info);
    let mut definitions = Vec::new();
    for (name, schema) in document["definitions"].as_object().into_iter().flatten() {
        message(&mut definitions, 1, &named_schema(name, schema));
    }
    message(&mut out, 9, &definitions);
    out
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn tag(out: &mut Vec<u8>, field: u64, wire: u64) {
    varint(out, field << 3 | wire);
}

fn message(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    tag(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn string(out: &mut Vec<u8>, field: u64, text: &str) {
    if !text.is_empty() {
        message(out, field, text.as_bytes());
    }
}

fn named_schema(name: &str, schema: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    string(&mut out, 1, name);
    message(&mut out, 2, &schema_message(schema));
    out
}

/// gnostic's `Any`: the value as YAML text.
fn any(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    string(&mut out, 2, &value.to_string());
    out
}

/// gnostic's `Schema` for a JSON schema object.
fn schema_message(schema: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let Some(map) = schema.as_object() else {
        return out;
    };
    if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
        string(&mut out, 1, reference);
    }
    if let Some(format) = map.get("format").and_then(Value::as_str) {
        string(&mut out, 2, format);
    }
    if let Some(description) = map.get("description").and_then(Value::as_str) {
        string(&mut out, 4, description);
    }
    if let Some(default) = map.get("default") {
        message(&mut out, 5, &any(default));
    }
    for required in map
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        string(&mut out, 19, required.as_str().unwrap_or_default());
    }
    match map.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut item = Vec::new();
            tag(&mut item, 2, 0);
            varint(&mut item, u64::from(*b));
            message(&mut out, 21, &item);
        }
        Some(extra @ Value::Object(_)) => {
            let mut item = Vec::new();
            message(&mut item, 1, &schema_message(extra));
            message(&mut out, 21, &item);
        }
        _ => {}
    }
    if let Some(ty) = map.get("type").and_then(Value::as_str) {
        let mut item = Vec::new();
        string(&mut item, 1, ty);
        message(&mut out, 22, &item);
    }
    if let Some(items) = map.get("items") {
        let mut item = Vec::new();
        message(&mut item, 1, &schema_message(items));
        message(&mut out, 23, &item);
    }
    for part in map
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        message(&mut out, 24, &schema_message(part));
    }
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        let mut item = Vec::new();
        for (name, property) in properties {
            message(&mut item, 1, &named_schema(name, property));
        }
        message(&mut out, 25, &item);
    }
    for (key, value) in map.iter().filter(|(k, _)| k.starts_with("x-")) {
        let mut named = Vec::new();
        string(&mut named, 1, key);
        message(&mut named, 2, &any(value));
        message(&mut out, 31, &named);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_document_encodes_its_definitions_with_types_refs_and_extensions() {
        let doc = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.13"},
            "definitions": {"a.B": {"type": "object", "required": ["x"],
                "properties": {"x": {"type": "array", "items": {"$ref": "#/definitions/a.C"}}},
                "x-kubernetes-group-version-kind": [{"group": "", "kind": "B", "version": "v1"}]}}});
        let bytes = encode(&doc);
        assert!(bytes.starts_with(b"\x0a\x032.0\x12"));
        let text = String::from_utf8_lossy(&bytes);
        for part in [
            "Kubernetes",
            "a.B",
            "#/definitions/a.C",
            "x-kubernetes-group-version-kind",
            "\"kind\":\"B\"",
        ] {
            assert!(text.contains(part), "{part}");
        }
        assert!(wanted(
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
        ));
        assert!(!wanted("application/json"));
    }
}
