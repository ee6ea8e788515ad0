//! End-to-end tests across Sourcegate crates live in `tests/tests/`.
