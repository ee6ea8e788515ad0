//! The [`Prober`]: one check task per configured origin, following the config document.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::Instrument as _;
use url::Url;

use super::{CheckError, HealthCheck, HttpHealthCheck, ProbeTarget};
use crate::config::{HealthCheckSettings, MarketplaceConfig, OriginKind};
use crate::error::BuildError;
use crate::health::{OriginHealth, nanos};
use crate::origin::{OriginCell, join_path};

/// Makes the check of one document's `healthCheck` settings.
type MakeCheck = dyn Fn(&HealthCheckSettings) -> Arc<dyn HealthCheck> + Send + Sync;

/// Builds a [`Prober`]. Defaults:
/// - checks: [`HttpHealthCheck::from_settings`] with a client whose connect timeout is 5 s
///   (set another client with [`Self::http_client`], another check with [`Self::health_check`]);
/// - default path: `""` (the origin's base URL), used when the document's `healthCheck.path` is
///   empty.
#[derive(Default)]
pub struct ProberBuilder {
    client: Option<reqwest::Client>,
    make_check: Option<Arc<MakeCheck>>,
    default_path: String,
}

impl std::fmt::Debug for ProberBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProberBuilder")
            .field("default_path", &self.default_path)
            .finish_non_exhaustive()
    }
}

impl ProberBuilder {
    /// Sends the HTTP checks with `client` (e.g. a client behind an outbound guard).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Uses the checks `make` returns for each document's `healthCheck` settings instead of
    /// [`HttpHealthCheck`] (the thresholds are then `make`'s checks' own).
    pub fn health_check(
        mut self,
        make: impl Fn(&HealthCheckSettings) -> Arc<dyn HealthCheck> + Send + Sync + 'static,
    ) -> Self {
        self.make_check = Some(Arc::new(make));
        self
    }

    /// Path probed when the document's `healthCheck.path` is empty, e.g.
    /// `community-plugins.json` for hosts whose base URL does not answer 200.
    pub fn default_path(mut self, path: impl Into<String>) -> Self {
        self.default_path = path.into();
        self
    }

    /// Builds the prober on the current tokio runtime, where its checks will run. It probes
    /// nothing until [`Prober::follow`] gives it a document.
    ///
    /// # Errors
    /// [`BuildError::NoRuntime`] outside a tokio runtime; [`BuildError::HttpClient`] when the
    /// default client cannot be built.
    pub fn build(self) -> Result<Prober, BuildError> {
        self.build_with_epoch(Instant::now())
    }

    /// As [`Self::build`], with times kept in ns since `epoch` (the resolver's clock, so its
    /// router reads the same flags).
    pub(crate) fn build_with_epoch(self, epoch: Instant) -> Result<Prober, BuildError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        let make_check = match self.make_check {
            Some(m) => m,
            None => {
                let client = match self.client {
                    Some(c) => c,
                    None => crate::tls::origin_client()
                        .build()
                        .map_err(BuildError::HttpClient)?,
                };
                Arc::new(move |s: &HealthCheckSettings| {
                    Arc::new(HttpHealthCheck::from_settings(client.clone(), s))
                        as Arc<dyn HealthCheck>
                })
            }
        };
        Ok(Prober {
            handle,
            epoch,
            make_check,
            default_path: self.default_path,
            state: Mutex::new(State::default()),
        })
    }
}

/// Runs the active health checks of a config's origins, each on its own task spawned on the
/// runtime the prober was built on, every `healthCheck.interval × U(0.9, 1.1)` (the first one
/// within the first 10 % of the interval, so a fleet spreads its probes). A check is skipped
/// while its origin is in a rate-limit cooldown. Verdicts follow the check's thresholds
/// ([`HealthCheck::health_threshold`]) with hysteresis ([`crate::health::HealthState`]).
///
/// Dropping the prober stops its checks.
pub struct Prober {
    /// Where the check tasks are spawned: callers need no runtime context.
    handle: tokio::runtime::Handle,
    epoch: Instant,
    make_check: Arc<MakeCheck>,
    default_path: String,
    /// A std mutex: held while tasks are started or stopped, never across an `.await`.
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    version: u64,
    slots: [Slot; 2],
}

#[derive(Default)]
struct Slot {
    cell: Option<Arc<OriginCell>>,
    /// What the running task probes (the origin's base and the effective settings).
    key: Option<(Url, HealthCheckSettings)>,
    task: Option<AbortHandle>,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober")
            .field("default_path", &self.default_path)
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Prober {
    /// A builder; see [`ProberBuilder`] for the defaults.
    pub fn builder() -> ProberBuilder {
        ProberBuilder::default()
    }

    /// Follows `config`: probes its origins when `healthCheckEnabled` is on, with its
    /// `healthCheck` settings; stops probing origins it no longer names. An origin whose base
    /// URL is unchanged keeps its state (verdict, counters, last check); a task whose settings
    /// are unchanged keeps running.
    pub fn follow(&self, config: &MarketplaceConfig) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let cells = OriginKind::ALL.map(|kind| {
            let base = config.origin_url(kind)?;
            match &st.slots[kind.index()].cell {
                Some(cell) if cell.base == *base => Some(Arc::clone(cell)),
                _ => Some(Arc::new(OriginCell::new(kind, base.clone()))),
            }
        });
        let settings = config.health_check_enabled.then_some(&config.health_check);
        self.reconcile(&mut st, cells, settings, config.version);
    }

    /// Follows the resolver's origin cells: probes them with `settings`, or stops probing
    /// when `None` (health checks off).
    pub(crate) fn follow_cells(
        &self,
        cells: [Option<Arc<OriginCell>>; 2],
        settings: Option<&HealthCheckSettings>,
        version: u64,
    ) {
        if let Ok(mut st) = self.state.lock() {
            self.reconcile(&mut st, cells, settings, version);
        }
    }

    fn reconcile(
        &self,
        st: &mut State,
        cells: [Option<Arc<OriginCell>>; 2],
        settings: Option<&HealthCheckSettings>,
        version: u64,
    ) {
        st.version = version;
        for (slot, cell) in st.slots.iter_mut().zip(cells) {
            let want = match (&cell, settings) {
                (Some(cell), Some(s)) => {
                    let mut s = s.clone();
                    if s.path.is_empty() {
                        s.path.clone_from(&self.default_path);
                    }
                    Some((cell.base.clone(), s))
                }
                _ => None,
            };
            let same_cell = match (&slot.cell, &cell) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            slot.cell = cell;
            if slot.key == want && same_cell {
                continue;
            }
            if let Some(t) = slot.task.take() {
                t.abort();
            }
            slot.key = want.clone();
            if let (Some((_, s)), Some(cell)) = (want, slot.cell.clone()) {
                let check = (self.make_check)(&s);
                let task = self.handle.spawn(probe_loop(cell, check, s, self.epoch));
                slot.task = Some(task.abort_handle());
            }
        }
    }

    /// Health of each origin followed (Git first). Before any check an origin is healthy with
    /// `checks: 0`.
    pub fn health(&self) -> Vec<OriginHealth> {
        let now = nanos(Instant::now().saturating_duration_since(self.epoch));
        let Ok(st) = self.state.lock() else {
            return Vec::new();
        };
        st.slots
            .iter()
            .filter_map(|s| s.cell.as_ref())
            .map(|cell| cell.health(now))
            .collect()
    }

    /// Version of the document followed (0 before the first one).
    pub fn version(&self) -> u64 {
        self.state.lock().map(|st| st.version).unwrap_or(0)
    }

    /// Stops every check task (they restart on the next [`Self::follow`] with new settings).
    pub(crate) fn stop(&self) {
        if let Ok(mut st) = self.state.lock() {
            for slot in &mut st.slots {
                if let Some(t) = slot.task.take() {
                    t.abort();
                }
                slot.key = None;
            }
        }
    }
}

/// The active health check of one origin: check, apply hysteresis, sleep `interval ± 10 %`.
async fn probe_loop(
    cell: Arc<OriginCell>,
    check: Arc<dyn HealthCheck>,
    settings: HealthCheckSettings,
    epoch: Instant,
) {
    let Ok(url) = join_path(&cell.base, &settings.path) else {
        tracing::warn!(origin = %cell.kind, path = %settings.path, "health-check path cannot be joined; probes disabled");
        return;
    };
    let target = ProbeTarget {
        origin: cell.kind,
        url,
    };
    // Spread a fleet's first probes over the first 10 % of the interval.
    tokio::time::sleep(settings.interval.mul_f64(0.1 * rand::random::<f64>())).await;
    loop {
        let now = nanos(Instant::now().saturating_duration_since(epoch));
        // Never spend a rate-limited origin's quota on probes.
        if cell.flags.rate_limited_until.load(Ordering::Relaxed) <= now {
            let span = tracing::info_span!("health_check", origin = %cell.kind, url = %target.url);
            let started = Instant::now();
            let result = check.check(&target).instrument(span).await;
            record(&cell, &*check, result, started.elapsed(), now);
        }
        tokio::time::sleep(settings.interval.mul_f64(0.9 + 0.2 * rand::random::<f64>())).await;
    }
}

/// Applies one check result to the origin's state.
fn record(
    cell: &OriginCell,
    check: &dyn HealthCheck,
    result: Result<(), CheckError>,
    elapsed: Duration,
    now: u64,
) {
    if let Err(CheckError::RateLimited { retry_after, .. }) = result {
        // A rate-limit answer says nothing about health: record the cooldown only.
        cell.start_cooldown(now, retry_after);
        return;
    }
    let success = result.is_ok();
    let Ok(mut m) = cell.machine.lock() else {
        return;
    };
    if m.health
        .observe_with(success, check.health_threshold(success))
    {
        cell.flags
            .healthy
            .store(m.health.healthy, Ordering::Relaxed);
        if m.health.healthy {
            tracing::info!(origin = %cell.kind, "origin became healthy");
        } else {
            let error = result.as_ref().err().map(ToString::to_string);
            tracing::warn!(origin = %cell.kind, error = ?error, "origin became unhealthy");
            cell.flags.last_failure.store(now.max(1), Ordering::Relaxed);
        }
    }
    m.last_check = Some(SystemTime::now());
    m.response_time = Some(elapsed);
    m.last_error = result.err().map(|e| e.to_string());
    m.checks += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt as _;
    use futures_util::future::BoxFuture;
    use std::sync::atomic::AtomicBool;

    /// A check whose answer the test switches.
    struct Switch(Arc<AtomicBool>);

    impl HealthCheck for Switch {
        fn check<'a>(&'a self, _: &'a ProbeTarget) -> BoxFuture<'a, Result<(), CheckError>> {
            let up = self.0.load(Ordering::Relaxed);
            async move {
                if up {
                    Ok(())
                } else {
                    Err(CheckError::Status { status: 503 })
                }
            }
            .boxed()
        }

        fn health_threshold(&self, success: bool) -> usize {
            if success { 1 } else { 2 }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn follows_the_document_and_flips_with_the_checks_thresholds() {
        let up = Arc::new(AtomicBool::new(true));
        let switch = Arc::clone(&up);
        let prober = Prober::builder()
            .health_check(move |_| Arc::new(Switch(Arc::clone(&switch))) as Arc<dyn HealthCheck>)
            .build()
            .unwrap();
        assert!(prober.health().is_empty());
        let doc = serde_json::json!({"type": "git", "gitUrl": "http://git.test/r/", "version": 4,
            "healthCheck": {"intervalSecs": 10, "timeoutMs": 1000}});
        prober.follow(&MarketplaceConfig::from_value(&doc).unwrap());
        assert_eq!(prober.version(), 4);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let h = prober.health();
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].healthy, h[0].checks), (true, 1));

        up.store(false, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert!(prober.health()[0].healthy, "one failure of two");
        tokio::time::sleep(Duration::from_secs(11)).await;
        let h = prober.health();
        assert!(!h[0].healthy);
        assert_eq!(h[0].last_error.as_deref(), Some("HTTP 503"));

        // A new document naming the same origin keeps its state; one without it drops it.
        let doc = serde_json::json!({"type": "hybrid", "gitUrl": "http://git.test/r/",
            "cdnUrl": "http://cdn.test/", "version": 5});
        prober.follow(&MarketplaceConfig::from_value(&doc).unwrap());
        let h = prober.health();
        assert_eq!(h.len(), 2);
        assert!(!h[0].healthy);
        assert_eq!(h[1].origin, OriginKind::Cdn);
    }
}
