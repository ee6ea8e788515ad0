//! `POST /v1/origins/test`: fetch a candidate origin through the control plane's outbound
//! guard and say whether it serves a plugin registry.

use serde::{Deserialize, Serialize};

/// The body of `POST /v1/origins/test`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OriginTestRequest {
    /// The URL to fetch (`http` or `https`).
    pub url: String,
}

/// The answer of `POST /v1/origins/test`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OriginTestResult {
    /// The probed URL.
    pub url: String,
    /// `true` when the origin answered 2xx and its whole body was read.
    pub ok: bool,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// Time from connect to the end of the body, milliseconds.
    pub latency_ms: Option<f64>,
    /// Body size in bytes, when read.
    pub bytes: Option<u64>,
    /// Whether the body is a plugin registry (a JSON array of objects with string `id` and
    /// `repo`).
    pub valid_registry: bool,
    /// Number of registry entries, when valid.
    pub entries: Option<u64>,
    /// Why the probe failed, if it did.
    pub error: Option<String>,
}
