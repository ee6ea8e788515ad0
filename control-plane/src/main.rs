#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
//! `sourcegate-control-plane`: runs the service, or mints a token (`mint-token`).
//!
//! Logs go to stderr, filtered by `RUST_LOG` (default `info,sqlx=warn,tower_http=info`), as
//! text or one JSON object per line (`--log-format json`, `SOURCEGATE_LOG_FORMAT=json`).
//! ANSI colours are used only when stderr is a terminal, so a log file or a journal never
//! holds escape codes.

use std::io::IsTerminal as _;

use clap::{Parser, Subcommand, ValueEnum};
use sourcegate_control_plane::auth::{Claims, Role, mint_token};
use sourcegate_control_plane::settings::Settings;
use tracing_subscriber::EnvFilter;

/// Sourcegate control plane: admin API over PostgreSQL with RLS, audit history and SSE push.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Log format on stderr: `text` (coloured only on a terminal) or `json` (one object per line).
    #[arg(long, env = "SOURCEGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields.message`, `target`, spans).
    Json,
}

/// Installs the global subscriber: `RUST_LOG` filter, stderr, `format`, colours only on a tty.
fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .with_ansi(false)
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CliRole {
    Anon,
    Authenticated,
    #[value(name = "service_role")]
    ServiceRole,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the service (the default).
    Serve,
    /// Print a signed HS256 token (secret: SOURCEGATE_JWT_SECRET, else <data-dir>/jwt-secret).
    MintToken {
        /// Database role of the token.
        #[arg(long, value_enum, default_value = "authenticated")]
        role: CliRole,
        /// User id (`sub` claim); a random one for `authenticated` if omitted.
        #[arg(long)]
        sub: Option<uuid::Uuid>,
        /// Add `app_metadata.role = "admin"`.
        #[arg(long)]
        admin: bool,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl_secs: u64,
    },
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Some(Cmd::MintToken {
            role,
            sub,
            admin,
            ttl_secs,
        }) => {
            let secret = match sourcegate_control_plane::secret_for_cli(&cli.settings) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            let role = match role {
                CliRole::Anon => Role::Anon,
                CliRole::Authenticated => Role::Authenticated,
                CliRole::ServiceRole => Role::ServiceRole,
            };
            let sub = sub.or_else(|| (role == Role::Authenticated).then(uuid::Uuid::new_v4));
            match mint_token(&secret, &Claims::new(role, sub, admin, ttl_secs)) {
                Ok(t) => {
                    println!("{t}");
                    std::process::ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        Some(Cmd::Serve) | None => match sourcegate_control_plane::spawn(cli.settings).await {
            Ok(server) => {
                if cli.log_format == LogFormat::Text {
                    // The JSON log already has "control plane listening" with the address.
                    eprintln!(
                        "sourcegate-control-plane listening on {}",
                        server.base_url()
                    );
                }
                shutdown_signal().await;
                server.shutdown().await;
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                if cli.log_format == LogFormat::Json {
                    tracing::error!(error = %e, "cannot start");
                } else {
                    eprintln!("error: {e}");
                }
                std::process::ExitCode::FAILURE
            }
        },
    }
}
