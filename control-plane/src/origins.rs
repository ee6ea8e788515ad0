//! `POST /v1/origins/test`: probes an origin URL server-side (the admin panel's "Tester"
//! button) without opening an SSRF hole.
//!
//! Before any request the URL must be `http`/`https` with a host; the host is resolved and
//! every address must be public (not loopback, private, link-local, unspecified, multicast,
//! broadcast, shared `100.64/10`, ULA `fc00::/7`, or an IPv4-mapped form of those) unless the
//! server runs with `--allow-private-origins`. The connection is pinned to the checked address
//! (no second DNS lookup, so no DNS rebinding), redirects are not followed, proxies from the
//! environment are ignored, the body is capped at [`MAX_BODY_BYTES`] and the whole probe at
//! [`PROBE_TIMEOUT`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::AppError;

/// Largest body read from an origin (bytes); a larger one is reported as an error.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Time limit of one probe (connect + headers + body).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Body of `POST /v1/origins/test`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct OriginTestRequest {
    /// The URL to fetch (`http` or `https`).
    pub url: String,
}

/// Result of `POST /v1/origins/test`.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OriginTestResult {
    /// The probed URL.
    pub url: String,
    /// `true` when the origin answered 2xx and its whole body was read.
    pub ok: bool,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// Time from connect to the end of the body, milliseconds.
    pub latency_ms: Option<f64>,
    /// Body size in bytes, when read.
    pub bytes: Option<u64>,
    /// Whether the body is a plugin registry (JSON array of objects with string `id`, `repo`).
    pub valid_registry: bool,
    /// Number of registry entries, when valid.
    pub entries: Option<usize>,
    /// Why the probe failed, if it did.
    pub error: Option<String>,
}

/// Whether `ip` must not be probed (see the module docs for the list).
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let seg0 = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg0 & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg0 & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (seg0 & 0xffc0) == 0xfec0 // site-local (deprecated)
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1)
                || (v6.segments()[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible
        }
    }
}

fn forbidden_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_multicast()
        || v4.is_broadcast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64/10
        || o[0] >= 240 // reserved
}

/// Validates `raw` and resolves it to the address the probe will connect to.
///
/// # Errors
/// [`AppError::BadRequest`] for an unusable URL or a DNS failure, [`AppError::ForbiddenTarget`]
/// for a non-public address (unless `allow_private`).
pub async fn check_target(raw: &str, allow_private: bool) -> Result<(Url, SocketAddr), AppError> {
    let url = Url::parse(raw).map_err(|e| AppError::BadRequest(format!("invalid url: {e}")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(AppError::BadRequest(
            "only http and https URLs can be tested".into(),
        ));
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| AppError::BadRequest("url has no port".into()))?;
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(url::Host::Domain(d)) => tokio::net::lookup_host((d, port))
            .await
            .map_err(|e| AppError::BadRequest(format!("cannot resolve {d}: {e}")))?
            .collect(),
        None => return Err(AppError::BadRequest("url has no host".into())),
    };
    let first = *addrs
        .first()
        .ok_or_else(|| AppError::BadRequest("host resolves to no address".into()))?;
    if !allow_private && let Some(bad) = addrs.iter().find(|a| is_forbidden_ip(a.ip())) {
        return Err(AppError::ForbiddenTarget(format!(
            "refusing to probe non-public address {}",
            bad.ip()
        )));
    }
    Ok((url, first))
}

/// Probes `raw` (see the module docs).
///
/// # Errors
/// The errors of [`check_target`]; network failures are reported in the result's `error`.
pub async fn probe(raw: &str, allow_private: bool) -> Result<OriginTestResult, AppError> {
    let (url, addr) = check_target(raw, allow_private).await?;
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(PROBE_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!(
            "sourcegate-control-plane/",
            env!("CARGO_PKG_VERSION")
        ));
    if let Some(url::Host::Domain(d)) = url.host() {
        builder = builder.resolve(d, addr);
    }
    let client = builder
        .build()
        .map_err(|e| AppError::Internal(format!("http client: {e}")))?;
    let mut result = OriginTestResult {
        url: url.to_string(),
        ok: false,
        status: None,
        latency_ms: None,
        bytes: None,
        valid_registry: false,
        entries: None,
        error: None,
    };
    let start = Instant::now();
    let span = tracing::info_span!("origin_probe", url = %url, addr = %addr);
    let outcome = async {
        let mut resp = client.get(url.clone()).send().await?;
        let status = resp.status();
        let mut body: Vec<u8> = Vec::new();
        let mut too_big = false;
        while let Some(chunk) = resp.chunk().await? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                too_big = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok::<_, reqwest::Error>((status, body, too_big))
    };
    let outcome = tracing::Instrument::instrument(outcome, span).await;
    result.latency_ms = Some(start.elapsed().as_secs_f64() * 1000.0);
    match outcome {
        Ok((status, body, too_big)) => {
            result.status = Some(status.as_u16());
            result.bytes = Some(body.len() as u64);
            if too_big {
                result.error = Some(format!("body exceeds {MAX_BODY_BYTES} bytes"));
            } else if !status.is_success() {
                result.error = Some(format!("origin answered {status}"));
            } else {
                result.ok = true;
            }
            if !too_big {
                match sourcegate::registry::validate_registry(&body) {
                    Ok(n) => {
                        result.valid_registry = true;
                        result.entries = Some(n);
                    }
                    Err(e) if result.ok => result.error = Some(e.to_string()),
                    Err(_) => {}
                }
            }
        }
        Err(e) => {
            result.error = Some(if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                "connection failed".to_owned()
            } else {
                "request failed".to_owned()
            });
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_forbidden_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(!is_forbidden_ip(ip.parse().unwrap()), "{ip}");
        }
    }
}
