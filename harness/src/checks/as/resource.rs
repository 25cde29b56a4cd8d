//! RFC 8707 resource indicators: the audience of the tokens, unknown resources, and spellings of
//! the same resource.

use super::*;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("resource.as-binds-audience" => sync as_binds_audience),
    as_probe!("resource.as-invalid-target" => as_invalid_target),
    as_probe!("resource.as-accepts-param" => sync as_accepts_param),
    as_probe!("resource.slash-variants" => slash_variants),
];

/// `resource.as-binds-audience`: the tokens' `aud` is exactly the resource asked for.
fn as_binds_audience(cx: &AsCx<'_>) -> Judged {
    let tokens = cx.tokens()?;
    let mut sets = vec![("the access token", tokens)];
    if let Some(Ok(r)) = &cx.flow.refreshed {
        sets.push(("the refreshed access token", r));
    }
    Ok(judge_audience(&sets, &cx.ctx.mcp.url))
}

/// `sets` pairs each token set with how the report names it; `resource` is the one asked for
/// (the MCP endpoint's URL).
fn judge_audience(sets: &[(&str, &flow::TokenSet)], resource: &str) -> Verdict {
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    let mut judged = 0;
    for (what, set) in sets {
        let Some(claims) = jwt_claims(&set.access_token) else {
            continue;
        };
        judged += 1;
        let aud = audiences(&claims);
        if aud != [resource] {
            failures.push(format!(
                "{what} has aud {aud:?}, not exactly [{resource:?}]"
            ));
            evidence.push(set.exchange.clone());
        }
    }
    if judged == 0 {
        return Verdict::not_testable(
            "the access tokens are opaque, so their audience cannot be read",
            Vec::new(),
        );
    }
    if failures.is_empty() {
        Verdict::passed(format!(
            "aud is exactly {resource} (the resource asked for)"
        ))
    } else {
        Verdict::fail(
            format!(
                "{} (RFC 8707 §2: the audience is the requested resource, not widened)",
                failures.join("; ")
            ),
            evidence,
        )
    }
}

/// `resource.as-invalid-target`: a resource the server does not serve gets `invalid_target`,
/// at the authorization or the token endpoint.
async fn as_invalid_target(cx: &AsCx<'_>) -> Judged {
    let unknown = "https://unknown-resource.example/mcp";
    let (run, pkce) = cx.walk_pkce(|p| p.set("resource", unknown)).await?;
    // A code came back (and no invalid_target with it): the token endpoint may still refuse the
    // resource.
    let redeemed = match run.code() {
        Some(code) if run.param("error") != Some("invalid_target") => {
            let mut form = cx.run.code_form(cx.flow, code, Some(&pkce.verifier));
            for pair in &mut form {
                if pair.0 == "resource" {
                    pair.1 = unknown.to_string();
                }
            }
            Some(cx.token(&form, &cx.client()).await)
        }
        _ => None,
    };
    Ok(judge_invalid_target(&run, redeemed.as_ref(), unknown))
}

/// `run` is the authorization for the `unknown` resource; `redeemed` the code exchange naming
/// it, when a code came back.
fn judge_invalid_target(run: &AuthorizeRun, redeemed: Option<&Exchange>, unknown: &str) -> Verdict {
    if run.param("error") == Some("invalid_target") {
        return Verdict::passed("the authorization endpoint answered invalid_target");
    }
    let Some(e) = redeemed else {
        return Verdict::passed(format!("refused: {}", run.describe_end()));
    };
    if oauth_error(e).as_deref() == Some("invalid_target") {
        return Verdict::passed("the token endpoint answered invalid_target");
    }
    let issued = if token_set(e).is_ok() {
        ", and the code was exchanged for tokens"
    } else {
        ""
    };
    let mut evidence: Vec<Exchange> = run.hops.last().cloned().into_iter().collect();
    evidence.push(e.clone());
    Verdict::fail(
        format!(
            "an authorization request for {unknown}, a resource the server does not serve, was answered with a code{issued} (RFC 8707 §2: invalid_target)"
        ),
        evidence,
    )
}

/// `resource.as-accepts-param`: the login, which names the resource, works.
fn as_accepts_param(cx: &AsCx<'_>) -> Judged {
    Ok(judge_accepts_param(cx.flow, &cx.ctx.mcp.url))
}

/// `flow` is the login, whose requests carried `resource`.
fn judge_accepts_param(flow: &LoginFlow, resource: &str) -> Verdict {
    match flow.failure() {
        Some(f) if f.message.contains("invalid_target") || f.message.contains("resource") => {
            Verdict::fail(
                format!("the login with resource={resource} failed: {}", f.message),
                f.exchanges.clone(),
            )
        }
        _ if flow.access_token().is_some() => Verdict::passed(
            "the authorization and token requests carried resource and the login obtained a token",
        ),
        _ => Verdict::not_testable(flow.summary(), Vec::new()),
    }
}

/// `resource.slash-variants`: the MCP URL with an uppercase scheme and host is the same
/// resource; with its trailing slash toggled, a login either is refused or gets a token that
/// works.
async fn slash_variants(cx: &AsCx<'_>) -> Judged {
    let canonical = cx.ctx.mcp.url.clone();
    let Some(shouted) = uppercase_scheme_and_host(&canonical) else {
        return Err(Stop::not_testable(
            "the MCP endpoint URL could not be parsed",
            Vec::new(),
        ));
    };
    let toggled = match canonical.strip_suffix('/') {
        Some(bare) => bare.to_string(),
        None => format!("{canonical}/"),
    };
    let shouted_tried = try_resource(cx, &shouted).await?;
    let toggled_tried = try_resource(cx, &toggled).await?;
    Ok(judge_slash_variants(
        &canonical,
        (&shouted, &shouted_tried),
        (&toggled, &toggled_tried),
    ))
}

/// How a login for one spelling of the resource ended, and whether its token worked.
enum Tried {
    Refused {
        why: String,
        evidence: Vec<Exchange>,
    },
    ServerError(Exchange),
    /// A token, and whether the MCP endpoint accepted it (with its answer).
    Token {
        accepted: bool,
        answer: Exchange,
    },
}

/// A login for `resource`, and an MCP request with the token it got.
async fn try_resource(cx: &AsCx<'_>, resource: &str) -> Result<Tried, Stop> {
    Ok(match cx.login_for_resource(resource).await? {
        ResourceLogin::Refused { why, evidence } => Tried::Refused { why, evidence },
        ResourceLogin::ServerError(e) => Tried::ServerError(e),
        ResourceLogin::Token(token) => {
            let (accepted, answer) = cx.mcp_accepts(&token).await;
            Tried::Token { accepted, answer }
        }
    })
}

/// `shouted` is the MCP URL `canonical` with an uppercase scheme and host, and what a login for
/// it did; `toggled` the same for the URL with its trailing slash toggled.
fn judge_slash_variants(
    canonical: &str,
    (shouted, shouted_tried): (&str, &Tried),
    (toggled, toggled_tried): (&str, &Tried),
) -> Verdict {
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    let mut evidence = Vec::new();
    // The same URL with an uppercase scheme and host is the same resource (RFC 3986
    // §6.2.2.1): it must be accepted, and its token must work at the MCP endpoint.
    match shouted_tried {
        Tried::Refused { why, evidence: e } => {
            failures.push(format!(
                "resource={shouted} (the MCP URL with an uppercase scheme and host, the same URI by RFC 3986 §6.2.2.1) was refused: {why}"
            ));
            evidence.extend(e.iter().cloned());
        }
        Tried::ServerError(e) => {
            failures.push(format!(
                "resource={shouted}: the token endpoint answered HTTP {}",
                e.status_text()
            ));
            evidence.push(e.clone());
        }
        Tried::Token { accepted: true, .. } => {
            notes.push(format!(
                "resource={shouted} was accepted and its token works"
            ));
        }
        Tried::Token {
            accepted: false,
            answer,
        } => {
            failures.push(format!(
                "resource={shouted} was accepted, but the MCP endpoint refused the token it got (HTTP {}): the server bound the token to a form of its URL it does not itself accept",
                answer.status_text()
            ));
            evidence.push(answer.clone());
        }
    }
    // With the trailing slash toggled it is another URI: refusing it is consistent, and so is
    // a token the MCP endpoint accepts; a token it then refuses is a login that cannot work.
    match toggled_tried {
        Tried::Refused { why, .. } => {
            notes.push(format!("resource={toggled} was refused ({why})"));
        }
        Tried::ServerError(e) => {
            failures.push(format!(
                "resource={toggled}: the token endpoint answered HTTP {} (a server error, not invalid_target)",
                e.status_text()
            ));
            evidence.push(e.clone());
        }
        Tried::Token { accepted: true, .. } => {
            notes.push(format!(
                "resource={toggled} was treated as the same resource"
            ));
        }
        Tried::Token {
            accepted: false,
            answer,
        } => {
            failures.push(format!(
                "resource={toggled} (the trailing slash toggled) was accepted, but the MCP endpoint refused the token it got (HTTP {}): a client that writes the URL this way logs in and then fails; refuse it with invalid_target or bind the token to {canonical}",
                answer.status_text()
            ));
            evidence.push(answer.clone());
        }
    }
    if failures.is_empty() {
        Verdict::passed(notes.join("; "))
    } else {
        Verdict::fail(failures.join("; "), evidence)
    }
}

impl AsCx<'_> {
    /// A login for `resource` (authorization and code exchange both naming it).
    async fn login_for_resource(&self, resource: &str) -> Result<ResourceLogin, Stop> {
        let (run, pkce) = self.walk_pkce(|p| p.set("resource", resource)).await?;
        let Some(code) = run.code().map(str::to_string) else {
            return Ok(ResourceLogin::Refused {
                why: run.describe_end(),
                evidence: run.hops.last().cloned().into_iter().collect(),
            });
        };
        let mut form = self.run.code_form(self.flow, &code, Some(&pkce.verifier));
        for pair in &mut form {
            if pair.0 == "resource" {
                pair.1 = resource.to_string();
            }
        }
        let e = self.token(&form, &self.client()).await;
        Ok(match token_set(&e) {
            Ok(tokens) => ResourceLogin::Token(tokens.access_token),
            Err(_) if e.status().is_some_and(|s| s >= 500) => ResourceLogin::ServerError(e),
            Err(_) => ResourceLogin::Refused {
                why: format!(
                    "the token endpoint answered {}",
                    error_answer(&e).describe()
                ),
                evidence: vec![e],
            },
        })
    }
}

/// How a login for one `resource` value ended.
enum ResourceLogin {
    Token(String),
    Refused {
        why: String,
        evidence: Vec<Exchange>,
    },
    ServerError(Exchange),
}

/// The URL with its scheme and host in uppercase (the same URI by RFC 3986 §6.2.2.1).
fn uppercase_scheme_and_host(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    Some(format!(
        "{}://{}{tail}",
        scheme.to_ascii_uppercase(),
        authority.to_ascii_uppercase()
    ))
}

fn audiences(claims: &Value) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::oauth::flow::{FlowStep, TokenSet};
    use crate::testkit::{callback, exchange, render, stopped};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    const MCP: &str = "http://127.0.0.1:2/mcp";

    /// An unsigned JWT carrying these claims (the judges read claims without verifying).
    fn jwt(claims: Value) -> String {
        let part =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.sig", part(&json!({"alg": "none"})), part(&claims))
    }

    /// The tokens of a token response carrying this access token.
    fn tokens(access_token: &str) -> TokenSet {
        TokenSet {
            access_token: access_token.to_string(),
            refresh_token: None,
            scope: None,
            response: json!({"access_token": access_token}),
            exchange: exchange("POST http://127.0.0.1:2/token\n=>\n200\n"),
        }
    }

    fn token(status: u16, body: &str) -> Exchange {
        exchange(&format!(
            "POST http://127.0.0.1:2/token\n=>\n{status}\ncontent-type: application/json\n\n{body}"
        ))
    }

    #[test]
    fn audience() {
        let exact = tokens(&jwt(json!({"aud": MCP})));
        let exact_in_array = tokens(&jwt(json!({"aud": [MCP]})));
        check(
            judge_audience(
                &[
                    ("the access token", &exact),
                    ("the refreshed access token", &exact_in_array),
                ],
                MCP,
            ),
            expect![[r#"
                pass
                  note: aud is exactly http://127.0.0.1:2/mcp (the resource asked for)
            "#]],
        );
        let widened = tokens(&jwt(json!({"aud": [MCP, "https://other.example"]})));
        let missing = tokens(&jwt(json!({"sub": "u"})));
        check(
            judge_audience(
                &[
                    ("the access token", &widened),
                    ("the refreshed access token", &missing),
                ],
                MCP,
            ),
            expect![[r#"
                fail: the access token has aud ["http://127.0.0.1:2/mcp", "https://other.example"], not exactly ["http://127.0.0.1:2/mcp"]; the refreshed access token has aud [], not exactly ["http://127.0.0.1:2/mcp"] (RFC 8707 §2: the audience is the requested resource, not widened)
                  evidence: POST http://127.0.0.1:2/token -> 200
                  evidence: POST http://127.0.0.1:2/token -> 200
            "#]],
        );
        // An opaque token says nothing; a JWT beside it is still judged.
        let opaque = tokens("opaque-token");
        check(
            judge_audience(&[("the access token", &opaque)], MCP),
            expect![[r#"
                not testable: the access tokens are opaque, so their audience cannot be read
            "#]],
        );
        let trailing = tokens(&jwt(json!({"aud": format!("{MCP}/")})));
        check(
            judge_audience(
                &[
                    ("the access token", &opaque),
                    ("the refreshed access token", &trailing),
                ],
                MCP,
            ),
            expect![[r#"
                fail: the refreshed access token has aud ["http://127.0.0.1:2/mcp/"], not exactly ["http://127.0.0.1:2/mcp"] (RFC 8707 §2: the audience is the requested resource, not widened)
                  evidence: POST http://127.0.0.1:2/token -> 200
            "#]],
        );
    }

    #[test]
    fn invalid_target() {
        let unknown = "https://unknown-resource.example/mcp";
        check(
            judge_invalid_target(&callback("error=invalid_target&state=s"), None, unknown),
            expect![[r#"
                pass
                  note: the authorization endpoint answered invalid_target
            "#]],
        );
        check(
            judge_invalid_target(&stopped(400, "unknown resource"), None, unknown),
            expect![[r#"
                pass
                  note: refused: stopped at HTTP 400: unknown resource
            "#]],
        );
        let code = callback("code=abc&state=s");
        check(
            judge_invalid_target(
                &code,
                Some(&token(400, r#"{"error":"invalid_target"}"#)),
                unknown,
            ),
            expect![[r#"
                pass
                  note: the token endpoint answered invalid_target
            "#]],
        );
        check(
            judge_invalid_target(
                &code,
                Some(&token(
                    200,
                    r#"{"access_token":"at","token_type":"Bearer"}"#,
                )),
                unknown,
            ),
            expect![[r#"
                fail: an authorization request for https://unknown-resource.example/mcp, a resource the server does not serve, was answered with a code, and the code was exchanged for tokens (RFC 8707 §2: invalid_target)
                  evidence: GET http://127.0.0.1:2/authorize -> 302
                  evidence: POST http://127.0.0.1:2/token -> 200
            "#]],
        );
        // Refused at the token endpoint, but not with invalid_target.
        check(
            judge_invalid_target(
                &code,
                Some(&token(400, r#"{"error":"invalid_grant"}"#)),
                unknown,
            ),
            expect![[r#"
                fail: an authorization request for https://unknown-resource.example/mcp, a resource the server does not serve, was answered with a code (RFC 8707 §2: invalid_target)
                  evidence: GET http://127.0.0.1:2/authorize -> 302
                  evidence: POST http://127.0.0.1:2/token -> 400
            "#]],
        );
    }

    /// A login that went through these steps (`name`, `ok`, `message`).
    fn login(steps: &[(&'static str, bool, &str)], tokens_issued: bool) -> LoginFlow {
        LoginFlow {
            steps: steps
                .iter()
                .map(|(name, ok, message)| FlowStep {
                    name,
                    ok: *ok,
                    message: message.to_string(),
                    exchanges: Vec::new(),
                })
                .collect(),
            tokens: tokens_issued.then(|| tokens("at")),
            ..LoginFlow::default()
        }
    }

    #[test]
    fn accepts_param() {
        check(
            judge_accepts_param(
                &login(
                    &[("metadata", true, "found"), ("token", true, "issued")],
                    true,
                ),
                MCP,
            ),
            expect![[r#"
                pass
                  note: the authorization and token requests carried resource and the login obtained a token
            "#]],
        );
        check(
            judge_accepts_param(
                &login(
                    &[
                        ("metadata", true, "found"),
                        (
                            "authorization",
                            false,
                            "redirected with error=invalid_target",
                        ),
                    ],
                    false,
                ),
                MCP,
            ),
            expect![[r#"
                fail: the login with resource=http://127.0.0.1:2/mcp failed: redirected with error=invalid_target
            "#]],
        );
        check(
            judge_accepts_param(
                &login(
                    &[
                        ("metadata", true, "found"),
                        ("registration", false, "HTTP 403"),
                    ],
                    false,
                ),
                MCP,
            ),
            expect![[r#"
                not testable: the headless login stopped at registration: HTTP 403 (steps done: metadata)
            "#]],
        );
    }

    fn mcp_answer(status: u16) -> Exchange {
        exchange(&format!("POST {MCP}\n=>\n{status}\n"))
    }

    #[test]
    fn slash_variants() {
        let shouted = "HTTP://127.0.0.1:2/mcp";
        let toggled = "http://127.0.0.1:2/mcp/";
        let works = || Tried::Token {
            accepted: true,
            answer: mcp_answer(200),
        };
        let refused_at_mcp = || Tried::Token {
            accepted: false,
            answer: mcp_answer(401),
        };
        let refused = || Tried::Refused {
            why: "the token endpoint answered HTTP 400 error=invalid_target".to_string(),
            evidence: vec![token(400, r#"{"error":"invalid_target"}"#)],
        };
        let server_error = || Tried::ServerError(token(500, r#"{"error":"server_error"}"#));
        let judge = |a: &Tried, b: &Tried| judge_slash_variants(MCP, (shouted, a), (toggled, b));
        check(
            judge(&works(), &refused()),
            expect![[r#"
            pass
              note: resource=HTTP://127.0.0.1:2/mcp was accepted and its token works; resource=http://127.0.0.1:2/mcp/ was refused (the token endpoint answered HTTP 400 error=invalid_target)
        "#]],
        );
        check(
            judge(&works(), &works()),
            expect![[r#"
            pass
              note: resource=HTTP://127.0.0.1:2/mcp was accepted and its token works; resource=http://127.0.0.1:2/mcp/ was treated as the same resource
        "#]],
        );
        check(
            judge(&refused(), &refused_at_mcp()),
            expect![[r#"
            fail: resource=HTTP://127.0.0.1:2/mcp (the MCP URL with an uppercase scheme and host, the same URI by RFC 3986 §6.2.2.1) was refused: the token endpoint answered HTTP 400 error=invalid_target; resource=http://127.0.0.1:2/mcp/ (the trailing slash toggled) was accepted, but the MCP endpoint refused the token it got (HTTP 401): a client that writes the URL this way logs in and then fails; refuse it with invalid_target or bind the token to http://127.0.0.1:2/mcp
              evidence: POST http://127.0.0.1:2/token -> 400
              evidence: POST http://127.0.0.1:2/mcp -> 401
        "#]],
        );
        check(
            judge(&refused_at_mcp(), &server_error()),
            expect![[r#"
            fail: resource=HTTP://127.0.0.1:2/mcp was accepted, but the MCP endpoint refused the token it got (HTTP 401): the server bound the token to a form of its URL it does not itself accept; resource=http://127.0.0.1:2/mcp/: the token endpoint answered HTTP 500 (a server error, not invalid_target)
              evidence: POST http://127.0.0.1:2/mcp -> 401
              evidence: POST http://127.0.0.1:2/token -> 500
        "#]],
        );
        check(
            judge(&server_error(), &works()),
            expect![[r#"
            fail: resource=HTTP://127.0.0.1:2/mcp: the token endpoint answered HTTP 500
              evidence: POST http://127.0.0.1:2/token -> 500
        "#]],
        );
    }
}
