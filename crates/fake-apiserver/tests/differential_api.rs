//! Differential cases for the API surface: the workload kinds, their scale subresources, and
//! the fields each kind can be selected by. Checked against fake-apiserver always and against a
//! real kube-apiserver v1.32 when `FLYWHEEL_REAL_APISERVER_KUBECONFIG` is set (see
//! `differential.rs`).

mod common;

use axum::http::Method;
use common::differential::*;
use serde_json::json;

fn selecting(path: &'static str, selector: &'static str, outcome: Outcome) -> Case {
    Case {
        name: selector,
        setup: Box::new(|ns| vec![create_namespace(ns)]),
        call: Box::new(move |ns| {
            get(format!(
                "{}?fieldSelector={selector}",
                path.replace("{ns}", ns)
            ))
        }),
        outcome,
    }
}

fn field_selector_cases() -> Vec<Case> {
    vec![
        selecting(
            "/api/v1/namespaces/{ns}/pods",
            "zz=1",
            Outcome::Same(expect(400, "BadRequest").message("field label not supported: zz")),
        ),
        selecting(
            "/apis/batch/v1/namespaces/{ns}/jobs",
            "zz=1",
            Outcome::Same(expect(400, "BadRequest").message("field label \"zz\" not supported for Job")),
        ),
        selecting(
            "/api/v1/namespaces/{ns}/configmaps",
            "data=1",
            Outcome::Same(expect(400, "BadRequest").message(
                "\"data\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
            )),
        ),
        selecting(
            "/api/v1/namespaces/{ns}/pods",
            "spec.nodeName=n1,status.phase!=Failed,spec.hostNetwork=false",
            Outcome::Same(expect(200, "").path("/items", json!([]))),
        ),
        Case {
            name: "events of one object, as kubectl describe asks",
            setup: Box::new(|ns| {
                let event = |name: &str, object: &str| {
                    call(
                        Method::POST,
                        format!("/api/v1/namespaces/{ns}/events"),
                        JSON,
                        json!({"metadata": {"name": name}, "reason": "Tested", "type": "Normal",
                            "involvedObject": {"kind": "Pod", "name": object, "namespace": ns}}),
                    )
                };
                vec![create_namespace(ns), event("e1", "p1"), event("e2", "p2")]
            }),
            call: Box::new(|ns| {
                get(format!(
                    "/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.name=p2,involvedObject.namespace={ns},reason=Tested"
                ))
            }),
            outcome: Outcome::Same(
                expect(200, "")
                    .path("/items/0/metadata/name", json!("e2"))
                    .path("/items/1", serde_json::Value::Null),
            ),
        },
        Case {
            name: "secrets by type",
            setup: Box::new(|ns| {
                let secret = |name: &str, kind: &str| {
                    call(
                        Method::POST,
                        format!("/api/v1/namespaces/{ns}/secrets"),
                        JSON,
                        json!({"metadata": {"name": name}, "type": kind}),
                    )
                };
                vec![create_namespace(ns), secret("a", "example.com/a"), secret("b", "example.com/b")]
            }),
            call: Box::new(|ns| get(format!("/api/v1/namespaces/{ns}/secrets?fieldSelector=type=example.com/b"))),
            outcome: Outcome::Same(
                expect(200, "")
                    .path("/items/0/metadata/name", json!("b"))
                    .path("/items/1", serde_json::Value::Null),
            ),
        },
    ]
}

fn workload(ns: &str, plural: &str, kind: &str) -> Call {
    let spec = json!({
        "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "example/app:1"}]}},
    });
    call(
        Method::POST,
        format!("/apis/apps/v1/namespaces/{ns}/{plural}"),
        JSON,
        json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w"}, "spec": spec}),
    )
}

fn workload_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (plural, kind) in [
        ("replicasets", "ReplicaSet"),
        ("statefulsets", "StatefulSet"),
    ] {
        cases.push(Case {
            name: plural,
            setup: Box::new(move |ns| vec![create_namespace(ns), workload(ns, plural, kind)]),
            call: Box::new(move |ns| {
                call(
                    Method::PATCH,
                    format!("/apis/apps/v1/namespaces/{ns}/{plural}/w/scale"),
                    "application/merge-patch+json",
                    json!({"spec": {"replicas": 3}}),
                )
            }),
            outcome: Outcome::Same(
                expect(200, "")
                    .path("/kind", json!("Scale"))
                    .path("/spec/replicas", json!(3))
                    .path("/status/selector", json!("a=b")),
            ),
        });
    }
    cases.push(Case {
        name: "a daemonset has a generation",
        setup: Box::new(|ns| vec![create_namespace(ns)]),
        call: Box::new(|ns| workload(ns, "daemonsets", "DaemonSet")),
        outcome: Outcome::Same(expect(201, "").path("/metadata/generation", json!(1))),
    });
    cases.push(Case {
        name: "a daemonset has no scale",
        setup: Box::new(|ns| {
            vec![
                create_namespace(ns),
                workload(ns, "daemonsets", "DaemonSet"),
            ]
        }),
        call: Box::new(|ns| get(format!("/apis/apps/v1/namespaces/{ns}/daemonsets/w/scale"))),
        outcome: Outcome::Same(expect(404, "NotFound")),
    });
    cases.push(Case {
        name: "list items of a built-in kind carry no kind or apiVersion",
        setup: Box::new(with_configmap),
        call: Box::new(|ns| get(format!("/api/v1/namespaces/{ns}/configmaps"))),
        outcome: Outcome::Same(
            expect(200, "")
                .field("kind", "ConfigMapList")
                .path("/items/0/metadata/name", json!("c"))
                .path("/items/0/kind", serde_json::Value::Null)
                .path("/items/0/apiVersion", serde_json::Value::Null),
        ),
    });
    cases.push(Case {
        name: "jobs and cronjobs are served",
        setup: Box::new(|ns| vec![create_namespace(ns)]),
        call: Box::new(|ns| get(format!("/apis/batch/v1/namespaces/{ns}/cronjobs"))),
        outcome: Outcome::Same(expect(200, "").field("kind", "CronJobList")),
    });
    cases
}

fn pod_on(ns: &str, name: &str, node: Option<&str>) -> Call {
    let mut spec = json!({"containers": [{"name": "c", "image": "example/app:1"}]});
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    call(
        Method::POST,
        format!("/api/v1/namespaces/{ns}/pods"),
        JSON,
        json!({"metadata": {"name": name}, "spec": spec}),
    )
}

fn graceful_deletion_cases() -> Vec<Case> {
    vec![
        Case {
            name: "a pod no node runs: deleted at once, the answer is the pod as marked",
            setup: Box::new(|ns| vec![create_namespace(ns), pod_on(ns, "p", None)]),
            call: Box::new(|ns| delete(format!("/api/v1/namespaces/{ns}/pods/p"))),
            outcome: Outcome::Same(
                expect(200, "")
                    .field("kind", "Pod")
                    .path("/metadata/deletionGracePeriodSeconds", json!(0)),
            ),
        },
        Case {
            name: "a pod no node runs is gone after its delete",
            setup: Box::new(|ns| {
                vec![
                    create_namespace(ns),
                    pod_on(ns, "p", None),
                    delete(format!("/api/v1/namespaces/{ns}/pods/p")),
                ]
            }),
            call: Box::new(|ns| get(format!("/api/v1/namespaces/{ns}/pods/p"))),
            outcome: Outcome::Same(expect(404, "NotFound")),
        },
        Case {
            name: "a bound pod stays terminating for its grace period",
            setup: Box::new(|ns| {
                vec![
                    create_namespace(ns),
                    pod_on(ns, "p", Some("n1")),
                    delete(format!("/api/v1/namespaces/{ns}/pods/p")),
                ]
            }),
            call: Box::new(|ns| get(format!("/api/v1/namespaces/{ns}/pods/p"))),
            outcome: Outcome::Same(
                expect(200, "").path("/metadata/deletionGracePeriodSeconds", json!(30)),
            ),
        },
        Case {
            name: "a bound pod's force delete",
            setup: Box::new(|ns| vec![create_namespace(ns), pod_on(ns, "p", Some("n1"))]),
            call: Box::new(|ns| {
                call(
                    Method::DELETE,
                    format!("/api/v1/namespaces/{ns}/pods/p"),
                    JSON,
                    json!({"gracePeriodSeconds": 0}),
                )
            }),
            outcome: Outcome::Same(
                expect(200, "")
                    .field("kind", "Pod")
                    .path("/metadata/deletionGracePeriodSeconds", json!(0)),
            ),
        },
    ]
}

fn create_configmap(ns: &str, query: &str) -> Call {
    call(
        Method::POST,
        format!("/api/v1/namespaces/{ns}/configmaps{query}"),
        JSON,
        json!({"metadata": {"name": "dry"}, "data": {"a": "b"}}),
    )
}

fn dry_run_cases() -> Vec<Case> {
    vec![
        Case {
            name: "a dry-run create answers the object it would store, without a version",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| create_configmap(ns, "?dryRun=All")),
            outcome: Outcome::Same(
                expect(201, "")
                    .path("/metadata/name", json!("dry"))
                    .path("/metadata/resourceVersion", serde_json::Value::Null)
                    .path("/data/a", json!("b")),
            ),
        },
        Case {
            name: "a dry-run create stores nothing",
            setup: Box::new(|ns| vec![create_namespace(ns), create_configmap(ns, "?dryRun=All")]),
            call: Box::new(|ns| get(format!("/api/v1/namespaces/{ns}/configmaps/dry"))),
            outcome: Outcome::Same(expect(404, "NotFound")),
        },
        Case {
            name: "a dry-run patch answers the patched object and changes nothing",
            setup: Box::new(|ns| {
                vec![
                    create_namespace(ns),
                    create_configmap(ns, ""),
                    call(
                        Method::PATCH,
                        format!("/api/v1/namespaces/{ns}/configmaps/dry?dryRun=All"),
                        "application/merge-patch+json",
                        json!({"data": {"a": "changed"}}),
                    ),
                ]
            }),
            call: Box::new(|ns| get(format!("/api/v1/namespaces/{ns}/configmaps/dry"))),
            outcome: Outcome::Same(expect(200, "").path("/data/a", json!("b"))),
        },
        Case {
            name: "an unsupported dryRun",
            setup: Box::new(|ns| vec![create_namespace(ns)]),
            call: Box::new(|ns| create_configmap(ns, "?dryRun=Bogus")),
            outcome: Outcome::Same(expect(422, "Invalid").message(
                "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{\"Bogus\"}: supported values: \"All\"",
            )),
        },
        Case {
            name: "a dry-run delete of a namespace's configmaps deletes none",
            setup: Box::new(|ns| {
                vec![
                    create_namespace(ns),
                    create_configmap(ns, ""),
                    delete(format!("/api/v1/namespaces/{ns}/configmaps?dryRun=All")),
                ]
            }),
            call: Box::new(|ns| get(format!("/api/v1/namespaces/{ns}/configmaps/dry"))),
            outcome: Outcome::Same(expect(200, "")),
        },
    ]
}

fn delete_with_policy(ns: &str, policy: &str) -> Call {
    call(
        Method::DELETE,
        format!("/api/v1/namespaces/{ns}/configmaps/c"),
        JSON,
        json!({"propagationPolicy": policy}),
    )
}

fn propagation_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (policy, finalizer) in [("Foreground", "foregroundDeletion"), ("Orphan", "orphan")] {
        cases.push(Case {
            name: policy,
            setup: Box::new(with_configmap),
            call: Box::new(move |ns| delete_with_policy(ns, policy)),
            outcome: Outcome::Same(
                expect(200, "")
                    .field("kind", "ConfigMap")
                    .path("/metadata/finalizers", json!([finalizer]))
                    .path("/metadata/deletionGracePeriodSeconds", json!(0)),
            ),
        });
    }
    cases.push(Case {
        name: "a foreground delete stays without a garbage collector",
        setup: Box::new(|ns| {
            let mut calls = with_configmap(ns);
            calls.push(delete_with_policy(ns, "Foreground"));
            calls
        }),
        call: Box::new(|ns| get(format!("/api/v1/namespaces/{ns}/configmaps/c"))),
        outcome: Outcome::Same(
            expect(200, "").path("/metadata/finalizers", json!(["foregroundDeletion"])),
        ),
    });
    cases.push(Case {
        name: "a background delete",
        setup: Box::new(with_configmap),
        call: Box::new(|ns| delete_with_policy(ns, "Background")),
        outcome: Outcome::Same(expect(200, "").status("Success")),
    });
    cases.push(Case {
        name: "an unknown propagation policy",
        setup: Box::new(with_configmap),
        call: Box::new(|ns| delete_with_policy(ns, "Bogus")),
        outcome: Outcome::Same(expect(422, "Invalid").message(
            "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"Bogus\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"",
        )),
    });
    cases
}

fn cases() -> Vec<Case> {
    let mut cases = field_selector_cases();
    cases.extend(propagation_cases());
    cases.extend(graceful_deletion_cases());
    cases.extend(dry_run_cases());
    cases.extend(workload_cases());
    cases
}

differential_tests!(cases());
