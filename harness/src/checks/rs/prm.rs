//! Protected-resource metadata (RFC 9728): where it is, that it needs no token, what its
//! `resource` and `authorization_servers` say, and whether those authorization servers resolve.

use serde_json::Value;

use super::*;
use crate::discovery::{PrmAttempt, PrmRole};
use crate::target::NOT_FETCHED;
use crate::urls::{is_loopback_host, path_of};
use crate::wellknown::{as_metadata_urls, metadata_document};

pub(crate) const PROBES: &[Probe] = &[
    probe!(once "prm.discovery-mechanism" => sync discovery_mechanism),
    probe!(once "prm.path-inserted" => sync path_inserted),
    probe!(once "prm.no-auth-required" => sync no_auth_required),
    probe!(once "prm.resource-valid" => sync resource_valid),
    probe!(once "prm.resource-equals-request-url" => sync resource_equals_request_url),
    probe!(once "prm.wellknown-resource-consistency" => sync wellknown_resource_consistency),
    probe!(once "prm.authorization-servers" => sync authorization_servers),
    probe!(once "prm.as-resolvable" => as_resolvable),
    probe!(once "prm.optional-fields" => sync optional_fields),
];

/// The metadata document clients would use, else "not testable".
fn prm<'a>(cx: &Cx<'a>) -> Result<(&'a PrmAttempt, &'a Value), Stop> {
    cx.facts
        .prm()
        .ok_or_else(|| Stop::not_testable("no metadata document", Vec::new()))
}

/// `prm.discovery-mechanism`: the metadata is found at the challenge's pointer or a well-known
/// URL (RFC 9728 §3, §5.1).
fn discovery_mechanism(cx: &Cx<'_>) -> Judged {
    let pointer = cx.facts.resource_metadata_param().is_some();
    Ok(judge_discovery(&cx.facts.prm_attempts, pointer))
}

/// `pointer`: whether the 401 named a `resource_metadata` URL.
fn judge_discovery(attempts: &[PrmAttempt], pointer: bool) -> Verdict {
    if let Some(found) = attempts.iter().find(|a| a.document.is_some()) {
        return Verdict::passed(format!("metadata found at {}", found.url));
    }
    if let Some(why) = attempts
        .iter()
        .find_map(|a| a.deciding_exchange().failure().strip_prefix(NOT_FETCHED))
    {
        return Verdict::not_testable(
            format!(
                "no protected-resource metadata was found where the harness may look, and {why}"
            ),
            Vec::new(),
        );
    }
    let tried: Vec<String> = attempts
        .iter()
        .map(|a| format!("{} ({})", a.url, a.deciding_exchange().status_text()))
        .collect();
    let pointer = if pointer {
        ""
    } else {
        "the 401 carries no resource_metadata, and "
    };
    Verdict::fail(
        format!(
            "{pointer}no protected-resource metadata was found; tried {}",
            tried.join(", ")
        ),
        attempts
            .iter()
            .map(|a| a.deciding_exchange().clone())
            .collect(),
    )
}

/// `prm.path-inserted`: the metadata is at the path-inserted URL clients try first.
fn path_inserted(cx: &Cx<'_>) -> Judged {
    if path_of(&cx.ctx.mcp.url).is_empty() {
        return Err(Stop::skip(
            "the target is at the origin's root, where the path-inserted and root locations coincide",
        ));
    }
    Ok(judge_path_inserted(&cx.facts.prm_attempts))
}

fn judge_path_inserted(attempts: &[PrmAttempt]) -> Verdict {
    let Some(attempt) = attempts.iter().find(|a| a.has_role(PrmRole::PathInserted)) else {
        return Verdict::not_testable("the path-inserted URL was not probed", Vec::new());
    };
    if attempt.document.is_some() {
        Verdict::passed(format!("metadata served at {}", attempt.url))
    } else {
        Verdict::fail(
            format!(
                "no metadata at the path-inserted URL {} (HTTP {}), the first place MCP clients look",
                attempt.url,
                attempt.deciding_exchange().status_text()
            ),
            vec![attempt.deciding_exchange().clone()],
        )
    }
}

/// `prm.no-auth-required`: the metadata is served without a token (clients fetch it before
/// they have one).
fn no_auth_required(cx: &Cx<'_>) -> Judged {
    Ok(judge_no_auth(&cx.facts.prm_attempts))
}

fn judge_no_auth(attempts: &[PrmAttempt]) -> Verdict {
    let mut refused = Vec::new();
    let mut evidence = Vec::new();
    for attempt in attempts.iter().filter(|a| a.document.is_some()) {
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
        Verdict::passed("metadata is served without credentials")
    } else {
        Verdict::fail(refused.join("; "), evidence)
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

/// `prm.resource-valid`: `resource` is an absolute https URI without a fragment.
fn resource_valid(cx: &Cx<'_>) -> Judged {
    let (attempt, doc) = prm(cx)?;
    Ok(judge_resource_valid(attempt, doc))
}

fn judge_resource_valid(attempt: &PrmAttempt, doc: &Value) -> Verdict {
    let problems = resource_problems(doc.get("resource"));
    if problems.is_empty() {
        Verdict::passed(format!(
            "resource {:?} is a valid resource identifier",
            resource_of(doc).unwrap_or("")
        ))
    } else {
        Verdict::fail(
            problems.join("; "),
            vec![attempt.deciding_exchange().clone()],
        )
    }
}

/// `prm.resource-equals-request-url`: the metadata reached from the challenge names exactly the
/// URL the client used (RFC 9728 §3.3).
fn resource_equals_request_url(cx: &Cx<'_>) -> Judged {
    Ok(judge_resource_equals_url(
        &cx.facts.prm_attempts,
        &cx.ctx.mcp.url,
    ))
}

/// `target` is the URL the client used.
fn judge_resource_equals_url(attempts: &[PrmAttempt], target: &str) -> Verdict {
    let chosen = attempts
        .iter()
        .find(|a| a.has_role(PrmRole::Pointer) && a.document.is_some())
        .or_else(|| attempts.iter().find(|a| a.document.is_some()));
    let Some(attempt) = chosen else {
        return Verdict::not_testable("no metadata document", Vec::new());
    };
    let doc = attempt.document.as_ref().cloned().unwrap_or(Value::Null);
    if !resource_problems(doc.get("resource")).is_empty() {
        return Verdict::not_testable(
            "the resource value is not a valid identifier (see prm.resource-valid)",
            Vec::new(),
        );
    }
    let resource = resource_of(&doc).unwrap_or("");
    if resource == target {
        return Verdict::passed(format!(
            "resource equals the URL the client used ({resource})"
        ));
    }
    let hint = if resource.trim_end_matches('/') == target.trim_end_matches('/') {
        " (they differ only by a trailing slash, which strict clients reject)"
    } else {
        ""
    };
    Verdict::fail(
        format!("resource {resource:?} differs from the URL the client used, {target:?}{hint}"),
        vec![attempt.deciding_exchange().clone()],
    )
}

/// `prm.wellknown-resource-consistency`: each well-known document names the identifier its URL
/// was derived from (RFC 9728 §3.3).
fn wellknown_resource_consistency(cx: &Cx<'_>) -> Judged {
    Ok(judge_wellknown_consistency(
        &cx.facts.prm_attempts,
        &cx.ctx.origin(),
        &cx.ctx.mcp.url,
    ))
}

fn judge_wellknown_consistency(attempts: &[PrmAttempt], origin: &str, target: &str) -> Verdict {
    let target_no_query = target.split('?').next().unwrap_or("").to_string();
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    let mut compared = Vec::new();
    for attempt in attempts.iter().filter(|a| !a.has_role(PrmRole::Pointer)) {
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
        Verdict::fail(problems.join("; "), evidence)
    } else if compared.is_empty() {
        Verdict::passed("no well-known document other than the one the challenge points to")
    } else {
        Verdict::passed(format!("consistent: {}", compared.join(", ")))
    }
}

/// The issuers of `authorization_servers`, or what is wrong with it.
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

/// `prm.authorization-servers`: a non-empty list of issuer URLs.
fn authorization_servers(cx: &Cx<'_>) -> Judged {
    let (attempt, doc) = prm(cx)?;
    Ok(match issuer_list(doc) {
        Ok(list) => Verdict::passed(format!("authorization_servers = {list:?}")),
        Err(why) => Verdict::fail(why, vec![attempt.deciding_exchange().clone()]),
    })
}

/// A hostile document could list thousands of issuers; a real one lists a few.
const MAX_ISSUERS: usize = 5;

/// `prm.as-resolvable`: every authorization server named has metadata, with its own issuer, at a
/// URL of the MCP probe order.
async fn as_resolvable(cx: &Cx<'_>) -> Judged {
    let (_, doc) = prm(cx)?;
    let servers = issuer_list(doc).map_err(|why| {
        Stop::not_testable(format!("{why} (see prm.authorization-servers)"), Vec::new())
    })?;
    let mut resolved = Vec::new();
    for issuer in servers.iter().take(MAX_ISSUERS) {
        // The probe order, up to the first document that names this issuer.
        let mut answers = Vec::new();
        for (url, _) in as_metadata_urls(issuer) {
            let exchange = cx.ctx.target.send(Request::get_json(url)).await;
            let named = metadata_document(&exchange)
                .and_then(|d| d.get("issuer")?.as_str().map(str::to_string));
            answers.push(exchange);
            if named.as_deref() == Some(issuer.as_str()) {
                break;
            }
        }
        resolved.push((issuer.clone(), answers));
    }
    Ok(judge_as_resolvable(servers.len(), &resolved))
}

/// `resolved` holds, for each issuer tried, the metadata URLs fetched in probe order (up to the
/// first that names it); `listed` is how many issuers the document names.
fn judge_as_resolvable(listed: usize, resolved: &[(String, Vec<Exchange>)]) -> Verdict {
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    let mut found = Vec::new();
    if listed > MAX_ISSUERS {
        found.push(format!(
            "only the first {MAX_ISSUERS} of {listed} issuers were resolved"
        ));
    }
    for (issuer, answers) in resolved {
        let mut ok = false;
        let mut tried = Vec::new();
        let mut slash_mismatch = None;
        for exchange in answers {
            let url = &exchange.request.url;
            let named = metadata_document(exchange)
                .and_then(|d| d.get("issuer")?.as_str().map(str::to_string));
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
            evidence.push(exchange.clone());
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
        Verdict::passed(format!("resolved {}", found.join("; ")))
    } else {
        Verdict::fail(failures.join("; "), evidence)
    }
}

/// `prm.optional-fields`: `bearer_methods_supported` includes `header` and not `query`;
/// `scopes_supported` has no wildcard (`offline_access` there is `scope.no-offline-access`'s).
fn optional_fields(cx: &Cx<'_>) -> Judged {
    let (attempt, doc) = prm(cx)?;
    Ok(judge_optional_fields(attempt, doc))
}

fn judge_optional_fields(attempt: &PrmAttempt, doc: &Value) -> Verdict {
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
        Verdict::passed("bearer_methods_supported and scopes_supported are sound (or absent)")
    } else {
        Verdict::fail(
            problems.join("; "),
            vec![attempt.deciding_exchange().clone()],
        )
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use serde_json::json;

    use super::*;
    use crate::testkit::{exchange, render};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    const TARGET: &str = "http://127.0.0.1:1/mcp";
    const PATH: &str = "http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp";
    const ROOT: &str = "http://127.0.0.1:1/.well-known/oauth-protected-resource";

    /// A metadata URL read anonymously: `doc` served with 200, or `status` without a document.
    fn attempt(url: &str, roles: &[PrmRole], status: u16, doc: Option<Value>) -> PrmAttempt {
        let answer = match &doc {
            Some(d) => format!("{status}\ncontent-type: application/json\n\n{d}"),
            None => status.to_string(),
        };
        PrmAttempt {
            url: url.to_string(),
            roles: roles.to_vec(),
            anonymous: exchange(&format!("GET {url}\n=>\n{answer}")),
            authenticated: None,
            document: doc.filter(|_| status == 200),
        }
    }

    fn prm(resource: &str) -> Value {
        json!({"resource": resource, "authorization_servers": ["http://127.0.0.1:9400"]})
    }

    #[test]
    fn discovery() {
        let missing = [
            attempt(PATH, &[PrmRole::PathInserted], 404, None),
            attempt(ROOT, &[PrmRole::Root], 404, None),
        ];
        check(
            judge_discovery(&missing, false),
            expect![[r#"
                fail: the 401 carries no resource_metadata, and no protected-resource metadata was found; tried http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp (404), http://127.0.0.1:1/.well-known/oauth-protected-resource (404)
                  evidence: GET http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp -> 404
                  evidence: GET http://127.0.0.1:1/.well-known/oauth-protected-resource -> 404
            "#]],
        );
        let found = [
            attempt(PATH, &[PrmRole::PathInserted], 404, None),
            attempt(ROOT, &[PrmRole::Root], 200, Some(prm(TARGET))),
        ];
        check(
            judge_discovery(&found, true),
            expect![[r#"
                pass
                  note: metadata found at http://127.0.0.1:1/.well-known/oauth-protected-resource
            "#]],
        );
    }

    #[test]
    fn path_inserted() {
        check(
            judge_path_inserted(&[attempt(ROOT, &[PrmRole::Root], 200, Some(prm(TARGET)))]),
            expect![[r#"
                not testable: the path-inserted URL was not probed
            "#]],
        );
        check(
            judge_path_inserted(&[attempt(PATH, &[PrmRole::PathInserted], 404, None)]),
            expect![[r#"
                fail: no metadata at the path-inserted URL http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp (HTTP 404), the first place MCP clients look
                  evidence: GET http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp -> 404
            "#]],
        );
    }

    #[test]
    fn no_auth() {
        let mut behind_token = attempt(PATH, &[PrmRole::PathInserted], 401, None);
        behind_token.authenticated = Some(exchange(&format!(
            "GET {PATH}\nauthorization: Bearer t\n=>\n200\n\n{}",
            prm(TARGET)
        )));
        behind_token.document = Some(prm(TARGET));
        check(
            judge_no_auth(&[behind_token]),
            expect![[r#"
                fail: http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp answered HTTP 401 without a token and served the metadata only with one
                  evidence: GET http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp -> 401
            "#]],
        );
        check(
            judge_no_auth(&[attempt(
                PATH,
                &[PrmRole::PathInserted],
                200,
                Some(prm(TARGET)),
            )]),
            expect![[r#"
                pass
                  note: metadata is served without credentials
            "#]],
        );
    }

    #[test]
    fn resource_valid() {
        let a = attempt(PATH, &[PrmRole::PathInserted], 200, Some(prm(TARGET)));
        check(
            judge_resource_valid(&a, &prm("http://mcp.example/mcp#frag")),
            expect![[r#"
                fail: resource "http://mcp.example/mcp#frag" has a fragment, which RFC 8707 §2 forbids; resource "http://mcp.example/mcp#frag" uses scheme http; https is required (http only on loopback)
                  evidence: GET http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp -> 200
            "#]],
        );
        check(
            judge_resource_valid(&a, &json!({})),
            expect![[r#"
                fail: the document has no resource member
                  evidence: GET http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp -> 200
            "#]],
        );
        check(
            judge_resource_valid(&a, &prm(TARGET)),
            expect![[r#"
                pass
                  note: resource "http://127.0.0.1:1/mcp" is a valid resource identifier
            "#]],
        );
    }

    #[test]
    fn resource_equals_url() {
        let slash = [attempt(
            PATH,
            &[PrmRole::Pointer, PrmRole::PathInserted],
            200,
            Some(prm("http://127.0.0.1:1/mcp/")),
        )];
        check(
            judge_resource_equals_url(&slash, TARGET),
            expect![[r#"
                fail: resource "http://127.0.0.1:1/mcp/" differs from the URL the client used, "http://127.0.0.1:1/mcp" (they differ only by a trailing slash, which strict clients reject)
                  evidence: GET http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp -> 200
            "#]],
        );
        let invalid = [attempt(PATH, &[PrmRole::Pointer], 200, Some(json!({})))];
        check(
            judge_resource_equals_url(&invalid, TARGET),
            expect![[r#"
                not testable: the resource value is not a valid identifier (see prm.resource-valid)
            "#]],
        );
        let exact = [attempt(PATH, &[PrmRole::Pointer], 200, Some(prm(TARGET)))];
        check(
            judge_resource_equals_url(&exact, TARGET),
            expect![[r#"
                pass
                  note: resource equals the URL the client used (http://127.0.0.1:1/mcp)
            "#]],
        );
    }

    #[test]
    fn wellknown_consistency() {
        let origin = "http://127.0.0.1:1";
        let inconsistent = [
            attempt(PATH, &[PrmRole::PathInserted], 200, Some(prm(origin))),
            attempt(
                ROOT,
                &[PrmRole::Root],
                200,
                Some(prm("http://127.0.0.1:1/other")),
            ),
        ];
        check(
            judge_wellknown_consistency(&inconsistent, origin, TARGET),
            expect![[r#"
                fail: http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp was derived from the identifier "http://127.0.0.1:1/mcp" but its resource is "http://127.0.0.1:1" (RFC 9728 §3.3); http://127.0.0.1:1/.well-known/oauth-protected-resource has resource "http://127.0.0.1:1/other", which is neither the origin "http://127.0.0.1:1" nor the server URL
                  evidence: GET http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp -> 200
                  evidence: GET http://127.0.0.1:1/.well-known/oauth-protected-resource -> 200
            "#]],
        );
        let consistent = [
            attempt(PATH, &[PrmRole::PathInserted], 200, Some(prm(TARGET))),
            attempt(ROOT, &[PrmRole::Root], 200, Some(prm(origin))),
        ];
        check(
            judge_wellknown_consistency(&consistent, origin, TARGET),
            expect![[r#"
                pass
                  note: consistent: http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp, http://127.0.0.1:1/.well-known/oauth-protected-resource
            "#]],
        );
    }

    #[test]
    fn issuers_listed() {
        assert_eq!(
            issuer_list(&json!({"authorization_servers": []})),
            Err("authorization_servers is empty; MCP requires at least one".to_string())
        );
        assert_eq!(
            issuer_list(&json!({"authorization_servers": ["urn:x"]})),
            Err("authorization_servers holds \"urn:x\", which is not an issuer URL".to_string())
        );
        assert_eq!(
            issuer_list(&json!({"authorization_servers": ["https://as.example"]})),
            Ok(vec!["https://as.example".to_string()])
        );
    }

    #[test]
    fn as_resolvable() {
        let issuer = "http://127.0.0.1:9400";
        let named = |url: &str, iss: &str| {
            exchange(&format!(
                "GET {url}\n=>\n200\ncontent-type: application/json\n\n{{\"issuer\":\"{iss}\"}}"
            ))
        };
        let slashed = vec![
            named(
                "http://127.0.0.1:9400/.well-known/oauth-authorization-server",
                "http://127.0.0.1:9400/",
            ),
            exchange("GET http://127.0.0.1:9400/.well-known/openid-configuration\n=>\n404"),
        ];
        check(
            judge_as_resolvable(1, &[(issuer.to_string(), slashed)]),
            expect![[r#"
                fail: no authorization-server metadata with issuer "http://127.0.0.1:9400" found; tried http://127.0.0.1:9400/.well-known/oauth-authorization-server (200), http://127.0.0.1:9400/.well-known/openid-configuration (404); the metadata names "http://127.0.0.1:9400/", which differs only by a trailing slash, but RFC 8414 §3.3 compares issuers exactly (URL types that normalise, such as pydantic's AnyHttpUrl, add the slash)
                  evidence: GET http://127.0.0.1:9400/.well-known/oauth-authorization-server -> 200
                  evidence: GET http://127.0.0.1:9400/.well-known/openid-configuration -> 404
            "#]],
        );
        let good = vec![named(
            "http://127.0.0.1:9400/.well-known/oauth-authorization-server",
            issuer,
        )];
        check(
            judge_as_resolvable(7, &[(issuer.to_string(), good)]),
            expect![[r#"
                pass
                  note: resolved only the first 5 of 7 issuers were resolved; http://127.0.0.1:9400 via http://127.0.0.1:9400/.well-known/oauth-authorization-server
            "#]],
        );
    }

    #[test]
    fn optional_fields() {
        let a = attempt(PATH, &[PrmRole::PathInserted], 200, Some(prm(TARGET)));
        let doc = json!({
            "resource": TARGET,
            "bearer_methods_supported": ["query"],
            "scopes_supported": ["mcp:*", "offline_access"],
        });
        check(
            judge_optional_fields(&a, &doc),
            expect![[r#"
                fail: bearer_methods_supported does not include "header"; bearer_methods_supported advertises "query"; MCP forbids tokens in the query string; scopes_supported lists a wildcard scope
                  evidence: GET http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp -> 200
            "#]],
        );
        let older = json!({"resource": TARGET, "scopes_supported": ["mcp", "offline_access"]});
        check(
            judge_optional_fields(&a, &older),
            expect![[r#"
                pass
                  note: bearer_methods_supported and scopes_supported are sound (or absent)
            "#]],
        );
    }
}
