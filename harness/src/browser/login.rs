//! The test account the headless user agent logs in with, and how it fills a login form: what a
//! person with that account types, and nothing else.
//!
//! A login form is one that asks for a password or for a username ([`Form::is_login`]); a login
//! in two steps (a username page, then a password page) is two such forms, each filled with what
//! it asks for. Every value of the account is a [`Secret`], so it is redacted in every report
//! however a login page echoes it.

use crate::browser::html::{Form, Input};
use crate::redact::Secret;

/// A test account for login forms (`--login-user`, `--login-password`, `--login-field`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginAccount {
    /// Typed into the form's username or e-mail input.
    pub user: Option<Secret>,
    /// Typed into every password input.
    pub password: Option<Secret>,
    /// Fields set by name in every form the walk submits, before the user and password (which
    /// then leave them alone): a tenant, a one-time code, a field the username heuristics miss.
    pub fields: Vec<(String, Secret)>,
}

impl LoginAccount {
    /// Whether no value was given at all.
    pub fn is_empty(&self) -> bool {
        self.user.is_none() && self.password.is_none() && self.fields.is_empty()
    }
}

/// The flags and variables that give a test account, and the alternative, for messages.
pub const HOW_TO_LOG_IN: &str = "give the harness a test account with --login-user and --login-password (or --login-field NAME=VALUE; also MCP_CONFORMANCE_LOGIN_USER, MCP_CONFORMANCE_LOGIN_PASSWORD and MCP_CONFORMANCE_LOGIN_FIELDS), or log in yourself with --interactive";

/// `form` as the person with `account` submits it: the named fields set, the username typed into
/// its username input and the password into its password inputs, none of them where the page made
/// the input read-only. A login form left with an empty password or username input cannot be
/// submitted as a person would: the error says what it asks for and how to give it.
pub fn fill(form: &Form, account: &LoginAccount) -> Result<Form, String> {
    let mut filled = form.clone();
    let mut named = vec![false; filled.fields.len()];
    for (name, value) in &account.fields {
        for (i, (n, v)) in filled.fields.iter_mut().enumerate() {
            if n == name {
                *v = value.expose().to_string();
                named[i] = true;
            }
        }
    }
    let typeable = |input: &Input| !named[input.field] && !input.readonly;
    if let Some(password) = &account.password {
        for input in form.password_inputs().filter(|i| typeable(i)) {
            filled.fields[input.field].1 = password.expose().to_string();
        }
    }
    let username = form
        .inputs
        .iter()
        .find(|i| i.takes_username() && typeable(i));
    if let (Some(user), Some(input)) = (&account.user, username) {
        filled.fields[input.field].1 = user.expose().to_string();
    }
    let empty = |input: &&Input| filled.fields[input.field].1.is_empty();
    let mut asks = Vec::new();
    let mut names = Vec::new();
    if let Some(input) = username.filter(empty) {
        asks.push("a username");
        names.push(form.name_of(input));
    }
    let passwords: Vec<&Input> = form.password_inputs().filter(empty).collect();
    if !passwords.is_empty() {
        asks.push("a password");
        names.extend(passwords.iter().map(|i| form.name_of(i)));
    }
    if asks.is_empty() {
        return Ok(filled);
    }
    Err(format!(
        "a login page asks for {} (field {}), which the harness cannot type in: {HOW_TO_LOG_IN}",
        asks.join(" and "),
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::browser::html::forms;

    /// Every value becomes a process-wide secret: the tests use values no other test's text has.
    fn account(
        user: Option<&str>,
        password: Option<&str>,
        fields: &[(&str, &str)],
    ) -> LoginAccount {
        LoginAccount {
            user: user.map(Secret::new),
            password: password.map(Secret::new),
            fields: fields
                .iter()
                .map(|(n, v)| (n.to_string(), Secret::new(*v)))
                .collect(),
        }
    }

    const KEYCLOAK_LIKE: &str = r#"<form id="kc-form-login" action="/realms/r/login-actions/authenticate?session_code=x&amp;tab_id=y" method="post">
        <label for="username">Username or email</label>
        <input tabindex="1" id="username" name="username" value="" type="text" autofocus autocomplete="off">
        <input tabindex="2" id="password" name="password" type="password" autocomplete="off">
        <input type="checkbox" id="rememberMe" name="rememberMe"> Remember me
        <input type="hidden" id="id-hidden-input" name="credentialId" value="">
        <input tabindex="4" name="login" id="kc-login" type="submit" value="Sign In">
      </form>"#;

    #[test]
    fn a_login_form_gets_the_user_and_password() {
        let form = &forms(KEYCLOAK_LIKE)[0];
        assert!(form.is_login());
        let filled = fill(
            form,
            &account(Some("login-test-user"), Some("login-test-pass"), &[]),
        )
        .expect("filled");
        assert_eq!(
            filled.fields,
            vec![
                ("username".to_string(), "login-test-user".to_string()),
                ("password".to_string(), "login-test-pass".to_string()),
                ("credentialId".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn an_unfillable_login_form_names_the_flags() {
        let form = &forms(KEYCLOAK_LIKE)[0];
        let why = fill(form, &LoginAccount::default()).unwrap_err();
        assert!(
            why.starts_with(
                "a login page asks for a username and a password (field `username`, `password`)"
            ),
            "{why}"
        );
        for flag in [
            "--login-user",
            "--login-password",
            "--login-field",
            "--interactive",
        ] {
            assert!(why.contains(flag), "{why}");
        }
        let why = fill(form, &account(Some("login-test-user"), None, &[])).unwrap_err();
        assert!(
            why.contains("asks for a password (field `password`)"),
            "{why}"
        );
    }

    #[test]
    fn named_fields_win_and_read_only_inputs_are_left_alone() {
        let page = r#"<form method="post">
            <input name="email" type="email" value="shown@example.test" readonly>
            <input name="pin" type="password">
            <input name="otp" type="password">
            <select name="tenant"><option>tenant-a</option><option>tenant-b-login-test</option></select>
            <button>Continue</button></form>"#;
        let form = &forms(page)[0];
        assert!(form.is_login());
        let filled = fill(
            form,
            &account(
                Some("login-test-user"),
                Some("login-test-pass"),
                &[("otp", "login-test-otp"), ("tenant", "tenant-b-login-test")],
            ),
        )
        .expect("filled");
        assert_eq!(
            filled.fields,
            vec![
                ("email".to_string(), "shown@example.test".to_string()),
                ("pin".to_string(), "login-test-pass".to_string()),
                ("otp".to_string(), "login-test-otp".to_string()),
                ("tenant".to_string(), "tenant-b-login-test".to_string()),
            ]
        );
    }

    #[test]
    fn username_inputs_are_recognised_by_their_hints() {
        for input in [
            r#"<input name="j_username">"#,
            r#"<input name="loginfmt">"#,
            r#"<input name="identifier">"#,
            r#"<input name="q1" autocomplete="username">"#,
            r#"<input name="q2" type="email">"#,
            r#"<input name="q3" placeholder="E-mail address">"#,
        ] {
            let form = &forms(&format!("<form>{input}<button>Next</button></form>"))[0];
            assert!(form.username_input().is_some(), "{input}");
        }
        let consent = r#"<form><input type="hidden" name="user_id" value="1"><input name="note"><button>Allow</button></form>"#;
        assert!(!forms(consent)[0].is_login());
    }
}
