//! The native API under `/v1` (JSON, stable error codes, see [`crate::error::AppError`]).
//!
//! | Route | Who | Answer |
//! |---|---|---|
//! | `GET /v1/configs/{key}` | anyone | [`ConfigView`], `ETag: "<version>"`, 304 on `If-None-Match` |
//! | `GET /v1/configs/{key}/events` | anyone | SSE: `id: <version>`, `event: config`, `data: <ConfigView>` |
//! | `PUT /v1/configs/{key}` | admin | [`ConfigView`]; 409 `version_conflict` on a stale `expectedVersion`/`If-Match`, 409 `no_change` for an unchanged document unless `force` |
//! | `GET /v1/configs/{key}/history?limit=N` | admin | `{"items":[HistoryItem…]}`, newest first |
//! | `POST /v1/configs/{key}/rollback` | admin | [`ConfigView`] of the new version; 409 `no_change` unless `force` when it equals the current one |
//! | `POST /v1/origins/test` | admin | [`OriginTestResult`] |
//!
//! Fleet health and telemetry (`/v1/origins/health`, `/v1/telemetry`,
//! `/v1/telemetry/summary`) live in [`crate::fleet`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::AppState;
use crate::auth::{self, AuthContext};
use crate::db::{self, ConfigView, HistoryItem};
use crate::error::AppError;
use crate::origins::{self, OriginTestRequest, OriginTestResult};

fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<AuthContext, AppError> {
    auth::from_headers(&state.jwt_secret, headers)
        .map_err(|e| AppError::Unauthorized(e.to_string()))
}

fn require_token(ctx: &AuthContext) -> Result<(), AppError> {
    if ctx.has_token && ctx.role != auth::Role::Anon {
        Ok(())
    } else {
        Err(AppError::Unauthorized("a bearer token is required".into()))
    }
}

/// Parses a version out of an entity tag (`"3"`, `W/"3"` or `3`).
fn parse_etag(tag: &str) -> Option<i64> {
    let t = tag.trim();
    let t = t.strip_prefix("W/").unwrap_or(t);
    t.trim_matches('"').parse().ok()
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

fn config_response(v: &ConfigView) -> Response {
    let mut resp = Json(v).into_response();
    let h = resp.headers_mut();
    h.insert(header::ETAG, etag(v.version));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// `GET /v1/configs/{key}`.
#[utoipa::path(get, path = "/v1/configs/{key}",
    params(("key" = String, Path, description = "configuration key, e.g. marketplace_source")),
    responses((status = 200, body = ConfigView), (status = 304), (status = 404)))]
pub(crate) async fn get_config(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ctx = authenticate(&state, &headers)?;
    if key.contains('\0') {
        return Err(AppError::NotFound("no such configuration".into()));
    }
    let v = db::fetch_config_fast(&state.pool, &ctx, &key)
        .await
        .map_err(|e| AppError::from_db(e, !ctx.is_authenticated()))?
        .ok_or_else(|| AppError::NotFound(format!("no configuration named {key}")))?;
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|h| h.to_str().ok())
    {
        let hit = inm
            .split(',')
            .any(|t| t.trim() == "*" || parse_etag(t) == Some(v.version));
        if hit {
            let mut resp = StatusCode::NOT_MODIFIED.into_response();
            resp.headers_mut().insert(header::ETAG, etag(v.version));
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            return Ok(resp);
        }
    }
    Ok(config_response(&v))
}

/// Body of `PUT /v1/configs/{key}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PutConfig {
    /// The new document.
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
    /// Why (stored in the history).
    #[serde(default)]
    pub reason: Option<String>,
    /// Refuse with 409 unless the current version is this one (or use `If-Match: "N"`).
    #[serde(default)]
    pub expected_version: Option<i64>,
    /// Record the document even if it equals the current one (otherwise 409 `no_change`).
    #[serde(default)]
    pub force: bool,
}

fn invalid(e: &sourcegate::config::ConfigError) -> AppError {
    AppError::InvalidConfig {
        message: e.to_string(),
        field: e.field().map(str::to_owned),
    }
}

/// The write-time checks of a change, before the database applies the same ones in SQL
/// (`app_private.validate_config`, `update_app_config`): the reason's length
/// ([`sourcegate::config::validate_reason`], 1 KiB) and, for `marketplace_source`,
/// [`sourcegate::config::validate_for_write`], private hosts allowed only with
/// `--allow-private-origins`.
fn validate_document(
    state: &AppState,
    key: &str,
    value: &serde_json::Value,
    reason: Option<&str>,
) -> Result<(), AppError> {
    if let Some(r) = reason {
        sourcegate::config::validate_reason(r).map_err(|e| invalid(&e))?;
    }
    if key == "marketplace_source" {
        let rules = sourcegate::config::WriteRules {
            allow_private_hosts: state.settings.allow_private_origins,
        };
        sourcegate::config::validate_for_write(value, rules).map_err(|e| invalid(&e))?;
    }
    Ok(())
}

pub(crate) async fn admin_tx(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(AuthContext, sqlx::Transaction<'static, sqlx::Postgres>), AppError> {
    let ctx = authenticate(state, headers)?;
    require_token(&ctx)?;
    let mut tx = db::begin_as(&state.pool, &ctx)
        .await
        .map_err(|e| AppError::from_db(e, false))?;
    if !db::is_admin(&mut tx)
        .await
        .map_err(|e| AppError::from_db(e, false))?
    {
        return Err(AppError::Forbidden);
    }
    Ok((ctx, tx))
}

/// `PUT /v1/configs/{key}` (admin).
#[utoipa::path(put, path = "/v1/configs/{key}", request_body = PutConfig,
    params(("key" = String, Path, description = "configuration key")),
    responses((status = 200, body = ConfigView), (status = 401), (status = 403),
               (status = 409), (status = 422)))]
pub(crate) async fn put_config(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Result<Json<PutConfig>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, AppError> {
    let (_ctx, mut tx) = admin_tx(&state, &headers).await?;
    let Json(body) = body.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let if_match = match headers.get(header::IF_MATCH) {
        Some(h) => Some(
            h.to_str()
                .ok()
                .and_then(parse_etag)
                .ok_or_else(|| AppError::BadRequest("If-Match must be a quoted version".into()))?,
        ),
        None => None,
    };
    let expected = body.expected_version.or(if_match);
    validate_document(&state, &key, &body.value, body.reason.as_deref())?;
    let v = db::update_config(
        &mut tx,
        &key,
        &body.value,
        body.reason.as_deref(),
        expected,
        body.force,
    )
    .await
    .map_err(|e| AppError::from_db(e, false))?;
    tx.commit().await.map_err(|e| AppError::from_db(e, false))?;
    tracing::info!(%key, version = v.version, "configuration updated");
    Ok(config_response(&v))
}

/// Query of `GET /v1/configs/{key}/history`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct HistoryQuery {
    /// Maximum entries (1..=1000, default 50).
    pub limit: Option<i64>,
}

/// Answer of `GET /v1/configs/{key}/history`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    /// Entries, newest first.
    pub items: Vec<HistoryItem>,
}

/// `GET /v1/configs/{key}/history` (admin).
#[utoipa::path(get, path = "/v1/configs/{key}/history",
    params(("key" = String, Path, description = "configuration key"), HistoryQuery),
    responses((status = 200, body = HistoryPage), (status = 401), (status = 403)))]
pub(crate) async fn history(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<HistoryQuery>,
    headers: HeaderMap,
) -> Result<Json<HistoryPage>, AppError> {
    let (_ctx, mut tx) = admin_tx(&state, &headers).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let items = db::history(&mut tx, &key, limit)
        .await
        .map_err(|e| AppError::from_db(e, false))?;
    tx.commit().await.map_err(|e| AppError::from_db(e, false))?;
    Ok(Json(HistoryPage { items }))
}

/// Body of `POST /v1/configs/{key}/rollback`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    /// The version whose document becomes current again (as a new version).
    pub to_version: i64,
    /// Why (default: `rollback to version N`).
    #[serde(default)]
    pub reason: Option<String>,
    /// Refuse with 409 unless the current version is this one.
    #[serde(default)]
    pub expected_version: Option<i64>,
    /// Roll back even if that version's document equals the current one (otherwise 409 `no_change`).
    #[serde(default)]
    pub force: bool,
}

/// `POST /v1/configs/{key}/rollback` (admin).
#[utoipa::path(post, path = "/v1/configs/{key}/rollback", request_body = Rollback,
    params(("key" = String, Path, description = "configuration key")),
    responses((status = 200, body = ConfigView), (status = 404), (status = 409)))]
pub(crate) async fn rollback(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Rollback>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, AppError> {
    let (_ctx, mut tx) = admin_tx(&state, &headers).await?;
    let Json(body) = body.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let value = db::value_at_version(&mut tx, &key, body.to_version)
        .await
        .map_err(|e| AppError::from_db(e, false))?
        .ok_or_else(|| AppError::NotFound(format!("{key} has no version {}", body.to_version)))?;
    let reason = body
        .reason
        .unwrap_or_else(|| format!("rollback to version {}", body.to_version));
    validate_document(&state, &key, &value, Some(&reason))?;
    let v = db::update_config(
        &mut tx,
        &key,
        &value,
        Some(&reason),
        body.expected_version,
        body.force,
    )
    .await
    .map_err(|e| AppError::from_db(e, false))?;
    tx.commit().await.map_err(|e| AppError::from_db(e, false))?;
    tracing::info!(%key, to = body.to_version, version = v.version, "configuration rolled back");
    Ok(config_response(&v))
}

fn sse_event(v: &ConfigView) -> Event {
    Event::default()
        .id(v.version.to_string())
        .event("config")
        .data(serde_json::to_string(v).unwrap_or_default())
}

struct SseState {
    rx: broadcast::Receiver<Arc<ConfigView>>,
    stop: tokio::sync::watch::Receiver<bool>,
    pending: Option<Event>,
    last: i64,
    key: String,
    state: AppState,
}

/// `GET /v1/configs/{key}/events` (Server-Sent Events).
#[utoipa::path(get, path = "/v1/configs/{key}/events",
    params(("key" = String, Path, description = "configuration key"),
           ("Last-Event-ID" = Option<i64>, Header, description = "last version seen")),
    responses((status = 200, description = "text/event-stream of `config` events")))]
pub(crate) async fn events(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let ctx = authenticate(&state, &headers)?;
    // Subscribe before reading, so a change committed in between is not missed.
    let rx = state.hub.subscribe();
    let mut tx = db::begin_as(&state.pool, &ctx)
        .await
        .map_err(|e| AppError::from_db(e, !ctx.is_authenticated()))?;
    let current = db::fetch_config(&mut tx, &key)
        .await
        .map_err(|e| AppError::from_db(e, !ctx.is_authenticated()))?
        .ok_or_else(|| AppError::NotFound(format!("no configuration named {key}")))?;
    tx.commit().await.map_err(|e| AppError::from_db(e, false))?;
    let last_seen = headers
        .get("last-event-id")
        .and_then(|h| h.to_str().ok())
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(i64::MIN);
    let (pending, last) = if current.version > last_seen {
        (Some(sse_event(&current)), current.version)
    } else {
        (None, last_seen)
    };
    let heartbeat = Duration::from_secs(state.settings.sse_heartbeat_secs.max(1));
    let init = SseState {
        rx,
        stop: state.shutdown.clone(),
        pending,
        last,
        key,
        state,
    };
    let stream = futures_util::stream::unfold(init, |mut st| async move {
        if let Some(ev) = st.pending.take() {
            return Some((Ok(ev), st));
        }
        loop {
            let received = tokio::select! {
                r = st.rx.recv() => r,
                _ = st.stop.wait_for(|stop| *stop) => return None,
            };
            match received {
                Ok(v) => {
                    if v.key == st.key && v.version > st.last {
                        st.last = v.version;
                        return Some((Ok(sse_event(&v)), st));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Ok(Some(v)) = db::fetch_config_public(&st.state.pool, &st.key).await
                        && v.version > st.last
                    {
                        st.last = v.version;
                        return Some((Ok(sse_event(&v)), st));
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(heartbeat)))
}

/// `POST /v1/origins/test` (admin): the seed's "Tester" button. Admin-only, so the service is
/// not an open fetch proxy; the target is validated (SSRF guard) before any request is made.
#[utoipa::path(post, path = "/v1/origins/test", request_body = OriginTestRequest,
    responses((status = 200, body = OriginTestResult), (status = 400), (status = 401),
               (status = 403)))]
pub(crate) async fn test_origin(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<OriginTestRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<OriginTestResult>, AppError> {
    // The admin check is PostgreSQL's (RLS helper `is_admin()`), as for every admin call.
    let (_ctx, tx) = admin_tx(&state, &headers).await?;
    drop(tx);
    let Json(body) = body.map_err(|e| AppError::BadRequest(e.body_text()))?;
    origins::probe(&body.url, state.settings.allow_private_origins)
        .await
        .map(Json)
}
