//! A headless user agent: what a browser does between the client opening the authorization URL
//! and the authorization server redirecting back to the client's loopback redirect URI.
//!
//! It follows redirects one hop at a time through [`crate::target`] (so every hop is bounded and
//! recorded), keeps cookies per host, and answers login and consent pages by submitting their
//! form with the hidden fields (CSRF tokens, transaction ids) a browser would send. It only
//! visits the origins it is told about (the target, its authorization servers, the mock IdP):
//! a redirect anywhere else ends the walk and is reported, never followed.

use serde_json::Value;

use crate::browser::html::{self, Decision, Form};
use crate::target::{Exchange, Request, TargetClient};
use crate::urls::{authority_of, origin_of};

/// The most redirects and pages one authorization may take.
const MAX_HOPS: usize = 25;
/// The most forms one authorization submits (login, consent, an upstream's consent).
const MAX_FORMS: usize = 4;

/// A cookie the agent holds.
#[derive(Debug, Clone)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    /// `host:port` the cookie came from (loopback targets share a host but not a port).
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
}

/// The browser state shared by the walks of one run (cookies persist, as in a browser). It sends
/// through the run's target client, so every hop is bounded and recorded like any exchange.
#[derive(Debug)]
pub struct UserAgent {
    target: TargetClient,
    cookies: std::sync::Mutex<Vec<Cookie>>,
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
            cookies: std::sync::Mutex::new(Vec::new()),
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

    fn cookie_header(&self, url: &url::Url) -> Option<String> {
        let authority = authority_of(url);
        let jar = self.cookies.lock().ok()?;
        let pairs: Vec<String> = jar
            .iter()
            .filter(|c| c.authority == authority)
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

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
            let first = raw.split(';').next().unwrap_or("");
            let Some((name, value)) = first.split_once('=') else {
                continue;
            };
            let name = name.trim().to_string();
            let value = value.trim().to_string();
            let expired = raw.to_ascii_lowercase().contains("max-age=0");
            jar.retain(|c| !(c.name == name && c.authority == authority));
            let cookie = Cookie {
                name,
                value,
                authority: authority.clone(),
                raw: raw.to_string(),
            };
            set.push(cookie.clone());
            if !expired {
                jar.push(cookie);
            }
        }
        set
    }

    /// Sends one request as this browser (its cookies for the URL's host and port attached) and
    /// keeps the cookies the answer sets.
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
            let forging =
                walk.forge_form && forms_sent == 1 && request.method == reqwest::Method::POST;
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
            let chosen = forms
                .iter()
                .find(|f| f.button_for(walk.decision).is_some())
                .or_else(|| {
                    forms
                        .iter()
                        .find(|f| f.buttons.is_empty() && walk.decision == Decision::Approve)
                });
            let Some(form) = chosen.cloned() else {
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
            if forms_sent >= MAX_FORMS {
                break AuthorizeEnd::Stopped {
                    status: Some(response.status),
                    why: format!("still asked for a form after {MAX_FORMS} submissions"),
                };
            }
            forms_sent += 1;
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
            let mut pairs = form.submission(form.button_for(walk.decision));
            if let Some(scope) = &walk.untick_scope {
                let before = pairs.len();
                pairs.retain(|(n, v)| !(n.to_ascii_lowercase().contains("scope") && v == scope));
                if pairs.len() < before {
                    untick_done = true;
                }
            }
            if walk.forge_form && forms_sent == 1 {
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
