//! Reading rate-limit signals from origin responses.
//!
//! Rules (sources: RFC 9110 §10.2.3 and GitHub's "Rate limits for the REST API" page,
//! <https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api>):
//! - A `429`, or a `403` from a Git origin, means "rate limited" (GitHub answers either; its raw
//!   host sends 429 without rate-limit headers).
//! - The wait is `Retry-After` (delay-seconds or HTTP-date, RFC 9110 §10.2.3), else
//!   `x-ratelimit-reset` (UTC epoch seconds, GitHub's REST API), else at least 60 s with up to
//!   +25 % jitter; always capped at 30 minutes (GitHub: "our timeout is 30 minutes").

use std::time::{Duration, SystemTime};

use http::HeaderMap;

use crate::config::OriginKind;

/// Wait when an origin rate-limits without saying for how long (GitHub's "at least one minute").
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(60);

/// Longest wait honoured, whatever the origin says (30 minutes).
pub const MAX_COOLDOWN: Duration = Duration::from_secs(30 * 60);

/// Whether `status` from an origin of `kind` is a rate-limit answer.
pub fn is_rate_limited(kind: OriginKind, status: u16) -> bool {
    status == 429 || (status == 403 && kind == OriginKind::Git)
}

/// How long an origin asked us to stay away, from its headers, before jitter and capping.
///
/// Reads `Retry-After` (seconds or HTTP-date) first, then `x-ratelimit-reset` (epoch seconds).
/// `now` is the wall clock used for the absolute forms. `None` when neither header is usable.
pub fn requested_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(wait) = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now))
    {
        return Some(wait);
    }
    headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_ratelimit_reset(v, now))
}

/// The wait a `Retry-After` value asks for: delay-seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, RFC 9110 §10.2.3), surrounding whitespace ignored.
///
/// `now` is the wall clock the HTTP-date form is measured from; a date in the past gives
/// [`Duration::ZERO`]. `None` when the value is neither form. No capping (see [`cooldown`]).
///
/// # Examples
/// ```
/// use std::time::{Duration, SystemTime};
/// use sourcegate_core::ratelimit::parse_retry_after;
/// assert_eq!(parse_retry_after(" 120 ", SystemTime::now()), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after("soon", SystemTime::now()), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait an `x-ratelimit-reset` value asks for: the reset time in UTC epoch seconds
/// (GitHub's REST API), minus `now`; a time in the past gives [`Duration::ZERO`].
///
/// `None` when the value (surrounding whitespace ignored) is not an unsigned integer, or is a
/// time the platform clock cannot represent. No capping (see [`cooldown`]).
///
/// # Examples
/// ```
/// use std::time::{Duration, SystemTime};
/// use sourcegate_core::ratelimit::parse_ratelimit_reset;
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// assert_eq!(parse_ratelimit_reset("1700000300", now), Some(Duration::from_secs(300)));
/// assert_eq!(parse_ratelimit_reset("-1", now), None);
/// ```
pub fn parse_ratelimit_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let reset = value.trim().parse::<u64>().ok()?;
    // `checked_add`: a reset past what `SystemTime` holds (here from 2^63 s) is refused rather
    // than panicking (found by `fuzz/fuzz_targets/ratelimit.rs`).
    let at = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(reset))?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The cooldown to apply: the origin's requested wait (capped at [`MAX_COOLDOWN`]), or
/// [`DEFAULT_COOLDOWN`] plus `jitter` (a fraction in `0.0..1.0` of 25 % of it) when it gave none.
/// An explicit `Retry-After: 0` still yields a one-second cooldown so a storm cannot start.
pub fn cooldown(requested: Option<Duration>, jitter: f64) -> Duration {
    match requested {
        Some(d) => d.clamp(Duration::from_secs(1), MAX_COOLDOWN),
        None => DEFAULT_COOLDOWN.mul_f64(1.0 + 0.25 * jitter.clamp(0.0, 1.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn retry_after_seconds_and_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("120"));
        assert_eq!(requested_wait(&h, now), Some(Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        h.insert("retry-after", HeaderValue::from_str(&later).unwrap());
        assert_eq!(requested_wait(&h, now), Some(Duration::from_secs(90)));
    }

    #[test]
    fn ratelimit_reset_header() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1700000300"));
        assert_eq!(requested_wait(&h, now), Some(Duration::from_secs(300)));
    }

    /// Fuzz regression (`fuzz/corpus/ratelimit/crash-reset-overflow`): a reset beyond what
    /// `SystemTime` can hold panicked with "overflow when adding duration to `SystemTime`".
    #[test]
    fn ratelimit_reset_beyond_the_clock_is_ignored() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for v in ["9223372036854775808", "18446744073709551615"] {
            assert_eq!(parse_ratelimit_reset(v, now), None, "{v}");
            let mut h = HeaderMap::new();
            h.insert("x-ratelimit-reset", HeaderValue::from_static(v));
            assert_eq!(requested_wait(&h, now), None, "{v}");
            assert_eq!(cooldown(requested_wait(&h, now), 0.0), DEFAULT_COOLDOWN);
        }
        // As in the crashing input: an unparsable Retry-After, then the huge reset.
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("S,uvaAdy, 07:28:00 GM"),
        );
        h.insert(
            "x-ratelimit-reset",
            HeaderValue::from_static("9223372036854775808"),
        );
        assert_eq!(requested_wait(&h, now), None);
    }

    #[test]
    fn cooldown_defaults_and_caps() {
        assert_eq!(cooldown(None, 0.0), Duration::from_secs(60));
        assert_eq!(cooldown(None, 1.0), Duration::from_secs(75));
        assert_eq!(cooldown(Some(Duration::from_secs(7200)), 0.5), MAX_COOLDOWN);
        assert_eq!(cooldown(Some(Duration::ZERO), 0.5), Duration::from_secs(1));
    }

    #[test]
    fn which_statuses_are_rate_limits() {
        assert!(is_rate_limited(OriginKind::Git, 429));
        assert!(is_rate_limited(OriginKind::Git, 403));
        assert!(is_rate_limited(OriginKind::Cdn, 429));
        assert!(!is_rate_limited(OriginKind::Cdn, 403));
        assert!(!is_rate_limited(OriginKind::Git, 503));
    }
}
