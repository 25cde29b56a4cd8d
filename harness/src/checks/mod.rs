//! The built-in checks' code, registered under their check IDs.
//!
//! A check that needs more than one request and a comparison is a *probe*: a function of the
//! run's [`Cx`], written in the area file its ID names (`checks/rs/prm.rs` holds the `prm.*`
//! probes of a resource server, `checks/as/token.rs` the `token.*` probes of an authorization
//! server) and registered there, in the area's `PROBES` table, with one line:
//! `probe!("prm.path-inserted" => path_inserted)`. A scenario file runs it with
//! `probe = "prm.path-inserted"`: probe names are check IDs, and a test holds the scenario files
//! and this registry to each other, so a file without code or code without a file fails the build
//! of the test suite rather than a user's run.

use std::future::Future;
use std::pin::Pin;

use crate::context::Ctx;
use crate::discovery::Facts;
use crate::error::HarnessError;
use crate::verdict::{Judged, Stop, Verdict};

/// The longest one check may take, whatever the target does; a check that needs more is
/// reported not testable instead of stalling the run (the runner enforces it; a check that
/// restarts the target plans within it).
pub const CHECK_BUDGET: std::time::Duration = std::time::Duration::from_secs(90);

/// Registers a resource-server probe: `probe!("id" => async_fn)` or `probe!("id" => sync f)`,
/// judged on each era of the wire; `probe!(once "id" => ...)` for one that sends no MCP request
/// of its own (metadata, keys, the IdP's log), judged once.
macro_rules! probe {
    (once $id:literal => $($rest:tt)+) => {
        $crate::checks::Probe {
            per_era: false,
            ..probe!($id => $($rest)+)
        }
    };
    ($id:literal => sync $f:path) => {
        $crate::checks::Probe {
            id: $id,
            run: {
                fn run<'a>(cx: &'a $crate::checks::Cx<'a>) -> $crate::checks::ProbeFuture<'a> {
                    Box::pin(async move { $crate::checks::IntoJudged::into_judged($f(cx)) })
                }
                run
            },
            per_era: true,
        }
    };
    ($id:literal => $f:path) => {
        $crate::checks::Probe {
            id: $id,
            run: {
                fn run<'a>(cx: &'a $crate::checks::Cx<'a>) -> $crate::checks::ProbeFuture<'a> {
                    Box::pin(async move { $crate::checks::IntoJudged::into_judged($f(cx).await) })
                }
                run
            },
            per_era: true,
        }
    };
}

/// Registers an authorization-server probe, a function of [`r#as::AsCx`] (the headless login's
/// context): `as_probe!("id" => async_fn)` or `as_probe!("id" => sync f)`.
macro_rules! as_probe {
    ($id:literal => sync $f:path) => {
        $crate::checks::Probe {
            id: $id,
            run: {
                fn run<'a>(cx: &'a $crate::checks::Cx<'a>) -> $crate::checks::ProbeFuture<'a> {
                    Box::pin(async move {
                        let cx = AsCx::of(cx)?;
                        $crate::checks::IntoJudged::into_judged($f(&cx))
                    })
                }
                run
            },
            per_era: false,
        }
    };
    ($id:literal => $f:path) => {
        $crate::checks::Probe {
            id: $id,
            run: {
                fn run<'a>(cx: &'a $crate::checks::Cx<'a>) -> $crate::checks::ProbeFuture<'a> {
                    Box::pin(async move {
                        let cx = AsCx::of(cx)?;
                        $crate::checks::IntoJudged::into_judged($f(&cx).await)
                    })
                }
                run
            },
            per_era: false,
        }
    };
}

pub(crate) mod r#as;
pub(crate) mod rs;

pub use rs::jwks::resync_after_rotation;

/// What every check runs with: the run's shared state and what discovery found.
#[derive(Debug, Clone, Copy)]
pub struct Cx<'a> {
    pub ctx: &'a Ctx,
    pub facts: &'a Facts,
}

/// A running probe.
pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = Judged> + Send + 'a>>;

/// A built-in probe: the check ID it decides, its code, and whether it sends MCP requests of its
/// own (then it is judged on each era of the wire the target speaks).
#[derive(Clone, Copy)]
pub struct Probe {
    pub id: &'static str,
    pub run: for<'a> fn(&'a Cx<'a>) -> ProbeFuture<'a>,
    pub per_era: bool,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe").field("id", &self.id).finish()
    }
}

/// Every built-in probe, resource-server areas first.
pub fn registry() -> impl Iterator<Item = &'static Probe> {
    rs::AREAS
        .iter()
        .chain(r#as::AREAS)
        .flat_map(|area| area.iter())
}

/// The probe registered under a check ID.
pub fn find(id: &str) -> Option<&'static Probe> {
    registry().find(|p| p.id == id)
}

/// Whether a probe is registered under this name (for the scenario loader).
pub fn is_probe(id: &str) -> bool {
    find(id).is_some()
}

/// Runs the probe registered under `id`; a name no probe has is a harness error (the loader
/// refuses such scenario files, so it cannot happen in a run).
pub async fn run(id: &str, cx: &Cx<'_>) -> Judged {
    match find(id) {
        Some(probe) => (probe.run)(cx).await,
        None => Err(Stop::Harness(HarnessError::Scenario(format!(
            "no probe is registered under {id:?}"
        )))),
    }
}

/// What a probe function may return: a verdict, a verdict or a harness error, or [`Judged`].
pub trait IntoJudged {
    fn into_judged(self) -> Judged;
}

impl IntoJudged for Verdict {
    fn into_judged(self) -> Judged {
        Ok(self)
    }
}

impl IntoJudged for Result<Verdict, Stop> {
    fn into_judged(self) -> Judged {
        self
    }
}

impl IntoJudged for Result<Verdict, HarnessError> {
    fn into_judged(self) -> Judged {
        self.map_err(Stop::from)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    #[test]
    fn every_probe_is_registered_once() {
        let mut seen = BTreeSet::new();
        for probe in super::registry() {
            assert!(seen.insert(probe.id), "{} is registered twice", probe.id);
        }
    }
}
