#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
//! `cp_reference`: the baseline of `bench/cp_reads.sh` — a minimal axum server answering one
//! fixed body from memory with an `ETag` and `304` on `If-None-Match`, as fast as a config read
//! can be. It knows nothing of Sourcegate.
//!
//! Usage: `cp_reference ADDR BODY_FILE ETAG` (e.g. `127.0.0.1:9001 body.json '"1"'`). Prints
//! `listening on http://ADDR` when ready.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: cp_reference ADDR BODY_FILE ETAG";
    let addr = args.next().ok_or(usage)?;
    let body = Bytes::from(std::fs::read(args.next().ok_or(usage)?)?);
    let etag = HeaderValue::from_str(&args.next().ok_or(usage)?)?;
    let app = Router::new().route(
        "/v1/configs/{key}",
        get(move |headers: HeaderMap| {
            let body = body.clone();
            let etag = etag.clone();
            async move {
                let hit = headers
                    .get(header::IF_NONE_MATCH)
                    .is_some_and(|v| v.as_bytes() == etag.as_bytes());
                let mut resp: Response = if hit {
                    StatusCode::NOT_MODIFIED.into_response()
                } else {
                    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
                };
                resp.headers_mut().insert(header::ETAG, etag);
                resp.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                resp
            }
        }),
    );
    let tcp = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", tcp.local_addr()?);
    axum::serve(tcp, app).await?;
    Ok(())
}
