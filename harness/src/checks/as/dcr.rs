//! Dynamic Client Registration (RFC 7591): the endpoint, echoed metadata, lenient input, error
//! codes, application types, and clients surviving a restart.

use std::ops::ControlFlow;
use std::time::Duration;

use super::*;
use crate::poll::poll_until;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("dcr.register-basic" => sync register_basic),
    as_probe!("dcr.echo-metadata" => echo_metadata),
    as_probe!("dcr.lenient-input" => lenient_input),
    as_probe!("dcr.error-codes" => error_codes),
    as_probe!("dcr.application-type" => application_type),
    as_probe!("dcr.client-usable" => client_usable),
];

/// `dcr.register-basic`: registering a native public client is answered 201 with a `client_id`.
fn register_basic(cx: &AsCx<'_>) -> Judged {
    // The login's own registration failed: the login's step already says how.
    if cx.flow.client.is_none()
        && let Some(step) = cx
            .flow
            .steps
            .iter()
            .find(|s| s.name == "registration" && !s.ok)
        && cx.flow.endpoint("registration_endpoint").is_some()
    {
        return Ok(Verdict::fail(step.message.clone(), step.exchanges.clone()));
    }
    let (exchange, _) = cx.dynamic_registration()?;
    Ok(judge_created(exchange))
}

/// `exchange` is the login's successful registration.
fn judge_created(exchange: &Exchange) -> Verdict {
    match exchange.status() {
        Some(201) => Verdict::passed(
            "the registration of a native public client with a loopback redirect URI was answered 201 with a client_id",
        ),
        Some(s) => Verdict::fail(
            format!(
                "a successful registration was answered HTTP {s}; RFC 7591 §3.2.1 requires 201 Created"
            ),
            vec![exchange.clone()],
        ),
        None => Verdict::fail("no answer", vec![exchange.clone()]),
    }
}

/// `dcr.echo-metadata`: the registration response returns the registered metadata (and a
/// secret's expiry).
async fn echo_metadata(cx: &AsCx<'_>) -> Judged {
    let (exchange, response) = cx.dynamic_registration()?;
    // A confidential client: its secret must come with client_secret_expires_at.
    let confidential = match cx.flow.endpoint("registration_endpoint") {
        Some(endpoint) => {
            let mut metadata = client_metadata(&cx.flow.redirect_uri, &cx.flow.scope);
            metadata["token_endpoint_auth_method"] = json!("client_secret_basic");
            Some(register(cx.ctx, &endpoint, &metadata).await)
        }
        None => None,
    };
    Ok(judge_echo(exchange, response, confidential.as_ref()))
}

/// `exchange` and `response` are the login's registration and its answer; `confidential` the
/// registration of a confidential client, when there is an endpoint to send it to.
fn judge_echo(exchange: &Exchange, response: &Value, confidential: Option<&Exchange>) -> Verdict {
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
    if let Some(e) = confidential
        && let Ok(v) = registration_result(e)
        && v.get("client_secret").is_some()
        && v.get("client_secret_expires_at").is_none()
    {
        missing.push("client_secret_expires_at (a secret was issued)".to_string());
        evidence.push(e.clone());
    }
    if missing.is_empty() {
        Verdict::passed("the registration response returns the registered metadata")
    } else {
        Verdict::fail(
            format!(
                "the registration response lacks {} (RFC 7591 §3.2.1)",
                missing.join(", ")
            ),
            evidence,
        )
    }
}

/// `dcr.lenient-input`: registrations omitting optional metadata or carrying an unknown field are
/// accepted.
async fn lenient_input(cx: &AsCx<'_>) -> Judged {
    let endpoint = cx.registration_endpoint()?;
    let minimal = json!({"redirect_uris": [cx.flow.redirect_uri], "client_name": "mcp-auth-conformance minimal"});
    let mut unknown = client_metadata(&cx.flow.redirect_uri, &cx.flow.scope);
    unknown["x_conformance_unknown_field"] = json!("ignore me");
    // Only the unknown field is new here (dcr.application-type judges application_type).
    if let Some(o) = unknown.as_object_mut() {
        o.remove("application_type");
    }
    let mut tried = Vec::new();
    for (what, body) in [
        ("only redirect_uris and client_name", minimal),
        ("an unknown field", unknown),
    ] {
        tried.push((what, register(cx.ctx, &endpoint, &body).await));
    }
    Ok(judge_lenient(&tried))
}

/// `tried` pairs what each registration carried with its exchange.
fn judge_lenient(tried: &[(&str, Exchange)]) -> Verdict {
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    for (what, e) in tried {
        if let Err(why) = registration_result(e) {
            failures.push(format!("a registration with {what} was refused ({why})"));
            evidence.push(e.clone());
        }
    }
    if failures.is_empty() {
        Verdict::passed(
            "registrations omitting optional metadata or carrying an unknown field are accepted",
        )
    } else {
        Verdict::fail(
            format!(
                "{} (RFC 7591 §2: defaults apply, unknown metadata is ignored)",
                failures.join("; ")
            ),
            evidence,
        )
    }
}

/// `dcr.error-codes`: dangerous redirect URIs are refused with 400 and the RFC 7591 error codes.
async fn error_codes(cx: &AsCx<'_>) -> Judged {
    let endpoint = cx.registration_endpoint()?;
    let mut tried = Vec::new();
    for uri in [
        "javascript:alert(1)",
        "http://127.0.0.1:8080/cb#fragment",
        "http://attacker.example/cb",
    ] {
        let body = client_metadata(uri, &cx.flow.scope);
        tried.push((uri, register(cx.ctx, &endpoint, &body).await));
    }
    Ok(judge_error_codes(&tried))
}

/// `tried` pairs each dangerous redirect URI with its registration.
fn judge_error_codes(tried: &[(&str, Exchange)]) -> Verdict {
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    for (uri, e) in tried {
        let a = error_answer(e);
        let ok = a.status == Some(400)
            && matches!(
                a.error.as_deref(),
                Some("invalid_redirect_uri" | "invalid_client_metadata")
            );
        if !ok {
            failures.push(format!("redirect URI {uri:?}: {}", a.describe()));
            evidence.push(e.clone());
        }
    }
    if failures.is_empty() {
        Verdict::passed(
            "dangerous redirect URIs are refused with 400 invalid_redirect_uri or invalid_client_metadata",
        )
    } else {
        Verdict::fail(
            format!(
                "{} (expected 400 invalid_redirect_uri or invalid_client_metadata, RFC 7591 §3.2.2)",
                failures.join("; ")
            ),
            evidence,
        )
    }
}

/// `dcr.application-type`: a native client with a loopback redirect URI registers and keeps its
/// type; what happens to web clients is noted.
async fn application_type(cx: &AsCx<'_>) -> Judged {
    let Some(endpoint) = cx.flow.endpoint("registration_endpoint") else {
        cx.metadata()?;
        return Err(Stop::skip(
            "the authorization server offers no dynamic client registration",
        ));
    };
    let port = if cx.redirect_port() == 0 {
        33_418
    } else {
        cx.redirect_port()
    };
    let loopback = format!("http://127.0.0.1:{port}/callback");
    // What MCP clients send since SEP-837: a native application with a loopback redirect.
    let native = register(
        cx.ctx,
        &endpoint,
        &client_metadata(&loopback, &cx.flow.scope),
    )
    .await;
    // The web registrations are noted only beside a native one that stands.
    let mut web = Vec::new();
    if judge_native(&native).is_ok() {
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
            web.push((label, register(cx.ctx, &endpoint, &body).await));
        }
    }
    Ok(judge_application_type(&native, &web))
}

/// The native registration stands (`Ok`), or the check fails on it.
fn judge_native(native: &Exchange) -> Result<(), Verdict> {
    let answer = registration_result(native).map_err(|_| {
        Verdict::fail(
            format!(
                "a registration with application_type native and a loopback redirect URI was refused ({}); MCP clients register this way (OpenID Connect Registration §2, SEP-837)",
                error_answer(native).describe()
            ),
            vec![native.clone()],
        )
    })?;
    if let Some(kind) = answer.get("application_type").and_then(Value::as_str)
        && kind != "native"
    {
        return Err(Verdict::fail(
            format!(
                "a registration with application_type native was answered with application_type {kind:?}: the server does not keep the client type it was given"
            ),
            vec![native.clone()],
        ));
    }
    Ok(())
}

/// `native` is the native client's registration; `web` pairs each web registration (sent only
/// when the native one stood) with what it tried.
fn judge_application_type(native: &Exchange, web: &[(&str, Exchange)]) -> Verdict {
    if let Err(failed) = judge_native(native) {
        return failed;
    }
    let mut notes = vec!["native with a loopback redirect URI: registered".to_string()];
    for (label, e) in web {
        let verdict = if registration_result(e).is_ok() {
            "registered".to_string()
        } else {
            format!("refused ({})", error_answer(e).describe())
        };
        notes.push(format!("{label}: {verdict}"));
    }
    Verdict::passed(notes.join("; "))
}

/// `dcr.client-usable`: a client registered a moment before logs in at once, and after a restart
/// is either still known or reported as unknown with `invalid_client`.
async fn client_usable(cx: &AsCx<'_>) -> Judged {
    // The login (a need of this check) shows the walk works at all; only then does a new
    // client's walk say anything.
    cx.registration_endpoint()?;
    let Some((client, registered)) = cx.second_client().await else {
        return Err(Stop::not_testable(
            "a new registration was refused (dcr.register-basic judges registration)",
            Vec::new(),
        ));
    };
    let client_id = client.client_id().to_string();
    // Usable at once: an authorization and a code exchange with the new client.
    let (run, pkce) = cx
        .walk_pkce(|p| p.set("client_id", client_id.clone()))
        .await?;
    let redeemed = match run.code() {
        Some(code) => {
            let form = cx.run.code_form(cx.flow, code, Some(&pkce.verifier));
            Some(cx.token(&form, &client).await)
        }
        None => None,
    };
    // The restart half runs only after the client was usable at once.
    let after = match &cx.ctx.restart {
        Some(restart) if judge_first_use(&registered, &run, redeemed.as_ref()).is_ok() => {
            Some(match restart.restart().await {
                Ok(()) => Ok(ask_after_restart(cx, &client, &pkce).await),
                Err(why) => Err(why),
            })
        }
        _ => None,
    };
    Ok(judge_client_usable(
        &registered,
        &run,
        redeemed.as_ref(),
        after.as_ref(),
    ))
}

/// After the restart: a token request from the client with a code that cannot be valid says
/// whether the client is still known (`invalid_grant`) or forgotten (`invalid_client`).
async fn ask_after_restart(cx: &AsCx<'_>, client: &ClientAuth, pkce: &Pkce) -> Exchange {
    let form = cx
        .run
        .code_form(cx.flow, "conformance-no-such-code", Some(&pkce.verifier));
    // The port is open again, but a server may take a moment more to answer (a connection
    // kept alive to the stopped process, a framework still starting): a request that got no
    // answer at all is sent again until one comes, for at most RESTART_ANSWER_WAIT.
    match poll_until(RESTART_ANSWER_WAIT, Duration::from_millis(250), || async {
        let e = cx.token(&form, client).await;
        if e.response().is_some() {
            ControlFlow::Break(e)
        } else {
            ControlFlow::Continue(e)
        }
    })
    .await
    {
        Ok(answered) => answered,
        Err(unanswered) => unanswered,
    }
}

/// How long the token endpoint may stay silent after a restart before the check gives up (not
/// testable: a server that does not come back says nothing about the rule).
const RESTART_ANSWER_WAIT: Duration = Duration::from_secs(15);

/// The new client was usable at once (`Ok`), or the check fails: `registered` is its
/// registration, `run` its authorization, `redeemed` the code exchange when a code came back.
fn judge_first_use(
    registered: &Exchange,
    run: &AuthorizeRun,
    redeemed: Option<&Exchange>,
) -> Result<(), Verdict> {
    let Some(e) = redeemed else {
        return Err(Verdict::fail(
            format!(
                "a client registered a moment before was not accepted at the authorization endpoint: {}",
                run.describe_end()
            ),
            std::iter::once(registered.clone())
                .chain(run.hops.last().cloned())
                .collect(),
        ));
    };
    if let Err(why) = token_set(e) {
        return Err(Verdict::fail(
            format!(
                "the code issued to a client registered a moment before was not exchanged: {why}"
            ),
            vec![e.clone()],
        ));
    }
    Ok(())
}

/// The first use ([`judge_first_use`]), then the restart: `after` is `None` when no restart was
/// run, the restart's failure, or the token endpoint's answer once the target was back.
fn judge_client_usable(
    registered: &Exchange,
    run: &AuthorizeRun,
    redeemed: Option<&Exchange>,
    after: Option<&Result<Exchange, String>>,
) -> Verdict {
    if let Err(failed) = judge_first_use(registered, run, redeemed) {
        return failed;
    }
    let e = match after {
        None => {
            return Verdict::passed(
                "a new client could log in at once; the restart half was not run (give --restart-cmd for a target you run yourself)",
            );
        }
        Some(Err(why)) => {
            return Verdict::not_testable(
                format!(
                    "a new client could log in at once; the target could not be restarted: {why}"
                ),
                Vec::new(),
            );
        }
        Some(Ok(e)) => e,
    };
    let a = error_answer(e);
    if a.status.is_none() {
        return Verdict::not_testable(
            format!(
                "a new client could log in at once; after the restart the token endpoint did not answer within {} s ({})",
                RESTART_ANSWER_WAIT.as_secs(),
                e.failure()
            ),
            vec![e.clone()],
        );
    }
    let described = a.describe();
    match (a.status, a.error.as_deref()) {
        (Some(s), _) if s < 500 && a.error.as_deref() == Some("invalid_client") => Verdict::passed(
            "a new client could log in at once; after a restart it is forgotten, and the token endpoint says so with invalid_client (clients such as Claude register again on that signal)",
        ),
        (Some(s), Some(error)) if s < 500 => Verdict::passed(format!(
            "a new client could log in at once, and is still known after a restart (a made-up code got {error})"
        )),
        _ => Verdict::fail(
            format!(
                "after a restart, a token request from a client registered before it was answered {described} (RFC 6749 §5.2: invalid_client for a client the server no longer knows, never a server error)"
            ),
            vec![e.clone()],
        ),
    }
}

impl AsCx<'_> {
    /// The registration endpoint, for checks that register clients of their own: also when the
    /// login's own registration failed (that failure is judged by `dcr.register-basic`).
    fn registration_endpoint(&self) -> Result<String, Stop> {
        let endpoint = self.flow.endpoint("registration_endpoint");
        match (self.dynamic_registration(), endpoint) {
            (Ok(_), Some(e)) => Ok(e),
            (Err(_), Some(e)) if self.flow.client.is_none() => Ok(e),
            (Err(stop), _) => Err(stop),
            (Ok(_), None) => Err(Stop::skip("no registration endpoint")),
        }
    }

    /// The login's dynamic registration and its answer.
    fn dynamic_registration(&self) -> Result<(&Exchange, &Value), Stop> {
        match self.flow.client.as_ref().map(|c| &c.source) {
            Some(ClientSource::Dynamic { exchange, response }) => Ok((exchange, response)),
            Some(ClientSource::CommandLine) => Err(Stop::skip(
                "the run used a pre-registered client (--client-id)",
            )),
            Some(ClientSource::MetadataDocument { .. }) => Err(Stop::skip(
                "the run logged in with a Client ID Metadata Document (--cimd-login)",
            )),
            None => match self.flow.endpoint("registration_endpoint") {
                None if self
                    .flow
                    .discovery
                    .as_ref()
                    .is_some_and(|d| d.document().is_some()) =>
                {
                    Err(Stop::skip(
                        "the authorization server offers no dynamic client registration",
                    ))
                }
                _ => Err(Stop::not_testable(self.flow.summary(), Vec::new())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testkit::{callback, exchange, render, stopped};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    /// A registration answered with this status and JSON body.
    fn registration(status: u16, body: &str) -> Exchange {
        exchange(&format!(
            "POST http://127.0.0.1:2/register\ncontent-type: application/json\n\n{{}}\n=>\n{status}\ncontent-type: application/json\n\n{body}"
        ))
    }

    /// A token request answered with this status and JSON body.
    fn token(status: u16, body: &str) -> Exchange {
        exchange(&format!(
            "POST http://127.0.0.1:2/token\n=>\n{status}\ncontent-type: application/json\n\n{body}"
        ))
    }

    const REGISTERED: &str = r#"{"client_id":"c-1","redirect_uris":["http://127.0.0.1:1/callback"],"grant_types":["authorization_code"],"token_endpoint_auth_method":"none"}"#;

    #[test]
    fn created() {
        check(
            judge_created(&registration(201, REGISTERED)),
            expect![[r#"
            pass
              note: the registration of a native public client with a loopback redirect URI was answered 201 with a client_id
        "#]],
        );
        check(
            judge_created(&registration(200, REGISTERED)),
            expect![[r#"
            fail: a successful registration was answered HTTP 200; RFC 7591 §3.2.1 requires 201 Created
              evidence: POST http://127.0.0.1:2/register -> 200
        "#]],
        );
        check(
            judge_created(&exchange(
                "POST http://127.0.0.1:2/register\n=>\n! connection reset",
            )),
            expect![[r#"
                fail: no answer
                  evidence: POST http://127.0.0.1:2/register -> no answer
            "#]],
        );
    }

    #[test]
    fn echo() {
        let login = registration(201, REGISTERED);
        let response: Value = serde_json::from_str(REGISTERED).unwrap();
        let secret_with_expiry = registration(
            201,
            r#"{"client_id":"c-2","client_secret":"s","client_secret_expires_at":0}"#,
        );
        check(
            judge_echo(&login, &response, Some(&secret_with_expiry)),
            expect![[r#"
                pass
                  note: the registration response returns the registered metadata
            "#]],
        );
        // Without a registration endpoint there is no confidential client to judge.
        check(
            judge_echo(&login, &response, None),
            expect![[r#"
            pass
              note: the registration response returns the registered metadata
        "#]],
        );
        let bare = json!({"client_id": "c-1"});
        let secret_forever = registration(201, r#"{"client_id":"c-2","client_secret":"s"}"#);
        check(
            judge_echo(&login, &bare, Some(&secret_forever)),
            expect![[r#"
                fail: the registration response lacks redirect_uris, grant_types, token_endpoint_auth_method, client_secret_expires_at (a secret was issued) (RFC 7591 §3.2.1)
                  evidence: POST http://127.0.0.1:2/register -> 201
                  evidence: POST http://127.0.0.1:2/register -> 201
            "#]],
        );
    }

    #[test]
    fn lenient() {
        let accepted = vec![
            (
                "only redirect_uris and client_name",
                registration(201, REGISTERED),
            ),
            ("an unknown field", registration(201, REGISTERED)),
        ];
        check(
            judge_lenient(&accepted),
            expect![[r#"
            pass
              note: registrations omitting optional metadata or carrying an unknown field are accepted
        "#]],
        );
        let refused = vec![
            (
                "only redirect_uris and client_name",
                registration(201, REGISTERED),
            ),
            (
                "an unknown field",
                registration(400, r#"{"error":"invalid_client_metadata"}"#),
            ),
        ];
        check(
            judge_lenient(&refused),
            expect![[r#"
            fail: a registration with an unknown field was refused (HTTP 400 error=invalid_client_metadata) (RFC 7591 §2: defaults apply, unknown metadata is ignored)
              evidence: POST http://127.0.0.1:2/register -> 400
        "#]],
        );
    }

    #[test]
    fn error_codes() {
        let refused = vec![
            (
                "javascript:alert(1)",
                registration(400, r#"{"error":"invalid_redirect_uri"}"#),
            ),
            (
                "http://attacker.example/cb",
                registration(400, r#"{"error":"invalid_client_metadata"}"#),
            ),
        ];
        check(
            judge_error_codes(&refused),
            expect![[r#"
            pass
              note: dangerous redirect URIs are refused with 400 invalid_redirect_uri or invalid_client_metadata
        "#]],
        );
        let wrong = vec![
            (
                "javascript:alert(1)",
                registration(400, r#"{"error":"invalid_request"}"#),
            ),
            (
                "http://127.0.0.1:8080/cb#fragment",
                registration(201, REGISTERED),
            ),
            (
                "http://attacker.example/cb",
                registration(401, r#"{"error":"invalid_redirect_uri"}"#),
            ),
        ];
        check(
            judge_error_codes(&wrong),
            expect![[r#"
            fail: redirect URI "javascript:alert(1)": HTTP 400 error=invalid_request; redirect URI "http://127.0.0.1:8080/cb#fragment": HTTP 201 without an OAuth error; redirect URI "http://attacker.example/cb": HTTP 401 error=invalid_redirect_uri (expected 400 invalid_redirect_uri or invalid_client_metadata, RFC 7591 §3.2.2)
              evidence: POST http://127.0.0.1:2/register -> 400
              evidence: POST http://127.0.0.1:2/register -> 201
              evidence: POST http://127.0.0.1:2/register -> 401
        "#]],
        );
    }

    #[test]
    fn application_type() {
        check(
            judge_application_type(
                &registration(400, r#"{"error":"invalid_client_metadata"}"#),
                &[],
            ),
            expect![[r#"
                fail: a registration with application_type native and a loopback redirect URI was refused (HTTP 400 error=invalid_client_metadata); MCP clients register this way (OpenID Connect Registration §2, SEP-837)
                  evidence: POST http://127.0.0.1:2/register -> 400
            "#]],
        );
        check(
            judge_application_type(
                &registration(201, r#"{"client_id":"c-1","application_type":"web"}"#),
                &[],
            ),
            expect![[r#"
                fail: a registration with application_type native was answered with application_type "web": the server does not keep the client type it was given
                  evidence: POST http://127.0.0.1:2/register -> 201
            "#]],
        );
        let web = [
            (
                "web with an https redirect URI",
                registration(201, r#"{"client_id":"c-2","application_type":"web"}"#),
            ),
            (
                "web with a loopback redirect URI",
                registration(400, r#"{"error":"invalid_redirect_uri"}"#),
            ),
        ];
        check(
            judge_application_type(
                &registration(201, r#"{"client_id":"c-1","application_type":"native"}"#),
                &web,
            ),
            expect![[r#"
                pass
                  note: native with a loopback redirect URI: registered; web with an https redirect URI: registered; web with a loopback redirect URI: refused (HTTP 400 error=invalid_redirect_uri)
            "#]],
        );
    }

    #[test]
    fn client_usable() {
        let registered = registration(201, REGISTERED);
        let code = callback("code=abc&state=s");
        let tokens = token(200, r#"{"access_token":"at","token_type":"Bearer"}"#);
        let judge = |run: &AuthorizeRun,
                     redeemed: Option<&Exchange>,
                     after: Option<Result<Exchange, String>>| {
            judge_client_usable(&registered, run, redeemed, after.as_ref())
        };
        check(
            judge(&stopped(400, "error=invalid_client"), None, None),
            expect![[r#"
                fail: a client registered a moment before was not accepted at the authorization endpoint: stopped at HTTP 400: error=invalid_client
                  evidence: POST http://127.0.0.1:2/register -> 201
                  evidence: GET http://127.0.0.1:2/authorize -> 400
            "#]],
        );
        check(
            judge(
                &code,
                Some(&token(400, r#"{"error":"invalid_client"}"#)),
                None,
            ),
            expect![[r#"
                fail: the code issued to a client registered a moment before was not exchanged: HTTP 400 error=invalid_client
                  evidence: POST http://127.0.0.1:2/token -> 400
            "#]],
        );
        check(
            judge(&code, Some(&tokens), None),
            expect![[r#"
            pass
              note: a new client could log in at once; the restart half was not run (give --restart-cmd for a target you run yourself)
        "#]],
        );
        check(
            judge(
                &code,
                Some(&tokens),
                Some(Err("the port did not open within 10 s".to_string())),
            ),
            expect![[r#"
                not testable: a new client could log in at once; the target could not be restarted: the port did not open within 10 s
            "#]],
        );
        check(
            judge(
                &code,
                Some(&tokens),
                Some(Ok(exchange(
                    "POST http://127.0.0.1:2/token\n=>\n! connection refused",
                ))),
            ),
            expect![[r#"
                not testable: a new client could log in at once; after the restart the token endpoint did not answer within 15 s (connection refused)
                  evidence: POST http://127.0.0.1:2/token -> no answer
            "#]],
        );
        check(
            judge(
                &code,
                Some(&tokens),
                Some(Ok(token(401, r#"{"error":"invalid_client"}"#))),
            ),
            expect![[r#"
                pass
                  note: a new client could log in at once; after a restart it is forgotten, and the token endpoint says so with invalid_client (clients such as Claude register again on that signal)
            "#]],
        );
        check(
            judge(
                &code,
                Some(&tokens),
                Some(Ok(token(400, r#"{"error":"invalid_grant"}"#))),
            ),
            expect![[r#"
                pass
                  note: a new client could log in at once, and is still known after a restart (a made-up code got invalid_grant)
            "#]],
        );
        check(
            judge(
                &code,
                Some(&tokens),
                Some(Ok(token(500, r#"{"error":"invalid_client"}"#))),
            ),
            expect![[r#"
                fail: after a restart, a token request from a client registered before it was answered HTTP 500 error=invalid_client (RFC 6749 §5.2: invalid_client for a client the server no longer knows, never a server error)
                  evidence: POST http://127.0.0.1:2/token -> 500
            "#]],
        );
        check(
            judge(
                &code,
                Some(&tokens),
                Some(Ok(exchange(
                    "POST http://127.0.0.1:2/token\n=>\n! connection refused",
                ))),
            ),
            expect![[r#"
                not testable: a new client could log in at once; after the restart the token endpoint did not answer within 15 s (connection refused)
                  evidence: POST http://127.0.0.1:2/token -> no answer
            "#]],
        );
    }
}
