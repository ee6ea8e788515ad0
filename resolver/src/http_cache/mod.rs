//! The HTTP cache behind [`crate::Resolver::fetch`]: a private cache (RFC 9111 §1, not shared)
//! of 2xx bodies, one entry per (origin, URL), with an optional persisted copy on disk.
//!
//! The freshness rules are `http-cache-semantics`' (RFC 9111 §4.2: `max-age`, `Expires`,
//! `Age`, heuristic freshness from `Last-Modified`), not our own arithmetic. This module adds:
//! - the key: an entry is stored and looked up under `(origin, URL)`, and a persisted file
//!   names both inside it, so a kept body is never served for another origin or path;
//! - what a lookup means for the fetch: fresh (served with no request, §4.2),
//!   revalidate (a conditional request with `If-None-Match` / `If-Modified-Since`, §4.3.1),
//!   or no usable entry;
//! - a 304 (§4.3.3, §4.3.4: the stored headers are updated from it) and `no-store` (§5.2.2.5:
//!   the response is not stored and an older entry is dropped);
//! - stale-if-error (§4.2.4): when every origin fails, a stale body may be served, unless the
//!   stored response said `must-revalidate` (§5.2.2.2);
//! - the persisted copy: one file per entry in the body-cache directory, written atomically
//!   ([`crate::cache::write_atomic`]), its body checked against a SHA-256 on read, the
//!   directory capped in bytes (oldest files removed first). A damaged file is ignored and
//!   counted, never an error.

//!
//! ## Layout
//! - `mod.rs`: the key, an entry and its freshness (`Entry`), the in-memory table and
//!   `HttpCache` (lookup, store, the persisted copy's load and write);
//! - `file.rs`: the persisted file format (a JSON header line with the key and a SHA-256, then
//!   the body) and the directory's size cap.

mod file;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, Weak};
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http_cache_semantics::{AfterResponse, BeforeRequest, CacheOptions, CachePolicy};
use serde::Serialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::config::OriginKind;
use file::{FILE_SUFFIX, LoadError, decode_file, encode_file, enforce_cap};

/// Where the body of a [`crate::FetchResponse`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BodySource {
    /// A 2xx answer with its body: the origin sent the bytes.
    Network,
    /// A kept body the origin confirmed with `304 Not Modified` to a conditional request
    /// (RFC 9111 §4.3): only headers crossed the network.
    Revalidated,
    /// A kept body still fresh (RFC 9111 §4.2): no request was made.
    Fresh,
    /// A stale kept body (from this run or the persisted body cache), served because every
    /// origin failed (RFC 9111 §4.2.4).
    Stale,
}

/// Bodies kept by every resolver of the process, by length, held weakly: a process that runs
/// many resolvers (a server resolving for many clients, the drill's simulated fleet) keeps one
/// copy of each distinct body instead of one per resolver. Equal bodies are found by comparing
/// the bytes of those of the same length (a memory compare, far cheaper than hashing them).
static INTERNED: LazyLock<Mutex<InternTable>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Body length → the bodies of that length, while some resolver keeps them.
type InternTable = HashMap<usize, Vec<Weak<Vec<u8>>>>;

/// The owner of an interned body's bytes.
struct SharedBody(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBody {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// `body`, sharing its bytes with an equal body already kept in this process.
pub(crate) fn intern(body: Bytes) -> Bytes {
    let Ok(mut table) = INTERNED.lock() else {
        return body;
    };
    let same_len = table.entry(body.len()).or_default();
    same_len.retain(|w| w.strong_count() > 0);
    if let Some(held) = same_len
        .iter()
        .filter_map(Weak::upgrade)
        .find(|held| held.as_slice() == body.as_ref())
    {
        return Bytes::from_owner(SharedBody(held));
    }
    // `Vec::from` takes the buffer over without a copy when `body` is its only handle.
    let held = Arc::new(Vec::from(body));
    same_len.push(Arc::downgrade(&held));
    Bytes::from_owner(SharedBody(held))
}

/// Forgets interned bodies no resolver keeps any more, and frees the table once empty (so a
/// process whose resolvers are all gone holds nothing, as valgrind checks in the C tests).
fn prune_interned() {
    if let Ok(mut table) = INTERNED.lock() {
        table.retain(|_, same_len| {
            same_len.retain(|w| w.strong_count() > 0);
            !same_len.is_empty()
        });
        if table.is_empty() {
            *table = HashMap::new();
        }
    }
}

/// At most this many entries are kept in memory (an app fetches a handful of paths).
const MAX_MEMORY_ENTRIES: usize = 64;

/// The cache key: the origin and the full URL requested.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) origin: OriginKind,
    pub(crate) url: String,
}

impl Key {
    pub(crate) fn new(origin: OriginKind, url: &Url) -> Key {
        Key {
            origin,
            url: url.as_str().to_owned(),
        }
    }

    /// The file name of this key in the body-cache directory (a hash: URLs may hold any
    /// character; the file itself names the key in full).
    fn file_name(&self) -> String {
        let d = Sha256::digest(format!("{}\n{}", self.origin, self.url).as_bytes());
        let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("{hex}{FILE_SUFFIX}")
    }
}

/// What the fetch should do with a kept entry.
pub(crate) enum Lookup {
    /// Fresh: serve it without a request.
    Fresh,
    /// Stale (or `no-cache`): send these conditional headers, serve the kept body on a 304.
    Revalidate(Vec<(HeaderName, HeaderValue)>),
    /// The entry does not answer this request (e.g. `Vary` differs): a plain GET.
    Unusable,
}

/// One kept response.
pub(crate) struct Entry {
    policy: CachePolicy,
    pub(crate) status: u16,
    /// The stored response headers (updated by each 304), as persisted.
    headers: HeaderMap,
    response_time: SystemTime,
    pub(crate) body: Bytes,
    /// SHA-256 of `body`, computed once when an `integrity` entry first asks for it.
    digest: OnceLock<[u8; 32]>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// A private cache: `private` responses may be kept, `s-maxage` does not apply (RFC 9111
/// §5.2.2.7, §5.2.2.10).
fn options() -> CacheOptions {
    CacheOptions {
        shared: false,
        ..CacheOptions::default()
    }
}

/// The request the cache reasons about: a GET of `url` with no extra header (the fetch sends
/// the same every time, so `Vary` on request headers always matches).
fn request_parts(url: &str) -> Option<http::request::Parts> {
    http::Request::get(url)
        .body(())
        .ok()
        .map(|r| r.into_parts().0)
}

fn response_parts(status: u16, headers: HeaderMap) -> Option<http::response::Parts> {
    let (mut parts, ()) = http::Response::builder()
        .status(status)
        .body(())
        .ok()?
        .into_parts();
    parts.headers = headers;
    Some(parts)
}

impl Entry {
    /// An entry for a 2xx answer, or `None` when it may not be stored (`no-store`, a status
    /// that is not cacheable, a URL `http` cannot represent).
    pub(crate) fn from_response(
        url: &str,
        status: u16,
        headers: HeaderMap,
        body: Bytes,
        response_time: SystemTime,
    ) -> Option<Entry> {
        let req = request_parts(url)?;
        let res = response_parts(status, headers.clone())?;
        let policy = CachePolicy::new_options(&req, &res, response_time, options());
        policy.is_storable().then_some(Entry {
            policy,
            status,
            headers,
            response_time,
            body,
            digest: OnceLock::new(),
        })
    }

    /// SHA-256 of the body, hashed at most once per entry (a fresh hit under an `integrity`
    /// entry costs a compare, not a hash of the body).
    pub(crate) fn sha256(&self) -> [u8; 32] {
        *self
            .digest
            .get_or_init(|| crate::config::integrity_sha256(&self.body))
    }

    /// Records the body's SHA-256 when the fetch has already computed it.
    pub(crate) fn with_sha256(self, digest: [u8; 32]) -> Entry {
        let _ = self.digest.set(digest);
        self
    }

    /// What to do with this entry for a request of `url` at `now`.
    pub(crate) fn lookup(&self, url: &str, now: SystemTime) -> Lookup {
        let Some(req) = request_parts(url) else {
            return Lookup::Unusable;
        };
        match self.policy.before_request(&req, now) {
            BeforeRequest::Fresh(_) => Lookup::Fresh,
            BeforeRequest::Stale {
                request,
                matches: true,
            } => Lookup::Revalidate(
                [http::header::IF_NONE_MATCH, http::header::IF_MODIFIED_SINCE]
                    .into_iter()
                    .filter_map(|h| request.headers.get(&h).map(|v| (h, v.clone())))
                    .collect(),
            ),
            BeforeRequest::Stale { matches: false, .. } => Lookup::Unusable,
        }
    }

    /// The entry after a `304 Not Modified` with `headers` to a conditional request of `url`
    /// (RFC 9111 §4.3.4), or `None` when the 304 does not select this entry (another
    /// validator).
    pub(crate) fn after_not_modified(
        &self,
        url: &str,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Option<Entry> {
        let req = request_parts(url)?;
        let res = response_parts(304, headers.clone())?;
        match self.policy.after_response(&req, &res, now) {
            AfterResponse::NotModified(policy, parts) => Some(Entry {
                policy,
                status: self.status,
                headers: parts.headers,
                response_time: now,
                body: self.body.clone(),
                digest: self.digest.clone(),
            }),
            AfterResponse::Modified(..) => None,
        }
    }

    /// Whether this entry may be served stale when every origin fails (RFC 9111 §4.2.4: not
    /// after `must-revalidate`, §5.2.2.2).
    pub(crate) fn may_serve_stale(&self) -> bool {
        !self
            .headers
            .get_all(http::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|d| d.trim().eq_ignore_ascii_case("must-revalidate"))
    }
}

struct Memory {
    entries: HashMap<Key, (u64, Arc<Entry>)>,
    /// Keys whose persisted file was already looked for (read once per run).
    loaded: std::collections::HashSet<Key>,
    seq: u64,
}

/// The cache: entries in memory, and their persisted copies when a directory is set.
pub(crate) struct HttpCache {
    /// A std mutex: held for map operations only, never across an `.await` or file I/O.
    memory: Mutex<Memory>,
    dir: Option<PathBuf>,
    max_bytes: u64,
    /// Serialises writes to the directory (one writer at a time keeps the cap exact).
    write_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for HttpCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCache")
            .field("dir", &self.dir)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl Drop for HttpCache {
    fn drop(&mut self) {
        if let Ok(mut m) = self.memory.lock() {
            m.entries.clear();
        }
        prune_interned();
    }
}

impl HttpCache {
    pub(crate) fn new(dir: Option<PathBuf>, max_bytes: u64) -> HttpCache {
        HttpCache {
            memory: Mutex::new(Memory {
                entries: HashMap::new(),
                loaded: Default::default(),
                seq: 0,
            }),
            dir,
            max_bytes,
            write_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The entry kept for `key`: from memory, else (once per run) from its persisted file.
    /// `Err` reports a damaged file, which is ignored.
    pub(crate) async fn get(&self, key: &Key) -> (Option<Arc<Entry>>, Option<String>) {
        let first_look = match self.memory.lock() {
            Ok(mut m) => {
                if let Some((_, e)) = m.entries.get(key) {
                    return (Some(Arc::clone(e)), None);
                }
                m.loaded.insert(key.clone())
            }
            Err(_) => return (None, None),
        };
        let Some(dir) = self.dir.clone().filter(|_| first_look) else {
            return (None, None);
        };
        let k = key.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let path = dir.join(k.file_name());
            match std::fs::read(&path) {
                Ok(bytes) => decode_file(&k, bytes).map_err(LoadError::Damaged),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(LoadError::Absent),
                Err(e) => Err(LoadError::Damaged(e.to_string())),
            }
        })
        .await
        .unwrap_or_else(|e| Err(LoadError::Damaged(e.to_string())));
        match loaded {
            Ok(entry) => {
                let entry = Arc::new(entry);
                self.insert_memory(key.clone(), Arc::clone(&entry));
                (Some(entry), None)
            }
            Err(LoadError::Absent) => (None, None),
            Err(LoadError::Damaged(why)) => (None, Some(why)),
        }
    }

    fn insert_memory(&self, key: Key, entry: Arc<Entry>) {
        if let Ok(mut m) = self.memory.lock() {
            m.seq += 1;
            let seq = m.seq;
            m.entries.insert(key, (seq, entry));
            let mut total: u64 = m.entries.values().map(|(_, e)| e.body.len() as u64).sum();
            while m.entries.len() > MAX_MEMORY_ENTRIES
                || (total > self.max_bytes && m.entries.len() > 1)
            {
                let Some(oldest) = m
                    .entries
                    .iter()
                    .min_by_key(|(_, (s, _))| *s)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                if let Some((_, e)) = m.entries.remove(&oldest) {
                    total = total.saturating_sub(e.body.len() as u64);
                }
            }
        }
    }

    /// Keeps `entry` for `key`; with a directory and `persist`, writes its file too. After a
    /// 304 the fetch passes `persist: false`: the persisted body is still right, and rewriting
    /// (and syncing) a whole registry to renew its freshness would cost more than the one
    /// conditional request a cold start then makes. Write errors are logged: the entry is kept
    /// in memory either way.
    pub(crate) async fn store(&self, key: Key, entry: Arc<Entry>, persist: bool) {
        self.insert_memory(key.clone(), Arc::clone(&entry));
        let Some(dir) = self.dir.clone().filter(|_| persist) else {
            return;
        };
        let max = self.max_bytes;
        let _guard = self.write_lock.lock().await;
        let done = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let bytes = encode_file(&key, &entry);
            let path = dir.join(key.file_name());
            if bytes.len() as u64 > max {
                // Larger than the whole cap: not persisted (and no older copy kept).
                return match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                };
            }
            crate::cache::write_atomic(&path, &bytes)?;
            enforce_cap(&dir, max)
        })
        .await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot persist a fetched body"),
            Err(e) => tracing::warn!(error = %e, "body-cache write task failed"),
        }
    }

    /// Drops the entry of `key` and its persisted copy (after a `no-store` answer).
    pub(crate) async fn remove(&self, key: &Key) {
        if let Ok(mut m) = self.memory.lock() {
            m.entries.remove(key);
        }
        let Some(dir) = self.dir.clone() else {
            return;
        };
        let path = dir.join(key.file_name());
        let _guard = self.write_lock.lock().await;
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
    }
}
