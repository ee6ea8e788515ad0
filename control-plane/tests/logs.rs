//! The binary's logs written to a file: no ANSI escape codes in text mode, one JSON object per
//! line with `--log-format json` / `SOURCEGATE_LOG_FORMAT=json`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sourcegate_control_plane::embedded::testing;

const SECRET: &str = "test-secret-with-at-least-32-characters!";

struct Run {
    child: Child,
    log: PathBuf,
    dir: PathBuf,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the service with stderr to a file; `format` is passed as a flag, else in the env.
async fn start(format: Option<&str>, env_format: Option<&str>) -> Run {
    let db = testing::fresh_database().await.expect("test database");
    let dir = std::env::temp_dir().join(format!("sg-logs-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("stderr.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sourcegate-control-plane"));
    cmd.env("DATABASE_URL", &db.admin_url)
        .env("SOURCEGATE_AUTHENTICATOR_URL", &db.authenticator_url)
        .env("SOURCEGATE_JWT_SECRET", SECRET)
        .env("SOURCEGATE_LISTEN", "127.0.0.1:0")
        .env("SOURCEGATE_ORIGIN_PROBES", "false")
        .env("SOURCEGATE_DATA_DIR", &dir)
        .env("RUST_LOG", "info,tower_http=debug")
        .env_remove("SOURCEGATE_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    if let Some(f) = env_format {
        cmd.env("SOURCEGATE_LOG_FORMAT", f);
    }
    if let Some(f) = format {
        cmd.args(["--log-format", f]);
    }
    let child = cmd.spawn().unwrap();
    Run { child, log, dir }
}

/// Waits until the log names the bound address; returns it.
fn wait_for_addr(log: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
                && v["fields"]["message"] == "control plane listening"
            {
                return v["fields"]["addr"].as_str().unwrap().to_owned();
            }
            if let Some(i) = line.find("listening on http://") {
                return line[i + "listening on http://".len()..].trim().to_owned();
            }
        }
        assert!(Instant::now() < deadline, "no address in the log:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A request that succeeds and one that fails, so the log has request spans and a warning.
async fn traffic(addr: &str) {
    let http = reqwest::Client::new();
    let ok = http
        .get(format!("http://{addr}/v1/configs/marketplace_source"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let bad = http
        .put(format!("http://{addr}/v1/configs/marketplace_source"))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
}

fn stop(mut run: Run) -> Vec<u8> {
    let _ = Command::new("kill")
        .args(["-TERM", &run.child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while run.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read(&run.log).unwrap()
}

#[tokio::test]
async fn text_logs_in_a_file_have_no_colour_codes() {
    let run = start(None, None).await;
    let addr = wait_for_addr(&run.log);
    traffic(&addr).await;
    let log = stop(run);
    let text = String::from_utf8_lossy(&log);
    assert!(text.contains("control plane listening"), "{text}");
    assert!(text.contains("INFO"), "{text}");
    assert!(
        !log.contains(&0x1b),
        "ANSI escape codes in a log file:\n{text}"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    for (flag, env) in [(Some("json"), None), (None, Some("json"))] {
        let run = start(flag, env).await;
        let addr = wait_for_addr(&run.log);
        traffic(&addr).await;
        let log = stop(run);
        assert!(!log.contains(&0x1b));
        let text = String::from_utf8(log).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(lines.len() >= 3, "{text}");
        for line in &lines {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n{text}"));
            assert!(v["timestamp"].is_string(), "{line}");
            assert!(v["level"].is_string(), "{line}");
            assert!(v["fields"].is_object(), "{line}");
        }
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\"control plane stopped\"")),
            "{text}"
        );
    }
}
