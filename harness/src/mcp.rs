//! The target's MCP endpoint as the harness addresses it: every request with the headers its
//! era and revision want, what counts as an accepted answer, and what an answer tells of the eras
//! a server speaks.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::rpc::{MODERN_VERSION, McpCall, RpcOutcome, read_response};
use crate::spec::{Era, SpecVersion};
use crate::target::{Exchange, Request};

/// How the requests of one era are made, and the revision its checks are judged by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wire {
    pub era: Era,
    /// The revision the checks of this era are judged against: 2026-07-28 for the modern era;
    /// for the legacy era, the version the target answered `initialize` with (at most the
    /// revision the run judges against).
    pub spec: SpecVersion,
    /// The protocol version the target answered in this era (legacy: `initialize`'s
    /// `protocolVersion`; modern: 2026-07-28 once a modern request was accepted).
    pub protocol_version: Option<String>,
}

impl Wire {
    /// The wire of an era before the target said anything, for a run judging `spec`.
    pub fn before_answer(era: Era, spec: SpecVersion) -> Wire {
        Wire {
            era,
            spec: match era {
                Era::Modern => SpecVersion::V2026_07_28,
                Era::Legacy => spec.min(SpecVersion::V2025_11_25),
            },
            protocol_version: None,
        }
    }

    /// `legacy (2025-11-25)`: the era and the version the target answered in it.
    pub fn describe(&self) -> String {
        match &self.protocol_version {
            Some(v) => format!("{} ({v})", self.era),
            None => self.era.to_string(),
        }
    }
}

/// The MCP endpoint of one run: its URL, the revision a legacy `initialize` asks for, and the
/// JSON-RPC id counter.
#[derive(Debug)]
pub struct McpEndpoint {
    /// The MCP endpoint URL exactly as given.
    pub url: String,
    /// The revision the run judges against, which `initialize` asks for.
    pub spec: SpecVersion,
    next_id: AtomicU64,
}

impl McpEndpoint {
    pub fn new(url: String, spec: SpecVersion) -> McpEndpoint {
        McpEndpoint {
            url,
            spec,
            next_id: AtomicU64::new(1),
        }
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The `MCP-Protocol-Version` a request after the handshake carries in `wire`'s era.
    pub fn version_header(&self, wire: &Wire) -> String {
        match wire.era {
            Era::Modern => MODERN_VERSION.to_string(),
            Era::Legacy => wire
                .protocol_version
                .clone()
                .unwrap_or_else(|| self.spec.as_str().to_string()),
        }
    }

    /// A POST of one JSON-RPC message in `wire`'s era, with `Authorization` values and (legacy
    /// era) a session.
    pub fn request(
        &self,
        wire: &Wire,
        call: &McpCall,
        authorization: &[String],
        session: Option<&str>,
    ) -> Request {
        let mut request = Request::new(reqwest::Method::POST, self.url.clone())
            .header("accept", "application/json, text/event-stream");
        let body = match (wire.era, call.in_modern_era()) {
            (Era::Modern, Some(call)) => {
                // Every modern request names its version and method in headers that must agree
                // with the body (MCP 2026-07-28, Streamable HTTP: Request Metadata).
                request = request
                    .header("mcp-protocol-version", MODERN_VERSION)
                    .header("mcp-method", call.method());
                if let Some(name) = call.name() {
                    request = request.header("mcp-name", name);
                }
                call.modern_body(self.next_id())
            }
            _ => {
                // The version header belongs to requests after initialization (MCP Streamable
                // HTTP, 2025-06-18 and 2025-11-25).
                if *call != McpCall::Initialize {
                    request = request.header("mcp-protocol-version", self.version_header(wire));
                }
                call.body(self.next_id(), self.spec)
            }
        };
        for value in authorization {
            request = request.header("authorization", value.clone());
        }
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.json_body(&body)
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

/// What a valid token's request in one era says of the era.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EraAnswer {
    /// The server speaks the era (it accepted the request, or refused it the way only a server
    /// of that era would).
    Spoken,
    /// The server does not speak the era; why.
    NotSpoken(String),
    /// Neither can be told (a refused token, no answer): the era is judged, and its positive
    /// control failed.
    Unknown,
}

/// The JSON-RPC errors a 2026-07-28 server answers malformed modern requests with (MCP 2026-07-28,
/// Base Protocol: Error Codes): `HeaderMismatch`, `MissingRequiredClientCapability`,
/// `UnsupportedProtocolVersion`; and `Method not found` with 404.
const MODERN_ERRORS: &[i64] = &[-32020, -32021, -32022];

/// Reads what an answer to a valid token's request in `era` tells of the era, the way the spec
/// tells dual-era clients to (Streamable HTTP: Backward Compatibility): a modern request refused
/// without a recognized modern error body means the server is a legacy one; an `initialize`
/// refused as an unsupported version means a modern-only one.
pub fn era_answer(era: Era, exchange: &Exchange) -> EraAnswer {
    let Some(response) = exchange.response() else {
        return EraAnswer::Unknown;
    };
    if accepted(exchange).is_ok() {
        return EraAnswer::Spoken;
    }
    if matches!(response.status, 401 | 403) {
        return EraAnswer::Unknown;
    }
    // The whole error, `data` included, whether it came as JSON or in an SSE data line (rmcp's
    // modern-only mode answers initialize with an SSE-framed UnsupportedProtocolVersion).
    let error = crate::rpc::response_message(response.header("content-type"), &response.body)
        .or_else(|| serde_json::from_slice::<Value>(&response.body).ok())
        .and_then(|v| v.get("error").cloned());
    let code = error
        .as_ref()
        .and_then(|e| e.get("code"))
        .and_then(Value::as_i64);
    let supported: Vec<String> = error
        .as_ref()
        .and_then(|e| e.pointer("/data/supported"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let offers_modern = supported
        .iter()
        .any(|v| SpecVersion::of_protocol_version(v).is_some_and(SpecVersion::is_modern));
    match era {
        Era::Modern => match code {
            Some(-32022) if !supported.is_empty() && !offers_modern => {
                EraAnswer::NotSpoken(format!(
                    "it answers modern requests with UnsupportedProtocolVersion, supporting only {}",
                    supported.join(", ")
                ))
            }
            Some(c) if MODERN_ERRORS.contains(&c) => EraAnswer::Spoken,
            Some(-32601) if response.status == 404 => EraAnswer::Spoken,
            _ if (400..500).contains(&response.status) => EraAnswer::NotSpoken(format!(
                "a 2026-07-28 request got HTTP {} without a modern JSON-RPC error",
                response.status
            )),
            _ => EraAnswer::Unknown,
        },
        Era::Legacy => match code {
            Some(-32022) => EraAnswer::NotSpoken(format!(
                "it answers initialize with UnsupportedProtocolVersion{}",
                if supported.is_empty() {
                    String::new()
                } else {
                    format!(", supporting {}", supported.join(", "))
                }
            )),
            Some(c) if MODERN_ERRORS.contains(&c) || (c == -32601 && response.status == 404) => {
                EraAnswer::NotSpoken(format!(
                    "it answers initialize with the modern error {c} (HTTP {})",
                    response.status
                ))
            }
            _ => EraAnswer::Unknown,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::exchange;

    fn answer(status: &str, body: &str) -> Exchange {
        exchange(&format!(
            "POST http://127.0.0.1:1/mcp\n=>\n{status}\ncontent-type: application/json\n\n{body}"
        ))
    }

    #[test]
    fn modern_answers() {
        let ok = answer(
            "200",
            r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[],"resultType":"complete"}}"#,
        );
        assert_eq!(era_answer(Era::Modern, &ok), EraAnswer::Spoken);
        let mismatch = answer(
            "400",
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32020,"message":"Header mismatch"}}"#,
        );
        assert_eq!(era_answer(Era::Modern, &mismatch), EraAnswer::Spoken);
        let legacy_capped = answer(
            "400",
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32022,"message":"Unsupported","data":{"supported":["2025-06-18","2025-11-25"],"requested":"2026-07-28"}}}"#,
        );
        assert!(matches!(
            era_answer(Era::Modern, &legacy_capped),
            EraAnswer::NotSpoken(_)
        ));
        let not_initialized = answer(
            "400",
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: Server not initialized"}}"#,
        );
        assert!(matches!(
            era_answer(Era::Modern, &not_initialized),
            EraAnswer::NotSpoken(_)
        ));
        let refused = answer("401", "");
        assert_eq!(era_answer(Era::Modern, &refused), EraAnswer::Unknown);
    }

    #[test]
    fn legacy_answers() {
        let init = answer(
            "200",
            r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25"}}"#,
        );
        assert_eq!(era_answer(Era::Legacy, &init), EraAnswer::Spoken);
        // rmcp in modern-only mode answers initialize with 200 and -32022; the TS SDK with 400.
        for status in ["200", "400"] {
            let modern_only = answer(
                status,
                r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32022,"message":"Unsupported protocol version","data":{"supported":["2026-07-28"],"requested":"2025-11-25"}}}"#,
            );
            assert!(matches!(
                era_answer(Era::Legacy, &modern_only),
                EraAnswer::NotSpoken(_)
            ));
        }
        assert_eq!(
            era_answer(Era::Legacy, &answer("403", "")),
            EraAnswer::Unknown
        );
    }

    #[test]
    fn sse_framed_errors_keep_their_data() {
        let sse = |body: &str| {
            exchange(&format!(
                "POST http://127.0.0.1:1/mcp\n=>\n200\ncontent-type: text/event-stream\n\ndata: {body}\n\n"
            ))
        };
        let modern_only = sse(
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32022,"message":"Unsupported protocol version","data":{"requested":"2025-11-25","supported":["2026-07-28"]}}}"#,
        );
        assert_eq!(
            era_answer(Era::Legacy, &modern_only),
            EraAnswer::NotSpoken(
                "it answers initialize with UnsupportedProtocolVersion, supporting 2026-07-28"
                    .into()
            )
        );
        // A legacy-only server's SSE-framed refusal of a modern request lists no modern version.
        let legacy_only = sse(
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32022,"message":"Unsupported protocol version","data":{"requested":"2026-07-28","supported":["2025-06-18","2025-11-25"]}}}"#,
        );
        assert!(matches!(
            era_answer(Era::Modern, &legacy_only),
            EraAnswer::NotSpoken(_)
        ));
    }

    #[test]
    fn modern_requests_carry_the_headers_their_body_names() {
        let endpoint = McpEndpoint::new("http://127.0.0.1:1/mcp".into(), SpecVersion::LATEST);
        let wire = Wire::before_answer(Era::Modern, SpecVersion::LATEST);
        let call = McpCall::ToolsCall {
            name: "echo".into(),
            arguments: serde_json::json!({}),
        };
        let r = endpoint.request(&wire, &call, &["Bearer t".into()], None);
        let header = |n: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("mcp-protocol-version"), Some("2026-07-28"));
        assert_eq!(header("mcp-method"), Some("tools/call"));
        assert_eq!(header("mcp-name"), Some("echo"));
        let body: Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            body.pointer("/params/_meta/io.modelcontextprotocol~1protocolVersion"),
            Some(&Value::from("2026-07-28"))
        );
        // The default request of a scenario, initialize, is tools/list in the modern era.
        let r = endpoint.request(&wire, &McpCall::Initialize, &[], None);
        let body: Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["method"], "tools/list");
    }
}
