//! The non-blocking entry points, [`sg_resolver_fetch_async`] and
//! [`sg_resolver_reload_async`]. Both go through `callback::spawn_exactly_once`, so each calls
//! its callback exactly once: with the outcome, or `SG_STATUS_CANCELLED` when the resolver is
//! freed first, or `SG_STATUS_PANIC`.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use sourcegate::FetchResponse;

use crate::callback::{
    Completion, UserData, sg_done_callback, sg_fetch_callback, spawn_exactly_once,
};
use crate::error::{Failure, c_message, set_last_error};
use crate::memory::c_str;
use crate::panic::ffi_call;
use crate::resolver::{fetch_result, handle, sg_fetch_result, sg_resolver};
use crate::status::sg_status;
#[cfg(doc)]
use crate::{sg_resolver_fetch, sg_resolver_reload};

/// The callback of one [`sg_resolver_fetch_async`].
struct FetchCompletion {
    callback: unsafe extern "C" fn(*mut c_void, sg_status, *const sg_fetch_result, *const c_char),
    userdata: UserData,
}

impl Completion for FetchCompletion {
    type Value = FetchResponse;

    fn call(self, result: Result<FetchResponse, Failure>) {
        let (cb, ud) = (self.callback, self.userdata.0);
        match result {
            Ok(resp) => {
                let mut body = resp.body.to_vec();
                let ptr = if body.is_empty() {
                    std::ptr::null_mut()
                } else {
                    body.as_mut_ptr()
                };
                let r = fetch_result(&resp, ptr, body.len());
                // SAFETY: the host's callback, with pointers valid for the call.
                unsafe { cb(ud, sg_status::Ok, &r, std::ptr::null()) };
            }
            Err(Failure(status, msg)) => {
                set_last_error(&msg);
                let c = c_message(&msg);
                // SAFETY: the host's callback, with pointers valid for the call.
                unsafe { cb(ud, status, std::ptr::null(), c.as_ptr()) };
            }
        }
    }
}

/// The callback of one [`sg_resolver_reload_async`] (none when the host passed NULL).
struct DoneCompletion {
    callback: sg_done_callback,
    userdata: UserData,
}

impl Completion for DoneCompletion {
    type Value = ();

    fn call(self, result: Result<(), Failure>) {
        let (Some(cb), ud) = (self.callback, self.userdata.0) else {
            return;
        };
        match result {
            // SAFETY: the host's callback.
            Ok(()) => unsafe { cb(ud, sg_status::Ok, std::ptr::null()) },
            Err(Failure(status, msg)) => {
                set_last_error(&msg);
                let c = c_message(&msg);
                // SAFETY: the host's callback, `c` outlives the call.
                unsafe { cb(ud, status, c.as_ptr()) };
            }
        }
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
        let resolver = Arc::clone(&h.resolver);
        spawn_exactly_once(
            h.runtime()?,
            FetchCompletion {
                callback,
                userdata: UserData(userdata),
            },
            "the resolver was freed before the fetch completed",
            async move { resolver.fetch(&path).await.map_err(Failure::from) },
        );
        Ok(())
    })
}

/// Starts a config reload (as [`sg_resolver_reload`]) and returns at once; `callback` (may be
/// NULL) is called exactly once from a Sourcegate thread when it finished, with the outcome
/// (the errors of [`sg_resolver_reload`]), or with `SG_STATUS_CANCELLED` if the resolver is
/// freed first; see [`sg_done_callback`]. Suited to an app returning to the foreground.
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
        spawn_exactly_once(
            h.runtime()?,
            DoneCompletion {
                callback,
                userdata: UserData(userdata),
            },
            "the resolver was freed before the reload completed",
            async move {
                resolver.reload_config().await?;
                Ok(())
            },
        );
        Ok(())
    })
}
