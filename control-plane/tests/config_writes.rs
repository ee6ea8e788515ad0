//! Writes over the real service: who may write, the audit history, optimistic concurrency,
//! rollback, the append-only history, the database's own refusals, invalid documents.

mod common;

use common::*;
use serde_json::{Value, json};
use sourcegate_control_plane::auth::{Claims, Role, mint_token};
use sourcegate_testkit::http::Expect as _;
use uuid::Uuid;

#[tokio::test]
async fn anonymous_and_non_admin_writes_are_refused() {
    let ctx = start().await;
    let user = Uuid::new_v4();
    let args = json!({"p_key":"marketplace_source","p_value":cdn_doc()});
    // REST, no JWT: 401 with SQLSTATE 42501 (anon has no EXECUTE).
    let r = ctx.rest_rpc("update_app_config", None, args.clone()).await;
    r.expect(401, "42501").await;
    // REST, signed-in non-admin: 403 42501 raised by the function.
    let r = ctx
        .rest_rpc("update_app_config", Some(&user_token(user)), args.clone())
        .await;
    let e = r.expect(403, "42501").await;
    assert_eq!(e["message"], "admin privileges required");
    // user_metadata is user-editable and must not grant anything.
    let mut c = Claims::new(Role::Authenticated, Some(user), false, 600);
    c.extra.insert(
        "user_metadata".into(),
        json!({"role":"admin","is_admin":true}),
    );
    let sneaky = mint_token(SECRET.as_bytes(), &c).unwrap();
    let r = ctx.rest_rpc("update_app_config", Some(&sneaky), args).await;
    assert_eq!(r.status(), 403);
    // Native API.
    let body = json!({"value": cdn_doc()});
    let r = ctx.put(None, body.clone()).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "unauthorized");
    let r = ctx.put(Some(&user_token(user)), body.clone()).await;
    r.expect(403, "forbidden").await;
    let r = ctx.put(Some(&sneaky), body).await;
    assert_eq!(r.status(), 403);
    let r = ctx
        .http
        .get(ctx.url("/v1/configs/marketplace_source/history"))
        .bearer_auth(user_token(user))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Nothing changed.
    assert_eq!(ctx.get_config().await["version"], 1);
    assert_eq!(ctx.history_count().await, 1);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn admin_write_is_recorded_in_history() {
    let ctx = start().await;
    let admin = Uuid::new_v4();
    let r = ctx
        .put(
            Some(&admin_token(admin)),
            json!({"value": cdn_doc(), "reason": "git rate-limited", "expectedVersion": 1}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["key"], "marketplace_source");
    assert_eq!(v["version"], 2);
    assert_eq!(v["value"]["type"], "cdn");
    assert_eq!(
        v["value"]["version"], 2,
        "version stamped into the document"
    );
    assert_eq!(v["updatedBy"], admin.to_string());
    let h: Value = ctx
        .http
        .get(ctx.url("/v1/configs/marketplace_source/history?limit=10"))
        .bearer_auth(admin_token(admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = h["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["version"], 2);
    assert_eq!(items[0]["op"], "UPDATE");
    assert_eq!(items[0]["changedBy"], admin.to_string());
    assert_eq!(items[0]["changedRole"], "authenticated");
    assert_eq!(items[0]["reason"], "git rate-limited");
    assert_eq!(items[0]["oldValue"]["type"], "git");
    assert_eq!(items[0]["newValue"]["type"], "cdn");
    assert_eq!(items[1]["op"], "INSERT");

    // An admin listed in app_private.admins (no app_metadata), and immediate revocation.
    let listed = Uuid::new_v4();
    let mut su = superuser(&ctx).await;
    sqlx::query("INSERT INTO app_private.admins (user_id) VALUES ($1)")
        .bind(listed)
        .execute(&mut su)
        .await
        .unwrap();
    let r = ctx
        .put(
            Some(&user_token(listed)),
            json!({"value": {"type":"git","gitUrl":"https://g.example/"}, "reason":"listed"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    sqlx::query("DELETE FROM app_private.admins WHERE user_id = $1")
        .bind(listed)
        .execute(&mut su)
        .await
        .unwrap();
    let r = ctx
        .put(Some(&user_token(listed)), json!({"value": cdn_doc()}))
        .await;
    assert_eq!(
        r.status(),
        403,
        "revocation applies to the very next request"
    );

    // service_role is an admin too.
    let r = ctx
        .put(Some(&service_token()), json!({"value": cdn_doc()}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["version"], 4);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn stale_write_is_a_conflict_and_changes_nothing() {
    let ctx = start().await;
    let admin = admin_token(Uuid::new_v4());
    assert_eq!(
        ctx.put(
            Some(&admin),
            json!({"value": cdn_doc(), "expectedVersion": 1})
        )
        .await
        .status(),
        200
    );
    let stale =
        json!({"value": {"type":"git","gitUrl":"https://g.example/"}, "expectedVersion": 1});
    let r = ctx.put(Some(&admin), stale).await;
    r.expect(409, "version_conflict").await;
    let r = ctx
        .http
        .put(ctx.url("/v1/configs/marketplace_source"))
        .bearer_auth(&admin)
        .header("if-match", "\"1\"")
        .json(&json!({"value": {"type":"git","gitUrl":"https://g.example/"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    // PostgREST path: PT409 → HTTP 409.
    let r = ctx
        .rest_rpc(
            "update_app_config",
            Some(&admin),
            json!({"p_key":"marketplace_source","p_value":cdn_doc(),"p_expected_version":1}),
        )
        .await;
    r.expect(409, "PT409").await;
    let cur = ctx.get_config().await;
    assert_eq!(cur["version"], 2);
    assert_eq!(cur["value"]["type"], "cdn");
    assert_eq!(ctx.history_count().await, 2);
    // If-Match with the current version succeeds.
    let r = ctx
        .http
        .put(ctx.url("/v1/configs/marketplace_source"))
        .bearer_auth(&admin)
        .header("if-match", "\"2\"")
        .json(&json!({"value": {"type":"git","gitUrl":"https://g.example/"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn rollback_makes_a_new_version_with_the_old_value() {
    let ctx = start().await;
    let admin = admin_token(Uuid::new_v4());
    assert_eq!(
        ctx.put(Some(&admin), json!({"value": cdn_doc()}))
            .await
            .status(),
        200
    );
    let r = ctx
        .http
        .post(ctx.url("/v1/configs/marketplace_source/rollback"))
        .bearer_auth(&admin)
        .json(&json!({"toVersion": 1, "expectedVersion": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["version"], 3);
    assert_eq!(v["value"]["type"], "git");
    assert_eq!(
        v["value"]["gitUrl"],
        "https://raw.githubusercontent.com/obsidianmd/obsidian-releases/HEAD/"
    );
    assert_eq!(v["value"]["version"], 3);
    let h: Value = ctx
        .http
        .get(ctx.url("/v1/configs/marketplace_source/history"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["items"][0]["version"], 3);
    assert_eq!(h["items"][0]["reason"], "rollback to version 1");
    // Unknown version → 404; non-admin → 403.
    let r = ctx
        .http
        .post(ctx.url("/v1/configs/marketplace_source/rollback"))
        .bearer_auth(&admin)
        .json(&json!({"toVersion": 99}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = ctx
        .http
        .post(ctx.url("/v1/configs/marketplace_source/rollback"))
        .bearer_auth(user_token(Uuid::new_v4()))
        .json(&json!({"toVersion": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn history_is_append_only_even_for_service_role_and_superuser() {
    let ctx = start().await;
    assert_eq!(
        ctx.put(Some(&service_token()), json!({"value": cdn_doc()}))
            .await
            .status(),
        200
    );
    let before = ctx.history_count().await;
    let mut su = superuser(&ctx).await;
    for sql in [
        "UPDATE public.app_config_history SET reason = 'forged'",
        "DELETE FROM public.app_config_history",
        "TRUNCATE public.app_config_history",
    ] {
        let err = sqlx::query(sql).execute(&mut su).await.unwrap_err();
        let code = err
            .as_database_error()
            .unwrap()
            .code()
            .unwrap()
            .into_owned();
        assert_eq!(code, "PT403", "superuser: {sql}");
    }
    let mut auth = authenticator(&ctx).await;
    for sql in [
        "UPDATE public.app_config_history SET reason = 'forged'",
        "DELETE FROM public.app_config_history",
        "TRUNCATE public.app_config_history",
        "INSERT INTO public.app_config_history (config_id, config_key, version, op) VALUES (gen_random_uuid(), 'x', 1, 'INSERT')",
    ] {
        for role in ["service_role", "authenticated"] {
            use sqlx::Connection;
            let mut tx = auth.begin().await.unwrap();
            sqlx::query(&format!("SET LOCAL ROLE {role}"))
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query("SELECT set_config('request.jwt.claims', '{\"role\":\"service_role\",\"app_metadata\":{\"role\":\"admin\"}}', true)")
                .execute(&mut *tx).await.unwrap();
            let err = sqlx::query(sql).execute(&mut *tx).await.unwrap_err();
            let code = err
                .as_database_error()
                .unwrap()
                .code()
                .unwrap()
                .into_owned();
            assert!(code == "42501" || code == "PT403", "{role}: {sql}: {code}");
            tx.rollback().await.unwrap();
        }
    }
    assert_eq!(ctx.history_count().await, before);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn the_database_itself_refuses_anon_writes() {
    let ctx = start().await;
    let mut c = authenticator(&ctx).await;
    // The request pool's login role is neither superuser nor BYPASSRLS, and inherits nothing.
    let (sup, bypass, inherit): (bool, bool, bool) = sqlx::query_as(
        "SELECT rolsuper, rolbypassrls, rolinherit FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert!(!sup && !bypass && !inherit);
    use sqlx::Connection;
    let mut tx = c.begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE anon")
        .execute(&mut *tx)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM public.app_config")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n, 1, "anon reads");
    for sql in [
        "UPDATE public.app_config SET config_value = '{\"type\":\"git\",\"gitUrl\":\"https://evil/\"}'",
        "INSERT INTO public.app_config (config_key, config_value) VALUES ('x', '{}')",
        "DELETE FROM public.app_config",
        "SELECT public.update_app_config('marketplace_source', '{\"type\":\"git\",\"gitUrl\":\"https://evil/\"}')",
        "SELECT * FROM public._sqlx_migrations",
    ] {
        sqlx::query("SAVEPOINT s").execute(&mut *tx).await.unwrap();
        let err = sqlx::query(sql).execute(&mut *tx).await.unwrap_err();
        assert_eq!(
            err.as_database_error().unwrap().code().unwrap(),
            "42501",
            "{sql}"
        );
        sqlx::query("ROLLBACK TO SAVEPOINT s")
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.rollback().await.unwrap();
    // A signed-in non-admin: RLS filters the UPDATE to zero rows.
    let mut tx = c.begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE authenticated")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("SELECT set_config('request.jwt.claims', $1, true)")
        .bind(json!({"role":"authenticated","sub":Uuid::new_v4()}).to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let done = sqlx::query("UPDATE public.app_config SET config_value = '{\"type\":\"git\",\"gitUrl\":\"https://evil/\"}'")
        .execute(&mut *tx).await.unwrap();
    assert_eq!(done.rows_affected(), 0);
    tx.rollback().await.unwrap();
    assert_eq!(ctx.get_config().await["version"], 1);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn invalid_document_is_422_and_changes_nothing() {
    let ctx = start().await;
    let admin = admin_token(Uuid::new_v4());
    for (doc, field) in [
        (json!({"type":"cdn"}), "cdnUrl"),
        (json!({"type":"warp"}), "type"),
        (json!({"type":"git","gitUrl":"ftp://x/"}), "gitUrl"),
        (
            json!({"type":"canary","gitUrl":"https://g/","cdnUrl":"https://c/","canaryPercent":150}),
            "canaryPercent",
        ),
    ] {
        let r = ctx.put(Some(&admin), json!({"value": doc})).await;
        assert_eq!(r.status(), 422, "{doc}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["code"], "invalid_config");
        assert_eq!(e["field"], field, "{doc}");
    }
    // The SQL check alone (PostgREST path, no Rust validation): PT422 → 422.
    let r = ctx.rest_rpc("update_app_config", Some(&admin), json!({"p_key":"marketplace_source","p_value":{"type":"cdn","cdnUrl":"javascript:alert(1)"}})).await;
    let e = r.expect(422, "PT422").await;
    assert_eq!(e["details"], "field=cdnUrl");
    // SQL rules aligned with the resolver's parser.
    for (doc, field) in [
        (
            json!({"type":"canary","gitUrl":"https://g/","cdnUrl":"https://c/"}),
            "canaryPercent",
        ),
        (
            json!({"type":"hybrid","priority":["ipfs"],"gitUrl":"https://g/","cdnUrl":"https://c/"}),
            "priority",
        ),
        (
            json!({"type":"git","gitUrl":"https://g/","healthCheck":{"path":"https://evil/"}}),
            "healthCheck.path",
        ),
    ] {
        rpc_refuses(&ctx, &admin, &doc, field).await;
    }
    assert_eq!(ctx.get_config().await["version"], 1);
    assert_eq!(ctx.history_count().await, 1);
    ctx.server.shutdown().await;
}

/// Found by schemathesis: a document holding `f64::MAX` was written, then its row could not be
/// read back (jsonb prints it as 309 digits, which serde_json's default float parser overflows
/// on) and the write answered 500. Every number a write accepts must read back unchanged.
#[tokio::test]
async fn extreme_numbers_read_back_as_written() {
    let ctx = start().await;
    let admin = admin_token(Uuid::new_v4());
    let value = json!({"max": f64::MAX, "min": f64::MIN_POSITIVE, "neg": -2.9265146978260975e208});
    let r = ctx
        .http
        .put(ctx.url("/v1/configs/extreme_numbers"))
        .bearer_auth(&admin)
        .json(&json!({"value": value}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = ctx
        .http
        .get(ctx.url("/v1/configs/extreme_numbers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got: Value = r.json().await.unwrap();
    assert_eq!(got["value"]["max"].as_f64(), Some(f64::MAX));
    assert_eq!(got["value"]["min"].as_f64(), Some(f64::MIN_POSITIVE));
    assert_eq!(got["value"]["neg"].as_f64(), Some(-2.9265146978260975e208));
}

/// The document's `integrity` object (issue 12) is stored and served as written: a PUT with it
/// round-trips through GET, a later mode change through the API keeps it, and an invalid entry
/// is refused naming its field, by the API and by the SQL alone (PostgREST).
#[tokio::test]
async fn integrity_round_trips_through_put_and_get() {
    let ctx = start().await;
    let admin = admin_token(Uuid::new_v4());
    let entry = sourcegate::config::IntegrityEntry::of(sourcegate_testkit::REGISTRY);
    let integrity = json!({
        "community-plugins.json": {"sha256": entry.sri(), "size": entry.size},
        "community-css-themes.json": {"sha256": "sha256-T1PNoYwrqgwDVLtfmj7L5e0Sq02OEbqHPC8RFhICuUU=", "size": 2},
    });
    let mut doc = cdn_doc();
    doc["integrity"] = integrity.clone();
    let r = ctx
        .put(
            Some(&admin),
            json!({"value": doc, "reason": "publish the registry's digest"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let put: Value = r.json().await.unwrap();
    assert_eq!(put["value"]["integrity"], integrity);
    let got = ctx.get_config().await;
    assert_eq!(got["version"], 2);
    assert_eq!(got["value"]["integrity"], integrity);
    // What an app reads is what the resolver enforces.
    let parsed = sourcegate::config::MarketplaceConfig::from_value(&got["value"]).unwrap();
    assert_eq!(parsed.integrity.get("community-plugins.json"), Some(&entry));
    assert_eq!(parsed.integrity.len(), 2);
    // A change of mode keeps it (the console and the CLI send the whole document).
    let mut next = got["value"].clone();
    next["type"] = json!("git");
    next["gitUrl"] = json!("https://raw.githubusercontent.com/o/r/HEAD/");
    let r = ctx
        .put(Some(&admin), json!({"value": next, "expectedVersion": 2}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(ctx.get_config().await["value"]["integrity"], integrity);
    // Refused, naming the field, before anything is stored.
    for (bad, field) in [
        (json!({"a.json": {"sha256": entry.sri()}}), "integrity.size"),
        (
            json!({"a.json": {"sha256": "sha256-abc", "size": 1}}),
            "integrity.sha256",
        ),
        (
            json!({"//evil/a.json": {"sha256": entry.sri(), "size": 1}}),
            "integrity",
        ),
    ] {
        let mut d = cdn_doc();
        d["integrity"] = bad.clone();
        let r = ctx.put(Some(&admin), json!({"value": d})).await;
        assert_eq!(r.status(), 422, "{bad}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(
            (e["code"].as_str(), e["field"].as_str()),
            (Some("invalid_config"), Some(field))
        );
        rpc_refuses(&ctx, &admin, &d, field).await;
    }
    assert_eq!(ctx.get_config().await["version"], 3);
    ctx.server.shutdown().await;
}

/// `update_app_config(p_value => doc)` as `admin` is refused: 422, `details` naming `field`.
async fn rpc_refuses(ctx: &Ctx, admin: &str, doc: &Value, field: &str) {
    let r = ctx
        .rest_rpc(
            "update_app_config",
            Some(admin),
            json!({"p_key": "marketplace_source", "p_value": doc}),
        )
        .await;
    assert_eq!(r.status(), 422, "{doc}");
    assert_eq!(
        r.json::<Value>().await.unwrap()["details"],
        format!("field={field}"),
        "{doc}"
    );
}
