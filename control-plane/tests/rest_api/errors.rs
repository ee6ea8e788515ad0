//! `/rest/v1` refusals: bad JWTs, what the subset does not implement, PostgREST-shaped error
//! bodies and the rate limit.

use super::*;

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
async fn rest_subset_refuses_what_it_does_not_implement() {
    let ctx = start().await;
    ctx.http
        .put(ctx.url("/rest/v1/app_config"))
        .header("apikey", "k")
        .json(&json!({"config_key":"x","config_value":{}}))
        .expect(405, "PGRST117")
        .await;
    ctx.http
        .get(ctx.url("/rest/v1/app_config"))
        .header("apikey", "k")
        .header("accept-profile", "auth")
        .expect(406, "PGRST106")
        .await;
    ctx.http
        .get(ctx.url("/rest/v1/app_config?select=password"))
        .header("apikey", "k")
        .expect(400, "42703")
        .await;
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
    ctx.http
        .get(ctx.url("/rest/v1/app_config?version=eq.notanumber"))
        .header("apikey", "k")
        .expect(400, "22P02")
        .await;
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
