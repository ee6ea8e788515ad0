//! Write-time rules (control plane, SQL) on top of what every reader checks, the change
//! reason's limit, and the document size measure shared with the SQL.

use super::validate::{invalid, validate};
use super::{ConfigError, MarketplaceConfig, limits};

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
/// use sourcegate_core::config::{validate_for_write, WriteRules};
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
pub(super) fn numeric_text_len(s: &str) -> usize {
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
pub(super) fn is_private_ip(ip: std::net::IpAddr) -> bool {
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
