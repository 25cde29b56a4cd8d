//! The accept loop of [`MockIdp::start`](crate::MockIdp::start): HTTP/1.1 connections with a
//! deadline for request heads (which also closes idle keep-alive connections), a cap on the
//! connections served at once, and a graceful stop. Request bodies get their deadline in the
//! recorder, which reads every body.
//!
//! Written on hyper's connection builder rather than `axum::serve`, which has neither timeouts
//! nor a connection cap: a client that sent half a request head, or opened thousands of idle
//! connections, could hold the server's memory for as long as it liked.

use std::convert::Infallible;
use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot, watch};
use tower_service::Service;

use crate::config::ServeLimits;

/// How long to wait before accepting again after an accept error (e.g. out of file
/// descriptors), so that a persistent error does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `service` on `listener` until `stop` fires (or its sender is dropped), then stops
/// accepting, lets every connection finish its current request, and returns once all are closed.
pub(crate) async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: ServeLimits,
    mut stop: oneshot::Receiver<()>,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let cap = u32::try_from(limits.max_connections)
        .unwrap_or(u32::MAX)
        .max(1);
    let permits = Arc::new(Semaphore::new(cap as usize));
    let (closing, closed) = watch::channel(false);
    loop {
        // A connection beyond the cap waits in the listen queue until one closes.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = &mut stop => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        // Small request/response exchanges: do not wait to coalesce packets.
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let mut closing = closed.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let hyper_service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let mut service = service.clone();
                async move {
                    poll_fn(|cx| service.poll_ready(cx)).await?;
                    service.call(request.map(Body::new)).await
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), hyper_service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                // The watch's guard is dropped inside, before the connection is awaited.
                () = async { let _ = closing.wait_for(|closing| *closing).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    let _ = closing.send(true);
    // Every connection holds a permit until it closes: all permits back means all closed.
    let _ = permits.acquire_many(cap).await;
}
