//! Shared by the registry tests: Debian's `docker-registry` on loopback, a token issuer
//! signing ES256 JWTs, one-layer test images and a pusher speaking the registry API v2.
#![allow(dead_code)]

use std::io::Write as _;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
pub const USER: &str = "puller";
pub const PASSWORD: &str = "s3cret-pass";

/// Whether the tools are here; panics under CI=true when they are not.
pub fn tools_present() -> bool {
    let missing: Vec<&str> = [REGISTRY_BIN, "htpasswd"]
        .into_iter()
        .filter(|bin| which(bin).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("registry_pull: missing {missing:?} under CI=true (scripts/test.sh installs docker-registry, apache2-utils)");
    }
    eprintln!("registry_pull: skipping, missing {missing:?} (apt-get install docker-registry apache2-utils)");
    false
}

pub fn which(bin: &str) -> Option<PathBuf> {
    if bin.contains('/') {
        return Path::new(bin).exists().then(|| PathBuf::from(bin));
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.exists())
}

pub fn free_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// A running `docker-registry serve` on a loopback port, killed on drop.
pub struct Registry {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
    pub _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry; `extra_yaml` is appended right after `http:\n  addr: ...`, so an
    /// indented block (`  tls:`) extends `http` and a top-level one (`auth:`) stands alone.
    pub fn start(extra_yaml: &str, dir: tempfile::TempDir) -> Registry {
        let port = free_port();
        let config = dir.path().join("config.yml");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).expect("storage dir");
        let text = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{extra_yaml}",
            storage.display()
        );
        std::fs::write(&config, text).expect("write registry config");
        let log = dir.path().join("registry.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("clone log file");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn docker-registry");
        let mut registry = Registry { child, port, log, _dir: dir };
        registry.wait_ready();
        registry
    }

    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("docker-registry exited with {status}: {}", self.log_text());
            }
            assert!(Instant::now() < deadline, "docker-registry not listening: {}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Lines of the log that record an HTTP request.
    pub fn request_lines(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| l.contains("http.request.method") || l.contains("\"GET ") || l.contains("\"HEAD "))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// A one-layer image for `arch`: (manifest bytes, config bytes, layer bytes).
pub struct TestImage {
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
}

impl TestImage {
    pub fn new(arch: &str) -> TestImage {
        let mut tar = tar::Builder::new(Vec::new());
        let content = format!("hello from {arch}\n");
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "hello.txt", content.as_bytes()).expect("tar entry");
        let raw = tar.into_inner().expect("tar");
        TestImage::from_layer(arch, raw, &["/hello"])
    }

    /// A one-layer image from an uncompressed layer tar and the image's Cmd.
    pub fn from_layer(arch: &str, raw: Vec<u8>, cmd: &[&str]) -> TestImage {
        let diff_id = sha256_digest(&raw);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&raw).expect("gzip");
        let layer = gz.finish().expect("gzip finish");
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": cmd},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }))
        .expect("config json");
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256_digest(&config),
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": sha256_digest(&layer),
                "size": layer.len(),
            }],
        }))
        .expect("manifest json");
        TestImage { manifest, config, layer }
    }
}

/// Pushes with the registry API v2 through oci-client (plain http on loopback).
pub struct Pusher {
    pub client: Client,
    pub auth: RegistryAuth,
    pub host: String,
}

impl Pusher {
    pub fn new(host: &str, auth: RegistryAuth) -> Pusher {
        // reqwest is built without a crypto provider: the process's (ring) is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::new(ClientConfig { protocol: ClientProtocol::Http, ..ClientConfig::default() });
        Pusher { client, auth, host: host.to_string() }
    }

    pub async fn push_image(&self, repository: &str, tag: &str, image: &TestImage) -> String {
        let reference = Reference::with_tag(self.host.clone(), repository.to_string(), tag.to_string());
        self.client
            .auth(&reference, &self.auth, oci_client::RegistryOperation::Push)
            .await
            .expect("auth for push");
        for blob in [&image.config, &image.layer] {
            self.client
                .push_blob(&reference, blob.clone(), &sha256_digest(blob))
                .await
                .expect("push blob");
        }
        self.push_manifest(repository, tag, &image.manifest, "application/vnd.oci.image.manifest.v1+json").await
    }

    pub async fn push_manifest(&self, repository: &str, reference: &str, body: &[u8], media_type: &str) -> String {
        let target = Reference::with_tag(self.host.clone(), repository.to_string(), reference.to_string());
        self.client
            .auth(&target, &self.auth, oci_client::RegistryOperation::Push)
            .await
            .expect("auth for push");
        self.client
            .push_manifest_raw(&target, body.to_vec(), media_type.parse().expect("content type"))
            .await
            .expect("push manifest");
        sha256_digest(body)
    }
}


pub fn htpasswd_file(dir: &Path) -> PathBuf {
    let out = Command::new("htpasswd").args(["-Bbn", USER, PASSWORD]).output().expect("run htpasswd");
    assert!(out.status.success(), "htpasswd: {}", String::from_utf8_lossy(&out.stderr));
    let path = dir.join("htpasswd");
    std::fs::write(&path, &out.stdout).expect("write htpasswd");
    path
}


/// A token issuer on loopback: checks basic credentials, returns an ES256 JWT whose `x5c` is
/// the self-signed certificate the registry trusts (its `rootcertbundle`).
pub struct TokenIssuer {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
    pub task: tokio::task::JoinHandle<()>,
}

pub const ISSUER: &str = "test-issuer";
pub const SERVICE: &str = "test-registry";

impl TokenIssuer {
    pub async fn start(cert_bundle: &Path) -> TokenIssuer {
        let rng = ring::rand::SystemRandom::new();
        let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("generate key");
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("load key");
        let rc_key = rcgen::KeyPair::try_from(pkcs8.as_ref()).expect("rcgen key");
        let mut params = rcgen::CertificateParams::new(vec!["token-issuer".to_string()]).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&rc_key).expect("self-signed cert");
        std::fs::write(cert_bundle, cert.pem()).expect("write rootcertbundle");
        let x5c = base64::engine::general_purpose::STANDARD.encode(cert.der().as_ref());

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind issuer");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let signer = Arc::new((key, x5c, rng));
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let signer = signer.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let request = String::from_utf8_lossy(&buf).to_string();
                    let response = token_response(&request, &signer.0, &signer.1, &signer.2);
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        TokenIssuer { port, requests, task }
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// Answers one token request: 401 without the right basic credentials, else a JWT granting
/// the requested scope.
pub fn token_response(
    request: &str,
    key: &ring::signature::EcdsaKeyPair,
    x5c: &str,
    rng: &ring::rand::SystemRandom,
) -> String {
    let expected = format!(
        "authorization: basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    )
    .to_lowercase();
    if !request.lines().any(|l| l.to_lowercase() == expected) {
        let body = r#"{"details":"invalid credentials"}"#;
        return format!("HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let query = path.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut access = Vec::new();
    for pair in query.split('&') {
        let Some(("scope", value)) = pair.split_once('=') else { continue };
        let scope = percent_encoding::percent_decode_str(value).decode_utf8_lossy().to_string();
        let mut parts = scope.splitn(3, ':');
        if let (Some(kind), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next()) {
            access.push(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}));
        }
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": USER, "aud": SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": format!("{now}-{}", rand_suffix()),
        "access": access,
    });
    let signing_input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let signature = key.sign(rng, signing_input.as_bytes()).expect("sign");
    let token = format!("{signing_input}.{}", b64url(signature.as_ref()));
    let body = serde_json::json!({"token": token, "access_token": token, "expires_in": 300}).to_string();
    format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

pub fn rand_suffix() -> u64 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst) as u64
}
