//! Token passthrough: the target's own calls to a downstream API must not carry the client's
//! token (MCP Authorization, Access Token Privilege Restriction).

use serde_json::{Value, json};

use super::*;
use crate::idp::IdpRequest;
use crate::spec::Era;

pub(crate) const PROBES: &[Probe] =
    &[probe!("passthrough.no-downstream-forward" => no_downstream_forward)];

/// The names of the tools a `tools/list` answer lists.
fn tool_names(exchange: &Exchange) -> Option<Vec<String>> {
    let response = exchange.response()?;
    match crate::rpc::read_response(response.header("content-type"), &response.body) {
        crate::rpc::RpcOutcome::Result(result) => Some(
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

/// `passthrough.no-downstream-forward`: the target's tool that calls a downstream API does not
/// send the client's token there. It calls the tool with the valid token and reads, in the mock
/// IdP's request log, which credential the downstream API received.
async fn no_downstream_forward(cx: &Cx<'_>) -> Judged {
    let (ctx, facts) = (cx.ctx, cx.facts);
    if !facts.positive.passed {
        return Err(Stop::not_testable(
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
    let wire = &facts.wire;
    // Legacy: a session of its own, opened with this token; modern: no handshake.
    let mut session_id = None;
    if wire.era == Era::Legacy {
        let init = ctx
            .target
            .send(ctx.mcp.request(wire, &McpCall::Initialize, &auth, None))
            .await;
        if let Err(why) = accepted(&init) {
            return Err(Stop::not_testable(
                format!("initialize with a valid token {why}"),
                vec![init],
            ));
        }
        session_id = init
            .response()
            .and_then(|r| r.header("mcp-session-id"))
            .map(str::to_string);
        ctx.target
            .send(
                ctx.mcp
                    .request(wire, &McpCall::Initialized, &auth, session_id.as_deref()),
            )
            .await;
    }
    let session = session_id.as_deref();
    let list = ctx
        .target
        .send(ctx.mcp.request(wire, &McpCall::ToolsList, &auth, session))
        .await;
    let Some(names) = tool_names(&list) else {
        return Err(Stop::not_testable(
            format!(
                "tools/list with the valid token was not answered with a tool list ({})",
                list.status_text()
            ),
            vec![list],
        ));
    };
    if !names.iter().any(|n| n == tool) {
        return Err(Stop::skip(format!(
            "the target has no {tool:?} tool; to judge token passthrough, give it a tool that calls the downstream API at MCP_DOWNSTREAM_URL ({downstream}) and name it with --downstream-tool"
        )));
    }
    let mark = ctx.idp.last_seq().await?;
    let call = ctx
        .target
        .send(ctx.mcp.request(
            wire,
            &McpCall::ToolsCall {
                name: tool.to_string(),
                arguments: json!({}),
            },
            &auth,
            session,
        ))
        .await;
    let arrived: Vec<IdpRequest> = ctx
        .idp
        .requests_since(mark)
        .await?
        .into_iter()
        .filter(|r| r.endpoint == "downstream")
        .collect();
    Ok(judge_downstream(
        &arrived,
        &token,
        Downstream {
            tool,
            url: &downstream,
            call,
        },
    ))
}

/// The tool call and where its requests should have gone.
struct Downstream<'a> {
    tool: &'a str,
    url: &'a str,
    /// The `tools/call` exchange with the target.
    call: Exchange,
}

/// `arrived` holds what the downstream API received during the tool call; `token` is the
/// client's access token.
fn judge_downstream(arrived: &[IdpRequest], token: &str, d: Downstream<'_>) -> Verdict {
    let Downstream { tool, url, call } = d;
    if arrived.is_empty() {
        return Verdict::not_testable(
            format!("the {tool:?} tool did not call the downstream API at {url}"),
            vec![call],
        );
    }
    // The token anywhere in what arrived counts: a header, the query or the body.
    let carries_token = |r: &IdpRequest| {
        r.headers
            .values()
            .any(|v| v.as_str().is_some_and(|v| v.contains(token)))
            || r.query.as_deref().is_some_and(|q| q.contains(token))
            || r.body.contains(token)
    };
    let forwarded = arrived.iter().filter(|r| carries_token(r)).count();
    if forwarded > 0 {
        return Verdict::fail(
            format!(
                "{forwarded} of the {} request(s) the {tool:?} tool sent to the downstream API carried the client's own access token: a token issued for the MCP server was passed through to another service",
                arrived.len()
            ),
            vec![call],
        );
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
    Verdict::passed(format!(
        "the downstream API received {} request(s) ({}), none carrying the client's access token",
        arrived.len(),
        schemes.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testkit::{exchange, render};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    fn downstream(authorization: Option<&str>) -> IdpRequest {
        let mut headers = serde_json::Map::new();
        if let Some(a) = authorization {
            headers.insert("authorization".into(), json!(a));
        }
        IdpRequest {
            seq: 9,
            at_ms: 0,
            endpoint: "downstream".into(),
            method: "GET".into(),
            path: "/downstream".into(),
            query: None,
            headers,
            body: String::new(),
            status: 200,
        }
    }

    fn call() -> Downstream<'static> {
        Downstream {
            tool: "call_downstream",
            url: "http://127.0.0.1:9400/downstream",
            call: exchange("POST http://127.0.0.1:1/mcp\n=>\n200"),
        }
    }

    #[test]
    fn downstream_credential() {
        check(
            judge_downstream(&[], "client-token", call()),
            expect![[r#"
                not testable: the "call_downstream" tool did not call the downstream API at http://127.0.0.1:9400/downstream
                  evidence: POST http://127.0.0.1:1/mcp -> 200
            "#]],
        );
        check(
            judge_downstream(
                &[downstream(Some("Bearer client-token"))],
                "client-token",
                call(),
            ),
            expect![[r#"
                fail: 1 of the 1 request(s) the "call_downstream" tool sent to the downstream API carried the client's own access token: a token issued for the MCP server was passed through to another service
                  evidence: POST http://127.0.0.1:1/mcp -> 200
            "#]],
        );
        check(
            judge_downstream(
                &[downstream(Some("Bearer server-token")), downstream(None)],
                "client-token",
                call(),
            ),
            expect![[r#"
                pass
                  note: the downstream API received 2 request(s) (Bearer, no Authorization), none carrying the client's access token
            "#]],
        );
    }
}
