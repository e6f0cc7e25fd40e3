//! Strategic merge patch, applied as kube-apiserver applies it to the built-in kinds.
//!
//! A strategic merge patch is a JSON merge patch whose lists follow the schema: a list with the
//! `merge` strategy is merged (objects by their merge key, `containers` by `name`; primitives as a
//! set), every other list is replaced. Directives steer it:
//! - `"$patch": "replace"` in an object replaces it whole, `"$patch": "delete"` empties it; in a
//!   merged list, `{"name": "x", "$patch": "delete"}` removes the item and `{"$patch": "replace"}`
//!   replaces the list with the patch's other items;
//! - `"$retainKeys": [...]` clears every key of the object it does not name;
//! - `"$deleteFromPrimitiveList/<field>": [...]` removes values from a merged list of primitives;
//! - `"$setElementOrder/<field>": [...]` orders a merged list (what `kubectl apply` sends).
//!
//! Results keep the real server's order of list items: the patch's items in the patch's order,
//! the others in their old order, interleaved where the old order says so. Errors carry the real
//! server's messages and classes: a malformed directive is 400, a list of lists 422, and anything
//! else the real server does not classify (a missing merge key, an unknown `$patch`) is a 500
//! whose message is the cause.

use serde_json::{Map, Value};

use super::Schema;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// Why a strategic merge patch cannot apply, by the class the real server answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StrategicError {
    /// 400 `BadRequest`: the patch or one of its directives is malformed.
    BadRequest(String),
    /// 422 `Invalid`.
    Invalid(String),
    /// 500 with no reason: the real server passes these through unclassified.
    Internal(String),
}

type Result<T> = std::result::Result<T, StrategicError>;

/// Apply `patch` to `original` as a strategic merge patch under `schema` (the kind's).
pub(crate) fn apply(original: Value, patch: Value, schema: Schema<'_>) -> Result<Value> {
    let patch = match patch {
        Value::Object(map) => map,
        // Go decodes `null` into a nil map: an empty patch.
        Value::Null => return Ok(original),
        other => {
            return Err(StrategicError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(&other)
            )));
        }
    };
    let original = match original {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    merge_map(original, patch, schema).map(Value::Object)
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: Schema<'_>,
) -> Result<Map<String, Value>> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(bad_patch_type(directive, &patch)),
        };
    }
    retain_keys(&mut original, &mut patch)?;
    set_element_orders(&mut original, &mut patch, schema)?;
    for (key, value) in patch {
        let (key, delete_list) = match key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            Some(rest) => match rest.strip_prefix('/') {
                Some(field) => (field.to_owned(), true),
                None => return Err(bad_request("invalid patch format of primitive list")),
            },
            None => (key, false),
        };
        if value.is_null() {
            original.remove(&key);
            continue;
        }
        let Some(old) = original.get_mut(&key) else {
            if !delete_list {
                insert_without_directives(&mut original, key, value);
            }
            continue;
        };
        match (old, value) {
            (Value::Object(old), Value::Object(value)) => {
                let (field, meta) = schema.field(&key);
                let merged = if meta.replace {
                    value
                } else {
                    merge_map(std::mem::take(old), value, field)?
                };
                *old = merged;
            }
            (Value::Array(old), Value::Array(value)) => {
                let (field, meta) = schema.field(&key);
                let merged = if meta.merge || delete_list {
                    merge_slice(
                        std::mem::take(old),
                        value,
                        field.items(),
                        meta.merge_key,
                        delete_list,
                    )?
                } else {
                    value
                };
                *old = merged;
            }
            (old, value) if same_scalar_type(old, &value) => *old = value,
            (_, value) => {
                if !delete_list {
                    insert_without_directives(&mut original, key, value);
                }
            }
        }
    }
    Ok(original)
}

/// A patch value for a key the original lacks (or holds with another type): nulls inside it
/// dropped, directives removed; an object that is itself a directive removes the key.
fn insert_without_directives(original: &mut Map<String, Value>, key: String, mut value: Value) {
    discard_nulls(&mut value);
    match remove_directives(value) {
        Some(value) => {
            original.insert(key, value);
        }
        None => {
            original.remove(&key);
        }
    }
}

/// `$retainKeys`: every key of the original it does not name goes; the patch may only set keys
/// it names.
fn retain_keys(original: &mut Map<String, Value>, patch: &mut Map<String, Value>) -> Result<()> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(bad_request("invalid patch format of retainKeys"));
    };
    let named = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (key, value) in patch.iter() {
        let directive =
            key.starts_with(DELETE_FROM_PRIMITIVE_LIST) || key.starts_with(SET_ELEMENT_ORDER);
        if !value.is_null() && !directive && !named(key) {
            return Err(bad_request("invalid patch format of retainKeys"));
        }
    }
    original.retain(|k, _| named(k));
    Ok(())
}

/// Every `$setElementOrder/<field>` of this object: merge the field's list, then order it.
fn set_element_orders(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: Schema<'_>,
) -> Result<()> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(bad_arg_type("[]interface {}", &order));
        };
        let field = match key.split_once('/') {
            Some((SET_ELEMENT_ORDER, field)) => field.to_owned(),
            _ => return Err(bad_request("invalid patch format of setElementOrder list")),
        };
        let old = list_at(original, &field)?;
        let new = list_at(patch, &field)?;
        let (field_schema, meta) = schema.field(&field);
        validate_order(new.as_deref().unwrap_or_default(), &order, meta.merge_key)?;
        let merged = match (&old, &new) {
            (Some(old), None) => old.clone(),
            (None, Some(new)) => match remove_directives(Value::Array(new.clone())) {
                Some(Value::Array(items)) => items,
                _ => continue,
            },
            (Some(old), Some(new)) => {
                if meta.merge {
                    merge_slice(
                        old.clone(),
                        new.clone(),
                        field_schema.items(),
                        meta.merge_key,
                        false,
                    )?
                } else {
                    new.clone()
                }
            }
            (None, None) => continue,
        };
        let (listed, unlisted) = partition(merged, &order, meta.merge_key)?;
        let old = old.unwrap_or_default();
        let maps = element_kind_is_map(&old, new.as_deref().unwrap_or_default())?;
        let ordered = normalize_order(listed, unlisted, &order, &old, meta.merge_key, maps)?;
        original.insert(field.clone(), Value::Array(ordered));
        patch.remove(&field);
    }
    Ok(())
}

/// The list at `field`, if any; anything but a list there is an error.
fn list_at(map: &Map<String, Value>, field: &str) -> Result<Option<Vec<Value>>> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items.clone())),
        Some(other) => Err(bad_arg_type("[]interface {}", other)),
    }
}

/// The patch's items (not counting deletions) must appear in the order list, in that order.
fn validate_order(patch: &[Value], order: &[Value], merge_key: Option<&str>) -> Result<()> {
    if order.is_empty() || patch.is_empty() {
        return Ok(());
    }
    let kept: Vec<&Value> = match merge_key {
        Some(_) => {
            let mut kept = Vec::new();
            for item in patch {
                let map = item
                    .as_object()
                    .ok_or_else(|| bad_arg_type("map[string]interface {}", item))?;
                if map.get(DIRECTIVE).and_then(Value::as_str) != Some("delete") {
                    kept.push(item);
                }
            }
            kept
        }
        None => patch.iter().collect(),
    };
    let (mut p, mut o) = (0, 0);
    while p < kept.len() && o < order.len() {
        if kept[p].get(DIRECTIVE).is_some() {
            p += 1;
            continue;
        }
        if merge_key_equal(kept[p], &order[o], merge_key)? {
            p += 1;
        }
        o += 1;
    }
    if p < kept.len() && o >= order.len() {
        return Err(StrategicError::Internal(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            go_fmt(&Value::Array(patch.to_vec())),
            go_fmt(&Value::Array(order.to_vec())),
        )));
    }
    Ok(())
}

fn merge_key_equal(left: &Value, right: &Value, merge_key: Option<&str>) -> Result<bool> {
    let Some(key) = merge_key else {
        return Ok(left == right);
    };
    let l = left
        .as_object()
        .ok_or_else(|| bad_arg_type("map[string]interface {}", left))?;
    let r = right
        .as_object()
        .ok_or_else(|| bad_arg_type("map[string]interface {}", right))?;
    let lv = l.get(key).ok_or_else(|| no_merge_key(l, key))?;
    let rv = r.get(key).ok_or_else(|| no_merge_key(r, key))?;
    Ok(lv == rv)
}

/// Merge two lists of a field with the `merge` strategy (or a `$deleteFromPrimitiveList`).
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    items: Schema<'_>,
    merge_key: Option<&str>,
    delete_list: bool,
) -> Result<Vec<Value>> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let maps = element_kind_is_map(&original, &patch)?;
    let (original, patch, merged) = if !maps {
        if delete_list {
            return Ok(original
                .into_iter()
                .filter(|v| !patch.contains(v))
                .collect());
        }
        let mut both = original.clone();
        both.extend(patch.iter().cloned());
        (original, patch, dedup_scalars(both))
    } else {
        let Some(key) = merge_key else {
            return Err(StrategicError::Internal(format!(
                "cannot merge lists without merge key for {}",
                items.short_name()
            )));
        };
        let (original, patch) = apply_list_directives(original, patch, key)?;
        let merged = merge_by_key(original.clone(), &patch, key, items)?;
        (original, patch, merged)
    };
    let (in_patch, server_only) = partition(merged, &patch, merge_key)?;
    normalize_order(in_patch, server_only, &patch, &original, merge_key, maps)
}

/// The `$patch` items of a merged list of objects: deletions applied to the original, a
/// `replace` makes the patch's other items the whole list. Returns the original and the patch
/// without its directive items.
fn apply_list_directives(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut rest = Vec::new();
    let mut replace = false;
    for item in patch {
        let Some(map) = item.as_object() else {
            rest.push(item);
            continue;
        };
        match map.get(DIRECTIVE) {
            None => rest.push(item),
            Some(directive) => match directive.as_str() {
                Some("delete") => {
                    let value = map.get(key).ok_or_else(|| no_merge_key(map, key))?;
                    let mut kept = Vec::with_capacity(original.len());
                    for (i, old) in original.into_iter().enumerate() {
                        let old_map = old.as_object().ok_or_else(|| not_a_map(i))?;
                        if old_map.get(key) != Some(value) {
                            kept.push(old);
                        }
                    }
                    original = kept;
                }
                Some("replace") => replace = true,
                Some("merge") => {
                    return Err(StrategicError::Internal(
                        "merging lists cannot yet be specified in the patch".to_owned(),
                    ));
                }
                _ => return Err(bad_patch_type(directive, map)),
            },
        }
    }
    if replace {
        Ok((rest, Vec::new()))
    } else {
        Ok((original, rest))
    }
}

/// Each patch item merged into the original item with the same merge key, or appended.
fn merge_by_key(
    mut original: Vec<Value>,
    patch: &[Value],
    key: &str,
    items: Schema<'_>,
) -> Result<Vec<Value>> {
    for item in patch {
        let map = item
            .as_object()
            .ok_or_else(|| bad_arg_type("map[string]interface {}", item))?;
        let value = map.get(key).ok_or_else(|| no_merge_key(map, key))?;
        match find_by_key(&original, key, value)? {
            Some(i) => {
                let old = match std::mem::take(&mut original[i]) {
                    Value::Object(old) => old,
                    _ => Map::new(),
                };
                original[i] = Value::Object(merge_map(old, map.clone(), items)?);
            }
            None => original.push(item.clone()),
        }
    }
    Ok(original)
}

fn find_by_key(list: &[Value], key: &str, value: &Value) -> Result<Option<usize>> {
    for (i, item) in list.iter().enumerate() {
        let map = item.as_object().ok_or_else(|| not_a_map(i))?;
        if map.get(key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Split `list` into the items present in `by` (by merge key, or by value) and the others.
fn partition(
    list: Vec<Value>,
    by: &[Value],
    merge_key: Option<&str>,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut present = Vec::with_capacity(list.len());
    let mut absent = Vec::with_capacity(list.len());
    for item in list {
        let found = match merge_key {
            None => by.contains(&item),
            Some(key) => {
                let map = item
                    .as_object()
                    .ok_or_else(|| bad_arg_type("map[string]interface {}", &item))?;
                let value = map.get(key).ok_or_else(|| no_merge_key(map, key))?;
                find_by_key(by, key, value)?.is_some()
            }
        };
        if found {
            present.push(item);
        } else {
            absent.push(item);
        }
    }
    Ok((present, absent))
}

/// The patch's items in the patch's order and the server's in theirs, interleaved by the
/// server's order where both are known to it.
fn normalize_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
    maps: bool,
) -> Result<Vec<Value>> {
    let patch_items = sort_by_order(patch_items, patch_order, merge_key, maps)?;
    let server_only = sort_by_order(server_only, server_order, merge_key, maps)?;
    let position = |v: &Value| index_in(server_order, v, merge_key, maps);
    let mut out = Vec::with_capacity(patch_items.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = patch_items.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                matches!((position(l), position(r)), (Some(li), Some(ri)) if li < ri)
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    Ok(out)
}

/// A stable sort by position in `order`; deletion directives go last.
fn sort_by_order(
    items: Vec<Value>,
    order: &[Value],
    merge_key: Option<&str>,
    maps: bool,
) -> Result<Vec<Value>> {
    let mut deletions = Vec::new();
    let mut items = if maps {
        let key = merge_key.unwrap_or_default();
        for item in items.iter().chain(order) {
            let map = item
                .as_object()
                .ok_or_else(|| bad_arg_type("map[string]interface {}", item))?;
            if !map.contains_key(key) {
                return Err(no_merge_key(map, key));
            }
        }
        let (kept, deleted): (Vec<Value>, Vec<Value>) = items
            .into_iter()
            .partition(|v| v.get(DIRECTIVE).and_then(Value::as_str) != Some("delete"));
        deletions = deleted;
        kept
    } else {
        items
    };
    items.sort_by_key(|v| index_in(order, v, merge_key, maps).unwrap_or(usize::MAX));
    items.extend(deletions);
    Ok(items)
}

fn index_in(list: &[Value], value: &Value, merge_key: Option<&str>, maps: bool) -> Option<usize> {
    if maps {
        let key = merge_key.unwrap_or_default();
        let wanted = value.get(key);
        list.iter().position(|v| v.get(key) == wanted)
    } else {
        list.iter().position(|v| v == value)
    }
}

/// Whether the lists hold objects; every item must have the same JSON type, and no item may be a
/// list.
fn element_kind_is_map(a: &[Value], b: &[Value]) -> Result<bool> {
    let mut first: Option<&Value> = None;
    for item in a.iter().chain(b) {
        match first {
            None => {
                if item.is_array() {
                    return Err(StrategicError::Invalid(
                        "lists of lists are not supported".to_owned(),
                    ));
                }
                first = Some(item);
            }
            Some(f) if !(same_scalar_type(f, item) || f.is_object() && item.is_object()) => {
                return Err(StrategicError::Internal(format!(
                    "list element types are not identical: [{} {}]",
                    go_fmt(&Value::Array(a.to_vec())),
                    go_fmt(&Value::Array(b.to_vec()))
                )));
            }
            Some(_) => {}
        }
    }
    match first {
        Some(f) => Ok(f.is_object()),
        None => Err(StrategicError::Internal(
            "no elements in any of the given slices".to_owned(),
        )),
    }
}

/// Duplicates removed the way the real server does it (each duplicate swapped with the last
/// item); the order is normalized afterwards.
fn dedup_scalars(mut s: Vec<Value>) -> Vec<Value> {
    let mut i = 0;
    while i + 1 < s.len() {
        let mut j = i + 1;
        while j < s.len() {
            if s[i] == s[j] {
                let last = s.len() - 1;
                s.swap(j, last);
                s.pop();
            } else {
                j += 1;
            }
        }
        i += 1;
    }
    s
}

/// `value` without directive objects (an object holding `$patch` is dropped, in lists too).
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.contains_key(DIRECTIVE) {
                return None;
            }
            Some(Value::Object(
                map.into_iter()
                    .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(discard_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// Same Go type after decoding: strings, booleans, integers and floats are four types.
fn same_scalar_type(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(_), Value::String(_)) | (Value::Bool(_), Value::Bool(_)) => true,
        (Value::Number(x), Value::Number(y)) => x.is_f64() == y.is_f64(),
        _ => false,
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

/// The Go type name of a decoded JSON value, as the real server's messages print it.
fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "map[string]interface {}",
        Value::Array(_) => "[]interface {}",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::Null => "%!s(<nil>)",
    }
}

/// A value printed as Go's `%v` prints the decoded form: `map[k:v]` with sorted keys, `[a b]`.
pub(crate) fn go_fmt(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_fmt(&map[*k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_fmt).collect::<Vec<_>>().join(" ")
        ),
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".to_owned(),
        other => other.to_string(),
    }
}

fn bad_request(message: &str) -> StrategicError {
    StrategicError::BadRequest(message.to_owned())
}

fn bad_arg_type(expected: &str, actual: &Value) -> StrategicError {
    StrategicError::Internal(format!(
        "expected a {expected}, but received a {}",
        go_type(actual)
    ))
}

fn bad_patch_type(directive: &Value, map: &Map<String, Value>) -> StrategicError {
    StrategicError::Internal(format!(
        "unknown patch type: {} in map: {}",
        go_fmt(directive),
        go_fmt(&Value::Object(map.clone()))
    ))
}

fn no_merge_key(map: &Map<String, Value>, key: &str) -> StrategicError {
    StrategicError::Internal(format!(
        "map: {} does not contain declared merge key: {key}",
        go_fmt(&Value::Object(map.clone()))
    ))
}

fn not_a_map(index: usize) -> StrategicError {
    StrategicError::Internal(format!("value for key {index} is not a map"))
}

#[cfg(test)]
#[path = "strategic_tests.rs"]
mod tests;
