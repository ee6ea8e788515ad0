//! The command line (clap derive) and what each subcommand does.

use std::io::Write as _;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use futures_util::StreamExt as _;
use sourcegate::config::OriginKind;

use crate::api::{CONFIG_KEY, Client, ConfigView, PutConfig, Rollback, WriteTerms};
use crate::document::{self, Change, ModeChange};
use crate::error::CliError;
use crate::output;
use crate::probe;

/// Where the control plane listens by default (`sourcegate-control-plane`'s default).
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

const LONG_ABOUT: &str = "\
Admin CLI of the Sourcegate control plane: shows and flips where the apps fetch the plugin \
registry from (Git raw host, CDN, hybrid, or a sticky canary share on the CDN), tests origins, \
reads the audit history, rolls back, and follows changes live.

Reads need no token; changes, history and rollback need an admin JWT (--token or \
SOURCEGATE_TOKEN). Every change is checked with the resolver's own validator before it is sent, \
and carries the version it was based on, so two admins never overwrite each other silently.";

const AFTER_LONG_HELP: &str = "\
Examples:
  export SOURCEGATE_URL=https://sourcegate.example.com SOURCEGATE_TOKEN=eyJ...
  sourcegate status
  sourcegate set canary --percent 10 --cdn-url https://cdn.example.com/ --reason \"canary 10%\"
  sourcegate set cdn --reason \"Git rate limits\"
  sourcegate set hybrid --order cdn,git
  sourcegate test https://cdn.example.com/community-plugins.json
  sourcegate history --limit 5
  sourcegate rollback --to 3 --reason \"CDN outage\"
  sourcegate watch
  sourcegate autopilot set --dry-run --threshold-percent 70 --for-minutes 5
  sourcegate autopilot status
  sourcegate --json status | jq .config.version

Exit codes:
  0  success
  1  other error (server error, unknown version, unexpected answer)
  2  usage error (bad flags or values)
  3  control plane unreachable (connection refused, DNS, TLS, timeout)
  4  unauthorized (401: missing or invalid token) or forbidden (403: not an admin)
  5  version conflict (409): the configuration changed since it was read
  6  invalid configuration: refused locally (nothing sent) or by the server (422)
  7  test: the origin did not serve a valid plugin registry";

/// `sourcegate`: the admin CLI of the Sourcegate control plane.
#[derive(Debug, Parser)]
#[command(
    name = "sourcegate",
    version,
    about = "Admin CLI of the Sourcegate control plane: flip the marketplace source between Git and CDN",
    long_about = LONG_ABOUT,
    after_long_help = AFTER_LONG_HELP,
    after_help = "See `sourcegate --help` for examples and exit codes."
)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Base URL of the control plane.
    #[arg(
        long,
        env = "SOURCEGATE_URL",
        default_value = DEFAULT_URL,
        global = true
    )]
    pub url: String,

    /// Admin JWT, sent as `Authorization: Bearer` (needed by set, history, rollback).
    #[arg(long, env = "SOURCEGATE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,

    /// Machine-readable JSON on stdout (errors as JSON on stderr).
    #[arg(long, global = true)]
    pub json: bool,

    /// Time limit of each request, seconds (connection only, for `watch`).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600), global = true)]
    pub timeout_secs: u64,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the current configuration, its version, who changed it and when, and what each
    /// origin answers (status and latency, probed from this machine).
    Status {
        /// Do not probe the origins.
        #[arg(long)]
        no_probe: bool,
        /// Path probed on each origin, joined to its base URL as the apps do.
        #[arg(long, default_value = "community-plugins.json")]
        probe_path: String,
    },
    /// Change the routing mode (and optionally the origin URLs).
    ///
    /// The new document is built from the current one (other settings are kept), validated
    /// locally with the resolver's validator (an invalid one is never sent: exit 6), and sent
    /// with the version it was based on, so a concurrent change fails with 409 (exit 5)
    /// instead of being overwritten.
    #[command(subcommand)]
    Set(SetMode),
    /// Ask the control plane to fetch a URL (the admin panel's "Tester" button): status,
    /// latency, size, and whether it is a valid plugin registry. Exit 7 when it is not.
    Test {
        /// The URL to fetch, e.g. `https://cdn.example.com/community-plugins.json`
        // Not named `url`: that id belongs to the global `--url`, and clap would merge them.
        #[arg(value_name = "URL")]
        target: String,
    },
    /// Show the audit history, newest first: version, when, who, mode, reason, and what changed.
    History {
        /// Number of versions to show (1-1000).
        #[arg(long, short = 'n', default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Also print each version's exact document.
        #[arg(long)]
        documents: bool,
    },
    /// Make an earlier version's document current again (recorded as a new version).
    Rollback {
        /// The version to restore (see `sourcegate history`).
        #[arg(long = "to", value_name = "VERSION")]
        to: i64,
        /// Why (stored in the history; default "rollback to version N").
        #[arg(long)]
        reason: Option<String>,
        /// Fail with 409 unless the current version is this one (default: the version read
        /// just before).
        #[arg(long, value_name = "N")]
        expected_version: Option<i64>,
        /// Roll back even if that version's document equals the current one (recorded as a
        /// new version); without it the server refuses with 409 `no_change` (exit 5).
        #[arg(long)]
        force: bool,
    },
    /// The fleet autopilot: its policy (`status`, `set`, `off`) and its decisions.
    #[command(subcommand)]
    Autopilot(crate::autopilot::AutopilotCommand),
    /// Follow the configuration live (Server-Sent Events): one line per version, the current
    /// one first. Reconnects by itself, resuming after the last version seen.
    Watch {
        /// Exit after this many events (the current version counts as one).
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
}

/// `set`'s modes.
#[derive(Debug, Subcommand)]
pub enum SetMode {
    /// Every install fetches from the Git raw host.
    Git(SetOptions),
    /// Every install fetches from the CDN.
    Cdn(SetOptions),
    /// Both origins, tried in the given order (the second on failure).
    Hybrid {
        /// Origin order: cdn,git or git,cdn.
        #[arg(long, default_value = "cdn,git", value_parser = document::parse_order)]
        order: OriginKind,
        /// Common options.
        #[command(flatten)]
        opts: SetOptions,
    },
    /// A sticky share of installs on the CDN, the rest on Git.
    Canary {
        /// Share of installs on the CDN, percent (0-100, fractions allowed).
        #[arg(long, value_parser = document::parse_percent)]
        percent: f64,
        /// Common options.
        #[command(flatten)]
        opts: SetOptions,
    },
}

/// Options of every `set` mode.
#[derive(Debug, Clone, Args)]
pub struct SetOptions {
    /// New Git base URL (e.g. `https://raw.githubusercontent.com/obsidianmd/obsidian-releases/HEAD/`).
    #[arg(long, value_parser = document::parse_origin_url)]
    pub git_url: Option<String>,
    /// New CDN base URL.
    #[arg(long, value_parser = document::parse_origin_url)]
    pub cdn_url: Option<String>,
    /// Why (stored in the history).
    #[arg(long)]
    pub reason: Option<String>,
    /// Fail with 409 unless the current version is this one (default: the version read just
    /// before).
    #[arg(long, value_name = "N")]
    pub expected_version: Option<i64>,
    /// Print the document that would be sent, and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Send the document even if it equals the current one (recorded as a new version);
    /// without it the server refuses with 409 `no_change` (exit 5).
    #[arg(long)]
    pub force: bool,
}

impl SetMode {
    fn split(&self) -> (ModeChange, &SetOptions) {
        match self {
            SetMode::Git(o) => (ModeChange::Git, o),
            SetMode::Cdn(o) => (ModeChange::Cdn, o),
            SetMode::Hybrid { order, opts } => (ModeChange::Hybrid { first: *order }, opts),
            SetMode::Canary { percent, opts } => (ModeChange::Canary { percent: *percent }, opts),
        }
    }
}

/// Prints a line on stdout.
pub(crate) fn print(s: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{s}")?;
    out.flush()?;
    Ok(())
}

/// Prints pretty JSON on stdout.
pub(crate) fn print_json(v: &impl serde::Serialize) -> Result<(), CliError> {
    let s = serde_json::to_string_pretty(v).map_err(std::io::Error::other)?;
    print(&s)
}

/// Fills in [`ConfigView::actor`] (who wrote the version, see [`output::actor`]). Without a
/// user id, and with a token, the history entry of that version tells a service-role write
/// from the seed or a direct SQL write (`changedRole`); when the history cannot be read (no
/// token, not an admin) the view alone decides.
async fn with_actor(client: &Client, mut view: ConfigView) -> ConfigView {
    let mut role = None;
    if view.updated_by.is_none()
        && client.has_token()
        && let Ok(page) = client.history(&view.key, 5).await
    {
        role = page
            .items
            .into_iter()
            .find(|i| i.version == view.version)
            .and_then(|i| i.changed_role);
    }
    let by = view.updated_by.map(|u| u.to_string());
    view.actor = Some(output::actor(by.as_deref(), role.as_deref(), view.version));
    view
}

/// Runs a parsed command line.
///
/// # Errors
/// Any [`CliError`]; the caller prints it and exits with [`CliError::exit_code`].
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let g = &cli.global;
    // An empty SOURCEGATE_URL (e.g. `SOURCEGATE_URL= sourcegate …`) means "not set".
    let url = if g.url.trim().is_empty() {
        DEFAULT_URL
    } else {
        g.url.trim()
    };
    let client = Client::new(url, g.token.clone(), Duration::from_secs(g.timeout_secs))?;
    match &cli.command {
        Command::Status {
            no_probe,
            probe_path,
        } => status(&client, g.json, *no_probe, probe_path).await,
        Command::Set(mode) => set(&client, g.json, mode).await,
        Command::Test { target } => test(&client, g.json, target).await,
        Command::History { limit, documents } => {
            let mut page = client.history(CONFIG_KEY, *limit).await?;
            for item in &mut page.items {
                item.actor = Some(output::item_actor(item));
            }
            if g.json {
                print_json(&page)
            } else {
                print(&output::history(&page.items, *documents))
            }
        }
        Command::Rollback {
            to,
            reason,
            expected_version,
            force,
        } => {
            let before = client.get_config(CONFIG_KEY).await?;
            let expected = expected_version.unwrap_or(before.version);
            let after = client
                .rollback(
                    CONFIG_KEY,
                    &Rollback {
                        to_version: *to,
                        terms: WriteTerms {
                            reason: reason.clone(),
                            expected_version: Some(expected),
                            force: *force,
                        },
                    },
                )
                .await?;
            let after = with_actor(&client, after).await;
            if g.json {
                print_json(&after)
            } else {
                print(&output::changed(
                    &format!("Rolled back to version {to}"),
                    Some(&before),
                    &after,
                ))
            }
        }
        Command::Watch { count } => watch(&client, g.json, *count).await,
        Command::Autopilot(cmd) => crate::autopilot::run(&client, g.json, cmd).await,
    }
}

async fn status(
    client: &Client,
    json: bool,
    no_probe: bool,
    probe_path: &str,
) -> Result<(), CliError> {
    let view = with_actor(client, client.get_config(CONFIG_KEY).await?).await;
    let mut targets = Vec::new();
    if !no_probe {
        if let Some(u) = document::git_url(&view.value) {
            targets.push(("git", probe::join(u, probe_path)));
        }
        if let Some(u) = document::cdn_url(&view.value) {
            targets.push(("cdn", probe::join(u, probe_path)));
        }
    }
    let probes = futures_util::future::join_all(
        targets
            .into_iter()
            .map(|(kind, url)| probe::probe(client.http(), kind, url, client.timeout())),
    )
    .await;
    if json {
        print_json(&serde_json::json!({ "config": view, "origins": probes }))
    } else {
        print(&output::status(&view, &probes))
    }
}

async fn set(client: &Client, json: bool, mode: &SetMode) -> Result<(), CliError> {
    let (change_mode, opts) = mode.split();
    let current = client.get_config(CONFIG_KEY).await?;
    let change = Change {
        mode: change_mode,
        git_url: opts.git_url.clone(),
        cdn_url: opts.cdn_url.clone(),
    };
    let expected = opts.expected_version.unwrap_or(current.version);
    let (doc, _) = document::build(&current.value, &change, expected.saturating_add(1))
        .map_err(CliError::InvalidDocument)?;
    if opts.dry_run {
        return if json {
            print_json(&serde_json::json!({ "value": doc, "expectedVersion": expected }))
        } else {
            print(&format!(
                "dry run: would send version {} (expected current version {expected}):\n{}",
                expected.saturating_add(1),
                serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?
            ))
        };
    }
    let after = client
        .put_config(
            CONFIG_KEY,
            &PutConfig {
                value: doc,
                terms: WriteTerms {
                    reason: opts.reason.clone(),
                    expected_version: Some(expected),
                    force: opts.force,
                },
            },
        )
        .await?;
    let after = with_actor(client, after).await;
    if json {
        print_json(&after)
    } else {
        print(&output::changed("Updated", Some(&current), &after))
    }
}

async fn test(client: &Client, json: bool, url: &str) -> Result<(), CliError> {
    let r = client.test_origin(url).await?;
    if json {
        print_json(&r)?;
    } else {
        print(&output::origin_test(&r))?;
    }
    if r.ok && r.valid_registry {
        Ok(())
    } else {
        Err(CliError::OriginFailed {
            url: r.url.clone(),
            reason: r.error.clone().unwrap_or_else(|| {
                if r.ok {
                    "the body is not a plugin registry".into()
                } else {
                    format!("status {}", r.status.map_or("-".into(), |s| s.to_string()))
                }
            }),
        })
    }
}

async fn watch(client: &Client, json: bool, count: Option<u64>) -> Result<(), CliError> {
    let mut seen = 0u64;
    let mut last: Option<i64> = None;
    let mut backoff = Duration::from_millis(500);
    let mut first = true;
    loop {
        let stream = match client.events(CONFIG_KEY, last).await {
            Ok(s) => s,
            // The first connection reports errors; later ones retry (like `tail -f`).
            Err(e) if first => return Err(e),
            Err(e) => {
                eprintln!("sourcegate: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        first = false;
        futures_util::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            let view: ConfigView = with_actor(client, item?).await;
            backoff = Duration::from_millis(500);
            last = Some(view.version);
            if json {
                print(&serde_json::to_string(&view).map_err(std::io::Error::other)?)?;
            } else {
                print(&output::watch_line(&view))?;
            }
            seen += 1;
            if count.is_some_and(|c| seen >= c) {
                return Ok(());
            }
        }
        eprintln!("sourcegate: event stream closed; reconnecting in {backoff:?}");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_set_modes_with_trailing_global_flags() {
        let cli = Cli::try_parse_from([
            "sourcegate",
            "set",
            "canary",
            "--percent",
            "10",
            "--reason",
            "ten",
            "--json",
            "--url",
            "http://cp:1",
        ])
        .unwrap();
        assert!(cli.global.json);
        assert_eq!(cli.global.url, "http://cp:1");
        let Command::Set(mode) = cli.command else {
            panic!("not set")
        };
        let (m, o) = mode.split();
        assert_eq!(m, ModeChange::Canary { percent: 10.0 });
        assert_eq!(o.reason.as_deref(), Some("ten"));

        let cli =
            Cli::try_parse_from(["sourcegate", "set", "hybrid", "--order", "git,cdn"]).unwrap();
        let Command::Set(mode) = cli.command else {
            panic!("not set")
        };
        assert_eq!(
            mode.split().0,
            ModeChange::Hybrid {
                first: OriginKind::Git
            }
        );
    }

    #[test]
    fn test_target_does_not_clobber_the_global_url() {
        let cli = Cli::try_parse_from([
            "sourcegate",
            "--url",
            "http://cp:1",
            "test",
            "https://cdn.example/x.json",
        ])
        .unwrap();
        assert_eq!(cli.global.url, "http://cp:1");
        let Command::Test { target } = cli.command else {
            panic!("not test")
        };
        assert_eq!(target, "https://cdn.example/x.json");
    }

    #[test]
    fn usage_errors() {
        for args in [
            vec!["sourcegate", "set", "canary"],
            vec!["sourcegate", "set", "canary", "--percent", "150"],
            vec!["sourcegate", "set", "cdn", "--cdn-url", "ftp://x"],
            vec!["sourcegate", "set", "hybrid", "--order", "cdn"],
            vec!["sourcegate", "rollback"],
            vec!["sourcegate", "history", "--limit", "0"],
        ] {
            let e = Cli::try_parse_from(&args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn long_help_lists_exit_codes_and_examples() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:"));
        assert!(help.contains("5  version conflict"));
        assert!(help.contains("sourcegate set canary --percent 10"));
        assert!(help.contains("SOURCEGATE_TOKEN"));
    }
}
