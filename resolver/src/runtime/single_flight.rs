//! Single flight for provider loads: one load of the config at a time, and the callers that
//! waited while it ran share its result, success or failure, so a burst of refreshes (a flip
//! pushed to many tasks, a reload while a poll runs) costs the providers one request.
//!
//! A success is also reused for `ttl` by callers that do not force a load (the first fetch at
//! start). Times are nanoseconds since the resolver's epoch, on tokio's clock, so tests with a
//! paused clock control the TTL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::MarketplaceConfig;
use crate::error::InstallError;
use crate::health::nanos;

/// What a load gives: the installed config, or the error shared by its waiters.
pub(super) type Loaded = Result<Arc<MarketplaceConfig>, Arc<InstallError>>;

/// The one config load of a resolver (see the module docs).
#[derive(Debug)]
pub(super) struct SingleFlight {
    /// Loads finished so far; a caller that sees it move while it waited shares the result.
    generation: AtomicU64,
    /// The last load: when it finished (ns) and what it gave. Held across the load itself.
    last: tokio::sync::Mutex<Option<(u64, Loaded)>>,
    ttl_ns: u64,
}

impl SingleFlight {
    /// A slot whose successes are reused for `ttl` by callers that do not force a load.
    pub(super) fn new(ttl: Duration) -> SingleFlight {
        SingleFlight {
            generation: AtomicU64::new(0),
            last: tokio::sync::Mutex::new(None),
            ttl_ns: nanos(ttl),
        }
    }

    /// Runs `load` unless a load finished while this caller waited (its result is shared) or,
    /// without `force`, the last success is younger than the TTL (it is reused). `now` reads
    /// the resolver's clock.
    pub(super) async fn run<F>(&self, force: bool, now: impl Fn() -> u64, load: F) -> Loaded
    where
        F: Future<Output = Result<Arc<MarketplaceConfig>, InstallError>>,
    {
        let seen = self.generation.load(Ordering::Acquire);
        let mut last = self.last.lock().await;
        if let Some((at, result)) = last.as_ref() {
            if self.generation.load(Ordering::Acquire) != seen {
                return result.clone();
            }
            if !force
                && let Ok(cfg) = result
                && now().saturating_sub(*at) < self.ttl_ns
            {
                return Ok(Arc::clone(cfg));
            }
        }
        let result = load.await.map_err(Arc::new);
        *last = Some((now(), result.clone()));
        self.generation.fetch_add(1, Ordering::AcqRel);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn cfg() -> Arc<MarketplaceConfig> {
        Arc::new(MarketplaceConfig::default_git(
            "https://git.example/".parse().unwrap(),
        ))
    }

    #[tokio::test]
    async fn waiters_share_one_load_and_its_failure() {
        let slot = Arc::new(SingleFlight::new(Duration::from_secs(300)));
        let loads = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (slot, loads, gate) = (slot.clone(), loads.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                slot.run(true, || 0, async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    gate.notified().await;
                    Err(InstallError::StaleVersion { got: 1, held: 2 })
                })
                .await
            }));
        }
        // Let every task queue behind the first load, then end it.
        while loads.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        for t in tasks {
            assert!(t.await.unwrap().is_err());
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        // A later forced call loads again.
        assert!(slot.run(true, || 0, async { Ok(cfg()) }).await.is_ok());
    }

    #[tokio::test]
    async fn a_success_is_reused_within_the_ttl_unless_forced() {
        let slot = SingleFlight::new(Duration::from_secs(300));
        let loads = AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(cfg())
        };
        slot.run(false, || 0, load()).await.unwrap();
        slot.run(false, || nanos(Duration::from_secs(299)), load())
            .await
            .unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        slot.run(false, || nanos(Duration::from_secs(301)), load())
            .await
            .unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        slot.run(true, || nanos(Duration::from_secs(302)), load())
            .await
            .unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 3);
    }
}
