//! `migration_drill`: the whole product on real data, with nothing prepared.
//!
//! `cargo run --release --bin migration_drill [-- --installs 1000 --report drill.json]`
//!
//! Starts the control plane on an embedded PostgreSQL, a rate-limited Git raw host and a CDN
//! on loopback serving the real Obsidian registry, and a fleet of resolvers; then walks the
//! Git→CDN migration phase by phase (see `sourcegate_examples::drill`). Prints a table per
//! phase; exits 1 when a check fails, 2 when the drill cannot run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sourcegate::content::ContentCheck;
use sourcegate_examples::drill::{DrillOptions, render_table, run};

/// The Git→CDN migration drill on the real plugin registry.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Simulated app installs (distinct install ids).
    #[arg(long, default_value_t = 1000)]
    installs: usize,
    /// Seconds of load in each phase.
    #[arg(long, default_value_t = 6.0)]
    phase_secs: f64,
    /// Fleet requests per second in normal phases.
    #[arg(long, default_value_t = 12.0)]
    normal_rps: f64,
    /// Fleet requests per second during the launch spike.
    #[arg(long, default_value_t = 50.0)]
    spike_rps: f64,
    /// Git origin's sustained rate limit, requests per second.
    #[arg(long, default_value_t = 20)]
    git_limit_per_sec: u32,
    /// Git origin's burst.
    #[arg(long, default_value_t = 40)]
    git_burst: u32,
    /// Serve this JSON document instead of the built-in registry (checked with `--check`).
    #[arg(long, value_name = "FILE")]
    registry: Option<PathBuf>,
    /// The snapshot both origins publish in the `registry-update` phase (default: the older
    /// real registry snapshot; with `--registry`, that document plus a newline).
    #[arg(long, value_name = "FILE")]
    registry_update: Option<PathBuf>,
    /// The content check of the resolvers and of every body: plugins, themes or json.
    #[arg(long, default_value = "plugins", value_parser = ["plugins", "themes", "json"])]
    check: String,
    /// `max-age` the origins send from the `steady` phase on, seconds (the drill's clock is
    /// scaled like Git's quota).
    #[arg(long, default_value_t = 2)]
    max_age_secs: u64,
    /// Fetches per install in the `steady` phase.
    #[arg(long, default_value_t = 2)]
    steady_polls: usize,
    /// The old behaviour, for comparison: resolvers without the HTTP cache and origins
    /// without gzip (the `steady` phase then fails its checks).
    #[arg(long)]
    baseline: bool,
    /// Seconds in one of the autopilot's minutes (the control plane's `--minute-secs`; also
    /// each install's telemetry interval): 1 scales minutes to seconds.
    #[arg(long, default_value_t = 1)]
    minute_secs: u32,
    /// The autopilot policy's `minInstalls` (installs reporting in a minute for it to count).
    #[arg(long, default_value_t = 10)]
    autopilot_min_installs: u64,
    /// The policy's `gitPressure.forMinutes`, in scaled minutes.
    #[arg(long, default_value_t = 3)]
    autopilot_for_minutes: u32,
    /// Write the report as JSON to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let read = |p: &Option<PathBuf>| -> Result<Option<bytes::Bytes>, String> {
        p.as_ref()
            .map(|p| {
                std::fs::read(p)
                    .map(bytes::Bytes::from)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))
            })
            .transpose()
    };
    let (registry, registry_update) = match (read(&args.registry), read(&args.registry_update)) {
        (Ok(r), Ok(u)) => (r, u),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("migration_drill: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(check) = ContentCheck::from_name(&args.check) else {
        eprintln!("migration_drill: unknown check {}", args.check);
        return ExitCode::from(2);
    };
    let defaults = DrillOptions::default();
    let opts = DrillOptions {
        installs: args.installs.max(1),
        phase_secs: args.phase_secs,
        normal_rps: args.normal_rps,
        spike_rps: args.spike_rps,
        git_limit_per_sec: args.git_limit_per_sec,
        git_burst: args.git_burst,
        propagation_deadline: Duration::from_secs(15),
        concurrency: 32,
        progress: !args.quiet,
        registry: registry.unwrap_or(defaults.registry),
        registry_file: args.registry.clone(),
        registry_update,
        registry_update_file: args.registry_update.clone(),
        check,
        max_age_secs: args.max_age_secs,
        steady_polls: args.steady_polls,
        baseline: args.baseline,
        minute_secs: args.minute_secs.max(1),
        autopilot_min_installs: args.autopilot_min_installs,
        autopilot_for_minutes: args.autopilot_for_minutes.max(1),
    };
    let source = opts.registry_file.as_ref().map_or_else(
        || "data/community-plugins.json".to_string(),
        |p| p.display().to_string(),
    );
    println!(
        "Sourcegate migration drill: {} installs, control plane on embedded PostgreSQL, \
         Git raw host limited to {}/s (burst {}), CDN unlimited, registry = {source} (check {})",
        opts.installs,
        opts.git_limit_per_sec,
        opts.git_burst,
        opts.check.name()
    );
    let started = std::time::Instant::now();
    let report = match run(opts).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("migration_drill: cannot run: {e}");
            return ExitCode::from(2);
        }
    };
    println!();
    print!("{}", render_table(&report));
    println!();
    println!(
        "registry: {} entries, sha256 {} (every body served was checked against it)",
        report.registry.entries, report.registry.sha256
    );
    for p in &report.phases {
        if let Some(a) = &p.autopilot {
            println!(
                "{}: {} action(s), {} dry run(s); v{} -> v{}, {:.0} ms after the load started, \
                 whole fleet followed {:.0} ms later; \"{}\"",
                p.name,
                a.actions,
                a.dry_runs,
                a.from_version.unwrap_or(0),
                a.to_version.unwrap_or(0),
                a.trigger_after_ms.unwrap_or(f64::NAN),
                a.fleet_followed_ms.unwrap_or(f64::NAN),
                a.reason.as_deref().unwrap_or("no decision"),
            );
        }
    }
    println!(
        "history versions recorded: {:?} (written by the autopilot: {:?}); drill took {:.1} s",
        report.history_versions,
        report.autopilot_versions,
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.report {
        match serde_json::to_vec_pretty(&report) {
            Ok(bytes) => {
                if let Err(e) = std::fs::write(path, bytes) {
                    eprintln!("migration_drill: cannot write {}: {e}", path.display());
                    return ExitCode::from(2);
                }
                println!("report written to {}", path.display());
            }
            Err(e) => {
                eprintln!("migration_drill: cannot serialise the report: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if report.failures.is_empty() {
        println!("PASS: every phase behaved as expected");
        ExitCode::SUCCESS
    } else {
        for f in &report.failures {
            println!("FAIL: {f}");
        }
        ExitCode::from(1)
    }
}
