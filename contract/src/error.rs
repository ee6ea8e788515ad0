//! The error body of the native `/v1` API.

use serde::{Deserialize, Serialize};

/// The JSON body of every 4xx/5xx answer of `/v1`: `{"code", "message", "field"?}`, declared
/// as schema `Error` in `/openapi.json`. (`/rest/v1` answers in PostgREST's shape instead.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Error))]
pub struct ErrorBody {
    /// Stable machine-readable code: `unauthorized`, `forbidden`, `not_found`,
    /// `version_conflict`, `no_change`, `invalid_config`, `bad_request`, `forbidden_target`,
    /// `payload_too_large`, `unsupported_media_type`, `rate_limited`, `unavailable`,
    /// `internal`. Codes are never renamed.
    #[cfg_attr(feature = "openapi", schema(example = "invalid_config"))]
    pub code: String,
    /// Human-readable explanation (never SQL text or library internals). Always sent; read
    /// as empty when a proxy's body lacks it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub message: String,
    /// For `invalid_config`: the offending document field, e.g. `healthCheck.intervalSecs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_is_optional_both_ways() {
        let e: ErrorBody = serde_json::from_str(r#"{"code":"forbidden"}"#).unwrap();
        assert_eq!(e.message, "");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"code":"forbidden","message":""}"#
        );
    }
}
