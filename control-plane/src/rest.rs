//! A PostgREST-compatible subset under `/rest/v1`, so Supabase clients (the resolver's Supabase
//! provider, the `postgrest` crate, supabase-js) work against this service unchanged.
//!
//! Supported (everything else is a clear 4xx in PostgREST's error shape):
//! - `GET /rest/v1/{app_config|app_config_history}?select=…&col=op.value&order=…&limit=…&offset=…`
//!   with operators `eq`, `neq`, `gt`, `gte`, `lt`, `lte`, `is` (null/true/false); a JSON array,
//!   or one object with `Accept: application/vnd.pgrst.object+json` (406 `PGRST116` when the
//!   result has 0 or more than 1 rows);
//! - `POST /rest/v1/rpc/get_marketplace_config` (also `GET`): the raw `jsonb` document;
//! - `POST /rest/v1/rpc/update_app_config` with named arguments `p_key`, `p_value`,
//!   `p_reason`, `p_expected_version` (a JSON integer: `1.0` or `"1"` is 400 `22P02`, nothing
//!   written), `p_force` (boolean, default false): the updated row as an object; an unchanged
//!   document is 409 `PT409` with `details: "no_change"` unless `p_force`.
//!
//! Keys and roles: an `apikey` header (or `?apikey=`) is required, as Supabase's gateway does
//! (401 "No API key found in request"); any non-empty key is accepted, since it grants nothing
//! by itself. The role comes from `Authorization: Bearer <JWT>`; without one, from the `apikey`
//! if it is a JWT (Supabase's legacy anon/service keys); otherwise (`sb_publishable_…`) `anon`.
//! Tokens are verified as in [`crate::auth`]; refusals are 401 `PGRST301`/`PGRST303` with
//! `WWW-Authenticate`.
//!
//! Errors follow PostgREST (`docs/references/errors.rst`): body `{code, message, details, hint}`;
//! SQLSTATE `42501` → 403 with a JWT, 401 without; `P0001` → 400; `PTxyz` → xyz; class `22` →
//! 400; `23505` → 409; unknown table → 404 `PGRST205`; unknown function → 404 `PGRST202`;
//! an RPC body that is not `application/json` → 415 `PGRST107`. `details` and `hint` are
//! always present (`null` when empty). Rejections raised before a handler runs (a path segment
//! that is not UTF-8, a body over [`crate::extract::MAX_CONFIG_BODY_BYTES`]) are rewritten into
//! this shape by [`crate::extract::json_errors`] (400 `PGRST100`, 413 `PGRST102`).

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::AppState;
use crate::auth::{self, AuthContext, AuthError};
use crate::db;

const OBJECT_MEDIA: &str = "application/vnd.pgrst.object+json";

/// An error in PostgREST's shape.
#[derive(Debug)]
pub(crate) struct RestError {
    status: StatusCode,
    body: Box<RestErrorBody>,
    www_authenticate: Option<String>,
}

/// PostgREST's error body: `details` and `hint` are always present (`null` when empty), as
/// PostgREST writes them; `code` is absent only on the gateway's "No API key" answer.
#[derive(Debug, Serialize)]
struct RestErrorBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    message: String,
    details: Option<String>,
    hint: Option<String>,
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

impl RestError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> RestError {
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

    fn details(mut self, d: impl Into<String>) -> RestError {
        self.body.details = Some(d.into());
        self
    }

    fn no_api_key() -> RestError {
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

    fn from_auth(e: AuthError) -> RestError {
        let mut r = RestError::new(StatusCode::UNAUTHORIZED, e.pgrst_code(), e.to_string());
        r.www_authenticate = Some(format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            e.to_string().replace('"', "'")
        ));
        r
    }

    fn from_db(err: sqlx::Error, has_token: bool) -> RestError {
        let Some(db) = err.as_database_error() else {
            tracing::error!(error = %err, "database error");
            return match err {
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                    RestError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "PGRST001",
                        "Database client error. Retrying the connection.",
                    )
                }
                _ => RestError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "PGRST000",
                    "internal error",
                ),
            };
        };
        let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
        if crate::error::session_lost(&code) {
            tracing::warn!(code = %code, "database session lost");
            return RestError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "PGRST001",
                "Database client error. Retrying the connection.",
            );
        }
        let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
        let status = if code == "42501" {
            if has_token {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            }
        } else if let Some(xyz) = code.strip_prefix("PT") {
            xyz.parse::<u16>()
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        } else if code == "P0001" || code.starts_with("22") || code == "42703" {
            StatusCode::BAD_REQUEST
        } else if code == "23505" || code == "23503" {
            StatusCode::CONFLICT
        } else if code.starts_with("23") {
            StatusCode::BAD_REQUEST
        } else if code == "42883" || code == "42P01" {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Unknown failure: log it, do not echo database text.
            tracing::error!(sqlstate = %code, error = %db.message(), "database error");
            return RestError::new(status, &code, "internal error");
        }
        let mut r = RestError::new(status, &code, db.message());
        r.body.details = pg.and_then(|p| p.detail().map(str::to_owned));
        r.body.hint = pg.and_then(|p| p.hint().map(str::to_owned));
        if status == StatusCode::UNAUTHORIZED {
            r.www_authenticate = Some("Bearer".into());
        }
        r
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

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Applies the gateway's key check and PostgREST's JWT rules (see the module docs).
async fn rest_auth(
    state: &AppState,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Result<AuthContext, RestError> {
    let apikey = headers
        .get("apikey")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            query
                .iter()
                .find(|(k, _)| k == "apikey")
                .map(|(_, v)| v.clone())
        })
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(RestError::no_api_key)?;
    if let Some(token) = auth::bearer(headers) {
        return state
            .verifier
            .verify(token)
            .await
            .map_err(RestError::from_auth);
    }
    if apikey.split('.').count() == 3 {
        return state
            .verifier
            .verify(apikey.trim())
            .await
            .map_err(RestError::from_auth);
    }
    Ok(AuthContext::anon())
}

fn check_profile(headers: &HeaderMap, name: &str) -> Result<(), RestError> {
    match headers.get(name).and_then(|h| h.to_str().ok()) {
        Some(p) if p != "public" => Err(RestError::new(
            StatusCode::NOT_ACCEPTABLE,
            "PGRST106",
            "The schema must be one of the following: public",
        )),
        _ => Ok(()),
    }
}

/// RPC bodies are JSON: a `Content-Type` other than `application/json` (or `…+json`) is
/// refused with 415 `PGRST107`, as PostgREST refuses media types it cannot read. No header
/// means JSON.
fn check_content_type(headers: &HeaderMap) -> Result<(), RestError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let media = ct
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media == "application/json" || media.ends_with("+json") {
        Ok(())
    } else {
        Err(RestError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "PGRST107",
            format!(
                "Content-Type not acceptable: {}; RPC bodies are application/json",
                String::from_utf8_lossy(ct.as_bytes())
            ),
        ))
    }
}

fn wants_object(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|a| a.contains(OBJECT_MEDIA))
}

fn json_response(status: StatusCode, body: String, object: bool) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if object {
            "application/vnd.pgrst.object+json; charset=utf-8"
        } else {
            "application/json; charset=utf-8"
        }),
    );
    resp
}

struct Table {
    name: &'static str,
    /// `(column, SQL type)`; the type casts filter values like PostgREST's untyped literals.
    columns: &'static [(&'static str, &'static str)],
}

const TABLES: &[Table] = &[
    Table {
        name: "app_config",
        columns: &[
            ("id", "uuid"),
            ("config_key", "text"),
            ("config_value", "jsonb"),
            ("version", "bigint"),
            ("updated_at", "timestamptz"),
            ("updated_by", "uuid"),
        ],
    },
    Table {
        name: "app_config_history",
        columns: &[
            ("id", "bigint"),
            ("config_id", "uuid"),
            ("config_key", "text"),
            ("version", "bigint"),
            ("op", "text"),
            ("old_value", "jsonb"),
            ("new_value", "jsonb"),
            ("changed_by", "uuid"),
            ("changed_role", "text"),
            ("changed_at", "timestamptz"),
            ("reason", "text"),
        ],
    },
];

fn parse_error(msg: impl Into<String>) -> RestError {
    RestError::new(StatusCode::BAD_REQUEST, "PGRST100", msg)
}

fn column<'t>(t: &'t Table, name: &str) -> Result<(&'t str, &'t str), RestError> {
    t.columns
        .iter()
        .find(|(c, _)| *c == name)
        .map(|(c, ty)| (*c, *ty))
        .ok_or_else(|| {
            RestError::new(
                StatusCode::BAD_REQUEST,
                "42703",
                format!("column {}.{} does not exist", t.name, name),
            )
        })
}

/// Builds the read query; returns SQL and its text parameters.
fn build_select(t: &Table, q: &[(String, String)]) -> Result<(String, Vec<String>), RestError> {
    let mut cols: Vec<String> = Vec::new();
    let mut filters: Vec<String> = Vec::new();
    let mut params: Vec<String> = Vec::new();
    let mut order: Vec<String> = Vec::new();
    let mut limit: Option<u64> = None;
    let mut offset: Option<u64> = None;
    for (k, v) in q {
        match k.as_str() {
            "apikey" => {}
            "select" => {
                for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if item == "*" {
                        cols.extend(t.columns.iter().map(|(c, _)| format!("\"{c}\"")));
                    } else {
                        let (c, _) = column(t, item)?;
                        cols.push(format!("\"{c}\""));
                    }
                }
            }
            "order" => {
                for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let mut parts = item.split('.');
                    let (c, _) = column(t, parts.next().unwrap_or(""))?;
                    let mut sql = format!("\"{c}\"");
                    for p in parts {
                        sql.push_str(match p {
                            "asc" => " ASC",
                            "desc" => " DESC",
                            "nullsfirst" => " NULLS FIRST",
                            "nullslast" => " NULLS LAST",
                            _ => {
                                return Err(parse_error(format!("failed to parse order ({item})")));
                            }
                        });
                    }
                    order.push(sql);
                }
            }
            "limit" => {
                limit = Some(
                    v.parse()
                        .map_err(|_| parse_error("limit must be an integer"))?,
                )
            }
            "offset" => {
                offset = Some(
                    v.parse()
                        .map_err(|_| parse_error("offset must be an integer"))?,
                )
            }
            col => {
                let (c, ty) = column(t, col)?;
                let (op, val) = v
                    .split_once('.')
                    .ok_or_else(|| parse_error(format!("failed to parse filter ({v})")))?;
                let sql_op = match op {
                    "eq" => "=",
                    "neq" => "<>",
                    "gt" => ">",
                    "gte" => ">=",
                    "lt" => "<",
                    "lte" => "<=",
                    "is" => {
                        let rhs = match val.to_ascii_lowercase().as_str() {
                            "null" => "NULL",
                            "true" => "TRUE",
                            "false" => "FALSE",
                            "unknown" => "UNKNOWN",
                            _ => return Err(parse_error(format!("failed to parse filter ({v})"))),
                        };
                        filters.push(format!("\"{c}\" IS {rhs}"));
                        continue;
                    }
                    _ => {
                        return Err(parse_error(format!(
                            "unsupported operator in filter ({v}); supported: eq, neq, gt, gte, lt, lte, is"
                        )));
                    }
                };
                params.push(val.to_owned());
                filters.push(format!("\"{c}\" {sql_op} CAST(${} AS {ty})", params.len()));
            }
        }
    }
    if cols.is_empty() {
        cols.extend(t.columns.iter().map(|(c, _)| format!("\"{c}\"")));
    }
    let mut inner = format!("SELECT {} FROM public.\"{}\"", cols.join(", "), t.name);
    if !filters.is_empty() {
        inner.push_str(" WHERE ");
        inner.push_str(&filters.join(" AND "));
    }
    if !order.is_empty() {
        inner.push_str(" ORDER BY ");
        inner.push_str(&order.join(", "));
    }
    if let Some(l) = limit {
        inner.push_str(&format!(" LIMIT {l}"));
    }
    if let Some(o) = offset {
        inner.push_str(&format!(" OFFSET {o}"));
    }
    Ok((
        format!("SELECT coalesce(json_agg(t), '[]'::json)::text, count(*) FROM ({inner}) t"),
        params,
    ))
}

/// Parses the query string of `GET /rest/v1/{table}` (`select=`, `col=op.value` filters,
/// `order=`, `limit=`, `offset=`; `apikey=` is skipped) into the SQL it runs and that SQL's
/// text bind parameters (`$1`, `$2`, … in order). Pure: no database, no auth; the handler runs
/// the same code after its key and JWT checks. Public for the fuzz target
/// (`fuzz/fuzz_targets/rest_query.rs`).
///
/// `raw_query` is the part after `?`, still percent-encoded (`None` when there is none).
/// Identifiers in the SQL come only from this module's table and column lists; every value
/// from the query is a bind parameter.
///
/// # Errors
/// The HTTP status and PostgREST code the request is refused with: 404 `PGRST205` for an
/// unknown table, 400 `42703` for an unknown column, 400 `PGRST100` for a filter, order,
/// limit or offset that does not parse.
#[doc(hidden)]
pub fn parse_read_query(
    table: &str,
    raw_query: Option<&str>,
) -> Result<(String, Vec<String>), (StatusCode, String)> {
    let q = query_pairs(raw_query);
    let t = TABLES
        .iter()
        .find(|t| t.name == table)
        .ok_or_else(|| (StatusCode::NOT_FOUND, "PGRST205".to_owned()))?;
    build_select(t, &q).map_err(|e| (e.status, e.body.code.unwrap_or_default()))
}

/// `GET /rest/v1/{table}`.
pub(crate) async fn read_table(
    State(state): State<AppState>,
    Path(table): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let q = query_pairs(raw.as_deref());
    let ctx = rest_auth(&state, &headers, &q).await?;
    check_profile(&headers, "accept-profile")?;
    let t = TABLES.iter().find(|t| t.name == table).ok_or_else(|| {
        RestError::new(
            StatusCode::NOT_FOUND,
            "PGRST205",
            format!("Could not find the table 'public.{table}' in the schema cache"),
        )
    })?;
    let (sql, params) = build_select(t, &q)?;
    let mut tx = db::begin_as(&state.pool, &ctx)
        .await
        .map_err(|e| RestError::from_db(e, ctx.is_authenticated()))?;
    let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
    for p in &params {
        query = query.bind(p);
    }
    let (json, count) = query
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| RestError::from_db(e, ctx.is_authenticated()))?;
    tx.commit()
        .await
        .map_err(|e| RestError::from_db(e, ctx.is_authenticated()))?;
    let object = wants_object(&headers);
    let range = if count == 0 {
        "*/*".to_owned()
    } else {
        format!("0-{}/*", count - 1)
    };
    let mut resp = if object {
        if count != 1 {
            return Err(RestError::new(
                StatusCode::NOT_ACCEPTABLE,
                "PGRST116",
                "Cannot coerce the result to a single JSON object",
            )
            .details(format!("The result contains {count} rows")));
        }
        let v: serde_json::Value = serde_json::from_str(&json).map_err(|_| {
            RestError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "PGRST000",
                "internal error",
            )
        })?;
        json_response(
            StatusCode::OK,
            v.get(0).cloned().unwrap_or_default().to_string(),
            true,
        )
    } else {
        json_response(StatusCode::OK, json, false)
    };
    if let Ok(h) = HeaderValue::from_str(&range) {
        resp.headers_mut().insert(header::CONTENT_RANGE, h);
    }
    Ok(resp)
}

fn function_not_found(name: &str, args: &[String]) -> RestError {
    RestError::new(
        StatusCode::NOT_FOUND,
        "PGRST202",
        format!(
            "Could not find the function public.{name}({}) in the schema cache",
            args.join(", ")
        ),
    )
}

/// A JSON value as PostgreSQL's input functions would see it (strings unquoted).
fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `p_expected_version` (a `bigint`): only a JSON integer or `null`. A float (`1.0`, `1e0`) is
/// refused with `22P02` as PostgreSQL's `int8in` refuses its text (what real PostgREST answers,
/// HTTP 400), never read as "absent"; an integer outside `bigint` is `22003`. A string is refused
/// too, `22P02`: stricter than real PostgREST, whose `json_to_record` coerces `"7"` to 7.
fn expected_version_arg(v: Option<&serde_json::Value>) -> Result<Option<i64>, RestError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(serde_json::Value::Number(n)) if n.is_u64() => Err(RestError::new(
            StatusCode::BAD_REQUEST,
            "22003",
            format!("value \"{n}\" is out of range for type bigint"),
        )),
        Some(other) => Err(RestError::new(
            StatusCode::BAD_REQUEST,
            "22P02",
            format!(
                "invalid input syntax for type bigint: \"{}\"",
                json_text(other)
            ),
        )),
    }
}

/// `POST /rest/v1/rpc/{function}` (and `GET` for the stable one).
pub(crate) async fn call_rpc(
    State(state): State<AppState>,
    method: Method,
    Path(function): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, RestError> {
    let q = query_pairs(raw.as_deref());
    let ctx = rest_auth(&state, &headers, &q).await?;
    check_profile(
        &headers,
        if method == Method::GET {
            "accept-profile"
        } else {
            "content-profile"
        },
    )?;
    if method == Method::POST {
        check_content_type(&headers)?;
    }
    let args: serde_json::Map<String, serde_json::Value> = if method == Method::GET {
        q.iter()
            .filter(|(k, _)| k != "apikey")
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect()
    } else if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => {
                return Err(RestError::new(
                    StatusCode::BAD_REQUEST,
                    "PGRST102",
                    "Invalid body: expected a JSON object of named arguments",
                ));
            }
        }
    };
    let arg_names: Vec<String> = args.keys().cloned().collect();
    let object = wants_object(&headers);
    match function.as_str() {
        "get_marketplace_config" => {
            if !args.is_empty() {
                return Err(function_not_found(&function, &arg_names));
            }
            // From memory when the caller's read is public (see `crate::snapshot`): the bytes
            // are PostgreSQL's own text of the document, as the database path answers.
            let store = state.hub.store();
            if store.serves(ctx.role) {
                let text = store
                    .get("marketplace_source")
                    .map(|s| String::from_utf8_lossy(&s.value_text).into_owned())
                    .unwrap_or_else(|| "null".into());
                return Ok(json_response(StatusCode::OK, text, object));
            }
            let mut tx = db::begin_as(&state.pool, &ctx)
                .await
                .map_err(|e| RestError::from_db(e, ctx.is_authenticated()))?;
            let v: Option<String> =
                sqlx::query_scalar("SELECT public.get_marketplace_config()::text")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| RestError::from_db(e, ctx.is_authenticated()))?;
            tx.commit()
                .await
                .map_err(|e| RestError::from_db(e, ctx.is_authenticated()))?;
            Ok(json_response(
                StatusCode::OK,
                v.unwrap_or_else(|| "null".into()),
                object,
            ))
        }
        "update_app_config" if method == Method::POST => {
            const ALLOWED: [&str; 5] = [
                "p_key",
                "p_value",
                "p_reason",
                "p_expected_version",
                "p_force",
            ];
            if arg_names.iter().any(|a| !ALLOWED.contains(&a.as_str()))
                || !args.contains_key("p_key")
                || !args.contains_key("p_value")
            {
                return Err(function_not_found(&function, &arg_names));
            }
            let key = match args.get("p_key") {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(serde_json::Value::Null) => None,
                _ => {
                    return Err(RestError::new(
                        StatusCode::BAD_REQUEST,
                        "22P02",
                        "p_key must be text",
                    ));
                }
            };
            let value = args.get("p_value").cloned().filter(|v| !v.is_null());
            let reason = match args.get("p_reason") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            };
            let expected = expected_version_arg(args.get("p_expected_version"))?;
            let force = match args.get("p_force") {
                None | Some(serde_json::Value::Null) => false,
                Some(serde_json::Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(RestError::new(
                        StatusCode::BAD_REQUEST,
                        "22P02",
                        format!(
                            "invalid input syntax for type boolean: \"{}\"",
                            json_text(other)
                        ),
                    ));
                }
            };
            let mut tx = db::begin_as(&state.pool, &ctx)
                .await
                .map_err(|e| RestError::from_db(e, ctx.is_authenticated()))?;
            let written_key = key.clone();
            let row: Option<String> = sqlx::query_scalar(
                "SELECT row_to_json(r)::text FROM public.update_app_config($1, $2, $3, $4, $5) r",
            )
            .bind(key)
            .bind(value)
            .bind(reason)
            .bind(expected)
            .bind(force)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| RestError::from_db(e, ctx.is_authenticated()))?;
            tx.commit()
                .await
                .map_err(|e| RestError::from_db(e, ctx.is_authenticated()))?;
            if let Some(k) = &written_key {
                state.hub.refresh_key(&state.pool, k).await;
            }
            Ok(json_response(
                StatusCode::OK,
                row.unwrap_or_else(|| "null".into()),
                object,
            ))
        }
        _ => Err(function_not_found(&function, &arg_names)),
    }
}

/// Anything else under `/rest/v1`.
pub(crate) async fn unsupported(method: Method) -> RestError {
    RestError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "PGRST117",
        format!(
            "Unsupported HTTP method or route ({method}); this endpoint implements a read/RPC subset of PostgREST"
        ),
    )
}

/// Unknown path under `/rest/v1`.
pub(crate) fn not_found(path: &str) -> RestError {
    RestError::new(
        StatusCode::NOT_FOUND,
        "PGRST125",
        format!("Invalid path specified in request URL: {path}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_read_query_builds_the_handlers_sql() {
        let (sql, params) = parse_read_query(
            "app_config",
            Some("config_key=eq.marketplace_source&select=config_value&order=version.desc&limit=1&apikey=k"),
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT coalesce(json_agg(t), '[]'::json)::text, count(*) FROM (SELECT \"config_value\" \
             FROM public.\"app_config\" WHERE \"config_key\" = CAST($1 AS text) \
             ORDER BY \"version\" DESC LIMIT 1) t"
        );
        assert_eq!(params, ["marketplace_source"]);
    }

    #[test]
    fn parse_read_query_refusals_carry_postgrest_codes() {
        let cases = [
            (
                "app_config_v2",
                "select=*",
                StatusCode::NOT_FOUND,
                "PGRST205",
            ),
            (
                "app_config",
                "select=password",
                StatusCode::BAD_REQUEST,
                "42703",
            ),
            (
                "app_config",
                "config_key=fts.x",
                StatusCode::BAD_REQUEST,
                "PGRST100",
            ),
            (
                "app_config",
                "order=version.up",
                StatusCode::BAD_REQUEST,
                "PGRST100",
            ),
            (
                "app_config",
                "limit=-1",
                StatusCode::BAD_REQUEST,
                "PGRST100",
            ),
        ];
        for (table, query, status, code) in cases {
            assert_eq!(
                parse_read_query(table, Some(query)),
                Err((status, code.to_owned())),
                "{table}?{query}"
            );
        }
    }
}
