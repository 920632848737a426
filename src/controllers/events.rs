//! The event recorder: controllers, the scheduler and node agents record core/v1 Events about
//! the objects they act on, as client-go's legacy recorder writes them (`kubectl describe` and
//! `kubectl get events` read these). Recording never blocks a reconcile: records go through a
//! bounded channel to one writer task, which aggregates repeats into `count` like client-go's
//! correlator, and drops records when the channel is full rather than slowing the caller.

use crate::client::Client;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// `Normal` or `Warning`, as Kubernetes spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

#[derive(Debug)]
struct Record {
    component: Arc<str>,
    host: Option<Arc<str>>,
    object: ObjectReference,
    kind: EventType,
    reason: String,
    message: String,
}

/// Records events; cheap to clone. `for_component` names who reports.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Record>,
    component: Arc<str>,
    host: Option<Arc<str>>,
}

/// How many records may wait for the writer before new ones are dropped.
const BACKLOG: usize = 8192;
/// How many distinct (object, reason, message) series the aggregator remembers.
const SERIES: usize = 4096;

impl Recorder {
    /// Starts the writer task; it runs until `stop`.
    pub fn start(client: Client, stop: CancellationToken) -> Recorder {
        let (tx, rx) = mpsc::channel(BACKLOG);
        tokio::spawn(write_events(client, rx, stop));
        Recorder { tx, component: Arc::from("controller-manager"), host: None }
    }

    /// A recorder that reports as `component` (e.g. "deployment-controller", "default-scheduler"),
    /// optionally from a host (the kubelet's node name).
    pub fn for_component(&self, component: &str, host: Option<&str>) -> Recorder {
        Recorder { tx: self.tx.clone(), component: Arc::from(component), host: host.map(Arc::from) }
    }

    /// Records an event about `obj`.
    pub fn record<K>(&self, obj: &K, kind: EventType, reason: &str, message: impl Into<String>)
    where
        K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
    {
        self.record_ref(reference(obj, None), kind, reason, message)
    }

    /// Records an event about one field of `obj` (the kubelet's `spec.containers{name}`).
    pub fn record_field<K>(&self, obj: &K, field_path: &str, kind: EventType, reason: &str, message: impl Into<String>)
    where
        K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
    {
        self.record_ref(reference(obj, Some(field_path)), kind, reason, message)
    }

    pub fn normal<K>(&self, obj: &K, reason: &str, message: impl Into<String>)
    where
        K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
    {
        self.record(obj, EventType::Normal, reason, message)
    }

    pub fn warning<K>(&self, obj: &K, reason: &str, message: impl Into<String>)
    where
        K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
    {
        self.record(obj, EventType::Warning, reason, message)
    }

    pub fn record_ref(&self, object: ObjectReference, kind: EventType, reason: &str, message: impl Into<String>) {
        let rec = Record {
            component: self.component.clone(),
            host: self.host.clone(),
            object,
            kind,
            reason: reason.to_string(),
            message: message.into(),
        };
        if self.tx.try_send(rec).is_err() {
            tracing::debug!(reason, "event backlog full; event dropped");
        }
    }
}

/// The ObjectReference an event names.
pub fn reference<K>(obj: &K, field_path: Option<&str>) -> ObjectReference
where
    K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    let m = obj.metadata();
    ObjectReference {
        api_version: Some(K::API_VERSION.to_string()),
        kind: Some(K::KIND.to_string()),
        namespace: m.namespace.clone(),
        name: m.name.clone(),
        uid: m.uid.clone(),
        resource_version: m.resource_version.clone(),
        field_path: field_path.map(str::to_string),
    }
}

type SeriesKey = (String, Option<String>, String, String, &'static str, Arc<str>);

async fn write_events(client: Client, mut rx: mpsc::Receiver<Record>, stop: CancellationToken) {
    // (object uid, field, reason, message, type, component) → (event namespace, name, count)
    let mut series: HashMap<SeriesKey, (String, String, i32)> = HashMap::new();
    loop {
        let rec = tokio::select! {
            _ = stop.cancelled() => return,
            r = rx.recv() => match r { Some(r) => r, None => return },
        };
        let ns = rec.object.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".to_string());
        let Ok(api) = client.api::<Event>(Some(&ns)) else { return };
        let now = Time(jiff::Timestamp::now());
        let key: SeriesKey = (
            rec.object.uid.clone().unwrap_or_default(),
            rec.object.field_path.clone(),
            rec.reason.clone(),
            rec.message.clone(),
            rec.kind.as_str(),
            rec.component.clone(),
        );
        if let Some((ens, ename, count)) = series.get(&key).cloned() {
            let patch = serde_json::json!({"count": count + 1, "lastTimestamp": now});
            if let Ok(api) = client.api::<Event>(Some(&ens)) {
                if api.patch_merge(&ename, &patch).await.is_ok() {
                    series.insert(key, (ens, ename, count + 1));
                    continue;
                }
            }
        }
        let object_name = rec.object.name.clone().unwrap_or_default();
        let nanos = jiff::Timestamp::now().as_nanosecond();
        let ev = Event {
            metadata: ObjectMeta { name: Some(format!("{object_name}.{:x}", nanos)), namespace: Some(ns.clone()), ..Default::default() },
            involved_object: rec.object,
            reason: Some(rec.reason),
            message: Some(rec.message),
            source: Some(EventSource { component: Some(rec.component.to_string()), host: rec.host.as_ref().map(|h| h.to_string()) }),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            type_: Some(rec.kind.as_str().to_string()),
            reporting_component: Some(rec.component.to_string()),
            reporting_instance: Some(rec.host.as_ref().map(|h| h.to_string()).unwrap_or_default()),
            ..Default::default()
        };
        match api.create(&ev).await {
            Ok(created) => {
                if series.len() >= SERIES {
                    series.clear();
                }
                series.insert(key, (ns, created.metadata.name.unwrap_or_default(), 1));
            }
            Err(e) => tracing::debug!(error = %e, "recording an event failed"),
        }
    }
}
