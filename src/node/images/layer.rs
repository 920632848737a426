//! Unpacking one layer tarball (plain or gzip) into a directory overlayfs can stack:
//! whiteouts become 0/0 character devices, opaque markers the `trusted.overlay.opaque`
//! xattr; ownership, modes, mtimes, links, device nodes and xattrs are kept.

use std::ffi::{CString, OsStr};
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::Error;

/// Prefix of a whiteout entry's file name.
const WHITEOUT_PREFIX: &str = ".wh.";
/// The entry that makes its directory opaque.
const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The xattr overlayfs reads for opaque directories.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Compression of a layer blob, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Sniffs the compression of a stream without consuming it.
pub fn sniff(reader: &mut impl BufRead) -> io::Result<Compression> {
    let head = reader.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    })
}

/// A reader that hashes what passes through it (the layer's diff id).
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Unpacks the layer blob at `blob` into `dest` (an empty, existing directory) and returns
/// its diff id ("sha256:<hex>" of the uncompressed tar).
pub fn unpack(blob: &Path, dest: &Path) -> Result<String, Error> {
    let _span = tracing::debug_span!("unpack_layer", blob = %blob.display()).entered();
    let layer_err = |reason: String| Error::Layer { path: blob.to_path_buf(), reason };
    let file = fs::File::open(blob).map_err(|e| Error::io("opening", blob, e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let decompressed: Box<dyn Read> = match sniff(&mut reader).map_err(|e| Error::io("reading", blob, e))? {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => return Err(layer_err("zstd-compressed layers are not supported".into())),
    };
    let mut hashing = Hashing { inner: decompressed, hasher: Sha256::new() };
    let mut dirs = Vec::new();
    {
        let mut archive = tar::Archive::new(&mut hashing);
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(nix::unistd::geteuid().is_root());
        archive.set_preserve_mtime(true);
        archive.set_unpack_xattrs(true);
        archive.set_overwrite(true);
        let entries = archive.entries().map_err(|e| layer_err(format!("reading tar: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| layer_err(format!("reading tar: {e}")))?;
            if let Some(dir) = unpack_entry(&mut entry, dest).map_err(|e| layer_err(e.to_string()))? {
                dirs.push(dir);
            }
        }
    }
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| layer_err(format!("reading tar: {e}")))?;
    // Children changed the directories' mtimes: restore them, deepest first.
    for (path, mtime) in dirs.iter().rev() {
        set_mtime(path, *mtime).map_err(|e| layer_err(format!("setting mtime of {}: {e}", path.display())))?;
    }
    Ok(format!("sha256:{}", hex(&hashing.hasher.finalize())))
}

/// Unpacks one entry; returns a directory and its mtime to restore at the end.
fn unpack_entry<R: Read>(entry: &mut tar::Entry<R>, dest: &Path) -> io::Result<Option<(PathBuf, i64)>> {
    let path = entry.path()?.into_owned();
    let Some(rel) = clean(&path) else {
        return Ok(None);
    };
    let Some(name) = rel.file_name().map(OsStr::to_os_string) else {
        return Ok(None);
    };
    let parent_rel = rel.parent().unwrap_or(Path::new(""));
    let name_text = name.to_string_lossy();
    if name_text == OPAQUE_MARKER {
        let dir = safe_dir(dest, parent_rel)?;
        set_xattr(&dir, OPAQUE_XATTR, b"y")?;
        return Ok(None);
    }
    if let Some(hidden) = name_text.strip_prefix(WHITEOUT_PREFIX) {
        let parent = safe_dir(dest, parent_rel)?;
        let target = parent.join(hidden);
        remove_existing(&target)?;
        mknod(&target, libc::S_IFCHR, 0, 0)?;
        chown(&target, entry.header().uid()?, entry.header().gid()?)?;
        return Ok(None);
    }
    let parent = safe_dir(dest, parent_rel)?;
    let target = parent.join(&name);
    let kind = entry.header().entry_type();
    let existing = fs::symlink_metadata(&target).ok();
    if let Some(meta) = existing {
        if !(kind.is_dir() && meta.is_dir()) {
            remove_existing(&target)?;
        }
    }
    let header = entry.header();
    let mode = header.mode()?;
    let mtime = header.mtime()? as i64;
    if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
        let file_type = if kind.is_character_special() {
            libc::S_IFCHR
        } else if kind.is_block_special() {
            libc::S_IFBLK
        } else {
            libc::S_IFIFO
        };
        // Some writers leave the fields blank for FIFOs: read those as 0.
        let major = header.device_major().ok().flatten().unwrap_or(0);
        let minor = header.device_minor().ok().flatten().unwrap_or(0);
        mknod(&target, file_type, major, minor)?;
        chown(&target, header.uid()?, header.gid()?)?;
        fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(mode & 0o7777))?;
        set_mtime(&target, mtime)?;
        return Ok(None);
    }
    entry.unpack_in(dest)?;
    if kind.is_dir() {
        apply_xattrs(entry, &target)?;
        return Ok(Some((target, mtime)));
    }
    if kind.is_symlink() {
        apply_xattrs(entry, &target)?;
    }
    Ok(None)
}

/// The entry's path relative to the layer root, or None for the root itself or a path
/// that climbs out (`..`).
fn clean(path: &Path) -> Option<PathBuf> {
    let mut rel = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => rel.push(part),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => return None,
        }
    }
    (!rel.as_os_str().is_empty()).then_some(rel)
}

/// `dest/rel` as a directory, creating missing components; a symlink on the way must stay
/// inside `dest`; a non-directory on the way is replaced.
fn safe_dir(dest: &Path, rel: &Path) -> io::Result<PathBuf> {
    let root = fs::canonicalize(dest)?;
    let mut current = root.clone();
    for component in rel.components() {
        let next = current.join(component);
        match fs::symlink_metadata(&next) {
            Ok(meta) if meta.is_dir() => current = next,
            Ok(meta) if meta.file_type().is_symlink() => {
                let resolved = fs::canonicalize(&next)?;
                if !resolved.starts_with(&root) || !resolved.is_dir() {
                    return Err(io::Error::other(format!(
                        "{} is a symlink leaving the layer or not to a directory",
                        next.display()
                    )));
                }
                current = resolved;
            }
            Ok(_) => {
                fs::remove_file(&next)?;
                fs::create_dir(&next)?;
                current = next;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&next)?;
                current = next;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(current)
}

/// Removes whatever is at `path` (a directory with its content).
fn remove_existing(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Extended attributes of a non-regular entry (the tar crate sets them on files only).
fn apply_xattrs<R: Read>(entry: &mut tar::Entry<R>, target: &Path) -> io::Result<()> {
    let Some(extensions) = entry.pax_extensions()? else {
        return Ok(());
    };
    for extension in extensions {
        let extension = extension?;
        if let Some(name) = extension.key_bytes().strip_prefix(b"SCHILY.xattr.") {
            let name = String::from_utf8_lossy(name).into_owned();
            set_xattr(target, &name, extension.value_bytes())?;
        }
    }
    Ok(())
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::other(format!("NUL in path {}", path.display())))
}

/// `lsetxattr(2)`.
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let c_path = c_path(path)?;
    let c_name = CString::new(name).map_err(|_| io::Error::other(format!("NUL in xattr name {name:?}")))?;
    // SAFETY: both strings are NUL-terminated and live across the call; value is a valid slice.
    let rc = unsafe { libc::lsetxattr(c_path.as_ptr(), c_name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// `mknod(2)` with mode 0 permission bits (set afterwards).
fn mknod(path: &Path, file_type: libc::mode_t, major: u32, minor: u32) -> io::Result<()> {
    let c_path = c_path(path)?;
    // SAFETY: c_path is NUL-terminated and outlives the call.
    let rc = unsafe { libc::mknod(c_path.as_ptr(), file_type, libc::makedev(major, minor)) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// `lchown(2)` when running as root (ownership cannot be given away otherwise).
fn chown(path: &Path, uid: u64, gid: u64) -> io::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    std::os::unix::fs::lchown(path, Some(uid as u32), Some(gid as u32))
}

/// Sets atime and mtime of `path` (not following symlinks).
fn set_mtime(path: &Path, mtime: i64) -> io::Result<()> {
    let c_path = c_path(path)?;
    let time = libc::timespec { tv_sec: mtime as libc::time_t, tv_nsec: 0 };
    let times = [time, time];
    // SAFETY: c_path is NUL-terminated; times points to two timespecs.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c_path.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drops_roots_and_refuses_parents() {
        assert_eq!(clean(Path::new("./a/b")), Some(PathBuf::from("a/b")));
        assert_eq!(clean(Path::new("/a")), Some(PathBuf::from("a")));
        assert_eq!(clean(Path::new("./")), None);
        assert_eq!(clean(Path::new("a/../../b")), None);
    }

    #[test]
    fn sniffs_compression() {
        let mut gz = io::Cursor::new(vec![0x1f, 0x8b, 8, 0]);
        assert_eq!(sniff(&mut gz).unwrap(), Compression::Gzip);
        let mut zstd = io::Cursor::new(vec![0x28, 0xb5, 0x2f, 0xfd]);
        assert_eq!(sniff(&mut zstd).unwrap(), Compression::Zstd);
        let mut plain = io::Cursor::new(b"etc/passwd".to_vec());
        assert_eq!(sniff(&mut plain).unwrap(), Compression::None);
    }
}
