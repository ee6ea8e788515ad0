#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
//! Sourcegate control plane: where admins flip the marketplace source.
//!
//! An axum service over PostgreSQL in which **the database decides who may do what**: each
//! request runs in one transaction as `anon`, `authenticated` or `service_role` (from a verified
//! Supabase-style JWT) with `request.jwt.claims` set, as PostgREST does, and the RLS policies and
//! SQL functions of `supabase/migrations` allow or refuse. Changes are versioned, audited in an
//! append-only history, and pushed to clients over Server-Sent Events via `LISTEN/NOTIFY`.
//!
//! # Layout
//! - [`settings`]: flags and environment variables;
//! - [`embedded`]: a private PostgreSQL cluster (default without `DATABASE_URL`; tests);
//! - [`db`]: migrations, per-request role transactions, queries;
//! - [`auth`]: JWT verification ([`auth::Verifier`]: HS256 secret, JWKS for ES256/RS256) and
//!   minting ([`auth::mint_token`]);
//! - [`api`]: the native `/v1` API (ETag, SSE, optimistic concurrency, history, rollback);
//! - [`rest`]: the PostgREST-compatible subset under `/rest/v1`;
//! - [`events`]: one `LISTEN` session keeping the snapshots current and fanning changes out;
//! - [`snapshot`]: the in-memory, pre-serialised configs that reads and SSE are served from;
//! - [`observability`]: Prometheus metrics and the client address behind trusted proxies;
//! - [`guard`]: the outbound guard (globally routable destinations only, no redirects, no
//!   proxies) of every request made on an admin's or a document's behalf;
//! - [`origins`]: `POST /v1/origins/test`, through the guard;
//! - [`fleet`]: `GET /v1/origins/health` (the resolver's probes) and `/v1/telemetry`;
//! - [`telemetry`]: the pure per-minute, per-origin aggregation of resolver reports;
//! - [`error`]: [`error::AppError`], the stable error codes;
//! - [`extract`]: extractors with JSON rejections, the body limit, the JSON error fallback.
//!
//! # Examples
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sourcegate_control_plane::{spawn, settings::Settings};
//! let server = spawn(Settings::default()).await?; // embedded PostgreSQL under .sourcegate/pg
//! println!("listening on http://{}", server.addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod api;
pub mod auth;
pub mod db;
pub mod embedded;
pub mod error;
pub mod events;
pub mod extract;
pub mod fleet;
pub mod guard;
pub mod observability;
pub mod openapi;
pub mod origins;
pub mod rest;
pub mod settings;
pub mod snapshot;
pub mod telemetry;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use governor::clock::{Clock as _, DefaultClock};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::embedded::{EmbeddedOptions, EmbeddedPostgres};
use crate::error::AppError;
use crate::events::EventHub;
use crate::settings::Settings;

type Limiter = governor::DefaultKeyedRateLimiter<IpAddr>;

/// A per-client-IP limiter admitting `per_sec` requests per second sustained with bursts of
/// `burst` (`burst` 0 means `per_sec`); `None` when `per_sec` is 0 (no limit). Inside a tokio
/// runtime it also spawns a task that forgets idle clients every minute, ending when the
/// limiter is dropped.
pub(crate) fn keyed_limiter(per_sec: u32, burst: u32) -> Option<Arc<Limiter>> {
    let per_sec = NonZeroU32::new(per_sec)?;
    let burst = NonZeroU32::new(burst).unwrap_or(per_sec);
    let limiter = Arc::new(Limiter::keyed(
        governor::Quota::per_second(per_sec).allow_burst(burst),
    ));
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let weak = Arc::downgrade(&limiter);
        rt.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(l) => l.retain_recent(),
                    None => break,
                }
            }
        });
    }
    Some(limiter)
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The request pool (authenticator role).
    pub pool: PgPool,
    /// HS256 secret of the JWTs (empty: HS256 tokens refused, JWKS only).
    pub jwt_secret: Arc<Vec<u8>>,
    /// Verifies tokens: the secret above, the JWKS of `settings.jwks_url`, the time rules.
    pub verifier: Arc<auth::Verifier>,
    /// Change fan-out.
    pub hub: EventHub,
    /// Settings the handlers read (origin-probe policy, heartbeat).
    pub settings: Arc<Settings>,
    /// Origin health probes and telemetry aggregation ([`fleet`]).
    pub fleet: Arc<fleet::Fleet>,
    /// The outbound guard of `/v1/origins/test` and the health probes ([`guard`]).
    pub guard: Arc<guard::OutboundGuard>,
    limiter: Option<Arc<Limiter>>,
    /// Flips to `true` on shutdown, ending SSE streams so graceful shutdown can finish.
    shutdown: watch::Receiver<bool>,
    shutdown_tx: Arc<watch::Sender<bool>>,
}

impl AppState {
    /// State over an existing request pool, for [`router`] (e.g. with
    /// `tower::ServiceExt::oneshot`, or to mount the API in another axum app).
    ///
    /// The rate limiter follows `settings`. No `LISTEN` task is started: run
    /// `state.hub.clone().run_listener(pool)` in a task for SSE to receive changes. Must be
    /// called inside a tokio runtime when rate limiting is on (a cleanup task is spawned).
    /// Tokens are verified by [`auth::Verifier::from_settings`] over `jwt_secret` (empty: no
    /// HS256); a key set is fetched when a token first needs it.
    pub fn new(pool: PgPool, jwt_secret: Vec<u8>, settings: Settings) -> AppState {
        let verifier = auth::Verifier::from_settings(Some(&jwt_secret), &settings);
        let limiter = keyed_limiter(settings.rate_limit_per_sec, settings.rate_limit_burst);
        let (tx, rx) = watch::channel(false);
        AppState {
            pool,
            jwt_secret: Arc::new(jwt_secret),
            verifier: Arc::new(verifier),
            hub: EventHub::new(1024),
            fleet: Arc::new(fleet::Fleet::new(&settings)),
            guard: Arc::new(guard::OutboundGuard::new(settings.allow_private_origins)),
            settings: Arc::new(settings),
            limiter,
            shutdown: rx,
            shutdown_tx: Arc::new(tx),
        }
    }

    /// Ends every open SSE stream (call before a graceful shutdown, which waits for them).
    pub fn close_streams(&self) {
        let _ = self.shutdown_tx.send(true);
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// Errors starting the service.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The embedded cluster could not be started.
    #[error(transparent)]
    Embedded(#[from] embedded::EmbeddedError),
    /// Database connection failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A shared deployment (`DATABASE_URL` set) has no way to verify tokens that every replica
    /// shares: neither `SOURCEGATE_JWT_SECRET` nor `SOURCEGATE_JWKS_URL` is set.
    #[error(
        "DATABASE_URL is set but neither SOURCEGATE_JWT_SECRET nor SOURCEGATE_JWKS_URL is: \
         replicas must share how tokens are verified (set the Supabase JWT secret, the JWKS URL, \
         or both); only the embedded development mode generates a secret"
    )]
    NoTokenVerifier,
    /// Filesystem error (JWT secret file, listen socket).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// The OpenAPI document served at `/openapi.json` (see [`openapi`](crate::openapi)).
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::document()
}

/// `GET /live`: the process answers (liveness; never touches the database).
async fn live() -> Response {
    axum::Json(serde_json::json!({"status": "live"})).into_response()
}

/// `GET /ready` (and `/health`): 200 when the database answers within 2 s, the `LISTEN` session
/// has synced the snapshots at least once, and it has not been down longer than
/// `listener_down_max_secs`; else 503 `unavailable` with what is missing.
async fn ready(State(state): State<AppState>) -> Response {
    let db = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(&state.pool),
    )
    .await;
    let database = matches!(db, Ok(Ok(_)));
    let status = state.hub.store().status();
    let bound = Duration::from_secs(state.settings.listener_down_max_secs);
    let listener = status.ready_within(bound);
    if database && listener {
        return axum::Json(serde_json::json!({
            "status": "ready",
            "database": true,
            "listener": true,
            "snapshotCurrent": status.is_current(),
        }))
        .into_response();
    }
    let why = match (database, listener) {
        (false, false) => "database unreachable and change listener down".to_owned(),
        (false, true) => "database unreachable".to_owned(),
        _ => format!(
            "change listener down for {} s (limit {} s)",
            status.down_for().as_secs(),
            bound.as_secs()
        ),
    };
    tracing::warn!(reason = %why, "not ready");
    let mut resp = axum::Json(serde_json::json!({
        "code": "unavailable",
        "message": format!("not ready: {why}"),
        "database": database,
        "listener": listener,
    }))
    .into_response();
    *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    resp
}

async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/rest/v1/") {
        rest::not_found(uri.path()).into_response()
    } else {
        AppError::NotFound(format!("no route {}", uri.path())).into_response()
    }
}

async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(openapi())
}

async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(limiter) = &state.limiter {
        let path = req.uri().path();
        if path != "/health" && path != "/ready" && path != "/live" {
            let ip = req
                .extensions()
                .get::<observability::ClientIp>()
                .map(|c| c.0)
                .unwrap_or(IpAddr::from([0, 0, 0, 0]));
            if let Err(not_until) = limiter.check_key(&ip) {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                return AppError::RateLimited {
                    retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                }
                .into_response();
            }
        }
    }
    next.run(req).await
}

/// CORS for browser clients (supabase-js, the admin panel), as Supabase's gateway allows:
/// any origin, no credentials (authorization travels in `Authorization`/`apikey` headers, never
/// cookies, so a wildcard origin grants a page nothing its caller's token does not).
fn cors() -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, Method, header};
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static("apikey"),
            HeaderName::from_static("x-client-info"),
            HeaderName::from_static("accept-profile"),
            HeaderName::from_static("content-profile"),
            HeaderName::from_static("prefer"),
            HeaderName::from_static("range"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::CONTENT_RANGE,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
        ])
        .max_age(Duration::from_secs(3600))
}

/// Builds the router over `state` (no socket: usable with `tower::ServiceExt::oneshot`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/live", get(live))
        .route("/health", get(ready))
        .route("/ready", get(ready))
        .route("/openapi.json", get(openapi_json))
        .route(
            "/v1/configs/{key}",
            get(api::get_config).put(api::put_config),
        )
        .route("/v1/configs/{key}/events", get(api::events))
        .route("/v1/configs/{key}/history", get(api::history))
        .route("/v1/configs/{key}/rollback", post(api::rollback))
        .route("/v1/origins/test", post(api::test_origin))
        .route("/v1/modes", get(api::modes))
        .route("/v1/origins/health", get(fleet::origins_health))
        .route(
            "/v1/telemetry",
            post(fleet::post_telemetry).layer(axum::extract::DefaultBodyLimit::max(
                fleet::TELEMETRY_MAX_BYTES,
            )),
        )
        .route("/v1/telemetry/summary", get(fleet::telemetry_summary))
        .route(
            "/rest/v1/rpc/{function}",
            get(rest::call_rpc).post(rest::call_rpc),
        )
        .route(
            "/rest/v1/{table}",
            get(rest::read_table).fallback(rest::unsupported),
        )
        .merge(admin::routes())
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(
            extract::MAX_CONFIG_BODY_BYTES,
        ))
        .layer(axum::middleware::map_response(extract::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observability::track,
        ))
        .layer(cors())
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Reads the JWT secret from settings; else, with `DATABASE_URL` (a shared deployment), none
/// when `SOURCEGATE_JWKS_URL` is set (an empty secret: HS256 off); else, embedded only, from
/// `<data_dir>/jwt-secret`, else generates and stores one there (mode 0600). Returns the secret
/// and whether it was just generated.
///
/// A generated secret is per data directory, so with `DATABASE_URL` it would differ between
/// replicas and a token would work on one only: that case is refused.
///
/// # Errors
/// [`StartError::NoTokenVerifier`] with `DATABASE_URL` but neither a secret nor a JWKS URL;
/// [`StartError::Io`] when the file cannot be read or written.
pub fn load_or_create_secret(settings: &Settings) -> Result<(Vec<u8>, bool), StartError> {
    if let Some(s) = settings.jwt_secret.as_ref().filter(|s| !s.is_empty()) {
        if s.len() < 32 {
            tracing::warn!("SOURCEGATE_JWT_SECRET is shorter than 32 bytes");
        }
        return Ok((s.as_bytes().to_vec(), false));
    }
    if settings.database_url.is_some() {
        return match settings.jwks_url {
            Some(_) => Ok((Vec::new(), false)),
            None => Err(StartError::NoTokenVerifier),
        };
    }
    let path = settings.data_dir.join("jwt-secret");
    let io = |context: &str, source| StartError::Io {
        context: format!("{context} {}", path.display()),
        source,
    };
    if path.is_file() {
        let s = std::fs::read_to_string(&path).map_err(|e| io("reading", e))?;
        return Ok((s.trim().as_bytes().to_vec(), false));
    }
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| io("creating dir for", e))?;
    let secret = {
        use rand::Rng as _;
        use rand::distr::Alphanumeric;
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(48)
            .map(char::from)
            .collect::<String>()
    };
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io("creating", e))?;
        f.write_all(secret.as_bytes())
            .map_err(|e| io("writing", e))?;
    }
    Ok((secret.into_bytes(), true))
}

/// A running service (see [`spawn`]).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    /// The `/metrics` listener's address and task, when `metrics_listen` is set.
    metrics: Option<(SocketAddr, JoinHandle<std::io::Result<()>>)>,
    jwt_secret: Vec<u8>,
    pool: PgPool,
    shutdown_tx: Option<oneshot::Sender<()>>,
    /// Used to end SSE streams on shutdown.
    sse_stop: AppState,
    serve: Option<JoinHandle<std::io::Result<()>>>,
    listener_task: JoinHandle<()>,
    /// Origin health watcher ([`fleet::run_health_watcher`]), when probes are on.
    health_task: Option<JoinHandle<()>>,
    /// Dropped last, after the server and the pool: stops the embedded cluster.
    embedded: Option<EmbeddedPostgres>,
}

impl Server {
    /// The bound address (useful with `listen = 127.0.0.1:0`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound address of the `/metrics` listener, when one was asked for.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|m| m.0)
    }

    /// `http://<addr>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The HS256 secret in use (to mint test tokens with [`auth::mint_token`]); empty when
    /// only a JWKS verifies tokens.
    pub fn jwt_secret(&self) -> &[u8] {
        &self.jwt_secret
    }

    /// The request pool (authenticator role).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The embedded cluster, when the service runs one.
    pub fn embedded(&self) -> Option<&EmbeddedPostgres> {
        self.embedded.as_ref()
    }

    /// Waits until the server stops by itself (it only does on an I/O error).
    pub async fn wait(mut self) {
        if let Some(h) = self.serve.take() {
            let _ = h.await;
        }
        self.shutdown().await;
    }

    /// Graceful shutdown: stop accepting, end SSE streams, drain requests (10 s at most), close
    /// the pool, stop the embedded cluster.
    pub async fn shutdown(mut self) {
        self.sse_stop.close_streams();
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        if let Some(mut h) = self.serve.take()
            && tokio::time::timeout(Duration::from_secs(10), &mut h)
                .await
                .is_err()
        {
            tracing::warn!("graceful shutdown timed out; aborting");
            h.abort();
        }
        self.listener_task.abort();
        if let Some(h) = &self.health_task {
            h.abort();
        }
        if let Some((_, h)) = &self.metrics {
            h.abort();
        }
        self.pool.close().await;
        if let Some(pg) = self.embedded.take() {
            tokio::task::spawn_blocking(move || pg.stop()).await.ok();
        }
        tracing::info!("control plane stopped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.listener_task.abort();
        if let Some((_, h)) = &self.metrics {
            h.abort();
        }
        if let Some(h) = &self.health_task {
            h.abort();
        }
        if let Some(h) = self.serve.take() {
            h.abort();
        }
    }
}

/// Starts the service: database (embedded or `DATABASE_URL`), migrations, listener, HTTP.
///
/// With `settings.listen = 127.0.0.1:0` a free port is picked; read it with [`Server::addr`].
///
/// # Errors
/// [`StartError`] when the database, the migrations, the secret file or the socket fail, or
/// [`StartError::NoTokenVerifier`] (with `DATABASE_URL`, neither a JWT secret nor a JWKS URL).
/// An unreachable JWKS does not fail the start (it is fetched again when a token needs it).
pub async fn spawn(settings: Settings) -> Result<Server, StartError> {
    if settings.metrics_listen.is_some() {
        // Before anything records: series emitted without a recorder are lost.
        observability::recorder();
    }
    // Before touching the database: a misconfigured replica fails fast.
    let (secret, generated) = load_or_create_secret(&settings)?;
    let (embedded, request_url) = match &settings.database_url {
        Some(admin_url) => {
            let admin = PgPoolOptions::new()
                .max_connections(2)
                .connect(admin_url)
                .await?;
            db::MIGRATOR.run(&admin).await?;
            admin.close().await;
            let url = match &settings.authenticator_url {
                Some(u) => u.clone(),
                None => {
                    tracing::warn!(
                        "SOURCEGATE_AUTHENTICATOR_URL unset: the request pool uses DATABASE_URL \
                         (requests still SET LOCAL ROLE, but prefer a NOINHERIT authenticator role)"
                    );
                    admin_url.clone()
                }
            };
            (None, url)
        }
        None => {
            let pg = EmbeddedPostgres::start(EmbeddedOptions {
                root: settings.data_dir.join("pg"),
                bin_dir: None,
                fast_unsafe: settings.embedded_unsafe_fast,
            })
            .await?;
            pg.prepare_database("sourcegate", None).await?;
            let url = pg.authenticator_url("sourcegate");
            (Some(pg), url)
        }
    };
    let mut request_options: sqlx::postgres::PgConnectOptions = request_url.parse()?;
    if settings.allow_private_origins {
        // Read by `app_private.validate_config`: documents naming private/loopback hosts are
        // accepted on this server's connections only (default off, as on a Supabase project).
        request_options = request_options.options([("sourcegate.allow_private_origins", "on")]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(settings.db_pool_size.max(2))
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(request_options)
        .await?;
    if generated {
        let path = settings.data_dir.join("jwt-secret");
        // One log event (text or JSON, as the operator chose), no side channel on stderr.
        tracing::warn!(
            path = %path.display(),
            hint = %format!(
                "mint an admin token with: sourcegate-control-plane --data-dir {} mint-token --role service_role",
                settings.data_dir.display()
            ),
            "generated a development JWT secret"
        );
    }
    let state = AppState::new(pool.clone(), secret.clone(), settings.clone());
    // Logged inside on failure; never fatal.
    let _ = state.verifier.prefetch().await;
    let listener_task = tokio::spawn(state.hub.clone().run_listener(pool.clone()));
    // Serve once the snapshots are loaded (bounded: a slow database leaves the replica
    // not ready, which `/ready` reports, rather than failing the start).
    let synced_by = tokio::time::Instant::now() + Duration::from_secs(10);
    while !state.hub.store().status().ever_synced() && tokio::time::Instant::now() < synced_by {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let metrics = match settings.metrics_listen {
        Some(at) => Some(spawn_metrics(at, state.clone()).await?),
        None => None,
    };
    let health_task = settings
        .origin_probes
        .then(|| tokio::spawn(fleet::run_health_watcher(state.clone())));
    let sse_stop = state.clone();
    let app = router(state);
    let tcp = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| StartError::Io {
            context: format!("binding {}", settings.listen),
            source,
        })?;
    let addr = tcp.local_addr().map_err(|source| StartError::Io {
        context: "local address".into(),
        source,
    })?;
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let serve = tokio::spawn(async move {
        axum::serve(tcp, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = shutdown_rx.await;
            })
            .await
    });
    tracing::info!(%addr, "control plane listening");
    Ok(Server {
        addr,
        metrics,
        jwt_secret: secret,
        pool,
        shutdown_tx: Some(shutdown_tx),
        sse_stop,
        serve: Some(serve),
        listener_task,
        health_task,
        embedded,
    })
}

/// Starts the `/metrics` listener on `at` (Prometheus text format, see [`observability`]).
async fn spawn_metrics(
    at: SocketAddr,
    state: AppState,
) -> Result<(SocketAddr, JoinHandle<std::io::Result<()>>), StartError> {
    observability::recorder();
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    observability::render(&state),
                )
            }),
        )
        .with_state(state);
    let tcp = tokio::net::TcpListener::bind(at)
        .await
        .map_err(|source| StartError::Io {
            context: format!("binding metrics listener {at}"),
            source,
        })?;
    let addr = tcp.local_addr().map_err(|source| StartError::Io {
        context: "metrics local address".into(),
        source,
    })?;
    tracing::info!(%addr, "metrics listening");
    Ok((
        addr,
        tokio::spawn(async move { axum::serve(tcp, app).await }),
    ))
}

/// Reads the secret for `mint-token`: `SOURCEGATE_JWT_SECRET`, else `<data_dir>/jwt-secret`.
///
/// # Errors
/// [`StartError::Io`] when neither is available.
pub fn secret_for_cli(settings: &Settings) -> Result<Vec<u8>, StartError> {
    if let Some(s) = &settings.jwt_secret {
        return Ok(s.as_bytes().to_vec());
    }
    let path = settings.data_dir.join("jwt-secret");
    read_secret_file(&path)
}

fn read_secret_file(path: &Path) -> Result<Vec<u8>, StartError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().as_bytes().to_vec())
        .map_err(|source| StartError::Io {
            context: format!(
                "reading {} (set SOURCEGATE_JWT_SECRET or start the server once)",
                path.display()
            ),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt as _;

    fn app() -> Router {
        // A lazy pool never connects: these routes answer before touching the database.
        let pool = PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap();
        let settings = Settings {
            rate_limit_per_sec: 0,
            ..Settings::default()
        };
        router(AppState::new(
            pool,
            b"0123456789abcdef0123456789abcdef".to_vec(),
            settings,
        ))
    }

    async fn call(req: axum::http::Request<Body>) -> (StatusCode, serde_json::Value) {
        let resp = app().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn routes_that_need_no_database() {
        let get = |uri: &str| axum::http::Request::get(uri).body(Body::empty()).unwrap();
        assert_eq!(call(get("/live")).await.0, StatusCode::OK);
        // No database and no listener: not ready, and the body says why.
        let (s, e) = call(get("/ready")).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e["code"], "unavailable");
        let (s, doc) = call(get("/openapi.json")).await;
        assert_eq!(s, StatusCode::OK);
        assert!(doc["paths"]["/v1/configs/{key}/history"]["get"].is_object());
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(schemes["apikey"]["in"], "header");
        // Query parameters are declared in the query, not the path (OpenAPI 3: every path
        // parameter must appear in the template).
        for (path, name) in [
            ("/v1/configs/{key}/history", "limit"),
            ("/v1/telemetry/summary", "minutes"),
        ] {
            let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
            let p = params.iter().find(|p| p["name"] == name).unwrap();
            assert_eq!(p["in"], "query", "{path} {name}");
        }
        let (s, e) = call(get("/rest/v1/app_config")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(e["message"], "No API key found in request");
        let (s, e) = call(
            axum::http::Request::get("/v1/configs/marketplace_source")
                .header("authorization", "Bearer a.b.c")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(e["code"], "unauthorized");
        let (s, e) = call(get("/nope")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(e["code"], "not_found");
        let (s, e) = call(get("/rest/v1/a/b/c")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(e["code"], "PGRST125");
    }
}
