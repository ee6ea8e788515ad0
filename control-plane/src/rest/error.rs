//! Errors in PostgREST's shape (`{code, message, details, hint}`), from auth failures, from
//! the shared database classifier (`crate::db_error`) and from statuses no handler produced.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::AuthError;
use crate::db_error::{DbClass, classify};

/// An error in PostgREST's shape.
#[derive(Debug)]
pub(crate) struct RestError {
    /// The HTTP status.
    pub(super) status: StatusCode,
    /// The JSON body.
    pub(super) body: Box<RestErrorBody>,
    /// A `WWW-Authenticate` header value, for 401 answers.
    pub(super) www_authenticate: Option<String>,
}

/// PostgREST's error body (<https://docs.postgrest.org/en/v12/references/errors.html>): all
/// four keys always present, `null` when empty, as PostgREST writes them (`code` is `null` only
/// on the gateway's "No API key" answer, which has no PostgREST code).
#[derive(Debug, Serialize)]
pub(super) struct RestErrorBody {
    /// PostgREST's or PostgreSQL's code (`PGRST…`, a SQLSTATE).
    pub(super) code: Option<String>,
    /// What went wrong.
    pub(super) message: String,
    /// PostgreSQL's DETAIL, or more about the refusal.
    pub(super) details: Option<String>,
    /// PostgreSQL's HINT, or what to do.
    pub(super) hint: Option<String>,
}

/// PostgREST's code for an error status that no `/rest/v1` handler produced (an axum
/// rejection or 405 rewritten by [`crate::extract::json_errors`]): `PGRST100` (400, request
/// parse error), `PGRST102` (413, an invalid — here oversized — body), `PGRST107` (415),
/// `PGRST117` (405), `PGRST125` (404), `PGRST000` (5xx).
fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "PGRST125",
        StatusCode::METHOD_NOT_ALLOWED => "PGRST117",
        StatusCode::PAYLOAD_TOO_LARGE => "PGRST102",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "PGRST107",
        s if s.is_server_error() => "PGRST000",
        _ => "PGRST100",
    }
}

/// The JSON body `{code, message, details: null, hint: null}` for `status` (see
/// [`code_for_status`]); used by the error fallback.
pub(crate) fn error_body(status: StatusCode, message: String) -> Vec<u8> {
    let body = RestErrorBody {
        code: Some(code_for_status(status).to_owned()),
        message,
        details: None,
        hint: None,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The gateway's 429 under `/rest/v1` (from [`crate::ratelimit`]): Supabase's gateway message
/// "API rate limit exceeded", no PostgREST code (`null`, like the "No API key" answer), the
/// wait in `hint` and `Retry-After` (whole seconds).
pub(crate) fn rate_limited(retry_after_secs: u64) -> Response {
    let mut resp = RestError {
        status: StatusCode::TOO_MANY_REQUESTS,
        body: Box::new(RestErrorBody {
            code: None,
            message: "API rate limit exceeded".into(),
            details: None,
            hint: Some(format!("Retry after {retry_after_secs} s.")),
        }),
        www_authenticate: None,
    }
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    resp
}

impl RestError {
    pub(super) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> RestError {
        RestError {
            status,
            body: Box::new(RestErrorBody {
                code: Some(code.to_owned()),
                message: message.into(),
                details: None,
                hint: None,
            }),
            www_authenticate: None,
        }
    }

    pub(super) fn details(mut self, d: impl Into<String>) -> RestError {
        self.body.details = Some(d.into());
        self
    }

    pub(super) fn no_api_key() -> RestError {
        RestError {
            status: StatusCode::UNAUTHORIZED,
            body: Box::new(RestErrorBody {
                code: None,
                message: "No API key found in request".into(),
                details: None,
                hint: Some("No `apikey` request header or url param was found.".into()),
            }),
            www_authenticate: None,
        }
    }

    pub(super) fn from_auth(e: AuthError) -> RestError {
        let mut r = RestError::new(StatusCode::UNAUTHORIZED, e.pgrst_code(), e.to_string());
        r.www_authenticate = Some(format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            e.to_string().replace('"', "'")
        ));
        r
    }

    /// The PostgREST answer to a database error, from the classifier shared with `/v1`
    /// (`crate::db_error::classify`): 503 `PGRST001` when the database is unavailable, 500
    /// with the SQLSTATE (`PGRST000` for a client-side failure) and "internal error" for an
    /// unknown failure (its text is logged, not returned), else the classified status with the
    /// SQLSTATE as code and the server's message, DETAIL and HINT (401 adds
    /// `WWW-Authenticate: Bearer`). `has_token`: the request carried a verified JWT.
    pub(crate) fn from_db(err: sqlx::Error, has_token: bool) -> RestError {
        let f = classify(&err, has_token);
        match f.class {
            DbClass::Unavailable => RestError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "PGRST001",
                "Database client error. Retrying the connection.",
            ),
            DbClass::Internal => {
                let code = if f.sqlstate.is_empty() {
                    "PGRST000"
                } else {
                    &f.sqlstate
                };
                RestError::new(StatusCode::INTERNAL_SERVER_ERROR, code, "internal error")
            }
            _ => {
                let mut r = RestError::new(f.status, &f.sqlstate, f.message);
                r.body.details = f.detail;
                r.body.hint = f.hint;
                if f.status == StatusCode::UNAUTHORIZED {
                    r.www_authenticate = Some("Bearer".into());
                }
                r
            }
        }
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if let Some(w) = self
            .www_authenticate
            .and_then(|w| HeaderValue::from_str(&w).ok())
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, w);
        }
        resp
    }
}
