//! A new user's first session with the real kubectl: namespaces, discovery, ConfigMaps,
//! Secrets, Services and Deployments created, read in every output format, selected,
//! labelled, patched, replaced, scaled and deleted; errors worded as a 1.33 apiserver words
//! them; pagination; watch; what anonymous callers and malformed requests get.
mod common;
use common::*;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, ObjectMeta, PostParams, WatchEvent, WatchParams};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `kubectl create configmap ARGS…` (kubectl 1.32 sends this one as protobuf).
fn create_configmap(s: &Server, args: &[&str]) -> String {
    let mut full = vec!["create", "configmap"];
    full.extend_from_slice(args);
    let out = s.kubectl(&full);
    assert!(
        out.status.success(),
        "kubectl {full:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// "5s", "2m", "3m4s": what kubectl prints in an AGE column for a fresh object.
fn is_age(cell: &str) -> bool {
    let digits = cell.chars().take_while(char::is_ascii_digit).count();
    digits > 0
        && cell.len() > digits
        && cell
            .chars()
            .all(|c| c.is_ascii_digit() || "smhdy".contains(c))
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// The rows of `out` whose first cell is `name`.
fn row<'a>(r: &'a [Vec<String>], name: &str) -> &'a Vec<String> {
    r.iter()
        .find(|row| row[0] == name)
        .unwrap_or_else(|| panic!("no row {name} in {r:?}"))
}

fn names(out: &str) -> Vec<String> {
    rows(out)
        .into_iter()
        .skip(1)
        .map(|r| r[0].clone())
        .collect()
}

const API_CONFIG: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: api-config
  labels:
    app: api
    tier: backend
data:
  k: from-yaml
"#;

const PLAIN: &str = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"plain"},"data":{"a":"1","b":"2"}}"#;

const WEB_DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
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

const WEB_SERVICE: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    app: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
"#;

const WEB_SECRET: &str = r#"apiVersion: v1
kind: Secret
metadata:
  name: web-secret
type: Opaque
stringData:
  user: admin
  password: s3cret
"#;

#[test]
fn a_new_user_sees_four_active_namespaces_the_resource_types_and_the_version() {
    let s = Server::start();

    let out = s.ok(&["get", "ns"]);
    let r = rows(&out);
    assert_eq!(r[0], vec!["NAME", "STATUS", "AGE"], "{out}");
    let names: Vec<&str> = r[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        names,
        vec!["default", "kube-node-lease", "kube-public", "kube-system"],
        "{out}"
    );
    assert!(
        r[1..]
            .iter()
            .all(|r| r.len() == 3 && r[1] == "Active" && is_age(&r[2])),
        "{out}"
    );

    // The oldest and the newest kubectl we support read the same table.
    for v in ["1.27", "1.33"] {
        let bin = format!("/usr/lib/google-cloud-sdk/bin/kubectl.{v}");
        let out = s.kubectl_at(&bin, &["get", "namespaces", "-o", "name"], None);
        assert!(out.status.success(), "kubectl {v}: {}", stderr_of(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "namespace/default\nnamespace/kube-node-lease\nnamespace/kube-public\nnamespace/kube-system\n",
            "kubectl {v}"
        );
    }

    let out = s.ok(&["api-resources"]);
    let r = rows(&out);
    assert_eq!(
        r[0],
        vec!["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"],
        "{out}"
    );
    assert_eq!(
        row(&r, "pods"),
        &vec!["pods", "po", "v1", "true", "Pod"],
        "{out}"
    );
    assert_eq!(
        row(&r, "deployments"),
        &vec!["deployments", "deploy", "apps/v1", "true", "Deployment"],
        "{out}"
    );
    assert_eq!(
        row(&r, "namespaces"),
        &vec!["namespaces", "ns", "v1", "false", "Namespace"],
        "{out}"
    );
    assert_eq!(
        row(&r, "configmaps"),
        &vec!["configmaps", "cm", "v1", "true", "ConfigMap"],
        "{out}"
    );
    assert_eq!(
        row(&r, "services"),
        &vec!["services", "svc", "v1", "true", "Service"],
        "{out}"
    );

    let version: Value =
        serde_json::from_str(&s.ok(&["get", "--raw", "/version"])).expect("version JSON");
    let git = version["gitVersion"].as_str().unwrap_or_default();
    assert!(git.starts_with("v1.33."), "{version}");
    assert_eq!(
        (version["major"].as_str(), version["minor"].as_str()),
        (Some("1"), Some("33")),
        "{version}"
    );

    // Reading a namespace by its short name works as with any cluster.
    let out = s.ok(&["get", "ns", "kube-system", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(out, "Active");
}

#[test]
fn configmaps_are_created_read_selected_labelled_patched_replaced_and_deleted() {
    let s = Server::start();

    assert_eq!(
        create_configmap(&s, &["web-config", "--from-literal=k=v1"]),
        "configmap/web-config created\n"
    );
    assert_eq!(
        s.ok_stdin(&["create", "-f", "-", "--validate=false"], API_CONFIG),
        "configmap/api-config created\n"
    );
    assert_eq!(
        s.ok_stdin(&["create", "-f", "-", "--validate=false"], PLAIN),
        "configmap/plain created\n"
    );

    // Default, wide, yaml, json, jsonpath, custom columns.
    let out = s.ok(&["get", "cm"]);
    let r = rows(&out);
    assert_eq!(r[0], vec!["NAME", "DATA", "AGE"], "{out}");
    assert_eq!(
        names(&out),
        vec!["api-config", "plain", "web-config"],
        "{out}"
    );
    assert_eq!(&row(&r, "plain")[1], "2", "{out}");
    assert_eq!(&row(&r, "web-config")[1], "1", "{out}");
    assert!(is_age(&row(&r, "web-config")[2]), "{out}");

    let out = s.ok(&["get", "configmap", "web-config", "-o", "wide"]);
    let r = rows(&out);
    assert_eq!(r[0], vec!["NAME", "DATA", "AGE"], "{out}");
    assert_eq!(r.len(), 2, "{out}");
    assert_eq!(r[1][..2], ["web-config", "1"], "{out}");

    let yaml: Value =
        serde_yaml::from_str(&s.ok(&["get", "cm", "web-config", "-o", "yaml"])).expect("yaml");
    assert_eq!(yaml["apiVersion"], "v1");
    assert_eq!(yaml["kind"], "ConfigMap");
    assert_eq!(yaml["data"]["k"], "v1");
    assert_eq!(yaml["metadata"]["name"], "web-config");
    assert_eq!(yaml["metadata"]["namespace"], "default");
    for field in ["uid", "resourceVersion", "creationTimestamp"] {
        assert!(
            yaml["metadata"][field]
                .as_str()
                .is_some_and(|v| !v.is_empty()),
            "metadata.{field} in {yaml}"
        );
    }

    let json: Value =
        serde_json::from_str(&s.ok(&["get", "cm", "api-config", "-o", "json"])).expect("json");
    assert_eq!(json["data"]["k"], "from-yaml");
    assert_eq!(json["metadata"]["labels"]["tier"], "backend");
    let list: Value = serde_json::from_str(&s.ok(&["get", "cm", "-o", "json"])).expect("json list");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3), "{list}");

    assert_eq!(
        s.ok(&["get", "cm", "web-config", "-o", "jsonpath={.data.k}"]),
        "v1"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.data.k}{\"\\n\"}{end}"
        ]),
        "api-config=from-yaml\nplain=\nweb-config=v1\n"
    );

    let out = s.ok(&[
        "get",
        "cm",
        "-o",
        "custom-columns=NAME:.metadata.name,KEY:.data.k",
    ]);
    assert_eq!(
        rows(&out),
        vec![
            vec!["NAME", "KEY"],
            vec!["api-config", "from-yaml"],
            vec!["plain", "<none>"],
            vec!["web-config", "v1"]
        ],
        "{out}"
    );

    // Labels and selectors.
    assert_eq!(
        s.ok(&["label", "cm", "web-config", "app=web"]),
        "configmap/web-config labeled\n"
    );
    let out = s.ok(&["get", "cm", "--show-labels"]);
    let r = rows(&out);
    assert_eq!(r[0], vec!["NAME", "DATA", "AGE", "LABELS"], "{out}");
    assert_eq!(&row(&r, "web-config")[3], "app=web", "{out}");
    assert_eq!(&row(&r, "api-config")[3], "app=api,tier=backend", "{out}");
    assert_eq!(&row(&r, "plain")[3], "<none>", "{out}");

    assert_eq!(
        names(&s.ok(&["get", "cm", "-l", "app=web"])),
        vec!["web-config"]
    );
    assert_eq!(
        names(&s.ok(&["get", "cm", "-l", "app==api"])),
        vec!["api-config"]
    );
    assert_eq!(
        names(&s.ok(&["get", "cm", "-l", "app!=web"])),
        vec!["api-config", "plain"]
    );
    assert_eq!(
        names(&s.ok(&["get", "cm", "-l", "app in (web,api)"])),
        vec!["api-config", "web-config"]
    );
    assert_eq!(
        names(&s.ok(&["get", "cm", "-l", "app notin (web)"])),
        vec!["api-config", "plain"]
    );
    assert_eq!(
        names(&s.ok(&["get", "cm", "-l", "app"])),
        vec!["api-config", "web-config"]
    );
    assert_eq!(names(&s.ok(&["get", "cm", "-l", "!app"])), vec!["plain"]);
    assert_eq!(
        names(&s.ok(&["get", "cm", "-l", "app,tier=backend"])),
        vec!["api-config"]
    );
    assert_eq!(
        names(&s.ok(&["get", "cm", "--field-selector", "metadata.name=plain"])),
        vec!["plain"]
    );
    assert_eq!(
        names(&s.ok(&["get", "cm", "--field-selector", "metadata.name!=plain"])),
        vec!["api-config", "web-config"]
    );
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "-A",
            "--field-selector",
            "metadata.namespace=default",
            "-o",
            "name"
        ]),
        "configmap/api-config\nconfigmap/plain\nconfigmap/web-config\n"
    );
    let out = s.kubectl(&["get", "cm", "-l", "app=nothing"]);
    assert!(out.status.success());
    assert_eq!(stderr_of(&out), "No resources found in default namespace.");

    // Annotations: add, then remove with `key-`; labels the same.
    assert_eq!(
        s.ok(&["annotate", "cm", "web-config", "owner=alice"]),
        "configmap/web-config annotated\n"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "web-config",
            "-o",
            "jsonpath={.metadata.annotations.owner}"
        ]),
        "alice"
    );
    assert_eq!(
        s.ok(&["annotate", "cm", "web-config", "owner-"]),
        "configmap/web-config annotated\n"
    );
    let json: Value =
        serde_json::from_str(&s.ok(&["get", "cm", "web-config", "-o", "json"])).unwrap();
    assert!(
        json["metadata"]["annotations"].get("owner").is_none(),
        "{json}"
    );
    assert_eq!(
        s.ok(&["label", "cm", "api-config", "tier-"]),
        "configmap/api-config unlabeled\n"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "api-config",
            "-o",
            "jsonpath={.metadata.labels}"
        ]),
        r#"{"app":"api"}"#
    );

    // Replace the whole object.
    let mut obj: Value =
        serde_json::from_str(&s.ok(&["get", "cm", "web-config", "-o", "json"])).unwrap();
    let rv_before = obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    obj["data"] = serde_json::json!({"k": "v2", "new": "yes"});
    assert_eq!(
        s.ok_stdin(
            &["replace", "-f", "-", "--validate=false"],
            &obj.to_string()
        ),
        "configmap/web-config replaced\n"
    );
    let after: Value =
        serde_json::from_str(&s.ok(&["get", "cm", "web-config", "-o", "json"])).unwrap();
    assert_eq!(after["data"], serde_json::json!({"k": "v2", "new": "yes"}));
    let rv_after = after["metadata"]["resourceVersion"].as_str().unwrap();
    assert!(
        rv_after.parse::<u64>().unwrap() > rv_before.parse::<u64>().unwrap(),
        "{rv_before} -> {rv_after}"
    );
    assert_eq!(after["metadata"]["uid"], obj["metadata"]["uid"]);
    assert_eq!(after["metadata"]["labels"]["app"], "web");

    // Merge patch and JSON patch; a patch that changes nothing is reported as such.
    assert_eq!(
        s.ok(&[
            "patch",
            "cm",
            "web-config",
            "--type=merge",
            "-p",
            r#"{"data":{"extra":"x","new":null}}"#
        ]),
        "configmap/web-config patched\n"
    );
    assert_eq!(
        s.ok(&["get", "cm", "web-config", "-o", "jsonpath={.data}"]),
        r#"{"extra":"x","k":"v2"}"#
    );
    assert_eq!(
        s.ok(&["patch", "cm", "web-config", "--type=json", "-p", r#"[{"op":"remove","path":"/data/extra"},{"op":"replace","path":"/data/k","value":"v3"}]"#]),
        "configmap/web-config patched\n"
    );
    assert_eq!(
        s.ok(&["get", "cm", "web-config", "-o", "jsonpath={.data}"]),
        r#"{"k":"v3"}"#
    );
    let rv = s.ok(&[
        "get",
        "cm",
        "web-config",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    assert_eq!(
        s.ok(&[
            "patch",
            "cm",
            "web-config",
            "--type=merge",
            "-p",
            r#"{"data":{"k":"v3"}}"#
        ]),
        "configmap/web-config patched (no change)\n"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "web-config",
            "-o",
            "jsonpath={.metadata.resourceVersion}"
        ]),
        rv,
        "a no-op patch must not write"
    );

    // Delete.
    assert_eq!(
        s.ok(&["delete", "cm", "web-config"]),
        "configmap \"web-config\" deleted\n"
    );
    assert_eq!(names(&s.ok(&["get", "cm"])), vec!["api-config", "plain"]);
    assert_eq!(
        s.ok(&["delete", "cm", "-l", "app=api"]),
        "configmap \"api-config\" deleted\n"
    );
    assert_eq!(names(&s.ok(&["get", "cm"])), vec!["plain"]);
}

#[test]
fn deployments_services_and_secrets_print_their_columns_and_scale() {
    let s = Server::start();

    // kubectl 1.32's `create deployment` sends protobuf, so the Deployment comes from YAML.
    assert_eq!(
        s.ok_stdin(&["create", "-f", "-", "--validate=false"], WEB_DEPLOYMENT),
        "deployment.apps/web created\n"
    );
    assert_eq!(
        s.ok_stdin(&["create", "-f", "-", "--validate=false"], WEB_SERVICE),
        "service/web created\n"
    );
    assert_eq!(
        s.ok_stdin(&["create", "-f", "-", "--validate=false"], WEB_SECRET),
        "secret/web-secret created\n"
    );
    // Its table is checked in services_get_a_cluster_ip_and_print_their_ports.

    // No nodes: the Deployment controller creates the up-to-date ReplicaSet, whose pods stay
    // Pending, so 3 are up to date and none ready, as on a cluster without nodes.
    s.ok(&["wait", "--for=jsonpath={.status.updatedReplicas}=3", "deploy/web", "--timeout=30s"]);
    let out = s.ok(&["get", "deploy", "web"]);
    let r = rows(&out);
    assert_eq!(
        r[0],
        vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{out}"
    );
    assert_eq!(r[1][..4], ["web", "0/3", "3", "0"], "{out}");
    assert!(is_age(&r[1][4]), "{out}");

    let out = s.ok(&["get", "deployments", "-o", "wide"]);
    let r = rows(&out);
    assert_eq!(
        r[0],
        vec![
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ],
        "{out}"
    );
    assert_eq!(r[1][..4], ["web", "0/3", "3", "0"], "{out}");
    assert_eq!(r[1][5..], ["nginx", "nginx:1.27", "app=web"], "{out}");

    // Several kinds at once, by label.
    let out = s.ok(&["get", "deploy,svc", "-l", "app=web", "-o", "name"]);
    assert_eq!(out, "deployment.apps/web\nservice/web\n");

    // The "all" category.
    let out = s.ok(&["get", "all"]);
    assert!(out.contains("service/web "), "{out}");
    assert!(out.contains("deployment.apps/web "), "{out}");
    assert!(
        !out.contains("secret/"),
        "secrets are not in the all category: {out}"
    );

    // Scale goes through the scale subresource and bumps the generation.
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.generation}"
        ]),
        "1"
    );
    assert_eq!(
        s.ok(&["scale", "deployment", "web", "--replicas=5"]),
        "deployment.apps/web scaled\n"
    );
    assert_eq!(
        s.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "5"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.generation}"
        ]),
        "2"
    );
    assert_eq!(rows(&s.ok(&["get", "deploy", "web"]))[1][1], "0/5");
    // A label is metadata: no new generation.
    s.ok(&["label", "deploy", "web", "team=a"]);
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.generation}"
        ]),
        "2"
    );

    let out = s.ok(&["get", "secret", "web-secret"]);
    let r = rows(&out);
    assert_eq!(r[0], vec!["NAME", "TYPE", "DATA", "AGE"], "{out}");
    assert_eq!(r[1][..3], ["web-secret", "Opaque", "2"], "{out}");
    // stringData is folded into base64 data on write.
    assert_eq!(
        s.ok(&["get", "secret", "web-secret", "-o", "jsonpath={.data.user}"]),
        "YWRtaW4="
    );

    assert_eq!(
        s.ok(&["delete", "deploy", "web"]),
        "deployment.apps \"web\" deleted\n"
    );
    assert_eq!(s.ok(&["delete", "svc", "web"]), "service \"web\" deleted\n");
    assert_eq!(
        s.ok(&["delete", "secret", "web-secret"]),
        "secret \"web-secret\" deleted\n"
    );
    let out = s.kubectl(&["get", "deploy"]);
    assert_eq!(stderr_of(&out), "No resources found in default namespace.");
}

#[test]
fn services_get_a_cluster_ip_and_print_their_ports() {
    let s = Server::start();
    assert_eq!(
        s.ok_stdin(&["create", "-f", "-", "--validate=false"], WEB_SERVICE),
        "service/web created\n"
    );
    let out = s.ok(&["get", "svc", "web", "-o", "wide"]);
    let r = rows(&out);
    assert_eq!(
        r[0],
        vec![
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
            "SELECTOR"
        ],
        "{out}"
    );
    assert_eq!(r[1][..2], ["web", "ClusterIP"], "{out}");
    assert!(
        r[1][2].starts_with("10.43."),
        "a ClusterIP from the service CIDR 10.43.0.0/16: {out}"
    );
    assert_eq!(r[1][3..5], ["<none>", "80/TCP"], "{out}");
    assert_eq!(r[1][6], "app=web", "{out}");

    let ip = s.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    assert_eq!(
        s.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIPs[0]}"]),
        ip
    );
    assert_eq!(
        s.ok(&[
            "get",
            "svc",
            "web",
            "-o",
            "jsonpath={.spec.ports[0].protocol} {.spec.sessionAffinity}"
        ]),
        "TCP None"
    );
    // The apiserver's own Service, as every cluster has it.
    let out = s.ok(&["get", "svc", "kubernetes"]);
    assert_eq!(
        rows(&out)[1][..5],
        ["kubernetes", "ClusterIP", "10.43.0.1", "<none>", "443/TCP"],
        "{out}"
    );
}

#[test]
fn errors_read_as_a_real_apiserver_words_them() {
    let s = Server::start();

    assert_eq!(
        s.fails(&["get", "cm", "nope"]).trim(),
        r#"Error from server (NotFound): configmaps "nope" not found"#
    );
    assert_eq!(
        s.fails(&["get", "deploy", "nope"]).trim(),
        r#"Error from server (NotFound): deployments.apps "nope" not found"#
    );
    assert_eq!(
        s.fails(&["delete", "cm", "nope"]).trim(),
        r#"Error from server (NotFound): configmaps "nope" not found"#
    );

    let x = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"k":"1"}}"#;
    s.ok_stdin(&["create", "-f", "-", "--validate=false"], x);
    let out = s.kubectl_at(KUBECTL, &["create", "-f", "-", "--validate=false"], Some(x));
    assert!(!out.status.success());
    assert_eq!(
        stderr_of(&out),
        r#"Error from server (AlreadyExists): error when creating "STDIN": configmaps "x" already exists"#
    );

    let bad = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Foo_bar"}}"#;
    let out = s.kubectl_at(
        KUBECTL,
        &["create", "-f", "-", "--validate=false"],
        Some(bad),
    );
    assert!(!out.status.success());
    assert_eq!(
        stderr_of(&out),
        r#"The ConfigMap "Foo_bar" is invalid: metadata.name: Invalid value: "Foo_bar": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#
    );
    let out = s.kubectl_at(
        KUBECTL,
        &["create", "-f", "-", "--validate=false", "-v=6"],
        Some(bad),
    );
    assert!(
        stderr_of(&out).contains("422 Unprocessable Entity"),
        "{}",
        stderr_of(&out)
    );

    // A replace carrying a resourceVersion someone else has moved past.
    let stale = s.ok(&["get", "cm", "x", "-o", "json"]);
    s.ok(&["label", "cm", "x", "moved=on"]);
    let out = s.kubectl_at(
        KUBECTL,
        &["replace", "-f", "-", "--validate=false"],
        Some(&stale),
    );
    assert!(!out.status.success());
    assert_eq!(
        stderr_of(&out),
        r#"Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on configmaps "x": the object has been modified; please apply your changes to the latest version and try again"#
    );
    // The stale write changed nothing.
    assert_eq!(
        s.ok(&["get", "cm", "x", "-o", "jsonpath={.metadata.labels.moved}"]),
        "on"
    );

    assert_eq!(
        s.fails(&["get", "frobnicators"]).trim(),
        r#"error: the server doesn't have a resource type "frobnicators""#
    );
    assert_eq!(
        s.fails(&["get", "ns", "nope"]).trim(),
        r#"Error from server (NotFound): namespaces "nope" not found"#
    );
    // Creating into a namespace that does not exist.
    let out = s.kubectl_at(
        KUBECTL,
        &["create", "-n", "ghost", "-f", "-", "--validate=false"],
        Some(x),
    );
    assert!(!out.status.success());
    assert_eq!(
        stderr_of(&out),
        r#"Error from server (NotFound): error when creating "STDIN": namespaces "ghost" not found"#
    );
}

/// Names of the `n` ConfigMaps `prefix-0000`… created concurrently with kube-rs.
async fn create_configmaps(client: kube::Client, ns: &str, prefix: &str, n: usize) -> Vec<String> {
    let api: Api<ConfigMap> = Api::namespaced(client, ns);
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:04}")).collect();
    futures::stream::iter(names.clone())
        .map(|name| {
            let api = api.clone();
            async move {
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        ..Default::default()
                    },
                    data: Some([("i".to_string(), name.clone())].into()),
                    ..Default::default()
                };
                api.create(&PostParams::default(), &cm)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{name}: {e}"))
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .expect("create configmaps");
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_configmaps_page_through_kubectl_and_kube_rs() {
    let s = Server::start();
    s.ok_stdin(
        &["create", "-f", "-", "--validate=false"],
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"paged"}}"#,
    );
    let client = s.kube_client().await;
    let mut created = create_configmaps(client.clone(), "paged", "cm", 1024).await;
    created.sort();

    // kubectl asks for 100 at a time and prints one table with one header.
    let out = s.ok(&["get", "cm", "-n", "paged", "--chunk-size=100", "-v=6"]);
    let r = rows(&out);
    assert_eq!(r[0], vec!["NAME", "DATA", "AGE"]);
    assert_eq!(r.iter().filter(|r| r[0] == "NAME").count(), 1, "one header");
    let printed: Vec<String> = r[1..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(printed, created, "every ConfigMap once, in name order");
    let log = stderr_of(&s.kubectl(&[
        "get",
        "cm",
        "-n",
        "paged",
        "--chunk-size=100",
        "-o",
        "name",
        "-v=6",
    ]));
    let continues = log
        .lines()
        .filter(|l| l.contains("continue=") && l.contains("200 OK"))
        .count();
    assert_eq!(
        continues, 10,
        "1024 objects in pages of 100 take 10 follow-up requests:\n{log}"
    );

    // kube-rs walks the continue tokens; remainingItemCount counts down.
    let api: Api<ConfigMap> = Api::namespaced(client, "paged");
    let mut seen = Vec::new();
    let mut remaining = Vec::new();
    let mut lp = ListParams::default().limit(100);
    loop {
        let page = api.list(&lp).await.expect("list page");
        assert!(page.items.len() <= 100);
        seen.extend(
            page.items
                .iter()
                .map(|cm| cm.metadata.name.clone().unwrap()),
        );
        remaining.push(page.metadata.remaining_item_count);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => lp = lp.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(seen, created, "pages cover every name once, in order");
    let expected: Vec<Option<i64>> = (1..=11)
        .map(|page| {
            if page < 11 {
                Some(1024 - 100 * page)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(remaining, expected);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 1024);

    // A continue token from a page is still good after more writes (a consistent snapshot).
    let first = api.list(&ListParams::default().limit(500)).await.unwrap();
    create_configmaps(s.kube_client().await, "paged", "late", 5).await;
    let token = first.metadata.continue_.clone().unwrap();
    let rest = api
        .list(&ListParams::default().limit(1000).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(
        first.items.len() + rest.items.len(),
        1024,
        "the snapshot of the first page, not the 5 later ones"
    );
}

/// Runs `kubectl get cm -w --output-watch-events` and hands its stdout lines over a channel.
struct KubectlWatch {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl KubectlWatch {
    fn start(s: &Server) -> KubectlWatch {
        let mut child = Command::new(KUBECTL)
            .arg("--kubeconfig")
            .arg(&s.kubeconfig)
            .args([
                "get",
                "cm",
                "-w",
                "--output-watch-events",
                "--request-timeout=60s",
            ])
            .env("KUBECACHEDIR", s.data_dir().join("kube-cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl get -w");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        KubectlWatch {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line whose cells start with `cells`.
    fn expect(&mut self, cells: &[&str]) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    let r: Vec<String> = line.split_whitespace().map(str::to_string).collect();
                    if r.len() >= cells.len() && r.iter().zip(cells).all(|(a, b)| a == b) {
                        return r;
                    }
                }
                Err(_) => panic!(
                    "kubectl get -w never printed {cells:?}; it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for KubectlWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_see_added_modified_and_deleted() {
    let s = Server::start();
    create_configmap(&s, &["before", "--from-literal=a=1"]);

    // kubectl: the list shows up as ADDED, then the stream follows the changes.
    let mut w = KubectlWatch::start(&s);
    let header = w.expect(&["EVENT"]);
    assert_eq!(header, vec!["EVENT", "NAME", "DATA", "AGE"]);
    w.expect(&["ADDED", "before", "1"]);

    // kube-rs: a watch from the resourceVersion of a list.
    let client = s.kube_client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let list_rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let stream = api
        .watch(&WatchParams::default().timeout(60), &list_rv)
        .await
        .expect("watch");
    let mut stream = stream.boxed();

    create_configmap(&s, &["w1", "--from-literal=k=v"]);
    s.ok(&["label", "cm", "w1", "seen=yes"]);
    s.ok(&["delete", "cm", "w1"]);

    w.expect(&["ADDED", "w1", "1"]);
    w.expect(&["MODIFIED", "w1", "1"]);
    w.expect(&["DELETED", "w1", "1"]);

    let mut events = Vec::new();
    while events.len() < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(20), stream.try_next())
            .await
            .unwrap_or_else(|_| panic!("kube-rs watch stalled after {events:?}"))
            .expect("watch event")
            .expect("stream open");
        match ev {
            WatchEvent::Added(cm) => {
                events.push(("ADDED", cm.metadata.name.unwrap(), cm.metadata.labels))
            }
            WatchEvent::Modified(cm) => {
                events.push(("MODIFIED", cm.metadata.name.unwrap(), cm.metadata.labels))
            }
            WatchEvent::Deleted(cm) => {
                events.push(("DELETED", cm.metadata.name.unwrap(), cm.metadata.labels))
            }
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("watch error {e:?}"),
        }
    }
    let kinds: Vec<(&str, &str)> = events.iter().map(|(t, n, _)| (*t, n.as_str())).collect();
    assert_eq!(
        kinds,
        vec![("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
    );
    assert_eq!(
        events[1]
            .2
            .as_ref()
            .and_then(|l| l.get("seen"))
            .map(String::as_str),
        Some("yes")
    );

    // A watch from "0" first replays what exists as ADDED.
    let mut replay = api
        .watch(&WatchParams::default().timeout(5), "0")
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(10), replay.try_next()).await {
        Ok(Ok(Some(WatchEvent::Added(cm)))) => {
            assert_eq!(cm.metadata.name.as_deref(), Some("before"))
        }
        other => panic!("expected ADDED before, got {other:?}"),
    }
}

/// curl against the test server; returns (HTTP code, body).
struct Curl {
    url: String,
    /// Admin client certificate, key and cluster CA, or None for anonymous (-k).
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
    dir: PathBuf,
}

impl Curl {
    fn anonymous(s: &Server) -> Curl {
        Curl {
            url: s.url.clone(),
            tls: None,
            dir: s.data_dir().to_path_buf(),
        }
    }

    /// Writes the kubeconfig's admin credentials to files, as a user would to use curl.
    fn admin(s: &Server) -> Curl {
        use base64::Engine;
        let kc: Value =
            serde_yaml::from_str(&std::fs::read_to_string(&s.kubeconfig).unwrap()).unwrap();
        let dir = s.data_dir().join("curl");
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, b64: &Value| -> PathBuf {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_str().expect("base64 field"))
                .expect("base64");
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let cert = write(
            "admin.crt",
            &kc["users"][0]["user"]["client-certificate-data"],
        );
        let key = write("admin.key", &kc["users"][0]["user"]["client-key-data"]);
        let ca = write(
            "ca.crt",
            &kc["clusters"][0]["cluster"]["certificate-authority-data"],
        );
        Curl {
            url: s.url.clone(),
            tls: Some((cert, key, ca)),
            dir,
        }
    }

    fn run(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "--max-time",
            "20",
            "-X",
            method,
            "-w",
            "\n%{http_code}",
        ]);
        match &self.tls {
            Some((cert, key, ca)) => {
                cmd.arg("--cert")
                    .arg(cert)
                    .arg("--key")
                    .arg(key)
                    .arg("--cacert")
                    .arg(ca);
            }
            None => {
                cmd.arg("-k");
            }
        }
        if let Some(ct) = content_type {
            cmd.args(["-H", &format!("Content-Type: {ct}")]);
        }
        if let Some(b) = body {
            let f = self.dir.join(format!("body-{}", std::process::id()));
            std::fs::write(&f, b).unwrap();
            cmd.arg("--data-binary").arg(format!("@{}", f.display()));
        }
        cmd.arg(format!("{}{}", self.url, path));
        let out = cmd.output().expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "curl {method} {path} failed: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (body, code) = text.rsplit_once('\n').expect("status line");
        (code.trim().parse().expect("http code"), body.to_string())
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.run("GET", path, None, None)
    }
}

/// Parses a Status body and checks the fields every Status carries.
fn status(code: u16, body: &str, want_code: u16, want_reason: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    assert_eq!(code, want_code, "{body}");
    assert_eq!(v["kind"], "Status", "{body}");
    assert_eq!(v["apiVersion"], "v1", "{body}");
    assert_eq!(v["status"], "Failure", "{body}");
    assert_eq!(v["reason"], want_reason, "{body}");
    assert_eq!(v["code"], want_code, "{body}");
    assert!(
        v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    v
}

#[test]
fn anonymous_callers_may_read_health_and_version_and_nothing_else() {
    let s = Server::start();
    let anon = Curl::anonymous(&s);

    let (code, body) = anon.get("/");
    let v = status(code, &body, 403, "Forbidden");
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "kind",
            "apiVersion",
            "metadata",
            "status",
            "message",
            "reason",
            "details",
            "code"
        ],
        "{body}"
    );
    assert_eq!(
        v["message"],
        r#"forbidden: User "system:anonymous" cannot get path "/""#
    );
    assert_eq!(v["metadata"], serde_json::json!({}));
    assert_eq!(v["details"], serde_json::json!({}));

    for path in ["/healthz", "/readyz", "/livez"] {
        assert_eq!(anon.get(path), (200, "ok".to_string()), "{path}");
    }
    let (code, body) = anon.get("/version");
    assert_eq!(code, 200, "{body}");
    let version: Value = serde_json::from_str(&body).unwrap();
    assert!(
        version["gitVersion"]
            .as_str()
            .unwrap()
            .starts_with("v1.33."),
        "{body}"
    );
    let (code, body) = anon.get("/readyz?verbose");
    assert_eq!(code, 200);
    assert!(body.ends_with("readyz check passed\n"), "{body}");

    let (code, body) = anon.get("/api/v1/namespaces/default/pods");
    let v = status(code, &body, 403, "Forbidden");
    assert_eq!(
        v["message"],
        r#"pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default""#
    );
    assert_eq!(v["details"], serde_json::json!({"kind": "pods"}));
    let (code, body) = anon.get("/apis/apps/v1/namespaces/default/deployments/web");
    let v = status(code, &body, 403, "Forbidden");
    assert_eq!(
        v["message"],
        r#"deployments.apps "web" is forbidden: User "system:anonymous" cannot get resource "deployments" in API group "apps" in the namespace "default""#
    );
    let (code, body) = anon.get("/api/v1/nodes");
    let v = status(code, &body, 403, "Forbidden");
    assert_eq!(
        v["message"],
        r#"nodes is forbidden: User "system:anonymous" cannot list resource "nodes" in API group "" at the cluster scope"#
    );
    let (code, body) = anon.get("/metrics");
    status(code, &body, 403, "Forbidden");
    let (code, body) = anon.run(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some("application/json"),
        Some(br#"{"metadata":{"name":"sneaky"}}"#),
    );
    let v = status(code, &body, 403, "Forbidden");
    assert_eq!(
        v["message"],
        r#"configmaps is forbidden: User "system:anonymous" cannot create resource "configmaps" in API group "" in the namespace "default""#
    );
    assert_eq!(
        s.fails(&["get", "cm", "sneaky"]).trim(),
        r#"Error from server (NotFound): configmaps "sneaky" not found"#
    );

    // The admin certificate from the kubeconfig is accepted.
    let admin = Curl::admin(&s);
    let (code, body) = admin.get("/api/v1/namespaces/default/configmaps");
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["kind"],
        "ConfigMapList"
    );
    let (code, body) = admin.get("/metrics");
    assert_eq!(code, 200);
    assert!(body.contains("apiserver_request_total"), "{body}");
}

#[test]
fn malformed_requests_get_a_status_and_leave_nothing_behind() {
    let s = Server::start();
    let c = Curl::admin(&s);
    let cms = "/api/v1/namespaces/default/configmaps";
    let json = Some("application/json");

    let (code, body) = c.run(
        "POST",
        cms,
        json,
        Some(br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"half""#),
    );
    status(code, &body, 400, "BadRequest");
    let (code, body) = c.run("POST", cms, json, Some(b"not json at all"));
    status(code, &body, 400, "BadRequest");
    let (code, body) = c.run(
        "POST",
        cms,
        Some("application/yaml"),
        Some(b"metadata: [unclosed\n  name: y"),
    );
    status(code, &body, 400, "BadRequest");

    let (code, body) = c.run(
        "POST",
        cms,
        json,
        Some(br#"{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"wrong-version"}}"#),
    );
    let v = status(code, &body, 400, "BadRequest");
    assert_eq!(
        v["message"],
        "the API version in the data (apps/v1) does not match the expected API version (v1)"
    );
    let (code, body) = c.run(
        "POST",
        cms,
        json,
        Some(br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"wrong-kind"}}"#),
    );
    status(code, &body, 400, "BadRequest");

    let (code, body) = c.run(
        "POST",
        cms,
        json,
        Some(br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Foo_bar"}}"#),
    );
    let v = status(code, &body, 422, "Invalid");
    assert_eq!(v["details"]["name"], "Foo_bar");
    assert_eq!(v["details"]["kind"], "ConfigMap");
    assert_eq!(v["details"]["causes"][0]["field"], "metadata.name");
    assert_eq!(v["details"]["causes"][0]["reason"], "FieldValueInvalid");
    assert!(v["message"].as_str().unwrap().starts_with(r#"ConfigMap "Foo_bar" is invalid: metadata.name: Invalid value: "Foo_bar": a lowercase RFC 1123 subdomain"#), "{body}");

    let (code, body) = c.get("/api/v1/namespaces/default/frobnicators");
    let v = status(code, &body, 404, "NotFound");
    assert_eq!(
        v["message"],
        "the server could not find the requested resource"
    );
    let (code, body) = c.get("/apis/nope.example.com/v1/namespaces/default/things");
    let v = status(code, &body, 404, "NotFound");
    assert_eq!(
        v["message"],
        "the server could not find the requested resource"
    );
    let (code, body) = c.get("/apis/nope.example.com/v1");
    status(code, &body, 404, "NotFound");

    let mut big =
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"k":""#
            .to_vec();
    big.extend(std::iter::repeat_n(b'x', 3 * 1024 * 1024 + 10));
    big.extend(br#""}}"#);
    let (code, body) = c.run("POST", cms, json, Some(&big));
    let v = status(code, &body, 413, "RequestEntityTooLarge");
    assert_eq!(v["message"], "Request entity too large: limit is 3145728");

    let (code, body) = c.run(
        "POST",
        cms,
        Some("text/plain"),
        Some(br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"plain-text"}}"#),
    );
    let v = status(code, &body, 415, "UnsupportedMediaType");
    assert!(
        v["message"].as_str().unwrap().starts_with("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml"),
        "{body}"
    );

    c.run(
        "POST",
        cms,
        json,
        Some(br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"k":"1"}}"#),
    );
    let (code, body) = c.run(
        "PUT",
        &format!("{cms}/x"),
        json,
        Some(br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"y"},"data":{"k":"2"}}"#),
    );
    let v = status(code, &body, 400, "BadRequest");
    assert_eq!(
        v["message"],
        "the name of the object (y) does not match the name on the URL (x)"
    );
    let (code, body) = c.run(
        "PATCH",
        &format!("{cms}/x"),
        Some("application/merge-patch+json"),
        Some(b"{not json"),
    );
    status(code, &body, 400, "BadRequest");
    let (code, body) = c.run(
        "PATCH",
        &format!("{cms}/x"),
        Some("text/plain"),
        Some(br#"{"data":{"k":"3"}}"#),
    );
    status(code, &body, 415, "UnsupportedMediaType");
    let (code, body) = c.run(
        "PATCH",
        &format!("{cms}/x"),
        Some("application/json-patch+json"),
        Some(br#"[{"op":"replace","path":"/data/missing/deep","value":"v"}]"#),
    );
    status(code, &body, 422, "Invalid");
    let (code, body) = c.run(
        "PATCH",
        &format!("{cms}/nope"),
        Some("application/merge-patch+json"),
        Some(br#"{"data":{"k":"3"}}"#),
    );
    let v = status(code, &body, 404, "NotFound");
    assert_eq!(v["message"], r#"configmaps "nope" not found"#);
    // The server still answers, and nothing half-written exists: only x, untouched.
    assert_eq!(s.ok(&["get", "cm", "-o", "name"]), "configmap/x\n");
    assert_eq!(s.ok(&["get", "cm", "x", "-o", "jsonpath={.data.k}"]), "1");
    assert!(s.ok(&["get", "--raw", "/readyz"]).starts_with("ok"));
    assert!(
        !s.log().contains("panicked"),
        "server log shows a panic:\n{}",
        s.log()
    );
    // A ConfigMap just under its 1 MiB data limit is accepted.
    let mut fits =
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"almost-big"},"data":{"k":""#
            .to_vec();
    fits.extend(std::iter::repeat_n(b'x', 1_000_000));
    fits.extend(br#""}}"#);
    let (code, body) = c.run("POST", cms, json, Some(&fits));
    assert_eq!(code, 201, "{}", &body[..body.len().min(300)]);

    // POST to an object's own URL is not a create.
    let (code, body) = c.run(
        "POST",
        "/api/v1/namespaces/default/configmaps/x",
        json,
        Some(br#"{"metadata":{"name":"z"}}"#),
    );
    let v = status(code, &body, 405, "MethodNotAllowed");
    assert_eq!(
        v["message"],
        "the server does not allow this method on the requested resource"
    );

    assert_eq!(
        s.fails(&["get", "cm", "z"]).trim(),
        r#"Error from server (NotFound): configmaps "z" not found"#
    );
}
