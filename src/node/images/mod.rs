//! The node's image store: content-addressed blobs, layers unpacked once for overlayfs, an
//! index of names, imports from archives and OCI layouts, and the built-in images.
//!
//! Layout under the profile's images dir:
//! - `blobs/sha256/<hex>`: manifests, configs and layer blobs, verified on import;
//! - `layers/<diff id hex>/`: each layer unpacked once, whiteouts mapped for overlayfs;
//! - `images.json`: the index (image id → manifest, names, repo digests), replaced by atomic
//!   rename under `images.lock` (an flock), so the server and the CLI can share the store;
//! - `tmp/`: staging for blobs, layers and archives, renamed into place when complete.
//!
//! Nothing is cached in memory: every read goes to the files, so a store opened by the
//! server sees what `minikube-rs image load` wrote a moment ago.
//!
//! - `registries`: k3s's registries.yaml (mirrors, credentials, TLS) and endpoint order.
//! - `pull`: registry pulls into an OCI image layout directory, which the store ingests.

mod archive;
mod builtin;
pub mod cli;
mod layer;
pub mod pull;
pub mod reference;
pub mod registries;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use layer::OPAQUE_XATTR;
pub use reference::Reference;

/// Errors of the image store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Kubernetes shows this as InvalidImageName ("Failed to apply default image tag ...").
    #[error("couldn't parse image name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("no such image: {reference}")]
    NotFound { reference: String },
    #[error("image id prefix {prefix:?} matches more than one image")]
    Ambiguous { prefix: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: digest mismatch: expected {expected}, content is {actual}")]
    DigestMismatch { path: PathBuf, expected: String, actual: String },
    #[error("layer {path}: {reason}")]
    Layer { path: PathBuf, reason: String },
    #[error("loading {path}: {reason}")]
    Archive { path: PathBuf, reason: String },
    #[error("built-in image {name}: {reason}")]
    Builtin { name: String, reason: String },
}

impl Error {
    fn io(action: &'static str, path: &Path, source: io::Error) -> Error {
        Error::Io { action, path: path.to_path_buf(), source }
    }

    fn format(path: &Path, reason: impl std::fmt::Display) -> Error {
        Error::Format { path: path.to_path_buf(), reason: reason.to_string() }
    }
}

/// Age after which a staging entry in `tmp/` is taken for a crashed import's leftover.
const STALE_STAGING: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// What a container needs from its image's config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// "KEY=value" entries.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    /// "8000/tcp" entries.
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
}

/// An image in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// "sha256:<config digest>".
    pub id: String,
    /// Normalized references, e.g. "docker.io/library/busybox:latest".
    pub names: Vec<String>,
    /// "docker.io/library/busybox@sha256:<manifest digest>" when known.
    pub repo_digests: Vec<String>,
    /// Digest of the manifest the store keeps for it.
    pub manifest_digest: String,
    /// Unpacked layer dirs, bottom first (overlayfs lowerdirs are given top first).
    pub layers: Vec<PathBuf>,
    pub config: ImageConfig,
    /// Bytes of the config and the layer blobs as stored.
    pub size: u64,
}

/// One image of the index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    id: String,
    manifest: String,
    names: Vec<String>,
    repo_digests: Vec<String>,
}

/// `images.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Index {
    images: Vec<Record>,
}

/// An image about to be registered: its manifest is in the blob store with everything it
/// references.
struct Pending {
    manifest: String,
    names: Vec<String>,
    repo_digests: Vec<String>,
}

/// The image store of one profile. Cheap to clone; holds no state but its directory.
#[derive(Clone, Debug)]
pub struct ImageStore {
    root: PathBuf,
}

/// An exclusive flock on `images.lock`, held while the index or the blobs change.
struct StoreLock {
    _lock: nix::fcntl::Flock<fs::File>,
}

impl ImageStore {
    /// Opens (creating) the store at `dir`, normally `NodeProfile::images_dir()`.
    pub fn open(dir: &Path) -> Result<ImageStore, Error> {
        let store = ImageStore { root: dir.to_path_buf() };
        for sub in [store.blobs_dir(), store.layers_dir(), store.tmp_dir()] {
            fs::create_dir_all(&sub).map_err(|e| Error::io("creating", &sub, e))?;
        }
        store.remove_stale_staging();
        Ok(store)
    }

    /// Best effort: drops what a crashed import left in `tmp/`. Only entries older than
    /// [`STALE_STAGING`] go, so another process's import in progress is left alone.
    fn remove_stale_staging(&self) {
        let dir = self.tmp_dir();
        let Ok(entries) = fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age > STALE_STAGING);
            if !stale {
                continue;
            }
            let path = entry.path();
            let removed = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
            match removed {
                Ok(()) => tracing::info!(path = %path.display(), "removed a stale staging entry"),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "removing a stale staging entry"),
            }
        }
    }

    /// Normalizes a reference as the kubelet does: "busybox" → "docker.io/library/busybox:latest".
    pub fn normalize(reference: &str) -> Result<String, Error> {
        Reference::parse(reference).map(|r| r.to_string())
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The image a reference names: a name (any spelling), a digest reference, an id or a
    /// unique id prefix.
    pub fn get(&self, reference: &str) -> Result<Option<Image>, Error> {
        let index = self.read_index()?;
        match find(&index, reference)? {
            Some((i, _)) => self.image(&index.images[i]).map(Some),
            None => Ok(None),
        }
    }

    /// Every image, sorted by first name (unnamed ones last, by id).
    pub fn list(&self) -> Result<Vec<Image>, Error> {
        let index = self.read_index()?;
        let mut images = index.images.iter().map(|r| self.image(r)).collect::<Result<Vec<_>, _>>()?;
        images.sort_by(|a, b| {
            let key = |i: &Image| (i.names.is_empty(), i.names.first().cloned(), i.id.clone());
            key(a).cmp(&key(b))
        });
        Ok(images)
    }

    /// Removes a name (the image goes when its last name does), or a whole image when given
    /// an id or a digest reference; then drops blobs and layers no image uses. Whether a
    /// container still uses the image is the caller's business.
    pub fn remove(&self, reference: &str) -> Result<(), Error> {
        let _span = tracing::info_span!("image_remove", reference).entered();
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let Some((i, by_name)) = find(&index, reference)? else {
            return Err(Error::NotFound { reference: reference.to_string() });
        };
        match by_name {
            Some(name) => {
                let record = &mut index.images[i];
                record.names.retain(|n| *n != name);
                let repos: BTreeSet<String> = record.names.iter().map(|n| repository_of(n)).collect();
                record.repo_digests.retain(|d| repos.contains(&repository_of(d)));
                if record.names.is_empty() {
                    index.images.remove(i);
                }
            }
            None => {
                index.images.remove(i);
            }
        }
        self.write_index(&index)?;
        self.collect_garbage(&index)
    }

    /// Imports a `docker save` or OCI-archive tarball (gzip or plain).
    pub fn load_archive(&self, path: &Path) -> Result<Vec<Image>, Error> {
        archive::load(self, path)
    }

    /// Imports an OCI image layout directory; `names` (normalized here) tag every image of
    /// its index, else the index's `org.opencontainers.image.ref.name` annotations do.
    pub fn import_oci_layout(&self, dir: &Path, names: &[String]) -> Result<Vec<Image>, Error> {
        let names = names.iter().map(|n| Self::normalize(n)).collect::<Result<Vec<_>, _>>()?;
        let _lock = self.lock()?;
        let pending = archive::stage_oci_layout(self, dir, &names)?;
        self.register(pending)
    }

    /// Makes sure the built-in busybox, pause and web server images exist; cheap when they do.
    pub fn ensure_builtin(&self) -> Result<(), Error> {
        builtin::ensure(self)
    }

    // -----------------------------------------------------------------------------------
    // paths

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("images.json")
    }

    /// Whether the store holds the blob `digest` ("sha256:<hex>"): a pull skips it.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).map(|p| p.is_file()).unwrap_or(false)
    }

    /// Path of a blob by digest ("sha256:<hex>").
    fn blob_path(&self, digest: &str) -> Result<PathBuf, Error> {
        let hex = sha256_hex(digest).ok_or_else(|| Error::format(&self.root, format!("unsupported digest {digest:?}")))?;
        Ok(self.blobs_dir().join(hex))
    }

    /// The unpacked dir of a layer by diff id.
    fn layer_path(&self, diff_id: &str) -> Result<PathBuf, Error> {
        let hex = sha256_hex(diff_id).ok_or_else(|| Error::format(&self.root, format!("unsupported diff id {diff_id:?}")))?;
        Ok(self.layers_dir().join(hex))
    }

    /// A fresh staging path under `tmp/`.
    fn temp_path(&self, what: &str) -> PathBuf {
        self.tmp_dir().join(format!("{what}-{}", uuid::Uuid::new_v4().simple()))
    }

    // -----------------------------------------------------------------------------------
    // index

    fn lock(&self) -> Result<StoreLock, Error> {
        let path = self.root.join("images.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("opening", &path, e))?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, errno)| Error::io("locking", &path, errno.into()))?;
        Ok(StoreLock { _lock: lock })
    }

    fn read_index(&self) -> Result<Index, Error> {
        let path = self.index_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::format(&path, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(Error::io("reading", &path, e)),
        }
    }

    /// Replaces the index atomically (write, fsync, rename). Hold the lock.
    fn write_index(&self, index: &Index) -> Result<(), Error> {
        let path = self.index_path();
        let bytes = serde_json::to_vec_pretty(index).map_err(|e| Error::format(&path, e))?;
        let temp = self.temp_path("index");
        write_synced(&temp, &bytes)?;
        fs::rename(&temp, &path).map_err(|e| Error::io("renaming into place", &path, e))
    }

    /// Adds images whose blobs are staged: unpacks their layers, then records them, moving
    /// names other images had. Hold the lock.
    fn register(&self, pending: Vec<Pending>) -> Result<Vec<Image>, Error> {
        let mut index = self.read_index()?;
        let mut ids = Vec::new();
        for image in pending {
            let (manifest, config) = self.read_manifest_and_config(&image.manifest)?;
            self.unpack_layers(&manifest, &config)?;
            let id = manifest.config().digest().to_string();
            for record in &mut index.images {
                if record.id != id {
                    record.names.retain(|n| !image.names.contains(n));
                }
            }
            match index.images.iter_mut().find(|r| r.id == id) {
                Some(record) => {
                    record.manifest = image.manifest.clone();
                    merge(&mut record.names, &image.names);
                    merge(&mut record.repo_digests, &image.repo_digests);
                }
                None => index.images.push(Record {
                    id: id.clone(),
                    manifest: image.manifest.clone(),
                    names: image.names.clone(),
                    repo_digests: image.repo_digests.clone(),
                }),
            }
            tracing::info!(%id, names = ?image.names, "image stored");
            ids.push(id);
        }
        // An image that lost its last name to this import stays, unnamed ("<none>"), as with
        // docker: a running container may still use its layers.
        self.write_index(&index)?;
        self.collect_garbage(&index)?;
        ids.iter()
            .map(|id| {
                let record = index.images.iter().find(|r| &r.id == id).ok_or_else(|| Error::NotFound { reference: id.clone() })?;
                self.image(record)
            })
            .collect()
    }

    /// Deletes blobs, layers and staging files no recorded image uses. Hold the lock.
    fn collect_garbage(&self, index: &Index) -> Result<(), Error> {
        let mut blobs = BTreeSet::new();
        let mut layers = BTreeSet::new();
        for record in &index.images {
            let (manifest, config) = self.read_manifest_and_config(&record.manifest)?;
            blobs.insert(sha256_hex(&record.manifest).unwrap_or_default().to_string());
            blobs.insert(manifest.config().digest().digest().to_string());
            blobs.extend(manifest.layers().iter().map(|l| l.digest().digest().to_string()));
            layers.extend(config.rootfs().diff_ids().iter().filter_map(|d| sha256_hex(d)).map(str::to_string));
        }
        sweep(&self.blobs_dir(), &blobs)?;
        sweep(&self.layers_dir(), &layers)?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // blobs and layers

    /// Copies a file into the blob store, verifying `expected` when given; returns its
    /// digest and size.
    fn put_blob_file(&self, source: &Path, expected: Option<&str>) -> Result<(String, u64), Error> {
        if let Some(expected) = expected {
            let target = self.blob_path(expected)?;
            if let Ok(meta) = fs::metadata(&target) {
                return Ok((expected.to_string(), meta.len()));
            }
        }
        let file = fs::File::open(source).map_err(|e| Error::io("opening", source, e))?;
        self.put_blob_reader(BufReader::new(file), source, expected)
    }

    /// Stores bytes as a blob; returns its digest.
    fn put_blob_bytes(&self, bytes: &[u8]) -> Result<String, Error> {
        let digest = format!("sha256:{}", layer::hex(&Sha256::digest(bytes)));
        let target = self.blob_path(&digest)?;
        if !target.exists() {
            let temp = self.temp_path("blob");
            write_synced(&temp, bytes)?;
            fs::rename(&temp, &target).map_err(|e| Error::io("renaming into place", &target, e))?;
        }
        Ok(digest)
    }

    fn put_blob_reader(&self, mut reader: impl Read, source: &Path, expected: Option<&str>) -> Result<(String, u64), Error> {
        let temp = self.temp_path("blob");
        let mut out = fs::File::create(&temp).map_err(|e| Error::io("creating", &temp, e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut size = 0u64;
        let result = (|| -> Result<(), Error> {
            loop {
                let n = reader.read(&mut buf).map_err(|e| Error::io("reading", source, e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n]).map_err(|e| Error::io("writing", &temp, e))?;
                size += n as u64;
            }
            out.sync_all().map_err(|e| Error::io("syncing", &temp, e))
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        let digest = format!("sha256:{}", layer::hex(&hasher.finalize()));
        if let Some(expected) = expected {
            if expected != digest {
                let _ = fs::remove_file(&temp);
                return Err(Error::DigestMismatch { path: source.to_path_buf(), expected: expected.to_string(), actual: digest });
            }
        }
        let target = self.blob_path(&digest)?;
        fs::rename(&temp, &target).map_err(|e| Error::io("renaming into place", &target, e))?;
        Ok((digest, size))
    }

    fn read_blob(&self, digest: &str) -> Result<Vec<u8>, Error> {
        let path = self.blob_path(digest)?;
        fs::read(&path).map_err(|e| Error::io("reading", &path, e))
    }

    fn read_manifest_and_config(&self, manifest_digest: &str) -> Result<(ImageManifest, ImageConfiguration), Error> {
        let manifest_path = self.blob_path(manifest_digest)?;
        let manifest = ImageManifest::from_reader(&self.read_blob(manifest_digest)?[..]).map_err(|e| Error::format(&manifest_path, e))?;
        let config_digest = manifest.config().digest().to_string();
        let config_path = self.blob_path(&config_digest)?;
        let config = ImageConfiguration::from_reader(&self.read_blob(&config_digest)?[..]).map_err(|e| Error::format(&config_path, e))?;
        if config.rootfs().diff_ids().len() != manifest.layers().len() {
            return Err(Error::format(
                &config_path,
                format!("{} diff ids for {} layers", config.rootfs().diff_ids().len(), manifest.layers().len()),
            ));
        }
        Ok((manifest, config))
    }

    /// Unpacks each layer not unpacked yet into `tmp/`, checks its diff id, renames it in.
    fn unpack_layers(&self, manifest: &ImageManifest, config: &ImageConfiguration) -> Result<(), Error> {
        for (descriptor, diff_id) in manifest.layers().iter().zip(config.rootfs().diff_ids()) {
            let target = self.layer_path(diff_id)?;
            if target.is_dir() {
                continue;
            }
            let blob = self.blob_path(&descriptor.digest().to_string())?;
            let temp = self.temp_path("layer");
            fs::create_dir(&temp).map_err(|e| Error::io("creating", &temp, e))?;
            let unpacked = layer::unpack(&blob, &temp).and_then(|actual| {
                if &actual == diff_id {
                    Ok(())
                } else {
                    Err(Error::DigestMismatch { path: blob.clone(), expected: diff_id.clone(), actual })
                }
            });
            if let Err(e) = unpacked {
                let _ = fs::remove_dir_all(&temp);
                return Err(e);
            }
            if let Err(e) = fs::rename(&temp, &target) {
                let _ = fs::remove_dir_all(&temp);
                if !target.is_dir() {
                    return Err(Error::io("renaming into place", &target, e));
                }
            }
        }
        Ok(())
    }

    /// The full image of an index record.
    fn image(&self, record: &Record) -> Result<Image, Error> {
        let (manifest, config) = self.read_manifest_and_config(&record.manifest)?;
        let layers = config.rootfs().diff_ids().iter().map(|d| self.layer_path(d)).collect::<Result<Vec<_>, _>>()?;
        let size = manifest.config().size() + manifest.layers().iter().map(|l| l.size()).sum::<u64>();
        Ok(Image {
            id: record.id.clone(),
            names: record.names.clone(),
            repo_digests: record.repo_digests.clone(),
            manifest_digest: record.manifest.clone(),
            layers,
            config: image_config(&config),
            size,
        })
    }
}

/// Finds the record a reference names; for a name, also returns the name matched.
fn find(index: &Index, reference: &str) -> Result<Option<(usize, Option<String>)>, Error> {
    let reference = reference.trim();
    if let Some(hex) = reference.strip_prefix("sha256:") {
        if hex.len() == 64 && reference::is_hex(hex) {
            return Ok(index.images.iter().position(|r| r.id == reference).map(|i| (i, None)));
        }
    }
    let parsed = Reference::parse(reference);
    if let Ok(parsed) = &parsed {
        if let Some(digest) = &parsed.digest {
            let repo_digest = format!("{}@{digest}", parsed.repository());
            let found = index.images.iter().position(|r| r.repo_digests.contains(&repo_digest)).or_else(|| {
                index.images.iter().position(|r| {
                    r.manifest == *digest && r.names.iter().any(|n| repository_of(n) == parsed.repository())
                })
            });
            return Ok(found.map(|i| (i, None)));
        }
        if let Some(name) = parsed.tagged() {
            if let Some(i) = index.images.iter().position(|r| r.names.contains(&name)) {
                return Ok(Some((i, Some(name))));
            }
        }
    }
    // An id prefix, as `crictl rmi` takes.
    let prefix = reference.strip_prefix("sha256:").unwrap_or(reference);
    if reference::is_hex(prefix) {
        let matches: Vec<usize> = index
            .images
            .iter()
            .enumerate()
            .filter(|(_, r)| r.id.trim_start_matches("sha256:").starts_with(&prefix.to_ascii_lowercase()))
            .map(|(i, _)| i)
            .collect();
        match matches.len() {
            0 => {}
            1 => return Ok(Some((matches[0], None))),
            _ => return Err(Error::Ambiguous { prefix: prefix.to_string() }),
        }
    }
    parsed.map(|_| None)
}

/// "docker.io/library/busybox" of "docker.io/library/busybox:latest" or "...@sha256:..".
fn repository_of(name: &str) -> String {
    let name = name.split('@').next().unwrap_or(name);
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) => name[..last_slash + i].to_string(),
        None => name.to_string(),
    }
}

/// The hex part of a "sha256:<64 hex>" digest.
fn sha256_hex(digest: &str) -> Option<&str> {
    digest.strip_prefix("sha256:").filter(|hex| hex.len() == 64 && reference::is_hex(hex))
}

/// Appends the entries of `extra` missing from `list`.
fn merge(list: &mut Vec<String>, extra: &[String]) {
    for item in extra {
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
}

/// Removes the entries of `dir` whose names are not in `keep`.
fn sweep(dir: &Path, keep: &BTreeSet<String>) -> Result<(), Error> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("listing", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if keep.contains(&name) {
            continue;
        }
        let path = entry.path();
        tracing::debug!(path = %path.display(), "removing unused image data");
        let removed = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        removed.map_err(|e| Error::io("removing", &path, e))?;
    }
    Ok(())
}

/// Writes a file and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut file = fs::File::create(path).map_err(|e| Error::io("creating", path, e))?;
    file.write_all(bytes).map_err(|e| Error::io("writing", path, e))?;
    file.sync_all().map_err(|e| Error::io("syncing", path, e))
}

/// The container-relevant part of an image config.
fn image_config(config: &ImageConfiguration) -> ImageConfig {
    let Some(c) = config.config() else {
        return ImageConfig::default();
    };
    ImageConfig {
        entrypoint: c.entrypoint().clone().unwrap_or_default(),
        cmd: c.cmd().clone().unwrap_or_default(),
        env: c.env().clone().unwrap_or_default(),
        working_dir: c.working_dir().clone().filter(|w| !w.is_empty()),
        user: c.user().clone().filter(|u| !u.is_empty()),
        exposed_ports: c.exposed_ports().clone().unwrap_or_default(),
        labels: c.labels().clone().unwrap_or_default().into_iter().collect(),
        stop_signal: c.stop_signal().clone().filter(|s| !s.is_empty()),
    }
}

/// Parses an index blob or `index.json`.
fn parse_index(path: &Path, bytes: &[u8]) -> Result<ImageIndex, Error> {
    ImageIndex::from_reader(bytes).map_err(|e| Error::format(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_of_strips_tags_and_digests() {
        assert_eq!(repository_of("docker.io/library/busybox:latest"), "docker.io/library/busybox");
        assert_eq!(repository_of("localhost:5000/x"), "localhost:5000/x");
        assert_eq!(repository_of("localhost:5000/x:1@sha256:ab"), "localhost:5000/x");
    }

    #[test]
    fn normalize_is_the_reference_form() {
        assert_eq!(ImageStore::normalize("busybox").unwrap(), "docker.io/library/busybox:latest");
        assert!(matches!(ImageStore::normalize("UPPER"), Err(Error::InvalidName { .. })));
    }

    #[test]
    fn find_by_name_id_prefix_and_digest() {
        let id = format!("sha256:{}", "ab".repeat(32));
        let manifest = format!("sha256:{}", "cd".repeat(32));
        let index = Index {
            images: vec![Record {
                id: id.clone(),
                manifest: manifest.clone(),
                names: vec!["docker.io/library/busybox:latest".into()],
                repo_digests: vec![format!("docker.io/library/busybox@{manifest}")],
            }],
        };
        assert_eq!(find(&index, "busybox").unwrap(), Some((0, Some("docker.io/library/busybox:latest".into()))));
        assert_eq!(find(&index, &id).unwrap(), Some((0, None)));
        assert_eq!(find(&index, "abab").unwrap(), Some((0, None)));
        assert_eq!(find(&index, &format!("busybox@{manifest}")).unwrap(), Some((0, None)));
        assert_eq!(find(&index, "nginx").unwrap(), None);
        assert!(find(&index, "Bad Name").is_err());
    }
}
