//! ControllerRevisions as the StatefulSet and DaemonSet controllers keep them (client-go's
//! `controller/history`): a revision's data is a strategic merge patch that replaces the pod
//! template (`{"spec":{"template":{...,"$patch":"replace"}}}`, what `kubectl rollout undo`
//! applies), its name is `<owner>-<hash>`, it carries the template's labels plus
//! `controller-revision-hash`, and hash collisions are resolved with the owner's collisionCount.

use crate::client::{Client, Reader, Result};
use crate::controllers::pods::{controlled_by, controller_ref};
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// The label naming a pod's (and a revision's) revision.
pub const HASH_LABEL: &str = "controller-revision-hash";

/// FNV-1 (32 bit), as Go's `hash/fnv.New32`.
pub fn fnv32(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c9dc5;
    for b in data {
        h = h.wrapping_mul(0x01000193);
        h ^= u32::from(*b);
    }
    h
}

/// FNV-1a (32 bit), as Go's `hash/fnv.New32a`.
pub fn fnv32a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x01000193);
    }
    h
}

/// apimachinery's `rand.SafeEncodeString`: maps each byte onto consonants and digits so that
/// hashes never spell words.
pub fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes().map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char).collect()
}

/// `HashControllerRevision`: FNV-1 of the data bytes and the collision count, safe-encoded.
pub fn hash_revision(data: &[u8], collision_count: Option<i32>) -> String {
    let mut bytes = data.to_vec();
    if let Some(c) = collision_count {
        bytes.extend_from_slice(c.to_string().as_bytes());
    }
    safe_encode(&fnv32(&bytes).to_string())
}

/// `ControllerRevisionName`: `<prefix>-<hash>`, the prefix cut to 223 characters.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let prefix: String = prefix.chars().take(223).collect();
    format!("{prefix}-{hash}")
}

/// The value with every object's keys sorted, as Go marshals maps.
pub fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let s: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(s.into_iter().map(|(k, v)| (k.clone(), v)).collect::<Map<String, Value>>())
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The revision data of a pod template: a patch that replaces the owner's template.
pub fn template_patch(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or_else(|_| Value::Object(Map::new()));
    if let Value::Object(m) = &mut t {
        m.insert("$patch".into(), Value::from("replace"));
    }
    sorted(&serde_json::json!({"spec": {"template": t}}))
}

/// The pod template a revision records.
pub fn template_of(cr: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = cr.data.as_ref()?.0.pointer("/spec/template")?.clone();
    if let Value::Object(m) = &mut t {
        m.remove("$patch");
    }
    serde_json::from_value(t).ok()
}

/// The data's bytes as stored and hashed.
pub fn data_bytes(data: &Value) -> Vec<u8> {
    serde_json::to_vec(data).unwrap_or_default()
}

/// The revisions `owner_uid` controls in `namespace`, by ascending revision (then name).
pub fn owned(reader: &Reader<ControllerRevision>, namespace: &str, owner_uid: &str) -> Vec<Arc<ControllerRevision>> {
    let mut v: Vec<Arc<ControllerRevision>> = reader
        .list()
        .into_iter()
        .filter(|cr| cr.metadata.namespace.as_deref() == Some(namespace) && controlled_by(&cr.metadata, owner_uid))
        .collect();
    sort(&mut v);
    v
}

/// Orders revisions by revision number, then creation, then name.
pub fn sort(v: &mut [Arc<ControllerRevision>]) {
    v.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| a.metadata.creation_timestamp.as_ref().map(|t| t.0).cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0)))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// One more than the highest revision (1 when there are none).
pub fn next_revision(revisions: &[Arc<ControllerRevision>]) -> i64 {
    revisions.iter().map(|r| r.revision).max().unwrap_or(0) + 1
}

/// Whether two revisions record the same data.
pub fn same_data(a: &ControllerRevision, data: &Value) -> bool {
    a.data.as_ref().is_some_and(|d| &d.0 == data)
}

/// A new revision of `owner` (not yet named: `create` names it from its hash).
pub fn new_revision<K>(owner: &K, template_labels: Option<&BTreeMap<String, String>>, data: Value, revision: i64) -> ControllerRevision
where
    K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    let m = owner.metadata();
    ControllerRevision {
        metadata: ObjectMeta {
            namespace: m.namespace.clone(),
            labels: template_labels.cloned(),
            annotations: m.annotations.clone(),
            owner_references: Some(vec![controller_ref(owner)]),
            ..Default::default()
        },
        data: Some(RawExtension(data)),
        revision,
    }
}

/// Creates `cr` named `<owner>-<hash(collision)>`; when a different revision holds the name,
/// bumps `collision_count` and retries (`CreateControllerRevision`). Returns the revision
/// stored (an existing one with the same data is returned as is).
pub async fn create(
    client: &Client,
    owner_name: &str,
    mut cr: ControllerRevision,
    collision_count: &mut i32,
    hash: impl Fn(i32) -> String,
) -> Result<ControllerRevision> {
    let ns = cr.metadata.namespace.clone().unwrap_or_default();
    let api = client.api::<ControllerRevision>(Some(&ns))?;
    let data = cr.data.as_ref().map(|d| d.0.clone()).unwrap_or(Value::Null);
    loop {
        let h = hash(*collision_count);
        let name = revision_name(owner_name, &h);
        cr.metadata.name = Some(name.clone());
        cr.metadata.labels.get_or_insert_with(BTreeMap::new).insert(HASH_LABEL.into(), h);
        match api.create(&cr).await {
            Ok(c) => return Ok(c),
            Err(e) if e.code() == 409 => {
                let existing = api.get(&name).await?;
                if same_data(&existing, &data) {
                    return Ok(existing);
                }
                *collision_count = collision_count.saturating_add(1);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sets an existing revision's number (a rollback to an old template makes it the newest).
pub async fn update_revision(client: &Client, cr: &ControllerRevision, revision: i64) -> Result<ControllerRevision> {
    let ns = cr.metadata.namespace.clone().unwrap_or_default();
    let name = cr.metadata.name.clone().unwrap_or_default();
    client.api::<ControllerRevision>(Some(&ns))?.patch_merge(&name, &serde_json::json!({"revision": revision})).await
}

/// Deletes the oldest revisions not in `live` beyond `limit` of them.
pub async fn truncate(client: &Client, revisions: &[Arc<ControllerRevision>], live: &HashSet<String>, limit: i32) -> Result<()> {
    let dead: Vec<&Arc<ControllerRevision>> =
        revisions.iter().filter(|r| !live.contains(r.metadata.name.as_deref().unwrap_or(""))).collect();
    let limit = usize::try_from(limit.max(0)).unwrap_or(0);
    if dead.len() <= limit {
        return Ok(());
    }
    for r in &dead[..dead.len() - limit] {
        let ns = r.metadata.namespace.clone().unwrap_or_default();
        let name = r.metadata.name.clone().unwrap_or_default();
        match client.api::<ControllerRevision>(Some(&ns))?.delete(&name).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_go() {
        // Go: fnv.New32().Write([]byte("hello")) => 0xb6fa7167; New32a => 0x4f9f2cab.
        assert_eq!(fnv32(b"hello"), 0xb6fa7167);
        assert_eq!(fnv32a(b"hello"), 0x4f9f2cab);
    }

    #[test]
    fn safe_encoding_avoids_vowels() {
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
        let h = hash_revision(b"{}", None);
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)), "{h}");
        assert_ne!(hash_revision(b"{}", Some(1)), h);
        assert_eq!(revision_name("web", "abc"), "web-abc");
    }

    #[test]
    fn template_patch_replaces_and_round_trips() {
        let t: PodTemplateSpec = serde_json::from_value(serde_json::json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        }))
        .unwrap();
        let p = template_patch(&t);
        assert_eq!(p["spec"]["template"]["$patch"], "replace");
        let s = String::from_utf8(data_bytes(&p)).unwrap();
        assert!(s.starts_with(r#"{"spec":{"template":{"$patch":"replace","metadata""#), "{s}");
        let cr = ControllerRevision { data: Some(RawExtension(p)), ..Default::default() };
        assert_eq!(template_of(&cr), Some(t));
    }
}
