//! Helpers shared by the integration tests and their helper binaries.
