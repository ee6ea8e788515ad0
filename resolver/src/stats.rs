//! Per-resolver request statistics: the seed's counters (docs/seed.md, S11) plus per-origin counts and latency
//! percentiles.
//!
//! Counted on [`crate::Resolver::fetch`] and [`crate::Resolver::report_outcome`] (one per
//! logical request, whatever the number of attempts), not on `resolve_url`, which stays free of
//! shared writes so threads do not contend on the hot path.
//!
//! This module depends on no reporter: readers take [`StatsSnapshot`]s and interval
//! [`LatencyMs`] and do what they want with them (telemetry sends their deltas).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::config::OriginKind;

#[derive(Debug, Default)]
struct OriginCounters {
    served: AtomicU64,
    failures: AtomicU64,
    rate_limited: AtomicU64,
}

/// How the HTTP cache answered (see [`crate::http_cache`]).
#[derive(Debug, Default)]
struct CacheCounters {
    fresh: AtomicU64,
    revalidated: AtomicU64,
    stale: AtomicU64,
    network_body_bytes: AtomicU64,
    body_cache_corrupt: AtomicU64,
    content_check_failures: AtomicU64,
    integrity_failures: AtomicU64,
}

/// Latency histograms: since start, and since the last telemetry report (reset by
/// [`Stats::take_interval`]); one lock covers both.
#[derive(Debug)]
struct Latency {
    all: Histogram<u64>,
    interval: Histogram<u64>,
}

/// Live counters, updated with relaxed atomics; the latency histograms sit behind a mutex
/// that is only taken on the request path (after network I/O), by [`Stats::snapshot`] and by
/// [`Stats::take_interval`].
#[derive(Debug)]
pub(crate) struct Stats {
    total: AtomicU64,
    fallbacks: AtomicU64,
    errors: AtomicU64,
    cache: CacheCounters,
    origins: [OriginCounters; 2],
    latency: Mutex<Latency>,
    /// The latest quota each origin announced since the last telemetry report.
    quota: Mutex<[Option<Quota>; 2]>,
}

/// The quota of GitHub's REST API headers (`x-ratelimit-remaining`, `x-ratelimit-limit`, and
/// `x-ratelimit-reset` in UTC epoch seconds), when the first two are present as integers.
pub(crate) fn quota_from(headers: &reqwest::header::HeaderMap) -> Option<Quota> {
    let num = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some(Quota {
        remaining: num("x-ratelimit-remaining")?,
        limit: num("x-ratelimit-limit")?,
        reset: num("x-ratelimit-reset"),
    })
}

impl Stats {
    pub(crate) fn new() -> Stats {
        // 1 µs .. 1 h, 3 significant digits: constant, valid bounds (low ≥ 1, high ≥ 2·low,
        // sigfig ≤ 5), so creation cannot fail.
        #[allow(clippy::expect_used)]
        let hist = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds");
        Stats {
            total: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            cache: CacheCounters::default(),
            origins: Default::default(),
            latency: Mutex::new(Latency {
                interval: hist.clone(),
                all: hist,
            }),
            quota: Mutex::new([None, None]),
        }
    }

    /// One logical request ended: served by `served_by` (None = error) after `elapsed`,
    /// `fallback` when that was not the first candidate.
    pub(crate) fn request(&self, served_by: Option<OriginKind>, fallback: bool, elapsed: Duration) {
        self.total.fetch_add(1, Ordering::Relaxed);
        match served_by {
            Some(k) => {
                self.origins[k.index()]
                    .served
                    .fetch_add(1, Ordering::Relaxed);
            }
            None => {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        if fallback {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        if let Ok(mut h) = self.latency.lock() {
            h.all.saturating_record(us);
            h.interval.saturating_record(us);
        }
    }

    /// One attempt on `kind` failed (any cause).
    pub(crate) fn attempt_failed(&self, kind: OriginKind) {
        self.origins[kind.index()]
            .failures
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A fetch was served from a fresh kept body, with no request.
    pub(crate) fn fresh(&self) {
        self.cache.fresh.fetch_add(1, Ordering::Relaxed);
    }

    /// A fetch was served from a kept body after a 304.
    pub(crate) fn revalidated(&self) {
        self.cache.revalidated.fetch_add(1, Ordering::Relaxed);
    }

    /// A fetch was served from a stale kept body because every origin failed.
    pub(crate) fn stale(&self) {
        self.cache.stale.fetch_add(1, Ordering::Relaxed);
    }

    /// A 2xx body of `n` bytes (decoded) came over the network.
    pub(crate) fn network_body(&self, n: usize) {
        self.cache
            .network_body_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A persisted body-cache file was damaged and ignored.
    pub(crate) fn body_cache_corrupt(&self) {
        self.cache
            .body_cache_corrupt
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A 2xx body failed the content check (or the size cap).
    pub(crate) fn content_check_failed(&self) {
        self.cache
            .content_check_failures
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A body did not match the document's `integrity` entry for its path (a 2xx body, or a
    /// kept body dropped when the entry changed).
    pub(crate) fn integrity_failed(&self) {
        self.cache
            .integrity_failures
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps the quota `kind` announced in `headers`, if it sent one (any status).
    pub(crate) fn observe_quota(&self, kind: OriginKind, headers: &reqwest::header::HeaderMap) {
        if let Some(q) = quota_from(headers)
            && let Ok(mut slots) = self.quota.lock()
        {
            slots[kind.index()] = Some(q);
        }
    }

    /// The quotas announced since the previous call (telemetry), `None` when none was.
    pub(crate) fn take_quota(&self) -> Option<OriginsQuota> {
        let mut slots = self.quota.lock().ok()?;
        let [git, cdn] = std::mem::take(&mut *slots);
        (git.is_some() || cdn.is_some()).then_some(OriginsQuota { git, cdn })
    }

    /// `kind` answered with a rate limit.
    pub(crate) fn rate_limited(&self, kind: OriginKind) {
        self.origins[kind.index()]
            .rate_limited
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let (avg, p50, p95, p99, max) = match self.latency.lock() {
            Ok(l) if !l.all.is_empty() => (
                l.all.mean() / 1000.0,
                ms(l.all.value_at_quantile(0.50)),
                ms(l.all.value_at_quantile(0.95)),
                ms(l.all.value_at_quantile(0.99)),
                ms(l.all.max()),
            ),
            _ => (0.0, 0.0, 0.0, 0.0, 0.0),
        };
        let origin = |k: OriginKind| {
            let c = &self.origins[k.index()];
            OriginCounts {
                requests: c.served.load(Ordering::Relaxed),
                failures: c.failures.load(Ordering::Relaxed),
                rate_limited: c.rate_limited.load(Ordering::Relaxed),
            }
        };
        let git = origin(OriginKind::Git);
        let cdn = origin(OriginKind::Cdn);
        StatsSnapshot {
            total_requests: self.total.load(Ordering::Relaxed),
            git_requests: git.requests,
            cdn_requests: cdn.requests,
            cloudflare_requests: cdn.requests,
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            rate_limited: git.rate_limited + cdn.rate_limited,
            average_response_time_ms: avg,
            p50_ms: p50,
            p95_ms: p95,
            p99_ms: p99,
            max_ms: max,
            fresh: self.cache.fresh.load(Ordering::Relaxed),
            revalidated: self.cache.revalidated.load(Ordering::Relaxed),
            stale: self.cache.stale.load(Ordering::Relaxed),
            network_body_bytes: self.cache.network_body_bytes.load(Ordering::Relaxed),
            body_cache_corrupt: self.cache.body_cache_corrupt.load(Ordering::Relaxed),
            content_check_failures: self.cache.content_check_failures.load(Ordering::Relaxed),
            integrity_failures: self.cache.integrity_failures.load(Ordering::Relaxed),
            git,
            cdn,
        }
    }
}

impl Stats {
    /// Latency of the requests since the previous call (the telemetry reporter's interval),
    /// and starts a new interval; zeros when there was none.
    pub(crate) fn take_interval(&self) -> LatencyMs {
        match self.latency.lock() {
            Ok(mut l) => {
                let h = &mut l.interval;
                let out = if h.is_empty() {
                    LatencyMs::default()
                } else {
                    LatencyMs {
                        p50: ms(h.value_at_quantile(0.50)),
                        p99: ms(h.value_at_quantile(0.99)),
                        mean: h.mean() / 1000.0,
                    }
                };
                h.reset();
                out
            }
            Err(_) => LatencyMs::default(),
        }
    }
}

fn ms(us: u64) -> f64 {
    // Microseconds to milliseconds; precision loss above 2^53 µs is irrelevant here.
    #[allow(clippy::cast_precision_loss)]
    let v = us as f64 / 1000.0;
    v
}

pub use sourcegate_contract::telemetry::{LatencyMs, OriginCounts, OriginsQuota, Quota};

/// A copy of the counters, as [`crate::Resolver::stats`] returns and serialises it (camelCase).
///
/// The seed's names are kept: `totalRequests`, `gitRequests`, `cloudflareRequests` (also
/// serialised as `cdnRequests`), `fallbacks`, `errors`; latencies are in milliseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatsSnapshot {
    /// Logical requests made (fetches and reported outcomes).
    pub total_requests: u64,
    /// Requests served by Git.
    pub git_requests: u64,
    /// Requests served by the CDN.
    pub cdn_requests: u64,
    /// Same as `cdn_requests`, under the seed's name.
    pub cloudflare_requests: u64,
    /// Requests served by an origin other than the first candidate.
    pub fallbacks: u64,
    /// Requests no origin could serve.
    pub errors: u64,
    /// Rate-limit answers seen (429, or 403 from Git), all origins.
    pub rate_limited: u64,
    /// Mean request latency, ms (the seed's "average response time").
    pub average_response_time_ms: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Largest latency seen, ms.
    pub max_ms: f64,
    /// Fetches served from a fresh kept body with no request (RFC 9111 §4.2); also counted
    /// in `totalRequests` and the serving origin's requests.
    pub fresh: u64,
    /// Fetches served from a kept body the origin confirmed with a 304 (RFC 9111 §4.3).
    pub revalidated: u64,
    /// Fetches served from a stale kept body because every origin failed (RFC 9111 §4.2.4).
    pub stale: u64,
    /// Bytes of 2xx bodies received from origins, after decompression.
    pub network_body_bytes: u64,
    /// Persisted body-cache files found damaged and ignored.
    pub body_cache_corrupt: u64,
    /// 2xx bodies refused by the content check, the size cap or the read-idle timeout.
    pub content_check_failures: u64,
    /// Bodies whose size or SHA-256 differed from the document's `integrity` entry for their
    /// path: 2xx bodies refused (the attempt failed over, the body was not kept) plus kept
    /// bodies dropped unserved because the current document's entry no longer matches them.
    /// Not counted in `contentCheckFailures`.
    pub integrity_failures: u64,
    /// Per-origin counters for Git.
    pub git: OriginCounts,
    /// Per-origin counters for the CDN.
    pub cdn: OriginCounts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_latency_resets_while_the_totals_keep_counting() {
        let s = Stats::new();
        s.request(Some(OriginKind::Git), false, Duration::from_millis(10));
        s.request(Some(OriginKind::Git), false, Duration::from_millis(30));
        let first = s.take_interval();
        assert!((first.mean - 20.0).abs() < 0.1, "{first:?}");
        assert!((first.p99 - 30.0).abs() < 0.1, "{first:?}");
        assert_eq!(s.take_interval(), LatencyMs::default());
        s.request(None, false, Duration::from_millis(100));
        let second = s.take_interval();
        assert!((second.p50 - 100.0).abs() < 0.2, "{second:?}");
        let all = s.snapshot();
        assert_eq!(all.total_requests, 3);
        assert!((all.max_ms - 100.0).abs() < 0.2);
    }

    #[test]
    fn the_latest_quota_is_taken_once() {
        use reqwest::header::{HeaderMap, HeaderValue};
        let s = Stats::new();
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("59"));
        s.observe_quota(OriginKind::Git, &h);
        assert_eq!(s.take_quota(), None, "no limit header: no quota");
        h.insert("x-ratelimit-limit", HeaderValue::from_static("60"));
        s.observe_quota(OriginKind::Git, &h);
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("12"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1700000300"));
        s.observe_quota(OriginKind::Git, &h);
        let q = s.take_quota().unwrap();
        assert_eq!(
            q.git,
            Some(Quota {
                remaining: 12,
                limit: 60,
                reset: Some(1_700_000_300)
            })
        );
        assert_eq!(q.cdn, None);
        assert_eq!(s.take_quota(), None);
    }
}
