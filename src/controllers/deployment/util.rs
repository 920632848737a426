//! The Deployment controller's pure rules, after upstream's deploymentutil: the pod template
//! hash, surge and unavailability fenceposts, revision and replica annotations, conditions,
//! ReplicaSet orderings, proportional scaling and the rollout status predicates. Nothing here
//! reads the cache or writes the store.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::cmp::Ordering;
use std::collections::BTreeMap;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
pub const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The longest revision-history annotation the controller writes.
pub const MAX_REV_HISTORY_CHARS: usize = 2000;

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

pub const MIN_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MIN_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";

/// Annotations a Deployment never copies to its ReplicaSets.
pub fn skip_copy(key: &str) -> bool {
    matches!(key, LAST_APPLIED | REVISION | REVISION_HISTORY | DESIRED_REPLICAS | MAX_REPLICAS | ROLLBACK_TO)
}

const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Maps every byte onto the alphabet without vowels or look-alikes, as apimachinery's
/// SafeEncodeString does.
pub fn safe_encode(s: &str) -> String {
    s.bytes().map(|b| SAFE_ALPHABET[b as usize % SAFE_ALPHABET.len()] as char).collect()
}

fn fnv32a(h: &mut u32, bytes: &[u8]) {
    for &b in bytes {
        *h ^= u32::from(b);
        *h = h.wrapping_mul(0x0100_0193);
    }
}

/// The pod-template-hash: FNV-32a of the template (its canonical JSON) and the collision
/// count (8 little-endian bytes, as upstream writes it), rendered safe-encoded in decimal.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut h: u32 = 0x811c_9dc5;
    let bytes = serde_json::to_vec(template).unwrap_or_default();
    fnv32a(&mut h, &bytes);
    if let Some(c) = collision_count {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&(c as u32).to_le_bytes());
        fnv32a(&mut h, &b);
    }
    safe_encode(&h.to_string())
}

/// Templates equal once the pod-template-hash label is ignored (EqualIgnoreHash).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    fn strip(t: &PodTemplateSpec) -> PodTemplateSpec {
        let mut t = t.clone();
        if let Some(m) = t.metadata.as_mut() {
            if let Some(l) = m.labels.as_mut() {
                l.remove(POD_TEMPLATE_HASH);
                if l.is_empty() {
                    m.labels = None;
                }
            }
        }
        t
    }
    strip(a) == strip(b)
}

/// An int-or-percent scaled against `total`; percents round up or down.
pub fn scaled_value(v: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match v {
        None => 0,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => {
            let Some(p) = s.strip_suffix('%').and_then(|p| p.trim().parse::<i64>().ok()) else {
                return s.trim().parse().unwrap_or(0);
            };
            let x = p as f64 * f64::from(total) / 100.0;
            (if round_up { x.ceil() } else { x.floor() }) as i32
        }
    }
}

pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

pub fn rs_status(rs: &ReplicaSet) -> (i32, i32, i32) {
    let s = rs.status.as_ref();
    (
        s.map(|s| s.replicas).unwrap_or(0),
        s.and_then(|s| s.ready_replicas).unwrap_or(0),
        s.and_then(|s| s.available_replicas).unwrap_or(0),
    )
}

pub fn is_rolling(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.type_.as_deref()).unwrap_or("RollingUpdate") == "RollingUpdate"
}

pub fn is_paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

pub fn min_ready_seconds(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
}

/// Surge (rounded up) and unavailability (rounded down); both zero means one unavailable.
pub fn fenceposts(d: &Deployment) -> (i32, i32) {
    let desired = replicas(d);
    let ru = d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.rolling_update.as_ref());
    let default = IntOrString::String("25%".into());
    let surge = scaled_value(Some(ru.and_then(|r| r.max_surge.as_ref()).unwrap_or(&default)), desired, true);
    let unavailable = scaled_value(Some(ru.and_then(|r| r.max_unavailable.as_ref()).unwrap_or(&default)), desired, false);
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling(d) {
        return 0;
    }
    fenceposts(d).0
}

pub fn max_unavailable(d: &Deployment) -> i32 {
    let r = replicas(d);
    if !is_rolling(d) || r == 0 {
        return 0;
    }
    fenceposts(d).1.min(r)
}

fn annotation<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The revision annotation as a number (0 when absent or malformed).
pub fn revision(rs: &ReplicaSet) -> i64 {
    annotation(rs, REVISION).and_then(|v| v.parse().ok()).unwrap_or(0)
}

pub fn max_revision(rss: &[ReplicaSet]) -> i64 {
    rss.iter().map(revision).max().unwrap_or(0)
}

pub fn desired_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(rs, DESIRED_REPLICAS)?.parse().ok()
}

pub fn max_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(rs, MAX_REPLICAS)?.parse().ok()
}

/// Sets desired-replicas and max-replicas; true when they changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let a = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let (d, m) = (desired.to_string(), max.to_string());
    let mut changed = false;
    if a.get(DESIRED_REPLICAS) != Some(&d) {
        a.insert(DESIRED_REPLICAS.into(), d);
        changed = true;
    }
    if a.get(MAX_REPLICAS) != Some(&m) {
        a.insert(MAX_REPLICAS.into(), m);
        changed = true;
    }
    changed
}

pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(rs, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || annotation(rs, MAX_REPLICAS) != Some(max.to_string().as_str())
}

/// Copies the Deployment's annotations (all but the controller's own) onto the ReplicaSet.
fn copy_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let mut changed = false;
    let target = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if skip_copy(k) || target.get(k) == Some(v) {
            continue;
        }
        target.insert(k.clone(), v.clone());
        changed = true;
    }
    changed
}

/// SetNewReplicaSetAnnotations: copies annotations, raises the revision (remembering the old
/// one in revision-history) and, for a ReplicaSet being created, sets the replica annotations.
pub fn set_new_rs_annotations(d: &Deployment, rs: &mut ReplicaSet, new_revision: i64, exists: bool) -> bool {
    let mut changed = copy_annotations(d, rs);
    let a = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let old = a.get(REVISION).cloned().unwrap_or_default();
    let old_n: i64 = match old.parse() {
        Ok(n) => n,
        Err(_) if old.is_empty() => 0,
        Err(_) => return changed,
    };
    if old_n < new_revision {
        a.insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if !old.is_empty() {
            let history = a.get(REVISION_HISTORY).cloned().unwrap_or_default();
            if history.is_empty() {
                a.insert(REVISION_HISTORY.into(), old);
            } else {
                let olds: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > MAX_REV_HISTORY_CHARS && start < olds.len() {
                    total -= olds[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REV_HISTORY_CHARS {
                    let mut kept: Vec<&str> = olds[start..].to_vec();
                    kept.push(&old);
                    let joined = kept.join(",");
                    a.insert(REVISION_HISTORY.into(), joined);
                }
            }
        }
    }
    if !exists {
        let r = replicas(d);
        if set_replicas_annotations(rs, r, r + max_surge(d)) {
            changed = true;
        }
    }
    changed
}

/// Sets the Deployment's revision annotation; true when it changed.
pub fn set_deployment_revision(d: &mut Deployment, revision: &str) -> bool {
    let a = d.metadata.annotations.get_or_insert_with(BTreeMap::new);
    if a.get(REVISION).map(String::as_str) == Some(revision) {
        return false;
    }
    a.insert(REVISION.into(), revision.to_string());
    true
}

// ---- orderings ----

fn created(rs: &ReplicaSet) -> Option<jiff::Timestamp> {
    rs.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Oldest first; ties by name.
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    created(a).cmp(&created(b)).then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Lowest revision first; ties oldest first.
pub fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    revision(a).cmp(&revision(b)).then_with(|| by_creation(a, b))
}

/// Largest first; ties oldest first.
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b).cmp(&rs_replicas(a)).then_with(|| by_creation(a, b))
}

/// Largest first; ties newest first.
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b).cmp(&rs_replicas(a)).then_with(|| by_creation(b, a))
}

/// The oldest ReplicaSet whose template is the Deployment's.
pub fn find_new_rs<'a>(d: &Deployment, rss: &'a [ReplicaSet]) -> Option<&'a ReplicaSet> {
    let t = d.spec.as_ref().map(|s| &s.template)?;
    let mut sorted: Vec<&ReplicaSet> = rss.iter().collect();
    sorted.sort_by(|a, b| by_creation(a, b));
    sorted.into_iter().find(|rs| rs.spec.as_ref().and_then(|s| s.template.as_ref()).is_some_and(|rt| equal_ignore_hash(rt, t)))
}

pub fn sum_replicas<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    rss.into_iter().map(rs_replicas).sum()
}

/// The new ReplicaSet's size for this step of the rollout (NewRSNewReplicas).
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new_rs: &ReplicaSet) -> i32 {
    let desired = replicas(d);
    if !is_rolling(d) {
        return desired;
    }
    let current = sum_replicas(all.iter().copied());
    let max_total = desired + max_surge(d);
    if current >= max_total {
        return rs_replicas(new_rs);
    }
    let up = (max_total - current).min(desired - rs_replicas(new_rs));
    rs_replicas(new_rs) + up
}

/// How much of `to_add` this ReplicaSet takes in a proportional scale (GetProportion).
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32, status_replicas: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = rs_fraction(rs, d, status_replicas);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

fn rs_fraction(rs: &ReplicaSet, d: &Deployment, status_replicas: i32) -> i32 {
    let desired = replicas(d);
    if desired == 0 {
        return -rs_replicas(rs);
    }
    let deployment_replicas = desired + max_surge(d);
    let annotated = max_replicas_annotation(rs).unwrap_or(status_replicas);
    if annotated == 0 {
        return 0;
    }
    let size = f64::from(rs_replicas(rs)) * f64::from(deployment_replicas) / f64::from(annotated);
    size.round() as i32 - rs_replicas(rs)
}

/// The only active ReplicaSet, or the newest when none is active (FindActiveOrLatest);
/// None when several are active.
pub fn active_or_latest<'a>(new_rs: Option<&'a ReplicaSet>, olds: &'a [ReplicaSet]) -> Option<&'a ReplicaSet> {
    if new_rs.is_none() && olds.is_empty() {
        return None;
    }
    let mut sorted: Vec<&ReplicaSet> = olds.iter().collect();
    sorted.sort_by(|a, b| by_creation(b, a));
    let active: Vec<&ReplicaSet> = sorted.iter().copied().chain(new_rs).filter(|rs| rs_replicas(rs) > 0).collect();
    match active.len() {
        0 => new_rs.or(sorted.first().copied()),
        1 => Some(active[0]),
        _ => None,
    }
}

/// The new ReplicaSet already runs the whole Deployment, available (IsSaturated).
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else { return false };
    let r = replicas(d);
    rs_replicas(rs) == r && desired_replicas_annotation(rs) == Some(r) && rs_status(rs).2 == r
}

// ---- conditions ----

pub fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

pub fn new_condition(type_: &str, status: &str, reason: &str, message: String, now: jiff::Timestamp) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// SetDeploymentCondition: same status and reason is no change; same status keeps the
/// transition time; the condition moves to the end.
pub fn set_condition(status: &mut DeploymentStatus, mut c: DeploymentCondition) {
    if let Some(cur) = condition(status, &c.type_) {
        if cur.status == c.status && cur.reason == c.reason {
            return;
        }
        if cur.status == c.status {
            c.last_transition_time = cur.last_transition_time.clone();
        }
    }
    remove_condition(status, &c.type_.clone());
    status.conditions.get_or_insert_with(Vec::new).push(c);
}

pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(cs) = status.conditions.as_mut() {
        cs.retain(|c| c.type_ != type_);
    }
}

pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec.as_ref().and_then(|s| s.progress_deadline_seconds).filter(|&s| s != i32::MAX)
}

/// All replicas updated and available, and the spec observed (DeploymentComplete).
pub fn is_complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let r = replicas(d);
    s.updated_replicas.unwrap_or(0) == r
        && s.replicas.unwrap_or(0) == r
        && s.available_replicas.unwrap_or(0) == r
        && s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Some counter moved the right way since the last status (DeploymentProgressing).
pub fn is_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let olds_old = old.replicas.unwrap_or(0) - old.updated_replicas.unwrap_or(0);
    let olds_new = new.replicas.unwrap_or(0) - new.updated_replicas.unwrap_or(0);
    new.updated_replicas.unwrap_or(0) > old.updated_replicas.unwrap_or(0)
        || olds_new < olds_old
        || new.ready_replicas.unwrap_or(0) > old.ready_replicas.unwrap_or(0)
        || new.available_replicas.unwrap_or(0) > old.available_replicas.unwrap_or(0)
}

/// No progress for progressDeadlineSeconds (DeploymentTimedOut).
pub fn is_timed_out(d: &Deployment, s: &DeploymentStatus, now: jiff::Timestamp) -> bool {
    let Some(deadline) = progress_deadline(d) else { return false };
    let Some(c) = condition(s, PROGRESSING) else { return false };
    match c.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => {
            let from = c.last_update_time.as_ref().map(|t| t.0).unwrap_or(now);
            from.as_second() + i64::from(deadline) < now.as_second()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentSpec, DeploymentStrategy, ReplicaSetSpec, RollingUpdateDeployment};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn dep(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
        Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment { max_surge: Some(surge), max_unavailable: Some(unavailable) }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    #[test]
    fn safe_encoding_uses_only_the_upstream_alphabet() {
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
        let h = compute_hash(&PodTemplateSpec::default(), None);
        assert!(h.chars().all(|c| "456789bcdf".contains(c)), "{h}");
        assert_eq!(h, compute_hash(&PodTemplateSpec::default(), None), "stable");
        assert_ne!(h, compute_hash(&PodTemplateSpec::default(), Some(1)), "collision count changes it");
    }

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        let mut h = 0x811c_9dc5u32;
        fnv32a(&mut h, b"a");
        assert_eq!(h, 0xe40c292c);
        let mut h = 0x811c_9dc5u32;
        fnv32a(&mut h, b"foobar");
        assert_eq!(h, 0xbf9cf968);
    }

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down() {
        assert_eq!(fenceposts(&dep(3, pct("25%"), pct("25%"))), (1, 0));
        assert_eq!(fenceposts(&dep(10, pct("25%"), pct("25%"))), (3, 2));
        assert_eq!(fenceposts(&dep(3, IntOrString::Int(0), IntOrString::Int(0))), (0, 1));
        assert_eq!(fenceposts(&dep(4, pct("50%"), IntOrString::Int(2))), (2, 2));
        assert_eq!(max_unavailable(&dep(2, IntOrString::Int(0), IntOrString::Int(5))), 2, "capped at replicas");
        assert_eq!(max_unavailable(&dep(0, IntOrString::Int(0), IntOrString::Int(5))), 0);
    }

    fn rs(name: &str, replicas: i32, rev: &str, max: Option<i32>) -> ReplicaSet {
        let mut a = BTreeMap::new();
        a.insert(REVISION.to_string(), rev.to_string());
        if let Some(m) = max {
            a.insert(MAX_REPLICAS.to_string(), m.to_string());
        }
        ReplicaSet {
            metadata: ObjectMeta { name: Some(name.into()), annotations: Some(a), ..Default::default() },
            spec: Some(ReplicaSetSpec { replicas: Some(replicas), ..Default::default() }),
            status: None,
        }
    }

    #[test]
    fn new_rs_grows_within_the_surge() {
        let d = dep(3, pct("25%"), pct("25%"));
        let old = rs("old", 3, "1", None);
        let new = rs("new", 0, "2", None);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 1);
        let new = rs("new", 1, "2", None);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 1, "at max total");
        let old = rs("old", 1, "1", None);
        let new = rs("new", 2, "2", None);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 3);
    }

    #[test]
    fn revision_history_remembers_the_old_revisions() {
        let d = dep(1, pct("25%"), pct("25%"));
        let mut r = rs("a", 1, "1", None);
        assert!(set_new_rs_annotations(&d, &mut r, 3, true));
        assert_eq!(revision(&r), 3);
        assert!(set_new_rs_annotations(&d, &mut r, 5, true));
        let a = r.metadata.annotations.as_ref().unwrap();
        assert_eq!(a[REVISION_HISTORY], "1,3");
        assert!(!set_new_rs_annotations(&d, &mut r, 5, true), "no change");
    }

    #[test]
    fn proportions_follow_the_max_replicas_annotation() {
        // 10 → 15 replicas (surge 3 → 4): the RS annotated max 13 with 8 replicas grows to round(8*19/13)=12.
        let d = dep(15, pct("25%"), pct("25%"));
        let r = rs("a", 8, "1", Some(13));
        assert_eq!(proportion(&r, &d, 6, 0, 0), 4);
        assert_eq!(proportion(&r, &d, 6, 5, 0), 1, "capped by what is left");
        let down = dep(5, pct("25%"), pct("25%"));
        assert_eq!(proportion(&r, &down, -6, 0, 0), -4, "round(8*7/13) = 4");
    }

    #[test]
    fn conditions_keep_transition_time_and_skip_same_reason() {
        let t0 = jiff::Timestamp::from_second(1000).unwrap();
        let t1 = jiff::Timestamp::from_second(2000).unwrap();
        let mut s = DeploymentStatus::default();
        set_condition(&mut s, new_condition(PROGRESSING, "True", NEW_RS_CREATED, "a".into(), t0));
        set_condition(&mut s, new_condition(AVAILABLE, "True", MIN_REPLICAS_AVAILABLE, "b".into(), t0));
        set_condition(&mut s, new_condition(AVAILABLE, "True", MIN_REPLICAS_AVAILABLE, "c".into(), t1));
        assert_eq!(condition(&s, AVAILABLE).unwrap().message.as_deref(), Some("b"));
        set_condition(&mut s, new_condition(PROGRESSING, "True", RS_UPDATED, "d".into(), t1));
        let c = condition(&s, PROGRESSING).unwrap();
        assert_eq!((c.last_transition_time.as_ref().unwrap().0, c.last_update_time.as_ref().unwrap().0), (t0, t1));
        let types: Vec<&str> = s.conditions.as_ref().unwrap().iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, vec![AVAILABLE, PROGRESSING]);
    }
}
