//! The harness graded against the reference target.
//!
//! Trials:
//! - `scenario-file/<path>`: each built-in scenario file parses and validates on its own;
//! - `self-test/<variant>`: the whole suite runs against one reference-target variant (with its
//!   own mock IdP on ephemeral ports) and every verdict matches the expectation table; the
//!   redacted report is compared with `reports/snapshots/<variant>.snap`;
//! - `coverage/*`: every fault variant is caught by some check and every check is shown failing
//!   by some variant;
//! - `cool-down/<variant>`: `jwks.outage-fails-closed` against a target inside a JWKS refetch
//!   cool-down, judged on a restarted target;
//! - `revision/<revision>`: the rules each revision applies, listed in
//!   `reports/snapshots/rules-<revision>.snap`, and a run of the conformant target judged against
//!   an older revision applies no rule of a later one.

mod expectations;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use harness::check::Status;
use harness::{Limits, Options, RunConfig, SpecVersion};
use libtest_mimic::{Arguments, Failed, Trial};
use reference_target::{TargetConfig, Trust, ValidationKind, Variant};

fn main() {
    let args = Arguments::from_args();
    let catalogue = harness::load_catalogue(&[]).expect("the built-in scenarios load");
    let mut trials = Vec::new();
    for (path, text) in harness::scenario::builtin_files() {
        let path = path.to_string();
        trials.push(Trial::test(format!("scenario-file/{path}"), move || {
            harness::scenario::parse_scenario(&path, text, &harness::checks::is_probe)
                .map(drop)
                .map_err(|e| Failed::from(e.to_string()))
        }));
    }
    for &variant in Variant::ALL {
        let catalogue = catalogue.clone();
        trials.push(Trial::test(
            format!("self-test/{}", variant.name()),
            move || self_test(variant, catalogue),
        ));
    }
    for (name, variant, failing_restart) in [
        ("conformant", Variant::Conformant, None),
        ("jwks-outage-fails-open", Variant::JwksOutageFailsOpen, None),
        ("second-restart-fails", Variant::Conformant, Some(2)),
    ] {
        let catalogue = catalogue.clone();
        trials.push(Trial::test(format!("cool-down/{name}"), move || {
            cool_down_test(variant, failing_restart, catalogue)
        }));
    }
    for &revision in SpecVersion::ALL {
        let catalogue = catalogue.clone();
        trials.push(Trial::test(
            format!("revision/{}", revision.as_str()),
            move || revision_test(revision, catalogue),
        ));
    }
    let ids: BTreeSet<String> = catalogue
        .scenarios
        .iter()
        .map(|(_, s)| s.id.clone())
        .collect();
    trials.push(Trial::test("coverage/every-check-is-caught-failing", move || {
        let caught: BTreeSet<&str> =
            Variant::ALL.iter().flat_map(|v| expectations::expectation(*v).fails.iter().copied()).collect();
        let missing: Vec<&String> = ids.iter().filter(|id| !caught.contains(id.as_str())).collect();
        let unknown: Vec<&&str> = caught.iter().filter(|id| !ids.contains(**id)).collect();
        if !missing.is_empty() || !unknown.is_empty() {
            return Err(format!("checks no variant fails: {missing:?}; unknown check IDs in the table: {unknown:?}").into());
        }
        Ok(())
    }));
    trials.push(Trial::test("coverage/every-fault-is-caught", || {
        let uncaught: Vec<&str> = Variant::ALL
            .iter()
            .filter(|v| !v.is_conformant() && expectations::expectation(**v).fails.is_empty())
            .map(|v| v.name())
            .collect();
        if uncaught.is_empty() {
            Ok(())
        } else {
            Err(format!("fault variants no check catches: {uncaught:?}").into())
        }
    }));
    libtest_mimic::run(&args, trials).exit();
}

fn self_test(variant: Variant, catalogue: harness::Catalogue) -> Result<(), Failed> {
    let report = run_against(variant, SpecVersion::LATEST, catalogue, &Setup::default())?;
    grade(variant, &report)
}

/// `jwks.outage-fails-closed` against a target inside a refetch cool-down (as FastMCP's
/// `JWTVerifier` keeps one, 30 s): the running target never refetches within the wait, so the
/// outage is shown to a restarted one. The conformant target passes; one that believes the
/// claims when its keys cannot be fetched fails, exactly as when it refetches at once. When the
/// restart for the second kind of outage fails (`failing_restart`: which restart), the first
/// kind's verdict stands, the report says the second was not judged, and the target is restored.
fn cool_down_test(
    variant: Variant,
    failing_restart: Option<u32>,
    catalogue: harness::Catalogue,
) -> Result<(), Failed> {
    let setup = Setup {
        jwks_min_refetch: Duration::from_secs(120),
        checks: vec!["jwks.outage-fails-closed".to_string()],
        failing_restart,
    };
    let report = run_against(variant, SpecVersion::LATEST, catalogue, &setup)?;
    let check = report
        .checks
        .iter()
        .find(|c| c.id == "jwks.outage-fails-closed")
        .ok_or("jwks.outage-fails-closed is not in the report")?;
    let wanted = if variant.is_conformant() {
        Status::Pass
    } else {
        Status::Fail
    };
    let text = format!("{} | {}", check.message, check.details.join(" | "));
    if check.status != wanted {
        return Err(format!("expected {wanted}, got {}: {text}", check.status).into());
    }
    if !text.contains("freshly restarted target") {
        return Err(format!("the outage was not shown to a restarted target: {text}").into());
    }
    if text.contains("could not be restored") || text.contains("did not accept a valid token") {
        return Err(format!("the target was not restored after the outage: {text}").into());
    }
    let second_judged = text.contains("a body that is not JSON: refused");
    let second_skipped = text.contains("a body that is not JSON: not judged: ");
    match failing_restart {
        None if variant.is_conformant() && !second_judged => {
            Err(format!("the second kind of outage was not judged: {text}").into())
        }
        Some(_) if !second_skipped => Err(format!(
            "the failed restart is not reported as the second outage not judged: {text}"
        )
        .into()),
        _ => Ok(()),
    }
}

/// How a run differs from the self-test's: the reference target's JWKS refetch interval, and
/// the checks selected (none: all).
struct Setup {
    jwks_min_refetch: Duration,
    checks: Vec<String>,
    /// The restart (counted from 1) that fails, as a target that does not come back would.
    failing_restart: Option<u32>,
}

impl Default for Setup {
    /// Refetching on every unknown kid makes the JWKS checks deterministic: whether the target
    /// tries a fetch never depends on how much time passed since the last one.
    fn default() -> Self {
        Setup {
            jwks_min_refetch: Duration::ZERO,
            checks: Vec::new(),
            failing_restart: None,
        }
    }
}

/// The rules `revision` applies (every check whose scenario names it, at its level there), held
/// by a snapshot; and, for an older revision, a run of the conformant target judged against it:
/// every check of a later revision only is skipped, every other passes (or is skipped).
fn revision_test(revision: SpecVersion, catalogue: harness::Catalogue) -> Result<(), Failed> {
    let applies = |s: &harness::scenario::Scenario| {
        s.spec_versions
            .as_ref()
            .is_none_or(|versions| versions.contains(&revision))
    };
    let mut rules: Vec<String> = catalogue
        .scenarios
        .iter()
        .map(|(_, s)| s)
        .filter(|s| applies(s))
        .map(|s| format!("{:<40} {}", s.id, s.level_for(revision)))
        .collect();
    rules.sort();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../../reports/snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description(format!(
        "the rules MCP {} applies, with their levels there",
        revision.as_str()
    ));
    let name = format!("rules-{}", revision.as_str());
    let text = rules.join("\n") + "\n";
    let snapshot = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(name.clone(), text));
    }));
    let mut problems = Vec::new();
    if snapshot.is_err() {
        problems.push(format!(
            "the rules of {} differ from reports/snapshots/{name}.snap",
            revision.as_str()
        ));
    }
    if revision != SpecVersion::LATEST {
        let later_only: BTreeSet<String> = catalogue
            .scenarios
            .iter()
            .map(|(_, s)| s)
            .filter(|s| !applies(s))
            .map(|s| s.id.clone())
            .collect();
        let report = run_against(Variant::Conformant, revision, catalogue, &Setup::default())?;
        if report.spec_version != revision {
            problems.push(format!(
                "the report names revision {}, not {}",
                report.spec_version.as_str(),
                revision.as_str()
            ));
        }
        for era in report.eras.iter().filter(|e| e.judged) {
            if era.revision.is_some_and(|r| r > revision) {
                problems.push(format!(
                    "the {} era was judged against {:?}",
                    era.era, era.revision
                ));
            }
        }
        for check in &report.checks {
            let wanted: &[Status] = if later_only.contains(&check.id) {
                &[Status::Skip]
            } else {
                &[Status::Pass, Status::Skip]
            };
            if !wanted.contains(&check.status) {
                problems.push(format!(
                    "{}: expected {wanted:?} under {}, got {} ({})",
                    check.id,
                    revision.as_str(),
                    check.status,
                    check.message
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

/// Runs the whole suite against one reference-target variant (with its own mock IdP on
/// ephemeral ports), judged against `spec`.
fn run_against(
    variant: Variant,
    spec: SpecVersion,
    catalogue: harness::Catalogue,
    setup: &Setup,
) -> Result<harness::report::Report, Failed> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let report = runtime.block_on(async move {
        let idp = mock_idp::MockIdp::start(mock_idp::IdpConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("mock IdP: {e}"))?;
        let issuer = idp.issuer();
        let trust = match variant.validation() {
            ValidationKind::Jwt => Trust::Jwt {
                jwks_uri: idp.jwks_uri(),
            },
            ValidationKind::Introspection => Trust::Introspection {
                endpoint: idp.introspection_endpoint(),
                client_id: "conformance-rs".into(),
                client_secret: "conformance-rs-secret".into(),
            },
        };
        let target_config = TargetConfig {
            issuer: issuer.clone(),
            trust,
            variant,
            jwks_min_refetch: setup.jwks_min_refetch,
            ..Default::default()
        };
        let running = reference_target::serve(target_config.clone())
            .await
            .map_err(|e| format!("reference target: {e:#}"))?;
        let target_url = running.url();
        // Restartable on its address, as the CLI's bundled target is (dcr.client-usable).
        let target = harness::restart::RestartableReference::new(running, target_config);
        // The proxy variants' upstream client (the CLI registers it the same way).
        let upstream: mock_idp::ClientConfig =
            serde_json::from_value(harness::spawn::upstream_client(&target_url))
                .map_err(|e| format!("upstream client: {e}"))?;
        idp.idp()
            .add_client(&upstream)
            .map_err(|e| format!("upstream client: {e}"))?;
        let config = RunConfig {
            target: target_url.clone(),
            audience: None,
            spec,
            idp_url: issuer,
            limits: Limits {
                deadline: Duration::from_secs(5),
                max_body: 1024 * 1024,
            },
            // A short cool-down: the reference target refetches within 200 ms, so waiting longer
            // would only slow the suite down.
            options: Options {
                jwks_wait: Duration::from_secs(3),
                jwks_cooldown: Duration::from_secs(1),
                cimd_loopback: true,
                // The reference target's own scope model, as the CLI sets it for the bundled one.
                scoped_operation: Some(harness::context::ScopedOperation(
                    harness::rpc::McpCall::ToolsCall {
                        name: reference_target::operation::ADMIN_TOOL.into(),
                        arguments: serde_json::json!({}),
                    },
                )),
                scope_implies: reference_target::operation::SCOPE_HIERARCHY
                    .iter()
                    .map(|(broad, narrower)| harness::context::ScopeImplication {
                        broad: (*broad).into(),
                        narrower: narrower.iter().map(|n| (*n).into()).collect(),
                    })
                    .collect(),
                ..Default::default()
            },
            checks: setup.checks.clone(),
            catalogue,
            baseline: None,
            restart: Some(restarter(&target, setup.failing_restart)),
        };
        let report = harness::run(config)
            .await
            .map_err(|e| format!("harness: {e}"));
        target.shutdown().await;
        idp.shutdown().await;
        report
    })?;
    Ok(report)
}

/// Compares a variant's report with its expectation and its snapshots.
fn grade(variant: Variant, report: &harness::report::Report) -> Result<(), Failed> {
    let expected = expectations::expectation(variant);
    let mut problems = Vec::new();
    for check in &report.checks {
        let id = check.id.as_str();
        let wanted: &[Status] = if expected.fails.contains(&id) {
            // An informational check reports its finding as info, never as a failure.
            if check.level == harness::check::Level::Info {
                &[Status::Info]
            } else {
                &[Status::Fail]
            }
        } else if expected.not_testable.contains(&id) {
            &[Status::NotTestable]
        } else if expected.warns.contains(&id) {
            &[Status::Warn]
        } else {
            &[Status::Pass, Status::Skip]
        };
        if !wanted.contains(&check.status) {
            problems.push(format!(
                "{id}: expected {wanted:?}, got {} ({})",
                check.status, check.message
            ));
        }
    }
    for id in expected
        .fails
        .iter()
        .chain(expected.not_testable)
        .chain(expected.warns)
    {
        if !report.checks.iter().any(|c| c.id == *id) {
            problems.push(format!(
                "{id}: listed in the expectation table but not in the report"
            ));
        }
    }

    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../../reports/snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description(format!("{}: {}", variant.name(), variant.description()));
    // One line per check that fails, warns or cannot be judged: what the variant breaks, with
    // the harness's words for it. Passes and skips are held by the expectation table (and, in
    // full, by the three whole reports below), so a new check changes the snapshots of the
    // variants it concerns, not of every variant.
    let normalized = report.normalized();
    let mut verdicts: String = normalized
        .checks
        .iter()
        .filter(|c| !matches!(c.status, Status::Pass | Status::Skip))
        .map(|c| {
            format!(
                "{:<12} {} | {}\n",
                c.status.to_string(),
                c.id,
                harness::report::normalize_text(&c.message)
            )
        })
        .collect();
    if verdicts.is_empty() {
        verdicts = "every applicable check passed\n".to_string();
    }
    let snapshot_result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(variant.name(), verdicts));
    }));
    // The whole report, in every format, of a few variants: changes to what people and CI tools
    // read (evidence, details, layout) are reviewed there.
    if matches!(
        variant,
        Variant::Conformant | Variant::IgnoresAudience | Variant::NoPrm
    ) {
        use harness::report::{
            TerminalStyle, normalize_text, render_badge_svg, render_checks_json, render_junit,
            render_markdown, render_shields_json, render_terminal,
        };
        let formats: [(&str, String); 7] = [
            ("report-json", report.normalized_json()),
            ("terminal", render_terminal(report, TerminalStyle::Plain)),
            ("checks-json", render_checks_json(&normalized)),
            ("junit", render_junit(&normalized)),
            ("markdown", render_markdown(&normalized)),
            ("badge", render_badge_svg(&normalized)),
            ("shields", render_shields_json(&normalized)),
        ];
        for (format, text) in formats {
            let text = normalize_text(&text);
            let name = format!("{}.{format}", variant.name());
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                settings.bind(|| insta::assert_snapshot!(name.clone(), text));
            }));
            if r.is_err() {
                problems.push(format!(
                    "the {format} report differs from reports/snapshots/{name}.snap"
                ));
            }
        }
    }
    if snapshot_result.is_err() {
        problems.push(format!(
            "the report differs from reports/snapshots/{}.snap (review with cargo insta review)",
            variant.name()
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

/// The reference target's restarter, or one whose `failing`-th restart fails without touching
/// the target.
fn restarter(
    target: &harness::restart::RestartableReference,
    failing: Option<u32>,
) -> harness::restart::TargetRestart {
    let real = target.restarter();
    let Some(failing) = failing else {
        return real;
    };
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    harness::restart::TargetRestart(std::sync::Arc::new(move || {
        let call = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if call == failing {
            Box::pin(async {
                Err("the port did not open within 1 s (a planted failure)".to_string())
            })
        } else {
            (real.0)()
        }
    }))
}
