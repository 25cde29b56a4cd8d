//! Client ID Metadata Documents (MCP 2025-11-25 client registration, draft-ietf-oauth-client-id-
//! metadata-document): a client whose `client_id` is an HTTPS URL is described by the JSON
//! document at that URL, fetched with a size limit, a deadline, no redirects, and only from
//! global addresses unless a test switch allows private ones (SSRF). The host is resolved once
//! and the connection goes to the vetted addresses; a failed fetch is answered with one generic
//! error, so the fetcher cannot serve as a port scanner.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::Value;

use crate::authz::clients::{
    AuthMethod, AuthMethods, ClientMetadata, ClientRecord, GRANT_TYPES, Origin,
};
use crate::authz::redirect::{RedirectPolicy, registration_problem};
use crate::oauth_error::OAuthError;

/// The largest document accepted (the draft suggests 5 KB).
pub(crate) const MAX_DOCUMENT: usize = 5 * 1024;
/// How long a fetch may take.
const DEADLINE: Duration = Duration::from_secs(5);

/// Rules a fault target skips on purpose (each an `AsDefect`); all false for a correct server.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Lax {
    pub(crate) client_id: bool,
    pub(crate) secret: bool,
    pub(crate) url: bool,
    pub(crate) size: bool,
}

impl Lax {
    pub(crate) fn of(settings: &crate::authz::AuthzSettings) -> Lax {
        use crate::authz::AsDefect as D;
        Lax {
            client_id: settings.has(D::CimdClientIdUnchecked),
            secret: settings.has(D::CimdSecretAccepted),
            url: settings.has(D::CimdUrlUnchecked),
            size: settings.has(D::CimdOversizeAccepted),
        }
    }
}

/// Whether `client_id` is meant as a metadata document URL.
pub(crate) fn is_url_client_id(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

fn refused(description: impl Into<String>) -> OAuthError {
    OAuthError::bad_request("invalid_client", description)
}

/// Why a URL cannot be a client ID, if it cannot.
pub(crate) fn url_problem(client_id: &str, allow_private: bool) -> Option<String> {
    let Ok(url) = url::Url::parse(client_id) else {
        return Some("the client_id URL does not parse".to_owned());
    };
    let secure = url.scheme() == "https" || (allow_private && url.scheme() == "http");
    if !secure {
        return Some("a client_id URL must use https".to_owned());
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Some("a client_id URL must not contain a fragment or credentials".to_owned());
    }
    if url.path() == "/" || url.path().is_empty() {
        return Some("a client_id URL must have a path".to_owned());
    }
    // Dot segments would make two spellings of one client; the url crate has already removed
    // them, so compare with what was sent.
    if url.as_str() != client_id && url.as_str().trim_end_matches('/') != client_id {
        return Some("a client_id URL must be in normal form (no dot segments)".to_owned());
    }
    None
}

/// Whether a fetch may connect to `ip`: a global unicast address, or with `allow_private`
/// (tests only) any unicast address.
fn may_fetch(ip: IpAddr, allow_private: bool) -> bool {
    let never = match ip {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    };
    !never && (allow_private || is_global(ip))
}

/// Whether an address is global: reachable on the public internet and meant for it. Everything
/// the IANA special-purpose registries reserve for one network, one host, documentation,
/// benchmarking, multicast or translation is not, nor is anything not yet allocated.
fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            let reserved = a == 0 // "this network" (RFC 791), 0.0.0.0/8
                || a == 10 // private (RFC 1918)
                || (a == 100 && (b & 0xc0) == 64) // shared address space (RFC 6598), 100.64/10
                || a == 127 // loopback
                || (a == 169 && b == 254) // link-local
                || (a == 172 && (b & 0xf0) == 16) // private, 172.16/12
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, 192.0.0/24
                || (a == 192 && b == 0 && c == 2) // documentation (TEST-NET-1)
                || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (RFC 7526)
                || (a == 192 && b == 168) // private
                || (a == 198 && (b & 0xfe) == 18) // benchmarking (RFC 2544), 198.18/15
                || (a == 198 && b == 51 && c == 100) // documentation (TEST-NET-2)
                || (a == 203 && b == 0 && c == 113) // documentation (TEST-NET-3)
                || a >= 224; // multicast 224/4, reserved 240/4 and broadcast
            !reserved
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            // Global unicast is 2000::/3; everything else (loopback, IPv4-mapped and -compatible,
            // NAT64 64:ff9b::/96, discard 100::/64, unique local fc00::/7, link-local fe80::/10,
            // site-local fec0::/10, multicast ff00::/8, ...) is not.
            let global_unicast = (s[0] & 0xe000) == 0x2000;
            // In 2001::/16: IETF protocol assignments 2001::/23 (Teredo, benchmarking, ORCHID,
            // ...) and documentation 2001:db8::/32.
            let ietf_or_documentation = s[0] == 0x2001 && ((s[1] & 0xfe00) == 0 || s[1] == 0x0db8);
            let reserved = ietf_or_documentation
                || s[0] == 0x2002 // 6to4 (RFC 3056): it carries an IPv4 address
                || (s[0] & 0xfff0) == 0x3ff0; // documentation 3fff::/20 (RFC 9637)
            global_unicast && !reserved
        }
    }
}

/// The only answer a client gets when a fetch fails before a document arrives: which of
/// resolution, connection, TLS, status or time failed is never said, so that the fetcher cannot
/// be used to probe hosts and ports.
const FETCH_FAILED: &str = "the client metadata document could not be fetched";

/// Fetches and checks the document for `client_id`. The host is resolved once; every address
/// must be one a fetch may reach, and the connection goes to those addresses, never to a second
/// resolution (which could answer differently).
pub(crate) async fn fetch(
    client_id: &str,
    allow_private: bool,
    now: i64,
    lax: Lax,
) -> Result<ClientRecord, OAuthError> {
    if let Some(problem) = url_problem(client_id, allow_private)
        // The defect skips the form rules, never the scheme.
        && (!lax.url || problem.contains("https"))
    {
        return Err(refused(problem));
    }
    let url = url::Url::parse(client_id).map_err(|_| refused("bad client_id URL"))?;
    let body = download(&url, allow_private, lax)
        .await
        .map_err(|()| refused(FETCH_FAILED))?;
    if body.len() > MAX_DOCUMENT && !lax.size {
        return Err(refused(format!(
            "the client metadata document exceeds {MAX_DOCUMENT} bytes"
        )));
    }
    let document: Value = serde_json::from_slice(&body)
        .map_err(|e| refused(format!("the client metadata document is not JSON: {e}")))?;
    check_document(client_id, &document, now, lax)
}

/// The body of a 2xx answer at `url` (at most one byte past [`MAX_DOCUMENT`] unless `lax.size`),
/// or `Err` for any failure on the way.
async fn download(url: &url::Url, allow_private: bool, lax: Lax) -> Result<Vec<u8>, ()> {
    let host = url.host_str().ok_or(())?;
    let port = url.port_or_known_default().ok_or(())?;
    let resolved = tokio::time::timeout(
        DEADLINE,
        tokio::net::lookup_host((host.trim_matches(['[', ']']), port)),
    )
    .await
    .map_err(drop)?
    .map_err(drop)?;
    let addrs: Vec<SocketAddr> = resolved.collect();
    if addrs.is_empty() || !addrs.iter().all(|a| may_fetch(a.ip(), allow_private)) {
        return Err(());
    }
    let mut client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(DEADLINE);
    if let Some(url::Host::Domain(name)) = url.host() {
        // The vetted addresses, and only they: no second resolution.
        client = client.resolve_to_addrs(name, &addrs);
    }
    let client = client.build().map_err(drop)?;
    let mut response = client
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(drop)?;
    if !response.status().is_success() {
        return Err(());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(drop)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT && !lax.size {
            break;
        }
    }
    Ok(body)
}

/// Checks a fetched document and turns it into a client.
pub(crate) fn check_document(
    client_id: &str,
    document: &Value,
    now: i64,
    lax: Lax,
) -> Result<ClientRecord, OAuthError> {
    let Some(object) = document.as_object() else {
        return Err(refused(
            "the client metadata document must be a JSON object",
        ));
    };
    if object.get("client_id").and_then(Value::as_str) != Some(client_id) && !lax.client_id {
        return Err(refused(
            "the document's client_id must equal its URL exactly",
        ));
    }
    if (object.contains_key("client_secret") || object.contains_key("client_secret_expires_at"))
        && !lax.secret
    {
        return Err(refused(
            "a client metadata document must not contain a client secret",
        ));
    }
    match object
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
    {
        None | Some("none") => {}
        Some(_) if lax.secret => {}
        Some(other) => {
            return Err(refused(format!(
                "token_endpoint_auth_method {other:?} is not supported for metadata-document clients; use none"
            )));
        }
    }
    let strings = |name: &str| -> Option<Vec<String>> {
        object.get(name)?.as_array().map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
    };
    let redirect_uris = strings("redirect_uris").unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err(refused(
            "the client metadata document lists no redirect_uris",
        ));
    }
    if let Some(problem) = redirect_uris.iter().find_map(|u| registration_problem(u)) {
        return Err(refused(problem));
    }
    let grant_types = strings("grant_types")
        .unwrap_or_else(|| vec!["authorization_code".to_owned(), "refresh_token".to_owned()]);
    if grant_types
        .iter()
        .any(|g| !GRANT_TYPES.contains(&g.as_str()) || g == "client_credentials")
    {
        return Err(refused(
            "unsupported grant_types in the client metadata document",
        ));
    }
    let metadata = ClientMetadata::from_json(object).map_err(refused)?;
    Ok(ClientRecord {
        client_id: client_id.to_owned(),
        client_secret: None,
        auth_method: AuthMethod::None,
        accepted: AuthMethods::only(AuthMethod::None),
        redirect_uris,
        grant_types,
        scope: object
            .get("scope")
            .and_then(Value::as_str)
            .map(str::to_owned),
        redirect_policy: RedirectPolicy::default(),
        client_name: object
            .get("client_name")
            .and_then(Value::as_str)
            .map(str::to_owned),
        origin: Origin::MetadataDocument,
        registration_access_token: None,
        issued_at: now,
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ID: &str = "https://app.example/oauth/client.json";

    #[test]
    fn url_rules() {
        assert_eq!(url_problem(ID, false), None);
        assert!(url_problem("http://app.example/c.json", false).is_some());
        assert_eq!(url_problem("http://127.0.0.1:9/c.json", true), None);
        assert!(url_problem("https://app.example/", false).is_some());
        assert!(url_problem("https://app.example/c.json#x", false).is_some());
        assert!(url_problem("https://u:p@app.example/c.json", false).is_some());
        assert!(url_problem("https://app.example/a/../c.json", false).is_some());
    }

    #[test]
    fn only_global_addresses_are_fetched() {
        let refused = [
            // IPv4: this network, private, shared, loopback, link-local, IETF, documentation,
            // 6to4 relay, benchmarking, multicast, reserved, broadcast.
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            // IPv6: unspecified, loopback, mapped and compatible IPv4, NAT64, discard, IETF
            // (Teredo), documentation, 6to4, unique local, link-local, site-local, multicast.
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:93.184.216.34",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::5db8:d822",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "feff::1",
            "ff02::1",
        ];
        for ip in refused {
            let ip: IpAddr = ip.parse().expect(ip);
            assert!(!is_global(ip), "{ip} is not global");
            assert!(!may_fetch(ip, false), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.254",
            "2606:4700::1",
            "2a00:1450::1",
            "2001:200::1",
        ] {
            let ip: IpAddr = ip.parse().expect(ip);
            assert!(is_global(ip), "{ip} is global");
            assert!(may_fetch(ip, false), "{ip}");
        }
        // The test switch lets private unicast addresses through, never ones no server has.
        for ip in ["127.0.0.1", "10.0.0.1", "::1", "fd00::1", "169.254.1.1"] {
            assert!(may_fetch(ip.parse().expect(ip), true), "{ip}");
        }
        for ip in ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255"] {
            assert!(!may_fetch(ip.parse().expect(ip), true), "{ip}");
        }
    }

    #[tokio::test]
    async fn a_name_is_resolved_once_and_its_vetted_address_used() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let id = format!("http://localhost:{port}/client.json");
        let document = json!({"client_id": id, "redirect_uris": ["http://127.0.0.1/cb"]});
        let body = document.to_string();
        tokio::spawn(async move {
            if let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 2048];
                let _ = stream.read(&mut request).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        // `localhost` resolves to loopback: fetched only with the test switch, and then from
        // the address that resolution gave.
        let client = fetch(&id, true, 0, Lax::default()).await.expect("fetched");
        assert_eq!(client.client_id, id);
    }

    #[tokio::test]
    async fn every_failure_to_fetch_reads_the_same() {
        // A name that resolves to loopback, a closed port, an address no server has: the client
        // learns nothing about which.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        for (id, allow_private) in [
            ("https://localhost/client.json".to_owned(), false),
            (format!("http://127.0.0.1:{closed}/client.json"), true),
            ("https://0.0.0.0/client.json".to_owned(), true),
        ] {
            let err = fetch(&id, allow_private, 0, Lax::default())
                .await
                .expect_err(&id);
            assert_eq!(err.code(), "invalid_client", "{id}");
            assert_eq!(err.description(), Some(FETCH_FAILED), "{id}");
        }
    }

    #[test]
    fn documents_are_checked() {
        let good = json!({"client_id": ID, "client_name": "App", "redirect_uris": ["http://127.0.0.1/cb"]});
        let client = check_document(ID, &good, 0, Lax::default()).expect("valid");
        assert!(client.is_public());
        assert_eq!(client.client_name.as_deref(), Some("App"));
        let mut other_id = good.clone();
        other_id["client_id"] = json!("https://evil.example/c.json");
        assert!(check_document(ID, &other_id, 0, Lax::default()).is_err());
        let mut secret = good.clone();
        secret["client_secret"] = json!("s");
        assert!(check_document(ID, &secret, 0, Lax::default()).is_err());
        let mut jwt = good.clone();
        jwt["token_endpoint_auth_method"] = json!("private_key_jwt");
        assert!(check_document(ID, &jwt, 0, Lax::default()).is_err());
        assert!(check_document(ID, &json!({"client_id": ID}), 0, Lax::default()).is_err());
        assert!(check_document(ID, &json!([ID]), 0, Lax::default()).is_err());
    }
}
