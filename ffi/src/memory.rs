//! Memory across the boundary: borrowing what C passes in (NULL checks, UTF-8) and handing
//! strings and byte buffers to the caller, who releases them with [`sg_string_free`] and
//! [`sg_bytes_free`] (never `free()`: nothing crosses allocators).

use std::ffi::{CStr, CString, c_char};

use crate::error::Failure;
use crate::panic::ffi_call;
#[cfg(doc)]
use crate::sg_resolver_stats_json;
use crate::status::sg_status;

/// Fails with [`sg_status::NullParameter`] naming `name` when `p` is NULL.
pub(crate) fn non_null<T>(p: *const T, name: &str) -> Result<(), Failure> {
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
/// # Errors
/// [`sg_status::NullParameter`] when `p` is NULL, [`sg_status::InvalidUtf8`] when it is not
/// UTF-8; both messages name `name`.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn c_str<'a>(p: *const c_char, name: &str) -> Result<&'a str, Failure> {
    non_null(p, name)?;
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    // Paths and keys are nearly always ASCII: an ASCII scan is about half the cost of full
    // UTF-8 validation on short strings (the resolve hot path, see the `ffi_vs_rust` bench),
    // and ASCII is valid UTF-8.
    let bytes = c.to_bytes();
    if bytes.is_ascii() {
        // SAFETY: every byte is ASCII, so `bytes` is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    c.to_str().map_err(|e| {
        Failure::new(
            sg_status::InvalidUtf8,
            format!("`{name}` is not UTF-8: {e}"),
        )
    })
}

/// Moves a byte vector to the caller: `(ptr, len)`, released by [`sg_bytes_free`]; `(NULL, 0)`
/// for an empty vector.
pub(crate) fn bytes_to_c(v: Vec<u8>) -> (*mut u8, usize) {
    if v.is_empty() {
        return (std::ptr::null_mut(), 0);
    }
    let b = v.into_boxed_slice();
    let len = b.len();
    (Box::into_raw(b).cast::<u8>(), len)
}

/// Moves a string to the caller, released by [`sg_string_free`].
///
/// # Errors
/// [`sg_status::Internal`] if `s` contains a NUL byte.
pub(crate) fn string_to_c(s: String) -> Result<*mut c_char, Failure> {
    CString::new(s)
        .map(CString::into_raw)
        .map_err(|_| Failure::new(sg_status::Internal, "string contains a NUL byte"))
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
