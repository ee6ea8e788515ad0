//! Who the request is: the role allow-list, the claims of a token, the per-request
//! [`AuthContext`], the refusals, and minting.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

/// Seconds since the Unix epoch (0 before it).
pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// [`now_secs`] as a signed number.
pub(super) fn now_unix() -> i64 {
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
