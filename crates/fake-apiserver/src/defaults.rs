//! Defaulting of the built-in kinds, as kube-apiserver v1.32 fills in what a client left out.
//!
//! Kubernetes keeps its defaults in code (`SetDefaults_*` functions, and for pods the admission
//! plugins and the create strategy), not in its published definitions, so they are code here
//! too, each one read off a real kube-apiserver v1.32.13 (`tests/differential_defaults.rs`
//! compares whole objects). [`apply`] runs on every create and update of a built-in kind
//! through HTTP, before the object is checked and stored; [`on_create`] adds what only a create
//! sets (a pod's priority, tolerations and status; a service's cluster IP).
//!
//! A Job's selector and `controller-uid` labels are made from its uid once the store has given
//! it one ([`with_uid`]); a DaemonSet's template generation moves when an update changes its
//! template ([`on_update`]). Not done: the service account a pod is given (the real server's
//! ServiceAccount admission, off on the reference server).

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Map, Value, json};

use crate::resources::ResourceDef;

/// Fill in the defaults of `object`, of `def`'s kind.
pub(crate) fn apply(def: &ResourceDef, object: &mut Value) {
    if !object.is_object() {
        return;
    }
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Pod") => pod_spec(&mut object["spec"]),
        ("", "Secret") => secret(object),
        ("", "Service") => service(object),
        ("", "Namespace") => {
            if let Some(name) = object["metadata"]["name"].as_str().map(str::to_owned) {
                set(&mut object["metadata"], "labels", json!({}));
                object["metadata"]["labels"]["kubernetes.io/metadata.name"] = Value::String(name);
            }
        }
        ("apps", "Deployment") => {
            let spec = &mut object["spec"];
            set(spec, "replicas", json!(1));
            set(spec, "revisionHistoryLimit", json!(10));
            set(spec, "progressDeadlineSeconds", json!(600));
            set(spec, "strategy", json!({}));
            set(&mut spec["strategy"], "type", json!("RollingUpdate"));
            if spec["strategy"]["type"] == "RollingUpdate" {
                set(&mut spec["strategy"], "rollingUpdate", json!({}));
                let rolling = &mut spec["strategy"]["rollingUpdate"];
                set(rolling, "maxUnavailable", json!("25%"));
                set(rolling, "maxSurge", json!("25%"));
            }
            pod_spec(&mut spec["template"]["spec"]);
        }
        ("apps", "ReplicaSet") => {
            set(&mut object["spec"], "replicas", json!(1));
            pod_spec(&mut object["spec"]["template"]["spec"]);
        }
        ("apps", "StatefulSet") => {
            let spec = &mut object["spec"];
            set(spec, "replicas", json!(1));
            set(spec, "podManagementPolicy", json!("OrderedReady"));
            set(spec, "revisionHistoryLimit", json!(10));
            set(spec, "updateStrategy", json!({}));
            set(&mut spec["updateStrategy"], "type", json!("RollingUpdate"));
            if spec["updateStrategy"]["type"] == "RollingUpdate" {
                set(&mut spec["updateStrategy"], "rollingUpdate", json!({}));
                set(
                    &mut spec["updateStrategy"]["rollingUpdate"],
                    "partition",
                    json!(0),
                );
            }
            set(spec, "persistentVolumeClaimRetentionPolicy", json!({}));
            let retention = &mut spec["persistentVolumeClaimRetentionPolicy"];
            set(retention, "whenDeleted", json!("Retain"));
            set(retention, "whenScaled", json!("Retain"));
            pod_spec(&mut spec["template"]["spec"]);
        }
        ("apps", "DaemonSet") => {
            let spec = &mut object["spec"];
            set(spec, "revisionHistoryLimit", json!(10));
            set(spec, "updateStrategy", json!({}));
            set(&mut spec["updateStrategy"], "type", json!("RollingUpdate"));
            if spec["updateStrategy"]["type"] == "RollingUpdate" {
                set(&mut spec["updateStrategy"], "rollingUpdate", json!({}));
                let rolling = &mut spec["updateStrategy"]["rollingUpdate"];
                set(rolling, "maxUnavailable", json!(1));
                set(rolling, "maxSurge", json!(0));
            }
            pod_spec(&mut spec["template"]["spec"]);
        }
        ("batch", "Job") => job_spec(&mut object["spec"]),
        ("batch", "CronJob") => {
            let spec = &mut object["spec"];
            set(spec, "concurrencyPolicy", json!("Allow"));
            set(spec, "suspend", json!(false));
            set(spec, "successfulJobsHistoryLimit", json!(3));
            set(spec, "failedJobsHistoryLimit", json!(1));
            pod_spec(&mut spec["jobTemplate"]["spec"]["template"]["spec"]);
        }
        _ => {}
    }
}

/// What only a create sets: a pod's priority and default tolerations (the Priority and
/// DefaultTolerationSeconds admission plugins), service links and status (the create
/// strategy); a DaemonSet's template generation annotation; a service's cluster IP.
pub(crate) fn on_create(def: &ResourceDef, object: &mut Value) {
    if !object.is_object() {
        return;
    }
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Pod") => {
            let spec = &mut object["spec"];
            set(spec, "enableServiceLinks", json!(true));
            set(spec, "priority", json!(0));
            set(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
            set(spec, "tolerations", json!([]));
            for key in [
                "node.kubernetes.io/not-ready",
                "node.kubernetes.io/unreachable",
            ] {
                let tolerations = &mut spec["tolerations"];
                let tolerated = tolerations.as_array().is_some_and(|list| {
                    list.iter().any(|t| {
                        (t["key"] == key || t["operator"] == "Exists" && t.get("key").is_none())
                            && (t["effect"] == "NoExecute" || t.get("effect").is_none())
                    })
                });
                if !tolerated && let Value::Array(list) = tolerations {
                    list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
                }
            }
            let qos = qos_class(spec);
            object["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        ("apps", "DaemonSet") => {
            set(&mut object["metadata"], "annotations", json!({}));
            let annotations = &mut object["metadata"]["annotations"];
            set(annotations, TEMPLATE_GENERATION, json!("1"));
        }
        ("", "Service") => {
            let spec = &mut object["spec"];
            if spec["type"] != "ExternalName" && spec.get("clusterIP").is_none_or(Value::is_null) {
                spec["clusterIP"] = Value::String(next_cluster_ip());
            }
            if spec["type"] != "ExternalName" {
                let ip = spec["clusterIP"].clone();
                set(spec, "clusterIPs", json!([ip]));
                set(spec, "ipFamilies", json!(["IPv4"]));
                set(spec, "ipFamilyPolicy", json!("SingleStack"));
            }
        }
        _ => {}
    }
}

/// Everything the real server does to a body of a built-in kind between decoding and storing:
/// [`apply`], [`on_create`] when `create`, and the trip through the Go types
/// ([`roundtrip`](crate::schema::roundtrip)). A registered resource is left as it is.
pub(crate) fn complete(def: &ResourceDef, object: &mut Value, create: bool) {
    let Some(name) = crate::schema::facts().kind_name(&def.group, &def.version, &def.kind) else {
        return;
    };
    apply(def, object);
    if create {
        on_create(def, object);
    }
    crate::schema::roundtrip::normalize(object, name);
}

/// What a create sets once the object has its uid: a Job's selector and labels
/// (`batch.kubernetes.io/controller-uid` and `batch.kubernetes.io/job-name`, and their old
/// unprefixed forms), unless it chose its own selector (`manualSelector: true`).
pub(crate) fn with_uid(def: &ResourceDef, object: &mut Value) {
    if (def.group.as_str(), def.kind.as_str()) != ("batch", "Job")
        || object["spec"]["manualSelector"] == true
    {
        return;
    }
    let uid = object["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let labels = [
        ("batch.kubernetes.io/controller-uid", &uid),
        ("batch.kubernetes.io/job-name", &name),
        ("controller-uid", &uid),
        ("job-name", &name),
    ];
    let template = &mut object["spec"]["template"];
    set(template, "metadata", json!({}));
    set(&mut template["metadata"], "labels", json!({}));
    for (key, value) in labels {
        set(&mut template["metadata"]["labels"], key, json!(value));
    }
    let selector = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    set(&mut object["spec"], "selector", selector);
    // The job itself carries the template's labels when it has none of its own.
    if object["metadata"]["labels"]
        .as_object()
        .is_none_or(Map::is_empty)
    {
        object["metadata"]["labels"] = object["spec"]["template"]["metadata"]["labels"].clone();
    }
}

/// What an update sets from the stored object: a DaemonSet's template generation (its
/// `deprecated.daemonset.template.generation` annotation) is the stored one, plus one when the
/// update changes the pod template.
pub(crate) fn on_update(def: &ResourceDef, old: &Value, new: &mut Value) {
    if (def.group.as_str(), def.kind.as_str()) != ("apps", "DaemonSet") || !new.is_object() {
        return;
    }
    let stored = old["metadata"]["annotations"][TEMPLATE_GENERATION]
        .as_str()
        .and_then(|g| g.parse::<i64>().ok())
        .unwrap_or(0);
    let changed = old["spec"]["template"] != new["spec"]["template"];
    let generation = if changed { stored + 1 } else { stored };
    if generation == 0 {
        return;
    }
    set(&mut new["metadata"], "annotations", json!({}));
    new["metadata"]["annotations"][TEMPLATE_GENERATION] = Value::from(generation.to_string());
}

/// The annotation that holds a DaemonSet's template generation.
const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

/// Sets `key` of an object to `value` unless it holds something already.
fn set(object: &mut Value, key: &str, value: Value) {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    if let Value::Object(map) = object
        && map.get(key).is_none_or(Value::is_null)
    {
        map.insert(key.to_owned(), value);
    }
}

/// A pod's spec, in a pod or a template.
fn pod_spec(spec: &mut Value) {
    set(spec, "dnsPolicy", json!("ClusterFirst"));
    set(spec, "restartPolicy", json!("Always"));
    set(spec, "schedulerName", json!("default-scheduler"));
    set(spec, "securityContext", json!({}));
    set(spec, "terminationGracePeriodSeconds", json!(30));
    for list in ["containers", "initContainers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            containers.iter_mut().for_each(container);
        }
    }
}

fn container(c: &mut Value) {
    set(c, "terminationMessagePath", json!("/dev/termination-log"));
    set(c, "terminationMessagePolicy", json!("File"));
    let policy = pull_policy(c["image"].as_str().unwrap_or_default());
    set(c, "imagePullPolicy", json!(policy));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports {
            set(port, "protocol", json!("TCP"));
        }
    }
}

/// `Always` for an image tagged `latest` or not tagged at all (and not pinned by digest), else
/// `IfNotPresent`.
fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn job_spec(spec: &mut Value) {
    if spec.get("completions").is_none_or(Value::is_null)
        && spec.get("parallelism").is_none_or(Value::is_null)
    {
        set(spec, "completions", json!(1));
    }
    set(spec, "parallelism", json!(1));
    set(spec, "backoffLimit", json!(6));
    set(spec, "completionMode", json!("NonIndexed"));
    set(spec, "suspend", json!(false));
    set(spec, "manualSelector", json!(false));
    if spec.get("podFailurePolicy").is_none_or(Value::is_null) {
        set(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    }
    pod_spec(&mut spec["template"]["spec"]);
}

/// A Secret: `type` Opaque, and `stringData` folded into `data` (base64), as the real server
/// stores it.
fn secret(object: &mut Value) {
    set(object, "type", json!("Opaque"));
    let Some(Value::Object(strings)) = object.as_object_mut().and_then(|o| o.remove("stringData"))
    else {
        return;
    };
    set(object, "data", json!({}));
    for (key, value) in strings {
        let text = value.as_str().unwrap_or_default();
        object["data"][key] = Value::String(base64(text.as_bytes()));
    }
}

fn service(object: &mut Value) {
    let spec = &mut object["spec"];
    set(spec, "type", json!("ClusterIP"));
    set(spec, "sessionAffinity", json!("None"));
    if spec["type"] != "ExternalName" {
        set(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports {
            set(port, "protocol", json!("TCP"));
            let number = port["port"].clone();
            set(port, "targetPort", number);
        }
    }
}

/// The next cluster IP: 10.0.0.1, 10.0.0.2, ... (the real server picks a free one at random
/// from its service range).
fn next_cluster_ip() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % 65_534 + 1;
    format!("10.0.{}.{}", n / 256, n % 256)
}

/// `BestEffort` with no requests or limits at all, `Guaranteed` when every container limits
/// CPU and memory and requests exactly that, else `Burstable`.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec[*k].as_array())
        .flatten()
        .collect();
    let has_any = containers.iter().any(|c| {
        let r = &c["resources"];
        r["requests"].as_object().is_some_and(|m| !m.is_empty())
            || r["limits"].as_object().is_some_and(|m| !m.is_empty())
    });
    if !has_any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let r = &c["resources"];
        ["cpu", "memory"].iter().all(|res| {
            let limit = &r["limits"][*res];
            let request = &r["requests"][*res];
            !limit.is_null() && (request.is_null() || request == limit)
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    crate::schema::protobuf::base64(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy("nginx"), "Always");
        assert_eq!(pull_policy("nginx:latest"), "Always");
        assert_eq!(pull_policy("nginx:1.25"), "IfNotPresent");
        assert_eq!(pull_policy("registry:5000/team/app"), "Always");
        assert_eq!(pull_policy("registry:5000/team/app:2"), "IfNotPresent");
        assert_eq!(pull_policy("app@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn qos_classes() {
        assert_eq!(
            qos_class(&json!({"containers": [{"name": "c"}]})),
            "BestEffort"
        );
        let limits = json!({"cpu": "1", "memory": "1Gi"});
        assert_eq!(
            qos_class(&json!({"containers": [{"resources": {"limits": limits}}]})),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]})),
            "Burstable"
        );
    }

    #[test]
    fn a_secret_folds_string_data_into_data() {
        let def = ResourceDef::new("", "v1", "Secret", "secrets");
        let mut s =
            json!({"metadata": {"name": "s"}, "stringData": {"a": "b"}, "data": {"c": "ZA=="}});
        apply(&def, &mut s);
        assert_eq!(
            s,
            json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "Yg==", "c": "ZA=="}})
        );
    }

    #[test]
    fn a_job_selects_its_pods_by_its_uid() {
        let jobs = ResourceDef::new("batch", "v1", "Job", "jobs");
        let mut job =
            json!({"metadata": {"name": "j", "uid": "u-1"}, "spec": {"template": {"spec": {}}}});
        with_uid(&jobs, &mut job);
        assert_eq!(
            job["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
        );
        assert_eq!(
            job["spec"]["template"]["metadata"]["labels"]["controller-uid"],
            "u-1"
        );
        assert_eq!(
            job["metadata"]["labels"]["batch.kubernetes.io/job-name"],
            "j"
        );
        let mut manual =
            json!({"metadata": {"name": "m", "uid": "u-2"}, "spec": {"manualSelector": true}});
        with_uid(&jobs, &mut manual);
        assert!(manual["spec"].get("selector").is_none());
    }

    #[test]
    fn a_daemonset_template_generation_moves_with_its_template() {
        let daemonsets = ResourceDef::new("apps", "v1", "DaemonSet", "daemonsets");
        let old = json!({"metadata": {"annotations": {TEMPLATE_GENERATION: "1"}}, "spec": {"template": {"spec": {"a": 1}}}});
        let mut same = json!({"metadata": {}, "spec": {"template": {"spec": {"a": 1}}}});
        on_update(&daemonsets, &old, &mut same);
        assert_eq!(same["metadata"]["annotations"][TEMPLATE_GENERATION], "1");
        let mut changed = json!({"metadata": {"annotations": {TEMPLATE_GENERATION: "7"}}, "spec": {"template": {"spec": {"a": 2}}}});
        on_update(&daemonsets, &old, &mut changed);
        assert_eq!(changed["metadata"]["annotations"][TEMPLATE_GENERATION], "2");
    }
}
