//! The pure classification of an address: the special-purpose blocks that make it non-global
//! (IPv4 and IPv6, with the IPv6 forms that carry an IPv4 address unwrapped first).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use std::sync::LazyLock;

use ipnet::{IpNet, Ipv6Net};
use serde::Deserialize;

/// A special-purpose block that makes an address non-global.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

const fn v6(segments: [u16; 8], len: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), len)
}

/// The refused blocks, read once from `special_ranges.json` (embedded at build time): `v4`, the
/// IANA IPv4 Special-Purpose Address Registry entries that are not globally reachable, plus
/// multicast; `v6`, IPv6 blocks refused with a name (the message says which); the rest of the
/// space outside [`GLOBAL_UNICAST_V6`] is refused as [`OUTSIDE_GLOBAL_UNICAST`]. Each entry is
/// `{prefix, name, source}` ([`SpecialRange`]); the prefix is parsed into the block matched.
/// `Err` (a table that does not parse, which the tests rule out) refuses every address.
static REFUSED: LazyLock<Result<Tables, String>> = LazyLock::new(|| {
    let raw: RawTables = serde_json::from_str(include_str!("special_ranges.json"))
        .map_err(|e| format!("special_ranges.json: {e}"))?;
    let parse = |r: SpecialRange| -> Result<(IpNet, SpecialRange), String> {
        let net: IpNet = r
            .prefix
            .parse()
            .map_err(|e| format!("special_ranges.json: {}: {e}", r.prefix))?;
        Ok((net, r))
    };
    Ok(Tables {
        v4: raw.v4.into_iter().map(parse).collect::<Result<_, _>>()?,
        v6: raw.v6.into_iter().map(parse).collect::<Result<_, _>>()?,
    })
});

/// `special_ranges.json` as written.
#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'static"))]
struct RawTables {
    v4: Vec<SpecialRange>,
    v6: Vec<SpecialRange>,
}

/// The refused blocks with their parsed prefixes.
struct Tables {
    v4: Vec<(IpNet, SpecialRange)>,
    v6: Vec<(IpNet, SpecialRange)>,
}

/// What every address is refused as when the table did not parse (fail closed).
const TABLE_UNREADABLE: SpecialRange = range(
    "any",
    "special-range table unreadable",
    "control-plane/src/guard/special_ranges.json",
);

/// The first block of `table` holding `ip`.
fn find(table: &[(IpNet, SpecialRange)], ip: IpAddr) -> Option<&SpecialRange> {
    table
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, r)| r)
}

/// Global unicast: the only IPv6 space considered (RFC 4291 §2.4, IANA IPv6 Address Space).
const GLOBAL_UNICAST_V6: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

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
    match &*REFUSED {
        Ok(t) => find(&t.v4, IpAddr::V4(ip)),
        Err(_) => Some(&TABLE_UNREADABLE),
    }
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
            match &*REFUSED {
                Ok(t) => {
                    if let Some(r) = find(&t.v6, IpAddr::V6(v6)) {
                        return Some(r);
                    }
                }
                Err(_) => return Some(&TABLE_UNREADABLE),
            }
            (!GLOBAL_UNICAST_V6.contains(&v6)).then_some(&OUTSIDE_GLOBAL_UNICAST)
        }
    }
}

/// Whether `ip` is a globally routable unicast address ([`refused_range`] is `None`).
pub fn is_global(ip: IpAddr) -> bool {
    refused_range(ip).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded table parses, each family holds only its own blocks, and every prefix is
    /// written as its network (no host bits), so the message names the block matched.
    #[test]
    fn special_range_table_parses() {
        let t = REFUSED.as_ref().expect("special_ranges.json parses");
        assert_eq!((t.v4.len(), t.v6.len()), (15, 12));
        for (net, r) in t.v4.iter().chain(&t.v6) {
            assert_eq!(net.trunc().to_string(), r.prefix);
        }
        assert!(t.v4.iter().all(|(n, _)| matches!(n, IpNet::V4(_))));
        assert!(t.v6.iter().all(|(n, _)| matches!(n, IpNet::V6(_))));
    }

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
}
