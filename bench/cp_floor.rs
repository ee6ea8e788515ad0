#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
//! `cp_floor`: the floor of `bench/cp_reads.sh` — not an HTTP server but the least one can do
//! and still answer `wrk`: on each keep-alive connection it reads until the end of a request's
//! headers (`\r\n\r\n`), looks for `If-None-Match: <ETAG>` among them, and writes one of two
//! responses built at start (`200` with the body, or `304` with the same `ETag` and
//! `Cache-Control`). No parser, no router, no header map: what is left is the cost the kernel
//! and the runtime put on every request (one `read`, one `write`, a task wake-up), which no
//! server can go below. The ratio of its 304 rate to its 200 rate is therefore the most a 304
//! can gain over a 200 on this machine when both are served from memory.
//!
//! Usage: `cp_floor ADDR BODY_FILE ETAG`. Prints `listening on http://ADDR` when ready.

use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The two canned answers.
struct Answers {
    ok: Vec<u8>,
    not_modified: Vec<u8>,
    /// `if-none-match: <etag>`, lower-cased, as looked for in the header block.
    needle: Vec<u8>,
}

impl Answers {
    fn new(body: &[u8], etag: &str) -> Answers {
        let mut ok = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\netag: {etag}\r\n\
             cache-control: no-cache\r\nvary: accept-encoding\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        ok.extend_from_slice(body);
        let not_modified = format!(
            "HTTP/1.1 304 Not Modified\r\netag: {etag}\r\ncache-control: no-cache\r\n\
             vary: accept-encoding\r\n\r\n"
        )
        .into_bytes();
        Answers {
            ok,
            not_modified,
            needle: format!("if-none-match: {etag}")
                .to_ascii_lowercase()
                .into_bytes(),
        }
    }

    /// The answer to one request's header block.
    fn to(&self, head: &[u8]) -> &[u8] {
        let hit = head
            .windows(self.needle.len())
            .any(|w| w.eq_ignore_ascii_case(&self.needle));
        if hit { &self.not_modified } else { &self.ok }
    }
}

/// Serves one connection until the peer closes it (or sends more than 64 KiB of headers).
async fn serve(mut sock: tokio::net::TcpStream, answers: Arc<Answers>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            sock.write_all(answers.to(&buf[..end])).await?;
            buf.drain(..end + 4);
        }
        if buf.len() > 64 * 1024 {
            return Ok(());
        }
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: cp_floor ADDR BODY_FILE ETAG";
    let addr = args.next().ok_or(usage)?;
    let body = std::fs::read(args.next().ok_or(usage)?)?;
    let answers = Arc::new(Answers::new(&body, &args.next().ok_or(usage)?));
    let tcp = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", tcp.local_addr()?);
    loop {
        let (sock, _) = tcp.accept().await?;
        sock.set_nodelay(true)?;
        tokio::spawn(serve(sock, Arc::clone(&answers)));
    }
}

#[cfg(test)]
mod tests {
    use super::Answers;

    #[test]
    fn a_matching_if_none_match_gets_the_304_and_anything_else_the_200() {
        let a = Answers::new(b"{}", "\"7\"");
        let hit = a.to(b"GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"7\"");
        assert!(hit.starts_with(b"HTTP/1.1 304"));
        let miss = a.to(b"GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"6\"");
        assert!(miss.starts_with(b"HTTP/1.1 200") && miss.ends_with(b"\r\n\r\n{}"));
    }
}
