//! [`sg_status`]: the result code of every fallible `sg_*` function, and its names.

use std::ffi::{CStr, c_char};

use crate::panic::ffi_call;

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
    /// The resolver was closed (`sg_resolver_close`): it fetches and reloads no more.
    Closed = 108,
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
    /// The resolver is offline (`"offline": true`) and holds no servable kept body for the
    /// path: no request is made.
    Offline = 302,
    /// The tokio runtime could not be created.
    Runtime = 400,
    /// The HTTP client could not be built.
    HttpClient = 401,
    /// The install-id file could not be read or written.
    InstallIdFile = 402,
    /// The platform's certificate verifier could not be initialised (Android, `tls-platform`:
    /// the JNI calls of `sg_android_init` failed).
    PlatformInit = 403,
    /// A Rust panic was caught at the boundary; the handle may still be used.
    Panic = 500,
    /// The operation was cancelled because its resolver was freed.
    Cancelled = 501,
    /// An unexpected internal error.
    Internal = 502,
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

/// The header's name of a status value (`SG_STATUS_UNKNOWN` when it has none).
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
        108 => c"SG_STATUS_CLOSED",
        200 => c"SG_STATUS_CONFIG_INVALID",
        201 => c"SG_STATUS_CONFIG_STALE",
        202 => c"SG_STATUS_PROVIDERS_FAILED",
        300 => c"SG_STATUS_ALL_ORIGINS_FAILED",
        301 => c"SG_STATUS_NO_ORIGIN",
        302 => c"SG_STATUS_OFFLINE",
        400 => c"SG_STATUS_RUNTIME",
        401 => c"SG_STATUS_HTTP_CLIENT",
        402 => c"SG_STATUS_INSTALL_ID_FILE",
        403 => c"SG_STATUS_PLATFORM_INIT",
        500 => c"SG_STATUS_PANIC",
        501 => c"SG_STATUS_CANCELLED",
        502 => c"SG_STATUS_INTERNAL",
        _ => c"SG_STATUS_UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            sg_status::Closed,
            sg_status::ConfigInvalid,
            sg_status::ConfigStale,
            sg_status::ProvidersFailed,
            sg_status::AllOriginsFailed,
            sg_status::NoOrigin,
            sg_status::Offline,
            sg_status::Runtime,
            sg_status::HttpClient,
            sg_status::InstallIdFile,
            sg_status::PlatformInit,
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
}
