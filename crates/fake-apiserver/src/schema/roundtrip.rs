//! The JSON form an object takes after a trip through the real server's Go types.
//!
//! kube-apiserver decodes every body into Go structs and encodes what it stores from them, so
//! what a client reads back follows the Go fields' encoding, not what the client sent:
//! - a field with `omitempty` whose value is zero (`""`, `0`, `false`, an empty list or map,
//!   `null`) is left out (`"paused": false` and `"labels": {}` disappear);
//! - a field without `omitempty` is always there, zero or not (`"serviceName": ""` in a
//!   StatefulSet, `"replicas": 0` in its status);
//! - a struct field that is not a pointer is always there, as `{}` at least (`"resources": {}`
//!   in a container, `"status": {}`), and a zero time is `null` (`"creationTimestamp": null`
//!   in a pod template);
//! - a pointer field is there exactly when it was sent (`"replicas": 0` stays).
//!
//! The facts say which encoding each field has (`go` on the protobuf fields, read from
//! Kubernetes' `types.go` by `cargo xtask api-facts`). [`normalize`] applies it.

use serde_json::{Map, Value};

use super::facts;

/// Messages whose JSON form is not an object of their fields, with the form of their zero value.
fn special_zero(name: &str) -> Option<Value> {
    Some(match name.strip_prefix("io.k8s.apimachinery.pkg.")? {
        "apis.meta.v1.Time" | "apis.meta.v1.MicroTime" => Value::Null,
        "api.resource.Quantity" => Value::String("0".to_owned()),
        "util.intstr.IntOrString" => Value::from(0),
        "apis.meta.v1.Duration" => Value::String("0s".to_owned()),
        "runtime.RawExtension" | "apis.meta.v1.FieldsV1" => Value::Null,
        _ => return None,
    })
}

/// `object`, an object of the definition `name`, as the real server would write it back.
pub(crate) fn normalize(object: &mut Value, name: &str) {
    normalize_depth(object, name, 0);
}

fn normalize_depth(object: &mut Value, name: &str, depth: usize) {
    // Objects are at most 100 levels deep (checked on the way in); this only guards a cycle.
    if depth > crate::limits::MAX_DEPTH || special_zero(name).is_some() {
        return;
    }
    let Some(fields) = facts().protobuf(name) else {
        return;
    };
    if !object.is_object() {
        return;
    }
    for field in fields {
        let ty = field["type"].as_str().unwrap_or_default();
        if field["inline"].as_bool() == Some(true) {
            // An embedded struct: its fields are this object's.
            normalize_depth(object, ty, depth + 1);
            continue;
        }
        let Value::Object(map) = &mut *object else {
            return;
        };
        let key = field["name"].as_str().unwrap_or_default();
        let label = field["label"].as_str().unwrap_or_default();
        let encoding = field["go"].as_str().unwrap_or("omitempty");
        let message = ty.starts_with("io.k8s.");
        let present = map.get(key).is_some_and(|v| !v.is_null());
        if !present {
            map.remove(key);
            if encoding == "pointer" || label != "optional" {
                continue;
            }
            if message {
                // A struct that is not a pointer is always written, omitempty or not.
                let mut zero = special_zero(ty).unwrap_or_else(|| Value::Object(Map::new()));
                normalize_depth(&mut zero, ty, depth + 1);
                map.insert(key.to_owned(), zero);
            } else if encoding == "always" {
                map.insert(key.to_owned(), zero_scalar(ty));
            }
            continue;
        }
        let Some(value) = map.get_mut(key) else {
            continue;
        };
        if encoding == "omitempty" && is_empty(value, message && label == "optional") {
            map.remove(key);
            continue;
        }
        if !message {
            continue;
        }
        match (label, value) {
            ("optional", v) => normalize_depth(v, ty, depth + 1),
            ("repeated", Value::Array(items)) => {
                for item in items {
                    normalize_depth(item, ty, depth + 1);
                }
            }
            ("map", Value::Object(values)) => {
                for item in values.values_mut() {
                    normalize_depth(item, ty, depth + 1);
                }
            }
            _ => {}
        }
    }
}

/// Whether Go's `omitempty` leaves this value out: a zero scalar, an empty list or map (a
/// struct never is).
fn is_empty(value: &Value, is_struct: bool) -> bool {
    if is_struct {
        // `omitempty` never leaves out a struct, whatever its JSON form (an int-or-string 0).
        return value.is_null();
    }
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
    }
}

fn zero_scalar(ty: &str) -> Value {
    match ty {
        "string" | "bytes" => Value::String(String::new()),
        "bool" => Value::Bool(false),
        "double" | "float" => Value::from(0.0),
        _ => Value::from(0),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_statefulset_reads_back_as_the_real_server_writes_it() {
        let mut sts = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "ss", "labels": {}},
            "spec": {"replicas": 0, "minReadySeconds": 0,
                "selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "i", "stdin": false}]}}},
        });
        normalize(&mut sts, "io.k8s.api.apps.v1.StatefulSet");
        assert_eq!(
            sts["metadata"],
            json!({"name": "ss", "creationTimestamp": null})
        );
        assert_eq!(sts["spec"]["replicas"], 0, "a pointer keeps its zero");
        assert!(
            sts["spec"].get("minReadySeconds").is_none(),
            "omitempty drops a zero"
        );
        assert_eq!(sts["spec"]["serviceName"], "", "no omitempty: always there");
        assert_eq!(
            sts["spec"]["template"]["metadata"]["creationTimestamp"],
            Value::Null
        );
        let container = &sts["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container,
            &json!({"name": "c", "image": "i", "resources": {}})
        );
        assert_eq!(
            sts["status"],
            json!({"replicas": 0, "availableReplicas": 0})
        );
        assert!(
            sts["spec"].get("updateStrategy").is_some(),
            "a struct is always written"
        );
    }

    #[test]
    fn unknown_definitions_and_special_types_are_left_alone() {
        let mut v = json!({"x": ""});
        normalize(&mut v, "com.example.v1.Widget");
        assert_eq!(v, json!({"x": ""}));
        let mut t = json!("2024-01-01T00:00:00Z");
        normalize(&mut t, "io.k8s.apimachinery.pkg.apis.meta.v1.Time");
        assert_eq!(t, json!("2024-01-01T00:00:00Z"));
    }
}
