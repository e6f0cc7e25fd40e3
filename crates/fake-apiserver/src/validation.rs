//! Validation of the user-set metadata every object carries: labels, annotations and finalizers,
//! with the real server's rules, so an object a real server would refuse is refused here too
//! (and cannot poison a typed client's list).
//!
//! * A field of the wrong JSON type (a number as an annotation value, a string as the finalizer
//!   list) is a decoding error on the real server: 400 `BadRequest`.
//! * A well-typed field with a bad value is 422 `Invalid`, with one cause per bad field:
//!   label keys and annotation keys are qualified names (`[prefix/]name`: a DNS-1123 subdomain
//!   prefix of at most 253 characters, a name of at most 63 alphanumerics, `-`, `_` or `.`
//!   starting and ending alphanumeric); label values are empty or such a name; annotations
//!   together take at most 256 KiB; finalizers are qualified names.

use serde_json::{Map, Value};

use crate::meta::validate_subdomain;
use crate::status::ApiError;

/// Longest name part of a qualified name, and longest label value.
const NAME_MAX: usize = 63;
/// The most bytes all annotation keys and values of one object may take.
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// Checks `meta` (the object's `metadata`) of object `name` of `kind`.
pub(crate) fn validate_metadata(
    kind: &str,
    name: &str,
    meta: &Map<String, Value>,
) -> Result<(), ApiError> {
    for field in ["name", "generateName", "namespace"] {
        if let Some(value) = meta.get(field)
            && !value.is_null()
            && !value.is_string()
        {
            return Err(wrong_type(&format!("metadata.{field}"), "a string"));
        }
    }
    let labels = string_map(meta, "labels")?;
    let annotations = string_map(meta, "annotations")?;
    let finalizers = string_list(meta, "finalizers")?;
    let mut causes = Vec::new();
    for (key, value) in labels {
        if let Err(why) = qualified_name(key) {
            causes.push(("metadata.labels".to_owned(), invalid(key, &why)));
        }
        if let Err(why) = label_value(value) {
            causes.push(("metadata.labels".to_owned(), invalid(value, &why)));
        }
    }
    let mut annotation_bytes = 0usize;
    for (key, value) in annotations {
        if let Err(why) = qualified_name(&key.to_ascii_lowercase()) {
            causes.push(("metadata.annotations".to_owned(), invalid(key, &why)));
        }
        annotation_bytes = annotation_bytes.saturating_add(key.len() + value.len());
    }
    if annotation_bytes > ANNOTATIONS_MAX_BYTES {
        causes.push((
            "metadata.annotations".to_owned(),
            format!("Too long: must have at most {ANNOTATIONS_MAX_BYTES} bytes"),
        ));
    }
    for (i, finalizer) in finalizers.iter().enumerate() {
        if let Err(why) = qualified_name(finalizer) {
            causes.push((
                format!("metadata.finalizers[{i}]"),
                invalid(finalizer, &why),
            ));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(kind, name, causes))
    }
}

fn invalid(value: &str, why: &str) -> String {
    format!("Invalid value: {value:?}: {why}")
}

fn wrong_type(field: &str, expected: &str) -> ApiError {
    ApiError::bad_request(format!(
        "the request body cannot be decoded: {field} must be {expected}"
    ))
}

/// `meta[field]` as (key, value) pairs: absent or null is empty; anything but an object of
/// strings is a decoding error.
fn string_map<'a>(
    meta: &'a Map<String, Value>,
    field: &str,
) -> Result<Vec<(&'a str, &'a str)>, ApiError> {
    match meta.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|v| (k.as_str(), v))
                    .ok_or_else(|| wrong_type(&format!("metadata.{field}[{k:?}]"), "a string"))
            })
            .collect(),
        Some(_) => Err(wrong_type(
            &format!("metadata.{field}"),
            "an object of strings",
        )),
    }
}

/// `meta[field]` as strings: absent or null is empty; anything but an array of strings is a
/// decoding error.
fn string_list<'a>(meta: &'a Map<String, Value>, field: &str) -> Result<Vec<&'a str>, ApiError> {
    match meta.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .ok_or_else(|| wrong_type(&format!("metadata.{field}[{i}]"), "a string"))
            })
            .collect(),
        Some(_) => Err(wrong_type(
            &format!("metadata.{field}"),
            "an array of strings",
        )),
    }
}

/// `[prefix/]name` as Kubernetes qualifies label keys, annotation keys and finalizers.
pub(crate) fn qualified_name(value: &str) -> Result<(), String> {
    let (prefix, name) = match value.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, value),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err("prefix part must be non-empty".to_owned());
        }
        validate_subdomain(prefix).map_err(|why| format!("prefix part {why}"))?;
    }
    if name.is_empty() {
        return Err("name part must be non-empty".to_owned());
    }
    if name.len() > NAME_MAX {
        return Err(format!(
            "name part must be no more than {NAME_MAX} characters"
        ));
    }
    if !is_name_part(name) {
        return Err(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start \
             and end with an alphanumeric character"
                .to_owned(),
        );
    }
    Ok(())
}

/// A label value: empty, or a name part of at most 63 characters.
fn label_value(value: &str) -> Result<(), String> {
    if value.len() > NAME_MAX {
        return Err(format!("must be no more than {NAME_MAX} characters"));
    }
    if !value.is_empty() && !is_name_part(value) {
        return Err(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', \
             '_' or '.', and must start and end with an alphanumeric character"
                .to_owned(),
        );
    }
    Ok(())
}

fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_alphanumeric();
    b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter()
            .all(|c| alnum(c) || matches!(c, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(meta: Value) -> Result<(), ApiError> {
        validate_metadata("Pod", "p", meta.as_object().unwrap())
    }

    #[test]
    fn qualified_names() {
        for ok in [
            "app",
            "app.kubernetes.io/name",
            "a_b.c-d",
            "A1",
            "example.com/X",
        ] {
            assert_eq!(qualified_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/x",
            "a/",
            "-a",
            "a-",
            "a b",
            "a/b/c",
            "UPPER.com/x",
            &"x".repeat(64),
        ] {
            assert!(qualified_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_values_are_422_and_bad_types_400() {
        assert!(check(json!({"labels": {"app": "web", "tier": ""}})).is_ok());
        let err = check(json!({"labels": {"bad key!": "v", "ok": "-no"}})).unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(
            err.to_status()["details"]["causes"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            check(json!({"annotations": {"a": 1}})).unwrap_err().code,
            400
        );
        assert_eq!(check(json!({"annotations": "x"})).unwrap_err().code, 400);
        assert_eq!(check(json!({"finalizers": [1]})).unwrap_err().code, 400);
        assert_eq!(check(json!({"name": 7})).unwrap_err().code, 400);
        let big = "x".repeat(ANNOTATIONS_MAX_BYTES);
        assert_eq!(
            check(json!({"annotations": {"a": big}})).unwrap_err().code,
            422
        );
        assert_eq!(
            check(json!({"finalizers": ["a/b/c"]})).unwrap_err().code,
            422
        );
        assert!(check(json!({"finalizers": ["kubernetes", "example.com/cleanup"]})).is_ok());
    }
}
