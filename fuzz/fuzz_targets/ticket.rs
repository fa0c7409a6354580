//! Socket tickets: any string presented is refused without a panic; a genuine ticket is
//! accepted once, for its own session and user, and with any one character changed it is
//! refused.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use viva_engine::time::Timestamp;
use viva_gateway::auth::ticket::Tickets;

static TICKETS: LazyLock<Tickets> = LazyLock::new(Tickets::default);
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
    let session = input.session.as_str().into();
    assert!(TICKETS.redeem(&input.presented, &session, NOW).is_none(), "a made-up ticket was taken");
    if !viva_gateway::auth::valid_user_id(&input.user) {
        return;
    }
    let genuine = TICKETS.issue(&input.user.as_str().into(), &session, NOW);
    let mut changed = genuine.clone().into_bytes();
    let at = usize::from(input.at) % changed.len();
    if changed[at] != input.to {
        changed[at] = input.to;
        let changed = String::from_utf8_lossy(&changed);
        assert!(TICKETS.redeem(&changed, &session, NOW).is_none(), "a changed ticket was taken: {changed}");
    }
    let user = TICKETS.redeem(&genuine, &session, NOW).expect("a genuine ticket is taken");
    assert_eq!(user.0.as_str(), input.user);
    assert!(TICKETS.redeem(&genuine, &session, NOW).is_none(), "a ticket was taken twice");
});
