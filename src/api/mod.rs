//! The Kubernetes API over HTTPS: authentication, routing, discovery, Tables, watch, patches.
pub mod discovery;
pub mod metrics;
pub mod tls;
