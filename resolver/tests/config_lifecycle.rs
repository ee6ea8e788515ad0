//! Config lifecycle: init timeout, TTL refresh (tokio's paused clock), single flight,
//! last-known-good after provider failure, persisted cold start, invalid and stale documents,
//! and the Supabase and control-plane providers over real HTTP.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use sourcegate::provider::{
    ConfigProvider, ControlPlaneProvider, Fetched, ProviderError, RawDocument, SupabaseProvider,
    SupabaseRead,
};
use sourcegate::{ConfigSource, Mode, OriginKind, Resolver};

const GIT: &str = "https://git.example/o/r/HEAD/";

/// An in-memory provider whose answer and latency a test controls, counting fetches.
#[derive(Clone)]
struct Scripted {
    calls: Arc<AtomicUsize>,
    answer: Arc<Mutex<Option<Value>>>,
    delay: Duration,
}

impl Scripted {
    fn new(answer: Option<Value>, delay: Duration) -> Scripted {
        Scripted {
            calls: Arc::new(AtomicUsize::new(0)),
            answer: Arc::new(Mutex::new(answer)),
            delay,
        }
    }
    fn set(&self, v: Option<Value>) {
        *self.answer.lock().unwrap() = v;
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl ConfigProvider for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }
    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, ProviderError>> {
        async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            match self.answer.lock().unwrap().clone() {
                Some(value) => Ok(Fetched::Document(RawDocument {
                    value,
                    version: None,
                })),
                None => Err(ProviderError::Status {
                    provider: "scripted",
                    status: 503,
                }),
            }
        }
        .boxed()
    }
}

fn cdn_doc(version: u64) -> Value {
    json!({"type": "cdn", "cdnUrl": "https://cdn.example/", "gitUrl": GIT, "version": version, "healthCheckEnabled": false})
}

fn builder() -> sourcegate::ResolverBuilder {
    Resolver::builder(GIT.parse().unwrap())
        .install_id("lifecycle")
        .health_checks(false)
}

#[tokio::test(start_paused = true)]
async fn first_resolve_waits_at_most_the_init_timeout_then_serves_the_default() {
    let p = Scripted::new(Some(cdn_doc(1)), Duration::from_secs(60));
    let r = builder()
        .provider(p.clone())
        .init_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let res = r.resolve_url("community-plugins.json").await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    assert_eq!(res.origin, OriginKind::Git);
    assert_eq!(r.config().source, ConfigSource::Default);
    // Later calls do not wait again.
    let started = tokio::time::Instant::now();
    r.resolve_url("x").await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(1));
}

#[tokio::test(start_paused = true)]
async fn ttl_expiry_refreshes_in_the_background_once() {
    let p = Scripted::new(Some(cdn_doc(1)), Duration::from_millis(10));
    let r = Arc::new(
        builder()
            .provider(p.clone())
            .cache_ttl(Duration::from_secs(300))
            .build()
            .unwrap(),
    );
    assert_eq!(r.resolve_url("x").await.unwrap().origin, OriginKind::Cdn);
    assert_eq!(p.calls(), 1);
    // Within the TTL (minus its 10 % jitter) nothing is fetched.
    tokio::time::advance(Duration::from_secs(260)).await;
    r.resolve("x").unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(p.calls(), 1);
    // After the TTL (plus jitter) one resolve triggers one refresh; 100 concurrent callers
    // still cause a single fetch, and none of them waits for it.
    p.set(Some(json!({"type": "git", "gitUrl": GIT, "version": 2})));
    tokio::time::advance(Duration::from_secs(71)).await;
    let started = tokio::time::Instant::now();
    let mut handles = Vec::new();
    for _ in 0..100 {
        let r = Arc::clone(&r);
        handles.push(tokio::spawn(async move { r.resolve("x").unwrap().origin }));
    }
    for h in handles {
        assert_eq!(
            h.await.unwrap(),
            OriginKind::Cdn,
            "the hot path never waits"
        );
    }
    assert!(started.elapsed() < Duration::from_millis(10));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(p.calls(), 2);
    assert_eq!(r.resolve("x").unwrap().origin, OriginKind::Git);
    assert_eq!(r.config().version, 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_on_a_cold_cache_cause_one_fetch() {
    let p = Scripted::new(Some(cdn_doc(1)), Duration::from_millis(200));
    let r = Arc::new(builder().provider(p.clone()).build().unwrap());
    let mut handles = Vec::new();
    for _ in 0..50 {
        let r = Arc::clone(&r);
        handles.push(tokio::spawn(async move {
            r.resolve_url("x").await.unwrap().origin
        }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), OriginKind::Cdn);
    }
    assert_eq!(p.calls(), 1);
    // reload_config bypasses the cache.
    r.reload_config().await.unwrap();
    assert_eq!(p.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn provider_failure_keeps_the_last_known_good_and_backs_off() {
    let p = Scripted::new(Some(cdn_doc(3)), Duration::from_millis(1));
    let r = builder()
        .provider(p.clone())
        .cache_ttl(Duration::from_secs(10))
        .backoff(Duration::from_secs(1), Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(r.resolve_url("x").await.unwrap().origin, OriginKind::Cdn);
    p.set(None);
    let err = r.reload_config().await.unwrap_err();
    assert!(
        matches!(err, sourcegate::InstallError::ProvidersFailed(_)),
        "{err}"
    );
    assert_eq!(r.config().version, 3);
    assert_eq!(r.resolve("x").unwrap().origin, OriginKind::Cdn);
    // Failed refreshes back off: over 10 minutes of hot-path calls every 100 ms, the number of
    // fetches stays far below one per call (full jitter, cap 60 s ⇒ roughly one per 30 s).
    let before = p.calls();
    for _ in 0..6000 {
        r.resolve("x").unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fetches = p.calls() - before;
    assert!((5..=200).contains(&fetches), "{fetches} fetches");
}

#[tokio::test]
async fn persisted_config_survives_a_cold_start_without_network() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lkg.json");
    {
        let p = Scripted::new(Some(cdn_doc(7)), Duration::ZERO);
        let r = builder().provider(p).cache_file(&file).build().unwrap();
        assert_eq!(r.resolve_url("x").await.unwrap().origin, OriginKind::Cdn);
    }
    assert!(file.exists());
    // No temp files left behind by the atomic write.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let offline = Scripted::new(None, Duration::ZERO);
    let r = builder()
        .provider(offline)
        .cache_file(&file)
        .build()
        .unwrap();
    let res = r.resolve_url("x").await.unwrap();
    assert_eq!(res.origin, OriginKind::Cdn);
    assert_eq!(res.config_version, 7);
    assert_eq!(r.config().source, ConfigSource::LastKnownGood);
    // With neither network nor file: the built-in default, Git.
    let r = builder()
        .provider(Scripted::new(None, Duration::ZERO))
        .cache_file(dir.path().join("absent.json"))
        .build()
        .unwrap();
    assert_eq!(r.resolve_url("x").await.unwrap().origin, OriginKind::Git);
    assert_eq!(r.config().source, ConfigSource::Default);
}

#[tokio::test]
async fn invalid_and_stale_documents_never_replace_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lkg.json");
    let p = Scripted::new(Some(cdn_doc(5)), Duration::ZERO);
    let r = builder()
        .provider(p.clone())
        .cache_file(&file)
        .build()
        .unwrap();
    r.resolve_url("x").await.unwrap();
    let saved = std::fs::read(&file).unwrap();
    for (bad, field) in [
        (json!({"type": "cdn", "version": 6}), Some("cdnUrl")),
        (
            json!({"type": "canary", "canaryPercent": 140, "gitUrl": GIT, "cdnUrl": "https://c/", "version": 6}),
            Some("canaryPercent"),
        ),
        (
            json!({"type": "git", "gitUrl": "file:///etc/passwd", "version": 6}),
            Some("gitUrl"),
        ),
        (json!(["not", "an", "object"]), Some("value")),
    ] {
        p.set(Some(bad.clone()));
        match r.reload_config().await {
            Err(sourcegate::InstallError::Invalid(e)) => assert_eq!(e.field(), field, "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
        assert_eq!(r.config().version, 5);
        assert_eq!(r.resolve("x").unwrap().origin, OriginKind::Cdn);
        assert_eq!(std::fs::read(&file).unwrap(), saved, "LKG file untouched");
    }
    p.set(Some(json!({"type": "git", "gitUrl": GIT, "version": 4})));
    assert!(matches!(
        r.reload_config().await,
        Err(sourcegate::InstallError::StaleVersion { got: 4, held: 5 })
    ));
    assert_eq!(r.config().version, 5);
    // A change notification fires for an accepted document only.
    let mut rx = r.subscribe();
    rx.borrow_and_update();
    p.set(Some(json!({"type": "git", "gitUrl": GIT, "version": 6})));
    r.reload_config().await.unwrap();
    assert!(rx.has_changed().unwrap());
    assert_eq!(rx.borrow_and_update().mode, Mode::Git);
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/")
}

/// (endpoint, apikey, authorization, accept) of one request.
type Seen = (String, Option<String>, Option<String>, Option<String>);

#[tokio::test]
async fn supabase_provider_speaks_postgrest() {
    use axum::routing::{get, post};
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = {
        let seen = Arc::clone(&seen);
        move |what: &str, h: &HeaderMap| {
            let g = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
            seen.lock()
                .unwrap()
                .push((what.into(), g("apikey"), g("authorization"), g("accept")));
        }
    };
    let r1 = record.clone();
    let app = axum::Router::new()
        .route(
            "/rest/v1/app_config",
            get(
                move |q: axum::extract::RawQuery, h: HeaderMap| async move {
                    r1("table", &h);
                    let q = q.0.unwrap_or_default();
                    if q.contains("config_key=eq.marketplace_source") && q.contains("select=config_value") {
                        axum::Json(json!({"config_value": cdn_doc(9)})).into_response()
                    } else {
                        (StatusCode::NOT_ACCEPTABLE, axum::Json(json!({"code":"PGRST116","message":"Cannot coerce the result to a single JSON object","details":"The result contains 0 rows","hint":null}))).into_response()
                    }
                },
            ),
        )
        .route(
            "/rest/v1/rpc/get_marketplace_config",
            post(move |h: HeaderMap| async move {
                record("rpc", &h);
                axum::Json(cdn_doc(10))
            }),
        );
    let base = serve(app).await;
    let p = SupabaseProvider::new(base.parse().unwrap(), "sb_publishable_abc").unwrap();
    let r = builder().provider(p).build().unwrap();
    assert_eq!(r.resolve_url("x").await.unwrap().config_version, 9);
    let p = SupabaseProvider::new(base.parse().unwrap(), "eyJh.eyJi.sig")
        .unwrap()
        .with_read(SupabaseRead::Rpc);
    let r = builder().provider(p).build().unwrap();
    assert_eq!(r.resolve_url("x").await.unwrap().config_version, 10);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen[0],
        (
            "table".into(),
            Some("sb_publishable_abc".into()),
            None,
            Some("application/vnd.pgrst.object+json".into())
        ),
        "publishable keys go in apikey only"
    );
    assert_eq!(seen[1].1.as_deref(), Some("eyJh.eyJi.sig"));
    assert_eq!(
        seen[1].2.as_deref(),
        Some("Bearer eyJh.eyJi.sig"),
        "a legacy JWT key is also the bearer"
    );
    // PostgREST's error body decodes into a typed error.
    let p = SupabaseProvider::new(base.parse().unwrap(), "k")
        .unwrap()
        .with_key("missing");
    match p.fetch().await {
        Err(ProviderError::PostgRest {
            status,
            code,
            details,
            ..
        }) => {
            assert_eq!((status, code.as_str()), (406, "PGRST116"));
            assert_eq!(details.as_deref(), Some("The result contains 0 rows"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn control_plane_provider_uses_etags_and_follows_the_event_stream() {
    use axum::response::sse::{Event, Sse};
    use axum::routing::get;
    let (tx, _) = tokio::sync::broadcast::channel::<u64>(16);
    let version = Arc::new(std::sync::atomic::AtomicU64::new(1));
    let not_modified = Arc::new(AtomicUsize::new(0));
    let envelope = |v: u64| {
        let value = if v % 2 == 1 {
            cdn_doc(v)
        } else {
            json!({"type": "git", "gitUrl": GIT, "version": v})
        };
        json!({"key": "marketplace_source", "version": v, "value": value, "updatedAt": "2026-11-23T00:00:00Z", "updatedBy": null})
    };
    let (v1, nm) = (Arc::clone(&version), Arc::clone(&not_modified));
    let (v2, tx2) = (Arc::clone(&version), tx.clone());
    let app = axum::Router::new()
        .route(
            "/v1/configs/marketplace_source",
            get(move |h: HeaderMap| async move {
                let v = v1.load(Ordering::SeqCst);
                let etag = format!("\"{v}\"");
                if h.get("if-none-match").and_then(|x| x.to_str().ok()) == Some(etag.as_str()) {
                    nm.fetch_add(1, Ordering::SeqCst);
                    return (StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response();
                }
                ([("etag", etag)], axum::Json(envelope(v))).into_response()
            }),
        )
        .route(
            "/v1/configs/marketplace_source/events",
            get(move || async move {
                let rx = tx2.subscribe();
                let current = v2.load(Ordering::SeqCst);
                let first = futures_util::stream::once(async move { current });
                let updates = futures_util::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.ok().map(|v| (v, rx))
                });
                let events = futures_util::StreamExt::map(
                    futures_util::StreamExt::chain(first, updates),
                    move |v| {
                        Ok::<_, std::convert::Infallible>(
                            Event::default()
                                .id(v.to_string())
                                .event("config")
                                .data(envelope(v).to_string()),
                        )
                    },
                );
                Sse::new(events)
            }),
        );
    let base = serve(app).await;
    let r = builder()
        .provider(ControlPlaneProvider::new(base.parse().unwrap()).unwrap())
        .build()
        .unwrap();
    assert_eq!(r.resolve_url("x").await.unwrap().origin, OriginKind::Cdn);
    // Unchanged config: a 304, nothing parsed, same version.
    r.reload_config().await.unwrap();
    assert_eq!(not_modified.load(Ordering::SeqCst), 1);
    assert_eq!(r.config().version, 1);
    // A flip pushed over SSE reaches the resolver within a second, without polling.
    let mut rx = r.subscribe();
    rx.borrow_and_update();
    tokio::time::sleep(Duration::from_millis(200)).await; // let the stream connect
    version.store(2, Ordering::SeqCst);
    let started = std::time::Instant::now();
    tx.send(2).unwrap();
    tokio::time::timeout(Duration::from_secs(1), rx.changed())
        .await
        .expect("flip not pushed within 1 s")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(r.resolve("x").unwrap().origin, OriginKind::Git);
    assert_eq!(r.config().version, 2);
}

#[tokio::test]
async fn telemetry_goes_to_the_control_plane_by_default_and_can_be_turned_off() {
    use axum::routing::{get, post};
    let reports = Arc::new(AtomicUsize::new(0));
    let r2 = Arc::clone(&reports);
    let app = axum::Router::new()
        .route(
            "/v1/configs/marketplace_source",
            get(|| async {
                axum::Json(json!({"key": "marketplace_source", "version": 1, "value": cdn_doc(1)}))
            }),
        )
        .route(
            "/v1/telemetry",
            post(move |body: axum::Json<Value>| async move {
                assert_eq!(body["installHash"].as_str().unwrap().len(), 64);
                r2.fetch_add(1, Ordering::SeqCst);
                StatusCode::NO_CONTENT
            }),
        );
    let base = serve(app).await;
    let fast = |enabled| sourcegate::telemetry::TelemetrySettings {
        endpoint: None,
        interval: Duration::from_millis(50),
        enabled,
    };
    let on = builder()
        .provider(ControlPlaneProvider::new(base.parse().unwrap()).unwrap())
        .push(false)
        .telemetry(fast(true))
        .build()
        .unwrap();
    on.resolve_url("x").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = reports.load(Ordering::SeqCst);
    assert!(sent >= 2, "{sent} reports");
    drop(on);
    let off = builder()
        .provider(ControlPlaneProvider::new(base.parse().unwrap()).unwrap())
        .push(false)
        .telemetry(fast(false))
        .build()
        .unwrap();
    off.resolve_url("x").await.unwrap();
    let before = reports.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        reports.load(Ordering::SeqCst),
        before,
        "opted out, yet reported"
    );
}
