//! One `Config` for a profile, merged from flags, `MINIKUBE_RS_*` variables, the YAML file and
//! the defaults, in that order of precedence. Also the systemd readiness notification.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The default profile's data directory.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/minikube-rs";
/// The configuration file read when `--config` is not given and the file exists.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/minikube-rs/config.yaml";
/// Where the default profile's kubeconfig is copied for the host's users.
pub const SYSTEM_KUBECONFIG: &str = "/etc/minikube-rs/kubeconfig.yaml";
/// The API port when nothing else is configured.
pub const DEFAULT_API_PORT: u16 = 6443;
/// The tracing filter when nothing else is configured.
pub const DEFAULT_LOG: &str = "info";

/// The environment variables, by field.
pub const ENV_DATA_DIR: &str = "MINIKUBE_RS_DATA_DIR";
pub const ENV_API_PORT: &str = "MINIKUBE_RS_API_PORT";
pub const ENV_BIND_ADDRESS: &str = "MINIKUBE_RS_BIND_ADDRESS";
pub const ENV_KUBECONFIG: &str = "MINIKUBE_RS_KUBECONFIG";
pub const ENV_LOG: &str = "MINIKUBE_RS_LOG";
pub const ENV_CONFIG: &str = "MINIKUBE_RS_CONFIG";
pub const ENV_SIMULATED_NODES: &str = "MINIKUBE_RS_SIMULATED_NODES";
pub const ENV_NODE_NAME: &str = "MINIKUBE_RS_NODE_NAME";
pub const ENV_RUNTIME: &str = "MINIKUBE_RS_RUNTIME";
pub const ENV_OFFLINE: &str = "MINIKUBE_RS_OFFLINE";
pub const ENV_REGISTRIES: &str = "MINIKUBE_RS_REGISTRIES";
pub const ENV_DISABLE_DEFAULT_ENDPOINT: &str = "MINIKUBE_RS_DISABLE_DEFAULT_REGISTRY_ENDPOINT";
/// k3s's registries.yaml, at minikube-rs's place.
pub const DEFAULT_REGISTRIES_FILE: &str = "/etc/minikube-rs/registries.yaml";
/// The OCI runtime binary used when none is named.
pub const DEFAULT_RUNTIME: &str = "runc";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading the config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("parsing the config file {path}: {source}")]
    ParseFile {
        path: PathBuf,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("{var}={value:?}: {reason}")]
    Env {
        var: &'static str,
        value: String,
        reason: String,
    },
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("making {path} absolute: {source}")]
    Absolute {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The flags every cluster command shares: they pick the profile and override its settings.
/// Each is optional so that `Config::resolve` can tell "not given" from "given the default".
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerArgs {
    /// Data directory of the profile (default /var/lib/minikube-rs; env MINIKUBE_RS_DATA_DIR)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file (default /etc/minikube-rs/config.yaml if it exists; env MINIKUBE_RS_CONFIG)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// HTTPS port of the API server, 0 picks a free one (default 6443; env MINIKUBE_RS_API_PORT)
    #[arg(long, value_name = "PORT")]
    pub api_port: Option<u16>,
    /// Address the API server listens on (default 127.0.0.1; env MINIKUBE_RS_BIND_ADDRESS)
    #[arg(long, value_name = "IP")]
    pub bind_address: Option<IpAddr>,
    /// Where to write the kubeconfig (default <data-dir>/kubeconfig.yaml; env MINIKUBE_RS_KUBECONFIG)
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Log filter in tracing's syntax, e.g. "debug" or "info,minikube_rs::api=debug" (default info; env MINIKUBE_RS_LOG)
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
    /// Register N simulated nodes (kwok-style: pods run without containers), for control-plane
    /// work and measurement at scale (default 0; env MINIKUBE_RS_SIMULATED_NODES)
    #[arg(long, value_name = "N")]
    pub simulated_nodes: Option<u32>,
    /// Name of the node (default: the host name; env MINIKUBE_RS_NODE_NAME)
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// OCI runtime binary: runc or crun, or a path (default runc; env MINIKUBE_RS_RUNTIME)
    #[arg(long, value_name = "BINARY")]
    pub runtime: Option<String>,
    /// Never contact a registry: images come from the local store only (env MINIKUBE_RS_OFFLINE=true)
    #[arg(long)]
    pub offline: bool,
    /// Registry mirrors and credentials in k3s's registries.yaml format (default /etc/minikube-rs/registries.yaml; env MINIKUBE_RS_REGISTRIES)
    #[arg(long, value_name = "FILE")]
    pub registries: Option<PathBuf>,
    /// Pull images of mirrored registries from their mirrors only, never from the registry
    /// itself (k3s's flag; env MINIKUBE_RS_DISABLE_DEFAULT_REGISTRY_ENDPOINT=true)
    #[arg(long)]
    pub disable_default_registry_endpoint: bool,
}

/// The YAML configuration file: the same settings as the flags, by their flag names.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub api_port: Option<u16>,
    pub bind_address: Option<IpAddr>,
    pub kubeconfig: Option<PathBuf>,
    pub log: Option<String>,
    pub simulated_nodes: Option<u32>,
    pub node_name: Option<String>,
    pub runtime: Option<String>,
    pub offline: Option<bool>,
    pub registries: Option<PathBuf>,
    pub disable_default_registry_endpoint: Option<bool>,
}

impl FileConfig {
    /// Parses a config file's text. A file holding only comments is an empty config.
    pub fn parse(path: &Path, text: &str) -> Result<FileConfig, Error> {
        let parse_error = |source| Error::ParseFile {
            path: path.to_path_buf(),
            source,
        };
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(parse_error)?;
        if value.is_null() {
            return Ok(FileConfig::default());
        }
        // Parse the text again (not the value) so that errors carry line and column.
        serde_yaml::from_str(text).map_err(parse_error)
    }
}

/// Everything a profile's server and CLI need to know about where things are.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Root of the profile's state; absolute.
    pub data_dir: PathBuf,
    /// HTTPS port of the API; 0 means the server picks a free one.
    pub api_port: u16,
    pub bind_address: IpAddr,
    /// Where the server writes the admin kubeconfig; absolute.
    pub kubeconfig: PathBuf,
    /// The configuration file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Tracing filter.
    pub log: String,
    /// How many simulated nodes to register (0: none). With simulated nodes the real node
    /// agent does not run: the cluster is for control-plane work.
    pub simulated_nodes: u32,
    /// The real node's name.
    pub node_name: String,
    /// The OCI runtime binary (name looked up in PATH, or a path).
    pub runtime: String,
    /// No registry is ever contacted.
    pub offline: bool,
    /// The registries.yaml file (it need not exist).
    pub registries: PathBuf,
    /// Mirrored registries are pulled from their mirrors only.
    pub disable_default_registry_endpoint: bool,
}

impl Default for Config {
    fn default() -> Self {
        let data_dir = PathBuf::from(DEFAULT_DATA_DIR);
        Config {
            kubeconfig: data_dir.join("kubeconfig.yaml"),
            data_dir,
            api_port: DEFAULT_API_PORT,
            bind_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            config_file: None,
            log: DEFAULT_LOG.to_string(),
            simulated_nodes: 0,
            node_name: host_name(),
            runtime: DEFAULT_RUNTIME.to_string(),
            offline: false,
            registries: PathBuf::from(DEFAULT_REGISTRIES_FILE),
            disable_default_registry_endpoint: false,
        }
    }
}

impl Config {
    /// Merges flags, the process environment, the config file and the defaults.
    pub fn resolve(args: &ServerArgs) -> Result<Config, Error> {
        Self::resolve_with(args, &|name| std::env::var(name).ok(), &|path| {
            match std::fs::read_to_string(path) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// `resolve` with the environment and the file system passed in, for tests.
    /// `read` answers `Ok(None)` when the file does not exist.
    pub fn resolve_with(
        args: &ServerArgs,
        env: &dyn Fn(&str) -> Option<String>,
        read: &dyn Fn(&Path) -> io::Result<Option<String>>,
    ) -> Result<Config, Error> {
        // Empty variables count as unset, as systemd EnvironmentFile= users expect.
        let env = |name: &str| env(name).filter(|v| !v.is_empty());

        let explicit_file = args
            .config
            .clone()
            .or_else(|| env(ENV_CONFIG).map(PathBuf::from));
        let (config_file, file) = match explicit_file {
            Some(path) => {
                let path = absolute(&path)?;
                let text = read(&path)
                    .map_err(|source| Error::ReadFile {
                        path: path.clone(),
                        source,
                    })?
                    .ok_or_else(|| Error::ReadFile {
                        path: path.clone(),
                        source: io::Error::from(io::ErrorKind::NotFound),
                    })?;
                let file = FileConfig::parse(&path, &text)?;
                (Some(path), file)
            }
            None => {
                let path = PathBuf::from(DEFAULT_CONFIG_FILE);
                match read(&path).map_err(|source| Error::ReadFile {
                    path: path.clone(),
                    source,
                })? {
                    Some(text) => {
                        let file = FileConfig::parse(&path, &text)?;
                        (Some(path), file)
                    }
                    None => (None, FileConfig::default()),
                }
            }
        };

        let data_dir = match (&args.data_dir, env(ENV_DATA_DIR), &file.data_dir) {
            (Some(flag), _, _) => flag.clone(),
            (None, Some(var), _) => PathBuf::from(var),
            (None, None, Some(file)) => file.clone(),
            (None, None, None) => PathBuf::from(DEFAULT_DATA_DIR),
        };
        if data_dir.as_os_str().is_empty() {
            return Err(Error::Empty {
                what: "the data directory",
            });
        }
        let data_dir = absolute(&data_dir)?;

        let api_port = match (args.api_port, env(ENV_API_PORT)) {
            (Some(port), _) => port,
            (None, Some(var)) => var.trim().parse::<u16>().map_err(|e| Error::Env {
                var: ENV_API_PORT,
                value: var.clone(),
                reason: format!("not a port number: {e}"),
            })?,
            (None, None) => file.api_port.unwrap_or(DEFAULT_API_PORT),
        };

        let bind_address = match (args.bind_address, env(ENV_BIND_ADDRESS)) {
            (Some(ip), _) => ip,
            (None, Some(var)) => var.trim().parse::<IpAddr>().map_err(|e| Error::Env {
                var: ENV_BIND_ADDRESS,
                value: var.clone(),
                reason: format!("not an IP address: {e}"),
            })?,
            (None, None) => file.bind_address.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        };

        let kubeconfig = match (&args.kubeconfig, env(ENV_KUBECONFIG), &file.kubeconfig) {
            (Some(flag), _, _) => flag.clone(),
            (None, Some(var), _) => PathBuf::from(var),
            (None, None, Some(file)) => file.clone(),
            (None, None, None) => data_dir.join("kubeconfig.yaml"),
        };
        if kubeconfig.as_os_str().is_empty() {
            return Err(Error::Empty {
                what: "the kubeconfig path",
            });
        }
        let kubeconfig = absolute(&kubeconfig)?;

        let log = args
            .log
            .clone()
            .or_else(|| env(ENV_LOG))
            .or(file.log)
            .unwrap_or_else(|| DEFAULT_LOG.to_string());

        let simulated_nodes = match (args.simulated_nodes, env(ENV_SIMULATED_NODES)) {
            (Some(n), _) => n,
            (None, Some(var)) => var.trim().parse::<u32>().map_err(|e| Error::Env {
                var: ENV_SIMULATED_NODES,
                value: var.clone(),
                reason: format!("not a node count: {e}"),
            })?,
            (None, None) => file.simulated_nodes.unwrap_or(0),
        };

        let node_name = args
            .node_name
            .clone()
            .or_else(|| env(ENV_NODE_NAME))
            .or(file.node_name)
            .unwrap_or_else(host_name)
            .to_lowercase();
        let runtime = args
            .runtime
            .clone()
            .or_else(|| env(ENV_RUNTIME))
            .or(file.runtime)
            .unwrap_or_else(|| DEFAULT_RUNTIME.to_string());
        let switch = |flag: bool, var: &'static str, file: Option<bool>| -> Result<bool, Error> {
            if flag {
                return Ok(true);
            }
            match env(var) {
                Some(v) => match v.trim() {
                    "1" | "true" | "yes" => Ok(true),
                    "0" | "false" | "no" => Ok(false),
                    _ => Err(Error::Env { var, value: v.clone(), reason: "expected true or false".into() }),
                },
                None => Ok(file.unwrap_or(false)),
            }
        };
        let offline = switch(args.offline, ENV_OFFLINE, file.offline)?;
        let disable_default_registry_endpoint =
            switch(args.disable_default_registry_endpoint, ENV_DISABLE_DEFAULT_ENDPOINT, file.disable_default_registry_endpoint)?;
        let registries = args
            .registries
            .clone()
            .or_else(|| env(ENV_REGISTRIES).map(PathBuf::from))
            .or(file.registries)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_REGISTRIES_FILE));
        let registries = absolute(&registries)?;

        Ok(Config {
            data_dir,
            api_port,
            bind_address,
            kubeconfig,
            config_file,
            log,
            simulated_nodes,
            node_name,
            runtime,
            offline,
            registries,
            disable_default_registry_endpoint,
        })
    }

    /// Whether this is the default profile, whose host resources use the canonical names.
    pub fn is_default_profile(&self) -> bool {
        self.data_dir == Path::new(DEFAULT_DATA_DIR)
    }

    /// A short name for messages: "minikube-rs" for the default profile, else the data dir.
    pub fn profile_name(&self) -> String {
        if self.is_default_profile() {
            "minikube-rs".to_string()
        } else {
            self.data_dir.display().to_string()
        }
    }

    /// Certificates and keys of the profile.
    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }

    /// Holds the running server's pid, locked (flock) for as long as it runs.
    pub fn pid_file(&self) -> PathBuf {
        self.data_dir.join("server.pid")
    }

    /// Where `minikube-rs start` sends the background server's output.
    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join("server.log")
    }

    /// The extra copy of the kubeconfig the default profile keeps in /etc.
    pub fn system_kubeconfig(&self) -> Option<PathBuf> {
        (self.is_default_profile() && self.kubeconfig != Path::new(SYSTEM_KUBECONFIG))
            .then(|| PathBuf::from(SYSTEM_KUBECONFIG))
    }
}

/// The host's name, as the kubelet names its node by default ("localhost" if unknown).
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
        .to_lowercase()
}

/// The profile's node: names and paths of what it owns on the host.
impl Config {
    pub fn node_profile(&self) -> crate::node::profile::NodeProfile {
        crate::node::profile::NodeProfile::new(&self.data_dir, self.is_default_profile())
    }
}

fn absolute(path: &Path) -> Result<PathBuf, Error> {
    std::path::absolute(path).map_err(|source| Error::Absolute {
        path: path.to_path_buf(),
        source,
    })
}

/// Tells systemd (Type=notify) that the service is ready. Does nothing outside systemd.
/// Returns whether a notification was sent.
pub fn sd_notify_ready() -> io::Result<bool> {
    sd_notify("READY=1")
}

/// Sends one state line to `$NOTIFY_SOCKET`. Does nothing outside systemd.
pub fn sd_notify(state: &str) -> io::Result<bool> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(socket) => notify_socket(&socket.to_string_lossy(), state).map(|()| true),
        None => Ok(false),
    }
}

/// Sends `state` to a notify socket: a path or, with a leading `@`, an abstract name.
fn notify_socket(socket: &str, state: &str) -> io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};

    let addr = match socket.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
        None => SocketAddr::from_pathname(socket)?,
    };
    UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

/// An environment for tests and callers that build one from a map.
pub fn env_from_map(map: &HashMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| map.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> impl Fn(&Path) -> io::Result<Option<String>> {
        let map: HashMap<PathBuf, String> = entries
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect();
        move |path| Ok(map.get(path).cloned())
    }

    fn env(entries: &[(&str, &str)]) -> HashMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn resolve(
        args: &ServerArgs,
        vars: &[(&str, &str)],
        fs: &[(&str, &str)],
    ) -> Result<Config, Error> {
        let vars = env(vars);
        let lookup = env_from_map(&vars);
        let read = files(fs);
        Config::resolve_with(args, &lookup, &read)
    }

    #[test]
    fn defaults_without_flags_env_or_file() {
        let config = resolve(&ServerArgs::default(), &[], &[]).unwrap();
        assert_eq!(config, Config::default());
        assert!(config.is_default_profile());
        assert_eq!(
            config.kubeconfig,
            Path::new("/var/lib/minikube-rs/kubeconfig.yaml")
        );
        assert_eq!(
            config.system_kubeconfig(),
            Some(PathBuf::from(SYSTEM_KUBECONFIG))
        );
        assert_eq!(config.api_port, 6443);
        assert_eq!(config.bind_address.to_string(), "127.0.0.1");
        assert_eq!(config.log, "info");
        assert_eq!(config.config_file, None);
    }

    #[test]
    fn the_default_file_is_read_when_it_exists() {
        let fs = [(DEFAULT_CONFIG_FILE, "api-port: 7443\nlog: debug\n")];
        let config = resolve(&ServerArgs::default(), &[], &fs).unwrap();
        assert_eq!(config.api_port, 7443);
        assert_eq!(config.log, "debug");
        assert_eq!(config.config_file, Some(PathBuf::from(DEFAULT_CONFIG_FILE)));
    }

    #[test]
    fn flags_beat_env_which_beats_file_which_beats_defaults() {
        let fs = [(
            "/tmp/c.yaml",
            "data-dir: /file\napi-port: 1\nbind-address: 10.0.0.1\nkubeconfig: /file/kc\nlog: warn\n",
        )];
        let vars = [
            (ENV_DATA_DIR, "/env"),
            (ENV_API_PORT, "2"),
            (ENV_BIND_ADDRESS, "10.0.0.2"),
            (ENV_KUBECONFIG, "/env/kc"),
            (ENV_LOG, "debug"),
        ];
        let mut args = ServerArgs {
            config: Some("/tmp/c.yaml".into()),
            ..Default::default()
        };

        let file_only = resolve(&args, &[], &fs).unwrap();
        assert_eq!(file_only.data_dir, Path::new("/file"));
        assert_eq!(file_only.api_port, 1);
        assert_eq!(file_only.bind_address.to_string(), "10.0.0.1");
        assert_eq!(file_only.kubeconfig, Path::new("/file/kc"));
        assert_eq!(file_only.log, "warn");
        assert!(!file_only.is_default_profile());
        assert_eq!(file_only.system_kubeconfig(), None);

        let env_wins = resolve(&args, &vars, &fs).unwrap();
        assert_eq!(env_wins.data_dir, Path::new("/env"));
        assert_eq!(env_wins.api_port, 2);
        assert_eq!(env_wins.bind_address.to_string(), "10.0.0.2");
        assert_eq!(env_wins.kubeconfig, Path::new("/env/kc"));
        assert_eq!(env_wins.log, "debug");

        args.data_dir = Some("/flag".into());
        args.api_port = Some(0);
        args.bind_address = Some("::1".parse().unwrap());
        args.kubeconfig = Some("/flag/kc".into());
        args.log = Some("trace".into());
        let flags_win = resolve(&args, &vars, &fs).unwrap();
        assert_eq!(flags_win.data_dir, Path::new("/flag"));
        assert_eq!(flags_win.api_port, 0);
        assert_eq!(flags_win.bind_address.to_string(), "::1");
        assert_eq!(flags_win.kubeconfig, Path::new("/flag/kc"));
        assert_eq!(flags_win.log, "trace");
        assert_eq!(flags_win.config_file, Some(PathBuf::from("/tmp/c.yaml")));
    }

    #[test]
    fn kubeconfig_follows_the_data_dir_unless_set() {
        let args = ServerArgs {
            data_dir: Some("/tmp/p1".into()),
            ..Default::default()
        };
        let config = resolve(&args, &[], &[]).unwrap();
        assert_eq!(config.kubeconfig, Path::new("/tmp/p1/kubeconfig.yaml"));
        assert_eq!(config.tls_dir(), Path::new("/tmp/p1/tls"));
        assert_eq!(config.pid_file(), Path::new("/tmp/p1/server.pid"));

        let config = resolve(&ServerArgs::default(), &[(ENV_DATA_DIR, "/tmp/p2")], &[]).unwrap();
        assert_eq!(config.kubeconfig, Path::new("/tmp/p2/kubeconfig.yaml"));
    }

    #[test]
    fn the_default_profile_is_recognised_with_a_trailing_slash() {
        let args = ServerArgs {
            data_dir: Some("/var/lib/minikube-rs/".into()),
            ..Default::default()
        };
        assert!(resolve(&args, &[], &[]).unwrap().is_default_profile());
    }

    #[test]
    fn relative_paths_become_absolute() {
        let args = ServerArgs {
            data_dir: Some("rel/dir".into()),
            ..Default::default()
        };
        let config = resolve(&args, &[], &[]).unwrap();
        assert!(config.data_dir.is_absolute());
        assert!(config.data_dir.ends_with("rel/dir"));
        assert!(config.kubeconfig.is_absolute());
    }

    #[test]
    fn env_config_file_is_used_and_the_flag_beats_it() {
        let fs = [("/a.yaml", "api-port: 1111"), ("/b.yaml", "api-port: 2222")];
        let config = resolve(&ServerArgs::default(), &[(ENV_CONFIG, "/a.yaml")], &fs).unwrap();
        assert_eq!(config.api_port, 1111);
        let args = ServerArgs {
            config: Some("/b.yaml".into()),
            ..Default::default()
        };
        let config = resolve(&args, &[(ENV_CONFIG, "/a.yaml")], &fs).unwrap();
        assert_eq!(config.api_port, 2222);
    }

    #[test]
    fn empty_env_vars_count_as_unset() {
        let config = resolve(
            &ServerArgs::default(),
            &[(ENV_API_PORT, ""), (ENV_DATA_DIR, "")],
            &[],
        )
        .unwrap();
        assert_eq!(config.api_port, 6443);
        assert!(config.is_default_profile());
    }

    #[test]
    fn unknown_keys_are_an_error_naming_the_key() {
        let fs = [("/c.yaml", "api-port: 1\napi_prot: 2\n")];
        let args = ServerArgs {
            config: Some("/c.yaml".into()),
            ..Default::default()
        };
        let err = resolve(&args, &[], &fs).unwrap_err().to_string();
        assert!(err.contains("/c.yaml"), "{err}");
        assert!(err.contains("api_prot"), "{err}");
    }

    #[test]
    fn a_file_of_comments_is_an_empty_config() {
        let text = "# nothing set\n# api-port: 6443\n";
        assert_eq!(
            FileConfig::parse(Path::new("/c"), text).unwrap(),
            FileConfig::default()
        );
        assert_eq!(
            FileConfig::parse(Path::new("/c"), "").unwrap(),
            FileConfig::default()
        );
    }

    #[test]
    fn the_shipped_default_config_parses_to_the_defaults() {
        let text = include_str!("../assets/config.yaml");
        let file = FileConfig::parse(Path::new("assets/config.yaml"), text).unwrap();
        assert_eq!(file, FileConfig::default());
    }

    #[test]
    fn bad_values_name_their_source() {
        let err = resolve(&ServerArgs::default(), &[(ENV_API_PORT, "http")], &[]).unwrap_err();
        assert!(
            err.to_string().starts_with("MINIKUBE_RS_API_PORT=\"http\""),
            "{err}"
        );
        let err = resolve(
            &ServerArgs::default(),
            &[(ENV_BIND_ADDRESS, "localhost")],
            &[],
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("MINIKUBE_RS_BIND_ADDRESS"),
            "{err}"
        );

        let fs = [("/c.yaml", "api-port: 70000\n")];
        let args = ServerArgs {
            config: Some("/c.yaml".into()),
            ..Default::default()
        };
        let err = resolve(&args, &[], &fs).unwrap_err().to_string();
        assert!(err.contains("parsing the config file /c.yaml"), "{err}");
    }

    #[test]
    fn an_explicit_config_file_must_exist() {
        let args = ServerArgs {
            config: Some("/missing.yaml".into()),
            ..Default::default()
        };
        let err = resolve(&args, &[], &[]).unwrap_err().to_string();
        assert!(err.contains("/missing.yaml"), "{err}");
    }

    #[test]
    fn sd_notify_reaches_path_and_abstract_sockets() {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        notify_socket(path.to_str().unwrap(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        let name = format!("minikube-rs-test-{}", std::process::id());
        let listener =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        notify_socket(&format!("@{name}"), "READY=1").unwrap();
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
