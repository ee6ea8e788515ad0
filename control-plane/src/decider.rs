//! The fleet autopilot's decider: exactly one replica evaluates the `autopilot` policy and acts
//! (docs/seed.md S17, the automatic switch; thresholds of S15; every action in the S12 history).
//!
//! **Leader election.** Every replica running the decider (`--autopilot`, default on) keeps one
//! connection taken out of the request pool for good (a dedicated session) and tries
//! `pg_try_advisory_lock(`[`LOCK_KEY`]`)` on it each interval. The replica whose session holds
//! the lock leads; the lock lives as long as that session, so a replica that dies, or whose
//! session breaks, loses the lead, and another takes it on its next try. A leader checks its
//! session before each decision (a failed `SELECT` drops the lead), and the write itself only
//! commits while `pg_locks` still shows the lock granted to that session's backend.
//!
//! **Each interval** (`--autopilot-interval-ms`, default 15,000 ms) the leader reads the policy
//! (the `autopilot` document, off by default), the current `marketplace_source` and its
//! previous version, the persisted fleet series (`crate::fleet_store`, minutes of
//! `--minute-secs`), the CDN's health by the control plane's own probe (`crate::fleet`) and the
//! last automatic action, and runs the pure rules ([`crate::autopilot::evaluate`]).
//!
//! **Acting** is an ordinary versioned write through `public.autopilot_update_config` as the
//! database role `sourcegate_autopilot` (history `changed_role` = `autopilot`, the rule and its
//! figures in `reason`), expecting the version it decided on (an admin's change in between wins:
//! 409, nothing written). Every decision, dry runs included, is recorded in
//! `app_private.autopilot_decisions` with the replica that made it, in the same transaction as
//! the write; the newest one starts the cooldown. A version the autopilot wrote is not rolled
//! back by `errorRollback` (that would restore the change that hurt); admins can.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use sourcegate::OriginKind;
use sourcegate::config::{MarketplaceConfig, Mode};
use sqlx::PgConnection;

use crate::autopilot::{self, Action, Current, Decision, Inputs, Policy, Target};
use crate::db;
use crate::state::AppState;

/// The advisory lock key of the autopilot's leader (`pg_try_advisory_lock(bigint)`; "SGAP").
pub const LOCK_KEY: i64 = 0x5347_4150;

/// The database role the autopilot writes as (created by the autopilot migration).
pub const ROLE: &str = "sourcegate_autopilot";

/// What this replica's decider is doing, for the console and tests.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// This replica holds the leader lock.
    pub leader: bool,
    /// The last evaluation's state (`off`, `watching`, `would switch in N min`, `cooling
    /// down (N min left)`, …) or the last action's reason; empty before the first one.
    pub state: String,
    /// The last error, if the last evaluation failed.
    pub error: Option<String>,
}

/// Why a decision could not be made or applied.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// The database refused or failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The stored policy does not parse (the validators should have refused it).
    #[error(transparent)]
    Policy(#[from] autopilot::InvalidPolicy),
    /// The lead was lost before the write committed.
    #[error("the leader lock is no longer held by this replica")]
    LostLead,
}

/// The name this replica records its decisions under: host name and bound address.
fn replica_name(addr: SocketAddr) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "control-plane".into());
    format!("{host}:{addr}")
}

/// The dedicated session and whether it holds the lock.
struct Session {
    conn: PgConnection,
    pid: i32,
}

async fn open_session(state: &AppState) -> Result<Session, sqlx::Error> {
    let mut conn = state.pool.acquire().await?.detach();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await?;
    Ok(Session { conn, pid })
}

/// Runs the decider of the replica bound to `addr` until aborted (the server does on shutdown; dropping the task closes the
/// session and so releases the lock).
pub async fn run(state: AppState, addr: SocketAddr) {
    let every = Duration::from_millis(state.settings.autopilot_interval_ms.max(10));
    let name = replica_name(addr);
    let notifier = state.settings.notify_webhook.clone().and_then(|url| {
        crate::notify::Notifier::new(
            url,
            state.settings.notify_webhook_secret.as_deref(),
            &state.guard,
        )
        .map_err(|e| tracing::error!(error = %e, "autopilot: webhook disabled"))
        .ok()
    });
    let mut session: Option<Session> = None;
    let mut leading = false;
    loop {
        if session.is_none() {
            match open_session(&state).await {
                Ok(s) => session = Some(s),
                Err(e) => tracing::debug!(error = %e, "autopilot: no session for the leader lock"),
            }
        }
        if let Some(s) = session.as_mut() {
            let held: Result<bool, sqlx::Error> = if leading {
                sqlx::query_scalar("SELECT true")
                    .fetch_one(&mut s.conn)
                    .await
            } else {
                sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(LOCK_KEY)
                    .fetch_one(&mut s.conn)
                    .await
            };
            match held {
                Ok(true) if !leading => {
                    leading = true;
                    tracing::info!(replica = %name, "autopilot: this replica leads");
                }
                Ok(_) => {}
                Err(e) => {
                    if leading {
                        tracing::warn!(error = %e, "autopilot: leader session lost; not leading");
                    }
                    leading = false;
                    session = None;
                }
            }
        }
        state.fleet.set_autopilot(|st| st.leader = leading);
        if let (true, Some(s)) = (leading, session.as_ref()) {
            let span = tracing::debug_span!("autopilot_decide", replica = %name);
            let _g = span.enter();
            let outcome = decide_once(&state, s.pid, &name, notifier.as_ref()).await;
            state.fleet.set_autopilot(|st| match outcome {
                Ok(text) => {
                    st.state = text;
                    st.error = None;
                }
                Err(e) => st.error = Some(e.to_string()),
            });
        }
        tokio::time::sleep(every).await;
    }
}

/// Whether `doc` already takes at least as much off Git as `target` would, so that a switch
/// would not relieve Git: a `cdn` document is past a hybrid or canary target (switching it
/// would hand Git back the CDN's fallback traffic, and undo an admin's choice of the CDN alone),
/// a hybrid CDN-first one is past a canary. Only a `cdn` document is on a `cdn` target. The
/// mode is read as resolvers read it ([`MarketplaceConfig::from_value`]); a document that does
/// not parse is on no target.
fn on_target(doc: &serde_json::Value, target: Target) -> bool {
    let Ok(cfg) = MarketplaceConfig::from_value(doc) else {
        return false;
    };
    // Basis points of installs whose requests go to the CDN first.
    let cdn_first_bp = match cfg.mode {
        Mode::Cdn
        | Mode::Hybrid {
            first: OriginKind::Cdn,
        } => 10_000,
        Mode::Canary { threshold_bp } => threshold_bp,
        Mode::Git | Mode::Hybrid { .. } => 0,
    };
    match target {
        Target::HybridCdnFirst => cdn_first_bp >= 10_000,
        Target::Cdn => cfg.mode == Mode::Cdn,
        Target::Canary { percent } => f64::from(cdn_first_bp) >= percent * 100.0,
    }
}

/// The current document rerouted as `target` (`None` when it names no CDN).
fn switched(doc: &serde_json::Value, target: Target) -> Option<serde_json::Value> {
    let mut d = doc.as_object()?.clone();
    d.remove("version");
    let cdn = ["cdnUrl", "cloudflareUrl"]
        .iter()
        .any(|k| d.get(*k).is_some_and(|v| v.is_string()));
    if !cdn {
        return None;
    }
    let git = d.get("gitUrl").is_some_and(|v| v.is_string());
    match target {
        Target::HybridCdnFirst if git => {
            d.insert("type".into(), "hybrid".into());
            d.insert("priority".into(), serde_json::json!(["cdn", "git"]));
        }
        Target::Cdn => {
            d.insert("type".into(), "cdn".into());
            let p = if git {
                serde_json::json!(["cdn", "git"])
            } else {
                serde_json::json!(["cdn"])
            };
            d.insert("priority".into(), p);
        }
        Target::Canary { percent } if git => {
            d.insert("type".into(), "canary".into());
            d.insert("canaryPercent".into(), percent.into());
        }
        _ => return None,
    }
    Some(serde_json::Value::Object(d))
}

/// Whether the control plane's own probe finds the CDN healthy: probed at least once (an
/// origin never checked is only presumed healthy; silence is not evidence), healthy, not
/// ejected, and allowed by the outbound guard. No probes (`--origin-probes false`, or
/// `healthCheckEnabled: false` in the document): not healthy, so `gitPressure` never fires.
fn cdn_healthy(state: &AppState) -> bool {
    let Some(prober) = state.fleet.probe() else {
        return false;
    };
    prober.health().iter().any(|h| {
        h.origin == OriginKind::Cdn
            && h.checks > 0
            && h.healthy
            && !h.ejected
            && url::Url::parse(&h.url)
                .ok()
                .and_then(|u| u.host_str().map(|host| state.guard.refusal(host).is_none()))
                .unwrap_or(false)
    })
}

/// One evaluation; returns the state shown for it.
async fn decide_once(
    state: &AppState,
    pid: i32,
    name: &str,
    notifier: Option<&crate::notify::Notifier>,
) -> Result<String, DecideError> {
    let secs = state.settings.minute_secs();
    let now_minute = chrono::Utc::now().timestamp().div_euclid(secs);
    let mut tx = db::begin_service(&state.pool).await?;
    let policy = match db::fetch_config(&mut tx, crate::api::AUTOPILOT_KEY).await? {
        Some(v) => Policy::from_value(&v.value)?,
        None => Policy::default(),
    };
    if !policy.enabled {
        return Ok("off".into());
    }
    let Some(cur) = db::fetch_config(&mut tx, sourcegate_contract::CONFIG_KEY).await? else {
        return Ok("watching (no marketplace_source yet)".into());
    };
    let previous: Option<(i64, serde_json::Value)> = sqlx::query_as(
        "SELECT version, new_value FROM public.app_config_history
          WHERE config_key = $1 AND version < $2 AND new_value IS NOT NULL
          ORDER BY version DESC LIMIT 1",
    )
    .bind(sourcegate_contract::CONFIG_KEY)
    .bind(cur.version)
    .fetch_optional(&mut *tx)
    .await?;
    let last: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT max(decided_at) FROM app_private.autopilot_decisions")
            .fetch_one(&mut *tx)
            .await?;
    // A version the autopilot wrote is never rolled back automatically (a rollback of a
    // rollback would restore the change that hurt); admins can.
    let by_autopilot: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM public.app_config_history
                         WHERE config_key = $1 AND version = $2 AND changed_role = 'autopilot')",
    )
    .bind(sourcegate_contract::CONFIG_KEY)
    .bind(cur.version)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let longest = [
        policy.git_pressure.as_ref().map_or(0, |g| g.for_minutes),
        policy.error_rollback.as_ref().map_or(0, |e| e.for_minutes),
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    let buckets = crate::fleet_store::fleet_minutes(
        &state.pool,
        now_minute - i64::from(longest) - 1,
        now_minute,
        secs,
    )
    .await?;
    let series: Vec<_> = buckets
        .iter()
        .map(|(m, b)| crate::telemetry::sample(*m, b))
        .collect();
    let target = policy
        .git_pressure
        .as_ref()
        .map_or(Target::HybridCdnFirst, |g| g.target);
    let inputs = Inputs {
        now_minute,
        series: &series,
        cdn_healthy: cdn_healthy(state),
        current: Current {
            version: cur.version,
            changed_minute: cur.updated_at.timestamp().div_euclid(secs),
            previous_version: previous.as_ref().filter(|_| !by_autopilot).map(|p| p.0),
            on_target: on_target(&cur.value, target),
        },
        last_action_minute: last.map(|t| t.timestamp().div_euclid(secs)),
    };
    let (action, reason, dry_run) = match autopilot::evaluate(&policy, &inputs) {
        Decision::Hold { state } => return Ok(state),
        Decision::Act {
            action,
            reason,
            dry_run,
        } => (action, reason, dry_run),
    };
    let (rule, doc) = match &action {
        Action::Switch(t) => ("gitPressure", switched(&cur.value, *t)),
        Action::Rollback { .. } => (
            "errorRollback",
            previous.map(|(_, mut v)| {
                if let Some(o) = v.as_object_mut() {
                    o.remove("version");
                }
                v
            }),
        ),
    };
    let Some(doc) = doc else {
        return Ok(format!("{rule}: would act, but the document names no CDN"));
    };
    let decision = Recorded {
        rule,
        reason: &reason,
        from_version: cur.version,
        decided_by: name,
    };
    let to_version = write_and_record(state, pid, (!dry_run).then_some(&doc), &decision).await?;
    if to_version.is_some() {
        state
            .hub
            .refresh_key(&state.pool, sourcegate_contract::CONFIG_KEY)
            .await;
    }
    tracing::info!(rule, dry_run, ?to_version, %reason, "autopilot decided");
    if let Some(n) = notifier {
        let event = crate::notify::AutopilotEvent::of(crate::autopilot_api::DecisionView {
            decided_at: chrono::Utc::now(),
            rule: rule.to_owned(),
            reason: reason.clone(),
            dry_run,
            from_version: cur.version,
            to_version,
            decided_by: name.to_owned(),
        });
        let n = n.clone();
        // Delivered in the background: retries must not hold up the next evaluation.
        tokio::spawn(async move {
            match n.send(&event).await {
                Ok(attempts) => tracing::info!(attempts, "autopilot: webhook delivered"),
                Err(e) => tracing::warn!(error = %e, "autopilot: webhook not delivered"),
            }
        });
    }
    Ok(if dry_run {
        format!("dry run: {reason}")
    } else {
        reason
    })
}

/// What a decision row records.
struct Recorded<'a> {
    rule: &'a str,
    reason: &'a str,
    from_version: i64,
    decided_by: &'a str,
}

/// In one transaction, committed only while `pid` holds the leader lock: the write of `doc`
/// (none for a dry run) as `sourcegate_autopilot`, expecting `d.from_version`, then the
/// decision row as `service_role`. Returns the version written.
async fn write_and_record(
    state: &AppState,
    pid: i32,
    doc: Option<&serde_json::Value>,
    d: &Recorded<'_>,
) -> Result<Option<i64>, DecideError> {
    let mut tx = state.pool.begin().await?;
    sqlx::query("SELECT set_config('role', $1, true), set_config('request.jwt.claims', '', true)")
        .bind(ROLE)
        .execute(&mut *tx)
        .await?;
    let held: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks
                         WHERE locktype = 'advisory' AND granted AND pid = $1
                           AND classid = 0 AND objid = $2::bigint::oid AND objsubid = 1)",
    )
    .bind(pid)
    .bind(LOCK_KEY)
    .fetch_one(&mut *tx)
    .await?;
    if !held {
        return Err(DecideError::LostLead);
    }
    let mut version = None;
    if let Some(doc) = doc {
        let v: i64 = sqlx::query_scalar(
            "SELECT version FROM public.autopilot_update_config($1, $2, $3, $4)",
        )
        .bind(sourcegate_contract::CONFIG_KEY)
        .bind(doc)
        .bind(d.reason)
        .bind(d.from_version)
        .fetch_one(&mut *tx)
        .await?;
        version = Some(v);
    }
    sqlx::query("SELECT set_config('role', 'service_role', true)")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO app_private.autopilot_decisions
           (rule, reason, dry_run, from_version, to_version, decided_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(d.rule)
    .bind(d.reason)
    .bind(doc.is_none())
    .bind(d.from_version)
    .bind(version)
    .bind(d.decided_by)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::{Target, on_target};
    use serde_json::json;

    #[test]
    fn a_document_that_already_takes_as_much_off_git_is_on_target() {
        let doc = |t: &str, priority: serde_json::Value| {
            json!({"type": t, "priority": priority, "gitUrl": "https://git.example/r/",
                   "cdnUrl": "https://cdn.example/", "version": 3})
        };
        let git = doc("git", json!(["git", "cdn"]));
        let git_first = doc("hybrid", json!(["git", "cdn"]));
        let cdn_first = doc("hybrid", json!(["cdn", "git"]));
        let cdn = doc("cdn", json!(["cdn"]));
        let canary = |p: f64| {
            let mut d = doc("canary", json!(["git", "cdn"]));
            d["canaryPercent"] = json!(p);
            d
        };
        let hybrid = Target::HybridCdnFirst;
        assert!(!on_target(&git, hybrid) && !on_target(&git_first, hybrid));
        assert!(on_target(&cdn_first, hybrid) && on_target(&cdn, hybrid));
        assert!(!on_target(&canary(50.0), hybrid));
        assert!(on_target(&cdn, Target::Cdn) && !on_target(&cdn_first, Target::Cdn));
        let c25 = Target::Canary { percent: 25.0 };
        assert!(on_target(&canary(25.0), c25) && !on_target(&canary(10.0), c25));
        assert!(on_target(&cdn_first, c25) && on_target(&cdn, c25) && !on_target(&git, c25));
        assert!(
            !on_target(&json!({"type": "cdn"}), hybrid),
            "no cdnUrl: does not parse"
        );
    }
}
