//! Kubernetes object semantics over the store, for every `ResourceDef`: metadata on create,
//! resourceVersion preconditions, generation, the status split, selectors, pagination,
//! deletion with finalizers, and watch. The HTTP API and the in-process client both call it.

use super::names;
use super::selector::{FieldSelector, LabelSelector};
use super::status::{Result, StatusError};
use super::{FieldError, ResourceDef};
use crate::store::{self, EventKind, KeyValue, Revision, Store};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::sync::Arc;

/// How many times a write retries internally after losing a compare-and-swap race when the
/// caller did not ask for a specific resourceVersion (patches, unconditional updates).
const MAX_RETRIES: usize = 16;

#[derive(Clone)]
pub struct Registry {
    store: Store,
}

#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: usize,
    pub continue_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ListOutput {
    pub items: Vec<Value>,
    pub resource_version: Revision,
    pub continue_token: Option<String>,
    pub remaining: Option<i64>,
}

#[derive(Debug, Default, Clone)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    /// What to do with unknown and duplicate fields (`fieldValidation`); Warn by default.
    pub field_validation: super::fields::FieldValidation,
}

#[derive(Debug, Default, Clone)]
pub struct DeleteOptions {
    pub dry_run: bool,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub grace_period_seconds: Option<i64>,
    /// `Orphan`, `Background` or `Foreground`; None: the kind's default.
    pub propagation_policy: Option<String>,
    /// The deprecated `orphanDependents` (true: Orphan, false: Background).
    pub orphan_dependents: Option<bool>,
}

/// The finalizer that makes the garbage collector orphan an object's dependents.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// The finalizer that holds an object until the garbage collector has deleted its dependents.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// Whether deleting objects of this kind orphans their dependents unless the request says
/// otherwise: the kinds whose legacy default Kubernetes keeps (core/v1 ReplicationControllers,
/// batch/v1 Jobs); every other kind deletes them in the background.
pub fn orphans_by_default(def: &ResourceDef) -> bool {
    matches!((def.group, def.version, def.plural), ("", "v1", "replicationcontrollers") | ("batch", "v1", "jobs"))
}

/// The finalizers an object should carry once this delete request is applied, and whether
/// they differ from its current ones (upstream's deletionFinalizersForGarbageCollection): the
/// explicit request wins, then an `orphan`/`foregroundDeletion` finalizer already there, then
/// the kind's default.
pub fn deletion_finalizers(def: &ResourceDef, obj: &Value, opts: &DeleteOptions) -> (bool, Vec<String>) {
    let current: Vec<String> = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let existing = current.iter().find_map(|f| match f.as_str() {
        ORPHAN_FINALIZER => Some(true),
        FOREGROUND_FINALIZER => Some(false),
        _ => None,
    });
    let policy = match (opts.orphan_dependents, opts.propagation_policy.as_deref()) {
        (Some(true), _) => "Orphan",
        (Some(false), _) => "Background",
        (None, Some(p)) => p,
        (None, None) => match existing {
            Some(true) => "Orphan",
            Some(false) => "Foreground",
            None if orphans_by_default(def) => "Orphan",
            None => "Background",
        },
    };
    let mut out: Vec<String> = current.iter().filter(|f| *f != ORPHAN_FINALIZER && *f != FOREGROUND_FINALIZER).cloned().collect();
    match policy {
        "Orphan" => out.push(ORPHAN_FINALIZER.to_string()),
        "Foreground" => out.push(FOREGROUND_FINALIZER.to_string()),
        _ => {}
    }
    let same = {
        let a: std::collections::BTreeSet<&String> = current.iter().collect();
        let b: std::collections::BTreeSet<&String> = out.iter().collect();
        a == b
    };
    if same {
        (false, current)
    } else {
        (true, out)
    }
}

#[derive(Debug, Clone)]
pub enum Deleted {
    /// The object is gone; this was its last state.
    Gone(Value),
    /// Deletion started (finalizers pending); this is the object as it is now.
    Pending(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

/// How a write records its manager's fields in `metadata.managedFields`.
#[derive(Debug, Clone, Copy)]
enum Fields<'a> {
    /// As an Update through the object itself or the named subresource.
    Update(Option<&'a str>),
    /// Already recorded by server-side apply.
    Applied,
}

#[derive(Debug, Default, Clone)]
pub struct WatchOptions {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    /// "" / None: start now, listing what exists as ADDED; "0": the same; "N": after N.
    pub resource_version: Option<String>,
    pub send_initial_events: Option<bool>,
    pub allow_bookmarks: bool,
}

#[derive(Debug, Clone)]
pub enum WatchEvent {
    Added(Value),
    Modified(Value),
    Deleted(Value),
    /// A progress marker at this revision; `initial_end` marks the end of initial events.
    Bookmark { revision: Revision, initial_end: bool },
    Error(StatusError),
}

impl WatchEvent {
    pub fn type_name(&self) -> &'static str {
        match self {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Modified(_) => "MODIFIED",
            WatchEvent::Deleted(_) => "DELETED",
            WatchEvent::Bookmark { .. } => "BOOKMARK",
            WatchEvent::Error(_) => "ERROR",
        }
    }
}

/// Parsed selectors of one request, checked against what the kind supports.
#[derive(Clone)]
pub struct Filter {
    def: &'static ResourceDef,
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Filter {
    pub fn new(def: &'static ResourceDef, label: Option<&str>, field: Option<&str>) -> Result<Filter> {
        let labels = match label.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(LabelSelector::parse(s).map_err(StatusError::bad_request)?),
            None => None,
        };
        let labels = labels.filter(|l| !l.is_empty());
        let fields = match field.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => {
                let f = FieldSelector::parse(s).map_err(StatusError::bad_request)?;
                for req in f.requirements() {
                    let name = req.field.as_str();
                    let supported = name == "metadata.name"
                        || (name == "metadata.namespace")
                        || def.field_labels.iter().any(|l| *l == name);
                    if !supported {
                        return Err(StatusError::bad_request(format!("field label not supported: {name}")));
                    }
                }
                Some(f)
            }
            None => None,
        };
        Ok(Filter { def, labels, fields })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }

    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(l) = &self.labels {
            let empty = Map::new();
            let labels = obj.pointer("/metadata/labels").and_then(Value::as_object).unwrap_or(&empty);
            if !l.matches(labels) {
                return false;
            }
        }
        if let Some(f) = &self.fields {
            let def = self.def;
            if !f.matches(|name| field_value(def, obj, name)) {
                return false;
            }
        }
        true
    }
}

fn field_value(def: &ResourceDef, obj: &Value, name: &str) -> Option<String> {
    match name {
        "metadata.name" => Some(meta_str(obj, "name").to_string()),
        "metadata.namespace" => Some(meta_str(obj, "namespace").to_string()),
        _ => (def.field_value)(obj, name),
    }
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or("")
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    let map = obj.as_object_mut().expect("just made an object");
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut().expect("just made an object")
}

/// Sets kind and apiVersion, first in the object as Kubernetes writes them.
fn set_type_meta(def: &ResourceDef, obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else { return };
    let kind_first = map.keys().next().map(String::as_str) == Some("kind");
    if kind_first && map.get("kind").and_then(Value::as_str) == Some(def.kind) && map.get("apiVersion").and_then(Value::as_str) == Some(def.api_version().as_str()) {
        return;
    }
    let mut out = Map::with_capacity(map.len() + 2);
    out.insert("kind".into(), json!(def.kind));
    out.insert("apiVersion".into(), json!(def.api_version()));
    for (k, v) in std::mem::take(map) {
        if k != "kind" && k != "apiVersion" {
            out.insert(k, v);
        }
    }
    *map = out;
}

/// The current time as Kubernetes writes timestamps (RFC 3339, whole seconds, UTC).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Everything of an object except metadata and status: what a generation tracks.
fn spec_part(obj: &Value) -> Map<String, Value> {
    obj.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn decode_continue(token: &str) -> Result<(Revision, String)> {
    let bad = || StatusError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
    let raw = base64::engine::general_purpose::URL_SAFE.decode(token).or_else(|_| base64::engine::general_purpose::STANDARD.decode(token)).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if v.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(bad());
    }
    let rv = v.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    Ok((rv, start.trim_end_matches('\u{0}').to_string()))
}

fn encode_continue(rv: Revision, last_relative_key: &str) -> String {
    let v = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{last_relative_key}\u{0}")});
    base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
}

impl Registry {
    pub fn new(store: Store) -> Registry {
        Registry { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Decodes a stored value into `def`'s version, with resourceVersion set.
    pub fn decode(&self, def: &ResourceDef, value: &[u8], revision: Revision) -> Result<Value> {
        let mut obj: Value = serde_json::from_slice(value)
            .map_err(|e| StatusError::internal(format!("decoding stored {}: {e}", def.qualified())))?;
        if let Some(conv) = def.from_storage {
            obj = conv(obj);
        }
        if let Some(m) = obj.as_object_mut() {
            m.insert("apiVersion".into(), json!(def.api_version()));
            m.insert("kind".into(), json!(def.kind));
        }
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(revision.to_string()));
        Ok(obj)
    }

    fn decode_kv(&self, def: &ResourceDef, kv: &KeyValue) -> Result<Value> {
        self.decode(def, &kv.value, kv.mod_revision)
    }

    fn encode(&self, def: &ResourceDef, obj: &Value) -> Result<Bytes> {
        let mut obj = obj.clone();
        meta_mut(&mut obj).remove("resourceVersion");
        if let Some(conv) = def.to_storage {
            obj = conv(obj).map_err(|e| StatusError::internal(format!("converting {} for storage: {e}", def.qualified())))?;
        }
        serde_json::to_vec(&obj).map(Bytes::from).map_err(StatusError::internal)
    }

    fn ns_for<'a>(&self, def: &ResourceDef, ns: Option<&'a str>) -> Option<&'a str> {
        if def.namespaced {
            ns
        } else {
            None
        }
    }

    pub async fn get(&self, def: &'static ResourceDef, ns: Option<&str>, name: &str) -> Result<Value> {
        let key = def.key(self.ns_for(def, ns), name);
        match self.store.get(&key)? {
            Some(kv) => self.decode_kv(def, &kv),
            None => Err(StatusError::not_found(def, name)),
        }
    }

    pub async fn list(&self, def: &'static ResourceDef, ns: Option<&str>, opts: &ListOptions) -> Result<ListOutput> {
        let filter = Filter::new(def, opts.label_selector.as_deref(), opts.field_selector.as_deref())?;
        let prefix = def.prefix(self.ns_for(def, ns));
        let mut start_after: Option<String> = None;
        let mut pinned_rv: Option<Revision> = None;
        if let Some(token) = opts.continue_token.as_deref().filter(|t| !t.is_empty()) {
            let (rv, start) = decode_continue(token)?;
            if rv < self.store.oldest_revision() {
                return Err(StatusError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ));
            }
            start_after = Some(format!("{prefix}{start}"));
            pinned_rv = Some(rv);
        }
        // A name field selector reads one key.
        if opts.limit == 0 && start_after.is_none() {
            if let Some(name) = filter.fields.as_ref().and_then(|f| f.single_name()) {
                if def.namespaced && ns.is_none() {
                    // all namespaces: fall through to the scan
                } else {
                    let key = def.key(self.ns_for(def, ns), name);
                    let rev = self.store.current_revision();
                    let mut items = Vec::new();
                    if let Some(kv) = self.store.get(&key)? {
                        let obj = self.decode_kv(def, &kv)?;
                        if filter.matches(&obj) {
                            items.push(obj);
                        }
                    }
                    return Ok(ListOutput { items, resource_version: rev, continue_token: None, remaining: None });
                }
            }
        }
        let mut items = Vec::new();
        let mut revision = None;
        loop {
            let want = if opts.limit == 0 { 0 } else { opts.limit - items.len() };
            let chunk = if filter.is_empty() || want == 0 { want } else { want.max(256) };
            // A continued list reads the snapshot of its first page.
            let res = match pinned_rv {
                Some(rv) => self.store.list_at(&prefix, start_after.as_deref(), chunk, rv)?,
                None => self.store.list(&prefix, start_after.as_deref(), chunk)?,
            };
            revision.get_or_insert(res.revision);
            let n = res.items.len();
            let mut last_key = None;
            for kv in &res.items {
                last_key = Some(kv.key.clone());
                let obj = self.decode_kv(def, kv)?;
                if filter.matches(&obj) {
                    items.push(obj);
                    if opts.limit > 0 && items.len() == opts.limit {
                        break;
                    }
                }
            }
            let scanned_all_of_chunk = last_key.as_deref() == res.items.last().map(|k| k.key.as_str());
            let more_in_store = res.more || !scanned_all_of_chunk;
            if opts.limit > 0 && items.len() == opts.limit {
                if more_in_store {
                    let last = last_key.unwrap_or_default();
                    let rel = last.strip_prefix(&prefix).unwrap_or(&last).to_string();
                    let rv = pinned_rv.unwrap_or(revision.unwrap_or(0));
                    // Without selectors the chunk ended exactly at the limit, so the store's
                    // count of what follows it is the remaining item count.
                    let remaining = if filter.is_empty() { Some(res.remaining as i64) } else { None };
                    if remaining == Some(0) {
                        break;
                    }
                    return Ok(ListOutput { items, resource_version: rv, continue_token: Some(encode_continue(rv, &rel)), remaining });
                }
                break;
            }
            if !res.more || n == 0 {
                break;
            }
            start_after = last_key;
        }
        let rv = pinned_rv.unwrap_or(revision.unwrap_or_else(|| self.store.current_revision()));
        Ok(ListOutput { items, resource_version: rv, continue_token: None, remaining: None })
    }

    async fn check_namespace_open(&self, def: &'static ResourceDef, ns: &str, name: &str) -> Result<()> {
        let ns_def = super::find("", "v1", "namespaces").ok_or_else(|| StatusError::internal("namespaces are not registered"))?;
        match self.store.get(&ns_def.key(None, ns))? {
            None => Err(StatusError::namespace_not_found(ns)),
            Some(kv) => {
                let obj: Value = serde_json::from_slice(&kv.value).map_err(StatusError::internal)?;
                let terminating = obj.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
                    || obj.pointer("/metadata/deletionTimestamp").is_some();
                if terminating {
                    let mut d = Map::new();
                    d.insert("name".into(), json!(name));
                    if !def.group.is_empty() {
                        d.insert("group".into(), json!(def.group));
                    }
                    d.insert("kind".into(), json!(def.plural));
                    d.insert(
                        "causes".into(),
                        json!([{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]),
                    );
                    return Err(StatusError::forbidden(format!(
                        "{} \"{}\" is forbidden: unable to create new content in namespace {} because it is being terminated",
                        def.qualified(),
                        name,
                        ns
                    ))
                    .with_details(Value::Object(d)));
                }
                Ok(())
            }
        }
    }

    fn validate_common(&self, def: &'static ResourceDef, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let name = meta_str(obj, "name");
        if name.is_empty() {
            if old.is_none() {
                errs.push(FieldError {
                    field: "metadata.name".into(),
                    reason: "FieldValueRequired",
                    message: "Required value: name or generateName is required".into(),
                });
            }
        } else {
            let msgs = names::validate(def.name_rule, name);
            if !msgs.is_empty() {
                errs.push(FieldError {
                    field: "metadata.name".into(),
                    reason: "FieldValueInvalid",
                    message: names::invalid_message(name, &msgs),
                });
            }
        }
        if let Some(labels) = obj.pointer("/metadata/labels") {
            match labels.as_object() {
                Some(map) => {
                    for (k, v) in map {
                        for m in names::validate_label_key(k) {
                            errs.push(FieldError {
                                field: "metadata.labels".into(),
                                reason: "FieldValueInvalid",
                                message: names::invalid_message(k, &[m]),
                            });
                        }
                        match v.as_str() {
                            Some(s) => {
                                for m in names::validate_label_value(s) {
                                    errs.push(FieldError {
                                        field: "metadata.labels".into(),
                                        reason: "FieldValueInvalid",
                                        message: names::invalid_message(s, &[m]),
                                    });
                                }
                            }
                            None if v.is_null() => {}
                            None => errs.push(FieldError {
                                field: format!("metadata.labels.{k}"),
                                reason: "FieldValueInvalid",
                                message: "Invalid value: label values must be strings".into(),
                            }),
                        }
                    }
                }
                None if labels.is_null() => {}
                None => errs.push(FieldError {
                    field: "metadata.labels".into(),
                    reason: "FieldValueInvalid",
                    message: "Invalid value: labels must be a map of strings".into(),
                }),
            }
        }
        if let Some(ann) = obj.pointer("/metadata/annotations") {
            if !ann.is_null() && !ann.as_object().map(|m| m.values().all(|v| v.is_string() || v.is_null())).unwrap_or(false) {
                errs.push(FieldError {
                    field: "metadata.annotations".into(),
                    reason: "FieldValueInvalid",
                    message: "Invalid value: annotations must be a map of strings".into(),
                });
            }
        }
        errs.extend((def.validate)(obj, old));
        errs
    }

    /// Creates an object. `obj` is the request body (apiVersion/kind already checked).
    pub async fn create(&self, def: &'static ResourceDef, ns: Option<&str>, obj: Value, opts: &WriteOptions) -> Result<Value> {
        self.create_as(def, ns, obj, opts, Fields::Update(None)).await
    }

    async fn create_as(&self, def: &'static ResourceDef, ns: Option<&str>, mut obj: Value, opts: &WriteOptions, fields: Fields<'_>) -> Result<Value> {
        if !obj.is_object() {
            return Err(StatusError::bad_request("the request body must be a JSON object"));
        }
        super::fields::check_body(def, &mut obj, &opts.field_validation)?;
        let ns = self.ns_for(def, ns);
        set_type_meta(def, &mut obj);
        let body_ns = meta_str(&obj, "namespace").to_string();
        {
            let meta = meta_mut(&mut obj);
            if def.namespaced {
                let ns = ns.unwrap_or("");
                if !body_ns.is_empty() && body_ns != ns {
                    return Err(StatusError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                meta.insert("namespace".into(), json!(ns));
            } else {
                meta.remove("namespace");
            }
            if meta.get("resourceVersion").and_then(Value::as_str).is_some_and(|s| !s.is_empty()) {
                return Err(StatusError::bad_request("resourceVersion should not be set on objects to be created"));
            }
            meta.remove("resourceVersion");
            meta.remove("deletionTimestamp");
            meta.remove("deletionGracePeriodSeconds");
            meta.remove("selfLink");
            meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
            if def.tracks_generation {
                meta.insert("generation".into(), json!(1));
            } else {
                meta.remove("generation");
            }
        }
        // The name is generated before defaulting, which may derive labels from it (jobs).
        let generate = meta_str(&obj, "name").is_empty() && !meta_str(&obj, "generateName").is_empty();
        let base = meta_str(&obj, "generateName").to_string();
        let attempts = if generate { 8 } else { 1 };
        let template = obj;
        let mut obj = template.clone();
        for attempt in 0..attempts {
            if generate {
                obj = template.clone();
                meta_mut(&mut obj).insert("name".into(), json!(names::generate_name(&base)));
            }
            if attempt == 0 || generate {
                (def.default)(&mut obj);
                if let Fields::Update(sub) = fields {
                    super::apply::track_update(def, None, &mut obj, opts.field_manager.as_deref(), sub);
                }
            }
            let name = meta_str(&obj, "name").to_string();
            super::hooks::admit_create(self, def, &mut obj).await?;
            let errs = self.validate_common(def, &obj, None);
            if !errs.is_empty() {
                return Err(StatusError::invalid(def, &name, &errs));
            }
            if let Some(ns) = ns {
                if def.namespaced {
                    self.check_namespace_open(def, ns, &name).await?;
                }
            }
            let key = def.key(ns, &name);
            if opts.dry_run {
                if self.store.get(&key)?.is_some() {
                    return Err(StatusError::already_exists(def, &name));
                }
                return Ok(obj);
            }
            super::hooks::before_create(self, def, &mut obj).await?;
            let bytes = self.encode(def, &obj)?;
            let created = self.store.create(&key, bytes).await;
            if created.is_err() {
                super::hooks::after_delete(self, def, &obj).await;
            }
            match created {
                Ok(kv) => {
                    meta_mut(&mut obj).insert("resourceVersion".into(), json!(kv.mod_revision.to_string()));
                    return Ok(obj);
                }
                Err(store::Error::AlreadyExists(_)) if generate && attempt + 1 < attempts => continue,
                Err(store::Error::AlreadyExists(_)) => return Err(StatusError::already_exists(def, &name)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(StatusError::internal("could not generate a unique name"))
    }

    /// Replaces an object (PUT), or only its status when `subresource` is "status".
    pub async fn update(
        &self,
        def: &'static ResourceDef,
        ns: Option<&str>,
        name: &str,
        mut obj: Value,
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<Value> {
        if !obj.is_object() {
            return Err(StatusError::bad_request("the request body must be a JSON object"));
        }
        super::fields::check_body(def, &mut obj, &opts.field_validation)?;
        let body_name = meta_str(&obj, "name");
        if body_name != name {
            return Err(StatusError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let ns = self.ns_for(def, ns);
        if def.namespaced {
            let body_ns = meta_str(&obj, "namespace");
            if !body_ns.is_empty() && Some(body_ns) != ns {
                return Err(StatusError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        let wanted_rv: Option<Revision> = match meta_str(&obj, "resourceVersion") {
            "" => None,
            s => Some(s.parse().map_err(|_| {
                StatusError::bad_request(format!("invalid resourceVersion {s:?}: must be an unsigned integer"))
            })?),
        };
        self.update_as(def, ns, name, wanted_rv, opts, Fields::Update(subresource), |old| Ok(merge_update(def, old, obj.clone(), subresource)))
            .await
    }

    /// Read-modify-write with a compare-and-swap on the revision read. `wanted_rv` is the
    /// client's precondition (None: retry internally on races).
    pub async fn update_with<F>(
        &self,
        def: &'static ResourceDef,
        ns: Option<&str>,
        name: &str,
        wanted_rv: Option<Revision>,
        opts: &WriteOptions,
        change: F,
    ) -> Result<Value>
    where
        F: FnMut(&Value) -> Result<Value>,
    {
        self.update_as(def, ns, name, wanted_rv, opts, Fields::Update(None), change).await
    }

    /// `update_with` through a subresource ("scale", …), as its managedFields entry says.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_subresource_with<F>(
        &self,
        def: &'static ResourceDef,
        ns: Option<&str>,
        name: &str,
        wanted_rv: Option<Revision>,
        opts: &WriteOptions,
        subresource: &str,
        change: F,
    ) -> Result<Value>
    where
        F: FnMut(&Value) -> Result<Value>,
    {
        self.update_as(def, ns, name, wanted_rv, opts, Fields::Update(Some(subresource)), change).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn update_as<F>(
        &self,
        def: &'static ResourceDef,
        ns: Option<&str>,
        name: &str,
        wanted_rv: Option<Revision>,
        opts: &WriteOptions,
        fields: Fields<'_>,
        mut change: F,
    ) -> Result<Value>
    where
        F: FnMut(&Value) -> Result<Value>,
    {
        let ns = self.ns_for(def, ns);
        let key = def.key(ns, name);
        for _ in 0..MAX_RETRIES {
            let kv = self.store.get(&key)?.ok_or_else(|| StatusError::not_found(def, name))?;
            if let Some(rv) = wanted_rv {
                if rv != kv.mod_revision {
                    return Err(StatusError::conflict(def, name));
                }
            }
            let mut old = self.decode_kv(def, &kv)?;
            super::fields::drop_unknown(def, &mut old);
            let mut new = change(&old)?;
            super::fields::check_object(def, &mut new, opts.field_validation.directive)?;
            // Metadata the client may not change.
            {
                let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
                let body_uid = meta_str(&new, "uid").to_string();
                if !body_uid.is_empty() && body_uid != meta_str(&old, "uid") {
                    return Err(StatusError::conflict_msg(
                        def,
                        name,
                        &format!(
                            "Precondition failed: UID in precondition: {}, UID in object meta: {}",
                            body_uid,
                            meta_str(&old, "uid")
                        ),
                    ));
                }
                let m = meta_mut(&mut new);
                for f in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "name"] {
                    match old_meta.get(f) {
                        Some(v) => {
                            m.insert(f.into(), v.clone());
                        }
                        None => {
                            m.remove(f);
                        }
                    }
                }
                if let Some(ns) = ns {
                    m.insert("namespace".into(), json!(ns));
                } else {
                    m.remove("namespace");
                }
                m.remove("selfLink");
                m.insert("resourceVersion".into(), json!(kv.mod_revision.to_string()));
                set_type_meta(def, &mut new);
            }
            (def.default)(&mut new);
            if let Fields::Update(sub) = fields {
                super::apply::track_update(def, Some(&old), &mut new, opts.field_manager.as_deref(), sub);
            }
            if def.tracks_generation && spec_part(&new) != spec_part(&old) {
                let g = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
                meta_mut(&mut new).insert("generation".into(), json!(g + 1));
            }
            let errs = self.validate_common(def, &new, Some(&old));
            if !errs.is_empty() {
                return Err(StatusError::invalid(def, name, &errs));
            }
            if new == old {
                return Ok(old);
            }
            // Removing the last finalizer of an object being deleted completes the deletion,
            // unless a graceful deletion is still running (the kubelet finishes those).
            let deleting = new.pointer("/metadata/deletionTimestamp").is_some()
                && new.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0) == 0;
            let empty = |p: &str| new.pointer(p).and_then(Value::as_array).is_none_or(|a| a.is_empty());
            let is_namespace = def.plural == "namespaces" && def.group.is_empty();
            let no_finalizers = empty("/metadata/finalizers") && (!is_namespace || empty("/spec/finalizers"));
            if opts.dry_run {
                return Ok(new);
            }
            super::hooks::before_update(self, def, &old, &mut new).await?;
            if deleting && no_finalizers {
                match self.store.delete(&key, Some(kv.mod_revision)).await {
                    Ok(gone) => {
                        super::hooks::after_delete(self, def, &old).await;
                        meta_mut(&mut new).insert("resourceVersion".into(), json!(gone.mod_revision.to_string()));
                        return Ok(new);
                    }
                    Err(store::Error::Conflict { .. }) if wanted_rv.is_none() => continue,
                    Err(store::Error::Conflict { .. }) => return Err(StatusError::conflict(def, name)),
                    Err(store::Error::NotFound(_)) => return Err(StatusError::not_found(def, name)),
                    Err(e) => return Err(e.into()),
                }
            }
            let bytes = self.encode(def, &new)?;
            let written = self.store.update(&key, bytes, Some(kv.mod_revision)).await;
            if written.is_err() {
                // A failed write gives back what it allocated (the roles of old and new swap).
                super::hooks::after_update(self, def, &new, &old).await;
            }
            match written {
                Ok(kv) => {
                    super::hooks::after_update(self, def, &old, &new).await;
                    meta_mut(&mut new).insert("resourceVersion".into(), json!(kv.mod_revision.to_string()));
                    return Ok(new);
                }
                Err(store::Error::Conflict { .. }) if wanted_rv.is_none() => continue,
                Err(store::Error::Conflict { .. }) => return Err(StatusError::conflict(def, name)),
                Err(store::Error::NotFound(_)) => return Err(StatusError::not_found(def, name)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(StatusError::conflict(def, name))
    }

    /// Applies a JSON Patch or JSON merge patch to the object (or its status).
    pub async fn patch(
        &self,
        def: &'static ResourceDef,
        ns: Option<&str>,
        name: &str,
        patch_type: PatchType,
        body: &Value,
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<Value> {
        if patch_type == PatchType::Apply {
            return self.apply(def, ns, name, body, subresource, false, opts).await.map(|(obj, _)| obj);
        }
        let wanted_rv = match patch_type {
            PatchType::Merge | PatchType::Strategic => match body.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
                Some(s) if !s.is_empty() => Some(s.parse::<Revision>().map_err(|_| StatusError::bad_request(format!("invalid resourceVersion {s:?}")))?),
                _ => None,
            },
            _ => None,
        };
        self.update_as(def, ns, name, wanted_rv, opts, Fields::Update(subresource), |old| {
            let mut patched = apply_patch(old, patch_type, body, (def.group, def.version, def.kind))?;
            super::fields::check_patch(def, &mut patched, patch_type, body, &opts.field_validation)?;
            Ok(merge_update(def, old, patched, subresource))
        })
        .await
    }

    /// Server-side apply (PATCH with application/apply-patch+yaml) of `body` by
    /// `opts.field_manager`: creates the object when it is missing (true) or merges the
    /// configuration into it (false), keeping managedFields. Changing a field another
    /// manager owns is 409 Conflict unless `force`.
    #[allow(clippy::too_many_arguments)]
    pub async fn apply(
        &self,
        def: &'static ResourceDef,
        ns: Option<&str>,
        name: &str,
        body: &Value,
        subresource: Option<&str>,
        force: bool,
        opts: &WriteOptions,
    ) -> Result<(Value, bool)> {
        super::apply::check_patch_options(true, opts.field_manager.as_deref(), None)?;
        let manager = opts.field_manager.as_deref().unwrap_or_default();
        let ns = self.ns_for(def, ns);
        let body_ns = meta_str(body, "namespace");
        if def.namespaced && !body_ns.is_empty() && Some(body_ns) != ns {
            return Err(StatusError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let same_name = |obj: &Value| match meta_str(obj, "name") {
            n if n == name => Ok(()),
            n => Err(StatusError::bad_request(format!("the name of the object ({n}) does not match the name on the URL ({name})"))),
        };
        let key = def.key(ns, name);
        for _ in 0..MAX_RETRIES {
            if self.store.get(&key)?.is_none() {
                if subresource.is_some() {
                    return Err(StatusError::not_found(def, name));
                }
                let obj = super::apply::apply(def, None, body, manager, force, None)?;
                same_name(&obj)?;
                match self.create_as(def, ns, obj, opts, Fields::Applied).await {
                    Err(e) if e.reason == "AlreadyExists" => continue,
                    created => return created.map(|obj| (obj, true)),
                }
            }
            let updated = self
                .update_as(def, ns, name, None, opts, Fields::Applied, |old| {
                    let new = super::apply::apply(def, Some(old), body, manager, force, subresource)?;
                    same_name(&new)?;
                    Ok(merge_update(def, old, new, subresource))
                })
                .await;
            match updated {
                Err(e) if e.reason == "NotFound" && subresource.is_none() => continue,
                updated => return updated.map(|obj| (obj, false)),
            }
        }
        Err(StatusError::conflict(def, name))
    }

    /// Stores an object marked for deletion (deletionTimestamp, finalizers) if it is still at
    /// `revision`: Some(Pending) when stored (or on a dry run), None on a conflict (retry).
    async fn store_pending(
        &self,
        def: &'static ResourceDef,
        key: &str,
        name: &str,
        revision: i64,
        mut new: Value,
        dry_run: bool,
    ) -> Result<Option<Deleted>> {
        if dry_run {
            return Ok(Some(Deleted::Pending(new)));
        }
        let bytes = self.encode(def, &new)?;
        match self.store.update(key, bytes, Some(revision)).await {
            Ok(kv) => {
                meta_mut(&mut new).insert("resourceVersion".into(), json!(kv.mod_revision.to_string()));
                Ok(Some(Deleted::Pending(new)))
            }
            Err(store::Error::Conflict { .. }) => Ok(None),
            Err(store::Error::NotFound(_)) => Err(StatusError::not_found(def, name)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete(&self, def: &'static ResourceDef, ns: Option<&str>, name: &str, opts: &DeleteOptions) -> Result<Deleted> {
        let ns = self.ns_for(def, ns);
        let key = def.key(ns, name);
        for _ in 0..MAX_RETRIES {
            let kv = self.store.get(&key)?.ok_or_else(|| StatusError::not_found(def, name))?;
            let obj = self.decode_kv(def, &kv)?;
            if let Some(uid) = opts.precondition_uid.as_deref() {
                if uid != meta_str(&obj, "uid") {
                    return Err(StatusError::conflict_msg(
                        def,
                        name,
                        &format!("Precondition failed: UID in precondition: {}, UID in object meta: {}", uid, meta_str(&obj, "uid")),
                    ));
                }
            }
            if let Some(rv) = opts.precondition_resource_version.as_deref() {
                if rv != meta_str(&obj, "resourceVersion") {
                    return Err(StatusError::conflict_msg(
                        def,
                        name,
                        &format!(
                            "Precondition failed: ResourceVersion in precondition: {}, ResourceVersion in object meta: {}",
                            rv,
                            meta_str(&obj, "resourceVersion")
                        ),
                    ));
                }
            }
            // Propagation: `orphan` / `foregroundDeletion` finalizers for the garbage collector.
            let (gc_changed, finalizers) = deletion_finalizers(def, &obj, opts);
            let has_finalizers = !finalizers.is_empty();
            // Graceful deletion (pods on a node): mark with deletionTimestamp = now + grace; the
            // kubelet finishes with grace 0. A later delete may only shorten the grace period.
            match graceful_deletion(def, &obj, opts) {
                Graceful::Pending if !gc_changed => return Ok(Deleted::Pending(obj)),
                Graceful::Mark(mut new) => {
                    let immediate = !has_finalizers && new.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64) == Some(0);
                    if !immediate {
                        if gc_changed {
                            meta_mut(&mut new).insert("finalizers".into(), json!(finalizers));
                        }
                        match self.store_pending(def, &key, name, kv.mod_revision, new, opts.dry_run).await? {
                            Some(pending) => return Ok(pending),
                            None => continue,
                        }
                    }
                }
                Graceful::Pending | Graceful::No => {}
            }
            let ns_finalizers = def.plural == "namespaces" && def.group.is_empty()
                && obj.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
            let already_deleting = obj.pointer("/metadata/deletionTimestamp").is_some();
            if has_finalizers || ns_finalizers || (already_deleting && gc_changed) {
                // Graceful: mark for deletion; whoever owns the finalizers completes it.
                if already_deleting && !gc_changed {
                    return Ok(Deleted::Pending(obj));
                }
                let mut new = obj.clone();
                {
                    let m = meta_mut(&mut new);
                    if !already_deleting {
                        m.insert("deletionTimestamp".into(), json!(now_rfc3339()));
                        m.insert("deletionGracePeriodSeconds".into(), json!(0));
                    }
                    if gc_changed {
                        if finalizers.is_empty() {
                            m.remove("finalizers");
                        } else {
                            m.insert("finalizers".into(), json!(finalizers));
                        }
                    }
                }
                if already_deleting && !has_finalizers && !ns_finalizers {
                    // The request dropped the last finalizer: the object goes now.
                    if opts.dry_run {
                        return Ok(Deleted::Gone(new));
                    }
                    match self.store.delete(&key, Some(kv.mod_revision)).await {
                        Ok(gone) => {
                            super::hooks::after_delete(self, def, &new).await;
                            meta_mut(&mut new).insert("resourceVersion".into(), json!(gone.mod_revision.to_string()));
                            return Ok(Deleted::Gone(new));
                        }
                        Err(store::Error::Conflict { .. }) => continue,
                        Err(store::Error::NotFound(_)) => return Err(StatusError::not_found(def, name)),
                        Err(e) => return Err(e.into()),
                    }
                }
                if ns_finalizers {
                    if let Some(map) = new.as_object_mut() {
                        let status = map.entry("status").or_insert_with(|| json!({}));
                        if let Some(s) = status.as_object_mut() {
                            s.insert("phase".into(), json!("Terminating"));
                        }
                    }
                }
                match self.store_pending(def, &key, name, kv.mod_revision, new, opts.dry_run).await? {
                    Some(pending) => return Ok(pending),
                    None => continue,
                }
            }
            if opts.dry_run {
                return Ok(Deleted::Gone(obj));
            }
            match self.store.delete(&key, Some(kv.mod_revision)).await {
                Ok(gone) => {
                    super::hooks::after_delete(self, def, &obj).await;
                    let mut obj = obj;
                    meta_mut(&mut obj).insert("resourceVersion".into(), json!(gone.mod_revision.to_string()));
                    return Ok(Deleted::Gone(obj));
                }
                Err(store::Error::Conflict { .. }) => continue,
                Err(store::Error::NotFound(_)) => return Err(StatusError::not_found(def, name)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(StatusError::conflict(def, name))
    }

    /// Deletes every object the selectors match; returns the deleted objects.
    pub async fn delete_collection(
        &self,
        def: &'static ResourceDef,
        ns: Option<&str>,
        list: &ListOptions,
        opts: &DeleteOptions,
    ) -> Result<ListOutput> {
        let mut listed = self.list(def, ns, &ListOptions { limit: 0, continue_token: None, ..list.clone() }).await?;
        let mut deleted = Vec::with_capacity(listed.items.len());
        for obj in std::mem::take(&mut listed.items) {
            let name = meta_str(&obj, "name").to_string();
            let obj_ns = meta_str(&obj, "namespace").to_string();
            let obj_ns = if def.namespaced { Some(obj_ns.as_str()) } else { None };
            match self.delete(def, obj_ns, &name, opts).await {
                Ok(Deleted::Gone(o)) | Ok(Deleted::Pending(o)) => deleted.push(o),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        listed.items = deleted;
        listed.resource_version = self.store.current_revision();
        Ok(listed)
    }

    /// Starts a watch. Errors that Kubernetes reports in-stream (410 Expired) come as the
    /// first event rather than as Err.
    pub async fn watch(&self, def: &'static ResourceDef, ns: Option<&str>, opts: &WatchOptions) -> Result<RegistryWatch> {
        let filter = Filter::new(def, opts.label_selector.as_deref(), opts.field_selector.as_deref())?;
        let ns = self.ns_for(def, ns);
        let prefix = def.prefix(ns);
        let rv_param = opts.resource_version.as_deref().unwrap_or("");
        let initial = match opts.send_initial_events {
            Some(v) => v,
            None => rv_param.is_empty() || rv_param == "0",
        };
        let mut queue = VecDeque::new();
        let start: Revision;
        if initial {
            let listed = self.list(def, ns, &ListOptions {
                label_selector: opts.label_selector.clone(),
                field_selector: opts.field_selector.clone(),
                ..Default::default()
            })
            .await?;
            start = listed.resource_version;
            for obj in listed.items {
                queue.push_back(WatchEvent::Added(obj));
            }
            if opts.send_initial_events == Some(true) && opts.allow_bookmarks {
                queue.push_back(WatchEvent::Bookmark { revision: start, initial_end: true });
            }
        } else {
            start = rv_param
                .parse()
                .map_err(|_| StatusError::bad_request(format!("invalid resource version: {rv_param:?}")))?;
        }
        let stream = match self.store.watch(&prefix, start) {
            Ok(s) => Some(s),
            Err(store::Error::Compacted { requested, oldest }) => {
                queue.push_back(WatchEvent::Error(StatusError::expired(format!(
                    "too old resource version: {requested} ({oldest})"
                ))));
                None
            }
            Err(e) => return Err(e.into()),
        };
        Ok(RegistryWatch { registry: self.clone(), def, filter, queue, stream, revision: start })
    }
}

/// Builds the object an update writes: for the main resource the body with the stored status
/// kept (when status is a subresource); for /status the stored object with the body's status.
/// What graceful deletion (rest.BeforeDelete) makes of a delete request.
enum Graceful {
    /// Not a graceful delete: finalizers or an immediate delete decide.
    No,
    /// A graceful deletion is already under way and the request does not shorten it.
    Pending,
    /// Store this object, marked (or re-marked, shorter) for deletion; grace 0 without
    /// finalizers means delete now.
    Mark(Value),
}

fn graceful_deletion(def: &'static ResourceDef, obj: &Value, opts: &DeleteOptions) -> Graceful {
    let grace_now = obj.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64);
    if let Some(ts) = obj.pointer("/metadata/deletionTimestamp").and_then(Value::as_str) {
        let Some(current) = grace_now.filter(|g| *g > 0) else { return Graceful::No };
        return match opts.grace_period_seconds {
            Some(period) if period < current => {
                let period = period.max(0);
                let at = ts
                    .parse::<jiff::Timestamp>()
                    .ok()
                    .and_then(|t| t.checked_add(jiff::SignedDuration::from_secs(period - current)).ok())
                    .unwrap_or_else(jiff::Timestamp::now);
                let mut new = obj.clone();
                let m = meta_mut(&mut new);
                m.insert("deletionTimestamp".into(), json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
                m.insert("deletionGracePeriodSeconds".into(), json!(period));
                Graceful::Mark(new)
            }
            _ => Graceful::Pending,
        };
    }
    let Some(period) = super::hooks::delete_grace_period(def, obj, opts.grace_period_seconds) else { return Graceful::No };
    if period == 0 {
        return Graceful::No;
    }
    let at = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_secs(period)).unwrap_or_else(|_| jiff::Timestamp::now());
    let mut new = obj.clone();
    let m = meta_mut(&mut new);
    m.insert("deletionTimestamp".into(), json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
    m.insert("deletionGracePeriodSeconds".into(), json!(period));
    Graceful::Mark(new)
}

fn merge_update(def: &ResourceDef, old: &Value, body: Value, subresource: Option<&str>) -> Value {
    match subresource {
        Some("status") => {
            let mut new = old.clone();
            if let Some(map) = new.as_object_mut() {
                match body.get("status") {
                    Some(s) => {
                        map.insert("status".into(), s.clone());
                    }
                    None => {
                        map.remove("status");
                    }
                }
            }
            // Labels and annotations may change with status writes (as pods allow).
            for f in ["labels", "annotations"] {
                match body.pointer(&format!("/metadata/{f}")) {
                    Some(v) => {
                        meta_mut(&mut new).insert(f.into(), v.clone());
                    }
                    None => {
                        meta_mut(&mut new).remove(f);
                    }
                }
            }
            new
        }
        _ => {
            let mut new = body;
            if def.has_status {
                if let Some(map) = new.as_object_mut() {
                    match old.get("status") {
                        Some(s) => {
                            map.insert("status".into(), s.clone());
                        }
                        None => {
                            map.remove("status");
                        }
                    }
                }
            }
            new
        }
    }
}

/// Applies one patch document to an object of kind `(group, version, kind)`.
pub fn apply_patch(old: &Value, patch_type: PatchType, body: &Value, gvk: (&str, &str, &str)) -> Result<Value> {
    let mut doc = old.clone();
    match patch_type {
        PatchType::Merge => {
            if !body.is_object() {
                return Err(StatusError::bad_request("json: cannot unmarshal into Go value of type map[string]interface {}"));
            }
            json_patch::merge(&mut doc, body);
        }
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(body.clone())
                .map_err(|e| StatusError::bad_request(format!("the server rejected our request due to an error in our request: {e}")))?;
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                StatusError::new(422, "Invalid", format!("the server rejected our request due to an error in our request: {e}"))
            })?;
        }
        PatchType::Strategic => {
            let (g, v, k) = gvk;
            let schema = super::patch::schema_for(g, v, k).unwrap_or(&super::patch::Schema::UNKNOWN);
            doc = super::patch::strategic_merge(old, body, schema).map_err(|e| {
                let reason = if e.code() == 400 { "BadRequest" } else { "Invalid" };
                StatusError::new(e.code(), reason, e.to_string())
            })?;
        }
        PatchType::Apply => {
            return Err(StatusError::unsupported_media_type(
                "",
                &["application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"],
            ));
        }
    }
    Ok(doc)
}

/// A running watch over one resource, filtered by selectors.
pub struct RegistryWatch {
    registry: Registry,
    def: &'static ResourceDef,
    filter: Filter,
    queue: VecDeque<WatchEvent>,
    stream: Option<store::WatchStream>,
    revision: Revision,
}

impl RegistryWatch {
    /// The revision up to which every change has been considered (for bookmarks).
    pub fn revision(&self) -> Revision {
        self.revision
    }

    pub fn def(&self) -> &'static ResourceDef {
        self.def
    }

    /// The next event; None when the watch has ended.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        loop {
            if let Some(ev) = self.queue.pop_front() {
                return Some(ev);
            }
            let stream = self.stream.as_mut()?;
            let ev = match stream.next().await {
                None => {
                    self.stream = None;
                    return None;
                }
                Some(Err(e)) => {
                    self.stream = None;
                    return Some(WatchEvent::Error(e.into()));
                }
                Some(Ok(ev)) => ev,
            };
            self.revision = ev.revision;
            match self.translate(&ev) {
                Ok(Some(out)) => return Some(out),
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(key = %ev.key, error = %e, "skipping undecodable watch event");
                    continue;
                }
            }
        }
    }

    fn translate(&self, ev: &store::Event) -> Result<Option<WatchEvent>> {
        let reg = &self.registry;
        let obj = reg.decode(self.def, &ev.value, ev.revision)?;
        let now = self.filter.matches(&obj);
        let before = match (&ev.prev_value, self.filter.is_empty()) {
            (_, true) => true,
            (Some(p), false) => reg.decode(self.def, p, ev.revision).map(|o| self.filter.matches(&o)).unwrap_or(false),
            (None, false) => false,
        };
        Ok(match ev.kind {
            EventKind::Created => now.then_some(WatchEvent::Added(obj)),
            EventKind::Updated => match (before, now) {
                (true, true) => Some(WatchEvent::Modified(obj)),
                (false, true) => Some(WatchEvent::Added(obj)),
                (true, false) => Some(WatchEvent::Deleted(obj)),
                (false, false) => None,
            },
            EventKind::Deleted => now.then_some(WatchEvent::Deleted(obj)),
        })
    }
}

/// Shared handle used by components.
pub type SharedRegistry = Arc<Registry>;
