//! The `marketplace_source` config document parser, from raw bytes.
//!
//! Properties: parsing never panics; an accepted document renders back (`to_document`) to one
//! that parses to an equal config, both as a JSON value and as bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sourcegate::config::MarketplaceConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = MarketplaceConfig::from_json_slice(data) else {
        return;
    };
    let doc = config.to_document();
    let again = MarketplaceConfig::from_value(&doc)
        .unwrap_or_else(|e| panic!("rendered document refused: {e}\n{doc}"));
    assert_eq!(config, again, "value round trip of {doc}");
    let bytes = serde_json::to_vec(&doc).expect("a Value always serializes");
    let from_bytes = MarketplaceConfig::from_json_slice(&bytes)
        .unwrap_or_else(|e| panic!("rendered bytes refused: {e}\n{doc}"));
    assert_eq!(config, from_bytes, "bytes round trip of {doc}");
});
