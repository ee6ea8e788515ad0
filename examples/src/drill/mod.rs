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
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | this one | [`DrillOptions`], the [`Report`] types, [`run`] (set-up, then each phase: admin action, propagation, load) |
//! | `admin` | the admin's `/v1` calls (set with `expectedVersion`, rollback, history) |
//! | `phases` | [`PHASES`], each phase's actions and load, and its checks |
//! | `load` | the fleet of resolvers and one phase's request load |
//! | `report` | [`render_table`] |

mod admin;
mod load;
mod phases;
mod report;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;
use sourcegate::{OriginKind, Reason};
use sourcegate_control_plane::auth::{Claims, Role, mint_token};
use sourcegate_testkit::{OriginOptions, OriginStyle, REGISTRY, TestOrigin};

use admin::Admin;
use phases::{Action, check_phase};

pub use phases::PHASES;
pub use report::render_table;

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
    // `no-cache`: every fetch reaches its origin (a conditional request, 304 when unchanged),
    // so the phases measure routing and rate limits rather than the resolvers' fresh hits.
    let mut git_opts = OriginOptions::new(OriginStyle::GitRaw).cache_control("no-cache");
    let window = Duration::from_secs_f64(
        f64::from(opts.git_burst) / f64::from(opts.git_limit_per_sec.max(1)),
    );
    git_opts.rate_limit = Some((opts.git_burst, window));
    let git = TestOrigin::start(git_opts)
        .await
        .map_err(|e| DrillError::Origin(e.to_string()))?;
    let cdn = TestOrigin::start(OriginOptions::new(OriginStyle::Cdn).cache_control("no-cache"))
        .await
        .map_err(|e| DrillError::Origin(e.to_string()))?;

    // 3. The fleet.
    let epoch = Instant::now();
    let fleet = Arc::new(load::build_fleet(&opts, &base, &git.base_url(), epoch)?);
    let phases = phases::plan(&opts, &git.base_url(), &cdn.base_url());

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

        bar.set_message(format!("{}: {:.0} req/s", spec.name, spec.rps));
        let report = load::load(
            spec,
            &opts,
            &fleet,
            &sem,
            &order,
            &mut cursor,
            &registry_sha,
            (propagation_ms, canary_share),
        )
        .await;
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
