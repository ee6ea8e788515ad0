//! The route decision: which origins to try for one request, in which order, and why.
//!
//! Pure: it takes the config, the install's bucket and each origin's availability, and does no
//! I/O. It implements the specification's modes, canary and fallback (`docs/seed.md`, S7–S9).
//! Rules:
//!
//! 1. The mode gives a preferred order: `git` → Git; `cdn` → CDN; `hybrid` → `priority`;
//!    `canary` → CDN first iff the install's bucket is below `canaryPercent × 100`.
//! 2. The second origin is a fallback in `hybrid` mode always, in other modes when
//!    `fallbackOnError` is on and the document has its URL. (The `sourcegate::Resolver` gives a
//!    document with `fallbackOnError: true` and no `gitUrl` the builder's default Git URL as
//!    its Git origin, the seed's rule; this pure function sees only the document.)
//! 3. An origin is unavailable while rate-limited, ejected by outlier detection, or (with
//!    `healthCheckEnabled`) unhealthy. The first available candidate goes first.
//! 4. When every candidate is unavailable, the router still tries (panic mode, as Envoy does):
//!    least recently failed first.

use serde::Serialize;

use url::Url;

use crate::bucket::Bucket;
use crate::config::{MarketplaceConfig, Mode, OriginKind};
use crate::error::RequestError;

/// Why an origin cannot take traffic right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Unavailable {
    /// After a 429 (or a Git 403), until its cooldown ends.
    RateLimited,
    /// Ejected by passive outlier detection.
    Ejected,
    /// Failed its active health checks.
    Unhealthy,
}

/// What the router knows of one origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OriginView {
    /// The document has a URL for it.
    pub configured: bool,
    /// Why it cannot take traffic, if it cannot.
    pub unavailable: Option<Unavailable>,
    /// When it last failed (ns since the resolver's epoch; 0 = never).
    pub last_failure: u64,
}

impl OriginView {
    /// An origin absent from the document.
    pub const ABSENT: OriginView = OriginView {
        configured: false,
        unavailable: None,
        last_failure: 0,
    };
}

/// Why the route is what it is. Serialises as `{"kind": "...", ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Reason {
    /// The mode's preferred origin (`git`, `cdn` or `hybrid` mode).
    Mode,
    /// Canary mode: the install's bucket against the threshold (both in basis points).
    Canary {
        /// The install's bucket, `0..10_000`.
        bucket: u32,
        /// `canaryPercent × 100`.
        threshold_bp: u32,
    },
    /// The preferred origin is unavailable; the other one goes first.
    Failover {
        /// The preferred origin.
        from: OriginKind,
        /// Why it is skipped.
        cause: Unavailable,
    },
    /// Every candidate is unavailable; trying anyway, least recently failed first.
    PanicMode,
    /// The preferred origin is unavailable and fallback is off: trying it anyway.
    NoFallback {
        /// Why it is unavailable.
        cause: Unavailable,
    },
}

/// An ordered list of at most two origins to try, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    order: [OriginKind; 2],
    len: u8,
    /// Why this order.
    pub reason: Reason,
}

impl Route {
    /// The origins to try, first one first.
    pub fn candidates(&self) -> &[OriginKind] {
        &self.order[..usize::from(self.len)]
    }

    /// The origin tried first.
    pub fn first(&self) -> OriginKind {
        self.order[0]
    }
}

/// The mode's preferred origin for an install in `bucket`, and the reason naming it.
pub fn preferred(config: &MarketplaceConfig, bucket: Bucket) -> (OriginKind, Reason) {
    match config.mode {
        Mode::Git => (OriginKind::Git, Reason::Mode),
        Mode::Cdn => (OriginKind::Cdn, Reason::Mode),
        Mode::Hybrid { first } => (first, Reason::Mode),
        Mode::Canary { threshold_bp } => {
            let kind = if bucket.in_canary(threshold_bp) {
                OriginKind::Cdn
            } else {
                OriginKind::Git
            };
            (
                kind,
                Reason::Canary {
                    bucket: bucket.0,
                    threshold_bp,
                },
            )
        }
    }
}

/// Decides the route. `views` is indexed Git, CDN.
///
/// # Examples
/// ```
/// use sourcegate_core::{bucket::Bucket, config::*, routing::*};
/// let cfg = MarketplaceConfig::from_json_slice(
///     br#"{"type":"git","gitUrl":"https://g/","cdnUrl":"https://c/"}"#).unwrap();
/// let ok = OriginView { configured: true, unavailable: None, last_failure: 0 };
/// let limited = OriginView { unavailable: Some(Unavailable::RateLimited), ..ok };
/// let r = route(&cfg, Bucket(0), [limited, ok]);
/// assert_eq!(r.candidates(), &[OriginKind::Cdn, OriginKind::Git]);
/// assert_eq!(r.reason, Reason::Failover { from: OriginKind::Git, cause: Unavailable::RateLimited });
/// ```
pub fn route(config: &MarketplaceConfig, bucket: Bucket, views: [OriginView; 2]) -> Route {
    let (primary, base_reason) = preferred(config, bucket);
    let secondary = primary.other();
    let p = views[primary.index()];
    let s = views[secondary.index()];
    let fallback =
        s.configured && (config.fallback_on_error || matches!(config.mode, Mode::Hybrid { .. }));
    let (order, len, reason) = match (p.unavailable, fallback, s.unavailable) {
        (None, true, _) => ([primary, secondary], 2, base_reason),
        (None, false, _) => ([primary, secondary], 1, base_reason),
        (Some(cause), true, None) => (
            [secondary, primary],
            2,
            Reason::Failover {
                from: primary,
                cause,
            },
        ),
        (Some(_), true, Some(_)) => {
            // Panic mode: least recently failed first; ties keep the preferred order.
            if s.last_failure < p.last_failure {
                ([secondary, primary], 2, Reason::PanicMode)
            } else {
                ([primary, secondary], 2, Reason::PanicMode)
            }
        }
        (Some(cause), false, _) => ([primary, secondary], 1, Reason::NoFallback { cause }),
    };
    Route { order, len, reason }
}

/// The URL `kind` serves `path` from: the path joined to that origin's base URL in `config`
/// (a leading `/` is dropped and the base path kept; a path that would leave the base — a
/// scheme, a network-path reference, dot segments, backslashes — is refused). The same join
/// the resolver makes for every request.
///
/// # Errors
/// [`RequestError::NoOrigin`] when the document has no URL for `kind`;
/// [`RequestError::InvalidPath`] for a path refused as above.
///
/// # Examples
/// ```
/// use sourcegate_core::{config::*, routing::url_for};
/// let cfg = MarketplaceConfig::from_json_slice(
///     br#"{"type":"cdn","gitUrl":"https://g.example/o/r/HEAD","cdnUrl":"https://c.example/"}"#).unwrap();
/// let u = url_for(&cfg, OriginKind::Git, "/community-plugins.json").unwrap();
/// assert_eq!(u.as_str(), "https://g.example/o/r/HEAD/community-plugins.json");
/// assert!(url_for(&cfg, OriginKind::Cdn, "../x").is_err());
/// ```
pub fn url_for(
    config: &MarketplaceConfig,
    kind: OriginKind,
    path: &str,
) -> Result<Url, RequestError> {
    let base = config
        .origin_url(kind)
        .ok_or_else(|| RequestError::NoOrigin {
            path: path.into(),
            origin: kind,
        })?;
    crate::util::join_path(base, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: OriginView = OriginView {
        configured: true,
        unavailable: None,
        last_failure: 0,
    };

    fn cfg(doc: &str) -> MarketplaceConfig {
        MarketplaceConfig::from_json_slice(doc.as_bytes()).unwrap()
    }

    fn down(cause: Unavailable, last_failure: u64) -> OriginView {
        OriginView {
            unavailable: Some(cause),
            last_failure,
            ..OK
        }
    }

    #[test]
    fn modes_give_their_order() {
        let both = r#""gitUrl":"https://g/","cdnUrl":"https://c/""#;
        let git = cfg(&format!(r#"{{"type":"git",{both}}}"#));
        assert_eq!(
            route(&git, Bucket(0), [OK, OK]).candidates(),
            &[OriginKind::Git, OriginKind::Cdn]
        );
        let cdn = cfg(&format!(r#"{{"type":"cloudflare",{both}}}"#));
        assert_eq!(route(&cdn, Bucket(0), [OK, OK]).first(), OriginKind::Cdn);
        let hy = cfg(&format!(
            r#"{{"type":"hybrid","priority":["git","cdn"],"fallbackOnError":false,{both}}}"#
        ));
        assert_eq!(
            route(&hy, Bucket(0), [OK, OK]).candidates(),
            &[OriginKind::Git, OriginKind::Cdn]
        );
        let canary = cfg(&format!(r#"{{"type":"canary","canaryPercent":10,{both}}}"#));
        assert_eq!(
            route(&canary, Bucket(999), [OK, OK]).first(),
            OriginKind::Cdn
        );
        assert_eq!(
            route(&canary, Bucket(1000), [OK, OK]).first(),
            OriginKind::Git
        );
    }

    #[test]
    fn no_fallback_without_url_or_when_disabled() {
        let only_git = cfg(r#"{"type":"git","gitUrl":"https://g/"}"#);
        let r = route(
            &only_git,
            Bucket(0),
            [down(Unavailable::RateLimited, 5), OriginView::ABSENT],
        );
        assert_eq!(r.candidates(), &[OriginKind::Git]);
        assert_eq!(
            r.reason,
            Reason::NoFallback {
                cause: Unavailable::RateLimited
            }
        );
        let off = cfg(
            r#"{"type":"cdn","gitUrl":"https://g/","cdnUrl":"https://c/","fallbackOnError":false}"#,
        );
        let r = route(&off, Bucket(0), [OK, down(Unavailable::Unhealthy, 1)]);
        assert_eq!(r.candidates(), &[OriginKind::Cdn]);
    }

    #[test]
    fn panic_mode_tries_least_recently_failed_first() {
        let c = cfg(r#"{"type":"cdn","gitUrl":"https://g/","cdnUrl":"https://c/"}"#);
        // CDN failed at t=10, Git at t=20: the CDN failed less recently, so it goes first.
        let r = route(
            &c,
            Bucket(0),
            [
                down(Unavailable::Ejected, 20),
                down(Unavailable::Unhealthy, 10),
            ],
        );
        assert_eq!(r.reason, Reason::PanicMode);
        assert_eq!(r.candidates(), &[OriginKind::Cdn, OriginKind::Git]);
        // Git failed less recently: Git first, even though the mode prefers the CDN.
        let r = route(
            &c,
            Bucket(0),
            [
                down(Unavailable::Ejected, 10),
                down(Unavailable::Unhealthy, 20),
            ],
        );
        assert_eq!(r.candidates(), &[OriginKind::Git, OriginKind::Cdn]);
    }
}
