//! The scope an authorization server reports granting (RFC 6749 §3.3, §5.1).

use super::*;

pub(crate) const PROBES: &[Probe] = &[as_probe!("scope.as-reports-granted" => as_reports_granted)];

/// `scope.as-reports-granted`: a request without `scope` gets a documented default or an error,
/// never an empty grant (RFC 6749 §3.3); and when the user grants less than the client asked
/// for, the token response says which scope was granted (RFC 6749 §5.1).
async fn as_reports_granted(cx: &AsCx<'_>) -> Judged {
    let unscoped = match unscoped_grant(cx).await? {
        Some(verdict) if !verdict.failures.is_empty() => return Ok(verdict),
        other => other,
    };
    let narrowed = narrowed_grant(cx).await;
    Ok(match (narrowed, unscoped) {
        (Ok(mut v), Some(u)) => {
            v.notes.extend(u.notes);
            v
        }
        (Ok(v), None) => v,
        // Narrowing could not be tried (no consent page): the request without scope stands.
        (Err(Stop::Early(skip)), Some(mut u)) if skip.skip.is_some() => {
            u.notes.extend(skip.skip);
            u
        }
        (Err(stop), _) => return Err(stop),
    })
}

/// A client registered without a scope asks for none: the server applies a default (which the
/// token response or the token names) or refuses with `invalid_scope`. `None` when no such client
/// can be registered.
async fn unscoped_grant(cx: &AsCx<'_>) -> Result<Option<Verdict>, Stop> {
    let Some(endpoint) = cx.flow.endpoint("registration_endpoint") else {
        return Ok(None);
    };
    let mut metadata = client_metadata(&cx.flow.redirect_uri, "");
    if let Some(m) = metadata.as_object_mut() {
        m.remove("scope");
    }
    let e = register(cx.ctx, &endpoint, &metadata).await;
    let Ok(v) = registration_result(&e) else {
        return Ok(None);
    };
    let client = registered_client(&v);
    let pkce = Pkce::new();
    let mut params = cx.run.params(cx.flow, &pkce, &random_text(8));
    params.set("client_id", client.client_id().to_string());
    params.remove("scope");
    let fresh = cx.ctx.agent.another();
    let run_fresh = LoginRun {
        ctx: cx.ctx,
        agent: &fresh,
    };
    let run = run_fresh
        .authorize_walk(cx.flow, &params, WalkOptions::default())
        .await
        .ok_or_else(no_authorization_endpoint)?;
    let redeemed = match run.code() {
        Some(code) => {
            let form = cx.run.code_form(cx.flow, code, Some(&pkce.verifier));
            Some(cx.token(&form, &client).await)
        }
        None => None,
    };
    Ok(Some(judge_unscoped(&run, redeemed.as_ref())))
}

/// `run` asked for no scope; `redeemed` exchanged its code, if one came.
fn judge_unscoped(run: &AuthorizeRun, redeemed: Option<&Exchange>) -> Verdict {
    let Some(e) = redeemed else {
        return match run.param("error") {
            Some("invalid_scope") => Verdict::passed(
                "a request without scope was refused with invalid_scope (RFC 6749 §3.3 allows that)",
            ),
            _ => Verdict::passed(format!(
                "a request without scope got no code: {}",
                run.describe_end()
            )),
        };
    };
    let Ok(set) = token_set(e) else {
        return Verdict::passed(format!(
            "a request without scope got a code, but no tokens for it ({})",
            error_answer(e).describe()
        ));
    };
    let in_response = set.scope.clone().filter(|s| !s.trim().is_empty());
    let in_token = jwt_claims(&set.access_token).and_then(|c| {
        c.get("scope")
            .or_else(|| c.get("scp"))
            .map(|s| match s {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .filter(|s| !s.trim().is_empty() && s != "[]")
    });
    match (in_response, in_token) {
        (Some(scope), _) => Verdict::passed(format!(
            "a request without scope was granted the default {scope:?}"
        )),
        (None, Some(scope)) => Verdict::passed(format!(
            "a request without scope was granted {scope:?} (named in the token, not the token response)"
        )),
        (None, None) => Verdict::fail(
            "a request without scope was granted a token with no scope at all: RFC 6749 §3.3 has the server apply a documented default or refuse with invalid_scope",
            vec![e.clone()],
        ),
    }
}

/// When the user grants less than the client asked for, the token response says which scope was
/// granted (RFC 6749 §5.1).
async fn narrowed_grant(cx: &AsCx<'_>) -> Judged {
    let had_page = cx.flow.authorization.as_ref().is_some_and(|r| {
        r.pages
            .iter()
            .any(|p| origin_of(&p.url) == origin_of(&cx.ctx.mcp.url) && p.asks_consent())
    });
    if !had_page {
        return Err(Stop::skip(
            "the server approves without a consent page, so the user cannot grant less than asked",
        ));
    }
    let supported: Vec<String> = cx
        .flow
        .discovery
        .as_ref()
        .and_then(|d| d.document())
        .and_then(|d| d.get("scopes_supported"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let asked: Vec<&str> = cx.flow.scope.split_whitespace().collect();
    let Some(extra) = ["profile", "email"]
        .into_iter()
        .map(str::to_string)
        .chain(supported.iter().cloned())
        .find(|s| supported.contains(s) && !asked.contains(&s.as_str()) && s != "offline_access")
    else {
        return Err(Stop::skip(
            "scopes_supported offers no scope beyond the one asked for",
        ));
    };
    let scope = format!("{} {extra}", cx.flow.scope).trim().to_string();
    // A client allowed both scopes, so that the narrowing is the user's.
    let Some(endpoint) = cx.flow.endpoint("registration_endpoint") else {
        return Err(Stop::skip(
            "needs a client registered for two scopes, and the server offers no dynamic registration",
        ));
    };
    let e = register(
        cx.ctx,
        &endpoint,
        &client_metadata(&cx.flow.redirect_uri, &scope),
    )
    .await;
    let Ok(v) = registration_result(&e) else {
        return Err(Stop::not_testable(
            format!("a client for {scope:?} could not be registered"),
            vec![e],
        ));
    };
    let client = registered_client(&v);
    let pkce = Pkce::new();
    let mut params = cx.run.params(cx.flow, &pkce, &random_text(8));
    params.set("client_id", client.client_id().to_string());
    params.set("scope", scope.clone());
    let fresh = cx.ctx.agent.another();
    let run_fresh = LoginRun {
        ctx: cx.ctx,
        agent: &fresh,
    };
    let run = run_fresh
        .authorize_walk(
            cx.flow,
            &params,
            WalkOptions {
                untick_scope: Some(extra.clone()),
                ..WalkOptions::default()
            },
        )
        .await
        .ok_or_else(no_authorization_endpoint)?;
    if !run.unticked {
        return Err(Stop::skip("the consent page offers no choice of scopes"));
    }
    let Some(code) = run.code() else {
        return Err(Stop::not_testable(
            format!("the narrowed approval: {}", run.describe_end()),
            run.hops.clone(),
        ));
    };
    let form = cx.run.code_form(cx.flow, code, Some(&pkce.verifier));
    let e = cx.token(&form, &client).await;
    let Ok(set) = token_set(&e) else {
        return Err(Stop::not_testable(
            "the narrowed grant's code exchange failed",
            vec![e],
        ));
    };
    Ok(judge_reports_granted(
        set.scope.as_deref(),
        &scope,
        &extra,
        &e,
    ))
}

/// `granted` is the scope of the token response `e`, for a grant that asked for `asked` and
/// whose user unticked `extra` on the consent page.
fn judge_reports_granted(granted: Option<&str>, asked: &str, extra: &str, e: &Exchange) -> Verdict {
    match granted {
        Some(granted) if granted.split_whitespace().any(|s| s == extra) => Verdict::fail(
            format!(
                "the user unticked {extra}, but the token response says it was granted ({granted:?})"
            ),
            vec![e.clone()],
        ),
        Some(granted) => Verdict::passed(format!(
            "asked for {asked:?}, the user granted less, and the token response says so ({granted:?})"
        )),
        None => Verdict::fail(
            format!(
                "asked for {asked:?}, the user unticked {extra}, and the token response carries no scope: the client cannot know it got less (RFC 6749 §5.1)"
            ),
            vec![e.clone()],
        ),
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testkit::{exchange, render};

    /// Judges a token response with this `scope` member (or none) for a grant that asked for
    /// `mcp profile` and whose user unticked `profile`.
    fn check(scope: Option<&str>, expect: Expect) {
        let member = scope
            .map(|s| format!(r#","scope":"{s}""#))
            .unwrap_or_default();
        let e = exchange(&format!(
            "POST http://127.0.0.1:1/token\n=>\n200\ncontent-type: application/json\n\n{{\"access_token\":\"at\",\"token_type\":\"Bearer\"{member}}}"
        ));
        let set = token_set(&e).expect("a token response");
        let v = judge_reports_granted(set.scope.as_deref(), "mcp profile", "profile", &e);
        expect.assert_eq(&render(&v));
    }

    #[test]
    fn unscoped_requests() {
        let token = |body: &str| {
            exchange(&format!(
                "POST http://127.0.0.1:1/token\n=>\n200\ncontent-type: application/json\n\n{body}"
            ))
        };
        let code = crate::testkit::callback("code=abc");
        expect![[r#"
            pass
              note: a request without scope was granted the default "mcp:tools"
        "#]]
        .assert_eq(&render(&judge_unscoped(
            &code,
            Some(&token(
                r#"{"access_token":"at","token_type":"Bearer","scope":"mcp:tools"}"#,
            )),
        )));
        expect![[r#"
            fail: a request without scope was granted a token with no scope at all: RFC 6749 §3.3 has the server apply a documented default or refuse with invalid_scope
              evidence: POST http://127.0.0.1:1/token -> 200
        "#]].assert_eq(&render(&judge_unscoped(
            &code,
            Some(&token(r#"{"access_token":"at","token_type":"Bearer","scope":""}"#)),
        )));
        expect![[r#"
            pass
              note: a request without scope was refused with invalid_scope (RFC 6749 §3.3 allows that)
        "#]].assert_eq(&render(&judge_unscoped(
            &crate::testkit::callback("error=invalid_scope"),
            None,
        )));
    }

    #[test]
    fn reports_granted() {
        check(
            Some("mcp"),
            expect![[r#"
                pass
                  note: asked for "mcp profile", the user granted less, and the token response says so ("mcp")
            "#]],
        );
        check(
            Some("mcp profile"),
            expect![[r#"
                fail: the user unticked profile, but the token response says it was granted ("mcp profile")
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
        check(
            None,
            expect![[r#"
                fail: asked for "mcp profile", the user unticked profile, and the token response carries no scope: the client cannot know it got less (RFC 6749 §5.1)
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
        // A scope that merely contains the unticked one's name is another scope.
        check(
            Some("mcp profile:read"),
            expect![[r#"
                pass
                  note: asked for "mcp profile", the user granted less, and the token response says so ("mcp profile:read")
            "#]],
        );
    }
}
