//! The wire contract of Sourcegate, in one place: the JSON shapes the control plane's `/v1`
//! API serves and its clients read, the configuration key, and the table of routing modes.
//!
//! The control plane serialises these types, the CLI deserialises the same types, and the
//! admin console receives the mode table from the server (`GET /v1/modes`) instead of
//! re-deriving it. Serde only: no I/O, no HTTP client. With the `openapi` feature every type
//! also derives `utoipa::ToSchema`, so `/openapi.json` describes exactly what is sent.
//!
//! Conventions, for every type here:
//! - field names are camelCase on the wire;
//! - instants are RFC 3339 strings in UTC (`2026-11-23T18:00:00.123456Z`), via
//!   [`chrono::DateTime<Utc>`](chrono::DateTime);
//! - versions are the database's `bigint` (`i64`), starting at 1 and only moving forward.
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | [`config`] | [`ConfigView`], [`HistoryItem`], [`HistoryPage`]: `GET /v1/configs/{key}` and its history |
//! | [`origin`] | [`OriginTestRequest`], [`OriginTestResult`]: `POST /v1/origins/test` |
//! | [`error`] | [`ErrorBody`]: the body of every 4xx/5xx of `/v1` |
//! | [`event`] | [`SseEvent`], [`EVENT_NAME`]: the Server-Sent Events of `GET /v1/configs/{key}/events` |
//! | [`telemetry`] | [`TelemetryReport`], [`OriginCounts`], [`OriginsCounts`], [`LatencyMs`], [`Quota`], [`OriginsQuota`]: `POST /v1/telemetry` |
//! | [`mode`] | [`ModeInfo`], [`MODES`], [`ModeTable`]: mode id ↔ document `type` and `priority` ↔ label |
//! | [`write`](mod@write) | [`PutConfig`], [`Rollback`], [`WriteTerms`]: the bodies of `PUT /v1/configs/{key}` and its rollback |

pub mod config;
pub mod error;
pub mod event;
pub mod mode;
pub mod origin;
pub mod telemetry;
pub mod write;

pub use config::{ConfigView, HistoryItem, HistoryPage};
pub use error::ErrorBody;
pub use event::{EVENT_NAME, SseEvent};
pub use mode::{MODES, ModeInfo, ModeTable};
pub use origin::{OriginTestRequest, OriginTestResult};
pub use telemetry::{LatencyMs, OriginCounts, OriginsCounts, OriginsQuota, Quota, TelemetryReport};
pub use write::{PutConfig, Rollback, WriteTerms};

/// The key of the marketplace source document in `app_config` (`config_key`): the one
/// configuration every resolver reads, and the one the mode table describes.
pub const CONFIG_KEY: &str = "marketplace_source";
