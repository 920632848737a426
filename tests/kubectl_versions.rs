//! Every kubectl on the machine (1.27–1.33) runs the same session against one server, each in
//! a namespace of its own: typed creates, apply twice, server-side apply, diff, edit, patches,
//! scale, set, label, annotate, explain, every output format and deletes.
mod common;
use common::*;
use std::process::Command;

#[test]
fn every_kubectl_version_runs_the_same_session() {
    let s = Server::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/kubectl_session.sh");
    let mut failures = Vec::new();
    for (i, (version, bin)) in kubectls().iter().enumerate() {
        let work = s.data_dir().join(format!("session-{i}"));
        std::fs::create_dir_all(&work).expect("work dir");
        let out = Command::new("bash")
            .arg(script)
            .env("KUBECTL", bin)
            .env("KUBECONFIG", &s.kubeconfig)
            .env("KUBECACHEDIR", work.join("cache"))
            .env("NS", format!("kubectl-{i}"))
            .env("WORK", &work)
            .output()
            .expect("run the session script");
        if !out.status.success() {
            failures.push(format!("kubectl {version}:\n{}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
