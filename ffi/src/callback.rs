//! Host callbacks: their C types ([`sg_fetch_callback`], [`sg_done_callback`],
//! [`sg_config_callback`]), the `userdata` pointer the host hands over, and the exactly-once
//! completion every async entry point goes through ([`spawn_exactly_once`]).

use std::ffi::{c_char, c_void};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::runtime::Runtime;

use crate::error::Failure;
use crate::panic::panic_message;
use crate::resolver::sg_fetch_result;
use crate::status::sg_status;
use crate::subscription::sg_config_event;
#[cfg(doc)]
use crate::{sg_resolver_free, sg_resolver_remove_config_callback};

/// Called once per non-blocking fetch, from a Sourcegate thread (or, if the resolver is freed
/// while the fetch is in flight, from the thread calling [`sg_resolver_free`], with
/// `SG_STATUS_CANCELLED`). `result` is non-NULL only when `status` is `SG_STATUS_OK`;
/// `message` is non-NULL only when it is not. Both are borrowed for the duration of the call.
pub type sg_fetch_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        status: sg_status,
        result: *const sg_fetch_result,
        message: *const c_char,
    ),
>;

/// Called when a new config is installed, from a Sourcegate thread. `event` is borrowed for the
/// duration of the call. The callback must return promptly and must not call
/// [`sg_resolver_free`] or a blocking function.
pub type sg_config_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const sg_config_event)>;

/// Called exactly once when a non-blocking operation completes, from a Sourcegate thread (or,
/// if the resolver is freed while the operation is in flight, from the thread calling
/// [`sg_resolver_free`], with `SG_STATUS_CANCELLED`). `message` is NULL on success, else an
/// error description borrowed for the duration of the call.
pub type sg_done_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, status: sg_status, message: *const c_char)>;

/// A host pointer the host promised may be used from any thread.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub(crate) *mut c_void);
// SAFETY: the header's contract: `userdata` must be usable from any thread.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

/// A host callback that reports the outcome of one non-blocking operation.
pub(crate) trait Completion: Send + 'static {
    /// What the operation yields on success.
    type Value: Send + 'static;

    /// Calls the host with `result`. [`spawn_exactly_once`] calls it exactly once per
    /// operation, inside a panic boundary.
    fn call(self, result: Result<Self::Value, Failure>);
}

/// Owns a [`Completion`] until it has been called; dropped before that (the task was dropped:
/// resolver freed, runtime shut down), it calls it with [`sg_status::Cancelled`].
struct ExactlyOnce<C: Completion> {
    completion: Option<C>,
    /// The message of the `Cancelled` call, e.g. "the resolver was freed before the fetch
    /// completed".
    cancelled: &'static str,
}

impl<C: Completion> ExactlyOnce<C> {
    fn complete(&mut self, result: Result<C::Value, Failure>) {
        if let Some(c) = self.completion.take() {
            // Host code is C and cannot unwind; this guards our own code around the call.
            let _ = catch_unwind(AssertUnwindSafe(|| c.call(result)));
        }
    }
}

impl<C: Completion> Drop for ExactlyOnce<C> {
    fn drop(&mut self) {
        let cancelled = self.cancelled;
        self.complete(Err(Failure::new(sg_status::Cancelled, cancelled)));
    }
}

/// Polls a future inside `catch_unwind`: a panic completes it with [`sg_status::Panic`]
/// instead of unwinding into tokio, so the completion learns the panic's message.
struct CatchPanic<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, Failure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => Poll::Ready(Err(Failure::new(sg_status::Panic, panic_message(&*p)))),
        }
    }
}

/// Spawns `op` on `rt` and calls `completion` **exactly once**: with `op`'s result; with
/// [`sg_status::Panic`] if `op` panics; with [`sg_status::Cancelled`] and `cancelled` as the
/// message if the task is dropped first (the resolver freed, its runtime shut down, even
/// before the task first ran). The guard is built before spawning and moved into the task, so
/// every way a task can end passes through it.
pub(crate) fn spawn_exactly_once<C, F>(rt: &Runtime, completion: C, cancelled: &'static str, op: F)
where
    C: Completion,
    F: Future<Output = Result<C::Value, Failure>> + Send + 'static,
{
    let mut guard = ExactlyOnce {
        completion: Some(completion),
        cancelled,
    };
    let op = CatchPanic(Box::pin(op));
    rt.spawn(async move {
        let result = op.await.and_then(|r| r);
        guard.complete(result);
    });
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    /// Records every call it gets.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<(sg_status, String)>>>);

    impl Completion for Recorder {
        type Value = u32;
        fn call(self, result: Result<u32, Failure>) {
            let entry = match result {
                Ok(v) => (sg_status::Ok, v.to_string()),
                Err(Failure(s, m)) => (s, m),
            };
            self.0.lock().unwrap().push(entry);
        }
    }

    fn runtime() -> Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    fn wait_for(rec: &Recorder, n: usize) {
        for _ in 0..500 {
            if rec.0.lock().unwrap().len() >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn success_and_failure_are_reported_once() {
        let rt = runtime();
        let rec = Recorder::default();
        spawn_exactly_once(&rt, rec.clone(), "cancelled", async { Ok(7) });
        spawn_exactly_once(&rt, rec.clone(), "cancelled", async {
            Err(Failure::new(sg_status::ProvidersFailed, "down"))
        });
        wait_for(&rec, 2);
        rt.shutdown_timeout(Duration::from_secs(5));
        let mut calls = rec.0.lock().unwrap().clone();
        calls.sort_by_key(|c| c.0 as u32);
        assert_eq!(
            calls,
            vec![
                (sg_status::Ok, "7".to_string()),
                (sg_status::ProvidersFailed, "down".to_string())
            ]
        );
    }

    #[test]
    fn a_panic_is_reported_once_with_its_message() {
        let rt = runtime();
        let rec = Recorder::default();
        spawn_exactly_once(&rt, rec.clone(), "cancelled", async {
            if std::hint::black_box(true) {
                panic!("inside the operation");
            }
            Ok(1)
        });
        wait_for(&rec, 1);
        rt.shutdown_timeout(Duration::from_secs(5));
        assert_eq!(
            *rec.0.lock().unwrap(),
            vec![(
                sg_status::Panic,
                "panic in sourcegate: inside the operation".to_string()
            )]
        );
    }

    #[test]
    fn a_runtime_shut_down_mid_flight_cancels_once() {
        let rt = runtime();
        let rec = Recorder::default();
        spawn_exactly_once(&rt, rec.clone(), "freed in flight", async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(0)
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(rec.0.lock().unwrap().is_empty());
        rt.shutdown_timeout(Duration::from_secs(5));
        assert_eq!(
            *rec.0.lock().unwrap(),
            vec![(sg_status::Cancelled, "freed in flight".to_string())]
        );
    }

    #[test]
    fn a_task_dropped_before_its_first_poll_cancels_once() {
        // A current-thread runtime polls only inside `block_on`: this task never runs.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let rec = Recorder::default();
        spawn_exactly_once(&rt, rec.clone(), "freed before start", async { Ok(0) });
        drop(rt);
        assert_eq!(
            *rec.0.lock().unwrap(),
            vec![(sg_status::Cancelled, "freed before start".to_string())]
        );
    }
}
