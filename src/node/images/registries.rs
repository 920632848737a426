//! Registry mirrors, credentials and TLS settings in k3s's `registries.yaml` format, and the
//! endpoint order a pull tries: a registry's mirror endpoints in order, then the registry
//! itself (the "default endpoint", always tried last; rewrites never apply to it).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

/// What can go wrong reading `registries.yaml`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading registries file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("parsing registries file {path}: {source}")]
    Parse { path: PathBuf, source: serde_yaml::Error },
    #[error("registries file {path}: mirror {registry:?}: rewrite pattern {pattern:?}: {source}")]
    Rewrite { path: PathBuf, registry: String, pattern: String, source: regex::Error },
    #[error("registries file: config {host:?}: auth field is not base64 of \"user:password\"")]
    AuthField { host: String },
}

/// The whole file: `mirrors` keyed by registry host (or `*`), `configs` keyed by registry or
/// endpoint host.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registries {
    #[serde(default)]
    pub mirrors: BTreeMap<String, Mirror>,
    #[serde(default)]
    pub configs: BTreeMap<String, RegistryConfig>,
}

/// One registry's mirrors.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    /// Endpoint URLs tried in order (`http://host:port`, `https://host`, or a bare `host:port`
    /// meaning https).
    #[serde(default)]
    pub endpoint: Vec<String>,
    /// Repository rewrites applied at the mirror endpoints: regex → replacement (`$1`).
    #[serde(default)]
    pub rewrite: BTreeMap<String, String>,
}

/// Credentials and TLS for one host.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// `configs.<host>.auth`.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// base64("username:password"), as in a docker config.json.
    #[serde(default)]
    pub auth: Option<String>,
    /// An OAuth2 refresh token (not supported for pulls yet: ignored with a warning).
    #[serde(default)]
    pub identitytoken: Option<String>,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .field("identitytoken", &self.identitytoken.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `configs.<host>.tls`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// How an endpoint is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        })
    }
}

/// One place to pull a registry's images from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: Scheme,
    /// `host[:port]`.
    pub host: String,
    /// URL path of the endpoint ("" or "/v2" are the API root; anything else is unsupported).
    pub path: String,
    /// The registry's own endpoint (tried last; no rewrites).
    pub is_default: bool,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.host, self.path)
    }
}

impl Endpoint {
    /// Parses a mirror URL: `http://h:p`, `https://h/v2`, or a bare `h:p` (https).
    pub fn parse_mirror(url: &str) -> Endpoint {
        let (scheme, rest) = match url.split_once("://") {
            Some(("http", rest)) => (Scheme::Http, rest),
            Some((_, rest)) => (Scheme::Https, rest),
            None => (Scheme::Https, url),
        };
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        Endpoint { scheme, host: host.to_string(), path: path.to_string(), is_default: false }
    }

    /// The registry's own endpoint: `index.docker.io` for docker.io; plain http for loopback
    /// registries (containerd's localhost rule), https otherwise.
    pub fn default_for(registry: &str) -> Endpoint {
        let host = if registry == "docker.io" { "index.docker.io" } else { registry };
        let scheme = if is_loopback_host(host) { Scheme::Http } else { Scheme::Https };
        Endpoint { scheme, host: host.to_string(), path: String::new(), is_default: true }
    }

    /// Whether the path is the API root (the only form the client speaks).
    pub fn has_api_root_path(&self) -> bool {
        matches!(self.path.as_str(), "" | "/v2")
    }
}

/// `localhost`, `127.x.y.z`, `::1`, with or without a port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        }
    };
    name == "localhost" || name.parse::<IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

impl Registries {
    /// Reads `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Registries, Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Registries::default()),
            Err(source) => return Err(Error::Read { path: path.to_path_buf(), source }),
        };
        let registries = Self::parse(&text).map_err(|source| Error::Parse { path: path.to_path_buf(), source })?;
        registries.check(path)?;
        Ok(registries)
    }

    /// Parses YAML text (an empty document is an empty configuration).
    pub fn parse(text: &str) -> Result<Registries, serde_yaml::Error> {
        if text.trim().is_empty() {
            return Ok(Registries::default());
        }
        let value: serde_yaml::Value = serde_yaml::from_str(text)?;
        if value.is_null() {
            return Ok(Registries::default());
        }
        serde_yaml::from_value(value)
    }

    fn check(&self, path: &Path) -> Result<(), Error> {
        for (registry, mirror) in &self.mirrors {
            for pattern in mirror.rewrite.keys() {
                regex::Regex::new(pattern).map_err(|source| Error::Rewrite {
                    path: path.to_path_buf(),
                    registry: registry.clone(),
                    pattern: pattern.clone(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// The mirror entry for `registry`, else the `*` entry.
    pub fn mirror_for(&self, registry: &str) -> Option<&Mirror> {
        self.mirrors.get(registry).or_else(|| self.mirrors.get("*"))
    }

    /// Endpoints to try for `registry`, in order: its mirrors, then the default endpoint
    /// (skipped when a mirror already names it).
    pub fn endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = self
            .mirror_for(registry)
            .map(|m| m.endpoint.iter().map(|u| Endpoint::parse_mirror(u)).collect())
            .unwrap_or_default();
        let default = Endpoint::default_for(registry);
        if let Some(same) = out.iter_mut().find(|e| e.host == default.host && e.has_api_root_path()) {
            // The registry itself listed as a mirror: its position and scheme win, and as the
            // registry's own endpoint no rewrite applies there.
            same.is_default = true;
        } else {
            out.push(default);
        }
        out
    }

    /// [`Self::endpoints`], without the implicit default endpoint when `disable_default` is set
    /// and the registry has a mirror entry (k3s's `--disable-default-registry-endpoint`).
    pub fn endpoints_for(&self, registry: &str, disable_default: bool) -> Vec<Endpoint> {
        let mut endpoints = self.endpoints(registry);
        if disable_default && self.mirror_for(registry).is_some() {
            let listed = |e: &Endpoint| {
                self.mirror_for(registry)
                    .is_some_and(|m| m.endpoint.iter().any(|u| Endpoint::parse_mirror(u).host == e.host))
            };
            endpoints.retain(|e| !e.is_default || listed(e));
        }
        endpoints
    }

    /// The repository to ask `endpoint` for: mirror rewrites apply, except at the default
    /// endpoint. The first matching pattern (in file order, sorted) wins.
    pub fn rewrite(&self, registry: &str, endpoint: &Endpoint, repository: &str) -> String {
        if endpoint.is_default {
            return repository.to_string();
        }
        let Some(mirror) = self.mirror_for(registry) else { return repository.to_string() };
        for (pattern, replacement) in &mirror.rewrite {
            let Ok(re) = regex::Regex::new(pattern) else { continue };
            if re.is_match(repository) {
                return re.replace(repository, replacement.as_str()).into_owned();
            }
        }
        repository.to_string()
    }

    /// Credentials and TLS for an endpoint host.
    pub fn config_for(&self, host: &str) -> Option<&RegistryConfig> {
        self.configs.get(host)
    }

    /// Basic credentials for an endpoint host, from `username`/`password` or `auth`.
    pub fn credentials_for(&self, host: &str) -> Result<Option<(String, String)>, Error> {
        let Some(auth) = self.config_for(host).and_then(|c| c.auth.as_ref()) else { return Ok(None) };
        if let Some(user) = &auth.username {
            return Ok(Some((user.clone(), auth.password.clone().unwrap_or_default())));
        }
        if let Some(encoded) = &auth.auth {
            let bad = || Error::AuthField { host: host.to_string() };
            let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
            let text = String::from_utf8(bytes).map_err(|_| bad())?;
            let (user, pass) = text.split_once(':').ok_or_else(bad)?;
            return Ok(Some((user.to_string(), pass.to_string())));
        }
        if auth.identitytoken.is_some() {
            tracing::warn!(host, "registries.yaml: identitytoken is not supported; pulling anonymously");
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
mirrors:
  docker.io:
    endpoint:
      - "http://127.0.0.1:5000"
      - "mirror.example.com:8443/v2"
    rewrite:
      "^library/(.*)": "cache/$1"
  "*":
    endpoint: ["https://all.example.com"]
configs:
  "127.0.0.1:5000":
    auth:
      username: alice
      password: secret
    tls:
      insecure_skip_verify: true
  "mirror.example.com:8443":
    auth:
      auth: Ym9iOmh1bnRlcjI=
    tls:
      ca_file: /etc/ssl/ca.pem
"#;

    #[test]
    fn parses_k3s_format() {
        let r = Registries::parse(SAMPLE).expect("parse");
        assert_eq!(r.mirrors["docker.io"].endpoint.len(), 2);
        let tls = r.configs["127.0.0.1:5000"].tls.as_ref().expect("tls");
        assert!(tls.insecure_skip_verify);
        assert_eq!(r.credentials_for("127.0.0.1:5000").expect("creds"), Some(("alice".into(), "secret".into())));
        assert_eq!(r.credentials_for("mirror.example.com:8443").expect("creds"), Some(("bob".into(), "hunter2".into())));
        assert_eq!(r.credentials_for("elsewhere").expect("creds"), None);
    }

    #[test]
    fn mirrors_then_default_endpoint_last() {
        let r = Registries::parse(SAMPLE).expect("parse");
        let eps = r.endpoints("docker.io");
        let shown: Vec<String> = eps.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown, ["http://127.0.0.1:5000", "https://mirror.example.com:8443/v2", "https://index.docker.io"]);
        assert!(eps[2].is_default && !eps[0].is_default);
        // Other registries fall under "*".
        let shown: Vec<String> = r.endpoints("quay.io").iter().map(|e| e.to_string()).collect();
        assert_eq!(shown, ["https://all.example.com", "https://quay.io"]);
    }

    #[test]
    fn no_mirror_means_default_only_and_loopback_is_http() {
        let r = Registries::default();
        assert_eq!(r.endpoints("registry.example.com:5000")[0].to_string(), "https://registry.example.com:5000");
        assert_eq!(r.endpoints("127.0.0.1:5000")[0].to_string(), "http://127.0.0.1:5000");
        assert_eq!(r.endpoints("localhost:5000")[0].scheme, Scheme::Http);
        assert!(is_loopback_host("[::1]:5000"));
        assert!(!is_loopback_host("example.com:5000"));
    }

    #[test]
    fn default_endpoint_can_be_disabled_for_mirrored_registries() {
        let r = Registries::parse(SAMPLE).expect("parse");
        let shown: Vec<String> = r.endpoints_for("docker.io", true).iter().map(|e| e.to_string()).collect();
        assert_eq!(shown, ["http://127.0.0.1:5000", "https://mirror.example.com:8443/v2"]);
        let plain = Registries::default();
        assert_eq!(plain.endpoints_for("quay.io", true).len(), 1);
    }

    #[test]
    fn registry_listed_as_its_own_mirror_is_not_repeated() {
        let r = Registries::parse("mirrors:\n  \"127.0.0.1:5000\":\n    endpoint: [\"http://127.0.0.1:5000\"]\n").expect("parse");
        let eps = r.endpoints("127.0.0.1:5000");
        assert_eq!(eps.len(), 1);
        assert!(eps[0].is_default);
    }

    #[test]
    fn rewrites_apply_to_mirrors_only() {
        let r = Registries::parse(SAMPLE).expect("parse");
        let eps = r.endpoints("docker.io");
        assert_eq!(r.rewrite("docker.io", &eps[0], "library/busybox"), "cache/busybox");
        assert_eq!(r.rewrite("docker.io", &eps[0], "other/busybox"), "other/busybox");
        assert_eq!(r.rewrite("docker.io", &eps[2], "library/busybox"), "library/busybox");
    }

    #[test]
    fn missing_or_empty_file_is_empty_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(Registries::load(&dir.path().join("none.yaml")).expect("load"), Registries::default());
        let empty = dir.path().join("empty.yaml");
        std::fs::write(&empty, "").expect("write");
        assert_eq!(Registries::load(&empty).expect("load"), Registries::default());
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "mirrors:\n  x:\n    endpoint: [\"a\"]\n    rewrite:\n      \"(\": \"b\"\n").expect("write");
        let err = Registries::load(&bad).expect_err("bad regex");
        assert!(err.to_string().contains("rewrite pattern"), "{err}");
    }
}
