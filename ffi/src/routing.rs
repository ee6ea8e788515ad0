//! The plain-data decision types ([`sg_origin`], [`sg_reason`], [`sg_unavailable`],
//! [`sg_mode`], [`sg_resolution`]), their conversions from the resolver's types, their static
//! names ([`sg_origin_name`], [`sg_reason_name`]), [`sg_bucket_of`] and the route decision
//! as JSON ([`sg_route_json`]).

use std::ffi::c_char;

use sourcegate::routing::Unavailable;
use sourcegate::{Mode, OriginKind, Reason};

use crate::error::Failure;
use crate::memory::{c_str, non_null};
use crate::panic::ffi_call;
use crate::status::sg_status;
#[cfg(doc)]
use crate::{sg_resolver_resolve, sg_string_free};

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

/// The C value of an origin.
pub(crate) fn origin_c(k: OriginKind) -> sg_origin {
    match k {
        OriginKind::Git => sg_origin::Git,
        OriginKind::Cdn => sg_origin::Cdn,
    }
}

/// The C value of why an origin is skipped.
fn unavailable_c(u: Unavailable) -> sg_unavailable {
    match u {
        Unavailable::RateLimited => sg_unavailable::RateLimited,
        Unavailable::Ejected => sg_unavailable::Ejected,
        Unavailable::Unhealthy => sg_unavailable::Unhealthy,
    }
}

/// The C value of a route's reason (its data goes in [`sg_resolution`]).
pub(crate) fn reason_c(r: Reason) -> sg_reason {
    match r {
        Reason::Mode => sg_reason::Mode,
        Reason::Canary { .. } => sg_reason::Canary,
        Reason::Failover { .. } => sg_reason::Failover,
        Reason::PanicMode => sg_reason::PanicMode,
        Reason::NoFallback { .. } => sg_reason::NoFallback,
    }
}

/// The C value of a routing mode.
pub(crate) fn mode_c(m: Mode) -> sg_mode {
    match m {
        Mode::Git => sg_mode::Git,
        Mode::Cdn => sg_mode::Cdn,
        Mode::Hybrid { .. } => sg_mode::Hybrid,
        Mode::Canary { .. } => sg_mode::Canary,
    }
}

/// The C form of a resolution; `url_len` is the URL's length without a NUL.
pub(crate) fn resolution_c(r: &sourcegate::ResolutionRef<'_>) -> sg_resolution {
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

/// The route decision alone, as JSON in and out: no resolver, no I/O (the conformance suite in
/// `test-data/conformance` drives every host through it).
///
/// `input_json` is one object: `document` (a `marketplace_source` document), `installId`
/// (string; its canary bucket by the bucket rule), `origins.git` / `origins.cdn` (each
/// `{"unavailable": null | "rateLimited" | "ejected" | "unhealthy", "lastFailure": u64,
/// "configured": bool}`; absent fields: available, never failed, configured when the document
/// has its URL) and optionally `path`. Writes to `*out_json` (release it with
/// [`sg_string_free`]) `{"order": ["git"|"cdn", …], "reason": {"kind": …, …}}` (the
/// reason as `sourcegate::Reason` serialises) plus `"url"` when a `path` was given: the path
/// joined to the first origin's base URL.
///
/// # Errors
/// `SG_STATUS_NULL_PARAMETER`, `SG_STATUS_INVALID_UTF8`; `SG_STATUS_INVALID_ARGUMENT` for input
/// that is not such an object; `SG_STATUS_CONFIG_INVALID` for a document the validator
/// refuses; `SG_STATUS_INVALID_PATH` / `SG_STATUS_NO_ORIGIN` for a path that cannot be joined.
///
/// # Safety
/// `input_json` must be a NUL-terminated string; `out_json` valid for a write of one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_route_json(
    input_json: *const c_char,
    out_json: *mut *mut c_char,
) -> sg_status {
    ffi_call!({
        // SAFETY: per this function's contract.
        let input = unsafe { c_str(input_json, "input_json") }?;
        non_null(out_json, "out_json")?;
        let out = route_json(input)?;
        let s = crate::memory::string_to_c(out)?;
        // SAFETY: `out_json` is valid for a write per the contract.
        unsafe { *out_json = s };
        Ok(())
    })
}

/// [`sg_route_json`] without the C strings: the core's one decision of a case
/// ([`sourcegate::conformance::route_case`]), its errors mapped to statuses.
fn route_json(input: &str) -> Result<String, Failure> {
    use sourcegate::conformance::{CaseError, route_case};
    let bad = |msg: String| Failure::new(sg_status::InvalidArgument, msg);
    let v: serde_json::Value =
        serde_json::from_str(input).map_err(|e| bad(format!("input_json: {e}")))?;
    match route_case(&v) {
        Ok(out) => Ok(out.to_string()),
        Err(CaseError::InvalidArgument(m)) => Err(bad(m)),
        Err(CaseError::Config(e)) => Err(Failure::new(sg_status::ConfigInvalid, e.to_string())),
        Err(CaseError::Request(e)) => Err(e.into()),
    }
}
