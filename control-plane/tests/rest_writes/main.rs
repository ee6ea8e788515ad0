//! `/rest/v1` table writes over the real service, as supabase-js sends them: `PATCH` with
//! filters, `POST` inserts and upserts, `DELETE`; RLS deciding who may write; the triggers'
//! validation, versioning, history and NOTIFY; PostgREST's `Prefer` handling and error bodies. `refusals.rs` holds what must be refused and
//! write nothing.

#[path = "../common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use sourcegate_control_plane::auth::{Claims, Role, mint_token};
use sourcegate_testkit::http::Expect as _;
use uuid::Uuid;

mod refusals;

const KEY_FILTER: &str = "/rest/v1/app_config?config_key=eq.marketplace_source";

/// A request to `path` with the publishable key, an optional bearer token, `Prefer` and body.
async fn send(
    ctx: &Ctx,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    prefer: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = ctx
        .http
        .request(method, ctx.url(path))
        .header("apikey", "sb_publishable_test");
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    if let Some(p) = prefer {
        r = r.header("prefer", p);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

/// A signed-in user who claims admin in `user_metadata` (which the user may edit), not in
/// `app_metadata`.
fn user_metadata_admin(sub: Uuid) -> String {
    let mut c = Claims::new(Role::Authenticated, Some(sub), false, 3600);
    c.extra
        .insert("user_metadata".into(), json!({"role": "admin"}));
    mint_token(SECRET.as_bytes(), &c).unwrap()
}

/// PostgREST's error body, exactly.
fn pgrst(code: &str, message: &str, details: Option<&str>) -> Value {
    json!({"code": code, "message": message, "details": details, "hint": null})
}

/// The newest history row: (op, version, changed_by, changed_role, new_value).
async fn last_history(ctx: &Ctx) -> (String, i64, Option<Uuid>, Option<String>, Option<Value>) {
    let mut c = superuser(ctx).await;
    sqlx::query_as(
        "SELECT op, version, changed_by, changed_role, new_value
           FROM public.app_config_history ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&mut c)
    .await
    .unwrap()
}

/// Every row of `app_config` as the superuser sees it, by key.
async fn table(ctx: &Ctx) -> Value {
    let mut c = superuser(ctx).await;
    let v: Option<Value> = sqlx::query_scalar(
        "SELECT json_agg(json_build_object('key', config_key, 'version', version, 'value', config_value)
                         ORDER BY config_key)::jsonb FROM public.app_config",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    v.unwrap_or(Value::Null)
}

fn header<'r>(r: &'r reqwest::Response, name: &str) -> Option<&'r str> {
    r.headers().get(name).and_then(|h| h.to_str().ok())
}

#[tokio::test]
async fn admin_patch_is_versioned_audited_and_pushed() {
    use eventsource_stream::Eventsource as _;
    let ctx = start().await;
    let resp = ctx
        .http
        .get(ctx.url("/v1/configs/marketplace_source/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut events = resp.bytes_stream().eventsource();
    let first = next_event(&mut events).await;
    assert_eq!(first.id, "1");

    let admin = Uuid::new_v4();
    let r = send(
        &ctx,
        Method::PATCH,
        &format!("{KEY_FILTER}&version=eq.1&select=config_key,version,config_value,updated_by"),
        Some(&admin_token(admin)),
        Some("return=representation"),
        Some(json!({"config_value": cdn_doc()})),
    )
    .await;
    assert_eq!(
        header(&r, "preference-applied"),
        Some("return=representation")
    );
    assert_eq!(header(&r, "content-range"), Some("0-0/*"));
    let rows = r.expect_status(200).await;
    let mut stored = cdn_doc();
    stored["version"] = json!(2);
    assert_eq!(
        rows,
        json!([{"config_key": "marketplace_source", "version": 2, "config_value": stored,
                "updated_by": admin.to_string()}])
    );
    let (op, version, by, role, new_value) = last_history(&ctx).await;
    assert_eq!(
        (op.as_str(), version, by, role.as_deref()),
        ("UPDATE", 2, Some(admin), Some("authenticated"))
    );
    assert_eq!(new_value, Some(stored.clone()));

    // The NOTIFY of the trigger reaches SSE subscribers and the in-memory read.
    let flip = next_event(&mut events).await;
    assert_eq!(flip.id, "2");
    let body: Value = serde_json::from_str(&flip.data).unwrap();
    assert_eq!(body["value"], stored);
    let cfg = ctx.get_config().await;
    assert_eq!(cfg["version"], 2);
    assert_eq!(cfg["value"]["type"], "cdn");

    // A stale `version=eq.1` filter (optimistic concurrency) updates nothing: 204, `*/0`.
    let r = send(
        &ctx,
        Method::PATCH,
        &format!("{KEY_FILTER}&version=eq.1"),
        Some(&admin_token(admin)),
        Some("count=exact"),
        Some(json!({"config_value": {"type": "git", "gitUrl": "https://example.com/"}})),
    )
    .await;
    assert_eq!(header(&r, "content-range"), Some("*/0"));
    assert_eq!(header(&r, "preference-applied"), Some("count=exact"));
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());

    // Default return=minimal: 204, no body; the service role is an admin too.
    let r = send(
        &ctx,
        Method::PATCH,
        KEY_FILTER,
        Some(&service_token()),
        None,
        Some(json!({"config_value": probe_doc("https://git.example.com/", None)})),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "preference-applied"), None);
    assert!(r.bytes().await.unwrap().is_empty());
    let third = next_event(&mut events).await;
    assert_eq!(third.id, "3");
    assert_eq!(ctx.get_config().await["value"]["type"], "git");
    assert_eq!(last_history(&ctx).await.3.as_deref(), Some("service_role"));
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn inserts_upserts_and_deletes() {
    let ctx = start().await;
    let admin_id = Uuid::new_v4();
    let admin = admin_token(admin_id);

    // Insert, return=minimal: 201, no body.
    let r = send(
        &ctx,
        Method::POST,
        "/rest/v1/app_config",
        Some(&admin),
        Some("return=minimal"),
        Some(json!({"config_key": "feature_flags", "config_value": {"a": 1}})),
    )
    .await;
    assert_eq!(header(&r, "preference-applied"), Some("return=minimal"));
    assert_eq!(header(&r, "content-range"), Some("*/*"));
    assert_eq!(r.status(), 201);
    assert!(r.bytes().await.unwrap().is_empty());
    let (op, version, by, _, new_value) = last_history(&ctx).await;
    assert_eq!((op.as_str(), version, by), ("INSERT", 1, Some(admin_id)));
    assert_eq!(new_value, Some(json!({"a": 1, "version": 1})));

    // A plain insert of an existing key: 409 23505.
    let r = send(
        &ctx,
        Method::POST,
        "/rest/v1/app_config",
        Some(&admin),
        None,
        Some(json!({"config_key": "feature_flags", "config_value": {"a": 9}})),
    )
    .await;
    assert_eq!(
        r.expect_status(409).await,
        pgrst(
            "23505",
            "duplicate key value violates unique constraint \"app_config_config_key_key\"",
            // PostgreSQL leaves the key out of DETAIL for a caller subject to RLS.
            None
        )
    );

    // Upsert merging on config_key, as supabase-js sends it (quoted `columns=`, an array).
    let r = send(
        &ctx,
        Method::POST,
        "/rest/v1/app_config?on_conflict=config_key&columns=%22config_key%22,%22config_value%22&select=config_key,version,config_value",
        Some(&admin),
        Some("resolution=merge-duplicates,return=representation"),
        Some(json!([
            {"config_key": "feature_flags", "config_value": {"a": 2}},
            {"config_key": "limits", "config_value": {"max": 5}}
        ])),
    )
    .await;
    assert_eq!(
        header(&r, "preference-applied"),
        Some("resolution=merge-duplicates, return=representation")
    );
    assert_eq!(
        r.expect_status(201).await,
        json!([
            {"config_key": "feature_flags", "version": 2, "config_value": {"a": 2, "version": 2}},
            {"config_key": "limits", "version": 1, "config_value": {"max": 5, "version": 1}}
        ])
    );
    assert_eq!(last_history(&ctx).await.0, "INSERT");
    let mut c = superuser(&ctx).await;
    let ops: Vec<String> = sqlx::query_scalar(
        "SELECT op || ':' || config_key || ':' || version FROM public.app_config_history
          WHERE config_key IN ('feature_flags', 'limits') ORDER BY id",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(
        ops,
        [
            "INSERT:feature_flags:1",
            "UPDATE:feature_flags:2",
            "INSERT:limits:1"
        ]
    );

    // Upsert ignoring duplicates: the existing row stays; the answer lists only new rows.
    let r = send(
        &ctx,
        Method::POST,
        "/rest/v1/app_config?on_conflict=config_key&select=config_key,version",
        Some(&admin),
        Some("resolution=ignore-duplicates, return=representation, count=exact"),
        Some(json!([
            {"config_key": "feature_flags", "config_value": {"a": 3}},
            {"config_key": "quotas", "config_value": {"q": 1}}
        ])),
    )
    .await;
    assert_eq!(header(&r, "content-range"), Some("*/1"));
    assert_eq!(
        r.expect_status(201).await,
        json!([{"config_key": "quotas", "version": 1}])
    );
    let flags = |t: &Value| {
        t.as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == "feature_flags")
            .cloned()
    };
    assert_eq!(
        flags(&table(&ctx).await),
        Some(json!({"key": "feature_flags", "version": 2, "value": {"a": 2, "version": 2}}))
    );

    // Upsert of marketplace_source reaches the in-memory read like an RPC write.
    let r = send(
        &ctx,
        Method::POST,
        "/rest/v1/app_config?on_conflict=config_key",
        Some(&admin),
        Some("resolution=merge-duplicates"),
        Some(json!({"config_key": "marketplace_source", "config_value": cdn_doc()})),
    )
    .await;
    assert_eq!(r.status(), 201);
    let cfg = ctx.get_config().await;
    assert_eq!(
        (cfg["version"].clone(), cfg["value"]["type"].clone()),
        (json!(2), json!("cdn"))
    );

    // headers-only: a Location for the one row inserted; the single-object form.
    let r = send(
        &ctx,
        Method::POST,
        "/rest/v1/app_config",
        Some(&admin),
        Some("return=headers-only"),
        Some(json!({"config_key": "extra", "config_value": []})),
    )
    .await;
    assert_eq!(r.status(), 201);
    let location = header(&r, "location").unwrap().to_owned();
    let id: Uuid =
        sqlx::query_scalar("SELECT id FROM public.app_config WHERE config_key = 'extra'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(location, format!("/app_config?id=eq.{id}"));
    let r = ctx
        .http
        .delete(ctx.url("/rest/v1/app_config?config_key=eq.extra&select=config_key,version"))
        .header("apikey", "k")
        .header("accept", "application/vnd.pgrst.object+json")
        .header("prefer", "return=representation")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(
        header(&r, "content-type")
            .unwrap()
            .starts_with("application/vnd.pgrst.object+json")
    );
    assert_eq!(
        r.expect_status(200).await,
        json!({"config_key": "extra", "version": 1})
    );
    let (op, version, by, _, new_value) = last_history(&ctx).await;
    assert_eq!(
        (op.as_str(), version, by, new_value),
        ("DELETE", 1, Some(admin_id), None)
    );

    // DELETE, return=minimal: 204.
    let r = send(
        &ctx,
        Method::DELETE,
        "/rest/v1/app_config?config_key=eq.quotas",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(header(&r, "content-range"), Some("0-0/*"));
    assert_eq!(r.status(), 204);
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT config_key FROM public.app_config ORDER BY 1")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert_eq!(keys, ["feature_flags", "limits", "marketplace_source"]);

    // A key renamed through PATCH: the in-memory reads forget the old key at once.
    let status = |path: &'static str| {
        let ctx = &ctx;
        async move { ctx.http.get(ctx.url(path)).send().await.unwrap().status() }
    };
    assert_eq!(status("/v1/configs/limits").await, 200);
    let r = send(
        &ctx,
        Method::PATCH,
        "/rest/v1/app_config?config_key=eq.limits",
        Some(&admin),
        None,
        Some(json!({"config_key": "limits_v2"})),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(status("/v1/configs/limits").await, 404);
    let moved: Value = ctx
        .http
        .get(ctx.url("/v1/configs/limits_v2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(moved["version"], 2);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn history_is_read_only_through_rest() {
    let ctx = start().await;
    let admin = admin_token(Uuid::new_v4());
    assert_eq!(
        send(
            &ctx,
            Method::PATCH,
            KEY_FILTER,
            Some(&admin),
            None,
            Some(json!({"config_value": cdn_doc()}))
        )
        .await
        .status(),
        204
    );
    let history = ctx.history_count().await;
    let denied = pgrst(
        "42501",
        "permission denied for table app_config_history",
        None,
    );
    let row = json!({"config_id": Uuid::new_v4(), "config_key": "marketplace_source", "version": 9, "op": "UPDATE"});
    for token in [admin.clone(), service_token()] {
        let r = send(
            &ctx,
            Method::POST,
            "/rest/v1/app_config_history",
            Some(&token),
            None,
            Some(row.clone()),
        )
        .await;
        assert_eq!(r.expect_status(403).await, denied);
        let r = send(
            &ctx,
            Method::PATCH,
            "/rest/v1/app_config_history?version=gte.1",
            Some(&token),
            None,
            Some(json!({"reason": "rewritten"})),
        )
        .await;
        assert_eq!(r.expect_status(403).await, denied);
        let r = send(
            &ctx,
            Method::DELETE,
            "/rest/v1/app_config_history?version=gte.1",
            Some(&token),
            None,
            None,
        )
        .await;
        assert_eq!(r.expect_status(403).await, denied);
        // An upsert naming the identity column is refused before any privilege check, as
        // PostgreSQL (and so PostgREST) refuses it.
        let r = send(
            &ctx,
            Method::POST,
            "/rest/v1/app_config_history",
            Some(&token),
            Some("resolution=merge-duplicates"),
            Some(json!({"id": 1, "reason": "rewritten"})),
        )
        .await;
        assert_eq!(
            r.expect_status(400).await,
            json!({"code": "428C9",
                   "message": "cannot insert a non-DEFAULT value into column \"id\"",
                   "details": "Column \"id\" is an identity column defined as GENERATED ALWAYS.",
                   "hint": "Use OVERRIDING SYSTEM VALUE to override."})
        );
    }
    let r = send(
        &ctx,
        Method::DELETE,
        "/rest/v1/app_config_history?version=gte.1",
        None,
        None,
        None,
    )
    .await;
    assert_eq!(r.expect_status(401).await, denied);
    assert_eq!(ctx.history_count().await, history);
    let mut c = superuser(&ctx).await;
    let reasons: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM public.app_config_history WHERE reason IS NOT NULL",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(reasons, 0);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn supabase_postgrest_crate_updates_and_upserts() {
    let ctx = start().await;
    let admin = Uuid::new_v4();
    let client = postgrest::Postgrest::new(ctx.url("/rest/v1")).insert_header("apikey", anon_key());
    let r = client
        .from("app_config")
        .auth(admin_token(admin))
        .eq("config_key", "marketplace_source")
        .update(json!({"config_value": cdn_doc()}).to_string())
        .execute()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let rows: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(rows[0]["version"], 2);
    assert_eq!(rows[0]["updated_by"], admin.to_string());
    let r = client
        .from("app_config")
        .auth(admin_token(admin))
        .on_conflict("config_key")
        .upsert(json!({"config_key": "feature_flags", "config_value": {"on": true}}).to_string())
        .execute()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let rows: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(rows[0]["config_value"], json!({"on": true, "version": 1}));
    // Without a token (the anon key): refused.
    let r = client
        .from("app_config")
        .eq("config_key", "marketplace_source")
        .delete()
        .execute()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(ctx.get_config().await["version"], 2);
    ctx.server.shutdown().await;
}

/// Polls `url` until it answers `want` (5 s at most); the last status seen.
async fn wait_for_status(http: &reqwest::Client, url: &str, want: u16) -> u16 {
    let mut last = 0;
    for _ in 0..50 {
        last = http.get(url).send().await.unwrap().status().as_u16();
        if last == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last
}

#[tokio::test]
async fn a_rename_reaches_other_replicas() {
    let ctx = start().await;
    let other = sourcegate_control_plane::spawn(settings(&ctx.db))
        .await
        .expect("second replica");
    let b = |path: &str| format!("{}{path}", other.base_url());
    let admin = admin_token(Uuid::new_v4());
    let r = send(
        &ctx,
        Method::POST,
        "/rest/v1/app_config",
        Some(&admin),
        None,
        Some(json!({"config_key": "feature_flags", "config_value": {"a": 1}})),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        wait_for_status(&ctx.http, &b("/v1/configs/feature_flags"), 200).await,
        200
    );
    let r = send(
        &ctx,
        Method::PATCH,
        "/rest/v1/app_config?config_key=eq.feature_flags",
        Some(&admin),
        None,
        Some(json!({"config_key": "flags"})),
    )
    .await;
    assert_eq!(r.status(), 204);
    // The other replica learns of both keys from the notifications alone.
    assert_eq!(
        wait_for_status(&ctx.http, &b("/v1/configs/flags"), 200).await,
        200
    );
    assert_eq!(
        wait_for_status(&ctx.http, &b("/v1/configs/feature_flags"), 404).await,
        404
    );
    other.shutdown().await;
    ctx.server.shutdown().await;
}
