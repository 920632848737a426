//! What survives the server going away: a clean SIGTERM restart brings every object back
//! with the same resourceVersion, and after a kill -9 in the middle of a burst of creates,
//! every create that was answered 201 is still there.
mod common;
use common::*;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const OBJECTS: &str = r#"apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: shop
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: settings
    namespace: shop
    labels:
      app: shop
  data:
    currency: EUR
- apiVersion: v1
  kind: Secret
  metadata:
    name: token
    namespace: shop
  data:
    token: aHVudGVyMg==
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: web
    namespace: shop
  spec:
    replicas: 2
    selector:
      matchLabels:
        app: web
    template:
      metadata:
        labels:
          app: web
      spec:
        containers:
        - name: nginx
          image: nginx:1.27
- apiVersion: v1
  kind: Service
  metadata:
    name: web
    namespace: shop
  spec:
    selector:
      app: web
    ports:
    - port: 80
"#;

/// `kubectl create configmap ARGS…` (kubectl 1.32 sends this one as protobuf).
fn create_configmap(s: &Server, args: &[&str]) -> String {
    let mut full = vec!["create", "configmap"];
    full.extend_from_slice(args);
    let out = s.kubectl(&full);
    assert!(
        out.status.success(),
        "kubectl {full:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One line per object: kind/namespace/name uid resourceVersion. `scope` is `-n NS` or `-A`.
fn inventory(s: &Server, scope: &[&str]) -> String {
    let mut args = vec![
        "get",
        "namespaces,configmaps,secrets,deployments,services",
        "-o",
        r#"jsonpath={range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name} {.metadata.uid} {.metadata.resourceVersion}{"\n"}{end}"#,
    ];
    args.extend_from_slice(scope);
    s.ok(&args)
}

fn max_rv(inventory: &str) -> u64 {
    inventory
        .lines()
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

#[test]
fn objects_come_back_with_the_same_resource_versions_after_a_restart() {
    let mut s = Server::start();
    s.ok_stdin(&["create", "-f", "-", "--validate=false"], OBJECTS);
    s.ok(&["label", "cm", "settings", "-n", "shop", "edited=yes"]);
    s.ok(&["scale", "deploy", "web", "-n", "shop", "--replicas=4"]);
    create_configmap(&s, &["doomed", "-n", "shop"]);
    s.ok(&["delete", "configmap", "doomed", "-n", "shop"]);
    let before = inventory(&s, &["-n", "shop"]);
    let everything_before = inventory(&s, &["-A"]);
    assert!(before.contains("ConfigMap/shop/settings "), "{before}");
    assert!(before.contains("Deployment/shop/web "), "{before}");
    let data_before = s.ok(&[
        "get",
        "cm",
        "settings",
        "-n",
        "shop",
        "-o",
        "jsonpath={.data.currency} {.metadata.labels.edited}",
    ]);

    s.stop();
    s.spawn();

    let after = inventory(&s, &["-n", "shop"]);
    assert_eq!(
        after, before,
        "the user's objects, uids and resourceVersions after SIGTERM and restart"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.currency} {.metadata.labels.edited}"
        ]),
        data_before
    );
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "4"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "secret",
            "token",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.token}"
        ]),
        "aHVudGVyMg=="
    );
    assert_eq!(
        s.fails(&["get", "cm", "doomed", "-n", "shop"]).trim(),
        r#"Error from server (NotFound): configmaps "doomed" not found"#
    );

    // The global revision carries on where it was: a new write gets a higher resourceVersion.
    create_configmap(&s, &["later", "-n", "shop"]);
    let rv: u64 = s
        .ok(&[
            "get",
            "cm",
            "later",
            "-n",
            "shop",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .parse()
        .unwrap();
    assert!(
        rv > max_rv(&everything_before),
        "new resourceVersion {rv} must exceed every earlier one ({})",
        max_rv(&everything_before)
    );

    // A second restart, now after a kill -9 with nothing in flight.
    let before = inventory(&s, &["-n", "shop"]);
    let everything_before_kill = inventory(&s, &["-A"]);
    s.kill9();
    s.spawn();
    assert_eq!(inventory(&s, &["-n", "shop"]), before);

    // What the server itself created at first start (namespaces, the kubernetes Service) is
    // not rewritten by a restart either.
    assert_eq!(
        inventory(&s, &["-A"]),
        everything_before_kill,
        "built-in objects after kill -9 and restart"
    );
    let first_start: Vec<&str> = everything_before
        .lines()
        .filter(|l| !l.contains("/shop"))
        .collect();
    let now = inventory(&s, &["-A"]);
    for line in first_start {
        assert!(
            now.lines().any(|l| l == line),
            "built-in object changed across restarts: {line}\nnow:\n{now}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_create_survives_kill_9_in_the_middle_of_a_burst() {
    let mut s = Server::start();
    let client = s.kube_client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let stop = Arc::new(AtomicBool::new(false));

    // 32 writers, each creating ConfigMaps as fast as it can until the server dies.
    let mut writers = Vec::new();
    for w in 0..32 {
        let api = api.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut acked: Vec<(String, String)> = Vec::new();
            let mut failures = 0;
            for i in 0.. {
                if stop.load(Ordering::Relaxed) || failures > 3 {
                    break;
                }
                let name = format!("burst-{w:02}-{i:05}");
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        ..Default::default()
                    },
                    data: Some(
                        [
                            ("writer".to_string(), w.to_string()),
                            ("seq".to_string(), i.to_string()),
                        ]
                        .into(),
                    ),
                    ..Default::default()
                };
                match tokio::time::timeout(
                    Duration::from_secs(5),
                    api.create(&PostParams::default(), &cm),
                )
                .await
                {
                    Ok(Ok(created)) => {
                        acked.push((name, created.metadata.resource_version.unwrap_or_default()))
                    }
                    _ => failures += 1,
                }
            }
            acked
        }));
    }

    tokio::time::sleep(Duration::from_millis(1200)).await;
    s.kill9();
    stop.store(true, Ordering::Relaxed);
    let mut acked: BTreeMap<String, String> = BTreeMap::new();
    for w in writers {
        acked.extend(w.await.expect("writer task"));
    }
    assert!(
        acked.len() >= 300,
        "only {} creates were acknowledged before the kill; the test means nothing",
        acked.len()
    );

    s.spawn();
    let api: Api<ConfigMap> = Api::namespaced(s.kube_client().await, "default");
    let list = api
        .list(&ListParams::default())
        .await
        .expect("list after restart");
    let found: BTreeMap<String, String> = list
        .items
        .into_iter()
        .map(|cm| {
            (
                cm.metadata.name.unwrap_or_default(),
                cm.metadata.resource_version.unwrap_or_default(),
            )
        })
        .collect();
    let lost: Vec<&String> = acked.keys().filter(|n| !found.contains_key(*n)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged creates are gone after kill -9, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    for (name, rv) in &acked {
        assert_eq!(
            &found[name], rv,
            "{name} came back with another resourceVersion"
        );
    }
    // Whatever was written but not acknowledged is whole or absent: every object parses and
    // carries its writer's data.
    let full = api.list(&ListParams::default()).await.unwrap();
    for cm in &full.items {
        let name = cm.metadata.name.as_deref().unwrap_or_default();
        if let Some(rest) = name.strip_prefix("burst-") {
            let data = cm.data.as_ref().expect("data");
            assert_eq!(
                data["writer"].parse::<u32>().unwrap(),
                rest[..2].parse::<u32>().unwrap(),
                "{name}"
            );
        }
    }
    eprintln!(
        "{} creates acknowledged before kill -9, {} ConfigMaps after restart",
        acked.len(),
        full.items.len()
    );

    // The server takes writes again, with a revision above everything it acknowledged.
    let max_acked: u64 = acked
        .values()
        .filter_map(|rv| rv.parse().ok())
        .max()
        .unwrap();
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("after-crash".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let created = api
        .create(&PostParams::default(), &cm)
        .await
        .expect("create after restart");
    let rv: u64 = created.metadata.resource_version.unwrap().parse().unwrap();
    assert!(
        rv > max_acked,
        "resourceVersion {rv} after restart must exceed {max_acked}"
    );
}
