//! Socket tickets: browsers cannot set headers on a WebSocket, so the owner of a session asks
//! `POST /v1/sessions/{id}/ticket` (with its bearer token) for a ticket and opens the socket
//! with `?ticket=`.
//!
//! A ticket is 256 random bits, single-use, valid for [`TICKET_TTL`] and bound to one user and
//! one session. The store is in this process's memory and bounded (in total and per user);
//! expired tickets are purged lazily, oldest first. Time is passed in, so tests need no clock.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use viva_engine::core::{SessionId, UserId};

use super::User;

/// How long a ticket is valid.
pub const TICKET_TTL: Duration = Duration::from_secs(60);

/// A ticket store refused to issue: too many are outstanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// The user holds the most unused tickets allowed.
    #[error("too many unused tickets for this user; use or let some expire")]
    TooManyForUser,
    /// The process holds the most unused tickets allowed.
    #[error("too many unused tickets; retry shortly")]
    TooMany,
}

/// Outstanding tickets.
#[derive(Debug)]
pub struct TicketStore {
    ttl: Duration,
    max_total: usize,
    max_per_user: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    tickets: HashMap<String, Ticket>,
    /// Unused tickets per user (no entry at zero).
    per_user: HashMap<UserId, usize>,
    /// Tickets in the order issued, hence of expiry (the TTL is fixed). Redeemed tickets stay
    /// here until they expire or the queue is compacted.
    order: VecDeque<(Instant, String)>,
}

#[derive(Debug)]
struct Ticket {
    user: UserId,
    session: SessionId,
    expires: Instant,
}

impl Default for TicketStore {
    fn default() -> Self {
        Self::new(TICKET_TTL, 100_000, 32)
    }
}

impl TicketStore {
    /// A store whose tickets live `ttl`, with at most `max_total` unused ones, `max_per_user`
    /// for any one user.
    pub fn new(ttl: Duration, max_total: usize, max_per_user: usize) -> Self {
        Self { ttl, max_total, max_per_user, inner: Mutex::default() }
    }

    /// How long a ticket lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new ticket for `user` on `session` (the caller has checked that it is theirs).
    pub fn issue(&self, user: &UserId, session: &SessionId, now: Instant) -> Result<String, TicketError> {
        let ticket = random_ticket();
        let mut inner = self.lock();
        inner.purge(now);
        if inner.per_user.get(user).copied().unwrap_or(0) >= self.max_per_user {
            return Err(TicketError::TooManyForUser);
        }
        if inner.tickets.len() >= self.max_total {
            return Err(TicketError::TooMany);
        }
        let expires = now + self.ttl;
        inner.tickets.insert(ticket.clone(), Ticket { user: user.clone(), session: session.clone(), expires });
        *inner.per_user.entry(user.clone()).or_default() += 1;
        inner.order.push_back((expires, ticket.clone()));
        // Redeemed tickets linger in `order`; compacting at twice the live count keeps it
        // bounded at amortised O(1) per ticket.
        if inner.order.len() > 2 * inner.tickets.len().max(1024) {
            let Inner { tickets, order, .. } = &mut *inner;
            order.retain(|(_, t)| tickets.contains_key(t));
        }
        Ok(ticket)
    }

    /// The user a ticket was issued to, if it is unused, unexpired and for `session`. Any
    /// ticket presented is used up, whatever the outcome.
    pub fn redeem(&self, ticket: &str, session: &SessionId, now: Instant) -> Option<User> {
        let mut inner = self.lock();
        inner.purge(now);
        let found = inner.tickets.remove(ticket)?;
        inner.release(&found.user);
        (found.session == *session && now < found.expires).then_some(User(found.user))
    }

    /// Unused, unexpired tickets (for tests and metrics).
    pub fn outstanding(&self, now: Instant) -> usize {
        let mut inner = self.lock();
        inner.purge(now);
        inner.tickets.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map stays consistent even if a holder panicked: every change is a few lines
        // that cannot panic halfway.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    /// Drops expired tickets, oldest first.
    fn purge(&mut self, now: Instant) {
        while let Some((expires, _)) = self.order.front() {
            if *expires > now {
                break;
            }
            let Some((_, ticket)) = self.order.pop_front() else { break };
            if let Some(expired) = self.tickets.remove(&ticket) {
                self.release(&expired.user);
            }
        }
    }

    fn release(&mut self, user: &UserId) {
        if let Some(count) = self.per_user.get_mut(user) {
            *count -= 1;
            if *count == 0 {
                self.per_user.remove(user);
            }
        }
    }
}

/// 256 bits from the OS's generator, as 64 hex digits (URL-safe as is).
fn random_ticket() -> String {
    let mut bytes = [0u8; 32];
    // Without the OS's randomness no ticket can be safe; this only fails on a broken system.
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (TicketStore, Instant) {
        (TicketStore::new(TICKET_TTL, 100, 3), Instant::now())
    }

    #[test]
    fn a_ticket_is_random_url_safe_and_long() {
        let (store, now) = store();
        let a = store.issue(&"ann".into(), &"s1".into(), now).unwrap();
        let b = store.issue(&"ann".into(), &"s1".into(), now).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_ticket_is_used_once_for_its_session_only() {
        let (store, now) = store();
        let ticket = store.issue(&"ann".into(), &"s1".into(), now).unwrap();
        assert_eq!(store.redeem(&ticket, &"s1".into(), now), Some(User("ann".into())));
        assert_eq!(store.redeem(&ticket, &"s1".into(), now), None, "used twice");
        let ticket = store.issue(&"ann".into(), &"s1".into(), now).unwrap();
        assert_eq!(store.redeem(&ticket, &"s2".into(), now), None, "another session");
        assert_eq!(store.redeem(&ticket, &"s1".into(), now), None, "a wrong try uses it up");
        assert_eq!(store.redeem("nonsense", &"s1".into(), now), None);
        assert_eq!(store.outstanding(now), 0);
    }

    #[test]
    fn a_ticket_expires_after_its_ttl() {
        let (store, now) = store();
        let ticket = store.issue(&"ann".into(), &"s1".into(), now).unwrap();
        let last_moment = now + TICKET_TTL - Duration::from_millis(1);
        assert_eq!(store.redeem(&ticket, &"s1".into(), last_moment), Some(User("ann".into())));
        let ticket = store.issue(&"ann".into(), &"s1".into(), now).unwrap();
        assert_eq!(store.redeem(&ticket, &"s1".into(), now + TICKET_TTL), None);
        store.issue(&"ann".into(), &"s1".into(), now).unwrap();
        assert_eq!(store.outstanding(now + TICKET_TTL), 0, "expired ones are purged");
    }

    #[test]
    fn outstanding_tickets_are_bounded_per_user_and_in_total() {
        let store = TicketStore::new(TICKET_TTL, 5, 3);
        let now = Instant::now();
        for _ in 0..3 {
            store.issue(&"ann".into(), &"s1".into(), now).unwrap();
        }
        assert_eq!(store.issue(&"ann".into(), &"s1".into(), now), Err(TicketError::TooManyForUser));
        let bob = store.issue(&"bob".into(), &"s2".into(), now).unwrap();
        store.issue(&"bob".into(), &"s2".into(), now).unwrap();
        assert_eq!(store.issue(&"cat".into(), &"s3".into(), now), Err(TicketError::TooMany));
        // Using one frees its place; so does expiry.
        store.redeem(&bob, &"s2".into(), now).unwrap();
        store.issue(&"cat".into(), &"s3".into(), now).unwrap();
        let later = now + TICKET_TTL;
        for _ in 0..3 {
            store.issue(&"ann".into(), &"s1".into(), later).unwrap();
        }
        assert_eq!(store.outstanding(later), 3);
    }

    #[test]
    fn redeemed_tickets_do_not_pile_up() {
        let store = TicketStore::new(TICKET_TTL, 10, 10);
        let now = Instant::now();
        for _ in 0..10_000 {
            let ticket = store.issue(&"ann".into(), &"s1".into(), now).unwrap();
            store.redeem(&ticket, &"s1".into(), now).unwrap();
        }
        assert!(store.lock().order.len() <= 2 * 1024 + 1);
    }
}
