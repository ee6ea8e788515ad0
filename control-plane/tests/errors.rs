//! The error contract on the real router over a fresh migrated database (driven with
//! `tower::ServiceExt::oneshot`: a socket adds nothing, and a 10 MB body is refused before it
//! is read): every refusal is JSON with a stable code — `{code, message}` under `/v1`,
//! PostgREST's `{code, message, details, hint}` under `/rest/v1` — changes nothing, and never
//! carries SQL text.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{SECRET, service_token};
use serde_json::{Value, json};
use sourcegate_control_plane::embedded::testing::{self, TestDatabase};
use sourcegate_control_plane::extract::MAX_CONFIG_BODY_BYTES;
use sourcegate_control_plane::settings::Settings;
use sourcegate_control_plane::{AppState, router};
use sqlx::postgres::PgPoolOptions;
use tower::ServiceExt as _;

struct Api {
    app: Router,
    db: TestDatabase,
}

async fn api() -> Api {
    let db = testing::fresh_database().await.expect("test database");
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&db.authenticator_url)
        .await
        .unwrap();
    let settings = Settings {
        rate_limit_per_sec: 0,
        origin_probes: false,
        ..Settings::default()
    };
    let app = router(AppState::new(pool, SECRET.as_bytes().to_vec(), settings));
    Api { app, db }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    content_type: String,
    text: String,
    json: Value,
}

impl Api {
    async fn call(&self, req: Request<Body>) -> Answer {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Answer {
            status,
            headers,
            content_type,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    /// The current version and the number of history rows (a refused write changes neither).
    async fn state(&self) -> (i64, i64) {
        use sqlx::Connection as _;
        let mut c = sqlx::PgConnection::connect(&self.db.admin_url)
            .await
            .unwrap();
        sqlx::query_as(
            "SELECT (SELECT max(version) FROM public.app_config), \
                    (SELECT count(*) FROM public.app_config_history)",
        )
        .fetch_one(&mut c)
        .await
        .unwrap()
    }
}

/// A `/v1` refusal: the status, JSON, the stable code, a message, no SQL text.
fn native(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status.as_u16(), status, "{}", a.text);
    assert!(
        a.content_type.starts_with("application/json"),
        "content-type {:?}: {}",
        a.content_type,
        a.text
    );
    assert_eq!(a.json["code"], code, "{}", a.text);
    assert!(a.json["message"].as_str().is_some_and(|m| !m.is_empty()));
    no_sql(a);
}

/// A `/rest/v1` refusal in PostgREST's shape: `details` and `hint` present (`null` or text).
fn postgrest(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status.as_u16(), status, "{}", a.text);
    assert!(
        a.content_type.starts_with("application/json"),
        "content-type {:?}: {}",
        a.content_type,
        a.text
    );
    assert_eq!(a.json["code"], code, "{}", a.text);
    assert!(a.json["message"].is_string(), "{}", a.text);
    for k in ["details", "hint"] {
        let v = a
            .json
            .get(k)
            .unwrap_or_else(|| panic!("no {k}: {}", a.text));
        assert!(v.is_null() || v.is_string(), "{}", a.text);
    }
    no_sql(a);
}

fn no_sql(a: &Answer) {
    let upper = a.text.to_ascii_uppercase();
    for word in ["SELECT ", " FROM ", "INSERT ", "UPDATE PUBLIC", "SQLX"] {
        assert!(!upper.contains(word), "SQL text in {}", a.text);
    }
}

fn put(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::put(uri)
        .header(header::AUTHORIZATION, format!("Bearer {}", service_token()))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {}", service_token()))
        .header("apikey", "sb_publishable_test")
        .body(Body::empty())
        .unwrap()
}

fn rpc(body: impl Into<Body>, content_type: &str) -> Request<Body> {
    Request::post("/rest/v1/rpc/update_app_config")
        .header(header::AUTHORIZATION, format!("Bearer {}", service_token()))
        .header("apikey", "sb_publishable_test")
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap()
}

fn doc() -> Value {
    json!({"type":"git","gitUrl":"https://raw.githubusercontent.com/obsidianmd/obsidian-releases/HEAD/"})
}

/// `{"value": <an invalid document>, "reason": "xxxx…"}` of about `bytes` bytes.
fn big_body(bytes: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({"value": {"type": "nope"}, "reason": "x".repeat(bytes)})).unwrap()
}

#[tokio::test]
async fn native_api_refusals_are_json_with_stable_codes_and_change_nothing() {
    let api = api().await;
    let before = api.state().await;
    assert_eq!(before.0, 1);

    // Bad query strings.
    native(
        &api.call(get("/v1/configs/marketplace_source/history?limit=abc"))
            .await,
        400,
        "bad_request",
    );
    native(
        &api.call(get("/v1/telemetry/summary?minutes=x")).await,
        400,
        "bad_request",
    );

    // A path segment that is not UTF-8, on handlers with and without the JSON extractors.
    native(&api.call(get("/v1/configs/%FF")).await, 400, "bad_request");
    native(
        &api.call(get("/v1/configs/%FF/history")).await,
        400,
        "bad_request",
    );
    native(
        &api.call(get("/v1/configs/%FF/events")).await,
        400,
        "bad_request",
    );
    native(
        &api.call(put(
            "/v1/configs/%FF",
            serde_json::to_vec(&json!({"value": doc()})).unwrap(),
        ))
        .await,
        400,
        "bad_request",
    );

    // NUL bytes in the key and in the reason: 400 before the database sees them.
    let body = serde_json::to_vec(&json!({"value": doc(), "reason": "ok"})).unwrap();
    let a = api.call(put("/v1/configs/a%00b", body)).await;
    native(&a, 400, "bad_request");
    assert!(
        a.json["message"].as_str().unwrap().contains("key"),
        "{}",
        a.text
    );
    let body = serde_json::to_vec(&json!({"value": doc(), "reason": "a\u{0}b"})).unwrap();
    let a = api.call(put("/v1/configs/marketplace_source", body)).await;
    native(&a, 400, "bad_request");
    assert!(
        a.json["message"].as_str().unwrap().contains("reason"),
        "{}",
        a.text
    );
    let body = serde_json::to_vec(&json!({"toVersion": 1, "reason": "a\u{0}b"})).unwrap();
    let a = api
        .call(
            Request::post("/v1/configs/marketplace_source/rollback")
                .header(header::AUTHORIZATION, format!("Bearer {}", service_token()))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    native(&a, 400, "bad_request");
    native(
        &api.call(get("/v1/configs/a%00b/history")).await,
        400,
        "bad_request",
    );

    // A NUL inside the document (jsonb refuses \u0000: SQLSTATE 22P05, class 22) → 400, and
    // the database's text is not echoed.
    let body = serde_json::to_vec(&json!({"value": {"note": "a\u{0}b"}})).unwrap();
    let a = api.call(put("/v1/configs/other_key", body)).await;
    native(&a, 400, "bad_request");
    assert!(a.text.contains("SQLSTATE 22"), "{}", a.text);
    assert!(!a.text.contains("Unicode"), "{}", a.text);

    // Bodies over the limit: 413, with and without a Content-Length.
    let a = api
        .call(put("/v1/configs/marketplace_source", big_body(10 << 20)))
        .await;
    native(&a, 413, "payload_too_large");
    assert!(
        a.json["message"]
            .as_str()
            .unwrap()
            .contains(&MAX_CONFIG_BODY_BYTES.to_string()),
        "{}",
        a.text
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..160).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    let a = api
        .call(put(
            "/v1/configs/marketplace_source",
            Body::from_stream(futures_util::stream::iter(chunks)),
        ))
        .await;
    native(&a, 413, "payload_too_large");
    let a = api
        .call(
            Request::post("/v1/configs/marketplace_source/rollback")
                .header(header::AUTHORIZATION, format!("Bearer {}", service_token()))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(big_body(10 << 20)))
                .unwrap(),
        )
        .await;
    native(&a, 413, "payload_too_large");
    // Just under the limit is read (and then refused for what it is, not for its size).
    let a = api
        .call(put(
            "/v1/configs/marketplace_source",
            big_body(MAX_CONFIG_BODY_BYTES - 1024),
        ))
        .await;
    native(&a, 422, "invalid_config");

    // Malformed JSON, a wrong shape, a wrong or missing content type.
    native(
        &api.call(put("/v1/configs/marketplace_source", "{\"value\":"))
            .await,
        400,
        "bad_request",
    );
    native(
        &api.call(put(
            "/v1/configs/marketplace_source",
            "{\"reason\":\"no value\"}",
        ))
        .await,
        400,
        "bad_request",
    );
    let text_body = |uri: &str, ct: Option<&str>| {
        let mut r =
            Request::put(uri).header(header::AUTHORIZATION, format!("Bearer {}", service_token()));
        if let Some(ct) = ct {
            r = r.header(header::CONTENT_TYPE, ct);
        }
        r.body(Body::from(
            serde_json::to_vec(&json!({"value": doc()})).unwrap(),
        ))
        .unwrap()
    };
    native(
        &api.call(text_body(
            "/v1/configs/marketplace_source",
            Some("text/plain"),
        ))
        .await,
        415,
        "unsupported_media_type",
    );
    native(
        &api.call(text_body("/v1/configs/marketplace_source", None))
            .await,
        415,
        "unsupported_media_type",
    );
    native(
        &api.call(
            Request::post("/v1/origins/test")
                .header(header::AUTHORIZATION, format!("Bearer {}", service_token()))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("url=http://127.0.0.1/"))
                .unwrap(),
        )
        .await,
        415,
        "unsupported_media_type",
    );

    // A method the route does not have: axum's empty 405 becomes JSON (and keeps `Allow`).
    let a = api
        .call(
            Request::delete("/v1/configs/marketplace_source")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    native(&a, 405, "method_not_allowed");
    assert!(a.headers.contains_key(header::ALLOW), "{:?}", a.headers);

    // Authentication still comes first: a bad body without a token is a 401.
    let a = api
        .call(
            Request::put("/v1/configs/marketplace_source")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{not json"))
                .unwrap(),
        )
        .await;
    native(&a, 401, "unauthorized");

    assert_eq!(
        api.state().await,
        before,
        "a refused write changed something"
    );
}

#[tokio::test]
async fn postgrest_refusals_keep_postgrest_shape() {
    let api = api().await;
    let before = api.state().await;

    // Path segment not UTF-8; bad query strings.
    postgrest(&api.call(get("/rest/v1/%FF")).await, 400, "PGRST100");
    postgrest(&api.call(get("/rest/v1/rpc/%FF")).await, 400, "PGRST100");
    postgrest(
        &api.call(get("/rest/v1/app_config?limit=abc")).await,
        400,
        "PGRST100",
    );
    postgrest(
        &api.call(get("/rest/v1/app_config?config_key=fts.x")).await,
        400,
        "PGRST100",
    );

    // NUL in the key and in the reason: class 22 → 400, the SQLSTATE as code.
    let a = api
        .call(rpc(
            serde_json::to_vec(&json!({"p_key": "a\u{0}b", "p_value": doc()})).unwrap(),
            "application/json",
        ))
        .await;
    postgrest(&a, 400, a.json["code"].as_str().unwrap_or("?"));
    assert!(
        a.json["code"].as_str().unwrap().starts_with("22"),
        "{}",
        a.text
    );
    let a = api
        .call(rpc(
            serde_json::to_vec(&json!({"p_key": "marketplace_source", "p_value": doc(),
                                        "p_reason": "a\u{0}b"}))
            .unwrap(),
            "application/json",
        ))
        .await;
    postgrest(&a, 400, a.json["code"].as_str().unwrap_or("?"));
    assert!(
        a.json["code"].as_str().unwrap().starts_with("22"),
        "{}",
        a.text
    );

    // 10 MB body, malformed JSON, wrong content type.
    let big = serde_json::to_vec(&json!({"p_key": "marketplace_source", "p_value": doc(),
                                         "p_reason": "x".repeat(10 << 20)}))
    .unwrap();
    postgrest(
        &api.call(rpc(big, "application/json")).await,
        413,
        "PGRST102",
    );
    postgrest(
        &api.call(rpc("{\"p_key\":", "application/json")).await,
        400,
        "PGRST102",
    );
    let body =
        serde_json::to_vec(&json!({"p_key": "marketplace_source", "p_value": doc()})).unwrap();
    postgrest(
        &api.call(rpc(body, "application/xml")).await,
        415,
        "PGRST107",
    );

    // Other methods; an unknown path.
    let a = api
        .call(
            Request::put("/rest/v1/app_config")
                .header("apikey", "sb_publishable_test")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    postgrest(&a, 405, "PGRST117");
    let a = api
        .call(
            Request::delete("/rest/v1/rpc/update_app_config")
                .header("apikey", "sb_publishable_test")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    postgrest(&a, 405, "PGRST117");
    postgrest(&api.call(get("/rest/v1/a/b/c")).await, 404, "PGRST125");

    assert_eq!(
        api.state().await,
        before,
        "a refused write changed something"
    );
}
