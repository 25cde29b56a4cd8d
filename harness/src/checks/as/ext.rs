//! Optional extensions of the authorization server, judged when it advertises them:
//! `ext.client-credentials` (the `client_credentials` grant for machine clients, SEP-1046).

use super::*;

pub(crate) const PROBES: &[Probe] = &[as_probe!("ext.client-credentials" => client_credentials)];

/// `ext.client-credentials`: an authorization server whose metadata lists the
/// `client_credentials` grant issues a token for it, bound to the resource asked for.
async fn client_credentials(cx: &AsCx<'_>) -> Judged {
    let metadata = cx.metadata()?;
    let advertised = metadata
        .get("grant_types_supported")
        .and_then(Value::as_array)
        .is_some_and(|g| g.iter().any(|g| g.as_str() == Some("client_credentials")));
    if !advertised {
        return Err(Stop::skip(
            "the metadata does not list the client_credentials grant",
        ));
    }
    let ctx = cx.ctx;
    // A confidential client: the one given with --client-id and --client-secret, or one
    // registered for the grant.
    let (client, registration) = match (&ctx.options.client_id, &ctx.options.client_secret) {
        (Some(id), Some(secret)) => (
            ClientAuth::for_method(
                ctx.options
                    .client_auth_method
                    .as_deref()
                    .unwrap_or("client_secret_basic"),
                id.clone(),
                Some(secret.clone()),
            ),
            None,
        ),
        _ => {
            let Some(endpoint) = cx.flow.endpoint("registration_endpoint") else {
                return Err(Stop::not_testable(
                    "no confidential client: the server has no registration endpoint; give one with --client-id and --client-secret",
                    Vec::new(),
                ));
            };
            let exchange = register(
                ctx,
                &endpoint,
                &json!({
                    "client_name": "mcp-auth-conformance machine client",
                    "grant_types": ["client_credentials"],
                    "token_endpoint_auth_method": "client_secret_basic",
                }),
            )
            .await;
            let registered = registration_result(&exchange).ok().and_then(|v| {
                let id = v.get("client_id")?.as_str()?.to_string();
                let secret = v.get("client_secret")?.as_str()?.to_string();
                Some(ClientAuth::Basic {
                    client_id: id,
                    secret,
                })
            });
            match registered {
                Some(client) => (client, Some(exchange)),
                None => {
                    return Err(Stop::not_testable(
                        "the registration of a confidential client_credentials client did not give a client secret",
                        vec![exchange],
                    ));
                }
            }
        }
    };
    let mut form = vec![
        ("grant_type".to_string(), "client_credentials".to_string()),
        ("resource".to_string(), ctx.mcp.url.clone()),
    ];
    if !cx.facts.required_scopes.is_empty() {
        form.push(("scope".to_string(), cx.facts.required_scopes.join(" ")));
    }
    let token = cx.token(&form, &client).await;
    if oauth_error(&token).as_deref() == Some("invalid_target") {
        return Err(Stop::not_testable(
            "the authorization server refuses the resource parameter (judged by resource.as-accepts-param), so the token cannot be bound to the MCP resource",
            vec![token],
        ));
    }
    let used = match token_set(&token) {
        Ok(set) => Some(cx.mcp_accepts(&set.access_token).await.1),
        Err(_) => None,
    };
    let mut verdict = judge_client_credentials(&ctx.mcp.url, &token, used.as_ref());
    if let Some(registration) = registration {
        verdict.evidence.insert(0, registration);
    }
    Ok(verdict)
}

/// `token` answered the `client_credentials` request for `resource`; `used` presented its token
/// at the MCP endpoint.
fn judge_client_credentials(resource: &str, token: &Exchange, used: Option<&Exchange>) -> Verdict {
    let mut evidence = vec![token.clone()];
    let set = match token_set(token) {
        Ok(set) => set,
        Err(why) => {
            return Verdict::fail(
                format!(
                    "the metadata lists the client_credentials grant, but a confidential client's request was refused: {why}"
                ),
                evidence,
            );
        }
    };
    if let Some(aud) = jwt_claims(&set.access_token).and_then(|c| c.get("aud").cloned()) {
        let bound = match &aud {
            Value::String(a) => a == resource,
            Value::Array(a) => a.iter().any(|v| v.as_str() == Some(resource)),
            _ => false,
        };
        if !bound {
            return Verdict::fail(
                format!(
                    "the client_credentials token asked for resource {resource} carries aud {aud}, so it is not bound to that resource (RFC 8707 §2)"
                ),
                evidence,
            );
        }
    }
    let at_mcp = match used {
        Some(exchange) => {
            evidence.push(exchange.clone());
            if accepted(exchange).is_ok() {
                "and the MCP endpoint accepts it".to_string()
            } else {
                format!(
                    "and the MCP endpoint answers it with {} (a server may refuse machine clients)",
                    exchange.status_text()
                )
            }
        }
        None => String::new(),
    };
    Verdict::pass(
        format!(
            "a confidential client obtains a token for the resource with client_credentials, {at_mcp}"
        ),
        evidence,
    )
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testkit::{exchange, render};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    const RESOURCE: &str = "http://127.0.0.1:1/mcp";

    fn token_answer(fixture: &str) -> Exchange {
        exchange(&format!(
            "POST http://127.0.0.1:1/token\n\ngrant_type=client_credentials\n=>\n{fixture}"
        ))
    }

    #[test]
    fn an_advertised_grant_must_work() {
        check(
            judge_client_credentials(
                RESOURCE,
                &token_answer(
                    "400\ncontent-type: application/json\n\n{\"error\":\"unsupported_grant_type\"}",
                ),
                None,
            ),
            expect![[r#"
                fail: the metadata lists the client_credentials grant, but a confidential client's request was refused: HTTP 400 error=unsupported_grant_type
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
        let opaque = token_answer(
            "200\ncontent-type: application/json\n\n{\"access_token\":\"opaque\",\"token_type\":\"Bearer\"}",
        );
        let mcp = exchange(
            "POST http://127.0.0.1:1/mcp\n=>\n200\ncontent-type: application/json\n\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
        );
        check(
            judge_client_credentials(RESOURCE, &opaque, Some(&mcp)),
            expect![[r#"
                pass
                  note: a confidential client obtains a token for the resource with client_credentials, and the MCP endpoint accepts it
                  evidence: POST http://127.0.0.1:1/token -> 200
                  evidence: POST http://127.0.0.1:1/mcp -> 200
            "#]],
        );
    }
}
