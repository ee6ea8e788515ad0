//! Host unit tests of the exports' Rust side (the JavaScript suite in bindings/js/test runs
//! the built .wasm).

use super::*;

fn doc(kind: &str) -> String {
    json!({"type": kind, "gitUrl": "https://git.example.invalid/r/", "cdnUrl": "https://cdn.example.invalid/",
           "healthCheckEnabled": false, "version": 3})
    .to_string()
}

fn core() -> Core {
    Core::new("https://default.example.invalid/o/r/HEAD", "install-0001").unwrap()
}

#[test]
fn starts_on_the_default_git_url_and_installs_a_document() {
    let mut c = core();
    assert_eq!(
        c.resolve_url("/a.json", 0.0).unwrap(),
        "https://default.example.invalid/o/r/HEAD/a.json"
    );
    let info = c.install_doc(&doc("cdn"), None).unwrap();
    assert_eq!(info["changed"], true);
    assert_eq!(info["version"], 3);
    assert_eq!(info["mode"], "cdn");
    assert_eq!(
        c.resolve_url("a.json", 0.0).unwrap(),
        "https://cdn.example.invalid/a.json"
    );
    assert_eq!(c.bucket(), 5185, "test-data/buckets.json");
}

#[test]
fn a_429_with_retry_after_fails_over_until_the_cooldown_ends() {
    let mut c = core();
    c.install_doc(&doc("cdn"), None).unwrap();
    let t = 1_700_000_000_000.0;
    let out: Value = serde_json::from_str(
        &c.observe("cloudflare", 429, Some("120".into()), None, None, t, 0.5)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(out["rateLimited"], true);
    assert_eq!(out["cooldownMs"], 120_000.0);
    let r: Value = serde_json::from_str(&c.route("a.json", t + 1000.0).unwrap()).unwrap();
    assert_eq!(r["order"], json!(["git", "cdn"]));
    assert_eq!(r["reason"]["kind"], "failover");
    assert_eq!(
        c.resolve_url("a.json", t + 121_000.0).unwrap(),
        "https://cdn.example.invalid/a.json"
    );
}

#[test]
fn five_5xx_in_a_row_eject_the_origin() {
    let mut c = core();
    c.install_doc(&doc("git"), None).unwrap();
    for i in 0..4 {
        let out = c
            .observe("git", 503, None, None, None, f64::from(i), 0.0)
            .unwrap();
        assert!(out.contains("\"ejected\":false"), "{out}");
    }
    let out = c.observe("git", 503, None, None, None, 5.0, 0.0).unwrap();
    assert!(out.contains("\"ejected\":true"), "{out}");
    assert!(c.resolve_url("x", 6.0).unwrap().starts_with("https://cdn."));
}

#[test]
fn an_older_document_is_refused_and_nothing_changes() {
    let mut c = core();
    c.install_doc(&doc("cdn"), Some(7.0)).unwrap();
    let e = c.install_doc(&doc("git"), Some(6.0)).unwrap_err();
    assert_eq!(e.code, "stale_version");
    assert!(c.resolve_url("a", 0.0).unwrap().starts_with("https://cdn."));
    let e = c.install_doc(r#"{"type":"sideways"}"#, None).unwrap_err();
    assert_eq!(e.code, "config_invalid");
    assert_eq!(e.field.as_deref(), Some("type"));
}

#[test]
fn route_json_answers_as_the_c_abi() {
    let v = route_value(
        &json!({"document": serde_json::from_str::<Value>(&doc("git")).unwrap(), "installId": "a",
                "origins": {"git": {"unavailable": "rateLimited", "lastFailure": 10}}, "path": "p.json"})
        .to_string(),
    )
    .unwrap();
    assert_eq!(v["order"], json!(["cdn", "git"]));
    assert_eq!(
        v["reason"],
        json!({"kind": "failover", "from": "git", "cause": "rateLimited"})
    );
    assert_eq!(v["url"], "https://cdn.example.invalid/p.json");
}
