//! A pod's /etc/hosts, /etc/hostname and /etc/resolv.conf, written under its pod dir as the
//! kubelet (hosts) and containerd (hostname, resolv.conf from the kubelet's DNS config) write them.

use std::io;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{HostAlias, Pod, PodDNSConfig};

/// Where a pod's generated files live on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcFiles {
    pub hosts: PathBuf,
    pub hostname: PathBuf,
    pub resolv_conf: PathBuf,
}

const MANAGED_HOSTS_HEADER: &str = "# Kubernetes-managed hosts file.\n";
const MANAGED_HOSTS_HEADER_HOST_NETWORK: &str = "# Kubernetes-managed hosts file (host network).\n";
/// validation.MaxDNSNameservers.
const MAX_NAMESERVERS: usize = 3;
/// validation.MaxDNSSearchPathsExpanded and MaxDNSSearchListCharsExpanded.
const MAX_SEARCH_PATHS: usize = 32;
const MAX_SEARCH_CHARS: usize = 2048;
/// A search domain longer than a DNS subdomain name is dropped (glibc aborts on them).
const MAX_SEARCH_DOMAIN: usize = 253;

/// Writes `<pods_dir>/<uid>/etc-hosts`, `hostname` and `resolv.conf`. `cluster_dns` is the
/// cluster DNS service IP ("" = none: ClusterFirst falls back to Default as the kubelet does);
/// `host_resolv` is the contents of the node's resolv.conf (what `Default` pods get).
/// hostNetwork pods get the host's /etc/hosts and host name.
pub fn write(
    pods_dir: &Path,
    pod: &Pod,
    pod_ip: &str,
    cluster_dns: &str,
    cluster_domain: &str,
    host_resolv: &str,
) -> Result<EtcFiles, io::Error> {
    let host_network = pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false);
    let host = if host_network {
        let hosts = std::fs::read_to_string("/etc/hosts")?;
        let name = nix::unistd::gethostname().map_err(io::Error::from)?.to_string_lossy().into_owned();
        Some((hosts, name))
    } else {
        None
    };
    write_with_host(pods_dir, pod, pod_ip, cluster_dns, cluster_domain, host_resolv, host.as_ref().map(|(h, n)| (h.as_str(), n.as_str())))
}

/// `write`, with the host's /etc/hosts contents and host name given (used for hostNetwork pods).
pub fn write_with_host(
    pods_dir: &Path,
    pod: &Pod,
    pod_ip: &str,
    cluster_dns: &str,
    cluster_domain: &str,
    host_resolv: &str,
    host: Option<(&str, &str)>,
) -> Result<EtcFiles, io::Error> {
    let uid = pod.metadata.uid.as_deref().filter(|u| !u.is_empty()).ok_or_else(|| invalid("pod has no metadata.uid".into()))?;
    let dir = pods_dir.join(uid);
    std::fs::create_dir_all(&dir)?;
    let files = EtcFiles { hosts: dir.join("etc-hosts"), hostname: dir.join("hostname"), resolv_conf: dir.join("resolv.conf") };
    let aliases = pod.spec.as_ref().and_then(|s| s.host_aliases.as_deref()).unwrap_or(&[]);
    let (hosts, hostname) = match host {
        Some((host_hosts, host_name)) => (host_network_hosts(host_hosts, aliases), host_name.to_string()),
        None => {
            let (hostname, domain) = hostname_and_domain(pod, cluster_domain)?;
            let ips: Vec<&str> = if pod_ip.is_empty() { vec![] } else { vec![pod_ip] };
            (managed_hosts(&ips, &hostname, &domain, aliases), hostname)
        }
    };
    write_file(&files.hosts, hosts.as_bytes())?;
    write_file(&files.hostname, format!("{hostname}\n").as_bytes())?;
    write_file(&files.resolv_conf, resolv_conf(pod, cluster_dns, cluster_domain, host_resolv).as_bytes())?;
    tracing::debug!(dir = %dir.display(), hostname, "wrote etc-hosts, hostname and resolv.conf");
    Ok(files)
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Writes in place (truncate and write) as the kubelet does, so containers that bind-mount the
/// file see the new contents; mode 0644.
fn write_file(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, data)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
}

/// The kubelet's GeneratePodHostNameAndDomain: spec.hostname or the pod name (cut to 63
/// characters without a trailing '-' or '.'), and `<subdomain>.<ns>.svc.<domain>` when a
/// subdomain is set.
pub fn hostname_and_domain(pod: &Pod, cluster_domain: &str) -> Result<(String, String), io::Error> {
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let spec = pod.spec.as_ref();
    let mut hostname = name.to_string();
    if let Some(h) = spec.and_then(|s| s.hostname.as_deref()).filter(|h| !h.is_empty()) {
        if let Some(msg) = dns1123_label_error(h) {
            return Err(invalid(format!("pod Hostname {h:?} is not a valid DNS label: {msg}")));
        }
        hostname = h.to_string();
    }
    if hostname.len() > 63 {
        let truncated = hostname[..63].trim_end_matches(['-', '.']).to_string();
        tracing::warn!(pod = name, truncated, "Hostname for pod was too long, truncated it");
        if truncated.is_empty() {
            return Err(invalid(format!("hostname for pod {name:?} was invalid: {hostname:?}")));
        }
        hostname = truncated;
    }
    let mut domain = String::new();
    if let Some(sub) = spec.and_then(|s| s.subdomain.as_deref()).filter(|s| !s.is_empty()) {
        if let Some(msg) = dns1123_label_error(sub) {
            return Err(invalid(format!("pod Subdomain {sub:?} is not a valid DNS label: {msg}")));
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        domain = format!("{sub}.{ns}.svc.{cluster_domain}");
    }
    Ok((hostname, domain))
}

/// IsDNS1123Label's message, or None when valid.
fn dns1123_label_error(s: &str) -> Option<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    let ok_chars = s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ends_ok = s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric()) && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
    if !ok_chars || !ends_ok {
        errs.push("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".to_string());
    }
    if errs.is_empty() { None } else { Some(errs.join(";")) }
}

/// managedHostsFileContent.
fn managed_hosts(ips: &[&str], hostname: &str, domain: &str, aliases: &[HostAlias]) -> String {
    let mut out = String::from(MANAGED_HOSTS_HEADER);
    out.push_str("127.0.0.1\tlocalhost\n");
    out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    out.push_str("fe00::0\tip6-localnet\n");
    out.push_str("fe00::0\tip6-mcastprefix\n");
    out.push_str("fe00::1\tip6-allnodes\n");
    out.push_str("fe00::2\tip6-allrouters\n");
    for ip in ips {
        if domain.is_empty() {
            out.push_str(&format!("{ip}\t{hostname}\n"));
        } else {
            out.push_str(&format!("{ip}\t{hostname}.{domain}\t{hostname}\n"));
        }
    }
    out.push_str(&alias_entries(aliases));
    out
}

/// nodeHostsFileContent: the host's file under the host-network header, plus aliases.
fn host_network_hosts(host_hosts: &str, aliases: &[HostAlias]) -> String {
    format!("{MANAGED_HOSTS_HEADER_HOST_NETWORK}{host_hosts}{}", alias_entries(aliases))
}

/// hostsEntriesFromHostAliases.
fn alias_entries(aliases: &[HostAlias]) -> String {
    if aliases.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n# Entries added by HostAliases.\n");
    for a in aliases {
        out.push_str(&format!("{}\t{}\n", a.ip, a.hostnames.as_deref().unwrap_or(&[]).join("\t")));
    }
    out
}

/// A resolver configuration: what the kubelet hands the runtime.
#[derive(Debug, Default, PartialEq, Eq)]
struct DnsConfig {
    servers: Vec<String>,
    searches: Vec<String>,
    options: Vec<String>,
}

/// The kubelet's parseResolvConf: nameservers accumulate, the last `search` wins (trailing dots
/// trimmed, "." dropped), options accumulate with later ones replacing same-named ones.
fn parse_resolv_conf(contents: &str) -> DnsConfig {
    let mut cfg = DnsConfig::default();
    for line in contents.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["nameserver", server, ..] => cfg.servers.push(server.to_string()),
            ["search", domains @ ..] => {
                cfg.searches = domains.iter().filter(|d| **d != ".").map(|d| d.trim_end_matches('.').to_string()).collect();
            }
            ["options", opts @ ..] => {
                for o in opts {
                    set_option(&mut cfg.options, o);
                }
            }
            _ => {}
        }
    }
    cfg
}

/// Adds an option, replacing one of the same name (the part before ':') in place.
fn set_option(options: &mut Vec<String>, option: &str) {
    let name = option.split(':').next().unwrap_or(option);
    match options.iter_mut().find(|o| o.split(':').next() == Some(name)) {
        Some(existing) => *existing = option.to_string(),
        None => options.push(option.to_string()),
    }
}

fn omit_duplicates(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(v.len());
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The kubelet's GetPodDNS for the pod's dnsPolicy, rendered as containerd writes it.
fn resolv_conf(pod: &Pod, cluster_dns: &str, cluster_domain: &str, host_resolv: &str) -> String {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let policy = spec.and_then(|s| s.dns_policy.as_deref()).unwrap_or("ClusterFirst");
    let mut cfg = parse_resolv_conf(host_resolv);
    let cluster = match policy {
        "None" => {
            cfg = DnsConfig::default();
            false
        }
        "ClusterFirstWithHostNet" => true,
        "ClusterFirst" => !host_network,
        "Default" => false,
        other => {
            tracing::warn!(policy = other, "invalid DNSPolicy; falling back to ClusterFirst");
            true
        }
    };
    if cluster {
        if cluster_dns.is_empty() {
            tracing::warn!("no cluster DNS IP configured; pod falls back to the Default DNS policy");
        } else {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            cfg.servers = vec![cluster_dns.to_string()];
            if !cluster_domain.is_empty() {
                let mut searches =
                    vec![format!("{ns}.svc.{cluster_domain}"), format!("svc.{cluster_domain}"), cluster_domain.to_string()];
                searches.append(&mut cfg.searches);
                cfg.searches = omit_duplicates(searches);
            }
            cfg.options = vec!["ndots:5".to_string()];
        }
    }
    if let Some(extra) = spec.and_then(|s| s.dns_config.as_ref()) {
        append_dns_config(&mut cfg, extra);
    }
    fit_limits(&mut cfg);
    render(&cfg)
}

/// appendDNSConfig: the pod's dnsConfig merged in; its options replace same-named ones.
fn append_dns_config(cfg: &mut DnsConfig, extra: &PodDNSConfig) {
    let mut servers = std::mem::take(&mut cfg.servers);
    servers.extend(extra.nameservers.iter().flatten().cloned());
    cfg.servers = omit_duplicates(servers);
    let mut searches = std::mem::take(&mut cfg.searches);
    searches.extend(extra.searches.iter().flatten().cloned());
    cfg.searches = omit_duplicates(searches);
    for o in extra.options.iter().flatten() {
        let Some(name) = o.name.as_deref() else { continue };
        let option = match o.value.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => format!("{name}:{v}"),
            None => name.to_string(),
        };
        set_option(&mut cfg.options, &option);
    }
}

/// formDNSConfigFitsLimits: at most 3 nameservers, 32 search domains of at most 253
/// characters, 2048 characters of search line.
fn fit_limits(cfg: &mut DnsConfig) {
    if cfg.servers.len() > MAX_NAMESERVERS {
        tracing::warn!(nameservers = ?cfg.servers, "Nameserver limits exceeded; some were omitted");
        cfg.servers.truncate(MAX_NAMESERVERS);
    }
    cfg.searches.truncate(MAX_SEARCH_PATHS);
    cfg.searches.retain(|s| s.len() <= MAX_SEARCH_DOMAIN);
    let mut len = cfg.searches.join(" ").len();
    while len > MAX_SEARCH_CHARS {
        let Some(last) = cfg.searches.pop() else { break };
        len = len.saturating_sub(last.len() + 1);
    }
}

/// containerd's resolv.conf: search, nameserver lines, options.
fn render(cfg: &DnsConfig) -> String {
    let mut out = String::new();
    if !cfg.searches.is_empty() {
        out.push_str(&format!("search {}\n", cfg.searches.join(" ")));
    }
    for s in &cfg.servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !cfg.options.is_empty() {
        out.push_str(&format!("options {}\n", cfg.options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodDNSConfigOption, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    const HOST_RESOLV: &str = "# generated\nnameserver 192.168.1.1\nsearch old.example\nnameserver 192.168.1.2\nsearch corp.example. . lab.example\noptions timeout:2 ndots:1\noptions timeout:3\n";

    fn pod(name: &str, spec: PodSpec) -> Pod {
        Pod {
            metadata: ObjectMeta { name: Some(name.into()), namespace: Some("team".into()), uid: Some("uid-1".into()), ..Default::default() },
            spec: Some(spec),
            status: None,
        }
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn cluster_first_pod_files_are_exactly_the_kubelets() {
        let dir = tempfile::tempdir().unwrap();
        let p = pod("web-0", PodSpec::default());
        let files = write(dir.path(), &p, "10.42.0.5", "10.43.0.10", "cluster.local", HOST_RESOLV).unwrap();
        assert_eq!(files.hosts, dir.path().join("uid-1/etc-hosts"));
        assert_eq!(
            read(&files.hosts),
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n10.42.0.5\tweb-0\n"
        );
        assert_eq!(read(&files.hostname), "web-0\n");
        assert_eq!(
            read(&files.resolv_conf),
            "search team.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.43.0.10\noptions ndots:5\n"
        );
    }

    #[test]
    fn hostname_subdomain_and_aliases() {
        let dir = tempfile::tempdir().unwrap();
        let spec = PodSpec {
            hostname: Some("db".into()),
            subdomain: Some("backend".into()),
            host_aliases: Some(vec![
                HostAlias { ip: "127.0.0.1".into(), hostnames: Some(vec!["foo.local".into(), "bar.local".into()]) },
                HostAlias { ip: "10.1.2.3".into(), hostnames: Some(vec!["foo.remote".into()]) },
            ]),
            ..Default::default()
        };
        let files = write(dir.path(), &pod("db-xyz", spec), "10.42.0.6", "10.43.0.10", "cluster.local", "").unwrap();
        let hosts = read(&files.hosts);
        assert!(hosts.ends_with(
            "fe00::2\tip6-allrouters\n10.42.0.6\tdb.backend.team.svc.cluster.local\tdb\n\n# Entries added by HostAliases.\n127.0.0.1\tfoo.local\tbar.local\n10.1.2.3\tfoo.remote\n"
        ), "{hosts}");
        assert_eq!(read(&files.hostname), "db\n");
    }

    #[test]
    fn long_pod_names_are_truncated_without_trailing_dash() {
        let name = format!("{}-{}", "a".repeat(62), "bcd");
        let (h, d) = hostname_and_domain(&pod(&name, PodSpec::default()), "cluster.local").unwrap();
        assert_eq!(h, "a".repeat(62));
        assert_eq!(d, "");
        let bad = PodSpec { hostname: Some("Bad_Name".into()), ..Default::default() };
        let err = hostname_and_domain(&pod("x", bad), "cluster.local").unwrap_err().to_string();
        assert!(err.starts_with("pod Hostname \"Bad_Name\" is not a valid DNS label: a lowercase RFC 1123 label"), "{err}");
    }

    #[test]
    fn dns_policies() {
        let spec = |policy: &str, host_network: bool| PodSpec { dns_policy: Some(policy.into()), host_network: Some(host_network), ..Default::default() };
        let conf = |s: PodSpec| resolv_conf(&pod("p", s), "10.43.0.10", "cluster.local", HOST_RESOLV);
        let host = "search corp.example lab.example\nnameserver 192.168.1.1\nnameserver 192.168.1.2\noptions timeout:3 ndots:1\n";
        assert_eq!(conf(spec("Default", false)), host);
        // ClusterFirst on the host network falls back to Default; ClusterFirstWithHostNet does not.
        assert_eq!(conf(spec("ClusterFirst", true)), host);
        assert_eq!(
            conf(spec("ClusterFirstWithHostNet", true)),
            "search team.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.43.0.10\noptions ndots:5\n"
        );
        // None: only the pod's dnsConfig.
        let none = PodSpec {
            dns_policy: Some("None".into()),
            dns_config: Some(PodDNSConfig {
                nameservers: Some(vec!["1.2.3.4".into()]),
                searches: Some(vec!["ns1.svc.cluster-domain.example".into(), "my.dns.search.suffix".into()]),
                options: Some(vec![
                    PodDNSConfigOption { name: Some("ndots".into()), value: Some("2".into()) },
                    PodDNSConfigOption { name: Some("edns0".into()), value: None },
                ]),
            }),
            ..Default::default()
        };
        assert_eq!(
            conf(none),
            "search ns1.svc.cluster-domain.example my.dns.search.suffix\nnameserver 1.2.3.4\noptions ndots:2 edns0\n"
        );
        // ClusterFirst + dnsConfig: merged, duplicates omitted, options replaced by name.
        let merged = PodSpec {
            dns_config: Some(PodDNSConfig {
                nameservers: Some(vec!["10.43.0.10".into(), "192.0.2.53".into()]),
                searches: Some(vec!["svc.cluster.local".into(), "extra".into()]),
                options: Some(vec![PodDNSConfigOption { name: Some("ndots".into()), value: Some("1".into()) }]),
            }),
            ..Default::default()
        };
        assert_eq!(
            conf(merged),
            "search team.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example extra\nnameserver 10.43.0.10\nnameserver 192.0.2.53\noptions ndots:1\n"
        );
        // No cluster DNS: ClusterFirst falls back to Default.
        assert_eq!(resolv_conf(&pod("p", PodSpec::default()), "", "cluster.local", HOST_RESOLV), host);
    }

    #[test]
    fn limits_trim_nameservers_and_searches() {
        let mut cfg = DnsConfig {
            servers: (1..=5).map(|i| format!("10.0.0.{i}")).collect(),
            searches: (0..40).map(|i| format!("d{i}.{}", "x".repeat(80))).collect(),
            options: vec![],
        };
        fit_limits(&mut cfg);
        assert_eq!(cfg.servers.len(), 3);
        assert!(cfg.searches.len() <= 32 && cfg.searches.join(" ").len() <= 2048);
        assert_eq!(cfg.searches.len(), 24);
    }

    #[test]
    fn host_network_pods_get_the_hosts_file_of_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let spec = PodSpec {
            host_network: Some(true),
            host_aliases: Some(vec![HostAlias { ip: "1.2.3.4".into(), hostnames: Some(vec!["a".into()]) }]),
            ..Default::default()
        };
        let p = pod("hn", spec);
        let files = write_with_host(dir.path(), &p, "10.200.0.2", "10.43.0.10", "cluster.local", HOST_RESOLV, Some(("127.0.0.1 localhost\n", "node1"))).unwrap();
        assert_eq!(
            read(&files.hosts),
            "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n\n# Entries added by HostAliases.\n1.2.3.4\ta\n"
        );
        assert_eq!(read(&files.hostname), "node1\n");
    }
}
