//! A stage for the headless user agent: loopback servers that answer from a script, and a walk
//! through them rendered as text.
//!
//! Each server answers its requests, in order, with the answers scripted for it, and records what
//! it was sent; the agent is what is under test, so the servers do not judge. Pages and headers
//! may name the servers' origins as `{as}` and `{idp}` (two ports of 127.0.0.1, as the target's
//! authorization server and the mock IdP are in a run) and the redirect URI as `{callback}`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use harness::browser::agent::{AuthorizeEnd, AuthorizeRun, UserAgent, Walk};
use harness::browser::html::Decision;
use harness::browser::login::LoginAccount;
use harness::redact::Secret;
use harness::target::{FetchPolicy, Request, TargetClient};

/// The redirect URI of every walk: nothing listens there, the agent stops on the redirect.
pub const CALLBACK: &str = "http://127.0.0.1:9/callback";

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    /// An HTML page.
    pub fn page(html: &str) -> Answer {
        Answer {
            status: 200,
            headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
            body: html.to_string(),
        }
    }

    /// A `302 Found` to `location`.
    pub fn redirect(location: &str) -> Answer {
        Answer {
            status: 302,
            headers: vec![("location".into(), location.into())],
            body: String::new(),
        }
    }

    /// The same answer with one more `Set-Cookie`.
    pub fn cookie(mut self, set_cookie: &str) -> Answer {
        self.headers.push(("set-cookie".into(), set_cookie.into()));
        self
    }
}

/// One loopback server's script and what it was sent.
#[derive(Debug, Default)]
struct Script {
    answers: VecDeque<Answer>,
}

#[derive(Clone)]
struct Server {
    script: Arc<Mutex<Script>>,
    origins: Arc<Mutex<Vec<(String, String)>>>,
}

/// Servers on loopback ports, by name (`as`, `idp`).
pub struct Stage {
    servers: Vec<(String, Server)>,
    origins: Arc<Mutex<Vec<(String, String)>>>,
}

impl Stage {
    /// Starts one server per name, each on its own port of 127.0.0.1.
    pub async fn start(names: &[&str]) -> Stage {
        let origins = Arc::new(Mutex::new(Vec::new()));
        let mut servers = Vec::new();
        for name in names {
            let server = Server {
                script: Arc::default(),
                origins: origins.clone(),
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            origins
                .lock()
                .expect("origins")
                .push((name.to_string(), format!("http://{addr}")));
            let app = axum::Router::new()
                .fallback(answer)
                .with_state(server.clone());
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            servers.push((name.to_string(), server));
        }
        Stage { servers, origins }
    }

    /// Scripts the next answers of server `name`.
    pub fn script(&self, name: &str, answers: Vec<Answer>) {
        let (_, server) = self
            .servers
            .iter()
            .find(|(n, _)| n == name)
            .expect("a server of that name");
        server
            .script
            .lock()
            .expect("script")
            .answers
            .extend(answers);
    }

    pub fn origin(&self, name: &str) -> String {
        self.origins
            .lock()
            .expect("origins")
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, o)| o.clone())
            .expect("a server of that name")
    }

    /// `text` with `{as}`, `{idp}` and `{callback}` filled in.
    pub fn fill(&self, text: &str) -> String {
        fill(&self.origins.lock().expect("origins"), text)
    }

    /// A user agent that may visit every server of the stage.
    pub fn agent(&self) -> UserAgent {
        let origins: Vec<String> = self.servers.iter().map(|(n, _)| self.origin(n)).collect();
        let target = TargetClient::new(
            harness::Limits {
                deadline: Duration::from_secs(5),
                max_body: 1024 * 1024,
            },
            FetchPolicy::allowing(origins, false),
        )
        .expect("client");
        UserAgent::new(target)
    }

    /// Walks from `{as}` + `path` with `agent`, as a person with `account` making `decision`.
    pub async fn walk_with(
        &self,
        agent: &UserAgent,
        path: &str,
        decision: Decision,
        account: &LoginAccount,
    ) -> AuthorizeRun {
        let origins: Vec<String> = self.servers.iter().map(|(n, _)| self.origin(n)).collect();
        let start = Request::new(
            reqwest::Method::GET,
            format!("{}{}", self.origin("as"), self.fill(path)),
        )
        .header("accept", "text/html");
        agent
            .walk(Walk {
                start,
                redirect_uri: CALLBACK,
                origins: &origins,
                decision,
                extra_headers: Vec::new(),
                forge_form: false,
                intercept_return_from: None,
                untick_scope: None,
                login: account,
            })
            .await
    }

    /// [`Stage::walk_with`] with a fresh agent.
    pub async fn walk(
        &self,
        path: &str,
        decision: Decision,
        account: &LoginAccount,
    ) -> AuthorizeRun {
        self.walk_with(&self.agent(), path, decision, account).await
    }

    /// What the agent sent and where it ended, one request a paragraph: the method and URL, the
    /// `Cookie` header, each field of a form body, and the answer's status (and `Location`); the
    /// servers' origins written `{as}` and `{idp}`.
    pub fn render(&self, run: &AuthorizeRun) -> String {
        let origins = self.origins.lock().expect("origins").clone();
        let name = |text: &str| {
            origins.iter().fold(text.to_string(), |t, (n, o)| {
                t.replace(o.as_str(), &format!("{{{n}}}"))
            })
        };
        let mut out = String::new();
        for hop in &run.hops {
            let request = &hop.request;
            out.push_str(&format!("{} {}\n", request.method, name(&request.url)));
            for (n, v) in &request.headers {
                if n.eq_ignore_ascii_case("cookie") {
                    out.push_str(&format!("  cookie: {v}\n"));
                }
            }
            if let Some(body) = &request.body {
                for (n, v) in url::form_urlencoded::parse(body) {
                    out.push_str(&format!("  | {n}={v}\n"));
                }
            }
            match hop.response() {
                Some(r) => match r.header("location") {
                    Some(l) => out.push_str(&format!("  -> {} {}\n", r.status, name(l))),
                    None => out.push_str(&format!("  -> {}\n", r.status)),
                },
                None => out.push_str(&format!("  -> no answer: {}\n", hop.failure())),
            }
        }
        out.push_str(&match &run.end {
            AuthorizeEnd::Callback { url, .. } => format!("end: callback {}\n", name(url)),
            _ => format!("end: {}\n", name(&run.describe_end())),
        });
        out
    }
}

fn fill(origins: &[(String, String)], text: &str) -> String {
    origins
        .iter()
        .fold(text.replace("{callback}", CALLBACK), |t, (n, o)| {
            t.replace(&format!("{{{n}}}"), o)
        })
}

async fn answer(
    State(server): State<Server>,
    method: Method,
    uri: Uri,
    _headers: HeaderMap,
    _body: Bytes,
) -> Response {
    let next = server.script.lock().expect("script").answers.pop_front();
    let Some(answer) = next else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the script has no answer left for {method} {uri}"),
        )
            .into_response();
    };
    let origins = server.origins.lock().expect("origins").clone();
    let mut headers = HeaderMap::new();
    for (n, v) in &answer.headers {
        headers.append(
            HeaderName::from_bytes(n.as_bytes()).expect("a header name"),
            HeaderValue::from_str(&fill(&origins, v)).expect("a header value"),
        );
    }
    (
        StatusCode::from_u16(answer.status).expect("a status"),
        headers,
        fill(&origins, &answer.body),
    )
        .into_response()
}

/// A test account; every value becomes a process-wide secret, so the values are ones no other
/// text of this test binary contains.
pub fn account(
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
