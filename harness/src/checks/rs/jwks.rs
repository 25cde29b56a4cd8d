//! Key rotation (RFC 7517): a new key picked up, a retired key refused, unusable keys ignored,
//! and a JWKS outage failing closed. The checks build on each other and run last, in order.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::checks::CHECK_BUDGET;
use crate::context::UnusableKeys;
use crate::poll::poll_until;
use crate::wellknown::metadata_document;

pub(crate) const PROBES: &[Probe] = &[
    probe!(once "jwks.new-key-picked-up" => new_key_picked_up),
    probe!(once "jwks.removed-key-rejected" => removed_key_rejected),
    probe!(once "jwks.unknown-key-ignored" => unknown_key_ignored),
    probe!(once "jwks.outage-fails-closed" => outage_fails_closed),
    probe!(once "jwks.refetch-rate-limited" => refetch_rate_limited),
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

/// How often a waiting check presents its token again.
const RETRY: Duration = Duration::from_millis(250);

/// Presents a token signed by a key the target has not seen until it is accepted, waiting at most
/// `--jwks-wait`; the accepted exchange, or the check's verdict on why it never was.
async fn await_new_key(
    ctx: &Ctx,
    facts: &Facts,
    token: &MintedToken,
    mark: u64,
    what: &str,
) -> Result<Exchange, Stop> {
    let started = Instant::now();
    let refused = match poll_until(ctx.options.jwks_wait, RETRY, || async {
        let e = send_token(ctx, facts, token).await;
        if accepted(&e).is_ok() {
            ControlFlow::Break(e)
        } else {
            ControlFlow::Continue(e)
        }
    })
    .await
    {
        Ok(accepted) => return Ok(accepted),
        Err(last) => last,
    };
    let waited = started.elapsed();
    let refetched = jwks_fetches_since(ctx, mark)
        .await?
        .iter()
        .any(|(_, s)| *s == 200);
    let last_fetch_age = jwks_fetches_since(ctx, 0)
        .await?
        .last()
        .map(|(at, _)| Duration::from_millis(now_ms().saturating_sub(*at)));
    Err(judge_unseen_key(
        UnseenKey {
            what,
            waited,
            refetched,
            last_fetch_age,
            cooldown: ctx.options.jwks_cooldown,
        },
        refused,
    )
    .into())
}

/// What is known once a token signed by a new key was refused for the whole wait.
struct UnseenKey<'a> {
    /// What published the key ("a key rotation").
    what: &'a str,
    waited: Duration,
    /// The target fetched the JWKS (successfully) after the key was published.
    refetched: bool,
    /// How long ago the target last fetched the JWKS at all.
    last_fetch_age: Option<Duration>,
    /// The refetch cool-down a verifier is allowed (`--jwks-cooldown`).
    cooldown: Duration,
}

/// `last` is the last refusal. A target that refetched and still refused fails; one that did not
/// refetch fails only when its cool-down is over, otherwise it cannot be judged yet.
fn judge_unseen_key(k: UnseenKey<'_>, last: Exchange) -> Verdict {
    let what = k.what;
    let waited = format!("{:.1} s", k.waited.as_secs_f64());
    if k.refetched {
        return Verdict::fail(
            format!(
                "the target refetched the JWKS after {what} and still refused a token signed by the new key (waited {waited})"
            ),
            vec![last],
        );
    }
    match k.last_fetch_age {
        Some(age) if age < k.cooldown => Verdict::not_testable(
            format!(
                "the target has not refetched the JWKS within the {waited} wait; it last fetched {:.1} s ago, within the {} s refetch cool-down verifiers commonly keep; rerun with --jwks-wait {} to judge",
                age.as_secs_f64(),
                k.cooldown.as_secs(),
                k.cooldown.as_secs() + 5
            ),
            vec![last],
        ),
        _ => Verdict::fail(
            format!(
                "a token signed by a key published after {what} was refused for {waited}, and the target did not refetch the JWKS although its last fetch was more than {} s ago",
                k.cooldown.as_secs()
            ),
            vec![last],
        ),
    }
}

/// `jwks.new-key-picked-up`: a key announced before the run, then a key the target has never
/// seen, are accepted without a restart.
///
/// Its refetch also serves `jwks.removed-key-rejected` and `jwks.unknown-key-ignored`, so that a
/// verifier with a refetch cool-down (FastMCP and PyJWT 30 s, `jose`) spends one window on all
/// three: the JWKS it refetches lacks the announced key (retired) and holds two keys it cannot
/// use. The IdP's signing key never changes, so nothing needs to be resynchronised afterwards.
async fn new_key_picked_up(cx: &Cx<'_>) -> Judged {
    let (ctx, facts) = (cx.ctx, cx.facts);
    let mut notes = Vec::new();
    let control = mint_with_kid(ctx, facts, None).await?;
    let control_exchange = send_token(ctx, facts, &control).await;
    if accepted(&control_exchange).is_err() {
        return Err(Stop::not_testable(
            "a valid token signed by the current key was refused",
            vec![control_exchange],
        ));
    }
    // Phase 1: a key announced before the run started (the target's first fetch held it).
    let announced = ctx
        .jwks_story
        .lock()
        .map(|s| s.announced_kid.clone())
        .unwrap_or(None);
    let mut old = None;
    if let Some(kid) = &announced {
        let token = mint_with_kid(ctx, facts, Some(kid)).await?;
        await_new_key(ctx, facts, &token, facts.log_start, "the key was announced").await?;
        notes.push(format!(
            "a token signed by the announced key {kid} was accepted"
        ));
        // Kept for jwks.removed-key-rejected; never presented before then, so a target that
        // caches verified tokens must still verify it.
        old = Some(mint_with_kid(ctx, facts, Some(kid)).await?);
    }
    // Phase 2: one change of the JWKS: a new key, the announced one retired, two unusable keys.
    let mark = ctx.idp.last_seq().await?;
    let extras = unusable_jwks(ctx).await;
    for e in &extras {
        ctx.idp.add_extra_jwk(e.clone()).await?;
    }
    let new_kid = ctx.idp.announce_key().await?;
    if let Some(kid) = &announced {
        ctx.idp.retire_key(kid).await?;
    }
    if let Ok(mut story) = ctx.jwks_story.lock() {
        story.old_token = old;
        story.rotation_mark = Some(mark);
        story.retired_kid = announced.clone();
    }
    let token = mint_with_kid(ctx, facts, Some(&new_kid)).await?;
    let started = Instant::now();
    let first = await_new_key(ctx, facts, &token, mark, "a key rotation").await;
    let outcome = match first {
        Ok(_) => {
            record_unusable(
                ctx,
                UnusableKeys::Ignored {
                    kid: new_kid.clone(),
                },
            );
            Ok(())
        }
        Err(stop) => {
            // Refused after a refetch while the unusable keys were in the set: without them, is
            // the new key learned? (One more window, only for a target that fails here.)
            let refetched = jwks_fetches_since(ctx, mark)
                .await?
                .iter()
                .any(|(_, s)| *s == 200);
            if refetched && !extras.is_empty() {
                ctx.idp.clear_extra_jwks().await?;
                let refused = send_token(ctx, facts, &token).await;
                let mark = ctx.idp.last_seq().await?;
                match await_new_key(ctx, facts, &token, mark, "a key rotation").await {
                    Ok(_) => {
                        record_unusable(
                            ctx,
                            UnusableKeys::BrokeTheSet {
                                kid: new_kid.clone(),
                                refused,
                            },
                        );
                        notes.push(
                            "the new key was accepted only once the unusable keys were taken out of the JWKS (judged by jwks.unknown-key-ignored)".to_string(),
                        );
                        Ok(())
                    }
                    Err(_) => Err(stop),
                }
            } else {
                Err(stop)
            }
        }
    };
    ctx.idp.clear_extra_jwks().await?;
    outcome?;
    let fetches = jwks_fetches_since(ctx, mark).await?.len();
    notes.push(format!(
        "a token signed by {new_kid}, published after the target's last fetch, was accepted within {:.1} s with {fetches} JWKS fetch(es)",
        started.elapsed().as_secs_f64()
    ));
    Ok(Verdict {
        notes,
        ..Default::default()
    })
}

fn record_unusable(ctx: &Ctx, outcome: UnusableKeys) {
    if let Ok(mut story) = ctx.jwks_story.lock() {
        story.unusable = Some(outcome);
    }
}

/// Two keys a verifier cannot use: an X448 key and an encryption-only copy of a published RSA
/// key.
async fn unusable_jwks(ctx: &Ctx) -> Vec<Value> {
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
    extras
}

/// `jwks.removed-key-rejected`: once the target refetched a JWKS without the retired key, a
/// token signed by it is refused.
async fn removed_key_rejected(cx: &Cx<'_>) -> Judged {
    let (ctx, facts) = (cx.ctx, cx.facts);
    let (old, mark, retired) = match ctx.jwks_story.lock() {
        Ok(s) => (s.old_token.clone(), s.rotation_mark, s.retired_kid.clone()),
        Err(_) => (None, None, None),
    };
    let (Some(old), Some(mark)) = (old, mark) else {
        return Err(Stop::not_testable(
            "no key rotation happened (jwks.new-key-picked-up did not get that far)",
            Vec::new(),
        ));
    };
    let refetched = jwks_fetches_since(ctx, mark)
        .await?
        .iter()
        .any(|(_, s)| *s == 200);
    if !refetched {
        return Err(Stop::not_testable(
            "the target has not refetched the JWKS since the old key was retired, so it cannot know yet",
            Vec::new(),
        ));
    }
    let exchange = send_token(ctx, facts, &old).await;
    Ok(judge_removed_key(exchange, &retired.unwrap_or_default()))
}

/// `exchange` presented a token signed by the retired key `kid`.
fn judge_removed_key(exchange: Exchange, kid: &str) -> Verdict {
    match exchange.status() {
        None => Verdict::not_testable(
            "the target did not answer the request with the retired key's token",
            vec![exchange],
        ),
        Some(s) if (200..300).contains(&s) => Verdict::fail(
            format!(
                "after refetching a JWKS without {kid}, the target still accepted a token signed by it"
            ),
            vec![exchange],
        ),
        Some(s) => Verdict::passed(format!(
            "a token signed by the retired key {kid} was refused (HTTP {s})"
        )),
    }
}

/// `jwks.unknown-key-ignored`: with keys the verifier cannot use in the JWKS (X448, an
/// encryption-only RSA key), a token signed by a usable new key is still accepted. Judged from
/// `jwks.new-key-picked-up`'s refetch when it ran; otherwise with a refetch of its own.
async fn unknown_key_ignored(cx: &Cx<'_>) -> Judged {
    let (ctx, facts) = (cx.ctx, cx.facts);
    let seen = ctx
        .jwks_story
        .lock()
        .ok()
        .and_then(|mut s| s.unusable.take());
    match seen {
        Some(UnusableKeys::Ignored { kid }) => {
            return Ok(Verdict::passed(format!(
                "with an X448 key and an encryption-only RSA key in the JWKS, a token signed by {kid} was accepted"
            )));
        }
        Some(UnusableKeys::BrokeTheSet { kid, refused }) => {
            return Ok(Verdict::fail(
                format!(
                    "with an X448 key and an encryption-only RSA key in the JWKS, the target refetched and still refused a token signed by {kid}, which it accepted once they were removed: one unusable key makes it drop the whole set"
                ),
                vec![refused],
            ));
        }
        None => {}
    }
    let extras = unusable_jwks(ctx).await;
    let mark = ctx.idp.last_seq().await?;
    for e in extras {
        ctx.idp.add_extra_jwk(e).await?;
    }
    let kid = ctx.idp.announce_key().await?;
    let token = mint_with_kid(ctx, facts, Some(&kid)).await?;
    let result = await_new_key(
        ctx,
        facts,
        &token,
        mark,
        "unusable keys were added to the JWKS",
    )
    .await;
    ctx.idp.clear_extra_jwks().await?;
    result?;
    Ok(Verdict::passed(format!(
        "with an X448 key and an encryption-only RSA key in the JWKS, a token signed by {kid} was accepted"
    )))
}

/// How the target answered a token signed by a key it could only learn from a broken JWKS.
enum OutageAnswer {
    /// It accepted the token.
    Accepted(Exchange),
    /// It refused, after trying to fetch the JWKS (`tried`) or once the wait was over.
    Refused { exchange: Exchange, tried: bool },
}

/// The two kinds of outage, in the order they are shown.
fn outages() -> [(&'static str, Value); 2] {
    [
        ("HTTP 500", json!({"kind": "status", "status": 500})),
        ("a body that is not JSON", json!({"kind": "garbage"})),
    ]
}

/// `jwks.outage-fails-closed`: with the JWKS answering 500 or garbage, a token signed by a key
/// the target has not seen is refused (401 preferred, 503 tolerated), never accepted.
///
/// A running target that will not refetch soon (a refetch cool-down: FastMCP and PyJWT wait
/// 30 s between attempts) is restarted when the run knows how (`--command`, `--restart-cmd`, the
/// bundled target): a fresh process knows no key, so its first fetch meets the outage. That costs
/// restarts instead of a second cool-down. Afterwards the target is restarted once more with the
/// JWKS working, so the checks after this one meet a target holding keys.
async fn outage_fails_closed(cx: &Cx<'_>) -> Judged {
    let (ctx, facts) = (cx.ctx, cx.facts);
    let mut restarts = Restarts {
        started: Instant::now(),
        done: 0,
        longest: Duration::ZERO,
    };
    let judged = judge_outages(ctx, facts, &mut restarts).await;
    if restarts.done == 0 {
        return judged;
    }
    let mut notes = vec![format!(
        "the running target did not try to refetch the JWKS within {} s (a refetch cool-down), so the outage was shown to a freshly restarted target, whose first fetch met it; afterwards the target was restarted with the JWKS working",
        short_outage_wait(ctx).as_secs_f64()
    )];
    let restored = restore_after_outage(ctx, facts, &restarts)
        .await
        .unwrap_or_else(|e| {
            Some(format!(
                "after the outage the target could not be restored ({e}); the checks after this one may be affected"
            ))
        });
    notes.extend(restored);
    // The notes go with the verdict, whether the check ran to its end or stopped early.
    match judged {
        Ok(mut verdict) => {
            verdict.notes.extend(notes);
            Ok(verdict)
        }
        Err(Stop::Early(mut verdict)) => {
            verdict.notes.extend(notes.into_iter().skip(1));
            Err(Stop::Early(verdict))
        }
        Err(harness) => Err(harness),
    }
}

/// The restarts `jwks.outage-fails-closed` made, so that it stays inside the check budget.
struct Restarts {
    /// When the check started.
    started: Instant,
    /// How many restarts were made (or tried).
    done: u32,
    /// The longest one took.
    longest: Duration,
}

impl Restarts {
    /// Whether one more outage on a restarted target, and the restore after it, still fit in the
    /// check budget: two restarts, the fresh target's wait, the restore's wait and a margin.
    fn room_for_another(&self, ctx: &Ctx) -> bool {
        let needed = self.longest * 2
            + fresh_target_wait(ctx)
            + ctx.options.jwks_wait
            + Duration::from_secs(5);
        self.started.elapsed() + needed < CHECK_BUDGET
    }
}

/// The wait that tells a target refetching at once from one inside a refetch cool-down.
fn short_outage_wait(ctx: &Ctx) -> Duration {
    ctx.options.jwks_wait.min(SHORT_OUTAGE_WAIT)
}

/// How long a freshly restarted target is given to fetch the JWKS for its first token.
fn fresh_target_wait(ctx: &Ctx) -> Duration {
    ctx.options.jwks_wait.min(FRESH_TARGET_WAIT)
}

async fn judge_outages(ctx: &Ctx, facts: &Facts, restarts: &mut Restarts) -> Judged {
    let mut answers = Vec::new();
    let mut notes = Vec::new();
    for (round, (label, fault)) in outages().into_iter().enumerate() {
        if restarts.done > 0 && !restarts.room_for_another(ctx) {
            notes.push(format!(
                "{label}: not tried, since another restart of the target would not fit in the check's {} s budget (its restarts took up to {:.1} s); the verdict rests on the first outage",
                CHECK_BUDGET.as_secs(),
                restarts.longest.as_secs_f64()
            ));
            break;
        }
        let kid = ctx.idp.announce_key().await?;
        let mark = ctx.idp.last_seq().await?;
        ctx.idp.set_fault("jwks", fault, None).await?;
        let token = mint_with_kid(ctx, facts, Some(&kid)).await?;
        let answer = if restarts.done > 0 {
            // The earlier outage was shown to a fresh target: so is this one.
            restart_into_outage(ctx, facts, &token, mark, restarts).await
        } else {
            // With a restart at hand, a short wait tells a target that refetches at once from
            // one inside a cool-down; without one, the whole --jwks-wait. The second kind of
            // outage gets the short wait only: a whole window more would show little that the
            // first did not.
            let wait = if round == 0 && ctx.restart.is_none() {
                ctx.options.jwks_wait
            } else {
                short_outage_wait(ctx)
            };
            match present_during_outage(ctx, facts, &token, mark, wait).await {
                Ok(OutageAnswer::Refused { tried: false, .. })
                    if round == 0 && ctx.restart.is_some() =>
                {
                    restart_into_outage(ctx, facts, &token, mark, restarts).await
                }
                answer => answer,
            }
        };
        ctx.idp.clear_faults().await?;
        let answer = match answer {
            // A later kind of outage that could not be shown leaves the first one's verdict.
            Err(Stop::Early(why)) if round > 0 => {
                notes.push(format!("{label}: not judged: {}", why.unmet.join("; ")));
                break;
            }
            answer => answer?,
        };
        if round > 0 && matches!(answer, OutageAnswer::Refused { tried: false, .. }) {
            notes.push(format!(
                "{label}: not tried, since the target did not refetch within {} s (a refetch cool-down); the verdict rests on the first outage",
                short_outage_wait(ctx).as_secs_f64()
            ));
            break;
        }
        // Whether the target fetched the JWKS at all during the run: a verifier that cached it in
        // an earlier run against this IdP looks the same as one with a static key.
        let ever_fetched = !jwks_fetches_since(ctx, facts.log_start).await?.is_empty();
        answers.push((label, answer, ever_fetched));
        if let Some(stop) = outage_stops(&answers, ctx.options.jwks_wait) {
            return Ok(stop);
        }
    }
    let mut verdict = judge_outage(answers);
    verdict.notes.extend(notes);
    Ok(verdict)
}

/// Presents `token` (signed by a key published during the outage) until the target accepts it,
/// tries to fetch the JWKS (and refuses), or `wait` is over.
async fn present_during_outage(
    ctx: &Ctx,
    facts: &Facts,
    token: &MintedToken,
    mark: u64,
    wait: Duration,
) -> Result<OutageAnswer, Stop> {
    poll_until(wait, RETRY, || async {
        let exchange = send_token(ctx, facts, token).await;
        if exchange.response().is_some_and(|r| r.is_success()) {
            return ControlFlow::Break(Ok(OutageAnswer::Accepted(exchange)));
        }
        match jwks_fetches_since(ctx, mark).await {
            Err(e) => ControlFlow::Break(Err(Stop::from(e))),
            Ok(f) if !f.is_empty() => ControlFlow::Break(Ok(OutageAnswer::Refused {
                exchange,
                tried: true,
            })),
            Ok(_) => ControlFlow::Continue(exchange),
        }
    })
    .await
    .unwrap_or_else(|exchange| {
        Ok(OutageAnswer::Refused {
            exchange,
            tried: false,
        })
    })
}

/// Restarts the target while the JWKS is broken and presents `token` to the fresh process.
async fn restart_into_outage(
    ctx: &Ctx,
    facts: &Facts,
    token: &MintedToken,
    mark: u64,
    restarts: &mut Restarts,
) -> Result<OutageAnswer, Stop> {
    let Some(restart) = &ctx.restart else {
        return Err(Stop::not_testable(
            "the target would have to be restarted to meet the outage, and the run knows no way to restart it",
            Vec::new(),
        ));
    };
    // Whether the running target ever fetched the JWKS: without that, a target that does not
    // fetch after a restart either holds a static key.
    let ever_fetched = !jwks_fetches_since(ctx, facts.log_start).await?.is_empty();
    restarts.done += 1;
    let began = Instant::now();
    let restarted = restart.restart().await;
    restarts.longest = restarts.longest.max(began.elapsed());
    if let Err(why) = restarted {
        return Err(Stop::not_testable(
            format!(
                "restarting the target with the JWKS broken, so that a fresh process would meet the outage, failed: {why} (a target that will not start without its keys fails closed, but that cannot be told from a start that failed for another reason)"
            ),
            Vec::new(),
        ));
    }
    let wait = fresh_target_wait(ctx);
    match present_during_outage(ctx, facts, token, mark, wait).await? {
        OutageAnswer::Refused {
            exchange,
            tried: false,
        } => Err(Stop::not_testable(
            if ever_fetched {
                format!(
                    "once restarted, the target did not fetch the JWKS within {} s for a token signed by a key it had never seen, so no outage could reach it",
                    wait.as_secs_f64()
                )
            } else {
                format!(
                    "the target never fetched the JWKS during this run, and once restarted it did not fetch it within {} s either (a static key, or keys read from elsewhere), so no outage could reach it",
                    wait.as_secs_f64()
                )
            },
            vec![exchange],
        )),
        answer => Ok(answer),
    }
}

/// How long a freshly restarted target is given to fetch the JWKS for its first token, at most.
const FRESH_TARGET_WAIT: Duration = Duration::from_secs(10);

/// After outages shown to restarted targets: one more restart with the JWKS working, then a valid
/// token presented until it is accepted (bounded by `--jwks-wait` and by what is left of the
/// check budget). A note when that fails.
async fn restore_after_outage(
    ctx: &Ctx,
    facts: &Facts,
    restarts: &Restarts,
) -> Result<Option<String>, HarnessError> {
    ctx.idp.clear_faults().await?;
    let Some(restart) = &ctx.restart else {
        return Ok(None);
    };
    if let Err(why) = restart.restart().await {
        return Ok(Some(format!(
            "after the outage the target could not be restarted with the JWKS working ({why}); the checks after this one may meet a target that is not running"
        )));
    }
    let token = mint_with_kid(ctx, facts, None).await?;
    let left = CHECK_BUDGET
        .saturating_sub(restarts.started.elapsed())
        .saturating_sub(Duration::from_secs(2));
    let wait = ctx.options.jwks_wait.min(left);
    Ok((!accepted_within(ctx, facts, &token, wait).await).then(|| {
        format!(
            "after the outage the target was restarted with the JWKS working, but it did not accept a valid token within {:.1} s; the checks after this one may be affected",
            wait.as_secs_f64()
        )
    }))
}

/// Presents `token` until the target accepts it: whether it did within `wait`.
async fn accepted_within(ctx: &Ctx, facts: &Facts, token: &MintedToken, wait: Duration) -> bool {
    poll_until(wait, RETRY, || async {
        if accepted(&send_token(ctx, facts, token).await).is_ok() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .await
    .is_ok()
}

/// How long a target is given to try a JWKS fetch before it is taken to be inside a refetch
/// cool-down (the second kind of outage, or the first when the target can be restarted).
const SHORT_OUTAGE_WAIT: Duration = Duration::from_secs(3);

/// A verdict reached before the second outage is tried: the first was accepted or never seen.
fn outage_stops(answers: &[(&str, OutageAnswer, bool)], wait: Duration) -> Option<Verdict> {
    let (label, answer, ever_fetched) = answers.last()?;
    match answer {
        OutageAnswer::Accepted(e) => Some(Verdict::fail(
            format!(
                "with the JWKS answering {label}, the target accepted a token signed by a key it could not fetch"
            ),
            vec![e.clone()],
        )),
        // Not a skip: a verifier that cached the JWKS in an earlier run against this IdP (jose
        // keeps it for minutes) looks the same as one with a static key, and a skip would let an
        // untested MUST pass the run.
        OutageAnswer::Refused {
            exchange,
            tried: false,
        } if !ever_fetched => Some(Verdict::not_testable(
            format!(
                "the target never fetched the JWKS during this run (a JWKS cached from an earlier run, or a static key), so a JWKS outage could not reach it within {} s; restart the target or rerun with --jwks-wait 35 to judge",
                wait.as_secs()
            ),
            vec![exchange.clone()],
        )),
        OutageAnswer::Refused {
            exchange,
            tried: false,
        } => Some(Verdict::not_testable(
            format!(
                "the target did not try to fetch the JWKS within {} s (refetch cool-down?), so the outage was never seen",
                wait.as_secs()
            ),
            vec![exchange.clone()],
        )),
        OutageAnswer::Refused { tried: true, .. } => None,
    }
}

/// Every outage was seen and refused: how.
fn judge_outage(answers: Vec<(&str, OutageAnswer, bool)>) -> Verdict {
    let mut v = Verdict::default();
    for (label, answer, _) in answers {
        let OutageAnswer::Refused { exchange, .. } = answer else {
            continue;
        };
        match exchange.status() {
            Some(401) => v
                .notes
                .push(format!("JWKS answering {label}: refused with 401")),
            Some(503) => v.notes.push(format!(
                "JWKS answering {label}: refused with 503 (tolerated)"
            )),
            Some(s) => {
                v.warnings.push(format!(
                    "JWKS answering {label}: refused, but with HTTP {s}; 401 (or 503) is expected"
                ));
                v.evidence.push(exchange);
            }
            None => {
                v.warnings.push(format!(
                    "JWKS answering {label}: the target did not answer within the deadline"
                ));
                v.evidence.push(exchange);
            }
        }
    }
    v
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
    Ok((!accepted_within(ctx, facts, &token, ctx.options.jwks_wait).await).then(|| {
        format!(
            "after the run the IdP's original signing key is active again, but the target did not accept it within {} s (it is probably inside its JWKS refetch cool-down); it will pick the key up by itself, but a run started right away may see its positive control fail",
            ctx.options.jwks_wait.as_secs()
        )
    }))
}

// ---- Refetch rate limit -------------------------------------------------------------------

/// How many tokens with made-up key ids `jwks.refetch-rate-limited` sends in a burst.
const UNKNOWN_KID_BURST: usize = 30;

/// The most JWKS fetches such a burst may cause: a third of the tokens. A cache that allows a few
/// refetches at once and then waits passes; one that fetches for every unknown key id does not.
const MAX_FETCHES_PER_BURST: usize = UNKNOWN_KID_BURST / 3;

/// `jwks.refetch-rate-limited`: a burst of tokens whose key ids the issuer never published does
/// not turn into a burst of JWKS fetches (RFC 8725 §3.10: the key set is attacker-triggered
/// work).
async fn refetch_rate_limited(cx: &Cx<'_>) -> Judged {
    let (ctx, facts) = (cx.ctx, cx.facts);
    needs_valid_token(facts)?;
    let scope = if facts.required_scopes.is_empty() {
        Value::Null
    } else {
        json!(facts.required_scopes.join(" "))
    };
    // Minted first, so the burst reaches the target as one.
    let mut tokens = Vec::with_capacity(UNKNOWN_KID_BURST);
    for i in 0..UNKNOWN_KID_BURST {
        let kid = format!(
            "conformance-unknown-{i}-{}",
            crate::oauth::flow::random_text(8)
        );
        tokens.push(
            ctx.mint(&json!({"scope": scope, "header": {"kid": kid}}))
                .await?,
        );
    }
    let mark = ctx.idp.last_seq().await?;
    let mut accepted_any = None;
    let mut last = None;
    for token in &tokens {
        let exchange = send_token(ctx, facts, token).await;
        if accepted(&exchange).is_ok() && accepted_any.is_none() {
            accepted_any = Some(exchange.clone());
        }
        last = Some(exchange);
    }
    let fetches = jwks_fetches_since(ctx, mark).await?.len();
    Ok(judge_refetch_rate(fetches, accepted_any, last))
}

fn judge_refetch_rate(
    fetches: usize,
    accepted_any: Option<Exchange>,
    last: Option<Exchange>,
) -> Verdict {
    if let Some(exchange) = accepted_any {
        return Verdict::not_testable(
            "a token whose key id is not in the JWKS was accepted (judged by jwt.untrusted-key), so the burst does not show how the key set is refetched",
            vec![exchange],
        );
    }
    let evidence: Vec<Exchange> = last.into_iter().collect();
    if fetches > MAX_FETCHES_PER_BURST {
        Verdict::fail(
            format!(
                "{UNKNOWN_KID_BURST} tokens with unknown key ids caused {fetches} JWKS fetches: anyone can make the server hammer its issuer; refetch at most a few times per interval"
            ),
            evidence,
        )
    } else {
        Verdict::pass(
            format!(
                "{UNKNOWN_KID_BURST} tokens with unknown key ids caused {fetches} JWKS fetches"
            ),
            evidence,
        )
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testkit::{exchange, render};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    fn answer(status: &str) -> Exchange {
        exchange(&format!("POST http://127.0.0.1:1/mcp\n=>\n{status}"))
    }

    fn unseen(refetched: bool, last_fetch_age: Option<u64>) -> UnseenKey<'static> {
        UnseenKey {
            what: "a key rotation",
            waited: Duration::from_millis(5000),
            refetched,
            last_fetch_age: last_fetch_age.map(Duration::from_secs),
            cooldown: Duration::from_secs(30),
        }
    }

    #[test]
    fn unseen_key() {
        check(
            judge_unseen_key(unseen(true, Some(1)), answer("401")),
            expect![[r#"
                fail: the target refetched the JWKS after a key rotation and still refused a token signed by the new key (waited 5.0 s)
                  evidence: POST http://127.0.0.1:1/mcp -> 401
            "#]],
        );
        check(
            judge_unseen_key(unseen(false, Some(10)), answer("401")),
            expect![[r#"
                not testable: the target has not refetched the JWKS within the 5.0 s wait; it last fetched 10.0 s ago, within the 30 s refetch cool-down verifiers commonly keep; rerun with --jwks-wait 35 to judge
                  evidence: POST http://127.0.0.1:1/mcp -> 401
            "#]],
        );
        check(
            judge_unseen_key(unseen(false, Some(40)), answer("401")),
            expect![[r#"
                fail: a token signed by a key published after a key rotation was refused for 5.0 s, and the target did not refetch the JWKS although its last fetch was more than 30 s ago
                  evidence: POST http://127.0.0.1:1/mcp -> 401
            "#]],
        );
    }

    #[test]
    fn removed_key() {
        check(
            judge_removed_key(answer("200"), "mock-key-1"),
            expect![[r#"
                fail: after refetching a JWKS without mock-key-1, the target still accepted a token signed by it
                  evidence: POST http://127.0.0.1:1/mcp -> 200
            "#]],
        );
        check(
            judge_removed_key(answer("401"), "mock-key-1"),
            expect![[r#"
                pass
                  note: a token signed by the retired key mock-key-1 was refused (HTTP 401)
            "#]],
        );
        check(
            judge_removed_key(answer("! timed out"), "mock-key-1"),
            expect![[r#"
                not testable: the target did not answer the request with the retired key's token
                  evidence: POST http://127.0.0.1:1/mcp -> no answer
            "#]],
        );
    }

    #[test]
    fn outage() {
        let accepted = [("HTTP 500", OutageAnswer::Accepted(answer("200")), true)];
        check(
            outage_stops(&accepted, Duration::from_secs(5)).unwrap(),
            expect![[r#"
                fail: with the JWKS answering HTTP 500, the target accepted a token signed by a key it could not fetch
                  evidence: POST http://127.0.0.1:1/mcp -> 200
            "#]],
        );
        let cached = [(
            "HTTP 500",
            OutageAnswer::Refused {
                exchange: answer("401"),
                tried: false,
            },
            false,
        )];
        check(
            outage_stops(&cached, Duration::from_secs(5)).unwrap(),
            expect![[r#"
                not testable: the target never fetched the JWKS during this run (a JWKS cached from an earlier run, or a static key), so a JWKS outage could not reach it within 5 s; restart the target or rerun with --jwks-wait 35 to judge
                  evidence: POST http://127.0.0.1:1/mcp -> 401
            "#]],
        );
        let refused = |status: &str| OutageAnswer::Refused {
            exchange: answer(status),
            tried: true,
        };
        assert!(outage_stops(&[("HTTP 500", refused("401"), true)], Duration::ZERO).is_none());
        check(
            judge_outage(vec![
                ("HTTP 500", refused("401"), true),
                ("a body that is not JSON", refused("500"), true),
            ]),
            expect![[r#"
                warn: JWKS answering a body that is not JSON: refused, but with HTTP 500; 401 (or 503) is expected
                  note: JWKS answering HTTP 500: refused with 401
                  evidence: POST http://127.0.0.1:1/mcp -> 500
            "#]],
        );
        check(
            judge_outage(vec![
                ("HTTP 500", refused("401"), true),
                ("a body that is not JSON", refused("503"), true),
            ]),
            expect![[r#"
                pass
                  note: JWKS answering HTTP 500: refused with 401
                  note: JWKS answering a body that is not JSON: refused with 503 (tolerated)
            "#]],
        );
    }

    #[test]
    fn refetches_are_bounded() {
        let refused = crate::testkit::exchange("POST http://127.0.0.1:1/mcp\n=>\n401");
        expect_test::expect![[r#"
            pass
              note: 30 tokens with unknown key ids caused 6 JWKS fetches
              evidence: POST http://127.0.0.1:1/mcp -> 401
        "#]]
        .assert_eq(&crate::testkit::render(&judge_refetch_rate(
            6,
            None,
            Some(refused.clone()),
        )));
        expect_test::expect![[r#"
            fail: 30 tokens with unknown key ids caused 30 JWKS fetches: anyone can make the server hammer its issuer; refetch at most a few times per interval
              evidence: POST http://127.0.0.1:1/mcp -> 401
        "#]]
        .assert_eq(&crate::testkit::render(&judge_refetch_rate(30, None, Some(refused))));
    }
}
