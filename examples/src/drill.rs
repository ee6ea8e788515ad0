//! The migration drill: a fleet of app installs moves from a rate-limited Git raw host to a CDN,
//! driven by an admin through the control plane's API, on the real registry.
//!
//! What runs, all in one process on loopback:
//! 1. the control plane on its embedded PostgreSQL (no `DATABASE_URL` needed);
//! 2. two origins serving `community-plugins.json`: a Git raw host with a token-bucket rate limit
//!    (default 20 requests/s sustained, burst 40: GitHub's unauthenticated quota scaled from an
//!    hour to seconds) answering `429` + `Retry-After` when exceeded, and a CDN (`ETag`,
//!    `Cache-Control`, no limit);
//! 3. `installs` resolvers with distinct install ids, each following the control plane's SSE
//!    stream, that fetch and parse the registry through [`sourcegate::Resolver::fetch`].
//!
//! Phases (the admin acts through `PUT /v1/configs/marketplace_source` and
//! `POST …/rollback` with an admin JWT, exactly as the `sourcegate` CLI does):
//!
//! | phase | admin / world | load | expected |
//! |---|---|---|---|
//! | `git` | admin sets Git mode | normal | all on Git, no 429 |
//! | `git-rate-limited` | a launch spike exceeds Git's quota | spike | 429s, fail over to CDN, zero errors |
//! | `canary-10` | admin sets canary 10 % | spike | 10 % of installs on the CDN |
//! | `canary-50` | admin sets canary 50 % | spike | 50 % of installs on the CDN |
//! | `cdn` | admin sets CDN mode | spike | all on the CDN |
//! | `cdn-down` | the CDN answers 503 | normal | fail over to Git, zero errors |
//! | `rollback-git` | CDN back; admin rolls back to the `git` version | normal | all on Git |
//!
//! Active health checks are off in the drill's document: a thousand simulated installs in one
//! process would spend Git's quota on probes. Passive outlier detection and rate-limit
//! cooldowns stay on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sourcegate::provider::ControlPlaneProvider;
use sourcegate::{OriginKind, Reason, Resolver};
use sourcegate_control_plane::auth::{Claims, Role, mint_token};
use sourcegate_testkit::{Fault, OriginOptions, OriginStyle, REGISTRY, REGISTRY_PATH, TestOrigin};

/// Drill parameters. [`DrillOptions::default`] is the README's run.
#[derive(Debug, Clone)]
pub struct DrillOptions {
    /// Simulated installs (default 1,000).
    pub installs: usize,
    /// Duration of each phase's load, seconds (default 6).
    pub phase_secs: f64,
    /// Fleet request rate in normal phases, requests/s (default 12).
    pub normal_rps: f64,
    /// Fleet request rate during the spike, requests/s (default 50).
    pub spike_rps: f64,
    /// Git origin's sustained limit, requests/s (default 20).
    pub git_limit_per_sec: u32,
    /// Git origin's burst (default 40).
    pub git_burst: u32,
    /// Longest wait for every install to follow a flip (default 15 s).
    pub propagation_deadline: Duration,
    /// Concurrent requests in flight at most (default 32).
    pub concurrency: usize,
    /// Show a progress bar (default true).
    pub progress: bool,
}

impl Default for DrillOptions {
    fn default() -> Self {
        DrillOptions {
            installs: 1000,
            phase_secs: 6.0,
            normal_rps: 12.0,
            spike_rps: 50.0,
            git_limit_per_sec: 20,
            git_burst: 40,
            propagation_deadline: Duration::from_secs(15),
            concurrency: 32,
            progress: true,
        }
    }
}

/// Figures of one phase (the JSON report's `phases[]`).
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// Phase name.
    pub name: String,
    /// Mode of the config in force (`git`, `canary 10%`, …).
    pub mode: String,
    /// Requests made.
    pub requests: u64,
    /// Requests served by Git.
    pub git: u64,
    /// Requests served by the CDN.
    pub cdn: u64,
    /// Requests served by an origin other than the first tried.
    pub fallbacks: u64,
    /// Requests no origin served.
    pub errors: u64,
    /// Rate-limit answers (429, or 403 from Git) seen.
    pub rate_limited: u64,
    /// Median request latency, ms.
    pub p50_ms: f64,
    /// 99th percentile request latency, ms.
    pub p99_ms: f64,
    /// Time from the admin's flip until every install held the new version, ms (`null` when
    /// the phase has no flip).
    pub propagation_ms: Option<f64>,
    /// Share of installs whose router prefers the CDN, percent (canary phases).
    pub canary_share_percent: Option<f64>,
    /// Bodies whose SHA-256 differed from the registry's.
    pub body_mismatches: u64,
}

/// The registry served.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryReport {
    /// Plugin entries.
    pub entries: usize,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// The whole drill's report (`--report <path>` writes it as JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// One entry per phase, in order.
    pub phases: Vec<PhaseReport>,
    /// The registry served.
    pub registry: RegistryReport,
    /// Config versions recorded in the control plane's history.
    pub history_versions: Vec<u64>,
    /// Installs simulated.
    pub installs: usize,
    /// Checks that failed (empty when the drill passed).
    pub failures: Vec<String>,
}

/// Why the drill could not run (a failed *check* is reported in [`Report::failures`] instead).
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// The control plane did not start.
    #[error("control plane: {0}")]
    ControlPlane(String),
    /// An origin did not start.
    #[error("origin: {0}")]
    Origin(String),
    /// A resolver could not be built.
    #[error("resolver: {0}")]
    Resolver(#[from] sourcegate::BuildError),
    /// An admin API call failed.
    #[error("admin API: {0}")]
    Admin(String),
    /// Local I/O failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

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

struct Install {
    resolver: Resolver,
    version: Arc<AtomicU64>,
    changed_at_us: Arc<AtomicU64>,
}

struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    async fn call(&self, req: reqwest::RequestBuilder) -> Result<Value, DrillError> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| DrillError::Admin(e.to_string()))?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .map_err(|e| DrillError::Admin(e.to_string()))?;
        if !status.is_success() {
            return Err(DrillError::Admin(format!("{status}: {body}")));
        }
        Ok(body)
    }

    async fn current(&self) -> Result<Value, DrillError> {
        self.call(
            self.http
                .get(format!("{}/v1/configs/marketplace_source", self.base)),
        )
        .await
    }

    async fn set(&self, value: Value, reason: &str) -> Result<u64, DrillError> {
        let expected = self.current().await?["version"].as_u64();
        let body = self
            .call(
                self.http
                    .put(format!("{}/v1/configs/marketplace_source", self.base))
                    .json(&json!({"value": value, "reason": reason, "expectedVersion": expected})),
            )
            .await?;
        version_of(&body)
    }

    async fn rollback(&self, to: u64, reason: &str) -> Result<u64, DrillError> {
        let body = self
            .call(
                self.http
                    .post(format!(
                        "{}/v1/configs/marketplace_source/rollback",
                        self.base
                    ))
                    .json(&json!({"toVersion": to, "reason": reason})),
            )
            .await?;
        version_of(&body)
    }

    async fn history_versions(&self) -> Result<Vec<u64>, DrillError> {
        let body = self
            .call(self.http.get(format!(
                "{}/v1/configs/marketplace_source/history?limit=100",
                self.base
            )))
            .await?;
        let mut v: Vec<u64> = body["items"]
            .as_array()
            .map(|items| items.iter().filter_map(|i| i["version"].as_u64()).collect())
            .unwrap_or_default();
        v.sort_unstable();
        Ok(v)
    }
}

fn version_of(body: &Value) -> Result<u64, DrillError> {
    body["version"]
        .as_u64()
        .ok_or_else(|| DrillError::Admin(format!("no version in {body}")))
}

enum Action {
    Set(Value, &'static str),
    CdnFault(Fault),
    RollbackToFirst(&'static str),
}

struct PhaseSpec {
    name: &'static str,
    mode: &'static str,
    actions: Vec<Action>,
    rps: f64,
    canary_percent: Option<f64>,
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

/// Runs the drill and returns its report. Checks that fail are listed in
/// [`Report::failures`]; the caller decides the exit code.
///
/// # Errors
/// [`DrillError`] when a part cannot start or the admin API refuses a call.
pub async fn run(opts: DrillOptions) -> Result<Report, DrillError> {
    let registry_sha = sourcegate_testkit::sha256_hex(REGISTRY);
    let entries = sourcegate::registry::validate_registry(REGISTRY)
        .map_err(|e| DrillError::Origin(e.to_string()))?;

    // 1. Control plane on the embedded PostgreSQL, in a throwaway data directory.
    let data = tempfile::tempdir()?;
    let settings = sourcegate_control_plane::settings::Settings {
        data_dir: data.path().to_path_buf(),
        allow_private_origins: true,
        // The seeded document names the public Git host: the drill never probes it.
        origin_probes: false,
        rate_limit_per_sec: 0,
        embedded_unsafe_fast: true,
        ..Default::default()
    };
    let server = sourcegate_control_plane::spawn(settings)
        .await
        .map_err(|e| DrillError::ControlPlane(e.to_string()))?;
    let base = server.base_url();
    let claims = Claims::new(Role::Authenticated, Some(uuid::Uuid::new_v4()), true, 3600);
    let token = mint_token(server.jwt_secret(), &claims)
        .map_err(|e| DrillError::ControlPlane(e.to_string()))?;
    let admin = Admin {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| DrillError::Admin(e.to_string()))?,
        base: base.clone(),
        token,
    };

    // 2. Origins.
    let mut git_opts = OriginOptions::new(OriginStyle::GitRaw);
    let window = Duration::from_secs_f64(
        f64::from(opts.git_burst) / f64::from(opts.git_limit_per_sec.max(1)),
    );
    git_opts.rate_limit = Some((opts.git_burst, window));
    let git = TestOrigin::start(git_opts)
        .await
        .map_err(|e| DrillError::Origin(e.to_string()))?;
    let cdn = TestOrigin::start(OriginOptions::new(OriginStyle::Cdn))
        .await
        .map_err(|e| DrillError::Origin(e.to_string()))?;

    // 3. The fleet. Shared connection pools: one process simulates many devices.
    let epoch = Instant::now();
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
            git.base_url()
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
    let fleet = Arc::new(fleet);

    let both = |extra: Value| {
        let mut d = json!({
            "gitUrl": git.base_url(),
            "cdnUrl": cdn.base_url(),
            "healthCheckEnabled": false,
            "fallbackOnError": true,
            "outlierDetection": {"consecutiveFailures": 5, "baseEjectionSecs": 10},
        });
        if let (Some(d), Some(e)) = (d.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                d.insert(k.clone(), v.clone());
            }
        }
        d
    };
    let phases = vec![
        PhaseSpec {
            name: "git",
            mode: "git",
            actions: vec![Action::Set(
                both(json!({"type": "git"})),
                "drill: all installs on Git",
            )],
            rps: opts.normal_rps,
            canary_percent: None,
        },
        PhaseSpec {
            name: "git-rate-limited",
            mode: "git",
            actions: vec![],
            rps: opts.spike_rps,
            canary_percent: None,
        },
        PhaseSpec {
            name: "canary-10",
            mode: "canary 10%",
            actions: vec![Action::Set(
                both(json!({"type": "canary", "canaryPercent": 10})),
                "drill: canary 10% on the CDN",
            )],
            rps: opts.spike_rps,
            canary_percent: Some(10.0),
        },
        PhaseSpec {
            name: "canary-50",
            mode: "canary 50%",
            actions: vec![Action::Set(
                both(json!({"type": "canary", "canaryPercent": 50})),
                "drill: canary 50% on the CDN",
            )],
            rps: opts.spike_rps,
            canary_percent: Some(50.0),
        },
        PhaseSpec {
            name: "cdn",
            mode: "cdn",
            actions: vec![Action::Set(
                both(json!({"type": "cdn", "priority": ["cdn", "git"]})),
                "drill: everything on the CDN",
            )],
            rps: opts.spike_rps,
            canary_percent: None,
        },
        PhaseSpec {
            name: "cdn-down",
            mode: "cdn",
            actions: vec![Action::CdnFault(Fault::Status(503))],
            rps: opts.normal_rps,
            canary_percent: None,
        },
        PhaseSpec {
            name: "rollback-git",
            mode: "git",
            actions: vec![
                Action::CdnFault(Fault::None),
                Action::RollbackToFirst("drill: roll back to the Git version"),
            ],
            rps: opts.normal_rps,
            canary_percent: None,
        },
    ];

    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new(phases.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
        ) {
            b.set_style(style);
        }
        b.enable_steady_tick(Duration::from_millis(200));
        b
    } else {
        indicatif::ProgressBar::hidden()
    };

    let mut reports = Vec::new();
    let mut failures = Vec::new();
    let mut first_version = None;
    let sem = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    let mut order: Vec<usize> = (0..opts.installs).collect();
    {
        use rand::seq::SliceRandom;
        order.shuffle(&mut rand::rng());
    }
    let mut cursor = 0usize;

    for spec in &phases {
        bar.set_message(format!("{}: admin action", spec.name));
        let mut flip: Option<(u64, Instant)> = None;
        for action in &spec.actions {
            match action {
                Action::Set(doc, reason) => {
                    let t0 = Instant::now();
                    let v = admin.set(doc.clone(), reason).await?;
                    first_version.get_or_insert(v);
                    flip = Some((v, t0));
                }
                Action::RollbackToFirst(reason) => {
                    let to = first_version
                        .ok_or_else(|| DrillError::Admin("nothing to roll back to".into()))?;
                    let t0 = Instant::now();
                    let v = admin.rollback(to, reason).await?;
                    flip = Some((v, t0));
                }
                Action::CdnFault(f) => cdn.set_fault(*f),
            }
        }
        // Propagation: until every install holds the new version.
        let mut propagation_ms = None;
        if let Some((v, t0)) = flip {
            bar.set_message(format!(
                "{}: waiting for the fleet to follow v{v}",
                spec.name
            ));
            let deadline = t0 + opts.propagation_deadline;
            loop {
                let behind = fleet
                    .iter()
                    .filter(|i| i.version.load(Ordering::SeqCst) < v)
                    .count();
                if behind == 0 {
                    let t0_us = u64::try_from(t0.duration_since(epoch).as_micros()).unwrap_or(0);
                    let last = fleet
                        .iter()
                        .map(|i| i.changed_at_us.load(Ordering::SeqCst))
                        .max()
                        .unwrap_or(t0_us);
                    #[allow(clippy::cast_precision_loss)]
                    let ms = last.saturating_sub(t0_us) as f64 / 1000.0;
                    propagation_ms = Some(ms);
                    break;
                }
                if Instant::now() > deadline {
                    failures.push(format!(
                        "{}: {behind} installs never followed the flip to v{v} within {:?}",
                        spec.name, opts.propagation_deadline
                    ));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        // Canary share, from each install's routing decision.
        let canary_share = spec.canary_percent.map(|_| {
            let on_cdn = fleet
                .iter()
                .filter(|i| {
                    let r = i.resolver.route();
                    let preferred = match r.reason {
                        Reason::Failover { from, .. } => from,
                        _ => r.first(),
                    };
                    preferred == OriginKind::Cdn
                })
                .count();
            #[allow(clippy::cast_precision_loss)]
            let share = on_cdn as f64 * 100.0 / opts.installs.max(1) as f64;
            share
        });

        // Load.
        bar.set_message(format!("{}: {:.0} req/s", spec.name, spec.rps));
        let tally = Arc::new(Tally::default());
        let interval = Duration::from_secs_f64(1.0 / spec.rps.max(0.1));
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let end = Instant::now() + Duration::from_secs_f64(opts.phase_secs);
        let mut tasks = tokio::task::JoinSet::new();
        while Instant::now() < end {
            ticker.tick().await;
            let idx = order[cursor % order.len()];
            cursor += 1;
            let Ok(permit) = Arc::clone(&sem).acquire_owned().await else {
                break;
            };
            let (fleet, tally, sha) =
                (Arc::clone(&fleet), Arc::clone(&tally), registry_sha.clone());
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
        let report = PhaseReport {
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
        };
        check_phase(&report, spec, opts.installs, &mut failures);
        reports.push(report);
        bar.inc(1);
    }
    bar.finish_and_clear();

    let history_versions = admin.history_versions().await?;
    drop(fleet);
    server.shutdown().await;
    Ok(Report {
        phases: reports,
        registry: RegistryReport {
            entries,
            sha256: registry_sha,
        },
        history_versions,
        installs: opts.installs,
        failures,
    })
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

/// The expectations of each phase; a miss is a failure of the drill.
fn check_phase(r: &PhaseReport, spec: &PhaseSpec, installs: usize, failures: &mut Vec<String>) {
    let mut fail = |why: String| failures.push(format!("{}: {why}", r.name));
    if r.requests == 0 {
        fail("no request was made".into());
    }
    if r.errors > 0 {
        fail(format!(
            "{} errors (failover should have served them)",
            r.errors
        ));
    }
    if r.body_mismatches > 0 {
        fail(format!(
            "{} bodies did not match the registry's sha256",
            r.body_mismatches
        ));
    }
    match r.name.as_str() {
        "git" if r.cdn > 0 || r.rate_limited > 0 => fail(format!(
            "expected all on Git without 429s, got cdn={} 429s={}",
            r.cdn, r.rate_limited
        )),
        "git-rate-limited" if r.rate_limited == 0 || r.fallbacks == 0 => fail(format!(
            "expected Git to rate-limit and the fleet to fail over, got 429s={} fallbacks={}",
            r.rate_limited, r.fallbacks
        )),
        "cdn" if r.git > 0 => fail(format!("expected all on the CDN, Git served {}", r.git)),
        "cdn-down" if r.fallbacks == 0 || r.git == 0 => fail(format!(
            "expected failover to Git, got fallbacks={} git={}",
            r.fallbacks, r.git
        )),
        "rollback-git" if r.cdn > 0 => fail(format!("expected all on Git, CDN served {}", r.cdn)),
        _ => {}
    }
    if let (Some(want), Some(got)) = (spec.canary_percent, r.canary_share_percent) {
        // 3 points, or 3 binomial standard deviations for small fleets (100 installs).
        #[allow(clippy::cast_precision_loss)]
        let sd = (want / 100.0 * (1.0 - want / 100.0) / installs.max(1) as f64).sqrt() * 100.0;
        let tolerance = (3.0 * sd).max(3.0);
        if (got - want).abs() > tolerance {
            fail(format!(
                "canary share {got:.1}% is more than {tolerance:.1} points from {want}%"
            ));
        }
    }
}

/// Renders the per-phase table printed by the drill.
pub fn render_table(report: &Report) -> String {
    let mut out = String::new();
    let header = [
        "phase",
        "mode",
        "requests",
        "git",
        "cdn",
        "fallbacks",
        "errors",
        "429s",
        "p50 ms",
        "p99 ms",
        "propagation ms",
        "on CDN",
    ];
    let rows: Vec<Vec<String>> = report
        .phases
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.mode.clone(),
                p.requests.to_string(),
                p.git.to_string(),
                p.cdn.to_string(),
                p.fallbacks.to_string(),
                p.errors.to_string(),
                p.rate_limited.to_string(),
                format!("{:.1}", p.p50_ms),
                format!("{:.1}", p.p99_ms),
                p.propagation_ms
                    .map_or_else(|| "-".into(), |m| format!("{m:.0}")),
                p.canary_share_percent
                    .map_or_else(|| "-".into(), |s| format!("{s:.1}%")),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < 2 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    out.push_str(&line(header.iter().map(|s| (*s).to_string()).collect()));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}
