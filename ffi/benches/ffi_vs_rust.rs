//! Resolve cost through the C ABI against the Rust call (`Resolver::resolve`), on the same
//! config, printed as ratios: `sg_resolver_resolve` called from Rust exactly as C calls it, and
//! called from a real C program (`resolve_bench.c`, compiled with `cc -O2` against the cdylib
//! Cargo built beside this bench; skipped with a note if `cc` is missing).
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
            rust_calls(&resolver, path, n);
            t.elapsed()
        })
    };
    // The borrowing Rust call the C ABI is built on (no allocation once the URL is cached).
    let rust_with = {
        let _g = rt.enter();
        best_of(|| {
            let t = Instant::now();
            rust_with_calls(&resolver, path, n);
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
        ffi_calls(h, cpath, &mut buf, &mut out, n);
        t.elapsed()
    });
    let url = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    unsafe { sg_resolver_free(h) };

    let (r, f) = (per_call(rust, n), per_call(ffi, n));
    println!("resolve `{path}` → {url}, {n} calls, best of 5");
    println!("rust  Resolver::resolve                 {r:8.1} ns/call");
    println!(
        "rust  Resolver::resolve_with            {:8.1} ns/call   ratio with/rust {:5.2}",
        per_call(rust_with, n),
        per_call(rust_with, n) / r
    );
    println!(
        "ffi   sg_resolver_resolve (Rust caller) {f:8.1} ns/call   ratio ffi/rust {:5.2}",
        f / r
    );
    match c_bench(&opts, n) {
        Ok(c) => println!(
            "ffi   sg_resolver_resolve (C caller)    {c:8.1} ns/call   ratio c/rust   {:5.2}",
            c / r
        ),
        Err(e) => println!("C caller not measured: {e}"),
    }
}

/// `n` Rust calls, each URL dropped as a caller would. Not inlined, so that callgrind's inclusive
/// cost of this function over its calls gives instructions per resolve
/// (`valgrind --tool=callgrind` on this bench, then `callgrind_annotate --inclusive=yes`).
#[inline(never)]
fn rust_calls(resolver: &Resolver, path: &str, n: u64) {
    for _ in 0..n {
        let r = resolver.resolve(black_box(path)).unwrap();
        black_box(r.url.as_str().len());
    }
}

/// `n` calls of [`Resolver::resolve_with`] reading the borrowed URL's length. Not inlined.
#[inline(never)]
fn rust_with_calls(resolver: &Resolver, path: &str, n: u64) {
    for _ in 0..n {
        let len = resolver
            .resolve_with(black_box(path), |r| r.url.as_str().len())
            .unwrap();
        black_box(len);
    }
}

/// `n` calls of the extern "C" function as C makes them (C string, caller buffer, out struct).
/// Not inlined, for the same reason as [`rust_calls`].
#[inline(never)]
fn ffi_calls(
    h: *mut sg_resolver,
    cpath: &CStr,
    buf: &mut [c_char; 512],
    out: &mut std::mem::MaybeUninit<sg_resolution>,
    n: u64,
) {
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
}

/// Compiles and runs `resolve_bench.c`; returns its ns per call.
fn c_bench(opts: &std::ffi::CStr, n: u64) -> Result<f64, String> {
    let manifest = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // `cargo bench` leaves the cdylib in `deps/` (beside this binary); `cargo build` uplifts it
    // one level up.
    let deps = exe.parent().ok_or("no target dir")?;
    let lib_dir = [Some(deps), deps.parent()]
        .into_iter()
        .flatten()
        .find(|d| {
            d.join("libsourcegate_ffi.so").exists() || d.join("libsourcegate_ffi.dylib").exists()
        })
        .ok_or("no libsourcegate_ffi shared library beside the bench")?
        .to_path_buf();
    let out = lib_dir.join("resolve_bench_c");
    let status = std::process::Command::new("cc")
        .args(["-std=c11", "-O2", "-I"])
        .arg(manifest.join("include"))
        .arg(manifest.join("benches/resolve_bench.c"))
        .arg("-L")
        .arg(&lib_dir)
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .args(["-lsourcegate_ffi", "-o"])
        .arg(&out)
        .status()
        .map_err(|e| format!("cannot run cc: {e}"))?;
    if !status.success() {
        return Err("cc failed".into());
    }
    let output = std::process::Command::new(&out)
        .arg(opts.to_str().map_err(|e| e.to_string())?)
        .arg(n.to_string())
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("c_ns_per_call "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            format!(
                "unexpected output: {text} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}
