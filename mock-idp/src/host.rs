//! Which `Host` (and `Origin`) values name this server: the control API and the `/` page answer
//! only requests addressed to the IdP itself, so that a web page cannot reach them through DNS
//! rebinding (a name of the attacker's that resolves to 127.0.0.1 arrives with that name in
//! `Host`).
//!
//! A server can have two names at once: the address it is bound to (what a program on the same
//! machine or in the same container uses) and its public issuer URL (`--issuer`, what a reverse
//! proxy or another container forwards), each with its own scheme and port.

use std::net::IpAddr;

/// The authorities a server answers to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Hosts {
    names: Vec<Named>,
}

/// One URL's authorities.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    /// `http` or `https`: an `Origin` names this server only with the same scheme.
    scheme: String,
    port: u16,
    /// The port a `Host` without one means: the scheme's default (a TLS-terminating proxy
    /// forwards `Host: idp.example` for `https://idp.example`).
    default_port: u16,
    /// Host names and IP literals (IPv6 without brackets), lowercase.
    names: Vec<String>,
    /// Bound to every address (`0.0.0.0`, `::`): any IP literal names it. Rebinding needs a
    /// domain name, so IP literals are safe to accept.
    any_ip: bool,
}

impl Hosts {
    /// The authorities of `url` (`http[s]://HOST[:PORT][/path]`): its own host and, for a
    /// loopback one, the other loopback spellings (`localhost`, `127.0.0.1`, `[::1]`).
    pub(crate) fn of(url: &str) -> Hosts {
        let Ok(url) = url::Url::parse(url) else {
            return Hosts::default();
        };
        let default_port = match url.scheme() {
            "https" => 443,
            "http" => 80,
            _ => return Hosts::default(),
        };
        let port = url.port().unwrap_or(default_port);
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
            names: vec![Named {
                scheme: url.scheme().to_owned(),
                port,
                default_port,
                names,
                any_ip,
            }],
        }
    }

    /// These authorities and `other`'s.
    pub(crate) fn and(mut self, other: Hosts) -> Hosts {
        for named in other.names {
            if !self.names.contains(&named) {
                self.names.push(named);
            }
        }
        self
    }

    /// Whether a `Host` header value (`host[:port]`) names this server.
    pub(crate) fn allows(&self, host: &str) -> bool {
        self.names.iter().any(|named| named.allows(host))
    }

    /// Whether an `Origin` header value is this server's own origin (a scheme this server is
    /// reached with and an allowed authority for it, no path).
    pub(crate) fn is_own_origin(&self, origin: &str) -> bool {
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false;
        };
        !authority.contains('/')
            && self
                .names
                .iter()
                .any(|named| named.scheme.eq_ignore_ascii_case(scheme) && named.allows(authority))
    }
}

impl Named {
    fn allows(&self, host: &str) -> bool {
        let Ok(authority) = host.parse::<axum::http::uri::Authority>() else {
            return false;
        };
        if authority.port_u16().unwrap_or(self.default_port) != self.port {
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

    #[test]
    fn a_public_issuer_adds_its_own_name_scheme_and_port() {
        // A container bound to every address, published as https://idp.example.test behind a
        // TLS-terminating proxy.
        let hosts = Hosts::of("http://0.0.0.0:9400").and(Hosts::of("https://idp.example.test"));
        for host in [
            "127.0.0.1:9400",
            "localhost:9400",
            "idp.example.test",
            "idp.example.test:443",
            "IDP.example.test",
        ] {
            assert!(hosts.allows(host), "{host}");
        }
        for host in [
            "idp.example.test:9400",
            "idp.example.test:80",
            "evil.example",
        ] {
            assert!(!hosts.allows(host), "{host}");
        }
        assert!(hosts.is_own_origin("https://idp.example.test"));
        assert!(hosts.is_own_origin("http://localhost:9400"));
        assert!(!hosts.is_own_origin("http://idp.example.test"));
        assert!(!hosts.is_own_origin("https://idp.example.test/x"));
        let plain = Hosts::of("http://idp.example.test:9400");
        assert!(plain.allows("idp.example.test:9400"));
        assert!(!plain.allows("idp.example.test"));
        assert_eq!(Hosts::of("ftp://idp.example.test"), Hosts::default());
    }
}
