//! The transport's part in authorization: `Origin` and `Host` (DNS rebinding), the stateless
//! wire's request headers, what stands in for a token (sessions, state handles), forwarded hosts,
//! and https (MCP Streamable HTTP: Security Warning, Request Metadata; Security Best Practices;
//! Authorization: Communication Security).

use super::*;
use crate::spec::SpecVersion;
use crate::urls::is_loopback_host;

pub(crate) const PROBES: &[Probe] = &[
    probe!("transport.origin-validation" => origin_validation),
    probe!("transport.header-mismatch" => header_mismatch),
    probe!("transport.state-handle-not-auth" => state_handle_not_auth),
    probe!("transport.session-user-binding" => session_user_binding),
    probe!("transport.host-not-reflected" => host_not_reflected),
    probe!(once "transport.https" => sync https),
];

/// A site that is not the target's: the origin a rebinding page would send.
const FOREIGN_ORIGIN: &str = "http://rebinding.attacker.invalid";

/// The host name a rebinding or header-injecting attacker uses.
const ATTACKER_HOST: &str = "attacker.invalid";

/// A valid token of the run with the required scopes, as an `Authorization` value, or the stop
/// of a check that needs one.
async fn valid_authorization(cx: &Cx<'_>) -> Result<Vec<String>, Stop> {
    let facts = cx.facts;
    needs_valid_token(facts)?;
    let token = mint_scoped(cx.ctx, &facts.required_scopes).await?;
    Ok(vec![format!("Bearer {}", token.token)])
}

/// Whether the target listens on a loopback address (where DNS rebinding is the threat).
fn loopback_target(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| is_loopback_host(&u))
}

// ---- transport.origin-validation ----------------------------------------------------------

/// `transport.origin-validation`: a valid request from a foreign `Origin` is refused with 403;
/// on a loopback target, so is one naming a foreign `Host`.
async fn origin_validation(cx: &Cx<'_>) -> Judged {
    let (ctx, facts) = (cx.ctx, cx.facts);
    let auth = valid_authorization(cx).await?;
    let request = || {
        ctx.mcp
            .request(&facts.wire, &McpCall::Initialize, &auth, None)
    };
    let foreign = ctx
        .target
        .send(request().header("origin", FOREIGN_ORIGIN))
        .await;
    let own = ctx
        .target
        .send(request().header("origin", ctx.origin()))
        .await;
    let loopback = loopback_target(&ctx.mcp.url);
    // The attacker's name without a port: what matters is the name, and a port would make every
    // report differ from the last.
    let rebound = if loopback {
        Some(
            ctx.target
                .send(request().set_header("host", ATTACKER_HOST))
                .await,
        )
    } else {
        None
    };
    Ok(judge_origin(
        facts.wire.spec,
        loopback,
        &foreign,
        &own,
        rebound.as_ref(),
    ))
}

fn judge_origin(
    spec: SpecVersion,
    loopback: bool,
    foreign: &Exchange,
    own: &Exchange,
    rebound: Option<&Exchange>,
) -> Verdict {
    let mut evidence = vec![foreign.clone()];
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let wants_403 = spec >= SpecVersion::V2025_11_25;
    if accepted(foreign).is_ok() {
        if !loopback {
            return Verdict::warn(
                format!(
                    "a valid request with Origin: {FOREIGN_ORIGIN} was served; a remote server may serve browser clients of any site on purpose, but the spec has every server validate Origin (DNS rebinding is the threat to local ones)"
                ),
                evidence,
            );
        }
        problems.push(format!(
            "a valid request with Origin: {FOREIGN_ORIGIN} was served, so a page on any site can reach this local server through a rebound DNS name"
        ));
    } else if foreign.status() == Some(403) {
        notes.push("a foreign Origin gets 403".to_string());
    } else if wants_403 {
        problems.push(format!(
            "a valid request with a foreign Origin got {}, not 403",
            foreign.status_text()
        ));
    } else {
        notes.push(format!(
            "a foreign Origin is refused ({})",
            foreign.status_text()
        ));
    }
    if accepted(own).is_err() {
        notes.push(format!(
            "the target's own origin is refused too ({})",
            own.status_text()
        ));
        evidence.push(own.clone());
    }
    if let Some(rebound) = rebound {
        if accepted(rebound).is_ok() {
            problems.push(format!(
                "a valid request with Host: {ATTACKER_HOST} was served by this loopback server (DNS rebinding)"
            ));
            evidence.push(rebound.clone());
        } else {
            notes.push(format!(
                "a foreign Host is refused ({})",
                rebound.status_text()
            ));
        }
    }
    if problems.is_empty() {
        Verdict::pass(notes.join("; "), evidence)
    } else {
        Verdict::fail(problems.join("; "), evidence)
    }
}

// ---- transport.header-mismatch ------------------------------------------------------------

/// The stop of a check about the stateless wire, in the legacy era.
fn modern_only(facts: &Facts, what: &str) -> Result<(), Stop> {
    if facts.wire.era == Era::Modern {
        Ok(())
    } else {
        Err(Stop::skip(format!(
            "{what} belong to the stateless 2026-07-28 wire, not the legacy one"
        )))
    }
}

/// `transport.header-mismatch`: a stateless request whose `Mcp-Method` or `Mcp-Name` header
/// disagrees with its body is refused with 400 `HeaderMismatch`, and a header naming an open
/// method never lets a protected call in without a token.
async fn header_mismatch(cx: &Cx<'_>) -> Judged {
    let (ctx, facts) = (cx.ctx, cx.facts);
    modern_only(facts, "Mcp-Method and Mcp-Name")?;
    let auth = valid_authorization(cx).await?;
    let wire = &facts.wire;
    let method = ctx
        .target
        .send(
            ctx.mcp
                .request(wire, &McpCall::ToolsList, &auth, None)
                .set_header("mcp-method", "prompts/list"),
        )
        .await;
    let list = ctx
        .target
        .send(ctx.mcp.request(wire, &McpCall::ToolsList, &auth, None))
        .await;
    // A tool the valid token may call: not the one that needs more scope.
    let scoped = ctx
        .options
        .scoped_operation
        .as_ref()
        .and_then(|op| op.0.name().map(str::to_string));
    let tool = tool_names(&list)
        .into_iter()
        .find(|t| Some(t) != scoped.as_ref())
        .unwrap_or_else(|| "echo".to_string());
    let call = McpCall::ToolsCall {
        name: tool.clone(),
        arguments: json!({}),
    };
    let name = ctx
        .target
        .send(
            ctx.mcp
                .request(wire, &call, &auth, None)
                .set_header("mcp-name", format!("{tool}-other")),
        )
        .await;
    let bypass = ctx
        .target
        .send(
            ctx.mcp
                .request(wire, &call, &[], None)
                .set_header("mcp-method", "server/discover")
                .without_header("mcp-name"),
        )
        .await;
    Ok(judge_header_mismatch(&method, &name, &bypass))
}

/// The tools a `tools/list` answer names, in its order.
fn tool_names(exchange: &Exchange) -> Vec<String> {
    let Some(response) = exchange.response() else {
        return Vec::new();
    };
    match read_response(response.header("content-type"), &response.body) {
        RpcOutcome::Result(result) => result
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.get("name")?.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The JSON-RPC error code of an answer, if it carries one.
fn error_code(exchange: &Exchange) -> Option<i64> {
    let response = exchange.response()?;
    match read_response(response.header("content-type"), &response.body) {
        RpcOutcome::Error { code, .. } => Some(code),
        _ => serde_json::from_slice::<Value>(&response.body)
            .ok()?
            .pointer("/error/code")?
            .as_i64(),
    }
}

/// `HeaderMismatch` (MCP 2026-07-28, Base Protocol: Error Codes).
const HEADER_MISMATCH: i64 = -32020;

fn judge_header_mismatch(method: &Exchange, name: &Exchange, bypass: &Exchange) -> Verdict {
    let evidence = vec![method.clone(), name.clone(), bypass.clone()];
    if accepted(bypass).is_ok() {
        return Verdict::fail(
            "a tools/call without a token was served because its Mcp-Method header said server/discover: authorization follows the header while the server runs the body",
            evidence,
        );
    }
    let mut problems = Vec::new();
    let mut remarks = Vec::new();
    for (what, exchange) in [
        ("an Mcp-Method header naming another method", method),
        ("an Mcp-Name header naming another tool", name),
    ] {
        if accepted(exchange).is_ok() {
            problems.push(format!("a request with {what} than its body was served"));
        } else if exchange.status() == Some(400) && error_code(exchange) == Some(HEADER_MISMATCH) {
        } else if exchange.status().is_some_and(|s| (400..500).contains(&s)) {
            let answer = if exchange.status() == Some(400) {
                "400 without".to_string()
            } else {
                format!("{}, not 400 with", exchange.status_text())
            };
            remarks.push(format!(
                "a request with {what} was refused with {answer} JSON-RPC error {HEADER_MISMATCH} (HeaderMismatch)"
            ));
        } else {
            problems.push(format!(
                "a request with {what} got {}",
                exchange.status_text()
            ));
        }
    }
    if !problems.is_empty() {
        Verdict::fail(
            format!(
                "{}; a server must refuse requests whose headers disagree with the body (400, HeaderMismatch)",
                problems.join("; ")
            ),
            evidence,
        )
    } else if !remarks.is_empty() {
        Verdict::warn(remarks.join("; "), evidence)
    } else {
        Verdict::pass(
            "disagreeing Mcp-Method and Mcp-Name headers get 400 HeaderMismatch, and an open method's header does not open a protected call",
            evidence,
        )
    }
}

// ---- transport.state-handle-not-auth ------------------------------------------------------

/// `transport.state-handle-not-auth`: on the stateless wire nothing but the token
/// authenticates: a request carrying a session id the server minted for an authenticated
/// legacy session, without a token or with an invalid one, is refused.
async fn state_handle_not_auth(cx: &Cx<'_>) -> Judged {
    let (ctx, facts) = (cx.ctx, cx.facts);
    modern_only(facts, "state handles")?;
    let auth = valid_authorization(cx).await?;
    // A legacy session of a valid token, if the server also speaks the legacy wire.
    let legacy = crate::mcp::Wire::before_answer(Era::Legacy, ctx.spec);
    let init = ctx
        .target
        .send(ctx.mcp.request(&legacy, &McpCall::Initialize, &auth, None))
        .await;
    let minted = init
        .response()
        .filter(|_| accepted(&init).is_ok())
        .and_then(|r| r.header("mcp-session-id"))
        .map(str::to_string);
    let handle = minted
        .clone()
        .unwrap_or_else(|| format!("conformance-{}", crate::oauth::flow::random_text(16)));
    let without = ctx
        .target
        .send(
            ctx.mcp
                .request(&facts.wire, &McpCall::ToolsList, &[], Some(&handle)),
        )
        .await;
    let invalid = ctx
        .target
        .send(ctx.mcp.request(
            &facts.wire,
            &McpCall::ToolsList,
            &["Bearer not-a-valid-token".to_string()],
            Some(&handle),
        ))
        .await;
    Ok(judge_state_handle(minted.is_some(), &without, &invalid))
}

fn judge_state_handle(minted: bool, without: &Exchange, invalid: &Exchange) -> Verdict {
    let what = if minted {
        "the session id of an authenticated legacy session"
    } else {
        "a session id (the server opened no legacy session, so a made-up one)"
    };
    let evidence = vec![without.clone(), invalid.clone()];
    let mut served = Vec::new();
    if accepted(without).is_ok() {
        served.push("without a token");
    }
    if accepted(invalid).is_ok() {
        served.push("with an invalid token");
    }
    if served.is_empty() {
        Verdict::pass(
            format!(
                "stateless requests carrying {what} are refused without a valid token ({}, {})",
                without.status_text(),
                invalid.status_text()
            ),
            evidence,
        )
    } else {
        Verdict::fail(
            format!(
                "a stateless request carrying {what} was served {}: possession of a handle is treated as authentication",
                served.join(" and ")
            ),
            evidence,
        )
    }
}

// ---- transport.session-user-binding -------------------------------------------------------

/// The subject of the second user's tokens.
const OTHER_USER: &str = "conformance-other-user";

/// `transport.session-user-binding`: a legacy session opened by one user is not served to
/// another user's valid token.
async fn session_user_binding(cx: &Cx<'_>) -> Judged {
    let (ctx, facts) = (cx.ctx, cx.facts);
    if facts.wire.era != Era::Legacy {
        return Err(Stop::skip(
            "sessions belong to the legacy wire; the stateless one has none",
        ));
    }
    let auth = valid_authorization(cx).await?;
    let wire = &facts.wire;
    let init = ctx
        .target
        .send(ctx.mcp.request(wire, &McpCall::Initialize, &auth, None))
        .await;
    let Some(session) = init
        .response()
        .filter(|_| accepted(&init).is_ok())
        .and_then(|r| r.header("mcp-session-id"))
        .map(str::to_string)
    else {
        return Err(Stop::skip(
            "initialize opened no session (a stateless server)",
        ));
    };
    ctx.target
        .send(
            ctx.mcp
                .request(wire, &McpCall::Initialized, &auth, Some(&session)),
        )
        .await;
    let own = ctx
        .target
        .send(ctx.mcp.request(wire, &McpCall::Ping, &auth, Some(&session)))
        .await;
    let scope = if facts.required_scopes.is_empty() {
        Value::Null
    } else {
        json!(facts.required_scopes.join(" "))
    };
    let other = ctx
        .mint(&json!({"scope": scope, "subject": OTHER_USER}))
        .await?;
    // The other user's token must work on its own, or its refusal in the session proves nothing
    // (a server that accepts only pre-shared tokens refuses it everywhere).
    let alone = ctx
        .target
        .send(ctx.mcp.request(
            wire,
            &McpCall::Initialize,
            &[format!("Bearer {}", other.token)],
            None,
        ))
        .await;
    if let Err(why) = accepted(&alone) {
        return Err(Stop::not_testable(
            format!("another user's token is refused even outside the session ({why})"),
            vec![alone],
        ));
    }
    let foreign = ctx
        .target
        .send(ctx.mcp.request(
            wire,
            &McpCall::Ping,
            &[format!("Bearer {}", other.token)],
            Some(&session),
        ))
        .await;
    Ok(judge_session_binding(&own, &foreign))
}

fn judge_session_binding(own: &Exchange, foreign: &Exchange) -> Verdict {
    let evidence = vec![own.clone(), foreign.clone()];
    if accepted(own).is_err() {
        return Verdict::not_testable(
            format!(
                "the session's own user could not use it ({})",
                own.status_text()
            ),
            evidence,
        );
    }
    if accepted(foreign).is_ok() {
        Verdict::fail(
            format!(
                "another user's valid token ({OTHER_USER}) was served in the session: sessions are not bound to the user who opened them, so a leaked session id lets anyone act in it"
            ),
            evidence,
        )
    } else {
        Verdict::pass(
            format!(
                "another user's token is refused in the session ({})",
                foreign.status_text()
            ),
            evidence,
        )
    }
}

// ---- transport.host-not-reflected ---------------------------------------------------------

/// `transport.host-not-reflected`: the challenge's `resource_metadata` and the metadata's
/// `resource` do not follow `X-Forwarded-Host` or `Forwarded` headers a client sends.
async fn host_not_reflected(cx: &Cx<'_>) -> Judged {
    let (ctx, facts) = (cx.ctx, cx.facts);
    let poison = |request: Request| {
        request
            .header("x-forwarded-host", ATTACKER_HOST)
            .header("x-forwarded-proto", "https")
            .header("forwarded", format!("host={ATTACKER_HOST};proto=https"))
    };
    let challenge = ctx
        .target
        .send(poison(ctx.mcp.request(
            &facts.wire,
            &McpCall::Initialize,
            &[],
            None,
        )))
        .await;
    let metadata = match facts.prm() {
        Some((attempt, _)) => Some(
            ctx.target
                .send(poison(Request::get_json(attempt.url.clone())))
                .await,
        ),
        None => None,
    };
    Ok(judge_host_reflection(&challenge, metadata.as_ref()))
}

fn judge_host_reflection(challenge: &Exchange, metadata: Option<&Exchange>) -> Verdict {
    let mut evidence = vec![challenge.clone()];
    let mut problems = Vec::new();
    if let Some(pointer) = bearer_challenge(challenge)
        .as_ref()
        .and_then(|c| c.param("resource_metadata").map(str::to_string))
        && pointer.contains(ATTACKER_HOST)
    {
        problems.push(format!(
            "the challenge's resource_metadata follows the forwarded host ({pointer})"
        ));
    }
    if let Some(metadata) = metadata {
        evidence.push(metadata.clone());
        if let Some(resource) = metadata
            .response()
            .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .and_then(|d| d.get("resource")?.as_str().map(str::to_string))
            && resource.contains(ATTACKER_HOST)
        {
            problems.push(format!(
                "the metadata's resource follows the forwarded host ({resource})"
            ));
        }
    }
    if problems.is_empty() {
        Verdict::pass(
            "forwarded-host headers from the client change neither the challenge nor the metadata",
            evidence,
        )
    } else {
        Verdict::fail(
            format!(
                "{}: any client (or a cache in front) can make the server advertise an attacker's host; trust X-Forwarded-Host only from a configured proxy",
                problems.join("; ")
            ),
            evidence,
        )
    }
}

// ---- transport.https ----------------------------------------------------------------------

/// `transport.https`: the target and every URL it advertises (its metadata, its challenge, its
/// authorization server's endpoints) use https, except on loopback hosts.
fn https(cx: &Cx<'_>) -> Judged {
    let (ctx, facts) = (cx.ctx, cx.facts);
    let mut urls: Vec<(String, String)> = vec![("the MCP endpoint".into(), ctx.mcp.url.clone())];
    if let Some(pointer) = facts.resource_metadata_param() {
        urls.push((
            "the challenge's resource_metadata".into(),
            pointer.to_string(),
        ));
    }
    let mut evidence = Vec::new();
    if let Some((attempt, doc)) = facts.prm() {
        evidence.push(attempt.deciding_exchange().clone());
        for field in ["resource", "jwks_uri"] {
            if let Some(url) = doc.get(field).and_then(Value::as_str) {
                urls.push((format!("the metadata's {field}"), url.to_string()));
            }
        }
        for server in doc
            .get("authorization_servers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            urls.push((
                "an authorization server in the metadata".into(),
                server.to_string(),
            ));
        }
    }
    if let Some(doc) = facts
        .login
        .as_ref()
        .and_then(|l| l.discovery.as_ref())
        .and_then(|d| d.document())
    {
        for field in [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "registration_endpoint",
            "jwks_uri",
            "revocation_endpoint",
            "introspection_endpoint",
        ] {
            if let Some(url) = doc.get(field).and_then(Value::as_str) {
                urls.push((
                    format!("the authorization server's {field}"),
                    url.to_string(),
                ));
            }
        }
    }
    Ok(judge_https(&urls, evidence))
}

fn judge_https(urls: &[(String, String)], evidence: Vec<Exchange>) -> Verdict {
    let mut plain = Vec::new();
    let mut loopback = 0;
    for (what, text) in urls {
        match url::Url::parse(text) {
            Ok(u) if u.scheme() == "https" => {}
            Ok(u) if u.scheme() == "http" && is_loopback_host(&u) => loopback += 1,
            Ok(u) => plain.push(format!("{what} is {} ({text})", u.scheme())),
            Err(_) => {}
        }
    }
    if plain.is_empty() && loopback == urls.len() {
        // Nothing here could have been judged: a test setup on loopback, where http is allowed.
        Verdict::skip(format!(
            "the target and every URL it advertises are on loopback ({loopback}), where plain http is allowed"
        ))
    } else if plain.is_empty() {
        Verdict::passed(format!(
            "every advertised URL is https or on loopback ({} checked, {loopback} on loopback)",
            urls.len()
        ))
    } else {
        Verdict::fail(
            format!(
                "{}; everything but loopback must be https",
                plain.join("; ")
            ),
            evidence,
        )
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testkit::{exchange, render};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    fn answer(fixture: &str) -> Exchange {
        exchange(&format!("POST http://127.0.0.1:1/mcp\n=>\n{fixture}"))
    }

    const OK: &str =
        "200\ncontent-type: application/json\n\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";

    #[test]
    fn foreign_origins_get_403() {
        let forbidden = answer("403");
        check(
            judge_origin(
                SpecVersion::V2025_11_25,
                true,
                &forbidden,
                &answer(OK),
                Some(&forbidden),
            ),
            expect![[r#"
                pass
                  note: a foreign Origin gets 403; a foreign Host is refused (403)
                  evidence: POST http://127.0.0.1:1/mcp -> 403
            "#]],
        );
        check(
            judge_origin(
                SpecVersion::V2025_11_25,
                true,
                &answer(OK),
                &answer(OK),
                None,
            ),
            expect![[r#"
                fail: a valid request with Origin: http://rebinding.attacker.invalid was served, so a page on any site can reach this local server through a rebound DNS name
                  evidence: POST http://127.0.0.1:1/mcp -> 200
            "#]],
        );
        check(
            judge_origin(
                SpecVersion::V2025_11_25,
                false,
                &answer(OK),
                &answer(OK),
                None,
            ),
            expect![[r#"
                warn: a valid request with Origin: http://rebinding.attacker.invalid was served; a remote server may serve browser clients of any site on purpose, but the spec has every server validate Origin (DNS rebinding is the threat to local ones)
                  evidence: POST http://127.0.0.1:1/mcp -> 200
            "#]],
        );
        check(
            judge_origin(
                SpecVersion::V2025_11_25,
                true,
                &answer("400"),
                &answer(OK),
                None,
            ),
            expect![[r#"
                fail: a valid request with a foreign Origin got 400, not 403
                  evidence: POST http://127.0.0.1:1/mcp -> 400
            "#]],
        );
        check(
            judge_origin(
                SpecVersion::V2025_06_18,
                true,
                &answer("400"),
                &answer(OK),
                None,
            ),
            expect![[r#"
                pass
                  note: a foreign Origin is refused (400)
                  evidence: POST http://127.0.0.1:1/mcp -> 400
            "#]],
        );
    }

    #[test]
    fn header_mismatches() {
        let mismatch = answer(
            "400\ncontent-type: application/json\n\n{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32020,\"message\":\"Header mismatch\"}}",
        );
        let refused = answer("401");
        check(
            judge_header_mismatch(&mismatch, &mismatch, &refused),
            expect![[r#"
                pass
                  note: disagreeing Mcp-Method and Mcp-Name headers get 400 HeaderMismatch, and an open method's header does not open a protected call
                  evidence: POST http://127.0.0.1:1/mcp -> 400
                  evidence: POST http://127.0.0.1:1/mcp -> 400
                  evidence: POST http://127.0.0.1:1/mcp -> 401
            "#]],
        );
        check(
            judge_header_mismatch(&mismatch, &answer(OK), &refused),
            expect![[r#"
                fail: a request with an Mcp-Name header naming another tool than its body was served; a server must refuse requests whose headers disagree with the body (400, HeaderMismatch)
                  evidence: POST http://127.0.0.1:1/mcp -> 400
                  evidence: POST http://127.0.0.1:1/mcp -> 200
                  evidence: POST http://127.0.0.1:1/mcp -> 401
            "#]],
        );
        check(
            judge_header_mismatch(&mismatch, &mismatch, &answer(OK)),
            expect![[r#"
                fail: a tools/call without a token was served because its Mcp-Method header said server/discover: authorization follows the header while the server runs the body
                  evidence: POST http://127.0.0.1:1/mcp -> 400
                  evidence: POST http://127.0.0.1:1/mcp -> 400
                  evidence: POST http://127.0.0.1:1/mcp -> 200
            "#]],
        );
        check(
            judge_header_mismatch(&answer("400"), &mismatch, &refused),
            expect![[r#"
                warn: a request with an Mcp-Method header naming another method was refused with 400 without JSON-RPC error -32020 (HeaderMismatch)
                  evidence: POST http://127.0.0.1:1/mcp -> 400
                  evidence: POST http://127.0.0.1:1/mcp -> 400
                  evidence: POST http://127.0.0.1:1/mcp -> 401
            "#]],
        );
    }

    #[test]
    fn handles_and_sessions() {
        check(
            judge_state_handle(true, &answer("401"), &answer(OK)),
            expect![[r#"
                fail: a stateless request carrying the session id of an authenticated legacy session was served with an invalid token: possession of a handle is treated as authentication
                  evidence: POST http://127.0.0.1:1/mcp -> 401
                  evidence: POST http://127.0.0.1:1/mcp -> 200
            "#]],
        );
        check(
            judge_session_binding(&answer(OK), &answer("404")),
            expect![[r#"
                pass
                  note: another user's token is refused in the session (404)
                  evidence: POST http://127.0.0.1:1/mcp -> 200
                  evidence: POST http://127.0.0.1:1/mcp -> 404
            "#]],
        );
        check(
            judge_session_binding(&answer(OK), &answer(OK)),
            expect![[r#"
                fail: another user's valid token (conformance-other-user) was served in the session: sessions are not bound to the user who opened them, so a leaked session id lets anyone act in it
                  evidence: POST http://127.0.0.1:1/mcp -> 200
                  evidence: POST http://127.0.0.1:1/mcp -> 200
            "#]],
        );
    }

    #[test]
    fn forwarded_hosts_and_plain_http() {
        let reflected = answer(
            "401\nwww-authenticate: Bearer resource_metadata=\"https://attacker.invalid/.well-known/oauth-protected-resource/mcp\"\n",
        );
        check(
            judge_host_reflection(&reflected, None),
            expect![[r#"
                fail: the challenge's resource_metadata follows the forwarded host (https://attacker.invalid/.well-known/oauth-protected-resource/mcp): any client (or a cache in front) can make the server advertise an attacker's host; trust X-Forwarded-Host only from a configured proxy
                  evidence: POST http://127.0.0.1:1/mcp -> 401
            "#]],
        );
        let urls = vec![
            (
                "the MCP endpoint".to_string(),
                "http://127.0.0.1:1/mcp".to_string(),
            ),
            (
                "the metadata's jwks_uri".to_string(),
                "http://keys.example.com/jwks".to_string(),
            ),
            (
                "an authorization server in the metadata".to_string(),
                "https://as.example.com".to_string(),
            ),
        ];
        check(
            judge_https(&urls, Vec::new()),
            expect![[r#"
                fail: the metadata's jwks_uri is http (http://keys.example.com/jwks); everything but loopback must be https
            "#]],
        );
        check(
            judge_https(&[urls[0].clone(), urls[2].clone()], Vec::new()),
            expect![[r#"
                pass
                  note: every advertised URL is https or on loopback (2 checked, 1 on loopback)
            "#]],
        );
        check(
            judge_https(&urls[..1], Vec::new()),
            expect![[r#"
                skip: the target and every URL it advertises are on loopback (1), where plain http is allowed
            "#]],
        );
    }
}
