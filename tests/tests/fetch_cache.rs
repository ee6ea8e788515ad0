//! `Resolver::fetch` against the loopback origins: HTTP caching (RFC 9111: freshness,
//! conditional requests and 304s, `no-store`), compression, content checks, the body size cap,
//! the read-idle timeout, and the persisted body cache (offline cold start, damaged files).

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use sourcegate::content::ContentCheck;
use sourcegate::provider::StaticProvider;
use sourcegate::{BodySource, OriginKind, RequestError, Resolver, ResolverBuilder};
use sourcegate_testkit::{Fault, OriginOptions, OriginStyle, REGISTRY, REGISTRY_PATH, TestOrigin};

/// The older real snapshot (`data/`), a second body an origin can publish.
static OLDER: &[u8] = include_bytes!("../../data/community-plugins.2025-05-12.json");

async fn origin(style: OriginStyle, cache_control: Option<&str>) -> TestOrigin {
    let mut opts = OriginOptions::new(style);
    if let Some(cc) = cache_control {
        opts = opts.cache_control(cc);
    }
    TestOrigin::start(opts).await.unwrap()
}

fn builder(git: &TestOrigin, cdn: Option<&TestOrigin>, mode: &str) -> ResolverBuilder {
    let mut doc = json!({
        "type": mode,
        "gitUrl": git.base_url(),
        "healthCheckEnabled": false,
        "fallbackOnError": true,
    });
    if let Some(cdn) = cdn {
        doc["cdnUrl"] = json!(cdn.base_url());
    }
    Resolver::builder(git.base_url().parse().unwrap())
        .provider(StaticProvider::Value(doc))
        .install_id("cache-test")
        .request_timeout(Duration::from_secs(5))
}

#[tokio::test]
async fn a_304_serves_the_kept_body_and_counts_as_revalidated() {
    let git = origin(OriginStyle::GitRaw, Some("no-cache")).await;
    let r = builder(&git, None, "git").build().unwrap();
    let first = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(first.source, BodySource::Network);
    let before = git.wire_bytes();
    assert!(
        before > 400_000,
        "the first answer carries the gzipped body: {before} B"
    );
    let second = r.fetch(REGISTRY_PATH).await.unwrap();
    let revalidation = git.wire_bytes() - before;
    assert!(
        revalidation < 1024,
        "a 304 costs {revalidation} B on the wire"
    );
    assert_eq!(second.source, BodySource::Revalidated);
    assert_eq!(second.status, 200);
    assert_eq!(&second.body[..], REGISTRY);
    assert_eq!((git.served(), git.not_modified()), (1, 1));
    let s = r.stats();
    assert_eq!((s.revalidated, s.fresh, s.errors), (1, 0, 0));
    assert_eq!((s.total_requests, s.git_requests), (2, 2));
    assert_eq!(s.git.failures, 0, "a 304 is a success");

    // A new snapshot: the conditional request gets a 200 with the new body.
    git.set_body(Bytes::from_static(OLDER));
    let third = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(third.source, BodySource::Network);
    assert_eq!(&third.body[..], OLDER);
    assert_eq!(git.served(), 2);
}

#[tokio::test]
async fn a_fresh_entry_costs_no_request_until_max_age_passes() {
    // The testkit's default: `Cache-Control: max-age=300`, as raw.githubusercontent.com.
    let git = origin(OriginStyle::GitRaw, None).await;
    let r = builder(&git, None, "git").build().unwrap();
    assert_eq!(
        r.fetch(REGISTRY_PATH).await.unwrap().source,
        BodySource::Network
    );
    let hits = git.hits();
    for _ in 0..3 {
        let resp = r.fetch(REGISTRY_PATH).await.unwrap();
        assert_eq!(resp.source, BodySource::Fresh);
        assert_eq!(&resp.body[..], REGISTRY);
    }
    assert_eq!(git.hits(), hits, "fresh hits send no request");
    assert_eq!(r.stats().fresh, 3);

    // 299 s later (tokio's clock, which the cache reads) still fresh; at 301 s stale: one
    // conditional request, answered 304.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(299)).await;
    tokio::time::resume();
    assert_eq!(
        r.fetch(REGISTRY_PATH).await.unwrap().source,
        BodySource::Fresh
    );
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(2)).await;
    tokio::time::resume();
    assert_eq!(
        r.fetch(REGISTRY_PATH).await.unwrap().source,
        BodySource::Revalidated
    );
    assert_eq!(git.not_modified(), 1);
    // The 304 renewed the entry's freshness.
    assert_eq!(
        r.fetch(REGISTRY_PATH).await.unwrap().source,
        BodySource::Fresh
    );
}

#[tokio::test]
async fn the_cdn_age_header_counts_against_max_age() {
    let git = origin(OriginStyle::GitRaw, None).await;
    let cdn = origin(OriginStyle::Cdn, Some("public, max-age=300")).await;
    // The CDN took its copy a second ago: it answers `Age: 1`, so the body is fresh for 299 s.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = builder(&git, Some(&cdn), "cdn").build().unwrap();
    assert_eq!(
        r.fetch(REGISTRY_PATH).await.unwrap().source,
        BodySource::Network
    );
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(298)).await;
    tokio::time::resume();
    assert_eq!(
        r.fetch(REGISTRY_PATH).await.unwrap().source,
        BodySource::Fresh
    );
    // 299 s after the fetch: fresh without `Age`, stale with it (1 + 299 ≥ 300).
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(1)).await;
    tokio::time::resume();
    assert_eq!(
        r.fetch(REGISTRY_PATH).await.unwrap().source,
        BodySource::Revalidated
    );
    assert_eq!(cdn.not_modified(), 1);
}

#[tokio::test]
async fn no_store_is_respected() {
    let git = origin(OriginStyle::GitRaw, Some("no-store")).await;
    let r = builder(&git, None, "git").build().unwrap();
    for _ in 0..3 {
        assert_eq!(
            r.fetch(REGISTRY_PATH).await.unwrap().source,
            BodySource::Network
        );
    }
    assert_eq!((git.served(), git.not_modified()), (3, 0));
    let s = r.stats();
    assert_eq!((s.fresh, s.revalidated), (0, 0));
}

#[tokio::test]
async fn bodies_arrive_compressed() {
    let git = origin(OriginStyle::GitRaw, None).await;
    let r = builder(&git, None, "git").build().unwrap();
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(&resp.body[..], REGISTRY, "decoded transparently");
    let accept = git.last_accept_encoding().unwrap();
    assert!(accept.contains("gzip") && accept.contains("br"), "{accept}");
    let sent = git.body_bytes();
    assert!(
        sent * 3 < REGISTRY.len() as u64,
        "{sent} bytes sent for {}",
        REGISTRY.len()
    );
    assert_eq!(r.stats().network_body_bytes, REGISTRY.len() as u64);
}

#[tokio::test]
async fn a_body_failing_the_content_check_fails_over() {
    for (fault, check, want) in [
        (Fault::Html, ContentCheck::Auto, "not JSON"),
        (Fault::TruncatedBody, ContentCheck::Auto, "not JSON"),
        (Fault::Html, ContentCheck::Plugins, "not a registry"),
        (
            Fault::TruncatedBody,
            ContentCheck::Plugins,
            "not a registry",
        ),
    ] {
        let git = origin(OriginStyle::GitRaw, None).await;
        let cdn = origin(OriginStyle::Cdn, None).await;
        cdn.set_fault(fault);
        let r = builder(&git, Some(&cdn), "cdn")
            .content_check(check.clone())
            .build()
            .unwrap();
        let resp = r.fetch(REGISTRY_PATH).await.unwrap();
        assert_eq!(resp.origin, OriginKind::Git, "{fault:?} {check:?}");
        assert!(resp.fallback);
        assert_eq!(&resp.body[..], REGISTRY);
        let a = &resp.failed_attempts[0];
        assert_eq!((a.origin, a.status), (OriginKind::Cdn, Some(200)));
        assert!(a.cause.contains(want), "{fault:?} {check:?}: {}", a.cause);
        assert_eq!(r.stats().content_check_failures, 1);
        // The refused body was not kept: once the CDN is right again, it serves from the network.
        cdn.set_fault(Fault::None);
        let r2 = r.fetch(REGISTRY_PATH).await.unwrap();
        assert_eq!(
            (r2.origin, r2.source),
            (OriginKind::Cdn, BodySource::Network)
        );
    }
}

#[tokio::test]
async fn a_caller_closure_is_a_content_check() {
    let git = origin(OriginStyle::GitRaw, None).await;
    let cdn = origin(OriginStyle::Cdn, None).await;
    cdn.set_body(Bytes::from_static(b"[]"));
    let r = builder(&git, Some(&cdn), "cdn")
        .content_check(ContentCheck::custom(|_, body| {
            if body.len() > 2 {
                Ok(())
            } else {
                Err("an empty registry".into())
            }
        }))
        .build()
        .unwrap();
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(resp.origin, OriginKind::Git);
    assert!(resp.failed_attempts[0].cause.contains("an empty registry"));
}

#[tokio::test]
async fn the_size_cap_aborts_an_endless_body_and_fails_over() {
    let git = origin(OriginStyle::GitRaw, None).await;
    let cdn = origin(OriginStyle::Cdn, None).await;
    cdn.set_fault(Fault::EndlessBody);
    let r = builder(&git, Some(&cdn), "cdn")
        .max_body_bytes(4 << 20)
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(resp.origin, OriginKind::Git);
    assert!(
        resp.failed_attempts[0].cause.contains("size cap"),
        "{}",
        resp.failed_attempts[0].cause
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    // A cap below the real registry refuses it from either origin.
    let small = builder(&git, Some(&cdn), "git")
        .max_body_bytes(1 << 20)
        .build()
        .unwrap();
    let err = small.fetch(REGISTRY_PATH).await.unwrap_err();
    let RequestError::AllOriginsFailed { attempts, .. } = err else {
        panic!("{err}")
    };
    assert!(
        attempts.iter().all(|a| a.cause.contains("size cap")),
        "{attempts:?}"
    );
}

#[tokio::test]
async fn a_stalled_body_fails_over_after_the_read_idle_timeout() {
    let git = origin(OriginStyle::GitRaw, None).await;
    let cdn = origin(OriginStyle::Cdn, None).await;
    cdn.set_fault(Fault::StallBody);
    let r = builder(&git, Some(&cdn), "cdn")
        .request_timeout(Duration::from_secs(30))
        .read_idle_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    let took = started.elapsed();
    assert_eq!(resp.origin, OriginKind::Git);
    assert!(
        resp.failed_attempts[0].cause.contains("read-idle"),
        "{}",
        resp.failed_attempts[0].cause
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // Headers that never come: the same timeout.
    cdn.set_fault(Fault::Stall);
    let r = builder(&git, Some(&cdn), "cdn")
        .read_idle_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(resp.origin, OriginKind::Git);
    assert!(resp.failed_attempts[0].status.is_none());
}

#[tokio::test]
async fn a_persisted_body_serves_a_cold_start_without_network_marked_stale() {
    let dir = tempfile::tempdir().unwrap();
    let lkg = dir.path().join("sourcegate.json");
    let git = origin(OriginStyle::GitRaw, Some("no-cache")).await;
    let git_url = git.base_url();
    {
        let r = builder(&git, None, "git").cache_file(&lkg).build().unwrap();
        assert_eq!(
            r.fetch(REGISTRY_PATH).await.unwrap().source,
            BodySource::Network
        );
    }
    let bodies = dir.path().join("sourcegate.json.bodies");
    assert_eq!(
        std::fs::read_dir(&bodies).unwrap().count(),
        1,
        "one file per (origin, URL)"
    );
    drop(git); // the origin is gone: nothing listens on its port any more

    let doc = json!({"type": "git", "gitUrl": git_url, "healthCheckEnabled": false});
    let cold = || {
        Resolver::builder(git_url.parse().unwrap())
            .provider(StaticProvider::Value(doc.clone()))
            .cache_file(&lkg)
            .request_timeout(Duration::from_secs(2))
            .build()
            .unwrap()
    };
    let r = cold();
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(resp.source, BodySource::Stale);
    assert_eq!(&resp.body[..], REGISTRY);
    assert_eq!(resp.failed_attempts.len(), 1);
    let s = r.stats();
    assert_eq!((s.stale, s.errors, s.body_cache_corrupt), (1, 0, 0));
    // Another path has no kept body: an error, never the registry's body.
    assert!(r.fetch("community-css-themes.json").await.is_err());
    // Stale-if-error off: the error.
    let strict = Resolver::builder(git_url.parse().unwrap())
        .provider(StaticProvider::Value(doc.clone()))
        .cache_file(&lkg)
        .stale_if_error(false)
        .build()
        .unwrap();
    assert!(strict.fetch(REGISTRY_PATH).await.is_err());

    // A damaged file is ignored and counted: an error, not a crash, not a damaged body.
    for f in std::fs::read_dir(&bodies).unwrap() {
        let p = f.unwrap().path();
        let mut bytes = std::fs::read(&p).unwrap();
        let n = bytes.len();
        bytes[n - 10] ^= 0x55;
        std::fs::write(&p, bytes).unwrap();
    }
    let r = cold();
    assert!(r.fetch(REGISTRY_PATH).await.is_err());
    assert_eq!(r.stats().body_cache_corrupt, 1);
    std::fs::write(
        std::fs::read_dir(&bodies)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
        b"\0\0garbage",
    )
    .unwrap();
    let r = cold();
    assert!(r.fetch(REGISTRY_PATH).await.is_err());
    assert_eq!(r.stats().body_cache_corrupt, 1);
}

#[tokio::test]
async fn a_kept_body_is_never_served_for_another_origin() {
    // Git and the CDN publish different snapshots; each origin's kept body stays its own.
    let git = origin(OriginStyle::GitRaw, Some("no-cache")).await;
    let cdn = origin(OriginStyle::Cdn, Some("no-cache")).await;
    cdn.set_body(Bytes::from_static(OLDER));
    let r = builder(&git, Some(&cdn), "cdn").build().unwrap();
    assert_eq!(&r.fetch(REGISTRY_PATH).await.unwrap().body[..], OLDER);
    cdn.set_fault(Fault::Status(503));
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(
        (resp.origin, resp.source),
        (OriginKind::Git, BodySource::Network)
    );
    assert_eq!(&resp.body[..], REGISTRY);
    cdn.set_fault(Fault::None);
    let resp = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(
        (resp.origin, resp.source),
        (OriginKind::Cdn, BodySource::Revalidated)
    );
    assert_eq!(&resp.body[..], OLDER);
}

#[tokio::test]
async fn the_cache_can_be_turned_off() {
    let git = origin(OriginStyle::GitRaw, None).await;
    let r = builder(&git, None, "git")
        .http_cache(false)
        .build()
        .unwrap();
    for _ in 0..2 {
        assert_eq!(
            r.fetch(REGISTRY_PATH).await.unwrap().source,
            BodySource::Network
        );
    }
    assert_eq!(git.served(), 2);
}
