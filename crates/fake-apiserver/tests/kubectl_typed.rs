//! `kubectl`'s typed commands (which send protobuf bodies) and everyday verbs, with their default
//! flags: `create namespace|configmap|secret|deployment|service|job|cronjob`, `label`,
//! `annotate`, `describe`, `get all`, `get -w`, `delete namespace` and `wait --for=delete`. Each
//! succeeds as it does on a real kube-apiserver v1.32 (with kube-controller-manager for the
//! namespace deletion). Skipped, loudly, where `kubectl` is not installed.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::kubectl::{self, Kubectl};
use fake_apiserver::FakeApiServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_creates_and_everyday_verbs() {
    if !kubectl::installed() {
        eprintln!("SKIPPED typed_creates_and_everyday_verbs: kubectl is not installed");
        return;
    }
    let server = FakeApiServer::builder()
        .namespace_controller(true)
        .start()
        .await
        .unwrap();
    let k = Kubectl::new(&server, "kubectl-typed");
    let ok = |args: &[&str]| {
        let (ok, out) = k.run(args);
        assert!(ok, "kubectl {}: {out}", args.join(" "));
        out
    };
    ok(&["create", "namespace", "shop"]);
    let n = ["-n", "shop"];
    let run = |args: &[&str]| ok(&[&n[..], args].concat());
    run(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=mode=fast",
    ]);
    run(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=hunter2",
    ]);
    run(&[
        "create",
        "deployment",
        "web",
        "--image=example/web:1",
        "--replicas=2",
        "--port=80",
    ]);
    run(&["create", "service", "clusterip", "web", "--tcp=80:8080"]);
    run(&["create", "job", "once", "--image=busybox"]);
    run(&[
        "create",
        "cronjob",
        "nightly",
        "--image=busybox",
        "--schedule=0 3 * * *",
    ]);
    assert_eq!(
        run(&[
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.data.mode}"
        ]),
        "fast"
    );
    assert_eq!(
        run(&[
            "get",
            "secret",
            "creds",
            "-o",
            "jsonpath={.data.password} {.type}"
        ]),
        "aHVudGVyMg== Opaque"
    );
    assert_eq!(
        run(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].ports[0].protocol}"
        ]),
        "2 TCP"
    );
    run(&["label", "deployment", "web", "tier=front"]);
    run(&["annotate", "deployment", "web", "owner=team-a"]);
    assert_eq!(
        run(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.metadata.labels.tier} {.metadata.annotations.owner}"
        ]),
        "front team-a"
    );
    let all = run(&["get", "all"]);
    for name in [
        "deployment.apps/web",
        "service/web",
        "job.batch/once",
        "cronjob.batch/nightly",
    ] {
        assert!(all.contains(name), "{name} in get all: {all}");
    }
    let described = run(&["describe", "deployment", "web"]);
    assert!(
        described.contains("Replicas:") && described.contains("example/web:1"),
        "{described}"
    );
    let described = run(&["describe", "configmap", "settings"]);
    assert!(
        described.contains("mode:") && described.contains("fast"),
        "{described}"
    );

    // `get -w` prints the list, then each change as it happens.
    let mut watch = Command::new("kubectl")
        .args([
            "--kubeconfig",
            k.kubeconfig(),
            "-n",
            "shop",
            "get",
            "configmaps",
            "-w",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    run(&["create", "configmap", "later", "--from-literal=a=b"]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    watch.kill().unwrap();
    let printed = String::from_utf8(watch.wait_with_output().unwrap().stdout).unwrap();
    assert!(
        printed.contains("settings") && printed.contains("later"),
        "{printed}"
    );

    // Deleting the namespace empties it, then removes it.
    ok(&["delete", "namespace", "shop", "--wait=false"]);
    ok(&["wait", "--for=delete", "namespace/shop", "--timeout=20s"]);
    let (found, out) = k.run(&["get", "namespace", "shop"]);
    assert!(!found && out.contains("NotFound"), "{out}");
    server.shutdown().await;
}
