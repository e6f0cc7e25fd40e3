//! Differential cases for defaulting: a minimal object of each built-in kind is created, and the
//! whole answer is compared with what a real kube-apiserver v1.32.13 answered for the same body
//! (written down here, re-checked when `FLYWHEEL_REAL_APISERVER_KUBECONFIG` is set; see
//! `differential.rs`). Only what differs between runs is left out of the comparison (uid,
//! resourceVersion, creation time, namespace, managedFields, allocated cluster IPs).

mod common;

use axum::http::Method;
use common::differential::*;
use serde_json::{Value, json};

fn created(name: &'static str, path: &'static str, body: Value, answer: Value) -> Case {
    Case {
        name,
        setup: Box::new(|ns| vec![create_namespace(ns)]),
        call: Box::new(move |ns| call(Method::POST, path.replace("{ns}", ns), JSON, body.clone())),
        outcome: Outcome::Same(expect(201, "").object(answer)),
    }
}

fn template() -> Value {
    json!({"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}})
}

/// The pod spec of a template, as the real server defaults it.
fn defaulted_template(image: &str, pull: &str, restart: &str, labels: Value) -> Value {
    let mut metadata = json!({"creationTimestamp": null});
    if !labels.is_null() {
        metadata["labels"] = labels;
    }
    json!({
        "metadata": metadata,
        "spec": {
            "containers": [{"image": image, "imagePullPolicy": pull, "name": "c", "resources": {},
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
            "dnsPolicy": "ClusterFirst", "restartPolicy": restart, "schedulerName": "default-scheduler",
            "securityContext": {}, "terminationGracePeriodSeconds": 30,
        },
    })
}

fn cases() -> Vec<Case> {
    let selector = json!({"matchLabels": {"a": "b"}});
    let labels = json!({"a": "b"});
    vec![
        created(
            "a pod",
            "/api/v1/namespaces/{ns}/pods",
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"image": "nginx", "imagePullPolicy": "Always", "name": "c",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}], "resources": {},
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
                    "dnsPolicy": "ClusterFirst", "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority",
                    "priority": 0, "restartPolicy": "Always", "schedulerName": "default-scheduler",
                    "securityContext": {}, "terminationGracePeriodSeconds": 30,
                    "tolerations": [
                        {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                        {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}]},
                "status": {"phase": "Pending", "qosClass": "BestEffort"}}),
        ),
        created(
            "a deployment",
            "/apis/apps/v1/namespaces/{ns}/deployments",
            json!({"metadata": {"name": "d"}, "spec": {"selector": selector, "template": template()}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"generation": 1, "name": "d"},
                "spec": {"progressDeadlineSeconds": 600, "replicas": 1, "revisionHistoryLimit": 10,
                    "selector": selector,
                    "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
                    "template": defaulted_template("nginx:1.25", "IfNotPresent", "Always", labels.clone())},
                "status": {}}),
        ),
        created(
            "a statefulset",
            "/apis/apps/v1/namespaces/{ns}/statefulsets",
            json!({"metadata": {"name": "ss"}, "spec": {"selector": selector, "template": template()}}),
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"generation": 1, "name": "ss"},
                "spec": {"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                    "podManagementPolicy": "OrderedReady", "replicas": 1, "revisionHistoryLimit": 10,
                    "selector": selector, "serviceName": "",
                    "template": defaulted_template("nginx:1.25", "IfNotPresent", "Always", labels.clone()),
                    "updateStrategy": {"rollingUpdate": {"partition": 0}, "type": "RollingUpdate"}},
                "status": {"availableReplicas": 0, "replicas": 0}}),
        ),
        created(
            "a daemonset",
            "/apis/apps/v1/namespaces/{ns}/daemonsets",
            json!({"metadata": {"name": "ds"}, "spec": {"selector": selector, "template": template()}}),
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"annotations": {"deprecated.daemonset.template.generation": "1"}, "generation": 1, "name": "ds"},
                "spec": {"revisionHistoryLimit": 10, "selector": selector,
                    "template": defaulted_template("nginx:1.25", "IfNotPresent", "Always", labels.clone()),
                    "updateStrategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}, "type": "RollingUpdate"}},
                "status": {"currentNumberScheduled": 0, "desiredNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0}}),
        ),
        created(
            "a replicaset",
            "/apis/apps/v1/namespaces/{ns}/replicasets",
            json!({"metadata": {"name": "rs"}, "spec": {"selector": selector, "template": template()}}),
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"generation": 1, "name": "rs"},
                "spec": {"replicas": 1, "selector": selector,
                    "template": defaulted_template("nginx:1.25", "IfNotPresent", "Always", labels.clone())},
                "status": {"replicas": 0}}),
        ),
        created(
            "a cronjob",
            "/apis/batch/v1/namespaces/{ns}/cronjobs",
            json!({"metadata": {"name": "cj"}, "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {
                "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}}),
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"generation": 1, "name": "cj"},
                "spec": {"concurrencyPolicy": "Allow", "failedJobsHistoryLimit": 1,
                    "jobTemplate": {"metadata": {"creationTimestamp": null},
                        "spec": {"template": defaulted_template("busybox", "Always", "OnFailure", Value::Null)}},
                    "schedule": "*/5 * * * *", "successfulJobsHistoryLimit": 3, "suspend": false},
                "status": {}}),
        ),
        Case {
            name: "a daemonset's template generation moves with its template",
            setup: Box::new(|ns| {
                vec![
                    create_namespace(ns),
                    call(
                        Method::POST,
                        format!("/apis/apps/v1/namespaces/{ns}/daemonsets"),
                        JSON,
                        json!({"metadata": {"name": "ds"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": template()}}),
                    ),
                ]
            }),
            call: Box::new(|ns| {
                call(
                    Method::PATCH,
                    format!("/apis/apps/v1/namespaces/{ns}/daemonsets/ds"),
                    "application/merge-patch+json",
                    json!({"spec": {"template": {"metadata": {"labels": {"a": "b", "rev": "2"}}}}}),
                )
            }),
            outcome: Outcome::Same(
                expect(200, "")
                    .path(
                        "/metadata/annotations/deprecated.daemonset.template.generation",
                        json!("2"),
                    )
                    .path("/metadata/generation", json!(2)),
            ),
        },
        Case {
            name: "a job's selector and labels come from its uid",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| {
                call(
                    Method::POST,
                    format!("/apis/batch/v1/namespaces/{ns}/jobs"),
                    JSON,
                    json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {
                        "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}),
                )
            }),
            outcome: Outcome::Same(
                expect(201, "")
                    .path("/metadata/labels/job-name", json!("j"))
                    .path("/metadata/labels/batch.kubernetes.io~1job-name", json!("j"))
                    .path("/spec/template/metadata/labels/job-name", json!("j"))
                    .path("/spec/backoffLimit", json!(6))
                    .path("/spec/podReplacementPolicy", json!("TerminatingOrFailed")),
            ),
        },
        created(
            "a service",
            "/api/v1/namespaces/{ns}/services",
            json!({"metadata": {"name": "s"}, "spec": {"selector": {"a": "b"}, "ports": [{"port": 80}]}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                "spec": {"clusterIP": "", "clusterIPs": [], "internalTrafficPolicy": "Cluster",
                    "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                    "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                    "selector": {"a": "b"}, "sessionAffinity": "None", "type": "ClusterIP"},
                "status": {"loadBalancer": {}}}),
        ),
        created(
            "a secret with stringData",
            "/api/v1/namespaces/{ns}/secrets",
            json!({"metadata": {"name": "sec"}, "stringData": {"a": "b"}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"}, "data": {"a": "Yg=="}, "type": "Opaque"}),
        ),
        created(
            "a configmap with empty labels and a false immutable",
            "/api/v1/namespaces/{ns}/configmaps",
            json!({"metadata": {"name": "cm", "labels": {}}, "data": {"a": "b"}, "immutable": false}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "b"}, "immutable": false}),
        ),
    ]
}

differential_tests!(cases());
