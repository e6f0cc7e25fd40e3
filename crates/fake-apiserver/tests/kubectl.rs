//! `kubectl` against the server: discovery, table printing, create, get as JSON, delete, scale,
//! the health endpoints and the version.
//! Skipped, loudly, where `kubectl` is not installed.
// issue 6 point 5 (kubectl smoke test).

mod common;

use std::process::Command;

use common::*;

fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> Option<(bool, String)> {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--request-timeout=10s")
        .args(args)
        .output()
        .ok()?;
    Some((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// `kubectl create -f FILE [-n NS]`, without client-side validation (no OpenAPI is served).
fn create_from(namespace: Option<&str>, file: &std::path::Path) -> Vec<String> {
    let mut args = vec!["create".to_owned(), "--validate=false".to_owned()];
    if let Some(ns) = namespace {
        args.extend(["-n".to_owned(), ns.to_owned()]);
    }
    args.extend(["-f".to_owned(), file.display().to_string()]);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_smoke() {
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED kubectl_smoke: kubectl is not installed on this machine");
        return;
    }
    let server = server().await;
    let dir = std::env::temp_dir().join(format!("fake-apiserver-kubectl-{}", server.addr().port()));
    std::fs::create_dir_all(&dir).unwrap();
    let kc = dir.join("kubeconfig");
    server.write_kubeconfig(&kc).unwrap();
    let manifest = dir.join("cm.json");
    std::fs::write(&manifest, r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"from-kubectl","labels":{"app":"smoke"}},"data":{"k":"v"}}"#).unwrap();

    let run = |args: Vec<String>| {
        let kc = kc.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            kubectl(&kc, &args).expect("kubectl runs")
        })
    };
    let s = |v: &[&str]| v.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();

    // (`kubectl create namespace` sends protobuf, which this server does not speak: use a manifest;
    // no OpenAPI is served, hence --validate=false)
    let ns_manifest = dir.join("ns.json");
    std::fs::write(
        &ns_manifest,
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"smoke"}}"#,
    )
    .unwrap();
    let (ok, out) = run(create_from(None, &ns_manifest)).await.unwrap();
    assert!(ok, "{out}");
    let (ok, out) = run(create_from(Some("smoke"), &manifest)).await.unwrap();
    assert!(ok, "{out}");
    let (ok, out) = run(s(&["get", "configmaps", "-n", "smoke"])).await.unwrap();
    assert!(
        ok && out.contains("from-kubectl") && out.contains("AGE"),
        "{out}"
    );
    let (ok, out) = run(s(&[
        "get",
        "cm",
        "from-kubectl",
        "-n",
        "smoke",
        "-o",
        "json",
    ]))
    .await
    .unwrap();
    assert!(ok, "{out}");
    let cm: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(cm["data"]["k"], "v");
    let (ok, out) = run(s(&["get", "ns"])).await.unwrap();
    assert!(
        ok && out.contains("kube-system") && out.contains("smoke"),
        "{out}"
    );
    let (ok, out) = run(s(&["api-resources"])).await.unwrap();
    assert!(
        ok && out.contains("deployments") && out.contains("pods"),
        "{out}"
    );
    let (ok, out) = run(s(&["delete", "cm", "from-kubectl", "-n", "smoke"]))
        .await
        .unwrap();
    assert!(ok, "{out}");
    let (ok, out) = run(s(&["get", "cm", "from-kubectl", "-n", "smoke"]))
        .await
        .unwrap();
    assert!(
        !ok && out.contains("NotFound") || out.contains("not found"),
        "{out}"
    );
    // A Deployment scaled through its scale subresource, and the health endpoints.
    let deployment = dir.join("deploy.json");
    std::fs::write(
        &deployment,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"example/app:1"}]}}}}"#,
    )
    .unwrap();
    let (ok, out) = run(create_from(Some("smoke"), &deployment)).await.unwrap();
    assert!(ok, "{out}");
    let (ok, out) = run(s(&[
        "scale",
        "deployment",
        "web",
        "-n",
        "smoke",
        "--replicas=4",
    ]))
    .await
    .unwrap();
    assert!(ok && out.contains("scaled"), "{out}");
    let (ok, out) = run(s(&[
        "get",
        "deployment",
        "web",
        "-n",
        "smoke",
        "-o",
        "jsonpath={.spec.replicas}",
    ]))
    .await
    .unwrap();
    assert!(ok && out.trim() == "4", "{out}");
    let (ok, out) = run(s(&["get", "--raw", "/readyz"])).await.unwrap();
    assert!(ok && out.trim() == "ok", "{out}");
    // The server says v1.32, the version its answers are compared against.
    let (ok, out) = run(s(&["version"])).await.unwrap();
    assert!(ok && out.contains("Server Version: v1.32."), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
    server.shutdown().await;
}
