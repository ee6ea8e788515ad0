//! # sourcegate-ffi: the C ABI of the Sourcegate resolver
//!
//! One resolver for hosts not written in Rust (C, Node.js through koffi, Swift, Kotlin). The
//! header `include/sourcegate.h` is generated from this crate by cbindgen (`ffi/check-header.sh`
//! regenerates it and fails on a diff).
//!
//! ## Layout
//! One module per C type or concern, as rustls-ffi lays out its crate:
//! - `status`: [`sg_status`], the stable result codes, and [`sg_status_name`].
//! - `error`: the thread's last error ([`sg_last_error_message`]) and the boundary's error
//!   type, with the mapping from `sourcegate::Error` to [`sg_status`].
//! - `panic`: the panic boundary `ffi_call!` every extern function body runs in.
//! - `memory`: borrowing C input (NULL checks, UTF-8) and handing strings and buffers to the
//!   caller; [`sg_string_free`], [`sg_bytes_free`].
//! - `options`: the options JSON of [`sg_resolver_new`] ([`parse_options_json`]) and how it
//!   configures a `sourcegate::ResolverBuilder`.
//! - `routing`: the plain-data decision types ([`sg_origin`], [`sg_reason`],
//!   [`sg_unavailable`], [`sg_mode`], [`sg_resolution`]), [`sg_origin_name`],
//!   [`sg_reason_name`], [`sg_bucket_of`], the route decision as JSON ([`sg_route_json`]).
//! - `resolver`: the handle [`sg_resolver`] and its synchronous entry points (new, free,
//!   resolve, the blocking fetch and reload, report outcome, stats), [`sg_fetch_result`].
//! - `lifecycle`: the app lifecycle of a handle: [`sg_resolver_pause`], [`sg_resolver_resume`],
//!   [`sg_resolver_wait_ready`], [`sg_resolver_close`].
//! - `android` (Android builds with `tls-platform` only): `sg_android_init`, which hands the
//!   JNI environment and the app's `Context` to the platform certificate verifier.
//! - `callback`: the callback types ([`sg_fetch_callback`], [`sg_done_callback`],
//!   [`sg_config_callback`]) and the exactly-once completion every async entry point uses.
//! - `async_`: the non-blocking entry points [`sg_resolver_fetch_async`] and
//!   [`sg_resolver_reload_async`].
//! - `subscription`: config change callbacks ([`sg_config_event`],
//!   [`sg_resolver_on_config_change`], [`sg_resolver_remove_config_callback`]).
//! - `version`: [`sg_version`].
//!
//! ## Conventions (modelled on rustls-ffi)
//! - Typed opaque handle [`sg_resolver`], created by [`sg_resolver_new`] and released by
//!   [`sg_resolver_free`] (which accepts NULL).
//! - Every function returns an [`sg_status`] (or a plain value when it cannot fail). On failure,
//!   [`sg_last_error_message`] returns a description, per thread.
//! - Out-parameters are written only on success (one documented exception: the required length
//!   on [`sg_status::BufferTooSmall`]).
//! - Every extern function body runs inside one panic-boundary macro (`ffi_call!`, three
//!   forms): a Rust panic becomes [`sg_status::Panic`], never an abort or an unwind into C.
//! - Every async entry point calls its callback exactly once: with the outcome, or with
//!   [`sg_status::Cancelled`] when the resolver is freed first, or [`sg_status::Panic`].
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

// Declared in the order of the header's functions (cbindgen follows it): the handle, the
// async calls, config callbacks, plain values, errors, memory, the version. (One per
// paragraph, so that rustfmt keeps this order.)
mod resolver;

mod lifecycle;

#[cfg(all(target_os = "android", feature = "tls-platform"))]
mod android;

mod async_;

mod subscription;

mod routing;

mod status;

mod error;

mod memory;

mod version;

mod callback;

mod options;

mod panic;

#[cfg(all(target_os = "android", feature = "tls-platform"))]
pub use android::sg_android_init;
pub use async_::{sg_resolver_fetch_async, sg_resolver_reload_async};
pub use callback::{sg_config_callback, sg_done_callback, sg_fetch_callback};
pub use error::sg_last_error_message;
pub use lifecycle::{
    sg_resolver_close, sg_resolver_pause, sg_resolver_resume, sg_resolver_wait_ready,
};
pub use memory::{sg_bytes_free, sg_string_free};
pub use options::{DEFAULT_GIT_URL, Options, parse_options_json};
pub use resolver::{
    sg_body_source, sg_fetch_result, sg_resolver, sg_resolver_fetch, sg_resolver_free,
    sg_resolver_new, sg_resolver_reload, sg_resolver_report_outcome, sg_resolver_resolve,
    sg_resolver_stats_json,
};
pub use routing::{
    sg_bucket_of, sg_mode, sg_origin, sg_origin_name, sg_reason, sg_reason_name, sg_resolution,
    sg_route_json, sg_unavailable,
};
pub use status::{sg_status, sg_status_name};
pub use subscription::{
    sg_config_event, sg_resolver_on_config_change, sg_resolver_remove_config_callback,
};
pub use version::sg_version;
