//! Helpers for Table cells (pending).
