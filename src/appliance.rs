//! The supervisor: starts the components in order (store → bootstrap → API server →
//! controllers, scheduler, nodes), marks the server ready, and stops them in reverse order on SIGTERM/SIGINT or the cancellation token.

use crate::api::{self, tls, ApiState};
use crate::config::Config;
use crate::registry::generic::{Registry, WriteOptions};
use crate::store::{Store, StoreOptions};
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("creating the data directory {path}: {source}")]
    DataDir { path: String, #[source] source: std::io::Error },
    #[error("opening the store in {path}: {source}")]
    Store { path: String, #[source] source: crate::store::Error },
    #[error("preparing TLS certificates: {0}")]
    Tls(#[from] tls::Error),
    #[error("binding the API server to {addr}: {source}")]
    Bind { addr: SocketAddr, #[source] source: std::io::Error },
    #[error("creating the built-in {what}: {source}")]
    Bootstrap { what: String, #[source] source: crate::registry::status::StatusError },
    #[error("installing signal handlers: {0}")]
    Signal(std::io::Error),
    #[error("setting up the node: {0}")]
    Node(#[from] crate::node::Error),
}

/// The cluster IP of the `kubernetes` service (first address of the service CIDR).
pub const KUBERNETES_SERVICE_IP: &str = "10.43.0.1";

/// A running server, as tests and `run` use it.
pub struct Running {
    pub registry: Registry,
    pub api_addr: SocketAddr,
    pub shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    store: Store,
}

impl Running {
    /// Stops the components in reverse order and waits for them.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        self.store.close().await;
    }
}

/// Starts every component and returns once the API server is ready.
pub async fn start(config: &Config, shutdown: CancellationToken) -> Result<Running, Error> {
    let t0 = std::time::Instant::now();
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| Error::DataDir { path: config.data_dir.display().to_string(), source })?;
    let db = config.data_dir.join("db");
    let store = Store::open(&db, StoreOptions::default())
        .map_err(|source| Error::Store { path: db.display().to_string(), source })?;
    let registry = Registry::new(store.clone());
    tracing::info!(elapsed_ms = t0.elapsed().as_millis() as u64, revision = store.current_revision(), "store open");

    // The node comes first: the API server also listens on the host end of the node veth,
    // the address pods reach it at. Simulated clusters have no real node.
    let node = if config.simulated_nodes == 0 {
        let t = std::time::Instant::now();
        let parts = crate::node::setup(config).await?;
        tracing::info!(elapsed_ms = t.elapsed().as_millis() as u64, netns = %parts.profile.netns, node_ip = %parts.profile.node_ip, "node network and runtime ready");
        Some(parts)
    } else {
        None
    };

    let addr = SocketAddr::new(config.bind_address, config.api_port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })?;
    let api_addr = listener.local_addr().map_err(|source| Error::Bind { addr, source })?;
    // Pods reach the API on the host end of the node veth (the `kubernetes` Endpoints).
    let node_listener = match &node {
        Some(parts) if !api_addr.ip().is_unspecified() => {
            let addr = SocketAddr::new(IpAddr::V4(parts.profile.host_ip), api_addr.port());
            Some(tokio::net::TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })?)
        }
        _ => None,
    };
    let endpoint_addr = match &node {
        Some(parts) => SocketAddr::new(IpAddr::V4(parts.profile.host_ip), api_addr.port()),
        None => api_addr,
    };

    let mut sans = vec![api_addr.ip().to_string()];
    if api_addr.ip().is_unspecified() {
        sans.push("127.0.0.1".into());
    }
    if let Some(parts) = &node {
        sans.push(parts.profile.host_ip.to_string());
        sans.push(parts.profile.node_ip.to_string());
    }
    sans.push(KUBERNETES_SERVICE_IP.to_string());
    let pki = tls::ensure(&config.tls_dir(), &sans)?;
    let client_host = if api_addr.ip().is_unspecified() { IpAddr::from([127, 0, 0, 1]) } else { api_addr.ip() };
    let url = format!("https://{}", SocketAddr::new(client_host, api_addr.port()));
    bootstrap(&registry, endpoint_addr).await?;
    if let Err(e) = crate::registry::service::repair_allocations(registry.store()).await {
        tracing::warn!(error = %e, "repairing service IP and node port allocations failed");
    }
    // The kubeconfig appears only once the cluster behind it is usable.
    tls::write_kubeconfig(&config.kubeconfig, &url, &pki)?;
    if let Some(system) = config.system_kubeconfig() {
        if let Err(e) = tls::write_kubeconfig(&system, &url, &pki) {
            tracing::warn!(path = %system.display(), error = %e, "could not write the system kubeconfig");
        }
    }

    let state = ApiState::new(registry.clone(), SocketAddr::new(client_host, api_addr.port()).to_string(), shutdown.clone());
    let server = tokio::spawn(api::serve(listener, pki.server_config.clone(), state.clone()));
    let node_server = node_listener.map(|l| tokio::spawn(api::serve(l, pki.server_config.clone(), state.clone())));
    let client = crate::client::Client::new(registry.clone(), "kube-controller-manager");
    let ctx = crate::controllers::runtime::Context::new(client, shutdown.clone());
    let mut tasks = vec![server];
    tasks.extend(node_server);
    tasks.extend(crate::controllers::start_all(&ctx));
    let scheduler_ctx = crate::controllers::runtime::Context {
        client: crate::client::Client::new(registry.clone(), "kube-scheduler"),
        ..ctx.clone()
    };
    tasks.push(tokio::spawn(crate::scheduler::run(scheduler_ctx)));
    if config.simulated_nodes > 0 {
        let node_ctx = crate::controllers::runtime::Context {
            client: crate::client::Client::new(registry.clone(), "kubelet"),
            ..ctx.clone()
        };
        tasks.push(tokio::spawn(crate::node::simulated::run(node_ctx, config.simulated_nodes)));
    }
    if let Some(parts) = node {
        let node_ctx = crate::controllers::runtime::Context {
            client: crate::client::Client::new(registry.clone(), "kubelet"),
            ..ctx.clone()
        };
        let storage = parts.profile.local_path_dir();
        tasks.push(tokio::spawn(crate::node::localpath::run(
            crate::controllers::runtime::Context { client: crate::client::Client::new(registry.clone(), "local-path-provisioner"), ..ctx.clone() },
            config.node_name.clone(),
            storage,
        )));
        let logs = crate::node::agent::logs::NodeLogs::new(&config.node_name, &parts.profile, parts.runtime.clone());
        api::streams::register_pod_logs(&state, std::sync::Arc::new(logs));
        let pull = crate::node::agent::PullConfig {
            offline: config.offline,
            registries: config.registries.clone(),
            disable_default_endpoint: config.disable_default_registry_endpoint,
        };
        tasks.push(tokio::spawn(crate::node::agent::run(node_ctx, config.node_name.clone(), parts, pull)));
    }
    state.ready.store(true, Ordering::Release);
    tracing::info!(address = %url, elapsed_ms = t0.elapsed().as_millis() as u64, "API server ready");
    Ok(Running { registry, api_addr, shutdown, tasks, store })
}

/// `minikube-rs server`: runs until SIGTERM or SIGINT.
pub async fn run(config: Config) -> Result<(), Error> {
    let shutdown = CancellationToken::new();
    let running = start(&config, shutdown.clone()).await?;
    let _ = crate::config::sd_notify_ready();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(Error::Signal)?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = shutdown.cancelled() => {},
    }
    let _ = crate::config::sd_notify("STOPPING=1");
    running.stop().await;
    tracing::info!("stopped");
    Ok(())
}

/// Creates what every cluster has from the first start: the system namespaces, the built-in
/// priority classes and the `kubernetes` service with its endpoints.
async fn bootstrap(registry: &Registry, api_addr: SocketAddr) -> Result<(), Error> {
    let mut objects = crate::registry::builtin_objects();
    let endpoint_ip = if api_addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { api_addr.ip().to_string() };
    let port = api_addr.port();
    let find = |g: &str, v: &str, r: &str| crate::registry::find(g, v, r);
    if let Some(svc) = find("", "v1", "services") {
        objects.push((svc, json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {
                "type": "ClusterIP", "clusterIP": KUBERNETES_SERVICE_IP, "clusterIPs": [KUBERNETES_SERVICE_IP],
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
                "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                "internalTrafficPolicy": "Cluster"
            },
            "status": {"loadBalancer": {}}
        })));
    }
    if let Some(ep) = find("", "v1", "endpoints") {
        objects.push((ep, json!({
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": endpoint_ip}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]
        })));
    }
    if let Some(es) = find("discovery.k8s.io", "v1", "endpointslices") {
        objects.push((es, json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [endpoint_ip], "conditions": {"ready": true}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}]
        })));
    }
    // Namespaces first: everything else lives in one.
    objects.sort_by_key(|(def, _)| if def.plural == "namespaces" { 0 } else { 1 });
    for (def, obj) in objects {
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string);
        match registry.get(def, ns.as_deref(), &name).await {
            Ok(existing) => {
                // Keep the apiserver endpoints current when the address or port changes.
                if name == "kubernetes" && (def.plural == "endpoints" || def.plural == "endpointslices" || def.plural == "services") {
                    let mut want = obj.clone();
                    want["metadata"] = existing["metadata"].clone();
                    if def.plural == "services" {
                        want["status"] = existing.get("status").cloned().unwrap_or(json!({}));
                    }
                    if want != existing {
                        let ns2 = ns.clone();
                        registry
                            .update(def, ns2.as_deref(), &name, want, None, &WriteOptions::default())
                            .await
                            .map_err(|source| Error::Bootstrap { what: format!("{} {name}", def.plural), source })?;
                    }
                }
            }
            Err(e) if e.code == 404 => {
                match registry.create(def, ns.as_deref(), obj, &WriteOptions::default()).await {
                    Ok(_) => {}
                    Err(e) if e.code == 409 => {}
                    Err(source) => return Err(Error::Bootstrap { what: format!("{} {name}", def.plural), source }),
                }
            }
            Err(source) => return Err(Error::Bootstrap { what: format!("{} {name}", def.plural), source }),
        }
    }
    Ok(())
}

/// Shared handle type for components started by the supervisor.
pub type Shared<T> = Arc<T>;
