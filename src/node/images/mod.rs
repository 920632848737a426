//! Images: the content-addressed image store, archives, registry pulls, built-in images.
//!
//! - `registries`: k3s's registries.yaml (mirrors, credentials, TLS) and endpoint order.
//! - `pull`: registry pulls into an OCI image layout directory, which the store ingests.

pub mod pull;
pub mod registries;
