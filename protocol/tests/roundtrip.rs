//! Property tests of the two codecs: every `ClientMessage` and `ServerMessage` variant (with
//! nested session state, transcripts, scores and optional ids) survives `encode` then `decode`
//! in JSON and in MessagePack, valid client frames pass `decode_client` unchanged, both
//! encodings put a map with the right `type` on the wire, and `decode_client` never panics on
//! arbitrary or damaged input.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use viva_protocol::server::{
    AnswerReceived, AnswerScore, AnswerSource, Pong, ReportReady, ScoreUpdated, SessionEnded, SessionEnding,
    SessionReady, SpeechStarted, SpeechStopped, TimedWord, TranscriptDelta, TurnAudio, TurnDelta, TurnDone,
    TurnStarted, TurnTruncated, UsageLow,
};
use viva_protocol::state::{AwaitingAnswer, OpenTurn, Scores, SessionStatus, TranscriptEntry};
use viva_protocol::{
    AnswerContent, Audio, ClientMessage, Clock, DecodeError, DimensionScore, Encoding, EndReason, ErrorCode,
    ErrorEvent, Expects, Limits, ServerMessage, SessionState, TurnKind, TurnStatus, Voice,
};

const ENCODINGS: [Encoding; 2] = [Encoding::Json, Encoding::MsgPack];

/// Limits that never reject a generated frame for its size.
fn roomy() -> Limits {
    Limits { max_frame_bytes: usize::MAX, ..Limits::default() }
}

// ---- leaves -------------------------------------------------------------------------------

/// Any unicode text, control characters and astral planes included.
fn text() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..24).prop_map(String::from_iter)
}

/// A client message id `decode_client` accepts: 1 to 64 characters, or none.
fn valid_id() -> impl Strategy<Value = Option<String>> + Clone {
    option::of(vec(any::<char>(), 1..=64).prop_map(String::from_iter))
}

/// Any id at all, including empty and over-long ones (`decode` does not check ids).
fn any_id() -> impl Strategy<Value = Option<String>> + Clone {
    option::of(vec(any::<char>(), 0..80).prop_map(String::from_iter))
}

/// A score as the scorer produces it: 0.0 to 10.0 with one decimal.
fn score() -> impl Strategy<Value = f32> {
    (0u8..=100).prop_map(|k| f32::from(k) / 10.0)
}

fn turn_kind() -> impl Strategy<Value = TurnKind> {
    select(vec![TurnKind::Intro, TurnKind::Question, TurnKind::FollowUp, TurnKind::Feedback, TurnKind::Closing])
}

fn turn_status() -> impl Strategy<Value = TurnStatus> {
    select(vec![TurnStatus::Completed, TurnStatus::Interrupted, TurnStatus::Failed])
}

fn end_reason() -> impl Strategy<Value = EndReason> {
    select(vec![
        EndReason::Completed,
        EndReason::TimeUp,
        EndReason::EndedByCandidate,
        EndReason::InterviewerFailed,
        EndReason::OutOfMinutes,
        EndReason::Abandoned,
    ])
}

fn session_status() -> impl Strategy<Value = SessionStatus> {
    select(vec![SessionStatus::Created, SessionStatus::Live, SessionStatus::Ended])
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    select(ErrorCode::ALL)
}

fn expects() -> impl Strategy<Value = Expects> {
    prop_oneof![Just(Expects::Text), text().prop_map(|language| Expects::Code { language }),]
}

fn answer_content() -> impl Strategy<Value = AnswerContent> {
    prop_oneof![
        text().prop_map(|text| AnswerContent::Text { text }),
        (text(), text()).prop_map(|(language, source)| AnswerContent::Code { language, source }),
    ]
}

fn clock() -> impl Strategy<Value = Clock> {
    (any::<u64>(), any::<u64>()).prop_map(|(elapsed_s, remaining_s)| Clock { elapsed_s, remaining_s })
}

// ---- scores and state ---------------------------------------------------------------------

fn dimension_score() -> impl Strategy<Value = DimensionScore> {
    (text(), score()).prop_map(|(name, score)| DimensionScore { name, score })
}

fn dimensions() -> impl Strategy<Value = Vec<DimensionScore>> {
    vec(dimension_score(), 0..4)
}

fn answer_score() -> impl Strategy<Value = AnswerScore> {
    (dimensions(), option::of(score())).prop_map(|(dimensions, overall)| AnswerScore { dimensions, overall })
}

fn scores() -> impl Strategy<Value = Scores> {
    (dimensions(), option::of(score())).prop_map(|(dimensions, overall)| Scores { dimensions, overall })
}

fn transcript_entry() -> impl Strategy<Value = TranscriptEntry> {
    prop_oneof![
        (
            any::<u32>(),
            turn_kind(),
            option::of(text()),
            text(),
            turn_status(),
            option::of(any::<u64>()),
            option::of(any::<u64>())
        )
            .prop_map(|(turn_id, kind, question_id, text, status, started_at, ended_at)| {
                TranscriptEntry::Turn { turn_id, kind, question_id, text, status, started_at, ended_at }
            }),
        (any::<u32>(), text(), answer_content(), option::of(answer_score()), option::of(any::<u64>())).prop_map(
            |(answer_id, question_id, answer, score, at)| {
                TranscriptEntry::Answer { answer_id, question_id, answer, score, spoken: None, at }
            }
        ),
    ]
}

fn open_turn() -> impl Strategy<Value = OpenTurn> {
    (any::<u32>(), turn_kind(), option::of(text()), option::of(expects()), text(), any::<u32>()).prop_map(
        |(turn_id, kind, question_id, expects, text, next_index)| OpenTurn {
            turn_id,
            kind,
            question_id,
            expects,
            text,
            next_index,
        },
    )
}

fn awaiting_answer() -> impl Strategy<Value = AwaitingAnswer> {
    (text(), expects()).prop_map(|(question_id, expects)| AwaitingAnswer { question_id, expects })
}

fn session_state() -> impl Strategy<Value = SessionState> {
    (
        session_status(),
        text(),
        vec(transcript_entry(), 0..4),
        option::of(open_turn()),
        option::of(awaiting_answer()),
        scores(),
        clock(),
        option::of(end_reason()),
        any::<bool>(),
    )
        .prop_map(
            |(status, plan_id, transcript, open_turn, awaiting_answer, scores, clock, ended_reason, report_ready)| {
                SessionState {
                    status,
                    plan_id,
                    transcript,
                    open_turn,
                    awaiting_answer,
                    scores,
                    clock,
                    ended_reason,
                    report_ready,
                    voice: None,
                }
            },
        )
}

// ---- messages -----------------------------------------------------------------------------

/// Every client message variant, with ids drawn from `id`.
fn client_message<S>(id: S) -> impl Strategy<Value = ClientMessage>
where
    S: Strategy<Value = Option<String>> + Clone + 'static,
{
    prop_oneof![
        (id.clone(), option::of((any::<bool>(), any::<bool>()))).prop_map(|(id, voice)| ClientMessage::SessionStart {
            id,
            voice: voice.map(|(input, output)| Voice { input, output })
        }),
        (utterance(id.clone()), vec(any::<u8>(), 0..512))
            .prop_map(|(id, bytes)| ClientMessage::InputAudioAppend { id, audio: Audio(bytes) }),
        utterance(id.clone()).prop_map(|id| ClientMessage::InputAudioCommit { id }),
        utterance(id.clone()).prop_map(|id| ClientMessage::InputAudioClear { id }),
        (id.clone(), any::<u32>(), any::<u64>()).prop_map(|(id, turn_id, audio_end_ms)| ClientMessage::TurnTruncate {
            id,
            turn_id,
            audio_end_ms
        }),
        (id.clone(), text()).prop_map(|(id, text)| ClientMessage::AnswerSubmit { id, text }),
        (id.clone(), text(), text())
            .prop_map(|(id, language, source)| { ClientMessage::CodeSubmit { id, language, source } }),
        id.clone().prop_map(|id| ClientMessage::TurnInterrupt { id }),
        (id.clone(), any::<u64>()).prop_map(|(id, seq)| ClientMessage::Ack { id, seq }),
        id.clone().prop_map(|id| ClientMessage::SessionEnd { id }),
        id.prop_map(|id| ClientMessage::Ping { id }),
    ]
}

/// An utterance id (required) from an optional one.
fn utterance<S>(id: S) -> impl Strategy<Value = String>
where
    S: Strategy<Value = Option<String>>,
{
    id.prop_map(|id| id.unwrap_or_else(|| "utterance-1".to_owned()))
}

/// Every server message variant.
fn server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        (text(), any::<u64>(), any::<bool>(), any::<u64>(), any::<u64>(), session_state()).prop_map(
            |(session_id, epoch, resumed, seq, last_seq, state)| {
                ServerMessage::SessionReady(Box::new(SessionReady { session_id, epoch, resumed, seq, last_seq, state }))
            }
        ),
        (any::<u64>(), any::<u32>(), turn_kind(), option::of(text()), option::of(expects())).prop_map(
            |(seq, turn_id, kind, question_id, expects)| {
                ServerMessage::TurnStarted(TurnStarted { seq, turn_id, kind, question_id, expects })
            }
        ),
        (any::<u32>(), any::<u32>(), text())
            .prop_map(|(turn_id, index, text)| { ServerMessage::TurnDelta(TurnDelta { turn_id, index, text }) }),
        (any::<u64>(), any::<u32>(), text(), turn_status()).prop_map(|(seq, turn_id, text, status)| {
            ServerMessage::TurnDone(TurnDone { seq, turn_id, text, status })
        }),
        (any::<u64>(), any_id(), any::<u32>()).prop_map(|(seq, id, answer_id)| {
            ServerMessage::AnswerReceived(AnswerReceived::typed(seq, id, answer_id))
        }),
        (any::<u64>(), any::<u32>(), dimensions(), option::of(score()), answer_score()).prop_map(
            |(seq, answer_id, dimensions, overall, answer)| {
                ServerMessage::ScoreUpdated(ScoreUpdated { seq, answer_id, dimensions, overall, answer })
            }
        ),
        (any::<u64>(), text())
            .prop_map(|(seq, session_id)| { ServerMessage::ReportReady(ReportReady { seq, session_id }) }),
        (any::<u64>(), end_reason())
            .prop_map(|(seq, reason)| ServerMessage::SessionEnding(SessionEnding { seq, reason })),
        (any::<u64>(), end_reason())
            .prop_map(|(seq, reason)| ServerMessage::SessionEnded(SessionEnded { seq, reason })),
        clock().prop_map(ServerMessage::Clock),
        (error_code(), text(), any::<bool>(), any_id()).prop_map(|(code, message, fatal, reference)| {
            ServerMessage::Error(ErrorEvent { code, message, fatal, reference })
        }),
        any_id().prop_map(|id| ServerMessage::Pong(Pong { id })),
        (any::<u64>(), any_id(), any::<u32>(), text(), vec((text(), any::<u32>(), any::<u32>()), 0..4), any::<u64>())
            .prop_map(|(seq, id, answer_id, transcript, words, audio_ms)| {
                let mut received = AnswerReceived::typed(seq, id, answer_id);
                received.source = Some(AnswerSource::Voice);
                received.transcript = Some(transcript);
                received.words = Some(
                    words.into_iter().map(|(text, start_ms, end_ms)| TimedWord { text, start_ms, end_ms }).collect(),
                );
                received.audio_ms = Some(audio_ms);
                ServerMessage::AnswerReceived(received)
            }),
        (any::<u64>(), any::<u32>(), text(), any::<u64>()).prop_map(|(seq, turn_id, text, audio_end_ms)| {
            ServerMessage::TurnTruncated(TurnTruncated { seq, turn_id, text, audio_end_ms })
        }),
        (any::<u32>(), any::<u32>(), vec(any::<u8>(), 0..64)).prop_map(|(turn_id, index, bytes)| {
            ServerMessage::TurnAudio(TurnAudio { turn_id, index, audio: Audio(bytes) })
        }),
        any::<u64>().prop_map(|audio_start_ms| ServerMessage::SpeechStarted(SpeechStarted { audio_start_ms })),
        any::<u64>().prop_map(|audio_end_ms| ServerMessage::SpeechStopped(SpeechStopped { audio_end_ms })),
        (text(), text()).prop_map(|(id, text)| ServerMessage::TranscriptDelta(TranscriptDelta { id, text })),
        (any::<u64>(), any::<u64>())
            .prop_map(|(seq, remaining_s)| ServerMessage::UsageLow(UsageLow { seq, remaining_s })),
    ]
}

/// Checks the documented frame shape: JSON is one UTF-8 object, MessagePack one map (with field
/// names, not an array), and either way its `type` is `type_name`.
fn check_wire_shape(encoding: Encoding, bytes: &[u8], type_name: &str) {
    let value: serde_json::Value = match encoding {
        Encoding::Json => {
            assert!(std::str::from_utf8(bytes).is_ok(), "JSON frame is not text");
            serde_json::from_slice(bytes).unwrap()
        }
        Encoding::MsgPack => {
            let marker = bytes[0];
            assert!(
                (0x80..=0x8f).contains(&marker) || marker == 0xde || marker == 0xdf,
                "MessagePack frame is not a map: first byte {marker:#04x}"
            );
            // Audio is `bin`, which JSON values cannot hold: read the type alone.
            #[derive(serde::Deserialize)]
            struct Tagged {
                r#type: String,
            }
            let tagged: Tagged = rmp_serde::from_slice(bytes).unwrap();
            serde_json::json!({ "type": tagged.r#type })
        }
    };
    assert!(value.is_object(), "not an object: {value}");
    assert_eq!(value["type"], type_name);
}

proptest! {
    #[test]
    fn client_messages_roundtrip(message in client_message(any_id())) {
        for encoding in ENCODINGS {
            let bytes = encoding.encode(&message).unwrap();
            check_wire_shape(encoding, &bytes, message.type_name());
            let decoded: ClientMessage = encoding.decode(&bytes).unwrap();
            prop_assert_eq!(&decoded, &message, "{:?}", encoding);
        }
    }

    #[test]
    fn valid_client_frames_pass_decode_client(message in client_message(valid_id())) {
        for encoding in ENCODINGS {
            let bytes = encoding.encode(&message).unwrap();
            let decoded = encoding.decode_client(&bytes, &roomy());
            prop_assert_eq!(decoded, Ok(message.clone()), "{:?}", encoding);
        }
    }

    #[test]
    fn bad_ids_fail_decode_client(
        message in client_message(
            prop_oneof![Just(0usize), 65usize..100]
                .prop_flat_map(|len| vec(any::<char>(), len))
                .prop_map(|chars| Some(String::from_iter(chars))),
        ),
    ) {
        let len = message.id().unwrap().chars().count();
        for encoding in ENCODINGS {
            let bytes = encoding.encode(&message).unwrap();
            let decoded = encoding.decode_client(&bytes, &roomy());
            prop_assert_eq!(decoded, Err(DecodeError::InvalidId { len, max: 64 }), "{:?}", encoding);
        }
    }

    #[test]
    fn server_messages_roundtrip(message in server_message()) {
        for encoding in ENCODINGS {
            let bytes = encoding.encode(&message).unwrap();
            check_wire_shape(encoding, &bytes, message.type_name());
            let decoded: ServerMessage = encoding.decode(&bytes).unwrap();
            prop_assert_eq!(&decoded, &message, "{:?}", encoding);
        }
    }

    /// What the gateway sends is what serde writes, `turn.delta`'s own JSON writer included.
    #[test]
    fn encode_message_writes_what_serde_writes(message in server_message()) {
        for encoding in ENCODINGS {
            prop_assert_eq!(encoding.encode_message(&message).unwrap(), encoding.encode(&message).unwrap());
        }
    }

    #[test]
    fn a_turn_delta_is_written_as_serde_writes_it(turn_id in any::<u32>(), index in any::<u32>(), text in any::<String>()) {
        let message = ServerMessage::TurnDelta(TurnDelta { turn_id, index, text });
        prop_assert_eq!(Encoding::Json.encode_message(&message).unwrap(), Encoding::Json.encode(&message).unwrap());
    }

    #[test]
    fn decode_client_never_panics_on_bytes(bytes in vec(any::<u8>(), 0..512)) {
        for encoding in ENCODINGS {
            let _ = encoding.decode_client(&bytes, &Limits::default());
        }
    }

    #[test]
    fn decode_client_never_panics_on_strings(input in any::<String>()) {
        for encoding in ENCODINGS {
            let _ = encoding.decode_client(input.as_bytes(), &Limits::default());
        }
    }

    /// Damaged valid frames reach deeper into the decoders than random bytes do.
    #[test]
    fn decode_client_never_panics_on_damaged_frames(
        message in client_message(any_id()),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        for encoding in ENCODINGS {
            let mut bytes = encoding.encode(&message).unwrap();
            for (at, byte) in &edits {
                let at = at.index(bytes.len());
                bytes[at] = *byte;
            }
            let _ = encoding.decode_client(&bytes, &Limits::default());
            let _ = encoding.decode_client(&bytes[..cut.index(bytes.len() + 1)], &Limits::default());
        }
    }
}

/// Every score the scorer can produce (0.0 to 10.0 in tenths) comes back bit for bit.
#[test]
fn every_score_roundtrips_exactly() {
    for k in 0u8..=100 {
        let score = f32::from(k) / 10.0;
        let message = ServerMessage::ScoreUpdated(ScoreUpdated {
            seq: 1,
            answer_id: 1,
            dimensions: vec![DimensionScore { name: "depth".into(), score }],
            overall: Some(score),
            answer: AnswerScore { dimensions: vec![], overall: Some(score) },
        });
        for encoding in ENCODINGS {
            let decoded: ServerMessage = encoding.decode(&encoding.encode(&message).unwrap()).unwrap();
            let ServerMessage::ScoreUpdated(decoded) = decoded else {
                panic!("{encoding:?}: decoded as another type");
            };
            assert_eq!(decoded.overall.map(f32::to_bits), Some(score.to_bits()), "{encoding:?} {k}");
            assert_eq!(decoded.dimensions[0].score.to_bits(), score.to_bits());
        }
    }
}
