//! `GET /jwks`: the published keys, served from bytes serialised once per key change, with an
//! ETag so a conditional refetch costs nothing.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::idp::Idp;

// The request is taken whole rather than through the `HeaderMap` extractor, which would copy
// the headers on every call of the busiest endpoint.
pub(crate) async fn jwks(State(idp): State<Idp>, request: Request) -> Response {
    answer(&idp, request.headers())
}

/// The answer to `GET /jwks` with these request headers: 200 with the document, or 304 when an
/// `If-None-Match` field names the current ETag (or is `*`). Its headers come ready from the key
/// set (built once per key change), so a request costs a clone of them, not five inserts; they
/// include what axum and the recorder would add (`Content-Length`, CORS), so the answer is the
/// same whether the router made it or the recorder did, without it (see `Recorder::call`).
pub(crate) fn answer(idp: &Idp, request: &HeaderMap) -> Response {
    let (body, mut headers) = idp.jwks();
    let not_modified = request.contains_key(header::IF_NONE_MATCH) && {
        let etag = headers.get(header::ETAG).map(HeaderValue::as_bytes);
        names_current(request, etag.unwrap_or_default())
    };
    let (status, body) = if not_modified {
        // No body; hyper does not send a 304's length either.
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else {
        (StatusCode::OK, body)
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Whether the request's `If-None-Match` fields (all of them) list `etag` or `*`, compared weakly
/// as RFC 9110 §13.1.2 requires (a `W/` prefix on either side is ignored: a proxy that weakened
/// the ETag still gets its 304). A field that is not visible ASCII matches nothing.
fn names_current(request: &HeaderMap, etag: &[u8]) -> bool {
    fn opaque(tag: &[u8]) -> &[u8] {
        let tag = tag.trim_ascii();
        tag.strip_prefix(b"W/").unwrap_or(tag)
    }
    let etag = opaque(etag);
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| {
            let tag = opaque(tag.as_bytes());
            tag == b"*" || tag == etag
        })
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::poll_fn;

    use axum::http::Method;
    use tower_service::Service;

    use super::*;
    use crate::config::IdpConfig;
    use crate::routes::recorder::Recording;

    /// Status, headers in their order, and body of one answer from `service`.
    async fn ask<S>(service: &mut S, method: Method, if_none_match: Option<&str>) -> String
    where
        S: Service<Request, Response = Response, Error = Infallible>,
    {
        let mut request = Request::builder().method(method).uri("/jwks?x=1");
        if let Some(tag) = if_none_match {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        let request = request.body(Body::empty()).expect("request");
        let Ok(()) = poll_fn(|cx| service.poll_ready(cx)).await;
        let Ok(response) = service.call(request).await;
        text_of(response).await
    }

    async fn text_of(response: Response) -> String {
        let mut text = format!("{}\n", response.status());
        for (name, value) in response.headers() {
            text.push_str(&format!("{name}: {}\n", value.to_str().expect("text")));
        }
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        text.push_str(std::str::from_utf8(&body).expect("utf-8"));
        text
    }

    /// The server alone answers `GET /jwks` in its recorder, without the router; every other
    /// shape of the application routes it. Both must give the same answer, byte for byte, and
    /// both must record the request with its status.
    #[tokio::test]
    async fn the_recorders_answer_is_the_routers() {
        let idp = Idp::new(&IdpConfig::default(), "http://127.0.0.1:1".to_owned()).expect("idp");
        let mut alone = crate::routes::served_alone(idp.clone());
        let mut routed = crate::routes::app(idp.clone(), Some([].into()));
        let (_, headers) = idp.jwks();
        let etag = headers[header::ETAG].to_str().expect("etag").to_owned();
        let cases = [
            (Method::GET, None),
            (Method::GET, Some(etag.clone())),
            (Method::GET, Some(format!("\"other\", {etag}"))),
            (Method::GET, Some("\"other\"".to_owned())),
            (Method::GET, Some("*".to_owned())),
            (Method::GET, Some(format!("W/{etag}"))),
            // Routed by both (only GET is answered in the recorder); HEAD drops the body.
            (Method::HEAD, None),
        ];
        for (method, tag) in cases {
            let before = idp.requests(None).len();
            let direct = ask(&mut alone, method.clone(), tag.as_deref()).await;
            let through_router = ask(&mut routed, method.clone(), tag.as_deref()).await;
            assert_eq!(direct, through_router, "{method} If-None-Match {tag:?}");
            let recorded = idp.requests(None);
            assert_eq!(
                recorded.len(),
                before + 2,
                "{method} {tag:?}: both recorded"
            );
            let status: u16 = direct[..3].parse().expect("status");
            for entry in &recorded[before..] {
                assert_eq!(status, entry.status, "{method} {tag:?}");
            }
        }
        // The one-issuer server really answers GET itself (a fault armed or a log subscriber
        // would send both through the router, and the comparison above would prove nothing).
        let request = Request::builder()
            .uri("/jwks")
            .body(Body::empty())
            .expect("request");
        let direct = alone.call(request);
        assert!(
            matches!(direct, Recording::Ready(Some(_))),
            "answered by the recorder"
        );
        let plain = ask(&mut alone, Method::GET, None).await;
        assert!(
            plain.starts_with("200 OK\ncontent-type: application/json\n"),
            "{plain}"
        );
        assert!(
            plain.contains("\netag: \"") && plain.contains("\naccess-control-allow-origin: *\n")
        );
        let not_modified = ask(&mut alone, Method::GET, Some(&etag)).await;
        assert!(
            not_modified.starts_with("304 Not Modified\n"),
            "{not_modified}"
        );
        assert!(
            not_modified.contains("\ncontent-length: 0\n"),
            "{not_modified}"
        );
    }

    fn asking(fields: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for field in fields {
            headers.append(
                header::IF_NONE_MATCH,
                HeaderValue::from_str(field).expect("value"),
            );
        }
        headers
    }

    #[test]
    fn if_none_match_is_compared_weakly_over_every_field() {
        let etag = b"\"abc\"";
        assert!(names_current(&asking(&["\"abc\""]), etag));
        assert!(names_current(&asking(&["W/\"abc\""]), etag));
        assert!(names_current(&asking(&["\"x\" , W/\"abc\""]), etag));
        assert!(names_current(&asking(&["\"x\"", "\"abc\""]), etag));
        assert!(names_current(&asking(&["*"]), etag));
        assert!(names_current(&asking(&["\"abc\""]), b"W/\"abc\""));
        assert!(!names_current(&asking(&["\"abcd\""]), etag));
        assert!(!names_current(&asking(&["abc"]), etag));
        assert!(!names_current(&asking(&[]), etag));
        let mut odd = HeaderMap::new();
        odd.append(
            header::IF_NONE_MATCH,
            HeaderValue::from_bytes(b"\"abc\", \xff").expect("obs-text"),
        );
        assert!(
            !names_current(&odd, etag),
            "a field with obs-text matches nothing"
        );
    }
}
