//! The IdP's virtual clock.
//!
//! Token times (`iat`, `exp`, `nbf`) and introspection's expiry checks read this clock, so a test can
//! cross an expiry without waiting. The request log's `at_ms` stays on the wall clock.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::api::ClockRequest;

/// Wall-clock Unix time in seconds.
pub(crate) fn wall_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Wall-clock Unix time in milliseconds.
pub(crate) fn wall_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// What "now" means for the IdP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Clock {
    /// The wall clock.
    #[default]
    Real,
    /// Frozen at this Unix time.
    Fixed(i64),
    /// The wall clock shifted by this many seconds (keeps running).
    Offset(i64),
}

impl Clock {
    /// The IdP's time, given the wall-clock time `wall`.
    pub(crate) fn now_at(self, wall: i64) -> i64 {
        match self {
            Clock::Real => wall,
            Clock::Fixed(at) => at,
            Clock::Offset(offset) => wall.saturating_add(offset),
        }
    }

    /// The IdP's time now.
    pub(crate) fn now(self) -> i64 {
        self.now_at(wall_secs())
    }

    /// The clock after a control request. Advancing a running clock keeps it running (as an offset).
    pub(crate) fn apply(self, request: ClockRequest) -> Result<Clock, String> {
        Ok(match request {
            ClockRequest::Set(at) => Clock::Fixed(at),
            ClockRequest::Advance(by) => match self {
                Clock::Real => Clock::Offset(by),
                Clock::Fixed(at) => Clock::Fixed(at.saturating_add(by)),
                Clock::Offset(offset) => Clock::Offset(offset.saturating_add(by)),
            },
            ClockRequest::Real(true) => Clock::Real,
            ClockRequest::Real(false) => {
                return Err(r#"{"real": false} means nothing; send {"real": true}"#.to_owned());
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_follows_the_wall() {
        assert_eq!(Clock::Real.now_at(1_000), 1_000);
    }

    #[test]
    fn set_freezes_and_advance_moves_a_frozen_clock() {
        let clock = Clock::Real.apply(ClockRequest::Set(5_000)).expect("set");
        assert_eq!(clock.now_at(1), 5_000);
        assert_eq!(clock.now_at(99_999), 5_000);
        let clock = clock.apply(ClockRequest::Advance(60)).expect("advance");
        assert_eq!(clock.now_at(1), 5_060);
    }

    #[test]
    fn advance_on_a_running_clock_keeps_it_running() {
        let clock = Clock::Real
            .apply(ClockRequest::Advance(3_600))
            .expect("advance");
        assert_eq!(clock.now_at(100), 3_700);
        assert_eq!(clock.now_at(200), 3_800);
        let clock = clock
            .apply(ClockRequest::Advance(-600))
            .expect("advance back");
        assert_eq!(clock.now_at(100), 3_100);
    }

    #[test]
    fn real_resets_and_false_is_refused() {
        let clock = Clock::Fixed(7)
            .apply(ClockRequest::Real(true))
            .expect("real");
        assert_eq!(clock, Clock::Real);
        assert!(Clock::Fixed(7).apply(ClockRequest::Real(false)).is_err());
    }

    #[test]
    fn the_wall_clock_is_sane() {
        let secs = wall_secs();
        let millis = wall_millis();
        assert!(secs > 1_600_000_000);
        assert!((millis / 1_000).abs_diff(u64::try_from(secs).expect("positive")) <= 1);
        assert!(Clock::Real.now() >= secs);
    }
}
