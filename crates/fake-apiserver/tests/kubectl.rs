//! `kubectl` against the server: discovery, table printing, create, get as JSON, delete, scale,
//! the health endpoints and the version.
//! Skipped, loudly, where `kubectl` is not installed.
// issue 6 point 5 (kubectl smoke test).

mod common;

use common::kubectl::{self, Kubectl};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_smoke() {
    if !kubectl::installed() {
        eprintln!("SKIPPED kubectl_smoke: kubectl is not installed on this machine");
        return;
    }
    let server = server().await;
    let k = Kubectl::new(&server, "kubectl-smoke");
    let manifest = k.file(
        "cm.json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"from-kubectl","labels":{"app":"smoke"}},"data":{"k":"v"}}"#,
    );
    // (`kubectl create namespace` sends protobuf, which this server does not speak: a manifest)
    let ns_manifest = k.file(
        "ns.json",
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"smoke"}}"#,
    );
    let (ok, out) = k.run(&["create", "-f", &ns_manifest]);
    assert!(ok, "{out}");
    let (ok, out) = k.run(&["create", "-n", "smoke", "-f", &manifest]);
    assert!(ok, "{out}");
    let (ok, out) = k.run(&["get", "configmaps", "-n", "smoke"]);
    assert!(
        ok && out.contains("from-kubectl") && out.contains("AGE"),
        "{out}"
    );
    let (ok, out) = k.run(&["get", "cm", "from-kubectl", "-n", "smoke", "-o", "json"]);
    assert!(ok, "{out}");
    let cm: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(cm["data"]["k"], "v");
    let (ok, out) = k.run(&["get", "ns"]);
    assert!(
        ok && out.contains("kube-system") && out.contains("smoke"),
        "{out}"
    );
    let (ok, out) = k.run(&["api-resources"]);
    assert!(
        ok && out.contains("deployments") && out.contains("pods"),
        "{out}"
    );
    let (ok, out) = k.run(&["delete", "cm", "from-kubectl", "-n", "smoke"]);
    assert!(ok, "{out}");
    let (ok, out) = k.run(&["get", "cm", "from-kubectl", "-n", "smoke"]);
    assert!(
        !ok && out.contains("NotFound") || out.contains("not found"),
        "{out}"
    );
    // A Deployment scaled through its scale subresource, and the health endpoints.
    let deployment = k.file(
        "deploy.json",
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"example/app:1"}]}}}}"#,
    );
    let (ok, out) = k.run(&["create", "-n", "smoke", "-f", &deployment]);
    assert!(ok, "{out}");
    let (ok, out) = k.run(&["scale", "deployment", "web", "-n", "smoke", "--replicas=4"]);
    assert!(ok && out.contains("scaled"), "{out}");
    let (ok, out) = k.run(&[
        "get",
        "deployment",
        "web",
        "-n",
        "smoke",
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert!(ok && out.trim() == "4", "{out}");
    let (ok, out) = k.run(&["get", "--raw", "/readyz"]);
    assert!(ok && out.trim() == "ok", "{out}");
    // Every client is the cluster admin, allowed everything.
    let (ok, out) = k.run(&["auth", "whoami"]);
    assert!(ok && out.contains("system:admin"), "{out}");
    let (ok, out) = k.run(&["auth", "can-i", "delete", "pods"]);
    assert!(ok && out.trim() == "yes", "{out}");
    // The server says v1.32, the version its answers are compared against.
    let (ok, out) = k.run(&["version"]);
    assert!(ok && out.contains("Server Version: v1.32."), "{out}");
    server.shutdown().await;
}
