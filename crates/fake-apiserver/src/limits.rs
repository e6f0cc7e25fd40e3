//! Bounds on what one request may make the server build or keep, so that no request can crash
//! it or exhaust its memory.
//!
//! | bound | value | the real server |
//! |---|---|---|
//! | operations in one JSON patch | [`MAX_JSON_PATCH_OPS`] (10,000) | the same limit, 413 |
//! | bytes all `copy` operations of one JSON patch may add | the request body limit (3 MiB by default) | `JSONPatchMaxCopyBytes`, 3 MiB by default |
//! | nesting of a stored object | [`MAX_DEPTH`] levels | Go's decoder allows 10,000 |
//! | size of a stored object | the request body limit | etcd's request limit, about 1.5 MiB |
//!
//! The depth bound is a deliberate difference: serde_json (and so kube-rs and this server's own
//! reader) stops at 128 levels, and a watch event or a list wraps an object in two more, so an
//! object deeper than [`MAX_DEPTH`] could be stored but never read back by a Rust client.
//! Checks never recurse: a value is walked with an explicit stack that stops at the bound.

use serde_json::Value;

use crate::status::ApiError;

/// The most operations one JSON patch may carry (kube-apiserver's `maxJSONPatchOperations`).
pub(crate) const MAX_JSON_PATCH_OPS: usize = 10_000;

/// The deepest nesting of arrays and objects a stored object may have (the object itself is
/// level 1).
pub(crate) const MAX_DEPTH: usize = 100;

/// The nesting depth of `value` (0 for a scalar, 1 for a flat object or array), or `None` as soon
/// as it exceeds `limit`. Iterative: safe on any value.
pub(crate) fn depth_within(value: &Value, limit: usize) -> Option<usize> {
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(value, 1)];
    while let Some((value, level)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if level > limit {
            return None;
        }
        deepest = deepest.max(level);
        stack.extend(children.map(|child| (child, level + 1)));
    }
    Some(deepest)
}

/// The length of `value` serialized as compact JSON, for a value already known to be within
/// [`MAX_DEPTH`] (so the serializer's recursion is bounded).
pub(crate) fn encoded_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing to a counter cannot fail, and a `Value` always serializes.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// Refuses an object about to be stored that nests deeper than [`MAX_DEPTH`] (422) or encodes to
/// more than `max_bytes` (413).
pub(crate) fn check_object(
    kind: &str,
    name: &str,
    value: &Value,
    max_bytes: usize,
) -> Result<(), ApiError> {
    if depth_within(value, MAX_DEPTH).is_none() {
        return Err(ApiError::invalid(
            kind,
            name,
            vec![(
                String::new(),
                format!("Invalid value: the object nests deeper than {MAX_DEPTH} levels"),
            )],
        ));
    }
    let size = encoded_len(value);
    if size > max_bytes {
        return Err(ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!(
                "Request entity too large: the object is {size} bytes, the limit is {max_bytes}"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_counts_containers_and_stops_at_the_limit() {
        assert_eq!(depth_within(&json!(1), 5), Some(0));
        assert_eq!(depth_within(&json!({}), 5), Some(1));
        assert_eq!(depth_within(&json!({"a": [1, {"b": []}]}), 5), Some(4));
        assert_eq!(depth_within(&json!({"a": [1, {"b": []}]}), 3), None);
        let mut deep = json!(0);
        for _ in 0..10_000 {
            deep = Value::Array(vec![deep]);
        }
        assert_eq!(depth_within(&deep, MAX_DEPTH), None);
        assert_eq!(depth_within(&deep, 20_000), Some(10_000));
        // Dropping it recursively would overflow the test's stack: take it apart by hand.
        let mut rest = deep;
        while let Value::Array(mut items) = rest {
            rest = items.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn encoded_len_is_the_serialized_length() {
        let v = json!({"a": [1, "x\"y", null], "b": {"c": true}});
        assert_eq!(encoded_len(&v), serde_json::to_vec(&v).unwrap().len());
    }
}
