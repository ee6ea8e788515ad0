//! The fleet autopilot against the real service and PostgreSQL (issue 13): persisted fleet
//! telemetry (across a restart, summed over two replicas), the `autopilot` policy key and its
//! validators, the autopilot's database identity, and leader election with two replicas.
//! Minutes are scaled to one second (`--minute-secs 1`). This file holds the shared helpers
//! and the policy tests; `telemetry.rs` the fleet telemetry, `decider.rs` leader election, the
//! webhook, the dry run and the error rollback.

#[path = "../common/mod.rs"]
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

mod decider;
mod telemetry;

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

fn error_report(install: &str) -> Value {
    let mut r = report(install, 0, 0);
    r["mode"] = json!("cdn");
    r["origins"]["cdn"] = json!({"requests": 90, "failures": 10, "rateLimited": 0});
    r["errors"] = json!(10);
    r
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
