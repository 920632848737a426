//! The garbage collector, as kube-controller-manager's: a graph of every object's owners and
//! dependents built from watches of every resource (events excepted), and workers that
//!
//! - delete dependents whose owners are all gone (an owner recreated under the same name is a
//!   different uid, so it does not count), with the propagation their own finalizers ask for;
//! - carry out foreground deletion: an owner with `foregroundDeletion` has its dependents
//!   deleted and keeps the finalizer until no dependent with `blockOwnerDeletion` is left;
//! - carry out orphaning: an owner with `orphan` has its reference removed from every
//!   dependent, then the finalizer removed.
//!
//! The graph is kept by one task; workers read it and write through the registry, with the
//! object's uid as a precondition, then let the watches bring the outcome back.

use crate::controllers::runtime::{run as run_queue, Action, Context, ObjectKey, Queue};
use crate::registry::generic::{
    meta_str, DeleteOptions, Registry, WatchEvent, WatchOptions, WriteOptions, FOREGROUND_FINALIZER, ORPHAN_FINALIZER,
};
use crate::registry::status::StatusError;
use crate::registry::{self, ResourceDef};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Concurrent workers (upstream's ConcurrentGCSyncs default).
const WORKERS: usize = 20;
/// Who the collector's writes are attributed to.
const MANAGER: &str = "kube-controller-manager";

/// One entry of an object's `metadata.ownerReferences`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    pub uid: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub block_owner_deletion: bool,
}

/// The object's owner references.
pub fn owner_refs(obj: &Value) -> Vec<OwnerRef> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some(OwnerRef {
                uid: r.get("uid")?.as_str()?.to_string(),
                api_version: r.get("apiVersion").and_then(Value::as_str).unwrap_or("").to_string(),
                kind: r.get("kind").and_then(Value::as_str).unwrap_or("").to_string(),
                name: r.get("name").and_then(Value::as_str).unwrap_or("").to_string(),
                block_owner_deletion: r.get("blockOwnerDeletion").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect()
}

fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|a| a.iter().any(|x| x == f))
}

/// An object in the graph; `observed` false for an owner only known from references
/// (`absent` once it is known to be gone).
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub def: Option<&'static ResourceDef>,
    pub namespace: Option<String>,
    pub name: String,
    pub owners: Vec<OwnerRef>,
    pub dependents: HashSet<String>,
    pub deleting: bool,
    pub orphan: bool,
    pub foreground: bool,
    pub observed: bool,
    pub absent: bool,
}

impl Node {
    /// Being deleted with the `foregroundDeletion` finalizer: its dependents go first.
    pub fn deleting_dependents(&self) -> bool {
        self.observed && self.deleting && self.foreground
    }
}

/// The uid → node graph of owners and dependents.
#[derive(Debug, Default)]
pub struct Graph {
    pub nodes: HashMap<String, Node>,
}

impl Graph {
    fn link(&mut self, owner: &str, dependent: &str) {
        self.nodes.entry(owner.to_string()).or_default().dependents.insert(dependent.to_string());
    }

    fn unlink(&mut self, owner: &str, dependent: &str) {
        if let Some(n) = self.nodes.get_mut(owner) {
            n.dependents.remove(dependent);
            if !n.observed && n.dependents.is_empty() {
                self.nodes.remove(owner);
            }
        }
    }

    /// Records an added or changed object; returns the uids to process.
    pub fn apply(&mut self, def: &'static ResourceDef, obj: &Value) -> Vec<String> {
        let uid = meta_str(obj, "uid").to_string();
        if uid.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let owners = owner_refs(obj);
        let deleting = obj.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null());
        let (orphan, foreground) = (has_finalizer(obj, ORPHAN_FINALIZER), has_finalizer(obj, FOREGROUND_FINALIZER));
        let old = self.nodes.get(&uid).cloned().unwrap_or_default();
        let old_blocking: HashMap<&str, bool> = old.owners.iter().map(|r| (r.uid.as_str(), r.block_owner_deletion)).collect();
        let new_uids: HashSet<&str> = owners.iter().map(|r| r.uid.as_str()).collect();
        for r in &old.owners {
            if !new_uids.contains(r.uid.as_str()) {
                self.unlink(&r.uid, &uid);
                if self.nodes.get(&r.uid).is_some_and(Node::deleting_dependents) {
                    out.push(r.uid.clone());
                }
            }
        }
        let mut check_self = false;
        for r in &owners {
            if r.uid == uid {
                continue;
            }
            self.link(&r.uid, &uid);
            let owner = &self.nodes[&r.uid];
            if !owner.observed || owner.absent || owner.deleting_dependents() {
                check_self = true;
            }
            if owner.deleting_dependents() && old_blocking.get(r.uid.as_str()) != Some(&r.block_owner_deletion) {
                out.push(r.uid.clone());
            }
        }
        let entering_foreground = deleting && foreground && !(old.observed && old.deleting && old.foreground);
        let node = self.nodes.entry(uid.clone()).or_default();
        node.def = Some(def);
        node.namespace = Some(meta_str(obj, "namespace").to_string()).filter(|n| !n.is_empty());
        node.name = meta_str(obj, "name").to_string();
        node.owners = owners;
        node.deleting = deleting;
        node.orphan = orphan;
        node.foreground = foreground;
        node.observed = true;
        node.absent = false;
        if deleting && (orphan || foreground) {
            out.push(uid.clone());
        }
        if entering_foreground {
            out.extend(node.dependents.iter().cloned());
        }
        if check_self {
            out.push(uid);
        }
        out
    }

    /// Records a deleted object; returns the uids to process (its dependents, now dangling,
    /// and owners waiting for it).
    pub fn delete(&mut self, obj: &Value) -> Vec<String> {
        let uid = meta_str(obj, "uid").to_string();
        let Some(node) = self.nodes.get(&uid).cloned() else { return Vec::new() };
        let mut out = Vec::new();
        for r in &node.owners {
            self.unlink(&r.uid, &uid);
            if self.nodes.get(&r.uid).is_some_and(Node::deleting_dependents) {
                out.push(r.uid.clone());
            }
        }
        out.extend(node.dependents.iter().cloned());
        if node.dependents.is_empty() {
            self.nodes.remove(&uid);
        } else if let Some(n) = self.nodes.get_mut(&uid) {
            // Kept, absent, while dependents still name it.
            *n = Node { dependents: node.dependents, absent: true, ..Default::default() };
        }
        out
    }
}

/// What became of one owner reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// Exists (same uid) and is not deleting its dependents first.
    Solid,
    /// Exists and is being deleted in the foreground.
    Waiting,
    /// Gone, or replaced by an object with another uid.
    Dangling,
}

/// What to do with an object after classifying its owners (upstream's attemptToDeleteItem).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Keep,
    /// A solid owner remains: drop the references to these (dangling or waiting) owners.
    RemoveRefs(Vec<String>),
    /// Delete with this propagation policy; first make the references to these owners
    /// non-blocking (a cycle of foreground deletions).
    Delete { policy: &'static str, unblock: Vec<String> },
}

pub fn decide(owners: &[(OwnerRef, OwnerState)], has_dependents: bool, dependent_deleting_dependents: bool, orphan: bool, foreground: bool) -> Decision {
    let of = |s: OwnerState| owners.iter().filter(move |(_, st)| *st == s).map(|(r, _)| r.uid.clone());
    let solid = of(OwnerState::Solid).count();
    let waiting: Vec<String> = of(OwnerState::Waiting).collect();
    let dangling: Vec<String> = of(OwnerState::Dangling).collect();
    if owners.is_empty() || (dangling.is_empty() && waiting.is_empty()) {
        return Decision::Keep;
    }
    if solid > 0 {
        return Decision::RemoveRefs(dangling.into_iter().chain(waiting).collect());
    }
    if !waiting.is_empty() && has_dependents {
        let unblock = if dependent_deleting_dependents { waiting } else { Vec::new() };
        return Decision::Delete { policy: "Foreground", unblock };
    }
    let policy = if orphan {
        "Orphan"
    } else if foreground {
        "Foreground"
    } else {
        "Background"
    };
    Decision::Delete { policy, unblock: Vec::new() }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] StatusError),
}

/// The resources the collector watches: one def per storage location, events left out (as
/// upstream ignores them), only kinds that can be watched and deleted.
pub fn watched_resources() -> Vec<&'static ResourceDef> {
    let mut seen = HashSet::new();
    registry::all()
        .iter()
        .copied()
        .filter(|d| d.plural != "events")
        .filter(|d| d.verbs.contains(&"watch") && d.verbs.contains(&"delete"))
        .filter(|d| seen.insert(d.storage_prefix))
        .collect()
}

/// The def for an owner reference's apiVersion and kind (any served version of the group).
pub fn def_for(api_version: &str, kind: &str) -> Option<&'static ResourceDef> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let all = registry::all();
    all.iter()
        .copied()
        .find(|d| d.group == group && d.version == version && d.kind == kind)
        .or_else(|| all.iter().copied().find(|d| d.group == group && d.kind == kind))
}

enum Change {
    Event(&'static ResourceDef, WatchEvent),
    /// A watch (re)started: its initial events follow.
    Relist(&'static ResourceDef),
}

struct Collector {
    registry: Registry,
    graph: Arc<Mutex<Graph>>,
    queue: Queue,
}

fn uid_key(uid: &str) -> ObjectKey {
    ObjectKey { namespace: None, name: uid.to_string() }
}

fn write_opts() -> WriteOptions {
    WriteOptions { field_manager: Some(MANAGER.to_string()), ..Default::default() }
}

impl Collector {
    fn graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[tracing::instrument(skip(self), fields(uid = %key.name))]
    async fn process(&self, key: ObjectKey) -> Result<Action, Error> {
        let uid = key.name;
        let Some(node) = self.graph().nodes.get(&uid).cloned() else { return Ok(Action::Done) };
        let Some(def) = node.def.filter(|_| node.observed) else { return Ok(Action::Done) };
        if node.deleting && node.orphan {
            self.orphan_dependents(def, &uid, &node).await?;
        } else if node.deleting_dependents() {
            self.delete_dependents(def, &uid, &node).await?;
        } else if !node.deleting && !node.owners.is_empty() {
            self.attempt_to_delete(def, &uid, &node).await?;
        }
        Ok(Action::Done)
    }

    /// The object as stored now, if it is still the one with this uid.
    async fn latest(&self, def: &'static ResourceDef, node: &Node, uid: &str) -> Result<Option<Value>, Error> {
        match self.registry.get(def, node.namespace.as_deref(), &node.name).await {
            Ok(v) if meta_str(&v, "uid") == uid => Ok(Some(v)),
            Ok(_) => Ok(None),
            Err(e) if e.code == 404 => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn owner_state(&self, r: &OwnerRef, dependent_ns: Option<&str>) -> Result<OwnerState, Error> {
        let known = self.graph().nodes.get(&r.uid).map(|n| (n.observed, n.absent, n.deleting_dependents()));
        match known {
            Some((true, _, waiting)) => return Ok(if waiting { OwnerState::Waiting } else { OwnerState::Solid }),
            Some((false, true, _)) => return Ok(OwnerState::Dangling),
            _ => {}
        }
        // Not seen yet: ask the store.
        let Some(def) = def_for(&r.api_version, &r.kind) else {
            tracing::debug!(api_version = %r.api_version, kind = %r.kind, "owner kind not served; keeping the dependent");
            return Ok(OwnerState::Solid);
        };
        let ns = if def.namespaced { dependent_ns } else { None };
        if def.namespaced && ns.is_none() {
            // A cluster-scoped object cannot be owned by a namespaced one.
            return Ok(OwnerState::Dangling);
        }
        match self.registry.get(def, ns, &r.name).await {
            Ok(v) if meta_str(&v, "uid") == r.uid => {
                let deleting = v.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null());
                Ok(if deleting && has_finalizer(&v, FOREGROUND_FINALIZER) { OwnerState::Waiting } else { OwnerState::Solid })
            }
            Ok(_) => Ok(OwnerState::Dangling),
            Err(e) if e.code == 404 => Ok(OwnerState::Dangling),
            Err(e) => Err(e.into()),
        }
    }

    async fn attempt_to_delete(&self, def: &'static ResourceDef, uid: &str, node: &Node) -> Result<(), Error> {
        let Some(latest) = self.latest(def, node, uid).await? else { return Ok(()) };
        if latest.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
            return Ok(());
        }
        let refs = owner_refs(&latest);
        let mut owners = Vec::with_capacity(refs.len());
        for r in refs {
            let st = self.owner_state(&r, node.namespace.as_deref()).await?;
            owners.push((r, st));
        }
        let (has_dependents, dep_cycle) = {
            let g = self.graph();
            let deps = g.nodes.get(uid).map(|n| n.dependents.clone()).unwrap_or_default();
            let cycle = deps.iter().any(|d| g.nodes.get(d).is_some_and(Node::deleting_dependents));
            (!deps.is_empty(), cycle)
        };
        let decision = decide(
            &owners,
            has_dependents,
            dep_cycle,
            has_finalizer(&latest, ORPHAN_FINALIZER),
            has_finalizer(&latest, FOREGROUND_FINALIZER),
        );
        tracing::debug!(?decision, "garbage collector decision");
        match decision {
            Decision::Keep => Ok(()),
            Decision::RemoveRefs(uids) => self.edit_refs(def, node, uid, |refs| refs.retain(|r| !uids.iter().any(|u| r.get("uid").and_then(Value::as_str) == Some(u)))).await,
            Decision::Delete { policy, unblock } => {
                if !unblock.is_empty() {
                    self.edit_refs(def, node, uid, |refs| {
                        for r in refs.iter_mut() {
                            if unblock.iter().any(|u| r.get("uid").and_then(Value::as_str) == Some(u)) {
                                r["blockOwnerDeletion"] = json!(false);
                            }
                        }
                    })
                    .await?;
                }
                let opts = DeleteOptions {
                    precondition_uid: Some(uid.to_string()),
                    propagation_policy: Some(policy.to_string()),
                    ..Default::default()
                };
                match self.registry.delete(def, node.namespace.as_deref(), &node.name, &opts).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.code == 404 || e.code == 409 => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// Rewrites the object's ownerReferences (if it is still the object with this uid).
    async fn edit_refs(&self, def: &'static ResourceDef, node: &Node, uid: &str, edit: impl Fn(&mut Vec<Value>)) -> Result<(), Error> {
        let res = self
            .registry
            .update_with(def, node.namespace.as_deref(), &node.name, None, &write_opts(), |old| {
                if meta_str(old, "uid") != uid {
                    return Err(StatusError::new(404, "NotFound", "replaced"));
                }
                let mut new = old.clone();
                let mut refs = new.pointer("/metadata/ownerReferences").and_then(Value::as_array).cloned().unwrap_or_default();
                edit(&mut refs);
                if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                    if refs.is_empty() {
                        m.remove("ownerReferences");
                    } else {
                        m.insert("ownerReferences".into(), Value::Array(refs));
                    }
                }
                Ok(new)
            })
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn remove_finalizer(&self, def: &'static ResourceDef, node: &Node, uid: &str, finalizer: &str) -> Result<(), Error> {
        let res = self
            .registry
            .update_with(def, node.namespace.as_deref(), &node.name, None, &write_opts(), |old| {
                if meta_str(old, "uid") != uid {
                    return Err(StatusError::new(404, "NotFound", "replaced"));
                }
                let mut new = old.clone();
                if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                    let left: Vec<Value> = m
                        .get("finalizers")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter(|f| f.as_str() != Some(finalizer))
                        .cloned()
                        .collect();
                    if left.is_empty() {
                        m.remove("finalizers");
                    } else {
                        m.insert("finalizers".into(), Value::Array(left));
                    }
                }
                Ok(new)
            })
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Orphan: drop the owner's references from every dependent, then the `orphan` finalizer.
    async fn orphan_dependents(&self, def: &'static ResourceDef, uid: &str, node: &Node) -> Result<(), Error> {
        let deps: Vec<(String, Node)> = {
            let g = self.graph();
            node.dependents.iter().filter_map(|d| g.nodes.get(d).filter(|n| n.observed).map(|n| (d.clone(), n.clone()))).collect()
        };
        for chunk in deps.chunks(64) {
            let results = futures::future::join_all(chunk.iter().map(|(dep_uid, d)| async move {
                let Some(ddef) = d.def else { return Ok(()) };
                self.edit_refs(ddef, d, dep_uid, |refs| refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid))).await
            }))
            .await;
            for r in results {
                r?;
            }
        }
        self.remove_finalizer(def, node, uid, ORPHAN_FINALIZER).await
    }

    /// Foreground: dependents are deleted; the owner keeps `foregroundDeletion` while any
    /// dependent blocks it.
    async fn delete_dependents(&self, def: &'static ResourceDef, uid: &str, node: &Node) -> Result<(), Error> {
        let (blocking, to_delete) = {
            let g = self.graph();
            let mut blocking = 0;
            let mut to_delete = Vec::new();
            for d in &node.dependents {
                let Some(dn) = g.nodes.get(d).filter(|n| n.observed) else { continue };
                if dn.owners.iter().any(|r| r.uid == uid && r.block_owner_deletion) {
                    blocking += 1;
                }
                if !dn.deleting {
                    to_delete.push(d.clone());
                }
            }
            (blocking, to_delete)
        };
        if blocking == 0 {
            return self.remove_finalizer(def, node, uid, FOREGROUND_FINALIZER).await;
        }
        for d in to_delete {
            self.queue.add(uid_key(&d));
        }
        Ok(())
    }
}

/// Watches one resource forever, feeding the graph builder.
async fn watch_resource(registry: Registry, def: &'static ResourceDef, tx: mpsc::Sender<Change>, stop: CancellationToken) {
    loop {
        if stop.is_cancelled() {
            return;
        }
        let opts = WatchOptions { send_initial_events: Some(true), allow_bookmarks: true, ..Default::default() };
        let mut w = match registry.watch(def, None, &opts).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(resource = def.plural, error = %e, "garbage collector watch failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        if tx.send(Change::Relist(def)).await.is_err() {
            return;
        }
        loop {
            let ev = tokio::select! {
                _ = stop.cancelled() => return,
                ev = w.next() => ev,
            };
            match ev {
                None | Some(WatchEvent::Error(_)) => break,
                Some(WatchEvent::Bookmark { initial_end: false, .. }) => {}
                Some(ev) => {
                    if tx.send(Change::Event(def, ev)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Runs until `ctx.stop` is cancelled.
pub async fn run(ctx: Context) {
    let registry = ctx.client.registry().clone();
    let resources = watched_resources();
    let (tx, mut rx) = mpsc::channel::<Change>(8192);
    for def in &resources {
        tokio::spawn(watch_resource(registry.clone(), def, tx.clone(), ctx.stop.clone()));
    }
    drop(tx);
    let graph = Arc::new(Mutex::new(Graph::default()));
    let queue = Queue::new();
    let collector = Arc::new(Collector { registry, graph: graph.clone(), queue: queue.clone() });
    {
        let c = collector.clone();
        tokio::spawn(run_queue("garbagecollector", queue.clone(), WORKERS, ctx.stop.clone(), move |k| {
            let c = c.clone();
            async move { c.process(k).await }
        }));
    }
    // Graph builder. Work found before every watch has listed is held back until then, so
    // an owner not yet listed is not mistaken for a missing one.
    let mut unsynced: HashSet<&'static str> = resources.iter().map(|d| d.storage_prefix).collect();
    let mut held: HashSet<String> = HashSet::new();
    // Per resource being relisted: the uids not seen again yet.
    let mut relisting: HashMap<&'static str, HashSet<String>> = HashMap::new();
    loop {
        let change = tokio::select! {
            _ = ctx.stop.cancelled() => return,
            c = rx.recv() => match c { Some(c) => c, None => return },
        };
        let work = {
            let mut g = graph.lock().unwrap_or_else(|e| e.into_inner());
            match change {
                Change::Relist(def) => {
                    let uids = g.nodes.iter().filter(|(_, n)| n.observed && n.def.is_some_and(|d| d.storage_prefix == def.storage_prefix)).map(|(u, _)| u.clone()).collect();
                    relisting.insert(def.storage_prefix, uids);
                    Vec::new()
                }
                Change::Event(def, WatchEvent::Added(v)) | Change::Event(def, WatchEvent::Modified(v)) => {
                    if let Some(s) = relisting.get_mut(def.storage_prefix) {
                        s.remove(meta_str(&v, "uid"));
                    }
                    g.apply(def, &v)
                }
                Change::Event(_, WatchEvent::Deleted(v)) => g.delete(&v),
                Change::Event(def, WatchEvent::Bookmark { .. }) => {
                    // The end of a (re)list: whatever was not listed again is gone.
                    let mut out = Vec::new();
                    for uid in relisting.remove(def.storage_prefix).unwrap_or_default() {
                        let obj = json!({"metadata": {"uid": uid}});
                        out.extend(g.delete(&obj));
                    }
                    if unsynced.remove(def.storage_prefix) && unsynced.is_empty() {
                        tracing::debug!(objects = g.nodes.len(), "garbage collector graph synced");
                        // Everything with owners gets one look after the first sync.
                        out.extend(g.nodes.iter().filter(|(_, n)| n.observed && !n.owners.is_empty()).map(|(u, _)| u.clone()));
                        out.extend(held.drain());
                    }
                    out
                }
                Change::Event(_, WatchEvent::Error(_)) => Vec::new(),
            }
        };
        if unsynced.is_empty() {
            for uid in work {
                queue.add(uid_key(&uid));
            }
        } else {
            held.extend(work);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(uid: &str, name: &str, owners: &[(&str, bool)]) -> Value {
        let refs: Vec<Value> = owners
            .iter()
            .map(|(u, b)| json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": u, "blockOwnerDeletion": b, "controller": true}))
            .collect();
        json!({"metadata": {"uid": uid, "name": name, "namespace": "default", "ownerReferences": refs}})
    }

    fn rs_def() -> &'static ResourceDef {
        def_for("apps/v1", "ReplicaSet").unwrap()
    }

    fn pod_def() -> &'static ResourceDef {
        def_for("v1", "Pod").unwrap()
    }

    #[test]
    fn graph_links_owners_and_dependents_and_flags_dangling_ones() {
        let mut g = Graph::default();
        // The pod arrives before its owner: it is queued to be checked.
        assert_eq!(g.apply(pod_def(), &obj("p1", "p1", &[("rs1", true)])), ["p1"]);
        assert!(!g.nodes["rs1"].observed);
        assert!(g.apply(rs_def(), &obj("rs1", "rs", &[])).is_empty());
        assert!(g.apply(pod_def(), &obj("p2", "p2", &[("rs1", true)])).is_empty(), "owner known: nothing to do");
        assert_eq!(g.nodes["rs1"].dependents.len(), 2);
        // The owner goes: both dependents are dangling.
        let mut out = g.delete(&obj("rs1", "rs", &[]));
        out.sort();
        assert_eq!(out, ["p1", "p2"]);
        assert!(g.nodes["rs1"].absent);
        g.delete(&obj("p1", "p1", &[("rs1", true)]));
        g.delete(&obj("p2", "p2", &[("rs1", true)]));
        assert!(!g.nodes.contains_key("rs1"), "absent owner forgotten with its last dependent");
    }

    #[test]
    fn foreground_owner_is_processed_with_its_dependents() {
        let mut g = Graph::default();
        g.apply(rs_def(), &obj("rs1", "rs", &[]));
        g.apply(pod_def(), &obj("p1", "p1", &[("rs1", true)]));
        let mut deleting = obj("rs1", "rs", &[]);
        deleting["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        deleting["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
        let mut out = g.apply(rs_def(), &deleting);
        out.sort();
        assert_eq!(out, ["p1", "rs1"]);
        // The dependent going wakes the owner.
        assert_eq!(g.delete(&obj("p1", "p1", &[("rs1", true)])), ["rs1"]);
    }

    fn r(uid: &str) -> OwnerRef {
        OwnerRef { uid: uid.into(), api_version: "apps/v1".into(), kind: "ReplicaSet".into(), name: "x".into(), block_owner_deletion: true }
    }

    #[test]
    fn decisions_follow_upstream() {
        use OwnerState::*;
        assert_eq!(decide(&[(r("a"), Solid)], false, false, false, false), Decision::Keep);
        assert_eq!(decide(&[(r("a"), Solid), (r("b"), Dangling)], false, false, false, false), Decision::RemoveRefs(vec!["b".into()]));
        assert_eq!(
            decide(&[(r("a"), Dangling)], false, false, false, false),
            Decision::Delete { policy: "Background", unblock: vec![] }
        );
        assert_eq!(
            decide(&[(r("a"), Dangling)], true, false, true, false),
            Decision::Delete { policy: "Orphan", unblock: vec![] },
            "the dependent's own orphan finalizer is honoured"
        );
        assert_eq!(
            decide(&[(r("a"), Waiting)], true, false, false, false),
            Decision::Delete { policy: "Foreground", unblock: vec![] }
        );
        assert_eq!(
            decide(&[(r("a"), Waiting)], true, true, false, false),
            Decision::Delete { policy: "Foreground", unblock: vec!["a".into()] }
        );
        assert_eq!(
            decide(&[(r("a"), Waiting)], false, false, false, false),
            Decision::Delete { policy: "Background", unblock: vec![] }
        );
    }

    #[test]
    fn watched_resources_skip_events_and_duplicates() {
        let defs = watched_resources();
        assert!(defs.iter().all(|d| d.plural != "events"));
        assert_eq!(defs.iter().filter(|d| d.plural == "horizontalpodautoscalers").count(), 1);
        assert!(defs.iter().any(|d| d.plural == "pods"));
    }
}
