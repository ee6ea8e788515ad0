//! The `marketplace_source` config document parser, from structured documents.
//!
//! `arbitrary` builds JSON objects with the document's own field names and mostly plausible
//! values (modes, origin names, http/https/other URLs, numbers at and around the limits), so
//! the fuzzer spends its time in validation rather than in JSON syntax.
//!
//! Properties: no panic; `from_value` and `from_json_slice` of the same document take the same
//! decision (same config, or errors on the same field); an accepted document round-trips.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use sourcegate::config::MarketplaceConfig;

#[derive(Arbitrary, Debug)]
enum Ty {
    Git,
    Cdn,
    Cloudflare,
    Hybrid,
    Canary,
    Other(String),
    NotAString(Leaf),
}

#[derive(Arbitrary, Debug)]
enum Kind {
    Git,
    Cdn,
    Cloudflare,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Scheme {
    Http,
    Https,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum UrlIsh {
    Parts {
        scheme: Scheme,
        userinfo: Option<String>,
        host: String,
        port: Option<u16>,
        path: String,
        query: Option<String>,
    },
    Raw(String),
    NotAString(Leaf),
}

#[derive(Arbitrary, Debug)]
enum Num {
    Small(u8),
    U(u64),
    I(i64),
    F(f64),
    Frac(u16, u8),
    Str(String),
}

#[derive(Arbitrary, Debug)]
enum Leaf {
    Null,
    Bool(bool),
    Num(Num),
    Str(String),
    EmptyArray,
    EmptyObject,
}

#[derive(Arbitrary, Debug)]
struct Health {
    interval_secs: Option<Num>,
    timeout_ms: Option<Num>,
    healthy_threshold: Option<Num>,
    unhealthy_threshold: Option<Num>,
    path: Option<String>,
}

#[derive(Arbitrary, Debug)]
struct Outlier {
    consecutive_failures: Option<Num>,
    base_ejection_secs: Option<Num>,
    max_ejection_secs: Option<Num>,
}

#[derive(Arbitrary, Debug)]
struct Doc {
    ty: Option<Ty>,
    priority: Option<Vec<Kind>>,
    git_url: Option<UrlIsh>,
    cdn_url: Option<UrlIsh>,
    cloudflare_url: Option<UrlIsh>,
    canary_percent: Option<Num>,
    health_check_enabled: Option<Leaf>,
    fallback_on_error: Option<Leaf>,
    health_check: Option<Health>,
    outlier_detection: Option<Outlier>,
    version: Option<Num>,
    extra: Vec<(String, Leaf)>,
}

fn num(n: &Num) -> Value {
    match n {
        Num::Small(v) => json!(v),
        Num::U(v) => json!(v),
        Num::I(v) => json!(v),
        // NaN and infinities become `null`, as serde_json writes them.
        Num::F(v) => json!(v),
        Num::Frac(int, frac) => json!(f64::from(*int) + f64::from(*frac) / 100.0),
        Num::Str(s) => json!(s),
    }
}

fn leaf(l: &Leaf) -> Value {
    match l {
        Leaf::Null => Value::Null,
        Leaf::Bool(b) => json!(b),
        Leaf::Num(n) => num(n),
        Leaf::Str(s) => json!(s),
        Leaf::EmptyArray => json!([]),
        Leaf::EmptyObject => json!({}),
    }
}

fn url(u: &UrlIsh) -> Value {
    match u {
        UrlIsh::Parts {
            scheme,
            userinfo,
            host,
            port,
            path,
            query,
        } => {
            let scheme = match scheme {
                Scheme::Http => "http",
                Scheme::Https => "https",
                Scheme::Other(s) => s,
            };
            let mut s = format!("{scheme}://");
            if let Some(u) = userinfo {
                s.push_str(u);
                s.push('@');
            }
            s.push_str(host);
            if let Some(p) = port {
                s.push_str(&format!(":{p}"));
            }
            s.push_str(path);
            if let Some(q) = query {
                s.push('?');
                s.push_str(q);
            }
            json!(s)
        }
        UrlIsh::Raw(s) => json!(s),
        UrlIsh::NotAString(l) => leaf(l),
    }
}

fn put<T>(m: &mut Map<String, Value>, key: &str, v: &Option<T>, f: impl Fn(&T) -> Value) {
    if let Some(v) = v {
        m.insert(key.to_owned(), f(v));
    }
}

fn document(d: &Doc) -> Value {
    let mut m = Map::new();
    for (k, v) in &d.extra {
        m.insert(k.clone(), leaf(v));
    }
    put(&mut m, "type", &d.ty, |t| match t {
        Ty::Git => json!("git"),
        Ty::Cdn => json!("cdn"),
        Ty::Cloudflare => json!("cloudflare"),
        Ty::Hybrid => json!("hybrid"),
        Ty::Canary => json!("canary"),
        Ty::Other(s) => json!(s),
        Ty::NotAString(l) => leaf(l),
    });
    put(&mut m, "priority", &d.priority, |p| {
        Value::Array(
            p.iter()
                .map(|k| match k {
                    Kind::Git => json!("git"),
                    Kind::Cdn => json!("cdn"),
                    Kind::Cloudflare => json!("cloudflare"),
                    Kind::Other(s) => json!(s),
                })
                .collect(),
        )
    });
    put(&mut m, "gitUrl", &d.git_url, url);
    put(&mut m, "cdnUrl", &d.cdn_url, url);
    put(&mut m, "cloudflareUrl", &d.cloudflare_url, url);
    put(&mut m, "canaryPercent", &d.canary_percent, num);
    put(&mut m, "healthCheckEnabled", &d.health_check_enabled, leaf);
    put(&mut m, "fallbackOnError", &d.fallback_on_error, leaf);
    put(&mut m, "healthCheck", &d.health_check, |h| {
        let mut o = Map::new();
        put(&mut o, "intervalSecs", &h.interval_secs, num);
        put(&mut o, "timeoutMs", &h.timeout_ms, num);
        put(&mut o, "healthyThreshold", &h.healthy_threshold, num);
        put(&mut o, "unhealthyThreshold", &h.unhealthy_threshold, num);
        put(&mut o, "path", &h.path, |p| json!(p));
        Value::Object(o)
    });
    put(&mut m, "outlierDetection", &d.outlier_detection, |o| {
        let mut m = Map::new();
        put(&mut m, "consecutiveFailures", &o.consecutive_failures, num);
        put(&mut m, "baseEjectionSecs", &o.base_ejection_secs, num);
        put(&mut m, "maxEjectionSecs", &o.max_ejection_secs, num);
        Value::Object(m)
    });
    put(&mut m, "version", &d.version, num);
    Value::Object(m)
}

fuzz_target!(|d: Doc| {
    let doc = document(&d);
    let from_value = MarketplaceConfig::from_value(&doc);
    let bytes = serde_json::to_vec(&doc).expect("a Value always serializes");
    let from_bytes = MarketplaceConfig::from_json_slice(&bytes);
    match (&from_value, &from_bytes) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "value and bytes disagree on {doc}"),
        (Err(a), Err(b)) => assert_eq!(a.field(), b.field(), "different fields for {doc}"),
        _ => panic!("value and bytes disagree on {doc}: {from_value:?} vs {from_bytes:?}"),
    }
    if let Ok(config) = from_value {
        let rendered = config.to_document();
        let again = MarketplaceConfig::from_value(&rendered)
            .unwrap_or_else(|e| panic!("rendered document refused: {e}\n{rendered}"));
        assert_eq!(config, again, "round trip of {doc} via {rendered}");
    }
});
