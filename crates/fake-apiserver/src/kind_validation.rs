//! Validation of the built-in kinds beyond metadata: the mistakes a manifest most often holds,
//! refused with the real server's 422 and causes (each read off kube-apiserver v1.32.13,
//! `tests/differential_validation.rs`).
//!
//! - a pod spec (in a pod or any workload's template) without containers, a container without a
//!   name or image, two containers with one name;
//! - a ConfigMap or Secret key that is not a valid config key;
//! - a Service without ports (unless it is an ExternalName or headless one), a port outside
//!   1-65535;
//! - a workload with a negative replica count, without a selector, or whose selector does not
//!   match its template's labels.
//!
//! It runs after defaulting, on every create, update and patch through HTTP, as the real
//! server's validation does. Everything else the real validators check is not checked here.

use serde_json::{Map, Value};

use crate::resources::ResourceDef;
use crate::status::ApiError;

/// The causes of an invalid object: (field path, message).
type Causes = Vec<(String, String)>;

/// Refuse `object` of `def`'s kind with the real server's 422 if it breaks a rule above.
pub(crate) fn validate(def: &ResourceDef, object: &Value) -> Result<(), ApiError> {
    let mut causes = Causes::new();
    let spec = &object["spec"];
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Pod") => pod_spec(spec, "spec", &mut causes),
        ("", "ConfigMap" | "Secret") => {
            for field in ["data", "binaryData"] {
                config_keys(&object[field], field, &mut causes);
            }
        }
        ("", "Service") => service(spec, &mut causes),
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet") => {
            if spec["replicas"].as_i64().is_some_and(|r| r < 0) {
                causes.push((
                    "spec.replicas".into(),
                    format!(
                        "Invalid value: {}: must be greater than or equal to 0",
                        spec["replicas"]
                    ),
                ));
            }
            workload(spec, &mut causes);
        }
        ("apps", "DaemonSet") => workload(spec, &mut causes),
        ("batch", "Job") => pod_spec(&spec["template"]["spec"], "spec.template.spec", &mut causes),
        ("batch", "CronJob") => pod_spec(
            &spec["jobTemplate"]["spec"]["template"]["spec"],
            "spec.jobTemplate.spec.template.spec",
            &mut causes,
        ),
        _ => {}
    }
    if causes.is_empty() {
        return Ok(());
    }
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    Err(ApiError::invalid_in(&def.group, &def.kind, name, causes))
}

fn required(field: String, causes: &mut Causes) {
    causes.push((field, "Required value".to_owned()));
}

fn pod_spec(spec: &Value, at: &str, causes: &mut Causes) {
    let containers = spec["containers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if containers.is_empty() {
        required(format!("{at}.containers"), causes);
    }
    let mut names: Vec<&str> = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let path = format!("{at}.containers[{i}]");
        match c["name"].as_str().filter(|n| !n.is_empty()) {
            None => required(format!("{path}.name"), causes),
            Some(name) if names.contains(&name) => causes.push((
                format!("{path}.name"),
                format!("Duplicate value: \"{name}\""),
            )),
            Some(name) => names.push(name),
        }
        if c["image"].as_str().is_none_or(str::is_empty) {
            required(format!("{path}.image"), causes);
        }
    }
}

/// A config key: `[-._a-zA-Z0-9]+`, at most 253 characters, not `.` or `..`.
fn config_keys(map: &Value, field: &str, causes: &mut Causes) {
    for key in map.as_object().into_iter().flat_map(Map::keys) {
        let ok = !key.is_empty()
            && key.len() <= 253
            && key != "."
            && key != ".."
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            causes.push((
                format!("{field}[{key}]"),
                format!(
                    "Invalid value: \"{key}\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
                ),
            ));
        }
    }
}

fn service(spec: &Value, causes: &mut Causes) {
    let ports = spec["ports"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let external = spec["type"] == "ExternalName";
    let headless = spec["clusterIP"] == "None";
    if ports.is_empty() && !external && !headless {
        required("spec.ports".to_owned(), causes);
    }
    for (i, port) in ports.iter().enumerate() {
        for field in ["port", "targetPort"] {
            let value = &port[field];
            if let Some(n) = value.as_i64()
                && !(1..=65_535).contains(&n)
            {
                causes.push((
                    format!("spec.ports[{i}].{field}"),
                    format!("Invalid value: {n}: must be between 1 and 65535, inclusive"),
                ));
            }
        }
    }
}

fn workload(spec: &Value, causes: &mut Causes) {
    let selector = &spec["selector"];
    if selector.is_null() {
        required("spec.selector".to_owned(), causes);
    }
    let labels = &spec["template"]["metadata"]["labels"];
    if !selects(selector, labels) {
        causes.push((
            "spec.template.metadata.labels".to_owned(),
            format!(
                "Invalid value: {}: `selector` does not match template `labels`",
                go_string_map(labels)
            ),
        ));
    }
    pod_spec(&spec["template"]["spec"], "spec.template.spec", causes);
}

/// Whether a label selector object selects these labels (a missing selector selects nothing).
fn selects(selector: &Value, labels: &Value) -> bool {
    if selector.is_null() {
        return false;
    }
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let by_labels = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let by_expressions = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e["operator"].as_str() {
                Some("In") => label(key).is_some_and(|v| values.contains(&v)),
                Some("NotIn") => label(key).is_none_or(|v| !values.contains(&v)),
                Some("Exists") => label(key).is_some(),
                Some("DoesNotExist") => label(key).is_none(),
                _ => false,
            }
        });
    by_labels && by_expressions
}

/// A label map as Go's `%#v` prints a `map[string]string` (keys sorted).
fn go_string_map(labels: &Value) -> String {
    let mut pairs: Vec<String> = labels
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    if labels.is_null() {
        return "map[string]string(nil)".to_owned();
    }
    format!("map[string]string{{{}}}", pairs.join(", "))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn causes(def: &ResourceDef, object: Value) -> Vec<String> {
        match validate(def, &object) {
            Ok(()) => Vec::new(),
            Err(e) => e.details.unwrap()["causes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    format!(
                        "{}: {}",
                        c["field"].as_str().unwrap(),
                        c["message"].as_str().unwrap()
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn pods_need_named_containers_with_images() {
        let pods = ResourceDef::new("", "v1", "Pod", "pods");
        assert_eq!(
            causes(&pods, json!({"spec": {}})),
            ["spec.containers: Required value"]
        );
        assert_eq!(
            causes(
                &pods,
                json!({"spec": {"containers": [{"image": "x"}, {"name": "c"}, {"name": "c", "image": "y"}]}})
            ),
            [
                "spec.containers[0].name: Required value",
                "spec.containers[1].image: Required value",
                "spec.containers[2].name: Duplicate value: \"c\"",
            ]
        );
    }

    #[test]
    fn a_deployment_selector_must_match_its_template() {
        let deployments = ResourceDef::new("apps", "v1", "Deployment", "deployments");
        let template = json!({"metadata": {"labels": {"a": "c"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}});
        let found = causes(
            &deployments,
            json!({"spec": {"replicas": -1, "template": template}}),
        );
        assert_eq!(
            found,
            [
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"c\"}: `selector` does not match template `labels`",
            ]
        );
        let ok = json!({"spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "In", "values": ["c"]}]}, "template": template}});
        assert!(causes(&deployments, ok).is_empty());
    }

    #[test]
    fn config_keys_and_service_ports() {
        let cms = ResourceDef::new("", "v1", "ConfigMap", "configmaps");
        assert!(causes(&cms, json!({"data": {"ok.key-1_x": "v"}})).is_empty());
        assert_eq!(causes(&cms, json!({"data": {"bad key!": "v"}})).len(), 1);
        let svcs = ResourceDef::new("", "v1", "Service", "services");
        assert_eq!(
            causes(&svcs, json!({"spec": {}})),
            ["spec.ports: Required value"]
        );
        assert!(causes(&svcs, json!({"spec": {"clusterIP": "None"}})).is_empty());
        assert_eq!(
            causes(
                &svcs,
                json!({"spec": {"ports": [{"port": 0, "targetPort": 0}]}})
            )
            .len(),
            2
        );
    }
}
