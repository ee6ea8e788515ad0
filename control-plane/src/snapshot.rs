//! In-memory snapshots of `app_config`: what `GET /v1/configs/{key}`, its `304`, the first SSE
//! event and `rpc/get_marketplace_config` serve without touching PostgreSQL.
//!
//! Per key, a [`Snapshot`] holds the version, its `ETag` and the response bodies already
//! serialised (JSON, gzip, the SSE frame, the document as PostgreSQL prints it). The
//! `LISTEN/NOTIFY` listener ([`crate::events`]) replaces a key's snapshot after each change and
//! re-reads every key after each (re)connection, so no version is lost in a gap. Versions only
//! move forward: a snapshot older than the one held is ignored (a late re-read never replaces a
//! newer push).
//!
//! **Who may be answered from memory.** The snapshot is read as `anon`. A request is served from
//! it only when its role's read access to `public.app_config` is public — the role has `SELECT`
//! and either bypasses row-level security or has a permissive `SELECT` policy `USING (true)` and
//! no restrictive one — *and* `anon`'s is too (so the snapshot holds every row). This is read
//! from `pg_policies`/`pg_roles` at each resync ([`PublicRead::load`]); with the shipped
//! policies all three roles qualify. Any other role goes to the database, so a deployment that
//! tightens the read policy keeps RLS in charge.
//!
//! **Readiness.** [`ListenerStatus`] records whether the listener is subscribed and the
//! snapshots re-read since; a replica whose listener has been down longer than
//! [`Settings::listener_down_max_secs`](crate::settings::Settings) reports not ready, so a load
//! balancer drains it instead of letting it serve a stale document.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use bytes::Bytes;
use tokio::sync::watch;

use crate::auth::Role;
use crate::db::ConfigView;

/// One key's current version with its pre-serialised answers.
#[derive(Debug)]
pub struct Snapshot {
    /// The configuration as the API describes it.
    pub view: Arc<ConfigView>,
    /// `"<version>"`, the strong entity tag of `GET /v1/configs/{key}`.
    pub etag: HeaderValue,
    /// The JSON body of `GET /v1/configs/{key}` (a [`ConfigView`]).
    pub json: Bytes,
    /// `json` compressed with gzip (served on `Accept-Encoding: gzip`).
    pub gzip: Bytes,
    /// The SSE frame pushed to every stream: `id: <version>`, `event: config`, `data: <json>`.
    pub sse: Bytes,
    /// `sse` as one HTTP/1.1 chunk (RFC 9112, section 7.1: size in hex, CRLF, data, CRLF): the
    /// bytes the connection-level SSE path (`stream_path`) writes to every stream it serves, framed once per version.
    pub sse_chunk: Bytes,
    /// The document (`config_value`) as PostgreSQL prints `jsonb`, byte for byte what
    /// `rpc/get_marketplace_config` answers from the database.
    pub value_text: Bytes,
}

impl Snapshot {
    /// Serialises `view` once for every kind of answer. `value_text` is the database's text of
    /// the document (`config_value::text`).
    pub fn new(view: ConfigView, value_text: String) -> Snapshot {
        let json = serde_json::to_vec(&view).unwrap_or_default();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let gzip = gz
            .write_all(&json)
            .and_then(|()| gz.finish())
            .unwrap_or_default();
        let sse = sse_frame(view.version, &json);
        let sse_chunk = http_chunk(&sse);
        let etag = HeaderValue::from_str(&format!("\"{}\"", view.version))
            .unwrap_or(HeaderValue::from_static("\"0\""));
        Snapshot {
            view: Arc::new(view),
            etag,
            json: Bytes::from(json),
            gzip: Bytes::from(gzip),
            sse,
            sse_chunk,
            value_text: Bytes::from(value_text),
        }
    }

    /// The version (`app_config.version`).
    pub fn version(&self) -> i64 {
        self.view.version
    }
}

/// The SSE frame of one version: `id: <version>`, `event: config`, `data: <json>` (one line:
/// `serde_json` never writes a raw newline), then the blank line that ends an event (WHATWG
/// HTML, "Server-sent events", event stream interpretation).
pub fn sse_frame(version: i64, json: &[u8]) -> Bytes {
    let mut sse = Vec::with_capacity(json.len() + 40);
    sse.extend_from_slice(format!("id: {version}\nevent: config\ndata: ").as_bytes());
    sse.extend_from_slice(json);
    sse.extend_from_slice(b"\n\n");
    Bytes::from(sse)
}

/// `data` framed as one chunk of HTTP/1.1's chunked transfer coding (RFC 9112, section 7.1).
pub fn http_chunk(data: &[u8]) -> Bytes {
    let size = format!("{:X}\r\n", data.len());
    let mut out = Vec::with_capacity(size.len() + data.len() + 2);
    out.extend_from_slice(size.as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    Bytes::from(out)
}

/// Which request roles read `app_config` without restriction (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublicRead(u8);

impl PublicRead {
    fn bit(role: Role) -> u8 {
        match role {
            Role::Anon => 1,
            Role::Authenticated => 2,
            Role::ServiceRole => 4,
        }
    }

    /// Whether `role` may be answered from the snapshot.
    pub fn allows(self, role: Role) -> bool {
        // The snapshot is read as anon: it is complete only when anon sees every row.
        self.0 & 1 != 0 && self.0 & Self::bit(role) != 0
    }

    /// Reads the catalog: for `anon`, `authenticated` and `service_role`, whether the role has
    /// `SELECT` on `public.app_config` and either bypasses RLS (or RLS is off) or has a
    /// permissive `SELECT`/`ALL` policy whose `USING` is `true` and no restrictive one.
    ///
    /// # Errors
    /// Database errors.
    pub async fn load(
        conn: impl sqlx::Executor<'_, Database = sqlx::Postgres>,
    ) -> Result<PublicRead, sqlx::Error> {
        let rows: Vec<(String, bool)> = sqlx::query_as(
            "SELECT r.rolname::text,
                    has_table_privilege(r.oid, 'public.app_config', 'SELECT')
                AND (r.rolbypassrls OR NOT c.relrowsecurity
                     OR (EXISTS (SELECT 1 FROM pg_catalog.pg_policies p
                                  WHERE p.schemaname = 'public' AND p.tablename = 'app_config'
                                    AND p.permissive = 'PERMISSIVE' AND p.cmd IN ('SELECT', 'ALL')
                                    AND p.qual = 'true'
                                    AND (r.rolname = ANY (p.roles) OR 'public' = ANY (p.roles)))
                         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policies p
                                  WHERE p.schemaname = 'public' AND p.tablename = 'app_config'
                                    AND p.permissive = 'RESTRICTIVE' AND p.cmd IN ('SELECT', 'ALL')
                                    AND (r.rolname = ANY (p.roles) OR 'public' = ANY (p.roles)))))
               FROM pg_catalog.pg_roles r, pg_catalog.pg_class c
              WHERE c.oid = 'public.app_config'::regclass
                AND r.rolname IN ('anon', 'authenticated', 'service_role')",
        )
        .fetch_all(conn)
        .await?;
        let mut bits = 0;
        for (name, public) in rows {
            if public && let Some(role) = Role::parse(&name) {
                bits |= Self::bit(role);
            }
        }
        Ok(PublicRead(bits))
    }
}

/// State of the `LISTEN` session, for readiness and metrics.
#[derive(Debug)]
pub struct ListenerStatus {
    subscribed: AtomicBool,
    /// Set after the snapshots were re-read on the current session.
    synced: AtomicBool,
    /// Set after the first sync ever (before it, the replica is not ready).
    ever_synced: AtomicBool,
    /// When the listener was last seen down (`None` while up, or before the first connection:
    /// then `started` counts).
    down_since: Mutex<Option<Instant>>,
    started: Instant,
    reconnects: AtomicU64,
}

impl ListenerStatus {
    fn new() -> ListenerStatus {
        ListenerStatus {
            subscribed: AtomicBool::new(false),
            synced: AtomicBool::new(false),
            ever_synced: AtomicBool::new(false),
            down_since: Mutex::new(None),
            started: Instant::now(),
            reconnects: AtomicU64::new(0),
        }
    }

    /// Records a `LISTEN` that succeeded; `synced` stays false until [`Self::set_synced`].
    pub(crate) fn set_subscribed(&self) {
        self.subscribed.store(true, Ordering::SeqCst);
    }

    /// Records that every key was re-read on the current session.
    pub(crate) fn set_synced(&self) {
        self.synced.store(true, Ordering::SeqCst);
        self.ever_synced.store(true, Ordering::SeqCst);
        if let Ok(mut d) = self.down_since.lock() {
            *d = None;
        }
    }

    /// Records a lost session (keeps the first instant of an outage).
    pub(crate) fn set_down(&self) {
        let was_up = self.subscribed.swap(false, Ordering::SeqCst);
        self.synced.store(false, Ordering::SeqCst);
        if let Ok(mut d) = self.down_since.lock()
            && d.is_none()
        {
            *d = Some(Instant::now());
        }
        if was_up {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("sourcegate_listener_reconnects_total").increment(1);
        }
    }

    /// Whether the listener is subscribed and the snapshots are current.
    pub fn is_current(&self) -> bool {
        self.subscribed.load(Ordering::SeqCst) && self.synced.load(Ordering::SeqCst)
    }

    /// How long the snapshots have not been current (zero when they are).
    pub fn down_for(&self) -> Duration {
        if self.is_current() {
            return Duration::ZERO;
        }
        match self.down_since.lock().ok().and_then(|d| *d) {
            Some(t) => t.elapsed(),
            None => self.started.elapsed(),
        }
    }

    /// Readiness: synced at least once, and current now or down for less than `bound`.
    pub fn ready_within(&self, bound: Duration) -> bool {
        self.is_current() || (self.ever_synced.load(Ordering::SeqCst) && self.down_for() < bound)
    }

    /// Whether the snapshots were ever synced (the first resync after start succeeded).
    pub fn ever_synced(&self) -> bool {
        self.ever_synced.load(Ordering::SeqCst)
    }

    /// Times a subscribed session was lost since start.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
}

/// The snapshots of every key, with a `watch` channel per key for SSE streams.
#[derive(Debug)]
pub struct SnapshotStore {
    /// A std lock: held for a map lookup, never across an `.await`.
    keys: RwLock<HashMap<String, watch::Sender<Option<Arc<Snapshot>>>>>,
    public: AtomicU8,
    status: ListenerStatus,
}

impl Default for SnapshotStore {
    fn default() -> Self {
        SnapshotStore::new()
    }
}

impl SnapshotStore {
    /// An empty store (not current until the listener syncs it).
    pub fn new() -> SnapshotStore {
        SnapshotStore {
            keys: RwLock::new(HashMap::new()),
            public: AtomicU8::new(0),
            status: ListenerStatus::new(),
        }
    }

    /// The listener's state.
    pub fn status(&self) -> &ListenerStatus {
        &self.status
    }

    /// Records which roles read without restriction.
    pub(crate) fn set_public(&self, p: PublicRead) {
        self.public.store(p.0, Ordering::SeqCst);
    }

    /// Which roles may be answered from memory.
    pub fn public_read(&self) -> PublicRead {
        PublicRead(self.public.load(Ordering::SeqCst))
    }

    /// Whether a request as `role` is answered from the snapshots: they are current and the
    /// role's read is public. `None` means "ask the database".
    pub fn serves(&self, role: Role) -> bool {
        self.status.is_current() && self.public_read().allows(role)
    }

    /// The current snapshot of `key`, if any.
    pub fn get(&self, key: &str) -> Option<Arc<Snapshot>> {
        let keys = self.keys.read().ok()?;
        keys.get(key).and_then(|tx| tx.borrow().clone())
    }

    /// A receiver of `key`'s snapshots (created empty when the key is unknown yet).
    pub fn watch(&self, key: &str) -> watch::Receiver<Option<Arc<Snapshot>>> {
        if let Ok(keys) = self.keys.read()
            && let Some(tx) = keys.get(key)
        {
            return tx.subscribe();
        }
        match self.keys.write() {
            Ok(mut keys) => keys
                .entry(key.to_owned())
                .or_insert_with(|| watch::channel(None).0)
                .subscribe(),
            Err(_) => watch::channel(None).1,
        }
    }

    /// Installs `snap` unless the key already holds the same or a newer version. Returns whether
    /// it was installed (then every stream of the key is woken once, whatever its lag).
    pub fn install(&self, snap: Arc<Snapshot>) -> bool {
        let key = snap.view.key.clone();
        let version = snap.version();
        let newer = |cur: &mut Option<Arc<Snapshot>>| {
            if cur.as_ref().is_some_and(|c| c.version() >= version) {
                false
            } else {
                *cur = Some(snap.clone());
                true
            }
        };
        let installed = match self.keys.read() {
            Ok(keys) => keys.get(&key).map(|tx| tx.send_if_modified(newer)),
            Err(_) => return false,
        };
        let installed = match installed {
            Some(i) => i,
            None => match self.keys.write() {
                Ok(mut keys) => keys
                    .entry(key.clone())
                    .or_insert_with(|| watch::channel(None).0)
                    .send_if_modified(newer),
                Err(_) => false,
            },
        };
        if installed {
            metrics::gauge!("sourcegate_config_version", "key" => key).set(version as f64);
        }
        installed
    }

    /// Forgets keys that are no longer in the table (after a resync or a `DELETE`). Streams of a
    /// removed key end.
    pub fn retain(&self, present: &dyn Fn(&str) -> bool) {
        if let Ok(mut keys) = self.keys.write() {
            keys.retain(|k, tx| present(k) || (tx.borrow().is_none() && tx.receiver_count() > 0));
        }
    }
}

/// Reads one key (or all keys with `key = None`) as `anon`, with the document's text as
/// PostgreSQL prints it, ready for [`Snapshot::new`].
///
/// # Errors
/// Database errors.
pub async fn read_snapshots(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    key: Option<&str>,
) -> Result<Vec<Snapshot>, sqlx::Error> {
    type Row = (
        String,
        i64,
        serde_json::Value,
        chrono::DateTime<chrono::Utc>,
        Option<uuid::Uuid>,
        String,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT config_key, version, config_value, updated_at, updated_by, config_value::text
           FROM public.app_config WHERE $1::text IS NULL OR config_key = $1",
    )
    .bind(key)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Snapshot::new(crate::db::view((r.0, r.1, r.2, r.3, r.4)), r.5))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(key: &str, version: i64) -> Arc<Snapshot> {
        Arc::new(Snapshot::new(
            ConfigView {
                key: key.into(),
                version,
                value: serde_json::json!({"type": "git", "version": version}),
                updated_at: chrono::Utc::now(),
                updated_by: None,
                actor: None,
            },
            format!("{{\"type\": \"git\", \"version\": {version}}}"),
        ))
    }

    #[test]
    fn versions_only_move_forward() {
        let store = SnapshotStore::new();
        let mut rx = store.watch("k");
        assert!(store.install(snap("k", 2)));
        assert!(!store.install(snap("k", 1)));
        assert!(!store.install(snap("k", 2)));
        assert_eq!(store.get("k").map(|s| s.version()), Some(2));
        assert!(rx.has_changed().unwrap());
        assert_eq!(
            rx.borrow_and_update().as_ref().map(|s| s.version()),
            Some(2)
        );
        assert!(store.install(snap("k", 5)));
        assert_eq!(store.get("k").map(|s| s.version()), Some(5));
    }

    #[test]
    fn bodies_are_serialised_once_and_agree() {
        let s = snap("k", 3);
        assert_eq!(s.etag, "\"3\"");
        let v: ConfigView = serde_json::from_slice(&s.json).unwrap();
        assert_eq!(v, *s.view);
        let mut d = flate2::read::GzDecoder::new(&s.gzip[..]);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut d, &mut out).unwrap();
        assert_eq!(out, s.json);
        let frame = std::str::from_utf8(&s.sse).unwrap();
        assert!(frame.starts_with("id: 3\nevent: config\ndata: {"));
        assert!(frame.ends_with("}\n\n"));
        assert_eq!(frame.matches('\n').count(), 4);
    }

    #[test]
    fn public_read_needs_anon() {
        assert!(PublicRead(0b111).allows(Role::Authenticated));
        assert!(!PublicRead(0b110).allows(Role::Authenticated));
        assert!(!PublicRead(0b101).allows(Role::Authenticated));
        assert!(PublicRead(0b101).allows(Role::ServiceRole));
    }

    #[test]
    fn retain_drops_deleted_keys() {
        let store = SnapshotStore::new();
        store.install(snap("a", 1));
        store.install(snap("b", 1));
        store.retain(&|k| k == "a");
        assert!(store.get("a").is_some());
        assert!(store.get("b").is_none());
    }

    #[test]
    fn status_reports_outages() {
        let st = ListenerStatus::new();
        assert!(!st.is_current());
        assert!(!st.ready_within(Duration::from_secs(3600)));
        st.set_subscribed();
        st.set_synced();
        assert!(st.is_current());
        assert_eq!(st.down_for(), Duration::ZERO);
        st.set_down();
        assert!(!st.is_current());
        assert_eq!(st.reconnects(), 1);
        std::thread::sleep(Duration::from_millis(5));
        assert!(st.down_for() >= Duration::from_millis(5));
        assert!(st.ready_within(Duration::from_secs(3600)));
        assert!(!st.ready_within(Duration::from_millis(1)));
    }
}
