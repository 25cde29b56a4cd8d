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

/// `token.invalid-client-401`.
async fn invalid_client_401(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.has_metadata() {
        return o;
    }
    // A confidential client: registered dynamically, or the one given on the command line.
    let confidential = match cx.client() {
        ClientAuth::Basic { client_id, .. } | ClientAuth::Post { client_id, .. } => Some(client_id),
        ClientAuth::None { .. } => match cx.flow.endpoint("registration_endpoint") {
            Some(endpoint) => {
                let mut metadata = client_metadata(&cx.flow.redirect_uri, &cx.flow.scope);
                metadata["token_endpoint_auth_method"] = json!("client_secret_basic");
                let e = register(cx.ctx, &endpoint, &metadata).await;
                match registration_result(&e) {
                    Ok(v) if v.get("client_secret").is_none() => {
                        return StepOutcome::skip(
                            "the server registers only public clients (it answered a client_secret_basic registration without a secret), so no client authenticates with a secret",
                        );
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
    let Some(client_id) = confidential else {
        return StepOutcome::not_testable(
            "no confidential client: none could be registered and none was given with --client-id/--client-secret",
            Vec::new(),
        );
    };
    let form = vec![
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("code".to_string(), "not-a-code".to_string()),
        ("redirect_uri".to_string(), cx.flow.redirect_uri.clone()),
    ];
    let auth = ClientAuth::Basic {
        client_id,
        secret: "wrong-secret".to_string(),
    };
    let e = token_request(cx.ctx, &cx.token_endpoint(), &form, &auth).await;
    let a = error_answer(&e);
    let challenge = e
        .response()
        .and_then(|r| r.header("www-authenticate"))
        .map(str::to_string);
    let mut problems = Vec::new();
    if a.error.as_deref() != Some("invalid_client") {
        problems.push(format!("{} instead of invalid_client", a.describe()));
    } else if a.status != Some(401) {
        problems.push(format!(
            "invalid_client with HTTP {} instead of 401",
            a.status.map_or("?".into(), |s| s.to_string())
        ));
    }
    if a.status == Some(401)
        && !challenge
            .as_deref()
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("basic"))
    {
        problems.push(
            "no WWW-Authenticate: Basic challenge for the scheme the client used".to_string(),
        );
    }
    if problems.is_empty() {
        pass("a wrong secret via HTTP Basic got 401 invalid_client with a Basic challenge")
    } else {
        StepOutcome::fail(
            format!(
                "a wrong client secret via HTTP Basic: {} (RFC 6749 §5.2; clients such as Claude re-register only on invalid_client)",
                problems.join("; ")
            ),
            vec![e],
        )
    }
}

/// `token.unknown-client`.
async fn unknown_client(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.has_metadata() {
        return o;
    }
    let form = vec![
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("code".to_string(), "not-a-code".to_string()),
        ("redirect_uri".to_string(), cx.flow.redirect_uri.clone()),
        ("code_verifier".to_string(), random_text(32)),
    ];
    let auth = ClientAuth::None {
        client_id: format!("never-registered-{}", random_text(6)),
    };
    let e = token_request(cx.ctx, &cx.token_endpoint(), &form, &auth).await;
    let a = error_answer(&e);
    match (a.error.as_deref(), a.status) {
        (Some("invalid_client"), Some(401)) => pass("an unknown client_id got 401 invalid_client"),
        (Some("invalid_client"), Some(s)) if s < 300 => StepOutcome::fail(
            format!(
                "an unknown client_id got invalid_client with HTTP {s}, which clients read as success"
            ),
            vec![e],
        ),
        (Some("invalid_client"), Some(s)) => StepOutcome::warn(
            format!(
                "an unknown client_id got invalid_client with HTTP {s}; 401 is what RFC 6749 §5.2 gives it"
            ),
            vec![e],
        ),
        _ => StepOutcome::fail(
            format!(
                "an unknown client_id got {}; invalid_client is what tells clients to register again",
                a.describe()
            ),
            vec![e],
        ),
    }
}

/// `token.unauthorized-client`.
async fn unauthorized_client(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let form = vec![("grant_type".to_string(), "client_credentials".to_string())];
    let e = token_request(cx.ctx, &cx.token_endpoint(), &form, &cx.client()).await;
    let a = error_answer(&e);
    let advertised = cx
        .flow
        .discovery
        .as_ref()
        .and_then(|d| d.document())
        .and_then(|d| d.get("grant_types_supported"))
        .and_then(Value::as_array)
        .is_some_and(|g| g.iter().any(|v| v == "client_credentials"));
    match a.error.as_deref() {
        Some("unauthorized_client") if a.status == Some(400) => {
            pass("the client's unregistered grant got 400 unauthorized_client")
        }
        Some("unsupported_grant_type") if !advertised && a.status == Some(400) => {
            pass("client_credentials is not supported at all: 400 unsupported_grant_type")
        }
        _ if a.tokens_issued => StepOutcome::fail(
            "a client registered only for authorization_code obtained tokens with client_credentials",
            vec![e],
        ),
        Some("invalid_client") => StepOutcome::fail(
            "an identified client asking for a grant it may not use got invalid_client; RFC 6749 §5.2 reserves that for failed authentication and asks for unauthorized_client",
            vec![e],
        ),
        _ => StepOutcome::fail(
            format!(
                "client_credentials for a client not registered for it: {} (expected 400 unauthorized_client)",
                a.describe()
            ),
            vec![e],
        ),
    }
}

/// `token.unsupported-grant`.
async fn unsupported_grant(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let form = vec![(
        "grant_type".to_string(),
        "urn:example:conformance:unknown".to_string(),
    )];
    let e = token_request(cx.ctx, &cx.token_endpoint(), &form, &cx.client()).await;
    match judge_token_error(&e, &["unsupported_grant_type"], cx.ctx.options.profile) {
        Ok(note) => pass(note),
        Err(why) => StepOutcome::fail(format!("an unknown grant_type: {why}"), vec![e]),
    }
}

/// `token.invalid-grant`.
async fn invalid_grant(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let profile = cx.ctx.options.profile;
    let mut notes = Vec::new();
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
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
    for (what, form) in [
        ("an unknown code", bogus_code),
        ("an unknown refresh token", bogus_refresh),
    ] {
        let e = token_request(cx.ctx, &cx.token_endpoint(), &form, &cx.client()).await;
        match judge_token_error(&e, &["invalid_grant"], profile) {
            Ok(note) => notes.push(format!("{what}: {note}")),
            Err(why) => {
                failures.push(format!("{what}: {why}"));
                evidence.push(e);
            }
        }
    }
    if failures.is_empty() {
        pass(format!(
            "{} (profile {})",
            notes.join("; "),
            profile.as_str()
        ))
    } else {
        StepOutcome::fail(
            format!("{} (profile {})", failures.join("; "), profile.as_str()),
            evidence,
        )
    }
}

/// `token.invalid-request`.
async fn invalid_request(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let form = vec![
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("redirect_uri".to_string(), cx.flow.redirect_uri.clone()),
        ("code_verifier".to_string(), random_text(32)),
    ];
    let e = token_request(cx.ctx, &cx.token_endpoint(), &form, &cx.client()).await;
    match judge_token_error(&e, &["invalid_request"], cx.ctx.options.profile) {
        Ok(note) => pass(format!("a code exchange without code: {note}")),
        Err(why) => StepOutcome::fail(format!("a code exchange without code: {why}"), vec![e]),
    }
}

/// `token.headers`.
async fn headers(cx: &AsCx<'_>) -> StepOutcome {
    let Some(tokens) = &cx.flow.tokens else {
        return StepOutcome::not_testable(cx.flow.summary(), Vec::new());
    };
    let form = vec![(
        "grant_type".to_string(),
        "urn:example:conformance:unknown".to_string(),
    )];
    let error = token_request(cx.ctx, &cx.token_endpoint(), &form, &cx.client()).await;
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    for (what, e) in [("the success", &tokens.exchange), ("an error", &error)] {
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
        pass("JSON with Cache-Control: no-store on success and error")
    } else {
        StepOutcome::fail(
            format!("{} (RFC 6749 §5.1, §5.2)", problems.join("; ")),
            evidence,
        )
    }
}

/// `token.success-shape`.
fn success_shape(cx: &AsCx<'_>) -> StepOutcome {
    let Some(tokens) = &cx.flow.tokens else {
        return StepOutcome::not_testable(cx.flow.summary(), Vec::new());
    };
    let v = &tokens.response;
    let token_type = v.get("token_type").and_then(Value::as_str);
    if !token_type.is_some_and(|t| t.eq_ignore_ascii_case("bearer")) {
        return StepOutcome::fail(
            format!("token_type is {token_type:?}, not Bearer"),
            vec![tokens.exchange.clone()],
        );
    }
    if v.get("expires_in").and_then(Value::as_i64).is_none() {
        return StepOutcome::warn(
            "no expires_in (RECOMMENDED: clients cannot refresh ahead of expiry)",
            vec![tokens.exchange.clone()],
        );
    }
    pass("access_token, token_type Bearer and expires_in present")
}

/// `token.no-200-errors`.
async fn no_200_errors(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let forms = [
        vec![(
            "grant_type".to_string(),
            "urn:example:conformance:unknown".to_string(),
        )],
        cx.run
            .code_form(cx.flow, "not-a-real-code", Some(&random_text(32))),
        vec![("grant_type".to_string(), "authorization_code".to_string())],
    ];
    let mut bad = Vec::new();
    for form in forms {
        let e = token_request(cx.ctx, &cx.token_endpoint(), &form, &cx.client()).await;
        if e.response().is_some_and(|r| r.is_success()) && oauth_error(&e).is_some() {
            bad.push(e);
        }
    }
    if bad.is_empty() {
        pass("no error was answered with a 2xx status")
    } else {
        StepOutcome::fail(
            format!(
                "{} error(s) came with HTTP {} (RFC 6749 §5.2: 400 or 401)",
                bad.len(),
                bad[0].status_text()
            ),
            bad,
        )
    }
}

/// `token.auth-method-enforced`.
async fn auth_method_enforced(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let Some(endpoint) = cx.flow.endpoint("registration_endpoint") else {
        return StepOutcome::skip("needs dynamic registration of a client_secret_basic client");
    };
    let mut metadata = client_metadata(&cx.flow.redirect_uri, &cx.flow.scope);
    metadata["token_endpoint_auth_method"] = json!("client_secret_basic");
    let e = register(cx.ctx, &endpoint, &metadata).await;
    let Ok(v) = registration_result(&e) else {
        return StepOutcome::not_testable(
            "the server refused to register a client_secret_basic client",
            vec![e],
        );
    };
    let (Some(id), Some(secret)) = (
        v.get("client_id")
            .and_then(Value::as_str)
            .map(str::to_string),
        v.get("client_secret")
            .and_then(Value::as_str)
            .map(str::to_string),
    ) else {
        return StepOutcome::skip("the server registers only public clients");
    };
    if v.get("token_endpoint_auth_method").and_then(Value::as_str) != Some("client_secret_basic") {
        return StepOutcome::skip("the server substituted another authentication method");
    }
    let form = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        (
            "refresh_token".to_string(),
            "not-a-real-refresh-token".to_string(),
        ),
    ];
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
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
        let e = token_request(cx.ctx, &cx.token_endpoint(), &form, &auth).await;
        let a = error_answer(&e);
        if a.error.as_deref() != Some("invalid_client") {
            failures.push(format!("{what}: {}", a.describe()));
            evidence.push(e);
        }
    }
    if failures.is_empty() {
        pass("a client_secret_basic client authenticating otherwise got invalid_client")
    } else {
        StepOutcome::fail(
            format!(
                "a client registered for client_secret_basic was not held to it: {}",
                failures.join("; ")
            ),
            evidence,
        )
    }
}
