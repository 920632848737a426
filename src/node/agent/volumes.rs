//! A pod's volumes on the host as the kubelet lays them out under
//! `<pods_dir>/<uid>/volumes/<plugin>/<name>`: emptyDir (disk or tmpfs), hostPath with its type
//! checks, configMap/secret/downwardAPI/projected written with the kubelet's atomic writer,
//! PVCs resolved to their PV's path; and the bind mounts of each container.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, DownwardAPIVolumeFile, KeyToPath, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Volume,
};

use super::env::{self, ConfigError, EnvContext};
use super::etc_files::EtcFiles;
use crate::client::Client;
use crate::node::runtime::Mount;

/// A volume that could not be set up, with the kubelet's FailedMount message.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {message}")]
    SetUp { volume: String, message: String },
    #[error("pod {pod:?} has no usable metadata.uid ({uid:?})")]
    BadUid { pod: String, uid: String },
    #[error("creating pod dir {path}: {source}")]
    PodDir { path: PathBuf, #[source] source: io::Error },
    #[error("cleaning up {path}: {source}")]
    Cleanup { path: PathBuf, #[source] source: io::Error },
}

impl VolumeError {
    /// The volume the error is about, if any (for the FailedMount event).
    pub fn volume(&self) -> Option<&str> {
        match self {
            VolumeError::SetUp { volume, .. } => Some(volume),
            _ => None,
        }
    }
}

/// What a pod volume became on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VolumeKind {
    EmptyDir,
    /// emptyDir with `medium: Memory`: a tmpfs mount.
    EmptyDirMemory,
    HostPath,
    ConfigMap,
    Secret,
    DownwardApi,
    Projected,
    PersistentVolumeClaim,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedVolume {
    /// The directory (or file, for hostPath) a container mount binds.
    pub host_path: PathBuf,
    pub kind: VolumeKind,
    /// The plugin mounts it read-only whatever the volumeMount says (configMap, secret,
    /// downwardAPI, projected; a PVC source with readOnly).
    pub read_only: bool,
}

/// A pod's prepared volumes, by volume name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreparedVolumes {
    pub pod_dir: PathBuf,
    pub volumes: BTreeMap<String, PreparedVolume>,
}

const EMPTY_DIR: &str = "kubernetes.io~empty-dir";
const CONFIG_MAP: &str = "kubernetes.io~configmap";
const SECRET: &str = "kubernetes.io~secret";
const PROJECTED: &str = "kubernetes.io~projected";
const DOWNWARD_API: &str = "kubernetes.io~downward-api";
/// Mode of emptyDir and the directories wrapping configMap/secret/... volumes.
const VOLUME_DIR_MODE: u32 = 0o777;
/// The API's default for defaultMode.
const DEFAULT_MODE: i32 = 0o644;

/// Prepares every volume of a pod as the kubelet does (see the module doc). Idempotent: an
/// existing tmpfs is not mounted twice, unchanged projections are not rewritten.
pub async fn prepare(client: &Client, pods_dir: &Path, pod: &Pod, ctx: &EnvContext) -> Result<PreparedVolumes, VolumeError> {
    let uid = pod_uid(pod)?;
    let pod_dir = pods_dir.join(uid);
    let span = tracing::debug_span!("prepare_volumes", pod = pod.metadata.name.as_deref().unwrap_or(""), uid);
    let _guard = span.enter();
    make_dir(&pod_dir.join("volumes"), 0o750).map_err(|source| VolumeError::PodDir { path: pod_dir.clone(), source })?;
    let mut out = PreparedVolumes { pod_dir: pod_dir.clone(), volumes: BTreeMap::new() };
    for v in pod.spec.as_ref().and_then(|s| s.volumes.as_ref()).into_iter().flatten() {
        let prepared = setup_volume(client, &pod_dir, pod, v, ctx)
            .await
            .map_err(|message| VolumeError::SetUp { volume: v.name.clone(), message })?;
        tracing::debug!(volume = %v.name, path = %prepared.host_path.display(), "volume set up");
        out.volumes.insert(v.name.clone(), prepared);
    }
    Ok(out)
}

/// Re-writes configMap/secret/downwardAPI/projected contents if they changed (the kubelet
/// syncs them periodically; the agent calls this every minute or on change).
pub async fn refresh(client: &Client, pods_dir: &Path, pod: &Pod, ctx: &EnvContext) -> Result<(), VolumeError> {
    let uid = pod_uid(pod)?;
    let pod_dir = pods_dir.join(uid);
    for v in pod.spec.as_ref().and_then(|s| s.volumes.as_ref()).into_iter().flatten() {
        let Some(plugin) = projection_plugin(v) else { continue };
        let dir = plugin_dir(&pod_dir, plugin, &v.name);
        if !dir.is_dir() {
            continue;
        }
        let set_up = |message| VolumeError::SetUp { volume: v.name.clone(), message };
        let payload = projection_payload(client, pod, v, ctx).await.map_err(set_up)?;
        let changed = atomic::write(&dir, payload).map_err(|e| VolumeError::SetUp { volume: v.name.clone(), message: e.to_string() })?;
        if changed {
            apply_fs_group(pod, &dir, true).map_err(set_up)?;
            tracing::debug!(volume = %v.name, "volume contents updated");
        }
    }
    Ok(())
}

fn pod_uid(pod: &Pod) -> Result<&str, VolumeError> {
    let uid = pod.metadata.uid.as_deref().unwrap_or("");
    if uid.is_empty() || uid == "." || uid == ".." || uid.contains('/') {
        return Err(VolumeError::BadUid { pod: pod.metadata.name.clone().unwrap_or_default(), uid: uid.to_string() });
    }
    Ok(uid)
}

fn plugin_dir(pod_dir: &Path, plugin: &str, name: &str) -> PathBuf {
    pod_dir.join("volumes").join(plugin).join(name)
}

/// The plugin dir of volumes written by the atomic writer.
fn projection_plugin(v: &Volume) -> Option<&'static str> {
    if v.config_map.is_some() {
        Some(CONFIG_MAP)
    } else if v.secret.is_some() {
        Some(SECRET)
    } else if v.downward_api.is_some() {
        Some(DOWNWARD_API)
    } else if v.projected.is_some() {
        Some(PROJECTED)
    } else {
        None
    }
}

/// mkdir -p, then the mode set regardless of the umask.
fn make_dir(path: &Path, mode: u32) -> io::Result<()> {
    std::fs::create_dir_all(path)?;
    let meta = std::fs::metadata(path)?;
    if meta.permissions().mode() & 0o7777 != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Sets one volume up; the error is the kubelet's message.
async fn setup_volume(client: &Client, pod_dir: &Path, pod: &Pod, v: &Volume, ctx: &EnvContext) -> Result<PreparedVolume, String> {
    if let Some(ed) = &v.empty_dir {
        let dir = plugin_dir(pod_dir, EMPTY_DIR, &v.name);
        let memory = ed.medium.as_deref() == Some("Memory");
        if memory {
            let limit = ed.size_limit.as_ref().and_then(|q| env::Rational::parse(&q.0)).map(|r| r.value());
            mount_tmpfs(&dir, memory_volume_size(pod, ctx, limit)).map_err(|e| format!("mounting tmpfs at {}: {e}", dir.display()))?;
        } else {
            make_dir(&dir, VOLUME_DIR_MODE).map_err(|e| e.to_string())?;
        }
        apply_fs_group(pod, &dir, false)?;
        let kind = if memory { VolumeKind::EmptyDirMemory } else { VolumeKind::EmptyDir };
        return Ok(PreparedVolume { host_path: dir, kind, read_only: false });
    }
    if let Some(hp) = &v.host_path {
        check_host_path(Path::new(&hp.path), hp.type_.as_deref().unwrap_or(""))?;
        return Ok(PreparedVolume { host_path: PathBuf::from(&hp.path), kind: VolumeKind::HostPath, read_only: false });
    }
    if let Some(pvc) = &v.persistent_volume_claim {
        let path = claim_path(client, pod, &pvc.claim_name).await?;
        let read_only = pvc.read_only.unwrap_or(false);
        return Ok(PreparedVolume { host_path: path, kind: VolumeKind::PersistentVolumeClaim, read_only });
    }
    let Some(plugin) = projection_plugin(v) else {
        return Err("no volume plugin matched".to_string());
    };
    let dir = plugin_dir(pod_dir, plugin, &v.name);
    // Secrets and projected volumes live in memory, as the kubelet keeps them.
    let in_memory = plugin == SECRET || plugin == PROJECTED;
    if in_memory {
        if let Err(e) = mount_tmpfs(&dir, memory_volume_size(pod, ctx, None)) {
            tracing::warn!(volume = %v.name, error = %e, "cannot mount tmpfs; keeping the volume on disk");
            make_dir(&dir, VOLUME_DIR_MODE).map_err(|e| e.to_string())?;
        }
    } else {
        make_dir(&dir, VOLUME_DIR_MODE).map_err(|e| e.to_string())?;
    }
    let payload = projection_payload(client, pod, v, ctx).await?;
    atomic::write(&dir, payload).map_err(|e| e.to_string())?;
    apply_fs_group(pod, &dir, true)?;
    let kind = match plugin {
        CONFIG_MAP => VolumeKind::ConfigMap,
        SECRET => VolumeKind::Secret,
        DOWNWARD_API => VolumeKind::DownwardApi,
        _ => VolumeKind::Projected,
    };
    Ok(PreparedVolume { host_path: dir, kind, read_only: true })
}

/// SetVolumeOwnership for pods with `securityContext.fsGroup`: everything in the volume gets
/// the group, files `| 0660` (`| 0440` read-only), directories also setgid and `| 0110`;
/// symlinks are chowned but never chmodded (that would change their target).
fn apply_fs_group(pod: &Pod, dir: &Path, read_only: bool) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let Some(gid) = pod.spec.as_ref().and_then(|s| s.security_context.as_ref()).and_then(|s| s.fs_group) else {
        return Ok(());
    };
    let gid = u32::try_from(gid).map_err(|_| format!("invalid fsGroup {gid}"))?;
    let fail = |p: &Path, e: io::Error| format!("applying fsGroup {gid} to {}: {}", p.display(), io_text(&e));
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).map_err(|e| fail(&path, e))?;
        std::os::unix::fs::lchown(&path, None, Some(gid)).map_err(|e| fail(&path, e))?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let mut mask = if read_only { 0o440 } else { 0o660 };
        if meta.is_dir() {
            mask |= 0o2000 | 0o110;
            for entry in std::fs::read_dir(&path).map_err(|e| fail(&path, e))? {
                stack.push(entry.map_err(|e| fail(&path, e))?.path());
            }
        }
        let mode = meta.mode() & 0o7777;
        if mode | mask != mode {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode | mask)).map_err(|e| fail(&path, e))?;
        }
    }
    Ok(())
}

/// calculateEmptyDirMemorySize: node allocatable memory, lowered to the pod's memory limit
/// (when every container has one) and to the volume's sizeLimit.
fn memory_volume_size(pod: &Pod, ctx: &EnvContext, size_limit: Option<i128>) -> i128 {
    let mut size = i128::from(ctx.node_allocatable_memory);
    if let Some(limit) = pod_memory_limit(pod).filter(|l| *l > 0) {
        if size <= 0 || limit <= size {
            size = limit;
        }
    }
    if let Some(limit) = size_limit.filter(|l| *l > 0) {
        if size <= 0 || limit <= size {
            size = limit;
        }
    }
    size
}

/// The pod's memory limit as its cgroup gets it: max(sum of containers, largest init
/// container), None unless every container sets one.
fn pod_memory_limit(pod: &Pod) -> Option<i128> {
    let spec = pod.spec.as_ref()?;
    let limit = |c: &Container| -> Option<i128> {
        let q = c.resources.as_ref()?.limits.as_ref()?.get("memory")?;
        env::Rational::parse(&q.0).map(|r| r.value())
    };
    let mut sum = 0i128;
    for c in &spec.containers {
        sum += limit(c)?;
    }
    for c in spec.init_containers.iter().flatten() {
        sum = sum.max(limit(c)?);
    }
    Some(sum)
}

/// Whether `dir` is the root of a mount (its device differs from its parent's).
fn is_mount_point(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(me), Some(Ok(parent))) = (std::fs::metadata(dir), dir.parent().map(std::fs::metadata)) else { return false };
    me.dev() != parent.dev()
}

/// Mounts a tmpfs of `size` bytes (0: the kernel's default) at `dir` unless one is there.
fn mount_tmpfs(dir: &Path, size: i128) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    if !is_mount_point(dir) {
        let opts = if size > 0 { format!("size={size}") } else { String::new() };
        nix::mount::mount(Some("tmpfs"), dir, Some("tmpfs"), nix::mount::MsFlags::empty(), Some(opts.as_str()))
            .map_err(io::Error::from)?;
        tracing::debug!(dir = %dir.display(), size = %size, "mounted tmpfs");
    }
    // As the kubelet: only the permission bits are compared, so tmpfs keeps its sticky bit.
    let meta = std::fs::metadata(dir)?;
    if meta.permissions().mode() & 0o777 != VOLUME_DIR_MODE {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(VOLUME_DIR_MODE))?;
    }
    Ok(())
}

/// The hostPath type checks, with the kubelet's messages; the *OrCreate types create.
pub fn check_host_path(path: &Path, type_: &str) -> Result<(), String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).ok();
    let ft = meta.as_ref().map(|m| m.file_type());
    let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(format!("hostPath type check failed: {shown} is not {what}")) };
    match type_ {
        "" => Ok(()),
        "DirectoryOrCreate" if meta.is_none() => make_host_dir(path),
        "DirectoryOrCreate" | "Directory" => check(ft.is_some_and(|f| f.is_dir()), "a directory"),
        "FileOrCreate" if meta.is_none() => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|f| f.set_permissions(std::fs::Permissions::from_mode(0o644)))
            .map_err(|e| format!("open {shown}: {}", io_text(&e))),
        "FileOrCreate" | "File" => check(ft.is_some_and(|f| f.is_file()), "a file"),
        "Socket" => check(ft.is_some_and(|f| f.is_socket()), "a socket file"),
        "CharDevice" => check(ft.is_some_and(|f| f.is_char_device()), "a character device"),
        "BlockDevice" => check(ft.is_some_and(|f| f.is_block_device()), "a block device"),
        other => Err(format!("{other} is an invalid volume type")),
    }
}

fn make_host_dir(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o755).create(path).map_err(|e| format!("mkdir {}: {}", path.display(), io_text(&e)))
}

/// An io::Error as Go prints a syscall error ("no such file or directory").
fn io_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_lowercase(),
        None => e.to_string(),
    }
}

/// The host path behind a PVC: its bound PV's hostPath or local path, created when missing.
async fn claim_path(client: &Client, pod: &Pod, claim: &str) -> Result<PathBuf, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let pvcs = client.api::<PersistentVolumeClaim>(Some(ns)).map_err(|e| e.to_string())?;
    let pvc = pvcs.get_opt(claim).await.map_err(|e| format!("failed to fetch PVC from API server: {e}"))?;
    let Some(pvc) = pvc else {
        return Err(format!("failed to fetch PVC from API server: persistentvolumeclaims \"{claim}\" not found"));
    };
    if pvc.metadata.deletion_timestamp.is_some() {
        return Err(format!("can't start pod because PVC {ns}/{claim} is being deleted"));
    }
    let phase = pvc.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
    let volume_name = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()).unwrap_or_default();
    if phase != "Bound" || volume_name.is_empty() {
        return Err(format!(
            "PVC {ns}/{claim} has non-bound phase ({phase:?}) or empty pvc.Spec.VolumeName ({volume_name:?})"
        ));
    }
    let pvs = client.api::<PersistentVolume>(None).map_err(|e| e.to_string())?;
    let pv = pvs.get_opt(&volume_name).await.map_err(|e| format!("failed to fetch PV {volume_name} from API server: {e}"))?;
    let Some(pv) = pv else {
        return Err(format!("failed to fetch PV {volume_name} from API server: persistentvolumes \"{volume_name}\" not found"));
    };
    let spec = pv.spec.unwrap_or_default();
    if let Some(hp) = spec.host_path {
        let path = PathBuf::from(&hp.path);
        match hp.type_.as_deref().unwrap_or("") {
            "" => make_dir_if_missing(&path)?,
            t => check_host_path(&path, t)?,
        }
        return Ok(path);
    }
    if let Some(local) = spec.local {
        let path = PathBuf::from(&local.path);
        make_dir_if_missing(&path)?;
        return Ok(path);
    }
    Err(format!("persistentvolume {volume_name:?} has no hostPath or local source this node can mount"))
}

/// A provisioned volume's directory, created 0777 when missing (as local-path provisions it).
fn make_dir_if_missing(path: &Path) -> Result<(), String> {
    if path.exists() {
        return Ok(());
    }
    make_dir(path, VOLUME_DIR_MODE).map_err(|e| format!("mkdir {}: {}", path.display(), io_text(&e)))
}

/// The files of a configMap/secret/downwardAPI/projected volume; errors are the kubelet's.
async fn projection_payload(client: &Client, pod: &Pod, v: &Volume, ctx: &EnvContext) -> Result<atomic::Payload, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    if let Some(src) = &v.config_map {
        let optional = src.optional.unwrap_or(false);
        let cm = fetch_config_map(client, ns, &src.name, optional).await?;
        return config_map_payload(src.items.as_deref(), &cm, src.default_mode.unwrap_or(DEFAULT_MODE), optional);
    }
    if let Some(src) = &v.secret {
        let optional = src.optional.unwrap_or(false);
        let name = src.secret_name.as_deref().unwrap_or("");
        let s = fetch_secret(client, ns, name, optional).await?;
        return secret_payload(src.items.as_deref(), &s, src.default_mode.unwrap_or(DEFAULT_MODE), optional);
    }
    if let Some(src) = &v.downward_api {
        return downward_api_payload(src.items.as_deref().unwrap_or(&[]), pod, src.default_mode.unwrap_or(DEFAULT_MODE), ctx)
            .map_err(|errs| aggregate(&errs));
    }
    let Some(src) = &v.projected else { return Ok(atomic::Payload::new()) };
    let default_mode = src.default_mode.unwrap_or(DEFAULT_MODE);
    let mut payload = atomic::Payload::new();
    let mut errs = Vec::new();
    for source in src.sources.iter().flatten() {
        let part = if let Some(s) = &source.config_map {
            let optional = s.optional.unwrap_or(false);
            match fetch_config_map(client, ns, &s.name, optional).await {
                Ok(cm) => config_map_payload(s.items.as_deref(), &cm, default_mode, optional),
                Err(e) => Err(e),
            }
        } else if let Some(s) = &source.secret {
            let optional = s.optional.unwrap_or(false);
            match fetch_secret(client, ns, &s.name, optional).await {
                Ok(secret) => secret_payload(s.items.as_deref(), &secret, default_mode, optional),
                Err(e) => Err(e),
            }
        } else if let Some(d) = &source.downward_api {
            downward_api_payload(d.items.as_deref().unwrap_or(&[]), pod, default_mode, ctx).map_err(|errs| aggregate(&errs))
        } else if source.service_account_token.is_some() {
            // Service account tokens come with the token issuer; nothing is written yet.
            tracing::debug!(volume = %v.name, "serviceAccountToken projection not served yet; skipped");
            Ok(atomic::Payload::new())
        } else {
            tracing::warn!(volume = %v.name, "unsupported projected volume source skipped");
            Ok(atomic::Payload::new())
        };
        match part {
            Ok(p) => payload.extend(p),
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() { Ok(payload) } else { Err(aggregate(&errs)) }
}

/// utilerrors.NewAggregate(...).Error(): one message alone, several as "[a, b]" (duplicates once).
fn aggregate(errs: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for e in errs {
        if !seen.contains(&e.as_str()) {
            seen.push(e);
        }
    }
    if seen.len() == 1 { seen[0].to_string() } else { format!("[{}]", seen.join(", ")) }
}

/// A configMap, an empty one when it is missing and optional.
async fn fetch_config_map(client: &Client, ns: &str, name: &str, optional: bool) -> Result<ConfigMap, String> {
    match env::get_config_map(client, ns, name).await {
        Ok(Some(cm)) => Ok(cm),
        Ok(None) if optional => Ok(ConfigMap::default()),
        Ok(None) => Err(format!("configmap \"{name}\" not found")),
        Err(e) => Err(e.to_string()),
    }
}

/// A secret, an empty one when it is missing and optional.
async fn fetch_secret(client: &Client, ns: &str, name: &str, optional: bool) -> Result<Secret, String> {
    match env::get_secret(client, ns, name).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) if optional => Ok(Secret::default()),
        Ok(None) => Err(format!("secret \"{name}\" not found")),
        Err(e) => Err(e.to_string()),
    }
}

fn file(data: Vec<u8>, mode: i32) -> atomic::FileProjection {
    atomic::FileProjection { data, mode: (mode as u32) & 0o7777 }
}

/// configmap.MakePayload: every key (data and binaryData), or the items' key → path.
fn config_map_payload(items: Option<&[KeyToPath]>, cm: &ConfigMap, default_mode: i32, optional: bool) -> Result<atomic::Payload, String> {
    let lookup = |key: &str| -> Option<Vec<u8>> {
        cm.data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|s| s.as_bytes().to_vec())
            .or_else(|| cm.binary_data.as_ref().and_then(|d| d.get(key)).map(|b| b.0.clone()))
    };
    let all_keys: Vec<&String> = cm.data.iter().flatten().map(|(k, _)| k).chain(cm.binary_data.iter().flatten().map(|(k, _)| k)).collect();
    key_payload(items, &all_keys, lookup, default_mode, optional, "configmap references non-existent config key")
}

/// secret.MakePayload: every key of data, or the items' key → path.
fn secret_payload(items: Option<&[KeyToPath]>, s: &Secret, default_mode: i32, optional: bool) -> Result<atomic::Payload, String> {
    let lookup = |key: &str| s.data.as_ref().and_then(|d| d.get(key)).map(|b| b.0.clone());
    let all_keys: Vec<&String> = s.data.iter().flatten().map(|(k, _)| k).collect();
    key_payload(items, &all_keys, lookup, default_mode, optional, "references non-existent secret key")
}

fn key_payload(
    items: Option<&[KeyToPath]>,
    all_keys: &[&String],
    lookup: impl Fn(&str) -> Option<Vec<u8>>,
    default_mode: i32,
    optional: bool,
    missing: &str,
) -> Result<atomic::Payload, String> {
    let mut payload = atomic::Payload::new();
    match items.filter(|i| !i.is_empty()) {
        None => {
            for k in all_keys {
                if let Some(data) = lookup(k) {
                    payload.insert((*k).clone(), file(data, default_mode));
                }
            }
        }
        Some(items) => {
            for item in items {
                match lookup(&item.key) {
                    Some(data) => {
                        payload.insert(item.path.clone(), file(data, item.mode.unwrap_or(default_mode)));
                    }
                    None if optional => continue,
                    None => return Err(format!("{missing}: {}", item.key)),
                }
            }
        }
    }
    Ok(payload)
}

/// downwardapi.CollectData: one file per item, errors collected.
fn downward_api_payload(
    items: &[DownwardAPIVolumeFile],
    pod: &Pod,
    default_mode: i32,
    ctx: &EnvContext,
) -> Result<atomic::Payload, Vec<String>> {
    let mut payload = atomic::Payload::new();
    let mut errs = Vec::new();
    for item in items {
        let mode = item.mode.unwrap_or(default_mode);
        let value = if let Some(f) = &item.field_ref {
            env::extract_field_path(pod, &f.field_path).map_err(|e| e.to_string())
        } else if let Some(r) = &item.resource_field_ref {
            let name = r.container_name.as_deref().unwrap_or("");
            match find_container(pod, name) {
                Some(c) => env::resource_field_value(pod, c, r, ctx).map_err(|e| e.to_string()),
                None => Err(format!("container {name} not found")),
            }
        } else {
            Ok(String::new())
        };
        match value {
            Ok(v) => {
                payload.insert(clean_path(&item.path), file(v.into_bytes(), mode));
            }
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() { Ok(payload) } else { Err(errs) }
}

fn find_container<'p>(pod: &'p Pod, name: &str) -> Option<&'p Container> {
    let spec = pod.spec.as_ref()?;
    spec.containers.iter().chain(spec.init_containers.iter().flatten()).find(|c| c.name == name)
}

/// filepath.Clean for relative payload paths.
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    let joined = if p.starts_with('/') { format!("/{joined}") } else { joined };
    if joined.is_empty() { ".".to_string() } else { joined }
}

/// The bind mounts of one container: its volumeMounts (subPath, subPathExpr with `$(VAR)` from
/// the env, readOnly; a missing subPath is created as the kubelet does), plus /etc/hosts,
/// /etc/hostname, /etc/resolv.conf (unless the container mounts something there) and the
/// termination message file. Ordered parents first (by path depth, stable) as containerd does.
pub fn container_mounts(
    pod: &Pod,
    container: &Container,
    volumes: &PreparedVolumes,
    etc: &EtcFiles,
    env: &[(String, String)],
    termination_log: &Path,
) -> Result<Vec<Mount>, ConfigError> {
    let read_only_root = container.security_context.as_ref().and_then(|s| s.read_only_root_filesystem).unwrap_or(false);
    let mut mounts = Vec::new();
    let mounts_at = |dest: &str| container.volume_mounts.iter().flatten().any(|m| absolute(&m.mount_path) == Path::new(dest));
    if !mounts_at("/etc/hostname") {
        mounts.push(Mount { destination: "/etc/hostname".into(), source: etc.hostname.clone(), read_only: read_only_root });
    }
    if !mounts_at("/etc/resolv.conf") {
        mounts.push(Mount { destination: "/etc/resolv.conf".into(), source: etc.resolv_conf.clone(), read_only: read_only_root });
    }
    for m in container.volume_mounts.iter().flatten() {
        let vol = volumes
            .volumes
            .get(&m.name)
            .ok_or_else(|| ConfigError::VolumeNotFound { volume: m.name.clone(), container: container.name.clone() })?;
        let sub_path = match m.sub_path_expr.as_deref().filter(|e| !e.is_empty()) {
            Some(expr) => expand_sub_path(expr, env)?,
            None => m.sub_path.clone().unwrap_or_default(),
        };
        let source = if sub_path.is_empty() {
            vol.host_path.clone()
        } else {
            safe_sub_path(&vol.host_path, &sub_path, &m.name, &container.name)?
        };
        mounts.push(Mount { destination: absolute(&m.mount_path), source, read_only: m.read_only.unwrap_or(false) || vol.read_only });
    }
    if !mounts_at("/etc/hosts") {
        mounts.push(Mount { destination: "/etc/hosts".into(), source: etc.hosts.clone(), read_only: false });
    }
    let message_path = container.termination_message_path.as_deref().unwrap_or("/dev/termination-log");
    if !message_path.is_empty() {
        create_termination_log(termination_log)?;
        mounts.push(Mount { destination: absolute(message_path), source: termination_log.to_path_buf(), read_only: false });
    }
    let _ = pod;
    mounts.sort_by_key(|m| m.destination.components().count());
    Ok(mounts)
}

fn absolute(p: &str) -> PathBuf {
    if p.starts_with('/') { PathBuf::from(p) } else { Path::new("/").join(p) }
}

/// An empty, world-writable file for the container's termination message (kept if present).
fn create_termination_log(path: &Path) -> Result<(), ConfigError> {
    let err = |source| ConfigError::TerminationLog { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).map_err(err)
}

/// ExpandContainerVolumeMounts: `$(VAR)` from the container's env; unknown or empty ones fail.
fn expand_sub_path(expr: &str, env: &[(String, String)]) -> Result<String, ConfigError> {
    let vars: BTreeMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let missing = std::cell::RefCell::new(BTreeSet::new());
    let out = env::expand(expr, |name| match vars.get(name) {
        Some(v) if !v.is_empty() => Some(v.to_string()),
        _ => {
            missing.borrow_mut().insert(name.to_string());
            Some(String::new())
        }
    });
    let missing = missing.into_inner();
    if !missing.is_empty() {
        return Err(ConfigError::SubPathExprMissing(missing.into_iter().collect::<Vec<_>>().join(", ")));
    }
    Ok(out)
}

/// The host path of `volume/sub`, never outside the volume: symlinks are resolved and checked,
/// a missing subPath is created as directories with the volume's mode.
fn safe_sub_path(volume: &Path, sub: &str, mount: &str, container: &str) -> Result<PathBuf, ConfigError> {
    if sub.starts_with('/') {
        return Err(ConfigError::SubPathAbsolute(sub.to_string()));
    }
    if Path::new(sub).components().any(|c| c == Component::ParentDir) {
        return Err(ConfigError::SubPathBacksteps(sub.to_string()));
    }
    let prepare_err = || ConfigError::SubPathPrepare { mount: mount.to_string(), container: container.to_string() };
    let root = std::fs::canonicalize(volume).map_err(|_| prepare_err())?;
    let joined = root.join(sub);
    if std::fs::metadata(&joined).is_err() {
        let mode = std::fs::metadata(&root).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o755);
        safe_make_dir(&root, sub, mode).map_err(|e| {
            tracing::warn!(mount, container, error = %e, "failed to create subPath directory");
            ConfigError::SubPathCreate { mount: mount.to_string(), container: container.to_string() }
        })?;
    }
    let resolved = std::fs::canonicalize(&joined).map_err(|_| prepare_err())?;
    if !resolved.starts_with(&root) {
        tracing::warn!(mount, container, path = %resolved.display(), "subPath leaves its volume");
        return Err(prepare_err());
    }
    Ok(resolved)
}

/// Creates `root/sub` one component at a time, following only symlinks that stay in `root`.
fn safe_make_dir(root: &Path, sub: &str, mode: u32) -> io::Result<()> {
    let mut current = root.to_path_buf();
    for comp in Path::new(sub).components() {
        let Component::Normal(name) = comp else { continue };
        let next = current.join(name);
        match std::fs::symlink_metadata(&next) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::canonicalize(&next)?;
                if !target.starts_with(root) {
                    return Err(io::Error::other(format!("{} leaves the volume", next.display())));
                }
                current = target;
            }
            Ok(m) if m.is_dir() => current = next,
            Ok(_) => return Err(io::Error::other(format!("{} is not a directory", next.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir(&next)?;
                std::fs::set_permissions(&next, std::fs::Permissions::from_mode(mode))?;
                current = next;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Unmounts the tmpfs volumes (and anything else mounted inside the pod dir) and removes
/// `<pods_dir>/<uid>` entirely. hostPath and PV directories are never under the pod dir, and
/// removal does not follow symlinks. Idempotent.
pub fn cleanup(pods_dir: &Path, uid: &str) -> Result<(), VolumeError> {
    if uid.is_empty() || uid == "." || uid == ".." || uid.contains('/') {
        return Err(VolumeError::BadUid { pod: String::new(), uid: uid.to_string() });
    }
    let pod_dir = pods_dir.join(uid);
    if std::fs::symlink_metadata(&pod_dir).is_err() {
        return Ok(());
    }
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| VolumeError::Cleanup { path, source }
    };
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(err(Path::new("/proc/self/mountinfo")))?;
    let mut points: Vec<PathBuf> = mounts_under(&mountinfo, &pod_dir);
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in &points {
        unmount(p).map_err(err(p))?;
        tracing::debug!(path = %p.display(), "unmounted");
    }
    std::fs::remove_dir_all(&pod_dir).or_else(|e| if e.kind() == io::ErrorKind::NotFound { Ok(()) } else { Err(e) }).map_err(err(&pod_dir))
}

fn unmount(p: &Path) -> io::Result<()> {
    use nix::mount::{umount2, MntFlags};
    match umount2(p, MntFlags::empty()) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(nix::errno::Errno::EBUSY) => umount2(p, MntFlags::MNT_DETACH).map_err(io::Error::from),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// Mount points at or below `dir` in a mountinfo table (octal escapes decoded).
fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The kubelet's AtomicWriter: a payload is written to a fresh `..<timestamp>` dir, `..data`
/// is swapped to it by rename, user-visible names are symlinks `name -> ..data/name`, and the
/// previous timestamped dir is removed. Readers never see a half-written volume.
pub mod atomic {
    use super::*;

    const DATA_DIR: &str = "..data";
    const DATA_DIR_TMP: &str = "..data_tmp";
    const MAX_FILE_NAME: usize = 255;
    const MAX_PATH: usize = 4096;

    /// One file of a volume: its bytes and mode.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct FileProjection {
        pub data: Vec<u8>,
        pub mode: u32,
    }

    /// Relative path → file.
    pub type Payload = BTreeMap<String, FileProjection>;

    /// validatePath: relative, no `..` element, not starting with `..`, length limits.
    fn validate_path(p: &str) -> io::Result<()> {
        let bad = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
        if p.is_empty() {
            return bad(format!("invalid path: must not be empty: {p:?}"));
        }
        if p.starts_with('/') {
            return bad(format!("invalid path: must be relative path: {p}"));
        }
        if p.len() > MAX_PATH {
            return bad(format!("invalid path: must be less than or equal to {MAX_PATH} characters"));
        }
        let items: Vec<&str> = p.split('/').collect();
        for item in &items {
            if *item == ".." {
                return bad(format!("invalid path: must not contain '..': {p}"));
            }
            if item.len() > MAX_FILE_NAME {
                return bad(format!("invalid path: filenames must be less than or equal to {MAX_FILE_NAME} characters"));
            }
        }
        if items[0].starts_with("..") && items[0].len() > 2 {
            return bad(format!("invalid path: must not start with '..': {p}"));
        }
        Ok(())
    }

    /// Writes `payload` into `target` (which must exist). Returns whether anything changed.
    pub fn write(target: &Path, payload: Payload) -> io::Result<bool> {
        let mut clean = Payload::new();
        for (k, v) in payload {
            validate_path(&k)?;
            clean.insert(clean_path(&k), v);
        }
        let data_link = target.join(DATA_DIR);
        let old_ts = match std::fs::read_link(&data_link) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let old_ts_path = old_ts.as_ref().map(|t| target.join(t));
        let (stale, changed) = match &old_ts_path {
            Some(old) => {
                let existing = files_in(old)?;
                let stale: Vec<String> = existing.iter().filter(|p| !clean.contains_key(*p) && !is_parent_of_any(p, &clean)).cloned().collect();
                let changed = !stale.is_empty() || differs(&clean, old)?;
                (stale, changed)
            }
            None => (Vec::new(), true),
        };
        if changed {
            let ts_name = new_timestamp_dir(target)?;
            let ts_dir = target.join(&ts_name);
            write_payload(&ts_dir, &clean)?;
            let tmp = target.join(DATA_DIR_TMP);
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(&ts_name, &tmp)?;
            std::fs::rename(&tmp, &data_link)?;
        }
        // User-visible names: one symlink per top-level entry of the payload.
        for top in clean.keys().filter_map(|k| k.split('/').next()).collect::<BTreeSet<_>>() {
            let link = target.join(top);
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(Path::new(DATA_DIR).join(top), &link)?;
            }
        }
        for p in stale.iter().filter(|p| !p.contains('/')) {
            if !clean.keys().any(|k| k.split('/').next() == Some(p.as_str())) {
                match std::fs::remove_file(target.join(p)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if changed {
            if let Some(old) = old_ts_path {
                std::fs::remove_dir_all(old)?;
            }
        }
        Ok(changed)
    }

    fn is_parent_of_any(p: &str, payload: &Payload) -> bool {
        payload.keys().any(|k| k.starts_with(p) && k.as_bytes().get(p.len()) == Some(&b'/'))
    }

    /// Relative paths of the files and dirs under `dir`.
    fn files_in(dir: &Path) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d)? {
                let entry = entry?;
                let path = entry.path();
                if let Ok(rel) = path.strip_prefix(dir) {
                    out.push(rel.to_string_lossy().into_owned());
                }
                if entry.file_type()?.is_dir() {
                    stack.push(path);
                }
            }
        }
        Ok(out)
    }

    /// Whether any payload file is missing in `old` or differs in contents (as the kubelet,
    /// modes are not compared: they only change with the pod spec, and fsGroup adjusts them).
    fn differs(payload: &Payload, old: &Path) -> io::Result<bool> {
        for (p, f) in payload {
            let path = old.join(p);
            let Ok(meta) = std::fs::symlink_metadata(&path) else { return Ok(true) };
            if !meta.is_file() || std::fs::read(&path)? != f.data {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A fresh `..YYYY_MM_DD_HH_MM_SS.<random>` dir, mode 0755.
    fn new_timestamp_dir(target: &Path) -> io::Result<String> {
        let stamp = jiff::Timestamp::now().strftime("..%Y_%m_%d_%H_%M_%S.").to_string();
        for _ in 0..100 {
            let name = format!("{stamp}{}", rand::random::<u32>());
            match std::fs::create_dir(target.join(&name)) {
                Ok(()) => {
                    std::fs::set_permissions(target.join(&name), std::fs::Permissions::from_mode(0o755))?;
                    return Ok(name);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!("no free timestamped dir in {}", target.display())))
    }

    fn write_payload(dir: &Path, payload: &Payload) -> io::Result<()> {
        for (p, f) in payload {
            let path = dir.join(p);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, &f.data)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::agent::env::tests::{make_config_map, make_secret, pod_with, test_client};
    use k8s_openapi::api::core::v1::{
        ConfigMapProjection, ConfigMapVolumeSource, DownwardAPIProjection, DownwardAPIVolumeSource, EmptyDirVolumeSource,
        HostPathVolumeSource, ObjectFieldSelector, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource,
        PersistentVolumeSpec, ProjectedVolumeSource, ResourceFieldSelector, SecretProjection, SecretVolumeSource,
        SecurityContext, VolumeMount, VolumeProjection, VolumeResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    /// Whether a test that needs root may run; without root it passes early unless CI is set.
    fn have_root(test: &str) -> bool {
        if nix::unistd::geteuid().is_root() {
            return true;
        }
        assert!(std::env::var_os("CI").is_none(), "{test} needs root under CI");
        eprintln!("{test}: skipped, needs root");
        false
    }

    /// Runs `cleanup` for a pod dir when the test ends, even when it fails (no leaked mounts).
    struct CleanupGuard(PathBuf, String);

    impl Drop for CleanupGuard {
        fn drop(&mut self) {
            if let Err(e) = cleanup(&self.0, &self.1) {
                eprintln!("cleanup of {} failed: {e}", self.0.join(&self.1).display());
            }
        }
    }

    fn ctx() -> EnvContext {
        EnvContext { pod_ip: Some("10.42.0.7".into()), host_ip: "10.200.0.2".into(), node_allocatable_cpu_milli: 2000, node_allocatable_memory: 1 << 30 }
    }

    fn pod_with_volumes(volumes: Vec<Volume>, mounts: Vec<VolumeMount>) -> Pod {
        let c = Container { name: "app".into(), volume_mounts: Some(mounts), ..Default::default() };
        let mut pod = pod_with(c);
        if let Some(s) = pod.spec.as_mut() {
            s.volumes = Some(volumes);
        }
        pod
    }

    fn vol(name: &str) -> Volume {
        Volume { name: name.into(), ..Default::default() }
    }

    fn mount(name: &str, path: &str) -> VolumeMount {
        VolumeMount { name: name.into(), mount_path: path.into(), ..Default::default() }
    }

    fn payload(files: &[(&str, &str, u32)]) -> atomic::Payload {
        files.iter().map(|(p, d, m)| (p.to_string(), atomic::FileProjection { data: d.as_bytes().to_vec(), mode: *m })).collect()
    }

    fn link(p: &Path) -> String {
        std::fs::read_link(p).unwrap().to_string_lossy().into_owned()
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn atomic_writer_swaps_data_and_removes_the_old_dir() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        assert!(atomic::write(t, payload(&[("a", "1", 0o644), ("sub/b", "2", 0o400)])).unwrap());
        let first = link(&t.join("..data"));
        assert!(first.starts_with("..") && first.len() > "..2025_01_01_00_00_00.".len(), "{first}");
        assert_eq!(mode(&t.join(&first)), 0o755);
        assert_eq!(link(&t.join("a")), "..data/a");
        assert_eq!(link(&t.join("sub")), "..data/sub");
        assert_eq!(std::fs::read_to_string(t.join("a")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(t.join("sub/b")).unwrap(), "2");
        assert_eq!(mode(&t.join("sub/b")), 0o400);

        // Same payload: nothing rewritten.
        assert!(!atomic::write(t, payload(&[("a", "1", 0o644), ("sub/b", "2", 0o400)])).unwrap());
        assert_eq!(link(&t.join("..data")), first);

        // Changed payload: new dir, old one gone, stale user-visible link removed.
        assert!(atomic::write(t, payload(&[("a", "changed", 0o644)])).unwrap());
        let second = link(&t.join("..data"));
        assert_ne!(second, first);
        assert!(!t.join(&first).exists());
        assert!(std::fs::symlink_metadata(t.join("sub")).is_err());
        assert_eq!(std::fs::read_to_string(t.join("a")).unwrap(), "changed");
        let mut names: Vec<String> = std::fs::read_dir(t).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        let mut want = vec!["..data".to_string(), second, "a".to_string()];
        want.sort();
        assert_eq!(names, want);

        // A mode change alone is not (the kubelet compares contents only).
        assert!(!atomic::write(t, payload(&[("a", "changed", 0o600)])).unwrap());
    }

    #[test]
    fn atomic_writer_rejects_escaping_paths() {
        let dir = tempfile::tempdir().unwrap();
        for (p, msg) in [
            ("../x", "invalid path: must not contain '..': ../x"),
            ("/etc/passwd", "invalid path: must be relative path: /etc/passwd"),
            ("..data", "invalid path: must not start with '..': ..data"),
        ] {
            let err = atomic::write(dir.path(), payload(&[(p, "x", 0o644)])).unwrap_err();
            assert_eq!(err.to_string(), msg);
        }
    }

    #[tokio::test]
    async fn config_map_volumes_with_items_modes_and_optional() {
        let client = test_client().await;
        make_config_map(&client, "cfg", &[("app.conf", "port=80"), ("other", "x")]).await;
        let dir = tempfile::tempdir().unwrap();
        let all = Volume {
            config_map: Some(ConfigMapVolumeSource { name: "cfg".into(), default_mode: Some(0o640), ..Default::default() }),
            ..vol("all")
        };
        let items = Volume {
            config_map: Some(ConfigMapVolumeSource {
                name: "cfg".into(),
                items: Some(vec![KeyToPath { key: "app.conf".into(), path: "conf/app.conf".into(), mode: Some(0o600) }]),
                ..Default::default()
            }),
            ..vol("items")
        };
        let optional = Volume {
            config_map: Some(ConfigMapVolumeSource { name: "absent".into(), optional: Some(true), ..Default::default() }),
            ..vol("opt")
        };
        let pod = pod_with_volumes(vec![all, items, optional], vec![]);
        let uid = pod.metadata.uid.clone().unwrap();
        let _guard = CleanupGuard(dir.path().to_path_buf(), uid.clone());
        let prepared = prepare(&client, dir.path(), &pod, &ctx()).await.unwrap();
        let base = dir.path().join(&uid).join("volumes/kubernetes.io~configmap");
        assert_eq!(prepared.volumes["all"].host_path, base.join("all"));
        assert!(prepared.volumes["all"].read_only);
        assert_eq!(mode(&base.join("all")), 0o777);
        assert_eq!(std::fs::read_to_string(base.join("all/app.conf")).unwrap(), "port=80");
        assert_eq!(mode(&base.join("all/other")), 0o640);
        assert_eq!(link(&base.join("items/conf")), "..data/conf");
        assert_eq!(std::fs::read_to_string(base.join("items/conf/app.conf")).unwrap(), "port=80");
        assert_eq!(mode(&base.join("items/conf/app.conf")), 0o600);
        assert!(std::fs::read_dir(base.join("opt")).unwrap().all(|e| e.unwrap().file_name().to_string_lossy().starts_with("..")));

        // refresh picks up a change.
        let api = client.api::<ConfigMap>(Some("default")).unwrap();
        api.patch_merge("cfg", &serde_json::json!({"data": {"app.conf": "port=81"}})).await.unwrap();
        refresh(&client, dir.path(), &pod, &ctx()).await.unwrap();
        assert_eq!(std::fs::read_to_string(base.join("items/conf/app.conf")).unwrap(), "port=81");
        cleanup(dir.path(), &uid).unwrap();
        assert!(!dir.path().join(&uid).exists());
        cleanup(dir.path(), &uid).unwrap();
    }

    async fn setup_error(client: &Client, v: Volume) -> String {
        let dir = tempfile::tempdir().unwrap();
        let pod = pod_with_volumes(vec![v], vec![]);
        let _guard = CleanupGuard(dir.path().to_path_buf(), pod.metadata.uid.clone().unwrap());
        prepare(client, dir.path(), &pod, &ctx()).await.unwrap_err().to_string()
    }

    #[tokio::test]
    async fn setup_errors_carry_the_kubelet_messages() {
        let client = test_client().await;
        make_config_map(&client, "cfg", &[("a", "1")]).await;
        make_secret(&client, "sec", &[("a", "1")]).await;
        let cm = |name: &str, key: Option<&str>| Volume {
            config_map: Some(ConfigMapVolumeSource {
                name: name.into(),
                items: key.map(|k| vec![KeyToPath { key: k.into(), path: "p".into(), mode: None }]),
                ..Default::default()
            }),
            ..vol("cfg")
        };
        assert_eq!(setup_error(&client, cm("x", None)).await, "MountVolume.SetUp failed for volume \"cfg\" : configmap \"x\" not found");
        assert_eq!(
            setup_error(&client, cm("cfg", Some("k"))).await,
            "MountVolume.SetUp failed for volume \"cfg\" : configmap references non-existent config key: k"
        );
        let secret = |name: &str, key: Option<&str>| Volume {
            secret: Some(SecretVolumeSource {
                secret_name: Some(name.into()),
                items: key.map(|k| vec![KeyToPath { key: k.into(), path: "p".into(), mode: None }]),
                ..Default::default()
            }),
            ..vol("s")
        };
        if nix::unistd::geteuid().is_root() || std::env::var_os("CI").is_some() {
            assert_eq!(setup_error(&client, secret("x", None)).await, "MountVolume.SetUp failed for volume \"s\" : secret \"x\" not found");
            assert_eq!(
                setup_error(&client, secret("sec", Some("k"))).await,
                "MountVolume.SetUp failed for volume \"s\" : references non-existent secret key: k"
            );
        }
        let hp = |path: &str, t: &str| Volume { host_path: Some(HostPathVolumeSource { path: path.into(), type_: Some(t.into()) }), ..vol("h") };
        assert_eq!(
            setup_error(&client, hp("/nonexistent/minikube-rs-test", "Directory")).await,
            "MountVolume.SetUp failed for volume \"h\" : hostPath type check failed: /nonexistent/minikube-rs-test is not a directory"
        );
        let pvc = Volume {
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: "data".into(), read_only: None }),
            ..vol("d")
        };
        assert_eq!(
            setup_error(&client, pvc).await,
            "MountVolume.SetUp failed for volume \"d\" : failed to fetch PVC from API server: persistentvolumeclaims \"data\" not found"
        );
    }

    #[test]
    fn host_path_types() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("file"), "x").unwrap();
        let sock = d.join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let show = |p: &Path| p.display().to_string();
        let ok = |p: &Path, t: &str| check_host_path(p, t);
        assert_eq!(ok(&d.join("nope"), ""), Ok(()));
        assert_eq!(ok(d, "Directory"), Ok(()));
        assert_eq!(ok(&d.join("file"), "Directory"), Err(format!("hostPath type check failed: {} is not a directory", show(&d.join("file")))));
        assert_eq!(ok(&d.join("made/deep"), "DirectoryOrCreate"), Ok(()));
        assert!(d.join("made/deep").is_dir());
        assert_eq!(mode(&d.join("made/deep")) & 0o755, 0o755);
        assert_eq!(ok(&d.join("file"), "File"), Ok(()));
        assert_eq!(ok(d, "File"), Err(format!("hostPath type check failed: {} is not a file", show(d))));
        assert_eq!(ok(&d.join("new"), "FileOrCreate"), Ok(()));
        assert!(d.join("new").is_file());
        assert_eq!(mode(&d.join("new")), 0o644);
        assert_eq!(ok(&d.join("file"), "DirectoryOrCreate"), Err(format!("hostPath type check failed: {} is not a directory", show(&d.join("file")))));
        assert_eq!(ok(&sock, "Socket"), Ok(()));
        assert_eq!(ok(&d.join("file"), "Socket"), Err(format!("hostPath type check failed: {} is not a socket file", show(&d.join("file")))));
        assert_eq!(ok(Path::new("/dev/null"), "CharDevice"), Ok(()));
        assert_eq!(ok(d, "CharDevice"), Err(format!("hostPath type check failed: {} is not a character device", show(d))));
        assert_eq!(ok(Path::new("/dev/null"), "BlockDevice"), Err("hostPath type check failed: /dev/null is not a block device".to_string()));
        assert_eq!(ok(d, "Weird"), Err("Weird is an invalid volume type".to_string()));
    }

    #[tokio::test]
    async fn downward_api_and_projected_volumes() {
        let client = test_client().await;
        make_config_map(&client, "cfg", &[("a", "from-cm")]).await;
        make_secret(&client, "sec", &[("token", "s3cret")]).await;
        let items = || {
            vec![
                DownwardAPIVolumeFile {
                    path: "labels".into(),
                    field_ref: Some(ObjectFieldSelector { field_path: "metadata.labels".into(), api_version: None }),
                    ..Default::default()
                },
                DownwardAPIVolumeFile {
                    path: "cpu_limit".into(),
                    resource_field_ref: Some(ResourceFieldSelector {
                        container_name: Some("app".into()),
                        resource: "limits.cpu".into(),
                        divisor: Some(Quantity("1m".into())),
                    }),
                    mode: Some(0o600),
                    ..Default::default()
                },
            ]
        };
        let downward = Volume { downward_api: Some(DownwardAPIVolumeSource { items: Some(items()), default_mode: None }), ..vol("info") };
        let projected = Volume {
            projected: Some(ProjectedVolumeSource {
                default_mode: Some(0o440),
                sources: Some(vec![
                    VolumeProjection { config_map: Some(ConfigMapProjection { name: "cfg".into(), ..Default::default() }), ..Default::default() },
                    VolumeProjection {
                        secret: Some(SecretProjection {
                            name: "sec".into(),
                            items: Some(vec![KeyToPath { key: "token".into(), path: "creds/token".into(), mode: None }]),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    VolumeProjection { downward_api: Some(DownwardAPIProjection { items: Some(items()) }), ..Default::default() },
                ]),
            }),
            ..vol("all-in-one")
        };
        let dir = tempfile::tempdir().unwrap();
        let pod = pod_with_volumes(vec![downward, projected], vec![]);
        let uid = pod.metadata.uid.clone().unwrap();
        let _guard = CleanupGuard(dir.path().to_path_buf(), uid.clone());
        let prepared = prepare(&client, dir.path(), &pod, &ctx()).await.unwrap();
        let info = &prepared.volumes["info"].host_path;
        assert_eq!(info, &dir.path().join(&uid).join("volumes/kubernetes.io~downward-api/info"));
        assert_eq!(std::fs::read_to_string(info.join("labels")).unwrap(), "app=\"web\"\ntier=\"a \\\"b\\\"\"");
        assert_eq!(std::fs::read_to_string(info.join("cpu_limit")).unwrap(), "2000");
        assert_eq!(mode(&info.join("cpu_limit")), 0o600);
        assert_eq!(mode(&info.join("labels")), 0o644);
        let all = &prepared.volumes["all-in-one"].host_path;
        assert!(all.ends_with("volumes/kubernetes.io~projected/all-in-one"));
        assert_eq!(std::fs::read_to_string(all.join("a")).unwrap(), "from-cm");
        assert_eq!(std::fs::read_to_string(all.join("creds/token")).unwrap(), "s3cret");
        assert_eq!(mode(&all.join("creds/token")), 0o440);
        assert_eq!(std::fs::read_to_string(all.join("cpu_limit")).unwrap(), "2000");
        cleanup(dir.path(), &uid).unwrap();
        assert!(!dir.path().join(&uid).exists());
        assert!(mounts_under(&std::fs::read_to_string("/proc/self/mountinfo").unwrap(), &dir.path().join(&uid)).is_empty());
    }

    #[tokio::test]
    async fn secret_and_memory_empty_dir_are_tmpfs_and_cleanup_unmounts() {
        if !have_root("secret_and_memory_empty_dir_are_tmpfs_and_cleanup_unmounts") {
            return;
        }
        let client = test_client().await;
        make_secret(&client, "sec", &[("password", "hunter2")]).await;
        let secret = Volume { secret: Some(SecretVolumeSource { secret_name: Some("sec".into()), ..Default::default() }), ..vol("creds") };
        let mem = Volume {
            empty_dir: Some(EmptyDirVolumeSource { medium: Some("Memory".into()), size_limit: Some(Quantity("16Mi".into())) }),
            ..vol("scratch")
        };
        let dir = tempfile::tempdir().unwrap();
        let pod = pod_with_volumes(vec![secret, mem], vec![]);
        let uid = pod.metadata.uid.clone().unwrap();
        let _guard = CleanupGuard(dir.path().to_path_buf(), uid.clone());
        let prepared = prepare(&client, dir.path(), &pod, &ctx()).await.unwrap();
        // Again: idempotent, nothing mounted twice.
        prepare(&client, dir.path(), &pod, &ctx()).await.unwrap();
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let points = mounts_under(&info, &dir.path().join(&uid));
        let scratch = &prepared.volumes["scratch"].host_path;
        assert_eq!(prepared.volumes["scratch"].kind, VolumeKind::EmptyDirMemory);
        assert_eq!(points, vec![scratch.clone(), prepared.volumes["creds"].host_path.clone()]);
        assert_eq!(info.lines().filter(|l| l.contains(&*scratch.to_string_lossy())).count(), 1);
        let st = nix::sys::statvfs::statvfs(scratch).unwrap();
        assert_eq!(st.blocks() as u64 * st.fragment_size() as u64, 16 << 20);
        assert_eq!(std::fs::read_to_string(prepared.volumes["creds"].host_path.join("password")).unwrap(), "hunter2");
        cleanup(dir.path(), &uid).unwrap();
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(mounts_under(&info, &dir.path().join(&uid)).is_empty());
        assert!(!dir.path().join(&uid).exists());
    }

    #[tokio::test]
    async fn pvc_resolves_to_the_bound_pv_path() {
        let client = test_client().await;
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage/pvc-123");
        let pv = PersistentVolume {
            metadata: ObjectMeta { name: Some("pvc-123".into()), ..Default::default() },
            spec: Some(PersistentVolumeSpec {
                capacity: Some([("storage".to_string(), Quantity("1Gi".into()))].into()),
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                host_path: Some(HostPathVolumeSource { path: storage.to_string_lossy().into_owned(), type_: Some("DirectoryOrCreate".into()) }),
                ..Default::default()
            }),
            ..Default::default()
        };
        client.api::<PersistentVolume>(None).unwrap().create(&pv).await.unwrap();
        let pvc = PersistentVolumeClaim {
            metadata: ObjectMeta { name: Some("data".into()), namespace: Some("default".into()), ..Default::default() },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                resources: Some(VolumeResourceRequirements { requests: Some([("storage".to_string(), Quantity("1Gi".into()))].into()), ..Default::default() }),
                volume_name: Some("pvc-123".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let api = client.api::<PersistentVolumeClaim>(Some("default")).unwrap();
        api.create(&pvc).await.unwrap();
        let v = Volume {
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: "data".into(), read_only: Some(true) }),
            ..vol("d")
        };
        let pods = dir.path().join("pods");
        let pod = pod_with_volumes(vec![v], vec![]);
        let _guard = CleanupGuard(pods.clone(), pod.metadata.uid.clone().unwrap());
        let err = prepare(&client, &pods, &pod, &ctx()).await.unwrap_err().to_string();
        assert!(err.starts_with("MountVolume.SetUp failed for volume \"d\" : PVC default/data has non-bound phase"), "{err}");
        api.patch_status("data", &serde_json::json!({"status": {"phase": "Bound"}})).await.unwrap();
        let prepared = prepare(&client, &pods, &pod, &ctx()).await.unwrap();
        assert_eq!(prepared.volumes["d"].host_path, storage);
        assert!(prepared.volumes["d"].read_only);
        assert!(storage.is_dir());
        cleanup(&pods, pod.metadata.uid.as_deref().unwrap()).unwrap();
        assert!(storage.is_dir(), "cleanup never touches PV directories");
    }

    fn etc(dir: &Path) -> EtcFiles {
        EtcFiles { hosts: dir.join("etc-hosts"), hostname: dir.join("hostname"), resolv_conf: dir.join("resolv.conf") }
    }

    #[tokio::test]
    async fn container_mounts_with_sub_paths_and_etc_files() {
        let client = test_client().await;
        make_config_map(&client, "cfg", &[("nginx.conf", "events {}")]).await;
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("host");
        std::fs::create_dir_all(&host).unwrap();
        let volumes = vec![
            Volume { empty_dir: Some(EmptyDirVolumeSource::default()), ..vol("cache") },
            Volume { host_path: Some(HostPathVolumeSource { path: host.to_string_lossy().into_owned(), type_: None }), ..vol("host") },
            Volume { config_map: Some(ConfigMapVolumeSource { name: "cfg".into(), ..Default::default() }), ..vol("cfg") },
        ];
        let mounts = vec![
            VolumeMount { sub_path: Some("a/b".into()), ..mount("cache", "/var/cache/app") },
            VolumeMount { sub_path_expr: Some("logs/$(POD_NAME)".into()), read_only: Some(true), ..mount("host", "/logs") },
            VolumeMount { sub_path: Some("nginx.conf".into()), ..mount("cfg", "/etc/nginx/nginx.conf") },
            mount("cache", "tmp"),
        ];
        let mut pod = pod_with_volumes(volumes, mounts);
        let uid = pod.metadata.uid.clone().unwrap();
        let _guard = CleanupGuard(dir.path().to_path_buf(), uid.clone());
        let prepared = prepare(&client, dir.path(), &pod, &ctx()).await.unwrap();
        let env = vec![("POD_NAME".to_string(), "web".to_string())];
        let files = etc(&dir.path().join(&uid));
        let tlog = dir.path().join(&uid).join("containers/app/0a1b");
        let c = pod.spec.as_ref().unwrap().containers[0].clone();
        let got = container_mounts(&pod, &c, &prepared, &files, &env, &tlog).unwrap();
        let cache = &prepared.volumes["cache"].host_path;
        let cfg_file = std::fs::canonicalize(prepared.volumes["cfg"].host_path.join("nginx.conf")).unwrap();
        let want = vec![
            Mount { destination: "/logs".into(), source: host.join("logs/web"), read_only: true },
            Mount { destination: "/tmp".into(), source: cache.clone(), read_only: false },
            Mount { destination: "/etc/hostname".into(), source: files.hostname.clone(), read_only: false },
            Mount { destination: "/etc/resolv.conf".into(), source: files.resolv_conf.clone(), read_only: false },
            Mount { destination: "/etc/hosts".into(), source: files.hosts.clone(), read_only: false },
            Mount { destination: "/dev/termination-log".into(), source: tlog.clone(), read_only: false },
            Mount { destination: "/var/cache/app".into(), source: std::fs::canonicalize(cache.join("a/b")).unwrap(), read_only: false },
            Mount { destination: "/etc/nginx/nginx.conf".into(), source: cfg_file.clone(), read_only: true },
        ];
        assert_eq!(got, want);
        assert!(cache.join("a/b").is_dir() && host.join("logs/web").is_dir());
        assert_eq!(mode(&cache.join("a")), 0o777);
        assert!(cfg_file.parent().unwrap().file_name().unwrap().to_string_lossy().starts_with("..20"));
        assert_eq!(mode(&tlog), 0o666);

        // readOnlyRootFilesystem makes hostname and resolv.conf read-only; a volume at /etc/hosts wins.
        let mut c2 = c.clone();
        c2.security_context = Some(SecurityContext { read_only_root_filesystem: Some(true), ..Default::default() });
        c2.volume_mounts = Some(vec![mount("cache", "/etc/hosts")]);
        c2.termination_message_path = Some("/tmp/msg".into());
        let got = container_mounts(&pod, &c2, &prepared, &files, &env, &tlog).unwrap();
        let dests: Vec<(String, bool)> = got.iter().map(|m| (m.destination.to_string_lossy().into_owned(), m.read_only)).collect();
        assert_eq!(
            dests,
            vec![("/etc/hostname".into(), true), ("/etc/resolv.conf".into(), true), ("/etc/hosts".into(), false), ("/tmp/msg".into(), false)]
        );
        assert_eq!(got[2].source, *cache);

        // Errors.
        let err = |m: VolumeMount, env: &[(String, String)]| {
            let mut c3 = c.clone();
            c3.volume_mounts = Some(vec![m]);
            container_mounts(&pod, &c3, &prepared, &files, env, &tlog).unwrap_err().to_string()
        };
        assert_eq!(err(mount("nope", "/x"), &env), "cannot find volume \"nope\" to mount into container \"app\"");
        assert_eq!(err(VolumeMount { sub_path: Some("/abs".into()), ..mount("cache", "/x") }, &env), "error SubPath `/abs` must not be an absolute path");
        assert_eq!(
            err(VolumeMount { sub_path: Some("a/../../x".into()), ..mount("cache", "/x") }, &env),
            "unable to provision SubPath `a/../../x`: must not contain '..'"
        );
        assert_eq!(err(VolumeMount { sub_path_expr: Some("$(A)/$(B)".into()), ..mount("cache", "/x") }, &[]), "missing value for A, B");
        std::os::unix::fs::symlink("/etc", cache.join("escape")).unwrap();
        assert_eq!(
            err(VolumeMount { sub_path: Some("escape".into()), ..mount("cache", "/x") }, &env),
            "failed to prepare subPath for volumeMount \"cache\" of container \"app\""
        );
        assert_eq!(
            err(VolumeMount { sub_path: Some("escape/new".into()), ..mount("cache", "/x") }, &env),
            "failed to create subPath directory for volumeMount \"cache\" of container \"app\""
        );
        assert!(!Path::new("/etc/new").exists());
        if let Some(s) = pod.spec.as_mut() {
            s.volumes = None;
        }
        cleanup(dir.path(), &uid).unwrap();
        assert!(host.is_dir(), "cleanup never touches hostPath directories");
    }

    #[tokio::test]
    async fn fs_group_owns_empty_dir_and_config_map_volumes() {
        use std::os::unix::fs::MetadataExt;
        if !have_root("fs_group_owns_empty_dir_and_config_map_volumes") {
            return;
        }
        let client = test_client().await;
        make_config_map(&client, "cfg", &[("k", "v")]).await;
        let volumes = vec![
            Volume { empty_dir: Some(EmptyDirVolumeSource::default()), ..vol("cache") },
            Volume { config_map: Some(ConfigMapVolumeSource { name: "cfg".into(), default_mode: Some(0o400), ..Default::default() }), ..vol("cfg") },
        ];
        let mut pod = pod_with_volumes(volumes, vec![]);
        pod.spec.as_mut().unwrap().security_context =
            Some(k8s_openapi::api::core::v1::PodSecurityContext { fs_group: Some(4321), ..Default::default() });
        let dir = tempfile::tempdir().unwrap();
        let _guard = CleanupGuard(dir.path().to_path_buf(), pod.metadata.uid.clone().unwrap());
        let prepared = prepare(&client, dir.path(), &pod, &ctx()).await.unwrap();
        let cache = &prepared.volumes["cache"].host_path;
        assert_eq!(std::fs::metadata(cache).unwrap().gid(), 4321);
        assert_eq!(mode(cache), 0o2777);
        let file = prepared.volumes["cfg"].host_path.join("k");
        assert_eq!(std::fs::metadata(&file).unwrap().gid(), 4321);
        assert_eq!(mode(&file), 0o440);
        // A refresh with unchanged contents rewrites nothing.
        let before = link(&prepared.volumes["cfg"].host_path.join("..data"));
        refresh(&client, dir.path(), &pod, &ctx()).await.unwrap();
        assert_eq!(link(&prepared.volumes["cfg"].host_path.join("..data")), before);
    }

    #[test]
    fn memory_volume_size_takes_the_smallest_limit() {
        let mut pod = pod_with(Container { name: "a".into(), ..Default::default() });
        let ctx = ctx();
        assert_eq!(memory_volume_size(&pod, &ctx, None), 1 << 30);
        assert_eq!(memory_volume_size(&pod, &ctx, Some(1 << 20)), 1 << 20);
        pod.spec.as_mut().unwrap().containers[0].resources = Some(k8s_openapi::api::core::v1::ResourceRequirements {
            limits: Some([("memory".to_string(), Quantity("64Mi".into()))].into()),
            ..Default::default()
        });
        assert_eq!(memory_volume_size(&pod, &ctx, None), 64 << 20);
        assert_eq!(memory_volume_size(&pod, &ctx, Some(2 << 30)), 64 << 20);
    }

    #[test]
    fn mountinfo_paths_are_unescaped() {
        let info = "36 35 98:0 / /var/lib/pods/u\\040x/volumes/a rw - tmpfs tmpfs rw\n37 35 98:0 / /other rw - ext4 /dev/x rw\n";
        assert_eq!(mounts_under(info, Path::new("/var/lib/pods/u x")), vec![PathBuf::from("/var/lib/pods/u x/volumes/a")]);
    }
}
