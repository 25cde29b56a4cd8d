//! What one check (or one step of a scenario) concluded, and how a check stops early.
//!
//! A [`Verdict`] is data: failures, unmet preconditions, warnings and notes, with the exchanges
//! that show them. A check that cannot go on returns [`Stop`] through `?`: either a verdict
//! reached early ("not testable", "does not apply") or a failure of the harness itself.

use crate::error::HarnessError;
use crate::target::Exchange;

/// What a check or step found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Broken expectations: the check fails.
    pub failures: Vec<String>,
    /// Unmet preconditions: the check cannot be judged.
    pub unmet: Vec<String>,
    /// Passed with a remark.
    pub warnings: Vec<String>,
    /// What was observed, for the report.
    pub notes: Vec<String>,
    /// The check does not apply to this target.
    pub skip: Option<String>,
    pub evidence: Vec<Exchange>,
}

impl Verdict {
    pub fn pass(note: impl Into<String>, evidence: Vec<Exchange>) -> Verdict {
        Verdict {
            notes: vec![note.into()],
            evidence,
            ..Default::default()
        }
    }
    pub fn fail(why: impl Into<String>, evidence: Vec<Exchange>) -> Verdict {
        Verdict {
            failures: vec![why.into()],
            evidence,
            ..Default::default()
        }
    }
    pub fn not_testable(why: impl Into<String>, evidence: Vec<Exchange>) -> Verdict {
        Verdict {
            unmet: vec![why.into()],
            evidence,
            ..Default::default()
        }
    }
    pub fn warn(why: impl Into<String>, evidence: Vec<Exchange>) -> Verdict {
        Verdict {
            warnings: vec![why.into()],
            evidence,
            ..Default::default()
        }
    }
    pub fn skip(why: impl Into<String>) -> Verdict {
        Verdict {
            skip: Some(why.into()),
            ..Default::default()
        }
    }

    /// A pass with nothing to show but a note.
    pub fn passed(note: impl Into<String>) -> Verdict {
        Verdict::pass(note, Vec::new())
    }
}

/// Why a check stopped before its end.
#[derive(Debug)]
pub enum Stop {
    /// The check reached its verdict early (most often "not testable" or "does not apply").
    /// Boxed: a verdict is large, and `?` moves this through every frame of a check.
    Early(Box<Verdict>),
    /// The harness could not do its job (the mock IdP did not answer, ...).
    Harness(HarnessError),
}

impl From<HarnessError> for Stop {
    fn from(e: HarnessError) -> Stop {
        Stop::Harness(e)
    }
}

impl From<Verdict> for Stop {
    fn from(v: Verdict) -> Stop {
        Stop::Early(Box::new(v))
    }
}

impl Stop {
    /// Stops with "not testable".
    pub fn not_testable(why: impl Into<String>, evidence: Vec<Exchange>) -> Stop {
        Verdict::not_testable(why, evidence).into()
    }

    /// Stops with "does not apply".
    pub fn skip(why: impl Into<String>) -> Stop {
        Verdict::skip(why).into()
    }

    /// The verdict a stopped check reports: a harness failure makes it not testable.
    pub fn into_verdict(self) -> Verdict {
        match self {
            Stop::Early(v) => *v,
            Stop::Harness(e) => Verdict::not_testable(format!("harness error: {e}"), Vec::new()),
        }
    }
}

/// What a check returns: its verdict, or why it stopped early.
pub type Judged = Result<Verdict, Stop>;
