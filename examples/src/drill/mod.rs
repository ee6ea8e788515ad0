//! The migration drill: a fleet of app installs moves from a rate-limited Git raw host to a CDN,
//! driven by an admin through the control plane's API, on the real registry: the migration
//! scenarios of `docs/seed.md` (S15), rollback (S14) and the automatic switch (S17).
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
//! | `steady` | origins send `max-age` (scaled: 2 s); the installs of `rollback-git` re-fetch the unchanged registry, `steady_polls` times each | normal | ≥ 90 % of fetches 304 or fresh; Git bytes per fetch ≥ 10× below the first phase's |
//! | `registry-update` | both origins publish a new snapshot; the admin then sets the Git document with the snapshot's `integrity` entry (SHA-256, size in bytes) | normal, at least `max-age` + 2 s | zero errors; every fetch started more than `max-age` after the publication serves the new snapshot (installs that follow the flip drop a kept old body at once: it no longer matches the entry) |
//! | `autopilot-git-pressure` | the admin enables the fleet autopilot (`autopilot::policy`: Git usage ≥ 70 % for `autopilot_for_minutes`, errors ≥ 5 % for 2, cooldown 2); a spike saturates Git and no admin acts | spike, until the autopilot acted and the fleet followed, then `phase_secs` more | the autopilot switches the fleet to hybrid CDN→Git, once, live (not a dry run), by `gitPressure`; the report gives its reason (the trigger figures), the time from the load's start to the decision and from the decision to the whole fleet following; zero errors |
//! | `autopilot-rollback` | the admin flips to the CDN alone without fallback; the CDN then answers 500 to a fifth of requests | spike, as above | the autopilot rolls back to the previous version (its own hybrid document), once, by `errorRollback`; no request fails once the fleet followed |
//!
//! Until `steady`, the origins send `Cache-Control: no-cache`: every fetch reaches its origin
//! (a conditional request, 304 when the install already holds the body), so those phases
//! measure routing and rate limits. Each phase reports the bytes each origin wrote on the wire
//! (status lines, headers, bodies as sent: gzip), its 200s and 304s, and the fetches served
//! fresh with no request.
//!
//! Active health checks are the control plane's only: the drill's documents enable them (every
//! 5 s), and the installs are built with `health_checks(false)`, since a thousand simulated
//! installs in one process would spend Git's quota on probes. Passive outlier detection and
//! rate-limit cooldowns stay on in every install.
//!
//! **Scaled minutes.** The fleet autopilot counts minutes; the drill's control plane runs with
//! `--minute-secs` = [`DrillOptions::minute_secs`] (default 1 s: a factor of 60), and every
//! install reports telemetry once per scaled minute. Since the built-in seed document names the
//! public Git host, the control plane first starts with its probes off, the admin sets a
//! loopback Git document (`drill: the Git origin on loopback`, version 2), and it restarts on
//! the same database with its probes on: nothing is ever probed off this machine.
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | this one | [`DrillOptions`], the [`Report`] types, [`run`] (set-up, then each phase: admin action, propagation, load) |
//! | `admin` | the admin's `/v1` calls (set with `expectedVersion`, rollback, history, the autopilot's view) |
//! | `autopilot` | the autopilot phases' policy, the watcher of its decisions, their checks |
//! | `phases` | [`PHASES`], each phase's actions and load, and its checks |
//! | `load` | the fleet of resolvers and one phase's request load |
//! | `report` | [`render_table`] |

mod admin;
mod autopilot;
mod load;
mod phases;
mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use sourcegate::content::ContentCheck;
use sourcegate::{OriginKind, Reason};
use sourcegate_testkit::{
    OriginOptions, OriginStyle, REGISTRY, REGISTRY_OLDER, REGISTRY_PATH, TestOrigin,
};

use admin::Admin;
use autopilot::{Clocks, Until};
use phases::{Action, Installs, check_phase};

pub use autopilot::AutopilotReport;
pub use phases::PHASES;
pub use report::render_table;

/// Drill parameters. [`DrillOptions::default`] is the README's run. The report records them
/// (`parameters`), but for the documents themselves, the propagation deadline and the
/// progress bar.
#[derive(Debug, Clone, Serialize)]
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
    #[serde(skip)]
    pub propagation_deadline: Duration,
    /// Concurrent requests in flight at most (default 32).
    pub concurrency: usize,
    /// Show a progress bar (default true).
    #[serde(skip)]
    pub progress: bool,
    /// The document both origins serve (default [`REGISTRY`], the real plugin registry).
    #[serde(skip)]
    pub registry: Bytes,
    /// Where `registry` was read from, for the report (`None`: the built-in registry).
    pub registry_file: Option<PathBuf>,
    /// The snapshot both origins publish in `registry-update`. Default: the older real
    /// snapshot ([`REGISTRY_OLDER`]) with the built-in registry, else `registry` with a
    /// trailing newline (new bytes, a new `ETag`, the same JSON).
    #[serde(skip)]
    pub registry_update: Option<Bytes>,
    /// Where `registry_update` was read from, for the report.
    pub registry_update_file: Option<PathBuf>,
    /// The content check of every resolver, and of every body the drill receives (default
    /// [`ContentCheck::Plugins`]). Recorded by name (`plugins`, `themes`, `json`, …).
    #[serde(serialize_with = "check_name")]
    pub check: ContentCheck,
    /// `max-age` the origins send from `steady` on, seconds (default 2: the drill's clock is
    /// scaled, as Git's quota is).
    pub max_age_secs: u64,
    /// Fetches per install in `steady` (default 2: a revalidation, then a fresh hit).
    pub steady_polls: usize,
    /// Measure the old behaviour for comparison (default false): resolvers without the HTTP
    /// cache (a plain GET per fetch) and origins without gzip. `steady` then fails its checks.
    pub baseline: bool,
    /// Seconds in one of the autopilot's minutes (the control plane's `--minute-secs`), also
    /// every install's telemetry interval (default 1: minutes scaled to seconds, ×60).
    pub minute_secs: u32,
    /// The autopilot policy's `minInstalls`: installs that must report in a minute for it to
    /// count (default 10).
    pub autopilot_min_installs: u64,
    /// The policy's `gitPressure.forMinutes`, in scaled minutes (default 3).
    pub autopilot_for_minutes: u32,
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
            registry: Bytes::from_static(REGISTRY),
            registry_file: None,
            registry_update: None,
            registry_update_file: None,
            check: ContentCheck::Plugins,
            max_age_secs: 2,
            steady_polls: 2,
            baseline: false,
            minute_secs: 1,
            autopilot_min_installs: 10,
            autopilot_for_minutes: 3,
        }
    }
}

fn check_name<S: serde::Serializer>(check: &ContentCheck, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(check.name())
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
    /// Bodies whose SHA-256 differed from the registry's (in `registry-update`: from both
    /// snapshots'), or that failed the content check.
    pub body_mismatches: u64,
    /// Bytes Git wrote on the wire during the phase (status lines, headers, bodies as sent).
    pub git_bytes: u64,
    /// Bytes the CDN wrote on the wire during the phase.
    pub cdn_bytes: u64,
    /// Git's 200 answers with the registry.
    pub git_200: u64,
    /// Git's 304 answers.
    pub git_304: u64,
    /// The CDN's 200 answers with the registry.
    pub cdn_200: u64,
    /// The CDN's 304 answers.
    pub cdn_304: u64,
    /// Fetches served from a fresh kept body, with no request.
    pub fresh: u64,
    /// Fetches served from a kept body after a 304.
    pub revalidated: u64,
    /// Fetches served from a stale kept body because every origin failed.
    pub stale: u64,
    /// `registry-update`: fetches that served the new snapshot.
    pub new_snapshot: Option<u64>,
    /// `registry-update`: fetches started more than `max-age` after the publication that
    /// still served the old snapshot (must be 0).
    pub old_after_max_age: Option<u64>,
    /// The autopilot phases: its decision, trigger figures and the fleet's follow time.
    pub autopilot: Option<AutopilotReport>,
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
    /// The versions among them that the autopilot wrote (history `changedRole` `autopilot`).
    pub autopilot_versions: Vec<u64>,
    /// Installs simulated.
    pub installs: usize,
    /// Checks that failed (empty when the drill passed).
    pub failures: Vec<String>,
    /// Whether every check passed (`failures` is empty).
    pub pass: bool,
    /// The run's parameters.
    pub parameters: DrillOptions,
    /// The snapshot published in `registry-update`.
    pub registry_update: RegistryReport,
}

/// Entries of `body` as `check` sees them: a plugin or theme list's length, a JSON array's
/// length (0 for another JSON value).
fn entries(check: &ContentCheck, body: &[u8]) -> Result<usize, String> {
    match check {
        ContentCheck::Plugins => {
            sourcegate::registry::validate_registry(body).map_err(|e| e.to_string())
        }
        ContentCheck::Themes => {
            sourcegate::registry::validate_theme_list(body).map_err(|e| e.to_string())
        }
        other => {
            other
                .check(REGISTRY_PATH, body)
                .map_err(|e| e.to_string())?;
            Ok(serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.as_array().map(Vec::len))
                .unwrap_or(0))
        }
    }
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

fn entries_of_update(check: &ContentCheck, update: &[u8]) -> Result<usize, DrillError> {
    entries(check, update)
        .map_err(|e| DrillError::Origin(format!("the update snapshot fails its check: {e}")))
}

/// Runs the drill and returns its report. Checks that fail are listed in
/// [`Report::failures`]; the caller decides the exit code.
///
/// # Errors
/// [`DrillError`] when a part cannot start or the admin API refuses a call.
pub async fn run(opts: DrillOptions) -> Result<Report, DrillError> {
    let registry = opts.registry.clone();
    let update = match &opts.registry_update {
        Some(b) => b.clone(),
        None if opts.registry_file.is_none() => Bytes::from_static(REGISTRY_OLDER),
        None => {
            let mut v = registry.to_vec();
            v.push(b'\n');
            Bytes::from(v)
        }
    };
    let registry_sha = sourcegate_testkit::sha256_hex(&registry);
    let update_sha = sourcegate_testkit::sha256_hex(&update);
    let entries = entries(&opts.check, &registry)
        .map_err(|e| DrillError::Origin(format!("the registry fails its check: {e}")))?;
    let update_entries = entries_of_update(&opts.check, &update)?;
    if update_sha == registry_sha {
        return Err(DrillError::Origin(
            "the update snapshot is the registry itself".into(),
        ));
    }

    // 1. Origins.
    // `no-cache`: every fetch reaches its origin (a conditional request, 304 when unchanged),
    // so the phases measure routing and rate limits rather than the resolvers' fresh hits.
    let mut git_opts = OriginOptions::new(OriginStyle::GitRaw).cache_control("no-cache");
    let window = Duration::from_secs_f64(
        f64::from(opts.git_burst) / f64::from(opts.git_limit_per_sec.max(1)),
    );
    git_opts.rate_limit = Some((opts.git_burst, window));
    git_opts.body = registry.clone();
    git_opts.gzip = !opts.baseline;
    let git = TestOrigin::start(git_opts)
        .await
        .map_err(|e| DrillError::Origin(e.to_string()))?;
    let mut cdn_opts = OriginOptions::new(OriginStyle::Cdn).cache_control("no-cache");
    cdn_opts.body = registry.clone();
    cdn_opts.gzip = !opts.baseline;
    let cdn = TestOrigin::start(cdn_opts)
        .await
        .map_err(|e| DrillError::Origin(e.to_string()))?;

    // 2. Control plane on the embedded PostgreSQL, in a throwaway data directory. The seeded
    // document names the public Git host, so the first start has its probes off: the admin
    // names the loopback Git origin, then the control plane restarts with its probes on.
    let data = tempfile::tempdir()?;
    let settings = |origin_probes: bool| sourcegate_control_plane::settings::Settings {
        data_dir: data.path().to_path_buf(),
        allow_private_origins: true,
        origin_probes,
        rate_limit_per_sec: 0,
        // A thousand installs report from one address.
        telemetry_rate_per_sec: 0,
        telemetry_minute_secs: opts.minute_secs.max(1),
        telemetry_flush_ms: 200,
        autopilot: true,
        autopilot_interval_ms: 200,
        embedded_unsafe_fast: true,
        ..Default::default()
    };
    let start = |origin_probes| async move {
        let server = sourcegate_control_plane::spawn(settings(origin_probes))
            .await
            .map_err(|e| DrillError::ControlPlane(e.to_string()))?;
        let admin = Admin::of(&server)?;
        Ok::<_, DrillError>((server, admin))
    };
    let (first, admin) = start(false).await?;
    admin
        .set(
            serde_json::json!({"type": "git", "gitUrl": git.base_url(), "healthCheckEnabled": false}),
            "drill: the Git origin on loopback (before the control plane's probes start)",
        )
        .await?;
    first.shutdown().await;
    let (server, admin) = start(true).await?;
    let base = server.base_url();

    // 3. The fleet.
    let clocks = Clocks::now();
    let epoch = clocks.epoch;
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
    // The installs of the previous phase, in order (`steady` and `registry-update` replay them).
    let mut previous: Vec<usize> = Vec::new();
    let mut published: Option<Instant> = None;

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
                Action::CacheControl(cc) => {
                    git.set_cache_control(Some(cc));
                    cdn.set_cache_control(Some(cc));
                }
                Action::Publish => {
                    git.set_body(update.clone());
                    cdn.set_body(update.clone());
                    published = Some(Instant::now());
                }
                Action::SetPolicy(doc, reason) => {
                    admin
                        .set_key(
                            sourcegate_control_plane::api::AUTOPILOT_KEY,
                            doc.clone(),
                            reason,
                        )
                        .await?;
                }
                Action::SetWithUpdateIntegrity(doc, reason) => {
                    let mut doc = doc.clone();
                    let e = sourcegate::config::IntegrityEntry::of(&update);
                    doc["integrity"] = serde_json::json!({
                        REGISTRY_PATH: {"sha256": e.sri(), "size": e.size}
                    });
                    let t0 = Instant::now();
                    let v = admin.set(doc, reason).await?;
                    flip = Some((v, t0));
                }
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
        let expect = Arc::new(load::Expect {
            sha: registry_sha.clone(),
            // An install may serve the old snapshot while its copy is fresh: until max-age
            // after the publication (plus scheduling slack).
            update: published.map(|at| {
                (
                    update_sha.clone(),
                    at + Duration::from_secs(opts.max_age_secs) + Duration::from_millis(250),
                )
            }),
            check: opts.check.clone(),
        });
        let until = match spec.installs {
            Installs::UntilAutopilot { tail_secs, .. } => Some(Until::new(
                clocks,
                Duration::from_secs_f64(tail_secs.max(0.0)),
            )),
            _ => None,
        };
        let (seconds, polls, seq) = match spec.installs {
            Installs::Next => (
                opts.phase_secs,
                1,
                load::Sequence::Next {
                    order: &order,
                    cursor: &mut cursor,
                    until: None,
                },
            ),
            Installs::UntilAutopilot { max_secs, .. } => (
                max_secs,
                1,
                load::Sequence::Next {
                    order: &order,
                    cursor: &mut cursor,
                    until: until.as_ref(),
                },
            ),
            Installs::Replay { polls } => (
                opts.phase_secs,
                polls,
                load::Sequence::Replay {
                    installs: &previous,
                    cycle: false,
                },
            ),
            Installs::Cycle { secs } => (
                secs,
                1,
                load::Sequence::Replay {
                    installs: &previous,
                    cycle: true,
                },
            ),
        };
        let before = OriginSample::take(&git, &cdn);
        let started = Instant::now();
        let loading = load::load(
            spec,
            seconds,
            polls,
            &fleet,
            &sem,
            seq,
            &expect,
            (propagation_ms, canary_share),
        );
        let ((mut report, used, errors_after), watched) = match (&until, spec.installs) {
            (Some(until), Installs::UntilAutopilot { rule, .. }) => {
                // The autopilot may act near the end of the load: the fleet then has the
                // propagation deadline to follow.
                let deadline =
                    started + Duration::from_secs_f64(seconds.max(0.0)) + opts.propagation_deadline;
                let (loaded, watched) = tokio::join!(
                    loading,
                    autopilot::watch(&admin, &fleet, until, rule, started, deadline)
                );
                (loaded, Some(watched?))
            }
            _ => (loading.await, None),
        };
        if let Some(mut a) = watched {
            a.errors_after_follow = errors_after;
            autopilot::finish(&admin, clocks, started, &mut a).await?;
            report.autopilot = Some(a);
        }
        OriginSample::take(&git, &cdn).since(&before, &mut report);
        check_phase(&report, spec, opts.installs, reports.first(), &mut failures);
        reports.push(report);
        previous = used;
        bar.inc(1);
    }
    bar.finish_and_clear();

    let (history_versions, autopilot_versions) = admin.history_versions().await?;
    drop(fleet);
    server.shutdown().await;
    Ok(Report {
        phases: reports,
        registry: RegistryReport {
            entries,
            sha256: registry_sha,
        },
        history_versions,
        autopilot_versions,
        installs: opts.installs,
        pass: failures.is_empty(),
        failures,
        parameters: opts,
        registry_update: RegistryReport {
            entries: update_entries,
            sha256: update_sha,
        },
    })
}

/// The origins' counters at one instant.
struct OriginSample {
    git: [u64; 3],
    cdn: [u64; 3],
}

impl OriginSample {
    fn take(git: &TestOrigin, cdn: &TestOrigin) -> OriginSample {
        let c = |o: &TestOrigin| [o.wire_bytes(), o.served(), o.not_modified()];
        OriginSample {
            git: c(git),
            cdn: c(cdn),
        }
    }

    /// Writes the counts since `before` into `r`.
    fn since(&self, before: &OriginSample, r: &mut PhaseReport) {
        let d = |a: [u64; 3], b: [u64; 3]| [0, 1, 2].map(|i| a[i].saturating_sub(b[i]));
        [r.git_bytes, r.git_200, r.git_304] = d(self.git, before.git);
        [r.cdn_bytes, r.cdn_200, r.cdn_304] = d(self.cdn, before.cdn);
    }
}
