//! Redirect URI rules: exact match, except that RFC 8252 §7.3 loopback redirects may change port.

use crate::names::closed_names;

closed_names! {
    /// How a client's registered redirect URIs are compared with the one in a request.
    #[derive(Default)]
    pub enum RedirectPolicy("redirect policy") {
        /// Exact string match, except for loopback redirects (`http://127.0.0.1`, `http://[::1]`,
        /// `http://localhost`), where any port is accepted (RFC 8252 §7.3, OAuth 2.1 §8.4.2).
        #[default]
        LoopbackAnyPort = "loopback-any-port",
        /// Exact string match, loopback included: the common bug that breaks native clients, whose
        /// loopback port changes on every login. For fault tests.
        Strict = "strict",
        /// Any registered URI that is a string prefix of the requested one: an open redirector.
        /// Deliberately wrong, for fault tests.
        Prefix = "prefix",
        /// Any redirect URI at all: deliberately wrong, for fault tests.
        Any = "any",
    }
}

/// Whether `requested` matches one of `registered` under `policy`.
pub(crate) fn matches(policy: RedirectPolicy, registered: &[String], requested: &str) -> bool {
    match policy {
        RedirectPolicy::Any => true,
        RedirectPolicy::Prefix => registered.iter().any(|r| requested.starts_with(r.as_str())),
        RedirectPolicy::Strict => registered.iter().any(|r| r == requested),
        RedirectPolicy::LoopbackAnyPort => registered
            .iter()
            .any(|r| r == requested || same_loopback_ignoring_port(r, requested)),
    }
}

/// Both are `http` loopback URLs equal in everything but the port.
fn same_loopback_ignoring_port(registered: &str, requested: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(registered), url::Url::parse(requested)) else {
        return false;
    };
    if a.scheme() != "http" || b.scheme() != "http" || !is_loopback_host(&a) {
        return false;
    }
    a.host() == b.host()
        && a.path() == b.path()
        && a.query() == b.query()
        && a.fragment().is_none()
        && b.fragment().is_none()
        && a.username() == b.username()
        && a.password() == b.password()
}

/// `127.0.0.1` (any 127/8 address), `[::1]` or `localhost`.
pub(crate) fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Why a redirect URI may not be registered (RFC 7591 §2, OAuth 2.1 §2.3.1), if it may not.
pub(crate) fn registration_problem(uri: &str) -> Option<String> {
    let Ok(url) = url::Url::parse(uri) else {
        return Some(format!("redirect URI {uri:?} is not an absolute URI"));
    };
    if url.fragment().is_some() {
        return Some(format!("redirect URI {uri:?} must not contain a fragment"));
    }
    match url.scheme() {
        "https" => None,
        // Plain http only for loopback redirects of native apps.
        "http" if is_loopback_host(&url) => None,
        "http" => Some(format!(
            "redirect URI {uri:?} uses http on a non-loopback host; use https"
        )),
        // Private-use schemes of native apps (RFC 8252 §7.1) are named after a domain the app's
        // publisher controls, reversed: they contain a dot (`com.example.app:/cb`).
        scheme if scheme.contains('.') => None,
        // Anything else (`javascript:`, `data:`, `file:`, `ftp:`, `ws:`, `about:`, a scheme
        // without a dot, ...) is no place to send an authorization response.
        scheme => Some(format!(
            "redirect URI {uri:?} uses the scheme {scheme:?}; use https, http on a loopback address, or a private-use scheme named after a reversed domain (RFC 8252 §7.1)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(uris: &[&str]) -> Vec<String> {
        uris.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn loopback_ports_may_change_by_default() {
        let r = reg(&["http://127.0.0.1:3000/callback", "https://app.example/cb"]);
        let p = RedirectPolicy::LoopbackAnyPort;
        assert!(matches(p, &r, "http://127.0.0.1:3000/callback"));
        assert!(matches(p, &r, "http://127.0.0.1:51234/callback"));
        assert!(matches(p, &r, "http://127.0.0.1/callback"));
        assert!(!matches(p, &r, "http://127.0.0.1:51234/other"));
        assert!(
            !matches(p, &r, "http://localhost:51234/callback"),
            "host must match"
        );
        assert!(
            !matches(p, &r, "https://app.example:8443/cb"),
            "only loopback"
        );
        assert!(matches(p, &r, "https://app.example/cb"));
        let v6 = reg(&["http://[::1]:1/cb", "http://localhost/cb"]);
        assert!(matches(p, &v6, "http://[::1]:9/cb"));
        assert!(matches(p, &v6, "http://localhost:9/cb"));
    }

    #[test]
    fn strict_prefix_and_any() {
        let r = reg(&["http://127.0.0.1:3000/callback"]);
        assert!(!matches(
            RedirectPolicy::Strict,
            &r,
            "http://127.0.0.1:3001/callback"
        ));
        assert!(matches(
            RedirectPolicy::Prefix,
            &r,
            "http://127.0.0.1:3000/callback/../../evil"
        ));
        assert!(matches(RedirectPolicy::Any, &r, "https://evil.example/"));
    }

    #[test]
    fn registration_rules() {
        assert_eq!(registration_problem("https://a.example/cb"), None);
        assert_eq!(registration_problem("http://127.0.0.1:8/cb"), None);
        assert_eq!(registration_problem("http://localhost/cb"), None);
        assert_eq!(registration_problem("com.example.app:/cb"), None);
        assert!(registration_problem("http://a.example/cb").is_some());
        assert!(registration_problem("https://a.example/cb#x").is_some());
        assert!(registration_problem("/relative").is_some());
        assert!(registration_problem("javascript:alert(1)").is_some());
        for refused in [
            "ftp://a.example/cb",
            "ws://127.0.0.1/cb",
            "wss://a.example/cb",
            "about:blank",
            "data:text/html,x",
            "file:///tmp/cb",
            "myapp:/cb",
            "mailto:a@example.com",
        ] {
            let problem = registration_problem(refused).expect(refused);
            assert!(problem.contains("RFC 8252 §7.1"), "{problem}");
        }
    }
}
