//! The fleet autopilot against the real service and PostgreSQL (issue 13): persisted fleet
//! telemetry (across a restart, summed over two replicas), the `autopilot` policy key and its
//! validators, the autopilot's database identity, and leader election with two replicas.
//! Minutes are scaled to one second (`--minute-secs 1`).

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use sourcegate_control_plane::embedded::testing;
use sourcegate_control_plane::settings::Settings;
use sourcegate_testkit::http::Expect as _;
use sourcegate_testkit::{OriginOptions, OriginPair, OriginStyle, TestOrigin};
use sqlx::Connection as _;
use uuid::Uuid;

/// The longest any wait below polls for. Each returns as soon as its condition holds (seconds
/// when the machine is quiet); the bound is for CI machines running every test binary's
/// control planes and databases at once on 2 cores.
const DEADLINE_SECS: u64 = 60;

fn report(install: &str, git: u64, limited: u64) -> Value {
    json!({
        "installHash": sourcegate::telemetry::install_hash(install),
        "configVersion": 1,
        "mode": "git",
        "sdk": "sourcegate-rust/0.1.0",
        "intervalSecs": 1,
        "origins": {
            "git": {"requests": git, "failures": limited, "rateLimited": limited},
            "cdn": {"requests": 0, "failures": 0, "rateLimited": 0}
        },
        "fallbacks": 0,
        "errors": 0,
        "latencyMs": {"p50": 10.0, "p99": 20.0, "mean": 11.0}
    })
}

async fn post(http: &reqwest::Client, base: &str, body: &Value) {
    let r = http
        .post(format!("{base}/v1/telemetry"))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
}

async fn summary(http: &reqwest::Client, base: &str, minutes: u32) -> Value {
    let r = http
        .get(format!("{base}/v1/telemetry/summary?minutes={minutes}"))
        .bearer_auth(admin_token(Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn total(s: &Value, f: impl Fn(&Value) -> u64) -> u64 {
    s["minutes"].as_array().unwrap().iter().map(f).sum()
}

fn replica_settings(db: &testing::TestDatabase) -> Settings {
    Settings {
        telemetry_flush_ms: 50,
        autopilot: false,
        ..settings(db)
    }
}

#[tokio::test]
async fn fleet_telemetry_survives_a_restart_and_adds_up_over_two_replicas() {
    let db = testing::fresh_database().await.unwrap();
    let a = sourcegate_control_plane::spawn(replica_settings(&db))
        .await
        .unwrap();
    let b = sourcegate_control_plane::spawn(replica_settings(&db))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    // Three installs, their reports split over the two replicas; one install reports to both.
    post(&http, &a.base_url(), &report("i1", 10, 1)).await;
    post(&http, &a.base_url(), &report("i2", 20, 2)).await;
    post(&http, &b.base_url(), &report("i3", 30, 3)).await;
    post(&http, &b.base_url(), &report("i1", 5, 0)).await;
    // The summary of either replica is the fleet's, once the other has flushed.
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    for base in [a.base_url(), b.base_url()] {
        loop {
            let s = summary(&http, &base, 5).await;
            if total(&s, |m| m["git"]["requests"].as_u64().unwrap()) == 65 {
                assert_eq!(total(&s, |m| m["git"]["rateLimited"].as_u64().unwrap()), 6);
                assert_eq!(total(&s, |m| m["reports"].as_u64().unwrap()), 4);
                assert_eq!(s["installs"]["total"], 3, "{s}");
                assert_eq!(s["installs"]["byMode"]["git"], 3);
                assert_eq!(s["minuteSecs"], 60);
                break;
            }
            assert!(Instant::now() < deadline, "replicas do not add up: {s}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // A report received just before a graceful shutdown is flushed by it.
    post(&http, &a.base_url(), &report("i4", 100, 0)).await;
    a.shutdown().await;
    b.shutdown().await;
    let mut c = sqlx::PgConnection::connect(&db.admin_url).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM app_private.telemetry_minutes")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert!(rows >= 1);
    // A new replica on the same database shows the same fleet.
    let again = sourcegate_control_plane::spawn(replica_settings(&db))
        .await
        .unwrap();
    let s = summary(&http, &again.base_url(), 5).await;
    assert_eq!(
        total(&s, |m| m["git"]["requests"].as_u64().unwrap()),
        165,
        "{s}"
    );
    assert_eq!(s["installs"]["total"], 4);
    // Git usage without quota headers: the rate-limited share (6 of 165).
    let usage: f64 = s["minutes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["gitUsagePercent"].as_f64())
        .fold(0.0, f64::max);
    assert!(usage > 0.0 && usage < 10.0, "{s}");
    again.shutdown().await;
}

#[tokio::test]
async fn retention_prunes_old_minutes() {
    let db = testing::fresh_database().await.unwrap();
    let s = Settings {
        telemetry_minute_secs: 1,
        telemetry_retention_minutes: 2,
        ..replica_settings(&db)
    };
    let server = sourcegate_control_plane::spawn(s).await.unwrap();
    let http = reqwest::Client::new();
    post(&http, &server.base_url(), &report("old", 10, 0)).await;
    let mut c = sqlx::PgConnection::connect(&db.admin_url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    while stored_rows(&mut c).await == 0 {
        assert!(Instant::now() < deadline, "never flushed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Two one-second minutes of retention, pruned once a minute (one second here).
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    while stored_rows(&mut c).await > 0 {
        assert!(Instant::now() < deadline, "never pruned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.shutdown().await;
}

async fn stored_rows(c: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM app_private.telemetry_minutes)
              + (SELECT count(*) FROM app_private.telemetry_installs)",
    )
    .fetch_one(c)
    .await
    .unwrap()
}

async fn put_key(ctx: &Ctx, key: &str, value: Value) -> reqwest::Response {
    ctx.http
        .put(ctx.url(&format!("/v1/configs/{key}")))
        .bearer_auth(admin_token(Uuid::new_v4()))
        .json(&json!({"value": value, "reason": "test"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_autopilot_key_is_off_by_default_versioned_and_validated_in_rust_and_sql() {
    let ctx = start().await;
    let r = ctx
        .http
        .get(ctx.url("/v1/configs/autopilot"))
        .send()
        .await
        .unwrap();
    // Absent until an admin writes it: the autopilot is off.
    assert_eq!(r.status(), 404);
    // Refused by the control plane (Rust validator), naming the field.
    let r = put_key(
        &ctx,
        "autopilot",
        json!({"enabled": true, "minInstalls": 0}),
    )
    .await;
    let e: Value = r.expect(422, "invalid_config").await;
    assert_eq!(e["field"], "minInstalls", "{e}");
    // Accepted: a new version, in the history with its reason.
    let r = put_key(
        &ctx,
        "autopilot",
        json!({"enabled": true, "gitPressure": {"target": {"mode": "canary", "percent": 25}}}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let mut c = superuser(&ctx).await;
    let (version, reason): (i64, Option<String>) = sqlx::query_as(
        "SELECT version, reason FROM public.app_config_history
          WHERE config_key = 'autopilot' ORDER BY version DESC LIMIT 1",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!((version, reason.as_deref()), (1, Some("test")));
    let r = put_key(&ctx, "autopilot", json!({"enabled": false})).await;
    assert_eq!(r.status(), 200);
    let v: Value = ctx
        .http
        .get(ctx.url("/v1/configs/autopilot"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["version"].as_i64(), v["value"]["enabled"].as_bool()),
        (Some(2), Some(false))
    );
    // The SQL validator (the only check in front of a Supabase project) agrees with the Rust
    // one on every case of the Rust unit tests, and on the accepted ones.
    let cases = [
        (json!({}), None),
        (
            json!({"enabled": true, "dryRun": true, "gitPressure": null}),
            None,
        ),
        (
            json!({"gitPressure": {"target": {"mode": "hybrid-cdn-git"}}}),
            None,
        ),
        (
            json!({"gitPressure": {"target": {"mode": "canary", "percent": 0}}}),
            None,
        ),
        (json!([]), Some("value")),
        (json!({"enabled": "yes"}), Some("value")),
        (json!({"enabled": null}), Some("value")),
        (json!({"cooldownMinutes": 1.5}), Some("value")),
        (
            json!({"gitPressure": {"target": {"mode": "sideways"}}}),
            Some("value"),
        ),
        (
            json!({"gitPressure": {"target": {"mode": "canary"}}}),
            Some("value"),
        ),
        (json!({"minInstalls": 0}), Some("minInstalls")),
        (json!({"cooldownMinutes": 10081}), Some("cooldownMinutes")),
        (
            json!({"gitPressure": {"thresholdPercent": 0}}),
            Some("gitPressure.thresholdPercent"),
        ),
        (
            json!({"gitPressure": {"thresholdPercent": 100.5}}),
            Some("gitPressure.thresholdPercent"),
        ),
        (
            json!({"gitPressure": {"forMinutes": 0}}),
            Some("gitPressure.forMinutes"),
        ),
        (
            json!({"gitPressure": {"target": {"mode": "canary", "percent": 101}}}),
            Some("gitPressure.target.percent"),
        ),
        (
            json!({"errorRollback": {"errorPercent": -1}}),
            Some("errorRollback.errorPercent"),
        ),
        (
            json!({"errorRollback": {"forMinutes": 10, "watchMinutes": 5}}),
            Some("errorRollback.watchMinutes"),
        ),
    ];
    for (doc, field) in cases {
        let rust = sourcegate_control_plane::autopilot::Policy::from_value(&doc)
            .err()
            .map(|e| e.field.to_owned());
        let sql = match sqlx::query("SELECT app_private.validate_config('autopilot', $1)")
            .bind(&doc)
            .execute(&mut c)
            .await
        {
            Ok(_) => None,
            Err(e) => {
                let db = e.as_database_error().unwrap();
                assert_eq!(db.code().as_deref(), Some("PT422"), "{doc}: {e}");
                let pg = db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .unwrap();
                pg.column().map(str::to_owned)
            }
        };
        assert_eq!(rust.as_deref(), field, "rust on {doc}");
        assert_eq!(sql.as_deref(), field, "sql on {doc}");
    }
}

/// A transaction on the request (authenticator) pool's role as the autopilot.
async fn as_autopilot(c: &mut sqlx::PgConnection) -> sqlx::Transaction<'_, sqlx::Postgres> {
    let mut tx = c.begin().await.unwrap();
    sqlx::query("SELECT set_config('role', 'sourcegate_autopilot', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

fn sqlstate(e: &sqlx::Error) -> String {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_autopilot_identity_writes_only_through_its_function() {
    let ctx = start().await;
    let mut c = authenticator(&ctx).await;
    let doc = json!({"type": "git", "gitUrl": "https://git.example.com/"});
    // Refused: every direct statement, other keys, the admins' function, other roles' tables.
    for sql in [
        "INSERT INTO public.app_config (config_key, config_value) VALUES ('x', '{}')",
        "UPDATE public.app_config SET config_value = '{\"type\":\"git\",\"gitUrl\":\"https://a.example/\"}' WHERE config_key = 'marketplace_source'",
        "DELETE FROM public.app_config WHERE config_key = 'marketplace_source'",
        "UPDATE public.app_config SET config_value = '{\"enabled\":true}' WHERE config_key = 'autopilot'",
        "INSERT INTO public.app_config_history (config_id, config_key, version, op) VALUES (gen_random_uuid(), 'x', 1, 'INSERT')",
        "SELECT * FROM public.app_config_history",
        "SELECT public.update_app_config('marketplace_source', '{\"type\":\"git\",\"gitUrl\":\"https://a.example/\"}'::jsonb)",
        "SELECT public.autopilot_update_config('autopilot', '{\"enabled\":true}'::jsonb, 'why', NULL)",
        "SELECT public.autopilot_update_config('feature_flags', '{}'::jsonb, 'why', NULL)",
        "SELECT count(*) FROM app_private.telemetry_minutes",
        "INSERT INTO app_private.autopilot_decisions (rule, reason, dry_run, from_version, decided_by) VALUES ('x', 'y', false, 1, 'z')",
    ] {
        let mut tx = as_autopilot(&mut c).await;
        let Err(e) = sqlx::query(sql).execute(&mut *tx).await else {
            panic!("accepted as the autopilot: {sql}");
        };
        assert_eq!(sqlstate(&e), "42501", "{sql}: {e}");
        tx.rollback().await.unwrap();
    }
    // It may read the document (public anyway)…
    let mut tx = as_autopilot(&mut c).await;
    let version: i64 = sqlx::query_scalar(
        "SELECT version FROM public.app_config WHERE config_key = 'marketplace_source'",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    // …needs a reason…
    let e = sqlx::query("SELECT public.autopilot_update_config('marketplace_source', $1, '', $2)")
        .bind(&doc)
        .bind(version)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "22023");
    tx.rollback().await.unwrap();
    // …and writes through update_app_config's checks: a stale version is refused (409)…
    let mut tx = as_autopilot(&mut c).await;
    let e = sqlx::query("SELECT public.autopilot_update_config('marketplace_source', $1, 'r', $2)")
        .bind(&doc)
        .bind(version + 5)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "PT409");
    tx.rollback().await.unwrap();
    // …an invalid document too (422)…
    let mut tx = as_autopilot(&mut c).await;
    let e = sqlx::query("SELECT public.autopilot_update_config('marketplace_source', $1, 'r', $2)")
        .bind(json!({"type": "sideways"}))
        .bind(version)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "PT422");
    tx.rollback().await.unwrap();
    // …and a good one is an ordinary version whose history names the autopilot.
    let mut tx = as_autopilot(&mut c).await;
    let (v, claims): (i64, Option<String>) = sqlx::query_as(
        "SELECT (public.autopilot_update_config('marketplace_source', $1, 'gitPressure: test', $2)).version,
                current_setting('request.jwt.claims', true)",
    )
    .bind(&doc)
    .bind(version)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(v, version + 1);
    assert_eq!(
        claims.as_deref(),
        Some(""),
        "claims restored after the call"
    );
    let mut s = superuser(&ctx).await;
    let (role, by, reason): (String, Option<Uuid>, String) = sqlx::query_as(
        "SELECT changed_role, changed_by, reason FROM public.app_config_history
          WHERE config_key = 'marketplace_source' ORDER BY version DESC LIMIT 1",
    )
    .fetch_one(&mut s)
    .await
    .unwrap();
    assert_eq!(
        (role.as_str(), by, reason.as_str()),
        ("autopilot", None, "gitPressure: test")
    );
    // No other API role may call the autopilot's function.
    for role in ["anon", "authenticated", "service_role"] {
        let mut tx = c.begin().await.unwrap();
        sqlx::query("SELECT set_config('role', $1, true)")
            .bind(role)
            .execute(&mut *tx)
            .await
            .unwrap();
        let e = sqlx::query(
            "SELECT public.autopilot_update_config('marketplace_source', $1, 'r', NULL)",
        )
        .bind(&doc)
        .execute(&mut *tx)
        .await
        .unwrap_err();
        assert_eq!(sqlstate(&e), "42501", "{role}");
        tx.rollback().await.unwrap();
    }
}

/// Which replica's session holds the leader lock: its application-independent backend pid.
async fn leader_pid(c: &mut sqlx::PgConnection) -> Option<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_catalog.pg_locks
          WHERE locktype = 'advisory' AND granted AND classid = 0 AND objid = $1::bigint::oid
            AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())",
    )
    .bind(sourcegate_control_plane::decider::LOCK_KEY)
    .fetch_optional(c)
    .await
    .unwrap()
}

async fn autopilot_rows(c: &mut sqlx::PgConnection) -> Vec<(i64, String, String)> {
    sqlx::query_as(
        "SELECT h.version, h.reason, d.decided_by FROM public.app_config_history h
           JOIN app_private.autopilot_decisions d ON d.to_version = h.version
          WHERE h.config_key = 'marketplace_source' AND h.changed_role = 'autopilot'
          ORDER BY h.version",
    )
    .fetch_all(c)
    .await
    .unwrap()
}

#[tokio::test]
async fn one_replica_decides_and_the_other_takes_over_when_it_dies() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    let db = testing::fresh_database().await.unwrap();
    // Git mode, the CDN named (so the control plane probes it) but not used.
    let mut doc = probe_doc(&git.base_url(), Some(&cdn.base_url()));
    doc["type"] = json!("git");
    doc["priority"] = json!(["git"]);
    store_unvalidated(&db.admin_url, doc.clone()).await;
    let hook = receiver(0).await;
    let s = Settings {
        notify_webhook: Some(hook.url.clone()),
        notify_webhook_secret: Some("hook-secret".into()),
        telemetry_minute_secs: 1,
        telemetry_flush_ms: 50,
        autopilot: true,
        autopilot_interval_ms: 100,
        origin_probes: true,
        allow_private_origins: true,
        ..settings(&db)
    };
    let a = sourcegate_control_plane::spawn(s.clone()).await.unwrap();
    let b = sourcegate_control_plane::spawn(s).await.unwrap();
    let http = reqwest::Client::new();
    let ctx_put = |base: String, key: &'static str, value: Value| {
        let http = http.clone();
        async move {
            http.put(format!("{base}/v1/configs/{key}"))
                .bearer_auth(admin_token(Uuid::new_v4()))
                .json(&json!({"value": value, "reason": "test"}))
                .send()
                .await
                .unwrap()
        }
    };
    let r = ctx_put(
        a.base_url(),
        "autopilot",
        json!({"enabled": true, "minInstalls": 3, "cooldownMinutes": 3,
               "gitPressure": {"thresholdPercent": 70, "forMinutes": 2},
               "errorRollback": null}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Git under pressure: 80 % of Git answers are rate limits, four installs, reports to both
    // replicas, every 100 ms.
    let feeder = {
        let (a, b) = (a.base_url(), b.base_url());
        let http = http.clone();
        tokio::spawn(async move {
            for n in 0u64.. {
                // Each install alternates between the replicas, cycle by cycle.
                let base = if (n / 4) % 2 == 0 { &a } else { &b };
                let body = report(&format!("install-{}", n % 4), 10, 8);
                // The replica may be gone (killed below): the other one keeps receiving.
                let _ = http
                    .post(format!("{base}/v1/telemetry"))
                    .json(&body)
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let mut c = sqlx::PgConnection::connect(&db.admin_url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    let first = loop {
        let rows = autopilot_rows(&mut c).await;
        if !rows.is_empty() {
            break rows;
        }
        assert!(Instant::now() < deadline, "the autopilot never acted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(first.len(), 1, "{first:?}");
    let (_, reason, by_first) = &first[0];
    assert!(
        reason.starts_with("gitPressure: Git usage 80 % ≥ 70 % for 2 min; CDN healthy"),
        "{reason}"
    );
    // Replica b serves its in-memory snapshot, which follows the write over LISTEN/NOTIFY: poll
    // (under load the notification can trail the decision's record by a few milliseconds).
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    let now = loop {
        let now: Value = http
            .get(format!("{}/v1/configs/marketplace_source", b.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if now["value"]["type"] == "hybrid" || Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(now["value"]["type"], "hybrid", "{now}");
    assert_eq!(now["value"]["priority"], json!(["cdn", "git"]));
    // Exactly one leader; the replica that decided is the one leading.
    let pid = leader_pid(&mut c).await.expect("a leader");
    let addr_a = a.addr().to_string();
    let (leader, follower) = if by_first.ends_with(&format!(":{}", addr_a)) {
        (a, b)
    } else {
        (b, a)
    };
    assert!(by_first.ends_with(&leader.addr().to_string()), "{by_first}");
    // An admin puts Git back; the cooldown (3 one-second minutes) holds the autopilot, then
    // the leader is killed: its session ends, the follower takes the lead and acts.
    let r = ctx_put(follower.base_url(), "marketplace_source", doc.clone()).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    drop(leader);
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    let second = loop {
        let rows = autopilot_rows(&mut c).await;
        if rows.len() >= 2 {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "the follower never took over: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(second.len(), 2, "{second:?}");
    assert!(
        second[1].2.ends_with(&follower.addr().to_string()),
        "{second:?}"
    );
    let new_pid = leader_pid(&mut c).await.expect("a new leader");
    assert_ne!(new_pid, pid);
    // GET /v1/autopilot on the new leader: it leads, the policy and both decisions.
    let view: Value = http
        .get(format!("{}/v1/autopilot", follower.base_url()))
        .bearer_auth(admin_token(Uuid::new_v4()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["replica"]["leader"], true, "{view}");
    assert_eq!(view["policy"]["enabled"], true);
    assert_eq!(view["policy"]["gitPressure"]["forMinutes"], 2);
    assert_eq!(view["minuteSecs"], 1);
    let decisions = view["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 2, "{view}");
    assert_eq!(decisions[0]["decidedBy"], second[1].2.as_str());
    assert_eq!(decisions[0]["rule"], "gitPressure");
    assert_eq!(decisions[0]["dryRun"], false);
    // Each action was posted to the webhook, signed.
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    while hook.got.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "webhook not called twice");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (sig, _, body) in hook.got.lock().unwrap().iter() {
        let expected = sourcegate_control_plane::notify::signature(b"hook-secret", body);
        assert_eq!(sig.as_deref(), Some(expected.as_str()));
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["rule"], "gitPressure");
    }
    feeder.abort();
    follower.shutdown().await;
}

#[tokio::test]
async fn a_resolver_reports_git_quota_headers_and_403_rate_limits() {
    let ctx = start_with(|s| s.telemetry_flush_ms = 50).await;
    let mut opts = OriginOptions::new(OriginStyle::GitRaw);
    opts.rate_limit = Some((2, Duration::from_secs(600)));
    opts.limit_answer = sourcegate_testkit::LimitAnswer::ForbiddenWithReset;
    // Every fetch goes to the origin (a conditional request each time).
    opts.cache_control = Some("no-cache".into());
    let git = TestOrigin::start(opts).await.unwrap();
    let resolver = sourcegate::Resolver::builder(url::Url::parse(&git.base_url()).unwrap())
        .install_id("quota-install")
        .health_checks(false)
        .telemetry(sourcegate::telemetry::TelemetrySettings {
            endpoint: Some(url::Url::parse(&ctx.url("/v1/telemetry")).unwrap()),
            interval: Duration::from_millis(50),
            enabled: true,
        })
        .build()
        .unwrap();
    for _ in 0..4 {
        // The third and fourth are answered 403 + x-ratelimit-remaining: 0.
        let _ = resolver.fetch("community-plugins.json").await;
    }
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    loop {
        let s = summary(&ctx.http, &ctx.base, 5).await;
        let quota = s["minutes"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|m| !m["gitQuota"].is_null())
            .cloned();
        if let Some(m) = quota {
            assert_eq!(m["gitQuota"]["remaining"], 0, "{m}");
            assert_eq!(m["gitQuota"]["limit"], 2, "{m}");
            assert!(m["gitQuota"]["reset"].as_u64() > Some(1_700_000_000), "{m}");
            assert_eq!(m["gitUsagePercent"], 100.0, "{m}");
            assert!(
                total(&s, |m| m["git"]["rateLimited"].as_u64().unwrap()) >= 1,
                "{s}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no quota reported: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A loopback webhook receiver: answers 500 to the first `fail_first` posts (with
/// `Retry-After: <retry_after>` when given), then 200; keeps every post's signature header,
/// delivery id and body.
type Posts = std::sync::Arc<std::sync::Mutex<Vec<(Option<String>, Option<String>, Vec<u8>)>>>;

struct Receiver {
    url: url::Url,
    got: Posts,
}

async fn receiver(fail_first: usize) -> Receiver {
    receiver_with(fail_first, None).await
}

async fn receiver_with(fail_first: usize, retry_after: Option<u64>) -> Receiver {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse as _;
    let got: Posts = Posts::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let mut g = seen.lock().unwrap();
                g.push((
                    header("x-sourcegate-signature"),
                    header("x-sourcegate-delivery"),
                    body.to_vec(),
                ));
                match (g.len() <= fail_first, retry_after) {
                    (true, Some(secs)) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [("retry-after", secs.to_string())],
                    )
                        .into_response(),
                    (true, None) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                    (false, _) => StatusCode::OK.into_response(),
                }
            }
        }),
    );
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(tcp, app).await });
    Receiver {
        url: url::Url::parse(&format!("http://{addr}/hook")).unwrap(),
        got,
    }
}

fn event() -> sourcegate_control_plane::notify::AutopilotEvent {
    sourcegate_control_plane::notify::AutopilotEvent::of(
        sourcegate_control_plane::autopilot_api::DecisionView {
            decided_at: "2026-12-03T12:00:00.000Z".parse().unwrap(),
            rule: "gitPressure".into(),
            reason: "gitPressure: Git usage 83 % ≥ 70 % for 5 min; CDN healthy".into(),
            dry_run: false,
            from_version: 4,
            to_version: Some(5),
            decided_by: "test".into(),
        },
    )
}

#[tokio::test]
async fn the_webhook_is_signed_retried_with_backoff_and_guarded() {
    use sourcegate_control_plane::guard::OutboundGuard;
    use sourcegate_control_plane::notify::{Notifier, signature};
    let rx = receiver(2).await;
    let open = std::sync::Arc::new(OutboundGuard::new(true));
    let n = Notifier::new(rx.url.clone(), Some("hook-secret"), &open)
        .unwrap()
        .with_first_backoff(Duration::from_millis(20));
    let started = Instant::now();
    assert_eq!(n.send(&event()).await.unwrap(), 3, "two 500s, then 200");
    // Backoff ceilings 20 ms then 40 ms, each wait at least half its ceiling.
    assert!(started.elapsed() >= Duration::from_millis(30));
    let got = rx.got.lock().unwrap().clone();
    assert_eq!(got.len(), 3);
    // One delivery id, the same on every attempt.
    let id = got[0].1.clone().expect("a delivery id");
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    assert!(got.iter().all(|p| p.1.as_deref() == Some(id.as_str())));
    for (sig, _, body) in &got {
        assert_eq!(
            sig.as_deref(),
            Some(signature(b"hook-secret", body).as_str())
        );
        assert_ne!(sig.as_deref(), Some(signature(b"other", body).as_str()));
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["event"], "autopilot.decision");
        assert_eq!(v["rule"], "gitPressure");
        assert_eq!(v["toVersion"], 5);
        assert_eq!(v["decidedAt"], "2026-12-03T12:00:00Z");
    }
    // Always failing: four attempts, then an error.
    let down = receiver(usize::MAX).await;
    let n = Notifier::new(down.url.clone(), None, &open)
        .unwrap()
        .with_first_backoff(Duration::from_millis(1));
    let e = n.send(&event()).await.unwrap_err().to_string();
    assert!(e.contains("after 4 attempts") && e.contains("500"), "{e}");
    assert_eq!(down.got.lock().unwrap().len(), 4);
    assert_eq!(down.got.lock().unwrap()[0].0, None, "no secret: unsigned");
    // A 503 with `Retry-After: 1` is waited out even though the backoff is 1 ms.
    let busy = receiver_with(1, Some(1)).await;
    let n = Notifier::new(busy.url.clone(), None, &open)
        .unwrap()
        .with_first_backoff(Duration::from_millis(1));
    let started = Instant::now();
    assert_eq!(n.send(&event()).await.unwrap(), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    // A second delivery has its own id.
    let first = busy.got.lock().unwrap()[0].1.clone();
    n.send(&event()).await.unwrap();
    assert_ne!(busy.got.lock().unwrap()[2].1, first);
    // The guard without private origins: refused before any request, not retried.
    let closed = std::sync::Arc::new(OutboundGuard::new(false));
    let rx = receiver(0).await;
    let n = Notifier::new(rx.url.clone(), Some("s"), &closed).unwrap();
    let e = n.send(&event()).await.unwrap_err().to_string();
    assert!(
        e.contains("refused by the outbound guard") && e.contains("after 1 attempts"),
        "{e}"
    );
    assert!(rx.got.lock().unwrap().is_empty());
}

fn error_report(install: &str) -> Value {
    let mut r = report(install, 0, 0);
    r["mode"] = json!("cdn");
    r["origins"]["cdn"] = json!({"requests": 90, "failures": 10, "rateLimited": 0});
    r["errors"] = json!(10);
    r
}

#[tokio::test]
async fn a_dry_run_records_only_then_error_rollback_restores_the_previous_version_once() {
    let ctx = start_with(|s| {
        s.telemetry_minute_secs = 1;
        s.telemetry_flush_ms = 50;
        s.autopilot_interval_ms = 100;
    })
    .await;
    let before = ctx.get_config().await;
    let r = put_key(&ctx, "marketplace_source", cdn_doc()).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let policy = |dry: bool| {
        json!({"enabled": true, "dryRun": dry, "minInstalls": 2, "cooldownMinutes": 0,
               "gitPressure": null,
               "errorRollback": {"errorPercent": 5, "forMinutes": 2, "watchMinutes": 60}})
    };
    let r = put_key(&ctx, "autopilot", policy(true)).await;
    assert_eq!(r.status(), 200);
    let feeder = {
        let (http, base) = (ctx.http.clone(), ctx.base.clone());
        tokio::spawn(async move {
            for n in 0u64.. {
                let _ = http
                    .post(format!("{base}/v1/telemetry"))
                    .json(&error_report(&format!("e-{}", n % 3)))
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    };
    let mut c = superuser(&ctx).await;
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    let dry = loop {
        let d = decisions(&mut c).await.unwrap();
        if !d.is_empty() {
            break d;
        }
        assert!(Instant::now() < deadline, "no dry-run decision");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (rule, reason, dry_run, to) = &dry[0];
    assert_eq!(
        (rule.as_str(), *dry_run, *to),
        ("errorRollback", true, None)
    );
    assert!(
        reason.starts_with("errorRollback: errors 11.1 % ≥ 5 % for 2 min within 60 min of version"),
        "{reason}"
    );
    assert_eq!(
        ctx.get_config().await["value"]["type"],
        "cdn",
        "a dry run changes nothing"
    );
    // Live: the rollback happens, once.
    let r = put_key(&ctx, "autopilot", policy(false)).await;
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    loop {
        let now = ctx.get_config().await;
        if now["value"]["type"] == before["value"]["type"] {
            assert_eq!(now["value"]["gitUrl"], before["value"]["gitUrl"]);
            break;
        }
        assert!(Instant::now() < deadline, "never rolled back: {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Errors go on, cooldown 0: the autopilot's own version is not rolled back again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let live: Vec<_> = decisions(&mut c)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| !d.2)
        .collect();
    assert_eq!(live.len(), 1, "{live:?}");
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT changed_role, reason FROM public.app_config_history
          WHERE config_key = 'marketplace_source' AND changed_role = 'autopilot'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].1.contains("rolling back to version"), "{rows:?}");
    feeder.abort();
}

/// The autopilot's recorded decisions, oldest first: (rule, reason, dry run, version written).
async fn decisions(
    c: &mut sqlx::PgConnection,
) -> Result<Vec<(String, String, bool, Option<i64>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT rule, reason, dry_run, to_version FROM app_private.autopilot_decisions ORDER BY id",
    )
    .fetch_all(c)
    .await
}
