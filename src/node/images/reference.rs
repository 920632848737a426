//! Image references: parsing and normalizing names the way the kubelet and containerd do
//! ("busybox" → "docker.io/library/busybox:latest").

use super::Error;

/// The default registry of unqualified names.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Docker Hub's legacy host name, folded into [`DEFAULT_DOMAIN`].
const LEGACY_DOMAIN: &str = "index.docker.io";
/// The namespace of single-component Docker Hub names.
const OFFICIAL_NAMESPACE: &str = "library";
/// The tag of references that name neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
/// Longest repository name the reference grammar accepts.
const NAME_MAX: usize = 255;
/// Longest tag.
const TAG_MAX: usize = 128;

/// A parsed, normalized image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// Registry host (and port), e.g. "docker.io" or "localhost:5000".
    pub domain: String,
    /// Path below the registry, e.g. "library/busybox".
    pub path: String,
    /// The tag; "latest" when neither tag nor digest was given.
    pub tag: Option<String>,
    /// "sha256:<hex>" when the reference pins a digest.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and normalizes `reference`; errors carry Kubernetes' InvalidImageName wording.
    pub fn parse(reference: &str) -> Result<Reference, Error> {
        let invalid = |reason: &str| Error::InvalidName {
            name: reference.to_string(),
            reason: reason.to_string(),
        };
        const FORMAT: &str = "invalid reference format";
        if reference.is_empty() {
            return Err(invalid("repository name must have at least one component"));
        }
        if reference.len() == 64 && is_hex(reference) {
            return Err(invalid(&format!(
                "invalid repository name ({reference}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (name_tag, digest) = match reference.split_once('@') {
            Some((name_tag, digest)) => (name_tag, Some(digest)),
            None => (reference, None),
        };
        if let Some(digest) = digest {
            check_digest(digest).map_err(|()| invalid(FORMAT))?;
        }
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => (&name_tag[..last_slash + i], Some(&name_tag[last_slash + i + 1..])),
            None => (name_tag, None),
        };
        if let Some(tag) = tag {
            if !valid_tag(tag) {
                return Err(invalid(FORMAT));
            }
        }
        if name.len() > NAME_MAX {
            return Err(invalid(&format!("repository name must not be more than {NAME_MAX} characters")));
        }
        let (domain, path) = split_domain(name);
        if let Some(domain) = domain {
            if !valid_domain(domain) {
                return Err(invalid(FORMAT));
            }
        }
        let domain = match domain {
            None | Some(LEGACY_DOMAIN) => DEFAULT_DOMAIN.to_string(),
            Some(domain) => domain.to_string(),
        };
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("{OFFICIAL_NAMESPACE}/{path}")
        } else {
            path.to_string()
        };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(invalid(&format!("{FORMAT}: repository name ({path}) must be lowercase")));
        }
        if !path.split('/').all(valid_path_component) {
            return Err(invalid(FORMAT));
        }
        let tag = match (tag, digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (tag, _) => tag.map(str::to_string),
        };
        Ok(Reference { domain, path, tag, digest: digest.map(str::to_string) })
    }

    /// "domain/path", e.g. "docker.io/library/busybox".
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// "domain/path:tag" when tagged (the form image names are stored under).
    pub fn tagged(&self) -> Option<String> {
        self.tag.as_ref().map(|tag| format!("{}:{tag}", self.repository()))
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.repository())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Splits "host[:port]/rest" when the first component looks like a registry host.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// `host(:port)?` with DNS-like labels.
fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    !host.is_empty() && host.split('.').all(label_ok) && port_ok
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = separator == "." || separator == "_" || separator == "__" || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    tag.len() <= TAG_MAX
        && chars.next().is_some_and(word)
        && chars.all(|c| word(c) || c == '.' || c == '-')
}

/// "algorithm:hex" with sha256 checked for its length.
fn check_digest(digest: &str) -> Result<(), ()> {
    let (algorithm, hex) = digest.split_once(':').ok_or(())?;
    let algorithm_ok = algorithm.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && algorithm.chars().all(|c| c.is_ascii_alphanumeric() || "-_+.".contains(c));
    let hex_ok = hex.len() >= 32 && is_hex(hex) && (algorithm != "sha256" || hex.len() == 64);
    if algorithm_ok && hex_ok { Ok(()) } else { Err(()) }
}

/// Lower- or upper-case hexadecimal digits only.
pub(crate) fn is_hex(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(reference: &str) -> String {
        Reference::parse(reference).map(|r| r.to_string()).unwrap_or_else(|e| format!("error: {e}"))
    }

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn docker_hub_names_get_the_domain_library_and_latest() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("foo/bar:1"), "docker.io/foo/bar:1");
        assert_eq!(norm("docker.io/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("index.docker.io/library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("minikube-rs/webserver"), "docker.io/minikube-rs/webserver:latest");
    }

    #[test]
    fn registries_with_hosts_and_ports_are_kept() {
        assert_eq!(norm("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(norm("localhost/x:1"), "localhost/x:1");
        assert_eq!(norm("registry.k8s.io/pause:3.10"), "registry.k8s.io/pause:3.10");
        assert_eq!(norm("127.0.0.1:5000/a/b/c:v1.0-rc_1"), "127.0.0.1:5000/a/b/c:v1.0-rc_1");
        // a single component is never a registry, even with a port-like tag
        assert_eq!(norm("foo:5000"), "docker.io/library/foo:5000");
    }

    #[test]
    fn digests_are_kept_and_suppress_the_default_tag() {
        assert_eq!(norm(&format!("busybox@sha256:{HEX}")), format!("docker.io/library/busybox@sha256:{HEX}"));
        assert_eq!(
            norm(&format!("busybox:1.36@sha256:{HEX}")),
            format!("docker.io/library/busybox:1.36@sha256:{HEX}")
        );
    }

    #[test]
    fn invalid_names_say_so_like_kubernetes() {
        for bad in ["", "Busybox", "busybox:", "busybox:-x", "a//b", "-a", "a-", "busybox@sha256:12", "a b", "a/b/", ":tag", "busybox:tag@bad"] {
            match Reference::parse(bad) {
                Err(Error::InvalidName { name, reason }) => {
                    assert_eq!(name, bad);
                    assert!(!reason.is_empty());
                }
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        let err = Reference::parse("Busybox").unwrap_err().to_string();
        assert_eq!(
            err,
            "couldn't parse image name \"Busybox\": invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert!(Reference::parse(HEX).unwrap_err().to_string().contains("64-byte hexadecimal"));
        assert!(Reference::parse(&"a".repeat(256)).is_err());
    }

    #[test]
    fn separators_in_path_components() {
        assert!(Reference::parse("a.b/c__d/e---f").is_ok());
        assert!(Reference::parse("a/b___c").is_err());
        assert!(Reference::parse("a/b..c").is_err());
    }
}
