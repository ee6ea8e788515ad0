//! `Retry-After` and `x-ratelimit-reset` parsing (`sourcegate::ratelimit`).
//!
//! Properties: no panic for any header bytes and any clock; delay-seconds parse to exactly
//! that many seconds; `requested_wait` on a header map is `Retry-After` else
//! `x-ratelimit-reset`; the applied cooldown is always within 1 s..=30 min (or 60..=75 s
//! when the origin said nothing).
#![no_main]

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use sourcegate::ratelimit::{
    DEFAULT_COOLDOWN, MAX_COOLDOWN, cooldown, parse_ratelimit_reset, parse_retry_after,
    requested_wait,
};

/// The input, split from raw bytes so that seeds are easy to write (see `fuzz/README.md`):
/// byte 0 flags (bit 0: send `Retry-After`, bit 1: send `x-ratelimit-reset`), byte 1 jitter
/// (`/255`), bytes 2..10 the clock in epoch seconds (u64 LE), bytes 10..14 its nanoseconds
/// (u32 LE), then the `Retry-After` value, a `\n`, and the `x-ratelimit-reset` value.
struct Input<'a> {
    now_secs: u64,
    now_nanos: u32,
    retry_after: Option<&'a [u8]>,
    ratelimit_reset: Option<&'a [u8]>,
    jitter: f64,
}

impl<'a> Input<'a> {
    fn split(data: &'a [u8]) -> Option<Input<'a>> {
        let (head, rest) = data.split_at_checked(14)?;
        let now_secs = u64::from_le_bytes(head[2..10].try_into().ok()?);
        let now_nanos = u32::from_le_bytes(head[10..14].try_into().ok()?);
        let (retry, reset) = match rest.iter().position(|&b| b == b'\n') {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        Some(Input {
            now_secs,
            now_nanos,
            retry_after: (head[0] & 1 != 0).then_some(retry),
            ratelimit_reset: (head[0] & 2 != 0).then_some(reset),
            jitter: f64::from(head[1]) / 255.0,
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::split(data) else {
        return;
    };
    let Some(now) = SystemTime::UNIX_EPOCH.checked_add(Duration::new(
        input.now_secs,
        input.now_nanos % 1_000_000_000,
    )) else {
        return;
    };
    let mut headers = HeaderMap::new();
    let mut expect_retry = None;
    let mut expect_reset = None;
    if let Some(raw) = input.retry_after {
        if let Ok(s) = std::str::from_utf8(raw) {
            let parsed = parse_retry_after(s, now);
            if let Ok(secs) = s.trim().parse::<u64>() {
                assert_eq!(parsed, Some(Duration::from_secs(secs)), "{s:?}");
            }
        }
        if let Ok(v) = HeaderValue::from_bytes(raw) {
            expect_retry = v.to_str().ok().and_then(|s| parse_retry_after(s, now));
            headers.insert(http::header::RETRY_AFTER, v);
        }
    }
    if let Some(raw) = input.ratelimit_reset {
        if let Ok(s) = std::str::from_utf8(raw) {
            let parsed = parse_ratelimit_reset(s, now);
            if parsed.is_some() {
                assert!(s.trim().parse::<u64>().is_ok(), "{s:?}");
            }
        }
        if let Ok(v) = HeaderValue::from_bytes(raw) {
            expect_reset = v.to_str().ok().and_then(|s| parse_ratelimit_reset(s, now));
            headers.insert("x-ratelimit-reset", v);
        }
    }
    let wait = requested_wait(&headers, now);
    assert_eq!(wait, expect_retry.or(expect_reset));
    let applied = cooldown(wait, input.jitter);
    if wait.is_some() {
        assert!((Duration::from_secs(1)..=MAX_COOLDOWN).contains(&applied));
    } else {
        assert!((DEFAULT_COOLDOWN..=DEFAULT_COOLDOWN.mul_f64(1.25)).contains(&applied));
    }
});
