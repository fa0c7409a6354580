//! WebSocket close codes the server uses.

/// A close code with its meaning. Codes 4000–4999 are Viva's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum CloseCode {
    /// The session ended (after `session.ended`).
    Normal = 1000,
    /// The client broke the WebSocket protocol (RFC 6455): e.g. an unmasked frame, reserved
    /// bits or opcodes, a control frame over 125 bytes or fragmented, a continuation without a
    /// start, a malformed close frame.
    ProtocolViolation = 1002,
    /// A text frame (or a close reason) that is not valid UTF-8.
    InvalidUtf8 = 1007,
    /// A frame over the size limit.
    TooBig = 1009,
    /// The server is going away (shutdown, restart): reconnect with `last_seq`.
    GoingAway = 4000,
    /// A fatal protocol error (see the `error` sent before it).
    ProtocolError = 4002,
    /// The client did not read its events fast enough; reconnect with `last_seq`.
    SlowConsumer = 4008,
    /// A newer connection to the same session replaced this one.
    Replaced = 4009,
    /// The session was deleted (e.g. its user's data was deleted). Do not reconnect.
    Deleted = 4010,
    /// Another node took the session over: reconnect with `last_seq`.
    Moved = 4011,
    /// The server could not keep the session running (see logs); reconnect with `last_seq`.
    InternalError = 4013,
    /// Too many messages too fast, repeatedly.
    RateLimited = 4029,
    /// This node runs as many sessions as it may (`--max-live-sessions`): reconnect later, with
    /// backoff (through a balancer, another node may take it).
    AtCapacity = 4503,
}

impl CloseCode {
    /// Whether a client reconnects (with `last_seq`, after a backoff) once its socket closed
    /// with `code` before the session ended (`None`: the connection dropped with no close
    /// frame). No for the codes that say the session is elsewhere for good (4009), gone
    /// (4010), or that the client itself is at fault.
    pub fn reconnects(code: Option<u16>) -> bool {
        match code {
            None => true,
            // The standard codes of a server or a proxy going away or failing (RFC 6455).
            Some(1001 | 1006 | 1011 | 1012 | 1013 | 1014) => true,
            Some(code) => [Self::GoingAway, Self::SlowConsumer, Self::Moved, Self::InternalError, Self::AtCapacity]
                .iter()
                .any(|c| c.code() == code),
        }
    }

    /// The numeric code.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// A short reason phrase sent in the close frame.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Normal => "session ended",
            Self::ProtocolViolation => "protocol violation",
            Self::InvalidUtf8 => "invalid UTF-8",
            Self::TooBig => "message too big",
            Self::GoingAway => "going away, reconnect",
            Self::ProtocolError => "protocol error",
            Self::SlowConsumer => "slow consumer, reconnect",
            Self::Replaced => "replaced by a newer connection",
            Self::Deleted => "session deleted",
            Self::Moved => "session moved, reconnect",
            Self::InternalError => "internal error, reconnect",
            Self::RateLimited => "rate limited",
            Self::AtCapacity => "at capacity, try later",
        }
    }
}
