//! Field validation (`fieldValidation=Strict|Warn|Ignore`): the fields of a written object
//! that its kind's type has no field for, and the fields a raw request body repeats. They are
//! dropped, as decoding into Go structs drops them, and reported as the apiserver words them: a
//! 400 (422 for patches) under Strict, `Warning` headers under Warn, nothing under Ignore.
//! The write path (`generic`) calls the checks; the HTTP layer scans raw bodies, parses the
//! directive and turns the request's warnings into headers.

use super::generic::PatchType;
use super::status::StatusError;
use super::ResourceDef;
use k8s_openapi::api;
use k8s_openapi::schemars::generate::SchemaSettings;
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::sync::OnceLock;

/// What a write does with unknown and duplicate fields (`metav1.FieldValidation*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Directive {
    /// Drop them silently.
    Ignore,
    /// Drop them and say so in `Warning` headers: what a request without the parameter gets.
    #[default]
    Warn,
    /// Reject the request.
    Strict,
}

impl Directive {
    /// The `fieldValidation` query parameter; unset or empty is Warn (apiserver's
    /// `fieldValidation()` default). None for a value the apiserver does not accept.
    pub fn from_query(value: Option<&str>) -> Option<Directive> {
        match value.unwrap_or("") {
            "" | "Warn" => Some(Directive::Warn),
            "Ignore" => Some(Directive::Ignore),
            "Strict" => Some(Directive::Strict),
            _ => None,
        }
    }

    /// Checks the parameter as `ValidateCreateOptions` (and its Update and Patch twins) do;
    /// `options_kind` is "CreateOptions", "UpdateOptions" or "PatchOptions".
    pub fn check_query(value: Option<&str>, options_kind: &str) -> Result<Directive, StatusError> {
        if let Some(d) = Self::from_query(value) {
            return Ok(d);
        }
        let bad = value.unwrap_or("");
        let body =
            format!("Unsupported value: {}: supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"", go_quote(bad));
        Err(StatusError::new(
            422,
            "Invalid",
            format!("{options_kind}.meta.k8s.io \"\" is invalid: fieldValidation: {body}"),
        )
        .with_details(json!({
            "group": "meta.k8s.io",
            "kind": options_kind,
            "causes": [{"reason": "FieldValueNotSupported", "message": body, "field": "fieldValidation"}],
        })))
    }

    fn checks(self) -> bool {
        self != Directive::Ignore
    }
}

/// The field validation of one write request.
#[derive(Debug, Clone, Default)]
pub struct FieldValidation {
    pub directive: Directive,
    /// Strict-decoding errors the HTTP layer found in the raw request body, worded and ordered
    /// as upstream reports them. For a create or update body the list is complete (unknown
    /// fields included); for a patch it holds the patch document's own errors (its duplicate
    /// fields), to which the unknown fields of the patched object are added. None: the body
    /// was not scanned (in-process writes), so only the decoded object is looked at.
    pub body_errors: Option<Vec<String>>,
}

impl FieldValidation {
    pub fn new(directive: Directive) -> FieldValidation {
        FieldValidation { directive, body_errors: None }
    }
}

// ---------------------------------------------------------------------------------------------
// Checks the write path calls.

/// A create or update (PUT) body: drops the fields `def`'s type does not have and reports them,
/// with the body's duplicate fields, as the apiserver's strict decoder does:
/// `Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: …`.
pub fn check_body(def: &ResourceDef, obj: &mut Value, fv: &FieldValidation) -> Result<(), StatusError> {
    let unknown = prune(def, obj);
    if !fv.directive.checks() {
        return Ok(());
    }
    let errors = match &fv.body_errors {
        Some(errors) => errors.clone(),
        None => unknown.iter().map(|p| unknown_error(p)).collect(),
    };
    report(fv.directive, &errors, || decode_error(def, &errors))
}

/// An object an update computed (read-modify-write): drops unknown fields, reporting them as a
/// body's. What `check_body` and `check_patch` already cleaned finds nothing here.
pub fn check_object(def: &ResourceDef, obj: &mut Value, directive: Directive) -> Result<(), StatusError> {
    let unknown = prune(def, obj);
    if unknown.is_empty() {
        return Ok(());
    }
    if !has_warning_scope() {
        tracing::warn!(kind = def.kind, fields = ?unknown, "an in-process write carried unknown fields; dropped");
    }
    if !directive.checks() {
        return Ok(());
    }
    let errors: Vec<String> = unknown.iter().map(|p| unknown_error(p)).collect();
    report(directive, &errors, || decode_error(def, &errors))
}

/// A patched object: drops unknown fields and reports them after the patch document's own
/// errors, as the apiserver's patch handler does: 422 `patch: Invalid value: …: strict decoding
/// error: …`. Apply patches are left to server-side apply, which has its own schema errors.
pub fn check_patch(
    def: &ResourceDef,
    patched: &mut Value,
    patch_type: PatchType,
    patch: &Value,
    fv: &FieldValidation,
) -> Result<(), StatusError> {
    if patch_type == PatchType::Apply {
        return Ok(());
    }
    let unknown = unknown_fields(def, patched);
    if !fv.directive.checks() {
        if !unknown.is_empty() {
            prune(def, patched);
        }
        return Ok(());
    }
    let mut errors = fv.body_errors.clone().unwrap_or_default();
    match patch_type {
        // strategicPatchObject: the unknown fields come from converting the patched map, sorted.
        PatchType::Strategic => {
            let mut u: Vec<String> = unknown.iter().map(|p| format!("unknown field \"{p}\"")).collect();
            u.sort();
            errors.extend(u);
        }
        // jsonPatcher: the patched JSON decoded strictly.
        _ => errors.extend(unknown.iter().map(|p| unknown_error(p))),
    }
    // The value shown: the patch map printed with %+v (strategic), the patched JSON (others),
    // unknown fields and all.
    let value = || match patch_type {
        PatchType::Strategic => go_print(patch),
        _ => go_json(patched),
    };
    if fv.directive == Directive::Strict && !errors.is_empty() {
        let body = format!("Invalid value: {}: {}", go_quote(&value()), strict_message(&errors));
        return Err(StatusError::new(422, "Invalid", format!(" \"\" is invalid: patch: {body}"))
            .with_details(json!({"causes": [{"reason": "FieldValueInvalid", "message": body, "field": "patch"}]})));
    }
    if !unknown.is_empty() {
        prune(def, patched);
    }
    if fv.directive == Directive::Warn {
        errors.iter().for_each(|e| warn_strict_error(e));
    }
    Ok(())
}

/// Drops, silently, what a stored object has that its type does not (an object written before
/// the type lost a field): the apiserver never sees such fields, as decoding drops them.
pub fn drop_unknown(def: &ResourceDef, obj: &mut Value) {
    prune(def, obj);
}

fn report(directive: Directive, errors: &[String], strict: impl FnOnce() -> StatusError) -> Result<(), StatusError> {
    if errors.is_empty() {
        return Ok(());
    }
    match directive {
        Directive::Strict => Err(strict()),
        Directive::Warn => {
            for e in errors {
                warn_strict_error(e);
            }
            Ok(())
        }
        Directive::Ignore => Ok(()),
    }
}

fn unknown_error(path: &str) -> String {
    format!("unknown field {}", go_quote(path))
}

fn strict_message(errors: &[String]) -> String {
    format!("strict decoding error: {}", errors.join(", "))
}

/// transformDecodeError in the apiserver's create and update handlers.
fn decode_error(def: &ResourceDef, errors: &[String]) -> StatusError {
    StatusError::bad_request(format!(
        "{} in version {} cannot be handled as a {}: {}",
        def.kind,
        go_quote(def.version),
        def.kind,
        strict_message(errors)
    ))
}

/// addStrictDecodingWarnings: one warning per error, a YAML error split into its lines.
fn warn_strict_error(e: &str) {
    const SHORT: &str = "yaml: unmarshal errors:\n";
    const LONG: &str = "error converting YAML to JSON: yaml: unmarshal errors:\n";
    match e.strip_prefix(SHORT).or_else(|| e.strip_prefix(LONG)) {
        Some(rest) => rest.split('\n').for_each(|l| warn(l.trim())),
        None => warn(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Warnings of the current request.

tokio::task_local! {
    static WARNINGS: RefCell<Vec<String>>;
}

/// Runs one request, collecting the warnings the write path adds (in order, deduplicated).
pub async fn with_warnings<F: std::future::Future>(f: F) -> (F::Output, Vec<String>) {
    WARNINGS
        .scope(RefCell::new(Vec::new()), async move {
            let out = f.await;
            (out, WARNINGS.with(|w| w.take()))
        })
        .await
}

/// Adds a warning to the current request (nothing outside `with_warnings`: in-process callers).
pub fn warn(text: &str) {
    let _ = WARNINGS.try_with(|w| {
        let mut w = w.borrow_mut();
        if !text.is_empty() && !w.iter().any(|x| x == text) {
            w.push(text.to_string());
        }
    });
}

fn has_warning_scope() -> bool {
    WARNINGS.try_with(|_| ()).is_ok()
}

/// The `Warning` header values for a request's warnings, as the apiserver's recorder writes
/// them: `299 - "text"` (only `"` and `\` escaped); texts with control characters are left
/// out; past 4096 characters in all, every text is cut to 256.
pub fn warning_headers(warnings: &[String]) -> Vec<String> {
    const TOTAL: usize = 4 * 1024;
    const ITEM: usize = 256;
    let header = |text: &str| -> Option<String> {
        if text.chars().any(char::is_control) {
            return None;
        }
        let mut q = String::with_capacity(text.len() + 8);
        q.push_str("299 - \"");
        for c in text.chars() {
            if c == '"' || c == '\\' {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        Some(q)
    };
    let cut = |t: &str| -> String { t.chars().take(ITEM).collect() };
    let mut out = Vec::new();
    let mut written = 0;
    let mut truncating = false;
    for (i, text) in warnings.iter().enumerate() {
        if text.is_empty() || warnings[..i].contains(text) {
            continue;
        }
        if truncating && written >= TOTAL {
            break;
        }
        let t = if truncating { cut(text) } else { text.clone() };
        let len = t.chars().count();
        if written + len <= TOTAL || truncating {
            if let Some(h) = header(&t) {
                written += len;
                out.push(h);
            }
            continue;
        }
        truncating = true;
        written = 0;
        out.clear();
        for (j, w) in warnings[..=i].iter().enumerate() {
            if w.is_empty() || warnings[..j].contains(w) {
                continue;
            }
            let t = cut(w);
            if let Some(h) = header(&t) {
                written += t.chars().count();
                out.push(h);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The field sets of the served kinds, from k8s-openapi's schemas (generated from the same
// OpenAPI document as its serde impls, which is generated from the Go structs).

type NodeId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    String,
    /// `format: byte` (base64).
    Bytes,
    /// `format: date-time` (Time, MicroTime).
    DateTime,
    Integer,
    Number,
    Boolean,
    /// `x-kubernetes-int-or-string` (IntOrString, Quantity).
    IntOrString,
}

#[derive(Debug, Clone)]
#[cfg_attr(not(test), allow(dead_code))] // the scalar kinds serve the tests' object generator
enum Node {
    /// Anything goes and nothing inside is checked (RawExtension, FieldsV1: raw JSON in Go).
    Any,
    Scalar(Scalar),
    /// A struct: these fields and no others.
    Struct(BTreeMap<String, NodeId>),
    /// A map with string keys.
    Map(NodeId),
    List(NodeId),
    /// `map[string]interface{}` / `[]interface{}`: duplicates checked everywhere, no field unknown
    /// (how merge and strategic merge patches are read).
    Free,
}

struct Schemas {
    nodes: Vec<Node>,
    kinds: HashMap<(&'static str, &'static str, &'static str), NodeId>,
    /// A JSON Patch document: a list of `{op, path, from, value}`.
    json_patch: NodeId,
    free: NodeId,
}

macro_rules! kinds {
    ($($g:literal $v:literal $k:literal => $t:ty;)*) => {
        /// Every kind whose unknown fields are known: each served (group, version, kind).
        const KINDS: &[(&str, &str, &str)] = &[$(($g, $v, $k)),*];

        /// Registers the kind's type; its definition name.
        fn add_kind(gen: &mut SchemaGenerator, gvk: (&str, &str, &str)) -> Option<String> {
            match gvk {
                $(($g, $v, $k) => {
                    let _ = gen.subschema_for::<$t>();
                    Some(<$t as JsonSchema>::schema_name().into_owned())
                })*
                _ => None,
            }
        }

        /// Decodes into the kind's k8s-openapi type and encodes again (what a typed client keeps).
        #[cfg(test)]
        fn typed_round_trip(gvk: (&str, &str, &str), v: &Value) -> Result<Value, String> {
            match gvk {
                $(($g, $v, $k) => {
                    let t: $t = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
                    serde_json::to_value(&t).map_err(|e| e.to_string())
                })*
                _ => Err("no type".into()),
            }
        }

        /// The kind's `Default` value, encoded.
        #[cfg(test)]
        fn typed_default(gvk: (&str, &str, &str)) -> Option<Value> {
            match gvk {
                $(($g, $v, $k) => serde_json::to_value(<$t>::default()).ok(),)*
                _ => None,
            }
        }
    };
}

kinds! {
    "" "v1" "ConfigMap" => api::core::v1::ConfigMap;
    "" "v1" "Endpoints" => api::core::v1::Endpoints;
    "" "v1" "Event" => api::core::v1::Event;
    "" "v1" "LimitRange" => api::core::v1::LimitRange;
    "" "v1" "Namespace" => api::core::v1::Namespace;
    "" "v1" "Node" => api::core::v1::Node;
    "" "v1" "PersistentVolumeClaim" => api::core::v1::PersistentVolumeClaim;
    "" "v1" "PersistentVolume" => api::core::v1::PersistentVolume;
    "" "v1" "Pod" => api::core::v1::Pod;
    "" "v1" "ReplicationController" => api::core::v1::ReplicationController;
    "" "v1" "ResourceQuota" => api::core::v1::ResourceQuota;
    "" "v1" "Secret" => api::core::v1::Secret;
    "" "v1" "ServiceAccount" => api::core::v1::ServiceAccount;
    "" "v1" "Service" => api::core::v1::Service;
    "" "v1" "Binding" => api::core::v1::Binding;
    "apps" "v1" "ControllerRevision" => api::apps::v1::ControllerRevision;
    "apps" "v1" "DaemonSet" => api::apps::v1::DaemonSet;
    "apps" "v1" "Deployment" => api::apps::v1::Deployment;
    "apps" "v1" "ReplicaSet" => api::apps::v1::ReplicaSet;
    "apps" "v1" "StatefulSet" => api::apps::v1::StatefulSet;
    "events.k8s.io" "v1" "Event" => api::events::v1::Event;
    "autoscaling" "v2" "HorizontalPodAutoscaler" => api::autoscaling::v2::HorizontalPodAutoscaler;
    "autoscaling" "v1" "HorizontalPodAutoscaler" => api::autoscaling::v1::HorizontalPodAutoscaler;
    "autoscaling" "v1" "Scale" => api::autoscaling::v1::Scale;
    "batch" "v1" "CronJob" => api::batch::v1::CronJob;
    "batch" "v1" "Job" => api::batch::v1::Job;
    "networking.k8s.io" "v1" "IngressClass" => api::networking::v1::IngressClass;
    "networking.k8s.io" "v1" "Ingress" => api::networking::v1::Ingress;
    "networking.k8s.io" "v1" "IPAddress" => api::networking::v1::IPAddress;
    "networking.k8s.io" "v1" "NetworkPolicy" => api::networking::v1::NetworkPolicy;
    "networking.k8s.io" "v1" "ServiceCIDR" => api::networking::v1::ServiceCIDR;
    "policy" "v1" "PodDisruptionBudget" => api::policy::v1::PodDisruptionBudget;
    "policy" "v1" "Eviction" => api::policy::v1::Eviction;
    "rbac.authorization.k8s.io" "v1" "ClusterRoleBinding" => api::rbac::v1::ClusterRoleBinding;
    "rbac.authorization.k8s.io" "v1" "ClusterRole" => api::rbac::v1::ClusterRole;
    "rbac.authorization.k8s.io" "v1" "RoleBinding" => api::rbac::v1::RoleBinding;
    "rbac.authorization.k8s.io" "v1" "Role" => api::rbac::v1::Role;
    "storage.k8s.io" "v1" "StorageClass" => api::storage::v1::StorageClass;
    "scheduling.k8s.io" "v1" "PriorityClass" => api::scheduling::v1::PriorityClass;
    "coordination.k8s.io" "v1" "Lease" => api::coordination::v1::Lease;
    "discovery.k8s.io" "v1" "EndpointSlice" => api::discovery::v1::EndpointSlice;
}

fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(build)
}

fn build() -> Schemas {
    let settings = SchemaSettings::draft07().with(|s| {
        s.meta_schema = None;
        s.transforms.clear();
        s.definitions_path = "/definitions".into();
    });
    let mut gen = SchemaGenerator::new(settings);
    let names: Vec<((&'static str, &'static str, &'static str), String)> =
        KINDS.iter().filter_map(|&gvk| add_kind(&mut gen, gvk).map(|n| (gvk, n))).collect();
    let defs = gen.take_definitions(false);
    let mut b = Builder { defs: &defs, nodes: Vec::new(), by_name: HashMap::new() };
    let mut kinds = HashMap::new();
    for (gvk, name) in names {
        let id = b.compile(&json!({"$ref": format!("#/definitions/{name}")}));
        kinds.insert(gvk, id);
    }
    let free = b.push(Node::Free);
    let any = b.push(Node::Any);
    let string = b.push(Node::Scalar(Scalar::String));
    let op: BTreeMap<String, NodeId> = [("op", string), ("path", string), ("from", string), ("value", any)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let op = b.push(Node::Struct(op));
    let json_patch = b.push(Node::List(op));
    Schemas { nodes: b.nodes, kinds, json_patch, free }
}

struct Builder<'a> {
    defs: &'a Map<String, Value>,
    nodes: Vec<Node>,
    by_name: HashMap<String, NodeId>,
}

impl Builder<'_> {
    fn push(&mut self, n: Node) -> NodeId {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    fn compile(&mut self, s: &Value) -> NodeId {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or(r);
            if let Some(&id) = self.by_name.get(name) {
                return id;
            }
            let id = self.push(Node::Any);
            self.by_name.insert(name.to_string(), id);
            let defs = self.defs;
            let node = match defs.get(name) {
                Some(d) => self.shape(d),
                None => Node::Any,
            };
            self.nodes[id] = node;
            return id;
        }
        let node = self.shape(s);
        self.push(node)
    }

    fn shape(&mut self, s: &Value) -> Node {
        if s.get("$ref").is_some() {
            let id = self.compile(s);
            return self.nodes[id].clone();
        }
        let ty = s.get("type").and_then(Value::as_str);
        match ty {
            Some("object") | None if s.get("properties").is_some() => {
                let mut props = BTreeMap::new();
                if let Some(p) = s.get("properties").and_then(Value::as_object) {
                    for (k, v) in p {
                        props.insert(k.clone(), self.compile(v));
                    }
                }
                Node::Struct(props)
            }
            Some("object") => match s.get("additionalProperties") {
                Some(ap) if ap.is_object() => Node::Map(self.compile(ap)),
                _ => Node::Any,
            },
            Some("array") => match s.get("items") {
                Some(items) if items.is_object() => Node::List(self.compile(items)),
                _ => Node::Any,
            },
            Some("string") => Node::Scalar(match s.get("format").and_then(Value::as_str) {
                Some("byte") => Scalar::Bytes,
                Some("date-time") => Scalar::DateTime,
                _ => Scalar::String,
            }),
            Some("integer") => Node::Scalar(Scalar::Integer),
            Some("number") => Node::Scalar(Scalar::Number),
            Some("boolean") => Node::Scalar(Scalar::Boolean),
            _ if s.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) => {
                Node::Scalar(Scalar::IntOrString)
            }
            _ => Node::Any,
        }
    }
}

fn root(def: &ResourceDef) -> Option<NodeId> {
    schemas().kinds.get(&(def.group, def.version, def.kind)).copied()
}

fn push_key(path: &mut String, key: &str) -> usize {
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
    len
}

fn push_index(path: &mut String, i: usize) -> usize {
    let len = path.len();
    let _ = write!(path, "[{i}]");
    len
}

/// Removes the fields `def`'s type has no field for; their paths as upstream writes them
/// (`spec.template.spec.containers[0].imagee`), in document order.
pub fn prune(def: &ResourceDef, obj: &mut Value) -> Vec<String> {
    match root(def) {
        Some(id) => prune_at(id, obj),
        None => Vec::new(),
    }
}

fn prune_at(id: NodeId, obj: &mut Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(schemas(), id, obj, &mut String::new(), &mut out);
    if !out.is_empty() {
        prune_node(schemas(), id, obj);
    }
    out
}

/// The unknown fields of `obj` as strict-decoding errors (`unknown field "spec.foo"`).
pub fn unknown_errors(def: &ResourceDef, obj: &Value) -> Vec<String> {
    unknown_fields(def, obj).iter().map(|p| unknown_error(p)).collect()
}

/// The paths of the fields `def`'s type has no field for, in document order.
pub fn unknown_fields(def: &ResourceDef, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(id) = root(def) {
        walk(schemas(), id, obj, &mut String::new(), &mut out);
    }
    out
}

fn walk(s: &Schemas, id: NodeId, v: &Value, path: &mut String, out: &mut Vec<String>) {
    match (&s.nodes[id], v) {
        (Node::Struct(props), Value::Object(m)) => {
            for (k, child) in m {
                let len = push_key(path, k);
                match props.get(k) {
                    Some(&c) => walk(s, c, child, path, out),
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        (Node::Map(c), Value::Object(m)) => {
            for (k, child) in m {
                let len = push_key(path, k);
                walk(s, *c, child, path, out);
                path.truncate(len);
            }
        }
        (Node::List(c), Value::Array(a)) => {
            for (i, child) in a.iter().enumerate() {
                let len = push_index(path, i);
                walk(s, *c, child, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn prune_node(s: &Schemas, id: NodeId, v: &mut Value) {
    match (&s.nodes[id], v) {
        (Node::Struct(props), Value::Object(m)) => {
            m.retain(|k, _| props.contains_key(k));
            for (k, child) in m.iter_mut() {
                prune_node(s, props[k], child);
            }
        }
        (Node::Map(c), Value::Object(m)) => m.values_mut().for_each(|child| prune_node(s, *c, child)),
        (Node::List(c), Value::Array(a)) => a.iter_mut().for_each(|child| prune_node(s, *c, child)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Raw JSON bodies: unknown and duplicate fields in document order, as sigs.k8s.io/json's
// UnmarshalStrict finds them (each error once, at most 100).

const MAX_STRICT_ERRORS: usize = 100;

#[derive(Default)]
struct ScanState {
    path: String,
    errors: Vec<String>,
    seen: HashSet<String>,
}

impl ScanState {
    fn error(&mut self, kind: &str, key: &str) {
        if self.errors.len() >= MAX_STRICT_ERRORS {
            return;
        }
        let len = push_key(&mut self.path, key);
        let e = format!("{kind} {}", go_quote(&self.path));
        self.path.truncate(len);
        if self.seen.insert(e.clone()) {
            self.errors.push(e);
        }
    }
}

/// What a value is checked against.
#[derive(Clone, Copy)]
enum Target {
    Node(NodeId),
    Skip,
}

struct Scan<'a> {
    schemas: &'a Schemas,
    target: Target,
    state: &'a mut ScanState,
}

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.target {
            Target::Skip => IgnoredAny::deserialize(d).map(|_| ()),
            Target::Node(id) => match self.schemas.nodes[id] {
                Node::Any | Node::Scalar(_) => IgnoredAny::deserialize(d).map(|_| ()),
                _ => d.deserialize_any(self),
            },
        }
    }
}

use serde::Deserialize as _;

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let s = self.schemas;
        let child = match self.target {
            Target::Node(id) => match s.nodes[id] {
                Node::List(c) => Target::Node(c),
                Node::Free => Target::Node(s.free),
                _ => Target::Skip,
            },
            Target::Skip => Target::Skip,
        };
        let state = self.state;
        let mut i = 0;
        loop {
            let len = push_index(&mut state.path, i);
            let more = seq.next_element_seed(Scan { schemas: s, target: child, state: &mut *state })?;
            state.path.truncate(len);
            if more.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let s = self.schemas;
        let state = self.state;
        let node = match self.target {
            Target::Node(id) => &s.nodes[id],
            Target::Skip => &Node::Any,
        };
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = match node {
                Node::Struct(props) => match props.get(&key) {
                    Some(&c) => Some(Target::Node(c)),
                    None => {
                        state.error("unknown field", &key);
                        None
                    }
                },
                Node::Map(c) => Some(Target::Node(*c)),
                Node::Free => Some(Target::Node(s.free)),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            let Some(child) = child else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if seen.contains(&key) {
                state.error("duplicate field", &key);
            } else {
                seen.insert(key.clone());
            }
            let len = push_key(&mut state.path, &key);
            map.next_value_seed(Scan { schemas: s, target: child, state: &mut *state })?;
            state.path.truncate(len);
        }
        Ok(())
    }
}

fn scan(target: NodeId, body: &[u8]) -> Vec<String> {
    let mut state = ScanState::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    let seed = Scan { schemas: schemas(), target: Target::Node(target), state: &mut state };
    match seed.deserialize(&mut de) {
        Ok(()) => state.errors,
        // Not JSON: the decoder reports that.
        Err(_) => Vec::new(),
    }
}

/// The strict-decoding errors of a JSON create or update body for `def`: unknown and
/// duplicate fields, in document order (`unknown field "spec.foo"`, `duplicate field
/// "spec.replicas"`). None for a kind without a known type.
pub fn scan_json_body(def: &ResourceDef, body: &[u8]) -> Option<Vec<String>> {
    root(def).map(|id| scan(id, body))
}

/// The strict-decoding errors of a patch document itself (before it is applied): duplicate
/// fields of a merge or strategic merge patch; unknown and duplicate fields of JSON Patch
/// operations, prefixed `json patch ` as the apiserver words them.
pub fn scan_patch(patch_type: PatchType, body: &[u8]) -> Vec<String> {
    let s = schemas();
    match patch_type {
        PatchType::Json => scan(s.json_patch, body).into_iter().map(|e| format!("json patch {e}")).collect(),
        PatchType::Merge | PatchType::Strategic => scan(s.free, body),
        PatchType::Apply => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Raw YAML bodies with repeated keys.

/// Decodes a YAML body as the apiserver's non-strict decoder does when a key repeats (the last
/// value wins), and words the repeats as sigs.k8s.io/yaml's strict decoder does: one error,
/// `yaml: unmarshal errors:\n  line 6: key "replicas" already set in map`, the line being the
/// repeated value's. The error list is empty when nothing repeats.
pub fn decode_yaml(body: &[u8]) -> Result<(Value, Vec<String>), serde_yaml::Error> {
    let dups = RefCell::new(Vec::new());
    let de = serde_yaml::Deserializer::from_slice(body);
    let v = YamlValue { dups: &dups, locate: None }.deserialize(de)?;
    let lines = dups.into_inner();
    let errors =
        if lines.is_empty() { Vec::new() } else { vec![format!("yaml: unmarshal errors:\n  {}", lines.join("\n  "))] };
    Ok((v, errors))
}

// serde_yaml tells no positions to a visitor, but gives an error raised in a visit the position
// of the event being visited. A scalar whose line is wanted is therefore visited into a slot and
// "fails" with LOCATE; whoever asked for it catches that right away (the scalar's event has
// been consumed, so the parse goes on) and reads the line from the message.
const LOCATE: &str = "\u{1}locate";

/// The line (1-based) of a LOCATE error; None for any other error.
fn located_line(e: &impl fmt::Display) -> Option<Option<usize>> {
    let msg = e.to_string();
    if !msg.contains(LOCATE) {
        return None;
    }
    Some(msg.rsplit_once(" at line ").and_then(|(_, rest)| rest.split(' ').next()).and_then(|n| n.parse().ok()))
}

/// Finding the line of a value: that of its first scalar (a block mapping or sequence starts on
/// the line of its first key or item, as goyaml numbers a node).
#[derive(Default)]
struct Locate {
    line: std::cell::Cell<Option<usize>>,
    /// A located scalar value, set before the LOCATE error.
    scalar: RefCell<Option<Value>>,
}

struct YamlValue<'a> {
    dups: &'a RefCell<Vec<String>>,
    locate: Option<&'a Locate>,
}

impl<'a> YamlValue<'a> {
    fn scalar<E: de::Error>(self, v: Value) -> Result<Value, E> {
        match self.locate {
            Some(l) => {
                *l.scalar.borrow_mut() = Some(v);
                Err(E::custom(LOCATE))
            }
            None => Ok(v),
        }
    }
    fn plain(&self) -> YamlValue<'a> {
        YamlValue { dups: self.dups, locate: None }
    }
}

impl<'de> DeserializeSeed<'de> for YamlValue<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for YamlValue<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        self.scalar(Value::Bool(b))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
        self.scalar(json!(n))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        self.scalar(json!(n))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        self.scalar(serde_json::Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.scalar(Value::String(s.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.scalar(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.scalar(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        use serde::de::VariantAccess;
        let (tag, variant): (String, _) = data.variant()?;
        let v = variant.newtype_variant_seed(self.plain())?;
        Ok(json!({ format!("!{tag}"): v }))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        if let Some(l) = self.locate {
            match seq.next_element_seed(YamlValue { dups: self.dups, locate: Some(l) }) {
                Ok(Some(v)) => out.push(v),
                Ok(None) => return Ok(Value::Array(out)),
                Err(e) => {
                    let line = located_line(&e).ok_or(e)?;
                    l.line.set(line);
                    out.push(l.scalar.borrow_mut().take().unwrap_or(Value::Null));
                }
            }
        }
        while let Some(v) = seq.next_element_seed(self.plain())? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        let mut first = true;
        loop {
            let slot = RefCell::new(None);
            let locate_key = first && self.locate.is_some();
            first = false;
            let (key, key_line) = match map.next_key_seed(YamlKey { existing: &out, always: locate_key, slot: &slot }) {
                Ok(Some(k)) => (k, None),
                Ok(None) => break,
                Err(e) => {
                    let line = located_line(&e).ok_or(e)?;
                    (slot.into_inner().unwrap_or_default(), Some(line))
                }
            };
            if locate_key {
                if let Some(l) = self.locate {
                    l.line.set(key_line.flatten());
                }
            }
            if !out.contains_key(&key) {
                let v = map.next_value_seed(self.plain())?;
                out.insert(key, v);
                continue;
            }
            // A repeated key: the last value wins; the error names the value's line.
            let l = Locate::default();
            let v = match map.next_value_seed(YamlValue { dups: self.dups, locate: Some(&l) }) {
                Ok(v) => v,
                Err(e) => {
                    let line = located_line(&e).ok_or(e)?;
                    l.line.set(line);
                    l.scalar.borrow_mut().take().unwrap_or(Value::Null)
                }
            };
            let line = l.line.get().or(key_line.flatten()).unwrap_or(1);
            self.dups.borrow_mut().push(format!("line {line}: key {} already set in map", go_quote(&key)));
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// A mapping key as sigs.k8s.io/yaml turns it into a JSON key; a key already in `existing`
/// (or any key, when `always`) is located.
struct YamlKey<'a> {
    existing: &'a Map<String, Value>,
    always: bool,
    slot: &'a RefCell<Option<String>>,
}

impl YamlKey<'_> {
    fn key<E: de::Error>(self, k: String) -> Result<String, E> {
        if self.always || self.existing.contains_key(&k) {
            *self.slot.borrow_mut() = Some(k);
            return Err(E::custom(LOCATE));
        }
        Ok(k)
    }
}

impl<'de> DeserializeSeed<'de> for YamlKey<'_> {
    type Value = String;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for YamlKey<'_> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar key")
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<String, E> {
        self.key(b.to_string())
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<String, E> {
        self.key(n.to_string())
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<String, E> {
        self.key(n.to_string())
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<String, E> {
        self.key(go_float(n))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
        self.key(s.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        self.key("null".into())
    }
}

// ---------------------------------------------------------------------------------------------
// Go's formatting, as the messages carry it.

/// strconv.Quote (and `%q`): a double-quoted Go string literal.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// unicode.IsPrint, near enough: no control, format, private-use or non-ASCII space characters.
fn go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF | 0xF0000..)
}

/// A float as Go's `%v` prints it (`strconv.FormatFloat(f, 'g', -1, 64)`).
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    // %e when the exponent is below -4 or at least the shortest-precision threshold, 6.
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    } else {
        let dp = exp + 1;
        let nd = digits.len() as i32;
        if dp <= 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat((-dp) as usize));
            out.push_str(&digits);
        } else if dp >= nd {
            out.push_str(&digits);
            out.push_str(&"0".repeat((dp - nd) as usize));
        } else {
            out.push_str(&digits[..dp as usize]);
            out.push('.');
            out.push_str(&digits[dp as usize..]);
        }
    }
    out
}

fn go_number(n: &serde_json::Number) -> String {
    match n.as_i64() {
        Some(i) => i.to_string(),
        None => go_float(n.as_f64().unwrap_or(0.0)),
    }
}

/// A decoded JSON document printed with Go's `%+v` (maps with sorted keys, `<nil>` for null).
fn go_print(v: &Value) -> String {
    fn go(v: &Value, out: &mut String) {
        match v {
            Value::Null => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&go_number(n)),
            Value::String(s) => out.push_str(s),
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    go(x, out);
                }
                out.push(']');
            }
            Value::Object(m) => {
                out.push_str("map[");
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    go(&m[k], out);
                }
                out.push(']');
            }
        }
    }
    let mut out = String::new();
    go(v, &mut out);
    out
}

/// An object as Go's encoding/json writes a map: compact, keys sorted, `<`, `>`, `&`, U+2028
/// and U+2029 escaped.
fn go_json(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), sorted(v))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let s = serde_json::to_string(&sorted(v)).unwrap_or_default();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
