//! A Rust program using kube-rs against the server: typed CRUD of ConfigMaps and Namespaces,
//! Deployments with their scale and status subresources, generation and conflicts.
mod common;
use common::*;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus};
use k8s_openapi::api::core::v1::{ConfigMap, Container, Namespace, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::Error;
use serde_json::json;
use std::collections::BTreeMap;

fn labels(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn configmap(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: labels(data),
        ..Default::default()
    }
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: labels(&[("app", name)]),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: labels(&[("app", name)]),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: labels(&[("app", name)]),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "nginx".into(),
                        image: Some("nginx:1.27".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Status of an API error, or a panic naming what was expected.
fn api_error<T: std::fmt::Debug>(r: Result<T, Error>, what: &str) -> Box<kube::core::Status> {
    match r {
        Err(Error::Api(s)) => s,
        other => panic!("{what}: expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmaps_and_namespaces_through_kube_rs() {
    let s = Server::start();
    let client = s.kube_client().await;

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some("team-a".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let created_ns = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    assert!(created_ns.metadata.uid.is_some());
    let all: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert_eq!(
        all,
        [
            "default",
            "kube-node-lease",
            "kube-public",
            "kube-system",
            "team-a"
        ]
    );

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team-a");
    let cm = cms
        .create(
            &PostParams::default(),
            &configmap("settings", &[("color", "blue")]),
        )
        .await
        .expect("create");
    assert_eq!(cm.metadata.namespace.as_deref(), Some("team-a"));
    let rv1: u64 = cm
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    assert!(cm.metadata.creation_timestamp.is_some());

    let got = cms.get("settings").await.expect("get");
    assert_eq!(got.data.as_ref().unwrap()["color"], "blue");
    assert_eq!(got.metadata.uid, cm.metadata.uid);

    // Generated names.
    let gen = ConfigMap {
        metadata: ObjectMeta {
            generate_name: Some("job-".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let g = cms
        .create(&PostParams::default(), &gen)
        .await
        .expect("generateName");
    let gname = g.metadata.name.unwrap();
    assert!(
        gname.starts_with("job-") && gname.len() == "job-".len() + 5,
        "{gname}"
    );

    let patched = cms
        .patch(
            "settings",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "web"}}, "data": {"size": "L"}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(patched.metadata.labels.as_ref().unwrap()["tier"], "web");
    assert_eq!(
        patched.data.as_ref().unwrap(),
        &labels(&[("color", "blue"), ("size", "L")]).unwrap()
    );
    let rv2: u64 = patched
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);

    let patched = cms
        .patch(
            "settings",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"size": null}})),
        )
        .await
        .expect("merge patch removing a key");
    assert_eq!(
        patched.data.as_ref().unwrap(),
        &labels(&[("color", "blue")]).unwrap()
    );

    let mut replacement = patched.clone();
    replacement.data = labels(&[("color", "green")]);
    let replaced = cms
        .replace("settings", &PostParams::default(), &replacement)
        .await
        .expect("replace");
    assert_eq!(replaced.data.as_ref().unwrap()["color"], "green");
    assert_eq!(replaced.metadata.labels.as_ref().unwrap()["tier"], "web");

    // A stale resourceVersion is a 409 Conflict, worded as Kubernetes words it.
    let err = api_error(
        cms.replace("settings", &PostParams::default(), &patched)
            .await,
        "replace with a stale resourceVersion",
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        err.message,
        r#"Operation cannot be fulfilled on configmaps "settings": the object has been modified; please apply your changes to the latest version and try again"#
    );
    assert_eq!(
        cms.get("settings").await.unwrap().data.unwrap()["color"],
        "green"
    );

    let err = api_error(
        cms.create(&PostParams::default(), &configmap("settings", &[]))
            .await,
        "create twice",
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(err.message, r#"configmaps "settings" already exists"#);

    let listed = cms
        .list(&ListParams::default().labels("tier=web"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].metadata.name.as_deref(), Some("settings"));
    let listed = cms
        .list(&ListParams::default().fields("metadata.name=settings"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    let err = api_error(
        cms.list(&ListParams::default().fields("data.color=green"))
            .await,
        "unsupported field selector",
    );
    assert_eq!((err.code, err.reason.as_str()), (400, "BadRequest"));
    assert_eq!(err.message, r#"field label not supported: data.color"#);

    cms.delete("settings", &DeleteParams::default())
        .await
        .expect("delete");
    let err = api_error(cms.get("settings").await, "get after delete");
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert_eq!(err.message, r#"configmaps "settings" not found"#);
    assert!(cms.get_opt("settings").await.unwrap().is_none());

    // A new namespace is Active; deleting it starts its termination.
    assert_eq!(
        created_ns.status.and_then(|s| s.phase).as_deref(),
        Some("Active"),
        "status of a created namespace"
    );
    assert_eq!(
        namespaces
            .get("team-a")
            .await
            .unwrap()
            .status
            .and_then(|s| s.phase)
            .as_deref(),
        Some("Active")
    );
    // A finalizer on something inside holds the namespace in Terminating until it is released.
    let mut held = configmap("held", &[]);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &held).await.expect("create held");
    namespaces
        .delete("team-a", &DeleteParams::default())
        .await
        .expect("delete namespace");
    let n = namespaces.get("team-a").await.expect("terminating namespace");
    assert_eq!(n.status.and_then(|s| s.phase).as_deref(), Some("Terminating"));
    assert!(n.metadata.deletion_timestamp.is_some());
    let err = api_error(cms.create(&PostParams::default(), &configmap("late", &[])).await, "create in a terminating namespace");
    assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        err.message,
        r#"configmaps "late" is forbidden: unable to create new content in namespace team-a because it is being terminated"#
    );
    // Releasing the finalizer lets the namespace finish.
    cms.patch("held", &PatchParams::default(), &Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}})))
        .await
        .expect("release the finalizer");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while namespaces.get_opt("team-a").await.unwrap().is_some() {
        assert!(std::time::Instant::now() < deadline, "namespace team-a still there 10 s after its content was released");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_scale_and_keep_spec_and_status_apart() {
    let s = Server::start();
    let client = s.kube_client().await;
    let deploys: Api<Deployment> = Api::namespaced(client, "default");

    let d = deploys
        .create(&PostParams::default(), &deployment("web", 2))
        .await
        .expect("create deployment");
    assert_eq!(d.metadata.generation, Some(1));
    let spec = d.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(2));
    let scale = deploys.get_scale("web").await.expect("get scale");
    assert_eq!(scale.spec.as_ref().and_then(|s| s.replicas), Some(2));
    assert_eq!(
        scale.status.as_ref().and_then(|s| s.selector.as_deref()),
        Some("app=web")
    );
    let scale = deploys
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .expect("patch scale");
    assert_eq!(scale.spec.as_ref().and_then(|s| s.replicas), Some(5));
    let d = deploys.get("web").await.unwrap();
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(5));
    assert_eq!(
        d.metadata.generation,
        Some(2),
        "a spec change bumps the generation"
    );

    // Metadata changes leave the generation alone.
    let d = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(2));

    // The status subresource takes the status and ignores the spec. The Deployment controller
    // writes status too, so these writes are unconditional (no resourceVersion) and the
    // assertions read the write's own answer.
    let stale = d.clone();
    let mut with_status = d.clone();
    with_status.metadata.resource_version = None;
    with_status.spec.as_mut().unwrap().replicas = Some(9);
    with_status.status = Some(DeploymentStatus {
        replicas: Some(3),
        ready_replicas: Some(1),
        observed_generation: Some(2),
        ..Default::default()
    });
    let d = deploys
        .replace_status("web", &PostParams::default(), &with_status)
        .await
        .expect("replace status");
    assert_eq!(
        d.spec.as_ref().unwrap().replicas,
        Some(5),
        "status update must not change the spec"
    );
    assert_eq!(d.status.as_ref().unwrap().replicas, Some(3));
    assert_eq!(
        d.metadata.generation,
        Some(2),
        "a status update keeps the generation"
    );

    // The main resource takes the spec and ignores the status.
    let mut with_spec = d.clone();
    with_spec.metadata.resource_version = None;
    with_spec.spec.as_mut().unwrap().replicas = Some(7);
    with_spec.status = Some(DeploymentStatus {
        replicas: Some(42),
        ..Default::default()
    });
    let d = deploys
        .replace("web", &PostParams::default(), &with_spec)
        .await
        .expect("replace");
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(7));
    assert_ne!(
        d.status.as_ref().unwrap().replicas,
        Some(42),
        "a main update must not change the status"
    );
    assert_eq!(d.metadata.generation, Some(3));
    let scale = deploys.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(7));

    // Patch of the status subresource, too.
    let d = deploys
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"availableReplicas": 1}, "spec": {"replicas": 1}})),
        )
        .await
        .expect("patch status");
    assert_eq!(d.status.as_ref().unwrap().available_replicas, Some(1));
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(7));
    let out = s.ok(&["get", "deploy", "web"]);
    assert_eq!(rows(&out)[1][0], "web", "{out}");
    assert!(rows(&out)[1][1].ends_with("/7"), "{out}");

    // A stale resourceVersion on the typed replace is a conflict; on the status too.
    let err = api_error(
        deploys.replace("web", &PostParams::default(), &stale).await,
        "stale replace",
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        err.message,
        r#"Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again"#
    );
    let err = api_error(
        deploys
            .replace_status("web", &PostParams::default(), &stale)
            .await,
        "stale status replace",
    );
    assert_eq!(err.code, 409);

    deploys
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(deploys.get_opt("web").await.unwrap().is_none());
    let err = api_error(
        deploys.get_scale("web").await,
        "scale of a deleted deployment",
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, r#"deployments.apps "web" not found"#)
    );
}
