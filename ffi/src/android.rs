//! Android with the platform verifier (`tls-platform`): [`sg_android_init`] hands the app's JNI
//! environment and `Context` to `rustls-platform-verifier`, which checks certificates with
//! Android's own trust store (user-installed roots and the app's network security config
//! included). Without it, that verifier panics on the first HTTPS request ("Expect
//! rustls-platform-verifier to be initialized"). The default build (`tls-webpki`, Mozilla's roots
//! compiled in) needs no such call, and does not have this function.
//!
//! Compiled only for `target_os = "android"` with the `tls-platform` feature. The Gradle and
//! ProGuard lines the app also needs are in `ffi/README.md`, after `rustls-platform-verifier`'s
//! own README (its Android section).

use std::ffi::c_void;

use crate::error::Failure;
use crate::panic::ffi_call;
use crate::status::sg_status;

/// Initialises the platform certificate verifier on Android. Call it once, before the first
/// `sg_resolver_new` of the process, from a thread attached to the JVM: typically from a Java
/// or Kotlin `native` method that receives the `JNIEnv*` and passes its `Context`
/// (`android.content.Context`, e.g. the `Application`). Later calls do nothing and return
/// `SG_STATUS_OK`. Keeps a global reference to the context and its class loader for the life
/// of the process.
///
/// `env` is the `JNIEnv*` of the calling thread and `context` a local or global `jobject`
/// reference, both passed as `void *` so that this header needs no `jni.h`.
///
/// Returns `SG_STATUS_NULL_PARAMETER` when either is NULL, `SG_STATUS_PLATFORM_INIT` when a JNI
/// call fails (`sg_last_error_message` says which; a pending Java exception is left for the
/// caller to handle), `SG_STATUS_PANIC` on a caught panic.
///
/// # Safety
/// `env` must be the valid `JNIEnv*` of the calling thread, attached to the JVM, and `context`
/// a valid reference to an `android.content.Context` in that environment's current frame.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sg_android_init(env: *mut c_void, context: *mut c_void) -> sg_status {
    ffi_call!({
        if env.is_null() {
            return Err(Failure::new(sg_status::NullParameter, "env is NULL"));
        }
        if context.is_null() {
            return Err(Failure::new(sg_status::NullParameter, "context is NULL"));
        }
        // SAFETY: `env` is the non-null JNIEnv* of this thread (this function's contract); the
        // attachment outlives the call, and no local reference is kept past it.
        let mut unowned = unsafe { jni::EnvUnowned::from_raw(env.cast::<jni::sys::JNIEnv>()) };
        let outcome = unowned
            .with_env_no_catch(|env| -> Result<(), jni::errors::Error> {
                // SAFETY: `context` is a valid reference in this frame (the contract).
                let context = unsafe {
                    jni::objects::JObject::from_raw(env, context.cast::<jni::sys::_jobject>())
                };
                rustls_platform_verifier::android::init_with_env(env, context)
            })
            .into_outcome();
        match outcome {
            jni::Outcome::Ok(()) => Ok(()),
            jni::Outcome::Err(e) => Err(Failure::new(
                sg_status::PlatformInit,
                format!("rustls-platform-verifier's Android initialisation failed: {e}"),
            )),
            jni::Outcome::Panic(p) => std::panic::resume_unwind(p),
        }
    })
}
