//! The shared state of the handlers ([`AppState`]).

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::watch;

use crate::events::EventHub;
use crate::ratelimit::{self, Limiter};
use crate::settings::Settings;
use crate::{auth, fleet, guard};

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
    /// The per-client-IP limiter of every route ([`ratelimit::rate_limit`]); `None`: no limit.
    pub(crate) limiter: Option<Arc<Limiter>>,
    /// Flips to `true` on shutdown, ending SSE streams so graceful shutdown can finish.
    pub(crate) shutdown: watch::Receiver<bool>,
    shutdown_tx: Arc<watch::Sender<bool>>,
}

impl AppState {
    /// State over an existing request pool, for [`crate::router`] (e.g. with
    /// `tower::ServiceExt::oneshot`, or to mount the API in another axum app).
    ///
    /// The rate limiter follows `settings`. No `LISTEN` task is started: run
    /// `state.hub.clone().run_listener(pool)` in a task for SSE to receive changes. Must be
    /// called inside a tokio runtime when rate limiting is on (a cleanup task is spawned).
    /// Tokens are verified by [`auth::Verifier::from_settings`] over `jwt_secret` (empty: no
    /// HS256); a key set is fetched when a token first needs it.
    pub fn new(pool: PgPool, jwt_secret: Vec<u8>, settings: Settings) -> AppState {
        let verifier = auth::Verifier::from_settings(Some(&jwt_secret), &settings);
        let limiter =
            ratelimit::keyed_limiter(settings.rate_limit_per_sec, settings.rate_limit_burst);
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
