//! What one MCP request asks for, read from its body: the JSON-RPC method, the tool, prompt or
//! resource it addresses, and its era; and the scopes that operation needs.
//!
//! The middleware reads the body itself, never the `Mcp-Method`/`Mcp-Name` headers, to decide
//! what a request may do: a header is a hint for intermediaries, and the body is what the server
//! runs (MCP 2026-07-28, Streamable HTTP: Request Metadata). Two fault variants read the headers
//! instead, each at the one place its rule lives.

use axum::http::HeaderMap;
use serde_json::Value;

use crate::variant::Variant;

/// The protocol version of the stateless wire.
pub const MODERN_VERSION: &str = "2026-07-28";

/// The tool that needs more scope than every other request.
pub const ADMIN_TOOL: &str = "admin_report";

/// The scopes [`ADMIN_TOOL`] needs on top of the scopes every request needs.
pub const ADMIN_SCOPES: &[&str] = &["reports:read", "reports:export"];

/// The target's scope hierarchy: each broader scope and the narrower ones it implies. MCP
/// 2026-07-28 (Authorization, Step-Up Authorization Flow) has servers account for it when they
/// decide whether a token suffices.
pub const SCOPE_HIERARCHY: &[(&str, &[&str])] = &[("reports", ADMIN_SCOPES)];

/// The methods a request without a token may call: discovery says which versions and
/// capabilities the server has, and MCP leaves it to the server whether that is public.
const OPEN_METHODS: &[&str] = &["server/discover"];

/// One JSON-RPC request as the target reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operation {
    /// The JSON-RPC `method`; empty when the body is not a JSON-RPC request.
    pub method: String,
    /// `params.name` (tools, prompts) or `params.uri` (resources).
    pub name: Option<String>,
    /// The request is of the stateless 2026-07-28 wire: its `MCP-Protocol-Version` header or its
    /// `_meta` names that version.
    pub modern: bool,
    /// The HTTP method (a DPoP proof names it).
    pub http_method: String,
}

impl Operation {
    /// Reads the operation of a request from its headers and body (which may be empty or not
    /// JSON at all: then only the era is known).
    pub fn read(headers: &HeaderMap, body: &[u8]) -> Operation {
        let message: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let params = message.get("params");
        let meta_version = params
            .and_then(|p| p.pointer("/_meta/io.modelcontextprotocol~1protocolVersion"))
            .and_then(Value::as_str);
        let header_version = header(headers, "mcp-protocol-version");
        Operation {
            method: message
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            name: params
                .and_then(|p| p.get("name").or_else(|| p.get("uri")))
                .and_then(Value::as_str)
                .map(str::to_owned),
            modern: meta_version == Some(MODERN_VERSION)
                || header_version.as_deref() == Some(MODERN_VERSION),
            http_method: String::new(),
        }
    }

    /// Whether the operation may be called without a token. `header-routed-auth` decides it
    /// from the `Mcp-Method` header, which a client can set to anything.
    pub fn is_open(&self, headers: &HeaderMap, variant: Variant) -> bool {
        let method = if variant == Variant::HeaderRoutedAuth {
            header(headers, "mcp-method").unwrap_or_default()
        } else {
            self.method.clone()
        };
        OPEN_METHODS.contains(&method.as_str())
    }

    /// The scopes this operation needs: `base` (what every request needs) plus the admin tool's.
    pub fn needed_scopes(&self, base: &[String]) -> Vec<String> {
        let mut needed = base.to_vec();
        if self.is_admin_call() {
            needed.extend(ADMIN_SCOPES.iter().map(|s| (*s).to_owned()));
        }
        needed
    }

    /// A call of the tool that needs extra scopes.
    pub fn is_admin_call(&self) -> bool {
        self.method == "tools/call" && self.name.as_deref() == Some(ADMIN_TOOL)
    }
}

/// The scopes a token grants once the hierarchy is applied: each broader scope adds the narrower
/// ones it implies (`scope-hierarchy-ignored` adds none).
pub fn effective_scopes(granted: &[String], variant: Variant) -> Vec<String> {
    let mut scopes = granted.to_vec();
    if variant == Variant::ScopeHierarchyIgnored {
        return scopes;
    }
    for (broad, narrower) in SCOPE_HIERARCHY {
        if granted.iter().any(|g| g == broad) {
            for scope in *narrower {
                if !scopes.iter().any(|s| s == scope) {
                    scopes.push((*scope).to_owned());
                }
            }
        }
    }
    scopes
}

/// The value of a header as text, when it is one.
pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn reads_method_name_and_era_from_the_body() {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin_report","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
        let op = Operation::read(&HeaderMap::new(), body);
        assert_eq!(op.method, "tools/call");
        assert_eq!(op.name.as_deref(), Some("admin_report"));
        assert!(op.modern);
        assert!(op.is_admin_call());
        let legacy = Operation::read(&HeaderMap::new(), br#"{"method":"initialize"}"#);
        assert!(!legacy.modern);
        assert_eq!(
            Operation::read(&HeaderMap::new(), b"not json"),
            Operation::default()
        );
    }

    #[test]
    fn only_the_body_opens_a_method_except_in_the_fault() {
        let mut headers = HeaderMap::new();
        headers.insert("mcp-method", HeaderValue::from_static("server/discover"));
        let op = Operation::read(
            &headers,
            br#"{"method":"tools/call","params":{"name":"echo"}}"#,
        );
        assert!(!op.is_open(&headers, Variant::Conformant));
        assert!(op.is_open(&headers, Variant::HeaderRoutedAuth));
        let discover = Operation::read(&HeaderMap::new(), br#"{"method":"server/discover"}"#);
        assert!(discover.is_open(&HeaderMap::new(), Variant::Conformant));
    }

    #[test]
    fn broader_scopes_imply_narrower_ones() {
        let granted = vec!["mcp:tools".to_owned(), "reports".to_owned()];
        let effective = effective_scopes(&granted, Variant::Conformant);
        assert!(
            ADMIN_SCOPES
                .iter()
                .all(|s| effective.iter().any(|e| e == s))
        );
        assert_eq!(
            effective_scopes(&granted, Variant::ScopeHierarchyIgnored),
            granted
        );
    }
}
