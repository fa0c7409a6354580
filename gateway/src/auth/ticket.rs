//! Socket tickets: browsers cannot set headers on a WebSocket, so the owner of a session asks
//! `POST /v1/sessions/{id}/ticket` (with its bearer token) for a ticket and opens the socket
//! with `?ticket=`.
//!
//! A ticket is signed, not stored: it carries its user, expiry and a random nonce, and an
//! HMAC-SHA256 (under a key of this process) of those and the session it is for. Issuing one
//! therefore costs no memory, so there is no cap that one party could fill to lock everyone
//! else out (issue 12, item 8). It is single-use: the nonce of a ticket redeemed is remembered
//! until the ticket expires; that set grows only with sockets actually opened (a flood of
//! those meets the connection cap first) and is bounded anyway ([`MAX_REMEMBERED`]). Nothing
//! unauthenticated is remembered: a ticket presented for another session, forged or expired
//! is refused without a trace, and stays usable where it belongs. Several nodes (issue 16)
//! will share the key and keep the redeemed nonces in Redis (`SET NX PX`, one key under the
//! session's hash tag), which is why the ticket needs nothing else.
//!
//! Wire form: `base64url(payload) "." base64url(mac)`, payload = version (1) | expiry, ms
//! since the epoch (8, big-endian) | nonce (16) | user length (1) | user; mac over payload |
//! session id. Time is passed in, so tests need no clock.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use viva_engine::core::{SessionId, UserId};
use viva_engine::time::Timestamp;

use super::{User, valid_user_id};

/// How long a ticket is valid.
pub const TICKET_TTL: Duration = Duration::from_secs(60);

/// Most redeemed tickets remembered at once: about 100 bytes each, so at most ~100 MiB, and
/// reached only by a million sockets opened within one TTL.
pub const MAX_REMEMBERED: usize = 1_000_000;

const VERSION: u8 = 1;
const NONCE_BYTES: usize = 16;
/// Version, expiry, nonce, user length.
const HEADER_BYTES: usize = 1 + 8 + NONCE_BYTES + 1;
/// Longest ticket looked at: a header, a longest user id, a MAC, in base64.
const MAX_TICKET_CHARS: usize = (HEADER_BYTES + 255).div_ceil(3) * 4 + 1 + 44;

type Nonce = [u8; NONCE_BYTES];

/// Issues and redeems tickets.
pub struct Tickets {
    key: [u8; 32],
    ttl: Duration,
    max_remembered: usize,
    redeemed: Mutex<Redeemed>,
}

impl std::fmt::Debug for Tickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tickets").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

/// Nonces of redeemed, unexpired tickets, and their expiries in the order redeemed.
#[derive(Debug, Default)]
struct Redeemed {
    nonces: HashSet<Nonce>,
    order: VecDeque<(Timestamp, Nonce)>,
}

impl Default for Tickets {
    fn default() -> Self {
        Self::new(TICKET_TTL)
    }
}

impl Tickets {
    /// Tickets that live `ttl`, signed with a key made now.
    pub fn new(ttl: Duration) -> Self {
        let mut key = [0u8; 32];
        // Without the OS's randomness no ticket can be safe; this only fails on a broken system.
        getrandom::fill(&mut key).expect("the OS random number generator failed");
        Self { key, ttl, max_remembered: MAX_REMEMBERED, redeemed: Mutex::default() }
    }

    /// How long a ticket lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new ticket for `user` on `session` (the caller has checked that it is theirs).
    pub fn issue(&self, user: &UserId, session: &SessionId, now: Timestamp) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).expect("the OS random number generator failed");
        let expires = now.plus_ms(self.ttl.as_millis() as u64);
        let user = user.as_str().as_bytes();
        let mut payload = Vec::with_capacity(HEADER_BYTES + user.len());
        payload.push(VERSION);
        payload.extend_from_slice(&expires.0.to_be_bytes());
        payload.extend_from_slice(&nonce);
        // User ids are at most 255 bytes (`valid_user_id`).
        payload.push(user.len() as u8);
        payload.extend_from_slice(user);
        let mac = self.mac(&payload, session).finalize().into_bytes();
        format!("{}.{}", B64.encode(&payload), B64.encode(mac))
    }

    /// The user a ticket was issued to, if it is genuine, for `session`, unexpired and not
    /// redeemed before; it is redeemed now.
    pub fn redeem(&self, ticket: &str, session: &SessionId, now: Timestamp) -> Option<User> {
        let (user, nonce, expires) = self.verify(ticket, session)?;
        if now >= expires || expires > now.plus_ms(self.ttl.as_millis() as u64) {
            return None;
        }
        let mut redeemed = self.lock();
        redeemed.purge(now);
        if redeemed.nonces.len() >= self.max_remembered {
            tracing::warn!(max = self.max_remembered, "too many tickets redeemed within their lifetime; refusing");
            return None;
        }
        redeemed.nonces.insert(nonce).then(|| {
            redeemed.order.push_back((expires, nonce));
            User(user)
        })
    }

    /// Redeemed tickets remembered (for tests and metrics).
    pub fn remembered(&self, now: Timestamp) -> usize {
        let mut redeemed = self.lock();
        redeemed.purge(now);
        redeemed.nonces.len()
    }

    /// The user, nonce and expiry of a ticket whose MAC is right for `session`.
    fn verify(&self, ticket: &str, session: &SessionId) -> Option<(UserId, Nonce, Timestamp)> {
        if ticket.len() > MAX_TICKET_CHARS {
            return None;
        }
        let (payload, mac) = ticket.split_once('.')?;
        let (payload, mac) = (B64.decode(payload).ok()?, B64.decode(mac).ok()?);
        // Constant time: a wrong guess says nothing about how much of it was right.
        self.mac(&payload, session).verify_slice(&mac).ok()?;
        let (header, user) = payload.split_at_checked(HEADER_BYTES)?;
        let (&[version], rest) = header.split_at(1) else { return None };
        let (expires, rest) = rest.split_at(8);
        let (nonce, user_len) = rest.split_at(NONCE_BYTES);
        if version != VERSION || usize::from(user_len[0]) != user.len() {
            return None;
        }
        let user = std::str::from_utf8(user).ok().filter(|u| valid_user_id(u))?;
        let expires = Timestamp(u64::from_be_bytes(expires.try_into().ok()?));
        Some((UserId::new(user), nonce.try_into().ok()?, expires))
    }

    fn mac(&self, payload: &[u8], session: &SessionId) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any size");
        mac.update(payload);
        mac.update(session.as_str().as_bytes());
        mac
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Redeemed> {
        // The set stays consistent even if a holder panicked: every change is a few lines that
        // cannot panic halfway.
        self.redeemed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Redeemed {
    /// Forgets the nonces of expired tickets (they cannot be redeemed any more), oldest first:
    /// expiries grow with the order of redemption but for clock steps, which only delay this.
    fn purge(&mut self, now: Timestamp) {
        while self.order.front().is_some_and(|(expires, _)| *expires <= now) {
            if let Some((_, nonce)) = self.order.pop_front() {
                self.nonces.remove(&nonce);
            }
        }
    }
}

/// The wall clock, as tickets read it (their expiry must mean the same on every node).
pub fn now() -> Timestamp {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Timestamp(since_epoch.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_700_000_000_000);

    fn issue(tickets: &Tickets, user: &str, session: &str) -> String {
        tickets.issue(&user.into(), &session.into(), NOW)
    }

    #[test]
    fn a_ticket_is_random_url_safe_and_bounded() {
        let tickets = Tickets::default();
        let (a, b) = (issue(&tickets, "ann", "s1"), issue(&tickets, "ann", "s1"));
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.'), "{a}");
        let longest = issue(&tickets, &"u".repeat(255), "s1");
        assert!(longest.len() <= MAX_TICKET_CHARS);
        assert!(tickets.redeem(&longest, &"s1".into(), NOW).is_some());
    }

    #[test]
    fn a_ticket_is_used_once_for_its_session_only() {
        let tickets = Tickets::default();
        let ticket = issue(&tickets, "ann", "s1");
        assert_eq!(tickets.redeem(&ticket, &"s2".into(), NOW), None, "another session");
        assert_eq!(tickets.redeem(&ticket, &"s1".into(), NOW), Some(User("ann".into())), "still good for its own");
        assert_eq!(tickets.redeem(&ticket, &"s1".into(), NOW), None, "used twice");
        assert_eq!(tickets.redeem("nonsense", &"s1".into(), NOW), None);
        assert_eq!(tickets.redeem("", &"s1".into(), NOW), None);
        // Another process's (another key's) tickets are not ours.
        assert_eq!(tickets.redeem(&issue(&Tickets::default(), "ann", "s1"), &"s1".into(), NOW), None);
    }

    #[test]
    fn a_changed_ticket_is_refused() {
        let tickets = Tickets::default();
        let ticket = issue(&tickets, "ann", "s1");
        for at in 0..ticket.len() {
            for replacement in ['A', 'b', '-', '_', '.', '0'] {
                let mut changed = ticket.clone().into_bytes();
                if changed[at] == replacement as u8 {
                    continue;
                }
                changed[at] = replacement as u8;
                let changed = String::from_utf8(changed).unwrap();
                assert_eq!(tickets.redeem(&changed, &"s1".into(), NOW), None, "{changed}");
            }
        }
        assert!(tickets.redeem(&ticket, &"s1".into(), NOW).is_some());
    }

    #[test]
    fn a_ticket_expires_after_its_ttl() {
        let tickets = Tickets::default();
        let last_moment = NOW.plus_ms(TICKET_TTL.as_millis() as u64 - 1);
        assert!(tickets.redeem(&issue(&tickets, "ann", "s1"), &"s1".into(), last_moment).is_some());
        let expired = NOW.plus_ms(TICKET_TTL.as_millis() as u64);
        assert_eq!(tickets.redeem(&issue(&tickets, "ann", "s1"), &"s1".into(), expired), None);
        assert_eq!(tickets.remembered(expired), 0, "an expired ticket's nonce is forgotten");
        // A ticket that claims to live longer than the TTL was not made here (a clock that
        // jumped back): refused too.
        let early = Timestamp(NOW.0 - 1);
        assert_eq!(tickets.redeem(&issue(&tickets, "ann", "s1"), &"s1".into(), early), None);
    }

    #[test]
    fn issuing_holds_nothing_and_redeemed_nonces_are_bounded() {
        // Item 8 of issue 12: 3,200 users filled a global cap of unused tickets, and everyone
        // else was refused. Issuing now keeps nothing at all.
        let tickets = Tickets::default();
        for user in 0..20_000 {
            issue(&tickets, &format!("user{user}"), "s1");
        }
        assert_eq!(tickets.remembered(NOW), 0);
        assert!(tickets.redeem(&issue(&tickets, "ann", "s1"), &"s1".into(), NOW).is_some());
        // Redeemed ones are remembered until they expire, and at most `max_remembered`.
        let small = Tickets { max_remembered: 3, ..Tickets::default() };
        for _ in 0..3 {
            assert!(small.redeem(&issue(&small, "ann", "s1"), &"s1".into(), NOW).is_some());
        }
        assert_eq!(small.redeem(&issue(&small, "ann", "s1"), &"s1".into(), NOW), None, "full");
        let later = NOW.plus_ms(TICKET_TTL.as_millis() as u64);
        assert!(small.redeem(&small.issue(&"ann".into(), &"s1".into(), later), &"s1".into(), later).is_some());
        assert_eq!(small.remembered(later), 1);
    }
}
