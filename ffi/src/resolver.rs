//! The resolver handle [`sg_resolver`] and its entry points: create and free, resolve, the
//! blocking fetch and reload, outcome reports and stats. The non-blocking variants live in
//! `async_`, config callbacks in `subscription`.

use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sourcegate::{OriginKind, Outcome, Resolver};
use tokio::runtime::Runtime;

use crate::error::Failure;
use crate::memory::{bytes_to_c, c_str, non_null, string_to_c};
use crate::options::{build_resolver, parse_options_json};
use crate::panic::{ffi_call, panic_message};
use crate::routing::{origin_c, reason_c, resolution_c, sg_origin, sg_reason, sg_resolution};
use crate::status::sg_status;
use crate::subscription::Subscription;
#[cfg(doc)]
use crate::{sg_bytes_free, sg_fetch_callback, sg_resolver_reload_async, sg_string_free};

thread_local! {
    /// Set on the resolver runtimes' worker threads ("Sourcegate threads").
    static ON_SOURCEGATE_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A response body and where it came from, from [`sg_resolver_fetch`] or a
/// [`sg_fetch_callback`].
#[repr(C)]
#[derive(Debug)]
pub struct sg_fetch_result {
    /// The body bytes (not NUL-terminated). From [`sg_resolver_fetch`]: owned by the caller,
    /// release with `sg_bytes_free(body, body_len)`. In a [`sg_fetch_callback`]: borrowed for
    /// the duration of the call. NULL when `body_len` is 0.
    pub body: *mut u8,
    /// Length of `body` in bytes.
    pub body_len: usize,
    /// The origin that served it.
    pub origin: sg_origin,
    /// Why the first candidate was first.
    pub reason: sg_reason,
    /// HTTP status (2xx).
    pub http_status: u16,
    /// Whether an origin other than the first candidate served it.
    pub fallback: bool,
    /// Number of failed attempts before this one (0 or 1).
    pub failed_attempts: u32,
    /// Where the body came from: the network, a kept copy revalidated (304) or still fresh,
    /// or a stale kept copy served because every origin failed.
    pub source: sg_body_source,
}

/// Where a fetched body came from (see `sourcegate::BodySource`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sg_body_source {
    /// A 2xx answer with its body.
    Network = 1,
    /// A kept body the origin confirmed with `304 Not Modified` (RFC 9111 §4.3).
    Revalidated = 2,
    /// A kept body still fresh (RFC 9111 §4.2): no request was made.
    Fresh = 3,
    /// A stale kept body, served because every origin failed (RFC 9111 §4.2.4).
    Stale = 4,
}

fn source_c(s: sourcegate::BodySource) -> sg_body_source {
    match s {
        sourcegate::BodySource::Network => sg_body_source::Network,
        sourcegate::BodySource::Revalidated => sg_body_source::Revalidated,
        sourcegate::BodySource::Fresh => sg_body_source::Fresh,
        sourcegate::BodySource::Stale => sg_body_source::Stale,
    }
}

/// An opaque resolver handle. Create with [`sg_resolver_new`], release with
/// [`sg_resolver_free`]. Thread-safe.
pub struct sg_resolver {
    _private: [u8; 0],
}

/// The real object behind an `sg_resolver *`.
pub(crate) struct Handle {
    /// The resolver; shared with the tasks of non-blocking calls.
    pub(crate) resolver: Arc<Resolver>,
    /// `None` only while [`sg_resolver_free`] shuts it down.
    runtime: Option<Runtime>,
    /// Set once the first config fetch finished (or the init timeout passed).
    ready: AtomicBool,
    /// Config callbacks registered by [`crate::sg_resolver_on_config_change`].
    pub(crate) subscriptions: Mutex<Vec<Subscription>>,
    /// The id of the next subscription (ids start at 1).
    pub(crate) next_subscription: AtomicU64,
}

/// Borrows the handle behind an `sg_resolver *`.
///
/// # Safety
/// `p` must be NULL or a live pointer from [`sg_resolver_new`].
pub(crate) unsafe fn handle<'a>(p: *const sg_resolver) -> Result<&'a Handle, Failure> {
    non_null(p, "resolver")?;
    // SAFETY: created by `Box::into_raw(Box<Handle>)` in `sg_resolver_new`, not yet freed.
    Ok(unsafe { &*p.cast::<Handle>() })
}

impl Handle {
    /// The resolver's runtime.
    ///
    /// # Errors
    /// [`sg_status::Internal`] once it was shut down (cannot happen on a live handle).
    pub(crate) fn runtime(&self) -> Result<&Runtime, Failure> {
        self.runtime
            .as_ref()
            .ok_or_else(|| Failure::new(sg_status::Internal, "runtime already shut down"))
    }

    /// Runs `fut` to completion on one of this resolver's worker threads and blocks the calling
    /// (host) thread until it is done. The future runs on a worker, not on the caller's stack:
    /// hosts' secondary threads may have small stacks (512 KiB on iOS, libuv's pool in Node).
    ///
    /// # Errors
    /// [`sg_status::WrongThread`] on a Sourcegate thread; [`sg_status::Panic`] or
    /// [`sg_status::Cancelled`] when the task panicked or was dropped.
    pub(crate) fn block_on<F>(&self, fut: F) -> Result<F::Output, Failure>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if on_runtime_thread() {
            return Err(Failure::new(
                sg_status::WrongThread,
                "blocking sg_* call from a Sourcegate thread (inside a callback); use the non-blocking variant",
            ));
        }
        let rt = self.runtime()?;
        let task = rt.spawn(fut);
        rt.block_on(task).map_err(|e| {
            if e.is_panic() {
                Failure::new(sg_status::Panic, panic_message(&*e.into_panic()))
            } else {
                Failure::new(sg_status::Cancelled, "the operation was cancelled")
            }
        })
    }
}

/// Whether the calling thread is a Sourcegate thread (or inside some tokio runtime).
pub(crate) fn on_runtime_thread() -> bool {
    ON_SOURCEGATE_THREAD.with(std::cell::Cell::get) || tokio::runtime::Handle::try_current().is_ok()
}

/// The C form of a response, with `body`/`body_len` as given (owned or borrowed).
pub(crate) fn fetch_result(
    resp: &sourcegate::FetchResponse,
    body: *mut u8,
    body_len: usize,
) -> sg_fetch_result {
    sg_fetch_result {
        body,
        body_len,
        origin: origin_c(resp.origin),
        reason: reason_c(resp.reason),
        http_status: resp.status,
        fallback: resp.fallback,
        failed_attempts: u32::try_from(resp.failed_attempts.len()).unwrap_or(u32::MAX),
        source: source_c(resp.source),
    }
}

/// Creates a resolver from `options_json` and writes its handle to `*out`.
///
/// Options (a JSON object, camelCase, all optional; an unknown field, or JSON other than an
/// object, is refused with `SG_STATUS_INVALID_OPTIONS` naming it):
/// `defaultGitUrl` (built-in default Git base, used when no config can be had),
/// `controlPlaneUrl` (+ `controlPlaneToken`), `supabaseUrl` + `supabaseKey`, `staticConfig`
/// (a config document), `staticConfigFile` (a JSON file re-read on each reload) — providers are
/// tried in that order —, `installId` or `installIdFile`, `cacheFile` (last-known-good),
/// `cacheTtlMs` (300000), `initTimeoutMs` (5000), `requestTimeoutMs` (30000),
/// `healthChecks` (true), `healthCheckPath` (""), `push` (true),
/// `backoffBaseMs` (1000, at least 1) and `backoffCapMs` (300000, at least the base): the
/// full-jitter backoff after failed config fetches and push reconnects,
/// `telemetry`: an object `{"enabled": bool (true), "endpoint": "http(s) URL" (the control
/// plane's `/v1/telemetry`), "intervalMs": number (60000, at least 10)}`; fleet telemetry is
/// on by default toward a control plane, `{"telemetry": {"enabled": false}}` turns it off
/// (nothing is sent, whatever the endpoint), `offline` (false): no network request of any kind
/// (only `staticConfig`/`staticConfigFile`, the `cacheFile` and the built-in default; no
/// probes, push or telemetry; a fetch serves kept bodies only, else `SG_STATUS_OFFLINE`).
/// Fetches (the HTTP cache, RFC 9111):
/// `httpCache` (true), `bodyCacheDir` (beside `cacheFile`: `<cacheFile>.bodies`; none without
/// one), `bodyCacheMaxBytes` (67108864), `staleIfError` (true), `contentCheck` (`"auto"`: JSON
/// for `.json` paths; `"none"`, `"json"`, `"plugins"`, `"themes"`), `maxBodyBytes` (33554432,
/// at least 1), `readIdleTimeoutMs` (10000, at least 1).
///
/// Errors: `SG_STATUS_INVALID_OPTIONS` for JSON of the wrong shape or types, and for a bad
/// value (the message names the field, e.g. `options.telemetry.endpoint: …`);
/// `SG_STATUS_HTTP_CLIENT`, `SG_STATUS_INSTALL_ID_FILE`, `SG_STATUS_RUNTIME`.
///
/// Starts the resolver's runtime and its background work (first config fetch, push stream,
/// health checks); returns without waiting for the network.
///
/// # Safety
/// `options_json` must be NULL or a NUL-terminated string; `out` must be NULL or valid for a
/// write of one pointer. On success the caller owns `*out` and must release it with
/// [`sg_resolver_free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_resolver_new(
    options_json: *const c_char,
    out: *mut *mut sg_resolver,
) -> sg_status {
    ffi_call!({
        non_null(out, "out")?;
        // SAFETY: per this function's contract.
        let json = unsafe { c_str(options_json, "options_json") }?;
        let opts =
            parse_options_json(json).map_err(|m| Failure::new(sg_status::InvalidOptions, m))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sourcegate-worker")
            .on_thread_start(|| ON_SOURCEGATE_THREAD.with(|c| c.set(true)))
            .enable_all()
            .build()
            .map_err(|e| {
                Failure::new(sg_status::Runtime, format!("cannot start the runtime: {e}"))
            })?;
        let resolver = {
            let _guard = runtime.enter();
            build_resolver(opts)
        };
        let resolver = match resolver {
            Ok(r) => r,
            Err(e) => {
                runtime.shutdown_timeout(Duration::from_secs(5));
                return Err(e);
            }
        };
        let h = Box::new(Handle {
            resolver: Arc::new(resolver),
            runtime: Some(runtime),
            ready: AtomicBool::new(false),
            subscriptions: Mutex::new(Vec::new()),
            next_subscription: AtomicU64::new(1),
        });
        // SAFETY: `out` is non-NULL and valid for a write per the contract.
        unsafe { *out = Box::into_raw(h).cast::<sg_resolver>() };
        Ok(())
    })
}

/// Releases a resolver: stops its background work and config callbacks, cancels non-blocking
/// fetches and reloads in flight (their callbacks get `SG_STATUS_CANCELLED` before this
/// returns), and shuts its runtime down,
/// waiting up to 5 s for its threads. NULL is accepted and ignored.
///
/// # Safety
/// `resolver` must be NULL or a pointer from [`sg_resolver_new`] not yet freed; no other thread
/// may be using it, and it must not be called from a callback. The pointer is invalid afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_resolver_free(resolver: *mut sg_resolver) {
    ffi_call!(void, {
        if resolver.is_null() {
            return;
        }
        // SAFETY: per the contract, from `Box::into_raw` and not yet freed.
        let mut h = unsafe { Box::from_raw(resolver.cast::<Handle>()) };
        if let Ok(subs) = h.subscriptions.lock() {
            for s in subs.iter() {
                s.task.abort();
            }
        }
        let runtime = h.runtime.take();
        let inner_thread = on_runtime_thread();
        drop(h);
        if let Some(rt) = runtime {
            if inner_thread {
                rt.shutdown_background();
            } else {
                rt.shutdown_timeout(Duration::from_secs(5));
            }
        }
    })
}

/// Resolves `path` (relative to the origin base, e.g. `community-plugins.json`) to a full URL
/// for this install, writing the URL NUL-terminated into `url_buf` (`url_buf_len` bytes) and the
/// decision into `*out`.
///
/// Blocks only until the first config fetch of this resolver finishes or `initTimeoutMs`
/// passes (once per resolver, as `Resolver::resolve_url`); afterwards it never blocks and
/// allocates nothing. Called from a Sourcegate thread before that, it does not wait.
///
/// Returns `SG_STATUS_BUFFER_TOO_SMALL` when the URL and its NUL do not fit: then only
/// `out->url_len` is written (the URL's length without the NUL) and `url_buf` is untouched.
/// URLs are rarely longer than 2 KiB.
///
/// # Safety
/// `resolver` must be a live handle; `path` a NUL-terminated string; `url_buf` valid for
/// `url_buf_len` bytes of writes; `out` valid for a write of one `sg_resolution`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_resolver_resolve(
    resolver: *const sg_resolver,
    path: *const c_char,
    url_buf: *mut c_char,
    url_buf_len: usize,
    out: *mut sg_resolution,
) -> sg_status {
    ffi_call!({
        // SAFETY: per this function's contract.
        let h = unsafe { handle(resolver) }?;
        // SAFETY: per this function's contract.
        let path = unsafe { c_str(path, "path") }?;
        non_null(url_buf, "url_buf")?;
        non_null(out, "out")?;
        // Writes a resolution to the caller's buffer and `*out`.
        let write = |res: sourcegate::ResolutionRef<'_>| -> Result<(), Failure> {
            let url = res.url.as_str();
            let mut info = resolution_c(&res);
            if url.len() >= url_buf_len {
                // SAFETY: `out` is valid for a write per the contract.
                unsafe { (*out).url_len = url.len() };
                return Err(Failure::new(
                    sg_status::BufferTooSmall,
                    format!(
                        "the URL needs {} bytes plus a NUL; the buffer has {url_buf_len}",
                        url.len()
                    ),
                ));
            }
            // SAFETY: `url_buf` is valid for `url_buf_len > url.len()` bytes; the regions are
            // distinct (ours is the resolver's cached URL).
            unsafe {
                std::ptr::copy_nonoverlapping(url.as_ptr(), url_buf.cast::<u8>(), url.len());
                *url_buf.add(url.len()) = 0;
            }
            info.url_len = url.len();
            // SAFETY: `out` is valid for a write per the contract.
            unsafe { *out = info };
            Ok(())
        };
        if h.ready.load(Ordering::Acquire) || on_runtime_thread() {
            // The hot path: the URL is lent from the resolver's cache and copied once, into
            // the caller's buffer (no allocation). The resolver spawns background work on its
            // own runtime handle: no enter() needed.
            h.resolver.resolve_with(path, write)?
        } else {
            let (r, p) = (Arc::clone(&h.resolver), path.to_owned());
            let r = h.block_on(async move { r.resolve_url(&p).await })?;
            h.ready.store(true, Ordering::Release);
            write(r?.as_borrowed())
        }
    })
}

/// Fetches `path` from the routed origin, failing over to the other one when the config
/// allows, and writes the response to `*out`. **Blocks** until the response or the last
/// failure (each attempt bounded by `requestTimeoutMs`). On success the caller owns
/// `out->body` and releases it with `sg_bytes_free(out->body, out->body_len)`.
///
/// # Safety
/// `resolver` must be a live handle; `path` a NUL-terminated string; `out` valid for a write
/// of one `sg_fetch_result`. Must not be called from a callback (`SG_STATUS_WRONG_THREAD`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_resolver_fetch(
    resolver: *const sg_resolver,
    path: *const c_char,
    out: *mut sg_fetch_result,
) -> sg_status {
    ffi_call!({
        // SAFETY: per this function's contract.
        let h = unsafe { handle(resolver) }?;
        // SAFETY: per this function's contract.
        let path = unsafe { c_str(path, "path") }?;
        non_null(out, "out")?;
        let (r, p) = (Arc::clone(&h.resolver), path.to_owned());
        let resp = h.block_on(async move { r.fetch(&p).await })??;
        h.ready.store(true, Ordering::Release);
        let (body, len) = bytes_to_c(resp.body.to_vec());
        // SAFETY: `out` is valid for a write per the contract.
        unsafe { *out = fetch_result(&resp, body, len) };
        Ok(())
    })
}

/// Fetches the config from the providers now, bypassing the cache (the seed's `reloadConfig`).
/// **Blocks** until the providers answered. Writes the version of the config in use afterwards
/// to `*version_out` when it is not NULL. Config callbacks fire (from a Sourcegate thread) if
/// the config changed.
///
/// Errors: `SG_STATUS_PROVIDERS_FAILED`, `SG_STATUS_CONFIG_INVALID`, `SG_STATUS_CONFIG_STALE`
/// (the config in use is then unchanged).
///
/// # Safety
/// `resolver` must be a live handle; `version_out` NULL or valid for a write. Must not be
/// called from a callback (`SG_STATUS_WRONG_THREAD`): use [`sg_resolver_reload_async`] there.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_resolver_reload(
    resolver: *const sg_resolver,
    version_out: *mut u64,
) -> sg_status {
    ffi_call!({
        // SAFETY: per this function's contract.
        let h = unsafe { handle(resolver) }?;
        let r = Arc::clone(&h.resolver);
        let cfg = h.block_on(async move { r.reload_config().await })??;
        h.ready.store(true, Ordering::Release);
        if !version_out.is_null() {
            // SAFETY: non-NULL and valid for a write per the contract.
            unsafe { *version_out = cfg.version };
        }
        Ok(())
    })
}

/// Feeds back a request the host made with its own HTTP stack to `origin`, so health,
/// rate-limit state and stats stay right. `http_status` is the HTTP status, or 0 for a
/// transport error (connect failure, timeout, reset); `retry_after_ms` the wait the origin
/// asked for (`Retry-After` / `x-ratelimit-reset`, parsed by the host), or 0 for none;
/// `elapsed_ms` how long the request took; `fallback` whether it went to an origin other than
/// the first candidate. Never blocks.
///
/// # Safety
/// `resolver` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_resolver_report_outcome(
    resolver: *const sg_resolver,
    origin: u32,
    http_status: u16,
    retry_after_ms: u64,
    elapsed_ms: u64,
    fallback: bool,
) -> sg_status {
    ffi_call!({
        // SAFETY: per this function's contract.
        let h = unsafe { handle(resolver) }?;
        // `origin` is taken as a u32, not `sg_origin`: an out-of-range value from C must not
        // become an invalid Rust enum.
        let kind = match origin {
            1 => OriginKind::Git,
            2 => OriginKind::Cdn,
            other => {
                return Err(Failure::new(
                    sg_status::InvalidArgument,
                    format!("unknown origin {other} (SG_ORIGIN_GIT = 1, SG_ORIGIN_CDN = 2)"),
                ));
            }
        };
        if http_status > 999 {
            return Err(Failure::new(
                sg_status::InvalidArgument,
                format!("HTTP status {http_status} is out of range"),
            ));
        }
        h.resolver.report_outcome(
            kind,
            Outcome {
                status: (http_status != 0).then_some(http_status),
                retry_after: (retry_after_ms != 0).then(|| Duration::from_millis(retry_after_ms)),
                elapsed: Duration::from_millis(elapsed_ms),
                fallback,
            },
        );
        Ok(())
    })
}

/// Writes the resolver's stats as a JSON object to `*out` (caller releases it with
/// [`sg_string_free`]): the seed's counters (`totalRequests`, `gitRequests`,
/// `cloudflareRequests`, `cdnRequests`, `fallbacks`, `errors`, `rateLimited`,
/// `averageResponseTimeMs`, percentiles, per-origin `git`/`cdn`), plus `config`
/// (`version`, `source`, `installedAt`, `mode`), `health` (one entry per origin), `installId`
/// and `bucket`. Dates (`installedAt`, each origin's `lastCheck`) are RFC 3339 in UTC with
/// milliseconds.
///
/// # Safety
/// `resolver` must be a live handle; `out` valid for a write of one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_resolver_stats_json(
    resolver: *const sg_resolver,
    out: *mut *mut c_char,
) -> sg_status {
    ffi_call!({
        // SAFETY: per this function's contract.
        let h = unsafe { handle(resolver) }?;
        non_null(out, "out")?;
        let r = &h.resolver;
        let mut v = serde_json::to_value(r.stats())
            .map_err(|e| Failure::new(sg_status::Internal, e.to_string()))?;
        let info = r.config();
        let mut config = serde_json::to_value(&info)
            .map_err(|e| Failure::new(sg_status::Internal, e.to_string()))?;
        if let Some(obj) = config.as_object_mut() {
            obj.insert("document".into(), info.config.to_document());
        }
        let health = serde_json::to_value(r.health())
            .map_err(|e| Failure::new(sg_status::Internal, e.to_string()))?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("config".into(), config);
            obj.insert("health".into(), health);
            obj.insert("installId".into(), r.install_id().into());
            obj.insert("bucket".into(), r.bucket().0.into());
        }
        let s = string_to_c(v.to_string())?;
        // SAFETY: `out` is valid for a write per the contract.
        unsafe { *out = s };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    #[test]
    fn resolve_matches_the_rust_resolver() {
        let mut r: *mut sg_resolver = std::ptr::null_mut();
        let opts = cr#"{"staticConfig":{"type":"cdn","cdnUrl":"http://127.0.0.1:9/cdn/","gitUrl":"http://127.0.0.1:9/git/","healthCheckEnabled":false},"installId":"install-0001"}"#;
        assert_eq!(
            unsafe { sg_resolver_new(opts.as_ptr(), &mut r) },
            sg_status::Ok
        );
        let mut buf = [0 as c_char; 256];
        let mut res = std::mem::MaybeUninit::<sg_resolution>::uninit();
        let s = unsafe {
            sg_resolver_resolve(
                r,
                c"community-plugins.json".as_ptr(),
                buf.as_mut_ptr(),
                buf.len(),
                res.as_mut_ptr(),
            )
        };
        assert_eq!(s, sg_status::Ok);
        let res = unsafe { res.assume_init() };
        let url = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
        assert_eq!(url, "http://127.0.0.1:9/cdn/community-plugins.json");
        assert_eq!(res.url_len, url.len());
        assert_eq!(res.origin, sg_origin::Cdn);
        assert_eq!(res.reason, sg_reason::Mode);
        let mut small = [0 as c_char; 8];
        let mut res2 = sg_resolution { url_len: 0, ..res };
        let s = unsafe {
            sg_resolver_resolve(
                r,
                c"community-plugins.json".as_ptr(),
                small.as_mut_ptr(),
                small.len(),
                &mut res2,
            )
        };
        assert_eq!(s, sg_status::BufferTooSmall);
        assert_eq!(res2.url_len, url.len());
        let s = unsafe {
            sg_resolver_resolve(r, c"../x".as_ptr(), buf.as_mut_ptr(), buf.len(), &mut res2)
        };
        assert_eq!(s, sg_status::InvalidPath);
        unsafe { sg_resolver_free(r) };
    }
}
