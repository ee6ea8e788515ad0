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
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::watch;

use crate::AppState;
use crate::auth::{self, AuthContext};
use crate::db::{self, ConfigView};
use crate::error::AppError;
use crate::extract;
use crate::origins::{self, OriginTestRequest, OriginTestResult};
use crate::snapshot::{Snapshot, sse_frame};

/// The wire shapes of the history page and of one Server-Sent Event (the contract crate).
pub use sourcegate_contract::{HistoryPage, PutConfig, Rollback, SseEvent, WriteTerms};

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<AuthContext, AppError> {
    state
        .verifier
        .from_headers(headers)
        .await
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

/// Whether `Accept-Encoding` admits gzip (a `gzip`/`x-gzip` coding, or `*`, whose `q` is not 0;
/// RFC 9110 section 12.5.3).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .or_else(|| p.strip_prefix("Q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            !q_zero
                && (coding.eq_ignore_ascii_case("gzip")
                    || coding.eq_ignore_ascii_case("x-gzip")
                    || coding == "*")
        })
}

/// Whether `If-None-Match` names `version` (or is `*`).
fn not_modified(headers: &HeaderMap, version: i64) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|inm| {
            inm.split(',')
                .any(|t| t.trim() == "*" || parse_etag(t) == Some(version))
        })
}

fn not_modified_response(etag: HeaderValue) -> Response {
    let mut resp = StatusCode::NOT_MODIFIED.into_response();
    let h = resp.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    resp
}

/// The answer of `GET /v1/configs/{key}` from a snapshot: no allocation but the response.
fn snapshot_response(snap: &Snapshot, headers: &HeaderMap) -> Response {
    if not_modified(headers, snap.version()) {
        return not_modified_response(snap.etag.clone());
    }
    let gzip = !snap.gzip.is_empty() && accepts_gzip(headers);
    let body = if gzip {
        snap.gzip.clone()
    } else {
        snap.json.clone()
    };
    let mut resp = Response::new(axum::body::Body::from(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::ETAG, snap.etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp
}

/// `GET /v1/configs/{key}`: from the in-memory snapshot when the caller's role reads
/// `app_config` without restriction ([`crate::snapshot`]), else from the database as that role.
#[utoipa::path(get, path = "/v1/configs/{key}", security((), ("bearer" = []), ("apikey" = [])),
    params(("key" = String, Path, description = "configuration key, e.g. marketplace_source"),
           ("If-None-Match" = Option<String>, Header, description = "ETag of the copy held (`\"N\"`, the version); 304 when current")),
    responses(
        (status = 200, description = "the current version; `ETag: \"N\"`", body = crate::db::ConfigView,
         headers(("ETag" = String, description = "the version, quoted"))),
        (status = 304, description = "the copy named by If-None-Match is current"),
        crate::openapi::ReadErrors))]
pub(crate) async fn get_config(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    read_config(&state, &key, &headers).await
}

/// The caller of a read of `key` (`GET`, its event stream): the verified token's identity; 404
/// `not_found` for a key no configuration can have (it holds a NUL).
async fn reader(state: &AppState, key: &str, headers: &HeaderMap) -> Result<AuthContext, AppError> {
    let ctx = authenticate(state, headers).await?;
    if key.contains('\0') {
        return Err(AppError::NotFound("no such configuration".into()));
    }
    Ok(ctx)
}

/// 404 `not_found` for `key`.
fn no_such(key: &str) -> AppError {
    AppError::NotFound(format!("no configuration named {key}"))
}

/// The answer of `GET /v1/configs/{key}` (`key` already percent-decoded): shared by the route
/// above and by [`crate::snapshot_reads`], which calls it before the router.
///
/// # Errors
/// 401 `unauthorized` for a token that does not verify; 404 `not_found` for an unknown key;
/// the database errors of [`AppError::from_db`] when the caller's role is not served from the
/// snapshot.
pub(crate) async fn read_config(
    state: &AppState,
    key: &str,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let ctx = reader(state, key, headers).await?;
    let store = state.hub.store();
    if store.serves(ctx.role) {
        let snap = store.get(key).ok_or_else(|| no_such(key))?;
        return Ok(snapshot_response(&snap, headers));
    }
    let v = db::fetch_config_fast(&state.pool, &ctx, key)
        .await
        .map_err(|e| AppError::from_db(e, !ctx.is_authenticated()))?
        .ok_or_else(|| no_such(key))?;
    if not_modified(headers, v.version) {
        return Ok(not_modified_response(etag(v.version)));
    }
    Ok(config_response(&v))
}

fn invalid(e: &sourcegate::config::ConfigError) -> AppError {
    AppError::InvalidConfig {
        message: e.to_string(),
        field: e.field().map(str::to_owned),
    }
}

/// The autopilot's policy document (`crate::autopilot`), validated on write like
/// `marketplace_source`.
pub const AUTOPILOT_KEY: &str = "autopilot";

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
    if key == sourcegate_contract::CONFIG_KEY {
        let rules = sourcegate::config::WriteRules {
            allow_private_hosts: state.settings.allow_private_origins,
        };
        sourcegate::config::validate_for_write(value, rules).map_err(|e| invalid(&e))?;
    }
    if key == AUTOPILOT_KEY {
        crate::autopilot::Policy::from_value(value).map_err(|e| AppError::InvalidConfig {
            message: e.to_string(),
            field: Some(e.field.to_owned()),
        })?;
    }
    Ok(())
}

pub(crate) async fn admin_tx(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(AuthContext, sqlx::Transaction<'static, sqlx::Postgres>), AppError> {
    let ctx = authenticate(state, headers).await?;
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

/// Validates `value` as the document of `key`, writes it as a new version in `tx` (the
/// caller's admin transaction: RLS, the expected-version and no-op checks run in the database),
/// commits, and refreshes the in-memory snapshot so readers and SSE streams see it at once.
///
/// # Errors
/// 422 `invalid_config` before any write; the database's refusals classified by
/// [`AppError::from_db`] (409 `version_conflict` / `no_change`, 403, 503).
async fn store(
    state: &AppState,
    mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
    key: &str,
    value: &serde_json::Value,
    terms: &WriteTerms,
) -> Result<db::ConfigView, AppError> {
    let reason = terms.reason.as_deref();
    validate_document(state, key, value, reason)?;
    let v = db::update_config(
        &mut tx,
        key,
        value,
        reason,
        terms.expected_version,
        terms.force,
    )
    .await
    .map_err(|e| AppError::from_db(e, false))?;
    tx.commit().await.map_err(|e| AppError::from_db(e, false))?;
    state.hub.refresh_key(&state.pool, key).await;
    Ok(v)
}

/// The prologue of both admin writes: an admin's transaction ([`admin_tx`]), then the key and
/// the JSON body (their extraction errors, in that order), neither holding a NUL
/// (`bad_request`: PostgreSQL text cannot store one). `terms` reads the body's [`WriteTerms`].
async fn admin_write<T>(
    state: &AppState,
    headers: &HeaderMap,
    path: Result<extract::Path<String>, AppError>,
    body: Result<extract::Json<T>, AppError>,
    terms: impl Fn(&T) -> &WriteTerms,
) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, String, T), AppError> {
    let (_ctx, tx) = admin_tx(state, headers).await?;
    let extract::Path(key) = path?;
    let extract::Json(body) = body?;
    extract::no_nul("key", &key)?;
    extract::no_nul("reason", terms(&body).reason.as_deref().unwrap_or_default())?;
    Ok((tx, key, body))
}

/// `PUT /v1/configs/{key}` (admin).
#[utoipa::path(put, path = "/v1/configs/{key}", request_body = PutConfig, security(("bearer" = [])),
    params(("key" = String, Path, description = "configuration key"),
           ("If-Match" = Option<String>, Header, description = "expected current ETag (`\"N\"`), as `expectedVersion`")),
    responses(
        (status = 200, description = "the new version", body = crate::db::ConfigView),
        crate::openapi::WriteErrors))]
pub(crate) async fn put_config(
    State(state): State<AppState>,
    path: Result<extract::Path<String>, AppError>,
    headers: HeaderMap,
    body: Result<extract::Json<PutConfig>, AppError>,
) -> Result<Response, AppError> {
    let (tx, key, mut body) =
        admin_write(&state, &headers, path, body, |b: &PutConfig| &b.terms).await?;
    let if_match = match headers.get(header::IF_MATCH) {
        Some(h) => Some(
            h.to_str()
                .ok()
                .and_then(parse_etag)
                .ok_or_else(|| AppError::BadRequest("If-Match must be a quoted version".into()))?,
        ),
        None => None,
    };
    body.terms.expected_version = body.terms.expected_version.or(if_match);
    let v = store(&state, tx, &key, &body.value, &body.terms).await?;
    tracing::info!(%key, version = v.version, "configuration updated");
    Ok(config_response(&v))
}

/// Query of `GET /v1/configs/{key}/history`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Maximum entries (1..=1000, default 50).
    pub limit: Option<i64>,
}

/// `GET /v1/configs/{key}/history` (admin): the append-only audit log, who/when/what
/// (`docs/seed.md`, S12).
#[utoipa::path(get, path = "/v1/configs/{key}/history", security(("bearer" = [])),
    params(("key" = String, Path, description = "configuration key"), HistoryQuery),
    responses(
        (status = 200, description = "audit log entries, newest first", body = HistoryPage),
        crate::openapi::BadRequest,
        crate::openapi::AdminReadErrors))]
pub(crate) async fn history(
    State(state): State<AppState>,
    path: Result<extract::Path<String>, AppError>,
    query: Result<extract::Query<HistoryQuery>, AppError>,
    headers: HeaderMap,
) -> Result<Json<HistoryPage>, AppError> {
    let (_ctx, mut tx) = admin_tx(&state, &headers).await?;
    let extract::Path(key) = path?;
    let extract::Query(q) = query?;
    extract::no_nul("key", &key)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let items = db::history(&mut tx, &key, limit)
        .await
        .map_err(|e| AppError::from_db(e, false))?;
    tx.commit().await.map_err(|e| AppError::from_db(e, false))?;
    Ok(Json(HistoryPage { items }))
}

/// `POST /v1/configs/{key}/rollback` (admin): an earlier document back as a new version, in
/// one action (`docs/seed.md`, S12, S14).
#[utoipa::path(post, path = "/v1/configs/{key}/rollback", request_body = Rollback, security(("bearer" = [])),
    params(("key" = String, Path, description = "configuration key")),
    responses(
        (status = 200, description = "the new version (the old document, re-recorded)", body = crate::db::ConfigView),
        crate::openapi::NotFound,
        crate::openapi::WriteErrors))]
pub(crate) async fn rollback(
    State(state): State<AppState>,
    path: Result<extract::Path<String>, AppError>,
    headers: HeaderMap,
    body: Result<extract::Json<Rollback>, AppError>,
) -> Result<Response, AppError> {
    let (mut tx, key, mut body) =
        admin_write(&state, &headers, path, body, |b: &Rollback| &b.terms).await?;
    let value = db::value_at_version(&mut tx, &key, body.to_version)
        .await
        .map_err(|e| AppError::from_db(e, false))?
        .ok_or_else(|| AppError::NotFound(format!("{key} has no version {}", body.to_version)))?;
    if body.terms.reason.is_none() {
        body.terms.reason = Some(format!("rollback to version {}", body.to_version));
    }
    let v = store(&state, tx, &key, &value, &body.terms).await?;
    tracing::info!(%key, to = body.to_version, version = v.version, "configuration rolled back");
    Ok(config_response(&v))
}

/// Counts an open SSE stream in `sourcegate_sse_streams_open` while alive.
pub(crate) struct OpenStream;

impl OpenStream {
    /// Counts one more open stream until dropped.
    pub(crate) fn new() -> OpenStream {
        metrics::gauge!("sourcegate_sse_streams_open").increment(1.0);
        OpenStream
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!("sourcegate_sse_streams_open").decrement(1.0);
    }
}

/// One SSE stream. Small on purpose (a few hundred bytes): it holds a `watch` receiver, which
/// sees only the latest version, so a slow client is sent the newest document, never a backlog,
/// and never delays the others (every stream shares the same pre-serialised frame).
struct SseStream {
    rx: watch::Receiver<Option<Arc<Snapshot>>>,
    stop: watch::Receiver<bool>,
    pending: Option<Bytes>,
    last: i64,
    heartbeat: tokio::time::Interval,
    _open: OpenStream,
}

/// Where an SSE stream of `GET /v1/configs/{key}/events` starts (see [`open_stream`]).
pub(crate) struct StreamStart {
    /// Follows the key's snapshots; sees only the latest version.
    pub(crate) rx: watch::Receiver<Option<Arc<Snapshot>>>,
    /// The first frame to send: the current version, unless `Last-Event-ID` already has it.
    pub(crate) pending: Option<Bytes>,
    /// The newest version the client has (sent, or named by `Last-Event-ID`).
    pub(crate) last: i64,
}

/// Authorizes an SSE request for `key` and reads its current version: from the snapshot when
/// the caller's role reads it without restriction, else from the database as that role. Shared
/// by [`events`] and the connection-level stream path ([`crate::stream_path`]).
///
/// # Errors
/// 401 for a bad token, 404 for an unknown key, 503 when the database is unreachable.
pub(crate) async fn open_stream(
    state: &AppState,
    key: &str,
    headers: &HeaderMap,
) -> Result<StreamStart, AppError> {
    let ctx = reader(state, key, headers).await?;
    let store = state.hub.store().clone();
    let (rx, current_version, current_frame) = if store.serves(ctx.role) {
        // Checked first so that an unknown key creates no channel.
        store.get(key).ok_or_else(|| no_such(key))?;
        let mut rx = store.watch(key);
        // Read through the receiver: whatever is installed after this line is "changed".
        let snap = rx.borrow_and_update().clone().ok_or_else(|| no_such(key))?;
        (rx, snap.version(), snap.sse.clone())
    } else {
        // Subscribe before reading, so a change committed in between is not missed.
        let rx = store.watch(key);
        let mut tx = db::begin_as(&state.pool, &ctx)
            .await
            .map_err(|e| AppError::from_db(e, !ctx.is_authenticated()))?;
        let current = db::fetch_config(&mut tx, key)
            .await
            .map_err(|e| AppError::from_db(e, !ctx.is_authenticated()))?
            .ok_or_else(|| no_such(key))?;
        tx.commit().await.map_err(|e| AppError::from_db(e, false))?;
        let json = serde_json::to_vec(&current).unwrap_or_default();
        (rx, current.version, sse_frame(current.version, &json))
    };
    let last_seen = headers
        .get("last-event-id")
        .and_then(|h| h.to_str().ok())
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(i64::MIN);
    Ok(if current_version > last_seen {
        StreamStart {
            rx,
            pending: Some(current_frame),
            last: current_version,
        }
    } else {
        StreamStart {
            rx,
            pending: None,
            last: last_seen,
        }
    })
}

/// `GET /v1/configs/{key}/events` (Server-Sent Events).
#[utoipa::path(get, path = "/v1/configs/{key}/events", security((), ("bearer" = []), ("apikey" = [])),
    params(("key" = String, Path, description = "configuration key"),
           ("Last-Event-ID" = Option<i64>, Header, description = "last version seen; newer versions are sent first")),
    responses(
        (status = 200, description = "Server-Sent Events: `event: config`, `id: N`, `data:` the ConfigView JSON; heartbeats as comments",
         content_type = "text/event-stream", body = SseEvent),
        crate::openapi::ReadErrors))]
pub(crate) async fn events(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let StreamStart { rx, pending, last } = open_stream(&state, &key, &headers).await?;
    let every = Duration::from_secs(state.settings.sse_heartbeat_secs.max(1));
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let init = SseStream {
        rx,
        stop: state.shutdown.clone(),
        pending,
        last,
        heartbeat,
        _open: OpenStream::new(),
    };
    let stream = futures_util::stream::unfold(init, |mut st| async move {
        if let Some(frame) = st.pending.take() {
            metrics::counter!("sourcegate_sse_events_sent_total").increment(1);
            return Some((Ok::<_, Infallible>(frame), st));
        }
        enum Wake {
            Changed(bool),
            Heartbeat,
            Stop,
        }
        loop {
            let wake = tokio::select! {
                changed = st.rx.changed() => Wake::Changed(changed.is_ok()),
                _ = st.heartbeat.tick() => Wake::Heartbeat,
                _ = st.stop.wait_for(|stop| *stop) => Wake::Stop,
            };
            match wake {
                // The key was deleted, or the service is stopping.
                Wake::Changed(false) | Wake::Stop => return None,
                Wake::Changed(true) => {
                    let snap = st.rx.borrow_and_update().clone();
                    if let Some(snap) = snap
                        && snap.version() > st.last
                    {
                        st.last = snap.version();
                        metrics::counter!("sourcegate_sse_events_sent_total").increment(1);
                        return Some((Ok(snap.sse.clone()), st));
                    }
                }
                // A comment line keeps proxies from closing an idle stream.
                Wake::Heartbeat => return Some((Ok(Bytes::from_static(b":\n\n")), st)),
            }
        }
    });
    let mut resp = Response::new(axum::body::Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(resp)
}

/// `POST /v1/origins/test` (admin): the seed's "Tester" button
/// (docs/seed.md, S13). Admin-only, so the service is
/// not an open fetch proxy; the target is validated (SSRF guard) before any request is made.
#[utoipa::path(post, path = "/v1/origins/test", request_body = OriginTestRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "what the origin answered (a failed fetch is `ok: false`, not an error)", body = OriginTestResult),
        (status = 400, description = "malformed body, or a target the outbound guard refuses (`forbidden_target`)", body = crate::error::ErrorSchema),
        crate::openapi::Unauthorized,
        crate::openapi::Forbidden,
        crate::openapi::PayloadTooLarge,
        crate::openapi::UnsupportedMediaType,
        crate::openapi::RateLimited,
        crate::openapi::Unavailable))]
pub(crate) async fn test_origin(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<extract::Json<OriginTestRequest>, AppError>,
) -> Result<Json<OriginTestResult>, AppError> {
    // The admin check is PostgreSQL's (RLS helper `is_admin()`), as for every admin call.
    let (_ctx, tx) = admin_tx(&state, &headers).await?;
    drop(tx);
    let extract::Json(body) = body?;
    origins::probe(&body.url, &state.guard).await.map(Json)
}

/// `GET /v1/modes`: the table of routing modes — id, label, the document's `type` and
/// `priority` — the `type` aliases and the origin labels, from the wire contract
/// ([`sourcegate_contract::mode::table`]). The admin console
/// builds its mode picker and labels from it instead of re-deriving the table. Public and the
/// same for every caller: `Cache-Control: public, max-age=3600`.
#[utoipa::path(get, path = "/v1/modes", security(()),
    responses(
        (status = 200, description = "every routing mode, in the order the console offers them", body = sourcegate_contract::ModeTable),
        crate::openapi::RateLimited))]
pub(crate) async fn modes() -> Response {
    let mut resp = Json(sourcegate_contract::mode::table()).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    resp
}

#[cfg(test)]
mod mode_table_tests {
    use super::*;

    #[tokio::test]
    async fn modes_serves_the_contract_table_with_a_cache_lifetime() {
        let resp = modes().await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()[header::CACHE_CONTROL],
            "public, max-age=3600"
        );
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let got: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            got,
            serde_json::to_value(sourcegate_contract::mode::table()).unwrap()
        );
        assert_eq!(got["modes"][3]["id"], "hybrid-git-cdn");
        assert_eq!(
            got["modes"][3]["priority"],
            serde_json::json!(["git", "cdn"])
        );
        assert_eq!(got["typeAliases"]["cloudflare"], "cdn");
    }
}
