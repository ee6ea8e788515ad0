//! Keeping the config fresh: polls through the providers (single flight, TTL with jitter,
//! backoff after failures), push streams followed with reconnect backoff, and installing a
//! document (validate, refuse rollbacks, swap, persist, notify).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt as _;

use super::{ConfigSource, Inner, Resolver, Snapshot};
use crate::config::MarketplaceConfig;
use crate::error::InstallError;
use crate::health::nanos;
use crate::provider::{ConfigProvider, Fetched, ProviderError, RawDocument};

/// Shortest wait before a push stream reconnects.
const MIN_RECONNECT: Duration = Duration::from_millis(50);

impl Resolver {
    /// Starts a background refresh when the config is past its TTL (`now` in ns since the
    /// epoch) and none is under way.
    pub(super) fn maybe_refresh(&self, now: u64) {
        let inner = &self.inner;
        if now < inner.refresh_due.load(Ordering::Relaxed) || inner.providers.is_empty() {
            return;
        }
        if inner.life() != super::Life::Running {
            // Paused or closed: no background refresh (resume revalidates at once).
            return;
        }
        if inner.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = Arc::clone(inner);
        inner.handle.spawn(async move {
            let _ = refresh(&me, true).await;
            me.refreshing.store(false, Ordering::Release);
        });
    }
}

/// Fetches from the providers (one load at a time, see [`super::single_flight`]) and installs
/// the result;
/// schedules the next refresh a TTL (± 10 %) away, or after a backoff when it failed.
pub(super) async fn refresh(
    inner: &Arc<Inner>,
    force: bool,
) -> Result<Arc<MarketplaceConfig>, InstallError> {
    let result = inner.loads.run(force, || inner.now(), load(inner)).await;
    let now = inner.now();
    match result {
        Ok(cfg) => {
            inner.refresh_failures.store(0, Ordering::Relaxed);
            let jitter = 0.9 + 0.2 * rand::random::<f64>();
            let due = now.saturating_add(nanos(inner.settings.ttl.mul_f64(jitter)));
            inner.refresh_due.store(due, Ordering::Relaxed);
            Ok(cfg)
        }
        Err(e) => {
            let n = inner.refresh_failures.fetch_add(1, Ordering::Relaxed);
            let wait = inner.settings.backoff.delay(n, rand::random::<f64>());
            inner
                .refresh_due
                .store(now.saturating_add(nanos(wait)), Ordering::Relaxed);
            tracing::warn!(error = %e, retry_in_secs = wait.as_secs_f64(), "config refresh failed; keeping the config in use");
            Err(Arc::try_unwrap(e).unwrap_or_else(|e| clone_error(&e)))
        }
    }
}

/// A copy of an error shared by the callers of one load (provider errors are not `Clone`:
/// they are summarised).
fn clone_error(e: &InstallError) -> InstallError {
    match e {
        InstallError::Invalid(c) => InstallError::Invalid(c.clone()),
        InstallError::StaleVersion { got, held } => InstallError::StaleVersion {
            got: *got,
            held: *held,
        },
        other => InstallError::ProvidersFailed(vec![ProviderError::Decode {
            provider: "resolver",
            reason: other.to_string(),
        }]),
    }
}

/// Tries the providers in order; the first document accepted wins. A refusal is reported
/// before provider failures.
async fn load(inner: &Arc<Inner>) -> Result<Arc<MarketplaceConfig>, InstallError> {
    let mut errors = Vec::new();
    let mut refused = None;
    for p in &inner.providers {
        match p.fetch().await {
            Ok(Fetched::NotModified) => return Ok(Arc::clone(&inner.snapshot.load().config)),
            Ok(Fetched::Document(doc)) => {
                match install(inner, doc, ConfigSource::Provider(p.name())) {
                    Ok(c) => return Ok(c),
                    Err(e) => {
                        tracing::warn!(provider = p.name(), error = %e, "refused config document");
                        refused.get_or_insert(e);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(provider = p.name(), error = %e, "config provider failed");
                errors.push(e);
            }
        }
    }
    Err(refused.unwrap_or(InstallError::ProvidersFailed(errors)))
}

/// Validates a document and, if it is acceptable, swaps it in, persists it, points the probes
/// at its origins and notifies subscribers.
pub(super) fn install(
    inner: &Arc<Inner>,
    doc: RawDocument,
    source: ConfigSource,
) -> Result<Arc<MarketplaceConfig>, InstallError> {
    let mut config = MarketplaceConfig::from_value(&doc.value)?;
    if let Some(v) = doc.version {
        config.version = v;
    }
    let current = inner.snapshot.load_full();
    let held = current.config.version;
    let trusted = !matches!(current.source, ConfigSource::Default);
    if trusted && config.version < held {
        return Err(InstallError::StaleVersion {
            got: config.version,
            held,
        });
    }
    if *current.config == config {
        // Same document: keep the snapshot (and the origins' state); only mark the source.
        if current.source != source {
            inner.snapshot.store(Arc::new(current.with_source(source)));
        }
        inner
            .ready
            .send_if_modified(|r| !std::mem::replace(r, true));
        return Ok(Arc::clone(&current.config));
    }
    let snap = Arc::new(Snapshot::build(
        config,
        source,
        Some(&current),
        &inner.default_git_url,
    ));
    let cfg = Arc::clone(&snap.config);
    inner.snapshot.store(snap);
    tracing::info!(version = cfg.version, mode = ?cfg.mode, "installed config");
    if let Some(path) = inner.lkg_path.clone() {
        let _guard = inner.lkg_lock.lock();
        if let Err(e) = crate::cache::save_lkg(&path, &cfg, source.name()) {
            tracing::warn!(path = %path.display(), error = %e, "cannot persist last-known-good config");
        }
    }
    inner.reconcile_probes();
    inner
        .ready
        .send_if_modified(|r| !std::mem::replace(r, true));
    inner.changes.send_replace(Arc::clone(&cfg));
    Ok(cfg)
}

/// Follows a provider's push stream; reconnects with full-jitter backoff (at least 50 ms)
/// when it drops. Ends when the resolver is gone or the provider has no push.
pub(super) async fn watch_loop(weak: Weak<Inner>, provider: Arc<dyn ConfigProvider>) {
    let mut failures: u32 = 0;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let after = Some(inner.snapshot.load().config.version).filter(|v| *v > 0);
        let backoff = inner.settings.backoff;
        drop(inner);
        match provider.watch(after).await {
            Err(ProviderError::NoPush { .. }) => return,
            Err(e) => {
                tracing::debug!(provider = provider.name(), error = %e, "push stream unavailable");
                failures = failures.saturating_add(1);
            }
            Ok(mut stream) => {
                failures = 0;
                while let Some(item) = stream.next().await {
                    let Some(inner) = weak.upgrade() else { return };
                    match item {
                        Ok(doc) => {
                            if let Err(e) =
                                install(&inner, doc, ConfigSource::Provider(provider.name()))
                            {
                                tracing::warn!(error = %e, "refused pushed config document");
                            } else {
                                // A pushed document is fresh: push the next poll a TTL away.
                                let due = inner.now().saturating_add(nanos(inner.settings.ttl));
                                inner.refresh_due.store(due, Ordering::Relaxed);
                            }
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "push stream error");
                            break;
                        }
                    }
                }
                failures = failures.saturating_add(1);
            }
        }
        let wait = backoff.delay(failures, rand::random::<f64>());
        tokio::time::sleep(wait.max(MIN_RECONNECT)).await;
    }
}
