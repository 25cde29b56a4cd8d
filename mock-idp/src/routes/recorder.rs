//! The middleware in front of every protocol endpoint: it reads the body (at most 64 KiB), records
//! the request, applies an injected fault, and records the status answered.
//! Control API requests pass through untouched.

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::Fault;
use crate::faults::{GARBAGE_BODY, MAX_HOLD};
use crate::idp::Idp;
use crate::log::{BODY_CAP, capture, classify};
use crate::oauth_error::OAuthError;

pub(crate) async fn record(State(idp): State<Idp>, request: Request, next: Next) -> Response {
    let Some(endpoint) = classify(request.uri().path()) else {
        // The control API is not recorded, but its bodies are read and capped the same way: a
        // handler that ignores an oversized body would otherwise leave the client blocked
        // sending it while a large answer is written, and the connection would be cut.
        let (parts, body) = request.into_parts();
        return match read_capped(body, BODY_CAP).await {
            Ok((bytes, false)) => {
                next.run(Request::from_parts(parts, Body::from(bytes)))
                    .await
            }
            Ok((_, true)) => OAuthError::payload_too_large().into_response(),
            Err(()) => {
                OAuthError::invalid_request("could not read the request body").into_response()
            }
        };
    };
    let (parts, body) = request.into_parts();
    let (bytes, refusal) = match read_capped(body, BODY_CAP).await {
        Ok((bytes, false)) => (bytes, None),
        Ok((bytes, true)) => (bytes, Some(OAuthError::payload_too_large())),
        Err(()) => (
            Bytes::new(),
            Some(OAuthError::invalid_request(
                "could not read the request body",
            )),
        ),
    };
    let seq = idp.record(capture(&parts, endpoint, &bytes));

    let response = match idp.take_fault(endpoint) {
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
        None => proceed(Request::from_parts(parts, Body::from(bytes)), refusal, next).await,
    };
    idp.record_status(seq, response.status().as_u16());
    response
}

async fn proceed(request: Request, refusal: Option<OAuthError>, next: Next) -> Response {
    match refusal {
        Some(error) => error.into_response(),
        None => next.run(request).await,
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

/// Reads at most `cap` bytes of `body`. The flag says whether the body was longer (the rest is
/// left unread); `Err` means the body could not be read.
async fn read_capped(mut body: Body, cap: usize) -> Result<(Bytes, bool), ()> {
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
                buffer.extend_from_slice(&data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn read_capped_keeps_the_first_bytes() {
        let (bytes, over) = read_capped(Body::from("hello"), 5).await.expect("read");
        assert_eq!((&bytes[..], over), (&b"hello"[..], false));
        let (bytes, over) = read_capped(Body::from("hello!"), 5).await.expect("read");
        assert_eq!((&bytes[..], over), (&b"hello"[..], true));
        let (bytes, over) = read_capped(Body::empty(), 5).await.expect("read");
        assert_eq!((bytes.len(), over), (0, false));
    }
}
