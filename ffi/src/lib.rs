//! # sourcegate-ffi: the C ABI of the Sourcegate resolver
//!
//! One resolver for hosts not written in Rust (C, Node.js through koffi, Swift, Kotlin). The
//! header `include/sourcegate.h` is generated from this file by cbindgen (`ffi/check-header.sh`
//! regenerates it and fails on a diff).
//!
//! ## Conventions (modelled on rustls-ffi)
//! - Typed opaque handle [`sg_resolver`], created by [`sg_resolver_new`] and released by
//!   [`sg_resolver_free`] (which accepts NULL).
//! - Every function returns an [`sg_status`] (or a plain value when it cannot fail). On failure,
//!   [`sg_last_error_message`] returns a description, per thread.
//! - Out-parameters are written only on success (one documented exception: the required length
//!   on [`sg_status::BufferTooSmall`]).
//! - Every extern function body runs inside one panic-boundary macro ([`ffi_call!`], three forms): a Rust panic
//!   becomes [`sg_status::Panic`], never an abort or an unwind into C.
//! - Ownership: every string or buffer Sourcegate returns is released with its `sg_*_free`
//!   function ([`sg_string_free`], [`sg_bytes_free`]); nothing is freed across allocators.
//!   Pointers handed to callbacks are borrowed for the duration of the call only.
//!
//! ## Threading
//! The handle is thread-safe: all functions taking `const sg_resolver *` may be called from any
//! number of threads at once. Each resolver owns a multi-thread tokio runtime (2 worker threads
//! named `sourcegate-worker`) created by [`sg_resolver_new`] and shut down by
//! [`sg_resolver_free`]. Callbacks are called from those worker threads ("Sourcegate
//! threads"). Blocking functions ([`sg_resolver_fetch`], [`sg_resolver_reload`]) must not be
//! called from a callback: they then fail with [`sg_status::WrongThread`] instead of
//! deadlocking.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![allow(non_camel_case_types)]

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sourcegate::provider::{ControlPlaneProvider, StaticProvider, SupabaseProvider};
use sourcegate::routing::Unavailable;
use sourcegate::{Error, MarketplaceConfig, Mode, OriginKind, Outcome, Reason, Resolver};
use tokio::runtime::Runtime;
use tokio::task::AbortHandle;

/// The Git URL used when the options give no `defaultGitUrl`: the Obsidian registry
/// repository on `raw.githubusercontent.com`.
pub const DEFAULT_GIT_URL: &str =
    "https://raw.githubusercontent.com/obsidianmd/obsidian-releases/HEAD/";

/// Result code of every fallible `sg_*` function. Values are stable and grouped by hundreds:
/// `0` success, `1xx` caller errors, `2xx` config errors, `3xx` origin errors, `4xx`
/// environment errors, `5xx` internal errors. New codes may be added inside a group; a host
/// should treat an unknown code by its group (`code / 100`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sg_status {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullParameter = 100,
    /// A string argument was not valid UTF-8.
    InvalidUtf8 = 101,
    /// The options JSON could not be parsed or has a bad value (URL, path, number).
    InvalidOptions = 102,
    /// The request path is not a relative path under the origin (absolute, scheme, `..`).
    InvalidPath = 103,
    /// A caller-provided buffer is too small; see the function for where the needed size is.
    BufferTooSmall = 104,
    /// A blocking function was called from a Sourcegate thread (inside a callback).
    WrongThread = 105,
    /// An enum or numeric argument is out of range.
    InvalidArgument = 106,
    /// No such item (e.g. an unknown subscription id).
    NotFound = 107,
    /// A config document was refused by validation; the config in use is unchanged.
    ConfigInvalid = 200,
    /// A config document older than the one in use was refused; the config in use is unchanged.
    ConfigStale = 201,
    /// Every config provider failed; the config in use (last-known-good or default) is unchanged.
    ProvidersFailed = 202,
    /// Every candidate origin failed the request.
    AllOriginsFailed = 300,
    /// No origin is configured for the route.
    NoOrigin = 301,
    /// The tokio runtime could not be created.
    Runtime = 400,
    /// The HTTP client could not be built.
    HttpClient = 401,
    /// The install-id file could not be read or written.
    InstallIdFile = 402,
    /// A Rust panic was caught at the boundary; the handle may still be used.
    Panic = 500,
    /// The operation was cancelled because its resolver was freed.
    Cancelled = 501,
    /// An unexpected internal error.
    Internal = 502,
}

/// An origin.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sg_origin {
    /// The Git raw host (rate-limited).
    Git = 1,
    /// The CDN (`cloudflare` in the seed's documents).
    Cdn = 2,
}

/// Why the route is what it is (see `sourcegate::Reason`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sg_reason {
    /// The mode's preferred origin (`git`, `cdn` or `hybrid` mode).
    Mode = 1,
    /// Canary mode: the install's bucket against the threshold.
    Canary = 2,
    /// The preferred origin is unavailable; the other one goes first.
    Failover = 3,
    /// Every candidate is unavailable; trying anyway, least recently failed first.
    PanicMode = 4,
    /// The preferred origin is unavailable and fallback is off: trying it anyway.
    NoFallback = 5,
}

/// Why an origin is skipped (for [`sg_reason::Failover`] and [`sg_reason::NoFallback`]).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sg_unavailable {
    /// Not applicable (the reason carries no cause).
    None = 0,
    /// Rate-limited (after a 429, or a 403 from Git), until its cooldown ends.
    RateLimited = 1,
    /// Ejected by passive outlier detection.
    Ejected = 2,
    /// Failed its active health checks.
    Unhealthy = 3,
}

/// The routing mode of a config (`type` in the document).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sg_mode {
    /// Everything to Git.
    Git = 1,
    /// Everything to the CDN.
    Cdn = 2,
    /// Both origins in the document's priority order.
    Hybrid = 3,
    /// A sticky share of installs on the CDN.
    Canary = 4,
}

/// The answer of [`sg_resolver_resolve`]. Plain data: nothing in it needs freeing.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sg_resolution {
    /// The origin chosen.
    pub origin: sg_origin,
    /// Why it was chosen.
    pub reason: sg_reason,
    /// For [`sg_reason::Failover`]: the preferred origin that was skipped; else equal to `origin`.
    pub failover_from: sg_origin,
    /// For [`sg_reason::Failover`] / [`sg_reason::NoFallback`]: why; else `SG_UNAVAILABLE_NONE`.
    pub unavailable: sg_unavailable,
    /// For [`sg_reason::Canary`]: the install's bucket (`0..10000`); else 0.
    pub bucket: u32,
    /// For [`sg_reason::Canary`]: `canaryPercent × 100`; else 0.
    pub threshold_bp: u32,
    /// Version of the config document that decided it.
    pub config_version: u64,
    /// Length in bytes of the URL written to the caller's buffer, without its NUL terminator.
    pub url_len: usize,
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
}

/// A config change, passed to a [`sg_config_callback`]. Borrowed for the duration of the call.
#[repr(C)]
#[derive(Debug)]
pub struct sg_config_event {
    /// The new document's version.
    pub version: u64,
    /// Its routing mode.
    pub mode: sg_mode,
    /// The normalised document as JSON (NUL-terminated; `json_len` excludes the NUL).
    pub json: *const c_char,
    /// Length of `json` in bytes.
    pub json_len: usize,
}

/// Called once per non-blocking fetch, from a Sourcegate thread (or, if the resolver is freed
/// while the fetch is in flight, from the thread calling [`sg_resolver_free`], with
/// `SG_STATUS_CANCELLED`). `result` is non-NULL only when `status` is `SG_STATUS_OK`;
/// `message` is non-NULL only when it is not. Both are borrowed for the duration of the call.
pub type sg_fetch_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        status: sg_status,
        result: *const sg_fetch_result,
        message: *const c_char,
    ),
>;

/// Called when a new config is installed, from a Sourcegate thread. `event` is borrowed for the
/// duration of the call. The callback must return promptly and must not call
/// [`sg_resolver_free`] or a blocking function.
pub type sg_config_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const sg_config_event)>;

/// Called once when a non-blocking operation completes, from a Sourcegate thread. `message` is
/// NULL on success, else an error description borrowed for the duration of the call.
pub type sg_done_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, status: sg_status, message: *const c_char)>;

/// An opaque resolver handle. Create with [`sg_resolver_new`], release with
/// [`sg_resolver_free`]. Thread-safe.
pub struct sg_resolver {
    _private: [u8; 0],
}

/// The real object behind an `sg_resolver *`.
struct Handle {
    resolver: Arc<Resolver>,
    runtime: Option<Runtime>,
    /// Set once the first config fetch finished (or the init timeout passed).
    ready: AtomicBool,
    subscriptions: Mutex<Vec<Subscription>>,
    next_subscription: AtomicU64,
}

struct Subscription {
    id: u64,
    task: AbortHandle,
    gate: Arc<CallbackGate>,
}

/// Serialises one subscription's calls with its removal, so that after
/// [`sg_resolver_remove_config_callback`] returns (on a host thread) no call is running or will
/// start.
struct CallbackGate {
    active: Mutex<bool>,
}

/// A host pointer the host promised may be used from any thread.
#[derive(Clone, Copy)]
struct UserData(*mut c_void);
// SAFETY: the header's contract: `userdata` must be usable from any thread.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
    static ON_SOURCEGATE_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn set_last_error(msg: &str) {
    let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = Some(c));
}

fn clear_last_error() {
    LAST_ERROR.with(|e| {
        if e.borrow().is_some() {
            *e.borrow_mut() = None;
        }
    });
}

/// An error at the boundary: a status and a message.
struct Failure(sg_status, String);

impl Failure {
    fn new(status: sg_status, msg: impl Into<String>) -> Failure {
        Failure(status, msg.into())
    }
}

impl<E: Into<Error>> From<E> for Failure {
    fn from(e: E) -> Failure {
        use sourcegate::{BuildError, InstallError, RequestError};
        let e = e.into();
        let status = match &e {
            Error::Install(InstallError::Invalid(_)) => sg_status::ConfigInvalid,
            Error::Install(InstallError::StaleVersion { .. }) => sg_status::ConfigStale,
            Error::Install(InstallError::ProvidersFailed(_)) => sg_status::ProvidersFailed,
            Error::Request(RequestError::NoOrigin { .. }) => sg_status::NoOrigin,
            Error::Request(RequestError::InvalidPath { .. }) => sg_status::InvalidPath,
            Error::Request(RequestError::AllOriginsFailed { .. }) => sg_status::AllOriginsFailed,
            Error::Build(BuildError::NoRuntime) => sg_status::Runtime,
            Error::Build(BuildError::HttpClient(_)) => sg_status::HttpClient,
            Error::Build(BuildError::InstallIdFile { .. }) => sg_status::InstallIdFile,
        };
        Failure(status, e.to_string())
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("panic in sourcegate: {what}")
}

/// The panic boundary every extern function body runs in. Three forms:
/// - `ffi_call!({ … })`: the body returns `Result<(), Failure>`; the thread's last error is
///   cleared first, a failure is recorded and its status returned, a panic becomes
///   [`sg_status::Panic`] with its message recorded.
/// - `ffi_call!(void, { … })`: for functions returning nothing (the `_free` functions); a panic
///   is recorded and swallowed.
/// - `ffi_call!(value = fallback, { … })`: for functions returning a plain value; a panic
///   returns `fallback`. The last error is left alone (`sg_last_error_message` uses this form).
macro_rules! ffi_call {
    ($body:block) => {{
        clear_last_error();
        let result: std::thread::Result<Result<(), Failure>> =
            catch_unwind(AssertUnwindSafe(|| -> Result<(), Failure> { $body }));
        match result {
            Ok(Ok(())) => sg_status::Ok,
            Ok(Err(Failure(status, msg))) => {
                set_last_error(&msg);
                status
            }
            Err(p) => {
                set_last_error(&panic_message(&*p));
                sg_status::Panic
            }
        }
    }};
    (void, $body:block) => {{
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| $body)) {
            set_last_error(&panic_message(&*p));
        }
    }};
    (value = $fallback:expr, $body:block) => {{ catch_unwind(AssertUnwindSafe(|| $body)).unwrap_or($fallback) }};
}

fn non_null<T>(p: *const T, name: &str) -> Result<(), Failure> {
    if p.is_null() {
        Err(Failure::new(
            sg_status::NullParameter,
            format!("`{name}` is NULL"),
        ))
    } else {
        Ok(())
    }
}

/// Borrows a NUL-terminated UTF-8 string.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string valid for `'a`.
unsafe fn c_str<'a>(p: *const c_char, name: &str) -> Result<&'a str, Failure> {
    non_null(p, name)?;
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|e| {
        Failure::new(
            sg_status::InvalidUtf8,
            format!("`{name}` is not UTF-8: {e}"),
        )
    })
}

/// Borrows the handle behind an `sg_resolver *`.
///
/// # Safety
/// `p` must be NULL or a live pointer from [`sg_resolver_new`].
unsafe fn handle<'a>(p: *const sg_resolver) -> Result<&'a Handle, Failure> {
    non_null(p, "resolver")?;
    // SAFETY: created by `Box::into_raw(Box<Handle>)` in `sg_resolver_new`, not yet freed.
    Ok(unsafe { &*p.cast::<Handle>() })
}

impl Handle {
    fn runtime(&self) -> Result<&Runtime, Failure> {
        self.runtime
            .as_ref()
            .ok_or_else(|| Failure::new(sg_status::Internal, "runtime already shut down"))
    }

    /// Runs `fut` to completion on one of this resolver's worker threads and blocks the calling
    /// (host) thread until it is done. The future runs on a worker, not on the caller's stack:
    /// hosts' secondary threads may have small stacks (512 KiB on iOS, libuv's pool in Node).
    fn block_on<F>(&self, fut: F) -> Result<F::Output, Failure>
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

fn on_runtime_thread() -> bool {
    ON_SOURCEGATE_THREAD.with(std::cell::Cell::get) || tokio::runtime::Handle::try_current().is_ok()
}

/// The options of [`sg_resolver_new`], as JSON (camelCase; unknown fields are ignored).
///
/// Public only so that [`parse_options_json`] can return it; its fields stay private.
#[doc(hidden)]
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Options {
    default_git_url: Option<String>,
    control_plane_url: Option<String>,
    control_plane_token: Option<String>,
    supabase_url: Option<String>,
    supabase_key: Option<String>,
    static_config: Option<serde_json::Value>,
    static_config_file: Option<PathBuf>,
    install_id: Option<String>,
    install_id_file: Option<PathBuf>,
    cache_file: Option<PathBuf>,
    cache_ttl_ms: Option<u64>,
    init_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    health_checks: Option<bool>,
    health_check_path: Option<String>,
    push: Option<bool>,
}

/// Parses the options JSON of [`sg_resolver_new`], without starting anything: the pure first
/// step of that function, public for the fuzz target (`fuzz/fuzz_targets/ffi_options.rs`) and
/// tests, which can then reach it without unsafe C calls.
///
/// # Errors
/// The message [`sg_resolver_new`] stores for [`sg_last_error_message`] with
/// [`sg_status::InvalidOptions`] (`invalid options JSON: …`) when `json` is not JSON of the
/// documented shape and field types. (Like any derived serde struct it also takes the
/// sequence form: `[]` parses as empty options; see `fuzz/README.md`.)
#[doc(hidden)]
pub fn parse_options_json(json: &str) -> Result<Options, String> {
    serde_json::from_str(json).map_err(|e| format!("invalid options JSON: {e}"))
}

fn parse_url(field: &str, s: &str) -> Result<url::Url, Failure> {
    s.parse().map_err(|e| {
        Failure::new(
            sg_status::InvalidOptions,
            format!("options.{field}: invalid URL `{s}`: {e}"),
        )
    })
}

fn build_resolver(opts: Options) -> Result<Resolver, Failure> {
    let git = parse_url(
        "defaultGitUrl",
        opts.default_git_url.as_deref().unwrap_or(DEFAULT_GIT_URL),
    )?;
    let mut b = Resolver::builder(git);
    if let Some(u) = &opts.control_plane_url {
        let mut p = ControlPlaneProvider::new(parse_url("controlPlaneUrl", u)?)
            .map_err(|e| Failure::new(sg_status::HttpClient, e.to_string()))?;
        if let Some(t) = &opts.control_plane_token {
            p = p.with_token(t.clone());
        }
        b = b.provider(p);
    }
    match (&opts.supabase_url, &opts.supabase_key) {
        (Some(u), Some(k)) => {
            let p = SupabaseProvider::new(parse_url("supabaseUrl", u)?, k.clone())
                .map_err(|e| Failure::new(sg_status::HttpClient, e.to_string()))?;
            b = b.provider(p);
        }
        (None, None) => {}
        _ => {
            return Err(Failure::new(
                sg_status::InvalidOptions,
                "options.supabaseUrl and options.supabaseKey go together",
            ));
        }
    }
    if let Some(v) = opts.static_config {
        b = b.provider(StaticProvider::Value(v));
    }
    if let Some(f) = opts.static_config_file {
        b = b.provider(StaticProvider::File(f));
    }
    if let Some(id) = opts.install_id {
        b = b.install_id(id);
    }
    if let Some(f) = opts.install_id_file {
        b = b.install_id_file(f);
    }
    if let Some(f) = opts.cache_file {
        b = b.cache_file(f);
    }
    if let Some(ms) = opts.cache_ttl_ms {
        b = b.cache_ttl(Duration::from_millis(ms));
    }
    if let Some(ms) = opts.init_timeout_ms {
        b = b.init_timeout(Duration::from_millis(ms));
    }
    if let Some(ms) = opts.request_timeout_ms {
        b = b.request_timeout(Duration::from_millis(ms));
    }
    if let Some(on) = opts.health_checks {
        b = b.health_checks(on);
    }
    if let Some(p) = opts.health_check_path {
        b = b.health_check_path(p);
    }
    if let Some(on) = opts.push {
        b = b.push(on);
    }
    Ok(b.build()?)
}

fn origin_c(k: OriginKind) -> sg_origin {
    match k {
        OriginKind::Git => sg_origin::Git,
        OriginKind::Cdn => sg_origin::Cdn,
    }
}

fn unavailable_c(u: Unavailable) -> sg_unavailable {
    match u {
        Unavailable::RateLimited => sg_unavailable::RateLimited,
        Unavailable::Ejected => sg_unavailable::Ejected,
        Unavailable::Unhealthy => sg_unavailable::Unhealthy,
    }
}

fn reason_c(r: Reason) -> sg_reason {
    match r {
        Reason::Mode => sg_reason::Mode,
        Reason::Canary { .. } => sg_reason::Canary,
        Reason::Failover { .. } => sg_reason::Failover,
        Reason::PanicMode => sg_reason::PanicMode,
        Reason::NoFallback { .. } => sg_reason::NoFallback,
    }
}

fn mode_c(m: Mode) -> sg_mode {
    match m {
        Mode::Git => sg_mode::Git,
        Mode::Cdn => sg_mode::Cdn,
        Mode::Hybrid { .. } => sg_mode::Hybrid,
        Mode::Canary { .. } => sg_mode::Canary,
    }
}

fn resolution_c(r: &sourcegate::Resolution) -> sg_resolution {
    let origin = origin_c(r.origin);
    let mut out = sg_resolution {
        origin,
        reason: reason_c(r.reason),
        failover_from: origin,
        unavailable: sg_unavailable::None,
        bucket: 0,
        threshold_bp: 0,
        config_version: r.config_version,
        url_len: r.url.as_str().len(),
    };
    match r.reason {
        Reason::Canary {
            bucket,
            threshold_bp,
        } => {
            out.bucket = bucket;
            out.threshold_bp = threshold_bp;
        }
        Reason::Failover { from, cause } => {
            out.failover_from = origin_c(from);
            out.unavailable = unavailable_c(cause);
        }
        Reason::NoFallback { cause } => out.unavailable = unavailable_c(cause),
        Reason::Mode | Reason::PanicMode => {}
    }
    out
}

/// Moves a byte vector to the caller: `(ptr, len)`, released by [`sg_bytes_free`].
fn bytes_to_c(v: Vec<u8>) -> (*mut u8, usize) {
    if v.is_empty() {
        return (std::ptr::null_mut(), 0);
    }
    let b = v.into_boxed_slice();
    let len = b.len();
    (Box::into_raw(b).cast::<u8>(), len)
}

fn string_to_c(s: String) -> Result<*mut c_char, Failure> {
    CString::new(s)
        .map(CString::into_raw)
        .map_err(|_| Failure::new(sg_status::Internal, "string contains a NUL byte"))
}

fn fetch_result(
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
    }
}

/// Creates a resolver from `options_json` and writes its handle to `*out`.
///
/// Options (JSON object, camelCase, all optional, unknown fields ignored):
/// `defaultGitUrl` (built-in default Git base, used when no config can be had),
/// `controlPlaneUrl` (+ `controlPlaneToken`), `supabaseUrl` + `supabaseKey`, `staticConfig`
/// (a config document), `staticConfigFile` (a JSON file re-read on each reload) — providers are
/// tried in that order —, `installId` or `installIdFile`, `cacheFile` (last-known-good),
/// `cacheTtlMs` (300000), `initTimeoutMs` (5000), `requestTimeoutMs` (30000),
/// `healthChecks` (true), `healthCheckPath` (""), `push` (true).
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
/// fetches in flight (their callbacks get `SG_STATUS_CANCELLED`), and shuts its runtime down,
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
        let res = if h.ready.load(Ordering::Acquire) {
            // The resolver spawns background work on its own runtime handle: no enter() needed.
            h.resolver.resolve(path)?
        } else if on_runtime_thread() {
            h.resolver.resolve(path)?
        } else {
            let (r, p) = (Arc::clone(&h.resolver), path.to_owned());
            let r = h.block_on(async move { r.resolve_url(&p).await })?;
            h.ready.store(true, Ordering::Release);
            r?
        };
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
        // distinct (ours is a Rust String).
        unsafe {
            std::ptr::copy_nonoverlapping(url.as_ptr(), url_buf.cast::<u8>(), url.len());
            *url_buf.add(url.len()) = 0;
        }
        info.url_len = url.len();
        // SAFETY: `out` is valid for a write per the contract.
        unsafe { *out = info };
        Ok(())
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

/// Calls a fetch callback once, even if its task is dropped (resolver freed).
struct FetchCallbackGuard {
    callback: unsafe extern "C" fn(*mut c_void, sg_status, *const sg_fetch_result, *const c_char),
    userdata: UserData,
    done: bool,
}

impl FetchCallbackGuard {
    fn complete(&mut self, result: Result<&sourcegate::FetchResponse, Failure>) {
        if self.done {
            return;
        }
        self.done = true;
        let ud = self.userdata.0;
        let cb = self.callback;
        let call = || match result {
            Ok(resp) => {
                let mut body = resp.body.to_vec();
                let r = fetch_result(
                    resp,
                    if body.is_empty() {
                        std::ptr::null_mut()
                    } else {
                        body.as_mut_ptr()
                    },
                    body.len(),
                );
                // SAFETY: the host's callback, with pointers valid for the call.
                unsafe { cb(ud, sg_status::Ok, &r, std::ptr::null()) };
            }
            Err(Failure(status, msg)) => {
                set_last_error(&msg);
                let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
                // SAFETY: the host's callback, with pointers valid for the call.
                unsafe { cb(ud, status, std::ptr::null(), c.as_ptr()) };
            }
        };
        // A panic cannot come from C; this only guards our own code around the call.
        let _ = catch_unwind(AssertUnwindSafe(call));
    }
}

impl Drop for FetchCallbackGuard {
    fn drop(&mut self) {
        self.complete(Err(Failure::new(
            sg_status::Cancelled,
            "the resolver was freed before the fetch completed",
        )));
    }
}

/// Starts fetching `path` (as [`sg_resolver_fetch`]) and returns at once. `callback` is called
/// exactly once with the outcome, from a Sourcegate thread; see [`sg_fetch_callback`]. The
/// body passed to the callback is borrowed: copy it to keep it.
///
/// # Safety
/// `resolver` must be a live handle; `path` a NUL-terminated string (copied before return);
/// `callback` non-NULL; `userdata` is passed back untouched and must be usable from another
/// thread until the callback has run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_resolver_fetch_async(
    resolver: *const sg_resolver,
    path: *const c_char,
    callback: sg_fetch_callback,
    userdata: *mut c_void,
) -> sg_status {
    ffi_call!({
        // SAFETY: per this function's contract.
        let h = unsafe { handle(resolver) }?;
        // SAFETY: per this function's contract.
        let path = unsafe { c_str(path, "path") }?.to_owned();
        let callback =
            callback.ok_or_else(|| Failure::new(sg_status::NullParameter, "`callback` is NULL"))?;
        let mut guard = FetchCallbackGuard {
            callback,
            userdata: UserData(userdata),
            done: false,
        };
        let resolver = Arc::clone(&h.resolver);
        h.runtime()?.spawn(async move {
            match resolver.fetch(&path).await {
                Ok(resp) => guard.complete(Ok(&resp)),
                Err(e) => guard.complete(Err(e.into())),
            }
        });
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

/// Starts a config reload (as [`sg_resolver_reload`]) and returns at once; `callback` (may be
/// NULL) is called once from a Sourcegate thread when it finished. Suited to an app returning
/// to the foreground.
///
/// # Safety
/// `resolver` must be a live handle; `userdata` must be usable from another thread until the
/// callback has run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_resolver_reload_async(
    resolver: *const sg_resolver,
    callback: sg_done_callback,
    userdata: *mut c_void,
) -> sg_status {
    ffi_call!({
        // SAFETY: per this function's contract.
        let h = unsafe { handle(resolver) }?;
        let resolver = Arc::clone(&h.resolver);
        let ud = UserData(userdata);
        h.runtime()?.spawn(async move {
            let ud = ud;
            let result = resolver.reload_config().await;
            if let Some(cb) = callback {
                match result {
                    // SAFETY: the host's callback.
                    Ok(_) => unsafe { cb(ud.0, sg_status::Ok, std::ptr::null()) },
                    Err(e) => {
                        let Failure(status, msg) = e.into();
                        let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
                        // SAFETY: the host's callback, `c` outlives the call.
                        unsafe { cb(ud.0, status, c.as_ptr()) };
                    }
                }
            }
        });
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
/// and `bucket`.
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

fn config_event_json(cfg: &MarketplaceConfig) -> CString {
    CString::new(cfg.to_document().to_string()).unwrap_or_default()
}

/// Registers `callback`, called from a Sourcegate thread each time a new config is installed
/// (by a reload, a periodic refresh or a push), with `userdata` and the new config. Calls of
/// one registration never overlap. Writes a subscription id to `*id_out` when it is not NULL
/// (for [`sg_resolver_remove_config_callback`]). The callback must return promptly and must not
/// call [`sg_resolver_free`] or blocking functions.
///
/// # Safety
/// `resolver` must be a live handle; `callback` non-NULL; `userdata` usable from any thread
/// until the callback is removed or the resolver freed; `id_out` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_resolver_on_config_change(
    resolver: *const sg_resolver,
    callback: sg_config_callback,
    userdata: *mut c_void,
    id_out: *mut u64,
) -> sg_status {
    ffi_call!({
        // SAFETY: per this function's contract.
        let h = unsafe { handle(resolver) }?;
        let cb =
            callback.ok_or_else(|| Failure::new(sg_status::NullParameter, "`callback` is NULL"))?;
        let ud = UserData(userdata);
        let gate = Arc::new(CallbackGate {
            active: Mutex::new(true),
        });
        let mut rx = h.resolver.subscribe();
        rx.borrow_and_update();
        let task_gate = Arc::clone(&gate);
        let task = h.runtime()?.spawn(async move {
            let ud = ud;
            while rx.changed().await.is_ok() {
                let cfg = Arc::clone(&rx.borrow_and_update());
                let json = config_event_json(&cfg);
                let event = sg_config_event {
                    version: cfg.version,
                    mode: mode_c(cfg.mode),
                    json: json.as_ptr(),
                    json_len: json.as_bytes().len(),
                };
                let Ok(active) = task_gate.active.lock() else {
                    return;
                };
                if !*active {
                    return;
                }
                // SAFETY: the host's callback; `event` and `json` outlive the call.
                unsafe { cb(ud.0, &event) };
                drop(active);
            }
        });
        let id = h.next_subscription.fetch_add(1, Ordering::Relaxed);
        h.subscriptions
            .lock()
            .map_err(|_| Failure::new(sg_status::Internal, "subscription list poisoned"))?
            .push(Subscription {
                id,
                task: task.abort_handle(),
                gate,
            });
        if !id_out.is_null() {
            // SAFETY: non-NULL and valid for a write per the contract.
            unsafe { *id_out = id };
        }
        Ok(())
    })
}

/// Removes a config callback. Called from a host thread, it waits for a call in progress to
/// return, and no call starts afterwards. Called from a Sourcegate thread (inside a callback),
/// it does not wait. `SG_STATUS_NOT_FOUND` if `id` is unknown.
///
/// # Safety
/// `resolver` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_resolver_remove_config_callback(
    resolver: *const sg_resolver,
    id: u64,
) -> sg_status {
    ffi_call!({
        // SAFETY: per this function's contract.
        let h = unsafe { handle(resolver) }?;
        let sub = {
            let mut subs = h
                .subscriptions
                .lock()
                .map_err(|_| Failure::new(sg_status::Internal, "subscription list poisoned"))?;
            let i = subs.iter().position(|s| s.id == id).ok_or_else(|| {
                Failure::new(sg_status::NotFound, format!("no config callback {id}"))
            })?;
            subs.swap_remove(i)
        };
        sub.task.abort();
        if on_runtime_thread() {
            if let Ok(mut a) = sub.gate.active.try_lock() {
                *a = false;
            }
        } else {
            match sub.gate.active.lock() {
                Ok(mut a) => *a = false,
                Err(p) => *p.into_inner() = false,
            }
        }
        Ok(())
    })
}

/// Writes the canary bucket (`0..10000`) of `install_id` to `*out`: MurmurHash3 x86 32, seed
/// 0, of `"sourcegate:" + install_id`, modulo 10000 (golden vectors in
/// `test-data/buckets.json`).
///
/// # Safety
/// `install_id` must be a NUL-terminated string; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_bucket_of(install_id: *const c_char, out: *mut u32) -> sg_status {
    ffi_call!({
        // SAFETY: per this function's contract.
        let id = unsafe { c_str(install_id, "install_id") }?;
        non_null(out, "out")?;
        let b = sourcegate::bucket::bucket_of(id);
        // SAFETY: `out` is valid for a write per the contract.
        unsafe { *out = b.0 };
        Ok(())
    })
}

/// The message of the last failing `sg_*` call on this thread (NUL-terminated UTF-8), or an
/// empty string if the last call succeeded. Owned by Sourcegate: do not free it; it is valid
/// until the next `sg_*` call on this thread.
///
/// # Safety
/// Always safe to call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_last_error_message() -> *const c_char {
    ffi_call!(value = c"".as_ptr(), {
        LAST_ERROR.with(|e| match e.borrow().as_ref() {
            Some(c) => c.as_ptr(),
            None => c"".as_ptr(),
        })
    })
}

/// A static, NUL-terminated name of `status` (`"SG_STATUS_OK"`, …); `"SG_STATUS_UNKNOWN"` for an
/// unknown value. Do not free.
///
/// # Safety
/// Always safe to call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_status_name(status: u32) -> *const c_char {
    ffi_call!(value = c"SG_STATUS_UNKNOWN".as_ptr(), {
        status_name(status).as_ptr()
    })
}

fn status_name(status: u32) -> &'static CStr {
    match status {
        0 => c"SG_STATUS_OK",
        100 => c"SG_STATUS_NULL_PARAMETER",
        101 => c"SG_STATUS_INVALID_UTF8",
        102 => c"SG_STATUS_INVALID_OPTIONS",
        103 => c"SG_STATUS_INVALID_PATH",
        104 => c"SG_STATUS_BUFFER_TOO_SMALL",
        105 => c"SG_STATUS_WRONG_THREAD",
        106 => c"SG_STATUS_INVALID_ARGUMENT",
        107 => c"SG_STATUS_NOT_FOUND",
        200 => c"SG_STATUS_CONFIG_INVALID",
        201 => c"SG_STATUS_CONFIG_STALE",
        202 => c"SG_STATUS_PROVIDERS_FAILED",
        300 => c"SG_STATUS_ALL_ORIGINS_FAILED",
        301 => c"SG_STATUS_NO_ORIGIN",
        400 => c"SG_STATUS_RUNTIME",
        401 => c"SG_STATUS_HTTP_CLIENT",
        402 => c"SG_STATUS_INSTALL_ID_FILE",
        500 => c"SG_STATUS_PANIC",
        501 => c"SG_STATUS_CANCELLED",
        502 => c"SG_STATUS_INTERNAL",
        _ => c"SG_STATUS_UNKNOWN",
    }
}

/// `"git"`, `"cdn"`, or `"unknown"`. Static; do not free.
///
/// # Safety
/// Always safe to call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_origin_name(origin: u32) -> *const c_char {
    ffi_call!(value = c"unknown".as_ptr(), {
        match origin {
            1 => c"git".as_ptr(),
            2 => c"cdn".as_ptr(),
            _ => c"unknown".as_ptr(),
        }
    })
}

/// `"mode"`, `"canary"`, `"failover"`, `"panicMode"`, `"noFallback"` (as the Rust `Reason`
/// serialises), or `"unknown"`. Static; do not free.
///
/// # Safety
/// Always safe to call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_reason_name(reason: u32) -> *const c_char {
    ffi_call!(value = c"unknown".as_ptr(), {
        match reason {
            1 => c"mode".as_ptr(),
            2 => c"canary".as_ptr(),
            3 => c"failover".as_ptr(),
            4 => c"panicMode".as_ptr(),
            5 => c"noFallback".as_ptr(),
            _ => c"unknown".as_ptr(),
        }
    })
}

/// Releases a string returned by Sourcegate (e.g. from [`sg_resolver_stats_json`]). NULL is
/// accepted and ignored.
///
/// # Safety
/// `s` must be NULL or a string returned by a Sourcegate function documented as released by
/// `sg_string_free`, not yet released.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_string_free(s: *mut c_char) {
    ffi_call!(void, {
        if !s.is_null() {
            // SAFETY: from `CString::into_raw`, per the contract.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}

/// Releases a byte buffer returned by Sourcegate (e.g. `sg_fetch_result.body`), with the
/// length returned alongside it. NULL is accepted and ignored.
///
/// # Safety
/// `ptr`/`len` must be NULL/any, or exactly a buffer and its length returned by a Sourcegate
/// function documented as released by `sg_bytes_free`, not yet released.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_bytes_free(ptr: *mut u8, len: usize) {
    ffi_call!(void, {
        if !ptr.is_null() {
            let slice = std::ptr::slice_from_raw_parts_mut(ptr, len);
            // SAFETY: from `Box::<[u8]>::into_raw` with this length, per the contract.
            drop(unsafe { Box::from_raw(slice) });
        }
    })
}

/// The version of this library (NUL-terminated, static; do not free).
///
/// # Safety
/// Always safe to call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_version() -> *const c_char {
    const V: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(c) => c,
            Err(_) => c"unknown",
        };
    ffi_call!(value = c"unknown".as_ptr(), { V.as_ptr() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_bad_options_give_statuses_and_messages() {
        let mut out: *mut sg_resolver = std::ptr::null_mut();
        let s = unsafe { sg_resolver_new(std::ptr::null(), &mut out) };
        assert_eq!(s, sg_status::NullParameter);
        assert!(out.is_null());
        let s = unsafe { sg_resolver_new(c"{not json".as_ptr(), &mut out) };
        assert_eq!(s, sg_status::InvalidOptions);
        assert!(out.is_null());
        let msg = unsafe { CStr::from_ptr(sg_last_error_message()) };
        assert!(
            msg.to_str().unwrap().contains("invalid options JSON"),
            "{msg:?}"
        );
        let bad = [0xffu8, 0];
        let s = unsafe { sg_resolver_new(bad.as_ptr().cast(), &mut out) };
        assert_eq!(s, sg_status::InvalidUtf8);
    }

    #[test]
    fn panics_become_a_status_and_a_message() {
        let status = ffi_call!({
            if std::hint::black_box(true) {
                panic!("boom");
            }
            Ok(())
        });
        assert_eq!(status, sg_status::Panic);
        let msg = unsafe { CStr::from_ptr(sg_last_error_message()) };
        assert_eq!(msg.to_str().unwrap(), "panic in sourcegate: boom");
        ffi_call!(void, {
            if std::hint::black_box(true) {
                panic!("in a free function");
            }
        });
        let msg = unsafe { CStr::from_ptr(sg_last_error_message()) };
        assert!(msg.to_str().unwrap().contains("in a free function"));
        let v: u32 = ffi_call!(value = 7, { panic!("value") });
        assert_eq!(v, 7);
        // A later successful call clears the message.
        let mut b = 0u32;
        assert_eq!(
            unsafe { sg_bucket_of(c"x".as_ptr(), &mut b) },
            sg_status::Ok
        );
        assert_eq!(
            unsafe { CStr::from_ptr(sg_last_error_message()) }.to_bytes(),
            b""
        );
    }

    #[test]
    fn every_status_has_its_header_name() {
        let header = include_str!("../include/sourcegate.h");
        let all = [
            sg_status::Ok,
            sg_status::NullParameter,
            sg_status::InvalidUtf8,
            sg_status::InvalidOptions,
            sg_status::InvalidPath,
            sg_status::BufferTooSmall,
            sg_status::WrongThread,
            sg_status::InvalidArgument,
            sg_status::NotFound,
            sg_status::ConfigInvalid,
            sg_status::ConfigStale,
            sg_status::ProvidersFailed,
            sg_status::AllOriginsFailed,
            sg_status::NoOrigin,
            sg_status::Runtime,
            sg_status::HttpClient,
            sg_status::InstallIdFile,
            sg_status::Panic,
            sg_status::Cancelled,
            sg_status::Internal,
        ];
        for s in all {
            let name = status_name(s as u32).to_str().unwrap();
            let line = format!("{name} = {},", s as u32);
            assert!(header.contains(&line), "{line} not in the header");
        }
        let declared = header
            .lines()
            .filter(|l| l.starts_with("  SG_STATUS_") && l.contains(" = "))
            .count();
        assert_eq!(declared, all.len());
    }

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
