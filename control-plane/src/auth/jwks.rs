//! The key set of `SOURCEGATE_JWKS_URL`: fetched at start, cached, fetched again for an
//! unknown `kid` or stale keys at most once per [`JWKS_REFETCH_INTERVAL`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::time::Instant;

use super::claims::AuthError;

/// Minimum interval between two key-set fetches triggered by requests (unknown `kid`, stale keys).
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// Age after which cached keys are fetched again on the next asymmetric token, so a key the issuer
/// revoked stops working (Supabase's own key-set cache lasts 10 minutes).
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(600);

/// Largest key-set document accepted, bytes (Supabase's holds a few keys, about 1 KB).
pub const JWKS_MAX_BYTES: usize = 64 * 1024;

/// Connect timeout of a key-set fetch.
pub const JWKS_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Total timeout of a key-set fetch (connect, headers and body).
pub const JWKS_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the key set could not be fetched (logged; requests see [`AuthError::KeySetUnavailable`]).
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
    /// Connecting, sending or reading failed (including the timeouts).
    #[error("fetching the key set: {0}")]
    Http(#[from] reqwest::Error),
    /// The issuer answered with a non-success status.
    #[error("the key set URL answered HTTP {0}")]
    Status(u16),
    /// The document exceeds [`JWKS_MAX_BYTES`].
    #[error("the key set is larger than {JWKS_MAX_BYTES} bytes")]
    TooLarge,
    /// The document is not a JSON Web Key Set (`{"keys": [...]}`).
    #[error("the key set is not a JWKS document: {0}")]
    Parse(String),
}

/// A verification key of the set, with the one algorithm it verifies.
pub(super) struct JwksKey {
    pub(super) alg: Algorithm,
    pub(super) key: DecodingKey,
}

/// The keys as of the latest fetch.
#[derive(Default)]
pub(super) struct KeySet {
    keys: HashMap<String, Arc<JwksKey>>,
    /// When the keys were fetched; `None`: never.
    fetched_at: Option<Instant>,
    /// Whether the latest fetch failed.
    failed: bool,
}

/// The key set of one URL, fetched and cached (see the module docs for the refresh rules).
pub(super) struct JwksCache {
    pub(super) url: url::Url,
    http: Result<reqwest::Client, String>,
    /// Read on every asymmetric token; a std lock, never held across an await.
    keys: RwLock<Arc<KeySet>>,
    /// When a request last triggered a fetch. A tokio mutex: held across the fetch, so
    /// concurrent requests with the same new `kid` cause one fetch, not one each.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
}

impl JwksCache {
    pub(super) fn new(url: url::Url) -> JwksCache {
        let http = reqwest::Client::builder()
            .connect_timeout(JWKS_CONNECT_TIMEOUT)
            .timeout(JWKS_TIMEOUT)
            .build()
            .map_err(|e| e.to_string());
        JwksCache {
            url,
            http,
            keys: RwLock::new(Arc::new(KeySet::default())),
            last_refetch: tokio::sync::Mutex::new(None),
        }
    }

    pub(super) fn snapshot(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub(super) fn store(&self, set: KeySet) {
        let set = Arc::new(set);
        match self.keys.write() {
            Ok(mut g) => *g = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }

    /// The key named `kid`, fetching the set again when it is unknown or stale and the last
    /// request-triggered fetch is at least [`JWKS_REFETCH_INTERVAL`] old.
    pub(super) async fn key(&self, kid: &str) -> Result<Arc<JwksKey>, AuthError> {
        let fresh = |set: &KeySet, now: Instant| {
            set.fetched_at
                .is_some_and(|t| now.duration_since(t) < JWKS_MAX_AGE)
        };
        let set = self.snapshot();
        if let Some(k) = set.keys.get(kid)
            && fresh(&set, Instant::now())
        {
            return Ok(Arc::clone(k));
        }
        {
            let mut last = self.last_refetch.lock().await;
            let now = Instant::now();
            let set = self.snapshot();
            // Another request may have fetched the set while this one waited.
            if let Some(k) = set.keys.get(kid)
                && fresh(&set, now)
            {
                return Ok(Arc::clone(k));
            }
            if last.is_none_or(|t| now.duration_since(t) >= JWKS_REFETCH_INTERVAL) {
                *last = Some(now);
                // Logged by `refresh`; the lookup below tells the caller.
                let _ = self.refresh().await;
            }
        }
        let set = self.snapshot();
        match set.keys.get(kid) {
            Some(k) => Ok(Arc::clone(k)),
            None if set.failed => Err(AuthError::KeySetUnavailable),
            None => Err(AuthError::UnknownKey),
        }
    }

    /// Fetches the set and stores it; on failure keeps the previous keys and marks the failure.
    pub(super) async fn refresh(&self) -> Result<(), JwksError> {
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(url = %self.url, keys = keys.len(), "fetched the JWT key set");
                self.store(KeySet {
                    keys,
                    fetched_at: Some(Instant::now()),
                    failed: false,
                });
                Ok(())
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "cannot fetch the JWT key set");
                let old = self.snapshot();
                self.store(KeySet {
                    keys: old.keys.clone(),
                    fetched_at: old.fetched_at,
                    failed: true,
                });
                Err(e)
            }
        }
    }

    #[tracing::instrument(name = "jwks_fetch", skip_all, fields(url = %self.url))]
    pub(super) async fn fetch(&self) -> Result<HashMap<String, Arc<JwksKey>>, JwksError> {
        let http = self
            .http
            .as_ref()
            .map_err(|e| JwksError::Client(e.clone()))?;
        let mut resp = http
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await?;
        if !resp.status().is_success() {
            return Err(JwksError::Status(resp.status().as_u16()));
        }
        if resp
            .content_length()
            .is_some_and(|l| l > JWKS_MAX_BYTES as u64)
        {
            return Err(JwksError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            if body.len() + chunk.len() > JWKS_MAX_BYTES {
                return Err(JwksError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body)
    }
}

/// The usable keys of a JWKS document, by `kid`: RSA keys (RS256) and P-256 EC keys (ES256),
/// for signatures. Keys without `kid`, of another type or curve, for encryption, or whose `alg`
/// names another algorithm are skipped (a set may hold keys this service does not use).
pub(super) fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Arc<JwksKey>>, JwksError> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawSet = serde_json::from_slice(body).map_err(|e| JwksError::Parse(e.to_string()))?;
    let mut out = HashMap::new();
    for value in raw.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            tracing::debug!("skipping a key of an unsupported type");
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let (alg, key_alg) = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                (Algorithm::ES256, KeyAlgorithm::ES256)
            }
            _ => continue,
        };
        if jwk.common.key_algorithm.is_some_and(|a| a != key_alg)
            || jwk
                .common
                .public_key_use
                .as_ref()
                .is_some_and(|u| *u != PublicKeyUse::Signature)
        {
            continue;
        }
        match DecodingKey::from_jwk(&jwk) {
            Ok(key) => {
                out.insert(kid, Arc::new(JwksKey { alg, key }));
            }
            Err(e) => tracing::debug!(%kid, error = %e, "skipping an unreadable key"),
        }
    }
    Ok(out)
}
