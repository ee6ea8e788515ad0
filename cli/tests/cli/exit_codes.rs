//! The CLI's documented exit codes: 3 unreachable, 4 no admin token, 5 a stale expected
//! version, 6 an invalid document (nothing sent), and an unchanged change refused unless forced.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_without_an_admin_token_exit_4() {
    let cp = control_plane(false).await;
    let url = cp.server.base_url();
    let args = ["set", "cdn", "--cdn-url", "https://cdn.example.test/"];

    let r = sg(&url, None, &args).await;
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("401 unauthorized"), "{r:?}");
    assert!(r.stderr.contains("SOURCEGATE_TOKEN"), "hint: {r:?}");

    let r = sg(&url, Some("not-a-jwt"), &["history"]).await;
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("401 unauthorized"), "{r:?}");

    // A valid token of a user who is not an admin: 403, same exit code.
    let user = token(Role::Authenticated, false);
    let r = sg(&url, Some(&user), &args).await;
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("403 forbidden"), "{r:?}");

    // JSON errors for scripts.
    let r = sg(&url, None, &["--json", "rollback", "--to", "1"]).await;
    assert_eq!(r.code, 4, "{r:?}");
    let e: Value = serde_json::from_str(r.stderr.trim()).unwrap();
    assert_eq!(e["error"]["code"], "unauthorized");
    assert_eq!(e["error"]["status"], 401);
    assert_eq!(e["error"]["exit"], 4);

    assert_eq!(current(&url).await["version"], 1, "nothing changed");
    cp.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_expected_version_exits_5() {
    let cp = control_plane(false).await;
    let url = cp.server.base_url();
    let admin = Some(cp.admin.as_str());
    let r = sg(
        &url,
        admin,
        &["set", "cdn", "--cdn-url", "https://cdn.example.test/"],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");

    // Another admin's view was version 1: refused, nothing overwritten.
    let r = sg(&url, admin, &["set", "git", "--expected-version", "1"]).await;
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("409 version_conflict"), "{r:?}");
    let r = sg(
        &url,
        admin,
        &["rollback", "--to", "1", "--expected-version", "1"],
    )
    .await;
    assert_eq!(r.code, 5, "{r:?}");
    let c = current(&url).await;
    assert_eq!(c["version"], 2);
    assert_eq!(c["value"]["type"], "cdn");
    cp.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_exits_3() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    for args in [
        vec!["status"],
        vec!["set", "git"],
        vec!["watch", "--count", "1"],
    ] {
        let r = sg(&url, Some("t"), &args).await;
        assert_eq!(r.code, 3, "{args:?}: {r:?}");
        assert!(r.stderr.contains("cannot reach the control plane"), "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_document_exits_6_without_sending() {
    let cp = control_plane(false).await;
    let url = cp.server.base_url();
    // The seed is Git-only: `set cdn` with no CDN URL anywhere is invalid. No token is given,
    // so had the PUT been sent the server would have answered 401 (exit 4): exit 6 proves the
    // document was refused locally.
    let r = sg(&url, None, &["set", "cdn", "--reason", "oops"]).await;
    assert_eq!(r.code, 6, "{r:?}");
    assert!(r.stderr.contains("nothing was sent"), "{r:?}");
    assert!(r.stderr.contains("cdnUrl"), "{r:?}");
    assert!(r.stderr.contains("--cdn-url"), "hint: {r:?}");

    let r = sg(&url, None, &["--json", "set", "canary", "--percent", "5"]).await;
    assert_eq!(r.code, 6, "{r:?}");
    let e: Value = serde_json::from_str(r.stderr.trim()).unwrap();
    assert_eq!(e["error"]["field"], "cdnUrl");

    // Values clap can check never reach the network at all: usage error, even with no server.
    let r = sg(
        "http://127.0.0.1:9",
        None,
        &["set", "canary", "--percent", "150"],
    )
    .await;
    assert_eq!(r.code, 2, "{r:?}");

    // --dry-run prints the valid document and sends nothing.
    let r = sg(
        &url,
        None,
        &[
            "--json",
            "set",
            "canary",
            "--percent",
            "5",
            "--cdn-url",
            "https://cdn.example.test/",
            "--dry-run",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(v["expectedVersion"], 1);
    assert_eq!(v["value"]["type"], "canary");
    assert_eq!(v["value"]["version"], 2);
    assert_eq!(current(&url).await["version"], 1);
    cp.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_set_or_rollback_is_refused_unless_forced() {
    let cp = control_plane(false).await;
    let url = cp.server.base_url();
    let admin = Some(cp.admin.as_str());
    let set = ["set", "cdn", "--cdn-url", "https://cdn.example.test/"];
    let r = sg(&url, admin, &set).await;
    assert_eq!(r.code, 0, "{r:?}");
    let r = sg(&url, admin, &set).await;
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("409 no_change"), "{r:?}");
    assert!(r.stderr.contains("--force"), "hint: {r:?}");
    assert_eq!(current(&url).await["version"], 2, "nothing written");
    let r = sg(&url, admin, &[&set[..], &["--force"]].concat()).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(current(&url).await["version"], 3);
    let r = sg(&url, admin, &["rollback", "--to", "2"]).await;
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("409 no_change"), "{r:?}");
    let r = sg(&url, admin, &["rollback", "--to", "2", "--force"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(current(&url).await["version"], 4);
}
