//! Resolve cost through the C ABI (`sg_resolver_resolve`, called as a C caller would) against
//! the Rust call (`Resolver::resolve`), on the same kind of config, printed as a ratio.
//!
//! Run: `cargo bench -p sourcegate-ffi --bench ffi_vs_rust` (`SG_BENCH_N` sets the number of
//! calls, default 2,000,000).
#![allow(unsafe_code, missing_docs)]

use std::ffi::{CStr, c_char};
use std::hint::black_box;
use std::time::{Duration, Instant};

use sourcegate::Resolver;
use sourcegate::provider::StaticProvider;
use sourcegate_ffi::{
    sg_resolution, sg_resolver, sg_resolver_free, sg_resolver_new, sg_resolver_resolve, sg_status,
};

const DOC: &str = r#"{"type":"canary","canaryPercent":50,"cdnUrl":"http://127.0.0.1:9/cdn/","gitUrl":"http://127.0.0.1:9/git/","healthCheckEnabled":false,"version":3}"#;

fn per_call(total: Duration, n: u64) -> f64 {
    total.as_secs_f64() * 1e9 / n as f64
}

fn best_of<F: FnMut() -> Duration>(mut f: F) -> Duration {
    (0..5).map(|_| f()).min().unwrap_or_default()
}

fn main() {
    let n: u64 = std::env::var("SG_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let path = "community-plugins.json";

    // Rust side: the resolver on a runtime of its own, called from this (non-runtime) thread
    // inside `enter()`, as the FFI does.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let resolver = {
        let _g = rt.enter();
        Resolver::builder("http://127.0.0.1:9/git/".parse().unwrap())
            .provider(StaticProvider::Value(serde_json::from_str(DOC).unwrap()))
            .install_id("install-0001")
            .build()
            .unwrap()
    };
    rt.block_on(resolver.reload_config()).unwrap();
    let rust = {
        let _g = rt.enter();
        best_of(|| {
            let t = Instant::now();
            for _ in 0..n {
                let r = resolver.resolve(black_box(path)).unwrap();
                black_box(r.url.as_str().len());
            }
            t.elapsed()
        })
    };

    // FFI side: the extern "C" function, with a C string, a caller buffer and an out struct.
    let opts = format!(r#"{{"staticConfig":{DOC},"installId":"install-0001"}}"#);
    let opts = std::ffi::CString::new(opts).unwrap();
    let mut h: *mut sg_resolver = std::ptr::null_mut();
    assert_eq!(
        unsafe { sg_resolver_new(opts.as_ptr(), &mut h) },
        sg_status::Ok
    );
    let cpath = c"community-plugins.json";
    let mut buf = [0 as c_char; 512];
    let mut out = std::mem::MaybeUninit::<sg_resolution>::uninit();
    // First call waits for the config (once).
    assert_eq!(
        unsafe {
            sg_resolver_resolve(
                h,
                cpath.as_ptr(),
                buf.as_mut_ptr(),
                buf.len(),
                out.as_mut_ptr(),
            )
        },
        sg_status::Ok
    );
    let ffi = best_of(|| {
        let t = Instant::now();
        for _ in 0..n {
            let s = unsafe {
                sg_resolver_resolve(
                    h,
                    black_box(cpath.as_ptr()),
                    buf.as_mut_ptr(),
                    buf.len(),
                    out.as_mut_ptr(),
                )
            };
            black_box(s);
        }
        t.elapsed()
    });
    let url = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    unsafe { sg_resolver_free(h) };

    let (r, f) = (per_call(rust, n), per_call(ffi, n));
    println!("resolve `{path}` → {url}, {n} calls, best of 5");
    println!("rust  Resolver::resolve      {r:8.1} ns/call");
    println!("ffi   sg_resolver_resolve    {f:8.1} ns/call");
    println!("ratio ffi/rust               {:8.2}", f / r);
}
