//! Waiting, with a deadline, for something that takes a while: a target picking up a new key, a
//! revocation reaching a proxy, a server listening again. Every wait in the harness goes through
//! here, so each is bounded the same way.

use std::future::Future;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// Runs `attempt` until it breaks or `within` has passed, sleeping `every` between attempts (never
/// past the deadline). It runs at least once. `Ok` holds what broke the loop, `Err` what the last
/// attempt found.
pub async fn poll_until<B, C, F, Fut>(
    within: Duration,
    every: Duration,
    mut attempt: F,
) -> Result<B, C>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ControlFlow<B, C>>,
{
    let started = Instant::now();
    loop {
        match attempt().await {
            ControlFlow::Break(done) => return Ok(done),
            ControlFlow::Continue(last) => {
                let left = within.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(last);
                }
                tokio::time::sleep(every.min(left)).await;
            }
        }
    }
}

/// [`poll_until`] for code that runs outside the async runtime (starting and restarting
/// processes): the same loop, sleeping the thread.
pub fn poll_until_blocking<B, C>(
    within: Duration,
    every: Duration,
    mut attempt: impl FnMut() -> ControlFlow<B, C>,
) -> Result<B, C> {
    let started = Instant::now();
    loop {
        match attempt() {
            ControlFlow::Break(done) => return Ok(done),
            ControlFlow::Continue(last) => {
                let left = within.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(last);
                }
                std::thread::sleep(every.min(left));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stops_when_the_attempt_breaks() {
        let mut n = 0;
        let r: Result<u32, u32> = poll_until(Duration::from_secs(5), Duration::ZERO, || {
            n += 1;
            let n = n;
            async move {
                if n == 3 {
                    ControlFlow::Break(n)
                } else {
                    ControlFlow::Continue(n)
                }
            }
        })
        .await;
        assert_eq!(r, Ok(3));
    }

    #[tokio::test]
    async fn runs_once_and_gives_the_last_value_when_time_is_up() {
        let r: Result<(), &str> = poll_until(Duration::ZERO, Duration::from_secs(60), || async {
            ControlFlow::Continue("last")
        })
        .await;
        assert_eq!(r, Err("last"));
        let r: Result<(), u8> =
            poll_until_blocking(Duration::ZERO, Duration::from_secs(60), || {
                ControlFlow::Continue(7)
            });
        assert_eq!(r, Err(7));
    }
}
