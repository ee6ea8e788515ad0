//! [`sg_version`]: the version of this library.

use std::ffi::{CStr, c_char};

use crate::panic::ffi_call;

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
