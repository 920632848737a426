//! Admission that reads the cluster: Priority (a pod's class gives its priority; unknown
//! classes are refused; a global default applies) and DefaultStorageClass.
mod common;
use common::*;

#[test]
fn pods_take_their_priority_from_their_class_and_claims_get_the_default_storage_class() {
    let s = Server::start();
    s.ok_stdin(&["create", "-f", "-"], "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\npreemptionPolicy: Never\n");
    let pod = |name: &str, class: &str| {
        let class = if class.is_empty() { String::new() } else { format!("  priorityClassName: {class}\n") };
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{class}  containers: [{{name: c, image: busybox}}]\n")
    };
    s.ok_stdin(&["create", "-f", "-"], &pod("p1", "high"));
    assert_eq!(s.ok(&["get", "pod", "p1", "-o", "jsonpath={.spec.priority} {.spec.preemptionPolicy}"]), "1000 Never");
    s.ok_stdin(&["create", "-f", "-"], &pod("p2", "system-node-critical"));
    assert_eq!(s.ok(&["get", "pod", "p2", "-o", "jsonpath={.spec.priority}"]), "2000001000");

    let out = s.kubectl_at(KUBECTL, &["create", "-f", "-"], Some(&pod("p3", "nope")));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(r#"pods "p3" is forbidden: no PriorityClass with name nope was found"#), "{err}");

    s.ok_stdin(&["create", "-f", "-"], &pod("p4", ""));
    assert_eq!(s.ok(&["get", "pod", "p4", "-o", "jsonpath={.spec.priority}|{.spec.priorityClassName}"]), "0|");
    s.ok_stdin(&["create", "-f", "-"], "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: everyone}\nvalue: 50\nglobalDefault: true\n");
    s.ok_stdin(&["create", "-f", "-"], &pod("p5", ""));
    assert_eq!(s.ok(&["get", "pod", "p5", "-o", "jsonpath={.spec.priority}|{.spec.priorityClassName}"]), "50|everyone");

    let claim = |name: &str| format!("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {name}}}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: 1Gi}}}}\n");
    s.ok_stdin(&["create", "-f", "-"], &claim("c1"));
    // The built-in default class (k3s's local-path).
    assert_eq!(s.ok(&["get", "pvc", "c1", "-o", "jsonpath={.spec.storageClassName}"]), "local-path");
    s.ok_stdin(&["create", "-f", "-"], "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: fast\n  annotations: {storageclass.kubernetes.io/is-default-class: \"true\"}\nprovisioner: example.com/fast\n");
    s.ok_stdin(&["create", "-f", "-"], &claim("c2"));
    assert_eq!(s.ok(&["get", "pvc", "c2", "-o", "jsonpath={.spec.storageClassName}"]), "fast");
}

#[test]
fn a_server_dry_run_shows_the_admitted_priority_and_stores_nothing() {
    let s = Server::start();
    s.ok_stdin(&["create", "-f", "-"], "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\n");
    let out = s.ok_stdin(
        &["create", "--dry-run=server", "-o", "jsonpath={.spec.priority}", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: {name: dry}\nspec:\n  priorityClassName: high\n  containers: [{name: c, image: busybox}]\n",
    );
    assert_eq!(out, "1000");
    let err = s.fails(&["get", "pod", "dry"]);
    assert!(err.contains(r#"pods "dry" not found"#), "{err}");
}
