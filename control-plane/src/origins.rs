//! `POST /v1/origins/test`: probes an origin URL server-side (the admin panel's "Tester"
//! button) without opening an SSRF hole.
//!
//! Before any request the URL must be `http`/`https` with a host, and the
//! [outbound guard](crate::guard) must allow it: the host is resolved once and every address
//! must be globally routable unicast (IPv6 forms carrying an IPv4 address are unwrapped first)
//! unless the server runs with `--allow-private-origins`. The connection is pinned to the
//! checked address (no second DNS lookup, so no DNS rebinding), redirects are not followed,
//! proxies from the environment are ignored, the body is capped at [`MAX_BODY_BYTES`] and the
//! whole probe at [`PROBE_TIMEOUT`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use url::Url;

use crate::error::AppError;
use crate::guard::{GuardError, OutboundGuard};

/// The request and answer of `POST /v1/origins/test` (the contract crate).
pub use sourcegate_contract::{OriginTestRequest, OriginTestResult};

/// Largest body read from an origin (bytes); a larger one is reported as an error.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Time limit of one probe (connect + headers + body).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Validates `raw` and resolves it, through `guard`, to the address the probe will connect to.
///
/// # Errors
/// [`AppError::BadRequest`] for an unusable URL or a DNS failure, [`AppError::ForbiddenTarget`]
/// for an address the guard refuses (see [`crate::guard`]).
pub async fn check_target(raw: &str, guard: &OutboundGuard) -> Result<(Url, SocketAddr), AppError> {
    let url = Url::parse(raw).map_err(|e| AppError::BadRequest(format!("invalid url: {e}")))?;
    let addr = guard.check_url(&url).await.map_err(guard_error)?;
    Ok((url, addr))
}

fn guard_error(e: GuardError) -> AppError {
    match e {
        GuardError::Scheme => AppError::BadRequest("only http and https URLs can be tested".into()),
        e if e.is_refusal() => AppError::ForbiddenTarget(e.to_string()),
        e => AppError::BadRequest(e.to_string()),
    }
}

/// Probes `raw` (see the module docs).
///
/// # Errors
/// The errors of [`check_target`]; network failures are reported in the result's `error`.
pub async fn probe(raw: &str, guard: &Arc<OutboundGuard>) -> Result<OriginTestResult, AppError> {
    let url = Url::parse(raw).map_err(|e| AppError::BadRequest(format!("invalid url: {e}")))?;
    let (builder, addr) = guard.pinned_client(&url).await.map_err(guard_error)?;
    let client = builder
        .timeout(PROBE_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!(
            "sourcegate-control-plane/",
            env!("CARGO_PKG_VERSION")
        ))
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
                        result.entries = u64::try_from(n).ok();
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

    #[tokio::test]
    async fn check_target_maps_guard_errors_to_stable_codes() {
        let guard = OutboundGuard::new(false);
        for raw in [
            "http://127.0.0.1/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:127.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:7f00:1::]/",
            "http://0.0.0.0/",
        ] {
            let e = check_target(raw, &guard).await.unwrap_err();
            assert!(matches!(e, AppError::ForbiddenTarget(_)), "{raw}: {e:?}");
        }
        for raw in ["file:///etc/passwd", "not a url", "http://[::1"] {
            let e = check_target(raw, &guard).await.unwrap_err();
            assert!(matches!(e, AppError::BadRequest(_)), "{raw}: {e:?}");
        }
    }
}
