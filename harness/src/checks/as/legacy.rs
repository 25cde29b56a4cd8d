//! The MCP 2025-03-26 way of finding the authorization server: metadata at the origin, else
//! default endpoints.

use super::*;
use crate::wellknown::metadata_document;

pub(crate) const PROBES: &[Probe] = &[as_probe!("legacy.mar26-as-location" => mar26_as_location)];

/// `legacy.mar26-as-location`: metadata at the origin's root (SHOULD), else `/authorize`,
/// `/token` and `/register` there (MUST).
async fn mar26_as_location(cx: &AsCx<'_>) -> Judged {
    let origin = cx.ctx.origin();
    let url = format!("{origin}/.well-known/oauth-authorization-server");
    let metadata = cx.ctx.target.send(Request::get_json(url)).await;
    let mut defaults = Vec::new();
    if metadata_document(&metadata).is_none() {
        for path in ["/authorize", "/token", "/register"] {
            let r = Request::new(reqwest::Method::GET, format!("{origin}{path}"));
            defaults.push(cx.ctx.target.send(r).await);
        }
    }
    Ok(judge_mar26(metadata, defaults))
}

/// `metadata` is the answer at the root well-known URL; `defaults` the answers of the default
/// endpoints, asked only when there was no metadata.
fn judge_mar26(metadata: Exchange, defaults: Vec<Exchange>) -> Verdict {
    let url = metadata.request.url.clone();
    if metadata_document(&metadata).is_some() {
        return Verdict::passed(format!("metadata at the origin root ({url})"));
    }
    let dead = defaults
        .iter()
        .filter(|e| matches!(e.status(), None | Some(404)))
        .count();
    let mut evidence = vec![metadata];
    evidence.extend(defaults);
    if dead < 3 {
        Verdict::warn(
            format!(
                "no metadata at {url} (2025-03-26 clients look there first); default endpoints answer"
            ),
            evidence,
        )
    } else {
        Verdict::fail(
            format!(
                "no metadata at {url} and the default endpoints /authorize, /token and /register are missing: 2025-03-26 clients cannot find the authorization server"
            ),
            evidence,
        )
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testkit::{exchange, render};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    const ROOT: &str = "GET http://127.0.0.1:1/.well-known/oauth-authorization-server";

    fn defaults(status: &str) -> Vec<Exchange> {
        ["/authorize", "/token", "/register"]
            .iter()
            .map(|p| exchange(&format!("GET http://127.0.0.1:1{p}\n=>\n{status}")))
            .collect()
    }

    #[test]
    fn mar26_location() {
        let found = exchange(&format!(
            "{ROOT}\n=>\n200\ncontent-type: application/json\n\n{{\"issuer\":\"http://127.0.0.1:1\"}}"
        ));
        check(
            judge_mar26(found, Vec::new()),
            expect![[r#"
                pass
                  note: metadata at the origin root (http://127.0.0.1:1/.well-known/oauth-authorization-server)
            "#]],
        );
        let missing = exchange(&format!("{ROOT}\n=>\n404"));
        check(
            judge_mar26(missing.clone(), defaults("400")),
            expect![[r#"
                warn: no metadata at http://127.0.0.1:1/.well-known/oauth-authorization-server (2025-03-26 clients look there first); default endpoints answer
                  evidence: GET http://127.0.0.1:1/.well-known/oauth-authorization-server -> 404
                  evidence: GET http://127.0.0.1:1/authorize -> 400
                  evidence: GET http://127.0.0.1:1/token -> 400
                  evidence: GET http://127.0.0.1:1/register -> 400
            "#]],
        );
        check(
            judge_mar26(missing, defaults("404")),
            expect![[r#"
                fail: no metadata at http://127.0.0.1:1/.well-known/oauth-authorization-server and the default endpoints /authorize, /token and /register are missing: 2025-03-26 clients cannot find the authorization server
                  evidence: GET http://127.0.0.1:1/.well-known/oauth-authorization-server -> 404
                  evidence: GET http://127.0.0.1:1/authorize -> 404
                  evidence: GET http://127.0.0.1:1/token -> 404
                  evidence: GET http://127.0.0.1:1/register -> 404
            "#]],
        );
    }
}
