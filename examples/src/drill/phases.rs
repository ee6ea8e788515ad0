//! The drill's phases: their names, what the admin (or the world) does at the start of each,
//! the load, and what each must show ([`check_phase`]).

use serde_json::{Value, json};
use sourcegate_testkit::Fault;

use super::{DrillOptions, PhaseReport};

/// The drill's phases, in the order they run: the `name` of each [`PhaseReport`] (the module
/// docs of [`crate::drill`] say what each does and must show).
pub const PHASES: [&str; 11] = [
    "git",
    "git-rate-limited",
    "canary-10",
    "canary-50",
    "cdn",
    "cdn-down",
    "rollback-git",
    "steady",
    "registry-update",
    "autopilot-git-pressure",
    "autopilot-rollback",
];

/// What happens at the start of a phase.
pub(super) enum Action {
    Set(Value, &'static str),
    CdnFault(Fault),
    RollbackToFirst(&'static str),
    /// Both origins send this `Cache-Control` from now on.
    CacheControl(String),
    /// Both origins publish the update snapshot.
    Publish,
    /// The admin sets this document with the update snapshot's `integrity` entry (its
    /// SHA-256 and size at the registry path), as an admin publishing a new registry would.
    SetWithUpdateIntegrity(Value, &'static str),
    /// The admin writes the `autopilot` policy (no flip of the marketplace source).
    SetPolicy(Value, &'static str),
}

/// Which installs a phase's load goes through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Installs {
    /// The next installs of the fleet's shuffled order, for the phase's seconds.
    Next,
    /// The previous phase's installs again, `polls` fetches each.
    Replay { polls: usize },
    /// The previous phase's installs over and over, for at least `secs` seconds.
    Cycle { secs: f64 },
    /// The next installs, as [`Installs::Next`], until the autopilot has acted by `rule` and
    /// the whole fleet followed, plus `tail_secs`; at most `max_secs`.
    UntilAutopilot {
        rule: &'static str,
        max_secs: f64,
        tail_secs: f64,
    },
}

/// One phase: its name, the mode shown, what the admin or the world does, the load.
pub(super) struct PhaseSpec {
    pub(super) name: &'static str,
    pub(super) mode: &'static str,
    pub(super) actions: Vec<Action>,
    pub(super) rps: f64,
    pub(super) canary_percent: Option<f64>,
    pub(super) installs: Installs,
}

/// The phase plan, in [`PHASES`] order, for origins at `git_url` and `cdn_url`.
pub(super) fn plan(opts: &DrillOptions, git_url: &str, cdn_url: &str) -> Vec<PhaseSpec> {
    let both = |extra: Value| {
        let mut d = json!({
            "gitUrl": git_url,
            "cdnUrl": cdn_url,
            // The control plane probes both origins (its verdict on the CDN gates the
            // autopilot's switch); the installs run no active checks (`load::build_fleet`).
            "healthCheckEnabled": true,
            "healthCheck": {"intervalSecs": 5, "timeoutMs": 2000},
            "fallbackOnError": true,
            "outlierDetection": {"consecutiveFailures": 5, "baseEjectionSecs": 10},
        });
        if let (Some(d), Some(e)) = (d.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                d.insert(k.clone(), v.clone());
            }
        }
        d
    };
    // A canary phase: the admin sends `percent` % of the fleet to the CDN (sticky buckets).
    let canary = |percent: u8, name, mode, reason| PhaseSpec {
        name,
        mode,
        actions: vec![Action::Set(
            both(json!({"type": "canary", "canaryPercent": percent})),
            reason,
        )],
        rps: opts.spike_rps,
        canary_percent: Some(f64::from(percent)),
        installs: Installs::Next,
    };
    vec![
        PhaseSpec {
            name: "git",
            mode: "git",
            actions: vec![Action::Set(
                both(json!({"type": "git"})),
                "drill: all installs on Git",
            )],
            rps: opts.normal_rps,
            canary_percent: None,
            installs: Installs::Next,
        },
        PhaseSpec {
            name: "git-rate-limited",
            mode: "git",
            actions: vec![],
            rps: opts.spike_rps,
            canary_percent: None,
            installs: Installs::Next,
        },
        canary(
            10,
            "canary-10",
            "canary 10%",
            "drill: canary 10% on the CDN",
        ),
        canary(
            50,
            "canary-50",
            "canary 50%",
            "drill: canary 50% on the CDN",
        ),
        PhaseSpec {
            name: "cdn",
            mode: "cdn",
            actions: vec![Action::Set(
                both(json!({"type": "cdn", "priority": ["cdn", "git"]})),
                "drill: everything on the CDN",
            )],
            rps: opts.spike_rps,
            canary_percent: None,
            installs: Installs::Next,
        },
        PhaseSpec {
            name: "cdn-down",
            mode: "cdn",
            actions: vec![Action::CdnFault(Fault::Status(503))],
            rps: opts.normal_rps,
            canary_percent: None,
            installs: Installs::Next,
        },
        PhaseSpec {
            name: "rollback-git",
            mode: "git",
            actions: vec![
                Action::CdnFault(Fault::None),
                Action::RollbackToFirst("drill: roll back to the Git version"),
            ],
            rps: opts.normal_rps,
            canary_percent: None,
            installs: Installs::Next,
        },
        PhaseSpec {
            name: "steady",
            mode: "git",
            actions: vec![Action::CacheControl(format!(
                "max-age={}",
                opts.max_age_secs
            ))],
            rps: opts.normal_rps,
            canary_percent: None,
            installs: Installs::Replay {
                polls: opts.steady_polls.max(1),
            },
        },
        PhaseSpec {
            name: "registry-update",
            mode: "git",
            // The bodies first, then the document naming them: installs never refuse a body
            // the origins do not serve yet.
            actions: vec![
                Action::Publish,
                Action::SetWithUpdateIntegrity(
                    both(json!({"type": "git"})),
                    "drill: publish the new registry snapshot's integrity",
                ),
            ],
            rps: opts.normal_rps,
            canary_percent: None,
            #[allow(clippy::cast_precision_loss)]
            installs: Installs::Cycle {
                secs: opts.phase_secs.max(opts.max_age_secs as f64 + 2.0),
            },
        },
        PhaseSpec {
            name: "autopilot-git-pressure",
            mode: "git → hybrid",
            // The admin only turns the autopilot on; the spike does the rest.
            actions: vec![Action::SetPolicy(
                super::autopilot::policy(opts),
                "drill: the admin enables the autopilot",
            )],
            rps: opts.spike_rps,
            canary_percent: None,
            installs: Installs::UntilAutopilot {
                rule: "gitPressure",
                // A streak of `forMinutes` complete minutes, a partial first one, a report
                // interval and the decider's interval, with room for a loaded machine.
                max_secs: minutes(opts, opts.autopilot_for_minutes + 12),
                tail_secs: opts.phase_secs,
            },
        },
        PhaseSpec {
            name: "autopilot-rollback",
            mode: "cdn → hybrid",
            actions: vec![
                Action::Set(
                    both(json!({"type": "cdn", "priority": ["cdn"], "fallbackOnError": false})),
                    "drill: everything on the CDN, no fallback",
                ),
                Action::CdnFault(Fault::StatusEvery {
                    status: 500,
                    every: 5,
                }),
            ],
            // The spike rate: every scaled minute then holds errors (a fifth of the CDN's
            // answers), so the streak is not broken by a quiet minute.
            rps: opts.spike_rps,
            canary_percent: None,
            installs: Installs::UntilAutopilot {
                rule: "errorRollback",
                max_secs: minutes(opts, super::autopilot::ERROR_FOR_MINUTES + 12),
                tail_secs: opts.phase_secs,
            },
        },
    ]
}

/// `n` of the drill's scaled minutes, in seconds.
fn minutes(opts: &DrillOptions, n: u32) -> f64 {
    f64::from(n) * f64::from(opts.minute_secs.max(1))
}

/// The expectations of each phase; a miss is a failure of the drill.
pub(super) fn check_phase(
    r: &PhaseReport,
    spec: &PhaseSpec,
    installs: usize,
    first: Option<&PhaseReport>,
    failures: &mut Vec<String>,
) {
    let mut fail = |why: String| failures.push(format!("{}: {why}", r.name));
    if r.requests == 0 {
        fail("no request was made".into());
    }
    // In `autopilot-rollback` errors are the point (no fallback while the CDN fails a fifth of
    // requests) until the autopilot rolls back; `autopilot::check` counts those after.
    if r.errors > 0 && spec.name != "autopilot-rollback" {
        fail(format!(
            "{} errors (failover should have served them)",
            r.errors
        ));
    }
    if r.body_mismatches > 0 {
        fail(format!(
            "{} bodies did not match the registry's sha256",
            r.body_mismatches
        ));
    }
    match r.name.as_str() {
        "git" if r.cdn > 0 || r.rate_limited > 0 => fail(format!(
            "expected all on Git without 429s, got cdn={} 429s={}",
            r.cdn, r.rate_limited
        )),
        "git-rate-limited" if r.rate_limited == 0 || r.fallbacks == 0 => fail(format!(
            "expected Git to rate-limit and the fleet to fail over, got 429s={} fallbacks={}",
            r.rate_limited, r.fallbacks
        )),
        "cdn" if r.git > 0 => fail(format!("expected all on the CDN, Git served {}", r.git)),
        "cdn-down" if r.fallbacks == 0 || r.git == 0 => fail(format!(
            "expected failover to Git, got fallbacks={} git={}",
            r.fallbacks, r.git
        )),
        "rollback-git" if r.cdn > 0 => fail(format!("expected all on Git, CDN served {}", r.cdn)),
        "steady" => {
            let cached = r.fresh + r.revalidated;
            if cached * 10 < r.requests * 9 {
                fail(format!(
                    "expected ≥ 90% of fetches 304 or fresh, got {cached} of {}",
                    r.requests
                ));
            }
            if let Some(first) = first {
                // Per fetch: Git's wire bytes at least 10× below the first phase's.
                let (now, then) = (
                    u128::from(r.git_bytes) * u128::from(first.requests.max(1)),
                    u128::from(first.git_bytes) * u128::from(r.requests.max(1)),
                );
                if now * 10 > then {
                    fail(format!(
                        "expected Git bytes per fetch ≥ 10× below {}'s, got {} B for {} fetches vs {} B for {}",
                        first.name, r.git_bytes, r.requests, first.git_bytes, first.requests
                    ));
                }
            }
        }
        "registry-update" => {
            if r.old_after_max_age != Some(0) {
                fail(format!(
                    "{:?} fetches served the old snapshot more than max-age after the publication",
                    r.old_after_max_age
                ));
            }
            if r.new_snapshot.unwrap_or(0) == 0 {
                fail("no install served the new snapshot".into());
            }
        }
        // Every origin failing a request shows as an error, or as a stale kept body served
        // in its place (`stale`): the fleet autopilot counts both.
        "autopilot-rollback" if r.errors + r.stale == 0 => {
            fail(
                "expected failed requests before the rollback (CDN alone, a fifth failing)".into(),
            );
        }
        _ => {}
    }
    if let Some(a) = &r.autopilot {
        super::autopilot::check(a, &mut fail);
    }
    if let (Some(want), Some(got)) = (spec.canary_percent, r.canary_share_percent) {
        // 3 points, or 3 binomial standard deviations for small fleets (100 installs).
        #[allow(clippy::cast_precision_loss)]
        let sd = (want / 100.0 * (1.0 - want / 100.0) / installs.max(1) as f64).sqrt() * 100.0;
        let tolerance = (3.0 * sd).max(3.0);
        if (got - want).abs() > tolerance {
            fail(format!(
                "canary share {got:.1}% is more than {tolerance:.1} points from {want}%"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_runs_the_exported_phases_in_order() {
        let p = plan(
            &DrillOptions::default(),
            "http://127.0.0.1:1/",
            "http://127.0.0.1:2/",
        );
        let names: Vec<&str> = p.iter().map(|s| s.name).collect();
        assert_eq!(names, PHASES);
    }
}
