//! `POST /v1/telemetry`: the report a resolver sends each interval, and the counts it carries.
//!
//! The resolver builds these from its stats (`sourcegate::stats`, which uses the same
//! [`OriginCounts`] and [`LatencyMs`]); the control plane validates and aggregates them.

use serde::{Deserialize, Serialize};

/// One origin's counters, `{"requests": …, "failures": …, "rateLimited": …}`: totals in a
/// resolver's stats, deltas since the previous report in a [`TelemetryReport`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OriginCounts {
    /// Requests this origin served (successful responses).
    pub requests: u64,
    /// Failed attempts on this origin (errors, 5xx, rate limits, timeouts).
    pub failures: u64,
    /// Rate-limit answers (429, or 403 from Git) seen from it.
    pub rate_limited: u64,
}

impl OriginCounts {
    /// `self − earlier`, field by field, saturating at 0 (the counts between two snapshots).
    pub fn since(&self, earlier: &OriginCounts) -> OriginCounts {
        OriginCounts {
            requests: self.requests.saturating_sub(earlier.requests),
            failures: self.failures.saturating_sub(earlier.failures),
            rate_limited: self.rate_limited.saturating_sub(earlier.rate_limited),
        }
    }

    /// Adds `other` field by field, saturating at `u64::MAX`.
    pub fn add(&mut self, other: &OriginCounts) {
        self.requests = self.requests.saturating_add(other.requests);
        self.failures = self.failures.saturating_add(other.failures);
        self.rate_limited = self.rate_limited.saturating_add(other.rate_limited);
    }
}

/// Latency of the requests of an interval, milliseconds; all 0 when there were none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LatencyMs {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Mean.
    pub mean: f64,
}

/// Per-origin counts of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OriginsCounts {
    /// The Git origin.
    pub git: OriginCounts,
    /// The CDN origin.
    pub cdn: OriginCounts,
}

/// The latest rate-limit quota an origin announced (GitHub's REST API headers
/// `x-ratelimit-remaining`, `x-ratelimit-limit`, `x-ratelimit-reset`), when it sent them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// Requests left in the window (`x-ratelimit-remaining`).
    pub remaining: u64,
    /// Requests allowed per window (`x-ratelimit-limit`).
    pub limit: u64,
    /// When the window resets, UTC epoch seconds (`x-ratelimit-reset`), when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<u64>,
}

/// Per-origin quotas of a report: each `None` when that origin sent no quota headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OriginsQuota {
    /// The Git origin's latest quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<Quota>,
    /// The CDN origin's latest quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdn: Option<Quota>,
}

/// The body of `POST /v1/telemetry` (JSON, camelCase); counts are deltas since the sender's
/// previous report.
///
/// ```json
/// {"installHash":"<64 hex>","configVersion":3,"mode":"canary","sdk":"sourcegate-rust/0.1.0",
///  "intervalSecs":60,"origins":{"git":{"requests":10,"failures":1,"rateLimited":1},
///  "cdn":{"requests":5,"failures":0,"rateLimited":0}},"fallbacks":1,"errors":0,
///  "latencyMs":{"p50":12.0,"p99":80.5,"mean":15.2}}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TelemetryReport {
    /// Lower-case hex SHA-256 of the install id (64 characters; never the id itself).
    pub install_hash: String,
    /// Version of the config in use.
    pub config_version: u64,
    /// Mode of the config in use: a document `type` ([`crate::mode::DOCUMENT_TYPES`]).
    pub mode: String,
    /// SDK name and version, e.g. `sourcegate-rust/0.1.0`.
    pub sdk: String,
    /// The configured reporting interval, seconds.
    pub interval_secs: f64,
    /// Per-origin counts since the previous report.
    pub origins: OriginsCounts,
    /// Requests served by a fallback origin since the previous report.
    pub fallbacks: u64,
    /// Requests no origin could serve since the previous report, answered with an error.
    pub errors: u64,
    /// Requests no origin could serve since the previous report, answered from a stale kept
    /// body instead (RFC 9111 §4.2.4; the resolver's `stale_if_error`). The app showed
    /// something, but every origin failed: the autopilot's error share counts these with
    /// `errors`. Optional: a report without it (from an older resolver) means 0.
    #[serde(default)]
    pub stale: u64,
    /// Latency figures of the interval.
    pub latency_ms: LatencyMs,
    /// The latest quota each origin announced (optional: reports without it, from older
    /// resolvers, are accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<OriginsQuota>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_round_trips_in_camel_case() {
        let r = TelemetryReport {
            install_hash: "ab".repeat(32),
            config_version: 3,
            mode: "canary".into(),
            sdk: "sourcegate-rust/0.1.0".into(),
            interval_secs: 60.0,
            origins: OriginsCounts {
                git: OriginCounts {
                    requests: 10,
                    failures: 1,
                    rate_limited: 1,
                },
                cdn: OriginCounts::default(),
            },
            fallbacks: 1,
            errors: 0,
            stale: 0,
            latency_ms: LatencyMs {
                p50: 12.0,
                p99: 80.5,
                mean: 15.2,
            },
            quota: Some(OriginsQuota {
                git: Some(Quota {
                    remaining: 12,
                    limit: 60,
                    reset: Some(1_700_000_000),
                }),
                cdn: None,
            }),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["origins"]["git"]["rateLimited"], 1);
        assert_eq!(v["latencyMs"]["p99"], 80.5);
        assert_eq!(v["quota"]["git"]["remaining"], 12);
        assert_eq!(
            serde_json::from_value::<TelemetryReport>(v.clone()).unwrap(),
            r
        );
        // An older report, without `quota`, is still read.
        let mut old = v;
        old.as_object_mut().unwrap().remove("quota");
        assert_eq!(
            serde_json::from_value::<TelemetryReport>(old)
                .unwrap()
                .quota,
            None
        );
    }

    #[test]
    fn counts_subtract_and_add_saturating() {
        let a = OriginCounts {
            requests: 5,
            failures: 1,
            rate_limited: 0,
        };
        let b = OriginCounts {
            requests: 7,
            failures: 0,
            rate_limited: 2,
        };
        assert_eq!(
            b.since(&a),
            OriginCounts {
                requests: 2,
                failures: 0,
                rate_limited: 2
            }
        );
        let mut c = OriginCounts {
            requests: u64::MAX,
            ..a
        };
        c.add(&b);
        assert_eq!(c.requests, u64::MAX);
        assert_eq!(c.failures, 1);
    }
}
