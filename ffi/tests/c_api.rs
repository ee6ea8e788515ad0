//! Builds the C test program (`tests/c/test_ffi.c`) and the C example (`examples/c/main.c`)
//! with `cc` against `include/sourcegate.h` and the cdylib Cargo built beside this test (or the one `$SOURCEGATE_FFI_LIB` names), starts
//! loopback origins, and runs both: directly, then under
//! `valgrind --leak-check=full --error-exitcode=1` when valgrind is installed.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sourcegate_testkit::{Fault, OriginOptions, OriginStyle, TestOrigin};

mod common;
use common::{cc, manifest_dir, run, valgrind, work_dir};

struct Origins {
    git: TestOrigin,
    cdn: TestOrigin,
    stalled: TestOrigin,
}

/// One runtime and one set of origins for the whole test binary.
fn origins() -> &'static Origins {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    static ORIGINS: OnceLock<Origins> = OnceLock::new();
    ORIGINS.get_or_init(|| {
        let rt = RT.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
        });
        rt.block_on(async {
            let git = TestOrigin::start(OriginOptions::new(OriginStyle::GitRaw))
                .await
                .unwrap();
            let cdn = TestOrigin::start(OriginOptions::new(OriginStyle::Cdn))
                .await
                .unwrap();
            let stalled = TestOrigin::start(OriginOptions::new(OriginStyle::Cdn))
                .await
                .unwrap();
            stalled.set_fault(Fault::Stall);
            Origins { git, cdn, stalled }
        })
    })
}

fn base(o: &TestOrigin) -> String {
    let b = o.base_url();
    if b.ends_with('/') { b } else { format!("{b}/") }
}

/// `test-data/buckets.json` as lines of `<hex id> <bucket>` for the C program.
fn bucket_vectors_file(dir: &Path) -> PathBuf {
    let json = std::fs::read_to_string(manifest_dir().join("../test-data/buckets.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut text = String::new();
    let vectors = v["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 10);
    for vec in vectors {
        let id = vec["installId"].as_str().unwrap();
        let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
        let hex = if hex.is_empty() { "-".to_string() } else { hex };
        text.push_str(&format!("{hex} {}\n", vec["bucket"].as_u64().unwrap()));
    }
    let path = dir.join("buckets.txt");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn c_test_program_passes_and_is_valgrind_clean() {
    let o = origins();
    let dir = work_dir("c-tests");
    let exe = dir.join("test_ffi");
    cc(&[&manifest_dir().join("tests/c/test_ffi.c")], &exe);
    let args = vec![
        base(&o.git),
        base(&o.cdn),
        base(&o.stalled),
        dir.display().to_string(),
        bucket_vectors_file(&dir).display().to_string(),
    ];
    let out = run(&exe, &args, false);
    assert!(out.contains(", 0 failures"), "{out}");
    if valgrind().is_some() {
        let out = run(&exe, &args, true);
        assert!(out.contains(", 0 failures"), "{out}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A minimal stand-in for the control plane's `GET /v1/configs/marketplace_source`
/// (envelope `{"version", "value"}`); `/events` (SSE push) answers 404. Plain std networking
/// on a thread: one request per connection.
fn control_plane_stub(document: serde_json::Value, version: u64) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let body =
        serde_json::json!({ "key": "marketplace_source", "version": version, "value": document })
            .to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("");
            let response = if path == "/v1/configs/marketplace_source" {
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\netag: \"v{version}\"\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_string()
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://{addr}")
}

#[test]
fn c_example_resolves_and_fetches_and_is_valgrind_clean() {
    let o = origins();
    let dir = work_dir("c-example");
    let exe = dir.join("sourcegate-example");
    cc(&[&manifest_dir().join("../examples/c/main.c")], &exe);
    let control_plane = control_plane_stub(
        serde_json::json!({
            "type": "hybrid", "priority": ["cdn", "git"], "cdnUrl": base(&o.cdn),
            "gitUrl": base(&o.git), "healthCheckEnabled": false, "version": 7
        }),
        7,
    );
    let options = format!(
        r#"{{"controlPlaneUrl":"{control_plane}","push":false,"installId":"example","healthChecks":false}}"#
    );
    let args = vec![options, "community-plugins.json".to_string()];
    let out = run(&exe, &args, false);
    assert!(out.contains("origin=cdn"), "{out}");
    assert!(out.contains("config version 7"), "{out}");
    assert!(
        out.contains(r#""source":{"provider":"control-plane"}"#),
        "{out}"
    );
    if valgrind().is_some() {
        run(&exe, &args, true);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
