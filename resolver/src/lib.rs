//! # Sourcegate resolver
//!
//! Decides, for every plugin-registry request an app makes, which origin serves it: a Git raw
//! host or a CDN. The decision comes from a remote config document (`app_config`, key
//! `marketplace_source`; `docs/seed.md`, S1–S2), so apps already shipped follow a new config
//! without a rebuild. The resolver caches the document (and persists a last-known-good copy),
//! probes the origins' health, routes by mode (git, cdn, hybrid CDN→Git or Git→CDN, sticky canary), fails
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
//! Pure (data and a clock in, no I/O), from the `sourcegate-core` crate (`core/`), re-exported
//! under these paths:
//! - [`config`]: the document's JSON shape, defaults and validation.
//! - [`bucket`]: sticky canary bucketing, a documented hash other SDKs reproduce.
//! - [`health`]: health-check hysteresis and outlier ejection state machines.
//! - [`routing`]: the route decision from config, bucket and origin health.
//! - [`ratelimit`]: reading `Retry-After` / `x-ratelimit-reset` and cooldown rules.
//! - [`registry`]: checks that a body is a plugin registry or a theme list.
//! - [`content`]: the content check a fetched body must pass ([`content::ContentCheck`]).
//! - [`backoff`]: exponential backoff with full jitter (refresh and push reconnects).
//! - [`conformance`]: one routing decision as JSON, the conformance suite's shape.
//!
//! Pure, in this crate:
//! - [`error`]: errors by what failed: [`BuildError`], [`InstallError`], [`RequestError`]
//!   (from the core), wrapped by [`Error`].
//! - [`stats`]: request counters and latency percentiles; knows nothing of telemetry.
//! - `date`: the one date format the resolver writes (RFC 3339, UTC, milliseconds).
//!
//! I/O:
//! - [`provider`]: the [`provider::ConfigProvider`] trait; Supabase (PostgREST), control-plane
//!   (ETag + SSE) and static providers.
//! - [`probe`]: the [`probe::HealthCheck`] trait, the HTTP check and the [`probe::Prober`]
//!   that runs checks for a config's origins (the resolver's, or a host's own).
//! - [`cache`]: atomic last-known-good and install-id files.
//! - [`http_cache`]: fetched bodies kept per (origin, URL) under RFC 9111's rules, and their
//!   persisted copies (`http_cache/file.rs`: the file format and the directory cap).
//! - [`telemetry`]: opt-in periodic reports of a stats snapshot to the control plane.
//! - [`tls`]: which TLS stack the HTTP clients use (the `tls-platform` / `tls-webpki` features).
//! - `origin`: one origin's shared runtime state and the request-path join.
//! - `runtime`: the [`Resolver`], one file per job: `snapshot` (what the hot path reads),
//!   `refresh` (polls, push streams, installing a document), `single_flight` (one config load
//!   at a time), `fetch` (requests with failover, reported outcomes), `lifecycle` (pause,
//!   resume, wait for initialization, close), `builder` ([`ResolverBuilder`], starting the
//!   background work, the offline switch).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cache;
mod date;
pub mod error;
pub mod http_cache;
mod origin;
pub mod probe;
pub mod provider;
mod runtime;
pub mod stats;
pub mod telemetry;
pub mod tls;

// The pure modules live in `sourcegate-core` (no I/O; it also builds for WebAssembly) and keep
// their paths here.
use sourcegate_core::util;
pub use sourcegate_core::{
    backoff, bucket, config, conformance, content, health, ratelimit, registry, routing,
};

pub use config::{MarketplaceConfig, Mode, OriginKind};
pub use error::{AttemptError, BuildError, Error, InstallError, RequestError};
pub use http_cache::BodySource;
pub use routing::Reason;
pub use runtime::{
    ConfigInfo, ConfigSource, FetchResponse, Outcome, Resolution, ResolutionRef, Resolver,
    ResolverBuilder,
};
pub use stats::StatsSnapshot;

/// The repository README's Rust examples, compiled as doc tests so they keep compiling.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
