//! Errors of the native `/v1` API: one [`AppError`] enum, each variant with a stable JSON `code`.
//!
//! Database errors are classified once, for `/v1` and `/rest/v1` alike, by `db_error`
//! (SQLSTATE classes → status; the codes raised by
//! `supabase/migrations/20251031000100_app_config.sql` and
//! `20251201000100_validator_and_rpc_strictness.sql`: PT409 with DETAIL `no_change` is
//! [`AppError::NoChange`], other PT409 [`AppError::VersionConflict`]); their text is logged,
//! never echoed, except PT422's own validation message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::db_error::{DbClass, classify};

/// The JSON body of every 4xx/5xx answer of the native `/v1` API, as declared in
/// `/openapi.json` (schema `Error`); the contract crate's [`ErrorBody`](sourcegate_contract::ErrorBody).
pub use sourcegate_contract::ErrorBody as ErrorSchema;

/// An error answered by the native API as `{"code": "...", "message": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 401 `unauthorized`: no token where one is required, or an invalid token.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `forbidden`: the caller is authenticated but not an admin.
    #[error("admin privileges required")]
    Forbidden,
    /// 404 `not_found`: unknown configuration key or version.
    #[error("{0}")]
    NotFound(String),
    /// 409 `version_conflict`: the expected version is stale; nothing was changed.
    #[error("version conflict: the configuration changed since the expected version")]
    VersionConflict,
    /// 409 `no_change`: the document equals the current one (ignoring `version`); nothing was
    /// written. Send `force: true` to record it as a new version anyway.
    #[error(
        "no change: the document equals the current version (send \"force\": true to record it anyway)"
    )]
    NoChange,
    /// 422 `invalid_config`: the document was refused; `field` names the offending field.
    #[error("{message}")]
    InvalidConfig {
        /// Why the document was refused.
        message: String,
        /// The offending document field, when known.
        field: Option<String>,
    },
    /// 400 `bad_request`: malformed request (body, header or parameter).
    #[error("{0}")]
    BadRequest(String),
    /// 400 `forbidden_target`: `/v1/origins/test` refused a private, loopback or link-local target.
    #[error("{0}")]
    ForbiddenTarget(String),
    /// 413 `payload_too_large`: the request body exceeds the route's limit.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// 415 `unsupported_media_type`: the body is not declared as `application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429 `rate_limited`, with `Retry-After` in whole seconds.
    #[error("too many requests")]
    RateLimited {
        /// Seconds until a request would be admitted (at least 1).
        retry_after_secs: u64,
    },
    /// 503 `unavailable`: the database cannot be reached.
    #[error("service unavailable")]
    Unavailable,
    /// 500 `internal`: anything else; the cause is logged, not returned.
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl AppError {
    /// The HTTP status of this error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::VersionConflict | AppError::NoChange => StatusCode::CONFLICT,
            AppError::InvalidConfig { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest(_) | AppError::ForbiddenTarget(_) => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code written in the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::VersionConflict => "version_conflict",
            AppError::NoChange => "no_change",
            AppError::InvalidConfig { .. } => "invalid_config",
            AppError::BadRequest(_) => "bad_request",
            AppError::ForbiddenTarget(_) => "forbidden_target",
            AppError::PayloadTooLarge { .. } => "payload_too_large",
            AppError::UnsupportedMediaType(_) => "unsupported_media_type",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::Unavailable => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }

    /// Maps a database error raised while running as a request role, from the one
    /// classifier shared with `/rest/v1` (`crate::db_error::classify`).
    ///
    /// `anonymous` tells whether the request carried no token (PostgREST answers
    /// insufficient privilege with 401 then, 403 otherwise). PT409 with DETAIL `no_change` is
    /// [`AppError::NoChange`], other PT409 [`AppError::VersionConflict`]; PT422 is
    /// [`AppError::InvalidConfig`] with its own message and field; SQLSTATE class `22` (data
    /// exception) becomes 400 `bad_request`, as PostgREST maps it, the message naming the
    /// SQLSTATE only; a lost session is 503 `unavailable`; anything else 500 `internal`.
    pub fn from_db(err: sqlx::Error, anonymous: bool) -> AppError {
        let f = classify(&err, !anonymous);
        match f.class {
            DbClass::Unavailable => AppError::Unavailable,
            DbClass::Denied if anonymous => {
                AppError::Unauthorized("authentication required".into())
            }
            DbClass::Denied => AppError::Forbidden,
            DbClass::Conflict { no_change: true } => AppError::NoChange,
            DbClass::Conflict { no_change: false } => AppError::VersionConflict,
            // Our own validation message (from the migration), safe to return.
            DbClass::Invalid => AppError::InvalidConfig {
                message: f.message,
                field: f.column,
            },
            // The database's text stays in the log.
            DbClass::DataException => {
                AppError::BadRequest(format!("invalid input value (SQLSTATE {})", f.sqlstate))
            }
            DbClass::Refused | DbClass::Internal => AppError::Internal(f.text),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if let AppError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let (message, field) = match &self {
            AppError::InvalidConfig { message, field } => (message.clone(), field.as_deref()),
            other => (other.to_string(), None),
        };
        let body = ErrorBody {
            code: self.code(),
            message,
            field,
        };
        let mut resp = (status, axum::Json(body)).into_response();
        match &self {
            AppError::Unauthorized(_) => {
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            AppError::RateLimited { retry_after_secs } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            _ => {}
        }
        resp
    }
}
