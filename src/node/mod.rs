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
pub mod localpath;

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the OCI runtime: {0}")]
    Runtime(#[from] runtime::Error),
    #[error("cgroups: {0}")]
    Cgroups(#[from] cgroups::Error),
    #[error("the node network: {0}")]
    Network(#[from] network::Error),
    #[error("the image store: {0}")]
    Images(#[from] images::Error),
}

/// Brings up what the node needs before the API server starts: the OCI runtime (its absence
/// is an error naming the package), the cgroup tree, the node network namespace (the API
/// server also listens on its host end) and the image store with the built-in images.
pub async fn setup(config: &Config) -> Result<agent::NodeParts, Error> {
    let profile = config.node_profile();
    let cgroups = cgroups::Cgroups::new(&profile.kubepods())?;
    let runtime = runtime::Runtime::new(&config.runtime, &profile, cgroups.clone())?;
    let network = network::NodeNetwork::setup(&profile).await?;
    let images = images::ImageStore::open(&profile.images_dir())?;
    let store = images.clone();
    match tokio::task::spawn_blocking(move || store.ensure_builtin()).await {
        Ok(result) => result?,
        Err(e) => tracing::error!(error = %e, "preparing the built-in images panicked"),
    }
    Ok(agent::NodeParts { profile, network, cgroups, runtime, images })
}

/// Removes everything a profile has on the host (containers and their monitors, mounts,
/// cgroups, the network namespace and veths), whether or not its server runs: the first half
/// of `minikube-rs delete`. Best effort: every step runs; the errors are returned together.
pub async fn teardown(config: &Config) -> Vec<String> {
    let profile = config.node_profile();
    let mut errors = Vec::new();
    if let Err(e) = runtime::Runtime::teardown(&profile, &config.runtime).await {
        errors.push(format!("containers: {e}"));
    }
    if let Ok(dir) = std::fs::read_dir(profile.pods_dir()) {
        for entry in dir.flatten() {
            if let Err(e) = agent::volumes::cleanup(&profile.pods_dir(), &entry.file_name().to_string_lossy()) {
                errors.push(format!("pod volumes: {e}"));
            }
        }
    }
    if let Err(e) = cgroups::Cgroups::teardown(&profile.kubepods()) {
        errors.push(format!("cgroups: {e}"));
    }
    if let Err(e) = network::NodeNetwork::teardown(&profile).await {
        errors.push(format!("network: {e}"));
    }
    let _ = std::fs::remove_dir_all(&profile.run_dir);
    errors
}
