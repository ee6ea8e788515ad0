//! The app lifecycle, as LaunchDarkly's, ConfigCat's and Unleash's SDKs offer it:
//! [`Resolver::pause`] / [`Resolver::resume`] (an app in the background does no network work),
//! [`Resolver::wait_for_initialization`], and [`Resolver::close`] (flush the last telemetry
//! delta, end every background task). The offline switch is the builder's
//! ([`crate::ResolverBuilder::offline`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::refresh::{refresh, watch_loop};
use super::{Inner, Resolver};

/// Where a resolver is in its lifecycle; its background loops follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Life {
    /// Probes, push streams, telemetry and TTL refreshes run.
    Running,
    /// No background network work ([`Resolver::pause`]).
    Paused,
    /// Closed for good ([`Resolver::close`]).
    Closed,
}

/// The longest [`Resolver::close`] waits for the last telemetry report: the report's own
/// timeout plus a margin.
const CLOSE_FLUSH_WAIT: Duration =
    crate::telemetry::REPORT_TIMEOUT.saturating_add(Duration::from_secs(1));

impl Inner {
    /// The lifecycle state now.
    pub(super) fn life(&self) -> Life {
        *self.life.borrow()
    }

    /// Moves from `from` to `to` and wakes the loops that watch the state; `false` (and no
    /// change) when the resolver is not in `from`.
    fn transition(&self, from: Life, to: Life) -> bool {
        self.life.send_if_modified(|l| {
            let at = *l == from;
            if at {
                *l = to;
            }
            at
        })
    }

    /// Whether background network work may run: running and not offline.
    pub(super) fn may_use_network(&self) -> bool {
        !self.settings.offline && self.life() == Life::Running
    }

    /// Starts the push streams (one per provider that may have one), when push is on and the
    /// resolver may use the network. Their handles are kept apart from the other tasks so that
    /// [`Resolver::pause`] can end them.
    pub(super) fn start_streams(self: &Arc<Self>) {
        if !self.settings.push || !self.may_use_network() {
            return;
        }
        let Ok(mut streams) = self.streams.lock() else {
            return;
        };
        for p in &self.providers {
            let t = self
                .handle
                .spawn(watch_loop(Arc::downgrade(self), Arc::clone(p)));
            streams.push(t.abort_handle());
        }
    }

    /// Ends the push streams (dropping a stream closes its connection).
    pub(super) fn stop_streams(&self) {
        if let Ok(mut streams) = self.streams.lock() {
            for t in streams.drain(..) {
                t.abort();
            }
        }
    }
}

impl Resolver {
    /// Pauses the background work, e.g. while the app is in the background: no health probes,
    /// no push stream (its connection is closed), no telemetry report, no TTL refresh. The
    /// config held keeps serving [`Self::resolve`]; calls the app makes itself
    /// ([`Self::fetch`], [`Self::reload_config`]) still work. A report or refresh already in
    /// flight finishes. Idempotent; does nothing once closed.
    pub fn pause(&self) {
        if !self.inner.transition(Life::Running, Life::Paused) {
            return;
        }
        tracing::debug!("resolver paused");
        self.inner.stop_streams();
        self.inner.reconcile_probes();
    }

    /// Resumes after [`Self::pause`]: revalidates the config at once (one request to the
    /// providers, conditional where the provider is: the control plane's `If-None-Match`),
    /// restarts the push streams and the probes (the first probe within the first 10 % of the
    /// interval), and telemetry (its next report a full interval later, with the counts of the
    /// pause). Idempotent: does nothing unless paused. Returns at once; the revalidation runs in
    /// the background.
    pub fn resume(&self) {
        if !self.inner.transition(Life::Paused, Life::Running) {
            return;
        }
        tracing::debug!("resolver resumed");
        let inner = &self.inner;
        inner.reconcile_probes();
        inner.start_streams();
        if inner.providers.is_empty() || inner.refreshing.swap(true, Ordering::AcqRel) {
            // No provider, or a refresh is under way (it revalidates).
            return;
        }
        let me = Arc::clone(inner);
        inner.handle.spawn(async move {
            let _ = refresh(&me, true).await;
            me.refreshing.store(false, Ordering::Release);
        });
    }

    /// Whether the resolver is paused ([`Self::pause`]).
    pub fn is_paused(&self) -> bool {
        self.inner.life() == Life::Paused
    }

    /// Whether the resolver was closed ([`Self::close`]).
    pub fn is_closed(&self) -> bool {
        self.inner.life() == Life::Closed
    }

    /// Waits until a config is installed, at most `timeout`: `true` at once when one already
    /// is (from a provider, the last-known-good file read at build, a static document or
    /// [`Self::install_document`]), `true` when one arrives in time, `false` when `timeout`
    /// passes first (the resolver then serves its built-in default; it keeps trying in the
    /// background). Unlike [`Self::resolve_url`] it never ends the init wait for other callers.
    pub async fn wait_for_initialization(&self, timeout: Duration) -> bool {
        let mut rx = self.inner.ready.subscribe();
        if *rx.borrow_and_update() {
            return true;
        }
        matches!(
            tokio::time::timeout(timeout, rx.wait_for(|ready| *ready)).await,
            Ok(Ok(_))
        )
    }

    /// Closes the resolver: ends every background task (probes, push streams, refreshes) and
    /// lets the telemetry reporter send the last deltas (the requests since its previous
    /// report, if any; waits at most 6 s: the report's 5 s timeout and a margin). Afterwards
    /// [`Self::resolve`] and [`Self::resolve_url`] still answer from the config held (no
    /// network is needed), while [`Self::fetch`] fails with [`crate::RequestError::Closed`] and
    /// [`Self::reload_config`] with [`crate::InstallError::Closed`]. Idempotent: a later call
    /// returns at once. Dropping the resolver without closing it ends the tasks too, but sends
    /// no last report.
    pub async fn close(&self) {
        let prev = self.inner.life.send_replace(Life::Closed);
        if prev == Life::Closed {
            return;
        }
        let inner = &self.inner;
        inner.stop_streams();
        if let Ok(tasks) = inner.tasks.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
        inner.prober.stop();
        let reporter = inner.telemetry.lock().ok().and_then(|mut t| t.take());
        if let Some(mut reporter) = reporter
            && tokio::time::timeout(CLOSE_FLUSH_WAIT, &mut reporter)
                .await
                .is_err()
        {
            reporter.abort();
            tracing::debug!("the last telemetry report did not finish in time");
        }
        tracing::debug!("resolver closed");
    }
}
