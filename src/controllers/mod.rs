//! Reconcile loops over typed informers; each controller is a tokio task that reads the
//! cache and writes through the in-process client. One file per controller.

pub mod namespace;
