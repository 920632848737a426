//! Load generator behind bench/api.sh: starts minikube-rs servers to time their start, and
//! drives a running one over HTTPS with the kubeconfig's admin certificate (creates, GETs,
//! watch delivery, big lists, Deployment churn on simulated nodes, pod startup on the real node).
//! Prints one figure per line, with the aim beside it.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;

const USAGE: &str = "usage:
  loadgen startup  --bin PATH --dir DIR [--runs 5]
  loadgen wait     --kubeconfig PATH [--timeout-secs 60]
  loadgen creates  --kubeconfig PATH [--clients 32] [--seconds 5]
  loadgen gets     --kubeconfig PATH [--seconds 3]
  loadgen watch    --kubeconfig PATH [--watchers 100] [--events 200]
  loadgen list     --kubeconfig PATH [--objects 10000] [--runs 5]
  loadgen churn    --kubeconfig PATH --pid PID [--nodes 100] [--deployments 100] [--replicas 100] [--label TEXT]
  loadgen podstart --kubeconfig PATH --pid PID --data-dir DIR [--pods 50] [--image busybox] [--timeout-secs 120] [--results FILE]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first().cloned() else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let opts = Opts::parse(&args[1..]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let r = rt.block_on(async {
        match cmd.as_str() {
            "startup" => startup(&opts).await,
            "wait" => wait(&opts).await,
            "creates" => creates(&opts).await,
            "gets" => gets(&opts).await,
            "watch" => watch(&opts).await,
            "list" => list(&opts).await,
            "churn" => churn(&opts).await,
            "podstart" => podstart(&opts).await,
            _ => Err(format!("unknown command {cmd:?}\n{USAGE}").into()),
        }
    });
    if let Err(e) = r {
        eprintln!("loadgen {cmd}: {e}");
        std::process::exit(1);
    }
}

struct Opts(HashMap<String, String>);

impl Opts {
    fn parse(args: &[String]) -> Opts {
        let mut m = HashMap::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let key = a.trim_start_matches("--").to_string();
            let val = it.next().cloned().unwrap_or_default();
            m.insert(key, val);
        }
        Opts(m)
    }
    fn str(&self, k: &str) -> Result<&str> {
        self.0
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| format!("missing --{k}\n{USAGE}").into())
    }
    fn num(&self, k: &str, default: u64) -> Result<u64> {
        match self.0.get(k) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{k} {v:?} is not a number").into()),
        }
    }
}

/// One printed figure: label, value with its unit, and the aim.
fn figure(label: &str, value: String, aim: &str) {
    if aim.is_empty() {
        println!("{label:<52} {value:>14}");
    } else {
        println!("{label:<52} {value:>14}   (aim {aim})");
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The p-th percentile (0..=1) of sorted samples, nearest rank.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

// ---------------------------------------------------------------------------------------
// HTTPS connections

/// Where and how to reach a server.
#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    host: String,
    server_name: ServerName<'static>,
    tls: TlsConnector,
}

type Conn = SendRequest<Full<Bytes>>;

impl Target {
    /// From a kubeconfig written by minikube-rs: server URL, CA and admin client certificate.
    fn from_kubeconfig(path: &Path) -> Result<Target> {
        use base64::Engine;
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let field = |name: &str| -> Result<String> {
            text.lines()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix(&format!("{name}:"))
                        .map(|v| v.trim().to_string())
                })
                .ok_or_else(|| format!("{} has no {name}", path.display()).into())
        };
        let b64 = |name: &str| -> Result<Vec<u8>> {
            Ok(base64::engine::general_purpose::STANDARD.decode(field(name)?)?)
        };
        let server = field("server")?;
        let host = server
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_string();
        let addr: SocketAddr = host.parse().map_err(|e| format!("server {server}: {e}"))?;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(&b64("certificate-authority-data")?) {
            roots.add(c?)?;
        }
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(&b64("client-certificate-data")?)
                .collect::<std::result::Result<_, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(&b64("client-key-data")?)?;
        let cfg =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_client_auth_cert(certs, key)?;
        Ok(Target {
            addr,
            host,
            server_name: ServerName::IpAddress(addr.ip().into()),
            tls: TlsConnector::from(Arc::new(cfg)),
        })
    }

    /// Anonymous and unverified: only for polling /readyz while a server starts.
    fn anonymous(addr: SocketAddr) -> Target {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth();
        Target {
            addr,
            host: addr.to_string(),
            server_name: ServerName::IpAddress(addr.ip().into()),
            tls: TlsConnector::from(Arc::new(cfg)),
        }
    }

    /// A new HTTP/1.1 connection (one per simulated client, as each kubectl has its own).
    async fn connect(&self) -> Result<Conn> {
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        let tls = self.tls.connect(self.server_name.clone(), tcp).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Request<Full<Bytes>> {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("accept", "application/json")
            .header("user-agent", "minikube-rs-loadgen");
        let body = match body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(v).expect("json"))
            }
            None => Bytes::new(),
        };
        b.body(Full::new(body)).expect("request")
    }
}

/// Sends one request and reads the whole answer.
async fn call(
    t: &Target,
    conn: &mut Conn,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Bytes)> {
    conn.ready().await?;
    let resp = conn.send_request(t.request(method, path, body)).await?;
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((code, bytes))
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn configmap(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"key": "value", "name": name}})
}

/// Creates a namespace (an existing one is fine).
async fn namespace(t: &Target, name: &str) -> Result<()> {
    let mut c = t.connect().await?;
    let (code, body) = call(
        t,
        &mut c,
        "POST",
        "/api/v1/namespaces",
        Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})),
    )
    .await?;
    if code != 201 && code != 409 {
        return Err(format!(
            "creating namespace {name}: {code} {}",
            String::from_utf8_lossy(&body)
        )
        .into());
    }
    Ok(())
}

/// `clients` connections creating ConfigMaps named `<prefix>-<client>-<i>` in `ns` until
/// `count` are created in all or `until` passes. Returns each 201's latency and the errors.
async fn create_load(
    t: &Target,
    ns: &str,
    prefix: &str,
    clients: usize,
    count: Option<usize>,
    until: Option<Instant>,
) -> Result<(Vec<Duration>, usize)> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for client in 0..clients {
        let t = t.clone();
        let ns = ns.to_string();
        let prefix = prefix.to_string();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = t.connect().await?;
            let path = format!("/api/v1/namespaces/{ns}/configmaps");
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            loop {
                if until.is_some_and(|u| Instant::now() >= u) {
                    break;
                }
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if count.is_some_and(|c| i >= c) {
                    break;
                }
                let body = configmap(&format!("{prefix}-{client}-{i}"));
                let start = Instant::now();
                match call(&t, &mut conn, "POST", &path, Some(&body)).await {
                    Ok((201, _)) => lat.push(start.elapsed()),
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        conn = t.connect().await?;
                    }
                }
            }
            Ok::<_, Error>((lat, errors))
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (lat, e) = task.await??;
        all.extend(lat);
        errors += e;
    }
    all.sort();
    Ok((all, errors))
}

// ---------------------------------------------------------------------------------------
// Commands

/// Process start to the first `/readyz` 200, on a fresh and on an existing data dir, and the
/// idle RSS after start.
async fn startup(o: &Opts) -> Result<()> {
    let bin = PathBuf::from(o.str("bin")?);
    let dir = PathBuf::from(o.str("dir")?);
    let runs = o.num("runs", 5)? as usize;
    let (mut fresh, mut existing, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let data = dir.join(format!("start-{run}"));
        let (took, mut child) = start_server(&bin, &data).await?;
        fresh.push(took);
        tokio::time::sleep(Duration::from_secs(2)).await;
        rss.push(vm_rss_kib(child.id().unwrap_or(0))?);
        stop_server(&mut child).await;
        let (took, mut child) = start_server(&bin, &data).await?;
        existing.push(took);
        stop_server(&mut child).await;
    }
    rss.sort();
    figure(
        &format!("start to /readyz ok, fresh data dir (median of {runs})"),
        ms(median(fresh)),
        "< 300 ms",
    );
    figure(
        &format!("start to /readyz ok, existing data dir (median of {runs})"),
        ms(median(existing)),
        "< 300 ms",
    );
    figure(
        &format!("idle RSS 2 s after start (median of {runs})"),
        format!("{:.1} MiB", rss[rss.len() / 2] as f64 / 1024.0),
        "< 40 MiB",
    );
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn start_server(bin: &Path, data: &Path) -> Result<(Duration, tokio::process::Child)> {
    std::fs::create_dir_all(data)?;
    let port = free_port()?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.with_extension("log"))?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let target = Target::anonymous(addr);
    let started = Instant::now();
    let mut child = tokio::process::Command::new(bin)
        .args(["server", "--api-port", &port.to_string(), "--data-dir"])
        .arg(data)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    let deadline = started + Duration::from_secs(30);
    loop {
        if let Ok(mut c) = target.connect().await {
            if let Ok((200, _)) = call(&target, &mut c, "GET", "/readyz", None).await {
                return Ok((started.elapsed(), child));
            }
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!(
                "server exited with {status} before ready; see {}",
                data.with_extension("log").display()
            )
            .into());
        }
        if Instant::now() > deadline {
            return Err("server not ready in 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn stop_server(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
    }
    if tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

fn vm_rss_kib(pid: u32) -> Result<u64> {
    vm_status_kib(pid, "VmRSS:")
}

/// One `Vm*:` line of /proc/<pid>/status, in KiB.
fn vm_status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status"))?;
    Ok(line.split_whitespace().nth(1).ok_or("bad status line")?.parse()?)
}

/// Waits until the kubeconfig exists and `/readyz` answers 200 with it.
async fn wait(o: &Opts) -> Result<()> {
    let path = PathBuf::from(o.str("kubeconfig")?);
    let deadline = Instant::now() + Duration::from_secs(o.num("timeout-secs", 60)?);
    loop {
        if let Ok(t) = Target::from_kubeconfig(&path) {
            if let Ok(mut c) = t.connect().await {
                if let Ok((200, _)) = call(&t, &mut c, "GET", "/readyz", None).await {
                    return Ok(());
                }
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no ready server behind {} in time", path.display()).into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn creates(o: &Opts) -> Result<()> {
    let t = Target::from_kubeconfig(Path::new(o.str("kubeconfig")?))?;
    let clients = o.num("clients", 32)? as usize;
    let secs = o.num("seconds", 5)?;
    namespace(&t, "bench-create").await?;
    // Warm up: connections, allocator, store.
    create_load(
        &t,
        "bench-create",
        "warm",
        clients,
        Some(clients * 10),
        None,
    )
    .await?;
    let started = Instant::now();
    let (lat, errors) = create_load(
        &t,
        "bench-create",
        "cm",
        clients,
        None,
        Some(started + Duration::from_secs(secs)),
    )
    .await?;
    let elapsed = started.elapsed();
    figure(
        &format!(
            "ConfigMap creates, {clients} clients, {:.1} s",
            elapsed.as_secs_f64()
        ),
        format!("{:.0} /s", lat.len() as f64 / elapsed.as_secs_f64()),
        "> 3,000/s",
    );
    figure("  create latency p50", ms(pct(&lat, 0.50)), "");
    figure("  create latency p99", ms(pct(&lat, 0.99)), "");
    if errors > 0 {
        figure("  create errors (not 201)", errors.to_string(), "0");
    }
    Ok(())
}

async fn gets(o: &Opts) -> Result<()> {
    let t = Target::from_kubeconfig(Path::new(o.str("kubeconfig")?))?;
    let secs = o.num("seconds", 3)?;
    namespace(&t, "bench-get").await?;
    let mut c = t.connect().await?;
    let (code, _) = call(
        &t,
        &mut c,
        "POST",
        "/api/v1/namespaces/bench-get/configmaps",
        Some(&configmap("target")),
    )
    .await?;
    if code != 201 && code != 409 {
        return Err(format!("creating the GET target: {code}").into());
    }
    let path = "/api/v1/namespaces/bench-get/configmaps/target";
    for _ in 0..200 {
        call(&t, &mut c, "GET", path, None).await?;
    }
    let mut lat = Vec::new();
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        let start = Instant::now();
        let (code, _) = call(&t, &mut c, "GET", path, None).await?;
        if code != 200 {
            return Err(format!("GET {path}: {code}").into());
        }
        lat.push(start.elapsed());
    }
    lat.sort();
    figure(
        &format!("GET one ConfigMap, 1 client, {} requests", lat.len()),
        format!("p50 {}", ms(pct(&lat, 0.5))),
        "",
    );
    figure("  GET latency p99", ms(pct(&lat, 0.99)), "< 2 ms");
    Ok(())
}

/// Opens `watchers` watches, then creates `events` ConfigMaps one by one; each delivery's
/// latency is the time from the create's 201 to the watcher reading its ADDED event.
async fn watch(o: &Opts) -> Result<()> {
    let t = Target::from_kubeconfig(Path::new(o.str("kubeconfig")?))?;
    let watchers = o.num("watchers", 100)? as usize;
    let events = o.num("events", 200)? as usize;
    let ns = "bench-watch";
    namespace(&t, ns).await?;
    let mut c = t.connect().await?;
    let (_, body) = call(
        &t,
        &mut c,
        "GET",
        &format!("/api/v1/namespaces/{ns}/configmaps"),
        None,
    )
    .await?;
    let list: Value = serde_json::from_slice(&body)?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();

    let mut tasks = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(watchers);
    for _ in 0..watchers {
        let t = t.clone();
        let path = format!(
            "/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=120"
        );
        let ready_tx = ready_tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = t.connect().await?;
            conn.ready().await?;
            let resp = conn.send_request(t.request("GET", &path, None)).await?;
            if resp.status() != 200 {
                return Err::<Vec<(String, Instant)>, Error>(
                    format!("watch answered {}", resp.status()).into(),
                );
            }
            let _ = ready_tx.send(()).await;
            let mut body = resp.into_body();
            let mut buf: Vec<u8> = Vec::new();
            let mut seen = Vec::with_capacity(events);
            while seen.len() < events {
                let Some(frame) = body.frame().await else {
                    break;
                };
                let Ok(data) = frame?.into_data() else {
                    continue;
                };
                let now = Instant::now();
                buf.extend_from_slice(&data);
                while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=nl).collect();
                    let ev: Value = serde_json::from_slice(&line)?;
                    if ev["type"] == "ADDED" {
                        if let Some(name) = ev["object"]["metadata"]["name"].as_str() {
                            seen.push((name.to_string(), now));
                        }
                    }
                }
            }
            Ok(seen)
        }));
    }
    drop(ready_tx);
    for _ in 0..watchers {
        ready_rx.recv().await.ok_or("a watcher failed to start")?;
    }

    let path = format!("/api/v1/namespaces/{ns}/configmaps");
    // name -> (request sent, 201 read)
    let mut acked: HashMap<String, (Instant, Instant)> = HashMap::new();
    for i in 0..events {
        let name = format!("w-{i}");
        let sent = Instant::now();
        let (code, body) = call(&t, &mut c, "POST", &path, Some(&configmap(&name))).await?;
        let at = Instant::now();
        if code != 201 {
            return Err(format!("create {name}: {code} {}", String::from_utf8_lossy(&body)).into());
        }
        acked.insert(name, (sent, at));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let (mut lat, mut from_sent, mut early, mut missing) = (Vec::new(), Vec::new(), 0usize, 0usize);
    for task in tasks {
        let seen = tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .map_err(|_| "a watcher never saw all events")???;
        missing += events - seen.len();
        for (name, at) in seen {
            let Some((sent, ack)) = acked.get(&name) else {
                continue;
            };
            if at < *ack {
                early += 1;
            }
            lat.push(at.saturating_duration_since(*ack));
            from_sent.push(at.saturating_duration_since(*sent));
        }
    }
    lat.sort();
    from_sent.sort();
    let total = lat.len().max(1);
    figure(
        &format!("watch delivery, {watchers} watchers x {events} creates"),
        format!("p50 {}", ms(pct(&lat, 0.5))),
        "",
    );
    figure(
        "  watch delivery p99 (201 read to event read)",
        ms(pct(&lat, 0.99)),
        "< 5 ms",
    );
    figure(
        "  events read before the 201 (counted as 0 above)",
        format!("{:.0} %", 100.0 * early as f64 / total as f64),
        "",
    );
    figure(
        "  create sent to event read, p50",
        ms(pct(&from_sent, 0.5)),
        "",
    );
    figure(
        "  create sent to event read, p99",
        ms(pct(&from_sent, 0.99)),
        "",
    );
    if missing > 0 {
        figure("  events never delivered", missing.to_string(), "0");
    }
    Ok(())
}

async fn list(o: &Opts) -> Result<()> {
    let t = Target::from_kubeconfig(Path::new(o.str("kubeconfig")?))?;
    let objects = o.num("objects", 10_000)? as usize;
    let runs = o.num("runs", 5)? as usize;
    let ns = "bench-list";
    namespace(&t, ns).await?;
    let (made, errors) = create_load(&t, ns, "item", 32, Some(objects), None).await?;
    if made.len() != objects {
        return Err(format!(
            "created {} of {objects} objects ({errors} errors)",
            made.len()
        )
        .into());
    }
    let mut c = t.connect().await?;
    let path = format!("/api/v1/namespaces/{ns}/configmaps?limit=0");
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let (code, body) = call(&t, &mut c, "GET", &path, None).await?;
        times.push(start.elapsed());
        if code != 200 {
            return Err(format!("list: {code}").into());
        }
        let v: Value = serde_json::from_slice(&body)?;
        let n = v["items"].as_array().map(Vec::len).unwrap_or(0);
        if n != objects {
            return Err(format!("list returned {n} items, expected {objects}").into());
        }
        size = body.len();
    }
    figure(
        &format!(
            "list {objects} ConfigMaps, limit=0, {:.1} MiB (p50 of {runs})",
            size as f64 / (1024.0 * 1024.0)
        ),
        ms(median(times)),
        "< 300 ms",
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Control-plane churn: Deployments → ReplicaSets → pods → scheduled → Running on simulated nodes

fn deployment(name: &str, replicas: u64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}
            }
        }
    })
}

/// Reads a watch stream of pods; records when each pod was first seen and first seen Running.
async fn watch_pods(
    t: Target,
    rv: String,
    total: usize,
    created: Arc<std::sync::Mutex<HashMap<String, Instant>>>,
    running: Arc<std::sync::Mutex<HashMap<String, Instant>>>,
) -> Result<()> {
    let mut conn = t.connect().await?;
    conn.ready().await?;
    let path = format!("/api/v1/pods?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=1800");
    let resp = conn.send_request(t.request("GET", &path, None)).await?;
    if resp.status() != 200 {
        return Err(format!("pod watch answered {}", resp.status()).into());
    }
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        if running.lock().map(|r| r.len()).unwrap_or(0) >= total {
            return Ok(());
        }
        let Some(frame) = body.frame().await else {
            return Err("the pod watch ended early".into());
        };
        let Ok(data) = frame?.into_data() else { continue };
        let now = Instant::now();
        buf.extend_from_slice(&data);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let ev: Value = serde_json::from_slice(&line)?;
            let obj = &ev["object"];
            let Some(ns) = obj["metadata"]["namespace"].as_str() else { continue };
            let key = format!("{ns}/{}", obj["metadata"]["name"].as_str().unwrap_or(""));
            if ev["type"] == "ADDED" || ev["type"] == "MODIFIED" {
                created.lock().map_err(|_| "lock")?.entry(key.clone()).or_insert(now);
                if obj["status"]["phase"] == "Running" {
                    running.lock().map_err(|_| "lock")?.entry(key).or_insert(now);
                }
            }
        }
    }
}

/// Pods created per second, Running per second, time until all are Running, API latency
/// during the churn and the server's RSS at the end.
async fn churn(o: &Opts) -> Result<()> {
    let t = Target::from_kubeconfig(Path::new(o.str("kubeconfig")?))?;
    let pid: u32 = o.str("pid")?.parse().map_err(|_| "--pid is not a number")?;
    let nodes = o.num("nodes", 100)? as usize;
    let deployments = o.num("deployments", 100)? as usize;
    let replicas = o.num("replicas", 100)?;
    let label = o.0.get("label").cloned().unwrap_or_default();
    let total = deployments * replicas as usize;
    let ns = "bench-churn";

    // Wait for the simulated nodes.
    let mut c = t.connect().await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = call(&t, &mut c, "GET", "/api/v1/nodes", None).await?;
        let list: Value = serde_json::from_slice(&body)?;
        let ready = list["items"].as_array().map(|a| {
            a.iter().filter(|n| n["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True")
            })).count()
        }).unwrap_or(0);
        if ready >= nodes {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {ready} of {nodes} nodes Ready after 60 s").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    namespace(&t, ns).await?;
    let (_, body) = call(&t, &mut c, "GET", "/api/v1/pods?limit=1", None).await?;
    let rv = serde_json::from_slice::<Value>(&body)?["metadata"]["resourceVersion"].as_str().unwrap_or("0").to_string();

    let created = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let running = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let watcher = tokio::spawn(watch_pods(t.clone(), rv, total, created.clone(), running.clone()));

    // API latency probe: a GET and a small LIST every 20 ms while the churn runs.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probe = {
        let t = t.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut conn = t.connect().await?;
            let mut lat = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for path in ["/api/v1/namespaces/default/services/kubernetes", "/apis/apps/v1/namespaces/bench-churn/deployments?limit=10"] {
                    let start = Instant::now();
                    let (code, _) = call(&t, &mut conn, "GET", path, None).await?;
                    if code == 200 {
                        lat.push(start.elapsed());
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            lat.sort();
            Ok::<_, Error>(lat)
        })
    };

    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut creators = Vec::new();
    for _ in 0..8 {
        let t = t.clone();
        let next = next.clone();
        creators.push(tokio::spawn(async move {
            let mut conn = t.connect().await?;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= deployments {
                    return Ok::<_, Error>(());
                }
                let path = format!("/apis/apps/v1/namespaces/{ns}/deployments");
                let (code, body) = call(&t, &mut conn, "POST", &path, Some(&deployment(&format!("d{i:03}"), replicas))).await?;
                if code != 201 {
                    return Err(format!("creating deployment d{i:03}: {code} {}", String::from_utf8_lossy(&body)).into());
                }
            }
        }));
    }
    for c in creators {
        c.await??;
    }
    let timeout = Duration::from_secs(o.num("timeout-secs", 900)?);
    let mut last_print = Instant::now();
    loop {
        if watcher.is_finished() {
            break;
        }
        if started.elapsed() > timeout {
            break;
        }
        if last_print.elapsed() > Duration::from_secs(10) {
            let (cr, ru) = (created.lock().map(|m| m.len()).unwrap_or(0), running.lock().map(|m| m.len()).unwrap_or(0));
            eprintln!("  … {:.0} s: {cr} pods created, {ru} Running", started.elapsed().as_secs_f64());
            last_print = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let lat = probe.await??;
    if watcher.is_finished() {
        watcher.await??;
    } else {
        watcher.abort();
    }
    let created = created.lock().map_err(|_| "lock")?.clone();
    let running = running.lock().map_err(|_| "lock")?.clone();
    let last = |m: &HashMap<String, Instant>| m.values().max().map(|t| t.saturating_duration_since(started)).unwrap_or_default();
    let (all_created, all_running) = (last(&created), last(&running));
    let title = if label.is_empty() { String::new() } else { format!(" ({label})") };
    println!("{deployments} Deployments x {replicas} replicas on {nodes} simulated nodes{title}");
    figure("  pods created", format!("{} / {total}", created.len()), "");
    figure("  pods Running", format!("{} / {total}", running.len()), "");
    figure("  pods created per second", format!("{:.0} /s", created.len() as f64 / all_created.as_secs_f64().max(1e-3)), "");
    figure("  pods Running per second", format!("{:.0} /s", running.len() as f64 / all_running.as_secs_f64().max(1e-3)), "> 500/s");
    figure("  time until all pods Running", format!("{:.1} s", all_running.as_secs_f64()), "");
    figure("  API GET/LIST latency during churn, p50", ms(pct(&lat, 0.50)), "");
    figure("  API GET/LIST latency during churn, p99", ms(pct(&lat, 0.99)), "");
    figure("  server RSS when the last pod went Running", format!("{:.1} MiB", vm_rss_kib(pid)? as f64 / 1024.0), "< 500 MiB");
    tokio::time::sleep(Duration::from_secs(5)).await;
    figure("  server RSS 5 s later", format!("{:.1} MiB", vm_rss_kib(pid)? as f64 / 1024.0), "");
    figure("  server peak RSS (VmHWM)", format!("{:.1} MiB", vm_status_kib(pid, "VmHWM:")? as f64 / 1024.0), "");
    if running.len() < total {
        return Err(format!("only {} of {total} pods Running after {:.0} s", running.len(), timeout.as_secs_f64()).into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Pod startup on the real node: create → Running for busybox pods, one after another and all
// at once, and the agent's memory per running pod (server + per-container monitors).

/// What the pod watch reports about one pod.
#[derive(Debug)]
enum PodEvent {
    Running(String, Instant),
    Deleted(String, Instant),
    /// A state the pod will not leave by itself (ErrImagePull, StartError, Failed, ...).
    Stuck(String, String),
}

/// Waiting reasons that mean the pod is not on its way to Running.
const STUCK_REASONS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "StartError",
    "CrashLoopBackOff",
];

fn bench_pod(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "podstart-bench"}},
        "spec": {
            // busybox's sleep as PID 1 ignores SIGTERM: a short grace period keeps the
            // deletions between the phases short.
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "sleep", "image": image,
                "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"]}]
        }
    })
}

/// Why a pod is stuck, if it is: phase Failed or a container waiting for a reason in
/// `STUCK_REASONS`.
fn stuck_reason(pod: &Value) -> Option<String> {
    if pod["status"]["phase"] == "Failed" {
        return Some(format!(
            "phase Failed: {} {}",
            pod["status"]["reason"].as_str().unwrap_or(""),
            pod["status"]["message"].as_str().unwrap_or("")
        ));
    }
    let statuses = pod["status"]["containerStatuses"].as_array()?;
    statuses.iter().find_map(|s| {
        let waiting = &s["state"]["waiting"];
        let reason = waiting["reason"].as_str()?;
        STUCK_REASONS.contains(&reason).then(|| {
            format!("{reason}: {}", waiting["message"].as_str().unwrap_or(""))
        })
    })
}

/// Reads a pod watch of one namespace and reports each pod's first Running, its deletion and
/// states it will not leave by itself. Ends when the receiver is gone.
async fn pod_events(
    t: Target,
    ns: String,
    rv: String,
    ready: tokio::sync::oneshot::Sender<()>,
    tx: tokio::sync::mpsc::UnboundedSender<PodEvent>,
) -> Result<()> {
    let mut conn = t.connect().await?;
    conn.ready().await?;
    let path = format!(
        "/api/v1/namespaces/{ns}/pods?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=3600"
    );
    let resp = conn.send_request(t.request("GET", &path, None)).await?;
    if resp.status() != 200 {
        return Err(format!("pod watch answered {}", resp.status()).into());
    }
    let _ = ready.send(());
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut running: std::collections::HashSet<String> = Default::default();
    let mut stuck: std::collections::HashSet<String> = Default::default();
    loop {
        let Some(frame) = body.frame().await else {
            return Err("the pod watch ended early".into());
        };
        let Ok(data) = frame?.into_data() else { continue };
        let now = Instant::now();
        buf.extend_from_slice(&data);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let ev: Value = serde_json::from_slice(&line)?;
            let pod = &ev["object"];
            let name = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
            let sent = match ev["type"].as_str() {
                Some("DELETED") => {
                    running.remove(&name);
                    stuck.remove(&name);
                    tx.send(PodEvent::Deleted(name, now))
                }
                Some("ADDED") | Some("MODIFIED") => {
                    if pod["status"]["phase"] == "Running" && running.insert(name.clone()) {
                        tx.send(PodEvent::Running(name, now))
                    } else if let Some(why) = stuck_reason(pod).filter(|_| stuck.insert(name.clone())) {
                        tx.send(PodEvent::Stuck(name, why))
                    } else {
                        Ok(())
                    }
                }
                _ => Ok(()),
            };
            if sent.is_err() {
                return Ok(());
            }
        }
    }
}

/// The pod watch's receiving end, with what arrived for pods nobody waits for yet.
struct PodWatch {
    rx: tokio::sync::mpsc::UnboundedReceiver<PodEvent>,
    running: HashMap<String, Instant>,
    deleted: HashMap<String, Instant>,
    stuck: HashMap<String, String>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl PodWatch {
    async fn open(t: &Target, ns: &str) -> Result<PodWatch> {
        let mut c = t.connect().await?;
        let (code, body) = call(t, &mut c, "GET", &format!("/api/v1/namespaces/{ns}/pods"), None).await?;
        if code != 200 {
            return Err(format!("listing pods in {ns}: {code} {}", String::from_utf8_lossy(&body)).into());
        }
        let list: Value = serde_json::from_slice(&body)?;
        let rv = list["metadata"]["resourceVersion"].as_str().unwrap_or("0").to_string();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(pod_events(t.clone(), ns.to_string(), rv, ready_tx, tx));
        let mut w = PodWatch { rx, running: HashMap::new(), deleted: HashMap::new(), stuck: HashMap::new(), task };
        if ready_rx.await.is_err() {
            return Err(w.failure().await);
        }
        Ok(w)
    }

    /// The watch task's error once it has stopped.
    async fn failure(&mut self) -> Error {
        match (&mut self.task).await {
            Ok(Err(e)) => e,
            Ok(Ok(())) => "the pod watch stopped".into(),
            Err(e) => format!("the pod watch task: {e}").into(),
        }
    }

    /// Takes in one event, or fails when the deadline passes or the watch breaks.
    async fn next(&mut self, deadline: Instant, waiting_for: &str) -> Result<()> {
        let ev = tokio::time::timeout_at(deadline.into(), self.rx.recv())
            .await
            .map_err(|_| format!("timed out waiting for {waiting_for}"))?;
        match ev {
            Some(PodEvent::Running(n, at)) => {
                self.running.insert(n, at);
            }
            Some(PodEvent::Deleted(n, at)) => {
                self.deleted.insert(n, at);
            }
            Some(PodEvent::Stuck(n, why)) => {
                self.stuck.insert(n, why);
            }
            None => return Err(self.failure().await),
        }
        Ok(())
    }

    /// When `name` was first seen Running.
    async fn running(&mut self, name: &str, deadline: Instant) -> Result<Instant> {
        loop {
            if let Some(at) = self.running.get(name) {
                return Ok(*at);
            }
            if let Some(why) = self.stuck.get(name) {
                return Err(format!("pod {name} will not run: {why}").into());
            }
            self.next(deadline, &format!("pod {name} to be Running")).await?;
        }
    }

    /// When the last of `names` was seen Running.
    async fn all_running(&mut self, names: &[String], deadline: Instant) -> Result<Instant> {
        let mut last = Instant::now();
        for n in names {
            last = last.max(self.running(n, deadline).await?);
        }
        Ok(last)
    }

    /// When the last of `names` was deleted.
    async fn all_deleted(&mut self, names: &[String], deadline: Instant) -> Result<Instant> {
        let mut last = Instant::now();
        for n in names {
            loop {
                if let Some(at) = self.deleted.get(n) {
                    last = last.max(*at);
                    break;
                }
                self.next(deadline, &format!("pod {n} to be deleted")).await?;
            }
        }
        Ok(last)
    }

    /// Forgets what it knows of `names` (before their names are used again).
    fn forget(&mut self, names: &[String]) {
        for n in names {
            self.running.remove(n);
            self.deleted.remove(n);
            self.stuck.remove(n);
        }
    }
}

async fn create_pod(t: &Target, conn: &mut Conn, ns: &str, name: &str, image: &str) -> Result<()> {
    let path = format!("/api/v1/namespaces/{ns}/pods");
    let (code, body) = call(t, conn, "POST", &path, Some(&bench_pod(name, image))).await?;
    if code != 201 {
        return Err(format!("creating pod {name}: {code} {}", String::from_utf8_lossy(&body)).into());
    }
    Ok(())
}

/// Deletes `names` (one connection, requests back to back) and waits for their DELETED events.
async fn delete_pods(t: &Target, w: &mut PodWatch, ns: &str, names: &[String], timeout: Duration) -> Result<Duration> {
    let mut conn = t.connect().await?;
    let started = Instant::now();
    for n in names {
        let (code, body) = call(t, &mut conn, "DELETE", &format!("/api/v1/namespaces/{ns}/pods/{n}"), None).await?;
        if code != 200 && code != 202 && code != 404 {
            return Err(format!("deleting pod {n}: {code} {}", String::from_utf8_lossy(&body)).into());
        }
    }
    let last = w.all_deleted(names, started + timeout).await?;
    w.forget(names);
    Ok(last.saturating_duration_since(started))
}

/// Resident and proportional set size of one process, in KiB (smaps_rollup; PSS 0 if absent).
fn rss_pss_kib(pid: u32) -> Result<(u64, u64)> {
    let text = match std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
        Ok(t) => t,
        Err(_) => return Ok((vm_rss_kib(pid)?, 0)),
    };
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((field("Rss:"), field("Pss:")))
}

/// The `minikube-rs monitor` processes of the profile: `--bundle` under `<data-dir>/containers/`.
fn profile_monitors(data_dir: &Path) -> Vec<u32> {
    let prefix = data_dir.join("containers");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.get(1) != Some(&&b"monitor"[..]) {
            continue;
        }
        let bundle = args
            .iter()
            .position(|a| *a == b"--bundle")
            .and_then(|i| args.get(i + 1))
            .map(|b| PathBuf::from(String::from_utf8_lossy(b).into_owned()));
        if bundle.is_some_and(|b| b.starts_with(&prefix)) {
            pids.push(pid);
        }
    }
    pids
}

/// Memory of the agent's side of the node at one moment.
#[derive(Clone, Copy, Default)]
struct AgentMemory {
    server_rss: u64,
    server_pss: u64,
    monitors: usize,
    monitors_rss: u64,
    monitors_pss: u64,
}

impl AgentMemory {
    fn sample(server: u32, data_dir: &Path) -> Result<AgentMemory> {
        let (server_rss, server_pss) = rss_pss_kib(server)?;
        let mut m = AgentMemory { server_rss, server_pss, ..Default::default() };
        for pid in profile_monitors(data_dir) {
            // A monitor may exit between the scan and the read.
            if let Ok((rss, pss)) = rss_pss_kib(pid) {
                m.monitors += 1;
                m.monitors_rss += rss;
                m.monitors_pss += pss;
            }
        }
        Ok(m)
    }
    fn total_rss(&self) -> u64 {
        self.server_rss + self.monitors_rss
    }
    fn total_pss(&self) -> u64 {
        self.server_pss + self.monitors_pss
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Waits for a Ready node (the real node registers itself soon after the API is up).
async fn wait_node_ready(t: &Target, timeout: Duration) -> Result<String> {
    let mut c = t.connect().await?;
    let deadline = Instant::now() + timeout;
    loop {
        let (_, body) = call(t, &mut c, "GET", "/api/v1/nodes", None).await?;
        let list: Value = serde_json::from_slice(&body)?;
        let ready = list["items"].as_array().and_then(|a| {
            a.iter().find(|n| {
                n["status"]["conditions"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
            })
        });
        if let Some(node) = ready {
            return Ok(node["metadata"]["name"].as_str().unwrap_or("").to_string());
        }
        if Instant::now() > deadline {
            return Err(format!("no node Ready after {} s", timeout.as_secs()).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the profile has `want` monitors or fewer (after deletions); returns the count.
async fn settle_monitors(data_dir: &Path, want: usize, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let n = profile_monitors(data_dir).len();
        if n <= want || Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Appends `key value` lines for the script's summary table.
struct Results(Option<PathBuf>, Vec<String>);

impl Results {
    fn put(&mut self, key: &str, value: f64) {
        self.1.push(format!("{key} {value:.3}"));
    }
    fn save(&self) -> Result<()> {
        let Some(path) = &self.0 else { return Ok(()) };
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        for line in &self.1 {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

fn ms_f(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Pod startup latency on the real node, one after another and all at once, and the agent's
/// memory per running pod.
async fn podstart(o: &Opts) -> Result<()> {
    let t = Target::from_kubeconfig(Path::new(o.str("kubeconfig")?))?;
    let server: u32 = o.str("pid")?.parse().map_err(|_| "--pid is not a number")?;
    let data_dir = std::fs::canonicalize(o.str("data-dir")?)
        .map_err(|e| format!("--data-dir {}: {e}", o.0.get("data-dir").cloned().unwrap_or_default()))?;
    let pods = o.num("pods", 50)? as usize;
    let image = o.0.get("image").cloned().unwrap_or_else(|| "busybox".to_string());
    let timeout = Duration::from_secs(o.num("timeout-secs", 120)?);
    let mut results = Results(o.0.get("results").map(PathBuf::from), Vec::new());
    if pods == 0 {
        return Err("--pods must be at least 1".into());
    }
    let ns = "bench-pods";

    let node = wait_node_ready(&t, timeout).await?;
    namespace(&t, ns).await?;
    let mut w = PodWatch::open(&t, ns).await?;
    let mut conn = t.connect().await?;
    println!("{pods} busybox pods (sleep 3600, imagePullPolicy IfNotPresent) on node {node}");

    // The first pod pays for what happens once (image unpacking, pause image, cgroup parents):
    // timed on its own, then deleted.
    let warm = vec!["warmup".to_string()];
    let started = Instant::now();
    create_pod(&t, &mut conn, ns, &warm[0], &image).await?;
    let first = w.running(&warm[0], started + timeout).await?.saturating_duration_since(started);
    figure("  first pod, create to Running (not counted below)", ms(first), "");
    delete_pods(&t, &mut w, ns, &warm, timeout).await?;
    settle_monitors(&data_dir, 0, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = AgentMemory::sample(server, &data_dir)?;

    // One after another: each created once the previous one is Running.
    let names: Vec<String> = (0..pods).map(|i| format!("serial-{i:03}")).collect();
    let (mut lat, mut acks) = (Vec::new(), Vec::new());
    for n in &names {
        let sent = Instant::now();
        create_pod(&t, &mut conn, ns, n, &image).await?;
        acks.push(sent.elapsed());
        let at = w.running(n, sent + timeout).await?;
        lat.push(at.saturating_duration_since(sent));
    }
    lat.sort();
    acks.sort();
    println!("{pods} pods one after another (create sent → watch sees phase Running)");
    figure("  p50", ms(pct(&lat, 0.50)), "< 150 ms");
    figure("  p99", ms(pct(&lat, 0.99)), "< 400 ms");
    figure("  max", ms(lat[lat.len() - 1]), "");
    figure("  create request alone (201), p50", ms(pct(&acks, 0.50)), "");
    results.put("serial_p50_ms", ms_f(pct(&lat, 0.50)));
    results.put("serial_p99_ms", ms_f(pct(&lat, 0.99)));
    results.put("serial_max_ms", ms_f(lat[lat.len() - 1]));

    // Memory with the pods running, against the same with none.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let busy = AgentMemory::sample(server, &data_dir)?;
    let per_pod = |a: u64, b: u64| a.saturating_sub(b) as f64 / pods as f64;
    println!("agent memory (server + the profile's monitor processes; runc exits after start)");
    figure("  server RSS, 0 pods", mib(idle.server_rss), "");
    figure(&format!("  server RSS, {pods} pods"), mib(busy.server_rss), "");
    figure(&format!("  monitors: {} processes, RSS total", busy.monitors), mib(busy.monitors_rss), "");
    figure("  monitors, PSS total", mib(busy.monitors_pss), "");
    figure(
        "  monitors per pod (pause and sleep containers)",
        format!("{:.1}", busy.monitors as f64 / pods as f64),
        "",
    );
    let n_mon = busy.monitors.max(1) as u64;
    figure("  per monitor, RSS", format!("{:.2} MiB", busy.monitors_rss as f64 / n_mon as f64 / 1024.0), "");
    figure("  per monitor, PSS", format!("{:.2} MiB", busy.monitors_pss as f64 / n_mon as f64 / 1024.0), "");
    figure(
        "  agent memory per running pod, RSS",
        format!("{:.2} MiB", per_pod(busy.total_rss(), idle.total_rss()) / 1024.0),
        "",
    );
    figure(
        "  agent memory per running pod, PSS",
        format!("{:.2} MiB", per_pod(busy.total_pss(), idle.total_pss()) / 1024.0),
        "",
    );
    results.put("mem_per_pod_rss_kib", per_pod(busy.total_rss(), idle.total_rss()));
    results.put("mem_per_pod_pss_kib", per_pod(busy.total_pss(), idle.total_pss()));
    results.put("monitor_rss_kib", (busy.monitors_rss / n_mon) as f64);
    results.put("monitor_pss_kib", (busy.monitors_pss / n_mon) as f64);
    results.put("monitors", busy.monitors as f64);
    results.put("server_rss_idle_kib", idle.server_rss as f64);
    results.put("server_rss_busy_kib", busy.server_rss as f64);

    let took = delete_pods(&t, &mut w, ns, &names, timeout).await?;
    figure(&format!("  delete {pods} pods, until the watch saw all gone"), format!("{:.2} s", took.as_secs_f64()), "");
    results.put("serial_delete_s", took.as_secs_f64());
    let left = settle_monitors(&data_dir, 0, Duration::from_secs(30)).await;
    if left > 0 {
        figure("  monitors still running 30 s after the deletion", left.to_string(), "0");
    }

    // All at once: created over several connections, opened beforehand.
    let names: Vec<String> = (0..pods).map(|i| format!("burst-{i:03}")).collect();
    let clients = pods.min(16);
    let mut conns = Vec::new();
    for _ in 0..clients {
        conns.push(t.connect().await?);
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let names_arc = Arc::new(names.clone());
    let started = Instant::now();
    let mut creators = Vec::new();
    for mut c in conns {
        let (t, next, names, image) = (t.clone(), next.clone(), names_arc.clone(), image.clone());
        creators.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(n) = names.get(i) else { return Ok::<_, Error>(sent) };
                let at = Instant::now();
                create_pod(&t, &mut c, ns, n, &image).await?;
                sent.push((n.clone(), at));
            }
        }));
    }
    let mut sent_at = HashMap::new();
    for c in creators {
        sent_at.extend(c.await??);
    }
    let all_created = started.elapsed();
    let last = w.all_running(&names, started + timeout).await?;
    let all_running = last.saturating_duration_since(started);
    let mut each: Vec<Duration> = names
        .iter()
        .filter_map(|n| Some(w.running.get(n)?.saturating_duration_since(*sent_at.get(n)?)))
        .collect();
    each.sort();
    println!("{pods} pods at once ({clients} connections)");
    figure("  all created (201s)", ms(all_created), "");
    figure("  time until all Running", format!("{:.2} s", all_running.as_secs_f64()), "");
    figure("  pods Running per second", format!("{:.1} /s", pods as f64 / all_running.as_secs_f64().max(1e-3)), "");
    figure("  per pod create to Running, p50", ms(pct(&each, 0.50)), "");
    figure("  per pod create to Running, p99", ms(pct(&each, 0.99)), "");
    results.put("burst_all_running_s", all_running.as_secs_f64());
    results.put("burst_pods_per_s", pods as f64 / all_running.as_secs_f64().max(1e-3));

    let took = delete_pods(&t, &mut w, ns, &names, timeout).await?;
    figure(&format!("  delete {pods} pods, until the watch saw all gone"), format!("{:.2} s", took.as_secs_f64()), "");
    results.put("burst_delete_s", took.as_secs_f64());
    settle_monitors(&data_dir, 0, Duration::from_secs(30)).await;
    w.task.abort();
    results.save()
}
