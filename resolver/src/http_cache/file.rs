//! The persisted copy of a cache entry: one file per (origin, URL) in the body-cache
//! directory. The file is the line `sourcegate-body 1`, a JSON header (the key, status,
//! response time, headers, body length and base64 SHA-256 of the body), a newline, then the
//! body bytes. A file is read back only if its key is the one looked up and its body matches
//! the length and digest; anything else is [`LoadError::Damaged`].

use std::path::Path;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Entry, Key, intern};
use crate::config::OriginKind;

/// Files of the body cache end with this.
pub(super) const FILE_SUFFIX: &str = ".body";
/// First line of a body-cache file.
pub(super) const MAGIC: &[u8] = b"sourcegate-body 1\n";

/// The header of a persisted entry (one JSON line, then the body bytes).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileMeta {
    origin: OriginKind,
    url: String,
    status: u16,
    /// When the response was received, ms since the Unix epoch.
    response_time_ms: u64,
    headers: Vec<(String, String)>,
    body_len: u64,
    /// Base64 SHA-256 of the body.
    body_sha256: String,
}

fn sha256_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// Why a persisted file was not used.
#[derive(Debug)]
pub(super) enum LoadError {
    /// No file for this key.
    Absent,
    /// A file that cannot be read back (the reason, for the log).
    Damaged(String),
}

pub(super) fn encode_file(key: &Key, e: &Entry) -> Vec<u8> {
    let meta = FileMeta {
        origin: key.origin,
        url: key.url.clone(),
        status: e.status,
        response_time_ms: e
            .response_time
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0),
        headers: e
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body_len: e.body.len() as u64,
        body_sha256: sha256_b64(&e.body),
    };
    let mut out = Vec::with_capacity(e.body.len() + 1024);
    out.extend_from_slice(MAGIC);
    // Serialising a struct of strings and numbers cannot fail.
    let _ = serde_json::to_writer(&mut out, &meta);
    out.push(b'\n');
    out.extend_from_slice(&e.body);
    out
}

pub(super) fn decode_file(key: &Key, bytes: Vec<u8>) -> Result<Entry, String> {
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or("not a body-cache file (bad first line)")?;
    let nl = rest
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("no header line")?;
    let meta: FileMeta =
        serde_json::from_slice(&rest[..nl]).map_err(|e| format!("bad header: {e}"))?;
    if meta.origin != key.origin || meta.url != key.url {
        return Err(format!(
            "file holds {} {}, not this key",
            meta.origin, meta.url
        ));
    }
    let body = &rest[nl + 1..];
    if body.len() as u64 != meta.body_len || sha256_b64(body) != meta.body_sha256 {
        return Err("body does not match its length or SHA-256".into());
    }
    let mut headers = HeaderMap::new();
    for (k, v) in &meta.headers {
        let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v)) else {
            return Err(format!("bad header {k}"));
        };
        headers.append(k, v);
    }
    let response_time = SystemTime::UNIX_EPOCH + Duration::from_millis(meta.response_time_ms);
    let body = intern(Bytes::copy_from_slice(body));
    Entry::from_response(&key.url, meta.status, headers, body, response_time)
        .ok_or_else(|| "stored response is not storable".into())
}

/// Removes the oldest body files until the directory holds at most `max_bytes`.
pub(super) fn enforce_cap(dir: &Path, max_bytes: u64) -> std::io::Result<()> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if !e.file_name().to_string_lossy().ends_with(FILE_SUFFIX) {
            continue;
        }
        let m = e.metadata()?;
        files.push((
            m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            m.len(),
            e.path(),
        ));
    }
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    files.sort_by_key(|f| f.0);
    for (_, len, path) in files {
        if total <= max_bytes {
            break;
        }
        std::fs::remove_file(&path)?;
        total = total.saturating_sub(len);
    }
    Ok(())
}
