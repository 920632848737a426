//! Imports: `docker save` tarballs (docker-archive: manifest.json with Config, RepoTags,
//! Layers), OCI archives and OCI image layout directories (index.json, blobs/sha256).

use std::fs;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use oci_spec::image::{Descriptor, ImageManifest};
use serde::Deserialize;

use super::layer::{self, Compression};
use super::{parse_index, Error, Image, ImageStore, Pending, Reference};

/// Annotation naming an image in an OCI layout's index (a tag or a full reference).
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation with the full image name.
const CONTAINERD_NAME: &str = "io.containerd.image.name";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// One image of a docker-archive's manifest.json.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Removes a staging directory when dropped.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.0) {
            tracing::warn!(path = %self.0.display(), error = %e, "removing staging dir");
        }
    }
}

/// Imports a docker-archive or OCI-archive tarball, gzip-compressed or not.
pub(super) fn load(store: &ImageStore, path: &Path) -> Result<Vec<Image>, Error> {
    let _span = tracing::info_span!("image_load", path = %path.display()).entered();
    let archive_err = |reason: String| Error::Archive { path: path.to_path_buf(), reason };
    let staging = Staging(store.temp_path("archive"));
    fs::create_dir(&staging.0).map_err(|e| Error::io("creating", &staging.0, e))?;
    extract(path, &staging.0).map_err(archive_err)?;
    let _lock = store.lock()?;
    let pending = if staging.0.join("manifest.json").is_file() {
        stage_docker(store, &staging.0)
    } else if staging.0.join("index.json").is_file() {
        stage_oci_layout(store, &staging.0, &[])
    } else {
        Err(Error::format(path, "not a docker-archive or OCI archive: it has neither manifest.json nor index.json"))
    };
    let pending = pending.map_err(|e| match e {
        Error::Format { reason, .. } => archive_err(reason),
        Error::InvalidName { .. } => e,
        other => archive_err(other.to_string()),
    })?;
    if pending.is_empty() {
        return Err(archive_err("the archive holds no image".into()));
    }
    store.register(pending)
}

/// Unpacks the (possibly gzip-compressed) tarball into `dest`.
fn extract(path: &Path, dest: &Path) -> Result<(), String> {
    let file = fs::File::open(path).map_err(|e| format!("opening: {e}"))?;
    let mut reader = BufReader::new(file);
    let stream: Box<dyn Read> = match layer::sniff(&mut reader).map_err(|e| format!("reading: {e}"))? {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => return Err("zstd-compressed archives are not supported".into()),
    };
    let mut archive = tar::Archive::new(stream);
    archive.unpack(dest).map_err(|e| format!("not a valid tar archive: {e}"))
}

/// `root/rel` for a path named inside an archive; refuses absolute and climbing paths.
fn inside(root: &Path, rel: &str) -> Result<PathBuf, Error> {
    let mut path = root.to_path_buf();
    for component in Path::new(rel).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            _ => return Err(Error::format(root, format!("path {rel:?} leaves the archive"))),
        }
    }
    Ok(path)
}

/// Stages the images of a docker-archive: blobs in, an OCI manifest written for each.
fn stage_docker(store: &ImageStore, dir: &Path) -> Result<Vec<Pending>, Error> {
    let manifest_path = dir.join("manifest.json");
    let bytes = fs::read(&manifest_path).map_err(|e| Error::io("reading", &manifest_path, e))?;
    let entries: Vec<DockerEntry> =
        serde_json::from_slice(&bytes).map_err(|e| Error::format(&manifest_path, format!("manifest.json: {e}")))?;
    let mut pending = Vec::new();
    for entry in entries {
        let config_path = inside(dir, &entry.config)?;
        let (config_digest, config_size) = store.put_blob_file(&config_path, None)?;
        let mut layers = Vec::new();
        for rel in &entry.layers {
            let path = inside(dir, rel)?;
            let mut reader = BufReader::new(fs::File::open(&path).map_err(|e| Error::io("opening", &path, e))?);
            let media_type = match layer::sniff(&mut reader).map_err(|e| Error::io("reading", &path, e))? {
                Compression::Gzip => OCI_LAYER_GZIP,
                _ => OCI_LAYER,
            };
            let (digest, size) = store.put_blob_reader(reader, &path, None)?;
            layers.push(serde_json::json!({ "mediaType": media_type, "digest": digest, "size": size }));
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size },
            "layers": layers,
        });
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| Error::format(&manifest_path, e))?;
        let manifest_digest = store.put_blob_bytes(&manifest_bytes)?;
        let names = entry
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|tag| ImageStore::normalize(tag))
            .collect::<Result<Vec<_>, _>>()?;
        pending.push(Pending { manifest: manifest_digest, names, repo_digests: Vec::new() });
    }
    Ok(pending)
}

/// Stages the images of an OCI image layout: every manifest its index names (for an image
/// index, the one for this machine's platform) with its config and layers.
pub(super) fn stage_oci_layout(store: &ImageStore, dir: &Path, names: &[String]) -> Result<Vec<Pending>, Error> {
    let index_path = dir.join("index.json");
    let bytes = fs::read(&index_path).map_err(|e| Error::io("reading", &index_path, e))?;
    let index = parse_index(&index_path, &bytes)?;
    let mut pending = Vec::new();
    for descriptor in index.manifests() {
        let names = if names.is_empty() { annotated_names(descriptor)? } else { names.to_vec() };
        let top = descriptor.digest().to_string();
        let manifest_digest = resolve_platform(dir, &top)?;
        stage_manifest(store, dir, &manifest_digest)?;
        let repo_digests = names
            .iter()
            .filter_map(|n| Reference::parse(n).ok())
            .map(|r| format!("{}@{top}", r.repository()))
            .collect();
        pending.push(Pending { manifest: manifest_digest, names, repo_digests });
    }
    Ok(pending)
}

/// The names an index entry's annotations give (a bare tag like "latest" names nothing).
fn annotated_names(descriptor: &Descriptor) -> Result<Vec<String>, Error> {
    let Some(annotations) = descriptor.annotations() else {
        return Ok(Vec::new());
    };
    let name = annotations
        .get(CONTAINERD_NAME)
        .or_else(|| annotations.get(REF_NAME).filter(|n| n.contains('/') || n.contains(':')));
    match name {
        Some(name) => Ok(vec![ImageStore::normalize(name)?]),
        None => Ok(Vec::new()),
    }
}

/// Path of a blob inside an OCI layout.
fn layout_blob(dir: &Path, digest: &str) -> Result<PathBuf, Error> {
    match digest.split_once(':') {
        Some(("sha256", hex)) if hex.len() == 64 && super::reference::is_hex(hex) => Ok(dir.join("blobs/sha256").join(hex)),
        _ => Err(Error::format(dir, format!("unsupported digest {digest:?}"))),
    }
}

/// The manifest for this platform when `digest` is an image index; else `digest` itself.
fn resolve_platform(dir: &Path, digest: &str) -> Result<String, Error> {
    let path = layout_blob(dir, digest)?;
    let bytes = fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::format(&path, e))?;
    if value.get("manifests").is_none() {
        return Ok(digest.to_string());
    }
    let index = parse_index(&path, &bytes)?;
    let arch = oci_arch();
    let matching = |d: &&Descriptor| {
        d.platform().as_ref().is_some_and(|p| p.os().to_string() == "linux" && p.architecture().to_string() == arch)
    };
    let chosen = index
        .manifests()
        .iter()
        .find(matching)
        .or_else(|| (index.manifests().len() == 1).then(|| &index.manifests()[0]))
        .ok_or_else(|| Error::format(&path, format!("no manifest for linux/{arch} in the image index")))?;
    Ok(chosen.digest().to_string())
}

/// Copies a manifest, its config and its layers from the layout into the store, verified.
fn stage_manifest(store: &ImageStore, dir: &Path, digest: &str) -> Result<(), Error> {
    let path = layout_blob(dir, digest)?;
    store.put_blob_file(&path, Some(digest))?;
    let bytes = fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
    let manifest = ImageManifest::from_reader(&bytes[..]).map_err(|e| Error::format(&path, e))?;
    let config = manifest.config().digest().to_string();
    store.put_blob_file(&layout_blob(dir, &config)?, Some(&config))?;
    for layer in manifest.layers() {
        let digest = layer.digest().to_string();
        store.put_blob_file(&layout_blob(dir, &digest)?, Some(&digest))?;
    }
    Ok(())
}

/// This machine's architecture as OCI names it.
pub(super) fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_stay_inside() {
        let root = Path::new("/x");
        assert_eq!(inside(root, "abc/layer.tar").unwrap(), Path::new("/x/abc/layer.tar"));
        assert!(inside(root, "../etc/passwd").is_err());
        assert!(inside(root, "/etc/passwd").is_err());
    }
}
