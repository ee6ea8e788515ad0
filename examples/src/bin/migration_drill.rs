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
    };
    println!(
        "Sourcegate migration drill: {} installs, control plane on embedded PostgreSQL, \
         Git raw host limited to {}/s (burst {}), CDN unlimited, registry = data/community-plugins.json",
        opts.installs, opts.git_limit_per_sec, opts.git_burst
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
    println!(
        "history versions recorded: {:?}; drill took {:.1} s",
        report.history_versions,
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
