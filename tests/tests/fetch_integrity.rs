//! The document's `integrity` entries enforced by `Resolver::fetch` against the loopback
//! origins: a body whose size or SHA-256 differs from its path's entry is an origin failure
//! (counted in `integrityFailures`, failed over, never kept), and a kept body (fresh,
//! revalidated or stale) that does not match the current document's entry is never served.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use sourcegate::config::IntegrityEntry;
use sourcegate::provider::StaticProvider;
use sourcegate::{BodySource, OriginKind, RequestError, Resolver};
use sourcegate_testkit::{
    OriginOptions, OriginStyle, REGISTRY, REGISTRY_OLDER, REGISTRY_PATH, TestOrigin,
};

async fn origin(style: OriginStyle, cache_control: &str) -> TestOrigin {
    TestOrigin::start(OriginOptions::new(style).cache_control(cache_control))
        .await
        .unwrap()
}

/// A hybrid document, Git first, with `integrity` (if any) and `version`.
fn doc(git: &TestOrigin, cdn: &TestOrigin, integrity: Option<Value>, version: u64) -> Value {
    let mut d = json!({
        "type": "hybrid",
        "priority": ["git", "cdn"],
        "gitUrl": git.base_url(),
        "cdnUrl": cdn.base_url(),
        "healthCheckEnabled": false,
        "fallbackOnError": true,
        "version": version,
    });
    if let Some(i) = integrity {
        d["integrity"] = i;
    }
    d
}

fn entry(body: &[u8]) -> Value {
    let e = IntegrityEntry::of(body);
    json!({"sha256": e.sri(), "size": e.size})
}

fn resolver(doc: Value) -> Resolver {
    Resolver::builder("http://127.0.0.1:9/".parse().unwrap())
        .provider(StaticProvider::Value(doc))
        .install_id("integrity-test")
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// The registry with one letter changed: the same size, valid JSON, another digest.
fn tampered() -> Bytes {
    let mut b = REGISTRY.to_vec();
    let at = b.len() / 2 + b[b.len() / 2..].iter().position(|c| *c == b'a').unwrap();
    b[at] = b'b';
    assert_eq!(b.len(), REGISTRY.len());
    Bytes::from(b)
}

#[tokio::test]
async fn a_matching_body_is_served_and_kept() {
    let git = origin(OriginStyle::GitRaw, "max-age=300").await;
    let cdn = origin(OriginStyle::Cdn, "max-age=300").await;
    // Written with a leading `/`: the same path as the one fetched without it.
    let r = resolver(doc(
        &git,
        &cdn,
        Some(json!({ format!("/{REGISTRY_PATH}"): entry(REGISTRY) })),
        1,
    ));
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(
        (resp.origin, resp.source, resp.fallback),
        (OriginKind::Git, BodySource::Network, false)
    );
    assert_eq!(&resp.body[..], REGISTRY);
    for _ in 0..3 {
        let again = r.fetch(&format!("/{REGISTRY_PATH}")).await.unwrap();
        assert_eq!(again.source, BodySource::Fresh);
        assert_eq!(&again.body[..], REGISTRY);
    }
    let s = r.stats();
    assert_eq!(
        (s.integrity_failures, s.content_check_failures, s.errors),
        (0, 0, 0)
    );
    assert_eq!((git.served(), cdn.hits()), (1, 0));
}

#[tokio::test]
async fn a_digest_mismatch_on_git_fails_over_to_the_cdn_and_is_not_kept() {
    let git = origin(OriginStyle::GitRaw, "max-age=300").await;
    let cdn = origin(OriginStyle::Cdn, "max-age=300").await;
    git.set_body(tampered());
    let r = resolver(doc(
        &git,
        &cdn,
        Some(json!({ REGISTRY_PATH: entry(REGISTRY) })),
        1,
    ));
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(
        (resp.origin, resp.source, resp.fallback),
        (OriginKind::Cdn, BodySource::Network, true)
    );
    assert_eq!(&resp.body[..], REGISTRY);
    let a = &resp.failed_attempts[0];
    assert_eq!((a.origin, a.status), (OriginKind::Git, Some(200)));
    assert!(a.cause.contains("digest"), "{}", a.cause);
    let s = r.stats();
    assert_eq!((s.integrity_failures, s.content_check_failures), (1, 0));
    assert_eq!((s.git.failures, s.fallbacks), (1, 1));
    // The refused body was not kept: once Git is right, it answers from the network.
    git.set_body(Bytes::from_static(REGISTRY));
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(
        (resp.origin, resp.source),
        (OriginKind::Git, BodySource::Network)
    );
    assert_eq!(r.stats().integrity_failures, 1);
}

#[tokio::test]
async fn a_size_mismatch_fails_over() {
    let git = origin(OriginStyle::GitRaw, "max-age=300").await;
    let cdn = origin(OriginStyle::Cdn, "max-age=300").await;
    git.set_body(Bytes::from_static(REGISTRY_OLDER));
    let r = resolver(doc(
        &git,
        &cdn,
        Some(json!({ REGISTRY_PATH: entry(REGISTRY) })),
        1,
    ));
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(resp.origin, OriginKind::Cdn);
    let cause = &resp.failed_attempts[0].cause;
    assert!(
        cause.contains(&format!("{} bytes", REGISTRY_OLDER.len()))
            && cause.contains(&REGISTRY.len().to_string()),
        "{cause}"
    );
    assert_eq!(r.stats().integrity_failures, 1);
}

#[tokio::test]
async fn both_origins_wrong_is_an_error_with_both_causes() {
    let git = origin(OriginStyle::GitRaw, "max-age=300").await;
    let cdn = origin(OriginStyle::Cdn, "max-age=300").await;
    git.set_body(tampered());
    cdn.set_body(Bytes::from_static(REGISTRY_OLDER));
    let r = resolver(doc(
        &git,
        &cdn,
        Some(json!({ REGISTRY_PATH: entry(REGISTRY) })),
        1,
    ));
    let err = r.fetch(REGISTRY_PATH).await.unwrap_err();
    let RequestError::AllOriginsFailed { attempts, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(attempts.len(), 2);
    assert!(attempts[0].cause.contains("digest"), "{attempts:?}");
    assert!(attempts[1].cause.contains("bytes"), "{attempts:?}");
    let s = r.stats();
    assert_eq!((s.integrity_failures, s.errors, s.stale), (2, 1, 0));
    // Nothing was kept: no fresh hit, each origin asked again.
    let (gh, ch) = (git.hits(), cdn.hits());
    assert!(r.fetch(REGISTRY_PATH).await.is_err());
    assert_eq!((git.hits(), cdn.hits()), (gh + 1, ch + 1));
}

#[tokio::test]
async fn a_kept_body_that_no_longer_matches_a_new_entry_is_refetched_or_refused() {
    // `no-cache`: every fetch revalidates, so the kept body would be served on a 304.
    let git = origin(OriginStyle::GitRaw, "no-cache").await;
    let cdn = origin(OriginStyle::Cdn, "no-cache").await;
    let r = resolver(doc(
        &git,
        &cdn,
        Some(json!({ REGISTRY_PATH: entry(REGISTRY) })),
        1,
    ));
    assert_eq!(
        r.fetch(REGISTRY_PATH).await.unwrap().source,
        BodySource::Network
    );
    assert_eq!(
        r.fetch(REGISTRY_PATH).await.unwrap().source,
        BodySource::Revalidated
    );
    assert_eq!(git.not_modified(), 1);

    // The admin publishes the older snapshot with its entry; Git still has the kept body and
    // would answer 304 to its validator if asked: the fetch must not ask, and get the new body.
    cdn.set_body(Bytes::from_static(REGISTRY_OLDER));
    r.install_document(&doc(
        &git,
        &cdn,
        Some(json!({ REGISTRY_PATH: entry(REGISTRY_OLDER) })),
        2,
    ))
    .unwrap();
    git.set_body(Bytes::from_static(REGISTRY_OLDER));
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(
        (resp.origin, resp.source),
        (OriginKind::Git, BodySource::Network)
    );
    assert_eq!(&resp.body[..], REGISTRY_OLDER);
    assert_eq!(
        git.not_modified(),
        1,
        "no conditional request for a dropped body"
    );
    assert_eq!(r.stats().integrity_failures, 1, "the dropped kept body");

    // An entry the origins do not serve yet (a flip published before the upload): the kept
    // body is not served, fresh or stale, and both origins' bodies are refused.
    git.set_cache_control(Some("max-age=300"));
    r.install_document(&doc(
        &git,
        &cdn,
        Some(json!({ REGISTRY_PATH: entry(REGISTRY) })),
        3,
    ))
    .unwrap();
    let err = r.fetch(REGISTRY_PATH).await.unwrap_err();
    let RequestError::AllOriginsFailed { attempts, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    let s = r.stats();
    assert_eq!((s.stale, s.fresh, s.errors), (0, 0, 1));
    assert_eq!(s.integrity_failures, 4, "the kept body, then each origin's");

    // Once Git serves the published snapshot, it is served and kept (fresh next time).
    git.set_body(Bytes::from_static(REGISTRY));
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(
        (resp.origin, resp.source),
        (OriginKind::Git, BodySource::Network)
    );
    assert_eq!(&resp.body[..], REGISTRY);
    assert_eq!(
        r.fetch(REGISTRY_PATH).await.unwrap().source,
        BodySource::Fresh
    );
}

#[tokio::test]
async fn a_stale_kept_body_that_does_not_match_is_not_served_offline() {
    let dir = tempfile::tempdir().unwrap();
    let lkg = dir.path().join("sourcegate.json");
    let git = origin(OriginStyle::GitRaw, "no-cache").await;
    let cdn = origin(OriginStyle::Cdn, "no-cache").await;
    let first = doc(&git, &cdn, None, 1);
    {
        let r = Resolver::builder(git.base_url().parse().unwrap())
            .provider(StaticProvider::Value(first.clone()))
            .cache_file(&lkg)
            .build()
            .unwrap();
        assert_eq!(&r.fetch(REGISTRY_PATH).await.unwrap().body[..], REGISTRY);
    }
    drop((git, cdn)); // offline: nothing listens on either port
    let cold = |integrity: Value| {
        let mut d = first.clone();
        d["integrity"] = integrity;
        d["version"] = json!(2);
        Resolver::builder("http://127.0.0.1:9/".parse().unwrap())
            .provider(StaticProvider::Value(d))
            .cache_file(&lkg)
            .request_timeout(Duration::from_secs(2))
            .build()
            .unwrap()
    };
    // The persisted body matches its entry: served stale, as without integrity.
    let r = cold(json!({ REGISTRY_PATH: entry(REGISTRY) }));
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(resp.source, BodySource::Stale);
    assert_eq!(r.stats().integrity_failures, 0);
    // The document now names another snapshot: the kept body is refused, an error.
    let r = cold(json!({ REGISTRY_PATH: entry(REGISTRY_OLDER) }));
    assert!(r.fetch(REGISTRY_PATH).await.is_err());
    let s = r.stats();
    assert_eq!((s.stale, s.errors, s.integrity_failures), (0, 1, 1));
}

#[tokio::test]
async fn paths_without_an_entry_are_unaffected() {
    let git = origin(OriginStyle::GitRaw, "max-age=300").await;
    let cdn = origin(OriginStyle::Cdn, "max-age=300").await;
    git.set_body(tampered());
    let r = resolver(doc(
        &git,
        &cdn,
        Some(json!({"community-css-themes.json": entry(b"[]")})),
        1,
    ));
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(
        (resp.origin, resp.source),
        (OriginKind::Git, BodySource::Network)
    );
    assert_eq!(resp.body, tampered());
    assert_eq!(
        r.fetch(REGISTRY_PATH).await.unwrap().source,
        BodySource::Fresh
    );
    assert_eq!(r.stats().integrity_failures, 0);
}
