//! Pure document work: building the next `marketplace_source` document from the current one,
//! one-line summaries and top-level diffs. No I/O.

use serde_json::{Map, Value};
use sourcegate::config::{ConfigError, MarketplaceConfig, Mode, OriginKind};
use sourcegate_contract::ModeInfo;

/// The mode `set` switches to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModeChange {
    /// Everything to Git.
    Git,
    /// Everything to the CDN.
    Cdn,
    /// Both origins in this order.
    Hybrid {
        /// The origin tried first (the other one second).
        first: OriginKind,
    },
    /// `percent` % of installs (sticky) on the CDN.
    Canary {
        /// Share on the CDN, 0–100.
        percent: f64,
    },
}

impl ModeChange {
    /// This mode's row of the contract's mode table ([`sourcegate_contract::MODES`]), the row
    /// of the routing [`Mode`] it sets ([`Mode::info`]; a canary's share does not choose it).
    pub fn info(&self) -> &'static ModeInfo {
        match *self {
            ModeChange::Git => Mode::Git,
            ModeChange::Cdn => Mode::Cdn,
            ModeChange::Hybrid { first } => Mode::Hybrid { first },
            ModeChange::Canary { .. } => Mode::Canary { threshold_bp: 0 },
        }
        .info()
    }
}

/// What `set` changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The new mode.
    pub mode: ModeChange,
    /// A new Git base URL, if given.
    pub git_url: Option<String>,
    /// A new CDN base URL, if given.
    pub cdn_url: Option<String>,
}

/// Builds the next document: the current one with `type`, `priority`, `canaryPercent` and the
/// given URLs replaced and `version` set to `next_version`; other fields (health checks,
/// outlier detection, unknown fields) are kept. The result is validated with the resolver's
/// own parser, so a document an app would refuse is never sent.
///
/// # Errors
/// The [`ConfigError`] of [`MarketplaceConfig::from_value`], naming the field.
///
/// # Examples
/// ```
/// use sourcegate_cli::document::{Change, ModeChange, build};
/// let seed = serde_json::json!({"type":"git","gitUrl":"https://g.example/","version":1});
/// let to_cdn = |cdn_url: Option<&str>| Change {
///     mode: ModeChange::Cdn,
///     git_url: None,
///     cdn_url: cdn_url.map(str::to_owned),
/// };
/// // No CDN URL anywhere: refused locally, naming the field.
/// assert_eq!(build(&seed, &to_cdn(None), 2).unwrap_err().field(), Some("cdnUrl"));
/// let (doc, _) = build(&seed, &to_cdn(Some("https://cdn.example/")), 2).unwrap();
/// assert_eq!(doc["type"], "cdn");
/// assert_eq!(doc["version"], 2);
/// ```
pub fn build(
    current: &Value,
    change: &Change,
    next_version: i64,
) -> Result<(Value, MarketplaceConfig), ConfigError> {
    let mut doc: Map<String, Value> = current.as_object().cloned().unwrap_or_default();
    // `type` and `priority` come from the contract's mode table (one table for the CLI, the
    // console and the resolver's documents).
    let mode = change.mode.info();
    doc.insert("type".into(), mode.doc_type.into());
    doc.insert("priority".into(), Value::from(mode.priority.to_vec()));
    match change.mode {
        ModeChange::Canary { percent } => {
            // Whole percents stay integers (`10`, not `10.0`), as an admin would write them.
            let v = if percent.fract() == 0.0 && percent.abs() <= 100.0 {
                #[allow(clippy::cast_possible_truncation)]
                Value::from(percent as i64)
            } else {
                Value::from(percent)
            };
            doc.insert("canaryPercent".into(), v);
        }
        _ => {
            doc.remove("canaryPercent");
        }
    }
    if let Some(u) = &change.git_url {
        doc.insert("gitUrl".into(), u.as_str().into());
    }
    if let Some(u) = &change.cdn_url {
        doc.remove("cloudflareUrl");
        doc.insert("cdnUrl".into(), u.as_str().into());
    }
    doc.insert("version".into(), next_version.into());
    let doc = Value::Object(doc);
    let parsed = MarketplaceConfig::from_value(&doc)?;
    Ok((doc, parsed))
}

/// A one-line summary of a document: `git`, `cdn`, `hybrid cdn→git`, `canary 10% on cdn`,
/// or the raw `type` (with `(invalid: …)`) when the document does not validate.
pub fn summary(value: &Value) -> String {
    match MarketplaceConfig::from_value(value) {
        Ok(c) => match c.mode {
            Mode::Git => "git".into(),
            Mode::Cdn => "cdn".into(),
            Mode::Hybrid { first } => format!("hybrid {first}→{}", first.other()),
            Mode::Canary { threshold_bp } => {
                format!("canary {}% on cdn", f64::from(threshold_bp) / 100.0)
            }
        },
        Err(e) => {
            let ty = value.get("type").and_then(Value::as_str).unwrap_or("?");
            format!("{ty} (invalid: {e})")
        }
    }
}

/// The document's `integrity` entries on one line: `none`, or `path (N bytes, sha256-…)` per
/// path (normalised, sorted), `; `-separated; the raw JSON of `integrity` when the document
/// does not validate.
///
/// # Examples
/// ```
/// use sourcegate_cli::document::integrity_summary;
/// let doc = serde_json::json!({"type": "git", "gitUrl": "https://g.example/", "integrity": {
///     "/a.json": {"sha256": "sha256-T1PNoYwrqgwDVLtfmj7L5e0Sq02OEbqHPC8RFhICuUU=", "size": 2}}});
/// assert_eq!(integrity_summary(&doc), "a.json (2 bytes, sha256-T1PNoYwrqgwDVLtfmj7L5e0Sq02OEbqHPC8RFhICuUU=)");
/// assert_eq!(integrity_summary(&serde_json::json!({"type": "git"})), "none");
/// ```
pub fn integrity_summary(value: &Value) -> String {
    let Some(raw) = value.get("integrity").filter(|v| !v.is_null()) else {
        return "none".into();
    };
    match MarketplaceConfig::from_value(value) {
        Ok(c) if c.integrity.is_empty() => "none".into(),
        Ok(c) => c
            .integrity
            .iter()
            .map(|(p, e)| format!("{p} ({} bytes, {})", e.size, e.sri()))
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => raw.to_string(),
    }
}

/// The CDN base URL of a document (`cdnUrl`, else `cloudflareUrl`).
pub fn cdn_url(value: &Value) -> Option<&str> {
    value
        .get("cdnUrl")
        .or_else(|| value.get("cloudflareUrl"))
        .and_then(Value::as_str)
}

/// The Git base URL of a document.
pub fn git_url(value: &Value) -> Option<&str> {
    value.get("gitUrl").and_then(Value::as_str)
}

fn short(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "∅".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Top-level differences between two documents, `version` excepted, as
/// `field: old → new` (sorted by field). A creation lists every field as `field: new`.
pub fn diff(old: Option<&Value>, new: Option<&Value>) -> Vec<String> {
    let empty = Map::new();
    let o = old.and_then(Value::as_object).unwrap_or(&empty);
    let n = new.and_then(Value::as_object).unwrap_or(&empty);
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| k.as_str() != "version" && o.get(*k) != n.get(*k))
        .map(|k| {
            if old.is_none() {
                format!("{k}: {}", short(n.get(k)))
            } else {
                format!("{k}: {} → {}", short(o.get(k)), short(n.get(k)))
            }
        })
        .collect()
}

/// Parses `--order`: `cdn,git` or `git,cdn` (`cloudflare` is accepted for `cdn`); returns the
/// origin tried first.
///
/// # Errors
/// A message for clap when the list is not exactly the two origins.
pub fn parse_order(s: &str) -> Result<OriginKind, String> {
    let kinds: Vec<OriginKind> = s
        .split(',')
        .map(|p| match p.trim().to_ascii_lowercase().as_str() {
            "git" => Ok(OriginKind::Git),
            "cdn" | "cloudflare" => Ok(OriginKind::Cdn),
            other => Err(format!("unknown origin `{other}` (expected cdn or git)")),
        })
        .collect::<Result<_, _>>()?;
    match kinds.as_slice() {
        [a, b] if a != b => Ok(*a),
        _ => Err("expected both origins in order: cdn,git or git,cdn".into()),
    }
}

/// Parses `--percent`: a number in 0–100 (fractions allowed, a trailing `%` is accepted).
///
/// # Errors
/// A message for clap.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if !p.is_finite() || !(0.0..=100.0).contains(&p) {
        return Err(format!("{p} is outside 0..=100"));
    }
    Ok(p)
}

/// Parses an origin base URL flag: `http` or `https` with a host.
///
/// # Errors
/// A message for clap.
pub fn parse_origin_url(s: &str) -> Result<String, String> {
    let u = url::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return Err("expected an http(s) URL with a host".into());
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seed() -> Value {
        json!({"type":"git","priority":["git"],"gitUrl":"https://raw.example/o/r/HEAD/",
               "healthCheckEnabled":true,"fallbackOnError":false,
               "healthCheck":{"intervalSecs":30},"custom":"kept","version":1})
    }

    #[test]
    fn cdn_with_url_keeps_other_fields() {
        let change = Change {
            mode: ModeChange::Cdn,
            git_url: None,
            cdn_url: Some("https://cdn.example/".into()),
        };
        let (doc, parsed) = build(&seed(), &change, 2).unwrap();
        assert_eq!(doc["type"], "cdn");
        assert_eq!(doc["priority"], json!(["cdn", "git"]));
        assert_eq!(doc["cdnUrl"], "https://cdn.example/");
        assert_eq!(doc["gitUrl"], "https://raw.example/o/r/HEAD/");
        assert_eq!(doc["fallbackOnError"], false);
        assert_eq!(doc["healthCheck"], json!({"intervalSecs":30}));
        assert_eq!(doc["custom"], "kept");
        assert_eq!(doc["version"], 2);
        assert_eq!(parsed.mode, Mode::Cdn);
        assert_eq!(parsed.version, 2);
    }

    #[test]
    fn cdn_without_any_cdn_url_is_refused_naming_the_field() {
        let change = Change {
            mode: ModeChange::Cdn,
            git_url: None,
            cdn_url: None,
        };
        let err = build(&seed(), &change, 2).unwrap_err();
        assert_eq!(err.field(), Some("cdnUrl"));
    }

    #[test]
    fn canary_then_git_drops_the_percent_and_cloudflare_alias_is_replaced() {
        let mut cur = seed();
        cur["cloudflareUrl"] = json!("https://old.example/");
        let (doc, parsed) = build(
            &cur,
            &Change {
                mode: ModeChange::Canary { percent: 12.5 },
                git_url: None,
                cdn_url: None,
            },
            5,
        )
        .unwrap();
        assert_eq!(parsed.mode, Mode::Canary { threshold_bp: 1250 });
        assert_eq!(doc["canaryPercent"], 12.5);
        let (ten, _) = build(
            &cur,
            &Change {
                mode: ModeChange::Canary { percent: 10.0 },
                git_url: None,
                cdn_url: None,
            },
            5,
        )
        .unwrap();
        assert_eq!(ten["canaryPercent"].to_string(), "10");
        assert_eq!(summary(&doc), "canary 12.5% on cdn");
        let (doc2, _) = build(
            &doc,
            &Change {
                mode: ModeChange::Git,
                git_url: Some("https://git2.example/".into()),
                cdn_url: Some("https://new.example/".into()),
            },
            6,
        )
        .unwrap();
        assert!(doc2.get("canaryPercent").is_none());
        assert!(doc2.get("cloudflareUrl").is_none());
        assert_eq!(doc2["cdnUrl"], "https://new.example/");
        assert_eq!(doc2["gitUrl"], "https://git2.example/");
        assert_eq!(doc2["priority"], json!(["git", "cdn"]));
    }

    #[test]
    fn hybrid_order() {
        let mut cur = seed();
        cur["cdnUrl"] = json!("https://cdn.example/");
        let (doc, parsed) = build(
            &cur,
            &Change {
                mode: ModeChange::Hybrid {
                    first: OriginKind::Git,
                },
                git_url: None,
                cdn_url: None,
            },
            3,
        )
        .unwrap();
        assert_eq!(doc["priority"], json!(["git", "cdn"]));
        assert_eq!(
            parsed.mode,
            Mode::Hybrid {
                first: OriginKind::Git
            }
        );
        assert_eq!(summary(&doc), "hybrid git→cdn");
    }

    #[test]
    fn summaries_of_invalid_documents_say_so() {
        assert_eq!(summary(&seed()), "git");
        let s = summary(&json!({"type":"cdn"}));
        assert!(s.starts_with("cdn (invalid: "), "{s}");
    }

    #[test]
    fn diffs() {
        let old = seed();
        let mut new = seed();
        new["type"] = json!("canary");
        new["canaryPercent"] = json!(10);
        new["version"] = json!(2);
        assert_eq!(
            diff(Some(&old), Some(&new)),
            vec!["canaryPercent: ∅ → 10", "type: git → canary"]
        );
        let created = diff(None, Some(&json!({"type":"git","version":1})));
        assert_eq!(created, vec!["type: git"]);
    }

    #[test]
    fn flag_parsers() {
        assert_eq!(parse_order("cdn,git"), Ok(OriginKind::Cdn));
        assert_eq!(parse_order("Git, cloudflare"), Ok(OriginKind::Git));
        assert!(parse_order("cdn").is_err());
        assert!(parse_order("cdn,cdn").is_err());
        assert!(parse_order("cdn,s3").is_err());
        assert_eq!(parse_percent("10"), Ok(10.0));
        assert_eq!(parse_percent("2.5%"), Ok(2.5));
        assert!(parse_percent("101").is_err());
        assert!(parse_percent("-1").is_err());
        assert!(parse_percent("NaN").is_err());
        assert!(parse_origin_url("https://cdn.example").is_ok());
        assert!(parse_origin_url("ftp://cdn.example").is_err());
        assert!(parse_origin_url("cdn.example").is_err());
    }

    #[test]
    fn every_mode_change_has_its_row_in_the_contract_table() {
        let changes = [
            (ModeChange::Git, "git"),
            (ModeChange::Cdn, "cdn"),
            (
                ModeChange::Hybrid {
                    first: OriginKind::Cdn,
                },
                "hybrid-cdn-git",
            ),
            (
                ModeChange::Hybrid {
                    first: OriginKind::Git,
                },
                "hybrid-git-cdn",
            ),
            (ModeChange::Canary { percent: 5.0 }, "canary"),
        ];
        for (c, id) in changes {
            assert_eq!(c.info().id, id);
        }
    }
}
