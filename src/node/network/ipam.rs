//! host-local style IP address management for the node's pod CIDR, persisted on disk.
//!
//! One file per allocated address (named by the address, holding the pod uid) plus
//! `last_reserved_ip.0`, so a released address is not handed out again at once. A file is
//! claimed by hard-linking a fully written temporary file to the address's name: the link
//! fails if the name exists (O_EXCL semantics) and a crash never leaves a claimed address
//! without its owner.

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::Error;

const LAST_RESERVED: &str = "last_reserved_ip.0";
const TMP_PREFIX: &str = ".tmp-";

/// The allocator for one profile.
pub(crate) struct Ipam {
    dir: PathBuf,
    /// First and last assignable addresses (network + 2 ..= broadcast - 1).
    first: u32,
    last: u32,
    /// uid -> address, mirrors the files; the lock serialises allocations.
    state: Mutex<HashMap<String, Ipv4Addr>>,
}

impl Ipam {
    /// Opens (creating if needed) the allocation directory and loads what it holds.
    pub(crate) fn load(dir: &Path, cidr: (Ipv4Addr, u8)) -> Result<Ipam, Error> {
        let (first, last) = range(cidr)?;
        std::fs::create_dir_all(dir).map_err(|source| io_err("create directory", dir, source))?;
        let mut state = HashMap::new();
        let entries = std::fs::read_dir(dir).map_err(|source| io_err("read directory", dir, source))?;
        for entry in entries {
            let entry = entry.map_err(|source| io_err("read directory", dir, source))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(TMP_PREFIX) {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let Ok(ip) = name.parse::<Ipv4Addr>() else { continue };
            let uid = std::fs::read_to_string(&path).map_err(|source| io_err("read", &path, source))?;
            let uid = uid.trim().to_string();
            if !uid.is_empty() {
                state.entry(uid).or_insert(ip);
            }
        }
        tracing::debug!(dir = %dir.display(), allocated = state.len(), "loaded IPAM state");
        Ok(Ipam { dir: dir.to_path_buf(), first, last, state: Mutex::new(state) })
    }

    /// The address of `uid`, allocating one if it has none.
    pub(crate) fn allocate(&self, uid: &str) -> Result<Ipv4Addr, Error> {
        let mut state = self.lock();
        if let Some(ip) = state.get(uid) {
            return Ok(*ip);
        }
        let tmp = self.write_tmp(uid)?;
        let result = self.claim_next(&tmp);
        let _ = std::fs::remove_file(&tmp);
        let ip = result?;
        self.write_last_reserved(ip)?;
        state.insert(uid.to_string(), ip);
        tracing::debug!(uid, %ip, "allocated pod IP");
        Ok(ip)
    }

    /// Frees the address of `uid`; returns it, or None if it had none.
    pub(crate) fn release(&self, uid: &str) -> Result<Option<Ipv4Addr>, Error> {
        let mut state = self.lock();
        let Some(ip) = state.remove(uid) else { return Ok(None) };
        let path = self.dir.join(ip.to_string());
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                state.insert(uid.to_string(), ip);
                return Err(io_err("remove", &path, source));
            }
        }
        tracing::debug!(uid, %ip, "released pod IP");
        Ok(Some(ip))
    }

    pub(crate) fn get(&self, uid: &str) -> Option<Ipv4Addr> {
        self.lock().get(uid).copied()
    }

    pub(crate) fn all(&self) -> Vec<(String, Ipv4Addr)> {
        let mut all: Vec<_> = self.lock().iter().map(|(u, ip)| (u.clone(), *ip)).collect();
        all.sort_by_key(|(_, ip)| *ip);
        all
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Ipv4Addr>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_tmp(&self, uid: &str) -> Result<PathBuf, Error> {
        let tmp = self.dir.join(format!("{TMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&tmp, uid).map_err(|source| io_err("write", &tmp, source))?;
        Ok(tmp)
    }

    /// Links `tmp` to the first free address after the last reserved one, wrapping around.
    fn claim_next(&self, tmp: &Path) -> Result<Ipv4Addr, Error> {
        let size = self.last - self.first + 1;
        let start = match self.read_last_reserved() {
            Some(last) if (self.first..=self.last).contains(&last) => last - self.first + 1,
            _ => 0,
        };
        for step in 0..size {
            let ip = Ipv4Addr::from(self.first + (start + step) % size);
            let path = self.dir.join(ip.to_string());
            match std::fs::hard_link(tmp, &path) {
                Ok(()) => return Ok(ip),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(io_err("claim", &path, source)),
            }
        }
        Err(Error::PoolExhausted {
            first: Ipv4Addr::from(self.first),
            last: Ipv4Addr::from(self.last),
        })
    }

    fn read_last_reserved(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.dir.join(LAST_RESERVED)).ok()?;
        text.trim().parse::<Ipv4Addr>().ok().map(u32::from)
    }

    fn write_last_reserved(&self, ip: Ipv4Addr) -> Result<(), Error> {
        let path = self.dir.join(LAST_RESERVED);
        let tmp = self.dir.join(format!("{TMP_PREFIX}{LAST_RESERVED}"));
        std::fs::write(&tmp, ip.to_string()).map_err(|source| io_err("write", &tmp, source))?;
        std::fs::rename(&tmp, &path).map_err(|source| io_err("rename into", &path, source))
    }
}

/// Assignable range of a CIDR: the network address and the gateway (.1) and broadcast
/// addresses are never handed out.
fn range((net, prefix): (Ipv4Addr, u8)) -> Result<(u32, u32), Error> {
    if !(8..=29).contains(&prefix) {
        return Err(Error::BadCidr { net, prefix });
    }
    let mask = u32::MAX << (32 - prefix);
    let base = u32::from(net) & mask;
    Ok((base + 2, (base | !mask) - 1))
}

fn io_err(op: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Io { op, path: path.to_path_buf(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CIDR: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 42, 0, 0), 24);

    #[test]
    fn range_skips_network_gateway_and_broadcast() {
        let (first, last) = range(CIDR).expect("range");
        assert_eq!(Ipv4Addr::from(first), Ipv4Addr::new(10, 42, 0, 2));
        assert_eq!(Ipv4Addr::from(last), Ipv4Addr::new(10, 42, 0, 254));
        assert!(range((Ipv4Addr::new(10, 0, 0, 0), 31)).is_err());
    }

    #[test]
    fn allocation_is_stable_persisted_and_not_reused_at_once() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ipam = Ipam::load(tmp.path(), CIDR).expect("load");
        let a = ipam.allocate("a").expect("a");
        let b = ipam.allocate("b").expect("b");
        assert_eq!(a, Ipv4Addr::new(10, 42, 0, 2));
        assert_eq!(b, Ipv4Addr::new(10, 42, 0, 3));
        assert_eq!(ipam.allocate("a").expect("a again"), a);
        assert_eq!(std::fs::read_to_string(tmp.path().join("10.42.0.2")).expect("file"), "a");

        assert_eq!(ipam.release("a").expect("release"), Some(a));
        assert_eq!(ipam.release("a").expect("release twice"), None);
        assert!(!tmp.path().join("10.42.0.2").exists());
        // The freed .2 is not handed out next: allocation continues after the last reserved.
        assert_eq!(ipam.allocate("c").expect("c"), Ipv4Addr::new(10, 42, 0, 4));

        let again = Ipam::load(tmp.path(), CIDR).expect("reload");
        assert_eq!(again.get("b"), Some(b));
        assert_eq!(again.get("a"), None);
        assert_eq!(again.all().len(), 2);
        assert_eq!(again.allocate("d").expect("d"), Ipv4Addr::new(10, 42, 0, 5));
    }

    #[test]
    fn wraps_around_and_reports_exhaustion() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let small = (Ipv4Addr::new(10, 42, 0, 0), 29); // .2 ..= .6
        let ipam = Ipam::load(tmp.path(), small).expect("load");
        for i in 0..5 {
            ipam.allocate(&format!("p{i}")).expect("allocate");
        }
        assert!(matches!(ipam.allocate("full"), Err(Error::PoolExhausted { .. })));
        ipam.release("p1").expect("release");
        assert_eq!(ipam.allocate("next").expect("wrap"), Ipv4Addr::new(10, 42, 0, 3));
    }

    #[test]
    fn concurrent_allocations_get_distinct_addresses() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ipam = std::sync::Arc::new(Ipam::load(tmp.path(), CIDR).expect("load"));
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let ipam = ipam.clone();
                std::thread::spawn(move || ipam.allocate(&format!("pod{i}")).expect("allocate"))
            })
            .collect();
        let mut ips: Vec<_> = handles.into_iter().map(|h| h.join().expect("join")).collect();
        ips.sort();
        ips.dedup();
        assert_eq!(ips.len(), 8);
    }

    #[test]
    fn leftover_temporary_files_are_ignored_and_cleaned() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join(".tmp-abc"), "x").expect("write");
        let ipam = Ipam::load(tmp.path(), CIDR).expect("load");
        assert!(ipam.all().is_empty());
        assert!(!tmp.path().join(".tmp-abc").exists());
    }
}
