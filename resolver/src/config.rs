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
//! Unknown fields are ignored, so an old app accepts a newer document; `null` counts as absent.
//! Validation is strict about what the router needs: every error names the field
//! ([`ConfigError::field`], `value` for the document as a whole), and an invalid document never
//! replaces the one in use (see [`crate::Resolver`]).
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
//! - Write-time only ([`validate_for_write`], the SQL unless the GUC
//!   `sourcegate.allow_private_origins` is `on`): no literal private, loopback, link-local or
//!   otherwise non-public IP host, and no `localhost`/`*.localhost`. Readers accept them, so
//!   resolvers work against loopback origins in tests and drills.
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

/// Limits every `marketplace_source` document must meet, enforced identically by
/// [`MarketplaceConfig::from_value`] (every resolver), [`validate_for_write`] (the control
/// plane) and `app_private.validate_config` in SQL (`supabase/migrations/…_validator_and_rpc_strictness.sql`,
/// the only check on a Supabase project). `control-plane/tests/validator_diff.rs` runs generated
/// documents through both and requires the same verdict and the same field.
pub mod limits {
    /// Largest document, in bytes of its PostgreSQL `jsonb` text form (`config_value::text`:
    /// `", "` and `": "` separators), measured by [`super::document_text_len`]: 64 KiB.
    pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
    /// Largest origin URL, bytes.
    pub const MAX_URL_BYTES: usize = 2048;
    /// Largest `healthCheck.path`, bytes.
    pub const MAX_PATH_BYTES: usize = 1024;
    /// Largest change reason (`reason` of the API, `p_reason` of `update_app_config`), bytes: 1 KiB.
    pub const MAX_REASON_BYTES: usize = 1024;
    /// Shortest `healthCheck.intervalSecs`, seconds: a fleet probing more often than every 5 s
    /// is a load test of the origin, not a health check.
    pub const MIN_INTERVAL_SECS: f64 = 5.0;
    /// Longest `healthCheck.intervalSecs`, seconds (one day).
    pub const MAX_INTERVAL_SECS: f64 = 86_400.0;
    /// Shortest `healthCheck.timeoutMs`, milliseconds.
    pub const MIN_TIMEOUT_MS: u64 = 100;
    /// Longest `healthCheck.timeoutMs`, milliseconds (10 minutes); it must also be below the interval.
    pub const MAX_TIMEOUT_MS: u64 = 600_000;
    /// Longest ejection (`outlierDetection.baseEjectionSecs` / `maxEjectionSecs`), seconds.
    pub const MAX_EJECTION_SECS: f64 = 86_400.0;
    /// Largest `version` a document may carry: 2⁵³ − 1, exact in every JSON reader.
    pub const MAX_VERSION: u64 = (1 << 53) - 1;
}

/// Rules that apply when a document is *written* (control plane, SQL), on top of the rules every
/// reader applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteRules {
    /// Accept origin URLs whose host is a literal private, loopback, link-local or otherwise
    /// non-public address, or `localhost` (tests and drills on loopback). Default `false`: a
    /// deployed control plane or Supabase project refuses them. The SQL reads the same switch
    /// from the GUC `sourcegate.allow_private_origins`.
    pub allow_private_hosts: bool,
}

/// Validates a document before it is stored: every rule of [`MarketplaceConfig::from_value`],
/// plus the write-time rule of [`WriteRules`] (no private or loopback host literals unless allowed).
///
/// # Errors
/// The first [`ConfigError`] in the document's check order (the same order as the SQL), naming the field.
///
/// # Examples
/// ```
/// use sourcegate::config::{validate_for_write, WriteRules};
/// let doc = serde_json::json!({"type": "git", "gitUrl": "http://127.0.0.1:8080/"});
/// let err = validate_for_write(&doc, WriteRules::default()).unwrap_err();
/// assert_eq!(err.field(), Some("gitUrl"));
/// assert!(validate_for_write(&doc, WriteRules { allow_private_hosts: true }).is_ok());
/// ```
pub fn validate_for_write(
    value: &serde_json::Value,
    rules: WriteRules,
) -> Result<MarketplaceConfig, ConfigError> {
    validate(value, rules.allow_private_hosts)
}

/// Checks a change reason against [`limits::MAX_REASON_BYTES`] (the SQL `update_app_config`
/// applies the same limit to `p_reason`).
///
/// # Errors
/// [`ConfigError::Invalid`] naming `reason`.
pub fn validate_reason(reason: &str) -> Result<(), ConfigError> {
    if reason.len() > limits::MAX_REASON_BYTES {
        return Err(invalid(
            "reason",
            format!(
                "{} bytes is longer than {} bytes",
                reason.len(),
                limits::MAX_REASON_BYTES
            ),
        ));
    }
    Ok(())
}

/// Length in bytes of `value`'s PostgreSQL `jsonb` text form (what `octet_length(v::text)` gives
/// for the `jsonb` PostgreSQL stores when sent `serde_json`'s serialization of `value`):
/// `{"k": v, "k2": v2}` and `[a, b]` separators, strings escaped as `escape_json` does, numbers
/// as `numeric` prints them (no exponent, no negative zero).
pub fn document_text_len(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    match value {
        Value::Null => 4,
        Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(n) => numeric_text_len(&n.to_string()),
        Value::String(s) => string_text_len(s),
        Value::Array(a) => {
            2 + a.iter().map(document_text_len).sum::<usize>() + 2 * a.len().saturating_sub(1)
        }
        Value::Object(m) => {
            2 + m
                .iter()
                .map(|(k, v)| string_text_len(k) + 2 + document_text_len(v))
                .sum::<usize>()
                + 2 * m.len().saturating_sub(1)
        }
    }
}

fn string_text_len(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
}

/// Length of PostgreSQL's `numeric` output for the JSON number literal `s` (`1e16` prints as
/// 17 digits, `1.5e-7` as `0.00000015`, `-0.0` as `0.0`).
fn numeric_text_len(s: &str) -> usize {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (body, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = format!("{int_part}{frac_part}");
    let frac_len = i64::try_from(frac_part.len()).unwrap_or(i64::MAX);
    let dscale = usize::try_from((frac_len - exp).max(0)).unwrap_or(0);
    let point = i64::try_from(int_part.len()).unwrap_or(0) + exp;
    let int_digits: String = if point <= 0 {
        String::new()
    } else {
        let p = usize::try_from(point).unwrap_or(0);
        if p <= digits.len() {
            digits[..p].to_owned()
        } else {
            format!("{digits}{}", "0".repeat(p - digits.len()))
        }
    };
    let int_len = int_digits.trim_start_matches('0').len().max(1);
    let zero = digits.bytes().all(|b| b == b'0');
    usize::from(neg && !zero) + int_len + if dscale > 0 { 1 + dscale } else { 0 }
}

fn invalid(field: &'static str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        why: why.into(),
    }
}

type Obj = serde_json::Map<String, serde_json::Value>;

/// The member `key` of `obj`; `null` counts as absent, as in the SQL (`jsonb_typeof(...) <> 'null'`).
fn member<'a>(obj: &'a Obj, key: &str) -> Option<&'a serde_json::Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn opt_str<'a>(
    obj: &'a Obj,
    key: &str,
    field: &'static str,
) -> Result<Option<&'a str>, ConfigError> {
    match member(obj, key) {
        None => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

fn opt_bool(obj: &Obj, key: &str, field: &'static str) -> Result<Option<bool>, ConfigError> {
    match member(obj, key) {
        None => Ok(None),
        Some(serde_json::Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid(field, "must be true or false")),
    }
}

fn opt_object<'a>(
    obj: &'a Obj,
    key: &str,
    field: &'static str,
) -> Result<Option<&'a Obj>, ConfigError> {
    match member(obj, key) {
        None => Ok(None),
        Some(serde_json::Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(invalid(field, "must be an object")),
    }
}

/// A number within `min..=max` (the SQL compares the same decimal text as `numeric`).
fn opt_number(
    obj: &Obj,
    key: &str,
    field: &'static str,
    min: f64,
    max: f64,
    unit: &str,
) -> Result<Option<f64>, ConfigError> {
    match member(obj, key) {
        None => Ok(None),
        Some(serde_json::Value::Number(n)) => {
            let v = n.as_f64().unwrap_or(f64::NAN);
            if !(v.is_finite() && v >= min && v <= max) {
                return Err(invalid(
                    field,
                    format!("{n} is outside {min}..={max}{unit}"),
                ));
            }
            Ok(Some(v))
        }
        Some(_) => Err(invalid(field, "must be a number")),
    }
}

/// An integer (a JSON number written without fraction or exponent) within `min..=max`.
fn opt_integer(
    obj: &Obj,
    key: &str,
    field: &'static str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, ConfigError> {
    match member(obj, key) {
        None => Ok(None),
        Some(serde_json::Value::Number(n)) => {
            if let Some(v) = n.as_u64() {
                if v < min || v > max {
                    return Err(invalid(field, format!("{v} is outside {min}..={max}")));
                }
                Ok(Some(v))
            } else if n.is_i64() {
                Err(invalid(field, format!("{n} is outside {min}..={max}")))
            } else {
                Err(invalid(field, format!("{n} is not an integer")))
            }
        }
        Some(_) => Err(invalid(field, "must be an integer")),
    }
}

/// C0 and C1 control characters, DEL, and the bidirectional formatting characters that make a
/// URL read differently from what it is (U+200E, U+200F, U+202A–U+202E, U+2066–U+2069).
fn is_forbidden_char(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// RFC 3986 `pchar` plus `/`: what a base URL's path may hold.
fn is_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@%/".contains(&b)
}

/// A dotted-quad IPv4 literal without leading zeros (WHATWG would read `010` as octal).
fn parse_ipv4(host: &str) -> Option<std::net::Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (o, p) in octets.iter_mut().zip(&parts) {
        if p.is_empty()
            || p.len() > 3
            || !p.bytes().all(|b| b.is_ascii_digit())
            || (p.len() > 1 && p.starts_with('0'))
        {
            return None;
        }
        *o = p.parse().ok()?;
    }
    Some(std::net::Ipv4Addr::from(octets))
}

/// A DNS name: LDH labels of 1–63 bytes, no leading or trailing `-`, at most 253 bytes, the last
/// label starting with a letter (so WHATWG never reads the host as a number, e.g. `0x7f.1`).
fn is_hostname(host: &str) -> bool {
    if host.is_empty() || host.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let ok = labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    });
    ok && labels
        .last()
        .is_some_and(|l| l.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()))
}

/// IPv4 networks that are not globally reachable (IANA IPv4 Special-Purpose Address Registry):
/// this network, RFC 1918, shared (CGNAT), loopback, link-local, IETF protocol assignments,
/// documentation, benchmarking, multicast, reserved and broadcast. The SQL holds the same list.
const PRIVATE_V4: &[([u8; 4], u8)] = &[
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([100, 64, 0, 0], 10),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 24),
    ([192, 0, 2, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([198, 51, 100, 0], 24),
    ([203, 0, 113, 0], 24),
    ([224, 0, 0, 0], 4),
    ([240, 0, 0, 0], 4),
];

/// IPv6 networks that are not globally reachable or embed an IPv4 address (IANA IPv6
/// Special-Purpose Address Registry): `::/96` (unspecified, loopback, IPv4-compatible),
/// IPv4-mapped, NAT64, discard-only, documentation, unique local, link-local, site-local,
/// multicast. The SQL holds the same list.
const PRIVATE_V6: &[(u128, u8)] = &[
    (0, 96),
    (0xffff_0000_0000, 96),
    (0x0064_ff9b_0000_0000_0000_0000_0000_0000, 96),
    (0x0100_0000_0000_0000_0000_0000_0000_0000, 64),
    (0x2001_0db8_0000_0000_0000_0000_0000_0000, 32),
    (0xfc00_0000_0000_0000_0000_0000_0000_0000, 7),
    (0xfe80_0000_0000_0000_0000_0000_0000_0000, 10),
    (0xfec0_0000_0000_0000_0000_0000_0000_0000, 10),
    (0xff00_0000_0000_0000_0000_0000_0000_0000, 8),
];

fn in_net(addr: u128, net: u128, prefix: u8, bits: u32) -> bool {
    let shift = bits - u32::from(prefix);
    if shift >= bits {
        return true;
    }
    (addr >> shift) == (net >> shift)
}

/// Whether `ip` is in [`PRIVATE_V4`] / [`PRIVATE_V6`].
fn is_private_ip(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(a) => PRIVATE_V4.iter().any(|(n, p)| {
            in_net(
                u128::from(u32::from(a)),
                u128::from(u32::from_be_bytes(*n)),
                *p,
                32,
            )
        }),
        std::net::IpAddr::V6(a) => PRIVATE_V6
            .iter()
            .any(|(n, p)| in_net(u128::from(a), *n, *p, 128)),
    }
}

/// Validates an origin base URL (see the module docs) and returns it with a trailing `/`.
fn check_origin_url(field: &'static str, s: &str, allow_private: bool) -> Result<Url, ConfigError> {
    if s.len() > limits::MAX_URL_BYTES {
        return Err(invalid(
            field,
            format!("longer than {} bytes", limits::MAX_URL_BYTES),
        ));
    }
    if s.chars().any(is_forbidden_char) {
        return Err(invalid(
            field,
            "control characters and bidirectional formatting characters (U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) are not allowed",
        ));
    }
    let (scheme_ok, rest) = match s.split_once("://") {
        Some((scheme, rest)) => (
            scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"),
            rest,
        ),
        None => (false, ""),
    };
    let authority = rest.split('/').next().unwrap_or("");
    if !s.is_ascii() {
        if scheme_ok && !authority.is_ascii() {
            let ascii = Url::parse(s)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned));
            return Err(invalid(
                field,
                match ascii {
                    Some(a) => {
                        format!("the host must be written in its ASCII (IDNA/punycode) form: {a}")
                    }
                    None => "the host must be written in its ASCII (IDNA/punycode) form".to_owned(),
                },
            ));
        }
        return Err(invalid(
            field,
            "non-ASCII characters must be percent-encoded",
        ));
    }
    if !scheme_ok {
        return Err(invalid(field, "must be an http:// or https:// URL"));
    }
    if s.contains(['?', '#']) {
        return Err(invalid(field, "a base URL takes no query or fragment"));
    }
    if authority.contains('@') {
        return Err(invalid(field, "credentials in the URL are not allowed"));
    }
    let path = &rest[authority.len()..];
    if !path.bytes().all(is_path_char) {
        return Err(invalid(
            field,
            "the path may only hold letters, digits and -._~!$&'()*+,;=:@%/",
        ));
    }
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        match inner.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, after)) => match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return Err(invalid(field, "malformed host")),
            },
            None => return Err(invalid(field, "malformed IPv6 host")),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(invalid(field, "no host"));
    }
    let ip: Option<std::net::IpAddr> = if authority.starts_with('[') {
        match host.parse::<std::net::Ipv6Addr>() {
            Ok(a)
                if host
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') =>
            {
                Some(a.into())
            }
            _ => return Err(invalid(field, format!("`{host}` is not an IPv6 address"))),
        }
    } else if let Some(a) = parse_ipv4(host) {
        Some(a.into())
    } else if is_hostname(host) {
        None
    } else {
        return Err(invalid(
            field,
            format!("`{host}` is not a valid host name or IPv4 address"),
        ));
    };
    if let Some(p) = port
        && !(p.len() <= 5
            && !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (1..=65_535).contains(&p.parse::<u32>().unwrap_or(0)))
    {
        return Err(invalid(field, format!("port `{p}` is not in 1..=65535")));
    }
    if !allow_private {
        let lower = host.to_ascii_lowercase();
        if lower == "localhost" || lower.ends_with(".localhost") || ip.is_some_and(is_private_ip) {
            return Err(invalid(
                field,
                format!(
                    "`{host}` is a private, loopback, link-local or otherwise non-public address (allowed only when the server allows private origins)"
                ),
            ));
        }
    }
    let mut url = Url::parse(s).map_err(|e| invalid(field, format!("not a URL ({e})")))?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn check_probe_path(p: &str) -> Result<(), ConfigError> {
    const FIELD: &str = "healthCheck.path";
    if p.len() > limits::MAX_PATH_BYTES {
        return Err(invalid(
            FIELD,
            format!("longer than {} bytes", limits::MAX_PATH_BYTES),
        ));
    }
    if p.chars().any(is_forbidden_char) {
        return Err(invalid(
            FIELD,
            "control and bidirectional formatting characters are not allowed",
        ));
    }
    if p.contains("://") || p.starts_with("//") {
        return Err(invalid(FIELD, "must be a relative path"));
    }
    Ok(())
}

/// The checks, in the order the SQL runs them (so both name the same field first).
fn validate(
    value: &serde_json::Value,
    allow_private: bool,
) -> Result<MarketplaceConfig, ConfigError> {
    let obj = value
        .as_object()
        .ok_or_else(|| invalid("value", "marketplace_source must be a JSON object"))?;
    let size = document_text_len(value);
    if size > limits::MAX_DOCUMENT_BYTES {
        return Err(invalid(
            "value",
            format!(
                "the document is {size} bytes, more than {} bytes",
                limits::MAX_DOCUMENT_BYTES
            ),
        ));
    }
    let ty = match member(obj, "type") {
        None => {
            return Err(ConfigError::Missing {
                field: "type",
                why: "the routing mode: git, cdn, cloudflare, hybrid or canary",
            });
        }
        Some(serde_json::Value::String(s)) => s.as_str(),
        Some(_) => return Err(invalid("type", "must be a string")),
    };
    if !matches!(ty, "git" | "cdn" | "cloudflare" | "hybrid" | "canary") {
        return Err(invalid(
            "type",
            format!("unknown mode `{ty}` (expected git, cdn, cloudflare, hybrid or canary)"),
        ));
    }
    let git_url = opt_str(obj, "gitUrl", "gitUrl")?
        .map(|s| check_origin_url("gitUrl", s, allow_private))
        .transpose()?;
    let cdn_url = opt_str(obj, "cdnUrl", "cdnUrl")?
        .map(|s| check_origin_url("cdnUrl", s, allow_private))
        .transpose()?;
    let cloudflare_url = opt_str(obj, "cloudflareUrl", "cloudflareUrl")?
        .map(|s| check_origin_url("cloudflareUrl", s, allow_private))
        .transpose()?;
    let cdn_url = cdn_url.or(cloudflare_url);
    if ty != "cdn" && ty != "cloudflare" && git_url.is_none() {
        return Err(ConfigError::Missing {
            field: "gitUrl",
            why: "this mode routes requests to the Git origin",
        });
    }
    if ty != "git" && cdn_url.is_none() {
        return Err(ConfigError::Missing {
            field: "cdnUrl",
            why: "this mode routes requests to the CDN origin (`cloudflareUrl` is accepted too)",
        });
    }
    if ty == "canary" && !member(obj, "canaryPercent").is_some_and(serde_json::Value::is_number) {
        return Err(ConfigError::Missing {
            field: "canaryPercent",
            why: "canary mode needs the share of installs sent to the CDN (0-100)",
        });
    }
    let percent = opt_number(obj, "canaryPercent", "canaryPercent", 0.0, 100.0, "")?;
    let priority = match member(obj, "priority") {
        None => None,
        Some(serde_json::Value::Array(list)) => {
            let mut kinds = Vec::with_capacity(list.len());
            for item in list {
                let kind = item.as_str().and_then(OriginKind::parse).ok_or_else(|| {
                    invalid(
                        "priority",
                        format!("unknown origin {item} (expected git, cdn or cloudflare)"),
                    )
                })?;
                kinds.push(kind);
            }
            Some(kinds)
        }
        Some(_) => return Err(invalid("priority", "must be an array")),
    };
    let mut health_check = HealthCheckSettings::default();
    if let Some(h) = opt_object(obj, "healthCheck", "healthCheck")? {
        let interval = opt_number(
            h,
            "intervalSecs",
            "healthCheck.intervalSecs",
            limits::MIN_INTERVAL_SECS,
            limits::MAX_INTERVAL_SECS,
            " seconds",
        )?;
        let timeout = opt_integer(
            h,
            "timeoutMs",
            "healthCheck.timeoutMs",
            limits::MIN_TIMEOUT_MS,
            limits::MAX_TIMEOUT_MS,
        )?;
        let interval_secs = interval.unwrap_or(health_check.interval.as_secs_f64());
        let timeout_ms =
            timeout.unwrap_or(u64::try_from(health_check.timeout.as_millis()).unwrap_or(u64::MAX));
        // Compared as IEEE doubles, as the SQL does (`float8`), so both agree to the last bit.
        #[allow(clippy::cast_precision_loss)] // timeout_ms <= 600_000: exact
        if (timeout_ms as f64) >= interval_secs * 1000.0 {
            return Err(invalid(
                if timeout.is_some() {
                    "healthCheck.timeoutMs"
                } else {
                    "healthCheck.intervalSecs"
                },
                format!(
                    "the probe timeout ({timeout_ms} ms) must be shorter than the interval ({interval_secs} s)"
                ),
            ));
        }
        health_check.interval = Duration::from_secs_f64(interval_secs);
        health_check.timeout = Duration::from_millis(timeout_ms);
        let max = u64::from(u32::MAX);
        if let Some(v) = opt_integer(
            h,
            "healthyThreshold",
            "healthCheck.healthyThreshold",
            1,
            max,
        )? {
            health_check.healthy_threshold = u32::try_from(v).unwrap_or(u32::MAX);
        }
        if let Some(v) = opt_integer(
            h,
            "unhealthyThreshold",
            "healthCheck.unhealthyThreshold",
            1,
            max,
        )? {
            health_check.unhealthy_threshold = u32::try_from(v).unwrap_or(u32::MAX);
        }
        if let Some(p) = opt_str(h, "path", "healthCheck.path")? {
            check_probe_path(p)?;
            health_check.path = p.to_owned();
        }
    }
    let mut outlier_detection = OutlierSettings::default();
    if let Some(o) = opt_object(obj, "outlierDetection", "outlierDetection")? {
        if let Some(v) = opt_integer(
            o,
            "consecutiveFailures",
            "outlierDetection.consecutiveFailures",
            1,
            u64::from(u32::MAX),
        )? {
            outlier_detection.consecutive_failures = u32::try_from(v).unwrap_or(u32::MAX);
        }
        let base = opt_number(
            o,
            "baseEjectionSecs",
            "outlierDetection.baseEjectionSecs",
            0.0,
            limits::MAX_EJECTION_SECS,
            " seconds",
        )?;
        let max = opt_number(
            o,
            "maxEjectionSecs",
            "outlierDetection.maxEjectionSecs",
            0.0,
            limits::MAX_EJECTION_SECS,
            " seconds",
        )?;
        let base = base.unwrap_or(outlier_detection.base_ejection.as_secs_f64());
        let max = max.unwrap_or(outlier_detection.max_ejection.as_secs_f64());
        if max < base {
            return Err(invalid(
                "outlierDetection.maxEjectionSecs",
                "must not be less than baseEjectionSecs",
            ));
        }
        outlier_detection.base_ejection = Duration::from_secs_f64(base);
        outlier_detection.max_ejection = Duration::from_secs_f64(max);
    }
    let health_check_enabled =
        opt_bool(obj, "healthCheckEnabled", "healthCheckEnabled")?.unwrap_or(true);
    let fallback_on_error = opt_bool(obj, "fallbackOnError", "fallbackOnError")?.unwrap_or(true);
    let version = opt_integer(obj, "version", "version", 0, limits::MAX_VERSION)?.unwrap_or(0);
    let mode = match ty {
        "git" => Mode::Git,
        "cdn" | "cloudflare" => Mode::Cdn,
        "hybrid" => Mode::Hybrid {
            first: priority
                .as_ref()
                .and_then(|p| p.first().copied())
                .unwrap_or(OriginKind::Cdn),
        },
        _ => {
            let p = percent.unwrap_or(0.0);
            // Percent to basis points; 0.0..=100.0 maps into 0..=10_000, so the cast is exact.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let threshold_bp = (p * 100.0).round() as u32;
            Mode::Canary { threshold_bp }
        }
    };
    Ok(MarketplaceConfig {
        mode,
        git_url,
        cdn_url,
        health_check_enabled,
        fallback_on_error,
        health_check,
        outlier_detection,
        version,
    })
}

impl MarketplaceConfig {
    /// Parses and validates a document from JSON bytes.
    ///
    /// # Errors
    /// [`ConfigError::Json`] for malformed JSON; [`ConfigError::Missing`] when `type` is absent,
    /// a mode lacks the URL it needs (`gitUrl` for `git`, `hybrid`, `canary`; `cdnUrl` for
    /// `cdn`, `hybrid`, `canary`) or `canary` lacks `canaryPercent`; [`ConfigError::Invalid`] for
    /// a field of the wrong JSON type, an unknown mode, a URL or figure outside the
    /// [module's limits](self#limits-the-same-in-sql) (the write-time private-host rule excepted).
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
            (br#"{"type":"git","gitUrl":42}"#, Some("gitUrl")),
            (br#"[1]"#, Some("value")),
            (br#"{"type":"git","gitUrl":"https://g","healthCheck":3}"#, Some("healthCheck")),
            (br#"{"type":"git","gitUrl":"https://g","version":1.5}"#, Some("version")),
            (br#"{"type":"git","gitUrl":"https://g","fallbackOnError":"yes"}"#, Some("fallbackOnError")),
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

    fn field_of(doc: serde_json::Value) -> Option<String> {
        MarketplaceConfig::from_value(&doc)
            .err()
            .and_then(|e| e.field().map(str::to_owned))
    }

    #[test]
    fn health_check_limits() {
        let hc = |h: serde_json::Value| {
            field_of(serde_json::json!({"type":"git","gitUrl":"https://g/","healthCheck":h}))
        };
        assert_eq!(
            hc(serde_json::json!({"intervalSecs": -1})).as_deref(),
            Some("healthCheck.intervalSecs")
        );
        assert_eq!(
            hc(serde_json::json!({"intervalSecs": 4.99})).as_deref(),
            Some("healthCheck.intervalSecs")
        );
        // The default timeout (5000 ms) is not below a 5 s interval: the interval is named.
        assert_eq!(
            hc(serde_json::json!({"intervalSecs": 5})).as_deref(),
            Some("healthCheck.intervalSecs")
        );
        assert_eq!(
            hc(serde_json::json!({"intervalSecs": 5, "timeoutMs": 4999})),
            None
        );
        assert_eq!(
            hc(serde_json::json!({"intervalSecs": 5, "timeoutMs": 5000})).as_deref(),
            Some("healthCheck.timeoutMs")
        );
        assert_eq!(
            hc(serde_json::json!({"timeoutMs": 99})).as_deref(),
            Some("healthCheck.timeoutMs")
        );
        assert_eq!(
            hc(serde_json::json!({"timeoutMs": 100.0})).as_deref(),
            Some("healthCheck.timeoutMs")
        );
        assert_eq!(
            hc(serde_json::json!({"healthyThreshold": 0})).as_deref(),
            Some("healthCheck.healthyThreshold")
        );
        assert_eq!(
            hc(serde_json::json!({"path": "a\u{202e}b"})).as_deref(),
            Some("healthCheck.path")
        );
        assert_eq!(
            hc(serde_json::json!({"intervalSecs": null, "path": "ok/path"})),
            None
        );
    }

    #[test]
    fn origin_url_rules() {
        let git = |u: &str| field_of(serde_json::json!({"type":"git","gitUrl":u}));
        for bad in [
            "https://x y/",
            "https://x/a b",
            "ftp://x/",
            "https://user:pw@x/",
            "https://x/?q",
            "https://x/#f",
            "https://x\u{202e}/",
            "https://x/\u{7}",
            "https://bücher.example/",
            "https://x/é",
            "https://x:0/",
            "https://x:65536/",
            "https://x:/",
            "https://1.2.3.256/",
            "https://010.0.0.1/",
            "https://0x7f.1/",
            "https://2130706433/",
            "https://[::1/",
            "https://[1.2.3.4]/",
            "https://-x/",
            "https://a..b/",
            "https://x\\y/",
            "https:///x",
            "https://",
        ] {
            assert_eq!(git(bad).as_deref(), Some("gitUrl"), "{bad}");
        }
        for good in [
            "https://g",
            "HTTPS://Example.COM:8443/a/b;c=d/~e",
            "http://127.0.0.1:9/git/",
            "http://[::1]:8080/",
            "https://xn--bcher-kva.example/",
            "https://a-b.c0/%41",
        ] {
            assert_eq!(git(good), None, "{good}");
        }
        let err = MarketplaceConfig::from_value(
            &serde_json::json!({"type":"git","gitUrl":"https://bücher.example/"}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("xn--bcher-kva.example"), "{err}");
    }

    #[test]
    fn private_hosts_are_a_write_time_rule() {
        let strict = WriteRules::default();
        let lax = WriteRules {
            allow_private_hosts: true,
        };
        for host in [
            "localhost",
            "LOCALHOST",
            "a.localhost",
            "127.0.0.1",
            "10.1.2.3",
            "172.31.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "[::1]",
            "[::]",
            "[fe80::1]",
            "[fd00::1]",
            "[::ffff:127.0.0.1]",
            "[::ffff:8.8.8.8]",
            "[64:ff9b::a00:1]",
        ] {
            let doc = serde_json::json!({"type":"git","gitUrl": format!("http://{host}:8080/")});
            let err = validate_for_write(&doc, strict).unwrap_err();
            assert_eq!(err.field(), Some("gitUrl"), "{host}");
            assert!(validate_for_write(&doc, lax).is_ok(), "{host}");
            assert!(MarketplaceConfig::from_value(&doc).is_ok(), "{host}");
        }
        for host in [
            "8.8.8.8",
            "172.32.0.1",
            "[2606:4700::1]",
            "localhost.example",
            "sub.localhostx",
        ] {
            let doc = serde_json::json!({"type":"git","gitUrl": format!("https://{host}/")});
            assert!(validate_for_write(&doc, strict).is_ok(), "{host}");
        }
    }

    #[test]
    fn document_size_is_measured_in_postgres_text_form() {
        assert_eq!(
            document_text_len(&serde_json::json!({"a": 1, "b": [1, 2], "c": {}})),
            r#"{"a": 1, "b": [1, 2], "c": {}}"#.len()
        );
        assert_eq!(
            document_text_len(&serde_json::json!("a\"\n\u{1}é")),
            r#""a\"\n\u0001é""#.len()
        );
        assert_eq!(numeric_text_len("1e16"), 17);
        assert_eq!(numeric_text_len("1.5e-7"), "0.00000015".len());
        assert_eq!(numeric_text_len("-0.0"), 3);
        assert_eq!(numeric_text_len("-12.50"), 6);
        assert_eq!(numeric_text_len("1.25e1"), "12.5".len());
        let base = serde_json::json!({"type":"git","gitUrl":"https://g/","pad":""});
        let room = limits::MAX_DOCUMENT_BYTES - document_text_len(&base);
        let mut doc = base.clone();
        doc["pad"] = "x".repeat(room).into();
        assert_eq!(document_text_len(&doc), limits::MAX_DOCUMENT_BYTES);
        assert!(MarketplaceConfig::from_value(&doc).is_ok());
        doc["pad"] = "x".repeat(room + 1).into();
        assert_eq!(field_of(doc).as_deref(), Some("value"));
    }

    #[test]
    fn reason_limit() {
        assert!(validate_reason(&"r".repeat(1024)).is_ok());
        assert_eq!(
            validate_reason(&"r".repeat(1025)).unwrap_err().field(),
            Some("reason")
        );
    }
}
