//! placeholder: filled in by the node agent work (issue 5).

pub mod env;
pub mod etc_files;
pub mod volumes;
