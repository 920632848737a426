//! Registry pulls: resolves a reference through the k3s-style mirrors of `registries.yaml`,
//! follows manifest lists / OCI indexes to the node's platform and downloads manifest, config
//! and layers into an OCI image layout directory that the image store ingests.

use std::sync::Mutex;
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tracing::{debug, info, warn, Instrument};

use super::registries::{self, Endpoint, Registries, Scheme};

const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPT: &[&str] = &[MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST, MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST];
/// Layers downloaded at once.
const PARALLEL_LAYERS: usize = 3;
/// Annotation carrying the full image name in the layout's index.json (containerd's).
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// OCI's tag annotation.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The repo digest (`name@sha256:...` of what the reference resolved to).
pub const ANNOTATION_REPO_DIGEST: &str = "io.minikube-rs.image.repo-digest";

/// Why a pull failed; messages follow containerd's, which the kubelet shows after
/// `Failed to pull image "x": `.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to pull and unpack image {reference:?}: invalid reference format: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("failed to pull and unpack image {image:?}: offline mode: no registry may be contacted")]
    Offline { image: String },
    #[error("failed to pull and unpack image {image:?}: failed to resolve reference {image:?}: {image}: not found")]
    NotFound { image: String },
    #[error(
        "failed to pull and unpack image {image:?}: failed to resolve reference {image:?}: pull access denied, \
         repository does not exist or may require authorization: unauthorized: {detail}"
    )]
    Unauthorized { image: String, detail: String },
    #[error("failed to pull and unpack image {image:?}: no match for platform {platform} in manifest {digest}: not found")]
    NoPlatform { image: String, platform: String, digest: String },
    #[error("failed to pull and unpack image {image:?}: {endpoint}: {detail}")]
    Registry { image: String, endpoint: String, detail: String },
    #[error("failed to pull and unpack image {image:?}: {endpoint}: unsupported endpoint path {path:?}")]
    EndpointPath { image: String, endpoint: String, path: String },
    #[error("failed to pull and unpack image {image:?}: reading CA file {path}: {source}")]
    CaFile { image: String, path: PathBuf, source: std::io::Error },
    #[error("failed to pull and unpack image {image:?}: writing {path}: {source}")]
    Io { image: String, path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Registries(#[from] registries::Error),
    #[error("importing {reference:?} into the image store: {detail}")]
    Import { reference: String, detail: String },
}

impl Error {
    /// Whether another endpoint may still have the image (the resolve step failed here).
    fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}

/// How to pull.
#[derive(Clone, Debug)]
pub struct PullOptions {
    /// Never contact a registry: every pull fails with [`Error::Offline`].
    pub offline: bool,
    pub registries: Registries,
    /// (os, architecture) in OCI names, e.g. ("linux", "amd64").
    pub platform: (String, String),
    /// k3s's `--disable-default-registry-endpoint`: registries with a mirror entry are pulled
    /// from their mirror endpoints only, never from the registry itself.
    pub disable_default_endpoint: bool,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            offline: false,
            registries: Registries::default(),
            platform: host_platform(),
            disable_default_endpoint: false,
        }
    }
}

/// linux + the host's architecture in OCI names.
pub fn host_platform() -> (String, String) {
    ("linux".to_string(), oci_arch(std::env::consts::ARCH).to_string())
}

/// Rust's architecture names to OCI's (GOARCH) names.
pub fn oci_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// What a layer download reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// The store already has the blob: not downloaded.
    Exists,
    Downloading,
    Done,
}

/// One layer's progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    pub digest: String,
    pub downloaded: u64,
    pub total: u64,
    pub state: ProgressState,
}

/// A finished pull: an OCI layout holding one image for the chosen platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pulled {
    pub layout_dir: PathBuf,
    /// The platform image manifest's digest.
    pub manifest_digest: String,
    pub config_digest: String,
    /// Normalized reference, e.g. `docker.io/library/busybox:latest`.
    pub name: String,
    /// `registry/repository@digest` of what the reference resolved to (the list's digest for
    /// a multi-platform image), as the kubelet shows in `imageID`.
    pub repo_digest: String,
}

/// Parses and normalizes a reference (`busybox` → `docker.io/library/busybox:latest`).
pub fn normalize(reference: &str) -> Result<Reference, Error> {
    reference.parse::<Reference>().map_err(|e| Error::InvalidReference {
        reference: reference.to_string(),
        reason: e.to_string(),
    })
}

/// Pulls `reference` into `dest_dir` as an OCI layout (see the module doc). Blobs `have` says
/// exist are not downloaded (and not written); `progress` hears about every layer.
pub async fn pull(
    reference: &str,
    opts: &PullOptions,
    dest_dir: &Path,
    have: &(dyn Fn(&str) -> bool + Sync),
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Pulled, Error> {
    let parsed = normalize(reference)?;
    let image = parsed.whole();
    if opts.offline {
        return Err(Error::Offline { image });
    }
    let span = tracing::info_span!("pull", image = %image);
    try_endpoints(&parsed, image, opts, dest_dir, have, progress).instrument(span).await
}

/// Tries the registry's endpoints in order; the first that resolves the reference serves it.
async fn try_endpoints(
    parsed: &Reference,
    image: String,
    opts: &PullOptions,
    dest_dir: &Path,
    have: &(dyn Fn(&str) -> bool + Sync),
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Pulled, Error> {
    let mut first_error: Option<Error> = None;
    for endpoint in opts.registries.endpoints_for(parsed.registry(), opts.disable_default_endpoint) {
        let at = EndpointPull { parsed, image: &image, endpoint: &endpoint, opts };
        match at.run(dest_dir, have, progress).await {
            Ok(pulled) => return Ok(pulled),
            Err(Failure::Resolve(e)) => {
                warn!(endpoint = %endpoint, error = %e, "endpoint could not resolve the image, trying the next");
                if first_error.as_ref().is_none_or(|f| f.is_not_found() && !e.is_not_found()) {
                    first_error = Some(e);
                }
            }
            Err(Failure::Fatal(e)) => return Err(e),
        }
    }
    Err(first_error.unwrap_or(Error::NotFound { image }))
}

/// Failures at one endpoint: before the reference resolved (try the next endpoint) or after.
enum Failure {
    Resolve(Error),
    Fatal(Error),
}

/// A pull from one endpoint.
struct EndpointPull<'a> {
    parsed: &'a Reference,
    image: &'a str,
    endpoint: &'a Endpoint,
    opts: &'a PullOptions,
}

/// The fields of manifests, lists and indexes a pull needs.
#[derive(Debug, Deserialize)]
struct ManifestDoc {
    #[serde(rename = "schemaVersion")]
    schema_version: i64,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

#[derive(Clone, Debug, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: i64,
    #[serde(default)]
    platform: Option<PlatformSpec>,
    #[serde(default)]
    urls: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize)]
struct PlatformSpec {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl Descriptor {
    fn oci(&self) -> OciDescriptor {
        OciDescriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.size,
            urls: self.urls.clone(),
            annotations: None,
            artifact_type: None,
        }
    }
}

impl EndpointPull<'_> {
    async fn run(
        &self,
        dest_dir: &Path,
        have: &(dyn Fn(&str) -> bool + Sync),
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<Pulled, Failure> {
        if !self.endpoint.has_api_root_path() {
            return Err(Failure::Resolve(Error::EndpointPath {
                image: self.image.to_string(),
                endpoint: self.endpoint.to_string(),
                path: self.endpoint.path.clone(),
            }));
        }
        let client = self.client().map_err(Failure::Resolve)?;
        let auth = self.auth().map_err(Failure::Resolve)?;
        let target = self.target();
        debug!(endpoint = %self.endpoint, target = %target, "resolving");
        let (top, top_digest) = client
            .pull_manifest_raw(&target, &auth, ACCEPT)
            .await
            .map_err(|e| Failure::Resolve(self.classify(e)))?;
        info!(endpoint = %self.endpoint, digest = %top_digest, "resolved");
        let repo_digest = format!("{}/{}@{}", self.parsed.registry(), self.parsed.repository(), top_digest);
        let fatal = Failure::Fatal;
        let top_doc = self.parse_doc(&top, &top_digest).map_err(fatal)?;
        let (manifest_bytes, manifest_digest, manifest_doc, index_entry_type) = match &top_doc.manifests {
            Some(entries) => {
                let entry = self.select_platform(entries, &top_digest).map_err(fatal)?;
                let (bytes, digest) = client
                    .pull_manifest_raw(&target.clone_with_digest(entry.digest.clone()), &auth, ACCEPT)
                    .await
                    .map_err(|e| fatal(self.classify(e)))?;
                let doc = self.parse_doc(&bytes, &digest).map_err(fatal)?;
                (bytes, digest, doc, Some(entry.media_type.clone()))
            }
            None => (top.clone(), top_digest.clone(), top_doc, None),
        };
        let (Some(config), Some(layers)) = (manifest_doc.config.clone(), manifest_doc.layers.clone()) else {
            return Err(fatal(self.registry_error(format!("manifest {manifest_digest} has no config or layers"))));
        };
        let media_type = manifest_doc
            .media_type
            .clone()
            .or(index_entry_type.filter(|t| !t.is_empty()))
            .unwrap_or_else(|| MEDIA_OCI_MANIFEST.to_string());

        let layout = Layout { dir: dest_dir, image: self.image };
        layout.create().await.map_err(fatal)?;
        layout.write_blob(&manifest_digest, &manifest_bytes).await.map_err(fatal)?;
        let config_bytes = self.fetch_small(&client, &target, &config).await.map_err(fatal)?;
        layout.write_blob(&config.digest, &config_bytes).await.map_err(fatal)?;
        self.fetch_layers(&client, &target, &layout, &layers, have, progress).await.map_err(fatal)?;
        let descriptor = ManifestRef {
            media_type: &media_type,
            digest: &manifest_digest,
            size: manifest_bytes.len(),
            name: self.image,
            tag: self.parsed.tag(),
            repo_digest: &repo_digest,
            platform: &self.opts.platform,
        };
        layout.write_index(&descriptor).await.map_err(fatal)?;
        Ok(Pulled {
            layout_dir: dest_dir.to_path_buf(),
            manifest_digest,
            config_digest: config.digest,
            name: self.image.to_string(),
            repo_digest,
        })
    }

    /// One oci-client per endpoint: its scheme, CA and verification settings.
    fn client(&self) -> Result<Client, Error> {
        let host = &self.endpoint.host;
        let tls = self.opts.registries.config_for(host).and_then(|c| c.tls.clone()).unwrap_or_default();
        let mut extra_root_certificates = Vec::new();
        if let Some(path) = &tls.ca_file {
            let data = std::fs::read(path).map_err(|source| Error::CaFile {
                image: self.image.to_string(),
                path: path.clone(),
                source,
            })?;
            extra_root_certificates.push(Certificate { encoding: CertificateEncoding::Pem, data });
        }
        if tls.cert_file.is_some() || tls.key_file.is_some() {
            warn!(host = %host, "registries.yaml: client certificates (cert_file/key_file) are not supported; ignored");
        }
        let config = ClientConfig {
            protocol: match self.endpoint.scheme {
                Scheme::Http => ClientProtocol::Http,
                Scheme::Https => ClientProtocol::Https,
            },
            accept_invalid_certificates: tls.insecure_skip_verify,
            extra_root_certificates,
            platform_resolver: None,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            user_agent: concat!("minikube-rs/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        // reqwest is built without a crypto provider of its own: rustls uses the process's,
        // ring, as the API server does (one provider, no aws-lc-rs in the build).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client::try_from(config).map_err(|e| self.registry_error(error_chain(&e)))
    }

    fn auth(&self) -> Result<RegistryAuth, Error> {
        Ok(match self.opts.registries.credentials_for(&self.endpoint.host)? {
            Some((user, password)) => RegistryAuth::Basic(user, password),
            None => RegistryAuth::Anonymous,
        })
    }

    /// The reference as the endpoint knows it: its host, the (rewritten) repository.
    fn target(&self) -> Reference {
        let repository =
            self.opts.registries.rewrite(self.parsed.registry(), self.endpoint, self.parsed.repository());
        let host = self.endpoint.host.clone();
        match (self.parsed.tag(), self.parsed.digest()) {
            (Some(tag), Some(digest)) => {
                Reference::with_tag_and_digest(host, repository, tag.to_string(), digest.to_string())
            }
            (None, Some(digest)) => Reference::with_digest(host, repository, digest.to_string()),
            (tag, None) => Reference::with_tag(host, repository, tag.unwrap_or("latest").to_string()),
        }
    }

    fn parse_doc(&self, bytes: &[u8], digest: &str) -> Result<ManifestDoc, Error> {
        let doc: ManifestDoc = serde_json::from_slice(bytes)
            .map_err(|e| self.registry_error(format!("manifest {digest}: {e}")))?;
        if doc.schema_version != 2 {
            return Err(self.registry_error(format!(
                "manifest {digest}: schema version {} is not supported",
                doc.schema_version
            )));
        }
        Ok(doc)
    }

    /// The index entry for the wanted platform; for arm64 an entry without variant or `v8`.
    fn select_platform<'d>(&self, entries: &'d [Descriptor], index_digest: &str) -> Result<&'d Descriptor, Error> {
        let (os, arch) = &self.opts.platform;
        let matching = |e: &&Descriptor| {
            e.platform.as_ref().is_some_and(|p| &p.os == os && &p.architecture == arch)
        };
        let preferred_variant = match arch.as_str() {
            "arm64" => Some("v8"),
            "arm" => Some("v7"),
            _ => None,
        };
        let best = entries
            .iter()
            .filter(matching)
            .find(|e| {
                let variant = e.platform.as_ref().and_then(|p| p.variant.as_deref());
                variant.is_none() || variant == preferred_variant
            })
            .or_else(|| entries.iter().find(matching));
        best.ok_or_else(|| Error::NoPlatform {
            image: self.image.to_string(),
            platform: format!("{os}/{arch}"),
            digest: index_digest.to_string(),
        })
    }

    async fn fetch_small(&self, client: &Client, target: &Reference, desc: &Descriptor) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(usize::try_from(desc.size).unwrap_or(0).min(1 << 20));
        client.pull_blob(target, &desc.oci(), &mut out).await.map_err(|e| self.classify(e))?;
        Ok(out)
    }

    async fn fetch_layers(
        &self,
        client: &Client,
        target: &Reference,
        layout: &Layout<'_>,
        layers: &[Descriptor],
        have: &(dyn Fn(&str) -> bool + Sync),
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<(), Error> {
        let mut pending = Vec::new();
        for layer in layers {
            let total = u64::try_from(layer.size).unwrap_or(0);
            if have(&layer.digest) {
                progress(Progress { digest: layer.digest.clone(), downloaded: 0, total, state: ProgressState::Exists });
            } else if !pending.iter().any(|l: &&Descriptor| l.digest == layer.digest) {
                pending.push(layer);
            }
        }
        let mut downloads = futures::stream::iter(pending)
            .map(|layer| self.fetch_layer(client, target, layout, layer, progress))
            .buffer_unordered(PARALLEL_LAYERS);
        while let Some(result) = downloads.next().await {
            result?;
        }
        Ok(())
    }

    async fn fetch_layer(
        &self,
        client: &Client,
        target: &Reference,
        layout: &Layout<'_>,
        layer: &Descriptor,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<(), Error> {
        let total = u64::try_from(layer.size).unwrap_or(0);
        let report = |downloaded, state| {
            progress(Progress { digest: layer.digest.clone(), downloaded, total, state })
        };
        report(0, ProgressState::Downloading);
        let path = layout.blob_path(&layer.digest)?;
        let partial = path.with_extension("partial");
        let io = |source| Error::Io { image: self.image.to_string(), path: partial.clone(), source };
        let mut stream = client.pull_blob_stream(target, &layer.oci()).await.map_err(|e| self.classify(e))?;
        let mut file = tokio::fs::File::create(&partial).await.map_err(io)?;
        let mut downloaded = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.registry_error(format!("layer {}: {e}", layer.digest)))?;
            file.write_all(&chunk).await.map_err(io)?;
            downloaded += chunk.len() as u64;
            report(downloaded, ProgressState::Downloading);
        }
        file.sync_all().await.map_err(io)?;
        drop(file);
        tokio::fs::rename(&partial, &path).await.map_err(io)?;
        debug!(digest = %layer.digest, bytes = downloaded, "layer downloaded");
        report(downloaded, ProgressState::Done);
        Ok(())
    }

    fn registry_error(&self, detail: String) -> Error {
        Error::Registry { image: self.image.to_string(), endpoint: self.endpoint.to_string(), detail }
    }

    /// Maps oci-client's errors to not found / unauthorized / the rest.
    fn classify(&self, e: OciDistributionError) -> Error {
        let image = self.image.to_string();
        match &e {
            OciDistributionError::UnauthorizedError { url } => {
                Error::Unauthorized { image, detail: format!("401 Unauthorized from {url}") }
            }
            OciDistributionError::AuthenticationFailure(reason) => {
                Error::Unauthorized { image, detail: format!("failed to fetch token: {}", reason.trim()) }
            }
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                let messages: Vec<&str> = envelope.errors.iter().map(|e| e.message.as_str()).collect();
                if codes.iter().any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied)) {
                    Error::Unauthorized { image, detail: messages.join("; ") }
                } else if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                            | OciErrorCode::BlobUnknown
                    )
                }) {
                    Error::NotFound { image }
                } else {
                    self.registry_error(messages.join("; "))
                }
            }
            OciDistributionError::ServerError { code: 404, .. } => Error::NotFound { image },
            OciDistributionError::ServerError { code: 401 | 403, message, .. } => {
                Error::Unauthorized { image, detail: message.trim().to_string() }
            }
            OciDistributionError::ImageManifestNotFoundError(_) => Error::NotFound { image },
            _ => self.registry_error(error_chain(&e)),
        }
    }
}

/// An error and its sources, `: `-joined (reqwest hides the cause in the chain).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The layout's one manifest entry.
struct ManifestRef<'a> {
    media_type: &'a str,
    digest: &'a str,
    size: usize,
    name: &'a str,
    tag: Option<&'a str>,
    repo_digest: &'a str,
    platform: &'a (String, String),
}

/// Writing an OCI image layout.
struct Layout<'a> {
    dir: &'a Path,
    image: &'a str,
}

impl Layout<'_> {
    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        let path = path.to_path_buf();
        move |source| Error::Io { image: self.image.to_string(), path, source }
    }

    async fn create(&self) -> Result<(), Error> {
        let blobs = self.dir.join("blobs/sha256");
        tokio::fs::create_dir_all(&blobs).await.map_err(self.io(&blobs))?;
        let marker = self.dir.join("oci-layout");
        tokio::fs::write(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#).await.map_err(self.io(&marker))
    }

    /// `blobs/sha256/<hex>`, refusing digests that are not sha256 hex.
    fn blob_path(&self, digest: &str) -> Result<PathBuf, Error> {
        match digest.split_once(':') {
            Some(("sha256", hex)) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(self.dir.join("blobs/sha256").join(hex))
            }
            _ => Err(Error::Registry {
                image: self.image.to_string(),
                endpoint: String::new(),
                detail: format!("unsupported digest {digest:?}"),
            }),
        }
    }

    async fn write_blob(&self, digest: &str, data: &[u8]) -> Result<(), Error> {
        let path = self.blob_path(digest)?;
        tokio::fs::write(&path, data).await.map_err(self.io(&path))
    }

    async fn write_index(&self, m: &ManifestRef<'_>) -> Result<(), Error> {
        let mut annotations = serde_json::Map::new();
        annotations.insert(ANNOTATION_IMAGE_NAME.into(), m.name.into());
        if let Some(tag) = m.tag {
            annotations.insert(ANNOTATION_REF_NAME.into(), tag.into());
        }
        annotations.insert(ANNOTATION_REPO_DIGEST.into(), m.repo_digest.into());
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_INDEX,
            "manifests": [{
                "mediaType": m.media_type,
                "digest": m.digest,
                "size": m.size,
                "annotations": annotations,
                "platform": {"os": m.platform.0, "architecture": m.platform.1},
            }],
        });
        let path = self.dir.join("index.json");
        let bytes = serde_json::to_vec_pretty(&index).map_err(|e| self.io(&path)(std::io::Error::other(e)))?;
        tokio::fs::write(&path, bytes).await.map_err(self.io(&path))
    }
}

/// The store side of `image pull`: which blobs it has, and ingesting a layout.
pub trait LayoutImporter: Sync {
    fn has_blob(&self, digest: &str) -> bool;
    /// Imports the layout's image under `names`; returns the names now present.
    fn import(&self, dir: &Path, names: &[String]) -> Result<Vec<String>, String>;
}

/// `minikube-rs image pull REF`: pulls with the profile's registries file and offline flag,
/// showing progress on stderr, and imports the result into the profile's image store.
pub async fn pull_cli(config: &crate::config::Config, reference: &str) -> Result<(), Error> {
    let store = super::ImageStore::open(&config.node_profile().images_dir())
        .map_err(|e| Error::Import { reference: reference.to_string(), detail: e.to_string() })?;
    pull_cli_with(config, reference, &store).await
}

impl LayoutImporter for super::ImageStore {
    fn has_blob(&self, digest: &str) -> bool {
        super::ImageStore::has_blob(self, digest)
    }
    fn import(&self, dir: &Path, names: &[String]) -> Result<Vec<String>, String> {
        self.import_oci_layout(dir, names)
            .map(|images| images.into_iter().flat_map(|i| i.names).collect())
            .map_err(|e| e.to_string())
    }
}

/// [`pull_cli`] with the store given: the body of `image pull`.
pub async fn pull_cli_with(
    config: &crate::config::Config,
    reference: &str,
    store: &dyn LayoutImporter,
) -> Result<(), Error> {
    let opts = PullOptions {
        offline: config.offline,
        registries: Registries::load(&config.registries)?,
        platform: host_platform(),
        disable_default_endpoint: config.disable_default_registry_endpoint,
    };
    let tmp = config.data_dir.join("tmp").join(format!("pull-{}", uuid::Uuid::new_v4().simple()));
    let bar = ProgressDisplay::new(std::io::stderr().is_terminal());
    let result = pull(reference, &opts, &tmp, &|d| store.has_blob(d), &|p| bar.update(p)).await;
    bar.finish();
    let outcome = match result {
        Ok(pulled) => store
            .import(&pulled.layout_dir, std::slice::from_ref(&pulled.name))
            .map(|names| {
                eprintln!("{}: {}", pulled.name, pulled.repo_digest);
                for name in names {
                    println!("{name}");
                }
            })
            .map_err(|detail| Error::Import { reference: pulled.name.clone(), detail }),
        Err(e) => Err(e),
    };
    if tokio::fs::metadata(&tmp).await.is_ok() && !matches!(outcome, Err(Error::Import { .. })) {
        let _ = tokio::fs::remove_dir_all(&tmp).await;
    }
    outcome
}

/// Progress on stderr: redrawn bars on a terminal, one line per finished layer otherwise.
struct ProgressDisplay {
    tty: bool,
    state: Mutex<DisplayState>,
}

#[derive(Default)]
struct DisplayState {
    layers: Vec<Progress>,
    drawn_lines: usize,
    last_draw: Option<Instant>,
}

impl ProgressDisplay {
    fn new(tty: bool) -> ProgressDisplay {
        ProgressDisplay { tty, state: Mutex::new(DisplayState::default()) }
    }

    fn update(&self, p: Progress) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let finished = p.state != ProgressState::Downloading;
        if !self.tty && finished {
            eprintln!("{}", progress_line(&p, false));
        }
        match state.layers.iter_mut().find(|l| l.digest == p.digest) {
            Some(slot) => *slot = p,
            None => state.layers.push(p),
        }
        let due = state.last_draw.is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if self.tty && (finished || due) {
            redraw(&mut state);
        }
    }

    fn finish(&self) {
        if self.tty {
            redraw(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }
}

fn redraw(state: &mut DisplayState) {
    let mut err = std::io::stderr().lock();
    let mut text = String::new();
    if state.drawn_lines > 0 {
        text.push_str(&format!("\x1b[{}A", state.drawn_lines));
    }
    for layer in &state.layers {
        text.push_str("\r\x1b[2K");
        text.push_str(&progress_line(layer, true));
        text.push('\n');
    }
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
    state.drawn_lines = state.layers.len();
    state.last_draw = Some(Instant::now());
}

/// `sha256:0123456789ab: downloading  1.2 MiB / 3.4 MiB [=====>      ]`.
fn progress_line(p: &Progress, with_bar: bool) -> String {
    let short: String = p.digest.chars().take("sha256:".len() + 12).collect();
    let (word, done) = match p.state {
        ProgressState::Exists => ("already exists", p.total),
        ProgressState::Downloading => ("downloading", p.downloaded),
        ProgressState::Done => ("done", p.downloaded),
    };
    let mut line = format!("{short}: {word:<14} {:>9} / {:<9}", human(done), human(p.total));
    if with_bar {
        const WIDTH: u64 = 30;
        let filled = if p.total == 0 { WIDTH } else { (done.min(p.total) * WIDTH) / p.total };
        let filled = usize::try_from(filled).unwrap_or(0);
        line.push_str(&format!(" [{}{}]", "=".repeat(filled), " ".repeat(WIDTH as usize - filled)));
    }
    line
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_docker_hub_names() {
        assert_eq!(normalize("busybox").expect("ref").whole(), "docker.io/library/busybox:latest");
        assert_eq!(normalize("busybox-test:1").expect("ref").whole(), "docker.io/library/busybox-test:1");
        assert_eq!(normalize("127.0.0.1:5000/a/b:2").expect("ref").whole(), "127.0.0.1:5000/a/b:2");
        let err = normalize("bad@@ref").expect_err("invalid");
        assert!(err.to_string().contains("invalid reference format"), "{err}");
    }

    #[test]
    fn maps_rust_arch_to_oci() {
        assert_eq!(oci_arch("x86_64"), "amd64");
        assert_eq!(oci_arch("aarch64"), "arm64");
        assert_eq!(host_platform().0, "linux");
    }

    #[tokio::test]
    async fn offline_fails_before_any_network() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = PullOptions { offline: true, ..PullOptions::default() };
        let err = pull("busybox", &opts, dir.path(), &|_| false, &|_| {}).await.expect_err("offline");
        assert!(matches!(err, Error::Offline { .. }));
        assert_eq!(
            err.to_string(),
            "failed to pull and unpack image \"docker.io/library/busybox:latest\": offline mode: no registry may be contacted"
        );
        assert!(!dir.path().join("index.json").exists());
    }

    fn entry(digest: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: MEDIA_OCI_MANIFEST.into(),
            digest: digest.into(),
            size: 1,
            platform: Some(PlatformSpec { os: "linux".into(), architecture: arch.into(), variant: variant.map(Into::into) }),
            urls: None,
        }
    }

    #[test]
    fn selects_the_platform_entry() {
        let parsed = normalize("x").expect("ref");
        let endpoint = Endpoint::default_for("docker.io");
        let mut opts = PullOptions { platform: ("linux".into(), "arm64".into()), ..PullOptions::default() };
        let entries = vec![entry("a", "amd64", None), entry("b", "arm64", Some("v7")), entry("c", "arm64", Some("v8"))];
        let at = EndpointPull { parsed: &parsed, image: "x", endpoint: &endpoint, opts: &opts };
        assert_eq!(at.select_platform(&entries, "i").expect("arm64").digest, "c");
        opts.platform.1 = "amd64".into();
        let at = EndpointPull { parsed: &parsed, image: "x", endpoint: &endpoint, opts: &opts };
        assert_eq!(at.select_platform(&entries, "i").expect("amd64").digest, "a");
        opts.platform.1 = "s390x".into();
        let at = EndpointPull { parsed: &parsed, image: "x", endpoint: &endpoint, opts: &opts };
        assert!(matches!(at.select_platform(&entries, "i"), Err(Error::NoPlatform { .. })));
    }

    #[test]
    fn progress_lines() {
        let p = Progress { digest: format!("sha256:{}", "ab".repeat(32)), downloaded: 512, total: 2048, state: ProgressState::Downloading };
        let line = progress_line(&p, true);
        assert!(line.starts_with("sha256:abababababab: downloading"), "{line}");
        assert!(line.contains("512 B / 2.0 KiB"), "{line}");
        assert!(line.ends_with(&format!("[{}{}]", "=".repeat(7), " ".repeat(23))), "{line}");
    }
}
