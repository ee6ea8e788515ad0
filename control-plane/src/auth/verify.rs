//! Token verification: the algorithm rules (HS256 against the secret, ES256/RS256 against the
//! key set), the signature, and the time and lifetime rules.

use axum::http::HeaderMap;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use serde::Deserialize;
use uuid::Uuid;

use super::claims::{AuthContext, AuthError, Role, bearer, now_unix};
use super::jwks::{JwksCache, JwksError};
use crate::settings::Settings;

/// Default tolerated clock skew on `exp`, `nbf` and `iat`, seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;

/// Default maximum lifetime (`exp - iat`) of an `authenticated` token, seconds (24 h; Supabase
/// issues 1 h access tokens by default).
pub const DEFAULT_MAX_LIFETIME_SECS: u64 = 24 * 3600;

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
    pub(super) fn check_claims(
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
