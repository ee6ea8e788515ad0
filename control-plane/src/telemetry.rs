//! Fleet telemetry aggregation (pure: no I/O, time passed in): what `POST /v1/telemetry` feeds
//! and `GET /v1/telemetry/summary` reads.
//!
//! Reports ([`TelemetryReport`], sent by resolvers, counts being deltas since their previous
//! report) are validated by [`validate`] and added by [`Aggregator::record`] to the bucket of the
//! minute they **arrived** in (the server's clock; a report's own claims are trusted only for
//! counters, mode and version). Per minute and per origin it keeps requests, failures and
//! rate-limit answers, plus fallbacks, errors, and latency: the request-weighted mean of the
//! reported p50s and means, and the maximum reported p99.
//!
//! Bounded memory: the last [`RETENTION_MINUTES`] minutes, and at most [`MAX_INSTALLS`]
//! installs (last report per `installHash`; the least recently seen are evicted first, and
//! installs silent for longer than the retention are forgotten). The aggregator is
//! **per process**: replicas each count what they received, and a restart starts empty.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
pub use sourcegate::stats::OriginCounts;
pub use sourcegate::telemetry::TelemetryReport;

/// Minutes of history kept.
pub const RETENTION_MINUTES: i64 = 120;
/// Installs remembered (last report per install hash).
pub const MAX_INSTALLS: usize = 50_000;
/// Largest count accepted in one report's field (a resolver reporting every minute cannot
/// plausibly exceed it; larger values are refused as out of range).
pub const MAX_COUNT: u64 = 1_000_000_000;
/// Largest latency accepted, ms (one hour, the resolver's histogram ceiling).
pub const MAX_LATENCY_MS: f64 = 3_600_000.0;

/// Why a report was refused (answered 400 `bad_request`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid telemetry report: {field}: {why}")]
pub struct InvalidReport {
    /// The offending field (camelCase, dotted).
    pub field: &'static str,
    /// What is wrong.
    pub why: &'static str,
}

fn bad(field: &'static str, why: &'static str) -> InvalidReport {
    InvalidReport { field, why }
}

/// Checks a deserialized report's ranges and formats.
///
/// # Errors
/// [`InvalidReport`] naming the first offending field.
pub fn validate(r: &TelemetryReport) -> Result<(), InvalidReport> {
    if r.install_hash.len() != 64
        || !r
            .install_hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(bad(
            "installHash",
            "must be 64 lower-case hex digits (SHA-256)",
        ));
    }
    if !sourcegate_contract::mode::DOCUMENT_TYPES.contains(&r.mode.as_str()) {
        return Err(bad("mode", "must be git, cdn, hybrid or canary"));
    }
    if r.config_version > i64::MAX as u64 {
        return Err(bad("configVersion", "out of range"));
    }
    if r.sdk.is_empty() || r.sdk.len() > 64 || !r.sdk.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("sdk", "1 to 64 printable ASCII characters"));
    }
    if !(r.interval_secs.is_finite() && (0.001..=86_400.0).contains(&r.interval_secs)) {
        return Err(bad("intervalSecs", "must be in 0.001..=86400"));
    }
    let counts = [
        ("origins.git.requests", r.origins.git.requests),
        ("origins.git.failures", r.origins.git.failures),
        ("origins.git.rateLimited", r.origins.git.rate_limited),
        ("origins.cdn.requests", r.origins.cdn.requests),
        ("origins.cdn.failures", r.origins.cdn.failures),
        ("origins.cdn.rateLimited", r.origins.cdn.rate_limited),
        ("fallbacks", r.fallbacks),
        ("errors", r.errors),
    ];
    for (field, v) in counts {
        if v > MAX_COUNT {
            return Err(bad(field, "count out of range"));
        }
    }
    let l = &r.latency_ms;
    for (field, v) in [
        ("latencyMs.p50", l.p50),
        ("latencyMs.p99", l.p99),
        ("latencyMs.mean", l.mean),
    ] {
        if !(v.is_finite() && (0.0..=MAX_LATENCY_MS).contains(&v)) {
            return Err(bad(
                field,
                "must be a number of milliseconds in 0..=3600000",
            ));
        }
    }
    Ok(())
}

/// Counts of one origin in one minute: the reports' [`OriginCounts`], summed (one counts type
/// from resolver to summary; JSON `requests`, `failures`, `rateLimited`).
pub type OriginMinute = OriginCounts;

#[derive(Debug, Clone, Default)]
struct Bucket {
    git: OriginMinute,
    cdn: OriginMinute,
    fallbacks: u64,
    errors: u64,
    /// Requests that carried latency figures (the weights).
    weight: u64,
    p50_sum: f64,
    mean_sum: f64,
    p99_max: f64,
    reports: u64,
}

/// One minute of [`Summary::minutes`].
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MinuteSummary {
    /// Start of the minute, RFC 3339 (UTC).
    pub minute: String,
    /// Git counts.
    pub git: OriginMinute,
    /// CDN counts.
    pub cdn: OriginMinute,
    /// Requests served by a fallback origin.
    pub fallbacks: u64,
    /// Requests no origin could serve.
    pub errors: u64,
    /// Request-weighted mean of the reported medians, ms (0 without requests).
    pub p50_ms: f64,
    /// Largest reported p99, ms (0 without requests).
    pub p99_ms: f64,
    /// Request-weighted mean latency, ms (0 without requests).
    pub mean_ms: f64,
    /// Reports received in this minute.
    pub reports: u64,
}

/// Installs per mode and config version (last report of each install in the retention window).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstallsSummary {
    /// Distinct installs.
    pub total: u64,
    /// Installs per mode (`git`, `cdn`, `hybrid`, `canary`).
    pub by_mode: BTreeMap<String, u64>,
    /// Installs per config version (keys are the version as a string).
    pub by_version: BTreeMap<String, u64>,
}

/// Answer of `GET /v1/telemetry/summary`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// One entry per minute, oldest first, ending with the current minute; minutes without
    /// reports are present with zeros (ready to plot).
    pub minutes: Vec<MinuteSummary>,
    /// Share of installs per mode and version.
    pub installs: InstallsSummary,
}

#[derive(Debug, Clone)]
struct Install {
    mode: String,
    version: u64,
    last_minute: i64,
}

/// The in-memory aggregate. Time is "Unix seconds" passed by the caller.
#[derive(Debug, Default)]
pub struct Aggregator {
    minutes: BTreeMap<i64, Bucket>,
    installs: HashMap<String, Install>,
    max_installs: usize,
}

fn minute_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(60)
}

impl Aggregator {
    /// An empty aggregator with the default bounds ([`MAX_INSTALLS`]).
    pub fn new() -> Aggregator {
        Aggregator::with_max_installs(MAX_INSTALLS)
    }

    /// An empty aggregator remembering at most `max_installs` installs (at least 1).
    pub fn with_max_installs(max_installs: usize) -> Aggregator {
        Aggregator {
            minutes: BTreeMap::new(),
            installs: HashMap::new(),
            max_installs: max_installs.max(1),
        }
    }

    /// Adds a (validated) report received at `now_unix_secs`.
    pub fn record(&mut self, r: &TelemetryReport, now_unix_secs: i64) {
        let minute = minute_of(now_unix_secs);
        let b = self.minutes.entry(minute).or_default();
        b.git.add(&r.origins.git);
        b.cdn.add(&r.origins.cdn);
        b.fallbacks = b.fallbacks.saturating_add(r.fallbacks);
        b.errors = b.errors.saturating_add(r.errors);
        b.reports += 1;
        let weight = r
            .origins
            .git
            .requests
            .saturating_add(r.origins.cdn.requests)
            .saturating_add(r.errors);
        if weight > 0 {
            #[allow(clippy::cast_precision_loss)]
            let w = weight as f64;
            b.weight = b.weight.saturating_add(weight);
            b.p50_sum += r.latency_ms.p50 * w;
            b.mean_sum += r.latency_ms.mean * w;
            b.p99_max = b.p99_max.max(r.latency_ms.p99);
        }
        let oldest = minute - RETENTION_MINUTES + 1;
        self.minutes = self.minutes.split_off(&oldest);
        self.installs.insert(
            r.install_hash.clone(),
            Install {
                mode: r.mode.clone(),
                version: r.config_version,
                last_minute: minute,
            },
        );
        if self.installs.len() > self.max_installs {
            self.evict(oldest);
        }
    }

    /// Drops installs silent since before `oldest`, then the least recently seen tenth of the
    /// cap (amortising the scan over many inserts).
    fn evict(&mut self, oldest: i64) {
        self.installs.retain(|_, i| i.last_minute >= oldest);
        if self.installs.len() <= self.max_installs {
            return;
        }
        let mut seen: Vec<i64> = self.installs.values().map(|i| i.last_minute).collect();
        let drop = (self.installs.len() - self.max_installs) + self.max_installs / 10;
        let drop = drop.min(seen.len());
        seen.sort_unstable();
        let cutoff = seen[drop.saturating_sub(1)];
        let mut left = drop;
        self.installs.retain(|_, i| {
            if left > 0 && i.last_minute <= cutoff {
                left -= 1;
                false
            } else {
                true
            }
        });
    }

    /// Installs currently remembered.
    pub fn install_count(&self) -> usize {
        self.installs.len()
    }

    /// The last `minutes` minutes (1..=[`RETENTION_MINUTES`], clamped) up to and including the
    /// minute of `now_unix_secs`, and the installs seen within the retention window.
    pub fn summary(&self, minutes: i64, now_unix_secs: i64) -> Summary {
        let n = minutes.clamp(1, RETENTION_MINUTES);
        let current = minute_of(now_unix_secs);
        let empty = Bucket::default();
        let minutes = (current - n + 1..=current)
            .map(|m| {
                let b = self.minutes.get(&m).unwrap_or(&empty);
                #[allow(clippy::cast_precision_loss)]
                let w = b.weight as f64;
                let per = |sum: f64| if b.weight == 0 { 0.0 } else { sum / w };
                MinuteSummary {
                    minute: chrono::DateTime::from_timestamp(m * 60, 0)
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .unwrap_or_default(),
                    git: b.git,
                    cdn: b.cdn,
                    fallbacks: b.fallbacks,
                    errors: b.errors,
                    p50_ms: per(b.p50_sum),
                    p99_ms: b.p99_max,
                    mean_ms: per(b.mean_sum),
                    reports: b.reports,
                }
            })
            .collect();
        let oldest = current - RETENTION_MINUTES + 1;
        let mut installs = InstallsSummary::default();
        for i in self.installs.values().filter(|i| i.last_minute >= oldest) {
            installs.total += 1;
            *installs.by_mode.entry(i.mode.clone()).or_default() += 1;
            *installs
                .by_version
                .entry(i.version.to_string())
                .or_default() += 1;
        }
        Summary { minutes, installs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sourcegate::telemetry::{LatencyMs, OriginsCounts};

    fn report(id: &str, mode: &str, version: u64, git: u64, cdn: u64) -> TelemetryReport {
        TelemetryReport {
            install_hash: sourcegate::telemetry::install_hash(id),
            config_version: version,
            mode: mode.into(),
            sdk: "sourcegate-rust/0.1.0".into(),
            interval_secs: 60.0,
            origins: OriginsCounts {
                git: OriginCounts {
                    requests: git,
                    failures: 1,
                    rate_limited: 1,
                },
                cdn: OriginCounts {
                    requests: cdn,
                    failures: 0,
                    rate_limited: 0,
                },
            },
            fallbacks: 1,
            errors: 0,
            latency_ms: LatencyMs {
                p50: 10.0,
                p99: 50.0,
                mean: 12.0,
            },
        }
    }

    // 2026-01-01T00:00:00Z.
    const T0: i64 = 1_767_225_600;

    #[test]
    fn sums_per_minute_and_origin_with_weighted_latency() {
        let mut a = Aggregator::new();
        a.record(&report("a", "git", 3, 10, 0), T0 + 5);
        let mut r = report("b", "canary", 4, 20, 10);
        r.latency_ms = LatencyMs {
            p50: 40.0,
            p99: 200.0,
            mean: 42.0,
        };
        a.record(&r, T0 + 59);
        a.record(&report("a", "git", 3, 7, 3), T0 + 60);
        let s = a.summary(3, T0 + 61);
        assert_eq!(s.minutes.len(), 3);
        assert_eq!(s.minutes[0].minute, "2025-12-31T23:59:00Z");
        assert_eq!(s.minutes[0].reports, 0);
        assert_eq!(s.minutes[0].p50_ms, 0.0);
        let m = &s.minutes[1];
        assert_eq!(m.minute, "2026-01-01T00:00:00Z");
        assert_eq!(m.git.requests, 30);
        assert_eq!(m.git.failures, 2);
        assert_eq!(m.git.rate_limited, 2);
        assert_eq!(m.cdn.requests, 10);
        assert_eq!(m.fallbacks, 2);
        assert_eq!(m.reports, 2);
        // Weights 10 and 30: (10·10 + 40·30) / 40 = 32.5; mean (12·10 + 42·30) / 40 = 34.5.
        assert!((m.p50_ms - 32.5).abs() < 1e-9);
        assert!((m.mean_ms - 34.5).abs() < 1e-9);
        assert_eq!(m.p99_ms, 200.0);
        let m = &s.minutes[2];
        assert_eq!((m.git.requests, m.cdn.requests), (7, 3));
        assert_eq!(m.p99_ms, 50.0);
        // Install "a" counted once, with its last report.
        assert_eq!(s.installs.total, 2);
        assert_eq!(s.installs.by_mode["git"], 1);
        assert_eq!(s.installs.by_mode["canary"], 1);
        assert_eq!(s.installs.by_version["3"], 1);
        assert_eq!(s.installs.by_version["4"], 1);
    }

    #[test]
    fn an_install_moving_mode_is_counted_under_its_last_report() {
        let mut a = Aggregator::new();
        a.record(&report("a", "git", 3, 1, 0), T0);
        a.record(&report("a", "canary", 5, 1, 0), T0 + 1);
        let s = a.summary(1, T0 + 2);
        assert_eq!(s.installs.total, 1);
        assert_eq!(s.installs.by_mode.get("git"), None);
        assert_eq!(s.installs.by_version["5"], 1);
    }

    #[test]
    fn reports_without_requests_leave_latency_alone() {
        let mut a = Aggregator::new();
        let mut r = report("a", "git", 1, 0, 0);
        r.latency_ms.p99 = 999.0;
        a.record(&r, T0);
        let m = &a.summary(1, T0).minutes[0];
        assert_eq!((m.p50_ms, m.p99_ms, m.reports), (0.0, 0.0, 1));
    }

    #[test]
    fn retention_drops_old_minutes_and_silent_installs() {
        let mut a = Aggregator::new();
        a.record(&report("old", "git", 1, 5, 0), T0);
        let later = T0 + RETENTION_MINUTES * 60;
        a.record(&report("new", "cdn", 2, 0, 5), later);
        assert_eq!(
            a.minutes.len(),
            1,
            "the minute of T0 fell out of the window"
        );
        let s = a.summary(RETENTION_MINUTES + 50, later);
        assert_eq!(s.minutes.len() as i64, RETENTION_MINUTES, "clamped");
        assert_eq!(s.minutes.iter().map(|m| m.git.requests).sum::<u64>(), 0);
        assert_eq!(s.installs.total, 1);
        assert_eq!(s.installs.by_mode["cdn"], 1);
    }

    #[test]
    fn install_map_is_bounded_evicting_least_recently_seen() {
        let mut a = Aggregator::with_max_installs(10);
        for i in 0..10 {
            a.record(&report(&format!("i{i}"), "git", 1, 0, 0), T0 + i * 60);
        }
        assert_eq!(a.install_count(), 10);
        a.record(&report("i10", "git", 1, 0, 0), T0 + 600);
        assert!(a.install_count() <= 10);
        assert!(
            a.installs
                .contains_key(&sourcegate::telemetry::install_hash("i10"))
        );
        assert!(
            !a.installs
                .contains_key(&sourcegate::telemetry::install_hash("i0"))
        );
        assert!(
            a.installs
                .contains_key(&sourcegate::telemetry::install_hash("i9"))
        );
    }

    #[test]
    fn validation_refuses_bad_fields() {
        let ok = report("a", "hybrid", 1, 1, 1);
        assert_eq!(validate(&ok), Ok(()));
        let field = |f: fn(&mut TelemetryReport)| {
            let mut r = ok.clone();
            f(&mut r);
            validate(&r).unwrap_err().field
        };
        assert_eq!(field(|r| r.install_hash = "abc".into()), "installHash");
        assert_eq!(
            field(|r| r.install_hash = r.install_hash.to_uppercase()),
            "installHash"
        );
        assert_eq!(field(|r| r.mode = "weird".into()), "mode");
        assert_eq!(field(|r| r.config_version = u64::MAX), "configVersion");
        assert_eq!(field(|r| r.sdk = String::new()), "sdk");
        assert_eq!(field(|r| r.interval_secs = 0.0), "intervalSecs");
        assert_eq!(field(|r| r.interval_secs = f64::NAN), "intervalSecs");
        assert_eq!(
            field(|r| r.origins.cdn.failures = MAX_COUNT + 1),
            "origins.cdn.failures"
        );
        assert_eq!(field(|r| r.latency_ms.p99 = -1.0), "latencyMs.p99");
        assert_eq!(field(|r| r.latency_ms.mean = 1e9), "latencyMs.mean");
    }
}
