//! Write-time rules through both write paths (`/v1` and PostgREST's `/rest/v1/rpc`): document
//! limits enforced by SQL alone, the private-host switch, the reason limit, strict
//! `p_expected_version`, no-op refusal (`no_change`, `force`), and the privileges of
//! `update_app_config` (SECURITY INVOKER, no grant on the history sequence).

mod common;

use common::*;
use serde_json::{Value, json};
use sourcegate_testkit::http::Expect as _;
use uuid::Uuid;

async fn version(ctx: &Ctx) -> i64 {
    ctx.get_config().await["version"].as_i64().unwrap()
}

async fn rpc_update(ctx: &Ctx, bearer: Option<&str>, args: Value) -> (u16, Value) {
    let r = ctx.rest_rpc("update_app_config", bearer, args).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn p_expected_version_must_be_a_json_integer() {
    let ctx = start().await;
    let admin = service_token();
    let (before, history) = (version(&ctx).await, ctx.history_count().await);
    for bad in [
        json!(1.0),
        json!(1e0),
        json!(before as f64),
        json!("1"),
        json!(format!("{before}")),
        json!(true),
        json!([1]),
    ] {
        let (status, body) = rpc_update(
            &ctx,
            Some(&admin),
            json!({"p_key": "marketplace_source", "p_value": cdn_doc(), "p_expected_version": bad}),
        )
        .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["code"], "22P02", "{bad}: {body}");
    }
    let (status, body) = rpc_update(
        &ctx,
        Some(&admin),
        json!({"p_key": "marketplace_source", "p_value": cdn_doc(), "p_expected_version": u64::MAX}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("22003")),
        "{body}"
    );
    assert_eq!(version(&ctx).await, before, "nothing written");
    assert_eq!(ctx.history_count().await, history);
    // A stale integer is a 409, an exact one writes.
    let (status, body) = rpc_update(
        &ctx,
        Some(&admin),
        json!({"p_key": "marketplace_source", "p_value": cdn_doc(), "p_expected_version": before + 7}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("PT409")),
        "{body}"
    );
    assert_eq!(body["details"], format!("current_version={before}"));
    let (status, body) = rpc_update(
        &ctx,
        Some(&admin),
        json!({"p_key": "marketplace_source", "p_value": cdn_doc(), "p_expected_version": before}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], before + 1);
}

/// The PostgREST path has only the SQL in front of it: what every resolver refuses is refused.
#[tokio::test]
async fn sql_alone_refuses_what_resolvers_refuse() {
    let ctx = start().await;
    let admin = service_token();
    let history = ctx.history_count().await;
    let cases = [
        (
            json!({"type": "git", "gitUrl": "https://g/", "healthCheck": {"intervalSecs": -1}}),
            "healthCheck.intervalSecs",
        ),
        (
            json!({"type": "git", "gitUrl": "https://g/", "healthCheck": {"intervalSecs": 1, "timeoutMs": 500}}),
            "healthCheck.intervalSecs",
        ),
        (
            json!({"type": "git", "gitUrl": "https://g/", "healthCheck": {"intervalSecs": 10, "timeoutMs": 50}}),
            "healthCheck.timeoutMs",
        ),
        (
            json!({"type": "git", "gitUrl": "https://g/", "healthCheck": {"intervalSecs": 10, "timeoutMs": 10000}}),
            "healthCheck.timeoutMs",
        ),
        (json!({"type": "git", "gitUrl": "https://x y/"}), "gitUrl"),
        (
            json!({"type": "git", "gitUrl": "https://user:pw@g/"}),
            "gitUrl",
        ),
        (
            json!({"type": "git", "gitUrl": "https://g\u{202e}/"}),
            "gitUrl",
        ),
        (
            json!({"type": "git", "gitUrl": "https://bücher.example/"}),
            "gitUrl",
        ),
        (
            json!({"type": "git", "gitUrl": "http://127.0.0.1:8080/"}),
            "gitUrl",
        ),
        (json!({"type": "cdn", "cdnUrl": "http://[::1]/"}), "cdnUrl"),
        (
            json!({"type": "cdn", "cdnUrl": "http://localhost/"}),
            "cdnUrl",
        ),
        (
            json!({"type": "git", "gitUrl": "https://g/", "pad": "x".repeat(70_000)}),
            "value",
        ),
        (
            json!({"type": "git", "gitUrl": "https://g/", "healthCheckEnabled": "yes"}),
            "healthCheckEnabled",
        ),
    ];
    for (doc, field) in cases {
        assert_eq!(
            sourcegate::config::validate_for_write(&doc, Default::default())
                .unwrap_err()
                .field(),
            Some(field),
            "Rust: {doc}"
        );
        let (status, body) = rpc_update(
            &ctx,
            Some(&admin),
            json!({"p_key": "marketplace_source", "p_value": doc}),
        )
        .await;
        assert_eq!(status, 422, "{doc}: {body}");
        assert_eq!(body["details"], format!("field={field}"), "{doc}: {body}");
        let r = ctx.put(Some(&admin), json!({"value": doc})).await;
        assert_eq!(r.status(), 422);
        let b: Value = r.json().await.unwrap();
        assert_eq!(
            (b["code"].as_str(), b["field"].as_str()),
            (Some("invalid_config"), Some(field)),
            "{b}"
        );
    }
    assert_eq!(ctx.history_count().await, history, "nothing written");
    // The URL message gives the ASCII form of a non-ASCII host (Rust side).
    let r = ctx
        .put(
            Some(&admin),
            json!({"value": {"type": "git", "gitUrl": "https://bücher.example/"}}),
        )
        .await;
    let b: Value = r.json().await.unwrap();
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("xn--bcher-kva.example"),
        "{b}"
    );
}

#[tokio::test]
async fn private_hosts_need_allow_private_origins_on_both_paths() {
    let doc = json!({"type": "git", "gitUrl": "http://127.0.0.1:9/git/"});
    let on = start_with(|s| s.allow_private_origins = true).await;
    let r = on.put(Some(&service_token()), json!({"value": doc})).await;
    assert_eq!(r.status(), 200);
    let mut other = doc.clone();
    other["gitUrl"] = json!("http://[::1]:9/git/");
    let (status, body) = rpc_update(
        &on,
        Some(&service_token()),
        json!({"p_key": "marketplace_source", "p_value": other}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A plain owner session (no GUC), e.g. psql on a Supabase project, refuses it.
    let mut c = superuser(&on).await;
    let err = sqlx::query(
        "UPDATE public.app_config SET config_value = $1 WHERE config_key = 'marketplace_source'",
    )
    .bind(json!({"type": "git", "gitUrl": "http://10.0.0.1/"}))
    .execute(&mut c)
    .await
    .unwrap_err();
    let pg = err
        .as_database_error()
        .unwrap()
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .unwrap();
    assert_eq!((pg.code(), pg.column()), ("PT422", Some("gitUrl")));
}

#[tokio::test]
async fn reason_is_limited_to_one_kibibyte() {
    let ctx = start().await;
    let admin = service_token();
    let long = "r".repeat(1025);
    let r = ctx
        .put(Some(&admin), json!({"value": cdn_doc(), "reason": long}))
        .await;
    assert_eq!(r.status(), 422);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["field"], "reason");
    let (status, body) = rpc_update(
        &ctx,
        Some(&admin),
        json!({"p_key": "marketplace_source", "p_value": cdn_doc(), "p_reason": long}),
    )
    .await;
    assert_eq!(
        (status, body["details"].as_str()),
        (422, Some("field=reason")),
        "{body}"
    );
    let r = ctx
        .put(
            Some(&admin),
            json!({"value": cdn_doc(), "reason": "r".repeat(1024)}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn an_unchanged_document_is_refused_unless_forced() {
    let ctx = start().await;
    let admin = admin_token(Uuid::new_v4());
    let r = ctx
        .put(
            Some(&admin),
            json!({"value": cdn_doc(), "reason": "to cdn"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v1 = version(&ctx).await;
    let history = ctx.history_count().await;
    // Same document, with or without the stamped `version` key: 409 no_change, nothing written.
    let mut stamped = cdn_doc();
    stamped["version"] = json!(v1);
    for value in [cdn_doc(), stamped] {
        let r = ctx
            .put(Some(&admin), json!({"value": value, "expectedVersion": v1}))
            .await;
        assert_eq!(r.status(), 409);
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["code"], "no_change", "{b}");
        assert!(b["message"].as_str().unwrap().contains("force"), "{b}");
    }
    // A stale version stays a version conflict (checked first).
    let r = ctx
        .put(
            Some(&admin),
            json!({"value": cdn_doc(), "expectedVersion": v1 - 1}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "version_conflict");
    let (status, body) = rpc_update(
        &ctx,
        Some(&admin),
        json!({"p_key": "marketplace_source", "p_value": cdn_doc()}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str(), body["details"].as_str()),
        (409, Some("PT409"), Some("no_change")),
        "{body}"
    );
    // Rollback to the current version: same refusal.
    let rb = |body: Value| {
        ctx.http
            .post(ctx.url("/v1/configs/marketplace_source/rollback"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let r = rb(json!({"toVersion": v1})).await.unwrap();
    r.expect(409, "no_change").await;
    assert_eq!(ctx.history_count().await, history, "nothing written");
    assert_eq!(version(&ctx).await, v1);
    // Forced: recorded as new versions.
    let r = ctx
        .put(
            Some(&admin),
            json!({"value": cdn_doc(), "force": true, "reason": "re-publish"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = rb(json!({"toVersion": v1, "force": true})).await.unwrap();
    assert_eq!(r.status(), 200);
    let (status, body) = rpc_update(
        &ctx,
        Some(&admin),
        json!({"p_key": "marketplace_source", "p_value": cdn_doc(), "p_force": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(version(&ctx).await, v1 + 3);
    assert_eq!(ctx.history_count().await, history + 3);
}

#[tokio::test]
async fn update_app_config_is_security_invoker_and_still_refuses_non_admins() {
    let ctx = start().await;
    let mut c = superuser(&ctx).await;
    let definer: bool = sqlx::query_scalar(
        "SELECT prosecdef FROM pg_proc WHERE oid = 'public.update_app_config(text, jsonb, text, bigint, boolean)'::regprocedure",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert!(!definer);
    // Supabase lints 0028/0029: no SECURITY DEFINER function in `public` executable by anon/authenticated.
    let flagged: Vec<String> = sqlx::query_scalar(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'public' AND p.prosecdef
            AND (has_function_privilege('anon', p.oid, 'EXECUTE') OR has_function_privilege('authenticated', p.oid, 'EXECUTE'))",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(flagged, Vec::<String>::new());
    let seq_grants: Vec<(String, bool)> = sqlx::query_as(
        "SELECT r, has_sequence_privilege(r, pg_get_serial_sequence('public.app_config_history', 'id'), 'USAGE,UPDATE')
           FROM unnest(ARRAY['anon', 'authenticated']) r",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert!(seq_grants.iter().all(|(_, g)| !g), "{seq_grants:?}");
    // Same answers as before: 42501 → 403 with a JWT, 401 without; service_role and admins write.
    let (status, body) = rpc_update(
        &ctx,
        Some(&user_token(Uuid::new_v4())),
        json!({"p_key": "marketplace_source", "p_value": cdn_doc()}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("42501")),
        "{body}"
    );
    let (status, _) = rpc_update(
        &ctx,
        None,
        json!({"p_key": "marketplace_source", "p_value": cdn_doc()}),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = rpc_update(
        &ctx,
        Some(&service_token()),
        json!({"p_key": "marketplace_source", "p_value": cdn_doc(), "p_reason": "svc"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut doc = cdn_doc();
    doc["cdnUrl"] = json!("https://cdn2.example.com/");
    let (status, body) = rpc_update(
        &ctx,
        Some(&admin_token(Uuid::new_v4())),
        json!({"p_key": "marketplace_source", "p_value": doc}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A new key through the invoker's INSERT (RLS insert policy) works for an admin too.
    let (status, body) = rpc_update(
        &ctx,
        Some(&admin_token(Uuid::new_v4())),
        json!({"p_key": "other_key", "p_value": {"a": 1}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let reason: Option<String> =
        sqlx::query_scalar("SELECT reason FROM public.app_config_history WHERE reason = 'svc'")
            .fetch_optional(&mut c)
            .await
            .unwrap()
            .flatten();
    assert_eq!(
        reason.as_deref(),
        Some("svc"),
        "the SECURITY DEFINER audit trigger still records the reason"
    );
}
