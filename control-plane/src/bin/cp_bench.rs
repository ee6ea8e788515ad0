#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
//! `cp_bench`: loopback benchmark of the control plane.
//!
//! Starts the real service on an embedded PostgreSQL (temporary directory, fsync off), then
//! measures:
//! 1. config reads/s of `GET /v1/configs/marketplace_source` answered 200 (full body),
//! 2. the same with `If-None-Match` hits (304, no body),
//! 3. flip-to-client propagation with N SSE clients: for each flip, the time from sending the
//!    admin `PUT` to each client receiving the new version (p50/p99/max over all clients and flips).
//!
//! Run: `cargo run --release -p sourcegate-control-plane --bin cp_bench -- --help`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use sourcegate_control_plane::auth::{Claims, Role, mint_token};
use sourcegate_control_plane::settings::Settings;
use tokio::sync::mpsc;

/// Loopback benchmark of the control plane.
#[derive(Debug, Parser)]
struct Args {
    /// Requests per read benchmark.
    #[arg(long, default_value_t = 20_000)]
    requests: u64,
    /// Concurrent HTTP clients of the read benchmarks.
    #[arg(long, default_value_t = 32)]
    concurrency: u64,
    /// SSE clients of the propagation benchmark.
    #[arg(long, default_value_t = 1_000)]
    sse_clients: usize,
    /// Flips measured.
    #[arg(long, default_value_t = 20)]
    flips: u64,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn read_bench(
    base: &str,
    requests: u64,
    concurrency: u64,
    etag: Option<String>,
) -> Result<(f64, u64, Histogram<u64>), BoxError> {
    read_bench_url(
        &format!("{base}/v1/configs/marketplace_source"),
        requests,
        concurrency,
        etag,
        false,
    )
    .await
}

async fn read_bench_url(
    url: &str,
    requests: u64,
    concurrency: u64,
    etag: Option<String>,
    postgrest: bool,
) -> Result<(f64, u64, Histogram<u64>), BoxError> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency as usize)
        .build()?;
    let url = url.to_owned();
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, next, etag) = (client.clone(), url.clone(), next.clone(), etag.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3)?;
            let mut errors = 0u64;
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let t = Instant::now();
                let mut req = client.get(&url);
                if postgrest {
                    req = req
                        .header("apikey", "sb_publishable_bench")
                        .header("accept", "application/vnd.pgrst.object+json");
                }
                if let Some(e) = &etag {
                    req = req.header("if-none-match", e);
                }
                let ok = match req.send().await {
                    Ok(r) => {
                        let expected = if etag.is_some() { 304 } else { 200 };
                        let s = r.status().as_u16();
                        let _ = r.bytes().await;
                        s == expected
                    }
                    Err(_) => false,
                };
                if !ok {
                    errors += 1;
                }
                hist.record(t.elapsed().as_micros() as u64)?;
            }
            Ok::<_, BoxError>((hist, errors))
        }));
    }
    let mut hist = Histogram::<u64>::new(3)?;
    let mut errors = 0;
    for t in tasks {
        let (h, e) = t.await??;
        hist.add(h)?;
        errors += e;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((requests as f64 / secs, errors, hist))
}

async fn sse_client(
    url: String,
    client: reqwest::Client,
    tx: mpsc::UnboundedSender<(i64, Instant)>,
) -> Result<(), BoxError> {
    let resp = client.get(&url).send().await?;
    let mut stream = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        buf.extend_from_slice(&chunk?);
        while let Some(pos) = buf.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buf.drain(..pos + 2).collect();
            let text = String::from_utf8_lossy(&block);
            if let Some(id) = text
                .lines()
                .find_map(|l| l.strip_prefix("id:"))
                .and_then(|v| v.trim().parse::<i64>().ok())
            {
                let _ = tx.send((id, Instant::now()));
            }
        }
    }
    Ok(())
}

fn pct(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("sourcegate-bench-{}", std::process::id()));
    let settings = Settings {
        data_dir: dir.clone(),
        rate_limit_per_sec: 0,
        db_pool_size: 16,
        embedded_unsafe_fast: true,
        jwt_secret: Some("bench-secret-bench-secret-bench-secret!!".into()),
        // The seeded document names the public Git host: the bench does not probe it.
        origin_probes: false,
        ..Settings::default()
    };
    let server = sourcegate_control_plane::spawn(settings).await?;
    let base = server.base_url();
    let admin = mint_token(
        server.jwt_secret(),
        &Claims::new(Role::ServiceRole, None, false, 3600),
    )?;
    println!(
        "cp_bench: service at {base} (embedded PostgreSQL, loopback), {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Warm-up.
    read_bench(&base, 500, 8, None).await?;
    let (rps, errors, h) = read_bench(&base, args.requests, args.concurrency, None).await?;
    println!(
        "reads 200 (full body):  {rps:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {errors}  ({} requests, {} clients)",
        pct(&h, 0.5),
        pct(&h, 0.99),
        args.requests,
        args.concurrency
    );
    let etag = reqwest::get(format!("{base}/v1/configs/marketplace_source"))
        .await?
        .headers()
        .get("etag")
        .and_then(|e| e.to_str().ok())
        .map(str::to_owned);
    let (rps, errors, h) = read_bench(&base, args.requests, args.concurrency, etag).await?;
    println!(
        "reads 304 (ETag hit):   {rps:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {errors}",
        pct(&h, 0.5),
        pct(&h, 0.99)
    );

    let (rps, errors, h) = read_bench_url(
        &format!("{base}/rest/v1/app_config?config_key=eq.marketplace_source&select=config_value"),
        args.requests,
        args.concurrency,
        None,
        true,
    )
    .await?;
    println!(
        "reads /rest/v1 (single):{rps:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {errors}  (BEGIN/set_config/SELECT/COMMIT path)",
        pct(&h, 0.5),
        pct(&h, 0.99)
    );

    // Propagation with N SSE clients.
    let (tx, mut rx) = mpsc::unbounded_channel::<(i64, Instant)>();
    let sse_http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let url = format!("{base}/v1/configs/marketplace_source/events");
    for _ in 0..args.sse_clients {
        tokio::spawn(sse_client(url.clone(), sse_http.clone(), tx.clone()));
    }
    drop(tx);
    // Each client first receives the current version.
    let mut connected = 0;
    while connected < args.sse_clients {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some(_)) => connected += 1,
            _ => break,
        }
    }
    println!("sse: {connected}/{} clients connected", args.sse_clients);
    let http = reqwest::Client::new();
    let mut hist = Histogram::<u64>::new(3)?;
    let mut missed = 0usize;
    for i in 0..args.flips {
        let doc = if i % 2 == 0 {
            serde_json::json!({"type":"cdn","cdnUrl":"https://cdn.example.com/"})
        } else {
            serde_json::json!({"type":"git","gitUrl":"https://raw.githubusercontent.com/obsidianmd/obsidian-releases/HEAD/"})
        };
        let t0 = Instant::now();
        let resp = http
            .put(format!("{base}/v1/configs/marketplace_source"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"value": doc, "reason": "cp_bench flip"}))
            .send()
            .await?;
        let v: serde_json::Value = resp.json().await?;
        let version = v["version"].as_i64().unwrap_or(-1);
        let mut got = 0;
        while got < connected {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some((id, at))) if id == version => {
                    got += 1;
                    hist.record(at.duration_since(t0).as_micros() as u64)?;
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        missed += connected - got;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "flip→client ({connected} SSE clients, {} flips): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  missed {missed}",
        args.flips,
        pct(&hist, 0.5),
        pct(&hist, 0.99),
        hist.max() as f64 / 1000.0
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
