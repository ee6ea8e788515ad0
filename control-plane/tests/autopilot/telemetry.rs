//! The fleet telemetry the autopilot decides from: persisted per minute across restarts and
//! replicas, pruned after its retention, and fed by resolvers' quota headers and rate limits.

use super::*;

#[tokio::test]
async fn fleet_telemetry_survives_a_restart_and_adds_up_over_two_replicas() {
    let db = testing::fresh_database().await.unwrap();
    let a = sourcegate_control_plane::spawn(replica_settings(&db))
        .await
        .unwrap();
    let b = sourcegate_control_plane::spawn(replica_settings(&db))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    // Three installs, their reports split over the two replicas; one install reports to both.
    post(&http, &a.base_url(), &report("i1", 10, 1)).await;
    post(&http, &a.base_url(), &report("i2", 20, 2)).await;
    post(&http, &b.base_url(), &report("i3", 30, 3)).await;
    post(&http, &b.base_url(), &report("i1", 5, 0)).await;
    // The summary of either replica is the fleet's, once the other has flushed.
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    for base in [a.base_url(), b.base_url()] {
        loop {
            let s = summary(&http, &base, 5).await;
            if total(&s, |m| m["git"]["requests"].as_u64().unwrap()) == 65 {
                assert_eq!(total(&s, |m| m["git"]["rateLimited"].as_u64().unwrap()), 6);
                assert_eq!(total(&s, |m| m["reports"].as_u64().unwrap()), 4);
                assert_eq!(s["installs"]["total"], 3, "{s}");
                assert_eq!(s["installs"]["byMode"]["git"], 3);
                assert_eq!(s["minuteSecs"], 60);
                break;
            }
            assert!(Instant::now() < deadline, "replicas do not add up: {s}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // A report received just before a graceful shutdown is flushed by it.
    post(&http, &a.base_url(), &report("i4", 100, 0)).await;
    a.shutdown().await;
    b.shutdown().await;
    let mut c = sqlx::PgConnection::connect(&db.admin_url).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM app_private.telemetry_minutes")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert!(rows >= 1);
    // A new replica on the same database shows the same fleet.
    let again = sourcegate_control_plane::spawn(replica_settings(&db))
        .await
        .unwrap();
    let s = summary(&http, &again.base_url(), 5).await;
    assert_eq!(
        total(&s, |m| m["git"]["requests"].as_u64().unwrap()),
        165,
        "{s}"
    );
    assert_eq!(s["installs"]["total"], 4);
    // Git usage without quota headers: the rate-limited share (6 of 165).
    let usage: f64 = s["minutes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["gitUsagePercent"].as_f64())
        .fold(0.0, f64::max);
    assert!(usage > 0.0 && usage < 10.0, "{s}");
    again.shutdown().await;
}

#[tokio::test]
async fn retention_prunes_old_minutes() {
    let db = testing::fresh_database().await.unwrap();
    let s = Settings {
        telemetry_minute_secs: 1,
        telemetry_retention_minutes: 2,
        ..replica_settings(&db)
    };
    let server = sourcegate_control_plane::spawn(s).await.unwrap();
    let http = reqwest::Client::new();
    post(&http, &server.base_url(), &report("old", 10, 0)).await;
    let mut c = sqlx::PgConnection::connect(&db.admin_url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    while stored_rows(&mut c).await == 0 {
        assert!(Instant::now() < deadline, "never flushed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Two one-second minutes of retention, pruned once a minute (one second here).
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    while stored_rows(&mut c).await > 0 {
        assert!(Instant::now() < deadline, "never pruned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_resolver_reports_git_quota_headers_and_403_rate_limits() {
    let ctx = start_with(|s| s.telemetry_flush_ms = 50).await;
    let mut opts = OriginOptions::new(OriginStyle::GitRaw);
    opts.rate_limit = Some((2, Duration::from_secs(600)));
    opts.limit_answer = sourcegate_testkit::LimitAnswer::ForbiddenWithReset;
    // Every fetch goes to the origin (a conditional request each time).
    opts.cache_control = Some("no-cache".into());
    let git = TestOrigin::start(opts).await.unwrap();
    let resolver = sourcegate::Resolver::builder(url::Url::parse(&git.base_url()).unwrap())
        .install_id("quota-install")
        .health_checks(false)
        .telemetry(sourcegate::telemetry::TelemetrySettings {
            endpoint: Some(url::Url::parse(&ctx.url("/v1/telemetry")).unwrap()),
            interval: Duration::from_millis(50),
            enabled: true,
        })
        .build()
        .unwrap();
    for _ in 0..4 {
        // The third and fourth are answered 403 + x-ratelimit-remaining: 0.
        let _ = resolver.fetch("community-plugins.json").await;
    }
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    loop {
        let s = summary(&ctx.http, &ctx.base, 5).await;
        let quota = s["minutes"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|m| !m["gitQuota"].is_null())
            .cloned();
        if let Some(m) = quota {
            assert_eq!(m["gitQuota"]["remaining"], 0, "{m}");
            assert_eq!(m["gitQuota"]["limit"], 2, "{m}");
            assert!(m["gitQuota"]["reset"].as_u64() > Some(1_700_000_000), "{m}");
            assert_eq!(m["gitUsagePercent"], 100.0, "{m}");
            assert!(
                total(&s, |m| m["git"]["rateLimited"].as_u64().unwrap()) >= 1,
                "{s}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no quota reported: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
