//! Authorization codes and refresh-token families: one-time use, expiry, rotation, and the
//! revocation that follows a replay (OAuth 2.1 §4.1.3 and §4.3.1, RFC 9700 §4.14.2).

use std::collections::{HashMap, VecDeque};

/// What the authorization endpoint granted, carried by a code and then by a refresh family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    pub(crate) subject: String,
    /// Space-separated; empty for none.
    pub(crate) scope: String,
    /// RFC 8707 resources the grant is bound to (the tokens' audiences).
    pub(crate) resources: Vec<String>,
    pub(crate) nonce: Option<String>,
}

/// An issued authorization code.
#[derive(Debug, Clone)]
pub(crate) struct CodeRecord {
    pub(crate) grant: Grant,
    /// The `redirect_uri` sent to `/authorize`, which the token request must repeat.
    pub(crate) redirect_uri: Option<String>,
    pub(crate) code_challenge: String,
    pub(crate) expires_at: i64,
    pub(crate) used: bool,
    /// Access tokens issued for this code, revoked if the code is replayed.
    pub(crate) issued_tokens: Vec<String>,
    /// The refresh family started by this code, revoked if the code is replayed.
    pub(crate) family: Option<u64>,
}

/// Why a code cannot be redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CodeRefusal {
    Unknown,
    Expired,
    /// Replayed: what it issued before must now be revoked.
    Replayed {
        tokens: Vec<String>,
        family: Option<u64>,
    },
    OtherClient,
}

/// A chain of refresh tokens from one authorization.
#[derive(Debug, Clone)]
pub(crate) struct Family {
    pub(crate) grant: Grant,
    pub(crate) revoked: bool,
    /// Access tokens issued in this family, revoked with it (bounded).
    pub(crate) issued_tokens: VecDeque<String>,
}

#[derive(Debug, Clone)]
struct RefreshRecord {
    family: u64,
    expires_at: i64,
    /// Rotated away: presenting it again is a replay.
    used: bool,
}

/// Why a refresh token cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefreshRefusal {
    Unknown,
    Expired,
    OtherClient,
    /// The family was revoked earlier.
    Revoked,
    /// A rotated token was replayed: the family is now revoked, with these access tokens.
    Replayed {
        tokens: Vec<String>,
    },
}

const CODE_CAPACITY: usize = 10_000;
const REFRESH_CAPACITY: usize = 50_000;
const TOKENS_PER_FAMILY: usize = 64;

/// The grants of one issuer.
#[derive(Debug, Default)]
pub(crate) struct GrantStore {
    codes: HashMap<String, CodeRecord>,
    code_order: VecDeque<String>,
    refresh: HashMap<String, RefreshRecord>,
    refresh_order: VecDeque<String>,
    families: HashMap<u64, Family>,
    next_family: u64,
}

impl GrantStore {
    pub(crate) fn add_code(&mut self, code: String, record: CodeRecord) {
        self.code_order.push_back(code.clone());
        self.codes.insert(code, record);
        while self.code_order.len() > CODE_CAPACITY {
            if let Some(old) = self.code_order.pop_front() {
                self.codes.remove(&old);
            }
        }
    }

    /// Marks the code used and returns it, if `client_id` may redeem it now.
    #[cfg(test)]
    pub(crate) fn redeem_code(
        &mut self,
        code: &str,
        client_id: &str,
        now: i64,
    ) -> Result<CodeRecord, CodeRefusal> {
        self.redeem_code_loosely(code, client_id, now, false, false)
    }

    /// [`GrantStore::redeem_code`], optionally without the client binding (`unbound`) or the
    /// single use (`reusable`): the deliberate defects of fault targets.
    pub(crate) fn redeem_code_loosely(
        &mut self,
        code: &str,
        client_id: &str,
        now: i64,
        unbound: bool,
        reusable: bool,
    ) -> Result<CodeRecord, CodeRefusal> {
        let Some(record) = self.codes.get_mut(code) else {
            return Err(CodeRefusal::Unknown);
        };
        if record.grant.client_id != client_id && !unbound {
            return Err(CodeRefusal::OtherClient);
        }
        if record.used && !reusable {
            let refusal = CodeRefusal::Replayed {
                tokens: std::mem::take(&mut record.issued_tokens),
                family: record.family,
            };
            if let Some(family) = record.family.and_then(|f| self.families.get_mut(&f)) {
                family.revoked = true;
            }
            return Err(refusal);
        }
        if now >= record.expires_at {
            return Err(CodeRefusal::Expired);
        }
        record.used = true;
        Ok(record.clone())
    }

    /// Remembers what a redeemed code issued, for revocation on replay.
    pub(crate) fn code_issued(&mut self, code: &str, access_token: &str, family: Option<u64>) {
        if let Some(record) = self.codes.get_mut(code) {
            record.issued_tokens.push(access_token.to_owned());
            record.family = family;
        }
    }

    /// Starts a refresh family for a grant; returns its id.
    pub(crate) fn new_family(&mut self, grant: Grant) -> u64 {
        self.next_family += 1;
        let id = self.next_family;
        self.families.insert(
            id,
            Family {
                grant,
                revoked: false,
                issued_tokens: VecDeque::new(),
            },
        );
        id
    }

    pub(crate) fn add_refresh(&mut self, token: String, family: u64, expires_at: i64) {
        self.refresh_order.push_back(token.clone());
        self.refresh.insert(
            token,
            RefreshRecord {
                family,
                expires_at,
                used: false,
            },
        );
        while self.refresh_order.len() > REFRESH_CAPACITY {
            if let Some(old) = self.refresh_order.pop_front() {
                self.refresh.remove(&old);
            }
        }
    }

    /// Records an access token issued in a family.
    pub(crate) fn family_issued(&mut self, family: u64, access_token: &str) {
        if let Some(f) = self.families.get_mut(&family) {
            f.issued_tokens.push_back(access_token.to_owned());
            while f.issued_tokens.len() > TOKENS_PER_FAMILY {
                f.issued_tokens.pop_front();
            }
        }
    }

    /// Checks a refresh token; with `rotate`, marks it used so a second use is a replay.
    pub(crate) fn use_refresh(
        &mut self,
        token: &str,
        client_id: &str,
        now: i64,
        rotate: bool,
    ) -> Result<(u64, Grant), RefreshRefusal> {
        let Some(record) = self.refresh.get_mut(token) else {
            return Err(RefreshRefusal::Unknown);
        };
        let Some(family) = self.families.get_mut(&record.family) else {
            return Err(RefreshRefusal::Unknown);
        };
        if family.grant.client_id != client_id {
            return Err(RefreshRefusal::OtherClient);
        }
        if family.revoked {
            return Err(RefreshRefusal::Revoked);
        }
        if record.used {
            family.revoked = true;
            return Err(RefreshRefusal::Replayed {
                tokens: family.issued_tokens.drain(..).collect(),
            });
        }
        if now >= record.expires_at {
            return Err(RefreshRefusal::Expired);
        }
        if rotate {
            record.used = true;
        }
        Ok((record.family, family.grant.clone()))
    }

    /// The grant behind a refresh token, whatever its state, without using it.
    pub(crate) fn peek_refresh(&self, token: &str) -> Option<Grant> {
        let record = self.refresh.get(token)?;
        self.families.get(&record.family).map(|f| f.grant.clone())
    }

    /// The family of a refresh token, whatever its state.
    pub(crate) fn family_of(&self, token: &str) -> Option<u64> {
        self.refresh.get(token).map(|r| r.family)
    }

    /// Whether a refresh token is currently usable (for introspection).
    pub(crate) fn refresh_active(&self, token: &str, now: i64) -> Option<(Grant, i64)> {
        let record = self.refresh.get(token)?;
        let family = self.families.get(&record.family)?;
        (!record.used && !family.revoked && now < record.expires_at)
            .then(|| (family.grant.clone(), record.expires_at))
    }

    /// Revokes a family (RFC 7009 §2.1: revoking a refresh token may revoke its access tokens);
    /// returns the access tokens to revoke with it.
    pub(crate) fn revoke_family(&mut self, family: u64) -> Vec<String> {
        match self.families.get_mut(&family) {
            Some(f) => {
                f.revoked = true;
                f.issued_tokens.drain(..).collect()
            }
            None => Vec::new(),
        }
    }

    /// Revokes everything one authorization code led to (what its redemption issued and its
    /// refresh family), as if the user withdrew that grant; `None` for an unknown code.
    pub(crate) fn revoke_code_grant(&mut self, code: &str) -> Option<Vec<String>> {
        let record = self.codes.get_mut(code)?;
        let mut tokens = std::mem::take(&mut record.issued_tokens);
        if let Some(family) = record.family {
            tokens.extend(self.revoke_family(family));
        }
        Some(tokens)
    }

    pub(crate) fn clear(&mut self) {
        *self = GrantStore::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            client_id: "c".into(),
            subject: "u".into(),
            scope: "a".into(),
            resources: vec![],
            nonce: None,
        }
    }

    fn code_record(expires_at: i64) -> CodeRecord {
        CodeRecord {
            grant: grant(),
            redirect_uri: None,
            code_challenge: String::new(),
            expires_at,
            used: false,
            issued_tokens: vec![],
            family: None,
        }
    }

    #[test]
    fn codes_are_one_time_and_a_replay_returns_what_they_issued() {
        let mut store = GrantStore::default();
        store.add_code("k".into(), code_record(100));
        assert_eq!(
            store.redeem_code("k", "other", 0).expect_err("client"),
            CodeRefusal::OtherClient
        );
        assert!(store.redeem_code("k", "c", 0).is_ok());
        let family = store.new_family(grant());
        store.code_issued("k", "at1", Some(family));
        assert_eq!(
            store.redeem_code("k", "c", 0).expect_err("replay"),
            CodeRefusal::Replayed {
                tokens: vec!["at1".into()],
                family: Some(family)
            }
        );
        store.add_code("late".into(), code_record(100));
        assert_eq!(
            store.redeem_code("late", "c", 100).expect_err("expired"),
            CodeRefusal::Expired
        );
        assert_eq!(
            store.redeem_code("nope", "c", 0).expect_err("unknown"),
            CodeRefusal::Unknown
        );
    }

    #[test]
    fn rotated_refresh_token_replay_revokes_the_family() {
        let mut store = GrantStore::default();
        let family = store.new_family(grant());
        store.add_refresh("r1".into(), family, 1_000);
        store.family_issued(family, "at1");
        assert!(store.use_refresh("r1", "c", 0, true).is_ok());
        store.add_refresh("r2".into(), family, 1_000);
        store.family_issued(family, "at2");
        assert_eq!(
            store.use_refresh("r1", "c", 0, true).expect_err("replay"),
            RefreshRefusal::Replayed {
                tokens: vec!["at1".into(), "at2".into()]
            }
        );
        assert_eq!(
            store.use_refresh("r2", "c", 0, true).expect_err("revoked"),
            RefreshRefusal::Revoked,
            "the legitimate holder's newest token dies with the family"
        );
    }

    #[test]
    fn unrotated_refresh_tokens_are_reusable() {
        let mut store = GrantStore::default();
        let family = store.new_family(grant());
        store.add_refresh("r".into(), family, 1_000);
        assert!(store.use_refresh("r", "c", 0, false).is_ok());
        assert!(store.use_refresh("r", "c", 0, false).is_ok());
        assert_eq!(
            store
                .use_refresh("r", "c", 1_000, false)
                .expect_err("expired"),
            RefreshRefusal::Expired
        );
        assert_eq!(
            store.use_refresh("r", "x", 0, false).expect_err("client"),
            RefreshRefusal::OtherClient
        );
    }
}
