//! Socket tickets: browsers cannot set headers on a WebSocket, so the owner of a session asks
//! `POST /v1/sessions/{id}/ticket` (with its bearer token) for a ticket and opens the socket
//! with `?ticket=`.
//!
//! A ticket is signed, not stored: it carries its user, expiry and a random nonce, and an
//! HMAC-SHA256 of those and the session it is for, under a key every node on the store shares
//! (`Store::shared_secret`: made by the first node, 32 random bytes). Issuing one therefore
//! costs no memory, so there is no cap that one party could fill to lock everyone else out
//! (issue 12, item 8), and a ticket issued by one node is good on any other (issue 16). It is
//! single-use across the deployment: the nonce of a ticket redeemed is kept by the store until
//! the ticket expires (`Store::use_once`: on Redis a set under the session's hash tag, one
//! script); that set grows only with sockets actually opened (a flood of those meets the
//! connection cap first) and is bounded anyway. Nothing unauthenticated is remembered: a ticket
//! presented for another session, forged or expired is refused without a trace, and stays
//! usable where it belongs.
//!
//! Wire form: `base64url(payload) "." base64url(mac)`, payload = version (1) | expiry, ms
//! since the epoch (8, big-endian) | nonce (16) | user length (1) | user; mac over payload |
//! session id. Time is passed in, so tests need no clock.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::OnceCell;

use viva_engine::core::{SessionId, UserId};
use viva_engine::store::{Store, StoreError};
use viva_engine::time::Timestamp;

use super::{User, valid_user_id};

/// How long a ticket is valid.
pub const TICKET_TTL: Duration = Duration::from_secs(60);

/// How far apart two nodes' clocks may read. Every node reads the store's clock, but each read
/// it once, at start, over a round trip and to the millisecond: a ticket issued by a node a
/// millisecond ahead and redeemed at once on another looks as if it outlived the TTL (a CI run
/// of `auth.rs`'s two-gateway test found exactly that).
const CLOCK_SKEW: Duration = Duration::from_secs(1);

const VERSION: u8 = 1;
const NONCE_BYTES: usize = 16;
/// Version, expiry, nonce, user length.
const HEADER_BYTES: usize = 1 + 8 + NONCE_BYTES + 1;
/// Longest ticket looked at: a header, a longest user id, a MAC, in base64.
const MAX_TICKET_CHARS: usize = (HEADER_BYTES + 255).div_ceil(3) * 4 + 1 + 44;

type Nonce = [u8; NONCE_BYTES];

/// Issues and redeems tickets.
pub struct Tickets {
    store: Arc<dyn Store>,
    /// The shared key, read from the store once.
    key: OnceCell<Vec<u8>>,
    ttl: Duration,
}

impl std::fmt::Debug for Tickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tickets").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl Tickets {
    /// Tickets that live `ttl`, signed with the key every node on `store` shares.
    pub fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        Self { store, key: OnceCell::new(), ttl }
    }

    /// How long a ticket lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    async fn key(&self) -> Result<&[u8], StoreError> {
        self.key.get_or_try_init(|| self.store.shared_secret("tickets")).await.map(Vec::as_slice)
    }

    /// A new ticket for `user` on `session` (the caller has checked that it is theirs).
    pub async fn issue(&self, user: &UserId, session: &SessionId, now: Timestamp) -> Result<String, StoreError> {
        let key = self.key().await?;
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
        let mac = mac(key, &payload, session).finalize().into_bytes();
        Ok(format!("{}.{}", B64.encode(&payload), B64.encode(mac)))
    }

    /// The user a ticket was issued to, if it is genuine, for `session`, unexpired and not
    /// redeemed before (on any node); it is redeemed now.
    pub async fn redeem(&self, ticket: &str, session: &SessionId, now: Timestamp) -> Result<Option<User>, StoreError> {
        let key = self.key().await?;
        let Some((user, nonce, expires)) = verify(key, ticket, session) else { return Ok(None) };
        if now >= expires || expires > now.plus_ms((self.ttl + CLOCK_SKEW).as_millis() as u64) {
            return Ok(None);
        }
        let first = self.store.use_once(session, &B64.encode(nonce), expires, now).await?;
        Ok(first.then_some(User(user)))
    }
}

/// The user, nonce and expiry of a ticket whose MAC is right for `session`.
fn verify(key: &[u8], ticket: &str, session: &SessionId) -> Option<(UserId, Nonce, Timestamp)> {
    if ticket.len() > MAX_TICKET_CHARS {
        return None;
    }
    let (payload, given) = ticket.split_once('.')?;
    let (payload, given) = (B64.decode(payload).ok()?, B64.decode(given).ok()?);
    // Constant time: a wrong guess says nothing about how much of it was right.
    mac(key, &payload, session).verify_slice(&given).ok()?;
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

fn mac(key: &[u8], payload: &[u8], session: &SessionId) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(payload);
    mac.update(session.as_str().as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use viva_engine::store::MemoryStore;

    use super::*;

    const NOW: Timestamp = Timestamp(1_700_000_000_000);

    fn tickets(store: &Arc<MemoryStore>) -> Tickets {
        Tickets::new(Arc::clone(store) as Arc<dyn Store>, TICKET_TTL)
    }

    async fn issue(tickets: &Tickets, user: &str, session: &str) -> String {
        tickets.issue(&user.into(), &session.into(), NOW).await.unwrap()
    }

    async fn redeem(tickets: &Tickets, ticket: &str, session: &str, now: Timestamp) -> Option<User> {
        tickets.redeem(ticket, &session.into(), now).await.unwrap()
    }

    #[tokio::test]
    async fn a_ticket_is_random_url_safe_and_bounded() {
        let tickets = tickets(&Arc::new(MemoryStore::new()));
        let (a, b) = (issue(&tickets, "ann", "s1").await, issue(&tickets, "ann", "s1").await);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.'), "{a}");
        let longest = issue(&tickets, &"u".repeat(255), "s1").await;
        assert!(longest.len() <= MAX_TICKET_CHARS);
        assert!(redeem(&tickets, &longest, "s1", NOW).await.is_some());
    }

    #[tokio::test]
    async fn a_ticket_is_used_once_for_its_session_only_on_any_node_of_the_store() {
        let store = Arc::new(MemoryStore::new());
        let (node_a, node_b) = (tickets(&store), tickets(&store));
        let ticket = issue(&node_a, "ann", "s1").await;
        assert_eq!(redeem(&node_b, &ticket, "s2", NOW).await, None, "another session");
        assert_eq!(redeem(&node_b, &ticket, "s1", NOW).await, Some(User("ann".into())), "good on another node");
        assert_eq!(redeem(&node_a, &ticket, "s1", NOW).await, None, "used twice");
        assert_eq!(redeem(&node_a, "nonsense", "s1", NOW).await, None);
        assert_eq!(redeem(&node_a, "", "s1", NOW).await, None);
        // Another store's (another deployment's key's) tickets are not ours.
        let foreign = issue(&tickets(&Arc::new(MemoryStore::new())), "ann", "s1").await;
        assert_eq!(redeem(&node_a, &foreign, "s1", NOW).await, None);
    }

    #[tokio::test]
    async fn a_changed_ticket_is_refused() {
        let tickets = tickets(&Arc::new(MemoryStore::new()));
        let ticket = issue(&tickets, "ann", "s1").await;
        for at in 0..ticket.len() {
            for replacement in ['A', 'b', '-', '_', '.', '0'] {
                let mut changed = ticket.clone().into_bytes();
                if changed[at] == replacement as u8 {
                    continue;
                }
                changed[at] = replacement as u8;
                let changed = String::from_utf8(changed).unwrap();
                assert_eq!(redeem(&tickets, &changed, "s1", NOW).await, None, "{changed}");
            }
        }
        assert!(redeem(&tickets, &ticket, "s1", NOW).await.is_some());
    }

    #[tokio::test]
    async fn a_ticket_expires_after_its_ttl() {
        let tickets = tickets(&Arc::new(MemoryStore::new()));
        let last_moment = NOW.plus_ms(TICKET_TTL.as_millis() as u64 - 1);
        assert!(redeem(&tickets, &issue(&tickets, "ann", "s1").await, "s1", last_moment).await.is_some());
        let expired = NOW.plus_ms(TICKET_TTL.as_millis() as u64);
        assert_eq!(redeem(&tickets, &issue(&tickets, "ann", "s1").await, "s1", expired).await, None);
        // Another node's clock may read a little ahead of this one's...
        let skewed = Timestamp(NOW.0 - CLOCK_SKEW.as_millis() as u64);
        assert!(redeem(&tickets, &issue(&tickets, "ann", "s1").await, "s1", skewed).await.is_some());
        // ...but a ticket that claims to live longer than the TTL and that was not made here
        // (a clock that jumped back): refused.
        let early = Timestamp(skewed.0 - 1);
        assert_eq!(redeem(&tickets, &issue(&tickets, "ann", "s1").await, "s1", early).await, None);
    }

    #[tokio::test]
    async fn issuing_holds_nothing() {
        // Item 8 of issue 12: 3,200 users filled a global cap of unused tickets, and everyone
        // else was refused. Issuing keeps nothing at all (the store's bound on redeemed ones
        // is the store contract's).
        let store = Arc::new(MemoryStore::new());
        let tickets = tickets(&store);
        for user in 0..20_000 {
            issue(&tickets, &format!("user{user}"), "s1").await;
        }
        assert!(redeem(&tickets, &issue(&tickets, "ann", "s1").await, "s1", NOW).await.is_some());
    }
}
