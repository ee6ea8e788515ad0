//! The thread's last error ([`sg_last_error_message`]) and [`Failure`], the error type of the
//! boundary, with the one mapping from `sourcegate::Error` to [`sg_status`].

use std::cell::{Cell, RefCell};
use std::ffi::{CString, c_char};

use sourcegate::Error;

use crate::panic::ffi_call;
use crate::status::sg_status;

thread_local! {
    /// The message of this thread's last failing `sg_*` call; `None` after a success.
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
    /// Whether `LAST_ERROR` holds a message: a plain flag (no destructor, const-initialised),
    /// so that the check every `ffi_call!` starts with costs a few instructions.
    static HAS_LAST_ERROR: Cell<bool> = const { Cell::new(false) };
}

/// Records `msg` as this thread's last error (a NUL inside it is written as `\0`).
pub(crate) fn set_last_error(msg: &str) {
    let c = c_message(msg);
    LAST_ERROR.with(|e| *e.borrow_mut() = Some(c));
    HAS_LAST_ERROR.set(true);
}

/// Forgets this thread's last error (every `ffi_call!` starts with this).
pub(crate) fn clear_last_error() {
    if HAS_LAST_ERROR.get() {
        LAST_ERROR.with(|e| *e.borrow_mut() = None);
        HAS_LAST_ERROR.set(false);
    }
}

/// `msg` as a C string for the host, a NUL inside it written as `\0`.
pub(crate) fn c_message(msg: &str) -> CString {
    CString::new(msg.replace('\0', "\\0")).unwrap_or_default()
}

/// An error at the boundary: the status returned to C and the message recorded for
/// [`sg_last_error_message`] (or passed to a callback).
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) sg_status, pub(crate) String);

impl Failure {
    /// A failure with `status` and `msg`.
    pub(crate) fn new(status: sg_status, msg: impl Into<String>) -> Failure {
        Failure(status, msg.into())
    }
}

/// The error → status mapping of every entry point.
///
/// Every resolver error maps to one status by its variant (never by its text): building,
/// installing a document and requests fail in their own enums, and a missing origin is
/// [`sourcegate::RequestError::NoOrigin`].
impl<E: Into<Error>> From<E> for Failure {
    fn from(e: E) -> Failure {
        use sourcegate::{BuildError, InstallError, RequestError};
        let e = e.into();
        let status = match &e {
            Error::Install(InstallError::Invalid(_)) => sg_status::ConfigInvalid,
            Error::Install(InstallError::StaleVersion { .. }) => sg_status::ConfigStale,
            Error::Install(InstallError::ProvidersFailed(_)) => sg_status::ProvidersFailed,
            Error::Install(InstallError::Closed) => sg_status::Closed,
            Error::Request(RequestError::Closed { .. }) => sg_status::Closed,
            Error::Request(RequestError::Offline { .. }) => sg_status::Offline,
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
