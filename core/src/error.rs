//! The errors of a request's pure steps: [`RequestError`] (a path refused, an origin missing,
//! every attempt failed) and [`AttemptError`] (one failed attempt). The `sourcegate` crate
//! re-exports both as `sourcegate::error::{RequestError, AttemptError}`.

use serde::Serialize;

use crate::config::OriginKind;

/// A request could not be resolved or served.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The path is not a relative path under the origin's base (absolute URL, `..`, …).
    #[error("invalid request path `{path}`: {why}")]
    InvalidPath {
        /// The path given.
        path: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The route's first origin has no URL in the config in use.
    #[error("no {origin} origin configured for `{path}`")]
    NoOrigin {
        /// The path given.
        path: String,
        /// The origin the route chose.
        origin: OriginKind,
    },
    /// Every candidate origin failed this request.
    #[error("every origin failed for `{path}`: {}", join_errors(.attempts))]
    AllOriginsFailed {
        /// The path requested.
        path: String,
        /// One entry per attempt, in order.
        attempts: Vec<AttemptError>,
    },
    /// The resolver is offline (`sourcegate::ResolverBuilder::offline`) and holds no servable
    /// kept body for the path (fresh, or stale without `must-revalidate`): it makes no request.
    #[error("offline: no kept body for `{path}` (the resolver makes no request)")]
    Offline {
        /// The path requested.
        path: String,
    },
    /// The resolver was closed (`sourcegate::Resolver::close`): fetches make no request any more
    /// (`sourcegate::Resolver::resolve` still answers from the config held).
    #[error("the resolver is closed: cannot fetch `{path}`")]
    Closed {
        /// The path requested.
        path: String,
    },
}

impl RequestError {
    /// Whether the same request may succeed later unchanged: `true` for
    /// [`RequestError::AllOriginsFailed`] (origins recover, cooldowns end), `false` for a bad
    /// path, a config without the origin, an offline resolver without a kept body, or a closed
    /// resolver.
    pub fn is_retryable(&self) -> bool {
        matches!(self, RequestError::AllOriginsFailed { .. })
    }
}

/// One failed attempt of a request on one origin.
#[derive(Debug, Clone, thiserror::Error, Serialize)]
#[serde(rename_all = "camelCase")]
#[error("{origin} {url}: {cause}")]
pub struct AttemptError {
    /// The origin tried.
    pub origin: OriginKind,
    /// The URL requested.
    pub url: String,
    /// HTTP status, if a response came back.
    pub status: Option<u16>,
    /// What went wrong.
    pub cause: String,
}

/// The errors' `Display` joined with `; ` (how the multi-error variants print their parts).
#[doc(hidden)]
pub fn join_errors<E: std::fmt::Display>(errs: &[E]) -> String {
    errs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
