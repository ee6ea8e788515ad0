//! The fetch options of `sg_resolver_new` (`contentCheck`, `bodyCacheDir`, `httpCache`) and
//! the `source` of `sg_fetch_result`: driven through the C ABI (the rlib) against the
//! loopback origins.
#![allow(missing_docs)]

use std::ffi::{CStr, CString};
use std::sync::OnceLock;

use bytes::Bytes;
use sourcegate_ffi::{
    sg_body_source, sg_bytes_free, sg_fetch_result, sg_last_error_message, sg_origin, sg_resolver,
    sg_resolver_fetch, sg_resolver_free, sg_resolver_new, sg_status,
};
use sourcegate_testkit::{OriginOptions, OriginStyle, REGISTRY, TestOrigin};

/// A runtime for the origins, alive for the whole test binary.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn start(opts: OriginOptions) -> TestOrigin {
    runtime().block_on(TestOrigin::start(opts)).unwrap()
}

fn new_resolver(options: &str) -> Result<*mut sg_resolver, (sg_status, String)> {
    let c = CString::new(options).unwrap();
    let mut r: *mut sg_resolver = std::ptr::null_mut();
    let s = unsafe { sg_resolver_new(c.as_ptr(), &mut r) };
    if s == sg_status::Ok {
        Ok(r)
    } else {
        let msg = unsafe { CStr::from_ptr(sg_last_error_message()) };
        Err((s, msg.to_string_lossy().into_owned()))
    }
}

/// One blocking fetch of the registry: (origin, source, body).
fn fetch(r: *mut sg_resolver) -> (sg_origin, sg_body_source, Vec<u8>) {
    let mut out = std::mem::MaybeUninit::<sg_fetch_result>::uninit();
    let s = unsafe { sg_resolver_fetch(r, c"community-plugins.json".as_ptr(), out.as_mut_ptr()) };
    assert_eq!(s, sg_status::Ok);
    let out = unsafe { out.assume_init() };
    let body = unsafe { std::slice::from_raw_parts(out.body, out.body_len) }.to_vec();
    unsafe { sg_bytes_free(out.body, out.body_len) };
    (out.origin, out.source, body)
}

fn options(git: &TestOrigin, cdn: &TestOrigin, extra: &str) -> String {
    format!(
        r#"{{"staticConfig":{{"type":"cdn","gitUrl":"{}","cdnUrl":"{}","healthCheckEnabled":false,"fallbackOnError":true}},"installId":"t","push":false,"healthChecks":false,"telemetry":{{"enabled":false}}{extra}}}"#,
        git.base_url(),
        cdn.base_url()
    )
}

#[test]
fn a_second_fetch_is_revalidated_and_the_body_cache_dir_is_used() {
    let git = start(OriginOptions::new(OriginStyle::GitRaw));
    let cdn = start(OriginOptions::new(OriginStyle::Cdn).cache_control("no-cache"));
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(r#","bodyCacheDir":"{}""#, dir.path().display());
    let r = new_resolver(&options(&git, &cdn, &extra)).unwrap();
    let (origin, source, body) = fetch(r);
    assert_eq!((origin, source), (sg_origin::Cdn, sg_body_source::Network));
    assert_eq!(body, REGISTRY);
    let (_, source, body) = fetch(r);
    assert_eq!(source, sg_body_source::Revalidated);
    assert_eq!(body, REGISTRY);
    assert_eq!(cdn.not_modified(), 1);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    unsafe { sg_resolver_free(r) };

    // `httpCache: false`: a plain GET each time.
    let r = new_resolver(&options(&git, &cdn, r#","httpCache":false"#)).unwrap();
    assert_eq!(fetch(r).1, sg_body_source::Network);
    assert_eq!(fetch(r).1, sg_body_source::Network);
    unsafe { sg_resolver_free(r) };
}

#[test]
fn the_content_check_is_chosen_in_the_options() {
    let git = start(OriginOptions::new(OriginStyle::GitRaw));
    let cdn = start(OriginOptions::new(OriginStyle::Cdn));
    // A theme list where the plugin list should be: valid JSON, the wrong shape.
    cdn.set_body(Bytes::from_static(
        br#"[{"name":"Minimal","repo":"kepano/obsidian-minimal"}]"#,
    ));
    let r = new_resolver(&options(&git, &cdn, "")).unwrap();
    assert_eq!(fetch(r).0, sg_origin::Cdn, "auto: any JSON passes");
    unsafe { sg_resolver_free(r) };
    let r = new_resolver(&options(&git, &cdn, r#","contentCheck":"plugins""#)).unwrap();
    let (origin, _, body) = fetch(r);
    assert_eq!(origin, sg_origin::Git, "plugins: the theme list fails over");
    assert_eq!(body, REGISTRY);
    unsafe { sg_resolver_free(r) };

    let (status, msg) = new_resolver(&options(&git, &cdn, r#","contentCheck":"xml""#)).unwrap_err();
    assert_eq!(status, sg_status::InvalidOptions);
    assert!(msg.contains("options.contentCheck"), "{msg}");
    let (status, msg) = new_resolver(&options(&git, &cdn, r#","maxBodyBytes":0"#)).unwrap_err();
    assert_eq!(status, sg_status::InvalidOptions);
    assert!(msg.contains("options.maxBodyBytes"), "{msg}");
}
