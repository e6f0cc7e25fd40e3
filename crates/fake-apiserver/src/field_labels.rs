//! The fields each built-in kind can be selected by (`fieldSelector`), besides `metadata.name`
//! and `metadata.namespace`, and the real server's refusal of any other.
//!
//! Measured on kube-apiserver v1.32.13: pods, events, secrets, services, namespaces, nodes and
//! jobs have fields of their own (`kubectl describe` lists a pod's events with
//! `involvedObject.name=...,involvedObject.namespace=...,involvedObject.uid=...`); every other
//! kind has only the two metadata fields. A field absent from an object selects as `""`, a
//! boolean as `true`/`false`, a number as its decimal form.

use serde_json::Value;

use crate::resources::ResourceDef;

/// How a kind refuses a field it does not know (the three wordings of the real server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// `field label not supported: X` (kinds with a conversion function).
    Label,
    /// `field label "X" not supported for Job`.
    ForKind,
    /// `"X" is not a known field selector: only "metadata.name", "metadata.namespace"`.
    Default,
}

/// A selectable field: its label and where its value is (a JSON pointer).
type Field = (&'static str, &'static str);

const POD: &[Field] = &[
    ("spec.nodeName", "/spec/nodeName"),
    ("spec.restartPolicy", "/spec/restartPolicy"),
    ("spec.schedulerName", "/spec/schedulerName"),
    ("spec.serviceAccountName", "/spec/serviceAccountName"),
    ("spec.hostNetwork", "/spec/hostNetwork"),
    ("status.phase", "/status/phase"),
    ("status.podIP", "/status/podIP"),
    ("status.podIPs", "/status/podIPs/0/ip"),
    ("status.nominatedNodeName", "/status/nominatedNodeName"),
];

const EVENT: &[Field] = &[
    ("involvedObject.kind", "/involvedObject/kind"),
    ("involvedObject.namespace", "/involvedObject/namespace"),
    ("involvedObject.name", "/involvedObject/name"),
    ("involvedObject.uid", "/involvedObject/uid"),
    ("involvedObject.apiVersion", "/involvedObject/apiVersion"),
    (
        "involvedObject.resourceVersion",
        "/involvedObject/resourceVersion",
    ),
    ("involvedObject.fieldPath", "/involvedObject/fieldPath"),
    ("reason", "/reason"),
    ("reportingComponent", "/reportingComponent"),
    ("source", "/source/component"),
    ("type", "/type"),
];

/// The selectable fields of a kind, and how it refuses others.
fn fields_of(group: &str, kind: &str) -> (&'static [Field], Refusal) {
    match (group, kind) {
        ("", "Pod") => (POD, Refusal::Label),
        ("", "Event") => (EVENT, Refusal::Label),
        ("", "Secret") => (&[("type", "/type")], Refusal::Label),
        ("", "Service") => (
            &[
                ("spec.type", "/spec/type"),
                ("spec.clusterIP", "/spec/clusterIP"),
            ],
            Refusal::Label,
        ),
        ("", "Namespace") => (&[("status.phase", "/status/phase")], Refusal::Label),
        ("", "Node") => (
            &[("spec.unschedulable", "/spec/unschedulable")],
            Refusal::Label,
        ),
        ("batch", "Job") => (
            &[("status.successful", "/status/successful")],
            Refusal::ForKind,
        ),
        _ => (&[], Refusal::Default),
    }
}

/// Whether `label` selects objects of `def`'s kind; the real server's message if not.
pub(crate) fn check(def: &ResourceDef, label: &str) -> Result<(), String> {
    if matches!(label, "metadata.name" | "metadata.namespace") {
        return Ok(());
    }
    let (fields, refusal) = fields_of(&def.group, &def.kind);
    if fields.iter().any(|(l, _)| *l == label) {
        return Ok(());
    }
    Err(match refusal {
        Refusal::Label => format!("field label not supported: {label}"),
        Refusal::ForKind => format!("field label \"{label}\" not supported for {}", def.kind),
        Refusal::Default => format!(
            "\"{label}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        ),
    })
}

/// The value a field selects as when the object does not have it (Go's zero values: a missing
/// boolean is `false`, a missing count `0`, anything else `""`).
pub(crate) fn zero(label: &str) -> &'static str {
    if label.ends_with("hostNetwork") || label.ends_with("unschedulable") {
        "false"
    } else if label.ends_with("successful") {
        "0"
    } else {
        ""
    }
}

/// The selectable fields of an object (beyond name and namespace) that differ from their
/// [`zero`], by the object's `kind` and `apiVersion`; read only for a selector that names one.
pub(crate) fn values(object: &Value) -> Vec<(&'static str, String)> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let group = object["apiVersion"]
        .as_str()
        .and_then(|v| v.split_once('/'))
        .map_or("", |(g, _)| g);
    let (fields, _) = fields_of(group, kind);
    fields
        .iter()
        .filter_map(|(label, pointer)| {
            let text = match object.pointer(pointer)? {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            (text != zero(label)).then_some((*label, text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_kind_refuses_unknown_fields_in_the_real_wording() {
        let defs = ResourceDef::builtins();
        let def = |plural: &str| defs.iter().find(|d| d.plural == plural).unwrap();
        assert_eq!(
            check(def("pods"), "zz").unwrap_err(),
            "field label not supported: zz"
        );
        assert_eq!(
            check(def("jobs"), "zz").unwrap_err(),
            "field label \"zz\" not supported for Job"
        );
        assert_eq!(
            check(def("configmaps"), "data").unwrap_err(),
            "\"data\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
        assert!(check(def("events"), "involvedObject.uid").is_ok());
        assert!(check(def("configmaps"), "metadata.name").is_ok());
    }

    #[test]
    fn values_follow_the_kind_and_go_zero_values() {
        let event = json!({"apiVersion": "v1", "kind": "Event", "involvedObject": {"name": "p", "kind": "Pod"}, "source": {"component": "kubelet"}});
        let got = values(&event);
        assert!(got.contains(&("involvedObject.name", "p".to_owned())));
        assert!(got.contains(&("source", "kubelet".to_owned())));
        assert_eq!(
            got.len(),
            3,
            "only the fields that differ from their zero: {got:?}"
        );
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"nodeName": "n1", "hostNetwork": false}});
        assert_eq!(values(&pod), [("spec.nodeName", "n1".to_owned())]);
        assert_eq!(zero("spec.hostNetwork"), "false");
        assert!(values(&json!({"apiVersion": "v1", "kind": "ConfigMap"})).is_empty());
    }
}
