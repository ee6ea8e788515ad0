//! The service around the API: rate limiting, `POST /v1/origins/test` through the guard,
//! health/readiness/OpenAPI, and CORS for browser clients.

mod common;

use common::*;
use serde_json::{Value, json};
use sourcegate_testkit::http::Expect as _;
use uuid::Uuid;

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
    ctx.http
        .post(ctx.url("/v1/origins/test"))
        .bearer_auth(service_token())
        .json(&json!({"url": "file:///etc/passwd"}))
        .expect(400, "bad_request")
        .await;
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
