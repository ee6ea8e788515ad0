//! The drill's fleet and load: `installs` resolvers following the control plane's SSE stream,
//! and the request load of one phase through [`sourcegate::Resolver::fetch`], tallied.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sourcegate::provider::ControlPlaneProvider;
use sourcegate::{OriginKind, Resolver};
use sourcegate_testkit::REGISTRY_PATH;
use tokio::sync::Semaphore;

use super::phases::PhaseSpec;
use super::{DrillError, DrillOptions, PhaseReport};

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    git: AtomicU64,
    cdn: AtomicU64,
    fallbacks: AtomicU64,
    errors: AtomicU64,
    rate_limited: AtomicU64,
    mismatches: AtomicU64,
    latencies_us: std::sync::Mutex<Vec<u64>>,
}

/// One simulated install: its resolver, the config version it holds and when it changed.
pub(super) struct Install {
    pub(super) resolver: Resolver,
    pub(super) version: Arc<AtomicU64>,
    /// Microseconds since the drill's epoch.
    pub(super) changed_at_us: Arc<AtomicU64>,
}

/// Builds the fleet: `opts.installs` resolvers on the control plane at `base`, Git default
/// `git_url`, sharing connection pools (one process simulates many devices).
pub(super) fn build_fleet(
    opts: &DrillOptions,
    base: &str,
    git_url: &str,
    epoch: Instant,
) -> Result<Vec<Install>, DrillError> {
    let origin_http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .pool_max_idle_per_host(opts.concurrency)
        .build()
        .map_err(|e| DrillError::Admin(e.to_string()))?;
    let cp_http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| DrillError::Admin(e.to_string()))?;
    let cp_stream = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| DrillError::Admin(e.to_string()))?;
    let mut fleet = Vec::with_capacity(opts.installs);
    for i in 0..opts.installs {
        let provider = ControlPlaneProvider::new(
            base.parse()
                .map_err(|e: url::ParseError| DrillError::Admin(e.to_string()))?,
        )
        .map_err(|e| DrillError::Admin(e.to_string()))?
        .with_http_clients(cp_http.clone(), cp_stream.clone());
        let resolver = Resolver::builder(
            git_url
                .parse()
                .map_err(|e: url::ParseError| DrillError::Admin(e.to_string()))?,
        )
        .provider(provider)
        .install_id(format!("drill-{i:05}"))
        .http_client(origin_http.clone())
        .request_timeout(Duration::from_secs(5))
        .cache_ttl(Duration::from_secs(300))
        // A thousand simulated installs in one process would trip the telemetry rate limit.
        .telemetry(sourcegate::telemetry::TelemetrySettings {
            enabled: false,
            ..Default::default()
        })
        .build()?;
        let version = Arc::new(AtomicU64::new(0));
        let changed_at_us = Arc::new(AtomicU64::new(0));
        let mut rx = resolver.subscribe();
        let (v, at) = (Arc::clone(&version), Arc::clone(&changed_at_us));
        v.store(rx.borrow().version, Ordering::SeqCst);
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let ver = rx.borrow_and_update().version;
                at.store(
                    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX),
                    Ordering::SeqCst,
                );
                v.store(ver, Ordering::SeqCst);
            }
        });
        fleet.push(Install {
            resolver,
            version,
            changed_at_us,
        });
    }
    Ok(fleet)
}

/// Runs the load of one phase: `spec.rps` requests per second for `opts.phase_secs`, each
/// through the next install in `order`, at most `sem`'s permits in flight; every body is
/// checked against `registry_sha` and the registry validator.
#[allow(clippy::too_many_arguments)]
pub(super) async fn load(
    spec: &PhaseSpec,
    opts: &DrillOptions,
    fleet: &Arc<Vec<Install>>,
    sem: &Arc<Semaphore>,
    order: &[usize],
    cursor: &mut usize,
    registry_sha: &str,
    observed: (Option<f64>, Option<f64>),
) -> PhaseReport {
    let (propagation_ms, canary_share) = observed;
    let tally = Arc::new(Tally::default());
    let interval = Duration::from_secs_f64(1.0 / spec.rps.max(0.1));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = Instant::now() + Duration::from_secs_f64(opts.phase_secs);
    let mut tasks = tokio::task::JoinSet::new();
    while Instant::now() < end {
        ticker.tick().await;
        let idx = order[*cursor % order.len()];
        *cursor += 1;
        let Ok(permit) = Arc::clone(sem).acquire_owned().await else {
            break;
        };
        let (fleet, tally, sha) = (
            Arc::clone(fleet),
            Arc::clone(&tally),
            registry_sha.to_owned(),
        );
        tasks.spawn(async move {
            let _permit = permit;
            let started = Instant::now();
            let result = fleet[idx].resolver.fetch(REGISTRY_PATH).await;
            let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            tally.requests.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut l) = tally.latencies_us.lock() {
                l.push(us);
            }
            match result {
                Ok(resp) => {
                    tally
                        .rate_limited
                        .fetch_add(rate_limited(&resp.failed_attempts), Ordering::Relaxed);
                    match resp.origin {
                        OriginKind::Git => tally.git.fetch_add(1, Ordering::Relaxed),
                        OriginKind::Cdn => tally.cdn.fetch_add(1, Ordering::Relaxed),
                    };
                    if resp.fallback {
                        tally.fallbacks.fetch_add(1, Ordering::Relaxed);
                    }
                    // Parse the registry and check its digest, off the async workers.
                    let body = resp.body;
                    let ok = tokio::task::spawn_blocking(move || {
                        let digest: String = Sha256::digest(&body)
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect();
                        digest == sha && sourcegate::registry::validate_registry(&body).is_ok()
                    })
                    .await
                    .unwrap_or(false);
                    if !ok {
                        tally.mismatches.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(sourcegate::RequestError::AllOriginsFailed { attempts, .. }) => {
                    tally
                        .rate_limited
                        .fetch_add(rate_limited(&attempts), Ordering::Relaxed);
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}

    let mut lat = tally
        .latencies_us
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    lat.sort_unstable();
    PhaseReport {
        name: spec.name.into(),
        mode: spec.mode.into(),
        requests: tally.requests.load(Ordering::Relaxed),
        git: tally.git.load(Ordering::Relaxed),
        cdn: tally.cdn.load(Ordering::Relaxed),
        fallbacks: tally.fallbacks.load(Ordering::Relaxed),
        errors: tally.errors.load(Ordering::Relaxed),
        rate_limited: tally.rate_limited.load(Ordering::Relaxed),
        p50_ms: percentile(&lat, 0.50),
        p99_ms: percentile(&lat, 0.99),
        propagation_ms,
        canary_share_percent: canary_share,
        body_mismatches: tally.mismatches.load(Ordering::Relaxed),
    }
}

/// Rate-limit answers (429, or 403 from Git) among failed attempts.
fn rate_limited(attempts: &[sourcegate::AttemptError]) -> u64 {
    let n = attempts
        .iter()
        .filter(|a| {
            a.status
                .is_some_and(|s| sourcegate::ratelimit::is_rate_limited(a.origin, s))
        })
        .count();
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Nearest-rank percentile; indices are small, the casts exact.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let idx = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    #[allow(clippy::cast_precision_loss)]
    let ms = sorted[idx] as f64 / 1000.0;
    ms
}
