//! The one guard every outbound URL goes through (ARCHITECTURE.md "Outbound URLs"): provider base
//! URLs, the media links a provider hands out, and later outgoing webhooks and workflow HTTP steps.
//!
//! A URL passes when it is `https` to one of the target's official hosts (or, for targets open to
//! the public internet, any public host), or when the server's allow-list names it. Otherwise it
//! is refused, and always when it carries credentials (`user:pass@`) or names a loopback,
//! private, link-local, shared or unspecified address. The check runs twice: on the URL text
//! (`check_url`, pure), and when a host name is resolved (`GuardedResolver`), so a public name
//! that resolves to a private address is refused too. `guarded_client` builds the HTTP client
//! with the resolver and a redirect policy that applies the same rule to every hop.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;

/// Meta's Graph API: the only host a channel's base URL may name without the allow-list.
pub const GRAPH_HOSTS: &[&str] = &["graph.facebook.com"];

/// Where Meta's `GET /<media id>` may send a download: the Graph API itself and Meta's media CDN
/// (`lookaside.fbsbx.com` today; a leading dot allows the subdomains of `fbcdn.net`/`fbsbx.com`).
pub const MEDIA_HOSTS: &[&str] = &["graph.facebook.com", "lookaside.fbsbx.com", ".fbsbx.com", ".fbcdn.net"];

/// Google's APIs (Dialogflow, whose regional hosts are `<region>-dialogflow.googleapis.com`, and
/// the OAuth token endpoint `oauth2.googleapis.com`).
pub const GOOGLE_HOSTS: &[&str] = &[".googleapis.com"];

/// Stripe's API (fees top-ups).
pub const STRIPE_HOSTS: &[&str] = &["api.stripe.com"];

/// Twilio's REST API (Messages; media links start there too) and its Content API (templates).
pub const TWILIO_HOSTS: &[&str] = &["api.twilio.com", "content.twilio.com"];

/// 360dialog's Cloud API proxy and its sandbox: sends, media and templates of numbers connected
/// through 360dialog (media downloads go through the same host).
pub const DIALOG360_HOSTS: &[&str] = &["waba-v2.360dialog.io", "waba-sandbox.360dialog.io"];

/// Where Twilio's media links redirect: its CDN when media needs authentication, S3 when not
/// (Twilio's support article on media and HTTP Basic Auth).
pub const TWILIO_MEDIA_HOSTS: &[&str] = &["api.twilio.com", "mms.twiliocdn.com", "s3-external-1.amazonaws.com"];

/// Where provider downloads may be redirected: Meta's media hosts and Twilio's.
const REDIRECT_HOSTS: &[&str] = &[
    "graph.facebook.com",
    "lookaside.fbsbx.com",
    ".fbsbx.com",
    ".fbcdn.net",
    "api.twilio.com",
    "mms.twiliocdn.com",
    "s3-external-1.amazonaws.com",
];

/// Which hosts a URL may name, besides the allow-list.
#[derive(Clone, Copy, Debug)]
pub enum Targets {
    /// Only these hosts, over https (`.example.com` allows the subdomains of `example.com`).
    Official(&'static [&'static str]),
    /// Any host on the public internet, over https (outgoing webhooks, HTTP steps).
    AnyPublic,
}

/// Why a URL was refused; the message is safe to show to the person who typed the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a valid URL")]
    Malformed,
    #[error("only http and https URLs are allowed (and https unless the host is on the allow-list)")]
    Scheme,
    #[error("a URL may not carry a user name or password")]
    Userinfo,
    #[error("{0} is a loopback, private or link-local address")]
    PrivateAddress(String),
    #[error("{0} is not an official provider host nor on the server's allow-list (allow_provider_hosts)")]
    NotAllowed(String),
}

/// Hosts (or base URLs) the server operator allows in addition to the official ones, e.g. a
/// sandbox on `127.0.0.1:9000`. An entry `host` or `host:port` matches any scheme; an entry
/// `scheme://host[:port][/…]` matches that scheme, host and port (the path is ignored: the
/// entry names a server, not a part of it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList(Arc<Vec<AllowedHost>>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct AllowedHost {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
}

impl AllowList {
    /// Parses the operator's entries; an error names the entry that is neither a host nor a URL.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowList, String> {
        let mut hosts = Vec::new();
        for entry in entries {
            let raw = entry.as_ref().trim();
            if raw.is_empty() {
                continue;
            }
            let with_scheme = raw.contains("://");
            let url = Url::parse(&if with_scheme { raw.to_owned() } else { format!("http://{raw}") })
                .map_err(|_| format!("{raw:?} is not a host, host:port or base URL"))?;
            let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| format!("{raw:?} names no host"))?;
            if !url.username().is_empty() || url.password().is_some() {
                return Err(format!("{raw:?} carries a user name or password"));
            }
            hosts.push(AllowedHost {
                scheme: with_scheme.then(|| url.scheme().to_owned()),
                host: host.to_ascii_lowercase(),
                port: if with_scheme { url.port_or_known_default() } else { url.port() },
            });
        }
        Ok(AllowList(Arc::new(hosts)))
    }

    /// This list and the entries of `more`.
    pub fn extended(&self, more: &AllowList) -> AllowList {
        AllowList(Arc::new(self.0.iter().chain(more.0.iter()).cloned().collect()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when an entry names this URL's server.
    pub fn allows(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else { return false };
        self.0.iter().any(|a| {
            a.host == host.to_ascii_lowercase()
                && a.scheme.as_deref().is_none_or(|s| s == url.scheme())
                && a.port.is_none_or(|p| Some(p) == url.port_or_known_default())
        })
    }

    /// True when an entry names this host (whatever the port): its addresses are not checked.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.0.iter().any(|a| a.host == host)
    }
}

/// Checks an outbound URL before anything is sent to it.
pub fn check_url(raw: &str, targets: Targets, allow: &AllowList) -> Result<Url, Refused> {
    let url = Url::parse(raw.trim()).map_err(|_| Refused::Malformed)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refused::Scheme);
    }
    // `https://graph.facebook.com@evil.example` reads as one host and goes to another.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused::Userinfo);
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else { return Err(Refused::Malformed) };
    if allow.allows(&url) {
        return Ok(url);
    }
    // The URL parser has already turned `2130706433`, `0x7f.1` and `017700000001` into 127.0.0.1.
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>()
        && !is_public_ip(ip)
    {
        return Err(Refused::PrivateAddress(ip.to_string()));
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return Err(Refused::PrivateAddress(name));
    }
    let official = match targets {
        Targets::Official(hosts) => hosts.iter().any(|h| host_matches(h, &name)),
        Targets::AnyPublic => true,
    };
    if !official {
        return Err(Refused::NotAllowed(name));
    }
    if url.scheme() != "https" {
        return Err(Refused::Scheme);
    }
    Ok(url)
}

fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix('.') {
        Some(domain) => host.strip_suffix(domain).is_some_and(|sub| sub.ends_with('.') && sub.len() > 1),
        None => pattern == host,
    }
}

/// True for an address on the public internet: not loopback, private (10/8, 172.16/12,
/// 192.168/16, fc00::/7), link-local (169.254/16, fe80::/10), shared (100.64/10), unspecified,
/// broadcast, documentation, multicast or reserved; IPv4-mapped and -compatible IPv6 addresses
/// are judged as the IPv4 address they carry.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0                           // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    // `::a.b.c.d` (deprecated IPv4-compatible) and NAT64 `64:ff9b::a.b.c.d` reach IPv4 hosts.
    let embedded_v4 = |ip: Ipv6Addr| {
        let o = ip.octets();
        Ipv4Addr::new(o[12], o[13], o[14], o[15])
    };
    if ip.segments()[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified() {
        return is_public_v4(embedded_v4(ip));
    }
    if ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded_v4(ip));
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_unique_local()          // fc00::/7
        || ip.is_unicast_link_local()    // fe80::/10
        || (first & 0xffc0) == 0xfec0    // deprecated site-local
        || first == 0x2001 && ip.segments()[1] == 0xdb8) // documentation
}

/// Resolves host names and drops the addresses `is_public_ip` refuses, unless the allow-list
/// names the host: a name that only resolves to private addresses fails to connect.
#[derive(Clone, Debug, Default)]
pub struct GuardedResolver {
    allow: AllowList,
}

impl GuardedResolver {
    pub fn new(allow: AllowList) -> Self {
        GuardedResolver { allow }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allowed = self.allow.allows_host(&host);
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let usable = public_addresses(found, allowed);
            if usable.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(usable.into_iter()) as Addrs)
        })
    }
}

/// The addresses a connection may use: all of them for an allowed host, the public ones otherwise.
pub fn public_addresses(found: Vec<SocketAddr>, host_allowed: bool) -> Vec<SocketAddr> {
    found.into_iter().filter(|a| host_allowed || is_public_ip(a.ip())).collect()
}

/// An HTTP client for provider calls: the guarded resolver, redirects followed (at most 5) only
/// to URLs the guard passes for the providers' media hosts (`REDIRECT_HOSTS`: Meta's and
/// Twilio's, a superset of the API hosts), timeouts.
/// reqwest drops the `Authorization` header when a redirect changes host, port or scheme.
pub fn guarded_client(allow: &AllowList) -> reqwest::Client {
    let for_redirects = allow.clone();
    let policy = redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            attempt.error("too many redirects")
        } else if let Err(e) = check_url(attempt.url().as_str(), Targets::Official(REDIRECT_HOSTS), &for_redirects) {
            attempt.error(format!("redirect refused: {e}"))
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .dns_resolver(GuardedResolver::new(allow.clone()))
        .redirect(policy)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default()
}

/// A client like [`guarded_client`] that follows no redirect at all: for providers whose
/// credential travels in a header of their own (360dialog's `D360-API-KEY`), which reqwest does
/// not strip when a redirect leaves the host as it does `Authorization`.
pub fn guarded_client_without_redirects(allow: &AllowList) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(GuardedResolver::new(allow.clone()))
        .redirect(redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default()
}

/// An HTTP client for outgoing webhooks: the guarded resolver, no redirects (a receiver that
/// answers 3xx has not taken the event), a short timeout so a slow receiver holds back only its
/// own subscription.
pub fn webhook_client(allow: &AllowList, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(GuardedResolver::new(allow.clone()))
        .redirect(redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .user_agent("Parley-Webhooks/1")
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRAPH: Targets = Targets::Official(GRAPH_HOSTS);

    fn none() -> AllowList {
        AllowList::default()
    }

    fn refused(url: &str) -> Refused {
        check_url(url, GRAPH, &none()).expect_err(url)
    }

    #[test]
    fn twilio_calls_go_to_twilio_and_downloads_follow_only_to_its_media_hosts() {
        let twilio = Targets::Official(TWILIO_HOSTS);
        assert!(check_url("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json", twilio, &none()).is_ok());
        assert!(check_url("https://graph.facebook.com/v24.0/1/messages", twilio, &none()).is_err());
        assert!(
            check_url("https://mms.twiliocdn.com/AC1/x", twilio, &none()).is_err(),
            "credentials go to the API only"
        );
        let redirects = Targets::Official(REDIRECT_HOSTS);
        for url in [
            "https://mms.twiliocdn.com/AC1/x",
            "https://s3-external-1.amazonaws.com/b/x",
            "https://lookaside.fbsbx.com/x",
        ] {
            assert!(check_url(url, redirects, &none()).is_ok(), "{url}");
        }
        for url in ["https://s3.amazonaws.com/other", "https://evil.example/x", "http://169.254.169.254/latest"] {
            assert!(check_url(url, redirects, &none()).is_err(), "{url}");
        }
    }

    #[test]
    fn official_hosts_pass_over_https_only() {
        assert!(check_url("https://graph.facebook.com/v24.0", GRAPH, &none()).is_ok());
        assert!(check_url("https://GRAPH.facebook.com./v24.0", GRAPH, &none()).is_ok());
        assert_eq!(refused("http://graph.facebook.com/v24.0"), Refused::Scheme);
        assert_eq!(
            refused("https://graph.facebook.com.evil.example/"),
            Refused::NotAllowed("graph.facebook.com.evil.example".into())
        );
        assert_eq!(refused("https://evil.example/v24.0"), Refused::NotAllowed("evil.example".into()));
        assert_eq!(refused("ftp://graph.facebook.com/"), Refused::Scheme);
        assert_eq!(refused("not a url"), Refused::Malformed);
    }

    #[test]
    fn userinfo_is_refused_even_for_official_hosts() {
        assert_eq!(refused("https://graph.facebook.com@evil.example/"), Refused::Userinfo);
        assert_eq!(refused("https://user:pw@graph.facebook.com/"), Refused::Userinfo);
        let allow = AllowList::parse(&["127.0.0.1"]).unwrap();
        assert_eq!(check_url("http://u@127.0.0.1/", GRAPH, &allow), Err(Refused::Userinfo));
    }

    #[test]
    fn loopback_private_link_local_and_odd_spellings_are_refused() {
        for url in [
            "https://127.0.0.1/",
            "https://127.8.9.1/",
            "https://[::1]/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://172.31.255.255/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://100.127.255.255/",
            "https://0.0.0.0/",
            "https://[::]/",
            "https://[fc00::1]/",
            "https://[fd12:3456::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:169.254.169.254]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[64:ff9b::10.0.0.1]/",
            "https://2130706433/",
            "https://0x7f000001/",
            "https://0177.0.0.1/",
            "https://0x7f.1/",
            "https://127.1/",
            "https://localhost/",
            "https://LOCALHOST./",
            "https://api.localhost/",
        ] {
            assert!(matches!(refused(url), Refused::PrivateAddress(_)), "{url}: {:?}", refused(url));
        }
        // Public addresses are not official hosts either, but for another reason.
        assert!(matches!(refused("https://8.8.8.8/"), Refused::NotAllowed(_)));
        assert!(matches!(refused("https://172.32.0.1/"), Refused::NotAllowed(_)));
        assert!(matches!(refused("https://100.128.0.1/"), Refused::NotAllowed(_)));
    }

    #[test]
    fn public_ip_rules() {
        let public = ["8.8.8.8", "1.1.1.1", "172.15.0.1", "2606:4700::1111", "::ffff:8.8.8.8"];
        for ip in public {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip}");
        }
        let private = [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fdff::1",
            "fe80::1",
            "febf::1",
            "::ffff:192.168.0.1",
            "::127.0.0.1",
            "2001:db8::1",
        ];
        for ip in private {
            assert!(!is_public_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn the_allow_list_opens_named_servers_only() {
        let allow = AllowList::parse(&["127.0.0.1:9000", "http://sandbox.internal", "10.0.0.5"]).unwrap();
        assert!(check_url("http://127.0.0.1:9000/v24.0", GRAPH, &allow).is_ok());
        assert!(check_url("https://127.0.0.1:9000/v24.0", GRAPH, &allow).is_ok());
        assert!(matches!(check_url("http://127.0.0.1:9001/", GRAPH, &allow), Err(Refused::PrivateAddress(_))));
        assert!(check_url("http://sandbox.internal/v1", GRAPH, &allow).is_ok());
        assert!(check_url("http://sandbox.internal:80/v1", GRAPH, &allow).is_ok());
        assert!(check_url("https://sandbox.internal/v1", GRAPH, &allow).is_err(), "the entry named http");
        assert!(check_url("http://sandbox.internal:8080/v1", GRAPH, &allow).is_err(), "the entry named port 80");
        assert!(check_url("http://10.0.0.5:1234/", GRAPH, &allow).is_ok(), "a bare host allows any port");
        assert!(check_url("http://localhost:9000/", GRAPH, &allow).is_err(), "another spelling is another host");
        assert!(allow.allows_host("SANDBOX.internal."));
        assert!(!allow.allows_host("evil.example"));
        assert!(AllowList::parse(&["http://"]).is_err());
        assert!(AllowList::parse(&["http://u:p@host"]).is_err());
        assert!(AllowList::parse(&[" ", ""]).unwrap().is_empty());
        let both = allow.extended(&AllowList::parse(&["localhost"]).unwrap());
        assert!(both.allows_host("localhost") && both.allows_host("10.0.0.5"));
    }

    #[test]
    fn media_may_come_from_the_cdn_and_public_targets_take_any_public_host() {
        let media = Targets::Official(MEDIA_HOSTS);
        assert!(check_url("https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1", media, &none()).is_ok());
        assert!(check_url("https://scontent.xx.fbcdn.net/v/t1", media, &none()).is_ok());
        assert!(check_url("https://fbcdn.net.evil.example/", media, &none()).is_err());
        assert!(check_url("https://evilfbcdn.net/", media, &none()).is_err());
        assert!(check_url("https://hooks.example.com/in", Targets::AnyPublic, &none()).is_ok());
        assert!(check_url("https://10.0.0.1/in", Targets::AnyPublic, &none()).is_err());
        assert!(check_url("http://hooks.example.com/in", Targets::AnyPublic, &none()).is_err());
    }

    #[test]
    fn resolved_private_addresses_are_dropped_unless_the_host_is_allowed() {
        let found: Vec<SocketAddr> =
            vec!["10.0.0.1:0".parse().unwrap(), "8.8.8.8:0".parse().unwrap(), "[::1]:0".parse().unwrap()];
        assert_eq!(public_addresses(found.clone(), false), vec!["8.8.8.8:0".parse().unwrap()]);
        assert_eq!(public_addresses(found.clone(), true), found);
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_with_only_private_addresses() {
        let refused = GuardedResolver::default().resolve("localhost".parse().unwrap()).await;
        assert!(refused.is_err());
        let allowed = GuardedResolver::new(AllowList::parse(&["localhost"]).unwrap());
        let addrs: Vec<SocketAddr> = allowed.resolve("localhost".parse().unwrap()).await.unwrap().collect();
        assert!(!addrs.is_empty());
    }
}
