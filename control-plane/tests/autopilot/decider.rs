//! The decider: one replica leads and another takes over when it dies; decisions reach the
//! signed webhook; a dry run records only, and the error rollback restores the previous
//! version once.

use super::*;

#[tokio::test]
async fn one_replica_decides_and_the_other_takes_over_when_it_dies() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    let db = testing::fresh_database().await.unwrap();
    // Git mode, the CDN named (so the control plane probes it) but not used.
    let mut doc = probe_doc(&git.base_url(), Some(&cdn.base_url()));
    doc["type"] = json!("git");
    doc["priority"] = json!(["git"]);
    store_unvalidated(&db.admin_url, doc.clone()).await;
    let hook = receiver(0).await;
    let s = Settings {
        notify_webhook: Some(hook.url.clone()),
        notify_webhook_secret: Some("hook-secret".into()),
        telemetry_minute_secs: 1,
        telemetry_flush_ms: 50,
        autopilot: true,
        autopilot_interval_ms: 100,
        origin_probes: true,
        allow_private_origins: true,
        ..settings(&db)
    };
    let a = sourcegate_control_plane::spawn(s.clone()).await.unwrap();
    let b = sourcegate_control_plane::spawn(s).await.unwrap();
    let http = reqwest::Client::new();
    let ctx_put = |base: String, key: &'static str, value: Value| {
        let http = http.clone();
        async move {
            http.put(format!("{base}/v1/configs/{key}"))
                .bearer_auth(admin_token(Uuid::new_v4()))
                .json(&json!({"value": value, "reason": "test"}))
                .send()
                .await
                .unwrap()
        }
    };
    let r = ctx_put(
        a.base_url(),
        "autopilot",
        json!({"enabled": true, "minInstalls": 3, "cooldownMinutes": 3,
               "gitPressure": {"thresholdPercent": 70, "forMinutes": 2},
               "errorRollback": null}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Git under pressure: 80 % of Git answers are rate limits, four installs, reports to both
    // replicas, every 100 ms.
    let feeder = {
        let (a, b) = (a.base_url(), b.base_url());
        let http = http.clone();
        tokio::spawn(async move {
            for n in 0u64.. {
                // Each install alternates between the replicas, cycle by cycle.
                let base = if (n / 4) % 2 == 0 { &a } else { &b };
                let body = report(&format!("install-{}", n % 4), 10, 8);
                // The replica may be gone (killed below): the other one keeps receiving.
                let _ = http
                    .post(format!("{base}/v1/telemetry"))
                    .json(&body)
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let mut c = sqlx::PgConnection::connect(&db.admin_url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    let first = loop {
        let rows = autopilot_rows(&mut c).await;
        if !rows.is_empty() {
            break rows;
        }
        assert!(Instant::now() < deadline, "the autopilot never acted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(first.len(), 1, "{first:?}");
    let (_, reason, by_first) = &first[0];
    assert!(
        reason.starts_with("gitPressure: Git usage 80 % ≥ 70 % for 2 min; CDN healthy"),
        "{reason}"
    );
    // Replica b serves its in-memory snapshot, which follows the write over LISTEN/NOTIFY: poll
    // (under load the notification can trail the decision's record by a few milliseconds).
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    let now = loop {
        let now: Value = http
            .get(format!("{}/v1/configs/marketplace_source", b.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if now["value"]["type"] == "hybrid" || Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(now["value"]["type"], "hybrid", "{now}");
    assert_eq!(now["value"]["priority"], json!(["cdn", "git"]));
    // Exactly one leader; the replica that decided is the one leading.
    let pid = leader_pid(&mut c).await.expect("a leader");
    let addr_a = a.addr().to_string();
    let (leader, follower) = if by_first.ends_with(&format!(":{}", addr_a)) {
        (a, b)
    } else {
        (b, a)
    };
    assert!(by_first.ends_with(&leader.addr().to_string()), "{by_first}");
    // An admin puts Git back; the cooldown (3 one-second minutes) holds the autopilot, then
    // the leader is killed: its session ends, the follower takes the lead and acts.
    let r = ctx_put(follower.base_url(), "marketplace_source", doc.clone()).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    drop(leader);
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    let second = loop {
        let rows = autopilot_rows(&mut c).await;
        if rows.len() >= 2 {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "the follower never took over: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(second.len(), 2, "{second:?}");
    assert!(
        second[1].2.ends_with(&follower.addr().to_string()),
        "{second:?}"
    );
    let new_pid = leader_pid(&mut c).await.expect("a new leader");
    assert_ne!(new_pid, pid);
    // GET /v1/autopilot on the new leader: it leads, the policy and both decisions.
    let view: Value = http
        .get(format!("{}/v1/autopilot", follower.base_url()))
        .bearer_auth(admin_token(Uuid::new_v4()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["replica"]["leader"], true, "{view}");
    assert_eq!(view["policy"]["enabled"], true);
    assert_eq!(view["policy"]["gitPressure"]["forMinutes"], 2);
    assert_eq!(view["minuteSecs"], 1);
    let decisions = view["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 2, "{view}");
    assert_eq!(decisions[0]["decidedBy"], second[1].2.as_str());
    assert_eq!(decisions[0]["rule"], "gitPressure");
    assert_eq!(decisions[0]["dryRun"], false);
    // Each action was posted to the webhook, signed.
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    while hook.got.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "webhook not called twice");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (sig, _, body) in hook.got.lock().unwrap().iter() {
        let expected = sourcegate_control_plane::notify::signature(b"hook-secret", body);
        assert_eq!(sig.as_deref(), Some(expected.as_str()));
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["rule"], "gitPressure");
    }
    feeder.abort();
    follower.shutdown().await;
}

#[tokio::test]
async fn the_webhook_is_signed_retried_with_backoff_and_guarded() {
    use sourcegate_control_plane::guard::OutboundGuard;
    use sourcegate_control_plane::notify::{Notifier, signature};
    let rx = receiver(2).await;
    let open = std::sync::Arc::new(OutboundGuard::new(true));
    let n = Notifier::new(rx.url.clone(), Some("hook-secret"), &open)
        .unwrap()
        .with_first_backoff(Duration::from_millis(20));
    let started = Instant::now();
    assert_eq!(n.send(&event()).await.unwrap(), 3, "two 500s, then 200");
    // Backoff ceilings 20 ms then 40 ms, each wait at least half its ceiling.
    assert!(started.elapsed() >= Duration::from_millis(30));
    let got = rx.got.lock().unwrap().clone();
    assert_eq!(got.len(), 3);
    // One delivery id, the same on every attempt.
    let id = got[0].1.clone().expect("a delivery id");
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    assert!(got.iter().all(|p| p.1.as_deref() == Some(id.as_str())));
    for (sig, _, body) in &got {
        assert_eq!(
            sig.as_deref(),
            Some(signature(b"hook-secret", body).as_str())
        );
        assert_ne!(sig.as_deref(), Some(signature(b"other", body).as_str()));
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["event"], "autopilot.decision");
        assert_eq!(v["rule"], "gitPressure");
        assert_eq!(v["toVersion"], 5);
        assert_eq!(v["decidedAt"], "2026-12-03T12:00:00Z");
    }
    // Always failing: four attempts, then an error.
    let down = receiver(usize::MAX).await;
    let n = Notifier::new(down.url.clone(), None, &open)
        .unwrap()
        .with_first_backoff(Duration::from_millis(1));
    let e = n.send(&event()).await.unwrap_err().to_string();
    assert!(e.contains("after 4 attempts") && e.contains("500"), "{e}");
    assert_eq!(down.got.lock().unwrap().len(), 4);
    assert_eq!(down.got.lock().unwrap()[0].0, None, "no secret: unsigned");
    // A 503 with `Retry-After: 1` is waited out even though the backoff is 1 ms.
    let busy = receiver_with(1, Some(1)).await;
    let n = Notifier::new(busy.url.clone(), None, &open)
        .unwrap()
        .with_first_backoff(Duration::from_millis(1));
    let started = Instant::now();
    assert_eq!(n.send(&event()).await.unwrap(), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    // A second delivery has its own id.
    let first = busy.got.lock().unwrap()[0].1.clone();
    n.send(&event()).await.unwrap();
    assert_ne!(busy.got.lock().unwrap()[2].1, first);
    // The guard without private origins: refused before any request, not retried.
    let closed = std::sync::Arc::new(OutboundGuard::new(false));
    let rx = receiver(0).await;
    let n = Notifier::new(rx.url.clone(), Some("s"), &closed).unwrap();
    let e = n.send(&event()).await.unwrap_err().to_string();
    assert!(
        e.contains("refused by the outbound guard") && e.contains("after 1 attempts"),
        "{e}"
    );
    assert!(rx.got.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_dry_run_records_only_then_error_rollback_restores_the_previous_version_once() {
    let ctx = start_with(|s| {
        s.telemetry_minute_secs = 1;
        s.telemetry_flush_ms = 50;
        s.autopilot_interval_ms = 100;
    })
    .await;
    let before = ctx.get_config().await;
    let r = put_key(&ctx, "marketplace_source", cdn_doc()).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let policy = |dry: bool| {
        json!({"enabled": true, "dryRun": dry, "minInstalls": 2, "cooldownMinutes": 0,
               "gitPressure": null,
               "errorRollback": {"errorPercent": 5, "forMinutes": 2, "watchMinutes": 60}})
    };
    let r = put_key(&ctx, "autopilot", policy(true)).await;
    assert_eq!(r.status(), 200);
    let feeder = {
        let (http, base) = (ctx.http.clone(), ctx.base.clone());
        tokio::spawn(async move {
            for n in 0u64.. {
                let _ = http
                    .post(format!("{base}/v1/telemetry"))
                    .json(&error_report(&format!("e-{}", n % 3)))
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    };
    let mut c = superuser(&ctx).await;
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    let dry = loop {
        let d = decisions(&mut c).await.unwrap();
        if !d.is_empty() {
            break d;
        }
        assert!(Instant::now() < deadline, "no dry-run decision");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (rule, reason, dry_run, to) = &dry[0];
    assert_eq!(
        (rule.as_str(), *dry_run, *to),
        ("errorRollback", true, None)
    );
    assert!(
        reason.starts_with("errorRollback: errors 11.1 % ≥ 5 % for 2 min within 60 min of version"),
        "{reason}"
    );
    assert_eq!(
        ctx.get_config().await["value"]["type"],
        "cdn",
        "a dry run changes nothing"
    );
    // Live: the rollback happens, once.
    let r = put_key(&ctx, "autopilot", policy(false)).await;
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS);
    loop {
        let now = ctx.get_config().await;
        if now["value"]["type"] == before["value"]["type"] {
            assert_eq!(now["value"]["gitUrl"], before["value"]["gitUrl"]);
            break;
        }
        assert!(Instant::now() < deadline, "never rolled back: {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Errors go on, cooldown 0: the autopilot's own version is not rolled back again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let live: Vec<_> = decisions(&mut c)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| !d.2)
        .collect();
    assert_eq!(live.len(), 1, "{live:?}");
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT changed_role, reason FROM public.app_config_history
          WHERE config_key = 'marketplace_source' AND changed_role = 'autopilot'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].1.contains("rolling back to version"), "{rows:?}");
    feeder.abort();
}
