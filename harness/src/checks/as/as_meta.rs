//! The authorization server's metadata (RFC 8414, OpenID Connect Discovery): issuer, required
//! fields, PKCE, the OIDC alias, live endpoints, registration, `iss`, and where an issuer with a
//! path publishes it.

use super::*;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("as-meta.issuer-match" => sync issuer_match),
    as_probe!("as-meta.required-fields" => sync required_fields),
    as_probe!("as-meta.pkce-s256" => sync pkce_s256),
    as_probe!("as-meta.oidc-alias-consistent" => sync oidc_alias_consistent),
    as_probe!("as-meta.endpoints-live" => endpoints_live),
    as_probe!("as-meta.registration-advertised" => sync registration_advertised),
    as_probe!("as-meta.iss-flag" => sync iss_flag),
    as_probe!("as-meta.path-insertion" => path_insertion),
];

/// `as-meta.issuer-match`.
fn issuer_match(cx: &AsCx<'_>) -> StepOutcome {
    let Some(d) = &cx.flow.discovery else {
        return StepOutcome::not_testable(cx.flow.summary(), Vec::new());
    };
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
        return StepOutcome::not_testable(cx.flow.summary(), Vec::new());
    }
    if bad.is_empty() {
        pass(format!("every metadata document names issuer {}", d.issuer))
    } else {
        StepOutcome::fail(
            bad.iter()
                .map(|(m, _)| m.clone())
                .collect::<Vec<_>>()
                .join("; "),
            bad.into_iter().map(|(_, e)| e).collect(),
        )
    }
}

/// `as-meta.required-fields`.
fn required_fields(cx: &AsCx<'_>) -> StepOutcome {
    let doc = match cx.has_metadata() {
        Ok(d) => d,
        Err(o) => return o,
    };
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
        pass(
            "issuer, authorization_endpoint, token_endpoint and response_types_supported [code] present",
        )
    } else {
        StepOutcome::fail(
            format!("the metadata lacks {}", missing.join(", ")),
            cx.chosen_metadata_exchange(),
        )
    }
}

/// `as-meta.pkce-s256`.
fn pkce_s256(cx: &AsCx<'_>) -> StepOutcome {
    let Some(d) = &cx.flow.discovery else {
        return StepOutcome::not_testable(cx.flow.summary(), Vec::new());
    };
    let mut bad = Vec::new();
    for a in d.attempts.iter().filter(|a| a.document.is_some()) {
        let ok = a
            .document
            .as_ref()
            .and_then(|v| v.get("code_challenge_methods_supported"))
            .and_then(Value::as_array)
            .is_some_and(|m| m.iter().any(|v| v == "S256"));
        if !ok {
            bad.push(a);
        }
    }
    if d.document().is_none() {
        return StepOutcome::not_testable(cx.flow.summary(), Vec::new());
    }
    if bad.is_empty() {
        pass("code_challenge_methods_supported lists S256 in every metadata document")
    } else {
        StepOutcome::fail(
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

/// `as-meta.oidc-alias-consistent`.
fn oidc_alias_consistent(cx: &AsCx<'_>) -> StepOutcome {
    let Some(d) = &cx.flow.discovery else {
        return StepOutcome::not_testable(cx.flow.summary(), Vec::new());
    };
    let oauth = d
        .attempts
        .iter()
        .find(|a| a.kind == MetadataKind::Oauth && a.document.is_some());
    let oidc = d
        .attempts
        .iter()
        .find(|a| a.kind == MetadataKind::Oidc && a.document.is_some());
    let (Some(oauth), Some(oidc)) = (oauth, oidc) else {
        return StepOutcome::skip(
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
        pass(format!("{} and {} agree", oauth.url, oidc.url))
    } else {
        StepOutcome::fail(
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

/// `as-meta.endpoints-live`.
async fn endpoints_live(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.has_metadata() {
        return o;
    }
    let mut exchanges = Vec::new();
    let mut dead = Vec::new();
    let mut probe = |name: &'static str, e: Exchange| {
        let status = e.status();
        if matches!(status, None | Some(404) | Some(405)) || status.is_some_and(|s| s >= 500) {
            dead.push(format!(
                "{name} {} answered {}",
                e.request.url,
                e.status_text()
            ));
        }
        exchanges.push(e);
    };
    if let Some(url) = cx.flow.endpoint("authorization_endpoint") {
        probe(
            "authorization_endpoint",
            cx.ctx
                .target
                .send(Request::new(reqwest::Method::GET, url).header("accept", "text/html"))
                .await,
        );
    }
    if let Some(url) = cx.flow.endpoint("token_endpoint") {
        let mut r = Request::new(reqwest::Method::POST, url)
            .header("content-type", "application/x-www-form-urlencoded");
        r.body = Some(Vec::new());
        probe("token_endpoint", cx.ctx.target.send(r).await);
    }
    if let Some(url) = cx.flow.endpoint("registration_endpoint") {
        probe(
            "registration_endpoint",
            cx.ctx
                .target
                .send(Request::new(reqwest::Method::POST, url).json_body(&json!({})))
                .await,
        );
    }
    if let Some(url) = cx.flow.endpoint("revocation_endpoint") {
        let mut r = Request::new(reqwest::Method::POST, url)
            .header("content-type", "application/x-www-form-urlencoded");
        r.body = Some(Vec::new());
        probe("revocation_endpoint", cx.ctx.target.send(r).await);
    }
    if dead.is_empty() {
        pass(format!(
            "every advertised endpoint answers an empty request with an error of its own ({})",
            exchanges
                .iter()
                .map(|e| e.request.url.rsplit('/').next().unwrap_or("").to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    } else {
        StepOutcome::fail(dead.join("; "), exchanges)
    }
}

/// `as-meta.registration-advertised`.
fn registration_advertised(cx: &AsCx<'_>) -> StepOutcome {
    let doc = match cx.has_metadata() {
        Ok(d) => d,
        Err(o) => return o,
    };
    let dcr = doc
        .get("registration_endpoint")
        .and_then(Value::as_str)
        .is_some();
    let cimd = doc
        .get("client_id_metadata_document_supported")
        .and_then(Value::as_bool)
        == Some(true);
    match (dcr, cimd) {
        (true, true) => {
            pass("registration_endpoint and client_id_metadata_document_supported advertised")
        }
        (true, false) => pass("registration_endpoint advertised"),
        (false, true) => pass("client_id_metadata_document_supported advertised"),
        (false, false) => StepOutcome::fail(
            "neither registration_endpoint nor client_id_metadata_document_supported is advertised, so MCP clients without a pre-registered client cannot log in",
            cx.chosen_metadata_exchange(),
        ),
    }
}

/// `as-meta.iss-flag`.
fn iss_flag(cx: &AsCx<'_>) -> StepOutcome {
    let doc = match cx.has_metadata() {
        Ok(d) => d,
        Err(o) => return o,
    };
    let run = match cx.callback_run() {
        Ok(run) => run,
        Err(outcome) => return outcome,
    };
    let flag = doc
        .get("authorization_response_iss_parameter_supported")
        .and_then(Value::as_bool)
        == Some(true);
    let has_iss = run.param("iss").is_some();
    match (flag, has_iss) {
        (true, true) => {
            pass("the metadata announces iss and the authorization response carries it")
        }
        (false, false) => pass("no iss announced and none sent"),
        (true, false) => StepOutcome::fail(
            "authorization_response_iss_parameter_supported is true but the authorization response carries no iss (RFC 9207 §3: clients then reject every response)",
            run.hops.last().cloned().into_iter().collect(),
        ),
        (false, true) => StepOutcome::fail(
            "the authorization response carries iss but the metadata does not announce authorization_response_iss_parameter_supported (RFC 9207 §3)",
            cx.chosen_metadata_exchange(),
        ),
    }
}

/// `as-meta.path-insertion`.
async fn path_insertion(cx: &AsCx<'_>) -> StepOutcome {
    let Some(discovery) = &cx.flow.discovery else {
        return StepOutcome::not_testable(cx.flow.summary(), Vec::new());
    };
    let Ok(issuer) = url::Url::parse(&discovery.issuer) else {
        return StepOutcome::not_testable(
            format!("the issuer {:?} is not a URL", discovery.issuer),
            Vec::new(),
        );
    };
    if issuer.path().trim_end_matches('/').is_empty() {
        return StepOutcome::skip(
            "the issuer has no path, so the MCP discovery URLs are the root well-known ones",
        );
    }
    if let Some(found) = discovery.attempts.iter().find(|a| a.document.is_some()) {
        return pass(format!(
            "the metadata of {} is at {}, a URL MCP clients probe",
            discovery.issuer, found.url
        ));
    }
    let origin = issuer.origin().ascii_serialization();
    let root = format!("{origin}/.well-known/oauth-authorization-server");
    let e = cx.ctx.target.send(Request::get_json(root.clone())).await;
    let tried: Vec<&str> = discovery.attempts.iter().map(|a| a.url.as_str()).collect();
    let mut evidence: Vec<Exchange> = discovery
        .attempts
        .iter()
        .map(|a| a.exchange.clone())
        .collect();
    let at_root = crate::wellknown::metadata_document(&e).is_some();
    evidence.push(e);
    StepOutcome::fail(
        if at_root {
            format!(
                "the metadata of {} is published only at the origin's root ({root}); MCP clients look for an issuer with a path at {} (RFC 8414 §3.1 inserts the path after the well-known segment)",
                discovery.issuer,
                tried.join(", ")
            )
        } else {
            format!(
                "no metadata for {} at any URL MCP clients probe ({})",
                discovery.issuer,
                tried.join(", ")
            )
        },
        evidence,
    )
}

impl AsCx<'_> {
    pub(super) fn chosen_metadata_exchange(&self) -> Vec<Exchange> {
        self.flow
            .discovery
            .as_ref()
            .and_then(|d| d.attempts.iter().find(|a| a.document.is_some()))
            .map(|a| vec![a.exchange.clone()])
            .unwrap_or_default()
    }
}
