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
//! # Layout
//! - `address`: the pure classification of an address ([`refused_range`], [`is_global`]) over
//!   the special-purpose tables;
//! - `special_ranges.json`: those tables (`prefix`, `name`, `source` per block), embedded at
//!   build time;
//! - `client`: [`OutboundGuard`] (the check, the remembered refusals, name resolution) and the
//!   `reqwest` clients that enforce it.
//!
//! [IANA IPv4 Special-Purpose Address Registry]: https://www.iana.org/assignments/iana-ipv4-special-registry/
//! [IANA IPv6 Special-Purpose Address Registry]: https://www.iana.org/assignments/iana-ipv6-special-registry/

mod address;
mod client;

pub use address::{SpecialRange, is_global, refused_range};
pub use client::{GuardError, OutboundGuard};
