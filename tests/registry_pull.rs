//! Registry pulls against Debian's real `docker-registry` on loopback: basic auth (htpasswd),
//! token auth (a tiny token issuer in the test signing ES256 JWTs), manifest lists, offline
//! mode and a docker.io mirror from registries.yaml.
//!
//! Needs `/usr/bin/docker-registry` and `htpasswd` (scripts/test.sh installs them); without
//! them the tests skip, unless CI=true.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use minikube_rs::node::images::pull::{self, Error, Progress, ProgressState, PullOptions};
use minikube_rs::node::images::registries::Registries;
use oci_client::client::ClientConfig;
use oci_client::secrets::RegistryAuth;
use oci_client::Client;

#[path = "common/registry.rs"]
mod registry;
use registry::*;

fn registries_yaml(dir: &Path, text: &str) -> Registries {
    let path = dir.join("registries.yaml");
    std::fs::write(&path, text).expect("write registries.yaml");
    Registries::load(&path).expect("load registries.yaml")
}

fn options(registries: Registries) -> PullOptions {
    PullOptions { registries, disable_default_endpoint: true, ..PullOptions::default() }
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
        .expect("json")
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

/// Checks a finished layout holds `image` completely.
fn assert_layout(pulled: &pull::Pulled, image: &TestImage) {
    let layout = &pulled.layout_dir;
    assert!(layout.join("oci-layout").exists());
    let index = read_json(&layout.join("index.json"));
    assert_eq!(index["manifests"][0]["digest"], pulled.manifest_digest.as_str());
    assert_eq!(index["manifests"][0]["annotations"]["io.containerd.image.name"], pulled.name.as_str());
    assert_eq!(pulled.manifest_digest, sha256_digest(&image.manifest));
    assert_eq!(pulled.config_digest, sha256_digest(&image.config));
    assert_eq!(std::fs::read(blob_path(layout, &pulled.manifest_digest)).expect("manifest blob"), image.manifest);
    assert_eq!(std::fs::read(blob_path(layout, &pulled.config_digest)).expect("config blob"), image.config);
    assert_eq!(std::fs::read(blob_path(layout, &sha256_digest(&image.layer))).expect("layer blob"), image.layer);
}

#[tokio::test]
async fn basic_auth_pull_and_wrong_password() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let htpasswd = htpasswd_file(dir.path());
    let auth = format!("auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n", htpasswd.display());
    let registry = Registry::start(&auth, tempfile::tempdir().expect("tempdir"));
    let image = TestImage::new("amd64");
    Pusher::new(&registry.host(), RegistryAuth::Basic(USER.into(), PASSWORD.into()))
        .push_image("team/app", "1.0", &image)
        .await;

    let good = registries_yaml(
        dir.path(),
        &format!("configs:\n  \"{}\":\n    auth:\n      username: {USER}\n      password: {PASSWORD}\n", registry.host()),
    );
    let reference = format!("{}/team/app:1.0", registry.host());
    let layout = dir.path().join("layout");
    let seen = std::sync::Mutex::new(Vec::<Progress>::new());
    let pulled = pull::pull(&reference, &options(good.clone()), &layout, &|_| false, &|p| {
        seen.lock().expect("lock").push(p)
    })
    .await
    .expect("pull with credentials");
    assert_layout(&pulled, &image);
    assert_eq!(pulled.name, reference);
    assert_eq!(pulled.repo_digest, format!("{}/team/app@{}", registry.host(), sha256_digest(&image.manifest)));
    let seen = seen.into_inner().expect("lock");
    let done = seen.iter().find(|p| p.state == ProgressState::Done).expect("a Done progress");
    assert_eq!(done.downloaded, image.layer.len() as u64);
    assert_eq!(done.total, image.layer.len() as u64);

    // Blobs the store has are skipped.
    let layout2 = dir.path().join("layout2");
    let layer_digest = sha256_digest(&image.layer);
    let states = std::sync::Mutex::new(Vec::new());
    pull::pull(&reference, &options(good.clone()), &layout2, &|d| d == layer_digest, &|p| {
        states.lock().expect("lock").push(p.state)
    })
    .await
    .expect("pull with the layer present");
    assert_eq!(states.into_inner().expect("lock"), vec![ProgressState::Exists]);
    assert!(!blob_path(&layout2, &layer_digest).exists());

    // Unknown tag: not found.
    let err = pull::pull(&format!("{}/team/app:nope", registry.host()), &options(good), &dir.path().join("l3"), &|_| false, &|_| {})
        .await
        .expect_err("unknown tag");
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(err.to_string().ends_with(": not found"), "{err}");

    // Wrong password, and no credentials at all: unauthorized.
    let bad = registries_yaml(
        dir.path(),
        &format!("configs:\n  \"{}\":\n    auth:\n      username: {USER}\n      password: wrong\n", registry.host()),
    );
    let err = pull::pull(&reference, &options(bad), &dir.path().join("l4"), &|_| false, &|_| {})
        .await
        .expect_err("wrong password");
    eprintln!("wrong password: {err}");
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("unauthorized"), "{err}");
    let err = pull::pull(&reference, &options(Registries::default()), &dir.path().join("l5"), &|_| false, &|_| {})
        .await
        .expect_err("anonymous");
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
}


#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_pull() {
    if !tools_present() {
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
    let image = TestImage::new("amd64");
    Pusher::new(&registry.host(), RegistryAuth::Basic(USER.into(), PASSWORD.into()))
        .push_image("secure/app", "v1", &image)
        .await;
    let pushes = issuer.requests.load(Ordering::SeqCst);
    assert!(pushes > 0, "the push went through the token issuer");

    let good = registries_yaml(
        dir.path(),
        &format!("configs:\n  \"{}\":\n    auth:\n      username: {USER}\n      password: {PASSWORD}\n", registry.host()),
    );
    let reference = format!("{}/secure/app:v1", registry.host());
    let pulled = pull::pull(&reference, &options(good), &dir.path().join("layout"), &|_| false, &|_| {})
        .await
        .unwrap_or_else(|e| panic!("token pull: {e}\nregistry log:\n{}", registry.log_text()));
    assert_layout(&pulled, &image);
    assert!(issuer.requests.load(Ordering::SeqCst) > pushes, "the pull asked the issuer for a token");

    let bad = registries_yaml(
        dir.path(),
        &format!("configs:\n  \"{}\":\n    auth:\n      username: {USER}\n      password: nope\n", registry.host()),
    );
    let err = pull::pull(&reference, &options(bad), &dir.path().join("l2"), &|_| false, &|_| {})
        .await
        .expect_err("wrong password");
    eprintln!("wrong password: {err}");
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
}

#[tokio::test]
async fn manifest_list_selects_the_platform() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::start("", tempfile::tempdir().expect("tempdir"));
    let pusher = Pusher::new(&registry.host(), RegistryAuth::Anonymous);
    let amd64 = TestImage::new("amd64");
    let arm64 = TestImage::new("arm64");
    let d_amd64 = pusher.push_image("multi/app", "amd64", &amd64).await;
    let d_arm64 = pusher.push_image("multi/app", "arm64", &arm64).await;
    let entry = |digest: &str, size: usize, arch: &str| {
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest, "size": size,
            "platform": {"os": "linux", "architecture": arch},
        })
    };
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry(&d_arm64, arm64.manifest.len(), "arm64"), entry(&d_amd64, amd64.manifest.len(), "amd64")],
    }))
    .expect("index json");
    let index_digest = pusher
        .push_manifest("multi/app", "latest", &index, "application/vnd.oci.image.index.v1+json")
        .await;

    let reference = format!("{}/multi/app", registry.host());
    let host_arch = pull::host_platform().1;
    let pulled = pull::pull(&reference, &options(Registries::default()), &dir.path().join("host"), &|_| false, &|_| {})
        .await
        .expect("pull the list");
    let expected = if host_arch == "arm64" { &arm64 } else { &amd64 };
    if host_arch == "amd64" || host_arch == "arm64" {
        assert_layout(&pulled, expected);
    }
    assert_eq!(pulled.name, format!("{reference}:latest"));
    assert_eq!(pulled.repo_digest, format!("{}/multi/app@{index_digest}", registry.host()));

    // The other platform, asked for explicitly.
    for (arch, image) in [("arm64", &arm64), ("amd64", &amd64)] {
        let opts = PullOptions { platform: ("linux".into(), arch.into()), ..options(Registries::default()) };
        let pulled = pull::pull(&reference, &opts, &dir.path().join(arch), &|_| false, &|_| {})
            .await
            .expect("pull one platform");
        assert_layout(&pulled, image);
        let index = read_json(&pulled.layout_dir.join("index.json"));
        assert_eq!(index["manifests"][0]["platform"]["architecture"], arch);
    }
    let opts = PullOptions { platform: ("linux".into(), "s390x".into()), ..options(Registries::default()) };
    let err = pull::pull(&reference, &opts, &dir.path().join("none"), &|_| false, &|_| {})
        .await
        .expect_err("no s390x");
    assert!(matches!(err, Error::NoPlatform { .. }), "{err}");
}

#[tokio::test]
async fn offline_contacts_no_registry() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::start("", tempfile::tempdir().expect("tempdir"));
    let mirrors = registries_yaml(
        dir.path(),
        &format!("mirrors:\n  docker.io:\n    endpoint: [\"http://{}\"]\n", registry.host()),
    );
    let before = registry.request_lines().len();
    for reference in ["busybox-test:1".to_string(), format!("{}/a/b:1", registry.host())] {
        let opts = PullOptions { offline: true, ..options(mirrors.clone()) };
        let err = pull::pull(&reference, &opts, &dir.path().join("layout"), &|_| false, &|_| {})
            .await
            .expect_err("offline");
        assert!(matches!(err, Error::Offline { .. }), "{err}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(registry.request_lines().len(), before, "registry log:\n{}", registry.log_text());
    assert!(!dir.path().join("layout").exists());

    // The log check is meaningful: an online pull of the same (absent) image shows up.
    let err = pull::pull("busybox-test:1", &options(mirrors), &dir.path().join("online"), &|_| false, &|_| {})
        .await
        .expect_err("not pushed");
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(registry.request_lines().len() > before, "registry log:\n{}", registry.log_text());
}

#[tokio::test]
async fn docker_io_mirror_from_registries_yaml() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::start("", tempfile::tempdir().expect("tempdir"));
    let image = TestImage::new("amd64");
    Pusher::new(&registry.host(), RegistryAuth::Anonymous)
        .push_image("library/busybox-test", "1", &image)
        .await;
    let other = TestImage::new("arm64");
    Pusher::new(&registry.host(), RegistryAuth::Anonymous)
        .push_image("mirrored/tools", "2", &other)
        .await;
    let mirrors = registries_yaml(
        dir.path(),
        &format!(
            "mirrors:\n  docker.io:\n    endpoint:\n      - \"http://{}\"\n    rewrite:\n      \"^someorg/(.*)\": \"mirrored/$1\"\n",
            registry.host()
        ),
    );
    // disable_default_endpoint (set by options()) keeps a failure here from ever reaching docker.io.
    let pulled = pull::pull("busybox-test:1", &options(mirrors.clone()), &dir.path().join("layout"), &|_| false, &|_| {})
        .await
        .expect("pull through the mirror");
    assert_eq!(pulled.name, "docker.io/library/busybox-test:1");
    assert_eq!(pulled.repo_digest, format!("docker.io/library/busybox-test@{}", sha256_digest(&image.manifest)));
    assert_layout(&pulled, &image);

    // A rewrite maps someorg/tools to mirrored/tools at the mirror.
    let opts = PullOptions { platform: ("linux".into(), "arm64".into()), ..options(mirrors) };
    let pulled = pull::pull("someorg/tools:2", &opts, &dir.path().join("rewritten"), &|_| false, &|_| {})
        .await
        .expect("pull with a rewrite");
    assert_eq!(pulled.name, "docker.io/someorg/tools:2");
    assert_layout(&pulled, &other);
}

#[tokio::test]
async fn https_registry_with_custom_ca() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("ca cert");
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("leaf params");
    let leaf = leaf_params.signed_by(&leaf_key, &ca).expect("leaf cert");
    let (cert_path, key_path, ca_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"), dir.path().join("ca.crt"));
    std::fs::write(&cert_path, leaf.pem()).expect("write cert");
    std::fs::write(&key_path, leaf_key.serialize_pem()).expect("write key");
    std::fs::write(&ca_path, ca.pem()).expect("write ca");
    let tls = format!("  tls:\n    certificate: {}\n    key: {}\n", cert_path.display(), key_path.display());
    let registry = Registry::start(&tls, tempfile::tempdir().expect("tempdir"));

    // Push over https trusting the CA.
    let image = TestImage::new("amd64");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = Client::new(ClientConfig {
        extra_root_certificates: vec![oci_client::client::Certificate {
            encoding: oci_client::client::CertificateEncoding::Pem,
            data: ca.pem().into_bytes(),
        }],
        ..ClientConfig::default()
    });
    let pusher = Pusher { client, auth: RegistryAuth::Anonymous, host: registry.host() };
    pusher.push_image("tls/app", "1", &image).await;

    // A loopback registry is plain http by default: list it as its own https endpoint.
    let host = registry.host();
    let mirror = format!("mirrors:\n  \"{host}\":\n    endpoint: [\"https://{host}\"]\n");
    let reference = format!("{host}/tls/app:1");
    let with_ca = registries_yaml(dir.path(), &format!("{mirror}configs:\n  \"{host}\":\n    tls:\n      ca_file: {}\n", ca_path.display()));
    let pulled = pull::pull(&reference, &options(with_ca), &dir.path().join("ca"), &|_| false, &|_| {})
        .await
        .expect("pull trusting the CA file");
    assert_layout(&pulled, &image);

    let skip = registries_yaml(dir.path(), &format!("{mirror}configs:\n  \"{host}\":\n    tls:\n      insecure_skip_verify: true\n"));
    let pulled = pull::pull(&reference, &options(skip), &dir.path().join("skip"), &|_| false, &|_| {})
        .await
        .expect("pull skipping verification");
    assert_layout(&pulled, &image);

    let untrusted = registries_yaml(dir.path(), &mirror);
    let err = pull::pull(&reference, &options(untrusted), &dir.path().join("none"), &|_| false, &|_| {})
        .await
        .expect_err("unknown CA");
    eprintln!("untrusted CA: {err}");
    assert!(matches!(err, Error::Registry { .. }), "{err}");
    assert!(err.to_string().contains("https://127.0.0.1"), "{err}");
}
