//! Entry points for the project's fuzz targets (`fuzz/` at the workspace root). Not part of the
//! API: hidden from the docs, and free to change in any release.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use serde_json::Value;

use crate::handle::ServerHandle;
use crate::server;

/// Serves one request in process (no socket, the same handler as over HTTP) and checks the rules
/// every answer follows, panicking when one is broken:
///
/// * no 500: whatever the request, the server answers it or refuses it with a 4xx (or the 504 of
///   a resourceVersion it has not reached), except the one 500 the real server gives too: a
///   strategic merge patch it cannot apply for a reason it does not classify (an item without
///   its merge key), answered as a `Status` without a reason;
/// * every error answer is a `metav1.Status` whose `code` is the HTTP code;
/// * every complete answer is JSON, but the health endpoints' plain text.
///
/// A streaming answer (a watch) is dropped after its head: that ends its task. A request that
/// HTTP itself could not carry (a malformed method or target) is skipped.
pub async fn check_request(
    server: &ServerHandle,
    method: &str,
    target: &str,
    content_type: &str,
    body: Vec<u8>,
) {
    let mut builder = Request::builder().method(method).uri(target);
    if !content_type.is_empty() {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    let Ok(request) = builder.body(Body::from(body)) else {
        return;
    };
    let response = server::handle(State(Arc::clone(server.shared())), request).await;
    let code = response.status().as_u16();
    let strategic = content_type == "application/strategic-merge-patch+json" && method == "PATCH";
    assert!(
        code != 500 || strategic,
        "{method} {target} ({content_type}) got a 500 from the server"
    );
    if axum::body::HttpBody::size_hint(response.body())
        .exact()
        .is_none()
    {
        return; // a stream: a watch
    }
    let plain_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/plain"));
    if plain_text {
        // The health endpoints answer in plain text, as the real server's do.
        let path = target.split('?').next().unwrap_or_default();
        assert!(
            ["/healthz", "/livez", "/readyz"]
                .iter()
                .any(|e| path.starts_with(e)),
            "{method} {target}: a plain-text answer outside the health endpoints"
        );
        return;
    }
    let Ok(bytes) = axum::body::to_bytes(response.into_body(), usize::MAX).await else {
        panic!("{method} {target}: the answer's body could not be read");
    };
    let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
        panic!(
            "{method} {target} ({content_type}): answer {code} is not JSON: {}",
            String::from_utf8_lossy(&bytes)
        );
    };
    if code >= 400 {
        assert_eq!(value["kind"], "Status", "{method} {target}: {value}");
        assert_eq!(value["code"], code, "{method} {target}: {value}");
    }
    if code == 500 {
        assert!(
            value.get("reason").is_none(),
            "{method} {target}: a 500 other than an unclassified strategic merge patch error: {value}"
        );
    }
}
