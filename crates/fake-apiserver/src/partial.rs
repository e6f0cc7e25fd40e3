//! Metadata-only answers: the `meta.k8s.io/v1` `PartialObjectMetadata` and
//! `PartialObjectMetadataList` that metadata informers ask for with
//! `Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1` (lists) or
//! `as=PartialObjectMetadata` (watches and gets). Each object keeps only its `metadata`.

use serde_json::{Value, json};

/// Whether an `Accept` header asks for metadata only.
pub(crate) fn wanted(accept: &str) -> bool {
    accept.contains("as=PartialObjectMetadata")
}

/// The `PartialObjectMetadata` of an encoded object.
pub(crate) fn object(encoded: &[u8]) -> Vec<u8> {
    let obj: Value = serde_json::from_slice(encoded).unwrap_or(Value::Null);
    serde_json::to_vec(&partial(&obj)).unwrap_or_default()
}

/// The `PartialObjectMetadataList` of an encoded `<Kind>List`.
pub(crate) fn list(encoded: &[u8]) -> Value {
    let list: Value = serde_json::from_slice(encoded).unwrap_or(Value::Null);
    let items: Vec<Value> = list["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(partial)
        .collect();
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list["metadata"],
        "items": items,
    })
}

fn partial(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_metadata() {
        let pod = br#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a"},"spec":{"x":1}}"#;
        let got: Value = serde_json::from_slice(&object(pod)).unwrap();
        assert_eq!(
            got,
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "a"}})
        );
        let list = br#"{"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[{"metadata":{"name":"a"},"spec":{}}]}"#;
        let got = super::list(list);
        assert_eq!(got["kind"], "PartialObjectMetadataList");
        assert_eq!(got["metadata"]["resourceVersion"], "7");
        assert_eq!(
            got["items"][0],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "a"}})
        );
        assert!(wanted(
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
        ));
        assert!(!wanted("application/json"));
    }
}
