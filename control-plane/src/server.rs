//! The server's lifecycle: [`spawn`] (database, migrations, listener, HTTP and `/metrics`
//! sockets), the running [`Server`] and its graceful shutdown, and [`StartError`].

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::embedded::{self, EmbeddedOptions, EmbeddedPostgres};
use crate::secrets::load_or_create_secret;
use crate::settings::Settings;
use crate::state::AppState;
use crate::{db, fleet, observability, router};

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
    /// The accept loop ([`crate::stream_path::Connections`]): aborted to stop accepting.
    accept_task: JoinHandle<()>,
    serve: Option<JoinHandle<std::io::Result<()>>>,
    listener_task: JoinHandle<()>,
    /// Origin health watcher ([`fleet::run_health_watcher`]), when probes are on.
    health_task: Option<JoinHandle<()>>,
    /// The telemetry flusher ([`crate::fleet_store::run_flusher`]).
    flush_task: JoinHandle<()>,
    /// The autopilot's decider ([`crate::decider::run`]), unless `--autopilot false`.
    decider_task: Option<JoinHandle<()>>,
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

    /// The HS256 secret in use (to mint test tokens with [`crate::auth::mint_token`]); empty when
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
        self.accept_task.abort();
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
        if let Some(h) = &self.decider_task {
            h.abort();
        }
        self.flush_task.abort();
        // The reports received since the last flush.
        if let Err(e) = crate::fleet_store::flush_now(&self.sse_stop).await {
            tracing::warn!(error = %e, "final telemetry flush failed");
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
        self.accept_task.abort();
        self.listener_task.abort();
        if let Some((_, h)) = &self.metrics {
            h.abort();
        }
        if let Some(h) = &self.health_task {
            h.abort();
        }
        if let Some(h) = &self.decider_task {
            h.abort();
        }
        self.flush_task.abort();
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
    let flush_task = tokio::spawn(crate::fleet_store::run_flusher(state.clone()));
    let decider_state = state.clone();
    let sse_stop = state.clone();
    let stream_state = state.clone();
    let app = router::app(state);
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
    let decider_task = settings
        .autopilot
        .then(|| tokio::spawn(crate::decider::run(decider_state, addr)));
    // SSE streams are served at the connection level; hyper gets every other connection.
    let (connections, accept_task) =
        crate::stream_path::Connections::start(tcp, stream_state, router::cors_headers()).map_err(
            |source| StartError::Io {
                context: "starting the accept loop".into(),
                source,
            },
        )?;
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let serve = tokio::spawn(async move {
        use axum::serve::ListenerExt as _;
        axum::serve(
            // `tap_io` only so that axum's `ConnectInfo<SocketAddr>` applies to this listener.
            connections.tap_io(|_| {}),
            axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                SocketAddr,
            >(app),
        )
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
        accept_task,
        serve: Some(serve),
        listener_task,
        health_task,
        flush_task,
        decider_task,
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
