//! Scopes as MCP 2025-11-25 and 2026-07-28 have resource servers use them: what their challenges
//! and metadata name, an operation that needs more scope than listing does, one challenge per
//! operation, and scope hierarchies (MCP Authorization: Scope Challenge Handling, Step-Up
//! Authorization Flow, Refresh Tokens).

use super::*;
use crate::context::ScopeImplication;
use crate::discovery::PrmAttempt;

pub(crate) const PROBES: &[Probe] = &[
    probe!("scope.no-offline-access" => sync no_offline_access),
    probe!("scope.per-operation-403" => per_operation_403),
    probe!("scope.single-challenge" => single_challenge),
    probe!("scope.hierarchy" => hierarchy),
];

/// The scope refresh tokens are asked for with (OpenID Connect Core §11).
const OFFLINE_ACCESS: &str = "offline_access";

/// `scope.no-offline-access`: neither the 401 challenge's `scope` nor the metadata's
/// `scopes_supported` names `offline_access`.
fn no_offline_access(cx: &Cx<'_>) -> Judged {
    let f = cx.facts;
    Ok(judge_no_offline_access(&f.unauthenticated, f.prm()))
}

fn judge_no_offline_access(
    unauthenticated: &Exchange,
    prm: Option<(&PrmAttempt, &Value)>,
) -> Verdict {
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    if let Some(scope) = bearer_challenge(unauthenticated)
        .as_ref()
        .and_then(|c| c.param("scope").map(str::to_string))
        && scope.split_whitespace().any(|s| s == OFFLINE_ACCESS)
    {
        problems.push(format!(
            "the 401 challenge asks for offline_access (scope=\"{scope}\")"
        ));
        evidence.push(unauthenticated.clone());
    }
    if let Some((attempt, doc)) = prm
        && doc
            .get("scopes_supported")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(OFFLINE_ACCESS)))
    {
        problems.push(
            "the protected-resource metadata lists offline_access in scopes_supported".into(),
        );
        evidence.push(attempt.deciding_exchange().clone());
    }
    if problems.is_empty() {
        Verdict::passed("neither the challenge nor the metadata names offline_access")
    } else {
        Verdict::fail(
            format!(
                "{}: refresh tokens are the client's business with the authorization server, not a scope the resource needs",
                problems.join("; ")
            ),
            evidence,
        )
    }
}

/// The scoped operation of the run, or the skip that says how to name one.
fn scoped_operation(ctx: &Ctx) -> Result<McpCall, Stop> {
    ctx.options
        .scoped_operation
        .as_ref()
        .map(|op| op.0.clone())
        .ok_or_else(|| {
            Stop::skip(
                "no operation that needs more scope than listing was named; give one with --scoped-operation tools/call:NAME (or resources/read:URI, prompts/get:NAME)",
            )
        })
}

/// The positive control's precondition: a valid token was accepted in this era.
fn needs_valid_token(facts: &Facts) -> Result<(), Stop> {
    if facts.positive.passed {
        Ok(())
    } else {
        Err(Stop::not_testable(
            format!(
                "needs a token the target accepts: {}",
                facts.positive.message
            ),
            Vec::new(),
        ))
    }
}

/// Calls the scoped operation with a token carrying only the scopes every request needs.
async fn under_scoped_call(cx: &Cx<'_>) -> Result<(McpCall, Vec<String>, Exchange), Stop> {
    let (ctx, facts) = (cx.ctx, cx.facts);
    needs_valid_token(facts)?;
    let call = scoped_operation(ctx)?;
    let scopes = facts.required_scopes.clone();
    let token = mint_scoped(ctx, &scopes).await?;
    let answer = call_in_era(
        ctx,
        &facts.wire,
        &call,
        &[format!("Bearer {}", token.token)],
    )
    .await;
    Ok((call, scopes, answer))
}

/// `scope.per-operation-403`: an operation that needs more scope than the token has is refused
/// with 403 `insufficient_scope`, naming a scope the token lacks.
async fn per_operation_403(cx: &Cx<'_>) -> Judged {
    let (call, scopes, answer) = under_scoped_call(cx).await?;
    Ok(judge_per_operation(&call, &scopes, &answer))
}

/// The scopes a 403 `insufficient_scope` challenge names, or why the answer is not one.
fn challenged_scopes(answer: &Exchange) -> Result<Vec<String>, String> {
    if tool_error(answer).is_some() || accepted(answer).is_ok() {
        return Err("the operation was answered as if allowed".into());
    }
    let status = answer.status_text();
    if answer.status() != Some(403) {
        return Err(format!("HTTP {status}, not 403"));
    }
    let Some(challenge) = bearer_challenge(answer) else {
        return Err("403 without a Bearer challenge".into());
    };
    if challenge.param("error") != Some("insufficient_scope") {
        return Err(format!(
            "403 whose challenge has error={:?}, not insufficient_scope",
            challenge.param("error").unwrap_or("")
        ));
    }
    Ok(challenge
        .param("scope")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

fn judge_per_operation(call: &McpCall, granted: &[String], answer: &Exchange) -> Verdict {
    let op = format!("{} {}", call.method(), call.name().unwrap_or_default());
    let evidence = vec![answer.clone()];
    let held = if granted.is_empty() {
        "no scope".to_string()
    } else {
        granted.join(" ")
    };
    if let Some(text) = tool_error(answer) {
        return Verdict::fail(
            format!(
                "{op} with a token holding only {held} was answered with a tool error (HTTP 200: {text:?}) instead of 403 insufficient_scope, so a client cannot step up"
            ),
            evidence,
        );
    }
    if accepted(answer).is_ok() {
        return Verdict::fail(
            format!(
                "{op} succeeded with a token holding only {held}: the server does not check the operation's own scope (or --scoped-operation names an operation that needs no more)"
            ),
            evidence,
        );
    }
    match challenged_scopes(answer) {
        Ok(named) if named.is_empty() => Verdict::fail(
            format!(
                "{op} got 403 insufficient_scope without a scope attribute naming what it needs"
            ),
            evidence,
        ),
        Ok(named) if named.iter().all(|s| granted.contains(s)) => Verdict::fail(
            format!(
                "{op} got 403 insufficient_scope naming only scopes the token already has ({})",
                named.join(" ")
            ),
            evidence,
        ),
        Ok(named) => Verdict::pass(
            format!("{op} got 403 insufficient_scope naming {}", named.join(" ")),
            evidence,
        ),
        Err(why) => Verdict::fail(
            format!(
                "{op} with a token holding only {held}: {why}; a valid token lacking a scope gets 403 insufficient_scope"
            ),
            evidence,
        ),
    }
}

/// `scope.single-challenge`: a token with the scopes of the first challenge (with the ones it
/// had) is enough; no second challenge names more.
async fn single_challenge(cx: &Cx<'_>) -> Judged {
    let (call, scopes, first) = under_scoped_call(cx).await?;
    let named = challenged_scopes(&first).map_err(|why| {
        Stop::not_testable(
            format!("the under-scoped call was not challenged: {why}"),
            vec![first.clone()],
        )
    })?;
    let mut union = scopes.clone();
    for scope in named {
        if !union.contains(&scope) {
            union.push(scope);
        }
    }
    let token = mint_scoped(cx.ctx, &union).await?;
    let retry = call_in_era(
        cx.ctx,
        &cx.facts.wire,
        &call,
        &[format!("Bearer {}", token.token)],
    )
    .await;
    Ok(judge_single_challenge(&call, &union, &first, &retry))
}

fn judge_single_challenge(
    call: &McpCall,
    union: &[String],
    first: &Exchange,
    retry: &Exchange,
) -> Verdict {
    let op = format!("{} {}", call.method(), call.name().unwrap_or_default());
    let evidence = vec![first.clone(), retry.clone()];
    if succeeded(retry) {
        return Verdict::pass(
            format!(
                "one step-up was enough: {op} succeeded with the scopes of the first challenge ({})",
                union.join(" ")
            ),
            evidence,
        );
    }
    match challenged_scopes(retry) {
        Ok(again) => {
            let more: Vec<&String> = again.iter().filter(|s| !union.contains(s)).collect();
            if more.is_empty() {
                Verdict::not_testable(
                    format!(
                        "{op} with the challenged scopes ({}) got 403 insufficient_scope again, naming nothing new: the step-up token was not enough for another reason",
                        union.join(" ")
                    ),
                    evidence,
                )
            } else {
                Verdict::fail(
                    format!(
                        "{op} was challenged again after the client obtained every scope of the first challenge ({}): the second names {}; one challenge should name every scope the operation needs",
                        union.join(" "),
                        more.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                    evidence,
                )
            }
        }
        Err(why) => Verdict::not_testable(
            format!(
                "{op} with the challenged scopes ({}) was refused otherwise: {why}",
                union.join(" ")
            ),
            evidence,
        ),
    }
}

/// `scope.hierarchy`: a token with a declared broader scope in place of the narrower ones it
/// implies is enough for an operation that needs them.
async fn hierarchy(cx: &Cx<'_>) -> Judged {
    let (ctx, facts) = (cx.ctx, cx.facts);
    if ctx.options.scope_implies.is_empty() {
        return Err(Stop::skip(
            "the spec has no vocabulary for scope hierarchies, so this MUST cannot be judged from outside; declare the target's with --scope-implies BROAD=NARROW,...",
        ));
    }
    needs_valid_token(facts)?;
    // What needs the narrower scopes: the scoped operation (its challenge says what it needs),
    // or any request (the required scopes).
    let (call, needed, mut evidence) = match ctx.options.scoped_operation.as_ref() {
        Some(op) => {
            let token = mint_scoped(ctx, &facts.required_scopes).await?;
            let first = call_in_era(
                ctx,
                &facts.wire,
                &op.0,
                &[format!("Bearer {}", token.token)],
            )
            .await;
            let mut needed = facts.required_scopes.clone();
            if let Ok(named) = challenged_scopes(&first) {
                for scope in named {
                    if !needed.contains(&scope) {
                        needed.push(scope);
                    }
                }
            }
            (op.0.clone(), needed, vec![first])
        }
        None => (
            McpCall::Initialize,
            facts.required_scopes.clone(),
            Vec::new(),
        ),
    };
    let mut verdicts = Vec::new();
    for implication in &ctx.options.scope_implies {
        let Some(scopes) = broadened(&needed, implication) else {
            continue;
        };
        let token = mint_scoped(ctx, &scopes).await?;
        let answer = call_in_era(
            ctx,
            &facts.wire,
            &call,
            &[format!("Bearer {}", token.token)],
        )
        .await;
        verdicts.push((implication.clone(), scopes, answer));
    }
    if verdicts.is_empty() {
        evidence.truncate(1);
        return Err(Stop::not_testable(
            format!(
                "no declared hierarchy covers a scope the operation needs ({}): the declared broader scopes imply none of them",
                needed.join(" ")
            ),
            evidence,
        ));
    }
    Ok(judge_hierarchy(&call, &verdicts))
}

/// The scopes `needed` with the narrower scopes of `implication` replaced by its broader one;
/// `None` when the operation needs none of them.
fn broadened(needed: &[String], implication: &ScopeImplication) -> Option<Vec<String>> {
    if !needed.iter().any(|s| implication.narrower.contains(s)) {
        return None;
    }
    let mut scopes: Vec<String> = needed
        .iter()
        .filter(|s| !implication.narrower.contains(s))
        .cloned()
        .collect();
    scopes.push(implication.broad.clone());
    Some(scopes)
}

fn judge_hierarchy(call: &McpCall, tried: &[(ScopeImplication, Vec<String>, Exchange)]) -> Verdict {
    let op = format!("{} {}", call.method(), call.name().unwrap_or_default())
        .trim()
        .to_string();
    let mut refused = Vec::new();
    let mut unclear = Vec::new();
    let mut evidence = Vec::new();
    for (implication, scopes, answer) in tried {
        evidence.push(answer.clone());
        if succeeded(answer) {
            continue;
        }
        let line = format!(
            "a token with {} (which implies {}) got {}",
            scopes.join(" "),
            implication.narrower.join(" "),
            answer.status_text()
        );
        match challenged_scopes(answer) {
            Ok(_) => refused.push(line),
            Err(_) => unclear.push(line),
        }
    }
    if !refused.is_empty() {
        Verdict::fail(
            format!(
                "{op} refused a broader scope in place of the narrower ones it implies: {}",
                refused.join("; ")
            ),
            evidence,
        )
    } else if !unclear.is_empty() {
        Verdict::not_testable(
            format!("{op} was refused otherwise: {}", unclear.join("; ")),
            evidence,
        )
    } else {
        Verdict::pass(
            format!(
                "{op} accepted the broader scope in place of the narrower ones ({})",
                tried
                    .iter()
                    .map(|(i, _, _)| format!("{} ⊇ {}", i.broad, i.narrower.join(",")))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            evidence,
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

    fn admin() -> McpCall {
        McpCall::ToolsCall {
            name: "admin_report".into(),
            arguments: json!({}),
        }
    }

    fn answer(fixture: &str) -> Exchange {
        exchange(&format!("POST http://127.0.0.1:1/mcp\n=>\n{fixture}"))
    }

    const FORBIDDEN: &str = "403\nwww-authenticate: Bearer error=\"insufficient_scope\", scope=\"mcp:tools reports:read reports:export\"\n";
    const OK: &str = "200\ncontent-type: application/json\n\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}";
    const TOOL_ERROR: &str = "200\ncontent-type: application/json\n\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"isError\":true,\"content\":[{\"type\":\"text\",\"text\":\"denied\"}]}}";

    #[test]
    fn offline_access_in_the_challenge_or_the_metadata_fails() {
        let clean = answer("401\nwww-authenticate: Bearer scope=\"mcp:tools\"\n");
        check(
            judge_no_offline_access(&clean, None),
            expect![[r#"
                pass
                  note: neither the challenge nor the metadata names offline_access
            "#]],
        );
        let asks = answer("401\nwww-authenticate: Bearer scope=\"mcp:tools offline_access\"\n");
        check(
            judge_no_offline_access(&asks, None),
            expect![[r#"
                fail: the 401 challenge asks for offline_access (scope="mcp:tools offline_access"): refresh tokens are the client's business with the authorization server, not a scope the resource needs
                  evidence: POST http://127.0.0.1:1/mcp -> 401
            "#]],
        );
    }

    #[test]
    fn per_operation_refusals() {
        let granted = vec!["mcp:tools".to_string()];
        check(
            judge_per_operation(&admin(), &granted, &answer(FORBIDDEN)),
            expect![[r#"
                pass
                  note: tools/call admin_report got 403 insufficient_scope naming mcp:tools reports:read reports:export
                  evidence: POST http://127.0.0.1:1/mcp -> 403
            "#]],
        );
        check(
            judge_per_operation(&admin(), &granted, &answer(TOOL_ERROR)),
            expect![[r#"
                fail: tools/call admin_report with a token holding only mcp:tools was answered with a tool error (HTTP 200: "denied") instead of 403 insufficient_scope, so a client cannot step up
                  evidence: POST http://127.0.0.1:1/mcp -> 200
            "#]],
        );
        check(
            judge_per_operation(&admin(), &granted, &answer(OK)),
            expect![[r#"
                fail: tools/call admin_report succeeded with a token holding only mcp:tools: the server does not check the operation's own scope (or --scoped-operation names an operation that needs no more)
                  evidence: POST http://127.0.0.1:1/mcp -> 200
            "#]],
        );
        check(
            judge_per_operation(
                &admin(),
                &granted,
                &answer(
                    "403\nwww-authenticate: Bearer error=\"insufficient_scope\", scope=\"mcp:tools\"\n",
                ),
            ),
            expect![[r#"
                fail: tools/call admin_report got 403 insufficient_scope naming only scopes the token already has (mcp:tools)
                  evidence: POST http://127.0.0.1:1/mcp -> 403
            "#]],
        );
        check(
            judge_per_operation(
                &admin(),
                &granted,
                &answer("401\nwww-authenticate: Bearer error=\"invalid_token\"\n"),
            ),
            expect![[r#"
                fail: tools/call admin_report with a token holding only mcp:tools: HTTP 401, not 403; a valid token lacking a scope gets 403 insufficient_scope
                  evidence: POST http://127.0.0.1:1/mcp -> 401
            "#]],
        );
    }

    #[test]
    fn a_second_challenge_naming_more_fails() {
        let union: Vec<String> = ["mcp:tools", "reports:read"].map(String::from).to_vec();
        let first = answer(
            "403\nwww-authenticate: Bearer error=\"insufficient_scope\", scope=\"mcp:tools reports:read\"\n",
        );
        check(
            judge_single_challenge(&admin(), &union, &first, &answer(OK)),
            expect![[r#"
                pass
                  note: one step-up was enough: tools/call admin_report succeeded with the scopes of the first challenge (mcp:tools reports:read)
                  evidence: POST http://127.0.0.1:1/mcp -> 403
                  evidence: POST http://127.0.0.1:1/mcp -> 200
            "#]],
        );
        check(
            judge_single_challenge(&admin(), &union, &first, &answer(FORBIDDEN)),
            expect![[r#"
                fail: tools/call admin_report was challenged again after the client obtained every scope of the first challenge (mcp:tools reports:read): the second names reports:export; one challenge should name every scope the operation needs
                  evidence: POST http://127.0.0.1:1/mcp -> 403
                  evidence: POST http://127.0.0.1:1/mcp -> 403
            "#]],
        );
    }

    #[test]
    fn hierarchies_replace_narrower_scopes_by_the_broader_one() {
        let implication: ScopeImplication = "reports=reports:read,reports:export".parse().unwrap();
        let needed: Vec<String> = ["mcp:tools", "reports:read", "reports:export"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            broadened(&needed, &implication),
            Some(vec!["mcp:tools".to_string(), "reports".to_string()])
        );
        assert_eq!(broadened(&needed[..1], &implication), None);
        let scopes = broadened(&needed, &implication).unwrap();
        check(
            judge_hierarchy(
                &admin(),
                &[(implication.clone(), scopes.clone(), answer(FORBIDDEN))],
            ),
            expect![[r#"
                fail: tools/call admin_report refused a broader scope in place of the narrower ones it implies: a token with mcp:tools reports (which implies reports:read reports:export) got 403
                  evidence: POST http://127.0.0.1:1/mcp -> 403
            "#]],
        );
        check(
            judge_hierarchy(&admin(), &[(implication, scopes, answer(OK))]),
            expect![[r#"
                pass
                  note: tools/call admin_report accepted the broader scope in place of the narrower ones (reports ⊇ reports:read,reports:export)
                  evidence: POST http://127.0.0.1:1/mcp -> 200
            "#]],
        );
    }
}
