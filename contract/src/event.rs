//! The Server-Sent Events of `GET /v1/configs/{key}/events`.

use serde::{Deserialize, Serialize};

/// The `event:` name of every configuration event.
pub const EVENT_NAME: &str = "config";

/// One Server-Sent Event as an SSE parser hands it over (WHATWG HTML, "Server-sent events"):
/// `event: config`, `id:` the version in decimal (send it back as `Last-Event-ID` when
/// reconnecting), `data:` the [`ConfigView`](crate::ConfigView) JSON on one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SseEvent {
    /// Always [`EVENT_NAME`].
    #[cfg_attr(feature = "openapi", schema(example = "config"))]
    pub event: String,
    /// The version, decimal.
    #[cfg_attr(feature = "openapi", schema(example = "7"))]
    pub id: String,
    /// The ConfigView JSON.
    #[cfg_attr(feature = "openapi", schema(content_media_type = "application/json"))]
    pub data: String,
}
