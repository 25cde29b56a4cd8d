//! Built-in probes: rules that need several requests, a comparison across documents, or the mock
//! IdP's view of what the target did. Scenario files name them with `probe = "..."`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::challenge;
use crate::context::Ctx;
use crate::discovery::{Facts, PrmRole, accepted, mcp_request, metadata_document};
use crate::error::HarnessError;
use crate::idp::MintedToken;
use crate::mcp::McpCall;
use crate::runner::StepOutcome;
use crate::scenario::Probe;
use crate::target::{Exchange, Request};

pub async fn run(ctx: &Ctx, facts: &Facts, probe: Probe) -> Result<StepOutcome, HarnessError> {
    Ok(match probe {
        Probe::PrmDiscovery => prm_discovery(facts),
        Probe::PrmPathInserted => prm_path_inserted(ctx, facts),
        Probe::PrmNoAuth => prm_no_auth(facts),
        Probe::PrmResourceValid => prm_resource_valid(facts),
        Probe::PrmResourceEqualsUrl => prm_resource_equals_url(ctx, facts),
        Probe::PrmWellknownConsistency => prm_wellknown_consistency(ctx, facts),
        Probe::PrmAuthorizationServers => prm_authorization_servers(facts),
        Probe::PrmAsResolvable => prm_as_resolvable(ctx, facts).await,
        Probe::PrmOptionalFields => prm_optional_fields(ctx, facts),
        Probe::ResourceMetadataParam => resource_metadata_param(facts),
        Probe::ChallengeSyntax => challenge_syntax(ctx, facts).await,
        Probe::JwksNewKey => jwks_new_key(ctx, facts).await?,
        Probe::JwksRemovedKey => jwks_removed_key(ctx, facts).await?,
        Probe::JwksUnusableKey => jwks_unusable_key(ctx, facts).await?,
        Probe::JwksOutage => jwks_outage(ctx, facts).await?,
        Probe::IntrospectionRequestShape => introspection_request_shape(ctx, facts).await?,
        Probe::DownstreamNoForward => downstream_no_forward(ctx, facts).await?,
        other => return crate::as_probes::run(ctx, facts, other).await,
    })
}

/// The names of the tools a `tools/list` answer lists.
fn tool_names(exchange: &Exchange) -> Option<Vec<String>> {
    let response = exchange.response()?;
    match crate::mcp::read_response(response.header("content-type"), &response.body) {
        crate::mcp::RpcOutcome::Result(result) => Some(
            result
                .get("tools")?
                .as_array()?
                .iter()
                .filter_map(|t| t.get("name")?.as_str().map(str::to_string))
                .collect(),
        ),
        _ => None,
    }
}

/// Calls the target's downstream tool with the valid token and looks, in the mock IdP's request
/// log, at the credential the downstream API received.
async fn downstream_no_forward(ctx: &Ctx, facts: &Facts) -> Result<StepOutcome, HarnessError> {
    if !facts.positive.passed {
        return Ok(StepOutcome::not_testable(
            format!(
                "needs a token the target accepts: {}",
                facts.positive.message
            ),
            Vec::new(),
        ));
    }
    let token = mint_with_kid(ctx, facts, None).await?.token;
    let tool = ctx.options.downstream_tool.as_str();
    let downstream = format!("{}/downstream", ctx.idp_info.issuer.trim_end_matches('/'));
    let auth = [format!("Bearer {token}")];
    // A session of its own, opened with this token.
    let init = ctx
        .target
        .send(mcp_request(ctx, &McpCall::Initialize, &auth, None))
        .await;
    if let Err(why) = accepted(&init) {
        return Ok(StepOutcome::not_testable(
            format!("initialize with a valid token {why}"),
            vec![init],
        ));
    }
    let session_id = init
        .response()
        .and_then(|r| r.header("mcp-session-id"))
        .map(str::to_string);
    let session = session_id.as_deref();
    ctx.target
        .send(mcp_request(ctx, &McpCall::Initialized, &auth, session))
        .await;
    let list = ctx
        .target
        .send(mcp_request(ctx, &McpCall::ToolsList, &auth, session))
        .await;
    let Some(names) = tool_names(&list) else {
        return Ok(StepOutcome::not_testable(
            format!(
                "tools/list with the valid token was not answered with a tool list ({})",
                list.status_text()
            ),
            vec![list],
        ));
    };
    if !names.iter().any(|n| n == tool) {
        return Ok(StepOutcome::skip(format!(
            "the target has no {tool:?} tool; to judge token passthrough, give it a tool that calls the downstream API at MCP_DOWNSTREAM_URL ({downstream}) and name it with --downstream-tool"
        )));
    }
    let mark = ctx.idp.last_seq().await?;
    let call = ctx
        .target
        .send(mcp_request(
            ctx,
            &McpCall::ToolsCall {
                name: tool.to_string(),
                arguments: json!({}),
            },
            &auth,
            session,
        ))
        .await;
    let arrived: Vec<_> = ctx
        .idp
        .requests_since(mark)
        .await?
        .into_iter()
        .filter(|r| r.endpoint == "downstream")
        .collect();
    if arrived.is_empty() {
        return Ok(StepOutcome::not_testable(
            format!("the {tool:?} tool did not call the downstream API at {downstream}"),
            vec![call],
        ));
    }
    // The token anywhere in what arrived counts: a header, the query or the body.
    let carries_token = |r: &crate::idp::IdpRequest| {
        r.headers
            .values()
            .any(|v| v.as_str().is_some_and(|v| v.contains(&token)))
            || r.query.as_deref().is_some_and(|q| q.contains(&token))
            || r.body.contains(&token)
    };
    let forwarded = arrived.iter().filter(|r| carries_token(r)).count();
    if forwarded > 0 {
        return Ok(StepOutcome::fail(
            format!(
                "{forwarded} of the {} request(s) the {tool:?} tool sent to the downstream API carried the client's own access token: a token issued for the MCP server was passed through to another service",
                arrived.len()
            ),
            vec![call],
        ));
    }
    let schemes: Vec<String> = arrived
        .iter()
        .map(|r| {
            r.headers
                .get("authorization")
                .and_then(Value::as_str)
                .and_then(|v| v.split_whitespace().next())
                .map_or_else(|| "no Authorization".to_string(), str::to_string)
        })
        .collect();
    Ok(StepOutcome::pass(
        format!(
            "the downstream API received {} request(s) ({}), none carrying the client's access token",
            arrived.len(),
            schemes.join(", ")
        ),
        Vec::new(),
    ))
}

fn attempts_evidence(facts: &Facts) -> Vec<Exchange> {
    facts
        .prm_attempts
        .iter()
        .map(|a| a.deciding_exchange().clone())
        .collect()
}

fn prm_discovery(facts: &Facts) -> StepOutcome {
    match facts.prm() {
        Some((attempt, _)) => {
            StepOutcome::pass(format!("metadata found at {}", attempt.url), Vec::new())
        }
        None => {
            let tried: Vec<String> = facts
                .prm_attempts
                .iter()
                .map(|a| format!("{} ({})", a.url, a.deciding_exchange().status_text()))
                .collect();
            let pointer = if facts.resource_metadata_param().is_some() {
                ""
            } else {
                "the 401 carries no resource_metadata, and "
            };
            StepOutcome::fail(
                format!(
                    "{pointer}no protected-resource metadata was found; tried {}",
                    tried.join(", ")
                ),
                attempts_evidence(facts),
            )
        }
    }
}

fn target_path(ctx: &Ctx) -> String {
    url::Url::parse(&ctx.target_url)
        .map(|u| u.path().trim_end_matches('/').to_string())
        .unwrap_or_default()
}

fn prm_path_inserted(ctx: &Ctx, facts: &Facts) -> StepOutcome {
    if target_path(ctx).is_empty() {
        return StepOutcome::skip(
            "the target is at the origin's root, where the path-inserted and root locations coincide",
        );
    }
    let Some(attempt) = facts
        .prm_attempts
        .iter()
        .find(|a| a.has_role(PrmRole::PathInserted))
    else {
        return StepOutcome::not_testable("the path-inserted URL was not probed", Vec::new());
    };
    if attempt.document.is_some() {
        StepOutcome::pass(format!("metadata served at {}", attempt.url), Vec::new())
    } else {
        StepOutcome::fail(
            format!(
                "no metadata at the path-inserted URL {} (HTTP {}), the first place MCP clients look",
                attempt.url,
                attempt.deciding_exchange().status_text()
            ),
            vec![attempt.deciding_exchange().clone()],
        )
    }
}

fn prm_no_auth(facts: &Facts) -> StepOutcome {
    let mut refused = Vec::new();
    let mut evidence = Vec::new();
    for attempt in facts.prm_attempts.iter().filter(|a| a.document.is_some()) {
        if attempt.anonymous_document().is_none() {
            refused.push(format!(
                "{} answered HTTP {} without a token and served the metadata only with one",
                attempt.url,
                attempt.anonymous.status_text()
            ));
            evidence.push(attempt.anonymous.clone());
        }
    }
    if refused.is_empty() {
        StepOutcome::pass("metadata is served without credentials", Vec::new())
    } else {
        StepOutcome::fail(refused.join("; "), evidence)
    }
}

fn resource_of(doc: &Value) -> Option<&str> {
    doc.get("resource").and_then(Value::as_str)
}

fn is_loopback_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Problems with a `resource` value per RFC 9728 §2 and RFC 8707 §2.
fn resource_problems(resource: Option<&Value>) -> Vec<String> {
    let Some(value) = resource else {
        return vec!["the document has no resource member".into()];
    };
    let Some(text) = value.as_str() else {
        return vec![format!("resource is not a string: {value}")];
    };
    let Ok(u) = url::Url::parse(text) else {
        return vec![format!("resource {text:?} is not an absolute URI")];
    };
    let mut problems = Vec::new();
    if u.fragment().is_some() {
        problems.push(format!(
            "resource {text:?} has a fragment, which RFC 8707 §2 forbids"
        ));
    }
    match u.scheme() {
        "https" => {}
        "http" if is_loopback_host(&u) => {}
        other => problems.push(format!(
            "resource {text:?} uses scheme {other}; https is required (http only on loopback)"
        )),
    }
    if u.host().is_none() {
        problems.push(format!("resource {text:?} has no host"));
    }
    problems
}

fn prm_resource_valid(facts: &Facts) -> StepOutcome {
    let Some((attempt, doc)) = facts.prm() else {
        return StepOutcome::not_testable("no metadata document", Vec::new());
    };
    let problems = resource_problems(doc.get("resource"));
    if problems.is_empty() {
        StepOutcome::pass(
            format!(
                "resource {:?} is a valid resource identifier",
                resource_of(doc).unwrap_or("")
            ),
            Vec::new(),
        )
    } else {
        StepOutcome::fail(
            problems.join("; "),
            vec![attempt.deciding_exchange().clone()],
        )
    }
}

fn prm_resource_equals_url(ctx: &Ctx, facts: &Facts) -> StepOutcome {
    let chosen = facts
        .prm_attempts
        .iter()
        .find(|a| a.has_role(PrmRole::Pointer) && a.document.is_some())
        .or_else(|| facts.prm_attempts.iter().find(|a| a.document.is_some()));
    let Some(attempt) = chosen else {
        return StepOutcome::not_testable("no metadata document", Vec::new());
    };
    let doc = attempt.document.as_ref().cloned().unwrap_or(Value::Null);
    if !resource_problems(doc.get("resource")).is_empty() {
        return StepOutcome::not_testable(
            "the resource value is not a valid identifier (see prm.resource-valid)",
            Vec::new(),
        );
    }
    let resource = resource_of(&doc).unwrap_or("");
    if resource == ctx.target_url {
        return StepOutcome::pass(
            format!("resource equals the URL the client used ({resource})"),
            Vec::new(),
        );
    }
    let hint = if resource.trim_end_matches('/') == ctx.target_url.trim_end_matches('/') {
        " (they differ only by a trailing slash, which strict clients reject)"
    } else {
        ""
    };
    StepOutcome::fail(
        format!(
            "resource {resource:?} differs from the URL the client used, {:?}{hint}",
            ctx.target_url
        ),
        vec![attempt.deciding_exchange().clone()],
    )
}

fn prm_wellknown_consistency(ctx: &Ctx, facts: &Facts) -> StepOutcome {
    let origin = ctx.origin();
    let target_no_query = ctx.target_url.split('?').next().unwrap_or("").to_string();
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    let mut compared = Vec::new();
    for attempt in facts
        .prm_attempts
        .iter()
        .filter(|a| !a.has_role(PrmRole::Pointer))
    {
        let Some(doc) = &attempt.document else {
            continue;
        };
        let resource = resource_of(doc).unwrap_or("");
        if attempt.has_role(PrmRole::PathInserted) {
            compared.push(attempt.url.clone());
            if resource != target_no_query {
                problems.push(format!(
                    "{} was derived from the identifier {target_no_query:?} but its resource is {resource:?} (RFC 9728 §3.3)",
                    attempt.url
                ));
                evidence.push(attempt.deciding_exchange().clone());
            }
        } else if attempt.has_role(PrmRole::Root) {
            compared.push(attempt.url.clone());
            // RFC 9728 §3.3 wants the origin here; MCP clients that fall back to the root document
            // expect the server URL. Either is accepted; anything else is inconsistent.
            let ok = resource == origin
                || resource == format!("{origin}/")
                || resource == target_no_query;
            if !ok {
                problems.push(format!(
                    "{} has resource {resource:?}, which is neither the origin {origin:?} nor the server URL",
                    attempt.url
                ));
                evidence.push(attempt.deciding_exchange().clone());
            }
        }
    }
    if !problems.is_empty() {
        StepOutcome::fail(problems.join("; "), evidence)
    } else if compared.is_empty() {
        StepOutcome::pass(
            "no well-known document other than the one the challenge points to",
            Vec::new(),
        )
    } else {
        StepOutcome::pass(format!("consistent: {}", compared.join(", ")), Vec::new())
    }
}

fn authorization_servers(doc: &Value) -> Result<Vec<String>, String> {
    let Some(value) = doc.get("authorization_servers") else {
        return Err("the document has no authorization_servers member".into());
    };
    let Some(items) = value.as_array() else {
        return Err(format!("authorization_servers is not an array: {value}"));
    };
    if items.is_empty() {
        return Err("authorization_servers is empty; MCP requires at least one".into());
    }
    let mut out = Vec::new();
    for item in items {
        match item.as_str().map(url::Url::parse) {
            Some(Ok(u)) if matches!(u.scheme(), "http" | "https") => {
                out.push(item.as_str().unwrap_or("").to_string())
            }
            _ => {
                return Err(format!(
                    "authorization_servers holds {item}, which is not an issuer URL"
                ));
            }
        }
    }
    Ok(out)
}

fn prm_authorization_servers(facts: &Facts) -> StepOutcome {
    let Some((attempt, doc)) = facts.prm() else {
        return StepOutcome::not_testable("no metadata document", Vec::new());
    };
    match authorization_servers(doc) {
        Ok(list) => StepOutcome::pass(format!("authorization_servers = {list:?}"), Vec::new()),
        Err(why) => StepOutcome::fail(why, vec![attempt.deciding_exchange().clone()]),
    }
}

/// The metadata URLs MCP 2025-11-25 tells clients to try, in order.
pub fn as_metadata_urls(issuer: &str) -> Vec<String> {
    let Ok(u) = url::Url::parse(issuer) else {
        return Vec::new();
    };
    let origin = u.origin().ascii_serialization();
    let path = u.path().trim_end_matches('/');
    if path.is_empty() {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ]
    }
}

async fn prm_as_resolvable(ctx: &Ctx, facts: &Facts) -> StepOutcome {
    let Some((_, doc)) = facts.prm() else {
        return StepOutcome::not_testable("no metadata document", Vec::new());
    };
    let servers = match authorization_servers(doc) {
        Ok(s) => s,
        Err(why) => {
            return StepOutcome::not_testable(
                format!("{why} (see prm.authorization-servers)"),
                Vec::new(),
            );
        }
    };
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    let mut found = Vec::new();
    // A hostile document could list thousands of issuers; a real one lists a few.
    const MAX_ISSUERS: usize = 5;
    if servers.len() > MAX_ISSUERS {
        found.push(format!(
            "only the first {MAX_ISSUERS} of {} issuers were resolved",
            servers.len()
        ));
    }
    for issuer in servers.iter().take(MAX_ISSUERS) {
        let mut ok = false;
        let mut tried = Vec::new();
        let mut slash_mismatch = None;
        for url in as_metadata_urls(issuer) {
            let exchange = ctx.target.send(Request::get_json(url.clone())).await;
            let doc = metadata_document(&exchange);
            let named = doc
                .as_ref()
                .and_then(|d| d.get("issuer"))
                .and_then(Value::as_str)
                .map(str::to_string);
            tried.push(format!("{url} ({})", exchange.status_text()));
            match named {
                Some(n) if n == *issuer => {
                    ok = true;
                    found.push(format!("{issuer} via {url}"));
                    break;
                }
                Some(n) if n.trim_end_matches('/') == issuer.trim_end_matches('/') => {
                    slash_mismatch = Some(n)
                }
                _ => {}
            }
            evidence.push(exchange);
        }
        if !ok {
            let mut failure = format!(
                "no authorization-server metadata with issuer {issuer:?} found; tried {}",
                tried.join(", ")
            );
            if let Some(named) = slash_mismatch {
                failure.push_str(&format!(
                    "; the metadata names {named:?}, which differs only by a trailing slash, but RFC 8414 §3.3 compares issuers exactly (URL types that normalise, such as pydantic's AnyHttpUrl, add the slash)"
                ));
            }
            failures.push(failure);
        }
    }
    if failures.is_empty() {
        StepOutcome::pass(format!("resolved {}", found.join("; ")), Vec::new())
    } else {
        StepOutcome::fail(failures.join("; "), evidence)
    }
}

fn prm_optional_fields(ctx: &Ctx, facts: &Facts) -> StepOutcome {
    let Some((attempt, doc)) = facts.prm() else {
        return StepOutcome::not_testable("no metadata document", Vec::new());
    };
    let mut problems = Vec::new();
    if let Some(methods) = doc.get("bearer_methods_supported") {
        match methods.as_array() {
            None => problems.push(format!(
                "bearer_methods_supported is not an array: {methods}"
            )),
            Some(items) => {
                let names: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                if !names.contains(&"header") {
                    problems.push("bearer_methods_supported does not include \"header\"".into());
                }
                if names.contains(&"query") {
                    problems.push("bearer_methods_supported advertises \"query\"; MCP forbids tokens in the query string".into());
                }
                if names.contains(&"body") {
                    problems.push("bearer_methods_supported advertises \"body\"; MCP clients send tokens only in the header".into());
                }
            }
        }
    }
    if let Some(scopes) = doc.get("scopes_supported") {
        match scopes.as_array() {
            Some(items) if items.iter().all(Value::is_string) => {
                let names: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                if ctx.spec >= crate::spec::SpecVersion::V2026_07_28
                    && names.contains(&"offline_access")
                {
                    problems.push("scopes_supported lists offline_access, which MCP 2026-07-28 says not to advertise".into());
                }
                if names.iter().any(|s| *s == "*" || s.ends_with(":*")) {
                    problems.push("scopes_supported lists a wildcard scope".into());
                }
            }
            _ => problems.push(format!(
                "scopes_supported is not an array of strings: {scopes}"
            )),
        }
    }
    if problems.is_empty() {
        StepOutcome::pass(
            "bearer_methods_supported and scopes_supported are sound (or absent)",
            Vec::new(),
        )
    } else {
        StepOutcome::fail(
            problems.join("; "),
            vec![attempt.deciding_exchange().clone()],
        )
    }
}

fn resource_metadata_param(facts: &Facts) -> StepOutcome {
    let evidence = vec![facts.unauthenticated.clone()];
    let Some(value) = facts.resource_metadata_param() else {
        if facts.mode == crate::check::Mode::A {
            return StepOutcome::skip(
                "the target publishes no metadata and points at none (judged by prm.discovery-mechanism)",
            );
        }
        return StepOutcome::fail(
            "the 401 challenge has no resource_metadata parameter",
            evidence,
        );
    };
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        _ => {
            return StepOutcome::fail(
                format!("resource_metadata {value:?} is not an absolute http(s) URL"),
                evidence,
            );
        }
    }
    let Some(attempt) = facts
        .prm_attempts
        .iter()
        .find(|a| a.has_role(PrmRole::Pointer))
    else {
        return StepOutcome::fail(
            format!("resource_metadata {value:?} was not fetched"),
            evidence,
        );
    };
    if attempt.document.is_some() {
        StepOutcome::pass(
            format!("resource_metadata points at metadata ({value})"),
            Vec::new(),
        )
    } else {
        StepOutcome::fail(
            format!(
                "resource_metadata {value:?} does not lead to metadata (HTTP {})",
                attempt.deciding_exchange().status_text()
            ),
            vec![
                facts.unauthenticated.clone(),
                attempt.deciding_exchange().clone(),
            ],
        )
    }
}

async fn challenge_syntax(ctx: &Ctx, facts: &Facts) -> StepOutcome {
    let garbage = ctx
        .target
        .send(mcp_request(
            ctx,
            &McpCall::Initialize,
            &["Bearer not-a-valid-token".to_string()],
            None,
        ))
        .await;
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    let mut seen = 0;
    for (label, exchange) in [
        ("no credentials", &facts.unauthenticated),
        ("invalid token", &garbage),
    ] {
        let Some(response) = exchange.response() else {
            continue;
        };
        let values = response.header_values("www-authenticate");
        if values.is_empty() {
            continue;
        }
        seen += 1;
        let parsed = challenge::parse_all(values.iter().copied());
        let mut found: Vec<String> = parsed.violations.clone();
        if let Some(b) = parsed.bearer() {
            found.extend(challenge::bearer_violations(b));
        }
        if !found.is_empty() {
            problems.push(format!("{label}: {}", found.join("; ")));
            evidence.push(exchange.clone());
        }
    }
    if seen == 0 {
        return StepOutcome::not_testable(
            "the target sent no WWW-Authenticate header to inspect",
            Vec::new(),
        );
    }
    if problems.is_empty() {
        StepOutcome::pass(
            "every challenge follows RFC 9110 §11.6.1 and RFC 6750 §3",
            Vec::new(),
        )
    } else {
        StepOutcome::fail(problems.join(" | "), evidence)
    }
}

// ---- JWKS rotation story -------------------------------------------------------------------

async fn send_token(ctx: &Ctx, token: &MintedToken) -> Exchange {
    ctx.target
        .send(mcp_request(
            ctx,
            &McpCall::Initialize,
            &[format!("Bearer {}", token.token)],
            None,
        ))
        .await
}

async fn mint_with_kid(
    ctx: &Ctx,
    facts: &Facts,
    kid: Option<&str>,
) -> Result<MintedToken, HarnessError> {
    let scope = if facts.required_scopes.is_empty() {
        Value::Null
    } else {
        json!(facts.required_scopes.join(" "))
    };
    let mut request = json!({ "scope": scope });
    if let Some(kid) = kid {
        request["kid"] = json!(kid);
    }
    ctx.mint(&request).await
}

/// JWKS fetches since `mark` by anyone but the harness itself, as `(at_ms, status)`.
async fn jwks_fetches_since(ctx: &Ctx, mark: u64) -> Result<Vec<(u64, u16)>, HarnessError> {
    Ok(ctx
        .idp
        .requests_since(mark)
        .await?
        .into_iter()
        .filter(|r| r.endpoint == "jwks" && !crate::target::is_own_request(&r.headers))
        .map(|r| (r.at_ms, r.status))
        .collect())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Presents a token signed by a key the target has not seen, waiting (bounded) for a refetch.
/// `Ok(Ok(exchange))` = accepted; `Ok(Err(outcome))` = a verdict other than acceptance.
async fn await_new_key(
    ctx: &Ctx,
    token: &MintedToken,
    mark: u64,
    what: &str,
) -> Result<Result<Exchange, StepOutcome>, HarnessError> {
    let started = Instant::now();
    let deadline = ctx.options.jwks_wait;
    let mut last;
    loop {
        last = send_token(ctx, token).await;
        if accepted(&last).is_ok() {
            return Ok(Ok(last));
        }
        if started.elapsed() >= deadline {
            break;
        }
        tokio::time::sleep(
            Duration::from_millis(250).min(deadline.saturating_sub(started.elapsed())),
        )
        .await;
    }
    let after = jwks_fetches_since(ctx, mark).await?;
    let waited = format!("{:.1} s", started.elapsed().as_secs_f64());
    if after.iter().any(|(_, s)| *s == 200) {
        return Ok(Err(StepOutcome::fail(
            format!(
                "the target refetched the JWKS after {what} and still refused a token signed by the new key (waited {waited})"
            ),
            vec![last],
        )));
    }
    let all = jwks_fetches_since(ctx, 0).await?;
    let since_last = all
        .last()
        .map(|(at, _)| Duration::from_millis(now_ms().saturating_sub(*at)));
    match since_last {
        Some(age) if age < ctx.options.jwks_cooldown => Ok(Err(StepOutcome::not_testable(
            format!(
                "the target has not refetched the JWKS within the {waited} wait; it last fetched {:.1} s ago, within the {} s refetch cool-down verifiers commonly keep; rerun with --jwks-wait {} to judge",
                age.as_secs_f64(),
                ctx.options.jwks_cooldown.as_secs(),
                ctx.options.jwks_cooldown.as_secs() + 5
            ),
            vec![last],
        ))),
        _ => Ok(Err(StepOutcome::fail(
            format!(
                "a token signed by a key published after {what} was refused for {waited}, and the target did not refetch the JWKS although its last fetch was more than {} s ago",
                ctx.options.jwks_cooldown.as_secs()
            ),
            vec![last],
        ))),
    }
}

async fn jwks_new_key(ctx: &Ctx, facts: &Facts) -> Result<StepOutcome, HarnessError> {
    let mut notes = Vec::new();
    // Phase 1: a key announced before the run started is used for signing.
    let announced = ctx
        .jwks_story
        .lock()
        .map(|s| s.announced_kid.clone())
        .unwrap_or(None);
    if let Some(kid) = announced {
        let token = mint_with_kid(ctx, facts, Some(&kid)).await?;
        let mark = facts.log_start;
        match await_new_key(ctx, &token, mark, "the key was announced").await? {
            Ok(_) => notes.push(format!(
                "a token signed by the announced key {kid} was accepted"
            )),
            Err(outcome) => return Ok(outcome),
        }
    }
    // Keep a token of the current key for jwks.removed-key-rejected. It is never presented
    // before then, so a target that caches verified tokens must still verify it.
    let old = mint_with_kid(ctx, facts, None).await?;
    let control = mint_with_kid(ctx, facts, None).await?;
    let old_exchange = send_token(ctx, &control).await;
    if accepted(&old_exchange).is_err() {
        return Ok(StepOutcome::not_testable(
            "a valid token signed by the current key was refused",
            vec![old_exchange],
        ));
    }
    // Phase 2: rotate (new key, old one retired) and sign with a key the target has never seen.
    let mark = ctx.idp.last_seq().await?;
    let (new_kid, retired) = ctx.idp.rotate_keys().await?;
    if let Ok(mut story) = ctx.jwks_story.lock() {
        story.old_token = Some(old);
        story.rotation_mark = Some(mark);
        story.retired_kid = retired.clone();
    }
    let token = mint_with_kid(ctx, facts, Some(&new_kid)).await?;
    let started = Instant::now();
    match await_new_key(ctx, &token, mark, "a key rotation").await? {
        Ok(_) => {
            let fetches = jwks_fetches_since(ctx, mark).await?.len();
            notes.push(format!(
                "after rotating to {new_kid}, a token signed by it was accepted within {:.1} s with {fetches} JWKS fetch(es)",
                started.elapsed().as_secs_f64()
            ));
            Ok(StepOutcome {
                notes,
                ..Default::default()
            })
        }
        Err(outcome) => Ok(outcome),
    }
}

async fn jwks_removed_key(ctx: &Ctx, _facts: &Facts) -> Result<StepOutcome, HarnessError> {
    let (old, mark, retired) = match ctx.jwks_story.lock() {
        Ok(s) => (s.old_token.clone(), s.rotation_mark, s.retired_kid.clone()),
        Err(_) => (None, None, None),
    };
    let (Some(old), Some(mark)) = (old, mark) else {
        return Ok(StepOutcome::not_testable(
            "no key rotation happened (jwks.new-key-picked-up did not get that far)",
            Vec::new(),
        ));
    };
    let refetched = jwks_fetches_since(ctx, mark)
        .await?
        .iter()
        .any(|(_, s)| *s == 200);
    if !refetched {
        return Ok(StepOutcome::not_testable(
            "the target has not refetched the JWKS since the old key was retired, so it cannot know yet",
            Vec::new(),
        ));
    }
    let exchange = send_token(ctx, &old).await;
    let kid = retired.unwrap_or_default();
    if exchange.response().is_none() {
        return Ok(StepOutcome::not_testable(
            "the target did not answer the request with the retired key's token",
            vec![exchange],
        ));
    }
    if exchange.response().is_some_and(|r| r.is_success()) {
        Ok(StepOutcome::fail(
            format!(
                "after refetching a JWKS without {kid}, the target still accepted a token signed by it"
            ),
            vec![exchange],
        ))
    } else {
        Ok(StepOutcome::pass(
            format!(
                "a token signed by the retired key {kid} was refused (HTTP {})",
                exchange.status().unwrap_or(0)
            ),
            Vec::new(),
        ))
    }
}

async fn jwks_unusable_key(ctx: &Ctx, facts: &Facts) -> Result<StepOutcome, HarnessError> {
    // An encryption-only RSA key (a copy of a published key marked `use: enc`) and an X448 key.
    let jwks = ctx
        .target
        .send(Request::new(
            reqwest::Method::GET,
            ctx.idp_info.jwks_uri.clone(),
        ))
        .await;
    let mut extras = vec![
        json!({"kty": "OKP", "crv": "X448", "kid": "unusable-x448", "use": "sig",
        "x": "mLGXwN6mz9AsWaIxn5xOm2ijo4xbYWGyTDLUVNTq-8jfFMTIsdT8VdSH6OXbDzaW1UJ8pyTWAOg"}),
    ];
    if let Some(first) = metadata_document(&jwks).and_then(|d| {
        d.get("keys")
            .and_then(Value::as_array)
            .and_then(|k| k.first().cloned())
    }) {
        let mut enc = first;
        enc["kid"] = json!("unusable-rsa-enc");
        enc["use"] = json!("enc");
        if let Some(o) = enc.as_object_mut() {
            o.remove("alg");
        }
        extras.push(enc);
    }
    let mark = ctx.idp.last_seq().await?;
    for e in extras {
        ctx.idp.add_extra_jwk(e).await?;
    }
    let kid = ctx.idp.announce_key().await?;
    let token = mint_with_kid(ctx, facts, Some(&kid)).await?;
    let result = await_new_key(ctx, &token, mark, "unusable keys were added to the JWKS").await;
    ctx.idp.clear_extra_jwks().await?;
    Ok(match result? {
        Ok(_) => StepOutcome::pass(
            format!(
                "with an X448 key and an encryption-only RSA key in the JWKS, a token signed by {kid} was accepted"
            ),
            Vec::new(),
        ),
        Err(outcome) => outcome,
    })
}

async fn jwks_outage(ctx: &Ctx, facts: &Facts) -> Result<StepOutcome, HarnessError> {
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    let mut evidence = Vec::new();
    for (label, fault) in [
        ("HTTP 500", json!({"kind": "status", "status": 500})),
        ("a body that is not JSON", json!({"kind": "garbage"})),
    ] {
        let kid = ctx.idp.announce_key().await?;
        let mark = ctx.idp.last_seq().await?;
        ctx.idp.set_fault("jwks", fault, None).await?;
        let token = mint_with_kid(ctx, facts, Some(&kid)).await?;
        let started = Instant::now();
        let mut attempted;
        let mut exchange;
        loop {
            exchange = send_token(ctx, &token).await;
            if exchange.response().is_some_and(|r| r.is_success()) {
                ctx.idp.clear_faults().await?;
                return Ok(StepOutcome::fail(
                    format!(
                        "with the JWKS answering {label}, the target accepted a token signed by a key it could not fetch"
                    ),
                    vec![exchange],
                ));
            }
            attempted = !jwks_fetches_since(ctx, mark).await?.is_empty();
            if attempted || started.elapsed() >= ctx.options.jwks_wait {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        ctx.idp.clear_faults().await?;
        if !attempted && jwks_fetches_since(ctx, facts.log_start).await?.is_empty() {
            // Not a skip: a verifier that cached the JWKS in an earlier run against this IdP (jose
            // keeps it for minutes) looks the same as one with a static key, and a skip would let
            // an untested MUST pass the run.
            return Ok(StepOutcome::not_testable(
                format!(
                    "the target never fetched the JWKS during this run (a JWKS cached from an earlier run, or a static key), so a JWKS outage could not reach it within {} s; restart the target or rerun with --jwks-wait 35 to judge",
                    ctx.options.jwks_wait.as_secs()
                ),
                vec![exchange],
            ));
        }
        if !attempted {
            return Ok(StepOutcome::not_testable(
                format!(
                    "the target did not try to fetch the JWKS within {} s (refetch cool-down?), so the outage was never seen",
                    ctx.options.jwks_wait.as_secs()
                ),
                vec![exchange],
            ));
        }
        match exchange.status() {
            Some(401) => notes.push(format!("JWKS answering {label}: refused with 401")),
            Some(503) => notes.push(format!(
                "JWKS answering {label}: refused with 503 (tolerated)"
            )),
            Some(s) => {
                warnings.push(format!(
                    "JWKS answering {label}: refused, but with HTTP {s}; 401 (or 503) is expected"
                ));
                evidence.push(exchange);
            }
            None => {
                warnings.push(format!(
                    "JWKS answering {label}: the target did not answer within the deadline"
                ));
                evidence.push(exchange);
            }
        }
    }
    Ok(StepOutcome {
        notes,
        warnings,
        evidence,
        ..Default::default()
    })
}

async fn introspection_request_shape(
    ctx: &Ctx,
    facts: &Facts,
) -> Result<StepOutcome, HarnessError> {
    let calls: Vec<_> = ctx
        .idp
        .requests_since(facts.log_start)
        .await?
        .into_iter()
        .filter(|r| r.endpoint == "introspect")
        .collect();
    let Some(call) = calls.first() else {
        return Ok(StepOutcome::not_testable(
            "the target never called the introspection endpoint",
            Vec::new(),
        ));
    };
    let header = |name: &str| {
        call.headers
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut problems = Vec::new();
    if call.method != "POST" {
        problems.push(format!(
            "used {} instead of POST (RFC 7662 §2.1)",
            call.method
        ));
    }
    if !header("content-type")
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        problems.push(format!(
            "sent Content-Type {:?} instead of application/x-www-form-urlencoded",
            header("content-type")
        ));
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(call.body.as_bytes())
        .into_owned()
        .collect();
    let has = |k: &str| form.iter().any(|(n, v)| n == k && !v.is_empty());
    if !has("token") {
        problems.push("the form has no token parameter".into());
    }
    let basic = header("authorization")
        .to_ascii_lowercase()
        .starts_with("basic ");
    let bearer = header("authorization")
        .to_ascii_lowercase()
        .starts_with("bearer ");
    let body_auth = has("client_id") && (has("client_secret") || has("client_assertion"));
    if !(basic || bearer || body_auth) {
        problems.push("the request carries no client authentication (RFC 7662 §2.1 requires the caller to authenticate)".into());
    }
    if call.status == 401 {
        problems.push("the IdP refused the caller's authentication (HTTP 401)".into());
    }
    let summary = format!(
        "{} {} with Content-Type {:?}, client authentication {}",
        call.method,
        call.path,
        header("content-type"),
        if basic {
            "HTTP Basic"
        } else if body_auth {
            "in the form body"
        } else if bearer {
            "Bearer"
        } else {
            "none"
        }
    );
    if problems.is_empty() {
        Ok(StepOutcome::pass(
            format!("introspection request: {summary}"),
            Vec::new(),
        ))
    } else {
        let mut o = StepOutcome::fail(problems.join("; "), Vec::new());
        o.notes
            .push(format!("introspection request seen by the IdP: {summary}"));
        Ok(o)
    }
}

/// After the keys were put back, presents a token signed by the restored key until the target
/// accepts it (bounded by `--jwks-wait`), so the target leaves the run holding a key set that
/// works for the next run. Returns a note for the report when it does not get there.
pub async fn resync_after_rotation(
    ctx: &Ctx,
    facts: &Facts,
) -> Result<Option<String>, HarnessError> {
    let rotated = ctx
        .jwks_story
        .lock()
        .map(|s| s.rotation_mark.is_some())
        .unwrap_or(false);
    if !rotated || !facts.positive.passed {
        return Ok(None);
    }
    let token = mint_with_kid(ctx, facts, None).await?;
    let started = Instant::now();
    loop {
        if accepted(&send_token(ctx, &token).await).is_ok() {
            return Ok(None);
        }
        if started.elapsed() >= ctx.options.jwks_wait {
            return Ok(Some(format!(
                "after the run the IdP's original signing key is active again, but the target did not accept it within {} s (it is probably inside its JWKS refetch cool-down); it will pick the key up by itself, but a run started right away may see its positive control fail",
                ctx.options.jwks_wait.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
