//! minikube-rs: a whole single-node Kubernetes in one process.
pub mod api;
pub mod appliance;
pub mod client;
pub mod config;
pub mod controllers;
pub mod registry;
pub mod store;
