//! Builds the C lifecycle test (`tests/c/test_lifecycle.c`) with `cc` against the header and
//! the cdylib, and runs it against a counting control-plane stand-in and a loopback CDN:
//! directly, then under valgrind (leaks: definite, indirect and possible all 0) when valgrind
//! is installed. Each run gets a fresh stand-in, whose counts are then checked: pause, resume,
//! close and offline seen from the server's side.
#![allow(missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sourcegate_testkit::{OriginOptions, OriginStyle, TestOrigin};

mod common;
use common::{cc, empty_response, json_response, manifest_dir, run, stub_http, valgrind, work_dir};

/// What the stand-in saw.
#[derive(Default)]
struct Seen {
    config_gets: AtomicUsize,
    other: AtomicUsize,
    reports: Mutex<Vec<serde_json::Value>>,
}

/// A control-plane stand-in on a std thread (one request per connection): `GET
/// /v1/configs/marketplace_source` answers `doc` as version 4 the first time and 5 after,
/// `POST /v1/telemetry` keeps the report (204); anything else is counted and answered 404.
fn control_plane(doc: serde_json::Value) -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let s = Arc::clone(&seen);
    let url = stub_http(move |req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/v1/configs/marketplace_source") => {
            let n = s.config_gets.fetch_add(1, Ordering::SeqCst);
            let version = if n == 0 { 4 } else { 5 };
            let mut d = doc.clone();
            d["version"] = version.into();
            let env =
                serde_json::json!({"key": "marketplace_source", "version": version, "value": d});
            json_response(version, &env.to_string())
        }
        ("POST", "/v1/telemetry") => {
            if let Ok(v) = serde_json::from_slice(&req.body) {
                s.reports.lock().unwrap().push(v);
            }
            empty_response("204 No Content")
        }
        _ => {
            s.other.fetch_add(1, Ordering::SeqCst);
            empty_response("404 Not Found")
        }
    });
    (url, seen)
}

#[test]
fn c_lifecycle_program_passes_and_is_valgrind_clean() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cdn = rt
        .block_on(TestOrigin::start(OriginOptions::new(OriginStyle::Cdn)))
        .unwrap();
    let cdn_base = {
        let b = cdn.base_url();
        if b.ends_with('/') { b } else { format!("{b}/") }
    };
    let dir = work_dir("c-lifecycle");
    let exe = dir.join("test_lifecycle");
    cc(&[&manifest_dir().join("tests/c/test_lifecycle.c")], &exe);
    let runs: &[bool] = if valgrind().is_some() {
        &[false, true]
    } else {
        &[false]
    };
    for &under_valgrind in runs {
        let doc = serde_json::json!({
            "type": "cdn", "cdnUrl": cdn_base, "gitUrl": cdn_base, "healthCheckEnabled": false
        });
        let (base, seen) = control_plane(doc);
        let hits = cdn.hits();
        let out = run(&exe, &[base, cdn_base.clone()], under_valgrind);
        assert!(out.contains(", 0 failures"), "{out}");
        // The first load and the one revalidation on resume; none while paused, none offline.
        assert_eq!(seen.config_gets.load(Ordering::SeqCst), 2);
        assert_eq!(seen.other.load(Ordering::SeqCst), 0);
        // The two fetches (made while paused) and nothing from the offline resolvers.
        assert_eq!(cdn.hits() - hits, 2);
        let reports = seen.reports.lock().unwrap();
        assert_eq!(reports.len(), 1, "one report, sent by close: {reports:?}");
        assert_eq!(
            reports[0]["origins"]["cdn"]["requests"], 2,
            "{}",
            reports[0]
        );
        assert_eq!(
            reports[0]["installHash"],
            sourcegate::telemetry::install_hash("c-lifecycle")
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
