//! One routing decision as JSON, the shape of the conformance suite's cases
//! (`test-data/conformance/README.md`): every host (the C ABI's `sg_route_json`, the WebAssembly
//! package's `routeJson`) answers it through this one function, so a host cannot drift from the
//! rules it checks.
//!
//! Input: `{document, installId, origins?: {git?, cdn?: {unavailable?: "rateLimited" |
//! "ejected" | "unhealthy" | null, lastFailure?: ms, configured?: bool}}, path?}`; an origin
//! left out is available, never failed, and configured when the document names its URL.
//! Output: `{order: ["git"|"cdn", …], reason: {kind, …}, url?}` (`url` when a path is given:
//! the first origin's base joined with it, [`crate::routing::url_for`]).

use serde_json::{Value, json};

use crate::bucket::bucket_of;
use crate::config::{ConfigError, MarketplaceConfig, OriginKind};
use crate::error::RequestError;
use crate::routing::{OriginView, Unavailable, route, url_for};

/// Why a case could not be decided.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// The input is not the shape above (the message names the member).
    #[error("{0}")]
    InvalidArgument(String),
    /// The document is refused by the validator.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The path cannot be joined to the first origin (or it has no URL).
    #[error(transparent)]
    Request(#[from] RequestError),
}

/// Decides one case: see the module docs for the input and output.
///
/// # Errors
/// [`CaseError::InvalidArgument`] for an input of the wrong shape, [`CaseError::Config`] for a
/// document the validator refuses, [`CaseError::Request`] for a path that cannot be joined.
pub fn route_case(input: &Value) -> Result<Value, CaseError> {
    let cfg = MarketplaceConfig::from_value(&input["document"])?;
    let install_id = input["installId"]
        .as_str()
        .ok_or_else(|| CaseError::InvalidArgument("installId: expected a string".into()))?;
    let view = |kind: OriginKind| -> Result<OriginView, CaseError> {
        let o = &input["origins"][kind.as_str()];
        let unavailable = match o["unavailable"].as_str() {
            None => None,
            Some("rateLimited") => Some(Unavailable::RateLimited),
            Some("ejected") => Some(Unavailable::Ejected),
            Some("unhealthy") => Some(Unavailable::Unhealthy),
            Some(other) => {
                return Err(CaseError::InvalidArgument(format!(
                    "origins.{kind}.unavailable: {other}"
                )));
            }
        };
        Ok(OriginView {
            configured: o["configured"]
                .as_bool()
                .unwrap_or(cfg.origin_url(kind).is_some()),
            unavailable,
            last_failure: o["lastFailure"].as_u64().unwrap_or(0),
        })
    };
    let r = route(
        &cfg,
        bucket_of(install_id),
        [view(OriginKind::Git)?, view(OriginKind::Cdn)?],
    );
    let mut out = json!({
        "order": r.candidates().iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        "reason": r.reason,
    });
    if let Some(path) = input["path"].as_str() {
        out["url"] = url_for(&cfg, r.first(), path)?.as_str().into();
    }
    Ok(out)
}
