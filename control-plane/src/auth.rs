//! Supabase-compatible JWTs: verification ([`Verifier`]), minting, and the per-request role.
//!
//! Rules follow PostgREST (`docs/references/auth.rst`): the token's `role` claim names the
//! database role (`anon` when there is no token or no `role` claim); it must be one of
//! [`Role`]'s allow-list.
//!
//! Which tokens are accepted:
//! - **HS256**, checked against the shared secret (Supabase's JWT secret), when one is set;
//! - **ES256** (P-256) and **RS256**, checked against the key set published at
//!   `SOURCEGATE_JWKS_URL` (Supabase's asymmetric signing keys, at
//!   `https://<project>.supabase.co/auth/v1/.well-known/jwks.json`), the key chosen by the
//!   token's `kid`. An HS256 token is never checked against a key of the set and an asymmetric
//!   token never against the secret (no algorithm confusion); `alg: none` and every other
//!   algorithm are refused.
//! - Time claims (RFC 7519 §4.1.4–4.1.6), each with a leeway for clock skew (default 30 s):
//!   `exp` is required and must be in the future; `nbf` and `iat`, when present, must not be in
//!   the future. `authenticated` tokens must also carry `iat` and live no longer than the
//!   maximum lifetime (default 24 h). `anon` and `service_role` tokens are exempt from the
//!   lifetime rule: Supabase issues its legacy anon and service keys as ten-year project keys.
//!
//! The key set is fetched once at start (a failure does not prevent start), kept, and fetched
//! again when a token names an unknown `kid` or the keys are older than [`JWKS_MAX_AGE`], at most
//! once per [`JWKS_REFETCH_INTERVAL`] (so forged `kid`s cannot make the service hammer the
//! issuer). While the set cannot be fetched, tokens signed by keys already cached keep working
//! and others are refused with 401 `unknown signing key: the key set could not be fetched`.
//!
//! Refusals ([`AuthError`]) say what is wrong in the product's words, never the JWT library's.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use uuid::Uuid;

use crate::settings::Settings;

/// Default tolerated clock skew on `exp`, `nbf` and `iat`, seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;

/// Default maximum lifetime (`exp - iat`) of an `authenticated` token, seconds (24 h; Supabase
/// issues 1 h access tokens by default).
pub const DEFAULT_MAX_LIFETIME_SECS: u64 = 24 * 3600;

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

/// A database role a request may run as (the allow-list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// No token: public read only.
    Anon,
    /// A signed-in user; admin rights come from `app_metadata.role = "admin"` or the admins table.
    Authenticated,
    /// Supabase's service role: bypasses RLS and is always an admin.
    ServiceRole,
}

impl Role {
    /// The PostgreSQL role name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Anon => "anon",
            Role::Authenticated => "authenticated",
            Role::ServiceRole => "service_role",
        }
    }

    /// Parses a `role` claim; `None` for anything outside the allow-list.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "anon" => Some(Role::Anon),
            "authenticated" => Some(Role::Authenticated),
            "service_role" => Some(Role::ServiceRole),
            _ => None,
        }
    }
}

/// Supabase-style JWT claims (the subset Sourcegate reads; other claims are kept in `extra`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// The user id (a UUID for Supabase users); absent for service tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Database role: `anon`, `authenticated` or `service_role`.
    pub role: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued-at, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Set by the service role only; `{"role":"admin"}` marks an admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_metadata: Option<serde_json::Value>,
    /// Any other claim (e.g. `aud`, `user_metadata`), kept verbatim.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Claims {
    /// Claims for `role`, expiring `ttl_secs` seconds from now, with `sub` and optionally
    /// `app_metadata.role = "admin"`.
    pub fn new(role: Role, sub: Option<Uuid>, admin: bool, ttl_secs: u64) -> Claims {
        let now = now_secs();
        Claims {
            sub: sub.map(|u| u.to_string()),
            role: role.as_str().to_owned(),
            exp: now.saturating_add(ttl_secs),
            iat: Some(now),
            app_metadata: admin.then(|| serde_json::json!({ "role": "admin" })),
            extra: serde_json::Map::new(),
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn now_unix() -> i64 {
    i64::try_from(now_secs()).unwrap_or(i64::MAX)
}

/// Why a token was refused. [`AuthError::pgrst_code`] gives PostgREST's 401 code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    /// Not three base64url parts with a JSON header and payload (`PGRST301`).
    #[error("malformed token")]
    Malformed,
    /// `alg` is `none`, or an algorithm this deployment does not verify (`PGRST301`): HS256
    /// needs the secret, ES256/RS256 the key set.
    #[error("unsupported algorithm")]
    UnsupportedAlgorithm,
    /// The signature does not match the secret or the key named by `kid` (`PGRST301`).
    #[error("token signed with another key")]
    WrongKey,
    /// An asymmetric token without a `kid`, or one the key set does not hold (`PGRST301`).
    #[error("unknown signing key")]
    UnknownKey,
    /// An unknown `kid` while the latest key-set fetch failed (`PGRST301`).
    #[error("unknown signing key: the key set could not be fetched")]
    KeySetUnavailable,
    /// `exp` is past, beyond the leeway (`PGRST303`).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway (`PGRST303`).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is in the future, beyond the leeway (`PGRST303`).
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `exp - iat` exceeds the maximum lifetime of an `authenticated` token (`PGRST303`).
    #[error("token lifetime exceeds the maximum")]
    LifetimeTooLong,
    /// An `authenticated` token without `iat` while a maximum lifetime is set (`PGRST303`).
    #[error("token has no issue time (iat)")]
    MissingIssuedAt,
    /// Signature fine but claims unusable: no `exp`, a non-numeric time claim, a role outside
    /// the allow-list, a non-UUID `sub` (`PGRST303`).
    #[error("{0}")]
    Claims(String),
    /// A token could not be signed ([`mint_token`] only).
    #[error("cannot sign token: {0}")]
    Signing(String),
}

impl AuthError {
    /// PostgREST's error code for this failure: `PGRST301` when the token cannot be decoded or
    /// its signature checked, `PGRST303` when its claims are refused.
    pub fn pgrst_code(&self) -> &'static str {
        match self {
            AuthError::Malformed
            | AuthError::UnsupportedAlgorithm
            | AuthError::WrongKey
            | AuthError::UnknownKey
            | AuthError::KeySetUnavailable
            | AuthError::Signing(_) => "PGRST301",
            AuthError::Expired
            | AuthError::NotYetValid
            | AuthError::IssuedInFuture
            | AuthError::LifetimeTooLong
            | AuthError::MissingIssuedAt
            | AuthError::Claims(_) => "PGRST303",
        }
    }
}

/// Signs `claims` with HS256.
///
/// # Errors
/// [`AuthError::Signing`] if the claims cannot be encoded.
///
/// # Examples
/// ```
/// use sourcegate_control_plane::auth::{mint_token, verify_token, Claims, Role};
/// let claims = Claims::new(Role::ServiceRole, None, false, 3600);
/// let token = mint_token(b"secret-at-least-32-bytes-long!!!", &claims).unwrap();
/// assert_eq!(verify_token(b"secret-at-least-32-bytes-long!!!", &token).unwrap().role, Role::ServiceRole);
/// ```
pub fn mint_token(secret: &[u8], claims: &Claims) -> Result<String, AuthError> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| AuthError::Signing(e.to_string()))
}

/// Who a request runs as, after verification.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthContext {
    /// Database role for `SET LOCAL ROLE`.
    pub role: Role,
    /// The verified claims as JSON text, for `request.jwt.claims` (`{"role":"anon"}` without a token).
    pub claims_json: String,
    /// The `sub` claim, when present.
    pub sub: Option<Uuid>,
    /// Whether the request carried a (valid) token.
    pub has_token: bool,
}

impl AuthContext {
    /// Whether the request runs as a role other than `anon` (PostgREST answers insufficient
    /// privilege with 403 then, 401 otherwise, e.g. for Supabase's anon key).
    pub fn is_authenticated(&self) -> bool {
        self.role != Role::Anon
    }

    /// The anonymous context (no token).
    pub fn anon() -> AuthContext {
        AuthContext {
            role: Role::Anon,
            claims_json: r#"{"role":"anon"}"#.to_owned(),
            sub: None,
            has_token: false,
        }
    }
}

/// Verifies tokens: the HS256 secret, the key set of `SOURCEGATE_JWKS_URL`, the time rules.
///
/// Built by [`Verifier::new`] and the `with_*` methods, or [`Verifier::from_settings`]; held by
/// [`crate::AppState`]. Cheap to share behind an `Arc`; the key-set cache is internal.
///
/// # Examples
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use sourcegate_control_plane::auth::{mint_token, Claims, Role, Verifier};
/// let secret = b"secret-at-least-32-bytes-long!!!";
/// let verifier = Verifier::new(Some(secret)).with_max_lifetime_secs(3600);
/// let day = mint_token(secret, &Claims::new(Role::Authenticated, None, false, 86400)).unwrap();
/// let err = verifier.verify(&day).await.unwrap_err();
/// assert_eq!(err.to_string(), "token lifetime exceeds the maximum");
/// assert_eq!(err.pgrst_code(), "PGRST303");
/// # }
/// ```
pub struct Verifier {
    /// HS256 key; `None` (no or empty secret) refuses HS256 tokens. An empty HMAC secret would
    /// let anyone sign, so it counts as no secret.
    hs256: Option<DecodingKey>,
    jwks: Option<JwksCache>,
    leeway_secs: u64,
    /// 0: no maximum.
    max_lifetime_secs: u64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("hs256", &self.hs256.is_some())
            .field("jwks_url", &self.jwks.as_ref().map(|j| j.url.as_str()))
            .field("leeway_secs", &self.leeway_secs)
            .field("max_lifetime_secs", &self.max_lifetime_secs)
            .finish()
    }
}

impl Verifier {
    /// A verifier of HS256 tokens signed with `secret` (`None` or empty: HS256 refused).
    ///
    /// Defaults:
    /// - leeway [`DEFAULT_LEEWAY_SECS`] (30 s);
    /// - maximum lifetime [`DEFAULT_MAX_LIFETIME_SECS`] (24 h) for `authenticated` tokens;
    /// - no key set (ES256/RS256 refused).
    pub fn new(secret: Option<&[u8]>) -> Verifier {
        Verifier {
            hs256: secret
                .filter(|s| !s.is_empty())
                .map(DecodingKey::from_secret),
            jwks: None,
            leeway_secs: DEFAULT_LEEWAY_SECS,
            max_lifetime_secs: DEFAULT_MAX_LIFETIME_SECS,
        }
    }

    /// Also accept ES256 and RS256 tokens signed by a key of the set at `url` (fetched lazily;
    /// call [`Verifier::prefetch`] to fetch it now).
    pub fn with_jwks(mut self, url: url::Url) -> Verifier {
        self.jwks = Some(JwksCache::new(url));
        self
    }

    /// Tolerated clock skew on `exp`, `nbf` and `iat`, seconds.
    pub fn with_leeway_secs(mut self, secs: u64) -> Verifier {
        self.leeway_secs = secs;
        self
    }

    /// Maximum `exp - iat` of an `authenticated` token, seconds; 0: no maximum.
    pub fn with_max_lifetime_secs(mut self, secs: u64) -> Verifier {
        self.max_lifetime_secs = secs;
        self
    }

    /// The verifier `settings` describe (`jwks_url`, `jwt_leeway_secs`,
    /// `jwt_max_lifetime_secs`), with `secret` for HS256 (`None` or empty: HS256 refused).
    pub fn from_settings(secret: Option<&[u8]>, settings: &Settings) -> Verifier {
        let v = Verifier::new(secret)
            .with_leeway_secs(settings.jwt_leeway_secs)
            .with_max_lifetime_secs(settings.jwt_max_lifetime_secs);
        match &settings.jwks_url {
            Some(url) => v.with_jwks(url.clone()),
            None => v,
        }
    }

    /// Whether HS256 tokens can be verified (a non-empty secret is set).
    pub fn has_secret(&self) -> bool {
        self.hs256.is_some()
    }

    /// Whether ES256/RS256 tokens can be verified (a key-set URL is set).
    pub fn has_jwks(&self) -> bool {
        self.jwks.is_some()
    }

    /// Fetches the key set now (at start). A failure is logged and returned, never fatal: the
    /// set is fetched again when a token needs it.
    ///
    /// # Errors
    /// [`JwksError`] when the set cannot be fetched or parsed; `Ok` without a key-set URL.
    pub async fn prefetch(&self) -> Result<(), JwksError> {
        match &self.jwks {
            Some(j) => j.refresh().await,
            None => Ok(()),
        }
    }

    /// Verifies `token` and returns the request's context.
    ///
    /// # Errors
    /// The [`AuthError`] naming the first rule the token breaks.
    pub async fn verify(&self, token: &str) -> Result<AuthContext, AuthError> {
        let (alg, kid) = parse_header(token)?;
        let claims = match alg {
            Algorithm::HS256 => {
                let key = self.hs256.as_ref().ok_or(AuthError::UnsupportedAlgorithm)?;
                decode_claims(token, alg, key)?
            }
            Algorithm::ES256 | Algorithm::RS256 => {
                let jwks = self.jwks.as_ref().ok_or(AuthError::UnsupportedAlgorithm)?;
                let kid = kid.ok_or(AuthError::UnknownKey)?;
                let key = jwks.key(&kid).await?;
                if key.alg != alg {
                    // The `kid` names a key of the other family: it cannot have signed this.
                    return Err(AuthError::WrongKey);
                }
                decode_claims(token, alg, &key.key)?
            }
            _ => return Err(AuthError::UnsupportedAlgorithm),
        };
        self.check_claims(claims, now_unix())
    }

    /// Verifies the request's bearer token, if any (native API: no token means anon).
    ///
    /// # Errors
    /// See [`Verifier::verify`].
    pub async fn from_headers(&self, headers: &HeaderMap) -> Result<AuthContext, AuthError> {
        match bearer(headers) {
            Some(t) => self.verify(t).await,
            None => Ok(AuthContext::anon()),
        }
    }

    /// The claim rules (time, role, `sub`, lifetime) at `now` (seconds since the Unix epoch).
    fn check_claims(
        &self,
        claims: serde_json::Map<String, serde_json::Value>,
        now: i64,
    ) -> Result<AuthContext, AuthError> {
        let leeway = i64::try_from(self.leeway_secs).unwrap_or(i64::MAX);
        let exp = time_claim(&claims, "exp")?
            .ok_or_else(|| AuthError::Claims("token has no expiry (exp)".into()))?;
        if now >= exp.saturating_add(leeway) {
            return Err(AuthError::Expired);
        }
        if time_claim(&claims, "nbf")?.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(AuthError::NotYetValid);
        }
        let iat = time_claim(&claims, "iat")?;
        if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
            return Err(AuthError::IssuedInFuture);
        }
        let role = match claims.get("role") {
            None | Some(serde_json::Value::Null) => Role::Anon,
            Some(serde_json::Value::String(r)) => Role::parse(r)
                .ok_or_else(|| AuthError::Claims(format!("role \"{r}\" is not allowed")))?,
            Some(_) => return Err(AuthError::Claims("role claim must be a string".into())),
        };
        if role == Role::Authenticated && self.max_lifetime_secs > 0 {
            let max = i64::try_from(self.max_lifetime_secs).unwrap_or(i64::MAX);
            let iat = iat.ok_or(AuthError::MissingIssuedAt)?;
            if exp.saturating_sub(iat) > max {
                return Err(AuthError::LifetimeTooLong);
            }
        }
        let sub = match claims.get("sub") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(
                Uuid::parse_str(s)
                    .map_err(|_| AuthError::Claims("sub claim must be a UUID".into()))?,
            ),
            Some(_) => return Err(AuthError::Claims("sub claim must be a string".into())),
        };
        Ok(AuthContext {
            role,
            claims_json: serde_json::Value::Object(claims).to_string(),
            sub,
            has_token: true,
        })
    }
}

/// The `alg` and `kid` of a compact JWS, read before any key is chosen (`alg: none` must be
/// refused as an algorithm, not as a parse failure, so the header is parsed here).
fn parse_header(token: &str) -> Result<(Algorithm, Option<String>), AuthError> {
    #[derive(Deserialize)]
    struct RawHeader {
        alg: String,
        #[serde(default)]
        kid: Option<String>,
    }
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::Malformed)?;
    let raw: RawHeader = serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)?;
    let alg = match raw.alg.as_str() {
        "HS256" => Algorithm::HS256,
        "ES256" => Algorithm::ES256,
        "RS256" => Algorithm::RS256,
        _ => return Err(AuthError::UnsupportedAlgorithm),
    };
    Ok((alg, raw.kid))
}

/// Checks the signature with `key` (for `alg` only) and returns the payload; no claim rule here.
fn decode_claims(
    token: &str,
    alg: Algorithm,
    key: &DecodingKey,
) -> Result<serde_json::Map<String, serde_json::Value>, AuthError> {
    use jsonwebtoken::errors::ErrorKind;
    let mut validation = Validation::new(alg);
    validation.algorithms = vec![alg];
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, key, &validation)
        .map(|d| d.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat => AuthError::WrongKey,
            _ => AuthError::Malformed,
        })
}

/// A NumericDate claim (RFC 7519 §2: seconds, possibly fractional), floored to whole seconds.
fn time_claim(
    claims: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Result<Option<i64>, AuthError> {
    match claims.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => match n.as_i64() {
            Some(i) => Ok(Some(i)),
            None => n
                .as_f64()
                .filter(|f| f.is_finite())
                .map(|f| Some(f.floor() as i64))
                .ok_or_else(|| AuthError::Claims(format!("{name} claim must be a number"))),
        },
        Some(_) => Err(AuthError::Claims(format!("{name} claim must be a number"))),
    }
}

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
struct JwksKey {
    alg: Algorithm,
    key: DecodingKey,
}

/// The keys as of the latest fetch.
#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<JwksKey>>,
    /// When the keys were fetched; `None`: never.
    fetched_at: Option<Instant>,
    /// Whether the latest fetch failed.
    failed: bool,
}

/// The key set of one URL, fetched and cached (see the module docs for the refresh rules).
struct JwksCache {
    url: url::Url,
    http: Result<reqwest::Client, String>,
    /// Read on every asymmetric token; a std lock, never held across an await.
    keys: RwLock<Arc<KeySet>>,
    /// When a request last triggered a fetch. A tokio mutex: held across the fetch, so
    /// concurrent requests with the same new `kid` cause one fetch, not one each.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
}

impl JwksCache {
    fn new(url: url::Url) -> JwksCache {
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

    fn snapshot(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn store(&self, set: KeySet) {
        let set = Arc::new(set);
        match self.keys.write() {
            Ok(mut g) => *g = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }

    /// The key named `kid`, fetching the set again when it is unknown or stale and the last
    /// request-triggered fetch is at least [`JWKS_REFETCH_INTERVAL`] old.
    async fn key(&self, kid: &str) -> Result<Arc<JwksKey>, AuthError> {
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
    async fn refresh(&self) -> Result<(), JwksError> {
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
    async fn fetch(&self) -> Result<HashMap<String, Arc<JwksKey>>, JwksError> {
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
fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Arc<JwksKey>>, JwksError> {
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

/// Verifies an HS256 token signed with `secret`, with the default rules of [`Verifier::new`].
///
/// # Errors
/// See [`Verifier::verify`].
pub fn verify_token(secret: &[u8], token: &str) -> Result<AuthContext, AuthError> {
    let verifier = Verifier::new(Some(secret));
    let (alg, _) = parse_header(token)?;
    let key = match (alg, &verifier.hs256) {
        (Algorithm::HS256, Some(key)) => key,
        _ => return Err(AuthError::UnsupportedAlgorithm),
    };
    let claims = decode_claims(token, alg, key)?;
    verifier.check_claims(claims, now_unix())
}

/// The bearer token of `Authorization: Bearer <token>`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Verifies the request's bearer token, if any, as [`verify_token`] does (HS256 only; no token
/// means anon). Handlers use [`Verifier::from_headers`].
///
/// # Errors
/// See [`verify_token`].
pub fn from_headers(secret: &[u8], headers: &HeaderMap) -> Result<AuthContext, AuthError> {
    match bearer(headers) {
        Some(t) => verify_token(secret, t),
        None => Ok(AuthContext::anon()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const S: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn b64(v: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    /// A token with this header and payload and a dummy signature.
    fn unsigned(header: serde_json::Value, payload: serde_json::Value) -> String {
        format!("{}.{}.c2ln", b64(&header), b64(&payload))
    }

    fn hs(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(S),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn round_trip_and_refusals() {
        let v = Verifier::new(Some(S));
        let sub = Uuid::new_v4();
        let t = mint_token(S, &Claims::new(Role::Authenticated, Some(sub), true, 60)).unwrap();
        let ctx = v.verify(&t).await.unwrap();
        assert_eq!(ctx.role, Role::Authenticated);
        assert_eq!(ctx.sub, Some(sub));
        assert!(ctx.claims_json.contains("\"admin\""));
        assert_eq!(verify_token(S, &t).unwrap(), ctx);
        let other = Verifier::new(Some(b"another-secret-another-secret-xx"));
        assert_eq!(other.verify(&t).await, Err(AuthError::WrongKey));
        let mut bad_role = Claims::new(Role::Authenticated, None, false, 60);
        bad_role.role = "postgres".into();
        let t = mint_token(S, &bad_role).unwrap();
        assert_eq!(
            v.verify(&t).await.unwrap_err().to_string(),
            "role \"postgres\" is not allowed"
        );
        for bad in [
            "abc",
            "a.b.c",
            "a.b.c.d",
            "",
            "..",
            &format!("{}.e30.", b64(&serde_json::json!([1]))),
        ] {
            assert_eq!(v.verify(bad).await, Err(AuthError::Malformed), "{bad}");
        }
        // A correctly signed payload that is not JSON; unsigned, the signature fails first
        // (the payload of an unverified token is never parsed).
        let signed = format!("{}.bm90LWpzb24", b64(&serde_json::json!({"alg":"HS256"})));
        let sig = jsonwebtoken::crypto::sign(
            signed.as_bytes(),
            &EncodingKey::from_secret(S),
            Algorithm::HS256,
        )
        .unwrap();
        assert_eq!(
            v.verify(&format!("{signed}.{sig}")).await,
            Err(AuthError::Malformed)
        );
        assert_eq!(
            v.verify(&format!("{signed}.c2ln")).await,
            Err(AuthError::WrongKey)
        );
    }

    #[tokio::test]
    async fn algorithms_none_and_others_and_missing_verifiers_are_refused() {
        let now = now_unix();
        let p = serde_json::json!({"role":"service_role","exp": now + 60});
        let v = Verifier::new(Some(S));
        for alg in [
            "none", "None", "HS384", "HS512", "RS512", "PS256", "EdDSA", "ES384",
        ] {
            let t = unsigned(serde_json::json!({"alg": alg}), p.clone());
            assert_eq!(
                v.verify(&t).await,
                Err(AuthError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
        // ES256 without a key set, HS256 without a secret (an empty one counts as none).
        let t = unsigned(serde_json::json!({"alg":"ES256","kid":"k"}), p.clone());
        assert_eq!(v.verify(&t).await, Err(AuthError::UnsupportedAlgorithm));
        let no_secret = Verifier::new(Some(b""));
        assert!(!no_secret.has_secret());
        assert_eq!(
            no_secret.verify(&hs(p)).await,
            Err(AuthError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn time_rules_with_leeway() {
        let v = Verifier::new(Some(S)).with_leeway_secs(30);
        let now = 1_800_000_000;
        let check = |claims: serde_json::Value| {
            let serde_json::Value::Object(m) = claims else {
                unreachable!()
            };
            v.check_claims(m, now).map(|c| c.role)
        };
        let svc = |extra: serde_json::Value| {
            let mut c = serde_json::json!({"role":"service_role","exp": now + 3600});
            for (k, val) in extra.as_object().unwrap() {
                c[k] = val.clone();
            }
            c
        };
        assert_eq!(check(svc(serde_json::json!({}))), Ok(Role::ServiceRole));
        // exp: within the leeway accepted, at the leeway's end refused.
        assert_eq!(
            check(svc(serde_json::json!({"exp": now - 29}))),
            Ok(Role::ServiceRole)
        );
        assert_eq!(
            check(svc(serde_json::json!({"exp": now - 30}))),
            Err(AuthError::Expired)
        );
        assert_eq!(
            check(svc(serde_json::json!({"exp": (now - 120) as f64 + 0.5}))),
            Err(AuthError::Expired)
        );
        // nbf and iat: up to the leeway ahead accepted, beyond refused.
        assert_eq!(
            check(svc(serde_json::json!({"nbf": now + 30}))),
            Ok(Role::ServiceRole)
        );
        assert_eq!(
            check(svc(serde_json::json!({"nbf": now + 31}))),
            Err(AuthError::NotYetValid)
        );
        assert_eq!(
            check(svc(serde_json::json!({"iat": now + 30}))),
            Ok(Role::ServiceRole)
        );
        assert_eq!(
            check(svc(serde_json::json!({"iat": now + 31}))),
            Err(AuthError::IssuedInFuture)
        );
        // Required and typed.
        assert_eq!(
            check(serde_json::json!({"role":"service_role"}))
                .unwrap_err()
                .to_string(),
            "token has no expiry (exp)"
        );
        assert_eq!(
            check(svc(serde_json::json!({"exp": "soon"})))
                .unwrap_err()
                .to_string(),
            "exp claim must be a number"
        );
        assert_eq!(
            check(svc(serde_json::json!({"nbf": true})))
                .unwrap_err()
                .to_string(),
            "nbf claim must be a number"
        );
        // Without leeway the boundary moves.
        let strict = Verifier::new(Some(S)).with_leeway_secs(0);
        let serde_json::Value::Object(m) = svc(serde_json::json!({"nbf": now + 1})) else {
            unreachable!()
        };
        assert_eq!(strict.check_claims(m, now), Err(AuthError::NotYetValid));
    }

    #[test]
    fn lifetime_rule_applies_to_authenticated_tokens_only() {
        let now = 1_800_000_000;
        let v = Verifier::new(Some(S)).with_max_lifetime_secs(3600);
        let check = |v: &Verifier, role: &str, iat: Option<i64>, exp: i64| {
            let mut c = serde_json::json!({"role": role, "exp": exp});
            if let Some(iat) = iat {
                c["iat"] = iat.into();
            }
            let serde_json::Value::Object(m) = c else {
                unreachable!()
            };
            v.check_claims(m, now).map(|c| c.role)
        };
        assert_eq!(
            check(&v, "authenticated", Some(now), now + 3600),
            Ok(Role::Authenticated)
        );
        assert_eq!(
            check(&v, "authenticated", Some(now), now + 3601),
            Err(AuthError::LifetimeTooLong)
        );
        assert_eq!(
            check(&v, "authenticated", None, now + 60),
            Err(AuthError::MissingIssuedAt)
        );
        // Supabase's ten-year project keys: service_role and anon are exempt.
        let ten_years = 10 * 365 * 86400;
        assert_eq!(
            check(&v, "service_role", Some(now), now + ten_years),
            Ok(Role::ServiceRole)
        );
        assert_eq!(
            check(&v, "anon", Some(now), now + ten_years),
            Ok(Role::Anon)
        );
        assert_eq!(
            check(&v, "service_role", None, now + ten_years),
            Ok(Role::ServiceRole)
        );
        // 0: no maximum.
        let unbounded = Verifier::new(Some(S)).with_max_lifetime_secs(0);
        assert_eq!(
            check(&unbounded, "authenticated", None, now + ten_years),
            Ok(Role::Authenticated)
        );
        // The default is 24 h.
        let d = Verifier::new(Some(S));
        assert_eq!(
            check(&d, "authenticated", Some(now), now + 86400),
            Ok(Role::Authenticated)
        );
        assert_eq!(
            check(&d, "authenticated", Some(now), now + 86401),
            Err(AuthError::LifetimeTooLong)
        );
    }

    #[test]
    fn jwks_documents_keep_only_usable_signing_keys() {
        // P-256 point and a small RSA modulus: parsing needs no real key.
        let ec = serde_json::json!({"kty":"EC","crv":"P-256","kid":"ec",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        let rsa = serde_json::json!({"kty":"RSA","kid":"rsa","n":"sXch","e":"AQAB","alg":"RS256","use":"sig"});
        let mut wrong_alg = rsa.clone();
        wrong_alg["kid"] = "rsa-ps".into();
        wrong_alg["alg"] = "PS256".into();
        let mut enc = rsa.clone();
        enc["kid"] = "rsa-enc".into();
        enc["use"] = "enc".into();
        let mut no_kid = rsa.clone();
        no_kid.as_object_mut().unwrap().remove("kid");
        let p384 = serde_json::json!({"kty":"EC","crv":"P-384","kid":"p384","x":"AA","y":"AA"});
        let oct = serde_json::json!({"kty":"oct","kid":"oct","k":"c2VjcmV0"});
        let odd = serde_json::json!({"kty":"future","kid":"odd"});
        let doc = serde_json::json!({"keys":[ec, rsa, wrong_alg, enc, no_kid, p384, oct, odd]});
        let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
        let mut kids: Vec<_> = keys.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["ec", "rsa"]);
        assert_eq!(keys["ec"].alg, Algorithm::ES256);
        assert_eq!(keys["rsa"].alg, Algorithm::RS256);
        assert!(matches!(parse_jwks(b"[]"), Err(JwksError::Parse(_))));
        assert!(matches!(
            parse_jwks(b"{\"keys\":{}}"),
            Err(JwksError::Parse(_))
        ));
    }

    /// A loopback JWKS endpoint answering an empty set and counting its requests.
    async fn counting_jwks() -> (url::Url, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = Arc::clone(&hits);
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                h.fetch_add(1, Ordering::SeqCst);
                async { axum::Json(serde_json::json!({"keys": []})) }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        (format!("http://{addr}/jwks.json").parse().unwrap(), hits)
    }

    #[tokio::test]
    async fn unknown_kids_refetch_at_most_once_a_minute() {
        let (url, hits) = counting_jwks().await;
        let v = Verifier::new(None).with_jwks(url);
        v.prefetch().await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let tok = |kid: &str| {
            unsigned(
                serde_json::json!({"alg":"ES256","kid": kid}),
                serde_json::json!({"role":"authenticated","exp": now_unix() + 60}),
            )
        };
        assert_eq!(v.verify(&tok("a")).await, Err(AuthError::UnknownKey));
        assert_eq!(hits.load(Ordering::SeqCst), 2, "an unknown kid refetches");
        assert_eq!(v.verify(&tok("b")).await, Err(AuthError::UnknownKey));
        assert_eq!(
            hits.load(Ordering::SeqCst),
            2,
            "not twice within the minute"
        );
        // No kid at all: unknown, and no fetch.
        let no_kid = unsigned(serde_json::json!({"alg":"RS256"}), serde_json::json!({}));
        assert_eq!(v.verify(&no_kid).await, Err(AuthError::UnknownKey));
        tokio::time::pause();
        tokio::time::advance(JWKS_REFETCH_INTERVAL - Duration::from_secs(1)).await;
        tokio::time::resume();
        assert_eq!(v.verify(&tok("c")).await, Err(AuthError::UnknownKey));
        assert_eq!(hits.load(Ordering::SeqCst), 2, "59 s later: still not");
        tokio::time::pause();
        tokio::time::advance(Duration::from_secs(1)).await;
        tokio::time::resume();
        assert_eq!(v.verify(&tok("d")).await, Err(AuthError::UnknownKey));
        assert_eq!(hits.load(Ordering::SeqCst), 3, "a minute later: once more");
    }

    #[tokio::test]
    async fn an_unreachable_key_set_is_reported_as_such() {
        // A port that was just free: connection refused, on loopback.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url: url::Url = format!("http://{}/jwks.json", l.local_addr().unwrap())
            .parse()
            .unwrap();
        drop(l);
        let v = Verifier::new(None).with_jwks(url);
        assert!(matches!(v.prefetch().await, Err(JwksError::Http(_))));
        let t = unsigned(
            serde_json::json!({"alg":"RS256","kid":"k"}),
            serde_json::json!({"role":"authenticated","exp": now_unix() + 60}),
        );
        let e = v.verify(&t).await.unwrap_err();
        assert_eq!(e, AuthError::KeySetUnavailable);
        assert_eq!(
            e.to_string(),
            "unknown signing key: the key set could not be fetched"
        );
        assert_eq!(e.pgrst_code(), "PGRST301");
    }
}
