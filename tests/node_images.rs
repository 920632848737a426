//! Images for real pods, through the real kubectl: a docker-archive tarball built here and
//! loaded with `minikube-rs image load` runs with `imagePullPolicy: Never`; an image pushed to
//! a loopback `docker-registry` with token auth is pulled through a registries.yaml mirror,
//! with the kubelet's Pulling/Pulled events. Runs as root (CI does).

mod common;

#[path = "common/registry.rs"]
mod registry;

use common::{json, root, wait, wait_running, Server};
use oci_client::secrets::RegistryAuth;
use registry::{Pusher, Registry, TestImage, TokenIssuer, ISSUER, PASSWORD, SERVICE, USER};
use std::time::Duration;

fn events(s: &Server, name: &str) -> Vec<(String, String)> {
    let list = json(s, &["get", "events", "--field-selector", &format!("involvedObject.name={name}")]);
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["reason"].as_str().unwrap_or("").to_string(), e["message"].as_str().unwrap_or("").to_string()))
        .collect()
}

/// The payloads of the container's first log file.
fn log_lines(s: &Server, p: &serde_json::Value, container: &str) -> Vec<String> {
    let m = &p["metadata"];
    let dir = format!("{}_{}_{}", m["namespace"].as_str().unwrap_or(""), m["name"].as_str().unwrap_or(""), m["uid"].as_str().unwrap_or(""));
    let file = s.data_dir().join("logs/pods").join(dir).join(container).join("0.log");
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines().map(|l| l.splitn(4, ' ').nth(3).unwrap_or("").to_string()).collect()
}

/// A tar header with every numeric field set (an all-zero field is no number to tar readers).
fn header(kind: tar::EntryType, mode: u32, size: usize) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size as u64);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// An uncompressed layer: the host's static busybox as /bin/busybox and /bin/sh.
fn busybox_layer() -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox").expect("the host's busybox-static at /bin/busybox");
    let mut tar = tar::Builder::new(Vec::new());
    tar.append_data(&mut header(tar::EntryType::Directory, 0o755, 0), "bin/", std::io::empty()).expect("dir");
    tar.append_data(&mut header(tar::EntryType::Regular, 0o755, busybox.len()), "bin/busybox", busybox.as_slice()).expect("busybox");
    tar.append_link(&mut header(tar::EntryType::Symlink, 0o777, 0), "bin/sh", "busybox").expect("sh link");
    tar.into_inner().expect("tar")
}

fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(data))
}

/// A `docker save` tarball of one image named `tag` whose Cmd prints `message`.
fn docker_archive(tag: &str, message: &str) -> Vec<u8> {
    let layer = busybox_layer();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh", "-c", format!("echo {message}; exec /bin/busybox sleep 3600")], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256(&layer))]},
    }))
    .expect("config");
    let config_name = format!("{}.json", sha256(&config));
    let manifest = serde_json::to_vec(&serde_json::json!([{"Config": config_name, "RepoTags": [tag], "Layers": ["layer1/layer.tar"]}])).expect("manifest");
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in [(config_name.as_str(), &config), ("layer1/layer.tar", &layer), ("manifest.json", &manifest)] {
        tar.append_data(&mut header(tar::EntryType::Regular, 0o644, data.len()), name, data.as_slice()).expect("archive entry");
    }
    tar.into_inner().expect("archive")
}

#[test]
fn a_loaded_tarball_runs_with_pull_policy_never() {
    if !root() {
        return;
    }
    let s = Server::start();
    let file = s.data_dir().join("loaded.tar");
    std::fs::write(&file, docker_archive("example.com/faults/loaded:v1", "hello-from-the-tarball")).expect("write archive");
    let out = std::process::Command::new(common::binary())
        .args(["image", "load", "--data-dir"])
        .arg(s.data_dir())
        .arg(&file)
        .output()
        .expect("minikube-rs image load");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "image load: {text}");
    assert!(text.contains("Loaded image: example.com/faults/loaded:v1"), "{text}");
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: loaded}
spec:
  containers:
  - {name: app, image: "example.com/faults/loaded:v1", imagePullPolicy: Never}
"#,
    );
    let p = wait_running(&s, "loaded");
    wait(&s, "the image's Cmd output", Duration::from_secs(10), || {
        log_lines(&s, &p, "app").iter().any(|l| l == "hello-from-the-tarball").then_some(())
    });
    let ev = events(&s, "loaded");
    assert!(ev.iter().any(|(r, m)| r == "Pulled" && m == "Container image \"example.com/faults/loaded:v1\" already present on machine"), "{ev:?}");
    assert!(!ev.iter().any(|(r, _)| r == "Pulling"), "{ev:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_pulls_through_a_mirror_with_token_auth() {
    if !root() || !registry::tools_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("root.pem");
    let issuer = TokenIssuer::start(&bundle).await;
    let auth = format!(
        "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
        issuer.port,
        bundle.display()
    );
    let registry = Registry::start(&auth, tempfile::tempdir().expect("tempdir"));
    let image = TestImage::from_layer("amd64", busybox_layer(), &["/bin/sh", "-c", "echo hello-from-the-registry; exec /bin/busybox sleep 3600"]);
    Pusher::new(&registry.host(), RegistryAuth::Basic(USER.into(), PASSWORD.into())).push_image("faults/app", "v1", &image).await;
    let registries = dir.path().join("registries.yaml");
    std::fs::write(
        &registries,
        format!(
            "mirrors:\n  registry.faults.test:\n    endpoint: [\"http://{host}\"]\nconfigs:\n  \"{host}\":\n    auth:\n      username: {USER}\n      password: {PASSWORD}\n",
            host = registry.host()
        ),
    )
    .expect("write registries.yaml");
    let registries = registries.to_string_lossy().into_owned();
    let s = tokio::task::spawn_blocking(move || Server::start_with(&["--registries", &registries])).await.expect("start");
    let tokens_before = issuer.requests.load(std::sync::atomic::Ordering::SeqCst);
    let s = tokio::task::spawn_blocking(move || {
        s.ok_stdin(
            &["apply", "-f", "-"],
            r#"
apiVersion: v1
kind: Pod
metadata: {name: pulled}
spec:
  containers:
  - {name: app, image: "registry.faults.test/faults/app:v1"}
"#,
        );
        let p = wait_running(&s, "pulled");
        wait(&s, "the image's Cmd output", Duration::from_secs(10), || {
            log_lines(&s, &p, "app").iter().any(|l| l == "hello-from-the-registry").then_some(())
        });
        let cs = &p["status"]["containerStatuses"][0];
        assert!(cs["imageID"].as_str().unwrap_or("").contains("sha256:"), "{cs:#}");
        let ev = events(&s, "pulled");
        assert!(ev.iter().any(|(r, m)| r == "Pulling" && m == "Pulling image \"registry.faults.test/faults/app:v1\""), "{ev:?}");
        let pulled = ev.iter().find(|(r, _)| r == "Pulled").map(|(_, m)| m.clone()).unwrap_or_default();
        assert!(pulled.starts_with("Successfully pulled image \"registry.faults.test/faults/app:v1\" in "), "{ev:?}");
        assert!(pulled.contains("Image size: "), "{pulled}");
        s
    })
    .await
    .expect("pod");
    assert!(issuer.requests.load(std::sync::atomic::Ordering::SeqCst) > tokens_before, "the node asked the issuer for a token");
    assert!(registry.request_lines().iter().any(|l| l.contains("/v2/faults/app/manifests/v1")), "the mirror served the manifest");
    tokio::task::spawn_blocking(move || drop(s)).await.expect("delete");
}
