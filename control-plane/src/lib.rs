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
//! - [`auth`]: HS256 JWT verification and minting ([`auth::mint_token`]);
//! - [`api`]: the native `/v1` API (ETag, SSE, optimistic concurrency, history, rollback);
//! - [`rest`]: the PostgREST-compatible subset under `/rest/v1`;
//! - [`events`]: one `LISTEN` session fanned out through a broadcast channel;
//! - [`origins`]: `POST /v1/origins/test` with its SSRF guard;
//! - [`fleet`]: `GET /v1/origins/health` (the resolver's probes) and `/v1/telemetry`;
//! - [`telemetry`]: the pure per-minute, per-origin aggregation of resolver reports;
//! - [`error`]: [`error::AppError`], the stable error codes.
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
pub mod fleet;
pub mod origins;
pub mod rest;
pub mod settings;
pub mod telemetry;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use governor::clock::{Clock as _, DefaultClock};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use utoipa::OpenApi as _;

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
    /// HS256 secret of the JWTs.
    pub jwt_secret: Arc<Vec<u8>>,
    /// Change fan-out.
    pub hub: EventHub,
    /// Settings the handlers read (origin-probe policy, heartbeat).
    pub settings: Arc<Settings>,
    /// Origin health probes and telemetry aggregation ([`fleet`]).
    pub fleet: Arc<fleet::Fleet>,
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
    pub fn new(pool: PgPool, jwt_secret: Vec<u8>, settings: Settings) -> AppState {
        let limiter = keyed_limiter(settings.rate_limit_per_sec, settings.rate_limit_burst);
        let (tx, rx) = watch::channel(false);
        AppState {
            pool,
            jwt_secret: Arc::new(jwt_secret),
            hub: EventHub::new(1024),
            fleet: Arc::new(fleet::Fleet::new(&settings)),
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
    /// Filesystem error (JWT secret file, listen socket).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Sourcegate control plane",
        description = "Remote configuration of the marketplace source. PostgREST-compatible reads live under /rest/v1 (see PostgREST's docs)."
    ),
    paths(
        api::get_config,
        api::put_config,
        api::history,
        api::rollback,
        api::events,
        api::test_origin,
        fleet::origins_health,
        fleet::post_telemetry,
        fleet::telemetry_summary
    )
)]
struct ApiDoc;

/// The OpenAPI document served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

async fn health() -> &'static str {
    "ok"
}

async fn ready(State(state): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(&state.pool).await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            AppError::Unavailable.into_response()
        }
    }
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
        if path != "/health" && path != "/ready" {
            let ip = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
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
        .route("/health", get(health))
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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit,
        ))
        .layer(cors())
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Reads the JWT secret from settings, else from `<data_dir>/jwt-secret`, else generates and
/// stores one there (mode 0600). Returns the secret and whether it was just generated.
///
/// # Errors
/// [`StartError::Io`] when the file cannot be read or written.
pub fn load_or_create_secret(settings: &Settings) -> Result<(Vec<u8>, bool), StartError> {
    if let Some(s) = &settings.jwt_secret {
        if s.len() < 32 {
            tracing::warn!("SOURCEGATE_JWT_SECRET is shorter than 32 bytes");
        }
        return Ok((s.as_bytes().to_vec(), false));
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

    /// `http://<addr>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The HS256 secret in use (to mint test tokens with [`auth::mint_token`]).
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
/// [`StartError`] when the database, the migrations, the secret file or the socket fail.
pub async fn spawn(settings: Settings) -> Result<Server, StartError> {
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
    let (secret, generated) = load_or_create_secret(&settings)?;
    if generated {
        let path = settings.data_dir.join("jwt-secret");
        tracing::info!(path = %path.display(), "generated a development JWT secret");
        eprintln!(
            "sourcegate-control-plane: generated a development JWT secret in {p}\n  \
             mint an admin token with: sourcegate-control-plane --data-dir {d} mint-token --role service_role",
            p = path.display(),
            d = settings.data_dir.display()
        );
    }
    let state = AppState::new(pool.clone(), secret.clone(), settings.clone());
    let listener_task = tokio::spawn(state.hub.clone().run_listener(pool.clone()));
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
        assert_eq!(call(get("/health")).await.0, StatusCode::OK);
        let (s, doc) = call(get("/openapi.json")).await;
        assert_eq!(s, StatusCode::OK);
        assert!(doc["paths"]["/v1/configs/{key}/history"]["get"].is_object());
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
