//! Protected-resource metadata (RFC 9728): where it is, that it needs no token, what its
//! `resource` and `authorization_servers` say, and whether those authorization servers resolve.

use serde_json::Value;

use super::*;
use crate::discovery::PrmRole;
use crate::wellknown::{as_metadata_urls, is_loopback_host, metadata_document, path_of};

pub(crate) const PROBES: &[Probe] = &[
    probe!("prm.discovery-mechanism" => sync discovery_mechanism),
    probe!("prm.path-inserted" => sync path_inserted),
    probe!("prm.no-auth-required" => sync no_auth_required),
    probe!("prm.resource-valid" => sync resource_valid),
    probe!("prm.resource-equals-request-url" => sync resource_equals_request_url),
    probe!("prm.wellknown-resource-consistency" => sync wellknown_resource_consistency),
    probe!("prm.authorization-servers" => sync authorization_servers),
    probe!("prm.as-resolvable" => as_resolvable),
    probe!("prm.optional-fields" => sync optional_fields),
];

fn attempts_evidence(facts: &Facts) -> Vec<Exchange> {
    facts
        .prm_attempts
        .iter()
        .map(|a| a.deciding_exchange().clone())
        .collect()
}

/// `prm.discovery-mechanism`.
fn discovery_mechanism(cx: &Cx<'_>) -> StepOutcome {
    let facts = cx.facts;
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

/// `prm.path-inserted`.
fn path_inserted(cx: &Cx<'_>) -> StepOutcome {
    let ctx = cx.ctx;
    let facts = cx.facts;
    if path_of(&ctx.mcp.url).is_empty() {
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

/// `prm.no-auth-required`.
fn no_auth_required(cx: &Cx<'_>) -> StepOutcome {
    let facts = cx.facts;
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

/// `prm.resource-valid`.
fn resource_valid(cx: &Cx<'_>) -> StepOutcome {
    let facts = cx.facts;
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

/// `prm.resource-equals-request-url`.
fn resource_equals_request_url(cx: &Cx<'_>) -> StepOutcome {
    let ctx = cx.ctx;
    let facts = cx.facts;
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
    if resource == ctx.mcp.url {
        return StepOutcome::pass(
            format!("resource equals the URL the client used ({resource})"),
            Vec::new(),
        );
    }
    let hint = if resource.trim_end_matches('/') == ctx.mcp.url.trim_end_matches('/') {
        " (they differ only by a trailing slash, which strict clients reject)"
    } else {
        ""
    };
    StepOutcome::fail(
        format!(
            "resource {resource:?} differs from the URL the client used, {:?}{hint}",
            ctx.mcp.url
        ),
        vec![attempt.deciding_exchange().clone()],
    )
}

/// `prm.wellknown-resource-consistency`.
fn wellknown_resource_consistency(cx: &Cx<'_>) -> StepOutcome {
    let ctx = cx.ctx;
    let facts = cx.facts;
    let origin = ctx.origin();
    let target_no_query = ctx.mcp.url.split('?').next().unwrap_or("").to_string();
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

fn issuer_list(doc: &Value) -> Result<Vec<String>, String> {
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

/// `prm.authorization-servers`.
fn authorization_servers(cx: &Cx<'_>) -> StepOutcome {
    let facts = cx.facts;
    let Some((attempt, doc)) = facts.prm() else {
        return StepOutcome::not_testable("no metadata document", Vec::new());
    };
    match issuer_list(doc) {
        Ok(list) => StepOutcome::pass(format!("authorization_servers = {list:?}"), Vec::new()),
        Err(why) => StepOutcome::fail(why, vec![attempt.deciding_exchange().clone()]),
    }
}

/// `prm.as-resolvable`.
async fn as_resolvable(cx: &Cx<'_>) -> StepOutcome {
    let ctx = cx.ctx;
    let facts = cx.facts;
    let Some((_, doc)) = facts.prm() else {
        return StepOutcome::not_testable("no metadata document", Vec::new());
    };
    let servers = match issuer_list(doc) {
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
        for (url, _) in as_metadata_urls(issuer) {
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

/// `prm.optional-fields`.
fn optional_fields(cx: &Cx<'_>) -> StepOutcome {
    let ctx = cx.ctx;
    let facts = cx.facts;
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
