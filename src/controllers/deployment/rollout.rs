//! One sync of one Deployment: finding or creating the new ReplicaSet and syncing revisions
//! (getAllReplicaSetsAndSyncRevision), the rolling and recreate rollouts, proportional scaling
//! (sync), history cleanup and the status with its conditions (syncRolloutStatus).

use super::util::*;
use super::{requeue_delay, Controller, Error, Result};
use crate::client::Api;
use crate::controllers::pods::{controlled_by, controller_ref, phase};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub(super) struct Rollout<'a> {
    pub ctrl: &'a Controller,
    pub d_api: Api<Deployment>,
    pub rs_api: Api<ReplicaSet>,
    pub now: jiff::Timestamp,
    /// The Deployment as last read or written.
    pub d: Deployment,
    /// When to look again (the progress deadline).
    pub requeue: Option<Duration>,
}

fn name(rs: &ReplicaSet) -> &str {
    rs.metadata.name.as_deref().unwrap_or("")
}

fn same(a: &ReplicaSet, b: &ReplicaSet) -> bool {
    a.metadata.uid == b.metadata.uid
}

/// Replaces `rs` in `list` (by uid) with its updated copy.
fn put(list: &mut [ReplicaSet], rs: &ReplicaSet) {
    for r in list.iter_mut() {
        if same(r, rs) {
            *r = rs.clone();
        }
    }
}

impl Rollout<'_> {
    fn d_name(&self) -> String {
        self.d.metadata.name.clone().unwrap_or_default()
    }

    fn status(&self) -> DeploymentStatus {
        self.d.status.clone().unwrap_or_default()
    }

    pub async fn update_status(&mut self) -> Result<()> {
        let name = self.d_name();
        self.d = self.d_api.replace_status(&name, &self.d).await?;
        self.ctrl.note_written(&self.d.metadata);
        Ok(())
    }

    /// Progressing turns Unknown with DeploymentPaused when paused, DeploymentResumed after.
    pub async fn check_paused_conditions(&mut self) -> Result<()> {
        if progress_deadline(&self.d).is_none() {
            return Ok(());
        }
        let mut st = self.status();
        let reason = condition(&st, PROGRESSING).and_then(|c| c.reason.clone());
        let paused = is_paused(&self.d);
        let changed = if paused && reason.as_deref() != Some(PAUSED) {
            set_condition(&mut st, new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused".into(), self.now));
            true
        } else if !paused && reason.as_deref() == Some(PAUSED) {
            set_condition(&mut st, new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed".into(), self.now));
            true
        } else {
            false
        };
        if changed {
            self.d.status = Some(st);
            self.update_status().await?;
        }
        Ok(())
    }

    /// The new ReplicaSet (created when asked and missing) and all the old ones.
    pub async fn all_rss_and_sync_revision(&mut self, rs_list: &mut Vec<ReplicaSet>, create: bool) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>)> {
        let existing_uid = find_new_rs(&self.d, rs_list).and_then(|r| r.metadata.uid.clone());
        let olds: Vec<ReplicaSet> = rs_list.iter().filter(|r| existing_uid.is_none() || r.metadata.uid != existing_uid).cloned().collect();
        let new = self.new_rs(rs_list, &olds, create).await?;
        // Later steps of this sync see what was written.
        if let Some(n) = &new {
            if rs_list.iter().any(|r| same(r, n)) {
                put(rs_list, n);
            } else {
                rs_list.push(n.clone());
            }
        }
        Ok((new, olds))
    }

    async fn new_rs(&mut self, rs_list: &[ReplicaSet], olds: &[ReplicaSet], create: bool) -> Result<Option<ReplicaSet>> {
        let new_revision = max_revision(olds) + 1;
        let mrs = min_ready_seconds(&self.d);
        if let Some(existing) = find_new_rs(&self.d, rs_list) {
            let mut copy = existing.clone();
            let changed = set_new_rs_annotations(&self.d, &mut copy, new_revision, true);
            let spec = copy.spec.get_or_insert_with(Default::default);
            let mrs_changed = spec.min_ready_seconds.unwrap_or(0) != mrs;
            if changed || mrs_changed {
                spec.min_ready_seconds = Some(mrs);
                copy = self.rs_api.replace(name(&copy), &copy).await?;
                self.ctrl.note_written(&copy.metadata);
            }
            let rev = copy.metadata.annotations.as_ref().and_then(|a| a.get(REVISION)).cloned().unwrap_or_default();
            let mut needs = set_deployment_revision(&mut self.d, &rev);
            let mut st = self.status();
            if progress_deadline(&self.d).is_some() && condition(&st, PROGRESSING).is_none() {
                let msg = format!("Found new replica set {:?}", name(&copy));
                set_condition(&mut st, new_condition(PROGRESSING, "True", FOUND_NEW_RS, msg, self.now));
                self.d.status = Some(st);
                needs = true;
            }
            if needs {
                self.update_status().await?;
            }
            return Ok(Some(copy));
        }
        if !create {
            return Ok(None);
        }
        let spec = self.d.spec.clone().unwrap_or_default();
        let mut template = spec.template.clone();
        let st = self.status();
        let hash = compute_hash(&template, st.collision_count);
        let tm = template.metadata.get_or_insert_with(Default::default);
        tm.labels.get_or_insert_with(BTreeMap::new).insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let labels = tm.labels.clone();
        let mut selector = spec.selector.clone();
        selector.match_labels.get_or_insert_with(BTreeMap::new).insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let rs_name = format!("{}-{hash}", self.d_name());
        let mut new_rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(rs_name.clone()),
                namespace: self.d.metadata.namespace.clone(),
                owner_references: Some(vec![controller_ref(&self.d)]),
                labels,
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec { replicas: Some(0), min_ready_seconds: Some(mrs), selector, template: Some(template) }),
            status: None,
        };
        let all: Vec<&ReplicaSet> = olds.iter().chain(std::iter::once(&new_rs)).collect();
        let count = new_rs_new_replicas(&self.d, &all, &new_rs);
        if let Some(s) = new_rs.spec.as_mut() {
            s.replicas = Some(count);
        }
        set_new_rs_annotations(&self.d, &mut new_rs, new_revision, false);
        let (created, already_exists) = match self.rs_api.create(&new_rs).await {
            Ok(rs) => {
                self.ctrl.note_written(&rs.metadata);
                (rs, false)
            }
            Err(e) if e.code() == 409 => {
                let rs = self.rs_api.get(&rs_name).await?;
                let uid = self.d.metadata.uid.clone().unwrap_or_default();
                let same_template = rs.spec.as_ref().and_then(|s| s.template.as_ref()).is_some_and(|t| equal_ignore_hash(t, &spec.template));
                if controlled_by(&rs.metadata, &uid) && same_template {
                    (rs, true)
                } else {
                    let mut st = self.status();
                    let count = st.collision_count.unwrap_or(0).saturating_add(1);
                    st.collision_count = Some(count);
                    self.d.status = Some(st);
                    self.update_status().await?;
                    return Err(Error::HashCollision { name: rs_name, count });
                }
            }
            Err(e) => {
                let msg = format!("Failed to create new replica set {rs_name:?}: {e}");
                if progress_deadline(&self.d).is_some() {
                    let mut st = self.status();
                    set_condition(&mut st, new_condition(PROGRESSING, "False", FAILED_RS_CREATE, msg.clone(), self.now));
                    self.d.status = Some(st);
                    let _ = self.update_status().await;
                }
                self.ctrl.recorder.warning(&self.d, FAILED_RS_CREATE, msg);
                return Err(e.into());
            }
        };
        if !already_exists && count > 0 {
            self.ctrl.recorder.normal(&self.d, "ScalingReplicaSet", format!("Scaled up replica set {rs_name} from 0 to {count}"));
        }
        let mut needs = set_deployment_revision(&mut self.d, &new_revision.to_string());
        if !already_exists && progress_deadline(&self.d).is_some() {
            let mut st = self.status();
            let msg = format!("Created new replica set {rs_name:?}");
            set_condition(&mut st, new_condition(PROGRESSING, "True", NEW_RS_CREATED, msg, self.now));
            self.d.status = Some(st);
            needs = true;
        }
        if needs {
            self.update_status().await?;
        }
        Ok(Some(created))
    }

    /// Scales one ReplicaSet and refreshes its replica annotations; records the event when the
    /// size changed. Returns the written ReplicaSet.
    async fn scale_rs(&mut self, rs: &ReplicaSet, new_scale: i32, op: &str) -> Result<(bool, ReplicaSet)> {
        let old = rs_replicas(rs);
        let size_changed = old != new_scale;
        let r = replicas(&self.d);
        let max = r + max_surge(&self.d);
        if !size_changed && !replicas_annotations_need_update(rs, r, max) {
            return Ok((false, rs.clone()));
        }
        let mut copy = rs.clone();
        copy.spec.get_or_insert_with(Default::default).replicas = Some(new_scale);
        set_replicas_annotations(&mut copy, r, max);
        let written = self.rs_api.replace(name(rs), &copy).await?;
        self.ctrl.note_written(&written.metadata);
        if size_changed {
            self.ctrl.recorder.normal(&self.d, "ScalingReplicaSet", format!("Scaled {op} replica set {} from {old} to {new_scale}", name(rs)));
        }
        Ok((size_changed, written))
    }

    async fn scale_rs_and_record(&mut self, rs: &ReplicaSet, new_scale: i32) -> Result<(bool, ReplicaSet)> {
        if rs_replicas(rs) == new_scale {
            return Ok((false, rs.clone()));
        }
        let op = if rs_replicas(rs) < new_scale { "up" } else { "down" };
        self.scale_rs(rs, new_scale, op).await
    }

    /// A change of `replicas` not yet reflected in the active ReplicaSets' desired-replicas.
    pub async fn is_scaling_event(&mut self, rs_list: &mut Vec<ReplicaSet>) -> Result<bool> {
        let (new, olds) = self.all_rss_and_sync_revision(rs_list, false).await?;
        let r = replicas(&self.d);
        Ok(olds.iter().chain(new.as_ref()).filter(|rs| rs_replicas(rs) > 0).any(|rs| desired_replicas_annotation(rs).is_some_and(|d| d != r)))
    }

    /// Scaling and bookkeeping without rollout progress (paused, or a scaling event).
    pub async fn sync(&mut self, rs_list: &mut Vec<ReplicaSet>) -> Result<()> {
        let (new, mut olds) = self.all_rss_and_sync_revision(rs_list, false).await?;
        let new = self.scale(new, &mut olds).await?;
        if is_paused(&self.d) {
            self.cleanup(&olds).await?;
        }
        self.sync_deployment_status(&olds, new.as_ref()).await
    }

    pub async fn sync_status_only(&mut self, rs_list: &mut Vec<ReplicaSet>) -> Result<()> {
        let (new, olds) = self.all_rss_and_sync_revision(rs_list, false).await?;
        self.sync_deployment_status(&olds, new.as_ref()).await
    }

    /// Proportional scaling (scale): the only active ReplicaSet takes all replicas; a saturated
    /// new one leaves the old ones none; otherwise the surplus or deficit is shared.
    async fn scale(&mut self, new: Option<ReplicaSet>, olds: &mut [ReplicaSet]) -> Result<Option<ReplicaSet>> {
        let r = replicas(&self.d);
        if let Some(target) = active_or_latest(new.as_ref(), olds).cloned() {
            if rs_replicas(&target) == r {
                return Ok(new);
            }
            let (_, written) = self.scale_rs_and_record(&target, r).await?;
            put(olds, &written);
            return Ok(match new {
                Some(n) if same(&n, &written) => Some(written),
                n => n,
            });
        }
        if is_saturated(&self.d, new.as_ref()) {
            for slot in olds.iter_mut().filter(|rs| rs_replicas(rs) > 0) {
                let old = slot.clone();
                let (_, written) = self.scale_rs_and_record(&old, 0).await?;
                *slot = written;
            }
            return Ok(new);
        }
        if !is_rolling(&self.d) {
            return Ok(new);
        }
        let mut all: Vec<ReplicaSet> = olds.iter().chain(new.as_ref()).filter(|rs| rs_replicas(rs) > 0).cloned().collect();
        let all_replicas = sum_replicas(&all);
        let allowed = if r > 0 { r + max_surge(&self.d) } else { 0 };
        let to_add = allowed - all_replicas;
        let op = if to_add > 0 {
            all.sort_by(by_size_newer);
            "up"
        } else {
            all.sort_by(by_size_older);
            "down"
        };
        let status_replicas = self.status().replicas.unwrap_or(0);
        let mut added = 0;
        let mut sizes: Vec<i32> = Vec::with_capacity(all.len());
        for rs in &all {
            if to_add != 0 {
                let p = proportion(rs, &self.d, to_add, added, status_replicas);
                sizes.push(rs_replicas(rs) + p);
                added += p;
            } else {
                sizes.push(rs_replicas(rs));
            }
        }
        if to_add != added && !sizes.is_empty() {
            sizes[0] = (sizes[0] + to_add - added).max(0);
        }
        let mut new = new;
        for (rs, size) in all.iter().zip(sizes) {
            let (_, written) = self.scale_rs(rs, size, op).await?;
            put(olds, &written);
            if new.as_ref().is_some_and(|n| same(n, &written)) {
                new = Some(written);
            }
        }
        Ok(new)
    }

    /// RollingUpdate (rolloutRolling).
    pub async fn rollout_rolling(&mut self, rs_list: &mut Vec<ReplicaSet>) -> Result<()> {
        let (new, mut olds) = self.all_rss_and_sync_revision(rs_list, true).await?;
        let Some(mut new) = new else { return Err(Error::NoTemplate(self.d_name())) };
        let (scaled_up, written) = self.reconcile_new_rs(&olds, &new).await?;
        new = written;
        if scaled_up {
            return self.sync_rollout_status(&olds, Some(&new)).await;
        }
        if self.reconcile_old_rss(&mut olds, &new).await? {
            return self.sync_rollout_status(&olds, Some(&new)).await;
        }
        if is_complete(&self.d, &self.status()) {
            self.cleanup(&olds).await?;
        }
        self.sync_rollout_status(&olds, Some(&new)).await
    }

    async fn reconcile_new_rs(&mut self, olds: &[ReplicaSet], new: &ReplicaSet) -> Result<(bool, ReplicaSet)> {
        let r = replicas(&self.d);
        let cur = rs_replicas(new);
        if cur == r {
            return Ok((false, new.clone()));
        }
        if cur > r {
            return self.scale_rs_and_record(new, r).await;
        }
        let all: Vec<&ReplicaSet> = olds.iter().chain(std::iter::once(new)).collect();
        let count = new_rs_new_replicas(&self.d, &all, new);
        self.scale_rs_and_record(new, count).await
    }

    /// Scales old ReplicaSets down as far as availability allows: unhealthy replicas first,
    /// then the oldest ReplicaSets (reconcileOldReplicaSets).
    async fn reconcile_old_rss(&mut self, olds: &mut [ReplicaSet], new: &ReplicaSet) -> Result<bool> {
        let old_count = sum_replicas(olds.iter());
        if old_count == 0 {
            return Ok(false);
        }
        let all_count = old_count + rs_replicas(new);
        let min_available = replicas(&self.d) - max_unavailable(&self.d);
        let new_unavailable = rs_replicas(new) - rs_status(new).2;
        let max_scaled_down = all_count - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        // Unhealthy replicas of old ReplicaSets go first.
        olds.sort_by(by_creation);
        let mut cleaned = 0;
        for slot in olds.iter_mut() {
            if cleaned >= max_scaled_down {
                break;
            }
            let rs = slot.clone();
            if rs_replicas(&rs) == 0 {
                continue;
            }
            let unhealthy = rs_replicas(&rs) - rs_status(&rs).2;
            if unhealthy <= 0 {
                continue;
            }
            let down = (max_scaled_down - cleaned).min(unhealthy);
            let (_, written) = self.scale_rs_and_record(&rs, rs_replicas(&rs) - down).await?;
            *slot = written;
            cleaned += down;
        }
        // Then available replicas, keeping minAvailable.
        let available: i32 = olds.iter().chain(std::iter::once(new)).map(|rs| rs_status(rs).2).sum();
        let mut scaled = 0;
        if available > min_available {
            let total = available - min_available;
            for slot in olds.iter_mut() {
                if scaled >= total {
                    break;
                }
                let rs = slot.clone();
                if rs_replicas(&rs) == 0 {
                    continue;
                }
                let down = rs_replicas(&rs).min(total - scaled);
                let (_, written) = self.scale_rs_and_record(&rs, rs_replicas(&rs) - down).await?;
                *slot = written;
                scaled += down;
            }
        }
        Ok(cleaned + scaled > 0)
    }

    /// Recreate (rolloutRecreate): old ReplicaSets to zero, wait for their pods to be gone,
    /// then the new ReplicaSet to full size.
    pub async fn rollout_recreate(&mut self, rs_list: &mut Vec<ReplicaSet>, pods: &[(String, Arc<Pod>)]) -> Result<()> {
        let (mut new, mut olds) = self.all_rss_and_sync_revision(rs_list, false).await?;
        let mut scaled_down = false;
        for slot in olds.iter_mut() {
            if rs_replicas(slot) == 0 {
                continue;
            }
            let rs = slot.clone();
            let (scaled, written) = self.scale_rs_and_record(&rs, 0).await?;
            *slot = written;
            scaled_down |= scaled;
        }
        if scaled_down {
            return self.sync_rollout_status(&olds, new.as_ref()).await;
        }
        let old_pods_running = olds.iter().map(|rs| rs_status(rs).0).sum::<i32>() > 0
            || pods.iter().any(|(owner, p)| {
                new.as_ref().and_then(|n| n.metadata.uid.as_deref()) != Some(owner.as_str()) && !matches!(phase(p), "Failed" | "Succeeded")
            });
        if old_pods_running {
            return self.sync_rollout_status(&olds, new.as_ref()).await;
        }
        if new.is_none() {
            let (n, o) = self.all_rss_and_sync_revision(rs_list, true).await?;
            new = n;
            olds = o;
        }
        if let Some(n) = new.clone() {
            let r = replicas(&self.d);
            let (_, written) = self.scale_rs_and_record(&n, r).await?;
            new = Some(written);
        }
        if is_complete(&self.d, &self.status()) {
            self.cleanup(&olds).await?;
        }
        self.sync_rollout_status(&olds, new.as_ref()).await
    }

    /// Deletes the oldest old ReplicaSets beyond revisionHistoryLimit that run nothing.
    async fn cleanup(&mut self, olds: &[ReplicaSet]) -> Result<()> {
        let Some(limit) = self.d.spec.as_ref().and_then(|s| s.revision_history_limit) else { return Ok(()) };
        let mut cleanable: Vec<&ReplicaSet> = olds.iter().filter(|rs| rs.metadata.deletion_timestamp.is_none()).collect();
        let diff = cleanable.len() as i64 - i64::from(limit);
        if diff <= 0 {
            return Ok(());
        }
        cleanable.sort_by(|a, b| by_revision(a, b));
        for rs in cleanable.into_iter().take(diff as usize) {
            let observed = rs.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0);
            if rs_status(rs).0 != 0 || rs_replicas(rs) != 0 || rs.metadata.generation.unwrap_or(0) > observed {
                continue;
            }
            tracing::debug!(replicaset = name(rs), "deleting old replica set beyond the history limit");
            match self.rs_api.delete(name(rs)).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The counts and the Available condition (calculateStatus).
    fn calculate_status(&self, olds: &[ReplicaSet], new: Option<&ReplicaSet>) -> DeploymentStatus {
        let all = || olds.iter().chain(new);
        let available: i32 = all().map(|rs| rs_status(rs).2).sum();
        let total = sum_replicas(all());
        let unavailable = (total - available).max(0);
        let old = self.status();
        let mut st = DeploymentStatus {
            observed_generation: self.d.metadata.generation,
            replicas: Some(all().map(|rs| rs_status(rs).0).sum()),
            updated_replicas: Some(new.map(|rs| rs_status(rs).0).unwrap_or(0)),
            ready_replicas: Some(all().map(|rs| rs_status(rs).1).sum()),
            available_replicas: Some(available),
            unavailable_replicas: Some(unavailable),
            collision_count: old.collision_count,
            conditions: old.conditions.clone(),
            terminating_replicas: old.terminating_replicas,
        };
        let c = if available >= replicas(&self.d) - max_unavailable(&self.d) {
            new_condition(AVAILABLE, "True", MIN_REPLICAS_AVAILABLE, "Deployment has minimum availability.".into(), self.now)
        } else {
            new_condition(AVAILABLE, "False", MIN_REPLICAS_UNAVAILABLE, "Deployment does not have minimum availability.".into(), self.now)
        };
        set_condition(&mut st, c);
        // ReplicaFailure mirrors the ReplicaSets' own.
        let failure = all().find_map(|rs| {
            rs.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == REPLICA_FAILURE && c.status == "True").cloned()
        });
        match failure {
            Some(f) => set_condition(
                &mut st,
                new_condition(REPLICA_FAILURE, "True", f.reason.as_deref().unwrap_or(""), f.message.unwrap_or_default(), self.now),
            ),
            None => remove_condition(&mut st, REPLICA_FAILURE),
        }
        normalize(&mut st);
        st
    }

    async fn sync_deployment_status(&mut self, olds: &[ReplicaSet], new: Option<&ReplicaSet>) -> Result<()> {
        let st = self.calculate_status(olds, new);
        if Some(&st) == self.d.status.as_ref() {
            return Ok(());
        }
        self.d.status = Some(st);
        self.update_status().await
    }

    /// Status plus the Progressing condition, and the deadline requeue (syncRolloutStatus).
    async fn sync_rollout_status(&mut self, olds: &[ReplicaSet], new: Option<&ReplicaSet>) -> Result<()> {
        let mut st = self.calculate_status(olds, new);
        let deadline = progress_deadline(&self.d);
        if deadline.is_none() {
            remove_condition(&mut st, PROGRESSING);
        }
        let cur = condition(&st, PROGRESSING).cloned();
        let complete_before = st.replicas == st.updated_replicas && cur.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE);
        if deadline.is_some() && !complete_before {
            let who = |verb: &str| match new {
                Some(rs) => format!("ReplicaSet {:?} {verb}", name(rs)),
                None => format!("Deployment {:?} {verb}", self.d_name()),
            };
            if is_complete(&self.d, &st) {
                set_condition(&mut st, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, who("has successfully progressed."), self.now));
            } else if is_progressing(&self.d, &st) {
                let mut c = new_condition(PROGRESSING, "True", RS_UPDATED, who("is progressing."), self.now);
                if let Some(cur) = &cur {
                    if cur.status == "True" {
                        c.last_transition_time = cur.last_transition_time.clone();
                    }
                    remove_condition(&mut st, PROGRESSING);
                }
                set_condition(&mut st, c);
            } else if is_timed_out(&self.d, &st, self.now) {
                set_condition(&mut st, new_condition(PROGRESSING, "False", TIMED_OUT, who("has timed out progressing."), self.now));
            }
        }
        normalize(&mut st);
        if Some(&st) != self.d.status.as_ref() {
            self.d.status = Some(st);
            self.update_status().await?;
        }
        self.requeue_stuck();
        Ok(())
    }

    /// A rollout in progress is looked at again when its deadline passes (requeueStuckDeployment).
    fn requeue_stuck(&mut self) {
        let st = self.status();
        let (Some(deadline), Some(c)) = (progress_deadline(&self.d), condition(&st, PROGRESSING)) else { return };
        if is_complete(&self.d, &st) || c.reason.as_deref() == Some(TIMED_OUT) {
            return;
        }
        let from = c.last_update_time.as_ref().map(|t| t.0).unwrap_or(self.now);
        let after = from.as_second() + i64::from(deadline) - self.now.as_second();
        self.requeue = Some(if after < 1 { Duration::from_secs(1) } else { requeue_delay(after + 1) });
    }
}

/// Drops empty lists so a computed status compares equal to a stored one.
/// Zero counts are left out, as the API's omitempty fields are.
fn normalize(st: &mut DeploymentStatus) {
    if st.conditions.as_ref().is_some_and(|c| c.is_empty()) {
        st.conditions = None;
    }
    for f in [&mut st.replicas, &mut st.updated_replicas, &mut st.ready_replicas, &mut st.available_replicas, &mut st.unavailable_replicas] {
        if *f == Some(0) {
            *f = None;
        }
    }
    if st.observed_generation == Some(0) {
        st.observed_generation = None;
    }
}

