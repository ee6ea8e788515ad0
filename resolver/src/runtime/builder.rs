//! [`ResolverBuilder`]: options, and `build`, which starts the background work.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio::time::Instant;
use url::Url;

use super::refresh::refresh;
use super::{ConfigSource, Inner, Resolver, Settings, Snapshot};
use crate::backoff::Backoff;
use crate::bucket::bucket_of;
use crate::config::MarketplaceConfig;
use crate::error::BuildError;
use crate::probe::Prober;
use crate::provider::ConfigProvider;
use crate::stats::Stats;
use crate::telemetry::TelemetrySettings;

/// Builds a [`Resolver`]. See each method for its default.
pub struct ResolverBuilder {
    default_git_url: Url,
    providers: Vec<Arc<dyn ConfigProvider>>,
    install_id: Option<String>,
    install_id_file: Option<PathBuf>,
    lkg_path: Option<PathBuf>,
    body_cache_dir: Option<PathBuf>,
    body_cache_max_bytes: u64,
    http: Option<reqwest::Client>,
    settings: Settings,
    telemetry: TelemetrySettings,
}

impl std::fmt::Debug for ResolverBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolverBuilder")
            .field("default_git_url", &self.default_git_url.as_str())
            .field("providers", &self.providers.len())
            .finish_non_exhaustive()
    }
}

impl ResolverBuilder {
    /// Default base of [`Self::backoff`]: 1 s.
    pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(1);
    /// Default cap of [`Self::backoff`]: 300 s.
    pub const DEFAULT_BACKOFF_CAP: Duration = Duration::from_secs(300);

    pub(super) fn new(default_git_url: Url) -> ResolverBuilder {
        ResolverBuilder {
            default_git_url,
            providers: Vec::new(),
            install_id: None,
            install_id_file: None,
            lkg_path: None,
            body_cache_dir: None,
            body_cache_max_bytes: super::DEFAULT_BODY_CACHE_MAX_BYTES,
            http: None,
            telemetry: TelemetrySettings::default(),
            settings: Settings::default(),
        }
    }

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

    /// Keeps fetched bodies and follows HTTP caching (RFC 9111) in [`Resolver::fetch`]
    /// (default `true`): validators (`ETag`, `Last-Modified`) and the body are kept per
    /// (origin, URL); a fresh entry (`Cache-Control: max-age`, `Expires`, minus `Age`, §4.2) is
    /// served with no request; a stale one (or `no-cache`) is revalidated with a conditional
    /// request (`If-None-Match` / `If-Modified-Since`, §4.3.1) and a `304` serves the kept
    /// body; `no-store` responses are not kept (§5.2.2.5). `false`: a plain GET every time.
    pub fn http_cache(mut self, on: bool) -> Self {
        self.settings.http_cache = on;
        self
    }

    /// Where fetched bodies are persisted, one file per (origin, URL), written atomically,
    /// so that a cold start without network still serves the last good body (marked
    /// [`crate::BodySource::Stale`]). Default: beside the [`Self::cache_file`], a directory
    /// named after it with `.bodies` appended (`sourcegate.json.bodies/`); none without a
    /// cache file. A damaged file is ignored and counted (`bodyCacheCorrupt`).
    pub fn body_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.body_cache_dir = Some(dir.into());
        self
    }

    /// The most bytes the body-cache directory holds (default 64 MiB), and the most the
    /// in-memory cache keeps; the oldest files go first. A body larger than this is not
    /// persisted.
    pub fn body_cache_max_bytes(mut self, max: u64) -> Self {
        self.body_cache_max_bytes = max;
        self
    }

    /// When every origin fails a fetch, serves a stale kept body instead of an error
    /// (default `true`; RFC 9111 §4.2.4), unless its response said `must-revalidate`. The
    /// response says [`crate::BodySource::Stale`] and lists the failed attempts.
    pub fn stale_if_error(mut self, on: bool) -> Self {
        self.settings.stale_if_error = on;
        self
    }

    /// What a 2xx body must be to count as served (default
    /// [`ContentCheck::Auto`](crate::content::ContentCheck::Auto): JSON for `.json` paths). A
    /// body that fails is an origin failure: the fetch fails over.
    pub fn content_check(mut self, check: crate::content::ContentCheck) -> Self {
        self.settings.content_check = check;
        self
    }

    /// The largest body a fetch accepts, in bytes after decompression (default 32 MiB). The
    /// body is streamed and the request aborted as soon as it exceeds this (or when
    /// `Content-Length` says it will): an origin failure, the fetch fails over.
    pub fn max_body_bytes(mut self, max: u64) -> Self {
        self.settings.max_body_bytes = max;
        self
    }

    /// The longest wait for the next bytes of a response (the headers, then each body chunk)
    /// in [`Resolver::fetch`] (default 10 s), separate from [`Self::request_timeout`], which
    /// bounds the whole request. A stalled origin is an origin failure: the fetch fails over.
    pub fn read_idle_timeout(mut self, d: Duration) -> Self {
        self.settings.read_idle_timeout = d;
        self
    }

    /// How long a fetched config is fresh before a background refresh (default 300 s, the
    /// seed's 5 minutes, `docs/seed.md` S5; at least 1 ms). Each refresh is scheduled at `ttl × U(0.9, 1.1)` so a
    /// fleet does not stampede.
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

    /// Backoff after failed config fetches and dropped push streams: full jitter,
    /// `random(0, min(cap, base × 2^n))` (AWS Architecture Blog). Defaults: base 1 s, cap 300 s
    /// (a cap below `base` is raised to it).
    pub fn backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.settings.backoff = Backoff {
            base,
            cap: cap.max(base),
        };
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

    /// Offline mode (default `false`): the resolver makes **no network request of any kind**.
    /// Only local providers are kept ([`crate::provider::ConfigProvider::is_local`]: static
    /// documents, a static file), so the config comes from those, the last-known-good file
    /// ([`Self::cache_file`]) or the built-in default; no probes, no push stream, no telemetry
    /// (a [`Self::telemetry`] endpoint is ignored). [`Resolver::fetch`] serves kept bodies only
    /// (the HTTP cache, in memory or persisted in [`Self::body_cache_dir`]): a fresh one as
    /// [`crate::BodySource::Fresh`], a stale one as [`crate::BodySource::Stale`] (unless its
    /// response said `must-revalidate`, RFC 9111 §4.2.4), and otherwise fails with
    /// [`crate::RequestError::Offline`]. Build a new resolver to go online.
    pub fn offline(mut self, on: bool) -> Self {
        self.settings.offline = on;
        self
    }

    /// Telemetry reporting (see [`crate::telemetry`]): on by default toward a control-plane
    /// provider's `/v1/telemetry`; `enabled: false` opts out. The interval is at least 10 ms.
    pub fn telemetry(mut self, settings: TelemetrySettings) -> Self {
        self.telemetry = settings;
        self.telemetry.interval = self.telemetry.interval.max(Duration::from_millis(10));
        self
    }

    /// Reports counters to `endpoint` every 60 s ± 10 %, keeping the other
    /// [`TelemetrySettings`] as they are (the default endpoint is a control-plane provider's
    /// `/v1/telemetry`).
    pub fn telemetry_endpoint(mut self, endpoint: Url) -> Self {
        self.telemetry.endpoint = Some(endpoint);
        self
    }

    /// Uses `client` for origin requests, health checks and telemetry (default: a client with
    /// a 5 s connect timeout).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the resolver and starts its background work (first config fetch, push stream,
    /// health checks, telemetry) on the current tokio runtime. Returns at once: it never waits
    /// for the network.
    ///
    /// # Errors
    /// [`BuildError::NoRuntime`] outside a tokio runtime; [`BuildError::HttpClient`];
    /// [`BuildError::InstallIdFile`].
    pub fn build(mut self) -> Result<Resolver, BuildError> {
        if self.settings.offline {
            self.providers.retain(|p| p.is_local());
        }
        let handle = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        let install_id = match (self.install_id, &self.install_id_file) {
            (Some(id), _) => id,
            (None, Some(path)) => crate::cache::install_id_from_file(path).map_err(|source| {
                BuildError::InstallIdFile {
                    path: path.clone(),
                    source,
                }
            })?,
            (None, None) => uuid::Uuid::new_v4().to_string(),
        };
        let http = match self.http {
            Some(c) => c,
            None => crate::tls::origin_client()
                .build()
                .map_err(BuildError::HttpClient)?,
        };
        let (initial, source) = match self.lkg_path.as_deref().and_then(crate::cache::load_lkg) {
            Some(c) => (c, ConfigSource::LastKnownGood),
            None => (
                MarketplaceConfig::default_git(self.default_git_url.clone()),
                ConfigSource::Default,
            ),
        };
        let epoch = Instant::now();
        let epoch_wall = std::time::SystemTime::now();
        let body_cache_dir = self.body_cache_dir.clone().or_else(|| {
            self.lkg_path.as_ref().map(|p| {
                let mut name = p.file_name().unwrap_or_default().to_os_string();
                name.push(".bodies");
                p.with_file_name(name)
            })
        });
        let prober = Prober::builder()
            .http_client(http.clone())
            .default_path(self.settings.health_path.clone())
            .build_with_epoch(epoch)?;
        let snapshot = Snapshot::build(initial, source, None, &self.default_git_url);
        let (changes, _) = watch::channel(Arc::clone(&snapshot.config));
        let (initialized, _) = watch::channel(self.providers.is_empty());
        let (ready, _) = watch::channel(source == ConfigSource::LastKnownGood);
        let (life, _) = watch::channel(super::Life::Running);
        let inner = Arc::new(Inner {
            handle: handle.clone(),
            epoch,
            epoch_wall,
            default_git_url: self.default_git_url,
            http_cache: crate::http_cache::HttpCache::new(
                body_cache_dir,
                self.body_cache_max_bytes,
            ),
            snapshot: ArcSwap::from_pointee(snapshot),
            loads: super::single_flight::SingleFlight::new(self.settings.ttl),
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
            ready,
            life,
            changes,
            prober,
            tasks: Mutex::new(Vec::new()),
            streams: Mutex::new(Vec::new()),
            telemetry: Mutex::new(None),
            lkg_lock: Mutex::new(()),
        });
        inner.reconcile_probes();
        start_telemetry(&inner, &self.telemetry);
        if !inner.providers.is_empty() {
            inner.refreshing.store(true, Ordering::Relaxed);
            let first = Arc::clone(&inner);
            let t = handle.spawn(async move {
                let _ = refresh(&first, false).await;
                first.refreshing.store(false, Ordering::Release);
                first.initialized.send_replace(true);
            });
            inner.push_task(t.abort_handle());
            inner.start_streams();
        }
        Ok(Resolver { inner })
    }
}

/// Starts the telemetry reporter when enabled, online and an endpoint is known (set, or offered
/// by a provider). It samples the resolver's stats through a weak reference, so it never keeps
/// the resolver alive, and follows the resolver's lifecycle (pause, close).
fn start_telemetry(inner: &Arc<Inner>, settings: &TelemetrySettings) {
    if inner.settings.offline {
        return;
    }
    let endpoint = settings
        .endpoint
        .clone()
        .or_else(|| inner.providers.iter().find_map(|p| p.telemetry_endpoint()));
    let (true, Some(endpoint)) = (settings.enabled, endpoint) else {
        return;
    };
    let weak = Arc::downgrade(inner);
    let sample = move || {
        weak.upgrade().map(|i| {
            let snap = i.snapshot.load();
            crate::telemetry::Sample {
                stats: i.stats.snapshot(),
                latency: i.stats.take_interval(),
                config_version: snap.config.version,
                mode: crate::telemetry::mode_name(&snap.config.mode),
                quota: i.stats.take_quota(),
            }
        })
    };
    let reporter = crate::telemetry::Reporter {
        endpoint,
        interval: settings.interval,
        http: inner.http.clone(),
        install_hash: crate::telemetry::install_hash(&inner.install_id),
    };
    let t = inner.handle.spawn(crate::telemetry::run(
        reporter,
        sample,
        inner.life.subscribe(),
    ));
    if let Ok(mut slot) = inner.telemetry.lock() {
        *slot = Some(t);
    }
}
