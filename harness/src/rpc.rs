//! The JSON-RPC messages of MCP the harness sends, and how an answer is read (a JSON body or an
//! SSE stream): just enough to tell an accepted request from a refused one.
//!
//! The harness reads the wire itself rather than using an MCP client library, because its checks
//! need raw control of headers and must survive targets that answer with nonsense.

use serde_json::{Value, json};

use crate::spec::SpecVersion;

/// The protocol version a modern (2026-07-28) request announces.
pub const MODERN_VERSION: &str = "2026-07-28";

/// An MCP call the harness can send in a scenario step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpCall {
    Initialize,
    Initialized,
    ToolsList,
    Ping,
    ToolsCall {
        name: String,
        arguments: Value,
    },
    ResourcesRead {
        uri: String,
    },
    PromptsGet {
        name: String,
    },
    /// `server/discover` (2026-07-28): versions, capabilities and identity.
    ServerDiscover,
}

impl McpCall {
    pub fn parse(method: &str) -> Option<McpCall> {
        Some(match method {
            "initialize" => McpCall::Initialize,
            "notifications/initialized" => McpCall::Initialized,
            "tools/list" => McpCall::ToolsList,
            "ping" => McpCall::Ping,
            "server/discover" => McpCall::ServerDiscover,
            _ => return None,
        })
    }

    /// The call as the modern era sends it: there is no `initialize` handshake, so the default
    /// request of a scenario (`initialize`) becomes `tools/list`, a method that must be protected;
    /// `None` for the `initialized` notification, which the modern era does not have.
    pub fn in_modern_era(&self) -> Option<McpCall> {
        match self {
            McpCall::Initialize => Some(McpCall::ToolsList),
            McpCall::Initialized => None,
            other => Some(other.clone()),
        }
    }

    /// The JSON-RPC method.
    pub fn method(&self) -> &'static str {
        match self {
            McpCall::Initialize => "initialize",
            McpCall::Initialized => "notifications/initialized",
            McpCall::ToolsList => "tools/list",
            McpCall::Ping => "ping",
            McpCall::ToolsCall { .. } => "tools/call",
            McpCall::ResourcesRead { .. } => "resources/read",
            McpCall::PromptsGet { .. } => "prompts/get",
            McpCall::ServerDiscover => "server/discover",
        }
    }

    /// What the `Mcp-Name` header carries (2026-07-28): the tool, prompt or resource addressed.
    pub fn name(&self) -> Option<&str> {
        match self {
            McpCall::ToolsCall { name, .. } | McpCall::PromptsGet { name } => Some(name),
            McpCall::ResourcesRead { uri } => Some(uri),
            _ => None,
        }
    }

    /// The call's own parameters (without `_meta`).
    fn params(&self, spec: SpecVersion) -> Option<Value> {
        match self {
            McpCall::Initialize => Some(json!({
                "protocolVersion": spec.as_str(),
                "capabilities": {},
                "clientInfo": {"name": "mcp-auth-conformance", "version": env!("CARGO_PKG_VERSION")}
            })),
            McpCall::Initialized | McpCall::Ping => None,
            McpCall::ToolsList | McpCall::ServerDiscover => Some(json!({})),
            McpCall::ToolsCall { name, arguments } => {
                Some(json!({"name": name, "arguments": arguments}))
            }
            McpCall::ResourcesRead { uri } => Some(json!({ "uri": uri })),
            McpCall::PromptsGet { name } => Some(json!({"name": name, "arguments": {}})),
        }
    }

    /// The JSON-RPC message of the legacy era; notifications carry no id.
    pub fn body(&self, id: u64, spec: SpecVersion) -> Value {
        let mut message = json!({"jsonrpc": "2.0", "method": self.method()});
        if !self.is_notification() {
            message["id"] = json!(id);
        }
        if let Some(params) = self.params(spec) {
            message["params"] = params;
        }
        message
    }

    /// The JSON-RPC message of the modern era: every request carries the protocol version, the
    /// client's capabilities and its identity in `params._meta`.
    pub fn modern_body(&self, id: u64) -> Value {
        let mut params = self
            .params(SpecVersion::V2026_07_28)
            .unwrap_or_else(|| json!({}));
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {
                "name": "mcp-auth-conformance",
                "version": env!("CARGO_PKG_VERSION")
            }
        });
        json!({"jsonrpc": "2.0", "id": id, "method": self.method(), "params": params})
    }

    pub fn is_notification(&self) -> bool {
        matches!(self, McpCall::Initialized)
    }
}

/// What a JSON-RPC answer said, read from a JSON body or from an SSE stream.
#[derive(Debug, Clone, PartialEq)]
pub enum RpcOutcome {
    Result(Value),
    Error {
        code: i64,
        message: String,
    },
    /// A 202 to a notification or anything else without a JSON-RPC response in it.
    NoResponse,
    /// The body claimed to be JSON or SSE but could not be read as JSON-RPC.
    Unreadable(String),
}

/// Reads the JSON-RPC response out of a body, given its `Content-Type`.
pub fn read_response(content_type: Option<&str>, body: &[u8]) -> RpcOutcome {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.starts_with("text/event-stream") {
        for data in sse_data(body) {
            if let Ok(value) = serde_json::from_str::<Value>(&data)
                && let Some(outcome) = outcome_of(&value)
            {
                return outcome;
            }
        }
        return if body.is_empty() {
            RpcOutcome::NoResponse
        } else {
            RpcOutcome::Unreadable("no JSON-RPC response in the event stream".into())
        };
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return RpcOutcome::NoResponse;
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => outcome_of(&value).unwrap_or(RpcOutcome::Unreadable(
            "JSON without result or error".into(),
        )),
        Err(e) => RpcOutcome::Unreadable(format!("body is not JSON: {e}")),
    }
}

/// The JSON-RPC response object itself (with an error's `data`), out of a JSON or SSE body.
pub fn response_message(content_type: Option<&str>, body: &[u8]) -> Option<Value> {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let candidates: Vec<Value> = if ct.starts_with("text/event-stream") {
        sse_data(body)
            .iter()
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect()
    } else {
        serde_json::from_slice(body).ok().into_iter().collect()
    };
    candidates.into_iter().find_map(|value| match value {
        Value::Array(items) => items
            .into_iter()
            .find(|v| v.get("result").is_some() || v.get("error").is_some()),
        v if v.get("result").is_some() || v.get("error").is_some() => Some(v),
        _ => None,
    })
}

fn outcome_of(value: &Value) -> Option<RpcOutcome> {
    let value = match value {
        Value::Array(items) => items
            .iter()
            .find(|v| v.get("result").is_some() || v.get("error").is_some())?,
        other => other,
    };
    if let Some(result) = value.get("result") {
        return Some(RpcOutcome::Result(result.clone()));
    }
    let error = value.get("error")?;
    Some(RpcOutcome::Error {
        code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
        message: error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    })
}

/// The `data` payloads of the complete events in an SSE body.
fn sse_data(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    let mut events = Vec::new();
    for block in text.split("\n\n") {
        let data: Vec<&str> = block
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if !data.is_empty() {
            events.push(data.join("\n"));
        }
    }
    events
}

/// True once an SSE body holds a JSON-RPC response, so reading can stop.
pub fn sse_has_response(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    if !text.contains("\n\n") && !text.contains("\r\n\r\n") {
        return false;
    }
    sse_data(body)
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .any(|v| outcome_of(&v).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_and_sse() {
        let body = br#"{"jsonrpc":"2.0","id":1,"result":{"ok":true}}"#;
        assert!(matches!(
            read_response(Some("application/json"), body),
            RpcOutcome::Result(_)
        ));
        let sse = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-1,\"message\":\"no\"}}\n\n";
        assert_eq!(
            read_response(Some("text/event-stream"), sse),
            RpcOutcome::Error {
                code: -1,
                message: "no".into()
            }
        );
        assert!(sse_has_response(sse));
        assert!(!sse_has_response(b"data: {\"jsonrpc\""));
    }

    #[test]
    fn garbage_is_unreadable() {
        assert!(matches!(
            read_response(Some("application/json"), b"<html>"),
            RpcOutcome::Unreadable(_)
        ));
        assert_eq!(read_response(None, b""), RpcOutcome::NoResponse);
    }
}
