//! Optional extensions of the resource server, judged when it advertises them: `ext.dpop`
//! (DPoP-bound access tokens, RFC 9449).

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;

pub(crate) const PROBES: &[Probe] = &[probe!("ext.dpop" => dpop)];

/// A client's DPoP key: proofs signed with it, and the thumbprint a bound token names.
struct DpopKey {
    pair: EcdsaKeyPair,
    x: String,
    y: String,
}

impl DpopKey {
    fn generate() -> Result<DpopKey, HarnessError> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|e| HarnessError::Internal(format!("generating a DPoP key: {e}")))?;
        // An uncompressed point: 0x04, then x and y, 32 bytes each.
        let point = pair.public_key().as_ref().to_vec();
        Ok(DpopKey {
            x: URL_SAFE_NO_PAD.encode(&point[1..33]),
            y: URL_SAFE_NO_PAD.encode(&point[33..65]),
            pair,
        })
    }

    /// The RFC 7638 thumbprint, for the token's `cnf.jkt`.
    fn thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            self.x, self.y
        );
        URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
    }

    /// A proof JWT with this header and these claims, signed with this key (`tamper` breaks the
    /// signature afterwards).
    fn sign(&self, header: &Value, claims: &Value, tamper: bool) -> Result<String, HarnessError> {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|e| HarnessError::Internal(format!("signing a DPoP proof: {e}")))?;
        let mut bytes = signature.as_ref().to_vec();
        if tamper && let Some(b) = bytes.first_mut() {
            *b ^= 0x01;
        }
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    fn public_jwk(&self) -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y})
    }
}

/// One way of presenting the bound token: what it breaks, and the request.
struct Presentation {
    what: &'static str,
    exchange: Exchange,
}

/// Whether the target advertises DPoP: its metadata lists proof algorithms or requires bound
/// tokens, or its 401 carries a `DPoP` challenge.
fn advertised(facts: &Facts) -> bool {
    let in_metadata = facts.prm().is_some_and(|(_, doc)| {
        doc.get("dpop_signing_alg_values_supported")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
            || doc.get("dpop_bound_access_tokens_required") == Some(&Value::Bool(true))
    });
    in_metadata
        || facts
            .challenges
            .challenges
            .iter()
            .any(|c| c.scheme.eq_ignore_ascii_case("dpop"))
}

/// `ext.dpop`: a DPoP-bound token works with a proof by its key and nowhere else: not as a bearer
/// token, not without a proof, not with a proof by another key, for another method or URL, too
/// old, without `jti`, of another `typ`, for another token, or with a broken signature.
async fn dpop(cx: &Cx<'_>) -> Judged {
    let (ctx, facts) = (cx.ctx, cx.facts);
    if !advertised(facts) {
        return Err(Stop::skip(
            "the target advertises no DPoP support (no dpop_signing_alg_values_supported in its metadata, no DPoP challenge)",
        ));
    }
    if !facts.positive.passed {
        return Err(Stop::not_testable(
            format!(
                "needs a token the target accepts: {}",
                facts.positive.message
            ),
            Vec::new(),
        ));
    }
    let key = DpopKey::generate()?;
    let other = DpopKey::generate()?;
    let scope = if facts.required_scopes.is_empty() {
        Value::Null
    } else {
        json!(facts.required_scopes.join(" "))
    };
    let token = ctx
        .mint(&json!({"scope": scope, "claims": {"cnf": {"jkt": key.thumbprint()}}}))
        .await?
        .token;
    let htu = ctx
        .mcp
        .url
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_string();
    let now = ctx.idp.now().await?;
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk()});
    let ath = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()));
    let claims = |change: &dyn Fn(&mut Value)| {
        let mut c = json!({
            "jti": crate::oauth::flow::random_text(16),
            "htm": "POST",
            "htu": htu,
            "iat": now,
            "ath": ath,
        });
        change(&mut c);
        c
    };
    let send = |authorization: String, proof: Option<String>| {
        let mut request =
            ctx.mcp
                .request(&facts.wire, &McpCall::Initialize, &[authorization], None);
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        ctx.target.send(request)
    };
    let dpop_auth = format!("DPoP {token}");
    let control = send(
        dpop_auth.clone(),
        Some(key.sign(&header, &claims(&|_| {}), false)?),
    )
    .await;
    let mut wrong = Vec::new();
    let cases: Vec<(&'static str, String, Option<String>)> = vec![
        (
            "the Bearer scheme and no proof",
            format!("Bearer {token}"),
            None,
        ),
        ("no DPoP header", dpop_auth.clone(), None),
        (
            "a proof by another key",
            dpop_auth.clone(),
            Some(other.sign(
                &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": other.public_jwk()}),
                &claims(&|_| {}),
                false,
            )?),
        ),
        (
            "htm GET",
            dpop_auth.clone(),
            Some(key.sign(&header, &claims(&|c| c["htm"] = json!("GET")), false)?),
        ),
        (
            "htu of another URL",
            dpop_auth.clone(),
            Some(key.sign(
                &header,
                &claims(&|c| c["htu"] = json!("https://other.example/mcp")),
                false,
            )?),
        ),
        (
            "iat ten minutes ago",
            dpop_auth.clone(),
            Some(key.sign(&header, &claims(&|c| c["iat"] = json!(now - 600)), false)?),
        ),
        (
            "no jti",
            dpop_auth.clone(),
            Some(key.sign(
                &header,
                &claims(&|c| {
                    if let Some(o) = c.as_object_mut() {
                        o.remove("jti");
                    }
                }),
                false,
            )?),
        ),
        (
            "typ JWT",
            dpop_auth.clone(),
            Some(key.sign(
                &json!({"typ": "JWT", "alg": "ES256", "jwk": key.public_jwk()}),
                &claims(&|_| {}),
                false,
            )?),
        ),
        (
            "ath of another token",
            dpop_auth.clone(),
            Some(key.sign(
                &header,
                &claims(&|c| c["ath"] = json!(URL_SAFE_NO_PAD.encode([0u8; 32]))),
                false,
            )?),
        ),
        (
            "a broken signature",
            dpop_auth.clone(),
            Some(key.sign(&header, &claims(&|_| {}), true)?),
        ),
    ];
    for (what, authorization, proof) in cases {
        wrong.push(Presentation {
            what,
            exchange: send(authorization, proof).await,
        });
    }
    Ok(judge_dpop(&control, &wrong))
}

/// Whether an answer carries a `DPoP` challenge.
fn dpop_challenge(exchange: &Exchange) -> bool {
    exchange.response().is_some_and(|r| {
        crate::challenge::parse_all(r.header_values("www-authenticate"))
            .challenges
            .iter()
            .any(|c| c.scheme.eq_ignore_ascii_case("dpop"))
    })
}

/// `control` presented the bound token with a correct proof; `wrong` each broke one rule.
fn judge_dpop(control: &Exchange, wrong: &[Presentation]) -> Verdict {
    if let Err(why) = accepted(control) {
        return Verdict::not_testable(
            format!(
                "a DPoP-bound token with a correct proof was refused ({why}), so refusals prove nothing"
            ),
            vec![control.clone()],
        );
    }
    let mut accepted_with = Vec::new();
    let mut evidence = Vec::new();
    let mut no_challenge = Vec::new();
    for p in wrong {
        if accepted(&p.exchange).is_ok() {
            accepted_with.push(p.what);
            evidence.push(p.exchange.clone());
        } else if p.exchange.status() != Some(401) || !dpop_challenge(&p.exchange) {
            no_challenge.push(format!("{} ({})", p.what, p.exchange.status_text()));
        }
    }
    if !accepted_with.is_empty() {
        return Verdict::fail(
            format!(
                "the DPoP-bound token was accepted with {}: RFC 9449 §4.3 and §7.1 have the resource server check the proof and its binding to the token",
                accepted_with.join(", ")
            ),
            evidence,
        );
    }
    if !no_challenge.is_empty() {
        return Verdict::warn(
            format!(
                "refused, but not with 401 and a DPoP challenge (RFC 9449 §7.1): {}",
                no_challenge.join(", ")
            ),
            Vec::new(),
        );
    }
    Verdict::passed(format!(
        "a DPoP-bound token works with a proof by its key and was refused with 401 for each of {} broken presentations",
        wrong.len()
    ))
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::testkit::{exchange, render};

    fn answer(fixture: &str) -> Exchange {
        exchange(&format!("POST http://127.0.0.1:1/mcp\n=>\n{fixture}"))
    }

    #[test]
    fn proofs_are_checked() {
        let ok = answer(
            "200\ncontent-type: application/json\n\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
        );
        let refused =
            answer("401\nwww-authenticate: DPoP algs=\"ES256\", error=\"invalid_dpop_proof\"\n");
        let p = |what, exchange: &Exchange| Presentation {
            what,
            exchange: exchange.clone(),
        };
        expect![[r#"
            pass
              note: a DPoP-bound token works with a proof by its key and was refused with 401 for each of 2 broken presentations
        "#]].assert_eq(&render(&judge_dpop(
            &ok,
            &[p("htm GET", &refused), p("no jti", &refused)],
        )));
        expect![[r#"
            fail: the DPoP-bound token was accepted with htm GET: RFC 9449 §4.3 and §7.1 have the resource server check the proof and its binding to the token
              evidence: POST http://127.0.0.1:1/mcp -> 200
        "#]].assert_eq(&render(&judge_dpop(
            &ok,
            &[p("htm GET", &ok), p("no jti", &refused)],
        )));
        expect![[r#"
            not testable: a DPoP-bound token with a correct proof was refused (answered HTTP 401), so refusals prove nothing
              evidence: POST http://127.0.0.1:1/mcp -> 401
        "#]].assert_eq(&render(&judge_dpop(&refused, &[])));
    }

    #[test]
    fn thumbprints_are_43_characters_of_base64url() {
        let key = DpopKey::generate().expect("a key");
        assert_eq!(key.thumbprint().len(), 43);
        assert_eq!(key.x.len(), 43);
    }
}
