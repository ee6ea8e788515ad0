//! Errors, split by what failed: building a resolver or prober ([`BuildError`]), installing a
//! config document ([`InstallError`]), serving a request ([`RequestError`]). [`Error`] wraps
//! the three for callers that want a single type (`?` converts each into it).

use std::path::PathBuf;

use serde::Serialize;

use crate::config::{ConfigError, OriginKind};
use crate::provider::ProviderError;

/// Building a [`crate::Resolver`] or a [`crate::probe::Prober`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Built outside a tokio runtime (background work needs one).
    #[error("the resolver needs a tokio runtime (build it inside one)")]
    NoRuntime,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The install-id file could not be read or written.
    #[error("install id file {path}: {source}")]
    InstallIdFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A config document was not installed; the config in use is unchanged in every case.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The document was refused by validation (the error names the field).
    #[error("invalid config document: {0}")]
    Invalid(#[from] ConfigError),
    /// The document is older than the one in use (TUF's rollback rule).
    #[error("config version {got} is older than the version in use ({held})")]
    StaleVersion {
        /// Version offered.
        got: u64,
        /// Version in use.
        held: u64,
    },
    /// Every provider failed, one error per provider in the order tried.
    #[error("every config provider failed: {}", join_errors(.0))]
    ProvidersFailed(Vec<ProviderError>),
    /// The resolver was closed ([`crate::Resolver::close`]): it loads no more documents.
    #[error("the resolver is closed: no config is loaded any more")]
    Closed,
}

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
    /// The resolver is offline ([`crate::ResolverBuilder::offline`]) and holds no servable
    /// kept body for the path (fresh, or stale without `must-revalidate`): it makes no request.
    #[error("offline: no kept body for `{path}` (the resolver makes no request)")]
    Offline {
        /// The path requested.
        path: String,
    },
    /// The resolver was closed ([`crate::Resolver::close`]): fetches make no request any more
    /// ([`crate::Resolver::resolve`] still answers from the config held).
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

/// Any error of the resolver's public API, by layer; each layer's error converts into it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Building failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A document was not installed.
    #[error(transparent)]
    Install(#[from] InstallError),
    /// A request failed.
    #[error(transparent)]
    Request(#[from] RequestError),
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Error {
        Error::Install(InstallError::Invalid(e))
    }
}

pub(crate) fn join_errors<E: std::fmt::Display>(errs: &[E]) -> String {
    errs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
