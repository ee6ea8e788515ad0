//! Fleet telemetry (pure: no I/O, time passed in): what `POST /v1/telemetry` feeds and
//! `GET /v1/telemetry/summary` reads.
//!
//! Reports ([`TelemetryReport`], sent by resolvers, counts being deltas since their previous
//! report) are validated by [`validate`] and added by [`Batch::record`] to the bucket of the
//! minute they **arrived** in (the server's clock; a report's own claims are trusted only for
//! counters, mode, version and quota), keyed by mode and config version. Per bucket it keeps
//! per-origin requests, failures and rate-limit answers, fallbacks, errors, reports, the
//! distinct installs that reported, latency sums (request-weighted p50 and mean, maximum p99)
//! and the latest quota each origin announced.
//!
//! The batch is what one replica received since its last flush: `crate::fleet_store` upsert-adds
//! it into `app_private.telemetry_minutes` every few seconds (one statement), so the series is
//! the **fleet's**, shared by every replica and kept across restarts. A "minute" is
//! `minute_secs` seconds (60, or fewer in tests and drills: `--minute-secs`).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
pub use sourcegate::stats::OriginCounts;
pub use sourcegate::telemetry::TelemetryReport;
pub use sourcegate_contract::telemetry::Quota;

/// Minutes the summary can show, and the window of its install counts.
pub const RETENTION_MINUTES: i64 = 120;
/// Distinct installs a batch remembers per bucket for its install counts (more are counted as
/// reports but not as installs until the next minute).
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
        ("stale", r.stale),
    ];
    for (field, v) in counts {
        if v > MAX_COUNT {
            return Err(bad(field, "count out of range"));
        }
    }
    if let Some(q) = &r.quota {
        for (field, quota) in [("quota.git", q.git), ("quota.cdn", q.cdn)] {
            if let Some(quota) = quota
                && (quota.limit > MAX_COUNT
                    || quota.remaining > MAX_COUNT
                    || quota.reset.is_some_and(|t| t > i64::MAX as u64))
            {
                return Err(bad(field, "quota out of range"));
            }
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

/// Where a report's counts go: the minute (index: unix seconds / `minute_secs`), the mode and
/// the config version the install runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BucketKey {
    /// Minute index (`unix seconds / minute_secs`, rounded down).
    pub minute: i64,
    /// The document type the install runs.
    pub mode: String,
    /// The config version the install runs.
    pub config_version: i64,
}

/// A quota and when (unix seconds, server clock) it arrived: the latest one wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenQuota {
    /// The announced quota.
    pub quota: Quota,
    /// Arrival, unix seconds.
    pub seen_at: i64,
}

/// The sums of one bucket (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bucket {
    /// Git counts.
    pub git: OriginMinute,
    /// CDN counts.
    pub cdn: OriginMinute,
    /// Requests served by a fallback origin.
    pub fallbacks: u64,
    /// Requests no origin could serve, answered with an error.
    pub errors: u64,
    /// Requests no origin could serve, answered from a stale kept body.
    pub stale: u64,
    /// Reports.
    pub reports: u64,
    /// Installs that reported for the first time in this minute (on this replica).
    pub installs: u64,
    /// Requests that carried latency figures (the weights).
    pub weight: u64,
    /// Sum of p50 × weight, ms.
    pub p50_sum: f64,
    /// Sum of mean × weight, ms.
    pub mean_sum: f64,
    /// Largest p99, ms.
    pub p99_max: f64,
    /// Latest Git quota.
    pub git_quota: Option<SeenQuota>,
    /// Latest CDN quota.
    pub cdn_quota: Option<SeenQuota>,
}

fn later(a: Option<SeenQuota>, b: Option<SeenQuota>) -> Option<SeenQuota> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.seen_at >= x.seen_at { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

impl Bucket {
    /// Adds `o` (a bucket of the same key) into `self`.
    pub fn merge(&mut self, o: &Bucket) {
        self.git.add(&o.git);
        self.cdn.add(&o.cdn);
        self.fallbacks = self.fallbacks.saturating_add(o.fallbacks);
        self.errors = self.errors.saturating_add(o.errors);
        self.stale = self.stale.saturating_add(o.stale);
        self.reports = self.reports.saturating_add(o.reports);
        self.installs = self.installs.saturating_add(o.installs);
        self.weight = self.weight.saturating_add(o.weight);
        self.p50_sum += o.p50_sum;
        self.mean_sum += o.mean_sum;
        self.p99_max = self.p99_max.max(o.p99_max);
        self.git_quota = later(self.git_quota, o.git_quota);
        self.cdn_quota = later(self.cdn_quota, o.cdn_quota);
    }
}

/// The last report of an install in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallSeen {
    /// Its mode.
    pub mode: String,
    /// Its config version.
    pub config_version: i64,
    /// Arrival, unix seconds.
    pub seen_at: i64,
}

/// What a flush writes: the buckets and the installs' last reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drained {
    /// Bucket sums to add.
    pub buckets: HashMap<BucketKey, Bucket>,
    /// Last report per install hash.
    pub installs: HashMap<String, InstallSeen>,
}

impl Drained {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty() && self.installs.is_empty()
    }
}

/// One replica's reports since its last flush (see the module docs).
#[derive(Debug)]
pub struct Batch {
    minute_secs: i64,
    pending: Drained,
    /// Installs already counted per bucket, kept across flushes for the current and previous
    /// minute so an install reporting often is one install.
    counted: HashMap<BucketKey, HashSet<String>>,
}

impl Batch {
    /// An empty batch with minutes of `minute_secs` seconds (at least 1).
    pub fn new(minute_secs: u64) -> Batch {
        Batch {
            minute_secs: i64::try_from(minute_secs.max(1)).unwrap_or(60),
            pending: Drained::default(),
            counted: HashMap::new(),
        }
    }

    /// Minute index of `unix_secs`.
    pub fn minute_of(&self, unix_secs: i64) -> i64 {
        unix_secs.div_euclid(self.minute_secs)
    }

    /// Adds a (validated) report received at `now_unix_secs`.
    pub fn record(&mut self, r: &TelemetryReport, now_unix_secs: i64) {
        let minute = self.minute_of(now_unix_secs);
        let key = BucketKey {
            minute,
            mode: r.mode.clone(),
            config_version: i64::try_from(r.config_version).unwrap_or(i64::MAX),
        };
        self.counted.retain(|k, _| k.minute >= minute - 1);
        let seen = self.counted.entry(key.clone()).or_default();
        let new_install = seen.len() < MAX_INSTALLS && seen.insert(r.install_hash.clone());
        let b = self.pending.buckets.entry(key.clone()).or_default();
        b.git.add(&r.origins.git);
        b.cdn.add(&r.origins.cdn);
        b.fallbacks = b.fallbacks.saturating_add(r.fallbacks);
        b.errors = b.errors.saturating_add(r.errors);
        b.stale = b.stale.saturating_add(r.stale);
        b.reports += 1;
        b.installs += u64::from(new_install);
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
        if let Some(q) = &r.quota {
            let at = |quota: Option<Quota>| {
                quota.map(|quota| SeenQuota {
                    quota,
                    seen_at: now_unix_secs,
                })
            };
            b.git_quota = later(b.git_quota, at(q.git));
            b.cdn_quota = later(b.cdn_quota, at(q.cdn));
        }
        self.pending.installs.insert(
            r.install_hash.clone(),
            InstallSeen {
                mode: key.mode,
                config_version: key.config_version,
                seen_at: now_unix_secs,
            },
        );
    }

    /// Takes what was received since the last flush.
    pub fn take(&mut self) -> Drained {
        std::mem::take(&mut self.pending)
    }

    /// Puts back a batch whose flush failed (nothing is lost; later reports add to it).
    pub fn restore(&mut self, d: Drained) {
        for (k, b) in d.buckets {
            self.pending.buckets.entry(k).or_default().merge(&b);
        }
        for (h, i) in d.installs {
            match self.pending.installs.get(&h) {
                Some(cur) if cur.seen_at > i.seen_at => {}
                _ => {
                    self.pending.installs.insert(h, i);
                }
            }
        }
    }

    /// Reports waiting for the next flush.
    pub fn pending_reports(&self) -> u64 {
        self.pending.buckets.values().map(|b| b.reports).sum()
    }
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
    /// Requests no origin could serve, answered with an error.
    pub errors: u64,
    /// Requests no origin could serve, answered from a stale kept body (the app showed an
    /// older copy; the autopilot counts these as errors).
    pub stale: u64,
    /// Request-weighted mean of the reported medians, ms (0 without requests).
    pub p50_ms: f64,
    /// Largest reported p99, ms (0 without requests).
    pub p99_ms: f64,
    /// Request-weighted mean latency, ms (0 without requests).
    pub mean_ms: f64,
    /// Reports received in this minute.
    pub reports: u64,
    /// Installs that reported in this minute (summed over replicas: an install reporting to
    /// two replicas within one minute counts twice).
    pub installs: u64,
    /// The latest Git quota announced in this minute (`x-ratelimit-*`), when any.
    #[schema(value_type = Option<Object>)]
    pub git_quota: Option<Quota>,
    /// Git usage, percent: `(limit − remaining) / limit` of `gitQuota` when known, else the
    /// share of Git answers that were rate limits (`rateLimited / requests`); `null` with
    /// neither (the autopilot's `gitPressure` figure, `crate::autopilot`).
    pub git_usage_percent: Option<f64>,
}

impl MinuteSummary {
    /// The summary of bucket `b` (the fleet's sum for minute `start_unix_secs`).
    pub fn from_bucket(start_unix_secs: i64, b: &Bucket) -> MinuteSummary {
        #[allow(clippy::cast_precision_loss)]
        let w = b.weight as f64;
        let per = |sum: f64| if b.weight == 0 { 0.0 } else { sum / w };
        let git_quota = b.git_quota.map(|q| q.quota);
        MinuteSummary {
            minute: chrono::DateTime::from_timestamp(start_unix_secs, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
            git: b.git,
            cdn: b.cdn,
            fallbacks: b.fallbacks,
            errors: b.errors,
            stale: b.stale,
            p50_ms: per(b.p50_sum),
            p99_ms: b.p99_max,
            mean_ms: per(b.mean_sum),
            reports: b.reports,
            installs: b.installs,
            git_quota,
            git_usage_percent: sample(0, b).git_usage_percent(),
        }
    }
}

/// The autopilot's view of a fleet minute (`crate::autopilot::MinuteSample`): requests are the
/// origins' requests (Git + CDN), errors the requests no origin could serve, whether the app
/// then got an error or a stale kept copy (`errors + stale`: a fleet shielded by its kept
/// bodies is still failing).
pub fn sample(minute: i64, b: &Bucket) -> crate::autopilot::MinuteSample {
    crate::autopilot::MinuteSample {
        minute,
        installs: b.installs,
        git_requests: b.git.requests,
        git_rate_limited: b.git.rate_limited,
        git_quota: b.git_quota.map(|q| {
            (
                q.quota.limit.saturating_sub(q.quota.remaining),
                q.quota.limit,
            )
        }),
        requests: b.git.requests.saturating_add(b.cdn.requests),
        errors: b.errors.saturating_add(b.stale),
    }
}

/// Installs per mode and config version (last report of each install in the window).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// Seconds per minute on this control plane (60 unless scaled by `--minute-secs`).
    pub minute_secs: u64,
}

/// The `n` minutes (clamped to 1..=[`RETENTION_MINUTES`]) ending with `current` (a minute
/// index), filled from `buckets` (fleet sums per minute index), zeros where absent.
pub fn minutes(
    buckets: &BTreeMap<i64, Bucket>,
    n: i64,
    current: i64,
    minute_secs: i64,
) -> Vec<MinuteSummary> {
    let n = n.clamp(1, RETENTION_MINUTES);
    let empty = Bucket::default();
    (current - n + 1..=current)
        .map(|m| MinuteSummary::from_bucket(m * minute_secs, buckets.get(&m).unwrap_or(&empty)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sourcegate::telemetry::{LatencyMs, OriginsCounts};
    use sourcegate_contract::telemetry::OriginsQuota;

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
            stale: 0,
            latency_ms: LatencyMs {
                p50: 10.0,
                p99: 50.0,
                mean: 12.0,
            },
            quota: None,
        }
    }

    // 2026-01-01T00:00:00Z.
    const T0: i64 = 1_767_225_600;

    fn fleet(d: &Drained) -> BTreeMap<i64, Bucket> {
        let mut out = BTreeMap::<i64, Bucket>::new();
        for (k, b) in &d.buckets {
            out.entry(k.minute).or_default().merge(b);
        }
        out
    }

    #[test]
    fn sums_per_minute_and_origin_with_weighted_latency() {
        let mut a = Batch::new(60);
        a.record(&report("a", "git", 3, 10, 0), T0 + 5);
        let mut r = report("b", "canary", 4, 20, 10);
        r.latency_ms = LatencyMs {
            p50: 40.0,
            p99: 200.0,
            mean: 42.0,
        };
        a.record(&r, T0 + 59);
        a.record(&report("a", "git", 3, 7, 3), T0 + 60);
        let d = a.take();
        assert_eq!(d.buckets.len(), 3, "per minute, mode and version");
        let s = minutes(&fleet(&d), 3, a.minute_of(T0 + 61), 60);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].minute, "2025-12-31T23:59:00Z");
        assert_eq!(s[0].reports, 0);
        let m = &s[1];
        assert_eq!(m.minute, "2026-01-01T00:00:00Z");
        assert_eq!(m.git.requests, 30);
        assert_eq!(m.git.failures, 2);
        assert_eq!(m.git.rate_limited, 2);
        assert_eq!(m.cdn.requests, 10);
        assert_eq!(m.fallbacks, 2);
        assert_eq!((m.reports, m.installs), (2, 2));
        // Weights 10 and 30: (10·10 + 40·30) / 40 = 32.5; mean (12·10 + 42·30) / 40 = 34.5.
        assert!((m.p50_ms - 32.5).abs() < 1e-9);
        assert!((m.mean_ms - 34.5).abs() < 1e-9);
        assert_eq!(m.p99_ms, 200.0);
        // No quota: usage is the rate-limited share, 2 of 30.
        assert!((m.git_usage_percent.unwrap() - 200.0 / 30.0).abs() < 1e-9);
        let m = &s[2];
        assert_eq!((m.git.requests, m.cdn.requests), (7, 3));
        assert_eq!(d.installs.len(), 2, "last report per install");
        assert_eq!(
            d.installs[&sourcegate::telemetry::install_hash("a")].seen_at,
            T0 + 60
        );
        assert!(a.take().is_empty());
    }

    #[test]
    fn stale_serves_count_in_the_autopilots_error_share() {
        let mut a = Batch::new(60);
        let mut r = report("a", "cdn", 3, 0, 90);
        (r.errors, r.stale) = (2, 8);
        a.record(&r, T0 + 1);
        // A report from an older resolver: no `stale` field.
        let mut old = serde_json::to_value(report("b", "cdn", 3, 0, 10)).unwrap();
        old.as_object_mut().unwrap().remove("stale");
        a.record(&serde_json::from_value(old).unwrap(), T0 + 2);
        let d = a.take();
        let f = fleet(&d);
        let s = minutes(&f, 1, a.minute_of(T0 + 2), 60);
        assert_eq!((s[0].errors, s[0].stale), (2, 8));
        // (2 errors + 8 stale) of 100 requests.
        let m = sample(0, &f[&a.minute_of(T0 + 2)]);
        assert_eq!(m.errors, 10);
        assert_eq!(m.error_percent(), Some(10.0));
    }

    #[test]
    fn an_install_is_counted_once_per_minute_across_flushes() {
        let mut a = Batch::new(10);
        a.record(&report("a", "git", 3, 1, 0), T0);
        let first = a.take();
        a.record(&report("a", "git", 3, 1, 0), T0 + 1);
        a.record(&report("b", "git", 3, 1, 0), T0 + 2);
        let second = a.take();
        let sum = |d: &Drained| d.buckets.values().map(|b| b.installs).sum::<u64>();
        assert_eq!((sum(&first), sum(&second)), (1, 1));
        // The next (10-second) minute counts it again.
        a.record(&report("a", "git", 3, 1, 0), T0 + 10);
        assert_eq!(sum(&a.take()), 1);
    }

    #[test]
    fn the_latest_quota_wins_and_a_failed_flush_is_restored() {
        let mut a = Batch::new(60);
        let with = |remaining| {
            let mut r = report("a", "git", 1, 1, 0);
            r.quota = Some(OriginsQuota {
                git: Some(Quota {
                    remaining,
                    limit: 60,
                    reset: None,
                }),
                cdn: None,
            });
            r
        };
        a.record(&with(30), T0);
        let old = a.take();
        a.record(&with(6), T0 + 2);
        a.restore(old);
        let d = a.take();
        let b = d.buckets.values().next().unwrap();
        assert_eq!(b.reports, 2);
        assert_eq!(b.git_quota.unwrap().quota.remaining, 6, "later report wins");
        let m = MinuteSummary::from_bucket(T0, b);
        assert_eq!(m.git_usage_percent, Some(90.0));
        assert_eq!(sample(5, b).git_quota, Some((54, 60)));
    }

    #[test]
    fn reports_without_requests_leave_latency_alone() {
        let mut a = Batch::new(60);
        let mut r = report("a", "git", 1, 0, 0);
        r.latency_ms.p99 = 999.0;
        a.record(&r, T0);
        let m = &minutes(&fleet(&a.take()), 1, a.minute_of(T0), 60)[0];
        assert_eq!((m.p50_ms, m.p99_ms, m.reports), (0.0, 0.0, 1));
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
        assert_eq!(
            field(|r| {
                r.quota = Some(sourcegate_contract::telemetry::OriginsQuota {
                    git: Some(Quota {
                        remaining: 0,
                        limit: MAX_COUNT + 1,
                        reset: None,
                    }),
                    cdn: None,
                })
            }),
            "quota.git"
        );
    }
}
