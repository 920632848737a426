//! The built-in `local-path` StorageClass and its provisioner, as k3s ships them: the
//! default class, WaitForFirstConsumer, reclaim Delete; a claim handed to it by the volume
//! binder gets a hostPath PersistentVolume in a directory under the data dir
//! (`storage/pvc-<uid>_<ns>_<name>`, created by the kubelet when a pod mounts it), pinned to
//! the node; a Released volume is deleted with its directory.

use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::json;

use crate::controllers::persistentvolume::{ANN_SELECTED_NODE, ANN_STORAGE_PROVISIONER};
use crate::controllers::runtime::{self, Action, Context, ObjectKey, Queue};

pub const CLASS: &str = "local-path";
pub const PROVISIONER: &str = "rancher.io/local-path";
const ANN_PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Client { what: String, #[source] source: crate::client::Error },
}

struct Provisioner {
    ctx: Context,
    node: String,
    dir: PathBuf,
}

/// The StorageClass as k3s defines it.
pub fn storage_class() -> serde_json::Value {
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    })
}

/// The volume for `claim` on `node`, in a directory below `dir`.
pub fn volume_for(claim: &PersistentVolumeClaim, node: &str, dir: &std::path::Path) -> serde_json::Value {
    let uid = claim.metadata.uid.clone().unwrap_or_default();
    let ns = claim.metadata.namespace.clone().unwrap_or_default();
    let name = claim.metadata.name.clone().unwrap_or_default();
    let spec = claim.spec.clone().unwrap_or_default();
    let size = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_else(|| "1Gi".into());
    let path = dir.join(format!("pvc-{uid}_{ns}_{name}"));
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": format!("pvc-{uid}"), "annotations": {ANN_PROVISIONED_BY: PROVISIONER, "local.path.provisioner/selected-node": node}},
        "spec": {
            "accessModes": spec.access_modes.clone().unwrap_or_else(|| vec!["ReadWriteOnce".into()]),
            "capacity": {"storage": size},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": ns, "name": name, "uid": uid,
                          "resourceVersion": claim.metadata.resource_version},
            "hostPath": {"path": path.to_string_lossy(), "type": "DirectoryOrCreate"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}},
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": CLASS,
            "volumeMode": spec.volume_mode.clone().unwrap_or_else(|| "Filesystem".into()),
        },
    })
}

impl Provisioner {
    async fn reconcile_claim(&self, key: ObjectKey) -> Result<Action, Error> {
        let err = |what: &str| {
            let what = format!("{what} {key}");
            move |source| Error::Client { what, source }
        };
        let api = self.ctx.client.api::<PersistentVolumeClaim>(key.ns()).map_err(err("claims"))?;
        let Some(claim) = api.get_opt(&key.name).await.map_err(err("reading claim"))? else { return Ok(Action::Done) };
        let anns = claim.metadata.annotations.clone().unwrap_or_default();
        if anns.get(ANN_STORAGE_PROVISIONER).map(String::as_str) != Some(PROVISIONER) {
            return Ok(Action::Done);
        }
        if claim.spec.as_ref().and_then(|s| s.volume_name.as_deref()).is_some_and(|v| !v.is_empty()) || claim.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }
        let node = anns.get(ANN_SELECTED_NODE).cloned().unwrap_or_else(|| self.node.clone());
        if node != self.node {
            return Ok(Action::Done);
        }
        let pv: PersistentVolume = serde_json::from_value(volume_for(&claim, &node, &self.dir))
            .map_err(|source| Error::Client { what: format!("building the volume for {key}"), source: crate::client::Error::Encode { kind: "PersistentVolume", source } })?;
        let pvs = self.ctx.client.api::<PersistentVolume>(None).map_err(err("volumes"))?;
        match pvs.create(&pv).await {
            Ok(_) => {
                self.ctx.recorder.for_component("rancher.io/local-path_minikube-rs", None).normal(
                    &claim,
                    "ProvisioningSucceeded",
                    format!("Successfully provisioned volume {}", pv.metadata.name.as_deref().unwrap_or("")),
                );
                Ok(Action::Done)
            }
            Err(e) if e.is_conflict() => Ok(Action::Done),
            Err(source) => Err(Error::Client { what: format!("creating the volume for {key}"), source }),
        }
    }

    async fn reconcile_volume(&self, key: ObjectKey) -> Result<Action, Error> {
        let err = |what: &str| {
            let what = format!("{what} {key}");
            move |source| Error::Client { what, source }
        };
        let api = self.ctx.client.api::<PersistentVolume>(None).map_err(err("volumes"))?;
        let Some(pv) = api.get_opt(&key.name).await.map_err(err("reading volume"))? else { return Ok(Action::Done) };
        let ours = pv.metadata.annotations.as_ref().and_then(|a| a.get(ANN_PROVISIONED_BY)).map(String::as_str) == Some(PROVISIONER);
        let released = pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Released");
        let delete = pv.spec.as_ref().and_then(|s| s.persistent_volume_reclaim_policy.as_deref()) == Some("Delete");
        if !(ours && released && delete) {
            return Ok(Action::Done);
        }
        if let Some(path) = pv.spec.as_ref().and_then(|s| s.host_path.as_ref()).map(|h| PathBuf::from(&h.path)) {
            // Only directories this provisioner made, below its own dir.
            if path.starts_with(&self.dir) {
                if let Err(e) = std::fs::remove_dir_all(&path) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(volume = %key, path = %path.display(), error = %e, "removing the volume's directory failed");
                        return Ok(Action::RequeueAfter(std::time::Duration::from_secs(10)));
                    }
                }
            }
        }
        match api.delete(&key.name).await {
            Ok(_) => Ok(Action::Done),
            Err(e) if e.is_not_found() => Ok(Action::Done),
            Err(source) => Err(Error::Client { what: format!("deleting volume {key}"), source }),
        }
    }
}

/// Creates the StorageClass when missing and runs the provisioner until `ctx.stop`.
pub async fn run(ctx: Context, node: String, dir: PathBuf) {
    if let Ok(api) = ctx.client.api::<StorageClass>(None) {
        if let Ok(None) = api.get_opt(CLASS).await {
            if let Ok(sc) = serde_json::from_value::<StorageClass>(storage_class()) {
                if let Err(e) = api.create(&sc).await {
                    tracing::warn!(error = %e, "creating the local-path StorageClass failed");
                }
            }
        }
    }
    let (claims, volumes) = match (ctx.informers.get::<PersistentVolumeClaim>(), ctx.informers.get::<PersistentVolume>()) {
        (Ok(c), Ok(v)) => (c, v),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "local-path provisioner: informers unavailable");
            return;
        }
    };
    let p = Arc::new(Provisioner { ctx: ctx.clone(), node, dir });
    let claim_queue = Queue::new();
    let volume_queue = Queue::new();
    runtime::enqueue_from(&claims, claim_queue.clone(), ctx.stop.clone(), runtime::self_key);
    runtime::enqueue_from(&volumes, volume_queue.clone(), ctx.stop.clone(), runtime::self_key);
    let pc = p.clone();
    let claims_loop = runtime::run("local-path-claims", claim_queue, 2, ctx.stop.clone(), move |key| {
        let p = pc.clone();
        async move { p.reconcile_claim(key).await }
    });
    let pv = p.clone();
    let volumes_loop = runtime::run("local-path-volumes", volume_queue, 1, ctx.stop.clone(), move |key| {
        let p = pv.clone();
        async move { p.reconcile_volume(key).await }
    });
    tokio::join!(claims_loop, volumes_loop);
}
