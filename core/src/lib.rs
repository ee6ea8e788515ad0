//! # Sourcegate core
//!
//! What the Sourcegate resolver decides, with no I/O: data and a clock in, decisions out. The
//! `sourcegate` crate (the resolver: HTTP, caches, background work) builds on it and re-exports
//! these modules under the same paths (`sourcegate::config`, `sourcegate::routing`, …); the
//! WebAssembly package `@sourcegate/resolver` (`bindings/js/`) gives JavaScript hosts the same
//! decisions. No tokio, no HTTP client: it builds for `wasm32-unknown-unknown`.
//!
//! ## Layout
//! - [`config`]: the document's JSON shape, defaults and validation.
//! - [`bucket`]: sticky canary bucketing, a documented hash other SDKs reproduce.
//! - [`health`]: health-check hysteresis and outlier ejection state machines.
//! - [`routing`]: the route decision from config, bucket and origin health.
//! - [`backoff`]: exponential backoff with full jitter (retries and reconnects).
//! - [`ratelimit`]: reading `Retry-After` / `x-ratelimit-reset` and cooldown rules.
//! - [`registry`]: checks that a body is a plugin registry or a theme list.
//! - [`conformance`]: one routing decision as JSON, the conformance suite's shape (every
//!   host's `route_json`).
//! - [`content`]: the content check a fetched body must pass ([`content::ContentCheck`]).
//! - [`error`]: [`error::RequestError`] and [`error::AttemptError`].
//! - `util`: URL helpers (a base URL ends with `/`; joining a request path under it).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod backoff;
pub mod bucket;
pub mod config;
pub mod conformance;
pub mod content;
pub mod error;
pub mod health;
pub mod ratelimit;
pub mod registry;
pub mod routing;
#[doc(hidden)]
pub mod util;

pub use config::{MarketplaceConfig, Mode, OriginKind};
pub use routing::Reason;
