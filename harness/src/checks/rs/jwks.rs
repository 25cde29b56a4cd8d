//! Key rotation (RFC 7517): a new key picked up, a retired key refused, unusable keys ignored,
//! and a JWKS outage failing closed. The checks build on each other and run last, in order.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::wellknown::metadata_document;

pub(crate) const PROBES: &[Probe] = &[
    probe!("jwks.new-key-picked-up" => new_key_picked_up),
    probe!("jwks.removed-key-rejected" => removed_key_rejected),
    probe!("jwks.unknown-key-ignored" => unknown_key_ignored),
    probe!("jwks.outage-fails-closed" => outage_fails_closed),
];

/// JWKS fetches since `mark` by anyone but the harness itself, as `(at_ms, status)`.
async fn jwks_fetches_since(ctx: &Ctx, mark: u64) -> Result<Vec<(u64, u16)>, HarnessError> {
    Ok(ctx
        .idp
        .requests_since(mark)
        .await?
        .into_iter()
        .filter(|r| r.endpoint == "jwks" && !crate::target::is_own_request(&r.headers))
        .map(|r| (r.at_ms, r.status))
        .collect())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Presents a token signed by a key the target has not seen, waiting (bounded) for a refetch.
/// `Ok(Ok(exchange))` = accepted; `Ok(Err(outcome))` = a verdict other than acceptance.
async fn await_new_key(
    ctx: &Ctx,
    token: &MintedToken,
    mark: u64,
    what: &str,
) -> Result<Result<Exchange, StepOutcome>, HarnessError> {
    let started = Instant::now();
    let deadline = ctx.options.jwks_wait;
    let mut last;
    loop {
        last = send_token(ctx, token).await;
        if accepted(&last).is_ok() {
            return Ok(Ok(last));
        }
        if started.elapsed() >= deadline {
            break;
        }
        tokio::time::sleep(
            Duration::from_millis(250).min(deadline.saturating_sub(started.elapsed())),
        )
        .await;
    }
    let after = jwks_fetches_since(ctx, mark).await?;
    let waited = format!("{:.1} s", started.elapsed().as_secs_f64());
    if after.iter().any(|(_, s)| *s == 200) {
        return Ok(Err(StepOutcome::fail(
            format!(
                "the target refetched the JWKS after {what} and still refused a token signed by the new key (waited {waited})"
            ),
            vec![last],
        )));
    }
    let all = jwks_fetches_since(ctx, 0).await?;
    let since_last = all
        .last()
        .map(|(at, _)| Duration::from_millis(now_ms().saturating_sub(*at)));
    match since_last {
        Some(age) if age < ctx.options.jwks_cooldown => Ok(Err(StepOutcome::not_testable(
            format!(
                "the target has not refetched the JWKS within the {waited} wait; it last fetched {:.1} s ago, within the {} s refetch cool-down verifiers commonly keep; rerun with --jwks-wait {} to judge",
                age.as_secs_f64(),
                ctx.options.jwks_cooldown.as_secs(),
                ctx.options.jwks_cooldown.as_secs() + 5
            ),
            vec![last],
        ))),
        _ => Ok(Err(StepOutcome::fail(
            format!(
                "a token signed by a key published after {what} was refused for {waited}, and the target did not refetch the JWKS although its last fetch was more than {} s ago",
                ctx.options.jwks_cooldown.as_secs()
            ),
            vec![last],
        ))),
    }
}

/// `jwks.new-key-picked-up`.
async fn new_key_picked_up(cx: &Cx<'_>) -> Result<StepOutcome, HarnessError> {
    let ctx = cx.ctx;
    let facts = cx.facts;
    let mut notes = Vec::new();
    // Phase 1: a key announced before the run started is used for signing.
    let announced = ctx
        .jwks_story
        .lock()
        .map(|s| s.announced_kid.clone())
        .unwrap_or(None);
    if let Some(kid) = announced {
        let token = mint_with_kid(ctx, facts, Some(&kid)).await?;
        let mark = facts.log_start;
        match await_new_key(ctx, &token, mark, "the key was announced").await? {
            Ok(_) => notes.push(format!(
                "a token signed by the announced key {kid} was accepted"
            )),
            Err(outcome) => return Ok(outcome),
        }
    }
    // Keep a token of the current key for jwks.removed-key-rejected. It is never presented
    // before then, so a target that caches verified tokens must still verify it.
    let old = mint_with_kid(ctx, facts, None).await?;
    let control = mint_with_kid(ctx, facts, None).await?;
    let old_exchange = send_token(ctx, &control).await;
    if accepted(&old_exchange).is_err() {
        return Ok(StepOutcome::not_testable(
            "a valid token signed by the current key was refused",
            vec![old_exchange],
        ));
    }
    // Phase 2: rotate (new key, old one retired) and sign with a key the target has never seen.
    let mark = ctx.idp.last_seq().await?;
    let (new_kid, retired) = ctx.idp.rotate_keys().await?;
    if let Ok(mut story) = ctx.jwks_story.lock() {
        story.old_token = Some(old);
        story.rotation_mark = Some(mark);
        story.retired_kid = retired.clone();
    }
    let token = mint_with_kid(ctx, facts, Some(&new_kid)).await?;
    let started = Instant::now();
    match await_new_key(ctx, &token, mark, "a key rotation").await? {
        Ok(_) => {
            let fetches = jwks_fetches_since(ctx, mark).await?.len();
            notes.push(format!(
                "after rotating to {new_kid}, a token signed by it was accepted within {:.1} s with {fetches} JWKS fetch(es)",
                started.elapsed().as_secs_f64()
            ));
            Ok(StepOutcome {
                notes,
                ..Default::default()
            })
        }
        Err(outcome) => Ok(outcome),
    }
}

/// `jwks.removed-key-rejected`.
async fn removed_key_rejected(cx: &Cx<'_>) -> Result<StepOutcome, HarnessError> {
    let ctx = cx.ctx;
    let (old, mark, retired) = match ctx.jwks_story.lock() {
        Ok(s) => (s.old_token.clone(), s.rotation_mark, s.retired_kid.clone()),
        Err(_) => (None, None, None),
    };
    let (Some(old), Some(mark)) = (old, mark) else {
        return Ok(StepOutcome::not_testable(
            "no key rotation happened (jwks.new-key-picked-up did not get that far)",
            Vec::new(),
        ));
    };
    let refetched = jwks_fetches_since(ctx, mark)
        .await?
        .iter()
        .any(|(_, s)| *s == 200);
    if !refetched {
        return Ok(StepOutcome::not_testable(
            "the target has not refetched the JWKS since the old key was retired, so it cannot know yet",
            Vec::new(),
        ));
    }
    let exchange = send_token(ctx, &old).await;
    let kid = retired.unwrap_or_default();
    if exchange.response().is_none() {
        return Ok(StepOutcome::not_testable(
            "the target did not answer the request with the retired key's token",
            vec![exchange],
        ));
    }
    if exchange.response().is_some_and(|r| r.is_success()) {
        Ok(StepOutcome::fail(
            format!(
                "after refetching a JWKS without {kid}, the target still accepted a token signed by it"
            ),
            vec![exchange],
        ))
    } else {
        Ok(StepOutcome::pass(
            format!(
                "a token signed by the retired key {kid} was refused (HTTP {})",
                exchange.status().unwrap_or(0)
            ),
            Vec::new(),
        ))
    }
}

/// `jwks.unknown-key-ignored`.
async fn unknown_key_ignored(cx: &Cx<'_>) -> Result<StepOutcome, HarnessError> {
    let ctx = cx.ctx;
    let facts = cx.facts;
    // An encryption-only RSA key (a copy of a published key marked `use: enc`) and an X448 key.
    let jwks = ctx
        .target
        .send(Request::new(
            reqwest::Method::GET,
            ctx.idp_info.jwks_uri.clone(),
        ))
        .await;
    let mut extras = vec![
        json!({"kty": "OKP", "crv": "X448", "kid": "unusable-x448", "use": "sig",
        "x": "mLGXwN6mz9AsWaIxn5xOm2ijo4xbYWGyTDLUVNTq-8jfFMTIsdT8VdSH6OXbDzaW1UJ8pyTWAOg"}),
    ];
    if let Some(first) = metadata_document(&jwks).and_then(|d| {
        d.get("keys")
            .and_then(Value::as_array)
            .and_then(|k| k.first().cloned())
    }) {
        let mut enc = first;
        enc["kid"] = json!("unusable-rsa-enc");
        enc["use"] = json!("enc");
        if let Some(o) = enc.as_object_mut() {
            o.remove("alg");
        }
        extras.push(enc);
    }
    let mark = ctx.idp.last_seq().await?;
    for e in extras {
        ctx.idp.add_extra_jwk(e).await?;
    }
    let kid = ctx.idp.announce_key().await?;
    let token = mint_with_kid(ctx, facts, Some(&kid)).await?;
    let result = await_new_key(ctx, &token, mark, "unusable keys were added to the JWKS").await;
    ctx.idp.clear_extra_jwks().await?;
    Ok(match result? {
        Ok(_) => StepOutcome::pass(
            format!(
                "with an X448 key and an encryption-only RSA key in the JWKS, a token signed by {kid} was accepted"
            ),
            Vec::new(),
        ),
        Err(outcome) => outcome,
    })
}

/// `jwks.outage-fails-closed`.
async fn outage_fails_closed(cx: &Cx<'_>) -> Result<StepOutcome, HarnessError> {
    let ctx = cx.ctx;
    let facts = cx.facts;
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    let mut evidence = Vec::new();
    for (label, fault) in [
        ("HTTP 500", json!({"kind": "status", "status": 500})),
        ("a body that is not JSON", json!({"kind": "garbage"})),
    ] {
        let kid = ctx.idp.announce_key().await?;
        let mark = ctx.idp.last_seq().await?;
        ctx.idp.set_fault("jwks", fault, None).await?;
        let token = mint_with_kid(ctx, facts, Some(&kid)).await?;
        let started = Instant::now();
        let mut attempted;
        let mut exchange;
        loop {
            exchange = send_token(ctx, &token).await;
            if exchange.response().is_some_and(|r| r.is_success()) {
                ctx.idp.clear_faults().await?;
                return Ok(StepOutcome::fail(
                    format!(
                        "with the JWKS answering {label}, the target accepted a token signed by a key it could not fetch"
                    ),
                    vec![exchange],
                ));
            }
            attempted = !jwks_fetches_since(ctx, mark).await?.is_empty();
            if attempted || started.elapsed() >= ctx.options.jwks_wait {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        ctx.idp.clear_faults().await?;
        if !attempted && jwks_fetches_since(ctx, facts.log_start).await?.is_empty() {
            // Not a skip: a verifier that cached the JWKS in an earlier run against this IdP (jose
            // keeps it for minutes) looks the same as one with a static key, and a skip would let
            // an untested MUST pass the run.
            return Ok(StepOutcome::not_testable(
                format!(
                    "the target never fetched the JWKS during this run (a JWKS cached from an earlier run, or a static key), so a JWKS outage could not reach it within {} s; restart the target or rerun with --jwks-wait 35 to judge",
                    ctx.options.jwks_wait.as_secs()
                ),
                vec![exchange],
            ));
        }
        if !attempted {
            return Ok(StepOutcome::not_testable(
                format!(
                    "the target did not try to fetch the JWKS within {} s (refetch cool-down?), so the outage was never seen",
                    ctx.options.jwks_wait.as_secs()
                ),
                vec![exchange],
            ));
        }
        match exchange.status() {
            Some(401) => notes.push(format!("JWKS answering {label}: refused with 401")),
            Some(503) => notes.push(format!(
                "JWKS answering {label}: refused with 503 (tolerated)"
            )),
            Some(s) => {
                warnings.push(format!(
                    "JWKS answering {label}: refused, but with HTTP {s}; 401 (or 503) is expected"
                ));
                evidence.push(exchange);
            }
            None => {
                warnings.push(format!(
                    "JWKS answering {label}: the target did not answer within the deadline"
                ));
                evidence.push(exchange);
            }
        }
    }
    Ok(StepOutcome {
        notes,
        warnings,
        evidence,
        ..Default::default()
    })
}

/// After the keys were put back, presents a token signed by the restored key until the target
/// accepts it (bounded by `--jwks-wait`), so the target leaves the run holding a key set that
/// works for the next run. Returns a note for the report when it does not get there.
pub async fn resync_after_rotation(
    ctx: &Ctx,
    facts: &Facts,
) -> Result<Option<String>, HarnessError> {
    let rotated = ctx
        .jwks_story
        .lock()
        .map(|s| s.rotation_mark.is_some())
        .unwrap_or(false);
    if !rotated || !facts.positive.passed {
        return Ok(None);
    }
    let token = mint_with_kid(ctx, facts, None).await?;
    let started = Instant::now();
    loop {
        if accepted(&send_token(ctx, &token).await).is_ok() {
            return Ok(None);
        }
        if started.elapsed() >= ctx.options.jwks_wait {
            return Ok(Some(format!(
                "after the run the IdP's original signing key is active again, but the target did not accept it within {} s (it is probably inside its JWKS refetch cool-down); it will pick the key up by itself, but a run started right away may see its positive control fail",
                ctx.options.jwks_wait.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
