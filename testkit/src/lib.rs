//! Loopback origins that behave like the two hosts Sourcegate routes between.
//!
//! - [`OriginStyle::GitRaw`]: like `raw.githubusercontent.com` / the GitHub API: an optional
//!   per-client rate limit (keyed by peer IP, GitHub's unauthenticated rule) answered with
//!   `429` (raw host) or `403` + `x-ratelimit-remaining: 0` + `x-ratelimit-reset` (REST API),
//!   with or without `Retry-After`. Like the raw host it sends `text/plain`, a strong `ETag`,
//!   `Cache-Control: max-age=300`, gzip when the client accepts it, and answers a matching
//!   `If-None-Match` with 304.
//! - [`OriginStyle::Cdn`]: no limit, `Cache-Control: public, max-age=300`, a strong `ETag`
//!   (with `If-None-Match` → 304), gzip, and `Age` (seconds since its copy was taken, within
//!   `max-age`).
//!
//! The caching headers are [`OriginOptions::cache_control`] (e.g. `no-cache` for tests where
//! every fetch must reach the origin). Either origin can be switched at run time to fail
//! ([`Fault`]): a fixed status, a stall, an HTML page or a broken body; and can publish a new
//! body ([`TestOrigin::set_body`]). Servers bind `127.0.0.1:0` and never reach beyond loopback.
//!
//! [`OriginPair`] starts one of each, the usual setup of a routing or health test; [`http`]
//! holds the request assertions the tests share ([`http::Expect::expect`]: status and error
//! code in one call).
//!
//! The registry served by default is [`REGISTRY`], the real Obsidian community-plugin list
//! (see `data/README.md` for its source).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

pub mod http;
mod wire;

/// The real Obsidian community-plugin registry (6,858 entries, 2026-08-22), from the public
/// `obsidianmd/obsidian-releases` repository (no license declared; see `data/README.md`).
pub static REGISTRY: &[u8] = include_bytes!("../../data/community-plugins.json");

/// An older snapshot of the same registry (2025-05-12, 2,428 entries; see `data/README.md`):
/// the other body an origin can publish ([`TestOrigin::set_body`]).
pub static REGISTRY_OLDER: &[u8] = include_bytes!("../../data/community-plugins.2025-05-12.json");

/// The file name origins serve the registry under.
pub const REGISTRY_PATH: &str = "community-plugins.json";

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// How an origin behaves when healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginStyle {
    /// A Git raw host: rate-limited if [`OriginOptions::rate_limit`] is set.
    GitRaw,
    /// A CDN: `ETag`, `Cache-Control`, no limit.
    Cdn,
}

/// How the Git origin answers when a client is over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitAnswer {
    /// `429` with `Retry-After: <secs until a slot frees>` (as GitHub's API does).
    TooManyRequestsWithRetryAfter,
    /// `429` with no rate-limit headers (as `raw.githubusercontent.com` does).
    TooManyRequestsBare,
    /// `403` with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (GitHub REST primary limit).
    ForbiddenWithReset,
}

/// A failure injected into an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Serve normally.
    None,
    /// Answer every request with this status (e.g. 500, 503, 429).
    Status(u16),
    /// Answer one request in `every` with `status` (the requests whose count since the
    /// origin started, [`TestOrigin::hits`], is a multiple of `every`), serve the others.
    StatusEvery {
        /// The status of the failed answers (e.g. 500).
        status: u16,
        /// One request in this many fails (5: a fifth); 0 or 1: every request.
        every: u64,
    },
    /// Answer 429 with `Retry-After: <secs>`.
    RateLimited {
        /// Seconds in `Retry-After`.
        retry_after_secs: u64,
    },
    /// Never answer (the client times out).
    Stall,
    /// Answer 200 with an HTML page (a captive portal or a host's error page).
    Html,
    /// Answer 200 with the first half of the body, chunked (no `Content-Length`), then end.
    TruncatedBody,
    /// Answer 200 headers and a first chunk of the body, then send nothing more.
    StallBody,
    /// Answer 200 with an endless chunked body (64 KiB chunks, no `Content-Length`).
    EndlessBody,
}

/// What an origin serves at [`REGISTRY_PATH`], replaced by [`TestOrigin::set_body`].
struct Published {
    body: Bytes,
    /// Strong validator: a prefix of the body's SHA-256, quoted.
    etag: String,
    /// The body gzip-compressed (computed once per body).
    gzip: Bytes,
    /// When this body was published (the CDN's `Age` counts from here).
    at: std::time::Instant,
}

impl Published {
    fn new(body: Bytes) -> Published {
        let etag = format!("\"{}\"", &sha256_hex(&body)[..16]);
        Published {
            gzip: gzip(&body),
            body,
            etag,
            at: std::time::Instant::now(),
        }
    }
}

fn gzip(body: &[u8]) -> Bytes {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(body);
    Bytes::from(enc.finish().unwrap_or_default())
}

/// Options of a test origin.
#[derive(Debug, Clone)]
pub struct OriginOptions {
    /// Git raw host or CDN.
    pub style: OriginStyle,
    /// Body served at [`REGISTRY_PATH`] (default [`REGISTRY`]).
    pub body: Bytes,
    /// `(requests, window)` allowed per client IP; `None` = unlimited (default).
    pub rate_limit: Option<(u32, Duration)>,
    /// How an over-limit client is answered (default [`LimitAnswer::TooManyRequestsWithRetryAfter`]).
    pub limit_answer: LimitAnswer,
    /// Extra latency added to every answer (default none).
    pub latency: Duration,
    /// `Cache-Control` of 200 and 304 answers (default `max-age=300` for the Git raw host, as
    /// `raw.githubusercontent.com` sends, and `public, max-age=300` for the CDN); `None` sends
    /// none. `no-cache` makes every fetch revalidate (a conditional request each time).
    pub cache_control: Option<String>,
    /// Compress with gzip when the request's `Accept-Encoding` allows it (default `true`).
    pub gzip: bool,
}

impl OriginOptions {
    /// Defaults for `style`: the real registry, no limit, no added latency.
    pub fn new(style: OriginStyle) -> OriginOptions {
        OriginOptions {
            style,
            body: Bytes::from_static(REGISTRY),
            rate_limit: None,
            limit_answer: LimitAnswer::TooManyRequestsWithRetryAfter,
            latency: Duration::ZERO,
            cache_control: Some(
                match style {
                    OriginStyle::GitRaw => "max-age=300",
                    OriginStyle::Cdn => "public, max-age=300",
                }
                .to_string(),
            ),
            gzip: true,
        }
    }

    /// These options with `Cache-Control: <value>`.
    pub fn cache_control(mut self, value: &str) -> OriginOptions {
        self.cache_control = Some(value.to_string());
        self
    }
}

struct Shared {
    opts: OriginOptions,
    /// `Cache-Control` now (starts as [`OriginOptions::cache_control`]).
    cache_control: Mutex<Option<String>>,
    /// Bytes written to clients on the wire (status lines, headers, bodies).
    wire_bytes: Arc<AtomicU64>,
    published: Mutex<Arc<Published>>,
    fault: Mutex<Fault>,
    limiter: Option<(DefaultKeyedRateLimiter<IpAddr>, Duration, u32)>,
    hits: AtomicU64,
    served: AtomicU64,
    limited: AtomicU64,
    not_modified: AtomicU64,
    body_bytes: AtomicU64,
    accept_encoding: Mutex<Option<String>>,
}

/// A running origin on loopback. Dropping it stops the server.
pub struct TestOrigin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Errors starting an origin.
#[derive(Debug)]
pub struct StartError(pub std::io::Error);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot start test origin: {}", self.0)
    }
}

impl std::error::Error for StartError {}

/// A Git raw host and a CDN with default options ([`OriginOptions::new`]), both on loopback:
/// the pair a routing, failover or health test starts with. Dropping it stops both.
pub struct OriginPair {
    /// The [`OriginStyle::GitRaw`] origin (no rate limit).
    pub git: TestOrigin,
    /// The [`OriginStyle::Cdn`] origin.
    pub cdn: TestOrigin,
}

impl OriginPair {
    /// Starts both origins on `127.0.0.1:0`.
    ///
    /// # Errors
    /// [`StartError`] if a socket cannot be bound.
    pub async fn start() -> Result<OriginPair, StartError> {
        Ok(OriginPair {
            git: TestOrigin::start(OriginOptions::new(OriginStyle::GitRaw)).await?,
            cdn: TestOrigin::start(OriginOptions::new(OriginStyle::Cdn)).await?,
        })
    }
}

impl TestOrigin {
    /// Starts an origin on `127.0.0.1:0`.
    ///
    /// # Errors
    /// [`StartError`] if the socket cannot be bound.
    pub async fn start(opts: OriginOptions) -> Result<TestOrigin, StartError> {
        let limiter = opts.rate_limit.and_then(|(n, window)| {
            let n = NonZeroU32::new(n)?;
            let period = window / n.get();
            let quota = Quota::with_period(period)?.allow_burst(n);
            Some((RateLimiter::keyed(quota), period, n.get()))
        });
        let wire_bytes = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Shared {
            cache_control: Mutex::new(opts.cache_control.clone()),
            wire_bytes: Arc::clone(&wire_bytes),
            published: Mutex::new(Arc::new(Published::new(opts.body.clone()))),
            opts,
            fault: Mutex::new(Fault::None),
            limiter,
            hits: AtomicU64::new(0),
            served: AtomicU64::new(0),
            limited: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
            body_bytes: AtomicU64::new(0),
            accept_encoding: Mutex::new(None),
        });
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::get(serve))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(StartError)?;
        let addr = listener.local_addr().map_err(StartError)?;
        let listener = wire::CountingListener {
            inner: listener,
            written: wire_bytes,
        };
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<wire::Peer>(),
            )
            .await;
        });
        Ok(TestOrigin { addr, shared, task })
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:<port>/`.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Injects (or clears, with [`Fault::None`]) a fault.
    pub fn set_fault(&self, fault: Fault) {
        if let Ok(mut f) = self.shared.fault.lock() {
            *f = fault;
        }
    }

    /// Requests received (including HEAD probes).
    pub fn hits(&self) -> u64 {
        self.shared.hits.load(Ordering::Relaxed)
    }

    /// Requests answered 200 with the body.
    pub fn served(&self) -> u64 {
        self.shared.served.load(Ordering::Relaxed)
    }

    /// Requests refused by the rate limit or a rate-limit fault.
    pub fn rate_limited(&self) -> u64 {
        self.shared.limited.load(Ordering::Relaxed)
    }

    /// Requests answered 304.
    pub fn not_modified(&self) -> u64 {
        self.shared.not_modified.load(Ordering::Relaxed)
    }

    /// Body bytes sent in 200 answers with the registry, as sent (compressed when gzip was
    /// used); headers and 304s not included.
    pub fn body_bytes(&self) -> u64 {
        self.shared.body_bytes.load(Ordering::Relaxed)
    }

    /// Bytes written to clients on the wire: status lines, headers and bodies (compressed as
    /// sent), of every answer.
    pub fn wire_bytes(&self) -> u64 {
        self.shared.wire_bytes.load(Ordering::Relaxed)
    }

    /// Sets the `Cache-Control` of the next answers (`None`: none).
    pub fn set_cache_control(&self, value: Option<&str>) {
        if let Ok(mut cc) = self.shared.cache_control.lock() {
            *cc = value.map(str::to_owned);
        }
    }

    /// The `Accept-Encoding` of the last request, if it had one.
    pub fn last_accept_encoding(&self) -> Option<String> {
        self.shared
            .accept_encoding
            .lock()
            .ok()
            .and_then(|a| a.clone())
    }

    /// Publishes a new body at [`REGISTRY_PATH`] (a new `ETag`; the CDN's `Age` restarts).
    pub fn set_body(&self, body: Bytes) {
        let p = Arc::new(Published::new(body));
        if let Ok(mut cur) = self.shared.published.lock() {
            *cur = p;
        }
    }

    /// The body served now at [`REGISTRY_PATH`].
    pub fn body(&self) -> Bytes {
        self.published().body.clone()
    }

    /// The `ETag` served now.
    pub fn etag(&self) -> String {
        self.published().etag.clone()
    }

    fn published(&self) -> Arc<Published> {
        self.shared.published()
    }
}

impl Shared {
    fn published(&self) -> Arc<Published> {
        match self.published.lock() {
            Ok(p) => Arc::clone(&p),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }
}

/// A 200 whose body is `stream` (chunked: no `Content-Length`).
fn chunked<S>(stream: S) -> Response
where
    S: futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
{
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn serve(
    State(s): State<Arc<Shared>>,
    ConnectInfo(wire::Peer(peer)): ConnectInfo<wire::Peer>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let hit = s.hits.fetch_add(1, Ordering::Relaxed) + 1;
    let accept = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Ok(mut a) = s.accept_encoding.lock() {
        a.clone_from(&accept);
    }
    if !s.opts.latency.is_zero() {
        tokio::time::sleep(s.opts.latency).await;
    }
    let fault = match s.fault.lock().map(|f| *f).unwrap_or(Fault::None) {
        Fault::StatusEvery { status, every } if hit % every.max(1) == 0 => Fault::Status(status),
        Fault::StatusEvery { .. } => Fault::None,
        other => other,
    };
    match fault {
        Fault::None | Fault::StatusEvery { .. } => {}
        Fault::Status(code) => {
            if code == 429 || code == 403 {
                s.limited.fetch_add(1, Ordering::Relaxed);
            }
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, "injected failure").into_response();
        }
        Fault::RateLimited { retry_after_secs } => {
            s.limited.fetch_add(1, Ordering::Relaxed);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry_after_secs.to_string())],
                "rate limited",
            )
                .into_response();
        }
        Fault::Stall => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Fault::Html => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<!DOCTYPE html><html><head><title>Sign in</title></head>\
                 <body><h1>Sign in to the network</h1></body></html>",
            )
                .into_response();
        }
        Fault::TruncatedBody => {
            let body = s.published().body.clone();
            let half = body.slice(..body.len() / 2);
            return chunked(futures_util::stream::iter([Ok(half)]));
        }
        Fault::StallBody => {
            let body = s.published().body.clone();
            let first = body.slice(..body.len().min(1024));
            let stream = futures_util::stream::unfold(Some(first), |state| async move {
                match state {
                    Some(b) => Some((Ok(b), None)),
                    None => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        None
                    }
                }
            });
            return chunked(stream);
        }
        Fault::EndlessBody => {
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            let stream = futures_util::stream::repeat_with(move || Ok(chunk.clone()));
            return chunked(stream);
        }
    }
    if path != REGISTRY_PATH {
        return (StatusCode::NOT_FOUND, "404: Not Found").into_response();
    }
    if let Some((limiter, period, burst)) = &s.limiter
        && let Err(not_until) = limiter.check_key(&peer.ip())
    {
        {
            s.limited.fetch_add(1, Ordering::Relaxed);
            let wait = not_until
                .wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                ))
                .max(*period);
            let secs = wait.as_secs_f64().ceil().max(1.0);
            return match s.opts.limit_answer {
                LimitAnswer::TooManyRequestsBare => {
                    (StatusCode::TOO_MANY_REQUESTS, "429: Too Many Requests").into_response()
                }
                LimitAnswer::TooManyRequestsWithRetryAfter => (
                    StatusCode::TOO_MANY_REQUESTS,
                    [
                        (header::RETRY_AFTER, format!("{secs}")),
                        (
                            header::HeaderName::from_static("x-ratelimit-limit"),
                            burst.to_string(),
                        ),
                        (
                            header::HeaderName::from_static("x-ratelimit-remaining"),
                            "0".to_string(),
                        ),
                    ],
                    "429: Too Many Requests",
                )
                    .into_response(),
                LimitAnswer::ForbiddenWithReset => {
                    let reset = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_secs_f64()
                        + secs;
                    (
                        StatusCode::FORBIDDEN,
                        [
                            (
                                header::HeaderName::from_static("x-ratelimit-limit"),
                                burst.to_string(),
                            ),
                            (
                                header::HeaderName::from_static("x-ratelimit-remaining"),
                                "0".to_string(),
                            ),
                            (
                                header::HeaderName::from_static("x-ratelimit-reset"),
                                format!("{}", reset.ceil()),
                            ),
                        ],
                        "API rate limit exceeded",
                    )
                        .into_response()
                }
            };
        }
    }
    let published = s.published();
    let mut resp_headers = HeaderMap::new();
    let content_type = match s.opts.style {
        OriginStyle::GitRaw => "text/plain; charset=utf-8",
        OriginStyle::Cdn => "application/json",
    };
    resp_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let cache_control = s.cache_control.lock().ok().and_then(|cc| cc.clone());
    if let Some(cc) = cache_control
        .as_deref()
        .and_then(|cc| HeaderValue::from_str(cc).ok())
    {
        resp_headers.insert(header::CACHE_CONTROL, cc);
    }
    if let Ok(v) = HeaderValue::from_str(&published.etag) {
        resp_headers.insert(header::ETAG, v);
    }
    resp_headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if s.opts.style == OriginStyle::Cdn {
        // Seconds since the edge took its copy, which it renews every max-age.
        let age = published.at.elapsed().as_secs();
        let max_age = cache_control.as_deref().and_then(max_age_of);
        let age = match max_age {
            Some(m) if m > 0 => age % m,
            _ => age,
        };
        resp_headers.insert(header::AGE, HeaderValue::from(age));
    }
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == published.etag || t.trim() == "*")
        });
    if matches {
        s.not_modified.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::NOT_MODIFIED, resp_headers).into_response();
    }
    s.served.fetch_add(1, Ordering::Relaxed);
    let gzip_ok = s.opts.gzip
        && accept.as_deref().is_some_and(|a| {
            a.split(',')
                .any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip"))
        });
    let body = if gzip_ok {
        resp_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        published.gzip.clone()
    } else {
        published.body.clone()
    };
    s.body_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    (StatusCode::OK, resp_headers, body).into_response()
}

/// The `max-age` of a `Cache-Control` value, in seconds.
fn max_age_of(cc: &str) -> Option<u64> {
    cc.split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim().parse().ok())
}
