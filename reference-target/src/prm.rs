//! RFC 9728 Protected Resource Metadata: the document, where it is served, and the URL that
//! challenges advertise in `resource_metadata`.
//!
//! The conformant target serves the document only at the path-inserted well-known URL
//! (`/.well-known/oauth-protected-resource` followed by the MCP path), which is the URL a client
//! derives from the resource identifier (RFC 9728 §3.1). The metadata variants change exactly one
//! of: where the document is served, what it says, or what the challenges point at.

use serde_json::{Value, json};

use crate::variant::Variant;

/// The well-known URI suffix registered by RFC 9728.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The `resource_name` the target advertises.
pub const RESOURCE_NAME: &str = "mcp-auth-conformance reference target";

/// Where metadata documents are served and what challenges advertise.
#[derive(Debug, Clone, PartialEq)]
pub struct PrmPlan {
    /// Each route path with the JSON document served there.
    pub routes: Vec<(String, Value)>,
    /// The `resource_metadata` URL for challenges; `None` when challenges carry none.
    pub challenge_url: Option<String>,
}

/// The path-inserted well-known path for an MCP endpoint at `mcp_path`, e.g.
/// `/.well-known/oauth-protected-resource/mcp`. A root endpoint has nothing to insert.
pub fn well_known_path(mcp_path: &str) -> String {
    let path = mcp_path.trim_end_matches('/');
    format!("{WELL_KNOWN}{path}")
}

/// The metadata document for `resource`, with the variant's one change to its content.
pub fn document(variant: Variant, resource: &str, issuer: &str) -> Value {
    let resource = match variant {
        // prm-resource-fragment: RFC 9728 §1.2 forbids a fragment in the resource identifier.
        Variant::PrmResourceFragment => format!("{resource}#mcp"),
        // prm-resource-trailing-slash: the identifier no longer equals the endpoint URL.
        Variant::PrmResourceTrailingSlash => format!("{resource}/"),
        _ => resource.to_owned(),
    };
    let authorization_servers: Vec<String> = match variant {
        // prm-empty-authorization-servers: the client learns no authorization server.
        Variant::PrmEmptyAuthorizationServers => vec![],
        // prm-unresolvable-as: the advertised issuer has no metadata to discover.
        Variant::PrmUnresolvableAs => {
            vec![format!("{}/nowhere", issuer.trim_end_matches('/'))]
        }
        _ => vec![issuer.to_owned()],
    };
    let bearer_methods: &[&str] = if variant == Variant::PrmAdvertisesQuery {
        // prm-advertises-query: advertises a method the target (rightly) refuses.
        &["header", "query"]
    } else {
        &["header"]
    };
    // Only the scope every request needs: MCP leaves scopes_supported incomplete if the server
    // likes, and clients learn an operation's extra scopes from its challenge.
    let mut scopes_supported = vec!["mcp:tools"];
    // offline-access-advertised: refresh tokens are not a resource requirement (MCP 2026-07-28,
    // Authorization: Refresh Tokens).
    if variant == Variant::OfflineAccessAdvertised {
        scopes_supported.push("offline_access");
    }
    let mut document = json!({
        "resource": resource,
        "authorization_servers": authorization_servers,
        "scopes_supported": scopes_supported,
        "bearer_methods_supported": bearer_methods,
        "resource_name": RESOURCE_NAME,
    });
    if variant.speaks_dpop() {
        document["dpop_signing_alg_values_supported"] = json!(crate::dpop::ALGS);
    }
    // prm-http-jwks-uri: RFC 9728 §2 requires the https scheme for jwks_uri, and MCP every URL
    // of a remote server (Communication Security); this one is plain http on a public name.
    if variant == Variant::PrmHttpJwksUri {
        document["jwks_uri"] = json!("http://keys.example.com/mcp/jwks.json");
    }
    document
}

/// Decides the metadata routes and the challenge URL for a target whose origin is `origin`
/// (`http://127.0.0.1:PORT`), serving MCP at `mcp_path`, with resource identifier `resource`.
pub fn plan(
    variant: Variant,
    origin: &str,
    mcp_path: &str,
    resource: &str,
    issuer: &str,
) -> PrmPlan {
    let well_known = well_known_path(mcp_path);
    let doc = document(variant, resource, issuer);
    match variant {
        // no-prm: no metadata anywhere, and nothing to point at.
        Variant::NoPrm => PrmPlan {
            routes: vec![],
            challenge_url: None,
        },
        // prm-root-only: the document sits at the root well-known URL, which RFC 9728 reserves
        // for a resource whose identifier has no path.
        Variant::PrmRootOnly => PrmPlan {
            routes: vec![(WELL_KNOWN.to_owned(), doc)],
            challenge_url: Some(format!("{origin}{WELL_KNOWN}")),
        },
        // prm-wellknown-mismatch: challenges point at a private URL holding the right
        // document, while the well-known URL holds one for the bare origin.
        Variant::PrmWellknownMismatch => {
            let private = format!("/prm{}", mcp_path.trim_end_matches('/'));
            let origin_doc = document(variant, origin, issuer);
            PrmPlan {
                challenge_url: Some(format!("{origin}{private}")),
                routes: vec![(private, doc), (well_known, origin_doc)],
            }
        }
        // no-resource-metadata-param: the document is served but never advertised.
        Variant::NoResourceMetadataParam => PrmPlan {
            routes: vec![(well_known, doc)],
            challenge_url: None,
        },
        _ => PrmPlan {
            challenge_url: Some(format!("{origin}{well_known}")),
            routes: vec![(well_known, doc)],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "http://127.0.0.1:4000";
    const MCP: &str = "http://127.0.0.1:4000/mcp";
    const ISS: &str = "http://127.0.0.1:9400";

    #[test]
    fn conformant_plan_serves_the_path_inserted_url() {
        let plan = plan(Variant::Conformant, ORIGIN, "/mcp", MCP, ISS);
        assert_eq!(
            plan.challenge_url.as_deref(),
            Some("http://127.0.0.1:4000/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(plan.routes.len(), 1);
        assert_eq!(
            plan.routes[0].0,
            "/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            plan.routes[0].1,
            json!({
                "resource": MCP,
                "authorization_servers": [ISS],
                "scopes_supported": ["mcp:tools"],
                "bearer_methods_supported": ["header"],
                "resource_name": "mcp-auth-conformance reference target",
            })
        );
    }

    #[test]
    fn well_known_path_handles_root_and_trailing_slash() {
        assert_eq!(well_known_path("/"), WELL_KNOWN);
        assert_eq!(
            well_known_path("/a/b/"),
            "/.well-known/oauth-protected-resource/a/b"
        );
    }

    #[test]
    fn metadata_variants_change_one_thing() {
        let doc = |v| document(v, MCP, ISS);
        assert_eq!(
            doc(Variant::PrmResourceFragment)["resource"],
            "http://127.0.0.1:4000/mcp#mcp"
        );
        assert_eq!(
            doc(Variant::PrmResourceTrailingSlash)["resource"],
            "http://127.0.0.1:4000/mcp/"
        );
        assert_eq!(
            doc(Variant::PrmEmptyAuthorizationServers)["authorization_servers"],
            json!([])
        );
        assert_eq!(
            doc(Variant::PrmUnresolvableAs)["authorization_servers"],
            json!(["http://127.0.0.1:9400/nowhere"])
        );
        assert_eq!(
            doc(Variant::PrmAdvertisesQuery)["bearer_methods_supported"],
            json!(["header", "query"])
        );
        let mismatch = plan(Variant::PrmWellknownMismatch, ORIGIN, "/mcp", MCP, ISS);
        assert_eq!(
            mismatch.challenge_url.as_deref(),
            Some("http://127.0.0.1:4000/prm/mcp")
        );
        assert_eq!(mismatch.routes[0].1["resource"], MCP);
        assert_eq!(
            mismatch.routes[1].0,
            "/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(mismatch.routes[1].1["resource"], ORIGIN);
        let root = plan(Variant::PrmRootOnly, ORIGIN, "/mcp", MCP, ISS);
        assert_eq!(root.routes[0].0, WELL_KNOWN);
        assert_eq!(root.routes[0].1["resource"], MCP);
        assert!(
            plan(Variant::NoPrm, ORIGIN, "/mcp", MCP, ISS)
                .routes
                .is_empty()
        );
        let hidden = plan(Variant::NoResourceMetadataParam, ORIGIN, "/mcp", MCP, ISS);
        assert_eq!(hidden.challenge_url, None);
        assert_eq!(hidden.routes.len(), 1);
    }
}
