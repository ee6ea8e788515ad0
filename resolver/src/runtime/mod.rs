//! The [`Resolver`]: holds the current config snapshot ([`snapshot`]), keeps it fresh
//! ([`refresh`]: polls and push streams), probes origins (through a [`crate::probe::Prober`]),
//! routes and performs requests with failover ([`fetch`]), and counts what happens
//! ([`crate::stats`]). [`builder`] assembles it and starts the background work.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;
use url::Url;

use crate::backoff::Backoff;
use crate::bucket::{Bucket, bucket_of};
use crate::config::MarketplaceConfig;
use crate::error::{InstallError, RequestError};
use crate::health::{OriginHealth, nanos};
use crate::probe::Prober;
use crate::provider::{ConfigProvider, RawDocument};
use crate::routing::Route;
use crate::stats::{Stats, StatsSnapshot};

mod builder;
mod fetch;
mod lifecycle;
mod refresh;
mod single_flight;
mod snapshot;

pub use builder::ResolverBuilder;
pub use fetch::{FetchResponse, Outcome};
pub(crate) use lifecycle::Life;
use snapshot::Snapshot;
pub use snapshot::{ConfigInfo, ConfigSource, Resolution, ResolutionRef};

/// The builder's settings, fixed once built.
#[derive(Debug, Clone)]
struct Settings {
    ttl: Duration,
    init_timeout: Duration,
    request_timeout: Duration,
    backoff: Backoff,
    health_checks: bool,
    push: bool,
    health_path: String,
    /// The HTTP cache of fetched bodies is used (RFC 9111).
    http_cache: bool,
    /// Serve a stale kept body when every origin fails (RFC 9111 §4.2.4).
    stale_if_error: bool,
    content_check: crate::content::ContentCheck,
    max_body_bytes: u64,
    read_idle_timeout: Duration,
    /// No network at all ([`ResolverBuilder::offline`]).
    offline: bool,
}

/// Default [`ResolverBuilder::max_body_bytes`]: 32 MiB.
pub(crate) const DEFAULT_MAX_BODY_BYTES: u64 = 32 << 20;
/// Default [`ResolverBuilder::body_cache_max_bytes`]: 64 MiB.
pub(crate) const DEFAULT_BODY_CACHE_MAX_BYTES: u64 = 64 << 20;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            ttl: Duration::from_secs(300),
            init_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            backoff: Backoff {
                base: ResolverBuilder::DEFAULT_BACKOFF_BASE,
                cap: ResolverBuilder::DEFAULT_BACKOFF_CAP,
            },
            health_checks: true,
            push: true,
            health_path: String::new(),
            http_cache: true,
            stale_if_error: true,
            content_check: crate::content::ContentCheck::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            read_idle_timeout: Duration::from_secs(10),
            offline: false,
        }
    }
}

struct Inner {
    /// The runtime the resolver was built on: background work is spawned there, so callers
    /// on any thread (FFI hosts included) need no runtime context.
    handle: tokio::runtime::Handle,
    epoch: Instant,
    /// The wall-clock time at `epoch`: the HTTP cache's clock is `epoch_wall` plus tokio's
    /// elapsed time, so tests that pause and advance tokio's clock move cache freshness too.
    epoch_wall: SystemTime,
    /// The builder's default Git URL: the built-in default config's origin, and the fallback
    /// of a document with `fallbackOnError: true` and no `gitUrl` (the seed's rule).
    default_git_url: Url,
    /// Bodies kept per (origin, URL), see [`crate::http_cache`].
    http_cache: crate::http_cache::HttpCache,
    snapshot: ArcSwap<Snapshot>,
    providers: Vec<Arc<dyn ConfigProvider>>,
    /// Single flight for provider fetches: concurrent refreshes share one load.
    loads: single_flight::SingleFlight,
    http: reqwest::Client,
    install_id: String,
    bucket: Bucket,
    stats: Stats,
    lkg_path: Option<PathBuf>,
    settings: Settings,
    /// ns since epoch after which the hot path starts a background refresh.
    refresh_due: AtomicU64,
    refreshing: AtomicBool,
    refresh_failures: AtomicU32,
    initialized: watch::Sender<bool>,
    /// `true` once a config is installed (provider, last-known-good, static, host), for
    /// [`Resolver::wait_for_initialization`].
    ready: watch::Sender<bool>,
    /// The lifecycle ([`Resolver::pause`], [`Resolver::close`]); background loops follow it.
    life: watch::Sender<Life>,
    changes: watch::Sender<Arc<MarketplaceConfig>>,
    /// Probes the snapshot's origin cells (same epoch, so the router reads its verdicts).
    prober: Prober,
    tasks: Mutex<Vec<AbortHandle>>,
    /// The push streams: ended by [`Resolver::pause`], started again by [`Resolver::resume`].
    streams: Mutex<Vec<AbortHandle>>,
    /// The telemetry reporter, awaited by [`Resolver::close`] (its last report).
    telemetry: Mutex<Option<JoinHandle<()>>>,
    /// Serialises writes of the last-known-good file.
    lkg_lock: Mutex<()>,
}

impl Inner {
    /// ns since the resolver's epoch.
    fn now(&self) -> u64 {
        nanos(Instant::now().saturating_duration_since(self.epoch))
    }

    /// Wall-clock time for the HTTP cache (see `epoch_wall`).
    fn wall_now(&self) -> SystemTime {
        self.epoch_wall + Instant::now().saturating_duration_since(self.epoch)
    }

    /// Points the prober at the snapshot's origins (or stops it when checks are off, the
    /// resolver is paused, closed or offline).
    fn reconcile_probes(&self) {
        let snap = self.snapshot.load();
        let enabled = self.settings.health_checks
            && snap.config.health_check_enabled
            && self.may_use_network();
        self.prober.follow_cells(
            snap.origins.clone(),
            enabled.then_some(&snap.config.health_check),
            snap.config.version,
        );
    }

    fn push_task(&self, h: AbortHandle) {
        if let Ok(mut t) = self.tasks.lock() {
            t.push(h);
        }
    }
}

/// Decides, for every registry request, which origin serves it. Cheap to share: clone the
/// `Arc` you keep it in; all methods take `&self` and are safe from any thread.
///
/// # Examples
/// ```no_run
/// # async fn demo() -> Result<(), sourcegate::Error> {
/// use sourcegate::{Resolver, provider::ControlPlaneProvider};
/// let resolver = Resolver::builder("https://raw.githubusercontent.com/obsidianmd/obsidian-releases/HEAD/".parse().unwrap())
///     .provider(ControlPlaneProvider::new("https://sourcegate.example.com".parse().unwrap()).unwrap())
///     .install_id_file("/var/lib/myapp/install-id")
///     .cache_file("/var/lib/myapp/sourcegate-config.json")
///     .build()?;
/// let resp = resolver.fetch("community-plugins.json").await?;
/// println!("{} bytes from {}", resp.body.len(), resp.origin);
/// # Ok(()) }
/// ```
pub struct Resolver {
    inner: Arc<Inner>,
}

impl Drop for Resolver {
    fn drop(&mut self) {
        if let Ok(tasks) = self.inner.tasks.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
        self.inner.stop_streams();
        if let Some(t) = self.inner.telemetry.lock().ok().and_then(|mut t| t.take()) {
            t.abort();
        }
        self.inner.prober.stop();
    }
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("install_id", &self.inner.install_id)
            .field("bucket", &self.inner.bucket)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A builder whose built-in default is Git mode on `default_git_url` (the seed's rule when
    /// no config can be had at all). See [`ResolverBuilder`]'s methods for the defaults.
    pub fn builder(default_git_url: Url) -> ResolverBuilder {
        ResolverBuilder::new(default_git_url)
    }

    /// This install's id.
    pub fn install_id(&self) -> &str {
        &self.inner.install_id
    }

    /// This install's canary bucket (see [`crate::bucket`]).
    pub fn bucket(&self) -> Bucket {
        self.inner.bucket
    }

    /// Resolves `path` for this install, waiting (once, at most the init timeout) for the
    /// first config fetch; afterwards it never waits.
    ///
    /// # Errors
    /// [`RequestError::InvalidPath`] when `path` is absolute, has a scheme, or climbs with
    /// `..`; [`RequestError::NoOrigin`] when the route's origin has no URL.
    pub async fn resolve_url(&self, path: &str) -> Result<Resolution, RequestError> {
        self.wait_initialized().await;
        self.resolve(path)
    }

    /// Resolves `path` for this install with the config held now, without waiting. Lock-free:
    /// reads one atomically swapped snapshot and a few atomics. May start a background refresh
    /// when the config is older than its TTL.
    ///
    /// # Errors
    /// As [`Self::resolve_url`].
    pub fn resolve(&self, path: &str) -> Result<Resolution, RequestError> {
        self.resolve_bucket(self.inner.bucket, path)
    }

    /// Like [`Self::resolve`] for another install id (a server resolving for many clients).
    ///
    /// # Errors
    /// As [`Self::resolve_url`].
    pub fn resolve_for(&self, install_id: &str, path: &str) -> Result<Resolution, RequestError> {
        self.resolve_bucket(bucket_of(install_id), path)
    }

    /// As [`Self::resolve`], lending the resolution to `f` instead of returning it: the URL is
    /// borrowed from the origin's cache of joined paths, so a cached path costs no allocation.
    /// The C ABI's `sg_resolver_resolve` copies the URL from here into the caller's buffer.
    ///
    /// # Errors
    /// As [`Self::resolve_url`]; `f` is not called then.
    pub fn resolve_with<R>(
        &self,
        path: &str,
        f: impl FnOnce(ResolutionRef<'_>) -> R,
    ) -> Result<R, RequestError> {
        self.resolve_bucket_with(self.inner.bucket, path, f)
    }

    fn resolve_bucket_with<R>(
        &self,
        bucket: Bucket,
        path: &str,
        f: impl FnOnce(ResolutionRef<'_>) -> R,
    ) -> Result<R, RequestError> {
        let inner = &*self.inner;
        let snap = inner.snapshot.load();
        let now = inner.now();
        self.maybe_refresh(now);
        let route = snap.route(bucket, now, inner.settings.health_checks);
        let kind = route.first();
        let Some(cell) = &snap.origins[kind.index()] else {
            return Err(RequestError::NoOrigin {
                path: path.into(),
                origin: kind,
            });
        };
        cell.with_url_for(path, |url| {
            f(ResolutionRef {
                url,
                origin: kind,
                reason: route.reason,
                config_version: snap.config.version,
            })
        })
    }

    fn resolve_bucket(&self, bucket: Bucket, path: &str) -> Result<Resolution, RequestError> {
        self.resolve_bucket_with(bucket, path, |r| Resolution {
            url: r.url.clone(),
            origin: r.origin,
            reason: r.reason,
            config_version: r.config_version,
        })
    }

    /// The route (ordered candidates and reason) this install would take now.
    pub fn route(&self) -> Route {
        let snap = self.inner.snapshot.load();
        snap.route(
            self.inner.bucket,
            self.inner.now(),
            self.inner.settings.health_checks,
        )
    }

    async fn wait_initialized(&self) {
        let mut rx = self.inner.initialized.subscribe();
        if *rx.borrow() {
            return;
        }
        let waited =
            tokio::time::timeout(self.inner.settings.init_timeout, rx.wait_for(|v| *v)).await;
        if waited.is_err() {
            // Waited once for the full init timeout: from now on serve what is held at once.
            tracing::warn!(
                timeout_secs = self.inner.settings.init_timeout.as_secs_f64(),
                "no config within the init timeout; serving the last-known-good or default"
            );
            self.inner.initialized.send_replace(true);
        }
    }

    /// Fetches the config from the providers now, bypassing the cache (the seed's
    /// `reloadConfig`), and returns the config in use afterwards.
    ///
    /// # Errors
    /// [`InstallError::ProvidersFailed`] when every provider failed, [`InstallError::Invalid`]
    /// or [`InstallError::StaleVersion`] when the document was refused,
    /// [`InstallError::Closed`] after [`Self::close`]; in all cases the config in use is
    /// unchanged. Works while paused (the app asked). Offline, only the local providers
    /// (static documents) are asked.
    pub async fn reload_config(&self) -> Result<Arc<MarketplaceConfig>, InstallError> {
        if self.inner.life() == Life::Closed {
            return Err(InstallError::Closed);
        }
        refresh::refresh(&self.inner, true).await
    }

    /// Validates and installs a document directly (as a push would), e.g. from a host app
    /// that fetched it itself.
    ///
    /// # Errors
    /// [`InstallError::Invalid`], [`InstallError::StaleVersion`]: the config in use is then
    /// unchanged.
    pub fn install_document(
        &self,
        value: &serde_json::Value,
    ) -> Result<Arc<MarketplaceConfig>, InstallError> {
        refresh::install(
            &self.inner,
            RawDocument {
                value: value.clone(),
                version: None,
            },
            ConfigSource::Provider("host"),
        )
    }

    /// The config in use, with its version and source.
    pub fn config(&self) -> ConfigInfo {
        let snap = self.inner.snapshot.load();
        ConfigInfo {
            config: Arc::clone(&snap.config),
            version: snap.config.version,
            source: snap.source,
            installed_at: crate::date::rfc3339(snap.installed_at),
        }
    }

    /// A receiver that sees every newly installed config (`changed()` wakes on each).
    pub fn subscribe(&self) -> watch::Receiver<Arc<MarketplaceConfig>> {
        self.inner.changes.subscribe()
    }

    /// Request counters, latency percentiles and per-origin counts.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// Health of each configured origin (Git first).
    pub fn health(&self) -> Vec<OriginHealth> {
        let snap = self.inner.snapshot.load();
        let now = self.inner.now();
        snap.origins
            .iter()
            .flatten()
            .map(|cell| cell.health(now))
            .collect()
    }
}
