//! What the workload controllers share about their pods: controller references, typed label
//! selector matching, adoption and release by selector (client-go's ControllerRefManager),
//! pods built from templates, and the readiness and availability rules.

use crate::client::{Client, Result};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The owner reference marked `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.as_ref()?.iter().find(|r| r.controller == Some(true))
}

/// Whether `meta`'s controller is the object with this uid.
pub fn controlled_by(meta: &ObjectMeta, owner_uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == owner_uid)
}

/// A controller reference to `owner` (controller and blockOwnerDeletion set, as the
/// workload controllers write them).
pub fn controller_ref<K>(owner: &K) -> OwnerReference
where
    K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    let m = owner.metadata();
    OwnerReference {
        api_version: K::API_VERSION.to_string(),
        kind: K::KIND.to_string(),
        name: m.name.clone().unwrap_or_default(),
        uid: m.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether a typed label selector matches a label set. An empty selector matches everything
/// (callers that must treat it as "nothing", like ReplicaSets, check `is_empty_selector`).
pub fn selector_matches(sel: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    if let Some(ml) = &sel.match_labels {
        if ml.iter().any(|(k, v)| labels.get(k) != Some(v)) {
            return false;
        }
    }
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.as_deref().unwrap_or(&[]);
        let have = labels.get(&e.key);
        let ok = match e.operator.as_str() {
            "In" => have.is_some_and(|v| values.contains(v)),
            "NotIn" => have.is_none_or(|v| !values.contains(v)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

pub fn is_empty_selector(sel: &LabelSelector) -> bool {
    sel.match_labels.as_ref().is_none_or(|m| m.is_empty()) && sel.match_expressions.as_ref().is_none_or(|m| m.is_empty())
}

/// The selector as a label-selector query string, for list calls.
pub fn selector_string(sel: &LabelSelector) -> String {
    let mut parts: Vec<String> = sel.match_labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.as_deref().unwrap_or(&[]).join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

/// Pod phase, "" when unset.
pub fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

/// Not finished and not being deleted: the pods a ReplicaSet counts.
pub fn is_active(pod: &Pod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && pod.metadata.deletion_timestamp.is_none()
}

/// The pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// When the pod became Ready, if it is.
pub fn ready_since(pod: &Pod) -> Option<jiff::Timestamp> {
    let c = pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")?;
    if c.status != "True" {
        return None;
    }
    Some(c.last_transition_time.as_ref().map(|t| t.0).unwrap_or(jiff::Timestamp::UNIX_EPOCH))
}

/// Ready for at least `min_ready_seconds` at `now`.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: jiff::Timestamp) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(since) => since.as_second() + i64::from(min_ready_seconds) <= now.as_second(),
    }
}

/// A pod for `owner` from its template: the template's labels, annotations and spec, a
/// `generateName` of `<prefix>`, and the controller reference.
pub fn pod_from_template(template: &PodTemplateSpec, owner: OwnerReference, namespace: &str, generate_name: &str) -> Pod {
    let tm = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: tm.labels,
            annotations: tm.annotations,
            finalizers: tm.finalizers,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// Adopts orphans the selector matches and releases owned pods it no longer matches, as
/// client-go's ControllerRefManager does; returns the pods `owner` controls afterwards.
/// `owner_deleting`: an owner being deleted adopts nothing.
pub async fn claim_pods<K>(client: &Client, owner: &K, selector: &LabelSelector, pods: Vec<Arc<Pod>>) -> Result<Vec<Arc<Pod>>>
where
    K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    let om = owner.metadata();
    let uid = om.uid.clone().unwrap_or_default();
    let ns = om.namespace.clone().unwrap_or_default();
    let owner_deleting = om.deletion_timestamp.is_some();
    let api = client.api::<Pod>(Some(&ns))?;
    let mut claimed = Vec::new();
    for pod in pods {
        if pod.metadata.namespace.as_deref() != Some(ns.as_str()) {
            continue;
        }
        let matches = !is_empty_selector(selector) && selector_matches(selector, pod.metadata.labels.as_ref());
        let name = pod.metadata.name.clone().unwrap_or_default();
        match controller_of(&pod.metadata) {
            Some(r) if r.uid == uid => {
                if matches || owner_deleting {
                    claimed.push(pod);
                } else if pod.metadata.deletion_timestamp.is_none() {
                    // Release: drop our reference, keep the others.
                    let refs: Vec<&OwnerReference> =
                        pod.metadata.owner_references.iter().flatten().filter(|r| r.uid != uid).collect();
                    let patch = json!({"metadata": {"ownerReferences": refs, "uid": pod.metadata.uid}});
                    match api.patch_merge(&name, &patch).await {
                        Ok(_) => {}
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Some(_) => {}
            None => {
                if !matches || owner_deleting || pod.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                let mut refs: Vec<OwnerReference> = pod.metadata.owner_references.clone().unwrap_or_default();
                refs.push(controller_ref(owner));
                let patch = json!({"metadata": {"ownerReferences": refs, "uid": pod.metadata.uid}});
                match api.patch_merge(&name, &patch).await {
                    Ok(p) => claimed.push(Arc::new(p)),
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn selectors_match_labels_and_expressions() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                LabelSelectorRequirement { key: "tier".into(), operator: "In".into(), values: Some(vec!["a".into(), "b".into()]) },
                LabelSelectorRequirement { key: "canary".into(), operator: "DoesNotExist".into(), values: None },
            ]),
        };
        assert!(selector_matches(&sel, Some(&labels(&[("app", "web"), ("tier", "b")]))));
        assert!(!selector_matches(&sel, Some(&labels(&[("app", "web"), ("tier", "c")]))));
        assert!(!selector_matches(&sel, Some(&labels(&[("app", "web"), ("tier", "a"), ("canary", "1")]))));
        assert!(!selector_matches(&sel, None));
        assert_eq!(selector_string(&sel), "app=web,tier in (a,b),!canary");
    }
}
