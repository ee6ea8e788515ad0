//! Drives the built `sourcegate` binary against a live control plane (the real service on
//! 127.0.0.1:0 over a fresh database of the shared embedded PostgreSQL cluster) and loopback
//! origins. Nothing here reaches the public internet: documents pointing at public hosts are
//! only ever stored, never probed. This file holds the helpers and the commands' main paths;
//! `exit_codes.rs` the documented exit codes, `watch.rs` `sourcegate watch`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use sourcegate_control_plane::auth::{Claims, Role, mint_token};
use sourcegate_control_plane::embedded::testing::{self, TestDatabase};
use sourcegate_control_plane::settings::Settings;
use sourcegate_control_plane::{Server, spawn};
use sourcegate_testkit::{Fault, OriginOptions, OriginPair, OriginStyle, TestOrigin};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use uuid::Uuid;

mod exit_codes;
mod watch;

const SECRET: &str = "cli-test-secret-with-at-least-32-characters";
const BIN: &str = env!("CARGO_BIN_EXE_sourcegate");

struct Cp {
    server: Server,
    db: TestDatabase,
    admin: String,
}

async fn control_plane(allow_private_origins: bool) -> Cp {
    let db = testing::fresh_database().await.expect("test database");
    control_plane_on(db, allow_private_origins, Settings::default().listen).await
}

async fn control_plane_on(
    db: TestDatabase,
    allow_private_origins: bool,
    listen: std::net::SocketAddr,
) -> Cp {
    let s = Settings {
        listen,
        database_url: Some(db.admin_url.clone()),
        authenticator_url: Some(db.authenticator_url.clone()),
        jwt_secret: Some(SECRET.into()),
        rate_limit_per_sec: 0,
        db_pool_size: 4,
        sse_heartbeat_secs: 1,
        allow_private_origins,
        // The seeded document names the public Git host: never probe it from a test.
        origin_probes: false,
        ..Settings::default()
    };
    let server = spawn(s).await.expect("control plane");
    let admin = token(Role::Authenticated, true);
    Cp { server, db, admin }
}

fn token(role: Role, admin: bool) -> String {
    mint_token(
        SECRET.as_bytes(),
        &Claims::new(role, Some(Uuid::new_v4()), admin, 3600),
    )
    .unwrap()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn command(url: &str, token: Option<&str>, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(BIN);
    c.env_remove("SOURCEGATE_TOKEN")
        .env("SOURCEGATE_URL", url)
        .args(["--timeout-secs", "5"])
        .args(args)
        .kill_on_drop(true);
    if let Some(t) = token {
        c.env("SOURCEGATE_TOKEN", t);
    }
    c
}

/// Runs the binary to completion (async, so the in-process server keeps serving).
async fn sg(url: &str, token: Option<&str>, args: &[&str]) -> Run {
    let out: Output =
        tokio::time::timeout(Duration::from_secs(30), command(url, token, args).output())
            .await
            .expect("sourcegate did not finish within 30 s")
            .expect("running sourcegate");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn current(url: &str) -> Value {
    reqwest::get(format!("{url}/v1/configs/marketplace_source"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_cdn_then_canary_history_and_rollback() {
    let cp = control_plane(false).await;
    let url = cp.server.base_url();
    let admin = Some(cp.admin.as_str());

    let r = sg(
        &url,
        admin,
        &[
            "set",
            "cdn",
            "--cdn-url",
            "https://cdn.example.test/",
            "--reason",
            "move to the CDN",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("version 1 → 2 (git → cdn)"), "{r:?}");
    let c = current(&url).await;
    assert_eq!(c["version"], 2);
    assert_eq!(c["value"]["type"], "cdn");
    assert_eq!(c["value"]["cdnUrl"], "https://cdn.example.test/");
    assert_eq!(
        c["value"]["version"], 2,
        "the document's own version follows"
    );
    // Kept from the seed.
    assert_eq!(
        c["value"]["gitUrl"],
        "https://raw.githubusercontent.com/obsidianmd/obsidian-releases/HEAD/"
    );

    let r = sg(
        &url,
        admin,
        &[
            "--json",
            "set",
            "canary",
            "--percent",
            "10",
            "--reason",
            "canary 10%",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(v["version"], 3);
    assert_eq!(v["value"]["type"], "canary");
    assert_eq!(v["value"]["canaryPercent"], 10.0);

    let r = sg(&url, admin, &["history", "--limit", "5"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    for needle in [
        "move to the CDN",
        "canary 10%",
        "canary 10% on cdn",
        "type: git → cdn",
        "INSERT",
    ] {
        assert!(r.stdout.contains(needle), "missing {needle}: {r:?}");
    }
    let r = sg(&url, admin, &["--json", "history", "--limit", "2"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["version"], 3);
    assert_eq!(items[0]["reason"], "canary 10%");
    assert_eq!(items[0]["newValue"]["type"], "canary");
    assert_eq!(items[1]["version"], 2);
    assert_eq!(items[1]["reason"], "move to the CDN");

    let r = sg(
        &url,
        admin,
        &["rollback", "--to", "2", "--reason", "canary looked bad"],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("version 3 → 4"), "{r:?}");
    let c = current(&url).await;
    assert_eq!(c["version"], 4);
    assert_eq!(c["value"]["type"], "cdn");
    let r = sg(&url, admin, &["--json", "history", "--limit", "1"]).await;
    assert_eq!(r.json()["items"][0]["reason"], "canary looked bad");

    // Rolling back to a version that never existed: 404, exit 1, code shown.
    let r = sg(&url, admin, &["rollback", "--to", "99"]).await;
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("404 not_found"), "{r:?}");

    // `status` without probes reads the same version, without a token.
    let r = sg(&url, None, &["--json", "status", "--no-probe"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["config"]["version"], 4);
    cp.server.shutdown().await;
}

/// The "Updated by" value of a text `status`/`set` answer.
fn updated_by(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Updated by"))
        .unwrap_or_else(|| panic!("no Updated by line: {stdout}"))
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actor_is_named_in_text_and_json() {
    let cp = control_plane(false).await;
    let url = cp.server.base_url();
    // A service-role token without `sub` (what `mint-token --role service_role` prints) and an
    // admin user.
    let service = mint_token(
        SECRET.as_bytes(),
        &Claims::new(Role::ServiceRole, None, false, 3600),
    )
    .unwrap();
    let user = Uuid::new_v4();
    let admin = mint_token(
        SECRET.as_bytes(),
        &Claims::new(Role::Authenticated, Some(user), true, 3600),
    )
    .unwrap();

    // Version 1 is the migration's seed, with or without a token.
    let r = sg(&url, Some(&service), &["status", "--no-probe"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(updated_by(&r.stdout), "seed", "{r:?}");
    let r = sg(&url, None, &["--json", "status", "--no-probe"]).await;
    assert_eq!(r.json()["config"]["actor"], "seed", "{r:?}");

    // A service-role change is the service role's, not the seed's.
    let r = sg(
        &url,
        Some(&service),
        &["set", "cdn", "--cdn-url", "https://cdn.example.test/"],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(updated_by(&r.stdout), "service_role", "{r:?}");
    let r = sg(&url, Some(&service), &["--json", "status", "--no-probe"]).await;
    assert_eq!(r.json()["config"]["actor"], "service_role", "{r:?}");
    assert_eq!(r.json()["config"]["updatedBy"], Value::Null, "{r:?}");

    // An admin user's change names the user, in text and JSON.
    let r = sg(
        &url,
        Some(&admin),
        &["--json", "set", "canary", "--percent", "10"],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["actor"], format!("user {user}"), "{r:?}");
    assert_eq!(r.json()["updatedBy"], user.to_string(), "{r:?}");
    let r = sg(&url, None, &["status", "--no-probe"]).await;
    assert_eq!(updated_by(&r.stdout), format!("user {user}"), "{r:?}");

    // The history names each writer; a rollback by the service role is its own.
    let r = sg(
        &url,
        Some(&service),
        &["--json", "rollback", "--to", "2", "--reason", "back"],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["actor"], "service_role", "{r:?}");
    let r = sg(&url, Some(&admin), &["--json", "history"]).await;
    let actors: Vec<Value> = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["actor"].clone())
        .collect();
    assert_eq!(
        actors,
        vec![
            Value::from("service_role"),
            Value::from(format!("user {user}")),
            Value::from("service_role"),
            Value::from("seed"),
        ],
        "{r:?}"
    );
    let r = sg(&url, Some(&admin), &["history"]).await;
    let by_version: Vec<(String, String)> = r
        .stdout
        .lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let v = cols.next()?.parse::<u32>().ok()?;
            let _when = cols.next()?;
            let _op = cols.next()?;
            let by = cols.next()?;
            let by = if by == "user" {
                format!("user {}", cols.next()?)
            } else {
                by.to_owned()
            };
            Some((v.to_string(), by))
        })
        .collect();
    assert_eq!(
        by_version,
        vec![
            ("4".to_owned(), "service_role".to_owned()),
            ("3".to_owned(), format!("user {user}")),
            ("2".to_owned(), "service_role".to_owned()),
            ("1".to_owned(), "seed".to_owned()),
        ],
        "{r:?}"
    );
    cp.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_what_each_origin_answers() {
    // Loopback origins in the document: the server must allow private origins.
    let cp = control_plane(true).await;
    let url = cp.server.base_url();
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    cdn.set_fault(Fault::Status(503));
    let r = sg(
        &url,
        Some(&cp.admin),
        &[
            "set",
            "hybrid",
            "--order",
            "git,cdn",
            "--git-url",
            &git.base_url(),
            "--cdn-url",
            &cdn.base_url(),
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");

    let r = sg(&url, None, &["status"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("hybrid git→cdn"), "{r:?}");
    let git_row = r.stdout.lines().find(|l| l.starts_with("git ")).unwrap();
    assert!(
        git_row.contains(" 200 ") && git_row.ends_with("ok"),
        "{r:?}"
    );
    let cdn_row = r.stdout.lines().find(|l| l.starts_with("cdn ")).unwrap();
    assert!(cdn_row.contains(" 503 "), "{r:?}");

    let r = sg(&url, None, &["--json", "status"]).await;
    let v = r.json();
    assert_eq!(v["config"]["version"], 2);
    let origins = v["origins"].as_array().unwrap();
    assert_eq!(origins[0]["origin"], "git");
    assert_eq!(
        origins[0]["url"],
        format!("{}community-plugins.json", git.base_url())
    );
    assert_eq!(origins[0]["status"], 200);
    assert!(origins[0]["latencyMs"].as_f64().unwrap() >= 0.0);
    assert_eq!(origins[1]["status"], 503);
    assert!(git.hits() >= 2 && cdn.hits() >= 2);
    cp.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_probes_through_the_control_plane() {
    let origin = TestOrigin::start(OriginOptions::new(OriginStyle::Cdn))
        .await
        .unwrap();
    let registry = format!("{}community-plugins.json", origin.base_url());

    // Default server: loopback targets are refused (SSRF guard), shown with its code.
    let guarded = control_plane(false).await;
    let r = sg(&guarded.server.base_url(), None, &["test", &registry]).await;
    assert_eq!(r.code, 4, "admin only: {r:?}");
    let r = sg(
        &guarded.server.base_url(),
        Some(&guarded.admin),
        &["test", &registry],
    )
    .await;
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("400 forbidden_target"), "{r:?}");
    guarded.server.shutdown().await;

    let cp = control_plane(true).await;
    let url = cp.server.base_url();
    let r = sg(&url, Some(&cp.admin), &["test", &registry]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("entries"), "{r:?}");
    let r = sg(&url, Some(&cp.admin), &["--json", "test", &registry]).await;
    let v = r.json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["validRegistry"], true);
    assert!(v["entries"].as_u64().unwrap() > 100);

    origin.set_fault(Fault::Status(500));
    let r = sg(&url, Some(&cp.admin), &["test", &registry]).await;
    assert_eq!(r.code, 7, "{r:?}");
    assert!(r.stdout.contains("failed"), "{r:?}");
    cp.server.shutdown().await;
}

#[tokio::test]
async fn help_reads_well() {
    let r = sg("http://127.0.0.1:9", None, &["--help"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    for needle in [
        "Exit codes:",
        "SOURCEGATE_URL",
        "sourcegate rollback --to 3",
        "watch",
    ] {
        assert!(r.stdout.contains(needle), "missing {needle}: {r:?}");
    }
    let r = sg("http://127.0.0.1:9", None, &["set", "canary", "--help"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("--percent"), "{r:?}");
    let r = sg("http://127.0.0.1:9", None, &["set"]).await;
    assert_eq!(r.code, 2, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autopilot_set_status_and_off() {
    let cp = control_plane(false).await;
    let url = cp.server.base_url();
    let admin = Some(cp.admin.as_str());
    // No policy yet: off, with the defaults.
    let r = sg(&url, admin, &["--json", "autopilot", "status"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(
        (v["version"].as_i64(), v["policy"]["enabled"].as_bool()),
        (Some(0), Some(false))
    );
    assert_eq!(v["policy"]["gitPressure"]["thresholdPercent"], 70.0);
    // On, in dry run, with thresholds and a canary target.
    let r = sg(
        &url,
        admin,
        &[
            "autopilot",
            "set",
            "--dry-run",
            "--threshold-percent",
            "80",
            "--for-minutes",
            "3",
            "--target",
            "canary:25",
            "--min-installs",
            "50",
            "--reason",
            "try it",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("Autopilot on (version 1), dry run"),
        "{r:?}"
    );
    let r = sg(&url, admin, &["autopilot", "status"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("Autopilot: on, dry run (policy version 1"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("Git usage ≥ 80 % for 3 min, CDN healthy → canary 25 %"),
        "{r:?}"
    );
    assert!(r.stdout.contains("at least 50 reporting installs"), "{r:?}");
    assert!(r.stdout.contains("Decisions: none yet"), "{r:?}");
    // Refused by the server's validator: exit 6, nothing written.
    let r = sg(&url, admin, &["autopilot", "set", "--min-installs", "0"]).await;
    assert_eq!(r.code, 6, "{r:?}");
    assert!(r.stderr.contains("minInstalls"), "{r:?}");
    // Without a token: exit 4.
    let r = sg(&url, None, &["autopilot", "off"]).await;
    assert_eq!(r.code, 4, "{r:?}");
    let r = sg(
        &url,
        admin,
        &["--json", "autopilot", "off", "--reason", "done"],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(
        (v["version"].as_i64(), v["value"]["enabled"].as_bool()),
        (Some(2), Some(false))
    );
    assert_eq!(
        v["value"]["gitPressure"]["thresholdPercent"], 80.0,
        "thresholds kept"
    );
    let r = sg(&url, admin, &["autopilot", "set", "--target", "sideways"]).await;
    assert_eq!(r.code, 2, "{r:?}");
}
