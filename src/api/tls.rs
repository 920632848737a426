//! The profile's PKI: a cluster CA, the API serving certificate and the admin client
//! certificate, kept as PEM files in the data dir; the rustls server config; the kubeconfig.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Common name of the cluster CA.
pub const CA_COMMON_NAME: &str = "minikube-rs-ca";
/// Subject of the admin client certificate: Kubernetes' all-powerful user and group.
pub const ADMIN_USER: &str = "system:admin";
pub const ADMIN_GROUP: &str = "system:masters";
/// Name of the cluster, user and context in the kubeconfig.
pub const KUBECONFIG_NAME: &str = "minikube-rs";

/// SANs every serving certificate carries, besides the host name and the caller's.
pub const DEFAULT_SANS: &[&str] = &[
    "127.0.0.1",
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "10.43.0.1",
];

const CA_VALID_DAYS: i64 = 3650;
const LEAF_VALID_DAYS: i64 = 365;
/// Leaf certificates this close to expiry are re-issued at start, as k3s does.
const RENEW_BEFORE_DAYS: i64 = 90;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("generating the {what}: {source}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "{cert} exists but its key {key} is missing; remove the directory {dir} to start a new CA"
    )]
    MissingCaKey {
        cert: PathBuf,
        key: PathBuf,
        dir: PathBuf,
    },
    #[error("the cluster CA {path} expired; remove the directory {dir} to start a new CA")]
    CaExpired { path: PathBuf, dir: PathBuf },
    #[error("subject alternative name {san:?} is neither an IP address nor a DNS name")]
    InvalidSan { san: String },
    #[error("building the TLS server configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("building the client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("serializing the kubeconfig: {0}")]
    Kubeconfig(#[from] serde_yaml::Error),
}

/// The loaded PKI: what the API server serves with and what a kubeconfig needs.
#[derive(Clone)]
pub struct Pki {
    pub ca_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
    pub admin_cert_pem: String,
    pub admin_key_pem: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("ca_pem", &self.ca_pem)
            .finish_non_exhaustive()
    }
}

/// The crypto provider used for every TLS config of the crate, independent of which
/// provider features other dependencies switch on.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads the PKI from `tls_dir`, creating what is missing: the CA on first start, the serving
/// certificate when missing, expiring, not from this CA or when its SANs differ from the
/// defaults plus the host name plus `sans`, and the admin certificate likewise.
pub fn ensure(tls_dir: &Path, sans: &[String]) -> Result<Pki, Error> {
    create_private_dir(tls_dir)?;
    let provider = crypto_provider();

    let ca = load_or_create_ca(tls_dir)?;
    let mut roots = RootCertStore::empty();
    roots.add(ca.der.clone()).map_err(|e| Error::Invalid {
        path: tls_dir.join("ca.crt"),
        reason: format!("not usable as a trust anchor: {e}"),
    })?;
    let roots = Arc::new(roots);

    // The serving certificate.
    let wanted = wanted_sans(sans)?;
    let server_verifier =
        WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone()).build()?;
    let serving = Leaf::load(tls_dir, "server").filter(|leaf| {
        let name = ServerName::try_from("localhost").expect("a valid DNS name");
        let chains = server_verifier
            .verify_server_cert(&leaf.der, &[], &name, &[], UnixTime::now())
            .is_ok();
        chains && leaf.fresh() && leaf.sans() == wanted
    });
    let serving = match serving {
        Some(leaf) => leaf,
        None => {
            tracing::info!(sans = ?wanted, "issuing the API serving certificate");
            let mut params = leaf_params("kube-apiserver", None);
            params.subject_alt_names = wanted
                .iter()
                .map(|s| san_type(s))
                .collect::<Result<_, _>>()?;
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            Leaf::issue(
                tls_dir,
                "server",
                "serving certificate",
                &params,
                &ca.issuer,
            )?
        }
    };

    // The admin client certificate.
    let client_verifier =
        WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .allow_unauthenticated()
            .build()?;
    let admin = Leaf::load(tls_dir, "admin").filter(|leaf| {
        let chains = client_verifier
            .verify_client_cert(&leaf.der, &[], UnixTime::now())
            .is_ok();
        let identity = client_identity(std::slice::from_ref(&leaf.der));
        chains
            && leaf.fresh()
            && identity == Some((ADMIN_USER.to_string(), vec![ADMIN_GROUP.to_string()]))
    });
    let admin = match admin {
        Some(leaf) => leaf,
        None => {
            tracing::info!("issuing the admin client certificate");
            let mut params = leaf_params(ADMIN_USER, Some(ADMIN_GROUP));
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            Leaf::issue(
                tls_dir,
                "admin",
                "admin client certificate",
                &params,
                &ca.issuer,
            )?
        }
    };

    let serving_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(serving.key.serialize_der()));
    let mut server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(vec![serving.der.clone()], serving_key)?;
    server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    Ok(Pki {
        ca_pem: ca.pem,
        server_config: Arc::new(server_config),
        admin_cert_pem: admin.pem,
        admin_key_pem: admin.key.serialize_pem(),
    })
}

/// The user (CN) and groups (O) of a verified client certificate chain's leaf.
pub fn client_identity(certs: &[CertificateDer<'_>]) -> Option<(String, Vec<String>)> {
    let (_, cert) = X509Certificate::from_der(certs.first()?.as_ref()).ok()?;
    let user = cert
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let groups = cert
        .subject()
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some((user, groups))
}

/// Writes an admin kubeconfig for `server_url` (cluster, user and context named
/// `minikube-rs`), mode 0600, atomically, creating parent directories.
pub fn write_kubeconfig(path: &Path, server_url: &str, pki: &Pki) -> Result<(), Error> {
    let yaml = kubeconfig_yaml(server_url, pki)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|source| Error::Io {
            action: "creating",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    write_atomic(path, yaml.as_bytes(), 0o600)
}

/// The kubeconfig text `write_kubeconfig` writes.
pub fn kubeconfig_yaml(server_url: &str, pki: &Pki) -> Result<String, Error> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": KUBECONFIG_NAME,
            "cluster": {
                "certificate-authority-data": b64(&pki.ca_pem),
                "server": server_url,
            },
        }],
        "contexts": [{
            "name": KUBECONFIG_NAME,
            "context": { "cluster": KUBECONFIG_NAME, "user": KUBECONFIG_NAME },
        }],
        "current-context": KUBECONFIG_NAME,
        "preferences": {},
        "users": [{
            "name": KUBECONFIG_NAME,
            "user": {
                "client-certificate-data": b64(&pki.admin_cert_pem),
                "client-key-data": b64(&pki.admin_key_pem),
            },
        }],
    });
    Ok(serde_yaml::to_string(&config)?)
}

/// The host's name as the kernel reports it, lower-cased, if it is a usable DNS name.
pub fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
    // or truncates, and we stop at the first NUL or the end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..end])
        .ok()?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    rustls_pki_types::DnsName::try_from(name.as_str()).ok()?;
    (name.parse::<IpAddr>().is_err()).then_some(name)
}

/// The SAN set the serving certificate must carry, normalized.
fn wanted_sans(extra: &[String]) -> Result<BTreeSet<String>, Error> {
    let mut wanted = BTreeSet::new();
    let all = DEFAULT_SANS
        .iter()
        .map(|s| s.to_string())
        .chain(host_name())
        .chain(
            extra
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
        );
    for san in all {
        wanted.insert(normalize_san(&san)?);
    }
    Ok(wanted)
}

fn normalize_san(san: &str) -> Result<String, Error> {
    if let Ok(ip) = san.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let name = san.trim_end_matches('.').to_ascii_lowercase();
    match rustls_pki_types::DnsName::try_from(name.as_str()) {
        Ok(_) => Ok(name),
        Err(_) => Err(Error::InvalidSan {
            san: san.to_string(),
        }),
    }
}

fn san_type(normalized: &str) -> Result<SanType, Error> {
    if let Ok(ip) = normalized.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let name = normalized
        .to_string()
        .try_into()
        .map_err(|_| Error::InvalidSan {
            san: normalized.to_string(),
        })?;
    Ok(SanType::DnsName(name))
}

struct Ca {
    pem: String,
    der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

fn load_or_create_ca(dir: &Path) -> Result<Ca, Error> {
    let cert_path = dir.join("ca.crt");
    let key_path = dir.join("ca.key");
    match read_optional(&cert_path)? {
        Some(pem) => {
            let Some(key_pem) = read_optional(&key_path)? else {
                return Err(Error::MissingCaKey {
                    cert: cert_path,
                    key: key_path,
                    dir: dir.to_path_buf(),
                });
            };
            let key = KeyPair::from_pem(&key_pem).map_err(|e| Error::Invalid {
                path: key_path.clone(),
                reason: e.to_string(),
            })?;
            let der = pem_to_der(&cert_path, &pem)?;
            let (_, cert) =
                X509Certificate::from_der(der.as_ref()).map_err(|e| Error::Invalid {
                    path: cert_path.clone(),
                    reason: e.to_string(),
                })?;
            if !cert.is_ca() {
                return Err(Error::Invalid {
                    path: cert_path,
                    reason: "not a CA certificate".to_string(),
                });
            }
            if cert.public_key().subject_public_key.data.as_ref() != key.der_bytes() {
                return Err(Error::Invalid {
                    path: key_path,
                    reason: format!("does not belong to {}", cert_path.display()),
                });
            }
            if cert.validity().not_after.timestamp() <= now_seconds() {
                return Err(Error::CaExpired {
                    path: cert_path,
                    dir: dir.to_path_buf(),
                });
            }
            let issuer = Issuer::from_ca_cert_der(&der, key).map_err(|e| Error::Invalid {
                path: cert_path,
                reason: e.to_string(),
            })?;
            Ok(Ca { pem, der, issuer })
        }
        None => {
            tracing::info!(dir = %dir.display(), "creating the cluster CA");
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| {
                Error::Generate {
                    what: "CA key",
                    source,
                }
            })?;
            let mut params = CertificateParams::default();
            params.distinguished_name = rcgen::DistinguishedName::new();
            params
                .distinguished_name
                .push(DnType::CommonName, CA_COMMON_NAME);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            set_validity(&mut params, CA_VALID_DAYS);
            let cert = params.self_signed(&key).map_err(|source| Error::Generate {
                what: "CA certificate",
                source,
            })?;
            // The key first: a crash in between leaves a key without a certificate, which
            // the next start replaces, never a certificate without its key.
            write_atomic(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
            write_atomic(&cert_path, cert.pem().as_bytes(), 0o644)?;
            Ok(Ca {
                pem: cert.pem(),
                der: cert.der().clone(),
                issuer: Issuer::new(params, key),
            })
        }
    }
}

/// A leaf certificate and its key, as found on disk or freshly issued.
struct Leaf {
    pem: String,
    der: CertificateDer<'static>,
    key: KeyPair,
}

impl Leaf {
    /// Loads `<name>.crt` and `<name>.key`; `None` when missing, unreadable or mismatched,
    /// which makes the caller issue a new one.
    fn load(dir: &Path, name: &str) -> Option<Leaf> {
        let cert_path = dir.join(format!("{name}.crt"));
        let pem = fs::read_to_string(&cert_path).ok()?;
        let key =
            KeyPair::from_pem(&fs::read_to_string(dir.join(format!("{name}.key"))).ok()?).ok()?;
        let der = pem_to_der(&cert_path, &pem).ok()?;
        let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
        if cert.public_key().subject_public_key.data.as_ref() != key.der_bytes() {
            return None;
        }
        Some(Leaf { pem, der, key })
    }

    fn issue(
        dir: &Path,
        name: &str,
        what: &'static str,
        params: &CertificateParams,
        ca: &Issuer<'static, KeyPair>,
    ) -> Result<Leaf, Error> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|source| Error::Generate { what, source })?;
        let cert = params
            .signed_by(&key, ca)
            .map_err(|source| Error::Generate { what, source })?;
        write_atomic(
            &dir.join(format!("{name}.key")),
            key.serialize_pem().as_bytes(),
            0o600,
        )?;
        write_atomic(
            &dir.join(format!("{name}.crt")),
            cert.pem().as_bytes(),
            0o644,
        )?;
        Ok(Leaf {
            pem: cert.pem(),
            der: cert.der().clone(),
            key,
        })
    }

    fn parsed(&self) -> Option<X509Certificate<'_>> {
        X509Certificate::from_der(self.der.as_ref())
            .ok()
            .map(|(_, cert)| cert)
    }

    /// Valid for longer than the renewal window.
    fn fresh(&self) -> bool {
        self.parsed().is_some_and(|cert| {
            cert.validity().not_after.timestamp() > now_seconds() + RENEW_BEFORE_DAYS * 86_400
        })
    }

    /// The certificate's SANs, normalized as `wanted_sans` normalizes them.
    fn sans(&self) -> BTreeSet<String> {
        let Some(cert) = self.parsed() else {
            return BTreeSet::new();
        };
        let Ok(Some(ext)) = cert.subject_alternative_name() else {
            return BTreeSet::new();
        };
        ext.value
            .general_names
            .iter()
            .map(|name| match name {
                GeneralName::DNSName(dns) => dns.trim_end_matches('.').to_ascii_lowercase(),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => IpAddr::from(<[u8; 4]>::try_from(*bytes).expect("4 bytes")).to_string(),
                    16 => IpAddr::from(<[u8; 16]>::try_from(*bytes).expect("16 bytes")).to_string(),
                    _ => format!("ip:{bytes:?}"),
                },
                other => format!("other:{other:?}"),
            })
            .collect()
    }
}

fn leaf_params(common_name: &str, organization: Option<&str>) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(org) = organization {
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
    }
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, LEAF_VALID_DAYS);
    params
}

/// Valid from yesterday (tolerating clock skew) for `days` days.
fn set_validity(params: &mut CertificateParams, days: i64) {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let at = |offset: i64| {
        let date = today
            .checked_add(jiff::Span::new().days(offset))
            .unwrap_or(today);
        rcgen::date_time_ymd(i32::from(date.year()), date.month() as u8, date.day() as u8)
    };
    params.not_before = at(-1);
    params.not_after = at(days);
}

fn now_seconds() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn pem_to_der(path: &Path, pem: &str) -> Result<CertificateDer<'static>, Error> {
    use rustls_pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| Error::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            action: "reading",
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn create_private_dir(dir: &Path) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(|source| Error::Io {
        action: "creating",
        path: dir.to_path_buf(),
        source,
    })?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|source| Error::Io {
        action: "setting permissions of",
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes `contents` to a temporary file beside `path`, syncs it and renames it over `path`.
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    let io_err = |action, source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let file_name = path.file_name().ok_or_else(|| {
        io_err(
            "writing",
            io::Error::new(io::ErrorKind::InvalidInput, "not a file path"),
        )
    })?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // `mode` only applies to new files; a leftover temporary file keeps its own.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(source) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("writing", source));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Make the rename durable; failure to sync a directory is not worth failing for.
        let _ = fs::File::open(parent).and_then(|d| d.sync_all());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn read(dir: &Path, name: &str) -> String {
        fs::read_to_string(dir.join(name)).unwrap()
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn first_start_creates_the_files_and_the_second_reuses_them() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let first = ensure(&tls, &[]).unwrap();
        for name in [
            "ca.crt",
            "ca.key",
            "server.crt",
            "server.key",
            "admin.crt",
            "admin.key",
        ] {
            assert!(tls.join(name).exists(), "{name}");
        }
        for key in ["ca.key", "server.key", "admin.key"] {
            assert_eq!(mode(&tls.join(key)), 0o600, "{key}");
        }
        assert_eq!(mode(&tls), 0o700);
        let server_crt = read(&tls, "server.crt");

        let second = ensure(&tls, &[]).unwrap();
        assert_eq!(first.ca_pem, second.ca_pem);
        assert_eq!(first.admin_cert_pem, second.admin_cert_pem);
        assert_eq!(first.admin_key_pem, second.admin_key_pem);
        assert_eq!(server_crt, read(&tls, "server.crt"));
    }

    #[test]
    fn the_serving_certificate_carries_the_wanted_sans() {
        let dir = tempfile::tempdir().unwrap();
        ensure(dir.path(), &["10.0.0.7".into(), "Node.Example.".into()]).unwrap();
        let leaf = Leaf::load(dir.path(), "server").unwrap();
        let sans = leaf.sans();
        for want in DEFAULT_SANS
            .iter()
            .copied()
            .chain(["10.0.0.7", "node.example"])
        {
            assert!(sans.contains(want), "{want} missing from {sans:?}");
        }
        if let Some(host) = host_name() {
            assert!(sans.contains(&host));
        }
        let cert = leaf.parsed().unwrap();
        let issuer = cert
            .issuer()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(issuer, CA_COMMON_NAME);
    }

    #[test]
    fn a_changed_san_set_reissues_the_serving_cert_but_keeps_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure(dir.path(), &["10.0.0.1".into()]).unwrap();
        let server_crt = read(dir.path(), "server.crt");
        let admin_crt = read(dir.path(), "admin.crt");

        let second = ensure(dir.path(), &["10.0.0.2".into()]).unwrap();
        assert_eq!(first.ca_pem, second.ca_pem);
        assert_ne!(server_crt, read(dir.path(), "server.crt"));
        assert_eq!(admin_crt, read(dir.path(), "admin.crt"));
        let sans = Leaf::load(dir.path(), "server").unwrap().sans();
        assert!(
            sans.contains("10.0.0.2") && !sans.contains("10.0.0.1"),
            "{sans:?}"
        );

        // The same set written differently is the same set.
        let reissued = read(dir.path(), "server.crt");
        ensure(dir.path(), &[" 10.0.0.2 ".into(), "".into()]).unwrap();
        assert_eq!(reissued, read(dir.path(), "server.crt"));
    }

    #[test]
    fn leaves_from_another_ca_are_reissued() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        ensure(a.path(), &[]).unwrap();
        ensure(b.path(), &[]).unwrap();
        for name in ["server.crt", "server.key", "admin.crt", "admin.key"] {
            fs::copy(b.path().join(name), a.path().join(name)).unwrap();
        }
        ensure(a.path(), &[]).unwrap();
        assert_ne!(read(a.path(), "server.crt"), read(b.path(), "server.crt"));
        assert_ne!(read(a.path(), "admin.crt"), read(b.path(), "admin.crt"));
    }

    #[test]
    fn a_ca_without_its_key_is_an_error_not_a_new_ca() {
        let dir = tempfile::tempdir().unwrap();
        ensure(dir.path(), &[]).unwrap();
        fs::remove_file(dir.path().join("ca.key")).unwrap();
        let err = ensure(dir.path(), &[]).unwrap_err().to_string();
        assert!(err.contains("ca.key") && err.contains("missing"), "{err}");
    }

    #[test]
    fn invalid_sans_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = ensure(dir.path(), &["not a name".into()]).unwrap_err();
        assert!(matches!(err, Error::InvalidSan { .. }), "{err}");
    }

    #[test]
    fn the_kubeconfig_is_private_and_names_everything_minikube_rs() {
        let dir = tempfile::tempdir().unwrap();
        let pki = ensure(&dir.path().join("tls"), &[]).unwrap();
        let path = dir.path().join("a/b/kubeconfig.yaml");
        write_kubeconfig(&path, "https://127.0.0.1:6443", &pki).unwrap();
        assert_eq!(mode(&path), 0o600);
        let config: serde_yaml::Value =
            serde_yaml::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(config["current-context"].as_str(), Some("minikube-rs"));
        assert_eq!(config["clusters"][0]["name"].as_str(), Some("minikube-rs"));
        assert_eq!(
            config["clusters"][0]["cluster"]["server"].as_str(),
            Some("https://127.0.0.1:6443")
        );
        assert_eq!(
            config["contexts"][0]["context"]["user"].as_str(),
            Some("minikube-rs")
        );
        let ca = config["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .unwrap();
        let ca = base64::engine::general_purpose::STANDARD
            .decode(ca)
            .unwrap();
        assert_eq!(String::from_utf8(ca).unwrap(), pki.ca_pem);
        let key = config["users"][0]["user"]["client-key-data"]
            .as_str()
            .unwrap();
        let key = base64::engine::general_purpose::STANDARD
            .decode(key)
            .unwrap();
        assert_eq!(String::from_utf8(key).unwrap(), pki.admin_key_pem);

        // Rewriting replaces the file in place; no temporary file is left behind.
        write_kubeconfig(&path, "https://127.0.0.1:7443", &pki).unwrap();
        assert!(fs::read_to_string(&path)
            .unwrap()
            .contains("https://127.0.0.1:7443"));
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    fn client_config(pki: &Pki, with_admin_cert: bool) -> rustls::ClientConfig {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = if with_admin_cert {
            let certs = CertificateDer::pem_slice_iter(pki.admin_cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(pki.admin_key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        } else {
            builder.with_no_client_auth()
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        config
    }

    /// Handshakes over an in-memory pipe; returns the server's view of the client identity
    /// and the negotiated ALPN protocol.
    async fn handshake(
        pki: &Pki,
        client: rustls::ClientConfig,
    ) -> (Option<(String, Vec<String>)>, Vec<u8>) {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config.clone());
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let server = tokio::spawn(async move {
            let mut tls = acceptor.accept(server_io).await.unwrap();
            let (_, conn) = tls.get_ref();
            let identity = conn.peer_certificates().and_then(client_identity);
            let alpn = conn.alpn_protocol().unwrap_or_default().to_vec();
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await.unwrap();
            tls.write_all(&buf).await.unwrap();
            tls.shutdown().await.unwrap();
            (identity, alpn)
        });
        let name = ServerName::try_from("kubernetes.default.svc").unwrap();
        let mut tls = connector.connect(name, client_io).await.unwrap();
        tls.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        server.await.unwrap()
    }

    #[tokio::test]
    async fn the_admin_certificate_authenticates_as_system_admin() {
        let dir = tempfile::tempdir().unwrap();
        let pki = ensure(dir.path(), &[]).unwrap();
        let (identity, alpn) = handshake(&pki, client_config(&pki, true)).await;
        assert_eq!(
            identity,
            Some((
                "system:admin".to_string(),
                vec!["system:masters".to_string()]
            ))
        );
        assert_eq!(alpn, b"h2");
    }

    #[tokio::test]
    async fn anonymous_clients_complete_the_handshake() {
        let dir = tempfile::tempdir().unwrap();
        let pki = ensure(dir.path(), &[]).unwrap();
        let (identity, _) = handshake(&pki, client_config(&pki, false)).await;
        assert_eq!(identity, None);
    }

    #[tokio::test]
    async fn a_reused_pki_still_handshakes() {
        let dir = tempfile::tempdir().unwrap();
        ensure(dir.path(), &[]).unwrap();
        let pki = ensure(dir.path(), &[]).unwrap();
        let (identity, _) = handshake(&pki, client_config(&pki, true)).await;
        assert_eq!(
            identity.map(|(user, _)| user).as_deref(),
            Some("system:admin")
        );
    }
}
