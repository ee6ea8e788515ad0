//! Telling the admins what the autopilot decided: an optional webhook (`--notify-webhook URL`).
//!
//! Each decision (dry runs included) is POSTed as JSON ([`AutopilotEvent`]) with
//! `X-Sourcegate-Signature: sha256=<lower-case hex HMAC-SHA256 of the body>` (RFC 2104, keyed
//! with `--notify-webhook-secret`; without a secret no signature is sent). A receiver checks
//! the signature over the raw body before parsing it. Every attempt of one delivery carries the
//! same `X-Sourcegate-Delivery` id (a UUID), so a receiver can drop a retry it already handled.
//! Transport errors, 429 and 5xx answers are retried ([`ATTEMPTS`] attempts) after the shared
//! exponential backoff (`sourcegate::backoff`, base [`FIRST_BACKOFF`], cap [`MAX_BACKOFF`],
//! "equal jitter": half the ceiling plus a uniform draw over the other half), or after the
//! answer's `Retry-After` when that is longer (RFC 9110 §10.2.3; at most [`MAX_BACKOFF`]);
//! other answers end the delivery. Every request goes through the
//! [outbound guard](crate::guard): a private or loopback target is refused unless the control
//! plane runs with `--allow-private-origins`; redirects are not followed.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac as _};
use serde::Serialize;
use sha2::Sha256;
use tracing::Instrument as _;

use crate::guard::OutboundGuard;

/// Attempts per delivery.
pub const ATTEMPTS: u32 = 4;
/// Backoff ceiling before the second attempt; it doubles for each further one (250, 500,
/// 1,000 ms); each wait is between half the ceiling and the ceiling.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between two attempts, `Retry-After` included.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Timeout of one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-sourcegate-signature";
/// The delivery id header: one UUID per delivery, the same on each of its attempts.
pub const DELIVERY_HEADER: &str = "x-sourcegate-delivery";

/// The webhook's body: `event` (always `autopilot.decision`) and the decision's fields, as
/// `GET /v1/autopilot` lists them (`decidedAt`, `rule`, `reason`, `dryRun`, `fromVersion`,
/// `toVersion`, `decidedBy`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AutopilotEvent {
    /// Always [`AutopilotEvent::NAME`].
    pub event: &'static str,
    /// The decision.
    #[serde(flatten)]
    pub decision: crate::autopilot_api::DecisionView,
}

impl AutopilotEvent {
    /// The `event` of every webhook body.
    pub const NAME: &'static str = "autopilot.decision";

    /// The body announcing `decision`.
    pub fn of(decision: crate::autopilot_api::DecisionView) -> AutopilotEvent {
        AutopilotEvent {
            event: Self::NAME,
            decision,
        }
    }
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Building the guarded client failed.
    #[error("webhook client: {0}")]
    Client(reqwest::Error),
    /// The last attempt failed (transport error, or refused by the outbound guard).
    #[error("webhook not delivered after {attempts} attempts: {last}")]
    Failed {
        /// Attempts made.
        attempts: u32,
        /// The last error or status.
        last: String,
    },
}

/// `sha256=<hex>` of HMAC-SHA256(`secret`, `body`).
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    use std::fmt::Write as _;
    // HMAC accepts keys of any length (RFC 2104 section 2): `new_from_slice` cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A webhook target with its secret and guarded client.
#[derive(Debug, Clone)]
pub struct Notifier {
    url: url::Url,
    secret: Option<Vec<u8>>,
    client: reqwest::Client,
    first_backoff: Duration,
}

impl Notifier {
    /// A notifier posting to `url` through `guard`, signing with `secret` when given.
    ///
    /// # Errors
    /// [`NotifyError::Client`] when the HTTP client cannot be built.
    pub fn new(
        url: url::Url,
        secret: Option<&str>,
        guard: &Arc<OutboundGuard>,
    ) -> Result<Notifier, NotifyError> {
        let client = guard
            .client_builder()
            .timeout(ATTEMPT_TIMEOUT)
            .user_agent(concat!(
                "sourcegate-control-plane/",
                env!("CARGO_PKG_VERSION"),
                " (webhook)"
            ))
            .build()
            .map_err(NotifyError::Client)?;
        Ok(Notifier {
            url,
            secret: secret.map(|s| s.as_bytes().to_vec()),
            client,
            first_backoff: FIRST_BACKOFF,
        })
    }

    /// The same notifier with another first backoff (tests).
    pub fn with_first_backoff(mut self, d: Duration) -> Notifier {
        self.first_backoff = d;
        self
    }

    /// Delivers `event`; returns the attempts it took.
    ///
    /// Waits between attempts: the ceiling after `n` failed attempts is
    /// `min(MAX_BACKOFF, first_backoff × 2^(n−1))`, the wait a uniform draw between half of it
    /// and all of it, or the answer's `Retry-After` when longer (capped at [`MAX_BACKOFF`]).
    ///
    /// # Errors
    /// [`NotifyError::Failed`] after the last attempt, or at once on an answer that is not
    /// retried (a 4xx other than 429).
    pub async fn send(&self, event: &AutopilotEvent) -> Result<u32, NotifyError> {
        let body = serde_json::to_vec(event).unwrap_or_default();
        let sig = self.secret.as_ref().map(|s| signature(s, &body));
        let delivery = uuid::Uuid::new_v4().to_string();
        let backoff = sourcegate::backoff::Backoff {
            base: self.first_backoff,
            cap: MAX_BACKOFF.max(self.first_backoff),
        };
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            let mut req = self
                .client
                .post(self.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(DELIVERY_HEADER, &delivery)
                .body(body.clone());
            if let Some(s) = &sig {
                req = req.header(SIGNATURE_HEADER, s);
            }
            let span = tracing::info_span!("webhook", url = %self.url, attempt, %delivery);
            let mut asked = None;
            match req.send().instrument(span).await {
                Ok(r) if r.status().is_success() => return Ok(attempt),
                Ok(r) => {
                    let status = r.status();
                    asked = sourcegate::ratelimit::requested_wait(
                        r.headers(),
                        std::time::SystemTime::now(),
                    );
                    last = format!("HTTP {status}");
                    if !(status.is_server_error() || status.as_u16() == 429) {
                        return Err(NotifyError::Failed {
                            attempts: attempt,
                            last,
                        });
                    }
                }
                Err(e) => {
                    last = error_chain(&e);
                    // A refusal of the guard is final: the target will not become allowed.
                    if last.contains("refused by the outbound guard") {
                        return Err(NotifyError::Failed {
                            attempts: attempt,
                            last,
                        });
                    }
                }
            }
            if attempt < ATTEMPTS {
                // Equal jitter: [ceiling / 2, ceiling).
                let wait = backoff.delay(attempt - 1, 0.5 + 0.5 * rand::random::<f64>());
                let wait = asked.map_or(wait, |a| a.max(wait)).min(backoff.cap);
                tokio::time::sleep(wait).await;
            }
        }
        Err(NotifyError::Failed {
            attempts: ATTEMPTS,
            last,
        })
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
