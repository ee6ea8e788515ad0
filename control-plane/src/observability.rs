//! Prometheus metrics (the `metrics` facade and `metrics-exporter-prometheus`) and the client
//! address seen behind trusted proxies.
//!
//! `/metrics` is served on its own listener (`--metrics-listen`, off by default) so it is never
//! exposed with the public API. Series (all prefixed `sourcegate_`):
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `http_requests_total` | counter | `route`, `method`, `status` | requests answered (route = the router's template, e.g. `/v1/configs/{key}`) |
//! | `http_request_duration_seconds` | histogram | `route`, `method` | time to the response head |
//! | `sse_streams_open` | gauge | | open `/v1/configs/{key}/events` streams |
//! | `sse_events_sent_total` | counter | | `config` events written to streams |
//! | `events_published_total` | counter | | new versions installed by the listener |
//! | `listener_reconnects_total` | counter | | `LISTEN` sessions lost |
//! | `listener_up` | gauge | | 1 while the listener is subscribed and the snapshots current |
//! | `config_version` | gauge | `key` | version held in memory per key |
//! | `db_pool_connections` | gauge | `state` = `in_use`/`idle` | request pool |
//! | `origin_healthy` | gauge | `origin` | the prober's view (1 healthy, 0 not) |
//! | `telemetry_reports_total` | counter | `result` = `accepted`/`refused` | `POST /v1/telemetry` |
//!
//! Gauges read from other state (pool, listener, origins) are refreshed when `/metrics` is
//! scraped.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use metrics::SharedString;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

/// Latency buckets of `http_request_duration_seconds`, seconds (100 µs to 5 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once (later calls return the same handle).
/// `None` when another recorder was installed first by the embedding program.
pub fn recorder() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("sourcegate_http_request_duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .as_ref()
}

/// The client address a request is keyed on (rate limits), inserted by `track`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The client address behind trusted proxies: the peer when it is not trusted; otherwise the
/// right-most `X-Forwarded-For` hop that is not trusted (hops are read right to left, each
/// header in order); when every hop is trusted, the left-most. An unparseable hop stops the walk
/// at the last trusted address. With no trusted proxy (the default) this is always the peer.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let mut last = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => last = ip,
            Ok(ip) => return ip,
            Err(_) => return last,
        }
    }
    last
}

/// Parses a `--trusted-proxies` entry: a CIDR (`10.0.0.0/8`) or a single address.
///
/// # Errors
/// A message naming the entry when it is neither.
pub fn parse_trusted(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is neither a CIDR nor an IP address"))
}

/// [`client_ip`] of a request: its peer (from axum's `ConnectInfo`, `0.0.0.0` when served
/// without it) behind the state's `--trusted-proxies`.
pub(crate) fn request_client_ip(
    state: &AppState,
    extensions: &axum::http::Extensions,
    headers: &HeaderMap,
) -> IpAddr {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    client_ip(peer, headers, &state.settings.trusted_proxies)
}

/// Middleware: resolves [`ClientIp`] and records `http_requests_total` and
/// `http_request_duration_seconds`.
pub(crate) async fn track(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let ip = request_client_ip(&state, req.extensions(), req.headers());
    req.extensions_mut().insert(ClientIp(ip));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| SharedString::from(p.as_str().to_owned()))
        .unwrap_or(SharedString::const_str("unmatched"));
    let method = req.method().clone();
    let start = Instant::now();
    let resp = next.run(req).await;
    record_request(route, &method, resp.status(), start.elapsed());
    resp
}

/// Records one answered request: `http_requests_total` and `http_request_duration_seconds`
/// (`elapsed`: time to the response head), plus `telemetry_reports_total` for
/// `POST /v1/telemetry` (204 is accepted, anything else refused). Labels built from the
/// common methods and statuses are static strings, so a request on the read path allocates
/// nothing here.
pub(crate) fn record_request(
    route: impl Into<SharedString>,
    method: &Method,
    status: StatusCode,
    elapsed: Duration,
) {
    let route = route.into();
    let method = method_label(method);
    metrics::histogram!("sourcegate_http_request_duration_seconds",
        "route" => route.clone(), "method" => method.clone())
    .record(elapsed.as_secs_f64());
    if &*route == "/v1/telemetry" {
        let result = if status == StatusCode::NO_CONTENT {
            "accepted"
        } else {
            "refused"
        };
        metrics::counter!("sourcegate_telemetry_reports_total", "result" => result).increment(1);
    }
    metrics::counter!("sourcegate_http_requests_total",
        "route" => route, "method" => method, "status" => status_label(status))
    .increment(1);
}

fn method_label(m: &Method) -> SharedString {
    match *m {
        Method::GET => SharedString::const_str("GET"),
        Method::HEAD => SharedString::const_str("HEAD"),
        Method::POST => SharedString::const_str("POST"),
        Method::PUT => SharedString::const_str("PUT"),
        Method::PATCH => SharedString::const_str("PATCH"),
        Method::DELETE => SharedString::const_str("DELETE"),
        Method::OPTIONS => SharedString::const_str("OPTIONS"),
        _ => SharedString::from(m.as_str().to_owned()),
    }
}

fn status_label(s: StatusCode) -> SharedString {
    let label = match s.as_u16() {
        200 => "200",
        201 => "201",
        204 => "204",
        206 => "206",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        409 => "409",
        422 => "422",
        429 => "429",
        500 => "500",
        503 => "503",
        _ => return SharedString::from(s.as_u16().to_string()),
    };
    SharedString::const_str(label)
}

/// Refreshes the gauges read from other state, then renders the Prometheus text format.
pub fn render(state: &AppState) -> String {
    let size = state.pool.size();
    let idle = state.pool.num_idle() as u32;
    metrics::gauge!("sourcegate_db_pool_connections", "state" => "in_use")
        .set(size.saturating_sub(idle) as f64);
    metrics::gauge!("sourcegate_db_pool_connections", "state" => "idle").set(idle as f64);
    let up = state.hub.store().status().is_current();
    metrics::gauge!("sourcegate_listener_up").set(if up { 1.0 } else { 0.0 });
    if let Some(probe) = state.fleet.probe() {
        for o in probe.health() {
            let v = serde_json::to_value(&o).unwrap_or_default();
            let origin = v
                .get("origin")
                .and_then(|x| x.as_str())
                .unwrap_or("unknown")
                .to_owned();
            let healthy = v.get("healthy").and_then(|x| x.as_bool()).unwrap_or(false);
            metrics::gauge!("sourcegate_origin_healthy", "origin" => origin).set(if healthy {
                1.0
            } else {
                0.0
            });
        }
    }
    recorder().map(|h| h.render()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(v: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for x in v {
            h.append("x-forwarded-for", x.parse().unwrap());
        }
        h
    }

    #[test]
    fn client_ip_walks_right_to_left_over_trusted_hops() {
        let trusted = vec![
            parse_trusted("127.0.0.0/8").unwrap(),
            parse_trusted("10.0.0.7").unwrap(),
        ];
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        // Untrusted peer: its header is ignored.
        let peer: IpAddr = "192.0.2.9".parse().unwrap();
        assert_eq!(client_ip(peer, &xff(&["198.51.100.1"]), &trusted), peer);
        // Trusted peer: right-most untrusted hop (a spoofed left part is ignored).
        let h = xff(&["6.6.6.6, 198.51.100.1, 10.0.0.7"]);
        assert_eq!(
            client_ip(lo, &h, &trusted),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
        // Several headers are one list, in order.
        let h = xff(&["6.6.6.6", "198.51.100.2"]);
        assert_eq!(
            client_ip(lo, &h, &trusted),
            "198.51.100.2".parse::<IpAddr>().unwrap()
        );
        // Every hop trusted: the left-most; no header: the peer.
        let h = xff(&["10.0.0.7, 127.0.0.2"]);
        assert_eq!(
            client_ip(lo, &h, &trusted),
            "10.0.0.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(lo, &HeaderMap::new(), &trusted), lo);
        // Garbage stops the walk at the last trusted address.
        let h = xff(&["198.51.100.3, junk, 10.0.0.7"]);
        assert_eq!(
            client_ip(lo, &h, &trusted),
            "10.0.0.7".parse::<IpAddr>().unwrap()
        );
        // Default: nothing trusted.
        assert_eq!(client_ip(lo, &xff(&["198.51.100.1"]), &[]), lo);
    }

    #[test]
    fn trusted_entries_parse() {
        assert!(parse_trusted("::1").is_ok());
        assert!(parse_trusted("fd00::/8").is_ok());
        assert!(parse_trusted("nope").is_err());
    }
}
