//! Cluster IPs and node ports for Services. Every allocation is one store key created with
//! create-if-absent, so concurrent writers can never hand out the same value: cluster IPs are
//! `IPAddress` objects at /registry/ipaddresses/<ip> (kube-apiserver 1.33's layout), node ports
//! small owner records at /registry/servicenodeports/<port>. Only the `service` module calls it.

use std::net::Ipv4Addr;

use bytes::Bytes;
use rand::Rng;
use serde_json::{json, Value};

use crate::store::{self, Store};

/// The service CIDR (k3s's default) and its network address and prefix length.
pub const SERVICE_CIDR: &str = "10.43.0.0/16";
const SERVICE_NETWORK: Ipv4Addr = Ipv4Addr::new(10, 43, 0, 0);
const SERVICE_PREFIX_LEN: u32 = 16;
/// Kept for cluster DNS: never handed out dynamically, only when asked for by name.
pub const CLUSTER_DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 43, 0, 10);

pub const NODE_PORT_MIN: u16 = 30000;
pub const NODE_PORT_MAX: u16 = 32767;
pub const NODE_PORT_RANGE: &str = "30000-32767";

const IP_ADDRESS_PREFIX: &str = "/registry/ipaddresses/";
const NODE_PORT_PREFIX: &str = "/registry/servicenodeports/";
const SERVICE_CIDR_KEY: &str = "/registry/servicecidrs/kubernetes";

/// `ipaddress.kubernetes.io/managed-by` of the IPAddresses this allocator writes.
pub const MANAGED_BY: &str = "ipallocator.k8s.io";
pub const LABEL_MANAGED_BY: &str = "ipaddress.kubernetes.io/managed-by";
pub const LABEL_IP_FAMILY: &str = "ipaddress.kubernetes.io/ip-family";
/// The finalizer the service-CIDR controller puts on every ServiceCIDR.
pub const SERVICE_CIDR_FINALIZER: &str = "networking.k8s.io/service-cidr-finalizer";

/// The Service an allocation belongs to (an IPAddress's spec.parentRef).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub namespace: String,
    pub name: String,
}

impl Owner {
    fn parent_ref(&self) -> Value {
        // ParentReference.group is omitempty: the core group does not appear.
        json!({"resource": "services", "namespace": self.namespace, "name": self.name})
    }

    fn owns(&self, record: &Value) -> bool {
        let r = record.pointer("/spec/parentRef").unwrap_or(&Value::Null);
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
        s("group").is_empty()
            && s("resource") == "services"
            && s("namespace") == self.namespace
            && s("name") == self.name
    }
}

/// Why an allocation failed, worded as upstream's ipallocator and portallocator errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The IP is outside every service CIDR (MetaAllocator's ErrMismatchedNetwork).
    #[error("the provided network does not match the current range")]
    MismatchedNetwork,
    /// The IP is the CIDR's network or broadcast address.
    #[error("the provided IP ({ip}) is not in the valid range. The range of valid IPs is {SERVICE_CIDR}")]
    IpNotInRange { ip: Ipv4Addr },
    #[error("provided IP is already allocated")]
    IpAllocated,
    #[error("provided port is not in the valid range. The range of valid ports is {NODE_PORT_RANGE}")]
    PortNotInRange,
    #[error("provided port is already allocated")]
    PortAllocated,
    #[error("range is full")]
    Full,
    #[error("{0}")]
    Store(#[from] store::Error),
}

/// A contiguous band of values `[first, last]`, scanned from a random start as upstream does.
#[derive(Debug, Clone, Copy)]
struct Band {
    first: u32,
    last: u32,
}

impl Band {
    fn len(self) -> u32 {
        if self.last < self.first {
            0
        } else {
            self.last - self.first + 1
        }
    }

    /// Every value of the band once, starting at a random one and wrapping around.
    fn walk_from_random_start(self) -> impl Iterator<Item = u32> {
        let len = self.len();
        let start = if len == 0 { 0 } else { rand::rng().random_range(0..len) };
        (0..len).map(move |i| self.first + (start + i) % len)
    }
}

/// KEP-3070/3668: a small lower band is kept for static requests; dynamic allocation takes the
/// upper band first and the lower one only when the upper is full. `min(max(min, size/step), max)`.
fn range_offset(size: u32, min: u32, step: u32, max: u32) -> u32 {
    if size <= min {
        return 0;
    }
    (size / step).clamp(min, max)
}

/// Usable cluster IPs: the CIDR without its network and broadcast addresses, split in the
/// static (lower) and dynamic (upper) bands.
fn ip_bands() -> (Band, Band) {
    let network = u32::from(SERVICE_NETWORK);
    let size = 1u32 << (32 - SERVICE_PREFIX_LEN);
    let first = network + 1;
    let last = network + size - 2;
    let offset = range_offset(size, 16, 16, 256);
    (Band { first, last: first + offset - 1 }, Band { first: first + offset, last })
}

fn port_bands() -> (Band, Band) {
    let (first, last) = (u32::from(NODE_PORT_MIN), u32::from(NODE_PORT_MAX));
    let offset = range_offset(last - first + 1, 16, 32, 128);
    (Band { first, last: first + offset - 1 }, Band { first: first + offset, last })
}

fn in_cidr(ip: Ipv4Addr) -> bool {
    let mask = u32::MAX << (32 - SERVICE_PREFIX_LEN);
    u32::from(ip) & mask == u32::from(SERVICE_NETWORK)
}

fn ip_key(ip: Ipv4Addr) -> String {
    format!("{IP_ADDRESS_PREFIX}{ip}")
}

fn port_key(port: u16) -> String {
    format!("{NODE_PORT_PREFIX}{port}")
}

fn encode(v: &Value) -> Bytes {
    Bytes::from(v.to_string())
}

/// The IPAddress object kube-apiserver writes for a Service's cluster IP.
fn ip_address_object(ip: Ipv4Addr, owner: &Owner) -> Value {
    json!({
        "kind": "IPAddress",
        "apiVersion": "networking.k8s.io/v1",
        "metadata": {
            "name": ip.to_string(),
            "uid": uuid::Uuid::new_v4().to_string(),
            "creationTimestamp": super::generic::now_rfc3339(),
            "labels": {LABEL_IP_FAMILY: "IPv4", LABEL_MANAGED_BY: MANAGED_BY}
        },
        "spec": {"parentRef": owner.parent_ref()}
    })
}

fn node_port_record(port: u16, owner: &Owner) -> Value {
    json!({"port": port, "spec": {"parentRef": owner.parent_ref()}})
}

/// Creates `key` unless it exists. Ok(false) when it was already there.
async fn claim(store: &Store, key: &str, value: &Value) -> Result<bool, Error> {
    match store.create(key, encode(value)).await {
        Ok(_) => Ok(true),
        Err(store::Error::AlreadyExists(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Claims the first free value of the bands, trying the upper (dynamic) band first.
async fn claim_any<F>(
    store: &Store,
    bands: [Band; 2],
    skip: impl Fn(u32) -> bool,
    key: impl Fn(u32) -> String,
    record: F,
) -> Result<u32, Error>
where
    F: Fn(u32) -> Value,
{
    for band in bands {
        for v in band.walk_from_random_start() {
            if skip(v) {
                continue;
            }
            let key = key(v);
            // A cheap read skips what is taken; the create decides races.
            if store.get(&key)?.is_some() {
                continue;
            }
            if claim(store, &key, &record(v)).await? {
                return Ok(v);
            }
        }
    }
    Err(Error::Full)
}

/// Allocates `requested`, or a free cluster IP when None.
pub async fn allocate_ip(store: &Store, requested: Option<Ipv4Addr>, owner: &Owner) -> Result<Ipv4Addr, Error> {
    let (lower, upper) = ip_bands();
    if let Some(ip) = requested {
        if !in_cidr(ip) {
            return Err(Error::MismatchedNetwork);
        }
        let n = u32::from(ip);
        if n < lower.first || n > upper.last {
            return Err(Error::IpNotInRange { ip });
        }
        return if claim(store, &ip_key(ip), &ip_address_object(ip, owner)).await? {
            Ok(ip)
        } else {
            Err(Error::IpAllocated)
        };
    }
    let dns = u32::from(CLUSTER_DNS_IP);
    let n = claim_any(
        store,
        [upper, lower],
        |n| n == dns,
        |n| ip_key(Ipv4Addr::from(n)),
        |n| ip_address_object(Ipv4Addr::from(n), owner),
    )
    .await?;
    Ok(Ipv4Addr::from(n))
}

/// Allocates the node port `requested` (any integer a client sent), or a free one when None.
pub async fn allocate_node_port(store: &Store, requested: Option<i64>, owner: &Owner) -> Result<u16, Error> {
    let (lower, upper) = port_bands();
    if let Some(p) = requested {
        let port = match u16::try_from(p) {
            Ok(port) if (NODE_PORT_MIN..=NODE_PORT_MAX).contains(&port) => port,
            _ => return Err(Error::PortNotInRange),
        };
        return if claim(store, &port_key(port), &node_port_record(port, owner)).await? {
            Ok(port)
        } else {
            Err(Error::PortAllocated)
        };
    }
    let port =
        claim_any(store, [upper, lower], |_| false, |p| port_key(p as u16), |p| node_port_record(p as u16, owner))
            .await?;
    Ok(port as u16)
}

/// Deletes `key` if `owner` holds it; anything else (gone, someone else's, a race) is left.
async fn release(store: &Store, key: &str, owner: &Owner) {
    let kv = match store.get(key) {
        Ok(Some(kv)) => kv,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(%key, error = %e, "reading an allocation to release it");
            return;
        }
    };
    let record: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
    if !owner.owns(&record) {
        tracing::warn!(%key, namespace = %owner.namespace, name = %owner.name, "not releasing an allocation the service does not hold");
        return;
    }
    match store.delete(key, Some(kv.mod_revision)).await {
        Ok(_) | Err(store::Error::NotFound(_)) | Err(store::Error::Conflict { .. }) => {}
        Err(e) => tracing::warn!(%key, error = %e, "releasing an allocation"),
    }
}

pub async fn release_ip(store: &Store, ip: Ipv4Addr, owner: &Owner) {
    release(store, &ip_key(ip), owner).await
}

pub async fn release_node_port(store: &Store, port: u16, owner: &Owner) {
    release(store, &port_key(port), owner).await
}

/// The `kubernetes` ServiceCIDR every 1.33 cluster has, as the apiserver's default-service-CIDR
/// controller writes it (Ready) and the service-CIDR controller protects it (finalizer).
pub fn default_service_cidr() -> Value {
    let now = super::generic::now_rfc3339();
    json!({
        "kind": "ServiceCIDR",
        "apiVersion": "networking.k8s.io/v1",
        "metadata": {
            "name": "kubernetes",
            "uid": uuid::Uuid::new_v4().to_string(),
            "creationTimestamp": now,
            "finalizers": [SERVICE_CIDR_FINALIZER]
        },
        "spec": {"cidrs": [SERVICE_CIDR]},
        "status": {"conditions": [{
            "type": "Ready", "status": "True", "lastTransitionTime": now,
            "reason": "", "message": "Kubernetes default Service CIDR is ready"
        }]}
    })
}

/// Writes the `kubernetes` ServiceCIDR unless it exists.
pub async fn ensure_service_cidr(store: &Store) -> Result<(), Error> {
    if store.get(SERVICE_CIDR_KEY)?.is_none() {
        claim(store, SERVICE_CIDR_KEY, &default_service_cidr()).await?;
    }
    Ok(())
}

/// What one stored Service holds: its owner, cluster IP and node ports.
pub struct Holding {
    pub owner: Owner,
    pub ip: Option<Ipv4Addr>,
    pub node_ports: Vec<u16>,
}

/// Brings the records in line with what the stored Services hold, as upstream's repair loops
/// do: a held value without a record gets one, a record of this allocator that no Service
/// holds goes. Meant for startup, before the API serves: it does not guard against a create
/// that has allocated but not yet stored its Service.
pub async fn repair(store: &Store, holdings: &[Holding]) -> Result<(), Error> {
    let mut ips: std::collections::HashMap<Ipv4Addr, &Owner> = std::collections::HashMap::new();
    let mut ports: std::collections::HashMap<u16, &Owner> = std::collections::HashMap::new();
    for h in holdings {
        if let Some(ip) = h.ip {
            ips.insert(ip, &h.owner);
        }
        for p in &h.node_ports {
            ports.insert(*p, &h.owner);
        }
    }
    for (ip, owner) in &ips {
        if store.get(&ip_key(*ip))?.is_none() && claim(store, &ip_key(*ip), &ip_address_object(*ip, owner)).await? {
            tracing::info!(%ip, namespace = %owner.namespace, name = %owner.name, "repaired a missing IPAddress");
        }
    }
    for (port, owner) in &ports {
        if store.get(&port_key(*port))?.is_none()
            && claim(store, &port_key(*port), &node_port_record(*port, owner)).await?
        {
            tracing::info!(%port, namespace = %owner.namespace, name = %owner.name, "repaired a missing node port record");
        }
    }
    for kv in store.list(IP_ADDRESS_PREFIX, None, 0)?.items {
        let record: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
        if record.pointer(&format!("/metadata/labels/{}", LABEL_MANAGED_BY.replace('/', "~1"))).and_then(Value::as_str)
            != Some(MANAGED_BY)
        {
            continue;
        }
        let held = kv.key[IP_ADDRESS_PREFIX.len()..].parse::<Ipv4Addr>().ok().and_then(|ip| ips.get(&ip));
        if !held.is_some_and(|owner| owner.owns(&record)) {
            tracing::info!(key = %kv.key, "releasing an IPAddress no Service holds");
            let _ = store.delete(&kv.key, Some(kv.mod_revision)).await;
        }
    }
    for kv in store.list(NODE_PORT_PREFIX, None, 0)?.items {
        let record: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
        let held = kv.key[NODE_PORT_PREFIX.len()..].parse::<u16>().ok().and_then(|p| ports.get(&p));
        if !held.is_some_and(|owner| owner.owns(&record)) {
            tracing::info!(key = %kv.key, "releasing a node port no Service holds");
            let _ = store.delete(&kv.key, Some(kv.mod_revision)).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::recording::RecordingBackend;
    use crate::store::StoreOptions;
    use std::collections::HashSet;
    use std::sync::Arc;

    fn store() -> Store {
        let opts =
            StoreOptions { history_revisions: 1_000_000, compaction_interval: std::time::Duration::from_secs(3600) };
        Store::open_with_backend(Arc::new(RecordingBackend::default()), opts).unwrap()
    }

    fn owner(name: &str) -> Owner {
        Owner { namespace: "default".into(), name: name.into() }
    }

    #[test]
    fn bands_follow_upstream_offsets() {
        let (lower, upper) = ip_bands();
        assert_eq!(Ipv4Addr::from(lower.first), Ipv4Addr::new(10, 43, 0, 1));
        assert_eq!(Ipv4Addr::from(lower.last), Ipv4Addr::new(10, 43, 1, 0));
        assert_eq!(Ipv4Addr::from(upper.first), Ipv4Addr::new(10, 43, 1, 1));
        assert_eq!(Ipv4Addr::from(upper.last), Ipv4Addr::new(10, 43, 255, 254));
        let (lower, upper) = port_bands();
        assert_eq!((lower.first, lower.last, upper.first, upper.last), (30000, 30085, 30086, 32767));
        let all: HashSet<u32> = Band { first: 5, last: 9 }.walk_from_random_start().collect();
        assert_eq!(all, (5..=9).collect());
    }

    #[tokio::test]
    async fn requested_ips_are_checked_and_held_once() {
        let s = store();
        let ip = Ipv4Addr::new(10, 43, 0, 1);
        assert_eq!(allocate_ip(&s, Some(ip), &owner("kubernetes")).await.unwrap(), ip);
        let again = allocate_ip(&s, Some(ip), &owner("other")).await.unwrap_err();
        assert_eq!(again.to_string(), "provided IP is already allocated");
        let out = allocate_ip(&s, Some(Ipv4Addr::new(10, 99, 0, 1)), &owner("x")).await.unwrap_err();
        assert_eq!(out.to_string(), "the provided network does not match the current range");
        let net = allocate_ip(&s, Some(Ipv4Addr::new(10, 43, 0, 0)), &owner("x")).await.unwrap_err();
        assert_eq!(
            net.to_string(),
            "the provided IP (10.43.0.0) is not in the valid range. The range of valid IPs is 10.43.0.0/16"
        );
        let stored: Value =
            serde_json::from_slice(&s.get("/registry/ipaddresses/10.43.0.1").unwrap().unwrap().value).unwrap();
        assert_eq!(
            stored["spec"]["parentRef"],
            json!({"resource": "services", "namespace": "default", "name": "kubernetes"})
        );
        assert_eq!(stored["metadata"]["labels"][LABEL_MANAGED_BY], MANAGED_BY);
        // Only the holder releases.
        release_ip(&s, ip, &owner("other")).await;
        assert!(s.get("/registry/ipaddresses/10.43.0.1").unwrap().is_some());
        release_ip(&s, ip, &owner("kubernetes")).await;
        assert!(s.get("/registry/ipaddresses/10.43.0.1").unwrap().is_none());
    }

    #[tokio::test]
    async fn dynamic_ips_come_from_the_upper_band_and_never_collide() {
        let s = store();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move { allocate_ip(&s, None, &owner(&format!("svc{i}"))).await.unwrap() }));
        }
        let mut seen = HashSet::new();
        for t in tasks {
            let ip = t.await.unwrap();
            assert!(in_cidr(ip) && u32::from(ip) >= u32::from(Ipv4Addr::new(10, 43, 1, 1)), "{ip}");
            assert_ne!(ip, CLUSTER_DNS_IP);
            assert!(seen.insert(ip), "{ip} handed out twice");
        }
    }

    #[tokio::test]
    async fn node_ports_are_range_checked_and_unique() {
        let s = store();
        assert_eq!(allocate_node_port(&s, Some(31000), &owner("a")).await.unwrap(), 31000);
        assert_eq!(
            allocate_node_port(&s, Some(31000), &owner("b")).await.unwrap_err().to_string(),
            "provided port is already allocated"
        );
        assert_eq!(
            allocate_node_port(&s, Some(80), &owner("b")).await.unwrap_err().to_string(),
            "provided port is not in the valid range. The range of valid ports is 30000-32767"
        );
        assert!(matches!(allocate_node_port(&s, Some(70000), &owner("b")).await, Err(Error::PortNotInRange)));
        let mut seen = HashSet::from([31000]);
        for _ in 0..100 {
            let p = allocate_node_port(&s, None, &owner("c")).await.unwrap();
            assert!((30086..=32767).contains(&p));
            assert!(seen.insert(p));
        }
        release_node_port(&s, 31000, &owner("a")).await;
        assert_eq!(allocate_node_port(&s, Some(31000), &owner("b")).await.unwrap(), 31000);
    }

    #[tokio::test]
    async fn the_default_service_cidr_is_written_once() {
        let s = store();
        ensure_service_cidr(&s).await.unwrap();
        let first = s.get(SERVICE_CIDR_KEY).unwrap().unwrap();
        ensure_service_cidr(&s).await.unwrap();
        assert_eq!(s.get(SERVICE_CIDR_KEY).unwrap().unwrap().mod_revision, first.mod_revision);
        let cidr: Value = serde_json::from_slice(&first.value).unwrap();
        assert_eq!(cidr["spec"]["cidrs"], json!(["10.43.0.0/16"]));
        assert_eq!(cidr["status"]["conditions"][0]["status"], "True");
    }

    #[tokio::test]
    async fn repair_fills_missing_records_and_drops_leaked_ones() {
        let s = store();
        // Leaked by a crash between allocation and the Service's write.
        allocate_ip(&s, Some(Ipv4Addr::new(10, 43, 5, 5)), &owner("gone")).await.unwrap();
        allocate_node_port(&s, Some(30555), &owner("gone")).await.unwrap();
        // Created by someone else (not this allocator): left alone.
        s.create("/registry/ipaddresses/10.43.6.6", encode(&json!({"metadata": {"name": "10.43.6.6"}}))).await.unwrap();
        let holdings =
            [Holding { owner: owner("kept"), ip: Some(Ipv4Addr::new(10, 43, 0, 1)), node_ports: vec![31111] }];
        repair(&s, &holdings).await.unwrap();
        assert!(s.get("/registry/ipaddresses/10.43.0.1").unwrap().is_some());
        assert!(s.get("/registry/servicenodeports/31111").unwrap().is_some());
        assert!(s.get("/registry/ipaddresses/10.43.5.5").unwrap().is_none());
        assert!(s.get("/registry/servicenodeports/30555").unwrap().is_none());
        assert!(s.get("/registry/ipaddresses/10.43.6.6").unwrap().is_some());
        let again = allocate_ip(&s, Some(Ipv4Addr::new(10, 43, 0, 1)), &owner("x")).await.unwrap_err();
        assert!(matches!(again, Error::IpAllocated));
    }
}
