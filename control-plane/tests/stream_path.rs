//! The connection-level SSE path (`stream_path`) against the router's own SSE answer: a stream
//! request for `marketplace_source` takes the connection path, the same key percent-encoded
//! (`marketplace%5Fsource`) goes through hyper and the router, which decodes it. Both are read
//! as raw bytes off the socket, so the comparison covers the status line, every header but
//! `date`, and the chunked framing of every event.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(5);

/// One raw HTTP/1.1 stream: the socket and what was read from it but not consumed yet.
struct Raw {
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    async fn open(addr: SocketAddr, path: &str, headers: &[(&str, String)]) -> Raw {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let mut req =
            format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        tcp.write_all(req.as_bytes()).await.unwrap();
        Raw {
            tcp,
            buf: Vec::new(),
        }
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(WAIT, self.tcp.read(&mut chunk))
            .await
            .expect("no data within 5 s")
            .unwrap();
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// The status line and the headers but `date`, sorted.
    async fn head(&mut self) -> (String, Vec<String>) {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            assert!(self.fill().await, "closed before the head");
        };
        let text = String::from_utf8(self.buf[..end].to_vec()).unwrap();
        self.buf.drain(..end + 4);
        let mut lines = text.split("\r\n");
        let status = lines.next().unwrap().to_owned();
        let mut headers: Vec<String> = lines
            .filter(|l| !l.starts_with("date:"))
            .map(str::to_owned)
            .collect();
        headers.sort();
        (status, headers)
    }

    /// The next chunk, framing included (`None`: the stream ended before one).
    async fn chunk(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let size = usize::from_str_radix(std::str::from_utf8(&self.buf[..i]).unwrap(), 16)
                    .unwrap();
                let total = i + 2 + size + 2;
                if self.buf.len() >= total {
                    return Some(self.buf.drain(..total).collect());
                }
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// The next chunk that is not a heartbeat.
    async fn event(&mut self) -> Vec<u8> {
        loop {
            let c = self.chunk().await.expect("stream ended");
            if c != b"3\r\n:\n\n\r\n" {
                return c;
            }
        }
    }
}

async fn metric(http: &reqwest::Client, maddr: SocketAddr, name: &str) -> f64 {
    let text = http
        .get(format!("http://{maddr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn stream_path_answers_as_the_router_does() {
    let ctx = start_with(|s| {
        s.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        s.sse_heartbeat_secs = 1;
    })
    .await;
    let (addr, maddr) = (ctx.server.addr(), ctx.server.metrics_addr().unwrap());
    let version = ctx.get_config().await["version"].as_i64().unwrap();
    let user = user_token(Uuid::new_v4());
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, String)>, bool);
    let cases: Vec<Case> = vec![
        ("anon", "marketplace_source", vec![], true),
        (
            "anon key",
            "marketplace_source",
            vec![("apikey", anon_key())],
            true,
        ),
        (
            "last-event-id current",
            "marketplace_source",
            vec![("last-event-id", version.to_string())],
            false,
        ),
        (
            "last-event-id older",
            "marketplace_source",
            vec![("last-event-id", (version - 1).to_string())],
            true,
        ),
        (
            "service",
            "marketplace_source",
            vec![("authorization", format!("Bearer {}", service_token()))],
            true,
        ),
        (
            "user",
            "marketplace_source",
            vec![("authorization", format!("Bearer {user}"))],
            true,
        ),
        (
            "bad token",
            "marketplace_source",
            vec![("authorization", "Bearer a.b.c".into())],
            false,
        ),
        ("unknown key", "no_such_key", vec![], false),
    ];
    let served = "sourcegate_sse_connection_streams_total";
    let mut open = Vec::new();
    for (name, key, headers, first_event) in cases {
        let before = metric(&ctx.http, maddr, served).await;
        let mut direct = Raw::open(addr, &format!("/v1/configs/{key}/events"), &headers).await;
        let encoded = key.replace('_', "%5F");
        let mut routed = Raw::open(addr, &format!("/v1/configs/{encoded}/events"), &headers).await;
        let (d, r) = (direct.head().await, routed.head().await);
        assert_eq!(d, r, "{name}: heads differ");
        let ok = d.0 == "HTTP/1.1 200 OK";
        assert!(
            d.1.iter()
                .any(|h| h.starts_with("access-control-allow-origin:")),
            "{name}: CORS headers missing: {:?}",
            d.1
        );
        // Only the plain key took the connection path, and only when it streams.
        let after = metric(&ctx.http, maddr, served).await;
        assert_eq!(after - before, if ok { 1.0 } else { 0.0 }, "{name}");
        if !ok {
            continue;
        }
        if first_event {
            let (d, r) = (direct.event().await, routed.event().await);
            assert_eq!(d, r, "{name}: first events differ");
            let text = String::from_utf8_lossy(&d);
            assert!(text.contains(&format!("id: {version}\n")), "{name}: {text}");
        }
        open.push((name, direct, routed));
    }
    assert_eq!(
        metric(&ctx.http, maddr, "sourcegate_sse_streams_open").await,
        (open.len() * 2) as f64
    );

    // A flip reaches every stream as the same bytes on both paths.
    let r = ctx
        .put(
            Some(&service_token()),
            json!({"value": cdn_doc(), "reason": "stream path"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let next = r.json::<Value>().await.unwrap()["version"]
        .as_i64()
        .unwrap();
    for (name, direct, routed) in &mut open {
        let (d, r) = (direct.event().await, routed.event().await);
        assert_eq!(d, r, "{name}: flip events differ");
        assert!(
            String::from_utf8_lossy(&d).contains(&format!("id: {next}\n")),
            "{name}"
        );
    }
    // Heartbeats (every second here) on both paths.
    let (name, direct, routed) = &mut open[0];
    assert_eq!(direct.chunk().await.unwrap(), b"3\r\n:\n\n\r\n", "{name}");
    assert_eq!(routed.chunk().await.unwrap(), b"3\r\n:\n\n\r\n", "{name}");

    // Clients that leave free their streams.
    open.clear();
    let deadline = tokio::time::Instant::now() + WAIT;
    while metric(&ctx.http, maddr, "sourcegate_sse_streams_open").await != 0.0 {
        assert!(tokio::time::Instant::now() < deadline, "streams not freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Other requests on a connection still reach the router (the bytes read first replayed).
    let mut other = Raw::open(addr, "/v1/configs/marketplace_source", &[]).await;
    assert_eq!(other.head().await.0, "HTTP/1.1 200 OK");

    // Shutdown ends a stream with the last chunk.
    let mut direct = Raw::open(addr, "/v1/configs/marketplace_source/events", &[]).await;
    direct.head().await;
    direct.event().await;
    let stopping = tokio::spawn(ctx.server.shutdown());
    let mut rest = Vec::new();
    while let Some(c) = direct.chunk().await {
        rest = c;
        if rest == b"0\r\n\r\n" {
            break;
        }
    }
    assert_eq!(rest, b"0\r\n\r\n");
    stopping.await.unwrap();
}
