//! The `/rest/v1` handlers: the table read, the RPCs (`get_marketplace_config`,
//! `update_app_config`), and the fallbacks. Each starts from a [`RestRequest`] (the key, the JWT
//! and the schema header already checked).

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::RestError;
use super::query::{ReadQuery, RowRange, build_select, find_table, range_error};
use super::request::RestRequest;
use crate::AppState;
use crate::auth::AuthContext;
use crate::db;

pub(super) fn json_response(status: StatusCode, body: String, object: bool) -> Response {
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

/// `Prefer: count=…` (PostgREST's counting,
/// <https://docs.postgrest.org/en/v12/references/api/pagination_count.html#exact-count>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CountPref {
    Exact,
    Planned,
    Estimated,
}

fn count_pref(headers: &HeaderMap) -> Option<CountPref> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(','))
        .find_map(|p| match p.trim() {
            "count=exact" => Some(CountPref::Exact),
            "count=planned" => Some(CountPref::Planned),
            "count=estimated" => Some(CountPref::Estimated),
            _ => None,
        })
}

/// The `Range: first-[last]` request header (`items=` prefix allowed), as PostgREST reads it:
/// one that does not match is ignored (all rows).
///
/// # Errors
/// 416 `PGRST103` when `last < first`.
fn header_range(headers: &HeaderMap) -> Result<Option<RowRange>, RestError> {
    let Some(v) = headers.get(header::RANGE).and_then(|h| h.to_str().ok()) else {
        return Ok(None);
    };
    let v = v.trim();
    let v = v.strip_prefix("items=").unwrap_or(v);
    let Some((a, b)) = v.split_once('-') else {
        return Ok(None);
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    let Ok(first) = a.parse::<u64>() else {
        return Ok(None);
    };
    if !digits(a) || !(b.is_empty() || digits(b)) {
        return Ok(None);
    }
    if b.is_empty() {
        return Ok(Some(RowRange { first, end: None }));
    }
    let Ok(last) = b.parse::<u64>() else {
        return Ok(None);
    };
    if last < first {
        return Err(range_error(
            "The lower boundary must be lower than or equal to the upper boundary in the Range header.",
        ));
    }
    Ok(Some(RowRange {
        first,
        end: Some(last.saturating_add(1)),
    }))
}

/// PostgREST's status and `Content-Range` for a page of `n` rows from `first`, of `total`
/// (`None`: not counted): 416 when `first > total`, 206 when the page is not all rows, else
/// 200; the range is `*` when the page is empty or the total is 0, the total `*` when unknown.
fn range_status(first: u64, n: u64, total: Option<u64>) -> (StatusCode, String) {
    let range = if n > 0 && total != Some(0) {
        format!("{first}-{}", first + n - 1)
    } else {
        "*".to_owned()
    };
    let header = format!(
        "{range}/{}",
        total.map_or_else(|| "*".to_owned(), |t| t.to_string())
    );
    let status = match total {
        Some(t) if first > t => StatusCode::RANGE_NOT_SATISFIABLE,
        Some(t) if n < t => StatusCode::PARTIAL_CONTENT,
        _ => StatusCode::OK,
    };
    (status, header)
}

/// The planner's row estimate from `EXPLAIN (FORMAT JSON)` output.
fn plan_rows(plan: &serde_json::Value) -> Option<u64> {
    plan.get(0)?
        .get("Plan")?
        .get("Plan Rows")?
        .as_f64()
        .map(|r| r.max(0.0).round() as u64)
}

/// The rows of the one table read every install's Supabase provider makes
/// (`GET /rest/v1/app_config?config_key=eq.<key>&select=config_value`, the resolver's
/// `SupabaseRead::Table`), from the in-memory snapshot: `(json, rows, total)` as the database
/// path's query returns them, or `None` to ask the database.
///
/// Only when the caller's role reads `app_config` without restriction
/// ([`crate::snapshot::SnapshotStore::serves`]), the query holds exactly those two parameters
/// (plus `apikey`), the key is plain (`[A-Za-z0-9_.-]`) and known, and neither `Range` nor a
/// count is asked for. The text is what `json_agg(json_build_object('config_value', …))`
/// prints over PostgreSQL's own text of the document; a test compares both paths byte for byte
/// for each role.
fn snapshot_rows(
    state: &AppState,
    ctx: &AuthContext,
    table: &str,
    q: &[(String, String)],
    range: Option<&RowRange>,
    counted: bool,
) -> Option<(String, i64, Option<u64>)> {
    if table != "app_config" || range.is_some() || counted {
        return None;
    }
    let mut key = None;
    let mut select = false;
    for (k, v) in q {
        match k.as_str() {
            "apikey" => {}
            "select" if v == "config_value" && !select => select = true,
            "config_key" if key.is_none() => key = Some(v.strip_prefix("eq.")?),
            _ => return None,
        }
    }
    let key = key.filter(|k| {
        !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    })?;
    let store = state.hub.store();
    if !select || !store.serves(ctx.role) {
        return None;
    }
    let snap = store.get(key)?;
    let doc = std::str::from_utf8(&snap.value_text).ok()?;
    Some((format!("[{{\"config_value\" : {doc}}}]"), 1, None))
}

/// The rows of a table read from the database, as the caller's role: `(json, rows, total)`.
async fn read_rows(
    state: &AppState,
    ctx: &AuthContext,
    read: ReadQuery,
    count: Option<CountPref>,
) -> Result<(String, i64, Option<u64>), RestError> {
    db::in_role(&state.pool, ctx, move |tx| {
        Box::pin(async move {
            let mut query = sqlx::query_as::<_, (String, i64, Option<i64>)>(&read.sql);
            for p in &read.params {
                query = query.bind(p);
            }
            let (json, n, exact) = query.fetch_one(&mut **tx).await?;
            let total = match count {
                Some(CountPref::Planned) => {
                    let mut plan = sqlx::query_scalar::<_, serde_json::Value>(&read.plan_sql);
                    for p in &read.params[..read.filter_params] {
                        plan = plan.bind(p);
                    }
                    plan_rows(&plan.fetch_one(&mut **tx).await?)
                }
                _ => exact.and_then(|e| u64::try_from(e).ok()),
            };
            Ok((json, n, total))
        })
    })
    .await
    .map_err(|e| RestError::from_db(e, ctx.is_authenticated()))
}

/// `GET /rest/v1/{table}` (and `HEAD`, which axum answers with the same headers and no body;
/// it ignores `Range`, as PostgREST does).
pub(crate) async fn read_table(
    State(state): State<AppState>,
    Path(table): Path<String>,
    req: RestRequest,
) -> Result<Response, RestError> {
    let RestRequest {
        method,
        q,
        ctx,
        headers,
    } = req;
    let t = find_table(&table)?;
    let count = count_pref(&headers);
    // The `Range` header is for `GET` only (RFC 9110), as PostgREST reads it.
    let range = if method == Method::GET {
        header_range(&headers)?
    } else {
        None
    };
    let read = build_select(
        t,
        &q,
        range,
        matches!(count, Some(CountPref::Exact | CountPref::Estimated)),
    )?;
    let first = read.range.first;
    let counted = count.is_some();
    let from_memory = snapshot_rows(&state, &ctx, t.name, &q, range.as_ref(), counted);
    let (json, n, total) = match from_memory {
        Some(rows) => rows,
        None => read_rows(&state, &ctx, read, count).await?,
    };
    let n = u64::try_from(n).unwrap_or(0);
    let (status, content_range) = range_status(first, n, total);
    if status == StatusCode::RANGE_NOT_SATISFIABLE {
        let mut e = range_error(format!(
            "An offset of {first} was requested, but there are only {} rows.",
            total.unwrap_or(0)
        ))
        .into_response();
        if let Ok(h) = HeaderValue::from_str(&content_range) {
            e.headers_mut().insert(header::CONTENT_RANGE, h);
        }
        return Ok(e);
    }
    let object = super::request::wants_object(&headers);
    let mut resp = if object {
        if n != 1 {
            return Err(RestError::new(
                StatusCode::NOT_ACCEPTABLE,
                "PGRST116",
                "Cannot coerce the result to a single JSON object",
            )
            .details(format!("The result contains {n} rows")));
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
        json_response(status, json, false)
    };
    if let Ok(h) = HeaderValue::from_str(&content_range) {
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
    Path(function): Path<String>,
    req: RestRequest,
    body: Bytes,
) -> Result<Response, RestError> {
    let object = req.wants_object();
    let RestRequest { method, q, ctx, .. } = req;
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
                    .get(sourcegate_contract::CONFIG_KEY)
                    .map(|s| String::from_utf8_lossy(&s.value_text).into_owned())
                    .unwrap_or_else(|| "null".into());
                return Ok(json_response(StatusCode::OK, text, object));
            }
            let v: Option<String> = db::in_role(&state.pool, &ctx, |tx| {
                Box::pin(
                    sqlx::query_scalar("SELECT public.get_marketplace_config()::text")
                        .fetch_one(&mut **tx),
                )
            })
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
            let written_key = key.clone();
            let row: Option<String> = db::in_role(&state.pool, &ctx, move |tx| {
                Box::pin(
                    sqlx::query_scalar(
                        "SELECT row_to_json(r)::text FROM public.update_app_config($1, $2, $3, $4, $5) r",
                    )
                    .bind(key)
                    .bind(value)
                    .bind(reason)
                    .bind(expected)
                    .bind(force)
                    .fetch_one(&mut **tx),
                )
            })
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
            "Unsupported HTTP method or route ({method}); this endpoint implements a subset of PostgREST (reads, table writes on app_config, RPCs)"
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
