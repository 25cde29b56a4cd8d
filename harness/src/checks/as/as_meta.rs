//! The authorization server's metadata (RFC 8414, OpenID Connect Discovery): issuer, required
//! fields, PKCE, the OIDC alias, live endpoints, registration, `iss`, and where an issuer with a
//! path publishes it.

use super::*;
use crate::spec::SpecVersion;
use crate::wellknown::metadata_document;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("as-meta.issuer-match" => sync issuer_match),
    as_probe!("as-meta.required-fields" => sync required_fields),
    as_probe!("as-meta.pkce-s256" => sync pkce_s256),
    as_probe!("as-meta.oidc-alias-consistent" => sync oidc_alias_consistent),
    as_probe!("as-meta.endpoints-live" => endpoints_live),
    as_probe!("as-meta.registration-advertised" => sync registration_advertised),
    as_probe!("as-meta.iss-flag" => sync iss_flag),
    as_probe!("as-meta.path-insertion" => path_insertion),
    as_probe!("as-meta.cimd-offered" => sync cimd_offered),
];

/// `as-meta.issuer-match`: every metadata document names the issuer it was built from.
fn issuer_match(cx: &AsCx<'_>) -> Judged {
    Ok(judge_issuer_match(cx.discovery()?, &cx.flow.summary()))
}

/// `login` is the login's summary, the reason when no document was found at all.
fn judge_issuer_match(d: &AsDiscovery, login: &str) -> Verdict {
    let mut bad = Vec::new();
    let mut seen = 0;
    for a in d.attempts.iter().filter(|a| a.document.is_some()) {
        seen += 1;
        let issuer = a
            .document
            .as_ref()
            .and_then(|v| v.get("issuer"))
            .and_then(Value::as_str);
        if issuer != Some(d.issuer.as_str()) {
            bad.push((
                format!(
                    "{} names issuer {:?}, not {:?}",
                    a.url,
                    issuer.unwrap_or("(none)"),
                    d.issuer
                ),
                a.exchange.clone(),
            ));
        }
    }
    if seen == 0 {
        return Verdict::not_testable(login, Vec::new());
    }
    if bad.is_empty() {
        Verdict::passed(format!("every metadata document names issuer {}", d.issuer))
    } else {
        Verdict::fail(
            bad.iter()
                .map(|(m, _)| m.clone())
                .collect::<Vec<_>>()
                .join("; "),
            bad.into_iter().map(|(_, e)| e).collect(),
        )
    }
}

/// `as-meta.required-fields`: `issuer`, the two endpoints and `response_types_supported` with
/// `code` (RFC 8414 §2).
fn required_fields(cx: &AsCx<'_>) -> Judged {
    Ok(judge_required_fields(
        cx.metadata()?,
        cx.chosen_metadata_exchange(),
    ))
}

/// `evidence` is the exchange that delivered `doc`.
fn judge_required_fields(doc: &Value, evidence: Vec<Exchange>) -> Verdict {
    let mut missing = Vec::new();
    for f in ["issuer", "authorization_endpoint", "token_endpoint"] {
        if doc.get(f).and_then(Value::as_str).is_none() {
            missing.push(f.to_string());
        }
    }
    let has_code = doc
        .get("response_types_supported")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == "code"));
    if !has_code {
        missing.push("response_types_supported containing \"code\"".to_string());
    }
    if missing.is_empty() {
        Verdict::passed(
            "issuer, authorization_endpoint, token_endpoint and response_types_supported [code] present",
        )
    } else {
        Verdict::fail(
            format!("the metadata lacks {}", missing.join(", ")),
            evidence,
        )
    }
}

/// `as-meta.pkce-s256`: every metadata document lists S256 in `code_challenge_methods_supported`.
fn pkce_s256(cx: &AsCx<'_>) -> Judged {
    Ok(judge_pkce_s256(cx.discovery()?, &cx.flow.summary()))
}

fn judge_pkce_s256(d: &AsDiscovery, login: &str) -> Verdict {
    let bad: Vec<_> = d
        .attempts
        .iter()
        .filter(|a| a.document.is_some())
        .filter(|a| {
            !a.document
                .as_ref()
                .and_then(|v| v.get("code_challenge_methods_supported"))
                .and_then(Value::as_array)
                .is_some_and(|m| m.iter().any(|v| v == "S256"))
        })
        .collect();
    if d.document().is_none() {
        return Verdict::not_testable(login, Vec::new());
    }
    if bad.is_empty() {
        Verdict::passed("code_challenge_methods_supported lists S256 in every metadata document")
    } else {
        Verdict::fail(
            format!(
                "code_challenge_methods_supported does not list S256 at {} (MCP clients must refuse to proceed without it)",
                bad.iter()
                    .map(|a| a.url.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            bad.iter().map(|a| a.exchange.clone()).collect(),
        )
    }
}

/// `as-meta.oidc-alias-consistent`: the RFC 8414 and OpenID Connect documents agree.
fn oidc_alias_consistent(cx: &AsCx<'_>) -> Judged {
    Ok(judge_oidc_alias(cx.discovery()?))
}

fn judge_oidc_alias(d: &AsDiscovery) -> Verdict {
    let oauth = d
        .attempts
        .iter()
        .find(|a| a.kind == MetadataKind::Oauth && a.document.is_some());
    let oidc = d
        .attempts
        .iter()
        .find(|a| a.kind == MetadataKind::Oidc && a.document.is_some());
    let (Some(oauth), Some(oidc)) = (oauth, oidc) else {
        return Verdict::skip(
            "only one kind of discovery document is served, so there is nothing to compare",
        );
    };
    let (a, b) = (
        oauth.document.as_ref().unwrap_or(&Value::Null),
        oidc.document.as_ref().unwrap_or(&Value::Null),
    );
    let differing: Vec<&str> = [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "registration_endpoint",
        "code_challenge_methods_supported",
    ]
    .into_iter()
    .filter(|k| a.get(*k) != b.get(*k))
    .collect();
    if differing.is_empty() {
        Verdict::passed(format!("{} and {} agree", oauth.url, oidc.url))
    } else {
        Verdict::fail(
            format!(
                "{} and {} differ in {}",
                oauth.url,
                oidc.url,
                differing.join(", ")
            ),
            vec![oauth.exchange.clone(), oidc.exchange.clone()],
        )
    }
}

/// `as-meta.endpoints-live`: every advertised endpoint answers an empty request with an error of
/// its own, never 404, 405 or a server error.
async fn endpoints_live(cx: &AsCx<'_>) -> Judged {
    cx.metadata()?;
    let form_post = |url: String| {
        let mut r = Request::new(reqwest::Method::POST, url)
            .header("content-type", "application/x-www-form-urlencoded");
        r.body = Some(Vec::new());
        r
    };
    let mut answers = Vec::new();
    if let Some(url) = cx.flow.endpoint("authorization_endpoint") {
        let r = Request::new(reqwest::Method::GET, url).header("accept", "text/html");
        answers.push(("authorization_endpoint", cx.ctx.target.send(r).await));
    }
    if let Some(url) = cx.flow.endpoint("token_endpoint") {
        answers.push(("token_endpoint", cx.ctx.target.send(form_post(url)).await));
    }
    if let Some(url) = cx.flow.endpoint("registration_endpoint") {
        let r = Request::new(reqwest::Method::POST, url).json_body(&json!({}));
        answers.push(("registration_endpoint", cx.ctx.target.send(r).await));
    }
    if let Some(url) = cx.flow.endpoint("revocation_endpoint") {
        answers.push((
            "revocation_endpoint",
            cx.ctx.target.send(form_post(url)).await,
        ));
    }
    Ok(judge_endpoints_live(answers))
}

/// `answers` pairs each advertised endpoint's metadata name with its answer to an empty request.
fn judge_endpoints_live(answers: Vec<(&str, Exchange)>) -> Verdict {
    let dead: Vec<String> = answers
        .iter()
        .filter(|(_, e)| {
            let status = e.status();
            matches!(status, None | Some(404) | Some(405)) || status.is_some_and(|s| s >= 500)
        })
        .map(|(name, e)| format!("{name} {} answered {}", e.request.url, e.status_text()))
        .collect();
    let exchanges: Vec<Exchange> = answers.into_iter().map(|(_, e)| e).collect();
    if dead.is_empty() {
        Verdict::passed(format!(
            "every advertised endpoint answers an empty request with an error of its own ({})",
            exchanges
                .iter()
                .map(|e| e.request.url.rsplit('/').next().unwrap_or("").to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    } else {
        Verdict::fail(dead.join("; "), exchanges)
    }
}

/// `as-meta.registration-advertised`: a client without a pre-registered client finds a way to
/// register (DCR or Client ID Metadata Documents).
fn registration_advertised(cx: &AsCx<'_>) -> Judged {
    Ok(judge_registration_advertised(
        cx.metadata()?,
        cx.chosen_metadata_exchange(),
    ))
}

fn judge_registration_advertised(doc: &Value, evidence: Vec<Exchange>) -> Verdict {
    let dcr = doc
        .get("registration_endpoint")
        .and_then(Value::as_str)
        .is_some();
    let cimd = doc
        .get("client_id_metadata_document_supported")
        .and_then(Value::as_bool)
        == Some(true);
    match (dcr, cimd) {
        (true, true) => Verdict::passed(
            "registration_endpoint and client_id_metadata_document_supported advertised",
        ),
        (true, false) => Verdict::passed("registration_endpoint advertised"),
        (false, true) => Verdict::passed("client_id_metadata_document_supported advertised"),
        (false, false) => Verdict::fail(
            "neither registration_endpoint nor client_id_metadata_document_supported is advertised, so MCP clients without a pre-registered client cannot log in",
            evidence,
        ),
    }
}

/// `as-meta.iss-flag`: `authorization_response_iss_parameter_supported` is true exactly when
/// authorization responses carry `iss` (RFC 9207 §3).
fn iss_flag(cx: &AsCx<'_>) -> Judged {
    let doc = cx.metadata()?;
    let run = cx.login_walk()?;
    Ok(judge_iss_flag(doc, run, cx.chosen_metadata_exchange()))
}

/// `run` is the login's walk; `metadata` the exchange that delivered `doc`.
fn judge_iss_flag(doc: &Value, run: &AuthorizeRun, metadata: Vec<Exchange>) -> Verdict {
    let flag = doc
        .get("authorization_response_iss_parameter_supported")
        .and_then(Value::as_bool)
        == Some(true);
    let has_iss = run.param("iss").is_some();
    // Whenever iss is sent, clients compare it with the metadata issuer exactly (RFC 9207 §2.4);
    // a value that differs makes them reject the response, whatever the flag says.
    if let (Some(iss), Some(issuer)) = (run.param("iss"), doc.get("issuer").and_then(Value::as_str))
        && iss != issuer
    {
        return Verdict::fail(
            format!(
                "the authorization response carries iss {iss:?}, but the metadata names the issuer {issuer:?}: clients compare the two exactly (RFC 9207 §2.4) and reject the response"
            ),
            run.hops
                .last()
                .cloned()
                .into_iter()
                .chain(metadata)
                .collect(),
        );
    }
    match (flag, has_iss) {
        (true, true) => {
            Verdict::passed("the metadata announces iss and the authorization response carries it")
        }
        (false, false) => Verdict::passed("no iss announced and none sent"),
        (true, false) => Verdict::fail(
            "authorization_response_iss_parameter_supported is true but the authorization response carries no iss (RFC 9207 §3: clients then reject every response)",
            run.hops.last().cloned().into_iter().collect(),
        ),
        (false, true) => Verdict::fail(
            "the authorization response carries iss but the metadata does not announce authorization_response_iss_parameter_supported (RFC 9207 §3)",
            metadata,
        ),
    }
}

/// `as-meta.path-insertion`: an issuer with a path publishes its metadata at a URL MCP clients
/// probe (RFC 8414 §3.1 path insertion, or an OpenID Connect form), not only at the root.
async fn path_insertion(cx: &AsCx<'_>) -> Judged {
    let discovery = cx.discovery()?;
    let Ok(issuer) = url::Url::parse(&discovery.issuer) else {
        return Err(Stop::not_testable(
            format!("the issuer {:?} is not a URL", discovery.issuer),
            Vec::new(),
        ));
    };
    if issuer.path().trim_end_matches('/').is_empty() {
        return Err(Stop::skip(
            "the issuer has no path, so the MCP discovery URLs are the root well-known ones",
        ));
    }
    // Only when no probed URL answers: is the metadata at the root instead?
    let root = match discovery.document() {
        Some(_) => None,
        None => {
            let url = format!(
                "{}/.well-known/oauth-authorization-server",
                issuer.origin().ascii_serialization()
            );
            Some(cx.ctx.target.send(Request::get_json(url)).await)
        }
    };
    Ok(judge_path_insertion(discovery, root))
}

/// `root` is the answer at the origin's root well-known URL, fetched when no probed URL answered.
fn judge_path_insertion(d: &AsDiscovery, root: Option<Exchange>) -> Verdict {
    if let Some(found) = d.attempts.iter().find(|a| a.document.is_some()) {
        return Verdict::passed(format!(
            "the metadata of {} is at {}, a URL MCP clients probe",
            d.issuer, found.url
        ));
    }
    let tried: Vec<&str> = d.attempts.iter().map(|a| a.url.as_str()).collect();
    let mut evidence: Vec<Exchange> = d.attempts.iter().map(|a| a.exchange.clone()).collect();
    let root_url = root
        .as_ref()
        .map(|e| e.request.url.clone())
        .unwrap_or_default();
    let at_root = root
        .as_ref()
        .is_some_and(|e| metadata_document(e).is_some());
    evidence.extend(root);
    Verdict::fail(
        if at_root {
            format!(
                "the metadata of {} is published only at the origin's root ({root_url}); MCP clients look for an issuer with a path at {} (RFC 8414 §3.1 inserts the path after the well-known segment)",
                d.issuer,
                tried.join(", ")
            )
        } else {
            format!(
                "no metadata for {} at any URL MCP clients probe ({})",
                d.issuer,
                tried.join(", ")
            )
        },
        evidence,
    )
}

/// `as-meta.cimd-offered`: an authorization server that lets clients register offers Client ID
/// Metadata Documents, not Dynamic Client Registration alone (deprecated in 2026-07-28).
fn cimd_offered(cx: &AsCx<'_>) -> Judged {
    Ok(judge_cimd_offered(
        cx.metadata()?,
        cx.facts.wire.spec,
        cx.chosen_metadata_exchange(),
    ))
}

fn judge_cimd_offered(doc: &Value, spec: SpecVersion, evidence: Vec<Exchange>) -> Verdict {
    let cimd = doc
        .get("client_id_metadata_document_supported")
        .and_then(Value::as_bool)
        == Some(true);
    let dcr = doc
        .get("registration_endpoint")
        .and_then(Value::as_str)
        .is_some();
    match (cimd, dcr) {
        (true, _) => Verdict::passed("client_id_metadata_document_supported is advertised"),
        (false, false) => Verdict::skip(
            "the server offers no registration at all (as-meta.registration-advertised judges that)",
        ),
        (false, true) if spec >= SpecVersion::V2026_07_28 => Verdict::fail(
            "Dynamic Client Registration is the only way to register, and MCP 2026-07-28 deprecates it in favour of Client ID Metadata Documents (client_id_metadata_document_supported is not advertised)",
            evidence,
        ),
        (false, true) => Verdict::fail(
            "Dynamic Client Registration is the only way to register; MCP 2025-11-25 has authorization servers support Client ID Metadata Documents (client_id_metadata_document_supported is not advertised)",
            evidence,
        ),
    }
}

impl AsCx<'_> {
    /// The exchange that delivered the metadata document the login used.
    pub(super) fn chosen_metadata_exchange(&self) -> Vec<Exchange> {
        self.flow
            .discovery
            .as_ref()
            .and_then(|d| d.attempts.iter().find(|a| a.document.is_some()))
            .map(|a| vec![a.exchange.clone()])
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use serde_json::json;

    use super::*;
    use crate::oauth::flow::MetadataAttempt;
    use crate::testkit::{callback, exchange, render};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    /// A metadata URL tried: a 200 with `doc`, or a 404 when `doc` is `None`.
    fn attempt(url: &str, kind: MetadataKind, doc: Option<Value>) -> MetadataAttempt {
        let answer = match &doc {
            Some(d) => format!("200\ncontent-type: application/json\n\n{d}"),
            None => "404".to_string(),
        };
        MetadataAttempt {
            url: url.to_string(),
            kind,
            exchange: exchange(&format!("GET {url}\n=>\n{answer}")),
            document: doc,
        }
    }

    const OAUTH: &str = "http://127.0.0.1:1/.well-known/oauth-authorization-server";
    const OIDC: &str = "http://127.0.0.1:1/.well-known/openid-configuration";

    fn discovery(issuer: &str, attempts: Vec<MetadataAttempt>) -> AsDiscovery {
        AsDiscovery {
            issuer: issuer.to_string(),
            attempts,
        }
    }

    fn complete() -> Value {
        json!({
            "issuer": "http://127.0.0.1:1",
            "authorization_endpoint": "http://127.0.0.1:1/authorize",
            "token_endpoint": "http://127.0.0.1:1/token",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        })
    }

    #[test]
    fn issuer_match() {
        let d = discovery(
            "http://127.0.0.1:1",
            vec![
                attempt(OAUTH, MetadataKind::Oauth, Some(complete())),
                attempt(
                    OIDC,
                    MetadataKind::Oidc,
                    Some(json!({"issuer": "http://127.0.0.1:1/"})),
                ),
            ],
        );
        check(
            judge_issuer_match(&d, "login"),
            expect![[r#"
                fail: http://127.0.0.1:1/.well-known/openid-configuration names issuer "http://127.0.0.1:1/", not "http://127.0.0.1:1"
                  evidence: GET http://127.0.0.1:1/.well-known/openid-configuration -> 200
            "#]],
        );
        let d = discovery(
            "http://127.0.0.1:1",
            vec![attempt(OAUTH, MetadataKind::Oauth, Some(complete()))],
        );
        check(
            judge_issuer_match(&d, "login"),
            expect![[r#"
                pass
                  note: every metadata document names issuer http://127.0.0.1:1
            "#]],
        );
        let none = discovery(
            "http://127.0.0.1:1",
            vec![attempt(OAUTH, MetadataKind::Oauth, None)],
        );
        check(
            judge_issuer_match(&none, "the headless login stopped at metadata"),
            expect![[r#"
                not testable: the headless login stopped at metadata
            "#]],
        );
    }

    #[test]
    fn required_fields() {
        check(
            judge_required_fields(&complete(), Vec::new()),
            expect![[r#"
                pass
                  note: issuer, authorization_endpoint, token_endpoint and response_types_supported [code] present
            "#]],
        );
        check(
            judge_required_fields(
                &json!({"issuer": "i", "response_types_supported": ["token"]}),
                Vec::new(),
            ),
            expect![[r#"
                fail: the metadata lacks authorization_endpoint, token_endpoint, response_types_supported containing "code"
            "#]],
        );
    }

    #[test]
    fn pkce_s256() {
        let mut plain = complete();
        plain["code_challenge_methods_supported"] = json!(["plain"]);
        let d = discovery(
            "http://127.0.0.1:1",
            vec![
                attempt(OAUTH, MetadataKind::Oauth, Some(complete())),
                attempt(OIDC, MetadataKind::Oidc, Some(plain)),
            ],
        );
        check(
            judge_pkce_s256(&d, "login"),
            expect![[r#"
                fail: code_challenge_methods_supported does not list S256 at http://127.0.0.1:1/.well-known/openid-configuration (MCP clients must refuse to proceed without it)
                  evidence: GET http://127.0.0.1:1/.well-known/openid-configuration -> 200
            "#]],
        );
        let d = discovery(
            "http://127.0.0.1:1",
            vec![attempt(OAUTH, MetadataKind::Oauth, Some(complete()))],
        );
        check(
            judge_pkce_s256(&d, "login"),
            expect![[r#"
                pass
                  note: code_challenge_methods_supported lists S256 in every metadata document
            "#]],
        );
    }

    #[test]
    fn oidc_alias() {
        let only_oauth = discovery(
            "http://127.0.0.1:1",
            vec![attempt(OAUTH, MetadataKind::Oauth, Some(complete()))],
        );
        check(
            judge_oidc_alias(&only_oauth),
            expect![[r#"
                skip: only one kind of discovery document is served, so there is nothing to compare
            "#]],
        );
        let mut other = complete();
        other["token_endpoint"] = json!("http://127.0.0.1:1/oauth/token");
        let differing = discovery(
            "http://127.0.0.1:1",
            vec![
                attempt(OAUTH, MetadataKind::Oauth, Some(complete())),
                attempt(OIDC, MetadataKind::Oidc, Some(other)),
            ],
        );
        check(
            judge_oidc_alias(&differing),
            expect![[r#"
                fail: http://127.0.0.1:1/.well-known/oauth-authorization-server and http://127.0.0.1:1/.well-known/openid-configuration differ in token_endpoint
                  evidence: GET http://127.0.0.1:1/.well-known/oauth-authorization-server -> 200
                  evidence: GET http://127.0.0.1:1/.well-known/openid-configuration -> 200
            "#]],
        );
        let same = discovery(
            "http://127.0.0.1:1",
            vec![
                attempt(OAUTH, MetadataKind::Oauth, Some(complete())),
                attempt(OIDC, MetadataKind::Oidc, Some(complete())),
            ],
        );
        check(
            judge_oidc_alias(&same),
            expect![[r#"
                pass
                  note: http://127.0.0.1:1/.well-known/oauth-authorization-server and http://127.0.0.1:1/.well-known/openid-configuration agree
            "#]],
        );
    }

    #[test]
    fn endpoints_live() {
        let token = exchange("POST http://127.0.0.1:1/token\n=>\n400");
        let register = exchange("POST http://127.0.0.1:1/register\n=>\n404");
        let revoke = exchange("POST http://127.0.0.1:1/revoke\n=> ! connection reset");
        check(
            judge_endpoints_live(vec![
                ("token_endpoint", token.clone()),
                ("registration_endpoint", register),
                ("revocation_endpoint", revoke),
            ]),
            expect![[r#"
                fail: registration_endpoint http://127.0.0.1:1/register answered 404; revocation_endpoint http://127.0.0.1:1/revoke answered no answer
                  evidence: POST http://127.0.0.1:1/token -> 400
                  evidence: POST http://127.0.0.1:1/register -> 404
                  evidence: POST http://127.0.0.1:1/revoke -> no answer
            "#]],
        );
        let authorize = exchange("GET http://127.0.0.1:1/authorize\n=>\n400");
        check(
            judge_endpoints_live(vec![
                ("authorization_endpoint", authorize),
                ("token_endpoint", token),
            ]),
            expect![[r#"
                pass
                  note: every advertised endpoint answers an empty request with an error of its own (authorize, token)
            "#]],
        );
    }

    #[test]
    fn registration_advertised() {
        check(
            judge_registration_advertised(&complete(), Vec::new()),
            expect![[r#"
                fail: neither registration_endpoint nor client_id_metadata_document_supported is advertised, so MCP clients without a pre-registered client cannot log in
            "#]],
        );
        let mut cimd = complete();
        cimd["client_id_metadata_document_supported"] = json!(true);
        check(
            judge_registration_advertised(&cimd, Vec::new()),
            expect![[r#"
                pass
                  note: client_id_metadata_document_supported advertised
            "#]],
        );
    }

    #[test]
    fn iss_flag() {
        let mut flagged = complete();
        flagged["authorization_response_iss_parameter_supported"] = json!(true);
        check(
            judge_iss_flag(
                &flagged,
                &callback("code=c&state=s&iss=http%3A%2F%2Felsewhere.example"),
                Vec::new(),
            ),
            expect![[r#"
                fail: the authorization response carries iss "http://elsewhere.example", but the metadata names the issuer "http://127.0.0.1:1": clients compare the two exactly (RFC 9207 §2.4) and reject the response
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        check(
            judge_iss_flag(&flagged, &callback("code=c&state=s"), Vec::new()),
            expect![[r#"
                fail: authorization_response_iss_parameter_supported is true but the authorization response carries no iss (RFC 9207 §3: clients then reject every response)
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        check(
            judge_iss_flag(
                &complete(),
                &callback("code=c&state=s&iss=http%3A%2F%2F127.0.0.1%3A1"),
                Vec::new(),
            ),
            expect![[r#"
                fail: the authorization response carries iss but the metadata does not announce authorization_response_iss_parameter_supported (RFC 9207 §3)
            "#]],
        );
        check(
            judge_iss_flag(
                &flagged,
                &callback("code=c&state=s&iss=http%3A%2F%2F127.0.0.1%3A1"),
                Vec::new(),
            ),
            expect![[r#"
                pass
                  note: the metadata announces iss and the authorization response carries it
            "#]],
        );
    }

    #[test]
    fn cimd_offered() {
        let mut dcr_only = complete();
        dcr_only["registration_endpoint"] = json!("http://127.0.0.1:1/register");
        check(
            judge_cimd_offered(&dcr_only, SpecVersion::V2026_07_28, Vec::new()),
            expect![[r#"
                fail: Dynamic Client Registration is the only way to register, and MCP 2026-07-28 deprecates it in favour of Client ID Metadata Documents (client_id_metadata_document_supported is not advertised)
            "#]],
        );
        check(
            judge_cimd_offered(&dcr_only, SpecVersion::V2025_11_25, Vec::new()),
            expect![[r#"
                fail: Dynamic Client Registration is the only way to register; MCP 2025-11-25 has authorization servers support Client ID Metadata Documents (client_id_metadata_document_supported is not advertised)
            "#]],
        );
        check(
            judge_cimd_offered(&complete(), SpecVersion::V2026_07_28, Vec::new()),
            expect![[r#"
                skip: the server offers no registration at all (as-meta.registration-advertised judges that)
            "#]],
        );
        let mut both = dcr_only;
        both["client_id_metadata_document_supported"] = json!(true);
        check(
            judge_cimd_offered(&both, SpecVersion::V2026_07_28, Vec::new()),
            expect![[r#"
                pass
                  note: client_id_metadata_document_supported is advertised
            "#]],
        );
    }

    #[test]
    fn path_insertion() {
        let issuer = "http://127.0.0.1:1/tenant";
        let found = discovery(
            issuer,
            vec![attempt(
                "http://127.0.0.1:1/.well-known/oauth-authorization-server/tenant",
                MetadataKind::Oauth,
                Some(complete()),
            )],
        );
        check(
            judge_path_insertion(&found, None),
            expect![[r#"
                pass
                  note: the metadata of http://127.0.0.1:1/tenant is at http://127.0.0.1:1/.well-known/oauth-authorization-server/tenant, a URL MCP clients probe
            "#]],
        );
        let missing = discovery(
            issuer,
            vec![attempt(
                "http://127.0.0.1:1/.well-known/oauth-authorization-server/tenant",
                MetadataKind::Oauth,
                None,
            )],
        );
        let root = exchange(&format!(
            "GET {OAUTH}\n=>\n200\ncontent-type: application/json\n\n{}",
            complete()
        ));
        check(
            judge_path_insertion(&missing, Some(root)),
            expect![[r#"
                fail: the metadata of http://127.0.0.1:1/tenant is published only at the origin's root (http://127.0.0.1:1/.well-known/oauth-authorization-server); MCP clients look for an issuer with a path at http://127.0.0.1:1/.well-known/oauth-authorization-server/tenant (RFC 8414 §3.1 inserts the path after the well-known segment)
                  evidence: GET http://127.0.0.1:1/.well-known/oauth-authorization-server/tenant -> 404
                  evidence: GET http://127.0.0.1:1/.well-known/oauth-authorization-server -> 200
            "#]],
        );
    }
}
