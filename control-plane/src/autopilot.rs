//! The fleet autopilot's rules, pure: a policy, a per-minute telemetry series, the CDN's health
//! and a clock in; a decision with its evidence out. No I/O, no clock of its own.
//!
//! Two rules come from the specification (docs/seed.md S17, the automatic switch left as a TODO,
//! and S15, the migration scenarios' thresholds):
//!
//! - **`gitPressure`**: when Git usage is at least `thresholdPercent` (default 70 %, month 6 of
//!   the migration plan) in each of the last `forMinutes` complete minutes (default 5), and the
//!   CDN is healthy by the control plane's own probe, switch the fleet to `target` (default
//!   hybrid, CDN first). Git usage in a minute is `used / limit` of the quota headers
//!   (`x-ratelimit-remaining` / `x-ratelimit-limit`) when installs reported them, else the share
//!   of Git requests answered as rate-limited (429, or 403 from Git).
//!   Nothing is switched when the current document already takes as much off Git as the target
//!   would (a `cdn` document, for a hybrid target): the quota stays used long after a switch,
//!   and switching then would hand Git fallback traffic back.
//! - **`errorRollback`**: within `watchMinutes` after a change (default 60, the emergency
//!   scenario's hour), when the fleet's error share (requests no origin could serve, over all
//!   requests; a request answered from a stale kept body counts, since every origin failed it) is at least `errorPercent` (default 5 %) in each of the last `forMinutes`
//!   complete minutes, roll back to the previous version.
//!
//! Around both: nothing fires while the policy is off, within `cooldownMinutes` (default 30)
//! of the previous automatic action, or on a minute with fewer than `minInstalls` reporting
//! installs (default 10: a handful of installs is not the fleet). `dryRun` decides as usual
//! and marks the decision as not to be applied. A rollback outranks a switch: it answers a
//! change that is hurting the fleet now.
//!
//! Percentages are percent (0–100), not basis points; minutes are whole minutes counted on the
//! caller's clock (`unix seconds / 60`). A minute missing from the series breaks a streak, as
//! a minute under the threshold does: silence is not evidence.

use serde::{Deserialize, Serialize};

/// The `autopilot` document: which rules run and with what thresholds. Every field has the
/// default named on it, so `{}` is a valid (disabled) policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Policy {
    /// Whether the autopilot acts at all (default `false`).
    pub enabled: bool,
    /// Decide and record, but change nothing (default `false`).
    pub dry_run: bool,
    /// Minutes after an automatic action during which no other fires (default 30).
    pub cooldown_minutes: u32,
    /// Fewest installs that must have reported in a minute for it to count (default 10).
    pub min_installs: u64,
    /// The switch on Git rate limits (default on, with its defaults; `null` turns it off).
    pub git_pressure: Option<GitPressure>,
    /// The rollback on errors after a change (default on, with its defaults; `null` turns it
    /// off).
    pub error_rollback: Option<ErrorRollback>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            enabled: false,
            dry_run: false,
            cooldown_minutes: 30,
            min_installs: 10,
            git_pressure: Some(GitPressure::default()),
            error_rollback: Some(ErrorRollback::default()),
        }
    }
}

/// The `gitPressure` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GitPressure {
    /// Git usage, percent, at or above which a minute counts (default 70).
    pub threshold_percent: f64,
    /// Consecutive complete minutes needed (default 5).
    pub for_minutes: u32,
    /// Where the fleet goes (default hybrid, CDN first).
    pub target: Target,
}

impl Default for GitPressure {
    fn default() -> GitPressure {
        GitPressure {
            threshold_percent: 70.0,
            for_minutes: 5,
            target: Target::HybridCdnFirst,
        }
    }
}

/// The `errorRollback` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorRollback {
    /// Minutes after a change during which the rule watches (default 60).
    pub watch_minutes: u32,
    /// Error share, percent, at or above which a minute counts (default 5).
    pub error_percent: f64,
    /// Consecutive complete minutes needed (default 5).
    pub for_minutes: u32,
}

impl Default for ErrorRollback {
    fn default() -> ErrorRollback {
        ErrorRollback {
            watch_minutes: 60,
            error_percent: 5.0,
            for_minutes: 5,
        }
    }
}

/// Where `gitPressure` sends the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum Target {
    /// Hybrid with the CDN first, Git as fallback (`{"mode":"hybrid-cdn-git"}`).
    #[serde(rename = "hybrid-cdn-git")]
    HybridCdnFirst,
    /// CDN only, Git as fallback when the document allows (`{"mode":"cdn"}`).
    Cdn,
    /// A canary: `percent` of installs on the CDN (`{"mode":"canary","percent":25}`).
    Canary {
        /// Share of installs on the CDN, percent (0–100).
        percent: f64,
    },
}

/// A policy value out of range, naming the field (camelCase, dotted).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("autopilot.{field}: {why}")]
pub struct InvalidPolicy {
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub why: &'static str,
}

impl Policy {
    /// Parses and checks an `autopilot` document.
    ///
    /// # Errors
    /// [`InvalidPolicy`] for a document that is not a policy (field `value`) or a value out of
    /// range: percentages outside 0–100 (thresholds above 0), `forMinutes` outside 1–1440,
    /// `watchMinutes` below `forMinutes` or above 10,080 (a week), `cooldownMinutes` above
    /// 10,080, `minInstalls` of 0.
    pub fn from_value(value: &serde_json::Value) -> Result<Policy, InvalidPolicy> {
        let bad = |field, why| InvalidPolicy { field, why };
        if !value.is_object() {
            return Err(bad("value", "must be a JSON object"));
        }
        let p: Policy = serde_json::from_value(value.clone())
            .map_err(|_| bad("value", "not an autopilot policy (see the field docs)"))?;
        let pct = |x: f64| x.is_finite() && x > 0.0 && x <= 100.0;
        let minutes = |m: u32| (1..=1440).contains(&m);
        if p.cooldown_minutes > 10_080 {
            return Err(bad("cooldownMinutes", "at most 10080 (a week)"));
        }
        if p.min_installs == 0 {
            return Err(bad("minInstalls", "at least 1"));
        }
        if let Some(g) = &p.git_pressure {
            if !pct(g.threshold_percent) {
                return Err(bad("gitPressure.thresholdPercent", "in (0, 100]"));
            }
            if !minutes(g.for_minutes) {
                return Err(bad("gitPressure.forMinutes", "in 1..=1440"));
            }
            if let Target::Canary { percent } = g.target
                && !(percent.is_finite() && (0.0..=100.0).contains(&percent))
            {
                return Err(bad("gitPressure.target.percent", "in 0..=100"));
            }
        }
        if let Some(e) = &p.error_rollback {
            if !pct(e.error_percent) {
                return Err(bad("errorRollback.errorPercent", "in (0, 100]"));
            }
            if !minutes(e.for_minutes) {
                return Err(bad("errorRollback.forMinutes", "in 1..=1440"));
            }
            if e.watch_minutes < e.for_minutes || e.watch_minutes > 10_080 {
                return Err(bad(
                    "errorRollback.watchMinutes",
                    "at least forMinutes and at most 10080 (a week)",
                ));
            }
        }
        Ok(p)
    }
}

/// One minute of fleet telemetry, as the aggregate holds it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MinuteSample {
    /// The minute (`unix seconds / 60`).
    pub minute: i64,
    /// Installs that reported in this minute.
    pub installs: u64,
    /// Requests to Git.
    pub git_requests: u64,
    /// Git answers that were rate limits (429, or 403 from Git).
    pub git_rate_limited: u64,
    /// The quota seen in this minute, when installs reported the headers: `(used, limit)`,
    /// `used = limit - remaining` of the latest report.
    pub git_quota: Option<(u64, u64)>,
    /// All requests, every origin.
    pub requests: u64,
    /// Requests no origin could serve: answered with an error, or from a stale kept body
    /// (reports' `errors + stale`).
    pub errors: u64,
}

impl MinuteSample {
    /// Git usage in this minute, percent: the quota when known, else the rate-limited share;
    /// `None` with neither a quota nor a Git request.
    pub fn git_usage_percent(&self) -> Option<f64> {
        match self.git_quota {
            Some((used, limit)) if limit > 0 => Some(used.min(limit) as f64 * 100.0 / limit as f64),
            _ if self.git_requests > 0 => {
                Some(self.git_rate_limited as f64 * 100.0 / self.git_requests as f64)
            }
            _ => None,
        }
    }

    /// Error share in this minute, percent; `None` without requests.
    pub fn error_percent(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 * 100.0 / self.requests as f64)
    }
}

/// What the fleet runs now, as the decision needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Current {
    /// The marketplace document's version.
    pub version: i64,
    /// The minute it was written.
    pub changed_minute: i64,
    /// The version before it, if any (what a rollback restores).
    pub previous_version: Option<i64>,
    /// Whether it already takes at least as much traffic off Git as `gitPressure.target` would
    /// (a CDN-only document is past a hybrid target): no switch would relieve Git.
    pub on_target: bool,
}

/// Everything a decision is made from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The current minute (`unix seconds / 60`); it is incomplete, so only minutes before it
    /// are judged.
    pub now_minute: i64,
    /// Per-minute telemetry, any order, at most one entry per minute.
    pub series: &'a [MinuteSample],
    /// Whether the control plane's own probe finds the CDN healthy.
    pub cdn_healthy: bool,
    /// The document in force.
    pub current: Current,
    /// The minute of the previous automatic action, if any.
    pub last_action_minute: Option<i64>,
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Route the fleet as `target`.
    Switch(Target),
    /// Write the document of `to_version` again, as a new version.
    Rollback {
        /// The version restored.
        to_version: i64,
    },
}

/// A decision and why.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Do nothing. `state` is for the console: `off`, `cooling down`, `watching`,
    /// `would switch in N min`, `would roll back in N min`.
    Hold {
        /// Short state, as above.
        state: String,
    },
    /// Act (or, with `dry_run`, record that it would).
    Act {
        /// What to do.
        action: Action,
        /// The rule and the figures that fired it, for the history's `reason`.
        reason: String,
        /// From the policy: record only.
        dry_run: bool,
    },
}

/// The streak of complete minutes, newest first, that satisfy `pass`: `(length, worst value)`
/// up to `want` minutes back from `now - 1`. A missing minute or one with too few installs
/// ends it.
fn streak(
    inputs: &Inputs<'_>,
    want: u32,
    min_installs: u64,
    not_before: i64,
    value: impl Fn(&MinuteSample) -> Option<f64>,
    pass: impl Fn(f64) -> bool,
) -> (u32, f64) {
    let mut n = 0;
    let mut worst = f64::INFINITY;
    for back in 1..=i64::from(want) {
        let minute = inputs.now_minute - back;
        if minute < not_before {
            break;
        }
        let Some(s) = inputs.series.iter().find(|s| s.minute == minute) else {
            break;
        };
        match value(s) {
            Some(v) if s.installs >= min_installs && pass(v) => {
                n += 1;
                worst = worst.min(v);
            }
            _ => break,
        }
    }
    (n, worst)
}

/// Decides what the autopilot does now (see the module docs for the rules).
pub fn evaluate(policy: &Policy, inputs: &Inputs<'_>) -> Decision {
    let hold = |s: String| Decision::Hold { state: s };
    if !policy.enabled {
        return hold("off".into());
    }
    if let Some(last) = inputs.last_action_minute {
        let left = last + i64::from(policy.cooldown_minutes) - inputs.now_minute;
        if left > 0 {
            return hold(format!("cooling down ({left} min left)"));
        }
    }
    let mut pending: Option<String> = None;
    let cur = inputs.current;
    if let (Some(rule), Some(prev)) = (&policy.error_rollback, cur.previous_version) {
        let watching = inputs.now_minute - cur.changed_minute <= i64::from(rule.watch_minutes);
        if watching {
            let (n, worst) = streak(
                inputs,
                rule.for_minutes,
                policy.min_installs,
                cur.changed_minute,
                MinuteSample::error_percent,
                |v| v >= rule.error_percent,
            );
            if n >= rule.for_minutes {
                return Decision::Act {
                    action: Action::Rollback { to_version: prev },
                    reason: format!(
                        "errorRollback: errors {worst:.1} % ≥ {} % for {n} min within {} min of \
                         version {}; rolling back to version {prev}",
                        rule.error_percent, rule.watch_minutes, cur.version
                    ),
                    dry_run: policy.dry_run,
                };
            }
            if n > 0 {
                pending = Some(format!("would roll back in {} min", rule.for_minutes - n));
            }
        }
    }
    if let Some(rule) = &policy.git_pressure
        && !cur.on_target
    {
        let (n, worst) = streak(
            inputs,
            rule.for_minutes,
            policy.min_installs,
            i64::MIN,
            MinuteSample::git_usage_percent,
            |v| v >= rule.threshold_percent,
        );
        if n >= rule.for_minutes {
            if !inputs.cdn_healthy {
                return hold("Git under pressure, CDN unhealthy: not switching".into());
            }
            return Decision::Act {
                action: Action::Switch(rule.target),
                reason: format!(
                    "gitPressure: Git usage {worst:.0} % ≥ {} % for {n} min; CDN healthy",
                    rule.threshold_percent
                ),
                dry_run: policy.dry_run,
            };
        }
        if n > 0 && pending.is_none() {
            pending = Some(format!("would switch in {} min", rule.for_minutes - n));
        }
    }
    hold(pending.unwrap_or_else(|| "watching".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000;

    fn on() -> Policy {
        Policy {
            enabled: true,
            ..Policy::default()
        }
    }

    fn current() -> Current {
        Current {
            version: 7,
            changed_minute: 0,
            previous_version: Some(6),
            on_target: false,
        }
    }

    /// `n` complete minutes before NOW, each `f(minute)`.
    fn series(n: i64, f: impl Fn(i64) -> MinuteSample) -> Vec<MinuteSample> {
        (1..=n)
            .map(|b| MinuteSample {
                minute: NOW - b,
                ..f(NOW - b)
            })
            .collect()
    }

    fn git(installs: u64, requests: u64, limited: u64) -> MinuteSample {
        MinuteSample {
            installs,
            git_requests: requests,
            git_rate_limited: limited,
            requests,
            ..MinuteSample::default()
        }
    }

    fn decide(
        p: &Policy,
        s: &[MinuteSample],
        cdn: bool,
        c: Current,
        last: Option<i64>,
    ) -> Decision {
        evaluate(
            p,
            &Inputs {
                now_minute: NOW,
                series: s,
                cdn_healthy: cdn,
                current: c,
                last_action_minute: last,
            },
        )
    }

    fn state(d: &Decision) -> &str {
        match d {
            Decision::Hold { state } => state,
            Decision::Act { .. } => "act",
        }
    }

    #[test]
    fn git_pressure_fires_at_the_threshold_not_below() {
        let at = series(5, |_| git(20, 100, 70));
        match decide(&on(), &at, true, current(), None) {
            Decision::Act {
                action: Action::Switch(Target::HybridCdnFirst),
                reason,
                dry_run: false,
            } => assert!(
                reason.starts_with("gitPressure: Git usage 70 % ≥ 70 % for 5 min"),
                "{reason}"
            ),
            d => panic!("{d:?}"),
        }
        let below = series(5, |m| git(20, 1000, if m == NOW - 3 { 699 } else { 800 }));
        assert_eq!(
            state(&decide(&on(), &below, true, current(), None)),
            "would switch in 3 min"
        );
    }

    #[test]
    fn the_quota_is_preferred_to_the_rate_limited_share() {
        // No 429 at all, but the quota is 90 % used.
        let s = series(5, |_| MinuteSample {
            git_quota: Some((4_500, 5_000)),
            ..git(20, 100, 0)
        });
        assert!(matches!(
            decide(&on(), &s, true, current(), None),
            Decision::Act { .. }
        ));
        assert_eq!(s[0].git_usage_percent(), Some(90.0));
        assert_eq!(git(1, 0, 0).git_usage_percent(), None);
    }

    #[test]
    fn too_few_installs_a_missing_minute_or_an_unhealthy_cdn_hold() {
        let few = series(5, |_| git(9, 100, 100));
        assert_eq!(
            state(&decide(&on(), &few, true, current(), None)),
            "watching"
        );
        let mut gap = series(5, |_| git(20, 100, 100));
        gap.retain(|s| s.minute != NOW - 2);
        assert_eq!(
            state(&decide(&on(), &gap, true, current(), None)),
            "would switch in 4 min"
        );
        let full = series(5, |_| git(20, 100, 100));
        assert_eq!(
            state(&decide(&on(), &full, false, current(), None)),
            "Git under pressure, CDN unhealthy: not switching"
        );
        let on_target = Current {
            on_target: true,
            ..current()
        };
        assert_eq!(
            state(&decide(&on(), &full, true, on_target, None)),
            "watching"
        );
        // The current, incomplete minute is never judged.
        let only_now = vec![MinuteSample {
            minute: NOW,
            ..git(20, 100, 100)
        }];
        assert_eq!(
            state(&decide(&on(), &only_now, true, current(), None)),
            "watching"
        );
    }

    #[test]
    fn off_cooldown_and_dry_run() {
        let full = series(5, |_| git(20, 100, 100));
        assert_eq!(
            state(&decide(&Policy::default(), &full, true, current(), None)),
            "off"
        );
        assert_eq!(
            state(&decide(&on(), &full, true, current(), Some(NOW - 29))),
            "cooling down (1 min left)"
        );
        assert!(matches!(
            decide(&on(), &full, true, current(), Some(NOW - 30)),
            Decision::Act { .. }
        ));
        let dry = Policy {
            dry_run: true,
            ..on()
        };
        assert!(matches!(
            decide(&dry, &full, true, current(), None),
            Decision::Act { dry_run: true, .. }
        ));
    }

    #[test]
    fn error_rollback_within_the_watch_window_outranks_a_switch() {
        let changed = Current {
            changed_minute: NOW - 10,
            ..current()
        };
        let bad = series(5, |_| MinuteSample {
            errors: 5,
            ..git(20, 100, 100)
        });
        match decide(&on(), &bad, true, changed, None) {
            Decision::Act {
                action: Action::Rollback { to_version: 6 },
                reason,
                ..
            } => assert!(
                reason.starts_with("errorRollback: errors 5.0 % ≥ 5 % for 5 min"),
                "{reason}"
            ),
            d => panic!("{d:?}"),
        }
        // Past the window: only the switch is left.
        let old = Current {
            changed_minute: NOW - 61,
            ..current()
        };
        assert!(matches!(
            decide(&on(), &bad, true, old, None),
            Decision::Act {
                action: Action::Switch(_),
                ..
            }
        ));
        // Minutes before the change do not count against it.
        let just = Current {
            changed_minute: NOW - 3,
            ..current()
        };
        let quiet_git = series(5, |_| MinuteSample {
            errors: 10,
            ..git(20, 100, 0)
        });
        assert_eq!(
            state(&decide(&on(), &quiet_git, true, just, None)),
            "would roll back in 2 min"
        );
        // Nothing to roll back to.
        let first = Current {
            previous_version: None,
            changed_minute: NOW - 10,
            ..current()
        };
        assert_eq!(
            state(&decide(&on(), &quiet_git, true, first, None)),
            "watching"
        );
        // 4.9 % is under 5 %.
        let under = series(5, |_| MinuteSample {
            errors: 49,
            ..git(20, 1000, 0)
        });
        assert_eq!(
            state(&decide(&on(), &under, true, changed, None)),
            "watching"
        );
    }

    #[test]
    fn policies_parse_with_defaults_and_refuse_out_of_range_values() {
        let p = Policy::from_value(&serde_json::json!({})).unwrap();
        assert_eq!(p, Policy::default());
        let p = Policy::from_value(&serde_json::json!({
            "enabled": true, "gitPressure": {"target": {"mode": "canary", "percent": 25}}
        }))
        .unwrap();
        assert_eq!(
            p.git_pressure.unwrap().target,
            Target::Canary { percent: 25.0 }
        );
        for (doc, field) in [
            (serde_json::json!([]), "value"),
            (serde_json::json!({"enabled": "yes"}), "value"),
            (serde_json::json!({"minInstalls": 0}), "minInstalls"),
            (
                serde_json::json!({"cooldownMinutes": 10081}),
                "cooldownMinutes",
            ),
            (
                serde_json::json!({"gitPressure": {"thresholdPercent": 0}}),
                "gitPressure.thresholdPercent",
            ),
            (
                serde_json::json!({"gitPressure": {"thresholdPercent": 100.5}}),
                "gitPressure.thresholdPercent",
            ),
            (
                serde_json::json!({"gitPressure": {"forMinutes": 0}}),
                "gitPressure.forMinutes",
            ),
            (
                serde_json::json!({"gitPressure": {"target": {"mode": "canary", "percent": 101}}}),
                "gitPressure.target.percent",
            ),
            (
                serde_json::json!({"errorRollback": {"errorPercent": -1}}),
                "errorRollback.errorPercent",
            ),
            (
                serde_json::json!({"errorRollback": {"forMinutes": 10, "watchMinutes": 5}}),
                "errorRollback.watchMinutes",
            ),
        ] {
            assert_eq!(Policy::from_value(&doc).unwrap_err().field, field, "{doc}");
        }
    }
}
