//! The target's MCP endpoint as the harness addresses it: every request with the headers its
//! revision wants, and what counts as an accepted answer.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::rpc::{McpCall, RpcOutcome, read_response};
use crate::spec::SpecVersion;
use crate::target::{Exchange, Request};

/// The MCP endpoint of one run: its URL, the revision judged, the protocol version the target
/// negotiated and the JSON-RPC id counter.
#[derive(Debug)]
pub struct McpEndpoint {
    /// The MCP endpoint URL exactly as given.
    pub url: String,
    pub spec: SpecVersion,
    /// The protocol version the target chose in the positive control's `initialize`, sent in
    /// `MCP-Protocol-Version` on every later request.
    negotiated: OnceLock<String>,
    next_id: AtomicU64,
}

impl McpEndpoint {
    pub fn new(url: String, spec: SpecVersion) -> McpEndpoint {
        McpEndpoint {
            url,
            spec,
            negotiated: OnceLock::new(),
            next_id: AtomicU64::new(1),
        }
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Remembers the version the target negotiated (the first one wins).
    pub fn negotiated(&self, version: &str) {
        let _ = self.negotiated.set(version.to_string());
    }

    /// The protocol version for requests after `initialize`: the negotiated one, else the judged
    /// revision.
    pub fn protocol_version(&self) -> String {
        self.negotiated
            .get()
            .cloned()
            .unwrap_or_else(|| self.spec.as_str().to_string())
    }

    /// A POST of one JSON-RPC message, with `Authorization` values and a session.
    pub fn request(
        &self,
        call: &McpCall,
        authorization: &[String],
        session: Option<&str>,
    ) -> Request {
        let mut request = Request::new(reqwest::Method::POST, self.url.clone())
            .header("accept", "application/json, text/event-stream");
        // The version header belongs to requests after initialization (MCP Streamable HTTP).
        if *call != McpCall::Initialize {
            request = request.header("mcp-protocol-version", self.protocol_version());
        }
        for value in authorization {
            request = request.header("authorization", value.clone());
        }
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.json_body(&call.body(self.next_id(), self.spec))
    }
}

/// Whether an answer to a JSON-RPC request is an acceptance: 2xx with a JSON-RPC result.
pub fn accepted(exchange: &Exchange) -> Result<(), String> {
    let Some(response) = exchange.response() else {
        return Err(format!("no answer: {}", exchange.failure()));
    };
    if !response.is_success() {
        return Err(format!("answered HTTP {}", response.status));
    }
    match read_response(response.header("content-type"), &response.body) {
        RpcOutcome::Result(_) => Ok(()),
        RpcOutcome::Error { code, message } => Err(format!(
            "HTTP {} with JSON-RPC error {code}: {message}",
            response.status
        )),
        RpcOutcome::NoResponse => Err(format!(
            "HTTP {} without a JSON-RPC response",
            response.status
        )),
        RpcOutcome::Unreadable(why) => Err(format!("HTTP {} but {why}", response.status)),
    }
}
