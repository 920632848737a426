//! The OpenAPI documents as kubectl uses them: `apply` validates on the server (no
//! `--validate=false`), `explain` prints field docs, and the documents kubectl downloads are
//! valid OpenAPI by a real validator (the PyPI package openapi-spec-validator).

mod common;

use std::process::Command;

use common::Server;

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  strategy:
    type: RollingUpdate
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
"#;

#[test]
fn apply_validates_on_the_server_without_validate_false() {
    let s = Server::start();
    let manifest = s.data_dir().join("deployment.yaml");
    std::fs::write(&manifest, DEPLOYMENT).unwrap();
    let out = s.kubectl(&["apply", "-f", manifest.to_str().unwrap(), "-v=6"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kubectl apply failed:\nstdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "deployment.apps/web created");
    // kubectl found the PATCH operation with fieldValidation and so asked the server to
    // validate strictly.
    assert!(stderr.contains("/openapi/v3/apis/apps/v1?hash="), "{stderr}");
    assert!(stderr.contains("fieldValidation=Strict"), "{stderr}");
    assert!(!stderr.contains("failed to download openapi"), "{stderr}");
    assert_eq!(s.ok(&["get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"]), "2");
}

#[test]
fn explain_prints_field_docs() {
    let s = Server::start();
    let out = s.ok(&["explain", "deployment.spec.strategy"]);
    assert!(out.contains("GROUP:      apps"), "{out}");
    assert!(out.contains("KIND:       Deployment"), "{out}");
    assert!(out.contains("VERSION:    v1"), "{out}");
    assert!(out.contains("FIELD: strategy <DeploymentStrategy>"), "{out}");
    assert!(out.contains("DESCRIPTION:"), "{out}");
    assert!(out.contains("The deployment strategy to use to replace existing pods with new ones."), "{out}");
    assert!(out.contains("rollingUpdate\t<RollingUpdateDeployment>"), "{out}");
    assert!(out.contains("type\t<string>"), "{out}");

    let pods = s.ok(&["explain", "pods"]);
    assert!(pods.contains("KIND:       Pod"), "{pods}");
    assert!(pods.contains("VERSION:    v1"), "{pods}");
    assert!(pods.contains("Pod is a collection of containers that can run on a host."), "{pods}");
    assert!(pods.contains("spec\t<PodSpec>"), "{pods}");

    let containers = s.ok(&["explain", "pods.spec.containers.ports"]);
    assert!(containers.contains("FIELD: ports <[]ContainerPort>"), "{containers}");
    assert!(containers.contains("containerPort\t<integer> -required-"), "{containers}");
    let port = s.ok(&["explain", "svc.spec.ports.targetPort"]);
    assert!(port.contains("FIELD: targetPort <IntOrString>"), "{port}");
    let resources = s.ok(&["explain", "pods.spec.containers.resources"]);
    assert!(resources.contains("limits\t<map[string]Quantity>"), "{resources}");
}

const CHANGED: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo
spec:
  replicas: 1
  selector:
    matchLabels: {app: demo}
  template:
    metadata:
      labels: {app: demo}
    spec:
      containers:
      - name: nginx
        image: IMAGE
        env:
        - {name: A, value: "1"}
        - ENV
"#;

/// The second `apply` builds its strategic merge patch from the v3 document's patch metadata
/// (no /openapi/v2 fetch), and the server merges it the same way.
#[test]
fn apply_twice_patches_by_the_documents_merge_keys() {
    let s = Server::start();
    let first = CHANGED.replace("IMAGE", "nginx:1.26").replace("ENV", "{name: B, value: \"2\"}");
    let second = CHANGED.replace("IMAGE", "nginx:1.27").replace("ENV", "{name: C, value: \"3\"}");
    s.ok_stdin(&["apply", "-f", "-"], &first);
    let out = s.kubectl_at(common::KUBECTL, &["apply", "-f", "-", "-v=6"], Some(&second));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("PATCH") && stderr.contains("/deployments/demo?fieldManager=kubectl-client-side-apply"));
    assert!(!stderr.contains("/openapi/v2"), "kubectl fell back to v2 for its patch:\n{stderr}");
    let env = s.ok(&["get", "deploy", "demo", "-o", "jsonpath={.spec.template.spec.containers[0].env}"]);
    assert_eq!(env, r#"[{"name":"A","value":"1"},{"name":"C","value":"3"}]"#);
    let out = s.kubectl_at(common::KUBECTL, &["diff", "-f", "-"], Some(&second));
    assert!(out.status.success(), "diff not empty: {}", String::from_utf8_lossy(&out.stdout));
}

/// kubectl 1.27 and 1.28 validate `apply` and `explain` from /openapi/v2 in protobuf.
#[test]
fn kubectl_1_27_reads_the_protobuf_v2_document() {
    let bin = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";
    if !std::path::Path::new(bin).exists() {
        eprintln!("{bin} is not installed; skipping");
        return;
    }
    let s = Server::start();
    let out = s.kubectl_at(bin, &["apply", "-f", "-"], Some(DEPLOYMENT));
    assert!(out.status.success(), "kubectl 1.27 apply: {}", String::from_utf8_lossy(&out.stderr));
    let out = s.kubectl_at(bin, &["explain", "deployment.spec.strategy"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kubectl 1.27 explain: {}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("FIELD: strategy <DeploymentStrategy>"), "{text}");
    assert!(text.contains("rollingUpdate\t<RollingUpdateDeployment>"), "{text}");
}

fn validator_available() -> bool {
    Command::new("python3").args(["-c", "import openapi_spec_validator"]).status().map(|s| s.success()).unwrap_or(false)
}

#[test]
fn the_documents_are_valid_openapi() {
    assert!(
        validator_available(),
        "python3 -m openapi_spec_validator is missing: install the PyPI package with `pip install openapi-spec-validator`"
    );
    let s = Server::start();
    let root = s.ok(&["get", "--raw", "/openapi/v3"]);
    let root: serde_json::Value = serde_json::from_str(&root).expect("the v3 index is JSON");
    let apps = root["paths"]["apis/apps/v1"]["serverRelativeURL"].as_str().expect("apps/v1 listed").to_string();
    let core = root["paths"]["api/v1"]["serverRelativeURL"].as_str().expect("core v1 listed").to_string();
    let mut files = Vec::new();
    for (name, path) in [("v2.json", "/openapi/v2"), ("apps-v1.json", apps.as_str()), ("core-v1.json", core.as_str())] {
        let body = s.ok(&["get", "--raw", path]);
        let file = s.data_dir().join(name);
        std::fs::write(&file, body).unwrap();
        files.push(file);
    }
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .args(&files)
        .output()
        .expect("run the validator");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "invalid OpenAPI:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for f in &files {
        assert!(stdout.contains(&format!("{}: OK", f.display())), "{stdout}");
    }
}
