//! Parsing and validation of a document, in the order the SQL `app_private.validate_config`
//! runs its checks (so both name the same field first).

use std::time::Duration;

use url::Url;

use super::write::{document_text_len, is_private_ip};
use super::{
    ConfigError, HealthCheckSettings, MarketplaceConfig, Mode, OriginKind, OutlierSettings, limits,
};

pub(super) fn invalid(field: &'static str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        why: why.into(),
    }
}

type Obj = serde_json::Map<String, serde_json::Value>;

/// The member `key` of `obj`; `null` counts as absent, as in the SQL (`jsonb_typeof(...) <> 'null'`).
pub(super) fn member<'a>(obj: &'a Obj, key: &str) -> Option<&'a serde_json::Value> {
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
pub(super) fn opt_integer(
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
pub(super) fn is_forbidden_char(c: char) -> bool {
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
pub(super) fn validate(
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
    let integrity = super::integrity::parse(obj)?;
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
        integrity,
    })
}
