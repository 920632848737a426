//! The node network namespace and pod networking: the node's own namespace joined to the
//! host by a veth pair, the `cni0` bridge, pod namespaces with veths on that bridge, their
//! addresses (host-local style IPAM) and the pod CIDR's masquerade.
//!
//! - `netns`: named namespaces (bind mounts) and threads that entered one.
//! - `links`: netlink operations (links, addresses, routes, bridge ports).
//! - `ipam`: the pod address allocator, persisted under the profile's data dir.
//! - `masquerade`: the nat POSTROUTING rules of the pod CIDR.

mod ipam;
mod links;
mod masquerade;
mod netns;
#[cfg(test)]
mod tests;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use sha2::{Digest, Sha256};

use crate::node::profile::NodeProfile;

pub use masquerade::CHAIN as MASQUERADE_CHAIN;

/// The name of a pod's eth0 inside its own namespace.
const POD_IFNAME: &str = "eth0";

/// Everything that can go wrong setting up or tearing down the node and pod networks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op} {}: {source}", path.display())]
    Io { op: &'static str, path: PathBuf, #[source] source: io::Error },
    #[error("{op} {}: {source}", path.display())]
    Sys { op: &'static str, path: PathBuf, #[source] source: Errno },
    #[error("netlink: {what}: {source}")]
    Netlink { what: String, #[source] source: rtnetlink::Error },
    #[error("{what} is missing")]
    Missing { what: String },
    #[error(
        "host address {ip} of this profile's node link is already on host interface {interface} \
         (another profile whose data dir hashes to the same /30?); delete that profile or use another --data-dir"
    )]
    AddressInUse { ip: Ipv4Addr, interface: String },
    #[error("no free pod address left in {first}-{last}")]
    PoolExhausted { first: Ipv4Addr, last: Ipv4Addr },
    #[error("pod CIDR {net}/{prefix} is not usable (prefix must be 8..=29)")]
    BadCidr { net: Ipv4Addr, prefix: u8 },
    #[error("invalid pod uid {0:?} (letters, digits, '-', '_' and '.' only)")]
    InvalidUid(String),
    #[error("{what}: {detail}")]
    Iptables { what: String, detail: String },
    #[error("namespace thread: {0}")]
    Thread(String),
}

/// A pod's sandbox network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodNetwork {
    /// The pod's namespace bind mount (the `path` of the OCI spec's network namespace).
    pub netns_path: PathBuf,
    /// The pod IP, on the pod's eth0.
    pub ip: Ipv4Addr,
    /// The node-side end of the pod's veth, a port of `cni0`.
    pub host_veth: String,
}

/// The profile's node network: cheap to clone, shared by the agent's tasks.
#[derive(Clone)]
pub struct NodeNetwork {
    inner: Arc<Inner>,
}

struct Inner {
    profile: NodeProfile,
    ipam: ipam::Ipam,
    /// Serialises pod network changes (add/remove of the same uid must not interleave).
    pods: tokio::sync::Mutex<()>,
}

/// The node-side veth name of a pod: "veth" + 8 hex characters of sha256(uid).
pub fn pod_veth_name(uid: &str) -> String {
    let digest = Sha256::digest(uid.as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("veth{hex}")
}

impl NodeNetwork {
    /// Creates or re-adopts the profile's node namespace, node veth pair, bridge, sysctls
    /// and masquerade rules, and loads the IPAM state. Idempotent: running pods' veths and
    /// addresses survive a restart of the server.
    #[tracing::instrument(skip_all, fields(netns = %profile.netns, host_veth = %profile.host_veth))]
    pub async fn setup(profile: &NodeProfile) -> Result<NodeNetwork, Error> {
        let ns = profile.netns_path();
        check_host_ip_free(profile).await?;
        let created = netns::ensure(&ns).await?;
        ensure_node_veth(profile, created).await?;
        configure_node_ns(profile).await?;
        configure_host_end(profile).await?;
        let ns_for_sysctl = ns.clone();
        netns::run_in(ns_for_sysctl, set_node_sysctls).await?;
        let cidr = profile.pod_cidr;
        let ns_for_rules = ns.clone();
        netns::run_on_thread(move || masquerade::apply(&ns_for_rules, cidr)).await?;
        let ipam = ipam::Ipam::load(&profile.ipam_dir(), profile.pod_cidr)?;
        tracing::info!(node_ip = %profile.node_ip, host_ip = %profile.host_ip, created, "node network ready");
        Ok(NodeNetwork {
            inner: Arc::new(Inner { profile: profile.clone(), ipam, pods: tokio::sync::Mutex::new(()) }),
        })
    }

    /// The node namespace's bind mount path.
    pub fn netns_path(&self) -> PathBuf {
        self.inner.profile.netns_path()
    }

    /// The profile this network belongs to.
    pub fn profile(&self) -> &NodeProfile {
        &self.inner.profile
    }

    /// Creates (or finds) the pod's namespace, veth on `cni0` and address. Idempotent.
    #[tracing::instrument(skip(self))]
    pub async fn add_pod(&self, uid: &str) -> Result<PodNetwork, Error> {
        validate_uid(uid)?;
        let _guard = self.inner.pods.lock().await;
        let profile = &self.inner.profile;
        let ip = self.inner.ipam.allocate(uid)?;
        let pod_ns = profile.pod_netns_dir().join(uid);
        netns::ensure(&pod_ns).await?;
        let host_veth = pod_veth_name(uid);
        let has_eth0 = netlink_pod_lo_up(&pod_ns).await?;
        attach_pod_veth(profile, &pod_ns, &host_veth, has_eth0).await?;
        configure_pod_eth0(&pod_ns, ip, profile.pod_cidr.1, profile.gateway()).await?;
        tracing::debug!(%ip, host_veth, "pod network ready");
        Ok(PodNetwork { netns_path: pod_ns, ip, host_veth })
    }

    /// Removes the pod's veth, namespace bind mount and address. Idempotent.
    #[tracing::instrument(skip(self))]
    pub async fn remove_pod(&self, uid: &str) -> Result<(), Error> {
        validate_uid(uid)?;
        let _guard = self.inner.pods.lock().await;
        let host_veth = pod_veth_name(uid);
        netns::netlink_in(self.netns_path(), move |h| async move { links::delete(&h, &host_veth).await }).await?;
        netns::remove(&self.inner.profile.pod_netns_dir().join(uid))?;
        self.inner.ipam.release(uid)?;
        Ok(())
    }

    /// The IP allocated to a pod, if any.
    pub fn pod_ip(&self, uid: &str) -> Option<Ipv4Addr> {
        self.inner.ipam.get(uid)
    }

    /// Every (uid, ip) allocated, for garbage-collecting pods that no longer exist.
    pub fn allocations(&self) -> Vec<(String, Ipv4Addr)> {
        self.inner.ipam.all()
    }

    /// A TCP connection made from inside the node namespace (to reach pod IPs).
    pub async fn connect_tcp(&self, addr: SocketAddr, timeout: Duration) -> io::Result<tokio::net::TcpStream> {
        let family = if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
        let fd: OwnedFd = netns::run_in(self.netns_path(), move || {
            socket(family, SockType::Stream, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)
                .map_err(|e| Error::Thread(format!("socket in the node namespace: {e}")))
        })
        .await
        .map_err(io::Error::other)?;
        let sock = tokio::net::TcpSocket::from_std_stream(std::net::TcpStream::from(fd));
        match tokio::time::timeout(timeout, sock.connect(addr)).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("connect to {addr} timed out"))),
        }
    }

    /// Runs `f` on a fresh thread that entered the node namespace.
    pub async fn run_in_netns<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        netns::run_in(self.netns_path(), move || Ok(f())).await
    }

    /// Tears the profile's network down: pod namespaces, the node namespace (with the bridge,
    /// pod veths and rules inside it), the host veth and the IPAM state. Works without a
    /// running server; missing parts are fine.
    #[tracing::instrument(skip_all, fields(netns = %profile.netns))]
    pub async fn teardown(profile: &NodeProfile) -> Result<(), Error> {
        remove_pod_namespaces(&profile.pod_netns_dir())?;
        let host_veth = profile.host_veth.clone();
        netns::netlink_in(PathBuf::from(netns::HOST_NS), move |h| async move {
            links::delete(&h, &host_veth).await
        })
        .await?;
        netns::remove(&profile.netns_path())?;
        let ipam = profile.ipam_dir();
        match std::fs::remove_dir_all(&ipam) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Io { op: "remove", path: ipam, source }),
        }
        tracing::info!("node network removed");
        Ok(())
    }
}

/// Pod uids become file and namespace names: keep them to a safe alphabet.
fn validate_uid(uid: &str) -> Result<(), Error> {
    let ok = !uid.is_empty()
        && uid != "."
        && uid != ".."
        && uid.len() <= 128
        && uid.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok { Ok(()) } else { Err(Error::InvalidUid(uid.to_string())) }
}

/// Errors if the profile's host address sits on a host interface other than its veth.
async fn check_host_ip_free(profile: &NodeProfile) -> Result<(), Error> {
    let (host_ip, host_veth) = (profile.host_ip, profile.host_veth.clone());
    netns::netlink_in(PathBuf::from(netns::HOST_NS), move |h| async move {
        let names = links::names(&h).await?;
        for (idx, ip) in links::ipv4_addresses(&h).await? {
            let name = names.get(&idx).cloned().unwrap_or_else(|| format!("#{idx}"));
            if ip == host_ip && name != host_veth {
                return Err(Error::AddressInUse { ip, interface: name });
            }
        }
        Ok(())
    })
    .await
}

/// Makes sure the node veth pair exists, recreating it when only one end is left (e.g. the
/// node namespace was recreated while a stale host end survived).
async fn ensure_node_veth(profile: &NodeProfile, ns_created: bool) -> Result<(), Error> {
    let ns = profile.netns_path();
    let node_veth = profile.node_veth.clone();
    let node_end = if ns_created {
        false
    } else {
        let name = node_veth.clone();
        netns::netlink_in(ns.clone(), move |h| async move { Ok(links::index(&h, &name).await?.is_some()) }).await?
    };
    let host_veth = profile.host_veth.clone();
    let host_end = {
        let name = host_veth.clone();
        netns::netlink_in(PathBuf::from(netns::HOST_NS), move |h| async move {
            Ok(links::index(&h, &name).await?.is_some())
        })
        .await?
    };
    if node_end && host_end {
        return Ok(());
    }
    tracing::info!(node_end, host_end, "creating the node veth pair");
    if host_end {
        let name = host_veth.clone();
        netns::netlink_in(PathBuf::from(netns::HOST_NS), move |h| async move { links::delete(&h, &name).await })
            .await?;
    }
    netns::netlink_in(ns, move |h| async move {
        links::delete(&h, &node_veth).await?;
        let host = std::fs::File::open(netns::HOST_NS)
            .map_err(|source| Error::Io { op: "open", path: PathBuf::from(netns::HOST_NS), source })?;
        links::create_veth(&h, &node_veth, &host_veth, host.as_raw_fd()).await
    })
    .await
}

/// Inside the node namespace: lo and the node veth up with the node IP, the default route
/// via the host end, and the bridge with the pods' gateway address.
async fn configure_node_ns(profile: &NodeProfile) -> Result<(), Error> {
    let p = profile.clone();
    netns::netlink_in(profile.netns_path(), move |h| async move {
        let ns = "the node namespace";
        let lo = links::require(&h, "lo", ns).await?;
        links::up(&h, lo, "lo").await?;
        let eth = links::require(&h, &p.node_veth, ns).await?;
        links::ensure_address(&h, eth, &p.node_veth, p.node_ip, p.link_prefix).await?;
        links::up(&h, eth, &p.node_veth).await?;
        links::ensure_default_route(&h, p.host_ip).await?;
        let br = links::ensure_bridge(&h, &p.bridge).await?;
        links::ensure_address(&h, br, &p.bridge, p.gateway(), p.pod_cidr.1).await?;
        links::up(&h, br, &p.bridge).await
    })
    .await
}

/// The host end of the node veth: its address and up state, nothing else on the host.
async fn configure_host_end(profile: &NodeProfile) -> Result<(), Error> {
    let p = profile.clone();
    netns::netlink_in(PathBuf::from(netns::HOST_NS), move |h| async move {
        let idx = links::require(&h, &p.host_veth, "the host namespace").await?;
        links::ensure_address(&h, idx, &p.host_veth, p.host_ip, p.link_prefix).await?;
        links::up(&h, idx, &p.host_veth).await
    })
    .await
}

/// Runs on a thread inside the node namespace.
fn set_node_sysctls() -> Result<(), Error> {
    netns::write_sysctl("net.ipv4.ip_forward", "1")?;
    netns::write_sysctl("net.ipv4.conf.all.route_localnet", "1")?;
    if !netns::write_sysctl("net.bridge.bridge-nf-call-iptables", "1")? {
        tracing::info!("br_netfilter is not loaded: bridged pod traffic bypasses iptables");
    }
    Ok(())
}

/// Sets lo up in the pod namespace; returns whether the pod's eth0 is already there.
async fn netlink_pod_lo_up(pod_ns: &Path) -> Result<bool, Error> {
    netns::netlink_in(pod_ns.to_path_buf(), move |h| async move {
        let lo = links::require(&h, "lo", "the pod namespace").await?;
        links::up(&h, lo, "lo").await?;
        Ok(links::index(&h, POD_IFNAME).await?.is_some())
    })
    .await
}

/// In the node namespace: the pod's veth (created with its peer as eth0 straight inside the
/// pod namespace, unless both ends are there already) attached to the bridge.
async fn attach_pod_veth(profile: &NodeProfile, pod_ns: &Path, host_veth: &str, pod_has_eth0: bool) -> Result<(), Error> {
    let (pod_ns, host_veth, bridge) = (pod_ns.to_path_buf(), host_veth.to_string(), profile.bridge.clone());
    netns::netlink_in(profile.netns_path(), move |h| async move {
        let existing = links::index(&h, &host_veth).await?;
        if existing.is_none() || !pod_has_eth0 {
            links::delete(&h, &host_veth).await?;
            let pod = std::fs::File::open(&pod_ns)
                .map_err(|source| Error::Io { op: "open", path: pod_ns.clone(), source })?;
            links::create_veth(&h, &host_veth, POD_IFNAME, pod.as_raw_fd()).await?;
        }
        let ns = "the node namespace";
        let port = links::require(&h, &host_veth, ns).await?;
        let br = links::require(&h, &bridge, ns).await?;
        links::attach_to_bridge(&h, port, &host_veth, br).await
    })
    .await
}

/// In the pod namespace: eth0 with the pod IP, up, default route via the bridge.
async fn configure_pod_eth0(pod_ns: &Path, ip: Ipv4Addr, prefix: u8, gateway: Ipv4Addr) -> Result<(), Error> {
    netns::netlink_in(pod_ns.to_path_buf(), move |h| async move {
        let eth = links::require(&h, POD_IFNAME, "the pod namespace").await?;
        links::ensure_address(&h, eth, POD_IFNAME, ip, prefix).await?;
        links::up(&h, eth, POD_IFNAME).await?;
        links::ensure_default_route(&h, gateway).await
    })
    .await
}

/// Unmounts every pod namespace of the profile and removes their directory.
fn remove_pod_namespaces(dir: &Path) -> Result<(), Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(Error::Io { op: "read directory", path: dir.to_path_buf(), source }),
    };
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io { op: "read directory", path: dir.to_path_buf(), source })?;
        netns::remove(&entry.path())?;
    }
    netns::remove_dir(dir)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn pod_veth_names_are_short_and_stable() {
        let name = pod_veth_name("6f1b6a4e-8c1d-4a7e-9a63-0d2c1e7f5b10");
        assert_eq!(name.len(), 12);
        assert!(name.len() <= 15);
        assert!(name.starts_with("veth"));
        assert_eq!(name, pod_veth_name("6f1b6a4e-8c1d-4a7e-9a63-0d2c1e7f5b10"));
        assert_ne!(name, pod_veth_name("another"));
    }

    #[test]
    fn uids_are_checked() {
        assert!(validate_uid("6f1b6a4e-8c1d-4a7e-9a63-0d2c1e7f5b10").is_ok());
        for bad in ["", ".", "..", "a/b", "a b"] {
            assert!(validate_uid(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn address_conflicts_are_explained() {
        let e = Error::AddressInUse { ip: Ipv4Addr::new(10, 200, 0, 5), interface: "mkrs-abc".to_string() };
        let text = e.to_string();
        assert!(text.contains("10.200.0.5") && text.contains("mkrs-abc") && text.contains("/30"), "{text}");
    }
}
