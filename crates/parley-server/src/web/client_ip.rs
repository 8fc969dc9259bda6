//! The client's address, for the login limits: the TCP peer, or — only when that peer is one of
//! the configured trusted proxies — the address the proxies recorded in `X-Forwarded-For`.
//!
//! Anyone can send `X-Forwarded-For`, so reading it from any peer would let an attacker pick a
//! fresh address for every guess. It is read only from a peer in `trusted_proxies` (none by
//! default), and from right to left: each trusted proxy appends the address it got the request
//! from, so the first address that is not a trusted proxy is the client. What a client wrote
//! itself sits further left and is never reached past an untrusted hop.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::state::AppState;

/// The proxies whose `X-Forwarded-For` is believed: addresses and networks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    /// Parses addresses (`10.0.0.5`, `::1`) and networks (`10.0.0.0/8`, `fd00::/8`); the error
    /// names the entry that is neither.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let nets = entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                IpNet::from_str(entry)
                    .or_else(|_| IpAddr::from_str(entry).map(IpNet::from))
                    .map_err(|_| format!("trusted proxy {entry:?} is not an IP address or network (CIDR)"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies(nets.into()))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An IPv4 address written as IPv6 (`::ffff:1.2.3.4`, what a dual-stack socket reports) is the
/// IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, maybe with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    IpAddr::from_str(entry).ok().or_else(|| SocketAddr::from_str(entry).ok().map(|s| s.ip())).map(canonical)
}

/// The client of a request that reached us from `peer`.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    // Every X-Forwarded-For header, in order, as one list; walked from the nearest hop.
    let hops: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // An entry we cannot read ends the walk at the last hop we could: a trusted proxy.
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    client
}

/// The client's address when the server runs with connection info (`serve` does).
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(ClientIp(peer.map(|peer| client_address(peer, &parts.headers, &state.trusted_proxies))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        headers
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8", " 192.168.1.7 ", "fd00::/8", "::1"]).unwrap();
        assert!(trusted.contains(ip("10.20.30.40")));
        assert!(trusted.contains(ip("192.168.1.7")));
        assert!(!trusted.contains(ip("192.168.1.8")));
        assert!(trusted.contains(ip("fd12::1")));
        assert!(trusted.contains(ip("::1")));
        assert!(trusted.contains(ip("::ffff:10.1.2.3")), "IPv4 seen through a dual-stack socket");
        let err = TrustedProxies::parse(&["10.0.0.0/8", "proxy.example"]).unwrap_err();
        assert!(err.contains("proxy.example"), "{err}");
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::default().is_empty());
    }

    #[test]
    fn forwarded_for_is_read_only_from_a_trusted_peer() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(client_address(ip("10.0.0.2"), &headers, &trusted), ip("203.0.113.9"));
        assert_eq!(client_address(ip("198.51.100.1"), &headers, &trusted), ip("198.51.100.1"), "untrusted peer");
        assert_eq!(client_address(ip("10.0.0.2"), &headers, &TrustedProxies::default()), ip("10.0.0.2"), "none set");
        assert_eq!(client_address(ip("10.0.0.2"), &HeaderMap::new(), &trusted), ip("10.0.0.2"), "no header");
    }

    #[test]
    fn the_walk_stops_at_the_first_untrusted_hop_from_the_right() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        // The client wrote "1.1.1.1" itself; the proxy chain appended the real address and one
        // inner proxy.
        let headers = forwarded(&["1.1.1.1, 203.0.113.9", "10.0.0.7"]);
        assert_eq!(client_address(ip("10.0.0.2"), &headers, &trusted), ip("203.0.113.9"));
        // Only proxies: the leftmost one is as close to the client as we know.
        assert_eq!(client_address(ip("10.0.0.2"), &forwarded(&["10.0.0.9, 10.0.0.8"]), &trusted), ip("10.0.0.9"));
        // Junk ends the walk at the last readable hop.
        assert_eq!(
            client_address(ip("10.0.0.2"), &forwarded(&["203.0.113.9, junk, 10.0.0.8"]), &trusted),
            ip("10.0.0.8")
        );
        // Ports and brackets are tolerated.
        assert_eq!(client_address(ip("10.0.0.2"), &forwarded(&["[2001:db8::5]:443"]), &trusted), ip("2001:db8::5"));
        assert_eq!(client_address(ip("10.0.0.2"), &forwarded(&["203.0.113.9:5000"]), &trusted), ip("203.0.113.9"));
    }
}
