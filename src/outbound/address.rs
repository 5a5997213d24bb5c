//! Which IP addresses an outbound call may never reach.
//!
//! A tenant who can make authlink call a URL of their choice can otherwise use it to probe or
//! attack what sits next to authlink: its database, an admin port on loopback, the cloud metadata
//! service that hands out the host's credentials. This module is the one place that decides which
//! addresses are off limits; both the as-written URL check and the resolver use it. It is a pure
//! function so that every range can be pinned by a table test.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// Cloud metadata endpoints, named first so logs say what was targeted. Every one of them also
/// lies in a forbidden range below; listing them keeps them refused even if a range is relaxed.
const METADATA_V4: &[Ipv4Addr] = &[
    Ipv4Addr::new(169, 254, 169, 254), // AWS, Azure, GCP, DigitalOcean, OpenStack, …
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata
    Ipv4Addr::new(169, 254, 0, 23),    // Tencent Cloud
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
    Ipv4Addr::new(192, 0, 0, 192),     // Oracle Cloud (legacy)
];

/// AWS's IPv6 instance metadata endpoint.
const METADATA_V6: &[Ipv6Addr] = &[Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)];

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(segments: [u16; 8], len: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), len)
}

/// IPv4 ranges that are not the public internet (IANA special-purpose registry, trimmed to what
/// a server-side request could abuse; documentation and benchmarking ranges are refused too
/// because nothing legitimate lives there).
const FORBIDDEN_V4: &[(Ipv4Net, &str)] = &[
    (v4(0, 0, 0, 0, 8), "this-network 0.0.0.0/8"),
    (v4(10, 0, 0, 0, 8), "private 10.0.0.0/8"),
    (v4(100, 64, 0, 0, 10), "shared/CGNAT 100.64.0.0/10"),
    (v4(127, 0, 0, 0, 8), "loopback 127.0.0.0/8"),
    (v4(169, 254, 0, 0, 16), "link-local 169.254.0.0/16"),
    (v4(172, 16, 0, 0, 12), "private 172.16.0.0/12"),
    (v4(192, 0, 0, 0, 24), "IETF protocol assignments 192.0.0.0/24"),
    (v4(192, 0, 2, 0, 24), "documentation 192.0.2.0/24"),
    (v4(192, 88, 99, 0, 24), "6to4 relay anycast 192.88.99.0/24"),
    (v4(192, 168, 0, 0, 16), "private 192.168.0.0/16"),
    (v4(198, 18, 0, 0, 15), "benchmarking 198.18.0.0/15"),
    (v4(198, 51, 100, 0, 24), "documentation 198.51.100.0/24"),
    (v4(203, 0, 113, 0, 24), "documentation 203.0.113.0/24"),
    (v4(224, 0, 0, 0, 4), "multicast 224.0.0.0/4"),
    (v4(240, 0, 0, 0, 4), "reserved/broadcast 240.0.0.0/4"),
];

/// IPv6 ranges refused outright. Ranges that embed an IPv4 address (mapped, NAT64, 6to4) are not
/// here: they are judged by the IPv4 address inside, see [`embedded_v4`].
const FORBIDDEN_V6: &[(Ipv6Net, &str)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified ::"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback ::1"),
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 96), "IPv4-compatible ::/96 (deprecated)"),
    (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), "local-use NAT64 64:ff9b:1::/48"),
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "discard-only 100::/64"),
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), "Teredo 2001::/32"),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), "documentation 2001:db8::/32"),
    (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), "documentation 3fff::/20"),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "unique-local fc00::/7"),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local fe80::/10"),
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), "site-local fec0::/10 (deprecated)"),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast ff00::/8"),
];

const V4_MAPPED: Ipv6Net = v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96);
const V4_TRANSLATED: Ipv6Net = v6([0, 0, 0, 0, 0xffff, 0, 0, 0], 96);
const NAT64: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);
const SIX_TO_FOUR: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);

/// Names the forbidden range `ip` falls in, or `None` when authlink may connect to it.
///
/// The name is for logs only; tenants are told no more than "not allowed".
pub fn forbidden_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => forbidden_v4(ip),
        IpAddr::V6(ip) => forbidden_v6(ip),
    }
}

/// Whether authlink must refuse to connect to `ip` (unless the operator allowlisted the origin).
pub fn is_forbidden(ip: IpAddr) -> bool {
    forbidden_range(ip).is_some()
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if METADATA_V4.contains(&ip) {
        return Some("cloud metadata address");
    }
    FORBIDDEN_V4.iter().find(|(net, _)| net.contains(&ip)).map(|(_, name)| *name)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if METADATA_V6.contains(&ip) {
        return Some("cloud metadata address");
    }
    if let Some(inner) = embedded_v4(ip) {
        return forbidden_v4(inner);
    }
    FORBIDDEN_V6.iter().find(|(net, _)| net.contains(&ip)).map(|(_, name)| *name)
}

/// The IPv4 address an IPv6 address stands for, when the network would deliver it to that IPv4
/// host: `::ffff:a.b.c.d` (mapped, handled by the local stack), `::ffff:0:a.b.c.d` (SIIT),
/// `64:ff9b::a.b.c.d` (NAT64 gateways) and `2002:AABB:CCDD::/48` (6to4). Without this,
/// `[::ffff:127.0.0.1]` would be a way around every IPv4 rule.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let [.., a, b, c, d] = ip.octets();
    if V4_MAPPED.contains(&ip) || V4_TRANSLATED.contains(&ip) || NAT64.contains(&ip) {
        // The low 32 bits are the IPv4 address.
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    if SIX_TO_FOUR.contains(&ip) {
        // 2002:AABB:CCDD::/48: the 32 bits after the 16-bit prefix.
        let [_, _, a, b, c, d, ..] = ip.octets();
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row per range edge or notable address: `true` means refused.
    const CASES: &[(&str, bool)] = &[
        // IPv4 public
        ("8.8.8.8", false),
        ("1.1.1.1", false),
        ("93.184.216.34", false),
        ("11.0.0.1", false),
        ("100.63.255.255", false),
        ("100.128.0.0", false),
        ("126.255.255.255", false),
        ("128.0.0.1", false),
        ("169.253.255.255", false),
        ("169.255.0.0", false),
        ("172.15.255.255", false),
        ("172.32.0.0", false),
        ("192.167.255.255", false),
        ("192.169.0.0", false),
        ("198.17.255.255", false),
        ("198.20.0.0", false),
        ("223.255.255.255", false),
        // IPv4 forbidden
        ("0.0.0.0", true),
        ("0.255.255.255", true),
        ("10.0.0.1", true),
        ("10.255.255.255", true),
        ("100.64.0.0", true),
        ("100.127.255.255", true),
        ("100.100.100.200", true),
        ("127.0.0.1", true),
        ("127.1.2.3", true),
        ("169.254.0.1", true),
        ("169.254.169.254", true),
        ("169.254.170.2", true),
        ("172.16.0.0", true),
        ("172.31.255.255", true),
        ("192.0.0.192", true),
        ("192.0.2.10", true),
        ("192.88.99.1", true),
        ("192.168.0.1", true),
        ("192.168.255.255", true),
        ("198.18.0.1", true),
        ("198.19.255.255", true),
        ("198.51.100.7", true),
        ("203.0.113.9", true),
        ("224.0.0.1", true),
        ("239.255.255.250", true),
        ("240.0.0.1", true),
        ("255.255.255.255", true),
        // IPv6 public
        ("2606:4700:4700::1111", false),
        ("2001:4860:4860::8888", false),
        ("2a00:1450:4001:80b::200e", false),
        ("::ffff:8.8.8.8", false),
        ("64:ff9b::808:808", false),
        ("2002:808:808::1", false),
        // IPv6 forbidden
        ("::", true),
        ("::1", true),
        ("::127.0.0.1", true),
        ("::8.8.8.8", true),
        ("::ffff:127.0.0.1", true),
        ("::ffff:10.1.2.3", true),
        ("::ffff:169.254.169.254", true),
        ("::ffff:0.0.0.0", true),
        ("::ffff:0:127.0.0.1", true),
        ("64:ff9b::127.0.0.1", true),
        ("64:ff9b::a9fe:a9fe", true),
        ("64:ff9b::192.168.1.1", true),
        ("64:ff9b:1::8.8.8.8", true),
        ("2002:7f00:1::", true),
        ("2002:c0a8:101::1", true),
        ("100::1", true),
        ("2001::1", true),
        ("2001:db8::1", true),
        ("3fff::1", true),
        ("fc00::1", true),
        ("fd12:3456::1", true),
        ("fd00:ec2::254", true),
        ("fe80::1", true),
        ("febf:ffff::1", true),
        ("fec0::1", true),
        ("ff02::1", true),
    ];

    #[test]
    fn classifies_every_row() {
        let wrong: Vec<String> = CASES
            .iter()
            .filter_map(|(text, refused)| {
                let ip: IpAddr = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
                (is_forbidden(ip) != *refused).then(|| format!("{text}: expected refused={refused}"))
            })
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn metadata_addresses_are_named_as_such() {
        for text in ["169.254.169.254", "100.100.100.200", "fd00:ec2::254", "::ffff:169.254.169.254"] {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(forbidden_range(ip), Some("cloud metadata address"), "{text}");
        }
    }

    #[test]
    fn agrees_with_std_where_std_is_stable() {
        // Every address std calls loopback, private, link-local, multicast, unspecified or
        // broadcast is refused here too; a cheap cross-check of the hand-written tables.
        let samples = ["127.0.0.1", "10.1.1.1", "172.20.0.1", "192.168.1.1", "169.254.1.1", "224.1.1.1"];
        for text in samples.iter().chain(["0.0.0.0", "255.255.255.255", "::1", "::", "ff05::2"].iter()) {
            let ip: IpAddr = text.parse().unwrap();
            let std_says = match ip {
                IpAddr::V4(v) => {
                    v.is_loopback()
                        || v.is_private()
                        || v.is_link_local()
                        || v.is_multicast()
                        || v.is_unspecified()
                        || v.is_broadcast()
                }
                IpAddr::V6(v) => v.is_loopback() || v.is_multicast() || v.is_unspecified(),
            };
            assert!(std_says && is_forbidden(ip), "{text}");
        }
    }
}
