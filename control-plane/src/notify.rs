//! Telling the admins out of band: a webhook the control plane posts notices to
//! (`--notify-webhook URL`), such as the fleet autopilot's decisions.
//!
//! Each notice is one `POST` of a JSON body `{"event", "id", "at", "data"}` (`at` in RFC 3339,
//! `id` a UUID that stays the same across the retries of one notice, so a receiver can drop
//! duplicates) with these headers:
//! - `X-Sourcegate-Event`: the event name, as in the body;
//! - `X-Sourcegate-Delivery`: the notice's `id`;
//! - `X-Sourcegate-Signature`: `sha256=` and the lowercase hex HMAC-SHA256 of the exact body
//!   bytes under the shared secret (the scheme of GitHub's `X-Hub-Signature-256`; RFC 2104 for
//!   HMAC). A receiver recomputes it over the raw body and compares in constant time.
//!
//! Delivery runs on one background task, in order, so a slow receiver never holds up the
//! caller: [`Webhook::notify`] only queues (at most [`WebhookConfig::queue`] notices; beyond
//! that a notice is dropped, counted and logged). A delivery succeeds on any 2xx. Transport
//! errors, 408, 429 and 5xx are retried with exponential backoff and full jitter
//! ([`sourcegate::backoff`]), at most [`WebhookConfig::max_attempts`] attempts in all; a 429's
//! `Retry-After` (seconds or HTTP date, RFC 9110 §10.2.3) lengthens the wait, up to
//! [`WebhookConfig::max_delay`]. Other 4xx answers and refusals of the outbound guard are final.
//!
//! Every request goes through the [`crate::guard::OutboundGuard`] (the one guard of requests
//! made for an admin): a webhook on a private or loopback address is refused unless private
//! origins are allowed (tests and drills only).
//!
//! Metrics: `sourcegate_webhook_notices_total{outcome}` with `outcome` one of `delivered`,
//! `failed` (attempts exhausted or a final answer), `refused` (the guard) and `dropped` (queue
//! full), and `sourcegate_webhook_attempts_total`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use sourcegate::backoff::Backoff;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument as _;
use url::Url;

use crate::guard::OutboundGuard;

/// Header carrying the body's HMAC-SHA256 (`sha256=<hex>`).
pub const SIGNATURE_HEADER: &str = "x-sourcegate-signature";
/// Header carrying the event name.
pub const EVENT_HEADER: &str = "x-sourcegate-event";
/// Header carrying the notice's id (the same on every retry of one notice).
pub const DELIVERY_HEADER: &str = "x-sourcegate-delivery";

/// Where and how notices are delivered. Build with [`WebhookConfig::new`] and adjust the
/// public fields; each field names its default.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The receiver (`http` or `https`).
    pub url: Url,
    /// The HMAC key shared with the receiver (from the environment, never a flag's value).
    pub secret: Vec<u8>,
    /// Attempts per notice in all, the first included (default 5; at least 1).
    pub max_attempts: u32,
    /// Backoff ceiling after the first failure (default 1 s); doubles per failure.
    pub base_delay: Duration,
    /// Longest wait between two attempts, `Retry-After` included (default 60 s).
    pub max_delay: Duration,
    /// Timeout of one attempt, connection to last byte (default 10 s).
    pub timeout: Duration,
    /// Notices queued at most while earlier ones are delivered (default 64).
    pub queue: usize,
}

impl WebhookConfig {
    /// A config for `url` signed with `secret`, every other field at its default.
    pub fn new(url: Url, secret: impl Into<Vec<u8>>) -> WebhookConfig {
        WebhookConfig {
            url,
            secret: secret.into(),
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            queue: 64,
        }
    }
}

impl std::fmt::Debug for WebhookConfig {
    /// Redacts the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url.as_str())
            .field("secret", &"<redacted>")
            .field("max_attempts", &self.max_attempts)
            .field("base_delay", &self.base_delay)
            .field("max_delay", &self.max_delay)
            .field("timeout", &self.timeout)
            .field("queue", &self.queue)
            .finish()
    }
}

/// One notice: an event name and its data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    /// What happened, dotted (e.g. `autopilot.decision`).
    pub event: String,
    /// The notice's id, the same on every retry.
    pub id: uuid::Uuid,
    /// When it happened (RFC 3339 in the body).
    #[serde(serialize_with = "rfc3339")]
    pub at: DateTime<Utc>,
    /// The event's data (free-form JSON).
    pub data: serde_json::Value,
}

fn rfc3339<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

impl Notice {
    /// A notice of `event` with `data`, stamped now with a fresh id.
    pub fn new(event: impl Into<String>, data: serde_json::Value) -> Notice {
        Notice {
            event: event.into(),
            id: uuid::Uuid::new_v4(),
            at: Utc::now(),
            data,
        }
    }
}

/// Why [`Webhook::notify`] did not queue a notice.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The queue is full: earlier notices are still being delivered.
    #[error("webhook queue full ({0} notices): notice dropped")]
    QueueFull(usize),
    /// The delivery task has ended (the webhook was shut down).
    #[error("webhook delivery task has ended")]
    Closed,
}

/// The signature header's value for `body` under `secret`: `sha256=<lowercase hex>`.
///
/// # Examples
/// ```
/// use sourcegate_control_plane::notify::signature;
/// // RFC 4231 test case 2 (key "Jefe").
/// assert_eq!(
///     signature(b"Jefe", b"what do ya want for nothing?"),
///     "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
/// );
/// ```
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length (RFC 2104 §2), so `new_from_slice` never fails; were it
    // to, the header would be empty and the receiver would refuse the notice.
    Hmac::<Sha256>::new_from_slice(secret)
        .map(|mut mac| {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        })
        .unwrap_or_default()
}

/// A running webhook: a queue and the task delivering it.
#[derive(Debug)]
pub struct Webhook {
    tx: mpsc::Sender<Notice>,
    queue: usize,
    task: JoinHandle<()>,
}

impl Webhook {
    /// Starts the delivery task (on the current tokio runtime) for `config`, its requests
    /// made through `guard`.
    ///
    /// # Errors
    /// The `reqwest` client could not be built (no TLS backend).
    pub fn start(
        config: WebhookConfig,
        guard: Arc<OutboundGuard>,
    ) -> Result<Webhook, reqwest::Error> {
        let client = guard
            .client_builder()
            .timeout(config.timeout)
            .user_agent(concat!(
                "sourcegate-control-plane/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        let queue = config.queue.max(1);
        let (tx, rx) = mpsc::channel(queue);
        let task = tokio::spawn(deliver_all(config, client, rx));
        Ok(Webhook { tx, queue, task })
    }

    /// Queues `notice` for delivery and returns at once.
    ///
    /// # Errors
    /// [`NotifyError::QueueFull`] (the notice is dropped and counted) or
    /// [`NotifyError::Closed`].
    pub fn notify(&self, notice: Notice) -> Result<(), NotifyError> {
        self.tx.try_send(notice).map_err(|e| match e {
            mpsc::error::TrySendError::Full(n) => {
                metrics::counter!("sourcegate_webhook_notices_total", "outcome" => "dropped")
                    .increment(1);
                tracing::warn!(event = %n.event, id = %n.id, "webhook queue full: notice dropped");
                NotifyError::QueueFull(self.queue)
            }
            mpsc::error::TrySendError::Closed(_) => NotifyError::Closed,
        })
    }

    /// Stops taking notices, delivers (or gives up on) those queued, then returns.
    pub async fn shutdown(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

/// How one notice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Failed,
    Refused,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
        }
    }
}

async fn deliver_all(
    config: WebhookConfig,
    client: reqwest::Client,
    mut rx: mpsc::Receiver<Notice>,
) {
    while let Some(notice) = rx.recv().await {
        let span = tracing::info_span!("webhook", event = %notice.event, id = %notice.id, url = %config.url);
        let outcome = deliver(&config, &client, &notice).instrument(span).await;
        metrics::counter!("sourcegate_webhook_notices_total", "outcome" => outcome.label())
            .increment(1);
    }
}

/// What one attempt's answer means.
enum Attempt {
    Done,
    Final(String),
    Retry {
        why: String,
        after: Option<Duration>,
    },
}

async fn deliver(config: &WebhookConfig, client: &reqwest::Client, notice: &Notice) -> Outcome {
    let body = match serde_json::to_vec(notice) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "webhook notice does not serialise");
            return Outcome::Failed;
        }
    };
    let sig = signature(&config.secret, &body);
    let backoff = Backoff {
        base: config.base_delay,
        cap: config.max_delay.max(config.base_delay),
    };
    let attempts = config.max_attempts.max(1);
    for n in 1..=attempts {
        metrics::counter!("sourcegate_webhook_attempts_total").increment(1);
        let sent = client
            .post(config.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, &notice.event)
            .header(DELIVERY_HEADER, notice.id.to_string())
            .header(SIGNATURE_HEADER, &sig)
            .body(body.clone())
            .send()
            .await;
        let attempt = match sent {
            Ok(resp) => judge(resp.status(), resp.headers()),
            Err(e) if is_guard_refusal(&e) => {
                tracing::warn!(error = %error_chain(&e), "webhook refused by the outbound guard");
                return Outcome::Refused;
            }
            Err(e) => Attempt::Retry {
                why: error_chain(&e),
                after: None,
            },
        };
        match attempt {
            Attempt::Done => {
                tracing::info!(attempt = n, "webhook delivered");
                return Outcome::Delivered;
            }
            Attempt::Final(why) => {
                tracing::warn!(attempt = n, %why, "webhook refused the notice: not retried");
                return Outcome::Failed;
            }
            Attempt::Retry { why, after } if n < attempts => {
                let wait = backoff
                    .delay(n - 1, rand::random::<f64>())
                    .max(after.unwrap_or_default())
                    .min(config.max_delay);
                tracing::info!(attempt = n, %why, wait_ms = wait.as_millis() as u64, "webhook attempt failed: retrying");
                tokio::time::sleep(wait).await;
            }
            Attempt::Retry { why, .. } => {
                tracing::warn!(attempt = n, %why, "webhook attempts exhausted");
            }
        }
    }
    Outcome::Failed
}

/// A 2xx is done; 408, 429 and 5xx are retried (429 after its `Retry-After`, when given);
/// anything else is final.
fn judge(status: reqwest::StatusCode, headers: &reqwest::header::HeaderMap) -> Attempt {
    if status.is_success() {
        return Attempt::Done;
    }
    let why = format!("HTTP {}", status.as_u16());
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        let after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                sourcegate::ratelimit::parse_retry_after(v, std::time::SystemTime::now())
            });
        return Attempt::Retry { why, after };
    }
    if status == reqwest::StatusCode::REQUEST_TIMEOUT || status.is_server_error() {
        return Attempt::Retry { why, after: None };
    }
    Attempt::Final(why)
}

fn is_guard_refusal(e: &reqwest::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(g) = s.downcast_ref::<crate::guard::GuardError>() {
            return g.is_refusal();
        }
        src = s.source();
    }
    false
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
