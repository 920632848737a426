//! Server-side apply with the real kubectl: `apply --server-side` creates and updates,
//! conflicts with what another manager set (a `kubectl scale`) until forced, takes over an
//! object made by client-side apply, leaves `kubectl diff` with nothing to show, and every
//! write is recorded in managedFields (`--show-managed-fields`).
mod common;
use common::*;

use serde_json::Value;

fn deployment(name: &str, replicas: u32, image: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: nginx
        image: {image}
        ports:
        - containerPort: 80
"#
    )
}

/// kubectl with a manifest on stdin, whatever its outcome: (success, stdout, stderr).
fn with_stdin(s: &Server, args: &[&str], manifest: &str) -> (bool, String, String) {
    let out = s.kubectl_at(KUBECTL, args, Some(manifest));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn get_json(s: &Server, what: &[&str]) -> Value {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", "json", "--show-managed-fields"]);
    serde_json::from_str(&s.ok(&args)).expect("kubectl get -o json")
}

/// (manager, operation, subresource) of every managedFields entry, except the Deployment
/// controller's own status entry (it appears whenever the controller has synced, as on a real
/// cluster).
fn managers(obj: &Value) -> Vec<(String, String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (s("manager"), s("operation"), s("subresource"))
        })
        .filter(|(m, _, sub)| !(m == "kube-controller-manager" && sub == "status"))
        .collect()
}

fn entry(m: &str, op: &str, sub: &str) -> (String, String, String) {
    (m.to_string(), op.to_string(), sub.to_string())
}

#[test]
fn apply_server_side_creates_then_updates_a_deployment() {
    let s = Server::start();
    let (ok, out, err) =
        with_stdin(&s, &["apply", "--server-side", "-f", "-", "-v=6"], &deployment("web", 2, "nginx:1.27"));
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
    assert!(
        err.contains("fieldManager=kubectl&fieldValidation=Strict&force=false") && err.contains("201 Created"),
        "{err}"
    );

    let (ok, _, err) =
        with_stdin(&s, &["apply", "--server-side", "-f", "-", "-v=6"], &deployment("web", 2, "nginx:1.28"));
    assert!(ok && err.contains("200 OK"), "{err}");
    let d = get_json(&s, &["deployment", "web"]);
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.28");
    assert_eq!(d["metadata"]["generation"], 2);
    assert_eq!(managers(&d), vec![entry("kubectl", "Apply", "")]);
    let fields = &d["metadata"]["managedFields"][0]["fieldsV1"];
    assert!(
        fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"]["f:image"].is_object(),
        "{fields}"
    );
    // Defaults nobody applied are nobody's.
    assert!(fields["f:spec"].get("f:revisionHistoryLimit").is_none(), "{fields}");

    // Leaving a field out of the manifest removes it.
    let without_label = deployment("web", 2, "nginx:1.28").replacen("  labels:\n    app: web\n", "", 1);
    s.ok_stdin(&["apply", "--server-side", "-f", "-"], &without_label);
    let d = get_json(&s, &["deployment", "web"]);
    assert!(d["metadata"].get("labels").is_none(), "{}", d["metadata"]);

    // Plain `get -o yaml` hides managedFields; the flag shows them.
    assert!(!s.ok(&["get", "deployment", "web", "-o", "yaml"]).contains("managedFields"));
    let yaml = s.ok(&["get", "deployment", "web", "-o", "yaml", "--show-managed-fields"]);
    assert!(
        yaml.contains("manager: kubectl") && yaml.contains("operation: Apply") && yaml.contains("fieldsType: FieldsV1"),
        "{yaml}"
    );
}

#[test]
fn a_scaled_replica_count_conflicts_until_forced() {
    let s = Server::start();
    s.ok_stdin(&["apply", "--server-side", "-f", "-"], &deployment("web", 2, "nginx:1.27"));
    s.ok(&["scale", "deployment", "web", "--replicas=5"]);
    let d = get_json(&s, &["deployment", "web"]);
    assert!(managers(&d).contains(&entry("kubectl", "Update", "scale")), "{:?}", managers(&d));

    let (ok, _, err) = with_stdin(&s, &["apply", "--server-side", "-f", "-"], &deployment("web", 3, "nginx:1.27"));
    assert!(!ok);
    assert!(
        err.starts_with(
            "error: Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1: .spec.replicas\n\
             Please review the fields above--they currently have other managers."
        ),
        "{err}"
    );
    assert_eq!(get_json(&s, &["deployment", "web"])["spec"]["replicas"], 5);

    // The same value is no conflict: the manifest co-owns it.
    s.ok_stdin(&["apply", "--server-side", "-f", "-"], &deployment("web", 5, "nginx:1.27"));

    let out =
        s.ok_stdin(&["apply", "--server-side", "--force-conflicts", "-f", "-"], &deployment("web", 3, "nginx:1.27"));
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
    let d = get_json(&s, &["deployment", "web"]);
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(managers(&d), vec![entry("kubectl", "Apply", "")]);

    // Another applier conflicts with kubectl's apply.
    let (ok, _, err) = with_stdin(
        &s,
        &["apply", "--server-side", "--field-manager=ci", "-f", "-"],
        &deployment("web", 4, "nginx:1.27"),
    );
    assert!(!ok);
    assert!(
        err.starts_with("error: Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas\n"),
        "{err}"
    );
}

#[test]
fn client_side_apply_moves_to_server_side_apply() {
    let s = Server::start();
    assert_eq!(
        s.ok_stdin(&["apply", "-f", "-"], &deployment("web", 2, "nginx:1.27")).trim(),
        "deployment.apps/web created"
    );
    let d = get_json(&s, &["deployment", "web"]);
    assert_eq!(managers(&d), vec![entry("kubectl-client-side-apply", "Update", "")]);

    // The manifest changed since: kubectl may take the field over from client-side apply.
    let (ok, out, err) = with_stdin(&s, &["apply", "--server-side", "-f", "-"], &deployment("web", 4, "nginx:1.27"));
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
    assert!(!err.contains("arning"), "{err}");
    let d = get_json(&s, &["deployment", "web"]);
    assert_eq!(d["spec"]["replicas"], 4);
    let who = managers(&d);
    assert!(
        who.contains(&entry("kubectl", "Apply", "")) && who.contains(&entry("kubectl-last-applied", "Apply", "")),
        "{who:?}"
    );
    assert!(!who.iter().any(|(m, _, _)| m == "kubectl-client-side-apply"), "{who:?}");
    let last =
        d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].as_str().expect("annotation");
    let last: Value = serde_json::from_str(last).expect("last-applied JSON");
    assert_eq!(last["spec"]["replicas"], 4);

    // And further server-side applies of the same manifest change nothing.
    let rv = d["metadata"]["resourceVersion"].clone();
    s.ok_stdin(&["apply", "--server-side", "-f", "-"], &deployment("web", 4, "nginx:1.27"));
    assert_eq!(get_json(&s, &["deployment", "web"])["metadata"]["resourceVersion"], rv);
}

#[test]
fn diff_after_apply_shows_nothing() {
    let s = Server::start();
    let manifest = deployment("web", 2, "nginx:1.27");
    s.ok_stdin(&["apply", "--server-side", "-f", "-"], &manifest);
    let (ok, out, err) = with_stdin(&s, &["diff", "--server-side", "-f", "-"], &manifest);
    assert!(ok && out.is_empty(), "diff: {out}{err}");

    let changed = deployment("web", 6, "nginx:1.27");
    let out = s.kubectl_at(KUBECTL, &["diff", "--server-side", "-f", "-"], Some(&changed));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("-  replicas: 2") && text.contains("+  replicas: 6"), "{text}");
    // Server-side dry runs store nothing.
    s.ok_stdin(&["apply", "--server-side", "--dry-run=server", "-f", "-"], &changed);
    assert_eq!(get_json(&s, &["deployment", "web"])["spec"]["replicas"], 2);

    // Client-side apply twice, then diff: nothing either.
    let other = deployment("csa", 1, "nginx:1.27");
    s.ok_stdin(&["apply", "-f", "-"], &other);
    s.ok_stdin(&["apply", "-f", "-"], &deployment("csa", 2, "nginx:1.28"));
    let (ok, out, err) = with_stdin(&s, &["diff", "-f", "-"], &deployment("csa", 2, "nginx:1.28"));
    assert!(ok && out.is_empty(), "diff: {out}{err}");
}

#[test]
fn every_write_names_its_manager() {
    let s = Server::start();
    s.ok(&["create", "deployment", "web", "--image=nginx"]);
    s.ok(&["label", "deployment", "web", "tier=front"]);
    s.ok(&["set", "image", "deployment/web", "nginx=nginx:1.28"]);
    let d = get_json(&s, &["deployment", "web"]);
    let who = managers(&d);
    for m in ["kubectl-create", "kubectl-label", "kubectl-set"] {
        assert!(who.contains(&entry(m, "Update", "")), "{m}: {who:?}");
    }
    let mf = d["metadata"]["managedFields"].as_array().unwrap();
    let of = |m: &str| &mf.iter().find(|e| e["manager"] == m).unwrap()["fieldsV1"];
    assert_eq!(of("kubectl-label"), &serde_json::json!({"f:metadata": {"f:labels": {"f:tier": {}}}}));
    // The image changed hands: kubectl-set has it, kubectl-create no longer.
    let create = of("kubectl-create").to_string();
    let set = of("kubectl-set").to_string();
    assert!(set.contains("\"f:image\"") && !create.contains("\"f:image\""), "{create}\n{set}");
    assert!(create.contains("f:imagePullPolicy") && create.contains("\".\":{}"), "{create}");
    for e in mf {
        assert!(e["time"].as_str().is_some_and(|t| t.ends_with('Z') && t.len() == 20), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_requests_are_checked_as_the_apiserver_checks_them() {
    let s = Server::start();
    let client = s.kube_client().await;
    let url = "/apis/apps/v1/namespaces/default/deployments/web";
    let body = serde_json::to_vec(&serde_yaml::from_str::<Value>(&deployment("web", 1, "nginx")).unwrap()).unwrap();
    let patch = |query: &str, ct: &str, body: Vec<u8>| {
        http::Request::patch(format!("{url}{query}")).header("content-type", ct).body(body).unwrap()
    };
    let api_error = |r: Result<String, kube::Error>| match r {
        Err(kube::Error::Api(e)) => (e.code, e.message),
        other => panic!("expected an API error, got {other:?}"),
    };

    let (code, msg) = api_error(client.request_text(patch("", "application/apply-patch+yaml", body.clone())).await);
    assert_eq!(
        (code, msg.as_str()),
        (422, r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch"#)
    );

    // A dry run creates nothing, but answers as a create would.
    let created: Value = serde_json::from_str(
        &client
            .request_text(patch("?fieldManager=m&dryRun=All", "application/apply-patch+yaml", body.clone()))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(created["metadata"]["managedFields"][0]["manager"], "m");
    assert_eq!(api_error(client.request_text(http::Request::get(url).body(vec![]).unwrap()).await).0, 404);

    let (code, msg) = api_error(
        client
            .request_text(patch("?force=true", "application/merge-patch+json", br#"{"spec":{"replicas":2}}"#.to_vec()))
            .await,
    );
    assert_eq!(
        (code, msg.as_str()),
        (422, r#"PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch"#)
    );

    let wrong_kind = String::from_utf8(body.clone()).unwrap().replace("\"Deployment\"", "\"ReplicaSet\"");
    let (code, msg) = api_error(
        client.request_text(patch("?fieldManager=m", "application/apply-patch+yaml", wrong_kind.into_bytes())).await,
    );
    assert_eq!((code, msg.as_str()), (400, "invalid object type: apps/v1, Kind=ReplicaSet"));

    let dup = String::from_utf8(body)
        .unwrap()
        .replace(r#""containers":[{"#, r#""containers":[{"name":"nginx","image":"x"},{"#);
    let (code, msg) = api_error(
        client.request_text(patch("?fieldManager=m", "application/apply-patch+yaml", dup.into_bytes())).await,
    );
    assert_eq!(code, 400);
    assert!(msg.contains(r#".spec.template.spec.containers: duplicate entries for key [name="nginx"]"#), "{msg}");
}
