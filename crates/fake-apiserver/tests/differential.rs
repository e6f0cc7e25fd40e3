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

use axum::http::{Method, Request};
use common::server;
use kube::Client;
use serde_json::{Value, json};

/// One request.
struct Call {
    method: Method,
    path: String,
    content_type: &'static str,
    body: Value,
}

fn call(method: Method, path: impl Into<String>, content_type: &'static str, body: Value) -> Call {
    Call {
        method,
        path: path.into(),
        content_type,
        body,
    }
}

/// What an answer must be.
#[derive(Debug, Clone)]
struct Expect {
    code: u16,
    /// `Status.reason`; empty for a success.
    reason: &'static str,
    /// `Status.message`, when it must match exactly (`{ns}` stands for the case's namespace).
    message: Option<&'static str>,
    /// (reason, field) of each cause, when the answer has causes.
    causes: Vec<(&'static str, &'static str)>,
    /// Top-level string fields the body must have (`status: Success`, say).
    fields: Vec<(&'static str, &'static str)>,
    /// Values at JSON pointers (`Null` for "absent").
    paths: Vec<(&'static str, Value)>,
    /// A plain-text body, exactly.
    text: Option<&'static str>,
}

fn expect(code: u16, reason: &'static str) -> Expect {
    Expect {
        code,
        reason,
        message: None,
        causes: Vec::new(),
        fields: Vec::new(),
        paths: Vec::new(),
        text: None,
    }
}

impl Expect {
    fn message(mut self, message: &'static str) -> Self {
        self.message = Some(message);
        self
    }

    fn cause(mut self, reason: &'static str, field: &'static str) -> Self {
        self.causes.push((reason, field));
        self
    }

    fn text(mut self, text: &'static str) -> Self {
        self.text = Some(text);
        self
    }

    fn path(mut self, pointer: &'static str, value: Value) -> Self {
        self.paths.push((pointer, value));
        self
    }

    fn field(mut self, name: &'static str, value: &'static str) -> Self {
        self.fields.push((name, value));
        self
    }

    /// A `Status` of success (`kind: Status`, `status: <status>`).
    fn status(self, status: &'static str) -> Self {
        self.field("kind", "Status").field("status", status)
    }
}

/// The same answer from both servers, or a deliberate difference.
enum Outcome {
    Same(Expect),
    Deliberate { fake: Expect, real: Expect },
}

/// A scripted case: setup calls (each must succeed), then the call under test.
/// Builds requests for the case's namespace.
type Script<T> = Box<dyn Fn(&str) -> T>;

struct Case {
    name: &'static str,
    setup: Script<Vec<Call>>,
    call: Script<Call>,
    outcome: Outcome,
}

const JSON: &str = "application/json";

/// No setup.
fn none() -> Script<Vec<Call>> {
    Box::new(|_| Vec::new())
}

fn get(path: impl Into<String>) -> Call {
    call(Method::GET, path, JSON, Value::Null)
}

fn delete(path: impl Into<String>) -> Call {
    call(Method::DELETE, path, JSON, Value::Null)
}

fn create_namespace(ns: &str) -> Call {
    call(Method::POST, "/api/v1/namespaces", JSON, namespace_body(ns))
}

fn namespace_body(ns: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
}

/// A namespace with ConfigMap `c` in it.
fn with_configmap(ns: &str) -> Vec<Call> {
    vec![
        create_namespace(ns),
        call(
            Method::POST,
            format!("/api/v1/namespaces/{ns}/configmaps"),
            JSON,
            json!({"metadata": {"name": "c"}}),
        ),
    ]
}

/// A namespace with Deployment `d` (selector `a=b`, no replicas set) in it.
fn with_deployment(ns: &str) -> Vec<Call> {
    vec![
        create_namespace(ns),
        call(
            Method::POST,
            format!("/apis/apps/v1/namespaces/{ns}/deployments"),
            JSON,
            json!({
                "metadata": {"name": "d"},
                "spec": {
                    "selector": {"matchLabels": {"a": "b"}},
                    "template": {
                        "metadata": {"labels": {"a": "b"}},
                        "spec": {"containers": [{"name": "c", "image": "example/app:1"}]},
                    },
                },
            }),
        ),
    ]
}

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
            // The real server simulates the delete; fake-apiserver refuses dry runs (and never
            // deletes for real).
            outcome: Outcome::Deliberate {
                fake: expect(400, "BadRequest"),
                real: expect(200, ""),
            },
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
            // fake-apiserver keeps unknown fields and refuses objects nested past 100 levels.
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

/// Sends `call` with `{ns}` already in its path; returns the code, the JSON body (`Null` when
/// not JSON) and the body as text.
async fn send(client: &Client, call: &Call) -> (u16, Value, String) {
    let body = if call.body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&call.body).expect("a value serializes")
    };
    let request = Request::builder()
        .method(call.method.clone())
        .uri(&call.path)
        .header("content-type", call.content_type)
        .body(kube::client::Body::from(body))
        .expect("a request");
    let response = client.send(request).await.expect("an answer");
    let code = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect_bytes()
        .await
        .expect("the body");
    (
        code,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// Runs every case against `client`, on `side` ("fake" or "real"); returns the mismatches.
async fn run_cases(client: &Client, side: &str, run_id: &str) -> Vec<String> {
    let mut failures = Vec::new();
    for (i, case) in cases().into_iter().enumerate() {
        let ns = format!("diff-{run_id}-{i}");
        for setup in (case.setup)(&ns) {
            let (code, body, _) = send(client, &setup).await;
            assert!(
                code < 300,
                "{side}: setup of {:?} failed: {code} {body}",
                case.name
            );
        }
        let (code, body, text) = send(client, &(case.call)(&ns)).await;
        let want = match (&case.outcome, side) {
            (Outcome::Same(e), _) => e.clone(),
            (Outcome::Deliberate { fake, .. }, "fake") => fake.clone(),
            (Outcome::Deliberate { real, .. }, _) => real.clone(),
        };
        if let Err(why) = compare(&want, code, &body, &text) {
            failures.push(format!(
                "{side}: {}: {why}\n  answer: {code} {body}",
                case.name
            ));
        }
    }
    failures
}

fn compare(want: &Expect, code: u16, body: &Value, text: &str) -> Result<(), String> {
    if code != want.code {
        return Err(format!("code {code}, expected {}", want.code));
    }
    if let Some(expected) = want.text {
        return if text == expected {
            Ok(())
        } else {
            Err(format!("body {text:?}, expected {expected:?}"))
        };
    }
    if want.code >= 400 {
        if body["kind"] != "Status" || body["code"] != want.code {
            return Err("not a Status with the code".to_owned());
        }
        if body["reason"] != want.reason {
            return Err(format!(
                "reason {}, expected {}",
                body["reason"], want.reason
            ));
        }
    }
    if let Some(message) = want.message
        && body["message"] != message
    {
        return Err(format!("message {}, expected {message:?}", body["message"]));
    }
    for (pointer, value) in &want.paths {
        let got = body.pointer(pointer).unwrap_or(&Value::Null);
        if got != value {
            return Err(format!("{pointer} is {got}, expected {value}"));
        }
    }
    for (name, value) in &want.fields {
        if body[*name] != *value {
            return Err(format!("{name} is {}, expected {value:?}", body[*name]));
        }
    }
    if !want.causes.is_empty() {
        let got: Vec<(String, String)> = body["details"]["causes"]
            .as_array()
            .map(|causes| {
                causes
                    .iter()
                    .map(|c| {
                        (
                            c["reason"].as_str().unwrap_or_default().to_owned(),
                            c["field"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (reason, field) in &want.causes {
            if !got.iter().any(|(r, f)| r == reason && f == field) {
                return Err(format!("no cause ({reason}, {field}) in {got:?}"));
            }
        }
    }
    Ok(())
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}{nanos:x}", std::process::id())
}

#[tokio::test]
async fn fake_apiserver_answers_as_the_real_server_does() {
    let server = server().await;
    let failures = run_cases(&server.client(), "fake", &run_id()).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_expected_answers_are_the_real_servers() {
    let Ok(path) = std::env::var("FLYWHEEL_REAL_APISERVER_KUBECONFIG") else {
        eprintln!(
            "skipped: FLYWHEEL_REAL_APISERVER_KUBECONFIG is not set (see ../shared/tools/real-apiserver)"
        );
        return;
    };
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("the kubeconfig reads");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("a client config");
    let client = Client::try_from(config).expect("a client");
    let failures = run_cases(&client, "real", &run_id()).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
