//! Requests with failover ([`Resolver::fetch`]) and outcomes the host observed itself
//! ([`Resolver::report_outcome`]): both feed rate-limit cooldowns, outlier ejection and the
//! stats.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::time::Instant;
use tracing::Instrument as _;
use url::Url;

use super::{Inner, Resolver};
use crate::config::OriginKind;
use crate::error::{AttemptError, RequestError};
use crate::origin::OriginCell;
use crate::routing::Reason;

/// A response served by [`Resolver::fetch`].
#[derive(Debug, Clone)]
pub struct FetchResponse {
    /// The response body.
    pub body: Bytes,
    /// The origin that served it.
    pub origin: OriginKind,
    /// The URL that served it.
    pub url: Url,
    /// HTTP status (2xx).
    pub status: u16,
    /// Whether an origin other than the first candidate served it.
    pub fallback: bool,
    /// Why the first candidate was first.
    pub reason: Reason,
    /// The attempts that failed before this one.
    pub failed_attempts: Vec<AttemptError>,
}

/// A request outcome observed by the host app's own HTTP stack, fed back with
/// [`Resolver::report_outcome`] so health and rate-limit state stay right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// HTTP status, or `None` for a transport error (connect failure, timeout, reset).
    pub status: Option<u16>,
    /// The wait the origin asked for (`Retry-After` or `x-ratelimit-reset`, already parsed),
    /// if any.
    pub retry_after: Option<Duration>,
    /// How long the request took.
    pub elapsed: Duration,
    /// Whether this request went to an origin other than the first candidate.
    pub fallback: bool,
}

impl Resolver {
    /// Feeds back a request the host app made itself to `origin` (for apps that must use their
    /// platform's HTTP stack): 429 (or a Git 403) marks the origin rate-limited, 5xx and
    /// transport errors count toward outlier ejection, and the stats count the request.
    pub fn report_outcome(&self, origin: OriginKind, outcome: Outcome) {
        let snap = self.inner.snapshot.load();
        let Some(cell) = snap.origins[origin.index()].as_ref() else {
            return;
        };
        let served = observe_outcome(&self.inner, cell, outcome.status, outcome.retry_after);
        self.inner
            .stats
            .request(served.then_some(origin), outcome.fallback, outcome.elapsed);
    }

    /// Fetches `path` from the routed origin and fails over to the other one (when the config
    /// allows) on transport errors, 5xx, rate limits and other non-2xx answers. Each attempt
    /// times out after the builder's request timeout (default 30 s).
    ///
    /// # Errors
    /// [`RequestError::InvalidPath`]; [`RequestError::AllOriginsFailed`] with one
    /// [`AttemptError`] per attempt.
    pub async fn fetch(&self, path: &str) -> Result<FetchResponse, RequestError> {
        self.wait_initialized().await;
        let inner = &self.inner;
        let snap = inner.snapshot.load_full();
        let now = inner.now();
        self.maybe_refresh(now);
        let route = snap.route(inner.bucket, now, inner.settings.health_checks);
        let started = Instant::now();
        let mut failed = Vec::new();
        for (i, kind) in route.candidates().iter().copied().enumerate() {
            let Some(cell) = snap.origins[kind.index()].as_ref() else {
                continue;
            };
            let url = cell.url_for(path)?;
            let span = tracing::info_span!("origin_request", origin = %kind, url = %url);
            let attempt = async {
                let resp = inner
                    .http
                    .get(url.clone())
                    .timeout(inner.settings.request_timeout)
                    .send()
                    .await?;
                let status = resp.status().as_u16();
                let retry = crate::ratelimit::requested_wait(resp.headers(), SystemTime::now());
                if (200..300).contains(&status) {
                    Ok::<_, reqwest::Error>((status, retry, Some(resp.bytes().await?)))
                } else {
                    Ok((status, retry, None))
                }
            }
            .instrument(span)
            .await;
            match attempt {
                Ok((status, _, Some(body))) => {
                    observe_outcome(inner, cell, Some(status), None);
                    let fallback = i > 0;
                    if fallback {
                        tracing::info!(origin = %kind, "served by fallback origin");
                    }
                    inner.stats.request(Some(kind), fallback, started.elapsed());
                    return Ok(FetchResponse {
                        body,
                        origin: kind,
                        url,
                        status,
                        fallback,
                        reason: route.reason,
                        failed_attempts: failed,
                    });
                }
                Ok((status, retry, None)) => {
                    observe_outcome(inner, cell, Some(status), retry);
                    inner.stats.attempt_failed(kind);
                    failed.push(AttemptError {
                        origin: kind,
                        url: url.to_string(),
                        status: Some(status),
                        cause: if crate::ratelimit::is_rate_limited(kind, status) {
                            "rate limited".into()
                        } else {
                            format!("HTTP {status}")
                        },
                    });
                }
                Err(e) => {
                    observe_outcome(inner, cell, None, None);
                    inner.stats.attempt_failed(kind);
                    failed.push(AttemptError {
                        origin: kind,
                        url: url.to_string(),
                        status: None,
                        cause: e.to_string(),
                    });
                }
            }
        }
        inner.stats.request(None, false, started.elapsed());
        Err(RequestError::AllOriginsFailed {
            path: path.into(),
            attempts: failed,
        })
    }
}

/// Applies one observed outcome to an origin's state. Returns whether it was a success (2xx or
/// 3xx).
fn observe_outcome(
    inner: &Inner,
    cell: &OriginCell,
    status: Option<u16>,
    retry_after: Option<Duration>,
) -> bool {
    let now = inner.now();
    let snap = inner.snapshot.load();
    let outlier_settings = &snap.config.outlier_detection;
    let success = matches!(status, Some(s) if (200..400).contains(&s));
    let rate_limited = status.is_some_and(|s| crate::ratelimit::is_rate_limited(cell.kind, s));
    if rate_limited {
        let cooldown = cell.start_cooldown(now, retry_after);
        inner.stats.rate_limited(cell.kind);
        tracing::warn!(origin = %cell.kind, cooldown_secs = cooldown.as_secs_f64(), "origin rate-limited");
    }
    let outlier_failure = status.is_none_or(|s| s >= 500);
    if !success {
        cell.flags.last_failure.store(now.max(1), Ordering::Relaxed);
    }
    if let Ok(mut m) = cell.machine.lock() {
        if let Some(until) = m.outlier.record(outlier_failure, now, outlier_settings) {
            cell.flags.ejected_until.store(until, Ordering::Relaxed);
            tracing::warn!(origin = %cell.kind, "origin ejected by outlier detection");
        }
        if success {
            m.last_error = None;
        } else {
            m.last_error = Some(match status {
                Some(s) => format!("HTTP {s}"),
                None => "transport error".into(),
            });
        }
    }
    success
}
