//! The only module that sends HTTP to the target.
//!
//! Every exchange has a deadline and a body-size limit, never follows redirects (a redirect is
//! evidence, not a detour), and is recorded as an [`Exchange`] with secrets redacted, so that a
//! slow, huge, looping or lying target can neither hang nor crash the harness.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;

use crate::redact::redact_secrets;
use crate::urls::origin_of;

/// Limits applied to every exchange with the target.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deadline for one whole exchange: connect, send, headers and body.
    pub deadline: Duration,
    /// Largest response body read; the rest is discarded and the exchange marked truncated.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_secs(5),
            max_body: 1024 * 1024,
        }
    }
}

/// An HTTP request to the target, as the harness means to send it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: reqwest::Method,
    pub url: String,
    /// Header name and value pairs, in order; a name may repeat (two `Authorization` headers).
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Request {
    pub fn new(method: reqwest::Method, url: impl Into<String>) -> Request {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A GET that asks for JSON, as metadata fetches do.
    pub fn get_json(url: impl Into<String>) -> Request {
        Request::new(reqwest::Method::GET, url).header("accept", "application/json")
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Sets a header, replacing every value it had (names compare case-insensitively).
    pub fn set_header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.header(name, value)
    }

    /// Removes a header.
    pub fn without_header(mut self, name: &str) -> Request {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    pub fn json_body(mut self, body: &serde_json::Value) -> Request {
        self.body = Some(body.to_string().into_bytes());
        self.headers
            .push(("content-type".into(), "application/json".into()));
        self
    }
}

/// What the target answered, if it answered.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    /// Lowercased header names with every value, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub truncated: bool,
}

impl Response {
    /// All values of one header (name compared case-insensitively).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).into_iter().next()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One recorded request and its outcome: the evidence a finding points at.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub request: Request,
    /// `Err` holds why no response was obtained (deadline, connection refused, ...).
    pub response: Result<Response, String>,
    pub elapsed: Duration,
}

impl Exchange {
    pub fn response(&self) -> Option<&Response> {
        self.response.as_ref().ok()
    }

    pub fn status(&self) -> Option<u16> {
        self.response().map(|r| r.status)
    }

    /// Why no response was obtained; empty when one was.
    pub fn failure(&self) -> &str {
        self.response
            .as_ref()
            .err()
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The status as text, or `no answer`, for messages.
    pub fn status_text(&self) -> String {
        self.status()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "no answer".to_string())
    }

    /// A redacted, size-bounded rendering for reports. Text is cut before it is redacted (with
    /// a margin longer than any token, so a secret at the cut is still recognised), so a huge
    /// answer costs no more than a small one.
    pub fn evidence(&self) -> Evidence {
        const EXCERPT: usize = 600;
        let redact = |text: &str| redact_secrets(bounded(text, EXCERPT + REDACTION_MARGIN));
        let request_headers = self
            .request
            .headers
            .iter()
            .map(|(n, v)| {
                if n.eq_ignore_ascii_case("cookie") {
                    format!("{n}: [REDACTED]")
                } else {
                    format!("{n}: {}", redact(v))
                }
            })
            .collect();
        let request_body = self
            .request
            .body
            .as_ref()
            .map(|b| excerpt(&redact(&String::from_utf8_lossy(b)), EXCERPT));
        let (status, response_headers, response_body, error) = match &self.response {
            Ok(r) => (
                Some(r.status),
                r.headers
                    .iter()
                    .filter(|(n, _)| is_interesting_header(n))
                    .map(|(n, v)| format!("{n}: {}", redact(v)))
                    .collect(),
                if r.body.is_empty() {
                    None
                } else {
                    let mut text = excerpt(&redact(&r.body_text()), EXCERPT);
                    if r.truncated {
                        text.push_str(" [truncated at the size limit]");
                    }
                    Some(text)
                },
                None,
            ),
            Err(e) => (None, Vec::new(), None, Some(e.clone())),
        };
        Evidence {
            request: format!("{} {}", self.request.method, redact(&self.request.url)),
            request_headers,
            request_body,
            status,
            response_headers,
            response_body,
            error,
        }
    }
}

impl Evidence {
    /// Replaces run-specific values (ports, OAuth state, client ids) for committed reports.
    pub fn normalize(&mut self) {
        let run = crate::redact::normalize_run_values;
        self.request = run(&self.request);
        self.request_headers.iter_mut().for_each(|h| *h = run(h));
        self.request_body = self.request_body.as_deref().map(run);
        self.response_headers.iter_mut().for_each(|h| *h = run(h));
        self.response_body = self.response_body.as_deref().map(run);
        self.error = self.error.as_deref().map(run);
    }
}

/// The report's view of an exchange.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evidence {
    pub request: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub request_headers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_headers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_interesting_header(name: &str) -> bool {
    matches!(
        name,
        "www-authenticate"
            | "content-type"
            | "location"
            | "mcp-session-id"
            | "content-length"
            | "cache-control"
    )
}

/// How far past the excerpt text is kept for redaction: longer than any token or secret the
/// harness redacts, so one cut at the excerpt's end is never mistaken for a harmless word.
const REDACTION_MARGIN: usize = 16 * 1024;

/// At most `max` characters of `text` (cut at a character boundary).
fn bounded(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

fn excerpt(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}

/// The `User-Agent` of every request the harness sends.
pub const USER_AGENT: &str = concat!("mcp-auth-conformance/", env!("CARGO_PKG_VERSION"));

/// Whether a request recorded by the mock IdP came from the harness itself (not the target).
pub fn is_own_request(headers: &serde_json::Map<String, serde_json::Value>) -> bool {
    headers
        .get("user-agent")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|ua| ua.starts_with("mcp-auth-conformance/"))
}

/// How the error of an exchange the fetch policy refused begins.
pub const NOT_FETCHED: &str = "not fetched: ";

/// Which URLs the harness may fetch. A target names URLs (its metadata pointer, its
/// authorization servers, their endpoints) and the harness copies answers into reports, so by
/// default it contacts only the target's origin, the authorization servers the target's
/// metadata names and the mock IdP (plus `--allow-origin`), and never a link-local address
/// (169.254.0.0/16, fe80::/10: cloud metadata services live there), whatever a name resolves
/// to. What it refused is kept for the report.
#[derive(Debug, Clone, Default)]
pub struct FetchPolicy {
    inner: Arc<PolicyState>,
}

#[derive(Debug, Default)]
struct PolicyState {
    origins: RwLock<BTreeSet<String>>,
    /// `--allow-origin '*'`: any origin (link-local addresses are still refused).
    any: bool,
    refused: Mutex<BTreeSet<String>>,
}

impl FetchPolicy {
    /// A policy allowing these origins (or URLs, whose origins count), or every origin.
    pub fn allowing(origins: impl IntoIterator<Item = String>, any: bool) -> FetchPolicy {
        let origins = origins
            .into_iter()
            .map(|o| origin_of(&o))
            .filter(|o| !o.is_empty())
            .collect();
        FetchPolicy {
            inner: Arc::new(PolicyState {
                origins: RwLock::new(origins),
                any,
                refused: Mutex::new(BTreeSet::new()),
            }),
        }
    }

    /// Allows the origin of `url` from now on (an authorization server the metadata names).
    pub fn allow(&self, url: &str) {
        let origin = origin_of(url);
        if origin.is_empty() || origin == "null" {
            return;
        }
        if let Ok(mut origins) = self.inner.origins.write() {
            origins.insert(origin);
        }
    }

    /// Whether `url` may be fetched; `Err` says why not (and is remembered for the report).
    pub fn check(&self, url: &str) -> Result<(), String> {
        let why = match url::Url::parse(url) {
            Err(e) => Some(format!("{url} is not a URL ({e})")),
            Ok(u) if !matches!(u.scheme(), "http" | "https") => {
                Some(format!("{url} is not an http(s) URL"))
            }
            Ok(u) if host_is_link_local(&u) => Some(format!(
                "{url} is a link-local address, which the harness never contacts (cloud metadata services live there)"
            )),
            Ok(u) => {
                let origin = u.origin().ascii_serialization();
                let allowed = self.inner.any
                    || self
                        .inner
                        .origins
                        .read()
                        .is_ok_and(|origins| origins.contains(&origin));
                (!allowed).then(|| {
                    format!(
                        "{url} is outside the origins this run contacts (the target's, the authorization servers its metadata names, the mock IdP's); pass --allow-origin {origin} to allow it"
                    )
                })
            }
        };
        match why {
            None => Ok(()),
            Some(why) => {
                if let Ok(mut refused) = self.inner.refused.lock() {
                    refused.insert(why.clone());
                }
                Err(format!("{NOT_FETCHED}{why}"))
            }
        }
    }

    /// Every refusal of the run, sorted.
    pub fn refused(&self) -> Vec<String> {
        self.inner
            .refused
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_link_local())
        }
    }
}

fn host_is_link_local(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => is_link_local(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_link_local(IpAddr::V6(ip)),
        _ => false,
    }
}

/// Resolves host names as the system does, minus link-local addresses, so a name pointed at a
/// metadata service is refused at the address the connection would really use.
#[derive(Debug)]
struct NoLinkLocal;

impl reqwest::dns::Resolve for NoLinkLocal {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_link_local(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "{host} resolves to no address the harness may contact (link-local addresses are never contacted)"
                )
                .into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Sends requests to the target under [`Limits`] and a [`FetchPolicy`], and hands back
/// [`Exchange`]s.
#[derive(Debug, Clone)]
pub struct TargetClient {
    http: reqwest::Client,
    limits: Limits,
    policy: FetchPolicy,
}

impl TargetClient {
    pub fn new(limits: Limits, policy: FetchPolicy) -> Result<TargetClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(limits.deadline)
            .pool_max_idle_per_host(4)
            .user_agent(USER_AGENT)
            .dns_resolver(Arc::new(NoLinkLocal))
            .build()?;
        Ok(TargetClient {
            http,
            limits,
            policy,
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// What the client may fetch.
    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// Sends one request. Never fails: a transport failure, or a URL the policy refuses, is
    /// recorded in the exchange.
    pub async fn send(&self, request: Request) -> Exchange {
        let started = Instant::now();
        if let Err(why) = self.policy.check(&request.url) {
            return Exchange {
                request,
                response: Err(why),
                elapsed: started.elapsed(),
            };
        }
        let response =
            match tokio::time::timeout(self.limits.deadline, self.send_inner(&request)).await {
                Ok(result) => result,
                Err(_) => Err(format!(
                    "no complete answer within the {} ms deadline",
                    self.limits.deadline.as_millis()
                )),
            };
        Exchange {
            request,
            response,
            elapsed: started.elapsed(),
        }
    }

    async fn send_inner(&self, request: &Request) -> Result<Response, String> {
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("bad header name {name:?}: {e}"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| format!("bad header value for {name}: {e}"))?;
            headers.append(name, value);
        }
        let mut builder = self
            .http
            .request(request.method.clone(), &request.url)
            .headers(headers);
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let mut response = builder.send().await.map_err(describe_error)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        let mut truncated = false;
        // SSE answers may stay open after the JSON-RPC response; stop reading once the
        // response we wait for has arrived, so an open stream does not run into the deadline.
        let is_sse = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/event-stream"));
        // A GET that opens an event stream is judged by its status and headers; its body may
        // never end.
        if is_sse && request.method == reqwest::Method::GET {
            return Ok(Response {
                status,
                headers,
                body,
                truncated,
            });
        }
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = self.limits.max_body.saturating_sub(body.len());
                    if chunk.len() > room {
                        body.extend_from_slice(&chunk[..room]);
                        truncated = true;
                        break;
                    }
                    body.extend_from_slice(&chunk);
                    if is_sse && chunk.contains(&b'\n') && crate::rpc::sse_has_response(&body) {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    if body.is_empty() {
                        return Err(describe_error(e));
                    }
                    break;
                }
            }
        }
        Ok(Response {
            status,
            headers,
            body,
            truncated,
        })
    }
}

fn describe_error(e: reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
