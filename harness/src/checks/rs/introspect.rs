//! Token introspection (RFC 7662) as the target calls it.

use serde_json::Value;

use super::*;
use crate::idp::IdpRequest;

pub(crate) const PROBES: &[Probe] = &[probe!(once "introspect.request-shape" => request_shape)];

/// `introspect.request-shape`: the target introspects with a form POST carrying `token` and its
/// client authentication (RFC 7662 §2.1).
async fn request_shape(cx: &Cx<'_>) -> Judged {
    let calls: Vec<IdpRequest> = cx
        .ctx
        .idp
        .requests_since(cx.facts.log_start)
        .await?
        .into_iter()
        .filter(|r| r.endpoint == "introspect")
        .collect();
    Ok(judge_request_shape(calls.first()))
}

/// `call` is the first introspection request the mock IdP saw from the target.
fn judge_request_shape(call: Option<&IdpRequest>) -> Verdict {
    let Some(call) = call else {
        return Verdict::not_testable(
            "the target never called the introspection endpoint",
            Vec::new(),
        );
    };
    let header = |name: &str| {
        call.headers
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut problems = Vec::new();
    if call.method != "POST" {
        problems.push(format!(
            "used {} instead of POST (RFC 7662 §2.1)",
            call.method
        ));
    }
    if !header("content-type")
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        problems.push(format!(
            "sent Content-Type {:?} instead of application/x-www-form-urlencoded",
            header("content-type")
        ));
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(call.body.as_bytes())
        .into_owned()
        .collect();
    let has = |k: &str| form.iter().any(|(n, v)| n == k && !v.is_empty());
    if !has("token") {
        problems.push("the form has no token parameter".into());
    }
    let basic = header("authorization")
        .to_ascii_lowercase()
        .starts_with("basic ");
    let bearer = header("authorization")
        .to_ascii_lowercase()
        .starts_with("bearer ");
    let body_auth = has("client_id") && (has("client_secret") || has("client_assertion"));
    if !(basic || bearer || body_auth) {
        problems.push("the request carries no client authentication (RFC 7662 §2.1 requires the caller to authenticate)".into());
    }
    if call.status == 401 {
        problems.push("the IdP refused the caller's authentication (HTTP 401)".into());
    }
    let summary = format!(
        "{} {} with Content-Type {:?}, client authentication {}",
        call.method,
        call.path,
        header("content-type"),
        if basic {
            "HTTP Basic"
        } else if body_auth {
            "in the form body"
        } else if bearer {
            "Bearer"
        } else {
            "none"
        }
    );
    if problems.is_empty() {
        Verdict::passed(format!("introspection request: {summary}"))
    } else {
        let mut v = Verdict::fail(problems.join("; "), Vec::new());
        v.notes
            .push(format!("introspection request seen by the IdP: {summary}"));
        v
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use serde_json::json;

    use super::*;
    use crate::testkit::render;

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    /// An introspection request as the mock IdP's log records it.
    fn call(method: &str, headers: Value, body: &str, status: u16) -> IdpRequest {
        IdpRequest {
            seq: 1,
            at_ms: 0,
            endpoint: "introspect".into(),
            method: method.into(),
            path: "/introspect".into(),
            query: None,
            headers: headers.as_object().cloned().unwrap_or_default(),
            body: body.into(),
            status,
        }
    }

    #[test]
    fn request_shape() {
        check(
            judge_request_shape(None),
            expect![[r#"
                not testable: the target never called the introspection endpoint
            "#]],
        );
        let json_body = call(
            "POST",
            json!({"content-type": "application/json"}),
            r#"{"token":"t"}"#,
            401,
        );
        check(
            judge_request_shape(Some(&json_body)),
            expect![[r#"
                fail: sent Content-Type "application/json" instead of application/x-www-form-urlencoded; the form has no token parameter; the request carries no client authentication (RFC 7662 §2.1 requires the caller to authenticate); the IdP refused the caller's authentication (HTTP 401)
                  note: introspection request seen by the IdP: POST /introspect with Content-Type "application/json", client authentication none
            "#]],
        );
        let basic = call(
            "POST",
            json!({
                "content-type": "application/x-www-form-urlencoded",
                "authorization": "Basic Y2xpZW50OnNlY3JldA=="
            }),
            "token=t&token_type_hint=access_token",
            200,
        );
        check(
            judge_request_shape(Some(&basic)),
            expect![[r#"
                pass
                  note: introspection request: POST /introspect with Content-Type "application/x-www-form-urlencoded", client authentication HTTP Basic
            "#]],
        );
    }
}
