//! Minutes in this process: the same semantics as the Redis meter, one lock per call.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::{
    AudioMs, Credited, EntryKind, Hold, LedgerEntry, Meter, MeterError, Reserved, Settled, Usage, check_credit,
    check_key,
};
use crate::core::{SessionId, UserId};
use crate::time::Timestamp;

/// Minutes in memory (lost with the process: for tests, demos and single-process embedders).
#[derive(Debug, Default)]
pub struct MemoryMeter {
    users: Mutex<HashMap<UserId, Account>>,
}

#[derive(Debug, Clone, Copy)]
struct HoldState {
    held_s: u64,
    expires_at: Timestamp,
    settled_s: u64,
}

#[derive(Debug, Default)]
struct Account {
    balance_s: u64,
    holds: HashMap<SessionId, HoldState>,
    /// Oldest first; an entry's cursor is its index.
    ledger: Vec<LedgerEntry>,
    /// Applied idempotency keys → what they answered (credit: the balance after; settle: the
    /// seconds debited).
    keys: HashMap<String, u64>,
}

impl MemoryMeter {
    /// No user has any minutes yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, user_id: &UserId, f: impl FnOnce(&mut Account) -> T) -> T {
        let mut users = self.users.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(users.entry(user_id.clone()).or_default())
    }

    /// Reads the user's account (an empty one if they have none: none is made).
    fn read<T>(&self, user_id: &UserId, f: impl FnOnce(&Account) -> T) -> T {
        let users = self.users.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match users.get(user_id) {
            Some(account) => f(account),
            None => f(&Account::default()),
        }
    }
}

#[async_trait]
impl Meter for MemoryMeter {
    async fn reserve(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        want_s: u64,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Reserved, MeterError> {
        Ok(self.with(user_id, |account| {
            let granted_s = want_s.min(account.balance_s);
            account.balance_s -= granted_s;
            let hold = account.holds.entry(session_id.clone()).or_insert(HoldState {
                held_s: 0,
                expires_at: now,
                settled_s: 0,
            });
            hold.held_s += granted_s;
            hold.expires_at = now.plus_ms(ttl.as_millis() as u64);
            Reserved { granted_s, held_s: hold.held_s, balance_s: account.balance_s }
        }))
    }

    async fn settle(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        key: &str,
        used_s: u64,
        audio: AudioMs,
        now: Timestamp,
    ) -> Result<Settled, MeterError> {
        check_key(key)?;
        Ok(self.with(user_id, |account| {
            if let Some(&debited_s) = account.keys.get(key) {
                return Settled { debited_s, duplicate: true };
            }
            let held = account.holds.get(session_id).map_or(0, |hold| hold.held_s);
            let debited_s = used_s.min(held);
            if let Some(hold) = account.holds.get_mut(session_id) {
                hold.held_s -= debited_s;
                hold.settled_s += debited_s;
            }
            account.keys.insert(key.to_owned(), debited_s);
            if debited_s > 0 {
                account.ledger.push(LedgerEntry {
                    at: now,
                    kind: EntryKind::Debit,
                    seconds: debited_s,
                    session_id: Some(session_id.clone()),
                    key: key.to_owned(),
                    reason: None,
                    audio,
                });
            }
            Settled { debited_s, duplicate: false }
        }))
    }

    async fn release(&self, user_id: &UserId, session_id: &SessionId) -> Result<u64, MeterError> {
        Ok(self.with(user_id, |account| {
            let returned = account.holds.remove(session_id).map_or(0, |hold| hold.held_s);
            account.balance_s += returned;
            returned
        }))
    }

    async fn credit(
        &self,
        user_id: &UserId,
        seconds: u64,
        key: &str,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<Credited, MeterError> {
        check_credit(seconds)?;
        check_key(key)?;
        Ok(self.with(user_id, |account| {
            if let Some(&balance_s) = account.keys.get(key) {
                return Credited { balance_s, duplicate: true };
            }
            account.balance_s = account.balance_s.saturating_add(seconds);
            account.keys.insert(key.to_owned(), account.balance_s);
            account.ledger.push(LedgerEntry {
                at: now,
                kind: EntryKind::Credit,
                seconds,
                session_id: None,
                key: key.to_owned(),
                reason: reason.map(str::to_owned),
                audio: AudioMs::default(),
            });
            Credited { balance_s: account.balance_s, duplicate: false }
        }))
    }

    async fn usage(&self, user_id: &UserId, cursor: Option<&str>, limit: usize) -> Result<Usage, MeterError> {
        let limit = limit.clamp(1, super::MAX_PAGE);
        let before = match cursor {
            None => usize::MAX,
            Some(cursor) => cursor.parse().map_err(|_| MeterError::Invalid(format!("bad cursor `{cursor}`")))?,
        };
        Ok(self.read(user_id, |account| {
            let end = before.min(account.ledger.len());
            let start = end.saturating_sub(limit);
            let entries = account.ledger[start..end].iter().rev().cloned().collect();
            Usage {
                balance_s: account.balance_s,
                held_s: account.holds.values().map(|hold| hold.held_s).sum(),
                entries,
                next_cursor: (start > 0).then(|| start.to_string()),
            }
        }))
    }

    async fn holds(&self, user_id: &UserId) -> Result<Vec<Hold>, MeterError> {
        Ok(self.read(user_id, |account| {
            let mut holds: Vec<Hold> = account
                .holds
                .iter()
                .map(|(session_id, hold)| Hold {
                    session_id: session_id.clone(),
                    held_s: hold.held_s,
                    expires_at: hold.expires_at,
                    settled_s: hold.settled_s,
                })
                .collect();
            holds.sort_by(|a, b| a.session_id.cmp(&b.session_id));
            holds
        }))
    }

    async fn expired_holds(
        &self,
        cursor: u64,
        count: usize,
        now: Timestamp,
    ) -> Result<(Vec<(UserId, Hold)>, u64), MeterError> {
        let users = self.users.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Users in a stable order, `count` of them from position `cursor`.
        let mut ids: Vec<&UserId> = users.keys().collect();
        ids.sort();
        let from = usize::try_from(cursor).unwrap_or(usize::MAX).min(ids.len());
        let to = from.saturating_add(count.max(1)).min(ids.len());
        let mut expired = Vec::new();
        for user_id in &ids[from..to] {
            for (session_id, hold) in &users[*user_id].holds {
                if hold.expires_at <= now {
                    let hold = Hold {
                        session_id: session_id.clone(),
                        held_s: hold.held_s,
                        expires_at: hold.expires_at,
                        settled_s: hold.settled_s,
                    };
                    expired.push(((*user_id).clone(), hold));
                }
            }
        }
        Ok((expired, if to == ids.len() { 0 } else { to as u64 }))
    }

    async fn delete_user(&self, user_id: &UserId) -> Result<(), MeterError> {
        self.users.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(user_id);
        Ok(())
    }
}
