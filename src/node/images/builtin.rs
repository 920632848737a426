//! The built-in images, present with no network: busybox (from the host's busybox-static),
//! the pause image and the web server, both compiled from `assets/images/*.c` by build.rs.
//! Their layers are built deterministically (fixed mtimes, owners and order), so their
//! digests are the same at every start.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use super::archive::oci_arch;
use super::{Error, ImageStore, Pending};

/// The pause binary (see assets/images/pause.c).
static PAUSE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pause"));
/// The web server binary (see assets/images/webserver.c).
static WEBSERVER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/webserver"));

/// mtime of every file of the built-in layers (2025-01-01T00:00:00Z).
const EPOCH: u64 = 1_735_689_600;
/// `created` of the built-in images' configs.
const CREATED: &str = "2025-01-01T00:00:00Z";
/// Docker's default PATH, as the official images set it.
const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Where Debian's busybox-static puts the binary.
const BUSYBOX_PATHS: &[&str] = &["/bin/busybox", "/usr/bin/busybox"];

pub const BUSYBOX: &str = "docker.io/library/busybox:latest";
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";
pub const PAUSE_LATEST: &str = "registry.k8s.io/pause:latest";
pub const WEBSERVER_IMAGE: &str = "docker.io/minikube-rs/webserver:latest";

const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MEDIA_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
bin:x:2:2:bin:/bin:/bin/false\n\
sys:x:3:3:sys:/dev:/bin/false\n\
sync:x:4:100:sync:/bin:/bin/sync\n\
mail:x:8:8:mail:/var/spool/mail:/bin/false\n\
www-data:x:33:33:www-data:/var/www:/bin/false\n\
operator:x:37:37:Operator:/var:/bin/false\n\
nobody:x:65534:65534:nobody:/home:/bin/false\n";

const GROUP: &str = "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\n\
lp:x:7:\nmail:x:8:\nkmem:x:9:\nwheel:x:10:root\ncdrom:x:11:\ndialout:x:18:\nfloppy:x:19:\n\
video:x:28:\naudio:x:29:\ntape:x:32:\nwww-data:x:33:\noperator:x:37:\nutmp:x:43:\nplugdev:x:46:\n\
staff:x:50:\nlock:x:54:\nnetdev:x:82:\nusers:x:100:\nnogroup:x:65534:\n";

const SHADOW: &str = "root:*:10933:0:99999:7:::\ndaemon:*:10933:0:99999:7:::\nbin:*:10933:0:99999:7:::\n\
sys:*:10933:0:99999:7:::\nsync:*:10933:0:99999:7:::\nmail:*:10933:0:99999:7:::\n\
www-data:*:10933:0:99999:7:::\noperator:*:10933:0:99999:7:::\nnobody:*:10933:0:99999:7:::\n";

const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/// Ensures each built-in image is in the store; builds only the missing ones.
pub(super) fn ensure(store: &ImageStore) -> Result<(), Error> {
    let _span = tracing::debug_span!("ensure_builtin_images").entered();
    if !present(store, &[BUSYBOX])? {
        let layer = busybox_layer().map_err(|reason| Error::Builtin { name: BUSYBOX.into(), reason })?;
        let config = json!({ "Env": [PATH_ENV], "Cmd": ["sh"] });
        add(store, &[BUSYBOX], layer, config, "minikube-rs: the host's busybox-static with its applets")?;
    }
    if !present(store, &[PAUSE_IMAGE, PAUSE_LATEST])? {
        let layer = single_binary_layer("pause", PAUSE, false).map_err(|reason| Error::Builtin { name: PAUSE_IMAGE.into(), reason })?;
        let config = json!({ "Env": [PATH_ENV], "Entrypoint": ["/pause"], "WorkingDir": "/" });
        add(store, &[PAUSE_IMAGE, PAUSE_LATEST], layer, config, "minikube-rs: assets/images/pause.c")?;
    }
    if !present(store, &[WEBSERVER_IMAGE])? {
        let layer = single_binary_layer("webserver", WEBSERVER, true)
            .map_err(|reason| Error::Builtin { name: WEBSERVER_IMAGE.into(), reason })?;
        let config = json!({
            "Env": [PATH_ENV],
            "Entrypoint": ["/webserver"],
            "ExposedPorts": { "8000/tcp": {} },
            "WorkingDir": "/",
        });
        add(store, &[WEBSERVER_IMAGE], layer, config, "minikube-rs: assets/images/webserver.c")?;
    }
    Ok(())
}

/// Whether every name resolves to an image whose layers are unpacked.
fn present(store: &ImageStore, names: &[&str]) -> Result<bool, Error> {
    for name in names {
        match store.get(name) {
            Ok(Some(image)) if image.layers.iter().all(|l| l.is_dir()) => {}
            Ok(_) => return Ok(false),
            // A damaged record: rebuild over it.
            Err(Error::Io { .. } | Error::Format { .. }) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Stores a one-layer image (uncompressed layer, so its digest is its diff id) under `names`.
fn add(store: &ImageStore, names: &[&str], layer: Vec<u8>, config: serde_json::Value, created_by: &str) -> Result<(), Error> {
    let _lock = store.lock()?;
    let diff_id = store.put_blob_bytes(&layer)?;
    let config = json!({
        "created": CREATED,
        "architecture": oci_arch(),
        "os": "linux",
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created": CREATED, "created_by": created_by }],
    });
    let config_bytes = serde_json::to_vec(&config).map_err(|e| Error::format(store.root(), e))?;
    let config_digest = store.put_blob_bytes(&config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": { "mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config_bytes.len() },
        "layers": [{ "mediaType": MEDIA_LAYER, "digest": diff_id, "size": layer.len() }],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| Error::format(store.root(), e))?;
    let manifest = store.put_blob_bytes(&manifest_bytes)?;
    let names = names.iter().map(|n| n.to_string()).collect();
    store.register(vec![Pending { manifest, names, repo_digests: Vec::new() }])?;
    tracing::info!(image = created_by, "built-in image ready");
    Ok(())
}

/// A deterministic layer tarball under construction.
struct LayerTar {
    builder: tar::Builder<Vec<u8>>,
}

impl LayerTar {
    fn new() -> LayerTar {
        LayerTar { builder: tar::Builder::new(Vec::new()) }
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(EPOCH);
        header.set_uid(0);
        header.set_gid(0);
        header
    }

    fn dir(&mut self, path: &str, mode: u32) -> Result<(), String> {
        let mut header = Self::header(tar::EntryType::Directory, mode, 0);
        self.builder.append_data(&mut header, format!("{path}/"), &[][..]).map_err(|e| format!("{path}: {e}"))
    }

    fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> Result<(), String> {
        let mut header = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
        self.builder.append_data(&mut header, path, data).map_err(|e| format!("{path}: {e}"))
    }

    fn link(&mut self, kind: tar::EntryType, path: &str, target: &str) -> Result<(), String> {
        let mut header = Self::header(kind, 0o777, 0);
        self.builder.append_link(&mut header, path, target).map_err(|e| format!("{path}: {e}"))
    }

    fn finish(self) -> Result<Vec<u8>, String> {
        self.builder.into_inner().map_err(|e| format!("finishing the layer: {e}"))
    }
}

/// busybox as the official image lays it out: the binary, a hard link per applet in /bin,
/// the usual /etc files and directories.
fn busybox_layer() -> Result<Vec<u8>, String> {
    let binary_path = find_busybox()?;
    let binary = fs::read(&binary_path).map_err(|e| format!("reading {}: {e}", binary_path.display()))?;
    if has_interpreter(&binary) {
        return Err(format!(
            "{} is dynamically linked; the busybox image needs busybox-static (apt-get install busybox-static)",
            binary_path.display()
        ));
    }
    let applets = applets(&binary_path)?;
    let mut tar = LayerTar::new();
    for (dir, mode) in [
        ("bin", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("etc/network", 0o755),
        ("home", 0o755),
        ("lib", 0o755),
        ("proc", 0o755),
        ("root", 0o700),
        ("sys", 0o755),
        ("tmp", 0o1777),
        ("usr", 0o755),
        ("usr/sbin", 0o755),
        ("var", 0o755),
        ("var/spool", 0o755),
        ("var/spool/mail", 0o755),
        ("var/www", 0o755),
    ] {
        tar.dir(dir, mode)?;
    }
    tar.file("bin/busybox", 0o755, &binary)?;
    for applet in &applets {
        tar.link(tar::EntryType::Link, &format!("bin/{applet}"), "bin/busybox")?;
    }
    tar.file("etc/passwd", 0o644, PASSWD.as_bytes())?;
    tar.file("etc/group", 0o644, GROUP.as_bytes())?;
    tar.file("etc/shadow", 0o640, SHADOW.as_bytes())?;
    tar.file("etc/hostname", 0o644, b"")?;
    tar.file("etc/hosts", 0o644, HOSTS.as_bytes())?;
    tar.file("etc/resolv.conf", 0o644, b"")?;
    tar.link(tar::EntryType::Symlink, "etc/mtab", "/proc/mounts")?;
    tar.finish()
}

/// A layer with one static binary at `/<name>` (plus /etc and /tmp for a server).
fn single_binary_layer(name: &str, binary: &[u8], server: bool) -> Result<Vec<u8>, String> {
    let mut tar = LayerTar::new();
    if server {
        tar.dir("etc", 0o755)?;
        tar.file("etc/passwd", 0o644, b"root:x:0:0:root:/:/webserver\nnobody:x:65534:65534:nobody:/:/webserver\n")?;
        tar.file("etc/group", 0o644, b"root:x:0:\nnogroup:x:65534:\n")?;
        tar.dir("tmp", 0o1777)?;
    }
    tar.file(name, 0o755, binary)?;
    tar.finish()
}

fn find_busybox() -> Result<PathBuf, String> {
    BUSYBOX_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| format!("no busybox at {}; install busybox-static", BUSYBOX_PATHS.join(" or ")))
}

/// The applet names `busybox --list` prints, sorted, without "busybox" itself.
fn applets(busybox: &Path) -> Result<Vec<String>, String> {
    let output = Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(|e| format!("running {} --list: {e}", busybox.display()))?;
    if !output.status.success() {
        return Err(format!("{} --list: {}", busybox.display(), output.status));
    }
    let mut applets: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
        .map(str::to_string)
        .collect();
    applets.sort();
    applets.dedup();
    Ok(applets)
}

/// Whether an ELF binary asks for a dynamic loader (a PT_INTERP program header).
fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        // Not a little-endian ELF64: let it be (it fails at run time, with its own message).
        return false;
    }
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap_or([0; 8])) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        elf.get(at..at + 4).is_some_and(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) == PT_INTERP)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_deterministic() {
        let a = single_binary_layer("pause", PAUSE, false).unwrap();
        let b = single_binary_layer("pause", PAUSE, false).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn embedded_binaries_are_static() {
        assert!(!has_interpreter(PAUSE));
        assert!(!has_interpreter(WEBSERVER));
        let this = fs::read("/proc/self/exe").unwrap();
        assert!(has_interpreter(&this), "the test binary is dynamically linked");
    }
}
