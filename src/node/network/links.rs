//! Netlink operations on links, addresses and routes, each idempotent, run with a handle
//! whose socket lives in the namespace being changed.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;

use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute};
use rtnetlink::{Handle, LinkBridge, LinkBridgePort, LinkUnspec, LinkVeth, RouteMessageBuilder};

use super::Error;

/// The errno of a netlink error reply, if it is one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}

fn nl(what: String) -> impl FnOnce(rtnetlink::Error) -> Error {
    move |source| Error::Netlink { what, source }
}

/// Index of the link called `name`, if there is one.
pub(crate) async fn index(h: &Handle, name: &str) -> Result<Option<u32>, Error> {
    let mut links = h.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(Some(msg.header.index)),
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(nl(format!("look up link {name}"))(e)),
    }
}

/// Index of the link called `name`, which must exist.
pub(crate) async fn require(h: &Handle, name: &str, ns: &str) -> Result<u32, Error> {
    index(h, name).await?.ok_or_else(|| Error::Missing { what: format!("link {name} in {ns}") })
}

/// Every link: index -> name.
pub(crate) async fn names(h: &Handle) -> Result<HashMap<u32, String>, Error> {
    let mut out = HashMap::new();
    let mut links = h.link().get().execute();
    while let Some(msg) = links.try_next().await.map_err(nl("list links".to_string()))? {
        let name = msg.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        });
        out.insert(msg.header.index, name.unwrap_or_default());
    }
    Ok(out)
}

/// Every IPv4 address with the index of the link carrying it.
pub(crate) async fn ipv4_addresses(h: &Handle) -> Result<Vec<(u32, Ipv4Addr)>, Error> {
    let mut out = Vec::new();
    let mut addrs = h.address().get().execute();
    while let Some(msg) = addrs.try_next().await.map_err(nl("list addresses".to_string()))? {
        for attr in &msg.attributes {
            if let AddressAttribute::Address(IpAddr::V4(ip)) = attr {
                out.push((msg.header.index, *ip));
            }
        }
    }
    Ok(out)
}

/// Deletes the link called `name`; a missing link is fine.
pub(crate) async fn delete(h: &Handle, name: &str) -> Result<(), Error> {
    let Some(idx) = index(h, name).await? else { return Ok(()) };
    match h.link().del(idx).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
        Err(e) => Err(nl(format!("delete link {name}"))(e)),
    }
}

/// Creates a veth pair `name` <-> `peer`, the peer created directly in the namespace open at
/// `peer_ns` (so neither end ever shows up under a temporary name).
pub(crate) async fn create_veth(h: &Handle, name: &str, peer: &str, peer_ns: RawFd) -> Result<(), Error> {
    let peer_msg = LinkUnspec::new_with_name(peer).setns_by_fd(peer_ns).build();
    let msg = LinkVeth::new(name, peer).set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg))).build();
    h.link().add(msg).execute().await.map_err(nl(format!("create veth {name} <-> {peer}")))
}

/// Sets the link up.
pub(crate) async fn up(h: &Handle, idx: u32, name: &str) -> Result<(), Error> {
    let msg = LinkUnspec::new_with_index(idx).up().build();
    h.link().set(msg).execute().await.map_err(nl(format!("set {name} up")))
}

/// Puts `addr/prefix` on the link unless it is already there.
pub(crate) async fn ensure_address(h: &Handle, idx: u32, name: &str, addr: Ipv4Addr, prefix: u8) -> Result<(), Error> {
    match h.address().add(idx, IpAddr::V4(addr), prefix).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
        Err(e) => Err(nl(format!("add {addr}/{prefix} to {name}"))(e)),
    }
}

/// Sets (or replaces) the IPv4 default route via `gateway`.
pub(crate) async fn ensure_default_route(h: &Handle, gateway: Ipv4Addr) -> Result<(), Error> {
    let route = RouteMessageBuilder::<Ipv4Addr>::new().gateway(gateway).build();
    h.route().add(route).replace().execute().await.map_err(nl(format!("default route via {gateway}")))
}

/// Creates the bridge `name` if it is missing; returns its index.
pub(crate) async fn ensure_bridge(h: &Handle, name: &str) -> Result<u32, Error> {
    if let Some(idx) = index(h, name).await? {
        return Ok(idx);
    }
    match h.link().add(LinkBridge::new(name).build()).execute().await {
        Ok(()) => {}
        Err(e) if errno(&e) == Some(libc::EEXIST) => {}
        Err(e) => return Err(nl(format!("create bridge {name}"))(e)),
    }
    require(h, name, "the node namespace").await
}

/// Enslaves the port to the bridge, sets it up and turns hairpin mode on (a pod reaching a
/// Service that picks the same pod gets its own packets back through the bridge).
pub(crate) async fn attach_to_bridge(h: &Handle, port: u32, port_name: &str, bridge: u32) -> Result<(), Error> {
    let msg = LinkUnspec::new_with_index(port).controller(bridge).up().build();
    h.link().set(msg).execute().await.map_err(nl(format!("attach {port_name} to the bridge")))?;
    let msg = LinkBridgePort::new(port).hairpin(true).build();
    h.link().set_port(msg).execute().await.map_err(nl(format!("hairpin mode on {port_name}")))
}
