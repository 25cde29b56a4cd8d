//! The service in front of every protocol endpoint: it reads the body (at most 64 KiB), records
//! the request, applies an injected fault, records the status answered (and why it was refused,
//! when it was), emits the request's log line when something listens, and adds CORS.
//! Control API requests are neither recorded nor faulted.
//!
//! It is a hand-written tower service rather than `axum::middleware::from_fn` because it runs on
//! every request of the busiest endpoints: a request without a body, with no fault armed, goes
//! straight to the handler with nothing boxed or cloned (`from_fn` boxes a future and clones the
//! inner route on every call, which cost the JWKS endpoint about a tenth of its throughput).

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::api::{EndpointKind, Fault, Refusal};
use crate::events;
use crate::faults::{GARBAGE_BODY, MAX_HOLD};
use crate::idp::Idp;
use crate::log::{BODY_CAP, capture, capture_head, classify};
use crate::oauth_error::OAuthError;
use crate::routes::{allow_any_origin, jwks, preflight};

/// Puts a [`Recorder`] for one issuer in front of each route of its application.
#[derive(Clone)]
pub(crate) struct RecordLayer {
    idp: Idp,
    /// Whether the application serves the `/` page (its routes are then not recorded).
    pages: bool,
    /// Whether the recorder answers `GET /jwks` itself (see [`RecordLayer::answering_jwks`]).
    jwks: bool,
}

impl RecordLayer {
    pub(crate) fn new(idp: Idp, pages: bool) -> Self {
        RecordLayer {
            idp,
            pages,
            jwks: false,
        }
    }

    /// The recorder answers a plain `GET /jwks` (no body, no fault armed, no log line) itself,
    /// with the answer the router's `/jwks` route makes, without routing it: the busiest endpoint
    /// then skips the router's lookup and its per-request clones of the route and of the IdP's
    /// handle (shared counters that both cores write under load). Only for a recorder wrapped
    /// around a whole root application, which sees the full path and whose `/jwks` is that route.
    pub(crate) fn answering_jwks(mut self) -> Self {
        self.jwks = true;
        self
    }
}

impl<S> Layer<S> for RecordLayer {
    type Service = Recorder<S>;

    fn layer(&self, inner: S) -> Recorder<S> {
        Recorder {
            idp: self.idp.clone(),
            pages: self.pages,
            jwks: self.jwks,
            inner,
        }
    }
}

/// One route behind the recorder.
#[derive(Clone)]
pub(crate) struct Recorder<S> {
    idp: Idp,
    pages: bool,
    jwks: bool,
    inner: S,
}

impl<S> Service<Request> for Recorder<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + Unpin + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Recording<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if self.pages && crate::routes::page::is_page(request.uri().path()) {
            // The page: for people, never recorded or faulted, and only for requests that name
            // the IdP (like the control API, against DNS rebinding).
            let inner = self.take_inner();
            return Recording::Boxed(Box::pin(page(self.idp.clone(), request, inner)));
        }
        let Some(endpoint) = classify(request.uri().path()) else {
            // The control API: guarded, never recorded, faulted or given CORS.
            let inner = self.take_inner();
            return Recording::Boxed(Box::pin(control(self.idp.clone(), request, inner)));
        };
        if let Some(answer) = preflight(&request) {
            return Recording::Ready(Some(answer));
        }
        // Without a body to read, a fault that may hold or rewrite the answer, or a log line to
        // write, nothing needs awaiting before the handler runs: record and call the (ready)
        // inner route directly. When nothing listens to the log, asking costs one cached check.
        if request.body().size_hint().exact() == Some(0)
            && !self.idp.faults_armed()
            && !events::enabled()
        {
            let seq = self.idp.record(capture_head(
                request.method(),
                request.uri(),
                request.headers(),
                endpoint,
                &Bytes::new(),
            ));
            if self.jwks && endpoint == EndpointKind::Jwks && request.method() == Method::GET {
                let response = jwks::answer(&self.idp, request.headers());
                self.idp.record_status(seq, response.status().as_u16());
                return Recording::Ready(Some(response));
            }
            return Recording::Direct {
                inner: self.inner.call(request),
                idp: self.idp.clone(),
                seq,
            };
        }
        let inner = self.take_inner();
        let idp = self.idp.clone();
        Recording::Boxed(Box::pin(async move {
            let mut response = record_inner(idp, endpoint, request, inner).await;
            allow_any_origin(&mut response);
            response
        }))
    }
}

impl<S: Clone> Recorder<S> {
    /// The inner route, made ready by `poll_ready`, for an answer made later: a fresh clone is
    /// left in its place (tower's rule for calling a service after `call` returns).
    fn take_inner(&mut self) -> S {
        let fresh = self.inner.clone();
        std::mem::replace(&mut self.inner, fresh)
    }
}

/// The answer of a [`Recorder`].
pub(crate) enum Recording<F> {
    /// Answered without the handler (a CORS preflight, `GET /jwks`); `None` once taken.
    Ready(Option<Response>),
    /// The handler runs directly; its status is recorded under `seq` when it answers.
    Direct { inner: F, idp: Idp, seq: u64 },
    /// The general path: body read, faults applied.
    Boxed(Pin<Box<dyn Future<Output = Response> + Send>>),
}

impl<F> Future for Recording<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Recording::Ready(answer) => Poll::Ready(Ok(answer.take().unwrap_or_else(|| {
                // Polled again after it answered: a caller's bug, answered without a panic.
                OAuthError::server_error(StatusCode::INTERNAL_SERVER_ERROR).into_response()
            }))),
            Recording::Direct { inner, idp, seq } => {
                let Ok(mut response) = ready!(Pin::new(inner).poll(cx));
                idp.record_status(*seq, response.status().as_u16());
                if let Some(refusal) = response.extensions().get::<Refusal>() {
                    idp.record_refusal(*seq, refusal.clone());
                }
                allow_any_origin(&mut response);
                Poll::Ready(Ok(response))
            }
            Recording::Boxed(future) => future.as_mut().poll(cx).map(Ok),
        }
    }
}

/// Calls a route that may not have been polled ready yet.
async fn run<S>(mut inner: S, request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let Ok(()) = poll_fn(|cx| inner.poll_ready(cx)).await;
    let Ok(response) = inner.call(request).await;
    response
}

/// A request for the page: refused unless addressed to this server by one of its names.
async fn page<S>(idp: Idp, request: Request, next: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let (parts, body) = request.into_parts();
    if let Some(refusal) = crate::control::misdirected(&idp, &parts) {
        return refusal.into_response();
    }
    run(next, Request::from_parts(parts, body)).await
}

/// A control request: refused unless it comes from a program addressing this server (see
/// `control::refusal`), its body read under the same cap and deadline as any other (a handler that
/// ignores an oversized body would otherwise leave the client blocked sending it while a large
/// answer is written, and the connection would be cut). No CORS headers, ever.
async fn control<S>(idp: Idp, request: Request, next: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let (parts, body) = request.into_parts();
    if let Some(refusal) = crate::control::refusal(&idp, &parts) {
        return refusal.into_response();
    }
    let bytes = match read_body(&idp, body).await {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal,
    };
    if let Some(refusal) = crate::control::body_refusal(&parts, &bytes) {
        return refusal.into_response();
    }
    run(next, Request::from_parts(parts, Body::from(bytes))).await
}

/// A request body, read whole within the cap and the deadline; otherwise the error answer.
async fn read_body(idp: &Idp, body: Body) -> Result<Bytes, Response> {
    match read_within_deadline(idp, body).await {
        Ok(Ok((bytes, false))) => Ok(bytes),
        Ok(Ok((_, true))) => Err(OAuthError::payload_too_large().into_response()),
        Ok(Err(())) => {
            Err(OAuthError::invalid_request("could not read the request body").into_response())
        }
        Err(_) => Err(body_too_slow(idp)),
    }
}

/// 408 for a body that did not arrive in time; the connection is closed, since the rest of the
/// body may still come.
fn body_too_slow(idp: &Idp) -> Response {
    let mut response = OAuthError::new(StatusCode::REQUEST_TIMEOUT, "invalid_request")
        .with_description(format!(
            "the request body did not arrive within {} s",
            idp.body_read_timeout().as_secs_f32()
        ))
        .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

async fn record_inner<S>(idp: Idp, endpoint: EndpointKind, request: Request, next: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let logging = events::enabled();
    let (parts, body) = request.into_parts();
    let read = read_within_deadline(&idp, body).await;
    let (bytes, refusal) = match read {
        Ok(Ok((bytes, false))) => (bytes, None),
        Ok(Ok((bytes, true))) => (bytes, Some(OAuthError::payload_too_large().into_response())),
        Ok(Err(())) => (
            Bytes::new(),
            Some(OAuthError::invalid_request("could not read the request body").into_response()),
        ),
        Err(_) => (Bytes::new(), Some(body_too_slow(&idp))),
    };
    let seq = idp.record(capture(&parts, endpoint, &bytes));

    // Reading the client out of the request costs a parse; only client-scoped faults and the
    // log line need it.
    let client = if logging || idp.has_client_faults() {
        client_of(&parts, &bytes)
    } else {
        None
    };
    // What the log line says of the request, taken before the request is handed on.
    let head = logging.then(|| {
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| parts.uri.path(), |original| original.path())
            .to_owned();
        (parts.method.clone(), path)
    });
    let fault = idp.take_fault(endpoint, client.as_deref());
    let fault_name = fault.as_ref().map(fault_name);
    let response = match fault {
        Some(Fault::Status { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            OAuthError::server_error(status).into_response()
        }
        Some(Fault::Garbage) => {
            let mut response = Response::new(Body::from(GARBAGE_BODY));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Some(Fault::Hang) => {
            hold(&idp, MAX_HOLD).await;
            OAuthError::server_error(StatusCode::SERVICE_UNAVAILABLE)
                .with_description("hang fault released")
                .into_response()
        }
        Some(Fault::Delay { ms }) => {
            hold(&idp, Duration::from_millis(ms)).await;
            proceed(Request::from_parts(parts, Body::from(bytes)), refusal, next).await
        }
        Some(Fault::OauthError {
            error,
            status,
            description,
        }) => {
            let status = status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::BAD_REQUEST);
            let mut body = serde_json::json!({ "error": error });
            if let Some(description) = description {
                body["error_description"] = serde_json::json!(description);
            }
            let mut response = (status, body.to_string()).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Some(Fault::Truncated) => {
            let real = proceed(Request::from_parts(parts, Body::from(bytes)), refusal, next).await;
            rewrite_body(real, |body| {
                let half = body.len() / 2;
                (body.slice(..half), None)
            })
            .await
        }
        Some(Fault::FormEncoded) => {
            let real = proceed(Request::from_parts(parts, Body::from(bytes)), refusal, next).await;
            rewrite_body(real, |body| {
                (
                    Bytes::from(json_as_form(&body)),
                    Some("application/x-www-form-urlencoded"),
                )
            })
            .await
        }
        Some(Fault::Html) => {
            let mut response = Response::new(Body::from(HTML_BODY));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        None => proceed(Request::from_parts(parts, Body::from(bytes)), refusal, next).await,
    };
    let status = response.status().as_u16();
    idp.record_status(seq, status);
    let refusal = response.extensions().get::<Refusal>();
    if let Some(refusal) = refusal {
        idp.record_refusal(seq, refusal.clone());
    }
    if let Some((method, path)) = &head {
        events::emit(&events::Line {
            seq,
            method: method.as_str(),
            path,
            status,
            client: client.as_deref(),
            refusal,
            fault: fault_name,
        });
    }
    response
}

/// A fault's `kind`, as the control API names it.
fn fault_name(fault: &Fault) -> &'static str {
    match fault {
        Fault::Status { .. } => "status",
        Fault::Hang => "hang",
        Fault::Garbage => "garbage",
        Fault::Delay { .. } => "delay",
        Fault::OauthError { .. } => "oauth-error",
        Fault::Truncated => "truncated",
        Fault::FormEncoded => "form-encoded",
        Fault::Html => "html",
    }
}

/// The body of an `html` fault: what a login wall or a proxy's error page looks like.
const HTML_BODY: &str = "<!doctype html><html><head><title>Sign in</title></head><body><h1>Please sign in</h1></body></html>";

/// The largest real answer a body-rewriting fault reads.
const REWRITE_CAP: usize = 1 << 20;

/// Replaces the body of `response` (and its content type, when given).
async fn rewrite_body(
    response: Response,
    change: impl FnOnce(Bytes) -> (Bytes, Option<&'static str>),
) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, REWRITE_CAP).await else {
        return OAuthError::server_error(StatusCode::INTERNAL_SERVER_ERROR).into_response();
    };
    let (bytes, content_type) = change(bytes);
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Some(content_type) = content_type {
        parts
            .headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A flat JSON object as a form: strings as they are, other values as JSON text. Anything that
/// is not an object becomes an empty form.
fn json_as_form(body: &[u8]) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) else {
        return String::new();
    };
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in &map {
        match value {
            serde_json::Value::String(s) => form.append_pair(key, s),
            other => form.append_pair(key, &other.to_string()),
        };
    }
    form.finish()
}

/// The client a request names: Basic credentials, else `client_id` in the form or the query.
fn client_of(parts: &axum::http::request::Parts, body: &[u8]) -> Option<String> {
    use base64::Engine as _;
    if let Some(value) = parts.headers.get(header::AUTHORIZATION)
        && let Ok(text) = value.to_str()
        && let Some((scheme, payload)) = text.split_once(' ')
        && scheme.eq_ignore_ascii_case("basic")
        && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(payload.trim())
        && let Ok(decoded) = String::from_utf8(decoded)
        && let Some((id, _)) = decoded.split_once(':')
    {
        return Some(
            url::form_urlencoded::parse(format!("c={id}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| id.to_owned()),
        );
    }
    let from = |bytes: &[u8]| {
        url::form_urlencoded::parse(bytes)
            .find(|(k, _)| k == "client_id")
            .map(|(_, v)| v.into_owned())
    };
    from(body).or_else(|| parts.uri.query().and_then(|q| from(q.as_bytes())))
}

async fn proceed<S>(request: Request, refusal: Option<Response>, next: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    match refusal {
        Some(answer) => answer,
        None => run(next, request).await,
    }
}

/// Sleeps for `duration`, or until the server stops.
async fn hold(idp: &Idp, duration: Duration) {
    let mut stopping = idp.stopping();
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        _ = stopping.wait_for(|stopping| *stopping) => {}
    }
}

/// [`read_capped`] with [`BODY_CAP`] under the body deadline (`Err` when it passed), which starts
/// now. The deadline's timer is armed only if the body is still incomplete at the second poll:
/// hyper hands over a body that came with the head (a form, nearly every request) one poll after
/// the handler first asks for it, and arming and dropping a timer takes the time driver's lock,
/// which the workers share, on every request. The first `Pending` wakes the task, so the second
/// poll comes, and with it the timer, whether or not the body moves.
async fn read_within_deadline(
    idp: &Idp,
    body: Body,
) -> Result<Result<(Bytes, bool), ()>, tokio::time::error::Elapsed> {
    let deadline = tokio::time::Instant::now() + idp.body_read_timeout();
    let mut read = std::pin::pin!(read_capped(body, BODY_CAP));
    let mut first = true;
    let early = poll_fn(|cx| match read.as_mut().poll(cx) {
        Poll::Ready(done) => Poll::Ready(Some(done)),
        Poll::Pending if first => {
            first = false;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Poll::Pending => Poll::Ready(None),
    })
    .await;
    match early {
        Some(done) => Ok(done),
        None => tokio::time::timeout_at(deadline, read).await,
    }
}

/// Reads at most `cap` bytes of `body`. The flag says whether the body was longer (the rest is
/// left unread); `Err` means the body could not be read.
async fn read_capped(mut body: Body, cap: usize) -> Result<(Bytes, bool), ()> {
    // Most GETs have no body at all: nothing to poll.
    if body.size_hint().exact() == Some(0) {
        return Ok((Bytes::new(), false));
    }
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let frame = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => return Ok((Bytes::from(buffer), false)),
            Some(Err(_)) => return Err(()),
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue; // trailers
                };
                let room = cap - buffer.len();
                if data.len() > room {
                    buffer.extend_from_slice(&data[..room]);
                    return Ok((Bytes::from(buffer), true));
                }
                // A whole body in one frame (a form sent with its head): kept as it came.
                if buffer.is_empty() && body.is_end_stream() {
                    return Ok((data, false));
                }
                buffer.extend_from_slice(&data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_answers_become_forms() {
        assert_eq!(
            json_as_form(br#"{"access_token":"a b","expires_in":300,"token_type":"bearer"}"#),
            "access_token=a+b&expires_in=300&token_type=bearer"
        );
        assert_eq!(json_as_form(b"[1]"), "");
    }

    #[test]
    fn the_client_is_read_from_basic_form_or_query() {
        let request = axum::http::Request::builder()
            .uri("/authorize?client_id=q")
            .header(header::AUTHORIZATION, "Basic bXkrYXBwOnNlY3JldA==")
            .body(())
            .expect("request");
        let (parts, ()) = request.into_parts();
        assert_eq!(client_of(&parts, b"client_id=f").as_deref(), Some("my app"));
        let request = axum::http::Request::builder()
            .uri("/authorize?client_id=q")
            .body(())
            .expect("request");
        let (parts, ()) = request.into_parts();
        assert_eq!(client_of(&parts, b"client_id=f").as_deref(), Some("f"));
        assert_eq!(client_of(&parts, b"").as_deref(), Some("q"));
    }

    #[tokio::test]
    async fn read_capped_keeps_the_first_bytes() {
        let (bytes, over) = read_capped(Body::from("hello"), 5).await.expect("read");
        assert_eq!((&bytes[..], over), (&b"hello"[..], false));
        let (bytes, over) = read_capped(Body::from("hello!"), 5).await.expect("read");
        assert_eq!((&bytes[..], over), (&b"hello"[..], true));
        let (bytes, over) = read_capped(Body::empty(), 5).await.expect("read");
        assert_eq!((bytes.len(), over), (0, false));
        // A body in several frames is gathered.
        let frames = |parts: &[&'static [u8]]| Body::new(Frames(parts.iter().copied().collect()));
        let (bytes, over) = read_capped(frames(&[b"he", b"llo"]), 5)
            .await
            .expect("read");
        assert_eq!((&bytes[..], over), (&b"hello"[..], false));
        let (bytes, over) = read_capped(frames(&[b"he", b"llo!"]), 5)
            .await
            .expect("read");
        assert_eq!((&bytes[..], over), (&b"hello"[..], true));
    }

    /// A body that yields its frames one by one.
    struct Frames(std::collections::VecDeque<&'static [u8]>);

    impl HttpBody for Frames {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
            let next = self.get_mut().0.pop_front();
            Poll::Ready(next.map(|data| Ok(hyper::body::Frame::data(Bytes::from_static(data)))))
        }
    }
}
