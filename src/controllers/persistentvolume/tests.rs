use super::*;

fn pv(name: &str, size: &str, class: &str, modes: &[&str], phase: &str) -> Arc<PersistentVolume> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"size": size}},
            "spec": {"capacity": {"storage": size}, "storageClassName": class, "accessModes": modes, "volumeMode": "Filesystem", "hostPath": {"path": "/tmp/x"}},
            "status": {"phase": phase}
        }))
        .unwrap(),
    )
}

fn pvc(name: &str, size: &str, class: Option<&str>, modes: &[&str]) -> PersistentVolumeClaim {
    let mut v = json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"resources": {"requests": {"storage": size}}, "accessModes": modes, "volumeMode": "Filesystem"}
    });
    if let Some(c) = class {
        v["spec"]["storageClassName"] = json!(c);
    }
    serde_json::from_value(v).unwrap()
}

fn name(v: Option<Arc<PersistentVolume>>) -> Option<String> {
    v.and_then(|v| v.metadata.name.clone())
}

#[test]
fn the_smallest_fitting_available_volume_of_the_class_wins() {
    let vols = vec![
        pv("big", "10Gi", "", &["ReadWriteOnce"], "Available"),
        pv("small", "1Gi", "", &["ReadWriteOnce"], "Available"),
        pv("tiny", "500Mi", "", &["ReadWriteOnce"], "Available"),
        pv("mid-rwx", "2Gi", "", &["ReadWriteMany"], "Available"),
        pv("other-class", "1Gi", "fast", &["ReadWriteOnce"], "Available"),
        pv("pending", "1Gi", "", &["ReadWriteOnce"], "Pending"),
    ];
    let c = pvc("data", "1G", Some(""), &["ReadWriteOnce"]);
    assert_eq!(name(find_match(&c, &vols, false, None)).as_deref(), Some("small"));
    let c = pvc("data", "1Gi", Some(""), &["ReadWriteMany"]);
    assert_eq!(name(find_match(&c, &vols, false, None)).as_deref(), Some("mid-rwx"));
    let c = pvc("data", "1Gi", Some("fast"), &["ReadWriteOnce"]);
    assert_eq!(name(find_match(&c, &vols, false, None)).as_deref(), Some("other-class"));
    let c = pvc("data", "20Gi", Some(""), &["ReadWriteOnce"]);
    assert_eq!(name(find_match(&c, &vols, false, None)), None);
    // A selector narrows the candidates.
    let mut c = pvc("data", "1Gi", Some(""), &["ReadWriteOnce"]);
    c.spec.as_mut().unwrap().selector = Some(serde_json::from_value(json!({"matchLabels": {"size": "10Gi"}})).unwrap());
    assert_eq!(name(find_match(&c, &vols, false, None)).as_deref(), Some("big"));
    // Delayed binding: the controller alone binds nothing that is not pre-bound.
    let c = pvc("data", "1Gi", Some(""), &["ReadWriteOnce"]);
    assert_eq!(name(find_match(&c, &vols, true, None)), None);
}

#[test]
fn a_volume_pre_bound_to_the_claim_wins_over_smaller_ones() {
    let mut pre = (*pv("reserved", "5Gi", "", &["ReadWriteOnce"], "Available")).clone();
    pre.spec.as_mut().unwrap().claim_ref = Some(serde_json::from_value(json!({"namespace": "default", "name": "data"})).unwrap());
    let mut taken = (*pv("taken", "1Gi", "", &["ReadWriteOnce"], "Bound")).clone();
    taken.spec.as_mut().unwrap().claim_ref = Some(serde_json::from_value(json!({"namespace": "default", "name": "other", "uid": "x"})).unwrap());
    let vols = vec![pv("small", "1Gi", "", &["ReadWriteOnce"], "Available"), Arc::new(pre), Arc::new(taken)];
    let c = pvc("data", "1Gi", Some(""), &["ReadWriteOnce"]);
    assert_eq!(name(find_match(&c, &vols, false, None)).as_deref(), Some("reserved"));
    assert_eq!(name(find_match(&c, &vols, true, None)).as_deref(), Some("reserved"));
}

mod live {
    use super::super::*;
    use super::pvc;
    use crate::controllers::runtime::Context;
    use crate::registry::generic::Registry;
    use crate::store::recording::RecordingBackend;
    use crate::store::{Store, StoreOptions};
    use k8s_openapi::api::core::v1::{Event, Namespace};
    use tokio_util::sync::CancellationToken;

    /// 50 ms of virtual time, and a moment of real time for the store's own thread (virtual
    /// time runs ahead while it works).
    async fn pause() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        std::thread::sleep(Duration::from_millis(2));
    }

    pub async fn client() -> Client {
        let opts = StoreOptions { history_revisions: 1_000_000, compaction_interval: Duration::from_secs(3600) };
        let store = Store::open_with_backend(Arc::new(RecordingBackend::default()), opts).unwrap();
        let client = Client::new(Registry::new(store), "test");
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap();
        client.api::<Namespace>(None).unwrap().create(&ns).await.unwrap();
        client
    }

    async fn eventually<F, Fut>(what: &str, f: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if f().await {
                return;
            }
            pause().await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn phases(client: &Client, pv: &str, pvc: &str) -> (String, String) {
        let v = client.api::<PersistentVolume>(None).unwrap().get_opt(pv).await.unwrap();
        let c = client.api::<PersistentVolumeClaim>(Some("default")).unwrap().get_opt(pvc).await.unwrap();
        (
            v.map(|v| phase_of_volume(&v).to_string()).unwrap_or_else(|| "<gone>".into()),
            c.map(|c| phase_of_claim(&c).to_string()).unwrap_or_else(|| "<gone>".into()),
        )
    }

    async fn event_messages(client: &Client, reason: &str) -> Vec<String> {
        let (events, _) = client.api::<Event>(Some("default")).unwrap().list(None).await.unwrap();
        events.into_iter().filter(|e| e.reason.as_deref() == Some(reason)).filter_map(|e| e.message).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn binds_releases_and_reclaims() {
        let client = client().await;
        let stop = CancellationToken::new();
        let ctx = Context::new(client.clone(), stop.clone());
        let task = tokio::spawn(run(ctx));
        let pvs = client.api::<PersistentVolume>(None).unwrap();
        let pvcs = client.api::<PersistentVolumeClaim>(Some("default")).unwrap();
        for (name, policy) in [("keep", "Retain"), ("drop", "Delete")] {
            let v: PersistentVolume = serde_json::from_value(json!({
                "metadata": {"name": name},
                "spec": {"capacity": {"storage": if name == "keep" { "1Gi" } else { "2Gi" }}, "accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
                    "persistentVolumeReclaimPolicy": policy, "hostPath": {"path": "/tmp/x"}}
            }))
            .unwrap();
            pvs.create(&v).await.unwrap();
        }
        eventually("volumes Available", || async { phases(&client, "keep", "-").await.0 == "Available" && phases(&client, "drop", "-").await.0 == "Available" }).await;

        let mut c = pvc("first", "1Gi", Some("manual"), &["ReadWriteOnce"]);
        c.metadata.uid = None;
        pvcs.create(&c).await.unwrap();
        eventually("first bound to keep", || async { phases(&client, "keep", "first").await == ("Bound".into(), "Bound".into()) }).await;
        let claim = pvcs.get("first").await.unwrap();
        assert_eq!(claim.spec.as_ref().unwrap().volume_name.as_deref(), Some("keep"));
        let anns = claim.metadata.annotations.clone().unwrap();
        assert_eq!((anns[ANN_BIND_COMPLETED].as_str(), anns[ANN_BOUND_BY_CONTROLLER].as_str()), ("yes", "yes"));
        assert_eq!(claim.status.as_ref().unwrap().capacity.as_ref().unwrap()["storage"].0, "1Gi");
        let vol = pvs.get("keep").await.unwrap();
        let r = vol.spec.as_ref().unwrap().claim_ref.clone().unwrap();
        assert_eq!((r.name.as_deref(), r.uid.as_deref()), (Some("first"), claim.metadata.uid.as_deref()));

        let mut c = pvc("second", "1Gi", Some("manual"), &["ReadWriteOnce"]);
        c.metadata.uid = None;
        pvcs.create(&c).await.unwrap();
        eventually("second bound to drop", || async { phases(&client, "drop", "second").await == ("Bound".into(), "Bound".into()) }).await;

        // Released per reclaim policy: Retain keeps the volume Released, Delete removes it.
        pvcs.delete("first").await.unwrap();
        pvcs.delete("second").await.unwrap();
        eventually("keep Released", || async { phases(&client, "keep", "first").await.0 == "Released" }).await;
        eventually("drop deleted", || async { phases(&client, "drop", "second").await.0 == "<gone>" }).await;

        // No class and no volume: Pending with FailedBinding.
        let mut c = pvc("lonely", "1Gi", Some(""), &["ReadWriteOnce"]);
        c.metadata.uid = None;
        pvcs.create(&c).await.unwrap();
        eventually("FailedBinding", || async {
            event_messages(&client, "FailedBinding").await.contains(&"no persistent volumes available for this claim and no storage class is set".to_string())
        })
        .await;
        assert_eq!(phases(&client, "-", "lonely").await.1, "Pending");
        stop.cancel();
        let _ = task.await;
    }

    #[tokio::test(start_paused = true)]
    async fn claims_of_a_provisioned_class_wait_for_the_provisioner() {
        let client = client().await;
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(Context::new(client.clone(), stop.clone())));
        let sc: StorageClass = serde_json::from_value(json!({"metadata": {"name": "local-path"}, "provisioner": "rancher.io/local-path", "volumeBindingMode": "Immediate"})).unwrap();
        client.api::<StorageClass>(None).unwrap().create(&sc).await.unwrap();
        let wffc: StorageClass = serde_json::from_value(json!({"metadata": {"name": "later"}, "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"})).unwrap();
        client.api::<StorageClass>(None).unwrap().create(&wffc).await.unwrap();
        let pvcs = client.api::<PersistentVolumeClaim>(Some("default")).unwrap();
        let mut c = pvc("data", "1Gi", Some("local-path"), &["ReadWriteOnce"]);
        c.metadata.uid = None;
        pvcs.create(&c).await.unwrap();
        eventually("provisioner annotations", || async {
            let c = pvcs.get("data").await.unwrap();
            ann(&c.metadata, ANN_STORAGE_PROVISIONER) == Some("rancher.io/local-path") && ann(&c.metadata, ANN_BETA_STORAGE_PROVISIONER) == Some("rancher.io/local-path")
        })
        .await;
        eventually("ExternalProvisioning", || async { !event_messages(&client, "ExternalProvisioning").await.is_empty() }).await;
        assert_eq!(
            event_messages(&client, "ExternalProvisioning").await[0],
            "Waiting for a volume to be created either by the external provisioner 'rancher.io/local-path' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."
        );

        let mut c = pvc("later", "1Gi", Some("later"), &["ReadWriteOnce"]);
        c.metadata.uid = None;
        pvcs.create(&c).await.unwrap();
        eventually("WaitForFirstConsumer", || async {
            event_messages(&client, "WaitForFirstConsumer").await.contains(&"waiting for first consumer to be created before binding".to_string())
        })
        .await;
        assert!(ann(&pvcs.get("later").await.unwrap().metadata, ANN_STORAGE_PROVISIONER).is_none());
        // A pod using it is scheduled: the node is selected and the provisioner asked.
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "user", "namespace": "default"},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "i"}],
                "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "later"}}]}
        }))
        .unwrap();
        client.api::<Pod>(Some("default")).unwrap().create(&pod).await.unwrap();
        eventually("selected node and provisioner", || async {
            let c = pvcs.get("later").await.unwrap();
            ann(&c.metadata, ANN_SELECTED_NODE) == Some("node-1") && ann(&c.metadata, ANN_STORAGE_PROVISIONER) == Some("rancher.io/local-path")
        })
        .await;
        stop.cancel();
        let _ = task.await;
    }
}
