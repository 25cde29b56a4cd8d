//! `GET /jwks`: the published keys, served from bytes serialised once per key change, with an
//! ETag so a conditional refetch costs nothing.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;

use crate::idp::Idp;
use crate::respond::{REVALIDATE, json_bytes};

// The request is taken whole rather than through the `HeaderMap` extractor, which would copy
// the headers on every call of the busiest endpoint.
pub(crate) async fn jwks(State(idp): State<Idp>, request: Request) -> Response {
    let (body, etag) = idp.jwks();
    let etag_text = etag.to_str().unwrap_or_default();
    let not_modified = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|tag| tag.trim() == etag_text || tag.trim() == "*")
        });
    let mut response = if not_modified {
        json_bytes(StatusCode::NOT_MODIFIED, Bytes::new(), REVALIDATE)
    } else {
        json_bytes(StatusCode::OK, body, REVALIDATE)
    };
    response.headers_mut().insert(header::ETAG, etag);
    response
}
