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

/// The notification channel written by the `app_config` trigger.
pub const CHANNEL: &str = "app_config_changed";

/// Fan-out of configuration changes to in-process subscribers.
#[derive(Debug, Clone)]
pub struct EventHub {
    tx: broadcast::Sender<Arc<ConfigView>>,
}

impl EventHub {
    /// A hub whose channel keeps `capacity` undelivered events per slow subscriber.
    pub fn new(capacity: usize) -> EventHub {
        let (tx, _) = broadcast::channel(capacity);
        EventHub { tx }
    }

    /// Subscribes to every future change (all keys).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ConfigView>> {
        self.tx.subscribe()
    }

    fn publish(&self, v: ConfigView) {
        // No subscriber is fine.
        let _ = self.tx.send(Arc::new(v));
    }

    /// Runs the listener until the task is aborted, reconnecting with a 1 s pause on errors.
    pub async fn run_listener(self, pool: PgPool) {
        loop {
            match self.listen_once(&pool).await {
                Ok(()) => {}
                Err(e) => tracing::warn!(error = %e, "config listener failed; reconnecting"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn resync(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let mut tx = db::begin_as(pool, &crate::auth::AuthContext::anon()).await?;
        let keys: Vec<String> = sqlx::query_scalar("SELECT config_key FROM public.app_config")
            .fetch_all(&mut *tx)
            .await?;
        for k in keys {
            if let Some(v) = db::fetch_config(&mut tx, &k).await? {
                self.publish(v);
            }
        }
        tx.commit().await
    }

    async fn listen_once(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
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
                    match db::fetch_config_public(pool, &key).await {
                        Ok(Some(v)) => self.publish(v),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, %key, "re-read after notification failed")
                        }
                    }
                }
                None => {
                    tracing::warn!("listener connection lost; reconnected, re-reading all keys");
                    self.resync(pool).await?;
                }
            }
        }
    }
}
