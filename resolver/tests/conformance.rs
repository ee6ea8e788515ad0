//! The routing conformance suite (`test-data/conformance/*.json`, format in its README): every
//! case's document, origin states and install id must give the expected origin order and
//! reason through [`sourcegate::routing::route`], and, where a case has a path, the expected
//! URL through a [`Resolver`] holding that document (both origins available; a static
//! provider and no health checks, so nothing leaves the process).

use std::path::PathBuf;

use serde_json::Value;
use sourcegate::bucket::bucket_of;
use sourcegate::config::MarketplaceConfig;
use sourcegate::provider::StaticProvider;
use sourcegate::routing::{OriginView, Unavailable, route};
use sourcegate::{OriginKind, Resolver};

fn suite_dir() -> PathBuf {
    // The suite is shared with the other hosts' runners; from a package without it, this test
    // has nothing to check and says so.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-data/conformance")
}

fn cases() -> Vec<Value> {
    let dir = suite_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("no conformance suite at {}", dir.display());
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        out.extend(v["cases"].as_array().unwrap().iter().cloned());
    }
    out
}

fn view(v: &Value) -> OriginView {
    let unavailable = match v["unavailable"].as_str() {
        None => None,
        Some("rateLimited") => Some(Unavailable::RateLimited),
        Some("ejected") => Some(Unavailable::Ejected),
        Some("unhealthy") => Some(Unavailable::Unhealthy),
        Some(other) => panic!("unknown unavailable state {other}"),
    };
    OriginView {
        configured: v["configured"].as_bool().unwrap_or(true),
        unavailable,
        last_failure: v["lastFailure"].as_u64().unwrap_or(0),
    }
}

#[test]
fn routes_follow_the_documented_rules() {
    let cases = cases();
    assert!(cases.len() >= 20, "the suite has {} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let name = c["name"].as_str().unwrap();
        let cfg = MarketplaceConfig::from_value(&c["document"]).unwrap();
        let bucket = bucket_of(c["installId"].as_str().unwrap());
        let r = route(
            &cfg,
            bucket,
            [view(&c["origins"]["git"]), view(&c["origins"]["cdn"])],
        );
        let order: Vec<&str> = r.candidates().iter().map(|k| k.as_str()).collect();
        let reason = serde_json::to_value(r.reason).unwrap();
        let want_order: Vec<&str> = c["expect"]["order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        if order != want_order || reason != c["expect"]["reason"] {
            failures.push(format!(
                "{name}: got {order:?} {reason}, expected {want_order:?} {}",
                c["expect"]["reason"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn resolved_urls_follow_the_documented_join() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for c in cases().iter().filter(|c| c.get("path").is_some()) {
        let name = c["name"].as_str().unwrap();
        let default: url::Url = "https://default.example.invalid/".parse().unwrap();
        let resolver = Resolver::builder(default)
            .provider(StaticProvider::Value(c["document"].clone()))
            .install_id(c["installId"].as_str().unwrap())
            .build()
            .unwrap();
        let res = resolver
            .resolve_url(c["path"].as_str().unwrap())
            .await
            .unwrap();
        let want_first = match c["expect"]["order"][0].as_str().unwrap() {
            "git" => OriginKind::Git,
            _ => OriginKind::Cdn,
        };
        if res.url.as_str() != c["expect"]["url"] || res.origin != want_first {
            failures.push(format!(
                "{name}: got {} via {}, expected {} via {want_first}",
                res.url, res.origin, c["expect"]["url"]
            ));
        }
        // The borrowing call (the C ABI's) lends the same resolution, twice in a row (the
        // second from the origin's cache of joined paths).
        for _ in 0..2 {
            let lent = resolver
                .resolve_with(c["path"].as_str().unwrap(), |r| {
                    (
                        r.url.as_str().to_owned(),
                        r.origin,
                        r.reason,
                        r.config_version,
                    )
                })
                .unwrap();
            let owned = (
                res.url.as_str().to_owned(),
                res.origin,
                res.reason,
                res.config_version,
            );
            if lent != owned {
                failures.push(format!(
                    "{name}: resolve_with lent {lent:?}, resolve gave {owned:?}"
                ));
            }
        }
        checked += 1;
    }
    assert!(checked >= 10, "{checked} URL cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
