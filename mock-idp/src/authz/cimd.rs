//! Client ID Metadata Documents (MCP 2025-11-25 client registration, draft-ietf-oauth-client-id-
//! metadata-document): a client whose `client_id` is an HTTPS URL is described by the JSON
//! document at that URL, fetched with a size limit, a deadline, no redirects, and never from a
//! loopback or private address unless a test switch allows it (SSRF).

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

use crate::authz::clients::{AuthMethod, ClientMetadata, ClientRecord, GRANT_TYPES, Origin};
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

/// Whether an address is one a metadata fetch must not reach.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// Fetches and checks the document for `client_id`.
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
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<IpAddr> = tokio::time::timeout(
        DEADLINE,
        tokio::net::lookup_host((host.trim_matches(['[', ']']), port)),
    )
    .await
    .map_err(|_| refused("resolving the client_id host timed out"))?
    .map_err(|e| refused(format!("cannot resolve the client_id host: {e}")))?
    .map(|a| a.ip())
    .collect();
    if addrs.is_empty() {
        return Err(refused("the client_id host has no address"));
    }
    if !allow_private && addrs.iter().any(|ip| is_private(*ip)) {
        return Err(refused(
            "the client_id URL resolves to a loopback or private address",
        ));
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(DEADLINE)
        .build()
        .map_err(|e| refused(format!("cannot fetch: {e}")))?;
    let mut response = client
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| refused(format!("fetching the client metadata document failed: {e}")))?;
    if !response.status().is_success() {
        return Err(refused(format!(
            "the client metadata document answered HTTP {} (redirects are not followed)",
            response.status().as_u16()
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| refused(format!("reading the client metadata document failed: {e}")))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT && !lax.size {
            return Err(refused(format!(
                "the client metadata document exceeds {MAX_DOCUMENT} bytes"
            )));
        }
    }
    let document: Value = serde_json::from_slice(&body)
        .map_err(|e| refused(format!("the client metadata document is not JSON: {e}")))?;
    check_document(client_id, &document, now, lax)
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
        any_secret_method: false,
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
    fn private_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "100.64.0.1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1"] {
            assert!(!is_private(ip.parse().expect("ip")), "{ip}");
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
