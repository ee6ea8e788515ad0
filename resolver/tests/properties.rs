//! Property tests: the document parser never panics and round-trips what it accepts; canary
//! bucketing is stable and monotone in the percent.

use proptest::prelude::*;
use serde_json::{Value, json};
use sourcegate::bucket::{BUCKETS, bucket_of};
use sourcegate::config::MarketplaceConfig;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-zA-Z:/.0-9]{0,24}".prop_map(Value::from),
        prop_oneof![
            Just("git"),
            Just("cdn"),
            Just("cloudflare"),
            Just("hybrid"),
            Just("canary"),
            Just("https://g.example/"),
            Just("http://c.example/x")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_string()),
                    Just("gitUrl".to_string()),
                    Just("cdnUrl".to_string()),
                    Just("cloudflareUrl".to_string()),
                    Just("canaryPercent".to_string()),
                    Just("priority".to_string()),
                    Just("version".to_string()),
                    Just("healthCheck".to_string()),
                    Just("intervalSecs".to_string()),
                    "[a-z]{1,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parser_never_panics_and_accepted_documents_round_trip(v in json_value()) {
        if let Ok(c) = MarketplaceConfig::from_value(&v) {
            let again = MarketplaceConfig::from_value(&c.to_document()).unwrap();
            prop_assert_eq!(c, again);
        }
    }

    #[test]
    fn parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = MarketplaceConfig::from_json_slice(&bytes);
    }

    #[test]
    fn valid_canary_documents_are_accepted(p in 0.0f64..=100.0, v in any::<u32>()) {
        let doc = json!({"type": "canary", "canaryPercent": p, "gitUrl": "https://g/", "cdnUrl": "https://c/", "version": v});
        let c = MarketplaceConfig::from_value(&doc).unwrap();
        prop_assert_eq!(c.version, u64::from(v));
    }

    #[test]
    fn buckets_are_stable_in_range_and_monotone(id in ".{0,40}", a in 0u32..=10_000, b in 0u32..=10_000) {
        let bucket = bucket_of(&id);
        prop_assert!(bucket.0 < BUCKETS);
        prop_assert_eq!(bucket, bucket_of(&id));
        let (lo, hi) = (a.min(b), a.max(b));
        // Raising the percent never moves an install back from the CDN to Git.
        prop_assert!(!bucket.in_canary(lo) || bucket.in_canary(hi));
    }
}
