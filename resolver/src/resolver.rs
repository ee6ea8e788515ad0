//! The [`Resolver`]: holds the current config snapshot, keeps it fresh, probes origins, routes
//! and performs requests with failover, and counts what happens.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::Instrument;
use url::Url;

use crate::bucket::{Bucket, bucket_of};
use crate::config::{ConfigError, HealthCheckSettings, MarketplaceConfig, OriginKind};
use crate::health::{HealthFlags, HealthState, OriginHealth, OutlierState, nanos};
use crate::provider::{ConfigProvider, Fetched, ProviderError, RawDocument};
use crate::routing::{self, OriginView, Reason, Route};
use crate::stats::{Stats, StatsSnapshot};

/// Errors returned by the resolver's public API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A document was refused by validation; the config in use is unchanged.
    #[error("invalid config document: {0}")]
    Config(#[from] ConfigError),
    /// A document older than the one in use was refused (TUF's rollback rule).
    #[error("config version {got} is older than the version in use ({held})")]
    StaleVersion {
        /// Version offered.
        got: u64,
        /// Version in use.
        held: u64,
    },
    /// Every provider failed; the config in use (last-known-good or default) is unchanged.
    #[error("every config provider failed: {}", join_errors(.0))]
    ProvidersFailed(Vec<ProviderError>),
    /// The path to resolve is not a relative path under the origin's base.
    #[error("invalid request path `{path}`: {why}")]
    InvalidPath {
        /// The path given.
        path: String,
        /// What is wrong.
        why: &'static str,
    },
    /// Every candidate origin failed this request.
    #[error("every origin failed for `{path}`: {}", join_errors(.attempts))]
    AllOriginsFailed {
        /// The path requested.
        path: String,
        /// One entry per attempt, in order.
        attempts: Vec<AttemptError>,
    },
    /// The resolver was built outside a tokio runtime.
    #[error("the resolver needs a tokio runtime (build it inside one)")]
    NoRuntime,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The install-id file could not be read or written.
    #[error("install id file {path}: {source}")]
    InstallIdFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

fn join_errors<E: std::fmt::Display>(errs: &[E]) -> String {
    errs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// One failed attempt of a request on one origin.
#[derive(Debug, Clone, thiserror::Error, Serialize)]
#[serde(rename_all = "camelCase")]
#[error("{origin} {url}: {cause}")]
pub struct AttemptError {
    /// The origin tried.
    pub origin: OriginKind,
    /// The URL requested.
    pub url: String,
    /// HTTP status, if a response came back.
    pub status: Option<u16>,
    /// What went wrong.
    pub cause: String,
}

/// Where the config in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ConfigSource {
    /// The built-in default (Git mode on the builder's default Git URL).
    Default,
    /// The persisted last-known-good file, read at start.
    LastKnownGood,
    /// A provider (by name).
    Provider(&'static str),
}

/// The answer to "where should this request go?".
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// The full URL: the origin's base joined with the path.
    pub url: Url,
    /// The origin chosen.
    pub origin: OriginKind,
    /// Why it was chosen.
    pub reason: Reason,
    /// Version of the config document that decided it.
    pub config_version: u64,
}

/// A response served by [`Resolver::fetch`].
#[derive(Debug, Clone)]
pub struct FetchResponse {
    /// The response body.
    pub body: Bytes,
    /// The origin that served it.
    pub origin: OriginKind,
    /// The URL that served it.
    pub url: Url,
    /// HTTP status (2xx).
    pub status: u16,
    /// Whether an origin other than the first candidate served it.
    pub fallback: bool,
    /// Why the first candidate was first.
    pub reason: Reason,
    /// The attempts that failed before this one.
    pub failed_attempts: Vec<AttemptError>,
}

/// A request outcome observed by the host app's own HTTP stack, fed back with
/// [`Resolver::report_outcome`] so health and rate-limit state stay right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// HTTP status, or `None` for a transport error (connect failure, timeout, reset).
    pub status: Option<u16>,
    /// The wait the origin asked for (`Retry-After` or `x-ratelimit-reset`, already parsed),
    /// if any.
    pub retry_after: Option<Duration>,
    /// How long the request took.
    pub elapsed: Duration,
    /// Whether this request went to an origin other than the first candidate.
    pub fallback: bool,
}

/// Where the config in use came from, its version and when it was installed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigInfo {
    /// The config in use.
    #[serde(skip)]
    pub config: Arc<MarketplaceConfig>,
    /// Its document version.
    pub version: u64,
    /// Its source.
    pub source: ConfigSource,
    /// When it was installed (RFC 7231 date).
    pub installed_at: String,
}

#[derive(Debug, Default)]
struct Machine {
    health: HealthState,
    outlier: OutlierState,
    last_check: Option<SystemTime>,
    response_time: Option<Duration>,
    last_error: Option<String>,
    checks: u64,
}

/// One origin's runtime state, shared by the snapshots that keep its URL.
#[derive(Debug)]
struct OriginCell {
    kind: OriginKind,
    base: Url,
    flags: HealthFlags,
    machine: Mutex<Machine>,
    /// Paths already joined to `base`: apps resolve a handful of paths, and a join parses the
    /// whole URL (~4× the rest of a resolve). Read lock-free; bounded at [`JOIN_CACHE_MAX`].
    joined: ArcSwap<Vec<(Box<str>, Url)>>,
}

const JOIN_CACHE_MAX: usize = 16;

impl OriginCell {
    fn new(kind: OriginKind, base: Url) -> OriginCell {
        OriginCell {
            kind,
            base,
            flags: HealthFlags::default(),
            machine: Mutex::new(Machine::default()),
            joined: ArcSwap::from_pointee(Vec::new()),
        }
    }

    fn url_for(&self, path: &str) -> Result<Url, Error> {
        let cached = self.joined.load();
        if let Some((_, url)) = cached.iter().find(|(p, _)| &**p == path) {
            return Ok(url.clone());
        }
        let url = join_path(&self.base, path)?;
        if cached.len() < JOIN_CACHE_MAX {
            self.joined.rcu(|v| {
                let mut v = Vec::clone(v);
                if v.len() < JOIN_CACHE_MAX && !v.iter().any(|(p, _)| &**p == path) {
                    v.push((path.into(), url.clone()));
                }
                v
            });
        }
        Ok(url)
    }
}

/// What the hot path reads, swapped atomically as a whole.
#[derive(Debug)]
struct Snapshot {
    config: Arc<MarketplaceConfig>,
    origins: [Option<Arc<OriginCell>>; 2],
    source: ConfigSource,
    installed_at: SystemTime,
}

impl Snapshot {
    fn build(
        config: MarketplaceConfig,
        source: ConfigSource,
        previous: Option<&Snapshot>,
    ) -> Snapshot {
        let origins = OriginKind::ALL.map(|kind| {
            let base = config.origin_url(kind)?.clone();
            if let Some(cell) = previous
                .and_then(|p| p.origins[kind.index()].as_ref())
                .filter(|c| c.base == base)
            {
                return Some(Arc::clone(cell));
            }
            Some(Arc::new(OriginCell::new(kind, base)))
        });
        Snapshot {
            config: Arc::new(config),
            origins,
            source,
            installed_at: SystemTime::now(),
        }
    }
}

#[derive(Debug, Clone)]
struct Settings {
    ttl: Duration,
    init_timeout: Duration,
    request_timeout: Duration,
    backoff_base: Duration,
    backoff_cap: Duration,
    health_checks: bool,
    push: bool,
    health_path: String,
}

#[derive(Default)]
struct ProbeSlot {
    key: Option<(Url, HealthCheckSettings)>,
    task: Option<AbortHandle>,
}

struct Inner {
    /// The runtime the resolver was built on: background work is spawned there, so callers
    /// on any thread (FFI hosts included) need no runtime context.
    handle: tokio::runtime::Handle,
    epoch: Instant,
    snapshot: ArcSwap<Snapshot>,
    providers: Vec<Arc<dyn ConfigProvider>>,
    cache: moka::future::Cache<u8, Arc<MarketplaceConfig>>,
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
    changes: watch::Sender<Arc<MarketplaceConfig>>,
    probes: Mutex<[ProbeSlot; 2]>,
    tasks: Mutex<Vec<AbortHandle>>,
    lkg_lock: Mutex<()>,
}

impl Inner {
    fn now(&self) -> u64 {
        nanos(Instant::now().saturating_duration_since(self.epoch))
    }
}

/// Builds a [`Resolver`]. See each method for its default.
pub struct ResolverBuilder {
    default_git_url: Url,
    providers: Vec<Arc<dyn ConfigProvider>>,
    install_id: Option<String>,
    install_id_file: Option<PathBuf>,
    lkg_path: Option<PathBuf>,
    http: Option<reqwest::Client>,
    settings: Settings,
    telemetry: crate::telemetry::TelemetrySettings,
}

impl ResolverBuilder {
    /// Adds a config provider; providers are tried in the order added. None: the resolver
    /// uses its last-known-good file or the built-in default only.
    pub fn provider(mut self, provider: impl ConfigProvider) -> Self {
        self.providers.push(Arc::new(provider));
        self
    }

    /// Adds a shared config provider.
    pub fn provider_arc(mut self, provider: Arc<dyn ConfigProvider>) -> Self {
        self.providers.push(provider);
        self
    }

    /// The install id used for sticky canary bucketing. Default: read from
    /// [`Self::install_id_file`] if set, else a random UUID for this process (not sticky across
    /// restarts: set one of the two in an app).
    pub fn install_id(mut self, id: impl Into<String>) -> Self {
        self.install_id = Some(id.into());
        self
    }

    /// A file holding the install id; created with a random UUID v4 if absent.
    pub fn install_id_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.install_id_file = Some(path.into());
        self
    }

    /// Where the last-known-good config is persisted (atomically) and read at start.
    /// Default: none (no persistence).
    pub fn cache_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.lkg_path = Some(path.into());
        self
    }

    /// How long a fetched config is fresh before a background refresh (default 300 s, the
    /// seed's 5 minutes). Each refresh is scheduled at `ttl × U(0.9, 1.1)` so a fleet does not
    /// stampede.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.settings.ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// The longest the first [`Resolver::resolve_url`] waits for a config before serving what it
    /// has (default 5 s, as LaunchDarkly and ConfigCat).
    pub fn init_timeout(mut self, d: Duration) -> Self {
        self.settings.init_timeout = d;
        self
    }

    /// Timeout of one request to an origin in [`Resolver::fetch`] (default 30 s).
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.settings.request_timeout = d;
        self
    }

    /// Backoff after failed config fetches: full jitter, `random(0, min(cap, base × 2^n))`
    /// (AWS Architecture Blog). Defaults: base 1 s, cap 300 s.
    pub fn backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.settings.backoff_base = base;
        self.settings.backoff_cap = cap.max(base);
        self
    }

    /// Runs active health checks when the document enables them (default `true`).
    pub fn health_checks(mut self, on: bool) -> Self {
        self.settings.health_checks = on;
        self
    }

    /// Follows providers' push streams (SSE) when they have one (default `true`).
    pub fn push(mut self, on: bool) -> Self {
        self.settings.push = on;
        self
    }

    /// Path probed by health checks when the document's `healthCheck.path` is empty
    /// (default `""`: the base URL). Set it to the registry file, e.g. `community-plugins.json`,
    /// for hosts whose base URL does not answer 200.
    pub fn health_check_path(mut self, path: impl Into<String>) -> Self {
        self.settings.health_path = path.into();
        self
    }

    /// Telemetry reporting (see [`crate::telemetry`]): on by default toward a control-plane
    /// provider's `/v1/telemetry`; `enabled: false` opts out.
    pub fn telemetry(mut self, settings: crate::telemetry::TelemetrySettings) -> Self {
        self.telemetry = settings;
        self.telemetry.interval = self.telemetry.interval.max(Duration::from_millis(10));
        self
    }

    /// Reports counters to `endpoint` every 60 s ± 10 %, keeping the other
    /// [`crate::telemetry::TelemetrySettings`] as they are (the default endpoint is a
    /// control-plane provider's `/v1/telemetry`).
    pub fn telemetry_endpoint(mut self, endpoint: Url) -> Self {
        self.telemetry.endpoint = Some(endpoint);
        self
    }

    /// Uses `client` for origin requests and health checks (default: a client with a 5 s
    /// connect timeout).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the resolver and starts its background work (first config fetch, push stream,
    /// health checks) on the current tokio runtime. Returns at once: it never waits for the
    /// network.
    ///
    /// # Errors
    /// [`Error::NoRuntime`] outside a tokio runtime; [`Error::HttpClient`];
    /// [`Error::InstallIdFile`].
    pub fn build(self) -> Result<Resolver, Error> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let install_id = match (self.install_id, &self.install_id_file) {
            (Some(id), _) => id,
            (None, Some(path)) => {
                crate::cache::install_id_from_file(path).map_err(|source| Error::InstallIdFile {
                    path: path.clone(),
                    source,
                })?
            }
            (None, None) => uuid::Uuid::new_v4().to_string(),
        };
        let http = match self.http {
            Some(c) => c,
            None => reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .map_err(Error::HttpClient)?,
        };
        let (initial, source) = match self.lkg_path.as_deref().and_then(crate::cache::load_lkg) {
            Some(c) => (c, ConfigSource::LastKnownGood),
            None => (
                MarketplaceConfig::default_git(crate::util::as_base(self.default_git_url)),
                ConfigSource::Default,
            ),
        };
        let snapshot = Snapshot::build(initial, source, None);
        let (changes, _) = watch::channel(Arc::clone(&snapshot.config));
        let (initialized, _) = watch::channel(self.providers.is_empty());
        let inner = Arc::new(Inner {
            handle: handle.clone(),
            epoch: Instant::now(),
            snapshot: ArcSwap::from_pointee(snapshot),
            cache: moka::future::Cache::builder()
                .max_capacity(1)
                .time_to_live(self.settings.ttl)
                .build(),
            providers: self.providers,
            http,
            bucket: bucket_of(&install_id),
            install_id,
            stats: Stats::new(),
            lkg_path: self.lkg_path,
            settings: self.settings,
            refresh_due: AtomicU64::new(u64::MAX),
            refreshing: AtomicBool::new(false),
            refresh_failures: AtomicU32::new(0),
            initialized,
            changes,
            probes: Mutex::new(Default::default()),
            tasks: Mutex::new(Vec::new()),
            lkg_lock: Mutex::new(()),
        });
        reconcile_probes(&inner, &handle);
        let endpoint = self
            .telemetry
            .endpoint
            .clone()
            .or_else(|| inner.providers.iter().find_map(|p| p.telemetry_endpoint()));
        if let (true, Some(endpoint)) = (self.telemetry.enabled, endpoint) {
            let weak = Arc::downgrade(&inner);
            let sample = move || {
                weak.upgrade().map(|i| {
                    let snap = i.snapshot.load();
                    crate::telemetry::Sample {
                        stats: i.stats.snapshot(),
                        latency: i.stats.take_interval(),
                        config_version: snap.config.version,
                        mode: crate::telemetry::mode_name(&snap.config.mode),
                    }
                })
            };
            let t = handle.spawn(crate::telemetry::run(
                endpoint,
                self.telemetry.interval,
                inner.http.clone(),
                crate::telemetry::install_hash(&inner.install_id),
                sample,
            ));
            push_task(&inner, t.abort_handle());
        }
        if !inner.providers.is_empty() {
            inner.refreshing.store(true, Ordering::Relaxed);
            let first = Arc::clone(&inner);
            let t = handle.spawn(async move {
                let _ = refresh(&first, false).await;
                first.refreshing.store(false, Ordering::Release);
                first.initialized.send_replace(true);
            });
            push_task(&inner, t.abort_handle());
            if inner.settings.push {
                for (i, p) in inner.providers.iter().enumerate() {
                    let weak = Arc::downgrade(&inner);
                    let provider = Arc::clone(p);
                    let t = handle.spawn(watch_loop(weak, provider, i));
                    push_task(&inner, t.abort_handle());
                }
            }
        }
        Ok(Resolver { inner })
    }
}

fn push_task(inner: &Inner, h: AbortHandle) {
    if let Ok(mut t) = inner.tasks.lock() {
        t.push(h);
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
        if let Ok(probes) = self.inner.probes.lock() {
            for slot in probes.iter() {
                if let Some(t) = &slot.task {
                    t.abort();
                }
            }
        }
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
    /// no config can be had at all).
    pub fn builder(default_git_url: Url) -> ResolverBuilder {
        ResolverBuilder {
            default_git_url,
            providers: Vec::new(),
            install_id: None,
            install_id_file: None,
            lkg_path: None,
            http: None,
            telemetry: crate::telemetry::TelemetrySettings::default(),
            settings: Settings {
                ttl: Duration::from_secs(300),
                init_timeout: Duration::from_secs(5),
                request_timeout: Duration::from_secs(30),
                backoff_base: Duration::from_secs(1),
                backoff_cap: Duration::from_secs(300),
                health_checks: true,
                push: true,
                health_path: String::new(),
            },
        }
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
    /// [`Error::InvalidPath`] when `path` is absolute, has a scheme, or climbs with `..`.
    pub async fn resolve_url(&self, path: &str) -> Result<Resolution, Error> {
        self.wait_initialized().await;
        self.resolve(path)
    }

    /// Resolves `path` for this install with the config held now, without waiting. Lock-free:
    /// reads one atomically swapped snapshot and a few atomics. May start a background refresh
    /// when the config is older than its TTL.
    ///
    /// # Errors
    /// As [`Self::resolve_url`].
    pub fn resolve(&self, path: &str) -> Result<Resolution, Error> {
        self.resolve_bucket(self.inner.bucket, path)
    }

    /// Like [`Self::resolve`] for another install id (a server resolving for many clients).
    ///
    /// # Errors
    /// As [`Self::resolve_url`].
    pub fn resolve_for(&self, install_id: &str, path: &str) -> Result<Resolution, Error> {
        self.resolve_bucket(bucket_of(install_id), path)
    }

    fn resolve_bucket(&self, bucket: Bucket, path: &str) -> Result<Resolution, Error> {
        let inner = &*self.inner;
        let snap = inner.snapshot.load();
        let now = inner.now();
        self.maybe_refresh(now);
        let route = route_for(&snap, bucket, now, inner.settings.health_checks);
        let kind = route.first();
        let Some(cell) = &snap.origins[kind.index()] else {
            return Err(Error::InvalidPath {
                path: path.into(),
                why: "no origin configured",
            });
        };
        Ok(Resolution {
            url: cell.url_for(path)?,
            origin: kind,
            reason: route.reason,
            config_version: snap.config.version,
        })
    }

    /// The route (ordered candidates and reason) this install would take now.
    pub fn route(&self) -> Route {
        let snap = self.inner.snapshot.load();
        route_for(
            &snap,
            self.inner.bucket,
            self.inner.now(),
            self.inner.settings.health_checks,
        )
    }

    fn maybe_refresh(&self, now: u64) {
        let inner = &self.inner;
        if now < inner.refresh_due.load(Ordering::Relaxed) || inner.providers.is_empty() {
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
    /// [`Error::ProvidersFailed`] when every provider failed, [`Error::Config`] or
    /// [`Error::StaleVersion`] when the document was refused; in all cases the config in use is
    /// unchanged.
    pub async fn reload_config(&self) -> Result<Arc<MarketplaceConfig>, Error> {
        refresh(&self.inner, true).await
    }

    /// Validates and installs a document directly (as a push would), e.g. from a host app
    /// that fetched it itself.
    ///
    /// # Errors
    /// [`Error::Config`], [`Error::StaleVersion`]: the config in use is then unchanged.
    pub fn install_document(
        &self,
        value: &serde_json::Value,
    ) -> Result<Arc<MarketplaceConfig>, Error> {
        install(
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
            installed_at: httpdate::fmt_http_date(snap.installed_at),
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
            .map(|cell| {
                let m = cell.machine.lock().map(|m| {
                    (
                        m.last_check,
                        m.response_time,
                        m.last_error.clone(),
                        m.checks,
                        m.health.healthy,
                    )
                });
                let (last_check, rt, last_error, checks, healthy) =
                    m.unwrap_or((None, None, None, 0, true));
                let rl = cell.flags.rate_limited_until.load(Ordering::Relaxed);
                OriginHealth {
                    origin: cell.kind,
                    url: cell.base.to_string(),
                    healthy,
                    ejected: cell.flags.ejected_until.load(Ordering::Relaxed) > now,
                    rate_limited: rl > now,
                    rate_limited_for_secs: Duration::from_nanos(rl.saturating_sub(now))
                        .as_secs_f64(),
                    last_check: last_check.map(httpdate::fmt_http_date),
                    response_time_ms: rt.map(|d| d.as_secs_f64() * 1000.0),
                    last_error,
                    checks,
                }
            })
            .collect()
    }

    /// Feeds back a request the host app made itself to `origin` (for apps that must use their
    /// platform's HTTP stack): 429 (or a Git 403) marks the origin rate-limited, 5xx and
    /// transport errors count toward outlier ejection, and the stats count the request.
    pub fn report_outcome(&self, origin: OriginKind, outcome: Outcome) {
        let snap = self.inner.snapshot.load();
        let Some(cell) = snap.origins[origin.index()].as_ref() else {
            return;
        };
        let served = observe_outcome(&self.inner, cell, outcome.status, outcome.retry_after);
        self.inner
            .stats
            .request(served.then_some(origin), outcome.fallback, outcome.elapsed);
    }

    /// Fetches `path` from the routed origin and fails over to the other one (when the config
    /// allows) on transport errors, 5xx, rate limits and other non-2xx answers.
    ///
    /// # Errors
    /// [`Error::InvalidPath`]; [`Error::AllOriginsFailed`] with one [`AttemptError`] per attempt.
    pub async fn fetch(&self, path: &str) -> Result<FetchResponse, Error> {
        self.wait_initialized().await;
        let inner = &self.inner;
        let snap = inner.snapshot.load_full();
        let now = inner.now();
        self.maybe_refresh(now);
        let route = route_for(&snap, inner.bucket, now, inner.settings.health_checks);
        let started = Instant::now();
        let mut failed = Vec::new();
        for (i, kind) in route.candidates().iter().copied().enumerate() {
            let Some(cell) = snap.origins[kind.index()].as_ref() else {
                continue;
            };
            let url = cell.url_for(path)?;
            let span = tracing::info_span!("origin_request", origin = %kind, url = %url);
            let attempt = async {
                let resp = inner
                    .http
                    .get(url.clone())
                    .timeout(inner.settings.request_timeout)
                    .send()
                    .await?;
                let status = resp.status().as_u16();
                let retry = crate::ratelimit::requested_wait(resp.headers(), SystemTime::now());
                if (200..300).contains(&status) {
                    Ok::<_, reqwest::Error>((status, retry, Some(resp.bytes().await?)))
                } else {
                    Ok((status, retry, None))
                }
            }
            .instrument(span)
            .await;
            match attempt {
                Ok((status, _, Some(body))) => {
                    observe_outcome(inner, cell, Some(status), None);
                    let fallback = i > 0;
                    if fallback {
                        tracing::info!(origin = %kind, "served by fallback origin");
                    }
                    inner.stats.request(Some(kind), fallback, started.elapsed());
                    return Ok(FetchResponse {
                        body,
                        origin: kind,
                        url,
                        status,
                        fallback,
                        reason: route.reason,
                        failed_attempts: failed,
                    });
                }
                Ok((status, retry, None)) => {
                    observe_outcome(inner, cell, Some(status), retry);
                    inner.stats.attempt_failed(kind);
                    failed.push(AttemptError {
                        origin: kind,
                        url: url.to_string(),
                        status: Some(status),
                        cause: if crate::ratelimit::is_rate_limited(kind, status) {
                            "rate limited".into()
                        } else {
                            format!("HTTP {status}")
                        },
                    });
                }
                Err(e) => {
                    observe_outcome(inner, cell, None, None);
                    inner.stats.attempt_failed(kind);
                    failed.push(AttemptError {
                        origin: kind,
                        url: url.to_string(),
                        status: None,
                        cause: e.to_string(),
                    });
                }
            }
        }
        inner.stats.request(None, false, started.elapsed());
        Err(Error::AllOriginsFailed {
            path: path.into(),
            attempts: failed,
        })
    }
}

fn route_for(snap: &Snapshot, bucket: Bucket, now: u64, health_checks: bool) -> Route {
    let use_health = health_checks && snap.config.health_check_enabled;
    let views = [0, 1].map(|i| match &snap.origins[i] {
        Some(cell) => cell.flags.view(now, use_health),
        None => OriginView::ABSENT,
    });
    routing::route(&snap.config, bucket, views)
}

/// Joins a relative request path to an origin base, refusing anything that would leave it.
fn join_path(base: &Url, path: &str) -> Result<Url, Error> {
    let bad = |why| Error::InvalidPath {
        path: path.into(),
        why,
    };
    if path.starts_with("//") {
        return Err(bad("a network-path reference is not a path"));
    }
    let rel = path.strip_prefix('/').unwrap_or(path);
    if rel.contains('\\') {
        return Err(bad("not a relative path"));
    }
    if rel.split(['?', '#']).next().unwrap_or("").contains(':') && rel.contains("://") {
        return Err(bad("a URL with a scheme is not a path"));
    }
    if rel
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .split('/')
        .any(|seg| seg == ".." || seg == "." || seg.eq_ignore_ascii_case("%2e%2e"))
    {
        return Err(bad("dot segments are not allowed"));
    }
    let url = base
        .join(rel)
        .map_err(|_| bad("cannot be joined to the origin URL"))?;
    if url.origin() != base.origin() || !url.path().starts_with(base.path()) {
        return Err(bad("escapes the origin's base URL"));
    }
    Ok(url)
}

/// Applies one observed outcome to an origin's state. Returns whether it was a success (2xx).
fn observe_outcome(
    inner: &Inner,
    cell: &OriginCell,
    status: Option<u16>,
    retry_after: Option<Duration>,
) -> bool {
    let now = inner.now();
    let snap = inner.snapshot.load();
    let outlier_settings = &snap.config.outlier_detection;
    let success = matches!(status, Some(s) if (200..400).contains(&s));
    let rate_limited = status.is_some_and(|s| crate::ratelimit::is_rate_limited(cell.kind, s));
    if rate_limited {
        let cooldown = crate::ratelimit::cooldown(retry_after, rand::random::<f64>());
        let until = now.saturating_add(nanos(cooldown));
        cell.flags
            .rate_limited_until
            .fetch_max(until, Ordering::Relaxed);
        inner.stats.rate_limited(cell.kind);
        tracing::warn!(origin = %cell.kind, cooldown_secs = cooldown.as_secs_f64(), "origin rate-limited");
    }
    let outlier_failure = status.is_none_or(|s| s >= 500);
    if !success {
        cell.flags.last_failure.store(now.max(1), Ordering::Relaxed);
    }
    if let Ok(mut m) = cell.machine.lock() {
        if let Some(until) = m.outlier.record(outlier_failure, now, outlier_settings) {
            cell.flags.ejected_until.store(until, Ordering::Relaxed);
            tracing::warn!(origin = %cell.kind, "origin ejected by outlier detection");
        }
        if success {
            m.last_error = None;
        } else {
            m.last_error = Some(match status {
                Some(s) => format!("HTTP {s}"),
                None => "transport error".into(),
            });
        }
    }
    success
}

/// Fetches from the providers (single flight through the moka cache) and installs the result.
async fn refresh(inner: &Arc<Inner>, force: bool) -> Result<Arc<MarketplaceConfig>, Error> {
    if force {
        inner.cache.invalidate(&0).await;
    }
    let loader = {
        let inner = Arc::clone(inner);
        async move { load(&inner).await }
    };
    let result = inner.cache.try_get_with(0, loader).await;
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
            let ceiling = inner
                .settings
                .backoff_base
                .saturating_mul(1u32 << n.min(20))
                .min(inner.settings.backoff_cap);
            let wait = ceiling.mul_f64(rand::random::<f64>());
            inner
                .refresh_due
                .store(now.saturating_add(nanos(wait)), Ordering::Relaxed);
            tracing::warn!(error = %e, retry_in_secs = wait.as_secs_f64(), "config refresh failed; keeping the config in use");
            Err(Arc::try_unwrap(e).unwrap_or_else(|e| clone_error(&e)))
        }
    }
}

fn clone_error(e: &Error) -> Error {
    match e {
        Error::Config(c) => Error::Config(c.clone()),
        Error::StaleVersion { got, held } => Error::StaleVersion {
            got: *got,
            held: *held,
        },
        other => Error::ProvidersFailed(vec![ProviderError::Decode {
            provider: "resolver",
            reason: other.to_string(),
        }]),
    }
}

async fn load(inner: &Arc<Inner>) -> Result<Arc<MarketplaceConfig>, Error> {
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
    Err(refused.unwrap_or(Error::ProvidersFailed(errors)))
}

/// Validates a document and, if it is acceptable, swaps it in, persists it and notifies.
fn install(
    inner: &Arc<Inner>,
    doc: RawDocument,
    source: ConfigSource,
) -> Result<Arc<MarketplaceConfig>, Error> {
    let mut config = MarketplaceConfig::from_value(&doc.value)?;
    if let Some(v) = doc.version {
        config.version = v;
    }
    let current = inner.snapshot.load_full();
    let held = current.config.version;
    let trusted = !matches!(current.source, ConfigSource::Default);
    if trusted && config.version < held {
        return Err(Error::StaleVersion {
            got: config.version,
            held,
        });
    }
    if *current.config == config {
        // Same document: keep the snapshot (and the origins' state); only mark the source.
        if current.source != source {
            let snap = Snapshot {
                config: Arc::clone(&current.config),
                origins: current.origins.clone(),
                source,
                installed_at: current.installed_at,
            };
            inner.snapshot.store(Arc::new(snap));
        }
        return Ok(Arc::clone(&current.config));
    }
    let snap = Arc::new(Snapshot::build(config, source, Some(&current)));
    let cfg = Arc::clone(&snap.config);
    inner.snapshot.store(snap);
    tracing::info!(version = cfg.version, mode = ?cfg.mode, "installed config");
    if let Some(path) = inner.lkg_path.clone() {
        let _guard = inner.lkg_lock.lock();
        let name = match source {
            ConfigSource::Provider(n) => n,
            ConfigSource::LastKnownGood => "last-known-good",
            ConfigSource::Default => "default",
        };
        if let Err(e) = crate::cache::save_lkg(&path, &cfg, name) {
            tracing::warn!(path = %path.display(), error = %e, "cannot persist last-known-good config");
        }
    }
    reconcile_probes(inner, &inner.handle);
    inner.changes.send_replace(Arc::clone(&cfg));
    Ok(cfg)
}

/// Follows a provider's push stream; reconnects with full-jitter backoff when it drops.
async fn watch_loop(weak: Weak<Inner>, provider: Arc<dyn ConfigProvider>, _index: usize) {
    let mut failures: u32 = 0;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let after = Some(inner.snapshot.load().config.version).filter(|v| *v > 0);
        let (base, cap) = (inner.settings.backoff_base, inner.settings.backoff_cap);
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
        let ceiling = base.saturating_mul(1u32 << failures.min(16)).min(cap);
        tokio::time::sleep(
            ceiling
                .mul_f64(rand::random::<f64>())
                .max(Duration::from_millis(50)),
        )
        .await;
    }
}

/// Starts, restarts or stops the health-check task of each origin to match the config.
fn reconcile_probes(inner: &Arc<Inner>, handle: &tokio::runtime::Handle) {
    let snap = inner.snapshot.load_full();
    let enabled = inner.settings.health_checks && snap.config.health_check_enabled;
    let Ok(mut slots) = inner.probes.lock() else {
        return;
    };
    for kind in OriginKind::ALL {
        let slot = &mut slots[kind.index()];
        let want = snap.origins[kind.index()]
            .as_ref()
            .filter(|_| enabled)
            .map(|cell| (cell.base.clone(), snap.config.health_check.clone()));
        if slot.key == want {
            continue;
        }
        if let Some(t) = slot.task.take() {
            t.abort();
        }
        slot.key = want.clone();
        if let (Some((_, mut settings)), Some(cell)) = (want, snap.origins[kind.index()].clone()) {
            if settings.path.is_empty() {
                settings.path.clone_from(&inner.settings.health_path);
            }
            let task = handle.spawn(probe_loop(
                Arc::downgrade(inner),
                cell,
                settings,
                inner.http.clone(),
            ));
            slot.task = Some(task.abort_handle());
        }
    }
}

/// The active health check of one origin: probe, apply hysteresis, sleep `interval ± 10 %`.
async fn probe_loop(
    weak: Weak<Inner>,
    cell: Arc<OriginCell>,
    settings: HealthCheckSettings,
    http: reqwest::Client,
) {
    let Ok(url) = join_path(&cell.base, &settings.path) else {
        tracing::warn!(origin = %cell.kind, path = %settings.path, "health-check path cannot be joined; probes disabled");
        return;
    };
    // Spread a fleet's first probes over the first 10 % of the interval.
    tokio::time::sleep(settings.interval.mul_f64(0.1 * rand::random::<f64>())).await;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let now = inner.now();
        // Never spend a rate-limited origin's quota on probes.
        if cell.flags.rate_limited_until.load(Ordering::Relaxed) <= now {
            let span = tracing::info_span!("health_check", origin = %cell.kind, url = %url);
            let started = Instant::now();
            let result = http
                .head(url.clone())
                .timeout(settings.timeout)
                .send()
                .instrument(span)
                .await;
            let elapsed = started.elapsed();
            let (success, error, status, retry) = match result {
                Ok(r) => {
                    let s = r.status().as_u16();
                    let retry = crate::ratelimit::requested_wait(r.headers(), SystemTime::now());
                    (
                        (200..400).contains(&s),
                        Some(format!("HTTP {s}")),
                        Some(s),
                        retry,
                    )
                }
                Err(e) => (false, Some(e.to_string()), None, None),
            };
            if let Some(s) = status.filter(|s| crate::ratelimit::is_rate_limited(cell.kind, *s)) {
                // A rate-limit answer says nothing about health: record the cooldown only.
                observe_rate_limit(&inner, &cell, s, retry);
            } else if let Ok(mut m) = cell.machine.lock() {
                if m.health.observe(success, &settings) {
                    cell.flags
                        .healthy
                        .store(m.health.healthy, Ordering::Relaxed);
                    if m.health.healthy {
                        tracing::info!(origin = %cell.kind, "origin became healthy");
                    } else {
                        tracing::warn!(origin = %cell.kind, error = ?error, "origin became unhealthy");
                        cell.flags.last_failure.store(now.max(1), Ordering::Relaxed);
                    }
                }
                m.last_check = Some(SystemTime::now());
                m.response_time = Some(elapsed);
                m.last_error = if success { None } else { error };
                m.checks += 1;
            }
        }
        drop(inner);
        tokio::time::sleep(settings.interval.mul_f64(0.9 + 0.2 * rand::random::<f64>())).await;
    }
}

fn observe_rate_limit(inner: &Inner, cell: &OriginCell, _status: u16, retry: Option<Duration>) {
    let cooldown = crate::ratelimit::cooldown(retry, rand::random::<f64>());
    let until = inner.now().saturating_add(nanos(cooldown));
    cell.flags
        .rate_limited_until
        .fetch_max(until, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_path_appends_and_refuses_escapes() {
        let base: Url = "https://raw.example.com/o/r/HEAD/".parse().unwrap();
        assert_eq!(
            join_path(&base, "community-plugins.json").unwrap().as_str(),
            "https://raw.example.com/o/r/HEAD/community-plugins.json"
        );
        assert_eq!(
            join_path(&base, "/api/plugins").unwrap().as_str(),
            "https://raw.example.com/o/r/HEAD/api/plugins"
        );
        assert_eq!(
            join_path(&base, "a b/c%2Fd").unwrap().as_str(),
            "https://raw.example.com/o/r/HEAD/a%20b/c%2Fd"
        );
        for bad in [
            "https://evil.example/x",
            "//evil.example/x",
            "../secrets",
            "a/../../b",
            "a\\b",
        ] {
            assert!(join_path(&base, bad).is_err(), "{bad}");
        }
    }
}
