//! Builds the C test program (`tests/c/test_ffi.c`) and the C example (`examples/c/main.c`)
//! with `cc` against `include/sourcegate.h` and the cdylib Cargo built beside this test (or the one `$SOURCEGATE_FFI_LIB` names), starts
//! loopback origins, and runs both: directly, then under
//! `valgrind --leak-check=full --error-exitcode=1` when valgrind is installed.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sourcegate_testkit::{Fault, OriginOptions, OriginPair, OriginStyle, TestOrigin};

mod common;
use common::{cc, empty_response, json_response, manifest_dir, run, stub_http, valgrind, work_dir};

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
            let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
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
    let body =
        serde_json::json!({ "key": "marketplace_source", "version": version, "value": document })
            .to_string();
    stub_http(move |req| {
        if req.path == "/v1/configs/marketplace_source" {
            json_response(version, &body)
        } else {
            empty_response("404 Not Found")
        }
    })
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
