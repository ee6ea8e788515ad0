//! What every `/rest/v1` request is checked for before its handler runs, in PostgREST's order:
//! the query string is decoded, the API key and JWT are verified ([`rest_auth`], the gateway's
//! rules in the module docs of [`super`]), the schema header names `public` (`Accept-Profile` for
//! `GET`/`HEAD`, `Content-Profile` otherwise), and a `POST`/`PATCH` body is JSON. The
//! [`RestRequest`] extractor runs them all, so each handler starts from a verified caller.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};

use super::error::RestError;
use super::query::query_pairs;
use crate::AppState;
use crate::auth::{self, AuthContext};

/// A `/rest/v1` request past the checks every route makes first (see the module docs).
///
/// Rejections: 401 for a missing API key or a token that does not verify ([`rest_auth`]), 406
/// `PGRST106` for another schema, 415 `PGRST107` for a body that is not JSON.
pub(crate) struct RestRequest {
    /// The request method (`HEAD` stays `HEAD`).
    pub(crate) method: Method,
    /// The decoded query string, in order.
    pub(crate) q: Vec<(String, String)>,
    /// The caller, from the key and the JWT.
    pub(crate) ctx: AuthContext,
    /// The request headers (`Prefer`, `Accept`, `Range` are read by the handlers).
    pub(crate) headers: HeaderMap,
}

impl FromRequestParts<AppState> for RestRequest {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, RestError> {
        let q = query_pairs(parts.uri.query());
        let ctx = rest_auth(state, &parts.headers, &q).await?;
        let reads = parts.method == Method::GET || parts.method == Method::HEAD;
        check_profile(
            &parts.headers,
            if reads {
                "accept-profile"
            } else {
                "content-profile"
            },
        )?;
        if parts.method == Method::POST || parts.method == Method::PATCH {
            check_content_type(&parts.headers)?;
        }
        Ok(RestRequest {
            method: parts.method.clone(),
            q,
            ctx,
            headers: parts.headers.clone(),
        })
    }
}

impl RestRequest {
    /// `Accept: application/vnd.pgrst.object+json`: the caller wants one object, not an array.
    pub(crate) fn wants_object(&self) -> bool {
        wants_object(&self.headers)
    }
}

const OBJECT_MEDIA: &str = "application/vnd.pgrst.object+json";

/// Applies the gateway's key check and PostgREST's JWT rules (see the module docs).
async fn rest_auth(
    state: &AppState,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Result<AuthContext, RestError> {
    let apikey = headers
        .get("apikey")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            query
                .iter()
                .find(|(k, _)| k == "apikey")
                .map(|(_, v)| v.clone())
        })
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(RestError::no_api_key)?;
    let is_jwt = |k: &str| k.split('.').count() == 3;
    // supabase-js without a session sends its API key as the bearer too; a non-JWT key
    // (`sb_publishable_…`) in both places is the anon role, as Supabase's gateway treats it.
    if let Some(token) = auth::bearer(headers).filter(|t| is_jwt(t) || t.trim() != apikey.trim()) {
        return state
            .verifier
            .verify(token)
            .await
            .map_err(RestError::from_auth);
    }
    if is_jwt(&apikey) {
        return state
            .verifier
            .verify(apikey.trim())
            .await
            .map_err(RestError::from_auth);
    }
    Ok(AuthContext::anon())
}

fn check_profile(headers: &HeaderMap, name: &str) -> Result<(), RestError> {
    match headers.get(name).and_then(|h| h.to_str().ok()) {
        Some(p) if p != "public" => Err(RestError::new(
            StatusCode::NOT_ACCEPTABLE,
            "PGRST106",
            "The schema must be one of the following: public",
        )),
        _ => Ok(()),
    }
}

/// RPC bodies are JSON: a `Content-Type` other than `application/json` (or `…+json`) is
/// refused with 415 `PGRST107`, as PostgREST refuses media types it cannot read. No header
/// means JSON.
fn check_content_type(headers: &HeaderMap) -> Result<(), RestError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let media = ct
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media == "application/json" || media.ends_with("+json") {
        Ok(())
    } else {
        Err(RestError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "PGRST107",
            format!(
                "Content-Type not acceptable: {}; RPC bodies are application/json",
                String::from_utf8_lossy(ct.as_bytes())
            ),
        ))
    }
}

pub(super) fn wants_object(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|a| a.contains(OBJECT_MEDIA))
}
