//! End-to-end tests across Sourcegate's crates live in `tests/tests/`: the shortened migration
//! drill (`drill.rs`) runs the control plane, the origins and a fleet of resolvers together.
