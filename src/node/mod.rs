//! The node side: agents that register Nodes and run their pods. `simulated` runs pods
//! without containers (kwok-style), for control-plane work at scale; the real agent, which
//! alone touches the kernel, lives beside it.

pub mod simulated;
