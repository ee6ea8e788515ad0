//! Supabase-compatible JWTs (HS256): verification, minting, and the per-request role.
//!
//! Rules follow PostgREST (`docs/references/auth.rst`): the token's `role` claim names the
//! database role (`anon` when there is no token or no `role` claim); it must be one of
//! [`Role`]'s allow-list. Only HS256 is accepted (`alg: none` and any other algorithm are
//! refused), `exp` is required and checked, and the signature must match the configured secret.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
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

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Why a token was refused. Maps to PostgREST's 401 codes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    /// Malformed token, wrong algorithm or bad signature (PostgREST `PGRST301`).
    #[error("{0}")]
    Invalid(String),
    /// The token has expired (PostgREST `PGRST303`, "JWT expired").
    #[error("JWT expired")]
    Expired,
    /// Signature fine but claims unusable: unknown role, non-UUID `sub` (`PGRST303`).
    #[error("{0}")]
    Claims(String),
}

impl AuthError {
    /// PostgREST's error code for this failure.
    pub fn pgrst_code(&self) -> &'static str {
        match self {
            AuthError::Invalid(_) => "PGRST301",
            AuthError::Expired | AuthError::Claims(_) => "PGRST303",
        }
    }
}

/// Signs `claims` with HS256.
///
/// # Errors
/// [`AuthError::Invalid`] if the claims cannot be encoded.
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
    .map_err(|e| AuthError::Invalid(format!("cannot sign token: {e}")))
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

/// Verifies an HS256 token and returns the request's context.
///
/// # Errors
/// [`AuthError::Invalid`] (bad format, algorithm or signature), [`AuthError::Expired`],
/// [`AuthError::Claims`] (role outside the allow-list, `sub` not a UUID).
pub fn verify_token(secret: &[u8], token: &str) -> Result<AuthContext, AuthError> {
    let parts = token.split('.').count();
    if parts != 3 {
        return Err(AuthError::Invalid(format!(
            "Expected 3 parts in JWT; got {parts}"
        )));
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256];
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &DecodingKey::from_secret(secret),
        &validation,
    )
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
        jsonwebtoken::errors::ErrorKind::InvalidSignature => {
            AuthError::Invalid("JWSError JWSInvalidSignature".into())
        }
        _ => AuthError::Invalid(format!("JWT invalid: {e}")),
    })?;
    let claims = data.claims;
    let role = match claims.get("role") {
        None | Some(serde_json::Value::Null) => Role::Anon,
        Some(serde_json::Value::String(r)) => Role::parse(r)
            .ok_or_else(|| AuthError::Claims(format!("role \"{r}\" is not allowed")))?,
        Some(_) => return Err(AuthError::Claims("role claim must be a string".into())),
    };
    let sub = match claims.get("sub") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(
            Uuid::parse_str(s).map_err(|_| AuthError::Claims("sub claim must be a UUID".into()))?,
        ),
        Some(_) => return Err(AuthError::Claims("sub claim must be a string".into())),
    };
    Ok(AuthContext {
        role,
        claims_json: claims.to_string(),
        sub,
        has_token: true,
    })
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

/// Verifies the request's bearer token, if any (native API: no token means anon).
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

    const S: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_and_refusals() {
        let sub = Uuid::new_v4();
        let t = mint_token(S, &Claims::new(Role::Authenticated, Some(sub), true, 60)).unwrap();
        let ctx = verify_token(S, &t).unwrap();
        assert_eq!(ctx.role, Role::Authenticated);
        assert_eq!(ctx.sub, Some(sub));
        assert!(ctx.claims_json.contains("\"admin\""));
        assert!(matches!(
            verify_token(b"another-secret-another-secret-xx", &t),
            Err(AuthError::Invalid(_))
        ));
        let mut expired = Claims::new(Role::Authenticated, Some(sub), false, 0);
        expired.exp -= 10;
        let t = mint_token(S, &expired).unwrap();
        assert_eq!(verify_token(S, &t), Err(AuthError::Expired));
        let mut bad_role = Claims::new(Role::Authenticated, None, false, 60);
        bad_role.role = "postgres".into();
        let t = mint_token(S, &bad_role).unwrap();
        assert!(matches!(verify_token(S, &t), Err(AuthError::Claims(_))));
        assert!(matches!(
            verify_token(S, "abc"),
            Err(AuthError::Invalid(m)) if m.contains("3 parts")
        ));
    }
}
