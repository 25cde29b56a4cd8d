//! What the agent submits on each page shape. A snapshot lists every request of the walk (method,
//! URL, `Cookie` header, form fields) and its answer; `UPDATE_EXPECT=1` rewrites them after a
//! deliberate change, to be reviewed like code.

use expect_test::{Expect, expect};
use harness::browser::html::Decision;
use harness::browser::login::LoginAccount;

use crate::stage::{Answer, Stage, account};

const FASTMCP_CONSENT: &str = include_str!("pages/fastmcp-consent.html");
const KEYCLOAK_LOGIN: &str = include_str!("pages/keycloak-login.html");
const STEP_USERNAME: &str = include_str!("pages/step-username.html");
const STEP_PASSWORD: &str = include_str!("pages/step-password.html");
const PLAIN_CONSENT: &str = include_str!("pages/plain-consent.html");
const DECOYS: &str = include_str!("pages/decoys.html");

/// Walks the `as` server's script from `path` and compares what the agent sent with `expected`.
async fn check(
    stage: &Stage,
    path: &str,
    decision: Decision,
    login: &LoginAccount,
    expected: Expect,
) {
    let run = stage.walk(path, decision, login).await;
    expected.assert_eq(&stage.render(&run));
}

/// FastMCP's consent page behind its authorization endpoint; `back` is the query of the
/// redirect that follows the decision.
fn fastmcp_consent_script(stage: &Stage, back: &str) {
    stage.script(
        "as",
        vec![
            Answer::redirect("/consent?txn_id=txn-2b9c")
                .cookie("fastmcp_csrf=csrf-d41d; Path=/consent; HttpOnly; SameSite=Lax"),
            Answer::page(FASTMCP_CONSENT),
            Answer::redirect(&format!("{{callback}}?{back}")),
        ],
    );
}

#[tokio::test]
async fn fastmcp_consent_is_approved_with_its_csrf_field_and_cookie() {
    let stage = Stage::start(&["as"]).await;
    fastmcp_consent_script(&stage, "code=code-1&state=state-1");
    check(
        &stage,
        "/authorize?client_id=client-7f3a&state=state-1",
        Decision::Approve,
        &LoginAccount::default(),
        expect![[r#"
            GET {as}/authorize?client_id=client-7f3a&state=state-1
              -> 302 /consent?txn_id=txn-2b9c
            GET {as}/consent?txn_id=txn-2b9c
              cookie: fastmcp_csrf=csrf-d41d
              -> 200
            POST {as}/consent
              cookie: fastmcp_csrf=csrf-d41d
              | txn_id=txn-2b9c
              | csrf_token=csrf-d41d&8cd9
              | action=approve
              -> 302 http://127.0.0.1:9/callback?code=code-1&state=state-1
            end: callback http://127.0.0.1:9/callback?code=code-1&state=state-1
        "#]],
    )
    .await;
}

#[tokio::test]
async fn fastmcp_consent_is_denied_with_its_deny_button() {
    let stage = Stage::start(&["as"]).await;
    fastmcp_consent_script(&stage, "error=access_denied&state=state-1");
    check(
        &stage,
        "/authorize?client_id=client-7f3a&state=state-1",
        Decision::Deny,
        &LoginAccount::default(),
        expect![[r#"
            GET {as}/authorize?client_id=client-7f3a&state=state-1
              -> 302 /consent?txn_id=txn-2b9c
            GET {as}/consent?txn_id=txn-2b9c
              cookie: fastmcp_csrf=csrf-d41d
              -> 200
            POST {as}/consent
              cookie: fastmcp_csrf=csrf-d41d
              | txn_id=txn-2b9c
              | csrf_token=csrf-d41d&8cd9
              | action=deny
              -> 302 http://127.0.0.1:9/callback?error=access_denied&state=state-1
            end: callback http://127.0.0.1:9/callback?error=access_denied&state=state-1
        "#]],
    )
    .await;
}

fn keycloak_script(stage: &Stage) {
    stage.script(
        "as",
        vec![
            Answer::page(KEYCLOAK_LOGIN)
                .cookie("AUTH_SESSION_ID=as-91.node1; Path=/realms/demo/; SameSite=None; Secure; HttpOnly")
                .cookie("KC_RESTART=eyJhbGciOiJIUzI1NiJ9.e30.c2ln; Path=/realms/demo/; HttpOnly")
                .cookie("OTHER_REALM=o-1; Path=/realms/other/; HttpOnly"),
            Answer::redirect("{callback}?code=code-kc&state=state-kc&session_state=ss-1"),
        ],
    );
}

#[tokio::test]
async fn keycloak_login_is_filled_with_the_test_account() {
    let stage = Stage::start(&["as"]).await;
    keycloak_script(&stage);
    check(
        &stage,
        "/realms/demo/protocol/openid-connect/auth?client_id=mcp-client&state=state-kc",
        Decision::Approve,
        &account(Some("kc-pages-user"), Some("kc-pages-pass&1"), &[]),
        expect![[r#"
            GET {as}/realms/demo/protocol/openid-connect/auth?client_id=mcp-client&state=state-kc
              -> 200
            POST {as}/realms/demo/login-actions/authenticate?session_code=sc-91&execution=ex-42&client_id=mcp-client&tab_id=tab-7
              cookie: AUTH_SESSION_ID=as-91.node1; KC_RESTART=eyJhbGciOiJIUzI1NiJ9.e30.c2ln
              | username=kc-pages-user
              | password=kc-pages-pass&1
              | credentialId=
              | login=Sign In
              -> 302 http://127.0.0.1:9/callback?code=code-kc&state=state-kc&session_state=ss-1
            end: callback http://127.0.0.1:9/callback?code=code-kc&state=state-kc&session_state=ss-1
        "#]],
    )
    .await;
}

#[tokio::test]
async fn a_login_without_a_test_account_stops_and_names_the_flags() {
    let stage = Stage::start(&["as"]).await;
    keycloak_script(&stage);
    check(
        &stage,
        "/realms/demo/protocol/openid-connect/auth?client_id=mcp-client&state=state-kc",
        Decision::Approve,
        &LoginAccount::default(),
        expect![[r#"
            GET {as}/realms/demo/protocol/openid-connect/auth?client_id=mcp-client&state=state-kc
              -> 200
            end: stopped at HTTP 200: a login page asks for a username and a password (field `username`, `password`), which the harness cannot type in: give the harness a test account with --login-user and --login-password (or --login-field NAME=VALUE; also MCP_CONFORMANCE_LOGIN_USER, MCP_CONFORMANCE_LOGIN_PASSWORD and MCP_CONFORMANCE_LOGIN_FIELDS), or log in yourself with --interactive
        "#]],
    )
    .await;
}

#[tokio::test]
async fn a_login_page_that_comes_back_stops_the_walk() {
    let stage = Stage::start(&["as"]).await;
    let again = KEYCLOAK_LOGIN.replace(
        "<h1 id=\"kc-page-title\">",
        "<p class=\"error\">Invalid username or password.</p><h1 id=\"kc-page-title\">",
    );
    stage.script(
        "as",
        vec![Answer::page(KEYCLOAK_LOGIN), Answer::page(&again)],
    );
    check(
        &stage,
        "/realms/demo/protocol/openid-connect/auth?client_id=mcp-client",
        Decision::Approve,
        &account(Some("kc-wrong-user"), Some("kc-wrong-pass"), &[]),
        expect![[r#"
            GET {as}/realms/demo/protocol/openid-connect/auth?client_id=mcp-client
              -> 200
            POST {as}/realms/demo/login-actions/authenticate?session_code=sc-91&execution=ex-42&client_id=mcp-client&tab_id=tab-7
              | username=kc-wrong-user
              | password=kc-wrong-pass
              | credentialId=
              | login=Sign In
              -> 200
            end: stopped at HTTP 200: the login page came back after the test account was submitted (is the account right?): Sign in to demo Demo realm Deutsch Français Invalid username or password. Sign in to your account Username or email Pass…
        "#]],
    )
    .await;
}

#[tokio::test]
async fn a_login_in_two_steps_then_a_consent_denied() {
    let stage = Stage::start(&["as"]).await;
    stage.script(
        "as",
        vec![
            Answer::redirect("/u/login/identifier?state=st-5e1")
                .cookie("did=d-77; Path=/; HttpOnly; SameSite=None; Secure"),
            Answer::page(STEP_USERNAME).cookie("login_tx=tx-1; Path=/u/login; HttpOnly"),
            Answer::redirect("/u/login/password?state=st-5e1"),
            Answer::page(&STEP_PASSWORD.replace("{echoed}", "two-step-user@example.test")),
            Answer::redirect("/consent?request_id=req-88")
                .cookie("login_tx=; Path=/u/login; Max-Age=0")
                .cookie("session=sess-2; Path=/; HttpOnly"),
            Answer::page(PLAIN_CONSENT),
            Answer::redirect("{callback}?error=access_denied&state=st-5e1"),
        ],
    );
    check(
        &stage,
        "/authorize?state=st-5e1",
        Decision::Deny,
        &account(
            Some("two-step-user@example.test"),
            Some("two-step-pass"),
            &[],
        ),
        expect![[r#"
            GET {as}/authorize?state=st-5e1
              -> 302 /u/login/identifier?state=st-5e1
            GET {as}/u/login/identifier?state=st-5e1
              cookie: did=d-77
              -> 200
            POST {as}/u/login/identifier?state=st-5e1
              cookie: login_tx=tx-1; did=d-77
              | state=st-5e1
              | username=two-step-user@example.test
              | action=default
              -> 302 /u/login/password?state=st-5e1
            GET {as}/u/login/password?state=st-5e1
              cookie: login_tx=tx-1; did=d-77
              -> 200
            POST {as}/u/login/password?state=st-5e1
              cookie: login_tx=tx-1; did=d-77
              | state=st-5e1
              | username=two-step-user@example.test
              | password=two-step-pass
              | action=default
              -> 302 /consent?request_id=req-88
            GET {as}/consent?request_id=req-88
              cookie: did=d-77; session=sess-2
              -> 200
            POST {as}/consent
              cookie: did=d-77; session=sess-2
              | request_id=req-88
              | scope=mcp:tools
              | decision=deny
              -> 302 http://127.0.0.1:9/callback?error=access_denied&state=st-5e1
            end: callback http://127.0.0.1:9/callback?error=access_denied&state=st-5e1
        "#]],
    )
    .await;
}

#[tokio::test]
async fn decoys_are_ignored_and_every_control_is_read_as_a_browser_does() {
    let stage = Stage::start(&["as"]).await;
    stage.script(
        "as",
        vec![
            Answer::page(DECOYS),
            Answer::redirect("{callback}?code=code-d&state=state-d"),
        ],
    );
    check(
        &stage,
        "/authorize?state=state-d",
        Decision::Approve,
        &account(
            None,
            None,
            &[("expiry", "Never"), ("decoy-field-name", "never-set")],
        ),
        expect![[r#"
            GET {as}/authorize?state=state-d
              -> 200
            POST {as}/grant?flow=f1&lang=fr
              | csrf=a<b>"c"'d'&e
              | entities=café © 2026 … ∉ €
              | workspace=ws-2
              | expiry=Never
              | tools=search
              | tools=fetch-url
              | reason=Needed for the "conformance" run
              | label=läptop
              | remember=yes
              | duration=week
              | outside=owned by #grant
              | action=approve
              -> 302 http://127.0.0.1:9/callback?code=code-d&state=state-d
            end: callback http://127.0.0.1:9/callback?code=code-d&state=state-d
        "#]],
    )
    .await;
}

#[tokio::test]
async fn cookies_follow_rfc_6265_and_cross_the_ports_of_one_host() {
    let stage = Stage::start(&["as", "idp"]).await;
    stage.script(
        "as",
        vec![
            Answer::redirect("{idp}/authorize")
                .cookie("sid=as-1; Path=/")
                .cookie("scoped=s-1; Path=/login")
                .cookie("gone=g-1; Path=/")
                .cookie("old=o-1; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
                .cookie("sec=z-1; Path=/; Secure; HttpOnly")
                .cookie("dom=d-1; Path=/; Domain=127.0.0.1")
                .cookie("foreign=f-1; Path=/; Domain=example.com")
                .cookie("short=m-1; Path=/; Max-Age=3600"),
            Answer::redirect("/login"),
            Answer::redirect("{callback}?code=code-c&state=state-c"),
        ],
    );
    stage.script(
        "idp",
        vec![
            // The IdP, on another port of the same host, sees (and can delete) the cookies of
            // the authorization server, as in a browser.
            Answer::redirect("{as}/login/next")
                .cookie("idp=i-1; Path=/; HttpOnly; SameSite=Lax")
                .cookie("gone=; Path=/; Max-Age=0"),
        ],
    );
    let run = stage
        .walk("/authorize", Decision::Approve, &LoginAccount::default())
        .await;
    let set: Vec<String> = run
        .cookies_set
        .iter()
        .map(|c| {
            let from = if c.authority == stage.origin("as").trim_start_matches("http://") {
                "as"
            } else {
                "idp"
            };
            format!("{from}: {}", c.raw)
        })
        .collect();
    expect![[r#"
        GET {as}/authorize
          -> 302 {idp}/authorize
        GET {idp}/authorize
          cookie: sid=as-1; gone=g-1; sec=z-1; dom=d-1; short=m-1
          -> 302 {as}/login/next
        GET {as}/login/next
          cookie: scoped=s-1; sid=as-1; sec=z-1; dom=d-1; short=m-1; idp=i-1
          -> 302 /login
        GET {as}/login
          cookie: scoped=s-1; sid=as-1; sec=z-1; dom=d-1; short=m-1; idp=i-1
          -> 302 http://127.0.0.1:9/callback?code=code-c&state=state-c
        end: callback http://127.0.0.1:9/callback?code=code-c&state=state-c

        set:
        as: sid=as-1; Path=/
        as: scoped=s-1; Path=/login
        as: gone=g-1; Path=/
        as: old=o-1; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT
        as: sec=z-1; Path=/; Secure; HttpOnly
        as: dom=d-1; Path=/; Domain=127.0.0.1
        as: foreign=f-1; Path=/; Domain=example.com
        as: short=m-1; Path=/; Max-Age=3600
        idp: idp=i-1; Path=/; HttpOnly; SameSite=Lax
        idp: gone=; Path=/; Max-Age=0
    "#]]
    .assert_eq(&format!(
        "{}\nset:\n{}\n",
        stage.render(&run),
        set.join("\n")
    ));
}
