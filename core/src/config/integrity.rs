//! The document's optional `integrity` object: for a registry path, the SHA-256 and the size
//! (bytes) of the one body an origin may serve for it (issue 12, item 3).
//!
//! ```json
//! "integrity": {
//!   "community-plugins.json": {"sha256": "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "size": 0}
//! }
//! ```
//!
//! - **Path**: as given to `sourcegate::Resolver::fetch`, one leading `/` ignored (the same
//!   normalisation as [`crate::routing::url_for`]: `/a.json` and `a.json` name one path, and a
//!   document holding both is refused). Non-empty, at most
//!   [`limits::MAX_INTEGRITY_PATH_BYTES`] bytes, no control or bidirectional formatting
//!   characters, not a network-path reference (`//…`).
//! - **`sha256`** (required): W3C Subresource Integrity's form of a SHA-256 digest
//!   (<https://www.w3.org/TR/SRI/#the-integrity-attribute>): `sha256-` then the standard
//!   base64 (RFC 4648 §4) of the 32-byte digest, padded, canonical (44 characters). Only
//!   `sha256` is accepted, in lower case, and one digest per path.
//! - **`size`** (required): the body's length in bytes after content decoding (what
//!   `sourcegate::FetchResponse::body` holds), an integer 0..=[`limits::MAX_INTEGRITY_SIZE`]
//!   (the default body size cap, 32 MiB).
//! - At most [`limits::MAX_INTEGRITY_ENTRIES`] paths. Unknown fields of an entry are ignored,
//!   as for the document; `"integrity": null` is no `integrity` at all.
//!
//! Entries are checked in `jsonb`'s key order (shorter keys first, then bytewise), the order
//! in which the SQL `app_private.validate_config` walks them, so both name the same field
//! first: `integrity` (the object, a path, an entry that is not an object), `integrity.sha256`
//! or `integrity.size`.
//!
//! `sourcegate::Resolver::fetch` enforces the entry of the path it fetches: a body whose size or
//! digest differs is an origin failure (counted in `integrityFailures`), and a kept body that
//! does not match the current document's entry is never served.

use std::collections::BTreeMap;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::validate::{invalid, is_forbidden_char, member, opt_integer};
use super::{ConfigError, limits};

/// The digest and size a body served for one path must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IntegrityEntry {
    /// SHA-256 of the body (after content decoding).
    pub sha256: [u8; 32],
    /// Length of the body after content decoding, bytes.
    pub size: u64,
}

/// How a body differs from its [`IntegrityEntry`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrityError {
    /// The length differs (checked first: it costs no hashing).
    #[error("integrity: the body is {actual} bytes, the document's entry says {expected}")]
    Size {
        /// The entry's `size`, bytes.
        expected: u64,
        /// The body's length, bytes.
        actual: u64,
    },
    /// The SHA-256 differs.
    #[error("integrity: the body's digest is {actual}, the document's entry says {expected}")]
    Digest {
        /// The entry's `sha256`, in its `sha256-…` form.
        expected: String,
        /// The body's digest, in the same form.
        actual: String,
    },
}

/// The `sha256-<base64>` form of a digest (W3C Subresource Integrity).
fn sri(digest: &[u8; 32]) -> String {
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// SHA-256 of `body` (the digest an [`IntegrityEntry`] names), for `sourcegate`'s fetch.
pub fn sha256(body: &[u8]) -> [u8; 32] {
    Sha256::digest(body).into()
}

impl IntegrityEntry {
    /// The entry `body` matches: its SHA-256 and its length.
    ///
    /// # Examples
    /// ```
    /// use sourcegate_core::config::IntegrityEntry;
    /// let e = IntegrityEntry::of(b"");
    /// assert_eq!(e.sri(), "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    /// assert!(e.check(b"").is_ok());
    /// assert!(e.check(b"[]").is_err());
    /// ```
    pub fn of(body: &[u8]) -> IntegrityEntry {
        IntegrityEntry {
            sha256: sha256(body),
            size: body.len() as u64,
        }
    }

    /// The digest as the document writes it: `sha256-` and the padded standard base64.
    pub fn sri(&self) -> String {
        sri(&self.sha256)
    }

    /// Checks `body` against this entry.
    ///
    /// # Errors
    /// [`IntegrityError::Size`] or [`IntegrityError::Digest`].
    pub fn check(&self, body: &[u8]) -> Result<(), IntegrityError> {
        self.check_with(body.len(), || sha256(body))
    }

    /// As [`Self::check`], for a body of `len` bytes whose digest `digest` computes (called
    /// only when the length matches; `sourcegate` passes its cached digest).
    #[doc(hidden)]
    pub fn check_with(
        &self,
        len: usize,
        digest: impl FnOnce() -> [u8; 32],
    ) -> Result<(), IntegrityError> {
        let actual = len as u64;
        if actual != self.size {
            return Err(IntegrityError::Size {
                expected: self.size,
                actual,
            });
        }
        let d = digest();
        if d != self.sha256 {
            return Err(IntegrityError::Digest {
                expected: self.sri(),
                actual: sri(&d),
            });
        }
        Ok(())
    }
}

/// The `integrity` object of a document: normalised path (no leading `/`) → entry. Empty when
/// the document has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Integrity {
    entries: BTreeMap<String, IntegrityEntry>,
}

/// `path` without one leading `/`, as [`crate::routing::url_for`] joins it.
fn normalise(path: &str) -> &str {
    path.strip_prefix('/').unwrap_or(path)
}

impl Integrity {
    /// Whether no path has an entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of paths with an entry.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry for `path` as given to `sourcegate::Resolver::fetch` (one leading `/` ignored).
    pub fn get(&self, path: &str) -> Option<&IntegrityEntry> {
        if self.entries.is_empty() {
            return None;
        }
        self.entries.get(normalise(path))
    }

    /// The entries, by normalised path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &IntegrityEntry)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The object as the document writes it (`{path: {"sha256": "sha256-…", "size": n}}`),
    /// paths normalised.
    pub fn to_value(&self) -> serde_json::Value {
        self.entries
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    serde_json::json!({"sha256": v.sri(), "size": v.size}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// Decodes a `sha256-…` value; `None` unless it is exactly the canonical padded form of 32 bytes.
fn parse_sri(s: &str) -> Option<[u8; 32]> {
    let b64 = s.strip_prefix("sha256-")?;
    // STANDARD requires the padding and refuses non-zero trailing bits: one text per digest,
    // as the SQL's pattern `[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=`.
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    bytes.try_into().ok()
}

const FIELD: &str = "integrity";
const SHA_FIELD: &str = "integrity.sha256";
const SIZE_FIELD: &str = "integrity.size";

/// Shows a path in a message: at most 64 characters of it.
fn shown(path: &str) -> String {
    let mut s: String = path.chars().take(64).collect();
    if s.len() < path.len() {
        s.push('…');
    }
    s.escape_debug().to_string()
}

/// Parses and checks the document's `integrity` member (see the module docs), in the SQL's order.
pub(super) fn parse(
    obj: &serde_json::Map<String, serde_json::Value>,
) -> Result<Integrity, ConfigError> {
    let map = match member(obj, FIELD) {
        None => return Ok(Integrity::default()),
        Some(serde_json::Value::Object(m)) => m,
        Some(_) => return Err(invalid(FIELD, "must be an object")),
    };
    if map.len() > limits::MAX_INTEGRITY_ENTRIES {
        return Err(invalid(
            FIELD,
            format!(
                "{} paths, more than {}",
                map.len(),
                limits::MAX_INTEGRITY_ENTRIES
            ),
        ));
    }
    // jsonb's key order: length first, then the bytes.
    let mut keys: Vec<(&String, &serde_json::Value)> = map.iter().collect();
    keys.sort_by(|a, b| (a.0.len(), a.0.as_bytes()).cmp(&(b.0.len(), b.0.as_bytes())));
    let mut entries = BTreeMap::new();
    for (path, value) in keys {
        if path.len() > limits::MAX_INTEGRITY_PATH_BYTES {
            return Err(invalid(
                FIELD,
                format!(
                    "the path `{}` is longer than {} bytes",
                    shown(path),
                    limits::MAX_INTEGRITY_PATH_BYTES
                ),
            ));
        }
        if path.chars().any(is_forbidden_char) {
            return Err(invalid(
                FIELD,
                format!(
                    "the path `{}` holds control or bidirectional formatting characters",
                    shown(path)
                ),
            ));
        }
        let norm = normalise(path);
        if norm.is_empty() {
            return Err(invalid(FIELD, "a path is empty"));
        }
        if norm.starts_with('/') {
            return Err(invalid(
                FIELD,
                format!(
                    "the path `{}` is a network-path reference, not a path",
                    shown(path)
                ),
            ));
        }
        if entries.contains_key(norm) {
            return Err(invalid(
                FIELD,
                format!(
                    "`{}` and `/{}` are the same path (one leading `/` is ignored)",
                    shown(norm),
                    shown(norm)
                ),
            ));
        }
        let serde_json::Value::Object(entry) = value else {
            return Err(invalid(
                FIELD,
                format!(
                    "the entry for `{}` must be an object {{\"sha256\": \"sha256-…\", \"size\": bytes}}",
                    shown(path)
                ),
            ));
        };
        let sha = match member(entry, "sha256") {
            None => {
                return Err(ConfigError::Missing {
                    field: SHA_FIELD,
                    why: "every integrity entry needs the body's digest, `sha256-` and its base64",
                });
            }
            Some(serde_json::Value::String(s)) => parse_sri(s).ok_or_else(|| {
                invalid(
                    SHA_FIELD,
                    format!(
                        "the entry for `{}` must be `sha256-` followed by the padded standard base64 of a 32-byte digest (W3C Subresource Integrity)",
                        shown(path)
                    ),
                )
            })?,
            Some(_) => return Err(invalid(SHA_FIELD, "must be a string")),
        };
        if member(entry, "size").is_none() {
            return Err(ConfigError::Missing {
                field: SIZE_FIELD,
                why: "every integrity entry needs the body's length in bytes",
            });
        }
        let size =
            opt_integer(entry, "size", SIZE_FIELD, 0, limits::MAX_INTEGRITY_SIZE)?.unwrap_or(0);
        entries.insert(norm.to_owned(), IntegrityEntry { sha256: sha, size });
    }
    Ok(Integrity { entries })
}
