//! minikube-rs: a whole single-node Kubernetes in one process.
pub mod api;
pub mod appliance;
pub mod client;
pub mod config;
pub mod controllers;
pub mod node;
pub mod registry;
pub mod scheduler;
pub mod store;
