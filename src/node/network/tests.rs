//! Root tests against the real kernel: a temp-dir profile's node namespace, two pods talking
//! to each other, to the node and to the host, idempotent setup, removal and teardown.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// Returns true (after saying why) when the test cannot run here; under CI it must run.
fn cannot_run() -> bool {
    let reason = if !nix::unistd::geteuid().is_root() {
        Some("needs root")
    } else if Command::new("iptables").arg("--version").output().is_err()
        || Command::new("nsenter").arg("--version").output().is_err()
    {
        Some("needs iptables and nsenter")
    } else {
        None
    };
    match reason {
        Some(why) if std::env::var_os("CI").is_some() => panic!("node network test under CI: {why}"),
        Some(why) => {
            eprintln!("skipping node network test: {why}");
            true
        }
        None => false,
    }
}

/// Tears the profile's network down even when the test panics.
struct Cleanup(NodeProfile);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let profile = self.0.clone();
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(NodeNetwork::teardown(&profile))
        })
        .join();
        if let Ok(Err(e)) = done {
            eprintln!("cleanup: {e}");
        }
        // The profile's run dir only held the pod namespaces here.
        let _ = std::fs::remove_dir(&self.0.run_dir);
    }
}

fn sh(args: &[&str]) -> (bool, String) {
    let out = Command::new(args[0]).args(&args[1..]).output().expect("run command");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Runs `f` on a thread inside the namespace at `ns` and returns its result.
fn in_ns<T: Send + 'static>(ns: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = ns.to_path_buf();
    std::thread::spawn(move || {
        netns::enter(&ns).expect("enter namespace");
        f()
    })
    .join()
    .expect("namespace thread")
}

/// A listener bound inside `ns` that answers one connection's "ping" with "pong", reporting
/// the peer address it saw.
fn serve_once(ns: Option<&Path>, ip: Ipv4Addr) -> (u16, std::thread::JoinHandle<SocketAddr>) {
    let bind = move || TcpListener::bind((ip, 0)).expect("bind listener");
    let listener = match ns {
        Some(ns) => in_ns(ns, bind),
        None => bind(),
    };
    let port = listener.local_addr().expect("local addr").port();
    let handle = std::thread::spawn(move || {
        let (mut conn, peer) = listener.accept().expect("accept");
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).expect("read ping");
        assert_eq!(&buf, b"ping");
        conn.write_all(b"pong").expect("write pong");
        peer
    });
    (port, handle)
}

/// From inside `ns`, connects to `addr`, says ping and expects pong.
fn ping_from(ns: &Path, addr: SocketAddr) {
    in_ns(ns, move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        s.write_all(b"ping").expect("write ping");
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).expect("read pong");
        assert_eq!(&buf, b"pong");
    });
}

/// A sysctl as `ip netns exec` (a whole process in the namespace) sees it; "" if absent.
fn read_sysctl_in(netns: &str, name: &str) -> String {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    let (ok, out) = sh(&["ip", "netns", "exec", netns, "cat", &path]);
    if ok { out.trim().to_string() } else { String::new() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_pod_networks_end_to_end() {
    if cannot_run() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let profile = NodeProfile::new(tmp.path(), false);
    let _cleanup = Cleanup(profile.clone());

    let net = NodeNetwork::setup(&profile).await.expect("setup");
    let ns = net.netns_path();
    assert!(sh(&["ip", "netns", "list"]).1.contains(&profile.netns));
    let (ok, host_link) = sh(&["ip", "-4", "addr", "show", "dev", &profile.host_veth]);
    assert!(ok && host_link.contains(&format!("{}/30", profile.host_ip)), "{host_link}");
    assert!(host_link.contains("state UP") || host_link.contains(",UP"), "{host_link}");
    let (_, node_addrs) = sh(&["ip", "-n", &profile.netns, "-4", "addr"]);
    assert!(node_addrs.contains(&format!("{}/30", profile.node_ip)), "{node_addrs}");
    assert!(node_addrs.contains("10.42.0.1/24") && node_addrs.contains("cni0"), "{node_addrs}");
    let (_, routes) = sh(&["ip", "-n", &profile.netns, "route"]);
    assert!(routes.contains(&format!("default via {}", profile.host_ip)), "{routes}");
    assert_eq!(read_sysctl_in(&profile.netns, "net.ipv4.ip_forward"), "1");
    assert_eq!(read_sysctl_in(&profile.netns, "net.ipv4.conf.all.route_localnet"), "1");
    let bnf = read_sysctl_in(&profile.netns, "net.bridge.bridge-nf-call-iptables");
    let br_netfilter = Path::new("/proc/sys/net/bridge").exists(); // module or built in
    assert!(if br_netfilter { bnf == "1" } else { bnf.is_empty() }, "bridge-nf-call-iptables={bnf:?}");

    // Two pods, names within 15 characters, distinct addresses in the range, idempotent.
    let a = net.add_pod("pod-a-uid").await.expect("add pod a");
    let b = net.add_pod("pod-b-uid").await.expect("add pod b");
    assert_ne!(a.ip, b.ip);
    for p in [&a, &b] {
        assert!(p.host_veth.len() <= 15, "{}", p.host_veth);
        let o = p.ip.octets();
        assert!(o[..3] == [10, 42, 0] && (2..=254).contains(&o[3]), "{}", p.ip);
    }
    assert_eq!(net.add_pod("pod-a-uid").await.expect("add pod a again"), a);
    assert_eq!(net.pod_ip("pod-a-uid"), Some(a.ip));
    let (_, a_addrs) = sh(&["nsenter", &format!("--net={}", a.netns_path.display()), "ip", "-4", "addr"]);
    assert!(a_addrs.contains(&format!("{}/24", a.ip)) && a_addrs.contains("eth0"), "{a_addrs}");
    let (_, port_info) = sh(&["ip", "-n", &profile.netns, "-d", "link", "show", &a.host_veth]);
    assert!(port_info.contains("master cni0") && port_info.contains("hairpin on"), "{port_info}");

    // Pod B reaches pod A.
    let (port, served) = serve_once(Some(&a.netns_path), a.ip);
    ping_from(&b.netns_path, SocketAddr::from((a.ip, port)));
    assert_eq!(served.join().expect("pod a listener").ip(), b.ip);

    // A pod reaches the node IP (listener in the node namespace) ...
    let (port, served) = serve_once(Some(&ns), profile.node_ip);
    ping_from(&b.netns_path, SocketAddr::from((profile.node_ip, port)));
    served.join().expect("node listener");

    // ... and the host end, masqueraded to the node IP.
    let (port, served) = serve_once(None, profile.host_ip);
    ping_from(&a.netns_path, SocketAddr::from((profile.host_ip, port)));
    assert_eq!(served.join().expect("host listener").ip(), profile.node_ip);

    // The agent reaches a pod through connect_tcp.
    let (port, served) = serve_once(Some(&a.netns_path), a.ip);
    let mut s = net.connect_tcp(SocketAddr::from((a.ip, port)), Duration::from_secs(5)).await.expect("connect_tcp");
    s.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await.expect("read");
    assert_eq!(&buf, b"pong");
    served.join().expect("pod listener");
    let unreachable = net.connect_tcp(SocketAddr::from((Ipv4Addr::new(10, 42, 0, 250), 9)), Duration::from_millis(300)).await;
    assert!(unreachable.is_err());
    assert_eq!(net.run_in_netns(|| 7).await.expect("run_in_netns"), 7);

    // Setup again keeps everything, including the pods, and adds no duplicate rules.
    let again = NodeNetwork::setup(&profile).await.expect("setup again");
    assert_eq!(again.pod_ip("pod-a-uid"), Some(a.ip));
    assert_eq!(again.allocations().len(), 2);
    let (_, rules) = sh(&["ip", "netns", "exec", &profile.netns, "iptables", "-t", "nat", "-S"]);
    assert_eq!(rules.matches(&format!("-j {}", masquerade::CHAIN)).count(), 1, "{rules}");
    assert!(rules.contains("! -d 224.0.0.0/4") && rules.contains("-j MASQUERADE"), "{rules}");
    let (port, served) = serve_once(Some(&a.netns_path), a.ip);
    ping_from(&b.netns_path, SocketAddr::from((a.ip, port)));
    served.join().expect("pod a listener after setup again");

    // A lost node link (host end deleted, which takes the node end with it) is rebuilt.
    let (ok, out) = sh(&["ip", "link", "del", &profile.host_veth]);
    assert!(ok, "{out}");
    let again = NodeNetwork::setup(&profile).await.expect("setup after losing the node link");
    let (port, served) = serve_once(None, profile.host_ip);
    ping_from(&b.netns_path, SocketAddr::from((profile.host_ip, port)));
    served.join().expect("host listener after rebuilding the link");

    // remove_pod frees the address and the veth; twice is fine.
    again.remove_pod("pod-b-uid").await.expect("remove pod b");
    again.remove_pod("pod-b-uid").await.expect("remove pod b again");
    assert_eq!(again.pod_ip("pod-b-uid"), None);
    assert!(!b.netns_path.exists());
    let (gone, _) = sh(&["ip", "-n", &profile.netns, "link", "show", &b.host_veth]);
    assert!(!gone, "pod b's veth is still there");

    // Teardown leaves nothing behind.
    NodeNetwork::teardown(&profile).await.expect("teardown");
    assert!(!sh(&["ip", "netns", "list"]).1.contains(&profile.netns));
    let (host_left, _) = sh(&["ip", "link", "show", &profile.host_veth]);
    assert!(!host_left, "host veth still there");
    assert!(!profile.pod_netns_dir().exists());
    assert!(!profile.ipam_dir().exists());
    NodeNetwork::teardown(&profile).await.expect("teardown twice");
}

#[tokio::test]
async fn setup_refuses_a_host_ip_already_in_use() {
    if cannot_run() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let profile = NodeProfile::new(tmp.path(), false);
    // Another host link of our own (a veth pair: no dummy module here) holds the address.
    let dummy = format!("mkrsd{}", &profile.id);
    let peer = format!("mkrse{}", &profile.id);
    let (ok, out) = sh(&["ip", "link", "add", &dummy, "type", "veth", "peer", "name", &peer]);
    assert!(ok, "{out}");
    let _ = sh(&["ip", "addr", "add", &format!("{}/32", profile.host_ip), "dev", &dummy]);
    let result = NodeNetwork::setup(&profile).await;
    let _ = sh(&["ip", "link", "del", &dummy]);
    let _cleanup = Cleanup(profile.clone());
    match result {
        Err(Error::AddressInUse { ip, interface }) => {
            assert_eq!(ip, profile.host_ip);
            assert_eq!(interface, dummy);
        }
        other => panic!("expected AddressInUse, got {:?}", other.map(|_| ())),
    }
}
