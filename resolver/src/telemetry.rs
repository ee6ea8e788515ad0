//! Fleet telemetry: a resolver periodically reports its counters to the control plane
//! (`POST /v1/telemetry`), so admins see fleet-wide usage, fallbacks and rate-limit pressure.
//!
//! **On by default, with an opt-out.** A resolver with a
//! [`crate::provider::ControlPlaneProvider`] reports to that control plane's `/v1/telemetry`
//! unless the app opts out with `TelemetrySettings { enabled: false, .. }`
//! ([`crate::ResolverBuilder::telemetry`]); any other endpoint can be set with
//! [`crate::ResolverBuilder::telemetry_endpoint`]. With only Supabase or static providers and no
//! endpoint set, nothing is sent.
//!
//! What is sent, every `interval × U(0.9, 1.1)` (default 60 s; the jitter spreads a fleet's
//! reports): a [`TelemetryReport`], whose counts are **deltas since the previous report**, the
//! SHA-256 of the install id (never the id itself), the config version and mode in use, and
//! latency. A report that fails (5 s timeout, any error) is dropped, never retried: the next one
//! carries its own deltas, so a control plane that is down loses those minutes' counts and the
//! app never queues work. The reporter runs on the resolver's runtime, never on the caller's
//! path, and stops when the resolver is dropped. It sends nothing while the resolver is paused
//! ([`crate::Resolver::pause`]); [`crate::Resolver::close`] makes it send the last deltas (the
//! requests since the previous report, if any) before it ends. An offline resolver
//! ([`crate::ResolverBuilder::offline`]) has no reporter.
//!
//! [`report_delta`] (building a report from two [`StatsSnapshot`]s) is pure. The reporter reads
//! its resolver through a [`StatsSource`]. The report and its counts are the wire contract's
//! (`sourcegate_contract::telemetry`), re-exported here; [`crate::stats`] counts with the same
//! [`OriginCounts`], so a report carries the resolver's counts as they are.

use std::time::Duration;

use sha2::{Digest as _, Sha256};
use tokio::sync::watch;
use tracing::Instrument as _;
use url::Url;

use crate::config::Mode;
use crate::runtime::Life;
use crate::stats::StatsSnapshot;
pub use sourcegate_contract::telemetry::{LatencyMs, OriginCounts, OriginsCounts, TelemetryReport};

/// The SDK name sent in reports.
pub const SDK: &str = concat!("sourcegate-rust/", env!("CARGO_PKG_VERSION"));

/// Timeout of one report.
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Telemetry settings of a resolver (see [`crate::ResolverBuilder::telemetry`]).
///
/// Defaults:
/// - `endpoint`: `None`: the first provider that offers one
///   ([`crate::provider::ConfigProvider::telemetry_endpoint`], i.e. a control plane's
///   `/v1/telemetry`), else nothing is sent;
/// - `interval`: 60 s, each wait drawn in `interval × U(0.9, 1.1)`;
/// - `enabled`: `true` (`false` opts out: nothing is sent even with an endpoint).
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetrySettings {
    /// Where reports are POSTed, e.g. `https://sourcegate.example.com/v1/telemetry`.
    pub endpoint: Option<Url>,
    /// Mean time between reports (at least 10 ms).
    pub interval: Duration,
    /// Master switch: `false` sends nothing even with an endpoint.
    pub enabled: bool,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            endpoint: None,
            interval: Duration::from_secs(60),
            enabled: true,
        }
    }
}

/// Lower-case hex SHA-256 of `install_id`: what reports carry instead of the id.
///
/// # Examples
/// ```
/// let h = sourcegate::telemetry::install_hash("abc");
/// assert_eq!(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// ```
pub fn install_hash(install_id: &str) -> String {
    Sha256::digest(install_id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The wire name of a mode (`git`, `cdn`, `hybrid`, `canary`).
pub fn mode_name(mode: &Mode) -> &'static str {
    match mode {
        Mode::Git => "git",
        Mode::Cdn => "cdn",
        Mode::Hybrid { .. } => "hybrid",
        Mode::Canary { .. } => "canary",
    }
}

/// Where the reporter reads its samples: implemented by any `Fn() -> Option<Sample>` (the
/// resolver passes a closure over a weak reference to itself).
pub trait StatsSource: Send + 'static {
    /// The sample for now, or `None` once the source is gone (the reporter then ends).
    fn sample(&self) -> Option<Sample>;
}

impl<F: Fn() -> Option<Sample> + Send + 'static> StatsSource for F {
    fn sample(&self) -> Option<Sample> {
        self()
    }
}

/// What the reporter samples from its resolver each interval.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The resolver's counters (cumulative).
    pub stats: StatsSnapshot,
    /// Latency of the requests since the previous sample.
    pub latency: LatencyMs,
    /// Version of the config in use.
    pub config_version: u64,
    /// Wire name of its mode ([`mode_name`]).
    pub mode: &'static str,
    /// The latest quota each origin announced since the previous sample (`x-ratelimit-*`).
    pub quota: Option<sourcegate_contract::telemetry::OriginsQuota>,
}

/// The report for the interval between `prev` and `cur` (counters are cumulative, so the
/// report carries `cur − prev`, saturating; latency is `cur.latency`, already per
/// interval). Pure.
pub fn report_delta(
    install_hash: &str,
    interval: Duration,
    prev: &StatsSnapshot,
    cur: &Sample,
) -> TelemetryReport {
    let s = &cur.stats;
    TelemetryReport {
        install_hash: install_hash.to_owned(),
        config_version: cur.config_version,
        mode: cur.mode.to_owned(),
        sdk: SDK.to_owned(),
        interval_secs: interval.as_secs_f64(),
        origins: OriginsCounts {
            git: s.git.since(&prev.git),
            cdn: s.cdn.since(&prev.cdn),
        },
        fallbacks: s.fallbacks.saturating_sub(prev.fallbacks),
        errors: s.errors.saturating_sub(prev.errors),
        stale: s.stale.saturating_sub(prev.stale),
        latency_ms: cur.latency,
        quota: cur.quota,
    }
}

/// The reporter loop: sleeps `interval × U(0.9, 1.1)`, samples, POSTs the deltas, repeats.
/// Follows the resolver's lifecycle through `life`: while paused it sends nothing and waits
/// (after a resume a full interval passes before the next report; the counts of the pause go
/// in it); once closed it sends one last report with the deltas since the previous one (only
/// when a request was counted since) and ends. Ends at once, without a report, when `source`
/// has no sample or `life`'s sender is gone (the resolver was dropped); the resolver also
/// aborts it on drop.
pub(crate) async fn run(
    reporter: Reporter,
    source: impl StatsSource,
    mut life: watch::Receiver<Life>,
) {
    let Some(first) = source.sample() else { return };
    let mut prev = first.stats;
    loop {
        let state = *life.borrow_and_update();
        match state {
            Life::Closed => {
                if let Some(cur) = source.sample()
                    && cur.stats.total_requests > prev.total_requests
                {
                    reporter.send(&reporter.delta(&prev, &cur)).await;
                }
                return;
            }
            Life::Paused => {
                if life.changed().await.is_err() {
                    return;
                }
                continue;
            }
            Life::Running => {}
        }
        let wait = reporter.interval.mul_f64(0.9 + 0.2 * rand::random::<f64>());
        tokio::select! {
            () = tokio::time::sleep(wait) => {
                let Some(cur) = source.sample() else { return };
                let report = reporter.delta(&prev, &cur);
                prev = cur.stats;
                reporter.send(&report).await;
            }
            changed = life.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Where and how reports are sent: one per resolver, owned by its reporter loop.
pub(crate) struct Reporter {
    /// Where reports are POSTed.
    pub(crate) endpoint: Url,
    /// Mean time between reports.
    pub(crate) interval: Duration,
    /// The resolver's client.
    pub(crate) http: reqwest::Client,
    /// [`install_hash`] of the resolver's install id.
    pub(crate) install_hash: String,
}

impl Reporter {
    fn delta(&self, prev: &StatsSnapshot, cur: &Sample) -> TelemetryReport {
        report_delta(&self.install_hash, self.interval, prev, cur)
    }

    /// POSTs one report (timeout [`REPORT_TIMEOUT`]); a failure is logged and dropped.
    async fn send(&self, report: &TelemetryReport) {
        let span = tracing::debug_span!("telemetry_report", endpoint = %self.endpoint);
        let sent = self
            .http
            .post(self.endpoint.clone())
            .timeout(REPORT_TIMEOUT)
            .json(report)
            .send()
            .instrument(span)
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                tracing::debug!(
                    status = r.status().as_u16(),
                    "telemetry report refused; dropped"
                )
            }
            Err(e) => tracing::debug!(error = %e, "telemetry report failed; dropped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(total: u64, git: u64, cdn: u64, avg: f64) -> StatsSnapshot {
        StatsSnapshot {
            total_requests: total,
            git_requests: git,
            cdn_requests: cdn,
            cloudflare_requests: cdn,
            fallbacks: total / 10,
            errors: total - git - cdn,
            rate_limited: 0,
            average_response_time_ms: avg,
            p50_ms: 10.0,
            p95_ms: 20.0,
            p99_ms: 30.0,
            max_ms: 40.0,
            fresh: 0,
            revalidated: 0,
            stale: 0,
            network_body_bytes: 0,
            body_cache_corrupt: 0,
            content_check_failures: 0,
            integrity_failures: 0,
            git: OriginCounts {
                requests: git,
                failures: git / 2,
                rate_limited: 1,
            },
            cdn: OriginCounts {
                requests: cdn,
                failures: 0,
                rate_limited: 0,
            },
        }
    }

    #[test]
    fn delta_subtracts_counters_and_keeps_the_interval_latency() {
        let prev = snap(10, 6, 4, 10.0);
        let cur = Sample {
            stats: snap(30, 16, 12, 20.0),
            latency: LatencyMs {
                p50: 20.0,
                p99: 90.0,
                mean: 25.0,
            },
            config_version: 3,
            mode: "canary",
            quota: None,
        };
        let r = report_delta("h", Duration::from_secs(60), &prev, &cur);
        assert_eq!(r.origins.git.requests, 10);
        assert_eq!(r.origins.git.failures, 5);
        assert_eq!(r.origins.git.rate_limited, 0);
        assert_eq!(r.origins.cdn.requests, 8);
        assert_eq!(r.fallbacks, 2);
        assert_eq!(r.errors, 2);
        assert_eq!(r.latency_ms, cur.latency);
        assert_eq!(r.mode, "canary");
        assert_eq!(r.config_version, 3);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["origins"]["git"]["rateLimited"], 0);
        assert_eq!(json["intervalSecs"], 60.0);
        assert!(json["latencyMs"]["p99"].is_number());
    }

    #[test]
    fn hash_is_64_hex() {
        let h = install_hash("some-install");
        assert_eq!(h.len(), 64);
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }
}
