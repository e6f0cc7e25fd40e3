//! Field validation of the built-in kinds: unknown fields and wrong JSON types, checked against
//! the schema facts as kube-apiserver's decoder checks them.
//!
//! The `fieldValidation` query parameter of a create, update or patch says what an unknown field
//! does: `Ignore` drops it, `Warn` (the default when the parameter is absent) drops it and says so
//! in a `Warning` header, `Strict` refuses the request. A value of the wrong type (a string where
//! an integer goes) is refused whatever the parameter says, as the real decoder fails on it.
//!
//! Unknown fields are named by their path (`spec.containers[0].imagePullPolicyy`); several are
//! listed in the order of the body (the caller sorts them with what reading the body noticed).

use std::sync::Arc;

use axum::http::HeaderValue;
use axum::response::Response;
use parking_lot::Mutex;
use serde_json::Value;

use super::{Schema, facts};
use crate::decode::Reading;
use crate::patch::Patcher;
use crate::resources::ResourceDef;
use crate::status::ApiError;

/// What an unknown field does (the `fieldValidation` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldValidation {
    /// Dropped silently.
    Ignore,
    /// Dropped, with a warning (the default).
    Warn,
    /// The request is refused.
    Strict,
}

impl FieldValidation {
    /// The parameter's value; `kind` names the options (`CreateOptions`, `PatchOptions`, ...) in
    /// the 422 for an unsupported value.
    pub(crate) fn parse(value: Option<&str>, kind: &str) -> Result<Self, ApiError> {
        match value.unwrap_or("") {
            "" | "Warn" => Ok(Self::Warn),
            "Ignore" => Ok(Self::Ignore),
            "Strict" => Ok(Self::Strict),
            other => Err(ApiError::invalid_in(
                "meta.k8s.io",
                kind,
                "",
                vec![(
                    "fieldValidation".to_owned(),
                    format!(
                        "Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
                    ),
                )],
            )),
        }
    }
}

/// Check a create or update body of `def`'s kind in place: the warnings to send, or the real
/// server's 400 for a value of the wrong type or (under `Strict`) an unknown or repeated field
/// (`reading`: what reading the body noticed, its repeated keys and their order).
pub(crate) fn check_body(
    body: &mut Value,
    def: &ResourceDef,
    mode: FieldValidation,
    reading: &Reading,
) -> Result<Vec<String>, ApiError> {
    let found = match facts().kind(&def.group, &def.version, &def.kind) {
        Some(schema) => check(body, schema),
        None => Findings::default(),
    };
    // Repeated keys (found while the body was read) and unknown fields, in the order of the body.
    let mut listed: Vec<(usize, String)> = reading
        .repeated
        .iter()
        .map(|(path, place)| (*place, format!("duplicate field \"{path}\"")))
        .collect();
    listed.extend(
        found
            .unknown
            .iter()
            .map(|path| (reading.position(path), unknown_field(path))),
    );
    listed.sort_by_key(|(place, _)| *place);
    let problems = listed.into_iter().map(|(_, message)| message).collect();
    verdict(mode, found.type_error, problems).map_err(|why| {
        ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {why}",
            kind = def.kind,
            version = def.version
        ))
    })
}

/// What a check's findings come to under `mode`: the warnings to send, or why the request is
/// refused (a value of the wrong type in every mode, `problems` under `Strict`).
fn verdict(
    mode: FieldValidation,
    type_error: Option<String>,
    problems: Vec<String>,
) -> Result<Vec<String>, String> {
    if let Some(error) = type_error {
        return Err(error);
    }
    match mode {
        FieldValidation::Strict if !problems.is_empty() => {
            Err(format!("strict decoding error: {}", problems.join(", ")))
        }
        FieldValidation::Warn => Ok(problems),
        _ => Ok(Vec::new()),
    }
}

/// `unknown field "spec.foo"`.
fn unknown_field(path: &str) -> String {
    format!("unknown field \"{path}\"")
}

/// `apply` followed by the field check of the patched object: under `Strict` an unknown field,
/// and in every mode a value of the wrong type, refuse the patch with the real server's 422
/// (`patch: Invalid value: ...`), where `shown` renders the value it quotes; under `Warn` the
/// unknown fields go to `warnings`.
pub(crate) fn checked_patcher(
    apply: Patcher,
    schema: Option<Schema<'static>>,
    mode: FieldValidation,
    shown: Box<dyn FnOnce(&Value) -> String + Send>,
    warnings: Arc<Mutex<Vec<String>>>,
) -> Patcher {
    let Some(schema) = schema else { return apply };
    Box::new(move |old| {
        let mut new = apply(old)?;
        let found = check(&mut new, schema);
        let problems = found.unknown.iter().map(|p| unknown_field(p)).collect();
        match verdict(mode, found.type_error, problems) {
            Ok(warned) => {
                *warnings.lock() = warned;
                Ok(new)
            }
            Err(why) => {
                let value = serde_json::to_string(&shown(&new)).unwrap_or_default();
                Err(ApiError::invalid_in(
                    "",
                    "",
                    "",
                    vec![("patch".to_owned(), format!("Invalid value: {value}: {why}"))],
                ))
            }
        }
    })
}

/// The warnings as `Warning: 299 - "..."` headers, as kubectl prints them.
pub(crate) fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for text in warnings {
        let quoted = text.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = HeaderValue::from_str(&format!("299 - \"{quoted}\"")) {
            response.headers_mut().append("warning", value);
        }
    }
    response
}

/// What the check found in an object.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Findings {
    /// The path of each unknown field (`spec.foo`), each already removed, in key order.
    pub(crate) unknown: Vec<String>,
    /// The first value of a wrong type, as Go's decoder words it.
    pub(crate) type_error: Option<String>,
}

/// Remove every field `schema` does not know from `value`, and find the first value of a wrong
/// type.
pub(crate) fn check(value: &mut Value, schema: Schema<'_>) -> Findings {
    let mut walk = Walk {
        findings: Findings::default(),
        fields: Vec::new(),
        owner: schema.short_name(),
    };
    walk.value(value, schema, &mut String::new());
    walk.findings
}

struct Walk<'a> {
    findings: Findings,
    /// JSON field names from the root, without list indices (Go's error context).
    fields: Vec<String>,
    /// The innermost struct being decoded (Go's error context).
    owner: &'a str,
}

impl<'a> Walk<'a> {
    fn value(&mut self, value: &mut Value, schema: Schema<'a>, path: &mut String) {
        let Some(node) = schema.node() else { return };
        if value.is_null() {
            return;
        }
        let declared = node.get("type").and_then(Value::as_str);
        let format = node.get("format").and_then(Value::as_str);
        let int_or_string = format == Some("int-or-string")
            || node
                .get("x-kubernetes-int-or-string")
                .and_then(Value::as_bool)
                == Some(true);
        if int_or_string {
            if !(value.is_string() || value.is_i64() || value.is_u64()) {
                self.type_error(value, "intstr.IntOrString");
            }
            return;
        }
        match declared {
            Some("string") => {
                // A Quantity also decodes from a JSON number.
                let quantity = schema.short_name() == "Quantity";
                if !(value.is_string() || quantity && value.is_number()) {
                    self.type_error(value, "string");
                }
            }
            Some("integer") => {
                let go = if format == Some("int32") {
                    "int32"
                } else {
                    "int64"
                };
                if !(value.is_i64() || value.is_u64()) {
                    self.type_error(value, go);
                }
            }
            Some("number") if !value.is_number() => self.type_error(value, "float64"),
            Some("boolean") if !value.is_boolean() => self.type_error(value, "bool"),
            Some("array") => match value {
                Value::Array(items) => {
                    let item_schema = schema.items();
                    for (i, item) in items.iter_mut().enumerate() {
                        let len = path.len();
                        path.push_str(&format!("[{i}]"));
                        self.value(item, item_schema, path);
                        path.truncate(len);
                    }
                }
                _ => self.type_error(value, &go_type(schema)),
            },
            Some("object") => match value {
                Value::Object(_) => self.object(value, schema, node, path),
                _ => self.type_error(value, &go_type(schema)),
            },
            _ => {}
        }
    }

    fn object(&mut self, value: &mut Value, schema: Schema<'a>, node: &Value, path: &mut String) {
        let Value::Object(map) = value else { return };
        let preserve = node
            .get("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            == Some(true);
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            let outer = self.owner;
            let name = schema.short_name();
            if !name.is_empty() {
                self.owner = name;
            }
            let mut unknown = Vec::new();
            for (key, field_value) in map.iter_mut() {
                if !props.contains_key(key) {
                    if !preserve {
                        let full = if path.is_empty() {
                            key.clone()
                        } else {
                            format!("{path}.{key}")
                        };
                        self.findings.unknown.push(full);
                        unknown.push(key.clone());
                    }
                    continue;
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                self.fields.push(key.clone());
                self.value(field_value, schema.field(key).0, path);
                self.fields.pop();
                path.truncate(len);
            }
            for key in unknown {
                map.remove(&key);
            }
            self.owner = outer;
        } else if node.get("additionalProperties").is_some() {
            for (key, field_value) in map.iter_mut() {
                let len = path.len();
                path.push('.');
                path.push_str(key);
                self.value(field_value, schema.field(key).0, path);
                path.truncate(len);
            }
        }
    }

    fn type_error(&mut self, value: &Value, go: &str) {
        if self.findings.type_error.is_some() {
            return;
        }
        let what = match value {
            Value::String(_) => "string".to_owned(),
            Value::Bool(_) => "bool".to_owned(),
            Value::Array(_) => "array".to_owned(),
            Value::Object(_) => "object".to_owned(),
            Value::Number(n) if n.is_f64() && go.starts_with("int") => format!("number {n}"),
            Value::Number(_) => "number".to_owned(),
            Value::Null => "null".to_owned(),
        };
        self.findings.type_error = Some(format!(
            "json: cannot unmarshal {what} into Go struct field {}.{} of type {go}",
            self.owner,
            self.fields.join(".")
        ));
    }
}

/// The Go type of a list or object place, as the decoder names it (`[]v1.Container`,
/// `map[string]string`, `v1.PodSpec`).
fn go_type(schema: Schema<'_>) -> String {
    let Some(node) = schema.node() else {
        return "interface {}".to_owned();
    };
    let named = schema.qualified_short_name();
    if !named.is_empty() {
        return named;
    }
    match node.get("type").and_then(Value::as_str) {
        Some("array") => format!("[]{}", go_type(schema.items())),
        Some("object") if node.get("additionalProperties").is_some() => {
            format!("map[string]{}", go_type(schema.field("").0))
        }
        Some("string") => "string".to_owned(),
        Some("integer") => match node.get("format").and_then(Value::as_str) {
            Some("int32") => "int32".to_owned(),
            _ => "int64".to_owned(),
        },
        Some("boolean") => "bool".to_owned(),
        Some("number") => "float64".to_owned(),
        _ => "interface {}".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::facts;

    fn check_pod(mut pod: Value) -> (Value, Findings) {
        let findings = check(&mut pod, facts().kind("", "v1", "Pod").unwrap());
        (pod, findings)
    }

    #[test]
    fn unknown_fields_are_removed_and_named_by_path() {
        let (pod, found) = check_pod(json!({
            "apiVersion": "v1", "kind": "Pod", "bogus": 1,
            "metadata": {"name": "p", "labels": {"a": "b"}, "extra": true},
            "spec": {"containers": [{"name": "c", "image": "i", "imagee": "x"}]},
        }));
        assert_eq!(
            found
                .unknown
                .iter()
                .map(|p| unknown_field(p))
                .collect::<Vec<_>>(),
            [
                "unknown field \"bogus\"",
                "unknown field \"metadata.extra\"",
                "unknown field \"spec.containers[0].imagee\"",
            ]
        );
        assert_eq!(found.type_error, None);
        assert_eq!(
            pod["spec"]["containers"][0],
            json!({"name": "c", "image": "i"})
        );
        assert!(pod.get("bogus").is_none());
        assert_eq!(pod["metadata"]["labels"], json!({"a": "b"}));
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named_as_go_names_it() {
        let (_, found) =
            check_pod(json!({"spec": {"containers": [], "activeDeadlineSeconds": "10"}}));
        assert_eq!(
            found.type_error.as_deref(),
            Some(
                "json: cannot unmarshal string into Go struct field PodSpec.spec.activeDeadlineSeconds of type int64"
            )
        );
        let mut cm = json!({"data": {"a": 1}});
        let found = check(&mut cm, facts().kind("", "v1", "ConfigMap").unwrap());
        assert_eq!(
            found.type_error.as_deref(),
            Some(
                "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
            )
        );
        let (_, found) = check_pod(json!({"spec": {"containers": {}}}));
        assert_eq!(
            found.type_error.as_deref(),
            Some(
                "json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container"
            )
        );
    }

    #[test]
    fn int_or_string_quantities_and_open_objects_are_accepted() {
        let mut d = json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}}]}}}});
        let found = check(&mut d, facts().kind("apps", "v1", "Deployment").unwrap());
        assert_eq!(found, Findings::default());
        assert!(FieldValidation::parse(Some("Strict"), "CreateOptions").is_ok());
        let err = FieldValidation::parse(Some("strict"), "CreateOptions").unwrap_err();
        assert_eq!(err.code, 422);
        assert!(
            err.message.contains("Unsupported value: \"strict\""),
            "{}",
            err.message
        );
    }
}
