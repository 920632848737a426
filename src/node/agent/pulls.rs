//! Image pull policies as the kubelet applies them (Always, IfNotPresent, Never), the
//! offline switch, pulls into the store, and the events and waiting reasons a user sees:
//! ErrImagePull, ImagePullBackOff, ErrImageNeverPull, InvalidImageName.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod};

use super::Agent;
use crate::node::images::{Image, ImageStore};

/// How the agent may reach registries.
#[derive(Clone)]
pub struct PullConfig {
    pub offline: bool,
    pub registries: std::path::PathBuf,
    /// Mirrored registries are pulled from their mirrors only.
    pub disable_default_endpoint: bool,
}

/// Why a container has no image yet: (waiting reason, message).
pub type Failure = (String, String);

/// The image pull back-off of one image: 10 s doubling to 300 s, as the kubelet's.
#[derive(Clone, Debug)]
pub struct Backoff {
    pub delay: Duration,
    pub until: Instant,
    pub message: String,
}

/// How long ErrImagePull stays the waiting reason before it turns into ImagePullBackOff.
pub const ERR_IMAGE_PULL_SHOWN: Duration = Duration::from_secs(2);

impl Backoff {
    /// When the pull that started this back-off failed.
    pub fn failed_at(&self) -> Instant {
        self.until.checked_sub(self.delay).unwrap_or(self.until)
    }

    /// When the agent is to look at the image again: when ErrImagePull turns into
    /// ImagePullBackOff, then at the end of the back-off.
    pub fn next_look(&self) -> Instant {
        let shown = self.failed_at() + ERR_IMAGE_PULL_SHOWN;
        if Instant::now() < shown { shown } else { self.until }
    }
}

pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The pull policy the API defaulted, or its rule: Always for `:latest` and untagged images.
pub fn policy(c: &Container) -> String {
    if let Some(p) = &c.image_pull_policy {
        return p.clone();
    }
    let image = c.image.as_deref().unwrap_or("");
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        "IfNotPresent".into()
    } else if !last.contains(':') || last.ends_with(":latest") {
        "Always".into()
    } else {
        "IfNotPresent".into()
    }
}

/// Makes sure the container's image is in the store, following its pull policy; records
/// the kubelet's events on the pod.
pub async fn ensure(agent: &Agent, pod: &Pod, c: &Container, backoff: &mut Option<Backoff>) -> Result<Image, Failure> {
    let image = c.image.clone().unwrap_or_default();
    let field = format!("spec.containers{{{}}}", c.name);
    let events = agent.events();
    let name = match ImageStore::normalize(&image) {
        Ok(n) => n,
        Err(e) => {
            let msg = format!("Failed to apply default image tag {image:?}: {e}");
            events.record_field(pod, &field, crate::controllers::events::EventType::Warning, "InspectFailed", msg.clone());
            events.record_field(pod, &field, crate::controllers::events::EventType::Warning, "Failed", "Error: InvalidImageName");
            return Err(("InvalidImageName".into(), msg));
        }
    };
    let present = agent.images.get(&name).ok().flatten();
    let policy = policy(c);
    let use_local = |img: Image, note: &str| {
        events.record_field(pod, &field, crate::controllers::events::EventType::Normal, "Pulled", format!("Container image {image:?} already present on machine{note}"));
        Ok(img)
    };
    match (policy.as_str(), present) {
        ("Never", Some(img)) | ("IfNotPresent", Some(img)) => return use_local(img, ""),
        ("Never", None) => {
            let msg = format!("Container image {image:?} is not present with pull policy of Never");
            events.record_field(pod, &field, crate::controllers::events::EventType::Warning, "ErrImageNeverPull", msg.clone());
            events.record_field(pod, &field, crate::controllers::events::EventType::Warning, "Failed", "Error: ErrImageNeverPull");
            return Err(("ErrImageNeverPull".into(), msg));
        }
        (_, Some(img)) if agent.pull.offline => {
            return use_local(img, " and the node is offline: using the local copy");
        }
        _ => {}
    }
    if let Some(b) = backoff.as_ref() {
        if Instant::now() < b.failed_at() + ERR_IMAGE_PULL_SHOWN {
            // The kubelet's next sync comes seconds after a failed pull; until then the
            // waiting reason stays ErrImagePull (a status write of ours wakes us at once).
            return Err(("ErrImagePull".into(), b.message.clone()));
        }
        if Instant::now() < b.until {
            events.record_field(pod, &field, crate::controllers::events::EventType::Normal, "BackOff", format!("Back-off pulling image {image:?}"));
            events.record_field(pod, &field, crate::controllers::events::EventType::Warning, "Failed", "Error: ImagePullBackOff");
            return Err(("ImagePullBackOff".into(), format!("Back-off pulling image {image:?}: ErrImagePull: {}", b.message)));
        }
    }
    events.record_field(pod, &field, crate::controllers::events::EventType::Normal, "Pulling", format!("Pulling image {image:?}"));
    let started = Instant::now();
    match pull(agent, &name).await {
        Ok(img) => {
            *backoff = None;
            let secs = started.elapsed().as_secs_f64();
            events.record_field(
                pod,
                &field,
                crate::controllers::events::EventType::Normal,
                "Pulled",
                format!("Successfully pulled image {image:?} in {secs:.3}s ({secs:.3}s including waiting). Image size: {} bytes.", img.size),
            );
            Ok(img)
        }
        Err(e) => {
            let msg = format!("failed to pull and unpack image {name:?}: {e}");
            events.record_field(pod, &field, crate::controllers::events::EventType::Warning, "Failed", format!("Failed to pull image {image:?}: {msg}"));
            events.record_field(pod, &field, crate::controllers::events::EventType::Warning, "Failed", "Error: ErrImagePull");
            let delay = backoff.as_ref().map(|b| (b.delay * 2).min(BACKOFF_MAX)).unwrap_or(BACKOFF_INITIAL);
            *backoff = Some(Backoff { delay, until: Instant::now() + delay, message: msg.clone() });
            Err(("ErrImagePull".into(), msg))
        }
    }
}

/// Pulls `name` from its registry (or a mirror) into the store.
pub async fn pull(agent: &Agent, name: &str) -> Result<Image, String> {
    use crate::node::images::pull::{self, PullOptions};
    if agent.pull.offline {
        return Err("the node is offline (--offline): no registry is contacted".into());
    }
    let registries = crate::node::images::registries::Registries::load(&agent.pull.registries).map_err(|e| e.to_string())?;
    let opts = PullOptions { offline: false, registries, disable_default_endpoint: agent.pull.disable_default_endpoint, ..Default::default() };
    let tmp = agent.profile.data_dir.join("tmp").join(format!("pull-{}", uuid::Uuid::new_v4().simple()));
    let store = agent.images.clone();
    let (reference, dir) = (name.to_string(), tmp.clone());
    // The pull and the import (unpacking layers) run on a blocking thread with a runtime of
    // their own: the pull's futures are not all Send, and neither a slow registry nor a big
    // unpack may hold up a tokio worker of the agent.
    let out = tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let have = |digest: &str| store.has_blob(digest);
        let pulled = rt.block_on(pull::pull(&reference, &opts, &dir, &have, &|_| {})).map_err(|e| e.to_string())?;
        store
            .import_oci_layout(&pulled.layout_dir, std::slice::from_ref(&pulled.name))
            .map_err(|e| e.to_string())?
            .into_iter()
            .next()
            .ok_or_else(|| "the pulled image was not imported".to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    let _ = std::fs::remove_dir_all(&tmp);
    out
}
