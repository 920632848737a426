//! placeholder: filled in by the node agent work (issue 5).

use std::path::PathBuf;

/// A bind mount into a container: what volumes, /etc/hosts, resolv.conf and friends become.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Path inside the container.
    pub destination: PathBuf,
    /// Path on the host.
    pub source: PathBuf,
    pub read_only: bool,
}
