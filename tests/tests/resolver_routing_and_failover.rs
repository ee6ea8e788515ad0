//! The resolver against real HTTP origins on loopback: modes, failover, rate limits, outlier
//! ejection, health checks, canary share and stickiness.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sourcegate::provider::StaticProvider;
use sourcegate::routing::Unavailable;
use sourcegate::{OriginKind, Reason, Resolver};
use sourcegate_testkit::{
    Fault, LimitAnswer, OriginOptions, OriginPair, OriginStyle, REGISTRY, REGISTRY_PATH, TestOrigin,
};

fn doc(git: &TestOrigin, cdn: &TestOrigin, extra: serde_json::Value) -> serde_json::Value {
    let mut d = json!({
        "gitUrl": git.base_url(),
        "cdnUrl": cdn.base_url(),
        "healthCheckEnabled": false,
        "fallbackOnError": true,
    });
    for (k, v) in extra.as_object().unwrap() {
        d[k] = v.clone();
    }
    d
}

fn resolver(git: &TestOrigin, value: serde_json::Value) -> Resolver {
    Resolver::builder(git.base_url().parse().unwrap())
        .provider(StaticProvider::Value(value))
        .install_id("test-install")
        .request_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

#[tokio::test]
async fn each_mode_routes_to_its_origin() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    let cases = [
        (json!({"type": "git"}), OriginKind::Git),
        (json!({"type": "cdn"}), OriginKind::Cdn),
        (json!({"type": "cloudflare"}), OriginKind::Cdn),
        (
            json!({"type": "hybrid", "priority": ["cloudflare", "git"]}),
            OriginKind::Cdn,
        ),
        (
            json!({"type": "hybrid", "priority": ["git", "cdn"]}),
            OriginKind::Git,
        ),
        (
            json!({"type": "canary", "canaryPercent": 100}),
            OriginKind::Cdn,
        ),
        (
            json!({"type": "canary", "canaryPercent": 0}),
            OriginKind::Git,
        ),
    ];
    for (extra, want) in cases {
        let r = resolver(&git, doc(&git, &cdn, extra.clone()));
        let res = r.resolve_url(REGISTRY_PATH).await.unwrap();
        assert_eq!(res.origin, want, "{extra}");
        let base = if want == OriginKind::Git { &git } else { &cdn };
        assert_eq!(
            res.url.as_str(),
            format!("{}{REGISTRY_PATH}", base.base_url())
        );
        let resp = r.fetch(REGISTRY_PATH).await.unwrap();
        assert_eq!(resp.origin, want, "{extra}");
        assert_eq!(&resp.body[..], REGISTRY);
        assert!(!resp.fallback);
    }
    let r = resolver(&git, doc(&git, &cdn, json!({"type": "git"})));
    r.fetch(REGISTRY_PATH).await.unwrap();
    let s = r.stats();
    assert_eq!((s.total_requests, s.git_requests, s.errors), (1, 1, 0));
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["cloudflareRequests"], 0);
    assert_eq!(v["cdnRequests"], 0);
    assert_eq!(v["gitRequests"], 1);
}

#[tokio::test]
async fn fails_over_on_5xx_and_respects_fallback_off() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    cdn.set_fault(Fault::Status(503));
    let r = resolver(&git, doc(&git, &cdn, json!({"type": "cdn"})));
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(resp.origin, OriginKind::Git);
    assert!(resp.fallback);
    assert_eq!(resp.failed_attempts.len(), 1);
    assert_eq!(resp.failed_attempts[0].status, Some(503));
    let s = r.stats();
    assert_eq!((s.fallbacks, s.git_requests, s.errors), (1, 1, 0));

    let off = resolver(
        &git,
        doc(&git, &cdn, json!({"type": "cdn", "fallbackOnError": false})),
    );
    let err = off.fetch(REGISTRY_PATH).await.unwrap_err();
    match err {
        sourcegate::RequestError::AllOriginsFailed { attempts, .. } => {
            assert_eq!(attempts.len(), 1);
            assert_eq!(attempts[0].origin, OriginKind::Cdn);
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(off.stats().errors, 1);
}

#[tokio::test]
async fn transport_errors_fail_over() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    let dead = "http://127.0.0.1:9/"; // discard port: nothing listens there
    let mut d = doc(&git, &cdn, json!({"type": "cdn"}));
    d["cdnUrl"] = json!(dead);
    let r = resolver(&git, d);
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(resp.origin, OriginKind::Git);
    assert!(resp.failed_attempts[0].status.is_none());
}

#[tokio::test]
async fn git_429_switches_to_cdn_until_retry_after_then_recovers() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    git.set_fault(Fault::RateLimited {
        retry_after_secs: 1,
    });
    let r = resolver(&git, doc(&git, &cdn, json!({"type": "git"})));
    let first = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(first.origin, OriginKind::Cdn);
    assert!(first.fallback);
    let hits_after_first = git.hits();
    // While rate-limited, Git is skipped entirely: no request spends its quota.
    for _ in 0..5 {
        let resp = r.fetch(REGISTRY_PATH).await.unwrap();
        assert_eq!(resp.origin, OriginKind::Cdn);
        assert_eq!(
            resp.reason,
            Reason::Failover {
                from: OriginKind::Git,
                cause: Unavailable::RateLimited
            }
        );
    }
    assert_eq!(git.hits(), hits_after_first);
    let h = r.health();
    assert!(h[0].rate_limited && h[0].rate_limited_for_secs <= 1.0);
    assert_eq!(r.stats().rate_limited, 1);
    // After Retry-After, Git is tried again and serves.
    git.set_fault(Fault::None);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(resp.origin, OriginKind::Git);
    assert_eq!(resp.reason, Reason::Mode);
}

#[tokio::test]
async fn rate_limit_headers_set_the_cooldown() {
    // A bare 429 (raw.githubusercontent.com) → at least 60 s, at most 75 s with jitter.
    // `no-cache`: every fetch reaches Git (a conditional request), so the second one spends
    // the quota instead of being served fresh from the resolver's cache.
    let mut opts = OriginOptions::new(OriginStyle::GitRaw).cache_control("no-cache");
    opts.rate_limit = Some((1, Duration::from_secs(3600)));
    opts.limit_answer = LimitAnswer::TooManyRequestsBare;
    let git = TestOrigin::start(opts).await.unwrap();
    let cdn = TestOrigin::start(OriginOptions::new(OriginStyle::Cdn))
        .await
        .unwrap();
    let r = resolver(&git, doc(&git, &cdn, json!({"type": "git"})));
    assert_eq!(
        r.fetch(REGISTRY_PATH).await.unwrap().origin,
        OriginKind::Git
    );
    assert_eq!(
        r.fetch(REGISTRY_PATH).await.unwrap().origin,
        OriginKind::Cdn
    );
    let wait = r.health()[0].rate_limited_for_secs;
    assert!((59.0..=75.0).contains(&wait), "{wait}");

    // A 403 with x-ratelimit-reset (GitHub REST) → until the reset, capped at 30 min.
    let mut opts = OriginOptions::new(OriginStyle::GitRaw).cache_control("no-cache");
    opts.rate_limit = Some((1, Duration::from_secs(600)));
    opts.limit_answer = LimitAnswer::ForbiddenWithReset;
    let git = TestOrigin::start(opts).await.unwrap();
    let r = resolver(&git, doc(&git, &cdn, json!({"type": "git"})));
    r.fetch(REGISTRY_PATH).await.unwrap();
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(resp.origin, OriginKind::Cdn);
    assert_eq!(resp.failed_attempts[0].status, Some(403));
    let wait = r.health()[0].rate_limited_for_secs;
    assert!((500.0..=602.0).contains(&wait), "{wait}");
}

#[tokio::test]
async fn a_cdn_403_is_not_a_rate_limit() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    cdn.set_fault(Fault::Status(403));
    let r = resolver(&git, doc(&git, &cdn, json!({"type": "cdn"})));
    assert_eq!(
        r.fetch(REGISTRY_PATH).await.unwrap().origin,
        OriginKind::Git
    );
    assert!(!r.health()[1].rate_limited);
    assert_eq!(r.stats().rate_limited, 0);
}

#[tokio::test]
async fn outlier_detection_ejects_after_consecutive_5xx() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    cdn.set_fault(Fault::Status(502));
    let d = doc(
        &git,
        &cdn,
        json!({"type": "cdn", "outlierDetection": {"consecutiveFailures": 3, "baseEjectionSecs": 30}}),
    );
    let r = resolver(&git, d);
    for _ in 0..3 {
        let resp = r.fetch(REGISTRY_PATH).await.unwrap();
        assert_eq!(resp.reason, Reason::Mode);
        assert_eq!(resp.origin, OriginKind::Git);
    }
    let cdn_hits = cdn.hits();
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(
        resp.reason,
        Reason::Failover {
            from: OriginKind::Cdn,
            cause: Unavailable::Ejected
        }
    );
    assert!(!resp.fallback, "Git was the first candidate");
    assert_eq!(cdn.hits(), cdn_hits, "an ejected origin gets no traffic");
    assert!(r.health()[1].ejected);
}

#[tokio::test]
async fn panic_mode_when_every_origin_is_down() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    git.set_fault(Fault::RateLimited {
        retry_after_secs: 30,
    });
    cdn.set_fault(Fault::Status(500));
    let d = doc(
        &git,
        &cdn,
        json!({"type": "cdn", "outlierDetection": {"consecutiveFailures": 1}}),
    );
    let r = resolver(&git, d);
    let err = r.fetch(REGISTRY_PATH).await.unwrap_err();
    assert!(
        matches!(err, sourcegate::RequestError::AllOriginsFailed { ref attempts, .. } if attempts.len() == 2)
    );
    // Both unavailable now (Git rate-limited, CDN ejected): the router still tries, least
    // recently failed first. The CDN failed first (it was tried first), so it goes first.
    let route = r.route();
    assert_eq!(route.reason, Reason::PanicMode);
    assert_eq!(route.candidates(), &[OriginKind::Cdn, OriginKind::Git]);
    cdn.set_fault(Fault::None);
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(resp.origin, OriginKind::Cdn);
}

#[tokio::test]
async fn active_health_checks_route_around_and_recover() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    let d = doc(
        &git,
        &cdn,
        json!({"type": "cdn", "healthCheckEnabled": true,
               // The shortest interval a document may ask for (5 s); one probe flips the state.
               "healthCheck": {"intervalSecs": 5, "timeoutMs": 500, "unhealthyThreshold": 1, "healthyThreshold": 1, "path": REGISTRY_PATH}}),
    );
    let r = resolver(&git, d);
    r.resolve_url(REGISTRY_PATH).await.unwrap();
    cdn.set_fault(Fault::Status(503));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while r.health()[1].healthy {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never became unhealthy"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let h = &r.health()[1];
    assert_eq!(h.last_error.as_deref(), Some("HTTP 503"));
    assert!(h.response_time_ms.is_some() && h.checks >= 1);
    // Dates the resolver writes are RFC 3339, as the control plane's are.
    let checked = h.last_check.as_deref().expect("a probe ran");
    assert!(
        chrono::DateTime::parse_from_rfc3339(checked).is_ok(),
        "{checked}"
    );
    let installed = r.config().installed_at;
    assert!(
        chrono::DateTime::parse_from_rfc3339(&installed).is_ok(),
        "{installed}"
    );
    let res = r.resolve(REGISTRY_PATH).unwrap();
    assert_eq!(res.origin, OriginKind::Git);
    assert_eq!(
        res.reason,
        Reason::Failover {
            from: OriginKind::Cdn,
            cause: Unavailable::Unhealthy
        }
    );
    cdn.set_fault(Fault::None);
    while !r.health()[1].healthy {
        assert!(tokio::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(r.resolve(REGISTRY_PATH).unwrap().origin, OriginKind::Cdn);
}

#[tokio::test]
async fn canary_share_is_within_one_and_a_half_points_and_sticky() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    let mut on_cdn_before: Vec<bool> = Vec::new();
    for percent in [1.0, 10.0, 25.5, 50.0, 90.0] {
        let r = resolver(
            &git,
            doc(
                &git,
                &cdn,
                json!({"type": "canary", "canaryPercent": percent}),
            ),
        );
        r.resolve_url(REGISTRY_PATH).await.unwrap();
        let on_cdn: Vec<bool> = (0..10_000)
            .map(|i| {
                r.resolve_for(&format!("install-{i}"), REGISTRY_PATH)
                    .unwrap()
                    .origin
                    == OriginKind::Cdn
            })
            .collect();
        let share = on_cdn.iter().filter(|b| **b).count() as f64 / 100.0;
        assert!((share - percent).abs() <= 1.5, "{percent}% → {share}%");
        // Raising the percent only moves installs from Git to the CDN, never back.
        for (i, was) in on_cdn_before.iter().enumerate() {
            assert!(!*was || on_cdn[i], "install-{i} moved back to Git");
        }
        on_cdn_before = on_cdn;
    }
}

#[test]
fn golden_bucket_vectors() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../test-data/buckets.json"
    ))
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let vectors = v["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 10);
    for case in vectors {
        let id = case["installId"].as_str().unwrap();
        let want = case["bucket"].as_u64().unwrap() as u32;
        assert_eq!(sourcegate::bucket::bucket_of(id).0, want, "{id}");
    }
}

#[tokio::test]
async fn paths_are_joined_not_concatenated() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    let mut d = doc(&git, &cdn, json!({"type": "git"}));
    d["gitUrl"] = json!(format!(
        "{}obsidianmd/obsidian-releases/HEAD",
        git.base_url()
    ));
    let r = resolver(&git, d);
    let res = r.resolve_url("/community-plugins.json").await.unwrap();
    assert_eq!(
        res.url.as_str(),
        format!(
            "{}obsidianmd/obsidian-releases/HEAD/community-plugins.json",
            git.base_url()
        )
    );
    assert!(matches!(
        r.resolve_url("http://evil.example/x").await,
        Err(sourcegate::RequestError::InvalidPath { .. })
    ));
}

#[tokio::test]
async fn reported_outcomes_feed_rate_limits_and_stats() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    let r = Arc::new(resolver(&git, doc(&git, &cdn, json!({"type": "git"}))));
    r.resolve_url(REGISTRY_PATH).await.unwrap();
    r.report_outcome(
        OriginKind::Git,
        sourcegate::Outcome {
            status: Some(429),
            retry_after: Some(Duration::from_secs(120)),
            elapsed: Duration::from_millis(30),
            fallback: false,
        },
    );
    let res = r.resolve(REGISTRY_PATH).unwrap();
    assert_eq!(res.origin, OriginKind::Cdn);
    let s = r.stats();
    assert_eq!((s.total_requests, s.errors, s.rate_limited), (1, 1, 1));
}

/// The seed's own document (docs/seed.md): CDN only, `fallbackOnError: true`, no `gitUrl`.
/// With the CDN down, the builder's default Git URL is the fallback.
#[tokio::test]
async fn the_seed_document_falls_back_to_the_default_git_url() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    let seed = json!({
        "type": "cloudflare",
        "priority": ["cloudflare"],
        "cloudflareUrl": cdn.base_url(),
        "healthCheckEnabled": true,
        "fallbackOnError": true,
    });
    // The validator accepts it unchanged, and it names no Git origin.
    let parsed = sourcegate::MarketplaceConfig::from_value(&seed).unwrap();
    assert!(parsed.origin_url(OriginKind::Git).is_none());
    let r = resolver(&git, seed.clone());
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!((resp.origin, resp.fallback), (OriginKind::Cdn, false));

    cdn.set_fault(Fault::Status(503));
    let r = resolver(&git, seed.clone());
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(resp.origin, OriginKind::Git);
    assert!(resp.fallback);
    assert_eq!(
        resp.url.as_str(),
        format!("{}{REGISTRY_PATH}", git.base_url())
    );
    assert_eq!(&resp.body[..], REGISTRY);
    let s = r.stats();
    assert_eq!((s.errors, s.fallbacks), (0, 1));

    // `fallbackOnError: false`: no fallback, the error stands.
    let mut strict = seed;
    strict["fallbackOnError"] = json!(false);
    let r = resolver(&git, strict);
    assert!(r.fetch(REGISTRY_PATH).await.is_err());
    assert_eq!(r.stats().errors, 1);
}
