//! Persisted fleet telemetry: each replica's [`Batch`](crate::telemetry::Batch) upsert-added into
//! `app_private.telemetry_minutes` / `app_private.telemetry_installs`
//! (`supabase/migrations/20251204000100_autopilot.sql`), and the fleet's series read back.
//!
//! One flush is one transaction of **one statement** (two data-modifying CTEs), run as
//! `service_role` ([`db::begin_service`]): counts and latency sums add, the p99 takes the
//! maximum, a quota and an install's last report keep the latest (by arrival). A failed flush
//! puts its batch back ([`Batch::restore`](crate::telemetry::Batch::restore)), so a database outage delays reports without losing
//! them. Retention (`--telemetry-retention-minutes`, default 10,080 minutes = 7 days) is pruned
//! by the same background task once a minute.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use sqlx::PgPool;

use crate::db;
use crate::state::AppState;
use crate::telemetry::{Bucket, Drained, InstallsSummary, Quota, SeenQuota};

/// The quota columns of one origin, updated only by a later quota.
fn quota_set(o: &str) -> String {
    let newer = format!(
        "excluded.{o}_quota_seen_at IS NOT NULL AND (t.{o}_quota_seen_at IS NULL \
         OR excluded.{o}_quota_seen_at >= t.{o}_quota_seen_at)"
    );
    ["remaining", "limit", "reset", "seen_at"]
        .iter()
        .map(|c| {
            format!(
                "{o}_quota_{c} = CASE WHEN {newer} THEN excluded.{o}_quota_{c} \
                 ELSE t.{o}_quota_{c} END"
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The flush statement: `$1` the buckets, `$2` the installs (JSON arrays).
fn flush_sql() -> String {
    let sums = [
        "git_requests",
        "git_failures",
        "git_rate_limited",
        "cdn_requests",
        "cdn_failures",
        "cdn_rate_limited",
        "fallbacks",
        "errors",
        "stale",
        "reports",
        "installs",
        "weight",
        "p50_sum",
        "mean_sum",
    ];
    let add = sums
        .iter()
        .map(|c| format!("{c} = t.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH b AS (
           INSERT INTO app_private.telemetry_minutes AS t
             (minute, mode, config_version, git_requests, git_failures, git_rate_limited,
              cdn_requests, cdn_failures, cdn_rate_limited, fallbacks, errors, stale, reports,
              installs, weight, p50_sum, mean_sum, p99_max,
              git_quota_remaining, git_quota_limit, git_quota_reset, git_quota_seen_at,
              cdn_quota_remaining, cdn_quota_limit, cdn_quota_reset, cdn_quota_seen_at)
           SELECT to_timestamp(x.start), x.mode, x.config_version, x.git_requests, x.git_failures,
                  x.git_rate_limited, x.cdn_requests, x.cdn_failures, x.cdn_rate_limited,
                  x.fallbacks, x.errors, x.stale, x.reports, x.installs, x.weight, x.p50_sum, x.mean_sum,
                  x.p99_max, x.git_quota_remaining, x.git_quota_limit, x.git_quota_reset,
                  to_timestamp(x.git_quota_seen_at), x.cdn_quota_remaining, x.cdn_quota_limit,
                  x.cdn_quota_reset, to_timestamp(x.cdn_quota_seen_at)
             FROM jsonb_to_recordset($1::jsonb) AS x(start bigint, mode text, config_version bigint,
                  git_requests bigint, git_failures bigint, git_rate_limited bigint,
                  cdn_requests bigint, cdn_failures bigint, cdn_rate_limited bigint,
                  fallbacks bigint, errors bigint, stale bigint, reports bigint, installs bigint,
                  weight bigint,
                  p50_sum float8, mean_sum float8, p99_max float8,
                  git_quota_remaining bigint, git_quota_limit bigint, git_quota_reset bigint,
                  git_quota_seen_at bigint, cdn_quota_remaining bigint, cdn_quota_limit bigint,
                  cdn_quota_reset bigint, cdn_quota_seen_at bigint)
           ON CONFLICT (minute, mode, config_version) DO UPDATE SET {add},
              p99_max = greatest(t.p99_max, excluded.p99_max), {git}, {cdn}
           RETURNING 1
         ), i AS (
           INSERT INTO app_private.telemetry_installs AS t (install_hash, mode, config_version, last_seen)
           SELECT x.install_hash, x.mode, x.config_version, to_timestamp(x.seen_at)
             FROM jsonb_to_recordset($2::jsonb) AS x(install_hash text, mode text,
                  config_version bigint, seen_at bigint)
           ON CONFLICT (install_hash) DO UPDATE
             SET mode = excluded.mode, config_version = excluded.config_version,
                 last_seen = excluded.last_seen
             WHERE excluded.last_seen >= t.last_seen
           RETURNING 1
         )
         SELECT (SELECT count(*) FROM b) + (SELECT count(*) FROM i)",
        git = quota_set("git"),
        cdn = quota_set("cdn"),
    )
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn quota_json(q: Option<SeenQuota>, o: &str, out: &mut serde_json::Map<String, serde_json::Value>) {
    if let Some(q) = q {
        out.insert(
            format!("{o}_quota_remaining"),
            clamp(q.quota.remaining).into(),
        );
        out.insert(format!("{o}_quota_limit"), clamp(q.quota.limit).into());
        out.insert(
            format!("{o}_quota_reset"),
            q.quota
                .reset
                .map(clamp)
                .map_or(serde_json::Value::Null, Into::into),
        );
        out.insert(format!("{o}_quota_seen_at"), q.seen_at.into());
    }
}

/// Writes `d` (one statement, as `service_role`); minutes are `minute_secs` long.
///
/// # Errors
/// Database errors (the caller restores the batch).
pub async fn flush(pool: &PgPool, d: &Drained, minute_secs: i64) -> Result<(), sqlx::Error> {
    let buckets: Vec<serde_json::Value> = d
        .buckets
        .iter()
        .map(|(k, b)| {
            let mut o = serde_json::Map::new();
            o.insert("start".into(), (k.minute * minute_secs).into());
            o.insert("mode".into(), k.mode.clone().into());
            o.insert("config_version".into(), k.config_version.into());
            for (c, v) in [
                ("git_requests", b.git.requests),
                ("git_failures", b.git.failures),
                ("git_rate_limited", b.git.rate_limited),
                ("cdn_requests", b.cdn.requests),
                ("cdn_failures", b.cdn.failures),
                ("cdn_rate_limited", b.cdn.rate_limited),
                ("fallbacks", b.fallbacks),
                ("errors", b.errors),
                ("stale", b.stale),
                ("reports", b.reports),
                ("installs", b.installs),
                ("weight", b.weight),
            ] {
                o.insert(c.into(), clamp(v).into());
            }
            o.insert("p50_sum".into(), b.p50_sum.into());
            o.insert("mean_sum".into(), b.mean_sum.into());
            o.insert("p99_max".into(), b.p99_max.into());
            quota_json(b.git_quota, "git", &mut o);
            quota_json(b.cdn_quota, "cdn", &mut o);
            serde_json::Value::Object(o)
        })
        .collect();
    let installs: Vec<serde_json::Value> = d
        .installs
        .iter()
        .map(|(h, i)| {
            serde_json::json!({"install_hash": h, "mode": i.mode,
                               "config_version": i.config_version, "seen_at": i.seen_at})
        })
        .collect();
    let mut tx = db::begin_service(pool).await?;
    sqlx::query(&flush_sql())
        .bind(serde_json::Value::Array(buckets))
        .bind(serde_json::Value::Array(installs))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Deletes minutes and installs older than `before_unix_secs`; returns the rows deleted.
///
/// # Errors
/// Database errors.
pub async fn prune(pool: &PgPool, before_unix_secs: i64) -> Result<u64, sqlx::Error> {
    let mut tx = db::begin_service(pool).await?;
    let a =
        sqlx::query("DELETE FROM app_private.telemetry_minutes WHERE minute < to_timestamp($1)")
            .bind(before_unix_secs)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    let b = sqlx::query(
        "DELETE FROM app_private.telemetry_installs WHERE last_seen < to_timestamp($1)",
    )
    .bind(before_unix_secs)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(a + b)
}

/// One fleet minute as the query returns it.
#[derive(Debug, Deserialize)]
struct MinuteRow {
    start: i64,
    git_requests: i64,
    git_failures: i64,
    git_rate_limited: i64,
    cdn_requests: i64,
    cdn_failures: i64,
    cdn_rate_limited: i64,
    fallbacks: i64,
    errors: i64,
    stale: i64,
    reports: i64,
    installs: i64,
    weight: i64,
    p50_sum: f64,
    mean_sum: f64,
    p99_max: f64,
    git_quota: Option<(i64, i64, Option<i64>, f64)>,
    cdn_quota: Option<(i64, i64, Option<i64>, f64)>,
}

fn unsigned(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn seen(q: Option<(i64, i64, Option<i64>, f64)>) -> Option<SeenQuota> {
    q.map(|(remaining, limit, reset, at)| SeenQuota {
        quota: Quota {
            remaining: unsigned(remaining),
            limit: unsigned(limit),
            reset: reset.map(unsigned),
        },
        #[allow(clippy::cast_possible_truncation)]
        seen_at: at as i64,
    })
}

/// The latest quota of one origin among a minute's rows, as `[remaining, limit, reset, seen]`.
fn latest_quota(o: &str) -> String {
    format!(
        "(array_agg(json_build_array({o}_quota_remaining, {o}_quota_limit, {o}_quota_reset,
                                    extract(epoch FROM {o}_quota_seen_at))
                    ORDER BY {o}_quota_seen_at DESC)
            FILTER (WHERE {o}_quota_seen_at IS NOT NULL))[1] AS {o}_quota"
    )
}

/// The fleet's sums per minute index, for minute indexes `from..=to` (minutes of
/// `minute_secs`), every mode and version added.
///
/// # Errors
/// Database errors.
pub async fn fleet_minutes(
    pool: &PgPool,
    from: i64,
    to: i64,
    minute_secs: i64,
) -> Result<BTreeMap<i64, Bucket>, sqlx::Error> {
    let sql = format!(
        "SELECT coalesce(json_agg(s), '[]')::text FROM (
           SELECT extract(epoch FROM minute)::bigint AS start,
                  sum(git_requests)::bigint AS git_requests, sum(git_failures)::bigint AS git_failures,
                  sum(git_rate_limited)::bigint AS git_rate_limited,
                  sum(cdn_requests)::bigint AS cdn_requests, sum(cdn_failures)::bigint AS cdn_failures,
                  sum(cdn_rate_limited)::bigint AS cdn_rate_limited,
                  sum(fallbacks)::bigint AS fallbacks, sum(errors)::bigint AS errors,
                  sum(stale)::bigint AS stale,
                  sum(reports)::bigint AS reports, sum(installs)::bigint AS installs,
                  sum(weight)::bigint AS weight, sum(p50_sum) AS p50_sum, sum(mean_sum) AS mean_sum,
                  max(p99_max) AS p99_max, {git}, {cdn}
             FROM app_private.telemetry_minutes
            WHERE minute >= to_timestamp($1) AND minute <= to_timestamp($2)
            GROUP BY minute) s",
        git = latest_quota("git"),
        cdn = latest_quota("cdn"),
    );
    let mut tx = db::begin_service(pool).await?;
    let text: String = sqlx::query_scalar(&sql)
        .bind(from * minute_secs)
        .bind(to * minute_secs)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    let rows: Vec<MinuteRow> =
        serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let b = Bucket {
                git: crate::telemetry::OriginCounts {
                    requests: unsigned(r.git_requests),
                    failures: unsigned(r.git_failures),
                    rate_limited: unsigned(r.git_rate_limited),
                },
                cdn: crate::telemetry::OriginCounts {
                    requests: unsigned(r.cdn_requests),
                    failures: unsigned(r.cdn_failures),
                    rate_limited: unsigned(r.cdn_rate_limited),
                },
                fallbacks: unsigned(r.fallbacks),
                errors: unsigned(r.errors),
                stale: unsigned(r.stale),
                reports: unsigned(r.reports),
                installs: unsigned(r.installs),
                weight: unsigned(r.weight),
                p50_sum: r.p50_sum,
                mean_sum: r.mean_sum,
                p99_max: r.p99_max,
                git_quota: seen(r.git_quota),
                cdn_quota: seen(r.cdn_quota),
            };
            (r.start.div_euclid(minute_secs.max(1)), b)
        })
        .collect())
}

/// Installs per mode and version whose last report arrived at or after `since_unix_secs`.
///
/// # Errors
/// Database errors.
pub async fn installs(pool: &PgPool, since_unix_secs: i64) -> Result<InstallsSummary, sqlx::Error> {
    let mut tx = db::begin_service(pool).await?;
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT mode, config_version, count(*) FROM app_private.telemetry_installs
          WHERE last_seen >= to_timestamp($1) GROUP BY 1, 2",
    )
    .bind(since_unix_secs)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut s = InstallsSummary::default();
    for (mode, version, n) in rows {
        let n = unsigned(n);
        s.total += n;
        *s.by_mode.entry(mode).or_default() += n;
        *s.by_version.entry(version.to_string()).or_default() += n;
    }
    Ok(s)
}

/// Flushes this replica's batch now (the summary does before reading, so a replica always
/// shows its own reports). A failure restores the batch.
///
/// # Errors
/// Database errors.
pub async fn flush_now(state: &AppState) -> Result<(), sqlx::Error> {
    let _one = state.fleet.flush_lock.lock().await;
    let d = state.fleet.take_batch();
    if d.is_empty() {
        return Ok(());
    }
    let span = tracing::debug_span!("telemetry_flush", buckets = d.buckets.len());
    let _g = span.enter();
    match flush(&state.pool, &d, state.settings.minute_secs()).await {
        Ok(()) => Ok(()),
        Err(e) => {
            state.fleet.restore_batch(d);
            Err(e)
        }
    }
}

/// The background task: flushes every `--telemetry-flush-ms` (default 2,000 ms) and prunes
/// past the retention once a minute. Runs until aborted; a final flush is the server's.
pub async fn run_flusher(state: AppState) {
    let every = Duration::from_millis(state.settings.telemetry_flush_ms.max(10));
    let mut last_prune = tokio::time::Instant::now() - Duration::from_secs(3600);
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = flush_now(&state).await {
            tracing::warn!(error = %e, "telemetry flush failed; the batch is kept for the next one");
        }
        let prune_every =
            Duration::from_secs(u64::try_from(state.settings.minute_secs()).unwrap_or(60));
        if last_prune.elapsed() >= prune_every {
            last_prune = tokio::time::Instant::now();
            let keep = i64::from(state.settings.telemetry_retention_minutes)
                * state.settings.minute_secs();
            let before = chrono::Utc::now().timestamp() - keep;
            match prune(&state.pool, before).await {
                Ok(n) if n > 0 => tracing::debug!(rows = n, "telemetry pruned"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "telemetry prune failed"),
            }
        }
    }
}
