//! Injected faults: which endpoint misbehaves, how, and for how many more calls.

use std::collections::HashMap;
use std::time::Duration;

use crate::api::{EndpointKind, Fault, FaultEndpoint, FaultSpec};

/// The longest a `hang` (or `delay`) holds a request.
pub(crate) const MAX_HOLD: Duration = Duration::from_secs(300);

/// The body of a `garbage` fault: announced as JSON, not JSON.
pub(crate) const GARBAGE_BODY: &str = "{\"this is\": not json <<<";

/// The fault endpoint a recorded endpoint belongs to, if faults apply to it.
pub(crate) fn fault_endpoint(kind: EndpointKind) -> Option<FaultEndpoint> {
    match kind {
        EndpointKind::Metadata => Some(FaultEndpoint::Metadata),
        EndpointKind::Jwks => Some(FaultEndpoint::Jwks),
        EndpointKind::Token => Some(FaultEndpoint::Token),
        EndpointKind::Introspect => Some(FaultEndpoint::Introspect),
        EndpointKind::Authorize => Some(FaultEndpoint::Authorize),
        EndpointKind::Register => Some(FaultEndpoint::Register),
        EndpointKind::Userinfo => Some(FaultEndpoint::Userinfo),
        EndpointKind::Revoke => Some(FaultEndpoint::Revoke),
        EndpointKind::Probe
        | EndpointKind::Health
        | EndpointKind::Downstream
        | EndpointKind::Document
        | EndpointKind::Other => None,
    }
}

#[derive(Debug, Clone)]
struct Rule {
    fault: Fault,
    /// `None`: every call until cleared.
    remaining: Option<u32>,
}

/// At most one rule per endpoint; setting a rule replaces the previous one.
#[derive(Debug, Default)]
pub(crate) struct FaultTable {
    rules: HashMap<(FaultEndpoint, Option<String>), Rule>,
}

impl FaultTable {
    pub(crate) fn set(&mut self, spec: FaultSpec) -> Result<(), String> {
        match spec.fault {
            Fault::Status { status } if !(200..=599).contains(&status) => {
                return Err(format!("status {status} is not between 200 and 599"));
            }
            Fault::Delay { ms } if Duration::from_millis(ms) > MAX_HOLD => {
                return Err(format!("delay {ms} ms exceeds {} ms", MAX_HOLD.as_millis()));
            }
            Fault::OauthError {
                ref error, status, ..
            } => {
                let printable = !error.is_empty()
                    && error
                        .bytes()
                        .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\');
                if !printable {
                    return Err(
                        "an OAuth error code is printable ASCII without quotes or backslashes (RFC 6749 §5.2)"
                            .to_owned(),
                    );
                }
                if let Some(status) = status
                    && !(200..=599).contains(&status)
                {
                    return Err(format!("status {status} is not between 200 and 599"));
                }
            }
            _ => {}
        }
        let key = (spec.endpoint, spec.client_id);
        if spec.times == Some(0) {
            self.rules.remove(&key);
        } else {
            self.rules.insert(
                key,
                Rule {
                    fault: spec.fault,
                    remaining: spec.times,
                },
            );
        }
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether any rule is for a particular client (then requests must be read for theirs).
    pub(crate) fn has_client_rules(&self) -> bool {
        self.rules.keys().any(|(_, client)| client.is_some())
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// The fault for one call to `endpoint` by `client`, counting the call.
    pub(crate) fn take(&mut self, endpoint: FaultEndpoint, client: Option<&str>) -> Option<Fault> {
        let specific = client.map(|c| (endpoint, Some(c.to_owned())));
        let key = match specific {
            Some(key) if self.rules.contains_key(&key) => key,
            _ => (endpoint, None),
        };
        let rule = self.rules.get_mut(&key)?;
        let fault = rule.fault.clone();
        match &mut rule.remaining {
            None => {}
            Some(1) => {
                self.rules.remove(&key);
            }
            Some(n) => *n -= 1,
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(endpoint: FaultEndpoint, fault: Fault, times: Option<u32>) -> FaultSpec {
        FaultSpec {
            endpoint,
            fault,
            times,
            client_id: None,
        }
    }

    #[test]
    fn client_rules_win_for_their_client_only() {
        let mut table = FaultTable::default();
        let specific = Fault::OauthError {
            error: "invalid_grant".into(),
            status: Some(401),
            description: None,
        };
        table
            .set(FaultSpec {
                client_id: Some("a".into()),
                ..spec(FaultEndpoint::Token, specific.clone(), Some(1))
            })
            .expect("set");
        table
            .set(spec(FaultEndpoint::Token, Fault::Html, None))
            .expect("set");
        assert!(table.has_client_rules());
        assert_eq!(
            table.take(FaultEndpoint::Token, Some("b")),
            Some(Fault::Html)
        );
        assert_eq!(table.take(FaultEndpoint::Token, Some("a")), Some(specific));
        assert_eq!(
            table.take(FaultEndpoint::Token, Some("a")),
            Some(Fault::Html)
        );
        assert!(!table.has_client_rules());
        let bad = Fault::OauthError {
            error: "bad\"code".into(),
            status: None,
            description: None,
        };
        assert!(table.set(spec(FaultEndpoint::Token, bad, None)).is_err());
    }

    #[test]
    fn counted_faults_run_out() {
        let mut table = FaultTable::default();
        let fault = Fault::Status { status: 500 };
        table
            .set(spec(FaultEndpoint::Jwks, fault.clone(), Some(2)))
            .expect("set");
        assert_eq!(table.take(FaultEndpoint::Token, None), None);
        assert_eq!(table.take(FaultEndpoint::Jwks, None), Some(fault.clone()));
        assert_eq!(table.take(FaultEndpoint::Jwks, None), Some(fault));
        assert_eq!(table.take(FaultEndpoint::Jwks, None), None);
    }

    #[test]
    fn uncounted_faults_last_until_cleared() {
        let mut table = FaultTable::default();
        table
            .set(spec(FaultEndpoint::Metadata, Fault::Garbage, None))
            .expect("set");
        for _ in 0..5 {
            assert_eq!(
                table.take(FaultEndpoint::Metadata, None),
                Some(Fault::Garbage)
            );
        }
        table.clear();
        assert_eq!(table.take(FaultEndpoint::Metadata, None), None);
    }

    #[test]
    fn setting_replaces_and_zero_removes() {
        let mut table = FaultTable::default();
        table
            .set(spec(FaultEndpoint::Token, Fault::Hang, None))
            .expect("set");
        table
            .set(spec(FaultEndpoint::Token, Fault::Delay { ms: 5 }, None))
            .expect("replace");
        assert_eq!(
            table.take(FaultEndpoint::Token, None),
            Some(Fault::Delay { ms: 5 })
        );
        table
            .set(spec(FaultEndpoint::Token, Fault::Hang, Some(0)))
            .expect("zero");
        assert_eq!(table.take(FaultEndpoint::Token, None), None);
    }

    #[test]
    fn invalid_faults_are_refused() {
        let mut table = FaultTable::default();
        let too_low = spec(FaultEndpoint::Jwks, Fault::Status { status: 101 }, None);
        assert!(table.set(too_low).is_err());
        let too_long = spec(FaultEndpoint::Jwks, Fault::Delay { ms: 300_001 }, None);
        assert!(table.set(too_long).is_err());
        assert_eq!(table.take(FaultEndpoint::Jwks, None), None);
    }

    #[test]
    fn garbage_is_not_json() {
        assert!(serde_json::from_str::<serde_json::Value>(GARBAGE_BODY).is_err());
    }

    #[test]
    fn endpoint_mapping() {
        assert_eq!(
            fault_endpoint(EndpointKind::Jwks),
            Some(FaultEndpoint::Jwks)
        );
        assert_eq!(
            fault_endpoint(EndpointKind::Metadata),
            Some(FaultEndpoint::Metadata)
        );
        assert_eq!(
            fault_endpoint(EndpointKind::Revoke),
            Some(FaultEndpoint::Revoke)
        );
        assert_eq!(fault_endpoint(EndpointKind::Probe), None);
    }
}
