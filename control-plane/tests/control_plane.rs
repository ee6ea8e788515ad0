//! Integration tests: real embedded PostgreSQL, real service on 127.0.0.1:0, reqwest client.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use sourcegate_control_plane::auth::{Claims, Role, mint_token};
use uuid::Uuid;

#[tokio::test]
async fn anonymous_read_via_rest_and_rpc() {
    let ctx = start().await;
    let url = ctx.url("/rest/v1/app_config?config_key=eq.marketplace_source&select=config_key,config_value,version");
    let r = ctx
        .http
        .get(&url)
        .header("apikey", "sb_publishable_x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rows: Value = r.json().await.unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["config_value"]["type"], "git");
    assert_eq!(rows[0]["version"], 1);
    assert!(rows[0].get("id").is_none(), "select= limits the columns");

    // Single object (what postgrest-js/.single() asks for).
    let r = ctx
        .http
        .get(&url)
        .header("apikey", anon_key())
        .header("accept", "application/vnd.pgrst.object+json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let obj: Value = r.json().await.unwrap();
    assert_eq!(obj["config_key"], "marketplace_source");

    // 0 rows with a single-object request → 406 PGRST116.
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/app_config?config_key=eq.nope"))
        .header("apikey", "k")
        .header("accept", "application/vnd.pgrst.object+json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], "PGRST116");
    assert_eq!(e["details"], "The result contains 0 rows");

    // RPC returns the raw document.
    let r = ctx
        .rest_rpc("get_marketplace_config", None, json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["type"], "git");
    assert_eq!(doc["version"], 1);

    // Gateway key check, unknown table/function, unsupported operator.
    let r = ctx.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["message"], "No API key found in request");
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/users"))
        .header("apikey", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "PGRST205");
    let r = ctx.rest_rpc("drop_everything", None, json!({})).await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "PGRST202");
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/app_config?config_key=fts.x"))
        .header("apikey", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "PGRST100");
    // anon may not read the history (table privilege) → 401 like PostgREST without a JWT.
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/app_config_history"))
        .header("apikey", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "42501");
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn anonymous_and_non_admin_writes_are_refused() {
    let ctx = start().await;
    let user = Uuid::new_v4();
    let args = json!({"p_key":"marketplace_source","p_value":cdn_doc()});
    // REST, no JWT: 401 with SQLSTATE 42501 (anon has no EXECUTE).
    let r = ctx.rest_rpc("update_app_config", None, args.clone()).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "42501");
    // REST, signed-in non-admin: 403 42501 raised by the function.
    let r = ctx
        .rest_rpc("update_app_config", Some(&user_token(user)), args.clone())
        .await;
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], "42501");
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
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "forbidden");
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
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "version_conflict");
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
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "PT409");
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
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], "PT422");
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
        let r = ctx
            .rest_rpc(
                "update_app_config",
                Some(&admin),
                json!({"p_key":"marketplace_source","p_value":doc}),
            )
            .await;
        assert_eq!(r.status(), 422, "{doc}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["details"],
            format!("field={field}")
        );
    }
    assert_eq!(ctx.get_config().await["version"], 1);
    assert_eq!(ctx.history_count().await, 1);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn etag_and_304() {
    let ctx = start().await;
    let url = ctx.url("/v1/configs/marketplace_source");
    let r = ctx.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"1\"");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let r = ctx
        .http
        .get(&url)
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"], "\"1\"");
    assert!(r.bytes().await.unwrap().is_empty());
    assert_eq!(
        ctx.put(Some(&service_token()), json!({"value": cdn_doc()}))
            .await
            .status(),
        200
    );
    let r = ctx
        .http
        .get(&url)
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let r = ctx
        .http
        .get(ctx.url("/v1/configs/unknown"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_found");
    ctx.server.shutdown().await;
}

async fn next_event(
    stream: &mut (
             impl futures_util::Stream<Item = Result<eventsource_stream::Event, impl std::fmt::Debug>>
             + Unpin
         ),
) -> eventsource_stream::Event {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("event within 5 s")
        .expect("stream open")
        .expect("valid event")
}

#[tokio::test]
async fn sse_delivers_a_flip_within_a_second_and_resumes() {
    use eventsource_stream::Eventsource;
    let ctx = start().await;
    let url = ctx.url("/v1/configs/marketplace_source/events");
    let resp = ctx.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut events = resp.bytes_stream().eventsource();
    let first = next_event(&mut events).await;
    assert_eq!(first.event, "config");
    assert_eq!(first.id, "1");
    let body: Value = serde_json::from_str(&first.data).unwrap();
    assert_eq!(body["value"]["type"], "git");

    let r = ctx
        .put(Some(&service_token()), json!({"value": cdn_doc()}))
        .await;
    assert_eq!(r.status(), 200);
    let committed = Instant::now();
    let flip = next_event(&mut events).await;
    let latency = committed.elapsed();
    assert_eq!(flip.id, "2");
    let body: Value = serde_json::from_str(&flip.data).unwrap();
    assert_eq!(body["version"], 2);
    assert_eq!(body["value"]["type"], "cdn");
    assert!(latency < Duration::from_secs(1), "flip took {latency:?}");

    // Resume: Last-Event-ID 1 gets version 2 at once; Last-Event-ID 2 gets nothing until a change.
    let resp = ctx
        .http
        .get(&url)
        .header("last-event-id", "1")
        .send()
        .await
        .unwrap();
    let mut resumed = resp.bytes_stream().eventsource();
    assert_eq!(next_event(&mut resumed).await.id, "2");
    let resp = ctx
        .http
        .get(&url)
        .header("last-event-id", "2")
        .send()
        .await
        .unwrap();
    let mut up_to_date = resp.bytes_stream().eventsource();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), up_to_date.next())
            .await
            .is_err()
    );
    assert_eq!(
        ctx.put(
            Some(&service_token()),
            json!({"value": {"type":"git","gitUrl":"https://g.example/"}})
        )
        .await
        .status(),
        200
    );
    assert_eq!(next_event(&mut up_to_date).await.id, "3");
    assert_eq!(next_event(&mut events).await.id, "3");
    drop(events);
    drop(resumed);
    drop(up_to_date);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let ctx = start_with(|s| {
        s.rate_limit_per_sec = 1;
        s.rate_limit_burst = 2;
    })
    .await;
    let url = ctx.url("/v1/configs/marketplace_source");
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let r = ctx.http.get(&url).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            retry_after = r
                .headers()
                .get("retry-after")
                .map(|h| h.to_str().unwrap().to_owned());
            assert_eq!(r.json::<Value>().await.unwrap()["code"], "rate_limited");
        }
    }
    assert_eq!(&statuses[..2], &[200, 200]);
    assert!(statuses[2..].contains(&429), "{statuses:?}");
    let secs: u64 = retry_after.unwrap().parse().unwrap();
    assert!((1..=2).contains(&secs));
    // Liveness is not rate limited.
    assert_eq!(
        ctx.http
            .get(ctx.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn origin_test_refuses_private_targets() {
    let ctx = start().await;
    // Admin-only: without a token, or with a non-admin one, nothing is fetched.
    for token in [None, Some(user_token(Uuid::new_v4()))] {
        let mut req = ctx
            .http
            .post(ctx.url("/v1/origins/test"))
            .json(&json!({"url": "https://example.com/registry.json"}));
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let want = if token.is_some() { 403 } else { 401 };
        assert_eq!(r.status(), want);
    }
    for target in [
        "http://127.0.0.1:1/registry.json",
        "http://localhost/registry.json",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
    ] {
        let r = ctx
            .http
            .post(ctx.url("/v1/origins/test"))
            .bearer_auth(service_token())
            .json(&json!({"url": target}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{target}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["code"],
            "forbidden_target",
            "{target}"
        );
    }
    let r = ctx
        .http
        .post(ctx.url("/v1/origins/test"))
        .bearer_auth(service_token())
        .json(&json!({"url": "file:///etc/passwd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "bad_request");
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn origin_test_probes_a_registry_when_private_targets_are_allowed() {
    let origin = axum::Router::new()
        .route(
            "/registry.json",
            axum::routing::get(|| async {
                r#"[{"id":"a","repo":"o/a","name":"A"},{"id":"b","repo":"o/b"}]"#
            }),
        )
        .route("/broken", axum::routing::get(|| async { "{\"id\":1}" }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, origin).await.unwrap() });
    let ctx = start_with(|s| s.allow_private_origins = true).await;
    let r: Value = ctx
        .http
        .post(ctx.url("/v1/origins/test"))
        .bearer_auth(service_token())
        .json(&json!({"url": format!("http://{addr}/registry.json")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["status"], 200);
    assert_eq!(r["validRegistry"], true);
    assert_eq!(r["entries"], 2);
    assert!(r["bytes"].as_u64().unwrap() > 10);
    assert!(r["latencyMs"].as_f64().unwrap() >= 0.0);
    assert_eq!(r["error"], Value::Null);
    let r: Value = ctx
        .http
        .post(ctx.url("/v1/origins/test"))
        .bearer_auth(service_token())
        .json(&json!({"url": format!("http://{addr}/broken")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["validRegistry"], false);
    assert!(r["error"].is_string());
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn bad_jwts_are_refused_with_postgrest_codes() {
    let ctx = start().await;
    let good = service_token();
    let payload = good.split('.').nth(1).unwrap();
    // {"alg":"none","typ":"JWT"}
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let mut expired = Claims::new(Role::ServiceRole, None, false, 0);
    expired.exp -= 120;
    let expired = mint_token(SECRET.as_bytes(), &expired).unwrap();
    let wrong = mint_token(
        b"another-secret-another-secret-another!!",
        &Claims::new(Role::ServiceRole, None, false, 600),
    )
    .unwrap();
    for (tok, code) in [
        (&alg_none, "PGRST301"),
        (&expired, "PGRST303"),
        (&wrong, "PGRST301"),
        (&"not-a-jwt".to_owned(), "PGRST301"),
    ] {
        let r = ctx
            .http
            .get(ctx.url("/rest/v1/app_config"))
            .header("apikey", "k")
            .bearer_auth(tok)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{code}");
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        assert_eq!(r.json::<Value>().await.unwrap()["code"], code);
        let r = ctx
            .rest_rpc(
                "update_app_config",
                Some(tok),
                json!({"p_key":"marketplace_source","p_value":cdn_doc()}),
            )
            .await;
        assert_eq!(r.status(), 401);
        let r = ctx.put(Some(tok), json!({"value": cdn_doc()})).await;
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "unauthorized");
    }
    // A bad JWT in `apikey` (no Authorization) is refused too.
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/app_config"))
        .header("apikey", &wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(ctx.get_config().await["version"], 1);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn supabase_postgrest_crate_reads_and_calls_rpcs() {
    let ctx = start().await;
    let client = postgrest::Postgrest::new(ctx.url("/rest/v1")).insert_header("apikey", anon_key());
    let r = client
        .from("app_config")
        .select("*")
        .eq("config_key", "marketplace_source")
        .single()
        .execute()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let row: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(row["config_key"], "marketplace_source");
    assert_eq!(row["config_value"]["type"], "git");
    let r = client
        .rpc("get_marketplace_config", "{}")
        .execute()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let doc: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(doc["type"], "git");
    let args = json!({"p_key":"marketplace_source","p_value":cdn_doc(),"p_reason":"via postgrest-rs","p_expected_version":1}).to_string();
    let r = client
        .rpc("update_app_config", args.clone())
        .execute()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "anon cannot update");
    let admin = Uuid::new_v4();
    let r = client
        .rpc("update_app_config", args)
        .auth(admin_token(admin))
        .execute()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let row: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(row["version"], 2);
    assert_eq!(row["updated_by"], admin.to_string());
    assert_eq!(row["config_value"]["type"], "cdn");
    let r = client
        .from("app_config")
        .select("config_key,version")
        .execute()
        .await
        .unwrap();
    let rows: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(
        rows,
        json!([{"config_key":"marketplace_source","version":2}])
    );
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn health_ready_and_openapi() {
    let ctx = start().await;
    assert_eq!(
        ctx.http
            .get(ctx.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        ctx.http
            .get(ctx.url("/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let doc: Value = ctx
        .http
        .get(ctx.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/v1/configs/{key}"]["get"].is_object());
    assert!(doc["paths"]["/v1/origins/test"]["post"].is_object());
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn fast_read_path_runs_as_the_request_role_and_quotes_safely() {
    let ctx = start().await;
    // Hostile keys are plain data.
    for key in [
        "a'b",
        "x$$y",
        "$q$;DROP TABLE public.app_config;--",
        "k\\'--",
    ] {
        let url = format!(
            "{}/v1/configs/{}",
            ctx.base,
            url::form_urlencoded::byte_serialize(key.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        );
        let r = ctx.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 404, "{key}");
    }
    assert_eq!(ctx.get_config().await["version"], 1);
    // Restrict reading to signed-in users: RLS must now hide the row from anon on the fast path.
    let mut su = superuser(&ctx).await;
    sqlx::query("ALTER POLICY app_config_read ON public.app_config TO authenticated")
        .execute(&mut su)
        .await
        .unwrap();
    let url = ctx.url("/v1/configs/marketplace_source");
    // A policy change sends no notification: the control plane re-checks the catalog every
    // second and moves anon back to the database path (then RLS hides the row).
    let mut status = 0;
    for _ in 0..40 {
        status = ctx.http.get(&url).send().await.unwrap().status().as_u16();
        if status == 404 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 404);
    let r = ctx
        .http
        .get(&url)
        .bearer_auth(user_token(Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn rest_subset_refuses_what_it_does_not_implement() {
    let ctx = start().await;
    let r = ctx
        .http
        .post(ctx.url("/rest/v1/app_config"))
        .header("apikey", "k")
        .json(&json!({"config_key":"x","config_value":{}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "PGRST117");
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/app_config"))
        .header("apikey", "k")
        .header("accept-profile", "auth")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "PGRST106");
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/app_config?select=password"))
        .header("apikey", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "42703");
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/app_config?version=gt.0&order=version.desc&limit=1"))
        .header("apikey", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap().as_array().unwrap().len(),
        1
    );
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/app_config?version=eq.notanumber"))
        .header("apikey", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "22P02");
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_ends_open_sse_streams() {
    let ctx = start().await;
    let resp = ctx
        .http
        .get(ctx.url("/v1/configs/marketplace_source/events"))
        .send()
        .await
        .unwrap();
    let mut body = resp.bytes_stream();
    assert!(body.next().await.unwrap().is_ok());
    let t = Instant::now();
    ctx.server.shutdown().await;
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        t.elapsed()
    );
    // The stream ends instead of hanging.
    let end = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(_)) = body.next().await {}
    })
    .await;
    assert!(end.is_ok());
}

#[tokio::test]
async fn cors_preflight_for_browser_clients() {
    let ctx = start().await;
    let r = ctx
        .http
        .request(reqwest::Method::OPTIONS, ctx.url("/rest/v1/app_config"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "GET")
        .header(
            "access-control-request-headers",
            "apikey,authorization,x-client-info",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let r = ctx
        .http
        .get(ctx.url("/v1/configs/marketplace_source"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(
        r.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("etag")
    );
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn sse_sends_heartbeat_comments() {
    let ctx = start_with(|s| s.sse_heartbeat_secs = 1).await;
    let resp = ctx
        .http
        .get(ctx.url("/v1/configs/marketplace_source/events"))
        .send()
        .await
        .unwrap();
    let mut body = resp.bytes_stream();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    while !seen.lines().any(|l| l.starts_with(':')) {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("heartbeat within 4 s")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("id: 1"));
    drop(body);
    ctx.server.shutdown().await;
}
