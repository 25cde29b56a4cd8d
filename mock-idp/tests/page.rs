//! The page at `GET /` over real HTTP on 127.0.0.1: what it shows (a refused request's reason,
//! escaped), what guards it (Host, no CORS, no framing, no script), its two forms (CSRF token,
//! control token, form bodies only) and the demo client's authorization-code flow. Headless
//! Chromium drives the same page in `interop/as-clients/browser/idp_page.mjs`.

mod common;

use mock_idp::{AuthzSettings, IdpConfig, MockIdp};
use reqwest::StatusCode;
use reqwest::header;

use common::{Reply, http, send};

const FORM: &str = "application/x-www-form-urlencoded";

async fn start(control_token: Option<&str>) -> MockIdp {
    MockIdp::start(IdpConfig {
        control_token: control_token.map(str::to_owned),
        default_audience: Some("http://127.0.0.1:8000/mcp".into()),
        issuers: vec![mock_idp::config::IssuerConfig {
            name: "second".into(),
            issuer: None,
            audience: None,
            authz: AuthzSettings::default(),
        }],
        ..IdpConfig::default()
    })
    .await
    .expect("IdP starts")
}

/// The page, with the CSRF token of its forms and the cookie that goes with it.
async fn home(url: &str) -> (Reply, String, String) {
    let page = send(http().get(url)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    let csrf = html[start..start + html[start..].find('"').expect("end")].to_owned();
    let cookie = page
        .header(header::SET_COOKIE)
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    (page, csrf, cookie)
}

async fn post_form(url: &str, pairs: &[(&str, &str)], cookie: &str) -> Reply {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    send(
        http()
            .post(url)
            .header(header::CONTENT_TYPE, FORM)
            .header(header::COOKIE, cookie)
            .body(body),
    )
    .await
}

#[tokio::test]
async fn the_page_shows_refusals_escaped_and_is_guarded_like_the_control_api() {
    let idp = start(None).await;
    // A refused request whose client id is markup.
    let hostile = "<script>alert(1)</script>";
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", hostile)
        .append_pair("response_type", "code")
        .finish();
    let refused = send(http().get(format!("{}/authorize?{query}", idp.issuer()))).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let before = idp.idp().last_request_seq();

    let (page, _, cookie) = home(&format!("{}/", idp.issuer())).await;
    let html = page.text();
    assert!(!html.contains(hostile), "unescaped client id");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("<td class=\"reason\">client</td>"),
        "the refusal's reason"
    );
    assert!(
        html.contains("conformance-rs-secret"),
        "secrets without a control token"
    );
    assert!(
        html.contains("href=\"/second\""),
        "a link to the other issuer"
    );
    assert!(!html.contains("<script"), "no script at all");
    assert!(page.header(header::CONTENT_TYPE).starts_with("text/html"));
    assert_eq!(page.header(header::X_FRAME_OPTIONS), "DENY");
    assert!(
        page.header(header::CONTENT_SECURITY_POLICY)
            .starts_with("default-src 'none'"),
        "{}",
        page.header(header::CONTENT_SECURITY_POLICY)
    );
    assert!(page.header(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_empty());
    assert!(cookie.starts_with("mock_idp_page="), "{cookie}");
    let set_cookie = page.header(header::SET_COOKIE).to_owned();
    for attribute in ["Path=/_control/page", "HttpOnly", "SameSite=Strict"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    // The page is not recorded, and neither is the browser's icon request.
    let icon = send(http().get(format!("{}/favicon.ico", idp.issuer()))).await;
    assert_eq!(icon.status, StatusCode::NO_CONTENT);
    assert_eq!(idp.idp().last_request_seq(), before);

    // DNS rebinding: another name in Host.
    let rebound = send(http().get(format!("{}/", idp.issuer())).header(
        header::HOST,
        format!("rebind.evil.example:{}", idp.addr().port()),
    ))
    .await;
    assert_eq!(rebound.status, StatusCode::MISDIRECTED_REQUEST);

    // A nested issuer has its own page and form routes.
    let (nested, _, nested_cookie) = home(&format!("{}/second", idp.issuer())).await;
    let nested_html = nested.text();
    assert!(nested_html.contains(&format!("{}/second", idp.issuer())));
    assert!(nested_html.contains("action=\"/second/_control/page/mint\""));
    assert!(
        nested
            .header(header::SET_COOKIE)
            .contains("Path=/second/_control/page"),
        "{nested_cookie}"
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn the_mint_form_needs_its_csrf_token_a_form_body_and_the_control_token() {
    let idp = start(Some("page-t0ken")).await;
    let (page, csrf, cookie) = home(&format!("{}/", idp.issuer())).await;
    let html = page.text();
    assert!(!html.contains("conformance-rs-secret"), "secrets hidden");
    assert!(
        html.contains("name=\"control_token\""),
        "a field for the token"
    );
    let mint = format!("{}/page/mint", idp.control_url());

    let ok = post_form(
        &mint,
        &[
            ("csrf", &csrf),
            ("control_token", "page-t0ken"),
            ("scope", "mcp:tools"),
            ("subject", "alice"),
        ],
        &cookie,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let minted = ok.text();
    assert!(
        minted.contains("&quot;sub&quot;: &quot;alice&quot;"),
        "{minted}"
    );
    assert!(minted.contains("&quot;aud&quot;: &quot;http://127.0.0.1:8000/mcp&quot;"));

    let no_token = post_form(&mint, &[("csrf", &csrf)], &cookie).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    let wrong_token = post_form(&mint, &[("csrf", &csrf), ("control_token", "x")], &cookie).await;
    assert_eq!(wrong_token.status, StatusCode::UNAUTHORIZED);
    let no_cookie = post_form(
        &mint,
        &[("csrf", &csrf), ("control_token", "page-t0ken")],
        "",
    )
    .await;
    assert_eq!(no_cookie.status, StatusCode::FORBIDDEN);
    let other_csrf = post_form(
        &mint,
        &[("csrf", "0000"), ("control_token", "page-t0ken")],
        &cookie,
    )
    .await;
    assert_eq!(other_csrf.status, StatusCode::FORBIDDEN);
    // A program may send the token as a bearer token instead; the CSRF token is still needed.
    let bearer = send(
        http()
            .post(&mint)
            .header(header::CONTENT_TYPE, FORM)
            .header(header::COOKIE, &cookie)
            .bearer_auth("page-t0ken")
            .body(format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(bearer.status, StatusCode::OK, "{}", bearer.text());
    // The control API's guard still applies: JSON is not a form, and other sites are refused.
    let json = send(
        http()
            .post(&mint)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, &cookie)
            .body("{}"),
    )
    .await;
    assert_eq!(json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let cross_site = send(
        http()
            .post(&mint)
            .header(header::CONTENT_TYPE, FORM)
            .header(header::COOKIE, &cookie)
            .header(header::ORIGIN, "https://evil.example")
            .body(format!("csrf={csrf}&control_token=page-t0ken")),
    )
    .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    // The JSON control routes still want the header: a form field does not open them.
    let info = send(http().get(format!("{}/info", idp.control_url()))).await;
    assert_eq!(info.status, StatusCode::UNAUTHORIZED);
    idp.shutdown().await;
}

/// The demo client's flow without a browser: the form starts it (303 to the authorization
/// endpoint), the authorization endpoint approves at once and sends the code to the callback,
/// which redeems it (recorded as the demo client's token request) and shows the answer. A
/// callback for a flow the IdP did not start is refused.
#[tokio::test]
async fn the_demo_flow_ends_with_a_token_the_request_log_saw_issued() {
    let idp = start(None).await;
    let (_, csrf, cookie) = home(&format!("{}/", idp.issuer())).await;
    let started = post_form(
        &format!("{}/page/demo", idp.control_url()),
        &[("csrf", &csrf)],
        &cookie,
    )
    .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.text());
    let authorize = started.header(header::LOCATION).to_owned();
    assert!(authorize.starts_with(&format!("{}/authorize?", idp.issuer())));
    let query = started.location_query();
    assert_eq!(query["client_id"], "mock-idp-demo");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43);

    let approved = send(http().get(&authorize)).await;
    assert_eq!(approved.status, StatusCode::FOUND, "{}", approved.text());
    let callback = approved.header(header::LOCATION).to_owned();
    assert!(callback.starts_with(&format!("{}/_demo/callback?", idp.issuer())));
    let shown = send(http().get(&callback)).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text());
    let html = shown.text();
    assert!(html.contains("&quot;access_token&quot;"), "{html}");
    assert!(
        html.contains("&quot;client_id&quot;: &quot;mock-idp-demo&quot;"),
        "{html}"
    );
    let exchange = idp
        .idp()
        .requests(None)
        .into_iter()
        .rev()
        .find(|r| r.path == "/token")
        .expect("the exchange is recorded");
    assert_eq!(exchange.status, 200);
    assert!(exchange.body.contains("client_id=mock-idp-demo"));

    // The demo client's secret is not on the page, even without a control token.
    let (page, _, _) = home(&format!("{}/", idp.issuer())).await;
    let secret = idp
        .idp()
        .clients()
        .into_iter()
        .find(|c| c["client_id"] == "mock-idp-demo")
        .and_then(|c| c["client_secret"].as_str().map(str::to_owned))
        .expect("the demo client has a secret");
    assert!(!page.text().contains(&secret));

    // The same callback again (its flow is used up), and one for a flow never started.
    let again = send(http().get(&callback)).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    let forged = send(http().get(format!(
        "{}/_demo/callback?code=x&state=never",
        idp.issuer()
    )))
    .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);

    // A token endpoint that refuses the exchange: the callback says so rather than "logged in".
    let (_, csrf, cookie) = home(&format!("{}/", idp.issuer())).await;
    let started = post_form(
        &format!("{}/page/demo", idp.control_url()),
        &[("csrf", &csrf)],
        &cookie,
    )
    .await;
    let approved = send(http().get(started.header(header::LOCATION))).await;
    idp.idp()
        .set_fault(mock_idp::FaultSpec {
            endpoint: mock_idp::FaultEndpoint::Token,
            fault: mock_idp::Fault::OauthError {
                error: "invalid_grant".into(),
                status: None,
                description: None,
            },
            times: Some(1),
            client_id: None,
        })
        .expect("fault");
    let refused = send(http().get(approved.header(header::LOCATION))).await;
    assert_eq!(refused.status, StatusCode::OK);
    let html = refused.text();
    assert!(html.contains("The code exchange was refused"), "{html}");
    assert!(html.contains("&quot;invalid_grant&quot;"), "{html}");
    idp.shutdown().await;
}

/// An application embedded in another server has no page: its `/` belongs to that server.
#[tokio::test]
async fn an_embedded_issuer_serves_no_page() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    let (_idp, router) = mock_idp::embedded(&IdpConfig::default(), origin.clone()).expect("app");
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let root = send(http().get(format!("{origin}/"))).await;
    assert_eq!(root.status, StatusCode::NOT_FOUND);
    assert_eq!(root.json()["error"], "not_found");
    server.abort();
}
