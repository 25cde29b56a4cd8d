//! Dynamic Client Registration (RFC 7591): the endpoint, echoed metadata, lenient input, error
//! codes, application types, and clients surviving a restart.

use super::*;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("dcr.register-basic" => sync register_basic),
    as_probe!("dcr.echo-metadata" => echo_metadata),
    as_probe!("dcr.lenient-input" => lenient_input),
    as_probe!("dcr.error-codes" => error_codes),
    as_probe!("dcr.application-type" => application_type),
    as_probe!("dcr.client-usable" => client_usable),
];

/// `dcr.register-basic`.
fn register_basic(cx: &AsCx<'_>) -> StepOutcome {
    if cx.flow.client.is_none()
        && let Some(step) = cx
            .flow
            .steps
            .iter()
            .find(|s| s.name == "registration" && !s.ok)
        && cx.flow.endpoint("registration_endpoint").is_some()
    {
        return StepOutcome::fail(step.message.clone(), step.exchanges.clone());
    }
    let (exchange, _) = match cx.dynamic_registration() {
        Ok(r) => r,
        Err(o) => return o,
    };
    match exchange.status() {
        Some(201) => pass(
            "the registration of a native public client with a loopback redirect URI was answered 201 with a client_id",
        ),
        Some(s) => StepOutcome::fail(
            format!(
                "a successful registration was answered HTTP {s}; RFC 7591 §3.2.1 requires 201 Created"
            ),
            vec![exchange.clone()],
        ),
        None => StepOutcome::fail("no answer", vec![exchange.clone()]),
    }
}

/// `dcr.echo-metadata`.
async fn echo_metadata(cx: &AsCx<'_>) -> StepOutcome {
    let (exchange, response) = match cx.dynamic_registration() {
        Ok(r) => r,
        Err(o) => return o,
    };
    let mut missing: Vec<String> = [
        "client_id",
        "redirect_uris",
        "grant_types",
        "token_endpoint_auth_method",
    ]
    .into_iter()
    .filter(|k| response.get(*k).is_none())
    .map(str::to_string)
    .collect();
    let mut evidence = vec![exchange.clone()];
    // A confidential client: its secret must come with client_secret_expires_at.
    if let Some(endpoint) = cx.flow.endpoint("registration_endpoint") {
        let mut metadata = client_metadata(&cx.flow.redirect_uri, &cx.flow.scope);
        metadata["token_endpoint_auth_method"] = json!("client_secret_basic");
        let e = register(cx.ctx, &endpoint, &metadata).await;
        if let Ok(v) = registration_result(&e)
            && v.get("client_secret").is_some()
            && v.get("client_secret_expires_at").is_none()
        {
            missing.push("client_secret_expires_at (a secret was issued)".to_string());
            evidence.push(e);
        }
    }
    if missing.is_empty() {
        pass("the registration response returns the registered metadata")
    } else {
        StepOutcome::fail(
            format!(
                "the registration response lacks {} (RFC 7591 §3.2.1)",
                missing.join(", ")
            ),
            evidence,
        )
    }
}

/// `dcr.lenient-input`.
async fn lenient_input(cx: &AsCx<'_>) -> StepOutcome {
    let endpoint = match cx.registration_endpoint() {
        Ok(e) => e,
        Err(o) => return o,
    };
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    let minimal = json!({"redirect_uris": [cx.flow.redirect_uri], "client_name": "mcp-auth-conformance minimal"});
    let mut unknown = client_metadata(&cx.flow.redirect_uri, &cx.flow.scope);
    unknown["x_conformance_unknown_field"] = json!("ignore me");
    // Only the unknown field is new here (dcr.application-type judges application_type).
    if let Some(o) = unknown.as_object_mut() {
        o.remove("application_type");
    }
    for (what, body) in [
        ("only redirect_uris and client_name", minimal),
        ("an unknown field", unknown),
    ] {
        let e = register(cx.ctx, &endpoint, &body).await;
        if let Err(why) = registration_result(&e) {
            failures.push(format!("a registration with {what} was refused ({why})"));
            evidence.push(e);
        }
    }
    if failures.is_empty() {
        pass("registrations omitting optional metadata or carrying an unknown field are accepted")
    } else {
        StepOutcome::fail(
            format!(
                "{} (RFC 7591 §2: defaults apply, unknown metadata is ignored)",
                failures.join("; ")
            ),
            evidence,
        )
    }
}

/// `dcr.error-codes`.
async fn error_codes(cx: &AsCx<'_>) -> StepOutcome {
    let endpoint = match cx.registration_endpoint() {
        Ok(e) => e,
        Err(o) => return o,
    };
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    for uri in [
        "javascript:alert(1)",
        "http://127.0.0.1:8080/cb#fragment",
        "http://attacker.example/cb",
    ] {
        let body = client_metadata(uri, &cx.flow.scope);
        let e = register(cx.ctx, &endpoint, &body).await;
        let a = error_answer(&e);
        let ok = a.status == Some(400)
            && matches!(
                a.error.as_deref(),
                Some("invalid_redirect_uri" | "invalid_client_metadata")
            );
        if !ok {
            failures.push(format!("redirect URI {uri:?}: {}", a.describe()));
            evidence.push(e);
        }
    }
    if failures.is_empty() {
        pass(
            "dangerous redirect URIs are refused with 400 invalid_redirect_uri or invalid_client_metadata",
        )
    } else {
        StepOutcome::fail(
            format!(
                "{} (expected 400 invalid_redirect_uri or invalid_client_metadata, RFC 7591 §3.2.2)",
                failures.join("; ")
            ),
            evidence,
        )
    }
}

/// `dcr.application-type`.
async fn application_type(cx: &AsCx<'_>) -> StepOutcome {
    let Some(endpoint) = cx.flow.endpoint("registration_endpoint") else {
        return if cx.has_metadata().is_ok() {
            StepOutcome::skip("the authorization server offers no dynamic client registration")
        } else {
            StepOutcome::not_testable(cx.flow.summary(), Vec::new())
        };
    };
    let port = if cx.redirect_port() == 0 {
        33_418
    } else {
        cx.redirect_port()
    };
    let loopback = format!("http://127.0.0.1:{port}/callback");
    // What MCP clients send since SEP-837: a native application with a loopback redirect.
    let native = client_metadata(&loopback, &cx.flow.scope);
    let e = register(cx.ctx, &endpoint, &native).await;
    let answer = match registration_result(&e) {
        Ok(v) => v,
        Err(_) => {
            return StepOutcome::fail(
                format!(
                    "a registration with application_type native and a loopback redirect URI was refused ({}); MCP clients register this way (OpenID Connect Registration §2, SEP-837)",
                    error_answer(&e).describe()
                ),
                vec![e],
            );
        }
    };
    if let Some(kind) = answer.get("application_type").and_then(Value::as_str)
        && kind != "native"
    {
        return StepOutcome::fail(
            format!(
                "a registration with application_type native was answered with application_type {kind:?}: the server does not keep the client type it was given"
            ),
            vec![e],
        );
    }
    let mut notes = vec!["native with a loopback redirect URI: registered".to_string()];
    for (label, kind, uri) in [
        (
            "web with an https redirect URI",
            "web",
            "https://app.example/callback",
        ),
        ("web with a loopback redirect URI", "web", loopback.as_str()),
    ] {
        let mut body = client_metadata(uri, &cx.flow.scope);
        body["application_type"] = json!(kind);
        let e = register(cx.ctx, &endpoint, &body).await;
        let verdict = if registration_result(&e).is_ok() {
            "registered".to_string()
        } else {
            format!("refused ({})", error_answer(&e).describe())
        };
        notes.push(format!("{label}: {verdict}"));
    }
    pass(notes.join("; "))
}

/// `dcr.client-usable`.
async fn client_usable(cx: &AsCx<'_>) -> StepOutcome {
    // The login shows the walk works at all; only then does a new client's walk say anything.
    if let Err(o) = cx.logged_in() {
        return o;
    }
    if let Err(o) = cx.registration_endpoint() {
        return o;
    }
    let Some((client, registered)) = cx.second_client().await else {
        return StepOutcome::not_testable(
            "a new registration was refused (dcr.register-basic judges registration)",
            Vec::new(),
        );
    };
    let client_id = client.client_id().to_string();
    // Usable at once: an authorization and a code exchange with the new client.
    let Some((run, pkce)) = cx
        .authorize_with_pkce(|p| p.set("client_id", client_id.clone()))
        .await
    else {
        return StepOutcome::not_testable("no authorization endpoint", Vec::new());
    };
    let Some(code) = run.code().map(str::to_string) else {
        return StepOutcome::fail(
            format!(
                "a client registered a moment before was not accepted at the authorization endpoint: {}",
                run.describe_end()
            ),
            std::iter::once(registered)
                .chain(run.hops.last().cloned())
                .collect(),
        );
    };
    let form = cx.run.code_form(cx.flow, &code, Some(&pkce.verifier));
    let e = token_request(cx.ctx, &cx.token_endpoint(), &form, &client).await;
    if let Err(why) = token_set(&e) {
        return StepOutcome::fail(
            format!(
                "the code issued to a client registered a moment before was not exchanged: {why}"
            ),
            vec![e],
        );
    }
    let Some(restart) = &cx.ctx.restart else {
        return pass(
            "a new client could log in at once; the restart half was not run (give --restart-cmd for a target you run yourself)",
        );
    };
    if let Err(why) = restart.restart().await {
        return StepOutcome::not_testable(
            format!("a new client could log in at once; the target could not be restarted: {why}"),
            Vec::new(),
        );
    }
    // After the restart: a token request from that client with a code that cannot be valid
    // says whether the client is still known (invalid_grant) or forgotten (invalid_client).
    let form = cx
        .run
        .code_form(cx.flow, "conformance-no-such-code", Some(&pkce.verifier));
    // The first request may meet a connection kept alive to the stopped process: a request
    // that got no answer at all is sent again, a few times.
    let mut e = token_request(cx.ctx, &cx.token_endpoint(), &form, &client).await;
    for _ in 0..3 {
        if e.response().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        e = token_request(cx.ctx, &cx.token_endpoint(), &form, &client).await;
    }
    let a = error_answer(&e);
    let described = match a.status {
        Some(_) => a.describe(),
        None => format!("no answer ({})", e.failure()),
    };
    match (a.status, a.error.as_deref()) {
        (Some(s), _) if s < 500 && a.error.as_deref() == Some("invalid_client") => pass(
            "a new client could log in at once; after a restart it is forgotten, and the token endpoint says so with invalid_client (clients such as Claude register again on that signal)",
        ),
        (Some(s), Some(error)) if s < 500 => pass(format!(
            "a new client could log in at once, and is still known after a restart (a made-up code got {error})"
        )),
        _ => StepOutcome::fail(
            format!(
                "after a restart, a token request from a client registered before it was answered {described} (RFC 6749 §5.2: invalid_client for a client the server no longer knows, never a server error)"
            ),
            vec![e],
        ),
    }
}

impl AsCx<'_> {
    /// The registration endpoint, for checks that register clients of their own: also when the
    /// login's own registration failed (that failure is judged by `dcr.register-basic`).
    pub(super) fn registration_endpoint(&self) -> Result<String, StepOutcome> {
        let endpoint = self.flow.endpoint("registration_endpoint");
        match (self.dynamic_registration(), endpoint) {
            (Ok(_), Some(e)) => Ok(e),
            (Err(_), Some(e)) if self.flow.client.is_none() => Ok(e),
            (Err(o), _) => Err(o),
            (Ok(_), None) => Err(StepOutcome::skip("no registration endpoint")),
        }
    }

    pub(super) fn dynamic_registration(&self) -> Result<(&Exchange, &Value), StepOutcome> {
        match self.flow.client.as_ref().map(|c| &c.source) {
            Some(ClientSource::Dynamic { exchange, response }) => Ok((exchange, response)),
            Some(ClientSource::CommandLine) => Err(StepOutcome::skip(
                "the run used a pre-registered client (--client-id)",
            )),
            Some(ClientSource::MetadataDocument { .. }) => Err(StepOutcome::skip(
                "the run logged in with a Client ID Metadata Document (--cimd-login)",
            )),
            None => match self.flow.endpoint("registration_endpoint") {
                None if self
                    .flow
                    .discovery
                    .as_ref()
                    .is_some_and(|d| d.document().is_some()) =>
                {
                    Err(StepOutcome::skip(
                        "the authorization server offers no dynamic client registration",
                    ))
                }
                _ => Err(StepOutcome::not_testable(self.flow.summary(), Vec::new())),
            },
        }
    }
}
