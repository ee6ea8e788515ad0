//! The `telemetry` options of `sg_resolver_new` change what is sent: reports reach an
//! endpoint set in the options, and `{"enabled": false}` sends nothing. Driven through the C
//! ABI (the rlib), against a loopback telemetry sink.
#![allow(missing_docs)]

use std::ffi::{CStr, CString};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sourcegate_ffi::{
    sg_last_error_message, sg_resolver, sg_resolver_free, sg_resolver_new, sg_status,
};

mod common;
use common::{empty_response, stub_http};

/// A loopback HTTP sink counting `POST /v1/telemetry` requests (204 to each); its URL.
fn telemetry_sink() -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let url = stub_http(move |req| {
        if (req.method.as_str(), req.path.as_str()) == ("POST", "/v1/telemetry") {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        empty_response("204 No Content")
    });
    (format!("{url}/v1/telemetry"), count)
}

fn new_resolver(options: &str) -> *mut sg_resolver {
    let c = CString::new(options).unwrap();
    let mut r: *mut sg_resolver = std::ptr::null_mut();
    let s = unsafe { sg_resolver_new(c.as_ptr(), &mut r) };
    let msg = unsafe { CStr::from_ptr(sg_last_error_message()) };
    assert_eq!(s, sg_status::Ok, "{options}: {msg:?}");
    r
}

fn options(endpoint: &str, enabled: bool) -> String {
    format!(
        r#"{{"staticConfig":{{"type":"git","gitUrl":"http://127.0.0.1:9/git/","healthCheckEnabled":false}},"installId":"t","push":false,"healthChecks":false,"telemetry":{{"enabled":{enabled},"endpoint":"{endpoint}","intervalMs":20}}}}"#
    )
}

#[test]
fn reports_go_to_the_endpoint_of_the_options() {
    let (endpoint, count) = telemetry_sink();
    let r = new_resolver(&options(&endpoint, true));
    let deadline = Instant::now() + Duration::from_secs(20);
    while count.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { sg_resolver_free(r) };
    assert!(
        count.load(Ordering::SeqCst) >= 2,
        "{} reports",
        count.load(Ordering::SeqCst)
    );
}

#[test]
fn enabled_false_sends_nothing_even_with_an_endpoint() {
    let (endpoint, count) = telemetry_sink();
    let r = new_resolver(&options(&endpoint, false));
    // 25 intervals of 20 ms: an enabled reporter would have sent many.
    std::thread::sleep(Duration::from_millis(500));
    unsafe { sg_resolver_free(r) };
    assert_eq!(count.load(Ordering::SeqCst), 0);
}
