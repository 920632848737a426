//! The kubelet's cgroup layout (cgroupfs driver) and Kubernetes' QoS formulas, on cgroup v1,
//! v2 and the hybrid layout (v1 controllers plus a controller-less cgroup2 at
//! /sys/fs/cgroup/unified). Plain files under the hierarchies' mount points, found in
//! /proc/self/mountinfo.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, PodSpec};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// cpu.shares bounds and CFS values of the kubelet (pkg/kubelet/cm/helpers_linux.go).
const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 262144;
const SHARES_PER_CPU: u64 = 1024;
const QUOTA_PERIOD: u64 = 100_000;
const MIN_QUOTA: i64 = 1000;
/// How long remove_pod waits for killed processes to leave a cgroup.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no cgroup hierarchy is mounted (read /proc/self/mountinfo)")]
    NoCgroups,
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cgroup {path} still has processes {timeout:?} after they were killed: {source}")]
    Busy {
        path: PathBuf,
        timeout: Duration,
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io { action, path: path.to_path_buf(), source }
}

/// Kubernetes' pod QoS classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl QosClass {
    pub fn as_str(&self) -> &'static str {
        match self {
            QosClass::Guaranteed => "Guaranteed",
            QosClass::Burstable => "Burstable",
            QosClass::BestEffort => "BestEffort",
        }
    }
}

/// A quantity string as an integer of `scale` units per base unit, rounded up like
/// resource.Quantity's MilliValue/Value ("200m" at 1000 → 200; "128Mi" at 1 → 134217728).
fn quantity(q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity, scale: f64) -> Option<i64> {
    let v = crate::registry::pod::parse_quantity(&q.0)? * scale;
    // Round up, but forgive float noise ("0.1" * 1000 = 100.00000000000001).
    let rounded = v.round();
    let v = if (v - rounded).abs() < 1e-6 { rounded } else { v.ceil() };
    Some(v as i64)
}

/// One container's cpu (millicores) and memory (bytes) requests and limits; a limit without a
/// request makes the request equal to it (the API server's defaulting).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Amounts {
    cpu_req: Option<i64>,
    cpu_lim: Option<i64>,
    mem_req: Option<i64>,
    mem_lim: Option<i64>,
}

fn amounts(c: &Container) -> Amounts {
    let res = c.resources.as_ref();
    let get = |which: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
               name: &str,
               scale: f64| {
        which.and_then(|m| m.get(name)).and_then(|q| quantity(q, scale)).filter(|v| *v != 0)
    };
    let limits = res.and_then(|r| r.limits.as_ref());
    let requests = res.and_then(|r| r.requests.as_ref());
    let cpu_lim = get(limits, "cpu", 1000.0);
    let mem_lim = get(limits, "memory", 1.0);
    Amounts {
        cpu_req: get(requests, "cpu", 1000.0).or(cpu_lim),
        cpu_lim,
        mem_req: get(requests, "memory", 1.0).or(mem_lim),
        mem_lim,
    }
}

/// Kubernetes' GetPodQOS: BestEffort when no container requests or limits cpu or memory;
/// Guaranteed when every container limits both and the summed requests equal the summed
/// limits; Burstable otherwise. Init containers count.
pub fn qos_class(spec: &PodSpec) -> QosClass {
    let all = spec.containers.iter().chain(spec.init_containers.iter().flatten());
    let mut any = false;
    let mut guaranteed = true;
    let (mut cpu_req, mut cpu_lim, mut mem_req, mut mem_lim) = (0i64, 0i64, 0i64, 0i64);
    for c in all {
        let a = amounts(c);
        any |= a.cpu_req.is_some() || a.cpu_lim.is_some() || a.mem_req.is_some() || a.mem_lim.is_some();
        if a.cpu_lim.is_none() || a.mem_lim.is_none() {
            guaranteed = false;
        }
        cpu_req += a.cpu_req.unwrap_or(0);
        cpu_lim += a.cpu_lim.unwrap_or(0);
        mem_req += a.mem_req.unwrap_or(0);
        mem_lim += a.mem_lim.unwrap_or(0);
    }
    if !any {
        QosClass::BestEffort
    } else if guaranteed && cpu_req == cpu_lim && mem_req == mem_lim {
        QosClass::Guaranteed
    } else {
        QosClass::Burstable
    }
}

/// Cgroup settings of a container or a pod, in the kubelet's units.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    /// cpu.shares (v1); v2 derives cpu.weight from it.
    pub cpu_shares: u64,
    /// CFS quota in µs per period; None = unlimited.
    pub cpu_quota: Option<i64>,
    pub cpu_period: u64,
    /// Bytes; None = unlimited.
    pub memory_limit: Option<i64>,
    pub memory_request: Option<i64>,
    pub cpu_request_milli: i64,
}

/// MilliCPUToShares: millicores × 1024 / 1000 within [2, 262144]; 0 → 2.
pub fn milli_cpu_to_shares(milli: i64) -> u64 {
    if milli <= 0 {
        return MIN_SHARES;
    }
    (milli as u64 * SHARES_PER_CPU / 1000).clamp(MIN_SHARES, MAX_SHARES)
}

/// MilliCPUToQuota: millicores × period / 1000, at least 1000 µs.
pub fn milli_cpu_to_quota(milli: i64, period: u64) -> i64 {
    (milli * period as i64 / 1000).max(MIN_QUOTA)
}

/// cgroup v2 cpu.weight from cpu.shares (the kubelet's conversion).
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + (shares.saturating_sub(2) * 9999) / 262142
}

fn resources_from(a: Amounts, cpu_limit_declared: bool, mem_limit_declared: bool) -> Resources {
    let cpu_req = a.cpu_req.unwrap_or(0);
    Resources {
        cpu_shares: milli_cpu_to_shares(cpu_req),
        cpu_quota: a.cpu_lim.filter(|_| cpu_limit_declared).map(|l| milli_cpu_to_quota(l, QUOTA_PERIOD)),
        cpu_period: QUOTA_PERIOD,
        memory_limit: a.mem_lim.filter(|_| mem_limit_declared),
        memory_request: a.mem_req,
        cpu_request_milli: cpu_req,
    }
}

/// A container's cgroup settings (shares from the cpu request, quota from the cpu limit,
/// memory limit).
pub fn container_resources(c: &Container) -> Resources {
    resources_from(amounts(c), true, true)
}

/// The pod cgroup's settings, like the kubelet's ResourceConfigForPod: requests and limits
/// summed over the containers and raised to any larger init container's; the cpu quota only
/// when every container limits cpu, the memory limit only when every container limits memory.
pub fn pod_resources(spec: &PodSpec) -> Resources {
    let sum = spec.containers.iter().map(amounts).fold(Amounts::default(), |acc, a| Amounts {
        cpu_req: add(acc.cpu_req, a.cpu_req),
        cpu_lim: add(acc.cpu_lim, a.cpu_lim),
        mem_req: add(acc.mem_req, a.mem_req),
        mem_lim: add(acc.mem_lim, a.mem_lim),
    });
    let total = spec.init_containers.iter().flatten().map(amounts).fold(sum, |acc, a| Amounts {
        cpu_req: max(acc.cpu_req, a.cpu_req),
        cpu_lim: max(acc.cpu_lim, a.cpu_lim),
        mem_req: max(acc.mem_req, a.mem_req),
        mem_lim: max(acc.mem_lim, a.mem_lim),
    });
    let cpu_declared = spec.containers.iter().all(|c| amounts(c).cpu_lim.is_some());
    let mem_declared = spec.containers.iter().all(|c| amounts(c).mem_lim.is_some());
    let mut res = resources_from(total, cpu_declared, mem_declared);
    if qos_class(spec) == QosClass::BestEffort {
        res.cpu_quota = None;
        res.memory_limit = None;
    }
    res
}

fn add(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}

fn max(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).max(b.unwrap_or(0))),
    }
}

/// Kubernetes' oom_score_adj policy: Guaranteed -997, BestEffort 1000, Burstable
/// 1000 - 1000 × request / machine memory within [3, 999].
pub fn oom_score_adj(qos: QosClass, memory_request: i64, machine_memory: i64) -> i32 {
    match qos {
        QosClass::Guaranteed => -997,
        QosClass::BestEffort => 1000,
        QosClass::Burstable => {
            let machine = machine_memory.max(1) as i128;
            let adj = 1000 - (1000 * memory_request.max(0) as i128) / machine;
            adj.clamp(3, 999) as i32
        }
    }
}

/// Total memory of the machine in bytes (MemTotal).
pub fn machine_memory() -> i64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Online CPUs.
pub fn machine_cpus() -> i64 {
    std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(1)
}

/// Usage figures of one cgroup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub memory_usage: u64,
    /// usage - inactive file pages (what the kubelet and metrics-server report).
    pub memory_working_set: u64,
    /// Cumulative cpu time in nanoseconds.
    pub cpu_usage_nanos: u64,
}

/// The mounted hierarchies.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Hierarchies {
    /// v1 controller (or "name=systemd") → mount point of its hierarchy.
    v1: BTreeMap<String, PathBuf>,
    /// The cgroup2 mount point, if any.
    unified: Option<PathBuf>,
}

impl Hierarchies {
    fn detect() -> Result<Hierarchies, Error> {
        let path = Path::new("/proc/self/mountinfo");
        let text = fs::read_to_string(path).map_err(io_err("reading", path))?;
        let h = Hierarchies::parse(&text);
        if h.v1.is_empty() && h.unified.is_none() {
            return Err(Error::NoCgroups);
        }
        Ok(h)
    }

    fn parse(mountinfo: &str) -> Hierarchies {
        let mut h = Hierarchies { v1: BTreeMap::new(), unified: None };
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else { continue };
            let Some(mount_point) = left.split(' ').nth(4) else { continue };
            let mut right = right.split(' ');
            let (fstype, _source, options) = (right.next(), right.next(), right.next().unwrap_or(""));
            match fstype {
                Some("cgroup2") if h.unified.is_none() => h.unified = Some(PathBuf::from(mount_point)),
                Some("cgroup") => {
                    for opt in options.split(',') {
                        let known = matches!(
                            opt,
                            "cpu" | "cpuacct" | "cpuset" | "memory" | "pids" | "blkio" | "devices" | "freezer"
                                | "hugetlb" | "net_cls" | "net_prio" | "perf_event" | "rdma" | "misc"
                        ) || opt.starts_with("name=");
                        if known {
                            h.v1.entry(opt.to_string()).or_insert_with(|| PathBuf::from(mount_point));
                        }
                    }
                }
                _ => {}
            }
        }
        h
    }

    /// Every distinct hierarchy mount point (v1 ones and the unified one).
    fn roots(&self) -> Vec<PathBuf> {
        let mut roots: Vec<PathBuf> = self.v1.values().cloned().collect();
        roots.extend(self.unified.iter().cloned());
        roots.sort();
        roots.dedup();
        roots
    }
}

/// The profile's pod cgroups.
#[derive(Clone, Debug)]
pub struct Cgroups {
    h: Hierarchies,
    kubepods: String,
}

fn join(root: &Path, cgroup: &str) -> PathBuf {
    root.join(cgroup.trim_start_matches('/'))
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), Error> {
    let path = dir.join(file);
    fs::write(&path, value).map_err(io_err("writing", &path))
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `key value` lines (memory.stat, memory.events, memory.oom_control, cpu.stat).
fn keyed(path: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

impl Cgroups {
    /// Detects v1/v2/hybrid and creates `<kubepods>`, `<kubepods>/burstable` and
    /// `<kubepods>/besteffort` in every hierarchy.
    pub fn new(kubepods: &str) -> Result<Cgroups, Error> {
        let cg = Cgroups::open(kubepods)?;
        for qos_dir in [cg.kubepods.clone(), format!("{}/burstable", cg.kubepods), format!("{}/besteffort", cg.kubepods)] {
            cg.create(&qos_dir)?;
        }
        if let Some(cpu) = cg.h.v1.get("cpu") {
            let shares = milli_cpu_to_shares(machine_cpus() * 1000).to_string();
            write(&join(cpu, &cg.kubepods), "cpu.shares", &shares)?;
            write(&join(cpu, &format!("{}/besteffort", cg.kubepods)), "cpu.shares", &MIN_SHARES.to_string())?;
        } else if cg.version() == "v2" {
            let be = join(cg.unified_root(), &format!("{}/besteffort", cg.kubepods));
            write(&be, "cpu.weight", &shares_to_weight(MIN_SHARES).to_string())?;
        }
        tracing::info!(version = cg.version(), kubepods = %cg.kubepods, "cgroups ready");
        Ok(cg)
    }

    /// Detects the hierarchies without creating anything (the monitor's view).
    pub fn open(kubepods: &str) -> Result<Cgroups, Error> {
        let kubepods = format!("/{}", kubepods.trim_matches('/'));
        Ok(Cgroups { h: Hierarchies::detect()?, kubepods })
    }

    /// "v1", "v2" or "hybrid".
    pub fn version(&self) -> &'static str {
        match (self.h.v1.is_empty(), &self.h.unified) {
            (true, _) => "v2",
            (false, Some(_)) => "hybrid",
            (false, None) => "v1",
        }
    }

    fn is_v2(&self) -> bool {
        self.h.v1.is_empty()
    }

    fn unified_root(&self) -> &Path {
        self.h.unified.as_deref().unwrap_or(Path::new("/sys/fs/cgroup"))
    }

    /// Whether a memory+swap limit can be set (v2, or v1 with swap accounting): then containers
    /// get no swap beyond their memory limit, as the kubelet's NoSwap behaviour wants.
    pub fn swap_accounting(&self) -> bool {
        match self.h.v1.get("memory") {
            Some(mem) => mem.join("memory.memsw.limit_in_bytes").exists(),
            None => self.is_v2() && join(self.unified_root(), &self.kubepods).join("memory.swap.max").exists(),
        }
    }

    /// The kubepods root, e.g. "/kubepods".
    pub fn kubepods(&self) -> &str {
        &self.kubepods
    }

    /// The pod cgroup's path: Guaranteed `<kubepods>/pod<uid>`, else `<kubepods>/<qos>/pod<uid>`.
    pub fn pod_path(&self, qos: QosClass, uid: &str) -> String {
        match qos {
            QosClass::Guaranteed => format!("{}/pod{uid}", self.kubepods),
            QosClass::Burstable => format!("{}/burstable/pod{uid}", self.kubepods),
            QosClass::BestEffort => format!("{}/besteffort/pod{uid}", self.kubepods),
        }
    }

    /// Creates a cgroup in every hierarchy (cpuset levels get their parent's cpus and mems; on
    /// v2 the parents delegate the controllers).
    fn create(&self, cgroup: &str) -> Result<(), Error> {
        if self.is_v2() {
            return self.create_v2(cgroup);
        }
        for root in self.h.roots() {
            let dir = join(&root, cgroup);
            fs::create_dir_all(&dir).map_err(io_err("creating cgroup", &dir))?;
        }
        if let Some(cpuset) = self.h.v1.get("cpuset") {
            let mut dir = cpuset.clone();
            for part in cgroup.split('/').filter(|p| !p.is_empty()) {
                let parent = dir.clone();
                dir.push(part);
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    let current = fs::read_to_string(dir.join(file)).unwrap_or_default();
                    if current.trim().is_empty() {
                        let from = fs::read_to_string(parent.join(file)).map_err(io_err("reading", &parent.join(file)))?;
                        write(&dir, file, from.trim())?;
                    }
                }
            }
        }
        Ok(())
    }

    fn create_v2(&self, cgroup: &str) -> Result<(), Error> {
        let root = self.unified_root();
        let available = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        let enable: Vec<String> = available
            .split_whitespace()
            .filter(|c| matches!(*c, "cpu" | "memory" | "pids" | "cpuset" | "io" | "hugetlb"))
            .map(|c| format!("+{c}"))
            .collect();
        let mut dir = root.to_path_buf();
        for part in cgroup.split('/').filter(|p| !p.is_empty()) {
            if !enable.is_empty() {
                // Delegation may already be in place or partly refused; the limits below report
                // what really matters.
                if let Err(err) = write(&dir, "cgroup.subtree_control", &enable.join(" ")) {
                    tracing::debug!(%err, "enabling cgroup v2 controllers");
                }
            }
            dir.push(part);
            if !dir.exists() {
                fs::create_dir(&dir).map_err(io_err("creating cgroup", &dir))?;
            }
        }
        Ok(())
    }

    /// Creates the pod cgroup with pod-level limits. Idempotent.
    pub fn ensure_pod(&self, qos: QosClass, uid: &str, res: &Resources) -> Result<String, Error> {
        let path = self.pod_path(qos, uid);
        self.create(&path)?;
        self.apply(&path, res)?;
        tracing::debug!(%path, ?res, "pod cgroup ready");
        Ok(path)
    }

    /// Writes cpu and memory limits to an existing cgroup.
    pub fn apply(&self, path: &str, res: &Resources) -> Result<(), Error> {
        let period = if res.cpu_period == 0 { QUOTA_PERIOD } else { res.cpu_period };
        if self.is_v2() {
            let dir = join(self.unified_root(), path);
            write(&dir, "cpu.weight", &shares_to_weight(res.cpu_shares.max(MIN_SHARES)).to_string())?;
            let quota = res.cpu_quota.map_or("max".to_string(), |q| q.to_string());
            write(&dir, "cpu.max", &format!("{quota} {period}"))?;
            write(&dir, "memory.max", &res.memory_limit.map_or("max".to_string(), |m| m.to_string()))?;
            return Ok(());
        }
        if let Some(cpu) = self.h.v1.get("cpu") {
            let dir = join(cpu, path);
            write(&dir, "cpu.shares", &res.cpu_shares.max(MIN_SHARES).to_string())?;
            write(&dir, "cpu.cfs_period_us", &period.to_string())?;
            write(&dir, "cpu.cfs_quota_us", &res.cpu_quota.unwrap_or(-1).to_string())?;
        }
        if let Some(mem) = self.h.v1.get("memory") {
            let dir = join(mem, path);
            write(&dir, "memory.limit_in_bytes", &res.memory_limit.unwrap_or(-1).to_string())?;
        }
        Ok(())
    }

    /// Kills whatever is left in the pod cgroup and its children, then removes them in every
    /// hierarchy. Idempotent. Blocks up to a few seconds: call it from a blocking context.
    pub fn remove_pod(&self, pod_path: &str) -> Result<(), Error> {
        self.remove_tree(pod_path)
    }

    fn remove_tree(&self, cgroup: &str) -> Result<(), Error> {
        let roots = self.h.roots();
        let dirs: Vec<PathBuf> = roots.iter().map(|r| join(r, cgroup)).filter(|d| d.exists()).collect();
        if dirs.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + REMOVE_TIMEOUT;
        loop {
            for dir in &dirs {
                let kill_file = dir.join("cgroup.kill");
                if kill_file.exists() {
                    let _ = fs::write(&kill_file, "1");
                }
                for pid in procs_below(dir) {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            let mut last = None;
            for dir in &dirs {
                if let Err(err) = rmdir_tree(dir) {
                    last = Some((dir.clone(), err));
                }
            }
            match last {
                None => {
                    tracing::debug!(%cgroup, "cgroup removed");
                    return Ok(());
                }
                Some((path, source)) if Instant::now() >= deadline => {
                    return Err(Error::Busy { path, timeout: REMOVE_TIMEOUT, source });
                }
                Some(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// OOM kills recorded for a cgroup (v1 memory.oom_control, v2 memory.events).
    pub fn oom_kills(&self, path: &str) -> u64 {
        if let Some(mem) = self.h.v1.get("memory") {
            keyed(&join(mem, path).join("memory.oom_control"), "oom_kill").unwrap_or(0)
        } else {
            keyed(&join(self.unified_root(), path).join("memory.events"), "oom_kill").unwrap_or(0)
        }
    }

    /// Every pod cgroup that exists, as (uid, path).
    pub fn list_pods(&self) -> Vec<(String, String)> {
        let root = match self.h.v1.get("memory").or_else(|| self.h.v1.values().next()) {
            Some(r) => r.clone(),
            None => self.unified_root().to_path_buf(),
        };
        let mut pods = Vec::new();
        for parent in [self.kubepods.clone(), format!("{}/burstable", self.kubepods), format!("{}/besteffort", self.kubepods)] {
            let Ok(entries) = fs::read_dir(join(&root, &parent)) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(uid) = name.strip_prefix("pod") {
                    if entry.path().is_dir() {
                        pods.push((uid.to_string(), format!("{parent}/{name}")));
                    }
                }
            }
        }
        pods.sort();
        pods
    }

    /// Removes the whole tree below the profile's cgroup parent (`<parent>/kubepods`'s parent,
    /// or just `/kubepods` for the default profile whose parent is the root).
    pub fn teardown(kubepods: &str) -> Result<(), Error> {
        let cg = Cgroups::open(kubepods)?;
        let parent = cg.kubepods.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let target = if parent.is_empty() { cg.kubepods.clone() } else { parent.to_string() };
        cg.remove_tree(&target)
    }

    /// Memory usage, working set and cumulative cpu time of a cgroup.
    pub fn stats(&self, path: &str) -> Option<Stats> {
        if self.is_v2() {
            let dir = join(self.unified_root(), path);
            let usage = read_u64(&dir.join("memory.current"))?;
            let inactive = keyed(&dir.join("memory.stat"), "inactive_file").unwrap_or(0);
            let cpu = keyed(&dir.join("cpu.stat"), "usage_usec").unwrap_or(0) * 1000;
            return Some(Stats { memory_usage: usage, memory_working_set: usage.saturating_sub(inactive), cpu_usage_nanos: cpu });
        }
        let mem = join(self.h.v1.get("memory")?, path);
        let usage = read_u64(&mem.join("memory.usage_in_bytes"))?;
        let inactive = keyed(&mem.join("memory.stat"), "total_inactive_file").unwrap_or(0);
        let cpu = self
            .h
            .v1
            .get("cpuacct")
            .and_then(|root| read_u64(&join(root, path).join("cpuacct.usage")))
            .unwrap_or(0);
        Some(Stats { memory_usage: usage, memory_working_set: usage.saturating_sub(inactive), cpu_usage_nanos: cpu })
    }
}

/// Pids in a cgroup directory and all its descendants.
fn procs_below(dir: &Path) -> Vec<i32> {
    let mut pids: Vec<i32> = fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    for child in subdirs(dir) {
        pids.extend(procs_below(&child));
    }
    pids
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|entries| entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// Removes a cgroup directory depth-first (cgroupfs directories hold only control files).
fn rmdir_tree(dir: &Path) -> io::Result<()> {
    for child in subdirs(dir) {
        rmdir_tree(&child)?;
    }
    match fs::remove_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn container(req: &[(&str, &str)], lim: &[(&str, &str)]) -> Container {
        let map = |kv: &[(&str, &str)]| {
            (!kv.is_empty()).then(|| kv.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect())
        };
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements { requests: map(req), limits: map(lim), ..Default::default() }),
            ..Default::default()
        }
    }

    fn pod(containers: Vec<Container>, init: Vec<Container>) -> PodSpec {
        PodSpec { containers, init_containers: (!init.is_empty()).then_some(init), ..Default::default() }
    }

    #[test]
    fn qos_classes_follow_kubernetes() {
        let g = container(&[], &[("cpu", "200m"), ("memory", "128Mi")]);
        let b = container(&[("cpu", "100m")], &[]);
        let e = container(&[], &[]);
        assert_eq!(qos_class(&pod(vec![g.clone()], vec![])), QosClass::Guaranteed);
        assert_eq!(qos_class(&pod(vec![b.clone()], vec![])), QosClass::Burstable);
        assert_eq!(qos_class(&pod(vec![e.clone()], vec![])), QosClass::BestEffort);
        assert_eq!(qos_class(&pod(vec![g.clone(), e.clone()], vec![])), QosClass::Burstable);
        assert_eq!(qos_class(&pod(vec![e.clone()], vec![b])), QosClass::Burstable, "init containers count");
        let unequal = container(&[("cpu", "100m"), ("memory", "64Mi")], &[("cpu", "200m"), ("memory", "128Mi")]);
        assert_eq!(qos_class(&pod(vec![unequal], vec![])), QosClass::Burstable);
        assert_eq!(QosClass::BestEffort.as_str(), "BestEffort");
    }

    #[test]
    fn formulas_match_the_kubelet() {
        assert_eq!(milli_cpu_to_shares(0), 2);
        assert_eq!(milli_cpu_to_shares(1), 2);
        assert_eq!(milli_cpu_to_shares(200), 204);
        assert_eq!(milli_cpu_to_shares(1_000_000), 262144);
        assert_eq!(milli_cpu_to_quota(200, 100_000), 20000);
        assert_eq!(milli_cpu_to_quota(5, 100_000), 1000);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        let r = container_resources(&container(&[], &[("cpu", "200m"), ("memory", "128Mi")]));
        assert_eq!(r.cpu_shares, 204);
        assert_eq!(r.cpu_quota, Some(20000));
        assert_eq!(r.cpu_period, 100_000);
        assert_eq!(r.memory_limit, Some(134217728));
        assert_eq!(r.memory_request, Some(134217728));
        assert_eq!(r.cpu_request_milli, 200);
        let r = container_resources(&container(&[("cpu", "0.1")], &[]));
        assert_eq!((r.cpu_shares, r.cpu_quota, r.memory_limit), (102, None, None));
    }

    #[test]
    fn pod_resources_sum_containers_and_max_init() {
        let a = container(&[], &[("cpu", "200m"), ("memory", "128Mi")]);
        let b = container(&[("cpu", "100m")], &[("memory", "64Mi")]);
        let init = container(&[], &[("cpu", "1"), ("memory", "1Gi")]);
        let r = pod_resources(&pod(vec![a.clone(), b.clone()], vec![]));
        assert_eq!(r.cpu_shares, milli_cpu_to_shares(300));
        assert_eq!(r.cpu_quota, None, "b has no cpu limit");
        assert_eq!(r.memory_limit, Some(192 * 1024 * 1024));
        let r = pod_resources(&pod(vec![a.clone()], vec![init]));
        assert_eq!(r.cpu_quota, Some(100_000));
        assert_eq!(r.memory_limit, Some(1 << 30));
        let r = pod_resources(&pod(vec![container(&[], &[])], vec![]));
        assert_eq!((r.cpu_shares, r.cpu_quota, r.memory_limit), (2, None, None));
    }

    #[test]
    fn oom_score_adj_policy() {
        let gi = 1 << 30;
        assert_eq!(oom_score_adj(QosClass::Guaranteed, gi, 8 * gi), -997);
        assert_eq!(oom_score_adj(QosClass::BestEffort, 0, 8 * gi), 1000);
        assert_eq!(oom_score_adj(QosClass::Burstable, 4 * gi, 8 * gi), 500);
        assert_eq!(oom_score_adj(QosClass::Burstable, 0, 8 * gi), 999);
        assert_eq!(oom_score_adj(QosClass::Burstable, 8 * gi, 8 * gi), 3);
        assert!(machine_memory() > 0);
        assert!(machine_cpus() >= 1);
    }

    #[test]
    fn mountinfo_parsing_finds_v1_v2_and_hybrid() {
        let hybrid = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                      35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                      40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
                      41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        let h = Hierarchies::parse(hybrid);
        assert_eq!(h.v1.get("memory"), Some(&PathBuf::from("/sys/fs/cgroup/memory")));
        assert_eq!(h.unified, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(h.roots().len(), 4);
        let cg = Cgroups { h, kubepods: "/kubepods".into() };
        assert_eq!(cg.version(), "hybrid");
        assert_eq!(cg.pod_path(QosClass::Guaranteed, "u1"), "/kubepods/podu1");
        assert_eq!(cg.pod_path(QosClass::Burstable, "u1"), "/kubepods/burstable/podu1");
        let v2 = Hierarchies::parse("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
        assert_eq!(Cgroups { h: v2, kubepods: "/k".into() }.version(), "v2");
        let v1 = Hierarchies::parse("32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n");
        assert_eq!(v1.v1.get("cpuacct"), Some(&PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")));
        assert_eq!(v1.roots().len(), 1);
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn guaranteed_pod_cgroup_gets_kubelet_limits() {
        if !is_root() {
            assert!(std::env::var_os("CI").is_none(), "CI runs as root");
            eprintln!("skipping: needs root");
            return;
        }
        let parent = format!("/minikube-rs-test-{:08x}", rand::random::<u32>());
        let cg = Cgroups::new(&format!("{parent}/kubepods")).expect("cgroups");
        let spec = pod(vec![container(&[], &[("cpu", "200m"), ("memory", "128Mi")])], vec![]);
        let qos = qos_class(&spec);
        let path = cg.ensure_pod(qos, "abc", &pod_resources(&spec)).expect("ensure_pod");
        assert_eq!(path, format!("{parent}/kubepods/podabc"));
        assert_eq!(cg.ensure_pod(qos, "abc", &pod_resources(&spec)).expect("idempotent"), path);
        if cg.is_v2() {
            let dir = join(cg.unified_root(), &path);
            assert_eq!(fs::read_to_string(dir.join("memory.max")).unwrap_or_default().trim(), "134217728");
            assert_eq!(fs::read_to_string(dir.join("cpu.max")).unwrap_or_default().trim(), "20000 100000");
        } else {
            let mem = join(&cg.h.v1["memory"], &path);
            let cpu = join(&cg.h.v1["cpu"], &path);
            assert_eq!(read_u64(&mem.join("memory.limit_in_bytes")), Some(134217728));
            assert_eq!(fs::read_to_string(cpu.join("cpu.cfs_quota_us")).unwrap_or_default().trim(), "20000");
            assert_eq!(read_u64(&cpu.join("cpu.cfs_period_us")), Some(100000));
            assert_eq!(read_u64(&cpu.join("cpu.shares")), Some(204));
        }
        assert_eq!(cg.list_pods(), vec![("abc".to_string(), path.clone())]);
        assert_eq!(cg.oom_kills(&path), 0);
        assert!(cg.stats(&path).is_some());
        cg.remove_pod(&path).expect("remove_pod");
        cg.remove_pod(&path).expect("remove_pod is idempotent");
        assert!(cg.list_pods().is_empty());
        Cgroups::teardown(cg.kubepods()).expect("teardown");
        for root in cg.h.roots() {
            assert!(!join(&root, &parent).exists(), "{} left behind", root.display());
        }
    }
}
