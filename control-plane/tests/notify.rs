//! The admin webhook (`notify`) against a real HTTP receiver on loopback: signature over the raw
//! body, one delivery id across retries, retry on 5xx/429, final 4xx, attempts capped, the
//! outbound guard refusing a loopback receiver unless private origins are allowed, and the
//! queue bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sourcegate_control_plane::guard::OutboundGuard;
use sourcegate_control_plane::notify::{
    DELIVERY_HEADER, EVENT_HEADER, Notice, NotifyError, SIGNATURE_HEADER, Webhook, WebhookConfig,
    signature,
};
use tokio::sync::Semaphore;

const SECRET: &[u8] = b"webhook-test-secret";

/// What the receiver saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Statuses answered in turn; the last one repeats.
    script: Arc<Vec<(u16, Option<&'static str>)>>,
    /// Each request waits for a permit (the queue test holds them back).
    gate: Arc<Semaphore>,
    /// Requests that reached the handler, before the gate.
    arrived: Arc<AtomicUsize>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    r.arrived.fetch_add(1, Ordering::SeqCst);
    if let Ok(p) = r.gate.acquire().await {
        p.forget();
    }
    let n = {
        let mut seen = r.seen.lock().unwrap();
        seen.push(Seen { headers, body });
        seen.len() - 1
    };
    let (status, retry_after) = r.script[n.min(r.script.len() - 1)];
    let mut resp = StatusCode::from_u16(status).unwrap().into_response();
    if let Some(v) = retry_after {
        resp.headers_mut().insert("retry-after", v.parse().unwrap());
    }
    resp
}

async fn receiver(
    script: Vec<(u16, Option<&'static str>)>,
    permits: usize,
) -> (url::Url, Receiver) {
    let r = Receiver {
        seen: Arc::default(),
        script: Arc::new(script),
        gate: Arc::new(Semaphore::new(permits)),
        arrived: Arc::default(),
    };
    let app = Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook").parse().unwrap(), r)
}

fn config(url: url::Url) -> WebhookConfig {
    let mut c = WebhookConfig::new(url, SECRET);
    c.base_delay = Duration::from_millis(10);
    c.max_delay = Duration::from_millis(50);
    c.timeout = Duration::from_secs(5);
    c
}

fn loopback_guard() -> Arc<OutboundGuard> {
    Arc::new(OutboundGuard::new(true))
}

#[tokio::test]
async fn signed_notice_is_retried_on_5xx_and_429_with_one_delivery_id() {
    let (url, r) = receiver(
        vec![(500, None), (429, Some("0")), (204, None)],
        Semaphore::MAX_PERMITS,
    )
    .await;
    let hook = Webhook::start(config(url), loopback_guard()).unwrap();
    let notice = Notice::new(
        "autopilot.decision",
        serde_json::json!({"rule": "gitPressure", "gitUsagePercent": 83}),
    );
    let id = notice.id.to_string();
    hook.notify(notice).unwrap();
    hook.shutdown().await;

    let seen = r.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "500, 429, then 204");
    for s in &seen {
        assert_eq!(s.headers[DELIVERY_HEADER], id.as_str());
        assert_eq!(s.headers[EVENT_HEADER], "autopilot.decision");
        assert_eq!(s.headers["content-type"], "application/json");
        // The signature is over the exact bytes received, under the shared secret.
        assert_eq!(
            s.headers[SIGNATURE_HEADER].to_str().unwrap(),
            signature(SECRET, &s.body)
        );
        assert_ne!(
            s.headers[SIGNATURE_HEADER].to_str().unwrap(),
            signature(b"another secret", &s.body)
        );
    }
    assert_eq!(seen[0].body, seen[2].body, "a retry sends the same body");
    let body: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(body["event"], "autopilot.decision");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["data"]["rule"], "gitPressure");
    let at = body["at"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(at).expect("`at` is RFC 3339");
}

#[tokio::test]
async fn a_4xx_other_than_408_and_429_is_final() {
    let (url, r) = receiver(vec![(400, None), (200, None)], Semaphore::MAX_PERMITS).await;
    let hook = Webhook::start(config(url), loopback_guard()).unwrap();
    hook.notify(Notice::new("autopilot.decision", serde_json::json!({})))
        .unwrap();
    hook.shutdown().await;
    assert_eq!(r.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn attempts_are_capped() {
    let (url, r) = receiver(vec![(503, None)], Semaphore::MAX_PERMITS).await;
    let mut c = config(url);
    c.max_attempts = 3;
    let hook = Webhook::start(c, loopback_guard()).unwrap();
    hook.notify(Notice::new("autopilot.decision", serde_json::json!({})))
        .unwrap();
    hook.shutdown().await;
    assert_eq!(r.seen.lock().unwrap().len(), 3);
}

/// A loopback receiver is a private address: with private origins not allowed, the guard
/// refuses the connection, no request arrives and nothing is retried.
#[tokio::test]
async fn the_outbound_guard_refuses_a_private_receiver() {
    let (url, r) = receiver(vec![(200, None)], Semaphore::MAX_PERMITS).await;
    let hook = Webhook::start(config(url), Arc::new(OutboundGuard::new(false))).unwrap();
    hook.notify(Notice::new("autopilot.decision", serde_json::json!({})))
        .unwrap();
    hook.shutdown().await;
    assert_eq!(r.seen.lock().unwrap().len(), 0);
}

/// One notice in flight (held at the receiver) and `queue` waiting: the next is refused with
/// `QueueFull` and the ones taken are all delivered, in order.
#[tokio::test]
async fn a_full_queue_drops_the_notice_and_says_so() {
    let (url, r) = receiver(vec![(200, None)], 0).await;
    let mut c = config(url);
    c.queue = 2;
    let hook = Webhook::start(c, loopback_guard()).unwrap();
    hook.notify(Notice::new("n.0", serde_json::json!({})))
        .unwrap();
    // Wait until the first is at the receiver (off the queue, held by the gate).
    for _ in 0..500 {
        if r.arrived.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(r.arrived.load(Ordering::SeqCst), 1);
    hook.notify(Notice::new("n.1", serde_json::json!({})))
        .unwrap();
    hook.notify(Notice::new("n.2", serde_json::json!({})))
        .unwrap();
    let err = hook
        .notify(Notice::new("n.3", serde_json::json!({})))
        .unwrap_err();
    assert!(matches!(err, NotifyError::QueueFull(2)), "{err}");
    r.gate.add_permits(16);
    hook.shutdown().await;
    let events: Vec<String> = r
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.headers[EVENT_HEADER].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["n.0", "n.1", "n.2"]);
}
