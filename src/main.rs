//! The `minikube-rs` command line: `server`, the foreground process systemd runs, and the
//! minikube-style commands that start, inspect and tear down a profile (one data dir).

/// mimalloc instead of glibc malloc: the control plane allocates and frees many small JSON
/// nodes per write and watch event; under glibc, malloc and free took ~40% of the server's CPU
/// during the 10,000-pod benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use clap::{Parser, Subcommand};
use minikube_rs::api::KUBERNETES_VERSION;
use minikube_rs::config::{self, Config, ServerArgs};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// How long `stop` waits for the server to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// The systemd unit that runs the default profile.
const SYSTEMD_UNIT: &str = "minikube-rs.service";

#[derive(Debug, Parser)]
#[command(
    name = "minikube-rs",
    version,
    about = "A single-node Kubernetes in one binary and one process",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the server in the foreground (what the systemd unit runs)
    Server(ServerArgs),
    /// Start the profile's server in the background and wait until its API is ready
    Start {
        #[command(flatten)]
        args: ServerArgs,
        /// Seconds to wait for the API server to report ready
        #[arg(long, value_name = "SECONDS", default_value_t = 120)]
        wait_timeout: u64,
    },
    /// Stop the profile's server (SIGTERM, then wait up to 30 s)
    Stop(ServerArgs),
    /// Show whether the profile's server and API are running; exits nonzero when not
    Status(ServerArgs),
    /// Print the node's IP address (its end of the node veth)
    Ip(ServerArgs),
    /// Open a shell (or run a command) inside the node: its network namespace, where the
    /// node's interfaces, routes and iptables rules are: minikube-rs ssh -- iptables -t nat -S
    Ssh {
        #[command(flatten)]
        args: ServerArgs,
        /// The command to run (default: an interactive shell)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// Print the path of the profile's kubeconfig
    Kubeconfig {
        #[command(flatten)]
        args: ServerArgs,
        /// Print the kubeconfig's content instead of its path
        #[arg(long)]
        print: bool,
    },
    /// Run kubectl against the profile: minikube-rs kubectl -- get pods
    Kubectl {
        #[command(flatten)]
        args: ServerArgs,
        /// Arguments passed to kubectl
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        kubectl_args: Vec<OsString>,
    },
    /// Stop the profile's server and remove its data dir
    Delete(ServerArgs),
    /// Manage the profile's images: load, pull, ls, rm
    Image {
        #[command(subcommand)]
        command: ImageCmd,
    },
    /// Print the version of minikube-rs and of the Kubernetes API it serves
    Version,
    /// The per-container monitor the node agent starts (internal)
    #[command(hide = true)]
    Monitor(minikube_rs::node::runtime::monitor::MonitorArgs),
}

#[derive(Debug, Subcommand)]
enum ImageCmd {
    /// Import docker-archive (`docker save`) or OCI-archive tarballs, gzip or plain
    Load {
        #[command(flatten)]
        args: ServerArgs,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Pull an image from its registry (or a mirror) into the profile's store
    Pull {
        #[command(flatten)]
        args: ServerArgs,
        #[arg(value_name = "REF")]
        reference: String,
    },
    /// List the profile's images
    #[command(visible_alias = "list")]
    Ls(ServerArgs),
    /// Remove images by name, digest or id
    #[command(visible_alias = "remove")]
    Rm {
        #[command(flatten)]
        args: ServerArgs,
        #[arg(required = true, value_name = "REF")]
        references: Vec<String>,
    },
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Image(#[from] minikube_rs::node::images::Error),
    #[error(transparent)]
    Pull(#[from] minikube_rs::node::images::pull::Error),
    #[error(transparent)]
    Config(#[from] config::Error),
    #[error("log filter {filter:?}: {reason}")]
    LogFilter { filter: String, reason: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("a server is already running for {data_dir} (pid {pid})")]
    AlreadyRunning { data_dir: PathBuf, pid: String },
    #[error("starting the tokio runtime: {0}")]
    Runtime(#[source] io::Error),
    #[error(transparent)]
    Server(Box<minikube_rs::appliance::Error>),
    #[error("running {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("the server exited ({status}) before its API was ready; last lines of {log}:\n{tail}")]
    ServerExited {
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("the API server was not ready within {seconds} s ({last}); it keeps starting in the background, see {log}")]
    NotReady {
        seconds: u64,
        last: String,
        log: PathBuf,
    },
    #[error("the server (pid {pid}) did not exit within {seconds} s of SIGTERM")]
    StopTimeout { pid: i32, seconds: u64 },
    #[error("sending {signal} to pid {pid}: {source}")]
    Signal {
        signal: &'static str,
        pid: i32,
        #[source]
        source: io::Error,
    },
    #[error("`systemctl stop {unit}` failed: {status}")]
    Systemctl { unit: &'static str, status: String },
    #[error("no kubeconfig at {path}: start the cluster with `minikube-rs start`")]
    NoKubeconfig { path: PathBuf },
    #[error("kubeconfig {path}: {reason}")]
    BadKubeconfig { path: PathBuf, reason: String },
    #[error("refusing to delete {data_dir}: {mounts} mounted below it")]
    Mounted { data_dir: PathBuf, mounts: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("minikube-rs: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Cmd::Server(args) => server(&args).map(|()| ExitCode::SUCCESS),
        Cmd::Start { args, wait_timeout } => start(&args, Duration::from_secs(wait_timeout)),
        Cmd::Stop(args) => stop(&Config::resolve(&args)?).map(|()| ExitCode::SUCCESS),
        Cmd::Status(args) => Ok(status(&Config::resolve(&args)?)),
        Cmd::Ip(args) => {
            // The node's own address (the node network namespace's end of its veth), as
            // `minikube ip` prints the VM's; a simulated cluster has only the API address.
            let config = Config::resolve(&args)?;
            if config.simulated_nodes == 0 {
                println!("{}", config.node_profile().node_ip);
            } else {
                println!("{}", config.bind_address);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Ssh { args, command } => ssh(&Config::resolve(&args)?, command),
        Cmd::Kubeconfig { args, print } => {
            let config = Config::resolve(&args)?;
            if print {
                let text = read_kubeconfig(&config.kubeconfig)?;
                print!("{text}");
            } else {
                println!("{}", config.kubeconfig.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Kubectl { args, kubectl_args } => kubectl(&Config::resolve(&args)?, kubectl_args),
        Cmd::Delete(args) => delete(&Config::resolve(&args)?).map(|()| ExitCode::SUCCESS),
        Cmd::Monitor(args) => Ok(minikube_rs::node::runtime::monitor::run(args)),
        Cmd::Image { command } => image(command).map(|()| ExitCode::SUCCESS),
        Cmd::Version => {
            println!("minikube-rs version: v{}", env!("CARGO_PKG_VERSION"));
            println!("Kubernetes version: {KUBERNETES_VERSION}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

// ---------------------------------------------------------------------------------------
// image

fn image(command: ImageCmd) -> Result<(), Error> {
    use minikube_rs::node::images::{cli, ImageStore};
    let open = |args: &ServerArgs| -> Result<ImageStore, Error> {
        let config = Config::resolve(args)?;
        Ok(ImageStore::open(&config.node_profile().images_dir())?)
    };
    let lines = match command {
        ImageCmd::Load { args, files } => cli::load(&open(&args)?, &files)?,
        ImageCmd::Ls(args) => {
            print!("{}", cli::list(&open(&args)?)?);
            Vec::new()
        }
        ImageCmd::Rm { args, references } => cli::remove(&open(&args)?, &references)?,
        ImageCmd::Pull { args, reference } => {
            let config = Config::resolve(&args)?;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
            rt.block_on(minikube_rs::node::images::pull::pull_cli(&config, &reference))?;
            Vec::new()
        }
    };
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// server

fn server(args: &ServerArgs) -> Result<(), Error> {
    let config = Config::resolve(args)?;
    init_tracing(&config.log)?;
    create_dir(&config.data_dir)?;
    let _pid_lock = PidLock::acquire(&config)?;
    tracing::info!(
        data_dir = %config.data_dir.display(),
        config_file = ?config.config_file,
        "minikube-rs v{} serving Kubernetes {KUBERNETES_VERSION}",
        env!("CARGO_PKG_VERSION"),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime
        .block_on(minikube_rs::appliance::run(config))
        .map_err(|e| Error::Server(Box::new(e)))?;
    Ok(())
}

fn init_tracing(filter: &str) -> Result<(), Error> {
    use std::io::IsTerminal;
    let env_filter =
        tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| Error::LogFilter {
            filter: filter.to_string(),
            reason: e.to_string(),
        })?;
    tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .init();
    Ok(())
}

/// `<data-dir>/server.pid`, holding the server's pid under an open-file-description write
/// lock for as long as the server runs. Readers test the lock (F_OFD_GETLK) without taking
/// it, so a stale file never counts as a running server and a reused pid is never signalled.
struct PidLock {
    file: fs::File,
}

impl PidLock {
    fn acquire(config: &Config) -> Result<PidLock, Error> {
        let path = config.pid_file();
        let io_err = |source| Error::Io {
            action: "locking",
            path: path.clone(),
            source,
        };
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        let mut lock = ofd_lock(libc::F_WRLCK as libc::c_short);
        // SAFETY: F_OFD_SETLK with a valid descriptor and a valid flock struct.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut lock) } != 0 {
            let err = io::Error::last_os_error();
            if matches!(err.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(Error::AlreadyRunning {
                    data_dir: config.data_dir.clone(),
                    pid: pid.trim().to_string(),
                });
            }
            return Err(io_err(err));
        }
        file.set_len(0).map_err(io_err)?;
        writeln!(file, "{}", std::process::id()).map_err(io_err)?;
        Ok(PidLock { file })
    }
}

impl Drop for PidLock {
    fn drop(&mut self) {
        // Leave the file (unlinking it could race a starting server); empty it.
        let _ = self.file.set_len(0);
    }
}

fn ofd_lock(kind: libc::c_short) -> libc::flock {
    // SAFETY: flock is plain old data; all-zero is a valid value (whole file, l_pid 0).
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock
}

/// The pid of the profile's running server, if one holds the pid lock.
fn running_server(config: &Config) -> Result<Option<i32>, Error> {
    let path = config.pid_file();
    let file = match fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                action: "opening",
                path,
                source,
            })
        }
    };
    let mut lock = ofd_lock(libc::F_WRLCK as libc::c_short);
    // SAFETY: F_OFD_GETLK with a valid descriptor and a valid flock struct; it only reads.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut lock) } != 0 {
        let source = io::Error::last_os_error();
        return Err(Error::Io {
            action: "testing the lock of",
            path,
            source,
        });
    }
    if lock.l_type == libc::F_UNLCK as libc::c_short {
        return Ok(None);
    }
    // The lock is taken just before the pid is written: give the writer a moment.
    for _ in 0..50 {
        let text = fs::read_to_string(&path).unwrap_or_default();
        if let Ok(pid) = text.trim().parse::<i32>() {
            return Ok(Some(pid));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(Some(-1))
}

// ---------------------------------------------------------------------------------------
// start

fn start(args: &ServerArgs, wait: Duration) -> Result<ExitCode, Error> {
    let config = Config::resolve(args)?;
    let name = config.profile_name();
    if let Some(pid) = running_server(&config)? {
        println!("🏃  The \"{name}\" server is already running (pid {pid}).");
        println!("🏄  kubeconfig: {}", config.kubeconfig.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "😄  minikube-rs v{} (Kubernetes {KUBERNETES_VERSION}) on {}",
        env!("CARGO_PKG_VERSION"),
        os_name()
    );
    create_dir(&config.data_dir)?;
    let log_path = config.log_file();
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|source| Error::Io {
            action: "opening",
            path: log_path.clone(),
            source,
        })?;
    let log_err = log.try_clone().map_err(|source| Error::Io {
        action: "opening",
        path: log_path.clone(),
        source,
    })?;
    let exe = std::env::current_exe().map_err(|source| Error::Spawn {
        program: "minikube-rs server".into(),
        source,
    })?;

    let mut command = Command::new(&exe);
    command
        .arg("server")
        .args(server_flags(args, &config))
        .current_dir("/")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    // SAFETY: setsid is async-signal-safe; it detaches the server from our terminal and
    // session so that closing the shell does not stop it.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|source| Error::Spawn {
        program: format!("{} server", exe.display()),
        source,
    })?;
    println!(
        "🚀  Starting the \"{name}\" server in the background (pid {}, log {}) ...",
        child.id(),
        log_path.display()
    );

    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::ServerExited {
                status: status.to_string(),
                tail: tail(&log_path, 20),
                log: log_path,
            });
        }
        let last = match probe_readyz(&config.kubeconfig) {
            Ok(url) => {
                println!(
                    "🌟  The API server at {url} is ready ({} ms).",
                    started.elapsed().as_millis()
                );
                break;
            }
            Err(e) => e,
        };
        if started.elapsed() >= wait {
            return Err(Error::NotReady {
                seconds: wait.as_secs(),
                last,
                log: log_path,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let kubeconfig = config.kubeconfig.display();
    println!("🏄  Done! The \"{name}\" cluster is ready; its kubeconfig is {kubeconfig}");
    let profile_flag = if config.is_default_profile() {
        String::new()
    } else {
        format!(" --data-dir {}", config.data_dir.display())
    };
    println!("💡  kubectl --kubeconfig {kubeconfig} get ns");
    println!("💡  minikube-rs kubectl{profile_flag} -- get ns");
    Ok(ExitCode::SUCCESS)
}

/// The flags `start` gives the background server: those the user gave, with paths made
/// absolute (the server runs in /), plus the resolved data dir and config file.
fn server_flags(args: &ServerArgs, config: &Config) -> Vec<OsString> {
    let mut flags: Vec<OsString> = vec!["--data-dir".into(), config.data_dir.clone().into()];
    if let Some(file) = &config.config_file {
        flags.extend(["--config".into(), file.clone().into()]);
    }
    if let Some(port) = args.api_port {
        flags.extend(["--api-port".into(), port.to_string().into()]);
    }
    if let Some(ip) = args.bind_address {
        flags.extend(["--bind-address".into(), ip.to_string().into()]);
    }
    if args.kubeconfig.is_some() {
        flags.extend(["--kubeconfig".into(), config.kubeconfig.clone().into()]);
    }
    if let Some(log) = &args.log {
        flags.extend(["--log".into(), log.into()]);
    }
    if let Some(n) = args.simulated_nodes {
        flags.extend(["--simulated-nodes".into(), n.to_string().into()]);
    }
    flags
}

fn os_name() -> String {
    let release = fs::read_to_string("/etc/os-release").unwrap_or_default();
    release
        .lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|name| name.trim_matches('"').to_string())
        .unwrap_or_else(|| std::env::consts::OS.to_string())
}

/// The last `lines` lines of a file, for error messages.
fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------------------
// readiness probe: GET /readyz over TLS, trusting the kubeconfig's CA

/// Where and how to reach the API server, as the kubeconfig says.
struct Endpoint {
    url: String,
    host: String,
    port: u16,
    tls: Arc<rustls::ClientConfig>,
}

/// Answers the server URL when `GET /readyz` returns 200, else why not.
fn probe_readyz(kubeconfig: &Path) -> Result<String, String> {
    let endpoint = endpoint_from_kubeconfig(kubeconfig).map_err(|e| e.to_string())?;
    readyz(&endpoint, Duration::from_secs(2))?;
    Ok(endpoint.url)
}

fn read_kubeconfig(path: &Path) -> Result<String, Error> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NoKubeconfig {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(Error::Io {
            action: "reading",
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn endpoint_from_kubeconfig(path: &Path) -> Result<Endpoint, Error> {
    let bad = |reason: String| Error::BadKubeconfig {
        path: path.to_path_buf(),
        reason,
    };
    let text = read_kubeconfig(path)?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| bad(e.to_string()))?;

    // The current context's cluster and user, or the first of each.
    let named = |list: &str, name: Option<&str>| -> Option<serde_yaml::Value> {
        let items = doc.get(list)?.as_sequence()?;
        let found = match name {
            Some(name) => items
                .iter()
                .find(|i| i.get("name").and_then(|n| n.as_str()) == Some(name)),
            None => items.first(),
        };
        found.cloned()
    };
    let context = doc
        .get("current-context")
        .and_then(|c| c.as_str())
        .and_then(|name| named("contexts", Some(name)))
        .and_then(|c| c.get("context").cloned());
    let field = |key: &str| {
        context
            .as_ref()
            .and_then(|c| c.get(key))
            .and_then(|v| v.as_str())
    };
    let cluster = named("clusters", field("cluster"))
        .and_then(|c| c.get("cluster").cloned())
        .ok_or_else(|| bad("no cluster".into()))?;
    let user = named("users", field("user")).and_then(|u| u.get("user").cloned());

    let url = cluster
        .get("server")
        .and_then(|s| s.as_str())
        .ok_or_else(|| bad("the cluster has no server".into()))?
        .to_string();
    let (host, port) =
        split_https_url(&url).ok_or_else(|| bad(format!("unsupported server URL {url:?}")))?;

    let data = |value: Option<&serde_yaml::Value>,
                key: &str,
                file_key: &str|
     -> Result<Option<Vec<u8>>, Error> {
        let Some(value) = value else { return Ok(None) };
        if let Some(b64) = value.get(key).and_then(|v| v.as_str()) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| bad(format!("{key}: {e}")))?;
            return Ok(Some(bytes));
        }
        if let Some(file) = value.get(file_key).and_then(|v| v.as_str()) {
            let bytes = fs::read(file).map_err(|e| bad(format!("{file_key} {file}: {e}")))?;
            return Ok(Some(bytes));
        }
        Ok(None)
    };

    let ca = data(
        Some(&cluster),
        "certificate-authority-data",
        "certificate-authority",
    )?
    .ok_or_else(|| bad("the cluster has no certificate authority".into()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&ca) {
        let cert = cert.map_err(|e| bad(format!("certificate authority: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("certificate authority: {e}")))?;
    }
    let builder =
        rustls::ClientConfig::builder_with_provider(minikube_rs::api::tls::crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .with_root_certificates(roots);
    let cert = data(
        user.as_ref(),
        "client-certificate-data",
        "client-certificate",
    )?;
    let key = data(user.as_ref(), "client-key-data", "client-key")?;
    let mut tls = match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(&cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(format!("client certificate: {e}")))?;
            let key =
                PrivateKeyDer::from_pem_slice(&key).map_err(|e| bad(format!("client key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| bad(format!("client certificate: {e}")))?
        }
        _ => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Endpoint {
        url,
        host,
        port,
        tls: Arc::new(tls),
    })
}

/// Splits `https://host[:port][/...]` (host may be `[v6]`).
fn split_https_url(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("https://")?;
    let authority = rest.split('/').next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().ok()?,
            None if after.is_empty() => 443,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None => Some((authority.to_string(), 443)),
    }
}

/// One `GET /readyz` over HTTP/1.1 and TLS; Ok on status 200.
fn readyz(endpoint: &Endpoint, timeout: Duration) -> Result<(), String> {
    let addr = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {}: {e}", endpoint.host))?
        .next()
        .ok_or_else(|| format!("resolving {}: no address", endpoint.host))?;
    let tcp = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    tcp.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let name = match endpoint.host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(endpoint.host.clone()).map_err(|e| e.to_string())?,
    };
    let conn =
        rustls::ClientConnection::new(endpoint.tls.clone(), name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let host_header = match endpoint.host.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("[{ip}]:{}", endpoint.port),
        _ => format!("{}:{}", endpoint.host, endpoint.port),
    };
    let request = format!(
        "GET /readyz HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: minikube-rs/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    tls.write_all(request.as_bytes())
        .map_err(|e| format!("TLS with {addr}: {e}"))?;
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    while !response.windows(2).any(|w| w == b"\r\n") {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("reading from {addr}: {e}")),
        }
    }
    let status_line = String::from_utf8_lossy(&response);
    let status_line = status_line.lines().next().unwrap_or_default();
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        Some(code) => Err(format!("/readyz answered {code}")),
        None => Err(format!("/readyz: unexpected answer {status_line:?}")),
    }
}

// ---------------------------------------------------------------------------------------
// stop, status, kubectl, delete

fn stop(config: &Config) -> Result<(), Error> {
    let name = config.profile_name();
    let Some(pid) = running_server(config)? else {
        println!("🤷  The \"{name}\" server is not running.");
        return Ok(());
    };
    println!("✋  Stopping the \"{name}\" server (pid {pid}) ...");
    stop_pid(config, pid, false)?;
    println!("🛑  The \"{name}\" server stopped.");
    Ok(())
}

/// SIGTERM (or `systemctl stop` when systemd runs it) and wait for the pid lock to go.
/// With `force`, SIGKILL after the timeout instead of failing.
fn stop_pid(config: &Config, pid: i32, force: bool) -> Result<(), Error> {
    if pid > 0 && run_by_systemd(pid) {
        // Signalling it ourselves would only make systemd restart it.
        let status = Command::new("systemctl")
            .args(["stop", SYSTEMD_UNIT])
            .status()
            .map_err(|source| Error::Spawn {
                program: "systemctl".into(),
                source,
            })?;
        if !status.success() {
            return Err(Error::Systemctl {
                unit: SYSTEMD_UNIT,
                status: status.to_string(),
            });
        }
    } else if pid > 0 {
        signal(pid, libc::SIGTERM, "SIGTERM")?;
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while running_server(config)?.is_some() {
        if Instant::now() >= deadline {
            if force && pid > 0 {
                signal(pid, libc::SIGKILL, "SIGKILL")?;
                std::thread::sleep(Duration::from_millis(200));
                return Ok(());
            }
            return Err(Error::StopTimeout {
                pid,
                seconds: STOP_TIMEOUT.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn signal(pid: i32, sig: libc::c_int, signal: &'static str) -> Result<(), Error> {
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } != 0 {
        let source = io::Error::last_os_error();
        if source.raw_os_error() != Some(libc::ESRCH) {
            return Err(Error::Signal {
                signal,
                pid,
                source,
            });
        }
    }
    Ok(())
}

/// Whether `pid` runs in the cgroup of the minikube-rs systemd unit.
fn run_by_systemd(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|cgroups| {
        cgroups
            .lines()
            .any(|line| line.rsplit('/').next() == Some(SYSTEMD_UNIT))
    })
}

/// minikube's status lines; the exit code has bit 1 for the host and bit 4 for the API.
fn status(config: &Config) -> ExitCode {
    let host = matches!(running_server(config), Ok(Some(_)));
    let apiserver = host && probe_readyz(&config.kubeconfig).is_ok();
    let kubeconfig = match (host, apiserver, config.kubeconfig.exists()) {
        (false, _, _) => "Stopped",
        (true, true, _) => "Configured",
        (true, false, true) => "Configured",
        (true, false, false) => "Misconfigured",
    };
    let word = |running| if running { "Running" } else { "Stopped" };
    println!("{}", config.profile_name());
    println!("type: Control Plane");
    println!("host: {}", word(host));
    println!("apiserver: {}", word(apiserver));
    println!("kubeconfig: {kubeconfig}");
    let code = if host { 0 } else { 1 } | if apiserver { 0 } else { 4 };
    ExitCode::from(code)
}

fn kubectl(config: &Config, args: Vec<OsString>) -> Result<ExitCode, Error> {
    if !config.kubeconfig.exists() {
        return Err(Error::NoKubeconfig {
            path: config.kubeconfig.clone(),
        });
    }
    let err = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", &config.kubeconfig)
        .exec();
    let program = if err.kind() == io::ErrorKind::NotFound {
        "kubectl (not found in PATH)"
    } else {
        "kubectl"
    };
    Err(Error::Spawn {
        program: program.into(),
        source: err,
    })
}

fn delete(config: &Config) -> Result<(), Error> {
    let name = config.profile_name();
    println!(
        "🔥  Deleting \"{name}\" ({}) ...",
        config.data_dir.display()
    );
    if let Some(pid) = running_server(config)? {
        println!("✋  Stopping the server (pid {pid}) ...");
        stop_pid(config, pid, true)?;
    }
    // Containers, monitors, mounts, cgroups and the node network of the profile go first.
    let errors = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| rt.block_on(minikube_rs::node::teardown(config)))
        .unwrap_or_else(|e| vec![format!("starting a runtime: {e}")]);
    for e in &errors {
        eprintln!("⚠️  {e}");
    }
    let mounts = mounts_below(&config.data_dir);
    if !mounts.is_empty() {
        return Err(Error::Mounted {
            data_dir: config.data_dir.clone(),
            mounts: mounts.join(", "),
        });
    }
    remove_dir(&config.data_dir)?;
    if !config.kubeconfig.starts_with(&config.data_dir) {
        // A kubeconfig outside the data dir may be the user's own file: leave it.
        println!("💡  Left {} in place.", config.kubeconfig.display());
    }
    if let Some(system) = config.system_kubeconfig() {
        match fs::remove_file(&system) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    action: "removing",
                    path: system,
                    source,
                })
            }
        }
    }
    println!("💀  Removed all traces of the \"{name}\" cluster.");
    Ok(())
}

/// `minikube-rs ssh`: nsenter into the node network namespace and run a shell or a command.
fn ssh(config: &Config, command: Vec<OsString>) -> Result<ExitCode, Error> {
    let netns = config.node_profile().netns_path();
    if !netns.exists() {
        return Err(Error::Io {
            action: "entering the node namespace",
            path: netns,
            source: io::Error::new(io::ErrorKind::NotFound, "the node is not running (start it with `minikube-rs start`)"),
        });
    }
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net={}", netns.display())).arg("--");
    if command.is_empty() {
        cmd.arg(std::env::var_os("SHELL").unwrap_or_else(|| "/bin/sh".into()));
    } else {
        cmd.args(&command);
    }
    let status = cmd.status().map_err(|source| Error::Io { action: "running", path: PathBuf::from("nsenter"), source })?;
    Ok(ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8))
}

/// Mount points at or below `dir` (from /proc/self/mountinfo), which delete must not cross.
fn mounts_below(dir: &Path) -> Vec<String> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|mount| Path::new(mount).starts_with(dir))
        .collect()
}

fn unescape_mountinfo(field: &str) -> String {
    // Octal escapes (\040 for space, \011, \012, \134) as the kernel writes them.
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4].iter().all(u8::is_ascii_digit)
        {
            let code = u8::from_str_radix(&field[i + 1..i + 4], 8).unwrap_or(b'?');
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn create_dir(dir: &Path) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(|source| Error::Io {
        action: "creating",
        path: dir.to_path_buf(),
        source,
    })
}

fn remove_dir(dir: &Path) -> Result<(), Error> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io {
            action: "removing",
            path: dir.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_split_into_host_and_port() {
        assert_eq!(
            split_https_url("https://127.0.0.1:6443"),
            Some(("127.0.0.1".into(), 6443))
        );
        assert_eq!(
            split_https_url("https://[::1]:7443/"),
            Some(("::1".into(), 7443))
        );
        assert_eq!(
            split_https_url("https://example.org"),
            Some(("example.org".into(), 443))
        );
        assert_eq!(split_https_url("http://127.0.0.1:6443"), None);
        assert_eq!(split_https_url("https://h:port"), None);
    }

    #[test]
    fn kubectl_takes_everything_after_its_flags() {
        let cli = Cli::try_parse_from([
            "minikube-rs",
            "kubectl",
            "--data-dir",
            "/p",
            "--",
            "get",
            "ns",
            "-o",
            "wide",
        ])
        .unwrap();
        let Cmd::Kubectl { args, kubectl_args } = cli.command else {
            panic!()
        };
        assert_eq!(args.data_dir, Some(PathBuf::from("/p")));
        assert_eq!(kubectl_args, ["get", "ns", "-o", "wide"]);

        let cli =
            Cli::try_parse_from(["minikube-rs", "kubectl", "get", "pods", "-n", "kube-system"])
                .unwrap();
        let Cmd::Kubectl { kubectl_args, .. } = cli.command else {
            panic!()
        };
        assert_eq!(kubectl_args, ["get", "pods", "-n", "kube-system"]);
    }

    #[test]
    fn start_passes_absolute_paths_and_the_given_flags() {
        let args = ServerArgs {
            data_dir: Some("rel".into()),
            api_port: Some(0),
            kubeconfig: Some("kc.yaml".into()),
            ..Default::default()
        };
        let config = Config::resolve_with(&args, &|_| None, &|_| Ok(None)).unwrap();
        let flags: Vec<String> = server_flags(&args, &config)
            .iter()
            .map(|f| f.to_string_lossy().into_owned())
            .collect();
        assert_eq!(flags[0], "--data-dir");
        assert!(Path::new(&flags[1]).is_absolute());
        assert!(flags.windows(2).any(|w| w == ["--api-port", "0"]));
        let kc = flags.iter().position(|f| f == "--kubeconfig").unwrap();
        assert!(Path::new(&flags[kc + 1]).is_absolute());
        assert!(!flags.contains(&"--bind-address".to_string()));
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }

    #[test]
    fn the_pid_lock_is_seen_by_readers_and_excludes_a_second_server() {
        let dir = tempfile::tempdir().unwrap();
        let args = ServerArgs {
            data_dir: Some(dir.path().into()),
            ..Default::default()
        };
        let config = Config::resolve_with(&args, &|_| None, &|_| Ok(None)).unwrap();
        assert_eq!(running_server(&config).unwrap(), None);
        let lock = PidLock::acquire(&config).unwrap();
        assert_eq!(
            running_server(&config).unwrap(),
            Some(std::process::id() as i32)
        );
        let err = PidLock::acquire(&config).err().unwrap().to_string();
        assert!(err.contains("already running"), "{err}");
        drop(lock);
        assert_eq!(running_server(&config).unwrap(), None);
    }

    #[test]
    fn readyz_is_probed_over_tls_with_the_kubeconfig() {
        use std::net::TcpListener;
        let dir = tempfile::tempdir().unwrap();
        let pki = minikube_rs::api::tls::ensure(&dir.path().join("tls"), &[]).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let kubeconfig = dir.path().join("kubeconfig.yaml");
        minikube_rs::api::tls::write_kubeconfig(
            &kubeconfig,
            &format!("https://127.0.0.1:{port}"),
            &pki,
        )
        .unwrap();
        let server_config = pki.server_config.clone();
        let server = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let conn = rustls::ServerConnection::new(server_config).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut request = Vec::new();
            let mut buf = [0u8; 512];
            while !request.ends_with(b"\r\n\r\n") {
                let n = tls.read(&mut buf).unwrap();
                request.extend_from_slice(&buf[..n]);
            }
            let user = tls
                .conn
                .peer_certificates()
                .and_then(minikube_rs::api::tls::client_identity);
            tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
            tls.conn.send_close_notify();
            let _ = tls.flush();
            (String::from_utf8(request).unwrap(), user)
        });
        let url = probe_readyz(&kubeconfig).unwrap();
        assert_eq!(url, format!("https://127.0.0.1:{port}"));
        let (request, user) = server.join().unwrap();
        assert!(request.starts_with("GET /readyz HTTP/1.1\r\n"), "{request}");
        assert_eq!(user.map(|(u, _)| u).as_deref(), Some("system:admin"));

        // Nothing listening any more: a clear reason, not a hang.
        let err = probe_readyz(&kubeconfig).unwrap_err();
        assert!(err.contains("connecting"), "{err}");
    }
}
