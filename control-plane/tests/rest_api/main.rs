//! `/rest/v1` over the real service: anonymous reads and RPCs, PostgREST's JWT refusals, the
//! `postgrest` crate as a client, and the refusals of what the subset does not implement.
//! This file holds the plain reads, RPCs, the history read and the OpenAPI root; `filters.rs`
//! filters, `select`, ranges and counts; `errors.rs` every refusal and its PostgREST body.

#[path = "../common/mod.rs"]
mod common;

use common::*;
use serde_json::{Value, json};
use sourcegate_control_plane::auth::{Claims, Role, mint_token};
use sourcegate_testkit::http::Expect as _;
use uuid::Uuid;

mod errors;
mod filters;

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
    let e = ctx
        .http
        .get(ctx.url("/rest/v1/app_config?config_key=eq.nope"))
        .header("apikey", "k")
        .header("accept", "application/vnd.pgrst.object+json")
        .expect(406, "PGRST116")
        .await;
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
    ctx.http
        .get(ctx.url("/rest/v1/users"))
        .header("apikey", "k")
        .expect(404, "PGRST205")
        .await;
    let r = ctx.rest_rpc("drop_everything", None, json!({})).await;
    r.expect(404, "PGRST202").await;
    ctx.http
        .get(ctx.url("/rest/v1/app_config?config_key=fts.x"))
        .header("apikey", "k")
        .expect(400, "PGRST100")
        .await;
    // anon may not read the history (table privilege) → 401 like PostgREST without a JWT.
    ctx.http
        .get(ctx.url("/rest/v1/app_config_history"))
        .header("apikey", "k")
        .expect(401, "42501")
        .await;
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
