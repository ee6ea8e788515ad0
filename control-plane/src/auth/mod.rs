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
//!
//! # Layout
//! - `claims`: [`Role`], [`Claims`], [`AuthContext`], [`AuthError`], [`mint_token`], [`bearer`];
//! - `verify`: [`Verifier`] (the algorithm, signature and time rules), [`verify_token`],
//!   [`from_headers`];
//! - `jwks`: the key set of `SOURCEGATE_JWKS_URL`, fetched, cached and refreshed
//!   ([`JwksError`]).
//!
//! The development secret (generated under the data directory when nothing else verifies
//! tokens) is read and written by [`crate::load_or_create_secret`].

mod claims;
mod jwks;
mod verify;

pub use claims::{AuthContext, AuthError, Claims, Role, bearer, mint_token};
pub use jwks::{
    JWKS_CONNECT_TIMEOUT, JWKS_MAX_AGE, JWKS_MAX_BYTES, JWKS_REFETCH_INTERVAL, JWKS_TIMEOUT,
    JwksError,
};
pub use verify::{
    DEFAULT_LEEWAY_SECS, DEFAULT_MAX_LIFETIME_SECS, Verifier, from_headers, verify_token,
};

#[cfg(test)]
mod tests;
