//! JSON merge patch (RFC 7386) and JSON patch (RFC 6902), and the [`Patcher`] a PATCH body of
//! each served content type makes (strategic merge patch is [`crate::schema::strategic`]'s).
//!
//! A JSON patch is bounded as [`limits`](crate::limits) says: at most
//! [`MAX_JSON_PATCH_OPS`] operations, `copy` operations that add at most the copy budget in all,
//! and no operation may nest the document deeper than [`MAX_DEPTH`]; each is checked *before* the
//! operation builds anything, so a hostile patch costs at most its own size plus the budget.

use serde_json::{Map, Value};

use crate::limits::{MAX_DEPTH, MAX_JSON_PATCH_OPS, depth_within, encoded_len};
use crate::schema::Schema;
use crate::schema::strategic::{self, StrategicError};
use crate::status::ApiError;

/// Why a JSON patch was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonPatchError {
    /// More operations than [`MAX_JSON_PATCH_OPS`] (the real server answers 413).
    TooManyOperations(usize),
    /// An operation is malformed or cannot apply (422).
    Invalid(String),
}

impl std::fmt::Display for JsonPatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooManyOperations(n) => write!(
                f,
                "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPS}, got {n}"
            ),
            Self::Invalid(message) => f.write_str(message),
        }
    }
}

/// Apply an RFC 7386 merge patch to `target` in place.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else { return };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Apply an RFC 6902 JSON patch (`[{"op": ..., "path": ...}, ...]`). Operations apply in order on a
/// copy; on any error `target` is left untouched. `copy_budget` is the most bytes all `copy`
/// operations together may add.
pub(crate) fn json_patch(
    target: &mut Value,
    patch: &Value,
    copy_budget: usize,
) -> Result<(), JsonPatchError> {
    let ops = patch.as_array().ok_or_else(|| {
        JsonPatchError::Invalid("a JSON patch must be an array of operations".to_owned())
    })?;
    if ops.len() > MAX_JSON_PATCH_OPS {
        return Err(JsonPatchError::TooManyOperations(ops.len()));
    }
    let mut doc = target.clone();
    let mut budget = copy_budget;
    for (i, op) in ops.iter().enumerate() {
        apply_op(&mut doc, op, &mut budget)
            .map_err(|e| JsonPatchError::Invalid(format!("JSON patch operation {i}: {e}")))?;
    }
    *target = doc;
    Ok(())
}

/// Refuses to put a value of depth `depth` at `path` when the document would nest deeper than
/// [`MAX_DEPTH`].
fn check_nesting(path: &str, value: &Value) -> Result<(), String> {
    let level = path.matches('/').count();
    match depth_within(value, MAX_DEPTH.saturating_sub(level)) {
        Some(_) => Ok(()),
        None => Err(format!(
            "the value at {path:?} would nest the object deeper than {MAX_DEPTH} levels"
        )),
    }
}

fn apply_op(doc: &mut Value, op: &Value, copy_budget: &mut usize) -> Result<(), String> {
    let name = op
        .get("op")
        .and_then(Value::as_str)
        .ok_or("missing \"op\"")?;
    let path = op
        .get("path")
        .and_then(Value::as_str)
        .ok_or("missing \"path\"")?;
    let value = || {
        op.get("value")
            .cloned()
            .ok_or_else(|| format!("{name} needs a \"value\""))
    };
    let from = || {
        op.get("from")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{name} needs a \"from\""))
    };
    match name {
        "add" => {
            let value = value()?;
            check_nesting(path, &value)?;
            add(doc, path, value)
        }
        "remove" => remove(doc, path).map(drop),
        "replace" => {
            let value = value()?;
            check_nesting(path, &value)?;
            let slot = pointer_mut(doc, path)?;
            *slot = value;
            Ok(())
        }
        "move" => {
            let from = from()?;
            if path.starts_with(from) && path[from.len()..].starts_with('/') {
                return Err(format!("cannot move {from:?} into its own child {path:?}"));
            }
            check_nesting(path, pointer_mut(doc, from)?)?;
            let moved = remove(doc, from)?;
            add(doc, path, moved)
        }
        "copy" => {
            let source = pointer_mut(doc, from()?)?;
            check_nesting(path, source)?;
            let size = encoded_len(source);
            if size > *copy_budget {
                return Err(format!(
                    "copying {size} bytes would exceed what the copy operations of one patch may \
                     add ({} bytes left of the limit)",
                    *copy_budget
                ));
            }
            *copy_budget -= size;
            let copied = source.clone();
            add(doc, path, copied)
        }
        "test" => {
            let actual = pointer_mut(doc, path)?;
            if *actual == value()? {
                Ok(())
            } else {
                Err(format!("test failed at {path:?}"))
            }
        }
        other => Err(format!("unknown operation {other:?}")),
    }
}

/// Split a JSON pointer into unescaped tokens.
fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("path {path:?} must start with '/'"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn pointer_mut<'a>(doc: &'a mut Value, path: &str) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for token in tokens(path)? {
        cur = match cur {
            Value::Object(map) => map
                .get_mut(&token)
                .ok_or_else(|| format!("path {path:?} does not exist"))?,
            Value::Array(items) => {
                let i = index(&token, items.len())?;
                items
                    .get_mut(i)
                    .ok_or_else(|| format!("index {token} out of range in {path:?}"))?
            }
            _ => return Err(format!("path {path:?} does not exist")),
        };
    }
    Ok(cur)
}

fn parent_and_last(path: &str) -> Result<(String, String), String> {
    let toks = tokens(path)?;
    let Some(pos) = path.rfind('/') else {
        return Err("the whole document cannot be the target".to_owned());
    };
    let last = toks.last().cloned().unwrap_or_default();
    Ok((path[..pos].to_owned(), last))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = parent_and_last(path)?;
    match pointer_mut(doc, &parent)? {
        Value::Object(map) => {
            map.insert(last, value);
            Ok(())
        }
        Value::Array(items) => {
            let i = if last == "-" {
                items.len()
            } else {
                index(&last, items.len() + 1)?
            };
            items.insert(i, value);
            Ok(())
        }
        _ => Err(format!("parent of {path:?} is not an object or array")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = parent_and_last(path)?;
    match pointer_mut(doc, &parent)? {
        Value::Object(map) => map
            .remove(&last)
            .ok_or_else(|| format!("path {path:?} does not exist")),
        Value::Array(items) => {
            let i = index(&last, items.len())?;
            Ok(items.remove(i))
        }
        _ => Err(format!("path {path:?} does not exist")),
    }
}

/// An array index token: digits without a leading zero, below `len`.
fn index(token: &str, len: usize) -> Result<usize, String> {
    let ok = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    let i: usize = if ok {
        token.parse().map_err(|_| format!("bad index {token:?}"))?
    } else {
        return Err(format!("bad index {token:?}"));
    };
    if i < len {
        Ok(i)
    } else {
        Err(format!("index {i} out of range"))
    }
}

/// A change that applies a patch of content type `kind` to an object.
pub(crate) type Patcher = Box<dyn FnOnce(Value) -> Result<Value, ApiError> + Send>;

/// The change a PATCH body of content type `kind` makes: 415 for a type not served. A strategic
/// merge patch needs the kind's schema (`schema`): without one (a custom resource) it is 415, as
/// on the real server.
pub(crate) fn patcher(
    kind: &str,
    body: Value,
    copy_budget: usize,
    schema: Option<Schema<'static>>,
) -> Result<Patcher, ApiError> {
    match kind {
        "application/merge-patch+json" => Ok(Box::new(move |mut old| {
            merge_patch(&mut old, &body);
            Ok(old)
        })),
        "application/strategic-merge-patch+json" => {
            let Some(schema) = schema else {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types \
                     include: application/json-patch+json, application/merge-patch+json",
                ));
            };
            Ok(Box::new(move |old| {
                strategic::apply(old, body, schema).map_err(|e| match e {
                    StrategicError::BadRequest(m) => ApiError::bad_request(m),
                    StrategicError::Invalid(m) => ApiError::new(422, "Invalid", m),
                    StrategicError::Internal(m) => ApiError::new(500, "", m),
                })
            }))
        }
        "application/json-patch+json" => Ok(Box::new(move |mut old| {
            json_patch(&mut old, &body, copy_budget).map_err(|e| match e {
                JsonPatchError::TooManyOperations(_) => ApiError::new(
                    413,
                    "RequestEntityTooLarge",
                    format!("Request entity too large: {e}"),
                ),
                JsonPatchError::Invalid(_) => ApiError::new(422, "Invalid", e.to_string()),
            })?;
            Ok(old)
        })),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_examples_from_rfc7386() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
        let mut doc = json!({"a": [1, 2]});
        merge_patch(&mut doc, &json!({"a": [3]}));
        assert_eq!(doc, json!({"a": [3]}));
    }

    const BUDGET: usize = 1 << 20;

    #[test]
    fn json_patch_ops() {
        let mut doc = json!({"a": {"b": [1, 2]}, "c~d": 1, "e/f": 2});
        json_patch(
            &mut doc,
            &json!([
                {"op": "add", "path": "/a/b/-", "value": 3},
                {"op": "add", "path": "/a/b/0", "value": 0},
                {"op": "remove", "path": "/c~0d"},
                {"op": "replace", "path": "/e~1f", "value": 5},
                {"op": "copy", "from": "/a/b", "path": "/copy"},
                {"op": "move", "from": "/copy", "path": "/moved"},
                {"op": "test", "path": "/moved/3", "value": 3}
            ]),
            BUDGET,
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"a": {"b": [0, 1, 2, 3]}, "e/f": 5, "moved": [0, 1, 2, 3]})
        );
    }

    #[test]
    fn failed_json_patch_leaves_target() {
        let mut doc = json!({"a": 1});
        let err = json_patch(
            &mut doc,
            &json!([{"op": "replace", "path": "/a", "value": 2}, {"op": "test", "path": "/a", "value": 1}]),
            BUDGET,
        );
        assert!(err.is_err());
        assert_eq!(doc, json!({"a": 1}));
        for bad in [
            json!({}),
            json!([{"op": "nope", "path": "/a"}]),
            json!([{"op": "remove", "path": "/x"}]),
            json!([{"op": "add", "path": "a", "value": 1}]),
        ] {
            assert!(json_patch(&mut doc, &bad, BUDGET).is_err(), "{bad}");
        }
    }

    /// The crash reproducer: 11 `copy` operations, each doubling a chain of nested objects.
    pub(crate) fn doubling_copies(under: &str) -> Value {
        Value::Array(
            (0..11)
                .map(|k| {
                    let path = format!("{under}{}", "/a".repeat(1 << k));
                    json!({"op": "copy", "from": under, "path": path})
                })
                .collect(),
        )
    }

    #[test]
    fn doubling_copies_stop_at_the_depth_bound_and_leave_the_target() {
        let mut doc = json!({"x": {}});
        let err = json_patch(&mut doc, &doubling_copies("/x"), BUDGET).unwrap_err();
        assert!(err.to_string().contains("deeper than"), "{err}");
        assert_eq!(doc, json!({"x": {}}));
        let deep_add: Vec<Value> = (0..=MAX_DEPTH)
            .map(|i| json!({"op": "add", "path": "/x".repeat(i + 1), "value": {}}))
            .collect();
        let err = json_patch(&mut doc, &Value::Array(deep_add), BUDGET).unwrap_err();
        assert!(err.to_string().contains("deeper than"), "{err}");
        // Up to the bound is fine.
        let mut doc = json!({});
        let ok: Vec<Value> = (0..MAX_DEPTH - 1)
            .map(|i| json!({"op": "add", "path": "/x".repeat(i + 1), "value": {}}))
            .collect();
        json_patch(&mut doc, &Value::Array(ok), BUDGET).unwrap();
        assert_eq!(depth_within(&doc, MAX_DEPTH), Some(MAX_DEPTH));
    }

    #[test]
    fn copies_are_bounded_by_the_budget_and_operations_by_count() {
        let mut doc = json!({"blob": "x".repeat(1000)});
        let ops: Vec<Value> = (0..24)
            .map(|i| json!({"op": "copy", "from": "", "path": format!("/c{i}")}))
            .collect();
        let err = json_patch(&mut doc, &Value::Array(ops), 100_000).unwrap_err();
        assert!(err.to_string().contains("copy operations"), "{err}");
        let many = Value::Array(vec![json!({"op": "test", "path": "", "value": 1}); 10_001]);
        assert_eq!(
            json_patch(&mut doc, &many, BUDGET),
            Err(JsonPatchError::TooManyOperations(10_001))
        );
    }
}
