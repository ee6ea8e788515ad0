//! The SSE stream path, at the connection level: a connection whose first request is a plain
//! `GET /v1/configs/{key}/events` is served here, with nothing of hyper's per-connection state
//! left once the stream starts; every other connection goes to hyper and the router unchanged.
//!
//! Why: an SSE stream is an idle connection that now and then gets one pre-serialised frame.
//! Under hyper each such connection keeps an 8 KiB read buffer and an 8 KiB write buffer for its
//! whole life (hyper 1.x has no server setting below 8 KiB), about 20 KiB per stream in all; the
//! fleet holds one stream per install. Here a stream is a small task: the socket, a `watch`
//! receiver of the key's snapshot, the heartbeat timer. The frame comes already framed as an
//! HTTP/1.1 chunk ([`crate::snapshot::Snapshot::sse_chunk`]), so a push writes the same bytes
//! to every stream, and a slow client only delays itself (the kernel's socket buffer is its
//! buffer; a client that lags is sent the newest version, never a backlog).
//!
//! The answer is the router's own (`control-plane/tests/stream_path.rs` compares the raw bytes
//! of both, header for header and event for event): the same authorization and first read
//! ([`crate::api::open_stream`]), the same headers (the route's three, the CORS layer's, then
//! `transfer-encoding: chunked` and `date` as hyper adds them), the same per-IP rate limit,
//! request metrics (route label `/v1/configs/{key}/events`), open-stream gauge and DEBUG
//! tracing, heartbeats every `--sse-heartbeat-secs`, and the end of the stream on shutdown.
//!
//! A connection takes this path only when its first request head arrives whole within
//! [`SNIFF_TIMEOUT`] and [`MAX_HEAD`] bytes, with nothing after it, and is an HTTP/1.1 `GET` of
//! `/v1/configs/<key>/events` (one segment, no `%`, no query) carrying none of `Origin` (browsers'
//! CORS requests), `Upgrade`, `Expect`, `Connection`, `Content-Length`, `Transfer-Encoding`. A
//! request this path would refuse (a bad token, an unknown key, the rate limit, the database
//! down) also goes to the router, which gives the error answer. Anything else, HTTP/2 included,
//! reaches hyper with the bytes read so far replayed first ([`Prefixed`]). Request heads are
//! parsed by `httparse`, the parser hyper itself uses.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use crate::api::{self, OpenStream, StreamStart};
use crate::snapshot::http_chunk;
use crate::state::AppState;
use crate::{observability, ratelimit};

/// The route template the metrics of this path are labelled with (the router's own).
const ROUTE: &str = "/v1/configs/{key}/events";

/// The largest first request head this path reads, in bytes; a longer one goes to hyper.
pub(crate) const MAX_HEAD: usize = 4096;

/// How long the first request head may take to arrive before the connection goes to hyper as
/// it is (which then applies its own rules to a slow client).
pub(crate) const SNIFF_TIMEOUT: Duration = Duration::from_secs(10);

/// The most headers the first request may carry to take this path.
const MAX_HEADERS: usize = 32;

/// How many connections handed to hyper may wait for its accept loop.
const BACKLOG: usize = 1024;

/// A heartbeat (an SSE comment line) as one chunk.
const HEARTBEAT_CHUNK: &[u8] = b"3\r\n:\n\n\r\n";

/// The last chunk of the chunked coding: the stream is over.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// What the stream path needs of the service: the state and the CORS headers the router adds
/// to a request without `Origin`.
struct PathContext {
    state: AppState,
    cors: HeaderMap,
}

/// The listener axum serves: connections the stream path did not keep, in accept order.
pub(crate) struct Connections {
    rx: mpsc::Receiver<(Prefixed, SocketAddr)>,
    local: SocketAddr,
}

impl Connections {
    /// Accepts on `tcp`, serving SSE streams itself (see the module docs) and handing every
    /// other connection to whoever accepts from the returned [`Connections`]. The task is the
    /// accept loop: abort it to stop accepting.
    pub(crate) fn start(
        tcp: TcpListener,
        state: AppState,
        cors: HeaderMap,
    ) -> io::Result<(Connections, JoinHandle<()>)> {
        let local = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(BACKLOG);
        let ctx = Arc::new(PathContext { state, cors });
        let task = tokio::spawn(accept_loop(tcp, ctx, tx));
        Ok((Connections { rx, local }, task))
    }
}

impl axum::serve::Listener for Connections {
    type Io = Prefixed;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Prefixed, SocketAddr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept loop was stopped (shutdown): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    tcp: TcpListener,
    ctx: Arc<PathContext>,
    tx: mpsc::Sender<(Prefixed, SocketAddr)>,
) {
    loop {
        match tcp.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(sniff(stream, peer, ctx.clone(), tx.clone()));
            }
            Err(e) if is_connection_error(&e) => {}
            // As axum's own accept loop (after hyper 0.14's): most likely out of file
            // descriptors; wait for some to be closed.
            Err(e) => {
                tracing::error!("accept error: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Reads the first request head; serves the connection when it is a stream request this path
/// takes, else hands it on with the bytes read so far.
async fn sniff(
    mut stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<PathContext>,
    tx: mpsc::Sender<(Prefixed, SocketAddr)>,
) {
    let mut head = Vec::new();
    match tokio::time::timeout(SNIFF_TIMEOUT, read_head(&mut stream, &mut head)).await {
        Ok(Ok(Some(len))) if len == head.len() => {
            if let Some(start) = accept_stream(&head, peer, &ctx).await {
                drop(head);
                start.run(stream, &ctx.state).await;
                return;
            }
        }
        // The client left before sending anything.
        Ok(Err(_)) if head.is_empty() => return,
        _ => {}
    }
    let _ = tx.send((Prefixed::new(head, stream), peer)).await;
}

/// Reads into `buf` until it holds a whole request head (`Some(length)`), or until it is clear
/// this path will not take the connection (`None`: not a `GET /v1/configs/…` request, a head
/// over [`MAX_HEAD`] bytes, a parse error, or the end of the stream).
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
    const PREFIX: &[u8] = b"GET /v1/configs/";
    buf.reserve(1024);
    loop {
        if stream.read_buf(buf).await? == 0 {
            return Ok(None);
        }
        let n = buf.len().min(PREFIX.len());
        if buf[..n] != PREFIX[..n] {
            return Ok(None);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match httparse::Request::new(&mut headers).parse(buf) {
            Ok(httparse::Status::Complete(len)) => return Ok(Some(len)),
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {
                buf.reserve(MAX_HEAD - buf.len());
            }
            _ => return Ok(None),
        }
    }
}

/// The key of a path this path serves: `/v1/configs/<key>/events`, one non-empty segment with
/// no `%` (a percent-encoded key goes through the router, which decodes it) and no query.
fn events_key(path: &str) -> Option<&str> {
    let key = path.strip_prefix("/v1/configs/")?.strip_suffix("/events")?;
    (!key.is_empty() && !key.bytes().any(|b| matches!(b, b'/' | b'%' | b'?' | b'#'))).then_some(key)
}

/// Headers that send a request to the router: browsers' CORS requests, protocol changes and
/// connection options (which hyper answers on), and any request body.
const ROUTER_HEADERS: [HeaderName; 6] = [
    header::ORIGIN,
    header::UPGRADE,
    header::EXPECT,
    header::CONNECTION,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
];

/// Decides on a complete request head: the stream's start when this path serves it (its
/// response head already written into [`Accepted::head`]), `None` for the router.
async fn accept_stream(head: &[u8], peer: SocketAddr, ctx: &PathContext) -> Option<Accepted> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(head).ok()?;
    if req.method != Some("GET") || req.version != Some(1) {
        return None;
    }
    let path = req.path?;
    let key = events_key(path)?;
    let mut map = HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        map.append(name, HeaderValue::from_bytes(h.value).ok()?);
    }
    if ROUTER_HEADERS.iter().any(|h| map.contains_key(h)) {
        return None;
    }
    let span = tracing::debug_span!("request", method = "GET", uri = %path,
        version = ?axum::http::Version::HTTP_11);
    async {
        let started = Instant::now();
        let state = &ctx.state;
        if let Some(limiter) = &state.limiter {
            let mut ext = Extensions::new();
            ext.insert(ConnectInfo(peer));
            let ip = observability::request_client_ip(state, &ext, &map);
            // Refused: the router answers the 429 (and counts it).
            ratelimit::check(limiter, ip).ok()?;
        }
        let start = api::open_stream(state, key, &map).await.ok()?;
        let latency = started.elapsed();
        observability::record_request(ROUTE, &Method::GET, StatusCode::OK, latency);
        tracing::debug!(latency = %format_args!("{} ms", latency.as_millis()), status = 200,
            "finished processing request");
        Some(Accepted {
            head: response_head(&ctx.cors),
            start,
        })
    }
    .instrument(span)
    .await
}

/// The response head the router's SSE answer has: the route's headers, the CORS layer's, then
/// the two hyper adds.
fn response_head(cors: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    let mut line = |name: &[u8], value: &[u8]| {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    line(b"content-type", b"text/event-stream");
    line(b"cache-control", b"no-cache");
    line(b"x-accel-buffering", b"no");
    for (name, value) in cors {
        line(name.as_str().as_bytes(), value.as_bytes());
    }
    line(b"transfer-encoding", b"chunked");
    line(
        b"date",
        httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes(),
    );
    out.extend_from_slice(b"\r\n");
    out
}

/// A stream this path serves: its response head and where it starts.
struct Accepted {
    head: Vec<u8>,
    start: StreamStart,
}

enum Wake {
    Changed(bool),
    Heartbeat,
    Stop,
    Readable,
}

impl Accepted {
    /// Writes the head, then the frames, until the client leaves, the key is deleted or the
    /// service stops (then the last chunk ends the response).
    async fn run(self, mut stream: TcpStream, state: &AppState) {
        let _open = OpenStream::new();
        metrics::counter!("sourcegate_sse_connection_streams_total").increment(1);
        let StreamStart {
            mut rx,
            pending,
            mut last,
        } = self.start;
        if stream.write_all(&self.head).await.is_err() {
            return;
        }
        drop(self.head);
        if let Some(frame) = pending {
            metrics::counter!("sourcegate_sse_events_sent_total").increment(1);
            if stream.write_all(&http_chunk(&frame)).await.is_err() {
                return;
            }
        }
        let every = Duration::from_secs(state.settings.sse_heartbeat_secs.max(1));
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stop = state.shutdown.clone();
        loop {
            let wake = tokio::select! {
                changed = rx.changed() => Wake::Changed(changed.is_ok()),
                _ = heartbeat.tick() => Wake::Heartbeat,
                _ = stop.wait_for(|stop| *stop) => Wake::Stop,
                _ = stream.readable() => Wake::Readable,
            };
            let written = match wake {
                // The key was deleted, or the service is stopping.
                Wake::Changed(false) | Wake::Stop => break,
                Wake::Changed(true) => {
                    let snap = rx.borrow_and_update().clone();
                    match snap {
                        Some(snap) if snap.version() > last => {
                            last = snap.version();
                            metrics::counter!("sourcegate_sse_events_sent_total").increment(1);
                            stream.write_all(&snap.sse_chunk).await
                        }
                        _ => Ok(()),
                    }
                }
                // A comment line keeps proxies from closing an idle stream.
                Wake::Heartbeat => stream.write_all(HEARTBEAT_CHUNK).await,
                // A client sends nothing more on a stream: this is its end (0), or bytes that
                // are dropped as hyper would leave them unread.
                Wake::Readable => match stream.try_read(&mut [0u8; 64]) {
                    Ok(0) => return,
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
                    Err(_) => return,
                },
            };
            if written.is_err() {
                return;
            }
        }
        let _ = stream.write_all(LAST_CHUNK).await;
        let _ = stream.shutdown().await;
    }
}

/// A connection for hyper: the bytes the stream path read first, then the socket.
pub(crate) struct Prefixed {
    prefix: Vec<u8>,
    pos: usize,
    io: TcpStream,
}

impl Prefixed {
    fn new(prefix: Vec<u8>, io: TcpStream) -> Prefixed {
        Prefixed { prefix, pos: 0, io }
    }
}

impl AsyncRead for Prefixed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.pos);
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                // Replayed: free it for the connection's lifetime.
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn only_plain_stream_paths_take_this_path() {
        assert_eq!(
            events_key("/v1/configs/marketplace_source/events"),
            Some("marketplace_source")
        );
        for path in [
            "/v1/configs//events",
            "/v1/configs/a/b/events",
            "/v1/configs/a%5Fb/events",
            "/v1/configs/k/events?x=1",
            "/v1/configs/k",
            "/v1/configs/k/events/",
            "/v1/configs/k/history",
        ] {
            assert_eq!(events_key(path), None, "{path}");
        }
    }

    #[test]
    fn chunks_are_framed_as_rfc_9112_says() {
        assert_eq!(&http_chunk(b":\n\n")[..], HEARTBEAT_CHUNK);
        assert_eq!(&http_chunk(&[b'x'; 26])[..4], b"1A\r\n");
    }
}
