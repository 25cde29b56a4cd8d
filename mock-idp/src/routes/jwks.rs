//! `GET /jwks`: the published keys, served from bytes serialised once per key change, with an
//! ETag so a conditional refetch costs nothing.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::idp::Idp;
use crate::routes::{REVALIDATE, json_bytes};

pub(crate) async fn jwks(State(idp): State<Idp>, headers: HeaderMap) -> Response {
    let (body, etag) = idp.jwks();
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if not_modified {
        json_bytes(StatusCode::NOT_MODIFIED, Bytes::new(), REVALIDATE)
    } else {
        json_bytes(StatusCode::OK, body, REVALIDATE)
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}
