//! The app lifecycle of a resolver handle: [`sg_resolver_pause`] / [`sg_resolver_resume`]
//! (an app moving to the background and back), [`sg_resolver_wait_ready`] and
//! [`sg_resolver_close`] (flush the last telemetry delta, end the background work). The offline
//! switch is the options' `"offline": true` (see [`crate::sg_resolver_new`]).

use std::sync::Arc;
use std::time::Duration;

use crate::memory::non_null;
use crate::panic::ffi_call;
use crate::resolver::{handle, sg_resolver};
use crate::status::sg_status;
#[cfg(doc)]
use crate::{sg_resolver_fetch, sg_resolver_free, sg_resolver_reload, sg_resolver_resolve};

/// Pauses the resolver's background work, e.g. when the app goes to the background: no health
/// probes, no push stream (its connection is closed), no telemetry report, no TTL refresh. The
/// config held keeps serving [`sg_resolver_resolve`]; calls the host makes itself
/// ([`sg_resolver_fetch`], [`sg_resolver_reload`]) still work. Never blocks. Idempotent; does
/// nothing once closed.
///
/// # Safety
/// `resolver` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_resolver_pause(resolver: *const sg_resolver) -> sg_status {
    ffi_call!({
        // SAFETY: per this function's contract.
        let h = unsafe { handle(resolver) }?;
        h.resolver.pause();
        Ok(())
    })
}

/// Resumes after [`sg_resolver_pause`]: revalidates the config at once (one request to the
/// providers, conditional for a control plane: `If-None-Match`), restarts the push stream,
/// the probes and telemetry. Never blocks (the revalidation runs on a Sourcegate thread; config
/// callbacks fire if the config changed). Idempotent: does nothing unless paused.
///
/// # Safety
/// `resolver` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_resolver_resume(resolver: *const sg_resolver) -> sg_status {
    ffi_call!({
        // SAFETY: per this function's contract.
        let h = unsafe { handle(resolver) }?;
        h.resolver.resume();
        Ok(())
    })
}

/// Waits until the resolver holds an installed config, at most `timeout_ms` milliseconds, and
/// writes to `*ready_out` whether it does: `true` at once when a config is installed already
/// (from a provider, the last-known-good `cacheFile`, `staticConfig`), `true` when one arrives
/// in time, `false` when the timeout passes first (the resolver then serves its built-in
/// default and keeps trying in the background). `timeout_ms` 0 only reads the state.
/// **Blocks** up to `timeout_ms`.
///
/// Errors: `SG_STATUS_NULL_PARAMETER`; `SG_STATUS_WRONG_THREAD` from a callback.
///
/// # Safety
/// `resolver` must be a live handle; `ready_out` valid for a write of one `bool`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_resolver_wait_ready(
    resolver: *const sg_resolver,
    timeout_ms: u64,
    ready_out: *mut bool,
) -> sg_status {
    ffi_call!({
        // SAFETY: per this function's contract.
        let h = unsafe { handle(resolver) }?;
        non_null(ready_out, "ready_out")?;
        let r = Arc::clone(&h.resolver);
        let timeout = Duration::from_millis(timeout_ms);
        let ready = h.block_on(async move { r.wait_for_initialization(timeout).await })?;
        // SAFETY: non-NULL and valid for a write per the contract.
        unsafe { *ready_out = ready };
        Ok(())
    })
}

/// Closes the resolver: ends its background work (probes, push stream, refreshes) and sends
/// the last telemetry report (the requests counted since the previous report, if any), waiting
/// at most 6 s for it (the report's 5 s timeout and a margin). **Blocks** until then.
/// Afterwards [`sg_resolver_resolve`] still answers from the config held, while
/// [`sg_resolver_fetch`] and [`sg_resolver_reload`] (and their async forms) fail with
/// `SG_STATUS_CLOSED`. Idempotent: a later call returns at once. The handle stays valid and
/// must still be released with [`sg_resolver_free`] (which alone does not send the last
/// report).
///
/// Errors: `SG_STATUS_WRONG_THREAD` from a callback.
///
/// # Safety
/// `resolver` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_resolver_close(resolver: *const sg_resolver) -> sg_status {
    ffi_call!({
        // SAFETY: per this function's contract.
        let h = unsafe { handle(resolver) }?;
        let r = Arc::clone(&h.resolver);
        h.block_on(async move { r.close().await })?;
        Ok(())
    })
}
