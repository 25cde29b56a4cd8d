//! Authorization codes and refresh-token families: one-time use, expiry, rotation, and the
//! revocation that follows a replay (OAuth 2.1 §4.1.3 and §4.3.1, RFC 9700 §4.14.2).
//!
//! Everything here is bounded. Codes: the newest 10,000. Families: expired ones are dropped as
//! new ones start, and at the cap the one that expires soonest goes (its refresh tokens are then
//! unknown: refused, never accepted). Per family: the newest 16 refresh tokens (older rotated
//! ones are forgotten, so replaying one is refused as unknown rather than detected) and the
//! unexpired access tokens issued in it, by digest, to revoke with it.

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::introspection::Issued;

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
    pub(crate) issued_tokens: Vec<Issued>,
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
        tokens: Vec<Issued>,
        family: Option<u64>,
    },
    OtherClient,
}

/// A chain of refresh tokens from one authorization.
#[derive(Debug, Clone)]
struct Family {
    grant: Grant,
    revoked: bool,
    /// When its newest refresh token expires: the family is kept until then.
    expires_at: i64,
    /// Its refresh tokens, oldest first (the rotated ones are kept to detect a replay).
    refresh_tokens: VecDeque<String>,
    /// Unexpired access tokens issued in this family, revoked with it.
    issued_tokens: VecDeque<Issued>,
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
        tokens: Vec<Issued>,
    },
}

const CODE_CAPACITY: usize = 10_000;
/// The most refresh families kept.
pub(crate) const FAMILY_CAPACITY: usize = 50_000;
/// The most refresh tokens kept per family (the current one and the last rotated ones).
const REFRESH_TOKENS_PER_FAMILY: usize = 16;
/// The most access tokens kept per family for revocation.
const TOKENS_PER_FAMILY: usize = 64;

/// The grants of one issuer.
#[derive(Debug)]
pub(crate) struct GrantStore {
    codes: HashMap<String, CodeRecord>,
    code_order: VecDeque<String>,
    refresh: HashMap<String, RefreshRecord>,
    families: HashMap<u64, Family>,
    /// Every family by (expiry, id): the next to expire first.
    by_expiry: BTreeSet<(i64, u64)>,
    next_family: u64,
    family_capacity: usize,
}

impl Default for GrantStore {
    fn default() -> Self {
        GrantStore::with_family_capacity(FAMILY_CAPACITY)
    }
}

impl GrantStore {
    pub(crate) fn with_family_capacity(family_capacity: usize) -> Self {
        GrantStore {
            codes: HashMap::new(),
            code_order: VecDeque::new(),
            refresh: HashMap::new(),
            families: HashMap::new(),
            by_expiry: BTreeSet::new(),
            next_family: 0,
            family_capacity: family_capacity.max(1),
        }
    }

    pub(crate) fn add_code(&mut self, code: String, record: CodeRecord) {
        self.code_order.push_back(code.clone());
        self.codes.insert(code, record);
        while self.code_order.len() > CODE_CAPACITY {
            if let Some(old) = self.code_order.pop_front() {
                self.codes.remove(&old);
            }
        }
    }

    /// The code's record, if `client_id` may redeem it now; the code stays unused. With
    /// `unbound` the client binding is skipped, with `reusable` the single use (the deliberate
    /// defects of fault targets). A code that was used already is a replay: its family is
    /// revoked and what it issued is handed back for revocation.
    pub(crate) fn check_code(
        &mut self,
        code: &str,
        client_id: &str,
        now: i64,
        unbound: bool,
        reusable: bool,
    ) -> Result<CodeRecord, CodeRefusal> {
        let Some(record) = self.codes.get(code) else {
            return Err(CodeRefusal::Unknown);
        };
        if record.grant.client_id != client_id && !unbound {
            return Err(CodeRefusal::OtherClient);
        }
        if record.used && !reusable {
            return Err(self.replayed(code));
        }
        if now >= record.expires_at {
            return Err(CodeRefusal::Expired);
        }
        Ok(record.clone())
    }

    /// Marks a checked code used. A request that used it in the meantime makes this one a
    /// replay.
    pub(crate) fn use_code(&mut self, code: &str, reusable: bool) -> Result<(), CodeRefusal> {
        let Some(record) = self.codes.get_mut(code) else {
            return Err(CodeRefusal::Unknown);
        };
        if record.used && !reusable {
            return Err(self.replayed(code));
        }
        record.used = true;
        Ok(())
    }

    /// A replayed code: revokes its family and takes what it issued.
    fn replayed(&mut self, code: &str) -> CodeRefusal {
        let Some(record) = self.codes.get_mut(code) else {
            return CodeRefusal::Unknown;
        };
        let refusal = CodeRefusal::Replayed {
            tokens: std::mem::take(&mut record.issued_tokens),
            family: record.family,
        };
        if let Some(family) = record.family.and_then(|f| self.families.get_mut(&f)) {
            family.revoked = true;
        }
        refusal
    }

    /// Marks the code used and returns it, if `client_id` may redeem it now.
    #[cfg(test)]
    pub(crate) fn redeem_code(
        &mut self,
        code: &str,
        client_id: &str,
        now: i64,
    ) -> Result<CodeRecord, CodeRefusal> {
        let record = self.check_code(code, client_id, now, false, false)?;
        self.use_code(code, false)?;
        Ok(record)
    }

    /// Remembers what a redeemed code issued, for revocation on replay.
    pub(crate) fn code_issued(&mut self, code: &str, access_token: Issued, family: Option<u64>) {
        if let Some(record) = self.codes.get_mut(code) {
            record.issued_tokens.push(access_token);
            record.family = family;
        }
    }

    /// Starts a refresh family for a grant, kept until `expires_at` unless a refresh token
    /// extends it; returns its id. Makes room first: expired families go, then (at the cap) the
    /// one that expires soonest.
    pub(crate) fn new_family(&mut self, grant: Grant, expires_at: i64, now: i64) -> u64 {
        while let Some(&(family_expiry, id)) = self.by_expiry.first() {
            if family_expiry > now && self.families.len() < self.family_capacity {
                break;
            }
            self.drop_family(id);
        }
        self.next_family += 1;
        let id = self.next_family;
        self.families.insert(
            id,
            Family {
                grant,
                revoked: false,
                expires_at,
                refresh_tokens: VecDeque::new(),
                issued_tokens: VecDeque::new(),
            },
        );
        self.by_expiry.insert((expires_at, id));
        id
    }

    /// Forgets a family and its refresh tokens.
    fn drop_family(&mut self, id: u64) {
        if let Some(family) = self.families.remove(&id) {
            self.by_expiry.remove(&(family.expires_at, id));
            for token in family.refresh_tokens {
                self.refresh.remove(&token);
            }
        } else {
            self.by_expiry.retain(|(_, f)| *f != id);
        }
    }

    /// Adds a refresh token to a family (a family that is gone keeps no tokens: the token will
    /// be refused as unknown).
    pub(crate) fn add_refresh(&mut self, token: String, family: u64, expires_at: i64) {
        let Some(f) = self.families.get_mut(&family) else {
            return;
        };
        if expires_at > f.expires_at {
            self.by_expiry.remove(&(f.expires_at, family));
            f.expires_at = expires_at;
            self.by_expiry.insert((expires_at, family));
        }
        f.refresh_tokens.push_back(token.clone());
        while f.refresh_tokens.len() > REFRESH_TOKENS_PER_FAMILY {
            if let Some(old) = f.refresh_tokens.pop_front() {
                self.refresh.remove(&old);
            }
        }
        self.refresh.insert(
            token,
            RefreshRecord {
                family,
                expires_at,
                used: false,
            },
        );
    }

    /// Records an access token issued in a family; forgets the ones that expired by `now`.
    pub(crate) fn family_issued(&mut self, family: u64, access_token: Issued, now: i64) {
        if let Some(f) = self.families.get_mut(&family) {
            f.issued_tokens
                .retain(|i| i.expires_at.is_none_or(|exp| exp > now));
            f.issued_tokens.push_back(access_token);
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

    /// The family of a refresh token and the client it was issued to, whatever its state.
    pub(crate) fn refresh_owner(&self, token: &str) -> Option<(u64, String)> {
        let record = self.refresh.get(token)?;
        let family = self.families.get(&record.family)?;
        Some((record.family, family.grant.client_id.clone()))
    }

    /// How many access tokens revoking a family would revoke.
    pub(crate) fn family_size(&self, family: u64) -> usize {
        self.families
            .get(&family)
            .map_or(0, |f| f.issued_tokens.len())
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
    pub(crate) fn revoke_family(&mut self, family: u64) -> Vec<Issued> {
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
    pub(crate) fn revoke_code_grant(&mut self, code: &str) -> Option<Vec<Issued>> {
        let record = self.codes.get_mut(code)?;
        let mut tokens = std::mem::take(&mut record.issued_tokens);
        if let Some(family) = record.family {
            tokens.extend(self.revoke_family(family));
        }
        Some(tokens)
    }

    /// How many families and refresh tokens are kept (for the bounds' tests).
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        (self.families.len(), self.refresh.len())
    }

    pub(crate) fn clear(&mut self) {
        *self = GrantStore::with_family_capacity(self.family_capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::introspection::TokenId;

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

    fn issued(token: &str) -> Issued {
        Issued {
            id: TokenId::of(token),
            expires_at: Some(1_000),
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
        let family = store.new_family(grant(), 1_000, 0);
        store.code_issued("k", issued("at1"), Some(family));
        assert_eq!(
            store.redeem_code("k", "c", 0).expect_err("replay"),
            CodeRefusal::Replayed {
                tokens: vec![issued("at1")],
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
    fn a_checked_code_stays_usable_until_it_is_used() {
        let mut store = GrantStore::default();
        store.add_code("k".into(), code_record(100));
        assert!(store.check_code("k", "c", 0, false, false).is_ok());
        assert!(
            store.check_code("k", "c", 0, false, false).is_ok(),
            "not burnt"
        );
        assert_eq!(store.use_code("k", false), Ok(()));
        assert!(matches!(
            store.use_code("k", false),
            Err(CodeRefusal::Replayed { .. })
        ));
    }

    #[test]
    fn rotated_refresh_token_replay_revokes_the_family() {
        let mut store = GrantStore::default();
        let family = store.new_family(grant(), 1_000, 0);
        store.add_refresh("r1".into(), family, 1_000);
        store.family_issued(family, issued("at1"), 0);
        assert!(store.use_refresh("r1", "c", 0, true).is_ok());
        store.add_refresh("r2".into(), family, 1_000);
        store.family_issued(family, issued("at2"), 0);
        assert_eq!(
            store.use_refresh("r1", "c", 0, true).expect_err("replay"),
            RefreshRefusal::Replayed {
                tokens: vec![issued("at1"), issued("at2")]
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
        let family = store.new_family(grant(), 1_000, 0);
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

    #[test]
    fn expired_families_go_first_then_the_soonest_to_expire() {
        let mut store = GrantStore::with_family_capacity(3);
        let first = store.new_family(grant(), 100, 0);
        store.add_refresh("r-first".into(), first, 100);
        let long = store.new_family(grant(), 500, 0);
        store.add_refresh("r-long".into(), long, 500);
        let short = store.new_family(grant(), 300, 0);
        store.add_refresh("r-short".into(), short, 300);
        // At time 150 the first family has expired: it goes, the others stay.
        let fourth = store.new_family(grant(), 1_000, 150);
        store.add_refresh("r-fourth".into(), fourth, 1_000);
        assert_eq!(store.sizes(), (3, 3));
        assert_eq!(
            store.use_refresh("r-first", "c", 150, false),
            Err(RefreshRefusal::Unknown)
        );
        // Full and nothing expired: the family that expires soonest goes.
        store.new_family(grant(), 1_000, 150);
        assert_eq!(store.peek_refresh("r-short"), None);
        assert!(store.peek_refresh("r-long").is_some());
        assert!(store.peek_refresh("r-fourth").is_some());
        assert_eq!(store.sizes().0, 3);
    }

    #[test]
    fn a_family_keeps_few_refresh_and_access_tokens() {
        let mut store = GrantStore::default();
        let family = store.new_family(grant(), 1_000, 0);
        for i in 0..100 {
            store.add_refresh(format!("r{i}"), family, 1_000 + i);
            store.family_issued(
                family,
                Issued {
                    id: TokenId::of(&format!("at{i}")),
                    expires_at: Some(i),
                },
                i,
            );
        }
        assert_eq!(store.sizes(), (1, REFRESH_TOKENS_PER_FAMILY));
        // Access tokens that expired are forgotten; the family's expiry follows its newest token.
        assert_eq!(store.family_size(family), 1);
        assert_eq!(store.by_expiry.first(), Some(&(1_099, family)));
    }
}
