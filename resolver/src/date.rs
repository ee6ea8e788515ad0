//! The one date format the resolver writes: RFC 3339 in UTC with milliseconds
//! (`2026-12-04T21:25:11.123Z`), as the control plane writes its own dates.
//!
//! HTTP dates (RFC 9110 §5.6.7) stay on the wire only: `Retry-After` is read as one in
//! [`crate::ratelimit`], and the resolver never writes one into its own output.

use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};

/// `t` as an RFC 3339 timestamp in UTC, with milliseconds and a `Z` suffix.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn writes_utc_with_milliseconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_883_511_123);
        assert_eq!(rfc3339(t), "2025-12-04T21:25:11.123Z");
        assert!(DateTime::parse_from_rfc3339(&rfc3339(SystemTime::now())).is_ok());
    }
}
