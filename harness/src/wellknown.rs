//! The well-known metadata locations in the order MCP clients probe them, and what counts as a
//! metadata document. Written once here, so every check and the login agree on them.

use serde_json::Value;

use crate::target::Exchange;

/// Which discovery document an authorization-server metadata URL is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataKind {
    /// RFC 8414 `oauth-authorization-server`.
    Oauth,
    /// OpenID Connect Discovery `openid-configuration`.
    Oidc,
}

/// The authorization-server metadata URLs of an issuer in the order MCP clients try them
/// (MCP 2025-11-25, Authorization Server Metadata Discovery): for an issuer with a path, RFC 8414
/// path-inserted, OpenID Connect path-inserted, then OpenID Connect appended; for one without,
/// RFC 8414 then OpenID Connect.
pub fn as_metadata_urls(issuer: &str) -> Vec<(String, MetadataKind)> {
    let Ok(url) = url::Url::parse(issuer) else {
        return Vec::new();
    };
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    if path.is_empty() {
        vec![
            (
                format!("{origin}/.well-known/oauth-authorization-server"),
                MetadataKind::Oauth,
            ),
            (
                format!("{origin}/.well-known/openid-configuration"),
                MetadataKind::Oidc,
            ),
        ]
    } else {
        vec![
            (
                format!("{origin}/.well-known/oauth-authorization-server{path}"),
                MetadataKind::Oauth,
            ),
            (
                format!("{origin}/.well-known/openid-configuration{path}"),
                MetadataKind::Oidc,
            ),
            (
                format!("{origin}{path}/.well-known/openid-configuration"),
                MetadataKind::Oidc,
            ),
        ]
    }
}

/// The protected-resource metadata URL RFC 9728 §3.1 derives from a resource URL: the well-known
/// prefix inserted between the origin and the path (the root document when the path is empty).
pub fn prm_path_inserted(resource: &url::Url) -> Option<String> {
    let path = resource.path().trim_end_matches('/');
    (!path.is_empty()).then(|| {
        format!(
            "{}/.well-known/oauth-protected-resource{path}",
            resource.origin().ascii_serialization()
        )
    })
}

/// The protected-resource metadata document at the origin's root.
pub fn prm_root(resource: &url::Url) -> String {
    format!(
        "{}/.well-known/oauth-protected-resource",
        resource.origin().ascii_serialization()
    )
}

/// Reads a 200 JSON object, the only answer that counts as metadata.
pub fn metadata_document(exchange: &Exchange) -> Option<Value> {
    let response = exchange.response()?;
    if response.status != 200 {
        return None;
    }
    match serde_json::from_slice::<Value>(&response.body) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_order_follows_the_mcp_specification() {
        let urls: Vec<String> = as_metadata_urls("https://as.example/tenant1")
            .into_iter()
            .map(|(u, _)| u)
            .collect();
        assert_eq!(
            urls,
            vec![
                "https://as.example/.well-known/oauth-authorization-server/tenant1",
                "https://as.example/.well-known/openid-configuration/tenant1",
                "https://as.example/tenant1/.well-known/openid-configuration",
            ]
        );
        let urls: Vec<String> = as_metadata_urls("https://as.example/")
            .into_iter()
            .map(|(u, _)| u)
            .collect();
        assert_eq!(
            urls,
            vec![
                "https://as.example/.well-known/oauth-authorization-server",
                "https://as.example/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn protected_resource_locations() {
        let u = url::Url::parse("http://127.0.0.1:8000/mcp/").unwrap();
        assert_eq!(
            prm_path_inserted(&u).as_deref(),
            Some("http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(
            prm_root(&u),
            "http://127.0.0.1:8000/.well-known/oauth-protected-resource"
        );
        let root = url::Url::parse("http://127.0.0.1:8000/").unwrap();
        assert_eq!(prm_path_inserted(&root), None);
    }
}
