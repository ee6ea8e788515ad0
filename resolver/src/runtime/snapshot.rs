//! What the hot path reads: the config in use and its origins, swapped atomically as a whole.

use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use url::Url;

use crate::bucket::Bucket;
use crate::config::{MarketplaceConfig, OriginKind};
use crate::origin::OriginCell;
use crate::routing::{self, OriginView, Reason, Route};

/// Where the config in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ConfigSource {
    /// The built-in default (Git mode on the builder's default Git URL).
    Default,
    /// The persisted last-known-good file, read at start.
    LastKnownGood,
    /// A provider (by name).
    Provider(&'static str),
}

impl ConfigSource {
    /// The name persisted with a last-known-good copy.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ConfigSource::Provider(n) => n,
            ConfigSource::LastKnownGood => "last-known-good",
            ConfigSource::Default => "default",
        }
    }
}

/// Where the config in use came from, its version and when it was installed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigInfo {
    /// The config in use.
    #[serde(skip)]
    pub config: Arc<MarketplaceConfig>,
    /// Its document version.
    pub version: u64,
    /// Its source.
    pub source: ConfigSource,
    /// When it was installed: RFC 3339 in UTC with milliseconds (`2026-12-04T21:25:11.123Z`).
    pub installed_at: String,
}

/// The answer to "where should this request go?".
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// The full URL: the origin's base joined with the path.
    pub url: Url,
    /// The origin chosen.
    pub origin: OriginKind,
    /// Why it was chosen.
    pub reason: Reason,
    /// Version of the config document that decided it.
    pub config_version: u64,
}

/// A [`Resolution`] lent to the closure of [`crate::Resolver::resolve_with`]: the same fields,
/// the URL borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResolutionRef<'a> {
    /// The full URL: the origin's base joined with the path.
    pub url: &'a Url,
    /// The origin chosen.
    pub origin: OriginKind,
    /// Why it was chosen.
    pub reason: Reason,
    /// Version of the config document that decided it.
    pub config_version: u64,
}

impl Resolution {
    /// This resolution with its URL borrowed, as [`crate::Resolver::resolve_with`] lends it.
    pub fn as_borrowed(&self) -> ResolutionRef<'_> {
        ResolutionRef {
            url: &self.url,
            origin: self.origin,
            reason: self.reason,
            config_version: self.config_version,
        }
    }
}

/// The config in use and its origins' state.
#[derive(Debug)]
pub(super) struct Snapshot {
    pub(super) config: Arc<MarketplaceConfig>,
    pub(super) origins: [Option<Arc<OriginCell>>; 2],
    pub(super) source: ConfigSource,
    pub(super) installed_at: SystemTime,
}

impl Snapshot {
    /// A snapshot of `config`; origins whose base URL is unchanged from `previous` keep their
    /// state.
    ///
    /// The seed's fallback rule (docs/seed.md): with `fallbackOnError: true` and no `gitUrl`
    /// in the document, the Git origin is `default_git` (the builder's default Git URL), so a
    /// CDN-only document still falls back to Git. The document itself is left as it is.
    pub(super) fn build(
        config: MarketplaceConfig,
        source: ConfigSource,
        previous: Option<&Snapshot>,
        default_git: &Url,
    ) -> Snapshot {
        let origins = OriginKind::ALL.map(|kind| {
            let base = match config.origin_url(kind) {
                Some(u) => u.clone(),
                None if kind == OriginKind::Git && config.fallback_on_error => default_git.clone(),
                None => return None,
            };
            if let Some(cell) = previous
                .and_then(|p| p.origins[kind.index()].as_ref())
                .filter(|c| c.base == base)
            {
                return Some(Arc::clone(cell));
            }
            Some(Arc::new(OriginCell::new(kind, base)))
        });
        Snapshot {
            config: Arc::new(config),
            origins,
            source,
            installed_at: SystemTime::now(),
        }
    }

    /// The same config and origins under another source.
    pub(super) fn with_source(&self, source: ConfigSource) -> Snapshot {
        Snapshot {
            config: Arc::clone(&self.config),
            origins: self.origins.clone(),
            source,
            installed_at: self.installed_at,
        }
    }

    /// The route of `bucket` at `now` (ns since the resolver's epoch); health verdicts count
    /// when `health_checks` is on and the document enables them.
    pub(super) fn route(&self, bucket: Bucket, now: u64, health_checks: bool) -> Route {
        let use_health = health_checks && self.config.health_check_enabled;
        let views = [0, 1].map(|i| match &self.origins[i] {
            Some(cell) => cell.flags.view(now, use_health),
            None => OriginView::ABSENT,
        });
        routing::route(&self.config, bucket, views)
    }
}
