//! Reconcile loops over typed informers; each controller is a tokio task that reads the shared
//! informer caches and writes through the in-process client. One file per controller, plus the
//! shared runtime (`runtime`), the event recorder (`events`) and the pod helpers (`pods`).

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod events;
pub mod garbagecollector;
pub mod history;
pub mod job;
pub mod namespace;
pub mod nodelifecycle;
pub mod persistentvolume;
pub mod podgc;
pub mod pods;
pub mod replicaset;
pub mod runtime;
pub mod serviceaccount;
pub mod statefulset;

use runtime::Context;
use tokio::task::JoinHandle;

/// Starts every controller of the controller manager; each runs until `ctx.stop`.
pub fn start_all(ctx: &Context) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(namespace::run(ctx.client.clone(), ctx.stop.clone())),
        tokio::spawn(garbagecollector::run(ctx.clone())),
        tokio::spawn(deployment::run(ctx.clone())),
        tokio::spawn(replicaset::run(ctx.clone())),
        tokio::spawn(daemonset::run(ctx.clone())),
        tokio::spawn(statefulset::run(ctx.clone())),
        tokio::spawn(job::run(ctx.clone())),
        tokio::spawn(cronjob::run(ctx.clone())),
        tokio::spawn(serviceaccount::run(ctx.clone())),
        tokio::spawn(persistentvolume::run(ctx.clone())),
        tokio::spawn(nodelifecycle::run(ctx.clone())),
        tokio::spawn(podgc::run(ctx.clone())),
    ]
}
