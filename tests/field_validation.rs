//! Field validation as a user meets it: kubectl's default (strict) validation rejects unknown
//! fields in the apiserver's words, `--validate=warn` prints a warning and drops them,
//! `--validate=false` drops them silently; over HTTP the `fieldValidation` parameter, the
//! `Warning` headers, duplicate fields and `dryRun=All` behave as on a 1.33 apiserver.
mod common;
use common::*;

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  foo: 1
  replicas: 1
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
        image: nginx
        imagee: nginx:1.27
";

fn manifest(s: &Server, name: &str, text: &str) -> String {
    let p = s.data_dir().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

fn get_json(s: &Server, args: &[&str]) -> Value {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&s.ok(&full)).unwrap()
}

#[test]
fn kubectl_create_is_strict_by_default_and_warn_or_false_drop_the_fields() {
    let s = Server::start();
    let f = manifest(&s, "web.yaml", WEB);

    // kubectl asks for fieldValidation=Strict (the OpenAPI document advertises it).
    let err = s.fails(&["create", "-f", &f]);
    assert_eq!(
        err.trim(),
        format!(
            "Error from server (BadRequest): error when creating \"{f}\": Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.foo\", unknown field \"spec.template.spec.containers[0].imagee\""
        )
    );
    let err = s.fails(&["create", "-f", &f, "--validate=strict"]);
    assert!(err.contains("strict decoding error: unknown field \"spec.foo\""), "{err}");
    let err = s.fails(&["get", "deployment", "web"]);
    assert_eq!(err.trim(), "Error from server (NotFound): deployments.apps \"web\" not found");

    // --validate=warn: created, without the fields, and kubectl prints the server's warnings.
    let out = s.kubectl(&["create", "-f", &f, "--validate=warn"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "deployment.apps/web created");
    assert_eq!(
        stderr(&out),
        "Warning: unknown field \"spec.foo\"\nWarning: unknown field \"spec.template.spec.containers[0].imagee\""
    );
    let d = get_json(&s, &["deployment", "web"]);
    assert!(d["spec"].get("foo").is_none(), "{d}");
    assert!(d["spec"]["template"]["spec"]["containers"][0].get("imagee").is_none(), "{d}");
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx");
    assert_eq!(d["spec"]["replicas"], 1);

    // --validate=false: fieldValidation=Ignore, created silently without the fields.
    let f2 = manifest(&s, "web2.yaml", &WEB.replace("name: web\n", "name: web2\n"));
    let out = s.kubectl(&["create", "-f", &f2, "--validate=false"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let d = get_json(&s, &["deployment", "web2"]);
    assert!(d["spec"].get("foo").is_none(), "{d}");

    // replace is strict too.
    let err = s.fails(&["replace", "-f", &f]);
    assert_eq!(
        err.trim(),
        format!("Error from server (BadRequest): error when replacing \"{f}\": Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.foo\", unknown field \"spec.template.spec.containers[0].imagee\"")
    );
    // kubectl patch sends no fieldValidation: the server's default, Warn.
    let out = s.kubectl(&["patch", "deployment", "web", "--type=merge", "-p", r#"{"spec":{"bar":1,"replicas":2}}"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "Warning: unknown field \"spec.bar\"");
    let d = get_json(&s, &["deployment", "web"]);
    assert!(d["spec"].get("bar").is_none(), "{d}");
    assert_eq!(d["spec"]["replicas"], 2);
}

#[test]
fn a_second_kubectl_apply_with_an_unknown_field_is_an_invalid_patch() {
    let s = Server::start();
    let valid: String =
        WEB.lines().filter(|l| !l.contains("foo: 1") && !l.contains("imagee")).map(|l| format!("{l}\n")).collect();
    let f = manifest(&s, "web.yaml", &valid);
    assert_eq!(s.ok(&["apply", "-f", &f]).trim(), "deployment.apps/web created");
    let f = manifest(&s, "web.yaml", &valid.replace("  replicas: 1\n", "  replicas: 3\n  foo: 1\n"));
    // The strategic merge patch is checked strictly; the message shows the patch map (%+v).
    let err = s.fails(&["apply", "-f", &f]);
    let err = err.trim();
    assert!(
        err.starts_with("The request is invalid: patch: Invalid value: \"map[metadata:map[annotations:map[kubectl.kubernetes.io/last-applied-configuration:{"),
        "{err}"
    );
    assert!(
        err.ends_with(r#"]] spec:map[foo:1 replicas:3]]": strict decoding error: unknown field "spec.foo""#),
        "{err}"
    );
    assert_eq!(get_json(&s, &["deployment", "web"])["spec"]["replicas"], 1);
    // --validate=warn: applied without the field, with the warning.
    let out = s.kubectl(&["apply", "-f", &f, "--validate=warn"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "Warning: unknown field \"spec.foo\"");
    let d = get_json(&s, &["deployment", "web"]);
    assert_eq!(d["spec"]["replicas"], 3);
    assert!(d["spec"].get("foo").is_none(), "{d}");
}

/// curl with the admin credentials of the kubeconfig; answers (code, headers, body).
struct Curl {
    url: String,
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    dir: PathBuf,
}

impl Curl {
    fn admin(s: &Server) -> Curl {
        use base64::Engine;
        let kc: Value = serde_yaml::from_str(&std::fs::read_to_string(&s.kubeconfig).unwrap()).unwrap();
        let dir = s.data_dir().join("curl");
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, b64: &Value| -> PathBuf {
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap()).unwrap();
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        Curl {
            url: s.url.clone(),
            cert: write("admin.crt", &kc["users"][0]["user"]["client-certificate-data"]),
            key: write("admin.key", &kc["users"][0]["user"]["client-key-data"]),
            ca: write("ca.crt", &kc["clusters"][0]["cluster"]["certificate-authority-data"]),
            dir,
        }
    }

    fn run(&self, method: &str, path: &str, content_type: &str, body: &str) -> (u16, Vec<String>, Value) {
        let body_file = self.dir.join("body");
        let head_file = self.dir.join("head");
        std::fs::write(&body_file, body).unwrap();
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "20", "-X", method, "-w", "\n%{http_code}", "-D"])
            .arg(&head_file)
            .arg("--cert")
            .arg(&self.cert)
            .arg("--key")
            .arg(&self.key)
            .arg("--cacert")
            .arg(&self.ca)
            .args(["-H", &format!("Content-Type: {content_type}")])
            .arg("--data-binary")
            .arg(format!("@{}", body_file.display()))
            .arg(format!("{}{}", self.url, path))
            .output()
            .expect("run curl");
        assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        let heads = std::fs::read_to_string(&head_file).unwrap();
        let warnings = heads
            .lines()
            .filter_map(|l| {
                l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("warning")).map(|(_, v)| v.trim().to_string())
            })
            .collect();
        (code.trim().parse().unwrap(), warnings, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    fn post(&self, path: &str, content_type: &str, body: &str) -> (u16, Vec<String>, Value) {
        self.run("POST", path, content_type, body)
    }
}

const CM: &str = "/api/v1/namespaces/default/configmaps";

#[test]
fn the_directive_the_warning_headers_duplicates_and_dry_run_over_http() {
    let s = Server::start();
    let c = Curl::admin(&s);
    let body = |name: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","labelz":{{"a":"b"}}}},"data":{{"k":"v"}},"dat":{{}}}}"#
        )
    };

    let (code, warnings, st) = c.post(&format!("{CM}?fieldValidation=Strict"), "application/json", &body("strict"));
    assert_eq!(code, 400, "{st}");
    assert_eq!(st["reason"], "BadRequest");
    assert_eq!(
        st["message"],
        r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "metadata.labelz", unknown field "dat""#
    );
    assert!(warnings.is_empty());

    // No parameter is Warn: stored without the fields, one Warning header per field.
    for (query, name) in [("", "default"), ("?fieldValidation=Warn", "warn")] {
        let (code, warnings, obj) = c.post(&format!("{CM}{query}"), "application/json", &body(name));
        assert_eq!(code, 201, "{obj}");
        assert_eq!(warnings, [r#"299 - "unknown field \"metadata.labelz\"""#, r#"299 - "unknown field \"dat\"""#]);
        assert!(obj["metadata"].get("labelz").is_none() && obj.get("dat").is_none(), "{obj}");
        let stored = get_json(&s, &["configmap", name]);
        assert!(stored["metadata"].get("labelz").is_none() && stored.get("dat").is_none(), "{stored}");
        assert_eq!(stored["data"]["k"], "v");
    }
    let (code, warnings, obj) = c.post(&format!("{CM}?fieldValidation=Ignore"), "application/json", &body("ignore"));
    assert_eq!((code, warnings.len()), (201, 0), "{obj}");
    assert!(obj.get("dat").is_none(), "{obj}");

    let (code, _, st) = c.post(&format!("{CM}?fieldValidation=strict"), "application/json", &body("bad"));
    assert_eq!(code, 422, "{st}");
    assert_eq!(
        st["message"],
        r#"CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn""#
    );

    // Duplicate fields: rejected under Strict, warned under Warn, the last one kept.
    let dup = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"k":"1","k":"2"},"immutable":false,"immutable":true}"#;
    let (code, _, st) = c.post(&format!("{CM}?fieldValidation=Strict"), "application/json", dup);
    assert_eq!(code, 400, "{st}");
    assert_eq!(
        st["message"],
        r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "data.k", duplicate field "immutable""#
    );
    let (code, warnings, obj) = c.post(CM, "application/json", dup);
    assert_eq!(code, 201, "{obj}");
    assert_eq!(warnings, [r#"299 - "duplicate field \"data.k\"""#, r#"299 - "duplicate field \"immutable\"""#]);
    assert_eq!((obj["data"]["k"].as_str(), obj["immutable"].as_bool()), (Some("2"), Some(true)));

    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ydup\ndata:\n  k: '1'\n  k: '2'\nfoo: 1\n";
    let (code, _, st) = c.post(&format!("{CM}?fieldValidation=Strict"), "application/yaml", yaml);
    assert_eq!(code, 400, "{st}");
    assert_eq!(
        st["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: yaml: unmarshal errors:\n  line 7: key \"k\" already set in map, unknown field \"foo\""
    );
    let (code, warnings, obj) = c.post(&format!("{CM}?fieldValidation=Warn"), "application/yaml", yaml);
    assert_eq!(code, 201, "{obj}");
    assert_eq!(warnings, [r#"299 - "line 7: key \"k\" already set in map""#, r#"299 - "unknown field \"foo\"""#]);
    assert_eq!(obj["data"]["k"], "2");
    let (code, warnings, obj) =
        c.post(&format!("{CM}?fieldValidation=Ignore"), "application/yaml", &yaml.replace("ydup", "ydup2"));
    assert_eq!((code, warnings.len()), (201, 0), "{obj}");
    assert_eq!(obj["data"]["k"], "2");

    // dryRun=All: validated and warned, nothing stored.
    let (code, warnings, obj) =
        c.post(&format!("{CM}?dryRun=All&fieldValidation=Warn"), "application/json", &body("dry"));
    assert_eq!((code, warnings.len()), (201, 2), "{obj}");
    let (code, _, st) = c.post(&format!("{CM}?dryRun=All&fieldValidation=Strict"), "application/json", &body("dry"));
    assert_eq!(code, 400, "{st}");
    let err = s.fails(&["get", "configmap", "dry"]);
    assert_eq!(err.trim(), "Error from server (NotFound): configmaps \"dry\" not found");

    // Updates and patches.
    let put = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"warn"},"data":{"k":"w"},"datum":1}"#;
    let (code, _, st) = c.run("PUT", &format!("{CM}/warn?fieldValidation=Strict"), "application/json", put);
    assert_eq!(code, 400, "{st}");
    assert_eq!(
        st["message"],
        r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "datum""#
    );
    let (code, warnings, obj) = c.run("PUT", &format!("{CM}/warn"), "application/json", put);
    assert_eq!((code, warnings.len()), (200, 1), "{obj}");
    assert_eq!(obj["data"]["k"], "w");

    let (code, _, st) = c.run(
        "PATCH",
        &format!("{CM}/warn?fieldValidation=Strict"),
        "application/strategic-merge-patch+json",
        r#"{"data":{"k":"p"},"datum":1}"#,
    );
    assert_eq!(code, 422, "{st}");
    assert_eq!(
        st["message"],
        r#" "" is invalid: patch: Invalid value: "map[data:map[k:p] datum:1]": strict decoding error: unknown field "datum""#
    );
    assert_eq!(st["details"]["causes"][0]["field"], "patch");
    let (code, _, st) = c.run(
        "PATCH",
        &format!("{CM}/warn?fieldValidation=Strict"),
        "application/merge-patch+json",
        r#"{"data":{"k":"p","k":"q"}}"#,
    );
    assert_eq!(code, 422, "{st}");
    assert!(st["message"].as_str().unwrap().ends_with(r#"strict decoding error: duplicate field "data.k""#), "{st}");
    let (code, warnings, obj) = c.run(
        "PATCH",
        &format!("{CM}/warn"),
        "application/json-patch+json",
        r#"[{"op":"add","path":"/datum","value":1,"valu":2}]"#,
    );
    assert_eq!(code, 200, "{obj}");
    assert_eq!(warnings, [r#"299 - "json patch unknown field \"[0].valu\"""#, r#"299 - "unknown field \"datum\"""#]);
    assert!(obj.get("datum").is_none(), "{obj}");
    assert_eq!(get_json(&s, &["configmap", "warn"])["data"]["k"], "w");
}
