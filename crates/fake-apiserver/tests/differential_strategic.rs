//! More differential cases for strategic merge patch, on a Deployment's pod template: the merge
//! keys of nested lists (ports, env, volumes, image pull secrets, owner references), lists
//! replaced whole (tolerations), `$patch` on a map and in a nested list, and a `null` that
//! removes a required field. Checked against fake-apiserver always and against a real
//! kube-apiserver v1.32 when `FLYWHEEL_REAL_APISERVER_KUBECONFIG` is set (see
//! `differential.rs`).

mod common;

use axum::http::Method;
use common::differential::*;
use serde_json::{Value, json};

const STRATEGIC: &str = "application/strategic-merge-patch+json";

fn patch(ns: &str, body: Value) -> Call {
    call(
        Method::PATCH,
        format!("/apis/apps/v1/namespaces/{ns}/deployments/d"),
        STRATEGIC,
        body,
    )
}

/// The pod spec of the template, in a patch.
fn pod_spec(spec: Value) -> Value {
    json!({"spec": {"template": {"spec": spec}}})
}

/// A Deployment `d` whose container `c` has a port, an env var and a volume mount, with a
/// volume, a pull secret, a toleration and a node selector.
fn with_rich_deployment(ns: &str) -> Vec<Call> {
    let mut calls = with_deployment(ns);
    calls.push(patch(
        ns,
        pod_spec(json!({
            "containers": [{"name": "c", "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "imagePullSecrets": [{"name": "pull-a"}],
            "tolerations": [{"key": "k1", "operator": "Exists"}],
            "nodeSelector": {"disk": "ssd", "zone": "a"},
        })),
    ));
    calls
}

fn case(name: &'static str, body: Value, outcome: Outcome) -> Case {
    Case {
        name,
        setup: Box::new(with_rich_deployment),
        call: Box::new(move |ns| patch(ns, body.clone())),
        outcome,
    }
}

fn owner(uid: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": uid})
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "ports merge by containerPort",
            pod_spec(json!({"containers": [{"name": "c", "ports": [{"containerPort": 81}]}]})),
            Outcome::Same(
                expect(200, "")
                    .path(
                        "/spec/template/spec/containers/0/ports/0/containerPort",
                        json!(81),
                    )
                    .path(
                        "/spec/template/spec/containers/0/ports/1/containerPort",
                        json!(80),
                    ),
            ),
        ),
        case(
            "env merges by name, a value replaced in place",
            pod_spec(
                json!({"containers": [{"name": "c", "env": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}]}]}),
            ),
            Outcome::Same(
                expect(200, "")
                    .path(
                        "/spec/template/spec/containers/0/env/0",
                        json!({"name": "A", "value": "2"}),
                    )
                    .path(
                        "/spec/template/spec/containers/0/env/1",
                        json!({"name": "B", "value": "3"}),
                    ),
            ),
        ),
        case(
            "a volume replaced through retainKeys",
            pod_spec(
                json!({"volumes": [{"name": "data", "$retainKeys": ["name", "configMap"], "configMap": {"name": "cm"}}]}),
            ),
            Outcome::Same(
                expect(200, "")
                    .path("/spec/template/spec/volumes/0/configMap/name", json!("cm"))
                    .path("/spec/template/spec/volumes/0/emptyDir", Value::Null),
            ),
        ),
        case(
            "pull secrets merge by name",
            pod_spec(json!({"imagePullSecrets": [{"name": "pull-b"}]})),
            Outcome::Same(expect(200, "").path(
                "/spec/template/spec/imagePullSecrets",
                json!([{"name": "pull-b"}, {"name": "pull-a"}]),
            )),
        ),
        case(
            "tolerations are replaced whole",
            pod_spec(json!({"tolerations": [{"key": "k2", "operator": "Exists"}]})),
            Outcome::Same(expect(200, "").path(
                "/spec/template/spec/tolerations",
                json!([{"key": "k2", "operator": "Exists"}]),
            )),
        ),
        case(
            "a $patch replace on a map",
            pod_spec(json!({"nodeSelector": {"$patch": "replace", "zone": "b"}})),
            Outcome::Same(
                expect(200, "").path("/spec/template/spec/nodeSelector", json!({"zone": "b"})),
            ),
        ),
        case(
            "a $patch delete in a nested list",
            pod_spec(
                json!({"containers": [{"name": "c", "volumeMounts": [{"mountPath": "/data", "$patch": "delete"}]}]}),
            ),
            Outcome::Same(
                expect(200, "").path("/spec/template/spec/containers/0/volumeMounts", Value::Null),
            ),
        ),
        case(
            "a null removes a required field, and validation refuses the result",
            pod_spec(json!({"containers": [{"name": "c", "image": null}]})),
            Outcome::Same(expect(422, "Invalid").cause(
                "FieldValueRequired",
                "spec.template.spec.containers[0].image",
            )),
        ),
        Case {
            name: "owner references merge by uid",
            setup: Box::new(|ns| {
                let mut calls = with_rich_deployment(ns);
                calls.push(patch(
                    ns,
                    json!({"metadata": {"ownerReferences": [owner("u1")]}}),
                ));
                calls
            }),
            call: Box::new(|ns| patch(ns, json!({"metadata": {"ownerReferences": [owner("u2")]}}))),
            outcome: Outcome::Same(
                expect(200, "")
                    .path("/metadata/ownerReferences/0/uid", json!("u2"))
                    .path("/metadata/ownerReferences/1/uid", json!("u1")),
            ),
        },
    ]
}

differential_tests!(cases());
