//! The harness: configuration, the children and their spawning, pinning, the cross-core probe.

pub mod child;
pub mod config;
pub mod probe;
pub mod spawn;
pub mod sys;
