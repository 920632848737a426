//! The first session of a new user: start, list namespaces, create and read a ConfigMap.
mod common;
use common::*;

#[test]
fn kubectl_lists_the_four_namespaces_as_active() {
    let s = Server::start();
    let out = s.ok(&["get", "ns"]);
    let r = rows(&out);
    assert_eq!(r[0], vec!["NAME", "STATUS", "AGE"], "{out}");
    let names: Vec<&str> = r[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, vec!["default", "kube-node-lease", "kube-public", "kube-system"], "{out}");
    assert!(r[1..].iter().all(|r| r[1] == "Active"), "{out}");
}
