//! Server-side printing: the `meta.k8s.io/v1` `Table` that `kubectl get` asks for with
//! `Accept: application/json;as=Table;...`.
//!
//! Each built-in kind has the columns kube-apiserver v1.32.13 prints for it (names, types and
//! which are `-o wide` only, read off a real server), with the cells computed from the object
//! as Kubernetes' printers compute them: a pod's `READY` and `STATUS`, a deployment's
//! `UP-TO-DATE`, a service's `PORT(S)`, and so on. A registered resource gets `NAME` and `AGE`,
//! the columns of a custom resource without printer columns. Ages are written as Kubernetes
//! writes durations (`45s`, `7m30s`, `5h3m`, `3d4h`).

use serde_json::{Value, json};

use crate::meta;
use crate::resources::ResourceDef;

/// A column: name, type, and whether only `-o wide` shows it.
type Column = (&'static str, &'static str, bool);

const WIDE: bool = true;
const ALWAYS: bool = false;

fn columns(def: &ResourceDef) -> &'static [Column] {
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Pod") => &[
            ("Name", "string", ALWAYS),
            ("Ready", "string", ALWAYS),
            ("Status", "string", ALWAYS),
            ("Restarts", "string", ALWAYS),
            ("Age", "string", ALWAYS),
            ("IP", "string", WIDE),
            ("Node", "string", WIDE),
            ("Nominated Node", "string", WIDE),
            ("Readiness Gates", "string", WIDE),
        ],
        ("apps", "Deployment") => &[
            ("Name", "string", ALWAYS),
            ("Ready", "string", ALWAYS),
            ("Up-to-date", "string", ALWAYS),
            ("Available", "string", ALWAYS),
            ("Age", "string", ALWAYS),
            ("Containers", "string", WIDE),
            ("Images", "string", WIDE),
            ("Selector", "string", WIDE),
        ],
        ("apps", "ReplicaSet") => &[
            ("Name", "string", ALWAYS),
            ("Desired", "integer", ALWAYS),
            ("Current", "integer", ALWAYS),
            ("Ready", "integer", ALWAYS),
            ("Age", "string", ALWAYS),
            ("Containers", "string", WIDE),
            ("Images", "string", WIDE),
            ("Selector", "string", WIDE),
        ],
        ("apps", "StatefulSet") => &[
            ("Name", "string", ALWAYS),
            ("Ready", "string", ALWAYS),
            ("Age", "string", ALWAYS),
            ("Containers", "string", WIDE),
            ("Images", "string", WIDE),
        ],
        ("apps", "DaemonSet") => &[
            ("Name", "string", ALWAYS),
            ("Desired", "integer", ALWAYS),
            ("Current", "integer", ALWAYS),
            ("Ready", "integer", ALWAYS),
            ("Up-to-date", "integer", ALWAYS),
            ("Available", "integer", ALWAYS),
            ("Node Selector", "string", ALWAYS),
            ("Age", "string", ALWAYS),
            ("Containers", "string", WIDE),
            ("Images", "string", WIDE),
            ("Selector", "string", WIDE),
        ],
        ("batch", "Job") => &[
            ("Name", "string", ALWAYS),
            ("Status", "string", ALWAYS),
            ("Completions", "string", ALWAYS),
            ("Duration", "string", ALWAYS),
            ("Age", "string", ALWAYS),
            ("Containers", "string", WIDE),
            ("Images", "string", WIDE),
            ("Selector", "string", WIDE),
        ],
        ("batch", "CronJob") => &[
            ("Name", "string", ALWAYS),
            ("Schedule", "string", ALWAYS),
            ("Timezone", "string", ALWAYS),
            ("Suspend", "boolean", ALWAYS),
            ("Active", "integer", ALWAYS),
            ("Last Schedule", "string", ALWAYS),
            ("Age", "string", ALWAYS),
            ("Containers", "string", WIDE),
            ("Images", "string", WIDE),
            ("Selector", "string", WIDE),
        ],
        ("", "Service") => &[
            ("Name", "string", ALWAYS),
            ("Type", "string", ALWAYS),
            ("Cluster-IP", "string", ALWAYS),
            ("External-IP", "string", ALWAYS),
            ("Port(s)", "string", ALWAYS),
            ("Age", "string", ALWAYS),
            ("Selector", "string", WIDE),
        ],
        ("", "ConfigMap") => &[
            ("Name", "string", ALWAYS),
            ("Data", "string", ALWAYS),
            ("Age", "string", ALWAYS),
        ],
        ("", "Secret") => &[
            ("Name", "string", ALWAYS),
            ("Type", "string", ALWAYS),
            ("Data", "string", ALWAYS),
            ("Age", "string", ALWAYS),
        ],
        ("", "Namespace") => &[
            ("Name", "string", ALWAYS),
            ("Status", "string", ALWAYS),
            ("Age", "string", ALWAYS),
        ],
        ("", "ServiceAccount") => &[
            ("Name", "string", ALWAYS),
            ("Secrets", "string", ALWAYS),
            ("Age", "string", ALWAYS),
        ],
        ("coordination.k8s.io", "Lease") => &[
            ("Name", "string", ALWAYS),
            ("Holder", "string", ALWAYS),
            ("Age", "string", ALWAYS),
        ],
        ("", "Node") => &[
            ("Name", "string", ALWAYS),
            ("Status", "string", ALWAYS),
            ("Roles", "string", ALWAYS),
            ("Age", "string", ALWAYS),
            ("Version", "string", ALWAYS),
            ("Internal-IP", "string", WIDE),
            ("External-IP", "string", WIDE),
            ("OS-Image", "string", WIDE),
            ("Kernel-Version", "string", WIDE),
            ("Container-Runtime", "string", WIDE),
        ],
        ("", "Event") => &[
            ("Last Seen", "string", ALWAYS),
            ("Type", "string", ALWAYS),
            ("Reason", "string", ALWAYS),
            ("Object", "string", ALWAYS),
            ("Subobject", "string", WIDE),
            ("Source", "string", WIDE),
            ("Message", "string", ALWAYS),
            ("First Seen", "string", WIDE),
            ("Count", "string", WIDE),
            ("Name", "string", WIDE),
        ],
        _ => &[("Name", "string", ALWAYS), ("Age", "string", ALWAYS)],
    }
}

/// A `Table` for an encoded `<Kind>List`.
pub(crate) fn table(def: &ResourceDef, list: &[u8]) -> Value {
    let list: Value = serde_json::from_slice(list).unwrap_or(Value::Null);
    let now = meta::unix_now();
    let columns = columns(def);
    let rows: Vec<Value> = list["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|item| {
            let cells: Vec<Value> = columns
                .iter()
                .map(|(name, _, _)| cell(def, name, item, now))
                .collect();
            json!({
                "cells": cells,
                "object": { "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": item["metadata"] },
            })
        })
        .collect();
    let definitions: Vec<Value> = columns
        .iter()
        .map(|(name, ty, wide)| {
            json!({
                "name": name,
                "type": ty,
                "format": if *name == "Name" { "name" } else { "" },
                "description": format!("{name} of the {}", def.singular),
                "priority": i32::from(*wide),
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list["metadata"],
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn text_or_none(v: &Value) -> Value {
    match v.as_str() {
        Some(s) if !s.is_empty() => Value::from(s),
        _ => Value::from("<none>"),
    }
}

fn age_of(timestamp: &Value, now: u64) -> Value {
    match timestamp.as_str().and_then(meta::parse_rfc3339) {
        Some(t) => Value::from(human_duration(now.saturating_sub(t))),
        None => Value::from("<unknown>"),
    }
}

/// The cell `column` of `item`.
fn cell(def: &ResourceDef, column: &str, item: &Value, now: u64) -> Value {
    let spec = &item["spec"];
    let status = &item["status"];
    let meta = &item["metadata"];
    let template = match def.kind.as_str() {
        "CronJob" => &spec["jobTemplate"]["spec"]["template"]["spec"],
        _ => &spec["template"]["spec"],
    };
    match (def.kind.as_str(), column) {
        (_, "Name") => meta["name"].clone(),
        ("Event", "Last Seen") => {
            let seen = [
                &item["lastTimestamp"],
                &item["eventTime"],
                &item["firstTimestamp"],
            ]
            .into_iter()
            .find(|t| t.is_string())
            .unwrap_or(&Value::Null);
            age_of(seen, now)
        }
        (_, "Age") => age_of(&meta["creationTimestamp"], now),
        ("Pod", "Ready") => {
            let total = spec["containers"].as_array().map_or(0, Vec::len);
            let ready = status["containerStatuses"]
                .as_array()
                .map_or(0, |s| s.iter().filter(|c| c["ready"] == true).count());
            Value::from(format!("{ready}/{total}"))
        }
        ("Pod", "Status") => Value::from(pod_status(item)),
        ("Pod", "Restarts") => {
            let restarts: i64 = status["containerStatuses"]
                .as_array()
                .map_or(0, |s| s.iter().map(|c| int(&c["restartCount"])).sum());
            Value::from(restarts.to_string())
        }
        ("Pod", "IP") => text_or_none(&status["podIP"]),
        ("Pod", "Node") => text_or_none(&spec["nodeName"]),
        ("Pod", "Nominated Node") => text_or_none(&status["nominatedNodeName"]),
        ("Pod", "Readiness Gates") => match spec["readinessGates"].as_array() {
            Some(gates) if !gates.is_empty() => Value::from(format!("0/{}", gates.len())),
            _ => Value::from("<none>"),
        },
        ("Deployment" | "StatefulSet", "Ready") => Value::from(format!(
            "{}/{}",
            int(&status["readyReplicas"]),
            int(&spec["replicas"])
        )),
        ("Deployment", "Up-to-date") => Value::from(int(&status["updatedReplicas"])),
        ("Deployment", "Available") => Value::from(int(&status["availableReplicas"])),
        ("ReplicaSet", "Desired") => Value::from(int(&spec["replicas"])),
        ("ReplicaSet", "Current") => Value::from(int(&status["replicas"])),
        ("ReplicaSet", "Ready") => Value::from(int(&status["readyReplicas"])),
        ("DaemonSet", "Desired") => Value::from(int(&status["desiredNumberScheduled"])),
        ("DaemonSet", "Current") => Value::from(int(&status["currentNumberScheduled"])),
        ("DaemonSet", "Ready") => Value::from(int(&status["numberReady"])),
        ("DaemonSet", "Up-to-date") => Value::from(int(&status["updatedNumberScheduled"])),
        ("DaemonSet", "Available") => Value::from(int(&status["numberAvailable"])),
        ("DaemonSet", "Node Selector") => pairs_or_none(&template["nodeSelector"]),
        (_, "Containers") => Value::from(container_field(template, "name")),
        (_, "Images") => Value::from(container_field(template, "image")),
        ("CronJob", "Selector") => match &spec["jobTemplate"]["spec"]["selector"] {
            Value::Null => Value::from("<none>"),
            selector => Value::from(crate::scale::selector_string(selector)),
        },
        ("Service", "Selector") => pairs_or_none(&spec["selector"]),
        (_, "Selector") => Value::from(crate::scale::selector_string(&spec["selector"])),
        ("Job", "Status") => Value::from(job_status(item)),
        ("Job", "Completions") => {
            let done = int(&status["succeeded"]);
            match spec["completions"].as_i64() {
                Some(total) => Value::from(format!("{done}/{total}")),
                None => Value::from(format!("{done}/1 of {}", int(&spec["parallelism"]).max(1))),
            }
        }
        ("Job", "Duration") => {
            let start = status["startTime"].as_str().and_then(meta::parse_rfc3339);
            let end = status["completionTime"]
                .as_str()
                .and_then(meta::parse_rfc3339);
            match (start, end) {
                (Some(s), Some(e)) => Value::from(human_duration(e.saturating_sub(s))),
                (Some(s), None) => Value::from(human_duration(now.saturating_sub(s))),
                _ => Value::from(""),
            }
        }
        ("CronJob", "Schedule") => spec["schedule"].clone(),
        ("CronJob", "Timezone") => text_or_none(&spec["timeZone"]),
        ("CronJob", "Suspend") => Value::from(if spec["suspend"] == true {
            "True"
        } else {
            "False"
        }),
        ("CronJob", "Active") => Value::from(status["active"].as_array().map_or(0, Vec::len)),
        ("CronJob", "Last Schedule") => match status["lastScheduleTime"] {
            Value::String(_) => age_of(&status["lastScheduleTime"], now),
            _ => Value::from("<none>"),
        },
        ("Service", "Type") => spec["type"].clone(),
        ("Service", "Cluster-IP") => text_or_none(&spec["clusterIP"]),
        ("Service", "External-IP") => Value::from(external_ip(spec, status)),
        ("Service", "Port(s)") => Value::from(service_ports(spec)),
        ("ConfigMap", "Data") => {
            let n = |k: &str| item[k].as_object().map_or(0, |m| m.len());
            Value::from(n("data") + n("binaryData"))
        }
        ("Secret", "Type") => item["type"].clone(),
        ("Secret", "Data") => Value::from(item["data"].as_object().map_or(0, |m| m.len())),
        ("Namespace", "Status") => status["phase"].clone(),
        ("ServiceAccount", "Secrets") => {
            Value::from(item["secrets"].as_array().map_or(0, Vec::len))
        }
        ("Lease", "Holder") => spec["holderIdentity"].clone(),
        ("Node", "Status") => Value::from(node_status(item)),
        ("Node", "Roles") => Value::from(node_roles(meta)),
        ("Node", "Version") => status["nodeInfo"]["kubeletVersion"].clone(),
        ("Node", "Internal-IP" | "External-IP") => {
            let wanted = column.trim_end_matches("-IP").replace('-', "");
            let found = status["addresses"].as_array().and_then(|a| {
                a.iter()
                    .find(|x| x["type"] == format!("{wanted}IP").as_str())
            });
            found.map_or_else(|| Value::from("<none>"), |x| x["address"].clone())
        }
        ("Node", "OS-Image") => status["nodeInfo"]["osImage"].clone(),
        ("Node", "Kernel-Version") => status["nodeInfo"]["kernelVersion"].clone(),
        ("Node", "Container-Runtime") => status["nodeInfo"]["containerRuntimeVersion"].clone(),
        ("Event", "Type") => item["type"].clone(),
        ("Event", "Reason") => item["reason"].clone(),
        ("Event", "Object") => {
            let object = &item["involvedObject"];
            let kind = object["kind"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            Value::from(format!(
                "{kind}/{}",
                object["name"].as_str().unwrap_or_default()
            ))
        }
        ("Event", "Subobject") => item["involvedObject"]["fieldPath"].clone(),
        ("Event", "Source") => {
            let source = &item["source"];
            let parts: Vec<&str> = [&source["component"], &source["host"]]
                .into_iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .collect();
            Value::from(parts.join(", "))
        }
        ("Event", "Message") => item["message"].clone(),
        ("Event", "First Seen") => age_of(&item["firstTimestamp"], now),
        ("Event", "Count") => Value::from(int(&item["count"]).to_string()),
        _ => Value::Null,
    }
}

/// What `kubectl get pods` shows as STATUS: `Terminating` for a pod being deleted, else the
/// reason a container waits or ended with, else the phase.
fn pod_status(pod: &Value) -> String {
    if pod["metadata"]["deletionTimestamp"].is_string() {
        return "Terminating".to_owned();
    }
    if let Some(reason) = pod["status"]["reason"].as_str() {
        return reason.to_owned();
    }
    for c in pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for state in ["waiting", "terminated"] {
            if let Some(reason) = c["state"][state]["reason"].as_str() {
                return reason.to_owned();
            }
        }
    }
    pod["status"]["phase"]
        .as_str()
        .unwrap_or("Pending")
        .to_owned()
}

fn job_status(job: &Value) -> &'static str {
    let conditions = job["status"]["conditions"].as_array();
    let holds = |kind: &str| {
        conditions.is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == kind && c["status"] == "True")
        })
    };
    if holds("Complete") {
        "Complete"
    } else if holds("Failed") {
        "Failed"
    } else if holds("Suspended") {
        "Suspended"
    } else if job["metadata"]["deletionTimestamp"].is_string() {
        "Terminating"
    } else {
        "Running"
    }
}

fn node_status(node: &Value) -> String {
    let ready = node["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    let mut status = match ready.map(|c| c["status"].as_str().unwrap_or_default()) {
        Some("True") => "Ready".to_owned(),
        Some("False") => "NotReady".to_owned(),
        _ => "Unknown".to_owned(),
    };
    if node["spec"]["unschedulable"] == true {
        status.push_str(",SchedulingDisabled");
    }
    status
}

fn node_roles(meta: &Value) -> String {
    let mut roles: Vec<&str> = meta["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
        .filter(|r| !r.is_empty())
        .collect();
    roles.sort_unstable();
    if roles.is_empty() {
        "<none>".to_owned()
    } else {
        roles.join(",")
    }
}

fn container_field(pod_spec: &Value, field: &str) -> String {
    pod_spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c[field].as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// `a=b,c=d` (sorted), or `<none>`.
fn pairs_or_none(map: &Value) -> Value {
    match map.as_object() {
        Some(m) if !m.is_empty() => {
            let mut pairs: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            pairs.sort();
            Value::from(pairs.join(","))
        }
        _ => Value::from("<none>"),
    }
}

fn service_ports(spec: &Value) -> String {
    let ports: Vec<String> = spec["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let protocol = p["protocol"].as_str().unwrap_or("TCP");
            match p["nodePort"].as_i64() {
                Some(node) => format!("{}:{node}/{protocol}", int(&p["port"])),
                None => format!("{}/{protocol}", int(&p["port"])),
            }
        })
        .collect();
    if ports.is_empty() {
        "<none>".to_owned()
    } else {
        ports.join(",")
    }
}

fn external_ip(spec: &Value, status: &Value) -> String {
    let listed: Vec<&str> = spec["externalIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match spec["type"].as_str() {
        Some("ExternalName") => spec["externalName"].as_str().unwrap_or("<none>").to_owned(),
        Some("LoadBalancer") => {
            let mut all: Vec<&str> = status["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["ip"].as_str().or_else(|| i["hostname"].as_str()))
                .collect();
            all.extend(&listed);
            if all.is_empty() {
                "<pending>".to_owned()
            } else {
                all.join(",")
            }
        }
        _ if !listed.is_empty() => listed.join(","),
        _ => "<none>".to_owned(),
    }
}

/// A duration as Kubernetes prints ages: `45s` under two minutes, `7m30s` under ten, `25m`
/// under three hours, `5h3m` under eight, `30h` under two days, `3d4h` under eight days, `40d`
/// under two years, `2y3d` under eight years, else years.
fn human_duration(secs: u64) -> String {
    let (minutes, hours, days) = (secs / 60, secs / 3600, secs / 86_400);
    if secs < 120 {
        format!("{secs}s")
    } else if minutes < 10 {
        match secs % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        }
    } else if hours < 3 {
        format!("{minutes}m")
    } else if hours < 8 {
        match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 192 {
        match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        }
    } else if days < 730 {
        format!("{days}d")
    } else if days < 2920 {
        match days % 365 {
            0 => format!("{}y", days / 365),
            d => format!("{}y{d}d", days / 365),
        }
    } else {
        format!("{}y", days / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_kubernetes_writes_them() {
        for (secs, text) in [
            (45, "45s"),
            (119, "119s"),
            (450, "7m30s"),
            (420, "7m"),
            (1500, "25m"),
            (5 * 3600 + 180, "5h3m"),
            (30 * 3600, "30h"),
            (76 * 3600, "3d4h"),
            (40 * 86_400, "40d"),
            (3 * 365 * 86_400 + 5 * 86_400, "3y5d"),
            (9 * 365 * 86_400, "9y"),
        ] {
            assert_eq!(human_duration(secs), text, "{secs}");
        }
    }

    #[test]
    fn pod_and_service_cells() {
        let pods = ResourceDef::new("", "v1", "Pod", "pods");
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [{"ready": true, "restartCount": 2,
                "state": {"running": {}}}, {"ready": false, "restartCount": 1,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(cell(&pods, "Ready", &pod, 0), "1/2");
        assert_eq!(cell(&pods, "Status", &pod, 0), "CrashLoopBackOff");
        assert_eq!(cell(&pods, "Restarts", &pod, 0), "3");
        assert_eq!(cell(&pods, "Node", &pod, 0), "<none>");
        let services = ResourceDef::new("", "v1", "Service", "services");
        let svc = json!({"spec": {"type": "NodePort", "clusterIP": "10.0.0.9", "selector": {"b": "2", "a": "1"},
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}});
        assert_eq!(cell(&services, "Port(s)", &svc, 0), "80:30080/TCP,53/UDP");
        assert_eq!(cell(&services, "Selector", &svc, 0), "a=1,b=2");
        assert_eq!(cell(&services, "External-IP", &svc, 0), "<none>");
    }
}
