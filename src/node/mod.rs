//! The node side: agents that register Nodes and run their pods. `simulated` runs pods
//! without containers (kwok-style), for control-plane work at scale; the real agent, which
//! alone touches the kernel, lives beside it.
//!
//! - `profile`: names and paths a profile owns on the host.
//! - `network`: the node network namespace, the `cni0` bridge, pod veths and IPAM.
//! - `images`: the content-addressed image store, archives, registry pulls, built-in images.
//! - `cgroups`: the kubelet's cgroup layout and QoS formulas (v1, v2, hybrid).
//! - `runtime`: OCI bundles, the OCI runtime binary and the per-container monitor.
//! - `agent`: the kubelet: Node and Lease, pod workers, status, probes, volumes.

pub mod agent;
pub mod cgroups;
pub mod images;
pub mod network;
pub mod profile;
pub mod registration;
pub mod runtime;
pub mod simulated;
