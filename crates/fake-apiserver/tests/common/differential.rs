//! The differential harness: scripted requests whose expected answers were read off a real
//! kube-apiserver v1.32, checked against fake-apiserver always and against a real server when
//! `FLYWHEEL_REAL_APISERVER_KUBECONFIG` names its kubeconfig.
//!
//! Each case runs in a namespace of its own (a fresh name per run, so a real server can be
//! reused), and compares the HTTP code, the `Status` reason, the causes' reasons and fields, the
//! message where the case says it is exact, values at JSON pointers and `Warning` headers. A case
//! marked `Deliberate` documents an answer fake-apiserver gives on purpose that the real server
//! does not (docs/fake-apiserver.md says why): it checks each side against its own expectation.

use axum::http::{Method, Request};
use kube::Client;
use serde_json::{Value, json};

use super::server;

/// One request.
pub struct Call {
    pub method: Method,
    pub path: String,
    pub content_type: &'static str,
    pub body: Value,
    /// Sent instead of `body` when set: bytes a `Value` cannot hold (a repeated key).
    pub raw: Option<&'static str>,
}

pub fn call(
    method: Method,
    path: impl Into<String>,
    content_type: &'static str,
    body: Value,
) -> Call {
    Call {
        method,
        path: path.into(),
        content_type,
        body,
        raw: None,
    }
}

/// A request whose body is sent exactly as written.
pub fn call_raw(
    method: Method,
    path: impl Into<String>,
    content_type: &'static str,
    raw: &'static str,
) -> Call {
    Call {
        raw: Some(raw),
        ..call(method, path, content_type, Value::Null)
    }
}

/// What an answer must be.
#[derive(Debug, Clone)]
pub struct Expect {
    pub code: u16,
    /// `Status.reason`; empty for a success.
    pub reason: &'static str,
    /// `Status.message`, when it must match exactly (`{ns}` stands for the case's namespace).
    pub message: Option<&'static str>,
    /// (reason, field) of each cause, when the answer has causes.
    pub causes: Vec<(&'static str, &'static str)>,
    /// Top-level string fields the body must have (`status: Success`, say).
    pub fields: Vec<(&'static str, &'static str)>,
    /// Values at JSON pointers (`Null` for "absent").
    pub paths: Vec<(&'static str, Value)>,
    /// A plain-text body, exactly.
    pub text: Option<&'static str>,
    /// Texts that must each be in one `Warning` header.
    pub warnings: Vec<&'static str>,
    /// The whole body, once the fields that differ from run to run are taken out of both
    /// (see [`without_volatile`]).
    pub object: Option<Value>,
}

pub fn expect(code: u16, reason: &'static str) -> Expect {
    Expect {
        code,
        reason,
        message: None,
        causes: Vec::new(),
        fields: Vec::new(),
        paths: Vec::new(),
        text: None,
        warnings: Vec::new(),
        object: None,
    }
}

impl Expect {
    pub fn object(mut self, object: Value) -> Self {
        self.object = Some(object);
        self
    }

    pub fn warning(mut self, text: &'static str) -> Self {
        self.warnings.push(text);
        self
    }

    pub fn message(mut self, message: &'static str) -> Self {
        self.message = Some(message);
        self
    }

    pub fn cause(mut self, reason: &'static str, field: &'static str) -> Self {
        self.causes.push((reason, field));
        self
    }

    pub fn text(mut self, text: &'static str) -> Self {
        self.text = Some(text);
        self
    }

    pub fn path(mut self, pointer: &'static str, value: Value) -> Self {
        self.paths.push((pointer, value));
        self
    }

    pub fn field(mut self, name: &'static str, value: &'static str) -> Self {
        self.fields.push((name, value));
        self
    }

    /// A `Status` of success (`kind: Status`, `status: <status>`).
    pub fn status(self, status: &'static str) -> Self {
        self.field("kind", "Status").field("status", status)
    }
}

/// The same answer from both servers, or a deliberate difference.
pub enum Outcome {
    Same(Expect),
    Deliberate { fake: Expect, real: Expect },
}

/// A scripted case: setup calls (each must succeed), then the call under test.
/// Builds requests for the case's namespace.
pub type Script<T> = Box<dyn Fn(&str) -> T>;

pub struct Case {
    pub name: &'static str,
    pub setup: Script<Vec<Call>>,
    pub call: Script<Call>,
    pub outcome: Outcome,
}

pub const JSON: &str = "application/json";

/// No setup.
pub fn none() -> Script<Vec<Call>> {
    Box::new(|_| Vec::new())
}

pub fn get(path: impl Into<String>) -> Call {
    call(Method::GET, path, JSON, Value::Null)
}

pub fn delete(path: impl Into<String>) -> Call {
    call(Method::DELETE, path, JSON, Value::Null)
}

pub fn create_namespace(ns: &str) -> Call {
    call(Method::POST, "/api/v1/namespaces", JSON, namespace_body(ns))
}

pub fn namespace_body(ns: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
}

/// A namespace with ConfigMap `c` in it.
pub fn with_configmap(ns: &str) -> Vec<Call> {
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
pub fn with_deployment(ns: &str) -> Vec<Call> {
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

/// An answer: the code, the JSON body (`Null` when not JSON), the body as text, and the
/// `Warning` headers.
pub struct Answer {
    pub code: u16,
    pub body: Value,
    pub text: String,
    pub warnings: Vec<String>,
}

/// Sends `call` with `{ns}` already in its path.
pub async fn send(client: &Client, call: &Call) -> Answer {
    let body = if let Some(raw) = call.raw {
        raw.as_bytes().to_vec()
    } else if call.body.is_null() {
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
    let warnings = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let bytes = response
        .into_body()
        .collect_bytes()
        .await
        .expect("the body");
    Answer {
        code,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(&bytes).into_owned(),
        warnings,
    }
}

/// Runs every case against `client`, on `side` ("fake" or "real"); returns the mismatches.
async fn run_cases(cases: Vec<Case>, client: &Client, side: &str, run_id: &str) -> Vec<String> {
    let mut failures = Vec::new();
    eprintln!("{side}: {} cases", cases.len());
    for (i, case) in cases.into_iter().enumerate() {
        let ns = format!("diff-{run_id}-{i}");
        for setup in (case.setup)(&ns) {
            let answer = send(client, &setup).await;
            assert!(
                answer.code < 300,
                "{side}: setup of {:?} failed: {} {}",
                case.name,
                answer.code,
                answer.body
            );
        }
        let answer = send(client, &(case.call)(&ns)).await;
        let want = match (&case.outcome, side) {
            (Outcome::Same(e), _) => e.clone(),
            (Outcome::Deliberate { fake, .. }, "fake") => fake.clone(),
            (Outcome::Deliberate { real, .. }, _) => real.clone(),
        };
        if let Err(why) = compare(&want, &answer) {
            failures.push(format!(
                "{side}: {}: {why}\n  answer: {} {} {:?}",
                case.name, answer.code, answer.body, answer.warnings
            ));
        }
    }
    failures
}

fn compare(want: &Expect, answer: &Answer) -> Result<(), String> {
    let (code, body, text) = (answer.code, &answer.body, answer.text.as_str());
    for warning in &want.warnings {
        if !answer.warnings.iter().any(|w| w.contains(warning)) {
            return Err(format!("no warning with {warning:?}"));
        }
    }
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
        // An empty reason is left out of the body.
        if body["reason"].as_str().unwrap_or_default() != want.reason {
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
    if let Some(object) = &want.object {
        let (got, want) = (without_volatile(body), without_volatile(object));
        if got != want {
            return Err(format!("object\n  {got}\nexpected\n  {want}"));
        }
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

/// `object` without what differs between runs and servers: the uid, resourceVersion, creation
/// time and namespace, `managedFields` (server-side apply's, not served here), and a service's
/// allocated cluster IPs.
pub fn without_volatile(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "namespace",
            "managedFields",
        ] {
            meta.remove(key);
        }
    }
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
        for key in ["clusterIP", "clusterIPs"] {
            if spec.contains_key(key) {
                spec.insert(key.to_owned(), Value::from("<allocated>"));
            }
        }
    }
    object
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}{nanos:x}", std::process::id())
}

/// Every case against a fresh fake-apiserver.
pub async fn check_fake(cases: Vec<Case>) {
    let server = server().await;
    let failures = run_cases(cases, &server.client(), "fake", &run_id()).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every case against the real server `FLYWHEEL_REAL_APISERVER_KUBECONFIG` names, or a message
/// that it skipped.
pub async fn check_real(cases: Vec<Case>) {
    let Some(client) = real_client().await else {
        return;
    };
    let failures = run_cases(cases, &client, "real", &run_id()).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A client of the real server `FLYWHEEL_REAL_APISERVER_KUBECONFIG` names, or `None` (having
/// said that the real half is skipped).
pub async fn real_client() -> Option<Client> {
    let Ok(path) = std::env::var("FLYWHEEL_REAL_APISERVER_KUBECONFIG") else {
        eprintln!(
            "skipped: FLYWHEEL_REAL_APISERVER_KUBECONFIG is not set (see ../shared/tools/real-apiserver)"
        );
        return None;
    };
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("the kubeconfig reads");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("a client config");
    Some(Client::try_from(config).expect("a client"))
}

/// The two tests of a differential file: its `cases` against fake-apiserver, and against the
/// real server when one is named.
#[macro_export]
macro_rules! differential_tests {
    ($cases:expr) => {
        #[tokio::test]
        async fn fake_apiserver_answers_as_the_real_server_does() {
            $crate::common::differential::check_fake($cases).await;
        }

        #[tokio::test]
        async fn the_expected_answers_are_the_real_servers() {
            $crate::common::differential::check_real($cases).await;
        }
    };
}
