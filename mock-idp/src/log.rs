//! The request log: every protocol request, in arrival order, for tests to assert on.
//!
//! The log is bounded (oldest entries dropped first) so a load test cannot exhaust memory;
//! sequence numbers keep increasing, so `since` stays meaningful across drops and clears.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri};

use crate::api::{EndpointKind, RecordedRequest, Refusal};
use crate::clock::wall_millis;

/// Request bodies are read up to this size; larger ones are refused, and recorded truncated.
pub(crate) const BODY_CAP: usize = 64 * 1024;
/// The most entries the log holds.
pub(crate) const MAX_ENTRIES: usize = 10_000;
/// The most body bytes the log holds, summed over entries.
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Which recorded endpoint `path` belongs to; `None` for the control API (never recorded).
pub(crate) fn classify(path: &str) -> Option<EndpointKind> {
    if path == "/_control" || path.starts_with("/_control/") {
        return None;
    }
    Some(match path {
        "/.well-known/oauth-authorization-server" | "/.well-known/openid-configuration" => {
            EndpointKind::Metadata
        }
        "/jwks" => EndpointKind::Jwks,
        "/authorize" | "/authorize/decision" => EndpointKind::Authorize,
        "/register" => EndpointKind::Register,
        _ if path.starts_with("/register/") => EndpointKind::Register,
        "/userinfo" => EndpointKind::Userinfo,
        "/token" => EndpointKind::Token,
        "/introspect" => EndpointKind::Introspect,
        "/revoke" => EndpointKind::Revoke,
        "/healthz" => EndpointKind::Health,
        "/downstream" => EndpointKind::Downstream,
        _ if path.starts_with("/documents/") => EndpointKind::Document,
        _ if path.starts_with("/_probe/") => EndpointKind::Probe,
        _ => EndpointKind::Other,
    })
}

/// A request as it arrived, in owned compact form: the URI, the headers and the body packed into
/// one buffer, so recording costs one allocation and no text conversion, and keeps no part of the
/// connection's read buffer alive. (An entry lives for thousands of requests before it is dropped:
/// one allocation per entry, not two, is one cold free less per request under load.)
/// [`Captured::render`] makes the `RecordedRequest` of the control API when the log is read.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    at_ms: u64,
    endpoint: EndpointKind,
    method: Method,
    /// `uri \n name \0 value \n name \0 value ... \n` and then the body.
    packed: Box<[u8]>,
    /// Where the body starts in `packed`.
    body_at: usize,
}

/// A request that has just arrived.
pub(crate) fn capture(parts: &Parts, endpoint: EndpointKind, body: &Bytes) -> Captured {
    capture_head(&parts.method, &parts.uri, &parts.headers, endpoint, body)
}

/// A request that has just arrived, from its head without taking the request apart.
pub(crate) fn capture_head(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    endpoint: EndpointKind,
    body: &Bytes,
) -> Captured {
    let uri = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let body = &body[..body.len().min(BODY_CAP)];
    let size = uri.len()
        + 1
        + headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 2)
            .sum::<usize>()
        + body.len();
    let mut packed = Vec::with_capacity(size);
    packed.extend_from_slice(uri.as_bytes());
    packed.push(b'\n');
    for (name, value) in headers {
        packed.extend_from_slice(name.as_str().as_bytes());
        packed.push(0);
        packed.extend_from_slice(value.as_bytes());
        packed.push(b'\n');
    }
    let body_at = packed.len();
    packed.extend_from_slice(body);
    Captured {
        at_ms: wall_millis(),
        endpoint,
        method: method.clone(),
        packed: packed.into_boxed_slice(),
        body_at,
    }
}

impl Captured {
    /// Bytes this entry holds, for the log's budget.
    fn size(&self) -> usize {
        self.packed.len()
    }

    /// The control API's view: header names lowercased, repeats joined with `", "`, sorted;
    /// the body as lossy UTF-8.
    pub(crate) fn render(
        &self,
        seq: u64,
        status: u16,
        refusal: Option<Refusal>,
    ) -> RecordedRequest {
        let (head, body) = self.packed.split_at(self.body_at);
        let mut lines = head.split(|b| *b == b'\n');
        let uri = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
        let (path, query) = match uri.split_once('?') {
            Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
            None => (uri, None),
        };
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let Some(split) = line.iter().position(|b| *b == 0) else {
                continue;
            };
            // HTTP header names are already lowercase in the `http` crate.
            let name = String::from_utf8_lossy(&line[..split]).to_ascii_lowercase();
            let value = String::from_utf8_lossy(&line[split + 1..]);
            headers
                .entry(name)
                .and_modify(|joined| {
                    joined.push_str(", ");
                    joined.push_str(&value);
                })
                .or_insert_with(|| value.into_owned());
        }
        RecordedRequest {
            seq,
            at_ms: self.at_ms,
            endpoint: self.endpoint,
            method: self.method.as_str().to_owned(),
            path,
            query,
            headers,
            body: String::from_utf8_lossy(body).into_owned(),
            status,
            refusal,
        }
    }
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    captured: Captured,
    /// Why it was refused; set after the answer, under the log's lock (only refusals pay for it).
    refusal: Option<Box<Refusal>>,
}

/// The status answered to each request in the log, set without the log's lock: the recorder sets
/// it when the answer is made, on every request, and two workers taking the log's mutex twice per
/// request made them wait on each other.
///
/// One slot per log entry, indexed by `seq % len`; a slot holds `seq << 16 | status`. The log
/// holds at most `len` entries with contiguous sequence numbers, so live entries never share a
/// slot, and the tag stops a request answered after its entry was dropped from writing into the
/// slot's new owner. Tags are 48 bits: after 2^48 requests statuses would read as 0.
#[derive(Debug)]
pub(crate) struct StatusSlots {
    slots: Box<[AtomicU64]>,
}

impl StatusSlots {
    fn new(len: usize) -> Self {
        StatusSlots {
            slots: (0..len.max(1)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn slot(&self, seq: u64) -> &AtomicU64 {
        // The remainder is below the slot count, which is a usize.
        &self.slots[(seq % self.slots.len() as u64) as usize]
    }

    /// Claims the slot for a new entry (no status yet).
    fn begin(&self, seq: u64) {
        self.slot(seq).store(seq << 16, Ordering::Release);
    }

    /// Records the status of `seq`, once, if its entry still owns the slot.
    pub(crate) fn set(&self, seq: u64, status: u16) {
        let _ = self.slot(seq).compare_exchange(
            seq << 16,
            seq << 16 | u64::from(status),
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }

    /// The status of `seq`; 0 while it has none.
    fn get(&self, seq: u64) -> u16 {
        let value = self.slot(seq).load(Ordering::Acquire);
        if value >> 16 == seq {
            (value & 0xffff) as u16
        } else {
            0
        }
    }
}

/// The bounded, ordered log.
#[derive(Debug)]
pub(crate) struct RequestLog {
    entries: VecDeque<Entry>,
    statuses: Arc<StatusSlots>,
    last_seq: u64,
    body_bytes: usize,
    max_entries: usize,
    max_body_bytes: usize,
}

/// An entry pushed out of the log, to be dropped after the log's lock is released.
#[derive(Debug)]
pub(crate) struct Evicted(#[allow(dead_code)] Option<Captured>);

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog::with_limits(MAX_ENTRIES, MAX_BODY_BYTES)
    }
}

impl RequestLog {
    pub(crate) fn with_limits(max_entries: usize, max_body_bytes: usize) -> Self {
        RequestLog {
            entries: VecDeque::new(),
            statuses: Arc::new(StatusSlots::new(max_entries)),
            last_seq: 0,
            body_bytes: 0,
            max_entries,
            max_body_bytes,
        }
    }

    /// The status slots, to set statuses without this log's lock.
    pub(crate) fn statuses(&self) -> Arc<StatusSlots> {
        Arc::clone(&self.statuses)
    }

    /// Appends `entry` with the next sequence number, which it returns.
    #[cfg(test)]
    pub(crate) fn push(&mut self, captured: Captured) -> u64 {
        self.push_evicting(captured).0
    }

    /// Appends `entry` with the next sequence number, which it returns with the oldest entry
    /// if it had to go (freeing it is left to the caller, outside the lock). When the byte
    /// budget pushes out more than one entry, the others are dropped here.
    pub(crate) fn push_evicting(&mut self, captured: Captured) -> (u64, Evicted) {
        self.last_seq += 1;
        self.body_bytes += captured.size();
        self.entries.push_back(Entry {
            seq: self.last_seq,
            captured,
            refusal: None,
        });
        self.statuses.begin(self.last_seq);
        let mut evicted = None;
        while self.entries.len() > self.max_entries
            || (self.body_bytes > self.max_body_bytes && self.entries.len() > 1)
        {
            if let Some(dropped) = self.entries.pop_front() {
                self.body_bytes -= dropped.captured.size();
                evicted = Some(dropped.captured);
            }
        }
        (self.last_seq, Evicted(evicted))
    }

    /// Records the status answered to request `seq` (if it is still in the log).
    #[cfg(test)]
    pub(crate) fn set_status(&self, seq: u64, status: u16) {
        self.statuses.set(seq, status);
    }

    /// Entries with `seq > since`, oldest first.
    /// The sequence number of the newest request recorded so far (0 before the first).
    pub(crate) fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub(crate) fn since(&self, since: u64) -> Vec<RecordedRequest> {
        let start = self.entries.partition_point(|e| e.seq <= since);
        self.entries
            .range(start..)
            .map(|e| self.render(e))
            .collect()
    }

    /// The newest `n` entries, newest first.
    pub(crate) fn newest(&self, n: usize) -> Vec<RecordedRequest> {
        self.entries
            .iter()
            .rev()
            .take(n)
            .map(|e| self.render(e))
            .collect()
    }

    fn render(&self, entry: &Entry) -> RecordedRequest {
        let refusal = entry.refusal.as_deref().cloned();
        entry
            .captured
            .render(entry.seq, self.statuses.get(entry.seq), refusal)
    }

    /// Records why request `seq` was refused (if it is still in the log). Sequence numbers in
    /// the log are contiguous, so the entry is found by subtraction.
    pub(crate) fn set_refusal(&mut self, seq: u64, refusal: Refusal) {
        let Some(first) = self.entries.front().map(|e| e.seq) else {
            return;
        };
        let Some(index) = seq.checked_sub(first).and_then(|i| usize::try_from(i).ok()) else {
            return;
        };
        if let Some(entry) = self.entries.get_mut(index).filter(|e| e.seq == seq) {
            entry.refusal = Some(Box::new(refusal));
        }
    }

    /// Empties the log; sequence numbers continue.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.body_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("request").into_parts().0
    }

    #[test]
    fn classification() {
        assert_eq!(
            classify("/.well-known/openid-configuration"),
            Some(EndpointKind::Metadata)
        );
        assert_eq!(
            classify("/.well-known/oauth-authorization-server"),
            Some(EndpointKind::Metadata)
        );
        assert_eq!(classify("/jwks"), Some(EndpointKind::Jwks));
        assert_eq!(classify("/token"), Some(EndpointKind::Token));
        assert_eq!(classify("/introspect"), Some(EndpointKind::Introspect));
        assert_eq!(classify("/revoke"), Some(EndpointKind::Revoke));
        assert_eq!(classify("/healthz"), Some(EndpointKind::Health));
        assert_eq!(classify("/_probe/jku"), Some(EndpointKind::Probe));
        assert_eq!(classify("/jwks/"), Some(EndpointKind::Other));
        assert_eq!(classify("/_controlx"), Some(EndpointKind::Other));
        assert_eq!(classify("/_control"), None);
        assert_eq!(classify("/_control/requests"), None);
    }

    #[test]
    fn capture_lowercases_sorts_joins_and_caps() {
        let parts = parts(
            "POST",
            "/introspect?a=1",
            &[("X-B", "2"), ("x-a", "1"), ("X-A", "one more")],
        );
        let body = Bytes::from(vec![b'x'; BODY_CAP + 10]);
        let entry = capture(&parts, EndpointKind::Introspect, &body).render(0, 0, None);
        assert_eq!(entry.method, "POST");
        assert_eq!(entry.path, "/introspect");
        assert_eq!(entry.query.as_deref(), Some("a=1"));
        let headers: Vec<(&str, &str)> = entry
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(headers, [("x-a", "1, one more"), ("x-b", "2")]);
        assert_eq!(entry.body.len(), BODY_CAP);
        assert_eq!(entry.status, 0);
    }

    #[test]
    fn sequence_since_status_and_clear() {
        let mut log = RequestLog::default();
        let p = parts("GET", "/jwks", &[]);
        let first = log.push(capture(&p, EndpointKind::Jwks, &Bytes::new()));
        let second = log.push(capture(&p, EndpointKind::Jwks, &Bytes::new()));
        assert_eq!((first, second), (1, 2));
        log.set_status(second, 503);
        let all = log.since(0);
        assert_eq!(
            all.iter().map(|e| (e.seq, e.status)).collect::<Vec<_>>(),
            [(1, 0), (2, 503)]
        );
        assert_eq!(log.since(1).len(), 1);
        assert!(log.since(2).is_empty());
        log.clear();
        assert!(log.since(0).is_empty());
        assert_eq!(
            log.push(capture(&p, EndpointKind::Jwks, &Bytes::new())),
            3,
            "seq continues after a clear"
        );
    }

    #[test]
    fn a_status_set_after_its_entry_left_does_not_land_on_another() {
        let p = parts("GET", "/jwks", &[]);
        let mut log = RequestLog::with_limits(2, 1_000);
        let first = log.push(capture(&p, EndpointKind::Jwks, &Bytes::new()));
        let _second = log.push(capture(&p, EndpointKind::Jwks, &Bytes::new()));
        // The third entry pushes the first out and takes its slot.
        let third = log.push(capture(&p, EndpointKind::Jwks, &Bytes::new()));
        log.set_status(first, 500);
        log.set_status(third, 200);
        log.set_status(third, 404); // set once: the first answer counts
        assert_eq!(
            log.since(0)
                .iter()
                .map(|e| (e.seq, e.status))
                .collect::<Vec<_>>(),
            [(2, 0), (3, 200)]
        );
    }

    #[test]
    fn a_refusal_lands_on_its_own_entry_only() {
        let p = parts("POST", "/token", &[]);
        let refusal = |reason| Refusal {
            reason,
            error: "invalid_grant".into(),
            description: None,
        };
        let mut log = RequestLog::with_limits(2, 1_000);
        let first = log.push(capture(&p, EndpointKind::Token, &Bytes::new()));
        let second = log.push(capture(&p, EndpointKind::Token, &Bytes::new()));
        let third = log.push(capture(&p, EndpointKind::Token, &Bytes::new()));
        // The first entry left the log: its refusal is dropped, not put on another entry.
        log.set_refusal(first, refusal(crate::api::RefusalReason::Code));
        log.set_refusal(third, refusal(crate::api::RefusalReason::Pkce));
        let reasons: Vec<_> = log
            .since(0)
            .iter()
            .map(|e| (e.seq, e.refusal.as_ref().map(|r| r.reason)))
            .collect();
        assert_eq!(
            reasons,
            [
                (second, None),
                (third, Some(crate::api::RefusalReason::Pkce))
            ]
        );
        log.clear();
        log.set_refusal(third, refusal(crate::api::RefusalReason::Code));
        let fourth = log.push(capture(&p, EndpointKind::Token, &Bytes::new()));
        log.set_refusal(fourth + 1, refusal(crate::api::RefusalReason::Code));
        assert_eq!(log.since(0)[0].refusal, None);
    }

    #[test]
    fn bounded_by_entries_and_bytes() {
        let p = parts("POST", "/token", &[]);
        let mut log = RequestLog::with_limits(3, 1_000);
        for _ in 0..5 {
            log.push(capture(&p, EndpointKind::Token, &Bytes::from_static(b"x")));
        }
        assert_eq!(
            log.since(0).iter().map(|e| e.seq).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        let mut log = RequestLog::with_limits(100, 1_000);
        for _ in 0..3 {
            log.push(capture(
                &p,
                EndpointKind::Token,
                &Bytes::from(vec![b'y'; 400]),
            ));
        }
        assert_eq!(
            log.since(0).iter().map(|e| e.seq).collect::<Vec<_>>(),
            [2, 3]
        );
    }
}
