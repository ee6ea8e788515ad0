//! The options JSON of `sg_resolver_new` (`sourcegate_ffi::parse_options_json`), without the
//! unsafe C entry point.
//!
//! Properties: no panic; every refusal carries the `invalid options JSON:` prefix the C API
//! documents for `SG_STATUS_INVALID_OPTIONS`; accepted input is a JSON object (unknown fields
//! and the sequence form `[]` are refused). Acceptance is checked with `IgnoredAny`, which
//! skips any valid JSON (RFC 8259), so the check states only what the parser must guarantee.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sourcegate_ffi::parse_options_json;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    match parse_options_json(json) {
        Ok(options) => {
            assert!(serde_json::from_str::<serde::de::IgnoredAny>(json).is_ok());
            assert!(json.trim_start().starts_with('{'), "accepted a non-object: {json}");
            let _ = format!("{options:?}");
        }
        Err(message) => assert!(message.starts_with("invalid options JSON: "), "{message}"),
    }
});
