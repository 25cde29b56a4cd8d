//! Merging the verdicts of one check judged on several eras of the wire into one result: the
//! eras it was judged on are named, and a difference between them is a finding.

use crate::check::Status;
use crate::mcp::Wire;
use crate::report::CheckResult;

/// Which verdict stands when eras disagree: a failure anywhere; then a warning; then a pass (the
/// rule was shown to hold on an era, and the details say where it could not be judged); then
/// "not testable"; a skip only when it applied nowhere.
fn severity(status: Status) -> u8 {
    match status {
        Status::Fail => 0,
        Status::Warn => 1,
        Status::Pass => 2,
        Status::NotTestable => 3,
        Status::Info => 1,
        Status::Skip => 4,
    }
}

/// One result from the results of a check on each era (in the order the eras were judged). The
/// worst verdict stands; the others are kept in its details, and when the eras disagree the
/// message says which era it is about.
pub(super) fn merge(mut verdicts: Vec<(Wire, CheckResult)>) -> CheckResult {
    let judged: Vec<String> = verdicts
        .iter()
        .filter(|(_, r)| r.status != Status::Skip)
        .map(|(w, _)| w.describe())
        .collect();
    if verdicts.len() == 1 {
        let (_, mut only) = verdicts.remove(0);
        only.eras = judged;
        return only;
    }
    let worst = verdicts
        .iter()
        .enumerate()
        .min_by_key(|(i, (_, r))| (severity(r.status), *i))
        .map(|(i, _)| i)
        .unwrap_or(0);
    let (worst_wire, _) = verdicts[worst].clone();
    let statuses_differ = verdicts
        .iter()
        .any(|(_, r)| r.status != verdicts[worst].1.status);
    let messages_differ = verdicts
        .iter()
        .any(|(_, r)| r.message != verdicts[worst].1.message);
    let others: Vec<(Wire, CheckResult)> = verdicts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != worst)
        .map(|(_, v)| v.clone())
        .collect();
    let (_, mut result) = verdicts.swap_remove(worst);
    if statuses_differ || messages_differ {
        result.message = format!("{}: {}", worst_wire.describe(), result.message);
        for (wire, other) in others {
            if other.status == result.status && other.message == result.message {
                continue;
            }
            result.details.push(format!(
                "{} {}: {}",
                wire.describe(),
                other.status,
                other.message
            ));
        }
    }
    let judged_statuses: Vec<Status> = std::iter::once(result.status)
        .chain(verdicts.iter().map(|(_, r)| r.status))
        .filter(|s| *s != Status::Skip)
        .collect();
    if judged_statuses.windows(2).any(|w| w[0] != w[1]) {
        let summary: Vec<String> = std::iter::once((worst_wire.describe(), result.status))
            .chain(verdicts.iter().map(|(w, r)| (w.describe(), r.status)))
            .map(|(era, status)| format!("{era} {status}"))
            .collect();
        result
            .details
            .push(format!("the eras differ: {}", summary.join(", ")));
    }
    result.eras = judged;
    result
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::check::Level;
    use crate::spec::{Era, SpecVersion};

    fn wire(era: Era) -> Wire {
        Wire {
            era,
            spec: match era {
                Era::Legacy => SpecVersion::V2025_11_25,
                Era::Modern => SpecVersion::V2026_07_28,
            },
            protocol_version: Some(
                match era {
                    Era::Legacy => "2025-11-25",
                    Era::Modern => "2026-07-28",
                }
                .to_string(),
            ),
        }
    }

    fn result(status: Status, message: &str) -> CheckResult {
        crate::testkit::check_result("aud.wrong-audience", Level::Must, status, message)
    }

    fn check(r: CheckResult, expect: Expect) {
        let mut text = format!("{} {:?} | {}\n", r.status, r.eras, r.message);
        for d in &r.details {
            text.push_str(&format!("  {d}\n"));
        }
        expect.assert_eq(&text);
    }

    #[test]
    fn the_same_verdict_names_both_eras() {
        check(
            merge(vec![
                (wire(Era::Modern), result(Status::Pass, "HTTP 401")),
                (wire(Era::Legacy), result(Status::Pass, "HTTP 401")),
            ]),
            expect![[r#"
                pass ["modern (2026-07-28)", "legacy (2025-11-25)"] | HTTP 401
            "#]],
        );
    }

    #[test]
    fn a_difference_between_eras_is_a_finding() {
        check(
            merge(vec![
                (
                    wire(Era::Modern),
                    result(Status::Fail, "expected HTTP 401, got 200"),
                ),
                (wire(Era::Legacy), result(Status::Pass, "HTTP 401")),
            ]),
            expect![[r#"
                fail ["modern (2026-07-28)", "legacy (2025-11-25)"] | modern (2026-07-28): expected HTTP 401, got 200
                  legacy (2025-11-25) pass: HTTP 401
                  the eras differ: modern (2026-07-28) fail, legacy (2025-11-25) pass
            "#]],
        );
    }

    #[test]
    fn an_era_the_check_does_not_apply_to_is_not_named() {
        check(
            merge(vec![
                (
                    wire(Era::Modern),
                    result(Status::Skip, "the 2026-07-28 wire has no sessions"),
                ),
                (wire(Era::Legacy), result(Status::Pass, "HTTP 401")),
            ]),
            expect![[r#"
                pass ["legacy (2025-11-25)"] | legacy (2025-11-25): HTTP 401
                  modern (2026-07-28) skip: the 2026-07-28 wire has no sessions
            "#]],
        );
    }
}
