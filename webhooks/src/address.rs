//! Where a webhook may be sent: only to public addresses, so that a
//! workspace admin cannot make the server call into its own network
//! (loopback, private, link-local, shared and unique-local ranges, and the
//! IPv4 addresses IPv6 can wrap). The URL's host is resolved when a webhook is
//! made or changed (`check_url`), and again at every connection by the
//! dispatcher, so a name that later resolves elsewhere is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// How long a look-up of a webhook's host may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// Which addresses deliveries may reach.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// `SUNDAY_WEBHOOK_ALLOW_PRIVATE=true`: every address (tests on loopback).
    pub allow_private: bool,
}

/// Why a URL may not be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("is not an http or https URL with a host")]
    NotAUrl,
    #[error("names a host that does not resolve")]
    Unresolved,
    #[error("resolves to a loopback, link-local or private address")]
    Private,
}

impl AddressPolicy {
    /// Whether a delivery may connect to `ip`.
    pub fn allows(self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// Resolves the URL's host and checks every address it gives.
    pub async fn check_url(self, raw: &str) -> Result<Vec<SocketAddr>, Refused> {
        let url = url::Url::parse(raw).map_err(|_| Refused::NotAUrl)?;
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or(Refused::NotAUrl)?;
        let port = url.port_or_known_default().ok_or(Refused::NotAUrl)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let lookup = tokio::net::lookup_host((host, port));
        let addrs: Vec<SocketAddr> = match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
            Ok(Ok(found)) => found.collect(),
            _ => return Err(Refused::Unresolved),
        };
        if addrs.is_empty() {
            return Err(Refused::Unresolved);
        }
        if addrs.iter().any(|a| !self.allows(a.ip())) {
            return Err(Refused::Private);
        }
        Ok(addrs)
    }
}

/// Whether `ip` is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match wrapped_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b); // 100.64.0.0/10, carrier-grade NAT
    let this_network = a == 0; // 0.0.0.0/8
    let reserved = a >= 240; // 240.0.0.0/4 and broadcast
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_documentation()
        || shared
        || this_network
        || reserved)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00; // fc00::/7
    let link_local = first & 0xffc0 == 0xfe80; // fe80::/10
    let documentation = first == 0x2001 && ip.segments()[1] == 0x0db8;
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || unique_local || link_local || documentation)
}

/// The IPv4 address an IPv6 one carries (mapped `::ffff:a.b.c.d`, the old
/// compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`).
fn wrapped_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let compatible = s[..6].iter().all(|x| *x == 0) && !ip.is_loopback() && !ip.is_unspecified();
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|x| *x == 0);
    (compatible || nat64).then_some(low)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().unwrap_or_else(|e| panic!("{s}: {e}")))
    }

    #[test]
    fn private_networks_are_refused_in_every_spelling() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::10.0.0.1",
            "64:ff9b::10.0.0.1",
        ] {
            assert!(!public(private), "{private} is not public");
        }
        for open in ["1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(public(open), "{open} is public");
        }
    }

    #[tokio::test]
    async fn a_url_is_refused_when_its_host_resolves_to_a_private_address() {
        let strict = AddressPolicy::default();
        assert_eq!(strict.check_url("http://127.0.0.1:9/x").await, Err(Refused::Private));
        assert_eq!(strict.check_url("http://[::1]/x").await, Err(Refused::Private));
        assert_eq!(strict.check_url("http://localhost/x").await, Err(Refused::Private));
        assert_eq!(strict.check_url("http://no-such-host.invalid/x").await, Err(Refused::Unresolved));
        assert_eq!(strict.check_url("not a url").await, Err(Refused::NotAUrl));
        let open = AddressPolicy { allow_private: true };
        assert!(open.check_url("http://127.0.0.1:9/x").await.is_ok());
    }
}
