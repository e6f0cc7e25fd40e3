//! `fake-apiserver`: run the fake API server standalone.
//!
//! ```text
//! cargo run -p fake-apiserver -- [--port 8001] [--bind 127.0.0.1:8001] [--seed demo|none]
//!                                [--kubeconfig PATH]
//! ```
//!
//! Prints the URL and the path of a kubeconfig that points at it, then serves until Ctrl-C.
//! `--help` prints the usage on stdout; a bad or non-UTF-8 argument is a usage error (exit
//! status 2).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use fake_apiserver::{FakeApiServer, ServerHandle};
use serde_json::json;

const USAGE: &str =
    "usage: fake-apiserver [--port N] [--bind ADDR:PORT] [--seed demo|none] [--kubeconfig PATH]";

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.into_string() {
            Ok(arg) => args.push(arg),
            Err(arg) => {
                let problem = format!("argument {:?} is not valid UTF-8", arg.to_string_lossy());
                return usage(&problem);
            }
        }
    }
    let mut builder = FakeApiServer::builder();
    let mut seed = "none".to_owned();
    let mut kubeconfig = None;
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned();
        match (args[i].as_str(), value) {
            ("--port", Some(v)) => match v.parse() {
                Ok(port) => builder = builder.port(port),
                Err(_) => return usage(&format!("bad port {v:?}")),
            },
            ("--bind", Some(v)) => match v.parse::<SocketAddr>() {
                Ok(addr) => builder = builder.bind(addr),
                Err(_) => return usage(&format!("bad address {v:?}")),
            },
            ("--seed", Some(v)) => seed = v,
            ("--kubeconfig", Some(v)) => kubeconfig = Some(PathBuf::from(v)),
            ("-h" | "--help", _) => return help(),
            (other, _) => return usage(&format!("unknown or incomplete argument {other:?}")),
        }
        i += 2;
    }
    let server = match builder.start().await {
        Ok(server) => server,
        Err(error) => {
            eprintln!(
                "fake-apiserver: {error}: {}",
                std::error::Error::source(&error)
                    .map(ToString::to_string)
                    .unwrap_or_default()
            );
            return ExitCode::FAILURE;
        }
    };
    match seed.as_str() {
        "none" => {}
        "demo" => seed_demo(&server),
        other => return usage(&format!("unknown seed {other:?} (demo or none)")),
    }
    let path = kubeconfig.unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "fake-apiserver-{}.kubeconfig",
            server.addr().port()
        ))
    });
    if let Err(error) = server.write_kubeconfig(&path) {
        eprintln!("fake-apiserver: {error}");
        return ExitCode::FAILURE;
    }
    announce(&server, &path);
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

#[allow(
    clippy::print_stdout,
    reason = "the binary's whole output: where to connect"
)]
fn announce(server: &ServerHandle, kubeconfig: &std::path::Path) {
    let scope = if server.addr().ip().is_loopback() {
        "loopback only"
    } else {
        "NOT loopback: reachable from the network, no authentication"
    };
    println!("fake-apiserver listening on {} ({scope})", server.url());
    println!("kubeconfig: {}", kubeconfig.display());
    println!(
        "try: kubectl --kubeconfig {} get pods -A",
        kubeconfig.display()
    );
}

/// `--help`: the usage on stdout, and success.
#[allow(clippy::print_stdout, reason = "--help prints the usage")]
fn help() -> ExitCode {
    println!("{USAGE}");
    ExitCode::SUCCESS
}

/// A usage error: the problem and the usage on stderr, and exit status 2.
fn usage(problem: &str) -> ExitCode {
    eprintln!("fake-apiserver: {problem}\n{USAGE}");
    ExitCode::from(2)
}

/// A small, fixed data set: a namespace with a deployment, its pods, a config map and a node.
fn seed_demo(server: &ServerHandle) {
    let mut objects = vec![
        (
            "",
            "v1",
            "namespaces",
            "",
            json!({ "metadata": { "name": "demo" } }),
        ),
        (
            "",
            "v1",
            "nodes",
            "",
            json!({ "metadata": { "name": "node-1", "labels": { "kubernetes.io/hostname": "node-1" } } }),
        ),
        (
            "",
            "v1",
            "configmaps",
            "demo",
            json!({ "metadata": { "name": "web-config" }, "data": { "greeting": "hello" } }),
        ),
        (
            "apps",
            "v1",
            "deployments",
            "demo",
            json!({
                "metadata": { "name": "web", "labels": { "app": "web" } },
                "spec": { "replicas": 3, "selector": { "matchLabels": { "app": "web" } },
                          "template": { "metadata": { "labels": { "app": "web" } },
                                        "spec": { "containers": [{ "name": "web", "image": "nginx:1.27" }] } } },
            }),
        ),
    ];
    for i in 0..3 {
        objects.push(("", "v1", "pods", "demo", json!({
            "metadata": { "name": format!("web-{i}"), "labels": { "app": "web" } },
            "spec": { "nodeName": "node-1", "containers": [{ "name": "web", "image": "nginx:1.27" }] },
            "status": { "phase": "Running" },
        })));
    }
    for (group, version, plural, ns, object) in objects {
        if let Err(error) = server.create(group, version, plural, ns, object) {
            eprintln!("fake-apiserver: seeding {plural}: {error}");
        }
    }
}
