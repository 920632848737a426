//! Field validation as the user reads it: kubectl's `The <Kind> "<name>" is invalid: ...`
//! lines (one cause inline, several as `* field: message` lines) with kube-apiserver 1.33's
//! words, and the stored object unchanged after a rejected update.

mod common;

use common::{Server, KUBECTL};

/// Runs kubectl with a manifest on stdin; it must fail. Returns stderr.
fn fails_stdin(s: &Server, args: &[&str], manifest: &str) -> String {
    let out = s.kubectl_at(KUBECTL, args, Some(manifest));
    assert!(!out.status.success(), "kubectl {args:?} unexpectedly succeeded: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const CREATE: &[&str] = &["create", "--validate=false", "-f", "-"];

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
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
        image: nginx:1.27
"#;

#[test]
fn one_error_is_printed_on_the_invalid_line() {
    let s = Server::start();
    let other = WEB.replace("        app: web\n    spec:", "        app: other\n    spec:");
    let err = fails_stdin(&s, CREATE, &other);
    assert_eq!(
        err,
        "The Deployment \"web\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`\n"
    );
    let out = s.kubectl(&["get", "deploy", "web"]);
    assert!(!out.status.success(), "nothing is stored");
}

#[test]
fn several_errors_are_listed_one_per_line() {
    let s = Server::start();
    let manifest = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: -1
  template:
    metadata:
      labels:
        app: x
    spec:
      containers:
      - name: Nginx
        ports:
        - containerPort: 70000
          protocol: HTTP
        resources:
          limits:
            cpu: 100m
          requests:
            cpu: 200m
"#;
    let err = fails_stdin(&s, CREATE, manifest);
    let label = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    let want = [
        "The Deployment \"web\" is invalid: ".to_string(),
        "* spec.replicas: Invalid value: -1: must be greater than or equal to 0".into(),
        "* spec.selector: Required value".into(),
        "* spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`".into(),
        format!("* spec.template.spec.containers[0].name: Invalid value: \"Nginx\": {label}"),
        "* spec.template.spec.containers[0].image: Required value".into(),
        "* spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive".into(),
        "* spec.template.spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"".into(),
        "* spec.template.spec.containers[0].resources.requests: Invalid value: \"200m\": must be less than or equal to cpu limit of 100m".into(),
    ];
    assert_eq!(err.lines().collect::<Vec<_>>(), want, "{err}");
}

#[test]
fn a_deployment_selector_never_changes() {
    let s = Server::start();
    s.ok_stdin(CREATE, WEB);
    let patch =
        r#"{"spec":{"selector":{"matchLabels":{"app":"web2"}},"template":{"metadata":{"labels":{"app":"web2"}}}}}"#;
    let err = s.fails(&["patch", "deploy", "web", "--type=merge", "-p", patch]);
    assert_eq!(
        err,
        "The Deployment \"web\" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable\n"
    );
    assert_eq!(s.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.selector.matchLabels.app}"]), "web");
    s.ok(&["scale", "deploy", "web", "--replicas=3"]);
    s.ok(&["set", "image", "deploy/web", "nginx=nginx:1.28"]);
}

#[test]
fn most_of_a_pod_spec_is_fixed() {
    let s = Server::start();
    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox","command":["sleep","3600"]}]}}"#;
    s.ok_stdin(CREATE, pod);
    s.ok(&["patch", "pod", "p", "--type=merge", "-p", r#"{"spec":{"activeDeadlineSeconds":600}}"#]);
    s.ok(&["set", "image", "pod/p", "c=busybox:1.36"]);
    let err = s.fails(&[
        "patch",
        "pod",
        "p",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/containers/0/command","value":["sh"]}]"#,
    ]);
    assert_eq!(
        err.lines().next().unwrap(),
        "The Pod \"p\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        "{err}"
    );
    let err =
        fails_stdin(&s, CREATE, r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"q"},"spec":{"containers":[]}}"#);
    assert_eq!(err, "The Pod \"q\" is invalid: spec.containers: Required value\n");
}

#[test]
fn jobs_and_cronjobs() {
    let s = Server::start();
    let job = r#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"pi"},"spec":{"template":{"spec":{"restartPolicy":"Always","containers":[{"name":"pi","image":"perl"}]}}}}"#;
    let err = fails_stdin(&s, CREATE, job);
    assert_eq!(err, "The Job \"pi\" is invalid: spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"\n");
    let cron = r#"{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"c"},"spec":{"schedule":"61 * * * *","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"OnFailure","containers":[{"name":"c","image":"busybox"}]}}}}}}"#;
    let err = fails_stdin(&s, CREATE, cron);
    assert_eq!(err, "The CronJob \"c\" is invalid: spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61\n");
}

#[test]
fn configmaps_and_secrets() {
    let s = Server::start();
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"frozen"},"immutable":true,"data":{"a":"1"}}"#;
    s.ok_stdin(CREATE, cm);
    let err = s.fails(&["patch", "cm", "frozen", "--type=merge", "-p", r#"{"data":{"a":"2"}}"#]);
    assert_eq!(
        err,
        "The ConfigMap \"frozen\" is invalid: data: Forbidden: field is immutable when `immutable` is set\n"
    );
    assert_eq!(s.ok(&["get", "cm", "frozen", "-o", "jsonpath={.data.a}"]), "1");

    let bad_key = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"keys"},"data":{"a b":"1"}}"#;
    let err = fails_stdin(&s, CREATE, bad_key);
    assert_eq!(err, "The ConfigMap \"keys\" is invalid: data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')\n");

    let tls = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"cert"},"type":"kubernetes.io/tls","data":{}}"#;
    let err = fails_stdin(&s, CREATE, tls);
    assert_eq!(
        err,
        "The Secret \"cert\" is invalid: \n* data[tls.crt]: Required value\n* data[tls.key]: Required value\n"
    );
}
