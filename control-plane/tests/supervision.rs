//! The embedded cluster is supervised: a `kill -9` of the postmaster is followed by a restart
//! (PostgreSQL's crash recovery), the pool and listener reconnect, readiness returns and no
//! acknowledged write is lost; requests during the outage answer 503 `unavailable`. A start
//! that finds a live postmaster on its data directory fails naming it.

mod common;

use std::time::{Duration, Instant};

use common::{SECRET, service_token};
use serde_json::{Value, json};
use sourcegate_control_plane::embedded::{EmbeddedError, EmbeddedOptions, EmbeddedPostgres};
use sourcegate_control_plane::settings::Settings;
use sourcegate_control_plane::spawn;

fn doc(n: u32) -> Value {
    json!({"type":"git","priority":["git"],"gitUrl":format!("https://git{n}.example.com/"),
           "healthCheckEnabled":true,"fallbackOnError":true})
}

#[tokio::test]
async fn postmaster_kill_9_is_recovered_with_no_acknowledged_write_lost() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(Settings {
        data_dir: dir.path().join("data"),
        jwt_secret: Some(SECRET.into()),
        rate_limit_per_sec: 0,
        origin_probes: false,
        // Durable settings: the point is that an acknowledged commit survives.
        embedded_unsafe_fast: false,
        ..Settings::default()
    })
    .await
    .unwrap();
    let base = server.base_url();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let put = |n: u32| {
        http.put(format!("{base}/v1/configs/marketplace_source"))
            .bearer_auth(service_token())
            .json(&json!({"value": doc(n)}))
            .send()
    };
    let mut acknowledged = 1;
    for n in 2..=4 {
        let r = put(n).await.unwrap();
        assert_eq!(r.status(), 200);
        acknowledged = r.json::<Value>().await.unwrap()["version"]
            .as_i64()
            .unwrap();
    }
    let pid = server.embedded().unwrap().postmaster_pid().unwrap();
    let killed = Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    // During the outage a write answers 503 unavailable (never 500), or succeeds if the
    // restart already happened.
    let r = put(99).await.unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if status == 200 {
        acknowledged = body["version"].as_i64().unwrap();
    } else {
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["code"], "unavailable");
    }
    // Ready again within 15 s.
    loop {
        if let Ok(r) = http.get(format!("{base}/ready")).send().await
            && r.status() == 200
        {
            break;
        }
        if killed.elapsed() > Duration::from_secs(15) {
            let log = std::fs::read_to_string(dir.path().join("data/pg/postgres.log"))
                .unwrap_or_default();
            let events: Vec<&str> = log
                .lines()
                .filter(|l| !l.contains("is starting up"))
                .collect();
            panic!(
                "not ready 15 s after kill -9; postgres.log (without 'starting up' lines):\n{}",
                events[events.len().saturating_sub(40)..].join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recovered = killed.elapsed();
    let new_pid = server.embedded().unwrap().postmaster_pid().unwrap();
    assert_ne!(new_pid, pid);
    // Every acknowledged version is there, and writes work again.
    let v: Value = http
        .get(format!("{base}/v1/configs/marketplace_source"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["version"].as_i64().unwrap(), acknowledged);
    let r = put(5).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["version"]
            .as_i64()
            .unwrap(),
        acknowledged + 1
    );
    let log = std::fs::read_to_string(dir.path().join("data/pg/postgres.log")).unwrap_or_default();
    let restarts = log
        .matches("sourcegate supervisor: postgres exited")
        .count();
    eprintln!("recovered {recovered:?} after kill -9 ({restarts} restart attempts)");
    server.shutdown().await;
}

#[tokio::test]
async fn a_second_start_on_a_live_data_directory_names_the_postmaster() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || EmbeddedOptions {
        root: dir.path().join("pg"),
        bin_dir: None,
        fast_unsafe: true,
    };
    let first = EmbeddedPostgres::start(opts()).await.unwrap();
    let pid = first.postmaster_pid().unwrap();
    let t0 = Instant::now();
    let err = EmbeddedPostgres::start(opts()).await.unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(12), "{:?}", t0.elapsed());
    match &err {
        EmbeddedError::InUse { pid: p, .. } => assert_eq!(*p, pid),
        other => panic!("unexpected: {other}"),
    }
    assert!(err.to_string().contains(&pid.to_string()));
    first.stop();
}
