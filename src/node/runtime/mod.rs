//! placeholder: filled in by the node agent work (issue 5).
