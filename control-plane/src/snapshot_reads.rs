//! The read path of installed apps, before the router: `GET /v1/configs/{key}` answered by
//! [`crate::api::read_config`] (from the in-memory snapshot when the caller's role may read it,
//! see [`crate::snapshot`]) without the router's per-request work.
//!
//! Every resolver polls this one route, so it skips what the router stacks on every route:
//! route matching, the `from_fn` middlewares (each boxes its future and clones the state), the
//! JSON-error rewrite (this route only answers JSON) and the body limit (a GET has no body).
//! What those layers do for this route is done here with the same functions, so the answers
//! are the router's own, header for header ([`tests`] compares them):
//!
//! - the per-client-IP rate limit ([`crate::ratelimit::check`], keyed on
//!   [`crate::observability::request_client_ip`]), answering 429 `rate_limited`;
//! - the request metrics ([`crate::observability::record_request`], route label
//!   `/v1/configs/{key}`);
//! - CORS: the headers the router's CORS layer adds to a request without `Origin`, computed
//!   once by that layer itself (`router::cors_headers`);
//! - tracing: a `request` span at DEBUG with the method, URI and version, and a DEBUG
//!   `finished processing request` event with the latency and status, as tower-http's
//!   `TraceLayer` defaults write them.
//!
//! A request takes this path only when it is a `GET` without `Origin` whose path is
//! `/v1/configs/` followed by one segment with no `%` (a percent-encoded key goes through the
//! router, which decodes it); anything else, `HEAD` and browsers' CORS requests included, goes to
//! the router unchanged.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use tower::Service;
use tracing::Instrument as _;

use crate::state::AppState;
use crate::{api, observability, ratelimit};

/// The route template the metrics of this path are labelled with (the router's own).
const ROUTE: &str = "/v1/configs/{key}";

/// The key of a request this path serves: `GET /v1/configs/<key>` with one non-empty segment
/// holding no `%`.
fn config_key<'a>(method: &Method, path: &'a str) -> Option<&'a str> {
    if method != Method::GET {
        return None;
    }
    let key = path.strip_prefix("/v1/configs/")?;
    (!key.is_empty() && !key.bytes().any(|b| b == b'/' || b == b'%')).then_some(key)
}

/// A [`Service`] answering config reads itself and passing every other request to the router.
#[derive(Clone)]
pub(crate) struct SnapshotReads {
    state: Arc<AppState>,
    cors: Arc<HeaderMap>,
    router: Router,
}

impl SnapshotReads {
    /// Serves reads over `state`, adding the `cors` headers to each answer, and everything else
    /// through `router` (built on the same state).
    pub(crate) fn new(state: AppState, router: Router, cors: HeaderMap) -> SnapshotReads {
        SnapshotReads {
            state: Arc::new(state),
            cors: Arc::new(cors),
            router,
        }
    }
}

type ReadFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl Service<Request> for SnapshotReads {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<ReadFuture, <Router as Service<Request>>::Future>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Both paths are always ready (axum's router is).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if config_key(req.method(), req.uri().path()).is_none()
            || req.headers().contains_key(header::ORIGIN)
        {
            return Either::Right(self.router.call(req));
        }
        let state = self.state.clone();
        let cors = self.cors.clone();
        let (parts, _no_body) = req.into_parts();
        let span = tracing::debug_span!("request", method = %parts.method, uri = %parts.uri,
            version = ?parts.version);
        Either::Left(Box::pin(
            async move {
                let start = Instant::now();
                let mut resp = read(&state, &parts).await;
                let latency = start.elapsed();
                for (name, value) in cors.iter() {
                    resp.headers_mut().append(name, value.clone());
                }
                observability::record_request(ROUTE, &parts.method, resp.status(), latency);
                tracing::debug!(latency = %format_args!("{} ms", latency.as_millis()),
                    status = resp.status().as_u16(), "finished processing request");
                Ok(resp)
            }
            .instrument(span),
        ))
    }
}

async fn read(state: &AppState, parts: &axum::http::request::Parts) -> Response {
    if let Some(limiter) = &state.limiter {
        let ip = observability::request_client_ip(state, &parts.extensions, &parts.headers);
        if let Err(e) = ratelimit::check(limiter, ip) {
            return e.into_response();
        }
    }
    let key = config_key(&parts.method, parts.uri.path()).unwrap_or_default();
    api::read_config(state, key, &parts.headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_config_reads_take_this_path() {
        let get = Method::GET;
        assert_eq!(
            config_key(&get, "/v1/configs/marketplace_source"),
            Some("marketplace_source")
        );
        assert_eq!(config_key(&Method::HEAD, "/v1/configs/k"), None);
        assert_eq!(config_key(&Method::PUT, "/v1/configs/k"), None);
        for path in [
            "/v1/configs/",
            "/v1/configs/k/",
            "/v1/configs/k/events",
            "/v1/configs/k/history",
            "/v1/configs/a%20b",
            "/v1/configsk",
            "/rest/v1/app_config",
        ] {
            assert_eq!(config_key(&get, path), None, "{path}");
        }
    }
}
