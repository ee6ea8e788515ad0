//! The main job end to end: a shortened migration drill (100 installs) with the real control
//! plane on embedded PostgreSQL, loopback origins and the real registry, the fleet autopilot's
//! two phases included (minutes scaled to seconds); asserts on its report.

use std::time::Duration;

use sourcegate_examples::drill::{DrillOptions, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shortened_drill_fails_over_canaries_and_rolls_back() {
    let report = run(DrillOptions {
        installs: 100,
        // Scaled down for a debug build on 2 cores: the Git quota is 4 requests/s (burst 4),
        // normal load 3 requests/s, the spike 15.
        phase_secs: 2.0,
        normal_rps: 3.0,
        spike_rps: 15.0,
        git_limit_per_sec: 4,
        git_burst: 4,
        propagation_deadline: Duration::from_secs(10),
        concurrency: 16,
        progress: false,
        ..DrillOptions::default()
    })
    .await
    .expect("drill runs");
    assert!(report.failures.is_empty(), "{:#?}", report.failures);

    let json = serde_json::to_value(&report).unwrap();
    let phases = json["phases"].as_array().unwrap();
    let names: Vec<&str> = phases.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, sourcegate_examples::drill::PHASES);
    for p in phases {
        for key in [
            "mode",
            "requests",
            "git",
            "cdn",
            "fallbacks",
            "errors",
            "rate_limited",
            "p50_ms",
            "p99_ms",
            "propagation_ms",
            "git_bytes",
            "cdn_bytes",
            "git_200",
            "git_304",
            "cdn_200",
            "cdn_304",
            "fresh",
            "revalidated",
        ] {
            assert!(p.get(key).is_some(), "{key} missing in {p}");
        }
        // Errors only where they are the point: the CDN alone fails a fifth of requests
        // until the autopilot rolls back.
        if p["name"] != "autopilot-rollback" {
            assert_eq!(p["errors"], 0, "{p}");
        }
        assert_eq!(
            p["requests"].as_u64().unwrap(),
            p["git"].as_u64().unwrap() + p["cdn"].as_u64().unwrap() + p["errors"].as_u64().unwrap(),
            "{p}"
        );
    }
    let by_name = |n: &str| phases.iter().find(|p| p["name"] == n).unwrap();
    assert!(
        by_name("git-rate-limited")["rate_limited"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(by_name("git-rate-limited")["cdn"].as_u64().unwrap() > 0);
    assert_eq!(by_name("git")["cdn"], 0);
    assert_eq!(by_name("cdn")["git"], 0);
    assert!(by_name("cdn-down")["fallbacks"].as_u64().unwrap() > 0);
    assert_eq!(by_name("rollback-git")["cdn"], 0);
    // Every flip reached all 100 installs, over SSE, well within the 10 s deadline.
    for n in ["git", "canary-10", "canary-50", "cdn", "rollback-git"] {
        let ms = by_name(n)["propagation_ms"].as_f64().unwrap();
        assert!(ms < 10_000.0, "{n}: {ms} ms");
    }
    // Steady: the installs of rollback-git re-fetch the unchanged registry: 304s and fresh
    // hits only, and Git's bytes per fetch fall far below the first phase's.
    let steady = by_name("steady");
    let (req, cached) = (
        steady["requests"].as_u64().unwrap(),
        steady["fresh"].as_u64().unwrap() + steady["revalidated"].as_u64().unwrap(),
    );
    assert!(cached * 10 >= req * 9, "{steady}");
    assert!(steady["fresh"].as_u64().unwrap() > 0, "{steady}");
    assert!(steady["git_304"].as_u64().unwrap() > 0, "{steady}");
    let first = by_name("git");
    let per_fetch =
        |p: &serde_json::Value| p["git_bytes"].as_f64().unwrap() / p["requests"].as_f64().unwrap();
    assert!(
        per_fetch(steady) * 10.0 <= per_fetch(first),
        "{steady} vs {first}"
    );
    assert!(per_fetch(steady) <= 1024.0, "{steady}");
    // Registry update: the new snapshot is served, never the old one after max-age.
    let update = by_name("registry-update");
    assert!(update["new_snapshot"].as_u64().unwrap() > 0, "{update}");
    assert_eq!(update["old_after_max_age"], 0, "{update}");
    assert!(update["git_200"].as_u64().unwrap() > 0, "{update}");
    assert_eq!(json["pass"], true);
    assert_eq!(json["parameters"]["installs"], 100);
    assert_eq!(json["parameters"]["check"], "plugins");
    assert_eq!(json["registry_update"]["entries"], 2428);
    assert_eq!(json["registry"]["entries"], 6858);
    assert_eq!(
        json["registry"]["sha256"],
        "4a43d57482e664228edf49e282e4d7fc12c0ec0184feb4fff8616447d949e9c5"
    );
    // Seed version 1, the loopback Git document set before the probes start (2), six admin
    // changes (git, canary 10, canary 50, cdn, rollback, and the new snapshot's `integrity`
    // published with it in `registry-update`), then the autopilot's switch (9), the admin's
    // flip to the CDN alone (10) and the autopilot's rollback (11).
    assert_eq!(
        json["history_versions"],
        serde_json::json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    );
    assert_eq!(json["autopilot_versions"], serde_json::json!([9, 11]));
    // The fleet followed that flip, and served the new snapshot under its integrity entry
    // with zero errors.
    assert!(update["propagation_ms"].is_number(), "{update}");
    assert_eq!(update["errors"], 0, "{update}");

    // The autopilot: Git saturated, no admin acting, it switched the fleet to hybrid CDN→Git,
    // once, live, on the quota the installs reported; the fleet followed over SSE.
    let pressure = by_name("autopilot-git-pressure");
    let a = &pressure["autopilot"];
    assert_eq!(a["actions"], 1, "{pressure}");
    assert_eq!(a["dry_runs"], 0, "{pressure}");
    assert_eq!(a["rule"], "gitPressure", "{pressure}");
    assert_eq!(
        (a["from_version"].as_u64(), a["to_version"].as_u64()),
        (Some(8), Some(9))
    );
    let reason = a["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("gitPressure: Git usage ") && reason.contains("CDN healthy"),
        "{reason}"
    );
    assert!(
        a["fleet_followed_ms"].as_f64().unwrap() < 10_000.0,
        "{pressure}"
    );
    assert!(pressure["rate_limited"].as_u64().unwrap() > 0, "{pressure}");
    assert!(pressure["cdn"].as_u64().unwrap() > 0, "{pressure}");
    // After a flip to the CDN alone that fails a fifth of requests, it rolled back to its own
    // hybrid version (9), once; nothing failed once the fleet had followed.
    let rollback = by_name("autopilot-rollback");
    let a = &rollback["autopilot"];
    assert_eq!(a["actions"], 1, "{rollback}");
    assert_eq!(a["rule"], "errorRollback", "{rollback}");
    assert_eq!(
        (a["from_version"].as_u64(), a["to_version"].as_u64()),
        (Some(10), Some(11))
    );
    assert!(
        a["reason"]
            .as_str()
            .unwrap()
            .ends_with("rolling back to version 9"),
        "{rollback}"
    );
    assert_eq!(a["errors_after_follow"], 0, "{rollback}");
    assert!(
        rollback["errors"].as_u64().unwrap() + rollback["stale"].as_u64().unwrap() > 0,
        "{rollback}"
    );
}
