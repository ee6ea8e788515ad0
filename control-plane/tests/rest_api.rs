//! `/rest/v1` over the real service: anonymous reads and RPCs, PostgREST's JWT refusals, the
//! `postgrest` crate as a client, and the refusals of what the subset does not implement.

mod common;

use common::*;
use serde_json::{Value, json};
use sourcegate_control_plane::auth::{Claims, Role, mint_token};
use sourcegate_testkit::http::Expect as _;
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
    let e = r.expect(406, "PGRST116").await;
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
    r.expect(404, "PGRST205").await;
    let r = ctx.rest_rpc("drop_everything", None, json!({})).await;
    r.expect(404, "PGRST202").await;
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/app_config?config_key=fts.x"))
        .header("apikey", "k")
        .send()
        .await
        .unwrap();
    r.expect(400, "PGRST100").await;
    // anon may not read the history (table privilege) → 401 like PostgREST without a JWT.
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/app_config_history"))
        .header("apikey", "k")
        .send()
        .await
        .unwrap();
    r.expect(401, "42501").await;
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
        r.expect(401, "unauthorized").await;
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
async fn rest_subset_refuses_what_it_does_not_implement() {
    let ctx = start().await;
    let r = ctx
        .http
        .put(ctx.url("/rest/v1/app_config"))
        .header("apikey", "k")
        .json(&json!({"config_key":"x","config_value":{}}))
        .send()
        .await
        .unwrap();
    r.expect(405, "PGRST117").await;
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/app_config"))
        .header("apikey", "k")
        .header("accept-profile", "auth")
        .send()
        .await
        .unwrap();
    r.expect(406, "PGRST106").await;
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/app_config?select=password"))
        .header("apikey", "k")
        .send()
        .await
        .unwrap();
    r.expect(400, "42703").await;
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
    r.expect(400, "22P02").await;
    ctx.server.shutdown().await;
}

/// Adds rows next to the seeded `marketplace_source` (git, version 1, `updated_by` null), as a
/// superuser with triggers off (the validator accepts only the one key):
/// `a_key` (cdn, v3, interval 30), `b_key` (git, v5, tags), `c,d` (hybrid, v7, an updater).
async fn seed_rows(ctx: &Ctx) -> Uuid {
    let who = Uuid::new_v4();
    let mut c = superuser(ctx).await;
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::query(
        r#"INSERT INTO public.app_config (config_key, config_value, version, updated_by) VALUES
           ('a_key', '{"type":"cdn","healthCheck":{"intervalSecs":30}}', 3, NULL),
           ('b_key', '{"type":"git","tags":["x","y"]}', 5, NULL),
           ('c,d', '{"type":"hybrid","healthCheck":{"intervalSecs":5}}', 7, $1)"#,
    )
    .bind(who)
    .execute(&mut c)
    .await
    .unwrap();
    who
}

/// `GET /rest/v1/{path}` with an anon key: status, headers, JSON body (`null` if none).
async fn rest_get(
    ctx: &Ctx,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut r = ctx
        .http
        .get(ctx.url(&format!("/rest/v1/{path}")))
        .header("apikey", "sb_publishable_x");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    let text = r.text().await.unwrap();
    (
        status,
        h,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// The `config_key`s `app_config?{filter}` returns, in key order.
async fn keys(ctx: &Ctx, filter: &str) -> Vec<String> {
    let (s, _, rows) = rest_get(
        ctx,
        &format!("app_config?select=config_key&order=config_key&{filter}"),
        &[],
    )
    .await;
    assert_eq!(s, 200, "{filter}: {rows}");
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["config_key"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_filter_operator_selects_the_right_rows() {
    let ctx = start().await;
    seed_rows(&ctx).await;
    let all = ["a_key", "b_key", "c,d", "marketplace_source"];
    let cases: &[(&str, &[&str])] = &[
        ("", &all),
        ("version=eq.5", &["b_key"]),
        ("version=neq.5", &["a_key", "c,d", "marketplace_source"]),
        ("version=gt.3", &["b_key", "c,d"]),
        ("version=gte.3", &["a_key", "b_key", "c,d"]),
        ("version=lt.3", &["marketplace_source"]),
        ("version=lte.3", &["a_key", "marketplace_source"]),
        ("config_key=in.(a_key,%22c,d%22)", &["a_key", "c,d"]),
        (
            "config_key=not.in.(a_key,b_key)",
            &["c,d", "marketplace_source"],
        ),
        ("config_key=like.*_key", &["a_key", "b_key"]),
        ("config_key=like.market%25", &["marketplace_source"]),
        ("config_key=ilike.*KEY", &["a_key", "b_key"]),
        ("config_key=match.^[ab]_", &["a_key", "b_key"]),
        ("config_key=imatch.^MARKET", &["marketplace_source"]),
        (
            "updated_by=is.null",
            &["a_key", "b_key", "marketplace_source"],
        ),
        ("updated_by=not.is.null", &["c,d"]),
        (
            "version=isdistinct.5",
            &["a_key", "c,d", "marketplace_source"],
        ),
        ("version=not.eq.5", &["a_key", "c,d", "marketplace_source"]),
        (
            "or=(version.eq.1,version.eq.7)",
            &["c,d", "marketplace_source"],
        ),
        (
            "or=(version.eq.1,and(version.gt.2,config_key.lt.b))",
            &["a_key", "marketplace_source"],
        ),
        ("not.or=(version.eq.1,version.eq.7)", &["a_key", "b_key"]),
        (
            "and=(version.gt.1,not.and(config_key.eq.a_key,version.eq.3))",
            &["b_key", "c,d"],
        ),
        (
            "or=(config_key.eq.%22c,d%22,config_key.eq.b_key)",
            &["b_key", "c,d"],
        ),
        (
            "or=(version.eq.1,version.eq.7)&config_key=neq.c,d",
            &["marketplace_source"],
        ),
        ("config_value=cs.%7B%22type%22:%22cdn%22%7D", &["a_key"]),
        (
            "config_value=cd.%7B%22type%22:%22git%22,%22tags%22:[%22x%22,%22y%22],%22z%22:1%7D",
            &["b_key"],
        ),
        (
            "config_value->>type=eq.git",
            &["b_key", "marketplace_source"],
        ),
        ("config_value->healthCheck->>intervalSecs=eq.30", &["a_key"]),
        ("config_value->healthCheck->intervalSecs=lt.10", &["c,d"]),
        ("config_value->tags->>0=eq.x", &["b_key"]),
        (
            "or=(config_value->>type.eq.cdn,config_value->>type.eq.hybrid)",
            &["a_key", "c,d"],
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(keys(&ctx, filter).await, *want, "{filter}");
    }
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn select_aliases_casts_json_paths_and_order() {
    let ctx = start().await;
    seed_rows(&ctx).await;
    let (s, _, rows) = rest_get(
        &ctx,
        "app_config?select=key:config_key,v:version::text,config_value->>type,interval:config_value->healthCheck->intervalSecs&order=version.desc&limit=2",
        &[],
    )
    .await;
    assert_eq!(s, 200, "{rows}");
    assert_eq!(
        rows,
        json!([
            {"key": "c,d", "v": "7", "type": "hybrid", "interval": 5},
            {"key": "b_key", "v": "5", "type": "git", "interval": null}
        ])
    );
    // Order by a JSON path, nulls last, then by key.
    let (_, _, rows) = rest_get(
        &ctx,
        "app_config?select=config_key&order=config_value->healthCheck->intervalSecs.desc.nullslast,config_key",
        &[],
    )
    .await;
    assert_eq!(
        rows,
        json!([{"config_key": "a_key"}, {"config_key": "c,d"}, {"config_key": "b_key"}, {"config_key": "marketplace_source"}])
    );
    let (_, _, rows) = rest_get(
        &ctx,
        "app_config?select=config_key&order=version&offset=1&limit=2",
        &[],
    )
    .await;
    assert_eq!(
        rows,
        json!([{"config_key": "a_key"}, {"config_key": "b_key"}])
    );
    // An alias or key holding quotes is data, not SQL.
    let (s, _, rows) = rest_get(
        &ctx,
        "app_config?select=a%22b%27c:config_key&config_key=eq.a_key",
        &[],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(rows, json!([{"a\"b'c": "a_key"}]));
    let (s, _, e) = rest_get(&ctx, "app_config?select=version::regclass", &[]).await;
    assert_eq!(s, 400);
    assert_eq!(e["code"], "PGRST100");
    assert!(e["message"].as_str().unwrap().contains("::regclass"), "{e}");
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn counts_ranges_and_head() {
    let ctx = start().await;
    seed_rows(&ctx).await;
    let range = |h: &reqwest::header::HeaderMap| h["content-range"].to_str().unwrap().to_owned();
    let n = |v: &Value| v.as_array().unwrap().len();
    // No count asked: the total is `*`, status 200 even for a partial page.
    let (s, h, rows) = rest_get(&ctx, "app_config?order=version&limit=2", &[]).await;
    assert_eq!((s, range(&h).as_str(), n(&rows)), (200, "0-1/*", 2));
    let (s, h, rows) = rest_get(
        &ctx,
        "app_config?order=version&limit=2",
        &[("prefer", "count=exact")],
    )
    .await;
    assert_eq!((s, range(&h).as_str(), n(&rows)), (206, "0-1/4", 2));
    let (s, h, _) = rest_get(
        &ctx,
        "app_config",
        &[("prefer", "return=minimal, count=exact")],
    )
    .await;
    assert_eq!((s, range(&h).as_str()), (200, "0-3/4"));
    let (s, h, _) = rest_get(
        &ctx,
        "app_config?version=gt.2",
        &[("prefer", "count=estimated")],
    )
    .await;
    assert_eq!((s, range(&h).as_str()), (200, "0-2/3"));
    // Planned: the planner's estimate, whatever it is, is a number.
    let (s, h, _) = rest_get(&ctx, "app_config", &[("prefer", "count=planned")]).await;
    assert!(s == 200 || s == 206, "{s}");
    let total = range(&h).rsplit_once('/').unwrap().1.to_owned();
    assert!(total.parse::<u64>().is_ok(), "{total}");
    // Empty results.
    let (s, h, rows) = rest_get(
        &ctx,
        "app_config?version=gt.100",
        &[("prefer", "count=exact")],
    )
    .await;
    assert_eq!((s, range(&h).as_str(), rows), (200, "*/0", json!([])));
    let (s, h, _) = rest_get(&ctx, "app_config?version=gt.100", &[]).await;
    assert_eq!((s, range(&h).as_str()), (200, "*/*"));
    // Range header, intersected with limit/offset.
    let (s, h, rows) = rest_get(
        &ctx,
        "app_config?select=config_key&order=version",
        &[
            ("range-unit", "items"),
            ("range", "1-2"),
            ("prefer", "count=exact"),
        ],
    )
    .await;
    assert_eq!((s, range(&h).as_str()), (206, "1-2/4"));
    assert_eq!(
        rows,
        json!([{"config_key": "a_key"}, {"config_key": "b_key"}])
    );
    let (s, h, rows) = rest_get(
        &ctx,
        "app_config?select=config_key&order=version",
        &[("range", "2-")],
    )
    .await;
    assert_eq!((s, range(&h).as_str()), (200, "2-3/*"));
    assert_eq!(
        rows,
        json!([{"config_key": "b_key"}, {"config_key": "c,d"}])
    );
    let (s, h, rows) = rest_get(
        &ctx,
        "app_config?select=config_key&order=version&limit=2",
        &[("range", "0-5")],
    )
    .await;
    assert_eq!((s, range(&h).as_str()), (200, "0-1/*"));
    assert_eq!(
        rows,
        json!([{"config_key": "marketplace_source"}, {"config_key": "a_key"}])
    );
    // limit=0 bypasses the header; a header disjoint from limit/offset is refused.
    let (s, h, rows) = rest_get(
        &ctx,
        "app_config?limit=0",
        &[("range", "1-2"), ("prefer", "count=exact")],
    )
    .await;
    assert_eq!((s, range(&h).as_str(), rows), (206, "*/4", json!([])));
    let (s, _, e) = rest_get(&ctx, "app_config?limit=1", &[("range", "2-")]).await;
    assert_eq!((s, e["code"].as_str()), (416, Some("PGRST103")));
    // Offset at the end: 206 and `*`; beyond: 416 PGRST103.
    let (s, h, _) = rest_get(&ctx, "app_config?offset=4", &[("prefer", "count=exact")]).await;
    assert_eq!((s, range(&h).as_str()), (206, "*/4"));
    let (s, h, e) = rest_get(&ctx, "app_config?offset=5", &[("prefer", "count=exact")]).await;
    assert_eq!((s, range(&h).as_str()), (416, "*/4"));
    assert_eq!(
        e,
        json!({"code": "PGRST103", "message": "Requested range not satisfiable",
               "details": "An offset of 5 was requested, but there are only 4 rows.", "hint": null})
    );
    let (s, _, e) = rest_get(&ctx, "app_config", &[("range", "3-1")]).await;
    assert_eq!(s, 416);
    assert_eq!(
        e,
        json!({"code": "PGRST103", "message": "Requested range not satisfiable",
               "details": "The lower boundary must be lower than or equal to the upper boundary in the Range header.", "hint": null})
    );
    let (s, _, e) = rest_get(&ctx, "app_config?limit=-1", &[]).await;
    assert_eq!(s, 416);
    assert_eq!(
        e["details"],
        "Limit should be greater than or equal to zero."
    );
    // HEAD: the same headers, no body.
    let r = ctx
        .http
        .head(ctx.url("/rest/v1/app_config?version=gt.2"))
        .header("apikey", "k")
        .header("prefer", "count=exact")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-range"], "0-2/3");
    assert!(r.bytes().await.unwrap().is_empty());
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn history_reads_with_filters_for_the_service_role() {
    let ctx = start().await;
    let admin = Uuid::new_v4();
    let r = ctx
        .rest_rpc(
            "update_app_config",
            Some(&admin_token(admin)),
            json!({"p_key":"marketplace_source","p_value":cdn_doc(),"p_reason":"to cdn"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let svc = format!("Bearer {}", service_token());
    let (s, h, rows) = rest_get(
        &ctx,
        "app_config_history?select=version,op,type:new_value->>type,reason&or=(op.eq.UPDATE,reason.is.null)&order=version.desc",
        &[("authorization", &svc), ("prefer", "count=exact")],
    )
    .await;
    assert_eq!(s, 200, "{rows}");
    assert_eq!(h["content-range"], "0-1/2");
    assert_eq!(
        rows,
        json!([
            {"version": 2, "op": "UPDATE", "type": "cdn", "reason": "to cdn"},
            {"version": 1, "op": "INSERT", "type": "git", "reason": null}
        ])
    );
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn error_bodies_are_exactly_postgrest_shaped() {
    let ctx = start().await;
    let body = |code: Value, message: &str, details: Value, hint: Value| json!({"code": code, "message": message, "details": details, "hint": hint});
    // The gateway's key check: no PostgREST code, but all four keys.
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/app_config"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        body(
            Value::Null,
            "No API key found in request",
            Value::Null,
            json!("No `apikey` request header or url param was found.")
        )
    );
    let cases: Vec<(&str, u16, Value)> = vec![
        (
            "app_config?xor=(version.eq.1)",
            400,
            body(
                json!("PGRST100"),
                "unsupported logic operator (xor); supported: and, or, not.and, not.or",
                Value::Null,
                Value::Null,
            ),
        ),
        (
            "app_config?config_key=fts.x",
            400,
            body(
                json!("PGRST100"),
                "unsupported operator (fts): full-text search and range operators are not implemented",
                Value::Null,
                Value::Null,
            ),
        ),
        (
            "app_config?select=password",
            400,
            body(
                json!("42703"),
                "column app_config.password does not exist",
                Value::Null,
                Value::Null,
            ),
        ),
        (
            "users",
            404,
            body(
                json!("PGRST205"),
                "Could not find the table 'public.users' in the schema cache",
                Value::Null,
                Value::Null,
            ),
        ),
        (
            "a/b/c",
            404,
            body(
                json!("PGRST125"),
                "Invalid path specified in request URL: /rest/v1/a/b/c",
                Value::Null,
                Value::Null,
            ),
        ),
        (
            "app_config?config_key=eq.nope",
            406,
            body(
                json!("PGRST116"),
                "Cannot coerce the result to a single JSON object",
                json!("The result contains 0 rows"),
                Value::Null,
            ),
        ),
    ];
    for (path, status, want) in cases {
        let (s, _, e) = rest_get(
            &ctx,
            path,
            if status == 406 {
                &[("accept", "application/vnd.pgrst.object+json")]
            } else {
                &[]
            },
        )
        .await;
        assert_eq!((s, e), (status, want), "{path}");
    }
    // A database error carries PostgreSQL's fields.
    let (s, _, e) = rest_get(&ctx, "app_config?version=eq.notanumber", &[]).await;
    assert_eq!(s, 400);
    assert_eq!(
        e,
        body(
            json!("22P02"),
            "invalid input syntax for type bigint: \"notanumber\"",
            Value::Null,
            Value::Null
        )
    );
    // JWT refusals and the fallbacks: every key present.
    let r = ctx
        .http
        .get(ctx.url("/rest/v1/app_config"))
        .header("apikey", "k")
        .bearer_auth("not-a-jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], "PGRST301");
    assert_eq!(
        (e["details"].clone(), e["hint"].clone()),
        (Value::Null, Value::Null)
    );
    let r = ctx
        .http
        .put(ctx.url("/rest/v1/rpc/get_marketplace_config"))
        .header("apikey", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], "PGRST117");
    let mut keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "details", "hint", "message"]);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn root_serves_the_openapi_description_following_privileges() {
    let ctx = start().await;
    let (s, h, doc) = rest_get(&ctx, "", &[]).await;
    assert_eq!(s, 200, "{doc}");
    assert_eq!(h["content-type"], "application/openapi+json; charset=utf-8");
    assert_eq!(doc["swagger"], "2.0");
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        paths,
        ["/", "/app_config", "/rpc/get_marketplace_config"],
        "anon"
    );
    assert_eq!(
        doc["definitions"]["app_config"]["properties"]["version"],
        json!({"format": "bigint", "type": "integer"})
    );
    let svc = format!("Bearer {}", service_token());
    let (s, _, doc) = rest_get(&ctx, "", &[("authorization", &svc)]).await;
    assert_eq!(s, 200);
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        paths,
        [
            "/",
            "/app_config",
            "/app_config_history",
            "/rpc/get_marketplace_config",
            "/rpc/update_app_config"
        ]
    );
    assert_eq!(
        doc["definitions"]["app_config_history"]["properties"]["new_value"],
        json!({"format": "jsonb"})
    );
    let args = &doc["paths"]["/rpc/update_app_config"]["post"]["parameters"][0]["schema"];
    assert_eq!(args["required"], json!(["p_key", "p_value"]));
    assert_eq!(args["properties"]["p_expected_version"]["format"], "bigint");
    let r = ctx.http.get(ctx.url("/rest/v1/")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn rate_limit_under_rest_is_postgrest_shaped() {
    let ctx = start_with(|s| {
        s.rate_limit_per_sec = 1;
        s.rate_limit_burst = 1;
    })
    .await;
    let mut refused = None;
    for _ in 0..3 {
        let (s, h, e) = rest_get(&ctx, "app_config?select=version", &[]).await;
        if s == 429 {
            refused = Some((h, e));
            break;
        }
        assert_eq!(s, 200);
    }
    let (h, e) = refused.expect("a 429 after the burst");
    let secs: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(
        e,
        json!({"code": null, "message": "API rate limit exceeded", "details": null,
               "hint": format!("Retry after {secs} s.")})
    );
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn postgrest_crate_filters_ranges_and_counts() {
    let ctx = start().await;
    seed_rows(&ctx).await;
    let client = postgrest::Postgrest::new(ctx.url("/rest/v1")).insert_header("apikey", anon_key());
    let keys_of = |text: &str| -> Vec<String> {
        serde_json::from_str::<Value>(text)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["config_key"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = client
        .from("app_config")
        .select("config_key")
        .or("version.eq.1,config_value->>type.eq.cdn")
        .not("in", "config_key", "(b_key)")
        .order("config_key")
        .execute()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        keys_of(&r.text().await.unwrap()),
        ["a_key", "marketplace_source"]
    );
    let r = client
        .from("app_config")
        .select("config_key")
        .like("config_key", "*_key")
        .cs("config_value", r#"{"type":"git"}"#)
        .execute()
        .await
        .unwrap();
    assert_eq!(keys_of(&r.text().await.unwrap()), ["b_key"]);
    // exact_count asks `Range: 0-0`; range() then asks rows 1-2.
    let r = client
        .from("app_config")
        .select("config_key")
        .order("version")
        .exact_count()
        .range(1, 2)
        .execute()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(r.headers()["content-range"], "1-2/4");
    assert_eq!(keys_of(&r.text().await.unwrap()), ["a_key", "b_key"]);
    // HEAD ignores `Range`, as PostgREST does (RFC 9110: Range is for GET).
    let r = ctx
        .http
        .head(ctx.url("/rest/v1/app_config"))
        .header("apikey", "k")
        .header("range", "0-0")
        .header("prefer", "count=exact")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["content-range"].to_str().unwrap()
        ),
        (200, "0-3/4")
    );
    ctx.server.shutdown().await;
}
