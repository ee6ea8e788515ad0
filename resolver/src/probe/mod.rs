//! Active health checks: the [`HealthCheck`] trait (pingora's shape: one check of one target,
//! plus how many consecutive results flip the verdict), the HTTP check [`HttpHealthCheck`], and
//! the [`Prober`], which runs checks for the origins of a [`crate::MarketplaceConfig`] on its
//! `healthCheck` interval and reports [`crate::health::OriginHealth`].
//!
//! The resolver probes through a [`Prober`]; a host that only wants the verdicts (the control
//! plane's health view) uses one directly, with its own HTTP client.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sourcegate::{MarketplaceConfig, probe::Prober};
//! let prober = Prober::builder()
//!     .http_client(reqwest::Client::new())
//!     .default_path("community-plugins.json")
//!     .build()?;
//! let doc = serde_json::json!({"type": "git", "gitUrl": "https://raw.example.com/o/r/HEAD/"});
//! prober.follow(&MarketplaceConfig::from_value(&doc)?);
//! for origin in prober.health() {
//!     println!("{} healthy: {}", origin.origin, origin.healthy);
//! }
//! # Ok(()) }
//! ```

use std::time::{Duration, SystemTime};

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use url::Url;

use crate::config::{HealthCheckSettings, OriginKind};

mod prober;

pub use prober::{Prober, ProberBuilder};

/// What one check probes: an origin and the full URL (base joined with the check's path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTarget {
    /// The origin probed (rate-limit rules differ per origin: a Git 403 is one).
    pub origin: OriginKind,
    /// The URL to probe.
    pub url: Url,
}

/// Why one check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The origin answered with a status that is not a success (not 2xx or 3xx).
    #[error("HTTP {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The origin answered with a rate limit (429, or 403 from Git). Says nothing about
    /// health: the prober records a cooldown and skips probes until it ends.
    #[error("rate limited (HTTP {status})")]
    RateLimited {
        /// The HTTP status.
        status: u16,
        /// The wait the origin asked for (`Retry-After` / `x-ratelimit-reset`), if any.
        retry_after: Option<Duration>,
    },
    /// No answer: connect failure, timeout, reset, TLS error (the transport's message).
    #[error("{0}")]
    Transport(String),
}

/// One kind of active health check (pingora's `HealthCheck`).
///
/// Implementations must be cheap to call concurrently: the prober runs one check per origin at
/// a time, each on its own task.
pub trait HealthCheck: Send + Sync + 'static {
    /// Checks `target` once.
    ///
    /// # Errors
    /// A [`CheckError`] saying why the target is not healthy now, or that it rate-limited the
    /// check ([`CheckError::RateLimited`], which does not count as a failure).
    fn check<'a>(&'a self, target: &'a ProbeTarget) -> BoxFuture<'a, Result<(), CheckError>>;

    /// How many consecutive results like `success` flip a verdict contradicting them: for
    /// `true`, successes that make an unhealthy target healthy; for `false`, failures that make
    /// a healthy target unhealthy. At least 1 is used.
    fn health_threshold(&self, success: bool) -> usize;
}

/// The HTTP check: `HEAD` the target URL; 2xx and 3xx (redirects are not followed unless the
/// client does) are healthy.
#[derive(Debug, Clone)]
pub struct HttpHealthCheck {
    client: reqwest::Client,
    /// Timeout of one check (connect, headers).
    pub timeout: Duration,
    /// Consecutive successes that make an unhealthy target healthy.
    pub consecutive_success: usize,
    /// Consecutive failures that make a healthy target unhealthy.
    pub consecutive_failure: usize,
}

impl HttpHealthCheck {
    /// An HTTP check sent with `client` (e.g. one behind an outbound guard), with the
    /// document defaults of [`HealthCheckSettings`]:
    /// - `timeout`: 5 s;
    /// - `consecutive_success`: 1;
    /// - `consecutive_failure`: 3.
    pub fn new(client: reqwest::Client) -> HttpHealthCheck {
        HttpHealthCheck::from_settings(client, &HealthCheckSettings::default())
    }

    /// An HTTP check following a document's `healthCheck` settings (timeout and thresholds;
    /// the path and interval are the prober's business).
    pub fn from_settings(client: reqwest::Client, s: &HealthCheckSettings) -> HttpHealthCheck {
        let count = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        HttpHealthCheck {
            client,
            timeout: s.timeout,
            consecutive_success: count(s.healthy_threshold),
            consecutive_failure: count(s.unhealthy_threshold),
        }
    }
}

impl HealthCheck for HttpHealthCheck {
    fn check<'a>(&'a self, target: &'a ProbeTarget) -> BoxFuture<'a, Result<(), CheckError>> {
        async move {
            let resp = self
                .client
                .head(target.url.clone())
                .timeout(self.timeout)
                .send()
                .await
                .map_err(|e| CheckError::Transport(e.to_string()))?;
            let status = resp.status().as_u16();
            if crate::ratelimit::is_rate_limited(target.origin, status) {
                let retry_after =
                    crate::ratelimit::requested_wait(resp.headers(), SystemTime::now());
                return Err(CheckError::RateLimited {
                    status,
                    retry_after,
                });
            }
            if (200..400).contains(&status) {
                Ok(())
            } else {
                Err(CheckError::Status { status })
            }
        }
        .boxed()
    }

    fn health_threshold(&self, success: bool) -> usize {
        if success {
            self.consecutive_success
        } else {
            self.consecutive_failure
        }
    }
}
