//! Reads and change events over the real service: ETag/304, the one-round-trip read path, SSE
//! delivery, resumption, heartbeats and graceful shutdown of open streams.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use sourcegate_testkit::http::Expect as _;
use uuid::Uuid;

#[tokio::test]
async fn etag_and_304() {
    let ctx = start().await;
    let url = ctx.url("/v1/configs/marketplace_source");
    let r = ctx.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"1\"");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let r = ctx
        .http
        .get(&url)
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"], "\"1\"");
    assert!(r.bytes().await.unwrap().is_empty());
    assert_eq!(
        ctx.put(Some(&service_token()), json!({"value": cdn_doc()}))
            .await
            .status(),
        200
    );
    let r = ctx
        .http
        .get(&url)
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    ctx.http
        .get(ctx.url("/v1/configs/unknown"))
        .expect(404, "not_found")
        .await;
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn fast_read_path_runs_as_the_request_role_and_quotes_safely() {
    let ctx = start().await;
    // Hostile keys are plain data.
    for key in [
        "a'b",
        "x$$y",
        "$q$;DROP TABLE public.app_config;--",
        "k\\'--",
    ] {
        let url = format!(
            "{}/v1/configs/{}",
            ctx.base,
            url::form_urlencoded::byte_serialize(key.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        );
        let r = ctx.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 404, "{key}");
    }
    assert_eq!(ctx.get_config().await["version"], 1);
    // Restrict reading to signed-in users: RLS must now hide the row from anon on the fast path.
    let mut su = superuser(&ctx).await;
    sqlx::query("ALTER POLICY app_config_read ON public.app_config TO authenticated")
        .execute(&mut su)
        .await
        .unwrap();
    let url = ctx.url("/v1/configs/marketplace_source");
    // A policy change sends no notification: the control plane re-checks the catalog every
    // second and moves anon back to the database path (then RLS hides the row).
    let mut status = 0;
    for _ in 0..40 {
        status = ctx.http.get(&url).send().await.unwrap().status().as_u16();
        if status == 404 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 404);
    let r = ctx
        .http
        .get(&url)
        .bearer_auth(user_token(Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn sse_delivers_a_flip_within_a_second_and_resumes() {
    use eventsource_stream::Eventsource;
    let ctx = start().await;
    let url = ctx.url("/v1/configs/marketplace_source/events");
    let resp = ctx.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut events = resp.bytes_stream().eventsource();
    let first = next_event(&mut events).await;
    assert_eq!(first.event, "config");
    assert_eq!(first.id, "1");
    let body: Value = serde_json::from_str(&first.data).unwrap();
    assert_eq!(body["value"]["type"], "git");

    let r = ctx
        .put(Some(&service_token()), json!({"value": cdn_doc()}))
        .await;
    assert_eq!(r.status(), 200);
    let committed = Instant::now();
    let flip = next_event(&mut events).await;
    let latency = committed.elapsed();
    assert_eq!(flip.id, "2");
    let body: Value = serde_json::from_str(&flip.data).unwrap();
    assert_eq!(body["version"], 2);
    assert_eq!(body["value"]["type"], "cdn");
    assert!(latency < Duration::from_secs(1), "flip took {latency:?}");

    // Resume: Last-Event-ID 1 gets version 2 at once; Last-Event-ID 2 gets nothing until a change.
    let resp = ctx
        .http
        .get(&url)
        .header("last-event-id", "1")
        .send()
        .await
        .unwrap();
    let mut resumed = resp.bytes_stream().eventsource();
    assert_eq!(next_event(&mut resumed).await.id, "2");
    let resp = ctx
        .http
        .get(&url)
        .header("last-event-id", "2")
        .send()
        .await
        .unwrap();
    let mut up_to_date = resp.bytes_stream().eventsource();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), up_to_date.next())
            .await
            .is_err()
    );
    assert_eq!(
        ctx.put(
            Some(&service_token()),
            json!({"value": {"type":"git","gitUrl":"https://g.example/"}})
        )
        .await
        .status(),
        200
    );
    assert_eq!(next_event(&mut up_to_date).await.id, "3");
    assert_eq!(next_event(&mut events).await.id, "3");
    drop(events);
    drop(resumed);
    drop(up_to_date);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_ends_open_sse_streams() {
    let ctx = start().await;
    let resp = ctx
        .http
        .get(ctx.url("/v1/configs/marketplace_source/events"))
        .send()
        .await
        .unwrap();
    let mut body = resp.bytes_stream();
    assert!(body.next().await.unwrap().is_ok());
    let t = Instant::now();
    ctx.server.shutdown().await;
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        t.elapsed()
    );
    // The stream ends instead of hanging.
    let end = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(_)) = body.next().await {}
    })
    .await;
    assert!(end.is_ok());
}

#[tokio::test]
async fn sse_sends_heartbeat_comments() {
    let ctx = start_with(|s| s.sse_heartbeat_secs = 1).await;
    let resp = ctx
        .http
        .get(ctx.url("/v1/configs/marketplace_source/events"))
        .send()
        .await
        .unwrap();
    let mut body = resp.bytes_stream();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    while !seen.lines().any(|l| l.starts_with(':')) {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("heartbeat within 4 s")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("id: 1"));
    drop(body);
    ctx.server.shutdown().await;
}
