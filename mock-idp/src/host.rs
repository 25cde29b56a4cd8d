//! Which `Host` (and `Origin`) values name this server: the control API answers only requests
//! addressed to the IdP itself, so that a web page cannot reach it through DNS rebinding (a name
//! of the attacker's that resolves to 127.0.0.1 arrives with that name in `Host`).

use std::net::IpAddr;

/// The authorities a server answers to, derived from its issuer URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hosts {
    port: u16,
    /// Host names and IP literals (IPv6 without brackets), lowercase.
    names: Vec<String>,
    /// Bound to every address (`0.0.0.0`, `::`): any IP literal names it. Rebinding needs a
    /// domain name, so IP literals are safe to accept.
    any_ip: bool,
}

impl Hosts {
    /// The authorities of `issuer` (`http://HOST:PORT[/path]`): its own host and, for a
    /// loopback one, the other loopback spellings (`localhost`, `127.0.0.1`, `[::1]`).
    pub(crate) fn of(issuer: &str) -> Hosts {
        let Ok(url) = url::Url::parse(issuer) else {
            return Hosts {
                port: 0,
                names: Vec::new(),
                any_ip: false,
            };
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let loopback = ["localhost", "127.0.0.1", "::1"].map(str::to_owned);
        let (names, any_ip) = match url.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_unspecified() => (loopback.to_vec(), true),
            Some(url::Host::Ipv6(ip)) if ip.is_unspecified() => (loopback.to_vec(), true),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => {
                (vec![ip.to_string(), "localhost".to_owned()], false)
            }
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => {
                (vec![ip.to_string(), "localhost".to_owned()], false)
            }
            Some(url::Host::Ipv4(ip)) => (vec![ip.to_string()], false),
            Some(url::Host::Ipv6(ip)) => (vec![ip.to_string()], false),
            Some(url::Host::Domain(name)) if name.eq_ignore_ascii_case("localhost") => {
                (loopback.to_vec(), false)
            }
            Some(url::Host::Domain(name)) => (vec![name.to_ascii_lowercase()], false),
            None => (Vec::new(), false),
        };
        Hosts {
            port,
            names,
            any_ip,
        }
    }

    /// Whether a `Host` header value (`host[:port]`) names this server.
    pub(crate) fn allows(&self, host: &str) -> bool {
        let Ok(authority) = host.parse::<axum::http::uri::Authority>() else {
            return false;
        };
        if authority.port_u16().unwrap_or(80) != self.port {
            return false;
        }
        let name = authority.host();
        let bare = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name);
        if self.any_ip && bare.parse::<IpAddr>().is_ok() {
            return true;
        }
        // Compare IP literals as addresses (so `::0:1` is `::1`), names without case.
        match bare.parse::<IpAddr>() {
            Ok(ip) => self
                .names
                .iter()
                .any(|n| n.parse::<IpAddr>().is_ok_and(|own| own == ip)),
            Err(_) => self.names.iter().any(|n| n.eq_ignore_ascii_case(bare)),
        }
    }

    /// Whether an `Origin` header value is this server's own origin (`http://` and an allowed
    /// authority, no path).
    pub(crate) fn is_own_origin(&self, origin: &str) -> bool {
        origin
            .strip_prefix("http://")
            .is_some_and(|authority| !authority.contains('/') && self.allows(authority))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_issuer_answers_to_its_address_and_localhost() {
        let hosts = Hosts::of("http://127.0.0.1:9400");
        for host in ["127.0.0.1:9400", "localhost:9400", "LocalHost:9400"] {
            assert!(hosts.allows(host), "{host}");
        }
        for host in [
            "127.0.0.1:9401",
            "127.0.0.1",
            "evil.example:9400",
            "localhost.evil.example:9400",
            "127.0.0.2:9400",
            "[::1]:9400",
            "",
            "127.0.0.1:9400/x",
        ] {
            assert!(!hosts.allows(host), "{host}");
        }
        assert!(hosts.is_own_origin("http://localhost:9400"));
        assert!(!hosts.is_own_origin("https://localhost:9400"));
        assert!(!hosts.is_own_origin("http://evil.example:9400"));
        assert!(!hosts.is_own_origin("null"));
    }

    #[test]
    fn ipv6_named_and_wildcard_issuers() {
        let v6 = Hosts::of("http://[::1]:8000/tenant");
        assert!(v6.allows("[::1]:8000"));
        assert!(v6.allows("[0:0::1]:8000"));
        assert!(v6.allows("localhost:8000"));
        assert!(!v6.allows("127.0.0.1:8000"));
        let named = Hosts::of("http://localhost:8000");
        for host in ["localhost:8000", "127.0.0.1:8000", "[::1]:8000"] {
            assert!(named.allows(host), "{host}");
        }
        let wildcard = Hosts::of("http://0.0.0.0:8000");
        assert!(wildcard.allows("192.0.2.7:8000"));
        assert!(wildcard.allows("[2001:db8::1]:8000"));
        assert!(!wildcard.allows("rebind.evil.example:8000"));
        let default_port = Hosts::of("http://127.0.0.1");
        assert!(default_port.allows("127.0.0.1"));
        assert!(default_port.allows("127.0.0.1:80"));
    }
}
