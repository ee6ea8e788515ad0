//! Both origins' runtime state and the rules that change it, as the Rust resolver applies them
//! (`resolver/src/runtime/fetch.rs`'s `observe_outcome`, `resolver/src/origin.rs`'s cooldown):
//! the state machines and the router's view are `sourcegate-core`'s.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use sourcegate_core::bucket::Bucket;
use sourcegate_core::config::{MarketplaceConfig, OriginKind};
use sourcegate_core::error::RequestError;
use sourcegate_core::health::{HealthFlags, HealthState, OutlierState, nanos};
use sourcegate_core::ratelimit::{
    cooldown, is_rate_limited, parse_ratelimit_reset, parse_retry_after,
};
use sourcegate_core::routing::{OriginView, Route, route};
use sourcegate_core::util::join_path;
use url::Url;

/// Paths already joined per origin (apps resolve a handful; a join parses the whole URL).
const JOIN_CACHE_MAX: usize = 16;

/// `ms` since the Unix epoch as nanoseconds (the core's clock unit); negative or NaN is 0.
pub(crate) fn ms_to_ns(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        // Saturating float-to-int conversion.
        (ms * 1e6) as u64
    } else {
        0
    }
}

/// `ms` since the Unix epoch as a wall-clock time (for HTTP-dates and epoch resets).
pub(crate) fn wall(ms: f64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(ms_to_ns(ms))
}

/// One origin's state.
#[derive(Debug)]
struct Slot {
    base: Url,
    flags: HealthFlags,
    health: HealthState,
    outlier: OutlierState,
    last_error: Option<String>,
    joined: RefCell<Vec<(Box<str>, Url)>>,
}

impl Slot {
    fn new(base: Url) -> Slot {
        Slot {
            base,
            flags: HealthFlags::default(),
            health: HealthState::default(),
            outlier: OutlierState::default(),
            last_error: None,
            joined: RefCell::new(Vec::new()),
        }
    }
}

/// What one response (or its absence) was.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Observed<'a> {
    /// HTTP status; `None` for a transport error.
    pub(crate) status: Option<u16>,
    /// The `Retry-After` header's value.
    pub(crate) retry_after: Option<&'a str>,
    /// The `x-ratelimit-reset` header's value.
    pub(crate) ratelimit_reset: Option<&'a str>,
    /// Why the body was refused, if it was.
    pub(crate) refused: Option<&'a str>,
}

/// Git's and the CDN's state, indexed as `OriginKind::index`.
#[derive(Debug)]
pub(crate) struct Origins([Option<Slot>; 2]);

impl Origins {
    /// The origins of `config`: its URLs, the default Git URL for Git under the seed's fallback
    /// rule (`fallbackOnError` and no `gitUrl`, docs/seed.md). An origin whose base URL is
    /// unchanged from `previous` keeps its state.
    pub(crate) fn for_config(
        config: &MarketplaceConfig,
        default_git: &Url,
        previous: Option<&Origins>,
    ) -> Origins {
        Origins(OriginKind::ALL.map(|kind| {
            let base = match config.origin_url(kind) {
                Some(u) => u.clone(),
                None if kind == OriginKind::Git && config.fallback_on_error => default_git.clone(),
                None => return None,
            };
            match previous.and_then(|p| p.0[kind.index()].as_ref()) {
                Some(old) if old.base == base => Some(old.carry()),
                _ => Some(Slot::new(base)),
            }
        }))
    }

    /// The route for `bucket` at `now` (ns): health verdicts count when the document enables
    /// health checks.
    pub(crate) fn route(&self, config: &MarketplaceConfig, bucket: Bucket, now: u64) -> Route {
        let use_health = config.health_check_enabled;
        let views = [0, 1].map(|i| match &self.0[i] {
            Some(s) => s.flags.view(now, use_health),
            None => OriginView::ABSENT,
        });
        route(config, bucket, views)
    }

    /// The base URL of `kind` in use.
    pub(crate) fn base(&self, kind: OriginKind) -> Option<&Url> {
        self.0[kind.index()].as_ref().map(|s| &s.base)
    }

    /// `path` joined to `kind`'s base (cached).
    pub(crate) fn url(&self, kind: OriginKind, path: &str) -> Result<String, RequestError> {
        let Some(slot) = &self.0[kind.index()] else {
            return Err(RequestError::NoOrigin {
                path: path.into(),
                origin: kind,
            });
        };
        if let Some((_, u)) = slot.joined.borrow().iter().find(|(p, _)| &**p == path) {
            return Ok(u.as_str().to_owned());
        }
        let url = join_path(&slot.base, path)?;
        let out = url.as_str().to_owned();
        let mut cache = slot.joined.borrow_mut();
        if cache.len() < JOIN_CACHE_MAX {
            cache.push((path.into(), url));
        }
        Ok(out)
    }

    /// Applies one outcome (see `Core::observe`).
    pub(crate) fn observe(
        &mut self,
        kind: OriginKind,
        config: &MarketplaceConfig,
        o: Observed<'_>,
        now_ms: f64,
        jitter: f64,
    ) -> Value {
        let now = ms_to_ns(now_ms);
        let Some(slot) = self.0[kind.index()].as_mut() else {
            return json!({"success": false, "rateLimited": false, "cooldownMs": 0, "ejected": false});
        };
        let success = o.refused.is_none() && matches!(o.status, Some(s) if (200..400).contains(&s));
        let rate_limited = o.status.is_some_and(|s| is_rate_limited(kind, s));
        let mut cooldown_ms = 0.0;
        if rate_limited {
            // Retry-After first, then x-ratelimit-reset (sourcegate_core::ratelimit's rules).
            let clock = wall(now_ms);
            let requested = o
                .retry_after
                .and_then(|v| parse_retry_after(v, clock))
                .or_else(|| {
                    o.ratelimit_reset
                        .and_then(|v| parse_ratelimit_reset(v, clock))
                });
            let c = cooldown(requested, jitter);
            cooldown_ms = c.as_secs_f64() * 1000.0;
            slot.flags
                .rate_limited_until
                .fetch_max(now.saturating_add(nanos(c)), Ordering::Relaxed);
        }
        let outlier_failure = o.refused.is_some() || o.status.is_none_or(|s| s >= 500);
        if !success {
            slot.flags.last_failure.store(now.max(1), Ordering::Relaxed);
        }
        let mut ejected = false;
        if let Some(until) = slot
            .outlier
            .record(outlier_failure, now, &config.outlier_detection)
        {
            slot.flags.ejected_until.store(until, Ordering::Relaxed);
            ejected = true;
        }
        slot.last_error = if success {
            None
        } else {
            Some(match (o.refused, o.status) {
                (Some(cause), _) => cause.to_owned(),
                (None, Some(s)) => format!("HTTP {s}"),
                (None, None) => "transport error".into(),
            })
        };
        json!({"success": success, "rateLimited": rate_limited, "cooldownMs": cooldown_ms, "ejected": ejected})
    }

    /// Records a probe result; returns whether the verdict flipped.
    pub(crate) fn probe(
        &mut self,
        kind: OriginKind,
        config: &MarketplaceConfig,
        success: bool,
        error: Option<String>,
    ) -> bool {
        let Some(slot) = self.0[kind.index()].as_mut() else {
            return false;
        };
        let flipped = slot.health.observe(success, &config.health_check);
        slot.flags
            .healthy
            .store(slot.health.healthy, Ordering::Relaxed);
        if !success {
            slot.last_error = error.or_else(|| Some("health check failed".into()));
        }
        flipped
    }

    /// Both origins' health at `now` (ns), as JSON.
    pub(crate) fn health(&self, now: u64) -> Value {
        let rows: Vec<Value> = OriginKind::ALL
            .iter()
            .filter_map(|k| self.0[k.index()].as_ref().map(|s| (k, s)))
            .map(|(k, s)| {
                let rl = s.flags.rate_limited_until.load(Ordering::Relaxed);
                json!({
                    "origin": k.as_str(),
                    "url": s.base.as_str(),
                    "healthy": s.health.healthy,
                    "ejected": s.flags.ejected_until.load(Ordering::Relaxed) > now,
                    "rateLimited": rl > now,
                    "rateLimitedForSecs": Duration::from_nanos(rl.saturating_sub(now)).as_secs_f64(),
                    "lastError": s.last_error,
                })
            })
            .collect();
        Value::Array(rows)
    }
}

impl Slot {
    /// The same origin's state, for a new config with the same base URL.
    fn carry(&self) -> Slot {
        let flags = HealthFlags::default();
        for (to, from) in [
            (&flags.ejected_until, &self.flags.ejected_until),
            (&flags.rate_limited_until, &self.flags.rate_limited_until),
            (&flags.last_failure, &self.flags.last_failure),
        ] {
            to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        flags.healthy.store(
            self.flags.healthy.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        Slot {
            base: self.base.clone(),
            flags,
            health: self.health,
            outlier: self.outlier,
            last_error: self.last_error.clone(),
            joined: RefCell::new(self.joined.borrow().clone()),
        }
    }
}
