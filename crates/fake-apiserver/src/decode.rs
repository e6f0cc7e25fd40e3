//! JSON bodies read as kube-apiserver's decoder reads them into its Go types.
//!
//! Two things differ from a plain JSON parse when an object repeats a key: Go decodes the second
//! value into what the first one built, so two objects under one key merge (`"data": {"a": "1"},
//! "data": {"b": "2"}` stores both keys) while anything else is replaced by the last value; and
//! the strict decoder reports each repeat as `duplicate field "metadata.labels.a"` (a warning
//! under `fieldValidation=Warn`, an error under `Strict`). [`parse`] does both.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// What reading a body noticed besides its value: the keys it repeats, and where each key first
/// appears (so findings can be listed in the order of the body, as the real server lists them).
#[derive(Debug, Default)]
pub(crate) struct Reading {
    /// The path of each repeated key, with its place in the body.
    pub(crate) repeated: Vec<(String, usize)>,
    /// The place of each key path's first appearance.
    order: HashMap<String, usize>,
}

impl Reading {
    /// Where `path` first appears in the body (after everything for a path it does not hold).
    pub(crate) fn position(&self, path: &str) -> usize {
        self.order.get(path).copied().unwrap_or(usize::MAX)
    }
}

/// `bytes` as a JSON value with repeated keys merged as Go merges them, and what the reading
/// noticed.
pub(crate) fn parse(bytes: &[u8]) -> Result<(Value, Reading), serde_json::Error> {
    let reading = RefCell::new(Reading::default());
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Seed {
        path: String::new(),
        found: &reading,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok((value, reading.into_inner()))
}

/// Reads one value at `path`.
struct Seed<'a> {
    path: String,
    found: &'a RefCell<Reading>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let seed = Seed {
                path: format!("{}[{}]", self.path, items.len()),
                found: self.found,
            };
            match seq.next_element_seed(seed)? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            let place = {
                let mut reading = self.found.borrow_mut();
                let place = reading.order.len() + reading.repeated.len();
                reading.order.entry(path.clone()).or_insert(place);
                place
            };
            let value = access.next_value_seed(Seed {
                path: path.clone(),
                found: self.found,
            })?;
            match map.get_mut(&key) {
                Some(first) => {
                    self.found.borrow_mut().repeated.push((path, place));
                    merge(first, value);
                }
                None => {
                    map.insert(key, value);
                }
            }
        }
        Ok(Value::Object(map))
    }
}

/// `later` decoded into `earlier`, as Go does: objects merge key by key, anything else is
/// replaced.
fn merge(earlier: &mut Value, later: Value) {
    match (earlier, later) {
        (Value::Object(first), Value::Object(second)) => {
            for (key, value) in second {
                match first.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        first.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn repeated_keys_merge_objects_and_are_named_in_body_order() {
        let body = br#"{"metadata":{"name":"c","labels":{"a":"1","a":"2"}},"data":{"k":"1"},"data":{"j":"2"},"list":[{"x":1,"x":2}],"n":1,"n":2}"#;
        let (value, reading) = parse(body).unwrap();
        let found: Vec<&str> = reading.repeated.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            value,
            json!({"metadata": {"name": "c", "labels": {"a": "2"}}, "data": {"k": "1", "j": "2"}, "list": [{"x": 2}], "n": 2})
        );
        assert_eq!(found, ["metadata.labels.a", "data", "list[0].x", "n"]);
        assert!(reading.position("metadata") < reading.position("data"));
        assert!(
            reading.position("data") < reading.repeated[1].1,
            "a repeat comes after the first"
        );
        assert_eq!(reading.position("nowhere"), usize::MAX);
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert!(parse(b"{").is_err());
        assert!(parse(b"{} {}").is_err());
        assert!(parse(b"[1, 2]").is_ok());
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(
            parse(deep.as_bytes()).is_err(),
            "the nesting limit still holds"
        );
    }
}
