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

/// The list and map semantics of one property ("" names the definition itself); empty
/// strings and lists: absent.
#[derive(Debug, Clone, Copy)]
pub struct F {
    pub list_type: &'static str,
    pub map_keys: &'static [&'static str],
    pub map_type: &'static str,
}

const N: F = F { list_type: "", map_keys: &[], map_type: "" };

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

/// (definition, property, list and map semantics), by definition name.
#[rustfmt::skip]
pub static FACTS: &[(&str, &str, F)] = &[
    ("io.k8s.api.apps.v1.DaemonSetStatus", "conditions", F { list_type: "map", map_keys: &["type"], ..N }),
    ("io.k8s.api.apps.v1.DeploymentStatus", "conditions", F { list_type: "map", map_keys: &["type"], ..N }),
    ("io.k8s.api.apps.v1.ReplicaSetStatus", "conditions", F { list_type: "map", map_keys: &["type"], ..N }),
    ("io.k8s.api.apps.v1.StatefulSetSpec", "volumeClaimTemplates", F { list_type: "atomic", ..N }),
    ("io.k8s.api.apps.v1.StatefulSetStatus", "conditions", F { list_type: "map", map_keys: &["type"], ..N }),
    ("io.k8s.api.authentication.v1.TokenRequestSpec", "audiences", F { list_type: "atomic", ..N }),
    ("io.k8s.api.autoscaling.v1.CrossVersionObjectReference", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.autoscaling.v2.HPAScalingRules", "policies", F { list_type: "atomic", ..N }),
    ("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec", "metrics", F { list_type: "atomic", ..N }),
    ("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus", "conditions", F { list_type: "map", map_keys: &["type"], ..N }),
    ("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus", "currentMetrics", F { list_type: "atomic", ..N }),
    ("io.k8s.api.batch.v1.CronJobStatus", "active", F { list_type: "atomic", ..N }),
    ("io.k8s.api.batch.v1.JobStatus", "conditions", F { list_type: "atomic", ..N }),
    ("io.k8s.api.batch.v1.PodFailurePolicy", "rules", F { list_type: "atomic", ..N }),
    ("io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement", "values", F { list_type: "set", ..N }),
    ("io.k8s.api.batch.v1.PodFailurePolicyRule", "onPodConditions", F { list_type: "atomic", ..N }),
    ("io.k8s.api.batch.v1.SuccessPolicy", "rules", F { list_type: "atomic", ..N }),
    ("io.k8s.api.batch.v1.UncountedTerminatedPods", "failed", F { list_type: "set", ..N }),
    ("io.k8s.api.batch.v1.UncountedTerminatedPods", "succeeded", F { list_type: "set", ..N }),
    ("io.k8s.api.core.v1.Capabilities", "add", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.Capabilities", "drop", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.CephFSPersistentVolumeSource", "monitors", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.CephFSVolumeSource", "monitors", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ConfigMapKeySelector", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ConfigMapProjection", "items", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ConfigMapVolumeSource", "items", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.Container", "args", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.Container", "command", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.Container", "env", F { list_type: "map", map_keys: &["name"], ..N }),
    ("io.k8s.api.core.v1.Container", "envFrom", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.Container", "ports", F { list_type: "map", map_keys: &["containerPort", "protocol"], ..N }),
    ("io.k8s.api.core.v1.Container", "resizePolicy", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.Container", "volumeDevices", F { list_type: "map", map_keys: &["devicePath"], ..N }),
    ("io.k8s.api.core.v1.Container", "volumeMounts", F { list_type: "map", map_keys: &["mountPath"], ..N }),
    ("io.k8s.api.core.v1.ContainerImage", "names", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ContainerStatus", "allocatedResourcesStatus", F { list_type: "map", map_keys: &["name"], ..N }),
    ("io.k8s.api.core.v1.ContainerStatus", "volumeMounts", F { list_type: "map", map_keys: &["mountPath"], ..N }),
    ("io.k8s.api.core.v1.DownwardAPIProjection", "items", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.DownwardAPIVolumeSource", "items", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.EndpointAddress", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.EndpointPort", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.EndpointSubset", "addresses", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.EndpointSubset", "notReadyAddresses", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.EndpointSubset", "ports", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.Endpoints", "subsets", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.EphemeralContainer", "args", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.EphemeralContainer", "command", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.EphemeralContainer", "env", F { list_type: "map", map_keys: &["name"], ..N }),
    ("io.k8s.api.core.v1.EphemeralContainer", "envFrom", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.EphemeralContainer", "ports", F { list_type: "map", map_keys: &["containerPort", "protocol"], ..N }),
    ("io.k8s.api.core.v1.EphemeralContainer", "resizePolicy", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeDevices", F { list_type: "map", map_keys: &["devicePath"], ..N }),
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeMounts", F { list_type: "map", map_keys: &["mountPath"], ..N }),
    ("io.k8s.api.core.v1.ExecAction", "command", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.FCVolumeSource", "targetWWNs", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.FCVolumeSource", "wwids", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.HTTPGetAction", "httpHeaders", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.HostAlias", "hostnames", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ISCSIPersistentVolumeSource", "portals", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ISCSIVolumeSource", "portals", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.LimitRangeSpec", "limits", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.LinuxContainerUser", "supplementalGroups", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.LoadBalancerIngress", "ports", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.LoadBalancerStatus", "ingress", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.LocalObjectReference", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.NamespaceSpec", "finalizers", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.NamespaceStatus", "conditions", F { list_type: "map", map_keys: &["type"], ..N }),
    ("io.k8s.api.core.v1.NodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.NodeSelector", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.NodeSelector", "nodeSelectorTerms", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.NodeSelectorRequirement", "values", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.NodeSelectorTerm", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.NodeSelectorTerm", "matchExpressions", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.NodeSelectorTerm", "matchFields", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.NodeSpec", "podCIDRs", F { list_type: "set", ..N }),
    ("io.k8s.api.core.v1.NodeSpec", "taints", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.NodeStatus", "addresses", F { list_type: "map", map_keys: &["type"], ..N }),
    ("io.k8s.api.core.v1.NodeStatus", "conditions", F { list_type: "map", map_keys: &["type"], ..N }),
    ("io.k8s.api.core.v1.NodeStatus", "images", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.NodeStatus", "runtimeHandlers", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.NodeStatus", "volumesAttached", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.NodeStatus", "volumesInUse", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ObjectFieldSelector", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ObjectReference", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PersistentVolumeClaimSpec", "accessModes", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PersistentVolumeClaimStatus", "accessModes", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PersistentVolumeClaimStatus", "allocatedResourceStatuses", F { map_type: "granular", ..N }),
    ("io.k8s.api.core.v1.PersistentVolumeClaimStatus", "conditions", F { list_type: "map", map_keys: &["type"], ..N }),
    ("io.k8s.api.core.v1.PersistentVolumeSpec", "accessModes", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PersistentVolumeSpec", "claimRef", F { map_type: "granular", ..N }),
    ("io.k8s.api.core.v1.PersistentVolumeSpec", "mountOptions", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodAffinity", "preferredDuringSchedulingIgnoredDuringExecution", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodAffinity", "requiredDuringSchedulingIgnoredDuringExecution", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodAffinityTerm", "matchLabelKeys", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodAffinityTerm", "mismatchLabelKeys", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodAffinityTerm", "namespaces", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodDNSConfig", "nameservers", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodDNSConfig", "options", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodDNSConfig", "searches", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodSecurityContext", "supplementalGroups", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodSecurityContext", "sysctls", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodSpec", "containers", F { list_type: "map", map_keys: &["name"], ..N }),
    ("io.k8s.api.core.v1.PodSpec", "ephemeralContainers", F { list_type: "map", map_keys: &["name"], ..N }),
    ("io.k8s.api.core.v1.PodSpec", "hostAliases", F { list_type: "map", map_keys: &["ip"], ..N }),
    ("io.k8s.api.core.v1.PodSpec", "imagePullSecrets", F { list_type: "map", map_keys: &["name"], ..N }),
    ("io.k8s.api.core.v1.PodSpec", "initContainers", F { list_type: "map", map_keys: &["name"], ..N }),
    ("io.k8s.api.core.v1.PodSpec", "nodeSelector", F { map_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodSpec", "readinessGates", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodSpec", "resourceClaims", F { list_type: "map", map_keys: &["name"], ..N }),
    ("io.k8s.api.core.v1.PodSpec", "schedulingGates", F { list_type: "map", map_keys: &["name"], ..N }),
    ("io.k8s.api.core.v1.PodSpec", "tolerations", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodSpec", "topologySpreadConstraints", F { list_type: "map", map_keys: &["topologyKey", "whenUnsatisfiable"], ..N }),
    ("io.k8s.api.core.v1.PodSpec", "volumes", F { list_type: "map", map_keys: &["name"], ..N }),
    ("io.k8s.api.core.v1.PodStatus", "conditions", F { list_type: "map", map_keys: &["type"], ..N }),
    ("io.k8s.api.core.v1.PodStatus", "containerStatuses", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodStatus", "ephemeralContainerStatuses", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodStatus", "hostIPs", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodStatus", "initContainerStatuses", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.PodStatus", "podIPs", F { list_type: "map", map_keys: &["ip"], ..N }),
    ("io.k8s.api.core.v1.PodStatus", "resourceClaimStatuses", F { list_type: "map", map_keys: &["name"], ..N }),
    ("io.k8s.api.core.v1.ProjectedVolumeSource", "sources", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.RBDPersistentVolumeSource", "monitors", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.RBDVolumeSource", "monitors", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ReplicationControllerSpec", "selector", F { map_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ReplicationControllerStatus", "conditions", F { list_type: "map", map_keys: &["type"], ..N }),
    ("io.k8s.api.core.v1.ResourceFieldSelector", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ResourceQuotaSpec", "scopes", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ResourceRequirements", "claims", F { list_type: "map", map_keys: &["name"], ..N }),
    ("io.k8s.api.core.v1.ResourceStatus", "resources", F { list_type: "map", map_keys: &["resourceID"], ..N }),
    ("io.k8s.api.core.v1.ScopeSelector", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ScopeSelector", "matchExpressions", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ScopedResourceSelectorRequirement", "values", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.SecretKeySelector", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.SecretProjection", "items", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.SecretReference", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.SecretVolumeSource", "items", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ServiceAccount", "imagePullSecrets", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ServiceAccount", "secrets", F { list_type: "map", map_keys: &["name"], ..N }),
    ("io.k8s.api.core.v1.ServiceSpec", "clusterIPs", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ServiceSpec", "externalIPs", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ServiceSpec", "ipFamilies", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ServiceSpec", "loadBalancerSourceRanges", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ServiceSpec", "ports", F { list_type: "map", map_keys: &["port", "protocol"], ..N }),
    ("io.k8s.api.core.v1.ServiceSpec", "selector", F { map_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.ServiceStatus", "conditions", F { list_type: "map", map_keys: &["type"], ..N }),
    ("io.k8s.api.core.v1.TopologySelectorLabelRequirement", "values", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.TopologySelectorTerm", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.TopologySelectorTerm", "matchLabelExpressions", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.TopologySpreadConstraint", "matchLabelKeys", F { list_type: "atomic", ..N }),
    ("io.k8s.api.core.v1.TypedLocalObjectReference", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.discovery.v1.Endpoint", "addresses", F { list_type: "set", ..N }),
    ("io.k8s.api.discovery.v1.EndpointHints", "forNodes", F { list_type: "atomic", ..N }),
    ("io.k8s.api.discovery.v1.EndpointHints", "forZones", F { list_type: "atomic", ..N }),
    ("io.k8s.api.discovery.v1.EndpointPort", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.discovery.v1.EndpointSlice", "endpoints", F { list_type: "atomic", ..N }),
    ("io.k8s.api.discovery.v1.EndpointSlice", "ports", F { list_type: "atomic", ..N }),
    ("io.k8s.api.networking.v1.HTTPIngressRuleValue", "paths", F { list_type: "atomic", ..N }),
    ("io.k8s.api.networking.v1.IPBlock", "except", F { list_type: "atomic", ..N }),
    ("io.k8s.api.networking.v1.IngressLoadBalancerIngress", "ports", F { list_type: "atomic", ..N }),
    ("io.k8s.api.networking.v1.IngressLoadBalancerStatus", "ingress", F { list_type: "atomic", ..N }),
    ("io.k8s.api.networking.v1.IngressSpec", "rules", F { list_type: "atomic", ..N }),
    ("io.k8s.api.networking.v1.IngressSpec", "tls", F { list_type: "atomic", ..N }),
    ("io.k8s.api.networking.v1.IngressTLS", "hosts", F { list_type: "atomic", ..N }),
    ("io.k8s.api.networking.v1.NetworkPolicyEgressRule", "ports", F { list_type: "atomic", ..N }),
    ("io.k8s.api.networking.v1.NetworkPolicyEgressRule", "to", F { list_type: "atomic", ..N }),
    ("io.k8s.api.networking.v1.NetworkPolicyIngressRule", "from", F { list_type: "atomic", ..N }),
    ("io.k8s.api.networking.v1.NetworkPolicyIngressRule", "ports", F { list_type: "atomic", ..N }),
    ("io.k8s.api.networking.v1.NetworkPolicySpec", "egress", F { list_type: "atomic", ..N }),
    ("io.k8s.api.networking.v1.NetworkPolicySpec", "ingress", F { list_type: "atomic", ..N }),
    ("io.k8s.api.networking.v1.NetworkPolicySpec", "policyTypes", F { list_type: "atomic", ..N }),
    ("io.k8s.api.networking.v1.ServiceBackendPort", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.policy.v1.PodDisruptionBudgetStatus", "conditions", F { list_type: "map", map_keys: &["type"], ..N }),
    ("io.k8s.api.rbac.v1.AggregationRule", "clusterRoleSelectors", F { list_type: "atomic", ..N }),
    ("io.k8s.api.rbac.v1.ClusterRole", "rules", F { list_type: "atomic", ..N }),
    ("io.k8s.api.rbac.v1.ClusterRoleBinding", "subjects", F { list_type: "atomic", ..N }),
    ("io.k8s.api.rbac.v1.PolicyRule", "apiGroups", F { list_type: "atomic", ..N }),
    ("io.k8s.api.rbac.v1.PolicyRule", "nonResourceURLs", F { list_type: "atomic", ..N }),
    ("io.k8s.api.rbac.v1.PolicyRule", "resourceNames", F { list_type: "atomic", ..N }),
    ("io.k8s.api.rbac.v1.PolicyRule", "resources", F { list_type: "atomic", ..N }),
    ("io.k8s.api.rbac.v1.PolicyRule", "verbs", F { list_type: "atomic", ..N }),
    ("io.k8s.api.rbac.v1.Role", "rules", F { list_type: "atomic", ..N }),
    ("io.k8s.api.rbac.v1.RoleBinding", "subjects", F { list_type: "atomic", ..N }),
    ("io.k8s.api.rbac.v1.RoleRef", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.rbac.v1.Subject", "", F { map_type: "atomic", ..N }),
    ("io.k8s.api.storage.v1.StorageClass", "allowedTopologies", F { list_type: "atomic", ..N }),
    ("io.k8s.api.storage.v1.StorageClass", "mountOptions", F { list_type: "atomic", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup", "serverAddressByClientCIDRs", F { list_type: "atomic", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup", "versions", F { list_type: "atomic", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList", "groups", F { list_type: "atomic", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.APIResource", "categories", F { list_type: "atomic", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.APIResource", "shortNames", F { list_type: "atomic", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList", "resources", F { list_type: "atomic", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions", "serverAddressByClientCIDRs", F { list_type: "atomic", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions", "versions", F { list_type: "atomic", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", "dryRun", F { list_type: "atomic", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector", "", F { map_type: "atomic", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector", "matchExpressions", F { list_type: "atomic", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement", "values", F { list_type: "atomic", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers", F { list_type: "set", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "managedFields", F { list_type: "atomic", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "ownerReferences", F { list_type: "map", map_keys: &["uid"], ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference", "", F { map_type: "atomic", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.Status", "details", F { list_type: "atomic", ..N }),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails", "causes", F { list_type: "atomic", ..N }),
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
