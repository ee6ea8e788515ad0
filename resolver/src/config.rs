//! The `marketplace_source` config document: its JSON shape, defaults and validation.
//!
//! The document is the `config_value` of the `app_config` row whose `config_key` is
//! `marketplace_source` (seed `003`, "Table Supabase `app_config`"). This module accepts the
//! seed's exact shape
//!
//! ```json
//! {"type":"cloudflare","priority":["cloudflare","git"],"cloudflareUrl":"https://cdn.example.com/",
//!  "gitUrl":"https://raw.githubusercontent.com/o/r/HEAD/","healthCheckEnabled":true,"fallbackOnError":true}
//! ```
//!
//! and extends it, in camelCase, with:
//!
//! | field | meaning | default |
//! |---|---|---|
//! | `type` | `git`, `cdn` (alias `cloudflare`), `hybrid`, `canary` | required |
//! | `priority` | origin order for `hybrid`: `["cdn","git"]` (CDN→Git) or `["git","cdn"]` | `["cdn","git"]` |
//! | `gitUrl`, `cdnUrl` (alias `cloudflareUrl`) | origin base URLs, `http`/`https` only | none |
//! | `canaryPercent` | share of installs on the CDN in `canary` mode, percent 0–100, fractional allowed | required for `canary` |
//! | `healthCheckEnabled` | run active health checks and route around unhealthy origins | `true` |
//! | `fallbackOnError` | fail over to the other origin on errors and rate limits | `true` |
//! | `healthCheck` | `{intervalSecs, timeoutMs, healthyThreshold, unhealthyThreshold, path}` | `60`, `5000`, `1`, `3`, `""` |
//! | `outlierDetection` | `{consecutiveFailures, baseEjectionSecs, maxEjectionSecs}` | `5`, `30`, `300` (Envoy's defaults) |
//! | `version` | monotonically increasing document version | `0` |
//!
//! Unknown fields are ignored, so an old app accepts a newer document. Validation is strict
//! about what the router needs: every error names the field ([`ConfigError::field`]), and an
//! invalid document never replaces the one in use (see [`crate::Resolver`]).
//!
//! Origin URLs are *bases*: a missing trailing `/` is added, so that joining `community-plugins.json`
//! to `https://host/repo/HEAD` gives `https://host/repo/HEAD/community-plugins.json` (RFC 3986 §5.2
//! reference resolution would otherwise drop the last segment).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

/// Which origin a request goes to. The seed names the CDN `cloudflare`; both names parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OriginKind {
    /// The Git raw host (e.g. `raw.githubusercontent.com`), rate-limited.
    Git,
    /// The CDN (e.g. a Cloudflare Worker); `cloudflare` in the seed's documents.
    #[serde(alias = "cloudflare")]
    Cdn,
}

impl OriginKind {
    /// Both kinds, Git first; index `k as usize` matches this order.
    pub const ALL: [OriginKind; 2] = [OriginKind::Git, OriginKind::Cdn];

    /// The other origin.
    pub fn other(self) -> OriginKind {
        match self {
            OriginKind::Git => OriginKind::Cdn,
            OriginKind::Cdn => OriginKind::Git,
        }
    }

    /// `"git"` or `"cdn"`.
    pub fn as_str(self) -> &'static str {
        match self {
            OriginKind::Git => "git",
            OriginKind::Cdn => "cdn",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            OriginKind::Git => 0,
            OriginKind::Cdn => 1,
        }
    }

    fn parse(s: &str) -> Option<OriginKind> {
        match s {
            "git" => Some(OriginKind::Git),
            "cdn" | "cloudflare" => Some(OriginKind::Cdn),
            _ => None,
        }
    }
}

impl std::fmt::Display for OriginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The routing mode (`type` in the document).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Mode {
    /// Everything to Git.
    Git,
    /// Everything to the CDN.
    Cdn,
    /// Both origins, tried in the given order (`priority`): CDN→Git or Git→CDN.
    Hybrid {
        /// The origin tried first.
        first: OriginKind,
    },
    /// A sticky share of installs on the CDN, the rest on Git.
    Canary {
        /// Installs whose bucket (0..10,000) is below this go to the CDN: `percent × 100`,
        /// i.e. basis points.
        threshold_bp: u32,
    },
}

/// Active health-check settings (`healthCheck` in the document).
///
/// Healthy/unhealthy thresholds count *consecutive* results, as Envoy's `healthy_threshold` /
/// `unhealthy_threshold` and pingora's `consecutive_success` / `consecutive_failure` do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckSettings {
    /// Time between probes of one origin (default 60 s, the seed's "every minute"); each wait
    /// carries ±10 % jitter.
    pub interval: Duration,
    /// Probe timeout (default 5 s).
    pub timeout: Duration,
    /// Consecutive successes that make an unhealthy origin healthy (default 1).
    pub healthy_threshold: u32,
    /// Consecutive failures that make a healthy origin unhealthy (default 3).
    pub unhealthy_threshold: u32,
    /// Path probed, joined to the origin's base URL (default `""`: the base itself).
    pub path: String,
}

impl Default for HealthCheckSettings {
    fn default() -> Self {
        HealthCheckSettings {
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            healthy_threshold: 1,
            unhealthy_threshold: 3,
            path: String::new(),
        }
    }
}

/// Passive outlier detection settings (`outlierDetection` in the document).
///
/// Defaults follow Envoy's outlier detection (`consecutive_5xx` = 5, `base_ejection_time` = 30 s,
/// `max_ejection_time` = 300 s): after `consecutive_failures` 5xx or connect errors in a row, the
/// origin is ejected for `base_ejection × n` where `n` counts ejections in a row, capped at
/// `max_ejection`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutlierSettings {
    /// Consecutive 5xx/connect failures that eject an origin (default 5).
    pub consecutive_failures: u32,
    /// First ejection period (default 30 s).
    pub base_ejection: Duration,
    /// Longest ejection period (default 300 s).
    pub max_ejection: Duration,
}

impl Default for OutlierSettings {
    fn default() -> Self {
        OutlierSettings {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
        }
    }
}

/// A validated `marketplace_source` document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketplaceConfig {
    /// Routing mode.
    pub mode: Mode,
    /// Git origin base URL (always ends with `/`).
    pub git_url: Option<Url>,
    /// CDN origin base URL (always ends with `/`).
    pub cdn_url: Option<Url>,
    /// Whether active health checks run and unhealthy origins are routed around.
    pub health_check_enabled: bool,
    /// Whether requests fail over to the other origin on errors and rate limits.
    pub fallback_on_error: bool,
    /// Active health-check settings.
    pub health_check: HealthCheckSettings,
    /// Passive outlier detection settings.
    pub outlier_detection: OutlierSettings,
    /// Document version; a document older than the one in use is refused.
    pub version: u64,
}

/// Why a document was refused. Every variant names the offending field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The bytes are not a JSON object of the expected field types.
    #[error("config document is not valid JSON for this schema: {0}")]
    Json(String),
    /// A required field is absent.
    #[error("field `{field}` is required: {why}")]
    Missing {
        /// The field's name in the document.
        field: &'static str,
        /// Why it is required here.
        why: &'static str,
    },
    /// A field has a value outside what is allowed.
    #[error("field `{field}` is invalid: {why}")]
    Invalid {
        /// The field's name in the document.
        field: &'static str,
        /// What is wrong with it.
        why: String,
    },
}

impl ConfigError {
    /// The document field the error is about (`None` for a JSON syntax error).
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Json(_) => None,
            ConfigError::Missing { field, .. } | ConfigError::Invalid { field, .. } => Some(field),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    #[serde(rename = "type")]
    mode: Option<String>,
    priority: Option<Vec<String>>,
    git_url: Option<String>,
    cdn_url: Option<String>,
    cloudflare_url: Option<String>,
    canary_percent: Option<f64>,
    health_check_enabled: Option<bool>,
    fallback_on_error: Option<bool>,
    health_check: Option<RawHealth>,
    outlier_detection: Option<RawOutlier>,
    version: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawHealth {
    interval_secs: Option<f64>,
    timeout_ms: Option<u64>,
    healthy_threshold: Option<u32>,
    unhealthy_threshold: Option<u32>,
    path: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOutlier {
    consecutive_failures: Option<u32>,
    base_ejection_secs: Option<f64>,
    max_ejection_secs: Option<f64>,
}

fn parse_origin_url(field: &'static str, s: &str) -> Result<Url, ConfigError> {
    let mut url = Url::parse(s).map_err(|e| ConfigError::Invalid {
        field,
        why: format!("not a URL ({e})"),
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(ConfigError::Invalid {
            field,
            why: format!("scheme `{}` is not http or https", url.scheme()),
        });
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::Invalid {
            field,
            why: "no host".into(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::Invalid {
            field,
            why: "credentials in the URL are not allowed".into(),
        });
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::Invalid {
            field,
            why: "a base URL takes no query or fragment".into(),
        });
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn secs(field: &'static str, v: f64, min: f64, max: f64) -> Result<Duration, ConfigError> {
    if !v.is_finite() || v < min || v > max {
        return Err(ConfigError::Invalid {
            field,
            why: format!("{v} is outside {min}..={max} seconds"),
        });
    }
    Ok(Duration::from_secs_f64(v))
}

fn at_least_one(field: &'static str, v: u32) -> Result<u32, ConfigError> {
    if v == 0 {
        return Err(ConfigError::Invalid {
            field,
            why: "must be at least 1".into(),
        });
    }
    Ok(v)
}

impl MarketplaceConfig {
    /// Parses and validates a document from JSON bytes.
    ///
    /// # Errors
    /// [`ConfigError::Json`] for malformed JSON or wrong field types; [`ConfigError::Missing`]
    /// when a mode lacks the URL it needs (`gitUrl` for `git`, `hybrid`, `canary`; `cdnUrl` for
    /// `cdn`, `hybrid`, `canary`) or `canary` lacks `canaryPercent`; [`ConfigError::Invalid`] for
    /// an unknown mode, a non-http(s) URL, a percent outside 0–100, a zero threshold.
    ///
    /// # Examples
    /// ```
    /// use sourcegate::config::{MarketplaceConfig, Mode};
    /// let c = MarketplaceConfig::from_json_slice(
    ///     br#"{"type":"canary","canaryPercent":10,"gitUrl":"https://g.example/r","cdnUrl":"https://c.example"}"#,
    /// ).unwrap();
    /// assert_eq!(c.mode, Mode::Canary { threshold_bp: 1000 });
    /// assert_eq!(c.git_url.unwrap().as_str(), "https://g.example/r/");
    /// ```
    pub fn from_json_slice(bytes: &[u8]) -> Result<MarketplaceConfig, ConfigError> {
        let raw: RawConfig =
            serde_json::from_slice(bytes).map_err(|e| ConfigError::Json(e.to_string()))?;
        Self::from_raw(raw)
    }

    /// Parses and validates a document from a JSON value (see [`Self::from_json_slice`]).
    ///
    /// # Errors
    /// As [`Self::from_json_slice`].
    pub fn from_value(value: &serde_json::Value) -> Result<MarketplaceConfig, ConfigError> {
        let raw = RawConfig::deserialize(value).map_err(|e| ConfigError::Json(e.to_string()))?;
        Self::from_raw(raw)
    }

    /// The built-in default: Git mode on `git_url`, the seed's rule for "no config at all".
    pub fn default_git(git_url: Url) -> MarketplaceConfig {
        MarketplaceConfig {
            mode: Mode::Git,
            git_url: Some(git_url),
            cdn_url: None,
            health_check_enabled: true,
            fallback_on_error: true,
            health_check: HealthCheckSettings::default(),
            outlier_detection: OutlierSettings::default(),
            version: 0,
        }
    }

    /// The base URL of `kind`, if the document has one.
    pub fn origin_url(&self, kind: OriginKind) -> Option<&Url> {
        match kind {
            OriginKind::Git => self.git_url.as_ref(),
            OriginKind::Cdn => self.cdn_url.as_ref(),
        }
    }

    /// Renders the document back to its JSON shape (camelCase, `type` names the mode), so
    /// it can be persisted or shown; parsing the result gives an equal config.
    pub fn to_document(&self) -> serde_json::Value {
        let mut doc = serde_json::Map::new();
        let (ty, priority) = match self.mode {
            Mode::Git => ("git", vec!["git", "cdn"]),
            Mode::Cdn => ("cdn", vec!["cdn", "git"]),
            Mode::Hybrid { first } => ("hybrid", vec![first.as_str(), first.other().as_str()]),
            Mode::Canary { .. } => ("canary", vec!["cdn", "git"]),
        };
        doc.insert("type".into(), ty.into());
        doc.insert("priority".into(), priority.into());
        if let Some(u) = &self.git_url {
            doc.insert("gitUrl".into(), u.as_str().into());
        }
        if let Some(u) = &self.cdn_url {
            doc.insert("cdnUrl".into(), u.as_str().into());
        }
        if let Mode::Canary { threshold_bp } = self.mode {
            doc.insert(
                "canaryPercent".into(),
                serde_json::json!(f64::from(threshold_bp) / 100.0),
            );
        }
        doc.insert(
            "healthCheckEnabled".into(),
            self.health_check_enabled.into(),
        );
        doc.insert("fallbackOnError".into(), self.fallback_on_error.into());
        let h = &self.health_check;
        doc.insert(
            "healthCheck".into(),
            serde_json::json!({
                "intervalSecs": h.interval.as_secs_f64(),
                "timeoutMs": u64::try_from(h.timeout.as_millis()).unwrap_or(u64::MAX),
                "healthyThreshold": h.healthy_threshold,
                "unhealthyThreshold": h.unhealthy_threshold,
                "path": h.path,
            }),
        );
        let o = &self.outlier_detection;
        doc.insert(
            "outlierDetection".into(),
            serde_json::json!({
                "consecutiveFailures": o.consecutive_failures,
                "baseEjectionSecs": o.base_ejection.as_secs_f64(),
                "maxEjectionSecs": o.max_ejection.as_secs_f64(),
            }),
        );
        doc.insert("version".into(), self.version.into());
        serde_json::Value::Object(doc)
    }

    fn from_raw(raw: RawConfig) -> Result<MarketplaceConfig, ConfigError> {
        let ty = raw.mode.as_deref().ok_or(ConfigError::Missing {
            field: "type",
            why: "the routing mode: git, cdn, cloudflare, hybrid or canary",
        })?;
        let priority = match &raw.priority {
            None => None,
            Some(list) => {
                let mut kinds = Vec::with_capacity(list.len());
                for name in list {
                    let kind = OriginKind::parse(name).ok_or_else(|| ConfigError::Invalid {
                        field: "priority",
                        why: format!("unknown origin `{name}` (expected git, cdn or cloudflare)"),
                    })?;
                    kinds.push(kind);
                }
                Some(kinds)
            }
        };
        let mode = match ty {
            "git" => Mode::Git,
            "cdn" | "cloudflare" => Mode::Cdn,
            "hybrid" => Mode::Hybrid {
                first: priority
                    .as_ref()
                    .and_then(|p| p.first().copied())
                    .unwrap_or(OriginKind::Cdn),
            },
            "canary" => {
                let p = raw.canary_percent.ok_or(ConfigError::Missing {
                    field: "canaryPercent",
                    why: "canary mode needs the share of installs sent to the CDN (0-100)",
                })?;
                if !p.is_finite() || !(0.0..=100.0).contains(&p) {
                    return Err(ConfigError::Invalid {
                        field: "canaryPercent",
                        why: format!("{p} is outside 0..=100"),
                    });
                }
                // Percent to basis points; 0.0..=100.0 maps into 0..=10_000, so the cast is exact.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let threshold_bp = (p * 100.0).round() as u32;
                Mode::Canary { threshold_bp }
            }
            other => {
                return Err(ConfigError::Invalid {
                    field: "type",
                    why: format!(
                        "unknown mode `{other}` (expected git, cdn, cloudflare, hybrid or canary)"
                    ),
                });
            }
        };
        let git_url = raw
            .git_url
            .as_deref()
            .map(|s| parse_origin_url("gitUrl", s))
            .transpose()?;
        let cdn_field = if raw.cdn_url.is_some() {
            "cdnUrl"
        } else {
            "cloudflareUrl"
        };
        let cdn_url = raw
            .cdn_url
            .as_deref()
            .or(raw.cloudflare_url.as_deref())
            .map(|s| parse_origin_url(cdn_field, s))
            .transpose()?;
        let needs_git = !matches!(mode, Mode::Cdn);
        let needs_cdn = !matches!(mode, Mode::Git);
        if needs_git && git_url.is_none() {
            return Err(ConfigError::Missing {
                field: "gitUrl",
                why: "this mode routes requests to the Git origin",
            });
        }
        if needs_cdn && cdn_url.is_none() {
            return Err(ConfigError::Missing {
                field: "cdnUrl",
                why: "this mode routes requests to the CDN origin (`cloudflareUrl` is accepted too)",
            });
        }
        let mut health_check = HealthCheckSettings::default();
        if let Some(h) = raw.health_check {
            if let Some(v) = h.interval_secs {
                health_check.interval = secs("healthCheck.intervalSecs", v, 0.01, 86_400.0)?;
            }
            if let Some(v) = h.timeout_ms {
                if v == 0 || v > 600_000 {
                    return Err(ConfigError::Invalid {
                        field: "healthCheck.timeoutMs",
                        why: format!("{v} is outside 1..=600000 ms"),
                    });
                }
                health_check.timeout = Duration::from_millis(v);
            }
            if let Some(v) = h.healthy_threshold {
                health_check.healthy_threshold = at_least_one("healthCheck.healthyThreshold", v)?;
            }
            if let Some(v) = h.unhealthy_threshold {
                health_check.unhealthy_threshold =
                    at_least_one("healthCheck.unhealthyThreshold", v)?;
            }
            if let Some(p) = h.path {
                if p.contains("://") || p.starts_with("//") {
                    return Err(ConfigError::Invalid {
                        field: "healthCheck.path",
                        why: "must be a relative path".into(),
                    });
                }
                health_check.path = p;
            }
        }
        let mut outlier_detection = OutlierSettings::default();
        if let Some(o) = raw.outlier_detection {
            if let Some(v) = o.consecutive_failures {
                outlier_detection.consecutive_failures =
                    at_least_one("outlierDetection.consecutiveFailures", v)?;
            }
            if let Some(v) = o.base_ejection_secs {
                outlier_detection.base_ejection =
                    secs("outlierDetection.baseEjectionSecs", v, 0.0, 86_400.0)?;
            }
            if let Some(v) = o.max_ejection_secs {
                outlier_detection.max_ejection =
                    secs("outlierDetection.maxEjectionSecs", v, 0.0, 86_400.0)?;
            }
            if outlier_detection.max_ejection < outlier_detection.base_ejection {
                return Err(ConfigError::Invalid {
                    field: "outlierDetection.maxEjectionSecs",
                    why: "must not be less than baseEjectionSecs".into(),
                });
            }
        }
        Ok(MarketplaceConfig {
            mode,
            git_url,
            cdn_url,
            health_check_enabled: raw.health_check_enabled.unwrap_or(true),
            fallback_on_error: raw.fallback_on_error.unwrap_or(true),
            health_check,
            outlier_detection,
            version: raw.version.unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_seed_shape() {
        let c = MarketplaceConfig::from_json_slice(
            br#"{"type":"cloudflare","priority":["cloudflare"],"cloudflareUrl":"https://marketplace.cartae.com","healthCheckEnabled":true,"fallbackOnError":true}"#,
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Cdn);
        assert_eq!(
            c.cdn_url.unwrap().as_str(),
            "https://marketplace.cartae.com/"
        );
        assert_eq!(c.version, 0);
    }

    #[test]
    fn hybrid_order_follows_priority() {
        let git_first = MarketplaceConfig::from_json_slice(
            br#"{"type":"hybrid","priority":["git","cloudflare"],"gitUrl":"https://g/","cdnUrl":"https://c/"}"#,
        )
        .unwrap();
        assert_eq!(
            git_first.mode,
            Mode::Hybrid {
                first: OriginKind::Git
            }
        );
        let default = MarketplaceConfig::from_json_slice(
            br#"{"type":"hybrid","gitUrl":"https://g/","cdnUrl":"https://c/"}"#,
        )
        .unwrap();
        assert_eq!(
            default.mode,
            Mode::Hybrid {
                first: OriginKind::Cdn
            }
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (br#"{"type":"cdn"}"#, Some("cdnUrl")),
            (br#"{"type":"git"}"#, Some("gitUrl")),
            (
                br#"{"type":"git","gitUrl":"ftp://x/"}"#,
                Some("gitUrl"),
            ),
            (
                br#"{"type":"canary","gitUrl":"https://g","cdnUrl":"https://c","canaryPercent":101}"#,
                Some("canaryPercent"),
            ),
            (
                br#"{"type":"canary","gitUrl":"https://g","cdnUrl":"https://c"}"#,
                Some("canaryPercent"),
            ),
            (br#"{"type":"s3"}"#, Some("type")),
            (br#"{"gitUrl":"https://g"}"#, Some("type")),
            (
                br#"{"type":"hybrid","priority":["ipfs"],"gitUrl":"https://g","cdnUrl":"https://c"}"#,
                Some("priority"),
            ),
            (br#"not json"#, None),
            (br#"{"type":"git","gitUrl":42}"#, None),
        ];
        for (doc, field) in cases {
            let err = MarketplaceConfig::from_json_slice(doc).unwrap_err();
            assert_eq!(err.field(), *field, "{}", String::from_utf8_lossy(doc));
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let c = MarketplaceConfig::from_json_slice(
            br#"{"type":"git","gitUrl":"https://g/","futureField":{"x":1},"version":7}"#,
        )
        .unwrap();
        assert_eq!(c.version, 7);
    }

    #[test]
    fn fractional_percent_is_basis_points() {
        let c = MarketplaceConfig::from_json_slice(
            br#"{"type":"canary","canaryPercent":12.34,"gitUrl":"https://g","cdnUrl":"https://c"}"#,
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Canary { threshold_bp: 1234 });
    }

    #[test]
    fn document_round_trips() {
        let c = MarketplaceConfig::from_json_slice(
            br#"{"type":"canary","canaryPercent":10,"gitUrl":"https://g/x","cdnUrl":"https://c","version":3,
                 "healthCheck":{"intervalSecs":5,"timeoutMs":250,"healthyThreshold":2,"unhealthyThreshold":4,"path":"ping"}}"#,
        )
        .unwrap();
        let again = MarketplaceConfig::from_value(&c.to_document()).unwrap();
        assert_eq!(c, again);
    }
}
