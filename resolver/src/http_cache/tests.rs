use std::time::Duration;

use super::file::{decode_file, encode_file};
use super::*;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn max_age_gives_freshness_then_a_conditional_request() {
    let url = "http://127.0.0.1:1/community-plugins.json";
    let t0 = SystemTime::now();
    let e = Entry::from_response(
        url,
        200,
        headers(&[("cache-control", "max-age=300"), ("etag", "\"abc\"")]),
        Bytes::from_static(b"[]"),
        t0,
    )
    .unwrap();
    assert!(matches!(
        e.lookup(url, t0 + Duration::from_secs(299)),
        Lookup::Fresh
    ));
    match e.lookup(url, t0 + Duration::from_secs(301)) {
        Lookup::Revalidate(h) => {
            assert_eq!(
                h,
                vec![(
                    http::header::IF_NONE_MATCH,
                    HeaderValue::from_static("\"abc\"")
                )]
            );
        }
        _ => panic!("stale entry must revalidate"),
    }
    // A 304 with the same strong validator renews the entry (RFC 9111 §4.3.4).
    let t1 = t0 + Duration::from_secs(301);
    let renewed = e
        .after_not_modified(
            url,
            &headers(&[("etag", "\"abc\""), ("cache-control", "max-age=300")]),
            t1,
        )
        .unwrap();
    assert!(matches!(
        renewed.lookup(url, t1 + Duration::from_secs(10)),
        Lookup::Fresh
    ));
    assert_eq!(renewed.body, e.body);
    // A 304 naming another validator does not select it.
    assert!(
        e.after_not_modified(url, &headers(&[("etag", "\"other\"")]), t1)
            .is_none()
    );
}

#[test]
fn age_counts_against_max_age_and_no_store_is_not_kept() {
    let url = "http://127.0.0.1:1/a.json";
    let t0 = SystemTime::now();
    let aged = Entry::from_response(
        url,
        200,
        headers(&[
            ("cache-control", "public, max-age=300"),
            ("age", "300"),
            ("etag", "\"x\""),
        ]),
        Bytes::from_static(b"{}"),
        t0,
    )
    .unwrap();
    assert!(matches!(aged.lookup(url, t0), Lookup::Revalidate(_)));
    assert!(
        Entry::from_response(
            url,
            200,
            headers(&[("cache-control", "no-store")]),
            Bytes::new(),
            t0
        )
        .is_none()
    );
    let no_cache = Entry::from_response(
        url,
        200,
        headers(&[
            ("cache-control", "no-cache"),
            ("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ]),
        Bytes::new(),
        t0,
    )
    .unwrap();
    match no_cache.lookup(url, t0) {
        Lookup::Revalidate(h) => assert_eq!(h[0].0, http::header::IF_MODIFIED_SINCE),
        _ => panic!("no-cache must revalidate"),
    }
    let must = Entry::from_response(
        url,
        200,
        headers(&[("cache-control", "max-age=1, must-revalidate")]),
        Bytes::new(),
        t0,
    )
    .unwrap();
    assert!(!must.may_serve_stale());
    assert!(no_cache.may_serve_stale());
}

#[test]
fn equal_bodies_share_one_copy() {
    let a = intern(Bytes::from_static(b"[1,2,3] shared"));
    let b = intern(Bytes::from(b"[1,2,3] shared".to_vec()));
    assert_eq!(a.as_ptr(), b.as_ptr());
    // Same length, other bytes: not shared.
    let c = intern(Bytes::from_static(b"[1,2,4] shared"));
    assert_ne!(c.as_ptr(), a.as_ptr());
    assert_eq!(&c[..], b"[1,2,4] shared");
}

#[test]
fn persisted_files_round_trip_and_refuse_another_key_or_damage() {
    let url: Url = "http://127.0.0.1:1/p.json".parse().unwrap();
    let key = Key::new(OriginKind::Git, &url);
    let e = Entry::from_response(
        url.as_str(),
        200,
        headers(&[("cache-control", "max-age=300"), ("etag", "\"e\"")]),
        Bytes::from_static(b"[1,2,3]"),
        SystemTime::now(),
    )
    .unwrap();
    let bytes = encode_file(&key, &e);
    let back = decode_file(&key, bytes.clone()).unwrap();
    assert_eq!(back.body, e.body);
    assert!(matches!(
        back.lookup(url.as_str(), SystemTime::now()),
        Lookup::Fresh
    ));
    let other = Key::new(OriginKind::Cdn, &url);
    assert!(decode_file(&other, bytes.clone()).is_err());
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(decode_file(&key, flipped).is_err());
    assert!(decode_file(&key, bytes[..bytes.len() - 1].to_vec()).is_err());
    assert!(decode_file(&key, b"garbage".to_vec()).is_err());
}

#[derive(Debug, Clone)]
enum Op {
    Store(usize, u8),
    Get(usize),
    Remove(usize),
    Restart,
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (0..6usize, any::<u8>()).prop_map(|(k, b)| Op::Store(k, b)),
        (0..6usize).prop_map(Op::Get),
        (0..6usize).prop_map(Op::Remove),
        Just(Op::Restart),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// A kept body is only ever served for the (origin, URL) it was stored under, in
    /// memory and across restarts from the persisted files.
    #[test]
    fn a_kept_body_is_never_served_for_another_key(ops in proptest::collection::vec(op(), 1..40)) {
        let keys: Vec<Key> = [OriginKind::Git, OriginKind::Cdn]
            .into_iter()
            .flat_map(|o| {
                ["http://127.0.0.1:1/a.json", "http://127.0.0.1:1/a.json?x", "http://127.0.0.1:1/b/a.json"]
                    .map(move |u| Key::new(o, &u.parse().unwrap()))
            })
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let mut cache = HttpCache::new(Some(dir.path().to_path_buf()), 1 << 20);
            let mut model: HashMap<usize, Vec<u8>> = HashMap::new();
            for op in ops {
                match op {
                    Op::Store(k, b) => {
                        let body = format!("[{b},\"{}\"]", keys[k].url).into_bytes();
                        let e = Entry::from_response(
                            &keys[k].url,
                            200,
                            headers(&[("cache-control", "max-age=300")]),
                            Bytes::from(body.clone()),
                            SystemTime::now(),
                        ).unwrap();
                        cache.store(keys[k].clone(), Arc::new(e), true).await;
                        model.insert(k, body);
                    }
                    Op::Get(k) => {
                        let (got, damaged) = cache.get(&keys[k]).await;
                        assert!(damaged.is_none());
                        assert_eq!(got.map(|e| e.body.to_vec()), model.get(&k).cloned(), "key {k}");
                    }
                    Op::Remove(k) => {
                        cache.remove(&keys[k]).await;
                        model.remove(&k);
                    }
                    Op::Restart => cache = HttpCache::new(Some(dir.path().to_path_buf()), 1 << 20),
                }
            }
        });
    }
}
