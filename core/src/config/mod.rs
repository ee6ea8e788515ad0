//! The `marketplace_source` config document: its JSON shape, defaults and validation.
//!
//! The document is the `config_value` of the `app_config` row whose `config_key` is
//! `marketplace_source` (`docs/seed.md`, S2; S16: any HTTP origin may be named). This module
//! accepts the seed's exact shape
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
//! | `integrity` | per registry path, `{"sha256": "sha256-<base64>", "size": bytes}` a served body must match ([`Integrity`]) | none |
//!
//! Unknown fields are ignored, so an old app accepts a newer document; `null` counts as absent.
//! Validation is strict about what the router needs: every error names the field
//! ([`ConfigError::field`], `value` for the document as a whole), and an invalid document never
//! replaces the one in use (see `sourcegate::Resolver`).
//!
//! ## Limits (the same in SQL)
//!
//! The SQL check `app_private.validate_config` (the only one on a Supabase project) applies the
//! same rules in the same order, so both name the same field; `control-plane/tests/validator_diff.rs`
//! proves it on generated documents. Figures are in [`limits`].
//! - The document is a JSON object of at most 64 KiB in its PostgreSQL text form ([`document_text_len`]).
//! - Origin URLs (`gitUrl`, `cdnUrl`, `cloudflareUrl`): at most 2048 bytes, `http://` or
//!   `https://`, no control characters (C0, DEL, C1) or bidirectional formatting characters
//!   (U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), ASCII only (a non-ASCII host is refused with
//!   its IDNA/punycode form in the message, so what an admin confirms is what clients dial), no
//!   userinfo, no query or fragment; the host a DNS name whose last label starts with a letter,
//!   a dotted-quad IPv4 without leading zeros, or a bracketed IPv6 literal; port 1–65535; path
//!   characters from RFC 3986 `pchar` and `/`.
//! - `healthCheck.intervalSecs` 5–86400; `healthCheck.timeoutMs` an integer 100–600000 and
//!   below the interval (defaults count: `intervalSecs: 5` alone is refused, the default timeout
//!   being 5000 ms); thresholds and `outlierDetection.consecutiveFailures` integers ≥ 1;
//!   `healthCheck.path` relative, at most 1024 bytes, no control or bidi characters;
//!   `version` an integer 0–2⁵³−1; integers are JSON numbers written without fraction or exponent.
//! - `integrity`: at most 64 paths, each at most 1024 bytes with no control or bidi characters,
//!   `sha256` the W3C Subresource Integrity form of a SHA-256 (`sha256-` + 44 base64
//!   characters), `size` an integer 0–32 MiB in bytes; both required (see [`Integrity`]).
//! - Write-time only ([`validate_for_write`], the SQL unless the GUC
//!   `sourcegate.allow_private_origins` is `on`): no literal private, loopback, link-local or
//!   otherwise non-public IP host, and no `localhost`/`*.localhost`. Readers accept them, so
//!   resolvers work against loopback origins in tests and drills.
//!
//! Origin URLs are *bases*: a missing trailing `/` is added, so that joining `community-plugins.json`
//! to `https://host/repo/HEAD` gives `https://host/repo/HEAD/community-plugins.json` (RFC 3986 §5.2
//! reference resolution would otherwise drop the last segment).
//!
//! ## Files
//! - this file: the document types ([`MarketplaceConfig`], [`Mode`], [`OriginKind`], the
//!   settings) and [`ConfigError`];
//! - `validate.rs`: parsing and validation, in the SQL's check order;
//! - `write.rs`: write-time rules ([`WriteRules`], [`validate_for_write`], [`validate_reason`])
//!   and the document size measure ([`document_text_len`]);
//! - `integrity.rs`: the `integrity` object ([`Integrity`], [`IntegrityEntry`]), parsed and
//!   checked in the SQL's order;
//! - `limits.rs`: the figures ([`limits`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

mod integrity;
mod validate;
mod write;

#[doc(hidden)]
pub use integrity::sha256 as integrity_sha256;
pub use integrity::{Integrity, IntegrityEntry, IntegrityError};
pub use write::{WriteRules, document_text_len, validate_for_write, validate_reason};

use validate::validate;

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

    /// The origin's index in per-origin arrays: Git 0, CDN 1 (the order `routing::route`'s
    /// `views` take).
    #[doc(hidden)]
    pub fn index(self) -> usize {
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
#[derive(Debug, Clone, Copy, PartialEq)]
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

impl Mode {
    /// This mode's row of the wire contract's mode table ([`sourcegate_contract::MODES`]):
    /// its id, label, document `type` and `priority`.
    pub fn info(&self) -> &'static sourcegate_contract::ModeInfo {
        let id = match self {
            Mode::Git => "git",
            Mode::Cdn => "cdn",
            Mode::Hybrid {
                first: OriginKind::Cdn,
            } => "hybrid-cdn-git",
            Mode::Hybrid {
                first: OriginKind::Git,
            } => "hybrid-git-cdn",
            Mode::Canary { .. } => "canary",
        };
        // Every id above is in the table (`config::tests::every_mode_has_its_row`).
        sourcegate_contract::mode::by_id(id).unwrap_or(&sourcegate_contract::MODES[0])
    }
}

/// Active health-check settings (`healthCheck` in the document).
///
/// Healthy/unhealthy thresholds count *consecutive* results, as Envoy's `healthy_threshold` /
/// `unhealthy_threshold` and pingora's `consecutive_success` / `consecutive_failure` do.
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
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
    /// Per-path digest and size a served body must match (`integrity`; empty: no check).
    pub integrity: Integrity,
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

/// Limits every `marketplace_source` document must meet, enforced identically by
/// [`MarketplaceConfig::from_value`] (every resolver), [`validate_for_write`] (the control
/// plane) and `app_private.validate_config` in SQL (`supabase/migrations/…_validator_and_rpc_strictness.sql`,
/// the only check on a Supabase project). `control-plane/tests/validator_diff.rs` runs generated
/// documents through both and requires the same verdict and the same field.
pub mod limits;

/// A config serialises as its document ([`MarketplaceConfig::to_document`]): the one JSON
/// shape of a config, the same one [`MarketplaceConfig::from_json_slice`] reads.
impl Serialize for MarketplaceConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_document().serialize(serializer)
    }
}

impl MarketplaceConfig {
    /// Parses and validates a document from JSON bytes.
    ///
    /// # Errors
    /// [`ConfigError::Json`] for malformed JSON; [`ConfigError::Missing`] when `type` is absent,
    /// a mode lacks the URL it needs (`gitUrl` for `git`, `hybrid`, `canary`; `cdnUrl` for
    /// `cdn`, `hybrid`, `canary`), `canary` lacks `canaryPercent` or an `integrity` entry lacks
    /// `sha256` or `size` (fields `integrity.sha256`, `integrity.size`); [`ConfigError::Invalid`] for
    /// a field of the wrong JSON type, an unknown mode, a URL or figure outside the
    /// [module's limits](self#limits-the-same-in-sql) (the write-time private-host rule excepted).
    ///
    /// # Examples
    /// ```
    /// use sourcegate_core::config::{MarketplaceConfig, Mode};
    /// let c = MarketplaceConfig::from_json_slice(
    ///     br#"{"type":"canary","canaryPercent":10,"gitUrl":"https://g.example/r","cdnUrl":"https://c.example"}"#,
    /// ).unwrap();
    /// assert_eq!(c.mode, Mode::Canary { threshold_bp: 1000 });
    /// assert_eq!(c.git_url.unwrap().as_str(), "https://g.example/r/");
    /// ```
    pub fn from_json_slice(bytes: &[u8]) -> Result<MarketplaceConfig, ConfigError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ConfigError::Json(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Validates a document given as a JSON value (see [`Self::from_json_slice`]). Literal
    /// private and loopback hosts are accepted here; [`validate_for_write`] refuses them.
    ///
    /// # Errors
    /// As [`Self::from_json_slice`], never [`ConfigError::Json`].
    pub fn from_value(value: &serde_json::Value) -> Result<MarketplaceConfig, ConfigError> {
        validate(value, true)
    }

    /// The built-in default: Git mode on `git_url`, the seed's rule for "no config at all"
    /// (docs/seed.md, S3). A missing trailing `/` is added to `git_url`, as for documents.
    pub fn default_git(git_url: Url) -> MarketplaceConfig {
        MarketplaceConfig {
            mode: Mode::Git,
            git_url: Some(crate::util::as_base(git_url)),
            cdn_url: None,
            health_check_enabled: true,
            fallback_on_error: true,
            health_check: HealthCheckSettings::default(),
            outlier_detection: OutlierSettings::default(),
            version: 0,
            integrity: Integrity::default(),
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
        let mode = self.mode.info();
        doc.insert("type".into(), mode.doc_type.into());
        doc.insert("priority".into(), mode.priority.to_vec().into());
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
        if !self.integrity.is_empty() {
            doc.insert("integrity".into(), self.integrity.to_value());
        }
        serde_json::Value::Object(doc)
    }
}

#[cfg(test)]
mod tests;
