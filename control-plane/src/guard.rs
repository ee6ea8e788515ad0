//! The outbound guard: the one check every request the control plane makes on an admin's or a
//! document's behalf goes through (`POST /v1/origins/test` and the health probes of
//! [`crate::fleet`]), so that writing a URL cannot turn the service into a port scanner of its
//! own network.
//!
//! # Policy
//! A destination is allowed only when it is a **globally routable unicast** address:
//!
//! - IPv4: every block of the [IANA IPv4 Special-Purpose Address Registry] whose "Globally
//!   Reachable" is not `True` is refused (this network, RFC 1918 private, shared `100.64/10`,
//!   loopback, link-local, `192.0.0.0/24`, the three documentation nets, benchmarking
//!   `198.18/15`, the deprecated 6to4 relay anycast, reserved `240/4`, broadcast), and so is
//!   multicast `224/4` (RFC 5771).
//! - IPv6: only global unicast `2000::/3` (RFC 4291 §2.4, IANA IPv6 Address Space) is
//!   considered at all (this refuses `::`, `::1`, IPv4-compatible `::/96`, discard `100::/64`,
//!   ULA `fc00::/7`, link-local, site-local, multicast and the reserved space), and inside it
//!   the blocks of the [IANA IPv6 Special-Purpose Address Registry] that are not globally
//!   reachable are refused: IETF protocol assignments `2001::/23`, documentation `2001:db8::/32`
//!   and `3fff::/20`.
//! - IPv6 forms that **carry an IPv4 address** reach that IPv4 host, so the embedded address is
//!   unwrapped and classified as IPv4 first: IPv4-mapped `::ffff:0:0/96` (RFC 4291),
//!   IPv4-translated `::ffff:0:0:0/96` (RFC 2765 §2.1, RFC 6145), the NAT64 well-known prefix
//!   `64:ff9b::/96` (RFC 6052 §2.1, address in the last 32 bits), 6to4 `2002::/16` (RFC 3056
//!   §2, address in bits 16..48) and Teredo `2001::/32` (RFC 4380 §4: the server's IPv4 in bits
//!   32..64 and the client's in the last 32 bits, XOR `0xffffffff`; both must be allowed). The
//!   NAT64 local-use prefix `64:ff9b:1::/48` (RFC 8215) is refused whole: its registry entry is
//!   not globally reachable, and where the IPv4 sits depends on a prefix length only the local
//!   operator knows.
//!
//! Stricter than the registries in one respect: the few globally reachable anycast service
//! addresses inside refused blocks (`192.0.0.9`, `192.0.0.10`, `2001:1::1`–`3`, AMT `2001:3::/32`,
//! ORCHIDv2 `2001:20::/28`, …) are refused too; none of them is ever a registry origin.
//!
//! A name is resolved once and refused when **any** of its addresses is refused (a name that
//! mixes public and private answers is a rebinding attempt, not an origin). `--allow-private-origins`
//! ([`crate::settings::Settings::allow_private_origins`]) turns the address check off, for
//! tests and drills over loopback; nothing else does.
//!
//! # Enforcement
//! [`OutboundGuard::client_builder`] gives a `reqwest` client that never follows redirects,
//! ignores proxy environment variables, resolves names through the guard
//! ([`reqwest::ClientBuilder::dns_resolver`]) and checks IP-literal destinations (which skip
//! DNS) in a connector layer, before any socket is opened. [`OutboundGuard::pinned_client`]
//! also pins the connection to the address it checked, so a second DNS answer cannot differ.
//!
//! [IANA IPv4 Special-Purpose Address Registry]: https://www.iana.org/assignments/iana-ipv4-special-registry/
//! [IANA IPv6 Special-Purpose Address Registry]: https://www.iana.org/assignments/iana-ipv6-special-registry/

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use ipnet::{Ipv4Net, Ipv6Net};
use url::Url;

/// A special-purpose block that makes an address non-global.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialRange {
    /// The block in CIDR notation, e.g. `127.0.0.0/8`.
    pub prefix: &'static str,
    /// What the block is for, e.g. `loopback`.
    pub name: &'static str,
    /// Where the block is defined, e.g. `RFC 1122`.
    pub source: &'static str,
}

impl std::fmt::Display for SpecialRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {})", self.prefix, self.name, self.source)
    }
}

const fn range(prefix: &'static str, name: &'static str, source: &'static str) -> SpecialRange {
    SpecialRange {
        prefix,
        name,
        source,
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(segments: [u16; 8], len: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), len)
}

/// IPv4 blocks that are refused: the IANA IPv4 Special-Purpose Address Registry entries that are
/// not globally reachable, plus multicast.
const REFUSED_V4: &[(Ipv4Net, SpecialRange)] = &[
    (
        v4(0, 0, 0, 0, 8),
        range("0.0.0.0/8", "this network", "RFC 791"),
    ),
    (
        v4(10, 0, 0, 0, 8),
        range("10.0.0.0/8", "private use", "RFC 1918"),
    ),
    (
        v4(100, 64, 0, 0, 10),
        range("100.64.0.0/10", "shared address space", "RFC 6598"),
    ),
    (
        v4(127, 0, 0, 0, 8),
        range("127.0.0.0/8", "loopback", "RFC 1122"),
    ),
    (
        v4(169, 254, 0, 0, 16),
        range("169.254.0.0/16", "link local", "RFC 3927"),
    ),
    (
        v4(172, 16, 0, 0, 12),
        range("172.16.0.0/12", "private use", "RFC 1918"),
    ),
    (
        v4(192, 0, 0, 0, 24),
        range("192.0.0.0/24", "IETF protocol assignments", "RFC 6890"),
    ),
    (
        v4(192, 0, 2, 0, 24),
        range("192.0.2.0/24", "documentation (TEST-NET-1)", "RFC 5737"),
    ),
    (
        v4(192, 88, 99, 0, 24),
        range(
            "192.88.99.0/24",
            "deprecated 6to4 relay anycast",
            "RFC 7526",
        ),
    ),
    (
        v4(192, 168, 0, 0, 16),
        range("192.168.0.0/16", "private use", "RFC 1918"),
    ),
    (
        v4(198, 18, 0, 0, 15),
        range("198.18.0.0/15", "benchmarking", "RFC 2544"),
    ),
    (
        v4(198, 51, 100, 0, 24),
        range("198.51.100.0/24", "documentation (TEST-NET-2)", "RFC 5737"),
    ),
    (
        v4(203, 0, 113, 0, 24),
        range("203.0.113.0/24", "documentation (TEST-NET-3)", "RFC 5737"),
    ),
    (
        v4(224, 0, 0, 0, 4),
        range("224.0.0.0/4", "multicast", "RFC 5771"),
    ),
    (
        v4(240, 0, 0, 0, 4),
        range(
            "240.0.0.0/4",
            "reserved (includes limited broadcast)",
            "RFC 1112, RFC 919",
        ),
    ),
];

/// Global unicast: the only IPv6 space considered (RFC 4291 §2.4, IANA IPv6 Address Space).
const GLOBAL_UNICAST_V6: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// IPv6 blocks refused with a name (the message says which); the rest of the space outside
/// [`GLOBAL_UNICAST_V6`] is refused as [`OUTSIDE_GLOBAL_UNICAST`].
const REFUSED_V6: &[(Ipv6Net, SpecialRange)] = &[
    (
        v6([0, 0, 0, 0, 0, 0, 0, 0], 128),
        range("::/128", "unspecified", "RFC 4291"),
    ),
    (
        v6([0, 0, 0, 0, 0, 0, 0, 1], 128),
        range("::1/128", "loopback", "RFC 4291"),
    ),
    (
        v6([0, 0, 0, 0, 0, 0, 0, 0], 96),
        range("::/96", "deprecated IPv4-compatible", "RFC 4291 §2.5.5.1"),
    ),
    (
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        range(
            "64:ff9b:1::/48",
            "local-use IPv4/IPv6 translation",
            "RFC 8215",
        ),
    ),
    (
        v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
        range("100::/64", "discard-only", "RFC 6666"),
    ),
    (
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        range("2001:db8::/32", "documentation", "RFC 3849"),
    ),
    (
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        range("2001::/23", "IETF protocol assignments", "RFC 2928"),
    ),
    (
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
        range("3fff::/20", "documentation", "RFC 9637"),
    ),
    (
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        range("fc00::/7", "unique local", "RFC 4193"),
    ),
    (
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        range("fe80::/10", "link-local unicast", "RFC 4291"),
    ),
    (
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        range("fec0::/10", "deprecated site-local", "RFC 3879"),
    ),
    (
        v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
        range("ff00::/8", "multicast", "RFC 4291"),
    ),
];

/// Any other IPv6 address outside `2000::/3`.
const OUTSIDE_GLOBAL_UNICAST: SpecialRange = range(
    "outside 2000::/3",
    "not global unicast",
    "RFC 4291 §2.4, IANA IPv6 Address Space",
);

/// The IPv4 address an IPv6 address carries and reaches, per the forms in the module docs
/// (IPv4-mapped, IPv4-translated, NAT64 well-known prefix, 6to4, Teredo). Teredo carries two
/// (server, client): both are returned.
fn embedded_v4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = ip.segments();
    let low = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        // ::ffff:a.b.c.d, IPv4-mapped (RFC 4291 §2.5.5.2).
        [0, 0, 0, 0, 0, 0xffff, g, h] => vec![low(g, h)],
        // ::ffff:0:a.b.c.d, IPv4-translated (RFC 2765 §2.1).
        [0, 0, 0, 0, 0xffff, 0, g, h] => vec![low(g, h)],
        // 64:ff9b::a.b.c.d, NAT64 well-known prefix (RFC 6052 §2.1).
        [0x64, 0xff9b, 0, 0, 0, 0, g, h] => vec![low(g, h)],
        // 2002:AABB:CCDD::/48, 6to4 (RFC 3056 §2).
        [0x2002, b, c, ..] => vec![low(b, c)],
        // 2001:0:SSSS:SSSS:flags:port:CCCC:CCCC, Teredo (RFC 4380 §4); the client is obfuscated.
        [0x2001, 0, c, d, _, _, g, h] => vec![low(c, d), Ipv4Addr::from(!u32::from(low(g, h)))],
        _ => Vec::new(),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static SpecialRange> {
    REFUSED_V4
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, r)| r)
}

/// The special-purpose block that makes `ip` non-global, or `None` when `ip` is a globally
/// routable unicast address (the pure classification of the module docs; no I/O). IPv6 forms
/// carrying an IPv4 address answer for that IPv4 address.
///
/// # Examples
/// ```
/// use sourcegate_control_plane::guard::refused_range;
/// assert_eq!(refused_range("127.0.0.1".parse().unwrap()).unwrap().name, "loopback");
/// assert_eq!(refused_range("64:ff9b::a9fe:a9fe".parse().unwrap()).unwrap().name, "link local");
/// assert!(refused_range("2606:4700::1111".parse().unwrap()).is_none());
/// ```
pub fn refused_range(ip: IpAddr) -> Option<&'static SpecialRange> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            let carried = embedded_v4(v6);
            if !carried.is_empty() {
                return carried.into_iter().find_map(refused_v4);
            }
            if let Some((_, r)) = REFUSED_V6.iter().find(|(net, _)| net.contains(&v6)) {
                return Some(r);
            }
            (!GLOBAL_UNICAST_V6.contains(&v6)).then_some(&OUTSIDE_GLOBAL_UNICAST)
        }
    }
}

/// Whether `ip` is a globally routable unicast address ([`refused_range`] is `None`).
pub fn is_global(ip: IpAddr) -> bool {
    refused_range(ip).is_none()
}

/// Why the guard refused a destination, or could not check it.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The destination (an IP literal or one of a name's addresses) is not globally routable.
    #[error("refused by the outbound guard: {ip} is in {range}")]
    Forbidden {
        /// The refused address.
        ip: IpAddr,
        /// The block it falls in (after unwrapping an embedded IPv4 address).
        range: &'static SpecialRange,
    },
    /// The URL does not parse.
    #[error("invalid url: {0}")]
    InvalidUrl(#[from] url::ParseError),
    /// The URL's scheme is neither `http` nor `https`.
    #[error("only http and https URLs can be requested")]
    Scheme,
    /// The URL has no host.
    #[error("url has no host")]
    NoHost,
    /// The URL has no port and its scheme no default one.
    #[error("url has no port")]
    NoPort,
    /// DNS resolution failed.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// The name.
        host: String,
        /// The resolver's error.
        #[source]
        source: std::io::Error,
    },
    /// The name resolved to no address.
    #[error("{host} resolves to no address")]
    NoAddress {
        /// The name.
        host: String,
    },
    /// The connector layer could not read where a connection goes; it refuses rather than guess
    /// (see [`OutboundGuard::client_builder`]).
    #[error("refused by the outbound guard: the connection's destination cannot be read")]
    UnreadableDestination,
}

impl GuardError {
    /// Whether the guard refused the destination (as opposed to a bad URL or a DNS failure).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            GuardError::Forbidden { .. } | GuardError::UnreadableDestination
        )
    }
}

/// How many hosts' latest refusals [`OutboundGuard`] remembers (the probes follow at most two
/// origins; the bound only keeps a stream of distinct refused names from growing memory).
const REMEMBERED_HOSTS: usize = 64;

/// The outbound request policy of the module docs, with the latest refusal per host so that the
/// health view can say an origin was refused rather than unreachable.
#[derive(Debug)]
pub struct OutboundGuard {
    allow_private: bool,
    /// host (lowercase, IPv6 without brackets) → the latest refusal's message. A std mutex:
    /// held for a map operation, never across an `.await`.
    refusals: Mutex<HashMap<String, String>>,
}

impl OutboundGuard {
    /// A guard; `allow_private` (from `--allow-private-origins`) lets every address through
    /// (tests and drills over loopback only). Redirects and proxy environment variables stay
    /// refused either way.
    pub fn new(allow_private: bool) -> OutboundGuard {
        OutboundGuard {
            allow_private,
            refusals: Mutex::new(HashMap::new()),
        }
    }

    /// Whether private, loopback and other special-purpose addresses are allowed.
    pub fn allow_private(&self) -> bool {
        self.allow_private
    }

    /// Checks one address against the policy.
    ///
    /// # Errors
    /// [`GuardError::Forbidden`] unless `ip` is global or private addresses are allowed.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), GuardError> {
        if self.allow_private {
            return Ok(());
        }
        match refused_range(ip) {
            Some(range) => Err(GuardError::Forbidden { ip, range }),
            None => Ok(()),
        }
    }

    /// The latest refusal of `host` (as in a URL, IPv6 with or without brackets), if its latest
    /// check was refused.
    pub fn refusal(&self, host: &str) -> Option<String> {
        let key = host_key(host);
        self.refusals.lock().ok()?.get(&key).cloned()
    }

    fn record(&self, host: &str, outcome: Result<(), &GuardError>) {
        let Ok(mut map) = self.refusals.lock() else {
            return;
        };
        let key = host_key(host);
        match outcome {
            Ok(()) => {
                map.remove(&key);
            }
            Err(e) => {
                if map.len() >= REMEMBERED_HOSTS && !map.contains_key(&key) {
                    map.clear();
                }
                map.insert(key, e.to_string());
            }
        }
    }

    /// Resolves `host` (a name or an IP literal, IPv6 with or without brackets) once and checks
    /// every address; the answer carries `port`. Remembers the outcome for [`Self::refusal`].
    ///
    /// # Errors
    /// [`GuardError::Forbidden`] when any address is refused; [`GuardError::Resolve`],
    /// [`GuardError::NoAddress`].
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, GuardError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => {
                let span = tracing::debug_span!("guard_resolve", host = %bare);
                match tracing::Instrument::instrument(tokio::net::lookup_host((bare, port)), span)
                    .await
                {
                    Ok(addrs) => addrs.collect(),
                    Err(source) => {
                        // No longer known to be refused: the view reports the probe's error.
                        self.record(bare, Ok(()));
                        return Err(GuardError::Resolve {
                            host: bare.to_owned(),
                            source,
                        });
                    }
                }
            }
        };
        if addrs.is_empty() {
            return Err(GuardError::NoAddress {
                host: bare.to_owned(),
            });
        }
        let verdict = addrs.iter().try_for_each(|a| self.check_ip(a.ip()));
        self.record(bare, verdict.as_ref().map(|_| ()));
        if let Err(e) = &verdict {
            tracing::warn!(host = %bare, error = %e, "outbound request refused");
        }
        verdict.map(|()| addrs)
    }

    /// Checks an `http`/`https` URL: its host is resolved once and every address checked.
    /// Returns the address to pin the connection to (the first one).
    ///
    /// # Errors
    /// [`GuardError::Scheme`], [`GuardError::NoHost`], [`GuardError::NoPort`] and the errors of
    /// [`Self::resolve`].
    pub async fn check_url(&self, url: &Url) -> Result<SocketAddr, GuardError> {
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(GuardError::Scheme);
        }
        let port = url.port_or_known_default().ok_or(GuardError::NoPort)?;
        let host = url.host_str().ok_or(GuardError::NoHost)?;
        let addrs = self.resolve(host, port).await?;
        addrs.first().copied().ok_or_else(|| GuardError::NoAddress {
            host: host.to_owned(),
        })
    }

    /// A `reqwest` client builder enforcing the policy on every connection it opens: no
    /// redirects ([`reqwest::redirect::Policy::none`]), no proxies (environment variables
    /// ignored), names resolved through [`Self::resolve`], and IP-literal destinations (which
    /// skip DNS) checked by a connector layer before connecting. Add timeouts and a user agent,
    /// then build.
    ///
    /// The connector layer reads the destination from the `Debug` form of reqwest's connect
    /// request (reqwest exposes no accessor); should that form ever change, every connection is
    /// refused with [`GuardError::UnreadableDestination`], also under `allow_private`, so the
    /// loopback tests fail at once instead of the check going quiet.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use sourcegate_control_plane::guard::OutboundGuard;
    /// let guard = Arc::new(OutboundGuard::new(false));
    /// let client = guard.client_builder().build()?;
    /// // Refused before any socket is opened: the guard's error is in the source chain.
    /// let err = client.get("http://127.0.0.1:8080/").send().await.unwrap_err();
    /// println!("{err:?}");
    /// # Ok(()) }
    /// ```
    pub fn client_builder(self: &Arc<Self>) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(GuardedResolve {
                guard: Arc::clone(self),
            })
            .connector_layer(GuardLayer {
                guard: Arc::clone(self),
            })
    }

    /// [`Self::client_builder`] for one URL, checked now ([`Self::check_url`]) and pinned to the
    /// checked address, so the request cannot reach an address a second DNS answer would give.
    /// Returns the builder and that address.
    ///
    /// # Errors
    /// Those of [`Self::check_url`].
    pub async fn pinned_client(
        self: &Arc<Self>,
        url: &Url,
    ) -> Result<(reqwest::ClientBuilder, SocketAddr), GuardError> {
        let addr = self.check_url(url).await?;
        let mut builder = self.client_builder();
        if let Some(url::Host::Domain(d)) = url.host() {
            builder = builder.resolve(d, addr);
        }
        Ok((builder, addr))
    }
}

fn host_key(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// reqwest's DNS hook: every name goes through [`OutboundGuard::resolve`].
struct GuardedResolve {
    guard: Arc<OutboundGuard>,
}

impl reqwest::dns::Resolve for GuardedResolve {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = Arc::clone(&self.guard);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = guard.resolve(&host, 0).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The connector layer checking IP-literal destinations (see [`OutboundGuard::client_builder`]).
#[derive(Clone)]
struct GuardLayer {
    guard: Arc<OutboundGuard>,
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> GuardService<S> {
        GuardService {
            inner,
            guard: Arc::clone(&self.guard),
        }
    }
}

#[derive(Clone)]
struct GuardService<S> {
    inner: S,
    guard: Arc<OutboundGuard>,
}

/// The host of reqwest's connect request from its `Debug` form, `Unnameable(<uri>)`; IPv6
/// without brackets.
fn destination_host(debug: &str) -> Option<String> {
    let start = debug.find('(')?;
    let end = debug.rfind(')')?;
    let uri: axum::http::Uri = debug.get(start + 1..end)?.parse().ok()?;
    let host = uri.host()?;
    Some(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
}

impl<S, R> tower::Service<R> for GuardService<S>
where
    S: tower::Service<R, Error = BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    R: std::fmt::Debug,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let Some(host) = destination_host(&format!("{req:?}")) else {
            return Box::pin(std::future::ready(Err(
                GuardError::UnreadableDestination.into()
            )));
        };
        // The same test hyper-util's connector uses to skip DNS: what parses as an address is
        // connected to directly, everything else reaches `GuardedResolve`.
        if let Ok(ip) = host.parse::<IpAddr>() {
            let verdict = self.guard.check_ip(ip);
            self.guard.record(&host, verdict.as_ref().map(|_| ()));
            if let Err(e) = verdict {
                tracing::warn!(%ip, error = %e, "outbound connection refused");
                return Box::pin(std::future::ready(Err(e.into())));
            }
        }
        Box::pin(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Every block of the policy, with the name the refusal reports. Public addresses appear
    /// here only as inputs to the pure classification, never as connect targets.
    #[test]
    fn classification_table() {
        let refused = [
            ("0.0.0.0", "this network"),
            ("0.1.2.3", "this network"),
            ("10.1.2.3", "private use"),
            ("100.64.0.1", "shared address space"),
            ("100.127.255.255", "shared address space"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("169.254.169.254", "link local"),
            ("172.16.0.1", "private use"),
            ("172.31.255.255", "private use"),
            ("192.0.0.1", "IETF protocol assignments"),
            ("192.0.0.9", "IETF protocol assignments"),
            ("192.0.0.170", "IETF protocol assignments"),
            ("192.0.2.1", "documentation (TEST-NET-1)"),
            ("192.88.99.1", "deprecated 6to4 relay anycast"),
            ("192.168.1.1", "private use"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "documentation (TEST-NET-2)"),
            ("203.0.113.9", "documentation (TEST-NET-3)"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved (includes limited broadcast)"),
            ("255.255.255.255", "reserved (includes limited broadcast)"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::7f00:1", "deprecated IPv4-compatible"),
            ("::808:808", "deprecated IPv4-compatible"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private use"),
            ("::ffff:169.254.169.254", "link local"),
            ("::ffff:0:127.0.0.1", "loopback"),
            ("::ffff:0:192.168.0.1", "private use"),
            ("64:ff9b::127.0.0.1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "link local"),
            ("64:ff9b::10.0.0.1", "private use"),
            ("64:ff9b:1::1", "local-use IPv4/IPv6 translation"),
            ("64:ff9b:1::808:808", "local-use IPv4/IPv6 translation"),
            ("100::1", "discard-only"),
            ("100::ffff:ffff:ffff:ffff", "discard-only"),
            ("2002:7f00:1::", "loopback"),
            ("2002:a9fe:a9fe::1", "link local"),
            ("2002:c0a8:101::", "private use"),
            // Teredo: server 8.8.8.8 (public), client 127.0.0.1 ^ 0xffffffff = 80ff:fffe.
            ("2001:0:808:808:0:0:80ff:fffe", "loopback"),
            // Teredo: server 10.0.0.1, client 8.8.8.8 ^ 0xffffffff = f7f7:f7f7.
            ("2001:0:a00:1:0:0:f7f7:f7f7", "private use"),
            ("2001:1::1", "IETF protocol assignments"),
            ("2001:2::1", "IETF protocol assignments"),
            ("2001:20::1", "IETF protocol assignments"),
            ("2001:db8::1", "documentation"),
            ("2001:db8:ffff::1", "documentation"),
            ("3fff::1", "documentation"),
            ("fc00::1", "unique local"),
            ("fd00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("fe80::1", "link-local unicast"),
            ("fec0::1", "deprecated site-local"),
            ("ff02::1", "multicast"),
            ("ff0e::1", "multicast"),
            ("5f00::1", "not global unicast"),
            ("4000::1", "not global unicast"),
        ];
        for (addr, name) in refused {
            let got = refused_range(ip(addr));
            assert_eq!(got.map(|r| r.name), Some(name), "{addr}");
            assert!(!is_global(ip(addr)), "{addr}");
        }
        let allowed = [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700::1111",
            "2a00:1450:4007:80e::200e",
            "::ffff:8.8.8.8",
            "::ffff:0:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            // Teredo with a public server (8.8.8.8) and client (1.1.1.1 ^ ffffffff = fefe:fefe).
            "2001:0:808:808:0:0:fefe:fefe",
            "2001:200::1",
        ];
        for addr in allowed {
            assert_eq!(refused_range(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn allow_private_lets_everything_through_and_the_guard_reports_refusals() {
        let open = OutboundGuard::new(true);
        assert!(open.check_ip(ip("127.0.0.1")).is_ok());
        let closed = OutboundGuard::new(false);
        let e = closed.check_ip(ip("::ffff:127.0.0.1")).unwrap_err();
        assert!(e.is_refusal());
        assert_eq!(
            e.to_string(),
            "refused by the outbound guard: ::ffff:127.0.0.1 is in 127.0.0.0/8 (loopback, RFC 1122)"
        );
    }

    #[test]
    fn destination_host_reads_reqwest_connect_requests() {
        assert_eq!(
            destination_host("Unnameable(http://127.0.0.1:8080/)").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            destination_host("Unnameable(https://[::1]:443/)").as_deref(),
            Some("::1")
        );
        assert_eq!(
            destination_host("Unnameable(http://localhost/)").as_deref(),
            Some("localhost")
        );
        assert_eq!(destination_host("something else"), None);
    }

    #[tokio::test]
    async fn resolve_refuses_a_name_with_a_loopback_address_and_remembers_it() {
        let guard = OutboundGuard::new(false);
        let e = guard.resolve("localhost", 80).await.unwrap_err();
        assert!(e.is_refusal(), "{e}");
        assert!(guard.refusal("LOCALHOST").unwrap().contains("loopback"));
        let e = guard
            .check_url(&"http://[::1]:9/".parse().unwrap())
            .await
            .unwrap_err();
        assert!(e.is_refusal(), "{e}");
        assert!(guard.refusal("[::1]").is_some());
        let open = OutboundGuard::new(true);
        let addr = open
            .check_url(&"http://127.0.0.1:9/".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(addr, "127.0.0.1:9".parse().unwrap());
        assert!(matches!(
            open.check_url(&"ftp://127.0.0.1/".parse().unwrap()).await,
            Err(GuardError::Scheme)
        ));
    }
}
