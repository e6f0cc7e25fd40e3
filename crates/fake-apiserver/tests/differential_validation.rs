//! Differential cases for the validation of the built-in kinds: the usual mistakes in a
//! manifest, each refused with the real server's 422, message and causes. Checked against
//! fake-apiserver always and against a real kube-apiserver v1.32 when
//! `FLYWHEEL_REAL_APISERVER_KUBECONFIG` is set (see `differential.rs`).

mod common;

use axum::http::Method;
use common::differential::*;
use serde_json::{Value, json};

fn refused(
    name: &'static str,
    path: &'static str,
    body: Value,
    message: &'static str,
    causes: &'static [(&'static str, &'static str)],
) -> Case {
    let mut want = expect(422, "Invalid").message(message);
    for (reason, field) in causes {
        want = want.cause(reason, field);
    }
    Case {
        name,
        setup: Box::new(|ns| vec![create_namespace(ns)]),
        call: Box::new(move |ns| call(Method::POST, path.replace("{ns}", ns), JSON, body.clone())),
        outcome: Outcome::Same(want),
    }
}

fn cases() -> Vec<Case> {
    vec![
        refused(
            "a container without an image",
            "/api/v1/namespaces/{ns}/pods",
            json!({"metadata": {"name": "v1"}, "spec": {"containers": [{"name": "c"}]}}),
            "Pod \"v1\" is invalid: spec.containers[0].image: Required value",
            &[("FieldValueRequired", "spec.containers[0].image")],
        ),
        refused(
            "a pod without containers",
            "/api/v1/namespaces/{ns}/pods",
            json!({"metadata": {"name": "v2"}, "spec": {}}),
            "Pod \"v2\" is invalid: spec.containers: Required value",
            &[("FieldValueRequired", "spec.containers")],
        ),
        refused(
            "two containers with one name",
            "/api/v1/namespaces/{ns}/pods",
            json!({"metadata": {"name": "v4"}, "spec": {"containers": [{"name": "c", "image": "x"}, {"name": "c", "image": "y"}]}}),
            "Pod \"v4\" is invalid: spec.containers[1].name: Duplicate value: \"c\"",
            &[("FieldValueDuplicate", "spec.containers[1].name")],
        ),
        refused(
            "a configmap key with a space",
            "/api/v1/namespaces/{ns}/configmaps",
            json!({"metadata": {"name": "v5"}, "data": {"bad key!": "x"}}),
            "ConfigMap \"v5\" is invalid: data[bad key!]: Invalid value: \"bad key!\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            &[("FieldValueInvalid", "data[bad key!]")],
        ),
        refused(
            "a service port 0",
            "/api/v1/namespaces/{ns}/services",
            json!({"metadata": {"name": "v7"}, "spec": {"ports": [{"port": 0}]}}),
            "Service \"v7\" is invalid: [spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive, spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive]",
            &[
                ("FieldValueInvalid", "spec.ports[0].port"),
                ("FieldValueInvalid", "spec.ports[0].targetPort"),
            ],
        ),
        refused(
            "a service without ports",
            "/api/v1/namespaces/{ns}/services",
            json!({"metadata": {"name": "v8"}, "spec": {}}),
            "Service \"v8\" is invalid: spec.ports: Required value",
            &[("FieldValueRequired", "spec.ports")],
        ),
        refused(
            "a deployment whose selector misses its template",
            "/apis/apps/v1/namespaces/{ns}/deployments",
            json!({"metadata": {"name": "v9"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "c"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}}),
            "Deployment.apps \"v9\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"c\"}: `selector` does not match template `labels`",
            &[("FieldValueInvalid", "spec.template.metadata.labels")],
        ),
        refused(
            "a deployment with negative replicas and no selector",
            "/apis/apps/v1/namespaces/{ns}/deployments",
            json!({"metadata": {"name": "v10"}, "spec": {"replicas": -1,
                "template": {"metadata": {"labels": {"a": "c"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}}),
            "Deployment.apps \"v10\" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, spec.selector: Required value, spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"c\"}: `selector` does not match template `labels`]",
            &[
                ("FieldValueInvalid", "spec.replicas"),
                ("FieldValueRequired", "spec.selector"),
            ],
        ),
        Case {
            name: "a patch that removes every container",
            setup: Box::new(with_deployment),
            call: Box::new(|ns| {
                call(
                    Method::PATCH,
                    format!("/apis/apps/v1/namespaces/{ns}/deployments/d"),
                    "application/merge-patch+json",
                    json!({"spec": {"template": {"spec": {"containers": []}}}}),
                )
            }),
            outcome: Outcome::Same(
                expect(422, "Invalid").cause("FieldValueRequired", "spec.template.spec.containers"),
            ),
        },
    ]
}

differential_tests!(cases());
