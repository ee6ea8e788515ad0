//! Errors, split by what failed: building a resolver or prober ([`BuildError`]), installing a
//! config document ([`InstallError`]), serving a request ([`RequestError`]). [`Error`] wraps
//! the three for callers that want a single type (`?` converts each into it).

use std::path::PathBuf;

use sourcegate_core::error::join_errors;
pub use sourcegate_core::error::{AttemptError, RequestError};

use crate::config::ConfigError;
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
