//! Named network namespaces (bind-mounted nsfs files, as `ip netns add` makes them) and
//! running code on a thread that entered one.
//!
//! A network namespace belongs to a thread, not a process: every helper here spawns a fresh
//! std thread, moves it into the namespace with `setns`, runs the work there and hands the
//! result back over a oneshot channel, so no tokio worker ever leaves the host namespace.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::statfs::{statfs, NSFS_MAGIC};

use super::Error;

/// The namespace of the process (its main thread): the host side of the node veth.
pub(crate) const HOST_NS: &str = "/proc/self/ns/net";

/// Whether `path` is an nsfs file, i.e. a live namespace bind mount.
pub(crate) fn is_mounted(path: &Path) -> bool {
    statfs(path).map(|s| s.filesystem_type() == NSFS_MAGIC).unwrap_or(false)
}

/// Creates the namespace bind-mounted at `path`, or adopts it if it is already there.
/// Returns true when it was created now.
pub(crate) async fn ensure(path: &Path) -> Result<bool, Error> {
    if is_mounted(path) {
        tracing::debug!(path = %path.display(), "adopting network namespace");
        return Ok(false);
    }
    let parent = path.parent().ok_or_else(|| Error::Io {
        op: "find the parent of",
        path: path.to_path_buf(),
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })?;
    make_shared_dir(parent)?;
    create_mount_target(path)?;
    let target = path.to_path_buf();
    run_on_thread(move || new_ns_at(&target)).await?;
    tracing::info!(path = %path.display(), "created network namespace");
    Ok(true)
}

/// Unmounts and removes the namespace file at `path`; missing is fine.
pub(crate) fn remove(path: &Path) -> Result<(), Error> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(source) => return Err(Error::Sys { op: "unmount", path: path.to_path_buf(), source }),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io { op: "remove", path: path.to_path_buf(), source }),
    }
}

/// Unmounts the shared self bind mount of a namespace directory (if any) and removes it.
pub(crate) fn remove_dir(dir: &Path) -> Result<(), Error> {
    match umount2(dir, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(source) => return Err(Error::Sys { op: "unmount", path: dir.to_path_buf(), source }),
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io { op: "remove directory", path: dir.to_path_buf(), source }),
    }
}

/// Like iproute2: the directory holding namespace files is a shared mount, so an unmount
/// there reaches the copies other mount namespaces (containers) made of it.
fn make_shared_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir)
        .map_err(|source| Error::Io { op: "create directory", path: dir.to_path_buf(), source })?;
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    match mount(None::<&str>, dir, None::<&str>, shared, None::<&str>) {
        Ok(()) => return Ok(()),
        Err(Errno::EINVAL) => {}
        Err(source) => return Err(Error::Sys { op: "make shared", path: dir.to_path_buf(), source }),
    }
    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(dir), dir, None::<&str>, bind, None::<&str>)
        .map_err(|source| Error::Sys { op: "bind mount onto itself", path: dir.to_path_buf(), source })?;
    mount(None::<&str>, dir, None::<&str>, shared, None::<&str>)
        .map_err(|source| Error::Sys { op: "make shared", path: dir.to_path_buf(), source })
}

fn create_mount_target(path: &Path) -> Result<(), Error> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o444)
        .open(path)
        .map(drop)
        .map_err(|source| Error::Io { op: "create", path: path.to_path_buf(), source })
}

/// Runs on a thread of its own: moves the thread into a new namespace and pins it at `path`.
fn new_ns_at(path: &Path) -> Result<(), Error> {
    unshare(CloneFlags::CLONE_NEWNET)
        .map_err(|source| Error::Sys { op: "unshare a network namespace for", path: path.to_path_buf(), source })?;
    let own = Path::new("/proc/thread-self/ns/net");
    if let Err(source) = mount(Some(own), path, None::<&str>, MsFlags::MS_BIND, None::<&str>) {
        let _ = std::fs::remove_file(path);
        return Err(Error::Sys { op: "bind mount the namespace at", path: path.to_path_buf(), source });
    }
    Ok(())
}

/// Moves the calling thread into the namespace at `path`.
pub(crate) fn enter(path: &Path) -> Result<(), Error> {
    let file = File::open(path)
        .map_err(|source| Error::Io { op: "open namespace", path: path.to_path_buf(), source })?;
    setns(&file, CloneFlags::CLONE_NEWNET)
        .map_err(|source| Error::Sys { op: "enter namespace", path: path.to_path_buf(), source })
}

/// Runs `f` on a fresh std thread (still in the process's namespace) and awaits its result.
pub(crate) async fn run_on_thread<T, F>(f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("netns".to_string())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| Error::Thread(format!("spawn: {e}")))?;
    rx.await.map_err(|_| Error::Thread("the namespace thread panicked".to_string()))?
}

/// Runs `f` on a fresh thread that entered the namespace at `ns`.
pub(crate) async fn run_in<T, F>(ns: PathBuf, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    run_on_thread(move || {
        enter(&ns)?;
        f()
    })
    .await
}

/// Runs the async `f` with a netlink handle whose socket lives in the namespace at `ns`
/// (a current-thread runtime on a thread that entered it).
pub(crate) async fn netlink_in<T, F, Fut>(ns: PathBuf, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(rtnetlink::Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, Error>>,
{
    run_in(ns.clone(), move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Thread(format!("runtime for netlink in {}: {e}", ns.display())))?;
        rt.block_on(async move {
            let (conn, handle, _) = rtnetlink::new_connection()
                .map_err(|source| Error::Io { op: "open a netlink socket in", path: ns.clone(), source })?;
            tokio::spawn(conn);
            f(handle).await
        })
    })
    .await
}

/// Writes a sysctl of the calling thread's network namespace; `Ok(false)` if it does not
/// exist there (e.g. bridge-nf-call-iptables without br_netfilter).
pub(crate) fn write_sysctl(name: &str, value: &str) -> Result<bool, Error> {
    let path = Path::new("/proc/sys").join(name.replace('.', "/"));
    match std::fs::write(&path, value) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(Error::Io { op: "write sysctl", path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_file_is_not_a_namespace() {
        let tmp = tempfile::NamedTempFile::new().expect("temp file");
        assert!(!is_mounted(tmp.path()));
        assert!(!is_mounted(Path::new("/nonexistent/netns")));
    }

    #[tokio::test]
    async fn run_on_thread_returns_the_value() {
        let v = run_on_thread(|| Ok(41 + 1)).await.expect("thread");
        assert_eq!(v, 42);
    }
}
