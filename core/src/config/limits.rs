//! The figures every `marketplace_source` document must meet (see [`super`]).

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
/// Most paths an `integrity` object may hold.
pub const MAX_INTEGRITY_ENTRIES: usize = 64;
/// Longest path of an `integrity` object, bytes.
pub const MAX_INTEGRITY_PATH_BYTES: usize = 1024;
/// Largest `integrity.size`, bytes: 32 MiB, the default body size cap of
/// the resolver's `ResolverBuilder::max_body_bytes` (a larger body is refused before it is checked).
pub const MAX_INTEGRITY_SIZE: u64 = 32 << 20;
