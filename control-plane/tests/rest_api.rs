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
