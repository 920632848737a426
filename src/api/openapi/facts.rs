//! Field facts upstream's OpenAPI carries and k8s-openapi's schemas do not, written into the
//! definitions by `apply`:
//! - the strategic merge patch metadata (`x-kubernetes-patch-strategy`,
//!   `x-kubernetes-patch-merge-key`), read from the table the server's strategic merge patch
//!   follows (`registry::patch`), so that kubectl, which builds its patches from these
//!   documents, and the server agree about every list;
//! - the server-side apply list and map semantics (`x-kubernetes-list-type`,
//!   `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`) and the `required` lists where
//!   k8s-openapi's differ from upstream's: facts derived from the Kubernetes 1.33 OpenAPI
//!   definitions of the types this server serves.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::registry::{self, patch};

use crate::registry::patch::list_types::FACTS;

type PatchIndex = HashMap<(&'static str, &'static str), (&'static str, Option<&'static str>)>;

/// (definition, property) -> (patch strategy, merge key) of every field with patch metadata,
/// walked once from the patch schema of every served kind and subresource kind.
fn patch_index() -> &'static PatchIndex {
    static INDEX: OnceLock<PatchIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        fn walk(s: &'static patch::Schema, index: &mut PatchIndex, seen: &mut Vec<&'static str>) {
            if seen.contains(&s.name) {
                return;
            }
            seen.push(s.name);
            for f in s.fields {
                if let Some(strategy) = f.patch_strategy() {
                    index.insert((s.name, f.name), (strategy, f.merge_key));
                }
                if let Some(child) = f.child {
                    walk(child, index, seen);
                }
            }
        }
        let (mut index, mut seen) = (PatchIndex::new(), Vec::new());
        for d in registry::all() {
            let kinds = std::iter::once((d.group, d.version, d.kind))
                .chain(d.subresources.iter().map(|s| (s.group, s.version, s.kind)));
            for (g, v, k) in kinds {
                if let Some(s) = patch::schema_for(g, v, k) {
                    walk(s, &mut index, &mut seen);
                }
            }
        }
        index
    })
}

/// The patch strategy and merge key of `definition.property`, as the server's strategic merge
/// patch applies them.
pub fn patch_meta(definition: &str, property: &str) -> Option<(&'static str, Option<&'static str>)> {
    patch_index().get(&(definition, property)).copied()
}

fn property<'a>(
    defs: &'a mut Map<String, Value>,
    definition: &str,
    property: &str,
) -> Option<&'a mut Map<String, Value>> {
    let Some(Value::Object(schema)) = defs.get_mut(definition) else {
        return None;
    };
    if property.is_empty() {
        return Some(schema);
    }
    match schema.get_mut("properties").and_then(|p| p.get_mut(property)) {
        Some(Value::Object(prop)) => Some(prop),
        _ => None,
    }
}

/// Writes every fact into `defs` (Swagger 2.0 form, before any ref rewriting).
pub fn apply(defs: &mut Map<String, Value>) {
    for ((definition, prop), (strategy, merge_key)) in patch_index() {
        let Some(target) = property(defs, definition, prop) else {
            continue;
        };
        target.insert("x-kubernetes-patch-strategy".into(), json!(strategy));
        if let Some(key) = merge_key {
            target.insert("x-kubernetes-patch-merge-key".into(), json!(key));
        }
    }
    for (definition, prop, f) in FACTS {
        let Some(target) = property(defs, definition, prop) else {
            continue;
        };
        if !f.list_type.is_empty() {
            target.insert("x-kubernetes-list-type".into(), json!(f.list_type));
        }
        if !f.map_keys.is_empty() {
            target.insert("x-kubernetes-list-map-keys".into(), json!(f.map_keys));
        }
        if !f.map_type.is_empty() {
            target.insert("x-kubernetes-map-type".into(), json!(f.map_type));
        }
    }
    for (definition, required) in REQUIRED {
        let Some(Value::Object(schema)) = defs.get_mut(*definition) else {
            continue;
        };
        if required.is_empty() {
            schema.remove("required");
        } else {
            schema.insert("required".into(), json!(required));
        }
    }
}

/// Upstream's `required` where k8s-openapi's differs (it makes `name` of local object
/// references and `metadata` of Status required, and misses a few).
#[rustfmt::skip]
pub static REQUIRED: &[(&str, &[&str])] = &[
    ("io.k8s.api.core.v1.ConfigMapEnvSource", &[]),
    ("io.k8s.api.core.v1.ConfigMapKeySelector", &["key"]),
    ("io.k8s.api.core.v1.ConfigMapProjection", &[]),
    ("io.k8s.api.core.v1.ConfigMapVolumeSource", &[]),
    ("io.k8s.api.core.v1.Event", &["metadata", "involvedObject"]),
    ("io.k8s.api.core.v1.LocalObjectReference", &[]),
    ("io.k8s.api.core.v1.SecretEnvSource", &[]),
    ("io.k8s.api.core.v1.SecretKeySelector", &["key"]),
    ("io.k8s.api.core.v1.SecretProjection", &[]),
    ("io.k8s.api.events.v1.Event", &["eventTime"]),
    ("io.k8s.api.networking.v1.NetworkPolicySpec", &["podSelector"]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.Status", &[]),
];



#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fact_names_an_existing_definition_and_property() {
        let d = super::super::schemas::build();
        let exists = |definition: &str, prop: &str| {
            d.defs.get(definition).is_some_and(|s| prop.is_empty() || s["properties"].get(prop).is_some())
        };
        for (definition, prop, _) in FACTS {
            assert!(exists(definition, prop), "{definition}.{prop}");
        }
        for (definition, required) in REQUIRED {
            for r in *required {
                assert!(exists(definition, r), "{definition}.{r}");
            }
        }
        // Every field the strategic merge patch merges specially is advertised.
        assert!(patch_index().len() >= 40, "{}", patch_index().len());
        for (definition, prop) in patch_index().keys() {
            assert!(exists(definition, prop), "patch metadata of {definition}.{prop} has no home");
        }
    }

    #[test]
    fn the_fields_kubectl_merges_by_key_carry_their_keys() {
        let d = super::super::schemas::build();
        let prop = |def: &str, p: &str| d.defs[def]["properties"][p].clone();
        let containers = prop("io.k8s.api.core.v1.PodSpec", "containers");
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(containers["x-kubernetes-list-type"], "map");
        assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
        assert_eq!(prop("io.k8s.api.core.v1.Container", "ports")["x-kubernetes-patch-merge-key"], "containerPort");
        assert_eq!(prop("io.k8s.api.core.v1.Container", "env")["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(prop("io.k8s.api.core.v1.Container", "volumeMounts")["x-kubernetes-patch-merge-key"], "mountPath");
        assert_eq!(prop("io.k8s.api.core.v1.PodSpec", "volumes")["x-kubernetes-patch-strategy"], "merge,retainKeys");
        assert_eq!(prop("io.k8s.api.apps.v1.DeploymentSpec", "strategy")["x-kubernetes-patch-strategy"], "retainKeys");
        assert_eq!(
            prop("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers")["x-kubernetes-patch-strategy"],
            "merge"
        );
        assert!(prop("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers")
            .get("x-kubernetes-patch-merge-key")
            .is_none());
        assert_eq!(prop("io.k8s.api.core.v1.PodSpec", "tolerations")["x-kubernetes-list-type"], "atomic");
        assert_eq!(d.defs["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"]["x-kubernetes-map-type"], "atomic");
        assert_eq!(d.defs["io.k8s.api.core.v1.LocalObjectReference"].get("required"), None);
        assert_eq!(d.defs["io.k8s.api.core.v1.Event"]["required"], json!(["metadata", "involvedObject"]));
    }
}
