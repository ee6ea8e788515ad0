//! Requests with failover ([`Resolver::fetch`]; `docs/seed.md`, S9) and outcomes the host observed itself
//! ([`Resolver::report_outcome`]): both feed rate-limit cooldowns, outlier ejection and the
//! stats. A fetch goes through the HTTP cache ([`crate::http_cache`]): fresh kept bodies cost
//! no request, stale ones are revalidated, and every 2xx body is streamed under a size cap and
//! a read-idle timeout, then checked ([`crate::content`], and the document's `integrity`
//! entry for the path, [`crate::config::Integrity`]) before it counts as served.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;
use tracing::Instrument as _;
use url::Url;

use super::{Inner, Resolver};
use crate::config::{IntegrityEntry, OriginKind};
use crate::error::{AttemptError, RequestError};
use crate::http_cache::{BodySource, Entry, Key, Lookup};
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
    /// HTTP status of the response whose body this is (2xx; for a revalidated, fresh or
    /// stale body, the status it was kept with).
    pub status: u16,
    /// Where the body came from: the network, a revalidated or fresh kept copy, or a stale
    /// copy served because every origin failed.
    pub source: BodySource,
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
        let served = observe_outcome(&self.inner, cell, outcome.status, outcome.retry_after, None);
        self.inner
            .stats
            .request(served.then_some(origin), outcome.fallback, outcome.elapsed);
    }

    /// Fetches `path` from the routed origin and fails over to the other one (when the config
    /// allows) on transport errors, 5xx, rate limits and other non-2xx answers, on a body
    /// that fails the content check, exceeds the size cap or stalls, or whose size or SHA-256
    /// differs from the document's `integrity` entry for `path` (counted in
    /// `integrityFailures`, never kept). Each attempt times out
    /// after the builder's request timeout (default 30 s) and after the read-idle timeout
    /// (default 10 s) without bytes.
    ///
    /// With the HTTP cache on (the default, [`crate::ResolverBuilder::http_cache`]), a fresh
    /// kept body for the candidate (origin, URL) is served with no request
    /// ([`BodySource::Fresh`]), a stale one is revalidated with a conditional request and a
    /// `304` serves it ([`BodySource::Revalidated`]); when every origin fails, a stale kept
    /// body is served ([`BodySource::Stale`], RFC 9111 §4.2.4) unless
    /// [`crate::ResolverBuilder::stale_if_error`] is off. A kept body that does not match the
    /// current document's `integrity` entry for `path` is dropped and never served (fresh,
    /// revalidated or stale): the fetch asks the origin for the whole body instead.
    ///
    /// Offline ([`crate::ResolverBuilder::offline`]) it makes no request: it serves a kept body
    /// (fresh, or stale unless `must-revalidate`) or fails with [`RequestError::Offline`].
    /// While paused ([`Self::pause`]) it works as usual: the app asked.
    ///
    /// # Errors
    /// [`RequestError::InvalidPath`]; [`RequestError::AllOriginsFailed`] with one
    /// [`AttemptError`] per attempt; [`RequestError::Offline`]; [`RequestError::Closed`] after
    /// [`Self::close`].
    pub async fn fetch(&self, path: &str) -> Result<FetchResponse, RequestError> {
        if self.inner.life() == super::Life::Closed {
            return Err(RequestError::Closed { path: path.into() });
        }
        self.wait_initialized().await;
        if self.inner.settings.offline {
            return self.fetch_offline(path).await;
        }
        let inner = &self.inner;
        let snap = inner.snapshot.load_full();
        let now = inner.now();
        self.maybe_refresh(now);
        let route = snap.route(inner.bucket, now, inner.settings.health_checks);
        let want = snap.config.integrity.get(path).copied();
        let started = Instant::now();
        let mut failed = Vec::new();
        // The first candidate's kept body that may be served stale if every origin fails.
        let mut stale: Option<(bool, OriginKind, Url, Arc<Entry>)> = None;
        for (i, kind) in route.candidates().iter().copied().enumerate() {
            let Some(cell) = snap.origins[kind.index()].as_ref() else {
                continue;
            };
            let url = cell.url_for(path)?;
            let fallback = i > 0;
            let key = Key::new(kind, &url);
            let entry = if inner.settings.http_cache {
                let (entry, damaged) = inner.http_cache.get(&key).await;
                if let Some(why) = damaged {
                    inner.stats.body_cache_corrupt();
                    tracing::warn!(origin = %kind, url = %url, why, "ignoring a damaged body-cache file");
                }
                entry
            } else {
                None
            };
            let entry = match (entry, &want) {
                (Some(e), Some(w)) if w.check_with(e.body.len(), || e.sha256()).is_err() => {
                    inner.stats.integrity_failed();
                    tracing::warn!(origin = %kind, url = %url, "dropping a kept body the document's integrity entry no longer matches");
                    inner.http_cache.remove(&key).await;
                    None
                }
                (e, _) => e,
            };
            let mut conditional = Vec::new();
            if let Some(e) = &entry {
                match e.lookup(url.as_str(), inner.wall_now()) {
                    Lookup::Fresh => {
                        inner.stats.fresh();
                        inner.stats.request(Some(kind), fallback, started.elapsed());
                        tracing::debug!(origin = %kind, url = %url, "served a fresh kept body");
                        return Ok(FetchResponse {
                            body: e.body.clone(),
                            origin: kind,
                            url,
                            status: e.status,
                            source: BodySource::Fresh,
                            fallback,
                            reason: route.reason,
                            failed_attempts: failed,
                        });
                    }
                    Lookup::Revalidate(h) => conditional = h,
                    Lookup::Unusable => {}
                }
            }
            let span = tracing::info_span!(
                "origin_request",
                origin = %kind,
                url = %url,
                conditional = !conditional.is_empty()
            );
            let attempt = attempt(inner, kind, &url, path, &conditional, want.as_ref())
                .instrument(span)
                .await;
            let fail = |failed: &mut Vec<AttemptError>, status: Option<u16>, cause: String| {
                inner.stats.attempt_failed(kind);
                failed.push(AttemptError {
                    origin: kind,
                    url: url.to_string(),
                    status,
                    cause,
                });
            };
            match attempt {
                Attempt::Ok {
                    status,
                    headers,
                    body,
                    digest,
                } => {
                    observe_outcome(inner, cell, Some(status), None, None);
                    inner.stats.network_body(body.len());
                    let mut body = body;
                    if inner.settings.http_cache {
                        body = crate::http_cache::intern(body);
                        match Entry::from_response(
                            url.as_str(),
                            status,
                            headers,
                            body.clone(),
                            inner.wall_now(),
                        )
                        .map(|e| match digest {
                            Some(d) => e.with_sha256(d),
                            None => e,
                        }) {
                            Some(e) => inner.http_cache.store(key, Arc::new(e), true).await,
                            None => inner.http_cache.remove(&key).await,
                        }
                    }
                    return Ok(self.served(
                        kind,
                        url,
                        status,
                        body,
                        BodySource::Network,
                        fallback,
                        route.reason,
                        failed,
                        started,
                    ));
                }
                Attempt::NotModified { headers } => {
                    let renewed =
                        entry
                            .as_ref()
                            .filter(|_| !conditional.is_empty())
                            .and_then(|e| {
                                e.after_not_modified(url.as_str(), &headers, inner.wall_now())
                            });
                    if let Some(renewed) = renewed {
                        observe_outcome(inner, cell, Some(304), None, None);
                        inner.stats.revalidated();
                        let (status, body) = (renewed.status, renewed.body.clone());
                        inner.http_cache.store(key, Arc::new(renewed), false).await;
                        return Ok(self.served(
                            kind,
                            url,
                            status,
                            body,
                            BodySource::Revalidated,
                            fallback,
                            route.reason,
                            failed,
                            started,
                        ));
                    }
                    let cause = "304 Not Modified without a matching kept body";
                    observe_outcome(inner, cell, Some(304), None, Some(cause));
                    fail(&mut failed, Some(304), cause.into());
                }
                Attempt::Status { status, retry } => {
                    observe_outcome(inner, cell, Some(status), retry, None);
                    let cause = if crate::ratelimit::is_rate_limited(kind, status) {
                        "rate limited".into()
                    } else {
                        format!("HTTP {status}")
                    };
                    fail(&mut failed, Some(status), cause);
                }
                Attempt::BadBody { status, cause } => {
                    inner.stats.content_check_failed();
                    observe_outcome(inner, cell, Some(status), None, Some(&cause));
                    tracing::warn!(origin = %kind, url = %url, cause, "refused a body");
                    fail(&mut failed, Some(status), cause);
                }
                Attempt::Mismatch { status, cause } => {
                    inner.stats.integrity_failed();
                    observe_outcome(inner, cell, Some(status), None, Some(&cause));
                    tracing::warn!(origin = %kind, url = %url, cause, "refused a body");
                    fail(&mut failed, Some(status), cause);
                }
                Attempt::Transport(cause) => {
                    observe_outcome(inner, cell, None, None, None);
                    fail(&mut failed, None, cause);
                }
            }
            if stale.is_none()
                && let Some(e) = entry.filter(|e| e.may_serve_stale())
            {
                stale = Some((fallback, kind, url, e));
            }
        }
        if inner.settings.stale_if_error
            && let Some((fallback, kind, url, e)) = stale
        {
            inner.stats.stale();
            tracing::warn!(origin = %kind, url = %url, "every origin failed; serving a stale kept body");
            return Ok(self.served(
                kind,
                url,
                e.status,
                e.body.clone(),
                BodySource::Stale,
                fallback,
                route.reason,
                failed,
                started,
            ));
        }
        inner.stats.request(None, false, started.elapsed());
        Err(RequestError::AllOriginsFailed {
            path: path.into(),
            attempts: failed,
        })
    }

    /// [`Self::fetch`] offline: the first candidate with a servable kept body, no request.
    async fn fetch_offline(&self, path: &str) -> Result<FetchResponse, RequestError> {
        let inner = &self.inner;
        let snap = inner.snapshot.load_full();
        let now = inner.now();
        self.maybe_refresh(now);
        let route = snap.route(inner.bucket, now, inner.settings.health_checks);
        let started = Instant::now();
        let candidates = if inner.settings.http_cache {
            route.candidates()
        } else {
            &[]
        };
        for (i, kind) in candidates.iter().copied().enumerate() {
            let Some(cell) = snap.origins[kind.index()].as_ref() else {
                continue;
            };
            let url = cell.url_for(path)?;
            let (entry, damaged) = inner.http_cache.get(&Key::new(kind, &url)).await;
            if let Some(why) = damaged {
                inner.stats.body_cache_corrupt();
                tracing::warn!(origin = %kind, url = %url, why, "ignoring a damaged body-cache file");
            }
            let Some(e) = entry else { continue };
            let source = match e.lookup(url.as_str(), inner.wall_now()) {
                Lookup::Fresh => {
                    inner.stats.fresh();
                    BodySource::Fresh
                }
                _ if e.may_serve_stale() => {
                    inner.stats.stale();
                    BodySource::Stale
                }
                _ => continue,
            };
            let fallback = i > 0;
            let (status, body) = (e.status, e.body.clone());
            return Ok(self.served(
                kind,
                url,
                status,
                body,
                source,
                fallback,
                route.reason,
                Vec::new(),
                started,
            ));
        }
        inner.stats.request(None, false, started.elapsed());
        Err(RequestError::Offline { path: path.into() })
    }

    /// Counts a served fetch and builds its response.
    #[allow(clippy::too_many_arguments)]
    fn served(
        &self,
        origin: OriginKind,
        url: Url,
        status: u16,
        body: Bytes,
        source: BodySource,
        fallback: bool,
        reason: Reason,
        failed_attempts: Vec<AttemptError>,
        started: Instant,
    ) -> FetchResponse {
        if fallback {
            tracing::info!(%origin, ?source, "served by fallback origin");
        }
        self.inner
            .stats
            .request(Some(origin), fallback, started.elapsed());
        FetchResponse {
            body,
            origin,
            url,
            status,
            source,
            fallback,
            reason,
            failed_attempts,
        }
    }
}

/// How one attempt on one origin ended.
enum Attempt {
    /// 2xx with a body that passed its checks (`digest`: its SHA-256, when the integrity
    /// check computed it).
    Ok {
        status: u16,
        headers: HeaderMap,
        body: Bytes,
        digest: Option<[u8; 32]>,
    },
    /// 304 to a conditional request.
    NotModified { headers: HeaderMap },
    /// Another status (`retry`: the wait a rate limit asked for).
    Status {
        status: u16,
        retry: Option<Duration>,
    },
    /// 2xx whose body was refused: content check, size cap, stalled or broken body.
    BadBody { status: u16, cause: String },
    /// 2xx whose body differs from the document's `integrity` entry (size or SHA-256).
    Mismatch { status: u16, cause: String },
    /// No response: connect error, timeout, reset.
    Transport(String),
}

/// One GET of `url` (with `conditional` headers, if any), its body streamed under the size cap
/// and the read-idle timeout, then checked (content check, then `want`, the integrity entry).
async fn attempt(
    inner: &Inner,
    kind: OriginKind,
    url: &Url,
    path: &str,
    conditional: &[(HeaderName, HeaderValue)],
    want: Option<&IntegrityEntry>,
) -> Attempt {
    let settings = &inner.settings;
    let idle = settings.read_idle_timeout;
    let mut req = inner
        .http
        .get(url.clone())
        .timeout(settings.request_timeout);
    for (name, value) in conditional {
        req = req.header(name, value);
    }
    let mut resp = match tokio::time::timeout(idle, req.send()).await {
        Err(_) => {
            return Attempt::Transport(format!(
                "no response headers within the read-idle timeout ({} ms)",
                idle.as_millis()
            ));
        }
        Ok(Err(e)) => return Attempt::Transport(e.to_string()),
        Ok(Ok(r)) => r,
    };
    inner.stats.observe_quota(kind, resp.headers());
    let status = resp.status().as_u16();
    if status == 304 {
        return Attempt::NotModified {
            headers: resp.headers().clone(),
        };
    }
    if !(200..300).contains(&status) {
        let retry = crate::ratelimit::requested_wait(resp.headers(), SystemTime::now());
        return Attempt::Status { status, retry };
    }
    let max = settings.max_body_bytes;
    let too_large = || format!("body larger than the size cap ({max} bytes)");
    if resp.content_length().is_some_and(|n| n > max) {
        return Attempt::BadBody {
            status,
            cause: too_large(),
        };
    }
    let headers = resp.headers().clone();
    let mut body = BytesMut::new();
    loop {
        match tokio::time::timeout(idle, resp.chunk()).await {
            Err(_) => {
                return Attempt::BadBody {
                    status,
                    cause: format!(
                        "body stalled: no bytes within the read-idle timeout ({} ms)",
                        idle.as_millis()
                    ),
                };
            }
            Ok(Err(e)) => {
                return Attempt::BadBody {
                    status,
                    cause: format!("body read failed: {e}"),
                };
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => {
                if (body.len() + chunk.len()) as u64 > max {
                    // Dropping `resp` aborts the transfer.
                    return Attempt::BadBody {
                        status,
                        cause: too_large(),
                    };
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
    let body = body.freeze();
    if let Err(e) = settings.content_check.check(path, &body) {
        return Attempt::BadBody {
            status,
            cause: e.to_string(),
        };
    }
    let mut digest = None;
    if let Some(w) = want
        && let Err(e) = w.check_with(body.len(), || {
            *digest.insert(crate::config::integrity_sha256(&body))
        })
    {
        return Attempt::Mismatch {
            status,
            cause: e.to_string(),
        };
    }
    Attempt::Ok {
        status,
        headers,
        body,
        digest,
    }
}

/// Applies one observed outcome to an origin's state. Returns whether it was a success (2xx or
/// 3xx). `refused`: the response came but was refused (its body failed a check), a failure
/// that counts toward outlier ejection like a transport error, with this cause.
fn observe_outcome(
    inner: &Inner,
    cell: &OriginCell,
    status: Option<u16>,
    retry_after: Option<Duration>,
    refused: Option<&str>,
) -> bool {
    let now = inner.now();
    let snap = inner.snapshot.load();
    let outlier_settings = &snap.config.outlier_detection;
    let success = refused.is_none() && matches!(status, Some(s) if (200..400).contains(&s));
    let rate_limited = status.is_some_and(|s| crate::ratelimit::is_rate_limited(cell.kind, s));
    if rate_limited {
        let cooldown = cell.start_cooldown(now, retry_after);
        inner.stats.rate_limited(cell.kind);
        tracing::warn!(origin = %cell.kind, cooldown_secs = cooldown.as_secs_f64(), "origin rate-limited");
    }
    let outlier_failure = refused.is_some() || status.is_none_or(|s| s >= 500);
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
            m.last_error = Some(match (refused, status) {
                (Some(cause), _) => cause.to_owned(),
                (None, Some(s)) => format!("HTTP {s}"),
                (None, None) => "transport error".into(),
            });
        }
    }
    success
}
