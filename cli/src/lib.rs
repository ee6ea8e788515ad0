#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
//! `sourcegate`: the admin CLI of the Sourcegate control plane.
//!
//! It speaks the control plane's native `/v1` API (see `sourcegate_control_plane::api`) and
//! validates every document it sends with the resolver's own parser
//! ([`sourcegate::config::MarketplaceConfig::from_value`]), so an admin cannot publish a
//! configuration the apps would refuse.
//!
//! # Layout
//! - [`cli`]: the command line (clap) and what each subcommand does;
//! - [`autopilot`]: `autopilot status|set|off`, the fleet autopilot's policy and decisions;
//! - [`api`]: the answer types and a small HTTP [`api::Client`] (timeouts, bearer token, SSE);
//! - [`document`]: pure document work: the next document for `set`, summaries, diffs;
//! - [`probe`]: `status`'s origin probes (HEAD, timed);
//! - [`output`]: human-readable tables (pure);
//! - [`error`]: [`error::CliError`] and the stable exit codes ([`error::exit`]).

pub mod api;
pub mod autopilot;
pub mod cli;
pub mod document;
pub mod error;
pub mod output;
pub mod probe;

pub use cli::{Cli, run};
pub use error::CliError;
