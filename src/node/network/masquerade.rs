//! The pod network's source NAT, as the CNI bridge plugin's `ipMasq` does it for k3s:
//! traffic from the pod CIDR to anywhere outside it (and not multicast) leaves the node
//! MASQUERADEd. Applied in the node namespace's nat table with `iptables-restore --noflush`
//! (the chain is replaced atomically) plus one jump from POSTROUTING added if missing.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

use super::Error;

/// The chain holding the masquerade rules.
pub const CHAIN: &str = "CNI-POD-MASQ";
const COMMENT: &str = "minikube-rs pod network masquerade";

/// The `iptables-restore --noflush` payload that (re)writes [`CHAIN`].
pub fn chain_payload(cidr: (Ipv4Addr, u8)) -> String {
    let subnet = format!("{}/{}", cidr.0, cidr.1);
    format!(
        "*nat\n:{CHAIN} - [0:0]\n\
         -A {CHAIN} -d {subnet} -m comment --comment \"{COMMENT}\" -j ACCEPT\n\
         -A {CHAIN} ! -d 224.0.0.0/4 -m comment --comment \"{COMMENT}\" -j MASQUERADE\n\
         COMMIT\n"
    )
}

/// The POSTROUTING rule jumping to [`CHAIN`] (without `-A`/`-C`).
fn jump_rule(cidr: (Ipv4Addr, u8)) -> Vec<String> {
    let subnet = format!("{}/{}", cidr.0, cidr.1);
    ["POSTROUTING", "-s", &subnet, "-m", "comment", "--comment", COMMENT, "-j", CHAIN]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Installs (idempotently) the masquerade rules in the namespace at `netns`.
pub(crate) fn apply(netns: &Path, cidr: (Ipv4Addr, u8)) -> Result<(), Error> {
    restore(netns, &chain_payload(cidr))?;
    let rule = jump_rule(cidr);
    let mut check = vec!["-w".to_string(), "-t".to_string(), "nat".to_string(), "-C".to_string()];
    check.extend(rule.iter().cloned());
    if iptables(netns, &check).is_ok() {
        return Ok(());
    }
    let mut append = vec!["-w".to_string(), "-t".to_string(), "nat".to_string(), "-A".to_string()];
    append.extend(rule);
    iptables(netns, &append)
}

fn nsenter(netns: &Path) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net={}", netns.display()));
    cmd
}

fn iptables(netns: &Path, args: &[String]) -> Result<(), Error> {
    let out = nsenter(netns)
        .arg("iptables")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Iptables { what: format!("run iptables {}", args.join(" ")), detail: e.to_string() })?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Iptables {
        what: format!("iptables {}", args.join(" ")),
        detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

fn restore(netns: &Path, payload: &str) -> Result<(), Error> {
    let fail = |detail: String| Error::Iptables { what: format!("iptables-restore --noflush in {}", netns.display()), detail };
    let mut child = nsenter(netns)
        .args(["iptables-restore", "-w", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(payload.as_bytes()).map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_the_k3s_ip_masq_shape() {
        let p = chain_payload((Ipv4Addr::new(10, 42, 0, 0), 24));
        assert!(p.starts_with("*nat\n:CNI-POD-MASQ - [0:0]\n"), "{p}");
        assert!(p.contains("-A CNI-POD-MASQ -d 10.42.0.0/24 -m comment"), "{p}");
        assert!(p.contains("-A CNI-POD-MASQ ! -d 224.0.0.0/4 -m comment"), "{p}");
        assert!(p.contains("-j MASQUERADE\nCOMMIT\n"), "{p}");
        assert_eq!(jump_rule((Ipv4Addr::new(10, 42, 0, 0), 24))[2], "10.42.0.0/24");
    }
}
