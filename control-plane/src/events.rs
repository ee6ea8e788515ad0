//! Change notifications: one `LISTEN app_config_changed` session per process, fanned out to
//! SSE clients through a tokio broadcast channel.
//!
//! The trigger of `app_config` calls `pg_notify('app_config_changed', {"key","version","op"})`,
//! delivered at commit to every listening replica. On a notification the listener re-reads the
//! key once (as `anon`) and broadcasts the new [`ConfigView`]; after a (re)connection it
//! re-reads every key, since notifications sent while disconnected are lost. The re-read runs as
//! `anon`, so only keys RLS shows to everyone are pushed (all of `app_config` with the shipped
//! policies); an SSE client is itself authorized when it connects (the first read runs as its
//! role). LISTEN needs a
//! session connection (on Supabase: direct or session-mode pooler, not transaction mode).

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;

use crate::db::{self, ConfigView};
use crate::snapshot::{PublicRead, Snapshot, SnapshotStore};

/// The notification channel written by the `app_config` trigger.
pub const CHANNEL: &str = "app_config_changed";

/// How often the read policy of `app_config` is re-checked ([`EventHub::run_listener`]).
pub const POLICY_RECHECK: Duration = Duration::from_secs(1);

/// Fan-out of configuration changes: the per-key [`SnapshotStore`] (what SSE streams and reads
/// are served from) and a broadcast of every new version for in-process subscribers.
#[derive(Debug, Clone)]
pub struct EventHub {
    tx: broadcast::Sender<Arc<ConfigView>>,
    store: Arc<SnapshotStore>,
}

impl EventHub {
    /// A hub whose broadcast channel keeps `capacity` undelivered events per slow subscriber
    /// (SSE streams do not use it: they follow the store's per-key `watch` channels, which
    /// hold only the latest version).
    pub fn new(capacity: usize) -> EventHub {
        let (tx, _) = broadcast::channel(capacity);
        EventHub {
            tx,
            store: Arc::new(SnapshotStore::new()),
        }
    }

    /// Subscribes to every future change (all keys).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ConfigView>> {
        self.tx.subscribe()
    }

    /// The in-memory snapshots kept current by [`Self::run_listener`].
    pub fn store(&self) -> &Arc<SnapshotStore> {
        &self.store
    }

    /// Installs a snapshot; when it is newer than the one held, tells the subscribers.
    fn publish(&self, snap: Snapshot) {
        let snap = Arc::new(snap);
        if self.store.install(snap.clone()) {
            metrics::counter!("sourcegate_events_published_total").increment(1);
            // No subscriber is fine.
            let _ = self.tx.send(snap.view.clone());
        }
    }

    /// Runs the listener until the task is aborted, reconnecting with a 1 s pause on errors.
    /// Beside it, re-reads every [`POLICY_RECHECK`] which roles read `app_config` without
    /// restriction (a policy change sends no notification), so a tightened read policy moves
    /// those roles back to the database within that time.
    pub async fn run_listener(self, pool: PgPool) {
        tokio::select! {
            _ = self.listen_loop(&pool) => {}
            _ = self.policy_loop(&pool) => {}
        }
    }

    async fn policy_loop(&self, pool: &PgPool) {
        let mut tick = tokio::time::interval(POLICY_RECHECK);
        loop {
            tick.tick().await;
            match PublicRead::load(pool).await {
                Ok(p) if p != self.store.public_read() => {
                    tracing::info!(?p, "app_config read policy changed");
                    self.store.set_public(p);
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "policy re-check failed"),
            }
        }
    }

    /// Re-reads `key` now (after a write made by this replica, so that its next read already
    /// serves the new version without waiting for the notification).
    pub async fn refresh_key(&self, pool: &PgPool, key: &str) {
        if let Err(e) = self.reread(pool, key).await {
            tracing::warn!(error = %e, %key, "re-read after write failed");
        }
    }

    async fn listen_loop(&self, pool: &PgPool) {
        loop {
            match self.listen_once(pool).await {
                Ok(()) => {}
                Err(e) => tracing::warn!(error = %e, "config listener failed; reconnecting"),
            }
            self.store.status().set_down();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn resync(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let mut tx = db::begin_as(pool, &crate::auth::AuthContext::anon()).await?;
        let snaps = crate::snapshot::read_snapshots(&mut tx, None).await?;
        tx.commit().await?;
        let public = PublicRead::load(pool).await?;
        self.store.set_public(public);
        let keys: std::collections::HashSet<String> =
            snaps.iter().map(|s| s.view.key.clone()).collect();
        for s in snaps {
            self.publish(s);
        }
        self.store.retain(&|k| keys.contains(k));
        self.store.status().set_synced();
        Ok(())
    }

    async fn reread(&self, pool: &PgPool, key: &str) -> Result<(), sqlx::Error> {
        let mut tx = db::begin_as(pool, &crate::auth::AuthContext::anon()).await?;
        let snaps = crate::snapshot::read_snapshots(&mut tx, Some(key)).await?;
        tx.commit().await?;
        if snaps.is_empty() {
            self.store.retain(&|k| k != key);
        }
        for s in snaps {
            self.publish(s);
        }
        Ok(())
    }

    async fn listen_once(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        self.store.status().set_subscribed();
        tracing::info!(channel = CHANNEL, "listening for config changes");
        self.resync(pool).await?;
        loop {
            match listener.try_recv().await? {
                Some(n) => {
                    let key = serde_json::from_str::<serde_json::Value>(n.payload())
                        .ok()
                        .and_then(|v| v.get("key").and_then(|k| k.as_str()).map(str::to_owned));
                    let Some(key) = key else {
                        tracing::warn!(payload = n.payload(), "unexpected notification payload");
                        continue;
                    };
                    tracing::debug!(%key, "config changed");
                    if let Err(e) = self.reread(pool, &key).await {
                        // The snapshot may now be stale: resync on a new session.
                        tracing::warn!(error = %e, %key, "re-read after notification failed");
                        return Err(e);
                    }
                }
                None => {
                    tracing::warn!("listener connection lost; reconnected, re-reading all keys");
                    self.store.status().set_down();
                    self.store.status().set_subscribed();
                    self.resync(pool).await?;
                }
            }
        }
    }
}
