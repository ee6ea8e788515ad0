//! The registry validator (`sourcegate::registry::validate_registry`).
//!
//! Properties: no panic; an accepted body is a JSON array of exactly that many objects, each
//! with a non-empty string `id` and `repo` (checked independently with `serde_json::Value`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sourcegate::registry::validate_registry;

fuzz_target!(|data: &[u8]| {
    let Ok(n) = validate_registry(data) else {
        return;
    };
    let value: Value = serde_json::from_slice(data).expect("accepted, so valid JSON");
    let entries = value.as_array().expect("accepted, so an array");
    assert_eq!(entries.len(), n);
    for (i, e) in entries.iter().enumerate() {
        let obj = e
            .as_object()
            .unwrap_or_else(|| panic!("entry {i} accepted but not an object: {e}"));
        for field in ["id", "repo"] {
            let s = obj.get(field).and_then(Value::as_str);
            assert!(
                s.is_some_and(|s| !s.is_empty()),
                "entry {i} accepted without a non-empty string `{field}`: {e}"
            );
        }
    }
});
