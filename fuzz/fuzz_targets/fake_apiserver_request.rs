//! Any request to fake-apiserver: every answer is a JSON object, every error a `Status` with the
//! HTTP code, and nothing is a 500 or a crash (`fake_apiserver::fuzzing::check_request`).
//!
//! Input: byte 0 picks the method, byte 1 the content type, byte 2 a path; the bytes up to the
//! first newline are appended to the path (more segments, a query string), the rest is the body.
//! The server lives across inputs, so sequences build state (creates, then patches of what was
//! created); it is replaced once it holds many objects, to keep memory bounded.
#![no_main]

use std::sync::{Mutex, OnceLock};

use fake_apiserver::{FakeApiServer, ServerHandle};
use libfuzzer_sys::fuzz_target;

const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

const CONTENT_TYPES: [&str; 8] = [
    "application/json",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/vnd.kubernetes.protobuf",
    "text/plain",
    "",
];

const PATHS: [&str; 16] = [
    "/api/v1/namespaces/default/configmaps",
    "/api/v1/namespaces/default/configmaps/c",
    "/api/v1/namespaces/default/pods",
    "/api/v1/namespaces/default/pods/p",
    "/api/v1/namespaces/default/pods/p/status",
    "/api/v1/namespaces",
    "/api/v1/namespaces/fuzz",
    "/apis/apps/v1/namespaces/default/deployments",
    "/apis/apps/v1/namespaces/default/deployments/d",
    "/apis/coordination.k8s.io/v1/namespaces/default/leases/l",
    "/api/v1/watch/namespaces/default/pods",
    "/api/v1/nodes",
    "/api",
    "/apis",
    "/version",
    "",
];

/// Objects after which the server is replaced by a fresh one.
const MAX_OBJECTS: usize = 2_000;

struct Harness {
    runtime: tokio::runtime::Runtime,
    server: Mutex<Option<ServerHandle>>,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| Harness {
        runtime: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime"),
        server: Mutex::new(None),
    })
}

fn pick<'a>(table: &[&'a str], byte: u8) -> &'a str {
    table[usize::from(byte) % table.len()]
}

fuzz_target!(|data: &[u8]| {
    let [m, c, p, rest @ ..] = data else {
        return;
    };
    let (suffix, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(suffix) = std::str::from_utf8(suffix) else {
        return;
    };
    let target = format!("{}{suffix}", pick(&PATHS, *p));
    let harness = harness();
    harness.runtime.block_on(async {
        let mut slot = harness.server.lock().expect("one input at a time");
        if slot.as_ref().is_none_or(|s| s.object_count() > MAX_OBJECTS) {
            if let Some(old) = slot.take() {
                old.shutdown().await;
            }
            *slot = Some(FakeApiServer::builder().start().await.expect("a server"));
        }
        let server = slot.as_ref().expect("just set");
        fake_apiserver::fuzzing::check_request(
            server,
            pick(&METHODS, *m),
            &target,
            pick(&CONTENT_TYPES, *c),
            body.to_vec(),
        )
        .await;
    });
});
