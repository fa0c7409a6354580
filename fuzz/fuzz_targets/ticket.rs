//! Socket tickets: any string presented is refused without a panic; a genuine ticket is
//! accepted once, for its own session and user, and with any one character changed it is
//! refused.
#![no_main]

use std::sync::Arc;

use arbitrary::Arbitrary;
use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;
use viva_engine::store::MemoryStore;
use viva_engine::time::Timestamp;
use viva_gateway::auth::ticket::{TICKET_TTL, Tickets};

const NOW: Timestamp = Timestamp(1_700_000_000_000);

#[derive(Debug, Arbitrary)]
struct Input {
    presented: String,
    user: String,
    session: String,
    /// Where to change the genuine ticket, and to what.
    at: u16,
    to: u8,
}

fuzz_target!(|input: Input| {
    // A store per input: one for all would fill its bounded set of redeemed tickets (all
    // redeemed "now", none ever expiring) and then rightly refuse.
    let tickets = Tickets::new(Arc::new(MemoryStore::new()), TICKET_TTL);
    // The memory store answers at once: no runtime is needed to wait on it.
    let redeem =
        |ticket: &str, session| block_on(tickets.redeem(ticket, session, NOW)).expect("the memory store answers");
    let session = input.session.as_str().into();
    assert!(redeem(&input.presented, &session).is_none(), "a made-up ticket was taken");
    if !viva_gateway::auth::valid_user_id(&input.user) {
        return;
    }
    let genuine =
        block_on(tickets.issue(&input.user.as_str().into(), &session, NOW)).expect("the memory store answers");
    let mut changed = genuine.clone().into_bytes();
    let at = usize::from(input.at) % changed.len();
    if changed[at] != input.to {
        changed[at] = input.to;
        let changed = String::from_utf8_lossy(&changed);
        assert!(redeem(&changed, &session).is_none(), "a changed ticket was taken: {changed}");
    }
    let user = redeem(&genuine, &session).expect("a genuine ticket is taken");
    assert_eq!(user.0.as_str(), input.user);
    assert!(redeem(&genuine, &session).is_none(), "a ticket was taken twice");
});
