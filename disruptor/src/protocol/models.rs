//! Loom models of the protocol core (run with `ci/loom.sh`).
