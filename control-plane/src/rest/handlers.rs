//! The `/rest/v1` handlers: the gateway's key check and PostgREST's JWT rules, the table read,
//! the RPCs (`get_marketplace_config`, `update_app_config`), and the fallbacks.

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;

use super::error::RestError;
use super::query::{TABLES, build_select, query_pairs};
use crate::AppState;
use crate::auth::{self, AuthContext};
use crate::db;

const OBJECT_MEDIA: &str = "application/vnd.pgrst.object+json";

/// Applies the gateway's key check and PostgREST's JWT rules (see the module docs).
pub(super) async fn rest_auth(
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

pub(super) fn check_profile(headers: &HeaderMap, name: &str) -> Result<(), RestError> {
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
pub(super) fn check_content_type(headers: &HeaderMap) -> Result<(), RestError> {
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

pub(super) fn wants_object(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|a| a.contains(OBJECT_MEDIA))
}

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
    let (json, count) = db::in_role(&state.pool, &ctx, move |tx| {
        Box::pin(async move {
            let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
            for p in &params {
                query = query.bind(p);
            }
            query.fetch_one(&mut **tx).await
        })
    })
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
