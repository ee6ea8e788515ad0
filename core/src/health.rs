//! Origin health: the pure state machines (active health checks with hysteresis, passive outlier
//! detection, rate-limit cooldowns) and the lock-free view the router reads (the health checks
//! of `docs/seed.md`, S10).
//!
//! Terms follow Envoy and pingora: an origin becomes *unhealthy* after `unhealthy_threshold`
//! consecutive failed probes and *healthy* again after `healthy_threshold` consecutive successful
//! ones; an observation in the current state resets the counter (pingora's `HealthInner`).
//! Origins start healthy. Outlier detection *ejects* an origin after consecutive 5xx/connect
//! errors on real requests, for `base_ejection × n` (n = ejections in a row), capped.
//!
//! Everything here takes "now" as nanoseconds since the resolver's epoch and does no I/O.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::config::{HealthCheckSettings, OutlierSettings};

/// Active health state with hysteresis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthState {
    /// Current verdict.
    pub healthy: bool,
    /// Consecutive observations contradicting `healthy`.
    pub counter: u32,
}

impl Default for HealthState {
    fn default() -> Self {
        HealthState {
            healthy: true,
            counter: 0,
        }
    }
}

impl HealthState {
    /// Records one probe result; returns `true` when the verdict flipped.
    ///
    /// # Examples
    /// ```
    /// use sourcegate_core::{config::HealthCheckSettings, health::HealthState};
    /// let t = HealthCheckSettings { unhealthy_threshold: 2, ..Default::default() };
    /// let mut h = HealthState::default();
    /// assert!(!h.observe(false, &t));
    /// assert!(h.observe(false, &t)); // second failure in a row flips it
    /// assert!(!h.healthy);
    /// ```
    pub fn observe(&mut self, success: bool, t: &HealthCheckSettings) -> bool {
        let threshold = if success {
            t.healthy_threshold
        } else {
            t.unhealthy_threshold
        };
        self.observe_with(success, usize::try_from(threshold).unwrap_or(usize::MAX))
    }

    /// Records one probe result against `threshold`, the consecutive results like this one
    /// that flip a verdict contradicting it (at least 1; what
    /// `sourcegate::probe::HealthCheck::health_threshold` returns for `success`). Returns `true`
    /// when the verdict flipped.
    pub fn observe_with(&mut self, success: bool, threshold: usize) -> bool {
        if success == self.healthy {
            self.counter = 0;
            return false;
        }
        self.counter = self.counter.saturating_add(1);
        if usize::try_from(self.counter).unwrap_or(usize::MAX) >= threshold.max(1) {
            self.healthy = success;
            self.counter = 0;
            true
        } else {
            false
        }
    }
}

/// Passive outlier detection for one origin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutlierState {
    /// 5xx/connect failures in a row on real requests.
    pub consecutive_failures: u32,
    /// Ejections in a row (multiplies the ejection period).
    pub ejections: u32,
    /// End of the current ejection (ns since epoch), if ejected.
    pub ejected_until: Option<u64>,
}

impl OutlierState {
    /// Records a real request's outcome at `now`. `failure` is a 5xx, a connect error or a
    /// timeout. Returns the end of a *new* ejection when this outcome triggered one.
    pub fn record(&mut self, failure: bool, now: u64, s: &OutlierSettings) -> Option<u64> {
        if let Some(until) = self.ejected_until
            && now >= until
        {
            self.ejected_until = None;
        }
        if !failure {
            self.consecutive_failures = 0;
            if self.ejected_until.is_none() {
                self.ejections = 0;
            }
            return None;
        }
        if self.ejected_until.is_some() {
            // Failures while ejected (panic-mode traffic) neither extend nor count toward the
            // next ejection.
            return None;
        }
        self.consecutive_failures += 1;
        if self.consecutive_failures < s.consecutive_failures.max(1) {
            return None;
        }
        self.ejections += 1;
        self.consecutive_failures = 0;
        let period = s
            .base_ejection
            .saturating_mul(self.ejections)
            .min(s.max_ejection);
        let until = now.saturating_add(nanos(period));
        self.ejected_until = Some(until);
        Some(until)
    }
}

/// `d` in nanoseconds, saturating at `u64::MAX` (the clock unit of this module).
#[doc(hidden)]
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Lock-free per-origin flags the router reads on every call; written by probes and outcomes.
#[doc(hidden)]
#[derive(Debug)]
pub struct HealthFlags {
    /// Active health verdict.
    pub healthy: AtomicBool,
    /// End of the current ejection (ns since the epoch; 0 = none).
    pub ejected_until: AtomicU64,
    /// End of the current rate-limit cooldown (ns since the epoch; 0 = none).
    pub rate_limited_until: AtomicU64,
    /// Last failure (ns since the epoch; 0 = never).
    pub last_failure: AtomicU64,
}

impl Default for HealthFlags {
    fn default() -> Self {
        HealthFlags {
            healthy: AtomicBool::new(true),
            ejected_until: AtomicU64::new(0),
            rate_limited_until: AtomicU64::new(0),
            last_failure: AtomicU64::new(0),
        }
    }
}

impl HealthFlags {
    /// What the router needs, at `now`.
    pub fn view(&self, now: u64, use_health: bool) -> crate::routing::OriginView {
        use crate::routing::Unavailable;
        let unavailable = if self.rate_limited_until.load(Ordering::Relaxed) > now {
            Some(Unavailable::RateLimited)
        } else if self.ejected_until.load(Ordering::Relaxed) > now {
            Some(Unavailable::Ejected)
        } else if use_health && !self.healthy.load(Ordering::Relaxed) {
            Some(Unavailable::Unhealthy)
        } else {
            None
        };
        crate::routing::OriginView {
            configured: true,
            unavailable,
            last_failure: self.last_failure.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of one origin's health, as reported by `sourcegate::Resolver::health` and
/// `sourcegate::probe::Prober::health`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OriginHealth {
    /// `git` or `cdn`.
    pub origin: crate::config::OriginKind,
    /// The origin's base URL.
    pub url: String,
    /// Active health verdict (origins start healthy).
    pub healthy: bool,
    /// Ejected by outlier detection right now.
    pub ejected: bool,
    /// Rate-limited right now (after a 429, or a 403 from Git).
    pub rate_limited: bool,
    /// Seconds until the rate-limit cooldown ends (0 when not limited).
    pub rate_limited_for_secs: f64,
    /// Wall-clock time of the last active probe, RFC 3339, if any ran.
    pub last_check: Option<String>,
    /// Duration of the last probe, milliseconds.
    pub response_time_ms: Option<f64>,
    /// Error of the last failed probe or request, if the last one failed.
    pub last_error: Option<String>,
    /// Probes run so far.
    pub checks: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hysteresis_both_ways() {
        let t = HealthCheckSettings {
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            ..Default::default()
        };
        let mut h = HealthState::default();
        assert!(!h.observe(false, &t));
        assert!(!h.observe(false, &t));
        assert!(!h.observe(true, &t)); // resets
        assert!(!h.observe(false, &t));
        assert!(!h.observe(false, &t));
        assert!(h.observe(false, &t));
        assert!(!h.healthy);
        assert!(!h.observe(true, &t));
        assert!(h.observe(true, &t));
        assert!(h.healthy);
    }

    #[test]
    fn outlier_ejection_grows_and_caps() {
        let s = OutlierSettings {
            consecutive_failures: 2,
            base_ejection: Duration::from_secs(10),
            max_ejection: Duration::from_secs(25),
        };
        let sec = 1_000_000_000u64;
        let mut o = OutlierState::default();
        assert_eq!(o.record(true, 0, &s), None);
        assert_eq!(o.record(true, 0, &s), Some(10 * sec));
        // During ejection further failures do not extend it.
        assert_eq!(o.record(true, sec, &s), None);
        assert_eq!(o.record(true, 11 * sec, &s), None);
        assert_eq!(o.record(true, 11 * sec, &s), Some(31 * sec));
        assert_eq!(o.record(true, 40 * sec, &s), None);
        assert_eq!(o.record(true, 40 * sec, &s), Some(65 * sec)); // capped at 25 s
        assert_eq!(o.record(false, 70 * sec, &s), None);
        assert_eq!(o.ejections, 0);
    }
}
