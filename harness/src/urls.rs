//! URLs and their parts as browsers and OAuth clients compare them: origins, cookie authorities,
//! paths, loopback hosts. Written once, below everything that sends or judges.

/// `scheme://host:port` of a URL (empty when it is not a URL).
pub fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// `host:port` of a URL, the way cookies are kept.
pub fn authority_of(url: &url::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// The path of a URL without its trailing slashes (empty at the origin's root).
pub fn path_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.path().trim_end_matches('/').to_string())
        .unwrap_or_default()
}

/// Whether a URL's host is a loopback address or `localhost`.
pub fn is_loopback_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether an origin (or any URL) is on a loopback host.
pub fn is_loopback_origin(origin: &str) -> bool {
    url::Url::parse(origin).is_ok_and(|u| is_loopback_host(&u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_origin("http://127.0.0.1:1"));
        assert!(is_loopback_origin("http://[::1]:1"));
        assert!(is_loopback_origin("http://LocalHost:1"));
        assert!(!is_loopback_origin("http://localhost.evil.example"));
        assert!(!is_loopback_origin("not a url"));
    }
}
