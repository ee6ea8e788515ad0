//! Fleet views for the admin console: origin health probed by the control plane itself, and
//! usage telemetry reported by resolvers.
//!
//! | Route | Who | Answer |
//! |---|---|---|
//! | `GET /v1/origins/health` | anyone; more with an admin token | without one (or with a non-admin token): [`PublicHealthView`], per origin `origin`, `url`, `healthy`, `ejected`, `rateLimited`; with an admin token: [`HealthView`], adding errors, latency, check times and counts; 401 `unauthorized` for an invalid token |
//! | `POST /v1/telemetry` | anyone (apps have no token), own per-IP rate limit | 204; 400 `bad_request`, 413 `payload_too_large`, 429 `rate_limited` |
//! | `GET /v1/telemetry/summary?minutes=N` | admin | [`Summary`] |
//!
//! **Health** uses the resolver's own health-check code, not a copy: the control plane holds
//! one [`sourcegate::probe::Prober`] (HTTP checks, default path `community-plugins.json`),
//! makes it follow every new `marketplace_source` document (at start and on each change from
//! the [`crate::events::EventHub`]) and serves [`sourcegate::probe::Prober::health`]. Probes
//! follow the document's `healthCheck` settings.
//! Every probe goes through the [outbound guard](crate::guard) (`AppState::guard`): names are
//! resolved and checked by it, IP literals are checked before connecting, redirects are not
//! followed and proxy variables are ignored, so an origin URL naming a private, loopback or
//! metadata address is never connected to (unless `--allow-private-origins`). Such an origin is
//! shown unhealthy, and to admins with the error `refused by the outbound guard: …`. Error
//! texts and timings are admin-only: they would tell an anonymous caller what answers where.
//!
//! **Telemetry** is aggregated in memory by [`crate::telemetry::Batch`], per process
//! (replicas each hold what they received; a restart starts empty). The body is trusted for
//! its counters only: the minute is the server's, and nothing in it is echoed or stored
//! elsewhere.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sourcegate::config::{MarketplaceConfig, OriginKind};
use sourcegate::health::OriginHealth;
use sourcegate::probe::Prober;
use tokio::sync::broadcast;

use crate::AppState;
use crate::error::AppError;
use crate::guard::OutboundGuard;
use crate::settings::Settings;
use crate::telemetry::{Batch, Drained, Summary, TelemetryReport};

/// Largest accepted `POST /v1/telemetry` body, bytes (larger: 413 `payload_too_large`).
pub const TELEMETRY_MAX_BYTES: usize = 8 * 1024;

/// The configuration key whose origins are probed (the wire contract's).
pub use sourcegate_contract::CONFIG_KEY;

/// Git base used when the current document names none (the seed's repository).
const DEFAULT_GIT_URL: &str =
    "https://raw.githubusercontent.com/obsidianmd/obsidian-releases/HEAD/";

use crate::Limiter;

/// Fleet state shared by the handlers (inside [`AppState`]).
pub struct Fleet {
    /// Reports since the last flush (`crate::fleet_store`). A std mutex: held for a few
    /// microseconds, never across an `.await`.
    batch: Mutex<Batch>,
    /// One flush at a time (the background task's and a summary's).
    pub(crate) flush_lock: tokio::sync::Mutex<()>,
    /// What this replica's autopilot decider is doing.
    autopilot: Mutex<crate::decider::Status>,
    limiter: Option<Arc<Limiter>>,
    /// Set once by [`run_health_watcher`] after it read the current document.
    probe: OnceLock<Prober>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet").finish_non_exhaustive()
    }
}

impl Fleet {
    /// Empty fleet state; the telemetry rate limiter follows `settings`
    /// (`telemetry_rate_per_sec`, 0 = none). Spawns the limiter's cleanup task when called
    /// inside a tokio runtime.
    pub fn new(settings: &Settings) -> Fleet {
        let limiter = crate::keyed_limiter(
            settings.telemetry_rate_per_sec,
            settings.telemetry_rate_burst,
        );
        Fleet {
            batch: Mutex::new(Batch::new(u64::from(settings.telemetry_minute_secs))),
            flush_lock: tokio::sync::Mutex::new(()),
            autopilot: Mutex::new(crate::decider::Status::default()),
            limiter,
            probe: OnceLock::new(),
        }
    }

    /// The prober, once the watcher has built it.
    pub fn probe(&self) -> Option<&Prober> {
        self.probe.get()
    }

    /// What this replica's autopilot decider is doing.
    pub fn autopilot_status(&self) -> crate::decider::Status {
        match self.autopilot.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Updates the decider's status.
    pub(crate) fn set_autopilot(&self, f: impl FnOnce(&mut crate::decider::Status)) {
        match self.autopilot.lock() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Takes the reports received since the last flush.
    pub(crate) fn take_batch(&self) -> Drained {
        match self.batch.lock() {
            Ok(mut b) => b.take(),
            Err(p) => p.into_inner().take(),
        }
    }

    /// Puts back a batch whose flush failed.
    pub(crate) fn restore_batch(&self, d: Drained) {
        match self.batch.lock() {
            Ok(mut b) => b.restore(d),
            Err(p) => p.into_inner().restore(d),
        }
    }
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Makes the prober follow `view` (a `marketplace_source` row), with the row's version as the
/// document version (monotonic, so rollbacks are not refused); a row older than the document
/// followed is ignored, an invalid one refused with a warning.
fn install(prober: &Prober, view: &crate::db::ConfigView) {
    let mut value = view.value.clone();
    if let Some(obj) = value.as_object_mut() {
        obj.insert("version".into(), view.version.into());
    }
    match MarketplaceConfig::from_value(&value) {
        Ok(c) if c.version < prober.version() => {}
        Ok(c) => {
            prober.follow(&c);
            tracing::debug!(version = view.version, "health probes follow new document");
        }
        Err(e) => tracing::warn!(error = %e, "health probes: document refused"),
    }
}

/// Longest [`precheck`] waits for one origin's DNS answer.
const PRECHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Checks every origin the probes now follow with the guard, so that a refused origin shows as
/// such in the health view before its first probe (the probes themselves are refused by the
/// guarded client; this only records the verdict early).
async fn precheck(guard: &OutboundGuard, prober: &Prober) {
    for origin in prober.health() {
        if let Ok(url) = url::Url::parse(&origin.url) {
            // Bounded: a slow DNS answer must not hold up the next document's install.
            let _ = tokio::time::timeout(PRECHECK_TIMEOUT, guard.check_url(&url)).await;
        }
    }
}

/// The HTTP client of the probes: the guard's ([`OutboundGuard::client_builder`]) with the
/// resolver's default 5 s connect timeout.
fn probe_client(guard: &Arc<OutboundGuard>) -> reqwest::Result<reqwest::Client> {
    guard
        .client_builder()
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!(
            "sourcegate-control-plane/",
            env!("CARGO_PKG_VERSION"),
            " (health probe)"
        ))
        .build()
}

/// Builds the prober from the current document and keeps it in step with every change. Runs until aborted ([`crate::Server`] does on shutdown); retries the first read
/// every second while the database is unreachable.
pub async fn run_health_watcher(state: AppState) {
    // Subscribe before reading, so a change committed in between is not missed.
    let mut rx = state.hub.subscribe();
    let current = loop {
        match crate::db::fetch_config_public(&state.pool, CONFIG_KEY).await {
            Ok(v) => break v,
            Err(e) => {
                tracing::warn!(error = %e, "health watcher: cannot read the configuration; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let git = current
        .as_ref()
        .and_then(|v| v.value.get("gitUrl"))
        .and_then(|u| u.as_str())
        .and_then(|u| url::Url::parse(u).ok())
        .or_else(|| url::Url::parse(DEFAULT_GIT_URL).ok());
    let Some(git) = git else { return };
    let client = match probe_client(&state.guard) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "health watcher: cannot build the guarded HTTP client");
            return;
        }
    };
    let prober = match Prober::builder()
        .http_client(client)
        .default_path("community-plugins.json")
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "health watcher: cannot build the prober");
            return;
        }
    };
    // Until a document is read, probe the built-in default (Git mode on that URL, version 0).
    prober.follow(&MarketplaceConfig::default_git(git));
    if let Some(v) = &current {
        install(&prober, v);
    }
    precheck(&state.guard, &prober).await;
    if state.fleet.probe.set(prober).is_err() {
        return;
    }
    let Some(prober) = state.fleet.probe() else {
        return;
    };
    loop {
        match rx.recv().await {
            Ok(v) if v.key == CONFIG_KEY => {
                install(prober, &v);
                precheck(&state.guard, prober).await;
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {
                if let Ok(Some(v)) = crate::db::fetch_config_public(&state.pool, CONFIG_KEY).await {
                    install(prober, &v);
                    precheck(&state.guard, prober).await;
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Answer of `GET /v1/origins/health` to an admin.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthView {
    /// Version of the document the probes follow (0 before the first one).
    pub version: u64,
    /// One entry per configured origin, Git first: `origin`, `url`, `healthy`, `ejected`,
    /// `rateLimited`, `rateLimitedForSecs`, `lastCheck` (RFC 3339, null before the first
    /// probe), `responseTimeMs`, `lastError`, `checks` (the resolver's `OriginHealth`). An
    /// origin refused by the outbound guard is `healthy: false` with `lastError` starting
    /// `refused by the outbound guard`.
    #[schema(value_type = Vec<Object>)]
    pub origins: Vec<OriginHealth>,
}

/// Answer of `GET /v1/origins/health` without an admin token: the verdicts only.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicHealthView {
    /// Version of the document the probes follow (0 before the first one).
    pub version: u64,
    /// One entry per configured origin, Git first.
    pub origins: Vec<PublicOriginHealth>,
}

/// One origin in [`PublicHealthView`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicOriginHealth {
    /// `git` or `cdn`.
    #[schema(value_type = String)]
    pub origin: OriginKind,
    /// The origin's base URL.
    pub url: String,
    /// Active health verdict (`false` when the outbound guard refuses the origin).
    pub healthy: bool,
    /// Ejected by outlier detection right now.
    pub ejected: bool,
    /// Rate-limited right now.
    pub rate_limited: bool,
}

impl From<OriginHealth> for PublicOriginHealth {
    fn from(h: OriginHealth) -> Self {
        PublicOriginHealth {
            origin: h.origin,
            url: h.url,
            healthy: h.healthy,
            ejected: h.ejected,
            rate_limited: h.rate_limited,
        }
    }
}

/// Whether the caller of a read that is public but shows more to admins is an admin: no token
/// (or the anon key) is not; an invalid token is refused; a valid one is asked to PostgreSQL
/// (`is_admin()`, as every admin call).
async fn caller_is_admin(state: &AppState, headers: &HeaderMap) -> Result<bool, AppError> {
    let ctx = crate::auth::from_headers(&state.jwt_secret, headers)
        .map_err(|e| AppError::Unauthorized(e.to_string()))?;
    if !ctx.has_token || !ctx.is_authenticated() {
        return Ok(false);
    }
    match crate::api::admin_tx(state, headers).await {
        Ok((_ctx, tx)) => {
            drop(tx);
            Ok(true)
        }
        Err(AppError::Forbidden) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The prober's health with the guard's verdicts applied: an origin whose host the guard
/// refused last time is unhealthy, with the refusal as its error.
fn guarded_health(prober: &Prober, guard: &OutboundGuard) -> Vec<OriginHealth> {
    let mut origins = prober.health();
    for h in &mut origins {
        let refusal = url::Url::parse(&h.url)
            .ok()
            .and_then(|u| u.host_str().and_then(|host| guard.refusal(host)));
        if let Some(reason) = refusal {
            h.healthy = false;
            h.last_error = Some(reason);
        }
    }
    origins
}

/// `GET /v1/origins/health`: the control plane's own probes of the configured origins
/// ([`PublicHealthView`] for anyone, [`HealthView`] for an admin); 404 `not_found` when the
/// probes are off (`--origin-probes false`), 503 `unavailable` before they have started.
#[utoipa::path(get, path = "/v1/origins/health", security((), ("bearer" = []), ("apikey" = [])),
    responses(
        (status = 200, description = "origin verdicts; an admin's token adds `rateLimitedForSecs`, `lastCheck`, `responseTimeMs`, `lastError`, `checks` to each origin (HealthView)",
         body = PublicHealthView),
        crate::openapi::Unauthorized,
        crate::openapi::RateLimited,
        (status = 404, description = "origin health checks are off on this control plane (`not_found`)", body = crate::error::ErrorSchema),
        (status = 503, description = "probes not started yet (`unavailable`)", body = crate::error::ErrorSchema)))]
pub(crate) async fn origins_health(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let admin = caller_is_admin(&state, &headers).await?;
    if !state.settings.origin_probes {
        // Nothing is probed: the resource does not exist here (the console says so on 404).
        return Err(AppError::NotFound(
            "origin health checks are off on this control plane (--origin-probes false)".into(),
        ));
    }
    let prober = state.fleet.probe().ok_or(AppError::Unavailable)?;
    let version = prober.version();
    let origins = guarded_health(prober, &state.guard);
    let mut resp = if admin {
        Json(HealthView { version, origins }).into_response()
    } else {
        Json(PublicHealthView {
            version,
            origins: origins.into_iter().map(Into::into).collect(),
        })
        .into_response()
    };
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

/// `POST /v1/telemetry` (no auth): one resolver's counters since its previous report
/// (body: [`TelemetryReport`], at most [`TELEMETRY_MAX_BYTES`]).
#[utoipa::path(post, path = "/v1/telemetry", security(()),
    request_body(content = Object, content_type = "application/json", description = "TelemetryReport: installHash (64 hex), configVersion, mode, sdk, intervalSecs, origins.{git,cdn}.{requests,failures,rateLimited}, fallbacks, errors, latencyMs.{p50,p99,mean}; counts are deltas"),
    responses(
        (status = 204, description = "accepted"),
        crate::openapi::BadRequest,
        crate::openapi::PayloadTooLarge,
        crate::openapi::UnsupportedMediaType,
        crate::openapi::RateLimited))]
pub(crate) async fn post_telemetry(
    State(state): State<AppState>,
    extensions: Extensions,
    body: Result<crate::extract::Json<TelemetryReport>, AppError>,
) -> Result<StatusCode, AppError> {
    // The limiter runs before the body's verdict, so malformed reports count against it too.
    if let Some(limiter) = &state.fleet.limiter {
        let ip = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        crate::ratelimit::check(limiter, ip)?;
    }
    let crate::extract::Json(report) = body.map_err(|e| match e {
        AppError::PayloadTooLarge { .. } => AppError::PayloadTooLarge {
            limit: TELEMETRY_MAX_BYTES,
        },
        AppError::BadRequest(m) => AppError::BadRequest(format!("invalid telemetry report: {m}")),
        other => other,
    })?;
    crate::telemetry::validate(&report).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let now = now_unix();
    match state.fleet.batch.lock() {
        Ok(mut a) => a.record(&report, now),
        Err(_) => return Err(AppError::Internal("telemetry batch poisoned".into())),
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /v1/telemetry/summary`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// Minutes to return, ending with the current one (1..=120, default 60).
    pub minutes: Option<i64>,
}

/// `GET /v1/telemetry/summary?minutes=N` (admin): per-minute, per-origin fleet counts and the
/// installs per mode and version, read from the persisted fleet telemetry (every replica's
/// reports, kept across restarts; this replica's pending batch is flushed first).
#[utoipa::path(get, path = "/v1/telemetry/summary", params(SummaryQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "per-minute, per-origin fleet counts", body = Summary),
        crate::openapi::BadRequest,
        crate::openapi::AdminReadErrors))]
pub(crate) async fn telemetry_summary(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<crate::extract::Query<SummaryQuery>, AppError>,
) -> Result<Json<Summary>, AppError> {
    let (_ctx, tx) = crate::api::admin_tx(&state, &headers).await?;
    drop(tx);
    let crate::extract::Query(q) = query?;
    let n = q
        .minutes
        .unwrap_or(60)
        .clamp(1, crate::telemetry::RETENTION_MINUTES);
    // This replica's own reports first, so that it always shows them.
    crate::fleet_store::flush_now(&state)
        .await
        .map_err(|e| AppError::from_db(e, false))?;
    let secs = state.settings.minute_secs();
    let now = now_unix();
    let current = now.div_euclid(secs);
    let buckets = crate::fleet_store::fleet_minutes(&state.pool, current - n + 1, current, secs)
        .await
        .map_err(|e| AppError::from_db(e, false))?;
    let since = (current - crate::telemetry::RETENTION_MINUTES + 1) * secs;
    let installs = crate::fleet_store::installs(&state.pool, since)
        .await
        .map_err(|e| AppError::from_db(e, false))?;
    Ok(Json(Summary {
        minutes: crate::telemetry::minutes(&buckets, n, current, secs),
        installs,
        minute_secs: u64::from(state.settings.telemetry_minute_secs.max(1)),
    }))
}
