//! The MCP server behind the auth middleware: two tools, served by rmcp over Streamable HTTP.
//!
//! `echo` proves a call got through; `whoami` reports who the middleware authenticated, read
//! from the [`AuthInfo`] the middleware put into the HTTP request extensions (rmcp hands the
//! request parts to tools). Everything protocol-level (initialize, ping, sessions, the GET stream,
//! DELETE) is rmcp's.

use std::sync::Arc;

use axum::http::request::Parts;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Extensions, Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::json;

use crate::Variant;
use crate::auth::AuthInfo;

/// The rmcp tower service type mounted at the MCP path.
pub type McpService = StreamableHttpService<ReferenceServer, LocalSessionManager>;

/// Arguments of the `echo` tool.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct EchoArgs {
    /// The text to send back.
    pub text: String,
}

/// The MCP server handler; one instance per session.
#[derive(Debug, Clone)]
pub struct ReferenceServer {
    variant: Variant,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl ReferenceServer {
    /// A handler for a target running `variant`.
    pub fn new(variant: Variant) -> Self {
        ReferenceServer {
            variant,
            tool_router: Self::tool_router(),
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
}

/// The rmcp service in stateful mode (it issues `Mcp-Session-Id`), accepting `Host` values for
/// loopback and for the address the target is bound to.
///
/// `config` carries the cancellation token that ends all sessions at shutdown.
pub fn service(
    variant: Variant,
    bound_host: String,
    config: StreamableHttpServerConfig,
) -> McpService {
    let mut hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !hosts.contains(&bound_host) {
        hosts.push(bound_host);
    }
    let config = config
        .with_legacy_session_mode(true)
        .with_allowed_hosts(hosts);
    StreamableHttpService::new(
        move || Ok(ReferenceServer::new(variant)),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}
