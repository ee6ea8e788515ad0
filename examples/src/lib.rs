//! Sourcegate's runnable examples.
//!
//! - [`drill`]: the Git→CDN migration drill on the real Obsidian registry (README command one:
//!   `cargo run --release --bin migration_drill`).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod drill;
