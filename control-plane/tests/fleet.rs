//! Fleet views against the real service: `GET /v1/origins/health` (the control plane's own
//! probes of loopback origins), `POST /v1/telemetry` refusals and rate limit, and a resolver
//! reporting its counters end to end into `GET /v1/telemetry/summary`.

mod common;

use sourcegate_testkit::http::Expect as _;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use sourcegate::telemetry::TelemetrySettings;
use sourcegate_testkit::{Fault, OriginOptions, OriginPair, OriginStyle, TestOrigin};
use uuid::Uuid;

fn report(install: &str) -> Value {
    json!({
        "installHash": sourcegate::telemetry::install_hash(install),
        "configVersion": 3,
        "mode": "canary",
        "sdk": "sourcegate-rust/0.1.0",
        "intervalSecs": 60,
        "origins": {
            "git": {"requests": 10, "failures": 2, "rateLimited": 1},
            "cdn": {"requests": 5, "failures": 0, "rateLimited": 0}
        },
        "fallbacks": 1,
        "errors": 0,
        "latencyMs": {"p50": 12.5, "p99": 80.0, "mean": 15.0}
    })
}

async fn post_raw(ctx: &Ctx, body: impl Into<reqwest::Body>) -> reqwest::Response {
    ctx.http
        .post(ctx.url("/v1/telemetry"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn summary(ctx: &Ctx, token: Option<&str>) -> reqwest::Response {
    let mut r = ctx.http.get(ctx.url("/v1/telemetry/summary?minutes=5"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn telemetry_refuses_oversized_and_malformed_bodies_and_aggregates_good_ones() {
    let ctx = start().await;
    // Oversized: 413 payload_too_large (the cap is 8 KiB).
    let mut big = report("a");
    big["sdk"] = Value::String("x".repeat(9000));
    let r = post_raw(&ctx, big.to_string()).await;
    r.expect(413, "payload_too_large").await;

    // Not JSON, a missing field, a negative count, a bad hash, a bad mode: 400 bad_request.
    let mut missing = report("a");
    missing.as_object_mut().unwrap().remove("origins");
    let mut negative = report("a");
    negative["origins"]["git"]["requests"] = json!(-1);
    let mut short_hash = report("a");
    short_hash["installHash"] = json!("abc");
    let mut bad_mode = report("a");
    bad_mode["mode"] = json!("everything");
    let mut nan_latency = report("a");
    nan_latency["latencyMs"]["p99"] = json!(1e12);
    for body in [
        "{not json".to_owned(),
        missing.to_string(),
        negative.to_string(),
        short_hash.to_string(),
        bad_mode.to_string(),
        nan_latency.to_string(),
    ] {
        let r = post_raw(&ctx, body.clone()).await;
        r.expect(400, "bad_request").await;
    }
    // A good report not declared as JSON: 415 unsupported_media_type, as the OpenAPI says.
    ctx.http
        .post(ctx.url("/v1/telemetry"))
        .header("content-type", "text/plain")
        .body(report("a").to_string())
        .expect(415, "unsupported_media_type")
        .await;

    // Good reports: 204, then visible to admins only.
    for install in ["a", "b", "a"] {
        let r = post_raw(&ctx, report(install).to_string()).await;
        assert_eq!(r.status(), 204);
    }
    let r = summary(&ctx, None).await;
    assert_eq!(r.status(), 401);
    let r = summary(&ctx, Some(&user_token(Uuid::new_v4()))).await;
    r.expect(403, "forbidden").await;
    let r = summary(&ctx, Some(&admin_token(Uuid::new_v4()))).await;
    assert_eq!(r.status(), 200);
    let s: Value = r.json().await.unwrap();
    let minutes = s["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 5);
    let sum = |f: &dyn Fn(&Value) -> u64| minutes.iter().map(f).sum::<u64>();
    assert_eq!(sum(&|m| m["git"]["requests"].as_u64().unwrap()), 30);
    assert_eq!(sum(&|m| m["git"]["rateLimited"].as_u64().unwrap()), 3);
    assert_eq!(sum(&|m| m["cdn"]["requests"].as_u64().unwrap()), 15);
    assert_eq!(sum(&|m| m["fallbacks"].as_u64().unwrap()), 3);
    assert!(minutes.iter().any(|m| m["p99Ms"] == 80.0));
    assert_eq!(s["installs"]["total"], 2);
    assert_eq!(s["installs"]["byMode"]["canary"], 2);
    assert_eq!(s["installs"]["byVersion"]["3"], 2);

    // The three routes are in the OpenAPI document.
    let api: Value = ctx
        .http
        .get(ctx.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(api["paths"]["/v1/origins/health"]["get"].is_object());
    assert!(api["paths"]["/v1/telemetry"]["post"].is_object());
    assert!(api["paths"]["/v1/telemetry/summary"]["get"].is_object());
}

#[tokio::test]
async fn telemetry_is_rate_limited_per_client() {
    let ctx = start_with(|s| {
        s.telemetry_rate_per_sec = 1;
        s.telemetry_rate_burst = 2;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(post_raw(&ctx, report("a").to_string()).await.status(), 204);
    }
    // The burst is spent: the next report is refused (a few tries, in case a slow box let a
    // token refill in between).
    let mut r = post_raw(&ctx, report("a").to_string()).await;
    for _ in 0..5 {
        if r.status() != 204 {
            break;
        }
        r = post_raw(&ctx, report("a").to_string()).await;
    }
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    r.expect(429, "rate_limited").await;
    // Other routes have their own quota: the config still reads.
    let r = ctx
        .http
        .get(ctx.url("/v1/configs/marketplace_source"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// The admin view (errors and timings are admin-only; `tests/guard.rs` covers the public one).
async fn health(ctx: &Ctx) -> Value {
    let r = ctx
        .http
        .get(ctx.url("/v1/origins/health"))
        .bearer_auth(admin_token(Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    if r.status() == 503 {
        return Value::Null;
    }
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Polls the health view until `pred` holds (15 s at most: three 5 s probe intervals).
async fn wait_health(ctx: &Ctx, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let h = health(ctx).await;
        if pred(&h) {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {h}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn origin<'a>(h: &'a Value, kind: &str) -> Option<&'a Value> {
    h["origins"]
        .as_array()?
        .iter()
        .find(|o| o["origin"] == kind)
}

#[tokio::test]
async fn origin_health_follows_the_document_and_flips_unhealthy_then_healthy() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    let ctx = start_probing(probe_doc(&git.base_url(), None), true).await;

    // The stored document is probed from the start.
    let h = wait_health(&ctx, "git probed", |h| {
        origin(h, "git").is_some_and(|o| o["checks"].as_u64() >= Some(1))
    })
    .await;
    assert_eq!(h["origins"].as_array().unwrap().len(), 1);
    let g = origin(&h, "git").unwrap();
    assert_eq!(g["url"], git.base_url());
    assert_eq!(g["healthy"], true);
    assert!(g["responseTimeMs"].is_number());
    let checked = g["lastCheck"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(checked).is_ok(),
        "{checked}"
    );

    // An admin adds the CDN: the probes follow the change pushed by the event hub.
    let admin = admin_token(Uuid::new_v4());
    let r = ctx
        .put(
            Some(&admin),
            json!({"value": probe_doc(&git.base_url(), Some(&cdn.base_url())), "reason": "add cdn"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let version = r.json::<Value>().await.unwrap()["version"]
        .as_u64()
        .unwrap();
    wait_health(&ctx, "cdn probed", |h| {
        h["version"].as_u64() == Some(version)
            && origin(h, "cdn").is_some_and(|o| o["checks"].as_u64() >= Some(1))
    })
    .await;

    // The CDN fails: unhealthy after a failed probe, with the error; then healthy again.
    cdn.set_fault(Fault::Status(503));
    let h = wait_health(&ctx, "cdn unhealthy", |h| {
        origin(h, "cdn").is_some_and(|o| o["healthy"] == false)
    })
    .await;
    let c = origin(&h, "cdn").unwrap();
    assert_eq!(c["lastError"], "HTTP 503");
    assert_eq!(origin(&h, "git").unwrap()["healthy"], true);
    cdn.set_fault(Fault::None);
    let h = wait_health(&ctx, "cdn healthy again", |h| {
        origin(h, "cdn").is_some_and(|o| o["healthy"] == true && o["lastError"].is_null())
    })
    .await;
    assert_eq!(origin(&h, "cdn").unwrap()["rateLimited"], false);
    assert!(cdn.hits() >= 3);
}

#[tokio::test]
async fn a_resolver_with_a_telemetry_endpoint_shows_up_in_the_summary() {
    let ctx = start().await;
    let git = TestOrigin::start(OriginOptions::new(OriginStyle::GitRaw))
        .await
        .unwrap();
    let endpoint = url::Url::parse(&ctx.url("/v1/telemetry")).unwrap();
    let resolver = sourcegate::Resolver::builder(url::Url::parse(&git.base_url()).unwrap())
        .install_id("e2e-install")
        .health_checks(false)
        .telemetry(TelemetrySettings {
            endpoint: Some(endpoint),
            interval: Duration::from_millis(50),
            enabled: true,
        })
        .build()
        .unwrap();
    for _ in 0..3 {
        resolver.fetch("community-plugins.json").await.unwrap();
    }
    let admin = admin_token(Uuid::new_v4());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s: Value = summary(&ctx, Some(&admin)).await.json().await.unwrap();
        let served: u64 = s["minutes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["git"]["requests"].as_u64().unwrap())
            .sum();
        if served >= 3 && s["installs"]["total"] == 1 {
            assert_eq!(served, 3, "deltas, not cumulative counts");
            assert_eq!(s["installs"]["byMode"]["git"], 1);
            assert_eq!(s["installs"]["byVersion"]["0"], 1);
            // The minutes that counted requests carry their latency.
            for m in s["minutes"].as_array().unwrap() {
                if m["git"]["requests"].as_u64() > Some(0) {
                    assert!(m["p99Ms"].as_f64() > Some(0.0), "{m}");
                    assert!(m["meanMs"].as_f64() > Some(0.0), "{m}");
                }
            }
            break;
        }
        assert!(Instant::now() < deadline, "no report arrived: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Reports keep coming (heartbeats with zero deltas) without inflating the counts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s: Value = summary(&ctx, Some(&admin)).await.json().await.unwrap();
    let minutes = s["minutes"].as_array().unwrap();
    let served: u64 = minutes
        .iter()
        .map(|m| m["git"]["requests"].as_u64().unwrap())
        .sum();
    let reports: u64 = minutes.iter().map(|m| m["reports"].as_u64().unwrap()).sum();
    assert_eq!(served, 3);
    assert!(reports >= 3, "{reports} reports");
    // Dropping the resolver stops its reporter.
    drop(resolver);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before: u64 = summary(&ctx, Some(&admin))
        .await
        .json::<Value>()
        .await
        .unwrap()["minutes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["reports"].as_u64().unwrap())
        .sum();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after: u64 = summary(&ctx, Some(&admin))
        .await
        .json::<Value>()
        .await
        .unwrap()["minutes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["reports"].as_u64().unwrap())
        .sum();
    assert_eq!(before, after, "the reporter stopped with its resolver");
}
