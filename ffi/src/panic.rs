//! The panic boundary: [`ffi_call!`], which every extern function body runs in, so that a Rust
//! panic becomes [`crate::sg_status::Panic`] and never unwinds into C.

/// The message recorded for a caught panic: `panic in sourcegate: <payload>`.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
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
///   [`crate::sg_status::Panic`] with its message recorded.
/// - `ffi_call!(void, { … })`: for functions returning nothing (the `_free` functions); a panic
///   is recorded and swallowed.
/// - `ffi_call!(value = fallback, { … })`: for functions returning a plain value; a panic
///   returns `fallback`. The last error is left alone (`sg_last_error_message` uses this form).
macro_rules! ffi_call {
    ($body:block) => {{
        $crate::error::clear_last_error();
        let result: ::std::thread::Result<Result<(), $crate::error::Failure>> =
            ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(
                || -> Result<(), $crate::error::Failure> { $body },
            ));
        match result {
            Ok(Ok(())) => $crate::status::sg_status::Ok,
            Ok(Err($crate::error::Failure(status, msg))) => {
                $crate::error::set_last_error(&msg);
                status
            }
            Err(p) => {
                $crate::error::set_last_error(&$crate::panic::panic_message(&*p));
                $crate::status::sg_status::Panic
            }
        }
    }};
    (void, $body:block) => {{
        if let Err(p) = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            $crate::error::set_last_error(&$crate::panic::panic_message(&*p));
        }
    }};
    (value = $fallback:expr, $body:block) => {{ ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)).unwrap_or($fallback) }};
}

pub(crate) use ffi_call;

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use crate::{sg_bucket_of, sg_last_error_message, sg_status};

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
}
