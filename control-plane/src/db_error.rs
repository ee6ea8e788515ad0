//! The one classifier of database errors, shared by `/v1` and `/rest/v1`.
//!
//! [`classify`] reads a [`sqlx::Error`] once (SQLSTATE, message, DETAIL, HINT, column) and
//! decides what it means for the request ([`DbClass`]) and its HTTP status (PostgREST's mapping,
//! `docs/references/errors.rst`). Each wire then writes its own body from the same verdict:
//! [`AppError::from_db`](crate::error::AppError::from_db) the native `{code, message}`,
//! `rest`'s error the PostgREST `{code, message, details, hint}`. The database's text of an
//! [`DbClass::Internal`] or [`DbClass::Unavailable`] failure is logged here, never returned.
//!
//! | SQLSTATE | class | status |
//! |---|---|---|
//! | 08…, 57P…, 53…, 28…, 55000, 3D000; pool timeout/closed, I/O, worker crash | `Unavailable` | 503 |
//! | 42501 (insufficient privilege), PT403 | `Denied` | 401 without a token, else 403 (PT403: 403) |
//! | PT409 (DETAIL `no_change`: unchanged document) | `Conflict` | 409 |
//! | PT422 (our validation message) | `Invalid` | 422 |
//! | other PTxyz | `Refused` | xyz |
//! | class 22 (data exception) | `DataException` | 400 |
//! | P0001, 42703, class 23 | `Refused` | 400 (23505, 23503: 409) |
//! | 42883, 42P01 | `Refused` | 404 |
//! | anything else | `Internal` | 500 |

use axum::http::StatusCode;

/// What a database error means for the request (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DbClass {
    /// No working database session: the database is unavailable, not the request wrong.
    Unavailable,
    /// The request role may not do this (42501, PT403).
    Denied,
    /// PT409: a stale expected version, or (`no_change`) a document equal to the current one.
    Conflict {
        /// DETAIL was `no_change` (the document equals the current version).
        no_change: bool,
    },
    /// PT422: the document or reason was refused by the database's validation.
    Invalid,
    /// Class 22: a value the database could not take (NUL byte, malformed, out of range).
    DataException,
    /// Another refusal with a client status (P0001, 42703, class 23, 42883, 42P01, PTxyz).
    Refused,
    /// Anything else: logged, answered 500 without the database's text.
    Internal,
}

/// A classified database error: one verdict, written by each wire in its own shape.
#[derive(Debug, Clone)]
pub(crate) struct DbFailure {
    /// What the error means for the request.
    pub(crate) class: DbClass,
    /// The HTTP status (PostgREST's mapping; see the module table).
    pub(crate) status: StatusCode,
    /// The SQLSTATE, empty when the error did not come from the database server.
    pub(crate) sqlstate: String,
    /// The server's message (empty for errors that did not come from the server).
    pub(crate) message: String,
    /// The server's DETAIL, when any.
    pub(crate) detail: Option<String>,
    /// The server's HINT, when any.
    pub(crate) hint: Option<String>,
    /// The server's COLUMN field (PT422 names the offending document field there).
    pub(crate) column: Option<String>,
    /// The whole error as text, for the log and [`AppError::Internal`](crate::error::AppError).
    pub(crate) text: String,
}

/// Whether a SQLSTATE means "no working database session" rather than a refused request:
/// connection exceptions (class 08), "terminating connection" (57P: admin shutdown, crash,
/// cannot connect now), insufficient resources such as too many connections (class 53), and
/// what a connection attempt meets when the database refuses sessions (55000 "not currently
/// accepting connections", 3D000 no such database, class 28 authentication). Both `/v1` and
/// `/rest/v1` answer these with 503. Codes: PostgreSQL's "Appendix A. Error Codes".
pub(crate) fn session_lost(sqlstate: &str) -> bool {
    sqlstate.starts_with("08")
        || sqlstate.starts_with("57P")
        || sqlstate.starts_with("53")
        || sqlstate.starts_with("28")
        || sqlstate == "55000"
        || sqlstate == "3D000"
}

/// Classifies `err`, raised while running as a request role; `authenticated` tells whether the
/// request carried a verified token (insufficient privilege is 401 without one, 403 with one,
/// as PostgREST answers). Logs what is not returned: unavailable and internal failures at
/// `warn`/`error`, data exceptions at `info`.
pub(crate) fn classify(err: &sqlx::Error, authenticated: bool) -> DbFailure {
    let text = err.to_string();
    let Some(db) = err.as_database_error() else {
        let class = match err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => {
                tracing::warn!(error = %err, "database unavailable");
                DbClass::Unavailable
            }
            _ => {
                tracing::error!(error = %err, "database error");
                DbClass::Internal
            }
        };
        return DbFailure {
            class,
            status: match class {
                DbClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            sqlstate: String::new(),
            message: String::new(),
            detail: None,
            hint: None,
            column: None,
            text,
        };
    };
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
    let detail = pg.and_then(|p| p.detail().map(str::to_owned));
    let denied = if authenticated {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::UNAUTHORIZED
    };
    let (class, status) = if session_lost(&code) {
        tracing::warn!(code = %code, "database session lost");
        (DbClass::Unavailable, StatusCode::SERVICE_UNAVAILABLE)
    } else if code == "42501" {
        (DbClass::Denied, denied)
    } else if code == "PT403" {
        (DbClass::Denied, StatusCode::FORBIDDEN)
    } else if code == "PT409" {
        // `update_app_config` marks an unchanged document with DETAIL 'no_change' (a stale
        // version carries 'current_version=N').
        let no_change = detail.as_deref() == Some("no_change");
        (DbClass::Conflict { no_change }, StatusCode::CONFLICT)
    } else if code == "PT422" {
        (DbClass::Invalid, StatusCode::UNPROCESSABLE_ENTITY)
    } else if let Some(xyz) = code.strip_prefix("PT") {
        match xyz
            .parse::<u16>()
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
        {
            Some(s) => (DbClass::Refused, s),
            None => (DbClass::Internal, StatusCode::INTERNAL_SERVER_ERROR),
        }
    } else if code.starts_with("22") {
        tracing::info!(sqlstate = %code, error = %db.message(), "data exception");
        (DbClass::DataException, StatusCode::BAD_REQUEST)
    } else if code == "P0001" || code == "42703" {
        (DbClass::Refused, StatusCode::BAD_REQUEST)
    } else if code == "23505" || code == "23503" {
        (DbClass::Refused, StatusCode::CONFLICT)
    } else if code.starts_with("23") {
        (DbClass::Refused, StatusCode::BAD_REQUEST)
    } else if code == "42883" || code == "42P01" {
        (DbClass::Refused, StatusCode::NOT_FOUND)
    } else {
        (DbClass::Internal, StatusCode::INTERNAL_SERVER_ERROR)
    };
    let class = if status == StatusCode::INTERNAL_SERVER_ERROR {
        DbClass::Internal
    } else {
        class
    };
    if class == DbClass::Internal {
        // Unknown failure: log it, do not echo database text.
        tracing::error!(sqlstate = %code, error = %db.message(), "database error");
    }
    DbFailure {
        class,
        status,
        message: db.message().to_owned(),
        detail,
        hint: pg.and_then(|p| p.hint().map(str::to_owned)),
        column: pg.and_then(|p| p.column().map(str::to_owned)),
        sqlstate: code,
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_sessions_are_unavailable() {
        for c in ["08006", "57P01", "53300", "28P01", "55000", "3D000"] {
            assert!(session_lost(c), "{c}");
        }
        for c in ["42501", "22021", "PT409", "23505"] {
            assert!(!session_lost(c), "{c}");
        }
    }

    #[test]
    fn client_errors_are_unavailable_or_internal() {
        let f = classify(&sqlx::Error::PoolTimedOut, true);
        assert_eq!(f.class, DbClass::Unavailable);
        assert_eq!(f.status, StatusCode::SERVICE_UNAVAILABLE);
        let f = classify(&sqlx::Error::RowNotFound, false);
        assert_eq!(f.class, DbClass::Internal);
        assert_eq!(f.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(f.sqlstate.is_empty() && f.message.is_empty());
    }
}
