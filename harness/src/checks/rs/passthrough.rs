//! Token passthrough: the target's own calls to a downstream API must not carry the client's
//! token (MCP Authorization, Access Token Privilege Restriction).

use serde_json::{Value, json};

use super::*;

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

/// Calls the target's downstream tool with the valid token and looks, in the mock IdP's request
/// log, at the credential the downstream API received.
async fn no_downstream_forward(cx: &Cx<'_>) -> Result<StepOutcome, HarnessError> {
    let ctx = cx.ctx;
    let facts = cx.facts;
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
        .send(ctx.mcp.request(&McpCall::Initialize, &auth, None))
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
        .send(ctx.mcp.request(&McpCall::Initialized, &auth, session))
        .await;
    let list = ctx
        .target
        .send(ctx.mcp.request(&McpCall::ToolsList, &auth, session))
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
        .send(ctx.mcp.request(
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
