//! The Kubernetes API over HTTPS: TLS and client-certificate authentication, authorization,
//! routing, discovery, Tables, watch and patches. It translates HTTP to registry calls and
//! registry errors to `Status`; object semantics live in the registry.

pub mod discovery;
pub mod handlers;
pub mod metrics;
pub mod negotiate;
pub mod protobuf;
pub mod openapi;
pub mod request;
pub mod streams;
pub mod table;
pub mod tls;
pub mod watch;

use crate::registry::generic::Registry;
use crate::registry::status::StatusError;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use serde_json::Value;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub type Body = BoxBody<Bytes, Infallible>;

/// Request bodies above this are refused with 413, as the apiserver's 3 MiB limit.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

impl User {
    pub fn anonymous() -> User {
        User { name: "system:anonymous".into(), groups: vec!["system:unauthenticated".into()] }
    }
    pub fn is_anonymous(&self) -> bool {
        self.name == "system:anonymous"
    }
}

/// Everything a request handler needs; shared by all connections.
pub struct ApiState {
    pub registry: Registry,
    pub metrics: metrics::Metrics,
    pub ready: AtomicBool,
    /// host:port clients should use (for /api's serverAddressByClientCIDRs).
    pub server_address: String,
    pub shutdown: CancellationToken,
    /// The node that serves `pods/log` (registered by the appliance when a real node runs).
    pub pod_logs: std::sync::OnceLock<Arc<dyn streams::PodLogs>>,
}

impl ApiState {
    pub fn new(registry: Registry, server_address: String, shutdown: CancellationToken) -> Arc<ApiState> {
        Arc::new(ApiState {
            registry,
            metrics: metrics::Metrics::new(),
            ready: AtomicBool::new(false),
            server_address,
            shutdown,
            pod_logs: std::sync::OnceLock::new(),
        })
    }
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A JSON (or YAML) response.
pub fn respond(status: u16, v: &Value, format: negotiate::Format, pretty: bool) -> Response<Body> {
    let (bytes, ct) = negotiate::encode(v, format, pretty);
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", ct)
        .header("cache-control", "no-cache, private")
        .body(full(bytes))
        .unwrap_or_else(|_| Response::new(full(Bytes::new())))
}

pub fn error_response(e: &StatusError, pretty: bool) -> Response<Body> {
    respond(e.code, &e.to_status(), negotiate::Format::Json, pretty)
}

fn text(status: u16, body: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .header("x-content-type-options", "nosniff")
        .body(full(body.to_string()))
        .unwrap_or_else(|_| Response::new(full(Bytes::new())))
}

/// Accepts TLS connections until `shutdown` fires. Each connection speaks HTTP/1.1 or HTTP/2
/// (ALPN); the client certificate, if any, names the user.
pub async fn serve(listener: TcpListener, tls: Arc<rustls::ServerConfig>, state: Arc<ApiState>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = state.shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let user = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(tls::client_identity)
                .map(|(name, groups)| User { name, groups })
                .unwrap_or_else(User::anonymous);
            serve_connection(tls, peer, user, state).await;
        });
    }
}

async fn serve_connection<S>(io: S, peer: SocketAddr, user: User, state: Arc<ApiState>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let user = Arc::new(user);
    let shutdown = state.shutdown.clone();
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let state = state.clone();
        let user = user.clone();
        async move { Ok::<_, Infallible>(handle(state, user, req).await) }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), conn).await;
        }
    }
}

fn is_public_path(path: &str) -> bool {
    let p = path.trim_end_matches('/');
    ["/healthz", "/livez", "/readyz", "/version"].iter().any(|pre| p == *pre || p.starts_with(&format!("{pre}/")))
}

async fn handle(state: Arc<ApiState>, user: Arc<User>, req: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    state.metrics.inflight_inc();
    // Read the (bounded) body first: answering before it is consumed would reset an HTTP/2
    // stream under a client that is still sending.
    let (parts, body) = req.into_parts();
    let req = match read_body(body).await {
        Ok(bytes) => Request::from_parts(parts, bytes),
        Err(e) => {
            state.metrics.inflight_dec();
            return error_response(&e, false);
        }
    };
    let path = req.uri().path().to_string();
    let query = request::Query::parse(req.uri().query());
    let pretty = query.flag("pretty")
        || req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.starts_with("curl") || ua.starts_with("Wget"))
            .unwrap_or(false);
    let target = request::parse(req.method(), &path, &query);
    let (verb_label, resource_label) = match &target {
        request::Target::Resource(r) => (r.verb.to_uppercase(), r.resource.clone()),
        request::Target::NonResource => (req.method().as_str().to_string(), String::new()),
    };
    let resp = match authorize(&user, req.method(), &path, &target) {
        Err(e) => error_response(&e, pretty),
        Ok(()) => match &target {
            request::Target::NonResource => non_resource(&state, req, &path, &query, pretty).await,
            request::Target::Resource(r) => handlers::resource(&state, req, r.clone(), query, pretty).await,
        },
    };
    state.metrics.inflight_dec();
    state.metrics.observe(&verb_label, &resource_label, resp.status().as_u16(), started.elapsed());
    tracing::debug!(method = %verb_label, %path, code = resp.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request");
    resp
}

/// Authorization for now: authenticated users may do anything; anonymous users may read the
/// public health and version paths (system:public-info-viewer).
fn authorize(user: &User, method: &http::Method, path: &str, target: &request::Target) -> Result<(), StatusError> {
    if !user.is_anonymous() {
        return Ok(());
    }
    let verb_ok = matches!(*method, http::Method::GET | http::Method::HEAD);
    match target {
        request::Target::NonResource => {
            if verb_ok && is_public_path(path) {
                return Ok(());
            }
            let verb = method.as_str().to_ascii_lowercase();
            Err(StatusError::forbidden(format!("forbidden: User \"{}\" cannot {} path \"{}\"", user.name, verb, path))
                .with_details(serde_json::json!({})))
        }
        request::Target::Resource(r) => {
            let resource = match &r.subresource {
                Some(s) => format!("{}/{}", r.resource, s),
                None => r.resource.clone(),
            };
            let scope = match &r.namespace {
                Some(ns) => format!("in the namespace \"{ns}\""),
                None => "at the cluster scope".to_string(),
            };
            let qualified = if r.group.is_empty() { r.resource.clone() } else { format!("{}.{}", r.resource, r.group) };
            let subject = match &r.name {
                Some(n) => format!("{qualified} \"{n}\" is forbidden"),
                None => format!("{qualified} is forbidden"),
            };
            let mut details = serde_json::Map::new();
            if let Some(n) = &r.name {
                details.insert("name".into(), Value::String(n.clone()));
            }
            if !r.group.is_empty() {
                details.insert("group".into(), Value::String(r.group.clone()));
            }
            details.insert("kind".into(), Value::String(r.resource.clone()));
            Err(StatusError::forbidden(format!(
                "{subject}: User \"{}\" cannot {} resource \"{}\" in API group \"{}\" {}",
                user.name, r.verb, resource, r.group, scope
            ))
            .with_details(Value::Object(details)))
        }
    }
}

async fn non_resource(
    state: &ApiState,
    req: Request<Bytes>,
    path: &str,
    query: &request::Query,
    pretty: bool,
) -> Response<Body> {
    if !matches!(*req.method(), http::Method::GET | http::Method::HEAD) {
        return error_response(&StatusError::method_not_allowed(), pretty);
    }
    let accept = req.headers().get("accept").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let aggregated = discovery::wants_aggregated(&accept);
    let p = path.trim_end_matches('/');
    let json = |v: Value| respond(200, &v, negotiate::Format::Json, pretty);
    match p {
        "" => json(serde_json::json!({"paths": root_paths()})),
        "/version" => json(version_info()),
        "/healthz" | "/livez" | "/readyz" => health(state, p, query),
        "/metrics" => text(200, &state.metrics.render()),
        "/api" if aggregated => aggregated_response(discovery::aggregated_core(), pretty),
        "/apis" if aggregated => aggregated_response(discovery::aggregated_apis(), pretty),
        "/api" => json(discovery::api_versions(&state.server_address)),
        "/apis" => json(discovery::api_group_list()),
        "/openapi/v2" | "/openapi/v3" => openapi::serve(p, query, req.headers()),
        _ if p.starts_with("/openapi/v3/") => openapi::serve(p, query, req.headers()),
        _ => {
            if let Some(check) = ["/healthz/", "/livez/", "/readyz/"].iter().find(|pre| p.starts_with(*pre)) {
                let name = &p[check.len()..];
                return if health_checks(state).iter().any(|(n, ok)| *n == name && *ok) {
                    text(200, "ok")
                } else if health_checks(state).iter().any(|(n, _)| *n == name) {
                    text(500, &format!("[-]{name} failed: reason withheld\n"))
                } else {
                    error_response(&StatusError::not_found_path(), pretty)
                };
            }
            let parts: Vec<&str> = p.trim_start_matches('/').split('/').collect();
            let found = match parts.as_slice() {
                ["api", v] => discovery::api_resource_list("", v),
                ["apis", g] => discovery::api_group(g),
                ["apis", g, v] => discovery::api_resource_list(g, v),
                _ => None,
            };
            match found {
                Some(v) => json(v),
                None => error_response(&StatusError::not_found_path(), pretty),
            }
        }
    }
}

fn aggregated_response(v: Value, pretty: bool) -> Response<Body> {
    let (bytes, _) = negotiate::encode(&v, negotiate::Format::Json, pretty);
    Response::builder()
        .status(200)
        .header("content-type", discovery::AGGREGATED_CONTENT_TYPE)
        .header("vary", "Accept")
        .body(full(bytes))
        .unwrap_or_else(|_| Response::new(full(Bytes::new())))
}

/// The Kubernetes version this server speaks.
pub const KUBERNETES_VERSION: &str = "v1.33.5";

pub fn version_info() -> Value {
    serde_json::json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": format!("{KUBERNETES_VERSION}+minikube-rs-{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("linux/{}", go_arch()),
    })
}

pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn root_paths() -> Vec<String> {
    let mut paths = vec!["/api".to_string(), "/api/v1".to_string(), "/apis".to_string()];
    for (group, versions) in discovery::group_versions() {
        paths.push(format!("/apis/{group}"));
        for v in versions {
            paths.push(format!("/apis/{group}/{v}"));
        }
    }
    paths.extend(["/healthz", "/livez", "/metrics", "/readyz", "/version"].iter().map(|s| s.to_string()));
    paths
}

fn health_checks(state: &ApiState) -> Vec<(&'static str, bool)> {
    let ready = state.ready.load(Ordering::Acquire);
    vec![("ping", true), ("log", true), ("etcd", true), ("poststarthook/minikube-rs-bootstrap", ready)]
}

fn health(state: &ApiState, path: &str, query: &request::Query) -> Response<Body> {
    let mut checks = health_checks(state);
    if path == "/readyz" {
        checks.push(("shutdown", !state.shutdown.is_cancelled()));
    }
    let ok = checks.iter().all(|(_, ok)| *ok) || (path == "/livez" && !state.shutdown.is_cancelled());
    if query.has("verbose") {
        let mut out = String::new();
        for (n, c) in &checks {
            if *c {
                out.push_str(&format!("[+]{n} ok\n"));
            } else {
                out.push_str(&format!("[-]{n} failed: reason withheld\n"));
            }
        }
        let name = path.trim_start_matches('/');
        if ok {
            out.push_str(&format!("{name} check passed\n"));
        } else {
            out.push_str(&format!("{name} check failed\n"));
        }
        return text(if ok { 200 } else { 500 }, &out);
    }
    if ok {
        text(200, "ok")
    } else {
        let mut out = String::new();
        for (n, c) in &checks {
            if !*c {
                out.push_str(&format!("[-]{n} failed: reason withheld\n"));
            }
        }
        out.push_str(&format!("{} check failed\n", path.trim_start_matches('/')));
        text(500, &out)
    }
}

/// Reads a whole request body, refusing more than MAX_BODY bytes.
pub async fn read_body(body: Incoming) -> Result<Bytes, StatusError> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                Err(StatusError::too_large(MAX_BODY))
            } else {
                Err(StatusError::bad_request(format!("error reading the request body: {e}")))
            }
        }
    }
}
