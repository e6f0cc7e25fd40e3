//! `metav1.Status` error bodies.
//!
//! Every failure the server reports, whatever its cause, leaves as a [`ApiError`] rendered into a
//! `Status` object with the HTTP code, a machine-readable `reason` and a message a person can act
//! on. Watch streams carry the same object inside an `ERROR` event.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error answered to a client as a `metav1.Status`.
///
/// The fields mirror the Kubernetes `Status` object: `code` is the HTTP status, `reason` one of the
/// `StatusReason` strings (`NotFound`, `AlreadyExists`, `Conflict`, `Expired`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code, also written to `Status.code`.
    pub code: u16,
    /// `Status.reason` (`StatusReason`), empty for none.
    pub reason: &'static str,
    /// `Status.message`, for people.
    pub message: String,
    /// `Status.details`, if any (name, group, kind, causes, retryAfterSeconds).
    pub details: Option<Value>,
}

impl ApiError {
    /// An error with the given code, reason and message and no details.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// 400 `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 404 `NotFound` for `<plural>.<group> "name"`.
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, plural)),
        )
        .with_details(json!({ "name": name, "group": group, "kind": plural }))
    }

    /// 404 `NotFound` for a path that names no resource.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// 409 `AlreadyExists`.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, plural)),
        )
        .with_details(json!({ "name": name, "group": group, "kind": plural }))
    }

    /// 409 `Conflict` for a stale resourceVersion or failed precondition.
    pub fn conflict(group: &str, plural: &str, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(group, plural)
            ),
        )
        .with_details(json!({ "name": name, "group": group, "kind": plural }))
    }

    /// 422 `Invalid` with one cause per offending field: `(field, message)`, the message in the
    /// real validators' form (`Invalid value: ...`, `Required value: ...`, `Forbidden: ...`), from
    /// which each cause's reason follows.
    pub fn invalid(kind: &str, name: &str, causes: Vec<(String, String)>) -> Self {
        Self::invalid_in("", kind, name, causes)
    }

    /// [`invalid`](Self::invalid) for a kind of API group `group` (`ListOptions` of
    /// `meta.k8s.io`, say): the message names `Kind.group`, and the details carry the group.
    pub fn invalid_in(group: &str, kind: &str, name: &str, causes: Vec<(String, String)>) -> Self {
        let text: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let causes: Vec<Value> = causes
            .into_iter()
            .map(|(field, message)| {
                json!({ "reason": cause_reason(&message), "field": field, "message": message })
            })
            .collect();
        let qualified_kind = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        let mut details = json!({ "name": name, "kind": kind, "causes": causes });
        if !group.is_empty() {
            details["group"] = Value::from(group);
        }
        Self::new(
            422,
            "Invalid",
            // One cause is printed as it is, several as a bracketed list, as Go aggregates them.
            if text.len() == 1 {
                format!("{qualified_kind} \"{name}\" is invalid: {}", text[0])
            } else {
                format!(
                    "{qualified_kind} \"{name}\" is invalid: [{}]",
                    text.join(", ")
                )
            },
        )
        .with_details(details)
    }

    /// 422 for a bad list or watch option: `ListOptions.meta.k8s.io "" is invalid: ...`.
    pub fn invalid_options(field: &str, message: impl Into<String>) -> Self {
        Self::invalid_in(
            "meta.k8s.io",
            "ListOptions",
            "",
            vec![(field.to_owned(), message.into())],
        )
    }

    /// 410 `Expired`: the resourceVersion or continue token is older than the kept history.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 504 `Timeout` with the `ResourceVersionTooLarge` cause, as the real server answers a read at a
    /// resourceVersion it has not reached.
    pub fn too_large_rv(asked: u64, current: u64) -> Self {
        Self::new(504, "Timeout", format!("Too large resource version: {asked}, current: {current}"))
            .with_details(json!({
                "causes": [{ "reason": "ResourceVersionTooLarge", "message": "Too large resource version" }],
                "retryAfterSeconds": 1,
            }))
    }

    /// 403 `Forbidden`: `<plural> "<name>" is forbidden: <why>`.
    pub fn forbidden(group: &str, plural: &str, name: &str, why: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!("{} {name:?} is forbidden: {why}", qualified(group, plural)),
        )
        .with_details(json!({ "name": name, "group": group, "kind": plural }))
    }

    /// 403 `Forbidden` with the `NamespaceTerminating` cause: a create in a namespace that is
    /// being deleted.
    pub fn namespace_terminating(group: &str, plural: &str, name: &str, namespace: &str) -> Self {
        let why = format!(
            "unable to create new content in namespace {namespace} because it is being terminated"
        );
        let mut error = Self::forbidden(group, plural, name, &why);
        error.details = Some(json!({
            "name": name,
            "group": group,
            "kind": plural,
            "causes": [{
                "reason": "NamespaceTerminating",
                "message": why,
                "field": "metadata.namespace",
            }],
        }));
        error
    }

    /// 405 `MethodNotAllowed`.
    pub fn method_not_allowed(what: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({what})"),
        )
    }

    /// 415 `UnsupportedMediaType`.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/json-patch+json, application/strategic-merge-patch+json (got {content_type:?})"
            ),
        )
    }

    /// 413 `RequestEntityTooLarge`.
    pub fn too_large_body(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 500 `InternalError`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// An error of any code with the usual reason for that code (used by fault injection).
    pub fn for_code(code: u16, message: impl Into<String>) -> Self {
        let reason = match code {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            409 => "Conflict",
            410 => "Expired",
            413 => "RequestEntityTooLarge",
            415 => "UnsupportedMediaType",
            422 => "Invalid",
            429 => "TooManyRequests",
            500 => "InternalError",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "",
        };
        Self::new(code, reason, message)
    }

    /// Replace `Status.details`.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The `retryAfterSeconds` detail, if set.
    pub fn retry_after(&self) -> Option<u64> {
        self.details.as_ref()?.get("retryAfterSeconds")?.as_u64()
    }

    /// The `metav1.Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "code": self.code,
        });
        if !self.reason.is_empty() {
            status["reason"] = Value::from(self.reason);
        }
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.to_status()).unwrap_or_default();
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = code;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after()
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// `plural.group` as the real server names a resource in messages (`pods`, `deployments.apps`).
/// The `StatusCause` reason of a validation message, from its prefix.
fn cause_reason(message: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 7] = [
        ("Required value", "FieldValueRequired"),
        ("Forbidden", "FieldValueForbidden"),
        ("Unsupported value", "FieldValueNotSupported"),
        ("Duplicate value", "FieldValueDuplicate"),
        ("Too long", "FieldValueTooLong"),
        ("Too many", "FieldValueTooMany"),
        ("Not found", "FieldValueNotFound"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| message.starts_with(prefix))
        .map_or("FieldValueInvalid", |(_, reason)| reason)
}

fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    }
}
