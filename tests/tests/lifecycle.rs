//! The app lifecycle of `Resolver` (issue 16 item 3): `pause`/`resume`, `close`,
//! `wait_for_initialization` and the builder's `offline(true)`, proven with counting loopback
//! servers: a control-plane stand-in (config GETs with `If-None-Match`, the SSE stream, the
//! telemetry endpoint) and the testkit's Git and CDN origins (the health probes' targets).
//! Where no socket is involved, tokio's paused clock drives time.
//!
//! Real-clock waits are of two kinds only: "until a counter moves" (bounded by a deadline), and
//! a quiet window in which an unpaused resolver demonstrably would have made a request (the
//! window is longer than the interval it would have used), after which counters must be
//! unchanged.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt as _, StreamExt as _};
use serde_json::{Value, json};
use sourcegate::provider::{ConfigProvider, ControlPlaneProvider, Fetched, ProviderError};
use sourcegate::provider::{RawDocument, StaticProvider};
use sourcegate::telemetry::TelemetrySettings;
use sourcegate::{BodySource, InstallError, RequestError, Resolver};
use sourcegate_testkit::{OriginPair, REGISTRY_PATH, TestOrigin};

/// What the control-plane stand-in counted.
#[derive(Default)]
struct Counts {
    /// `GET /v1/configs/marketplace_source`, all of them.
    config_gets: AtomicUsize,
    /// Those answered 304 (their `If-None-Match` matched).
    not_modified: AtomicUsize,
    /// `GET …/events` streams opened.
    streams_opened: AtomicUsize,
    /// Streams open now (decremented when the server drops one: the client went away).
    streams_open: AtomicUsize,
    /// Bodies of `POST /v1/telemetry`.
    reports: Mutex<Vec<Value>>,
}

struct Stub {
    counts: Arc<Counts>,
    document: Value,
    version: u64,
}

/// Decrements `streams_open` when the SSE body is dropped.
struct OpenStream(Arc<Counts>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.streams_open.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn config(State(s): State<Arc<Stub>>, headers: HeaderMap) -> Response {
    s.counts.config_gets.fetch_add(1, Ordering::SeqCst);
    let etag = format!("\"v{}\"", s.version);
    if headers
        .get("if-none-match")
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        s.counts.not_modified.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response();
    }
    let body = json!({"key": "marketplace_source", "version": s.version, "value": s.document});
    ([("etag", etag)], axum::Json(body)).into_response()
}

async fn events(State(s): State<Arc<Stub>>) -> Response {
    s.counts.streams_opened.fetch_add(1, Ordering::SeqCst);
    s.counts.streams_open.fetch_add(1, Ordering::SeqCst);
    let guard = OpenStream(Arc::clone(&s.counts));
    // Never sends a config; comments every 20 ms, so a closed connection is noticed at once.
    let stream = futures_util::stream::pending::<Result<Event, Infallible>>().map(move |e| {
        let _held = &guard;
        e
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_millis(20)))
        .into_response()
}

async fn telemetry(
    State(s): State<Arc<Stub>>,
    axum::Json(report): axum::Json<Value>,
) -> StatusCode {
    s.counts.reports.lock().unwrap().push(report);
    StatusCode::NO_CONTENT
}

/// Starts the control-plane stand-in serving `document` as `version`; its base URL.
async fn control_plane(document: Value, version: u64) -> (String, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let stub = Arc::new(Stub {
        counts: Arc::clone(&counts),
        document,
        version,
    });
    let app = axum::Router::new()
        .route("/v1/configs/marketplace_source", axum::routing::get(config))
        .route(
            "/v1/configs/marketplace_source/events",
            axum::routing::get(events),
        )
        .route("/v1/telemetry", axum::routing::post(telemetry))
        .with_state(stub);
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(tcp, app).await });
    (format!("http://{addr}/"), counts)
}

/// A CDN-mode document whose health checks probe both origins every 5 s (the document's
/// shortest interval).
fn probed_doc(git: &TestOrigin, cdn: &TestOrigin) -> Value {
    json!({
        "type": "cdn", "cdnUrl": cdn.base_url(), "gitUrl": git.base_url(), "version": 4,
        "healthCheckEnabled": true,
        "healthCheck": {"intervalSecs": 5, "timeoutMs": 1000, "path": REGISTRY_PATH},
    })
}

/// Waits until `cond` holds, at most 10 s.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn probes(git: &TestOrigin, cdn: &TestOrigin) -> u64 {
    git.hits() + cdn.hits()
}

fn reports(c: &Counts) -> usize {
    c.reports.lock().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_probes_stream_and_telemetry_and_resume_revalidates_once() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    let (base, counts) = control_plane(probed_doc(&git, &cdn), 4).await;
    let r = Resolver::builder(git.base_url().parse().unwrap())
        .provider(ControlPlaneProvider::new(base.parse().unwrap()).unwrap())
        .install_id("lifecycle-pause")
        // Past its TTL on every resolve below: an unpaused resolver would refresh.
        .cache_ttl(Duration::from_millis(50))
        .telemetry(TelemetrySettings {
            interval: Duration::from_millis(50),
            ..TelemetrySettings::default()
        })
        .build()
        .unwrap();
    assert!(r.wait_for_initialization(Duration::from_secs(5)).await);
    assert_eq!(r.config().version, 4);
    // Running: the first probes (within 10 % of the 5 s interval), the stream, telemetry.
    until("the first probes", || probes(&git, &cdn) >= 2).await;
    until("the push stream", || {
        counts.streams_open.load(Ordering::SeqCst) == 1
    })
    .await;
    until("a telemetry report", || reports(&counts) >= 1).await;

    r.pause();
    assert!(r.is_paused());
    until("the stream to close", || {
        counts.streams_open.load(Ordering::SeqCst) == 0
    })
    .await;
    let gets = counts.config_gets.load(Ordering::SeqCst);
    let probed = probes(&git, &cdn);
    let reported = reports(&counts);
    // 6 s paused: longer than the 5 s (± 10 %) probe interval after the first probe, 120
    // telemetry intervals, and every resolve is past the 50 ms TTL.
    let quiet_until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < quiet_until {
        assert!(r.resolve(REGISTRY_PATH).is_ok());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        counts.config_gets.load(Ordering::SeqCst),
        gets,
        "config request while paused"
    );
    assert_eq!(probes(&git, &cdn), probed, "probe while paused");
    assert_eq!(reports(&counts), reported, "telemetry while paused");
    assert_eq!(
        counts.streams_opened.load(Ordering::SeqCst),
        1,
        "stream while paused"
    );
    // The app's own calls still work while paused.
    let served = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(served.source, BodySource::Network);
    let probed = probes(&git, &cdn);

    r.resume();
    assert!(!r.is_paused());
    until("the revalidation", || {
        counts.config_gets.load(Ordering::SeqCst) == gets + 1
    })
    .await;
    until("the stream again", || {
        counts.streams_opened.load(Ordering::SeqCst) == 2
    })
    .await;
    until("probes again", || probes(&git, &cdn) >= probed + 2).await;
    until("telemetry again", || reports(&counts) > reported).await;
    // Exactly one revalidation, and a conditional one (answered 304); no resolve or fetch since
    // the resume, so no TTL refresh either.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(counts.config_gets.load(Ordering::SeqCst), gets + 1);
    assert_eq!(counts.not_modified.load(Ordering::SeqCst), 1);
    r.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_flushes_the_last_telemetry_delta_and_ends_the_background_work() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    let (base, counts) = control_plane(probed_doc(&git, &cdn), 4).await;
    let r = Resolver::builder(git.base_url().parse().unwrap())
        .provider(ControlPlaneProvider::new(base.parse().unwrap()).unwrap())
        .install_id("lifecycle-close")
        .http_cache(false)
        // No periodic report during the test: only close sends one.
        .telemetry(TelemetrySettings {
            interval: Duration::from_secs(3600),
            ..TelemetrySettings::default()
        })
        .build()
        .unwrap();
    assert!(r.wait_for_initialization(Duration::from_secs(5)).await);
    for _ in 0..3 {
        assert_eq!(r.fetch(REGISTRY_PATH).await.unwrap().status, 200);
    }
    until("the push stream", || {
        counts.streams_open.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(reports(&counts), 0);

    r.close().await;
    assert!(r.is_closed());
    {
        let sent = counts.reports.lock().unwrap();
        assert_eq!(sent.len(), 1, "one last report: {sent:?}");
        let last = &sent[0];
        assert_eq!(last["origins"]["cdn"]["requests"], 3, "{last}");
        assert_eq!(last["origins"]["git"]["requests"], 0, "{last}");
        assert_eq!(last["configVersion"], 4);
        assert_eq!(last["mode"], "cdn");
        assert_eq!(
            last["installHash"],
            sourcegate::telemetry::install_hash("lifecycle-close")
        );
    }
    until("the stream to close", || {
        counts.streams_open.load(Ordering::SeqCst) == 0
    })
    .await;
    // After close: resolve answers from the config held; fetch and reload are refused.
    assert_eq!(r.resolve(REGISTRY_PATH).unwrap().config_version, 4);
    let hits = cdn.hits();
    assert!(matches!(
        r.fetch(REGISTRY_PATH).await,
        Err(RequestError::Closed { .. })
    ));
    assert!(matches!(r.reload_config().await, Err(InstallError::Closed)));
    assert_eq!(cdn.hits(), hits);
    // Idempotent: a second close sends nothing; pause and resume do nothing.
    r.close().await;
    r.pause();
    r.resume();
    assert!(r.is_closed());
    assert_eq!(reports(&counts), 1);
    assert_eq!(counts.streams_opened.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_sends_no_report_when_nothing_was_counted() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    let (base, counts) = control_plane(probed_doc(&git, &cdn), 4).await;
    let r = Resolver::builder(git.base_url().parse().unwrap())
        .provider(ControlPlaneProvider::new(base.parse().unwrap()).unwrap())
        .install_id("lifecycle-close-empty")
        .push(false)
        .telemetry(TelemetrySettings {
            interval: Duration::from_secs(3600),
            ..TelemetrySettings::default()
        })
        .build()
        .unwrap();
    assert!(r.wait_for_initialization(Duration::from_secs(5)).await);
    r.close().await;
    assert_eq!(reports(&counts), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_makes_no_request_and_serves_what_was_kept() {
    let OriginPair { git, cdn } = OriginPair::start().await.unwrap();
    let (base, counts) = control_plane(probed_doc(&git, &cdn), 4).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("sourcegate.json");
    let builder = || {
        Resolver::builder(git.base_url().parse().unwrap())
            .provider(ControlPlaneProvider::new(base.parse().unwrap()).unwrap())
            .install_id("lifecycle-offline")
            .cache_file(&cache)
            .telemetry(TelemetrySettings {
                interval: Duration::from_millis(20),
                ..TelemetrySettings::default()
            })
    };
    // Online once: the last-known-good config and the registry body are persisted.
    let online = builder().build().unwrap();
    assert!(online.wait_for_initialization(Duration::from_secs(5)).await);
    assert_eq!(
        online.fetch(REGISTRY_PATH).await.unwrap().source,
        BodySource::Network
    );
    online.close().await;
    drop(online);
    until("the online stream to close", || {
        counts.streams_open.load(Ordering::SeqCst) == 0
    })
    .await;
    let gets = counts.config_gets.load(Ordering::SeqCst);
    let reported = reports(&counts);
    let (git_hits, cdn_hits) = (git.hits(), cdn.hits());

    let r = builder().offline(true).build().unwrap();
    // The last-known-good file counts as an installed config.
    assert!(r.wait_for_initialization(Duration::ZERO).await);
    assert_eq!(r.config().version, 4);
    let kept = r.fetch(REGISTRY_PATH).await.unwrap();
    assert_eq!(
        kept.source,
        BodySource::Fresh,
        "max-age=300 body, persisted"
    );
    assert_eq!(kept.body, sourcegate_testkit::REGISTRY);
    assert!(matches!(
        r.fetch("other.json").await,
        Err(RequestError::Offline { .. })
    ));
    r.reload_config().await.unwrap_err();
    // 6 s offline: a probe interval and 300 telemetry intervals; nothing reaches any server.
    tokio::time::sleep(Duration::from_secs(6)).await;
    r.resume();
    r.close().await;
    assert_eq!(counts.config_gets.load(Ordering::SeqCst), gets);
    assert_eq!(counts.streams_opened.load(Ordering::SeqCst), 1);
    assert_eq!(reports(&counts), reported);
    assert_eq!((git.hits(), cdn.hits()), (git_hits, cdn_hits));
}

/// An in-memory provider answering `doc` after `delay`, counting fetches.
#[derive(Clone)]
struct Slow {
    calls: Arc<AtomicUsize>,
    delay: Duration,
    doc: Value,
}

impl ConfigProvider for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, ProviderError>> {
        async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            Ok(Fetched::Document(RawDocument {
                value: self.doc.clone(),
                version: None,
            }))
        }
        .boxed()
    }
}

fn slow(delay: Duration) -> Slow {
    Slow {
        calls: Arc::new(AtomicUsize::new(0)),
        delay,
        doc: json!({"type": "cdn", "cdnUrl": "http://127.0.0.1:9/cdn/", "gitUrl": "http://127.0.0.1:9/git/", "version": 2, "healthCheckEnabled": false}),
    }
}

fn in_memory() -> sourcegate::ResolverBuilder {
    Resolver::builder("http://127.0.0.1:9/git/".parse().unwrap())
        .install_id("lifecycle-memory")
        .health_checks(false)
        .telemetry(TelemetrySettings {
            enabled: false,
            ..TelemetrySettings::default()
        })
}

#[tokio::test(start_paused = true)]
async fn wait_for_initialization_is_true_once_a_config_is_installed() {
    let p = slow(Duration::from_secs(2));
    let r = in_memory().provider(p.clone()).build().unwrap();
    assert!(!r.wait_for_initialization(Duration::from_secs(1)).await);
    assert!(r.wait_for_initialization(Duration::from_secs(5)).await);
    assert_eq!(r.config().version, 2);
    assert!(r.wait_for_initialization(Duration::ZERO).await);

    // A static document is installed as soon as the first load ran.
    let r = in_memory()
        .provider(StaticProvider::Value(p.doc.clone()))
        .build()
        .unwrap();
    assert!(r.wait_for_initialization(Duration::from_secs(1)).await);

    // No provider, no last-known-good: only the built-in default, never "initialized"...
    let r = in_memory().build().unwrap();
    assert!(!r.wait_for_initialization(Duration::from_secs(3)).await);
    // ...until the host installs a document itself.
    r.install_document(&p.doc).unwrap();
    assert!(r.wait_for_initialization(Duration::ZERO).await);

    // Offline, a network provider is not asked at all.
    let r = in_memory()
        .provider(p.clone())
        .offline(true)
        .build()
        .unwrap();
    let calls = p.calls.load(Ordering::SeqCst);
    assert!(!r.wait_for_initialization(Duration::from_secs(10)).await);
    assert_eq!(p.calls.load(Ordering::SeqCst), calls);
}

#[tokio::test(start_paused = true)]
async fn paused_resolves_do_not_refresh_and_resume_revalidates_exactly_once() {
    let p = slow(Duration::from_millis(10));
    let r = in_memory()
        .provider(p.clone())
        .cache_ttl(Duration::from_secs(1))
        .build()
        .unwrap();
    assert!(r.wait_for_initialization(Duration::from_secs(1)).await);
    assert_eq!(p.calls.load(Ordering::SeqCst), 1);
    r.pause();
    r.pause();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        r.resolve(REGISTRY_PATH).unwrap();
    }
    assert_eq!(p.calls.load(Ordering::SeqCst), 1, "refreshed while paused");
    r.resume();
    r.resume();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        p.calls.load(Ordering::SeqCst),
        2,
        "one revalidation on resume"
    );
    // Running again: a resolve past the TTL refreshes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    r.resolve(REGISTRY_PATH).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(p.calls.load(Ordering::SeqCst), 3);
}
