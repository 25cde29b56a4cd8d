//! The token endpoint: RFC 6749 §5.2 errors, client authentication, headers, the success shape, and
//! the scope it reports.

use super::*;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("token.invalid-client-401" => invalid_client_401),
    as_probe!("token.unknown-client" => unknown_client),
    as_probe!("token.unauthorized-client" => unauthorized_client),
    as_probe!("token.unsupported-grant" => unsupported_grant),
    as_probe!("token.invalid-grant" => invalid_grant),
    as_probe!("token.invalid-request" => invalid_request),
    as_probe!("token.headers" => headers),
    as_probe!("token.success-shape" => sync success_shape),
    as_probe!("token.no-200-errors" => no_200_errors),
    as_probe!("token.auth-method-enforced" => auth_method_enforced),
];

/// `token.invalid-client-401`: a wrong client secret via HTTP Basic gets 401 `invalid_client`
/// with a `Basic` challenge.
async fn invalid_client_401(cx: &AsCx<'_>) -> Judged {
    cx.metadata()?;
    let client_id = confidential_client(cx).await?;
    let form = vec![
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("code".to_string(), "not-a-code".to_string()),
        ("redirect_uri".to_string(), cx.flow.redirect_uri.clone()),
    ];
    let auth = ClientAuth::Basic {
        client_id,
        secret: "wrong-secret".to_string(),
    };
    let e = cx.token(&form, &auth).await;
    Ok(judge_invalid_client_401(&e))
}

/// The id of a confidential client: the run's own, else one registered dynamically for
/// `client_secret_basic`.
async fn confidential_client(cx: &AsCx<'_>) -> Result<String, Stop> {
    let registered = match cx.client() {
        ClientAuth::Basic { client_id, .. } | ClientAuth::Post { client_id, .. } => Some(client_id),
        ClientAuth::None { .. } => match cx.flow.endpoint("registration_endpoint") {
            Some(endpoint) => {
                let mut metadata = client_metadata(&cx.flow.redirect_uri, &cx.flow.scope);
                metadata["token_endpoint_auth_method"] = json!("client_secret_basic");
                let e = register(cx.ctx, &endpoint, &metadata).await;
                match registration_result(&e) {
                    Ok(v) if v.get("client_secret").is_none() => {
                        return Err(Stop::skip(
                            "the server registers only public clients (it answered a client_secret_basic registration without a secret), so no client authenticates with a secret",
                        ));
                    }
                    Ok(v) => v
                        .get("client_id")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    Err(_) => None,
                }
            }
            None => None,
        },
    };
    registered.ok_or_else(|| {
        Stop::not_testable(
            "no confidential client: none could be registered and none was given with --client-id/--client-secret",
            Vec::new(),
        )
    })
}

fn judge_invalid_client_401(e: &Exchange) -> Verdict {
    let a = error_answer(e);
    let challenge = e.response().and_then(|r| r.header("www-authenticate"));
    let mut problems = Vec::new();
    if a.error.as_deref() != Some("invalid_client") {
        problems.push(format!("{} instead of invalid_client", a.describe()));
    } else if a.status != Some(401) {
        problems.push(format!(
            "invalid_client with HTTP {} instead of 401",
            a.status.map_or("?".into(), |s| s.to_string())
        ));
    }
    // The challenge must name the scheme the client authenticated with (RFC 6749 §5.2).
    if a.status == Some(401)
        && !challenge.is_some_and(|c| c.to_ascii_lowercase().starts_with("basic"))
    {
        problems.push(
            "no WWW-Authenticate: Basic challenge for the scheme the client used".to_string(),
        );
    }
    if problems.is_empty() {
        Verdict::passed(
            "a wrong secret via HTTP Basic got 401 invalid_client with a Basic challenge",
        )
    } else {
        Verdict::fail(
            format!(
                "a wrong client secret via HTTP Basic: {} (RFC 6749 §5.2; clients such as Claude re-register only on invalid_client)",
                problems.join("; ")
            ),
            vec![e.clone()],
        )
    }
}

/// `token.unknown-client`: a client id the server never issued gets 401 `invalid_client`.
async fn unknown_client(cx: &AsCx<'_>) -> Judged {
    cx.metadata()?;
    let form = vec![
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("code".to_string(), "not-a-code".to_string()),
        ("redirect_uri".to_string(), cx.flow.redirect_uri.clone()),
        ("code_verifier".to_string(), random_text(32)),
    ];
    let auth = ClientAuth::None {
        client_id: format!("never-registered-{}", random_text(6)),
    };
    let e = cx.token(&form, &auth).await;
    Ok(judge_unknown_client(&e))
}

fn judge_unknown_client(e: &Exchange) -> Verdict {
    let a = error_answer(e);
    match (a.error.as_deref(), a.status) {
        (Some("invalid_client"), Some(401)) => {
            Verdict::passed("an unknown client_id got 401 invalid_client")
        }
        (Some("invalid_client"), Some(s)) if s < 300 => Verdict::fail(
            format!(
                "an unknown client_id got invalid_client with HTTP {s}, which clients read as success"
            ),
            vec![e.clone()],
        ),
        (Some("invalid_client"), Some(s)) => Verdict::warn(
            format!(
                "an unknown client_id got invalid_client with HTTP {s}; 401 is what RFC 6749 §5.2 gives it"
            ),
            vec![e.clone()],
        ),
        _ => Verdict::fail(
            format!(
                "an unknown client_id got {}; invalid_client is what tells clients to register again",
                a.describe()
            ),
            vec![e.clone()],
        ),
    }
}

/// `token.unauthorized-client`: a grant the client is not registered for gets 400
/// `unauthorized_client` (or `unsupported_grant_type` when nobody may use it).
async fn unauthorized_client(cx: &AsCx<'_>) -> Judged {
    let form = vec![("grant_type".to_string(), "client_credentials".to_string())];
    let e = cx.token(&form, &cx.client()).await;
    let advertised = cx
        .flow
        .discovery
        .as_ref()
        .and_then(|d| d.document())
        .and_then(|d| d.get("grant_types_supported"))
        .and_then(Value::as_array)
        .is_some_and(|g| g.iter().any(|v| v == "client_credentials"));
    Ok(judge_unauthorized_client(&e, advertised))
}

/// `advertised`: the metadata lists `client_credentials` among its grant types, so the server
/// supports the grant and cannot call it unsupported.
fn judge_unauthorized_client(e: &Exchange, advertised: bool) -> Verdict {
    let a = error_answer(e);
    match a.error.as_deref() {
        Some("unauthorized_client") if a.status == Some(400) => {
            Verdict::passed("the client's unregistered grant got 400 unauthorized_client")
        }
        Some("unsupported_grant_type") if !advertised && a.status == Some(400) => Verdict::passed(
            "client_credentials is not supported at all: 400 unsupported_grant_type",
        ),
        _ if a.tokens_issued => Verdict::fail(
            "a client registered only for authorization_code obtained tokens with client_credentials",
            vec![e.clone()],
        ),
        Some("invalid_client") => Verdict::fail(
            "an identified client asking for a grant it may not use got invalid_client; RFC 6749 §5.2 reserves that for failed authentication and asks for unauthorized_client",
            vec![e.clone()],
        ),
        _ => Verdict::fail(
            format!(
                "client_credentials for a client not registered for it: {} (expected 400 unauthorized_client)",
                a.describe()
            ),
            vec![e.clone()],
        ),
    }
}

/// `token.unsupported-grant`: an unknown `grant_type` gets 400 `unsupported_grant_type`.
async fn unsupported_grant(cx: &AsCx<'_>) -> Judged {
    let form = vec![(
        "grant_type".to_string(),
        "urn:example:conformance:unknown".to_string(),
    )];
    let e = cx.token(&form, &cx.client()).await;
    Ok(judge_unsupported_grant(&e, cx.ctx.options.profile))
}

fn judge_unsupported_grant(e: &Exchange, profile: Profile) -> Verdict {
    match judge_token_error(e, &["unsupported_grant_type"], profile) {
        Ok(note) => Verdict::passed(note),
        Err(why) => Verdict::fail(format!("an unknown grant_type: {why}"), vec![e.clone()]),
    }
}

/// `token.invalid-grant`: an unknown code and an unknown refresh token get 400 `invalid_grant`
/// (401 too under the lenient profile).
async fn invalid_grant(cx: &AsCx<'_>) -> Judged {
    let bogus_code = cx
        .run
        .code_form(cx.flow, "not-a-real-code", Some(&random_text(32)));
    let bogus_refresh = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        (
            "refresh_token".to_string(),
            "not-a-real-refresh-token".to_string(),
        ),
    ];
    let mut answers = Vec::new();
    for (what, form) in [
        ("an unknown code", bogus_code),
        ("an unknown refresh token", bogus_refresh),
    ] {
        answers.push((what, cx.token(&form, &cx.client()).await));
    }
    Ok(judge_invalid_grant(&answers, cx.ctx.options.profile))
}

/// `answers`: what each unknown grant was, and the token endpoint's answer to it.
fn judge_invalid_grant(answers: &[(&str, Exchange)], profile: Profile) -> Verdict {
    let mut notes = Vec::new();
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    for (what, e) in answers {
        match judge_token_error(e, &["invalid_grant"], profile) {
            Ok(note) => notes.push(format!("{what}: {note}")),
            Err(why) => {
                failures.push(format!("{what}: {why}"));
                evidence.push(e.clone());
            }
        }
    }
    if failures.is_empty() {
        Verdict::passed(format!(
            "{} (profile {})",
            notes.join("; "),
            profile.as_str()
        ))
    } else {
        Verdict::fail(
            format!("{} (profile {})", failures.join("; "), profile.as_str()),
            evidence,
        )
    }
}

/// `token.invalid-request`: a code exchange without `code` gets 400 `invalid_request`.
async fn invalid_request(cx: &AsCx<'_>) -> Judged {
    let form = vec![
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("redirect_uri".to_string(), cx.flow.redirect_uri.clone()),
        ("code_verifier".to_string(), random_text(32)),
    ];
    let e = cx.token(&form, &cx.client()).await;
    Ok(judge_invalid_request(&e, cx.ctx.options.profile))
}

fn judge_invalid_request(e: &Exchange, profile: Profile) -> Verdict {
    match judge_token_error(e, &["invalid_request"], profile) {
        Ok(note) => Verdict::passed(format!("a code exchange without code: {note}")),
        Err(why) => Verdict::fail(
            format!("a code exchange without code: {why}"),
            vec![e.clone()],
        ),
    }
}

/// `token.headers`: token responses, successes and errors alike, are JSON with
/// `Cache-Control: no-store`.
async fn headers(cx: &AsCx<'_>) -> Judged {
    let tokens = cx.tokens()?;
    let form = vec![(
        "grant_type".to_string(),
        "urn:example:conformance:unknown".to_string(),
    )];
    let error = cx.token(&form, &cx.client()).await;
    Ok(judge_headers(&tokens.exchange, &error))
}

/// `success` is the login's code exchange, `error` an answer to an unknown grant type.
fn judge_headers(success: &Exchange, error: &Exchange) -> Verdict {
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    for (what, e) in [("the success", success), ("an error", error)] {
        let Some(r) = e.response() else { continue };
        let ct = r.header("content-type").unwrap_or("").to_ascii_lowercase();
        let cc = r
            .header_values("cache-control")
            .join(",")
            .to_ascii_lowercase();
        let mut bad = Vec::new();
        if !ct.starts_with("application/json") {
            bad.push(format!("Content-Type {ct:?}"));
        }
        if !cc.contains("no-store") {
            bad.push("no Cache-Control: no-store".to_string());
        }
        if !bad.is_empty() {
            problems.push(format!("{what}: {}", bad.join(", ")));
            evidence.push(e.clone());
        }
    }
    if problems.is_empty() {
        Verdict::passed("JSON with Cache-Control: no-store on success and error")
    } else {
        Verdict::fail(
            format!("{} (RFC 6749 §5.1, §5.2)", problems.join("; ")),
            evidence,
        )
    }
}

/// `token.success-shape`: the login's token response has `token_type` Bearer and `expires_in`.
fn success_shape(cx: &AsCx<'_>) -> Judged {
    Ok(judge_success_shape(cx.tokens()?))
}

fn judge_success_shape(tokens: &flow::TokenSet) -> Verdict {
    let v = &tokens.response;
    let token_type = v.get("token_type").and_then(Value::as_str);
    if !token_type.is_some_and(|t| t.eq_ignore_ascii_case("bearer")) {
        return Verdict::fail(
            format!("token_type is {token_type:?}, not Bearer"),
            vec![tokens.exchange.clone()],
        );
    }
    if v.get("expires_in").and_then(Value::as_i64).is_none() {
        return Verdict::warn(
            "no expires_in (RECOMMENDED: clients cannot refresh ahead of expiry)",
            vec![tokens.exchange.clone()],
        );
    }
    Verdict::passed("access_token, token_type Bearer and expires_in present")
}

/// `token.no-200-errors`: no token-endpoint error comes with a 2xx status.
async fn no_200_errors(cx: &AsCx<'_>) -> Judged {
    let forms = [
        vec![(
            "grant_type".to_string(),
            "urn:example:conformance:unknown".to_string(),
        )],
        cx.run
            .code_form(cx.flow, "not-a-real-code", Some(&random_text(32))),
        vec![("grant_type".to_string(), "authorization_code".to_string())],
    ];
    let mut answers = Vec::new();
    for form in forms {
        answers.push(cx.token(&form, &cx.client()).await);
    }
    Ok(judge_no_200_errors(&answers))
}

/// `answers`: the token endpoint's answers to three requests that must be refused.
fn judge_no_200_errors(answers: &[Exchange]) -> Verdict {
    let bad: Vec<Exchange> = answers
        .iter()
        .filter(|e| e.response().is_some_and(|r| r.is_success()) && oauth_error(e).is_some())
        .cloned()
        .collect();
    if bad.is_empty() {
        Verdict::passed("no error was answered with a 2xx status")
    } else {
        Verdict::fail(
            format!(
                "{} error(s) came with HTTP {} (RFC 6749 §5.2: 400 or 401)",
                bad.len(),
                bad[0].status_text()
            ),
            bad,
        )
    }
}

/// `token.auth-method-enforced`: a client registered for `client_secret_basic` cannot
/// authenticate another way (or not at all).
async fn auth_method_enforced(cx: &AsCx<'_>) -> Judged {
    let Some(endpoint) = cx.flow.endpoint("registration_endpoint") else {
        return Err(Stop::skip(
            "needs dynamic registration of a client_secret_basic client",
        ));
    };
    let mut metadata = client_metadata(&cx.flow.redirect_uri, &cx.flow.scope);
    metadata["token_endpoint_auth_method"] = json!("client_secret_basic");
    let e = register(cx.ctx, &endpoint, &metadata).await;
    let Ok(v) = registration_result(&e) else {
        return Err(Stop::not_testable(
            "the server refused to register a client_secret_basic client",
            vec![e],
        ));
    };
    let (Some(id), Some(secret)) = (
        v.get("client_id")
            .and_then(Value::as_str)
            .map(str::to_string),
        v.get("client_secret")
            .and_then(Value::as_str)
            .map(str::to_string),
    ) else {
        return Err(Stop::skip("the server registers only public clients"));
    };
    if v.get("token_endpoint_auth_method").and_then(Value::as_str) != Some("client_secret_basic") {
        return Err(Stop::skip(
            "the server substituted another authentication method",
        ));
    }
    // A refresh token that does not exist, so nothing is issued either way: a server that holds
    // the client to its method refuses it (invalid_client) before looking at the grant, and one
    // that does not gets as far as invalid_grant.
    let form = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        (
            "refresh_token".to_string(),
            "not-a-real-refresh-token".to_string(),
        ),
    ];
    // First, the registered method itself: the Basic header alone, no client_id in the body
    // (RFC 6749 §2.3.1).
    let own = cx
        .token(
            &form,
            &ClientAuth::Basic {
                client_id: id.clone(),
                secret: secret.clone(),
            },
        )
        .await;
    // Then every other method the metadata advertises, each with a client registered for it.
    let advertised: Vec<String> = cx
        .metadata()
        .ok()
        .and_then(|m| m.get("token_endpoint_auth_methods_supported"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut others = Vec::new();
    for method in advertised
        .iter()
        .filter(|m| matches!(m.as_str(), "client_secret_post" | "none"))
    {
        let mut metadata = client_metadata(&cx.flow.redirect_uri, &cx.flow.scope);
        metadata["token_endpoint_auth_method"] = json!(method);
        let registration = register(cx.ctx, &endpoint, &metadata).await;
        let answer = match registration_result(&registration) {
            Ok(v) => {
                let client = ClientAuth::for_method(
                    method,
                    v.get("client_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    v.get("client_secret")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                );
                MethodTried::Answered(cx.token(&form, &client).await)
            }
            Err(_) => MethodTried::NotRegistered(registration),
        };
        others.push((method.clone(), answer));
    }
    let mut answers = Vec::new();
    for (what, auth) in [
        (
            "the secret in the body",
            ClientAuth::Post {
                client_id: id.clone(),
                secret,
            },
        ),
        (
            "no secret",
            ClientAuth::None {
                client_id: id.clone(),
            },
        ),
    ] {
        answers.push((what, cx.token(&form, &auth).await));
    }
    Ok(judge_auth_method_enforced(&own, &others, &answers))
}

/// How a client of one advertised authentication method fared.
enum MethodTried {
    /// Registered, then answered at the token endpoint.
    Answered(Exchange),
    /// The registration for the method was refused.
    NotRegistered(Exchange),
}

/// Whether a token request was let past client authentication (a made-up refresh token then
/// gets a grant error, not `invalid_client`).
fn authenticated(e: &Exchange) -> bool {
    let a = error_answer(e);
    a.status.is_some_and(|s| s < 500)
        && !matches!(
            a.error.as_deref(),
            Some("invalid_client" | "unauthorized_client") | None
        )
}

/// `own`: the `client_secret_basic` client with the Basic header alone; `others`: a client of
/// each other advertised method, authenticating by it; `answers`: how the `client_secret_basic`
/// client authenticated instead, and the answer.
fn judge_auth_method_enforced(
    own: &Exchange,
    others: &[(String, MethodTried)],
    answers: &[(&str, Exchange)],
) -> Verdict {
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    if !authenticated(own) {
        failures.push(format!(
            "the Basic header alone did not authenticate a client_secret_basic client ({}; RFC 6749 §2.3.1 needs no client_id in the body)",
            error_answer(own).describe()
        ));
        evidence.push(own.clone());
    }
    for (method, tried) in others {
        match tried {
            MethodTried::Answered(e) if authenticated(e) => {}
            MethodTried::Answered(e) => {
                failures.push(format!(
                    "a client registered for {method}, which the metadata advertises, could not authenticate with it ({})",
                    error_answer(e).describe()
                ));
                evidence.push(e.clone());
            }
            MethodTried::NotRegistered(e) => {
                failures.push(format!(
                    "the metadata advertises {method}, but a client registering for it was refused ({})",
                    error_answer(e).describe()
                ));
                evidence.push(e.clone());
            }
        }
    }
    let mut loose = Vec::new();
    for (what, e) in answers {
        let a = error_answer(e);
        if a.error.as_deref() != Some("invalid_client") {
            loose.push(format!("{what}: {}", a.describe()));
            evidence.push(e.clone());
        }
    }
    if !loose.is_empty() {
        failures.push(format!(
            "a client registered for client_secret_basic was not held to it: {}",
            loose.join("; ")
        ));
    }
    if failures.is_empty() {
        let methods: Vec<&str> = std::iter::once("client_secret_basic")
            .chain(others.iter().map(|(m, _)| m.as_str()))
            .collect();
        Verdict::passed(format!(
            "every advertised method works ({}), and a client_secret_basic client authenticating otherwise got invalid_client",
            methods.join(", ")
        ))
    } else {
        Verdict::fail(failures.join("; "), evidence)
    }
}

/// Whether an answer is the token-endpoint error `codes` with the status RFC 6749 §5.2 asks
/// for (400; 401 also for `invalid_grant` under the lenient profile). `Ok` carries a note.
fn judge_token_error(
    exchange: &Exchange,
    codes: &[&str],
    profile: Profile,
) -> Result<String, String> {
    let a = error_answer(exchange);
    if a.tokens_issued {
        return Err("tokens were issued".to_string());
    }
    let Some(status) = a.status else {
        return Err(format!("no answer: {}", exchange.failure()));
    };
    let Some(error) = &a.error else {
        return Err(format!("HTTP {status} without an OAuth error body"));
    };
    if !codes.contains(&error.as_str()) {
        return Err(format!(
            "HTTP {status} error={error}, not {}",
            codes.join(" or ")
        ));
    }
    token_error_status(status, error, profile)
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testkit::{exchange, render};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    /// An answer of the token endpoint: this status, JSON, these extra header lines, this body.
    fn answer(status: u16, headers: &str, body: &str) -> Exchange {
        exchange(&format!(
            "POST http://127.0.0.1:1/token\n=>\n{status}\ncontent-type: application/json\n{headers}\n{body}"
        ))
    }

    fn error(status: u16, code: &str) -> Exchange {
        answer(status, "", &format!(r#"{{"error":"{code}"}}"#))
    }

    const TOKENS: &str = r#"{"access_token":"at","token_type":"Bearer","expires_in":3600}"#;

    #[test]
    fn invalid_client_401() {
        check(
            judge_invalid_client_401(&answer(
                401,
                "www-authenticate: Basic realm=\"token\"\n",
                r#"{"error":"invalid_client"}"#,
            )),
            expect![[r#"
                pass
                  note: a wrong secret via HTTP Basic got 401 invalid_client with a Basic challenge
            "#]],
        );
        check(
            judge_invalid_client_401(&error(401, "invalid_client")),
            expect![[r#"
                fail: a wrong client secret via HTTP Basic: no WWW-Authenticate: Basic challenge for the scheme the client used (RFC 6749 §5.2; clients such as Claude re-register only on invalid_client)
                  evidence: POST http://127.0.0.1:1/token -> 401
            "#]],
        );
        check(
            judge_invalid_client_401(&error(400, "invalid_client")),
            expect![[r#"
                fail: a wrong client secret via HTTP Basic: invalid_client with HTTP 400 instead of 401 (RFC 6749 §5.2; clients such as Claude re-register only on invalid_client)
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
        check(
            judge_invalid_client_401(&error(400, "invalid_grant")),
            expect![[r#"
                fail: a wrong client secret via HTTP Basic: HTTP 400 error=invalid_grant instead of invalid_client (RFC 6749 §5.2; clients such as Claude re-register only on invalid_client)
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
    }

    #[test]
    fn unknown_client() {
        check(
            judge_unknown_client(&error(401, "invalid_client")),
            expect![[r#"
                pass
                  note: an unknown client_id got 401 invalid_client
            "#]],
        );
        check(
            judge_unknown_client(&error(400, "invalid_client")),
            expect![[r#"
                warn: an unknown client_id got invalid_client with HTTP 400; 401 is what RFC 6749 §5.2 gives it
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
        check(
            judge_unknown_client(&error(200, "invalid_client")),
            expect![[r#"
                fail: an unknown client_id got invalid_client with HTTP 200, which clients read as success
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
        check(
            judge_unknown_client(&error(400, "invalid_grant")),
            expect![[r#"
                fail: an unknown client_id got HTTP 400 error=invalid_grant; invalid_client is what tells clients to register again
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
    }

    #[test]
    fn unauthorized_client() {
        check(
            judge_unauthorized_client(&error(400, "unauthorized_client"), true),
            expect![[r#"
                pass
                  note: the client's unregistered grant got 400 unauthorized_client
            "#]],
        );
        check(
            judge_unauthorized_client(&error(400, "unsupported_grant_type"), false),
            expect![[r#"
                pass
                  note: client_credentials is not supported at all: 400 unsupported_grant_type
            "#]],
        );
        check(
            judge_unauthorized_client(&error(400, "unsupported_grant_type"), true),
            expect![[r#"
                fail: client_credentials for a client not registered for it: HTTP 400 error=unsupported_grant_type (expected 400 unauthorized_client)
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
        check(
            judge_unauthorized_client(&answer(200, "", TOKENS), false),
            expect![[r#"
                fail: a client registered only for authorization_code obtained tokens with client_credentials
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
        check(
            judge_unauthorized_client(&error(401, "invalid_client"), false),
            expect![[r#"
                fail: an identified client asking for a grant it may not use got invalid_client; RFC 6749 §5.2 reserves that for failed authentication and asks for unauthorized_client
                  evidence: POST http://127.0.0.1:1/token -> 401
            "#]],
        );
    }

    #[test]
    fn unsupported_grant() {
        check(
            judge_unsupported_grant(&error(400, "unsupported_grant_type"), Profile::Rfc),
            expect![[r#"
                pass
                  note: HTTP 400 error=unsupported_grant_type
            "#]],
        );
        check(
            judge_unsupported_grant(&error(401, "unsupported_grant_type"), Profile::Lenient),
            expect![[r#"
                fail: an unknown grant_type: HTTP 401 error=unsupported_grant_type: RFC 6749 §5.2 answers this error with 400
                  evidence: POST http://127.0.0.1:1/token -> 401
            "#]],
        );
        check(
            judge_unsupported_grant(&error(400, "invalid_request"), Profile::Rfc),
            expect![[r#"
                fail: an unknown grant_type: HTTP 400 error=invalid_request, not unsupported_grant_type
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
    }

    #[test]
    fn invalid_grant() {
        let both = |code: Exchange, refresh: Exchange| {
            vec![
                ("an unknown code", code),
                ("an unknown refresh token", refresh),
            ]
        };
        check(
            judge_invalid_grant(
                &both(error(400, "invalid_grant"), error(400, "invalid_grant")),
                Profile::Rfc,
            ),
            expect![[r#"
                pass
                  note: an unknown code: HTTP 400 error=invalid_grant; an unknown refresh token: HTTP 400 error=invalid_grant (profile rfc)
            "#]],
        );
        check(
            judge_invalid_grant(
                &both(error(401, "invalid_grant"), error(400, "invalid_grant")),
                Profile::Lenient,
            ),
            expect![[r#"
                pass
                  note: an unknown code: HTTP 401 error=invalid_grant: a deviation from RFC 6749 §5.2 (400) that the lenient profile accepts; an unknown refresh token: HTTP 400 error=invalid_grant (profile lenient)
            "#]],
        );
        check(
            judge_invalid_grant(
                &both(error(401, "invalid_grant"), error(500, "server_error")),
                Profile::Rfc,
            ),
            expect![[r#"
                fail: an unknown code: HTTP 401 error=invalid_grant: RFC 6749 §5.2 answers invalid_grant with 400 (profile rfc; --profile lenient accepts 401, which some servers send so that clients log in again); an unknown refresh token: HTTP 500 error=server_error, not invalid_grant (profile rfc)
                  evidence: POST http://127.0.0.1:1/token -> 401
                  evidence: POST http://127.0.0.1:1/token -> 500
            "#]],
        );
    }

    #[test]
    fn invalid_request() {
        check(
            judge_invalid_request(&error(400, "invalid_request"), Profile::Rfc),
            expect![[r#"
                pass
                  note: a code exchange without code: HTTP 400 error=invalid_request
            "#]],
        );
        check(
            judge_invalid_request(&error(400, "invalid_grant"), Profile::Rfc),
            expect![[r#"
                fail: a code exchange without code: HTTP 400 error=invalid_grant, not invalid_request
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
    }

    #[test]
    fn headers() {
        let good_error = answer(
            400,
            "cache-control: no-store\n",
            r#"{"error":"unsupported_grant_type"}"#,
        );
        check(
            judge_headers(
                &answer(200, "cache-control: no-cache, no-store\n", TOKENS),
                &good_error,
            ),
            expect![[r#"
                pass
                  note: JSON with Cache-Control: no-store on success and error
            "#]],
        );
        let html_error = exchange(
            r#"
            POST http://127.0.0.1:1/token
            =>
            400
            content-type: text/html

            <p>unsupported grant</p>
            "#,
        );
        check(
            judge_headers(&answer(200, "", TOKENS), &html_error),
            expect![[r#"
                fail: the success: no Cache-Control: no-store; an error: Content-Type "text/html", no Cache-Control: no-store (RFC 6749 §5.1, §5.2)
                  evidence: POST http://127.0.0.1:1/token -> 200
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
        // An error request that got no answer has no headers to judge; the success still does.
        check(
            judge_headers(
                &answer(200, "cache-control: no-store\n", TOKENS),
                &exchange("POST http://127.0.0.1:1/token\n=>\n! connection reset"),
            ),
            expect![[r#"
                pass
                  note: JSON with Cache-Control: no-store on success and error
            "#]],
        );
    }

    #[test]
    fn success_shape() {
        let tokens = |body: &str| token_set(&answer(200, "", body)).expect("a token response");
        check(
            judge_success_shape(&tokens(TOKENS)),
            expect![[r#"
                pass
                  note: access_token, token_type Bearer and expires_in present
            "#]],
        );
        check(
            judge_success_shape(&tokens(r#"{"access_token":"at","token_type":"bearer"}"#)),
            expect![[r#"
                warn: no expires_in (RECOMMENDED: clients cannot refresh ahead of expiry)
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
        check(
            judge_success_shape(&tokens(
                r#"{"access_token":"at","token_type":"mac","expires_in":3600}"#,
            )),
            expect![[r#"
                fail: token_type is Some("mac"), not Bearer
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
    }

    #[test]
    fn no_200_errors() {
        check(
            judge_no_200_errors(&[
                error(400, "unsupported_grant_type"),
                error(400, "invalid_grant"),
                error(400, "invalid_request"),
            ]),
            expect![[r#"
                pass
                  note: no error was answered with a 2xx status
            "#]],
        );
        check(
            judge_no_200_errors(&[
                error(400, "unsupported_grant_type"),
                error(200, "invalid_grant"),
                answer(200, "", "{}"),
            ]),
            expect![[r#"
                fail: 1 error(s) came with HTTP 200 (RFC 6749 §5.2: 400 or 401)
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
    }

    #[test]
    fn auth_method_enforced() {
        let ok = error(400, "invalid_grant");
        let refused = || {
            vec![
                ("the secret in the body", error(401, "invalid_client")),
                ("no secret", error(400, "invalid_client")),
            ]
        };
        let post_works = || {
            vec![(
                "client_secret_post".to_string(),
                MethodTried::Answered(ok.clone()),
            )]
        };
        check(
            judge_auth_method_enforced(&ok, &post_works(), &refused()),
            expect![[r#"
                pass
                  note: every advertised method works (client_secret_basic, client_secret_post), and a client_secret_basic client authenticating otherwise got invalid_client
            "#]],
        );
        check(
            judge_auth_method_enforced(
                &ok,
                &post_works(),
                &[
                    ("the secret in the body", error(400, "invalid_grant")),
                    ("no secret", error(401, "invalid_client")),
                ],
            ),
            expect![[r#"
                fail: a client registered for client_secret_basic was not held to it: the secret in the body: HTTP 400 error=invalid_grant
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
        // The Basic header alone is refused (the server wants client_id in the body too).
        check(
            judge_auth_method_enforced(&error(401, "invalid_client"), &post_works(), &refused()),
            expect![[r#"
                fail: the Basic header alone did not authenticate a client_secret_basic client (HTTP 401 error=invalid_client; RFC 6749 §2.3.1 needs no client_id in the body)
                  evidence: POST http://127.0.0.1:1/token -> 401
            "#]],
        );
        // An advertised method that does not work.
        check(
            judge_auth_method_enforced(
                &ok,
                &[(
                    "client_secret_post".to_string(),
                    MethodTried::Answered(error(401, "invalid_client")),
                )],
                &refused(),
            ),
            expect![[r#"
                fail: a client registered for client_secret_post, which the metadata advertises, could not authenticate with it (HTTP 401 error=invalid_client)
                  evidence: POST http://127.0.0.1:1/token -> 401
            "#]],
        );
    }
}
