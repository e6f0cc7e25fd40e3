//! Differential cases for what the schema facts drive: strategic merge patch (merge keys,
//! directives, order, errors) and server-side field validation (unknown fields, wrong types,
//! `fieldValidation`), checked against fake-apiserver always and against a real kube-apiserver
//! v1.32 when `FLYWHEEL_REAL_APISERVER_KUBECONFIG` is set (see `differential.rs`).

mod common;

use axum::http::Method;
use common::differential::*;
use serde_json::{Value, json};

const STRATEGIC: &str = "application/strategic-merge-patch+json";
const MERGE: &str = "application/merge-patch+json";

fn deployment_patch(ns: &str, content_type: &'static str, body: Value) -> Call {
    call(
        Method::PATCH,
        format!("/apis/apps/v1/namespaces/{ns}/deployments/d"),
        content_type,
        body,
    )
}

fn containers(items: Value) -> Value {
    json!({"spec": {"template": {"spec": {"containers": items}}}})
}

/// A namespace with Deployment `d` holding containers `side` and `c` (in that order).
fn with_two_containers(ns: &str) -> Vec<Call> {
    let mut calls = with_deployment(ns);
    calls.push(deployment_patch(
        ns,
        STRATEGIC,
        containers(json!([{"name": "side", "image": "example/side:1"}])),
    ));
    calls
}

/// A namespace with ConfigMap `f` holding finalizers `example.com/a` and `example.com/b`.
fn with_finalizers(ns: &str) -> Vec<Call> {
    vec![
        create_namespace(ns),
        call(
            Method::POST,
            format!("/api/v1/namespaces/{ns}/configmaps"),
            JSON,
            json!({"metadata": {"name": "f", "finalizers": ["example.com/a", "example.com/b"]}}),
        ),
    ]
}

fn configmap_patch(ns: &str, name: &str, content_type: &'static str, body: Value) -> Call {
    call(
        Method::PATCH,
        format!("/api/v1/namespaces/{ns}/configmaps/{name}"),
        content_type,
        body,
    )
}

fn create_configmap(ns: &str, query: &str, body: Value) -> Call {
    call(
        Method::POST,
        format!("/api/v1/namespaces/{ns}/configmaps{query}"),
        JSON,
        body,
    )
}

fn strategic_cases() -> Vec<Case> {
    vec![
        Case {
            name: "strategic: a container merges by name, new items first",
            setup: Box::new(with_deployment),
            call: Box::new(|ns| {
                deployment_patch(
                    ns,
                    STRATEGIC,
                    containers(json!([{"name": "side", "image": "example/side:1"}])),
                )
            }),
            outcome: Outcome::Same(
                expect(200, "")
                    .path("/spec/template/spec/containers/0/name", json!("side"))
                    .path("/spec/template/spec/containers/1/name", json!("c"))
                    .path(
                        "/spec/template/spec/containers/1/image",
                        json!("example/app:1"),
                    ),
            ),
        },
        Case {
            name: "strategic: a delete directive removes one container and is not stored",
            setup: Box::new(with_two_containers),
            call: Box::new(|ns| {
                deployment_patch(
                    ns,
                    STRATEGIC,
                    containers(json!([{"name": "side", "$patch": "delete"}])),
                )
            }),
            outcome: Outcome::Same(
                expect(200, "")
                    .path("/spec/template/spec/containers/0/name", json!("c"))
                    .path("/spec/template/spec/containers/1", Value::Null),
            ),
        },
        Case {
            name: "strategic: a replace directive makes the patch's items the list",
            setup: Box::new(with_two_containers),
            call: Box::new(|ns| {
                deployment_patch(
                    ns,
                    STRATEGIC,
                    containers(
                        json!([{"name": "new", "image": "example/new:1"}, {"$patch": "replace"}]),
                    ),
                )
            }),
            outcome: Outcome::Same(
                expect(200, "")
                    .path("/spec/template/spec/containers/0/name", json!("new"))
                    .path("/spec/template/spec/containers/1", Value::Null),
            ),
        },
        Case {
            name: "strategic: setElementOrder orders the merged list",
            setup: Box::new(with_two_containers),
            call: Box::new(|ns| {
                deployment_patch(
                    ns,
                    STRATEGIC,
                    json!({"spec": {"template": {"spec": {
                        "$setElementOrder/containers": [{"name": "c"}, {"name": "side"}],
                        "containers": [{"name": "side", "image": "example/side:2"}],
                    }}}}),
                )
            }),
            outcome: Outcome::Same(
                expect(200, "")
                    .path("/spec/template/spec/containers/0/name", json!("c"))
                    .path(
                        "/spec/template/spec/containers/1/image",
                        json!("example/side:2"),
                    ),
            ),
        },
        Case {
            name: "strategic: retainKeys clears the strategy's other keys",
            setup: Box::new(|ns| {
                let mut calls = with_deployment(ns);
                calls.push(deployment_patch(
                    ns,
                    MERGE,
                    json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2}}}}),
                ));
                calls
            }),
            call: Box::new(|ns| {
                deployment_patch(
                    ns,
                    STRATEGIC,
                    json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
                )
            }),
            outcome: Outcome::Same(
                expect(200, "")
                    .path("/spec/strategy/type", json!("Recreate"))
                    .path("/spec/strategy/rollingUpdate", Value::Null),
            ),
        },
        Case {
            name: "strategic: finalizers merge as a set, new ones first",
            setup: Box::new(with_finalizers),
            call: Box::new(|ns| {
                configmap_patch(
                    ns,
                    "f",
                    STRATEGIC,
                    json!({"metadata": {"finalizers": ["example.com/c", "example.com/a"]}}),
                )
            }),
            outcome: Outcome::Same(expect(200, "").path(
                "/metadata/finalizers",
                json!(["example.com/c", "example.com/a", "example.com/b"]),
            )),
        },
        Case {
            name: "strategic: deleteFromPrimitiveList",
            setup: Box::new(with_finalizers),
            call: Box::new(|ns| {
                configmap_patch(
                    ns,
                    "f",
                    STRATEGIC,
                    json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a"]}}),
                )
            }),
            outcome: Outcome::Same(
                expect(200, "").path("/metadata/finalizers", json!(["example.com/b"])),
            ),
        },
        Case {
            name: "strategic: an item without its merge key",
            setup: Box::new(with_deployment),
            call: Box::new(|ns| {
                deployment_patch(ns, STRATEGIC, containers(json!([{"image": "x"}])))
            }),
            outcome: Outcome::Same(
                expect(500, "")
                    .message("map: map[image:x] does not contain declared merge key: name"),
            ),
        },
        Case {
            name: "strategic: a directive in a map the object lacks is dropped",
            setup: Box::new(with_configmap),
            call: Box::new(|ns| {
                configmap_patch(
                    ns,
                    "c",
                    STRATEGIC,
                    json!({"metadata": {"labels": {"$patch": "bogus"}}}),
                )
            }),
            outcome: Outcome::Same(expect(200, "").path("/metadata/labels", Value::Null)),
        },
        Case {
            name: "strategic: a malformed retainKeys",
            // (with a strategy set: the real server defaults one, fake-apiserver does not)
            setup: Box::new(|ns| {
                let mut calls = with_deployment(ns);
                calls.push(deployment_patch(
                    ns,
                    MERGE,
                    json!({"spec": {"strategy": {"type": "RollingUpdate"}}}),
                ));
                calls
            }),
            call: Box::new(|ns| {
                deployment_patch(
                    ns,
                    STRATEGIC,
                    json!({"spec": {"strategy": {"$retainKeys": "type"}}}),
                )
            }),
            outcome: Outcome::Same(
                expect(400, "BadRequest").message("invalid patch format of retainKeys"),
            ),
        },
        Case {
            name: "strategic: a patch that is not an object",
            setup: Box::new(with_configmap),
            call: Box::new(|ns| configmap_patch(ns, "c", STRATEGIC, json!([1]))),
            outcome: Outcome::Same(expect(400, "BadRequest")),
        },
    ]
}

const REPEATED: &str = r#"{"metadata":{"name":"dup","labels":{"a":"1","a":"2"}},"data":{"k":"1"},"data":{"j":"2"},"bogus":1}"#;

fn validation_cases() -> Vec<Case> {
    vec![
        Case {
            name: "repeated keys: objects merged, each repeat a warning",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| {
                call_raw(Method::POST, format!("/api/v1/namespaces/{ns}/configmaps"), JSON, REPEATED)
            }),
            outcome: Outcome::Same(
                expect(201, "")
                    .warning(r#"duplicate field \"metadata.labels.a\""#)
                    .warning(r#"duplicate field \"data\""#)
                    .path("/data", json!({"k": "1", "j": "2"}))
                    .path("/metadata/labels/a", json!("2")),
            ),
        },
        Case {
            name: "unknown and repeated fields are listed in the order of the body",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| {
                call_raw(
                    Method::POST,
                    format!("/api/v1/namespaces/{ns}/configmaps?fieldValidation=Strict"),
                    JSON,
                    r#"{"zz":1,"metadata":{"name":"o","extra":1},"data":{"k":"1"},"data":{"j":"2"},"aa":2}"#,
                )
            }),
            outcome: Outcome::Same(expect(400, "BadRequest").message(
                r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "zz", unknown field "metadata.extra", duplicate field "data", unknown field "aa""#,
            )),
        },
        Case {
            name: "repeated keys under Strict",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| {
                call_raw(
                    Method::POST,
                    format!("/api/v1/namespaces/{ns}/configmaps?fieldValidation=Strict"),
                    JSON,
                    REPEATED,
                )
            }),
            outcome: Outcome::Same(expect(400, "BadRequest").message(
                r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "metadata.labels.a", duplicate field "data", unknown field "bogus""#,
            )),
        },
        Case {
            name: "an unknown field, no fieldValidation: dropped with a warning",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| create_configmap(ns, "", json!({"metadata": {"name": "u"}, "bogus": 1}))),
            outcome: Outcome::Same(
                expect(201, "")
                    .warning(r#"unknown field \"bogus\""#)
                    .path("/bogus", Value::Null),
            ),
        },
        Case {
            name: "an unknown field under Strict",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| {
                create_configmap(ns, "?fieldValidation=Strict", json!({"metadata": {"name": "u"}, "bogus": 1}))
            }),
            outcome: Outcome::Same(expect(400, "BadRequest").message(
                r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "bogus""#,
            )),
        },
        Case {
            name: "an unknown field under Ignore",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| {
                create_configmap(ns, "?fieldValidation=Ignore", json!({"metadata": {"name": "u"}, "bogus": 1}))
            }),
            outcome: Outcome::Same(expect(201, "").path("/bogus", Value::Null)),
        },
        Case {
            name: "a nested unknown field under Strict",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| {
                call(
                    Method::POST,
                    format!("/apis/apps/v1/namespaces/{ns}/deployments?fieldValidation=Strict"),
                    JSON,
                    json!({"metadata": {"name": "d"}, "spec": {
                        "selector": {"matchLabels": {"a": "b"}},
                        "template": {"metadata": {"labels": {"a": "b"}},
                            "spec": {"containers": [{"name": "c", "image": "i", "imagee": "x"}]}}}}),
                )
            }),
            outcome: Outcome::Same(expect(400, "BadRequest").message(
                r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.template.spec.containers[0].imagee""#,
            )),
        },
        Case {
            name: "a value of the wrong type",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| create_configmap(ns, "?fieldValidation=Ignore", json!({"metadata": {"name": "t"}, "data": {"a": 1}}))),
            outcome: Outcome::Same(expect(400, "BadRequest").message(
                r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string"#,
            )),
        },
        Case {
            name: "an unsupported fieldValidation",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| create_configmap(ns, "?fieldValidation=strict", json!({"metadata": {"name": "t"}}))),
            outcome: Outcome::Same(expect(422, "Invalid").cause("FieldValueNotSupported", "fieldValidation")),
        },
        Case {
            name: "an update with an unknown field under Strict",
            setup: Box::new(with_configmap),
            call: Box::new(|ns| {
                call(
                    Method::PUT,
                    format!("/api/v1/namespaces/{ns}/configmaps/c?fieldValidation=Strict"),
                    JSON,
                    json!({"metadata": {"name": "c"}, "bogus": 1}),
                )
            }),
            outcome: Outcome::Same(expect(400, "BadRequest").message(
                r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "bogus""#,
            )),
        },
        Case {
            name: "a merge patch adding an unknown field under Strict",
            setup: Box::new(with_configmap),
            call: Box::new(|ns| {
                call(
                    Method::PATCH,
                    format!("/api/v1/namespaces/{ns}/configmaps/c?fieldValidation=Strict"),
                    MERGE,
                    json!({"bogus": 1}),
                )
            }),
            outcome: Outcome::Same(expect(422, "Invalid").cause("FieldValueInvalid", "patch")),
        },
        Case {
            name: "a merge patch whose result does not decode",
            setup: Box::new(with_configmap),
            call: Box::new(|ns| configmap_patch(ns, "c", MERGE, json!({"metadata": {"annotations": {"n": 1}}}))),
            outcome: Outcome::Same(expect(422, "Invalid").cause("FieldValueInvalid", "patch")),
        },
    ]
}

fn cases() -> Vec<Case> {
    let mut cases = strategic_cases();
    cases.extend(validation_cases());
    cases
}

differential_tests!(cases());
