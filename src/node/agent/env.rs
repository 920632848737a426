//! A container's environment as the kubelet builds it: envFrom, then env with `$(VAR)`
//! expansion and valueFrom sources (downward API fields and resources, configMap and secret
//! keys), with the kubelet's CreateContainerConfigError messages.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, ObjectFieldSelector, Pod, ResourceFieldSelector, Secret};

use crate::client::Client;

/// What the kubelet reports as CreateContainerConfigError (the message is the kubelet's).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configmap \"{name}\" not found")]
    ConfigMapNotFound { name: String },
    #[error("secret \"{name}\" not found")]
    SecretNotFound { name: String },
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKeyNotFound { key: String, namespace: String, name: String },
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKeyNotFound { key: String, namespace: String, name: String },
    /// Reading a configMap or secret failed for another reason than NotFound.
    #[error("getting {what}: {source}")]
    Api { what: String, #[source] source: Box<crate::client::Error> },
    /// A fieldRef or resourceFieldRef the kubelet cannot resolve (message is the kubelet's).
    #[error("{0}")]
    DownwardApi(String),
    #[error("cannot find volume \"{volume}\" to mount into container \"{container}\"")]
    VolumeNotFound { volume: String, container: String },
    #[error("missing value for {0}")]
    SubPathExprMissing(String),
    #[error("error SubPath `{0}` must not be an absolute path")]
    SubPathAbsolute(String),
    #[error("unable to provision SubPath `{0}`: must not contain '..'")]
    SubPathBacksteps(String),
    #[error("failed to create subPath directory for volumeMount \"{mount}\" of container \"{container}\"")]
    SubPathCreate { mount: String, container: String },
    #[error("failed to prepare subPath for volumeMount \"{mount}\" of container \"{container}\"")]
    SubPathPrepare { mount: String, container: String },
    #[error("creating termination log {path}: {source}")]
    TerminationLog { path: std::path::PathBuf, #[source] source: std::io::Error },
}

/// Facts about the pod's node and network the environment (and downward API volumes) need.
#[derive(Clone, Debug, Default)]
pub struct EnvContext {
    /// The pod's IP once the sandbox has one (else `status.podIP(s)` of the pod is used).
    pub pod_ip: Option<String>,
    /// The node's IP (status.hostIP).
    pub host_ip: String,
    /// Node allocatable cpu in millicores: the default of an unset `limits.cpu`.
    pub node_allocatable_cpu_milli: i64,
    /// Node allocatable memory in bytes: the default of an unset `limits.memory`.
    pub node_allocatable_memory: i64,
}

/// The environment of a container, in Kubernetes' order: envFrom (configMapRef/secretRef with
/// prefix, optional; keys that cannot be environment variables skipped), then env (value with
/// `$(VAR)` expansion against earlier variables, `$$` escaping; valueFrom fieldRef,
/// resourceFieldRef, configMapKeyRef, secretKeyRef with optional). A later definition of a
/// name replaces the value in place (the kubelet keeps them in a map; this keeps the first
/// position so the result is stable).
pub async fn container_env(
    client: &Client,
    pod: &Pod,
    container: &Container,
    ctx: &EnvContext,
) -> Result<Vec<(String, String)>, ConfigError> {
    let span = tracing::debug_span!("container_env", pod = pod.metadata.name.as_deref().unwrap_or(""), container = %container.name);
    let _guard = span.enter();
    let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".to_string());
    let mut sources = Sources::new(client, &ns);
    let mut env = OrderedEnv::default();

    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or("");
        let pairs: Vec<(String, String)> = if let Some(r) = &from.config_map_ref {
            match sources.config_map(&r.name, r.optional.unwrap_or(false)).await? {
                Some(cm) => cm.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect(),
                None => continue,
            }
        } else if let Some(r) = &from.secret_ref {
            match sources.secret(&r.name, r.optional.unwrap_or(false)).await? {
                Some(s) => s
                    .data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
                    .collect(),
                None => continue,
            }
        } else {
            continue;
        };
        let mut skipped = Vec::new();
        for (k, v) in pairs {
            let name = format!("{prefix}{k}");
            if !is_usable_env_name(&name) || v.contains('\0') {
                skipped.push(name);
                continue;
            }
            env.set(name, v);
        }
        if !skipped.is_empty() {
            tracing::warn!(keys = ?skipped, "keys from envFrom skipped: not usable as environment variable names");
        }
    }

    let service_env = service_env_hook(client, pod).await;
    for var in container.env.iter().flatten() {
        let literal = var.value.as_deref().unwrap_or("");
        let value = if !literal.is_empty() {
            expand(literal, |name| env.get(name).or_else(|| service_env.get(name).map(String::as_str)).map(str::to_string))
        } else if let Some(from) = &var.value_from {
            if let Some(f) = &from.field_ref {
                field_ref_value(pod, f, ctx)?
            } else if let Some(r) = &from.resource_field_ref {
                resource_field_value(pod, container, r, ctx)?
            } else if let Some(r) = &from.config_map_key_ref {
                let optional = r.optional.unwrap_or(false);
                let Some(cm) = sources.config_map(&r.name, optional).await? else { continue };
                match cm.data.as_ref().and_then(|d| d.get(&r.key)) {
                    Some(v) => v.clone(),
                    None if optional => continue,
                    None => {
                        return Err(ConfigError::ConfigMapKeyNotFound { key: r.key.clone(), namespace: ns.clone(), name: r.name.clone() })
                    }
                }
            } else if let Some(r) = &from.secret_key_ref {
                let optional = r.optional.unwrap_or(false);
                let Some(s) = sources.secret(&r.name, optional).await? else { continue };
                match s.data.as_ref().and_then(|d| d.get(&r.key)) {
                    Some(v) => String::from_utf8_lossy(&v.0).into_owned(),
                    None if optional => continue,
                    None => return Err(ConfigError::SecretKeyNotFound { key: r.key.clone(), namespace: ns.clone(), name: r.name.clone() }),
                }
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        env.set(var.name.clone(), value);
    }

    let mut out = env.into_vec();
    for (k, v) in service_env {
        if !out.iter().any(|(n, _)| *n == k) {
            out.push((k, v));
        }
    }
    Ok(out)
}

/// Hook for the services issue: the `NAME_SERVICE_HOST`/`NAME_PORT...` variables of the
/// services the pod sees (its namespace when enableServiceLinks, plus default/kubernetes).
/// Returns none for now; the kubelet appends them after the container's own variables and
/// lets `$(VAR)` in `env` refer to them.
pub async fn service_env_hook(_client: &Client, _pod: &Pod) -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// Names runc can take: non-empty, no `=`, no NUL (Kubernetes 1.33 relaxed env var names).
fn is_usable_env_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('=') && !name.contains('\0')
}

/// Variables in definition order; a redefinition replaces the value in place.
#[derive(Default)]
struct OrderedEnv {
    vars: Vec<(String, String)>,
    index: BTreeMap<String, usize>,
}

impl OrderedEnv {
    fn set(&mut self, name: String, value: String) {
        match self.index.get(&name) {
            Some(&i) => self.vars[i].1 = value,
            None => {
                self.index.insert(name.clone(), self.vars.len());
                self.vars.push((name, value));
            }
        }
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|&i| self.vars[i].1.as_str())
    }
    fn into_vec(self) -> Vec<(String, String)> {
        self.vars
    }
}

/// ConfigMaps and secrets fetched once per container, as the kubelet caches them.
struct Sources<'a> {
    client: &'a Client,
    ns: &'a str,
    config_maps: BTreeMap<String, ConfigMap>,
    secrets: BTreeMap<String, Secret>,
}

impl<'a> Sources<'a> {
    fn new(client: &'a Client, ns: &'a str) -> Self {
        Sources { client, ns, config_maps: BTreeMap::new(), secrets: BTreeMap::new() }
    }

    /// The configMap, None when it is missing and optional.
    async fn config_map(&mut self, name: &str, optional: bool) -> Result<Option<&ConfigMap>, ConfigError> {
        if !self.config_maps.contains_key(name) {
            match get_config_map(self.client, self.ns, name).await? {
                Some(cm) => {
                    self.config_maps.insert(name.to_string(), cm);
                }
                None if optional => return Ok(None),
                None => return Err(ConfigError::ConfigMapNotFound { name: name.to_string() }),
            }
        }
        Ok(self.config_maps.get(name))
    }

    /// The secret, None when it is missing and optional.
    async fn secret(&mut self, name: &str, optional: bool) -> Result<Option<&Secret>, ConfigError> {
        if !self.secrets.contains_key(name) {
            match get_secret(self.client, self.ns, name).await? {
                Some(s) => {
                    self.secrets.insert(name.to_string(), s);
                }
                None if optional => return Ok(None),
                None => return Err(ConfigError::SecretNotFound { name: name.to_string() }),
            }
        }
        Ok(self.secrets.get(name))
    }
}

/// Reads a configMap; Ok(None) when it does not exist.
pub(crate) async fn get_config_map(client: &Client, ns: &str, name: &str) -> Result<Option<ConfigMap>, ConfigError> {
    let what = || format!("configmap {ns}/{name}");
    let api = client.api::<ConfigMap>(Some(ns)).map_err(|source| ConfigError::Api { what: what(), source: Box::new(source) })?;
    api.get_opt(name).await.map_err(|source| ConfigError::Api { what: what(), source: Box::new(source) })
}

/// Reads a secret; Ok(None) when it does not exist.
pub(crate) async fn get_secret(client: &Client, ns: &str, name: &str) -> Result<Option<Secret>, ConfigError> {
    let what = || format!("secret {ns}/{name}");
    let api = client.api::<Secret>(Some(ns)).map_err(|source| ConfigError::Api { what: what(), source: Box::new(source) })?;
    api.get_opt(name).await.map_err(|source| ConfigError::Api { what: what(), source: Box::new(source) })
}

/// Kubernetes' `$(VAR)` expansion: `$$` is a literal `$`, an unknown or unterminated
/// reference stays as written, `$` before anything else stays as written.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest.as_bytes()[0] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest.find(')') {
                    Some(close) => {
                        let name = &rest[1..close];
                        match lookup(name) {
                            Some(v) => out.push_str(&v),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        close + 1
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    // `$` and the next character, copied as they are.
                    let ch = rest.chars().next().map_or(1, char::len_utf8);
                    out.push('$');
                    out.push_str(&rest[..ch]);
                    ch
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    if checkpoint < input.len() {
        out.push_str(&input[checkpoint..]);
    }
    out
}

/// The pod's IPs: the sandbox's when known, else the pod status'.
fn pod_ips(pod: &Pod, ctx: &EnvContext) -> Vec<String> {
    if let Some(ip) = ctx.pod_ip.as_ref().filter(|ip| !ip.is_empty()) {
        return vec![ip.clone()];
    }
    let status = pod.status.as_ref();
    let ips: Vec<String> = status.and_then(|s| s.pod_ips.as_ref()).into_iter().flatten().map(|p| p.ip.clone()).collect();
    if !ips.is_empty() {
        return ips;
    }
    status.and_then(|s| s.pod_ip.clone()).into_iter().filter(|ip| !ip.is_empty()).collect()
}

/// An env var's fieldRef, as the kubelet's podFieldSelectorRuntimeValue resolves it.
fn field_ref_value(pod: &Pod, f: &ObjectFieldSelector, ctx: &EnvContext) -> Result<String, ConfigError> {
    let version = f.api_version.as_deref().unwrap_or("v1");
    if version != "v1" {
        return Err(ConfigError::DownwardApi(format!("unsupported pod version: {version}")));
    }
    let path = convert_field_label(&f.field_path)?;
    let spec = pod.spec.as_ref();
    let ips = pod_ips(pod, ctx);
    Ok(match path.as_str() {
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => ctx.host_ip.clone(),
        "status.podIP" => ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => ips.join(","),
        _ => extract_field_path(pod, &path)?,
    })
}

/// ConvertDownwardAPIFieldLabel: the field paths a pod's downward API accepts.
fn convert_field_label(label: &str) -> Result<String, ConfigError> {
    if let Some((path, _)) = split_subscript(label) {
        return match path {
            "metadata.annotations" | "metadata.labels" => Ok(label.to_string()),
            _ => Err(ConfigError::DownwardApi(format!("field label does not support subscript: {label}"))),
        };
    }
    match label {
        "metadata.annotations" | "metadata.labels" | "metadata.name" | "metadata.namespace" | "metadata.uid"
        | "spec.nodeName" | "spec.restartPolicy" | "spec.serviceAccountName" | "spec.schedulerName" | "status.phase"
        | "status.hostIP" | "status.hostIPs" | "status.podIP" | "status.podIPs" => Ok(label.to_string()),
        "spec.host" => Ok("spec.nodeName".to_string()),
        _ => Err(ConfigError::DownwardApi(format!("field label not supported: {label}"))),
    }
}

/// `metadata.labels['key']` → ("metadata.labels", "key").
fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_suffix("']")?;
    let open = rest.find("['")?;
    Some((&rest[..open], &rest[open + 2..]))
}

/// fieldpath.ExtractFieldPathAsString: the metadata fields of a pod as text; whole label and
/// annotation maps as sorted `key="value"` lines.
pub(crate) fn extract_field_path(pod: &Pod, path: &str) -> Result<String, ConfigError> {
    let meta = &pod.metadata;
    if let Some((map, key)) = split_subscript(path) {
        let m = match map {
            "metadata.annotations" => meta.annotations.as_ref(),
            "metadata.labels" => meta.labels.as_ref(),
            _ => return Err(ConfigError::DownwardApi(format!("fieldPath {path:?} does not support subscript"))),
        };
        return Ok(m.and_then(|m| m.get(key)).cloned().unwrap_or_default());
    }
    Ok(match path {
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        _ => return Err(ConfigError::DownwardApi(format!("unsupported fieldPath: {path}"))),
    })
}

/// fieldpath.FormatMap: `key="value"` lines in key order, values quoted as Go's %q does.
fn format_map(m: Option<&BTreeMap<String, String>>) -> String {
    m.into_iter().flatten().map(|(k, v)| format!("{k}={}", crate::registry::fields::go_quote(v))).collect::<Vec<_>>().join("\n")
}

/// A resourceFieldRef's value for `container` (or the container it names), limits defaulted
/// to the node's allocatable as the kubelet does for the downward API.
pub(crate) fn resource_field_value(
    pod: &Pod,
    container: &Container,
    r: &ResourceFieldSelector,
    ctx: &EnvContext,
) -> Result<String, ConfigError> {
    let target = match r.container_name.as_deref().filter(|n| !n.is_empty()) {
        None => container,
        Some(name) => find_container(pod, name).ok_or_else(|| ConfigError::DownwardApi(format!("container {name} not found")))?,
    };
    container_resource_value(target, r, ctx)
}

fn find_container<'p>(pod: &'p Pod, name: &str) -> Option<&'p Container> {
    let spec = pod.spec.as_ref()?;
    spec.containers.iter().chain(spec.init_containers.iter().flatten()).find(|c| c.name == name)
}

/// ExtractContainerResourceValue with limits defaulted to node allocatable.
fn container_resource_value(c: &Container, r: &ResourceFieldSelector, ctx: &EnvContext) -> Result<String, ConfigError> {
    let bad = |q: &str| ConfigError::DownwardApi(format!("unable to parse quantity {q:?} of {}", r.resource));
    let divisor = match r.divisor.as_ref().map(|q| q.0.as_str()) {
        None => Rational::ONE,
        Some(q) => match Rational::parse(q).ok_or_else(|| bad(q))? {
            d if d.num == 0 => Rational::ONE,
            d => d,
        },
    };
    let res = c.resources.as_ref();
    let get = |list: &str, name: &str| -> Option<&str> {
        let m = if list == "limits" { res.and_then(|r| r.limits.as_ref()) } else { res.and_then(|r| r.requests.as_ref()) };
        m.and_then(|m| m.get(name)).map(|q| q.0.as_str())
    };
    let Some((list, name)) = r.resource.split_once('.') else {
        return Err(ConfigError::DownwardApi(format!("unsupported container resource : {}", r.resource)));
    };
    let is_cpu = name == "cpu";
    let known = matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-");
    if !matches!(list, "limits" | "requests") || !known {
        return Err(ConfigError::DownwardApi(format!("unsupported container resource : {}", r.resource)));
    }
    let value = match get(list, name) {
        Some(q) => Rational::parse(q).ok_or_else(|| bad(q))?,
        None if list == "limits" && is_cpu => Rational { num: i128::from(ctx.node_allocatable_cpu_milli), den: 1000 },
        None if list == "limits" && name == "memory" => Rational { num: i128::from(ctx.node_allocatable_memory), den: 1 },
        None => Rational::ZERO,
    };
    let out = if is_cpu {
        // ceil(MilliValue(cpu) / MilliValue(divisor))
        ceil_div(value.milli_value(), divisor.milli_value())
    } else {
        ceil_div(value.value(), divisor.value())
    };
    Ok(out.to_string())
}

fn ceil_div(a: i128, b: i128) -> i128 {
    if b == 0 {
        return 0;
    }
    let q = a / b;
    if (a % b != 0) && ((a > 0) == (b > 0)) { q + 1 } else { q }
}

/// A quantity as an exact fraction, for the downward API's rounded-up values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rational {
    pub num: i128,
    pub den: i128,
}

impl Rational {
    const ONE: Rational = Rational { num: 1, den: 1 };
    const ZERO: Rational = Rational { num: 0, den: 1 };

    /// Parses a resource.Quantity ("200m", "1.5Gi", "1e3", "128974848").
    pub fn parse(q: &str) -> Option<Rational> {
        let q = q.trim();
        let (negative, q) = match q.as_bytes().first()? {
            b'-' => (true, &q[1..]),
            b'+' => (false, &q[1..]),
            _ => (false, q),
        };
        let split = q.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(q.len());
        let (number, suffix) = q.split_at(split);
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let digits = format!("{int}{frac}");
        let mut num: i128 = digits.parse().ok()?;
        let mut den: i128 = 10i128.checked_pow(u32::try_from(frac.len()).ok()?)?;
        let pow10 = |e: u32| 10i128.checked_pow(e);
        match suffix {
            "" => {}
            "n" => den = den.checked_mul(pow10(9)?)?,
            "u" => den = den.checked_mul(pow10(6)?)?,
            "m" => den = den.checked_mul(pow10(3)?)?,
            "k" => num = num.checked_mul(pow10(3)?)?,
            "M" => num = num.checked_mul(pow10(6)?)?,
            "G" => num = num.checked_mul(pow10(9)?)?,
            "T" => num = num.checked_mul(pow10(12)?)?,
            "P" => num = num.checked_mul(pow10(15)?)?,
            "E" => num = num.checked_mul(pow10(18)?)?,
            "Ki" => num = num.checked_mul(1 << 10)?,
            "Mi" => num = num.checked_mul(1 << 20)?,
            "Gi" => num = num.checked_mul(1 << 30)?,
            "Ti" => num = num.checked_mul(1 << 40)?,
            "Pi" => num = num.checked_mul(1 << 50)?,
            "Ei" => num = num.checked_mul(1 << 60)?,
            s if s.len() > 1 && (s.starts_with('e') || s.starts_with('E')) => {
                let e: i32 = s[1..].parse().ok()?;
                if e >= 0 {
                    num = num.checked_mul(pow10(e.unsigned_abs())?)?;
                } else {
                    den = den.checked_mul(pow10(e.unsigned_abs())?)?;
                }
            }
            _ => return None,
        }
        Some(Rational { num: if negative { -num } else { num }, den })
    }

    /// Quantity.Value(): rounded up to a whole unit.
    pub fn value(&self) -> i128 {
        ceil_div(self.num, self.den)
    }

    /// Quantity.MilliValue(): rounded up to a whole thousandth.
    pub fn milli_value(&self) -> i128 {
        ceil_div(self.num.saturating_mul(1000), self.den)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ConfigMapEnvSource, ConfigMapKeySelector, EnvFromSource, EnvVar, EnvVarSource, Namespace, PodSpec, PodStatus,
        ResourceRequirements, SecretEnvSource, SecretKeySelector,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::ByteString;
    use std::sync::Arc;

    /// A client over a fresh in-memory store, with namespace `default`.
    pub(crate) async fn test_client() -> Client {
        let opts = crate::store::StoreOptions {
            history_revisions: 1_000_000,
            compaction_interval: std::time::Duration::from_secs(3600),
        };
        let store = crate::store::Store::open_with_backend(Arc::new(crate::store::recording::RecordingBackend::default()), opts)
            .expect("store over the recording backend");
        let client = Client::new(crate::registry::generic::Registry::new(store), "kubelet");
        let ns = Namespace { metadata: ObjectMeta { name: Some("default".into()), ..Default::default() }, ..Default::default() };
        client.api::<Namespace>(None).unwrap().create(&ns).await.expect("namespace default");
        client
    }

    pub(crate) async fn make_config_map(client: &Client, name: &str, data: &[(&str, &str)]) {
        let cm = ConfigMap {
            metadata: ObjectMeta { name: Some(name.into()), namespace: Some("default".into()), ..Default::default() },
            data: Some(data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..Default::default()
        };
        client.api::<ConfigMap>(Some("default")).unwrap().create(&cm).await.expect("create configmap");
    }

    pub(crate) async fn make_secret(client: &Client, name: &str, data: &[(&str, &str)]) {
        let s = Secret {
            metadata: ObjectMeta { name: Some(name.into()), namespace: Some("default".into()), ..Default::default() },
            data: Some(data.iter().map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec()))).collect()),
            ..Default::default()
        };
        client.api::<Secret>(Some("default")).unwrap().create(&s).await.expect("create secret");
    }

    pub(crate) fn pod_with(container: Container) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("0b6c5c52-4c1e-4a3b-9d7e-2f1a0c9d8e7f".into()),
                labels: Some([("app".to_string(), "web".to_string()), ("tier".to_string(), "a \"b\"".to_string())].into()),
                annotations: Some([("note".to_string(), "hi".to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![container],
                node_name: Some("node1".into()),
                service_account_name: Some("default".into()),
                ..Default::default()
            }),
            status: Some(PodStatus { pod_ip: Some("10.42.0.9".into()), ..Default::default() }),
        }
    }

    fn ctx() -> EnvContext {
        EnvContext {
            pod_ip: Some("10.42.0.7".into()),
            host_ip: "10.200.0.2".into(),
            node_allocatable_cpu_milli: 2000,
            node_allocatable_memory: 4 << 30,
        }
    }

    fn lit(name: &str, value: &str) -> EnvVar {
        EnvVar { name: name.into(), value: Some(value.into()), ..Default::default() }
    }

    fn from(name: &str, source: EnvVarSource) -> EnvVar {
        EnvVar { name: name.into(), value_from: Some(source), ..Default::default() }
    }

    fn field(path: &str) -> EnvVarSource {
        EnvVarSource { field_ref: Some(ObjectFieldSelector { field_path: path.into(), api_version: None }), ..Default::default() }
    }

    fn resource(res: &str, divisor: Option<&str>) -> EnvVarSource {
        EnvVarSource {
            resource_field_ref: Some(ResourceFieldSelector {
                resource: res.into(),
                divisor: divisor.map(|d| Quantity(d.into())),
                container_name: None,
            }),
            ..Default::default()
        }
    }

    fn cm_key(name: &str, key: &str, optional: bool) -> EnvVarSource {
        EnvVarSource {
            config_map_key_ref: Some(ConfigMapKeySelector { name: name.into(), key: key.into(), optional: Some(optional) }),
            ..Default::default()
        }
    }

    fn secret_key(name: &str, key: &str, optional: bool) -> EnvVarSource {
        EnvVarSource {
            secret_key_ref: Some(SecretKeySelector { name: name.into(), key: key.into(), optional: Some(optional) }),
            ..Default::default()
        }
    }

    fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
        v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
    }

    #[test]
    fn expansion_follows_kubernetes_rules() {
        let vars: BTreeMap<&str, &str> = [("A", "1"), ("B", "two")].into();
        let e = |s: &str| expand(s, |n| vars.get(n).map(|v| v.to_string()));
        assert_eq!(e("$(A)-$(B)"), "1-two");
        assert_eq!(e("$$(A)"), "$(A)");
        assert_eq!(e("$$$(A)"), "$1");
        assert_eq!(e("$(C)"), "$(C)");
        assert_eq!(e("$(A"), "$(A");
        assert_eq!(e("a$b"), "a$b");
        assert_eq!(e("end$"), "end$");
        assert_eq!(e("$()"), "$()");
        assert_eq!(e("€$(A)€"), "€1€");
        assert_eq!(e("$€"), "$€");
    }

    #[test]
    fn quantities_round_up_like_resource_quantity() {
        let r = |q: &str| Rational::parse(q).unwrap();
        assert_eq!(r("200m").milli_value(), 200);
        assert_eq!(r("200m").value(), 1);
        assert_eq!(r("1.5").milli_value(), 1500);
        assert_eq!(r("128Mi").value(), 134217728);
        assert_eq!(r("1e3").value(), 1000);
        assert_eq!(r("1G").value(), 1_000_000_000);
        assert_eq!(r("100n").milli_value(), 1);
        assert!(Rational::parse("abc").is_none());
    }

    #[tokio::test]
    async fn envfrom_then_env_with_expansion_and_sources() {
        let client = test_client().await;
        make_config_map(&client, "cm", &[("COLOR", "blue"), ("SIZE", "L")]).await;
        make_secret(&client, "s", &[("TOKEN", "t0p")]).await;
        let c = Container {
            name: "app".into(),
            env_from: Some(vec![
                EnvFromSource { config_map_ref: Some(ConfigMapEnvSource { name: "cm".into(), optional: None }), ..Default::default() },
                EnvFromSource {
                    prefix: Some("S_".into()),
                    secret_ref: Some(SecretEnvSource { name: "s".into(), optional: None }),
                    ..Default::default()
                },
                EnvFromSource {
                    config_map_ref: Some(ConfigMapEnvSource { name: "absent".into(), optional: Some(true) }),
                    ..Default::default()
                },
            ]),
            env: Some(vec![
                lit("SIZE", "XL"),
                lit("GREETING", "hello $(COLOR) $(NOPE) $$(COLOR)"),
                from("POD", field("metadata.name")),
                lit("LATER", "$(POD)/$(S_TOKEN)"),
                from("NS", field("metadata.namespace")),
                from("UID", field("metadata.uid")),
                from("APP", field("metadata.labels['app']")),
                from("LABELS", field("metadata.labels")),
                from("NOTE", field("metadata.annotations['note']")),
                from("NODE", field("spec.nodeName")),
                from("SA", field("spec.serviceAccountName")),
                from("HOST", field("status.hostIP")),
                from("HOSTS", field("status.hostIPs")),
                from("IP", field("status.podIP")),
                from("IPS", field("status.podIPs")),
                from("K", cm_key("cm", "COLOR", false)),
                from("S", secret_key("s", "TOKEN", false)),
                from("OPT", cm_key("cm", "missing", true)),
                from("OPT2", secret_key("nosuch", "k", true)),
                EnvVar { name: "EMPTY".into(), ..Default::default() },
            ]),
            ..Default::default()
        };
        let pod = pod_with(c.clone());
        let env = container_env(&client, &pod, &c, &ctx()).await.unwrap();
        assert_eq!(
            pairs(&env),
            vec![
                ("COLOR", "blue"),
                ("SIZE", "XL"),
                ("S_TOKEN", "t0p"),
                ("GREETING", "hello blue $(NOPE) $(COLOR)"),
                ("POD", "web"),
                ("LATER", "web/t0p"),
                ("NS", "default"),
                ("UID", "0b6c5c52-4c1e-4a3b-9d7e-2f1a0c9d8e7f"),
                ("APP", "web"),
                ("LABELS", "app=\"web\"\ntier=\"a \\\"b\\\"\""),
                ("NOTE", "hi"),
                ("NODE", "node1"),
                ("SA", "default"),
                ("HOST", "10.200.0.2"),
                ("HOSTS", "10.200.0.2"),
                ("IP", "10.42.0.7"),
                ("IPS", "10.42.0.7"),
                ("K", "blue"),
                ("S", "t0p"),
                ("EMPTY", ""),
            ]
        );
    }

    #[tokio::test]
    async fn resource_field_refs_default_limits_to_node_allocatable() {
        let client = test_client().await;
        let mut c = Container {
            name: "app".into(),
            env: Some(vec![
                from("CPU_LIMIT", resource("limits.cpu", None)),
                from("CPU_LIMIT_M", resource("limits.cpu", Some("1m"))),
                from("MEM_LIMIT", resource("limits.memory", None)),
                from("MEM_LIMIT_MI", resource("limits.memory", Some("1Mi"))),
                from("CPU_REQ", resource("requests.cpu", Some("1m"))),
                from("MEM_REQ", resource("requests.memory", None)),
            ]),
            ..Default::default()
        };
        let pod = pod_with(c.clone());
        let env = container_env(&client, &pod, &c, &ctx()).await.unwrap();
        assert_eq!(
            pairs(&env),
            vec![
                ("CPU_LIMIT", "2"),
                ("CPU_LIMIT_M", "2000"),
                ("MEM_LIMIT", "4294967296"),
                ("MEM_LIMIT_MI", "4096"),
                ("CPU_REQ", "0"),
                ("MEM_REQ", "0"),
            ]
        );
        c.resources = Some(ResourceRequirements {
            limits: Some([("cpu".to_string(), Quantity("250m".into())), ("memory".to_string(), Quantity("128Mi".into()))].into()),
            requests: Some([("cpu".to_string(), Quantity("100m".into())), ("memory".to_string(), Quantity("100M".into()))].into()),
            ..Default::default()
        });
        let pod = pod_with(c.clone());
        let env = container_env(&client, &pod, &c, &ctx()).await.unwrap();
        assert_eq!(
            pairs(&env),
            vec![
                ("CPU_LIMIT", "1"),
                ("CPU_LIMIT_M", "250"),
                ("MEM_LIMIT", "134217728"),
                ("MEM_LIMIT_MI", "128"),
                ("CPU_REQ", "100"),
                ("MEM_REQ", "100000000"),
            ]
        );
    }

    async fn env_error(client: &Client, var: EnvVar) -> String {
        let c = Container { name: "app".into(), env: Some(vec![var]), ..Default::default() };
        let pod = pod_with(c.clone());
        container_env(client, &pod, &c, &ctx()).await.unwrap_err().to_string()
    }

    #[tokio::test]
    async fn errors_carry_the_kubelet_messages() {
        let client = test_client().await;
        make_config_map(&client, "cm", &[("a", "1")]).await;
        make_secret(&client, "s", &[("a", "1")]).await;
        assert_eq!(env_error(&client, from("X", cm_key("nope", "k", false))).await, "configmap \"nope\" not found");
        assert_eq!(env_error(&client, from("X", cm_key("cm", "k", false))).await, "couldn't find key k in ConfigMap default/cm");
        assert_eq!(env_error(&client, from("X", secret_key("nope", "k", false))).await, "secret \"nope\" not found");
        assert_eq!(env_error(&client, from("X", secret_key("s", "k", false))).await, "couldn't find key k in Secret default/s");
        assert_eq!(env_error(&client, from("X", field("spec.nope"))).await, "field label not supported: spec.nope");
        assert_eq!(env_error(&client, from("X", field("spec.restartPolicy"))).await, "unsupported fieldPath: spec.restartPolicy");
        assert_eq!(env_error(&client, from("X", resource("limits.gpu", None))).await, "unsupported container resource : limits.gpu");
        let c = Container {
            name: "app".into(),
            env_from: Some(vec![EnvFromSource {
                secret_ref: Some(SecretEnvSource { name: "gone".into(), optional: Some(false) }),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let pod = pod_with(c.clone());
        assert_eq!(container_env(&client, &pod, &c, &ctx()).await.unwrap_err().to_string(), "secret \"gone\" not found");
    }
}
