//! Names and paths of everything a profile creates on the host, derived from its data dir.
//!
//! The default profile (`/var/lib/minikube-rs`) uses the canonical names (netns
//! `minikube-rs`, cgroup `/kubepods`, `/var/log/pods`, `/run/minikube-rs`); any other data
//! dir gets a short id from a hash of its path, so two profiles never collide and interface
//! names stay within Linux's 15 characters.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Everything host-side a profile owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeProfile {
    /// The profile's data dir (absolute).
    pub data_dir: PathBuf,
    /// "" for the default profile, else 6 hex characters of sha256(data dir).
    pub id: String,
    /// Name of the node network namespace (`ip netns` name, bind-mounted at /run/netns/<name>).
    pub netns: String,
    /// Host end of the veth pair joining the host to the node namespace (≤ 15 characters).
    pub host_veth: String,
    /// Node end of that veth pair, inside the node namespace.
    pub node_veth: String,
    /// Address of the host end (the API server binds it too; pods reach the API there).
    pub host_ip: Ipv4Addr,
    /// The node's own address (InternalIP), on the node end; /30 with `host_ip`.
    pub node_ip: Ipv4Addr,
    /// Prefix length of the host/node link.
    pub link_prefix: u8,
    /// Bridge inside the node namespace.
    pub bridge: String,
    /// The node's pod CIDR; the bridge has its first address.
    pub pod_cidr: (Ipv4Addr, u8),
    /// Cgroup parent of the profile, e.g. "/" (default) or "/minikube-rs-ab12cd".
    pub cgroup_parent: String,
    /// Runtime state (runc --root, pod netns bind mounts, monitor sockets): tmpfs under /run.
    pub run_dir: PathBuf,
    /// Container logs: /var/log/pods for the default profile, <data>/logs/pods otherwise.
    pub pod_log_dir: PathBuf,
}

impl NodeProfile {
    /// Derives every name from the data dir; `default` says whether this is the default profile.
    pub fn new(data_dir: &Path, default: bool) -> NodeProfile {
        let id = if default {
            String::new()
        } else {
            let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
            digest[..3].iter().map(|b| format!("{b:02x}")).collect()
        };
        // One /30 per profile inside 10.200.0.0/16: block 0 for the default profile,
        // 1..=16383 from the hash otherwise.
        let block: u32 = if default {
            0
        } else {
            let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
            1 + (u32::from(digest[3]) << 8 | u32::from(digest[4])) % 16383
        };
        let base = u32::from(Ipv4Addr::new(10, 200, 0, 0)) + block * 4;
        let suffix = |canonical: &str, short: &str| {
            if default { canonical.to_string() } else { format!("{short}{id}") }
        };
        NodeProfile {
            data_dir: data_dir.to_path_buf(),
            netns: suffix("minikube-rs", "minikube-rs-"),
            host_veth: suffix("mkrs0", "mkrs-"),
            node_veth: "eth0".to_string(),
            host_ip: Ipv4Addr::from(base + 1),
            node_ip: Ipv4Addr::from(base + 2),
            link_prefix: 30,
            bridge: "cni0".to_string(),
            pod_cidr: (Ipv4Addr::new(10, 42, 0, 0), 24),
            cgroup_parent: if default { "/".to_string() } else { format!("/minikube-rs-{id}") },
            run_dir: PathBuf::from(suffix("/run/minikube-rs", "/run/minikube-rs-")),
            pod_log_dir: if default { PathBuf::from("/var/log/pods") } else { data_dir.join("logs/pods") },
            id,
        }
    }

    /// The bridge's address: the pods' gateway (10.42.0.1).
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.pod_cidr.0) + 1)
    }

    /// Path of the node namespace's bind mount.
    pub fn netns_path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.netns)
    }

    /// The kubelet's cgroup root for pods: `<parent>/kubepods`.
    pub fn kubepods(&self) -> String {
        format!("{}/kubepods", self.cgroup_parent.trim_end_matches('/'))
    }

    /// runc's state dir (`runc --root`).
    pub fn runtime_root(&self) -> PathBuf {
        self.run_dir.join("runc")
    }

    /// Bind mounts of the pods' network namespaces.
    pub fn pod_netns_dir(&self) -> PathBuf {
        self.run_dir.join("netns")
    }

    /// Content-addressed image store.
    pub fn images_dir(&self) -> PathBuf {
        self.data_dir.join("images")
    }

    /// Per-pod files: volumes, /etc/hosts, resolv.conf, hostname (`<data>/pods/<uid>`).
    pub fn pods_dir(&self) -> PathBuf {
        self.data_dir.join("pods")
    }

    /// Per-container bundles: config.json, overlay upper/work dirs, rootfs mount point, the
    /// monitor's exit record (`<data>/containers/<id>`).
    pub fn containers_dir(&self) -> PathBuf {
        self.data_dir.join("containers")
    }

    /// host-local style IP allocations, one file per address.
    pub fn ipam_dir(&self) -> PathBuf {
        self.data_dir.join("network/ipam")
    }

    /// Volumes provisioned by the built-in `local-path` StorageClass.
    pub fn local_path_dir(&self) -> PathBuf {
        self.data_dir.join("storage")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_uses_canonical_names() {
        let p = NodeProfile::new(Path::new("/var/lib/minikube-rs"), true);
        assert_eq!(p.netns, "minikube-rs");
        assert_eq!(p.host_veth, "mkrs0");
        assert_eq!(p.kubepods(), "/kubepods");
        assert_eq!(p.node_ip, Ipv4Addr::new(10, 200, 0, 2));
        assert_eq!(p.host_ip, Ipv4Addr::new(10, 200, 0, 1));
        assert_eq!(p.pod_log_dir, Path::new("/var/log/pods"));
        assert_eq!(p.gateway(), Ipv4Addr::new(10, 42, 0, 1));
    }

    #[test]
    fn other_profiles_get_short_distinct_names() {
        let a = NodeProfile::new(Path::new("/tmp/a"), false);
        let b = NodeProfile::new(Path::new("/tmp/b"), false);
        assert_ne!(a.netns, b.netns);
        assert_ne!(a.host_veth, b.host_veth);
        assert_ne!(a.node_ip, b.node_ip);
        assert!(a.host_veth.len() <= 15, "{}", a.host_veth);
        assert_eq!(a.kubepods(), format!("/minikube-rs-{}/kubepods", a.id));
        assert_eq!(a.pod_log_dir, Path::new("/tmp/a/logs/pods"));
        assert_ne!(a.node_ip, Ipv4Addr::new(10, 200, 0, 2));
    }
}
