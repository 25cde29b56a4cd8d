//! A headless user agent: what a browser does between the client opening the authorization URL
//! and the authorization server redirecting back to the client's loopback redirect URI.
//!
//! It follows redirects one hop at a time through [`crate::target`] (so every hop is bounded and
//! recorded), keeps cookies as RFC 6265 says (a `cookie_store` jar: domain, path, expiry,
//! `Max-Age`, `Secure` and `HttpOnly`; like a browser's, it does not tell ports apart, so the
//! cookies of 127.0.0.1 go to every port of it), and answers login and consent pages by
//! submitting their form with the hidden fields (CSRF tokens, transaction ids) a browser would
//! send, a login form filled with the test account ([`crate::browser::login`]). It only visits
//! the origins it is told about (the target, its authorization servers, the mock IdP): a
//! redirect anywhere else ends the walk and is reported, never followed.

use cookie_store::CookieStore;
use serde_json::Value;

use crate::browser::html::{self, Decision, Form};
use crate::browser::login::{self, LoginAccount};
use crate::target::{Exchange, Request, TargetClient};
use crate::urls::{authority_of, origin_of};

/// The most redirects and pages one authorization may take.
const MAX_HOPS: usize = 25;
/// The most forms one authorization submits: a login in two steps, a consent page, and the same
/// again at a proxy's upstream.
const MAX_FORMS: usize = 6;

/// A cookie a walk was given: one `Set-Cookie` header.
#[derive(Debug, Clone)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    /// `host:port` of the server that set it. The jar sends it to every port of the host, as a
    /// browser does; this only says whose cookie it is.
    pub authority: String,
    /// The `Set-Cookie` header as received, for judging its attributes.
    pub raw: String,
}

/// A page the walk stopped at or answered.
#[derive(Debug, Clone)]
pub struct Page {
    /// Index into [`AuthorizeRun::hops`].
    pub hop: usize,
    pub url: String,
    pub form: Option<Form>,
    /// Visible text, for judging what the page shows.
    pub text: String,
}

impl Page {
    /// Whether the page asked the user to decide (a consent page), rather than to log in: the
    /// consent checks judge only such pages.
    pub fn asks_consent(&self) -> bool {
        self.form.as_ref().is_some_and(|f| !f.is_login())
    }
}

/// How the walk ended.
#[derive(Debug, Clone)]
pub enum AuthorizeEnd {
    /// Redirected to the redirect URI the request named (with a code or an error).
    Callback {
        url: String,
        params: Vec<(String, String)>,
    },
    /// Stopped at an answer that is not a redirect: an error page, a JSON error, or a page
    /// without a form the agent could use.
    Stopped { status: Option<u16>, why: String },
    /// Redirected to a URL outside the known origins that is not the named redirect URI.
    Elsewhere { url: String },
    /// Stopped, as asked, before following the upstream's redirect back to the proxy: the
    /// request that would have been sent next (without the agent's cookies).
    Intercepted { request: Request },
}

/// One walk from the authorization URL to its end.
#[derive(Debug, Clone)]
pub struct AuthorizeRun {
    pub hops: Vec<Exchange>,
    /// Pages with forms the agent submitted (login and consent pages), in order.
    pub pages: Vec<Page>,
    pub end: AuthorizeEnd,
    /// Cookies set during the walk.
    pub cookies_set: Vec<Cookie>,
    /// Whether a scope checkbox was unticked as asked.
    pub unticked: bool,
}

impl AuthorizeRun {
    /// The query parameter of the callback, if the walk reached the redirect URI.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn params(&self) -> &[(String, String)] {
        match &self.end {
            AuthorizeEnd::Callback { params, .. } => params,
            _ => &[],
        }
    }

    /// Every value of a callback parameter (to tell one `state` from two).
    pub fn param_count(&self, name: &str) -> usize {
        self.params().iter().filter(|(n, _)| n == name).count()
    }

    pub fn code(&self) -> Option<&str> {
        self.param("code")
    }

    /// Whether the walk ended by redirecting to the named redirect URI.
    pub fn reached_callback(&self) -> bool {
        matches!(self.end, AuthorizeEnd::Callback { .. })
    }

    /// A one-line account of the end, for findings.
    pub fn describe_end(&self) -> String {
        match &self.end {
            AuthorizeEnd::Callback { params, .. } => {
                let names: Vec<String> = params
                    .iter()
                    .map(|(n, v)| match n.as_str() {
                        "code" => "code=…".to_string(),
                        "error" | "error_description" => format!("{n}={}", condense(v)),
                        other => other.to_string(),
                    })
                    .collect();
                format!("redirected to the redirect URI with {}", names.join(", "))
            }
            AuthorizeEnd::Stopped { status, why } => match status {
                Some(s) => format!("stopped at HTTP {s}: {why}"),
                None => format!("stopped: {why}"),
            },
            AuthorizeEnd::Elsewhere { url } => format!("redirected to {url}"),
            AuthorizeEnd::Intercepted { request } => {
                format!("stopped before the return from upstream to {}", request.url)
            }
        }
    }

    /// Whether any hop went through `origin`.
    pub fn visited(&self, origin: &str) -> bool {
        self.hops
            .iter()
            .any(|h| origin_of(&h.request.url) == origin)
    }
}

/// What the walk is told.
#[derive(Debug, Clone)]
pub struct Walk<'a> {
    /// The authorization request URL (or a POST to the authorization endpoint).
    pub start: Request,
    /// The redirect URI the request names; a redirect to it (ignoring the query) ends the walk.
    pub redirect_uri: &'a str,
    /// Origins the agent may visit.
    pub origins: &'a [String],
    pub decision: Decision,
    /// Extra headers on every navigation (e.g. `Sec-Fetch-Site: cross-site`).
    pub extra_headers: Vec<(String, String)>,
    /// Submit the first form as a cross-site forgery would: CSRF-looking fields replaced and
    /// no cookies (the attacker's page cannot read the token or send the victim's cookies of a
    /// flow the attacker started).
    pub forge_form: bool,
    /// Stop before following a redirect from this origin (the upstream identity provider) back
    /// to another known origin (the proxy's callback).
    pub intercept_return_from: Option<String>,
    /// Untick this scope on a consent form that offers scope checkboxes (a user granting less).
    pub untick_scope: Option<String>,
    /// The test account login forms are filled with.
    pub login: &'a LoginAccount,
}

/// The browser state shared by the walks of one run (cookies persist, as in a browser). It sends
/// through the run's target client, so every hop is bounded and recorded like any exchange.
#[derive(Debug)]
pub struct UserAgent {
    target: TargetClient,
    cookies: std::sync::Mutex<CookieStore>,
}

/// `scheme://host:port/path` of a URL: what a redirect must match, the query aside.
fn without_query(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

impl UserAgent {
    pub fn new(target: TargetClient) -> UserAgent {
        UserAgent {
            target,
            cookies: std::sync::Mutex::new(CookieStore::default()),
        }
    }

    /// Another browser on the same network: no cookies of this one (a second device, or a
    /// private window).
    pub fn another(&self) -> UserAgent {
        UserAgent::new(self.target.clone())
    }

    /// A browser with no cookies (a second device, or a private window).
    pub fn clear(&self) {
        if let Ok(mut c) = self.cookies.lock() {
            c.clear();
        }
    }

    /// The `Cookie` header a browser sends to `url`: the unexpired cookies whose domain and path
    /// match it (and that are not `Secure` on an insecure origin; loopback counts as secure, as in
    /// browsers), longer paths first and then in the order they were made, as RFC 6265 §5.4
    /// orders them (the jar keeps that order; the sort is stable).
    fn cookie_header(&self, url: &url::Url) -> Option<String> {
        let jar = self.cookies.lock().ok()?;
        let mut cookies = jar.matches(url);
        cookies.sort_by_key(|c| std::cmp::Reverse(String::from(&c.path).len()));
        let pairs: Vec<String> = cookies
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Keeps the cookies an answer from `url` sets, as the jar's rules allow (a `Domain` the host
    /// does not match, for one, is ignored), and returns every `Set-Cookie` it carried.
    fn store(&self, url: &url::Url, exchange: &Exchange) -> Vec<Cookie> {
        let Some(response) = exchange.response() else {
            return Vec::new();
        };
        let authority = authority_of(url);
        let mut set = Vec::new();
        let Ok(mut jar) = self.cookies.lock() else {
            return set;
        };
        for raw in response.header_values("set-cookie") {
            let Ok(parsed) = cookie::Cookie::parse(raw.to_string()) else {
                continue;
            };
            set.push(Cookie {
                name: parsed.name().to_string(),
                value: parsed.value().to_string(),
                authority: authority.clone(),
                raw: raw.to_string(),
            });
            // A refused cookie (a foreign Domain, an expired one that replaces nothing) is what a
            // browser ignores too; `cookies_set` still shows it was sent.
            let _ = jar.insert_raw(&parsed, url);
        }
        set
    }

    /// Sends one request as this browser (its cookies for the URL attached) and keeps the cookies
    /// the answer sets.
    pub async fn send(&self, request: Request) -> Exchange {
        let Ok(url) = url::Url::parse(&request.url) else {
            return self.target.send(request).await;
        };
        let mut request = request;
        if let Some(cookies) = self.cookie_header(&url) {
            request = request.header("cookie", cookies);
        }
        let exchange = self.target.send(request).await;
        self.store(&url, &exchange);
        exchange
    }

    /// Walks from the authorization request to the redirect back to the client.
    pub async fn walk(&self, walk: Walk<'_>) -> AuthorizeRun {
        let mut hops = Vec::new();
        let mut pages = Vec::new();
        let mut cookies_set = Vec::new();
        let mut forms_sent = 0;
        // Consent forms submitted so far (login forms aside): the forgery replaces the first.
        let mut consents_sent = 0;
        // The next request is that first consent form's submission, sent as a forgery.
        let mut forge_next = false;
        // The last login form submitted (see `login_key`): the same form again means the
        // account was refused.
        let mut last_login: Option<String> = None;
        let mut untick_done = false;
        let redirect_target = url::Url::parse(walk.redirect_uri)
            .ok()
            .map(|u| without_query(&u));
        let mut next = walk.start.clone();
        let mut first = true;
        let end = loop {
            if hops.len() >= MAX_HOPS {
                break AuthorizeEnd::Stopped {
                    status: None,
                    why: format!("more than {MAX_HOPS} redirects and pages"),
                };
            }
            let Ok(url) = url::Url::parse(&next.url) else {
                break AuthorizeEnd::Stopped {
                    status: None,
                    why: format!("unusable URL {}", next.url),
                };
            };
            let mut request = next.clone();
            let forging = std::mem::take(&mut forge_next);
            if !forging && let Some(cookies) = self.cookie_header(&url) {
                request = request.header("cookie", cookies);
            }
            // A caller's own Sec-Fetch-Site (a cross-site navigation) replaces the agent's.
            if !walk
                .extra_headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("sec-fetch-site"))
            {
                request =
                    request.header("sec-fetch-site", if first { "none" } else { "same-origin" });
            }
            for (n, v) in &walk.extra_headers {
                request = request.header(n, v.clone());
            }
            first = false;
            let exchange = self.target.send(request).await;
            cookies_set.extend(self.store(&url, &exchange));
            hops.push(exchange.clone());
            let Some(response) = exchange.response() else {
                break AuthorizeEnd::Stopped {
                    status: None,
                    why: exchange.failure().to_string(),
                };
            };
            let body = response.body_text();
            // One reading of the page serves the refresh, the forms and the text.
            let page = html::read_page(&body);
            let location = if (300..400).contains(&response.status) {
                response.header("location").map(str::to_string)
            } else {
                page.refresh.clone()
            };
            if let Some(location) = location {
                let Ok(to) = url.join(&location) else {
                    break AuthorizeEnd::Stopped {
                        status: Some(response.status),
                        why: format!("unusable Location {location:?}"),
                    };
                };
                if redirect_target.as_deref() == Some(without_query(&to).as_str()) {
                    break AuthorizeEnd::Callback {
                        url: to.to_string(),
                        params: to.query_pairs().into_owned().collect(),
                    };
                }
                if !walk.origins.contains(&to.origin().ascii_serialization()) {
                    break AuthorizeEnd::Elsewhere {
                        url: to.to_string(),
                    };
                }
                let following = Request::new(reqwest::Method::GET, to.to_string())
                    .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8");
                let here = url.origin().ascii_serialization();
                if walk.intercept_return_from.as_deref() == Some(here.as_str())
                    && to.origin().ascii_serialization() != here
                {
                    break AuthorizeEnd::Intercepted { request: following };
                }
                next = following;
                continue;
            }
            let content_type = response
                .header("content-type")
                .unwrap_or("")
                .to_ascii_lowercase();
            if !(200..300).contains(&response.status) {
                break AuthorizeEnd::Stopped {
                    status: Some(response.status),
                    why: short_reason(&content_type, &body),
                };
            }
            if !content_type.contains("html") {
                break AuthorizeEnd::Stopped {
                    status: Some(response.status),
                    why: format!("a {content_type} answer, not a redirect or a page"),
                };
            }
            let text = page.text;
            let forms = page.forms;
            let Some((form, button)) = choose(&forms, walk.decision) else {
                break AuthorizeEnd::Stopped {
                    status: Some(response.status),
                    why: if forms.is_empty() {
                        "an HTML page without a form (it may need JavaScript or a person: rerun with --interactive)".to_string()
                    } else {
                        format!(
                            "an HTML page whose forms offer no button to {}",
                            match walk.decision {
                                Decision::Approve => "approve",
                                Decision::Deny => "deny",
                            }
                        )
                    },
                };
            };
            let is_login = form.is_login();
            if is_login {
                let key = login_key(&url, form);
                if last_login.as_ref() == Some(&key) {
                    break AuthorizeEnd::Stopped {
                        status: Some(response.status),
                        why: format!(
                            "the login page came back after the test account was submitted (is the account right?): {}",
                            condense(&text)
                        ),
                    };
                }
                last_login = Some(key);
            }
            // Named fields are set in every form, so a choice on a consent page can be given too.
            let filled = match login::fill(form, walk.login) {
                Ok(filled) => filled,
                Err(why) => {
                    break AuthorizeEnd::Stopped {
                        status: Some(response.status),
                        why,
                    };
                }
            };
            if forms_sent >= MAX_FORMS {
                break AuthorizeEnd::Stopped {
                    status: Some(response.status),
                    why: format!("still asked for a form after {MAX_FORMS} submissions"),
                };
            }
            forms_sent += 1;
            let forge = walk.forge_form && !is_login && consents_sent == 0;
            if !is_login {
                consents_sent += 1;
            }
            pages.push(Page {
                hop: hops.len() - 1,
                url: url.to_string(),
                form: Some(form.clone()),
                text,
            });
            let Ok(action) = url.join(&form.action) else {
                break AuthorizeEnd::Stopped {
                    status: Some(response.status),
                    why: format!("unusable form action {:?}", form.action),
                };
            };
            if !walk
                .origins
                .contains(&action.origin().ascii_serialization())
            {
                break AuthorizeEnd::Elsewhere {
                    url: action.to_string(),
                };
            }
            let mut pairs = filled.submission(button);
            if let Some(scope) = &walk.untick_scope {
                let before = pairs.len();
                pairs.retain(|(n, v)| !(n.to_ascii_lowercase().contains("scope") && v == scope));
                if pairs.len() < before {
                    untick_done = true;
                }
            }
            if forge {
                for (name, value) in &mut pairs {
                    let n = name.to_ascii_lowercase();
                    if n.contains("csrf")
                        || n.contains("xsrf")
                        || n == "_token"
                        || n.contains("nonce")
                    {
                        *value = "forged-by-mcp-auth-conformance".to_string();
                    }
                }
            }
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
                .finish();
            forge_next = forge && form.method == "post";
            next = if form.method == "post" {
                let mut r = Request::new(reqwest::Method::POST, action.to_string())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("origin", url.origin().ascii_serialization())
                    .header("referer", url.to_string());
                r.body = Some(encoded.into_bytes());
                r
            } else {
                let mut to = action.clone();
                to.set_query(Some(&encoded));
                Request::new(reqwest::Method::GET, to.to_string())
            };
        };
        AuthorizeRun {
            hops,
            pages,
            end,
            cookies_set,
            unticked: untick_done,
        }
    }
}

/// The form a person makes `decision` with on a page, and the button they press. A login form
/// comes first (nobody decides anything before logging in) and is submitted with its button to
/// go on, unless it is also the consent form and offers the decision itself; otherwise the form
/// with a button for the decision, or, to approve, a form without buttons (submitted with Enter).
fn choose(forms: &[Form], decision: Decision) -> Option<(&Form, Option<&html::Button>)> {
    if let Some(form) = forms.iter().find(|f| f.is_login()) {
        let refuses = form
            .button_for(Decision::Deny)
            .filter(|b| !b.is_cancel_only());
        let button = match decision {
            Decision::Deny if refuses.is_some() => refuses,
            _ => form.button_for(Decision::Approve),
        };
        if button.is_some() || form.buttons.is_empty() {
            return Some((form, button));
        }
    }
    if let Some(form) = forms.iter().find(|f| f.button_for(decision).is_some()) {
        return Some((form, form.button_for(decision)));
    }
    forms
        .iter()
        .find(|f| f.buttons.is_empty() && decision == Decision::Approve)
        .map(|f| (f, None))
}

/// What tells one login form from another: where it is sent (without the query, which often
/// carries a fresh transaction) and the inputs it asks a person to type in. A page that answers a
/// login with the same form again has refused the account.
fn login_key(page: &url::Url, form: &Form) -> String {
    let action = page
        .join(&form.action)
        .map(|a| without_query(&a))
        .unwrap_or_default();
    let inputs: Vec<&str> = form.inputs.iter().map(|i| form.name_of(i)).collect();
    format!("{action} {}", inputs.join(","))
}

/// A parameter value for a one-line message: whitespace collapsed, at most 120 characters.
fn condense(value: &str) -> String {
    let flat = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= 120 {
        return flat;
    }
    let cut: String = flat.chars().take(120).collect();
    format!("{cut}…")
}

/// A short reason from an error body: the OAuth error if it is JSON, else the page text.
fn short_reason(content_type: &str, body: &str) -> String {
    if content_type.contains("json")
        && let Ok(v) = serde_json::from_str::<Value>(body)
    {
        let error = v.get("error").and_then(Value::as_str).unwrap_or("?");
        return match v.get("error_description").and_then(Value::as_str) {
            Some(d) => format!("error={error} ({d})"),
            None => format!("error={error}"),
        };
    }
    let text = html::visible_text(body);
    let cut: String = text.chars().take(160).collect();
    if cut.is_empty() {
        "an empty body".to_string()
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::browser::html::forms;

    fn chosen(page: &str, decision: Decision) -> (String, Option<String>) {
        let forms = forms(page);
        let (form, button) = choose(&forms, decision).expect("a form");
        (form.action.clone(), button.map(|b| b.value.clone()))
    }

    #[test]
    fn a_login_form_comes_first_and_is_submitted_to_go_on() {
        let page = r#"<form action="/sso/github"><button name="via" value="github">Sign in with GitHub</button></form>
            <form action="/login" method="post"><input name="username"><input type="password" name="password">
            <button name="do" value="login">Sign in</button><button name="do" value="cancel">Cancel</button></form>"#;
        assert_eq!(
            chosen(page, Decision::Approve),
            ("/login".to_string(), Some("login".to_string()))
        );
        // Denying consent starts with logging in: "Cancel" leaves the login, it refuses nothing.
        assert_eq!(
            chosen(page, Decision::Deny),
            ("/login".to_string(), Some("login".to_string()))
        );
    }

    #[test]
    fn a_login_form_that_is_also_the_consent_form_takes_the_decision() {
        let page = r#"<form action="/authorize" method="post"><input name="email" type="email">
            <input type="password" name="password">
            <button name="consent" value="allow">Allow</button><button name="consent" value="deny">Deny</button></form>"#;
        assert_eq!(
            chosen(page, Decision::Deny),
            ("/authorize".to_string(), Some("deny".to_string()))
        );
        assert_eq!(
            chosen(page, Decision::Approve),
            ("/authorize".to_string(), Some("allow".to_string()))
        );
    }

    #[test]
    fn a_login_key_ignores_the_query_and_tells_steps_apart() {
        let page = url::Url::parse("http://127.0.0.1:1/login?tx=1").expect("url");
        let step = |html: &str| forms(html).remove(0);
        let first = step(r#"<form action="/login?tx=1"><input name="username"></form>"#);
        let again = step(r#"<form action="/login?tx=2"><input name="username"></form>"#);
        let second = step(
            r#"<form action="/login?tx=2"><input name="username" readonly><input type="password" name="password"></form>"#,
        );
        assert_eq!(login_key(&page, &first), login_key(&page, &again));
        assert_ne!(login_key(&page, &first), login_key(&page, &second));
    }
}
