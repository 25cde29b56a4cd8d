//! The MCP server behind the auth middleware: four tools, served by rmcp over Streamable HTTP.
//!
//! `echo` proves a call got through; `whoami` reports who the middleware authenticated, read
//! from the [`AuthInfo`] the middleware put into the HTTP request extensions (rmcp hands the
//! request parts to tools); `call_downstream` calls a downstream API (the mock IdP's
//! `/downstream`) with the server's own credential, never the client's token; `admin_report`
//! needs scopes beyond what every request needs (the middleware checks them). Everything
//! protocol-level (initialize, ping, sessions, the GET stream, DELETE, both eras of the wire) is
//! rmcp's.

use std::borrow::Cow;

use std::sync::Arc;

use axum::http::request::Parts;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Extensions, Implementation, ProtocolVersion, ServerCapabilities,
    ServerConfig,
};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::json;

use crate::auth::AuthInfo;
use crate::operation::{ADMIN_SCOPES, effective_scopes};
use crate::variant::Variant;

/// The rmcp tower service type mounted at the MCP path.
pub type McpService = StreamableHttpService<ReferenceServer, LocalSessionManager>;

/// Arguments of the `echo` tool.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct EchoArgs {
    /// The text to send back.
    pub text: String,
}

/// What the server presents to the downstream API: a credential of its own (a real server
/// would obtain one by client credentials or token exchange), never the client's token.
const OWN_DOWNSTREAM_CREDENTIAL: &str = "Bearer reference-target-own-credential";

/// The MCP server handler; one instance per session.
#[derive(Debug, Clone)]
pub struct ReferenceServer {
    variant: Variant,
    /// The downstream API `call_downstream` calls.
    downstream: Arc<str>,
    http: reqwest::Client,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl ReferenceServer {
    /// A handler for a target running `variant`.
    pub fn new(variant: Variant, downstream: Arc<str>, http: reqwest::Client) -> Self {
        ReferenceServer {
            variant,
            downstream,
            http,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Calls the downstream API on the caller's behalf, with this server's own credential."
    )]
    async fn call_downstream(&self, extensions: Extensions) -> String {
        // forwards-token: the client's Authorization header goes downstream as it came.
        let credential = if self.variant == Variant::ForwardsToken {
            extensions
                .get::<Parts>()
                .and_then(|parts| parts.headers.get(axum::http::header::AUTHORIZATION))
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        } else {
            OWN_DOWNSTREAM_CREDENTIAL.to_owned()
        };
        let answer = self
            .http
            .get(&*self.downstream)
            .header(axum::http::header::AUTHORIZATION, credential)
            .send()
            .await;
        match answer {
            Ok(r) => format!("the downstream API answered HTTP {}", r.status().as_u16()),
            Err(e) => format!("the downstream API could not be reached: {e}"),
        }
    }

    #[tool(
        description = "Reports on the server's use; needs the scopes reports:read and reports:export (or reports, which implies both)."
    )]
    fn admin_report(&self, extensions: Extensions) -> CallToolResult {
        // The middleware has already refused under-scoped tokens with 403; only the
        // operation-scope-tool-error fault leaves it to the tool, which answers with a tool error.
        let scopes = extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<AuthInfo>())
            .map(|info| effective_scopes(&info.scopes, self.variant))
            .unwrap_or_default();
        let missing: Vec<&str> = ADMIN_SCOPES
            .iter()
            .copied()
            .filter(|s| !scopes.iter().any(|g| g == s))
            .collect();
        if missing.is_empty() {
            CallToolResult::success(vec![ContentBlock::text("report: nothing to report")])
        } else {
            CallToolResult::error(vec![ContentBlock::text(format!(
                "permission denied: the token lacks {}",
                missing.join(" ")
            ))])
        }
    }

    #[tool(description = "Returns the text it was given.")]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        text
    }

    #[tool(description = "Describes the caller as the bearer-token check authenticated it.")]
    fn whoami(&self, extensions: Extensions) -> String {
        let auth = extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<AuthInfo>());
        let answer = match auth {
            Some(info) => json!({
                "authenticated": true,
                "subject": info.subject,
                "scopes": info.scopes,
                "client_id": info.client_id,
                "verified_by": info.verified_by,
                "variant": self.variant.name(),
            }),
            // Only faults that skip authentication get here.
            None => json!({"authenticated": false, "variant": self.variant.name()}),
        };
        answer.to_string()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ReferenceServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "mcp-auth-conformance-reference-target",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(format!(
                "Reference target for MCP auth conformance, variant {}.",
                self.variant.name()
            ))
    }

    /// modern-only serves 2026-07-28 alone; legacy-only stops at 2025-11-25, the last revision
    /// with `initialize`; every other variant speaks every revision rmcp knows.
    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        match self.variant {
            Variant::ModernOnly => Cow::Owned(vec![ProtocolVersion::V_2026_07_28]),
            Variant::LegacyOnly => {
                Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
            }
            _ => Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS),
        }
    }
}

/// The rmcp service, accepting `Host` values for loopback and for the address the target is
/// bound to: dual-era by default (legacy sessions with `Mcp-Session-Id` after `initialize`, and
/// the stateless 2026-07-28 wire), stateless only for `modern-only` (rmcp's modern-only recipe:
/// no legacy sessions, the version header and `_meta` required).
///
/// `config` carries the cancellation token that ends all sessions at shutdown; `downstream` is
/// the API `call_downstream` calls, with `http`.
pub fn service(
    variant: Variant,
    bound_host: String,
    downstream: String,
    http: reqwest::Client,
    config: StreamableHttpServerConfig,
) -> McpService {
    let downstream: Arc<str> = Arc::from(downstream);
    let mut hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !hosts.contains(&bound_host) {
        hosts.push(bound_host);
    }
    let config = config.with_allowed_hosts(hosts);
    let config = if variant == Variant::ModernOnly {
        config
            .with_legacy_session_mode(false)
            .with_stateless_protocol_metadata_required(true)
    } else {
        config.with_legacy_session_mode(true)
    };
    StreamableHttpService::new(
        move || {
            Ok(ReferenceServer::new(
                variant,
                downstream.clone(),
                http.clone(),
            ))
        },
        Arc::new(LocalSessionManager::default()),
        config,
    )
}
