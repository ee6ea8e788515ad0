//! One origin's runtime state ([`OriginCell`]), shared by the resolver's snapshots, its fetch
//! path and the prober; and [`join_path`], which keeps request paths under an origin's base.

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use url::Url;

use crate::config::OriginKind;
use crate::error::RequestError;
use crate::health::{HealthFlags, HealthState, OriginHealth, OutlierState, nanos};

/// The state behind the lock: state machines and the last probe's details.
#[derive(Debug, Default)]
pub(crate) struct Machine {
    pub(crate) health: HealthState,
    pub(crate) outlier: OutlierState,
    pub(crate) last_check: Option<SystemTime>,
    pub(crate) response_time: Option<Duration>,
    pub(crate) last_error: Option<String>,
    pub(crate) checks: u64,
}

/// One origin's runtime state, shared by the snapshots that keep its URL.
#[derive(Debug)]
pub(crate) struct OriginCell {
    pub(crate) kind: OriginKind,
    pub(crate) base: Url,
    /// Read lock-free by the router on every call.
    pub(crate) flags: HealthFlags,
    /// A std mutex: held for a few field writes, never across an `.await`.
    pub(crate) machine: Mutex<Machine>,
    /// Paths already joined to `base`: apps resolve a handful of paths, and a join parses the
    /// whole URL (~4× the rest of a resolve). Read lock-free; bounded at [`JOIN_CACHE_MAX`].
    joined: ArcSwap<Vec<(Box<str>, Url)>>,
}

const JOIN_CACHE_MAX: usize = 16;

impl OriginCell {
    pub(crate) fn new(kind: OriginKind, base: Url) -> OriginCell {
        OriginCell {
            kind,
            base,
            flags: HealthFlags::default(),
            machine: Mutex::new(Machine::default()),
            joined: ArcSwap::from_pointee(Vec::new()),
        }
    }

    /// `f` of `path` joined to the base, borrowed from the cache when the path is in it.
    pub(crate) fn with_url_for<R>(
        &self,
        path: &str,
        f: impl FnOnce(&Url) -> R,
    ) -> Result<R, RequestError> {
        let cached = self.joined.load();
        if let Some((_, url)) = cached.iter().find(|(p, _)| &**p == path) {
            return Ok(f(url));
        }
        Ok(f(&self.url_for(path)?))
    }

    /// `path` joined to the base (cached).
    pub(crate) fn url_for(&self, path: &str) -> Result<Url, RequestError> {
        let cached = self.joined.load();
        if let Some((_, url)) = cached.iter().find(|(p, _)| &**p == path) {
            return Ok(url.clone());
        }
        let url = join_path(&self.base, path)?;
        if cached.len() < JOIN_CACHE_MAX {
            self.joined.rcu(|v| {
                let mut v = Vec::clone(v);
                if v.len() < JOIN_CACHE_MAX && !v.iter().any(|(p, _)| &**p == path) {
                    v.push((path.into(), url.clone()));
                }
                v
            });
        }
        Ok(url)
    }

    /// Starts a rate-limit cooldown (`retry` as asked by the origin, if it did), at `now` (ns
    /// since the owner's epoch). Never shortens a cooldown under way.
    pub(crate) fn start_cooldown(&self, now: u64, retry: Option<Duration>) -> Duration {
        let cooldown = crate::ratelimit::cooldown(retry, rand::random::<f64>());
        let until = now.saturating_add(nanos(cooldown));
        self.flags
            .rate_limited_until
            .fetch_max(until, Ordering::Relaxed);
        cooldown
    }

    /// The health report of this origin at `now` (ns since the owner's epoch).
    pub(crate) fn health(&self, now: u64) -> OriginHealth {
        let m = self.machine.lock().map(|m| {
            (
                m.last_check,
                m.response_time,
                m.last_error.clone(),
                m.checks,
                m.health.healthy,
            )
        });
        let (last_check, rt, last_error, checks, healthy) =
            m.unwrap_or((None, None, None, 0, true));
        let rl = self.flags.rate_limited_until.load(Ordering::Relaxed);
        OriginHealth {
            origin: self.kind,
            url: self.base.to_string(),
            healthy,
            ejected: self.flags.ejected_until.load(Ordering::Relaxed) > now,
            rate_limited: rl > now,
            rate_limited_for_secs: Duration::from_nanos(rl.saturating_sub(now)).as_secs_f64(),
            last_check: last_check.map(crate::date::rfc3339),
            response_time_ms: rt.map(|d| d.as_secs_f64() * 1000.0),
            last_error,
            checks,
        }
    }
}

pub(crate) use crate::util::join_path;
