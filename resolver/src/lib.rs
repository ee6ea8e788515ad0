//! # Sourcegate resolver
//!
//! Decides, for every plugin-registry request an app makes, which origin serves it: a Git raw
//! host or a CDN. The decision comes from a remote config document (`app_config`, key
//! `marketplace_source`, seed `003`), so apps already shipped follow a new config without a
//! rebuild. The resolver caches the document (and persists a last-known-good copy), probes the
//! origins' health, routes by mode (git, cdn, hybrid CDN→Git or Git→CDN, sticky canary), fails
//! over on errors and rate limits, and counts what happened.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sourcegate::{Resolver, provider::SupabaseProvider};
//! let git = "https://raw.githubusercontent.com/obsidianmd/obsidian-releases/HEAD/".parse()?;
//! let resolver = Resolver::builder(git)
//!     .provider(SupabaseProvider::new("https://xyz.supabase.co".parse()?, "sb_publishable_…")?)
//!     .install_id_file("install-id")
//!     .cache_file("sourcegate-config.json")
//!     .build()?;
//! let r = resolver.resolve_url("community-plugins.json").await?;
//! println!("{} via {} ({:?})", r.url, r.origin, r.reason);
//! # Ok(()) }
//! ```
//!
//! ## Layout
//! - [`config`]: the document's JSON shape, defaults and validation (pure).
//! - [`bucket`]: sticky canary bucketing, a documented hash other SDKs reproduce (pure).
//! - [`health`]: health-check hysteresis and outlier ejection state machines (pure).
//! - [`routing`]: the route decision from config, bucket and origin health (pure).
//! - [`ratelimit`]: reading `Retry-After` / `x-ratelimit-reset` and cooldown rules (pure).
//! - [`registry`]: checks that a body is a plugin registry.
//! - [`provider`]: the [`provider::ConfigProvider`] trait; Supabase (PostgREST), control-plane
//!   (ETag + SSE) and static providers.
//! - [`cache`]: atomic last-known-good and install-id files.
//! - [`stats`]: request counters and latency percentiles.
//! - [`telemetry`]: opt-in periodic reports of the counters to the control plane.
//! - [`Resolver`]: ties them together: snapshot, refresh, probes, fetch with failover.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod bucket;
pub mod cache;
pub mod config;
pub mod health;
pub mod provider;
pub mod ratelimit;
pub mod registry;
mod resolver;
pub mod routing;
pub mod stats;
pub mod telemetry;
mod util;

pub use config::{MarketplaceConfig, Mode, OriginKind};
pub use resolver::{
    AttemptError, ConfigInfo, ConfigSource, Error, FetchResponse, Outcome, Resolution, Resolver,
    ResolverBuilder,
};
pub use routing::Reason;
pub use stats::StatsSnapshot;

/// The repository README's Rust examples, compiled as doc tests so they keep compiling.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
