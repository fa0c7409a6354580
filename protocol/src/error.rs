//! Error codes of `error` events and REST error bodies.

use serde::{Deserialize, Serialize};

/// A machine-readable error code (a string on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not valid JSON / MessagePack, or a field is missing or mistyped.
    InvalidMessage,
    /// The `type` is not one the client may send.
    UnknownType,
    /// A text frame on a MessagePack socket or a binary frame on a JSON socket.
    WrongFrameType,
    /// A client message id that is empty or longer than allowed.
    InvalidId,
    /// An answer or code submission over the size limit.
    AnswerTooLarge,
    /// An answer when the interviewer is not waiting for one.
    NotAwaitingAnswer,
    /// `turn.interrupt` with no interviewer turn in flight.
    NothingToInterrupt,
    /// A message that needs `session.start` first.
    NotStarted,
    /// The session has ended.
    SessionEnded,
    /// Too many messages too fast.
    RateLimited,
    /// The store cannot take writes right now; retry with the same `id`.
    StoreUnavailable,
    /// Missing or bad credentials.
    Unauthorized,
    /// Refused whoever the caller is (a WebSocket handshake from a web origin not allowed).
    Forbidden,
    /// No such session, plan or resource (or not yours).
    NotFound,
    /// A malformed REST request.
    BadRequest,
    /// Not ready yet (e.g. the report before `report.ready`).
    NotReady,
    /// The server is overloaded or shutting down; retry later.
    Unavailable,
    /// Something went wrong on the server; details are in its logs.
    Internal,
    /// Voice was asked for, or audio sent, where it is not on: the server has no speech
    /// providers, or the session did not opt in.
    VoiceUnavailable,
    /// A spoken answer could not be transcribed; send the utterance again (same `id`).
    SttFailed,
    /// A turn could not be spoken; it comes as text only.
    TtsFailed,
    /// `session.start` with no minutes left to spend (metering): the session stays `created`.
    InsufficientMinutes,
    /// The node runs as many sessions as it may: try again later (REST 503 with `Retry-After`;
    /// a socket is closed with 4503).
    AtCapacity,
    /// `session.start` while the user already has as many live sessions as allowed: end one
    /// (or wait for one to end), then start again. The session stays `created`.
    TooManyLiveSessions,
    /// A request body of a media type the route does not take (REST 415), e.g. a résumé that
    /// is not PDF, DOCX, Markdown or plain text.
    UnsupportedMediaType,
    /// A résumé file whose text cannot be read (REST 422): malformed, encrypted, without a
    /// text layer, inflating past the limits, too many pages, or too slow or too big to parse.
    /// The message says which.
    UnreadableResume,
}

impl ErrorCode {
    /// Every code, once each, in declaration order (a unit test checks it against an exhaustive
    /// `match`, so a new variant cannot be left out).
    pub const ALL: &[ErrorCode] = &[
        Self::InvalidMessage,
        Self::UnknownType,
        Self::WrongFrameType,
        Self::InvalidId,
        Self::AnswerTooLarge,
        Self::NotAwaitingAnswer,
        Self::NothingToInterrupt,
        Self::NotStarted,
        Self::SessionEnded,
        Self::RateLimited,
        Self::StoreUnavailable,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::BadRequest,
        Self::NotReady,
        Self::Unavailable,
        Self::Internal,
        Self::VoiceUnavailable,
        Self::SttFailed,
        Self::TtsFailed,
        Self::InsufficientMinutes,
        Self::AtCapacity,
        Self::TooManyLiveSessions,
        Self::UnsupportedMediaType,
        Self::UnreadableResume,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidMessage => "invalid_message",
            Self::UnknownType => "unknown_type",
            Self::WrongFrameType => "wrong_frame_type",
            Self::InvalidId => "invalid_id",
            Self::AnswerTooLarge => "answer_too_large",
            Self::NotAwaitingAnswer => "not_awaiting_answer",
            Self::NothingToInterrupt => "nothing_to_interrupt",
            Self::NotStarted => "not_started",
            Self::SessionEnded => "session_ended",
            Self::RateLimited => "rate_limited",
            Self::StoreUnavailable => "store_unavailable",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::BadRequest => "bad_request",
            Self::NotReady => "not_ready",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::VoiceUnavailable => "voice_unavailable",
            Self::SttFailed => "stt_failed",
            Self::TtsFailed => "tts_failed",
            Self::InsufficientMinutes => "insufficient_minutes",
            Self::AtCapacity => "at_capacity",
            Self::TooManyLiveSessions => "too_many_live_sessions",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UnreadableResume => "unreadable_resume",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::ErrorCode;

    /// Every variant, listed in an exhaustive `match`: a new variant does not compile until it
    /// is listed here, and then [`all_is_every_code_in_declaration_order`] fails until
    /// [`ErrorCode::ALL`] has it too.
    fn every_code() -> Vec<ErrorCode> {
        macro_rules! listed {
            ($($variant:ident),* $(,)?) => {{
                // No wildcard arm: the compiler checks that the list is complete.
                let _exhaustive = |code: ErrorCode| match code {
                    $(ErrorCode::$variant => ()),*
                };
                vec![$(ErrorCode::$variant),*]
            }};
        }
        listed![
            InvalidMessage,
            UnknownType,
            WrongFrameType,
            InvalidId,
            AnswerTooLarge,
            NotAwaitingAnswer,
            NothingToInterrupt,
            NotStarted,
            SessionEnded,
            RateLimited,
            StoreUnavailable,
            Unauthorized,
            Forbidden,
            NotFound,
            BadRequest,
            NotReady,
            Unavailable,
            Internal,
            VoiceUnavailable,
            SttFailed,
            TtsFailed,
            InsufficientMinutes,
            AtCapacity,
            TooManyLiveSessions,
            UnsupportedMediaType,
            UnreadableResume,
        ]
    }

    #[test]
    fn all_is_every_code_in_declaration_order() {
        assert_eq!(ErrorCode::ALL, every_code());
        for (i, &code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(code as usize, i, "{code:?} is out of declaration order");
        }
    }

    #[test]
    fn every_code_has_its_own_string_and_parses_back_from_it() {
        let mut seen = HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code:?}: `{}` twice", code.as_str());
            let parsed: ErrorCode = serde_json::from_value(serde_json::Value::from(code.as_str())).unwrap();
            assert_eq!(parsed, code);
        }
    }
}
