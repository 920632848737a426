//! The OCI runtime config (config.json) of a container, built with oci-spec the way
//! containerd's CRI plugin builds it: default mounts, masked and read-only paths, containerd's
//! default capabilities plus add minus drop, namespaces joined or new, cgroupfs cgroupsPath,
//! resources, and an oom_score_adj the kernel will accept.

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::sync::Once;

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder,
    LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder, Mount as OciMount,
    MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

use super::{ContainerSpec, Error};

/// containerd's default capabilities (oci/spec.go), without the CAP_ prefix.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
    "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
];

/// Capability names by number (linux/capability.h).
const CAP_NAMES: [&str; 41] = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
];

/// containerd's masked paths.
const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
];

/// containerd's read-only paths.
const READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Every capability the runtime can grant: those in this process's bounding set (a
/// capability outside it, like CAP_SYS_RESOURCE on the CI machines, would make runc fail).
pub fn grantable_caps() -> Vec<&'static str> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let bounding = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(u64::MAX);
    CAP_NAMES.iter().enumerate().filter(|(bit, _)| bounding & (1u64 << bit) != 0).map(|(_, n)| *n).collect()
}

fn normalize_cap(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").map(str::to_string).unwrap_or(upper)
}

/// The container's capability names: containerd's defaults, "ALL" in add → every grantable
/// one, "ALL" in drop → none, then the individual adds and drops.
pub fn capabilities(spec: &ContainerSpec) -> Vec<String> {
    let grantable = grantable_caps();
    if spec.privileged {
        return grantable.iter().map(|c| c.to_string()).collect();
    }
    let add: Vec<String> = spec.cap_add.iter().map(|c| normalize_cap(c)).collect();
    let drop: Vec<String> = spec.cap_drop.iter().map(|c| normalize_cap(c)).collect();
    let mut caps: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    if add.iter().any(|c| c == "ALL") {
        caps = grantable.iter().map(|c| c.to_string()).collect();
    }
    if drop.iter().any(|c| c == "ALL") {
        caps.clear();
    }
    for c in add.iter().filter(|c| *c != "ALL") {
        if !caps.contains(c) {
            caps.push(c.clone());
        }
    }
    caps.retain(|c| !drop.contains(c));
    caps
}

fn to_oci_caps(names: &[String]) -> Result<HashSet<Capability>, Error> {
    names
        .iter()
        .map(|n| Capability::from_str(n).map_err(|_| Error::Spec(format!("unknown capability {n:?}"))))
        .collect()
}

/// The oom_score_adj to ask for: what Kubernetes wants, but never below this process's own
/// value (lowering it needs CAP_SYS_RESOURCE, which the CI machines lack: runc would fail).
pub fn effective_oom_score_adj(wanted: i32) -> i32 {
    let current: i32 = std::fs::read_to_string("/proc/self/oom_score_adj")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if wanted < current && !has_cap_sys_resource() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            tracing::warn!(
                wanted,
                current,
                "cannot lower containers' oom_score_adj below the server's own value without \
                 CAP_SYS_RESOURCE (absent here): using the server's value instead"
            );
        });
        return current;
    }
    wanted
}

fn has_cap_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|eff| eff & (1 << 24) != 0)
}

fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Result<OciMount, Error> {
    MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(|e| Error::Spec(format!("mount {destination}: {e}")))
}

/// containerd's default mounts, then the container's bind mounts.
fn mounts(spec: &ContainerSpec) -> Result<Vec<OciMount>, Error> {
    let sys_mode = if spec.privileged { "rw" } else { "ro" };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"])?,
        mount("/dev/pts", "devpts", "devpts", &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"])?,
        mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"])?,
        mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", sys_mode])?,
        mount("/sys/fs/cgroup", "cgroup", "cgroup", &["nosuid", "noexec", "nodev", "relatime", sys_mode])?,
    ];
    if !spec.mounts.iter().any(|m| m.destination == Path::new("/dev/shm")) {
        mounts.push(mount("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"])?);
    }
    for m in &spec.mounts {
        let mode = if m.read_only { "ro" } else { "rw" };
        let built = MountBuilder::default()
            .destination(&m.destination)
            .typ("bind")
            .source(&m.source)
            .options(vec!["rbind".to_string(), "rprivate".to_string(), mode.to_string()])
            .build()
            .map_err(|e| Error::Spec(format!("mount {}: {e}", m.destination.display())))?;
        mounts.push(built);
    }
    Ok(mounts)
}

fn namespace(typ: LinuxNamespaceType, path: Option<&Path>) -> Result<oci_spec::runtime::LinuxNamespace, Error> {
    let b = LinuxNamespaceBuilder::default().typ(typ);
    let b = match path {
        Some(p) => b.path(p),
        None => b,
    };
    b.build().map_err(|e| Error::Spec(format!("namespace {typ:?}: {e}")))
}

/// Builds the config.json of `spec` with its rootfs at `rootfs` (the bundle's "rootfs").
/// `swap_accounting` says whether memory+swap can be limited (then swap = the memory limit:
/// no swapping past it, so an over-limit container is OOM-killed as on a kubelet node).
pub fn build(spec: &ContainerSpec, rootfs: &Path, cgroup_v2: bool, swap_accounting: bool) -> Result<Spec, Error> {
    fn err(what: &'static str) -> impl Fn(oci_spec::OciSpecError) -> Error {
        move |e| Error::Spec(format!("{what}: {e}"))
    }
    let caps = to_oci_caps(&capabilities(spec))?;
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()
        .map_err(err("capabilities"))?;
    let user = UserBuilder::default()
        .uid(spec.uid)
        .gid(spec.gid)
        .additional_gids(spec.additional_gids.clone())
        .build()
        .map_err(err("user"))?;
    let mut process = ProcessBuilder::default()
        .terminal(false)
        .user(user)
        .args(spec.args.clone())
        .env(spec.env.clone())
        .cwd(if spec.cwd.is_empty() { "/" } else { spec.cwd.as_str() })
        .capabilities(capabilities)
        .no_new_privileges(spec.no_new_privileges && !spec.privileged);
    if let Some(adj) = spec.oom_score_adj {
        process = process.oom_score_adj(effective_oom_score_adj(adj));
    }
    let mut process = process.build().map_err(err("process"))?;
    // No rlimits: raising one above the current hard limit needs CAP_SYS_RESOURCE.
    process.set_rlimits(None).set_apparmor_profile(None).set_selinux_label(None);

    let mut namespaces = vec![
        namespace(LinuxNamespaceType::Pid, None)?,
        namespace(LinuxNamespaceType::Mount, None)?,
        namespace(LinuxNamespaceType::Network, spec.net_ns.as_deref())?,
        namespace(LinuxNamespaceType::Ipc, spec.ipc_ns.as_deref())?,
        namespace(LinuxNamespaceType::Uts, spec.uts_ns.as_deref())?,
    ];
    if cgroup_v2 {
        namespaces.push(namespace(LinuxNamespaceType::Cgroup, None)?);
    }

    let res = &spec.resources;
    let mut cpu = LinuxCpuBuilder::default().shares(res.cpu_shares.max(2));
    if let Some(q) = res.cpu_quota {
        cpu = cpu.quota(q).period(if res.cpu_period == 0 { 100_000 } else { res.cpu_period });
    }
    let mut resources = LinuxResourcesBuilder::default().cpu(cpu.build().map_err(err("cpu"))?);
    if let Some(limit) = res.memory_limit {
        let mut memory = LinuxMemoryBuilder::default().limit(limit);
        if swap_accounting {
            memory = memory.swap(limit);
        }
        resources = resources.memory(memory.build().map_err(err("memory"))?);
    }
    // Deny every device but runc's defaults (null, zero, full, tty, random, urandom, pts);
    // privileged containers may use them all.
    let devices = LinuxDeviceCgroupBuilder::default()
        .allow(spec.privileged)
        .access("rwm")
        .build()
        .map_err(err("devices"))?;
    let resources = resources.devices(vec![devices]).build().map_err(err("resources"))?;

    let cgroup = format!("{}/{}", spec.cgroup_parent.trim_end_matches('/'), spec.id);
    // oci-spec's builders start from its Default values (youki's hostname, rlimits, masked
    // paths): every field that matters is set explicitly, None included.
    let (masked, readonly): (Vec<String>, Vec<String>) = if spec.privileged {
        (Vec::new(), Vec::new())
    } else {
        (MASKED_PATHS.iter().map(|p| p.to_string()).collect(), READONLY_PATHS.iter().map(|p| p.to_string()).collect())
    };
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(resources)
        .cgroups_path(cgroup)
        .build()
        .map_err(err("linux"))?;
    linux.set_masked_paths(Some(masked)).set_readonly_paths(Some(readonly));

    let root = RootBuilder::default().path(rootfs).readonly(spec.read_only_rootfs).build().map_err(err("root"))?;
    let mut builder = SpecBuilder::default()
        .version("1.0.2-dev")
        .root(root)
        .process(process)
        .mounts(mounts(spec)?)
        .linux(linux);
    if spec.uts_ns.is_none() {
        if let Some(h) = &spec.hostname {
            builder = builder.hostname(h.clone());
        }
    }
    let mut config = builder.build().map_err(err("spec"))?;
    // Only a container with its own uts namespace may name it.
    if spec.uts_ns.is_some() || spec.hostname.is_none() {
        config.set_hostname(None);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec { id: "c1".into(), cgroup_parent: "/kubepods/podu".into(), args: vec!["sh".into()], ..Default::default() }
    }

    #[test]
    fn capabilities_follow_containerd() {
        let mut s = spec();
        let caps = capabilities(&s);
        assert_eq!(caps.len(), DEFAULT_CAPS.len());
        s.cap_add = vec!["NET_ADMIN".into()];
        s.cap_drop = vec!["cap_chown".into()];
        let caps = capabilities(&s);
        assert!(caps.contains(&"NET_ADMIN".to_string()));
        assert!(!caps.contains(&"CHOWN".to_string()));
        s.cap_drop = vec!["ALL".into()];
        assert_eq!(capabilities(&s), vec!["NET_ADMIN".to_string()]);
        s.cap_add = vec!["ALL".into()];
        s.cap_drop = vec!["KILL".into()];
        let caps = capabilities(&s);
        assert!(caps.len() > DEFAULT_CAPS.len() && !caps.contains(&"KILL".to_string()));
        assert!(to_oci_caps(&["BOGUS".to_string()]).is_err());
        assert!(to_oci_caps(&grantable_caps().iter().map(|c| c.to_string()).collect::<Vec<_>>()).is_ok());
    }

    #[test]
    fn config_has_namespaces_cgroups_and_resources() {
        let mut s = spec();
        s.net_ns = Some("/run/netns/x".into());
        s.hostname = Some("pod".into());
        s.resources = crate::node::cgroups::Resources {
            cpu_shares: 204,
            cpu_quota: Some(20000),
            cpu_period: 100_000,
            memory_limit: Some(1 << 27),
            ..Default::default()
        };
        s.oom_score_adj = Some(1000);
        let config = build(&s, Path::new("/b/rootfs"), false, true).expect("spec");
        let json = serde_json::to_value(&config).expect("json");
        assert_eq!(json["linux"]["cgroupsPath"], "/kubepods/podu/c1");
        assert_eq!(json["linux"]["resources"]["memory"]["limit"], 1 << 27);
        assert_eq!(json["linux"]["resources"]["memory"]["swap"], 1 << 27);
        assert_eq!(json["linux"]["resources"]["cpu"]["quota"], 20000);
        assert_eq!(json["linux"]["resources"]["cpu"]["shares"], 204);
        assert_eq!(json["process"]["oomScoreAdj"], 1000);
        assert_eq!(json["hostname"], "pod");
        assert!(json["process"].get("rlimits").is_none());
        let ns = json["linux"]["namespaces"].as_array().expect("namespaces");
        assert!(ns.iter().any(|n| n["type"] == "network" && n["path"] == "/run/netns/x"));
        assert!(ns.iter().any(|n| n["type"] == "pid" && n.get("path").is_none()));
        assert!(json["linux"]["maskedPaths"].as_array().is_some_and(|p| !p.is_empty()));
        s.uts_ns = Some("/proc/1/ns/uts".into());
        s.privileged = true;
        let json = serde_json::to_value(build(&s, Path::new("/b/rootfs"), false, true).expect("spec")).expect("json");
        assert!(json.get("hostname").is_none(), "a joined uts namespace keeps its host name");
        assert!(json["linux"]["maskedPaths"].as_array().is_some_and(|p| p.is_empty()));
        assert_eq!(json["linux"]["resources"]["devices"][0]["allow"], true);
    }

    #[test]
    fn oom_score_adj_is_never_lowered_below_ours() {
        let ours: i32 = std::fs::read_to_string("/proc/self/oom_score_adj").expect("read").trim().parse().expect("int");
        assert_eq!(effective_oom_score_adj(1000), 1000);
        let low = effective_oom_score_adj(-997);
        assert!(low == -997 || low == ours);
    }
}
