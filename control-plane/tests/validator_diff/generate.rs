//! The documents the validator comparison feeds both validators: valid ones (public and
//! private origins, every optional field, `integrity` entries) and near-misses with one field
//! mutated ([`Mutation`], applied by [`apply`]), with the values at each limit's boundary.

use proptest::prelude::*;
use serde_json::{Value, json};
use sourcegate::config::{IntegrityEntry, document_text_len, limits};

/// Valid origin URLs with public hosts.
pub(super) const PUBLIC_URLS: &[&str] = &[
    "https://raw.githubusercontent.com/obsidianmd/obsidian-releases/HEAD/",
    "https://cdn.example.com",
    "HTTPS://Example.COM:8443/a/b;c=d/~e",
    "http://g/",
    "https://xn--bcher-kva.example/",
    "https://a-b.c0/%41/",
    "https://8.8.8.8/",
    "https://[2606:4700::1]:443/x",
    "https://172.32.0.1/",
    "https://[2001:4860:4860::8888]/",
    "https://localhost.example/",
];

/// Valid origin URLs whose host is private: they pass only with private origins allowed.
pub(super) const PRIVATE_URLS: &[&str] = &[
    "http://127.0.0.1:9/git/",
    "http://localhost:8080/",
    "http://a.localhost/",
    "http://10.0.0.1/",
    "http://172.31.255.255/",
    "http://192.168.0.1/",
    "http://169.254.169.254/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://[::1]:8080/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fd12:3456::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:8.8.8.8]/",
    "http://[64:ff9b::a00:1]/",
    "http://[2001:db8::1]/",
    "http://[ff02::1]/",
    "http://[::7f00:1]/",
];

pub(super) fn good_url() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => prop::sample::select(PUBLIC_URLS),
        1 => prop::sample::select(PRIVATE_URLS),
    ]
}

/// Near-misses: each refused for one reason.
pub(super) const BAD_URLS: &[&str] = &[
    "https://x y/",
    "https://x/a b",
    "ftp://x/",
    "https://user:pw@x/",
    "https://user@x/",
    "https://x/?q",
    "https://x/#f",
    "https://x\u{202e}/",
    "https://x/\u{200f}",
    "https://x/\u{2066}",
    "https://x/\u{7}",
    "https://x/\u{7f}",
    "https://x/\u{85}",
    "https://bücher.example/",
    "https://x/é",
    "https://x:0/",
    "https://x:65536/",
    "https://x:/",
    "https://x:8a/",
    "https://1.2.3.256/",
    "https://010.0.0.1/",
    "https://0x7f.1/",
    "https://2130706433/",
    "https://1.2.3/",
    "https://[::1/",
    "https://[1.2.3.4]/",
    "https://[::1]x/",
    "https://[]/",
    "https://[::g]/",
    "https://[1::2::3]/",
    "https://[1:2:3:4:5:6:7:8:9]/",
    "https://[::1%25eth0]/",
    "https://-x/",
    "https://x-/",
    "https://a..b/",
    "https://g./",
    "https://x\\y/",
    "https:///x",
    "https://",
    "https:",
    "//x/",
    "x",
    "",
    "https://x/<script>",
    "https://x/\"",
    "https://x/{a}",
];

pub(super) fn url() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => good_url().prop_map(str::to_owned),
        2 => prop::sample::select(BAD_URLS).prop_map(str::to_owned),
        1 => "https?://[a-z0-9.:\\[\\]@-]{0,12}(/[a-z0-9%?#. -]{0,6})?",
    ]
}

/// Numbers and other values near the limits, and values of the wrong JSON type.
pub(super) fn odd_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            json!(null),
            json!(true),
            json!("5"),
            json!([]),
            json!({}),
            json!(-1),
            json!(0),
            json!(0.0),
            json!(1),
            json!(4.999),
            json!(5),
            json!(5.0),
            json!(5.5),
            json!(99),
            json!(99.5),
            json!(100),
            json!(100.0),
            json!(101),
            json!(4999),
            json!(5000),
            json!(59_999),
            json!(60_000),
            json!(86_400),
            json!(86_400.5),
            json!(600_000),
            json!(600_001),
            json!(4_294_967_295_u64),
            json!(4_294_967_296_u64),
            json!(9_007_199_254_740_991_u64),
            json!(9_007_199_254_740_992_u64),
            json!(1e16),
            json!(1.5e-7),
            json!(-0.0),
            json!(""),
            json!("git"),
            json!("cdn"),
            json!("cloudflare"),
            json!("hybrid"),
            json!("canary"),
            json!("s3"),
            json!(["git"]),
            json!(["cdn", "git"]),
            json!(["ipfs"]),
            json!([1]),
            json!("ping"),
            json!("/health"),
            json!("//evil/"),
            json!("https://evil/"),
            json!("a\u{202e}b"),
            json!("a\nb"),
        ]),
        (0.0f64..200_000.0).prop_map(|f| json!(f)),
        (-10i64..700_000).prop_map(|i| json!(i)),
    ]
}

pub(super) fn health_check() -> impl Strategy<Value = Value> {
    (
        5.0f64..120.0,
        100u64..4_000,
        1u32..5,
        1u32..5,
        prop::option::of("[a-z/.-]{0,12}"),
    )
        .prop_map(|(interval, timeout, healthy, unhealthy, path)| {
            let mut h = json!({
                "intervalSecs": interval,
                "timeoutMs": timeout,
                "healthyThreshold": healthy,
                "unhealthyThreshold": unhealthy,
            });
            if let Some(p) = path {
                h["path"] = json!(p);
            }
            h
        })
}

/// Paths both validators accept as `integrity` keys.
pub(super) const GOOD_INTEGRITY_PATHS: &[&str] = &[
    "community-plugins.json",
    "/community-plugins.json",
    "community-css-themes.json",
    "a/b/c.json",
    "x?y=1#z",
    "é.json",
    "😀",
    " ",
    "a",
];

/// Keys refused for one reason (empty, `//`, control or bidi characters), or accepted only
/// alone (`/a` next to `a`).
pub(super) const BAD_INTEGRITY_PATHS: &[&str] = &[
    "",
    "/",
    "//",
    "//evil/x",
    "///a",
    "a\u{7}",
    "\u{1}",
    "a\u{85}",
    "a\u{202e}b",
    "a\u{2066}",
    "/a",
];

pub(super) fn integrity_path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(GOOD_INTEGRITY_PATHS).prop_map(str::to_owned),
        2 => prop::sample::select(BAD_INTEGRITY_PATHS).prop_map(str::to_owned),
        2 => "/?[a-z./]{0,6}",
        // At and around the 1024-byte limit, with and without a leading `/`.
        1 => (1022usize..=1026, any::<bool>(), prop::sample::select(vec!["x", "é"]))
            .prop_map(|(n, slash, unit)| {
                let mut p = if slash { "/".to_owned() } else { String::new() };
                while p.len() + unit.len() <= n {
                    p.push_str(unit);
                }
                p
            }),
    ]
}

/// A valid `sha256` value: the SRI form of a random digest.
pub(super) fn good_sri() -> impl Strategy<Value = String> {
    prop::array::uniform32(any::<u8>()).prop_map(|d| IntegrityEntry { sha256: d, size: 0 }.sri())
}

/// `sha256` values refused for one reason, and a last character that is canonical or not.
pub(super) fn sri_value() -> impl Strategy<Value = Value> {
    const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    prop_oneof![
        3 => good_sri().prop_map(Value::from),
        3 => (good_sri(), 0usize..64).prop_map(|(s, i)| {
            // The last digit before `=`: canonical only when its two low bits are zero.
            json!(format!("{}{}=", &s[..s.len() - 2], &B64[i..=i]))
        }),
        4 => good_sri().prop_flat_map(|s| {
            prop::sample::select(vec![
                json!(s.trim_end_matches('=')),
                json!(format!("{s}=")),
                json!(s.replace('+', "-").replace('/', "_")),
                json!(s.to_uppercase()),
                json!(s.replacen("sha256-", "sha384-", 1)),
                json!(s.replacen("sha256-", "", 1)),
                json!(s.replacen("sha256-", "sha256-A", 1)),
                json!(s[..s.len() - 4].to_owned() + "===="),
                json!(format!(" {s}")),
                json!(format!("{s}\n")),
                json!(format!("{s} sha256-x")),
                json!(1),
                json!(null),
                json!([]),
                json!(true),
            ])
        }),
    ]
}

/// `size` values at and around the limits, and of the wrong JSON type.
pub(super) fn size_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (0u64..=limits::MAX_INTEGRITY_SIZE).prop_map(Value::from),
        2 => prop::sample::select(vec![
            json!(0),
            json!(1),
            json!(2_001_888),
            json!(33_554_431),
            json!(33_554_432),
            json!(33_554_433),
            json!(-1),
            json!(1.0),
            json!(1000.0),
            json!(0.5),
            json!(1e16),
            json!(9_007_199_254_740_993_u64),
            json!("1"),
            json!(null),
            json!(true),
            json!({}),
        ]),
    ]
}

/// One `integrity` entry: valid, or one part wrong (or missing).
pub(super) fn integrity_entry() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (good_sri(), 0u64..=limits::MAX_INTEGRITY_SIZE)
            .prop_map(|(h, n)| json!({"sha256": h, "size": n})),
        5 => (sri_value(), 0u64..3_000_000).prop_map(|(h, n)| json!({"sha256": h, "size": n})),
        5 => (good_sri(), size_value()).prop_map(|(h, n)| json!({"sha256": h, "size": n})),
        2 => good_sri().prop_map(|h| json!({"sha256": h})),
        1 => size_value().prop_map(|n| json!({"size": n})),
        1 => (good_sri(), 0u64..10).prop_map(|(h, n)| json!({"sha256": h, "size": n, "note": "x"})),
        1 => prop::sample::select(vec![json!(null), json!("sha256-x"), json!([]), json!(1)]),
    ]
}

pub(super) fn integrity_map() -> impl Strategy<Value = Value> {
    prop::collection::vec((integrity_path(), integrity_entry()), 0..4)
        .prop_map(|v| Value::Object(v.into_iter().collect()))
}

/// A document that both validators should accept (when its hosts are public).
pub(super) fn valid_doc() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["git", "cdn", "cloudflare", "hybrid", "canary"]),
        good_url(),
        good_url(),
        any::<bool>(),
        0.0f64..=100.0,
        prop::option::weighted(0.7, health_check()),
        prop::option::of((1u32..10, 0.0f64..60.0, 60.0f64..600.0)),
        prop::option::of(0u64..1_000_000),
        any::<bool>(),
        prop::option::weighted(
            0.3,
            prop::collection::vec(
                (
                    prop::sample::select(GOOD_INTEGRITY_PATHS),
                    good_sri(),
                    0u64..=limits::MAX_INTEGRITY_SIZE,
                ),
                1..4,
            ),
        ),
    )
        .prop_map(|(ty, git, cdn, cloudflare, pct, hc, od, version, flags, integrity)| {
            let mut d = json!({"type": ty, "gitUrl": git});
            d[if cloudflare { "cloudflareUrl" } else { "cdnUrl" }] = json!(cdn);
            if ty == "canary" {
                d["canaryPercent"] = json!(pct);
            }
            if ty == "hybrid" {
                d["priority"] = json!(if flags { ["git", "cdn"] } else { ["cdn", "git"] });
            }
            if let Some(h) = hc {
                d["healthCheck"] = h;
            }
            if let Some((f, base, max)) = od {
                d["outlierDetection"] =
                    json!({"consecutiveFailures": f, "baseEjectionSecs": base, "maxEjectionSecs": max});
            }
            if let Some(v) = version {
                d["version"] = json!(v);
            }
            d["healthCheckEnabled"] = json!(flags);
            d["fallbackOnError"] = json!(!flags);
            if let Some(entries) = integrity {
                d["integrity"] = Value::Object(
                    entries
                        .into_iter()
                        .map(|(p, h, n)| (p.to_owned(), json!({"sha256": h, "size": n})))
                        .collect(),
                );
            }
            d
        })
}

/// Where a mutation lands.
pub(super) const PATHS: &[&[&str]] = &[
    &["type"],
    &["gitUrl"],
    &["cdnUrl"],
    &["cloudflareUrl"],
    &["canaryPercent"],
    &["priority"],
    &["healthCheck"],
    &["healthCheck", "intervalSecs"],
    &["healthCheck", "timeoutMs"],
    &["healthCheck", "healthyThreshold"],
    &["healthCheck", "unhealthyThreshold"],
    &["healthCheck", "path"],
    &["outlierDetection"],
    &["outlierDetection", "consecutiveFailures"],
    &["outlierDetection", "baseEjectionSecs"],
    &["outlierDetection", "maxEjectionSecs"],
    &["healthCheckEnabled"],
    &["fallbackOnError"],
    &["version"],
    &["integrity"],
];

/// Values at and around the limits of the field at `path` (one step inside and outside each bound).
pub(super) fn boundary(path: &[&str]) -> Vec<Value> {
    let nums = |v: &[f64]| v.iter().map(|f| json!(f)).collect::<Vec<_>>();
    let ints = |v: &[i64]| v.iter().map(|i| json!(i)).collect::<Vec<_>>();
    match path {
        ["canaryPercent"] => nums(&[-0.001, 0.0, 0.001, 99.999, 100.0, 100.001]),
        ["healthCheck", "intervalSecs"] => nums(&[
            4.0,
            4.999,
            4.999_999_999,
            5.0,
            5.000_001,
            86_399.999,
            86_400.0,
            86_400.001,
        ]),
        ["healthCheck", "timeoutMs"] => {
            let mut v = ints(&[99, 100, 101, 599_999, 600_000, 600_001, 4_999, 5_000]);
            v.extend(nums(&[100.0, 150.5]));
            v
        }
        ["healthCheck", "healthyThreshold" | "unhealthyThreshold"]
        | ["outlierDetection", "consecutiveFailures"] => {
            let mut v = ints(&[-1, 0, 1, 2, 4_294_967_295, 4_294_967_296]);
            v.push(json!(1.0));
            v
        }
        ["outlierDetection", "baseEjectionSecs" | "maxEjectionSecs"] => nums(&[
            -0.001, 0.0, 0.001, 29.999, 30.0, 300.0, 300.001, 86_400.0, 86_400.001,
        ]),
        ["version"] => {
            let mut v = ints(&[-1, 0, 1, 9_007_199_254_740_991, 9_007_199_254_740_992]);
            v.extend(nums(&[1.0, 1e16]));
            v
        }
        _ => vec![json!(null)],
    }
}

pub(super) const NUMERIC_PATHS: &[&[&str]] = &[
    &["canaryPercent"],
    &["healthCheck", "intervalSecs"],
    &["healthCheck", "timeoutMs"],
    &["healthCheck", "healthyThreshold"],
    &["healthCheck", "unhealthyThreshold"],
    &["outlierDetection", "consecutiveFailures"],
    &["outlierDetection", "baseEjectionSecs"],
    &["outlierDetection", "maxEjectionSecs"],
    &["version"],
];

#[derive(Debug, Clone)]
pub(super) enum Mutation {
    None,
    Set(&'static [&'static str], Value),
    Remove(&'static [&'static str]),
    /// `healthCheck` = `{intervalSecs, timeoutMs: intervalSecs × 1000 + delta}` (timeout vs interval).
    TimeoutVsInterval(f64, i64),
    /// `outlierDetection` = `{baseEjectionSecs: base, maxEjectionSecs: base + delta}`.
    MaxVsBase(f64, f64),
    /// Pad the document to `MAX_DOCUMENT_BYTES + delta` (text form) with `unit` repeated.
    Pad(i64, &'static str),
    NotAnObject(Value),
    /// `integrity` = this object (generated entries, valid or one part wrong).
    Integrity(Value),
    /// `integrity` with this many valid entries (the 64-entry limit).
    ManyIntegrity(usize),
}

pub(super) fn mutation() -> impl Strategy<Value = Mutation> {
    let path = prop::sample::select(PATHS);
    prop_oneof![
        2 => Just(Mutation::None),
        3 => (path.clone(), url().prop_map(Value::from)).prop_map(|(p, v)| Mutation::Set(p, v)),
        4 => (path.clone(), odd_value()).prop_map(|(p, v)| Mutation::Set(p, v)),
        6 => prop::sample::select(NUMERIC_PATHS)
            .prop_flat_map(|p| (Just(p), prop::sample::select(boundary(p))))
            .prop_map(|(p, v)| Mutation::Set(p, v)),
        2 => (prop::sample::select(vec![4.9, 5.0, 5.5, 60.0, 600.0, 600.5]), -1i64..=1)
            .prop_map(|(i, d)| Mutation::TimeoutVsInterval(i, d)),
        1 => (prop::sample::select(vec![0.0, 10.0, 30.0, 299.5, 86_400.0]), prop::sample::select(vec![-0.001, 0.0, 0.001]))
            .prop_map(|(b, d)| Mutation::MaxVsBase(b, d)),
        2 => (path, Just(())).prop_map(|(p, ())| Mutation::Remove(p)),
        2 => (-3i64..=3, prop::sample::select(vec!["x", "é", "\n", "\"", "\u{1}", "€", "\\"]))
            .prop_map(|(d, u)| Mutation::Pad(d, u)),
        1 => prop::sample::select(vec![json!([]), json!("doc"), json!(1), json!(null)])
            .prop_map(Mutation::NotAnObject),
        6 => integrity_map().prop_map(Mutation::Integrity),
        1 => (limits::MAX_INTEGRITY_ENTRIES - 2..=limits::MAX_INTEGRITY_ENTRIES + 2)
            .prop_map(Mutation::ManyIntegrity),
    ]
}

pub(super) fn apply(mut doc: Value, m: &Mutation) -> Value {
    match m {
        Mutation::None => doc,
        Mutation::Set(path, v) => {
            let (last, parents) = path.split_last().expect("non-empty path");
            let mut cur = &mut doc;
            for p in parents {
                if !cur[*p].is_object() {
                    cur[*p] = json!({});
                }
                cur = &mut cur[*p];
            }
            cur[*last] = v.clone();
            doc
        }
        Mutation::Remove(path) => {
            let (last, parents) = path.split_last().expect("non-empty path");
            let mut cur = &mut doc;
            for p in parents {
                cur = &mut cur[*p];
            }
            if let Some(o) = cur.as_object_mut() {
                o.remove(*last);
            }
            doc
        }
        Mutation::TimeoutVsInterval(interval, delta) => {
            #[allow(clippy::cast_possible_truncation)]
            let ms = (interval * 1000.0).round() as i64 + delta;
            doc["healthCheck"] = json!({"intervalSecs": interval, "timeoutMs": ms});
            doc
        }
        Mutation::MaxVsBase(base, delta) => {
            doc["outlierDetection"] =
                json!({"baseEjectionSecs": base, "maxEjectionSecs": base + delta});
            doc
        }
        Mutation::Pad(delta, unit) => {
            doc["pad"] = json!("");
            let empty = document_text_len(&doc);
            let unit_len = document_text_len(&json!(unit)) - 2;
            let target = i64::try_from(limits::MAX_DOCUMENT_BYTES).unwrap() + delta;
            let room = usize::try_from(target).unwrap().saturating_sub(empty);
            let mut pad = unit.repeat(room / unit_len);
            pad.push_str(&"x".repeat(room % unit_len));
            doc["pad"] = json!(pad);
            doc
        }
        Mutation::NotAnObject(v) => v.clone(),
        Mutation::Integrity(v) => {
            doc["integrity"] = v.clone();
            doc
        }
        Mutation::ManyIntegrity(n) => {
            let e = IntegrityEntry::of(b"[]");
            doc["integrity"] = Value::Object(
                (0..*n)
                    .map(|i| {
                        (
                            format!("p{i}.json"),
                            json!({"sha256": e.sri(), "size": e.size}),
                        )
                    })
                    .collect(),
            );
            doc
        }
    }
}
