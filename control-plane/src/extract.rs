//! Extractors whose rejections are [`AppError`]s, and the error fallback that keeps every
//! 4xx/5xx answer JSON.
//!
//! axum's own extractors reject with `text/plain` bodies (a malformed query string, a path
//! segment that is not UTF-8, a body that is not JSON or too large). The native `/v1` handlers
//! use [`Json`], [`Query`] and [`Path`] instead: the same extractors (the model is axum's
//! `customize-extractor-error` example, `#[from_request(via(…), rejection(AppError))]`), whose
//! rejections become `{"code","message"}` with a stable code:
//!
//! | rejection | answer |
//! |---|---|
//! | body larger than the route's limit | 413 `payload_too_large` |
//! | `Content-Type` is not `application/json` | 415 `unsupported_media_type` |
//! | body is not JSON, or not the expected shape | 400 `bad_request` |
//! | query string does not deserialize | 400 `bad_request` |
//! | path segment not UTF-8 or of the wrong type | 400 `bad_request` |
//!
//! [`json_errors`] is the fallback for everything else (routes whose handlers take axum's
//! extractors directly, axum's empty-bodied 405, `/rest/v1`): any error response that is not
//! already JSON is rewritten, `{"code","message"}` under `/v1` and PostgREST's
//! `{"code","message","details","hint"}` under `/rest/v1`.

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::AppError;

/// The request body limit of every route but `/v1/telemetry` (which has its own, 8 KiB), bytes:
/// the 64 KiB configuration document limit plus room for the envelope (`reason`,
/// `expectedVersion`) and JSON escaping. Larger bodies are refused with 413
/// `payload_too_large` before they are read.
pub const MAX_CONFIG_BODY_BYTES: usize = 128 * 1024;

/// `axum::Json` with [`AppError`] rejections (see the module docs); also a JSON response.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` with [`AppError`] rejections.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

/// `axum::extract::Path` with [`AppError`] rejections.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

impl From<JsonRejection> for AppError {
    fn from(e: JsonRejection) -> AppError {
        match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge {
                limit: MAX_CONFIG_BODY_BYTES,
            },
            StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::UnsupportedMediaType(
                "expected a body with Content-Type: application/json".into(),
            ),
            _ => AppError::BadRequest(e.body_text()),
        }
    }
}

impl From<QueryRejection> for AppError {
    fn from(e: QueryRejection) -> AppError {
        AppError::BadRequest(e.body_text())
    }
}

impl From<PathRejection> for AppError {
    fn from(e: PathRejection) -> AppError {
        if e.status().is_server_error() {
            AppError::Internal(e.body_text())
        } else {
            AppError::BadRequest(e.body_text())
        }
    }
}

/// Refuses text with a NUL byte (PostgreSQL `text` cannot hold one: it would fail in the
/// database with SQLSTATE 22021); `what` names the field in the 400 `bad_request` message.
///
/// # Errors
/// [`AppError::BadRequest`] when `s` contains `\0`.
pub fn no_nul(what: &str, s: &str) -> Result<(), AppError> {
    if s.contains('\0') {
        Err(AppError::BadRequest(format!(
            "{what} must not contain a NUL byte"
        )))
    } else {
        Ok(())
    }
}

/// The stable `/v1` code for an error status that no handler produced (see [`json_errors`]).
fn native_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| m == "application/json" || m.ends_with("+json"))
}

/// Middleware (`axum::middleware::map_response`): rewrites an error response (4xx/5xx) that
/// is not JSON into the API's error shape, keeping its status and headers (`Allow`,
/// `Retry-After`, …). The original text (an axum rejection message, at most 4 KiB) becomes the
/// message; an empty body gives the status's reason phrase. 5xx bodies are replaced by
/// "internal error", never echoed.
pub async fn json_errors(uri: Uri, resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&resp) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if status.is_server_error() {
        "internal error".to_owned()
    } else if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let body = if uri.path().starts_with("/rest/v1") {
        crate::rest::error_body(status, message)
    } else {
        #[derive(Serialize)]
        struct Native<'a> {
            code: &'a str,
            message: String,
        }
        serde_json::to_vec(&Native {
            code: native_code(status),
            message,
        })
        .unwrap_or_default()
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    /// The router over a pool that never connects: these refusals come before the database.
    async fn call(req: axum::http::Request<Body>) -> (StatusCode, String, serde_json::Value) {
        let app = crate::router::offline_router();
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, ct, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn rejections_before_any_handler_are_json() {
        let get = |uri: &str| {
            axum::http::Request::get(uri)
                .header("apikey", "k")
                .body(Body::empty())
                .unwrap()
        };
        let (s, ct, e) = call(get("/v1/configs/%FF")).await;
        assert_eq!(
            (s, ct.as_str()),
            (StatusCode::BAD_REQUEST, "application/json")
        );
        assert_eq!(e["code"], "bad_request");
        assert!(e["message"].as_str().unwrap().contains("UTF-8"), "{e}");
        let (s, ct, e) = call(get("/rest/v1/%FF")).await;
        assert_eq!(
            (s, ct.as_str()),
            (StatusCode::BAD_REQUEST, "application/json")
        );
        assert_eq!(e["code"], "PGRST100");
        assert!(e["details"].is_null() && e["hint"].is_null(), "{e}");
        let big = axum::http::Request::post("/rest/v1/rpc/update_app_config")
            .header("apikey", "k")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(vec![b' '; MAX_CONFIG_BODY_BYTES + 1]))
            .unwrap();
        let (s, _, e) = call(big).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(e["code"], "PGRST102");
        let del = axum::http::Request::delete("/v1/origins/health")
            .body(Body::empty())
            .unwrap();
        let (s, _, e) = call(del).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(e["code"], "method_not_allowed");
    }

    #[test]
    fn nul_is_refused_and_named() {
        assert!(no_nul("reason", "fine").is_ok());
        let e = no_nul("reason", "a\0b").unwrap_err();
        assert_eq!(e.code(), "bad_request");
        assert!(e.to_string().contains("reason"), "{e}");
    }

    #[test]
    fn codes_for_statuses_without_a_handler() {
        assert_eq!(
            native_code(StatusCode::METHOD_NOT_ALLOWED),
            "method_not_allowed"
        );
        assert_eq!(native_code(StatusCode::BAD_REQUEST), "bad_request");
        assert_eq!(native_code(StatusCode::BAD_GATEWAY), "internal");
        assert_eq!(native_code(StatusCode::SERVICE_UNAVAILABLE), "unavailable");
    }
}
