//! Unit tests of the document model, validation and write rules.

use super::write::numeric_text_len;
use super::*;

#[test]
fn accepts_the_seed_shape() {
    let c = MarketplaceConfig::from_json_slice(
        br#"{"type":"cloudflare","priority":["cloudflare"],"cloudflareUrl":"https://marketplace.cartae.com","healthCheckEnabled":true,"fallbackOnError":true}"#,
    )
    .unwrap();
    assert_eq!(c.mode, Mode::Cdn);
    assert_eq!(
        c.cdn_url.unwrap().as_str(),
        "https://marketplace.cartae.com/"
    );
    assert_eq!(c.version, 0);
}

#[test]
fn hybrid_order_follows_priority() {
    let git_first = MarketplaceConfig::from_json_slice(
        br#"{"type":"hybrid","priority":["git","cloudflare"],"gitUrl":"https://g/","cdnUrl":"https://c/"}"#,
    )
    .unwrap();
    assert_eq!(
        git_first.mode,
        Mode::Hybrid {
            first: OriginKind::Git
        }
    );
    let default = MarketplaceConfig::from_json_slice(
        br#"{"type":"hybrid","gitUrl":"https://g/","cdnUrl":"https://c/"}"#,
    )
    .unwrap();
    assert_eq!(
        default.mode,
        Mode::Hybrid {
            first: OriginKind::Cdn
        }
    );
}

#[test]
fn errors_name_the_field() {
    let cases: &[(&[u8], Option<&str>)] = &[
        (br#"{"type":"cdn"}"#, Some("cdnUrl")),
        (br#"{"type":"git"}"#, Some("gitUrl")),
        (br#"{"type":"git","gitUrl":"ftp://x/"}"#, Some("gitUrl")),
        (
            br#"{"type":"canary","gitUrl":"https://g","cdnUrl":"https://c","canaryPercent":101}"#,
            Some("canaryPercent"),
        ),
        (
            br#"{"type":"canary","gitUrl":"https://g","cdnUrl":"https://c"}"#,
            Some("canaryPercent"),
        ),
        (br#"{"type":"s3"}"#, Some("type")),
        (br#"{"gitUrl":"https://g"}"#, Some("type")),
        (
            br#"{"type":"hybrid","priority":["ipfs"],"gitUrl":"https://g","cdnUrl":"https://c"}"#,
            Some("priority"),
        ),
        (br#"not json"#, None),
        (br#"{"type":"git","gitUrl":42}"#, Some("gitUrl")),
        (br#"[1]"#, Some("value")),
        (
            br#"{"type":"git","gitUrl":"https://g","healthCheck":3}"#,
            Some("healthCheck"),
        ),
        (
            br#"{"type":"git","gitUrl":"https://g","version":1.5}"#,
            Some("version"),
        ),
        (
            br#"{"type":"git","gitUrl":"https://g","fallbackOnError":"yes"}"#,
            Some("fallbackOnError"),
        ),
    ];
    for (doc, field) in cases {
        let err = MarketplaceConfig::from_json_slice(doc).unwrap_err();
        assert_eq!(err.field(), *field, "{}", String::from_utf8_lossy(doc));
    }
}

#[test]
fn unknown_fields_are_ignored() {
    let c = MarketplaceConfig::from_json_slice(
        br#"{"type":"git","gitUrl":"https://g/","futureField":{"x":1},"version":7}"#,
    )
    .unwrap();
    assert_eq!(c.version, 7);
}

#[test]
fn fractional_percent_is_basis_points() {
    let c = MarketplaceConfig::from_json_slice(
        br#"{"type":"canary","canaryPercent":12.34,"gitUrl":"https://g","cdnUrl":"https://c"}"#,
    )
    .unwrap();
    assert_eq!(c.mode, Mode::Canary { threshold_bp: 1234 });
}

#[test]
fn document_round_trips() {
    let c = MarketplaceConfig::from_json_slice(
        br#"{"type":"canary","canaryPercent":10,"gitUrl":"https://g/x","cdnUrl":"https://c","version":3,
             "healthCheck":{"intervalSecs":5,"timeoutMs":250,"healthyThreshold":2,"unhealthyThreshold":4,"path":"ping"},
             "integrity":{"/community-plugins.json":{"sha256":"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=","size":0},
                          "a/t.json":{"sha256":"sha256-T1PNoYwrqgwDVLtfmj7L5e0Sq02OEbqHPC8RFhICuUU=","size":2,"note":"ignored"}}}"#,
    )
    .unwrap();
    assert_eq!(c.integrity.len(), 2);
    let again = MarketplaceConfig::from_value(&c.to_document()).unwrap();
    assert_eq!(c, again);
    assert_eq!(
        c.to_document()["integrity"]["community-plugins.json"],
        serde_json::json!({"sha256": "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "size": 0}),
        "paths normalised, entries in their one form"
    );
    // Without `integrity`, none in the document.
    let plain =
        MarketplaceConfig::from_json_slice(br#"{"type":"git","gitUrl":"https://g/"}"#).unwrap();
    assert!(plain.integrity.is_empty());
    assert!(plain.to_document().get("integrity").is_none());
    assert_eq!(
        MarketplaceConfig::from_value(&plain.to_document()).unwrap(),
        plain
    );
    // One serialisation: serde's is the document, durations in the document's units.
    let via_serde = serde_json::to_value(&c).unwrap();
    assert_eq!(via_serde, c.to_document());
    assert_eq!(via_serde["type"], "canary");
    assert_eq!(via_serde["healthCheck"]["timeoutMs"], 250);
}

fn field_of(doc: serde_json::Value) -> Option<String> {
    MarketplaceConfig::from_value(&doc)
        .err()
        .and_then(|e| e.field().map(str::to_owned))
}

#[test]
fn health_check_limits() {
    let hc = |h: serde_json::Value| {
        field_of(serde_json::json!({"type":"git","gitUrl":"https://g/","healthCheck":h}))
    };
    assert_eq!(
        hc(serde_json::json!({"intervalSecs": -1})).as_deref(),
        Some("healthCheck.intervalSecs")
    );
    assert_eq!(
        hc(serde_json::json!({"intervalSecs": 4.99})).as_deref(),
        Some("healthCheck.intervalSecs")
    );
    // The default timeout (5000 ms) is not below a 5 s interval: the interval is named.
    assert_eq!(
        hc(serde_json::json!({"intervalSecs": 5})).as_deref(),
        Some("healthCheck.intervalSecs")
    );
    assert_eq!(
        hc(serde_json::json!({"intervalSecs": 5, "timeoutMs": 4999})),
        None
    );
    assert_eq!(
        hc(serde_json::json!({"intervalSecs": 5, "timeoutMs": 5000})).as_deref(),
        Some("healthCheck.timeoutMs")
    );
    assert_eq!(
        hc(serde_json::json!({"timeoutMs": 99})).as_deref(),
        Some("healthCheck.timeoutMs")
    );
    assert_eq!(
        hc(serde_json::json!({"timeoutMs": 100.0})).as_deref(),
        Some("healthCheck.timeoutMs")
    );
    assert_eq!(
        hc(serde_json::json!({"healthyThreshold": 0})).as_deref(),
        Some("healthCheck.healthyThreshold")
    );
    assert_eq!(
        hc(serde_json::json!({"path": "a\u{202e}b"})).as_deref(),
        Some("healthCheck.path")
    );
    assert_eq!(
        hc(serde_json::json!({"intervalSecs": null, "path": "ok/path"})),
        None
    );
}

#[test]
fn origin_url_rules() {
    let git = |u: &str| field_of(serde_json::json!({"type":"git","gitUrl":u}));
    for bad in [
        "https://x y/",
        "https://x/a b",
        "ftp://x/",
        "https://user:pw@x/",
        "https://x/?q",
        "https://x/#f",
        "https://x\u{202e}/",
        "https://x/\u{7}",
        "https://bücher.example/",
        "https://x/é",
        "https://x:0/",
        "https://x:65536/",
        "https://x:/",
        "https://1.2.3.256/",
        "https://010.0.0.1/",
        "https://0x7f.1/",
        "https://2130706433/",
        "https://[::1/",
        "https://[1.2.3.4]/",
        "https://-x/",
        "https://a..b/",
        "https://x\\y/",
        "https:///x",
        "https://",
    ] {
        assert_eq!(git(bad).as_deref(), Some("gitUrl"), "{bad}");
    }
    for good in [
        "https://g",
        "HTTPS://Example.COM:8443/a/b;c=d/~e",
        "http://127.0.0.1:9/git/",
        "http://[::1]:8080/",
        "https://xn--bcher-kva.example/",
        "https://a-b.c0/%41",
    ] {
        assert_eq!(git(good), None, "{good}");
    }
    let err = MarketplaceConfig::from_value(
        &serde_json::json!({"type":"git","gitUrl":"https://bücher.example/"}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("xn--bcher-kva.example"), "{err}");
}

#[test]
fn private_hosts_are_a_write_time_rule() {
    let strict = WriteRules::default();
    let lax = WriteRules {
        allow_private_hosts: true,
    };
    for host in [
        "localhost",
        "LOCALHOST",
        "a.localhost",
        "127.0.0.1",
        "10.1.2.3",
        "172.31.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "[::1]",
        "[::]",
        "[fe80::1]",
        "[fd00::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:8.8.8.8]",
        "[64:ff9b::a00:1]",
    ] {
        let doc = serde_json::json!({"type":"git","gitUrl": format!("http://{host}:8080/")});
        let err = validate_for_write(&doc, strict).unwrap_err();
        assert_eq!(err.field(), Some("gitUrl"), "{host}");
        assert!(validate_for_write(&doc, lax).is_ok(), "{host}");
        assert!(MarketplaceConfig::from_value(&doc).is_ok(), "{host}");
    }
    for host in [
        "8.8.8.8",
        "172.32.0.1",
        "[2606:4700::1]",
        "localhost.example",
        "sub.localhostx",
    ] {
        let doc = serde_json::json!({"type":"git","gitUrl": format!("https://{host}/")});
        assert!(validate_for_write(&doc, strict).is_ok(), "{host}");
    }
}

#[test]
fn document_size_is_measured_in_postgres_text_form() {
    assert_eq!(
        document_text_len(&serde_json::json!({"a": 1, "b": [1, 2], "c": {}})),
        r#"{"a": 1, "b": [1, 2], "c": {}}"#.len()
    );
    assert_eq!(
        document_text_len(&serde_json::json!("a\"\n\u{1}é")),
        r#""a\"\n\u0001é""#.len()
    );
    assert_eq!(numeric_text_len("1e16"), 17);
    assert_eq!(numeric_text_len("1.5e-7"), "0.00000015".len());
    assert_eq!(numeric_text_len("-0.0"), 3);
    assert_eq!(numeric_text_len("-12.50"), 6);
    assert_eq!(numeric_text_len("1.25e1"), "12.5".len());
    let base = serde_json::json!({"type":"git","gitUrl":"https://g/","pad":""});
    let room = limits::MAX_DOCUMENT_BYTES - document_text_len(&base);
    let mut doc = base.clone();
    doc["pad"] = "x".repeat(room).into();
    assert_eq!(document_text_len(&doc), limits::MAX_DOCUMENT_BYTES);
    assert!(MarketplaceConfig::from_value(&doc).is_ok());
    doc["pad"] = "x".repeat(room + 1).into();
    assert_eq!(field_of(doc).as_deref(), Some("value"));
}

#[test]
fn reason_limit() {
    assert!(validate_reason(&"r".repeat(1024)).is_ok());
    assert_eq!(
        validate_reason(&"r".repeat(1025)).unwrap_err().field(),
        Some("reason")
    );
}

#[test]
fn every_mode_has_its_row() {
    let modes = [
        (Mode::Git, "git"),
        (Mode::Cdn, "cdn"),
        (
            Mode::Hybrid {
                first: OriginKind::Cdn,
            },
            "hybrid-cdn-git",
        ),
        (
            Mode::Hybrid {
                first: OriginKind::Git,
            },
            "hybrid-git-cdn",
        ),
        (Mode::Canary { threshold_bp: 10 }, "canary"),
    ];
    for (m, id) in modes {
        assert_eq!(m.info().id, id);
    }
}

/// A document is a JSON object: the sequence form that a derived `Deserialize` would also take
/// (the fields in declaration order) is refused, by both parsers (noticed while fuzzing).
#[test]
fn the_sequence_form_of_a_document_is_refused() {
    let seq = r#"["git",["git"],"https://g.example/",null,true,true]"#;
    let e = MarketplaceConfig::from_json_slice(seq.as_bytes()).unwrap_err();
    assert_eq!(e.field(), Some("value"));
    let v: serde_json::Value = serde_json::from_str(seq).unwrap();
    assert_eq!(
        MarketplaceConfig::from_value(&v).unwrap_err().field(),
        Some("value")
    );
    assert!(MarketplaceConfig::from_json_slice(b"[]").is_err());
}

#[test]
fn integrity_entries_and_their_limits() {
    use crate::config::IntegrityEntry;
    let empty = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let ig = |i: serde_json::Value| {
        field_of(serde_json::json!({"type":"git","gitUrl":"https://g/","integrity":i}))
    };
    let ok = serde_json::json!({"sha256": empty, "size": 0});
    assert_eq!(ig(serde_json::json!({"a.json": ok})), None);
    assert_eq!(ig(serde_json::json!(null)), None, "null is no integrity");
    assert_eq!(ig(serde_json::json!({})), None);
    for (i, field) in [
        (serde_json::json!([]), "integrity"),
        (serde_json::json!({"": ok}), "integrity"),
        (serde_json::json!({"/": ok}), "integrity"),
        (serde_json::json!({"//evil/x": ok}), "integrity"),
        (serde_json::json!({"a\u{7}": ok}), "integrity"),
        (serde_json::json!({"a\u{202e}b": ok}), "integrity"),
        (serde_json::json!({"a": ok, "/a": ok}), "integrity"),
        (serde_json::json!({"a": null}), "integrity"),
        (serde_json::json!({"a": "sha256-x"}), "integrity"),
        (serde_json::json!({"a": {"size": 0}}), "integrity.sha256"),
        (
            serde_json::json!({"a": {"sha256": null, "size": 0}}),
            "integrity.sha256",
        ),
        (
            serde_json::json!({"a": {"sha256": 1, "size": 0}}),
            "integrity.sha256",
        ),
        // Unpadded, base64url, non-canonical last character, 31 and 33 bytes, hex, upper case.
        (
            serde_json::json!({"a": {"sha256": empty.trim_end_matches('='), "size": 0}}),
            "integrity.sha256",
        ),
        (
            serde_json::json!({"a": {"sha256": "sha256-47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=", "size": 0}}),
            "integrity.sha256",
        ),
        (
            serde_json::json!({"a": {"sha256": "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=", "size": 0}}),
            "integrity.sha256",
        ),
        (
            serde_json::json!({"a": {"sha256": "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuA==", "size": 0}}),
            "integrity.sha256",
        ),
        (
            serde_json::json!({"a": {"sha256": "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUA", "size": 0}}),
            "integrity.sha256",
        ),
        (
            serde_json::json!({"a": {"sha256": "SHA256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "size": 0}}),
            "integrity.sha256",
        ),
        (
            serde_json::json!({"a": {"sha256": "sha384-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "size": 0}}),
            "integrity.sha256",
        ),
        (
            serde_json::json!({"a": {"sha256": empty}}),
            "integrity.size",
        ),
        (
            serde_json::json!({"a": {"sha256": empty, "size": -1}}),
            "integrity.size",
        ),
        (
            serde_json::json!({"a": {"sha256": empty, "size": 1.0}}),
            "integrity.size",
        ),
        (
            serde_json::json!({"a": {"sha256": empty, "size": "0"}}),
            "integrity.size",
        ),
        (
            serde_json::json!({"a": {"sha256": empty, "size": (32u64 << 20) + 1}}),
            "integrity.size",
        ),
    ] {
        assert_eq!(ig(i.clone()).as_deref(), Some(field), "{i}");
    }
    assert_eq!(
        ig(serde_json::json!({"a": {"sha256": empty, "size": 32u64 << 20}})),
        None
    );
    let many = |n: usize| {
        serde_json::Value::Object((0..n).map(|i| (format!("p{i}"), ok.clone())).collect())
    };
    assert_eq!(ig(many(limits::MAX_INTEGRITY_ENTRIES)), None);
    assert_eq!(
        ig(many(limits::MAX_INTEGRITY_ENTRIES + 1)).as_deref(),
        Some("integrity")
    );
    let long = |n: usize| serde_json::json!({ "x".repeat(n): ok });
    assert_eq!(ig(long(limits::MAX_INTEGRITY_PATH_BYTES)), None);
    assert_eq!(
        ig(long(limits::MAX_INTEGRITY_PATH_BYTES + 1)).as_deref(),
        Some("integrity")
    );
    // jsonb's order decides which entry is named first: the shorter key.
    assert_eq!(
        ig(serde_json::json!({"bb": {"sha256": empty}, "a": {"size": 0}})).as_deref(),
        Some("integrity.sha256")
    );
    // Lookups ignore one leading `/`, like the URL join.
    let c = MarketplaceConfig::from_value(&serde_json::json!({
        "type": "git", "gitUrl": "https://g/", "integrity": {"/a.json": ok}
    }))
    .unwrap();
    assert_eq!(c.integrity.get("a.json"), Some(&IntegrityEntry::of(b"")));
    assert_eq!(c.integrity.get("/a.json"), c.integrity.get("a.json"));
    assert_eq!(c.integrity.get("b.json"), None);
    let e = IntegrityEntry::of(b"[]");
    assert!(e.check(b"[]").is_ok());
    assert!(matches!(
        e.check(b"[ ]"),
        Err(crate::config::IntegrityError::Size {
            expected: 2,
            actual: 3
        })
    ));
    assert!(matches!(
        e.check(b"{}"),
        Err(crate::config::IntegrityError::Digest { .. })
    ));
}
