//! [`OutboundGuard`]: the check of every outbound destination, the latest refusal per host,
//! guarded name resolution, and the `reqwest` clients (no redirects, no proxies, DNS through the
//! guard, IP literals checked in a connector layer, optionally pinned to the checked address).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use url::Url;

use super::address::{SpecialRange, refused_range};

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
