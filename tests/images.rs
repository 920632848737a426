//! `minikube-rs image load|ls|rm` against the real binary with a temp `--data-dir`: docker
//! and OCI archives built here, whiteouts and opaque dirs as overlayfs sees them, garbage
//! collection, corrupt input, and the built-in images.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;
use sha2::{Digest, Sha256};

const MTIME: u64 = 1_600_000_000;

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_minikube-rs")
}

/// Whether the test can run: root is needed for ownership, device nodes, trusted xattrs and
/// overlay mounts. Under CI it must.
fn can_run(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: needs root under CI");
    }
    eprintln!("{test}: skipped, needs root");
    false
}

fn mkrs(data_dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(binary());
    command.args(args).arg("--data-dir").arg(data_dir);
    command.output().expect("run minikube-rs")
}

fn ok(data_dir: &Path, args: &[&str]) -> String {
    let out = mkrs(data_dir, args);
    assert!(
        out.status.success(),
        "minikube-rs {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(bytes))
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// A tar under construction with fixed mtimes.
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Tar {
        Tar(tar::Builder::new(Vec::new()))
    }

    fn header(kind: tar::EntryType, mode: u32, size: usize, uid: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size as u64);
        header.set_mtime(MTIME);
        header.set_uid(uid);
        header.set_gid(uid);
        header
    }

    fn dir(mut self, path: &str) -> Tar {
        let mut h = Self::header(tar::EntryType::Directory, 0o755, 0, 0);
        self.0.append_data(&mut h, path, &[][..]).expect("dir");
        self
    }

    fn file(mut self, path: &str, data: &[u8], uid: u64) -> Tar {
        let mut h = Self::header(tar::EntryType::Regular, 0o644, data.len(), uid);
        self.0.append_data(&mut h, path, data).expect("file");
        self
    }

    fn link(mut self, kind: tar::EntryType, path: &str, target: &str) -> Tar {
        let mut h = Self::header(kind, 0o777, 0, 0);
        self.0.append_link(&mut h, path, target).expect("link");
        self
    }

    fn fifo(mut self, path: &str) -> Tar {
        let mut h = Self::header(tar::EntryType::Fifo, 0o600, 0, 0);
        self.0.append_data(&mut h, path, &[][..]).expect("fifo");
        self
    }

    fn finish(self) -> Vec<u8> {
        self.0.into_inner().expect("tar")
    }
}

/// The two layers every test image has: the second deletes `a/gone.txt` (whiteout) and
/// replaces `keep/` (opaque) with only `keep/new.txt`.
fn layers() -> (Vec<u8>, Vec<u8>) {
    let lower = Tar::new()
        .dir("a/")
        .file("a/gone.txt", b"bye", 0)
        .dir("keep/")
        .file("keep/old.txt", b"old", 0)
        .file("top.txt", b"top", 1234)
        .link(tar::EntryType::Symlink, "link", "top.txt")
        .link(tar::EntryType::Link, "hard", "top.txt")
        .fifo("fifo")
        .finish();
    let upper = Tar::new()
        .file("a/.wh.gone.txt", b"", 0)
        .dir("keep/")
        .file("keep/.wh..wh..opq", b"", 0)
        .file("keep/new.txt", b"new", 0)
        .finish();
    (lower, upper)
}

fn config(lower: &[u8], upper: &[u8], cmd: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Cmd": [cmd], "Env": ["PATH=/bin"], "WorkingDir": "/a" },
        "rootfs": { "type": "layers", "diff_ids": [sha256(lower), sha256(upper)] },
    }))
    .expect("json")
}

/// A `docker save` tarball, gzip-compressed as a whole.
fn docker_archive(name: &str) -> Vec<u8> {
    let (lower, upper) = layers();
    let config = config(&lower, &upper, "/docker");
    let manifest = json!([{
        "Config": format!("{}.json", hex(&config)),
        "RepoTags": [name],
        "Layers": ["l1/layer.tar", "l2/layer.tar"],
    }]);
    let tar = Tar::new()
        .file(&format!("{}.json", hex(&config)), &config, 0)
        .dir("l1/")
        .file("l1/layer.tar", &lower, 0)
        .dir("l2/")
        .file("l2/layer.tar", &upper, 0)
        .file("manifest.json", manifest.to_string().as_bytes(), 0)
        .finish();
    gzip(&tar)
}

/// An OCI archive whose index names an image index with two platforms; layers gzip-compressed
/// (the upper one) or not. `corrupt` flips a byte of the config blob.
fn oci_archive(name: &str, corrupt: bool) -> Vec<u8> {
    let (lower, upper) = layers();
    let upper_gz = gzip(&upper);
    let config = config(&lower, &upper, "/oci");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len() },
        "layers": [
            { "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(&lower), "size": lower.len() },
            { "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(&upper_gz), "size": upper_gz.len() },
        ],
    }))
    .expect("json");
    let other = format!("sha256:{}", "0".repeat(64));
    let image_index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": other, "size": 10,
              "platform": { "architecture": "s390x", "os": "linux" } },
            { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(&manifest), "size": manifest.len(),
              "platform": { "architecture": "amd64", "os": "linux" } },
        ],
    }))
    .expect("json");
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": sha256(&image_index),
            "size": image_index.len(),
            "annotations": { "org.opencontainers.image.ref.name": name },
        }],
    });
    let mut config_blob = config.clone();
    if corrupt {
        config_blob[10] ^= 1;
    }
    let blob = |bytes: &[u8]| format!("blobs/sha256/{}", hex(bytes));
    Tar::new()
        .file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#, 0)
        .file("index.json", index.to_string().as_bytes(), 0)
        .dir("blobs/")
        .dir("blobs/sha256/")
        .file(&blob(&image_index), &image_index, 0)
        .file(&blob(&manifest), &manifest, 0)
        .file(&blob(&config), &config_blob, 0)
        .file(&blob(&lower), &lower, 0)
        .file(&blob(&upper_gz), &upper_gz, 0)
        .finish()
}

fn layer_dir(data_dir: &Path, layer: &[u8]) -> PathBuf {
    data_dir.join("images/layers").join(hex(layer))
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let c_path = CString::new(path.as_os_str().as_bytes()).expect("path");
    let c_name = CString::new(name).expect("name");
    let mut buf = vec![0u8; 64];
    // SAFETY: valid NUL-terminated strings and a buffer of buf.len() bytes.
    let n = unsafe { libc::lgetxattr(c_path.as_ptr(), c_name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

/// Rows of `image ls` as (IMAGE, TAG, IMAGE ID).
fn ls(data_dir: &Path) -> Vec<(String, String, String)> {
    let out = ok(data_dir, &["image", "ls"]);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(header, ["IMAGE", "TAG", "IMAGE", "ID", "SIZE"]);
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (cells[0].to_string(), cells[1].to_string(), cells[2].to_string())
        })
        .collect()
}

fn has(rows: &[(String, String, String)], image: &str, tag: &str) -> bool {
    rows.iter().any(|(i, t, _)| i == image && t == tag)
}

#[test]
fn load_ls_overlay_and_rm() {
    if !can_run("load_ls_overlay_and_rm") {
        return;
    }
    let temp = tempfile::tempdir().expect("temp");
    let data = temp.path().join("data");
    let docker_tar = temp.path().join("docker.tar.gz");
    let oci_tar = temp.path().join("oci.tar");
    fs::write(&docker_tar, docker_archive("example.com/test/docker:1")).expect("write");
    fs::write(&oci_tar, oci_archive("localhost:5000/test/oci:v1", false)).expect("write");

    let out = ok(&data, &["image", "load", docker_tar.to_str().unwrap(), oci_tar.to_str().unwrap()]);
    assert!(out.contains("Loaded image: example.com/test/docker:1"), "{out}");
    assert!(out.contains("Loaded image: localhost:5000/test/oci:v1"), "{out}");
    // Loading again changes nothing.
    ok(&data, &["image", "load", oci_tar.to_str().unwrap()]);

    let rows = ls(&data);
    assert!(has(&rows, "example.com/test/docker", "1"), "{rows:?}");
    assert!(has(&rows, "localhost:5000/test/oci", "v1"), "{rows:?}");
    assert!(has(&rows, "docker.io/library/busybox", "latest"), "{rows:?}");

    // The layers are unpacked once and shared; whiteouts and opaque dirs as overlayfs wants.
    let (lower, upper) = layers();
    let (lower_dir, upper_dir) = (layer_dir(&data, &lower), layer_dir(&data, &upper));
    let whiteout = fs::symlink_metadata(upper_dir.join("a/gone.txt")).expect("whiteout");
    assert!(whiteout.file_type().is_char_device());
    assert_eq!(whiteout.rdev(), 0);
    assert_eq!(xattr(&upper_dir.join("keep"), "trusted.overlay.opaque").as_deref(), Some(&b"y"[..]));
    assert!(!upper_dir.join("keep/.wh..wh..opq").exists());
    let top = fs::metadata(lower_dir.join("top.txt")).expect("top.txt");
    assert_eq!((top.uid(), top.gid(), top.mtime() as u64, top.nlink()), (1234, 1234, MTIME, 2));
    assert_eq!(fs::read_link(lower_dir.join("link")).expect("symlink"), Path::new("top.txt"));
    assert!(fs::symlink_metadata(lower_dir.join("fifo")).expect("fifo").file_type().is_fifo());

    // Stacked with overlayfs, the deleted file is gone and the opaque dir hides the old one.
    let merged = temp.path().join("merged");
    fs::create_dir(&merged).expect("mkdir");
    let options = format!("lowerdir={}:{}", upper_dir.display(), lower_dir.display());
    nix::mount::mount(Some("overlay"), &merged, Some("overlay"), nix::mount::MsFlags::MS_RDONLY, Some(options.as_str()))
        .expect("mount overlay");
    let seen = (
        merged.join("a").is_dir(),
        merged.join("a/gone.txt").exists(),
        merged.join("keep/old.txt").exists(),
        fs::read(merged.join("keep/new.txt")).ok(),
        fs::read(merged.join("top.txt")).ok(),
    );
    nix::mount::umount(&merged).expect("umount");
    assert_eq!(seen, (true, false, false, Some(b"new".to_vec()), Some(b"top".to_vec())));

    // rm by name keeps the shared layers for the other image; rm by id prefix drops them.
    let out = ok(&data, &["image", "rm", "example.com/test/docker:1"]);
    assert!(out.contains("Deleted: example.com/test/docker:1"), "{out}");
    let rows = ls(&data);
    assert!(!has(&rows, "example.com/test/docker", "1"), "{rows:?}");
    assert!(lower_dir.is_dir() && upper_dir.is_dir());
    let id = rows.iter().find(|(i, _, _)| i == "localhost:5000/test/oci").expect("oci image").2.clone();
    ok(&data, &["image", "rm", &id]);
    let rows = ls(&data);
    assert!(!has(&rows, "localhost:5000/test/oci", "v1"), "{rows:?}");
    assert!(!lower_dir.exists() && !upper_dir.exists());
    assert!(has(&rows, "registry.k8s.io/pause", "3.10"), "{rows:?}");

    let missing = mkrs(&data, &["image", "rm", "nothere"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).starts_with("minikube-rs: no such image: nothere"));
}

#[test]
fn corrupt_archives_give_clear_errors() {
    if !can_run("corrupt_archives_give_clear_errors") {
        return;
    }
    let temp = tempfile::tempdir().expect("temp");
    let data = temp.path().join("data");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage.tar", vec![b'x'; 4096], "not a valid tar archive"),
        ("truncated.tar.gz", gzip(&oci_archive("x/y:1", false))[..300].to_vec(), "not a valid tar archive"),
        ("empty.tar", Tar::new().file("README", b"hi", 0).finish(), "neither manifest.json nor index.json"),
        ("tampered.tar", oci_archive("x/y:1", true), "digest mismatch"),
    ];
    for (file, bytes, expected) in cases {
        let path = temp.path().join(file);
        fs::write(&path, bytes).expect("write");
        let out = mkrs(&data, &["image", "load", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file}: {stderr}");
        assert!(stderr.starts_with(&format!("minikube-rs: loading {}: ", path.display())), "{file}: {stderr}");
        assert!(stderr.contains(expected), "{file}: {stderr}");
    }
    // Nothing half-imported is left behind.
    assert_eq!(fs::read_dir(data.join("images/tmp")).expect("tmp").count(), 0);
    assert!(!ls(&data).iter().any(|(i, _, _)| i == "docker.io/x/y"));
}

#[test]
fn builtin_images_on_a_fresh_data_dir() {
    if !can_run("builtin_images_on_a_fresh_data_dir") {
        return;
    }
    let temp = tempfile::tempdir().expect("temp");
    let data = temp.path().join("data");
    let rows = ls(&data);
    for (image, tag) in [
        ("docker.io/library/busybox", "latest"),
        ("registry.k8s.io/pause", "3.10"),
        ("registry.k8s.io/pause", "latest"),
        ("docker.io/minikube-rs/webserver", "latest"),
    ] {
        assert!(has(&rows, image, tag), "{image}:{tag} missing from {rows:?}");
    }
    // Deterministic: a second fresh store has the same ids.
    let again = ls(&temp.path().join("other"));
    assert_eq!(rows, again);

    // The busybox layer runs busybox through chroot.
    let store = minikube_rs::node::images::ImageStore::open(&data.join("images")).expect("open");
    let busybox = store.get("busybox").expect("get").expect("busybox image");
    assert_eq!(busybox.config.cmd, ["sh"]);
    assert_eq!(busybox.layers.len(), 1);
    let out = Command::new("chroot").arg(&busybox.layers[0]).args(["/bin/sh", "-c", "echo hello from $(busybox basename /x/busybox)"]).output().expect("chroot");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from busybox\n", "{}", String::from_utf8_lossy(&out.stderr));
    let tmp = fs::metadata(busybox.layers[0].join("tmp")).expect("tmp");
    assert_eq!(tmp.mode() & 0o7777, 0o1777);

    let pause = store.get("registry.k8s.io/pause:3.10").expect("get").expect("pause");
    assert_eq!(pause.config.entrypoint, ["/pause"]);
    assert!(pause.layers[0].join("pause").is_file());
    let web = store.get("minikube-rs/webserver").expect("get").expect("webserver");
    assert_eq!(web.config.entrypoint, ["/webserver"]);
    assert_eq!(web.config.exposed_ports, ["8000/tcp"]);
    assert_eq!(store.get(&pause.id).expect("by id").map(|i| i.names), Some(pause.names.clone()));
}

#[test]
fn import_oci_layout_dir_with_names_records_repo_digests() {
    if !can_run("import_oci_layout_dir_with_names_records_repo_digests") {
        return;
    }
    let temp = tempfile::tempdir().expect("temp");
    let layout = temp.path().join("layout");
    let bytes = oci_archive("ignored:tag", false);
    tar::Archive::new(&bytes[..]).unpack(&layout).expect("unpack layout");
    let index: serde_json::Value = serde_json::from_slice(&fs::read(layout.join("index.json")).expect("index")).expect("json");
    let top = index["manifests"][0]["digest"].as_str().expect("digest").to_string();

    let store = minikube_rs::node::images::ImageStore::open(&temp.path().join("images")).expect("open");
    let images = store.import_oci_layout(&layout, &["localhost:5000/pulled".to_string()]).expect("import");
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].names, ["localhost:5000/pulled:latest"]);
    assert_eq!(images[0].repo_digests, [format!("localhost:5000/pulled@{top}")]);
    assert_eq!(images[0].config.cmd, ["/oci"]);
    assert_eq!(images[0].config.working_dir.as_deref(), Some("/a"));
    assert_eq!(images[0].layers.len(), 2);
    // Found by the digest reference and by any spelling of the name.
    let by_digest = store.get(&format!("localhost:5000/pulled@{top}")).expect("get").expect("by digest");
    assert_eq!(by_digest.id, images[0].id);
    assert!(store.get("localhost:5000/pulled:latest").expect("get").is_some());
    assert!(store.get("docker.io/library/pulled").expect("get").is_none());
    assert!(matches!(
        store.get("Not Valid"),
        Err(minikube_rs::node::images::Error::InvalidName { .. })
    ));
}
