//! Per-client-IP rate limiting: the keyed limiter and the middleware that answers 429
//! `rate_limited` with `Retry-After` (every route but `/live`, `/ready` and `/health`; under
//! `/rest/v1` in PostgREST's error shape, [`crate::rest::rate_limited`]).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};

use crate::error::AppError;
use crate::observability;
use crate::state::AppState;

/// A rate limiter keyed by client address.
pub(crate) type Limiter = governor::DefaultKeyedRateLimiter<IpAddr>;

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

/// Admits one request from `ip`, or refuses it with 429 [`AppError::RateLimited`] carrying the
/// whole seconds (at least 1) until `limiter` would admit it.
pub(crate) fn check(limiter: &Limiter, ip: IpAddr) -> Result<(), AppError> {
    limiter.check_key(&ip).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        AppError::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        }
    })
}

/// Middleware (`axum::middleware::from_fn_with_state`): applies the state's limiter, keyed by
/// [`observability::ClientIp`] (`0.0.0.0` when unknown), to every path but the probes.
pub(crate) async fn rate_limit(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(limiter) = &state.limiter {
        let path = req.uri().path();
        if path != "/health" && path != "/ready" && path != "/live" {
            let ip = req
                .extensions()
                .get::<observability::ClientIp>()
                .map(|c| c.0)
                .unwrap_or(IpAddr::from([0, 0, 0, 0]));
            if let Err(e) = check(limiter, ip) {
                if let (true, AppError::RateLimited { retry_after_secs }) =
                    (path.starts_with("/rest/v1"), &e)
                {
                    return crate::rest::rate_limited(*retry_after_secs);
                }
                return e.into_response();
            }
        }
    }
    next.run(req).await
}
