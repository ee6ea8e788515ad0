//! `sourcegate autopilot status|set|off`: the fleet autopilot's policy (the `autopilot`
//! configuration key) and its decisions (`GET /v1/autopilot`), see the control plane's
//! `autopilot` module for the rules.

use clap::Subcommand;
use serde_json::{Value, json};

use crate::api::{Client, PutConfig, WriteTerms};
use crate::error::CliError;

/// The configuration key of the policy.
pub const KEY: &str = "autopilot";

/// `autopilot`'s subcommands.
#[derive(Debug, Subcommand)]
pub enum AutopilotCommand {
    /// Show the policy, the state of the answering replica's decider and the latest decisions
    /// (admin token needed).
    Status,
    /// Turn the autopilot on, starting from the stored policy (or the defaults), with the
    /// given changes. The control plane validates the policy (exit 6 when refused).
    Set {
        /// A whole policy document (JSON object) merged over the stored one first.
        #[arg(long, value_name = "JSON")]
        policy: Option<String>,
        /// Decide and record, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Act for real (clears a stored `dryRun`).
        #[arg(long, conflicts_with = "dry_run")]
        live: bool,
        /// gitPressure: Git usage, percent, at or above which a minute counts (default 70).
        #[arg(long, value_name = "PERCENT")]
        threshold_percent: Option<f64>,
        /// gitPressure: consecutive minutes needed (default 5).
        #[arg(long, value_name = "MIN")]
        for_minutes: Option<u32>,
        /// gitPressure's target: hybrid-cdn-git (default), cdn, or canary:PERCENT.
        #[arg(long, value_name = "TARGET")]
        target: Option<String>,
        /// errorRollback: error share, percent, at or above which a minute counts (default 5).
        #[arg(long, value_name = "PERCENT")]
        error_percent: Option<f64>,
        /// Minutes between automatic actions (default 30).
        #[arg(long, value_name = "MIN")]
        cooldown_minutes: Option<u32>,
        /// Fewest reporting installs in a minute for it to count (default 10).
        #[arg(long, value_name = "N")]
        min_installs: Option<u64>,
        /// Why (stored in the history).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Turn the autopilot off (the thresholds are kept).
    Off {
        /// Why (stored in the history).
        #[arg(long)]
        reason: Option<String>,
    },
}

fn target(s: &str) -> Result<Value, CliError> {
    match s.split_once(':') {
        None if s == "hybrid-cdn-git" || s == "cdn" => Ok(json!({"mode": s})),
        Some(("canary", p)) => {
            let percent: f64 = p
                .parse()
                .map_err(|_| CliError::Usage(format!("--target canary:{p}: not a percent")))?;
            Ok(json!({"mode": "canary", "percent": percent}))
        }
        _ => Err(CliError::Usage(format!(
            "--target {s}: expected hybrid-cdn-git, cdn or canary:PERCENT"
        ))),
    }
}

/// The stored policy and its version (`{}` and 0 when there is none yet).
async fn stored(client: &Client) -> Result<(Value, i64), CliError> {
    match client.get_config(KEY).await {
        Ok(v) => {
            let mut doc = v.value;
            if let Some(o) = doc.as_object_mut() {
                o.remove("version");
            }
            Ok((doc, v.version))
        }
        Err(CliError::Api { status: 404, .. }) => Ok((json!({}), 0)),
        Err(e) => Err(e),
    }
}

fn set_in(doc: &mut Value, path: &[&str], v: Value) {
    let mut cur = doc;
    for p in &path[..path.len() - 1] {
        if !cur.get(*p).is_some_and(Value::is_object) {
            cur[*p] = json!({});
        }
        cur = &mut cur[*p];
    }
    cur[path[path.len() - 1]] = v;
}

/// Writes `doc` as the policy, expecting `version` to be current; `doc` and the version written.
async fn write(
    client: &Client,
    doc: Value,
    reason: String,
    version: i64,
) -> Result<(Value, i64), CliError> {
    let body = PutConfig {
        value: doc,
        terms: WriteTerms {
            reason: Some(reason),
            expected_version: Some(version),
            force: false,
        },
    };
    let written = client.put_config(KEY, &body).await?.version;
    Ok((body.value, written))
}

/// Runs an `autopilot` subcommand; prints JSON with `json`.
///
/// # Errors
/// [`CliError`] as the other subcommands (401/403: exit 4, 409: exit 5, 422: exit 6).
pub async fn run(client: &Client, json_out: bool, cmd: &AutopilotCommand) -> Result<(), CliError> {
    let (doc, written) = match cmd {
        AutopilotCommand::Status => {
            let view = client.get_json("/v1/autopilot").await?;
            return if json_out {
                crate::cli::print_json(&view)
            } else {
                crate::cli::print(&describe(&view))
            };
        }
        AutopilotCommand::Off { reason } => {
            let (mut doc, version) = stored(client).await?;
            doc["enabled"] = json!(false);
            let reason = reason.clone().unwrap_or_else(|| "autopilot off".into());
            write(client, doc, reason, version).await?
        }
        AutopilotCommand::Set {
            policy,
            dry_run,
            live,
            threshold_percent,
            for_minutes,
            target: to,
            error_percent,
            cooldown_minutes,
            min_installs,
            reason,
        } => {
            let (mut doc, version) = stored(client).await?;
            if let Some(p) = policy {
                let extra: Value = serde_json::from_str(p)
                    .map_err(|e| CliError::Usage(format!("--policy: not JSON: {e}")))?;
                let Some(extra) = extra.as_object() else {
                    return Err(CliError::Usage("--policy: must be a JSON object".into()));
                };
                for (k, v) in extra {
                    doc[k.as_str()] = v.clone();
                }
            }
            doc["enabled"] = json!(true);
            if *dry_run {
                doc["dryRun"] = json!(true);
            }
            if *live {
                doc["dryRun"] = json!(false);
            }
            if let Some(x) = threshold_percent {
                set_in(&mut doc, &["gitPressure", "thresholdPercent"], json!(x));
            }
            if let Some(x) = for_minutes {
                set_in(&mut doc, &["gitPressure", "forMinutes"], json!(x));
            }
            if let Some(t) = to {
                set_in(&mut doc, &["gitPressure", "target"], target(t)?);
            }
            if let Some(x) = error_percent {
                set_in(&mut doc, &["errorRollback", "errorPercent"], json!(x));
            }
            if let Some(x) = cooldown_minutes {
                doc["cooldownMinutes"] = json!(x);
            }
            if let Some(x) = min_installs {
                doc["minInstalls"] = json!(x);
            }
            let reason = reason.clone().unwrap_or_else(|| "autopilot on".into());
            write(client, doc, reason, version).await?
        }
    };
    if json_out {
        crate::cli::print_json(&json!({"key": KEY, "version": written, "value": doc}))
    } else {
        let on = doc["enabled"] == json!(true);
        crate::cli::print(&format!(
            "Autopilot {} (version {written}){}",
            if on { "on" } else { "off" },
            if on && doc["dryRun"] == json!(true) {
                ", dry run: decisions are recorded, nothing is changed"
            } else {
                ""
            }
        ))
    }
}

/// A JSON number as people write it (`80`, `12.5`).
fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) => format!("{x}"),
        None => v.to_string(),
    }
}

/// The text of `autopilot status` (pure).
pub fn describe(view: &Value) -> String {
    let p = &view["policy"];
    let mut out = String::new();
    let on = p["enabled"] == json!(true);
    out.push_str(&format!(
        "Autopilot: {}{} (policy version {}; a minute is {} s)\n",
        if on { "on" } else { "off" },
        if on && p["dryRun"] == json!(true) {
            ", dry run"
        } else {
            ""
        },
        view["version"],
        view["minuteSecs"]
    ));
    let g = &p["gitPressure"];
    if g.is_object() {
        let mut t = g["target"]["mode"].as_str().unwrap_or("?").to_owned();
        if let Some(pct) = g["target"]["percent"].as_f64() {
            t.push_str(&format!(" {} %", num(&json!(pct))));
        }
        out.push_str(&format!(
            "  gitPressure: Git usage ≥ {} % for {} min, CDN healthy → {t}\n",
            num(&g["thresholdPercent"]),
            g["forMinutes"]
        ));
    } else {
        out.push_str("  gitPressure: off\n");
    }
    let e = &p["errorRollback"];
    if e.is_object() {
        out.push_str(&format!(
            "  errorRollback: errors ≥ {} % for {} min within {} min of a change → previous version\n",
            num(&e["errorPercent"]),
            e["forMinutes"],
            e["watchMinutes"]
        ));
    } else {
        out.push_str("  errorRollback: off\n");
    }
    out.push_str(&format!(
        "  cooldown {} min; at least {} reporting installs per minute\n",
        p["cooldownMinutes"], p["minInstalls"]
    ));
    match view["replica"].as_object() {
        Some(r) => out.push_str(&format!(
            "This replica: {}; {}{}\n",
            if r.get("leader") == Some(&json!(true)) {
                "leader"
            } else {
                "not leading"
            },
            r.get("state")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("no evaluation yet"),
            r.get("error")
                .and_then(Value::as_str)
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default()
        )),
        None => out.push_str("This replica: decider off (--autopilot false)\n"),
    }
    let decisions = view["decisions"].as_array().cloned().unwrap_or_default();
    if decisions.is_empty() {
        out.push_str("Decisions: none yet");
    } else {
        out.push_str("Decisions (newest first):");
        for d in decisions {
            let to = d["toVersion"]
                .as_i64()
                .map_or("dry run".to_owned(), |v| format!("→ v{v}"));
            out.push_str(&format!(
                "\n  {}  v{} {to}  by {}\n    {}",
                d["decidedAt"].as_str().unwrap_or("?"),
                d["fromVersion"],
                d["decidedBy"].as_str().unwrap_or("?"),
                d["reason"].as_str().unwrap_or("")
            ));
        }
    }
    out
}
