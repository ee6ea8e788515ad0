//! The drill's fleet and load: `installs` resolvers following the control plane's SSE stream,
//! and the request load of one phase through [`sourcegate::Resolver::fetch`], tallied.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sourcegate::provider::ControlPlaneProvider;
use sourcegate::{BodySource, OriginKind, Resolver};
use sourcegate_testkit::REGISTRY_PATH;
use tokio::sync::Semaphore;

use super::autopilot::Until;
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
    fresh: AtomicU64,
    revalidated: AtomicU64,
    stale: AtomicU64,
    new_snapshot: AtomicU64,
    old_after_max_age: AtomicU64,
    latencies_us: std::sync::Mutex<Vec<u64>>,
    /// When each failed request started.
    error_starts: std::sync::Mutex<Vec<Instant>>,
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
        .content_check(opts.check.clone())
        .http_cache(!opts.baseline)
        // Every install reports once per scaled minute: the autopilot decides on these
        // reports (the drill's control plane admits them without a per-IP limit).
        .telemetry(sourcegate::telemetry::TelemetrySettings {
            interval: Duration::from_secs(u64::from(opts.minute_secs.max(1))),
            ..Default::default()
        })
        // A thousand simulated installs in one process would spend Git's quota on probes:
        // only the control plane probes the origins (its verdict gates the autopilot).
        .health_checks(false)
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

/// Which installs a phase's load goes through.
pub(super) enum Sequence<'a> {
    /// The next installs of the shuffled `order`, from `cursor` on; with `until`, the load
    /// stops early once it is reached.
    Next {
        order: &'a [usize],
        cursor: &'a mut usize,
        until: Option<&'a Until>,
    },
    /// The installs of an earlier phase again, in the same order: once, or (`cycle`) over and
    /// over until the phase's time is up.
    Replay { installs: &'a [usize], cycle: bool },
}

/// What the bodies of a phase must be.
pub(super) struct Expect {
    /// The registry's SHA-256 (lower-case hex).
    pub(super) sha: String,
    /// `registry-update`: the new snapshot's SHA-256, and the instant after which an install
    /// must serve it (publication + `max-age` + scheduling slack).
    pub(super) update: Option<(String, Instant)>,
    /// The content check every body must pass.
    pub(super) check: sourcegate::content::ContentCheck,
}

/// What a body was, once checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Registry,
    Update,
    Wrong,
}

/// Verdicts of bodies already checked: the resolvers keep one copy of each body
/// (`sourcegate::http_cache`), so the same bytes come back many times. Holding the `Bytes`
/// keeps their memory from being reused for another body while the verdict stands.
type Verdicts = std::sync::Mutex<Vec<(bytes::Bytes, Verdict)>>;

/// Runs the load of one phase: `spec.rps` slots per second for `seconds`, each through the
/// next install of `seq`, which fetches the registry `polls` times in a row; at most `sem`'s
/// permits in flight. Every body is checked against `expect` (SHA-256 and content check).
/// Returns the report (origin byte counts still zero: the caller fills them), the installs
/// used, in order, and the requests that failed after `until`'s fleet followed (0 without one).
#[allow(clippy::too_many_arguments)]
pub(super) async fn load(
    spec: &PhaseSpec,
    seconds: f64,
    polls: usize,
    fleet: &Arc<Vec<Install>>,
    sem: &Arc<Semaphore>,
    mut seq: Sequence<'_>,
    expect: &Arc<Expect>,
    observed: (Option<f64>, Option<f64>),
) -> (PhaseReport, Vec<usize>, u64) {
    let (propagation_ms, canary_share) = observed;
    let tally = Arc::new(Tally::default());
    let verdicts: Arc<Verdicts> = Arc::default();
    let interval = Duration::from_secs_f64(1.0 / spec.rps.max(0.1));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    let mut used = Vec::new();
    let mut slot = 0usize;
    loop {
        let idx = match &mut seq {
            Sequence::Next {
                order,
                cursor,
                until,
            } => {
                if Instant::now() >= end || order.is_empty() || until.is_some_and(Until::reached) {
                    break;
                }
                let i = order[**cursor % order.len()];
                **cursor += 1;
                i
            }
            Sequence::Replay { installs, cycle } => {
                if installs.is_empty()
                    || (*cycle && Instant::now() >= end)
                    || (!*cycle && slot >= installs.len())
                {
                    break;
                }
                installs[slot % installs.len()]
            }
        };
        slot += 1;
        ticker.tick().await;
        used.push(idx);
        let Ok(permit) = Arc::clone(sem).acquire_owned().await else {
            break;
        };
        let (fleet, tally, expect, verdicts) = (
            Arc::clone(fleet),
            Arc::clone(&tally),
            Arc::clone(expect),
            Arc::clone(&verdicts),
        );
        tasks.spawn(async move {
            let _permit = permit;
            for _ in 0..polls.max(1) {
                one_fetch(&fleet[idx].resolver, &tally, &expect, &verdicts).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let followed = match &seq {
        Sequence::Next { until, .. } => until.and_then(Until::followed),
        Sequence::Replay { .. } => None,
    };
    let errors_after = followed.map_or(0, |t| {
        tally.error_starts.lock().map_or(0, |e| {
            u64::try_from(e.iter().filter(|s| **s > t).count()).unwrap_or(u64::MAX)
        })
    });

    let mut lat = tally
        .latencies_us
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    lat.sort_unstable();
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let report = PhaseReport {
        name: spec.name.into(),
        mode: spec.mode.into(),
        requests: load(&tally.requests),
        git: load(&tally.git),
        cdn: load(&tally.cdn),
        fallbacks: load(&tally.fallbacks),
        errors: load(&tally.errors),
        rate_limited: load(&tally.rate_limited),
        p50_ms: percentile(&lat, 0.50),
        p99_ms: percentile(&lat, 0.99),
        propagation_ms,
        canary_share_percent: canary_share,
        body_mismatches: load(&tally.mismatches),
        git_bytes: 0,
        cdn_bytes: 0,
        git_200: 0,
        git_304: 0,
        cdn_200: 0,
        cdn_304: 0,
        fresh: load(&tally.fresh),
        revalidated: load(&tally.revalidated),
        stale: load(&tally.stale),
        new_snapshot: expect.update.as_ref().map(|_| load(&tally.new_snapshot)),
        old_after_max_age: expect
            .update
            .as_ref()
            .map(|_| load(&tally.old_after_max_age)),
        autopilot: None,
    };
    (report, used, errors_after)
}

/// One fetch of the registry by `resolver`, tallied and its body checked.
async fn one_fetch(resolver: &Resolver, tally: &Tally, expect: &Expect, verdicts: &Verdicts) {
    let started = Instant::now();
    let result = resolver.fetch(REGISTRY_PATH).await;
    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    tally.requests.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut l) = tally.latencies_us.lock() {
        l.push(us);
    }
    let resp = match result {
        Ok(resp) => resp,
        Err(e) => {
            if let sourcegate::RequestError::AllOriginsFailed { attempts, .. } = &e {
                tally
                    .rate_limited
                    .fetch_add(rate_limited(attempts), Ordering::Relaxed);
            }
            tally.errors.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut e) = tally.error_starts.lock() {
                e.push(started);
            }
            return;
        }
    };
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
    match resp.source {
        BodySource::Fresh => tally.fresh.fetch_add(1, Ordering::Relaxed),
        BodySource::Revalidated => tally.revalidated.fetch_add(1, Ordering::Relaxed),
        BodySource::Stale => tally.stale.fetch_add(1, Ordering::Relaxed),
        BodySource::Network => 0,
    };
    let verdict = verdict(resp.body, expect, verdicts).await;
    match verdict {
        Verdict::Wrong => {
            tally.mismatches.fetch_add(1, Ordering::Relaxed);
        }
        Verdict::Update => {
            tally.new_snapshot.fetch_add(1, Ordering::Relaxed);
        }
        Verdict::Registry => {
            if expect
                .update
                .as_ref()
                .is_some_and(|(_, due)| started > *due)
            {
                tally.old_after_max_age.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Checks a body (digest and content check, off the async workers), once per distinct copy.
async fn verdict(body: bytes::Bytes, expect: &Expect, verdicts: &Verdicts) -> Verdict {
    let known = verdicts.lock().ok().and_then(|v| {
        v.iter()
            .find(|(b, _)| b.as_ptr() == body.as_ptr() && b.len() == body.len())
            .map(|(_, v)| *v)
    });
    if let Some(v) = known {
        return v;
    }
    let (sha, update, check) = (
        expect.sha.clone(),
        expect.update.as_ref().map(|(s, _)| s.clone()),
        expect.check.clone(),
    );
    let b = body.clone();
    let v = tokio::task::spawn_blocking(move || {
        let digest: String = Sha256::digest(&b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect();
        if check.check(REGISTRY_PATH, &b).is_err() {
            Verdict::Wrong
        } else if digest == sha {
            Verdict::Registry
        } else if update.as_deref() == Some(digest.as_str()) {
            Verdict::Update
        } else {
            Verdict::Wrong
        }
    })
    .await
    .unwrap_or(Verdict::Wrong);
    if let Ok(mut known) = verdicts.lock() {
        known.push((body, v));
    }
    v
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
