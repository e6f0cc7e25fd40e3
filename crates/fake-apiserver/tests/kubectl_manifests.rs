//! `kubectl` with its default flags on manifests: `apply -f` (create, change, prune a label),
//! `create -f` and `replace -f` validated on the server, `patch` of every type (strategic with
//! merge keys and directives), `edit` with a scripted editor, `explain`, `diff` and server-side
//! dry runs. Each outcome is the one a real kube-apiserver v1.32 gives (see
//! `docs/fake-apiserver.md`).
//! Skipped, loudly, where `kubectl` is not installed.

mod common;

use common::kubectl::{self, Kubectl};
use common::*;

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: main
        image: example/web:1
        ports: [{containerPort: 80}]
";

fn skip(test: &str) -> bool {
    if kubectl::installed() {
        return false;
    }
    eprintln!("SKIPPED {test}: kubectl is not installed on this machine");
    true
}

fn jsonpath(k: &Kubectl, what: &[&str], path: &str) -> String {
    let query = format!("jsonpath={path}");
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", &query]);
    let (ok, out) = k.run(&args);
    assert!(ok, "{out}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_changes_and_prunes_a_label() {
    if skip("apply_creates_changes_and_prunes_a_label") {
        return;
    }
    let server = server().await;
    let k = Kubectl::new(&server, "kubectl-apply");
    let file = k.file("web.yaml", DEPLOYMENT);
    let (ok, out) = k.run(&["apply", "-f", &file]);
    assert!(ok && out.contains("deployment.apps/web created"), "{out}");
    let changed = DEPLOYMENT
        .replace(", tier: front", "")
        .replace("example/web:1", "example/web:2");
    let file = k.file("web.yaml", &changed);
    let (ok, out) = k.run(&["apply", "-f", &file]);
    assert!(
        ok && out.contains("deployment.apps/web configured"),
        "{out}"
    );
    let web = ["deployment", "web"];
    assert_eq!(jsonpath(&k, &web, "{.metadata.labels}"), r#"{"app":"web"}"#);
    assert_eq!(
        jsonpath(&k, &web, "{.spec.template.spec.containers[*].image}"),
        "example/web:2"
    );
    let (ok, out) = k.run(&["apply", "-f", &file]);
    assert!(ok && out.contains("deployment.apps/web unchanged"), "{out}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_replace_are_validated_on_the_server() {
    if skip("create_and_replace_are_validated_on_the_server") {
        return;
    }
    let server = server().await;
    let k = Kubectl::new(&server, "kubectl-validate");
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1}\ndata: {a: \"1\"}\nbogus: 1\n";
    let file = k.file("bad.yaml", bad);
    let (ok, out) = k.run(&["create", "-f", &file]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "bogus""#),
        "{out}"
    );
    let (ok, out) = k.run(&["create", "--validate=warn", "-f", &file]);
    assert!(
        ok && out.contains(r#"Warning: unknown field "bogus""#),
        "{out}"
    );
    let stored = jsonpath(&k, &["configmap", "c1"], "{.bogus}");
    assert_eq!(stored, "", "an unknown field is never stored");

    let web = k.file("web.yaml", DEPLOYMENT);
    let (ok, out) = k.run(&["create", "-f", &web]);
    assert!(ok, "{out}");
    let (ok, out) = k.run(&["create", "-f", &web]);
    assert!(!ok && out.contains("AlreadyExists"), "{out}");
    let replaced = k.file(
        "web.yaml",
        &DEPLOYMENT.replace("replicas: 2", "replicas: 5"),
    );
    let (ok, out) = k.run(&["replace", "-f", &replaced]);
    assert!(ok && out.contains("deployment.apps/web replaced"), "{out}");
    assert_eq!(
        jsonpath(&k, &["deployment", "web"], "{.spec.replicas}"),
        "5"
    );
    let typo = k.file(
        "typo.yaml",
        &DEPLOYMENT.replace("replicas: 2", "replica: 2"),
    );
    let (ok, out) = k.run(&["replace", "-f", &typo]);
    assert!(
        !ok && out.contains(r#"unknown field "spec.replica""#),
        "{out}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_of_every_type_and_strategic_merge_keys() {
    if skip("patch_of_every_type_and_strategic_merge_keys") {
        return;
    }
    let server = server().await;
    let k = Kubectl::new(&server, "kubectl-patch");
    let web = k.file("web.yaml", DEPLOYMENT);
    assert!(k.run(&["create", "-f", &web]).0);
    let names = |k: &Kubectl| {
        jsonpath(
            k,
            &["deployment", "web"],
            "{.spec.template.spec.containers[*].name}",
        )
    };
    // Strategic (kubectl's default type): containers merge by name.
    let side = r#"{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"example/side:1"}]}}}}"#;
    let (ok, out) = k.run(&["patch", "deployment", "web", "-p", side]);
    assert!(ok && out.contains("patched"), "{out}");
    assert_eq!(names(&k), "side main");
    let delete =
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"side","$patch":"delete"}]}}}}"#;
    let (ok, out) = k.run(&["patch", "deployment", "web", "-p", delete]);
    assert!(ok, "{out}");
    assert_eq!(names(&k), "main");
    // A merge patch replaces the list.
    let merge = r#"{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"example/only:1"}]}}}}"#;
    let (ok, out) = k.run(&["patch", "deployment", "web", "--type=merge", "-p", merge]);
    assert!(ok, "{out}");
    assert_eq!(names(&k), "only");
    let json = r#"[{"op":"replace","path":"/spec/replicas","value":3}]"#;
    let (ok, out) = k.run(&["patch", "deployment", "web", "--type=json", "-p", json]);
    assert!(ok, "{out}");
    assert_eq!(
        jsonpath(&k, &["deployment", "web"], "{.spec.replicas}"),
        "3"
    );
    // A strategic patch item without its merge key: the real server's unclassified error.
    let keyless = r#"{"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#;
    let (ok, out) = k.run(&["patch", "deployment", "web", "-p", keyless]);
    assert!(
        !ok && out.contains("does not contain declared merge key: name"),
        "{out}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_with_a_scripted_editor_and_explain() {
    if skip("edit_with_a_scripted_editor_and_explain") {
        return;
    }
    let server = server().await;
    let k = Kubectl::new(&server, "kubectl-edit");
    let cm = k.file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: old-value}\n",
    );
    assert!(k.run(&["create", "-f", &cm]).0);
    let editor = [("KUBE_EDITOR", "sed -i -e s/old-value/new-value/")];
    let (ok, out) = k.run_with(&["edit", "configmap", "settings"], &editor, None);
    assert!(ok && out.contains("configmap/settings edited"), "{out}");
    assert_eq!(
        jsonpath(&k, &["configmap", "settings"], "{.data.mode}"),
        "new-value"
    );
    let (ok, out) = k.run(&["explain", "deployment.spec.strategy"]);
    assert!(
        ok && out.contains("FIELD: strategy <DeploymentStrategy>"),
        "{out}"
    );
    assert!(
        out.contains("rollingUpdate\t<RollingUpdateDeployment>"),
        "{out}"
    );
    assert!(out.contains("enum: Recreate, RollingUpdate"), "{out}");
    let (ok, out) = k.run(&["explain", "pods.spec.nosuchfield"]);
    assert!(!ok, "{out}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_and_server_side_dry_runs_change_nothing() {
    if skip("diff_and_server_side_dry_runs_change_nothing") {
        return;
    }
    let server = server().await;
    let k = Kubectl::new(&server, "kubectl-dry");
    let web = k.file("web.yaml", DEPLOYMENT);
    assert!(k.run(&["apply", "-f", &web]).0);
    let (ok, out) = k.run(&["diff", "-f", &web]);
    assert!(
        ok && out.is_empty(),
        "no difference: exit 0, nothing printed: {out}"
    );
    let more = k.file(
        "more.yaml",
        &DEPLOYMENT.replace("replicas: 2", "replicas: 3"),
    );
    let (ok, out) = k.run(&["diff", "-f", &more]);
    assert!(
        !ok && out.contains("-  replicas: 2") && out.contains("+  replicas: 3"),
        "{out}"
    );
    let (ok, out) = k.run(&["apply", "--dry-run=server", "-f", &more]);
    assert!(ok && out.contains("(server dry run)"), "{out}");
    let (ok, out) = k.run(&["delete", "deployment", "web", "--dry-run=server"]);
    assert!(ok && out.contains("(server dry run)"), "{out}");
    assert_eq!(
        jsonpath(&k, &["deployment", "web"], "{.spec.replicas}"),
        "2"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_prints_the_real_columns() {
    if skip("get_prints_the_real_columns") {
        return;
    }
    let server = server().await;
    let k = Kubectl::new(&server, "kubectl-columns");
    let web = k.file("web.yaml", DEPLOYMENT);
    assert!(k.run(&["apply", "-f", &web]).0);
    let header = |out: &str| {
        out.lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (ok, out) = k.run(&["get", "deployments"]);
    assert!(ok, "{out}");
    assert_eq!(header(&out), "NAME READY UP-TO-DATE AVAILABLE AGE");
    let row: Vec<&str> = out
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row[..4], ["web", "0/2", "0", "0"], "{out}");
    let (ok, out) = k.run(&["get", "deployments", "-o", "wide"]);
    assert!(ok, "{out}");
    assert_eq!(
        header(&out),
        "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR"
    );
    assert!(
        out.contains("main         example/web:1   app=web"),
        "{out}"
    );
    let svc = k.file(
        "svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n",
    );
    assert!(k.run(&["apply", "-f", &svc]).0);
    let (ok, out) = k.run(&["get", "services"]);
    assert!(ok, "{out}");
    assert_eq!(header(&out), "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE");
    assert!(out.contains("ClusterIP") && out.contains("80/TCP"), "{out}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_manifest_is_validated_on_the_client_from_openapi_v2() {
    if skip("a_list_manifest_is_validated_on_the_client_from_openapi_v2") {
        return;
    }
    let server = server().await;
    let k = Kubectl::new(&server, "kubectl-list");
    // kubectl validates a `List` itself, from the protobuf form of /openapi/v2.
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: one}\n  data: {a: b}\n";
    let file = k.file("list.yaml", list);
    let (ok, out) = k.run(&["apply", "-f", &file]);
    assert!(ok && out.contains("configmap/one created"), "{out}");
    let bad = k.file("bad.yaml", &format!("{list}  bogus: 1\n"));
    let (ok, out) = k.run(&["apply", "-f", &bad]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            r#"ValidationError(ConfigMap): unknown field "bogus" in io.k8s.api.core.v1.ConfigMap"#
        ),
        "{out}"
    );
    server.shutdown().await;
}
