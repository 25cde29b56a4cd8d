//! The accept loop of [`MockIdp::start`](crate::MockIdp::start): HTTP/1.1 connections with a
//! deadline for request heads (which also closes idle keep-alive connections), a cap on the
//! connections served at once, and a graceful stop. Request bodies get their deadline in the
//! recorder, which reads every body.
//!
//! Written on hyper's connection builder rather than `axum::serve`, which has neither timeouts
//! nor a connection cap: a client that sent half a request head, or opened thousands of idle
//! connections, could hold the server's memory for as long as it liked.
//!
//! The head deadline is kept here, not by hyper's `header_read_timeout`: hyper drops its timer
//! when a head arrives and boxes and registers a new one for the next, on every request of a
//! keep-alive connection (an allocation and two trips through the timer wheel's lock, about 1,800
//! instructions of a 20,000-instruction JWKS answer). Here each connection notes, with an atomic
//! store, when a head is whole and when its answer is ready (from then on it waits for the next
//! head); one timer per connection fires at the start of the wait plus the deadline, and is armed
//! again only when it fires: under steady traffic about once per deadline, never more than once
//! per answer.

use std::convert::Infallible;
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::time::Instant;
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
            let head_clock = Arc::new(HeadClock::new());
            let answering = Arc::clone(&head_clock);
            let hyper_service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let mut service = service.clone();
                // hyper calls the service once a head is whole: no deadline while answering.
                answering.answering();
                let clock = Arc::clone(&answering);
                async move {
                    poll_fn(|cx| service.poll_ready(cx)).await?;
                    let response = service.call(request.map(Body::new)).await;
                    // The next head is awaited from here: sending the answer counts against it
                    // (microseconds for these small answers; a client that will not read its
                    // answer for a whole deadline is cut off).
                    clock.waiting();
                    response
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            // hyper's own header timer would cost a timer per request (see the module comment).
            builder.header_read_timeout(None);
            let connection = builder.serve_connection(TokioIo::new(stream), hyper_service);
            tokio::pin!(connection);
            let limit = limits.header_read_timeout;
            tokio::select! {
                // The connection first: a head that arrived by the deadline is read, even when
                // the task is polled late and the deadline has passed too by then.
                biased;
                _ = connection.as_mut() => {}
                // A head not whole in time, or an idle keep-alive connection: closed unanswered.
                () = head_clock.deadline_passed(limit) => {}
                // The watch's guard is dropped inside, before the connection is awaited.
                () = async { let _ = closing.wait_for(|closing| *closing).await; } => {
                    connection.as_mut().graceful_shutdown();
                    // hyper closes an idle connection at once, but one holding part of its first
                    // head waits for the rest: the deadline still holds, or the stop would wait
                    // for that client forever.
                    tokio::select! {
                        biased;
                        _ = connection.as_mut() => {}
                        () = head_clock.deadline_passed(limit) => {}
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = closing.send(true);
    // Every connection holds a permit until it closes: all permits back means all closed.
    let _ = permits.acquire_many(cap).await;
}

/// When a connection started waiting for a request head, or that it is answering one.
#[derive(Debug)]
struct HeadClock {
    opened: Instant,
    /// Milliseconds from `opened` to when the connection started waiting for a head;
    /// [`HeadClock::ANSWERING`] while a request is being answered.
    waiting_since_ms: AtomicU64,
}

impl HeadClock {
    const ANSWERING: u64 = u64::MAX;

    /// A connection that has just opened: it waits for its first head.
    fn new() -> Self {
        HeadClock {
            opened: Instant::now(),
            waiting_since_ms: AtomicU64::new(0),
        }
    }

    fn answering(&self) {
        self.waiting_since_ms
            .store(Self::ANSWERING, Ordering::Release);
    }

    fn waiting(&self) {
        let since = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.waiting_since_ms.store(since, Ordering::Release);
    }

    /// Resolves once the connection has waited `limit` for a head: the wait that began last,
    /// whenever it began; never while a request is being answered. A limit too large for the
    /// clock never fires; one under a millisecond counts as a millisecond.
    async fn deadline_passed(&self, limit: Duration) {
        let limit = limit.max(Duration::from_millis(1));
        loop {
            let since = self.waiting_since_ms.load(Ordering::Acquire);
            if since == Self::ANSWERING {
                // Looked at again later: an answer that ends meanwhile starts a wait whose
                // deadline is at least `limit` after it, so no deadline is missed.
                match Instant::now().checked_add(limit) {
                    Some(later) => tokio::time::sleep_until(later).await,
                    None => std::future::pending().await,
                }
                continue;
            }
            // Rounded up: the deadline never fires before `limit` has passed.
            let started = Duration::from_millis(since.saturating_add(1));
            let Some(deadline) = self.opened.checked_add(started + limit) else {
                return std::future::pending().await;
            };
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}
