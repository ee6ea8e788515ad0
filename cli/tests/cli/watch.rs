//! `sourcegate watch`: one line per version, and a reconnect that resumes after a restart.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_one_line_per_change() {
    let cp = control_plane(false).await;
    let url = cp.server.base_url();
    let mut child = command(&url, None, &["watch", "--count", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("first event")
        .unwrap()
        .unwrap();
    assert!(first.contains("  v1  git  by seed"), "{first}");

    let r = sg(
        &url,
        Some(&cp.admin),
        &["set", "cdn", "--cdn-url", "https://cdn.example.test/"],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    let second = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("second event")
        .unwrap()
        .unwrap();
    assert!(second.contains("  v2  cdn  by "), "{second}");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("watch exits after --count events")
        .unwrap();
    assert!(status.success());
    cp.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reconnects_and_resumes_after_a_restart() {
    let cp = control_plane(false).await;
    let addr = cp.server.addr();
    let url = cp.server.base_url();
    let mut child = command(&url, None, &["--json", "watch", "--count", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("first event")
        .unwrap()
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&first).unwrap()["version"], 1);

    // The control plane goes away (its SSE streams end), then comes back on the same address
    // and database; meanwhile an admin changed the configuration.
    let Cp { server, db, admin } = cp;
    server.shutdown().await;
    let back = control_plane_on(db, false, addr).await;
    let r = sg(
        &url,
        Some(&admin),
        &["set", "cdn", "--cdn-url", "https://cdn.example.test/"],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");

    let second = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("an event after the restart")
        .unwrap()
        .unwrap();
    let v: Value = serde_json::from_str(&second).unwrap();
    assert_eq!(
        v["version"], 2,
        "resumed after version 1, not a repeat of it"
    );
    assert_eq!(v["value"]["type"], "cdn");
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("watch exits after --count events")
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("reconnecting") || stderr.contains("retrying"),
        "{stderr}"
    );
    back.server.shutdown().await;
}
