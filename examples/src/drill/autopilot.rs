//! The drill's autopilot phases: the policy the admin enables, the watcher that sees the
//! autopilot's write and the fleet follow it, and the figures reported.
//!
//! Minutes are scaled: the control plane runs with `--minute-secs` =
//! [`DrillOptions::minute_secs`](super::DrillOptions::minute_secs) (default 1: one autopilot
//! minute is one second, a factor of 60), every install reports telemetry once per scaled
//! minute, and the policy's durations count those minutes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::admin::Admin;
use super::load::Install;
use super::{DrillError, DrillOptions};

/// How long, in scaled minutes, the error share must stay at or above 5 % before the
/// autopilot rolls back (`errorRollback.forMinutes` in [`policy`]).
pub(super) const ERROR_FOR_MINUTES: u32 = 2;

/// The `autopilot` document the admin writes at the start of `autopilot-git-pressure`: both
/// rules on with the specification's thresholds (70 % Git usage, 5 % errors), durations in
/// scaled minutes.
pub(super) fn policy(opts: &DrillOptions) -> Value {
    json!({
        "enabled": true,
        "dryRun": false,
        "minInstalls": opts.autopilot_min_installs,
        "cooldownMinutes": 2,
        "gitPressure": {"thresholdPercent": 70, "forMinutes": opts.autopilot_for_minutes},
        "errorRollback": {"errorPercent": 5, "forMinutes": ERROR_FOR_MINUTES, "watchMinutes": 60},
    })
}

/// What an autopilot phase shows (`autopilot` in the phase's report).
#[derive(Debug, Clone, Default, Serialize)]
pub struct AutopilotReport {
    /// The rule expected to fire (`gitPressure`, `errorRollback`).
    pub expected_rule: String,
    /// Live decisions recorded during the phase (must be 1).
    pub actions: u64,
    /// Dry-run decisions recorded during the phase (must be 0).
    pub dry_runs: u64,
    /// The rule of the phase's first live decision.
    pub rule: Option<String>,
    /// Its reason: the rule and the figures that fired it, as the history records them.
    pub reason: Option<String>,
    /// The `marketplace_source` version it decided on.
    pub from_version: Option<u64>,
    /// The version it wrote.
    pub to_version: Option<u64>,
    /// From the start of the phase's load to the decision, ms.
    pub trigger_after_ms: Option<f64>,
    /// From the decision to the last install holding the version written, ms.
    pub fleet_followed_ms: Option<f64>,
    /// Requests that no origin served, started after the whole fleet followed the decision.
    pub errors_after_follow: u64,
}

/// One recorded decision, as `GET /v1/autopilot` lists it.
struct Decision {
    at_us: i64,
    rule: String,
    reason: String,
    dry_run: bool,
    from: Option<u64>,
    to: Option<u64>,
}

/// The clocks of one run: the drill's epoch as an [`Instant`] and as wall time (the
/// control plane stamps decisions with the wall clock of the same machine).
#[derive(Clone, Copy)]
pub(super) struct Clocks {
    pub(super) epoch: Instant,
    /// Unix microseconds at `epoch`.
    pub(super) epoch_unix_us: i64,
}

impl Clocks {
    pub(super) fn now() -> Clocks {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Clocks {
            epoch: Instant::now(),
            epoch_unix_us: i64::try_from(unix.as_micros()).unwrap_or(i64::MAX),
        }
    }

    fn since_epoch_us(&self, at: Instant) -> i64 {
        i64::try_from(at.saturating_duration_since(self.epoch).as_micros()).unwrap_or(i64::MAX)
    }
}

/// When an autopilot phase's load may stop: once the whole fleet has followed the
/// autopilot's write and `tail` more has passed (the load then shows the fleet on its new
/// routes), or at the phase's longest duration.
pub(super) struct Until {
    clocks: Clocks,
    /// Microseconds since the epoch when the last install followed; 0: not yet.
    followed_us: AtomicU64,
    tail: Duration,
}

impl Until {
    pub(super) fn new(clocks: Clocks, tail: Duration) -> Until {
        Until {
            clocks,
            followed_us: AtomicU64::new(0),
            tail,
        }
    }

    /// The instant the whole fleet followed, if it has.
    pub(super) fn followed(&self) -> Option<Instant> {
        match self.followed_us.load(Ordering::SeqCst) {
            0 => None,
            us => Some(self.clocks.epoch + Duration::from_micros(us)),
        }
    }

    /// Whether the load may stop now.
    pub(super) fn reached(&self) -> bool {
        self.followed()
            .is_some_and(|t| Instant::now() >= t + self.tail)
    }
}

fn decisions(view: &Value) -> Vec<Decision> {
    view["decisions"]
        .as_array()
        .map(|ds| {
            ds.iter()
                .filter_map(|d| {
                    let at = chrono::DateTime::parse_from_rfc3339(d["decidedAt"].as_str()?).ok()?;
                    Some(Decision {
                        at_us: at.timestamp_micros(),
                        rule: d["rule"].as_str()?.to_owned(),
                        reason: d["reason"].as_str().unwrap_or_default().to_owned(),
                        dry_run: d["dryRun"].as_bool().unwrap_or(false),
                        from: d["fromVersion"].as_u64(),
                        to: d["toVersion"].as_u64(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

#[allow(clippy::cast_precision_loss)]
fn ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

/// Watches one autopilot phase whose load started at `started`: polls the control plane's
/// decisions until a live one appears, then the fleet until every install holds the version it
/// wrote (recorded in `until`), or until `deadline`. Returns the phase's report without the
/// final counts ([`finish`] adds them once the load is over).
pub(super) async fn watch(
    admin: &Admin,
    fleet: &[Install],
    until: &Until,
    expected_rule: &str,
    started: Instant,
    deadline: Instant,
) -> Result<AutopilotReport, DrillError> {
    let clocks = until.clocks;
    let start_unix_us = clocks.epoch_unix_us + clocks.since_epoch_us(started);
    let mut r = AutopilotReport {
        expected_rule: expected_rule.to_owned(),
        ..AutopilotReport::default()
    };
    let decision = loop {
        let view = admin.autopilot().await?;
        if let Some(d) = decisions(&view)
            .into_iter()
            .rev()
            .find(|d| d.at_us >= start_unix_us && !d.dry_run && d.to.is_some())
        {
            break d;
        }
        if Instant::now() > deadline {
            return Ok(r);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    r.rule = Some(decision.rule.clone());
    r.reason = Some(decision.reason.clone());
    r.from_version = decision.from;
    r.to_version = decision.to;
    r.trigger_after_ms = Some(ms(decision.at_us - start_unix_us));
    let to = decision.to.unwrap_or(u64::MAX);
    loop {
        if fleet.iter().all(|i| i.version.load(Ordering::SeqCst) >= to) {
            let last = fleet
                .iter()
                .map(|i| i.changed_at_us.load(Ordering::SeqCst))
                .max()
                .unwrap_or(0);
            until.followed_us.store(last.max(1), Ordering::SeqCst);
            let last_unix_us = clocks.epoch_unix_us + i64::try_from(last).unwrap_or(i64::MAX);
            r.fleet_followed_ms = Some(ms((last_unix_us - decision.at_us).max(0)));
            return Ok(r);
        }
        if Instant::now() > deadline {
            return Ok(r);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Completes `r` after the phase's load: the decisions recorded since `started` (live and dry
/// runs; the tail of the load must not bring a second action).
pub(super) async fn finish(
    admin: &Admin,
    clocks: Clocks,
    started: Instant,
    r: &mut AutopilotReport,
) -> Result<(), DrillError> {
    let start_unix_us = clocks.epoch_unix_us + clocks.since_epoch_us(started);
    let view = admin.autopilot().await?;
    let since: Vec<Decision> = decisions(&view)
        .into_iter()
        .filter(|d| d.at_us >= start_unix_us)
        .collect();
    r.dry_runs = since.iter().filter(|d| d.dry_run).count() as u64;
    r.actions = since.iter().filter(|d| !d.dry_run).count() as u64;
    Ok(())
}

/// The checks of an autopilot phase: it acted exactly once, live, with the expected rule, and
/// the fleet followed; after that no request failed.
pub(super) fn check(r: &AutopilotReport, fail: &mut dyn FnMut(String)) {
    if r.dry_runs > 0 {
        fail(format!(
            "the autopilot recorded {} dry-run decisions (the policy is live)",
            r.dry_runs
        ));
    }
    match r.actions {
        0 => fail(format!(
            "the autopilot did not act ({} expected)",
            r.expected_rule
        )),
        1 => {}
        n => fail(format!("the autopilot acted {n} times (once expected)")),
    }
    if let Some(rule) = &r.rule
        && *rule != r.expected_rule
    {
        fail(format!(
            "the autopilot's rule was {rule}, {} expected",
            r.expected_rule
        ));
    }
    if r.actions > 0 && r.fleet_followed_ms.is_none() {
        fail("the fleet never followed the autopilot's write".into());
    }
    if r.errors_after_follow > 0 {
        fail(format!(
            "{} requests failed after the fleet followed the autopilot",
            r.errors_after_follow
        ));
    }
}
