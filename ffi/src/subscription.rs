//! Config change callbacks: [`sg_config_event`], [`sg_resolver_on_config_change`] and
//! [`sg_resolver_remove_config_callback`].

use std::ffi::{CString, c_char, c_void};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use sourcegate::MarketplaceConfig;
use tokio::task::AbortHandle;

use crate::callback::{UserData, sg_config_callback};
use crate::error::Failure;
use crate::panic::ffi_call;
use crate::resolver::{handle, on_runtime_thread, sg_resolver};
use crate::routing::{mode_c, sg_mode};
#[cfg(doc)]
use crate::sg_resolver_free;
use crate::status::sg_status;

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

/// One registration of [`sg_resolver_on_config_change`].
pub(crate) struct Subscription {
    /// Its id, as returned to the host.
    id: u64,
    /// The task that waits for configs and calls the host.
    pub(crate) task: AbortHandle,
    /// Held during each call; cleared by removal.
    gate: Arc<CallbackGate>,
}

/// Serialises one subscription's calls with its removal, so that after
/// [`sg_resolver_remove_config_callback`] returns (on a host thread) no call is running or will
/// start.
struct CallbackGate {
    /// `false` once removed; locked for the duration of each call.
    active: Mutex<bool>,
}

/// The normalised document of `cfg` as a C string.
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
