//! Differential tests: scripted requests whose answers were read off a real kube-apiserver
//! v1.32, checked against fake-apiserver always, and against a real server too when
//! `FLYWHEEL_REAL_APISERVER_KUBECONFIG` names its kubeconfig (`../shared/tools/real-apiserver`
//! builds and starts one; without the variable the real half says it skipped). So an expected
//! answer written here is one the real server gives, re-checked whenever a real server is at
//! hand, and fake-apiserver is held to it in CI.
//!
//! Each case runs in a namespace of its own (a fresh name per run, so a real server can be
//! reused), and compares the HTTP code, the `Status` reason, the causes' reasons and fields, and
//! the message where the case says it is exact. A case marked `Deliberate` documents an answer
//! fake-apiserver gives on purpose that the real server does not (docs/fake-apiserver.md says
//! why): it checks each side against its own expectation.

mod common;

use axum::http::Method;
use common::differential::*;
use serde_json::{Value, json};

fn cases() -> Vec<Case> {
    let mut cases = vec![
        Case {
            name: "delete the namespace collection",
            setup: none(),
            call: Box::new(|_| delete("/api/v1/namespaces")),
            outcome: Outcome::Same(expect(405, "MethodNotAllowed")),
        },
        Case {
            name: "create in a terminating namespace",
            setup: Box::new(|ns| {
                let mut body = namespace_body(ns);
                body["metadata"]["finalizers"] = json!(["example.com/hold"]);
                vec![
                    call(Method::POST, "/api/v1/namespaces", JSON, body),
                    delete(format!("/api/v1/namespaces/{ns}")),
                ]
            }),
            call: Box::new(|ns| {
                call(
                    Method::POST,
                    format!("/api/v1/namespaces/{ns}/configmaps"),
                    JSON,
                    json!({"metadata": {"name": "late"}}),
                )
            }),
            outcome: Outcome::Same(
                expect(403, "Forbidden").cause("NamespaceTerminating", "metadata.namespace"),
            ),
        },
        Case {
            name: "an invalid label key",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| {
                call(
                    Method::POST,
                    format!("/api/v1/namespaces/{ns}/configmaps"),
                    JSON,
                    json!({"metadata": {"name": "c", "labels": {"bad key!": "v"}}}),
                )
            }),
            outcome: Outcome::Same(expect(422, "Invalid").cause("FieldValueInvalid", "metadata.labels")),
        },
        Case {
            name: "an invalid label value",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| {
                call(
                    Method::POST,
                    format!("/api/v1/namespaces/{ns}/configmaps"),
                    JSON,
                    json!({"metadata": {"name": "c", "labels": {"ok": "-bad-"}}}),
                )
            }),
            outcome: Outcome::Same(expect(422, "Invalid").cause("FieldValueInvalid", "metadata.labels")),
        },
        Case {
            name: "a number as an annotation value",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| {
                call(
                    Method::POST,
                    format!("/api/v1/namespaces/{ns}/configmaps"),
                    JSON,
                    json!({"metadata": {"name": "c", "annotations": {"n": 1}}}),
                )
            }),
            outcome: Outcome::Same(expect(400, "BadRequest")),
        },
        Case {
            name: "a text/plain create",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| {
                call(
                    Method::POST,
                    format!("/api/v1/namespaces/{ns}/configmaps"),
                    "text/plain",
                    json!({"metadata": {"name": "c"}}),
                )
            }),
            outcome: Outcome::Same(expect(415, "UnsupportedMediaType")),
        },
        Case {
            name: "a JSON patch of 10,001 operations",
            setup: Box::new(with_configmap),
            call: Box::new(|ns| {
                call(
                    Method::PATCH,
                    format!("/api/v1/namespaces/{ns}/configmaps/c"),
                    "application/json-patch+json",
                    Value::Array(vec![json!({"op": "test", "path": "/kind", "value": "ConfigMap"}); 10_001]),
                )
            }),
            outcome: Outcome::Same(expect(413, "RequestEntityTooLarge").message(
                "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001",
            )),
        },
        Case {
            name: "a dry-run delete",
            setup: Box::new(with_configmap),
            call: Box::new(|ns| {
                call(
                    Method::DELETE,
                    format!("/api/v1/namespaces/{ns}/configmaps/c"),
                    JSON,
                    json!({"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]}),
                )
            }),
            // Simulated: the answer of a real delete, and nothing deleted (see the dry-run cases
            // of differential_api.rs).
            outcome: Outcome::Same(expect(200, "").status("Success")),
        },
        Case {
            name: "a JSON patch copying the whole object 24 times",
            setup: Box::new(with_configmap),
            call: Box::new(|ns| {
                let mut ops = vec![json!({"op": "add", "path": "/data/blob", "value": "x".repeat(65_536)})];
                ops.extend((0..24).map(|i| json!({"op": "copy", "from": "", "path": format!("/c{i}")})));
                call(
                    Method::PATCH,
                    format!("/api/v1/namespaces/{ns}/configmaps/c"),
                    "application/json-patch+json",
                    Value::Array(ops),
                )
            }),
            outcome: Outcome::Same(expect(422, "Invalid")),
        },
        Case {
            name: "a JSON patch doubling its nesting 11 times",
            setup: Box::new(with_configmap),
            call: Box::new(|ns| {
                let mut ops = vec![json!({"op": "add", "path": "/x", "value": {}})];
                ops.extend((0..11).map(|k| {
                    json!({"op": "copy", "from": "/x", "path": format!("/x{}", "/a".repeat(1 << k))})
                }));
                call(
                    Method::PATCH,
                    format!("/api/v1/namespaces/{ns}/configmaps/c"),
                    "application/json-patch+json",
                    Value::Array(ops),
                )
            }),
            // The real server decodes 2,048 levels, then drops the unknown field `x`;
            // fake-apiserver refuses the nesting while the patch applies (past 100 levels),
            // before unknown fields are dropped: a bound kept for its own stack and its
            // clients' (serde_json reads 128 levels).
            outcome: Outcome::Deliberate {
                fake: expect(422, "Invalid"),
                real: expect(200, ""),
            },
        },
        Case {
            name: "a string as the finalizer list",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| {
                call(
                    Method::POST,
                    format!("/api/v1/namespaces/{ns}/configmaps"),
                    JSON,
                    json!({"metadata": {"name": "c", "finalizers": "x"}}),
                )
            }),
            outcome: Outcome::Same(expect(400, "BadRequest")),
        },
        Case {
            name: "an annotation key with two slashes",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| {
                call(
                    Method::POST,
                    format!("/api/v1/namespaces/{ns}/configmaps"),
                    JSON,
                    json!({"metadata": {"name": "c", "annotations": {"a/b/c": "x"}}}),
                )
            }),
            outcome: Outcome::Same(
                expect(422, "Invalid").cause("FieldValueInvalid", "metadata.annotations"),
            ),
        },
        Case {
            name: "delete an object without finalizers",
            setup: Box::new(with_configmap),
            call: Box::new(|ns| {
                delete(format!("/api/v1/namespaces/{ns}/configmaps/c"))
            }),
            outcome: Outcome::Same(expect(200, "").status("Success")),
        },
        Case {
            name: "an update with another object's uid",
            setup: Box::new(with_configmap),
            call: Box::new(|ns| {
                call(
                    Method::PUT,
                    format!("/api/v1/namespaces/{ns}/configmaps/c"),
                    JSON,
                    json!({"metadata": {"name": "c", "uid": "00000000-0000-0000-0000-000000000000"}}),
                )
            }),
            outcome: Outcome::Same(expect(409, "Conflict")),
        },
        Case {
            name: "the server's version",
            setup: none(),
            call: Box::new(|_| get("/version")),
            outcome: Outcome::Same(expect(200, "").field("minor", "32")),
        },
        Case {
            name: "a page of a list says how many items follow",
            setup: Box::new(|ns| {
                let mut calls = vec![create_namespace(ns)];
                calls.extend((0..3).map(|i| {
                    call(
                        Method::POST,
                        format!("/api/v1/namespaces/{ns}/configmaps"),
                        JSON,
                        json!({"metadata": {"name": format!("c{i}")}}),
                    )
                }));
                calls
            }),
            call: Box::new(|ns| {
                get(format!("/api/v1/namespaces/{ns}/configmaps?limit=2"))
            }),
            outcome: Outcome::Same(expect(200, "").path("/metadata/remainingItemCount", json!(1))),
        },
        Case {
            name: "a ConfigMap has no generation",
            setup: Box::new(with_configmap),
            call: Box::new(|ns| {
                get(format!("/api/v1/namespaces/{ns}/configmaps/c"))
            }),
            outcome: Outcome::Same(expect(200, "").path("/metadata/generation", Value::Null)),
        },
        Case {
            name: "a new finalizer on an object being deleted",
            setup: Box::new(|ns| {
                vec![
                    create_namespace(ns),
                    call(
                        Method::POST,
                        format!("/api/v1/namespaces/{ns}/configmaps"),
                        JSON,
                        json!({"metadata": {"name": "c", "finalizers": ["example.com/a"]}}),
                    ),
                    delete(format!("/api/v1/namespaces/{ns}/configmaps/c")),
                ]
            }),
            call: Box::new(|ns| {
                call(
                    Method::PATCH,
                    format!("/api/v1/namespaces/{ns}/configmaps/c"),
                    "application/merge-patch+json",
                    json!({"metadata": {"finalizers": ["example.com/a", "example.com/b"]}}),
                )
            }),
            outcome: Outcome::Same(
                expect(422, "Invalid")
                    .message("ConfigMap \"c\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"example.com/b\"}")
                    .cause("FieldValueForbidden", "metadata.finalizers"),
            ),
        },
        Case {
            name: "delete a namespace",
            setup: Box::new(with_configmap),
            call: Box::new(|ns| delete(format!("/api/v1/namespaces/{ns}"))),
            outcome: Outcome::Same(
                expect(200, "")
                    .field("kind", "Namespace")
                    .path("/status/phase", json!("Terminating"))
                    .path("/spec/finalizers", json!(["kubernetes"])),
            ),
        },
        Case {
            name: "the contents of a terminating namespace stay without a namespace controller",
            setup: Box::new(|ns| {
                let mut calls = with_configmap(ns);
                calls.push(delete(format!("/api/v1/namespaces/{ns}")));
                calls
            }),
            call: Box::new(|ns| get(format!("/api/v1/namespaces/{ns}/configmaps/c"))),
            outcome: Outcome::Same(expect(200, "").field("kind", "ConfigMap")),
        },
        Case {
            name: "finalize a terminating namespace",
            setup: Box::new(|ns| {
                vec![
                    create_namespace(ns),
                    delete(format!("/api/v1/namespaces/{ns}")),
                ]
            }),
            call: Box::new(|ns| {
                let mut body = namespace_body(ns);
                body["spec"] = json!({"finalizers": []});
                call(Method::PUT, format!("/api/v1/namespaces/{ns}/finalize"), JSON, body)
            }),
            outcome: Outcome::Same(expect(200, "").field("kind", "Namespace")),
        },
        Case {
            name: "a finalized terminating namespace is gone",
            setup: Box::new(|ns| {
                let mut body = namespace_body(ns);
                body["spec"] = json!({"finalizers": []});
                vec![
                    create_namespace(ns),
                    delete(format!("/api/v1/namespaces/{ns}")),
                    call(Method::PUT, format!("/api/v1/namespaces/{ns}/finalize"), JSON, body),
                ]
            }),
            call: Box::new(|ns| get(format!("/api/v1/namespaces/{ns}"))),
            outcome: Outcome::Same(expect(404, "NotFound")),
        },
        Case {
            name: "readyz",
            setup: none(),
            call: Box::new(|_| get("/readyz")),
            outcome: Outcome::Same(expect(200, "").text("ok")),
        },
        Case {
            name: "an unknown health check",
            setup: none(),
            call: Box::new(|_| get("/livez/nope")),
            outcome: Outcome::Same(expect(404, "").text("404 page not found\n")),
        },
        Case {
            name: "scale a deployment",
            setup: Box::new(with_deployment),
            call: Box::new(|ns| {
                call(
                    Method::PATCH,
                    format!("/apis/apps/v1/namespaces/{ns}/deployments/d/scale"),
                    "application/merge-patch+json",
                    json!({"spec": {"replicas": 3}}),
                )
            }),
            outcome: Outcome::Same(
                expect(200, "")
                    .field("kind", "Scale")
                    .field("apiVersion", "autoscaling/v1")
                    .path("/spec/replicas", json!(3))
                    .path("/status/selector", json!("a=b")),
            ),
        },
        Case {
            name: "the scale of a deployment without replicas",
            setup: Box::new(with_deployment),
            call: Box::new(|ns| {
                get(format!("/apis/apps/v1/namespaces/{ns}/deployments/d/scale"))
            }),
            outcome: Outcome::Same(expect(200, "").path("/spec/replicas", json!(1))),
        },
        Case {
            name: "a negative scale",
            setup: Box::new(with_deployment),
            call: Box::new(|ns| {
                call(
                    Method::PUT,
                    format!("/apis/apps/v1/namespaces/{ns}/deployments/d/scale"),
                    JSON,
                    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "d", "namespace": ns}, "spec": {"replicas": -1}}),
                )
            }),
            outcome: Outcome::Same(
                expect(422, "Invalid")
                    .message("Scale.autoscaling \"d\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
            ),
        },
        Case {
            name: "the scale of a missing deployment",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| {
                get(format!("/apis/apps/v1/namespaces/{ns}/deployments/nope/scale"))
            }),
            outcome: Outcome::Same(
                expect(404, "NotFound").message("deployments/scale.apps \"nope\" not found"),
            ),
        },
    ];
    // Bad list options: 422 on ListOptions.meta.k8s.io, one cause each.
    for (name, query, field, detail, reason) in [
        (
            "sendInitialEvents on a plain list",
            "sendInitialEvents=true",
            "sendInitialEvents",
            "Forbidden: sendInitialEvents is forbidden for list",
            "FieldValueForbidden",
        ),
        (
            "resourceVersionMatch without a resourceVersion",
            "resourceVersionMatch=Exact",
            "resourceVersionMatch",
            "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
            "FieldValueForbidden",
        ),
        (
            "an unknown resourceVersionMatch",
            "resourceVersionMatch=Foo&resourceVersion=1",
            "resourceVersionMatch",
            "Unsupported value: \"Foo\": supported values: \"Exact\", \"NotOlderThan\", \"\"",
            "FieldValueNotSupported",
        ),
    ] {
        let message: &'static str =
            format!("ListOptions.meta.k8s.io \"\" is invalid: {field}: {detail}").leak();
        cases.push(Case {
            name,
            setup: none(),
            call: Box::new(move |_| get(format!("/api/v1/namespaces/default/configmaps?{query}"))),
            outcome: Outcome::Same(expect(422, "Invalid").message(message).cause(reason, field)),
        });
    }
    // The namespaces the real server keeps whatever happens.
    for (name, message) in [
        (
            "default",
            "namespaces \"default\" is forbidden: this namespace may not be deleted",
        ),
        (
            "kube-system",
            "namespaces \"kube-system\" is forbidden: this namespace may not be deleted",
        ),
        (
            "kube-public",
            "namespaces \"kube-public\" is forbidden: this namespace may not be deleted",
        ),
    ] {
        cases.push(Case {
            name,
            setup: none(),
            call: Box::new(move |_| delete(format!("/api/v1/namespaces/{name}"))),
            outcome: Outcome::Same(expect(403, "Forbidden").message(message)),
        });
    }
    cases
}

differential_tests!(cases());
