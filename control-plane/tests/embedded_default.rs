//! The development default: no `DATABASE_URL`, no JWT secret. The service starts its own
//! PostgreSQL in the data directory, generates a secret there, and the `mint-token` subcommand
//! of the binary signs an admin token with it. Also: the LISTEN session survives being killed.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use sourcegate_control_plane::settings::Settings;

#[tokio::test]
async fn embedded_default_generated_secret_and_cli_token() {
    let dir = std::env::temp_dir().join(format!("sourcegate-cp-default-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Like `tempfile::tempdir()`: mode 0700, so a root process must make it searchable for the
    // unprivileged PostgreSQL user.
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
    }
    let settings = Settings {
        data_dir: dir.clone(),
        embedded_unsafe_fast: true,
        rate_limit_per_sec: 0,
        // The seeded document names the public Git host: never probe it from a test.
        origin_probes: false,
        ..Settings::default()
    };
    let server = sourcegate_control_plane::spawn(settings).await.unwrap();
    let pg = server.embedded().expect("embedded cluster");
    assert!(pg.root().join("data/PG_VERSION").is_file());
    assert!(dir.join("jwt-secret").is_file());
    let http = reqwest::Client::new();
    let base = server.base_url();

    // mint-token from the binary, reading <data-dir>/jwt-secret.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sourcegate-control-plane"))
        .args([
            "mint-token",
            "--role",
            "authenticated",
            "--admin",
            "--ttl-secs",
            "60",
        ])
        .env("SOURCEGATE_DATA_DIR", &dir)
        .env_remove("SOURCEGATE_JWT_SECRET")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(token.split('.').count(), 3);

    // SSE client, then kill the server's LISTEN session: the flip must still arrive.
    let resp = http
        .get(format!("{base}/v1/configs/marketplace_source/events"))
        .send()
        .await
        .unwrap();
    let mut body = resp.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(5), body.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("id: 1"));
    {
        use sqlx::Connection;
        let mut su = sqlx::PgConnection::connect(&pg.superuser_url("sourcegate"))
            .await
            .unwrap();
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = 'sourcegate' AND query ILIKE 'LISTEN%'",
        )
        .fetch_all(&mut su)
        .await
        .unwrap();
        assert_eq!(killed, vec![true], "exactly one LISTEN session per process");
    }
    let r = http
        .put(format!("{base}/v1/configs/marketplace_source"))
        .bearer_auth(&token)
        .json(&json!({"value": {"type":"cdn","cdnUrl":"https://cdn.example.com/"}, "reason": "cli token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["version"], 2);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains("id: 2") {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("flip delivered after the listener reconnected")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(body);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
