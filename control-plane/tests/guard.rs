//! The outbound guard end to end: the health probes and `/v1/origins/test` never connect to a
//! refused destination, never follow a redirect, and the public health view tells no error
//! text or timing. Every socket here is on loopback: refused targets are loopback listeners
//! that count connections (a gap in the guard would show as a count, never as traffic leaving
//! the machine).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use sourcegate_control_plane::guard::{GuardError, OutboundGuard};
use sourcegate_testkit::{Fault, OriginOptions, OriginStyle, TestOrigin};
use uuid::Uuid;

/// A loopback listener that counts accepted connections and answers nothing useful.
struct Counter {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Counter {
    async fn start() -> Counter {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                drop(sock);
            }
        });
        Counter {
            addr,
            accepted,
            task,
        }
    }

    fn count(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Probed every 5 s (the shortest interval documents may ask for), first probe within 0.5 s.
async fn health(ctx: &Ctx, bearer: Option<&str>) -> (u16, Value) {
    let mut r = ctx.http.get(ctx.url("/v1/origins/health"));
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls the admin health view until `pred` holds (`secs` at most).
async fn wait_admin_health(
    ctx: &Ctx,
    secs: u64,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let admin = admin_token(Uuid::new_v4());
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (status, h) = health(ctx, Some(&admin)).await;
        if status == 200 && pred(&h) {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {h}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn origin<'a>(h: &'a Value, kind: &str) -> &'a Value {
    h["origins"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["origin"] == kind))
        .unwrap_or(&Value::Null)
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn loopback_origins_written_by_an_admin_are_never_connected_to_without_allow_private() {
    // Stored before start: a loopback origin with health checks off (nothing is probed yet).
    let quiet = Counter::start().await;
    let mut stored = probe_doc(&format!("http://{}/", quiet.addr), None);
    stored["healthCheckEnabled"] = json!(false);
    let ctx = start_probing(stored, false).await;

    // The admin writes a document whose Git origin is an IP literal (skips DNS: the connector
    // layer must refuse it) and whose CDN is `localhost` (resolves to loopback: the DNS hook must
    // refuse it). Both are listeners counting every connection.
    let literal = Counter::start().await;
    let named = Counter::start().await;
    let git = format!("http://{}/", literal.addr);
    let cdn = format!("http://localhost:{}/", named.addr.port());
    let admin = admin_token(Uuid::new_v4());
    let r = ctx
        .put(
            Some(&admin),
            json!({"value": probe_doc(&git, Some(&cdn)), "reason": "private origins"}),
        )
        .await;
    // First line: the write-time validator refuses private hosts on this server.
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "gitUrl");
    // Second line, tested here: a row that names them anyway (written while private origins
    // were allowed, or before the rule) reaches the prober, whose guard must refuse it.
    store_unvalidated(&ctx.db.admin_url, probe_doc(&git, Some(&cdn))).await;

    // Three probes of each origin (one at once, then every 5 s): all refused before connecting.
    let h = wait_admin_health(&ctx, 20, "three refused probes of each origin", |h| {
        ["git", "cdn"]
            .iter()
            .all(|k| origin(h, k)["checks"].as_u64() >= Some(3))
    })
    .await;
    assert_eq!(literal.count(), 0, "the IP-literal origin was connected to");
    assert_eq!(named.count(), 0, "the localhost origin was connected to");
    assert_eq!(quiet.count(), 0);
    for kind in ["git", "cdn"] {
        let o = origin(&h, kind);
        assert_eq!(o["healthy"], false, "{o}");
        let err = o["lastError"].as_str().unwrap_or_default();
        assert!(
            err.starts_with("refused by the outbound guard"),
            "{kind}: {o}"
        );
        assert!(err.contains("loopback"), "{kind}: {o}");
    }
    assert_eq!(origin(&h, "git")["url"], git);
    assert_eq!(origin(&h, "cdn")["url"], cdn);

    // Anonymous: the verdicts only, no error text or timing.
    let (status, public) = health(&ctx, None).await;
    assert_eq!(status, 200);
    for kind in ["git", "cdn"] {
        let o = origin(&public, kind);
        assert_eq!(
            keys(o),
            ["ejected", "healthy", "origin", "rateLimited", "url"],
            "{o}"
        );
        assert_eq!(o["healthy"], false);
    }
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn with_allow_private_a_redirect_is_never_followed() {
    // The redirect target counts connections; the origin answers 302 to it on every path.
    let target = Counter::start().await;
    let location = format!("http://{}/community-plugins.json", target.addr);
    let hits = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&hits);
    let redirecting = axum::Router::new().fallback(move || {
        let count = Arc::clone(&count);
        let location = location.clone();
        async move {
            count.fetch_add(1, Ordering::SeqCst);
            (
                axum::http::StatusCode::FOUND,
                [(axum::http::header::LOCATION, location)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = tokio::spawn(async move { axum::serve(listener, redirecting).await });
    let git = format!("http://{addr}/");
    let ctx = start_probing(probe_doc(&git, None), true).await;

    // The probes reach the origin (allow-private) and stop at its 302.
    let h = wait_admin_health(&ctx, 10, "git probed", |h| {
        origin(h, "git")["checks"].as_u64() >= Some(1)
    })
    .await;
    assert!(hits.load(Ordering::SeqCst) >= 1);
    assert_eq!(origin(&h, "git")["url"], git);

    // So does the admin's origin test.
    let r: Value = ctx
        .http
        .post(ctx.url("/v1/origins/test"))
        .bearer_auth(service_token())
        .json(&json!({"url": format!("{git}community-plugins.json")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], 302, "{r}");
    assert_eq!(r["ok"], false);
    assert_eq!(target.count(), 0, "a redirect was followed");
    ctx.server.shutdown().await;
    serve.abort();
}

#[tokio::test]
async fn the_health_view_shows_errors_and_timings_to_admins_only() {
    let cdn = TestOrigin::start(OriginOptions::new(OriginStyle::Cdn))
        .await
        .unwrap();
    cdn.set_fault(Fault::Status(503));
    let ctx = start_probing(probe_doc(&cdn.base_url(), None), true).await;
    let h = wait_admin_health(&ctx, 10, "failed probe", |h| {
        origin(h, "git")["checks"].as_u64() >= Some(1)
    })
    .await;
    let full = origin(&h, "git");
    assert_eq!(full["lastError"], "HTTP 503");
    assert!(full["responseTimeMs"].is_number(), "{full}");
    assert!(full["lastCheck"].is_string(), "{full}");
    assert_eq!(full["healthy"], false);

    let public_keys = ["ejected", "healthy", "origin", "rateLimited", "url"];
    // Anonymous, the anon key and a signed-in non-admin: verdicts only.
    for bearer in [None, Some(anon_key()), Some(user_token(Uuid::new_v4()))] {
        let (status, v) = health(&ctx, bearer.as_deref()).await;
        assert_eq!(status, 200, "{bearer:?}");
        let o = origin(&v, "git");
        assert_eq!(keys(o), public_keys, "{bearer:?}: {o}");
        assert_eq!(o["healthy"], false);
        assert_eq!(o["url"], cdn.base_url());
    }
    // An invalid token is refused, as everywhere.
    let (status, v) = health(&ctx, Some("a.b.c")).await;
    assert_eq!(status, 401);
    assert_eq!(v["code"], "unauthorized");
    ctx.server.shutdown().await;
}

/// The guard's error in `e`'s source chain, if the guard refused the request.
fn refusal_in(e: &reqwest::Error) -> Option<&GuardError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(g) = s.downcast_ref::<GuardError>() {
            return Some(g);
        }
        source = s.source();
    }
    None
}

#[tokio::test]
async fn the_guarded_client_refuses_loopback_literals_and_names_before_connecting() {
    let listener = Counter::start().await;
    let port = listener.addr.port();
    let closed = Arc::new(OutboundGuard::new(false));
    let client = closed.client_builder().build().unwrap();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[64:ff9b::7f00:1]:{port}/"),
    ] {
        let e = client.get(&url).send().await.unwrap_err();
        let guard_error = refusal_in(&e);
        assert!(
            guard_error.is_some_and(GuardError::is_refusal),
            "{url}: {e:?}"
        );
    }
    assert!(closed.refusal("127.0.0.1").is_some());
    assert!(closed.refusal("localhost").is_some());
    assert_eq!(listener.count(), 0);

    // Allowed (and the destination readable): the same client kind reaches loopback.
    let open = Arc::new(OutboundGuard::new(true));
    let client = open.client_builder().build().unwrap();
    let e = client
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap_err(); // the counter hangs up without answering
    assert!(refusal_in(&e).is_none(), "{e:?}");
    assert_eq!(listener.count(), 1);
    assert_eq!(open.refusal("127.0.0.1"), None);
}
